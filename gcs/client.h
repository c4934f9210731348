/* The storage client: every request gcsmount sends to GCS goes through here.
 *
 * struct gcs_client is opaque and thread-safe: any number of threads may call the
 * operations at once (each request borrows a pooled curl handle). The client borrows the
 * struct auth it is given, which must outlive it. Operations return 0 (or a byte count) on
 * success and a negative errno on failure; the HTTP status, GCS reason and request id of a
 * failure are logged here, once. Transient failures (408, 429, 5xx, resets, stalls, damaged
 * answers) are retried with capped, jittered exponential backoff, within a deadline per
 * operation: a request with its retries (a read with its resumptions, an upload chunk with
 * the status queries after it) never takes longer than retry_deadline_s, so a resumable upload
 * takes at most that per chunk. A failure that outlasts it comes back as the errno of its
 * last attempt: -ETIMEDOUT when the server stopped answering (a stall, or the deadline cut
 * the transfer), -EIO when it kept answering with errors. */
#ifndef GCSMOUNT_GCS_CLIENT_H
#define GCSMOUNT_GCS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gcs/object.h"

struct auth;
struct gcs_client;

struct gcs_client_opts {
	const char *endpoint; /* "scheme://host[:port]", see gcs_endpoint_normalize() */
	const char *bucket;   /* must satisfy gcs_bucket_name_valid() */
	struct auth *auth;
	const char *ca_file;	  /* NULL: the system's CA store */
	const char *user_project; /* project billed for requester-pays buckets, or NULL */
	int max_attempts;	  /* tries per request, >= 1 */
	long retry_base_ms;	  /* first backoff; doubles per retry */
	long retry_max_ms;	  /* backoff ceiling */
	double retry_deadline_s;  /* budget of one operation, retries and resumptions included */
	long connect_timeout_s;	  /* TCP and TLS set-up */
	long io_timeout_s;	  /* a transfer slower than min_rate_bps for this long ... */
	long min_rate_bps;	  /* ... is abandoned (and retried), in either direction */
	unsigned long list_max_pages; /* pages one listing may take before it is called endless */
	int http2;	   /* 0: HTTP/1.1; 1: HTTP/2, by ALPN over https, as h2c over http */
};

/* Request accounting, by operation. class is the operation's price class ('A', 'B', or 0
 * for free operations); every attempt counts as a request, as GCS bills it. */
struct gcs_op_stats {
	const char *op;
	char price_class;
	uint64_t requests, retries, failures;
};

#define GCS_NOPS 13

struct gcs_stats {
	struct gcs_op_stats ops[GCS_NOPS];
	uint64_t bytes_in, bytes_out;
};

/* Process-wide set-up of the HTTP library: once in main, before any thread starts. */
int gcs_global_init(void);
void gcs_global_cleanup(void);

void gcs_client_opts_default(struct gcs_client_opts *o);
/* Returns NULL on allocation failure or invalid options. */
struct gcs_client *gcs_client_new(const struct gcs_client_opts *o);
void gcs_client_free(struct gcs_client *c);

/* buckets.get, or objects.list of one object when buckets.get is refused (reading needs only
 * the latter). On failure, writes a sentence for a person into why (which may be NULL),
 * naming the bucket, the endpoint, the identity and what went wrong. attempts bounds the
 * retries so that a mount against an unreachable endpoint fails promptly. */
int gcs_bucket_check(struct gcs_client *c, int attempts, char *why, size_t whylen);

/* objects.get (metadata only). -ENOENT when there is no such object; a damaged answer is
 * retried, then fails with -EPROTO. */
int gcs_stat(struct gcs_client *c, const char *name, struct gcs_object *out);

struct gcs_list_query {
	const char *prefix;	  /* "" for the whole bucket */
	const char *delimiter;	  /* NULL for a flat listing */
	const char *page_token;	  /* NULL for the first page */
	int max_results;	  /* 0: the server's maximum (1000) */
	const char *start_offset; /* names from this one on, or NULL */
	const char *end_offset;	  /* names before this one, or NULL */
};
/* One page of objects.list; the caller loops on out->next_page_token, which it passes back
 * unchanged: the token also carries what detects a server that pages for ever (a token that
 * comes back, pages that go backwards, more than list_max_pages pages), which fails the
 * listing with -EIO. A damaged answer is retried, then fails with -EPROTO. */
int gcs_list(struct gcs_client *c, const struct gcs_list_query *q, struct gcs_list_page *out);

/* Reads up to len bytes at off of the given generation through the XML API. Returns the
 * byte count (short only at the end of the object; 0 at or past it) or a negative errno:
 * -ENOENT when that generation no longer exists. A body that breaks off is resumed from the
 * bytes already received. A body whose length disagrees with the object's size, or (when it
 * is the whole object) whose CRC32C disagrees with the object's, is fetched again and finally
 * fails with -EIO: wrong bytes are never returned. */
ssize_t gcs_read(struct gcs_client *c, const char *name, uint64_t generation, uint64_t off,
		 size_t len, void *buf);

/* gcs_read() with one ranged GET into iovcnt buffers: the bytes from off fill iov[0], then
 * iov[1], and so on; the length asked for is the sum of the iov_len. Each byte is copied once,
 * from the HTTP library's receive buffer to its place. -EINVAL if the lengths add up past
 * SSIZE_MAX. */
ssize_t gcs_readv(struct gcs_client *c, const char *name, uint64_t generation, uint64_t off,
		  const struct iovec *iov, int iovcnt);

void gcs_get_stats(struct gcs_client *c, struct gcs_stats *out);

#endif
