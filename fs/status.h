/* The status of a running mount, for `gcsmount --status` and `gcsmount --unmount`.
 *
 * Each mount answers on an abstract Unix socket named after its mount point (no file to leave
 * behind or to clean up after a crash): a client connects, the daemon writes the status as
 * "key: value" lines and closes. Only the mounting user and root are answered, and the client
 * checks that the answering process belongs to the mount's owner, so another user cannot
 * stand in for a mount. struct status_server is opaque; its thread starts after daemonizing.
 *
 * The lines, in order:
 *   mount: gs://BUCKET on MOUNTPOINT
 *   access: read-write | read-only (why)
 *   identity: EMAIL or a description of the credentials
 *   pid: PID
 *   uploads pending: N
 *   bytes staged: N
 *   uploads failed: N
 *   recovered files: N in FOLDER
 *   errors since mount: N */
#ifndef GCSMOUNT_FS_STATUS_H
#define GCSMOUNT_FS_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

struct gmfs;
struct status_server;

/* What the status says besides the live counters; strings are copied. */
struct status_facts {
	const char *bucket;
	const char *mountpoint; /* as mounted: an absolute path */
	const char *access;	/* "read-write" or "read-only (why)" */
	const char *identity;
};

/* Binds the socket of mountpoint; NULL with a sentence in why when it cannot (another mount
 * is answering there). */
struct status_server *status_new(const struct status_facts *f, char *why, size_t whylen);
/* Starts answering (in a thread of its own) with the state of fs. Returns 0 or -errno. */
int status_start(struct status_server *s, struct gmfs *fs);
void status_free(struct status_server *s);

/* Writes the status lines of fs to out. */
int status_format(struct buf *out, const struct status_facts *f, struct gmfs *fs);

/* Asks the mount at mountpoint for its status: fills out with its lines and *pid with the
 * daemon's process id. Returns 0, -ENOENT when no gcsmount answers there, -EPERM when the
 * process that answers is not the mount's owner's, or another -errno. */
int status_query(const char *mountpoint, struct buf *out, pid_t *pid);
/* The same, from the daemon pid of a mount already unmounted (it answers while it uploads
 * what is left): -EPERM when the answer is not from that daemon. */
int status_query_daemon(const char *mountpoint, pid_t pid, struct buf *out);
/* How many entries the folder dir holds (0 if it cannot be read): recovered files. */
uint64_t status_count_files(const char *dir);
/* The number after "key: " in status lines, or 0. */
uint64_t status_value(const char *text, const char *key);

#endif
