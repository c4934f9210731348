/* Tokens from an OAuth token endpoint: the two credential files gcsmount reads.
 *
 * A service-account key signs a JWT (auth/jwt.c) and exchanges it for an access token (the
 * JWT-bearer grant, RFC 7523); the JWT's audience is the key's token_uri, as Go's oauth2
 * library does. gcloud's authorized_user credentials use the refresh-token grant. Both POST a
 * form to the file's token_uri and read the same reply; a token_uri in an authorized_user
 * file is honoured too, as Go's library does, which is also what lets tests use a local
 * endpoint. Every buffer that held the assertion, the refresh token or the client secret is
 * scrubbed before it is freed. */
#include "auth/auth_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"
#include "auth/secret.h"

#define JWT_GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"
/* Google accepts assertions valid for at most an hour. */
#define JWT_LIFETIME_S 3600
#define FORM_RESERVE 16384

struct oauth {
	struct auth_keyfile k;
	char *path;
	char *scope;
	char *ca_file;
};

static void oauth_free(void *state)
{
	struct oauth *o = state;

	if (!o)
		return;
	auth_keyfile_free(&o->k);
	free(o->path);
	free(o->scope);
	free(o->ca_file);
	free(o);
}

static int build_form(struct oauth *o, struct buf *form)
{
	int rc = buf_reserve(form, FORM_RESERVE);

	if (rc)
		return rc;
	if (o->k.type == AUTH_KEY_AUTHORIZED_USER) {
		rc = auth_form_add(form, "grant_type", "refresh_token");
		if (!rc)
			rc = auth_form_add(form, "client_id", o->k.client_id);
		if (!rc)
			rc = auth_form_add(form, "client_secret", o->k.client_secret);
		if (!rc)
			rc = auth_form_add(form, "refresh_token", o->k.refresh_token);
		return rc;
	}

	struct buf jwt;
	long long now = (long long)time(NULL);
	struct auth_jwt_claims claims = {
		.kid = o->k.private_key_id,
		.iss = o->k.client_email,
		.scope = o->scope,
		.aud = o->k.token_uri,
		.iat = now,
		.exp = now + JWT_LIFETIME_S,
	};

	buf_init(&jwt, FORM_RESERVE);
	rc = buf_reserve(&jwt, FORM_RESERVE / 2);
	if (!rc)
		rc = auth_jwt_sign(o->k.key, &claims, &jwt);
	if (!rc)
		rc = auth_form_add(form, "grant_type", JWT_GRANT);
	if (!rc)
		rc = auth_form_add(form, "assertion", jwt.data);
	auth_secret_buf_free(&jwt);
	return rc;
}

/* Words for a refusal: what the credentials are and what to do about them. */
static void refused(const struct oauth *o, long status, const char *code, const char *desc,
		    char *why, size_t whylen)
{
	char what[512];
	const char *advice = "";

	if (o->k.type == AUTH_KEY_SERVICE_ACCOUNT)
		snprintf(what, sizeof(what), "the service-account key of %s in %s",
			 o->k.client_email, o->path);
	else
		snprintf(what, sizeof(what), "the user credentials in %s", o->path);
	if (strcmp(code, "invalid_grant") == 0)
		advice = o->k.type == AUTH_KEY_AUTHORIZED_USER
				 ? ". Sign in again with `gcloud auth application-default login`"
				 : ". The key may have been deleted or disabled, or this machine's "
				   "clock may be wrong; create a new key if it was deleted";
	snprintf(why, whylen, "%s refused %s: %s%s%s%s (HTTP %ld)%s", o->k.token_uri, what,
		 code[0] ? code : "error", desc[0] ? " (" : "", desc, desc[0] ? ")" : "", status,
		 advice);
}

static int oauth_fetch(void *state, struct auth_token *out, char *why, size_t whylen)
{
	struct oauth *o = state;
	struct auth_http_resp resp = {0};
	struct buf form;
	char code[64], desc[256];
	int rc;

	buf_init(&form, 4 * FORM_RESERVE);
	rc = build_form(o, &form);
	if (rc) {
		snprintf(why, whylen, "cannot build the token request for %s: %s", o->path,
			 strerror(-rc));
		goto out;
	}
	struct auth_http_req req = {
		.url = o->k.token_uri,
		.form = form.data,
		.ca_file = o->ca_file,
		.attempts = 4,
	};
	rc = auth_http(&req, &resp);
	if (rc) {
		snprintf(why, whylen, "cannot reach the token endpoint %s: %s", o->k.token_uri,
			 resp.error);
		goto out;
	}
	if (resp.status == 200) {
		rc = auth_token_parse(resp.body, resp.len, out);
		if (rc)
			snprintf(why, whylen, "the token endpoint %s sent no usable access token",
				 o->k.token_uri);
		goto out;
	}
	auth_oauth_error_parse(resp.body, resp.len, code, sizeof(code), desc, sizeof(desc));
	if (resp.status >= 400 && resp.status < 500 && resp.status != 408 && resp.status != 429) {
		refused(o, resp.status, code, desc, why, whylen);
		rc = -EACCES;
	} else {
		snprintf(why, whylen, "the token endpoint %s failed: HTTP %ld%s%s", o->k.token_uri,
			 resp.status, code[0] ? " " : "", code);
		rc = -EIO;
	}
out:
	auth_http_resp_free(&resp);
	auth_secret_buf_free(&form);
	return rc;
}

static const struct auth_provider oauth_provider = {
	.fetch = oauth_fetch,
	.free = oauth_free,
};

struct auth *auth_oauth_new(struct auth_keyfile *k, const char *path, const struct auth_config *c,
			    char *why, size_t whylen)
{
	struct oauth *o = calloc(1, sizeof(*o));
	char identity[1024];

	if (!o) {
		auth_keyfile_free(k);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	o->k = *k;
	memset(k, 0, sizeof(*k));
	o->path = strdup(path);
	o->scope = strdup(c->scope ? c->scope : AUTH_SCOPE_READ_WRITE);
	o->ca_file = c->ca_file ? strdup(c->ca_file) : NULL;
	if (!o->path || !o->scope || (c->ca_file && !o->ca_file))
		goto nomem;
	if (o->k.type == AUTH_KEY_SERVICE_ACCOUNT)
		snprintf(identity, sizeof(identity), "%s", o->k.client_email);
	else if (o->k.account)
		snprintf(identity, sizeof(identity), "%s", o->k.account);
	else
		snprintf(identity, sizeof(identity), "user credentials from %s", path);
	struct auth *a = auth_new(&oauth_provider, o, identity,
				  o->k.type == AUTH_KEY_SERVICE_ACCOUNT ? o->scope : NULL);
	if (!a)
		snprintf(why, whylen, "out of memory");
	return a;
nomem:
	oauth_free(o);
	snprintf(why, whylen, "out of memory");
	return NULL;
}
