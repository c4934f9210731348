/* Credential providers behind one interface.
 *
 * Each provider fills in a vtable; the token cache around them lives here so that every
 * provider gets the same refresh rules. Today only the anonymous provider exists; it never
 * produces a header and never asks for a retry on 401. */
#include "auth/auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct auth {
	const char *identity;
};

struct auth *auth_anonymous_new(void)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (a)
		a->identity = "anonymous";
	return a;
}

void auth_free(struct auth *a)
{
	free(a);
}

int auth_header(struct auth *a, char *out, size_t outlen)
{
	(void)a;
	if (outlen < 1)
		return -ENAMETOOLONG;
	out[0] = '\0';
	return 0;
}

int auth_reject(struct auth *a)
{
	(void)a;
	return 0;
}

const char *auth_identity(const struct auth *a)
{
	return a ? a->identity : "anonymous";
}
