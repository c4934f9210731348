/* In-memory block cache for object data.
 *
 * Objects are cut into fixed-size blocks keyed by (object, generation, index). The object string
 * is opaque (callers may prefix the bucket); a generation never shares blocks with another, so a
 * cached block is never stale and needs no revalidation. Memory is bounded by an LRU over the
 * block data.
 *
 * Thread-safety: every function except bcache_new() and bcache_free() may be called from any
 * number of threads at once on the same cache. The cache never calls the fetch function with a
 * lock held, so a fetch may itself call into the cache. bcache_free() must not race with any
 * other call on the same cache.
 *
 * Ownership: the cache copies the object names it keeps; callers keep ownership of every
 * pointer they pass in. */
#ifndef GCSMOUNT_CACHE_BLOCKS_H
#define GCSMOUNT_CACHE_BLOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct bcache;

/* Reads the object's given generation from offset into the iovcnt buffers of iov, filling each
 * in order; the length asked for is the sum of their lengths. Returns the number of bytes read,
 * which may be short only at the end of the object, or -errno. Called without cache locks held,
 * possibly from several threads at once. The cache only asks for ranges that start on a block
 * boundary and end at a block boundary or at the object size the reader gave, and passes one
 * buffer per block: the block's own storage, so that the data is never copied on its way in. */
typedef ssize_t (*bcache_fetch_fn)(void *arg, const char *object, uint64_t generation,
				   uint64_t offset, const struct iovec *iov, int iovcnt);

/* Freed full-sized block buffers the cache keeps for reuse, at most: enough for the fetches in
 * flight at once. Reusing them saves a page fault per page of every fresh multi-MiB buffer and
 * keeps the allocator's per-thread arenas from fragmenting. */
#define BCACHE_SPARE_BLOCKS 32

struct bcache_stats {
	uint64_t hits;	       /* blocks a read found cached or already being fetched */
	uint64_t misses;       /* blocks a read had to fetch itself */
	uint64_t fetches;      /* calls to the fetch function */
	uint64_t evictions;    /* blocks dropped to make room (bcache_invalidate() not counted) */
	uint64_t bytes_cached; /* block bytes held in the cache, including blocks being filled */
	/* Bytes of block buffers allocated and not freed: the cached blocks, the spare buffers kept
	 * for reuse (at most BCACHE_SPARE_BLOCKS) and the private blocks of reads in
	 * progress (see bcache_read()). Without private blocks it stays within the capacity plus
	 * the spares. */
	uint64_t bytes_allocated;
};

/* Creates a cache of blocks of block_size bytes holding at most capacity_bytes of block data
 * (bookkeeping not counted). A capacity of 0 caches nothing but still serves reads. Returns NULL
 * with errno set to EINVAL (block_size 0) or ENOMEM. Free with bcache_free(). */
struct bcache *bcache_new(size_t block_size, size_t capacity_bytes);

/* Frees the cache and every block in it; accepts NULL. No other call may be in progress. */
void bcache_free(struct bcache *bc);

/* Reads [offset, offset + len) of generation `generation` of an object of object_size bytes
 * into out, clipped to object_size. Cached blocks are copied; every run of contiguous missing
 * blocks (up to 1024 of them) is fetched with one call to fetch(arg, ...), then kept as far as
 * capacity allows; a block that does not fit is private to the read and freed after it. A
 * block another thread is already fetching is waited for, not fetched again; if that fetch
 * fails, the waiters get its error.
 *
 * Returns the number of bytes copied (0 at or after the end of the object), or -errno: the
 * error from fetch, -EIO if fetch returned fewer bytes than object_size implies, -ENOMEM, or
 * -EINVAL. On error, part of out may have been written; nothing from a failed fetch is cached.
 * The same (object, generation) must always be read with the same object_size.
 *
 * out may be NULL: the blocks are brought into the cache (as far as capacity allows) and
 * nothing is copied. That is read-ahead: a later read of the range finds the blocks, or
 * waits for them while they are still being fetched. */
ssize_t bcache_read(struct bcache *bc, const char *object, uint64_t generation,
		    uint64_t object_size, uint64_t offset, size_t len, void *out,
		    bcache_fetch_fn fetch, void *arg);

/* bcache_read() of blocks already cached only: copies [offset, offset + len) (clipped to
 * object_size) and returns the byte count when every block it touches is cached and filled,
 * else -EAGAIN (nothing is fetched, nothing waited for). For a reader that would otherwise
 * fetch a few bytes itself rather than whole blocks. */
ssize_t bcache_read_cached(struct bcache *bc, const char *object, uint64_t generation,
			   uint64_t object_size, uint64_t offset, size_t len, void *out);

/* Drops every cached block of the object, all generations. Blocks a read is still filling or
 * copying stay alive until that read is done but are no longer found by later reads. Takes time
 * proportional to the number of cached blocks. */
void bcache_invalidate(struct bcache *bc, const char *object);

/* Copies a consistent snapshot of the counters into out. */
void bcache_get_stats(struct bcache *bc, struct bcache_stats *out);

/* The block size and the capacity the cache was made with. */
size_t bcache_block_size(const struct bcache *bc);
size_t bcache_capacity(const struct bcache *bc);

#endif
