/* Unit tests of fs/dircache.c: listings answer lookups within their TTLs, and go away when
 * something under them changes or the entry bound needs room. */
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/dircache.h"

static struct dirlist listing(const char **names, size_t n, int complete)
{
	struct dirlist l = {0};
	struct iattr a = {.mode = S_IFREG | 0644};

	for (size_t i = 0; i < n; i++) {
		a.size = i;
		dirlist_add(&l, names[i], names[i][0] == 'd', &a);
	}
	dirlist_sort(&l);
	l.complete = complete;
	return l;
}

static void listed_names_are_found_and_others_are_absent(void)
{
	struct dircache *c = dircache_new(100);
	const char *names[] = {"b", "a", "dir", "c"};
	struct dirlist l = listing(names, 4, 1);
	struct iattr a = {0};
	int is_dir = -1;

	dircache_put(c, "top", &l);
	CHECK(l.n == 0);
	CHECK(dircache_lookup(c, "top", "c", 60, 5, &is_dir, &a) == 1);
	CHECK(is_dir == 0 && a.size == 3);
	CHECK(dircache_lookup(c, "top", "dir", 60, 5, &is_dir, &a) == 1 && is_dir == 1);
	CHECK(dircache_lookup(c, "top", "zzz", 60, 5, &is_dir, &a) == 0);
	CHECK(dircache_lookup(c, "other", "a", 60, 5, &is_dir, &a) == -ENOENT);
	dirlist_clear(&l);
	dircache_free(c);
}

static void answers_expire_with_their_ttls(void)
{
	struct dircache *c = dircache_new(100);
	const char *names[] = {"a"};
	struct dirlist l = listing(names, 1, 1);
	struct iattr a = {0};
	int is_dir;

	dircache_put(c, "", &l);
	usleep(60000);
	/* Absence is trusted for 0.05 s here, presence for longer. */
	CHECK(dircache_lookup(c, "", "missing", 60, 0.05, &is_dir, &a) == -ENOENT);
	CHECK(dircache_lookup(c, "", "a", 60, 0.05, &is_dir, &a) == 1);
	CHECK(dircache_lookup(c, "", "a", 0.05, 0.05, &is_dir, &a) == -ENOENT);
	dircache_free(c);
}

static void an_incomplete_listing_only_marks_the_directory_large(void)
{
	struct dircache *c = dircache_new(100);
	const char *names[] = {"a", "b"};
	struct dirlist l = listing(names, 2, 0);
	struct iattr a = {0};
	int is_dir;

	dircache_put(c, "big", &l);
	CHECK(dircache_lookup(c, "big", "a", 60, 5, &is_dir, &a) == -E2BIG);
	CHECK(dircache_lookup(c, "big", "x", 60, 5, &is_dir, &a) == -E2BIG);
	dirlist_clear(&l);
	dircache_free(c);
}

static void changes_invalidate_the_parent_and_renames_the_tree(void)
{
	struct dircache *c = dircache_new(100);
	const char *names[] = {"a"};
	struct iattr a = {0};
	int is_dir;
	const char *dirs[] = {"", "x", "x/y", "xz"};

	for (size_t i = 0; i < 4; i++) {
		struct dirlist l = listing(names, 1, 1);
		dircache_put(c, dirs[i], &l);
	}
	dircache_invalidate_parent(c, "x/y/a");
	CHECK(dircache_lookup(c, "x/y", "a", 60, 5, &is_dir, &a) == -ENOENT);
	CHECK(dircache_lookup(c, "x", "a", 60, 5, &is_dir, &a) == 1);
	dircache_invalidate_parent(c, "top-level-file");
	CHECK(dircache_lookup(c, "", "a", 60, 5, &is_dir, &a) == -ENOENT);
	dircache_invalidate_tree(c, "x");
	CHECK(dircache_lookup(c, "x", "a", 60, 5, &is_dir, &a) == -ENOENT);
	CHECK(dircache_lookup(c, "xz", "a", 60, 5, &is_dir, &a) == 1);
	dircache_free(c);
}

static void the_entry_bound_evicts_least_recently_used_directories(void)
{
	struct dircache *c = dircache_new(5);
	const char *names[] = {"a", "b"};
	struct iattr a = {0};
	int is_dir;

	struct dirlist l1 = listing(names, 2, 1), l2 = listing(names, 2, 1),
		       l3 = listing(names, 2, 1);
	dircache_put(c, "one", &l1);
	dircache_put(c, "two", &l2);
	CHECK(dircache_lookup(c, "one", "a", 60, 5, &is_dir, &a) == 1); /* "one" is now newest */
	dircache_put(c, "three", &l3);
	CHECK(dircache_lookup(c, "two", "a", 60, 5, &is_dir, &a) == -ENOENT);
	CHECK(dircache_lookup(c, "one", "a", 60, 5, &is_dir, &a) == 1);
	CHECK(dircache_lookup(c, "three", "a", 60, 5, &is_dir, &a) == 1);
	dircache_free(c);
}

static void changes_made_here_update_the_listing_in_place(void)
{
	struct dircache *c = dircache_new(100);
	const char *names[] = {"a", "c"};
	struct dirlist l = listing(names, 2, 1);
	struct iattr a = {.mode = S_IFREG | 0600, .size = 42}, got = {0};
	int is_dir;

	dircache_put(c, "d", &l);
	dircache_set(c, "d/b", 0, &a);
	CHECK(dircache_lookup(c, "d", "b", 60, 5, &is_dir, &got) == 1 && got.size == 42);
	a.size = 7;
	dircache_set(c, "d/a", 0, &a);
	CHECK(dircache_lookup(c, "d", "a", 60, 5, &is_dir, &got) == 1 && got.size == 7);
	dircache_remove(c, "d/c");
	CHECK(dircache_lookup(c, "d", "c", 60, 5, &is_dir, &got) == 0);
	/* Still sorted: every name is found. */
	CHECK(dircache_lookup(c, "d", "a", 60, 5, &is_dir, &got) == 1);
	CHECK(dircache_lookup(c, "d", "b", 60, 5, &is_dir, &got) == 1);
	/* Changes elsewhere do not touch this listing. */
	dircache_set(c, "other/x", 0, &a);
	CHECK(dircache_lookup(c, "other", "x", 60, 5, &is_dir, &got) == -ENOENT);
	dircache_free(c);
}

/* A directory of files f00..f(n-1), each with a generation, as a listing gives them. */
static void put_files(struct dircache *c, size_t n)
{
	struct dirlist l = {0};
	char name[16];

	for (size_t i = 0; i < n; i++) {
		struct iattr a = {.mode = S_IFREG | 0644, .size = 100, .generation = 1000 + i};

		snprintf(name, sizeof(name), "f%02zu", i);
		if (i == 12)
			a.size = 1 << 30; /* too large to prefetch */
		if (i == 13)
			a.mode = S_IFDIR | 0755;
		dirlist_add(&l, name, i == 13, &a);
	}
	dirlist_sort(&l);
	l.complete = 1;
	dircache_put(c, "d", &l);
}

static size_t opened(struct dircache *c, size_t i, struct dircache_next *out, char *first)
{
	char path[16];
	size_t n;

	snprintf(path, sizeof(path), "d/f%02zu", i);
	n = dircache_note_open(c, path, 8, 1 << 20, out);
	first[0] = '\0';
	if (n)
		snprintf(first, 16, "%s", out[0].path);
	for (size_t k = 0; k < n; k++)
		free(out[k].path);
	return n;
}

static void opens_in_name_order_hand_out_the_next_files_once(void)
{
	struct dircache *c = dircache_new(100);
	struct dircache_next out[8];
	char first[16];

	put_files(c, 30);
	CHECK(opened(c, 0, out, first) == 0);
	CHECK(opened(c, 1, out, first) == 0);
	/* The third in a row: f03..f10 (a window of 8 after f02). */
	CHECK(opened(c, 2, out, first) == 8);
	CHECK_STR(first, "d/f03");
	/* A reader a little behind changes nothing and gets nothing new. */
	CHECK(opened(c, 1, out, first) == 0);
	/* Next: only f11, the one entry not handed out before. */
	CHECK(opened(c, 3, out, first) == 1);
	CHECK_STR(first, "d/f11");
	/* f12 is too large and f13 a directory: skipped, f14 and f15 follow. */
	CHECK(opened(c, 7, out, first) == 2);
	CHECK_STR(first, "d/f14");
	dircache_free(c);
}

static void opens_out_of_order_hand_out_nothing(void)
{
	struct dircache *c = dircache_new(100);
	struct dircache_next out[8];
	char first[16];
	size_t order[] = {5, 17, 2, 25, 9, 20, 0, 28, 14};

	put_files(c, 30);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		CHECK(opened(c, order[i], out, first) == 0);
	/* Files of directories without a listing here take no part. */
	CHECK(dircache_note_open(c, "elsewhere/f01", 8, 1 << 20, out) == 0);
	dircache_free(c);
}

int main(void)
{
	RUN(listed_names_are_found_and_others_are_absent);
	RUN(answers_expire_with_their_ttls);
	RUN(an_incomplete_listing_only_marks_the_directory_large);
	RUN(changes_invalidate_the_parent_and_renames_the_tree);
	RUN(the_entry_bound_evicts_least_recently_used_directories);
	RUN(changes_made_here_update_the_listing_in_place);
	RUN(opens_in_name_order_hand_out_the_next_files_once);
	RUN(opens_out_of_order_hand_out_nothing);
	return CHECK_DONE();
}
