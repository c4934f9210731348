/* What every fuzz target shares: the libFuzzer entry point's signature and a check that
 * aborts (so that libFuzzer keeps the input) when a parser breaks a promise of its header. */
#ifndef GCSMOUNT_TESTS_FUZZ_FUZZ_H
#define GCSMOUNT_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                     \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__,    \
				#cond);                                                       \
			abort();                                                              \
		}                                                                             \
	} while (0)

#endif
