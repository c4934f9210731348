/* Private to gcs/: the client's state (client.c) and the request engine (request.c) that its
 * operation files share.
 *
 * A struct gcs_req is set up with gcs_req_init(), given a URL, headers and optionally a body,
 * run with gcs_perform() (which retries), inspected, and released with gcs_req_free(). */
#ifndef GCSMOUNT_GCS_CLIENT_I_H
#define GCSMOUNT_GCS_CLIENT_I_H

#include <curl/curl.h>
#include <stdint.h>
#include <sys/uio.h>

#include "gcs/client.h"
#include "gcs/errbody.h"
#include "gcs/pool_i.h"
#include "gcs/retry_i.h"
#include "gcs/status.h"
#include "util/buf.h"

/* The attributes gcsmount reads. Listings ask for these only: they carry them for every
 * entry, and a short list keeps them small. */
#define LIST_ITEM_FIELDS "name,size,generation,metageneration,updated,crc32c,contentType,metadata"
/* One object's resource adds the writable fields that rewriting its data must carry over
 * (struct gcs_object.keep_json); staging a file for writing reads it this way. */
#define OBJECT_FIELDS                                                                        \
	LIST_ITEM_FIELDS ",contentEncoding,cacheControl,contentDisposition,contentLanguage," \
			 "customTime,storageClass"

#define JSON_BODY_MAX (64u << 20)
#define ERROR_BODY_MAX (64u << 10)

struct gcs_client {
	struct gcs_client_opts o;
	char *endpoint;
	char *bucket;
	char *ca_file;
	char *user_project;
	char *json_base;  /* .../storage/v1/b/BUCKET */
	char *xml_base;	  /* .../BUCKET */
	long h2c_version; /* CURLOPT_HTTP_VERSION for HTTP/2 over plain http */

	struct gcs_pool pool;

	/* Request accounting (stats.c), by gcs_stats_op() index. */
	_Atomic uint64_t n_requests[GCS_NOPS], n_retries[GCS_NOPS], n_failures[GCS_NOPS];
	_Atomic uint64_t n_bytes_in, n_bytes_out;
};

/* A request body: head bytes, then a range of a file, then tail bytes (any part may be
 * empty). It is re-read from the start on every attempt, so retries resend it whole. */
struct gcs_body {
	const char *head;
	size_t head_len;
	int fd; /* -1: no file part */
	uint64_t fd_off, fd_len;
	const char *tail;
	size_t tail_len;
	uint64_t pos; /* read position within the whole body, reset per attempt */
};

struct gcs_req;
/* Validates a 2xx answer (parses it into the caller's place). Returns 0 to accept it,
 * -EPROTO when the answer is damaged (retried like a 5xx: the next answer may be whole), or
 * another negative errno to fail at once. */
typedef int (*gcs_check_fn)(struct gcs_req *r);
/* Runs after the pause before a retry: it may ask the server what the failed attempt achieved
 * and change the request to match (a resumable upload's body and Content-Range). Returns 0 to
 * send the request again, 1 when nothing is left to send (gcs_perform then returns 0), or a
 * negative errno to fail with. */
typedef int (*gcs_recover_fn)(struct gcs_client *c, struct gcs_req *r);

struct gcs_req {
	const char *op;	    /* operation name for the log, e.g. "objects.get" */
	const char *object; /* object name for the log, or NULL */
	const char *method;
	struct buf url;
	struct curl_slist *headers;
	int max_attempts;	   /* 0: the client's default */
	long quiet[2];		   /* HTTP statuses that are expected answers (logged at debug) */
	int accept_308;		   /* a resumable upload's "keep going" counts as success */
	struct gcs_body *body_out; /* request body, or NULL */
	int url_secret; /* the query is a credential (an upload session's ID): not logged */
	/* Without a precondition a mutation is not idempotent: it is sent again only when the
	 * server surely did not act on it (no connection, or a 408/429 refusal). */
	int not_idempotent;
	struct gcs_retry *retry; /* the operation's budget; NULL: this request's own */
	gcs_check_fn check;	 /* NULL: any 2xx is accepted */
	gcs_recover_fn recover;	 /* NULL: a retry sends the same request */
	void *check_arg;	 /* for check and recover */
	/* A header line of this attempt ("Range: ..", "Content-Range: .."), or "". */
	char attempt_header[128];
	/* The sink holds bytes [sink_base, sink_base + sink_cap) of an object, and keeps what a
	 * 2xx body delivered across attempts: each attempt asks (in attempt_header) only for what
	 * is still missing. A check that finds the bytes wrong empties the sink again. */
	int sink_resume;
	uint64_t sink_base;

	/* Response. */
	const struct gcs_client *client;
	CURL *curl;
	long status;
	enum gcs_xport xport;
	char xport_msg[CURL_ERROR_SIZE];
	struct buf body;
	int body_overflow; /* a 2xx body passed the buffer's ceiling */
	/* Rate watchdog of the current attempt: bytes moved (both ways) when its window began. */
	int64_t window_ms;
	int64_t window_bytes;
	int stalled; /* the watchdog cut the transfer */
	int sends;   /* times this attempt's request went out (libcurl resends on its own) */
	/* Set when an attempt whose outcome is unknown (the answer was lost or damaged, or a
	 * 5xx) was followed by another: the final answer may describe the state that the lost
	 * attempt itself created (a 404 for a delete that happened). */
	int uncertain;
	/* When sink is set, 2xx bodies are scattered over its sink_cnt buffers, in order, which
	 * hold sink_cap bytes in all. sink_len bytes came so far; the next goes to sink[sink_at] at
	 * sink_off. */
	const struct iovec *sink;
	int sink_cnt, sink_at;
	size_t sink_cap, sink_len, sink_off;
	size_t sink_start; /* sink_len when the current attempt began */
	int sink_overflow;
	char request_id[128];
	char location[2048];	  /* Location header, for resumable sessions and redirects */
	char range[64];		  /* Range header of a 308 */
	char content_range[96];	  /* Content-Range of a 206 */
	char crc32c[16];	  /* crc32c= of x-goog-hash (the whole object's), base64 */
	char stored_length[24];	  /* x-goog-stored-content-length */
	int transformed;	  /* the body is not the stored bytes (decompressed on the way) */
	struct gcs_errinfo err;
};

void gcs_req_init(struct gcs_req *r, const char *op, const char *method, const char *object);
void gcs_req_free(struct gcs_req *r);
/* Runs the request, retrying transient failures within the deadline. Returns 0 on a 2xx
 * answer that check accepted (or a 308 when accept_308 is set), else -errno; failures are
 * logged once. */
int gcs_perform(struct gcs_client *c, struct gcs_req *r);

/* Whether url has the scheme, host and port of the client's endpoint (a session URI or a
 * redirect that leads elsewhere must not receive the credentials). */
int gcs_same_origin(const struct gcs_client *c, const char *url);

#endif
