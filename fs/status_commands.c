/* gcsmount --status and --unmount (see fs/status_commands.h).
 *
 * --unmount is the step before stopping a VM that bills by the hour: it waits while uploads
 * are pending (saying so every few seconds), unmounts, then waits for the daemon, which
 * uploads whatever is still staged before it ends. Data that still could not be uploaded is
 * in the recovery folder, and the command says so and fails. */
#include "fs/status_commands.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs/status.h"
#include "util/buf.h"

static void say_no_answer(const char *mp, int rc)
{
	if (rc == -ENOENT)
		fprintf(stderr, "gcsmount: %s is not a gcsmount mount\n", mp);
	else if (rc == -EPERM)
		fprintf(stderr, "gcsmount: %s: only the user who mounted it, or root, may ask\n",
			mp);
	else
		fprintf(stderr, "gcsmount: %s: no answer from its gcsmount (%s)\n", mp,
			strerror(-rc));
}

/* Prints the status of the mount at mp; quietly skips one that went away meanwhile when
 * listing every mount (gone set). */
static int print_one(const char *mp, int gone_ok)
{
	struct buf text;
	pid_t pid;
	char *abs = realpath(mp, NULL);
	int rc = abs ? status_query(abs, (buf_init(&text, 1u << 20), &text), &pid) : -errno;

	if (!rc)
		fputs(text.data, stdout);
	else if (!(gone_ok && rc == -ENOENT))
		say_no_answer(mp, rc);
	if (abs)
		buf_free(&text);
	free(abs);
	return rc && !(gone_ok && rc == -ENOENT) ? 1 : 0;
}

int status_command(const char *mountpoint)
{
	FILE *f;
	char line[8192];
	int found = 0, rc = 0;

	if (mountpoint)
		return print_one(mountpoint, 0);
	f = fopen("/proc/self/mountinfo", "r");
	if (!f) {
		perror("gcsmount: /proc/self/mountinfo");
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		char mp[4096], fstype[64];
		char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "fuse.gcsmount") != 0)
			continue;
		if (found++)
			putchar('\n');
		rc |= print_one(mp, 1); /* unmounted since the list was read */
	}
	fclose(f);
	if (!found)
		printf("gcsmount: nothing is mounted with gcsmount\n");
	return rc;
}

/* The folder named on the "recovered files: N in FOLDER" line, malloc'd, or NULL. */
static char *recovered_dir(const char *text)
{
	const char *p = strstr(text, "\nrecovered files: ");
	const char *in = p ? strstr(p, " in ") : NULL;
	const char *end = in ? strchr(in, '\n') : NULL;

	return end ? strndup(in + 4, (size_t)(end - in - 4)) : NULL;
}

static int do_unmount(const char *mp)
{
	if (geteuid() == 0)
		return umount2(mp, 0) == 0 ? 0 : -errno;
	/* Others unmount through fusermount3, as they mounted. */
	pid_t child = fork();
	int st;

	if (child < 0)
		return -errno;
	if (child == 0) {
		execlp("fusermount3", "fusermount3", "-u", mp, (char *)NULL);
		_exit(127);
	}
	if (waitpid(child, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EBUSY;
}

int unmount_command(const char *mountpoint)
{
	struct buf text;
	char *mp = realpath(mountpoint, NULL);
	char *recovered = NULL;
	uint64_t before = 0;
	pid_t pid = 0;
	int rc, exit_status = 1;

	buf_init(&text, 1u << 20);
	if (!mp) {
		fprintf(stderr, "gcsmount: %s: %s\n", mountpoint, strerror(errno));
		goto out;
	}
	rc = status_query(mp, &text, &pid);
	if (rc) {
		say_no_answer(mp, rc);
		goto out;
	}
	recovered = recovered_dir(text.data);
	before = recovered ? status_count_files(recovered) : 0;
	rc = do_unmount(mp);
	if (rc) {
		fprintf(stderr,
			"gcsmount: %s is still in use, so it stays mounted: close the programs "
			"that have files open there (`fuser -vm %s` lists them) and try again\n",
			mp, mp);
		goto out;
	}
	/* Unmounted: the daemon uploads what is still staged, answering --status meanwhile,
	 * then ends. */
	for (int tick = 0; kill(pid, 0) == 0 || errno == EPERM; tick++) {
		buf_reset(&text);
		if (tick % 20 == 0 && status_query_daemon(mp, pid, &text) == 0) {
			uint64_t pending = status_value(text.data, "uploads pending");

			if (pending)
				printf("gcsmount: waiting for %llu upload(s), %.1f MB, to reach "
				       "the "
				       "bucket...\n",
				       (unsigned long long)pending,
				       (double)status_value(text.data, "bytes staged") / 1e6);
		}
		fflush(stdout);
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	uint64_t after = recovered ? status_count_files(recovered) : 0;
	if (after > before) {
		fprintf(stderr,
			"gcsmount: unmounted %s, but %llu file(s) could not be uploaded; their "
			"data "
			"is in %s (the log says why)\n",
			mp, (unsigned long long)(after - before), recovered);
		goto out;
	}
	printf("gcsmount: all written data is in the bucket; unmounted %s\n", mp);
	exit_status = 0;
out:
	buf_free(&text);
	free(recovered);
	free(mp);
	return exit_status;
}
