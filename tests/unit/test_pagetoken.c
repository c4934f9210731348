/* Page tokens that carry a listing's trail: a listing that pages for ever is caught, an
 * honest one never is. */
#include "gcs/pagetoken.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Feeds one page to the trail held in *token (NULL: the first page), leaving the next token
 * there. Returns what gcs_pagetrail_next() did. */
static int page(char **token, const char *first, const char *last, const char *server,
		uint64_t max_pages, const char **why)
{
	struct gcs_pagetrail t;
	struct gcs_page_names n = {.first_item = first, .last_item = last};
	char *next = NULL;
	int rc = gcs_pagetrail_parse(*token, &t);

	CHECK(rc == 0);
	*why = NULL;
	rc = gcs_pagetrail_next(&t, &n, server, max_pages, &next, why);
	gcs_pagetrail_clear(&t);
	free(*token);
	*token = next;
	return rc;
}

static void honest_listing_ends(void)
{
	char *tok = NULL;
	const char *why;
	struct gcs_pagetrail t;

	CHECK(page(&tok, "a", "c", "S1", 0, &why) == 0);
	CHECK(tok && strncmp(tok, "gm1:", 4) == 0);
	CHECK(gcs_pagetrail_parse(tok, &t) == 0);
	CHECK_STR(t.server, "S1");
	CHECK_STR(t.last_item, "c");
	CHECK(t.last_prefix == NULL && t.pages == 1);
	gcs_pagetrail_clear(&t);
	CHECK(page(&tok, "d", "f", "S2", 0, &why) == 0);
	CHECK(page(&tok, "g", "h", NULL, 0, &why) == 0);
	CHECK(tok == NULL);
}

static void names_and_tokens_with_any_character_survive(void)
{
	char *tok = NULL;
	const char *why;
	struct gcs_pagetrail t;
	char server[3000];

	memset(server, 'x', sizeof(server) - 1);
	server[sizeof(server) - 1] = '\0';
	server[5] = ':';
	CHECK(page(&tok, "a:b", "z:9:1:", server, 0, &why) == 0);
	CHECK(gcs_pagetrail_parse(tok, &t) == 0);
	CHECK_STR(t.server, server);
	CHECK_STR(t.last_item, "z:9:1:");
	gcs_pagetrail_clear(&t);
	free(tok);
}

static void a_token_not_ours_starts_a_trail(void)
{
	struct gcs_pagetrail t;

	CHECK(gcs_pagetrail_parse("CgRhYmNk", &t) == 0);
	CHECK_STR(t.server, "CgRhYmNk");
	CHECK(t.pages == 0 && !t.last_item && !t.last_prefix);
	gcs_pagetrail_clear(&t);
	/* Damaged ones of ours count as the server's too. */
	CHECK(gcs_pagetrail_parse("gm1:zz", &t) == 0);
	CHECK_STR(t.server, "gm1:zz");
	gcs_pagetrail_clear(&t);
	CHECK(gcs_pagetrail_parse("gm1:1:1:0:0:99:0:short", &t) == 0);
	CHECK_STR(t.server, "gm1:1:1:0:0:99:0:short");
	gcs_pagetrail_clear(&t);
}

static void the_same_token_again_is_caught(void)
{
	char *tok = NULL;
	const char *why;

	CHECK(page(&tok, NULL, NULL, "T", 0, &why) == 0);
	CHECK(page(&tok, NULL, NULL, "T", 0, &why) == -EIO);
	CHECK(why && strstr(why, "same page token"));
}

/* Empty pages whose tokens go round A, B, C, A, ...: Brent's detector sees it within a few
 * rounds, with nothing but the token to go on. */
static void tokens_in_a_circle_are_caught(void)
{
	const char *ring[] = {"A", "B", "C", "D", "E"};
	char *tok = NULL;
	const char *why = NULL;
	int rc = 0, n;

	for (n = 0; n < 100 && rc == 0; n++)
		rc = page(&tok, NULL, NULL, ring[n % 5], 0, &why);
	CHECK(rc == -EIO);
	CHECK(n <= 20);
	CHECK(why && strstr(why, "circle"));
	free(tok);
}

static void a_long_honest_listing_is_no_circle(void)
{
	char *tok = NULL;
	const char *why;
	char name[32], server[32];
	int rc = 0;

	for (int i = 0; i < 5000 && rc == 0; i++) {
		snprintf(name, sizeof(name), "n%08d", i);
		snprintf(server, sizeof(server), "t%d", i);
		rc = page(&tok, name, name, server, 0, &why);
	}
	CHECK(rc == 0);
	free(tok);
}

static void a_page_that_goes_back_is_caught(void)
{
	char *tok = NULL;
	const char *why;

	CHECK(page(&tok, "a", "m", "S1", 0, &why) == 0);
	CHECK(page(&tok, "b", "z", "S2", 0, &why) == -EIO);
	CHECK(why && strstr(why, "went back"));
	free(tok);
	/* An object is listed once: the same last name again is the listing starting over. */
	tok = NULL;
	CHECK(page(&tok, "a", "m", "S1", 0, &why) == 0);
	CHECK(page(&tok, "m", "m", "S2", 0, &why) == -EIO);
	free(tok);
}

static void a_prefix_may_end_one_page_and_start_the_next(void)
{
	struct gcs_page_names one = {.first_item = "d/a", .last_item = "d/b",
				     .first_prefix = "d/c/", .last_prefix = "d/x/"};
	struct gcs_page_names two = {.first_item = "d/x/", .last_item = "d/y",
				     .first_prefix = "d/x/", .last_prefix = "d/z/"};
	struct gcs_pagetrail t;
	const char *why = NULL;
	char *tok = NULL, *next = NULL;

	CHECK(gcs_pagetrail_parse(NULL, &t) == 0);
	CHECK(gcs_pagetrail_next(&t, &one, "S1", 0, &tok, &why) == 0);
	gcs_pagetrail_clear(&t);
	CHECK(gcs_pagetrail_parse(tok, &t) == 0);
	CHECK_STR(t.last_prefix, "d/x/");
	/* The placeholder "d/x/" comes as an object and again as a prefix: no loop. */
	CHECK(gcs_pagetrail_next(&t, &two, NULL, 0, &next, &why) == 0);
	CHECK(next == NULL);
	gcs_pagetrail_clear(&t);
	free(tok);
}

static void endless_empty_pages_stop_at_the_page_limit(void)
{
	char *tok = NULL;
	const char *why = NULL;
	char server[32];
	int rc = 0, n;

	for (n = 0; n < 1000 && rc == 0; n++) {
		snprintf(server, sizeof(server), "fresh%d", n);
		rc = page(&tok, NULL, NULL, server, 50, &why);
	}
	CHECK(rc == -EIO);
	CHECK(n == 50);
	CHECK(why && strstr(why, "page limit"));
	free(tok);
}

int main(void)
{
	RUN(honest_listing_ends);
	RUN(names_and_tokens_with_any_character_survive);
	RUN(a_token_not_ours_starts_a_trail);
	RUN(the_same_token_again_is_caught);
	RUN(tokens_in_a_circle_are_caught);
	RUN(a_long_honest_listing_is_no_circle);
	RUN(a_page_that_goes_back_is_caught);
	RUN(a_prefix_may_end_one_page_and_start_the_next);
	RUN(endless_empty_pages_stop_at_the_page_limit);
	return CHECK_DONE();
}
