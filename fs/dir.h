/* Directory listings: one directory's entries, fetched whole from objects.list.
 *
 * struct dirlist is a caller-owned value (zero it, dirlist_fetch() fills it, dirlist_clear()
 * releases it). Not shared between threads. */
#ifndef GCSMOUNT_FS_DIR_H
#define GCSMOUNT_FS_DIR_H

#include <stddef.h>

#include "fs/inode.h"

struct gcs_client;

struct dirlist_entry {
	char *name;
	int is_dir;
	struct iattr attr;
};

struct dirlist {
	struct dirlist_entry *ents;
	size_t n, cap;
	size_t skipped;	 /* objects whose names cannot be shown as entries */
	size_t shadowed; /* files hidden by a directory of the same name */
	int complete;	 /* every page was read */
};

/* Whether a path component can be shown: not empty, not "." or "..", no '/', at most 255
 * bytes (the kernel's NAME_MAX). */
int dir_name_showable(const char *name, size_t len);

#define DIRLIST_PARALLEL_MAX 32

/* Lists the directory whose prefix is dirpath ("" for the root), paging through all
 * results. Entries come sorted by name; a file and a directory of the same name show as the
 * directory. Without implicit_dirs, only prefixes with a placeholder object are directories.
 * With parallel > 1, a directory of more than one page is read as that many key ranges at
 * once, which costs a few more requests than pages. Returns 0 or -errno. */
int dirlist_fetch(struct gcs_client *gcs, const char *dirpath, const struct iattr_defaults *d,
		  int implicit_dirs, int parallel, struct dirlist *out);
/* The same, reading at most max_pages pages; out->complete says whether that was all. */
int dirlist_fetch_pages(struct gcs_client *gcs, const char *dirpath, const struct iattr_defaults *d,
			int implicit_dirs, int max_pages, struct dirlist *out);
void dirlist_clear(struct dirlist *l);
/* Adds an entry (copying name and attr); call dirlist_sort() after the last one. */
int dirlist_add(struct dirlist *l, const char *name, int is_dir, const struct iattr *attr);
/* Sorts by name and merges duplicates as dirlist_fetch() does. */
void dirlist_sort(struct dirlist *l);

/* Guesses where the names that follow a page [first, last] begin: up to max names, each
 * after last and before end (NULL: no end), none shorter than plen, in order, written to out
 * (the caller frees them). Names counting through digits or letters ("f00999" is followed
 * by "f01", "f02", ...) give points that each start about a page. Returns how many. */
size_t dir_split_points(const char *first, const char *last, const char *end, size_t plen,
			char **out, size_t max);

/* Joins a directory path and a name into a newly allocated object path. */
char *dir_join(const char *dirpath, const char *name);
/* Whether name (len bytes) is well-formed UTF-8, as GCS requires of object names. */
int dir_name_is_utf8(const char *name, size_t len);

#endif
