/* Changing objects: uploads, metadata patches, deletes and moves.
 *
 * Same contract as gcs/client.h: thread-safe, 0 or -errno, failures logged once. Every call
 * carries a precondition, so a retried request can never clobber someone else's write, and a
 * failed precondition comes back as -ESTALE. */
#ifndef GCSMOUNT_GCS_WRITE_H
#define GCSMOUNT_GCS_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "gcs/client.h"

/* One custom metadata entry; a NULL value deletes the key (patches only). */
struct gcs_kv {
	const char *key;
	const char *value;
};

struct gcs_put {
	const char *name;
	int fd;		 /* data from this file, offset 0 ... */
	const void *mem; /* ... or from memory when fd < 0 */
	uint64_t size;
	uint32_t crc32c;		/* of the data; GCS checks it and refuses a mismatch */
	const char *content_type;	/* NULL: application/octet-stream */
	const char *keep_metadata_json; /* existing custom metadata to carry over, or NULL */
	/* Other writable fields to carry over (struct gcs_object.keep_json), or NULL; the
	 * fields above take precedence over any of the same name. */
	const char *keep_json;
	const struct gcs_kv *metadata; /* set on top of keep_metadata_json */
	size_t n_metadata;
	uint64_t if_generation; /* the generation being replaced; 0: the object must not exist */
	size_t chunk_size;	/* larger data goes up in resumable chunks of this size */
};

/* Uploads an object and fills out (may be NULL) with what GCS stored. */
int gcs_upload(struct gcs_client *c, const struct gcs_put *p, struct gcs_object *out);

/* Resumable sessions, for data whose end is not known yet (streaming writes).
 * gcs_session_start(): starts one for p (p->size and p->crc32c are used only if size_known);
 * *session is malloc'd. gcs_session_put(): sends [off, off + len) of fd; total is the
 * object's size on the last request, GCS_SIZE_UNKNOWN before (then len must be a multiple of
 * 256 KiB). The last request carries crc32c for GCS to check. Sets *done and fills out when
 * the object is complete, else *persisted to how many bytes the server has kept (resume from
 * there). gcs_session_cancel() abandons a session. */
#define GCS_SIZE_UNKNOWN UINT64_MAX
int gcs_session_start(struct gcs_client *c, const struct gcs_put *p, int size_known,
		      char **session);
int gcs_session_put(struct gcs_client *c, const char *session, const char *name, int fd,
		    uint64_t off, uint64_t len, uint64_t total, uint32_t crc32c,
		    uint64_t *persisted, struct gcs_object *out, int *done);
void gcs_session_cancel(struct gcs_client *c, const char *session, const char *name);

/* objects.patch of custom metadata, guarded by the metageneration. */
int gcs_patch_metadata(struct gcs_client *c, const char *name, uint64_t metageneration,
		       const struct gcs_kv *kv, size_t n, struct gcs_object *out);

/* objects.delete of that generation (0: whatever is there). -ENOENT if gone. */
int gcs_delete(struct gcs_client *c, const char *name, uint64_t generation);

/* Renames src (which must be at src_generation) to dst. dst_generation is the generation
 * being replaced at dst, 0 when dst must not exist. Uses the atomic objects.move, or a copy
 * and a delete where the server has no move. A move whose answer was lost is recognised by
 * the source's size and CRC32C: src_known (may be NULL) gives them, as a listing did, when
 * it is of src_generation; otherwise the source is read first. */
int gcs_move(struct gcs_client *c, const char *src, uint64_t src_generation, const char *dst,
	     uint64_t dst_generation, const struct gcs_object *src_known, struct gcs_object *out);

#endif
