/* Credential providers and the access-token cache.
 *
 * struct auth is opaque; auth_*_new() returns one, auth_free() releases it (NULL is fine).
 * auth_header() is thread-safe: callers on any thread get the header line to add to a
 * request. The token itself never leaves this module except inside that header line, and
 * nothing here logs it. */
#ifndef GCSMOUNT_AUTH_AUTH_H
#define GCSMOUNT_AUTH_AUTH_H

#include <stddef.h>

struct auth;

/* No credentials: requests carry no Authorization header (public buckets, emulators). */
struct auth *auth_anonymous_new(void);
void auth_free(struct auth *a);

/* Writes "Authorization: Bearer ..." (or "" for anonymous) into out.
 * Returns 0, -ENAMETOOLONG if out is too small, or -errno when no token can be had. */
int auth_header(struct auth *a, char *out, size_t outlen);
/* The server rejected the current token (HTTP 401): forget it so the next call refreshes.
 * Returns 1 when a retry with a fresh token makes sense, 0 otherwise. */
int auth_reject(struct auth *a);
/* Human description of the identity in use, for messages ("anonymous", an e-mail). */
const char *auth_identity(const struct auth *a);

#endif
