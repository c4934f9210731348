/* Tokens from the metadata server of a Compute Engine VM (also GKE and Cloud Run).
 *
 * The server is plain HTTP on a link-local address; every request carries
 * "Metadata-Flavor: Google" and every answer must carry it back, which is how a real metadata
 * server is told from anything else on that address. At mount the first request may have to
 * wait: at boot the network or the server may not be up yet, so it is retried with backoff
 * for the configured time. After that, token refreshes retry a few times, as Google's
 * libraries do. The VM's e-mail and access scopes are read once, at mount: the scopes are
 * what decides whether a read-write mount can work (a VM's default Storage scope is
 * read-only, whatever IAM allows). */
#include "auth/auth_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define SA_PATH "/computeMetadata/v1/instance/service-accounts/default/"

struct mds {
	char *host;
};

static void mds_free(void *state)
{
	struct mds *m = state;

	if (m)
		free(m->host);
	free(m);
}

/* GETs SA_PATH + what. Returns 0 with a 200 answer in resp, or -errno with why set. */
static int mds_get(const struct mds *m, const char *what, double wait_s,
		   struct auth_http_resp *resp, char *why, size_t whylen)
{
	char url[1024];
	int rc;

	snprintf(url, sizeof(url), "http://%s" SA_PATH "%s", m->host, what);
	struct auth_http_req req = {
		.url = url,
		.metadata = 1,
		/* A wait is bounded by its time; otherwise a few tries, as google-auth makes. */
		.attempts = wait_s > 0 ? 1 : 5,
		.wait_s = wait_s,
	};
	rc = auth_http(&req, resp);
	if (rc && wait_s > 0)
		snprintf(why, whylen,
			 "the GCE metadata server at %s did not answer within %g s (%s). If the "
			 "VM is still starting, wait longer with -o metadata_timeout=SECONDS",
			 m->host, wait_s, resp->error);
	else if (rc)
		snprintf(why, whylen, "the GCE metadata server at %s did not answer: %s", m->host,
			 resp->error);
	else if (resp->status == 404)
		snprintf(why, whylen,
			 "the GCE metadata server at %s has no service account for this VM (HTTP "
			 "404 for %s): give the VM a service account, or use --key-file",
			 m->host, what);
	else if (resp->status != 200)
		snprintf(why, whylen, "the GCE metadata server at %s answered HTTP %ld for %s",
			 m->host, resp->status, what);
	if (!rc && resp->status != 200)
		rc = resp->status == 403 || resp->status == 404 ? -EACCES : -EIO;
	return rc;
}

static int mds_fetch(void *state, struct auth_token *out, char *why, size_t whylen)
{
	struct auth_http_resp resp;
	int rc = mds_get(state, "token", 0, &resp, why, whylen);

	if (!rc) {
		rc = auth_token_parse(resp.body, resp.len, out);
		if (rc)
			snprintf(why, whylen, "the GCE metadata server at %s sent no usable token",
				 ((struct mds *)state)->host);
	}
	auth_http_resp_free(&resp);
	return rc;
}

static const struct auth_provider mds_provider = {
	.fetch = mds_fetch,
	.free = mds_free,
};

struct auth *auth_metadata_new(const char *host, const struct auth_config *c, char *why,
			       size_t whylen)
{
	struct mds *m = calloc(1, sizeof(*m));
	struct auth_http_resp resp;
	char email[320], scopes[4096], note[512];
	struct auth *a;
	int rc, have_scopes;

	if (!m || !(m->host = strdup(host))) {
		mds_free(m);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	/* The first question is the one that waits for a server that is still starting. */
	rc = mds_get(m, "email", c->metadata_wait_s, &resp, why, whylen);
	if (!rc)
		auth_text_copy(email, sizeof(email), resp.body, resp.len);
	auth_http_resp_free(&resp);
	if (rc) {
		mds_free(m);
		return NULL;
	}
	have_scopes = mds_get(m, "scopes", 0, &resp, note, sizeof(note)) == 0;
	if (have_scopes)
		auth_text_copy(scopes, sizeof(scopes), resp.body, resp.len);
	else
		log_info("%s; the VM's access scopes are unknown", note);
	auth_http_resp_free(&resp);
	a = auth_new(&mds_provider, m, email[0] ? email : "the VM's service account",
		     have_scopes ? scopes : NULL);
	if (!a)
		snprintf(why, whylen, "out of memory");
	return a;
}
