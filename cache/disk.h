/* On-disk block cache for object data, kept across remounts.
 *
 * Blocks are keyed by (object, generation, index), as in the memory cache, so a block on disk is
 * never stale; each file holds one block, its full key and a CRC32C of the data, which are
 * checked every time the block is read. A damaged block is deleted and fetched again. The cache
 * is bounded by a byte limit (LRU eviction) and by a floor of free space on the filesystem that
 * holds it.
 *
 * It stacks under the memory cache as a fetch function: give struct bcache the fetch function
 * dcache_layer_fetch() with a struct dcache_layer as its argument, and the memory cache's misses
 * are served from disk, while the disk cache's misses go on to the layer's inner fetch function.
 *
 * Sharing: several caches, in one process or in several (two mounts of the same bucket), may use
 * the same directory at once. Files are written under a temporary name and renamed into place,
 * and a block's content is fixed by its key, so a reader sees a whole, correct block or a miss,
 * never a mix. Each cache keeps its own index and its own byte limit; a file that another cache
 * evicted or replaced is simply a miss here. Temporary files left by a crash are deleted only by
 * an open that finds no other cache using the directory (a shared flock on `lock` tells).
 *
 * Thread-safety: every function except dcache_new() and dcache_free() may be called from any
 * number of threads at once on the same cache. The inner fetch function is never called with a
 * lock held. dcache_free() must not race with any other call on the same cache.
 *
 * Ownership: callers keep ownership of every pointer they pass in; the cache keeps no pointer to
 * them after a call returns. */
#ifndef GCSMOUNT_CACHE_DISK_H
#define GCSMOUNT_CACHE_DISK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/blocks.h"

struct dcache;

struct dcache_stats {
	uint64_t hits;	       /* blocks served from disk */
	uint64_t misses;       /* blocks fetched through the inner function */
	uint64_t corrupt;      /* blocks that failed verification, deleted and fetched again */
	uint64_t evictions;    /* blocks deleted to stay under the byte limit or above the floor */
	uint64_t stores;       /* blocks written to disk */
	uint64_t store_skips;  /* blocks not kept because no room could be made */
	uint64_t store_errors; /* blocks not kept because writing them failed */
	/* File sizes (header, key and data) of the indexed blocks and of stores being written. */
	uint64_t bytes_on_disk;
};

/* Opens the cache in dir, creating dir (one level) and its 256 fan-out subdirectories if needed,
 * for blocks of block_size bytes (at most 1 GiB). The blocks' files, headers and keys included,
 * are kept within max_bytes; blocks are also evicted while the filesystem holding dir has less
 * than min_free_bytes available (0: no floor). Blocks left by earlier runs are indexed from
 * their names, sizes and mtimes, not read; files that cannot be blocks are deleted, and if the
 * index already passes max_bytes the oldest blocks are evicted.
 *
 * Returns NULL with errno set and a sentence in why (if why is not NULL) when dir cannot be
 * created, opened, written or scanned, or block_size is 0 or too large. Free with
 * dcache_free(). */
struct dcache *dcache_new(const char *dir, size_t block_size, uint64_t max_bytes,
			  uint64_t min_free_bytes, char *why, size_t whylen);

/* Closes the cache; the blocks stay on disk for the next open. Accepts NULL. No other call may
 * be in progress. */
void dcache_free(struct dcache *dc);

/* Fills buf with [offset, offset + len) of generation `generation` of the object, under the
 * contract of bcache_fetch_fn: offset is a multiple of the block size, and len is a whole number
 * of blocks or ends at the object's end (a range that ends inside a block is taken to end at the
 * object's end, and that block is stored as the object's last).
 *
 * Blocks found on disk are verified and copied; a damaged or truncated one is deleted, counted
 * in corrupt and fetched again. Every run of contiguous missing blocks is fetched with one call
 * to inner(inner_arg, ...), straight into its place in buf, and what came back is stored. A failed
 * or skipped store never fails the read: the data was fetched, it is only not kept. Stores happen
 * before the call returns. Objects whose names pass 4096 bytes bypass the cache.
 *
 * Returns the number of bytes read, short only at the object's end (a block on disk or a fetch
 * that ends early marks the end), or -errno: the error from inner, -EIO if inner returned more
 * than it was asked for, or -EINVAL for bad arguments. Running out of memory only costs the
 * cache: the block is read from inner, or not kept. On error, part of buf may have been
 * written. */
ssize_t dcache_fetch(struct dcache *dc, const char *object, uint64_t generation, uint64_t offset,
		     size_t len, void *buf, bcache_fetch_fn inner, void *inner_arg);

/* Copies a consistent snapshot of the counters into out. */
void dcache_get_stats(struct dcache *dc, struct dcache_stats *out);

/* Argument of dcache_layer_fetch(): the disk cache and the fetch function behind it. The caller
 * owns it and keeps it alive as long as a struct bcache may call dcache_layer_fetch() with it. */
struct dcache_layer {
	struct dcache *dc;
	bcache_fetch_fn inner;
	void *inner_arg;
};

/* A bcache_fetch_fn over a struct dcache_layer: dcache_fetch(layer->dc, ..., layer->inner,
 * layer->inner_arg) into the buffers of iov. When every buffer but the last holds whole blocks of
 * the disk cache (as the memory cache's do when its block size is a multiple of the disk cache's),
 * each block is loaded or fetched straight into its buffer, and a run of missing blocks reaches
 * inner as one call with a vector of those buffers. Otherwise the read still copies: it goes
 * through a temporary contiguous buffer. Unlike dcache_fetch(), it may fail with -ENOMEM (for
 * that buffer, or for the vector of a run over more than 16 buffers). */
ssize_t dcache_layer_fetch(void *arg, const char *object, uint64_t generation, uint64_t offset,
			   const struct iovec *iov, int iovcnt);

#endif
