/* The staged write path: staging an open file's data and uploading it.
 *
 * Opening a file for writing copies the object into a local staging file (unless it is
 * being truncated), writes go to that file, and fnode_upload() sends it back with
 * ifGenerationMatch set to the generation it was copied from (0 for a new file). If someone
 * else replaced the object meanwhile, GCS answers 412: the data is copied to the recovery
 * folder, the log names it, and the caller gets ESTALE. A 412 can also mean that an earlier
 * attempt of this very upload succeeded but its answer was lost; the object's CRC32C and size
 * tell that case apart, and it counts as success. A file written from its start in order
 * streams: full chunks go up in a resumable session while it is written.
 *
 * Background uploads: a program writing many files one after another should not wait a round
 * trip per file. So close only makes the staged file durable on local disk and queues the
 * node in the open-file table's upload queue (fs/open_files.h); workers upload it under the
 * node mutex, exactly as a close would, and end its staging once no handle is open. The node
 * stays in the table meanwhile, so a reopen continues from the staged data, stat and listings
 * show it, a rename uploads it first (under the same mutex) and an unlink marks it so that
 * nothing is uploaded. The queue also holds a reference on the inode, so that the kernel
 * forgetting the name does not make a file whose upload is pending vanish from lookups.
 *
 * Keeping: a file open here only for reading has its data in GCS alone, pinned to one
 * generation. Before this mount deletes that generation (unlink, or a rename over the name),
 * fnode_keep() copies it into a staging file with no name, which the handles then read, as
 * a local filesystem keeps an unlinked inode for those who have it open. */
#include "fs/upload.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/dircache.h"
#include "fs/fs.h"
#include "fs/posix_meta.h"
#include "fs/stage.h"
#include "gcs/client.h"
#include "gcs/write.h"
#include "util/crc32c.h"
#include "util/log.h"

#define IO_CHUNK (8u << 20)
/* Room a kept copy (fnode_keep()) leaves free in the staging folder, for data being written,
 * and the largest file kept: rm waits for the copy, and should not wait minutes. */
#define KEEP_FREE_MARGIN (256ull << 20)
#define KEEP_MAX (1ull << 30)

static int replace_str(char **slot, const char *v)
{
	char *copy = v ? strdup(v) : NULL;

	if (v && !copy)
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

/* Copies generation gen of the object into fd. */
static int download(struct gmfs *fs, const char *path, uint64_t gen, uint64_t size, int fd)
{
	char *buf = malloc(IO_CHUNK);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < size && !rc;) {
		size_t want = size - off < IO_CHUNK ? (size_t)(size - off) : IO_CHUNK;
		ssize_t got = gcs_read(fs->gcs, path, gen, off, want, buf);

		if (got < 0)
			rc = (int)got;
		else if (got == 0)
			rc = -EIO; /* shorter than its size said */
		else if (pwrite(fd, buf, (size_t)got, (off_t)off) != got)
			rc = errno ? -errno : -EIO;
		else
			off += (uint64_t)got;
	}
	free(buf);
	return rc;
}

int fnode_stage(struct gmfs *fs, struct fnode *n, int truncate)
{
	struct gcs_object obj = {0};
	int rc;

	if (n->fd >= 0) {
		if (truncate && n->size > 0) {
			if (ftruncate(n->fd, 0) != 0)
				return -errno;
			fnode_stream_stop(fs, n);
			n->size = 0;
			n->streamable = 1;
			n->stream_crc = 0;
		}
		if (truncate) {
			n->dirty = 1;
			clock_gettime(CLOCK_REALTIME, &n->mtime);
		}
		return 0;
	}
	fnode_drop_copy(n); /* the staged data is the truth from now on */
	n->fd = stage_create_for(fs->stage, n->path, &n->stage_path);
	if (n->fd < 0) {
		rc = n->fd;
		n->fd = -1;
		log_error("staging %s: %s", n->path, strerror(-rc));
		return rc;
	}
	/* The object may change between the stat and the download; try a few times. */
	for (int attempt = 0;; attempt++) {
		gcs_object_clear(&obj);
		rc = gcs_stat(fs->gcs, n->path, &obj);
		if (rc == -ENOENT) {
			/* Gone from the bucket: writing it creates it again. */
			n->generation = 0;
			n->metageneration = 0;
			n->size = 0;
			n->dirty = 1;
			n->streamable = 1;
			n->stream_crc = 0;
			clock_gettime(CLOCK_REALTIME, &n->mtime);
			return 0;
		}
		if (rc)
			break;
		rc = truncate ? 0 : download(fs, n->path, obj.generation, obj.size, n->fd);
		if (rc != -ENOENT || attempt == 2)
			break;
		if (ftruncate(n->fd, 0) != 0) {
			rc = -errno;
			break;
		}
	}
	if (!rc)
		rc = replace_str(&n->content_type, obj.content_type);
	if (!rc)
		rc = replace_str(&n->keep_metadata_json, obj.metadata_json);
	if (!rc)
		rc = replace_str(&n->keep_json, obj.keep_json);
	if (!rc) {
		n->generation = obj.generation;
		n->metageneration = obj.metageneration;
		n->size = truncate ? 0 : obj.size;
		/* Truncating changes the data, even of an empty file: a new mtime to store. */
		n->dirty = truncate;
		n->mtime = obj.mtime;
		if (truncate)
			clock_gettime(CLOCK_REALTIME, &n->mtime);
		n->streamable = truncate;
		n->stream_crc = 0;
	} else {
		fnode_unstage(n);
	}
	gcs_object_clear(&obj);
	return rc;
}

/* Why a file its descriptors still read is not kept: they get ESTALE once it is gone. */
static void not_kept(const struct fnode *n, const char *why)
{
	log_warn("%s: not kept for the %u descriptor(s) open on it (%s); once it is gone, their "
		 "reads fail with ESTALE",
		 n->path, n->opens, why);
}

int fnode_keep(struct gmfs *fs, struct fnode *n)
{
	struct iattr a = {0};
	struct statvfs sv;
	uint64_t gen = 0, size = 0, avail;
	char *name = NULL, why[160];
	int fd, rc;

	if (n->fd >= 0 || !n->handles || !fs->stage)
		return 0; /* staged: its handles read on from the staging file already */
	for (struct handle *h = n->handles; h; h = h->next) {
		if (gen && h->generation != gen) {
			not_kept(n, "open here at two generations");
			return 0;
		}
		gen = h->generation;
		size = h->size;
	}
	if (!gen)
		return 0;
	if (size > KEEP_MAX) {
		snprintf(why, sizeof(why), "larger than the %llu MiB kept for readers",
			 (unsigned long long)(KEEP_MAX >> 20));
		not_kept(n, why);
		return 0;
	}
	fd = stage_create(fs->stage, &name);
	if (fd < 0) {
		not_kept(n, strerror(-fd));
		return 0;
	}
	/* Without a name: nothing for a later mount to recover, which is only for data never
	 * uploaded. The descriptor is all that the readers need. */
	unlink(name);
	free(name);
	avail = fstatvfs(fd, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : UINT64_MAX;
	if (avail < size + KEEP_FREE_MARGIN) {
		snprintf(why, sizeof(why),
			 "no room in the staging folder for its %llu MiB: %llu MiB free, %llu to "
			 "stay free",
			 (unsigned long long)(size >> 20), (unsigned long long)(avail >> 20),
			 (unsigned long long)(KEEP_FREE_MARGIN >> 20));
		not_kept(n, why);
		close(fd);
		return 0;
	}
	rc = download(fs, n->path, gen, size, fd);
	if (rc) {
		if (rc == -ENOENT)
			log_info("%s: generation %llu, open here, was gone already", n->path,
				 (unsigned long long)gen);
		else
			not_kept(n, strerror(-rc));
		close(fd);
		return 0;
	}
	fnode_drop_copy(n);
	n->fd = fd;
	n->size = size;
	n->dirty = 0;
	n->streamable = 0;
	if (itable_get(fs->inodes, n->ino, NULL, NULL, &a, NULL) == 0)
		n->mtime = a.mtime; /* what fstat(2) of the staged node shows */
	iattr_clear(&a);
	return 1;
}

static int checksum(int fd, uint64_t size, uint32_t *crc)
{
	char *buf = malloc(1u << 20);
	uint32_t c = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < size;) {
		ssize_t got = pread(fd, buf, 1u << 20, (off_t)off);
		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO;
			break;
		}
		c = crc32c_update(c, buf, (size_t)got);
		off += (uint64_t)got;
	}
	free(buf);
	*crc = c;
	return rc;
}

void fnode_stream_stop(struct gmfs *fs, struct fnode *n)
{
	if (n->session) {
		gcs_session_cancel(fs->gcs, n->session, n->path);
		free(n->session);
		n->session = NULL;
	}
	n->streamable = 0;
	n->sent = 0;
}

/* The POSIX metadata a node's upload stores: its mtime (or, with no_mtime, a deletion of any
 * inherited one) and the mode, uid and gid set on it. */
static void node_metadata(const struct fnode *n, int no_mtime, struct posix_meta *m)
{
	posix_meta_init(m);
	posix_meta_mtime(m, no_mtime ? NULL : &n->mtime);
	if (n->mode_set)
		posix_meta_mode(m, n->mode);
	if (n->uid_set)
		posix_meta_uid(m, n->uid);
	if (n->gid_set)
		posix_meta_gid(m, n->gid);
}

void fnode_stream_append(struct gmfs *fs, struct fnode *n, const void *buf, size_t len)
{
	struct posix_meta md;
	int rc = 0;

	n->stream_crc = crc32c_update(n->stream_crc, buf, len);
	/* Keep at least one byte back: the last request must carry data and the total. */
	if (!fs->chunk_size || n->size - n->sent <= fs->chunk_size)
		return;
	if (!n->session) {
		/* A streamed object's metadata is fixed when its session starts: no mtime then
		 * (the object's own update time, at the last close, stands for it). */
		node_metadata(n, 1, &md);
		struct gcs_put put = {
			.name = n->path,
			.content_type = n->content_type,
			.keep_metadata_json = n->keep_metadata_json,
			.keep_json = n->keep_json,
			.metadata = md.kv,
			.n_metadata = md.n,
			.if_generation = n->generation,
		};
		rc = gcs_session_start(fs->gcs, &put, 0, &n->session);
	}
	while (!rc && n->size - n->sent > fs->chunk_size) {
		struct gcs_object obj = {0};
		int done = 0;

		rc = gcs_session_put(fs->gcs, n->session, n->path, n->fd, n->sent, fs->chunk_size,
				     GCS_SIZE_UNKNOWN, 0, &n->sent, &obj, &done);
		gcs_object_clear(&obj);
		if (!rc && done)
			rc = -EIO; /* the server finished an object of unknown size */
	}
	if (rc) {
		log_info("%s: streaming upload stopped (%s); the file goes up whole when closed",
			 n->path, strerror(-rc));
		fnode_stream_stop(fs, n);
	}
}

/* Sends what the session does not have yet, as the last request. */
static int stream_finish(struct gmfs *fs, struct fnode *n, struct gcs_object *obj)
{
	int done = 0, rc = 0;

	while (!rc && !done) {
		uint64_t before = n->sent;

		gcs_object_clear(obj);
		rc = gcs_session_put(fs->gcs, n->session, n->path, n->fd, n->sent,
				     n->size - n->sent, n->size, n->stream_crc, &n->sent, obj,
				     &done);
		if (!rc && !done && n->sent <= before)
			rc = -EIO;
	}
	return rc;
}

static void keep_for_user(struct gmfs *fs, struct fnode *n, const char *why)
{
	char *saved = NULL;
	int rc = stage_recover(fs->stage, n->fd, n->path, &saved);

	if (rc == 0) {
		log_error("%s: %s; the data written here is saved in %s", n->path, why, saved);
		n->dirty = 0;
	} else {
		log_error("%s: %s; copying the data to the recovery folder failed (%s), it stays "
			  "in %s",
			  n->path, why, strerror(-rc), n->stage_path);
		/* Keep the staging file: forget its name so it is not removed. */
		free(n->stage_path);
		n->stage_path = NULL;
	}
	free(saved);
}

int fnode_upload(struct gmfs *fs, struct fnode *n, int final)
{
	struct gcs_object obj = {0};
	uint32_t crc;
	int rc;

	if (!n->dirty || n->unlinked)
		return 0;
	if (n->fd < 0)
		return -EIO;
	if (n->session && n->streamable) {
		rc = stream_finish(fs, n, &obj);
		if (rc == 0 || rc == -ESTALE) {
			crc = n->stream_crc;
			goto uploaded;
		}
		log_info("%s: finishing the streaming upload failed (%s); uploading it whole",
			 n->path, strerror(-rc));
		gcs_object_clear(&obj);
	}
	fnode_stream_stop(fs, n);
	rc = checksum(n->fd, n->size, &crc);
	if (rc)
		goto failed;

	struct posix_meta md;
	node_metadata(n, 0, &md);
	struct gcs_put put = {
		.name = n->path,
		.fd = n->fd,
		.size = n->size,
		.crc32c = crc,
		.content_type = n->content_type,
		.keep_metadata_json = n->keep_metadata_json,
		.keep_json = n->keep_json,
		.metadata = md.kv,
		.n_metadata = md.n,
		.if_generation = n->generation,
		.chunk_size = fs->chunk_size,
	};
	rc = gcs_upload(fs->gcs, &put, &obj);
uploaded:
	free(n->session);
	n->session = NULL;
	n->streamable = 0;
	n->sent = 0;
	if (rc == -ESTALE) {
		/* Ours already, if an earlier attempt succeeded but its answer was lost? */
		struct gcs_object now = {0};

		if (gcs_stat(fs->gcs, n->path, &now) == 0 && now.has_crc32c && now.crc32c == crc &&
		    now.size == n->size && now.generation != n->generation) {
			gcs_object_clear(&obj);
			obj = now;
			rc = 0;
		} else {
			gcs_object_clear(&now);
		}
	}
	if (rc == 0) {
		struct iattr a;

		n->generation = obj.generation;
		n->metageneration = obj.metageneration;
		n->dirty = 0;
		n->failed = 0;
		if (iattr_from_object(&a, &obj, 0, &fs->defaults) == 0) {
			itable_set_attr(fs->inodes, n->ino, &a, fs->stat_ttl);
			dircache_set(fs->dirs, n->path, 0, &a);
			iattr_clear(&a);
		} else {
			fs_changed(fs, n->path);
		}
		/* What the kernel caches for this inode is exactly what was uploaded. */
		itable_note_open_generation(fs->inodes, n->ino, obj.generation);
		gcs_object_clear(&obj);
		return 0;
	}
failed:
	if (rc == -ESTALE) {
		fs_changed(fs, n->path); /* someone else's object: listings here missed it */
		keep_for_user(fs, n,
			      "not uploaded: the object was changed by someone else after it was "
			      "opened here");
	} else if (final) {
		char why[160];

		snprintf(why, sizeof(why), "upload failed (%s)", strerror(-rc));
		keep_for_user(fs, n, why);
	} else {
		n->failed = 1;
		log_error("%s: upload failed (%s); the data stays staged in %s and is uploaded "
			  "again at the next flush or close",
			  n->path, strerror(-rc), n->stage_path);
	}
	return rc;
}

/* Ends the staging of a node nobody has open any more. */
static void end_staging(struct gmfs *fs, struct fnode *n)
{
	if (n->session)
		fnode_stream_stop(fs, n);
	if (n->stage_path || n->fd >= 0)
		fnode_unstage(n);
	n->mode_set = n->uid_set = n->gid_set = 0;
}

/* After a queued upload: a failed one puts back the size and mtime the table showed. */
static void unpublish(struct gmfs *fs, struct fnode *n, int failed)
{
	struct iattr a = {0};

	if (!n->published)
		return;
	n->published = 0;
	if (failed && itable_get(fs->inodes, n->ino, NULL, NULL, &a, NULL) == 0) {
		a.size = n->prev_size;
		a.mtime = n->prev_mtime;
		itable_set_attr(fs->inodes, n->ino, &a, fs->stat_ttl);
	}
	iattr_clear(&a);
}

/* The worker's half of a background upload: what the last close would have done. A failure
 * other than a conflict (which fnode_upload() keeps at once) is tried once more before the data
 * goes to the recovery folder, as a close's flush and release would; with the file open again,
 * it stays staged for the next close instead. */
static void background_upload(void *arg, struct fnode *n)
{
	struct gmfs *fs = arg;
	uint64_t pin;
	int rc = 0;

	fnode_lock(n);
	if (n->dirty && !n->unlinked) {
		rc = fnode_upload(fs, n, 0);
		if (rc && rc != -ESTALE && n->dirty && n->opens == 0)
			rc = fnode_upload(fs, n, 1);
		if (rc)
			n->upload_err = rc;
	}
	unpublish(fs, n, rc != 0);
	if (n->opens == 0 && !(n->dirty && !n->unlinked))
		end_staging(fs, n);
	pin = n->pin_ino;
	n->pin_ino = 0;
	fnode_unlock(n);
	if (pin)
		itable_forget(fs->inodes, pin, 1);
}

/* Starts the workers, once; in wait mode, switches the queue off for good. */
static int queue_start(struct gmfs *fs, enum upload_mode mode)
{
	int rc = ftable_queue_start(fs->files, mode == UPLOAD_BACKGROUND ? UPLOAD_WORKERS : 0,
				    UPLOAD_QUEUE_MAX, background_upload, fs);

	if (rc)
		log_warn("background upload workers could not start (%s); files are uploaded "
			 "when closed",
			 strerror(-rc));
	return rc;
}

void upload_set_mode(struct gmfs *fs, enum upload_mode mode)
{
	/* Background workers start with the first upload, in the daemon (after the fork). */
	if (mode == UPLOAD_WAIT)
		queue_start(fs, UPLOAD_WAIT);
}

void upload_stop(struct gmfs *fs)
{
	ftable_queue_stop(fs->files);
}

/* Makes the staged data survive a crash of the daemon or the machine: the file's data, and
 * once per staging file the folder entry that names it. */
static int make_durable(struct fnode *n)
{
	if (fdatasync(n->fd) != 0)
		return -errno;
	if (!n->synced && n->stage_path) {
		char *copy = strdup(n->stage_path);
		int dfd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		int rc = dfd < 0 ? -errno : (fsync(dfd) == 0 ? 0 : -errno);

		if (dfd >= 0)
			close(dfd);
		free(copy);
		if (rc)
			return rc;
		n->synced = 1;
	}
	return 0;
}

/* Whether closed files go up in the background: the queue runs. The first call starts it,
 * unless wait mode switched it off (queue_start() acts only once). */
static int background(struct gmfs *fs)
{
	queue_start(fs, UPLOAD_BACKGROUND);
	return ftable_queue_running(fs->files);
}

/* Until its background upload is done, a closed file's size and mtime are in the inode table:
 * stat reads the table before it takes the node mutex, which the worker holds across the
 * upload, and once the worker ends the staging it would show the old size. Done at close,
 * since the release that queues the upload may come after the next stat. unpublish() (by
 * the worker) puts back what the table showed if the upload fails. */
static void publish_staged(struct gmfs *fs, struct fnode *n)
{
	struct iattr a = {0};

	if (itable_get(fs->inodes, n->ino, NULL, NULL, &a, NULL) != 0)
		return;
	if (!n->published) {
		n->prev_size = a.size;
		n->prev_mtime = a.mtime;
		n->published = 1;
	}
	a.size = n->size;
	a.mtime = n->mtime;
	clock_gettime(CLOCK_REALTIME, &a.ctime); /* changed now; the upload sets GCS's time */
	itable_set_attr(fs->inodes, n->ino, &a, fs->stat_ttl);
	iattr_clear(&a);
}

/* Queues the node's upload; -ESRCH or -EAGAIN when the caller must upload it itself. The
 * queue holds a reference on the inode (see the top of the file), which the worker drops: it
 * takes this mutex after us. */
static int queue_upload(struct gmfs *fs, struct fnode *n)
{
	struct iattr a = {0};
	int rc = ftable_queue_add(fs->files, n);

	if (rc || n->pin_ino)
		return rc;
	publish_staged(fs, n);
	if (itable_get(fs->inodes, n->ino, NULL, NULL, &a, NULL) == 0) {
		uint64_t ino = itable_ref(fs->inodes, n->path, 0, &a, fs->stat_ttl);

		if (ino == n->ino)
			n->pin_ino = ino;
		else if (ino)
			itable_forget(fs->inodes, ino, 1); /* another inode holds the name now */
	}
	iattr_clear(&a);
	return 0;
}

int fnode_close_upload(struct gmfs *fs, struct fnode *n)
{
	int rc;

	if (!n->dirty || n->unlinked)
		return 0;
	if (n->fd < 0)
		return -EIO;
	if (!background(fs))
		return fnode_upload(fs, n, 0);
	/* The upload is queued when the handle is released, right after this: queued now, a
	 * worker would hold the node mutex that the release needs. */
	publish_staged(fs, n);
	rc = make_durable(n);
	if (rc) {
		log_warn("%s: the staged data could not be made durable (%s); uploading it before "
			 "close returns",
			 n->path, strerror(-rc));
		rc = fnode_upload(fs, n, 0);
	}
	return rc;
}

int fnode_fsync(struct gmfs *fs, struct fnode *n)
{
	int rc = 0;

	if (n->dirty && !n->unlinked)
		rc = fnode_upload(fs, n, 0);
	else if (n->upload_err)
		rc = n->upload_err;
	n->upload_err = 0;
	return rc;
}

int fnode_settle(struct gmfs *fs, struct fnode *n)
{
	int rc = 0;

	if (n->dirty && !n->unlinked) {
		/* Durable already if close flushed it; the queue may refuse (full, stopped). */
		if (background(fs)) {
			publish_staged(fs, n);
			if (make_durable(n) == 0 && queue_upload(fs, n) == 0)
				return 0;
		}
		rc = fnode_upload(fs, n, n->opens == 0);
		unpublish(fs, n, rc != 0);
	}
	if (n->opens == 0 && !(n->dirty && !n->unlinked))
		end_staging(fs, n);
	return rc;
}

void fnode_release(struct gmfs *fs, struct fnode *n, int writable)
{
	/* In wait mode a writable handle's close uploaded its data already: only the last
	 * handle has something left to do. */
	if (n->opens == 0 || (writable && background(fs)))
		fnode_settle(fs, n);
}

static int count_pending(struct fnode *n, void *arg)
{
	struct upload_status *st = arg;

	struct fnode_view v;

	fnode_view(n, &v);
	if (v.dirty && !v.unlinked) {
		st->pending_files++;
		st->staged_bytes += v.size;
		st->failed_files += v.failed != 0;
		/* Closed with data left: only a queued upload (or the unmount's) sends it. */
		st->queued_files += v.opens == 0;
	}
	return 0;
}

void upload_status(struct gmfs *fs, struct upload_status *out)
{
	memset(out, 0, sizeof(*out));
	ftable_each(fs->files, "", count_pending, out);
}
