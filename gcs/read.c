/* Read-side operations: object metadata, listings and object data.
 *
 * Each answer is checked before it is believed, inside the request engine's retry loop, so a
 * damaged answer is simply asked for again: a metadata or listing body that does not parse, a
 * data body whose length disagrees with its Content-Range or the object's stored size, and a
 * whole-object body whose CRC32C disagrees with x-goog-hash (the hash covers the whole object,
 * so a ranged read can check only its length). Data reads keep what a broken body delivered
 * and ask only for the rest. Listings wrap the server's page tokens (gcs/pagetoken.h) so that
 * a server that pages for ever fails the listing instead of holding its caller. */
#include "gcs/client.h"
#include "gcs/client_i.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs/pagetoken.h"
#include "gcs/url.h"
#include "util/crc32c.h"
#include "util/log.h"

/* Refuses an answer as damaged, saying why in the log line of the failure. */
__attribute__((format(printf, 2, 3))) static int damaged(struct gcs_req *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err.message, sizeof(r->err.message), fmt, ap);
	va_end(ap);
	return -EPROTO;
}

static int stat_check(struct gcs_req *r)
{
	int rc = gcs_object_parse(r->body.data, r->body.len, r->check_arg);

	return rc == -EPROTO ? damaged(r, "the object resource is not readable") : rc;
}

int gcs_stat(struct gcs_client *c, const char *name, struct gcs_object *out)
{
	struct gcs_req r;
	int rc;

	gcs_req_init(&r, "objects.get", "GET", name);
	r.quiet[0] = 404;
	r.check = stat_check;
	r.check_arg = out;
	rc = buf_printf(&r.url, "%s/o/", c->json_base);
	if (!rc)
		rc = gcs_url_encode(&r.url, name, GCS_ENC_SEGMENT);
	if (!rc)
		rc = gcs_url_add_query(&r.url, "fields", OBJECT_FIELDS);
	if (!rc)
		rc = gcs_perform(c, &r);
	gcs_req_free(&r);
	return rc;
}

struct list_ctx {
	struct gcs_list_page *out;
	const struct gcs_pagetrail *trail;
	uint64_t max_pages;
};

static void page_names(const struct gcs_list_page *pg, struct gcs_page_names *n)
{
	memset(n, 0, sizeof(*n));
	if (pg->n_items) {
		n->first_item = pg->items[0].name;
		n->last_item = pg->items[pg->n_items - 1].name;
	}
	if (pg->n_prefixes) {
		n->first_prefix = pg->prefixes[0];
		n->last_prefix = pg->prefixes[pg->n_prefixes - 1];
	}
}

static int list_check(struct gcs_req *r)
{
	struct list_ctx *x = r->check_arg;
	struct gcs_page_names names;
	const char *why = NULL;
	char *next = NULL;
	int rc;

	gcs_list_page_clear(x->out);
	rc = gcs_list_page_parse(r->body.data, r->body.len, x->out);
	if (rc)
		return rc == -EPROTO ? damaged(r, "the listing is not readable") : rc;
	page_names(x->out, &names);
	rc = gcs_pagetrail_next(x->trail, &names, x->out->next_page_token, x->max_pages, &next,
				&why);
	if (rc == -EIO) {
		snprintf(r->err.reason, sizeof(r->err.reason), "endless listing");
		snprintf(r->err.message, sizeof(r->err.message), "%s after %llu pages", why,
			 (unsigned long long)x->trail->pages + 1);
	}
	if (rc) {
		gcs_list_page_clear(x->out);
		return rc;
	}
	free(x->out->next_page_token);
	x->out->next_page_token = next;
	return 0;
}

int gcs_list(struct gcs_client *c, const struct gcs_list_query *q, struct gcs_list_page *out)
{
	struct gcs_pagetrail trail;
	struct gcs_req r;
	char maxr[24];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = gcs_pagetrail_parse(q->page_token, &trail);
	if (rc)
		return rc;
	struct list_ctx x = {.out = out, .trail = &trail, .max_pages = c->o.list_max_pages};

	gcs_req_init(&r, "objects.list", "GET", q->prefix);
	r.check = list_check;
	r.check_arg = &x;
	snprintf(maxr, sizeof(maxr), "%d", q->max_results > 0 ? q->max_results : 1000);
	rc = buf_printf(&r.url, "%s/o", c->json_base);
	if (!rc)
		rc = gcs_url_add_query(&r.url, "prefix", q->prefix ? q->prefix : "");
	if (!rc && q->delimiter) {
		rc = gcs_url_add_query(&r.url, "delimiter", q->delimiter);
		/* Placeholder objects ("dir/") then come back as items too, with their metadata. */
		if (!rc)
			rc = gcs_url_add_query(&r.url, "includeTrailingDelimiter", "true");
	}
	if (!rc)
		rc = gcs_url_add_query(&r.url, "maxResults", maxr);
	if (!rc && trail.server)
		rc = gcs_url_add_query(&r.url, "pageToken", trail.server);
	if (!rc && q->start_offset)
		rc = gcs_url_add_query(&r.url, "startOffset", q->start_offset);
	if (!rc && q->end_offset)
		rc = gcs_url_add_query(&r.url, "endOffset", q->end_offset);
	if (!rc)
		rc = gcs_url_add_query(&r.url, "fields",
				       "nextPageToken,prefixes,items(" LIST_ITEM_FIELDS ")");
	if (!rc)
		rc = gcs_perform(c, &r);
	if (rc)
		gcs_list_page_clear(out);
	gcs_req_free(&r);
	gcs_pagetrail_clear(&trail);
	return rc;
}

struct read_ctx {
	uint64_t off; /* where the read starts in the object */
	size_t len;   /* bytes asked for */
};

static uint32_t sink_crc32c(const struct gcs_req *r)
{
	uint32_t crc = 0;
	size_t left = r->sink_len;

	for (int i = 0; i < r->sink_cnt && left; i++) {
		size_t n = r->sink[i].iov_len < left ? r->sink[i].iov_len : left;

		crc = crc32c_update(crc, r->sink[i].iov_base, n);
		left -= n;
	}
	return crc;
}

static int read_check(struct gcs_req *r)
{
	const struct read_ctx *x = r->check_arg;
	uint64_t from = x->off + r->sink_start; /* what this attempt asked for */
	uint64_t got = r->sink_len - r->sink_start;
	unsigned long long a, b, total = 0, stored = 0;
	int has_stored = sscanf(r->stored_length, "%llu", &stored) == 1;

	if (r->transformed)
		return 0; /* not the stored bytes: nothing to compare them with */
	if (r->status == 206) {
		if (sscanf(r->content_range, "bytes %llu-%llu/%llu", &a, &b, &total) != 3 ||
		    a != from || b < a)
			return damaged(r, "Content-Range '%s' is not the range asked for (from %llu)",
				       r->content_range, (unsigned long long)from);
		if (got != b - a + 1)
			return damaged(r, "a body of %llu bytes for Content-Range '%s'",
				       (unsigned long long)got, r->content_range);
		uint64_t end = x->off + x->len < total ? x->off + x->len : total;
		if (b + 1 != end || (has_stored && stored != total))
			return damaged(r, "Content-Range '%s' for bytes %llu-%llu of an object of %llu",
				       r->content_range, (unsigned long long)from,
				       (unsigned long long)end - 1,
				       (unsigned long long)(has_stored ? stored : total));
	} else {
		if (from != 0) {
			/* Not a damaged answer: the same request would get it again. */
			snprintf(r->err.message, sizeof(r->err.message),
				 "the server ignored the Range header");
			return -EIO;
		}
		total = stored;
		if (has_stored && got != stored)
			return damaged(r, "a body of %llu bytes for an object of %llu",
				       (unsigned long long)got, stored);
		if (!has_stored)
			return 0;
	}
	/* x-goog-hash covers the whole object: checkable once all of it is here. */
	if (x->off == 0 && r->sink_len == total && r->crc32c[0]) {
		char have[9];

		crc32c_base64(sink_crc32c(r), have);
		if (strcmp(have, r->crc32c) != 0) {
			r->sink_len = 0;
			r->sink_at = 0;
			r->sink_off = 0;
			return damaged(r, "the body's CRC32C is %s, the object's %s", have, r->crc32c);
		}
	}
	return 0;
}

ssize_t gcs_readv(struct gcs_client *c, const char *name, uint64_t generation, uint64_t off,
		  const struct iovec *iov, int iovcnt)
{
	struct gcs_req r;
	char gen[24];
	size_t len = 0;
	int rc;

	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - len)
			return -EINVAL;
		len += iov[i].iov_len;
	}
	if (len == 0)
		return 0;
	if (len - 1 > UINT64_MAX - off)
		return -EINVAL;
	struct read_ctx x = {.off = off, .len = len};

	gcs_req_init(&r, "xml.get", "GET", name);
	r.sink = iov;
	r.sink_cnt = iovcnt;
	r.sink_cap = len;
	r.sink_resume = 1;
	r.sink_base = off;
	r.check = read_check;
	r.check_arg = &x;
	snprintf(gen, sizeof(gen), "%llu", (unsigned long long)generation);
	rc = buf_printf(&r.url, "%s/", c->xml_base);
	if (!rc)
		rc = gcs_url_encode(&r.url, name, GCS_ENC_PATH);
	if (!rc && generation)
		rc = gcs_url_add_query(&r.url, "generation", gen);
	if (!rc) {
		/* Stored bytes, never transcoded: sizes and ranges must mean what they say. */
		r.headers = curl_slist_append(NULL, "Accept-Encoding: gzip");
		if (!r.headers)
			rc = -ENOMEM;
	}
	if (!rc) {
		/* 416 is the end of the object; 404 a replaced generation, which the caller
		 * reports in its own words. */
		r.quiet[0] = 416;
		r.quiet[1] = 404;
		rc = gcs_perform(c, &r);
	}
	ssize_t n = rc;
	if (rc == 0)
		n = (ssize_t)r.sink_len;
	else if (rc == -ERANGE)
		n = r.sink_len ? -EIO : 0; /* 416: at or past the end (unless it came midway) */
	else if (rc == -EPROTO)
		n = -EIO; /* damaged every time: no bytes rather than wrong ones */
	gcs_req_free(&r);
	return n;
}

ssize_t gcs_read(struct gcs_client *c, const char *name, uint64_t generation, uint64_t off,
		 size_t len, void *buf)
{
	struct iovec v = {.iov_base = buf, .iov_len = len};

	return gcs_readv(c, name, generation, off, &v, 1);
}
