/* Logging: one line per event, to stderr, syslog or a file.
 *
 * Levels are syslog's (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). The macros check the level
 * before formatting anything. log_open() is called once at start-up (and again after
 * daemonizing); gm_log() is thread-safe afterwards. Never pass secrets (tokens, keys) here. */
#ifndef GCSMOUNT_UTIL_LOG_H
#define GCSMOUNT_UTIL_LOG_H

#include <syslog.h>

enum log_sink { LOG_SINK_STDERR, LOG_SINK_SYSLOG, LOG_SINK_FILE };

extern int log_level;

/* Returns 0 or -errno (file could not be opened). path is used only for LOG_SINK_FILE. */
int log_open(enum log_sink sink, const char *path);
void log_close(void);
/* Parses "error", "warning", "info", "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);

void gm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* How many errors were logged so far (at any log level setting: see log_error()). */
unsigned long log_error_count(void);

#define log_at(lvl, ...)                            \
	do {                                        \
		if ((lvl) <= log_level)             \
			gm_log((lvl), __VA_ARGS__); \
	} while (0)
/* Errors are always passed to gm_log(), which counts them, whatever the level. */
#define log_error(...) gm_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
