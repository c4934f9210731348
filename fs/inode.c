/* Inode table: two chained hash tables over the same nodes, one by inode number and one by
 * (path, is_dir). Numbers come from FNV-1a over the identity; a collision with a live inode
 * of another identity moves to the next free number, which is why lookups by identity use
 * the second table instead of recomputing the hash.
 *
 * An epoch counts the changes made through this mount, so that an answer from GCS can be
 * told apart from one asked for before such a change and answered after it: such an answer
 * neither undoes the change's attributes nor brings back a name the change removed (a ring
 * of recent removals, each covering a directory's whole subtree).
 *
 * Lock: t->lock guards both tables and every field of every node. It is a leaf lock: no
 * other lock is taken while it is held, and no I/O happens under it. */
#include "fs/inode.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gcs/object.h"
#include "util/hash.h"

struct inode {
	uint64_t ino;
	char *path;
	int is_dir;
	uint64_t nlookup;
	struct iattr attr;
	struct timespec valid_until; /* CLOCK_MONOTONIC */
	uint64_t kernel_generation;  /* generation whose pages the kernel may cache */
	int detached;		     /* not in by_path: its name was removed or replaced */
	struct timespec touched;     /* a directory's entries last changed through this mount */
	uint64_t changed;	     /* the epoch of the last change made through this mount */
	struct inode *next_ino, *next_path;
};

/* A name this mount removed (or renamed away), and when: a listing or stat asked for before
 * that epoch and answered after it still shows the name, and must not bring it back. A
 * directory's record covers every name below it. The latest ITABLE_REMOVED are kept; lost
 * is the newest epoch among those that had to make room. */
#define ITABLE_REMOVED 1024

struct removed {
	char *path;
	int is_dir;
	uint64_t epoch;
};

struct itable {
	pthread_mutex_t lock;
	struct inode **by_ino, **by_path;
	size_t nbuckets, count;
	uint64_t epoch; /* counts changes made through this mount */
	struct removed removed[ITABLE_REMOVED];
	size_t removed_next;
	uint64_t removed_lost, removed_newest;
	unsigned moving; /* directory renames under way */
};

void iattr_clear(struct iattr *a)
{
	if (!a)
		return;
	free(a->link_target);
	memset(a, 0, sizeof(*a));
}

static int iattr_copy(struct iattr *dst, const struct iattr *src)
{
	char *lt = NULL;

	if (src->link_target && !(lt = strdup(src->link_target)))
		return -ENOMEM;
	*dst = *src;
	dst->link_target = lt;
	return 0;
}

int iattr_from_object(struct iattr *a, const struct gcs_object *obj, int is_dir,
		      const struct iattr_defaults *d)
{
	memset(a, 0, sizeof(*a));
	a->uid = d->uid;
	a->gid = d->gid;
	if (is_dir) {
		a->mode = S_IFDIR | d->dir_mode;
		a->mtime = d->dir_mtime;
		a->ctime = d->dir_mtime;
	} else {
		a->mode = S_IFREG | d->file_mode;
	}
	if (!obj)
		return 0;
	if (!is_dir) {
		a->size = obj->size;
		a->generation = obj->generation;
		a->metageneration = obj->metageneration;
	}
	a->mtime = obj->mtime;
	a->ctime = obj->updated;
	if (obj->has_mode)
		a->mode = (a->mode & S_IFMT) | (obj->mode & 07777);
	if (!is_dir && obj->special_type) {
		a->mode = obj->special_type | (a->mode & 07777);
		a->rdev = obj->rdev;
	}
	if (obj->has_uid)
		a->uid = obj->uid;
	if (obj->has_gid)
		a->gid = obj->gid;
	if (!is_dir && obj->is_symlink) {
		a->mode = S_IFLNK | 0777;
		if (obj->symlink_target) {
			a->link_target = strdup(obj->symlink_target);
			if (!a->link_target)
				return -ENOMEM;
			a->size = strlen(obj->symlink_target);
		}
	}
	return 0;
}

/* FNV-1a over the path, then one byte for the kind, not finalised. A name keeps its number across
 * remounts (see inode.h), so this must not change. */
static uint64_t fnv1a(const char *s, int is_dir)
{
	unsigned char kind = is_dir ? 'd' : 'f';

	return hash_fnv1a64(hash_fnv1a64(HASH_FNV1A64_BASIS, s, strlen(s)), &kind, 1);
}

static size_t path_slot(const struct itable *t, const char *path, int is_dir)
{
	return (size_t)(fnv1a(path, is_dir) % t->nbuckets);
}

static size_t ino_slot(const struct itable *t, uint64_t ino)
{
	/* Numbers are hashes already, but mix anyway: probing makes runs of neighbours. */
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 17) % t->nbuckets;
}

static struct inode *find_ino(const struct itable *t, uint64_t ino)
{
	for (struct inode *n = t->by_ino[ino_slot(t, ino)]; n; n = n->next_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

static struct inode *find_path(const struct itable *t, const char *path, int is_dir)
{
	for (struct inode *n = t->by_path[path_slot(t, path, is_dir)]; n; n = n->next_path)
		if (n->is_dir == is_dir && strcmp(n->path, path) == 0)
			return n;
	return NULL;
}

static void link_path(struct itable *t, struct inode *n);

static void link_node(struct itable *t, struct inode *n)
{
	size_t i = ino_slot(t, n->ino);

	n->next_ino = t->by_ino[i];
	t->by_ino[i] = n;
	if (!n->detached)
		link_path(t, n);
}

static void grow(struct itable *t)
{
	size_t old_n = t->nbuckets;
	struct inode **old = t->by_ino;
	struct inode **bi = calloc(old_n * 2, sizeof(*bi));
	struct inode **bp = calloc(old_n * 2, sizeof(*bp));

	if (!bi || !bp) {
		/* Longer chains are slower but still correct. */
		free(bi);
		free(bp);
		return;
	}
	free(t->by_path);
	t->by_ino = bi;
	t->by_path = bp;
	t->nbuckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		struct inode *n = old[i];

		while (n) {
			struct inode *next = n->next_ino;
			link_node(t, n);
			n = next;
		}
	}
	free(old);
}

static void set_valid(struct inode *n, double ttl)
{
	clock_gettime(CLOCK_MONOTONIC, &n->valid_until);
	n->valid_until.tv_sec += (time_t)ttl;
	n->valid_until.tv_nsec += (long)((ttl - (double)(time_t)ttl) * 1e9);
	if (n->valid_until.tv_nsec >= 1000000000L) {
		n->valid_until.tv_sec++;
		n->valid_until.tv_nsec -= 1000000000L;
	}
}

static int is_fresh(const struct inode *n)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec < n->valid_until.tv_sec ||
	       (now.tv_sec == n->valid_until.tv_sec && now.tv_nsec < n->valid_until.tv_nsec);
}

struct itable *itable_new(const char *root_path)
{
	struct itable *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nbuckets = 1024;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_path = calloc(t->nbuckets, sizeof(*t->by_path));
	struct inode *root = calloc(1, sizeof(*root));
	if (!t->by_ino || !t->by_path || !root || !(root->path = strdup(root_path)))
		goto fail;
	pthread_mutex_init(&t->lock, NULL);
	root->ino = INODE_ROOT;
	root->is_dir = 1;
	root->nlookup = 1;
	link_node(t, root);
	t->count = 1;
	return t;
fail:
	if (root)
		free(root->path);
	free(root);
	free(t->by_ino);
	free(t->by_path);
	free(t);
	return NULL;
}

void itable_free(struct itable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct inode *n = t->by_ino[i];

		while (n) {
			struct inode *next = n->next_ino;
			free(n->path);
			iattr_clear(&n->attr);
			free(n);
			n = next;
		}
	}
	for (size_t i = 0; i < ITABLE_REMOVED; i++)
		free(t->removed[i].path);
	pthread_mutex_destroy(&t->lock);
	free(t->by_ino);
	free(t->by_path);
	free(t);
}

/* Records that (path, is_dir) stopped existing here at the current epoch; with t->lock
 * held. Without memory for the record, the epoch counts as lost, which makes every older
 * answer unsure: never wrong, only slower. */
static void note_removed(struct itable *t, const char *path, int is_dir)
{
	struct removed *r = &t->removed[t->removed_next];

	if (r->path && r->epoch > t->removed_lost)
		t->removed_lost = r->epoch;
	free(r->path);
	r->path = strdup(path);
	r->is_dir = is_dir;
	r->epoch = t->removed_newest = t->epoch;
	if (!r->path)
		t->removed_lost = t->epoch;
	t->removed_next = (t->removed_next + 1) % ITABLE_REMOVED;
}

static int covers(const struct removed *r, const char *path, int is_dir)
{
	size_t len = strlen(r->path);

	if (strncmp(r->path, path, len) != 0)
		return 0;
	if (path[len] == '\0')
		return r->is_dir == is_dir;
	return r->is_dir && path[len] == '/';
}

/* With t->lock held; see itable_removed_since(). */
static int removed_since(struct itable *t, const char *path, int is_dir, uint64_t seen)
{
	if (seen == ITABLE_LOCAL || !*path || t->removed_newest <= seen)
		return ITABLE_SHOWN; /* nothing removed since: the common case, and quick */
	for (size_t i = 0; i < ITABLE_REMOVED; i++) {
		const struct removed *r = &t->removed[i];

		if (r->path && r->epoch > seen && covers(r, path, is_dir))
			return ITABLE_GONE;
	}
	return t->removed_lost > seen ? ITABLE_UNSURE : ITABLE_SHOWN;
}

int itable_removed_since(struct itable *t, const char *path, int is_dir, uint64_t seen)
{
	pthread_mutex_lock(&t->lock);
	int rc = find_path(t, path, is_dir) ? ITABLE_SHOWN : removed_since(t, path, is_dir, seen);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Installs new attributes (taking over copy): those of a change made here (seen ==
 * ITABLE_LOCAL), or those GCS gave to a request sent at epoch seen, unless the inode changed
 * here since. A directory whose entries changed here after
 * its object last changed (ctime) keeps that later time as mtime and ctime: entry changes
 * are not stored in the bucket. A later change of the object itself (utimens) wins. */
static void replace_attr(struct itable *t, struct inode *n, struct iattr *copy, double ttl,
			 uint64_t seen)
{
	if (seen == ITABLE_LOCAL) {
		n->changed = ++t->epoch;
	} else if (n->changed > seen) {
		/* Read before a change made here, answered after it: older than what we know. */
		iattr_clear(copy);
		return;
	}
	iattr_clear(&n->attr);
	n->attr = *copy;
	if (n->is_dir && ts_before(&n->attr.ctime, &n->touched)) {
		n->attr.mtime = n->touched;
		n->attr.ctime = n->touched;
	}
	set_valid(n, ttl);
}

uint64_t itable_ref(struct itable *t, const char *path, int is_dir, const struct iattr *attr,
		    double ttl)
{
	return itable_ref_seen(t, path, is_dir, attr, ttl, ITABLE_LOCAL, NULL, NULL);
}

uint64_t itable_ref_seen(struct itable *t, const char *path, int is_dir, const struct iattr *attr,
			 double ttl, uint64_t seen, struct iattr *now, int *unsure)
{
	struct iattr copy;
	uint64_t ino = 0;

	if (unsure)
		*unsure = 0;
	if (iattr_copy(&copy, attr)) {
		errno = ENOMEM;
		return 0;
	}
	pthread_mutex_lock(&t->lock);
	struct inode *n = *path ? find_path(t, path, is_dir) : find_ino(t, INODE_ROOT);
	if (!n) {
		int shown = removed_since(t, path, is_dir, seen);

		if (shown == ITABLE_GONE) {
			iattr_clear(&copy);
			errno = ESTALE;
			goto out;
		}
		if (unsure)
			*unsure = shown == ITABLE_UNSURE;
		if (shown == ITABLE_UNSURE)
			ttl = 0;
		n = calloc(1, sizeof(*n));
		if (!n || !(n->path = strdup(path))) {
			free(n);
			iattr_clear(&copy);
			errno = ENOMEM;
			goto out;
		}
		n->is_dir = is_dir;
		n->ino = fnv1a(path, is_dir);
		while (n->ino <= INODE_ROOT || find_ino(t, n->ino))
			n->ino++;
		if (t->count >= t->nbuckets)
			grow(t);
		link_node(t, n);
		t->count++;
	}
	replace_attr(t, n, &copy, ttl, seen);
	n->nlookup++;
	ino = n->ino;
	if (now && iattr_copy(now, &n->attr)) {
		n->nlookup--;
		ino = 0;
		errno = ENOMEM;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return ino;
}

static void unlink_path(struct itable *t, struct inode *n)
{
	struct inode **pp;

	if (n->detached)
		return;
	for (pp = &t->by_path[path_slot(t, n->path, n->is_dir)]; *pp != n; pp = &(*pp)->next_path)
		;
	*pp = n->next_path;
	n->next_path = NULL;
	n->detached = 1;
}

static void link_path(struct itable *t, struct inode *n)
{
	size_t p = path_slot(t, n->path, n->is_dir);

	n->next_path = t->by_path[p];
	t->by_path[p] = n;
	n->detached = 0;
}

static void unlink_node(struct itable *t, struct inode *n)
{
	struct inode **pp;

	for (pp = &t->by_ino[ino_slot(t, n->ino)]; *pp != n; pp = &(*pp)->next_ino)
		;
	*pp = n->next_ino;
	unlink_path(t, n);
	t->count--;
}

void itable_forget(struct itable *t, uint64_t ino, uint64_t nl)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = find_ino(t, ino);
	if (n && ino != INODE_ROOT) {
		n->nlookup = nl >= n->nlookup ? 0 : n->nlookup - nl;
		if (n->nlookup == 0) {
			unlink_node(t, n);
			free(n->path);
			iattr_clear(&n->attr);
			free(n);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

int itable_get(struct itable *t, uint64_t ino, char **path, int *is_dir, struct iattr *attr,
	       int *fresh)
{
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	struct inode *n = find_ino(t, ino);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	if (path && !(*path = strdup(n->path))) {
		rc = -ENOMEM;
		goto out;
	}
	if (attr && iattr_copy(attr, &n->attr)) {
		if (path) {
			free(*path);
			*path = NULL;
		}
		rc = -ENOMEM;
		goto out;
	}
	if (is_dir)
		*is_dir = n->is_dir;
	if (fresh)
		*fresh = is_fresh(n);
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

uint64_t itable_find_fresh(struct itable *t, const char *path, int is_dir, struct iattr *attr)
{
	uint64_t ino = 0;

	pthread_mutex_lock(&t->lock);
	struct inode *n = find_path(t, path, is_dir);
	if (n && is_fresh(n) && iattr_copy(attr, &n->attr) == 0)
		ino = n->ino;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

uint64_t itable_ino_of(struct itable *t, const char *path, int is_dir)
{
	uint64_t ino;

	if (!*path)
		return INODE_ROOT;
	pthread_mutex_lock(&t->lock);
	struct inode *n = find_path(t, path, is_dir);
	ino = n ? n->ino : fnv1a(path, is_dir);
	pthread_mutex_unlock(&t->lock);
	return ino <= INODE_ROOT ? ino + 2 : ino;
}

int itable_set_attr(struct itable *t, uint64_t ino, const struct iattr *attr, double ttl)
{
	return itable_set_attr_seen(t, ino, attr, ttl, ITABLE_LOCAL);
}

int itable_set_attr_seen(struct itable *t, uint64_t ino, const struct iattr *attr, double ttl,
			 uint64_t seen)
{
	struct iattr copy;
	int rc = 0;

	if (iattr_copy(&copy, attr))
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	struct inode *n = find_ino(t, ino);
	if (n) {
		replace_attr(t, n, &copy, ttl, seen);
	} else {
		iattr_clear(&copy);
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int itable_note_moved(struct itable *t, const char *path, uint64_t moved_generation,
		      const struct iattr *attr, double ttl)
{
	struct iattr copy;
	int rc = -ENOENT;

	if (iattr_copy(&copy, attr))
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	struct inode *n = find_path(t, path, 0);
	if (n) {
		replace_attr(t, n, &copy, ttl, ITABLE_LOCAL);
		/* The same bytes under a new generation: the kernel's pages stay good. */
		if (n->kernel_generation == moved_generation)
			n->kernel_generation = attr->generation;
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	if (rc)
		iattr_clear(&copy);
	return rc;
}

int itable_lookup_path(struct itable *t, const char *path, int is_dir, uint64_t *ino,
		       struct iattr *attr)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&t->lock);
	struct inode *n = find_path(t, path, is_dir);
	if (n) {
		rc = attr ? iattr_copy(attr, &n->attr) : 0;
		if (!rc && ino)
			*ino = n->ino;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void itable_detach(struct itable *t, const char *path, int is_dir)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = *path ? find_path(t, path, is_dir) : NULL;
	if (n)
		unlink_path(t, n);
	t->epoch++; /* a listing under way may still show the name */
	if (*path)
		note_removed(t, path, is_dir);
	pthread_mutex_unlock(&t->lock);
}

/* Gives n the path prefix + (n->path + skip); on allocation failure the inode is detached
 * instead, which only costs a fresh lookup later. */
static void repath(struct itable *t, struct inode *n, const char *prefix, size_t skip)
{
	size_t plen = strlen(prefix), rest = strlen(n->path + skip);
	char *p = malloc(plen + rest + 1);

	unlink_path(t, n);
	if (!p)
		return;
	memcpy(p, prefix, plen);
	memcpy(p + plen, n->path + skip, rest + 1);
	free(n->path);
	n->path = p;
	n->changed = ++t->epoch;
	link_path(t, n);
}

void itable_rename(struct itable *t, const char *old, int is_dir, const char *new)
{
	size_t olen = strlen(old);

	pthread_mutex_lock(&t->lock);
	struct inode *victim = find_path(t, new, is_dir);
	if (victim)
		unlink_path(t, victim);
	struct inode *n = find_path(t, old, is_dir);
	if (n)
		repath(t, n, new, olen);
	t->epoch++;
	note_removed(t, old, is_dir);
	if (is_dir) {
		/* Everything under old/ moves to new/. Collect first: repath relinks nodes
		 * into the same table being walked. */
		struct inode **moved = NULL;
		size_t nmoved = 0, cap = 0, nlen = strlen(new);

		/* Names under new/ that existed before are gone now. */
		for (size_t i = 0; i < t->nbuckets; i++)
			for (struct inode *m = t->by_ino[i]; m; m = m->next_ino)
				if (!m->detached && strncmp(m->path, new, nlen) == 0 &&
				    m->path[nlen] == '/')
					unlink_path(t, m);
		for (size_t i = 0; i < t->nbuckets; i++)
			for (struct inode *m = t->by_ino[i]; m; m = m->next_ino) {
				if (m->detached || strncmp(m->path, old, olen) != 0 ||
				    m->path[olen] != '/')
					continue;
				if (nmoved == cap) {
					size_t nc = cap ? cap * 2 : 64;
					struct inode **p = realloc(moved, nc * sizeof(*p));
					if (!p) {
						unlink_path(t, m);
						continue;
					}
					moved = p;
					cap = nc;
				}
				moved[nmoved++] = m;
			}
		for (size_t i = 0; i < nmoved; i++)
			repath(t, moved[i], new, olen);
		free(moved);
	}
	pthread_mutex_unlock(&t->lock);
}

int itable_note_open_generation(struct itable *t, uint64_t ino, uint64_t generation)
{
	int same = 0;

	pthread_mutex_lock(&t->lock);
	struct inode *n = find_ino(t, ino);
	if (n) {
		same = n->kernel_generation == generation;
		n->kernel_generation = generation;
	}
	pthread_mutex_unlock(&t->lock);
	return same;
}

void itable_touch_dir(struct itable *t, const char *path, const struct timespec *when)
{
	pthread_mutex_lock(&t->lock);
	struct inode *n = *path ? find_path(t, path, 1) : find_ino(t, INODE_ROOT);
	if (n) {
		n->touched = *when;
		n->attr.mtime = *when;
		n->attr.ctime = *when;
	}
	pthread_mutex_unlock(&t->lock);
}

void itable_moving(struct itable *t, int begins)
{
	pthread_mutex_lock(&t->lock);
	if (begins)
		t->moving++;
	else if (t->moving)
		t->moving--;
	t->epoch++;
	pthread_mutex_unlock(&t->lock);
}

int itable_quiet_since(struct itable *t, uint64_t seen)
{
	pthread_mutex_lock(&t->lock);
	int quiet = t->epoch == seen && t->moving == 0;
	pthread_mutex_unlock(&t->lock);
	return quiet;
}

uint64_t itable_epoch(struct itable *t)
{
	pthread_mutex_lock(&t->lock);
	uint64_t e = t->epoch;
	pthread_mutex_unlock(&t->lock);
	return e;
}
