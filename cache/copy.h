/* A local copy of one object generation, filled in chunks in the background.
 *
 * For a reader that jumps all over an object too large for the memory cache: the object is
 * fetched whole, a chunk per request, several chunks at once, into a sparse file on local
 * disk, and reads of chunks that have arrived are answered from it. The copy knows which
 * chunks are present; a read that touches a missing one is the caller's to serve otherwise.
 * Chunks are handed out nearest first to where the reader last missed, so the copy fills
 * where it is wanted.
 *
 * Thread-safety: every function except lcopy_new() may be called from any number of threads
 * at once. Chunk data is written only by the filler that claimed the chunk, without the lock,
 * and read by anyone once the chunk is present (the change happens under the lock).
 *
 * Ownership: lcopy_new() takes the file descriptor; the copy is reference-counted (the
 * creator holds the first reference) and closes the file when the last one is dropped. */
#ifndef GCSMOUNT_CACHE_COPY_H
#define GCSMOUNT_CACHE_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/blocks.h"

struct lcopy;

/* Failed fetches after which a copy stops filling (reads then go elsewhere). */
#define LCOPY_MAX_FAILURES 3

/* A copy of generation `generation` of an object of size bytes (> 0) in chunks of chunk_size
 * bytes (a multiple of the page size), kept in fd: an empty file of its own, which the copy
 * sizes and owns. Returns NULL with errno set (EINVAL, ENOMEM, or ftruncate's error); fd is
 * closed then too. */
struct lcopy *lcopy_new(int fd, uint64_t generation, uint64_t size, size_t chunk_size);
/* Reference counting; lcopy_put() of the last reference closes the file and frees it. */
struct lcopy *lcopy_get(struct lcopy *c);
void lcopy_put(struct lcopy *c);
/* No more chunks are handed out (fillers stop after the chunk they have); reads of present
 * chunks still work. */
void lcopy_abandon(struct lcopy *c);

uint64_t lcopy_generation(struct lcopy *c);
/* The object was moved and is now generation `generation`, with the same bytes. */
void lcopy_set_generation(struct lcopy *c, uint64_t generation);

/* Reads [off, off + len), clipped to the object's size, if every chunk it touches is present:
 * returns the byte count (0 at or past the end), -EAGAIN if a chunk is missing (and records
 * off as where the reader wants data), or -errno from pread. When the chunks missing are all
 * being filled, it first waits for them, but no longer than a read elsewhere takes (see
 * lcopy_note_miss()): their bytes are on their way, and fetching them a second time would
 * compete with them, while waiting at most that long costs at most twice a miss. */
ssize_t lcopy_read(struct lcopy *c, uint64_t off, size_t len, void *out);
/* A read the copy could not answer took usec elsewhere; the copy keeps a running mean. */
void lcopy_note_miss(struct lcopy *c, uint64_t usec);

/* How long a miss is taken to last before one was measured: a round trip to GCS. */
#define LCOPY_FIRST_MISS_US 30000

/* Claims the missing chunk nearest to where the last read missed (the first one before any
 * miss): returns 1 and sets *off and *len, or 0 when none is left or the copy was abandoned
 * or failed too often. The claimer must call lcopy_fill() on it. */
int lcopy_claim(struct lcopy *c, uint64_t *off, size_t *len);
/* Fetches a claimed chunk through fetch(arg, object, generation, off, iov, 1) straight into the
 * file (its space reserved first, so a full disk is an error here and not a fault later) and
 * marks it present; on failure the chunk is missing again. Returns 0, 1 if it was the last
 * chunk missing (the copy is complete), or -errno. */
int lcopy_fill(struct lcopy *c, uint64_t off, size_t len, const char *object,
	       bcache_fetch_fn fetch, void *arg);

struct lcopy_stats {
	uint64_t size;
	uint64_t present_bytes;
	unsigned chunks, present, filling, failures;
	int done; /* every chunk present, or no more will be filled */
};
void lcopy_get_stats(struct lcopy *c, struct lcopy_stats *out);

#endif
