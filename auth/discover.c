/* Where credentials come from, in the order Google's client libraries search (google-auth's
 * default()): an explicit key file, $GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * application-default credentials, then the metadata server of a Compute Engine VM.
 *
 * A source that is named but broken (a missing or malformed file) is an error, not a reason
 * to try the next one: silently mounting with other credentials than the ones the user named
 * would be worse than failing. The metadata server is only asked when GCE_METADATA_HOST (or
 * its old name GCE_METADATA_ROOT) names one or the machine's DMI product name says Google,
 * as google-auth does, so that machines elsewhere never send a packet to 169.254.169.254;
 * NO_GCE_CHECK=true turns that source off. When nothing is found, the message lists every
 * place that was looked at and why it did not count. */
#include "auth/auth_i.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define ADC_FILE "application_default_credentials.json"
#define DMI_PRODUCT "/sys/class/dmi/id/product_name"
/* Go's client uses the address rather than metadata.google.internal: at boot, DNS may not be
 * up yet when the metadata server already is. */
#define GCE_METADATA_IP "169.254.169.254"

/* Fetches the first token of a new a; on failure frees it and returns NULL (why says why). */
static struct auth *primed(struct auth *a, char *why, size_t whylen)
{
	if (a && auth_prime(a, why, whylen) != 0) {
		auth_free(a);
		return NULL;
	}
	return a;
}

static struct auth *from_file(const struct auth_config *c, const char *path, const char *source,
			      char *why, size_t whylen)
{
	struct auth_keyfile k;
	char msg[1024];

	if (auth_keyfile_load(path, &k, msg, sizeof(msg))) {
		snprintf(why, whylen, "%s: %s", source, msg);
		return NULL;
	}
	if (k.mode & 0044)
		log_warn("%s can be read by %s (mode %04o): it holds a secret, so make it "
			 "private with chmod 600 %s",
			 path, k.mode & 0004 ? "every user" : "its group", (unsigned)k.mode, path);
	log_info("using %s credentials from %s (%s)",
		 k.type == AUTH_KEY_SERVICE_ACCOUNT ? "service-account" : "user", path, source);
	return primed(auth_oauth_new(&k, path, c, why, whylen), why, whylen);
}

/* gcloud's application-default credentials file, where gcloud and google-auth look for it.
 * Returns 0, or -ENOENT when there is no home directory to look in. */
static int adc_path(char *out, size_t outlen)
{
	const char *dir = getenv("CLOUDSDK_CONFIG");
	const char *home = getenv("HOME");

	if (dir && *dir) {
		snprintf(out, outlen, "%s/" ADC_FILE, dir);
		return 0;
	}
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return -ENOENT;
	snprintf(out, outlen, "%s/.config/gcloud/" ADC_FILE, home);
	return 0;
}

/* Decides whether there is a metadata server to ask. Returns its host[:port], or NULL with
 * the reason in note. */
static const char *metadata_host(char *note, size_t notelen)
{
	const char *v = getenv("NO_GCE_CHECK");
	char product[128] = "";
	FILE *f;

	if (v && strcmp(v, "true") == 0) {
		snprintf(note, notelen, "not asked, because NO_GCE_CHECK=true");
		return NULL;
	}
	v = getenv("GCE_METADATA_HOST");
	if (!v || !*v)
		v = getenv("GCE_METADATA_ROOT");
	if (v && *v)
		return v;
	f = fopen(DMI_PRODUCT, "re");
	if (f) {
		if (!fgets(product, sizeof(product), f))
			product[0] = '\0';
		fclose(f);
	}
	if (strncmp(product, "Google", 6) == 0)
		return GCE_METADATA_IP;
	snprintf(note, notelen,
		 "not asked: GCE_METADATA_HOST is not set and " DMI_PRODUCT
		 " does not name Google, so this is not a Compute Engine VM");
	return NULL;
}

struct auth *auth_discover(const struct auth_config *c, char *why, size_t whylen)
{
	const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	char adc[PATH_MAX], adc_note[PATH_MAX + 64], mds_note[256];
	const char *host;
	struct stat st;

	if (c->anonymous)
		return auth_anonymous_new();
	if (c->key_file)
		return from_file(c, c->key_file, "--key-file", why, whylen);
	if (env && *env)
		return from_file(c, env, "GOOGLE_APPLICATION_CREDENTIALS", why, whylen);

	if (adc_path(adc, sizeof(adc)) != 0)
		snprintf(adc_note, sizeof(adc_note),
			 "gcloud's application-default credentials (no home directory, and "
			 "CLOUDSDK_CONFIG is not set)");
	else if (stat(adc, &st) != 0 && errno == ENOENT)
		snprintf(adc_note, sizeof(adc_note), "%s (no such file)", adc);
	else
		return from_file(c, adc, "gcloud's application-default credentials", why, whylen);

	host = metadata_host(mds_note, sizeof(mds_note));
	if (host) {
		log_info("asking the GCE metadata server at %s for credentials", host);
		return primed(auth_metadata_new(host, c, why, whylen), why, whylen);
	}
	snprintf(why, whylen,
		 "no credentials found. Looked for: a --key-file option (none given); the "
		 "GOOGLE_APPLICATION_CREDENTIALS variable (not set); %s; the GCE metadata server "
		 "(%s). Sign in with `gcloud auth application-default login`, pass --key-file "
		 "with a service-account key, or use --anonymous for a public bucket",
		 adc_note, mds_note);
	return NULL;
}
