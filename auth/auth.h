/* Credentials and the access-token cache.
 *
 * struct auth is opaque. auth_discover() (or auth_anonymous_new()) returns one, and
 * auth_free() releases it (NULL is fine). auth_header(), auth_reject() and auth_identity()
 * are thread-safe: any number of threads may ask for a header at once, one of them
 * refreshes the token while the others keep using the still-valid one. The token, refresh
 * token and private key never leave this module except inside the header line, and nothing
 * here logs them or puts them into a message. The HTTP library must have been initialised
 * (gcs_global_init()) before auth_discover() is called. */
#ifndef GCSMOUNT_AUTH_AUTH_H
#define GCSMOUNT_AUTH_AUTH_H

#include <stddef.h>

struct auth;

/* What the chosen credentials may do to Cloud Storage, as far as their OAuth scopes tell. */
enum auth_access {
	AUTH_ACCESS_UNKNOWN,   /* the scopes are not known; IAM decides */
	AUTH_ACCESS_NONE,      /* no storage scope: every request would fail */
	AUTH_ACCESS_READ_ONLY, /* devstorage.read_only or cloud-platform.read-only */
	AUTH_ACCESS_READ_WRITE,
};

struct auth_config {
	const char *key_file;	/* --key-file: use this file and search nowhere else */
	int anonymous;		/* --anonymous: no credentials at all */
	const char *ca_file;	/* CA bundle for https token endpoints; NULL: the system's */
	double metadata_wait_s; /* how long to wait for a metadata server that is not up yet */
	const char *scope;	/* scope asked of service-account keys; NULL: read-write */
};

void auth_config_default(struct auth_config *c);

/* Finds credentials the way Google's tools do: the key file of the config, else
 * $GOOGLE_APPLICATION_CREDENTIALS, else gcloud's application-default credentials, else the
 * GCE metadata server (only when GCE_METADATA_HOST is set or the machine says it is a Google
 * Compute Engine VM). Fetches a first token so that a wrong key fails here, not on the first
 * read. Returns NULL with a sentence for a person in why (naming where it looked) when it
 * finds nothing usable. Warnings (a key file others may read) go to the log. */
struct auth *auth_discover(const struct auth_config *c, char *why, size_t whylen);

/* No credentials: requests carry no Authorization header (public buckets, emulators). */
struct auth *auth_anonymous_new(void);
void auth_free(struct auth *a);

/* Writes "Authorization: Bearer ..." (or "" for anonymous) into out.
 * Returns 0, -ENAMETOOLONG if out is too small, or -errno when no token can be had. */
int auth_header(struct auth *a, char *out, size_t outlen);
/* The server answered 401 to a request that carried the header line used (as written by
 * auth_header()). Forgets that token, unless another thread has already replaced it, so
 * that concurrent 401s cause one refresh. Returns 1 when a retry with a fresh token makes
 * sense, 0 otherwise (anonymous). */
int auth_reject(struct auth *a, const char *used);
/* The identity in use, for messages: a service-account e-mail, a user's account, "user
 * credentials from PATH", or "anonymous". Valid as long as a is. */
const char *auth_identity(const struct auth *a);

/* The storage access the token's scopes allow. For AUTH_ACCESS_READ_ONLY and
 * AUTH_ACCESS_NONE, writes into why (may be NULL) what is wrong and how to fix it. */
enum auth_access auth_storage_access(const struct auth *a, char *why, size_t whylen);
/* Pure: maps a list of OAuth scopes (separated by spaces, commas or newlines) to the storage
 * access they allow. NULL gives AUTH_ACCESS_UNKNOWN. */
enum auth_access auth_scopes_access(const char *scopes);

#endif
