/* FUSE operations on open files: create, open, read, write, flush, fsync and release.
 *
 * Reads of a file nobody writes are pinned to the generation it was opened at, so a reader
 * never sees a mix of two versions; they go through the block cache with read-ahead for
 * sequential readers. Random readers get what rr_note_read() (fs/readahead.h) decides: exact
 * bytes for scattered small reads, whole blocks where reads come back, a hot region fetched
 * ahead, and for a reader all over the file the whole of it, once: into the memory cache, or
 * into a local copy on disk (cache/copy.h) when it is too large for that.
 *
 * A read whose data is here (staged, in the local copy, in the block cache) is answered on the
 * FUSE thread it came on; one that must wait for the bucket is answered from a read worker
 * (fs/workers.h), so that a server that stopped answering holds none of the threads that
 * lookups, listings and cached reads need.
 *
 * A file opened for writing is staged locally (fs/upload.c): every read and write of it goes
 * to the staging file; close queues its upload (or, in wait mode, uploads it) and fsync
 * uploads it at once. A created file exists only here until its first upload. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache/blocks.h"
#include "cache/copy.h"
#include "fs/dircache.h"
#include "fs/upload.h"
#include "fs/ops_i.h"
#include "fs/resolve.h"
#include "fs/stage.h"
#include "fs/workers.h"
#include "gcs/client.h"
#include "util/log.h"

/* Drops a handle: a writable one queues the upload of what was written (fs/upload.h), and
 * the last one ends the staging once nothing is left to upload. */
static void close_handle(struct gmfs *fs, struct handle *h)
{
	struct fnode *n = h->node;
	int writable = h->writable;

	fnode_lock(n);
	handle_close(h);
	fnode_release(fs, n, writable);
	fnode_unlock(n);
	ftable_put(fs->files, n);
}

/* Files opened one after another in name order: fetch the next few into the block cache
 * now, so that each open finds its data there instead of waiting a round trip. */
static void prefetch_next_files(struct gmfs *fs, const char *path)
{
	struct dircache_next next[PREFETCH_FILES_MAX];
	size_t n;

	if (!fs->ra || !fs->blocks || fs->prefetch_files == 0)
		return;
	n = dircache_note_open(fs->dirs, path, fs->prefetch_files, RA_JOB_SIZE, next);
	for (size_t i = 0; i < n; i++) {
		readahead_submit(fs->ra, next[i].path, next[i].generation, next[i].size, 0,
				 (size_t)next[i].size);
		free(next[i].path);
	}
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gmfs *fs = fs_of(req);
	struct iattr attr = {0};
	struct fnode *n = NULL;
	struct handle *h = NULL;
	char *path = NULL;
	int writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	int staged, rc;

	if ((writable || (fi->flags & O_TRUNC)) && fs->read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = itable_get(fs->inodes, ino, &path, NULL, &attr, NULL);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	n = ftable_get(fs->files, ino, path);
	if (!n)
		goto fail;

	fnode_lock(n);
	rc = 0;
	if (writable || (fi->flags & O_TRUNC))
		rc = fnode_stage(fs, n, !!(fi->flags & O_TRUNC));
	if (!rc && n->fd < 0) {
		/* A background upload may have ended while this waited for the mutex: the table
		 * then holds the generation it made, and the one read above is gone. */
		struct iattr now = {0};

		if (itable_get(fs->inodes, ino, NULL, NULL, &now, NULL) == 0) {
			iattr_clear(&attr);
			attr = now;
		}
	}
	if (!rc) {
		h = handle_open(n, attr.generation, attr.size, writable);
		if (h)
			h->append = !!(fi->flags & O_APPEND);
		rc = h ? 0 : -ENOMEM;
	}
	/* Pages the kernel holds are valid while the generation is the one it cached, and
	 * always for staged data, which every write goes through. */
	staged = n->fd >= 0;
	fi->keep_cache = staged || itable_note_open_generation(fs->inodes, ino, attr.generation);
	fnode_unlock(n);
	if (rc)
		goto fail;

	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		close_handle(fs, h);
	else if (!writable && !staged)
		prefetch_next_files(fs, path);
	iattr_clear(&attr);
	free(path);
	return;
fail:
	ftable_put(fs->files, n);
	iattr_clear(&attr);
	free(path);
	fuse_reply_err(req, -rc);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close_handle(fs_of(req), (struct handle *)(uintptr_t)fi->fh);
	/* Errors of a final upload cannot reach the process any more (close has returned);
	 * they are logged and the data is kept. */
	fuse_reply_err(req, 0);
}

/* Random reads of files larger than this, of less than BYPASS_MAX_READ bytes, skip the cache.
 * The kernel cuts large reads into 128 KiB requests; those go through whole blocks. */
#define BYPASS_MIN_SIZE (16u << 20)
#define BYPASS_MAX_READ (128u << 10)

/* One reply buffer per thread that answers reads (FUSE's and the read workers): a fresh
 * allocation per read costs page faults on every request. The key is process-wide state by
 * nature; it is created once. */
static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;

struct rbuf {
	char *p;
	size_t cap;
};

static void rbuf_destroy(void *arg)
{
	struct rbuf *b = arg;

	free(b->p);
	free(b);
}

static void rbuf_key_init(void)
{
	pthread_key_create(&rbuf_key, rbuf_destroy);
}

static char *rbuf_get(size_t size)
{
	struct rbuf *b;

	pthread_once(&rbuf_once, rbuf_key_init);
	b = pthread_getspecific(rbuf_key);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || pthread_setspecific(rbuf_key, b)) {
			free(b);
			return NULL;
		}
	}
	if (b->cap < size) {
		char *p = realloc(b->p, size);

		if (!p)
			return NULL;
		b->p = p;
		b->cap = size;
	}
	return b->p;
}

ssize_t fs_fetch_from_server(void *arg, const char *object, uint64_t generation, uint64_t off,
			     const struct iovec *iov, int iovcnt)
{
	struct gmfs *fs = arg;

	return gcs_readv(fs->gcs, object, generation, off, iov, iovcnt);
}

/* A random reader that sweeps an object gets the whole of it fetched once, in the background:
 * into the memory cache when the object fills at most a quarter of it, else into a local copy
 * on disk (cache/copy.h), up to COPY_MAX, in COPY_STREAMS requests at a time of one chunk each.
 * A copy leaves COPY_FREE_MARGIN free on its filesystem; it lives as long as the open-file
 * node, and its file has no name, so a crash leaves nothing behind. */
#define COPY_MAX (8ull << 30)
#define COPY_STREAMS 16
#define COPY_CHUNK_MIN (4u << 20)
#define COPY_CHUNK_MAX (64u << 20)
#define COPY_FREE_MARGIN (1ull << 30)

struct copy_job {
	struct gmfs *fs;
	struct lcopy *copy; /* a reference */
	char *object;
	struct timespec started;
};

static void copy_job_free(void *arg)
{
	struct copy_job *j = arg;

	lcopy_put(j->copy);
	free(j->object);
	free(j);
}

/* One chunk per run; then the job queues itself again, so that read-ahead workers stay free to
 * stop between chunks, and other jobs take turns with it. */
static void copy_job_run(void *arg)
{
	struct copy_job *j = arg;
	uint64_t off;
	size_t len;
	int rc;

	if (!lcopy_claim(j->copy, &off, &len)) {
		copy_job_free(j);
		return;
	}
	rc = lcopy_fill(j->copy, off, len, j->object, fs_fetch_from_server, j->fs);
	if (rc < 0)
		log_info("%s: local copy: fetching %zu bytes at %llu failed (%s); those reads go "
			 "to the bucket",
			 j->object, len, (unsigned long long)off, strerror(-rc));
	if (rc == 1) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		log_info("%s: local copy complete in %.1f s", j->object,
			 (double)(now.tv_sec - j->started.tv_sec) +
				 (double)(now.tv_nsec - j->started.tv_nsec) / 1e9);
	}
	readahead_submit_work(j->fs->ra, copy_job_run, copy_job_free, j);
}

/* An empty file with no name for a local copy: in the staging folder, or (read-only mounts
 * have none) in /var/tmp. */
static int open_scratch(struct gmfs *fs)
{
	char *path = NULL;
	int fd;

	if (fs->stage) {
		fd = stage_create(fs->stage, &path);
		if (fd >= 0) {
			unlink(path);
			free(path);
		}
		return fd;
	}
	fd = open("/var/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return fd >= 0 ? fd : -errno;
}

static void fetch_whole(struct gmfs *fs, struct fnode *n, const char *path, uint64_t gen,
			uint64_t size)
{
	struct statvfs sv;
	struct lcopy *c;
	size_t chunk;
	int fd;

	if (!fs->ra)
		return;
	if (size <= bcache_capacity(fs->blocks) / 4) {
		readahead_submit(fs->ra, path, gen, size, 0, (size_t)size);
		return;
	}
	if (size > COPY_MAX)
		return;
	fd = open_scratch(fs);
	if (fd < 0)
		return;
	if (fstatvfs(fd, &sv) != 0 || (uint64_t)sv.f_bavail * sv.f_frsize < size + COPY_FREE_MARGIN) {
		log_info("%s: no room for a local copy of its %llu MiB; random reads go to the "
			 "bucket",
			 path, (unsigned long long)(size >> 20));
		close(fd);
		return;
	}
	chunk = (size_t)((size / COPY_STREAMS + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1));
	chunk = chunk < COPY_CHUNK_MIN ? COPY_CHUNK_MIN : chunk > COPY_CHUNK_MAX ? COPY_CHUNK_MAX : chunk;
	c = lcopy_new(fd, gen, size, chunk);
	if (!c)
		return;
	fnode_lock(n);
	if (n->copy || n->fd >= 0) {
		fnode_unlock(n);
		lcopy_put(c);
		return;
	}
	n->copy = lcopy_get(c);
	fnode_unlock(n);
	log_info("%s: read at random all over: fetching its %llu MiB into a local copy", path,
		 (unsigned long long)(size >> 20));
	for (int i = 0; i < COPY_STREAMS; i++) {
		struct copy_job *j = calloc(1, sizeof(*j));

		if (!j || !(j->object = strdup(path))) {
			free(j);
			break;
		}
		j->fs = fs;
		j->copy = lcopy_get(c);
		clock_gettime(CLOCK_MONOTONIC, &j->started);
		readahead_submit_work(fs->ra, copy_job_run, copy_job_free, j);
	}
	lcopy_put(c);
}

/* With the node mutex held: a read of the staged data. */
static ssize_t read_staged(struct fnode *n, char *buf, size_t size, off_t off)
{
	ssize_t got;

	if (off < 0 || (uint64_t)off >= n->size)
		return 0;
	if (size > n->size - (uint64_t)off)
		size = (size_t)(n->size - (uint64_t)off);
	got = pread(n->fd, buf, size, off);
	return got < 0 ? -errno : got;
}

/* A read that waits for the bucket, or for a block another thread is fetching: what a read
 * worker needs to answer it. Its handle stays valid until the reply: the kernel holds the open
 * file while a read it sent is unanswered (the reading call, its read-ahead or a page fault
 * keeps a reference), and sends release only after the last reference is gone. */
struct read_job {
	fuse_req_t req;
	struct gmfs *fs;
	struct handle *h;
	char *path; /* the object's name when the read came */
	uint64_t gen;
	uint64_t off;
	size_t size;
	int exact; /* fetch the bytes asked for, not whole blocks into the cache */
	/* The local copy that could not answer (a reference, or NULL), and when. */
	struct lcopy *copy;
	struct timespec missed;
};

static void read_job_free(struct read_job *j)
{
	lcopy_put(j->copy);
	free(j->path);
	free(j);
}

/* Fetches what the job asks for and answers its request. */
static void read_job_run(void *arg)
{
	struct read_job *j = arg;
	struct gmfs *fs = j->fs;
	struct handle *h = j->h;
	struct fnode *n = h->node;
	ssize_t got;
	char *buf;

	/* A reader interrupted by a signal while this waited its turn no longer waits for it. */
	if (fuse_req_interrupted(j->req)) {
		fuse_reply_err(j->req, EINTR);
		read_job_free(j);
		return;
	}
	buf = rbuf_get(j->size);
	if (!buf) {
		fuse_reply_err(j->req, ENOMEM);
		read_job_free(j);
		return;
	}
	for (int attempt = 0;; attempt++) {
		if (fs->blocks && !j->exact)
			got = bcache_read(fs->blocks, j->path, j->gen, h->size, j->off, j->size,
					  buf, fs->fetch, fs->fetch_arg);
		else if (!fs->blocks ||
			 (got = bcache_read_cached(fs->blocks, j->path, j->gen, h->size, j->off,
						   j->size, buf)) < 0)
			got = gcs_read(fs->gcs, j->path, j->gen, j->off, j->size, buf);
		if (got != -ENOENT || attempt > 0)
			break;
		/* Renamed on this mount while the read was under way: read it where it went;
		 * removed or renamed over here: its data was kept (fnode_keep()), read it there. */
		int moved = 0;
		fnode_lock(n);
		if (n->unlinked && n->fd >= 0) {
			got = read_staged(n, buf, j->size, (off_t)j->off);
		} else if (h->generation != j->gen || strcmp(n->path, j->path) != 0) {
			char *now = strdup(n->path);

			moved = now != NULL;
			if (now) {
				free(j->path);
				j->path = now;
				j->gen = h->generation;
			}
		}
		fnode_unlock(n);
		if (!moved)
			break;
	}
	if (got == -ENOENT) {
		log_warn("read %s: generation %llu is gone (replaced or deleted while open)",
			 j->path, (unsigned long long)j->gen);
		got = -ESTALE;
	}
	if (j->copy && got >= 0) {
		/* What a read the copy could not answer cost: how long it is worth waiting. */
		struct timespec now;
		int64_t us;

		clock_gettime(CLOCK_MONOTONIC, &now);
		us = (int64_t)(now.tv_sec - j->missed.tv_sec) * 1000000 +
		     (now.tv_nsec - j->missed.tv_nsec) / 1000;
		if (us > 0)
			lcopy_note_miss(j->copy, (uint64_t)us);
	}
	if (got < 0)
		fuse_reply_err(j->req, (int)-got);
	else
		fuse_reply_buf(j->req, buf, (size_t)got);
	read_job_free(j);
}

/* A read the pool stopped before its turn: the mount is going away. */
static void read_job_drop(void *arg)
{
	struct read_job *j = arg;

	fuse_reply_err(j->req, EIO);
	read_job_free(j);
}

/* What is here is answered at once; the rest goes to a read worker (fs->readers), or, with
 * none to take it, is fetched on this thread. */
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct gmfs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct fnode *n = h->node;
	struct lcopy *copy = NULL;
	struct read_job *j;
	ssize_t got;
	char *buf;

	(void)ino;
	buf = rbuf_get(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	uint64_t ra_off = 0, ra_len = 0, region_off = 0;
	int random = 0, rr = 0;

	fnode_lock(n);
	if (n->fd >= 0) {
		/* Staged: the local file is the truth, including unuploaded writes. */
		got = read_staged(n, buf, size, off);
		fnode_unlock(n);
		goto reply;
	}
	if (fs->blocks)
		random = ra_note_read(&h->ra, h->size, (uint64_t)(off > 0 ? off : 0), size,
				      fs->ra ? fs->ra_window : 0, &ra_off, &ra_len);
	if (random && off >= 0)
		rr = rr_note_read(&n->rr, h->size, (uint64_t)off, size,
				  bcache_block_size(fs->blocks), &region_off);
	if (n->copy && lcopy_generation(n->copy) == h->generation)
		copy = lcopy_get(n->copy);
	/* A rename on this mount changes both under the node mutex. */
	char *path = strdup(n->path);
	uint64_t gen = h->generation;
	fnode_unlock(n);
	if (!path) {
		lcopy_put(copy);
		fuse_reply_err(req, ENOMEM);
		return;
	}

	if (off < 0 || (uint64_t)off >= h->size || size == 0) {
		lcopy_put(copy);
		free(path);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->size - (uint64_t)off)
		size = (size_t)(h->size - (uint64_t)off);
	/* What the local copy holds, it answers; the rest comes as if there were none. */
	struct timespec missed = {0};
	if (copy) {
		got = lcopy_read(copy, (uint64_t)off, size, buf);
		if (got >= 0) {
			lcopy_put(copy);
			free(path);
			goto reply;
		}
		clock_gettime(CLOCK_MONOTONIC, &missed);
	}
	if (ra_len)
		readahead_submit(fs->ra, path, gen, h->size, ra_off, (size_t)ra_len);
	if ((rr & RR_REGION) && fs->ra)
		readahead_submit(fs->ra, path, gen, h->size, region_off,
				 (size_t)(h->size - region_off < RR_HOT_REGION ? h->size - region_off
									: RR_HOT_REGION));
	if (rr & RR_WHOLE)
		fetch_whole(fs, n, path, gen, h->size);
	if (fs->blocks) {
		got = bcache_read_cached(fs->blocks, path, gen, h->size, (uint64_t)off, size, buf);
		if (got >= 0) {
			lcopy_put(copy);
			free(path);
			goto reply;
		}
	}

	j = calloc(1, sizeof(*j));
	if (!j) {
		lcopy_put(copy);
		free(path);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	j->req = req;
	j->fs = fs;
	j->h = h;
	j->path = path;
	j->gen = gen;
	j->off = (uint64_t)off;
	j->size = size;
	/* A small random read of a large file gets exactly the bytes it asks for, unless it is
	 * near another lately: whole blocks for every scattered read would multiply what crosses
	 * the network, while reads that come back to a place share one. */
	j->exact =
		random && !(rr & RR_BLOCK) && h->size > BYPASS_MIN_SIZE && size < BYPASS_MAX_READ;
	j->copy = copy;
	j->missed = missed;
	if (!fs->readers || workers_submit(fs->readers, read_job_run, read_job_drop, j) != 0)
		read_job_run(j);
	return;
reply:
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, buf, (size_t)got);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct gmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct iattr attr = {0};
	struct fnode *n = NULL;
	struct handle *h = NULL;
	char *path = NULL;
	int rc;

	REFUSE_IF_READ_ONLY(fs, req);
	memset(&e, 0, sizeof(e));
	rc = fs_new_name(fs, parent, name, 0, &path);
	if (!rc)
		rc = iattr_from_object(&attr, NULL, 0, &fs->defaults);
	if (rc)
		goto fail;
	attr.mode = S_IFREG | (mode & 07777);
	fs_new_owner(req, parent, 0, &attr.uid, &attr.gid, &attr.mode);
	fs_now(&attr.mtime);
	attr.ctime = attr.mtime;

	e.ino = itable_ref(fs->inodes, path, 0, &attr, fs->stat_ttl);
	rc = -ENOMEM;
	if (!e.ino || !(n = ftable_get(fs->files, e.ino, path)))
		goto fail;

	fnode_lock(n);
	rc = 0;
	if (n->fd < 0) {
		fnode_drop_copy(n);
		n->fd = stage_create_for(fs->stage, path, &n->stage_path);
		rc = n->fd < 0 ? n->fd : 0;
		if (rc)
			n->fd = -1;
	} else if (ftruncate(n->fd, 0) != 0) {
		rc = -errno;
	}
	if (!rc) {
		/* Nothing of this name is in the bucket, as far as the kernel knows: the upload
		 * insists on that (ifGenerationMatch=0). */
		n->generation = 0;
		n->metageneration = 0;
		n->size = 0;
		n->dirty = 1;
		n->unlinked = 0;
		n->mtime = attr.mtime;
		n->mode = mode & 07777;
		n->mode_set = n->mode != fs->defaults.file_mode;
		n->uid = attr.uid;
		n->uid_set = n->uid != fs->defaults.uid;
		n->gid = attr.gid;
		n->gid_set = n->gid != fs->defaults.gid;
		fnode_stream_stop(fs, n);
		n->streamable = 1;
		n->stream_crc = 0;
		h = handle_open(n, 0, 0, 1);
		rc = h ? 0 : -ENOMEM;
	}
	fnode_unlock(n);
	if (rc)
		goto fail;

	fs_touch_parent(fs, path);
	e.attr_timeout = fs->stat_ttl;
	e.entry_timeout = fs->stat_ttl;
	fs_fill_stat(&e.attr, e.ino, &attr);
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		close_handle(fs, h);
		itable_forget(fs->inodes, e.ino, 1);
	}
	iattr_clear(&attr);
	free(path);
	return;
fail:
	ftable_put(fs->files, n);
	if (e.ino)
		itable_forget(fs->inodes, e.ino, 1);
	iattr_clear(&attr);
	free(path);
	fuse_reply_err(req, -rc);
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct fnode *n = h->node;
	ssize_t got;

	(void)ino;
	fnode_lock(n);
	/* The kernel places an O_APPEND write at the size it has cached, which a listing
	 * answered late may have left behind the staged data: the end is the staged one. */
	if (h->append)
		off = (off_t)n->size;
	if (n->fd < 0) {
		got = -EBADF;
	} else {
		got = pwrite(n->fd, buf, size, off);
		if (got < 0) {
			got = -errno;
			if (got == -ENOSPC || got == -EDQUOT)
				log_error("%s: the staging area is full; writes fail with %s "
					  "until space is freed",
					  n->path, strerror((int)-got));
		} else {
			uint64_t old_size = n->size;

			if ((uint64_t)off + (uint64_t)got > n->size)
				n->size = (uint64_t)off + (uint64_t)got;
			n->dirty = 1;
			fs_now(&n->mtime);
			if (n->streamable && (uint64_t)off == old_size)
				fnode_stream_append(fs_of(req), n, buf, (size_t)got);
			else if (n->streamable)
				fnode_stream_stop(fs_of(req),
						  n); /* a seek: upload it whole later */
		}
	}
	fnode_unlock(n);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_write(req, (size_t)got);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct fnode *n = h->node;
	int rc;

	(void)ino;
	/* Closing a read-only descriptor does not publish another descriptor's writes. */
	if (!h->writable) {
		fuse_reply_err(req, 0);
		return;
	}
	fnode_lock(n);
	rc = fnode_close_upload(fs_of(req), n);
	fnode_unlock(n);
	fuse_reply_err(req, -rc);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct fnode *n = h->node;
	int rc;

	(void)ino;
	(void)datasync;
	fnode_lock(n);
	rc = fnode_fsync(fs_of(req), n);
	fnode_unlock(n);
	fuse_reply_err(req, -rc);
}
