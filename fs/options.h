/* The command line and mount options: one table gives every option a long form
 * (--stat-ttl 5) and a -o form (-o stat_ttl=5), so that fstab lines and command lines mean the
 * same thing; an unknown option is an error that names it. Pure apart from printing usage
 * errors to stderr: no I/O beyond that, no global state. */
#ifndef GCSMOUNT_FS_OPTIONS_H
#define GCSMOUNT_FS_OPTIONS_H

#include <sys/types.h>

/* Strings are malloc'd copies (config_free() frees them); bucket and mountpoint point into
 * argv. */
enum action {
	ACTION_MOUNT,	/* gcsmount BUCKET MOUNTPOINT */
	ACTION_STATUS,	/* gcsmount --status [MOUNTPOINT] (mountpoint NULL: every mount) */
	ACTION_UNMOUNT, /* gcsmount --unmount MOUNTPOINT */
};

struct config {
	enum action action;
	int foreground;
	const char *bucket;
	const char *mountpoint;
	char *endpoint;
	char *key_file;
	char *billing_project;
	char *ca_file;
	int anonymous;
	int http2;
	double metadata_timeout;
	char *log_file;
	int log_level;
	int read_only;
	int implicit_dirs;
	char *only_dir;
	char *staging_dir;
	int upload_wait; /* upload_on_close=wait: close returns once the object is in the bucket */
	unsigned long chunk_mb;
	unsigned long rename_dir_limit;
	unsigned long max_retries;
	double retry_deadline;
	unsigned long io_timeout;
	unsigned long min_rate;
	unsigned long readahead_mb;
	unsigned long list_parallel;
	unsigned long prefetch_files;
	unsigned long metrics_port;
	char *cache_dir;
	unsigned long cache_dir_mb;
	unsigned long cache_dir_free_mb;
	int allow_other;
	int default_permissions;
	uid_t uid;
	gid_t gid;
	mode_t file_mode;
	mode_t dir_mode;
	double stat_ttl;
	double negative_ttl;
	unsigned long cache_mb;
};

/* The defaults, before any option. */
void config_init(struct config *cfg);
/* Parses argv. Returns 0 to go on, 1 to exit successfully (help, version were printed), -1
 * after printing a usage error. */
int config_parse_args(struct config *cfg, int argc, char **argv);
/* Checks what can be checked without the network: the bucket name and only_dir (which it
 * normalizes: "a/b/" or "/a/b" become "a/b"). Returns 0, or -1 after printing why. */
int config_check(struct config *cfg);
void config_free(struct config *cfg);

#endif
