/* Unit tests of the on-disk block cache (cache/disk.c, cache/blockfile.c).
 *
 * Every test gets its own temporary directory and reads through the fake fetch function of
 * fake_fetch.h as the inner function, which serves a deterministic byte pattern per (object,
 * generation, offset), counts its calls and bytes and flags any range the disk cache should never
 * ask for. Tests that damage blocks find a block's file by reading the headers on disk (the
 * format is described in blockfile.c), so they do not depend on how names are hashed; only the
 * tests that pin the names of a few keys do. The free-space floor is tested on a 4 MiB tmpfs,
 * which needs the right to mount; without it that one test says so and is skipped. */
#include "fake_fetch.h"

#include "cache/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "util/crc32c.h"

#define HDR 44
#define BIG (1ULL << 30)

/* The disk cache asks its inner function for whole blocks, or for a range that ends at the
 * object's end. */
static void fake_init(struct fake *f, uint64_t size)
{
	fake_setup(f, size, FAKE_WHOLE_BLOCKS);
}

static struct dcache_stats stats(struct dcache *dc)
{
	struct dcache_stats st;

	dcache_get_stats(dc, &st);
	return st;
}

/* Reads [off, off + len) through the disk cache (off block-aligned, len whole blocks or ending at
 * the object's end) and checks the count, every byte, and that nothing past len was written. */
static bool read_ok(struct dcache *dc, struct fake *f, const char *object, uint64_t gen,
		    uint64_t off, size_t len)
{
	size_t want = clip_len(f->size, off, len);
	unsigned char *out = guarded_buf(len);
	ssize_t n = dcache_fetch(dc, object, gen, off, len, out, fake_fetch, f);
	bool ok = read_result_ok(object, gen, off, len, n, want, out, len);

	free(out);
	return ok;
}

/* Reads one block (the last one short if the object ends in it). */
static bool block_ok(struct dcache *dc, struct fake *f, const char *object, uint64_t gen,
		     uint64_t index)
{
	uint64_t off = index * BS;
	size_t len = off < f->size && f->size - off < BS ? f->size - off : BS;

	return read_ok(dc, f, object, gen, off, len);
}

static uint64_t file_size(const char *object, size_t data_len)
{
	return HDR + strlen(object) + data_len;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
	char *d = strdup("/tmp/test_dcache.XXXXXX");

	if (!mkdtemp(d)) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

/* Removes a directory made by make_tmpdir() and frees its name. */
static void remove_tmpdir(char *dir)
{
	rm_tree(dir);
	free(dir);
}

/* The end of most tests: close the cache, then remove its directory. */
static void close_and_remove(struct dcache *dc, char *dir)
{
	dcache_free(dc);
	remove_tmpdir(dir);
}

static struct dcache *open_cache(const char *dir, uint64_t max, uint64_t min_free)
{
	char why[256] = "";
	struct dcache *dc = dcache_new(dir, BS, max, min_free, why, sizeof(why));

	if (!dc)
		fprintf(stderr, "dcache_new: %s\n", why);
	CHECK(dc != NULL);
	return dc;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Calls fn(path, arg) for every file in the fan-out subdirectories. */
static void each_file(const char *dir, void (*fn)(const char *path, const char *name, void *arg),
		      void *arg)
{
	char sub[512], path[1024];
	struct dirent *de;

	for (int i = 0; i < 256; i++) {
		DIR *d;

		snprintf(sub, sizeof(sub), "%s/%02x", dir, i);
		d = opendir(sub);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, de->d_name);
			fn(path, de->d_name, arg);
		}
		closedir(d);
	}
}

struct find {
	const char *object;
	uint64_t gen, index;
	char path[1024];
	int found;
};

static void find_one(const char *path, const char *name, void *arg)
{
	struct find *q = arg;
	unsigned char hdr[HDR + 256];
	ssize_t n;
	int fd;

	(void)name;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (n < HDR || le64(hdr + 8) != q->gen || le64(hdr + 16) != q->index ||
	    le32(hdr + 28) != strlen(q->object) || n < HDR + (ssize_t)strlen(q->object) ||
	    memcmp(hdr + HDR, q->object, strlen(q->object)) != 0)
		return;
	snprintf(q->path, sizeof(q->path), "%s", path);
	q->found++;
}

/* The path of the file holding a block; exits the test run if there is not exactly one. */
static const char *block_path(const char *dir, const char *object, uint64_t gen, uint64_t index)
{
	static struct find q;

	q = (struct find){.object = object, .gen = gen, .index = index};
	each_file(dir, find_one, &q);
	if (q.found != 1) {
		fprintf(stderr, "block %s@%llu #%llu: %d files\n", object, (unsigned long long)gen,
			(unsigned long long)index, q.found);
		exit(2);
	}
	return q.path;
}

static void count_one(const char *path, const char *name, void *arg)
{
	(void)path;
	(void)name;
	(*(int *)arg)++;
}

static int count_files(const char *dir)
{
	int n = 0;

	each_file(dir, count_one, &n);
	return n;
}

static void flip_byte(const char *path, off_t at)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	CHECK(fd >= 0);
	if (at < 0)
		at += lseek(fd, 0, SEEK_END);
	CHECK(pread(fd, &c, 1, at) == 1);
	c ^= 0x40;
	CHECK(pwrite(fd, &c, 1, at) == 1);
	close(fd);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void test_new_rejects_bad_arguments_with_a_reason(void)
{
	char *dir = make_tmpdir();
	char why[256] = "", path[512];

	errno = 0;
	CHECK(dcache_new(dir, 0, BIG, 0, why, sizeof(why)) == NULL);
	CHECK(errno == EINVAL);
	CHECK(strstr(why, dir) != NULL);

	/* A directory under a regular file cannot be created. */
	snprintf(path, sizeof(path), "%s/file", dir);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/file/cache", dir);
	why[0] = 0;
	CHECK(dcache_new(path, BS, BIG, 0, why, sizeof(why)) == NULL);
	CHECK(errno == ENOTDIR);
	CHECK(strstr(why, "Not a directory") != NULL);
	/* No why buffer is fine too. */
	CHECK(dcache_new(path, BS, BIG, 0, NULL, 0) == NULL);
	dcache_free(NULL);
	remove_tmpdir(dir);
}

static void test_blocks_come_back_byte_identical_at_every_alignment(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct fake f;
	int bad = 0;

	fake_init(&f, 10 * BS + 13);
	/* Twice: first from the fake, then from disk, then in a mix after dropping some files. */
	for (int pass = 0; pass < 3; pass++) {
		for (uint64_t b = 0; b <= 12; b++) {
			for (size_t nb = 1; nb <= 4; nb++) {
				uint64_t off = b * BS;
				size_t len = nb * BS;

				/* A range ending inside a block must end at the object's end. */
				if (off < f.size && off + len > f.size && (f.size - off) % BS)
					bad += !read_ok(dc, &f, "obj", 1, off, f.size - off);
				bad += !read_ok(dc, &f, "obj", 1, off, len);
			}
		}
		if (pass == 1) {
			unlink(block_path(dir, "obj", 1, 3));
			unlink(block_path(dir, "obj", 1, 7));
			unlink(block_path(dir, "obj", 1, 10));
		}
	}
	CHECK(bad == 0);
	CHECK(atomic_load(&f.bad_range) == 0);
	CHECK(stats(dc).corrupt == 0);
	CHECK(count_files(dir) == 11);
	close_and_remove(dc, dir);
}

static void test_second_fetch_of_same_range_makes_no_inner_call(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, BS, 5 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(dc).misses == 5);
	CHECK(stats(dc).stores == 5);
	CHECK(stats(dc).bytes_on_disk == 5 * file_size("obj", BS));
	CHECK(read_ok(dc, &f, "obj", 1, BS, 5 * BS));
	CHECK(read_ok(dc, &f, "obj", 1, 2 * BS, 2 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(dc).hits == 7);
	close_and_remove(dc, dir);
}

static void test_each_run_of_missing_blocks_is_one_inner_call(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(block_ok(dc, &f, "obj", 1, 2));
	CHECK(block_ok(dc, &f, "obj", 1, 5));
	CHECK(atomic_load(&f.calls) == 2);
	/* Blocks 0-1, 3-4 and 6-7 are missing: three calls, none for 2 and 5. */
	CHECK(read_ok(dc, &f, "obj", 1, 0, 8 * BS));
	CHECK(atomic_load(&f.calls) == 5);
	CHECK(atomic_load(&f.bytes) == 8 * BS);
	CHECK(stats(dc).hits == 2);
	CHECK(atomic_load(&f.bad_range) == 0);
	close_and_remove(dc, dir);
}

/* Block files are named by hashes of their key. Caches written by earlier runs must stay
 * readable, so the names of a few keys are pinned: these are the names that version 1 of the
 * format gives them. */
static const struct {
	const char *object;
	uint64_t gen, index;
	size_t block_size;
	const char *name;
} pinned[] = {
	{"bucket/obj", 1234, 5, BS, "d7/d71fa814f5907909bfdf4031dce27d85"},
	{"b/a", 1, 0, 65536, "8e/8e3f1012aaafac48f712e423694c8978"},
	{"", 7, 3, 4096, "73/737d05af1e50d25deb161c1c2a1cea33"},
	{"my-bucket/photos/2024/cat.jpg", 1712345678901234ULL, 42, 1 << 20,
	 "18/180f50d266226ecef53ea502ba9ac9c6"},
};

static void test_block_file_names_do_not_change(void)
{
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		size_t bs = pinned[i].block_size;
		char *dir = make_tmpdir();
		struct dcache *dc = dcache_new(dir, bs, BIG, 0, NULL, 0);
		unsigned char *buf = malloc(bs);
		char path[600];
		struct fake f;

		CHECK(dc != NULL);
		if (!dc)
			goto next;
		fake_init(&f, (pinned[i].index + 1) * bs);
		f.block_size = bs;
		CHECK(dcache_fetch(dc, pinned[i].object, pinned[i].gen, pinned[i].index * bs, bs,
				   buf, fake_fetch, &f) == (ssize_t)bs);
		CHECK(stats(dc).stores == 1);
		snprintf(path, sizeof(path), "%s/%s", dir, pinned[i].name);
		CHECK(exists(path));
		CHECK(count_files(dir) == 1);
		dcache_free(dc);
	next:
		free(buf);
		rm_tree(dir);
		free(dir);
	}
}

/* A block file written as the format describes, under its pinned name, is found and served: the
 * format and the names are what an existing cache holds. */
static void test_block_file_written_by_hand_is_served(void)
{
	const char *object = pinned[0].object;
	uint64_t gen = pinned[0].gen, index = pinned[0].index;
	size_t olen = strlen(object);
	unsigned char file[HDR + 64 + BS], data[BS], buf[BS];
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	char path[600];
	struct fake f;

	for (size_t i = 0; i < BS; i++)
		data[i] = pattern(object, gen, index * BS + i);
	memcpy(file, "GMDC", 4);
	put_le32(file + 4, 1);
	put_le64(file + 8, gen);
	put_le64(file + 16, index);
	put_le32(file + 24, BS);
	put_le32(file + 28, (uint32_t)olen);
	put_le32(file + 32, BS);
	put_le32(file + 36, crc32c_update(0, data, BS));
	memcpy(file + HDR, object, olen);
	put_le32(file + 40, crc32c_update(crc32c_update(0, file, 40), object, olen));
	memcpy(file + HDR + olen, data, BS);
	dcache_free(dc);
	snprintf(path, sizeof(path), "%s/%s", dir, pinned[0].name);
	write_file(path, file, HDR + olen + BS);

	dc = open_cache(dir, BIG, 0);
	CHECK(stats(dc).bytes_on_disk == file_size(object, BS));
	fake_init(&f, 10 * BS);
	CHECK(dcache_fetch(dc, object, gen, index * BS, BS, buf, fake_fetch, &f) == BS);
	CHECK(memcmp(buf, data, BS) == 0);
	CHECK(atomic_load(&f.calls) == 0);
	CHECK(stats(dc).hits == 1);
	CHECK(stats(dc).corrupt == 0);
	close_and_remove(dc, dir);
}

static void test_blocks_survive_remount(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct fake f;
	uint64_t bytes;

	fake_init(&f, 20 * BS + 7);
	CHECK(read_ok(dc, &f, "bucket/a", 1, 0, 21 * BS));
	CHECK(read_ok(dc, &f, "bucket/b", 4, 3 * BS, 2 * BS));
	bytes = stats(dc).bytes_on_disk;
	CHECK(atomic_load(&f.calls) == 2);
	dcache_free(dc);

	dc = open_cache(dir, BIG, 0);
	CHECK(stats(dc).bytes_on_disk == bytes);
	CHECK(read_ok(dc, &f, "bucket/a", 1, 0, 21 * BS));
	CHECK(read_ok(dc, &f, "bucket/b", 4, 3 * BS, 2 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(stats(dc).hits == 21 + 2);
	CHECK(stats(dc).misses == 0);
	close_and_remove(dc, dir);
}

static void test_short_last_block_marks_the_end_of_the_object(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	unsigned char buf[6 * BS];
	struct fake f;

	fake_init(&f, 3 * BS + 10);
	/* Asked for whole blocks; the fetch comes back short at the object's end. */
	CHECK(read_ok(dc, &f, "obj", 1, 0, 5 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(dc).stores == 4);
	CHECK(stats(dc).bytes_on_disk == 3 * file_size("obj", BS) + file_size("obj", 10));
	/* From disk, the short block ends the read without asking for the blocks after it. */
	CHECK(read_ok(dc, &f, "obj", 1, 0, 5 * BS));
	CHECK(read_ok(dc, &f, "obj", 1, 3 * BS, 10));
	CHECK(read_ok(dc, &f, "obj", 1, 3 * BS, 2 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	/* Past the end: asked, nothing comes back, nothing is stored. */
	CHECK(dcache_fetch(dc, "obj", 1, 4 * BS, 2 * BS, buf, fake_fetch, &f) == 0);
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(stats(dc).stores == 4);
	close_and_remove(dc, dir);
}

static void test_inner_error_propagates_and_stores_nothing(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	unsigned char buf[3 * BS];
	struct fake f;

	fake_init(&f, 10 * BS);
	CHECK(block_ok(dc, &f, "obj", 1, 1));
	atomic_store(&f.fail_next, 1);
	CHECK(dcache_fetch(dc, "obj", 1, 0, sizeof(buf), buf, fake_fetch, &f) == -EIO);
	CHECK(stats(dc).stores == 1);
	CHECK(read_ok(dc, &f, "obj", 1, 0, sizeof(buf)));
	CHECK(stats(dc).stores == 3);
	CHECK(dcache_fetch(dc, "obj", 1, 5, BS, buf, fake_fetch, &f) == -EINVAL);
	close_and_remove(dc, dir);
}

static void check_damage_is_refetched(void (*damage)(const char *path))
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct fake f;

	fake_init(&f, 10 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	damage(block_path(dir, "obj", 1, 2));
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(stats(dc).corrupt == 1);
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(atomic_load(&f.bytes) == 5 * BS);
	/* The block was stored again, soundly. */
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(stats(dc).corrupt == 1);
	CHECK(stats(dc).bytes_on_disk == 4 * file_size("obj", BS));
	dcache_free(dc);

	/* Damage found at the next mount is handled the same way. */
	damage(block_path(dir, "obj", 1, 0));
	dc = open_cache(dir, BIG, 0);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(stats(dc).corrupt == 1);
	CHECK(atomic_load(&f.calls) == 3);
	CHECK(count_files(dir) == 4);
	close_and_remove(dc, dir);
}

static void flip_last_data_byte(const char *path)
{
	flip_byte(path, -1);
}

static void flip_generation_byte(const char *path)
{
	flip_byte(path, 8);
}

static void flip_name_byte(const char *path)
{
	flip_byte(path, HDR + 1);
}

static void truncate_to_half(const char *path)
{
	CHECK(truncate(path, HDR + 3 + BS / 2) == 0);
}

static void truncate_inside_header(const char *path)
{
	CHECK(truncate(path, 10) == 0);
}

static void append_garbage(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	CHECK(write(fd, "xyz", 3) == 3);
	close(fd);
}

static void test_flipped_data_byte_is_detected_counted_and_refetched(void)
{
	check_damage_is_refetched(flip_last_data_byte);
}

static void test_flipped_header_or_name_byte_is_detected_counted_and_refetched(void)
{
	check_damage_is_refetched(flip_generation_byte);
	check_damage_is_refetched(flip_name_byte);
}

static void test_truncated_block_is_detected_counted_and_refetched(void)
{
	check_damage_is_refetched(truncate_to_half);
	check_damage_is_refetched(truncate_inside_header);
	check_damage_is_refetched(append_garbage);
}

static void test_file_holding_another_key_is_a_miss_not_damage(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	char other[1024], mine[1024];
	struct fake f;

	/* As if the names of blocks 0 and 1 collided: a sound block of the wrong key. */
	fake_init(&f, 10 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 2 * BS));
	snprintf(other, sizeof(other), "%s", block_path(dir, "obj", 1, 0));
	snprintf(mine, sizeof(mine), "%s", block_path(dir, "obj", 1, 1));
	CHECK(unlink(mine) == 0);
	CHECK(link(other, mine) == 0);
	CHECK(read_ok(dc, &f, "obj", 1, BS, BS));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(stats(dc).corrupt == 0);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 2 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	close_and_remove(dc, dir);
}

static void test_different_generation_misses(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct fake f;

	fake_init(&f, 10 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 2 * BS));
	CHECK(read_ok(dc, &f, "obj", 2, 0, 2 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 2 * BS));
	CHECK(read_ok(dc, &f, "obj", 2, 0, 2 * BS));
	/* Same generation and offset, another object (or bucket prefix). */
	CHECK(read_ok(dc, &f, "obj2", 1, 0, 2 * BS));
	CHECK(atomic_load(&f.calls) == 3);
	close_and_remove(dc, dir);
}

static void test_size_bound_holds_and_evicts_least_recently_used(void)
{
	const uint64_t max = 3 * file_size("obj", BS);
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, max, 0);
	struct fake f;

	fake_init(&f, 100 * BS);
	for (uint64_t i = 0; i < 3; i++)
		CHECK(block_ok(dc, &f, "obj", 1, i));
	/* Block 0 is used again, so block 1 is now the least recently used. */
	CHECK(block_ok(dc, &f, "obj", 1, 0));
	CHECK(block_ok(dc, &f, "obj", 1, 3));
	CHECK(stats(dc).evictions == 1);
	CHECK(stats(dc).bytes_on_disk == max);
	CHECK(count_files(dir) == 3);
	CHECK(atomic_load(&f.calls) == 4);
	CHECK(block_ok(dc, &f, "obj", 1, 0));
	CHECK(block_ok(dc, &f, "obj", 1, 2));
	CHECK(block_ok(dc, &f, "obj", 1, 3));
	CHECK(atomic_load(&f.calls) == 4);
	CHECK(block_ok(dc, &f, "obj", 1, 1));
	CHECK(atomic_load(&f.calls) == 5);
	close_and_remove(dc, dir);
}

static void test_size_bound_holds_under_many_reads(void)
{
	const uint64_t max = 8 * file_size("a", BS) + 30;
	static const char *names[] = {"a", "b", "c"};
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, max, 0);
	struct fake f;
	uint64_t seed = 42;
	int bad = 0, over = 0;

	fake_init(&f, 100 * BS);
	for (int i = 0; i < 2000; i++) {
		const char *name = names[rng_next(&seed) % 3];
		uint64_t gen = 1 + rng_next(&seed) % 2;
		uint64_t b = rng_next(&seed) % 100;
		size_t nb = 1 + rng_next(&seed) % 4;

		bad += !read_ok(dc, &f, name, gen, b * BS, nb * BS);
		over += stats(dc).bytes_on_disk > max;
	}
	CHECK(bad == 0);
	CHECK(over == 0);
	CHECK(stats(dc).evictions > 0);
	CHECK(stats(dc).hits > 0);
	CHECK(count_files(dir) <= 8);
	close_and_remove(dc, dir);
}

static void set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = {{t, 0}, {t, 0}};

	CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static void test_lru_order_survives_remount_through_mtimes(void)
{
	const uint64_t max = 3 * file_size("obj", BS);
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, max, 0);
	time_t now = time(NULL);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 3 * BS));
	dcache_free(dc);
	/* Block 1 is the oldest, then 2, then 0. */
	set_mtime(block_path(dir, "obj", 1, 1), now - 300);
	set_mtime(block_path(dir, "obj", 1, 2), now - 200);
	set_mtime(block_path(dir, "obj", 1, 0), now - 100);
	dc = open_cache(dir, max, 0);
	CHECK(block_ok(dc, &f, "obj", 1, 3));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(read_ok(dc, &f, "obj", 1, 2 * BS, 2 * BS));
	CHECK(block_ok(dc, &f, "obj", 1, 0));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(block_ok(dc, &f, "obj", 1, 1));
	CHECK(atomic_load(&f.calls) == 3);
	close_and_remove(dc, dir);
}

static void test_hit_refreshes_an_old_mtime(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	time_t now = time(NULL);
	struct fake f;
	struct stat st;
	char path[1024];

	fake_init(&f, 10 * BS);
	CHECK(block_ok(dc, &f, "obj", 1, 0));
	dcache_free(dc);
	snprintf(path, sizeof(path), "%s", block_path(dir, "obj", 1, 0));
	set_mtime(path, now - 3600);
	dc = open_cache(dir, BIG, 0);
	CHECK(block_ok(dc, &f, "obj", 1, 0));
	CHECK(stat(path, &st) == 0);
	CHECK(st.st_mtime >= now - 5);
	close_and_remove(dc, dir);
}

static void test_lower_limit_at_open_evicts_oldest_blocks(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	time_t now = time(NULL);
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	dcache_free(dc);
	for (uint64_t i = 0; i < 4; i++)
		set_mtime(block_path(dir, "obj", 1, i), now - 100 * (time_t)i);
	dc = open_cache(dir, 2 * file_size("obj", BS), 0);
	CHECK(stats(dc).bytes_on_disk == 2 * file_size("obj", BS));
	CHECK(stats(dc).evictions == 2);
	CHECK(count_files(dir) == 2);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 2 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	close_and_remove(dc, dir);
}

static void test_store_failures_do_not_fail_reads(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	char sub[512];
	struct fake f;

	/* Every subdirectory becomes a file: no block can be written, as root or not. */
	for (int i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%s/%02x", dir, i);
		CHECK(rmdir(sub) == 0);
		write_file(sub, "x", 1);
	}
	fake_init(&f, 10 * BS + 3);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 11 * BS));
	CHECK(read_ok(dc, &f, "obj", 1, 0, 11 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(stats(dc).store_errors == 22);
	CHECK(stats(dc).stores == 0);
	CHECK(stats(dc).bytes_on_disk == 0);
	close_and_remove(dc, dir);
}

static void test_stores_that_cannot_make_room_are_skipped(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, 10, 0);
	struct fake f;

	fake_init(&f, 10 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 2);
	CHECK(stats(dc).store_skips == 8);
	CHECK(stats(dc).store_errors == 0);
	CHECK(count_files(dir) == 0);
	dcache_free(dc);

	/* A limit of 0 caches nothing and still serves reads. */
	dc = open_cache(dir, 0, 0);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(count_files(dir) == 0);
	close_and_remove(dc, dir);
}

static void test_removed_subdirectory_is_made_again(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	char sub[512];
	struct fake f;

	for (int i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%s/%02x", dir, i);
		CHECK(rmdir(sub) == 0);
	}
	fake_init(&f, 10 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(stats(dc).stores == 4);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	close_and_remove(dc, dir);
}

static void test_crash_leftovers_and_foreign_files_are_deleted_at_open(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	char junk[5][600], keep[600];
	struct fake f;

	fake_init(&f, 10 * BS);
	CHECK(read_ok(dc, &f, "obj", 1, 0, 2 * BS));
	dcache_free(dc);
	snprintf(junk[0], sizeof(junk[0]), "%s/00/tmp.1234.5678", dir);
	snprintf(junk[1], sizeof(junk[1]), "%s/ab/tmp.99.1", dir);
	snprintf(junk[2], sizeof(junk[2]), "%s/ab/notes.txt", dir);
	/* A block name in the wrong subdirectory, and a file too small to be a block. */
	snprintf(junk[3], sizeof(junk[3]), "%s/ab/cd%030d", dir, 0);
	snprintf(junk[4], sizeof(junk[4]), "%s/cd/cd%030d", dir, 0);
	for (int i = 0; i < 5; i++)
		write_file(junk[i], "half a block", 12);
	/* A file at the top level is not ours to delete. */
	snprintf(keep, sizeof(keep), "%s/README", dir);
	write_file(keep, "mine", 4);

	dc = open_cache(dir, BIG, 0);
	for (int i = 0; i < 5; i++)
		CHECK(!exists(junk[i]));
	CHECK(exists(keep));
	/* Only the too small block counts as damage; the rest were never blocks. */
	CHECK(stats(dc).corrupt == 1);
	CHECK(stats(dc).bytes_on_disk == 2 * file_size("obj", BS));
	CHECK(read_ok(dc, &f, "obj", 1, 0, 2 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	close_and_remove(dc, dir);
}

static void test_temp_files_are_left_alone_while_another_cache_uses_the_dir(void)
{
	char *dir = make_tmpdir();
	struct dcache *a = open_cache(dir, BIG, 0), *b;
	char tmp[600];

	snprintf(tmp, sizeof(tmp), "%s/7f/tmp.1.2", dir);
	write_file(tmp, "being written", 13);
	b = open_cache(dir, BIG, 0);
	CHECK(exists(tmp));
	dcache_free(b);
	dcache_free(a);
	b = open_cache(dir, BIG, 0);
	CHECK(!exists(tmp));
	dcache_free(b);
	remove_tmpdir(dir);
}

static void test_block_evicted_by_another_cache_is_a_plain_miss(void)
{
	const uint64_t max = 4 * file_size("obj", BS);
	char *dir = make_tmpdir();
	struct dcache *a = open_cache(dir, max, 0), *b;
	struct fake f;

	fake_init(&f, 100 * BS);
	CHECK(read_ok(a, &f, "obj", 1, 0, 4 * BS));
	b = open_cache(dir, BIG, 0);
	CHECK(read_ok(b, &f, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(b).hits == 4);
	/* a makes room for four other blocks, deleting the files b indexed. */
	CHECK(read_ok(a, &f, "obj", 1, 10 * BS, 4 * BS));
	CHECK(stats(a).evictions == 4);
	CHECK(read_ok(b, &f, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 3);
	CHECK(stats(b).corrupt == 0);
	CHECK(stats(b).misses == 4);
	/* b stored them again for itself. */
	CHECK(read_ok(b, &f, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 3);
	dcache_free(a);
	dcache_free(b);
	remove_tmpdir(dir);
}

static void test_layer_stacks_under_the_memory_cache(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct dcache_layer layer = {.dc = dc, .inner = fake_fetch};
	struct bcache *bc = bcache_new(BS, 4 * BS);
	uint64_t seed;
	struct fake f;
	int bad = 0;

	fake_init(&f, 50 * BS + 21);
	layer.inner_arg = &f;
	/* Any offset and length: the memory cache asks the disk cache for whole blocks. The same
	 * reads twice, the second time after a remount. */
	for (int round = 0; round < 2; round++) {
		seed = 7;
		for (int i = 0; i < 3000; i++) {
			uint64_t off = rng_next(&seed) % (f.size + BS);
			size_t len = rng_next(&seed) % (6 * BS);
			size_t want = off >= f.size ? 0 : f.size - off < len ? f.size - off : len;
			unsigned char buf[6 * BS];
			ssize_t n;

			n = bcache_read(bc, "obj", 1, f.size, off, len, buf, dcache_layer_fetch,
					&layer);
			bad += n != (ssize_t)want;
			for (size_t k = 0; n > 0 && k < want; k++) {
				if (buf[k] != pattern("obj", 1, off + k)) {
					bad++;
					break;
				}
			}
		}
		/* A remount: both caches start again; the disk keeps its blocks. */
		bcache_free(bc);
		dcache_free(dc);
		if (round == 0) {
			CHECK(atomic_load(&f.calls) > 0);
			atomic_store(&f.calls, 0);
			dc = open_cache(dir, BIG, 0);
			layer.dc = dc;
			bc = bcache_new(BS, 4 * BS);
		}
	}
	CHECK(bad == 0);
	CHECK(atomic_load(&f.calls) == 0);
	CHECK(atomic_load(&f.bad_range) == 0);
	remove_tmpdir(dir);
}

/* Checks that n bytes from off of object@gen were scattered over iov in order. */
static bool iov_holds(const struct iovec *iov, int iovcnt, const char *object, uint64_t gen,
		      uint64_t off, size_t n)
{
	size_t pos = 0;

	for (int i = 0; i < iovcnt; i++)
		for (size_t j = 0; j < iov[i].iov_len && pos < n; j++, pos++)
			if (((unsigned char *)iov[i].iov_base)[j] !=
			    pattern(object, gen, off + pos))
				return false;
	return pos == n;
}

static void test_layer_fetches_straight_into_the_callers_buffers(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct dcache_layer layer = {.dc = dc, .inner = fake_fetch};
	unsigned char a[2 * BS], b[2 * BS], blk[4][BS];
	struct iovec two[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	struct iovec four[4] = {{blk[0], BS}, {blk[1], BS}, {blk[2], BS}, {blk[3], BS}};
	struct bcache *bc = bcache_new(BS, 1 << 20);
	struct fake f;

	fake_init(&f, 100 * BS);
	layer.inner_arg = &f;
	CHECK(block_ok(dc, &f, "obj", 1, 2));
	/* Buffers of two blocks each over blocks 0..3, of which 2 is on disk: blocks 0-1 are one
	 * run, block 3 another, which starts in the middle of the second buffer. */
	CHECK(dcache_layer_fetch(&layer, "obj", 1, 0, two, 2) == 4 * BS);
	CHECK(iov_holds(two, 2, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 3);
	CHECK(atomic_load(&f.last_iovcnt) == 1);
	CHECK(atomic_load(&f.last_iov_base[0]) == (void *)(b + BS));
	CHECK(atomic_load(&f.last_iov_len[0]) == BS);
	/* Now all four are on disk, and land in buffers of one block each. */
	CHECK(dcache_layer_fetch(&layer, "obj", 1, 0, four, 4) == 4 * BS);
	CHECK(iov_holds(four, 4, "obj", 1, 0, 4 * BS));
	CHECK(atomic_load(&f.calls) == 3);

	/* Under the memory cache, a run of missing blocks reaches inner as one call with the
	 * memory cache's block buffers. */
	CHECK(bcache_read(bc, "obj", 1, f.size, 10 * BS, 4 * BS, NULL, dcache_layer_fetch,
			  &layer) == 4 * BS);
	CHECK(atomic_load(&f.calls) == 4);
	CHECK(atomic_load(&f.last_iovcnt) == 4);
	for (int i = 0; i < 4; i++)
		CHECK(atomic_load(&f.last_iov_len[i]) == BS);
	CHECK(stats(dc).stores == 1 + 3 + 4);
	CHECK(atomic_load(&f.bad_range) == 0);
	bcache_free(bc);
	close_and_remove(dc, dir);
}

static void test_layer_serves_buffers_that_split_blocks(void)
{
	char *dir = make_tmpdir();
	struct dcache *dc = open_cache(dir, BIG, 0);
	struct dcache_layer layer = {.dc = dc, .inner = fake_fetch};
	unsigned char a[BS + 10], b[2 * BS - 10], c[BS + 3], d[8];
	struct iovec v[4] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}, {d, sizeof(d)}};
	struct fake f;

	/* The object ends 3 bytes into the fifth block, in the third buffer. */
	fake_init(&f, 4 * BS + 3);
	layer.inner_arg = &f;
	CHECK(dcache_layer_fetch(&layer, "obj", 1, 0, v, 3) == 4 * BS + 3);
	CHECK(iov_holds(v, 3, "obj", 1, 0, 4 * BS + 3));
	CHECK(atomic_load(&f.calls) == 1);
	memset(a, 0, sizeof(a));
	memset(c, 0, sizeof(c));
	/* From disk, with a buffer to spare past the end. */
	CHECK(dcache_layer_fetch(&layer, "obj", 1, 0, v, 4) == 4 * BS + 3);
	CHECK(iov_holds(v, 3, "obj", 1, 0, 4 * BS + 3));
	CHECK(atomic_load(&f.calls) == 1);
	CHECK(stats(dc).hits == 5);
	CHECK(atomic_load(&f.bad_range) == 0);
	close_and_remove(dc, dir);
}

struct reader {
	pthread_t thread;
	struct dcache *dc;
	struct fake *f;
	uint64_t seed;
	int bad;
};

static void *reader_main(void *p)
{
	static const char *names[] = {"x", "y"};
	struct reader *r = p;

	for (int i = 0; i < 1500; i++) {
		const char *name = names[rng_next(&r->seed) % 2];
		uint64_t gen = 1 + rng_next(&r->seed) % 2;
		uint64_t b = rng_next(&r->seed) % 42;
		size_t nb = 1 + rng_next(&r->seed) % 4;
		uint64_t off = b * BS;
		size_t len = nb * BS;

		if (off < r->f->size && off + len > r->f->size)
			len = r->f->size - off;
		r->bad += !read_ok(r->dc, r->f, name, gen, off, len);
	}
	return NULL;
}

#define NREADERS 8

static void test_concurrent_readers_of_two_caches_on_one_dir_get_correct_bytes(void)
{
	const uint64_t max = 24 * file_size("x", BS);
	char *dir = make_tmpdir();
	struct dcache *a = open_cache(dir, max, 0), *b = open_cache(dir, max, 0);
	struct reader r[NREADERS];
	struct fake f;

	/* Half the threads use each cache, as two mounts would, with evictions all along. */
	fake_init(&f, 40 * BS + 3);
	for (int i = 0; i < NREADERS; i++) {
		r[i] = (struct reader){.dc = i % 2 ? a : b, .f = &f, .seed = 0x9e37 + i};
		pthread_create(&r[i].thread, NULL, reader_main, &r[i]);
	}
	for (int i = 0; i < NREADERS; i++) {
		pthread_join(r[i].thread, NULL);
		CHECK(r[i].bad == 0);
	}
	/* No reader ever saw a torn or mixed block. */
	CHECK(stats(a).corrupt == 0);
	CHECK(stats(b).corrupt == 0);
	CHECK(stats(a).hits > 0);
	CHECK(stats(a).evictions > 0);
	CHECK(stats(a).bytes_on_disk <= max);
	CHECK(stats(b).bytes_on_disk <= max);
	CHECK(atomic_load(&f.bad_range) == 0);
	dcache_free(a);
	dcache_free(b);
	remove_tmpdir(dir);
}

static uint64_t fs_avail(const char *dir)
{
	struct statvfs sv;

	CHECK(statvfs(dir, &sv) == 0);
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static void test_free_space_floor_is_kept(void)
{
	const size_t bs = 64 << 10;
	const uint64_t floor = 2 << 20;
	char *dir = make_tmpdir();
	char why[256] = "";
	struct dcache *dc;
	struct fake f;
	int bad = 0, below = 0;

	if (mount("tmpfs", dir, "tmpfs", 0, "size=4m,mode=0700") < 0) {
		printf("skip test_free_space_floor_is_kept: cannot mount a tmpfs: %s\n",
		       strerror(errno));
		rmdir(dir);
		free(dir);
		return;
	}
	dc = dcache_new(dir, bs, BIG, floor, why, sizeof(why));
	CHECK(dc != NULL);
	if (!dc)
		goto out;
	fake_init(&f, 64 * bs);
	f.block_size = bs;
	for (uint64_t i = 0; i < 64; i++) {
		unsigned char *buf = malloc(bs);

		bad += dcache_fetch(dc, "obj", 1, i * bs, bs, buf, fake_fetch, &f) != (ssize_t)bs;
		for (size_t k = 0; k < bs; k++) {
			if (buf[k] != pattern("obj", 1, i * bs + k)) {
				bad++;
				break;
			}
		}
		free(buf);
		below += fs_avail(dir) < floor;
	}
	CHECK(bad == 0);
	CHECK(below == 0);
	/* About 2 MiB of 64 KiB blocks fit above the floor; the rest were made room for. */
	CHECK(stats(dc).evictions > 0);
	CHECK(stats(dc).stores == 64);
	CHECK(stats(dc).bytes_on_disk <= 2 << 20);
	CHECK(stats(dc).bytes_on_disk >= 1 << 20);
	/* The most recent block is still there. */
	{
		unsigned char *buf = malloc(bs);

		CHECK(dcache_fetch(dc, "obj", 1, 63 * bs, bs, buf, fake_fetch, &f) == (ssize_t)bs);
		CHECK(atomic_load(&f.calls) == 64);
		free(buf);
	}
	dcache_free(dc);
out:
	CHECK(umount2(dir, MNT_DETACH) == 0);
	rmdir(dir);
	free(dir);
}

static const struct test tests[] = {
	TEST(test_new_rejects_bad_arguments_with_a_reason),
	TEST(test_blocks_come_back_byte_identical_at_every_alignment),
	TEST(test_second_fetch_of_same_range_makes_no_inner_call),
	TEST(test_each_run_of_missing_blocks_is_one_inner_call),
	TEST(test_block_file_names_do_not_change),
	TEST(test_block_file_written_by_hand_is_served),
	TEST(test_blocks_survive_remount),
	TEST(test_short_last_block_marks_the_end_of_the_object),
	TEST(test_inner_error_propagates_and_stores_nothing),
	TEST(test_flipped_data_byte_is_detected_counted_and_refetched),
	TEST(test_flipped_header_or_name_byte_is_detected_counted_and_refetched),
	TEST(test_truncated_block_is_detected_counted_and_refetched),
	TEST(test_file_holding_another_key_is_a_miss_not_damage),
	TEST(test_different_generation_misses),
	TEST(test_size_bound_holds_and_evicts_least_recently_used),
	TEST(test_size_bound_holds_under_many_reads),
	TEST(test_lru_order_survives_remount_through_mtimes),
	TEST(test_hit_refreshes_an_old_mtime),
	TEST(test_lower_limit_at_open_evicts_oldest_blocks),
	TEST(test_store_failures_do_not_fail_reads),
	TEST(test_stores_that_cannot_make_room_are_skipped),
	TEST(test_removed_subdirectory_is_made_again),
	TEST(test_crash_leftovers_and_foreign_files_are_deleted_at_open),
	TEST(test_temp_files_are_left_alone_while_another_cache_uses_the_dir),
	TEST(test_block_evicted_by_another_cache_is_a_plain_miss),
	TEST(test_layer_stacks_under_the_memory_cache),
	TEST(test_layer_fetches_straight_into_the_callers_buffers),
	TEST(test_layer_serves_buffers_that_split_blocks),
	TEST(test_concurrent_readers_of_two_caches_on_one_dir_get_correct_bytes),
	TEST(test_free_space_floor_is_kept),
};

int main(void)
{
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]));
}
