/* The pool of curl easy handles.
 *
 * Connections stay with the easy handle that opened them: libcurl does not support sharing
 * its connection cache between threads (CURLSHOPT_SHARE(3); a connection freed by one transfer
 * gets used by another). A pooled handle keeps its connection open for the next request, and
 * the pool hands out the handle returned last, whose connection is the likeliest still open;
 * so connections number the requests in flight at once, not the requests. What is safe to
 * share, the DNS and TLS session caches, is shared through one CURLSH.
 *
 * Locks: lock guards the idle handles only; share_locks guard the shared caches and are taken
 * by libcurl itself. Neither is held while the other is taken by this file, and neither is
 * held across a transfer. */
#include "gcs/pool_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct gcs_pool *p = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&p->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct gcs_pool *p = arg;

	(void)h;
	pthread_mutex_unlock(&p->share_locks[data]);
}

int gcs_pool_init(struct gcs_pool *p)
{
	memset(p, 0, sizeof(*p));
	p->share = curl_share_init();
	if (!p->share)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->share_locks[i], NULL);
	curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return 0;
}

void gcs_pool_free(struct gcs_pool *p)
{
	/* Handles first: the share refuses to go while a handle still uses it. */
	for (size_t i = 0; i < p->len; i++)
		curl_easy_cleanup(p->handles[i]);
	free(p->handles);
	curl_share_cleanup(p->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->share_locks[i]);
	pthread_mutex_destroy(&p->lock);
}

CURL *gcs_pool_get(struct gcs_pool *p)
{
	CURL *h = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->len > 0)
		h = p->handles[--p->len];
	pthread_mutex_unlock(&p->lock);
	if (h)
		return h;
	h = curl_easy_init();
	if (h)
		curl_easy_setopt(h, CURLOPT_SHARE, p->share);
	return h;
}

void gcs_pool_put(struct gcs_pool *p, CURL *h)
{
	pthread_mutex_lock(&p->lock);
	if (p->len == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		CURL **n = realloc(p->handles, cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&p->lock);
			curl_easy_cleanup(h);
			return;
		}
		p->handles = n;
		p->cap = cap;
	}
	p->handles[p->len++] = h;
	pthread_mutex_unlock(&p->lock);
}
