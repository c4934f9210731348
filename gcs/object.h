/* Object metadata as the filesystem needs it, parsed from JSON API resources.
 *
 * struct gcs_object and struct gcs_list_page are caller-owned values: zero them (or call
 * *_init), let the parse functions fill them, release with *_clear(). Pure: json-c only; the
 * log hears of list entries that are left out. */
#ifndef GCSMOUNT_GCS_OBJECT_H
#define GCSMOUNT_GCS_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct json_object;

struct gcs_object {
	char *name;
	uint64_t size;
	uint64_t generation;
	uint64_t metageneration;
	struct timespec mtime;	 /* POSIX mtime from metadata, else `updated` */
	struct timespec updated; /* when GCS last changed the object (used as ctime) */
	/* POSIX attributes stored by gsutil/gcloud/STS, when present and valid. */
	unsigned has_mode : 1, has_uid : 1, has_gid : 1, is_symlink : 1;
	mode_t mode;	     /* permission and special bits (07777) */
	mode_t special_type; /* S_IFIFO, S_IFSOCK, S_IFCHR or S_IFBLK stored with the mode, or 0 */
	dev_t rdev;	     /* device number of a character or block device */
	uid_t uid;
	gid_t gid;
	char *symlink_target; /* legacy gcsfuse form: target kept in metadata */
	uint32_t crc32c;      /* valid when has_crc32c */
	int has_crc32c;
	char *content_type;  /* NULL when the resource did not carry one */
	char *metadata_json; /* all custom metadata as a JSON object, or NULL */
	/* The other writable fields the resource carried (contentEncoding, cacheControl,
	 * contentDisposition, contentLanguage, customTime, storageClass) as one JSON object,
	 * or NULL when it had none: an upload that replaces the data sends them again. */
	char *keep_json;
};

struct gcs_list_page {
	struct gcs_object *items;
	size_t n_items;
	char **prefixes; /* full prefixes, each ending in the delimiter */
	size_t n_prefixes;
	char *next_page_token; /* NULL on the last page */
};

void gcs_object_clear(struct gcs_object *o);
void gcs_list_page_clear(struct gcs_list_page *p);

/* Fills o from an object resource. Returns 0 or -EPROTO when required fields are missing
 * or malformed; o is left cleared on failure. */
int gcs_object_from_json(struct json_object *j, struct gcs_object *o);
/* Parses an objects.get response body. */
int gcs_object_parse(const char *body, size_t len, struct gcs_object *o);
/* Parses an objects.list response body. An item that does not parse is left out, with a
 * warning; a page whose structure is broken (not JSON, items or prefixes not arrays) fails
 * with -EPROTO. */
int gcs_list_page_parse(const char *body, size_t len, struct gcs_list_page *p);

/* The value of goog-reserved-posix-mode for a mode: three octal digits ("644") as gsutil and
 * gcloud write them, four when set-user-ID, set-group-ID or sticky bits are set ("1777"), and
 * the whole st_mode with its type for FIFOs, sockets and devices ("10644"). */
#define GCS_MODE_STR 12
void gcs_format_mode(mode_t mode, char out[GCS_MODE_STR]);
/* The values of goog-reserved-file-mtime (whole seconds, as gsutil and gcloud write them) and
 * gcsfuse_mtime (RFC 3339 with nanoseconds), which together keep a nanosecond mtime. */
#define GCS_MTIME_STR 40
void gcs_format_mtime(const struct timespec *t, char secs[GCS_MTIME_STR],
		      char rfc3339[GCS_MTIME_STR]);

/* RFC 3339 timestamp ("2024-06-04T10:00:00.123Z", offsets allowed) to timespec.
 * Returns 0 or -EINVAL. */
int gcs_parse_rfc3339(const char *s, struct timespec *out);

#endif
