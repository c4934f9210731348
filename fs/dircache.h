/* Recent directory listings, so that lookups in a listed directory cost no request.
 *
 * A listing of one page or less is complete, and then answers both "what is NAME" and "NAME
 * does not exist" for as long as the caller's TTLs allow. The cache is bounded by the total
 * number of entries it holds (whole directories are evicted, least recently used first).
 * Changes made through the mount update the listing they touch (or drop it).
 * Thread-safe: one leaf mutex; lookups copy what they return. */
#ifndef GCSMOUNT_FS_DIRCACHE_H
#define GCSMOUNT_FS_DIRCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "fs/dir.h"

struct dircache;

struct dircache *dircache_new(size_t max_entries);
void dircache_free(struct dircache *c);

/* Takes over the entries of *l (leaving it empty) as the listing of dirpath. An incomplete
 * listing (l->complete == 0) is not kept, only remembered: the directory is too large to be
 * listed for a lookup. */
void dircache_put(struct dircache *c, const char *dirpath, struct dirlist *l);
/* dircache_put() of a listing asked for at the caller's epoch seen (see itable_epoch()),
 * which is now at now: a listing during which anything changed through the mount is not kept,
 * since it may show the state before the change. */
void dircache_put_seen(struct dircache *c, const char *dirpath, struct dirlist *l, uint64_t seen,
		       uint64_t now);
/* Looks name up in the listing of dirpath. Returns 1 and fills *is_dir and attr (a copy)
 * when the listing has it and is younger than found_ttl; 0 when the listing lacks it and
 * is younger than absent_ttl; -E2BIG when dirpath was found too large within found_ttl;
 * -ENOENT when there is no usable listing; -ENOMEM. */
int dircache_lookup(struct dircache *c, const char *dirpath, const char *name, double found_ttl,
		    double absent_ttl, int *is_dir, struct iattr *attr);
/* dircache_lookup() that also gives, when it finds name, the epoch its listing was asked for. */
int dircache_lookup_seen(struct dircache *c, const char *dirpath, const char *name,
			 double found_ttl, double absent_ttl, int *is_dir, struct iattr *attr,
			 uint64_t *seen);
/* A change made through this mount: path now exists with these attributes, or is gone.
 * A cached listing of its parent is updated in place, so it stays usable. */
void dircache_set(struct dircache *c, const char *path, int is_dir, const struct iattr *attr);
void dircache_remove(struct dircache *c, const char *path);
/* Forgets the listing of the directory that holds path (path's parent). */
void dircache_invalidate_parent(struct dircache *c, const char *path);
/* Forgets every listing at or below dirpath (after a directory rename). */
void dircache_invalidate_tree(struct dircache *c, const char *dirpath);

/* A file worth fetching before it is opened. */
struct dircache_next {
	char *path; /* the caller frees it */
	uint64_t generation, size;
};
/* Opening files of a directory in name order (as `cat *`, `cp -r`, `tar` and data loaders
 * do) makes the next ones worth fetching before they are asked for. Records that path was
 * opened and, once the opens of its directory run in order (a little out of order is fine:
 * parallel readers take files by turns), writes the regular files of at most max_size bytes
 * among the next window entries, not handed out before, to out (room for window entries).
 * Returns how many. Only a directory with a complete cached listing takes part. */
size_t dircache_note_open(struct dircache *c, const char *path, size_t window, uint64_t max_size,
			  struct dircache_next *out);

#endif
