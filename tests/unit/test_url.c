/* Unit tests of gcs/url.c: object names and query values reach GCS encoded as it expects. */
#include "check.h"

#include <stdlib.h>

#include "gcs/url.h"

static char *enc(const char *s, enum gcs_enc mode)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	if (gcs_url_encode(&b, s, mode)) {
		buf_free(&b);
		return NULL;
	}
	return b.data ? b.data : strdup("");
}

static void segment_encoding_escapes_slash_and_reserved(void)
{
	char *s = enc("dir/a b+c%d#e?f.txt", GCS_ENC_SEGMENT);
	CHECK_STR(s, "dir%2Fa%20b%2Bc%25d%23e%3Ff.txt");
	free(s);
}

static void path_encoding_keeps_slash(void)
{
	char *s = enc("dir/sub/a b.txt", GCS_ENC_PATH);
	CHECK_STR(s, "dir/sub/a%20b.txt");
	free(s);
}

static void unreserved_characters_pass_unchanged(void)
{
	char *s = enc("AZaz09-._~", GCS_ENC_SEGMENT);
	CHECK_STR(s, "AZaz09-._~");
	free(s);
}

static void utf8_bytes_are_percent_encoded(void)
{
	char *s = enc("caf\xc3\xa9/\xe6\x97\xa5", GCS_ENC_PATH);
	CHECK_STR(s, "caf%C3%A9/%E6%97%A5");
	free(s);
}

static void empty_name_encodes_to_empty(void)
{
	char *s = enc("", GCS_ENC_SEGMENT);
	CHECK_STR(s, "");
	free(s);
}

static void query_parameters_join_with_question_mark_then_ampersand(void)
{
	struct buf b;

	buf_init(&b, 4096);
	buf_append_str(&b, "http://h/o");
	CHECK(gcs_url_add_query(&b, "prefix", "a/b c/") == 0);
	CHECK(gcs_url_add_query(&b, "delimiter", "/") == 0);
	CHECK_STR(b.data, "http://h/o?prefix=a%2Fb%20c%2F&delimiter=%2F");
	buf_free(&b);
}

static void bucket_names_are_validated(void)
{
	CHECK(gcs_bucket_name_valid("my-bucket"));
	CHECK(gcs_bucket_name_valid("a.b_c-1"));
	CHECK(!gcs_bucket_name_valid("ab"));
	CHECK(!gcs_bucket_name_valid("Upper"));
	CHECK(!gcs_bucket_name_valid("-leading"));
	CHECK(!gcs_bucket_name_valid("trailing-"));
	CHECK(!gcs_bucket_name_valid("has/slash"));
	CHECK(!gcs_bucket_name_valid("has space"));
	CHECK(!gcs_bucket_name_valid("q?x"));
}

static void endpoints_normalize_like_client_libraries(void)
{
	char *e = gcs_endpoint_normalize("localhost:9000");
	CHECK_STR(e, "http://localhost:9000");
	free(e);
	e = gcs_endpoint_normalize("https://storage.googleapis.com/");
	CHECK_STR(e, "https://storage.googleapis.com");
	free(e);
	e = gcs_endpoint_normalize("http://127.0.0.1:1234");
	CHECK_STR(e, "http://127.0.0.1:1234");
	free(e);
	CHECK(gcs_endpoint_normalize("ftp://host") == NULL);
	CHECK(gcs_endpoint_normalize("http://") == NULL);
	CHECK(gcs_endpoint_normalize("http://host/path") == NULL);
}

static void buffer_refuses_growth_past_its_ceiling(void)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK(buf_append(&b, "12345678", 8) == 0);
	CHECK(buf_append(&b, "9", 1) < 0);
	CHECK(b.len == 8);
	CHECK_STR(b.data, "12345678");
	buf_free(&b);
}

int main(void)
{
	RUN(segment_encoding_escapes_slash_and_reserved);
	RUN(path_encoding_keeps_slash);
	RUN(unreserved_characters_pass_unchanged);
	RUN(utf8_bytes_are_percent_encoded);
	RUN(empty_name_encodes_to_empty);
	RUN(query_parameters_join_with_question_mark_then_ampersand);
	RUN(bucket_names_are_validated);
	RUN(endpoints_normalize_like_client_libraries);
	RUN(buffer_refuses_growth_past_its_ceiling);
	return CHECK_DONE();
}
