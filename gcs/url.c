/* Percent-encoding for the two URL shapes GCS uses.
 *
 * The JSON API takes an object name as a single path segment, so '/' must be encoded; the XML
 * API takes it as a path, so '/' must not be. Everything outside RFC 3986's unreserved set is
 * encoded in both, which is always safe and covers '%', '+', '#', '?', spaces and UTF-8. */
#include "gcs/url.h"

#include <stdlib.h>
#include <string.h>

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int gcs_url_encode(struct buf *b, const char *s, enum gcs_enc mode)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p;
	int rc;

	for (; *p; p++) {
		if (unreserved(*p) || (*p == '/' && mode == GCS_ENC_PATH))
			continue;
		rc = buf_append(b, run, (size_t)(p - run));
		if (rc)
			return rc;
		char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		rc = buf_append(b, esc, 3);
		if (rc)
			return rc;
		run = p + 1;
	}
	return buf_append(b, run, (size_t)(p - run));
}

int gcs_url_add_query(struct buf *b, const char *key, const char *value)
{
	int has_query = b->data && memchr(b->data, '?', b->len);
	int rc = buf_printf(b, "%c%s=", has_query ? '&' : '?', key);

	return rc ? rc : gcs_url_encode(b, value, GCS_ENC_QUERY);
}

int gcs_bucket_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 3 || n > 222)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '-' && c != '_' && c != '.')
			return 0;
		if ((i == 0 || i == n - 1) && !alnum)
			return 0;
	}
	return 1;
}

char *gcs_endpoint_normalize(const char *endpoint)
{
	const char *sep = strstr(endpoint, "://");
	struct buf b;

	buf_init(&b, 4096);
	if (!sep) {
		if (buf_append_str(&b, "http://"))
			goto fail;
	} else if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
		goto fail;
	}
	if (buf_append_str(&b, endpoint))
		goto fail;
	sep = strstr(b.data, "://") + 3;
	while (b.data + b.len > sep && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	/* Something must follow the scheme, and only a host and port belong here. */
	if (*sep == '\0' || strchr(sep, '/') || strchr(sep, '?') || strchr(sep, '#') ||
	    strchr(sep, ' '))
		goto fail;
	return b.data;
fail:
	buf_free(&b);
	return NULL;
}
