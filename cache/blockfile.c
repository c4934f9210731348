/* Block files of the disk cache.
 *
 * Layout: DIR/xx/NAME for each block, where NAME is 32 hex digits: two 64-bit FNV-1a hashes
 * (different seeds, each passed through a mixing finaliser) of the object name, block size,
 * generation and block index, and xx is NAME's first two digits (256 fan-out subdirectories keep
 * directories small). Temporary files are DIR/xx/tmp.PID.SEQ. Names are part of the format:
 * changing how they are computed orphans every cache on disk.
 *
 * A block file is a 44-byte header, then the object name (no NUL), then the data. Header fields
 * are little-endian:
 *     0  magic "GMDC"          4  format version (1)
 *     8  generation (u64)     16  block index (u64)
 *    24  block size (u32)     28  object name length (u32)
 *    32  data length (u32)    36  CRC32C of the data
 *    40  CRC32C of bytes 0..39 and the object name
 * A file is damaged if it is shorter or longer than the header says, if either CRC fails, or if
 * the magic, version or lengths are impossible. A sound header with a different key is a hash
 * collision (foreign), not damage. A block shorter than the block size is the object's last.
 *
 * Writes go to a temporary file created with O_EXCL, then rename() puts it in place, so a crash
 * leaves only temporary files and a reader, in this process or another, opens either a whole old
 * file or a whole new one. Files are not fsync'd: after a power loss a torn block fails its CRC.
 */
#include "cache/blockfile_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/hash.h"

#define BLOCKFILE_MAGIC "GMDC"
#define BLOCKFILE_VERSION 1
#define BLOCKFILE_TMP_TRIES 16

/* The two halves of a name are FNV-1a from two seeds: the standard basis and another. */
#define BLOCKFILE_FNV_SEED1 HASH_FNV1A64_BASIS
#define BLOCKFILE_FNV_SEED2 0x62b821756295c58dULL

static void blockfile_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void blockfile_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t blockfile_get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t blockfile_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void blockfile_path(char *out, uint64_t h1, uint64_t h2)
{
	snprintf(out, BLOCKFILE_PATH_MAX, "%02x/%016llx%016llx", (unsigned int)(h1 >> 56),
		 (unsigned long long)h1, (unsigned long long)h2);
}

void blockfile_obj_init(struct blockfile_obj *o, const char *object, size_t len,
			uint64_t generation, size_t block_size)
{
	o->object = object;
	o->len = len;
	o->generation = generation;
	o->block_size = block_size;
	o->s1 = hash_fnv1a64(BLOCKFILE_FNV_SEED1, object, len);
	o->s2 = hash_fnv1a64(BLOCKFILE_FNV_SEED2, object, len);
}

/* The fixed-size fields follow the name, so the input is unambiguous. They are hashed in a fixed
 * byte order so that names do not depend on the machine. Each half is finalised: FNV-1a's high
 * bits, which pick the subdirectory, depend weakly on the last bytes hashed (the block index), so
 * the names would crowd into few directories. */
void blockfile_key_init(const struct blockfile_obj *o, uint64_t index, struct blockfile_key *k)
{
	unsigned char tail[20];

	blockfile_put32(tail, (uint32_t)o->block_size);
	blockfile_put64(tail + 4, o->generation);
	blockfile_put64(tail + 12, index);
	k->object = o->object;
	k->object_len = o->len;
	k->generation = o->generation;
	k->index = index;
	k->block_size = o->block_size;
	k->h1 = hash_mix64(hash_fnv1a64(o->s1, tail, sizeof(tail)));
	k->h2 = hash_mix64(hash_fnv1a64(o->s2, tail, sizeof(tail)));
	blockfile_path(k->path, k->h1, k->h2);
}

/* Parses a block file name: 32 lowercase hex digits, the first two those of its subdirectory. */
bool blockfile_parse_name(const char *name, unsigned int sub, uint64_t *h1, uint64_t *h2)
{
	uint64_t h[2] = {0, 0};

	if (strlen(name) != 32)
		return false;
	for (int i = 0; i < 32; i++) {
		char c = name[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else
			return false;
		h[i / 16] = h[i / 16] << 4 | d;
	}
	if (h[0] >> 56 != sub)
		return false;
	*h1 = h[0];
	*h2 = h[1];
	return true;
}

/* Reads up to n bytes at off, stopping early only at end of file. Returns the count or -errno. */
static ssize_t blockfile_pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static int blockfile_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

enum blockfile_verdict blockfile_read(int fd, const struct blockfile_key *k, size_t want,
				      unsigned char *dst, size_t *got)
{
	unsigned char hdr[BLOCKFILE_HDR];
	unsigned char *name = NULL, *data = NULL;
	enum blockfile_verdict v = BLOCKFILE_DAMAGED;
	uint32_t name_len, data_len;
	struct stat st;
	uint32_t crc;

	if (fstat(fd, &st) < 0 || st.st_size < BLOCKFILE_HDR)
		goto out;
	if (blockfile_pread_full(fd, hdr, BLOCKFILE_HDR, 0) != BLOCKFILE_HDR)
		goto out;
	name_len = blockfile_get32(hdr + 28);
	data_len = blockfile_get32(hdr + 32);
	if (memcmp(hdr, BLOCKFILE_MAGIC, 4) != 0 || blockfile_get32(hdr + 4) != BLOCKFILE_VERSION ||
	    name_len > BLOCKFILE_MAX_NAME || data_len == 0 || data_len > BLOCKFILE_MAX_BLOCK ||
	    (uint64_t)st.st_size != (uint64_t)BLOCKFILE_HDR + name_len + data_len)
		goto out;

	v = BLOCKFILE_FAILED;
	name = malloc(name_len ? name_len : 1);
	if (!name)
		goto out;
	v = BLOCKFILE_DAMAGED;
	if (blockfile_pread_full(fd, name, name_len, BLOCKFILE_HDR) != (ssize_t)name_len)
		goto out;
	crc = crc32c_update(0, hdr, 40);
	crc = crc32c_update(crc, name, name_len);
	if (crc != blockfile_get32(hdr + 40))
		goto out;

	v = BLOCKFILE_FOREIGN;
	if (blockfile_get64(hdr + 8) != k->generation || blockfile_get64(hdr + 16) != k->index ||
	    blockfile_get32(hdr + 24) != k->block_size || name_len != k->object_len ||
	    memcmp(name, k->object, name_len) != 0)
		goto out;

	/* A sound header of our block size cannot hold more than a block. */
	v = BLOCKFILE_DAMAGED;
	if (data_len > k->block_size)
		goto out;
	/* Verification needs the whole block; a range that ends early gets a bounce buffer. */
	if (data_len <= want) {
		data = dst;
	} else {
		v = BLOCKFILE_FAILED;
		data = malloc(data_len);
		if (!data)
			goto out;
		v = BLOCKFILE_DAMAGED;
	}
	if (blockfile_pread_full(fd, data, data_len, BLOCKFILE_HDR + (off_t)name_len) !=
	    (ssize_t)data_len)
		goto out;
	if (crc32c_update(0, data, data_len) != blockfile_get32(hdr + 36))
		goto out;
	*got = data_len < want ? data_len : want;
	if (data != dst)
		memcpy(dst, data, *got);
	v = BLOCKFILE_SOUND;
out:
	if (data != dst)
		free(data);
	free(name);
	return v;
}

int blockfile_write(int root_fd, const struct blockfile_key *k, uint64_t seq,
		    const unsigned char *data, size_t len)
{
	unsigned char *head = NULL;
	char tmp[BLOCKFILE_PATH_MAX];
	bool made_dir = false;
	int fd = -1, rc;

	head = malloc(BLOCKFILE_HDR + k->object_len);
	if (!head)
		return -ENOMEM;
	memcpy(head, BLOCKFILE_MAGIC, 4);
	blockfile_put32(head + 4, BLOCKFILE_VERSION);
	blockfile_put64(head + 8, k->generation);
	blockfile_put64(head + 16, k->index);
	blockfile_put32(head + 24, (uint32_t)k->block_size);
	blockfile_put32(head + 28, (uint32_t)k->object_len);
	blockfile_put32(head + 32, (uint32_t)len);
	blockfile_put32(head + 36, crc32c_update(0, data, len));
	memcpy(head + BLOCKFILE_HDR, k->object, k->object_len);
	blockfile_put32(head + 40,
			crc32c_update(crc32c_update(0, head, 40), k->object, k->object_len));

	for (int i = 0; i < BLOCKFILE_TMP_TRIES; i++) {
		/* seq is unique in this cache; the pid and O_EXCL keep other caches apart. */
		snprintf(tmp, sizeof(tmp), "%.2s/" BLOCKFILE_TMP_PREFIX "%x.%llx", k->path,
			 (unsigned int)getpid(),
			 (unsigned long long)(seq + (uint64_t)i * 0x9e3779b97f4a7c15ULL));
		fd = openat(root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		if (fd >= 0)
			break;
		if (errno == ENOENT && !made_dir) {
			/* Someone removed the subdirectory; make it again once. */
			char sub[3] = {k->path[0], k->path[1], 0};

			made_dir = true;
			mkdirat(root_fd, sub, 0700);
			i--;
			continue;
		}
		if (errno != EEXIST)
			break;
	}
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = blockfile_write_full(fd, head, BLOCKFILE_HDR + k->object_len);
	if (!rc)
		rc = blockfile_write_full(fd, data, len);
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && renameat(root_fd, tmp, root_fd, k->path) < 0)
		rc = -errno;
	if (rc)
		unlinkat(root_fd, tmp, 0);
out:
	free(head);
	return rc;
}
