#include "util/buf.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void buf_init(cm_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

cm_err buf_reserve(cm_buf *b, size_t extra)
{
    size_t need, ncap;
    unsigned char *p;

    if (extra > b->max || b->len > b->max - extra)
        return cm_err_set(CM_ERR_INVALID, "data exceeds the limit of %zu bytes", b->max);
    need = b->len + extra + 1;
    if (need <= b->cap)
        return CM_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    p = realloc(b->data, ncap);
    if (p == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    b->data = p;
    b->cap = ncap;
    return CM_OK;
}

cm_err buf_append(cm_buf *b, const void *p, size_t n)
{
    cm_err rc = buf_reserve(b, n);
    if (rc != CM_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CM_OK;
}

cm_err buf_append_str(cm_buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

cm_err buf_vprintf(cm_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;
    cm_err rc;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return cm_err_set(CM_ERR_INVALID, "bad format");
    rc = buf_reserve(b, (size_t)n);
    if (rc != CM_OK)
        return rc;
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CM_OK;
}

cm_err buf_printf(cm_buf *b, const char *fmt, ...)
{
    va_list ap;
    cm_err rc;
    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

unsigned char *buf_steal(cm_buf *b, size_t *len)
{
    unsigned char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void buf_reset(cm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(cm_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *buf_str(const cm_buf *b)
{
    return b->data ? (const char *)b->data : "";
}
