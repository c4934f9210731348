/* The signed JWT that a service-account key exchanges for an access token (RFC 7523):
 * base64url, loading the key's PEM private key, and building and signing the assertion with
 * RS256 (RSASSA-PKCS1-v1_5 over SHA-256). Pure apart from the clock the caller passes in; no
 * I/O and no logging. The only file of gcsmount that signs with OpenSSL. */
#ifndef GCSMOUNT_AUTH_JWT_H
#define GCSMOUNT_AUTH_JWT_H

#include <openssl/evp.h>
#include <stddef.h>

#include "util/buf.h"

/* Appends the base64url encoding of data (no padding) to out. Returns 0 or -errno. */
int auth_b64url(struct buf *out, const void *data, size_t len);

/* Loads an unencrypted RSA private key from PEM text (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA
 * PRIVATE KEY"). Never prompts for a passphrase. Returns NULL when pem holds no such key.
 * The caller frees the key with EVP_PKEY_free(). */
EVP_PKEY *auth_jwt_key_load(const char *pem);

struct auth_jwt_claims {
	const char *kid;   /* private_key_id, or NULL */
	const char *iss;   /* the service account's e-mail */
	const char *scope; /* space-separated scopes */
	const char *aud;   /* the token endpoint */
	long long iat;	   /* issued at, seconds since the epoch */
	long long exp;	   /* expiry, at most an hour after iat */
};

/* Appends header.claims.signature to out. The result is a credential: scrub it after use.
 * Returns 0, -EINVAL (a key that cannot sign), or -ENOMEM. */
int auth_jwt_sign(EVP_PKEY *key, const struct auth_jwt_claims *c, struct buf *out);

#endif
