/* The custom metadata that carries POSIX attributes on an object, under the keys gsutil,
 * gcloud, Storage Transfer Service and gcsfuse read (see gcs/object.c for how they are read
 * back): goog-reserved-posix-mode, -uid, -gid, goog-reserved-file-mtime with gcsfuse_mtime for
 * the nanoseconds, and gcsmount-rdev for devices. One builder serves uploads, patches and new
 * entries, so that all three store them alike.
 *
 * struct posix_meta is a caller-owned value: the strings its entries point to live inside it,
 * so it must outlive the request that sends m->kv. */
#ifndef GCSMOUNT_FS_POSIX_META_H
#define GCSMOUNT_FS_POSIX_META_H

#include <sys/types.h>
#include <time.h>

#include "gcs/object.h"
#include "gcs/write.h"

struct posix_meta {
	struct gcs_kv kv[7];
	size_t n;
	char mode[GCS_MODE_STR], uid[16], gid[16], rdev[24];
	char secs[GCS_MTIME_STR], nsecs[GCS_MTIME_STR];
};

void posix_meta_init(struct posix_meta *m);
/* mode: permission and special bits, with the type bits of a FIFO, socket or device. */
void posix_meta_mode(struct posix_meta *m, mode_t mode);
void posix_meta_uid(struct posix_meta *m, uid_t uid);
void posix_meta_gid(struct posix_meta *m, gid_t gid);
/* t == NULL deletes a stored mtime (the object's update time then stands for it). */
void posix_meta_mtime(struct posix_meta *m, const struct timespec *t);
void posix_meta_rdev(struct posix_meta *m, dev_t rdev);
/* Any other entry; value must outlive m's use. */
void posix_meta_add(struct posix_meta *m, const char *key, const char *value);

#endif
