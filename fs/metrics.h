/* Counters for people and monitoring: requests by operation and price class, bytes, retries,
 * failures, cache hits, and the operation cost they add up to at list prices. Served in
 * Prometheus text format on a loopback port, and written to the log on SIGUSR1.
 *
 * struct metrics is opaque; metrics_new() binds the port before the daemon forks (so a busy
 * port is reported on the terminal), metrics_start() starts its threads in the daemon, and
 * metrics_free() stops them. */
#ifndef GCSMOUNT_FS_METRICS_H
#define GCSMOUNT_FS_METRICS_H

#include <stddef.h>

#include "cache/blocks.h"
#include "cache/disk.h"
#include "gcs/client.h"
#include "util/buf.h"

struct gmfs;
struct metrics;

/* List prices of Standard storage operations, in dollars per 1,000 (GCS pricing page). */
#define PRICE_CLASS_A_PER_1000 0.005
#define PRICE_CLASS_B_PER_1000 0.0004

/* port 0: no HTTP endpoint, only the SIGUSR1 log. NULL with a sentence in why on failure. */
struct metrics *metrics_new(int port, char *why, size_t whylen);
int metrics_start(struct metrics *m, struct gmfs *fs);
void metrics_free(struct metrics *m);

/* The Prometheus text for these counters (cache and disk may be NULL). Returns 0 or -errno. */
int metrics_format(struct buf *out, const struct gcs_stats *g, const struct bcache_stats *cache,
		   const struct dcache_stats *disk);
/* Estimated dollars for the requests counted in g. */
double metrics_cost(const struct gcs_stats *g);

#endif
