/* FUSE operations on inodes: lookup, forget, getattr, setattr and readlink.
 *
 * Attributes come from the inode table, trusted for stat_ttl seconds, and are asked of GCS
 * again after that. chmod, chown and utimens patch the object's metadata
 * (goog-reserved-posix-*, goog-reserved-file-mtime) without rewriting data, or ride along with
 * a pending upload of a staged file; truncate stages the file and uploads it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/dir.h"
#include "fs/dircache.h"
#include "fs/upload.h"
#include "fs/ops_i.h"
#include "fs/posix_meta.h"
#include "fs/resolve.h"
#include "gcs/client.h"
#include "gcs/write.h"

/* Whether the directory parent is called otherwise than dirpath now. */
static int parent_moved(struct gmfs *fs, fuse_ino_t parent, const char *dirpath)
{
	char *now = NULL;
	int moved = itable_get(fs->inodes, parent, &now, NULL, NULL, NULL) == 0 &&
		    strcmp(now, dirpath) != 0;

	free(now);
	return moved;
}

/* The lookup of name in parent's directory of now; -ESTALE when a rename or removal made
 * here overtook it (the parent may have a new name since), for the caller to ask again. */
static int lookup_once(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct gmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct iattr attr = {0};
	char *dirpath = NULL, *path = NULL;
	int pdir = 0, is_dir = 0;
	size_t len = strlen(name);
	uint64_t seen = 0;
	int rc;

	rc = itable_get(fs->inodes, parent, &dirpath, &pdir, NULL, NULL);
	if (rc)
		goto out;
	rc = -ENOTDIR;
	if (!pdir)
		goto out;
	rc = -ENOENT;
	if (!dir_name_showable(name, len) || !dir_name_is_utf8(name, len))
		goto out; /* no object can have that name */
	rc = -ENOMEM;
	path = dir_join(dirpath, name);
	if (!path)
		goto out;
	rc = fs_resolve(fs, path, &is_dir, &attr, &seen);
	if (rc == -ENOENT) {
		int quiet = itable_quiet_since(fs->inodes, seen);

		/* Not found under a name the directory lost meanwhile: ask under its new one. */
		if (!quiet && parent_moved(fs, parent, dirpath)) {
			rc = -ESTALE;
			goto out;
		}
		/* A negative entry: the kernel asks again only after negative_ttl; not at all
		 * when a change here overlapped the answer (a directory rename under way may
		 * move the name to this directory's new name). */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = quiet ? fs->negative_ttl : 0;
		fuse_reply_entry(req, &e);
		rc = 0;
	} else if (!rc) {
		rc = fs_reply_entry(req, path, is_dir, &attr, seen);
	}
out:
	iattr_clear(&attr);
	free(path);
	free(dirpath);
	return rc;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc;

	if (strlen(name) > 255) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	/* Each try starts after the change that overtook the last one, so a few suffice. */
	for (int tries = 0;; tries++) {
		rc = lookup_once(req, parent, name);
		if (rc != -ESTALE || tries == 3)
			break;
	}
	if (rc == -ESTALE)
		rc = -ENOENT; /* renamed away again and again: not there now */
	if (rc)
		fuse_reply_err(req, -rc);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	itable_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct gmfs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		itable_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	fs_reply_attr(req, ino);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct gmfs *fs = fs_of(req);
	struct iattr attr = {0};
	char *path = NULL;
	char target[4096];
	int rc;

	rc = itable_get(fs->inodes, ino, &path, NULL, &attr, NULL);
	if (rc)
		goto fail;
	rc = -EINVAL;
	if (!S_ISLNK(attr.mode))
		goto fail;
	if (attr.link_target) {
		fuse_reply_readlink(req, attr.link_target);
		goto out;
	}
	/* Current form: the target is the object's content. */
	rc = -ENAMETOOLONG;
	if (attr.size >= sizeof(target))
		goto fail;
	ssize_t n = gcs_read(fs->gcs, path, attr.generation, 0, (size_t)attr.size, target);
	rc = (int)n;
	if (n < 0)
		goto fail;
	target[n] = '\0';
	fuse_reply_readlink(req, target);
	goto out;
fail:
	fuse_reply_err(req, -rc);
out:
	iattr_clear(&attr);
	free(path);
}

/* The metadata entries for the attributes being set; type: the file's type bits, which a
 * special file keeps in its stored mode. */
static void attr_kv_build(struct posix_meta *a, const struct stat *st, int to_set, mode_t type,
			  struct timespec *mtime)
{
	posix_meta_init(a);
	if (to_set & FUSE_SET_ATTR_MODE)
		posix_meta_mode(a, type | (st->st_mode & 07777));
	if (to_set & FUSE_SET_ATTR_UID)
		posix_meta_uid(a, st->st_uid);
	if (to_set & FUSE_SET_ATTR_GID)
		posix_meta_gid(a, st->st_gid);
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			fs_now(mtime);
		else
			*mtime = st->st_mtim;
		posix_meta_mtime(a, mtime);
	}
}

/* Stores attributes on the object itself (a file, or a directory's placeholder, which is
 * created when the directory has none). Updates the inode table with the result. */
static int patch_attrs(struct gmfs *fs, uint64_t ino, const char *path, int is_dir,
		       const struct iattr *cur, const struct posix_meta *a)
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
	fnode_lock(n);
	fnode_stream_stop(fs, n);
	rc = fnode_stage(fs, n, size == 0);
	if (!rc && ftruncate(n->fd, (off_t)size) != 0)
		rc = -errno;
	if (!rc) {
		n->size = size;
		n->dirty = 1;
		fs_now(&n->mtime);
		/* truncate(2) on a file nobody has open: publish now. */
		if (n->opens == 0)
			rc = fnode_settle(fs, n);
	}
	fnode_unlock(n);
	ftable_put(fs->files, n);
	return rc;
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set,
		struct fuse_file_info *fi)
{
	struct gmfs *fs = fs_of(req);
	struct iattr cur = {0};
	struct posix_meta a;
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
	attr_kv_build(&a, st, to_set, cur.mode & S_IFMT, &mtime);
	if (a.n == 0)
		goto out;
	if (ino == INODE_ROOT) {
		/* The mount's root has no object to keep attributes on: they last as long as the
		 * mount. */
		if (to_set & FUSE_SET_ATTR_MODE)
			cur.mode = S_IFDIR | (st->st_mode & 07777);
		if (to_set & FUSE_SET_ATTR_UID)
			cur.uid = st->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			cur.gid = st->st_gid;
		if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
			cur.mtime = mtime;
		fs_now(&cur.ctime);
		rc = itable_set_attr(fs->inodes, ino, &cur, 1e9);
		goto out;
	}

	/* A file with data waiting for upload takes the attributes with it; a staged file
	 * remembers them so that its next upload does not undo them. */
	struct fnode *n = is_dir ? NULL : ftable_find(fs->files, ino);
	int pending = 0;
	if (n) {
		fnode_lock(n);
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
		fnode_unlock(n);
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
