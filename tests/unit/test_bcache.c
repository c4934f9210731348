/* Unit tests of the in-memory block cache (cache/blocks.c).
 *
 * Every test reads through the fake fetch function of fake_fetch.h, which serves a deterministic
 * byte pattern per (object, generation, offset), counts its calls and bytes and flags any range
 * the cache should never ask for. Tests that need two threads to meet inside a fetch use its
 * gate: the fetch blocks until the test opens it, so overlap is certain instead of left to
 * sleeps. */
#include "fake_fetch.h"

#include "cache/blocks.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The memory cache asks its fetch function for nothing past the object size its reader gave. */
static void fake_init(struct fake *f, uint64_t size)
{
	fake_setup(f, size, FAKE_WITHIN_CLAIMED);
}

static struct bcache_stats stats(struct bcache *bc)
{
	struct bcache_stats st;

	bcache_get_stats(bc, &st);
	return st;
}

/* Reads through the cache and checks the count, every byte, and that nothing past the count
 * was written. Returns true if all held. */
static bool read_ok(struct bcache *bc, struct fake *f, const char *object, uint64_t gen,
		    uint64_t off, size_t len)
{
	size_t want = clip_len(f->claimed, off, len);
	unsigned char *out = guarded_buf(len);
	ssize_t n = bcache_read(bc, object, gen, f->claimed, off, len, out, fake_fetch, f);
	bool ok = read_result_ok(object, gen, off, len, n, want, out, want);

	free(out);
	return ok;
}

/* Polls until the fake has seen `calls` fetches and the cache `hits` hits; false on timeout. */
static bool wait_for(struct bcache *bc, struct fake *f, int calls, uint64_t hits)
{
	struct timespec pause = {0, 1000000};

	for (int i = 0; i < 10000; i++) {
		if (atomic_load(&f->calls) >= calls && stats(bc).hits >= hits)
			return true;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "timed out: %d calls, %llu hits\n", atomic_load(&f->calls),
		(unsigned long long)stats(bc).hits);
	return false;
}

static void test_new_rejects_zero_block_size(void)
{
	errno = 0;
	CHECK(bcache_new(0, 1024) == NULL);
	CHECK(errno == EINVAL);
	bcache_free(NULL);
}

static void check_alignments(size_t capacity)
{
	struct bcache *bc = bcache_new(BS, capacity);
	struct fake f;
	uint64_t seed = 0x1234567;
	int bad = 0;

	fake_init(&f, 40 * BS + 13);
	for (uint64_t off = 0; off <= 2 * BS + 1; off++)
		for (size_t len = 0; len <= 3 * BS + 1; len++)
			bad += !read_ok(bc, &f, "obj", 1, off, len);
	for (int i = 0; i < 20000; i++) {
		uint64_t off = rng_next(&seed) % (f.size + 2 * BS);
		size_t len = rng_next(&seed) % (12 * BS);

		bad += !read_ok(bc, &f, "obj", 1, off, len);
	}
	CHECK(bad == 0);
	CHECK(atomic_load(&f.bad_range) == 0);
	bcache_free(bc);
}

static void test_reads_return_right_bytes_at_every_alignment(void)
{
	check_alignments(1 << 20);
	/* Smaller than many of the reads: evictions and uncached blocks on most of them. */
	check_alignments(4 * BS + 7);
}

static void test_second_read_of_same_range_makes_no_fetch(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(bc, &f, "obj", 1, 100, 300));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(read_ok(bc, &f, "obj", 1, 100, 300));
	CHECK(read_ok(bc, &f, "obj", 1, 130, 20));
	CHECK(read_ok(bc, &f, "obj", 1, BS, 5 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(bc).hits == 6 + 1 + 5);
	CHECK(stats(bc).misses == 6);
	bcache_free(bc);
}

static void test_read_without_buffer_fills_the_cache_for_later_reads(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(bcache_read(bc, "obj", 1, f.claimed, 8 * BS, 16 * BS, NULL, fake_fetch, &f) ==
	      16 * BS);
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(read_ok(bc, &f, "obj", 1, 8 * BS + 3, 15 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	bcache_free(bc);
}

static void test_read_of_cached_blocks_only_never_fetches(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;
	unsigned char *out = guarded_buf(3 * BS);
	ssize_t n;

	fake_init(&f, 100 * BS);
	/* Nothing cached: no bytes, no fetch. */
	CHECK(bcache_read_cached(bc, "obj", 1, f.claimed, 5 * BS, 10, out) == -EAGAIN);
	CHECK(atomic_load(&f.calls) == 0);
	CHECK(read_ok(bc, &f, "obj", 1, 4 * BS, 2 * BS));
	/* Within the cached blocks: served; reaching past them: refused whole. */
	n = bcache_read_cached(bc, "obj", 1, f.claimed, 4 * BS + 7, BS, out);
	CHECK(read_result_ok("obj", 1, 4 * BS + 7, BS, n, BS, out, BS));
	CHECK(bcache_read_cached(bc, "obj", 1, f.claimed, 5 * BS + 7, BS, out) == -EAGAIN);
	/* Another generation's blocks are not these. */
	CHECK(bcache_read_cached(bc, "obj", 2, f.claimed, 4 * BS, 10, out) == -EAGAIN);
	CHECK(atomic_load(&f.calls) == 1);
	/* The blocks it used are back on the LRU list: a later read still finds them. */
	CHECK(read_ok(bc, &f, "obj", 1, 4 * BS, 2 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	free(out);
	bcache_free(bc);
}

static void test_spanning_read_of_missing_blocks_makes_one_fetch(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 100 * BS);
	/* [10, 330) touches blocks 0..5. */
	CHECK(read_ok(bc, &f, "obj", 1, 10, 5 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(atomic_load(&f.bytes) == 6 * BS);
	CHECK(stats(bc).fetches == 1);
	CHECK(stats(bc).misses == 6);
	CHECK(stats(bc).bytes_cached == 6 * BS);
	bcache_free(bc);
}

static void test_run_of_missing_blocks_is_fetched_once_straight_into_the_blocks(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	unsigned char *third;
	unsigned char b;
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(bc, &f, "obj", 1, 8 * BS + 3, 3 * BS + 10));
	/* Blocks 8..11 in one call, one buffer per block. */
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(atomic_load(&f.last_iovcnt) == 4);
	for (int i = 0; i < 4; i++)
		CHECK(atomic_load(&f.last_iov_len[i]) == BS);
	CHECK(atomic_load(&f.bad_range) == 0);
	/* The third buffer is block 10 itself, not a staging area it was copied out of: what is
	 * written there now is what a later read of the block returns. */
	third = atomic_load(&f.last_iov_base[2]);
	third[5] ^= 0xff;
	CHECK(bcache_read(bc, "obj", 1, f.size, 10 * BS + 5, 1, &b, fake_fetch, &f) == 1);
	CHECK(b == (unsigned char)(pattern("obj", 1, 10 * BS + 5) ^ 0xff));
	CHECK(atomic_load(&f.calls) == 1);
	bcache_free(bc);
}

static void test_short_last_block_gets_a_short_buffer(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 3 * BS + 10);
	CHECK(read_ok(bc, &f, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(atomic_load(&f.last_iovcnt) == 4);
	CHECK(atomic_load(&f.last_iov_len[2]) == BS);
	CHECK(atomic_load(&f.last_iov_len[3]) == 10);
	CHECK(atomic_load(&f.bad_range) == 0);
	bcache_free(bc);
}

static void test_long_runs_are_fetched_in_runs_of_at_most_1024_blocks(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 3000 * BS);
	/* More buffers than fit on the stack: still one call. */
	CHECK(read_ok(bc, &f, "obj", 1, 0, 40 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(atomic_load(&f.last_iovcnt) == 40);
	/* Blocks 100..2099: 1024 in the first call, the other 976 in the second. */
	CHECK(read_ok(bc, &f, "obj", 1, 100 * BS, 2000 * BS));
	CHECK(atomic_load(&f.calls) == 3);
	CHECK(atomic_load(&f.last_iovcnt) == 976);
	CHECK(atomic_load(&f.bytes) == 2040 * BS);
	CHECK(atomic_load(&f.bad_range) == 0);
	bcache_free(bc);
}

static void test_buffers_alive_stay_within_capacity_and_spares(void)
{
	const size_t cap = 16 * BS;
	const uint64_t bound = cap + BCACHE_SPARE_BLOCKS * BS;
	struct bcache *bc = bcache_new(BS, cap);
	uint64_t peak = 0;
	struct fake f;
	int bad = 0;

	/* A long sequential scan, as a reader with read-ahead makes it: the reads, each a little
	 * over a block, and the blocks ahead of them brought in without a buffer. */
	fake_init(&f, 4000 * BS + 7);
	for (uint64_t off = 0; off < f.size; off += BS + 9) {
		uint64_t ahead = (off / BS + 4) * BS;

		if (ahead < f.size && (off / BS) % 4 == 0)
			bcache_read(bc, "obj", 1, f.size, ahead, 4 * BS, NULL, fake_fetch, &f);
		bad += !read_ok(bc, &f, "obj", 1, off, BS + 9);
		if (stats(bc).bytes_allocated > peak)
			peak = stats(bc).bytes_allocated;
	}
	CHECK(bad == 0);
	CHECK(stats(bc).evictions > 0);
	CHECK(peak >= cap);
	CHECK(peak <= bound);
	/* Once nothing is cached, only the spares are left. */
	bcache_invalidate(bc, "obj");
	CHECK(stats(bc).bytes_cached == 0);
	CHECK(stats(bc).bytes_allocated <= BCACHE_SPARE_BLOCKS * BS);
	bcache_free(bc);
}

static void test_cached_block_splits_missing_ones_into_two_fetches(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(bc, &f, "obj", 1, 3 * BS, BS));
	CHECK(read_ok(bc, &f, "obj", 1, 0, 7 * BS));
	/* Blocks 0..2 and 4..6; block 3 is not fetched again. */
	CHECK(atomic_load(&f.calls) == 3);
	CHECK(atomic_load(&f.bytes) == 7 * BS);
	bcache_free(bc);
}

static void test_new_generation_misses_and_returns_new_bytes(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;
	unsigned char a[BS], b[BS];

	fake_init(&f, 10 * BS);
	CHECK(bcache_read(bc, "obj", 1, f.size, 0, BS, a, fake_fetch, &f) == BS);
	CHECK(bcache_read(bc, "obj", 2, f.size, 0, BS, b, fake_fetch, &f) == BS);
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(memcmp(a, b, BS) != 0);
	CHECK(read_ok(bc, &f, "obj", 2, 0, BS));
	/* The old generation's block is still there and still its own. */
	CHECK(read_ok(bc, &f, "obj", 1, 0, BS));
	CHECK(atomic_load(&f.calls) == 2);
	bcache_free(bc);
}

static void test_short_final_block_and_reads_past_eof(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;
	unsigned char buf[16];

	fake_init(&f, 3 * BS + 10);
	CHECK(read_ok(bc, &f, "obj", 1, 0, 1000));
	/* Not one byte past the end was asked for. */
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(atomic_load(&f.bytes) == 3 * BS + 10);
	CHECK(stats(bc).bytes_cached == 3 * BS + 10);
	CHECK(read_ok(bc, &f, "obj", 1, 3 * BS - 2, 100));
	CHECK(bcache_read(bc, "obj", 1, f.size, f.size, 16, buf, fake_fetch, &f) == 0);
	CHECK(bcache_read(bc, "obj", 1, f.size, f.size + 1000, 16, buf, fake_fetch, &f) == 0);
	CHECK(bcache_read(bc, "obj", 1, f.size, UINT64_MAX, 16, buf, fake_fetch, &f) == 0);
	CHECK(atomic_load(&f.calls) == 1);

	/* A read of the last block alone fetches only its 10 bytes. */
	CHECK(read_ok(bc, &f, "obj", 2, 3 * BS + 3, 50));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(atomic_load(&f.bytes) == 3 * BS + 10 + 10);
	CHECK(atomic_load(&f.bad_range) == 0);
	bcache_free(bc);
}

static void test_zero_size_object_makes_no_fetch(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;
	unsigned char buf[16];

	fake_init(&f, 0);
	CHECK(bcache_read(bc, "empty", 1, 0, 0, sizeof(buf), buf, fake_fetch, &f) == 0);
	CHECK(bcache_read(bc, "empty", 1, 0, 5, sizeof(buf), buf, fake_fetch, &f) == 0);
	CHECK(atomic_load(&f.calls) == 0);
	CHECK(stats(bc).bytes_cached == 0);
	CHECK(stats(bc).misses == 0);
	bcache_free(bc);
}

static void test_capacity_bound_holds_under_many_reads(void)
{
	const size_t cap = 8 * BS + 30;
	struct bcache *bc = bcache_new(BS, cap);
	static const char *names[] = {"a", "b", "c"};
	struct fake f;
	uint64_t seed = 42;
	int bad = 0, over = 0;

	fake_init(&f, 300 * BS + 5);
	for (int i = 0; i < 5000; i++) {
		const char *name = names[rng_next(&seed) % 3];
		uint64_t gen = 1 + rng_next(&seed) % 2;
		uint64_t off = rng_next(&seed) % f.size;
		size_t len = rng_next(&seed) % (4 * BS);

		bad += !read_ok(bc, &f, name, gen, off, len);
		over += stats(bc).bytes_cached > cap;
	}
	CHECK(bad == 0);
	CHECK(over == 0);
	CHECK(stats(bc).evictions > 0);
	CHECK(stats(bc).bytes_cached > 0);
	bcache_free(bc);
}

static void test_eviction_drops_least_recently_used_block(void)
{
	struct bcache *bc = bcache_new(BS, 3 * BS);
	struct fake f;

	fake_init(&f, 10 * BS);
	for (uint64_t i = 0; i < 3; i++)
		CHECK(read_ok(bc, &f, "obj", 1, i * BS, BS));
	/* Block 0 is used again, so block 1 is now the least recently used. */
	CHECK(read_ok(bc, &f, "obj", 1, 0, BS));
	CHECK(read_ok(bc, &f, "obj", 1, 3 * BS, BS));
	CHECK(atomic_load(&f.calls) == 4);
	CHECK(stats(bc).evictions == 1);
	CHECK(read_ok(bc, &f, "obj", 1, 0, BS));
	CHECK(read_ok(bc, &f, "obj", 1, 2 * BS, BS));
	CHECK(read_ok(bc, &f, "obj", 1, 3 * BS, BS));
	CHECK(atomic_load(&f.calls) == 4);
	CHECK(read_ok(bc, &f, "obj", 1, BS, BS));
	CHECK(atomic_load(&f.calls) == 5);
	bcache_free(bc);
}

static void test_read_larger_than_capacity_is_served_and_keeps_what_fits(void)
{
	struct bcache *bc = bcache_new(BS, 4 * BS);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(bc, &f, "obj", 1, 0, 20 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(bc).bytes_cached == 4 * BS);
	CHECK(read_ok(bc, &f, "obj", 1, 0, BS));
	CHECK(atomic_load(&f.calls) == 1);
	bcache_free(bc);
}

static void test_zero_capacity_caches_nothing_but_serves_reads(void)
{
	struct bcache *bc = bcache_new(BS, 0);
	struct fake f;

	fake_init(&f, 10 * BS);
	CHECK(read_ok(bc, &f, "obj", 1, 5, 3 * BS));
	CHECK(read_ok(bc, &f, "obj", 1, 5, 3 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(stats(bc).bytes_cached == 0);
	bcache_free(bc);
}

static void test_hash_table_grows_and_finds_every_block(void)
{
	struct bcache *bc = bcache_new(16, 1 << 20);
	struct fake f;
	int bad = 0;

	fake_init(&f, 5000 * 16);
	f.block_size = 16;
	for (uint64_t i = 0; i < 5000; i++)
		bad += !read_ok(bc, &f, i % 2 ? "odd" : "even", 1, i * 16, 16);
	CHECK(atomic_load(&f.calls) == 5000);
	for (uint64_t i = 0; i < 5000; i++)
		bad += !read_ok(bc, &f, i % 2 ? "odd" : "even", 1, i * 16, 16);
	CHECK(atomic_load(&f.calls) == 5000);
	CHECK(bad == 0);
	bcache_free(bc);
}

static void test_fetch_error_propagates_and_is_not_cached(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;
	unsigned char buf[3 * BS];

	fake_init(&f, 10 * BS);
	f.fail_err = -ETIMEDOUT;
	atomic_store(&f.fail_next, 1);
	CHECK(bcache_read(bc, "obj", 1, f.size, 0, sizeof(buf), buf, fake_fetch, &f) == -ETIMEDOUT);
	CHECK(stats(bc).bytes_cached == 0);
	CHECK(read_ok(bc, &f, "obj", 1, 0, sizeof(buf)));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(read_ok(bc, &f, "obj", 1, 0, sizeof(buf)));
	CHECK(atomic_load(&f.calls) == 2);
	bcache_free(bc);
}

static void test_short_fetch_is_eio_and_caches_nothing(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;
	unsigned char buf[4 * BS];

	/* The reader believes in 4 blocks; the object holds 2 and a bit. */
	fake_init(&f, 2 * BS + 5);
	f.claimed = 4 * BS;
	CHECK(bcache_read(bc, "obj", 1, 4 * BS, 0, sizeof(buf), buf, fake_fetch, &f) == -EIO);
	CHECK(bcache_read(bc, "obj", 1, 4 * BS, 3 * BS, BS, buf, fake_fetch, &f) == -EIO);
	CHECK(stats(bc).bytes_cached == 0);
	/* With the true size, nothing of the garbage comes back. */
	f.claimed = f.size;
	CHECK(read_ok(bc, &f, "obj", 1, 0, sizeof(buf)));
	CHECK(atomic_load(&f.calls) == 3);
	bcache_free(bc);
}

struct reader {
	pthread_t thread;
	struct bcache *bc;
	struct fake *f;
	const char *object;
	uint64_t off;
	size_t len;
	ssize_t rc;
	bool ok;
};

static void *reader_main(void *p)
{
	struct reader *r = p;

	r->ok = read_ok(r->bc, r->f, r->object, 1, r->off, r->len);
	return NULL;
}

static void *raw_reader_main(void *p)
{
	struct reader *r = p;
	unsigned char *buf = malloc(r->len);

	r->rc = bcache_read(r->bc, r->object, 1, r->f->claimed, r->off, r->len, buf, fake_fetch,
			    r->f);
	free(buf);
	return NULL;
}

#define NREADERS 8

static void test_concurrent_readers_of_same_block_fetch_once(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct reader r[NREADERS];
	struct fake f;

	fake_init(&f, 10 * BS);
	fake_set_gate(&f, true);
	for (int i = 0; i < NREADERS; i++) {
		r[i] = (struct reader){.bc = bc, .f = &f, .object = "obj", .off = 10, .len = BS};
		pthread_create(&r[i].thread, NULL, reader_main, &r[i]);
	}
	/* One reader is inside the fetch of blocks 0-1; each other one holds both blocks. */
	CHECK(wait_for(bc, &f, 1, 2 * (NREADERS - 1)));
	CHECK(atomic_load(&f.calls) == 1);
	fake_set_gate(&f, false);
	for (int i = 0; i < NREADERS; i++) {
		pthread_join(r[i].thread, NULL);
		CHECK(r[i].ok);
	}
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(bc).misses == 2);
	bcache_free(bc);
}

static void test_concurrent_waiters_get_the_fetch_error(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct reader r[NREADERS];
	struct fake f;

	fake_init(&f, 10 * BS);
	f.fail_err = -ECONNRESET;
	atomic_store(&f.fail_next, 1);
	fake_set_gate(&f, true);
	for (int i = 0; i < NREADERS; i++) {
		r[i] = (struct reader){.bc = bc, .f = &f, .object = "obj", .off = 0, .len = BS};
		pthread_create(&r[i].thread, NULL, raw_reader_main, &r[i]);
	}
	CHECK(wait_for(bc, &f, 1, NREADERS - 1));
	fake_set_gate(&f, false);
	for (int i = 0; i < NREADERS; i++) {
		pthread_join(r[i].thread, NULL);
		CHECK(r[i].rc == -ECONNRESET);
	}
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(bc).bytes_cached == 0);
	CHECK(read_ok(bc, &f, "obj", 1, 0, BS));
	CHECK(atomic_load(&f.calls) == 2);
	bcache_free(bc);
}

static void test_invalidate_drops_blocks(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 10 * BS);
	CHECK(read_ok(bc, &f, "a", 1, 0, 2 * BS));
	CHECK(read_ok(bc, &f, "a", 2, 0, 2 * BS));
	CHECK(read_ok(bc, &f, "b", 1, 0, 3 * BS));
	CHECK(read_ok(bc, &f, "ab", 1, 0, BS));
	CHECK(stats(bc).bytes_cached == 8 * BS);
	bcache_invalidate(bc, "a");
	CHECK(stats(bc).bytes_cached == 4 * BS);
	bcache_invalidate(bc, "none");
	CHECK(stats(bc).bytes_cached == 4 * BS);
	CHECK(atomic_load(&f.calls) == 4);
	CHECK(read_ok(bc, &f, "b", 1, 0, 3 * BS));
	CHECK(read_ok(bc, &f, "ab", 1, 0, BS));
	CHECK(atomic_load(&f.calls) == 4);
	CHECK(read_ok(bc, &f, "a", 1, 0, 2 * BS));
	CHECK(read_ok(bc, &f, "a", 2, 0, 2 * BS));
	CHECK(atomic_load(&f.calls) == 6);
	CHECK(stats(bc).evictions == 0);
	bcache_free(bc);
}

static void test_invalidate_during_fill_serves_the_reader_and_caches_nothing(void)
{
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct reader r;
	struct fake f;

	fake_init(&f, 10 * BS);
	fake_set_gate(&f, true);
	r = (struct reader){.bc = bc, .f = &f, .object = "obj", .off = 0, .len = 2 * BS};
	pthread_create(&r.thread, NULL, reader_main, &r);
	CHECK(wait_for(bc, &f, 1, 0));
	bcache_invalidate(bc, "obj");
	CHECK(stats(bc).bytes_cached == 0);
	fake_set_gate(&f, false);
	pthread_join(r.thread, NULL);
	CHECK(r.ok);
	CHECK(stats(bc).bytes_cached == 0);
	CHECK(read_ok(bc, &f, "obj", 1, 0, 2 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	bcache_free(bc);
}

static void test_block_being_filled_survives_eviction_pressure(void)
{
	const size_t cap = 2 * BS;
	struct bcache *bc = bcache_new(BS, cap);
	struct reader r;
	struct fake slow, fast;
	int bad = 0;

	fake_init(&slow, 10 * BS);
	fake_init(&fast, 50 * BS);
	fake_set_gate(&slow, true);
	r = (struct reader){.bc = bc, .f = &slow, .object = "slow", .off = 0, .len = BS};
	pthread_create(&r.thread, NULL, reader_main, &r);
	CHECK(wait_for(bc, &slow, 1, 0));
	for (uint64_t i = 0; i < 50; i++) {
		bad += !read_ok(bc, &fast, "fast", 1, i * BS, 2 * BS);
		CHECK(stats(bc).bytes_cached <= cap);
	}
	CHECK(bad == 0);
	fake_set_gate(&slow, false);
	pthread_join(r.thread, NULL);
	CHECK(r.ok);
	/* The slow block held its place through all of it. */
	CHECK(read_ok(bc, &slow, "slow", 1, 0, BS));
	CHECK(atomic_load(&slow.calls) == 1);
	CHECK(stats(bc).evictions > 0);
	bcache_free(bc);
}

struct stress {
	pthread_t thread;
	struct bcache *bc;
	struct fake *f;
	uint64_t seed;
	bool invalidates;
	int bad;
};

static void *stress_main(void *p)
{
	static const char *names[] = {"x", "y", "z"};
	struct stress *s = p;

	for (int i = 0; i < 3000; i++) {
		const char *name = names[rng_next(&s->seed) % 3];
		uint64_t gen = 1 + rng_next(&s->seed) % 2;
		uint64_t off = rng_next(&s->seed) % (s->f->size + BS);
		size_t len = rng_next(&s->seed) % (6 * BS);

		s->bad += !read_ok(s->bc, s->f, name, gen, off, len);
		if (s->invalidates && i % 50 == 0)
			bcache_invalidate(s->bc, name);
	}
	return NULL;
}

static void test_concurrent_random_reads_return_right_bytes(void)
{
	const size_t cap = 16 * BS;
	struct bcache *bc = bcache_new(BS, cap);
	struct stress s[NREADERS];
	struct fake f;

	fake_init(&f, 40 * BS + 3);
	for (int i = 0; i < NREADERS; i++) {
		s[i] = (struct stress){
			.bc = bc, .f = &f, .seed = 0x9e37 + i, .invalidates = i == 0};
		pthread_create(&s[i].thread, NULL, stress_main, &s[i]);
	}
	for (int i = 0; i < NREADERS; i++) {
		pthread_join(s[i].thread, NULL);
		CHECK(s[i].bad == 0);
	}
	CHECK(stats(bc).bytes_cached <= cap);
	CHECK(stats(bc).hits > 0);
	CHECK(atomic_load(&f.bad_range) == 0);
	bcache_free(bc);
}

static const struct test tests[] = {
	TEST(test_new_rejects_zero_block_size),
	TEST(test_reads_return_right_bytes_at_every_alignment),
	TEST(test_second_read_of_same_range_makes_no_fetch),
	TEST(test_read_without_buffer_fills_the_cache_for_later_reads),
	TEST(test_read_of_cached_blocks_only_never_fetches),
	TEST(test_spanning_read_of_missing_blocks_makes_one_fetch),
	TEST(test_run_of_missing_blocks_is_fetched_once_straight_into_the_blocks),
	TEST(test_short_last_block_gets_a_short_buffer),
	TEST(test_long_runs_are_fetched_in_runs_of_at_most_1024_blocks),
	TEST(test_buffers_alive_stay_within_capacity_and_spares),
	TEST(test_cached_block_splits_missing_ones_into_two_fetches),
	TEST(test_new_generation_misses_and_returns_new_bytes),
	TEST(test_short_final_block_and_reads_past_eof),
	TEST(test_zero_size_object_makes_no_fetch),
	TEST(test_capacity_bound_holds_under_many_reads),
	TEST(test_eviction_drops_least_recently_used_block),
	TEST(test_read_larger_than_capacity_is_served_and_keeps_what_fits),
	TEST(test_zero_capacity_caches_nothing_but_serves_reads),
	TEST(test_hash_table_grows_and_finds_every_block),
	TEST(test_fetch_error_propagates_and_is_not_cached),
	TEST(test_short_fetch_is_eio_and_caches_nothing),
	TEST(test_concurrent_readers_of_same_block_fetch_once),
	TEST(test_concurrent_waiters_get_the_fetch_error),
	TEST(test_invalidate_drops_blocks),
	TEST(test_invalidate_during_fill_serves_the_reader_and_caches_nothing),
	TEST(test_block_being_filled_survives_eviction_pressure),
	TEST(test_concurrent_random_reads_return_right_bytes),
};

int main(void)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]));
}
