/* Open files: the table of nodes and the handles open on them, and the queue of nodes
 * waiting for a background upload.
 *
 * A struct fnode exists for an inode while it has open handles, is being changed, or waits in
 * the upload queue. Once a file is opened for writing, its data lives in a staging file (see
 * fs/stage.h) until it is uploaded (fs/upload.h); reads through any handle of the same inode
 * then come from that file, so a process sees its own writes at once.
 *
 * The upload queue is a bounded FIFO of nodes, each holding a reference, served by worker
 * threads that call the table's work function on one node at a time, with no lock held. It
 * belongs to the table because a queued node must stay findable by inode and by name (a
 * reopen, rename or unlink meets the same node, staging file and mutex).
 *
 * Locks: ftable's lock guards the table, each node's refs and queued flag, and the queue; it
 * is a leaf lock. A node's path changes only with both its mutex and ftable's lock held, so
 * either one suffices to read it.
 * A node's own mutex guards everything else in it and is held across uploads, so that a
 * flush and a write never interleave. Take a node mutex first, then (inside modules) the
 * inode table's or ftable's lock. Two node mutexes at once only through fnode_lock_pair(),
 * which takes them in inode order (a rename holds its source and the file it replaces).
 * Because an upload holds the node mutex for as long as the bucket takes to answer, what stat,
 * listings and --status show of a node is copied into its view each time the mutex is
 * released (fnode_unlock()), and read from there (fnode_view()) under a leaf lock of its own. */
#ifndef GCSMOUNT_FS_OPEN_FILES_H
#define GCSMOUNT_FS_OPEN_FILES_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "fs/readahead.h"

struct gmfs;
struct lcopy;
struct gcs_object;
struct ftable;

/* An open file handle (FUSE's fh). It holds a reference to its node and sits on the node's
 * list, so handles the kernel never released (a daemon stopped with files open) are freed
 * with the table. */
struct handle {
	struct fnode *node;
	uint64_t generation; /* what reads of unstaged data get; node mutex */
	uint64_t size;
	int writable;
	int append;	     /* opened with O_APPEND: writes go to the staged data's end */
	struct ra_state ra;  /* node mutex */
	struct handle *next; /* node mutex */
};

/* What stat, listings and status show of a node, as of the last release of its mutex. */
struct fnode_view {
	int staged;	     /* has a staging file */
	int unlinked;
	int dirty;
	int failed;
	unsigned opens;
	uint64_t generation; /* 0: a new object */
	uint64_t size;
	struct timespec mtime;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	unsigned mode_set : 1, uid_set : 1, gid_set : 1;
};

struct fnode {
	uint64_t ino;
	char *path; /* the object's name */

	pthread_mutex_t lock;
	unsigned opens; /* open handles */
	struct handle *handles;
	int fd; /* staging file, -1 while the data lives only in GCS */
	char *stage_path;
	int dirty;    /* staged data (or attributes) not yet uploaded */
	int unlinked; /* the name was removed while open: nothing to upload */
	int failed;   /* the last upload failed; retried at the last close */
	int upload_err; /* -errno of a background upload that failed; the next fsync reports it */
	int synced;	/* the staging file's directory entry is on disk (fsync'd once) */
	uint64_t pin_ino; /* inode reference the queue holds for this node, 0 when none */
	/* While an upload is queued, the inode table shows the staged size and mtime; what it
	 * showed before, restored if the upload fails. */
	int published;
	uint64_t prev_size;
	struct timespec prev_mtime;
	uint64_t size;
	uint64_t generation; /* of the object the staged data replaces; 0: a new object */
	uint64_t metageneration;
	struct timespec mtime;
	mode_t mode; /* permission bits to store when mode_set */
	uid_t uid;
	gid_t gid;
	unsigned mode_set : 1, uid_set : 1, gid_set : 1;
	char *content_type;
	char *keep_metadata_json;
	char *keep_json; /* other writable fields of the object, carried over by uploads */
	/* Streaming: while a new or truncated file only grows by appends, full chunks go up in
	 * a resumable session as they are written, so the last close only sends the tail. The
	 * staged file still holds everything, for reads, fallback and recovery. */
	int streamable;
	char *session;	     /* the session, once the first chunk is due */
	uint64_t sent;	     /* bytes the session has kept */
	uint32_t stream_crc; /* CRC32C of [0, size) while streamable */
	/* Random readers of the object (fs/readahead.h), and the local copy made for them when
	 * they sweep it (cache/copy.h; owned, one reference). */
	struct rr_state rr;
	struct lcopy *copy;

	pthread_mutex_t view_lock; /* a leaf lock */
	struct fnode_view view;

	unsigned refs; /* ftable's lock */
	int queued;    /* in the upload queue, not yet taken by a worker; ftable's lock */
	int unnamed;   /* out of the index by path (ftable_unname()); ftable's lock */
	struct fnode *next;  /* ftable's lock: the chain of nodes by inode number */
	struct fnode *pnext; /* ftable's lock: the chain of nodes by path */
	struct fnode *qnext; /* ftable's lock */
};

struct ftable *ftable_new(void);
/* Stops the queue's workers (see ftable_queue_stop()), then frees every node. */
void ftable_free(struct ftable *t);

/* The node of ino, created for path if there is none; takes a reference. NULL: ENOMEM. */
struct fnode *ftable_get(struct ftable *t, uint64_t ino, const char *path);
/* The node of ino, or of path, if one exists; takes a reference. */
struct fnode *ftable_find(struct ftable *t, uint64_t ino);
struct fnode *ftable_find_path(struct ftable *t, const char *path);
/* Drops a reference; the last one frees the node. Never call with the node mutex held. */
void ftable_put(struct ftable *t, struct fnode *n);
/* Gives n a new name; the caller holds n's mutex. Returns 0 or -ENOMEM. */
int ftable_set_path(struct ftable *t, struct fnode *n, const char *path);
/* With n's mutex held: n's name now belongs to another file or to none (unlinked, or renamed
 * over), so lookups by path no longer find n; n->path stays, for the log. For good. */
void ftable_unname(struct ftable *t, struct fnode *n);
/* Renames every node below old/ to the same place below new/; no node mutex held. */
void ftable_rename_dir(struct ftable *t, const char *old, const char *new);
/* Calls fn on every node whose path is below prefix/ (all nodes for ""), with a reference
 * held and no lock. Stops at and returns the first non-zero result. */
int ftable_each(struct ftable *t, const char *prefix, int (*fn)(struct fnode *, void *), void *arg);

/* The upload queue. work(arg, n) runs on a worker thread with no lock held; the queue's
 * reference to n is dropped after it returns. */
typedef void (*fnode_work_fn)(void *arg, struct fnode *n);

/* Starts nthreads workers for a queue of at most max_queued nodes. Only the first call acts:
 * with nthreads 0 it switches the queue off for good (nodes are then never queued). Returns 0,
 * or -errno if no thread could start (the queue stays off). */
int ftable_queue_start(struct ftable *t, int nthreads, unsigned max_queued, fnode_work_fn work,
		       void *arg);
/* Queues n, taking a reference, unless it waits in the queue already (then 0 too). Returns
 * -EAGAIN when the queue is full and -ESRCH when it runs no workers (never started, off, or
 * stopped); the caller then does the work itself. */
int ftable_queue_add(struct ftable *t, struct fnode *n);
/* Waits until every queued node has been worked on, then stops the workers; later adds fail
 * with -ESRCH. Call with no node mutex held. */
void ftable_queue_stop(struct ftable *t);
/* Nodes waiting in the queue or being worked on. */
unsigned ftable_queue_len(struct ftable *t);
/* Whether the queue runs workers (started, not off, not stopping). */
int ftable_queue_running(struct ftable *t);

/* The node mutex. fnode_unlock() copies the node's view before it releases the mutex. */
void fnode_lock(struct fnode *n);
void fnode_unlock(struct fnode *n);
/* Locks the mutexes of a and b (either may be NULL; a != b) in inode order, so that two
 * callers never wait for each other; fnode_unlock_pair() releases them. */
void fnode_lock_pair(struct fnode *a, struct fnode *b);
void fnode_unlock_pair(struct fnode *a, struct fnode *b);
/* The node's view as of the last fnode_unlock(); never waits for the node mutex. */
void fnode_view(struct fnode *n, struct fnode_view *v);
/* A copy of the node's name (malloc'd; NULL on ENOMEM), without the node mutex. */
char *ftable_path_of(struct ftable *t, struct fnode *n);

/* A new handle on node n (taking over the caller's reference to n), with n's mutex held;
 * NULL on ENOMEM. handle_close() undoes it: it unlinks and frees the handle, with n's mutex
 * held, and the caller then drops the reference with ftable_put(). */
struct handle *handle_open(struct fnode *n, uint64_t generation, uint64_t size, int writable);
void handle_close(struct handle *h);

/* With the node mutex held: the object generation moved_generation was moved (objects.move)
 * and is now generation, with the same bytes. Staged data based on it, and handles reading
 * it, follow; anything pinned to another generation was changed elsewhere and does not. */
void fnode_moved(struct fnode *n, uint64_t moved_generation, uint64_t generation,
		 uint64_t metageneration);
/* With the node mutex held: close and remove the staging file. */
void fnode_unstage(struct fnode *n);
/* With the node mutex held: drop the local copy (if any); fillers stop. */
void fnode_drop_copy(struct fnode *n);

#endif
