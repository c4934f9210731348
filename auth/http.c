/* HTTP for token endpoints and the metadata server.
 *
 * Token fetches are rare (about once an hour), so each request uses a fresh curl handle
 * rather than gcs/'s pool, and auth/ stays independent of gcs/. Bodies carry secrets both
 * ways (assertions and refresh tokens out, access tokens back), so the answer goes into one
 * fixed buffer that is scrubbed when freed, and verbose tracing is never enabled. TLS
 * verification stays on; ca_file only replaces the CA store, for private CAs.
 *
 * The metadata server gets no proxy and a short connect timeout: it is a link-local service,
 * and a proxy in between would be a way to steal the VM's tokens. */
#include "auth/auth_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/log.h"

#define BODY_MAX (64u << 10)

struct answer {
	struct auth_http_resp *resp;
	int overflow;
	int flavor_google;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct answer *ans = arg;
	struct auth_http_resp *r = ans->resp;
	size_t len = size * nmemb;

	if (len > BODY_MAX - r->len) {
		ans->overflow = 1;
		return 0;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct answer *ans = arg;
	size_t len = size * nmemb;
	static const char name[] = "metadata-flavor:";
	const char *v;
	size_t n;

	if (len < sizeof(name) || strncasecmp(data, name, sizeof(name) - 1) != 0)
		return len;
	v = data + sizeof(name) - 1;
	n = len - (sizeof(name) - 1);
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	ans->flavor_google = n == 6 && strncmp(v, "Google", 6) == 0;
	return len;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The debug line of one attempt, like gcs/'s: the URL without its query; no body or
 * header. */
static void log_attempt(CURL *h, const struct auth_http_req *req, const struct auth_http_resp *resp,
			int rc, int n)
{
	curl_off_t us = 0;
	char what[sizeof(resp->error) + 16];

	curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
	if (rc || !resp->status)
		snprintf(what, sizeof(what), "%s", resp->error);
	else
		snprintf(what, sizeof(what), "%ld", resp->status);
	gm_log(LOG_DEBUG, "request %s %s %.*s: %s, %zu bytes in, %zu out, %lld ms, attempt %d",
	       req->metadata ? "auth.metadata" : "auth.token", req->form ? "POST" : "GET",
	       (int)strcspn(req->url, "?#"), req->url, what, resp->len,
	       req->form ? strlen(req->form) : 0, (long long)(us / 1000), n);
}

/* One attempt. Returns 0 with resp->status set, or -errno with resp->error set. */
static int attempt(CURL *h, const struct auth_http_req *req, struct auth_http_resp *resp)
{
	struct answer ans = {.resp = resp};
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	int rc = 0;

	resp->len = 0;
	resp->body[0] = '\0';
	resp->status = 0;
	if (req->metadata) {
		headers = curl_slist_append(NULL, "Metadata-Flavor: Google");
		if (!headers)
			return -ENOMEM;
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "gcsmount/" GCSMOUNT_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 added _STR and deprecated the bitmask */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &ans);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, req->metadata ? 2L : 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, req->metadata ? 10L : 30L);
	if (req->metadata)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (req->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
	if (req->form) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->form);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(req->form));
	}
	cc = curl_easy_perform(h);
	if (ans.overflow) {
		snprintf(resp->error, sizeof(resp->error), "%s sent an answer over %u KiB",
			 req->url, BODY_MAX >> 10);
		rc = -EPROTO;
	} else if (cc != CURLE_OK) {
		snprintf(resp->error, sizeof(resp->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
		     : cc == CURLE_OUT_OF_MEMORY    ? -ENOMEM
						    : -EHOSTUNREACH;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (req->metadata && resp->status == 200 && !ans.flavor_google) {
			snprintf(resp->error, sizeof(resp->error),
				 "%s answered without \"Metadata-Flavor: Google\", so it is not a "
				 "metadata server",
				 req->url);
			resp->status = 0;
			rc = -EPROTO;
		}
	}
	curl_slist_free_all(headers);
	return rc;
}

static int transient(int rc, long status)
{
	if (rc)
		return rc != -EPROTO && rc != -ENOMEM;
	return status == 408 || status == 429 || status >= 500;
}

int auth_http(const struct auth_http_req *req, struct auth_http_resp *resp)
{
	double start = now_s(), delay = 0.2;
	CURL *h;
	int rc;

	memset(resp, 0, sizeof(*resp));
	resp->body = malloc(BODY_MAX + 1);
	h = curl_easy_init();
	if (!resp->body || !h) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		curl_easy_cleanup(h);
		return -ENOMEM;
	}
	for (int n = 1;; n++) {
		rc = attempt(h, req, resp);
		if (LOG_DEBUG <= log_level)
			log_attempt(h, req, resp, rc, n);
		if (!transient(rc, resp->status))
			break;
		double left = req->wait_s - (now_s() - start);
		if (n >= req->attempts && left <= 0)
			break;
		if (n >= req->attempts && delay > left)
			delay = left;
		log_debug("%s: trying again in %.1f s",
			  req->metadata ? "auth.metadata" : "auth.token", delay);
		sleep_s(delay);
		delay = delay * 2 > 5 ? 5 : delay * 2;
	}
	curl_easy_cleanup(h);
	return rc;
}

void auth_http_resp_free(struct auth_http_resp *resp)
{
	if (resp->body) {
		explicit_bzero(resp->body, BODY_MAX + 1);
		free(resp->body);
	}
	resp->body = NULL;
	resp->len = 0;
}

int auth_form_add(struct buf *form, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = form->len ? buf_append(form, "&", 1) : 0;

	if (!rc)
		rc = buf_append_str(form, name);
	if (!rc)
		rc = buf_append(form, "=", 1);
	for (const unsigned char *p = (const unsigned char *)value; *p && !rc; p++) {
		char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			rc = buf_append(form, p, 1);
		else
			rc = buf_append(form, esc, 3);
	}
	return rc;
}
