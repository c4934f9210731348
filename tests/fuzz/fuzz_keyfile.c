/* Fuzz target: credential files (service-account keys, gcloud's authorized_user files)
 * through auth_keyfile_parse(). A user points gcsmount at any file; whatever it holds must
 * end in a credential of a known type or in a sentence that says why not. */
#include <errno.h>
#include <string.h>

#include "auth/keyfile.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_keyfile k;
	char why[512];
	int rc;

	why[0] = '\0';
	rc = auth_keyfile_parse((const char *)data, size, "fuzz.json", &k, why, sizeof(why));
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOTSUP || rc == -ENOMEM);
	FUZZ_ASSERT(strnlen(why, sizeof(why)) < sizeof(why));
	if (rc == 0) {
		FUZZ_ASSERT(k.type == AUTH_KEY_SERVICE_ACCOUNT ||
			    k.type == AUTH_KEY_AUTHORIZED_USER);
		FUZZ_ASSERT(k.token_uri && !k.private_key);
		FUZZ_ASSERT(k.type != AUTH_KEY_SERVICE_ACCOUNT || (k.key && k.client_email));
		FUZZ_ASSERT(k.type != AUTH_KEY_AUTHORIZED_USER ||
			    (k.client_id && k.client_secret && k.refresh_token));
		auth_keyfile_free(&k);
	} else {
		FUZZ_ASSERT(why[0]);
	}
	return 0;
}
