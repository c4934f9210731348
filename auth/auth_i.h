/* Inside auth/: the provider interface behind struct auth, the providers' constructors, and
 * the small HTTP helper they share. Not for use outside auth/ (and its unit tests). */
#ifndef GCSMOUNT_AUTH_AUTH_I_H
#define GCSMOUNT_AUTH_AUTH_I_H

#include <stddef.h>

#include "auth/auth.h"
#include "auth/keyfile.h"
#include "auth/token.h"
#include "util/buf.h"

#define AUTH_SCOPE_PREFIX "https://www.googleapis.com/auth/"
#define AUTH_SCOPE_READ_WRITE AUTH_SCOPE_PREFIX "devstorage.read_write"

/* A source of access tokens. fetch() is called by one thread at a time and without the
 * token cache's lock held, so it may block on the network. On failure it returns -errno and
 * writes a sentence for a person (never a secret) into why. free() releases state. */
struct auth_provider {
	int (*fetch)(void *state, struct auth_token *out, char *why, size_t whylen);
	void (*free)(void *state);
};

/* Wraps a provider in the token cache. Takes ownership of state, which is freed with
 * p->free() even when this fails (NULL: out of memory). identity is copied; scopes (the
 * scopes the tokens carry, if known) too, and may be NULL. */
struct auth *auth_new(const struct auth_provider *p, void *state, const char *identity,
		      const char *scopes);

/* Providers. Each returns NULL with a sentence in why when the credentials cannot be used.
 * The key file is consumed (its secrets move into the provider, the rest is freed) whether
 * or not this succeeds. path is where it was read from, for messages. */
struct auth *auth_oauth_new(struct auth_keyfile *k, const char *path, const struct auth_config *c,
			    char *why, size_t whylen);
/* host is "host[:port]" of the metadata server. Waits up to c->metadata_wait_s for it. */
struct auth *auth_metadata_new(const char *host, const struct auth_config *c, char *why,
			       size_t whylen);

/* Fetches a token into the cache now; on failure, why says what went wrong. */
int auth_prime(struct auth *a, char *why, size_t whylen);

/* One HTTP request of a provider. Transient failures (no connection, 408, 429, 5xx) are
 * retried with a doubling backoff, attempts times or for wait_s seconds, whichever lasts
 * longer. */
struct auth_http_req {
	const char *url;
	const char *form;    /* a form-encoded POST body (a secret), or NULL for a GET */
	int metadata;	     /* metadata server: sends and requires Metadata-Flavor: Google */
	const char *ca_file; /* NULL: the system's CA store */
	int attempts;
	double wait_s;
};

struct auth_http_resp {
	long status; /* the final HTTP status, 0 when none arrived */
	char *body;  /* NUL-terminated; may hold a token: auth_http_resp_free() scrubs it */
	size_t len;
	char error[256]; /* what went wrong when status is 0 */
};

/* Returns 0 once an answer arrived (whatever its status), or -errno with resp->error set.
 * The caller frees resp with auth_http_resp_free() in either case. */
int auth_http(const struct auth_http_req *req, struct auth_http_resp *resp);
void auth_http_resp_free(struct auth_http_resp *resp);
/* Appends name=value, form-encoded, to a body being built ("&" between pairs). */
int auth_form_add(struct buf *form, const char *name, const char *value);

#endif
