/* Fuzz target: error bodies (JSON API, XML API, OAuth) through gcs_errbody_parse(). It never
 * fails, so what is checked is what it promises the log: both strings end within their
 * arrays and hold no line breaks, whatever the server sent. */
#include <string.h>

#include "fuzz.h"
#include "gcs/errbody.h"

static void one_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_ASSERT(n < cap);
	FUZZ_ASSERT(!memchr(s, '\n', n) && !memchr(s, '\r', n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gcs_errinfo e;

	memset(&e, 0x55, sizeof(e)); /* whatever was there before must not show through */
	gcs_errbody_parse((const char *)data, size, &e);
	one_line(e.reason, sizeof(e.reason));
	one_line(e.message, sizeof(e.message));
	return 0;
}
