/* Scrubbing memory that held a secret (token, refresh token, client secret, private key,
 * signed assertion) before it goes back to the allocator, so that a core dump or a later
 * allocation does not find it. Header-only: every file of auth/ and its unit tests use it. */
#ifndef GCSMOUNT_AUTH_SECRET_H
#define GCSMOUNT_AUTH_SECRET_H

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static inline void auth_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static inline void auth_secret_buf_free(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

#endif
