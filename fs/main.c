/* gcsmount command line: parse options, check everything that can be checked while the user
 * still has a terminal (options, mountpoint, endpoint, credentials, bucket), then mount,
 * daemonize and serve. Every option has a long form (--stat-ttl 5) and a -o form (-o stat_ttl=5)
 * handled by one table, so that fstab lines and command lines mean the same thing; an unknown
 * option is an error that names it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cache/blocks.h"
#include "cache/disk.h"
#include "fs/dircache.h"
#include "fs/files.h"
#include "fs/fs.h"
#include "fs/metrics.h"
#include "fs/readahead.h"
#include "fs/stage.h"
#include "gcs/client.h"
#include "gcs/url.h"
#include "util/buf.h"
#include "util/log.h"

#define BLOCK_SIZE (1u << 20)
/* Listing entries kept to answer lookups: about 300 bytes each. */
#define DIRCACHE_ENTRIES 100000

struct config {
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
	unsigned long chunk_mb;
	unsigned long rename_dir_limit;
	unsigned long max_retries;
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

enum opt_kind {
	OPT_FLAG,
	OPT_UNFLAG,
	OPT_BOOL,
	OPT_STRING,
	OPT_UINT,
	OPT_MODE,
	OPT_SECONDS,
	OPT_LEVEL,
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
	{"upload_chunk_mb", OPT_UINT, CFG(chunk_mb),
	 "files larger than this upload in resumable chunks of this size (16)"},
	{"rename_dir_limit", OPT_UINT, CFG(rename_dir_limit),
	 "most objects a directory rename moves; larger ones fail with EXDEV (100000)"},
	{"only_dir", OPT_STRING, CFG(only_dir), "mount only this prefix of the bucket"},
	{"implicit_dirs", OPT_BOOL, CFG(implicit_dirs),
	 "on: any prefix is a directory; off: only prefixes with a dir/ object (on)"},
	{"allow_other", OPT_FLAG, CFG(allow_other), "let other users see the mount"},
	{"default_permissions", OPT_FLAG, CFG(default_permissions),
	 "let the kernel check permission bits"},
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
	fprintf(out, "Usage: gcsmount [options] BUCKET MOUNTPOINT\n"
		     "\n"
		     "Mounts a Google Cloud Storage bucket as a directory.\n"
		     "\n"
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
	if (errno || end == s || *end || v < 0 || v > 1e9)
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

/* Returns 0 to go on, 1 to exit successfully (help, version), -1 on a usage error.
 * Options and the two operands may come in any order, as mount(8) helpers pass them. */
static int parse_args(int argc, char **argv, struct config *cfg)
{
	int positional = 0;
	int only_operands = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (only_operands || a[0] != '-' || a[1] == '\0') {
			if (positional == 0)
				cfg->bucket = a;
			else if (positional == 1)
				cfg->mountpoint = a;
			positional++;
		} else if (strcmp(a, "--") == 0) {
			only_operands = 1;
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
	if (positional != 2) {
		fprintf(stderr, "gcsmount: expected BUCKET and MOUNTPOINT (see gcsmount --help)\n");
		return -1;
	}
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

static int check_mountpoint(const char *mp)
{
	struct stat st;

	if (stat(mp, &st) != 0) {
		fprintf(stderr, "gcsmount: mountpoint %s: %s\n", mp, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "gcsmount: mountpoint %s is not a directory\n", mp);
		return -1;
	}
	return 0;
}

/* A warning for the person at the terminal, kept in the log file too when there is one. */
static void warn_user(const struct config *cfg, const char *msg)
{
	fprintf(stderr, "gcsmount: warning: %s\n", msg);
	if (cfg->log_file)
		log_warn("%s", msg);
}

/* Finds the credentials and applies what their scopes allow. Returns NULL after saying why
 * on stderr. */
static struct auth *open_credentials(struct config *cfg, int emulator)
{
	struct auth_config ac;
	struct auth *auth;
	char why[2048];

	if (cfg->key_file && cfg->anonymous) {
		fprintf(stderr, "gcsmount: options key_file and anonymous exclude each other\n");
		return NULL;
	}
	auth_config_default(&ac);
	ac.key_file = cfg->key_file;
	/* An emulator takes no credentials, as in Google's client libraries, unless a key file
	 * is named explicitly. */
	ac.anonymous = cfg->anonymous || (emulator && !cfg->key_file);
	ac.ca_file = cfg->ca_file;
	ac.metadata_wait_s = cfg->metadata_timeout;
	auth = auth_discover(&ac, why, sizeof(why));
	if (!auth) {
		fprintf(stderr, "gcsmount: %s\n", why);
		return NULL;
	}
	switch (auth_storage_access(auth, why, sizeof(why))) {
	case AUTH_ACCESS_NONE:
		fprintf(stderr, "gcsmount: %s\n", why);
		auth_free(auth);
		return NULL;
	case AUTH_ACCESS_READ_ONLY:
		warn_user(cfg, why);
		cfg->read_only = 1;
		break;
	default:
		break;
	}
	return auth;
}

static int run(struct config *cfg)
{
	struct gcs_client_opts gopts;
	struct gcs_client *gcs = NULL;
	struct auth *auth = NULL;
	struct itable *inodes = NULL;
	struct bcache *blocks = NULL;
	struct ftable *files = NULL;
	struct dircache *dirs = NULL;
	struct gmfs fs = {0};
	struct metrics *metrics = NULL;
	struct dcache *disk = NULL;
	struct dcache_layer layer;
	struct stage *stage = NULL;
	char *stage_base = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	char *endpoint = NULL;
	char why[1024];
	struct buf fuse_opts;
	int rc = 1;

	buf_init(&fuse_opts, 4096);
	/* The emulator variable counts only when --endpoint does not override it: --endpoint
	 * alone still uses credentials. */
	const char *emulator = getenv("STORAGE_EMULATOR_HOST");
	if (cfg->endpoint || (emulator && !*emulator))
		emulator = NULL;
	const char *ep = cfg->endpoint ? cfg->endpoint
			 : emulator    ? emulator
				       : "https://storage.googleapis.com";
	endpoint = gcs_endpoint_normalize(ep);
	if (!endpoint) {
		fprintf(stderr,
			"gcsmount: endpoint '%s' is not a URL of the form "
			"http(s)://host[:port] or host:port\n",
			ep);
		goto out;
	}
	auth = open_credentials(cfg, emulator != NULL);
	if (!auth)
		goto out;

	gcs_client_opts_default(&gopts);
	gopts.endpoint = endpoint;
	gopts.bucket = cfg->bucket;
	gopts.auth = auth;
	gopts.max_attempts = (int)cfg->max_retries + 1;
	gopts.ca_file = cfg->ca_file;
	gopts.user_project = cfg->billing_project;
	gopts.http2 = cfg->http2;
	gcs = gcs_client_new(&gopts);
	if (!gcs)
		goto nomem;
	/* A few quick tries: a mount against a wrong endpoint should fail in a second, not
	 * after the minutes of backoff that a running mount allows itself. */
	if (gcs_bucket_check(gcs, 3, why, sizeof(why))) {
		fprintf(stderr, "gcsmount: %s\n", why);
		goto out;
	}

	if (!cfg->read_only) {
		stage_base = cfg->staging_dir ? strdup(cfg->staging_dir) : stage_default_base();
		if (!stage_base)
			goto nomem;
		stage = stage_new(stage_base, cfg->bucket, why, sizeof(why));
		if (!stage) {
			fprintf(stderr, "gcsmount: %s\n", why);
			goto out;
		}
	}
	metrics = metrics_new((int)cfg->metrics_port, why, sizeof(why));
	if (!metrics) {
		fprintf(stderr, "gcsmount: %s\n", why);
		goto out;
	}
	inodes = itable_new(cfg->only_dir ? cfg->only_dir : "");
	files = ftable_new();
	dirs = dircache_new(DIRCACHE_ENTRIES);
	if (!inodes || !files || !dirs)
		goto nomem;
	if (cfg->cache_mb) {
		blocks = bcache_new(BLOCK_SIZE, (size_t)cfg->cache_mb << 20);
		if (!blocks)
			goto nomem;
	}
	if (cfg->cache_dir) {
		struct buf dir;

		if (!blocks) {
			fprintf(stderr,
				"gcsmount: cache_dir works under the memory cache; it needs "
				"cache_size_mb above 0\n");
			goto out;
		}
		/* One folder per bucket: block keys are object names. */
		if (mkdir(cfg->cache_dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "gcsmount: cache_dir %s: %s\n", cfg->cache_dir,
				strerror(errno));
			goto out;
		}
		buf_init(&dir, 8192);
		if (buf_printf(&dir, "%s/%s", cfg->cache_dir, cfg->bucket))
			goto nomem;
		disk = dcache_new(dir.data, BLOCK_SIZE, (uint64_t)cfg->cache_dir_mb << 20,
				  (uint64_t)cfg->cache_dir_free_mb << 20, why, sizeof(why));
		buf_free(&dir);
		if (!disk) {
			fprintf(stderr, "gcsmount: %s\n", why);
			goto out;
		}
	}
	fs = (struct gmfs){
		.gcs = gcs,
		.inodes = inodes,
		.blocks = blocks,
		.disk = disk,
		.fetch = fs_fetch_from_server,
		.files = files,
		.dirs = dirs,
		.stage = stage,
		.read_only = cfg->read_only,
		.implicit_dirs = cfg->implicit_dirs,
		.list_parallel = (int)cfg->list_parallel,
		.chunk_size = (size_t)cfg->chunk_mb << 20,
		.rename_dir_limit = cfg->rename_dir_limit,
		.bucket = cfg->bucket,
		.defaults = {.uid = cfg->uid,
			     .gid = cfg->gid,
			     .file_mode = cfg->file_mode,
			     .dir_mode = cfg->dir_mode},
		.stat_ttl = cfg->stat_ttl,
		.negative_ttl = cfg->negative_ttl,
		.ra_window = (uint64_t)cfg->readahead_mb << 20,
		/* Requests in flight for read-ahead and prefetched files together: enough for a
		 * sequential reader's window and a directory being read file by file. */
		.ra_threads = 32,
		.prefetch_files = cfg->prefetch_files,
		.metrics = metrics,
	};
	fs.fetch_arg = &fs;
	if (disk) {
		layer = (struct dcache_layer){disk, fs_fetch_from_server, &fs};
		fs.fetch = dcache_layer_fetch;
		fs.fetch_arg = &layer;
	}
	clock_gettime(CLOCK_REALTIME, &fs.defaults.dir_mtime);
	if (gmfs_init_root(&fs))
		goto nomem;

	if (buf_printf(&fuse_opts, "%s,fsname=%s,subtype=gcsmount", cfg->read_only ? "ro" : "rw",
		       cfg->bucket) ||
	    (cfg->allow_other && buf_append_str(&fuse_opts, ",allow_other")) ||
	    (cfg->default_permissions && buf_append_str(&fuse_opts, ",default_permissions")))
		goto nomem;
	char *fargv[] = {(char *)"gcsmount", (char *)"-o", fuse_opts.data, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	se = fuse_session_new(&args, &gmfs_ops, sizeof(gmfs_ops), &fs);
	fuse_opt_free_args(&args);
	if (!se)
		goto out; /* libfuse said why on stderr */
	if (fuse_set_signal_handlers(se))
		goto out;
	if (fuse_session_mount(se, cfg->mountpoint)) {
		fprintf(stderr, "gcsmount: could not mount on %s\n", cfg->mountpoint);
		goto out_handlers;
	}
	log_info("mounted gs://%s on %s (endpoint %s, %s, as %s)", cfg->bucket, cfg->mountpoint,
		 endpoint, cfg->read_only ? "read-only" : "read-write", auth_identity(auth));

	if (!cfg->foreground) {
		if (!cfg->log_file)
			log_open(LOG_SINK_SYSLOG, NULL);
		/* The parent returns once the mount is in place. */
		if (fuse_daemonize(0)) {
			log_error("could not daemonize");
			goto out_unmount;
		}
	}

	/* SIGUSR1 is taken by one thread with sigwait(); every thread started from here on
	 * inherits the block. */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);

	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_unmount;
	fuse_loop_cfg_set_max_threads(loop, 16);
	fuse_loop_cfg_set_idle_threads(loop, 4);
	rc = fuse_session_loop_mt(se, loop) ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
	log_info("unmounting %s", cfg->mountpoint);

out_unmount:
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
	goto out;
nomem:
	fprintf(stderr, "gcsmount: out of memory\n");
out:
	if (se)
		fuse_session_destroy(se);
	readahead_free(fs.ra);
	metrics_free(metrics);
	bcache_free(blocks);
	dcache_free(disk);
	ftable_free(files);
	dircache_free(dirs);
	itable_free(inodes);
	stage_free(stage);
	free(stage_base);
	gcs_client_free(gcs);
	auth_free(auth);
	free(endpoint);
	buf_free(&fuse_opts);
	return rc;
}

int main(int argc, char **argv)
{
	struct config cfg = {
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
		.readahead_mb = 64,
		.list_parallel = 16,
		.prefetch_files = 16,
		.cache_dir_mb = 4096,
		.cache_dir_free_mb = 1024,
		.metadata_timeout = 60,
	};
	int rc = parse_args(argc, argv, &cfg);

	if (rc) {
		rc = rc > 0 ? 0 : 2;
		goto out;
	}
	log_level = cfg.log_level;
	rc = 2;
	if (!gcs_bucket_name_valid(cfg.bucket)) {
		fprintf(stderr,
			"gcsmount: '%s' is not a valid bucket name (3-222 characters: lowercase "
			"letters, digits, '-', '_' and '.')\n",
			cfg.bucket);
		goto out;
	}
	if (cfg.only_dir && normalize_prefix(cfg.only_dir)) {
		fprintf(stderr,
			"gcsmount: only_dir '%s' is not a prefix gcsmount can mount (it needs "
			"non-empty segments between slashes, none of them '.' or '..')\n",
			cfg.only_dir);
		goto out;
	}
	rc = 1;
	if (check_mountpoint(cfg.mountpoint))
		goto out;
	if (cfg.log_file) {
		int lrc = log_open(LOG_SINK_FILE, cfg.log_file);

		if (lrc) {
			fprintf(stderr, "gcsmount: log file %s: %s\n", cfg.log_file,
				strerror(-lrc));
			goto out;
		}
	}
	if (gcs_global_init()) {
		fprintf(stderr, "gcsmount: could not initialise the HTTP library\n");
		goto out;
	}
	rc = run(&cfg);
	gcs_global_cleanup();
out:
	log_close();
	free(cfg.endpoint);
	free(cfg.key_file);
	free(cfg.ca_file);
	free(cfg.log_file);
	free(cfg.staging_dir);
	free(cfg.only_dir);
	free(cfg.cache_dir);
	free(cfg.billing_project);
	return rc;
}
