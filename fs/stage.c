/* Staging and recovery folders.
 *
 * Staged files are named files (not O_TMPFILE) in a folder per mount process, so that data
 * survives a crash of the daemon: the next mount of the bucket finds the folder of a process
 * that is gone and moves it to recovered/. Recovery copies rather than links, because the
 * staged file may still be written through open handles after the copy is made.
 *
 * The folders hold users' data, so nobody else may choose where it goes: a folder made
 * beforehand by another user, one that others may write, or a symbolic link planted in its
 * place would let them read it, swap it, or send it anywhere. So every folder below the base
 * must belong to the mounting user and be writable by nobody else; the base and its
 * ancestors must belong to that user or to root and, if anyone may write them, carry the
 * sticky bit; no link is followed but one that user or root made. The folders are opened
 * once, without following links, and every file is made relative to their descriptors, so a
 * folder swapped afterwards changes nothing.
 *
 * A staged file's name holds the object's name after a random part (flattened: '/' becomes
 * %2F, cut to fit a file name), and its user.gcsmount.object attribute holds the whole name
 * where the filesystem keeps such attributes: data a crash left behind says what it was. */
#include "fs/stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

#define OBJECT_XATTR "user.gcsmount.object"
/* Bytes of a flattened object name in a file name: room for the random part and a suffix. */
#define NAME_PART_MAX 200

struct stage {
	char *staging;	 /* BASE/BUCKET/staging/PID */
	char *recovered; /* BASE/BUCKET/recovered */
	int staging_fd;
	int recovered_fd;
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

/* Why a folder on the way to the base (or the base) may not lead to our data, or NULL. */
static const char *unsafe_above(const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return st->st_uid == geteuid() || st->st_uid == 0
			       ? NULL
			       : "is a symbolic link made by another user";
	if (!S_ISDIR(st->st_mode))
		return "is not a folder";
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return "belongs to another user";
	if ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX))
		return "may be changed by every user (and has no sticky bit)";
	return NULL;
}

/* Why one of our own folders may not hold our data, or NULL. */
static const char *unsafe_own(const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return "is not a folder";
	if (st->st_uid != geteuid())
		return "belongs to another user";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "may be written by other users";
	return NULL;
}

/* Sets why to the refusal of path, with the way out. Returns -EPERM. */
static int refuse(char *why, size_t whylen, const char *path, const char *what,
		  const struct stat *st)
{
	snprintf(why, whylen,
		 "staging folder %s %s (owner uid %u, mode %04o); gcsmount keeps written data "
		 "only in folders that its user alone controls. Remove it, or name another "
		 "folder with -o staging_dir=PATH (or --staging-dir PATH)",
		 path, what, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
	return -EPERM;
}

/* Checks the folders from / down to path (those that exist). */
static int check_above(const char *path, char *why, size_t whylen)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *q = p + 1;; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		char c = *q;
		struct stat st;

		*q = '\0';
		if (lstat(p, &st) != 0) {
			if (errno != ENOENT)
				rc = -errno;
			break; /* the rest is made by us */
		}
		const char *bad = unsafe_above(&st);
		if (bad) {
			rc = refuse(why, whylen, p, bad, &st);
			break;
		}
		*q = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
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

/* Makes (if needed) and opens folder name in dirfd, never through a link, and checks that it
 * is ours alone. path names it for messages. Returns the descriptor or -errno. */
static int open_own(int dirfd, const char *name, const char *path, char *why, size_t whylen)
{
	struct stat st;
	int fd;

	if (mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;

		if ((rc == -ELOOP || rc == -ENOTDIR) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return refuse(why, whylen, path,
				      S_ISLNK(st.st_mode) ? "is a symbolic link" : "is not a folder",
				      &st);
		return rc;
	}
	const char *bad = fstat(fd, &st) == 0 ? unsafe_own(&st) : NULL;
	if (bad) {
		close(fd);
		return refuse(why, whylen, path, bad, &st);
	}
	return fd;
}

/* Moves the staging folders of dead mounts into recovered/. */
static void adopt_orphans(struct stage *s, int root_fd, const char *staging_root)
{
	int fd = dup(root_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue; /* that mount still runs */
		if (fstatat(root_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || unsafe_own(&st)) {
			log_warn("%s/%s is not a staging folder of this user; left alone", staging_root,
				 e->d_name);
			continue;
		}
		if (unlinkat(root_fd, e->d_name, AT_REMOVEDIR) == 0)
			continue; /* it was empty */
		char to[64];
		snprintf(to, sizeof(to), "orphaned-%ld-%ld", pid, (long)time(NULL));
		if (renameat(root_fd, e->d_name, s->recovered_fd, to) == 0)
			log_warn("a previous mount (pid %ld) left data that was never uploaded; "
				 "it is kept in %s/%s (each file named after its object)",
				 pid, s->recovered, to);
	}
	closedir(d);
}

/* The folders, made and checked from the base down; the staging root and the bucket folder
 * are needed only while the stage is set up. Returns 0, -EPERM after writing why, or -errno. */
static int open_folders(struct stage *s, const char *base, const char *bucket, char *why,
			size_t whylen)
{
	struct buf path;
	char pid[16];
	int base_fd = -1, bucket_fd = -1, root_fd = -1, rc;
	struct stat st;

	buf_init(&path, 8192);
	if ((rc = check_above(base, why, whylen)) || (rc = make_dirs(base)))
		goto out;
	base_fd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (base_fd < 0) {
		rc = -errno;
		if ((rc == -ELOOP || rc == -ENOTDIR) && lstat(base, &st) == 0)
			rc = refuse(why, whylen, base,
				    S_ISLNK(st.st_mode) ? "is a symbolic link" : "is not a folder",
				    &st);
		goto out;
	}
	if (fstat(base_fd, &st) == 0 && unsafe_above(&st)) {
		rc = refuse(why, whylen, base, unsafe_above(&st), &st);
		goto out;
	}
	rc = -ENOMEM;
	if (buf_printf(&path, "%s/%s", base, bucket))
		goto out;
	if ((rc = bucket_fd = open_own(base_fd, bucket, path.data, why, whylen)) < 0)
		goto out;
	rc = -ENOMEM;
	if (buf_append_str(&path, "/staging"))
		goto out;
	if ((rc = root_fd = open_own(bucket_fd, "staging", path.data, why, whylen)) < 0)
		goto out;
	snprintf(pid, sizeof(pid), "%u", (unsigned)getpid());
	rc = -ENOMEM;
	if (buf_printf(&path, "/%s", pid) || !(s->staging = strdup(path.data)))
		goto out;
	if ((rc = s->staging_fd = open_own(root_fd, pid, s->staging, why, whylen)) < 0)
		goto out;
	path.len = 0;
	rc = -ENOMEM;
	if (buf_printf(&path, "%s/%s/recovered", base, bucket) ||
	    !(s->recovered = strdup(path.data)))
		goto out;
	if ((rc = s->recovered_fd = open_own(bucket_fd, "recovered", s->recovered, why, whylen)) < 0)
		goto out;
	/* Write access as the user, not only as the owner bits say (ACLs, read-only mounts). */
	if (faccessat(s->staging_fd, ".", W_OK, AT_EACCESS) != 0 ||
	    faccessat(s->recovered_fd, ".", W_OK, AT_EACCESS) != 0) {
		rc = -errno;
		goto out;
	}
	path.len = 0;
	if (buf_printf(&path, "%s/%s/staging", base, bucket) == 0)
		adopt_orphans(s, root_fd, path.data);
	rc = 0;
out:
	if (root_fd >= 0)
		close(root_fd);
	if (bucket_fd >= 0)
		close(bucket_fd);
	if (base_fd >= 0)
		close(base_fd);
	buf_free(&path);
	return rc;
}

struct stage *stage_new(const char *base, const char *bucket, char *why, size_t whylen)
{
	struct stage *s = calloc(1, sizeof(*s));
	struct buf abs;
	int rc = -ENOMEM;

	buf_init(&abs, 8192);
	if (!s)
		goto fail;
	s->staging_fd = s->recovered_fd = -1;
	/* Relative to where we are now: the daemon leaves that folder. */
	if (base[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd))) {
			rc = -errno;
			goto fail;
		}
		if (buf_printf(&abs, "%s/", cwd))
			goto fail;
	}
	if (buf_append_str(&abs, base))
		goto fail;
	while (abs.len > 1 && abs.data[abs.len - 1] == '/')
		abs.data[--abs.len] = '\0';
	rc = open_folders(s, abs.data, bucket, why, whylen);
	if (rc)
		goto fail;
	buf_free(&abs);
	return s;
fail:
	/* Usually a user without a writable home (nobody, a service): name the way out. A
	 * refusal has said why already. */
	if (rc != -EPERM)
		snprintf(why, whylen,
			 "staging folder %s/%s: %s; name a folder this user can write with -o "
			 "staging_dir=PATH (or --staging-dir PATH)",
			 base, bucket, strerror(-rc));
	buf_free(&abs);
	stage_free(s);
	return NULL;
}

void stage_free(struct stage *s)
{
	if (!s)
		return;
	if (s->staging)
		rmdir(s->staging); /* only if empty: anything left is data */
	if (s->staging_fd >= 0)
		close(s->staging_fd);
	if (s->recovered_fd >= 0)
		close(s->recovered_fd);
	free(s->staging);
	free(s->recovered);
	free(s);
}

/* Appends the object's name with '/' as %2F, cut (on a character boundary) to fit a name. */
static int append_flat(struct buf *b, const char *object)
{
	size_t start = b->len;

	for (const char *p = object; *p; p++) {
		size_t n = *p == '/' ? 3 : 1;

		if (b->len - start + n > NAME_PART_MAX) {
			while (b->len > start && (b->data[b->len - 1] & 0xC0) == 0x80)
				b->len--;
			if (b->len > start && (b->data[b->len - 1] & 0x80))
				b->len--; /* the lead byte of the sequence just cut */
			b->data[b->len] = '\0';
			break;
		}
		if (*p == '/' ? buf_append_str(b, "%2F") : buf_append(b, p, 1))
			return -ENOMEM;
	}
	return 0;
}

/* Records the whole object name on the file, where the filesystem allows. */
static void name_file(int fd, const char *object)
{
	if (object && fsetxattr(fd, OBJECT_XATTR, object, strlen(object), 0) != 0 &&
	    errno != ENOTSUP && errno != EOPNOTSUPP)
		log_debug("%s: cannot record the object's name on its staged data: %s", object,
			  strerror(errno));
}

int stage_create_for(struct stage *s, const char *object, char **path)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	struct buf name;
	int fd = -EEXIST;

	buf_init(&name, 1024);
	for (int tries = 0; fd == -EEXIST && tries < 100; tries++) {
		unsigned char rnd[8];
		char part[sizeof(rnd) + 1];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] = (unsigned char)random();
		for (size_t i = 0; i < sizeof(rnd); i++)
			part[i] = alnum[rnd[i] % (sizeof(alnum) - 1)];
		part[sizeof(rnd)] = '\0';
		buf_reset(&name);
		if (buf_append_str(&name, part) ||
		    (object && (buf_append_str(&name, "~") || append_flat(&name, object)))) {
			fd = -ENOMEM;
			break;
		}
		fd = openat(s->staging_fd, name.data,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			fd = -errno;
	}
	if (fd >= 0) {
		struct buf full;

		buf_init(&full, 8192);
		if (buf_printf(&full, "%s/%s", s->staging, name.data)) {
			unlinkat(s->staging_fd, name.data, 0);
			close(fd);
			fd = -ENOMEM;
		} else {
			name_file(fd, object);
			*path = full.data;
		}
	}
	buf_free(&name);
	return fd;
}

int stage_create(struct stage *s, char **path)
{
	return stage_create_for(s, NULL, path);
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
	if (buf_printf(&name, "%s-", stamp) || append_flat(&name, object))
		goto out;
	size_t base_len = name.len;
	for (int n = 0;; n++) {
		name.len = base_len;
		name.data[base_len] = '\0';
		if (n && buf_printf(&name, "~%d", n))
			goto out;
		out = openat(s->recovered_fd, name.data,
			     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out >= 0 || errno != EEXIST || n > 100)
			break;
	}
	rc = -errno;
	if (out < 0)
		goto out;
	name_file(out, object);

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
	struct buf full;
	buf_init(&full, 16384);
	if (buf_printf(&full, "%s/%s", s->recovered, name.data))
		goto out;
	*saved = full.data;
	rc = 0;
out:
	if (out >= 0)
		close(out);
	if (rc && out >= 0)
		unlinkat(s->recovered_fd, name.data, 0);
	buf_free(&name);
	return rc;
}

const char *stage_recovered_dir(const struct stage *s)
{
	return s->recovered;
}
