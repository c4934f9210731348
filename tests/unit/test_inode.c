/* Unit tests of fs/inode.c: stable inode numbers, lookup counting and attribute freshness. */
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/inode.h"

static struct iattr file_attr(uint64_t size, uint64_t gen)
{
	struct iattr a = {0};

	a.mode = S_IFREG | 0644;
	a.size = size;
	a.generation = gen;
	return a;
}

static void same_name_gets_same_number_and_counts_references(void)
{
	struct itable *t = itable_new("");
	struct iattr a = file_attr(10, 1);

	uint64_t i1 = itable_ref(t, "d/f", 0, &a, 60);
	uint64_t i2 = itable_ref(t, "d/f", 0, &a, 60);
	CHECK(i1 > INODE_ROOT);
	CHECK(i1 == i2);
	CHECK(itable_ino_of(t, "d/f", 0) == i1);

	itable_forget(t, i1, 1);
	CHECK(itable_get(t, i1, NULL, NULL, NULL, NULL) == 0);
	itable_forget(t, i1, 1);
	CHECK(itable_get(t, i1, NULL, NULL, NULL, NULL) == -ENOENT);

	/* The number is derived from the name, so it comes back the same. */
	CHECK(itable_ref(t, "d/f", 0, &a, 60) == i1);
	itable_free(t);
}

static void file_and_directory_of_one_name_are_distinct(void)
{
	struct itable *t = itable_new("");
	struct iattr f = file_attr(1, 1), d = {.mode = S_IFDIR | 0755};

	uint64_t fi = itable_ref(t, "x", 0, &f, 60);
	uint64_t di = itable_ref(t, "x", 1, &d, 60);
	CHECK(fi != di);

	char *path = NULL;
	int is_dir = -1;
	struct iattr got = {0};
	CHECK(itable_get(t, di, &path, &is_dir, &got, NULL) == 0);
	CHECK_STR(path, "x");
	CHECK(is_dir == 1 && S_ISDIR(got.mode));
	free(path);
	iattr_clear(&got);
	itable_free(t);
}

static void attributes_expire_after_their_ttl(void)
{
	struct itable *t = itable_new("");
	struct iattr a = file_attr(5, 2), got = {0};
	int fresh = -1;

	uint64_t ino = itable_ref(t, "f", 0, &a, 0.05);
	CHECK(itable_find_fresh(t, "f", 0, &got) == ino);
	CHECK(got.size == 5);
	iattr_clear(&got);
	CHECK(itable_get(t, ino, NULL, NULL, NULL, &fresh) == 0 && fresh == 1);
	usleep(80000);
	CHECK(itable_find_fresh(t, "f", 0, &got) == 0);
	CHECK(itable_get(t, ino, NULL, NULL, NULL, &fresh) == 0 && fresh == 0);

	a.size = 6;
	CHECK(itable_set_attr(t, ino, &a, 60) == 0);
	CHECK(itable_find_fresh(t, "f", 0, &got) == ino);
	CHECK(got.size == 6);
	iattr_clear(&got);
	itable_free(t);
}

static void root_survives_forget(void)
{
	struct itable *t = itable_new("");

	itable_forget(t, INODE_ROOT, 100);
	CHECK(itable_get(t, INODE_ROOT, NULL, NULL, NULL, NULL) == 0);
	itable_free(t);
}

static void many_inodes_stay_reachable_through_growth(void)
{
	struct itable *t = itable_new("");
	struct iattr a = file_attr(0, 1);
	enum { N = 5000 };
	static uint64_t inos[N];
	char name[32];
	int ok = 1;

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "dir/file-%d", i);
		inos[i] = itable_ref(t, name, 0, &a, 60);
	}
	for (int i = 0; i < N; i++) {
		char *path = NULL;

		snprintf(name, sizeof(name), "dir/file-%d", i);
		if (itable_get(t, inos[i], &path, NULL, NULL, NULL) || strcmp(path, name) != 0)
			ok = 0;
		free(path);
		for (int j = 0; j < i && j < 3; j++)
			if (inos[j] == inos[i])
				ok = 0;
	}
	CHECK(ok);
	itable_free(t);
}

static void open_generation_tells_when_kernel_cache_is_valid(void)
{
	struct itable *t = itable_new("");
	struct iattr a = file_attr(1, 1);
	uint64_t ino = itable_ref(t, "f", 0, &a, 60);

	CHECK(itable_note_open_generation(t, ino, 100) == 0);
	CHECK(itable_note_open_generation(t, ino, 100) == 1);
	CHECK(itable_note_open_generation(t, ino, 101) == 0);
	itable_free(t);
}

static void moved_file_takes_the_new_generation_and_keeps_kernel_cache(void)
{
	struct itable *t = itable_new("");
	struct iattr a = file_attr(5, 100), moved = file_attr(5, 200), got = {0};
	uint64_t ino = itable_ref(t, "a", 0, &a, 60), found = 0;

	CHECK(itable_note_open_generation(t, ino, 100) == 0);
	itable_rename(t, "a", 0, "b");
	CHECK(itable_note_moved(t, "b", 100, &moved, 60) == 0);
	CHECK(itable_find_fresh(t, "b", 0, &got) == ino);
	CHECK(got.generation == 200);
	iattr_clear(&got);
	/* The kernel's pages of generation 100 hold the bytes generation 200 has. */
	CHECK(itable_note_open_generation(t, ino, 200) == 1);
	CHECK(itable_note_moved(t, "nowhere", 100, &moved, 60) == -ENOENT);

	/* A kernel cache of another generation than the one moved stays unknown. */
	struct iattr again = file_attr(5, 300);
	CHECK(itable_note_open_generation(t, ino, 150) == 0);
	CHECK(itable_note_moved(t, "b", 200, &again, 60) == 0);
	CHECK(itable_note_open_generation(t, ino, 300) == 0);
	CHECK(itable_lookup_path(t, "b", 0, &found, NULL) == 0 && found == ino);
	itable_free(t);
}

static void answers_asked_for_before_a_change_here_do_not_undo_it(void)
{
	struct itable *t = itable_new("");
	struct iattr old = file_attr(10, 1), mine = file_attr(20, 2), later = file_attr(30, 3);
	struct iattr now = {0};
	uint64_t ino = itable_ref(t, "f", 0, &old, 60);

	/* A listing asked for now, answered after an upload made here: the upload wins. */
	uint64_t seen = itable_epoch(t);
	CHECK(itable_set_attr(t, ino, &mine, 60) == 0);
	CHECK(itable_ref_seen(t, "f", 0, &old, 60, seen, &now, NULL) == ino);
	CHECK(now.generation == 2 && now.size == 20);
	iattr_clear(&now);
	CHECK(itable_set_attr_seen(t, ino, &old, 60, seen) == 0);
	CHECK(itable_find_fresh(t, "f", 0, &now) == ino && now.generation == 2);
	iattr_clear(&now);

	/* Asked for after the change: the answer is newer, and taken. */
	seen = itable_epoch(t);
	CHECK(itable_ref_seen(t, "f", 0, &later, 60, seen, &now, NULL) == ino);
	CHECK(now.generation == 3);
	iattr_clear(&now);

	/* A rename and a removal made here count as changes too. */
	seen = itable_epoch(t);
	itable_rename(t, "f", 0, "g");
	CHECK(itable_set_attr_seen(t, ino, &old, 60, seen) == 0);
	CHECK(itable_find_fresh(t, "g", 0, &now) == ino && now.generation == 3);
	iattr_clear(&now);
	seen = itable_epoch(t);
	itable_detach(t, "g", 0);
	CHECK(itable_epoch(t) > seen);
	itable_free(t);
}

static void rename_moves_a_directory_and_everything_below(void)
{
	struct itable *t = itable_new("");
	struct iattr f = file_attr(1, 1), d = {.mode = S_IFDIR | 0755};
	uint64_t dir = itable_ref(t, "a", 1, &d, 60);
	uint64_t child = itable_ref(t, "a/x", 0, &f, 60);
	uint64_t deep = itable_ref(t, "a/s/y", 0, &f, 60);
	uint64_t other = itable_ref(t, "ab", 0, &f, 60);
	uint64_t old_target = itable_ref(t, "b/x", 0, &f, 60);
	uint64_t ino = 0;
	char *path = NULL;

	itable_rename(t, "a", 1, "b");
	CHECK(itable_lookup_path(t, "b", 1, &ino, NULL) == 0 && ino == dir);
	CHECK(itable_lookup_path(t, "b/x", 0, &ino, NULL) == 0 && ino == child);
	CHECK(itable_lookup_path(t, "b/s/y", 0, &ino, NULL) == 0 && ino == deep);
	CHECK(itable_lookup_path(t, "a/x", 0, &ino, NULL) == -ENOENT);
	/* A sibling that only shares the prefix stays where it is. */
	CHECK(itable_lookup_path(t, "ab", 0, &ino, NULL) == 0 && ino == other);
	/* The inode that had the new name before keeps its number but not the name. */
	CHECK(itable_get(t, old_target, &path, NULL, NULL, NULL) == 0);
	free(path);
	CHECK(itable_get(t, deep, &path, NULL, NULL, NULL) == 0);
	CHECK_STR(path, "b/s/y");
	free(path);
	itable_free(t);
}

static void detached_names_are_not_found_but_inodes_live_on(void)
{
	struct itable *t = itable_new("");
	struct iattr f = file_attr(1, 1);
	uint64_t ino = itable_ref(t, "gone", 0, &f, 60);
	uint64_t found = 0;

	itable_detach(t, "gone", 0);
	CHECK(itable_lookup_path(t, "gone", 0, &found, NULL) == -ENOENT);
	CHECK(itable_find_fresh(t, "gone", 0, &f) == 0);
	CHECK(itable_get(t, ino, NULL, NULL, NULL, NULL) == 0);
	/* A new object of the same name gets an inode of its own. */
	uint64_t again = itable_ref(t, "gone", 0, &f, 60);
	CHECK(again != 0 && again != ino);
	itable_forget(t, ino, 1);
	CHECK(itable_get(t, ino, NULL, NULL, NULL, NULL) == -ENOENT);
	CHECK(itable_lookup_path(t, "gone", 0, &found, NULL) == 0 && found == again);
	itable_free(t);
}

/* Numbers are FNV-1a (64-bit) over the path and then one byte, 'd' or 'f'. A name keeps its
 * number across remounts, so the function is pinned to known values. */
static void numbers_are_fnv1a_of_path_and_kind(void)
{
	static const struct {
		const char *path;
		int is_dir;
		uint64_t ino;
	} pins[] = {
		{"d/f", 0, 351923334993410480ULL},
		{"d/f", 1, 351925534016666902ULL},
		{"x", 0, 644351230382815699ULL},
		{"a/b/c.txt", 1, 10647236317933694955ULL},
		{"\xc3\xbcn\xc3\xaf", 0, 13054572430108842896ULL},
	};
	struct itable *t = itable_new("");
	struct iattr a = file_attr(1, 1);

	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++)
		CHECK(itable_ino_of(t, pins[i].path, pins[i].is_dir) == pins[i].ino);
	CHECK(itable_ref(t, "d/f", 0, &a, 60) == 351923334993410480ULL);
	itable_free(t);
}

static void answers_asked_for_before_a_removal_do_not_bring_the_name_back(void)
{
	struct itable *t = itable_new("");
	struct iattr f = file_attr(1, 1), d = {.mode = S_IFDIR | 0755}, now = {0};
	uint64_t before = itable_epoch(t);
	int unsure = 1;

	itable_ref(t, "gone", 0, &f, 60);
	itable_ref(t, "dir", 1, &d, 60);
	itable_detach(t, "gone", 0);
	itable_rename(t, "dir", 1, "moved");
	uint64_t after = itable_epoch(t);

	/* Read before: the removed file and everything under the renamed directory. */
	errno = 0;
	CHECK(itable_ref_seen(t, "gone", 0, &f, 60, before, NULL, &unsure) == 0 && errno == ESTALE);
	CHECK(itable_ref_seen(t, "dir/x", 0, &f, 60, before, NULL, NULL) == 0);
	CHECK(itable_ref_seen(t, "dir/s/y", 1, &d, 60, before, NULL, NULL) == 0);
	CHECK(itable_removed_since(t, "dir", 1, before) == ITABLE_GONE);
	/* Not another kind, nor a sibling sharing the prefix, nor the new name. */
	CHECK(itable_removed_since(t, "gone", 1, before) == ITABLE_SHOWN);
	CHECK(itable_removed_since(t, "dirt", 0, before) == ITABLE_SHOWN);
	CHECK(itable_ref_seen(t, "moved/x", 0, &f, 60, before, &now, &unsure) != 0 && !unsure);
	iattr_clear(&now);
	/* Read after: what the bucket says stands. */
	CHECK(itable_ref_seen(t, "gone", 0, &f, 60, after, NULL, NULL) != 0);
	CHECK(itable_removed_since(t, "dir/x", 0, after) == ITABLE_SHOWN);
	itable_free(t);
}

static void too_many_removals_to_remember_make_older_answers_unsure(void)
{
	struct itable *t = itable_new("");
	struct iattr f = file_attr(1, 1), now = {0};
	uint64_t before = itable_epoch(t);
	char name[32];
	int unsure = 0;

	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		itable_detach(t, name, 0);
	}
	uint64_t after = itable_epoch(t);
	/* The latest removals are still known for what they are. */
	CHECK(itable_removed_since(t, "f4999", 0, before) == ITABLE_GONE);
	/* An early one was forgotten: neither shown for sure nor hidden, and not trusted. */
	CHECK(itable_removed_since(t, "f0", 0, before) == ITABLE_UNSURE);
	uint64_t ino = itable_ref_seen(t, "f0", 0, &f, 60, before, &now, &unsure);
	CHECK(ino != 0 && unsure);
	CHECK(itable_find_fresh(t, "f0", 0, &now) == 0);
	iattr_clear(&now);
	CHECK(itable_removed_since(t, "f0", 0, after) == ITABLE_SHOWN);
	itable_free(t);
}

static void a_directory_rename_under_way_makes_the_table_unquiet(void)
{
	struct itable *t = itable_new("");
	uint64_t seen = itable_epoch(t);

	CHECK(itable_quiet_since(t, seen));
	itable_moving(t, 1);
	CHECK(!itable_quiet_since(t, itable_epoch(t)));
	itable_moving(t, 0);
	CHECK(itable_quiet_since(t, itable_epoch(t)));
	CHECK(!itable_quiet_since(t, seen));
	itable_free(t);
}

int main(void)
{
	RUN(same_name_gets_same_number_and_counts_references);
	RUN(numbers_are_fnv1a_of_path_and_kind);
	RUN(file_and_directory_of_one_name_are_distinct);
	RUN(attributes_expire_after_their_ttl);
	RUN(root_survives_forget);
	RUN(many_inodes_stay_reachable_through_growth);
	RUN(open_generation_tells_when_kernel_cache_is_valid);
	RUN(rename_moves_a_directory_and_everything_below);
	RUN(answers_asked_for_before_a_change_here_do_not_undo_it);
	RUN(moved_file_takes_the_new_generation_and_keeps_kernel_cache);
	RUN(detached_names_are_not_found_but_inodes_live_on);
	RUN(answers_asked_for_before_a_removal_do_not_bring_the_name_back);
	RUN(too_many_removals_to_remember_make_older_answers_unsure);
	RUN(a_directory_rename_under_way_makes_the_table_unquiet);
	return CHECK_DONE();
}
