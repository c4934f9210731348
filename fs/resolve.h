/* What a name in the mount stands for, and the replies that carry it to the kernel.
 *
 * A name is a directory when anything exists under "name/" (a placeholder object or, with
 * implicit directories, any object), else a file when the object exists or was created here
 * and not uploaded yet. Answers come from, in order: files staged here, fresh inode
 * attributes, a cached listing of the parent (one listing answers every name in it), and
 * only then GCS. Thread-safe: the modules it reads lock themselves. */
#ifndef GCSMOUNT_FS_RESOLVE_H
#define GCSMOUNT_FS_RESOLVE_H

#include <sys/stat.h>

#include "fs/fs.h"

/* The object name of a new entry name in directory parent: -ENAMETOOLONG or -EINVAL for names
 * GCS cannot store, -ENOTDIR when parent is not a directory. *path is malloc'd. */
int fs_new_name(struct gmfs *fs, fuse_ino_t parent, const char *name, int is_dir, char **path);
/* The object name of an existing entry name in directory parent. *path is malloc'd. */
int fs_old_name(struct gmfs *fs, fuse_ino_t parent, const char *name, char **path);

/* Finds out what path names: a directory, else a file, else -ENOENT. Fills *attr (the
 * caller clears it) on success, and *seen (may be NULL) with the inode table's epoch when that
 * answer was asked for (see itable_ref_seen()). */
int fs_resolve(struct gmfs *fs, const char *path, int *is_dir, struct iattr *attr, uint64_t *seen);
/* Overlays the state of a staged node (size, mtime, mode) on attributes. */
void fs_overlay_node(struct gmfs *fs, uint64_t ino, struct iattr *attr);

void fs_fill_stat(struct stat *st, uint64_t ino, const struct iattr *a);
/* fs_fill_stat() of an inode's attributes as the table has them (*attr), with what a staged
 * file overlays on them. */
void fs_fill_entry_stat(struct gmfs *fs, struct stat *st, uint64_t ino, int is_dir,
			struct iattr *attr);
/* Replies with the attributes of ino, asking GCS again when they are stale. */
void fs_reply_attr(fuse_req_t req, uint64_t ino);
/* Replies to a lookup-like request with the inode of (path, is_dir), taking a reference.
 * attr was read at epoch seen (ITABLE_LOCAL: it is the result of a change made here).
 * Returns 0, or -ESTALE without replying when this mount removed or renamed the name (or a
 * directory above it) after seen: the caller asks again under the names of now. */
int fs_reply_entry(fuse_req_t req, const char *path, int is_dir, const struct iattr *attr,
		   uint64_t seen);

/* Entries of path's directory changed through this mount: its mtime and ctime are now. */
void fs_touch_parent(struct gmfs *fs, const char *path);
/* The owner of a new entry in parent, as Linux gives it: the caller's uid and gid, except
 * that a set-group-ID parent gives its group (and, to a new directory, its set-group-ID bit,
 * added to *mode). */
void fs_new_owner(fuse_req_t req, fuse_ino_t parent, int is_dir, uid_t *uid, gid_t *gid,
		  mode_t *mode);

#endif
