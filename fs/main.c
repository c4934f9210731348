/* gcsmount: check everything that can be checked while the user still has a terminal
 * (options, mountpoint, endpoint, credentials, bucket, staging and cache folders), then mount,
 * daemonize and serve. Each of those is a step below that fills a struct mount and says on
 * stderr why it failed; release() undoes whatever the steps did, in reverse. */
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
#include "fs/open_files.h"
#include "fs/fs.h"
#include "fs/metrics.h"
#include "fs/options.h"
#include "fs/readahead.h"
#include "fs/stage.h"
#include "fs/status.h"
#include "fs/status_commands.h"
#include "fs/upload.h"
#include "fs/workers.h"
#include "gcs/client.h"
#include "gcs/url.h"
#include "util/buf.h"
#include "util/log.h"

#define BLOCK_SIZE (1u << 20)
/* Listing entries kept to answer lookups: about 300 bytes each. */
#define DIRCACHE_ENTRIES 100000

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

/* Without /dev/fuse nothing can mount; say how to get it rather than what libfuse says. */
static int check_fuse_device(void)
{
	struct stat st;

	if (stat("/dev/fuse", &st) == 0)
		return 0;
	fprintf(stderr,
		"gcsmount: this machine has no FUSE device (/dev/fuse: %s): install fuse3 and "
		"load the module (sudo modprobe fuse); in a container, start it with "
		"--device /dev/fuse --cap-add SYS_ADMIN\n",
		strerror(errno));
	return -1;
}

/* Finds the credentials and applies what their scopes allow: a token that may only read makes
 * the mount read-only, and ro_reason (ro_len bytes) says why. Returns NULL after saying why
 * on stderr. */
static struct auth *open_credentials(struct config *cfg, int emulator, char *ro_reason,
				     size_t ro_len)
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
		snprintf(ro_reason, ro_len, "%s", why);
		cfg->read_only = 1;
		break;
	default:
		break;
	}
	return auth;
}

/* What a mount holds while it runs; every member is NULL (or zero) until its step made it. */
struct mount {
	char *endpoint;
	char *mountpoint;     /* absolute */
	char ro_reason[2048]; /* why the credentials make the mount read-only, or "" */
	struct status_server *status;
	struct auth *auth;
	struct gcs_client *gcs;
	char *stage_base;
	struct stage *stage;
	struct metrics *metrics;
	struct itable *inodes;
	struct ftable *files;
	struct dircache *dirs;
	struct bcache *blocks;
	struct dcache *disk;
	struct dcache_layer layer;
	struct gmfs fs;
	struct fuse_session *se;
	int handlers, mounted;
};

static int out_of_memory(void)
{
	fprintf(stderr, "gcsmount: out of memory\n");
	return -1;
}

/* Ends a failure sentence with what fixes it, where that is known. */
static void print_fix(const struct config *cfg, const struct mount *m, int rc)
{
	const char *who = auth_identity(m->auth);

	if (rc == -ENOENT) {
		fprintf(stderr,
			". Check the name: `gcloud storage ls` lists the buckets %s can "
			"see.\n",
			who);
	} else if ((rc == -EACCES || rc == -EPERM) && strchr(who, '@')) {
		/* Service accounts and users are named differently in IAM bindings. */
		const char *kind = strstr(who, ".gserviceaccount.com") ? "serviceAccount" : "user";

		fprintf(stderr,
			". To allow it, a bucket admin runs `gcloud storage buckets "
			"add-iam-policy-binding gs://%s --member=%s:%s "
			"--role=roles/storage.objectUser` (or roles/storage.objectViewer to read "
			"only).\n",
			cfg->bucket, kind, who);
	} else {
		fprintf(stderr, "\n");
	}
}

/* The endpoint, the credentials and a look at the bucket. Credentials limited to reading
 * make the mount read-only (cfg->read_only). */
static int connect_storage(struct config *cfg, struct mount *m)
{
	struct gcs_client_opts gopts;
	char why[1024];

	/* The emulator variable counts only when --endpoint does not override it: --endpoint
	 * alone still uses credentials. */
	const char *emulator = getenv("STORAGE_EMULATOR_HOST");
	if (cfg->endpoint || (emulator && !*emulator))
		emulator = NULL;
	const char *ep = cfg->endpoint ? cfg->endpoint
			 : emulator    ? emulator
				       : "https://storage.googleapis.com";
	m->endpoint = gcs_endpoint_normalize(ep);
	if (!m->endpoint) {
		fprintf(stderr,
			"gcsmount: endpoint '%s' is not a URL of the form "
			"http(s)://host[:port] or host:port\n",
			ep);
		return -1;
	}
	m->auth = open_credentials(cfg, emulator != NULL, m->ro_reason, sizeof(m->ro_reason));
	if (!m->auth)
		return -1;

	gcs_client_opts_default(&gopts);
	gopts.endpoint = m->endpoint;
	gopts.bucket = cfg->bucket;
	gopts.auth = m->auth;
	gopts.max_attempts = (int)cfg->max_retries + 1;
	gopts.ca_file = cfg->ca_file;
	gopts.user_project = cfg->billing_project;
	gopts.http2 = cfg->http2;
	gopts.retry_deadline_s = cfg->retry_deadline;
	gopts.io_timeout_s = (long)cfg->io_timeout;
	gopts.min_rate_bps = (long)cfg->min_rate;
	m->gcs = gcs_client_new(&gopts);
	if (!m->gcs)
		return out_of_memory();
	/* A few quick tries: a mount against a wrong endpoint should fail in a second, not
	 * after the minutes of backoff that a running mount allows itself. */
	int rc = gcs_bucket_check(m->gcs, 3, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "gcsmount: %s", why);
		print_fix(cfg, m, rc);
		return -1;
	}
	return 0;
}

/* The staging folder (read-write mounts only) and the metrics endpoint. */
static int open_local_state(const struct config *cfg, struct mount *m)
{
	char why[1024];

	if (!cfg->read_only) {
		m->stage_base = cfg->staging_dir ? strdup(cfg->staging_dir) : stage_default_base();
		if (!m->stage_base)
			return out_of_memory();
		m->stage = stage_new(m->stage_base, cfg->bucket, why, sizeof(why));
		if (!m->stage) {
			fprintf(stderr, "gcsmount: %s\n", why);
			return -1;
		}
	}
	m->metrics = metrics_new((int)cfg->metrics_port, why, sizeof(why));
	if (!m->metrics) {
		fprintf(stderr, "gcsmount: %s\n", why);
		return -1;
	}
	return 0;
}

/* The on-disk block cache: one folder per bucket under cache_dir, since block keys are
 * object names. */
static int open_disk_cache(const struct config *cfg, struct mount *m)
{
	char why[1024];
	struct buf dir;

	if (!m->blocks) {
		fprintf(stderr, "gcsmount: cache_dir works under the memory cache; it needs "
				"cache_size_mb above 0\n");
		return -1;
	}
	if (mkdir(cfg->cache_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "gcsmount: cache_dir %s: %s\n", cfg->cache_dir, strerror(errno));
		return -1;
	}
	buf_init(&dir, 8192);
	if (buf_printf(&dir, "%s/%s", cfg->cache_dir, cfg->bucket))
		return out_of_memory();
	m->disk = dcache_new(dir.data, BLOCK_SIZE, (uint64_t)cfg->cache_dir_mb << 20,
			     (uint64_t)cfg->cache_dir_free_mb << 20, why, sizeof(why));
	buf_free(&dir);
	if (!m->disk) {
		fprintf(stderr, "gcsmount: %s\n", why);
		return -1;
	}
	return 0;
}

/* The tables and caches the filesystem keeps in memory (and on disk, with cache_dir). */
static int open_caches(const struct config *cfg, struct mount *m)
{
	m->inodes = itable_new(cfg->only_dir ? cfg->only_dir : "");
	m->files = ftable_new();
	m->dirs = dircache_new(DIRCACHE_ENTRIES);
	if (!m->inodes || !m->files || !m->dirs)
		return out_of_memory();
	if (cfg->cache_mb) {
		m->blocks = bcache_new(BLOCK_SIZE, (size_t)cfg->cache_mb << 20);
		if (!m->blocks)
			return out_of_memory();
	}
	return cfg->cache_dir ? open_disk_cache(cfg, m) : 0;
}

/* The filesystem's shared state, from the configuration and what the steps before made. */
static int assemble_fs(const struct config *cfg, struct mount *m)
{
	m->fs = (struct gmfs){
		.gcs = m->gcs,
		.inodes = m->inodes,
		.blocks = m->blocks,
		.disk = m->disk,
		.fetch = fs_fetch_from_server,
		.files = m->files,
		.dirs = m->dirs,
		.stage = m->stage,
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
		/* Reads waiting for the bucket at once: more than FUSE's threads, so that readers
		 * stalled on a server leave room for the readers of other objects. */
		.read_threads = 32,
		.prefetch_files = cfg->prefetch_files,
		.metrics = m->metrics,
	};
	m->fs.fetch_arg = &m->fs;
	if (m->disk) {
		m->layer = (struct dcache_layer){m->disk, fs_fetch_from_server, &m->fs};
		m->fs.fetch = dcache_layer_fetch;
		m->fs.fetch_arg = &m->layer;
	}
	clock_gettime(CLOCK_REALTIME, &m->fs.defaults.dir_mtime);
	upload_set_mode(&m->fs, cfg->upload_wait ? UPLOAD_WAIT : UPLOAD_BACKGROUND);
	return gmfs_init_root(&m->fs) ? out_of_memory() : 0;
}

/* The answer to `gcsmount --status`: what the mount is, and (from init on) its counters. */
static int open_status(const struct config *cfg, struct mount *m)
{
	char access[2200], why[1024];

	m->mountpoint = realpath(cfg->mountpoint, NULL);
	if (!m->mountpoint) {
		fprintf(stderr, "gcsmount: mountpoint %s: %s\n", cfg->mountpoint, strerror(errno));
		return -1;
	}
	if (!cfg->read_only)
		snprintf(access, sizeof(access), "read-write");
	else if (m->ro_reason[0])
		snprintf(access, sizeof(access), "read-only (%s)", m->ro_reason);
	else
		snprintf(access, sizeof(access), "read-only (-o ro)");
	struct status_facts f = {cfg->bucket, m->mountpoint, access, auth_identity(m->auth)};
	m->status = status_new(&f, why, sizeof(why));
	if (!m->status) {
		fprintf(stderr, "gcsmount: %s\n", why);
		return -1;
	}
	m->fs.status = m->status;
	return 0;
}

/* libfuse handles a stop signal only if it still has its default action, and only a thread
 * that does not block it can take it. A shell without job control starts `gcsmount -f ... &`
 * with SIGINT ignored, and both ignored signals and the blocked mask survive exec, so SIGINT
 * or SIGTERM could do nothing at all. SIGHUP stays as found, for nohup. */
static void accept_stop_signals(void)
{
	static const int stop[] = {SIGINT, SIGTERM};
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++) {
		struct sigaction sa;

		sigaddset(&set, stop[i]);
		if (sigaction(stop[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = SIG_DFL;
			sigaction(stop[i], &sa, NULL);
		}
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* A FUSE session, mounted on the mountpoint. */
static int mount_fuse(const struct config *cfg, struct mount *m)
{
	struct buf opts;

	buf_init(&opts, 4096);
	if (buf_printf(&opts, "%s,fsname=%s,subtype=gcsmount", cfg->read_only ? "ro" : "rw",
		       cfg->bucket) ||
	    (cfg->allow_other && buf_append_str(&opts, ",allow_other")) ||
	    (cfg->default_permissions && buf_append_str(&opts, ",default_permissions"))) {
		buf_free(&opts);
		return out_of_memory();
	}
	char *fargv[] = {(char *)"gcsmount", (char *)"-o", opts.data, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	m->se = fuse_session_new(&args, &gmfs_ops, sizeof(gmfs_ops), &m->fs);
	fuse_opt_free_args(&args);
	buf_free(&opts);
	if (!m->se)
		return -1; /* libfuse said why on stderr */
	accept_stop_signals();
	if (fuse_set_signal_handlers(m->se))
		return -1;
	m->handlers = 1;
	if (fuse_session_mount(m->se, cfg->mountpoint)) {
		fprintf(stderr, "gcsmount: could not mount on %s\n", cfg->mountpoint);
		return -1;
	}
	m->mounted = 1;
	/* What a notebook cell or a terminal shows: one line, the details are in the log. */
	if (m->ro_reason[0])
		printf("gcsmount: mounted gs://%s on %s read-only, as %s: %s\n", cfg->bucket,
		       m->mountpoint, auth_identity(m->auth), m->ro_reason);
	else
		printf("gcsmount: mounted gs://%s on %s %s, as %s\n", cfg->bucket, m->mountpoint,
		       cfg->read_only ? "read-only (-o ro)" : "read-write", auth_identity(m->auth));
	fflush(stdout);
	return 0;
}

/* Daemonizes (the parent returns once the mount is in place) and answers the kernel until
 * unmounted. Returns the exit status. */
static int serve(const struct config *cfg, struct mount *m)
{
	struct fuse_loop_config *loop;
	int rc;

	if (!cfg->foreground) {
		if (!cfg->log_file)
			log_open(LOG_SINK_SYSLOG, NULL);
		if (fuse_daemonize(0)) {
			log_error("could not daemonize");
			return 1;
		}
	}
	log_info("mounted gs://%s on %s (endpoint %s, %s, as %s)", cfg->bucket, m->mountpoint,
		 m->endpoint, cfg->read_only ? "read-only" : "read-write", auth_identity(m->auth));
	if (m->ro_reason[0])
		log_warn("%s", m->ro_reason);
	/* SIGUSR1 is taken by one thread with sigwait(); every thread started from here on
	 * inherits the block. */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);

#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 12)
	loop = fuse_loop_cfg_create();
	if (!loop)
		return 1;
	fuse_loop_cfg_set_max_threads(loop, 16);
	fuse_loop_cfg_set_idle_threads(loop, 4);
	rc = fuse_session_loop_mt(m->se, loop) ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
#else
	/* libfuse before 3.12 (Debian 11, Ubuntu 22.04) has no fuse_loop_cfg_* and no thread
	 * limit to set. */
	struct fuse_loop_config loop310 = {.clone_fd = 0, .max_idle_threads = 4};
	loop = &loop310;
	rc = fuse_session_loop_mt(m->se, loop) ? 1 : 0;
#endif
	/* Reads under way end (within their deadline) and queued ones are answered with an error
	 * while the device is still open: unmounting closes it. */
	workers_free(m->fs.readers);
	m->fs.readers = NULL;
	log_info("unmounting %s", cfg->mountpoint);
	return rc;
}

static void release(struct mount *m)
{
	if (m->mounted)
		fuse_session_unmount(m->se);
	if (m->handlers)
		fuse_remove_signal_handlers(m->se);
	if (m->se)
		fuse_session_destroy(m->se);
	status_free(m->status);
	readahead_free(m->fs.ra);
	metrics_free(m->metrics);
	bcache_free(m->blocks);
	dcache_free(m->disk);
	ftable_free(m->files);
	dircache_free(m->dirs);
	itable_free(m->inodes);
	stage_free(m->stage);
	free(m->stage_base);
	gcs_client_free(m->gcs);
	auth_free(m->auth);
	free(m->endpoint);
	free(m->mountpoint);
}

static int run(struct config *cfg)
{
	struct mount m = {0};
	int rc = 1;

	if (connect_storage(cfg, &m) == 0 && open_local_state(cfg, &m) == 0 &&
	    open_caches(cfg, &m) == 0 && assemble_fs(cfg, &m) == 0 && open_status(cfg, &m) == 0 &&
	    mount_fuse(cfg, &m) == 0)
		rc = serve(cfg, &m);
	release(&m);
	return rc;
}

int main(int argc, char **argv)
{
	struct config cfg;
	int rc;

	config_init(&cfg);
	rc = config_parse_args(&cfg, argc, argv);
	if (rc) {
		rc = rc > 0 ? 0 : 2;
		goto out;
	}
	if (cfg.action == ACTION_STATUS) {
		rc = status_command(cfg.mountpoint);
		goto out;
	}
	if (cfg.action == ACTION_UNMOUNT) {
		rc = unmount_command(cfg.mountpoint);
		goto out;
	}
	log_level = cfg.log_level;
	rc = 2;
	if (config_check(&cfg))
		goto out;
	rc = 1;
	if (check_mountpoint(cfg.mountpoint) || check_fuse_device())
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
	config_free(&cfg);
	return rc;
}
