/* Unit tests of gcs/status.c: the one table from HTTP status and transport failure to errno. */
#include "check.h"

#include <errno.h>

#include "gcs/status.h"

static void success_statuses_map_to_zero(void)
{
	CHECK(gcs_errno(200, GCS_XPORT_OK) == 0);
	CHECK(gcs_errno(204, GCS_XPORT_OK) == 0);
	CHECK(gcs_errno(206, GCS_XPORT_OK) == 0);
}

static void client_errors_map_to_their_errno(void)
{
	CHECK(gcs_errno(404, GCS_XPORT_OK) == -ENOENT);
	CHECK(gcs_errno(401, GCS_XPORT_OK) == -EACCES);
	CHECK(gcs_errno(403, GCS_XPORT_OK) == -EACCES);
	CHECK(gcs_errno(412, GCS_XPORT_OK) == -ESTALE);
	CHECK(gcs_errno(416, GCS_XPORT_OK) == -ERANGE);
	CHECK(gcs_errno(400, GCS_XPORT_OK) == -EINVAL);
	CHECK(gcs_errno(413, GCS_XPORT_OK) == -EFBIG);
}

static void server_errors_and_transport_failures_are_eio(void)
{
	CHECK(gcs_errno(500, GCS_XPORT_OK) == -EIO);
	CHECK(gcs_errno(503, GCS_XPORT_OK) == -EIO);
	CHECK(gcs_errno(429, GCS_XPORT_OK) == -EIO);
	CHECK(gcs_errno(0, GCS_XPORT_RESET) == -EIO);
	CHECK(gcs_errno(0, GCS_XPORT_CONNECT) == -EIO);
	CHECK(gcs_errno(0, GCS_XPORT_TIMEOUT) == -ETIMEDOUT);
	CHECK(gcs_errno(507, GCS_XPORT_OK) == -ENOSPC);
}

static void transient_failures_are_retryable(void)
{
	CHECK(gcs_retryable(408, GCS_XPORT_OK));
	CHECK(gcs_retryable(429, GCS_XPORT_OK));
	CHECK(gcs_retryable(500, GCS_XPORT_OK));
	CHECK(gcs_retryable(503, GCS_XPORT_OK));
	CHECK(gcs_retryable(0, GCS_XPORT_RESET));
	CHECK(gcs_retryable(0, GCS_XPORT_TIMEOUT));
	CHECK(gcs_retryable(0, GCS_XPORT_CONNECT));
}

static void permanent_failures_are_not_retried(void)
{
	CHECK(!gcs_retryable(200, GCS_XPORT_OK));
	CHECK(!gcs_retryable(400, GCS_XPORT_OK));
	CHECK(!gcs_retryable(403, GCS_XPORT_OK));
	CHECK(!gcs_retryable(404, GCS_XPORT_OK));
	CHECK(!gcs_retryable(412, GCS_XPORT_OK));
	CHECK(!gcs_retryable(0, GCS_XPORT_TLS));
	CHECK(!gcs_retryable(0, GCS_XPORT_RESOLVE));
}

int main(void)
{
	RUN(success_statuses_map_to_zero);
	RUN(client_errors_map_to_their_errno);
	RUN(server_errors_and_transport_failures_are_eio);
	RUN(transient_failures_are_retryable);
	RUN(permanent_failures_are_not_retried);
	return CHECK_DONE();
}
