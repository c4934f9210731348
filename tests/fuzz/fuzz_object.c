/* Fuzz target: objects.get answers through gcs_object_parse(). The body comes from the
 * network, so any bytes must give either an object with a name or -EPROTO with the struct
 * cleared, and nothing may be read past len (the input is not NUL-terminated). The same bytes
 * as a string also go to gcs_parse_rfc3339(), which reads the times of the metadata, directly:
 * the JSON around a timestamp would slow the fuzzer's way to its corners. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gcs/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct gcs_object zero;
	struct gcs_object o = {0}; /* callers zero it first (gcs/object.h) */
	int rc = gcs_object_parse((const char *)data, size, &o);

	FUZZ_ASSERT(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0) {
		FUZZ_ASSERT(o.name != NULL);
		FUZZ_ASSERT(o.mtime.tv_nsec >= 0 && o.mtime.tv_nsec < 1000000000);
		FUZZ_ASSERT((o.mode & ~07777) == 0);
	} else {
		FUZZ_ASSERT(memcmp(&o, &zero, sizeof(o)) == 0);
	}
	gcs_object_clear(&o);

	char *s = strndup((const char *)data, size);
	struct timespec ts;

	if (s && gcs_parse_rfc3339(s, &ts) == 0)
		FUZZ_ASSERT(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
	free(s);
	return 0;
}
