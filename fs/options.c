/* Option parsing for gcsmount (see fs/options.h). */
#include "fs/options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/dir.h"
#include "fs/fs.h"
#include "gcs/url.h"
#include "util/log.h"

enum opt_kind {
	OPT_FLAG,
	OPT_UNFLAG,
	OPT_BOOL,
	OPT_STRING,
	OPT_UINT,
	OPT_MODE,
	OPT_SECONDS,
	OPT_LEVEL,
	OPT_UPLOAD,
	OPT_IGNORE
};

struct opt_spec {
	const char *name;
	enum opt_kind kind;
	size_t offset;
	const char *help;
};

#define CFG(f) offsetof(struct config, f)

static const struct opt_spec opt_table[] = {
	{"ro", OPT_FLAG, CFG(read_only), "read-only mount: every change fails with EROFS"},
	{"rw", OPT_UNFLAG, CFG(read_only), "read-write mount (the default)"},
	{"staging_dir", OPT_STRING, CFG(staging_dir),
	 "where written data waits for upload (/var/tmp/gcsmount, or ~/.cache/gcsmount)"},
	{"upload_on_close", OPT_UPLOAD, CFG(upload_wait),
	 "background: close returns once written data is safe on local disk and it is uploaded "
	 "behind; wait: close returns once it is in the bucket (background)"},
	{"upload_chunk_mb", OPT_UINT, CFG(chunk_mb),
	 "files larger than this upload in resumable chunks of this size (16)"},
	{"rename_dir_limit", OPT_UINT, CFG(rename_dir_limit),
	 "most objects a directory rename moves; larger ones fail with EXDEV (100000)"},
	{"only_dir", OPT_STRING, CFG(only_dir), "mount only this prefix of the bucket"},
	{"implicit_dirs", OPT_BOOL, CFG(implicit_dirs),
	 "on: any prefix is a directory; off: only prefixes with a dir/ object (on)"},
	{"allow_other", OPT_FLAG, CFG(allow_other),
	 "let other users use the mount (implies default_permissions)"},
	{"default_permissions", OPT_FLAG, CFG(default_permissions),
	 "let the kernel check permission bits (on with allow_other)"},
	{"no_default_permissions", OPT_UNFLAG, CFG(default_permissions),
	 "with allow_other: let every user read and change every file"},
	{"uid", OPT_UINT, CFG(uid), "owner of objects with no stored owner"},
	{"gid", OPT_UINT, CFG(gid), "group of objects with no stored group"},
	{"file_mode", OPT_MODE, CFG(file_mode), "permissions of files with none stored (644)"},
	{"dir_mode", OPT_MODE, CFG(dir_mode), "permissions of directories (755)"},
	{"stat_ttl", OPT_SECONDS, CFG(stat_ttl), "seconds attributes are trusted (60)"},
	{"negative_ttl", OPT_SECONDS, CFG(negative_ttl),
	 "seconds a missing name is trusted to stay missing (5)"},
	{"cache_size_mb", OPT_UINT, CFG(cache_mb), "memory block cache in MiB, 0 disables (256)"},
	{"cache_dir", OPT_STRING, CFG(cache_dir),
	 "keep data blocks on disk here too, across mounts (off)"},
	{"cache_dir_size_mb", OPT_UINT, CFG(cache_dir_mb), "most MiB the disk cache holds (4096)"},
	{"cache_dir_min_free_mb", OPT_UINT, CFG(cache_dir_free_mb),
	 "MiB the disk cache leaves free on its filesystem (1024)"},
	{"readahead_mb", OPT_UINT, CFG(readahead_mb),
	 "most MiB read ahead of a sequential reader, 0 disables (64)"},
	{"prefetch_files", OPT_UINT, CFG(prefetch_files),
	 "files fetched ahead of a reader opening them in name order, 0 disables (16)"},
	{"list_parallel", OPT_UINT, CFG(list_parallel),
	 "key ranges of a large directory listed at once, 1: page after page (16)"},
	{"endpoint", OPT_STRING, CFG(endpoint), "storage endpoint URL"},
	{"http2", OPT_FLAG, CFG(http2),
	 "speak HTTP/2 (negotiated over https, cleartext h2c over http)"},
	{"max_retries", OPT_UINT, CFG(max_retries),
	 "retries of a failed request, with growing pauses (7)"},
	{"retry_deadline", OPT_SECONDS, CFG(retry_deadline),
	 "seconds one operation may take, retries included, before it fails (120)"},
	{"io_timeout", OPT_UINT, CFG(io_timeout),
	 "seconds a transfer may stay slower than min_rate before it is cut and retried (30)"},
	{"min_rate", OPT_UINT, CFG(min_rate),
	 "bytes per second a transfer must keep up, in either direction (1024)"},
	{"metrics_port", OPT_UINT, CFG(metrics_port),
	 "serve Prometheus metrics on 127.0.0.1:PORT (SIGUSR1 logs them anyway)"},
	{"key_file", OPT_STRING, CFG(key_file),
	 "service-account key or gcloud user credentials (JSON)"},
	{"billing_project", OPT_STRING, CFG(billing_project),
	 "project billed for requests to a requester-pays bucket"},
	{"anonymous", OPT_FLAG, CFG(anonymous), "send no credentials (public buckets)"},
	{"ca_file", OPT_STRING, CFG(ca_file),
	 "CA certificates (PEM) to trust for https instead of the system's"},
	{"metadata_timeout", OPT_SECONDS, CFG(metadata_timeout),
	 "seconds to wait for a GCE metadata server that is starting (60)"},
	{"log_file", OPT_STRING, CFG(log_file), "log to this file instead of syslog"},
	{"log_level", OPT_LEVEL, CFG(log_level), "error, warning, info or debug (info)"},
	/* Generic mount(8) options that mean nothing to a FUSE daemon. */
	{"defaults", OPT_IGNORE, 0, NULL},
	{"auto", OPT_IGNORE, 0, NULL},
	{"noauto", OPT_IGNORE, 0, NULL},
	{"user", OPT_IGNORE, 0, NULL},
	{"nouser", OPT_IGNORE, 0, NULL},
	{"users", OPT_IGNORE, 0, NULL},
	{"_netdev", OPT_IGNORE, 0, NULL},
	{"nofail", OPT_IGNORE, 0, NULL},
	{"dev", OPT_IGNORE, 0, NULL},
	{"nodev", OPT_IGNORE, 0, NULL},
	{"suid", OPT_IGNORE, 0, NULL},
	{"nosuid", OPT_IGNORE, 0, NULL},
	{"exec", OPT_IGNORE, 0, NULL},
	{"noexec", OPT_IGNORE, 0, NULL},
	{"atime", OPT_IGNORE, 0, NULL},
	{"noatime", OPT_IGNORE, 0, NULL},
	{"relatime", OPT_IGNORE, 0, NULL},
};

static int takes_value(const struct opt_spec *o)
{
	return o->kind != OPT_FLAG && o->kind != OPT_UNFLAG && o->kind != OPT_IGNORE;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: gcsmount [options] BUCKET MOUNTPOINT\n"
		"       gcsmount --status [MOUNTPOINT]\n"
		"       gcsmount --unmount MOUNTPOINT\n"
		"\n"
		"Mounts a Google Cloud Storage bucket as a directory.\n"
		"\n"
		"  --status [MOUNTPOINT]  uploads pending, bytes staged, recovered files and\n"
		"                        errors of a mount (of every gcsmount mount without one)\n"
		"  --unmount MOUNTPOINT  wait until written data is uploaded, then unmount\n"
		"  -f, --foreground      stay in the foreground and log to stderr\n"
		"  -d, --debug           log every request (implies -f)\n"
		"  -o OPT[,OPT...]       mount options, as below\n"
		"  --OPTION VALUE        any option below as a flag (--stat-ttl 5)\n"
		"  -h, --help            this text\n"
		"  -V, --version         the version\n"
		"\n"
		"Options:\n");
	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
		const struct opt_spec *o = &opt_table[i];
		char name[64];

		if (!o->help)
			continue;
		snprintf(name, sizeof(name), "%s%s", o->name, takes_value(o) ? "=VALUE" : "");
		fprintf(out, "  %-21s %s\n", name, o->help);
	}
	fprintf(out,
		"\n"
		"Credentials come from key_file, else $GOOGLE_APPLICATION_CREDENTIALS, else\n"
		"gcloud's application-default credentials, else the metadata server of a\n"
		"Compute Engine VM. The endpoint defaults to https://storage.googleapis.com, or\n"
		"to $STORAGE_EMULATOR_HOST when that is set (then no credentials are used).\n");
}

static int parse_seconds(const char *s, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
		return -1;
	*out = v;
	return 0;
}

static const struct opt_spec *find_option(const char *name)
{
	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++)
		if (strcmp(opt_table[i].name, name) == 0)
			return &opt_table[i];
	return NULL;
}

/* Applies one option ("name" or "name=value"). Returns 0, or -1 after printing why. */
static int apply_option(struct config *cfg, const char *name, const char *value)
{
	const struct opt_spec *o = find_option(name);
	char *dst = (char *)cfg;

	if (!o && strncmp(name, "x-systemd.", 10) == 0)
		return 0; /* systemd's own fstab options */
	if (!o) {
		fprintf(stderr, "gcsmount: unknown option '%s' (see gcsmount --help)\n", name);
		return -1;
	}
	int wants_value = takes_value(o);
	if (wants_value != (value != NULL)) {
		fprintf(stderr, "gcsmount: option '%s' %s\n", name,
			wants_value ? "needs a value (name=value)" : "takes no value");
		return -1;
	}

	char *end;
	unsigned long long u;
	switch (o->kind) {
	case OPT_IGNORE:
		return 0;
	case OPT_UPLOAD:
		if (strcmp(value, "wait") != 0 && strcmp(value, "background") != 0) {
			fprintf(stderr, "gcsmount: upload_on_close is background or wait\n");
			return -1;
		}
		cfg->upload_wait = strcmp(value, "wait") == 0;
		return 0;
	case OPT_FLAG:
	case OPT_UNFLAG:
		*(int *)(dst + o->offset) = o->kind == OPT_FLAG;
		return 0;
	case OPT_BOOL:
		if (!strcmp(value, "on") || !strcmp(value, "1") || !strcmp(value, "true") ||
		    !strcmp(value, "yes")) {
			*(int *)(dst + o->offset) = 1;
			return 0;
		}
		if (!strcmp(value, "off") || !strcmp(value, "0") || !strcmp(value, "false") ||
		    !strcmp(value, "no")) {
			*(int *)(dst + o->offset) = 0;
			return 0;
		}
		break;
	case OPT_STRING: {
		char **slot = (char **)(dst + o->offset);
		free(*slot);
		*slot = strdup(value);
		return *slot ? 0 : -1;
	}
	case OPT_UINT:
		errno = 0;
		u = strtoull(value, &end, 10);
		if (errno || end == value || *end || *value == '-' || u > UINT_MAX - 1)
			break;
		if (o->offset == CFG(cache_mb))
			cfg->cache_mb = (unsigned long)u;
		else if (o->offset == CFG(chunk_mb) && u >= 1 && u <= 1024)
			cfg->chunk_mb = (unsigned long)u;
		else if (o->offset == CFG(chunk_mb))
			break;
		else if (o->offset == CFG(rename_dir_limit))
			cfg->rename_dir_limit = (unsigned long)u;
		else if (o->offset == CFG(cache_dir_mb))
			cfg->cache_dir_mb = (unsigned long)u;
		else if (o->offset == CFG(cache_dir_free_mb))
			cfg->cache_dir_free_mb = (unsigned long)u;
		else if (o->offset == CFG(metrics_port) && u <= 65535)
			cfg->metrics_port = (unsigned long)u;
		else if (o->offset == CFG(metrics_port))
			break;
		else if (o->offset == CFG(readahead_mb) && u <= 4096)
			cfg->readahead_mb = (unsigned long)u;
		else if (o->offset == CFG(readahead_mb))
			break;
		else if (o->offset == CFG(prefetch_files) && u <= PREFETCH_FILES_MAX)
			cfg->prefetch_files = (unsigned long)u;
		else if (o->offset == CFG(prefetch_files))
			break;
		else if (o->offset == CFG(list_parallel) && u >= 1 && u <= DIRLIST_PARALLEL_MAX)
			cfg->list_parallel = (unsigned long)u;
		else if (o->offset == CFG(list_parallel))
			break;
		else if (o->offset == CFG(max_retries) && u <= 100)
			cfg->max_retries = (unsigned long)u;
		else if (o->offset == CFG(max_retries))
			break;
		else if (o->offset == CFG(io_timeout) && u >= 1 && u <= 3600)
			cfg->io_timeout = (unsigned long)u;
		else if (o->offset == CFG(io_timeout))
			break;
		else if (o->offset == CFG(min_rate) && u >= 1)
			cfg->min_rate = (unsigned long)u;
		else if (o->offset == CFG(min_rate))
			break;
		else if (o->offset == CFG(uid))
			cfg->uid = (uid_t)u;
		else
			cfg->gid = (gid_t)u;
		return 0;
	case OPT_MODE:
		errno = 0;
		u = strtoull(value, &end, 8);
		if (errno || end == value || *end || u > 07777)
			break;
		*(mode_t *)(dst + o->offset) = (mode_t)u;
		return 0;
	case OPT_SECONDS:
		if (parse_seconds(value, (double *)(dst + o->offset)))
			break;
		return 0;
	case OPT_LEVEL: {
		int lvl = log_level_parse(value);
		if (lvl < 0)
			break;
		cfg->log_level = lvl;
		return 0;
	}
	}
	fprintf(stderr, "gcsmount: option '%s': bad value '%s'\n", name, value);
	return -1;
}

/* Splits "a,b=c,d" and applies each. */
static int apply_option_list(struct config *cfg, const char *list)
{
	char *copy = strdup(list);
	char *save = NULL;
	int rc = 0;

	if (!copy)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq++ = '\0';
		rc = apply_option(cfg, tok, eq);
	}
	free(copy);
	return rc;
}

/* Handles "--name[=value]" and "--name value" for every option of the table. */
static int parse_long(struct config *cfg, int argc, char **argv, int *i)
{
	const char *a = argv[*i] + 2;
	const char *eq = strchr(a, '=');
	size_t n = eq ? (size_t)(eq - a) : strlen(a);
	char name[128];

	if (n >= sizeof(name)) {
		fprintf(stderr, "gcsmount: unknown option '%s'\n", argv[*i]);
		return -1;
	}
	memcpy(name, a, n);
	name[n] = '\0';
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	const struct opt_spec *o = find_option(name);
	const char *value = eq ? eq + 1 : NULL;
	if (!eq && o && takes_value(o)) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "gcsmount: option '%s' needs a value\n", argv[*i]);
			return -1;
		}
		value = argv[++*i];
	}
	return apply_option(cfg, name, value);
}

/* Options and the two operands may come in any order, as mount(8) helpers pass them. */
int config_parse_args(struct config *cfg, int argc, char **argv)
{
	const char *operands[2] = {NULL, NULL};
	int positional = 0;
	int only_operands = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (only_operands || a[0] != '-' || a[1] == '\0') {
			if (positional < 2)
				operands[positional] = a;
			positional++;
		} else if (strcmp(a, "--") == 0) {
			only_operands = 1;
		} else if (strcmp(a, "--status") == 0) {
			cfg->action = ACTION_STATUS;
		} else if (strcmp(a, "--unmount") == 0) {
			cfg->action = ACTION_UNMOUNT;
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "--foreground") == 0) {
			cfg->foreground = 1;
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
			cfg->foreground = 1;
			cfg->log_level = LOG_DEBUG;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("gcsmount %s\n", GCSMOUNT_VERSION);
			return 1;
		} else if (strncmp(a, "-o", 2) == 0) {
			const char *list = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);

			if (!list) {
				fprintf(stderr, "gcsmount: option -o needs a value\n");
				return -1;
			}
			if (apply_option_list(cfg, list))
				return -1;
		} else if (a[1] == '-') {
			if (parse_long(cfg, argc, argv, &i))
				return -1;
		} else {
			fprintf(stderr, "gcsmount: unknown option '%s' (see gcsmount --help)\n", a);
			return -1;
		}
	}
	switch (cfg->action) {
	case ACTION_STATUS:
		if (positional > 1) {
			fprintf(stderr, "gcsmount: --status takes at most one MOUNTPOINT\n");
			return -1;
		}
		cfg->mountpoint = operands[0];
		return 0;
	case ACTION_UNMOUNT:
		if (positional != 1) {
			fprintf(stderr, "gcsmount: --unmount takes one MOUNTPOINT\n");
			return -1;
		}
		cfg->mountpoint = operands[0];
		return 0;
	case ACTION_MOUNT:
		break;
	}
	if (positional != 2) {
		fprintf(stderr, "gcsmount: expected BUCKET and MOUNTPOINT (see gcsmount --help)\n");
		return -1;
	}
	cfg->bucket = operands[0];
	cfg->mountpoint = operands[1];
	return 0;
}

/* "a/b/" or "/a/b" -> "a/b", in place; -1 for empty, "." or ".." segments. */
static int normalize_prefix(char *p)
{
	char *start = p;

	while (*start == '/')
		start++;
	memmove(p, start, strlen(start) + 1);
	size_t n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		p[--n] = '\0';
	if (n == 0)
		return -1;
	for (char *seg = p;;) {
		char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);

		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return -1;
		if (!slash)
			return 0;
		seg = slash + 1;
	}
}

void config_init(struct config *cfg)
{
	*cfg = (struct config){
		.log_level = LOG_INFO,
		.uid = getuid(),
		.gid = getgid(),
		.file_mode = 0644,
		.dir_mode = 0755,
		.stat_ttl = 60,
		.negative_ttl = 5,
		.cache_mb = 256,
		.chunk_mb = 16,
		.rename_dir_limit = 100000,
		.implicit_dirs = 1,
		.max_retries = 7,
		.retry_deadline = 120,
		.io_timeout = 30,
		.min_rate = 1024,
		.readahead_mb = 64,
		.list_parallel = 16,
		.prefetch_files = 16,
		.cache_dir_mb = 4096,
		.cache_dir_free_mb = 1024,
		.metadata_timeout = 60,
		.default_permissions = -1, /* unless named: on with allow_other */
	};
}

int config_check(struct config *cfg)
{
	if (!gcs_bucket_name_valid(cfg->bucket)) {
		fprintf(stderr,
			"gcsmount: '%s' is not a valid bucket name (3-222 characters: lowercase "
			"letters, digits, '-', '_' and '.')\n",
			cfg->bucket);
		return -1;
	}
	/* Other users on a mount that checks no permission bits could read and change every
	 * file: allow_other brings the checks unless they are refused by name. */
	if (cfg->default_permissions < 0)
		cfg->default_permissions = cfg->allow_other;
	if (!(cfg->retry_deadline > 0)) {
		fprintf(stderr, "gcsmount: retry_deadline must be more than 0 seconds\n");
		return -1;
	}
	if (cfg->only_dir && normalize_prefix(cfg->only_dir)) {
		fprintf(stderr,
			"gcsmount: only_dir '%s' is not a prefix gcsmount can mount (it needs "
			"non-empty segments between slashes, none of them '.' or '..')\n",
			cfg->only_dir);
		return -1;
	}
	return 0;
}

void config_free(struct config *cfg)
{
	free(cfg->endpoint);
	free(cfg->key_file);
	free(cfg->ca_file);
	free(cfg->log_file);
	free(cfg->staging_dir);
	free(cfg->only_dir);
	free(cfg->cache_dir);
	free(cfg->billing_project);
}
