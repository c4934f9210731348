/* Private to fs/: helpers shared by the read-side operations (ops.c) and the operations that
 * change the bucket (wops.c). */
#ifndef GCSMOUNT_FS_OPS_I_H
#define GCSMOUNT_FS_OPS_I_H

#include <sys/stat.h>
#include <time.h>

#include "fs/files.h"
#include "fs/fs.h"

static inline struct gmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline void fs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* Every operation that would change the bucket starts with this on a read-only mount. */
#define REFUSE_IF_READ_ONLY(fs, req)                  \
	do {                                          \
		if ((fs)->read_only) {                \
			fuse_reply_err((req), EROFS); \
			return;                       \
		}                                     \
	} while (0)

/* The object name of a new entry name in directory parent: -ENAMETOOLONG or -EINVAL for names
 * GCS cannot store, -ENOTDIR when parent is not a directory. */
int fs_new_name(struct gmfs *fs, fuse_ino_t parent, const char *name, int is_dir, char **path);

void fs_fill_stat(struct stat *st, uint64_t ino, const struct iattr *a);
/* Finds out what path names: a directory (anything under "path/"), else a file (in the
 * bucket or created here and not yet uploaded), else -ENOENT. Fills *attr on success. */
int fs_resolve(struct gmfs *fs, const char *path, int *is_dir, struct iattr *attr);
/* Overlays the state of a staged node (size, mtime, mode) on attributes. */
void fs_overlay_node(struct gmfs *fs, uint64_t ino, struct iattr *attr);
/* Replies with the attributes of ino, asking GCS again when they are stale. */
void fs_reply_attr(fuse_req_t req, uint64_t ino);
/* Replies to a lookup-like request with the inode of (path, is_dir), taking a reference. */
void fs_reply_entry(fuse_req_t req, const char *path, int is_dir, const struct iattr *attr);

/* Drops a handle; the last one of a node uploads what is left and ends the staging. */
void fs_close_handle(struct gmfs *fs, struct handle *h);

void wop_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
void wop_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	       struct fuse_file_info *fi);
void wop_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void wop_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void wop_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		 struct fuse_file_info *fi);
void wop_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void wop_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void wop_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void wop_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
void wop_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void wop_destroy(void *userdata);
/* Stages a node for writing on open; with the node mutex held. */
int wop_open_for_write(struct gmfs *fs, struct fnode *n, int truncate);
/* The last close of a node: final upload, then the staging file goes. Node mutex held. */
void wop_last_close(struct gmfs *fs, struct fnode *n);

#endif
