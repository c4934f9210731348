/* Building the POSIX metadata entries of an object (see fs/posix_meta.h). The value formats
 * are gcs/object.c's, next to the parser that reads them back. */
#include "fs/posix_meta.h"

#include <stdio.h>

void posix_meta_init(struct posix_meta *m)
{
	m->n = 0;
}

void posix_meta_add(struct posix_meta *m, const char *key, const char *value)
{
	if (m->n < sizeof(m->kv) / sizeof(m->kv[0]))
		m->kv[m->n++] = (struct gcs_kv){key, value};
}

void posix_meta_mode(struct posix_meta *m, mode_t mode)
{
	gcs_format_mode(mode, m->mode);
	posix_meta_add(m, "goog-reserved-posix-mode", m->mode);
}

void posix_meta_uid(struct posix_meta *m, uid_t uid)
{
	snprintf(m->uid, sizeof(m->uid), "%u", (unsigned)uid);
	posix_meta_add(m, "goog-reserved-posix-uid", m->uid);
}

void posix_meta_gid(struct posix_meta *m, gid_t gid)
{
	snprintf(m->gid, sizeof(m->gid), "%u", (unsigned)gid);
	posix_meta_add(m, "goog-reserved-posix-gid", m->gid);
}

void posix_meta_mtime(struct posix_meta *m, const struct timespec *t)
{
	if (t)
		gcs_format_mtime(t, m->secs, m->nsecs);
	posix_meta_add(m, "goog-reserved-file-mtime", t ? m->secs : NULL);
	posix_meta_add(m, "gcsfuse_mtime", t ? m->nsecs : NULL);
}

void posix_meta_rdev(struct posix_meta *m, dev_t rdev)
{
	snprintf(m->rdev, sizeof(m->rdev), "%llu", (unsigned long long)rdev);
	posix_meta_add(m, "gcsmount-rdev", m->rdev);
}
