/* HTTP status and transport failure -> errno.
 *
 * Kept in one table so every caller reports the same errno for the same failure; the HTTP
 * details themselves are logged by the request engine, not lost here. 412 maps to ESTALE
 * (someone else changed the object) and 404 to ENOENT. Transport failures other than a
 * timeout become EIO, which is what a reader expects from a failed device; 429 and 5xx are
 * retried first and become EIO only when the retries are spent. */
#include "gcs/status.h"

#include <errno.h>

int gcs_errno(long status, enum gcs_xport xport)
{
	switch (xport) {
	case GCS_XPORT_OK:
		break;
	case GCS_XPORT_TIMEOUT:
		return -ETIMEDOUT;
	case GCS_XPORT_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 304:
		return -EAGAIN;
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
	case 410:
		return -ENOENT;
	case 408:
		return -ETIMEDOUT;
	case 409:
		return -EEXIST;
	case 411:
		return -EINVAL;
	case 412:
		return -ESTALE;
	case 413:
		return -EFBIG;
	case 416:
		return -ERANGE;
	case 507:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

int gcs_retryable(long status, enum gcs_xport xport)
{
	switch (xport) {
	case GCS_XPORT_OK:
		return status == 408 || status == 429 || (status >= 500 && status <= 599);
	case GCS_XPORT_CONNECT:
	case GCS_XPORT_TIMEOUT:
	case GCS_XPORT_RESET:
	case GCS_XPORT_OTHER:
		return 1;
	default:
		/* Name resolution, TLS and memory failures do not heal by retrying now. */
		return 0;
	}
}
