/* The staged write path of an open file: staging its data, streaming it while it is written
 * in order, and uploading it. Every function here is called with the node's mutex held (see
 * fs/open_files.h for the lock order), which is held across uploads so that a flush and a
 * write never interleave. */
#ifndef GCSMOUNT_FS_UPLOAD_H
#define GCSMOUNT_FS_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "fs/open_files.h"

struct gmfs;

/* With the node mutex held: make sure the data is staged. Fetches the object's current
 * state; unless truncate is set, downloads its data. A missing object stages as new. */
int fnode_stage(struct gmfs *fs, struct fnode *n, int truncate);
/* With the node mutex held: upload the staged data if dirty. On a conflict (-ESTALE) or a
 * failure at the last close (final set), the data is copied to the recovery folder first
 * and the log says where. */
int fnode_upload(struct gmfs *fs, struct fnode *n, int final);
/* With the node mutex held: after an append of len bytes at the end, update the checksum
 * and send any full chunks. Failures only end the streaming (the close uploads it whole). */
void fnode_stream_append(struct gmfs *fs, struct fnode *n, const void *buf, size_t len);
/* With the node mutex held: no more streaming for this data (a seek, truncate, or attribute
 * change); an open session is abandoned. */
void fnode_stream_stop(struct gmfs *fs, struct fnode *n);

/* What is waiting to reach the bucket, for gcsmount --status and unmount. */
struct upload_status {
	uint64_t pending_files; /* files with written data not uploaded yet */
	uint64_t staged_bytes;	/* the size of their data */
	uint64_t failed_files;	/* of those, files whose last upload failed */
};
/* Fills *out; thread-safe, takes each node's mutex in turn (so never call it holding one). */
void upload_status(struct gmfs *fs, struct upload_status *out);

#endif
