/* Directory listing cache: a small list of directories, most recently used first, each with
 * its sorted entries (as dirlist_fetch() returns them) and the time it was listed. Lookups
 * binary-search the entries. The number of directories is small in practice (the ones being
 * worked in), so a linear list of directories is enough; the entry bound keeps memory in
 * check however large they are. */
#include "fs/dircache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct cached_dir {
	char *path;
	struct dirlist list;
	struct timespec listed; /* CLOCK_MONOTONIC */
	uint64_t seen;		/* the caller's epoch when the listing was asked for */
	/* Files opened in name order: the last index opened, how many in a row, and up to
	 * where the following files were handed out for prefetching. */
	size_t last_open, prefetched;
	unsigned streak;
	int opened;
	struct cached_dir *next;
};

struct dircache {
	pthread_mutex_t lock;
	struct cached_dir *head; /* most recently used first */
	size_t entries, max_entries;
};

struct dircache *dircache_new(size_t max_entries)
{
	struct dircache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->max_entries = max_entries;
	return c;
}

static void drop(struct dircache *c, struct cached_dir **pp)
{
	struct cached_dir *d = *pp;

	*pp = d->next;
	c->entries -= d->list.n;
	dirlist_clear(&d->list);
	free(d->path);
	free(d);
}

void dircache_free(struct dircache *c)
{
	if (!c)
		return;
	while (c->head)
		drop(c, &c->head);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct cached_dir **find(struct dircache *c, const char *dirpath)
{
	struct cached_dir **pp;

	for (pp = &c->head; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->path, dirpath) == 0)
			return pp;
	return NULL;
}

void dircache_put(struct dircache *c, const char *dirpath, struct dirlist *l)
{
	dircache_put_seen(c, dirpath, l, 0, 0);
}

void dircache_put_seen(struct dircache *c, const char *dirpath, struct dirlist *l, uint64_t seen,
		       uint64_t now)
{
	struct cached_dir *d;
	struct cached_dir **pp;

	if (l->n > c->max_entries)
		return; /* would evict everything else and still not fit */
	if (seen != now)
		return; /* something changed here while it was listed: it may show the old state */
	d = calloc(1, sizeof(*d));
	if (!d || !(d->path = strdup(dirpath))) {
		free(d);
		return;
	}
	if (l->complete) {
		d->list = *l;
		memset(l, 0, sizeof(*l));
	}
	clock_gettime(CLOCK_MONOTONIC, &d->listed);
	d->seen = seen;

	pthread_mutex_lock(&c->lock);
	if ((pp = find(c, dirpath)))
		drop(c, pp);
	d->next = c->head;
	c->head = d;
	c->entries += d->list.n;
	/* Evict from the least recently used end. */
	while (c->entries > c->max_entries && c->head->next) {
		for (pp = &c->head; (*pp)->next; pp = &(*pp)->next)
			;
		drop(c, pp);
	}
	pthread_mutex_unlock(&c->lock);
}

static double age_of(const struct cached_dir *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - d->listed.tv_sec) +
	       (double)(now.tv_nsec - d->listed.tv_nsec) / 1e9;
}

static int cmp_name(const void *key, const void *ent)
{
	return strcmp(key, ((const struct dirlist_entry *)ent)->name);
}

/* The entry called name in d's listing (d may be NULL), or NULL. */
static struct dirlist_entry *find_entry(struct cached_dir *d, const char *name)
{
	if (!d || !d->list.n) /* an empty list has no array to give bsearch */
		return NULL;
	return bsearch(name, d->list.ents, d->list.n, sizeof(*d->list.ents), cmp_name);
}

int dircache_lookup(struct dircache *c, const char *dirpath, const char *name, double found_ttl,
		    double absent_ttl, int *is_dir, struct iattr *attr)
{
	uint64_t seen;

	return dircache_lookup_seen(c, dirpath, name, found_ttl, absent_ttl, is_dir, attr, &seen);
}

int dircache_lookup_seen(struct dircache *c, const char *dirpath, const char *name,
			 double found_ttl, double absent_ttl, int *is_dir, struct iattr *attr,
			 uint64_t *seen)
{
	struct cached_dir **pp;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	pp = find(c, dirpath);
	if (pp) {
		struct cached_dir *d = *pp;
		double age = age_of(d);
		struct dirlist_entry *e = find_entry(d, name);

		if (!d->list.complete) {
			if (age < found_ttl)
				rc = -E2BIG;
		} else if (e && age < found_ttl) {
			*seen = d->seen;
			*is_dir = e->is_dir;
			*attr = e->attr;
			attr->link_target = NULL;
			rc = 1;
			if (e->attr.link_target &&
			    !(attr->link_target = strdup(e->attr.link_target)))
				rc = -ENOMEM;
		} else if (!e && age < absent_ttl) {
			rc = 0;
		}
		/* Used: move to the front. */
		*pp = d->next;
		d->next = c->head;
		c->head = d;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* The cached, complete listing of path's parent, with *name pointing at path's last part. */
static struct cached_dir *parent_of(struct dircache *c, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	*name = slash ? slash + 1 : path;
	for (struct cached_dir *d = c->head; d; d = d->next)
		if (strlen(d->path) == n && strncmp(d->path, path, n) == 0)
			return d->list.complete ? d : NULL;
	return NULL;
}

void dircache_set(struct dircache *c, const char *path, int is_dir, const struct iattr *attr)
{
	const char *name;

	pthread_mutex_lock(&c->lock);
	struct cached_dir *d = parent_of(c, path, &name);
	if (d) {
		struct dirlist_entry *e = find_entry(d, name);
		char *lt = attr->link_target ? strdup(attr->link_target) : NULL;

		if (attr->link_target && !lt) {
			d->list.complete = 0; /* cannot update: no longer trusted */
		} else if (e) {
			iattr_clear(&e->attr);
			e->attr = *attr;
			e->attr.link_target = lt;
			e->is_dir = is_dir;
		} else if (dirlist_add(&d->list, name, is_dir, attr) == 0) {
			free(lt);
			dirlist_sort(&d->list);
			c->entries++;
		} else {
			free(lt);
			d->list.complete = 0;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

void dircache_remove(struct dircache *c, const char *path)
{
	const char *name;

	pthread_mutex_lock(&c->lock);
	struct cached_dir *d = parent_of(c, path, &name);
	struct dirlist_entry *e = find_entry(d, name);
	if (e) {
		size_t i = (size_t)(e - d->list.ents);

		free(e->name);
		iattr_clear(&e->attr);
		memmove(e, e + 1, (d->list.n - i - 1) * sizeof(*e));
		d->list.n--;
		c->entries--;
	}
	pthread_mutex_unlock(&c->lock);
}

void dircache_invalidate_parent(struct dircache *c, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	struct cached_dir **pp;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->head; *pp;) {
		if (strlen((*pp)->path) == n && strncmp((*pp)->path, path, n) == 0)
			drop(c, pp);
		else
			pp = &(*pp)->next;
	}
	pthread_mutex_unlock(&c->lock);
}

void dircache_invalidate_tree(struct dircache *c, const char *dirpath)
{
	size_t n = strlen(dirpath);
	struct cached_dir **pp;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->head; *pp;) {
		const char *p = (*pp)->path;

		if (n == 0 || (strncmp(p, dirpath, n) == 0 && (p[n] == '\0' || p[n] == '/')))
			drop(c, pp);
		else
			pp = &(*pp)->next;
	}
	pthread_mutex_unlock(&c->lock);
}

/* An open at most this many entries after the last one continues a run in name order. */
#define IN_ORDER_STEP 4

size_t dircache_note_open(struct dircache *c, const char *path, size_t window, uint64_t max_size,
			  struct dircache_next *out)
{
	const char *name;
	size_t n = 0;

	if (window == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	struct cached_dir *d = parent_of(c, path, &name);
	struct dirlist_entry *e = find_entry(d, name);
	if (!e)
		goto out;
	size_t i = (size_t)(e - d->list.ents);

	if (d->opened && i > d->last_open && i - d->last_open <= IN_ORDER_STEP) {
		d->streak++;
		d->last_open = i;
	} else if (d->opened && i <= d->last_open && d->last_open - i <= window) {
		/* A little behind the last one: readers taking files by turns. */
	} else {
		d->opened = 1;
		d->streak = 0;
		d->last_open = d->prefetched = i;
	}
	if (d->streak < 2)
		goto out;
	size_t from = (d->prefetched > i ? d->prefetched : i) + 1;
	size_t to = i + window < d->list.n - 1 ? i + window : d->list.n - 1;

	for (size_t k = from; k <= to; k++) {
		const struct dirlist_entry *f = &d->list.ents[k];

		if (f->is_dir || !S_ISREG(f->attr.mode) || f->attr.link_target ||
		    !f->attr.generation || f->attr.size == 0 || f->attr.size > max_size)
			continue;
		out[n].path = dir_join(d->path, f->name);
		if (!out[n].path)
			break;
		out[n].generation = f->attr.generation;
		out[n].size = f->attr.size;
		n++;
	}
	if (to + 1 > from)
		d->prefetched = to;
out:
	pthread_mutex_unlock(&c->lock);
	return n;
}
