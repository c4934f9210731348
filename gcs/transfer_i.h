/* Private to gcs/: what one attempt of a request asks of libcurl: the easy handle's options,
 * the callbacks that move the bodies and read the headers, and the reading of the outcome. */
#ifndef GCSMOUNT_GCS_TRANSFER_I_H
#define GCSMOUNT_GCS_TRANSFER_I_H

#include <curl/curl.h>
#include <stdint.h>

#include "gcs/status.h"

struct gcs_client;
struct gcs_req;

/* CURLOPT_HTTP_VERSION for HTTP/2 over plain http with the libcurl at hand. */
long gcs_transfer_h2c_version(void);
/* Resets r->curl and sets it up for one attempt of r with these header lines, to end within
 * left_ms; clears r's per-attempt watchdog state. */
void gcs_transfer_setup(struct gcs_client *c, struct gcs_req *r, struct curl_slist *headers,
			int64_t left_ms);
/* The transport outcome of a finished transfer. */
enum gcs_xport gcs_transfer_outcome(CURLcode cc);

#endif
