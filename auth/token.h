/* Parsing what token endpoints answer: the access-token reply shared by the OAuth token
 * endpoint and the metadata server, and the OAuth error reply. Pure functions, no I/O;
 * nothing here logs. */
#ifndef GCSMOUNT_AUTH_TOKEN_H
#define GCSMOUNT_AUTH_TOKEN_H

#include <stddef.h>

struct auth_token {
	char *value;	 /* the access token: a secret, scrubbed by auth_token_clear() */
	long expires_in; /* seconds of validity, counted from when the answer arrived */
};

/* Releases and scrubs the token; t may hold nothing. */
void auth_token_clear(struct auth_token *t);

/* Parses {"access_token": "...", "expires_in": N, "token_type": "Bearer"}. expires_in may be
 * a number or a string of digits, as servers differ. Returns 0, or -EPROTO when the reply is
 * not such an object (out is then empty), or -ENOMEM. The caller owns out. */
int auth_token_parse(const char *body, size_t len, struct auth_token *out);

/* Copies len bytes of s (a server's or a file's text) into dst for a message: printable ASCII
 * only, anything else (line breaks, control sequences) becomes a space, and spaces at either
 * end are dropped. dst is always terminated. */
void auth_text_copy(char *dst, size_t dstlen, const char *s, size_t len);

/* Extracts the OAuth error code and description ({"error": "invalid_grant",
 * "error_description": "..."}) as printable text; empty strings when the body has none. */
void auth_oauth_error_parse(const char *body, size_t len, char *error, size_t errlen, char *desc,
			    size_t desclen);

#endif
