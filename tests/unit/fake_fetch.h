/* The harness shared by the block cache tests (test_bcache.c, test_dcache.c): a fake fetch
 * function serving a deterministic byte pattern, checks of what a read returned, a runner for a
 * table of tests (CHECK comes from check.h), and a small PRNG.
 *
 * The fake serves a pattern per (object, generation, offset), scattered over the buffers it is
 * given, counts its calls and bytes, records the buffers of its last call, and flags every range
 * the cache under test should never ask for, by the contract the test file chose (enum
 * fake_ranges). Tests that need two threads to meet inside a fetch close its gate:
 * fetches then wait until the test opens it, so overlap is certain instead of left to sleeps.
 *
 * Everything here is static: each test executable includes it once. */
#ifndef GCSMOUNT_TESTS_FAKE_FETCH_H
#define GCSMOUNT_TESTS_FAKE_FETCH_H

#include "check.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/* The fake's block size unless a test sets another. */
#define BS 64

/* Bytes after a read's buffer that must stay untouched, and what they hold. */
#define GUARD 16
#define GUARD_BYTE 0x5a

/* The buffers of a call the fake records, at most. */
#define FAKE_IOV_RECORD 16

/* The ranges a cache may ask the fake for; any other is counted in bad_range. Either way a fetch
 * starts on a block boundary and asks for at least one byte. */
enum fake_ranges {
	/* As the memory cache calls its fetch function: nothing past `claimed`, and one buffer per
	 * block, so each is a block long but the last, which may end early at `claimed`. */
	FAKE_WITHIN_CLAIMED,
	/* As the disk cache calls its inner function: whole blocks, or up to the object's end. */
	FAKE_WHOLE_BLOCKS,
};

struct fake {
	uint64_t size;		 /* the object's real size: fetches past it come back short */
	uint64_t claimed;	 /* the size readers give (size unless a test sets another) */
	size_t block_size;	 /* every fetch must start on a block boundary */
	enum fake_ranges ranges; /* the contract the cache under test keeps */
	atomic_int calls;
	atomic_ullong bytes;  /* bytes asked for */
	atomic_int bad_range; /* fetches the cache should never have made */
	atomic_int fail_next; /* this many next calls fail with fail_err */
	int fail_err;	      /* -EIO unless a test sets another */
	atomic_bool gated;    /* fetches wait until the test opens the gate */
	/* The last call's buffers (the first FAKE_IOV_RECORD of them); atomic only so that tests
	 * with several threads stay free of data races, and meaningful only in those with one. */
	atomic_int last_iovcnt;
	atomic_size_t last_iov_len[FAKE_IOV_RECORD];
	void *_Atomic last_iov_base[FAKE_IOV_RECORD];
};

static inline void fake_setup(struct fake *f, uint64_t size, enum fake_ranges ranges)
{
	memset(f, 0, sizeof(*f));
	f->size = size;
	f->claimed = size;
	f->block_size = BS;
	f->ranges = ranges;
	f->fail_err = -EIO;
}

/* Closes the gate (fetches wait in it) or opens it (they go on). */
static inline void fake_set_gate(struct fake *f, bool gated)
{
	atomic_store(&f->gated, gated);
}

static inline uint64_t name_seed(const char *object)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *object; object++)
		h = (h ^ (unsigned char)*object) * 0x100000001b3ULL;
	return h;
}

/* Not periodic in any block size, and different per object and generation. */
static inline unsigned char pattern(const char *object, uint64_t gen, uint64_t pos)
{
	uint64_t x = pos * 0x9e3779b97f4a7c15ULL ^ gen * 0xd1b54a32d192ed03ULL ^ name_seed(object);

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return (unsigned char)x;
}

static inline bool fake_range_ok(const struct fake *f, uint64_t offset, const struct iovec *iov,
				 int iovcnt, size_t len)
{
	if (len == 0 || offset % f->block_size)
		return false;
	if (f->ranges == FAKE_WITHIN_CLAIMED) {
		for (int i = 0; i < iovcnt - 1; i++)
			if (iov[i].iov_len != f->block_size)
				return false;
		return iov[iovcnt - 1].iov_len <= f->block_size && offset + len <= f->claimed;
	}
	return len % f->block_size == 0 || offset + len == f->size;
}

/* Writes the pattern of [offset, offset + n) of object@gen across the buffers, in order, and
 * scribbles over the rest of them. */
static inline void fake_scatter(const char *object, uint64_t gen, uint64_t offset, size_t n,
				const struct iovec *iov, int iovcnt)
{
	size_t pos = 0;

	for (int i = 0; i < iovcnt; i++) {
		unsigned char *p = iov[i].iov_base;

		for (size_t j = 0; j < iov[i].iov_len; j++, pos++)
			/* As a real transport's buffer might hold anything past a short answer. */
			p[j] = pos < n ? pattern(object, gen, offset + pos) : 0xee;
	}
}

/* A bcache_fetch_fn over a struct fake. */
static inline ssize_t fake_fetch(void *arg, const char *object, uint64_t gen, uint64_t offset,
				 const struct iovec *iov, int iovcnt)
{
	const struct timespec pause = {0, 1000000};
	struct fake *f = arg;
	size_t len = 0, n;
	int left;

	for (int i = 0; i < iovcnt; i++) {
		len += iov[i].iov_len;
		if (i < FAKE_IOV_RECORD) {
			atomic_store(&f->last_iov_len[i], iov[i].iov_len);
			atomic_store(&f->last_iov_base[i], iov[i].iov_base);
		}
	}
	atomic_store(&f->last_iovcnt, iovcnt);
	atomic_fetch_add(&f->calls, 1);
	atomic_fetch_add(&f->bytes, len);
	if (!fake_range_ok(f, offset, iov, iovcnt, len))
		atomic_fetch_add(&f->bad_range, 1);
	/* Polled, so the fake needs no lock: a fetch goes on within a millisecond of the opening.
	 */
	while (atomic_load(&f->gated))
		nanosleep(&pause, NULL);
	left = atomic_load(&f->fail_next);
	while (left > 0) {
		if (atomic_compare_exchange_weak(&f->fail_next, &left, left - 1))
			return f->fail_err;
	}
	n = offset >= f->size ? 0 : f->size - offset < len ? f->size - offset : len;
	fake_scatter(object, gen, offset, n, iov, iovcnt);
	return (ssize_t)n;
}

/* How much of [off, off + len) an object of size bytes holds. */
static inline size_t clip_len(uint64_t size, uint64_t off, size_t len)
{
	return off >= size ? 0 : size - off < len ? size - off : len;
}

/* A buffer for a read of len bytes, followed by GUARD bytes; all hold GUARD_BYTE. */
static inline unsigned char *guarded_buf(size_t len)
{
	unsigned char *out = malloc(len + GUARD);

	if (!out) {
		perror("malloc");
		exit(2);
	}
	memset(out, GUARD_BYTE, len + GUARD);
	return out;
}

/* Checks what a read of [off, off + len) of object@gen into a guarded_buf() returned: n must be
 * want, out must hold the pattern for the first want bytes, and out[untouched, len + GUARD) must
 * still hold GUARD_BYTE. Says on stderr what failed first. */
static inline bool read_result_ok(const char *object, uint64_t gen, uint64_t off, size_t len,
				  ssize_t n, size_t want, const unsigned char *out,
				  size_t untouched)
{
	if (n != (ssize_t)want) {
		fprintf(stderr, "read %s@%llu [%llu,+%zu): got %zd, want %zu\n", object,
			(unsigned long long)gen, (unsigned long long)off, len, n, want);
		return false;
	}
	for (size_t i = 0; i < want; i++) {
		if (out[i] != pattern(object, gen, off + i)) {
			fprintf(stderr, "read %s@%llu [%llu,+%zu): wrong byte at %zu\n", object,
				(unsigned long long)gen, (unsigned long long)off, len, i);
			return false;
		}
	}
	for (size_t i = untouched; i < len + GUARD; i++) {
		if (out[i] != GUARD_BYTE) {
			fprintf(stderr, "read %s [%llu,+%zu): wrote at %zu, past %zu\n", object,
				(unsigned long long)off, len, i, untouched);
			return false;
		}
	}
	return true;
}

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

struct test {
	const char *name;
	void (*fn)(void);
};

/* clang-format off */
#define TEST(fn) {#fn, fn}
/* clang-format on */

/* Runs every test, printing and flushing one line each, then a count. Returns the exit status:
 * 1 if any CHECK failed. */
static inline int run_tests(const struct test *tests, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		int before = atomic_load(&check_failures);

		tests[i].fn();
		if (atomic_load(&check_failures) != before) {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		} else {
			printf("ok   %s\n", tests[i].name);
		}
		fflush(stdout);
	}
	printf("%d of %zu tests failed\n", failed, n);
	return failed ? 1 : 0;
}

#endif
