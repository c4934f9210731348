/* Fuzz target: objects.list answers through gcs_list_page_parse(). A broken entry is left
 * out, a broken page is -EPROTO with nothing kept; every entry kept has a name, and a next
 * page token is never empty (an empty one would restart the listing). */
#include <errno.h>

#include "fuzz.h"
#include "gcs/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gcs_list_page p;
	int rc = gcs_list_page_parse((const char *)data, size, &p);

	FUZZ_ASSERT(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0) {
		for (size_t i = 0; i < p.n_items; i++)
			FUZZ_ASSERT(p.items[i].name != NULL);
		for (size_t i = 0; i < p.n_prefixes; i++)
			FUZZ_ASSERT(p.prefixes[i] != NULL);
		FUZZ_ASSERT(!p.next_page_token || p.next_page_token[0]);
	} else {
		FUZZ_ASSERT(!p.items && !p.n_items && !p.prefixes && !p.n_prefixes &&
			    !p.next_page_token);
	}
	gcs_list_page_clear(&p);
	return 0;
}
