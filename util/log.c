/* Logging sinks.
 *
 * The file sink is opened with O_APPEND and each line is written with one write(2), so lines
 * from concurrent threads never interleave and no lock is needed. The sink itself is set
 * before threads start and not changed while they run, which is why these few globals are
 * safe as file-scope state. */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_INFO;

static enum log_sink sink = LOG_SINK_STDERR;
static int log_fd = 2;

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

int log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {{"error", LOG_ERR}, {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
		     {"info", LOG_INFO}, {"debug", LOG_DEBUG},	   {"trace", LOG_DEBUG}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].level;
	return -1;
}

int log_open(enum log_sink new_sink, const char *path)
{
	if (new_sink == LOG_SINK_FILE) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

		if (fd < 0)
			return -errno;
		log_close();
		log_fd = fd;
	} else if (new_sink == LOG_SINK_SYSLOG) {
		log_close();
		openlog("gcsmount", LOG_PID, LOG_DAEMON);
	} else {
		log_close();
	}
	sink = new_sink;
	return 0;
}

void log_close(void)
{
	if (sink == LOG_SINK_FILE && log_fd > 2)
		close(log_fd);
	else if (sink == LOG_SINK_SYSLOG)
		closelog();
	sink = LOG_SINK_STDERR;
	log_fd = 2;
}

/* Errors logged since start, for the mount's status; counted even when not printed. */
static atomic_ulong errors_logged;

unsigned long log_error_count(void)
{
	return atomic_load(&errors_logged);
}

void gm_log(int level, const char *fmt, ...)
{
	char line[2048];
	size_t n = 0;
	va_list ap;

	if (level <= LOG_ERR)
		atomic_fetch_add(&errors_logged, 1);

	if (sink != LOG_SINK_SYSLOG) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - n,
			      ".%03ldZ gcsmount[%d] %s: ", ts.tv_nsec / 1000000, (int)getpid(),
			      level_name(level));
	}
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;

	if (sink == LOG_SINK_SYSLOG) {
		syslog(level, "%s", line);
		return;
	}
	line[n++] = '\n';
	/* One write per line keeps concurrent lines whole. */
	ssize_t w = write(log_fd, line, n);
	(void)w;
}
