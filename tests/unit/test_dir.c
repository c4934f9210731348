/* Unit tests of fs/dir.c's pure parts: where a parallel listing splits the rest of a key
 * range, and how entries merge. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/dir.h"

#define MAXP 32

/* The split points as one string, "a|b|c", for compact comparisons. */
static char *points(const char *first, const char *last, const char *end, size_t plen, size_t max)
{
	char *p[MAXP];
	size_t n = dir_split_points(first, last, end, plen, p, max);
	static char out[4096];

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, "|");
		strcat(out, p[i]);
		free(p[i]);
	}
	return out;
}

static void numbered_names_split_at_the_next_pages(void)
{
	/* A page of d/f00000..d/f00999 is most likely followed by d/f01..., d/f02..., ... */
	CHECK_STR(points("d/f00000", "d/f00999", NULL, 2, MAXP),
		  "d/f01|d/f02|d/f03|d/f04|d/f05|d/f06|d/f07|d/f08|d/f09");
	/* When the digits at that place run out, one place further left. */
	CHECK_STR(points("d/f09000", "d/f09999", NULL, 2, MAXP),
		  "d/f1|d/f2|d/f3|d/f4|d/f5|d/f6|d/f7|d/f8|d/f9");
	/* A page that ends within a place counts on from there. */
	CHECK_STR(points("d/img_0001.jpg", "d/img_1000.jpg", NULL, 2, MAXP),
		  "d/img_2|d/img_3|d/img_4|d/img_5|d/img_6|d/img_7|d/img_8|d/img_9");
}

static void letters_count_through_their_own_case(void)
{
	CHECK_STR(points("aardvark", "cat", NULL, 0, MAXP),
		  "d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z");
	CHECK_STR(points("Apple", "Wolf", NULL, 0, MAXP), "X|Y|Z");
}

static void points_stay_inside_the_range_and_the_bound(void)
{
	/* Nothing at or past the range's end. */
	CHECK_STR(points("d/f00000", "d/f00999", "d/f04", 2, MAXP), "d/f01|d/f02|d/f03");
	/* At most max points. */
	CHECK_STR(points("d/f00000", "d/f00999", NULL, 2, 3), "d/f01|d/f02|d/f03");
	/* Never within the directory's own prefix: "d/" is listed, not split. */
	CHECK_STR(points("d/z1", "d/z9", NULL, 2, MAXP), "");
	CHECK_STR(points("d/~a", "d/~~", NULL, 2, MAXP), "");
	/* Every point is after the last name of the page. */
	CHECK_STR(points("x/a", "x/a0", NULL, 2, MAXP),
		  "x/a1|x/a2|x/a3|x/a4|x/a5|x/a6|x/a7|x/a8|x/a9");
}

static void only_well_formed_utf8_names_pass(void)
{
	static const char *good[] = {
		"plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "ctl\x01\x7f", ""};
	static const char *bad[] = {"\xff",
				    "bad-\xff\xfe",
				    "\xc0\xaf" /* overlong '/' */,
				    "\xe0\x80\xaf",
				    "\xed\xa0\x80" /* surrogate */,
				    "\xf4\x90\x80\x80" /* past U+10FFFF */,
				    "\xe2\x82" /* cut */};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(dir_name_is_utf8(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!dir_name_is_utf8(bad[i], strlen(bad[i])));
}

static void merged_listings_keep_one_entry_per_name(void)
{
	struct dirlist l = {0};
	struct iattr file = {.mode = S_IFREG | 0644, .size = 1};
	struct iattr dir = {.mode = S_IFDIR | 0755};

	/* The same name from two overlapping key ranges, and a directory hiding a file. */
	CHECK(dirlist_add(&l, "b", 0, &file) == 0);
	CHECK(dirlist_add(&l, "a", 0, &file) == 0);
	CHECK(dirlist_add(&l, "b", 0, &file) == 0);
	CHECK(dirlist_add(&l, "c", 0, &file) == 0);
	CHECK(dirlist_add(&l, "c", 1, &dir) == 0);
	dirlist_sort(&l);
	CHECK(l.n == 3);
	CHECK_STR(l.ents[0].name, "a");
	CHECK_STR(l.ents[1].name, "b");
	CHECK_STR(l.ents[2].name, "c");
	CHECK(l.ents[2].is_dir == 1);
	dirlist_clear(&l);
}

int main(void)
{
	RUN(numbered_names_split_at_the_next_pages);
	RUN(letters_count_through_their_own_case);
	RUN(points_stay_inside_the_range_and_the_bound);
	RUN(merged_listings_keep_one_entry_per_name);
	RUN(only_well_formed_utf8_names_pass);
	return CHECK_DONE();
}
