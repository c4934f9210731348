/* Private to gcs/: the retry and deadline policy: which failed attempts are sent again, how
 * long to pause before, and the time budget of an operation. */
#ifndef GCSMOUNT_GCS_RETRY_I_H
#define GCSMOUNT_GCS_RETRY_I_H

#include <stdint.h>

struct gcs_client;
struct gcs_req;

/* The time budget of one operation, shared by all its requests and their retries (a read and
 * its resumptions, an upload chunk and the status queries after it). Set up by
 * gcs_retry_init(); not shared between threads. */
struct gcs_retry {
	int64_t deadline_ms; /* CLOCK_MONOTONIC */
	unsigned seed;
	int waits; /* backoff sleeps so far */
};

void gcs_retry_init(struct gcs_client *c, struct gcs_retry *t);
/* Milliseconds left before the deadline (<= 0 when passed). */
int64_t gcs_retry_left_ms(const struct gcs_retry *t);

/* Whether a failed attempt may be sent again (damaged: a 2xx whose body the caller's check
 * refused). */
int gcs_retry_allowed(const struct gcs_req *r, int damaged);
/* Whether an attempt that failed this way may have been carried out by the server. */
int gcs_retry_maybe_done(const struct gcs_req *r, int damaged);
/* The pause before the next attempt in ms, or -1 when it would end past the deadline.
 * progressed: the failed attempt moved the body on, which starts the backoff over. */
long gcs_retry_pause(const struct gcs_client *c, struct gcs_retry *t, int progressed);
/* Sleeps a pause from gcs_retry_pause() and counts it for the next one. */
void gcs_retry_sleep(struct gcs_retry *t, long ms);

#endif
