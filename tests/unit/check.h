/* Minimal assertion helpers for the C unit tests: each test is a function, RUN() prints one
 * line per test, and main returns non-zero when any CHECK failed. CHECK may be called from any
 * thread. */
#ifndef GCSMOUNT_TESTS_CHECK_H
#define GCSMOUNT_TESTS_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int check_failures;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			check_failures++;                                                        \
		}                                                                                \
	} while (0)

#define CHECK_STR(a, b)                                                                          \
	do {                                                                                     \
		const char *a_ = (a), *b_ = (b);                                                 \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                         \
			fprintf(stderr, "%s:%d: check failed: %s == \"%s\" (got \"%s\")\n",      \
				__FILE__, __LINE__, #a, b_ ? b_ : "(null)", a_ ? a_ : "(null)"); \
			check_failures++;                                                        \
		}                                                                                \
	} while (0)

#define RUN(fn)                                                                      \
	do {                                                                         \
		int before_ = check_failures;                                        \
		fn();                                                                \
		printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn); \
	} while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

#endif
