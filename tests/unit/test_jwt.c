/* Unit tests of auth/jwt.c: base64url, key loading, and RS256 assertions that verify with the
 * public half of a key generated here. */
#include "check.h"

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#include "auth/jwt.h"

static const char *b64url(const char *data, size_t len, struct buf *b)
{
	buf_free(b);
	buf_init(b, 1 << 20);
	CHECK(auth_b64url(b, data, len) == 0);
	return b->data ? b->data : "";
}

static void base64url_matches_rfc4648_without_padding(void)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	CHECK_STR(b64url("", 0, &b), "");
	CHECK_STR(b64url("f", 1, &b), "Zg");
	CHECK_STR(b64url("fo", 2, &b), "Zm8");
	CHECK_STR(b64url("foo", 3, &b), "Zm9v");
	CHECK_STR(b64url("foob", 4, &b), "Zm9vYg");
	CHECK_STR(b64url("fooba", 5, &b), "Zm9vYmE");
	CHECK_STR(b64url("foobar", 6, &b), "Zm9vYmFy");
	/* The two characters where base64url differs from base64 ("+/"). */
	CHECK_STR(b64url("\xfb\xff", 2, &b), "-_8");
	CHECK_STR(b64url("\x00\x00\x00", 3, &b), "AAAA");
	buf_free(&b);
}

/* PEM text of a key, written by OpenSSL in the given form. */
static char *pem_of(EVP_PKEY *key, int traditional, const char *pass)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;
	int ok;

	if (pass)
		ok = PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_128_cbc(), NULL, 0, NULL,
						   (void *)pass);
	else if (traditional)
		ok = PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	CHECK(ok == 1);
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

static EVP_PKEY *test_key(void)
{
	static EVP_PKEY *key;

	if (!key)
		key = EVP_RSA_gen(2048);
	CHECK(key != NULL);
	return key;
}

static void keys_load_from_pkcs8_and_pkcs1_pem(void)
{
	char *pkcs8 = pem_of(test_key(), 0, NULL);
	char *pkcs1 = pem_of(test_key(), 1, NULL);
	EVP_PKEY *a = auth_jwt_key_load(pkcs8);
	EVP_PKEY *b = auth_jwt_key_load(pkcs1);

	CHECK(strstr(pkcs8, "BEGIN PRIVATE KEY") != NULL);
	CHECK(strstr(pkcs1, "BEGIN RSA PRIVATE KEY") != NULL);
	CHECK(a != NULL && b != NULL);
	CHECK(a && EVP_PKEY_eq(a, test_key()) == 1);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	free(pkcs8);
	free(pkcs1);
}

static void unusable_keys_are_refused_without_a_prompt(void)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	char *ec_pem = pem_of(ec, 0, NULL);
	char *encrypted = pem_of(test_key(), 0, "secret");
	char *pkcs8 = pem_of(test_key(), 0, NULL);

	CHECK(auth_jwt_key_load("") == NULL);
	CHECK(auth_jwt_key_load("not a key") == NULL);
	CHECK(auth_jwt_key_load(ec_pem) == NULL);
	CHECK(strstr(encrypted, "ENCRYPTED") != NULL);
	CHECK(auth_jwt_key_load(encrypted) == NULL);
	/* A body with a line missing. */
	char *line = strchr(pkcs8 + strlen(pkcs8) / 2, '\n');
	memmove(line + 1, line + 66, strlen(line + 66) + 1);
	CHECK(auth_jwt_key_load(pkcs8) == NULL);
	EVP_PKEY_free(ec);
	free(ec_pem);
	free(encrypted);
	free(pkcs8);
}

/* Decodes base64url (no padding) into a NUL-terminated string; the test's own decoder. */
static char *unb64url(const char *s, size_t len, size_t *outlen)
{
	char *out = calloc(1, len + 1);
	unsigned long v = 0;
	int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		const char *abc =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *p = strchr(abc, s[i]);

		CHECK(p != NULL && s[i] != '\0');
		v = (v << 6) | (unsigned long)(p - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((v >> bits) & 0xff);
		}
	}
	*outlen = n;
	return out;
}

static json_object *json_part(const char *s, size_t len)
{
	size_t n;
	char *text = unb64url(s, len, &n);
	json_object *o = json_tokener_parse(text);

	free(text);
	CHECK(o != NULL);
	return o;
}

static const char *field(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int verifies(EVP_PKEY *key, const char *signed_part, size_t len, const char *sig64)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t siglen;
	char *sig = unb64url(sig64, strlen(sig64), &siglen);
	int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestVerify(md, (unsigned char *)sig, siglen,
				  (const unsigned char *)signed_part, len) == 1;

	EVP_MD_CTX_free(md);
	free(sig);
	return ok;
}

/* A signed assertion taken apart: the text, where its dots are, and its decoded JSON. */
struct parts {
	struct buf jwt;
	char *dot1, *dot2;
	json_object *hdr, *claims;
};

/* Signs c and splits the result; returns 0 when it has exactly three parts. */
static int sign_and_split(const struct auth_jwt_claims *c, struct parts *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->jwt, 1 << 16);
	CHECK(auth_jwt_sign(test_key(), c, &p->jwt) == 0);
	p->dot1 = p->jwt.data ? strchr(p->jwt.data, '.') : NULL;
	p->dot2 = p->dot1 ? strchr(p->dot1 + 1, '.') : NULL;
	CHECK(p->dot2 && !strchr(p->dot2 + 1, '.'));
	if (!p->dot2)
		return -1;
	p->hdr = json_part(p->jwt.data, (size_t)(p->dot1 - p->jwt.data));
	p->claims = json_part(p->dot1 + 1, (size_t)(p->dot2 - p->dot1 - 1));
	return 0;
}

static void parts_free(struct parts *p)
{
	json_object_put(p->hdr);
	json_object_put(p->claims);
	buf_free(&p->jwt);
}

static void assertion_has_rs256_header_claims_and_a_valid_signature(void)
{
	struct auth_jwt_claims c = {
		.kid = "kid-1",
		.iss = "sa@p.iam.gserviceaccount.com",
		.scope = "https://www.googleapis.com/auth/devstorage.read_write",
		.aud = "https://oauth2.googleapis.com/token",
		.iat = 1700000000,
		.exp = 1700003600,
	};
	struct parts p;

	if (sign_and_split(&c, &p) == 0) {
		size_t signed_len = (size_t)(p.dot2 - p.jwt.data);

		CHECK(strchr(p.jwt.data, '=') == NULL);
		CHECK_STR(field(p.hdr, "alg"), "RS256");
		CHECK_STR(field(p.hdr, "typ"), "JWT");
		CHECK_STR(field(p.hdr, "kid"), "kid-1");
		CHECK_STR(field(p.claims, "iss"), c.iss);
		CHECK_STR(field(p.claims, "scope"), c.scope);
		CHECK_STR(field(p.claims, "aud"), c.aud);
		CHECK_STR(field(p.claims, "iat"), "1700000000");
		CHECK_STR(field(p.claims, "exp"), "1700003600");
		CHECK(verifies(test_key(), p.jwt.data, signed_len, p.dot2 + 1));
		/* Any change to the signed part breaks the signature. */
		p.dot1[3] = p.dot1[3] == 'A' ? 'B' : 'A';
		CHECK(!verifies(test_key(), p.jwt.data, signed_len, p.dot2 + 1));
	}
	parts_free(&p);
}

static void unusual_characters_stay_valid_json(void)
{
	struct auth_jwt_claims c = {
		.iss = "odd\"name\\@x",
		.scope = "a/b c",
		.aud = "http://127.0.0.1:9/token",
		.iat = 1,
		.exp = 2,
	};
	struct parts p;

	if (sign_and_split(&c, &p) == 0) {
		CHECK(field(p.hdr, "kid") == NULL);
		CHECK_STR(field(p.claims, "iss"), c.iss);
		CHECK_STR(field(p.claims, "scope"), c.scope);
	}
	parts_free(&p);
}

int main(void)
{
	RUN(base64url_matches_rfc4648_without_padding);
	RUN(keys_load_from_pkcs8_and_pkcs1_pem);
	RUN(unusable_keys_are_refused_without_a_prompt);
	RUN(assertion_has_rs256_header_claims_and_a_valid_signature);
	RUN(unusual_characters_stay_valid_json);
	EVP_PKEY_free(test_key());
	return CHECK_DONE();
}
