/* The mounted filesystem: shared state of the FUSE operations.
 *
 * One struct gmfs per mount, created by main before the session starts and freed after it
 * ends; the operations only read its configuration and reach mutable state through the
 * thread-safe modules it points to (inode table, storage client, block cache). */
#ifndef GCSMOUNT_FS_FS_H
#define GCSMOUNT_FS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/uio.h>

#include "fs/dircache.h"
#include "fs/inode.h"

struct gcs_client;
struct bcache;
struct ftable;
struct stage;
struct readahead;
struct workers;
struct metrics;
struct dcache;
struct dircache;
struct status_server;

struct gmfs {
	struct gcs_client *gcs;
	struct itable *inodes;
	struct bcache *blocks; /* NULL: every read goes to the server */
	struct dcache *disk;   /* on-disk blocks under the memory cache, or NULL */
	/* What the memory cache calls on a miss (a bcache_fetch_fn): the disk cache layer, or the
	 * server. */
	ssize_t (*fetch)(void *arg, const char *object, uint64_t generation, uint64_t off,
			 const struct iovec *iov, int iovcnt);
	void *fetch_arg;
	struct ftable *files;  /* open files and their staged data */
	struct dircache *dirs; /* recent listings that answer lookups */
	struct readahead *ra;  /* started at init, when the daemon runs; NULL: none */
	uint64_t ra_window;    /* most bytes read ahead of one sequential reader */
	int ra_threads;
	/* Reads that wait for the bucket run here, not on FUSE's threads (fs/file_ops.c);
	 * started at init, stopped when the session loop ends; NULL: they run where they
	 * arrive. */
	struct workers *readers;
	int read_threads;
	size_t prefetch_files;	      /* files fetched ahead of opens in name order */
	struct metrics *metrics;      /* started at init */
	struct status_server *status; /* started at init, or NULL */
	struct stage *stage;
	int read_only;
	int implicit_dirs;	 /* prefixes without a placeholder object are directories */
	int list_parallel;	 /* key ranges of one listing read at once */
	size_t chunk_size;	 /* resumable upload chunk, a multiple of 256 KiB */
	size_t rename_dir_limit; /* most objects one directory rename moves */
	const char *bucket;
	struct iattr_defaults defaults;
	double stat_ttl;     /* how long attributes and entries are trusted */
	double negative_ttl; /* how long a missing name is trusted to stay missing */
};

#define PREFETCH_FILES_MAX 64

/* The mount a request belongs to. */
static inline struct gmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

extern const struct fuse_lowlevel_ops gmfs_ops;

/* A block fetch straight from GCS (arg: the struct gmfs), for fs->fetch: one ranged GET that
 * fills the buffers of iov in order. */
ssize_t fs_fetch_from_server(void *arg, const char *object, uint64_t generation, uint64_t off,
			     const struct iovec *iov, int iovcnt);

/* Something under path changed through this mount: listings that show it are stale. */
static inline void fs_changed(struct gmfs *fs, const char *path)
{
	dircache_invalidate_parent(fs->dirs, path);
}

/* Sets the root directory's attributes; call once before the session starts. */
int gmfs_init_root(struct gmfs *fs);

#endif
