/* Reading credential files.
 *
 * The file is read whole (it is small; anything over 1 MiB is not a credential file), parsed
 * with json-c and checked field by field, so that a person learns which field is wrong rather
 * than that "authentication failed" later. The private key is loaded here, which proves it
 * usable, and its PEM text is dropped. Secret fields are copied out and json-c's copies and the
 * read buffer are scrubbed before they are freed. */
#include "auth/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "auth/secret.h"
#include "auth/token.h"

#define KEYFILE_MAX (1u << 20)

void auth_keyfile_free(struct auth_keyfile *k)
{
	if (!k)
		return;
	free(k->token_uri);
	free(k->client_email);
	EVP_PKEY_free(k->key);
	auth_secret_free(k->private_key);
	free(k->private_key_id);
	free(k->client_id);
	auth_secret_free(k->client_secret);
	auth_secret_free(k->refresh_token);
	free(k->account);
	memset(k, 0, sizeof(*k));
}

/* Copies the string field key of o into *dst. Returns 0, -ENOENT when the field is absent
 * or empty, -EINVAL when it is not a string, -ENOMEM. */
static int take(json_object *o, const char *key, int secret, char **dst)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	if (json_object_get_string_len(v) == 0)
		return -ENOENT;
	*dst = strdup(json_object_get_string(v));
	if (secret)
		explicit_bzero((char *)json_object_get_string(v),
			       (size_t)json_object_get_string_len(v));
	return *dst ? 0 : -ENOMEM;
}

static const char *type_name(enum auth_keytype t)
{
	return t == AUTH_KEY_SERVICE_ACCOUNT ? "service_account" : "authorized_user";
}

static int parse_fields(json_object *root, const char *path, struct auth_keyfile *k, char *why,
			size_t whylen)
{
	static const struct field {
		enum auth_keytype type;
		const char *name;
		size_t offset;
		int secret, required;
	} fields[] = {
		{AUTH_KEY_SERVICE_ACCOUNT, "client_email",
		 offsetof(struct auth_keyfile, client_email), 0, 1},
		{AUTH_KEY_SERVICE_ACCOUNT, "private_key",
		 offsetof(struct auth_keyfile, private_key), 1, 1},
		{AUTH_KEY_SERVICE_ACCOUNT, "private_key_id",
		 offsetof(struct auth_keyfile, private_key_id), 0, 0},
		{AUTH_KEY_AUTHORIZED_USER, "client_id", offsetof(struct auth_keyfile, client_id), 0,
		 1},
		{AUTH_KEY_AUTHORIZED_USER, "client_secret",
		 offsetof(struct auth_keyfile, client_secret), 1, 1},
		{AUTH_KEY_AUTHORIZED_USER, "refresh_token",
		 offsetof(struct auth_keyfile, refresh_token), 1, 1},
		{AUTH_KEY_AUTHORIZED_USER, "account", offsetof(struct auth_keyfile, account), 0, 0},
		{0, "token_uri", offsetof(struct auth_keyfile, token_uri), 0, 0},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		char **dst = (char **)((char *)k + f->offset);
		int rc;

		if (f->type && f->type != k->type)
			continue;
		rc = take(root, f->name, f->secret, dst);
		if (rc == -ENOMEM)
			return rc;
		if (rc == -EINVAL || (rc == -ENOENT && f->required)) {
			snprintf(why, whylen, "%s (%s credentials) %s the field \"%s\"", path,
				 type_name(k->type),
				 rc == -EINVAL ? "has a non-text value in" : "lacks", f->name);
			return -EINVAL;
		}
	}
	if (!k->token_uri && !(k->token_uri = strdup(AUTH_DEFAULT_TOKEN_URI)))
		return -ENOMEM;
	if (k->type == AUTH_KEY_SERVICE_ACCOUNT) {
		/* The loaded key is all that is needed; the text goes at once. */
		k->key = auth_jwt_key_load(k->private_key);
		auth_secret_free(k->private_key);
		k->private_key = NULL;
		if (!k->key) {
			snprintf(why, whylen,
				 "the private_key in %s is not an unencrypted RSA private key in "
				 "PEM form",
				 path);
			return -EINVAL;
		}
	}
	return 0;
}

int auth_keyfile_parse(const char *json, size_t len, const char *path, struct auth_keyfile *out,
		       char *why, size_t whylen)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = NULL, *v;
	char type[80];
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!tok)
		goto out;
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(why, whylen,
			 "%s is not a credentials file: it does not hold a JSON object", path);
		rc = -EINVAL;
		goto out;
	}
	if (!json_object_object_get_ex(root, "type", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(why, whylen,
			 "%s has no \"type\" field, so it is not a service-account key or "
			 "gcloud credentials file",
			 path);
		rc = -EINVAL;
		goto out;
	}
	auth_text_copy(type, sizeof(type), json_object_get_string(v),
		       (size_t)json_object_get_string_len(v));
	if (strcmp(type, "service_account") == 0) {
		out->type = AUTH_KEY_SERVICE_ACCOUNT;
	} else if (strcmp(type, "authorized_user") == 0) {
		out->type = AUTH_KEY_AUTHORIZED_USER;
	} else {
		snprintf(why, whylen,
			 "%s holds credentials of type \"%s\", which gcsmount does not support; "
			 "use a service-account key (type service_account) or user credentials "
			 "from `gcloud auth application-default login` (type authorized_user)",
			 path, type);
		rc = -ENOTSUP;
		goto out;
	}
	rc = parse_fields(root, path, out, why, whylen);
out:
	if (rc == -ENOMEM)
		snprintf(why, whylen, "out of memory reading %s", path);
	if (rc)
		auth_keyfile_free(out);
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

int auth_keyfile_load(const char *path, struct auth_keyfile *out, char *why, size_t whylen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			snprintf(why, whylen, "%s does not exist", path);
		else
			snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
		goto out;
	}
	rc = -EINVAL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		goto out;
	}
	if (st.st_size > KEYFILE_MAX) {
		snprintf(why, whylen, "%s is too large to be a credentials file", path);
		goto out;
	}
	/* One allocation of the right size: growing a buffer would leave copies of the key in
	 * freed memory that nobody scrubs. */
	cap = (size_t)st.st_size + 1;
	text = malloc(cap + 1);
	if (!text) {
		rc = -ENOMEM;
		snprintf(why, whylen, "out of memory reading %s", path);
		goto out;
	}
	while (len < cap) {
		ssize_t n = read(fd, text + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(why, whylen, "cannot read %s: %s", path, strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == cap) {
		snprintf(why, whylen, "%s changed while it was read", path);
		goto out;
	}
	text[len] = '\0';
	rc = auth_keyfile_parse(text, len, path, out, why, whylen);
	if (!rc)
		out->mode = st.st_mode & 07777;
out:
	if (text) {
		explicit_bzero(text, cap + 1);
		free(text);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
