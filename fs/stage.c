/* Staging and recovery folders.
 *
 * Staged files are named files (not O_TMPFILE) in a folder per mount process, so that data
 * survives a crash of the daemon: the next mount of the bucket finds the folder of a process
 * that is gone and moves it to recovered/. Recovery copies rather than links, because the
 * staged file may still be written through open handles after the copy is made. */
#include "fs/stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

struct stage {
	char *staging;	 /* BASE/BUCKET/staging/PID */
	char *recovered; /* BASE/BUCKET/recovered */
};

char *stage_default_base(void)
{
	struct buf b;
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int rc;

	buf_init(&b, 4096);
	if (geteuid() == 0)
		rc = buf_append_str(&b, "/var/tmp/gcsmount");
	else if (xdg && *xdg == '/')
		rc = buf_printf(&b, "%s/gcsmount", xdg);
	else if (home && *home == '/')
		rc = buf_printf(&b, "%s/.cache/gcsmount", home);
	else
		rc = buf_printf(&b, "/var/tmp/gcsmount-%u", (unsigned)geteuid());
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *q = p + 1;; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		*q = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*q = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* Moves the staging folders of dead mounts into recovered/. */
static void adopt_orphans(struct stage *s, const char *staging_root)
{
	DIR *d = opendir(staging_root);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue; /* that mount still runs */
		char from[4096], to[4096];
		snprintf(from, sizeof(from), "%s/%s", staging_root, e->d_name);
		snprintf(to, sizeof(to), "%s/orphaned-%s-%ld", s->recovered, e->d_name,
			 (long)time(NULL));
		if (rmdir(from) == 0)
			continue; /* it was empty */
		if (rename(from, to) == 0)
			log_warn("a previous mount (pid %ld) left data that was never uploaded; "
				 "it is kept in %s",
				 pid, to);
	}
	closedir(d);
}

struct stage *stage_new(const char *base, const char *bucket, char *why, size_t whylen)
{
	struct stage *s = calloc(1, sizeof(*s));
	struct buf root, a, b;
	int rc = -ENOMEM;

	buf_init(&root, 4096);
	buf_init(&a, 4096);
	buf_init(&b, 4096);
	if (!s || buf_printf(&root, "%s/%s/staging", base, bucket) ||
	    buf_printf(&a, "%s/%u", root.data, (unsigned)getpid()) ||
	    buf_printf(&b, "%s/%s/recovered", base, bucket))
		goto fail;
	s->staging = a.data;
	s->recovered = b.data;
	a.data = b.data = NULL;
	if ((rc = make_dirs(s->staging)) || (rc = make_dirs(s->recovered)))
		goto fail;
	if (access(s->staging, W_OK) != 0 || access(s->recovered, W_OK) != 0) {
		rc = -errno;
		goto fail;
	}
	adopt_orphans(s, root.data);
	buf_free(&root);
	return s;
fail:
	/* Usually a user without a writable home (nobody, a service): name the way out. */
	snprintf(why, whylen,
		 "staging folder %s/%s: %s; name a folder this user can write with -o "
		 "staging_dir=PATH (or --staging-dir PATH)",
		 base, bucket, strerror(-rc));
	buf_free(&root);
	buf_free(&a);
	buf_free(&b);
	stage_free(s);
	return NULL;
}

void stage_free(struct stage *s)
{
	if (!s)
		return;
	if (s->staging)
		rmdir(s->staging); /* only if empty: anything left is data */
	free(s->staging);
	free(s->recovered);
	free(s);
}

int stage_create(struct stage *s, char **path)
{
	struct buf b;
	int fd;

	buf_init(&b, 4096);
	if (buf_printf(&b, "%s/XXXXXX", s->staging))
		return -ENOMEM;
	fd = mkostemp(b.data, O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		buf_free(&b);
		return rc;
	}
	*path = b.data;
	return fd;
}

int stage_recover(struct stage *s, int fd, const char *object, char **saved)
{
	struct buf name;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int out = -1, rc = -ENOMEM;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	buf_init(&name, 8192);
	if (buf_printf(&name, "%s/%s-", s->recovered, stamp))
		goto out;
	/* The object's name, flattened: '/' cannot be part of a file name. */
	for (const char *p = object; *p; p++)
		if ((*p == '/' ? buf_append_str(&name, "%2F") : buf_append(&name, p, 1)))
			goto out;
	size_t base_len = name.len;
	for (int n = 0;; n++) {
		name.len = base_len;
		name.data[base_len] = '\0';
		if (n && buf_printf(&name, "~%d", n))
			goto out;
		out = open(name.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out >= 0 || errno != EEXIST || n > 100)
			break;
	}
	rc = -errno;
	if (out < 0)
		goto out;

	char buf[1 << 16];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (write(out, buf, (size_t)n) != n) {
			rc = errno ? -errno : -EIO;
			goto out;
		}
		off += n;
	}
	if (fsync(out) != 0) {
		rc = -errno;
		goto out;
	}
	*saved = name.data;
	name.data = NULL;
	rc = 0;
out:
	if (out >= 0)
		close(out);
	if (rc && out >= 0)
		unlink(name.data);
	buf_free(&name);
	return rc;
}

const char *stage_recovered_dir(const struct stage *s)
{
	return s->recovered;
}
