/* Unit tests of fs/readahead.c: the sequential-reader detector, the random-reader policy and the
 * worker pool. */
#include "check.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/readahead.h"

#define MiB (1ull << 20)

static void sequential_reader_gets_a_growing_window(void)
{
	struct ra_state s = {0};
	uint64_t off, len, queued_to = 0;
	uint64_t size = 1024 * MiB;
	int submissions = 0;

	for (uint64_t pos = 0; pos < 200 * MiB; pos += 128 * 1024) {
		CHECK(ra_note_read(&s, size, pos, 128 * 1024, 64 * MiB, &off, &len) == 0);
		if (len) {
			/* Each range starts where the previous one ended. */
			CHECK(queued_to == 0 || off == queued_to);
			CHECK(len >= RA_JOB_SIZE);
			queued_to = off + len;
			submissions++;
		}
		CHECK(queued_to <= pos + 128 * 1024 + 64 * MiB);
	}
	CHECK(submissions > 0);
	CHECK(s.window == 64 * MiB);
	/* The reader at 200 MiB is kept well ahead of. */
	CHECK(queued_to >= 200 * MiB + 32 * MiB);
}

static void read_ahead_stops_at_the_end_of_the_object(void)
{
	struct ra_state s = {0};
	uint64_t off, len, end = 0;
	uint64_t size = 10 * MiB + 5;

	for (uint64_t pos = 0; pos < size; pos += 128 * 1024) {
		ra_note_read(&s, size, pos, 128 * 1024, 64 * MiB, &off, &len);
		if (len)
			end = off + len;
		CHECK(end <= size);
	}
	CHECK(end == size);
}

static void random_reader_gets_no_read_ahead(void)
{
	struct ra_state s = {0};
	uint64_t off, len;
	uint64_t size = 1024 * MiB;
	int random_seen = 0;

	srand(1);
	for (int i = 0; i < 200; i++) {
		uint64_t pos = ((uint64_t)rand() % 1000) * MiB;
		int r = ra_note_read(&s, size, pos, 4096, 64 * MiB, &off, &len);

		CHECK(len == 0 || i == 0);
		random_seen += r;
	}
	CHECK(random_seen >= 190);
}

static void zero_window_disables_read_ahead(void)
{
	struct ra_state s = {0};
	uint64_t off, len;

	for (uint64_t pos = 0; pos < 50 * MiB; pos += 128 * 1024) {
		CHECK(ra_note_read(&s, 100 * MiB, pos, 128 * 1024, 0, &off, &len) == 0);
		CHECK(len == 0);
	}
}

static atomic_int fetches;
static atomic_ullong fetched;

static ssize_t counting_fetch(void *arg, const char *object, uint64_t gen, uint64_t off,
			      const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	(void)arg;
	(void)object;
	(void)gen;
	/* Every MiB of the object holds its own index. */
	for (int i = 0; i < iovcnt; i++) {
		for (size_t j = 0; j < iov[i].iov_len; j++)
			((char *)iov[i].iov_base)[j] = (char)((off + len + j) / MiB);
		len += iov[i].iov_len;
	}
	atomic_fetch_add(&fetches, 1);
	atomic_fetch_add(&fetched, len);
	return (ssize_t)len;
}

static void workers_fill_the_cache_so_reads_make_no_fetch(void)
{
	struct bcache *bc = bcache_new(MiB, 64 * MiB);
	struct readahead *ra = readahead_new(bc, counting_fetch, NULL, 4);
	char buf[4096];

	readahead_submit(ra, "obj", 1, 32 * MiB, 0, 16 * MiB);
	/* Jobs are RA_JOB_SIZE each and fetched with one call apiece. */
	for (int i = 0; i < 200 && atomic_load(&fetched) < 16 * MiB; i++)
		usleep(10000);
	CHECK(atomic_load(&fetched) == 16 * MiB);
	CHECK(atomic_load(&fetches) == (int)(16 * MiB / RA_JOB_SIZE));
	int before = atomic_load(&fetches);
	CHECK(bcache_read(bc, "obj", 1, 32 * MiB, 5 * MiB + 7, sizeof(buf), buf, counting_fetch,
			  NULL) == (ssize_t)sizeof(buf));
	CHECK(buf[0] == 5 && buf[4095] == 5);
	CHECK(atomic_load(&fetches) == before);
	readahead_free(ra);
	bcache_free(bc);
}


/* The random-reader policy (rr_note_read). */

static void scattered_small_reads_are_fetched_exactly(void)
{
	struct rr_state s = {0};
	uint64_t region;

	/* Far apart: never near a recent read, so no block is fetched for them. */
	for (uint64_t i = 0; i < 6; i++)
		CHECK((rr_note_read(&s, 1024 * MiB, i * 100 * MiB + 4096, 4096, MiB, &region) &
		       (RR_BLOCK | RR_REGION)) == 0);
}

static void a_read_near_a_recent_one_fetches_its_block(void)
{
	struct rr_state s = {0};
	uint64_t region;

	CHECK(rr_note_read(&s, 1024 * MiB, 300 * MiB + 8192, 4096, MiB, &region) == 0);
	/* The same block, then the next one: the surrounding block is worth keeping. */
	CHECK(rr_note_read(&s, 1024 * MiB, 300 * MiB + 500000, 4096, MiB, &region) & RR_BLOCK);
	CHECK(rr_note_read(&s, 1024 * MiB, 301 * MiB + 4096, 4096, MiB, &region) & RR_BLOCK);
	/* Two blocks away from everything read: exact again. */
	CHECK(!(rr_note_read(&s, 1024 * MiB, 303 * MiB + 4096, 4096, MiB, &region) & RR_BLOCK));
}

static void reads_coming_back_to_a_region_fetch_it_once(void)
{
	struct rr_state s = {0};
	uint64_t region = 0;
	int flags, fetched = 0;

	/* Distinct blocks of one 8 MiB region, read in a scattered order. */
	uint64_t blocks[] = {17, 21, 19, 22, 16, 20};
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		flags = rr_note_read(&s, 1024 * MiB, blocks[i] * MiB + 100, 4096, MiB, &region);
		if (flags & RR_REGION) {
			CHECK(region == 16 * MiB);
			CHECK(i + 1 >= RR_HOT_BLOCKS);
			fetched++;
		}
	}
	CHECK(fetched == 1);
}

static void a_reader_all_over_the_object_sweeps_it_once(void)
{
	struct rr_state s = {0};
	uint64_t region;
	int whole = 0, at = -1;

	srand(7);
	for (int i = 0; i < 200; i++) {
		uint64_t pos = ((uint64_t)rand() % (1024 * 256)) * 4096;

		if (rr_note_read(&s, 1024 * MiB, pos, 4096, MiB, &region) & RR_WHOLE) {
			whole++;
			at = i;
		}
	}
	CHECK(whole == 1);
	/* As soon as RR_SWEEP_REGIONS regions were read, which takes few reads when they are
	 * spread out. */
	CHECK(at >= RR_SWEEP_REGIONS - 1 && at < 4 * RR_SWEEP_REGIONS);
}

static void reads_within_a_few_regions_are_no_sweep(void)
{
	struct rr_state s = {0};
	uint64_t region;

	/* A header and a footer, read over and over: two regions of the object. */
	for (int i = 0; i < 100; i++) {
		CHECK(!(rr_note_read(&s, 1024 * MiB, (uint64_t)(i % 7) * 4096, 4096, MiB, &region) &
			RR_WHOLE));
		CHECK(!(rr_note_read(&s, 1024 * MiB, 1024 * MiB - 4096 * (uint64_t)(1 + i % 5), 4096,
				     MiB, &region) &
			RR_WHOLE));
	}
}

static void a_sequential_reader_skipping_cached_parts_is_no_sweep(void)
{
	struct rr_state s = {0};
	uint64_t region;

	/* What the kernel asks for when a file read in order is partly in its page cache:
	 * pieces with gaps, always further on. */
	for (uint64_t pos = 0; pos < 1024 * MiB; pos += 7 * MiB + 4096)
		CHECK(!(rr_note_read(&s, 1024 * MiB, pos, 128 * 1024, MiB, &region) & RR_WHOLE));
}

/* Work jobs: run or dropped, exactly one of the two. */

static atomic_int ran, dropped;

static void count_run(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
}

static void count_drop(void *arg)
{
	(void)arg;
	atomic_fetch_add(&dropped, 1);
}

static void work_jobs_run_or_are_dropped_exactly_once(void)
{
	struct bcache *bc = bcache_new(MiB, 4 * MiB);
	struct readahead *ra = readahead_new(bc, counting_fetch, NULL, 2);

	for (int i = 0; i < 1000; i++)
		readahead_submit_work(ra, count_run, count_drop, NULL);
	for (int i = 0; i < 2000 && atomic_load(&ran) == 0; i++)
		usleep(1000);
	CHECK(atomic_load(&ran) > 0);
	readahead_free(ra); /* drops what is still queued */
	CHECK(atomic_load(&ran) + atomic_load(&dropped) == 1000);
	bcache_free(bc);
}

int main(void)
{
	RUN(sequential_reader_gets_a_growing_window);
	RUN(read_ahead_stops_at_the_end_of_the_object);
	RUN(random_reader_gets_no_read_ahead);
	RUN(zero_window_disables_read_ahead);
	RUN(workers_fill_the_cache_so_reads_make_no_fetch);
	RUN(scattered_small_reads_are_fetched_exactly);
	RUN(a_read_near_a_recent_one_fetches_its_block);
	RUN(reads_coming_back_to_a_region_fetch_it_once);
	RUN(a_reader_all_over_the_object_sweeps_it_once);
	RUN(reads_within_a_few_regions_are_no_sweep);
	RUN(a_sequential_reader_skipping_cached_parts_is_no_sweep);
	RUN(work_jobs_run_or_are_dropped_exactly_once);
	return CHECK_DONE();
}
