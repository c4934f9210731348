/* Fuzz target: what a token endpoint or the metadata server answers, through
 * auth_token_parse() and auth_oauth_error_parse() on the same bytes. A token accepted must be
 * one that can go into an Authorization header line, with a lifetime that makes sense; the
 * error texts must be printable ASCII, as their header promises. */
#include <errno.h>
#include <string.h>

#include "auth/token.h"
#include "fuzz.h"

static void printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_ASSERT(n < cap);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT(s[i] >= ' ' && s[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_token t;
	char error[64], desc[256];
	int rc = auth_token_parse((const char *)data, size, &t);

	FUZZ_ASSERT(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0) {
		FUZZ_ASSERT(t.value && t.value[0]);
		FUZZ_ASSERT(t.expires_in > 0 && t.expires_in <= 24 * 3600);
		for (const char *p = t.value; *p; p++)
			FUZZ_ASSERT((unsigned char)*p > ' ' && *p != 0x7f);
	} else {
		FUZZ_ASSERT(t.value == NULL && t.expires_in == 0);
	}
	auth_token_clear(&t);

	auth_oauth_error_parse((const char *)data, size, error, sizeof(error), desc, sizeof(desc));
	printable(error, sizeof(error));
	printable(desc, sizeof(desc));
	return 0;
}
