/* The open-file table: a node per inode that has open handles, is being changed or waits for
 * a background upload, found by inode number or by object name, with the handles open on it.
 * Nodes are reference-counted; the last reference frees a node and removes what it had
 * staged. See fs/open_files.h for the locks.
 *
 * The upload queue is a FIFO through the nodes' qnext links. Workers sleep on `work` until a
 * node arrives or the queue stops; `idle` wakes ftable_queue_stop() once nothing is queued or
 * running. */
#include "fs/open_files.h"

#include <errno.h>
#include <stdlib.h>

#include "cache/copy.h"
#include "util/hash.h"
#include <string.h>
#include <unistd.h>

#define NBUCKETS 256

enum queue_state { QUEUE_NEW, QUEUE_RUNNING, QUEUE_OFF, QUEUE_STOPPING };

struct ftable {
	pthread_mutex_t lock;
	struct fnode *buckets[NBUCKETS];  /* by inode number */
	struct fnode *pbuckets[NBUCKETS]; /* by path: a queue of closed files makes many */

	/* The upload queue (lock). */
	enum queue_state qstate;
	struct fnode *qhead, *qtail;
	unsigned queued, running, max_queued;
	pthread_cond_t work, idle;
	fnode_work_fn work_fn;
	void *work_arg;
	pthread_t *threads;
	int nthreads;
};

struct ftable *ftable_new(void)
{
	struct ftable *t = calloc(1, sizeof(*t));

	if (t) {
		pthread_mutex_init(&t->lock, NULL);
		pthread_cond_init(&t->work, NULL);
		pthread_cond_init(&t->idle, NULL);
	}
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
	if (n->copy && lcopy_generation(n->copy) == moved_generation)
		lcopy_set_generation(n->copy, generation);
}

void fnode_drop_copy(struct fnode *n)
{
	if (!n->copy)
		return;
	lcopy_abandon(n->copy);
	lcopy_put(n->copy);
	n->copy = NULL;
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
	n->synced = 0;
}

static void fnode_free(struct fnode *n)
{
	while (n->handles) {
		struct handle *h = n->handles;
		n->handles = h->next;
		free(h);
	}
	fnode_unstage(n);
	fnode_drop_copy(n);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->view_lock);
	free(n->path);
	free(n->content_type);
	free(n->keep_metadata_json);
	free(n->keep_json);
	free(n->session);
	free(n);
}

void fnode_lock(struct fnode *n)
{
	pthread_mutex_lock(&n->lock);
}

void fnode_unlock(struct fnode *n)
{
	struct fnode_view *v = &n->view;

	pthread_mutex_lock(&n->view_lock);
	v->staged = n->fd >= 0;
	v->unlinked = n->unlinked;
	v->dirty = n->dirty;
	v->failed = n->failed;
	v->opens = n->opens;
	v->generation = n->generation;
	v->size = n->size;
	v->mtime = n->mtime;
	v->mode = n->mode;
	v->uid = n->uid;
	v->gid = n->gid;
	v->mode_set = n->mode_set;
	v->uid_set = n->uid_set;
	v->gid_set = n->gid_set;
	pthread_mutex_unlock(&n->view_lock);
	pthread_mutex_unlock(&n->lock);
}

void fnode_lock_pair(struct fnode *a, struct fnode *b)
{
	if (a && b && b->ino < a->ino) {
		struct fnode *t = a;
		a = b;
		b = t;
	}
	if (a)
		fnode_lock(a);
	if (b)
		fnode_lock(b);
}

void fnode_unlock_pair(struct fnode *a, struct fnode *b)
{
	if (a)
		fnode_unlock(a);
	if (b)
		fnode_unlock(b);
}

void fnode_view(struct fnode *n, struct fnode_view *v)
{
	pthread_mutex_lock(&n->view_lock);
	*v = n->view;
	pthread_mutex_unlock(&n->view_lock);
}

char *ftable_path_of(struct ftable *t, struct fnode *n)
{
	char *p;

	pthread_mutex_lock(&t->lock);
	p = strdup(n->path);
	pthread_mutex_unlock(&t->lock);
	return p;
}

void ftable_free(struct ftable *t)
{
	if (!t)
		return;
	ftable_queue_stop(t);
	for (size_t i = 0; i < NBUCKETS; i++)
		while (t->buckets[i]) {
			struct fnode *n = t->buckets[i];
			t->buckets[i] = n->next;
			fnode_free(n);
		}
	pthread_cond_destroy(&t->work);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
	free(t->threads);
	free(t);
}

static struct fnode **slot(struct ftable *t, uint64_t ino)
{
	return &t->buckets[(ino * 0x9e3779b97f4a7c15ull) >> 56];
}

static struct fnode **pslot(struct ftable *t, const char *path)
{
	return &t->pbuckets[hash_mix64(hash_fnv1a64(HASH_FNV1A64_BASIS, path, strlen(path))) %
			    NBUCKETS];
}

/* Called with t->lock held. */
static void unlink_path(struct ftable *t, struct fnode *n)
{
	struct fnode **pp;

	if (n->unnamed)
		return;
	for (pp = pslot(t, n->path); *pp != n; pp = &(*pp)->pnext)
		;
	*pp = n->pnext;
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
	for (struct fnode *n = *pslot(t, path); n && !found; n = n->pnext)
		if (strcmp(n->path, path) == 0) {
			found = n;
			n->refs++;
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
		pthread_mutex_init(&n->view_lock, NULL);
		n->next = *slot(t, ino);
		*slot(t, ino) = n;
		n->pnext = *pslot(t, n->path);
		*pslot(t, n->path) = n;
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
		unlink_path(t, n);
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
	unlink_path(t, n);
	free(n->path);
	n->path = p;
	if (!n->unnamed) {
		n->pnext = *pslot(t, p);
		*pslot(t, p) = n;
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void ftable_unname(struct ftable *t, struct fnode *n)
{
	pthread_mutex_lock(&t->lock);
	unlink_path(t, n);
	n->unnamed = 1;
	n->pnext = NULL;
	pthread_mutex_unlock(&t->lock);
}

struct rename_arg {
	struct ftable *t;
	const char *old, *new;
};

static int rename_one(struct fnode *n, void *arg)
{
	struct rename_arg *ra = arg;
	size_t olen = strlen(ra->old), nlen = strlen(ra->new);

	fnode_lock(n);
	size_t rest = strlen(n->path + olen);
	char *p = malloc(nlen + rest + 1);
	if (p) {
		memcpy(p, ra->new, nlen);
		memcpy(p + nlen, n->path + olen, rest + 1);
		ftable_set_path(ra->t, n, p);
		free(p);
	}
	fnode_unlock(n);
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

static void *queue_worker(void *arg)
{
	struct ftable *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->qhead && t->qstate == QUEUE_RUNNING)
			pthread_cond_wait(&t->work, &t->lock);
		if (!t->qhead)
			break; /* stopping, and nothing is left */
		struct fnode *n = t->qhead;

		t->qhead = n->qnext;
		if (!t->qhead)
			t->qtail = NULL;
		n->qnext = NULL;
		n->queued = 0;
		t->queued--;
		t->running++;
		pthread_mutex_unlock(&t->lock);
		t->work_fn(t->work_arg, n);
		ftable_put(t, n);
		pthread_mutex_lock(&t->lock);
		t->running--;
		if (!t->qhead && !t->running)
			pthread_cond_broadcast(&t->idle);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int ftable_queue_start(struct ftable *t, int nthreads, unsigned max_queued, fnode_work_fn work,
		       void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (t->qstate != QUEUE_NEW)
		goto out;
	t->qstate = QUEUE_OFF;
	if (nthreads <= 0)
		goto out;
	rc = -ENOMEM;
	t->threads = calloc((size_t)nthreads, sizeof(*t->threads));
	if (!t->threads)
		goto out;
	t->work_fn = work;
	t->work_arg = arg;
	t->max_queued = max_queued;
	t->qstate = QUEUE_RUNNING;
	for (; t->nthreads < nthreads; t->nthreads++) {
		rc = -pthread_create(&t->threads[t->nthreads], NULL, queue_worker, t);
		if (rc)
			break;
	}
	if (t->nthreads > 0)
		rc = 0;
	else
		t->qstate = QUEUE_OFF;
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int ftable_queue_add(struct ftable *t, struct fnode *n)
{
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (t->qstate != QUEUE_RUNNING)
		rc = -ESRCH;
	else if (!n->queued && t->queued >= t->max_queued)
		rc = -EAGAIN;
	else if (!n->queued) {
		n->queued = 1;
		n->refs++;
		n->qnext = NULL;
		if (t->qtail)
			t->qtail->qnext = n;
		else
			t->qhead = n;
		t->qtail = n;
		t->queued++;
		pthread_cond_signal(&t->work);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void ftable_queue_stop(struct ftable *t)
{
	int nthreads;

	pthread_mutex_lock(&t->lock);
	if (t->qstate != QUEUE_RUNNING) {
		if (t->qstate == QUEUE_NEW)
			t->qstate = QUEUE_OFF;
		pthread_mutex_unlock(&t->lock);
		return;
	}
	/* Workers finish what is queued before they leave. */
	t->qstate = QUEUE_STOPPING;
	pthread_cond_broadcast(&t->work);
	while (t->qhead || t->running)
		pthread_cond_wait(&t->idle, &t->lock);
	nthreads = t->nthreads;
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t->threads[i], NULL);
	pthread_mutex_lock(&t->lock);
	t->nthreads = 0;
	t->qstate = QUEUE_OFF;
	pthread_mutex_unlock(&t->lock);
}

unsigned ftable_queue_len(struct ftable *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->queued + t->running;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int ftable_queue_running(struct ftable *t)
{
	int running;

	pthread_mutex_lock(&t->lock);
	running = t->qstate == QUEUE_RUNNING;
	pthread_mutex_unlock(&t->lock);
	return running;
}
