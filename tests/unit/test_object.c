/* Unit tests of gcs/object.c and gcs/errbody.c: metadata, list pages and error bodies parse
 * into what the filesystem shows. */
#include "check.h"

#include <errno.h>
#include <sys/stat.h>

#include "gcs/errbody.h"
#include "gcs/object.h"

#define S(x) x, sizeof(x) - 1

static void object_fields_parse_from_strings(void)
{
	struct gcs_object o;
	int rc = gcs_object_parse(
		S("{\"name\":\"dir/a b.txt\",\"size\":\"5000\",\"generation\":\"1717495200123456\","
		  "\"metageneration\":\"3\",\"updated\":\"2024-06-05T08:00:00.250Z\"}"),
		&o);

	CHECK(rc == 0);
	CHECK_STR(o.name, "dir/a b.txt");
	CHECK(o.size == 5000);
	CHECK(o.generation == 1717495200123456ull);
	CHECK(o.metageneration == 3);
	CHECK(o.updated.tv_sec == 1717574400);
	CHECK(o.updated.tv_nsec == 250000000);
	CHECK(o.mtime.tv_sec == o.updated.tv_sec);
	CHECK(!o.has_mode && !o.has_uid && !o.has_gid && !o.is_symlink);
	gcs_object_clear(&o);
}

static void crc32c_and_content_type_are_read(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"11\",\"generation\":\"7\","
				 "\"crc32c\":\"yZRlqg==\",\"contentType\":\"text/plain\","
				 "\"metadata\":{\"k\":\"v\"}}"),
			       &o) == 0);
	CHECK(o.has_crc32c && o.crc32c == 0xc99465aau);
	CHECK_STR(o.content_type, "text/plain");
	CHECK_STR(o.metadata_json, "{\"k\":\"v\"}");
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
				 "\"crc32c\":\"bogus\"}"),
			       &o) == 0);
	CHECK(!o.has_crc32c);
	gcs_object_clear(&o);
}

static void goog_reserved_mtime_overrides_updated(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
				 "\"updated\":\"2024-06-05T08:00:00Z\",\"metadata\":{"
				 "\"goog-reserved-file-mtime\":\"1717495100\","
				 "\"gcsfuse_mtime\":\"2020-01-01T00:00:00Z\"}}"),
			       &o) == 0);
	CHECK(o.mtime.tv_sec == 1717495100);
	CHECK(o.mtime.tv_nsec == 0);
	gcs_object_clear(&o);
}

static void gcsfuse_and_rclone_mtimes_are_read(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
				 "\"updated\":\"2024-06-05T08:00:00Z\",\"metadata\":{"
				 "\"gcsfuse_mtime\":\"2024-06-04T09:58:20.123456789Z\"}}"),
			       &o) == 0);
	CHECK(o.mtime.tv_sec == 1717495100);
	CHECK(o.mtime.tv_nsec == 123456789);
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
				 "\"updated\":\"2024-06-05T08:00:00Z\",\"metadata\":{"
				 "\"mtime\":\"2024-06-04T11:58:20.5+02:00\"}}"),
			       &o) == 0);
	CHECK(o.mtime.tv_sec == 1717495100);
	CHECK(o.mtime.tv_nsec == 500000000);
	gcs_object_clear(&o);
}

static void posix_mode_uid_gid_are_read_and_validated(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(
		      S("{\"name\":\"f\",\"size\":\"0\",\"generation\":\"1\",\"metadata\":{"
			"\"goog-reserved-posix-mode\":\"750\","
			"\"goog-reserved-posix-uid\":\"1001\","
			"\"goog-reserved-posix-gid\":\"100\"}}"),
		      &o) == 0);
	CHECK(o.has_mode && o.mode == 0750);
	CHECK(o.has_uid && o.uid == 1001);
	CHECK(o.has_gid && o.gid == 100);
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(
		      S("{\"name\":\"f\",\"size\":\"0\",\"generation\":\"1\",\"metadata\":{"
			"\"goog-reserved-posix-mode\":\"rwx\","
			"\"goog-reserved-posix-uid\":\"-5\","
			"\"goog-reserved-posix-gid\":\"12x\"}}"),
		      &o) == 0);
	CHECK(!o.has_mode && !o.has_uid && !o.has_gid);
	gcs_object_clear(&o);
}

static void gcsfuse_mtime_adds_nanoseconds_to_the_same_second(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
				 "\"metadata\":{\"goog-reserved-file-mtime\":\"1717495100\","
				 "\"gcsfuse_mtime\":\"2024-06-04T09:58:20.123456789Z\"}}"),
			       &o) == 0);
	CHECK(o.mtime.tv_sec == 1717495100);
	CHECK(o.mtime.tv_nsec == 123456789);
	gcs_object_clear(&o);
}

static void special_bits_and_file_types_are_read_from_the_mode(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(S("{\"name\":\"d/\",\"size\":\"0\",\"generation\":\"1\","
				 "\"metadata\":{\"goog-reserved-posix-mode\":\"1777\"}}"),
			       &o) == 0);
	CHECK(o.has_mode && o.mode == 01777 && o.special_type == 0);
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(S("{\"name\":\"p\",\"size\":\"0\",\"generation\":\"1\","
				 "\"metadata\":{\"goog-reserved-posix-mode\":\"10640\"}}"),
			       &o) == 0);
	CHECK(o.has_mode && o.mode == 0640 && o.special_type == S_IFIFO);
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(S("{\"name\":\"null\",\"size\":\"0\",\"generation\":\"1\","
				 "\"metadata\":{\"goog-reserved-posix-mode\":\"20666\","
				 "\"gcsmount-rdev\":\"259\"}}"),
			       &o) == 0);
	CHECK(o.special_type == S_IFCHR && o.mode == 0666 && o.rdev == 259);
	gcs_object_clear(&o);

	/* A regular file's type bits say nothing new; an unknown type is not trusted. */
	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"0\",\"generation\":\"1\","
				 "\"metadata\":{\"goog-reserved-posix-mode\":\"100644\"}}"),
			       &o) == 0);
	CHECK(o.has_mode && o.mode == 0644 && o.special_type == 0);
	gcs_object_clear(&o);
	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"0\",\"generation\":\"1\","
				 "\"metadata\":{\"goog-reserved-posix-mode\":\"170644\"}}"),
			       &o) == 0);
	CHECK(!o.has_mode && o.special_type == 0);
	gcs_object_clear(&o);
}

static void modes_and_mtimes_are_written_as_other_tools_read_them(void)
{
	char m[GCS_MODE_STR], secs[GCS_MTIME_STR], ns[GCS_MTIME_STR];
	struct timespec t = {1717495100, 5};

	gcs_format_mode(S_IFREG | 0644, m);
	CHECK_STR(m, "644");
	gcs_format_mode(S_IFDIR | 0755, m);
	CHECK_STR(m, "755");
	gcs_format_mode(S_IFDIR | 01777, m);
	CHECK_STR(m, "1777");
	gcs_format_mode(S_IFREG | 04755, m);
	CHECK_STR(m, "4755");
	gcs_format_mode(S_IFIFO | 0640, m);
	CHECK_STR(m, "10640");
	gcs_format_mode(S_IFBLK | 0600, m);
	CHECK_STR(m, "60600");
	gcs_format_mtime(&t, secs, ns);
	CHECK_STR(secs, "1717495100");
	CHECK_STR(ns, "2024-06-04T09:58:20.000000005Z");
}

static void symlinks_in_both_forms_are_recognised(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(
		      S("{\"name\":\"l\",\"size\":\"6\",\"generation\":\"1\",\"metadata\":{"
			"\"goog-reserved-file-is-symlink\":\"TRUE\"}}"),
		      &o) == 0);
	CHECK(o.is_symlink && o.symlink_target == NULL);
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(
		      S("{\"name\":\"l\",\"size\":\"0\",\"generation\":\"1\",\"metadata\":{"
			"\"gcsfuse_symlink_target\":\"../t\"}}"),
		      &o) == 0);
	CHECK(o.is_symlink);
	CHECK_STR(o.symlink_target, "../t");
	gcs_object_clear(&o);
}

static void malformed_objects_are_rejected(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(S("{\"size\":\"1\",\"generation\":\"1\"}"), &o) == -EPROTO);
	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"-1\",\"generation\":\"1\"}"), &o) ==
	      -EPROTO);
	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\"}"), &o) == -EPROTO);
	CHECK(gcs_object_parse(S("not json"), &o) == -EPROTO);
	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"1\","
				 "\"updated\":\"yesterday\"}"),
			       &o) == -EPROTO);
}

static void list_page_parses_items_prefixes_and_token(void)
{
	struct gcs_list_page p;

	CHECK(gcs_list_page_parse(
		      S("{\"kind\":\"storage#objects\",\"nextPageToken\":\"tok\","
			"\"prefixes\":[\"d/sub/\",\"d/z/\"],\"items\":[{\"name\":\"d/a\",\"size\":"
			"\"3\",\"generation\":\"9\"},{\"name\":\"d/b\",\"size\":\"4\","
			"\"generation\":\"10\"}]}"),
		      &p) == 0);
	CHECK(p.n_items == 2 && p.n_prefixes == 2);
	CHECK_STR(p.items[1].name, "d/b");
	CHECK(p.items[1].size == 4);
	CHECK_STR(p.prefixes[0], "d/sub/");
	CHECK_STR(p.next_page_token, "tok");
	gcs_list_page_clear(&p);
}

static void empty_list_page_has_no_token(void)
{
	struct gcs_list_page p;

	CHECK(gcs_list_page_parse(S("{\"kind\":\"storage#objects\"}"), &p) == 0);
	CHECK(p.n_items == 0 && p.n_prefixes == 0 && p.next_page_token == NULL);
	gcs_list_page_clear(&p);
}

static void malformed_list_entries_are_left_out(void)
{
	struct gcs_list_page p;

	/* No size; a generation that is no number; no name; not an object; a bad prefix. */
	CHECK(gcs_list_page_parse(S("{\"prefixes\":[\"d/sub/\",7,\"d/z/\"],\"items\":["
				    "{\"name\":\"d/a\",\"size\":\"3\",\"generation\":\"9\"},"
				    "{\"name\":\"d/nosize\",\"generation\":\"10\"},"
				    "{\"name\":\"d/badgen\",\"size\":\"1\",\"generation\":\"abc\"},"
				    "{\"size\":\"1\",\"generation\":\"11\"},"
				    "\"d/just-a-string\","
				    "{\"name\":\"d/c\",\"size\":\"4\",\"generation\":\"12\"}],"
				    "\"nextPageToken\":\"more\"}"),
				  &p) == 0);
	CHECK(p.n_items == 2);
	CHECK_STR(p.items[0].name, "d/a");
	CHECK_STR(p.items[1].name, "d/c");
	CHECK(p.items[1].size == 4 && p.items[1].generation == 12);
	CHECK(p.n_prefixes == 2);
	CHECK_STR(p.prefixes[0], "d/sub/");
	CHECK_STR(p.prefixes[1], "d/z/");
	CHECK_STR(p.next_page_token, "more");
	gcs_list_page_clear(&p);

	CHECK(gcs_list_page_parse(S("{\"items\":[{\"size\":\"1\"}]}"), &p) == 0);
	CHECK(p.n_items == 0);
	gcs_list_page_clear(&p);
}

static void broken_list_pages_fail(void)
{
	struct gcs_list_page p;

	CHECK(gcs_list_page_parse(S("not json"), &p) == -EPROTO);
	CHECK(gcs_list_page_parse(S("[1,2]"), &p) == -EPROTO);
	CHECK(gcs_list_page_parse(S("{\"items\":{\"name\":\"a\"}}"), &p) == -EPROTO);
	CHECK(gcs_list_page_parse(S("{\"prefixes\":\"a/\"}"), &p) == -EPROTO);
	CHECK(gcs_list_page_parse(S("{\"items\":[{\"name\":\"a\",\"size\":\"1\","
				    "\"generation\":\"1\"}"),
				  &p) == -EPROTO);
}

static void writable_fields_are_kept_for_rewrites(void)
{
	struct gcs_object o;

	CHECK(gcs_object_parse(
		      S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
			"\"contentType\":\"text/csv\",\"contentEncoding\":\"gzip\","
			"\"cacheControl\":\"public, max-age=60\","
			"\"contentDisposition\":\"attachment; filename=\\\"r.csv\\\"\","
			"\"contentLanguage\":\"de\",\"customTime\":\"2024-06-04T10:00:00.000Z\","
			"\"storageClass\":\"NEARLINE\",\"crc32c\":\"yZRlqg==\","
			"\"md5Hash\":\"Ojk9c3dhfxgoKVVHYwFbHQ==\",\"etag\":\"CAE=\","
			"\"metadata\":{\"k\":\"v\"}}"),
		      &o) == 0);
	/* Only the writable fields, and not contentType or metadata, which have their own. */
	CHECK_STR(o.keep_json, "{\"contentEncoding\":\"gzip\",\"cacheControl\":\"public, "
			       "max-age=60\",\"contentDisposition\":\"attachment; "
			       "filename=\\\"r.csv\\\"\",\"contentLanguage\":\"de\","
			       "\"customTime\":\"2024-06-04T10:00:00.000Z\","
			       "\"storageClass\":\"NEARLINE\"}");
	CHECK_STR(o.content_type, "text/csv");
	CHECK_STR(o.metadata_json, "{\"k\":\"v\"}");
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
				 "\"storageClass\":\"COLDLINE\"}"),
			       &o) == 0);
	CHECK_STR(o.keep_json, "{\"storageClass\":\"COLDLINE\"}");
	gcs_object_clear(&o);

	CHECK(gcs_object_parse(S("{\"name\":\"f\",\"size\":\"1\",\"generation\":\"7\","
				 "\"contentType\":\"text/plain\"}"),
			       &o) == 0);
	CHECK(o.keep_json == NULL);
	gcs_object_clear(&o);
}

static void json_error_bodies_give_reason_and_message(void)
{
	struct gcs_errinfo e;

	gcs_errbody_parse(S("{\"error\":{\"code\":404,\"message\":\"No such object: b/o\","
			    "\"errors\":[{\"domain\":\"global\",\"reason\":\"notFound\"}]}}"),
			  &e);
	CHECK_STR(e.reason, "notFound");
	CHECK_STR(e.message, "No such object: b/o");

	gcs_errbody_parse(S("{\"error\":\"invalid_grant\",\"error_description\":\"Bad\\nthing\"}"),
			  &e);
	CHECK_STR(e.reason, "invalid_grant");
	CHECK_STR(e.message, "Bad thing");
}

static void xml_error_bodies_give_code_and_details(void)
{
	struct gcs_errinfo e;

	gcs_errbody_parse(S("<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
			    "<Message>The specified key does not exist.</Message>"
			    "<Details>No such object: b/x</Details></Error>"),
			  &e);
	CHECK_STR(e.reason, "NoSuchKey");
	CHECK_STR(e.message, "The specified key does not exist. (No such object: b/x)");

	gcs_errbody_parse(S("garbage"), &e);
	CHECK_STR(e.reason, "");
	CHECK_STR(e.message, "");
}

int main(void)
{
	RUN(object_fields_parse_from_strings);
	RUN(crc32c_and_content_type_are_read);
	RUN(goog_reserved_mtime_overrides_updated);
	RUN(gcsfuse_and_rclone_mtimes_are_read);
	RUN(posix_mode_uid_gid_are_read_and_validated);
	RUN(gcsfuse_mtime_adds_nanoseconds_to_the_same_second);
	RUN(special_bits_and_file_types_are_read_from_the_mode);
	RUN(modes_and_mtimes_are_written_as_other_tools_read_them);
	RUN(symlinks_in_both_forms_are_recognised);
	RUN(malformed_objects_are_rejected);
	RUN(list_page_parses_items_prefixes_and_token);
	RUN(empty_list_page_has_no_token);
	RUN(malformed_list_entries_are_left_out);
	RUN(broken_list_pages_fail);
	RUN(writable_fields_are_kept_for_rewrites);
	RUN(json_error_bodies_give_reason_and_message);
	RUN(xml_error_bodies_give_code_and_details);
	return CHECK_DONE();
}
