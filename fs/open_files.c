/* The open-file table: a node per inode that has open handles or is being changed, found by
 * inode number or by object name, with the handles open on it. Nodes are reference-counted;
 * the last reference frees a node and removes what it had staged. See fs/open_files.h for
 * the locks. */
#include "fs/open_files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBUCKETS 256

struct ftable {
	pthread_mutex_t lock;
	struct fnode *buckets[NBUCKETS];
};

struct ftable *ftable_new(void)
{
	struct ftable *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

struct handle *handle_open(struct fnode *n, uint64_t generation, uint64_t size, int writable)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->node = n;
	h->generation = generation;
	h->size = size;
	h->writable = writable;
	h->next = n->handles;
	n->handles = h;
	n->opens++;
	return h;
}

void handle_close(struct handle *h)
{
	struct handle **pp;

	for (pp = &h->node->handles; *pp != h; pp = &(*pp)->next)
		;
	*pp = h->next;
	h->node->opens--;
	free(h);
}

void fnode_moved(struct fnode *n, uint64_t moved_generation, uint64_t generation,
		 uint64_t metageneration)
{
	if (n->generation == moved_generation) {
		n->generation = generation;
		n->metageneration = metageneration;
	}
	for (struct handle *h = n->handles; h; h = h->next)
		if (h->generation == moved_generation)
			h->generation = generation;
}

void fnode_unstage(struct fnode *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	if (n->stage_path)
		unlink(n->stage_path);
	free(n->stage_path);
	n->stage_path = NULL;
}

static void fnode_free(struct fnode *n)
{
	while (n->handles) {
		struct handle *h = n->handles;
		n->handles = h->next;
		free(h);
	}
	fnode_unstage(n);
	pthread_mutex_destroy(&n->lock);
	free(n->path);
	free(n->content_type);
	free(n->keep_metadata_json);
	free(n->keep_json);
	free(n->session);
	free(n);
}

void ftable_free(struct ftable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < NBUCKETS; i++)
		while (t->buckets[i]) {
			struct fnode *n = t->buckets[i];
			t->buckets[i] = n->next;
			fnode_free(n);
		}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct fnode **slot(struct ftable *t, uint64_t ino)
{
	return &t->buckets[(ino * 0x9e3779b97f4a7c15ull) >> 56];
}

struct fnode *ftable_find(struct ftable *t, uint64_t ino)
{
	struct fnode *n;

	pthread_mutex_lock(&t->lock);
	for (n = *slot(t, ino); n && n->ino != ino; n = n->next)
		;
	if (n)
		n->refs++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct fnode *ftable_find_path(struct ftable *t, const char *path)
{
	struct fnode *found = NULL;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < NBUCKETS && !found; i++)
		for (struct fnode *n = t->buckets[i]; n; n = n->next)
			if (strcmp(n->path, path) == 0) {
				found = n;
				n->refs++;
				break;
			}
	pthread_mutex_unlock(&t->lock);
	return found;
}

struct fnode *ftable_get(struct ftable *t, uint64_t ino, const char *path)
{
	struct fnode *n, *fresh = calloc(1, sizeof(*fresh));

	if (fresh) {
		fresh->path = strdup(path);
		if (!fresh->path) {
			free(fresh);
			fresh = NULL;
		}
	}
	pthread_mutex_lock(&t->lock);
	for (n = *slot(t, ino); n && n->ino != ino; n = n->next)
		;
	if (!n && fresh) {
		n = fresh;
		fresh = NULL;
		n->ino = ino;
		n->fd = -1;
		pthread_mutex_init(&n->lock, NULL);
		n->next = *slot(t, ino);
		*slot(t, ino) = n;
	}
	if (n)
		n->refs++;
	pthread_mutex_unlock(&t->lock);
	if (fresh) {
		free(fresh->path);
		free(fresh);
	}
	return n;
}

void ftable_put(struct ftable *t, struct fnode *n)
{
	struct fnode **pp;
	int last;

	if (!n)
		return;
	pthread_mutex_lock(&t->lock);
	last = --n->refs == 0;
	if (last) {
		for (pp = slot(t, n->ino); *pp != n; pp = &(*pp)->next)
			;
		*pp = n->next;
	}
	pthread_mutex_unlock(&t->lock);
	if (last)
		fnode_free(n);
}

int ftable_set_path(struct ftable *t, struct fnode *n, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	free(n->path);
	n->path = p;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct rename_arg {
	struct ftable *t;
	const char *old, *new;
};

static int rename_one(struct fnode *n, void *arg)
{
	struct rename_arg *ra = arg;
	size_t olen = strlen(ra->old), nlen = strlen(ra->new);

	pthread_mutex_lock(&n->lock);
	size_t rest = strlen(n->path + olen);
	char *p = malloc(nlen + rest + 1);
	if (p) {
		memcpy(p, ra->new, nlen);
		memcpy(p + nlen, n->path + olen, rest + 1);
		ftable_set_path(ra->t, n, p);
		free(p);
	}
	pthread_mutex_unlock(&n->lock);
	return 0;
}

void ftable_rename_dir(struct ftable *t, const char *old, const char *new)
{
	struct rename_arg ra = {t, old, new};

	ftable_each(t, old, rename_one, &ra);
}

int ftable_each(struct ftable *t, const char *prefix, int (*fn)(struct fnode *, void *), void *arg)
{
	size_t plen = strlen(prefix), count = 0, cap = 16;
	struct fnode **list = malloc(cap * sizeof(*list));
	int rc = 0;

	if (!list)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < NBUCKETS && !rc; i++)
		for (struct fnode *n = t->buckets[i]; n; n = n->next) {
			if (plen && (strncmp(n->path, prefix, plen) != 0 || n->path[plen] != '/'))
				continue;
			if (count == cap) {
				struct fnode **p = realloc(list, cap * 2 * sizeof(*p));
				if (!p) {
					rc = -ENOMEM;
					break;
				}
				list = p;
				cap *= 2;
			}
			n->refs++;
			list[count++] = n;
		}
	pthread_mutex_unlock(&t->lock);
	for (size_t i = 0; i < count; i++) {
		if (!rc)
			rc = fn(list[i], arg);
		ftable_put(t, list[i]);
	}
	free(list);
	return rc;
}
