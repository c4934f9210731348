/* Milliseconds on CLOCK_MONOTONIC, for deadlines and rate windows: the wall clock may jump,
 * this one does not. Thread-safe. */
#ifndef GCSMOUNT_UTIL_CLOCK_H
#define GCSMOUNT_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
