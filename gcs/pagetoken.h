/* Listing page tokens that remember the listing they belong to.
 *
 * A server whose nextPageToken never ends, comes back, or restarts the listing would keep a
 * caller's paging loop going for ever. Rather than ask every caller to keep state, the token
 * handed to the caller carries it: how many pages came, the last object and prefix listed,
 * and Brent's cycle detector over the server's tokens. The caller passes the token back unchanged, as it
 * must anyway. Pure and thread-safe (no shared state). */
#ifndef GCSMOUNT_GCS_PAGETOKEN_H
#define GCSMOUNT_GCS_PAGETOKEN_H

#include <stdint.h>

struct gcs_pagetrail {
	uint64_t pages;	   /* pages received so far in this listing */
	uint64_t power;	   /* Brent: the tortoise moves to the hare after power steps ... */
	uint64_t lam;	   /* ... and lam counts them */
	uint64_t tortoise; /* hash of the server token the next ones are compared with */
	char *last_item;   /* the greatest object name listed so far, or NULL */
	char *last_prefix; /* the greatest prefix listed so far, or NULL */
	char *server;	   /* the server's own token, to send; NULL for the first page */
};

/* Reads a token from gcs_pagetrail_next() (a token of any other form is taken as the server's
 * own, starting a new trail; NULL is the first page). Returns 0 or -ENOMEM; release with
 * gcs_pagetrail_clear(). */
int gcs_pagetrail_parse(const char *token, struct gcs_pagetrail *t);
void gcs_pagetrail_clear(struct gcs_pagetrail *t);

/* One page's names: its first and last object, its first and last prefix (NULL for none). */
struct gcs_page_names {
	const char *first_item, *last_item, *first_prefix, *last_prefix;
};

/* Takes one page: its names, and next_server, its nextPageToken (NULL on the last page). Sets
 * *next to the token for the caller (malloc'd; NULL at the end) and returns 0, or returns -EIO
 * with why set when the listing loops: the token came back, the page went back to names
 * listed before (an object is listed once; a prefix may end one page and start the next), or
 * more than max_pages pages came (0: no limit). -ENOMEM on allocation failure. */
int gcs_pagetrail_next(const struct gcs_pagetrail *t, const struct gcs_page_names *page,
		       const char *next_server, uint64_t max_pages, char **next, const char **why);

#endif
