/* Unit tests of util/crc32c.c against published check values and GCS's text form. */
#include "check.h"

#include <stdlib.h>

#include "util/crc32c.h"

static void standard_check_value_matches(void)
{
	CHECK(crc32c_update(0, "123456789", 9) == 0xE3069283u);
	CHECK(crc32c_update(0, "", 0) == 0);
}

static void rfc3720_vectors_match(void)
{
	unsigned char zeros[32] = {0}, ones[32], inc[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	CHECK(crc32c_update(0, zeros, 32) == 0x8A9136AAu);
	CHECK(crc32c_update(0, ones, 32) == 0x62A8AB43u);
	CHECK(crc32c_update(0, inc, 32) == 0x46DD794Eu);
}

static void incremental_updates_equal_one_pass(void)
{
	unsigned char data[1000];
	uint32_t whole, parts = 0;

	for (int i = 0; i < 1000; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	whole = crc32c_update(0, data, sizeof(data));
	for (size_t off = 0; off < sizeof(data);) {
		size_t n = 1 + off % 13;
		if (n > sizeof(data) - off)
			n = sizeof(data) - off;
		parts = crc32c_update(parts, data + off, n);
		off += n;
	}
	CHECK(whole == parts);
	/* The same bytes give the same CRC whether or not they start 8-byte aligned. */
	unsigned char *copy = malloc(1008);
	memcpy(copy, data + 1, 999);
	CHECK(crc32c_update(0, data + 1, 999) == crc32c_update(0, copy, 999));
	free(copy);
}

static void base64_form_is_big_endian(void)
{
	char out[9];

	/* GCS shows the CRC32C of "hello world" as yZRlqg==. */
	crc32c_base64(crc32c_update(0, "hello world", 11), out);
	CHECK_STR(out, "yZRlqg==");
	crc32c_base64(0, out);
	CHECK_STR(out, "AAAAAA==");
}

int main(void)
{
	RUN(standard_check_value_matches);
	RUN(rfc3720_vectors_match);
	RUN(incremental_updates_equal_one_pass);
	RUN(base64_form_is_big_endian);
	return CHECK_DONE();
}
