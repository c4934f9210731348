/* The bucket check at mount time.
 *
 * A mount must fail on the terminal, before daemonizing, with a sentence that says what is
 * wrong: no such bucket, no access for this identity, or no way to reach the endpoint. So
 * the check keeps the HTTP status and writes its own message instead of only an errno, and it
 * asks with the permission a mount really needs when the bucket's own metadata is refused. */
#include "gcs/client.h"
#include "gcs/client_i.h"

#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "util/buf.h"
#include "util/log.h"

/* One GET under the bucket's JSON URL for gcs_bucket_check(). *status is the HTTP status. */
static int bucket_probe(struct gcs_client *c, const char *op, const char *tail, int attempts,
			long *status, char *why, size_t whylen)
{
	struct gcs_req r;
	int rc;

	gcs_req_init(&r, op, "GET", NULL);
	r.max_attempts = attempts;
	/* A refusal may still be followed by a probe that works; the caller reports it. */
	r.quiet[0] = 401;
	r.quiet[1] = 403;
	rc = buf_printf(&r.url, "%s%s", c->json_base, tail);
	if (rc == 0)
		rc = gcs_perform(c, &r);
	*status = r.status;
	if (rc && why && whylen) {
		if (r.xport != GCS_XPORT_OK)
			snprintf(why, whylen, "cannot reach %s: %s", c->endpoint,
				 r.xport_msg[0] ? r.xport_msg : strerror(-rc));
		else if (r.status == 0)
			snprintf(why, whylen, "no access token for %s: %s",
				 auth_identity(c->o.auth), strerror(-rc));
		else if (r.status == 404)
			snprintf(why, whylen, "bucket '%s' does not exist (HTTP 404 from %s)",
				 c->bucket, c->endpoint);
		else if (r.status == 401 || r.status == 403)
			snprintf(why, whylen,
				 "access to bucket '%s' denied for %s (HTTP %ld%s%s%s%s)",
				 c->bucket, auth_identity(c->o.auth), r.status,
				 r.err.reason[0] ? " " : "", r.err.reason,
				 r.err.message[0] ? ": " : "", r.err.message);
		else
			snprintf(why, whylen, "checking bucket '%s' at %s failed: HTTP %ld%s%s%s%s",
				 c->bucket, c->endpoint, r.status, r.err.reason[0] ? " " : "",
				 r.err.reason, r.err.message[0] ? ": " : "", r.err.message);
	}
	gcs_req_free(&r);
	return rc;
}

int gcs_bucket_check(struct gcs_client *c, int attempts, char *why, size_t whylen)
{
	long status;
	int rc = bucket_probe(c, "buckets.get", "?fields=name", attempts, &status, why, whylen);

	/* Reading a bucket needs storage.objects.list, not storage.buckets.get, and many who
	 * may read lack the latter: anonymous callers of a public bucket (allUsers as object
	 * viewer) and identities with object roles only. So a refusal is checked again with the
	 * permission a mount really needs, and that answer is the one reported. */
	if (rc && (status == 401 || status == 403)) {
		log_debug("buckets.get %s refused for %s; checking objects.list instead", c->bucket,
			  auth_identity(c->o.auth));
		rc = bucket_probe(c, "objects.list", "/o?maxResults=1&fields=kind", attempts,
				  &status, why, whylen);
	}
	return rc;
}
