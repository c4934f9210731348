/* Request engine and the read-side operations of the storage client.
 *
 * Every request is a struct gcs_req run by gcs_perform(): it borrows a curl easy handle from
 * a pool (handles keep their connections alive between requests), adds the Authorization
 * header, runs the transfer, and on a transient failure sleeps a capped, jittered, doubling
 * backoff and tries again. Response bodies either go straight into a caller's buffers (object
 * data, only on 2xx, scattered over an iovec array so that a block cache receives each block in
 * its own buffer) or into a bounded struct buf (JSON and error bodies). Exactly one place maps the
 * outcome to errno (gcs/status.c) and one place logs it (log_failure below).
 *
 * Locks: pool_lock guards the handle pool only; share_locks guard libcurl's shared DNS, TLS
 * session and connection caches and are taken by libcurl itself. Neither is held while
 * another is taken by this file, and no lock is held across a transfer or a backoff sleep. */
#include "gcs/client.h"
#include "gcs/client_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "gcs/errbody.h"
#include "gcs/status.h"
#include "gcs/url.h"
#include "util/buf.h"
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
	o->connect_timeout_s = 10;
	o->io_timeout_s = 30;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct gcs_client *c = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct gcs_client *c = arg;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[data]);
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

	if (!o->endpoint || !o->bucket || !gcs_bucket_name_valid(o->bucket) || o->max_attempts < 1)
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

	pthread_mutex_init(&c->pool_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = curl_share_init();
	if (!c->share)
		goto fail_locks;
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	return c;

fail_locks:
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
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
	for (size_t i = 0; i < c->pool_len; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	free(c->xml_base);
	free(c->json_base);
	free(c->ca_file);
	free(c->user_project);
	free(c->bucket);
	free(c->endpoint);
	free(c);
}

/* Every operation the client sends, with its price class from GCS's operations table.
 * A resumable upload is billed once, as its insert; its chunks are not counted again. */
static const struct {
	const char *op;
	char price_class;
} op_table[GCS_NOPS] = {
	{"buckets.get", 'B'},
	{"objects.get", 'B'},
	{"xml.get", 'B'},
	{"objects.list", 'A'},
	{"objects.insert", 'A'},
	{"uploads.chunk", 0},
	{"objects.patch", 'A'},
	{"objects.delete", 0},
	{"objects.move", 'A'},
	{"objects.rewrite", 'A'},
	{"objects.compose", 'A'},
	{"uploads.cancel", 0},
	{"other", 0},
};

static size_t op_index(const char *op)
{
	for (size_t i = 0; i < GCS_NOPS - 1; i++)
		if (strcmp(op_table[i].op, op) == 0)
			return i;
	return GCS_NOPS - 1;
}

void gcs_get_stats(struct gcs_client *c, struct gcs_stats *out)
{
	for (size_t i = 0; i < GCS_NOPS; i++) {
		out->ops[i].op = op_table[i].op;
		out->ops[i].price_class = op_table[i].price_class;
		out->ops[i].requests = atomic_load(&c->n_requests[i]);
		out->ops[i].retries = atomic_load(&c->n_retries[i]);
		out->ops[i].failures = atomic_load(&c->n_failures[i]);
	}
	out->bytes_in = atomic_load(&c->n_bytes_in);
	out->bytes_out = atomic_load(&c->n_bytes_out);
}

static CURL *pool_get(struct gcs_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len > 0)
		h = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	return h ? h : curl_easy_init();
}

static void pool_put(struct gcs_client *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len == c->pool_cap) {
		size_t cap = c->pool_cap ? c->pool_cap * 2 : 8;
		CURL **p = realloc(c->pool, cap * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&c->pool_lock);
			curl_easy_cleanup(h);
			return;
		}
		c->pool = p;
		c->pool_cap = cap;
	}
	c->pool[c->pool_len++] = h;
	pthread_mutex_unlock(&c->pool_lock);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gcs_req *r = arg;
	size_t len = size * nmemb;
	long status = 0;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (r->sink && status >= 200 && status < 300) {
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
	return buf_append(&r->body, data, len) == 0 ? len : 0;
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

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gcs_req *r = arg;
	size_t len = size * nmemb;

	if (!header_value(data, len, "x-guploader-uploadid", r->request_id,
			  sizeof(r->request_id)) &&
	    !header_value(data, len, "location", r->location, sizeof(r->location)))
		header_value(data, len, "range", r->range, sizeof(r->range));
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
 * once still use one connection each, and the shared connection cache hands idle ones on as
 * with HTTP/1.1. */
static long http_version(const struct gcs_client *c, const char *url)
{
	if (!c->o.http2)
		return CURL_HTTP_VERSION_1_1;
	if (strncmp(url, "https://", 8) == 0)
		return CURL_HTTP_VERSION_2TLS;
	return c->h2c_version;
}

static void setup_handle(struct gcs_client *c, struct gcs_req *r, struct curl_slist *headers)
{
	CURL *h = r->curl;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_URL, r->url.data);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "gcsmount/" GCSMOUNT_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->xport_msg);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->o.connect_timeout_s);
	/* A stalled transfer is abandoned and retried rather than hanging a reader forever. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->o.io_timeout_s);
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

static void log_failure(struct gcs_client *c, const struct gcs_req *r, int rc, int retrying,
			long delay_ms, int attempt, int max_attempts)
{
	int level = LOG_ERR;
	char what[768];

	if (retrying)
		level = LOG_WARNING;
	else if (r->status && (r->status == r->quiet[0] || r->status == r->quiet[1]))
		level = LOG_DEBUG;
	if (level > log_level)
		return;

	if (r->xport != GCS_XPORT_OK)
		snprintf(what, sizeof(what), "%s", r->xport_msg[0] ? r->xport_msg : strerror(-rc));
	else
		snprintf(what, sizeof(what), "HTTP %ld%s%s%s%s", r->status,
			 r->err.reason[0] ? " " : "", r->err.reason, r->err.message[0] ? ": " : "",
			 r->err.message);
	(void)c;
	if (retrying)
		gm_log(level, "%s %s %s: %s%s%s; retry %d of %d in %ld ms", r->op,
		       r->object ? r->object : "-", r->method, what,
		       r->request_id[0] ? " request-id " : "", r->request_id, attempt,
		       max_attempts - 1, delay_ms);
	else
		gm_log(level, "%s %s %s %.*s: %s%s%s", r->op, r->object ? r->object : "-",
		       r->method, (int)(r->url_secret ? strcspn(r->url.data, "?#") : r->url.len),
		       r->url.data, what, r->request_id[0] ? " request-id " : "", r->request_id);
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

static long backoff_ms(const struct gcs_client *c, int retry, unsigned *seed)
{
	long d = c->o.retry_base_ms;

	for (int i = 0; i < retry && d < c->o.retry_max_ms; i++)
		d *= 2;
	if (d > c->o.retry_max_ms)
		d = c->o.retry_max_ms;
	/* Half fixed, half random: spreads retries of many threads without collapsing to 0. */
	return d / 2 + (long)(rand_r(seed) % (unsigned)(d / 2 + 1));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Runs the request, retrying transient failures. Returns 0 on a 2xx answer, else -errno. */
int gcs_perform(struct gcs_client *c, struct gcs_req *r)
{
	int max = r->max_attempts > 0 ? r->max_attempts : c->o.max_attempts;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)r;
	int reauthed = 0;
	int rc = -EIO;
	size_t op = op_index(r->op);
	/* Kept until the answer is known: a 401 tells auth which token was refused. */
	char auth_line[4096];

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
	r->curl = pool_get(c);
	if (!r->curl)
		return -ENOMEM;
	buf_init(&r->body, r->sink ? ERROR_BODY_MAX : JSON_BODY_MAX);

	for (int attempt = 1;; attempt++) {
		struct curl_slist *headers = r->headers;
		struct curl_slist *auth_node = NULL;

		rc = auth_header(c->o.auth, auth_line, sizeof(auth_line));
		if (rc) {
			log_error("%s %s: no access token: %s", r->op, r->object ? r->object : "-",
				  strerror(-rc));
			break;
		}
		if (auth_line[0]) {
			/* Appended for this attempt only, so a refreshed token replaces it. */
			auth_node = curl_slist_append(NULL, auth_line);
			if (!auth_node) {
				rc = -ENOMEM;
				break;
			}
			auth_node->next = r->headers;
			headers = auth_node;
		}

		buf_reset(&r->body);
		r->sink_len = 0;
		r->sink_at = 0;
		r->sink_off = 0;
		r->sink_overflow = 0;
		r->status = 0;
		r->xport_msg[0] = '\0';
		r->request_id[0] = '\0';
		r->location[0] = '\0';
		r->range[0] = '\0';
		r->err.reason[0] = r->err.message[0] = '\0';
		setup_handle(c, r, headers);
		atomic_fetch_add(&c->n_requests[op], 1);
		CURLcode cc = curl_easy_perform(r->curl);
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
		} else {
			r->xport = classify(cc);
			if (r->xport == GCS_XPORT_OK)
				curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
		}
		if (LOG_DEBUG <= log_level)
			log_request(r, cc, got, sent, attempt);
		if (r->sink_overflow) {
			rc = -EIO;
			log_failure(c, r, rc, 0, 0, attempt, max);
			break;
		}
		rc = gcs_errno(r->status, r->xport);
		if (r->status == 308 && r->accept_308)
			rc = 0;
		if (rc == 0)
			break;
		if (r->status)
			gcs_errbody_parse(r->body.data, r->body.len, &r->err);

		if (r->status == 401 && !reauthed && auth_reject(c->o.auth, auth_line)) {
			reauthed = 1;
			log_info("%s %s: HTTP 401, refreshing the access token", r->op,
				 r->object ? r->object : "-");
			attempt--;
			continue;
		}
		if (attempt < max && gcs_retryable(r->status, r->xport)) {
			long d = backoff_ms(c, attempt - 1, &seed);

			atomic_fetch_add(&c->n_retries[op], 1);
			log_failure(c, r, rc, 1, d, attempt, max);
			sleep_ms(d);
			continue;
		}
		log_failure(c, r, rc, 0, 0, attempt, max);
		break;
	}
	/* The auth line must not linger on the stack. */
	explicit_bzero(auth_line, sizeof(auth_line));
	if (rc)
		atomic_fetch_add(&c->n_failures[op], 1);
	pool_put(c, r->curl);
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

int gcs_stat(struct gcs_client *c, const char *name, struct gcs_object *out)
{
	struct gcs_req r;
	int rc;

	gcs_req_init(&r, "objects.get", "GET", name);
	r.quiet[0] = 404;
	rc = buf_printf(&r.url, "%s/o/", c->json_base);
	if (!rc)
		rc = gcs_url_encode(&r.url, name, GCS_ENC_SEGMENT);
	if (!rc)
		rc = gcs_url_add_query(&r.url, "fields", OBJECT_FIELDS);
	if (!rc)
		rc = gcs_perform(c, &r);
	if (!rc) {
		rc = gcs_object_parse(r.body.data, r.body.len, out);
		if (rc)
			log_error("objects.get %s: unreadable response from %s", name, c->endpoint);
	}
	gcs_req_free(&r);
	return rc;
}

int gcs_list(struct gcs_client *c, const struct gcs_list_query *q, struct gcs_list_page *out)
{
	struct gcs_req r;
	char maxr[24];
	int rc;

	gcs_req_init(&r, "objects.list", "GET", q->prefix);
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
	if (!rc && q->page_token)
		rc = gcs_url_add_query(&r.url, "pageToken", q->page_token);
	if (!rc && q->start_offset)
		rc = gcs_url_add_query(&r.url, "startOffset", q->start_offset);
	if (!rc && q->end_offset)
		rc = gcs_url_add_query(&r.url, "endOffset", q->end_offset);
	if (!rc)
		rc = gcs_url_add_query(&r.url, "fields",
				       "nextPageToken,prefixes,items(" LIST_ITEM_FIELDS ")");
	if (!rc)
		rc = gcs_perform(c, &r);
	if (!rc) {
		rc = gcs_list_page_parse(r.body.data, r.body.len, out);
		if (rc)
			log_error("objects.list %s: unreadable response from %s", q->prefix,
				  c->endpoint);
	}
	gcs_req_free(&r);
	return rc;
}

ssize_t gcs_readv(struct gcs_client *c, const char *name, uint64_t generation, uint64_t off,
		  const struct iovec *iov, int iovcnt)
{
	struct gcs_req r;
	char range[80], gen[24];
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
	gcs_req_init(&r, "xml.get", "GET", name);
	r.sink = iov;
	r.sink_cnt = iovcnt;
	r.sink_cap = len;
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	snprintf(gen, sizeof(gen), "%llu", (unsigned long long)generation);
	rc = buf_printf(&r.url, "%s/", c->xml_base);
	if (!rc)
		rc = gcs_url_encode(&r.url, name, GCS_ENC_PATH);
	if (!rc && generation)
		rc = gcs_url_add_query(&r.url, "generation", gen);
	if (!rc) {
		/* Stored bytes, never transcoded: sizes and ranges must mean what they say. */
		struct curl_slist *h = curl_slist_append(NULL, range);
		struct curl_slist *h2 = h ? curl_slist_append(h, "Accept-Encoding: gzip") : NULL;

		if (!h2) {
			curl_slist_free_all(h);
			rc = -ENOMEM;
		}
		r.headers = h2;
	}
	if (!rc) {
		/* 416 is the end of the object; 404 a replaced generation, which the caller
		 * reports in its own words. */
		r.quiet[0] = 416;
		r.quiet[1] = 404;
		rc = gcs_perform(c, &r);
	}
	ssize_t n = rc;
	if (rc == 0) {
		if (r.status == 200 && off != 0) {
			log_error("xml.get %s: the server ignored the Range header", name);
			n = -EIO;
		} else {
			n = (ssize_t)r.sink_len;
		}
	} else if (rc == -ERANGE) {
		n = 0; /* 416: at or past the end */
	}
	gcs_req_free(&r);
	return n;
}

ssize_t gcs_read(struct gcs_client *c, const char *name, uint64_t generation, uint64_t off,
		 size_t len, void *buf)
{
	struct iovec v = {.iov_base = buf, .iov_len = len};

	return gcs_readv(c, name, generation, off, &v, 1);
}
