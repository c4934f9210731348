/* Page tokens with the listing's trail inside (see gcs/pagetoken.h).
 *
 * Form: "gm1:" pages ":" power ":" lam ":" tortoise ":" length of the server token ":" length
 * of the last object name ":", then the server token, the last object name and the last
 * prefix, back to back (the numbers in hex but the two lengths, decimal). Lengths come first
 * because names and tokens may hold any character. Brent's algorithm finds a cycle of any
 * length among the server's tokens with one stored hash, within about twice the pages it took
 * to enter the cycle plus its length. */
#include "gcs/pagetoken.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define TOKEN_MAGIC "gm1:"

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

void gcs_pagetrail_clear(struct gcs_pagetrail *t)
{
	free(t->last_item);
	free(t->last_prefix);
	free(t->server);
	memset(t, 0, sizeof(*t));
}

/* A copy of the n bytes at p, or NULL for none; *bad on allocation failure. */
static char *piece(const char *p, size_t n, int *bad)
{
	char *s;

	if (!n)
		return NULL;
	s = strndup(p, n);
	if (!s)
		*bad = 1;
	return s;
}

int gcs_pagetrail_parse(const char *token, struct gcs_pagetrail *t)
{
	const size_t magic = strlen(TOKEN_MAGIC);
	size_t slen = 0, ilen = 0;
	int used = 0, bad = 0;

	memset(t, 0, sizeof(*t));
	if (!token)
		return 0;
	if (strncmp(token, TOKEN_MAGIC, magic) == 0 &&
	    sscanf(token + magic, "%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%zu:%zu:%n",
		   &t->pages, &t->power, &t->lam, &t->tortoise, &slen, &ilen, &used) == 6 &&
	    used > 0 && slen > 0 && strnlen(token + magic + used, slen + ilen) == slen + ilen) {
		const char *p = token + magic + used;

		t->server = piece(p, slen, &bad);
		t->last_item = piece(p + slen, ilen, &bad);
		t->last_prefix = piece(p + slen + ilen, strlen(p + slen + ilen), &bad);
	} else {
		/* Not ours: the server's token as it came, with no trail yet. */
		memset(t, 0, sizeof(*t));
		t->server = piece(token, strlen(token), &bad);
	}
	if (bad) {
		gcs_pagetrail_clear(t);
		return -ENOMEM;
	}
	return 0;
}

static const char *greater(const char *a, const char *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return strcmp(a, b) > 0 ? a : b;
}

int gcs_pagetrail_next(const struct gcs_pagetrail *t, const struct gcs_page_names *page,
		       const char *next_server, uint64_t max_pages, char **next, const char **why)
{
	uint64_t pages = t->pages + 1, power = t->power, lam = t->lam, tortoise = t->tortoise;
	const char *seen = greater(t->last_item, t->last_prefix);
	const char *item = greater(t->last_item, page->last_item);
	const char *prefix = greater(t->last_prefix, page->last_prefix);
	struct buf b;

	*next = NULL;
	/* The token first: a token that comes back is the cause, pages that repeat the effect. */
	if (next_server && t->server && strcmp(next_server, t->server) == 0) {
		*why = "the server gave the same page token again";
		return -EIO;
	}
	/* Within one listing names only grow: a page that starts before what was listed
	 * already is the listing starting over. */
	if ((page->first_item && seen && strcmp(page->first_item, seen) < 0) ||
	    (page->first_item && t->last_item && strcmp(page->first_item, t->last_item) == 0) ||
	    (page->first_prefix && seen && strcmp(page->first_prefix, seen) < 0)) {
		*why = "a page went back to names listed before";
		return -EIO;
	}
	if (!next_server)
		return 0;
	if (max_pages && pages >= max_pages) {
		*why = "the listing passed its page limit";
		return -EIO;
	}
	uint64_t h = fnv1a(next_server);
	if (t->pages == 0 || power == 0) {
		tortoise = h;
		power = 1;
		lam = 0;
	} else if (h == tortoise) {
		*why = "the server's page tokens go round in a circle";
		return -EIO;
	} else if (++lam == power) {
		tortoise = h;
		power *= 2;
		lam = 0;
	}
	buf_init(&b, (size_t)1 << 20);
	if (buf_printf(&b, TOKEN_MAGIC "%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%zu:%zu:%s%s%s",
		       pages, power, lam, tortoise, strlen(next_server), item ? strlen(item) : 0,
		       next_server, item ? item : "", prefix ? prefix : "")) {
		buf_free(&b);
		return -ENOMEM;
	}
	*next = b.data;
	return 0;
}
