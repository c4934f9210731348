/* The unit tests make and compare keys with three functions that OpenSSL 3.0 added:
 * EVP_RSA_gen, EVP_EC_gen and EVP_PKEY_eq. OpenSSL 1.1 (Debian 11) has none of them, so
 * tests/unit/meson.build includes this header ahead of those tests' sources when it builds
 * against OpenSSL before 3.0; it does the same with the 1.1 API. On OpenSSL 3 it is not used,
 * and if it were it would add nothing. gcsmount itself does not need it. */
#ifndef GCSMOUNT_TESTS_COMPAT_OPENSSL_COMPAT_H
#define GCSMOUNT_TESTS_COMPAT_OPENSSL_COMPAT_H

#include <openssl/opensslv.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

static inline EVP_PKEY *compat_keygen(int type, int bits, int curve)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *key = NULL;
	int ok = ctx && EVP_PKEY_keygen_init(ctx) == 1;

	if (ok && type == EVP_PKEY_RSA)
		ok = EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) == 1;
	if (ok && type == EVP_PKEY_EC)
		ok = EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, curve) == 1;
	if (ok && EVP_PKEY_keygen(ctx, &key) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

/* "P-256" and the other NIST names, or OpenSSL's short names ("prime256v1"). */
static inline int compat_curve_nid(const char *name)
{
	int nid = EC_curve_nist2nid(name);

	return nid != NID_undef ? nid : OBJ_sn2nid(name);
}

#define EVP_RSA_gen(bits) compat_keygen(EVP_PKEY_RSA, (int)(bits), NID_undef)
#define EVP_EC_gen(curve) compat_keygen(EVP_PKEY_EC, 0, compat_curve_nid(curve))
#define EVP_PKEY_eq(a, b) EVP_PKEY_cmp((a), (b))
#endif

#endif
