/* Unit tests of auth/token.c: access-token replies (expires_in as a number or a string) and
 * OAuth error replies. */
#include "check.h"

#include <errno.h>

#include "auth/token.h"

static int parse(const char *body, struct auth_token *t)
{
	return auth_token_parse(body, strlen(body), t);
}

static void expires_in_may_be_a_number_or_a_string(void)
{
	struct auth_token t;

	CHECK(parse("{\"access_token\":\"ya29.a\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
		    &t) == 0);
	CHECK_STR(t.value, "ya29.a");
	CHECK(t.expires_in == 3599);
	auth_token_clear(&t);
	CHECK(t.value == NULL && t.expires_in == 0);

	CHECK(parse("{\"access_token\":\"b\",\"expires_in\":\"3600\"}", &t) == 0);
	CHECK(t.expires_in == 3600);
	auth_token_clear(&t);
	CHECK(parse("{\"access_token\":\"c\",\"expires_in\":59.9,\"token_type\":\"bearer\"}", &t) ==
	      0);
	CHECK(t.expires_in == 59);
	auth_token_clear(&t);
}

static void replies_that_are_no_token_are_refused(void)
{
	static const char *bad[] = {
		"",
		"null",
		"[\"ya29\"]",
		"{\"expires_in\":3599}",
		"{\"access_token\":\"\",\"expires_in\":3599}",
		"{\"access_token\":7,\"expires_in\":3599}",
		"{\"access_token\":\"a b\",\"expires_in\":3599}",
		"{\"access_token\":\"a\\r\\nX-Evil: 1\",\"expires_in\":3599}",
		"{\"access_token\":\"a\"}",
		"{\"access_token\":\"a\",\"expires_in\":0}",
		"{\"access_token\":\"a\",\"expires_in\":-5}",
		"{\"access_token\":\"a\",\"expires_in\":\"soon\"}",
		"{\"access_token\":\"a\",\"expires_in\":\"36x\"}",
		"{\"access_token\":\"a\",\"expires_in\":\" 36\"}",
		"{\"access_token\":\"a\",\"expires_in\":\"\"}",
		"{\"access_token\":\"a\",\"expires_in\":99999999999}",
		"{\"access_token\":\"a\",\"expires_in\":true}",
		"{\"access_token\":\"a\",\"expires_in\":3599,\"token_type\":\"mac\"}",
		"{\"access_token\":\"a\",\"expires_in\":36",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct auth_token t;
		int rc = parse(bad[i], &t);

		if (rc != -EPROTO || t.value || t.expires_in) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			CHECK(0);
		}
	}
}

static void oauth_errors_are_extracted_as_printable_text(void)
{
	char e[32], d[64];
	const char *body =
		"{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired or "
		"revoked.\"}";

	auth_oauth_error_parse(body, strlen(body), e, sizeof(e), d, sizeof(d));
	CHECK_STR(e, "invalid_grant");
	CHECK_STR(d, "Token has been expired or revoked.");

	body = "{\"error\":{\"code\":403,\"message\":\"Permission denied\",\"status\":"
	       "\"PERMISSION_DENIED\"}}";
	auth_oauth_error_parse(body, strlen(body), e, sizeof(e), d, sizeof(d));
	CHECK_STR(e, "PERMISSION_DENIED");
	CHECK_STR(d, "Permission denied");

	body = "{\"error\":\"x\\u001b[31m\",\"error_description\":\"line\\nbreak\"}";
	auth_oauth_error_parse(body, strlen(body), e, sizeof(e), d, sizeof(d));
	CHECK_STR(e, "x [31m");
	CHECK_STR(d, "line break");

	body = "<html>Bad Gateway</html>";
	auth_oauth_error_parse(body, strlen(body), e, sizeof(e), d, sizeof(d));
	CHECK_STR(e, "");
	CHECK_STR(d, "");
	auth_oauth_error_parse(NULL, 0, e, sizeof(e), d, sizeof(d));
	CHECK_STR(e, "");
}

int main(void)
{
	RUN(expires_in_may_be_a_number_or_a_string);
	RUN(replies_that_are_no_token_are_refused);
	RUN(oauth_errors_are_extracted_as_printable_text);
	return CHECK_DONE();
}
