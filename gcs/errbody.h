/* Extracting the reason and message from GCS error bodies (JSON or XML). Pure. */
#ifndef GCSMOUNT_GCS_ERRBODY_H
#define GCSMOUNT_GCS_ERRBODY_H

#include <stddef.h>

struct gcs_errinfo {
	char reason[64];   /* JSON errors[0].reason or XML <Code>, e.g. "notFound", "NoSuchKey" */
	char message[512]; /* JSON error.message or XML <Message> and <Details> */
};

/* Fills out from body; unknown or empty bodies give empty strings. Never fails. */
void gcs_errbody_parse(const char *body, size_t len, struct gcs_errinfo *out);

#endif
