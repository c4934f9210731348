/* Token and error replies of OAuth token endpoints and the metadata server.
 *
 * Both speak the same small JSON object. The one trap is expires_in: Google sends a number,
 * but some proxies and older servers send it as a string, so both are accepted. Values that
 * make no sense (zero, negative, longer than a day) are refused rather than trusted, since a
 * wrong lifetime means either a refresh storm or a mount that keeps using a dead token. */
#include "auth/token.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/secret.h"

#define MAX_LIFETIME_S (24L * 3600)

void auth_token_clear(struct auth_token *t)
{
	auth_secret_free(t->value);
	t->value = NULL;
	t->expires_in = 0;
}

static long expires_in_value(json_object *v)
{
	long n = -1;

	switch (json_object_get_type(v)) {
	case json_type_int:
		n = (long)json_object_get_int64(v);
		break;
	case json_type_double: {
		double d = json_object_get_double(v);

		/* Checked before the conversion, which is undefined for what no long holds. */
		if (!(d > 0 && d <= MAX_LIFETIME_S))
			return -1;
		n = (long)d;
		break;
	}
	case json_type_string: {
		const char *s = json_object_get_string(v);
		char *end;

		if (*s < '0' || *s > '9')
			return -1;
		errno = 0;
		n = strtol(s, &end, 10);
		if (errno || *end)
			return -1;
		break;
	}
	default:
		return -1;
	}
	return n > 0 && n <= MAX_LIFETIME_S ? n : -1;
}

int auth_token_parse(const char *body, size_t len, struct auth_token *out)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = NULL, *v;
	int rc = -EPROTO;

	out->value = NULL;
	out->expires_in = 0;
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, body ? body : "", (int)len);
	if (!root || !json_object_is_type(root, json_type_object))
		goto out;
	if (json_object_object_get_ex(root, "token_type", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     strcasecmp(json_object_get_string(v), "Bearer") != 0))
		goto out;
	if (!json_object_object_get_ex(root, "expires_in", &v))
		goto out;
	out->expires_in = expires_in_value(v);
	if (out->expires_in < 0)
		goto out;
	if (!json_object_object_get_ex(root, "access_token", &v) ||
	    !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
		goto out;
	/* A token with a character that cannot go into a header line would corrupt it. */
	for (const char *p = json_object_get_string(v); *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			goto out;
	out->value = strdup(json_object_get_string(v));
	rc = out->value ? 0 : -ENOMEM;
	/* json-c's copy of the token is scrubbed too: the object is freed below. */
	explicit_bzero((char *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
out:
	if (rc)
		out->expires_in = 0;
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

void auth_text_copy(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t n = 0;

	if (!dstlen)
		return;
	for (size_t i = 0; i < len && n + 1 < dstlen; i++) {
		char ch = s[i] >= ' ' && s[i] < 0x7f ? s[i] : ' ';

		if (ch != ' ' || n > 0)
			dst[n++] = ch;
	}
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* The string value of v, for a message. */
static void copy_value(char *dst, size_t dstlen, json_object *v)
{
	auth_text_copy(dst, dstlen, json_object_get_string(v),
		       (size_t)json_object_get_string_len(v));
}

void auth_oauth_error_parse(const char *body, size_t len, char *error, size_t errlen, char *desc,
			    size_t desclen)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = NULL, *v;

	auth_text_copy(error, errlen, "", 0);
	auth_text_copy(desc, desclen, "", 0);
	if (!tok)
		return;
	root = json_tokener_parse_ex(tok, body ? body : "", (int)len);
	if (root && json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "error", &v)) {
		if (json_object_is_type(v, json_type_string)) {
			copy_value(error, errlen, v);
			if (json_object_object_get_ex(root, "error_description", &v))
				copy_value(desc, desclen, v);
		} else if (json_object_is_type(v, json_type_object)) {
			/* Google API style: {"error": {"status": "...", "message": "..."}}. */
			json_object *m;

			if (json_object_object_get_ex(v, "status", &m))
				copy_value(error, errlen, m);
			if (json_object_object_get_ex(v, "message", &m))
				copy_value(desc, desclen, m);
		}
	}
	json_object_put(root);
	json_tokener_free(tok);
}
