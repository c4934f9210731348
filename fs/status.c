/* The mount's status server and its client (see fs/status.h).
 *
 * The socket lives in the abstract namespace under a name hashed from the mount point, so a
 * mount that dies leaves nothing behind and a new mount on the same point can bind again.
 * Answers are a few hundred bytes, written whole before the connection closes; nothing is read
 * from the client, so a client cannot make the server do anything but answer. */
#include "fs/status.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/stage.h"
#include "fs/upload.h"
#include "util/log.h"

struct status_server {
	int fd;
	char *bucket, *mountpoint, *access, *identity;
	struct gmfs *fs;
	pthread_t thread;
	int started;
};

/* "\0gcsmount-status-HASH": FNV-1a of the mount point's path. */
static socklen_t socket_name(const char *mountpoint, struct sockaddr_un *sa)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)mountpoint; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "gcsmount-status-%016llx",
			 (unsigned long long)h);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

struct status_server *status_new(const struct status_facts *f, char *why, size_t whylen)
{
	struct status_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa;
	socklen_t len = socket_name(f->mountpoint, &sa);

	if (!s)
		goto nomem;
	s->fd = -1;
	s->bucket = strdup(f->bucket);
	s->mountpoint = strdup(f->mountpoint);
	s->access = strdup(f->access);
	s->identity = strdup(f->identity);
	if (!s->bucket || !s->mountpoint || !s->access || !s->identity)
		goto nomem;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, len) != 0 || listen(s->fd, 8) != 0) {
		snprintf(why, whylen, "the status socket of %s: %s%s", f->mountpoint,
			 strerror(errno),
			 errno == EADDRINUSE ? " (another gcsmount serves this mount point)" : "");
		status_free(s);
		return NULL;
	}
	return s;
nomem:
	snprintf(why, whylen, "out of memory");
	status_free(s);
	return NULL;
}

uint64_t status_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int status_format(struct buf *out, const struct status_facts *f, struct gmfs *fs)
{
	struct upload_status up = {0};
	const char *recovered = fs->stage ? stage_recovered_dir(fs->stage) : NULL;

	upload_status(fs, &up);
	return buf_printf(out,
			  "mount: gs://%s on %s\n"
			  "access: %s\n"
			  "identity: %s\n"
			  "pid: %d\n"
			  "uploads pending: %llu\n"
			  "bytes staged: %llu\n"
			  "uploads failed: %llu\n"
			  "recovered files: %llu in %s\n"
			  "errors since mount: %lu\n",
			  f->bucket, f->mountpoint, f->access, f->identity, (int)getpid(),
			  (unsigned long long)up.pending_files, (unsigned long long)up.staged_bytes,
			  (unsigned long long)up.failed_files,
			  (unsigned long long)(recovered ? status_count_files(recovered) : 0),
			  recovered ? recovered : "-", log_error_count());
}

static void *serve(void *arg)
{
	struct status_server *s = arg;
	struct status_facts f = {s->bucket, s->mountpoint, s->access, s->identity};

	for (;;) {
		int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct buf text;

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* shut down */
		}
		/* The mount's owner and root may ask; nobody else learns about it. */
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 &&
		    (cred.uid == 0 || cred.uid == getuid())) {
			struct timeval tv = {5, 0};

			setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			buf_init(&text, 64u << 10);
			if (status_format(&text, &f, s->fs) == 0) {
				ssize_t w = send(c, text.data, text.len, MSG_NOSIGNAL);
				(void)w;
			}
			buf_free(&text);
		}
		close(c);
	}
	return NULL;
}

int status_start(struct status_server *s, struct gmfs *fs)
{
	int rc;

	s->fs = fs;
	rc = pthread_create(&s->thread, NULL, serve, s);
	if (rc)
		return -rc;
	s->started = 1;
	return 0;
}

void status_free(struct status_server *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR); /* wakes accept() */
	if (s->started)
		pthread_join(s->thread, NULL);
	if (s->fd >= 0)
		close(s->fd);
	free(s->bucket);
	free(s->mountpoint);
	free(s->access);
	free(s->identity);
	free(s);
}

/* The uid that owns the gcsmount mount at path (its user_id option), or -ENOENT when path is
 * no gcsmount mount. */
static long mount_owner(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192];
	long owner = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPEROPTS */
		char mp[4096], fstype[64], super[1024];
		char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (strcmp(mp, path) != 0 || strcmp(fstype, "fuse.gcsmount") != 0)
			continue;
		const char *uid = strstr(super, "user_id=");
		owner = uid ? strtol(uid + 8, NULL, 10) : -ENOENT;
	}
	fclose(f);
	return owner;
}

/* Connects to the status socket of mountpoint and reads the answer; *peer gets who answers. */
static int query(const char *mountpoint, struct buf *out, struct ucred *peer)
{
	struct sockaddr_un sa;
	socklen_t clen = sizeof(*peer);
	char buf[4096];
	int fd, rc = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socklen_t len = socket_name(mountpoint, &sa);
	if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
		rc = errno == ECONNREFUSED ? -ENOENT : -errno;
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, peer, &clen) != 0) {
		rc = -errno;
		goto out;
	}
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = buf_append(out, buf, (size_t)n);
		if (rc)
			break;
	}
out:
	close(fd);
	return rc;
}

int status_query(const char *mountpoint, struct buf *out, pid_t *pid)
{
	struct ucred peer;
	long owner = mount_owner(mountpoint);
	int rc;

	if (owner < 0)
		return (int)owner;
	rc = query(mountpoint, out, &peer);
	/* Anyone may bind an abstract name: only the mount owner's process is believed. */
	if (!rc && (long)peer.uid != owner)
		rc = -EPERM;
	if (!rc && out->len == 0)
		rc = -EPERM; /* the daemon answers only its owner and root */
	/* Not peer.pid: that is whoever called listen(), the process before it daemonized. */
	if (!rc)
		*pid = (pid_t)status_value(out->data, "pid");
	return rc;
}

int status_query_daemon(const char *mountpoint, pid_t pid, struct buf *out)
{
	struct ucred peer;
	int rc = query(mountpoint, out, &peer);

	if (!rc && (peer.uid != 0 && peer.uid != getuid() && geteuid() != 0))
		rc = -EPERM;
	if (!rc && (pid_t)status_value(out->data, "pid") != pid)
		rc = -EPERM;
	return rc;
}

uint64_t status_value(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ':' && p[klen + 1] == ' ')
			return strtoull(p + klen + 2, NULL, 10);
	return 0;
}
