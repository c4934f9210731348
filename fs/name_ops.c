/* FUSE operations that change names: unlink, mkdir, rmdir, rename, symlink.
 *
 * Directories: mkdir writes a "dir/" placeholder; rmdir deletes it when nothing else is
 * under the prefix; a directory rename moves every object under it, one by one (not atomic),
 * and past rename_dir_limit objects refuses with EXDEV so that tools copy instead.
 * Files: rename is one objects.move, carrying any staged data uploaded first; unlink deletes
 * the generation it knows, and a second time with the current one if someone replaced it
 * meanwhile. A file that descriptors on this mount read is kept locally before its object is
 * deleted or replaced (fnode_keep()), so they read on as from a local unlinked file. Symlinks
 * are small objects in both of the forms other tools read.
 *
 * Names GCS cannot store are refused before any request (see fs_new_name()). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/dir.h"
#include "fs/dircache.h"
#include "fs/upload.h"
#include "fs/ops_i.h"
#include "fs/posix_meta.h"
#include "fs/resolve.h"
#include "gcs/client.h"
#include "gcs/write.h"
#include "util/crc32c.h"
#include "util/log.h"

/* With n's mutex held: the object of n is gone by this mount's doing, as a local file's
 * inode is once unlinked. Open descriptors keep working on the staged (or kept) data,
 * nothing is uploaded, and the name is free for another file. */
static void orphan_node(struct gmfs *fs, struct fnode *n)
{
	n->unlinked = 1;
	n->dirty = 0;
	ftable_unname(fs->files, n);
}

/* Deletes an object, first at the generation we know, then (if someone replaced it meanwhile)
 * at the current one: unlink removes whatever the name holds. */
static int delete_current(struct gmfs *fs, const char *name, uint64_t generation)
{
	int rc = -ESTALE;

	for (int attempt = 0; attempt < 3 && rc == -ESTALE; attempt++) {
		if (!generation) {
			struct gcs_object obj = {0};

			rc = gcs_stat(fs->gcs, name, &obj);
			generation = obj.generation;
			gcs_object_clear(&obj);
			if (rc)
				return rc;
		}
		rc = gcs_delete(fs->gcs, name, generation);
		generation = 0;
	}
	return rc;
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct gmfs *fs = fs_of(req);
	struct iattr attr = {0};
	char *path = NULL;
	int local_only = 0;
	int rc;

	REFUSE_IF_READ_ONLY(fs, req);
	rc = fs_old_name(fs, parent, name, &path);
	if (rc)
		goto out;
	uint64_t generation = 0;
	if (itable_lookup_path(fs->inodes, path, 0, NULL, &attr) == 0)
		generation = attr.generation;
	/* An open file's node is held across the delete, so that no upload recreates the object
	 * meanwhile, and changes state only once the object is gone: if the delete fails, the
	 * name stays and its unsaved writes are still uploaded at close. Data that only GCS
	 * holds is kept first, for the descriptors reading it. */
	struct fnode *n = ftable_find_path(fs->files, path);
	int kept = 0;
	if (n) {
		fnode_lock(n);
		local_only = n->fd >= 0 && n->generation == 0;
		if (n->fd >= 0 && n->generation)
			generation = n->generation;
		kept = fnode_keep(fs, n);
	}
	rc = delete_current(fs, path, generation);
	if (rc == -ENOENT && local_only)
		rc = 0;
	if (n) {
		if (!rc)
			orphan_node(fs, n);
		else if (kept)
			fnode_unstage(n); /* the object stays: they read it again */
		fnode_unlock(n);
		ftable_put(fs->files, n);
	}
	if (!rc) {
		itable_detach(fs->inodes, path, 0);
		dircache_remove(fs->dirs, path);
		fs_touch_parent(fs, path);
	}
out:
	iattr_clear(&attr);
	free(path);
	fuse_reply_err(req, -rc);
}

/* The object name of a new entry that must not exist yet (EEXIST otherwise). */
static int absent_name(struct gmfs *fs, fuse_ino_t parent, const char *name, int is_dir,
		       char **path)
{
	struct iattr attr = {0};
	int exists_as_dir;
	int rc = fs_new_name(fs, parent, name, is_dir, path);

	if (rc)
		return rc;
	rc = fs_resolve(fs, *path, &exists_as_dir, &attr, NULL);
	iattr_clear(&attr);
	if (rc == -ENOENT)
		return 0;
	free(*path);
	*path = NULL;
	return rc ? rc : -EEXIST;
}

/* The metadata of a new directory, symlink or special file, made by the caller of req: now
 * as its mtime, its owner (fs_new_owner()) and, with store_mode, its mode; what equals the
 * mount's defaults is left out, as other tools would leave it. */
static void new_entry_meta(fuse_req_t req, fuse_ino_t parent, int is_dir, mode_t mode,
			   int store_mode, struct posix_meta *m)
{
	struct gmfs *fs = fs_of(req);
	mode_t dflt = is_dir ? fs->defaults.dir_mode : fs->defaults.file_mode;
	struct timespec now;
	uid_t uid;
	gid_t gid;

	fs_new_owner(req, parent, is_dir, &uid, &gid, &mode);
	fs_now(&now);
	posix_meta_init(m);
	posix_meta_mtime(m, &now);
	if (store_mode &&
	    ((mode & S_IFMT) == S_IFIFO || (mode & S_IFMT) == S_IFSOCK ||
	     (mode & S_IFMT) == S_IFCHR || (mode & S_IFMT) == S_IFBLK || (mode & 07777) != dflt))
		posix_meta_mode(m, mode);
	if (uid != fs->defaults.uid)
		posix_meta_uid(m, uid);
	if (gid != fs->defaults.gid)
		posix_meta_gid(m, gid);
}

/* The start of mkdir, mknod and symlink: a name that is free (fs/path, malloc'd) and the
 * metadata of the new entry. Replies with the error and returns it when there is none. */
static int begin_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int is_dir, mode_t mode,
		       int store_mode, char **path, struct posix_meta *m)
{
	struct gmfs *fs = fs_of(req);
	int rc = fs->read_only ? -EROFS : absent_name(fs, parent, name, is_dir, path);

	if (rc) {
		fuse_reply_err(req, -rc);
		return rc;
	}
	new_entry_meta(req, parent, is_dir, mode, store_mode, m);
	return 0;
}

/* Creates a small object for a new directory (its placeholder), symlink or special file, and
 * replies with the new entry. ifGenerationMatch=0 makes a name taken meanwhile fail with
 * EEXIST. */
static void create_small(fuse_req_t req, const char *path, int is_dir, const char *data,
			 const struct posix_meta *m)
{
	struct gmfs *fs = fs_of(req);
	struct gcs_object obj = {0};
	struct iattr attr = {0};
	char *object = is_dir ? dir_join(path, "") : strdup(path);
	int rc = -ENOMEM;

	if (object) {
		struct gcs_put put = {.name = object,
				      .fd = -1,
				      .mem = data,
				      .size = strlen(data),
				      .crc32c = crc32c_update(0, data, strlen(data)),
				      .metadata = m->kv,
				      .n_metadata = m->n};
		rc = gcs_upload(fs->gcs, &put, &obj);
	}
	if (rc == -ESTALE)
		rc = -EEXIST;
	if (!rc)
		rc = iattr_from_object(&attr, &obj, is_dir, &fs->defaults);
	if (!rc && is_dir)
		attr.generation = obj.generation; /* marks a placeholder's own attributes */
	if (!rc) {
		dircache_set(fs->dirs, path, is_dir, &attr);
		fs_touch_parent(fs, path);
	} else {
		fs_changed(fs, path); /* e.g. EEXIST: the listing missed someone else's object */
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fs_reply_entry(req, path, is_dir, &attr, ITABLE_LOCAL);
	gcs_object_clear(&obj);
	iattr_clear(&attr);
	free(object);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct posix_meta m;
	char *path = NULL;

	if (begin_entry(req, parent, name, 1, S_IFDIR | (mode & 07777), 1, &path, &m))
		return;
	create_small(req, path, 1, "", &m);
	free(path);
}

/* FIFOs, sockets and devices are empty objects whose stored mode carries the type, and
 * devices their number too; opening them is the kernel's business. mknod of a regular file
 * makes an empty one. */
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	mode_t type = mode & S_IFMT;
	struct posix_meta m;
	char *path = NULL;

	if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
	    type != S_IFBLK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (begin_entry(req, parent, name, 0, mode, 1, &path, &m))
		return;
	if (type == S_IFCHR || type == S_IFBLK)
		posix_meta_rdev(&m, rdev);
	create_small(req, path, 0, "", &m);
	free(path);
}

/* Objects have one name each: hard links fail as on Linux filesystems without them. */
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

static int staged_below(struct fnode *n, void *arg)
{
	int busy;

	(void)arg;
	fnode_lock(n);
	busy = n->fd >= 0 && !n->unlinked && n->generation == 0;
	fnode_unlock(n);
	return busy;
}

/* Whether the directory holds anything besides its placeholder; *placeholder_gen gets the
 * placeholder's generation (0 if none). Returns 1 (non-empty), 0 (empty) or -errno. */
static int dir_contents(struct gmfs *fs, const char *path, uint64_t *placeholder_gen)
{
	struct gcs_list_page page = {0};
	char *prefix = dir_join(path, "");
	int rc;

	*placeholder_gen = 0;
	if (!prefix)
		return -ENOMEM;
	/* Files of this mount first: one whose upload ends meanwhile is then in the listing
	 * below, as the other order would miss it (neither staged nor listed yet). */
	rc = ftable_each(fs->files, path, staged_below, NULL);
	if (rc) {
		free(prefix);
		return rc > 0 ? 1 : rc;
	}
	struct gcs_list_query q = {.prefix = prefix, .delimiter = "/", .max_results = 2};
	rc = gcs_list(fs->gcs, &q, &page);
	if (!rc) {
		size_t others = page.n_prefixes;

		for (size_t i = 0; i < page.n_items; i++) {
			if (strcmp(page.items[i].name, prefix) == 0)
				*placeholder_gen = page.items[i].generation;
			else
				others++;
		}
		rc = others > 0;
	}
	gcs_list_page_clear(&page);
	free(prefix);
	return rc;
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct gmfs *fs = fs_of(req);
	char *path = NULL, *placeholder = NULL;
	uint64_t gen = 0;
	int rc;

	REFUSE_IF_READ_ONLY(fs, req);
	rc = fs_old_name(fs, parent, name, &path);
	if (rc)
		goto out;
	rc = dir_contents(fs, path, &gen);
	if (rc > 0)
		rc = -ENOTEMPTY;
	if (rc)
		goto out;
	/* An implicit directory that lost its last object is gone already: done. */
	rc = 0;
	if (gen) {
		rc = -ENOMEM;
		placeholder = dir_join(path, "");
		if (placeholder)
			rc = delete_current(fs, placeholder, gen);
	}
	if (!rc) {
		itable_detach(fs->inodes, path, 1);
		dircache_remove(fs->dirs, path);
		fs_touch_parent(fs, path);
		dircache_invalidate_tree(fs->dirs, path);
	}
out:
	free(placeholder);
	free(path);
	fuse_reply_err(req, -rc);
}

/* One object that a rename moved: where it went, which generation it was, and what the move
 * made of it. */
struct moved {
	char *dst;
	uint64_t from_generation;
	struct gcs_object obj;
};

static void moved_clear(struct moved *m)
{
	free(m->dst);
	gcs_object_clear(&m->obj);
}

/* objects.move of src (at gen, unless an open node knows better) to dst (replacing dst_gen,
 * 0: must not exist). An open file's node is held across the move, so that no upload to the
 * old name slips in; staged writes go up first, so that the move carries them, and the node,
 * with the handles reading it, follows to dst and the new generation. The open file that dst
 * names, if any, is held too and ends as an unlinked one does (see op_unlink()): its data
 * kept for its readers first, its writes never uploaded. A precondition that fails means
 * another client changed a side: both are read again and the move retried. */
static int move_object(struct gmfs *fs, const char *src, uint64_t gen, const char *dst,
		       uint64_t dst_gen, const struct gcs_object *known, struct moved *out)
{
	struct fnode *n = ftable_find_path(fs->files, src);
	struct fnode *d = ftable_find_path(fs->files, dst);
	int kept = 0, rc = 0;

	memset(out, 0, sizeof(*out));
	fnode_lock_pair(n, d);
	if (n) {
		if (n->dirty && !n->unlinked)
			rc = fnode_upload(fs, n, 0);
		if (n->generation)
			gen = n->generation;
	}
	if (d && !rc)
		kept = fnode_keep(fs, d);
	for (int attempt = 0; !rc && attempt < 3; attempt++) {
		gcs_object_clear(&out->obj);
		rc = gcs_move(fs->gcs, src, gen, dst, dst_gen, known, &out->obj);
		if (rc != -ESTALE)
			break;
		struct gcs_object s = {0}, d = {0};
		rc = gcs_stat(fs->gcs, src, &s);
		gen = s.generation;
		if (!rc) {
			int drc = gcs_stat(fs->gcs, dst, &d);

			dst_gen = drc == 0 ? d.generation : 0;
			rc = drc == -ENOENT ? 0 : drc;
		}
		gcs_object_clear(&s);
		gcs_object_clear(&d);
	}
	if (!rc) {
		out->from_generation = gen;
		out->dst = strdup(dst);
		if (d)
			orphan_node(fs, d); /* first: the name is n's next */
		if (n) {
			ftable_set_path(fs->files, n, dst);
			fnode_moved(n, gen, out->obj.generation, out->obj.metageneration);
		}
	} else if (kept) {
		fnode_unstage(d); /* dst stays: its readers read it again */
	}
	fnode_unlock_pair(n, d);
	ftable_put(fs->files, n);
	ftable_put(fs->files, d);
	if (rc)
		gcs_object_clear(&out->obj);
	return rc;
}

/* After the inode table renamed the names: each moved file's inode gets the generation the
 * move created, so reads and opens under the new name need nothing more from GCS. */
static void note_moved(struct gmfs *fs, const struct moved *m)
{
	struct iattr attr;

	if (!m->dst || m->dst[strlen(m->dst) - 1] == '/')
		return; /* a directory's own object: nothing to note but that it exists */
	if (iattr_from_object(&attr, &m->obj, 0, &fs->defaults) != 0) {
		fs_changed(fs, m->dst);
		return;
	}
	itable_note_moved(fs->inodes, m->dst, m->from_generation, &attr, fs->stat_ttl);
	dircache_set(fs->dirs, m->dst, 0, &attr);
	iattr_clear(&attr);
}

static int rename_file(struct gmfs *fs, const char *src, const struct iattr *sattr, const char *dst,
		       int dexists, const struct iattr *dattr)
{
	struct moved m;
	int rc = move_object(fs, src, sattr->generation, dst, dexists ? dattr->generation : 0,
			     NULL, &m);

	if (!rc) {
		itable_rename(fs->inodes, src, 0, dst);
		dircache_remove(fs->dirs, src);
		note_moved(fs, &m);
	}
	moved_clear(&m);
	return rc;
}

static int flush_below(struct fnode *n, void *arg)
{
	struct gmfs *fs = arg;
	int rc = 0;

	fnode_lock(n);
	if (n->dirty && !n->unlinked)
		rc = fnode_upload(fs, n, 0);
	fnode_unlock(n);
	return rc;
}

/* Every object under prefix, or -EXDEV past limit (mv then copies instead). */
static int list_all(struct gmfs *fs, const char *prefix, size_t limit, struct gcs_object **out,
		    size_t *count)
{
	struct gcs_list_page page = {0};
	char *token = NULL;
	size_t n = 0, cap = 0;
	struct gcs_object *v = NULL;
	int rc;

	do {
		struct gcs_list_query q = {.prefix = prefix, .page_token = token};

		rc = gcs_list(fs->gcs, &q, &page);
		for (size_t i = 0; !rc && i < page.n_items; i++) {
			if (n == limit) {
				rc = -EXDEV;
				break;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct gcs_object *p = realloc(v, nc * sizeof(*p));
				if (!p) {
					rc = -ENOMEM;
					break;
				}
				v = p;
				cap = nc;
			}
			/* What a move needs of it, and no more: there may be 100,000. */
			struct gcs_object *it = &page.items[i];
			v[n++] = (struct gcs_object){.name = it->name,
						     .generation = it->generation,
						     .size = it->size,
						     .crc32c = it->crc32c,
						     .has_crc32c = it->has_crc32c};
			it->name = NULL;
		}
		free(token);
		token = page.next_page_token;
		page.next_page_token = NULL;
		gcs_list_page_clear(&page);
	} while (!rc && token);
	free(token);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			gcs_object_clear(&v[i]);
		free(v);
		return rc;
	}
	*out = v;
	*count = n;
	return 0;
}

/* The moves of a directory rename, made by a few threads at once: each takes the next
 * object; after a failure no new move starts. */
#define MOVE_THREADS 16

struct dir_move {
	struct gmfs *fs;
	const char *dst;
	size_t slen; /* of the source directory's name */
	const struct gcs_object *objs;
	struct moved *done;
	size_t count;
	pthread_mutex_t lock;
	size_t next, moved;
	int rc;
};

static void *dir_move_worker(void *arg)
{
	struct dir_move *dm = arg;

	for (;;) {
		pthread_mutex_lock(&dm->lock);
		size_t i = dm->next < dm->count && !dm->rc ? dm->next++ : dm->count;
		pthread_mutex_unlock(&dm->lock);
		if (i == dm->count)
			return NULL;

		const struct gcs_object *o = &dm->objs[i];
		char *to = dir_join(dm->dst, o->name + dm->slen + 1);
		int rc = to ? move_object(dm->fs, o->name, o->generation, to, 0, o, &dm->done[i])
			    : -ENOMEM;

		free(to);
		pthread_mutex_lock(&dm->lock);
		if (rc && !dm->rc)
			dm->rc = rc;
		if (!rc)
			dm->moved++;
		pthread_mutex_unlock(&dm->lock);
	}
}

/* Moves every object of objs; returns the first error. */
static int move_all(struct dir_move *dm)
{
	pthread_t threads[MOVE_THREADS];
	int started = 0;

	pthread_mutex_init(&dm->lock, NULL);
	while (started < MOVE_THREADS - 1 && (size_t)started + 1 < dm->count &&
	       pthread_create(&threads[started], NULL, dir_move_worker, dm) == 0)
		started++;
	dir_move_worker(dm); /* the calling thread moves too */
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&dm->lock);
	return dm->rc;
}

static int rename_dir(struct gmfs *fs, const char *src, const char *dst, int dexists)
{
	struct gcs_object *objs = NULL;
	struct moved *done = NULL;
	size_t count = 0, slen = strlen(src);
	char *sprefix = dir_join(src, "");
	uint64_t dst_placeholder = 0;
	struct dir_move dm = {.fs = fs, .dst = dst, .slen = slen};
	int rc = -ENOMEM;

	if (!sprefix)
		return rc;
	itable_moving(fs->inodes, 1);
	rc = -EINVAL; /* into itself */
	if (strncmp(dst, sprefix, slen + 1) == 0)
		goto out;
	if (dexists) {
		rc = dir_contents(fs, dst, &dst_placeholder);
		if (rc > 0)
			rc = -ENOTEMPTY;
		if (rc)
			goto out;
	}
	/* Files created here and not uploaded yet must be in the bucket to be listed and moved. */
	rc = ftable_each(fs->files, src, flush_below, fs);
	if (rc)
		goto out;
	rc = list_all(fs, sprefix, fs->rename_dir_limit, &objs, &count);
	if (rc == -EXDEV)
		log_info("rename of /%s: more than %zu objects (rename_dir_limit); refused, so "
			 "that tools copy instead",
			 src, fs->rename_dir_limit);
	if (rc)
		goto out;
	rc = -ENOMEM;
	done = calloc(count ? count : 1, sizeof(*done));
	if (!done)
		goto out;
	if (dst_placeholder) {
		char *p = dir_join(dst, "");

		rc = p ? gcs_delete(fs->gcs, p, dst_placeholder) : -ENOMEM;
		free(p);
		if (rc && rc != -ENOENT)
			goto out;
	}
	dm.objs = objs;
	dm.done = done;
	dm.count = count;
	rc = move_all(&dm);
	if (rc) {
		log_error("rename of /%s to /%s stopped with %zu of %zu objects moved: %s; the "
			  "rest are still under /%s",
			  src, dst, dm.moved, count, strerror(-rc), src);
		/* Half done is an I/O error; nothing done fails as one object's move would. */
		if (dm.moved > 0)
			rc = -EIO;
	}
	/* Even a partial move renamed some names: the inode table must follow them. After a
	 * failure the directory keeps its name (the kernel keeps it too), and only the files
	 * that moved take their new ones (open ones did in move_object()). */
	if (!rc) {
		itable_rename(fs->inodes, src, 1, dst);
		ftable_rename_dir(fs->files, src, dst);
	} else {
		for (size_t i = 0; i < count; i++)
			if (done[i].dst && done[i].dst[strlen(done[i].dst) - 1] != '/')
				itable_rename(fs->inodes, objs[i].name, 0, done[i].dst);
	}
	if (!rc || dm.moved > 0) {
		fs_changed(fs, src);
		fs_changed(fs, dst);
		dircache_invalidate_tree(fs->dirs, src);
		dircache_invalidate_tree(fs->dirs, dst);
		for (size_t i = 0; i < count; i++)
			note_moved(fs, &done[i]);
	}
out:
	itable_moving(fs->inodes, 0);
	for (size_t i = 0; done && i < count; i++)
		moved_clear(&done[i]);
	free(done);
	for (size_t i = 0; i < count; i++)
		gcs_object_clear(&objs[i]);
	free(objs);
	free(sprefix);
	return rc;
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	struct gmfs *fs = fs_of(req);
	struct iattr sattr = {0}, dattr = {0};
	char *src = NULL, *dst = NULL;
	int sdir = 0, ddir = 0, dexists;
	int rc;

	REFUSE_IF_READ_ONLY(fs, req);
	rc = -EINVAL; /* RENAME_EXCHANGE and RENAME_WHITEOUT need what GCS cannot do atomically */
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		goto out;
	rc = fs_old_name(fs, parent, name, &src);
	if (!rc)
		rc = fs_resolve(fs, src, &sdir, &sattr, NULL);
	if (!rc)
		rc = fs_new_name(fs, newparent, newname, sdir, &dst);
	if (rc)
		goto out;
	rc = fs_resolve(fs, dst, &ddir, &dattr, NULL);
	if (rc && rc != -ENOENT)
		goto out;
	dexists = rc == 0;
	rc = 0;
	if (strcmp(src, dst) == 0)
		goto out;
	if (dexists && (flags & RENAME_NOREPLACE))
		rc = -EEXIST;
	else if (dexists && sdir != ddir)
		rc = sdir ? -ENOTDIR : -EISDIR;
	else if (sdir)
		rc = rename_dir(fs, src, dst, dexists);
	else
		rc = rename_file(fs, src, &sattr, dst, dexists, &dattr);
	if (!rc) {
		fs_touch_parent(fs, src);
		fs_touch_parent(fs, dst);
	}
out:
	iattr_clear(&sattr);
	iattr_clear(&dattr);
	free(src);
	free(dst);
	fuse_reply_err(req, -rc);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct posix_meta m;
	char *path = NULL;

	if (begin_entry(req, parent, name, 0, S_IFLNK | 0777, 0, &path, &m))
		return;
	/* Both forms: gcloud and Storage Transfer Service read the first, gcsfuse either. */
	posix_meta_add(&m, "goog-reserved-file-is-symlink", "true");
	posix_meta_add(&m, "gcsfuse_symlink_target", link);
	create_small(req, path, 0, link, &m);
	free(path);
}
