/* The storage client's options and the origin check that keeps credentials on the endpoint.
 * No request is sent. */
#include "gcs/client.h"
#include "gcs/client_i.h"

#include "auth/auth.h"
#include "check.h"

static struct gcs_client *client(const char *endpoint, double deadline)
{
	static struct auth *anon;
	struct gcs_client_opts o;

	if (!anon)
		anon = auth_anonymous_new();
	gcs_client_opts_default(&o);
	o.endpoint = endpoint;
	o.bucket = "b-1";
	o.auth = anon;
	o.retry_deadline_s = deadline;
	return gcs_client_new(&o);
}

static void defaults_bound_every_operation(void)
{
	struct gcs_client_opts o;

	gcs_client_opts_default(&o);
	CHECK(o.retry_deadline_s == 120);
	CHECK(o.io_timeout_s > 0 && o.min_rate_bps > 0 && o.connect_timeout_s > 0);
	CHECK(o.retry_max_ms <= 60000 && o.retry_base_ms > 0);
	CHECK(o.list_max_pages > 0);
	/* Without a deadline there is no client. */
	CHECK(client("http://127.0.0.1:1", 0) == NULL);
	CHECK(client("http://127.0.0.1:1", -1) == NULL);
}

static void session_uris_must_be_on_the_endpoint(void)
{
	struct gcs_client *c = client("https://storage.googleapis.com", 120);

	CHECK(c != NULL);
	CHECK(gcs_same_origin(c, "https://storage.googleapis.com/upload/storage/v1/b/b-1/o?"
				 "upload_id=x"));
	CHECK(gcs_same_origin(c, "HTTPS://Storage.GoogleAPIs.com/upload?upload_id=x"));
	CHECK(!gcs_same_origin(c, "https://storage.googleapis.com.evil.example/upload"));
	CHECK(!gcs_same_origin(c, "https://storage.googleapis.com:8443/upload"));
	CHECK(!gcs_same_origin(c, "http://storage.googleapis.com/upload"));
	CHECK(!gcs_same_origin(c, "https://evil.example/https://storage.googleapis.com/"));
	CHECK(!gcs_same_origin(c, "/upload/storage/v1/b/b-1/o"));
	CHECK(!gcs_same_origin(c, ""));
	gcs_client_free(c);
	c = client("http://127.0.0.1:4443", 120);
	CHECK(gcs_same_origin(c, "http://127.0.0.1:4443/upload?upload_id=1"));
	CHECK(gcs_same_origin(c, "http://127.0.0.1:4443"));
	CHECK(!gcs_same_origin(c, "http://127.0.0.1:44431/upload"));
	CHECK(!gcs_same_origin(c, "http://127.0.0.1/upload"));
	gcs_client_free(c);
}

static void the_deadline_counts_down(void)
{
	struct gcs_client *c = client("http://127.0.0.1:1", 2.5);
	struct gcs_retry t;

	gcs_retry_init(c, &t);
	CHECK(gcs_retry_left_ms(&t) > 2000 && gcs_retry_left_ms(&t) <= 2500);
	gcs_client_free(c);
}

int main(void)
{
	if (gcs_global_init())
		return 1;
	RUN(defaults_bound_every_operation);
	RUN(session_uris_must_be_on_the_endpoint);
	RUN(the_deadline_counts_down);
	gcs_global_cleanup();
	return CHECK_DONE();
}
