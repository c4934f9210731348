/* The request engine: gcs_perform() runs a struct gcs_req until it has an answer to give.
 *
 * Each attempt borrows an easy handle from the pool, adds the Authorization header (and the
 * project billed for a requester-pays bucket), runs the transfer and judges the answer: a 2xx
 * may still be refused by the caller's check (a damaged body, retried like a 5xx), a 401
 * refreshes the token once, and a transient failure is sent again when retry.c allows it.
 * The order of those steps is this file's and nothing below them is (libcurl's options and
 * callbacks are in transfer.c, the retry policy in retry.c), so that the steps read as one
 * function. Exactly one place maps the outcome to errno (gcs/status.c) and one place logs it
 * (log_failure below). No lock is held across a transfer or a pause. */
#include "gcs/client_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "gcs/errbody.h"
#include "gcs/pool_i.h"
#include "gcs/retry_i.h"
#include "gcs/stats_i.h"
#include "gcs/status.h"
#include "gcs/transfer_i.h"
#include "gcs/url.h"
#include "util/buf.h"
#include "util/log.h"

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

/* Clears what the last attempt's answer left in r, and asks a resumed body for the bytes
 * still missing. */
static void attempt_begin(struct gcs_req *r)
{
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

		attempt_begin(r);

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
		gcs_transfer_setup(c, r, headers, left);
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
			r->xport = gcs_transfer_outcome(cc);
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
