/* The inode table: which object or prefix each FUSE inode number stands for.
 *
 * An inode is identified by (path, is_dir): a file's path is its object name, a directory's
 * is its prefix without the trailing '/', and the root's is "" (or the only_dir prefix). Inode
 * numbers are a 64-bit hash of that identity, so the same name gets the same number for the life of
 * the mount (and across remounts, barring a hash collision, which is resolved by probing).
 *
 * All functions are thread-safe (one mutex guards the table and every inode's attributes);
 * callers get copies, never pointers into the table, so forget() may free an inode at any
 * time without leaving anyone with a dangling pointer. */
#ifndef GCSMOUNT_FS_INODE_H
#define GCSMOUNT_FS_INODE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define INODE_ROOT 1

struct gcs_object;
struct itable;

/* Attributes of a file or directory as gcsmount shows them. */
struct iattr {
	uint64_t size;
	uint64_t generation; /* 0 for directories without a placeholder object */
	uint64_t metageneration;
	struct timespec mtime;
	struct timespec ctime;
	mode_t mode; /* full st_mode, type bits included */
	dev_t rdev;  /* of a character or block device */
	uid_t uid;
	gid_t gid;
	char *link_target; /* symlinks stored in gcsfuse's legacy form; owned by the holder */
};

/* Defaults for objects that carry no POSIX metadata of their own. */
struct iattr_defaults {
	uid_t uid;
	gid_t gid;
	mode_t file_mode; /* permission bits */
	mode_t dir_mode;
	struct timespec dir_mtime; /* for directories with no placeholder object */
};

void iattr_clear(struct iattr *a);
/* Derives attributes from an object (obj may be NULL for an implicit directory). Returns 0
 * or -ENOMEM. */
int iattr_from_object(struct iattr *a, const struct gcs_object *obj, int is_dir,
		      const struct iattr_defaults *d);

/* root_path: the prefix the mount shows as its root, without a trailing '/' ("" for the
 * whole bucket). */
struct itable *itable_new(const char *root_path);
void itable_free(struct itable *t);

/* Finds or creates the inode for (path, is_dir), adds one lookup reference, replaces its
 * attributes with a copy of *attr and marks them valid for ttl seconds.
 * Returns the inode number, or 0 with errno set on allocation failure. */
uint64_t itable_ref(struct itable *t, const char *path, int is_dir, const struct iattr *attr,
		    double ttl);
/* Attributes read from GCS may be older than a change made through this mount meanwhile (a
 * listing sent before an upload and answered after it). Such readers take itable_epoch()
 * before they send their request and pass it as seen: the table then keeps what it knows
 * when the inode changed here since. Changes made here (itable_ref(), itable_set_attr(),
 * itable_note_moved(), itable_rename()) count as newer than anything read before them. */
#define ITABLE_LOCAL UINT64_MAX
uint64_t itable_epoch(struct itable *t);
/* itable_ref() of attributes read at epoch seen; *now (may be NULL) gets the attributes the
 * inode has afterwards, which are what the kernel should be told. A name this mount removed
 * or renamed away after seen gets no inode: 0 with errno ESTALE. *unsure (may be NULL) is set
 * when too many names were removed since seen to tell: the inode's attributes then count as
 * stale at once, and the kernel should not keep the entry either. */
uint64_t itable_ref_seen(struct itable *t, const char *path, int is_dir, const struct iattr *attr,
			 double ttl, uint64_t seen, struct iattr *now, int *unsure);
/* Whether an answer read at epoch seen may show (path, is_dir): ITABLE_SHOWN when an inode
 * has that name now or nothing here removed it since, ITABLE_GONE when this mount removed
 * or renamed it (or a directory above it) after seen, ITABLE_UNSURE when it cannot tell. */
enum { ITABLE_SHOWN, ITABLE_GONE, ITABLE_UNSURE };
int itable_removed_since(struct itable *t, const char *path, int is_dir, uint64_t seen);
/* A directory rename begins (begins = 1) or ends (0): while one is under way, its objects
 * are under neither name for a moment, and an answer that a name does not exist may be
 * wrong by the time it is given. */
void itable_moving(struct itable *t, int begins);
/* Whether nothing changed here since epoch seen and no directory rename is under way: an
 * answer that a name does not exist, read since seen, still holds. */
int itable_quiet_since(struct itable *t, uint64_t seen);

/* Drops n lookup references; the inode is freed when none remain (never the root). */
void itable_forget(struct itable *t, uint64_t ino, uint64_t n);

/* Copies an inode's path (malloc'd, caller frees), kind and attributes.
 * fresh, when not NULL, is set to whether the attributes are still within their ttl.
 * Returns 0 or -ENOENT for an unknown inode number, -ENOMEM. */
int itable_get(struct itable *t, uint64_t ino, char **path, int *is_dir, struct iattr *attr,
	       int *fresh);
/* The number of the inode known for (path, is_dir) with fresh attributes, copied into
 * attr, or 0 if there is none. Adds no reference. */
uint64_t itable_find_fresh(struct itable *t, const char *path, int is_dir, struct iattr *attr);
/* The number (path, is_dir) has, or would get: for directory entries that take no
 * reference. */
uint64_t itable_ino_of(struct itable *t, const char *path, int is_dir);
/* Replaces the attributes of a known inode. Returns 0 or -ENOENT, -ENOMEM. */
int itable_set_attr(struct itable *t, uint64_t ino, const struct iattr *attr, double ttl);
/* itable_set_attr() of attributes read at epoch seen (see itable_ref_seen()). */
int itable_set_attr_seen(struct itable *t, uint64_t ino, const struct iattr *attr, double ttl,
			 uint64_t seen);

/* The number and attributes (fresh or not) of the inode known for (path, is_dir).
 * Returns 0 or -ENOENT, -ENOMEM. */
int itable_lookup_path(struct itable *t, const char *path, int is_dir, uint64_t *ino,
		       struct iattr *attr);
/* The name (path, is_dir) no longer exists: later lookups of it will not find this inode,
 * which stays valid under its number until the kernel forgets it. */
void itable_detach(struct itable *t, const char *path, int is_dir);
/* (old, is_dir) is now called new; for a directory, everything below it moves too. An inode
 * that had the name new before is detached. */
void itable_rename(struct itable *t, const char *old, int is_dir, const char *new);

/* The file path now holds, under a new generation, the data of moved_generation (an
 * objects.move): its attributes become *attr (copied; fresh for ttl seconds), and a kernel
 * cache of the moved generation stays valid. Returns 0, -ENOENT when no inode has that path,
 * or -ENOMEM. */
int itable_note_moved(struct itable *t, const char *path, uint64_t moved_generation,
		      const struct iattr *attr, double ttl);

/* Entries of the directory path ("" for the root) were added, removed or renamed through this
 * mount at when: its mtime and ctime become when, and stay at least that for the life of the
 * inode, whatever later listings say (directory times are not stored in the bucket). */
void itable_touch_dir(struct itable *t, const char *path, const struct timespec *when);

/* Records that the kernel now caches data of the given generation for this inode, and
 * returns whether it already did (so an open may keep the kernel's page cache). */
int itable_note_open_generation(struct itable *t, uint64_t ino, uint64_t generation);

#endif
