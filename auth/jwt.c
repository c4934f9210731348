/* RS256 assertions for the JWT-bearer grant.
 *
 * The header and claims are serialised with json-c so that an unusual e-mail or scope cannot
 * break the JSON, then base64url-encoded and signed with EVP_DigestSign (SHA-256, PKCS#1 v1.5
 * padding, which is what RS256 means). OpenSSL's error queue is cleared after a failure so
 * that nothing stale surfaces later in another module's report. */
#include "auth/jwt.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

#include "auth/secret.h"

int auth_b64url(struct buf *out, const void *data, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	char quad[4];
	int rc = 0;

	for (size_t i = 0; i < len && !rc; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;
		size_t n = len - i >= 3 ? 4 : len - i + 1;

		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		quad[0] = abc[(v >> 18) & 63];
		quad[1] = abc[(v >> 12) & 63];
		quad[2] = abc[(v >> 6) & 63];
		quad[3] = abc[v & 63];
		rc = buf_append(out, quad, n);
	}
	return rc;
}

/* Refuses to ask for a passphrase: an encrypted key is a malformed key file here, and a
 * daemon must never wait on a terminal prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *auth_jwt_key_load(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = NULL;

	if (!bio)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key && EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	ERR_clear_error();
	return key;
}

static int append_json_b64(struct buf *out, json_object *o)
{
	size_t len;
	const char *s;

	if (!o)
		return -ENOMEM;
	s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	return s ? auth_b64url(out, s, len) : -ENOMEM;
}

static int add_string(json_object *o, const char *key, const char *value)
{
	json_object *v = json_object_new_string(value);

	if (!v || json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int add_int(json_object *o, const char *key, long long value)
{
	json_object *v = json_object_new_int64(value);

	if (!v || json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int auth_jwt_sign(EVP_PKEY *key, const struct auth_jwt_claims *c, struct buf *out)
{
	json_object *hdr = json_object_new_object();
	json_object *claims = json_object_new_object();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	size_t start = out->len;
	int rc = -ENOMEM;

	if (!hdr || !claims || !md)
		goto out;
	if (add_string(hdr, "alg", "RS256") || add_string(hdr, "typ", "JWT") ||
	    (c->kid && c->kid[0] && add_string(hdr, "kid", c->kid)))
		goto out;
	if (add_string(claims, "iss", c->iss) || add_string(claims, "scope", c->scope) ||
	    add_string(claims, "aud", c->aud) || add_int(claims, "iat", c->iat) ||
	    add_int(claims, "exp", c->exp))
		goto out;
	rc = append_json_b64(out, hdr);
	if (!rc)
		rc = buf_append(out, ".", 1);
	if (!rc)
		rc = append_json_b64(out, claims);
	if (rc)
		goto out;

	rc = -EINVAL;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)out->data + start,
			   out->len - start) != 1)
		goto out;
	sig = malloc(siglen);
	if (!sig) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out->data + start,
			   out->len - start) != 1)
		goto out;
	rc = buf_append(out, ".", 1);
	if (!rc)
		rc = auth_b64url(out, sig, siglen);
out:
	if (rc && out->data) {
		/* Leave out as it was: no half-built assertion. */
		explicit_bzero(out->data + start, out->len - start);
		out->len = start;
		out->data[start] = '\0';
	}
	if (sig) {
		explicit_bzero(sig, siglen);
		free(sig);
	}
	EVP_MD_CTX_free(md);
	json_object_put(claims);
	json_object_put(hdr);
	ERR_clear_error();
	return rc;
}
