/* The staged write path of an open file: staging its data, streaming it while it is written
 * in order, and uploading it, at once or in the background. Functions that take a node are
 * called with the node's mutex held (see fs/open_files.h for the lock order), which is held
 * across uploads so that a flush and a write never interleave; the others take no lock of
 * the caller's. */
#ifndef GCSMOUNT_FS_UPLOAD_H
#define GCSMOUNT_FS_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "fs/open_files.h"

struct gmfs;

/* With the node mutex held: make sure the data is staged. Fetches the object's current
 * state; unless truncate is set, downloads its data. A missing object stages as new. */
int fnode_stage(struct gmfs *fs, struct fnode *n, int truncate);
/* With the node mutex held, before this mount deletes the object that n's handles read (or
 * renames another over it): copies the generation they read into a staging file without a
 * name, from which they read on. Returns 1 if it did; the caller sets n->unlinked once the
 * object is gone, or calls fnode_unstage() if it stays, so that they read the bucket again.
 * Returns 0 (and the caller deletes all the same) when there is nothing to keep (the node is
 * staged already, or nobody has it open) or it cannot be kept: no room in the staging folder,
 * the generation gone, a failed download; the log says which. */
int fnode_keep(struct gmfs *fs, struct fnode *n);
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

/* When the data of a closed file goes up.
 * UPLOAD_BACKGROUND: close makes the staged data durable on local disk (fdatasync, and the
 * staging folder's entry once); the release of the handle queues the upload, and background
 * workers send it, several files at once. fsync(2) uploads at once and reports the upload's
 * error. A failure ends in the recovery folder and the log, as in UPLOAD_WAIT; a crash leaves
 * the data in the staging folder, which the next mount moves to the recovery folder.
 * UPLOAD_WAIT: close returns once the object is in the bucket, with the upload's error. */
enum upload_mode { UPLOAD_BACKGROUND, UPLOAD_WAIT };
/* Workers that upload closed files, and the most files waiting for them: past that, close
 * uploads in the caller's thread, which slows a writer down to the uploads' pace. An upload of
 * a small file is mostly round trip: 32 at once keep a writer of small files going at
 * several hundred files a second. */
#define UPLOAD_WORKERS 32
#define UPLOAD_QUEUE_MAX 1024

/* Chooses the mode (option upload_on_close); without a call it is UPLOAD_BACKGROUND. Call it
 * once, before the session starts: it starts no thread (background workers start with the
 * first upload, in the daemon). */
void upload_set_mode(struct gmfs *fs, enum upload_mode mode);
/* Waits for every queued upload to finish and stops the workers: call it from destroy
 * before the final uploads (without it, those upload queued files one at a time, and the
 * open-file table stops the workers when it is freed). */
void upload_stop(struct gmfs *fs);

/* With the node mutex held: close(2) of a writable handle. In background mode the staged
 * data is made durable locally (the release that follows queues the upload); in wait mode it
 * is uploaded now. Returns 0 or -errno for close to report. */
int fnode_close_upload(struct gmfs *fs, struct fnode *n);
/* With the node mutex held: fsync(2). Uploads pending data now; else reports (once) the
 * error of a background upload that failed since. */
int fnode_fsync(struct gmfs *fs, struct fnode *n);
/* With the node mutex held, after handle_close(): a handle (writable or not) was released.
 * In background mode a writable one's data, or whatever the last one leaves, is queued; in
 * wait mode the last one uploads what is left. The last one ends the staging unless an
 * upload is queued, whose worker then does. */
void fnode_release(struct gmfs *fs, struct fnode *n, int writable);
/* With the node mutex held, after a change to staged data (truncate(2) of a file, which may
 * be nobody's open file): what a close would do. Background mode queues the upload (the data
 * made durable first) and returns 0; wait mode uploads now and returns the upload's -errno,
 * a failure keeping the data in the recovery folder when no handle is open. Either way the
 * staging ends once nothing is left for it, if no handle is open. */
int fnode_settle(struct gmfs *fs, struct fnode *n);

/* What is waiting to reach the bucket, for gcsmount --status and unmount. */
struct upload_status {
	uint64_t pending_files; /* files with written data not uploaded yet */
	uint64_t staged_bytes;	/* the size of their data */
	uint64_t failed_files;	/* of those, files whose last upload failed */
	uint64_t queued_files;	/* of those, files closed and waiting for a background upload */
};
/* Fills *out; thread-safe, takes each node's mutex in turn (so never call it holding one). */
void upload_status(struct gmfs *fs, struct upload_status *out);

#endif
