/* Upload and mutation requests.
 *
 * Small data goes up in one multipart request (metadata and bytes together); larger data in
 * a resumable session, one chunk per request, resuming from the offset the server reports in
 * each 308's Range header (it may keep less than was sent). A chunk that fails is not sent
 * again blindly: the session is asked what it kept (a status query), and only the rest goes
 * again. The whole object's CRC32C is sent with the metadata, so GCS verifies what it finally
 * stores. A session that the server no longer knows (404/410) is started over once.
 *
 * Lost answers: every mutation carries a precondition, so when an attempt's answer was lost
 * (a reset, a stall, a 5xx) and the retry then meets a 404 or 412, the mutation may be the
 * one that happened. Each operation checks for its own footprint before reporting failure:
 * a delete whose object is gone succeeded; an upload succeeded if the object now holds our
 * size and CRC32C; a patch if the next metageneration carries our values; a move if the
 * source is gone and the destination holds the source's size and CRC32C. */
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

/* Gives a recognised object to the caller's out, or frees it when out is NULL. */
static void hand_over(struct gcs_object *now, struct gcs_object *out)
{
	if (out) {
		gcs_object_clear(out);
		*out = *now;
	} else {
		gcs_object_clear(now);
	}
}

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

/* Checks a 2xx answer that carries the object resource; check_arg is where it goes (or
 * NULL). An unreadable one is damaged: the mutation happened, and the retry finds out how. */
static int parse_object(struct gcs_req *r, struct gcs_object *dst)
{
	struct gcs_object tmp = {0}, *out = dst ? dst : &tmp;
	int rc;

	gcs_object_clear(out);
	rc = gcs_object_parse(r->body.data, r->body.len, out);
	if (rc == -EPROTO)
		snprintf(r->err.message, sizeof(r->err.message), "the object resource is not readable");
	gcs_object_clear(&tmp);
	return rc;
}

static int result_check(struct gcs_req *r)
{
	return parse_object(r, r->check_arg);
}

/* Whether the object now is the one an upload whose answer was lost would have made. */
static int upload_landed(struct gcs_client *c, const struct gcs_put *p, struct gcs_object *out)
{
	struct gcs_object now = {0};

	if (gcs_stat(c, p->name, &now) == 0 && now.has_crc32c && now.crc32c == p->crc32c &&
	    now.size == p->size && now.generation != p->if_generation) {
		log_info("objects.insert %s: the answer was lost, but generation %llu holds the "
			 "data sent: uploaded",
			 p->name, (unsigned long long)now.generation);
		hand_over(&now, out);
		return 1;
	}
	gcs_object_clear(&now);
	return 0;
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
		r.check = result_check;
		r.check_arg = out;
		if (!rc)
			rc = gcs_perform(c, &r);
		if (rc == -ESTALE && r.uncertain && upload_landed(c, p, out))
			rc = 0;
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
	if (!rc && !gcs_same_origin(c, r.location)) {
		/* The session URI would get the credentials and the data. */
		log_error("objects.insert %s: the upload session is on another host (%.*s); refused",
			  p->name, (int)strcspn(r.location, "?#"), r.location);
		rc = -EIO;
	}
	if (!rc && !(*session = strdup(r.location)))
		rc = -ENOMEM;
	gcs_req_free(&r);
	free(meta);
	return rc;
}

/* One gcs_session_put(): the bytes [off, end) of fd, and what became of them. */
struct session_put {
	const char *session, *name;
	int fd;
	uint64_t off, end, total;
	uint32_t crc32c;
	uint64_t persisted; /* from the last 308 */
	struct gcs_object *out;
	int done;
	struct gcs_retry retry; /* shared by the chunk and the status queries after it */
};

static int session_check(struct gcs_req *r)
{
	struct session_put *x = r->check_arg;
	int query = r->body_out->fd_len == 0 && x->end != x->off;
	unsigned long long last;

	if (r->status != 308) {
		x->done = 1;
		return parse_object(r, x->out);
	}
	/* "bytes=0-K": K+1 bytes are stored; none when there is no Range. Never more than was
	 * sent (a status query may report anything). */
	if (!r->range[0]) {
		x->persisted = 0;
	} else if (sscanf(r->range, "bytes=0-%llu", &last) == 1 && (query || last < x->end)) {
		x->persisted = last + 1;
	} else {
		snprintf(r->err.message, sizeof(r->err.message), "unexpected Range '%s'", r->range);
		return -EIO;
	}
	return 0;
}

/* Points the request at the bytes [from, end) of the chunk, or makes it a status query. */
static void session_range(const struct session_put *x, struct gcs_req *r, uint64_t from,
			  int query)
{
	struct gcs_body *b = r->body_out;
	char *h = r->attempt_header;
	size_t n = sizeof(r->attempt_header);

	b->fd_off = from;
	b->fd_len = query ? 0 : x->end - from;
	if (query)
		/* A "*" total only asks: it never finalizes the upload by itself. */
		snprintf(h, n, "Content-Range: bytes */*");
	else if (from == x->end)
		/* Nothing left to send: the end of an upload whose size is now known. */
		snprintf(h, n, "Content-Range: bytes */%" PRIu64, x->total);
	else if (x->total == GCS_SIZE_UNKNOWN)
		snprintf(h, n, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/*", from, x->end - 1);
	else
		snprintf(h, n, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from,
			 x->end - 1, x->total);
}

static int session_request(struct gcs_client *c, struct session_put *x, int query);

/* After a failed chunk: asks the session what it kept, and sends only the rest. */
static int session_recover(struct gcs_client *c, struct gcs_req *r)
{
	struct session_put *x = r->check_arg;
	int rc = session_request(c, x, 1);

	if (rc)
		return rc;
	/* Complete; or all of the chunk is there; or the server lost what it had, and the
	 * caller goes on from what it reports. */
	if (x->done || x->persisted < x->off || x->persisted >= x->end)
		return 1;
	if (x->persisted != r->body_out->fd_off)
		log_info("uploads.chunk %s: the session kept %" PRIu64 " bytes; sending the rest",
			 x->name, x->persisted);
	session_range(x, r, x->persisted, 0);
	return 0;
}

static int session_request(struct gcs_client *c, struct session_put *x, int query)
{
	struct gcs_body body = {.fd = x->fd};
	struct gcs_req r;
	int rc;

	gcs_req_init(&r, "uploads.chunk", "PUT", x->name);
	r.url_secret = 1;
	r.accept_308 = 1;
	r.quiet[0] = 412; /* a conflict: the caller says what it means */
	r.retry = &x->retry;
	r.check = session_check;
	r.check_arg = x;
	r.recover = query ? NULL : session_recover;
	r.body_out = &body;
	session_range(x, &r, x->off, query);
	rc = buf_append_str(&r.url, x->session);
	if (!rc)
		rc = add_header(&r, "Expect:");
	if (!rc && !query && x->total != GCS_SIZE_UNKNOWN && x->end == x->total) {
		/* The last request: GCS checks the whole object against this. */
		char b64[9], hash[48];

		crc32c_base64(x->crc32c, b64);
		snprintf(hash, sizeof(hash), "x-goog-hash: crc32c=%s", b64);
		rc = add_header(&r, hash);
	}
	if (!rc)
		rc = gcs_perform(c, &r);
	gcs_req_free(&r);
	return rc;
}

int gcs_session_put(struct gcs_client *c, const char *session, const char *name, int fd,
		    uint64_t off, uint64_t len, uint64_t total, uint32_t crc32c,
		    uint64_t *persisted, struct gcs_object *out, int *done)
{
	struct session_put x = {.session = session,
				.name = name,
				.fd = fd,
				.off = off,
				.end = off + len,
				.total = total,
				.crc32c = crc32c,
				.persisted = off,
				.out = out};
	int rc;

	gcs_retry_init(c, &x.retry);
	rc = session_request(c, &x, 0);
	*done = x.done;
	if (!rc && !x.done)
		*persisted = x.persisted;
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

/* Whether the object's custom metadata holds what kv sets (and lacks what it deletes). */
static int metadata_has(const char *metadata_json, const struct gcs_kv *kv, size_t n)
{
	struct json_object *md = metadata_json ? json_tokener_parse(metadata_json) : NULL;
	int ok = 1;

	for (size_t i = 0; i < n && ok; i++) {
		struct json_object *v = NULL;
		int has = md && json_object_object_get_ex(md, kv[i].key, &v);

		if (kv[i].value)
			ok = has && json_object_is_type(v, json_type_string) &&
			     strcmp(json_object_get_string(v), kv[i].value) == 0;
		else
			ok = !has;
	}
	json_object_put(md);
	return ok;
}

/* Whether a patch whose answer was lost is the change the object shows: the metageneration
 * after the one it was guarded by, and our values. */
static int patch_landed(struct gcs_client *c, const char *name, uint64_t metageneration,
			const struct gcs_kv *kv, size_t n, struct gcs_object *out)
{
	struct gcs_object now = {0};

	if (gcs_stat(c, name, &now) == 0 && now.metageneration == metageneration + 1 &&
	    metadata_has(now.metadata_json, kv, n)) {
		log_info("objects.patch %s: the answer was lost, but metageneration %llu holds the "
			 "change: patched",
			 name, (unsigned long long)now.metageneration);
		hand_over(&now, out);
		return 1;
	}
	gcs_object_clear(&now);
	return 0;
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
	r.check = result_check;
	r.check_arg = out;
	if (!rc)
		rc = gcs_perform(c, &r);
	if (rc == -ESTALE && r.uncertain && patch_landed(c, name, metageneration, kv, n, out))
		rc = 0;
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
	/* Without a generation, a resent delete could remove someone else's new object. */
	r.not_idempotent = generation == 0;
	rc = buf_printf(&r.url, "%s/o/", c->json_base);
	if (!rc)
		rc = gcs_url_encode(&r.url, name, GCS_ENC_SEGMENT);
	if (!rc && generation)
		rc = add_query_u64(&r.url, "ifGenerationMatch", generation);
	if (!rc)
		rc = gcs_perform(c, &r);
	if (rc == -ENOENT && r.uncertain) {
		/* Gone after an attempt whose answer was lost: that attempt deleted it. */
		log_info("objects.delete %s: the answer was lost, and the object is gone: deleted",
			 name);
		rc = 0;
	}
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
			uint64_t dst_gen, struct gcs_object *out, long *status, int *uncertain)
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
	r.check = result_check;
	r.check_arg = out;
	if (!rc)
		rc = gcs_perform(c, &r);
	*status = r.status;
	*uncertain = r.uncertain;
	gcs_req_free(&r);
	return rc;
}

/* Server-side copy in as many rewrite calls as the server needs. */
static int rewrite(struct gcs_client *c, const char *src, uint64_t src_gen, const char *dst,
		   uint64_t dst_gen, struct gcs_object *out, int *uncertain)
{
	char *token = NULL;
	int rc;

	*uncertain = 0;
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
		*uncertain |= r.uncertain;
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

/* Whether dst holds the copy of from that a move or rewrite whose answer was lost made: our
 * source's size and CRC32C, at a generation other than the one the request replaced. With
 * src_gone, the source must have left its name too (as a move's does). */
static int move_landed(struct gcs_client *c, const struct gcs_object *from, const char *dst,
		       uint64_t dst_gen, int src_gone, struct gcs_object *out)
{
	struct gcs_object now = {0};
	int landed = 0;

	if (src_gone) {
		int rc = gcs_stat(c, from->name, &now);

		src_gone = rc == -ENOENT || (rc == 0 && now.generation != from->generation);
		gcs_object_clear(&now);
		if (!src_gone)
			return 0;
	}
	if (from->has_crc32c && gcs_stat(c, dst, &now) == 0 && now.has_crc32c &&
	    now.crc32c == from->crc32c && now.size == from->size && now.generation != dst_gen) {
		log_info("objects.move %s: the answer was lost, but %s holds its data at generation "
			 "%llu: moved",
			 from->name, dst, (unsigned long long)now.generation);
		landed = 1;
		if (out) {
			gcs_object_clear(out);
			*out = now;
			return 1;
		}
	}
	gcs_object_clear(&now);
	return landed;
}

int gcs_move(struct gcs_client *c, const char *src, uint64_t src_generation, const char *dst,
	     uint64_t dst_generation, const struct gcs_object *src_known, struct gcs_object *out)
{
	struct gcs_object from = {0};
	long status = 0;
	int uncertain = 0, rc = 0;

	/* What the source holds, first: a move whose answer is lost is recognised by it. */
	if (src_known && src_generation && src_known->generation == src_generation &&
	    src_known->has_crc32c) {
		from.name = strdup(src);
		from.generation = src_generation;
		from.size = src_known->size;
		from.crc32c = src_known->crc32c;
		from.has_crc32c = 1;
		if (!from.name)
			rc = -ENOMEM;
	} else {
		rc = gcs_stat(c, src, &from);
		if (!rc && src_generation && from.generation != src_generation)
			rc = -ESTALE; /* what the move's own precondition would say */
	}
	if (!rc)
		rc = move_request(c, src, src_generation, dst, dst_generation, out, &status,
				  &uncertain);
	if ((rc == -ENOENT || rc == -ESTALE) && uncertain &&
	    move_landed(c, &from, dst, dst_generation, 1, out))
		rc = 0;
	if (rc == 0 || (status != 501 && status != 400))
		goto out;
	/* No atomic move here: copy, then delete the source if it is still the one copied. */
	log_debug("objects.move %s: not available (HTTP %ld), copying instead", src, status);
	rc = rewrite(c, src, src_generation, dst, dst_generation, out, &uncertain);
	if (rc == -ESTALE && uncertain && move_landed(c, &from, dst, dst_generation, 0, out))
		rc = 0;
	if (rc)
		goto out;
	rc = gcs_delete(c, src, src_generation);
	if (rc == -ENOENT)
		rc = 0;
out:
	gcs_object_clear(&from);
	return rc;
}
