/* On-disk block cache: the index, the LRU order, the byte limit and the free-space floor, and
 * the fetch logic. Block files themselves (their names, format, verification and the write
 * through a temporary file) are in blockfile.c.
 *
 * Layout: DIR/lock, and DIR/xx/NAME for each block (see blockfile.c). A file that is found sound
 * but holds another key (a hash collision) is deleted as a miss, and the name then holds the
 * block of whichever key was fetched last; a damaged file is deleted and counted. Temporary files
 * left by a crash are deleted at the next open (see Sharing).
 *
 * Index: a hash table (cache/htable.h) of the names (not the keys: the key is checked in the
 * file header) with file sizes, and an LRU list. At open it is rebuilt from the directory: names,
 * sizes and mtimes, LRU ordered by mtime. A hit sets the file's mtime when the one recorded is over
 * a minute old, so that the order survives remounts without a metadata write on every read.
 *
 * Bounds: bytes counts whole file sizes (header, name, data) of indexed blocks plus stores in
 * flight, and never passes max_bytes. The free-space floor is checked with fstatvfs() only when
 * the bytes written since the last check (rounded to the filesystem's fragment size) could reach
 * it, or after DCACHE_STATFS_INTERVAL bytes: far from the floor that is one call per 8 MiB
 * written, near it one per store. When space is short, LRU blocks are evicted until the store
 * fits above the floor; if none are left, the store is skipped. Stores still being written when
 * a check is made are subtracted from what it reports, so our own writes never take the free
 * space below the floor as last measured. Space that other programs take is seen at the next
 * check, at most 8 MiB of our writes later, and then made up for by evicting. Directory blocks
 * are not counted.
 *
 * Fetching: a read may arrive as a vector of buffers (the memory cache passes one per block).
 * When each block lies within one buffer, blocks are loaded from disk and fetched from inner
 * straight into their buffers, a missing run as one vector of them, and stored from there, so
 * the data is never staged. A vector whose blocks would straddle buffers goes through a temporary
 * contiguous buffer instead.
 *
 * Locking: dc->lock guards the table, the LRU list, the counters and every entry. It is the only
 * lock, and it is never held across file I/O: open, read, write, checksum, rename, unlink and
 * fstatvfs() all run without it. What that allows, and why each case is harmless:
 * - An entry may name a file that is gone (evicted by this cache after another thread renamed a
 *   fresh copy in, or by another process). Opening it fails with ENOENT: a miss, and the entry
 *   is dropped. The reverse (a file nobody indexed) can only come from another process and is
 *   indexed at the next open.
 * - Two threads may store the same block at once; each writes its own temporary file, and the
 *   second rename wins with identical content. The index counts the file once.
 * - A reader that finds a damaged file drops the entry only if it was not stored again since the
 *   reader looked it up (entries carry a stamp), so a fresh copy is not forgotten.
 *
 * Sharing a directory between processes: each keeps its own index and byte limit, so together
 * they may use up to the sum of their limits. Evictions by one are misses in the other. Each
 * holds a shared flock on DIR/lock; temporary files are deleted at open only under an exclusive
 * lock, that is when no other cache has the directory open, so a live writer's temporary file is
 * never removed. Where flock is not supported, temporary files are left alone.
 */
#include "cache/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cache/blockfile_i.h"
#include "cache/htable.h"
#include "util/hash.h"

/* At most this many bytes are written between two checks of the free space. */
#define DCACHE_STATFS_INTERVAL (8LL << 20)
/* A hit rewrites the file's mtime only if the recorded one is older than this. */
#define DCACHE_TOUCH_SECS 60
/* A fetch into this many buffers or fewer gets its vector on the stack. */
#define DCACHE_STACK_IOVS 16

struct dcache_entry {
	struct htable_link link;       /* in dc->table while indexed; its hash is h1 */
	TAILQ_ENTRY(dcache_entry) lru; /* dc->lru while indexed, then a list of files to delete */
	uint64_t h2;		       /* the file name is h1 (link.hash) and h2 */
	uint64_t size;		       /* file size */
	uint64_t stamp;		       /* new each time the block is stored */
	int64_t touched;	       /* mtime we last set or saw, seconds */
};

TAILQ_HEAD(dcache_list, dcache_entry);

struct dcache {
	pthread_mutex_t lock;
	int root_fd;
	int lock_fd;
	size_t block_size;
	uint64_t max_bytes;
	uint64_t min_free;
	uint64_t fs_unit; /* allocation unit of the filesystem, for the floor's arithmetic */
	struct htable table;
	struct dcache_list lru; /* most recently used first */
	uint64_t bytes;		/* indexed file sizes plus stores in flight */
	int64_t fs_budget;	/* bytes that may be written before the next fstatvfs() */
	uint64_t fs_inflight;	/* rounded sizes of the stores being written */
	uint64_t next_stamp;
	uint64_t tmp_seq;
	struct dcache_stats stats; /* bytes_on_disk unused: see bytes */
};

static int64_t dcache_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static uint64_t dcache_alloc_size(struct dcache *dc, uint64_t size)
{
	return (size + dc->fs_unit - 1) / dc->fs_unit * dc->fs_unit;
}

static struct dcache_entry *dcache_entry_of(struct htable_link *l)
{
	return (struct dcache_entry *)((char *)l - offsetof(struct dcache_entry, link));
}

static struct dcache_entry *dcache_lookup(struct dcache *dc, uint64_t h1, uint64_t h2)
{
	for (struct htable_link *l = htable_first(&dc->table, h1); l; l = htable_next(l)) {
		struct dcache_entry *e = dcache_entry_of(l);

		if (e->h2 == h2)
			return e;
	}
	return NULL;
}

/* Adds e, which is not indexed and whose file is named h1 and e->h2, at the most recently used
 * end. */
static void dcache_insert(struct dcache *dc, struct dcache_entry *e, uint64_t h1)
{
	htable_insert(&dc->table, &e->link, h1);
	TAILQ_INSERT_HEAD(&dc->lru, e, lru);
	dc->bytes += e->size;
	e->stamp = ++dc->next_stamp;
}

static void dcache_remove(struct dcache *dc, struct dcache_entry *e)
{
	htable_remove(&dc->table, &e->link);
	TAILQ_REMOVE(&dc->lru, e, lru);
	dc->bytes -= e->size;
}

/* Moves the least recently used entry to doomed, whose files are deleted once the lock is
 * dropped. Returns the file's size, or 0 if nothing is indexed. */
static uint64_t dcache_evict_one(struct dcache *dc, struct dcache_list *doomed)
{
	struct dcache_entry *e = TAILQ_LAST(&dc->lru, dcache_list);

	if (!e)
		return 0;
	dcache_remove(dc, e);
	TAILQ_INSERT_TAIL(doomed, e, lru);
	dc->stats.evictions++;
	return e->size;
}

/* Deletes the files of the doomed entries and frees them. Runs without dc->lock. A file that is
 * already gone (another process evicted it) is not an error. */
static void dcache_delete_doomed(struct dcache *dc, struct dcache_list *doomed)
{
	struct dcache_entry *e;
	char path[BLOCKFILE_PATH_MAX];

	while ((e = TAILQ_FIRST(doomed))) {
		TAILQ_REMOVE(doomed, e, lru);
		blockfile_path(path, e->link.hash, e->h2);
		unlinkat(dc->root_fd, path, 0);
		free(e);
	}
}

/* Evicts until size more bytes fit under max_bytes. Returns false if they cannot, because the
 * block alone is too large or stores in flight hold the rest. */
static bool dcache_make_room(struct dcache *dc, uint64_t size, struct dcache_list *doomed)
{
	if (size > dc->max_bytes)
		return false;
	while (dc->bytes > dc->max_bytes - size)
		if (!dcache_evict_one(dc, doomed))
			return false;
	return true;
}

/* Given avail bytes free (beyond root's reserve) as fstatvfs() just said, evicts until a file
 * taking alloc bytes fits above the floor, and sets the budget of writes before the next check.
 * Returns false if even evicting everything did not make room; what was evicted stays evicted,
 * because the floor asks for that space whether or not this block is stored. */
static bool dcache_make_floor_room(struct dcache *dc, uint64_t avail, uint64_t alloc,
				   struct dcache_list *doomed)
{
	const int64_t cap = INT64_MAX / 4;
	int64_t headroom;
	uint64_t size;

	if (avail >= dc->min_free)
		headroom = avail - dc->min_free > (uint64_t)cap ? cap
								: (int64_t)(avail - dc->min_free);
	else
		headroom = dc->min_free - avail > (uint64_t)cap ? -cap
								: -(int64_t)(dc->min_free - avail);
	/* Stores being written may not show in avail yet. */
	headroom -= dc->fs_inflight > (uint64_t)cap ? cap : (int64_t)dc->fs_inflight;
	while (headroom < (int64_t)alloc && (size = dcache_evict_one(dc, doomed)))
		headroom += (int64_t)dcache_alloc_size(dc, size);
	dc->fs_budget = headroom < DCACHE_STATFS_INTERVAL ? headroom : DCACHE_STATFS_INTERVAL;
	return headroom >= (int64_t)alloc;
}

/* Drops the entry if it still holds the file the caller looked up (same stamp), and deletes the
 * file if unlink_file. A newer copy stored in between is left alone. */
static void dcache_drop(struct dcache *dc, const struct blockfile_key *k, uint64_t stamp,
			bool unlink_file, bool corrupt)
{
	struct dcache_entry *e;
	bool drop;

	pthread_mutex_lock(&dc->lock);
	e = dcache_lookup(dc, k->h1, k->h2);
	drop = e && e->stamp == stamp;
	if (drop)
		dcache_remove(dc, e);
	if (corrupt)
		dc->stats.corrupt++;
	pthread_mutex_unlock(&dc->lock);
	if (drop) {
		if (unlink_file)
			unlinkat(dc->root_fd, k->path, 0);
		free(e);
	}
}

/* Looks the block up and reads it into dst. Returns the bytes read (at most want; fewer means the
 * object ends in this block), or 0 for a miss. Damaged, foreign and vanished files are dropped
 * from the index. */
static size_t dcache_load(struct dcache *dc, const struct blockfile_key *k, size_t want,
			  unsigned char *dst)
{
	enum blockfile_verdict v;
	struct dcache_entry *e;
	uint64_t stamp = 0;
	int64_t touched = 0, now;
	size_t got = 0;
	int fd;

	pthread_mutex_lock(&dc->lock);
	e = dcache_lookup(dc, k->h1, k->h2);
	if (e) {
		stamp = e->stamp;
		touched = e->touched;
	}
	pthread_mutex_unlock(&dc->lock);
	if (!e)
		return 0;

	fd = openat(dc->root_fd, k->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		/* Evicted by another process, or by us after a concurrent store: a plain miss.
		 * Other errors (EMFILE, ...) may pass, so the entry stays. */
		if (errno == ENOENT)
			dcache_drop(dc, k, stamp, false, false);
		return 0;
	}
	v = blockfile_read(fd, k, want, dst, &got);
	now = dcache_now();
	if (v == BLOCKFILE_SOUND && now - touched >= DCACHE_TOUCH_SECS)
		futimens(fd, NULL);
	close(fd);

	switch (v) {
	case BLOCKFILE_SOUND:
		pthread_mutex_lock(&dc->lock);
		e = dcache_lookup(dc, k->h1, k->h2);
		if (e) {
			TAILQ_REMOVE(&dc->lru, e, lru);
			TAILQ_INSERT_HEAD(&dc->lru, e, lru);
			if (now - e->touched >= DCACHE_TOUCH_SECS)
				e->touched = now;
		}
		dc->stats.hits++;
		pthread_mutex_unlock(&dc->lock);
		return got;
	case BLOCKFILE_DAMAGED:
		dcache_drop(dc, k, stamp, true, true);
		return 0;
	case BLOCKFILE_FOREIGN:
		dcache_drop(dc, k, stamp, true, false);
		return 0;
	case BLOCKFILE_FAILED:
		break;
	}
	return 0;
}

/* Stores one fetched block, unless it is already indexed or no room can be made. Failures are
 * counted, never returned: the read that fetched the block succeeds regardless. */
static void dcache_store(struct dcache *dc, const struct blockfile_key *k,
			 const unsigned char *data, size_t len)
{
	uint64_t size = blockfile_size(k, len);
	uint64_t alloc = dcache_alloc_size(dc, size);
	struct dcache_entry *e, *fresh;
	struct dcache_list doomed;
	struct statvfs sv;
	bool have_sv;
	uint64_t seq;
	int rc;

	TAILQ_INIT(&doomed);
	fresh = malloc(sizeof(*fresh));
	if (!fresh)
		return;

	pthread_mutex_lock(&dc->lock);
	if (dcache_lookup(dc, k->h1, k->h2))
		goto unlock;
	if (dc->min_free && dc->fs_budget < (int64_t)alloc) {
		pthread_mutex_unlock(&dc->lock);
		have_sv = fstatvfs(dc->root_fd, &sv) == 0;
		pthread_mutex_lock(&dc->lock);
		/* Should fstatvfs() ever fail, the floor is not enforced for this store. */
		if (have_sv && !dcache_make_floor_room(dc, (uint64_t)sv.f_bavail * sv.f_frsize,
						       alloc, &doomed)) {
			dc->stats.store_skips++;
			goto unlock;
		}
	}
	if (!dcache_make_room(dc, size, &doomed)) {
		dc->stats.store_skips++;
		goto unlock;
	}
	dc->bytes += size;
	dc->fs_budget -= (int64_t)alloc;
	dc->fs_inflight += alloc;
	seq = dc->tmp_seq++;
	pthread_mutex_unlock(&dc->lock);
	dcache_delete_doomed(dc, &doomed);

	rc = blockfile_write(dc->root_fd, k, seq, data, len);

	pthread_mutex_lock(&dc->lock);
	dc->bytes -= size;
	dc->fs_inflight -= alloc;
	if (rc) {
		dc->stats.store_errors++;
		/* The disk is fuller than the budget assumed: look again before the next store. */
		if (rc == -ENOSPC || rc == -EDQUOT)
			dc->fs_budget = 0;
		goto unlock;
	}
	dc->stats.stores++;
	e = dcache_lookup(dc, k->h1, k->h2);
	if (e) {
		/* Another thread stored the same block meanwhile; our rename replaced its file. */
		dc->bytes += size - e->size;
		e->size = size;
		e->stamp = ++dc->next_stamp;
		e->touched = dcache_now();
		TAILQ_REMOVE(&dc->lru, e, lru);
		TAILQ_INSERT_HEAD(&dc->lru, e, lru);
		goto unlock;
	}
	fresh->h2 = k->h2;
	fresh->size = size;
	fresh->touched = dcache_now();
	dcache_insert(dc, fresh, k->h1);
	fresh = NULL;
unlock:
	pthread_mutex_unlock(&dc->lock);
	dcache_delete_doomed(dc, &doomed);
	free(fresh);
}

/* A place in a vector of buffers whose boundaries all fall on block boundaries (every buffer but
 * the last holds whole blocks), so that each block of a read lies within one buffer. */
struct dcache_vpos {
	const struct iovec *iov;
	int left;   /* buffers from iov on, iov included */
	size_t off; /* within *iov */
};

/* Steps past spent buffers, but never past the last one. */
static void dcache_vpos_settle(struct dcache_vpos *p)
{
	while (p->left > 1 && p->off >= p->iov->iov_len) {
		p->iov++;
		p->left--;
		p->off = 0;
	}
}

static unsigned char *dcache_vpos_ptr(const struct dcache_vpos *p)
{
	return (unsigned char *)p->iov->iov_base + p->off;
}

/* Moves on by one block of bs bytes. */
static void dcache_vpos_next(struct dcache_vpos *p, size_t bs)
{
	p->off += bs;
	dcache_vpos_settle(p);
}

/* Writes to out (unless it is NULL) the pieces of the buffers that hold span bytes from p on.
 * Returns how many pieces there are. */
static int dcache_vslice(struct dcache_vpos p, size_t span, struct iovec *out)
{
	int n = 0;

	while (span && p.left > 0) {
		size_t take = p.iov->iov_len - p.off < span ? p.iov->iov_len - p.off : span;

		if (take) {
			if (out)
				out[n] = (struct iovec){
					.iov_base = dcache_vpos_ptr(&p),
					.iov_len = take,
				};
			n++;
		}
		span -= take;
		p.iov++;
		p.left--;
		p.off = 0;
	}
	return n;
}

/* Fetches blocks [a, b) of the read with one call to inner, straight into their places, and
 * stores what came back. at is where block a goes; len is the length of the whole read, which
 * starts at block `first`. Returns bytes fetched or -errno. */
static ssize_t dcache_fill_run(struct dcache *dc, const struct blockfile_obj *o, uint64_t first,
			       size_t a, size_t b, size_t len, struct dcache_vpos at,
			       bcache_fetch_fn inner, void *inner_arg)
{
	size_t bs = dc->block_size;
	size_t span = (b * bs < len ? b * bs : len) - a * bs;
	struct iovec stack_iov[DCACHE_STACK_IOVS];
	struct iovec *iov = stack_iov;
	int cnt = dcache_vslice(at, span, NULL);
	struct blockfile_key k;
	ssize_t n;

	if (cnt > DCACHE_STACK_IOVS) {
		iov = malloc((size_t)cnt * sizeof(*iov));
		if (!iov)
			return -ENOMEM;
	}
	dcache_vslice(at, span, iov);
	pthread_mutex_lock(&dc->lock);
	dc->stats.misses += b - a;
	pthread_mutex_unlock(&dc->lock);
	n = inner(inner_arg, o->object, o->generation, (first + a) * bs, iov, cnt);
	if (iov != stack_iov)
		free(iov);
	if (n < 0)
		return n;
	if ((size_t)n > span)
		return -EIO;
	/* Every block with data is stored, the last one short if the object ends in it. */
	for (size_t i = 0; i * bs < (size_t)n; i++) {
		size_t blen = (size_t)n - i * bs < bs ? (size_t)n - i * bs : bs;

		blockfile_key_init(o, first + a + i, &k);
		dcache_store(dc, &k, dcache_vpos_ptr(&at), blen);
		dcache_vpos_next(&at, bs);
	}
	return n;
}

/* dcache_fetch() into a vector of len bytes in all whose buffer boundaries fall on block
 * boundaries. */
static ssize_t dcache_fetchv(struct dcache *dc, const char *object, uint64_t generation,
			     uint64_t offset, const struct iovec *iov, int iovcnt, size_t len,
			     bcache_fetch_fn inner, void *inner_arg)
{
	const size_t none = SIZE_MAX;
	struct dcache_vpos at = {.iov = iov, .left = iovcnt};
	struct dcache_vpos run_at = at;
	struct blockfile_obj o;
	struct blockfile_key k;
	size_t bs, nblocks, run = none;
	uint64_t first;
	size_t object_len;
	ssize_t n;

	if (!dc || !object || !inner)
		return -EINVAL;
	bs = dc->block_size;
	if (offset % bs || len > SSIZE_MAX || len > UINT64_MAX - offset)
		return -EINVAL;
	if (len == 0)
		return 0;
	object_len = strlen(object);
	if (object_len > BLOCKFILE_MAX_NAME)
		return inner(inner_arg, object, generation, offset, iov, iovcnt);

	blockfile_obj_init(&o, object, object_len, generation, dc->block_size);
	first = offset / bs;
	nblocks = (len - 1) / bs + 1;
	dcache_vpos_settle(&at);
	for (size_t i = 0; i < nblocks; i++, dcache_vpos_next(&at, bs)) {
		size_t want = i == nblocks - 1 ? len - i * bs : bs;
		size_t got;

		blockfile_key_init(&o, first + i, &k);
		got = dcache_load(dc, &k, want, dcache_vpos_ptr(&at));
		if (!got) {
			if (run == none) {
				run = i;
				run_at = at;
			}
			continue;
		}
		if (run != none) {
			n = dcache_fill_run(dc, &o, first, run, i, len, run_at, inner, inner_arg);
			if (n < 0)
				return n;
			if ((size_t)n < (i - run) * bs)
				return (ssize_t)(run * bs + (size_t)n);
			run = none;
		}
		if (got < want)
			return (ssize_t)(i * bs + got);
	}
	if (run != none) {
		n = dcache_fill_run(dc, &o, first, run, nblocks, len, run_at, inner, inner_arg);
		if (n < 0)
			return n;
		return (ssize_t)(run * bs + (size_t)n);
	}
	return (ssize_t)len;
}

ssize_t dcache_fetch(struct dcache *dc, const char *object, uint64_t generation, uint64_t offset,
		     size_t len, void *buf, bcache_fetch_fn inner, void *inner_arg)
{
	struct iovec v = {.iov_base = buf, .iov_len = len};

	if (len && !buf)
		return -EINVAL;
	return dcache_fetchv(dc, object, generation, offset, &v, 1, len, inner, inner_arg);
}

ssize_t dcache_layer_fetch(void *arg, const char *object, uint64_t generation, uint64_t offset,
			   const struct iovec *iov, int iovcnt)
{
	struct dcache_layer *l = arg;
	bool aligned = true;
	unsigned char *tmp;
	size_t len = 0;
	ssize_t n;

	if (!l->dc || iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - len || (iov[i].iov_len && !iov[i].iov_base))
			return -EINVAL;
		len += iov[i].iov_len;
		if (i < iovcnt - 1 && iov[i].iov_len % l->dc->block_size)
			aligned = false;
	}
	if (aligned)
		return dcache_fetchv(l->dc, object, generation, offset, iov, iovcnt, len, l->inner,
				     l->inner_arg);

	/* A block would straddle two buffers: this path still copies, through one contiguous
	 * buffer. The memory cache never takes it when its block size is a multiple of ours. */
	tmp = malloc(len);
	if (!tmp)
		return -ENOMEM;
	n = dcache_fetch(l->dc, object, generation, offset, len, tmp, l->inner, l->inner_arg);
	for (size_t done = 0, i = 0; n > 0 && done < (size_t)n; i++) {
		size_t take = iov[i].iov_len < (size_t)n - done ? iov[i].iov_len : (size_t)n - done;

		memcpy(iov[i].iov_base, tmp + done, take);
		done += take;
	}
	free(tmp);
	return n;
}

void dcache_get_stats(struct dcache *dc, struct dcache_stats *out)
{
	pthread_mutex_lock(&dc->lock);
	*out = dc->stats;
	out->bytes_on_disk = dc->bytes;
	pthread_mutex_unlock(&dc->lock);
}

/* A file found at open, before it is ordered by mtime. */
struct dcache_found {
	uint64_t h1, h2;
	uint64_t size;
	struct timespec mtime;
};

struct dcache_scan {
	struct dcache_found *v;
	size_t n, cap;
	bool exclusive; /* no other cache has the directory open: temporary files are orphans */
};

static int dcache_found_cmp(const void *a, const void *b)
{
	const struct dcache_found *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return 0;
}

/* Lists one subdirectory: block files are collected, temporary files deleted if no other cache
 * may be writing them, anything else deleted. */
static int dcache_scan_sub(struct dcache *dc, unsigned int sub, struct dcache_scan *s)
{
	char name[4];
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc = 0;

	snprintf(name, sizeof(name), "%02x", (unsigned char)sub);
	if (mkdirat(dc->root_fd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dc->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(d))) {
		struct dcache_found *f;
		struct stat st;
		uint64_t h1, h2;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strncmp(de->d_name, BLOCKFILE_TMP_PREFIX, strlen(BLOCKFILE_TMP_PREFIX)) == 0) {
			if (s->exclusive)
				unlinkat(fd, de->d_name, 0);
			continue;
		}
		if (!blockfile_parse_name(de->d_name, sub, &h1, &h2)) {
			unlinkat(fd, de->d_name, 0);
			continue;
		}
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode) || st.st_size <= BLOCKFILE_HDR) {
			/* Cut short: counted as damage, as it would be when read. */
			if (S_ISREG(st.st_mode))
				dc->stats.corrupt++;
			unlinkat(fd, de->d_name, 0);
			continue;
		}
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 256;
			struct dcache_found *v = reallocarray(s->v, cap, sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				goto out;
			}
			s->v = v;
			s->cap = cap;
		}
		f = &s->v[s->n++];
		f->h1 = h1;
		f->h2 = h2;
		f->size = (uint64_t)st.st_size;
		f->mtime = st.st_mtim;
	}
	if (errno)
		rc = -errno;
out:
	closedir(d);
	return rc;
}

/* Indexes every block file, oldest mtime least recently used, then evicts down to max_bytes. */
static int dcache_rebuild(struct dcache *dc, bool exclusive)
{
	struct dcache_scan s = {.exclusive = exclusive};
	struct dcache_list doomed;
	int rc = 0;

	TAILQ_INIT(&doomed);
	for (unsigned int sub = 0; sub < BLOCKFILE_FANOUT && !rc; sub++)
		rc = dcache_scan_sub(dc, sub, &s);
	if (rc)
		goto out;
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), dcache_found_cmp);
	for (size_t i = 0; i < s.n; i++) {
		struct dcache_entry *e = malloc(sizeof(*e));

		if (!e) {
			rc = -ENOMEM;
			goto out;
		}
		e->h2 = s.v[i].h2;
		e->size = s.v[i].size;
		e->touched = s.v[i].mtime.tv_sec;
		dcache_insert(dc, e, s.v[i].h1);
	}
	while (dc->bytes > dc->max_bytes)
		dcache_evict_one(dc, &doomed);
	dcache_delete_doomed(dc, &doomed);
out:
	free(s.v);
	return rc;
}

/* Takes the directory's lock file: exclusive if nobody else has the directory open (returns
 * true), then shared for as long as the cache is open. */
static int dcache_lock_dir(struct dcache *dc, bool *exclusive)
{
	*exclusive = false;
	dc->lock_fd = openat(dc->root_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (dc->lock_fd < 0)
		return -errno;
	if (flock(dc->lock_fd, LOCK_EX | LOCK_NB) == 0) {
		*exclusive = true;
		return 0;
	}
	/* Another cache holds it, or flock is not supported here: either way, hands off the
	 * temporary files. A shared lock also waits out another opener's exclusive scan. */
	if (errno == EWOULDBLOCK) {
		while (flock(dc->lock_fd, LOCK_SH) < 0 && errno == EINTR)
			;
	}
	return 0;
}

struct dcache *dcache_new(const char *dir, size_t block_size, uint64_t max_bytes,
			  uint64_t min_free_bytes, char *why, size_t whylen)
{
	struct dcache *dc = NULL;
	const char *what = "";
	struct statvfs sv;
	bool mutex_ok = false, exclusive;
	int rc = -ENOMEM;

	if (!why)
		whylen = 0;
	if (!dir || block_size == 0 || block_size > BLOCKFILE_MAX_BLOCK) {
		rc = -EINVAL;
		what = "invalid block size";
		goto fail;
	}
	dc = calloc(1, sizeof(*dc));
	if (!dc) {
		what = "allocating the index";
		goto fail;
	}
	dc->root_fd = -1;
	dc->lock_fd = -1;
	dc->block_size = block_size;
	dc->max_bytes = max_bytes;
	dc->min_free = min_free_bytes;
	TAILQ_INIT(&dc->lru);
	if (htable_init(&dc->table)) {
		what = "allocating the index";
		goto fail;
	}
	rc = -pthread_mutex_init(&dc->lock, NULL);
	if (rc) {
		what = "creating a mutex";
		goto fail;
	}
	mutex_ok = true;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		what = "cannot create the directory";
		goto fail;
	}
	dc->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dc->root_fd < 0) {
		rc = -errno;
		what = "cannot open the directory";
		goto fail;
	}
	/* Reports EROFS even to root, who passes every permission check. */
	if (faccessat(dc->root_fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		rc = -errno;
		what = "directory is not writable";
		goto fail;
	}
	rc = dcache_lock_dir(dc, &exclusive);
	if (rc) {
		what = "cannot create the lock file";
		goto fail;
	}
	dc->fs_unit = fstatvfs(dc->root_fd, &sv) == 0 && sv.f_frsize ? sv.f_frsize : 4096;
	rc = dcache_rebuild(dc, exclusive);
	if (rc) {
		what = "cannot scan the directory";
		goto fail;
	}
	/* Were the downgrade interrupted, no lock might be held: other caches could then delete
	 * our temporary files, so it is retried. */
	while (exclusive && flock(dc->lock_fd, LOCK_SH) < 0 && errno == EINTR)
		;
	/* Different in each cache, so temporary names rarely meet even within one process. */
	dc->tmp_seq = hash_mix64((uint64_t)(uintptr_t)dc ^ (uint64_t)time(NULL) << 20);
	return dc;

fail:
	if (whylen)
		snprintf(why, whylen, "disk cache %s: %s%s%s", dir ? dir : "(null)", what,
			 *what ? ": " : "", strerror(-rc));
	if (dc && !mutex_ok) {
		htable_free(&dc->table);
		free(dc);
	} else {
		dcache_free(dc);
	}
	errno = -rc;
	return NULL;
}

void dcache_free(struct dcache *dc)
{
	struct dcache_entry *e;

	if (!dc)
		return;
	while ((e = TAILQ_FIRST(&dc->lru))) {
		dcache_remove(dc, e);
		free(e);
	}
	htable_free(&dc->table);
	if (dc->lock_fd >= 0)
		close(dc->lock_fd);
	if (dc->root_fd >= 0)
		close(dc->root_fd);
	pthread_mutex_destroy(&dc->lock);
	free(dc);
}
