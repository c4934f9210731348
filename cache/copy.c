/* A local copy of one object generation (see copy.h).
 *
 * The file is sized to the object at once and stays sparse until chunks arrive. A chunk is
 * fetched with one request straight into a shared mapping of its place in the file: no buffer
 * the size of a chunk is ever allocated, and the bytes cross memory once. Its space is
 * reserved with fallocate() before it is mapped, because a write fault in a hole of a full
 * filesystem would kill the process with SIGBUS; without fallocate() there is no copy.
 *
 * States per chunk: MISSING -> FILLING (claimed) -> PRESENT, or back to MISSING when the fetch
 * fails. c->lock guards the states, the counters, the generation and the hint; it is never
 * held across I/O. Reads check the states under the lock and read the file after dropping it:
 * a present chunk never changes again.
 */
#include "cache/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum chunk_state { CHUNK_MISSING, CHUNK_FILLING, CHUNK_PRESENT };

struct lcopy {
	pthread_mutex_t lock;
	pthread_cond_t filled; /* broadcast when a fill ends */
	atomic_uint refs;
	int fd;
	uint64_t size;
	size_t chunk_size;
	size_t nchunks;
	uint64_t generation;
	uint64_t hint;	 /* where the last read missed */
	uint64_t miss_us; /* running mean of what a miss costs; 0: none measured */
	unsigned failures;
	bool abandoned;
	size_t present, filling;
	unsigned char *state; /* enum chunk_state per chunk */
};

struct lcopy *lcopy_new(int fd, uint64_t generation, uint64_t size, size_t chunk_size)
{
	long page = sysconf(_SC_PAGESIZE);
	struct lcopy *c = NULL;
	int err = EINVAL;

	if (fd < 0 || size == 0 || chunk_size == 0 || page <= 0 || chunk_size % (size_t)page)
		goto fail;
	err = ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->nchunks = (size_t)((size + chunk_size - 1) / chunk_size);
	c->state = calloc(c->nchunks, 1);
	if (!c->state)
		goto fail;
	if (ftruncate(fd, (off_t)size) != 0) {
		err = errno;
		goto fail;
	}
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->filled, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->refs, 1);
	c->fd = fd;
	c->size = size;
	c->chunk_size = chunk_size;
	c->generation = generation;
	return c;
fail:
	if (c)
		free(c->state);
	free(c);
	if (fd >= 0)
		close(fd);
	errno = err;
	return NULL;
}

struct lcopy *lcopy_get(struct lcopy *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void lcopy_put(struct lcopy *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	close(c->fd);
	pthread_cond_destroy(&c->filled);
	pthread_mutex_destroy(&c->lock);
	free(c->state);
	free(c);
}

void lcopy_abandon(struct lcopy *c)
{
	pthread_mutex_lock(&c->lock);
	c->abandoned = true;
	pthread_mutex_unlock(&c->lock);
}

uint64_t lcopy_generation(struct lcopy *c)
{
	uint64_t g;

	pthread_mutex_lock(&c->lock);
	g = c->generation;
	pthread_mutex_unlock(&c->lock);
	return g;
}

void lcopy_set_generation(struct lcopy *c, uint64_t generation)
{
	pthread_mutex_lock(&c->lock);
	c->generation = generation;
	pthread_mutex_unlock(&c->lock);
}

/* What the chunks of a read are: 1 all present, 0 some missing, -1 none missing but some
 * being filled. Called with c->lock held. */
static int chunks_state(struct lcopy *c, size_t first, size_t last)
{
	int filling = 0;

	for (size_t i = first; i <= last; i++) {
		if (c->state[i] == CHUNK_MISSING)
			return 0;
		filling |= c->state[i] == CHUNK_FILLING;
	}
	return filling ? -1 : 1;
}

void lcopy_note_miss(struct lcopy *c, uint64_t usec)
{
	pthread_mutex_lock(&c->lock);
	c->miss_us = c->miss_us ? (3 * c->miss_us + usec) / 4 : usec;
	pthread_mutex_unlock(&c->lock);
}

ssize_t lcopy_read(struct lcopy *c, uint64_t off, size_t len, void *out)
{
	size_t first, last, done = 0;
	struct timespec until;
	uint64_t wait_us;
	bool all;
	int st;

	if (off >= c->size || len == 0)
		return 0;
	if (len > c->size - off)
		len = (size_t)(c->size - off);
	first = (size_t)(off / c->chunk_size);
	last = (size_t)((off + len - 1) / c->chunk_size);
	pthread_mutex_lock(&c->lock);
	st = chunks_state(c, first, last);
	if (st < 0) {
		wait_us = c->miss_us ? c->miss_us : LCOPY_FIRST_MISS_US;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(wait_us / 1000000);
		until.tv_nsec += (long)(wait_us % 1000000) * 1000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
	}
	while (st < 0 && pthread_cond_timedwait(&c->filled, &c->lock, &until) == 0)
		st = chunks_state(c, first, last);
	if (st < 0)
		st = chunks_state(c, first, last);
	all = st == 1;
	if (!all)
		c->hint = off;
	pthread_mutex_unlock(&c->lock);
	if (!all)
		return -EAGAIN;
	while (done < len) {
		ssize_t n = pread(c->fd, (char *)out + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file is shorter than it was made: nothing to trust */
		done += (size_t)n;
	}
	return (ssize_t)len;
}

int lcopy_claim(struct lcopy *c, uint64_t *off, size_t *len)
{
	size_t best = c->nchunks, from;
	int found = 0;

	pthread_mutex_lock(&c->lock);
	if (c->abandoned || c->failures >= LCOPY_MAX_FAILURES)
		goto out;
	/* The missing chunk nearest to the hint, looking both ways. */
	from = (size_t)(c->hint / c->chunk_size);
	for (size_t d = 0; d < c->nchunks && best == c->nchunks; d++) {
		if (from + d < c->nchunks && c->state[from + d] == CHUNK_MISSING)
			best = from + d;
		else if (d <= from && c->state[from - d] == CHUNK_MISSING)
			best = from - d;
	}
	if (best == c->nchunks)
		goto out;
	c->state[best] = CHUNK_FILLING;
	c->filling++;
	*off = (uint64_t)best * c->chunk_size;
	*len = c->size - *off < c->chunk_size ? (size_t)(c->size - *off) : c->chunk_size;
	found = 1;
out:
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Fetches [off, off + len) into the file; 0 or -errno. Runs without the lock. */
static int fill_range(struct lcopy *c, uint64_t off, size_t len, const char *object,
		      uint64_t generation, bcache_fetch_fn fetch, void *arg)
{
	struct iovec iov;
	ssize_t n;
	void *map;
	int rc;

	rc = fallocate(c->fd, 0, (off_t)off, (off_t)len);
	if (rc != 0)
		return -errno;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, (off_t)off);
	if (map == MAP_FAILED)
		return -errno;
	iov.iov_base = map;
	iov.iov_len = len;
	n = fetch(arg, object, generation, off, &iov, 1);
	munmap(map, len);
	if (n < 0)
		return n < -4095 ? -EIO : (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

int lcopy_fill(struct lcopy *c, uint64_t off, size_t len, const char *object,
	       bcache_fetch_fn fetch, void *arg)
{
	size_t i = (size_t)(off / c->chunk_size);
	uint64_t generation;
	int rc;

	pthread_mutex_lock(&c->lock);
	generation = c->generation;
	pthread_mutex_unlock(&c->lock);
	rc = fill_range(c, off, len, object, generation, fetch, arg);
	pthread_mutex_lock(&c->lock);
	c->filling--;
	if (rc == 0) {
		c->state[i] = CHUNK_PRESENT;
		c->present++;
		rc = c->present == c->nchunks;
	} else {
		c->state[i] = CHUNK_MISSING;
		c->failures++;
	}
	pthread_cond_broadcast(&c->filled);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void lcopy_get_stats(struct lcopy *c, struct lcopy_stats *out)
{
	pthread_mutex_lock(&c->lock);
	out->size = c->size;
	out->chunks = (unsigned)c->nchunks;
	out->present = (unsigned)c->present;
	out->filling = (unsigned)c->filling;
	out->failures = c->failures;
	out->present_bytes = 0;
	for (size_t i = 0; i < c->nchunks; i++)
		if (c->state[i] == CHUNK_PRESENT)
			out->present_bytes += i + 1 == c->nchunks && c->size % c->chunk_size
						      ? c->size % c->chunk_size
						      : c->chunk_size;
	out->done = c->present == c->nchunks ||
		    (c->filling == 0 && (c->abandoned || c->failures >= LCOPY_MAX_FAILURES));
	pthread_mutex_unlock(&c->lock);
}
