/* 64-bit FNV-1a and a 64-bit finaliser, for hash tables and for names that must not change
 * between versions (inode numbers, disk cache file names). Pure and thread-safe. */
#ifndef GCSMOUNT_UTIL_HASH_H
#define GCSMOUNT_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a's standard offset basis: the state before any byte is hashed. */
#define HASH_FNV1A64_BASIS 0xcbf29ce484222325ULL
#define HASH_FNV1A64_PRIME 0x100000001b3ULL

/* Extends the FNV-1a state h (HASH_FNV1A64_BASIS to start, or another seed) over n bytes. */
static inline uint64_t hash_fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= HASH_FNV1A64_PRIME;
	}
	return h;
}

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit. FNV-1a alone leaves
 * its low bits depending only on the low bits of each byte, and its high bits weakly on the last
 * bytes, so a bucket mask or a name prefix taken from it would crowd. */
static inline uint64_t hash_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#endif
