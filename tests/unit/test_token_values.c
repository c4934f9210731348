/* Unit test of auth_token_parse() on values a broken token endpoint or metadata server may
 * send: a token_type of null, and an expires_in far beyond any lifetime (1e300, -1e300, NaN,
 * Infinity). Each must be refused or taken, never crash the daemon or convert a double that
 * does not fit a long (undefined behaviour): this test's copy of auth/token.c is built with
 * -fsanitize=float-cast-overflow so that such a conversion stops it in any build. */
#include "check.h"

#include <errno.h>

#include "auth/token.h"

static int parse(const char *body, struct auth_token *t)
{
	return auth_token_parse(body, strlen(body), t);
}

static void a_null_token_type_is_answered_not_a_crash(void)
{
	struct auth_token t;
	int rc = parse("{\"access_token\":\"ya29.a\",\"expires_in\":3599,\"token_type\":null}", &t);

	CHECK(rc == 0 || rc == -EPROTO);
	auth_token_clear(&t);
}

static void lifetimes_no_long_can_hold_are_refused(void)
{
	static const char *bad[] = {
		"{\"access_token\":\"a\",\"expires_in\":1e300}",
		"{\"access_token\":\"a\",\"expires_in\":-1e300}",
		"{\"access_token\":\"a\",\"expires_in\":9.3e18}",
		"{\"access_token\":\"a\",\"expires_in\":NaN}",
		"{\"access_token\":\"a\",\"expires_in\":Infinity}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct auth_token t;

		CHECK(parse(bad[i], &t) == -EPROTO);
		auth_token_clear(&t);
	}
}

/* One test by name (each bug fails on its own), or both. */
int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";

	if (!*only || !strcmp(only, "lifetimes"))
		RUN(lifetimes_no_long_can_hold_are_refused);
	if (!*only || !strcmp(only, "null_type"))
		RUN(a_null_token_type_is_answered_not_a_crash);
	return CHECK_DONE();
}
