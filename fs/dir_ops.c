/* FUSE directory operations: opendir, readdir, readdirplus and releasedir.
 *
 * Each opendir lists the directory afresh (in parallel key ranges when it is large), adds the
 * files created here that are not uploaded yet, and keeps a copy in the listing cache for the
 * lookups and prefetching that follow. readdirplus hands the kernel every entry's attributes
 * from that one listing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/dir.h"
#include "fs/dircache.h"
#include "fs/open_files.h"
#include "fs/ops_i.h"
#include "fs/resolve.h"
#include "util/log.h"

struct open_dir {
	char *path;
	struct dirlist list;
	uint64_t seen; /* the inode table's epoch when the listing was asked for */
};

/* Adds files created here but not uploaded yet to a listing of their directory. */
struct local_entries {
	struct gmfs *fs;
	const char *dirpath;
	struct dirlist *list;
};

static int add_local_entry(struct fnode *n, void *arg)
{
	struct local_entries *le = arg;
	size_t dlen = strlen(le->dirpath);
	char *path = ftable_path_of(le->fs->files, n);
	struct iattr attr = {0};
	struct fnode_view v;
	const char *name;
	int add, rc = 0;

	if (!path)
		return -ENOMEM;
	fnode_view(n, &v);
	/* Renamed elsewhere since the table matched it: not an entry here. */
	add = strncmp(path, le->dirpath, dlen) == 0 && (!dlen || path[dlen] == '/');
	name = path + (dlen ? dlen + 1 : 0);
	add = add && v.staged && v.generation == 0 && !v.unlinked && !strchr(name, '/');
	char *copy = add ? strdup(name) : NULL;
	free(path);
	if (!add)
		return 0;
	if (copy && itable_get(le->fs->inodes, n->ino, NULL, NULL, &attr, NULL) == 0) {
		fs_overlay_node(le->fs, n->ino, &attr);
		rc = dirlist_add(le->list, copy, 0, &attr);
	}
	iattr_clear(&attr);
	free(copy);
	return rc;
}

/* A copy of a fresh listing answers the lookups that follow it (the kernel forgets entries
 * sooner than stat_ttl when memory is short) and tells prefetching what comes next. */
static void remember_listing(struct gmfs *fs, const char *dirpath, const struct dirlist *l,
			     uint64_t seen)
{
	struct dirlist copy = {0};

	for (size_t i = 0; i < l->n; i++)
		if (dirlist_add(&copy, l->ents[i].name, l->ents[i].is_dir, &l->ents[i].attr)) {
			dirlist_clear(&copy);
			return;
		}
	copy.complete = l->complete;
	dircache_put_seen(fs->dirs, dirpath, &copy, seen, itable_epoch(fs->inodes));
	dirlist_clear(&copy);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gmfs *fs = fs_of(req);
	struct open_dir *d = calloc(1, sizeof(*d));
	int is_dir = 0;
	int rc = -ENOMEM;

	if (!d)
		goto fail;
	rc = itable_get(fs->inodes, ino, &d->path, &is_dir, NULL, NULL);
	if (rc)
		goto fail;
	rc = -ENOTDIR;
	if (!is_dir)
		goto fail;
	/* Files created here are gathered before the listing: one whose upload ends while the
	 * listing is under way is then in one or the other (or both, merged by the sort). */
	struct dirlist local = {0};
	struct local_entries le = {fs, d->path, &local};
	d->seen = itable_epoch(fs->inodes);
	rc = ftable_each(fs->files, d->path, add_local_entry, &le);
	/* Each opendir lists afresh, so `ls` always shows what the bucket holds now. */
	if (!rc)
		rc = dirlist_fetch(fs->gcs, d->path, &fs->defaults, fs->implicit_dirs,
				   fs->list_parallel, &d->list);
	if (!rc)
		remember_listing(fs, d->path, &d->list, d->seen);
	for (size_t i = 0; !rc && i < local.n; i++)
		rc = dirlist_add(&d->list, local.ents[i].name, 0, &local.ents[i].attr);
	dirlist_clear(&local);
	if (rc)
		goto fail;
	dirlist_sort(&d->list);
	if (d->list.skipped)
		log_info(
			"listing /%s: %zu object name(s) cannot be shown as entries (empty, \".\", "
			"\"..\" or longer than 255 bytes) and are left out",
			d->path, d->list.skipped);
	if (d->list.shadowed)
		log_info("listing /%s: %zu file(s) share a name with a directory; the directory is "
			 "shown",
			 d->path, d->list.shadowed);
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
	return;
fail:
	if (d) {
		free(d->path);
		dirlist_clear(&d->list);
	}
	free(d);
	fuse_reply_err(req, -rc);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct gmfs *fs = fs_of(req);
	struct open_dir *d = (struct open_dir *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size), *dirpath = NULL;
	size_t pos = 0;

	int rc = buf ? itable_get(fs->inodes, ino, &dirpath, NULL, NULL, NULL) : -ENOMEM;

	if (rc) {
		free(buf);
		fuse_reply_err(req, -rc);
		return;
	}
	/* Renamed on this mount since it was listed: the entries go on under the directory's
	 * new name, but their attributes are older than the move (which gave each object a
	 * new generation), so neither the table nor the kernel may trust them. */
	int moved = strcmp(dirpath, d->path) != 0;
	/* Offsets: 0 ".", 1 "..", then entry i at i + 2; each entry carries the next one. */
	for (size_t i = (size_t)off; i < d->list.n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t used;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
			e.attr.st_mode = S_IFDIR;
			if (plus)
				used = fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e,
							      (off_t)(i + 1));
			else
				used = fuse_add_direntry(req, buf + pos, size - pos, name, &e.attr,
							 (off_t)(i + 1));
			if (used > size - pos)
				break;
			pos += used;
			continue;
		}

		struct dirlist_entry *de = &d->list.ents[i - 2];
		char *path = dir_join(dirpath, de->name);
		if (!path)
			break;
		if (plus) {
			struct iattr now = {0};
			int unsure = 0;

			/* The listing may be older than a change made here meanwhile: the kernel
			 * gets what the table holds, and nothing of a name removed since. */
			e.ino = itable_ref_seen(fs->inodes, path, de->is_dir, &de->attr,
						moved ? 0 : fs->stat_ttl, d->seen, &now, &unsure);
			if (!e.ino) {
				free(path);
				if (errno == ESTALE)
					continue;
				break;
			}
			e.attr_timeout = moved || unsure ? 0 : fs->stat_ttl;
			e.entry_timeout = e.attr_timeout;
			fs_fill_entry_stat(fs, &e.attr, e.ino, de->is_dir, &now);
			iattr_clear(&now);
			used = fuse_add_direntry_plus(req, buf + pos, size - pos, de->name, &e,
						      (off_t)(i + 1));
			if (used > size - pos)
				/* Did not fit: the kernel never sees it, so take the reference
				 * back. */
				itable_forget(fs->inodes, e.ino, 1);
		} else {
			if (itable_removed_since(fs->inodes, path, de->is_dir, d->seen) ==
			    ITABLE_GONE) {
				free(path);
				continue;
			}
			fs_fill_stat(&e.attr, itable_ino_of(fs->inodes, path, de->is_dir),
				     &de->attr);
			used = fuse_add_direntry(req, buf + pos, size - pos, de->name, &e.attr,
						 (off_t)(i + 1));
		}
		free(path);
		if (used > size - pos)
			break;
		pos += used;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
	free(dirpath);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_dir *d = (struct open_dir *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		free(d->path);
		dirlist_clear(&d->list);
	}
	free(d);
	fuse_reply_err(req, 0);
}
