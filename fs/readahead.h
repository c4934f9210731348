/* Background read-ahead: worker threads that fill the block cache ahead of sequential
 * readers, each job one ranged GET, several in flight at once; and the access-pattern
 * policies that decide what to fetch ahead: ra_note_read() for sequential readers,
 * rr_note_read() for random ones.
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
/* Queues work of another kind: a worker calls run(arg); a job dropped instead (queue full,
 * or the workers stopping) gets drop(arg). Exactly one of the two is called. */
void readahead_submit_work(struct readahead *ra, void (*run)(void *), void (*drop)(void *),
			   void *arg);

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

/* Per-object random-reader policy, kept by the caller (under its own lock) and fed every read
 * that ra_note_read() called random. Small random reads are fetched exactly at first; a read
 * near one made lately (same or next block) has the surrounding block fetched into the cache,
 * where later reads find it; reads coming back to the same region have the region fetched
 * ahead; and a reader whose reads spread over many regions of the object, jumping backwards
 * as well as forwards, is sweeping it, and the whole object is worth fetching once. (Reads
 * that only ever jump forwards are a sequential reader whose file is partly in the kernel's
 * page cache: the kernel asks only for the parts it lacks.) */
#define RR_RECENT 32	     /* blocks of recent random reads remembered */
#define RR_REGIONS 64	     /* an object is watched as this many regions */
#define RR_SWEEP_REGIONS 8   /* distinct regions read at random that make a sweep */
#define RR_SWEEP_BACK 3	     /* ... with this many jumps backwards among them */
#define RR_HOT_BLOCKS 3	     /* recent reads in distinct blocks of one region make it hot */
#define RR_HOT_REGION (8u << 20) /* the region fetched ahead when hot */

struct rr_state {
	uint64_t recent[RR_RECENT]; /* block numbers, a ring */
	unsigned nrecent, at;
	uint64_t regions[RR_REGIONS / 64]; /* bitmap of the regions read */
	unsigned nregions;
	uint64_t last_off; /* of the previous random read */
	unsigned back;	   /* random reads that jumped backwards */
	uint64_t hot_done[4]; /* hot regions queued lately (number + 1; 0: none), a ring */
	unsigned hot_at;
	unsigned reads;
	int swept; /* RR_WHOLE was returned */
};

#define RR_BLOCK 1 /* fetch the blocks around the read into the cache (else: exactly) */
#define RR_REGION 2 /* also queue the hot region around it: *region_off, RR_HOT_REGION */
#define RR_WHOLE 4 /* fetch the whole object in the background, once */

/* Records a random read of [off, off + len) of an object of object_size bytes cut into
 * blocks of block_size, and returns RR_* flags. */
int rr_note_read(struct rr_state *s, uint64_t object_size, uint64_t off, size_t len,
		 size_t block_size, uint64_t *region_off);

#endif
