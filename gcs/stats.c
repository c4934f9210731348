/* Request accounting: what the client sent, by operation and price class.
 *
 * GCS bills by operation, so the counters are kept per operation, each with its price class
 * beside it: a reader of the stats can price a workload without knowing the API. Every
 * attempt counts, retries included, because every attempt is billed. */
#include "gcs/client.h"
#include "gcs/client_i.h"
#include "gcs/stats_i.h"

#include <stdatomic.h>
#include <string.h>

/* Every operation the client sends, with its price class from GCS's operations table.
 * A resumable upload is billed once, as its insert; its chunks are not counted again. */
static const struct {
	const char *op;
	char price_class;
} op_table[GCS_NOPS] = {
	{"buckets.get", 'B'},
	{"objects.get", 'B'},
	{"xml.get", 'B'},
	{"objects.list", 'A'},
	{"objects.insert", 'A'},
	{"uploads.chunk", 0},
	{"objects.patch", 'A'},
	{"objects.delete", 0},
	{"objects.move", 'A'},
	{"objects.rewrite", 'A'},
	{"objects.compose", 'A'},
	{"uploads.cancel", 0},
	{"other", 0},
};

size_t gcs_stats_op(const char *op)
{
	for (size_t i = 0; i < GCS_NOPS - 1; i++)
		if (strcmp(op_table[i].op, op) == 0)
			return i;
	return GCS_NOPS - 1;
}

void gcs_get_stats(struct gcs_client *c, struct gcs_stats *out)
{
	for (size_t i = 0; i < GCS_NOPS; i++) {
		out->ops[i].op = op_table[i].op;
		out->ops[i].price_class = op_table[i].price_class;
		out->ops[i].requests = atomic_load(&c->n_requests[i]);
		out->ops[i].retries = atomic_load(&c->n_retries[i]);
		out->ops[i].failures = atomic_load(&c->n_failures[i]);
	}
	out->bytes_in = atomic_load(&c->n_bytes_in);
	out->bytes_out = atomic_load(&c->n_bytes_out);
}
