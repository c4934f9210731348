/* Private to gcs/: request accounting. The counters live in struct gcs_client (atomics,
 * bumped by gcs_perform()); gcs_get_stats() reads them by operation. */
#ifndef GCSMOUNT_GCS_STATS_I_H
#define GCSMOUNT_GCS_STATS_I_H

#include <stddef.h>

/* The counters' index of an operation name ("objects.get"); unknown names count as
 * "other". */
size_t gcs_stats_op(const char *op);

#endif
