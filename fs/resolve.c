/* Name resolution and the replies built from it (see fs/resolve.h).
 *
 * A lookup in a directory nobody listed lately lists it (one page), so that the lookups that
 * follow there (`cat` of many files, a build) cost nothing until the TTLs pass. A directory is
 * tried before a file of the same name: when both exist, the directory is shown. */
#include "fs/resolve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/dir.h"
#include "fs/dircache.h"
#include "fs/open_files.h"
#include "gcs/client.h"

#define OBJECT_NAME_MAX 1024

void fs_fill_stat(struct stat *st, uint64_t ino, const struct iattr *a)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = a->mode;
	st->st_rdev = a->rdev;
	st->st_nlink = S_ISDIR(a->mode) ? 2 : 1;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blksize = 1 << 20;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_mtim = a->mtime;
	st->st_atim = a->mtime;
	st->st_ctim = a->ctime;
}

int gmfs_init_root(struct gmfs *fs)
{
	struct iattr a;
	int rc = iattr_from_object(&a, NULL, 1, &fs->defaults);

	if (!rc)
		rc = itable_set_attr(fs->inodes, INODE_ROOT, &a, 1e9);
	iattr_clear(&a);
	return rc;
}

void fs_overlay_node(struct gmfs *fs, uint64_t ino, struct iattr *attr)
{
	struct fnode *n = ftable_find(fs->files, ino);

	if (!n)
		return;
	struct fnode_view v;
	fnode_view(n, &v);
	if (v.staged) {
		attr->size = v.size;
		attr->mtime = v.mtime;
		if (v.mode_set)
			attr->mode = (attr->mode & S_IFMT) | v.mode;
		if (v.uid_set)
			attr->uid = v.uid;
		if (v.gid_set)
			attr->gid = v.gid;
	}
	ftable_put(fs->files, n);
	/* An upload may have ended the staging since the caller read the table: then the
	 * attributes it read are older than the table's, which the upload set. */
	struct iattr now = {0};
	if (!v.staged && itable_get(fs->inodes, ino, NULL, NULL, &now, NULL) == 0) {
		iattr_clear(attr);
		*attr = now;
	}
}

/* A file created here that is not in the bucket yet. */
static int resolve_local(struct gmfs *fs, const char *path, struct iattr *attr)
{
	struct fnode *n = ftable_find_path(fs->files, path);
	struct fnode_view v;
	uint64_t ino = 0;

	if (!n)
		return -ENOENT;
	fnode_view(n, &v);
	ftable_put(fs->files, n);
	if (!v.staged || v.unlinked || itable_lookup_path(fs->inodes, path, 0, &ino, attr))
		return -ENOENT;
	fs_overlay_node(fs, ino, attr);
	return 0;
}

/* Answers from a listing of the parent directory: 1 found, 0 absent, <0 no answer. A lookup
 * in a directory nobody listed lately lists it (one page): the next lookups there, from `cat`
 * of many files or a build, then cost nothing. */
static int resolve_listed(struct gmfs *fs, const char *path, int *is_dir, struct iattr *attr,
			  uint64_t *seen)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	char *parent = slash ? strndup(path, (size_t)(slash - path)) : strdup("");
	int rc = -ENOMEM;

	if (!parent)
		return rc;
	rc = dircache_lookup_seen(fs->dirs, parent, name, fs->stat_ttl, fs->negative_ttl, is_dir,
				  attr, seen);
	if (rc == -ENOENT) {
		struct dirlist l = {0};
		uint64_t asked = itable_epoch(fs->inodes);

		if (dirlist_fetch_pages(fs->gcs, parent, &fs->defaults, fs->implicit_dirs, 1, &l) ==
		    0) {
			dircache_put_seen(fs->dirs, parent, &l, asked, itable_epoch(fs->inodes));
			rc = dircache_lookup_seen(fs->dirs, parent, name, fs->stat_ttl,
						  fs->negative_ttl, is_dir, attr, seen);
		}
		dirlist_clear(&l);
	}
	free(parent);
	return rc;
}

int fs_resolve(struct gmfs *fs, const char *path, int *is_dir, struct iattr *attr, uint64_t *seen)
{
	struct gcs_list_page page = {0};
	struct gcs_object obj = {0};
	char *prefix = dir_join(path, "");
	uint64_t asked = itable_epoch(fs->inodes);
	int rc;

	if (!seen)
		seen = &asked;
	*seen = asked;
	if (!prefix)
		return -ENOMEM;
	if (resolve_local(fs, path, attr) == 0) {
		*is_dir = 0;
		rc = 0;
		goto out;
	}
	if (itable_find_fresh(fs->inodes, path, 1, attr)) {
		*is_dir = 1;
		rc = 0;
		goto out;
	}
	if (itable_find_fresh(fs->inodes, path, 0, attr)) {
		*is_dir = 0;
		rc = 0;
		goto out;
	}
	rc = resolve_listed(fs, path, is_dir, attr, seen);
	if (rc >= 0) {
		rc = rc ? 0 : -ENOENT;
		goto out;
	}

	struct gcs_list_query q = {.prefix = prefix, .delimiter = "/", .max_results = 1};
	rc = gcs_list(fs->gcs, &q, &page);
	if (rc)
		goto out;
	int own = page.n_items > 0 && strcmp(page.items[0].name, prefix) == 0;
	if (own || (fs->implicit_dirs && (page.n_items > 0 || page.n_prefixes > 0))) {
		*is_dir = 1;
		rc = iattr_from_object(attr, own ? &page.items[0] : NULL, 1, &fs->defaults);
		if (!rc && own)
			attr->generation = page.items[0].generation; /* marks the placeholder */
		goto out;
	}
	rc = gcs_stat(fs->gcs, path, &obj);
	if (rc)
		goto out;
	*is_dir = 0;
	rc = iattr_from_object(attr, &obj, 0, &fs->defaults);
out:
	gcs_object_clear(&obj);
	gcs_list_page_clear(&page);
	free(prefix);
	return rc;
}

int fs_reply_entry(fuse_req_t req, const char *path, int is_dir, const struct iattr *attr,
		   uint64_t seen)
{
	struct gmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct iattr now = {0};
	int unsure = 0;

	memset(&e, 0, sizeof(e));
	e.ino = itable_ref_seen(fs->inodes, path, is_dir, attr, fs->stat_ttl, seen, &now, &unsure);
	if (!e.ino) {
		if (errno == ESTALE)
			return -ESTALE;
		fuse_reply_err(req, ENOMEM);
		return 0;
	}
	e.attr_timeout = unsure ? 0 : fs->stat_ttl;
	e.entry_timeout = unsure ? 0 : fs->stat_ttl;
	fs_fill_entry_stat(fs, &e.attr, e.ino, is_dir, &now);
	iattr_clear(&now);
	if (fuse_reply_entry(req, &e) != 0)
		itable_forget(fs->inodes, e.ino, 1);
	return 0;
}

void fs_fill_entry_stat(struct gmfs *fs, struct stat *st, uint64_t ino, int is_dir,
			struct iattr *attr)
{
	/* Data written here and not uploaded yet is what the kernel must see (an append
	 * starts at its end). */
	if (!is_dir)
		fs_overlay_node(fs, ino, attr);
	fs_fill_stat(st, ino, attr);
}

static int is_staged(struct gmfs *fs, uint64_t ino)
{
	struct fnode *n = ftable_find(fs->files, ino);
	int staged = 0;

	if (n) {
		struct fnode_view v;

		fnode_view(n, &v);
		staged = v.staged;
		ftable_put(fs->files, n);
	}
	return staged;
}

void fs_reply_attr(fuse_req_t req, uint64_t ino)
{
	struct gmfs *fs = fs_of(req);
	struct iattr attr = {0};
	struct gcs_object obj = {0};
	struct stat st;
	char *path = NULL;
	int is_dir = 0, fresh = 0;
	int rc;

	rc = itable_get(fs->inodes, ino, &path, &is_dir, &attr, &fresh);
	if (rc)
		goto fail;
	if (!fresh && !is_dir && !is_staged(fs, ino)) {
		/* Past its ttl: ask again, so that changes made elsewhere show up. */
		uint64_t asked = itable_epoch(fs->inodes);

		rc = gcs_stat(fs->gcs, path, &obj);
		if (rc)
			goto fail;
		iattr_clear(&attr);
		rc = iattr_from_object(&attr, &obj, 0, &fs->defaults);
		if (!rc)
			rc = itable_set_attr_seen(fs->inodes, ino, &attr, fs->stat_ttl, asked);
		/* What the table holds now: a change made here during the stat wins. */
		iattr_clear(&attr);
		if (!rc)
			rc = itable_get(fs->inodes, ino, NULL, NULL, &attr, NULL);
		if (rc)
			goto fail;
	}
	fs_overlay_node(fs, ino, &attr);
	fs_fill_stat(&st, ino, &attr);
	fuse_reply_attr(req, &st, fs->stat_ttl);
	goto out;
fail:
	fuse_reply_err(req, -rc);
out:
	gcs_object_clear(&obj);
	iattr_clear(&attr);
	free(path);
}

/* The object name of a new entry name in directory parent. */
int fs_new_name(struct gmfs *fs, fuse_ino_t parent, const char *name, int is_dir, char **path)
{
	char *dirpath = NULL;
	int pdir = 0;
	int rc = itable_get(fs->inodes, parent, &dirpath, &pdir, NULL, NULL);

	*path = NULL;
	if (rc)
		return rc;
	rc = -ENOTDIR;
	if (!pdir)
		goto out;
	rc = -ENAMETOOLONG;
	if (strlen(name) > 255)
		goto out;
	rc = -EINVAL;
	if (strpbrk(name, "\r\n") || !dir_name_showable(name, strlen(name)) ||
	    !dir_name_is_utf8(name, strlen(name)))
		goto out;
	rc = -ENOMEM;
	*path = dir_join(dirpath, name);
	if (!*path)
		goto out;
	rc = 0;
	if (strlen(*path) + (is_dir ? 1 : 0) > OBJECT_NAME_MAX) {
		rc = -ENAMETOOLONG;
		free(*path);
		*path = NULL;
	}
out:
	free(dirpath);
	return rc;
}

/* An existing entry's object name. */
int fs_old_name(struct gmfs *fs, fuse_ino_t parent, const char *name, char **path)
{
	char *dirpath = NULL;
	int rc = itable_get(fs->inodes, parent, &dirpath, NULL, NULL, NULL);

	*path = NULL;
	if (rc)
		return rc;
	*path = dir_join(dirpath, name);
	free(dirpath);
	return *path ? 0 : -ENOMEM;
}

void fs_touch_parent(struct gmfs *fs, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *parent = slash ? strndup(path, (size_t)(slash - path)) : strdup("");
	struct timespec now;

	if (!parent)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	itable_touch_dir(fs->inodes, parent, &now);
	free(parent);
}

void fs_new_owner(fuse_req_t req, fuse_ino_t parent, int is_dir, uid_t *uid, gid_t *gid,
		  mode_t *mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct iattr pattr = {0};

	*uid = ctx->uid;
	*gid = ctx->gid;
	if (itable_get(fs_of(req)->inodes, parent, NULL, NULL, &pattr, NULL) == 0 &&
	    (pattr.mode & S_ISGID)) {
		*gid = pattr.gid;
		if (is_dir)
			*mode |= S_ISGID;
	}
	iattr_clear(&pattr);
}
