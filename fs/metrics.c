/* Metrics endpoint and SIGUSR1 dump.
 *
 * The endpoint is a deliberately small HTTP/1.1 responder on 127.0.0.1: one thread accepts,
 * reads the request line, answers with the whole text and closes. Scrapes are rare and tiny,
 * so nothing more is needed, and loopback keeps it private to the machine.
 * SIGUSR1 is blocked in every thread (main blocks it before the FUSE workers start) and taken
 * by one thread with sigwait(), so no work happens in a signal handler. */
#include "fs/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "util/log.h"

struct metrics {
	int listen_fd; /* -1: no endpoint */
	struct gmfs *fs;
	pthread_t http_thread, signal_thread;
	int http_started, signal_started;
	volatile sig_atomic_t stop;
};

double metrics_cost(const struct gcs_stats *g)
{
	uint64_t a = 0, b = 0;

	for (size_t i = 0; i < GCS_NOPS; i++) {
		if (g->ops[i].price_class == 'A')
			a += g->ops[i].requests;
		else if (g->ops[i].price_class == 'B')
			b += g->ops[i].requests;
	}
	return (double)a * PRICE_CLASS_A_PER_1000 / 1000 +
	       (double)b * PRICE_CLASS_B_PER_1000 / 1000;
}

int metrics_format(struct buf *out, const struct gcs_stats *g, const struct bcache_stats *cache,
		   const struct dcache_stats *disk)
{
	static const struct {
		const char *name, *help;
		size_t field;
	} per_op[] = {
		{"gcsmount_requests_total",
		 "Requests sent to Cloud Storage, every attempt counted.",
		 offsetof(struct gcs_op_stats, requests)},
		{"gcsmount_request_retries_total", "Requests sent again after a transient failure.",
		 offsetof(struct gcs_op_stats, retries)},
		{"gcsmount_request_failures_total", "Operations that failed after all retries.",
		 offsetof(struct gcs_op_stats, failures)},
	};
	uint64_t by_class[2] = {0, 0};
	int rc = 0;

	for (size_t k = 0; k < sizeof(per_op) / sizeof(per_op[0]) && !rc; k++) {
		rc = buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", per_op[k].name,
				per_op[k].help, per_op[k].name);
		for (size_t i = 0; i < GCS_NOPS && !rc; i++) {
			const struct gcs_op_stats *o = &g->ops[i];
			uint64_t v = *(const uint64_t *)((const char *)o + per_op[k].field);
			char cls[2] = {o->price_class ? o->price_class : '-', 0};

			rc = buf_printf(out, "%s{op=\"%s\",class=\"%s\"} %llu\n", per_op[k].name,
					o->op, o->price_class ? cls : "free",
					(unsigned long long)v);
		}
	}
	for (size_t i = 0; i < GCS_NOPS; i++)
		if (g->ops[i].price_class == 'A' || g->ops[i].price_class == 'B')
			by_class[g->ops[i].price_class - 'A'] += g->ops[i].requests;
	if (!rc)
		rc = buf_printf(
			out,
			"# HELP gcsmount_class_requests_total Requests by GCS price class.\n"
			"# TYPE gcsmount_class_requests_total counter\n"
			"gcsmount_class_requests_total{class=\"A\"} %llu\n"
			"gcsmount_class_requests_total{class=\"B\"} %llu\n"
			"# HELP gcsmount_bytes_total Bytes received from and sent to Cloud "
			"Storage.\n"
			"# TYPE gcsmount_bytes_total counter\n"
			"gcsmount_bytes_total{direction=\"in\"} %llu\n"
			"gcsmount_bytes_total{direction=\"out\"} %llu\n"
			"# HELP gcsmount_estimated_cost_dollars Operation charges at list "
			"prices of Standard storage (Class A $%.4f, Class B $%.4f per 1,000); "
			"storage and network are not included.\n"
			"# TYPE gcsmount_estimated_cost_dollars gauge\n"
			"gcsmount_estimated_cost_dollars %.6f\n",
			(unsigned long long)by_class[0], (unsigned long long)by_class[1],
			(unsigned long long)g->bytes_in, (unsigned long long)g->bytes_out,
			PRICE_CLASS_A_PER_1000, PRICE_CLASS_B_PER_1000, metrics_cost(g));
	if (!rc && cache)
		rc = buf_printf(
			out,
			"# HELP gcsmount_cache_hits_total Blocks found in the memory cache.\n"
			"# TYPE gcsmount_cache_hits_total counter\n"
			"gcsmount_cache_hits_total{cache=\"memory\"} %llu\n"
			"# HELP gcsmount_cache_misses_total Blocks fetched into the memory "
			"cache.\n"
			"# TYPE gcsmount_cache_misses_total counter\n"
			"gcsmount_cache_misses_total{cache=\"memory\"} %llu\n"
			"# HELP gcsmount_cache_bytes Bytes held in the memory cache.\n"
			"# TYPE gcsmount_cache_bytes gauge\n"
			"gcsmount_cache_bytes{cache=\"memory\"} %llu\n"
			"# HELP gcsmount_cache_allocated_bytes Bytes of block buffers the memory "
			"cache has allocated: the blocks held, spare buffers kept for reuse and "
			"blocks of reads in progress that did not fit.\n"
			"# TYPE gcsmount_cache_allocated_bytes gauge\n"
			"gcsmount_cache_allocated_bytes{cache=\"memory\"} %llu\n",
			(unsigned long long)cache->hits, (unsigned long long)cache->misses,
			(unsigned long long)cache->bytes_cached,
			(unsigned long long)cache->bytes_allocated);
	if (!rc && disk)
		rc = buf_printf(out,
				"gcsmount_cache_hits_total{cache=\"disk\"} %llu\n"
				"gcsmount_cache_misses_total{cache=\"disk\"} %llu\n"
				"gcsmount_cache_bytes{cache=\"disk\"} %llu\n"
				"# HELP gcsmount_cache_corrupt_total Disk cache blocks that failed "
				"their checksum and were fetched again.\n"
				"# TYPE gcsmount_cache_corrupt_total counter\n"
				"gcsmount_cache_corrupt_total{cache=\"disk\"} %llu\n",
				(unsigned long long)disk->hits, (unsigned long long)disk->misses,
				(unsigned long long)disk->bytes_on_disk,
				(unsigned long long)disk->corrupt);
	return rc;
}

static int render(struct metrics *m, struct buf *out)
{
	struct gcs_stats g;
	struct bcache_stats c;
	struct dcache_stats d;

	gcs_get_stats(m->fs->gcs, &g);
	if (m->fs->blocks)
		bcache_get_stats(m->fs->blocks, &c);
	if (m->fs->disk)
		dcache_get_stats(m->fs->disk, &d);
	return metrics_format(out, &g, m->fs->blocks ? &c : NULL, m->fs->disk ? &d : NULL);
}

static void serve_one(struct metrics *m, int fd)
{
	char req[2048];
	size_t n = 0;
	struct timeval tv = {2, 0};
	struct buf body, head;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n < sizeof(req) - 1) {
		ssize_t got = recv(fd, req + n, sizeof(req) - 1 - n, 0);
		if (got <= 0)
			break;
		n += (size_t)got;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = '\0';
	buf_init(&body, 1u << 20);
	buf_init(&head, 4096);
	int ok = strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET / ", 6) == 0;
	if (!ok || render(m, &body) != 0) {
		buf_reset(&body);
		buf_append_str(&body, ok ? "error\n" : "not found: try /metrics\n");
	}
	buf_printf(&head,
		   "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		   ok ? "200 OK" : "404 Not Found", body.len);
	if (send(fd, head.data, head.len, MSG_NOSIGNAL) > 0 && body.len)
		send(fd, body.data, body.len, MSG_NOSIGNAL);
	buf_free(&body);
	buf_free(&head);
}

static void *http_main(void *arg)
{
	struct metrics *m = arg;

	while (!m->stop) {
		int fd = accept(m->listen_fd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* the socket was shut down: stopping */
		}
		serve_one(m, fd);
		close(fd);
	}
	return NULL;
}

static void log_metrics(struct metrics *m)
{
	struct gcs_stats g;

	gcs_get_stats(m->fs->gcs, &g);
	for (size_t i = 0; i < GCS_NOPS; i++)
		if (g.ops[i].requests)
			log_info("metrics: %s (class %s): %llu requests, %llu retries, %llu "
				 "failures",
				 g.ops[i].op,
				 g.ops[i].price_class == 'A'   ? "A"
				 : g.ops[i].price_class == 'B' ? "B"
							       : "free",
				 (unsigned long long)g.ops[i].requests,
				 (unsigned long long)g.ops[i].retries,
				 (unsigned long long)g.ops[i].failures);
	if (m->fs->blocks) {
		struct bcache_stats c;

		bcache_get_stats(m->fs->blocks, &c);
		log_info("metrics: memory cache: %llu hits, %llu misses, %llu bytes held, %llu "
			 "bytes allocated",
			 (unsigned long long)c.hits, (unsigned long long)c.misses,
			 (unsigned long long)c.bytes_cached, (unsigned long long)c.bytes_allocated);
	}
	if (m->fs->disk) {
		struct dcache_stats d;

		dcache_get_stats(m->fs->disk, &d);
		log_info("metrics: disk cache: %llu hits, %llu misses, %llu corrupt, %llu bytes "
			 "held",
			 (unsigned long long)d.hits, (unsigned long long)d.misses,
			 (unsigned long long)d.corrupt, (unsigned long long)d.bytes_on_disk);
	}
	log_info("metrics: %llu bytes in, %llu bytes out, estimated operation cost $%.6f",
		 (unsigned long long)g.bytes_in, (unsigned long long)g.bytes_out, metrics_cost(&g));
}

static void *signal_main(void *arg)
{
	struct metrics *m = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	while (sigwait(&set, &sig) == 0 && !m->stop)
		log_metrics(m);
	return NULL;
}

struct metrics *metrics_new(int port, char *why, size_t whylen)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	m->listen_fd = -1;
	if (port <= 0)
		return m;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0 ||
	    setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(m->listen_fd, 8) != 0) {
		snprintf(why, whylen, "metrics port 127.0.0.1:%d: %s", port, strerror(errno));
		metrics_free(m);
		return NULL;
	}
	return m;
}

int metrics_start(struct metrics *m, struct gmfs *fs)
{
	m->fs = fs;
	if (pthread_create(&m->signal_thread, NULL, signal_main, m) == 0)
		m->signal_started = 1;
	if (m->listen_fd >= 0 && pthread_create(&m->http_thread, NULL, http_main, m) == 0)
		m->http_started = 1;
	return m->signal_started && (m->listen_fd < 0 || m->http_started) ? 0 : -EAGAIN;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	m->stop = 1;
	if (m->listen_fd >= 0)
		shutdown(m->listen_fd, SHUT_RDWR);
	if (m->http_started)
		pthread_join(m->http_thread, NULL);
	if (m->signal_started) {
		pthread_kill(m->signal_thread, SIGUSR1);
		pthread_join(m->signal_thread, NULL);
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	free(m);
}
