/* Fuzz target: the command line and -o lists through config_parse_args() and
 * config_check(). The input, one argument per line, is the command line after "gcsmount";
 * then the whole input, lines joined with commas, is one -o list before a bucket and a
 * mount point, which is how mount(8) hands fstab options over. Whatever is accepted must be
 * within the limits the rest of gcsmount relies on. Usage errors go to stderr: run with
 * -close_fd_mask=3. */
#include <math.h>
#include <string.h>

#include "fs/dir.h"
#include "fs/fs.h"
#include "fs/options.h"
#include "fuzz.h"

#define MAX_ARGS 64

static void check_config(struct config *cfg)
{
	FUZZ_ASSERT(cfg->chunk_mb >= 1 && cfg->chunk_mb <= 1024);
	FUZZ_ASSERT(cfg->list_parallel >= 1 && cfg->list_parallel <= DIRLIST_PARALLEL_MAX);
	FUZZ_ASSERT(cfg->prefetch_files <= PREFETCH_FILES_MAX);
	FUZZ_ASSERT(cfg->metrics_port <= 65535);
	FUZZ_ASSERT((cfg->file_mode & ~07777) == 0 && (cfg->dir_mode & ~07777) == 0);
	/* Seconds become FUSE timeouts and deadlines: they must be numbers. */
	FUZZ_ASSERT(isfinite(cfg->stat_ttl) && cfg->stat_ttl >= 0);
	FUZZ_ASSERT(isfinite(cfg->negative_ttl) && cfg->negative_ttl >= 0);
	FUZZ_ASSERT(isfinite(cfg->metadata_timeout) && cfg->metadata_timeout >= 0);
	/* main() checks the operands of a mount only. */
	if (cfg->action == ACTION_MOUNT && config_check(cfg) == 0) {
		FUZZ_ASSERT(cfg->bucket && cfg->mountpoint);
		if (cfg->only_dir) {
			const char *d = cfg->only_dir;
			size_t n = strlen(d);

			FUZZ_ASSERT(n > 0 && d[0] != '/' && d[n - 1] != '/' && !strstr(d, "//"));
		}
	}
}

static void parse(int argc, char **argv)
{
	struct config cfg;

	config_init(&cfg);
	if (config_parse_args(&cfg, argc, argv) == 0)
		check_config(&cfg);
	config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size);
	char *list = strndup((const char *)data, size);
	char *argv[MAX_ARGS + 1];
	int argc = 0;

	if (!text || !list)
		goto out;
	argv[argc++] = "gcsmount";
	size_t n = strlen(text);
	if (n && text[n - 1] == '\n')
		text[n - 1] = '\0'; /* the seeds are text files */
	for (char *line = text, *nl; line && argc < MAX_ARGS; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		argv[argc++] = line;
	}
	argv[argc] = NULL;
	parse(argc, argv);

	for (char *p = list; *p; p++)
		if (*p == '\n')
			*p = ',';
	char *olist[] = {"gcsmount", "-o", list, "my-bucket", "/mnt/gcs", NULL};
	parse(5, olist);
out:
	free(text);
	free(list);
	return 0;
}
