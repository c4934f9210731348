/* One attempt's transfer, as libcurl sees it.
 *
 * Everything that configures libcurl or is called back by it is here, so that the request
 * engine deals in requests and answers, not in handle options. Response bodies either go
 * straight into a caller's buffers (object data, only on 2xx, scattered over an iovec array so
 * that a block cache receives each block in its own buffer) or into a bounded struct buf (JSON
 * and error bodies); request bodies are read from memory and a staged file without a copy.
 * Each attempt is bounded by the time left, by a connect timeout, and by a minimum rate (a
 * stalled or dripping transfer is cut, in either direction). Redirects are never followed, so
 * credentials never go to another host. */
#include "gcs/transfer_i.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gcs/client_i.h"
#include "util/buf.h"
#include "util/clock.h"

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

/* HTTP/2 over plain http: with prior knowledge, except on libcurl 7.88, which fails every
 * request that reuses such a connection with CURLE_HTTP2 (it stacks a second HTTP/2 layer on
 * it; fixed in 8.0.0). There the first request of each connection asks for an h2c upgrade
 * instead, and the connection speaks HTTP/2 from its answer on. */
long gcs_transfer_h2c_version(void)
{
	unsigned v = curl_version_info(CURLVERSION_NOW)->version_num;

	if (v >= 0x075800 && v < 0x080000)
		return CURL_HTTP_VERSION_2_0;
	return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
}

/* Set on every request, so the protocol never depends on libcurl's default. Over TLS, ALPN
 * picks HTTP/2 when the server offers it and falls back to HTTP/1.1; plain http has no ALPN,
 * so there the server must speak cleartext HTTP/2 (gcs_transfer_h2c_version()). Each transfer
 * runs on its own easy handle, and libcurl multiplexes only within one multi handle: requests
 * in flight at once still use one connection each, and each handle keeps its own for the next
 * request, as with HTTP/1.1. */
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

void gcs_transfer_setup(struct gcs_client *c, struct gcs_req *r, struct curl_slist *headers,
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

enum gcs_xport gcs_transfer_outcome(CURLcode cc)
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
