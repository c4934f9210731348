/* Unit tests of auth/keyfile.c: the two credential file types parse into their fields, and
 * every kind of broken file gets a message that names the file and the problem, never a
 * secret. */
#include "check.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/keyfile.h"
#include "util/buf.h"

static EVP_PKEY *key;
static struct buf key_json;

/* A real RSA key, as the JSON string a key file holds (newlines escaped). */
static const char *json_key(void)
{
	struct buf *b = &key_json;

	if (b->data)
		return b->data;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;

	key = EVP_RSA_gen(2048);
	CHECK(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1);
	long n = BIO_get_mem_data(bio, &data);
	buf_init(b, 1 << 16);
	for (long i = 0; i < n; i++)
		CHECK(data[i] == '\n' ? buf_append_str(b, "\\n") == 0
				      : buf_append(b, data + i, 1) == 0);
	BIO_free(bio);
	return b->data;
}

static int parse(const char *json, struct auth_keyfile *k, char *why, size_t whylen)
{
	why[0] = '\0';
	return auth_keyfile_parse(json, strlen(json), "/etc/k.json", k, why, whylen);
}

static void service_account_key_parses_with_default_token_uri(void)
{
	struct auth_keyfile k;
	char why[512], json[8192];

	snprintf(json, sizeof(json),
		 "{\"type\":\"service_account\",\"project_id\":\"p\",\"private_key_id\":\"abc\","
		 "\"private_key\":\"%s\",\"client_email\":\"sa@p.iam.gserviceaccount.com\","
		 "\"client_id\":\"1\"}",
		 json_key());
	CHECK(parse(json, &k, why, sizeof(why)) == 0);
	CHECK(k.type == AUTH_KEY_SERVICE_ACCOUNT);
	CHECK_STR(k.client_email, "sa@p.iam.gserviceaccount.com");
	CHECK_STR(k.private_key_id, "abc");
	CHECK(k.key && EVP_PKEY_eq(k.key, key) == 1);
	CHECK(k.private_key == NULL); /* the PEM text is not kept */
	CHECK_STR(k.token_uri, AUTH_DEFAULT_TOKEN_URI);
	CHECK(k.refresh_token == NULL && k.client_secret == NULL);
	auth_keyfile_free(&k);
	CHECK(k.key == NULL);
}

static void authorized_user_parses_and_keeps_its_token_uri(void)
{
	struct auth_keyfile k;
	char why[512];

	CHECK(parse("{\"type\":\"authorized_user\",\"client_id\":\"cid\",\"client_secret\":\"cs\","
		    "\"refresh_token\":\"rt\",\"token_uri\":\"http://127.0.0.1:1/token\","
		    "\"account\":\"ada@example.com\",\"quota_project_id\":\"q\"}",
		    &k, why, sizeof(why)) == 0);
	CHECK(k.type == AUTH_KEY_AUTHORIZED_USER);
	CHECK_STR(k.client_id, "cid");
	CHECK_STR(k.client_secret, "cs");
	CHECK_STR(k.refresh_token, "rt");
	CHECK_STR(k.account, "ada@example.com");
	CHECK_STR(k.token_uri, "http://127.0.0.1:1/token");
	auth_keyfile_free(&k);

	CHECK(parse("{\"type\":\"authorized_user\",\"client_id\":\"cid\",\"client_secret\":\"cs\","
		    "\"refresh_token\":\"rt\",\"account\":\"\"}",
		    &k, why, sizeof(why)) == 0);
	CHECK(k.account == NULL);
	CHECK_STR(k.token_uri, AUTH_DEFAULT_TOKEN_URI);
	auth_keyfile_free(&k);
}

static void broken_files_are_explained(void)
{
	static const struct {
		const char *json;
		int rc;
		const char *says;
	} cases[] = {
		{"", -EINVAL, "does not hold a JSON object"},
		{"[1,2]", -EINVAL, "does not hold a JSON object"},
		{"{\"client_email\":\"x\"}", -EINVAL, "no \"type\" field"},
		{"{\"type\":7}", -EINVAL, "no \"type\" field"},
		{"{\"type\":\"external_account\"}", -ENOTSUP,
		 "type \"external_account\", which gcsmount does not support"},
		{"{\"type\":\"impersonated_service_account\"}", -ENOTSUP,
		 "\"impersonated_service_account\""},
		{"{\"type\":\"service_account\",\"private_key\":\"x\"}", -EINVAL,
		 "(service_account credentials) lacks the field \"client_email\""},
		{"{\"type\":\"service_account\",\"client_email\":\"a@b\"}", -EINVAL,
		 "lacks the field \"private_key\""},
		{"{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key\":42}",
		 -EINVAL, "has a non-text value in the field \"private_key\""},
		{"{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key\":"
		 "\"sekrit\"}",
		 -EINVAL, "private_key in /etc/k.json is not an unencrypted RSA private key"},
		{"{\"type\":\"authorized_user\",\"client_id\":\"c\",\"refresh_token\":\"sekrit\"}",
		 -EINVAL, "(authorized_user credentials) lacks the field \"client_secret\""},
		{"{\"type\":\"authorized_user\",\"client_id\":\"c\",\"client_secret\":\"sekrit\"}",
		 -EINVAL, "lacks the field \"refresh_token\""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct auth_keyfile k;
		char why[512];
		int rc = parse(cases[i].json, &k, why, sizeof(why));

		if (rc != cases[i].rc || !strstr(why, cases[i].says) ||
		    !strstr(why, "/etc/k.json") || strstr(why, "sekrit")) {
			fprintf(stderr, "case %zu: rc %d, why \"%s\"\n", i, rc, why);
			CHECK(0);
		}
		CHECK(k.type == 0 && k.key == NULL && k.token_uri == NULL);
	}
}

static void files_are_read_with_their_mode_and_their_errors(void)
{
	char dir[] = "/tmp/test_keyfile.XXXXXX";
	char path[256], why[512];
	struct auth_keyfile k;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/user.json", dir);
	f = fopen(path, "w");
	fputs("{\"type\":\"authorized_user\",\"client_id\":\"c\",\"client_secret\":\"s\","
	      "\"refresh_token\":\"r\"}",
	      f);
	fclose(f);
	chmod(path, 0640);
	CHECK(auth_keyfile_load(path, &k, why, sizeof(why)) == 0);
	CHECK(k.mode == 0640);
	auth_keyfile_free(&k);

	chmod(path, 0);
	if (geteuid() != 0) { /* root reads it anyway */
		CHECK(auth_keyfile_load(path, &k, why, sizeof(why)) == -EACCES);
		CHECK(strstr(why, "cannot read") && strstr(why, "Permission denied"));
	}
	unlink(path);
	CHECK(auth_keyfile_load(path, &k, why, sizeof(why)) == -ENOENT);
	CHECK(strstr(why, path) && strstr(why, "does not exist"));
	CHECK(auth_keyfile_load(dir, &k, why, sizeof(why)) == -EINVAL);
	CHECK(strstr(why, "is not a regular file") != NULL);
	rmdir(dir);
}

int main(void)
{
	RUN(service_account_key_parses_with_default_token_uri);
	RUN(authorized_user_parses_and_keeps_its_token_uri);
	RUN(broken_files_are_explained);
	RUN(files_are_read_with_their_mode_and_their_errors);
	EVP_PKEY_free(key);
	buf_free(&key_json);
	return CHECK_DONE();
}
