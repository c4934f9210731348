/* Private to gcs/: the curl easy handles that requests borrow, one per request in flight.
 *
 * A caller-owned value (gcs_pool_init/gcs_pool_free), thread-safe. A handle keeps its
 * connection between requests; handles share libcurl's DNS and TLS session caches, never
 * their connections. */
#ifndef GCSMOUNT_GCS_POOL_I_H
#define GCSMOUNT_GCS_POOL_I_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>

struct gcs_pool {
	pthread_mutex_t lock; /* guards handles, len, cap */
	CURL **handles;	      /* idle, the one returned last on top */
	size_t len, cap;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

/* 0, or -ENOMEM. */
int gcs_pool_init(struct gcs_pool *p);
/* Closes the idle handles and their connections; every handle must have been put back. */
void gcs_pool_free(struct gcs_pool *p);
/* An idle handle, or a new one; NULL when none can be made. The caller owns it until
 * gcs_pool_put(). curl_easy_reset() keeps what the pool set up (the share). */
CURL *gcs_pool_get(struct gcs_pool *p);
void gcs_pool_put(struct gcs_pool *p, CURL *h);

#endif
