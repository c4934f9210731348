/* Page tokens with the listing's trail inside (see gcs/pagetoken.h).
 *
 * Form: "gm1:" pages ":" power ":" lam ":" tortoise ":" length of the server token ":" the
 * server token, then the greatest name so far (the numbers in hex but the length, decimal).
 * The server token's length comes first because names and tokens may hold any character.
 * Brent's algorithm finds a cycle of any length among the server's tokens with one stored
 * hash, within about twice the pages it took to enter the cycle plus its length. */
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
	free(t->last);
	free(t->server);
	memset(t, 0, sizeof(*t));
}

int gcs_pagetrail_parse(const char *token, struct gcs_pagetrail *t)
{
	size_t slen = 0;
	int used = 0;

	memset(t, 0, sizeof(*t));
	if (!token)
		return 0;
	if (strncmp(token, TOKEN_MAGIC, strlen(TOKEN_MAGIC)) == 0 &&
	    sscanf(token + strlen(TOKEN_MAGIC), "%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%" SCNx64 ":%zu:%n",
		   &t->pages, &t->power, &t->lam, &t->tortoise, &slen, &used) == 5 &&
	    used > 0 && strnlen(token + strlen(TOKEN_MAGIC) + used, slen) == slen) {
		const char *p = token + strlen(TOKEN_MAGIC) + used;

		t->server = strndup(p, slen);
		t->last = p[slen] ? strdup(p + slen) : NULL;
		if (!t->server || (p[slen] && !t->last)) {
			gcs_pagetrail_clear(t);
			return -ENOMEM;
		}
		return 0;
	}
	/* Not ours: the server's token as it came, with no trail yet. */
	memset(t, 0, sizeof(*t));
	t->server = strdup(token);
	return t->server ? 0 : -ENOMEM;
}

int gcs_pagetrail_next(const struct gcs_pagetrail *t, const char *first, const char *last,
		       const char *next_server, uint64_t max_pages, char **next, const char **why)
{
	uint64_t pages = t->pages + 1, power = t->power, lam = t->lam, tortoise = t->tortoise;
	const char *greatest = t->last;
	struct buf b;

	*next = NULL;
	/* Within one listing names only grow: a page that starts before what was listed
	 * already is the listing starting over. */
	if (first && t->last && strcmp(first, t->last) < 0) {
		*why = "a page went back to names listed before";
		return -EIO;
	}
	if (last && (!greatest || strcmp(last, greatest) > 0))
		greatest = last;
	if (!next_server)
		return 0;
	if (max_pages && pages >= max_pages) {
		*why = "the listing passed its page limit";
		return -EIO;
	}
	uint64_t h = fnv1a(next_server);
	if (t->server && strcmp(next_server, t->server) == 0) {
		*why = "the server gave the same page token again";
		return -EIO;
	}
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
	if (buf_printf(&b, TOKEN_MAGIC "%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%zu:%s%s",
		       pages, power, lam, tortoise, strlen(next_server), next_server,
		       greatest ? greatest : "")) {
		buf_free(&b);
		return -ENOMEM;
	}
	*next = b.data;
	return 0;
}
