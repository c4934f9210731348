/* Upload and mutation requests.
 *
 * Small data goes up in one multipart request (metadata and bytes together); larger data in
 * a resumable session, one chunk per request, resuming from the offset the server reports in
 * each 308's Range header (it may keep less than was sent). The whole object's CRC32C is sent
 * with the metadata, so GCS verifies what it finally stores. A session that the server no
 * longer knows (404/410) is started over once. */
#include "gcs/write.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gcs/client_i.h"
#include "gcs/url.h"
#include "util/crc32c.h"
#include "util/log.h"

static int add_header(struct gcs_req *r, const char *line)
{
	struct curl_slist *n = curl_slist_append(r->headers, line);

	if (!n)
		return -ENOMEM;
	r->headers = n;
	return 0;
}

static int add_query_u64(struct buf *url, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return gcs_url_add_query(url, key, num);
}

/* A JSON object parsed from text, or a new empty one when text is NULL or not an object. */
static struct json_object *json_object_or_empty(const char *text)
{
	struct json_object *j = text ? json_tokener_parse(text) : NULL;

	if (j && !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		j = NULL;
	}
	return j ? j : json_object_new_object();
}

/* The JSON object resource sent with an upload: the carried-over fields, then name, type,
 * custom metadata, and the checksum when it is known before the data is sent. */
static char *upload_metadata(const struct gcs_put *p, int with_crc)
{
	struct json_object *root = json_object_or_empty(p->keep_json);
	struct json_object *md = NULL;
	char crc[9];
	char *out = NULL;

	if (!root)
		return NULL;
	/* Hashes describe the old data; GCS would refuse the new data against them. */
	json_object_object_del(root, "crc32c");
	json_object_object_del(root, "md5Hash");
	md = json_object_or_empty(p->keep_metadata_json);
	if (!md)
		goto out;
	for (size_t i = 0; i < p->n_metadata; i++) {
		if (p->metadata[i].value)
			json_object_object_add(md, p->metadata[i].key,
					       json_object_new_string(p->metadata[i].value));
		else
			json_object_object_del(md, p->metadata[i].key);
	}
	crc32c_base64(p->crc32c, crc);
	json_object_object_add(root, "name", json_object_new_string(p->name));
	if (p->content_type || !json_object_object_get_ex(root, "contentType", NULL))
		json_object_object_add(
			root, "contentType",
			json_object_new_string(p->content_type ? p->content_type
							       : "application/octet-stream"));
	if (with_crc)
		json_object_object_add(root, "crc32c", json_object_new_string(crc));
	json_object_object_add(root, "metadata", md);
	out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(root);
	return out;
}

static int upload_url(struct gcs_client *c, struct buf *url, const char *type,
		      const struct gcs_put *p)
{
	int rc = buf_printf(url, "%s/upload/storage/v1/b/%s/o", c->endpoint, c->bucket);

	if (!rc)
		rc = gcs_url_add_query(url, "uploadType", type);
	if (!rc)
		rc = add_query_u64(url, "ifGenerationMatch", p->if_generation);
	if (!rc)
		rc = gcs_url_add_query(url, "fields", OBJECT_FIELDS);
	return rc;
}

static int parse_result(struct gcs_req *r, struct gcs_object *out)
{
	struct gcs_object tmp;
	int rc = gcs_object_parse(r->body.data, r->body.len, out ? out : &tmp);

	if (rc)
		log_error("%s %s: unreadable response", r->op, r->object);
	else if (!out)
		gcs_object_clear(&tmp);
	return rc;
}

static int upload_multipart(struct gcs_client *c, const struct gcs_put *p, const char *meta,
			    struct gcs_object *out)
{
	struct gcs_req r;
	struct buf head, tail, ctype;
	char boundary[64];
	int rc;

	/* The boundary must not occur in the data: 128 random bits make that as good as
	 * impossible, even for data that holds earlier request bodies. */
	unsigned char rnd[16] = {0};
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)random();
	int bl = snprintf(boundary, sizeof(boundary), "gcsmount-");
	for (size_t i = 0; i < sizeof(rnd); i++)
		bl += snprintf(boundary + bl, sizeof(boundary) - (size_t)bl, "%02x", rnd[i]);
	gcs_req_init(&r, "objects.insert", "POST", p->name);
	r.quiet[0] = 412; /* a conflict: the caller says what it means */
	buf_init(&head, 1u << 20);
	buf_init(&tail, 256);
	buf_init(&ctype, 256);
	rc = upload_url(c, &r.url, "multipart", p);
	if (!rc)
		rc = buf_printf(
			&head,
			"--%s\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n%s\r\n"
			"--%s\r\nContent-Type: %s\r\n\r\n",
			boundary, meta, boundary,
			p->content_type ? p->content_type : "application/octet-stream");
	if (!rc)
		rc = buf_printf(&tail, "\r\n--%s--\r\n", boundary);
	if (!rc)
		rc = buf_printf(&ctype, "Content-Type: multipart/related; boundary=%s", boundary);
	if (!rc)
		rc = add_header(&r, ctype.data);
	if (!rc)
		rc = add_header(&r, "Expect:");
	if (!rc) {
		struct gcs_body body = {
			.head = head.data,
			.head_len = head.len,
			.fd = p->fd,
			.fd_len = p->fd >= 0 ? p->size : 0,
			.tail = tail.data,
			.tail_len = tail.len,
		};
		struct buf joined;

		/* Data from memory is small: splice it between head and tail. */
		buf_init(&joined, (64u << 20) + head.len + tail.len);
		if (p->fd < 0) {
			rc = buf_append(&joined, p->mem, (size_t)p->size);
			if (!rc)
				rc = buf_append(&joined, tail.data, tail.len);
			body.tail = joined.data;
			body.tail_len = joined.len;
		}
		r.body_out = &body;
		if (!rc)
			rc = gcs_perform(c, &r);
		if (!rc)
			rc = parse_result(&r, out);
		buf_free(&joined);
	}
	buf_free(&head);
	buf_free(&tail);
	buf_free(&ctype);
	gcs_req_free(&r);
	return rc;
}

int gcs_session_start(struct gcs_client *c, const struct gcs_put *p, int size_known, char **session)
{
	char *meta = upload_metadata(p, size_known);
	struct gcs_req r;
	char len_hdr[64];
	int rc = -ENOMEM;

	*session = NULL;
	if (!meta)
		return rc;
	struct gcs_body body = {.head = meta, .head_len = strlen(meta), .fd = -1};
	gcs_req_init(&r, "objects.insert", "POST", p->name);
	snprintf(len_hdr, sizeof(len_hdr), "X-Upload-Content-Length: %" PRIu64, p->size);
	rc = upload_url(c, &r.url, "resumable", p);
	if (!rc)
		rc = add_header(&r, "Content-Type: application/json; charset=UTF-8");
	if (!rc && size_known)
		rc = add_header(&r, len_hdr);
	if (!rc)
		rc = add_header(&r, "Expect:");
	r.body_out = &body;
	if (!rc)
		rc = gcs_perform(c, &r);
	if (!rc && !r.location[0]) {
		log_error("objects.insert %s: the server started no upload session", p->name);
		rc = -EIO;
	}
	if (!rc && !(*session = strdup(r.location)))
		rc = -ENOMEM;
	gcs_req_free(&r);
	free(meta);
	return rc;
}

int gcs_session_put(struct gcs_client *c, const char *session, const char *name, int fd,
		    uint64_t off, uint64_t len, uint64_t total, uint32_t crc32c,
		    uint64_t *persisted, struct gcs_object *out, int *done)
{
	struct gcs_body body = {.fd = fd, .fd_off = off, .fd_len = len};
	char range[96], hash[48];
	struct gcs_req r;
	int rc;

	*done = 0;
	if (len == 0)
		snprintf(range, sizeof(range), "Content-Range: bytes */%" PRIu64, total);
	else if (total == GCS_SIZE_UNKNOWN)
		snprintf(range, sizeof(range), "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/*",
			 off, off + len - 1);
	else
		snprintf(range, sizeof(range),
			 "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, total);
	gcs_req_init(&r, "uploads.chunk", "PUT", name);
	r.url_secret = 1;
	r.accept_308 = 1;
	r.quiet[0] = 412; /* a conflict: the caller says what it means */
	r.body_out = &body;
	rc = buf_append_str(&r.url, session);
	if (!rc)
		rc = add_header(&r, range);
	if (!rc)
		rc = add_header(&r, "Expect:");
	if (!rc && total != GCS_SIZE_UNKNOWN && off + len == total) {
		/* The last request: GCS checks the whole object against this. */
		char b64[9];

		crc32c_base64(crc32c, b64);
		snprintf(hash, sizeof(hash), "x-goog-hash: crc32c=%s", b64);
		rc = add_header(&r, hash);
	}
	if (!rc)
		rc = gcs_perform(c, &r);
	if (!rc && r.status != 308) {
		*done = 1;
		rc = parse_result(&r, out);
	} else if (!rc) {
		unsigned long long last;

		/* "bytes=0-K": K+1 bytes are stored; none when there is no Range. */
		if (!r.range[0])
			*persisted = 0;
		else if (sscanf(r.range, "bytes=0-%llu", &last) == 1 && last < off + len)
			*persisted = last + 1;
		else
			rc = -EIO;
		if (rc)
			log_error("uploads.chunk %s: unexpected Range '%s'", name, r.range);
	}
	gcs_req_free(&r);
	return rc;
}

void gcs_session_cancel(struct gcs_client *c, const char *session, const char *name)
{
	struct gcs_req r;

	gcs_req_init(&r, "uploads.cancel", "DELETE", name);
	r.url_secret = 1;
	r.max_attempts = 1;
	/* GCS answers 499 to a cancelled session; either way the session is abandoned. */
	r.quiet[0] = 499;
	r.quiet[1] = 404;
	if (buf_append_str(&r.url, session) == 0)
		gcs_perform(c, &r);
	gcs_req_free(&r);
}

static int upload_resumable(struct gcs_client *c, const struct gcs_put *p, struct gcs_object *out)
{
	char *session = NULL;
	int rc = gcs_session_start(c, p, 1, &session);
	uint64_t off = 0;
	int done = 0, stalled = 0;

	while (!rc && !done) {
		uint64_t n = p->size - off < p->chunk_size ? p->size - off : p->chunk_size;
		uint64_t before = off;

		rc = gcs_session_put(c, session, p->name, p->fd, off, n, p->size, p->crc32c, &off,
				     out, &done);
		/* A server that keeps nothing of what it is sent would loop us forever. */
		stalled = off > before ? 0 : stalled + 1;
		if (!rc && !done && stalled >= 3) {
			log_error("uploads.chunk %s: the server stores none of the data sent",
				  p->name);
			rc = -EIO;
		}
	}
	free(session);
	return rc;
}

int gcs_upload(struct gcs_client *c, const struct gcs_put *p, struct gcs_object *out)
{
	int rc;

	if (p->fd < 0 || p->size <= p->chunk_size || p->chunk_size == 0) {
		char *meta = upload_metadata(p, 1);

		if (!meta)
			return -ENOMEM;
		rc = upload_multipart(c, p, meta, out);
		free(meta);
		return rc;
	}
	rc = upload_resumable(c, p, out);
	if (rc == -ENOENT) {
		/* A session the server forgot is started over, once. */
		log_warn("objects.insert %s: upload session lost, starting over", p->name);
		rc = upload_resumable(c, p, out);
	}
	return rc;
}

int gcs_patch_metadata(struct gcs_client *c, const char *name, uint64_t metageneration,
		       const struct gcs_kv *kv, size_t n, struct gcs_object *out)
{
	struct json_object *root = json_object_new_object();
	struct json_object *md = json_object_new_object();
	struct gcs_req r;
	int rc = -ENOMEM;

	gcs_req_init(&r, "objects.patch", "PATCH", name);
	r.quiet[0] = 412;
	if (!root || !md) {
		json_object_put(md);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		json_object_object_add(md, kv[i].key,
				       kv[i].value ? json_object_new_string(kv[i].value) : NULL);
	json_object_object_add(root, "metadata", md);
	const char *json = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	struct gcs_body body = {.head = json, .head_len = strlen(json), .fd = -1};

	rc = buf_printf(&r.url, "%s/o/", c->json_base);
	if (!rc)
		rc = gcs_url_encode(&r.url, name, GCS_ENC_SEGMENT);
	if (!rc)
		rc = add_query_u64(&r.url, "ifMetagenerationMatch", metageneration);
	if (!rc)
		rc = gcs_url_add_query(&r.url, "fields", OBJECT_FIELDS);
	if (!rc)
		rc = add_header(&r, "Content-Type: application/json; charset=UTF-8");
	r.body_out = &body;
	if (!rc)
		rc = gcs_perform(c, &r);
	if (!rc)
		rc = parse_result(&r, out);
out:
	json_object_put(root);
	gcs_req_free(&r);
	return rc;
}

int gcs_delete(struct gcs_client *c, const char *name, uint64_t generation)
{
	struct gcs_req r;
	int rc;

	gcs_req_init(&r, "objects.delete", "DELETE", name);
	r.quiet[0] = 404;
	r.quiet[1] = 412;
	rc = buf_printf(&r.url, "%s/o/", c->json_base);
	if (!rc)
		rc = gcs_url_encode(&r.url, name, GCS_ENC_SEGMENT);
	if (!rc && generation)
		rc = add_query_u64(&r.url, "ifGenerationMatch", generation);
	if (!rc)
		rc = gcs_perform(c, &r);
	gcs_req_free(&r);
	return rc;
}

/* Appends ".../o/SRC/<verb>/..../o/DST" for move and rewrite. */
static int two_object_url(struct gcs_client *c, struct buf *url, const char *src, const char *verb,
			  const char *dst)
{
	int rc = buf_printf(url, "%s/o/", c->json_base);

	if (!rc)
		rc = gcs_url_encode(url, src, GCS_ENC_SEGMENT);
	if (!rc)
		rc = buf_printf(url, "/%s/", verb);
	if (!rc)
		rc = gcs_url_encode(url, dst, GCS_ENC_SEGMENT);
	return rc;
}

static int move_request(struct gcs_client *c, const char *src, uint64_t src_gen, const char *dst,
			uint64_t dst_gen, struct gcs_object *out, long *status)
{
	struct gcs_req r;
	struct gcs_body body = {.fd = -1};
	int rc;

	gcs_req_init(&r, "objects.move", "POST", src);
	r.quiet[0] = 501;
	r.quiet[1] = 412;
	r.body_out = &body;
	rc = two_object_url(c, &r.url, src, "moveTo/o", dst);
	if (!rc)
		rc = add_query_u64(&r.url, "ifSourceGenerationMatch", src_gen);
	if (!rc)
		rc = add_query_u64(&r.url, "ifGenerationMatch", dst_gen);
	if (!rc)
		rc = gcs_url_add_query(&r.url, "fields", OBJECT_FIELDS);
	if (!rc)
		rc = gcs_perform(c, &r);
	*status = r.status;
	if (!rc)
		rc = parse_result(&r, out);
	gcs_req_free(&r);
	return rc;
}

/* Server-side copy in as many rewrite calls as the server needs. */
static int rewrite(struct gcs_client *c, const char *src, uint64_t src_gen, const char *dst,
		   uint64_t dst_gen, struct gcs_object *out)
{
	char *token = NULL;
	int rc;

	for (;;) {
		struct gcs_req r;
		struct gcs_body body = {.fd = -1};

		gcs_req_init(&r, "objects.rewrite", "POST", src);
		r.body_out = &body;
		rc = two_object_url(c, &r.url, src, "rewriteTo/b", c->bucket);
		if (!rc) {
			/* two_object_url put the bucket where the object goes; add "/o/DST". */
			rc = buf_append_str(&r.url, "/o/");
			if (!rc)
				rc = gcs_url_encode(&r.url, dst, GCS_ENC_SEGMENT);
		}
		if (!rc)
			rc = add_query_u64(&r.url, "ifSourceGenerationMatch", src_gen);
		if (!rc)
			rc = add_query_u64(&r.url, "ifGenerationMatch", dst_gen);
		if (!rc && token)
			rc = gcs_url_add_query(&r.url, "rewriteToken", token);
		if (!rc)
			rc = gcs_perform(c, &r);
		free(token);
		token = NULL;
		if (!rc) {
			struct json_object *j = json_tokener_parse(r.body.data);
			struct json_object *v;

			rc = -EIO;
			if (j && json_object_object_get_ex(j, "done", &v) &&
			    json_object_get_boolean(v)) {
				if (json_object_object_get_ex(j, "resource", &v))
					rc = out ? gcs_object_from_json(v, out) : 0;
			} else if (j && json_object_object_get_ex(j, "rewriteToken", &v)) {
				token = strdup(json_object_get_string(v));
				rc = token ? 1 : -ENOMEM;
			}
			json_object_put(j);
			if (rc < 0)
				log_error("objects.rewrite %s: unreadable response", src);
		}
		gcs_req_free(&r);
		if (rc <= 0)
			return rc;
	}
}

int gcs_move(struct gcs_client *c, const char *src, uint64_t src_generation, const char *dst,
	     uint64_t dst_generation, struct gcs_object *out)
{
	long status = 0;
	int rc = move_request(c, src, src_generation, dst, dst_generation, out, &status);

	if (rc == 0 || (status != 501 && status != 400))
		return rc;
	/* No atomic move here: copy, then delete the source if it is still the one copied. */
	log_debug("objects.move %s: not available (HTTP %ld), copying instead", src, status);
	rc = rewrite(c, src, src_generation, dst, dst_generation, out);
	if (rc)
		return rc;
	rc = gcs_delete(c, src, src_generation);
	if (rc == -ENOENT)
		rc = 0;
	return rc;
}
