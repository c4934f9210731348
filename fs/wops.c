/* FUSE operations that change a file's data or attributes (names change in nameops.c).
 *
 * Data: create and open-for-write stage the file (fs/files.c); writes go to the staging
 * file; flush, fsync and the last close upload it. A created file exists only here until
 * its first upload, and listings and lookups show it meanwhile.
 * Attributes: chmod, chown and utimens patch the object's metadata (goog-reserved-posix-*,
 * goog-reserved-file-mtime) without rewriting data, or ride along with a pending upload. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/dir.h"
#include "fs/dircache.h"
#include "fs/ops_i.h"
#include "fs/stage.h"
#include "gcs/client.h"
#include "gcs/write.h"
#include "util/crc32c.h"
#include "util/log.h"

int wop_open_for_write(struct gmfs *fs, struct fnode *n, int truncate)
{
	return fnode_stage(fs, n, truncate);
}

void wop_last_close(struct gmfs *fs, struct fnode *n)
{
	if (n->dirty && !n->unlinked)
		fnode_upload(fs, n, 1);
	if (n->session)
		fnode_stream_stop(fs, n);
	if (n->stage_path || n->fd >= 0)
		fnode_unstage(n);
	n->mode_set = n->uid_set = n->gid_set = 0;
}

void wop_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
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
	fs_now(&attr.mtime);
	attr.ctime = attr.mtime;

	e.ino = itable_ref(fs->inodes, path, 0, &attr, fs->stat_ttl);
	rc = -ENOMEM;
	if (!e.ino || !(n = ftable_get(fs->files, e.ino, path)))
		goto fail;

	pthread_mutex_lock(&n->lock);
	rc = 0;
	if (n->fd < 0) {
		n->fd = stage_create(fs->stage, &n->stage_path);
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
		fnode_stream_stop(fs, n);
		n->streamable = 1;
		n->stream_crc = 0;
		h = handle_open(n, 0, 0, 1);
		rc = h ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&n->lock);
	if (rc)
		goto fail;

	e.attr_timeout = fs->stat_ttl;
	e.entry_timeout = fs->stat_ttl;
	fs_fill_stat(&e.attr, e.ino, &attr);
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		fs_close_handle(fs, h);
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

void wop_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	       struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct fnode *n = h->node;
	ssize_t got;

	(void)ino;
	pthread_mutex_lock(&n->lock);
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
	pthread_mutex_unlock(&n->lock);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_write(req, (size_t)got);
}

static void flush_node(fuse_req_t req, struct fnode *n)
{
	struct gmfs *fs = fs_of(req);
	int rc = 0;

	pthread_mutex_lock(&n->lock);
	if (n->dirty && !n->unlinked)
		rc = fnode_upload(fs, n, 0);
	pthread_mutex_unlock(&n->lock);
	fuse_reply_err(req, -rc);
}

void wop_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	/* Closing a read-only descriptor does not publish another descriptor's writes. */
	if (!h->writable) {
		fuse_reply_err(req, 0);
		return;
	}
	flush_node(req, h->node);
}

void wop_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	(void)datasync;
	flush_node(req, h->node);
}

/* Builds the metadata entries for the attributes being set. */
struct attr_kv {
	struct gcs_kv kv[4];
	size_t n;
	char mode[8], uid[16], gid[16], mtime[24];
};

static void attr_kv_build(struct attr_kv *a, const struct stat *st, int to_set,
			  struct timespec *mtime)
{
	a->n = 0;
	if (to_set & FUSE_SET_ATTR_MODE) {
		snprintf(a->mode, sizeof(a->mode), "%03o", (unsigned)(st->st_mode & 0777));
		a->kv[a->n++] = (struct gcs_kv){"goog-reserved-posix-mode", a->mode};
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		snprintf(a->uid, sizeof(a->uid), "%u", (unsigned)st->st_uid);
		a->kv[a->n++] = (struct gcs_kv){"goog-reserved-posix-uid", a->uid};
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		snprintf(a->gid, sizeof(a->gid), "%u", (unsigned)st->st_gid);
		a->kv[a->n++] = (struct gcs_kv){"goog-reserved-posix-gid", a->gid};
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			fs_now(mtime);
		else
			*mtime = st->st_mtim;
		snprintf(a->mtime, sizeof(a->mtime), "%lld", (long long)mtime->tv_sec);
		a->kv[a->n++] = (struct gcs_kv){"goog-reserved-file-mtime", a->mtime};
	}
}

/* Stores attributes on the object itself (a file, or a directory's placeholder, which is
 * created when the directory has none). Updates the inode table with the result. */
static int patch_attrs(struct gmfs *fs, uint64_t ino, const char *path, int is_dir,
		       const struct iattr *cur, const struct attr_kv *a)
{
	struct gcs_object obj = {0};
	char *name = is_dir ? dir_join(path, "") : strdup(path);
	uint64_t metagen = is_dir ? 0 : cur->metageneration;
	int rc = -ENOMEM;

	if (!name)
		return rc;
	for (int attempt = 0; attempt < 3; attempt++) {
		if (!metagen) {
			/* Unknown or stale: ask. A directory without a placeholder gets one. */
			gcs_object_clear(&obj);
			rc = gcs_stat(fs->gcs, name, &obj);
			if (rc == -ENOENT && is_dir) {
				struct gcs_put put = {.name = name,
						      .fd = -1,
						      .mem = "",
						      .metadata = a->kv,
						      .n_metadata = a->n};
				gcs_object_clear(&obj);
				rc = gcs_upload(fs->gcs, &put, &obj);
				if (rc == -ESTALE)
					continue; /* created meanwhile: patch it */
				break;
			}
			if (rc)
				break;
			metagen = obj.metageneration;
			gcs_object_clear(&obj);
		}
		rc = gcs_patch_metadata(fs->gcs, name, metagen, a->kv, a->n, &obj);
		if (rc != -ESTALE)
			break;
		metagen = 0; /* someone else changed it: read it again and retry */
	}
	if (rc == 0) {
		struct iattr attr;

		if (iattr_from_object(&attr, &obj, is_dir, &fs->defaults) == 0) {
			if (is_dir)
				attr.generation = obj.generation;
			itable_set_attr(fs->inodes, ino, &attr, fs->stat_ttl);
			dircache_set(fs->dirs, path, is_dir, &attr);
			iattr_clear(&attr);
		} else {
			fs_changed(fs, path);
		}
	}
	gcs_object_clear(&obj);
	free(name);
	return rc;
}

static int set_size(struct gmfs *fs, uint64_t ino, const char *path, uint64_t size)
{
	struct fnode *n = ftable_get(fs->files, ino, path);
	int rc;

	if (!n)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	fnode_stream_stop(fs, n);
	rc = fnode_stage(fs, n, size == 0);
	if (!rc && ftruncate(n->fd, (off_t)size) != 0)
		rc = -errno;
	if (!rc) {
		n->size = size;
		n->dirty = 1;
		fs_now(&n->mtime);
		/* truncate(2) on a file nobody has open: publish now. */
		if (n->opens == 0) {
			rc = fnode_upload(fs, n, 0);
			fnode_unstage(n);
		}
	}
	pthread_mutex_unlock(&n->lock);
	ftable_put(fs->files, n);
	return rc;
}

void wop_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
		 struct fuse_file_info *fi)
{
	struct gmfs *fs = fs_of(req);
	struct iattr cur = {0};
	struct attr_kv a;
	struct timespec mtime = {0};
	char *path = NULL;
	int is_dir = 0;
	int rc;

	(void)fi;
	REFUSE_IF_READ_ONLY(fs, req);
	rc = itable_get(fs->inodes, ino, &path, &is_dir, &cur, NULL);
	if (rc)
		goto out;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		rc = is_dir ? -EISDIR : set_size(fs, ino, path, (uint64_t)st->st_size);
		if (rc)
			goto out;
	}
	attr_kv_build(&a, st, to_set, &mtime);
	if (a.n == 0)
		goto out;
	if (ino == INODE_ROOT)
		goto out; /* the mount's root has no object of its own to keep attributes on */

	/* A file with data waiting for upload takes the attributes with it; a staged file
	 * remembers them so that its next upload does not undo them. */
	struct fnode *n = is_dir ? NULL : ftable_find(fs->files, ino);
	int pending = 0;
	if (n) {
		pthread_mutex_lock(&n->lock);
		if (n->fd >= 0) {
			if (to_set & FUSE_SET_ATTR_MODE) {
				n->mode = st->st_mode & 07777;
				n->mode_set = 1;
			}
			if (to_set & FUSE_SET_ATTR_UID) {
				n->uid = st->st_uid;
				n->uid_set = 1;
			}
			if (to_set & FUSE_SET_ATTR_GID) {
				n->gid = st->st_gid;
				n->gid_set = 1;
			}
			if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
				n->mtime = mtime;
			/* A streaming session's metadata is already fixed. */
			if (n->session)
				fnode_stream_stop(fs, n);
			pending = n->dirty;
			if (!pending)
				cur.metageneration = n->metageneration;
		}
		if (!pending)
			rc = patch_attrs(fs, ino, path, 0, &cur, &a);
		if (!rc && !pending && n->fd >= 0) {
			struct iattr now_attr = {0};

			if (itable_get(fs->inodes, ino, NULL, NULL, &now_attr, NULL) == 0)
				n->metageneration = now_attr.metageneration;
			iattr_clear(&now_attr);
		}
		pthread_mutex_unlock(&n->lock);
		ftable_put(fs->files, n);
	} else {
		rc = patch_attrs(fs, ino, path, is_dir, &cur, &a);
	}
out:
	iattr_clear(&cur);
	free(path);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fs_reply_attr(req, ino);
}

static int final_upload(struct fnode *n, void *arg)
{
	struct gmfs *fs = arg;

	pthread_mutex_lock(&n->lock);
	if (n->dirty && !n->unlinked)
		fnode_upload(fs, n, 1);
	pthread_mutex_unlock(&n->lock);
	return 0;
}

void wop_destroy(void *userdata)
{
	struct gmfs *fs = userdata;

	/* Unmounting: whatever is still staged and unpublished goes up now, or is kept. */
	ftable_each(fs->files, "", final_upload, fs);
}
