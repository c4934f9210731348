/* Unit tests of fs/options.c: option values that must be refused. Seconds ("stat_ttl=nan")
 * become FUSE timeouts and deadlines, where NaN compares false with everything and turns
 * into whatever a conversion to an integer makes of it. */
#include "check.h"

#include "fs/options.h"

/* Parses "gcsmount -o OPTS my-bucket /mnt/gcs"; returns config_parse_args()'s answer. */
static int parse_o(const char *opts, struct config *cfg)
{
	char *argv[] = {"gcsmount", "-o", (char *)opts, "my-bucket", "/mnt/gcs", NULL};

	config_init(cfg);
	return config_parse_args(cfg, 5, argv);
}

static void seconds_that_are_not_numbers_are_refused(void)
{
	static const char *bad[] = {
		"stat_ttl=nan",	  "stat_ttl=NaN",	   "negative_ttl=-nan",
		"stat_ttl=inf",	  "metadata_timeout=nan(1)", "negative_ttl=",
		"stat_ttl=5s",	  "stat_ttl=-1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		int rc = parse_o(bad[i], &cfg);

		if (rc != -1)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(rc == -1);
		config_free(&cfg);
	}
}

static void seconds_that_are_numbers_are_taken(void)
{
	struct config cfg;

	CHECK(parse_o("stat_ttl=0.5,negative_ttl=0,metadata_timeout=120", &cfg) == 0);
	CHECK(cfg.stat_ttl == 0.5 && cfg.negative_ttl == 0 && cfg.metadata_timeout == 120);
	config_free(&cfg);
}

int main(void)
{
	RUN(seconds_that_are_numbers_are_taken);
	RUN(seconds_that_are_not_numbers_are_refused);
	return CHECK_DONE();
}
