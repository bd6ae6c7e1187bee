/* A growable byte buffer with a hard maximum set at creation (curl's dynbuf).
 * The buffer owns its memory; buf_free() releases it and accepts NULL. The
 * data is always NUL-terminated (not counted in len) so text can be read as a
 * C string. */
#ifndef CM_UTIL_BUF_H
#define CM_UTIL_BUF_H

#include "util/err.h"

#include <stdarg.h>
#include <stddef.h>

typedef struct cm_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
    size_t max; /* appending past this fails with CM_ERR_INVALID */
} cm_buf;

#define CM_BUF_INIT(maxbytes)                                                                      \
    {                                                                                              \
        NULL, 0, 0, (maxbytes)                                                                     \
    }

void buf_init(cm_buf *b, size_t max);
cm_err buf_append(cm_buf *b, const void *p, size_t n) CM_MUST_USE;
cm_err buf_append_str(cm_buf *b, const char *s) CM_MUST_USE;
cm_err buf_printf(cm_buf *b, const char *fmt, ...) CM_PRINTF(2, 3) CM_MUST_USE;
cm_err buf_vprintf(cm_buf *b, const char *fmt, va_list ap) CM_MUST_USE;
cm_err buf_reserve(cm_buf *b, size_t extra) CM_MUST_USE;
/* Hands the data to the caller (who frees it with free()); the buffer is
 * left empty. */
unsigned char *buf_steal(cm_buf *b, size_t *len);
void buf_reset(cm_buf *b);
void buf_free(cm_buf *b);
const char *buf_str(const cm_buf *b); /* "" when empty */

#endif
