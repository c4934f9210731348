/* In-memory block cache.
 *
 * A hash table (cache/htable.h: separate chaining, grown when the load passes one block per
 * bucket) finds blocks by (object, generation, index). An LRU list holds exactly the blocks nobody
 * is using, so eviction takes its tail in O(1) and can never free a block under a reader.
 *
 * A block is born as a placeholder in state FILLING, owned by the read that missed it. Other
 * reads that want the same block take a reference and sleep on one condition variable until the
 * block turns READY or FAILED, so a block is fetched once however many threads miss it together.
 * A read fetches each run of contiguous blocks it owns with a single call (one ranged GET instead
 * of one per block) that scatters the bytes straight into the blocks' own buffers, one iovec per
 * block, then publishes them. No contiguous staging buffer exists, so the data of the blocks in
 * flight is held once, inside the capacity, and not a second time outside it.
 *
 * Space is reserved when the placeholder is created, so bytes_cached never passes the capacity,
 * not even while fetches are in flight. When no room can be made because the blocks in use fill
 * the capacity, the block is private: fetched and served for this read, never entered in the
 * table. That is how a read larger than the whole cache still works. Private blocks are not
 * shared, so two reads that miss the same one while the cache is full each fetch it.
 *
 * Memory: block buffers are the only large allocations, and up to BCACHE_SPARE_BLOCKS freed
 * full-sized ones are kept for reuse (see blocks.h). So the buffers alive never pass the capacity
 * plus the spares plus the private blocks of reads in progress; bytes_allocated counts them.
 *
 * Locking rules (bc->lock is the only lock but for spare_lock, a leaf that guards nothing but
 * the spare buffers; bytes_allocated is an atomic counter):
 * - bc->lock guards the table, the LRU list, the counters and, in every block, refs, state, err,
 *   in_table and the list links. A block's key and len never change after creation.
 * - A block's data (the pointer and the bytes) is written only by the read that owns the block,
 *   while it is FILLING, without the lock. Anyone holding a reference reads it, without the lock,
 *   once the block is READY. The FILLING -> READY change happens under bc->lock, which orders the
 *   owner's writes before the readers' reads.
 * - A block is freed only when it is out of the table and its last reference is gone: eviction
 *   takes only LRU blocks (in the table, READY, refs == 0); invalidating a referenced block only
 *   takes it out of the table, and the read dropping the last reference frees it.
 * - The fetch function, memcpy of block data and free() of evicted blocks run without bc->lock,
 *   and nothing else is locked while it is held, so there is no lock order to get wrong and a
 *   fetch may call back into the cache.
 * - A read fills every block it owns before it waits for any block another read owns, so waits
 *   cannot form a cycle.
 */
#include "cache/blocks.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "cache/htable.h"
#include "util/hash.h"

/* Bounds that keep a fetch run (a read plus at most a block on each side) within what the fetch
 * function can report in a ssize_t. */
#define BCACHE_MAX_BLOCK (SSIZE_MAX / 4)
#define BCACHE_MAX_READ (SSIZE_MAX / 2)

/* Most blocks one fetch call gets: keeps the iovec count an int and its array small. It is
 * IOV_MAX on Linux, so a fetch function may hand the vector to preadv() as it is. */
#define BCACHE_MAX_RUN 1024
/* A run this short gets its iovecs on the stack. */
#define BCACHE_STACK_IOVS 16

enum bcache_state {
	BCACHE_FILLING,
	BCACHE_READY,
	BCACHE_FAILED,
};

struct bcache_block {
	struct htable_link link;       /* in bc->table, while in_table */
	TAILQ_ENTRY(bcache_block) lru; /* bc->lru while evictable, then a list of blocks to free */
	uint64_t generation;
	uint64_t index;
	size_t len;	     /* block_size, or less for the last block of an object */
	unsigned char *data; /* len bytes, allocated by the owner outside the lock */
	unsigned int refs;   /* reads holding the block */
	enum bcache_state state;
	int err; /* -errno when FAILED */
	bool in_table;
	char object[];
};

TAILQ_HEAD(bcache_list, bcache_block);

struct bcache {
	pthread_mutex_t lock;
	pthread_cond_t filled; /* broadcast whenever blocks leave FILLING */
	size_t block_size;
	size_t capacity;
	struct htable table;
	size_t bytes;		/* data bytes of the blocks in the table */
	struct bcache_list lru; /* most recently used first */
	size_t lru_bytes;
	struct bcache_stats stats; /* bytes_cached, bytes_allocated unused: see bytes, allocated */

	/* Full-sized block buffers kept for reuse (own leaf lock); see Memory above. */
	pthread_mutex_t spare_lock;
	void *spare_blocks[BCACHE_SPARE_BLOCKS];
	size_t nspare_blocks;
	_Atomic size_t allocated; /* bytes of block buffers alive, spares included */
};

/* One block of a read. */
struct bcache_slot {
	struct bcache_block *b;
	bool owner; /* this read fills the block */
	int err;    /* result of the fill, owner only */
};

/* A read in progress. */
struct bcache_req {
	const char *object;
	size_t object_len;
	uint64_t object_hash;
	uint64_t generation;
	uint64_t first; /* index of the block in slots[0] */
	size_t nslots;
	struct bcache_slot *slots;
	uint64_t fetches;
	struct bcache_list doomed; /* unreferenced blocks to free once the lock is dropped */
};

/* object_hash is the FNV-1a state after the object name, computed once per read. */
static uint64_t bcache_hash(uint64_t object_hash, uint64_t generation, uint64_t index)
{
	uint64_t h = object_hash;

	h = hash_fnv1a64(h, &generation, sizeof(generation));
	h = hash_fnv1a64(h, &index, sizeof(index));
	/* The low bits of an FNV-1a hash depend only on the low bits of each input byte, so block
	 * indexes 0 and 16 would share a bucket of a 16-bucket table. The finaliser spreads every
	 * bit over the low bits that the bucket mask keeps. */
	return hash_mix64(h);
}

static struct bcache_block *bcache_block_of(struct htable_link *l)
{
	return (struct bcache_block *)((char *)l - offsetof(struct bcache_block, link));
}

static struct bcache_block *bcache_lookup(struct bcache *bc, uint64_t hash, const char *object,
					  uint64_t generation, uint64_t index)
{
	for (struct htable_link *l = htable_first(&bc->table, hash); l; l = htable_next(l)) {
		struct bcache_block *b = bcache_block_of(l);

		if (b->generation == generation && b->index == index &&
		    strcmp(b->object, object) == 0)
			return b;
	}
	return NULL;
}

/* Takes b out of the table, and out of the LRU list if it is there. Returns true if no read
 * references b, in which case the caller must free it. */
static bool bcache_detach(struct bcache *bc, struct bcache_block *b)
{
	htable_remove(&bc->table, &b->link);
	b->in_table = false;
	bc->bytes -= b->len;
	if (b->refs)
		return false;
	/* In the table with no reference means READY and on the LRU list. */
	TAILQ_REMOVE(&bc->lru, b, lru);
	bc->lru_bytes -= b->len;
	return true;
}

/* Evicts least recently used blocks until len more bytes fit. Evicts nothing and returns false
 * if even evicting every unused block would not make room. */
static bool bcache_make_room(struct bcache *bc, size_t len, struct bcache_list *doomed)
{
	struct bcache_block *b;

	if (len > bc->capacity || bc->bytes - bc->lru_bytes > bc->capacity - len)
		return false;
	while (bc->bytes > bc->capacity - len) {
		b = TAILQ_LAST(&bc->lru, bcache_list);
		bcache_detach(bc, b);
		TAILQ_INSERT_TAIL(doomed, b, lru);
		bc->stats.evictions++;
	}
	return true;
}

/* A buffer for a block of len bytes: a spare one when the block is full-sized. */
static void *bcache_data_alloc(struct bcache *bc, size_t len)
{
	void *p = NULL;

	if (len == bc->block_size) {
		pthread_mutex_lock(&bc->spare_lock);
		if (bc->nspare_blocks > 0)
			p = bc->spare_blocks[--bc->nspare_blocks];
		pthread_mutex_unlock(&bc->spare_lock);
		if (p)
			return p;
	}
	p = malloc(len);
	if (p)
		atomic_fetch_add(&bc->allocated, len);
	return p;
}

/* Keeps a full-sized buffer as a spare if there is room for one, else frees it. */
static void bcache_data_free(struct bcache *bc, void *p, size_t len)
{
	if (!p)
		return;
	if (len == bc->block_size) {
		pthread_mutex_lock(&bc->spare_lock);
		if (bc->nspare_blocks < BCACHE_SPARE_BLOCKS) {
			bc->spare_blocks[bc->nspare_blocks++] = p;
			p = NULL;
		}
		pthread_mutex_unlock(&bc->spare_lock);
	}
	if (p) {
		atomic_fetch_sub(&bc->allocated, len);
		free(p);
	}
}

static void bcache_free_blocks(struct bcache *bc, struct bcache_list *list)
{
	struct bcache_block *b;

	while ((b = TAILQ_FIRST(list))) {
		TAILQ_REMOVE(list, b, lru);
		bcache_data_free(bc, b->data, b->len);
		free(b);
	}
}

/* Takes a reference to every block of the read, creating placeholders for the missing ones.
 * Called with bc->lock held. On -ENOMEM the slots after the failing one stay empty. */
static int bcache_pin(struct bcache *bc, struct bcache_req *rq, uint64_t object_size)
{
	for (size_t i = 0; i < rq->nslots; i++) {
		struct bcache_slot *s = &rq->slots[i];
		uint64_t index = rq->first + i;
		uint64_t hash = bcache_hash(rq->object_hash, rq->generation, index);
		uint64_t start = index * bc->block_size;
		struct bcache_block *b;

		b = bcache_lookup(bc, hash, rq->object, rq->generation, index);
		if (b) {
			if (b->refs++ == 0) {
				TAILQ_REMOVE(&bc->lru, b, lru);
				bc->lru_bytes -= b->len;
			}
			bc->stats.hits++;
			s->b = b;
			continue;
		}

		b = malloc(sizeof(*b) + rq->object_len + 1);
		if (!b)
			return -ENOMEM;
		memcpy(b->object, rq->object, rq->object_len + 1);
		b->generation = rq->generation;
		b->index = index;
		b->len =
			object_size - start < bc->block_size ? object_size - start : bc->block_size;
		b->data = NULL;
		b->refs = 1;
		b->state = BCACHE_FILLING;
		b->err = 0;
		b->in_table = false;
		if (bcache_make_room(bc, b->len, &rq->doomed)) {
			htable_insert(&bc->table, &b->link, hash);
			b->in_table = true;
			bc->bytes += b->len;
		}
		bc->stats.misses++;
		s->b = b;
		s->owner = true;
	}
	return 0;
}

/* Fetches the owned blocks in slots [i, j) with one call, straight into their buffers. Runs
 * without bc->lock. */
static int bcache_fill_run(struct bcache *bc, struct bcache_req *rq, size_t i, size_t j,
			   bcache_fetch_fn fetch, void *arg)
{
	uint64_t start = (rq->first + i) * bc->block_size;
	struct iovec stack_iov[BCACHE_STACK_IOVS];
	struct iovec *iov = stack_iov;
	size_t total = 0;
	ssize_t n;
	int rc = 0;

	if (j - i > BCACHE_STACK_IOVS) {
		iov = malloc((j - i) * sizeof(*iov));
		if (!iov)
			return -ENOMEM;
	}
	for (size_t k = i; k < j; k++) {
		struct bcache_block *b = rq->slots[k].b;

		/* Freed with the block if the fill fails. */
		b->data = bcache_data_alloc(bc, b->len);
		if (!b->data) {
			rc = -ENOMEM;
			goto out;
		}
		iov[k - i] = (struct iovec){.iov_base = b->data, .iov_len = b->len};
		total += b->len;
	}

	rq->fetches++;
	n = fetch(arg, rq->object, rq->generation, start, iov, (int)(j - i));
	if (n < 0) {
		rc = n < -INT_MAX ? -EIO : (int)n;
		goto out;
	}
	/* Nothing past object_size was asked for, so a short answer means the object is shorter
	 * than the reader believes: the bytes after it would be garbage. */
	if ((size_t)n != total)
		rc = -EIO;
out:
	if (iov != stack_iov)
		free(iov);
	return rc;
}

/* Fills every run of owned blocks (one longer than BCACHE_MAX_RUN in pieces), recording each
 * block's result in its slot. Every run is tried even after one failed, so that a block other
 * reads wait for carries the result of its own fetch rather than a neighbour's. Runs without
 * bc->lock. */
static void bcache_fill(struct bcache *bc, struct bcache_req *rq, bcache_fetch_fn fetch, void *arg)
{
	size_t i = 0;

	while (i < rq->nslots) {
		size_t j = i;
		int rc;

		if (!rq->slots[i].owner) {
			i++;
			continue;
		}
		while (j < rq->nslots && rq->slots[j].owner && j - i < BCACHE_MAX_RUN)
			j++;
		rc = bcache_fill_run(bc, rq, i, j, fetch, arg);
		for (size_t k = i; k < j; k++)
			rq->slots[k].err = rc;
		i = j;
	}
}

/* Publishes the owned blocks, then, unless the read already failed (rc or an owned block's
 * error), waits for the blocks other reads are filling. Returns the read's first error. Called
 * with bc->lock held. */
static int bcache_settle(struct bcache *bc, struct bcache_req *rq, int rc)
{
	bool published = false;

	for (size_t i = 0; i < rq->nslots; i++) {
		struct bcache_slot *s = &rq->slots[i];
		struct bcache_block *b = s->b;

		if (!s->owner)
			continue;
		if (rc)
			s->err = rc;
		if (s->err) {
			b->state = BCACHE_FAILED;
			b->err = s->err;
			/* Our reference keeps it alive; waiters drop theirs after reading err. */
			if (b->in_table)
				bcache_detach(bc, b);
			if (!rc)
				rc = s->err;
		} else {
			b->state = BCACHE_READY;
		}
		published = true;
	}
	if (published)
		pthread_cond_broadcast(&bc->filled);
	bc->stats.fetches += rq->fetches;
	if (rc)
		return rc;

	for (size_t i = 0; i < rq->nslots; i++) {
		struct bcache_block *b = rq->slots[i].b;

		while (b->state == BCACHE_FILLING)
			pthread_cond_wait(&bc->filled, &bc->lock);
		if (b->state == BCACHE_FAILED)
			return b->err;
	}
	return 0;
}

/* Copies the read's bytes out of its READY blocks. Runs without bc->lock. */
static int bcache_copy_out(struct bcache *bc, struct bcache_req *rq, uint64_t offset, size_t len,
			   unsigned char *out)
{
	uint64_t end = offset + len;

	for (size_t i = 0; i < rq->nslots; i++) {
		struct bcache_block *b = rq->slots[i].b;
		uint64_t bstart = (rq->first + i) * bc->block_size;
		uint64_t from = offset > bstart ? offset - bstart : 0;
		uint64_t to = end - bstart < bc->block_size ? end - bstart : bc->block_size;

		/* A block cached by a reader that gave a smaller object_size. */
		if (to > b->len)
			return -EIO;
		memcpy(out + (bstart + from - offset), b->data + from, to - from);
	}
	return 0;
}

/* Drops the read's references. Called with bc->lock held; blocks that must be freed go to
 * rq->doomed. */
static void bcache_unpin(struct bcache *bc, struct bcache_req *rq)
{
	for (size_t i = 0; i < rq->nslots; i++) {
		struct bcache_block *b = rq->slots[i].b;

		if (!b || --b->refs)
			continue;
		if (b->in_table) {
			TAILQ_INSERT_HEAD(&bc->lru, b, lru);
			bc->lru_bytes += b->len;
		} else {
			TAILQ_INSERT_TAIL(&rq->doomed, b, lru);
		}
	}
}

struct bcache *bcache_new(size_t block_size, size_t capacity_bytes)
{
	struct bcache *bc = NULL;
	bool mutex_ok = false;
	int err = ENOMEM;

	if (block_size == 0 || block_size > BCACHE_MAX_BLOCK) {
		err = EINVAL;
		goto fail;
	}
	bc = calloc(1, sizeof(*bc));
	if (!bc)
		goto fail;
	bc->block_size = block_size;
	bc->capacity = capacity_bytes;
	if (htable_init(&bc->table))
		goto fail;
	TAILQ_INIT(&bc->lru);
	err = pthread_mutex_init(&bc->lock, NULL);
	if (err)
		goto fail;
	mutex_ok = true;
	err = pthread_cond_init(&bc->filled, NULL);
	if (err)
		goto fail;
	err = pthread_mutex_init(&bc->spare_lock, NULL);
	if (err) {
		pthread_cond_destroy(&bc->filled);
		goto fail;
	}
	return bc;

fail:
	if (mutex_ok)
		pthread_mutex_destroy(&bc->lock);
	if (bc)
		htable_free(&bc->table);
	free(bc);
	errno = err;
	return NULL;
}

void bcache_free(struct bcache *bc)
{
	struct htable_iter it;
	struct htable_link *l;

	if (!bc)
		return;
	htable_iter_init(&it);
	while ((l = htable_iter_next(&bc->table, &it))) {
		struct bcache_block *b = bcache_block_of(l);

		free(b->data);
		free(b);
	}
	for (size_t i = 0; i < bc->nspare_blocks; i++)
		free(bc->spare_blocks[i]);
	htable_free(&bc->table);
	pthread_cond_destroy(&bc->filled);
	pthread_mutex_destroy(&bc->spare_lock);
	pthread_mutex_destroy(&bc->lock);
	free(bc);
}

ssize_t bcache_read(struct bcache *bc, const char *object, uint64_t generation,
		    uint64_t object_size, uint64_t offset, size_t len, void *out,
		    bcache_fetch_fn fetch, void *arg)
{
	struct bcache_req rq = {
		.object = object,
		.generation = generation,
	};
	int rc;

	if (!bc || !object || !fetch)
		return -EINVAL;
	if (offset >= object_size || len == 0)
		return 0;
	if (len > object_size - offset)
		len = object_size - offset;
	/* Far beyond any real read; returning less is allowed and keeps the arithmetic exact. */
	if (len > BCACHE_MAX_READ)
		len = BCACHE_MAX_READ;

	rq.object_len = strlen(object);
	rq.object_hash = hash_fnv1a64(HASH_FNV1A64_BASIS, object, rq.object_len);
	rq.first = offset / bc->block_size;
	rq.nslots = (offset + len - 1) / bc->block_size - rq.first + 1;
	TAILQ_INIT(&rq.doomed);
	rq.slots = calloc(rq.nslots, sizeof(*rq.slots));
	if (!rq.slots)
		return -ENOMEM;

	pthread_mutex_lock(&bc->lock);
	rc = bcache_pin(bc, &rq, object_size);
	pthread_mutex_unlock(&bc->lock);
	/* Evicted blocks are freed outside the lock: freeing a large buffer may unmap memory. */
	bcache_free_blocks(bc, &rq.doomed);

	if (!rc)
		bcache_fill(bc, &rq, fetch, arg);

	pthread_mutex_lock(&bc->lock);
	rc = bcache_settle(bc, &rq, rc);
	pthread_mutex_unlock(&bc->lock);

	if (!rc && out)
		rc = bcache_copy_out(bc, &rq, offset, len, out);

	pthread_mutex_lock(&bc->lock);
	bcache_unpin(bc, &rq);
	pthread_mutex_unlock(&bc->lock);
	bcache_free_blocks(bc, &rq.doomed);
	free(rq.slots);
	return rc ? rc : (ssize_t)len;
}

ssize_t bcache_read_cached(struct bcache *bc, const char *object, uint64_t generation,
			   uint64_t object_size, uint64_t offset, size_t len, void *out)
{
	struct bcache_req rq = {
		.object = object,
		.generation = generation,
	};
	int rc = 0;

	if (!bc || !object || !out)
		return -EINVAL;
	if (offset >= object_size || len == 0)
		return 0;
	if (len > object_size - offset)
		len = object_size - offset;
	if (len > BCACHE_MAX_READ)
		len = BCACHE_MAX_READ;
	rq.object_len = strlen(object);
	rq.object_hash = hash_fnv1a64(HASH_FNV1A64_BASIS, object, rq.object_len);
	rq.first = offset / bc->block_size;
	rq.nslots = (offset + len - 1) / bc->block_size - rq.first + 1;
	TAILQ_INIT(&rq.doomed);
	rq.slots = calloc(rq.nslots, sizeof(*rq.slots));
	if (!rq.slots)
		return -ENOMEM;

	pthread_mutex_lock(&bc->lock);
	for (size_t i = 0; i < rq.nslots && !rc; i++) {
		uint64_t index = rq.first + i;
		uint64_t hash = bcache_hash(rq.object_hash, generation, index);
		struct bcache_block *b = bcache_lookup(bc, hash, object, generation, index);

		if (!b || b->state != BCACHE_READY) {
			rc = -EAGAIN;
			break;
		}
		if (b->refs++ == 0) {
			TAILQ_REMOVE(&bc->lru, b, lru);
			bc->lru_bytes -= b->len;
		}
		rq.slots[i].b = b;
	}
	if (!rc)
		bc->stats.hits += rq.nslots;
	pthread_mutex_unlock(&bc->lock);

	if (!rc)
		rc = bcache_copy_out(bc, &rq, offset, len, out);

	pthread_mutex_lock(&bc->lock);
	bcache_unpin(bc, &rq);
	pthread_mutex_unlock(&bc->lock);
	bcache_free_blocks(bc, &rq.doomed);
	free(rq.slots);
	return rc ? rc : (ssize_t)len;
}

void bcache_invalidate(struct bcache *bc, const char *object)
{
	struct bcache_list doomed;
	struct htable_iter it;
	struct htable_link *l;

	if (!bc || !object)
		return;
	TAILQ_INIT(&doomed);
	htable_iter_init(&it);
	pthread_mutex_lock(&bc->lock);
	while ((l = htable_iter_next(&bc->table, &it))) {
		struct bcache_block *b = bcache_block_of(l);

		if (strcmp(b->object, object) == 0 && bcache_detach(bc, b))
			TAILQ_INSERT_TAIL(&doomed, b, lru);
	}
	pthread_mutex_unlock(&bc->lock);
	bcache_free_blocks(bc, &doomed);
}

void bcache_get_stats(struct bcache *bc, struct bcache_stats *out)
{
	pthread_mutex_lock(&bc->lock);
	*out = bc->stats;
	out->bytes_cached = bc->bytes;
	out->bytes_allocated = atomic_load(&bc->allocated);
	pthread_mutex_unlock(&bc->lock);
}

size_t bcache_block_size(const struct bcache *bc)
{
	return bc->block_size;
}

size_t bcache_capacity(const struct bcache *bc)
{
	return bc->capacity;
}
