/* Building request URLs: percent-encoding of object names and query values.
 *
 * Pure functions over caller-owned struct buf; no network, no global state. */
#ifndef GCSMOUNT_GCS_URL_H
#define GCSMOUNT_GCS_URL_H

#include "util/buf.h"

enum gcs_enc {
	GCS_ENC_SEGMENT, /* JSON API object name: one path segment, '/' becomes %2F */
	GCS_ENC_PATH,	 /* XML API object name: '/' stays literal */
	GCS_ENC_QUERY,	 /* a query-string value */
};

/* Appends the encoding of s to b. Every byte outside A-Z a-z 0-9 - . _ ~ is encoded
 * (and '/' too unless mode is GCS_ENC_PATH). Returns 0 or -errno from buf. */
int gcs_url_encode(struct buf *b, const char *s, enum gcs_enc mode);

/* Appends "&key=value" (or "?key=value" when b has no '?' yet) with value query-encoded. */
int gcs_url_add_query(struct buf *b, const char *key, const char *value);

/* A bucket name GCS could hold: 3-222 bytes of a-z 0-9 - _ . starting and ending with a
 * letter or digit. Checked before the name is put into any URL. */
int gcs_bucket_name_valid(const char *name);

/* Normalises an endpoint given as "host:port" or "scheme://host[:port][/]" into a newly
 * allocated "scheme://host[:port]" without a trailing slash (http:// is assumed when no
 * scheme is given, as Google's client libraries do for STORAGE_EMULATOR_HOST).
 * Returns NULL on a malformed value or allocation failure. */
char *gcs_endpoint_normalize(const char *endpoint);

#endif
