/* Local files where written data waits for its upload, and where data that could not be
 * uploaded is kept for the user.
 *
 * Layout under the base directory: BUCKET/staging/PID/ holds this mount's staged files;
 * BUCKET/recovered/ holds data that failed to upload or conflicted with another writer.
 * At start, staging folders of mounts that no longer run are moved to recovered/, so data a
 * crashed mount held is never lost. Folders that another user made, may write, or replaced
 * by a symbolic link are refused. struct stage is opaque and thread-safe. */
#ifndef GCSMOUNT_FS_STAGE_H
#define GCSMOUNT_FS_STAGE_H

#include <stddef.h>

struct stage;

/* The default base: /var/tmp/gcsmount for root, else $XDG_CACHE_HOME/gcsmount or
 * ~/.cache/gcsmount. Returns a malloc'd string or NULL. */
char *stage_default_base(void);

/* Creates (if needed) and checks the folders. On failure returns NULL with a sentence for
 * the user in why. */
struct stage *stage_new(const char *base, const char *bucket, char *why, size_t whylen);
void stage_free(struct stage *s);

/* Creates an empty staging file. Returns its descriptor and sets *path (malloc'd), or -errno.
 * stage_create_for() names the file after object too (NULL: no name), so that data a crash
 * leaves behind says which object it was. */
int stage_create(struct stage *s, char **path);
int stage_create_for(struct stage *s, const char *object, char **path);

/* Copies the data of fd into recovered/ under a name made from the object's name and the
 * time, and sets *saved (malloc'd) to its path. Returns 0 or -errno. */
int stage_recover(struct stage *s, int fd, const char *object, char **saved);

/* The folder that holds recovered data (BASE/BUCKET/recovered); owned by s. */
const char *stage_recovered_dir(const struct stage *s);

#endif
