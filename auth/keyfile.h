/* Credential files: a service-account key or gcloud's authorized_user credentials, as found
 * through --key-file, GOOGLE_APPLICATION_CREDENTIALS or gcloud's application-default file.
 * Reading and checking only: no network, no logging. Errors are sentences for a person that
 * name the file and never quote a secret. */
#ifndef GCSMOUNT_AUTH_KEYFILE_H
#define GCSMOUNT_AUTH_KEYFILE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <sys/types.h>

#define AUTH_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

enum auth_keytype { AUTH_KEY_SERVICE_ACCOUNT = 1, AUTH_KEY_AUTHORIZED_USER };

/* Strings and the key are owned by the struct and freed (secrets scrubbed) by
 * auth_keyfile_free(). */
struct auth_keyfile {
	enum auth_keytype type;
	char *token_uri; /* from the file, else AUTH_DEFAULT_TOKEN_URI */
	/* service_account */
	char *client_email;
	EVP_PKEY *key;	   /* the private key; its PEM text is not kept */
	char *private_key; /* the PEM text while parsing only: NULL afterwards */
	char *private_key_id;
	/* authorized_user */
	char *client_id;
	char *client_secret; /* secret */
	char *refresh_token; /* secret */
	char *account;	     /* optional: the user's e-mail */
	mode_t mode;	     /* permission bits of the file (auth_keyfile_load only) */
};

/* Reads and parses path. Returns 0, or -errno with a sentence in why: -ENOENT (no such file),
 * -EACCES (unreadable), -EINVAL (not a regular file, not JSON, fields missing or of the wrong
 * kind, a private key that is not an unencrypted RSA PEM key), -ENOTSUP (a credential type
 * gcsmount does not handle). */
int auth_keyfile_load(const char *path, struct auth_keyfile *out, char *why, size_t whylen);
/* The same for text already in memory; path is only used in messages. */
int auth_keyfile_parse(const char *json, size_t len, const char *path, struct auth_keyfile *out,
		       char *why, size_t whylen);
void auth_keyfile_free(struct auth_keyfile *k);

#endif
