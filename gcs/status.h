/* The one mapping from HTTP status and transport failures to errno, and which are retried. */
#ifndef GCSMOUNT_GCS_STATUS_H
#define GCSMOUNT_GCS_STATUS_H

/* Transport outcomes, independent of libcurl so the table can be unit-tested. */
enum gcs_xport {
	GCS_XPORT_OK = 0,
	GCS_XPORT_RESOLVE, /* host name did not resolve */
	GCS_XPORT_CONNECT, /* connection refused or unreachable */
	GCS_XPORT_TIMEOUT, /* connect timeout or stalled transfer */
	GCS_XPORT_RESET,   /* connection reset, closed early, or a short body */
	GCS_XPORT_TLS,	   /* certificate or handshake failure */
	GCS_XPORT_NOMEM,
	GCS_XPORT_OTHER,
};

/* Returns 0 for success (2xx with no transport error) or a negative errno. */
int gcs_errno(long http_status, enum gcs_xport xport);
/* Whether the same request may succeed if sent again after a pause. */
int gcs_retryable(long http_status, enum gcs_xport xport);

#endif
