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
	const struct gcs_kv *metadata;	/* set on top of keep_metadata_json */
	size_t n_metadata;
	uint64_t if_generation; /* the generation being replaced; 0: the object must not exist */
	size_t chunk_size;	/* larger data goes up in resumable chunks of this size */
};

/* Uploads an object and fills out (may be NULL) with what GCS stored. */
int gcs_upload(struct gcs_client *c, const struct gcs_put *p, struct gcs_object *out);

/* objects.patch of custom metadata, guarded by the metageneration. */
int gcs_patch_metadata(struct gcs_client *c, const char *name, uint64_t metageneration,
		       const struct gcs_kv *kv, size_t n, struct gcs_object *out);

/* objects.delete of that generation (0: whatever is there). -ENOENT if gone. */
int gcs_delete(struct gcs_client *c, const char *name, uint64_t generation);

/* Renames src (which must be at src_generation) to dst. dst_generation is the generation
 * being replaced at dst, 0 when dst must not exist. Uses the atomic objects.move, or a copy
 * and a delete where the server has no move. */
int gcs_move(struct gcs_client *c, const char *src, uint64_t src_generation, const char *dst,
	     uint64_t dst_generation, struct gcs_object *out);

#endif
