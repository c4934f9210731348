/* Read-ahead workers, the sequential-reader detector and the random-reader policy.
 *
 * A GCS request pays about a round trip before its first byte and then runs at one
 * connection's speed, so one reader fetching block after block is bound by latency. Once a
 * reader has read RA_MIN_RUN bytes in sequence, the bytes ahead of it are queued as jobs of
 * RA_JOB_SIZE; several workers fetch them at once, each job a single ranged GET into the block
 * cache, and the reader finds the blocks there (or waits for the one being fetched, which the cache
 * never fetches twice). The window starts at two jobs and doubles while the reader keeps up, to the
 * configured maximum. A reader that jumps around gets no read-ahead from it; rr_note_read()
 * decides what such a reader gets instead (see fs/readahead.h).
 *
 * The workers are a pool of their own (fs/workers.h), with a bounded queue: jobs are hints,
 * and one the queue has no room for is dropped. */
#include "fs/readahead.h"

#include <stdlib.h>
#include <string.h>

#include "fs/workers.h"

#define QUEUE_MAX 256

struct readahead {
	struct bcache *bc;
	bcache_fetch_fn fetch;
	void *arg;
	struct workers *workers;
};

/* One range of one object to bring into the cache. */
struct range_job {
	struct readahead *ra;
	char *object;
	uint64_t generation, object_size, off, len;
};

static void range_job_free(void *arg)
{
	struct range_job *j = arg;

	free(j->object);
	free(j);
}

static void range_job_run(void *arg)
{
	struct range_job *j = arg;
	struct readahead *ra = j->ra;

	/* No buffer: the blocks only go into the cache. Errors are the reader's to meet. */
	bcache_read(ra->bc, j->object, j->generation, j->object_size, j->off, (size_t)j->len, NULL,
		    ra->fetch, ra->arg);
	range_job_free(j);
}

struct readahead *readahead_new(struct bcache *bc, bcache_fetch_fn fetch, void *arg, int nthreads)
{
	struct readahead *ra = calloc(1, sizeof(*ra));

	if (!ra)
		return NULL;
	ra->bc = bc;
	ra->fetch = fetch;
	ra->arg = arg;
	ra->workers = workers_new(nthreads, QUEUE_MAX);
	if (!ra->workers) {
		free(ra);
		return NULL;
	}
	return ra;
}

void readahead_free(struct readahead *ra)
{
	if (!ra)
		return;
	workers_free(ra->workers);
	free(ra);
}

void readahead_submit(struct readahead *ra, const char *object, uint64_t generation,
		      uint64_t object_size, uint64_t off, size_t len)
{
	/* One job per RA_JOB_SIZE: jobs run in parallel, each a single GET. */
	while (len > 0) {
		size_t n = len < RA_JOB_SIZE ? len : RA_JOB_SIZE;
		struct range_job *j = calloc(1, sizeof(*j));

		if (!j || !(j->object = strdup(object))) {
			free(j);
			return;
		}
		j->ra = ra;
		j->generation = generation;
		j->object_size = object_size;
		j->off = off;
		j->len = n;
		/* A hint the full queue has no room for is dropped. */
		if (workers_submit(ra->workers, range_job_run, range_job_free, j) != 0)
			range_job_free(j);
		off += n;
		len -= n;
	}
}

void readahead_submit_work(struct readahead *ra, void (*run)(void *), void (*drop)(void *),
			   void *arg)
{
	if (workers_submit(ra->workers, run, drop, arg) != 0)
		drop(arg);
}

int ra_note_read(struct ra_state *s, uint64_t object_size, uint64_t off, size_t len,
		 uint64_t max_window, uint64_t *submit_off, uint64_t *submit_len)
{
	/* The kernel issues its own read-ahead as several requests that may arrive slightly out
	 * of order, so "sequential" allows a little slack around the expected offset. */
	uint64_t slack = 1u << 20;
	int sequential = s->reads > 0 && off + slack >= s->next_off && off <= s->next_off + slack;

	*submit_off = *submit_len = 0;
	s->reads++;
	if (off == 0 && s->reads == 1)
		sequential = 1; /* reading from the start is how sequential readers begin */
	if (!sequential) {
		s->streak = 0;
		s->run = 0;
		s->window = 0;
		s->ahead = 0;
		s->next_off = off + len;
		return s->reads > 1;
	}
	s->streak++;
	s->run += len;
	if (off + len > s->next_off)
		s->next_off = off + len;
	/* A sequential run is a pattern only past RA_MIN_RUN: one random read of a few
	 * hundred KiB, cut by the kernel into pieces, is not. */
	if (!max_window || s->run < RA_MIN_RUN)
		return 0;
	if (s->window == 0)
		s->window = 2 * (uint64_t)RA_JOB_SIZE;
	uint64_t from = s->ahead > s->next_off ? s->ahead : s->next_off;
	uint64_t to = s->next_off + s->window;
	if (to > object_size)
		to = object_size;
	/* Queue whole jobs only (except at the end of the object), so that each job is a
	 * full-size GET. */
	if (to > from && (to - from >= RA_JOB_SIZE || to == object_size)) {
		*submit_off = from;
		*submit_len = to - from;
		s->ahead = to;
		if (s->window < max_window)
			s->window *= 2;
		if (s->window > max_window)
			s->window = max_window;
	}
	return 0;
}

int rr_note_read(struct rr_state *s, uint64_t object_size, uint64_t off, size_t len,
		 size_t block_size, uint64_t *region_off)
{
	uint64_t blk = off / block_size;
	uint64_t last = (off + (len ? len : 1) - 1) / block_size;
	uint64_t per_region = RR_HOT_REGION / block_size ? RR_HOT_REGION / block_size : 1;
	uint64_t region = blk / per_region;
	unsigned hot = 0;
	int flags = 0, known = 0;

	*region_off = 0;
	s->reads++;
	/* Near a recent read: the same blocks or the ones next to them. The ring holds each
	 * block once, so the blocks of the region it holds are distinct. */
	for (unsigned i = 0; i < s->nrecent; i++) {
		uint64_t b = s->recent[i];

		if (b + 1 >= blk && b <= last + 1)
			flags |= RR_BLOCK;
		if (b == blk)
			known = 1;
		else if (b / per_region == region)
			hot++;
	}
	if (!known) {
		s->recent[s->at] = blk;
		s->at = (s->at + 1) % RR_RECENT;
		if (s->nrecent < RR_RECENT)
			s->nrecent++;
	}
	/* Reads coming back to one region: fetch it ahead, once while it stays in the ring (and
	 * not at all once the whole object is on its way). */
	if (hot + 1 >= RR_HOT_BLOCKS && !s->swept) {
		int done = 0;

		for (unsigned i = 0; i < sizeof(s->hot_done) / sizeof(s->hot_done[0]); i++)
			done |= s->hot_done[i] == region + 1;
		if (!done) {
			s->hot_done[s->hot_at] = region + 1;
			s->hot_at = (s->hot_at + 1) % (sizeof(s->hot_done) / sizeof(s->hot_done[0]));
			*region_off = region * per_region * block_size;
			flags |= RR_REGION;
		}
	}
	if (s->reads > 1 && off + block_size < s->last_off)
		s->back++;
	s->last_off = off;
	if (object_size > 0 && off < object_size) {
		unsigned r = (unsigned)(off * RR_REGIONS / object_size);
		uint64_t bit = 1ull << (r % 64);

		if (!(s->regions[r / 64] & bit)) {
			s->regions[r / 64] |= bit;
			s->nregions++;
		}
	}
	if (!s->swept && s->nregions >= RR_SWEEP_REGIONS && s->back >= RR_SWEEP_BACK) {
		s->swept = 1;
		flags |= RR_WHOLE;
	}
	return flags;
}
