/* Block files of the disk cache (private to cache/): how a block's key names its file, the file
 * format, reading and verifying a file, and writing one in place through a temporary file. The
 * index, the limits and the locking are disk.c's; see blockfile.c for the names and the format.
 *
 * Thread-safety: no state of its own; any number of threads may call these at once. The file
 * functions do I/O, so callers do not hold locks around them.
 *
 * Ownership: a key points to the caller's object name and keeps no pointer after a call. */
#ifndef GCSMOUNT_CACHE_BLOCKFILE_I_H
#define GCSMOUNT_CACHE_BLOCKFILE_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header bytes before the object name. */
#define BLOCKFILE_HDR 44
/* GCS names are at most 1024 bytes; the caller adds the bucket. Longer names bypass the cache. */
#define BLOCKFILE_MAX_NAME 4096
/* The header stores lengths in 32 bits; 1 GiB leaves the ssize_t arithmetic far from limits. */
#define BLOCKFILE_MAX_BLOCK (1UL << 30)
/* Subdirectories "00" to "ff": a name's first two hex digits. */
#define BLOCKFILE_FANOUT 256
/* Temporary files are "xx/tmp.PID.SEQ". */
#define BLOCKFILE_TMP_PREFIX "tmp."
/* "xx/" + 32 hex digits, or "xx/tmp.PID.SEQ", and the NUL. */
#define BLOCKFILE_PATH_MAX 64

/* Hash state after the object name, shared by all blocks of a read. */
struct blockfile_obj {
	const char *object;
	size_t len;
	uint64_t generation;
	size_t block_size;
	uint64_t s1, s2;
};

/* One block's key and file name (h1 and h2, and path relative to the cache directory). */
struct blockfile_key {
	const char *object;
	size_t object_len;
	uint64_t generation;
	uint64_t index;
	size_t block_size;
	uint64_t h1, h2;
	char path[BLOCKFILE_PATH_MAX];
};

enum blockfile_verdict {
	BLOCKFILE_SOUND,   /* the block, verified */
	BLOCKFILE_DAMAGED, /* fails verification */
	BLOCKFILE_FOREIGN, /* a sound block of another key */
	BLOCKFILE_FAILED,  /* could not be checked (out of memory) */
};

/* Hashes the object name (len bytes, at most BLOCKFILE_MAX_NAME) for blocks of block_size bytes
 * (at most BLOCKFILE_MAX_BLOCK) of the given generation. */
void blockfile_obj_init(struct blockfile_obj *o, const char *object, size_t len,
			uint64_t generation, size_t block_size);

/* Fills k with the key and file name of block `index` of o. */
void blockfile_key_init(const struct blockfile_obj *o, uint64_t index, struct blockfile_key *k);

/* Writes the path of the file named h1 and h2 into out (BLOCKFILE_PATH_MAX bytes). */
void blockfile_path(char *out, uint64_t h1, uint64_t h2);

/* Parses a file name found in subdirectory sub; false if it cannot be a block's. */
bool blockfile_parse_name(const char *name, unsigned int sub, uint64_t *h1, uint64_t *h2);

/* Size of the file holding len bytes of k's block. */
static inline uint64_t blockfile_size(const struct blockfile_key *k, size_t len)
{
	return BLOCKFILE_HDR + (uint64_t)k->object_len + len;
}

/* Reads and verifies the block file open in fd against k. On BLOCKFILE_SOUND, *got bytes of the
 * block (at most want) are in dst; otherwise dst may have been written. */
enum blockfile_verdict blockfile_read(int fd, const struct blockfile_key *k, size_t want,
				      unsigned char *dst, size_t *got);

/* Writes len bytes of k's block to a temporary file in its subdirectory of the directory root_fd
 * (made again if it was removed) and renames it to k->path. seq makes the temporary name unique
 * in this cache; the pid and O_EXCL keep other caches apart. Returns 0 or -errno; on error no
 * temporary file is left. */
int blockfile_write(int root_fd, const struct blockfile_key *k, uint64_t seq,
		    const unsigned char *data, size_t len);

#endif
