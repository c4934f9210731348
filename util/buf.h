/* Growable byte buffer with a ceiling.
 *
 * Caller-owned value type: buf_init() before use, buf_free() after; the data is always
 * NUL-terminated (the terminator is not counted in len) so text bodies can be parsed in place.
 * Not thread-safe; one owner at a time. */
#ifndef GCSMOUNT_UTIL_BUF_H
#define GCSMOUNT_UTIL_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* appends that would pass this fail with -EFBIG */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Returns 0, -ENOMEM or -EFBIG; on failure the buffer is unchanged. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for extra more bytes now, so that appends up to that size never move the data
 * (a buffer that holds a secret can then be scrubbed in one place). Returns 0 or -errno. */
int buf_reserve(struct buf *b, size_t extra);

#endif
