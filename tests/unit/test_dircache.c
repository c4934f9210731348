/* Unit tests of fs/dircache.c: listings answer lookups within their TTLs, and go away when
 * something under them changes or the entry bound needs room. */
#include "check.h"

#include <errno.h>
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

int main(void)
{
	RUN(listed_names_are_found_and_others_are_absent);
	RUN(answers_expire_with_their_ttls);
	RUN(an_incomplete_listing_only_marks_the_directory_large);
	RUN(changes_invalidate_the_parent_and_renames_the_tree);
	RUN(the_entry_bound_evicts_least_recently_used_directories);
	RUN(changes_made_here_update_the_listing_in_place);
	return CHECK_DONE();
}
