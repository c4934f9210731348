/* Unit test of gcs_parse_rfc3339() on UTC offsets shorter than "+hh:mm" ("+05:3", "+5:30").
 * Any client that may write an object's metadata can put such a time in gcsfuse_mtime or
 * mtime, so it must be refused without reading past the string's end. Each string ends right
 * before an unreadable page, where a read past its terminator faults in any build, not only
 * under ASan. */
#include "check.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gcs/object.h"

static char *guarded;	/* a readable page followed by one that is not */
static size_t page_size;

static const char *at_page_end(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(guarded + page_size - n, s, n);
}

static void short_offsets_are_refused_without_reading_past_the_end(void)
{
	static const char *bad[] = {
		"2024-06-04T10:00:00+05:3", "2024-06-04T10:00:00+5:30",	  "2024-06-04T10:00:00-1:2",
		"2024-06-04T10:00:00.5+05:3", "2024-06-04T10:00:00+05:", "2024-06-04T10:00:00+0",
	};
	struct timespec ts;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(gcs_parse_rfc3339(at_page_end(bad[i]), &ts) == -EINVAL);
}

static void full_offsets_still_parse_at_the_end_of_memory(void)
{
	struct timespec ts;

	CHECK(gcs_parse_rfc3339(at_page_end("2024-06-04T15:30:00+05:30"), &ts) == 0);
	CHECK(ts.tv_sec == 1717495200 && ts.tv_nsec == 0);
	CHECK(gcs_parse_rfc3339(at_page_end("2024-06-04T10:00:00.25Z"), &ts) == 0);
	CHECK(ts.tv_sec == 1717495200 && ts.tv_nsec == 250000000);
}

int main(void)
{
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	guarded = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (guarded == MAP_FAILED || mprotect(guarded + page_size, page_size, PROT_NONE)) {
		perror("mmap");
		return 1;
	}
	RUN(full_offsets_still_parse_at_the_end_of_memory);
	RUN(short_offsets_are_refused_without_reading_past_the_end);
	munmap(guarded, 2 * page_size);
	return CHECK_DONE();
}
