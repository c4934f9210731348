/* Unit tests of cache/copy.c: the local copy of an object, filled in chunks. */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cache/copy.h"

#define MiB (1ull << 20)
#define CHUNK (4 * MiB)

static atomic_int fetches, fail_next;

static unsigned char pattern(uint64_t off)
{
	return (unsigned char)(off * 7 + off / 4096);
}

/* Serves the pattern, or fails while fail_next is above 0. */
static ssize_t fake_fetch(void *arg, const char *object, uint64_t generation, uint64_t off,
			  const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	(void)arg;
	CHECK(strcmp(object, "obj") == 0);
	CHECK(generation == 42);
	atomic_fetch_add(&fetches, 1);
	if (atomic_fetch_sub(&fail_next, 1) > 0)
		return -EIO;
	for (int i = 0; i < iovcnt; i++) {
		for (size_t j = 0; j < iov[i].iov_len; j++)
			((unsigned char *)iov[i].iov_base)[j] = pattern(off + len + j);
		len += iov[i].iov_len;
	}
	return (ssize_t)len;
}

static struct lcopy *new_copy(uint64_t size)
{
	char path[] = "/tmp/test_copy.XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	unlink(path);
	atomic_store(&fetches, 0);
	atomic_store(&fail_next, 0);
	return lcopy_new(fd, 42, size, CHUNK);
}

static int matches(const unsigned char *buf, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(off + i))
			return 0;
	return 1;
}

static void fill_all(struct lcopy *c)
{
	uint64_t off;
	size_t len;

	while (lcopy_claim(c, &off, &len))
		CHECK(lcopy_fill(c, off, len, "obj", fake_fetch, NULL) >= 0);
}

static void missing_chunks_say_eagain_and_present_ones_are_read(void)
{
	struct lcopy *c = new_copy(10 * MiB + 123);
	static unsigned char buf[2 * CHUNK];
	uint64_t off;
	size_t len;

	CHECK(lcopy_read(c, 5 * MiB, 4096, buf) == -EAGAIN);
	/* The chunk the read missed comes first. */
	CHECK(lcopy_claim(c, &off, &len) == 1);
	CHECK(off == CHUNK && len == CHUNK);
	CHECK(lcopy_fill(c, off, len, "obj", fake_fetch, NULL) == 0);
	CHECK(lcopy_read(c, 5 * MiB, 4096, buf) == 4096);
	CHECK(matches(buf, 5 * MiB, 4096));
	/* A read that reaches into a missing chunk is not served in part. */
	CHECK(lcopy_read(c, 2 * CHUNK - 100, 200, buf) == -EAGAIN);
	fill_all(c);
	CHECK(atomic_load(&fetches) == 3);
	CHECK(lcopy_read(c, 2 * CHUNK - 100, 200, buf) == 200);
	CHECK(matches(buf, 2 * CHUNK - 100, 200));
	/* The short last chunk, and reads clipped at the end. */
	CHECK(lcopy_read(c, 10 * MiB, 4096, buf) == 123);
	CHECK(matches(buf, 10 * MiB, 123));
	CHECK(lcopy_read(c, 10 * MiB + 123, 10, buf) == 0);
	struct lcopy_stats st;
	lcopy_get_stats(c, &st);
	CHECK(st.chunks == 3 && st.present == 3 && st.done);
	CHECK(st.present_bytes == 10 * MiB + 123);
	lcopy_put(c);
}

static void claims_go_nearest_to_the_last_miss_first(void)
{
	struct lcopy *c = new_copy(10 * CHUNK);
	unsigned char buf[16];
	uint64_t off, seen[10];
	size_t len;
	int n = 0;

	CHECK(lcopy_read(c, 6 * CHUNK + 5, 16, buf) == -EAGAIN);
	while (lcopy_claim(c, &off, &len))
		seen[n++] = off / CHUNK;
	CHECK(n == 10);
	CHECK(seen[0] == 6);
	/* Then outwards, one side or the other: never further than the one before plus one. */
	for (int i = 1; i < n; i++) {
		uint64_t d = seen[i] > 6 ? seen[i] - 6 : 6 - seen[i];
		uint64_t p = seen[i - 1] > 6 ? seen[i - 1] - 6 : 6 - seen[i - 1];
		CHECK(d >= p && d <= p + 1);
	}
	/* Claimed chunks are no longer handed out; unfilled ones stay missing. */
	CHECK(lcopy_read(c, 6 * CHUNK, 16, buf) == -EAGAIN);
	lcopy_put(c);
}

struct filler_arg {
	struct lcopy *c;
	int filled, completed;
};

static void *filler(void *p)
{
	struct filler_arg *a = p;
	uint64_t off;
	size_t len;

	while (lcopy_claim(a->c, &off, &len)) {
		int rc = lcopy_fill(a->c, off, len, "obj", fake_fetch, NULL);

		CHECK(rc >= 0);
		a->filled++;
		a->completed += rc == 1;
	}
	return NULL;
}

struct late_fill {
	struct lcopy *c;
	uint64_t off;
	size_t len;
	unsigned delay_us;
};

static void *fill_later(void *p)
{
	struct late_fill *f = p;

	usleep(f->delay_us);
	CHECK(lcopy_fill(f->c, f->off, f->len, "obj", fake_fetch, NULL) >= 0);
	return NULL;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void a_read_waits_for_a_chunk_on_its_way_as_long_as_a_miss_takes(void)
{
	struct lcopy *c = new_copy(2 * CHUNK);
	struct late_fill f = {c, 0, 0, 20000};
	struct timespec t0;
	unsigned char buf[16];
	pthread_t t;

	/* Misses measured at 200 ms: a fill due in 20 ms is waited for. */
	lcopy_note_miss(c, 200000);
	CHECK(lcopy_claim(c, &f.off, &f.len) == 1);
	pthread_create(&t, NULL, fill_later, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(lcopy_read(c, f.off + 5, 16, buf) == 16);
	CHECK(matches(buf, f.off + 5, 16));
	CHECK(ms_since(&t0) < 190);
	pthread_join(t, NULL);
	/* Misses measured at 10 ms (the mean moves a quarter of the way per miss): a fill due in
	 * 500 ms is not waited for longer than that. */
	for (int i = 0; i < 20; i++)
		lcopy_note_miss(c, 10000);
	f.delay_us = 500000;
	CHECK(lcopy_claim(c, &f.off, &f.len) == 1);
	pthread_create(&t, NULL, fill_later, &f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(lcopy_read(c, f.off, 16, buf) == -EAGAIN);
	CHECK(ms_since(&t0) < 400);
	pthread_join(t, NULL);
	/* A missing chunk nobody fills is not waited for at all. */
	lcopy_put(c);
	c = new_copy(2 * CHUNK);
	lcopy_note_miss(c, 5000000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(lcopy_read(c, 0, 16, buf) == -EAGAIN);
	CHECK(ms_since(&t0) < 1000);
	lcopy_put(c);
}

static void fillers_in_parallel_fetch_each_chunk_once(void)
{
	struct lcopy *c = new_copy(37 * CHUNK + 5);
	struct filler_arg args[6];
	pthread_t t[6];
	int total = 0, completed = 0;

	for (int i = 0; i < 6; i++) {
		args[i] = (struct filler_arg){lcopy_get(c), 0, 0};
		pthread_create(&t[i], NULL, filler, &args[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		total += args[i].filled;
		completed += args[i].completed;
		lcopy_put(args[i].c);
	}
	CHECK(total == 38);
	CHECK(completed == 1); /* exactly one filler saw the copy complete */
	CHECK(atomic_load(&fetches) == 38);
	unsigned char *buf = malloc(37 * CHUNK + 5);
	CHECK(lcopy_read(c, 0, 37 * CHUNK + 5, buf) == (ssize_t)(37 * CHUNK + 5));
	CHECK(matches(buf, 0, 37 * CHUNK + 5));
	free(buf);
	lcopy_put(c);
}

static void failed_fetches_leave_chunks_missing_and_too_many_stop_the_copy(void)
{
	struct lcopy *c = new_copy(4 * CHUNK);
	unsigned char buf[16];
	struct lcopy_stats st;
	uint64_t off;
	size_t len;

	atomic_store(&fail_next, 1);
	CHECK(lcopy_claim(c, &off, &len) == 1);
	CHECK(lcopy_fill(c, off, len, "obj", fake_fetch, NULL) == -EIO);
	CHECK(lcopy_read(c, off, 16, buf) == -EAGAIN);
	/* The chunk is handed out again, and this time it arrives. */
	CHECK(lcopy_claim(c, &off, &len) == 1 && off == 0);
	CHECK(lcopy_fill(c, off, len, "obj", fake_fetch, NULL) == 0);
	CHECK(lcopy_read(c, 0, 16, buf) == 16 && matches(buf, 0, 16));
	atomic_store(&fail_next, 1000);
	for (int i = 1; i < LCOPY_MAX_FAILURES; i++) {
		CHECK(lcopy_claim(c, &off, &len) == 1);
		CHECK(lcopy_fill(c, off, len, "obj", fake_fetch, NULL) == -EIO);
	}
	CHECK(lcopy_claim(c, &off, &len) == 0);
	lcopy_get_stats(c, &st);
	CHECK(st.done && st.present == 1 && st.failures == LCOPY_MAX_FAILURES);
	/* What arrived is still served. */
	CHECK(lcopy_read(c, 0, 16, buf) == 16);
	lcopy_put(c);
}

static void an_abandoned_copy_hands_out_nothing_but_still_reads(void)
{
	struct lcopy *c = new_copy(3 * CHUNK);
	unsigned char buf[16];
	uint64_t off;
	size_t len;

	CHECK(lcopy_claim(c, &off, &len) == 1);
	lcopy_abandon(c);
	/* The filler that had a chunk finishes it. */
	CHECK(lcopy_fill(c, off, len, "obj", fake_fetch, NULL) == 0);
	CHECK(lcopy_claim(c, &off, &len) == 0);
	CHECK(lcopy_read(c, 0, 16, buf) == 16 && matches(buf, 0, 16));
	lcopy_put(c);
}

static void a_moved_object_keeps_its_copy_under_the_new_generation(void)
{
	struct lcopy *c = new_copy(CHUNK);

	CHECK(lcopy_generation(c) == 42);
	lcopy_set_generation(c, 43);
	CHECK(lcopy_generation(c) == 43);
	lcopy_put(c);
}

static void bad_arguments_are_refused(void)
{
	errno = 0;
	CHECK(lcopy_new(-1, 1, 10, CHUNK) == NULL && errno == EINVAL);
	int fd = open("/dev/null", O_RDONLY);
	CHECK(lcopy_new(fd, 1, 10, 1000) == NULL && errno == EINVAL); /* not a page multiple */
	/* The descriptor was closed all the same. */
	CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
}

int main(void)
{
	RUN(missing_chunks_say_eagain_and_present_ones_are_read);
	RUN(claims_go_nearest_to_the_last_miss_first);
	RUN(a_read_waits_for_a_chunk_on_its_way_as_long_as_a_miss_takes);
	RUN(fillers_in_parallel_fetch_each_chunk_once);
	RUN(failed_fetches_leave_chunks_missing_and_too_many_stop_the_copy);
	RUN(an_abandoned_copy_hands_out_nothing_but_still_reads);
	RUN(a_moved_object_keeps_its_copy_under_the_new_generation);
	RUN(bad_arguments_are_refused);
	return CHECK_DONE();
}
