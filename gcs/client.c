/* The request engine of the storage client.
 *
 * Every request is a struct gcs_req run by gcs_perform(): it borrows a curl easy handle from
 * a pool (handles keep their connections alive between requests), adds the Authorization
 * header, runs the transfer, and on a transient failure tries again when gcs/retry.c allows
 * it, after the pause it decides. Each
 * attempt is itself bounded: by the time left, by a connect timeout, and by a minimum rate
 * (a stalled or dripping transfer is cut, in either direction). A 2xx answer may still be
 * refused by the caller's check (a damaged body), which is retried like a 5xx. Redirects are
 * never followed, so credentials never go to another host. Response bodies either go straight
 * into a caller's buffers (object data, only on 2xx, scattered over an iovec array so that a
 * block cache receives each block in its own buffer) or into a bounded struct buf (JSON and
 * error bodies). Exactly one place maps the outcome to errno (gcs/status.c) and one place logs
 * it (log_failure below). The operations themselves live in read.c and write.c.
 * The handles, and the connections they keep, come from gcs/pool.c. No lock is held across a
 * transfer or a backoff sleep. */
#include "gcs/client.h"
#include "gcs/client_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/auth.h"
#include "gcs/errbody.h"
#include "gcs/pool_i.h"
#include "gcs/retry_i.h"
#include "gcs/stats_i.h"
#include "gcs/status.h"
#include "gcs/url.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

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

/* HTTP/2 over plain http: with prior knowledge, except on libcurl 7.88, which fails every
 * request that reuses such a connection with CURLE_HTTP2 (it stacks a second HTTP/2 layer on
 * it; fixed in 8.0.0). There the first request of each connection asks for an h2c upgrade
 * instead, and the connection speaks HTTP/2 from its answer on. */
static long h2c_version(void)
{
	unsigned v = curl_version_info(CURLVERSION_NOW)->version_num;

	if (v >= 0x075800 && v < 0x080000)
		return CURL_HTTP_VERSION_2_0;
	return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
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
	c->h2c_version = h2c_version();

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

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gcs_req *r = arg;
	size_t len = size * nmemb;
	long status = 0;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		/* Error bodies are only read for the log: past a ceiling they are dropped, and the
		 * status still counts. */
		size_t cap = r->body.max < ERROR_BODY_MAX ? r->body.max : ERROR_BODY_MAX;

		if (r->body.len < cap)
			buf_append(&r->body, data, len < cap - r->body.len ? len : cap - r->body.len);
		return len;
	}
	if (r->sink) {
		if (len > r->sink_cap - r->sink_len) {
			r->sink_overflow = 1;
			return 0;
		}
		/* The room checked above lies in the buffers from sink_at on. */
		for (size_t done = 0; done < len && r->sink_at < r->sink_cnt;) {
			const struct iovec *v = &r->sink[r->sink_at];
			size_t n = v->iov_len - r->sink_off;

			if (n > len - done)
				n = len - done;
			memcpy((char *)v->iov_base + r->sink_off, data + done, n);
			done += n;
			r->sink_off += n;
			if (r->sink_off == v->iov_len) {
				r->sink_at++;
				r->sink_off = 0;
			}
		}
		r->sink_len += len;
		return len;
	}
	if (buf_append(&r->body, data, len) != 0) {
		r->body_overflow = 1;
		return 0;
	}
	return len;
}

/* Copies a header's value (trimmed) into dst when the line is "name: value". */
static int header_value(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return 0;
	const char *v = line + n + 1;
	size_t vlen = len - n - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= cap)
		vlen = cap - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 1;
}

/* The crc32c= item of an x-goog-hash value ("crc32c=..", "crc32c=..,md5=..", or md5 only). */
static void hash_crc32c(const char *v, char *dst, size_t cap)
{
	for (const char *p = v; *p;) {
		size_t n = strcspn(p, ",");

		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		if (n > 7 && strncasecmp(p, "crc32c=", 7) == 0 && n - 7 < cap) {
			memcpy(dst, p + 7, n - 7);
			dst[n - 7] = '\0';
			while (n > 7 && dst[n - 8] == ' ')
				dst[--n - 7] = '\0';
		}
		p += n;
		if (*p == ',')
			p++;
	}
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gcs_req *r = arg;
	size_t len = size * nmemb;
	char v[256];

	if (header_value(data, len, "x-guploader-uploadid", r->request_id,
			 sizeof(r->request_id)) ||
	    header_value(data, len, "location", r->location, sizeof(r->location)) ||
	    header_value(data, len, "range", r->range, sizeof(r->range)) ||
	    header_value(data, len, "content-range", r->content_range, sizeof(r->content_range)) ||
	    header_value(data, len, "x-goog-stored-content-length", r->stored_length,
			 sizeof(r->stored_length)))
		return len;
	if (header_value(data, len, "x-goog-hash", v, sizeof(v)))
		hash_crc32c(v, r->crc32c, sizeof(r->crc32c));
	else if (header_value(data, len, "x-guploader-response-body-transformations", v, sizeof(v)))
		r->transformed = 1;
	return len;
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct gcs_body *b = arg;
	size_t want = size * nmemb, done = 0;
	uint64_t file_end = b->head_len + b->fd_len;

	while (done < want) {
		uint64_t p = b->pos;
		size_t n;

		if (p < b->head_len) {
			n = (size_t)(b->head_len - p) < want - done ? (size_t)(b->head_len - p)
								    : want - done;
			memcpy(dst + done, b->head + p, n);
		} else if (p < file_end) {
			uint64_t left = file_end - p;
			ssize_t got =
				pread(b->fd, dst + done, left < want - done ? left : want - done,
				      (off_t)(b->fd_off + p - b->head_len));
			if (got <= 0)
				return CURL_READFUNC_ABORT; /* the staged file shrank or failed */
			n = (size_t)got;
		} else if (p < file_end + b->tail_len) {
			uint64_t left = file_end + b->tail_len - p;
			n = left < want - done ? (size_t)left : want - done;
			memcpy(dst + done, b->tail + (p - file_end), n);
		} else {
			break;
		}
		b->pos += n;
		done += n;
	}
	return done;
}

static int on_seek(void *arg, curl_off_t offset, int origin)
{
	struct gcs_body *b = arg;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	b->pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static enum gcs_xport classify(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return GCS_XPORT_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return GCS_XPORT_RESOLVE;
	case CURLE_COULDNT_CONNECT:
		return GCS_XPORT_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return GCS_XPORT_TIMEOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return GCS_XPORT_RESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return GCS_XPORT_TLS;
	case CURLE_OUT_OF_MEMORY:
		return GCS_XPORT_NOMEM;
	default:
		return GCS_XPORT_OTHER;
	}
}

/* Set on every request, so the protocol never depends on libcurl's default. Over TLS, ALPN
 * picks HTTP/2 when the server offers it and falls back to HTTP/1.1; plain http has no ALPN,
 * so there the server must speak cleartext HTTP/2 (h2c_version). Each transfer runs on its own
 * easy handle, and libcurl multiplexes only within one multi handle: requests in flight at
 * once still use one connection each, and each handle keeps its own for the next request, as
 * with HTTP/1.1. */
static long http_version(const struct gcs_client *c, const char *url)
{
	if (!c->o.http2)
		return CURL_HTTP_VERSION_1_1;
	if (strncmp(url, "https://", 8) == 0)
		return CURL_HTTP_VERSION_2TLS;
	return c->h2c_version;
}

/* The rate watchdog, called by libcurl about once a second and whenever data moves. The first
 * window opens once the connection is up (its set-up has a timeout of its own). */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct gcs_req *r = arg;
	const struct gcs_client *c = r->client;
	int64_t now, moved = (int64_t)dlnow + (int64_t)ulnow;

	(void)dltotal;
	(void)ultotal;
	if (r->window_ms < 0) {
		curl_off_t connected = 0;
		long fresh = 0;

		/* A new connection still being set up (a reused one counts no new connect). */
		curl_easy_getinfo(r->curl, CURLINFO_NUM_CONNECTS, &fresh);
		curl_easy_getinfo(r->curl, CURLINFO_CONNECT_TIME_T, &connected);
		if (fresh > 0 && connected == 0 && moved == 0)
			return 0;
		r->window_ms = clock_mono_ms();
		r->window_bytes = moved;
		return 0;
	}
	now = clock_mono_ms();
	if (now - r->window_ms < c->o.io_timeout_s * 1000)
		return 0;
	if (moved - r->window_bytes < (int64_t)c->o.min_rate_bps * c->o.io_timeout_s) {
		/* Kept for the message, which libcurl's own would overwrite. */
		r->stalled = 1;
		r->window_bytes = moved - r->window_bytes;
		r->window_ms = now - r->window_ms;
		return 1;
	}
	r->window_ms = now;
	r->window_bytes = moved;
	return 0;
}

#if LIBCURL_VERSION_NUM >= 0x075000
/* Called before each time the request goes out. libcurl sends a request again by itself when
 * a reused connection turns out dead before any answer; for a mutation, the first send may
 * have been carried out all the same, which the caller must know. */
static int on_send(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
		   int conn_local_port)
{
	struct gcs_req *r = arg;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	r->sends++;
	return CURL_PREREQFUNC_OK;
}
#endif

static void setup_handle(struct gcs_client *c, struct gcs_req *r, struct curl_slist *headers,
			 int64_t left_ms)
{
	long connect_ms = c->o.connect_timeout_s * 1000;

	CURL *h = r->curl;

	/* Keeps the connection and the share (gcs_pool_get()). */
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_URL, r->url.data);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "gcsmount/" GCSMOUNT_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->xport_msg);
	/* Three bounds on an attempt: the connection (TCP and TLS) must be up within the connect
	 * timeout; then the transfer must move min_rate_bps, both directions together, in every
	 * io_timeout_s window (on_progress: waiting for an answer moves nothing), so that
	 * neither a stall nor a drip holds the thread; and the whole attempt ends at the
	 * operation's deadline. libcurl's own low-speed check is not used: it averages over
	 * the last five seconds, so a stall right after a burst would go unseen that long. */
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(left_ms > LONG_MAX ? LONG_MAX : left_ms));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(connect_ms < left_ms ? connect_ms : left_ms));
	r->window_ms = -1;
	r->stalled = 0;
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
	r->sends = 0;
#if LIBCURL_VERSION_NUM >= 0x075000
	curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_send);
	curl_easy_setopt(h, CURLOPT_PREREQDATA, r);
#else
	/* No way to see libcurl's own resends: mutations never reuse a connection. */
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
#endif
	/* A redirect is an answer, not an instruction: following one would carry the
	 * Authorization header (and an upload's body) to wherever it points. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 added _STR and deprecated the bitmask */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, http_version(c, r->url.data));
	/* TLS verification stays on; a private CA is added, never a bypass. */
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (r->body_out) {
		struct gcs_body *b = r->body_out;

		b->pos = 0;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)(b->head_len + b->fd_len + b->tail_len));
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, b);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, b);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
}

/* The log line of a failure: a warning for one about to be retried, an error (or debug, for
 * the statuses the caller expects) for the final one. */
static void log_failure(const struct gcs_req *r, int rc, long delay_ms, int attempt, int max_attempts,
			int out_of_time)
{
	int level = LOG_ERR;
	char what[768];

	if (delay_ms >= 0)
		level = LOG_WARNING;
	else if (r->status && (r->status == r->quiet[0] || r->status == r->quiet[1]))
		level = LOG_DEBUG;
	else if (r->uncertain && (r->status == 404 || r->status == 412))
		level = LOG_INFO; /* maybe our own lost attempt's doing: the caller finds out */
	if (level > log_level)
		return;

	if (r->xport != GCS_XPORT_OK)
		snprintf(what, sizeof(what), "%s", r->xport_msg[0] ? r->xport_msg : strerror(-rc));
	else if (r->status >= 300 && r->status < 400 && r->status != 304 && r->location[0])
		snprintf(what, sizeof(what), "HTTP %ld redirect to %.*s, not followed", r->status,
			 (int)strcspn(r->location, "?#"), r->location);
	else
		snprintf(what, sizeof(what), "HTTP %ld%s%s%s%s", r->status,
			 r->err.reason[0] ? " " : "", r->err.reason, r->err.message[0] ? ": " : "",
			 r->err.message);
	if (delay_ms >= 0)
		gm_log(level, "%s %s %s: %s%s%s; retry %d of %d in %ld ms", r->op,
		       r->object ? r->object : "-", r->method, what,
		       r->request_id[0] ? " request-id " : "", r->request_id, attempt,
		       max_attempts - 1, delay_ms);
	else
		gm_log(level, "%s %s %s %.*s: %s%s%s%s", r->op, r->object ? r->object : "-",
		       r->method, (int)(r->url_secret ? strcspn(r->url.data, "?#") : r->url.len),
		       r->url.data, what, r->request_id[0] ? " request-id " : "", r->request_id,
		       out_of_time ? "; retry deadline reached" : "");
}

/* The debug line of one attempt. Names the object, never the URL: query strings may hold
 * an upload session's ID, and headers (the token) are not looked at. */
static void log_request(const struct gcs_req *r, CURLcode cc, curl_off_t got, curl_off_t sent,
			int attempt)
{
	curl_off_t us = 0;
	char what[CURL_ERROR_SIZE + 16];

	curl_easy_getinfo(r->curl, CURLINFO_TOTAL_TIME_T, &us);
	if (r->status)
		snprintf(what, sizeof(what), "%ld", r->status);
	else
		snprintf(what, sizeof(what), "%s",
			 r->xport_msg[0] ? r->xport_msg : curl_easy_strerror(cc));
	gm_log(LOG_DEBUG, "request %s %s %s: %s, %lld bytes in, %lld out, %lld ms, attempt %d",
	       r->op, r->method, r->object && r->object[0] ? r->object : "-", what, (long long)got,
	       (long long)sent, (long long)(us / 1000), attempt);
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

int gcs_perform(struct gcs_client *c, struct gcs_req *r)
{
	int max = r->max_attempts > 0 ? r->max_attempts : c->o.max_attempts;
	struct gcs_retry own, *t = r->retry;
	int reauthed = 0;
	int rc = -EIO;
	size_t op = gcs_stats_op(r->op);
	/* Kept until the answer is known: a 401 tells auth which token was refused. */
	char auth_line[4096];

	if (!t) {
		gcs_retry_init(c, &own);
		t = &own;
	}
	if (c->user_project) {
		/* Requester pays: the JSON API takes the billed project as a parameter, the XML API
		 * as a header. */
		if (strstr(r->url.data, "/storage/v1/")) {
			rc = gcs_url_add_query(&r->url, "userProject", c->user_project);
		} else {
			char hdr[320];
			struct curl_slist *h;

			snprintf(hdr, sizeof(hdr), "x-goog-user-project: %s", c->user_project);
			h = curl_slist_append(r->headers, hdr);
			rc = h ? 0 : -ENOMEM;
			if (h)
				r->headers = h;
		}
		if (rc)
			return rc;
	}
	r->curl = gcs_pool_get(&c->pool);
	if (!r->curl)
		return -ENOMEM;
	r->client = c;
	buf_init(&r->body, r->sink ? ERROR_BODY_MAX : JSON_BODY_MAX);
	r->uncertain = 0;

	for (int attempt = 1;; attempt++) {
		struct curl_slist *headers = r->headers;
		struct curl_slist *auth_node = NULL, *line_node = NULL;
		int64_t left = gcs_retry_left_ms(t);

		if (left <= 0) {
			/* Only before a first attempt (or a token refresh): later ones check first. */
			rc = -ETIMEDOUT;
			log_error("%s %s: no time left for the request (retry deadline)", r->op,
				  r->object ? r->object : "-");
			break;
		}
		rc = auth_header(c->o.auth, auth_line, sizeof(auth_line));
		if (rc) {
			log_error("%s %s: no access token: %s", r->op, r->object ? r->object : "-",
				  strerror(-rc));
			break;
		}

		buf_reset(&r->body);
		r->body_overflow = 0;
		if (!r->sink_resume) {
			r->sink_len = 0;
			r->sink_at = 0;
			r->sink_off = 0;
		} else if (r->sink_len < r->sink_cap) {
			snprintf(r->attempt_header, sizeof(r->attempt_header), "Range: bytes=%llu-%llu",
				 (unsigned long long)(r->sink_base + r->sink_len),
				 (unsigned long long)(r->sink_base + r->sink_cap - 1));
		}
		r->sink_start = r->sink_len;
		r->sink_overflow = 0;
		r->status = 0;
		r->xport_msg[0] = '\0';
		r->request_id[0] = '\0';
		r->location[0] = '\0';
		r->range[0] = '\0';
		r->content_range[0] = '\0';
		r->crc32c[0] = '\0';
		r->stored_length[0] = '\0';
		r->transformed = 0;
		r->err.reason[0] = r->err.message[0] = '\0';

		/* Per-attempt lines go in front: a refreshed token or a resumed range replaces
		 * them. */
		if (r->attempt_header[0]) {
			line_node = curl_slist_append(NULL, r->attempt_header);
			if (!line_node) {
				rc = -ENOMEM;
				break;
			}
			line_node->next = headers;
			headers = line_node;
		}
		if (auth_line[0]) {
			auth_node = curl_slist_append(NULL, auth_line);
			if (!auth_node) {
				rc = -ENOMEM;
				if (line_node) {
					line_node->next = NULL;
					curl_slist_free_all(line_node);
				}
				break;
			}
			auth_node->next = headers;
			headers = auth_node;
		}
		setup_handle(c, r, headers, left);
		atomic_fetch_add(&c->n_requests[op], 1);
		CURLcode cc = curl_easy_perform(r->curl);
		if (line_node) {
			line_node->next = NULL;
			curl_slist_free_all(line_node);
		}
		if (auth_node) {
			auth_node->next = NULL;
			/* The node's copy of the token must not linger in freed memory. */
			explicit_bzero(auth_node->data, strlen(auth_node->data));
			curl_slist_free_all(auth_node);
		}

		curl_off_t got = 0, sent = 0;
		curl_easy_getinfo(r->curl, CURLINFO_SIZE_DOWNLOAD_T, &got);
		curl_easy_getinfo(r->curl, CURLINFO_SIZE_UPLOAD_T, &sent);
		atomic_fetch_add(&c->n_bytes_in, (uint64_t)got);
		atomic_fetch_add(&c->n_bytes_out, (uint64_t)sent);

		if (r->sink_overflow) {
			r->xport = GCS_XPORT_OTHER;
			snprintf(r->xport_msg, sizeof(r->xport_msg),
				 "server sent more data than requested");
		} else if (r->body_overflow) {
			r->xport = GCS_XPORT_OTHER;
			snprintf(r->xport_msg, sizeof(r->xport_msg),
				 "the answer is larger than %zu bytes; not read further", r->body.max);
		} else if (r->stalled) {
			r->xport = GCS_XPORT_TIMEOUT;
			snprintf(r->xport_msg, sizeof(r->xport_msg),
				 "transfer stalled: %lld bytes in %lld ms (at least %ld bytes/s wanted)",
				 (long long)r->window_bytes, (long long)r->window_ms,
				 c->o.min_rate_bps);
		} else {
			r->xport = classify(cc);
			if (r->xport == GCS_XPORT_OK)
				curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
		}
		if (LOG_DEBUG <= log_level)
			log_request(r, cc, got, sent, attempt);
		if (r->sends > 1) {
			/* Sent twice by libcurl: the first may have been done, its answer lost. */
			log_debug("%s %s: libcurl sent the request again on a new connection", r->op,
				  r->object ? r->object : "-");
			r->uncertain = 1;
		}
		if (r->sink_overflow || r->body_overflow) {
			/* The same request would get the same answer. */
			rc = -EIO;
			log_failure(r, rc, -1, attempt, max, 0);
			break;
		}
		rc = gcs_errno(r->status, r->xport);
		if (r->status == 308 && r->accept_308)
			rc = 0;
		int damaged = 0;
		if (rc == 0 && r->check) {
			rc = r->check(r);
			damaged = rc == -EPROTO;
		}
		if (rc == 0)
			break;
		if (r->status && r->status < 300) {
			if (!r->err.reason[0])
				snprintf(r->err.reason, sizeof(r->err.reason), "%s",
					 damaged ? "damaged answer" : "unusable answer");
		} else if (r->status) {
			gcs_errbody_parse(r->body.data, r->body.len, &r->err);
		}

		if (r->status == 401 && !reauthed && auth_reject(c->o.auth, auth_line)) {
			reauthed = 1;
			log_info("%s %s: HTTP 401, refreshing the access token", r->op,
				 r->object ? r->object : "-");
			attempt--;
			continue;
		}
		if (attempt < max && gcs_retry_allowed(r, damaged)) {
			long d = gcs_retry_pause(c, t, r->sink_len > r->sink_start);

			if (d >= 0) {
				atomic_fetch_add(&c->n_retries[op], 1);
				log_failure(r, rc, d, attempt, max, 0);
				if (gcs_retry_maybe_done(r, damaged))
					r->uncertain = 1;
				gcs_retry_sleep(t, d);
				if (!r->recover)
					continue;
				rc = r->recover(c, r);
				if (rc == 0)
					continue;
				if (rc == 1)
					rc = 0;
				break;
			}
			log_failure(r, rc, -1, attempt, max, 1);
			break;
		}
		log_failure(r, rc, -1, attempt, max, 0);
		break;
	}
	/* The auth line must not linger on the stack. */
	explicit_bzero(auth_line, sizeof(auth_line));
	if (rc)
		atomic_fetch_add(&c->n_failures[op], 1);
	gcs_pool_put(&c->pool, r->curl);
	r->curl = NULL;
	return rc;
}

void gcs_req_init(struct gcs_req *r, const char *op, const char *method, const char *object)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->method = method;
	r->object = object;
	buf_init(&r->url, 64u << 10);
}

void gcs_req_free(struct gcs_req *r)
{
	buf_free(&r->url);
	buf_free(&r->body);
	curl_slist_free_all(r->headers);
}

/* One GET under the bucket's JSON URL for gcs_bucket_check(). *status is the HTTP status. */
static int bucket_probe(struct gcs_client *c, const char *op, const char *tail, int attempts,
			long *status, char *why, size_t whylen)
{
	struct gcs_req r;
	int rc;

	gcs_req_init(&r, op, "GET", NULL);
	r.max_attempts = attempts;
	/* A refusal may still be followed by a probe that works; the caller reports it. */
	r.quiet[0] = 401;
	r.quiet[1] = 403;
	rc = buf_printf(&r.url, "%s/storage/v1/b/%s%s", c->endpoint, c->bucket, tail);
	if (rc == 0)
		rc = gcs_perform(c, &r);
	*status = r.status;
	if (rc && why && whylen) {
		if (r.xport != GCS_XPORT_OK)
			snprintf(why, whylen, "cannot reach %s: %s", c->endpoint,
				 r.xport_msg[0] ? r.xport_msg : strerror(-rc));
		else if (r.status == 0)
			snprintf(why, whylen, "no access token for %s: %s",
				 auth_identity(c->o.auth), strerror(-rc));
		else if (r.status == 404)
			snprintf(why, whylen, "bucket '%s' does not exist (HTTP 404 from %s)",
				 c->bucket, c->endpoint);
		else if (r.status == 401 || r.status == 403)
			snprintf(why, whylen,
				 "access to bucket '%s' denied for %s (HTTP %ld%s%s%s%s)",
				 c->bucket, auth_identity(c->o.auth), r.status,
				 r.err.reason[0] ? " " : "", r.err.reason,
				 r.err.message[0] ? ": " : "", r.err.message);
		else
			snprintf(why, whylen, "checking bucket '%s' at %s failed: HTTP %ld%s%s%s%s",
				 c->bucket, c->endpoint, r.status, r.err.reason[0] ? " " : "",
				 r.err.reason, r.err.message[0] ? ": " : "", r.err.message);
	}
	gcs_req_free(&r);
	return rc;
}

int gcs_bucket_check(struct gcs_client *c, int attempts, char *why, size_t whylen)
{
	long status;
	int rc = bucket_probe(c, "buckets.get", "?fields=name", attempts, &status, why, whylen);

	/* Reading a bucket needs storage.objects.list, not storage.buckets.get, and many who
	 * may read lack the latter: anonymous callers of a public bucket (allUsers as object
	 * viewer) and identities with object roles only. So a refusal is checked again with the
	 * permission a mount really needs, and that answer is the one reported. */
	if (rc && (status == 401 || status == 403)) {
		log_debug("buckets.get %s refused for %s; checking objects.list instead", c->bucket,
			  auth_identity(c->o.auth));
		rc = bucket_probe(c, "objects.list", "/o?maxResults=1&fields=kind", attempts,
				  &status, why, whylen);
	}
	return rc;
}
