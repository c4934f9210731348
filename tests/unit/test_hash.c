/* Unit tests of util/hash.h: FNV-1a against its published test vectors, and the finaliser
 * against known values. Names on disk and inode numbers are built from these, so they must not
 * drift. */
#include "check.h"

#include <stdint.h>

#include "util/hash.h"

static void fnv1a64_matches_the_published_vectors(void)
{
	CHECK(hash_fnv1a64(HASH_FNV1A64_BASIS, "", 0) == 0xcbf29ce484222325ULL);
	CHECK(hash_fnv1a64(HASH_FNV1A64_BASIS, "a", 1) == 0xaf63dc4c8601ec8cULL);
	CHECK(hash_fnv1a64(HASH_FNV1A64_BASIS, "foobar", 6) == 0x85944171f73967e8ULL);
}

static void fnv1a64_continues_from_a_state_or_another_seed(void)
{
	uint64_t foo = hash_fnv1a64(HASH_FNV1A64_BASIS, "foo", 3);

	CHECK(hash_fnv1a64(foo, "bar", 3) == 0x85944171f73967e8ULL);
	CHECK(hash_fnv1a64(0x62b821756295c58dULL, "obj", 3) == 0x522bc1768c5e25b2ULL);
}

static void mix64_matches_known_values(void)
{
	CHECK(hash_mix64(0) == 0);
	CHECK(hash_mix64(1) == 0xb456bcfc34c2cb2cULL);
	CHECK(hash_mix64(0xcbf29ce484222325ULL) == 0xefd01f60ba992926ULL);
	CHECK(hash_mix64(UINT64_MAX) == 0x64b5720b4b825f21ULL);
}

int main(void)
{
	RUN(fnv1a64_matches_the_published_vectors);
	RUN(fnv1a64_continues_from_a_state_or_another_seed);
	RUN(mix64_matches_known_values);
	return CHECK_DONE();
}
