/* The retry and deadline policy.
 *
 * Kept apart from the request engine so that what is retried, and when, reads in one place:
 * a transient failure (408, 429, 5xx, a reset, a stall, a damaged answer) is sent again after
 * a capped, jittered, doubling pause, until the attempts or the operation's deadline run out.
 * The deadline belongs to the operation, not to one request, so that a read with its
 * resumptions or an upload chunk with its status queries is bounded as a whole. A mutation
 * without a precondition is not idempotent: it goes again only when the server surely did not
 * act on it. */
#include "gcs/retry_i.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "gcs/client_i.h"
#include "gcs/status.h"
#include "util/clock.h"

void gcs_retry_init(struct gcs_client *c, struct gcs_retry *t)
{
	int64_t now = clock_mono_ms();

	t->deadline_ms = now + (int64_t)(c->o.retry_deadline_s * 1000.0);
	t->seed = (unsigned)now ^ (unsigned)(uintptr_t)t;
	t->waits = 0;
}

int64_t gcs_retry_left_ms(const struct gcs_retry *t)
{
	return t->deadline_ms - clock_mono_ms();
}

int gcs_retry_allowed(const struct gcs_req *r, int damaged)
{
	if (r->not_idempotent)
		return r->xport == GCS_XPORT_CONNECT || r->status == 408 || r->status == 429;
	return damaged || gcs_retryable(r->status, r->xport);
}

int gcs_retry_maybe_done(const struct gcs_req *r, int damaged)
{
	if (damaged || r->status >= 500)
		return 1;
	return r->xport == GCS_XPORT_RESET || r->xport == GCS_XPORT_TIMEOUT ||
	       r->xport == GCS_XPORT_OTHER;
}

/* base * 2^waits, capped, half fixed and half random (spreads the retries of many threads
 * without letting any pause collapse to 0). Sleeping only to be cut off by the deadline is no
 * retry. A body that broke off after some progress resumes without a long pause. */
long gcs_retry_pause(const struct gcs_client *c, struct gcs_retry *t, int progressed)
{
	long d = c->o.retry_base_ms;

	if (progressed)
		t->waits = 0;
	for (int i = 0; i < t->waits && d < c->o.retry_max_ms; i++)
		d *= 2;
	if (d > c->o.retry_max_ms)
		d = c->o.retry_max_ms;
	d = d / 2 + (long)(rand_r(&t->seed) % (unsigned)(d / 2 + 1));
	return d < gcs_retry_left_ms(t) ? d : -1;
}

void gcs_retry_sleep(struct gcs_retry *t, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	t->waits++;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
