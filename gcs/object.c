/* Parsing JSON API object resources and list pages into gcs_object values.
 *
 * POSIX attributes come from custom metadata under the keys Google's own tools use, so that
 * gsutil, gcloud, Storage Transfer Service, gcsfuse and rclone agree with us:
 *   mtime: goog-reserved-file-mtime (integer seconds), then gcsfuse_mtime (RFC 3339),
 *          then rclone's mtime (RFC 3339), else the object's `updated` time;
 *   mode/uid/gid: goog-reserved-posix-* (mode is three octal digits);
 *   symlinks: goog-reserved-file-is-symlink=true (target is the content) or the legacy
 *          gcsfuse_symlink_target key (target in the value).
 * Values that do not parse are ignored rather than trusted. */
#include "gcs/object.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/log.h"

void gcs_object_clear(struct gcs_object *o)
{
	if (!o)
		return;
	free(o->name);
	free(o->symlink_target);
	free(o->content_type);
	free(o->metadata_json);
	free(o->keep_json);
	memset(o, 0, sizeof(*o));
}

void gcs_list_page_clear(struct gcs_list_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_items; i++)
		gcs_object_clear(&p->items[i]);
	free(p->items);
	for (size_t i = 0; i < p->n_prefixes; i++)
		free(p->prefixes[i]);
	free(p->prefixes);
	free(p->next_page_token);
	memset(p, 0, sizeof(*p));
}

int gcs_parse_rfc3339(const char *s, struct timespec *out)
{
	struct tm tm = {0};
	long nsec = 0;
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (!p)
		return -EINVAL;
	if (*p == '.') {
		long scale = 100000000;

		for (p++; *p >= '0' && *p <= '9'; p++) {
			nsec += (*p - '0') * scale;
			scale /= 10;
		}
	}
	time_t t = timegm(&tm);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* Exactly "hh:mm": anything shorter would leave p past the string's end. */
		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
		    !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
			return -EINVAL;
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
		long off = hh * 3600L + mm * 60L;
		t += *p == '+' ? -off : off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	out->tv_sec = t;
	out->tv_nsec = nsec;
	return 0;
}

static const char *jstr(struct json_object *j, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(j, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* int64/uint64 fields arrive as decimal strings; accept plain numbers too. */
static int juint(struct json_object *j, const char *key, uint64_t *out)
{
	struct json_object *v;
	char *end;

	if (!json_object_object_get_ex(j, key, &v))
		return -ENOENT;
	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);
		if (n < 0)
			return -EPROTO;
		*out = (uint64_t)n;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return -EPROTO;
	const char *s = json_object_get_string(v);
	if (*s < '0' || *s > '9')
		return -EPROTO;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || *end)
		return -EPROTO;
	*out = n;
	return 0;
}

static int parse_decimal(const char *s, long long min, long long max, long long *out)
{
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* base64 of 4 big-endian bytes, as GCS writes CRC32C values. */
static int parse_crc32c(const char *s, uint32_t *out)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint64_t bits = 0;

	if (strlen(s) != 8 || strcmp(s + 6, "==") != 0)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = strchr(b64, s[i]);

		if (!p || !s[i])
			return -EINVAL;
		bits = (bits << 6) | (uint32_t)(p - b64);
	}
	/* 36 bits were read; the last 4 are padding. */
	*out = (uint32_t)(bits >> 4);
	return 0;
}

static void apply_metadata(struct json_object *md, struct gcs_object *o)
{
	const char *s;
	long long v;
	struct timespec ts;

	/* Whole seconds from goog-reserved-file-mtime; gcsfuse_mtime adds the nanoseconds when it
	 * names the same second (a tool that rewrote only the former wins over a stale latter). */
	int have_secs = (s = jstr(md, "goog-reserved-file-mtime")) &&
			parse_decimal(s, 0, INT64_MAX, &v) == 0;
	if ((s = jstr(md, "gcsfuse_mtime")) && gcs_parse_rfc3339(s, &ts) == 0 &&
	    (!have_secs || ts.tv_sec == (time_t)v)) {
		o->mtime = ts;
	} else if (have_secs) {
		o->mtime.tv_sec = (time_t)v;
		o->mtime.tv_nsec = 0;
	} else if ((s = jstr(md, "mtime")) && gcs_parse_rfc3339(s, &ts) == 0) {
		o->mtime = ts;
	}

	/* Three octal digits as gsutil and gcloud write them; more when special bits (07000) or
	 * the type of a special file are stored. Regular and directory type bits are implied by
	 * the object itself and ignored. */
	s = jstr(md, "goog-reserved-posix-mode");
	if (s && strlen(s) >= 3 && strlen(s) <= 6 && strspn(s, "01234567") == strlen(s)) {
		mode_t m = (mode_t)strtol(s, NULL, 8);
		mode_t type = m & S_IFMT;

		if (type == S_IFIFO || type == S_IFSOCK || type == S_IFCHR || type == S_IFBLK)
			o->special_type = type;
		if (type == 0 || type == S_IFREG || type == S_IFDIR || o->special_type) {
			o->mode = m & 07777;
			o->has_mode = 1;
		}
	}
	if (parse_decimal(jstr(md, "gcsmount-rdev"), 0, INT64_MAX, &v) == 0)
		o->rdev = (dev_t)v;
	if (parse_decimal(jstr(md, "goog-reserved-posix-uid"), 0, UINT32_MAX - 1, &v) == 0) {
		o->uid = (uid_t)v;
		o->has_uid = 1;
	}
	if (parse_decimal(jstr(md, "goog-reserved-posix-gid"), 0, UINT32_MAX - 1, &v) == 0) {
		o->gid = (gid_t)v;
		o->has_gid = 1;
	}

	if ((s = jstr(md, "goog-reserved-file-is-symlink")) && strcasecmp(s, "true") == 0)
		o->is_symlink = 1;
	if ((s = jstr(md, "gcsfuse_symlink_target"))) {
		o->is_symlink = 1;
		o->symlink_target = strdup(s);
	}
}

/* Writable fields besides contentType and metadata that GCS resets when an upload omits
 * them; storageClass among them, so a NEARLINE object does not fall back to the bucket's
 * default class (and price) when its data is rewritten. */
static const char *const keep_fields[] = {
	"contentEncoding", "cacheControl", "contentDisposition",
	"contentLanguage", "customTime",   "storageClass",
};

static int keep_writable_fields(struct json_object *j, struct gcs_object *o)
{
	struct json_object *keep = NULL;
	int rc = 0;

	for (size_t i = 0; i < sizeof(keep_fields) / sizeof(keep_fields[0]) && !rc; i++) {
		const char *s = jstr(j, keep_fields[i]);
		struct json_object *v;

		if (!s)
			continue;
		if (!keep && !(keep = json_object_new_object()))
			return -ENOMEM;
		v = json_object_new_string(s);
		if (!v || json_object_object_add(keep, keep_fields[i], v) != 0) {
			json_object_put(v);
			rc = -ENOMEM;
		}
	}
	if (!rc && keep) {
		o->keep_json = strdup(json_object_to_json_string_ext(keep, JSON_C_TO_STRING_PLAIN));
		if (!o->keep_json)
			rc = -ENOMEM;
	}
	json_object_put(keep);
	return rc;
}

int gcs_object_from_json(struct json_object *j, struct gcs_object *o)
{
	const char *s;
	struct json_object *md;

	memset(o, 0, sizeof(*o));
	if (!json_object_is_type(j, json_type_object) || !(s = jstr(j, "name")))
		return -EPROTO;
	o->name = strdup(s);
	if (!o->name)
		return -ENOMEM;
	if (juint(j, "size", &o->size) || juint(j, "generation", &o->generation))
		goto bad;
	if (juint(j, "metageneration", &o->metageneration) == -EPROTO)
		goto bad;
	if ((s = jstr(j, "updated")) && gcs_parse_rfc3339(s, &o->updated))
		goto bad;
	o->mtime = o->updated;
	if ((s = jstr(j, "crc32c")) && parse_crc32c(s, &o->crc32c) == 0)
		o->has_crc32c = 1;
	if ((s = jstr(j, "contentType")) && !(o->content_type = strdup(s)))
		goto nomem;
	if (json_object_object_get_ex(j, "metadata", &md) &&
	    json_object_is_type(md, json_type_object)) {
		apply_metadata(md, o);
		/* Kept whole so that rewriting the object's data keeps other tools' keys. */
		o->metadata_json =
			strdup(json_object_to_json_string_ext(md, JSON_C_TO_STRING_PLAIN));
		if (!o->metadata_json)
			goto nomem;
	}
	if (keep_writable_fields(j, o))
		goto nomem;
	return 0;
nomem:
	gcs_object_clear(o);
	return -ENOMEM;
bad:
	gcs_object_clear(o);
	return -EPROTO;
}

static struct json_object *parse_body(const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *j;

	if (!tok)
		return NULL;
	j = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(j);
		j = NULL;
	}
	json_tokener_free(tok);
	return j;
}

int gcs_object_parse(const char *body, size_t len, struct gcs_object *o)
{
	struct json_object *j = parse_body(body, len);
	int rc;

	if (!j)
		return -EPROTO;
	rc = gcs_object_from_json(j, o);
	json_object_put(j);
	return rc;
}

int gcs_list_page_parse(const char *body, size_t len, struct gcs_list_page *p)
{
	struct json_object *j = parse_body(body, len);
	struct json_object *arr;
	const char *tok;
	int rc = -EPROTO;

	memset(p, 0, sizeof(*p));
	if (!j || !json_object_is_type(j, json_type_object))
		goto out;

	if (json_object_object_get_ex(j, "items", &arr)) {
		if (!json_object_is_type(arr, json_type_array))
			goto out;
		size_t n = json_object_array_length(arr);
		p->items = calloc(n ? n : 1, sizeof(*p->items));
		if (!p->items) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *item = json_object_array_get_idx(arr, i);
			const char *name;

			rc = gcs_object_from_json(item, &p->items[p->n_items]);
			if (rc == -ENOMEM)
				goto out;
			if (rc == 0) {
				p->n_items++;
				continue;
			}
			/* One bad entry must not hide the rest of the directory. */
			name = json_object_is_type(item, json_type_object) ? jstr(item, "name")
									   : NULL;
			if (name)
				log_warn("listing: entry '%s' has a missing or malformed size, "
					 "generation or time; it is left out",
					 name);
			else
				log_warn("listing: an entry without a name is left out");
		}
	}
	rc = -EPROTO;
	if (json_object_object_get_ex(j, "prefixes", &arr)) {
		if (!json_object_is_type(arr, json_type_array))
			goto out;
		size_t n = json_object_array_length(arr);
		p->prefixes = calloc(n ? n : 1, sizeof(*p->prefixes));
		if (!p->prefixes) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *v = json_object_array_get_idx(arr, i);
			if (!json_object_is_type(v, json_type_string)) {
				log_warn("listing: a prefix that is not a string is left out");
				continue;
			}
			p->prefixes[p->n_prefixes] = strdup(json_object_get_string(v));
			if (!p->prefixes[p->n_prefixes]) {
				rc = -ENOMEM;
				goto out;
			}
			p->n_prefixes++;
		}
	}
	if ((tok = jstr(j, "nextPageToken")) && *tok) {
		p->next_page_token = strdup(tok);
		if (!p->next_page_token) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = 0;
out:
	if (rc)
		gcs_list_page_clear(p);
	json_object_put(j);
	return rc;
}

void gcs_format_mode(mode_t mode, char out[GCS_MODE_STR])
{
	mode_t type = mode & S_IFMT;

	if (type == S_IFIFO || type == S_IFSOCK || type == S_IFCHR || type == S_IFBLK)
		snprintf(out, GCS_MODE_STR, "%o", (unsigned)(mode & (S_IFMT | 07777)));
	else if (mode & 07000)
		snprintf(out, GCS_MODE_STR, "%04o", (unsigned)(mode & 07777));
	else
		snprintf(out, GCS_MODE_STR, "%03o", (unsigned)(mode & 0777));
}

void gcs_format_mtime(const struct timespec *t, char secs[GCS_MTIME_STR],
		      char rfc3339[GCS_MTIME_STR])
{
	struct tm tm;

	snprintf(secs, GCS_MTIME_STR, "%lld", (long long)t->tv_sec);
	gmtime_r(&t->tv_sec, &tm);
	size_t n = strftime(rfc3339, GCS_MTIME_STR, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(rfc3339 + n, GCS_MTIME_STR - n, ".%09ldZ", (long)t->tv_nsec);
}
