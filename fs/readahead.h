/* Background read-ahead: worker threads that fill the block cache ahead of sequential
 * readers, each job one ranged GET, several in flight at once.
 *
 * struct readahead is opaque and thread-safe. Jobs are hints: when the queue is full a job is
 * dropped, and a failed job only means the reader fetches that range itself. */
#ifndef GCSMOUNT_FS_READAHEAD_H
#define GCSMOUNT_FS_READAHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "cache/blocks.h"

struct readahead;

/* Starts nthreads workers filling bc through fetch(arg, ...). NULL on failure. */
struct readahead *readahead_new(struct bcache *bc, bcache_fetch_fn fetch, void *arg, int nthreads);
/* Stops the workers (jobs still queued are dropped) and frees everything; NULL is fine. */
void readahead_free(struct readahead *ra);
/* Queues [off, off + len) of the object's generation. */
void readahead_submit(struct readahead *ra, const char *object, uint64_t generation,
		      uint64_t object_size, uint64_t off, size_t len);

/* Per-handle access pattern, kept by the caller (under its own lock) and fed every read. */
struct ra_state {
	uint64_t next_off; /* where a sequential reader reads next */
	uint64_t ahead;	   /* read-ahead has been queued up to here */
	uint64_t window;   /* how far ahead to stay; grows while the reader stays sequential */
	unsigned streak;   /* consecutive sequential reads */
	uint64_t run;	   /* bytes those reads covered */
	unsigned reads;
};

#define RA_JOB_SIZE (4u << 20)
#define RA_MIN_RUN (2u << 20)

/* Records a read of [off, off + len) and says what to do:
 * submit_off and submit_len: a range to queue for read-ahead (length 0: nothing);
 * the return value: 1 if the reader looks random (caller may bypass the cache), else 0. */
int ra_note_read(struct ra_state *s, uint64_t object_size, uint64_t off, size_t len,
		 uint64_t max_window, uint64_t *submit_off, uint64_t *submit_len);

#endif
