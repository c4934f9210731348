/* FUSE low-level operations: names, attributes, reading and listing.
 *
 * Names resolve to objects like this: "d/x" is a directory when anything exists under the
 * prefix "d/x/" (a placeholder object or any other object: implicit directories), otherwise
 * a file when the object "d/x" exists. Listings fill the inode table, so a readdirplus gives
 * the kernel every entry's attributes from one objects.list per 1,000 entries; lookups and
 * getattrs trust those attributes for stat_ttl seconds. Reads are pinned to the generation
 * the file was opened at, so a reader never sees a mix of two versions: when the object is
 * replaced under an open file, reads fail with ESTALE instead.
 *
 * Files opened for writing are staged locally (fs/files.c); reads and attributes of such a
 * file come from its staged state, and listings include files created here that are not
 * uploaded yet. The operations that change the bucket are in wops.c.
 *
 * Replies are sent from the worker thread that runs the handler; handlers take no lock of
 * their own beyond a node mutex (see fs/files.h for the order). */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache/blocks.h"
#include "fs/dir.h"
#include "fs/dircache.h"
#include "fs/metrics.h"
#include "fs/ops_i.h"
#include "gcs/client.h"
#include "util/log.h"

struct open_dir {
	char *path;
	struct dirlist list;
};

void fs_fill_stat(struct stat *st, uint64_t ino, const struct iattr *a)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = a->mode;
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
	pthread_mutex_lock(&n->lock);
	if (n->fd >= 0) {
		attr->size = n->size;
		attr->mtime = n->mtime;
		if (n->mode_set)
			attr->mode = (attr->mode & S_IFMT) | n->mode;
		if (n->uid_set)
			attr->uid = n->uid;
		if (n->gid_set)
			attr->gid = n->gid;
	}
	pthread_mutex_unlock(&n->lock);
	ftable_put(fs->files, n);
}

/* A file created here that is not in the bucket yet. */
static int resolve_local(struct gmfs *fs, const char *path, struct iattr *attr)
{
	struct fnode *n = ftable_find_path(fs->files, path);
	uint64_t ino = 0;
	int local = 0;

	if (!n)
		return -ENOENT;
	pthread_mutex_lock(&n->lock);
	local = n->fd >= 0 && !n->unlinked;
	pthread_mutex_unlock(&n->lock);
	ftable_put(fs->files, n);
	if (!local || itable_lookup_path(fs->inodes, path, 0, &ino, attr))
		return -ENOENT;
	fs_overlay_node(fs, ino, attr);
	return 0;
}

void fs_changed(struct gmfs *fs, const char *path)
{
	dircache_invalidate_parent(fs->dirs, path);
}

/* Answers from a listing of the parent directory: 1 found, 0 absent, <0 no answer. A lookup
 * in a directory nobody listed lately lists it (one page): the next lookups there, from `cat`
 * of many files or a build, then cost nothing. */
static int resolve_listed(struct gmfs *fs, const char *path, int *is_dir, struct iattr *attr)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	char *parent = slash ? strndup(path, (size_t)(slash - path)) : strdup("");
	int rc = -ENOMEM;

	if (!parent)
		return rc;
	rc = dircache_lookup(fs->dirs, parent, name, fs->stat_ttl, fs->negative_ttl, is_dir, attr);
	if (rc == -ENOENT) {
		struct dirlist l = {0};

		if (dirlist_fetch_pages(fs->gcs, parent, &fs->defaults, fs->implicit_dirs, 1, &l) ==
		    0) {
			dircache_put(fs->dirs, parent, &l);
			rc = dircache_lookup(fs->dirs, parent, name, fs->stat_ttl, fs->negative_ttl,
					     is_dir, attr);
		}
		dirlist_clear(&l);
	}
	free(parent);
	return rc;
}

int fs_resolve(struct gmfs *fs, const char *path, int *is_dir, struct iattr *attr)
{
	struct gcs_list_page page = {0};
	struct gcs_object obj = {0};
	char *prefix = dir_join(path, "");
	int rc;

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
	rc = resolve_listed(fs, path, is_dir, attr);
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

void fs_reply_entry(fuse_req_t req, const char *path, int is_dir, const struct iattr *attr)
{
	struct gmfs *fs = fs_of(req);
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = itable_ref(fs->inodes, path, is_dir, attr, fs->stat_ttl);
	if (!e.ino) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	e.attr_timeout = fs->stat_ttl;
	e.entry_timeout = fs->stat_ttl;
	fs_fill_stat(&e.attr, e.ino, attr);
	if (fuse_reply_entry(req, &e) != 0)
		itable_forget(fs->inodes, e.ino, 1);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct gmfs *fs = userdata;

	/* Threads start here, in the daemon, not before it forked. */
	if (fs->blocks && fs->ra_window && fs->ra_threads > 0) {
		fs->ra = readahead_new(fs->blocks, fs->fetch, fs->fetch_arg, fs->ra_threads);
		if (!fs->ra)
			log_warn("read-ahead workers could not start; reading without them");
	}
	if (fs->metrics && metrics_start(fs->metrics, fs) != 0)
		log_warn("metrics threads could not start");
	/* Listings carry attributes, so let the kernel take them with the names. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct gmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct iattr attr = {0};
	char *dirpath = NULL, *path = NULL;
	int pdir = 0, is_dir = 0;
	size_t len = strlen(name);
	int rc;

	if (len > 255) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	rc = itable_get(fs->inodes, parent, &dirpath, &pdir, NULL, NULL);
	if (rc)
		goto fail;
	rc = -ENOTDIR;
	if (!pdir)
		goto fail;
	rc = -ENOENT;
	if (!dir_name_showable(name, len))
		goto fail;
	rc = -ENOMEM;
	path = dir_join(dirpath, name);
	if (!path)
		goto fail;
	rc = fs_resolve(fs, path, &is_dir, &attr);
	memset(&e, 0, sizeof(e));
	if (rc == -ENOENT) {
		/* A negative entry: the kernel asks again only after negative_ttl. */
		e.entry_timeout = fs->negative_ttl;
		fuse_reply_entry(req, &e);
		goto out;
	}
	if (rc)
		goto fail;
	fs_reply_entry(req, path, is_dir, &attr);
	goto out;
fail:
	fuse_reply_err(req, -rc);
out:
	iattr_clear(&attr);
	free(path);
	free(dirpath);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	itable_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct gmfs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		itable_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static int is_staged(struct gmfs *fs, uint64_t ino)
{
	struct fnode *n = ftable_find(fs->files, ino);
	int staged = 0;

	if (n) {
		pthread_mutex_lock(&n->lock);
		staged = n->fd >= 0;
		pthread_mutex_unlock(&n->lock);
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
		rc = gcs_stat(fs->gcs, path, &obj);
		if (rc)
			goto fail;
		iattr_clear(&attr);
		rc = iattr_from_object(&attr, &obj, 0, &fs->defaults);
		if (!rc)
			rc = itable_set_attr(fs->inodes, ino, &attr, fs->stat_ttl);
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

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	fs_reply_attr(req, ino);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
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

/* Drops a handle; the last one of a node uploads what is left and ends the staging. */
void fs_close_handle(struct gmfs *fs, struct handle *h)
{
	struct fnode *n = h->node;

	pthread_mutex_lock(&n->lock);
	handle_close(h);
	if (n->opens == 0)
		wop_last_close(fs, n);
	pthread_mutex_unlock(&n->lock);
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

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

	pthread_mutex_lock(&n->lock);
	rc = 0;
	if (writable || (fi->flags & O_TRUNC))
		rc = wop_open_for_write(fs, n, !!(fi->flags & O_TRUNC));
	if (!rc) {
		h = handle_open(n, attr.generation, attr.size, writable);
		rc = h ? 0 : -ENOMEM;
	}
	/* Pages the kernel holds are valid while the generation is the one it cached, and
	 * always for staged data, which every write goes through. */
	staged = n->fd >= 0;
	fi->keep_cache = staged || itable_note_open_generation(fs->inodes, ino, attr.generation);
	pthread_mutex_unlock(&n->lock);
	if (rc)
		goto fail;

	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		fs_close_handle(fs, h);
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

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_close_handle(fs_of(req), (struct handle *)(uintptr_t)fi->fh);
	/* Errors of a final upload cannot reach the process any more (close has returned);
	 * they are logged and the data is kept. */
	fuse_reply_err(req, 0);
}

/* Random reads of files larger than this, of less than BYPASS_MAX_READ bytes, skip the cache.
 * The kernel cuts large reads into 128 KiB requests; those go through whole blocks. */
#define BYPASS_MIN_SIZE (16u << 20)
#define BYPASS_MAX_READ (128u << 10)

/* One reply buffer per worker thread: a fresh allocation per read costs page faults on every
 * request. The key is process-wide state by nature; it is created once. */
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct gmfs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct fnode *n = h->node;
	ssize_t got;
	char *buf;

	(void)ino;
	buf = rbuf_get(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	uint64_t ra_off = 0, ra_len = 0;
	int random = 0;

	pthread_mutex_lock(&n->lock);
	if (n->fd >= 0) {
		/* Staged: the local file is the truth, including unuploaded writes. */
		got = 0;
		if (off >= 0 && (uint64_t)off < n->size) {
			if (size > n->size - (uint64_t)off)
				size = (size_t)(n->size - (uint64_t)off);
			got = pread(n->fd, buf, size, off);
			if (got < 0)
				got = -errno;
		}
		pthread_mutex_unlock(&n->lock);
		goto reply;
	}
	if (fs->blocks)
		random = ra_note_read(&h->ra, h->size, (uint64_t)(off > 0 ? off : 0), size,
				      fs->ra ? fs->ra_window : 0, &ra_off, &ra_len);
	pthread_mutex_unlock(&n->lock);

	if (off < 0 || (uint64_t)off >= h->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->size - (uint64_t)off)
		size = (size_t)(h->size - (uint64_t)off);
	char *path = NULL;
	pthread_mutex_lock(&n->lock);
	path = strdup(n->path);
	pthread_mutex_unlock(&n->lock);
	if (!path) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ra_len)
		readahead_submit(fs->ra, path, h->generation, h->size, ra_off, (size_t)ra_len);
	/* A random reader of a large file gets exactly the bytes it asks for: whole blocks would
	 * multiply what crosses the network. */
	if (fs->blocks && !(random && h->size > BYPASS_MIN_SIZE && size < BYPASS_MAX_READ))
		got = bcache_read(fs->blocks, path, h->generation, h->size, (uint64_t)off, size,
				  buf, fs->fetch, fs->fetch_arg);
	else
		got = gcs_read(fs->gcs, path, h->generation, (uint64_t)off, size, buf);
	if (got == -ENOENT) {
		log_warn("read %s: generation %llu is gone (replaced or deleted while open)", path,
			 (unsigned long long)h->generation);
		got = -ESTALE;
	}
	free(path);
reply:
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, buf, (size_t)got);
}

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
	struct iattr attr = {0};
	const char *name;
	int add, rc = 0;

	pthread_mutex_lock(&n->lock);
	name = n->path + (dlen ? dlen + 1 : 0);
	add = n->fd >= 0 && n->generation == 0 && !n->unlinked && !strchr(name, '/');
	char *copy = add ? strdup(name) : NULL;
	pthread_mutex_unlock(&n->lock);
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
static void remember_listing(struct gmfs *fs, const char *dirpath, const struct dirlist *l)
{
	struct dirlist copy = {0};

	for (size_t i = 0; i < l->n; i++)
		if (dirlist_add(&copy, l->ents[i].name, l->ents[i].is_dir, &l->ents[i].attr)) {
			dirlist_clear(&copy);
			return;
		}
	copy.complete = l->complete;
	dircache_put(fs->dirs, dirpath, &copy);
	dirlist_clear(&copy);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	/* Each opendir lists afresh, so `ls` always shows what the bucket holds now. */
	rc = dirlist_fetch(fs->gcs, d->path, &fs->defaults, fs->implicit_dirs, fs->list_parallel,
			   &d->list);
	if (rc)
		goto fail;
	remember_listing(fs, d->path, &d->list);
	struct local_entries le = {fs, d->path, &d->list};
	rc = ftable_each(fs->files, d->path, add_local_entry, &le);
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
	char *buf = calloc(1, size);
	size_t pos = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
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
		char *path = dir_join(d->path, de->name);
		if (!path)
			break;
		if (plus) {
			e.ino = itable_ref(fs->inodes, path, de->is_dir, &de->attr, fs->stat_ttl);
			if (!e.ino) {
				free(path);
				break;
			}
			e.attr_timeout = fs->stat_ttl;
			e.entry_timeout = fs->stat_ttl;
			fs_fill_stat(&e.attr, e.ino, &de->attr);
			used = fuse_add_direntry_plus(req, buf + pos, size - pos, de->name, &e,
						      (off_t)(i + 1));
			if (used > size - pos)
				/* Did not fit: the kernel never sees it, so take the reference
				 * back. */
				itable_forget(fs->inodes, e.ino, 1);
		} else {
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
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	/* A bucket has no fixed capacity; report a large one so tools do not refuse to copy. */
	memset(&st, 0, sizeof(st));
	st.f_bsize = 1 << 20;
	st.f_frsize = 4096;
	st.f_blocks = st.f_bfree = st.f_bavail = 1ull << 40;
	st.f_files = st.f_ffree = st.f_favail = 1ull << 32;
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops gmfs_ops = {
	.init = op_init,
	.destroy = wop_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.create = wop_create,
	.write = wop_write,
	.flush = wop_flush,
	.fsync = wop_fsync,
	.setattr = wop_setattr,
	.unlink = wop_unlink,
	.mkdir = wop_mkdir,
	.rmdir = wop_rmdir,
	.rename = wop_rename,
	.symlink = wop_symlink,
};
