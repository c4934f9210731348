/* Unit tests of auth/auth.c: the token cache in front of a provider (one refresh at a time,
 * early refresh while the old token still serves, 401 handling that refreshes once for many
 * threads) and the scope -> storage access decision. */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_i.h"

struct counting {
	atomic_int fetches, active, max_active;
	long expires_in;
	int fail; /* -errno to return, 0 to succeed */
};

static int counting_fetch(void *state, struct auth_token *out, char *why, size_t whylen)
{
	struct counting *c = state;
	int n = atomic_fetch_add(&c->fetches, 1) + 1;
	int active = atomic_fetch_add(&c->active, 1) + 1;
	char tok[32];

	if (active > atomic_load(&c->max_active))
		atomic_store(&c->max_active, active);
	usleep(50000);
	atomic_fetch_sub(&c->active, 1);
	if (c->fail) {
		snprintf(why, whylen, "refused");
		return c->fail;
	}
	snprintf(tok, sizeof(tok), "tok-%d", n);
	out->value = strdup(tok);
	out->expires_in = c->expires_in;
	return 0;
}

static void counting_free(void *state)
{
	(void)state;
}

static const struct auth_provider counting_provider = {counting_fetch, counting_free};

static void *ask(void *arg)
{
	char *hdr = calloc(1, 256);

	if (auth_header(arg, hdr, 256) != 0)
		hdr[0] = '\0';
	return hdr;
}

/* Starts n threads asking for a header at once; returns how many got want. */
static int ask_together(struct auth *a, int n, const char *want)
{
	pthread_t t[16];
	int same = 0;

	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, ask, a);
	for (int i = 0; i < n; i++) {
		char *hdr;

		pthread_join(t[i], (void **)&hdr);
		same += strcmp(hdr, want) == 0;
		free(hdr);
	}
	return same;
}

static void many_threads_without_a_token_cause_one_fetch(void)
{
	struct counting c = {.expires_in = 3600};
	struct auth *a = auth_new(&counting_provider, &c, "sa@x", NULL);

	CHECK(ask_together(a, 16, "Authorization: Bearer tok-1") == 16);
	CHECK(atomic_load(&c.fetches) == 1);
	CHECK(atomic_load(&c.max_active) == 1);
	auth_free(a);
}

static void a_401_drops_the_token_once_for_all_who_saw_it(void)
{
	struct counting c = {.expires_in = 3600};
	struct auth *a = auth_new(&counting_provider, &c, "sa@x", NULL);
	char hdr[256];

	CHECK(auth_header(a, hdr, sizeof(hdr)) == 0);
	CHECK_STR(hdr, "Authorization: Bearer tok-1");
	CHECK(auth_reject(a, "Authorization: Bearer tok-1") == 1);
	CHECK(ask_together(a, 8, "Authorization: Bearer tok-2") == 8);
	/* Late 401s for the token already replaced must not throw the new one away. */
	CHECK(auth_reject(a, "Authorization: Bearer tok-1") == 1);
	CHECK(auth_header(a, hdr, sizeof(hdr)) == 0);
	CHECK_STR(hdr, "Authorization: Bearer tok-2");
	CHECK(atomic_load(&c.fetches) == 2);
	auth_free(a);
}

static void the_token_is_refreshed_early_while_it_still_serves(void)
{
	/* Lifetime 2 s: refreshed from half its life on, not only at the end. */
	struct counting c = {.expires_in = 2};
	struct auth *a = auth_new(&counting_provider, &c, "sa@x", NULL);
	char hdr[256];

	CHECK(auth_prime(a, hdr, sizeof(hdr)) == 0);
	CHECK(auth_header(a, hdr, sizeof(hdr)) == 0);
	CHECK_STR(hdr, "Authorization: Bearer tok-1");
	usleep(1100000);
	CHECK(auth_header(a, hdr, sizeof(hdr)) == 0);
	CHECK_STR(hdr, "Authorization: Bearer tok-2");
	CHECK(atomic_load(&c.fetches) == 2);
	auth_free(a);
}

static void a_failed_refresh_keeps_the_valid_token_and_reports_when_none_is_left(void)
{
	struct counting c = {.expires_in = 2};
	struct auth *a = auth_new(&counting_provider, &c, "sa@x", NULL);
	char hdr[256];

	CHECK(auth_header(a, hdr, sizeof(hdr)) == 0);
	c.fail = -EACCES;
	usleep(1100000);
	/* Early refresh fails: the old token is still good, so it is used. */
	CHECK(auth_header(a, hdr, sizeof(hdr)) == 0);
	CHECK_STR(hdr, "Authorization: Bearer tok-1");
	CHECK(auth_reject(a, hdr) == 1);
	CHECK(auth_header(a, hdr, sizeof(hdr)) == -EACCES);
	auth_free(a);
}

static void short_buffers_and_anonymous_are_handled(void)
{
	struct counting c = {.expires_in = 3600};
	struct auth *a = auth_new(&counting_provider, &c, "sa@x", NULL);
	struct auth *anon = auth_anonymous_new();
	char hdr[8];

	CHECK(auth_header(a, hdr, sizeof(hdr)) == -ENAMETOOLONG);
	CHECK(auth_header(anon, hdr, sizeof(hdr)) == 0);
	CHECK_STR(hdr, "");
	CHECK(auth_reject(anon, "") == 0);
	CHECK_STR(auth_identity(anon), "anonymous");
	CHECK_STR(auth_identity(a), "sa@x");
	CHECK(auth_storage_access(anon, NULL, 0) == AUTH_ACCESS_UNKNOWN);
	auth_free(a);
	auth_free(anon);
	auth_free(NULL);
}

#define P "https://www.googleapis.com/auth/"

static void scopes_decide_storage_access(void)
{
	CHECK(auth_scopes_access(NULL) == AUTH_ACCESS_UNKNOWN);
	CHECK(auth_scopes_access("") == AUTH_ACCESS_NONE);
	CHECK(auth_scopes_access(P "cloud-platform") == AUTH_ACCESS_READ_WRITE);
	CHECK(auth_scopes_access(P "devstorage.read_write") == AUTH_ACCESS_READ_WRITE);
	CHECK(auth_scopes_access(P "devstorage.full_control") == AUTH_ACCESS_READ_WRITE);
	CHECK(auth_scopes_access(P "devstorage.read_only") == AUTH_ACCESS_READ_ONLY);
	CHECK(auth_scopes_access(P "cloud-platform.read-only") == AUTH_ACCESS_READ_ONLY);
	/* A VM's default scopes, one per line as the metadata server lists them. */
	CHECK(auth_scopes_access(P "devstorage.read_only\n" P "logging.write\n" P
				   "monitoring.write\n" P "servicecontrol\n" P
				   "service.management.readonly\n" P
				   "trace.append\n") == AUTH_ACCESS_READ_ONLY);
	CHECK(auth_scopes_access(P "logging.write " P "monitoring.write") == AUTH_ACCESS_NONE);
	CHECK(auth_scopes_access(P "devstorage.read_only," P "cloud-platform") ==
	      AUTH_ACCESS_READ_WRITE);
	CHECK(auth_scopes_access("devstorage.read_only") == AUTH_ACCESS_READ_ONLY);
	CHECK(auth_scopes_access(P "devstorage.read_only_x " P "cloud-platformx") ==
	      AUTH_ACCESS_NONE);
	CHECK(auth_scopes_access("https://example.com/auth/cloud-platform") == AUTH_ACCESS_NONE);
}

static void scope_problems_are_explained_with_the_fix(void)
{
	struct counting c = {.expires_in = 3600};
	struct auth *ro = auth_new(&counting_provider, &c, "vm@x", P "devstorage.read_only");
	struct auth *none = auth_new(&counting_provider, &c, "vm@x", P "logging.write");
	struct auth *rw = auth_new(&counting_provider, &c, "vm@x", P "cloud-platform");
	char why[2048] = "";

	CHECK(auth_storage_access(ro, why, sizeof(why)) == AUTH_ACCESS_READ_ONLY);
	CHECK(strstr(why, "read-only") && strstr(why, "stop the VM") && strstr(why, "Full") &&
	      strstr(why, "cloud-platform") && strstr(why, "vm@x"));
	CHECK(auth_storage_access(none, why, sizeof(why)) == AUTH_ACCESS_NONE);
	CHECK(strstr(why, "no Cloud Storage scope") && strstr(why, "logging.write"));
	CHECK(auth_storage_access(rw, why, sizeof(why)) == AUTH_ACCESS_READ_WRITE);
	auth_free(ro);
	auth_free(none);
	auth_free(rw);
}

int main(void)
{
	RUN(many_threads_without_a_token_cause_one_fetch);
	RUN(a_401_drops_the_token_once_for_all_who_saw_it);
	RUN(the_token_is_refreshed_early_while_it_still_serves);
	RUN(a_failed_refresh_keeps_the_valid_token_and_reports_when_none_is_left);
	RUN(short_buffers_and_anonymous_are_handled);
	RUN(scopes_decide_storage_access);
	RUN(scope_problems_are_explained_with_the_fix);
	return CHECK_DONE();
}
