/* The access-token cache in front of every credential provider.
 *
 * A token is used until its expiry; from refresh_at on (a few minutes before expiry, but
 * never more than half the token's lifetime, so that short-lived tokens are not refreshed
 * constantly) the first thread that asks becomes the refresher. It fetches without the lock
 * while the other threads go on using the still-valid token; only when there is no valid
 * token do they wait on the condition variable for the refresher to finish. A failed refresh
 * is reported to the threads that waited for it instead of being retried by each of them.
 *
 * Locks: lock guards every field below it in struct auth and is never held across network
 * I/O; it is the only lock of this module and no other lock is taken while it is held. */
#include "auth/auth_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/secret.h"
#include "util/log.h"

/* google-auth refreshes 3 min 45 s before expiry: its smallest upstream cache keeps tokens
 * until 4 minutes before theirs. */
#define REFRESH_MARGIN_S 225.0
/* After a failed early refresh, the old token is used this long before trying again. */
#define RETRY_AFTER_S 10.0
#define BEARER "Authorization: Bearer "

struct auth {
	const struct auth_provider *p; /* NULL: anonymous */
	void *state;
	char *identity;
	char *scopes; /* what the tokens carry, if known */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *token;	   /* a secret; NULL when there is none */
	double expiry;	   /* CLOCK_MONOTONIC seconds */
	double refresh_at; /* refresh early from here on */
	int refreshing;
	unsigned long refreshes; /* finished refreshes, so waiters can tell theirs ended */
	int last_rc;		 /* outcome of the last refresh */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void auth_config_default(struct auth_config *c)
{
	memset(c, 0, sizeof(*c));
	c->metadata_wait_s = 60;
}

struct auth *auth_new(const struct auth_provider *p, void *state, const char *identity,
		      const char *scopes)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (!a)
		goto fail;
	a->p = p;
	a->state = state;
	a->identity = strdup(identity);
	a->scopes = scopes ? strdup(scopes) : NULL;
	if (!a->identity || (scopes && !a->scopes)) {
		free(a->identity);
		free(a->scopes);
		free(a);
		goto fail;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	return a;
fail:
	if (p)
		p->free(state);
	return NULL;
}

struct auth *auth_anonymous_new(void)
{
	return auth_new(NULL, NULL, "anonymous", NULL);
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	if (a->p)
		a->p->free(a->state);
	auth_secret_free(a->token);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a->identity);
	free(a->scopes);
	free(a);
}

/* Fetches a token and installs it. Called with the lock not held, by the one thread that
 * set a->refreshing (or before any other thread exists). */
static int refresh(struct auth *a, char *why, size_t whylen)
{
	struct auth_token t = {0};
	double start = now_s();
	int rc = a->p->fetch(a->state, &t, why, whylen);

	pthread_mutex_lock(&a->lock);
	if (rc == 0) {
		double margin = REFRESH_MARGIN_S;

		if (margin > t.expires_in / 2.0)
			margin = t.expires_in / 2.0;
		auth_secret_free(a->token);
		a->token = t.value;
		t.value = NULL;
		/* Counted from before the request: the token may be older than its answer. */
		a->expiry = start + (double)t.expires_in;
		a->refresh_at = a->expiry - margin;
	} else if (a->token && start < a->expiry) {
		a->refresh_at = start + RETRY_AFTER_S;
	}
	a->last_rc = rc;
	a->refreshes++;
	a->refreshing = 0;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	if (rc == 0)
		log_debug("new access token for %s, valid for %ld s", a->identity, t.expires_in);
	auth_token_clear(&t);
	return rc;
}

int auth_prime(struct auth *a, char *why, size_t whylen)
{
	return a->p ? refresh(a, why, whylen) : 0;
}

int auth_header(struct auth *a, char *out, size_t outlen)
{
	int rc = 0;

	if (!a->p) {
		if (outlen < 1)
			return -ENAMETOOLONG;
		out[0] = '\0';
		return 0;
	}
	pthread_mutex_lock(&a->lock);
	unsigned long seen = a->refreshes;
	for (;;) {
		double now = now_s();
		int valid = a->token && now < a->expiry;

		if (valid && (now < a->refresh_at || a->refreshing))
			break;
		if (!valid && a->refreshes != seen) {
			/* A refresh ended since this call began, and left no valid token. */
			rc = a->last_rc ? a->last_rc : -EIO;
			break;
		}
		if (a->refreshing) {
			pthread_cond_wait(&a->cond, &a->lock);
			continue;
		}
		char why[1024];

		a->refreshing = 1;
		pthread_mutex_unlock(&a->lock);
		if (refresh(a, why, sizeof(why)))
			log_error("cannot refresh the access token for %s: %s", a->identity, why);
		pthread_mutex_lock(&a->lock);
	}
	if (!rc && (size_t)snprintf(out, outlen, BEARER "%s", a->token) >= outlen) {
		explicit_bzero(out, outlen);
		rc = -ENAMETOOLONG;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int auth_reject(struct auth *a, const char *used)
{
	if (!a->p)
		return 0;
	pthread_mutex_lock(&a->lock);
	if (a->token && strncmp(used, BEARER, sizeof(BEARER) - 1) == 0 &&
	    strcmp(used + sizeof(BEARER) - 1, a->token) == 0) {
		auth_secret_free(a->token);
		a->token = NULL;
		a->expiry = a->refresh_at = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return 1;
}

const char *auth_identity(const struct auth *a)
{
	return a ? a->identity : "anonymous";
}

enum auth_access auth_scopes_access(const char *scopes)
{
	static const struct {
		const char *name;
		enum auth_access access;
	} known[] = {
		{"devstorage.read_only", AUTH_ACCESS_READ_ONLY},
		{"cloud-platform.read-only", AUTH_ACCESS_READ_ONLY},
		{"devstorage.read_write", AUTH_ACCESS_READ_WRITE},
		{"devstorage.full_control", AUTH_ACCESS_READ_WRITE},
		{"cloud-platform", AUTH_ACCESS_READ_WRITE},
	};
	enum auth_access best = AUTH_ACCESS_NONE;
	const char *p = scopes;

	if (!scopes)
		return AUTH_ACCESS_UNKNOWN;
	while (*p) {
		size_t n = strcspn(p, " ,\t\r\n");
		const char *name = p;
		size_t plen = sizeof(AUTH_SCOPE_PREFIX) - 1;

		if (n > plen && strncmp(p, AUTH_SCOPE_PREFIX, plen) == 0) {
			name += plen;
			n -= plen;
		}
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strlen(known[i].name) == n && strncmp(name, known[i].name, n) == 0 &&
			    known[i].access > best)
				best = known[i].access;
		p = name + n;
		p += strspn(p, " ,\t\r\n");
	}
	return best;
}

enum auth_access auth_storage_access(const struct auth *a, char *why, size_t whylen)
{
	enum auth_access acc = auth_scopes_access(a->scopes);

	if (!why || !whylen)
		return acc;
	if (acc == AUTH_ACCESS_READ_ONLY)
		snprintf(why, whylen,
			 "the token of %s allows only reading Cloud Storage (its scopes: %s), so "
			 "the mount is read-only. On a Compute Engine VM this is the default "
			 "\"Storage: Read Only\" access scope, whatever IAM grants: to write, stop "
			 "the VM, set its Cloud API access scope for Storage to Full (`gcloud "
			 "compute instances set-service-account VM_NAME --zone=ZONE "
			 "--service-account=%s --scopes=storage-full`, or allow full access to "
			 "all Cloud APIs, the cloud-platform scope, in the console), and start it "
			 "again",
			 a->identity, a->scopes, a->identity);
	else if (acc == AUTH_ACCESS_NONE)
		snprintf(why, whylen,
			 "the token of %s carries no Cloud Storage scope (its scopes: %s), so "
			 "Cloud Storage would refuse every request. On a Compute Engine VM, stop "
			 "the VM, set its Cloud API access scope for Storage to Read Only or Full "
			 "(or allow full access to all Cloud APIs, the cloud-platform scope), and "
			 "start it again",
			 a->identity, a->scopes[0] ? a->scopes : "none");
	return acc;
}
