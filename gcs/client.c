/* The storage client's state: its options, the URLs derived from them, the handle pool and
 * the counters, made and freed together.
 *
 * Everything a request needs is fixed here, once, so that the threads that share a client
 * only read it (the pool and the counters guard themselves). The rest of the client is split
 * by concern: request.c runs a request, retry.c decides on retries and deadlines, transfer.c
 * drives libcurl for one attempt, pool.c keeps the handles and their connections, stats.c
 * counts, and bucket.c, read.c and write.c are the operations. */
#include "gcs/client.h"
#include "gcs/client_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gcs/pool_i.h"
#include "gcs/transfer_i.h"
#include "gcs/url.h"
#include "util/buf.h"

int gcs_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void gcs_global_cleanup(void)
{
	curl_global_cleanup();
}

void gcs_client_opts_default(struct gcs_client_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->endpoint = "https://storage.googleapis.com";
	o->max_attempts = 8;
	o->retry_base_ms = 200;
	o->retry_max_ms = 30000;
	o->retry_deadline_s = 120;
	o->connect_timeout_s = 10;
	o->io_timeout_s = 30;
	o->min_rate_bps = 1024;
	o->list_max_pages = 100000;
}

struct gcs_client *gcs_client_new(const struct gcs_client_opts *o)
{
	struct gcs_client *c;
	struct buf b;

	if (!o->endpoint || !o->bucket || !gcs_bucket_name_valid(o->bucket) || o->max_attempts < 1 ||
	    !(o->retry_deadline_s > 0) || o->io_timeout_s < 1 || o->connect_timeout_s < 1 ||
	    o->min_rate_bps < 1)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = *o;
	c->endpoint = strdup(o->endpoint);
	c->bucket = strdup(o->bucket);
	c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	c->user_project = o->user_project ? strdup(o->user_project) : NULL;
	if (!c->endpoint || !c->bucket || (o->ca_file && !c->ca_file) ||
	    (o->user_project && !c->user_project))
		goto fail;
	c->o.user_project = c->user_project;
	c->o.endpoint = c->endpoint;
	c->o.bucket = c->bucket;
	c->o.ca_file = c->ca_file;
	c->h2c_version = gcs_transfer_h2c_version();

	buf_init(&b, 4096);
	if (buf_printf(&b, "%s/storage/v1/b/%s", c->endpoint, c->bucket))
		goto fail;
	c->json_base = b.data;
	buf_init(&b, 4096);
	if (buf_printf(&b, "%s/%s", c->endpoint, c->bucket))
		goto fail;
	c->xml_base = b.data;

	if (gcs_pool_init(&c->pool))
		goto fail;
	return c;

fail:
	free(c->xml_base);
	free(c->json_base);
	free(c->ca_file);
	free(c->user_project);
	free(c->bucket);
	free(c->endpoint);
	free(c);
	return NULL;
}

void gcs_client_free(struct gcs_client *c)
{
	if (!c)
		return;
	gcs_pool_free(&c->pool);
	free(c->xml_base);
	free(c->json_base);
	free(c->ca_file);
	free(c->user_project);
	free(c->bucket);
	free(c->endpoint);
	free(c);
}

/* Origin ("scheme://host:port") length of a URL. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return 0;
	return (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
}

int gcs_same_origin(const struct gcs_client *c, const char *url)
{
	size_t n = origin_len(c->endpoint);

	return n && origin_len(url) == n && strncasecmp(url, c->endpoint, n) == 0;
}
