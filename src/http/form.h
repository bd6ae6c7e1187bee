/* HTML form bodies and cookies (the /certsrv pages): strict, bounded
 * parsers of what a browser sends, the only place that decodes them. A
 * libFuzzer target (fuzz/fuzz_http_form.c) runs them.
 *
 *   application/x-www-form-urlencoded  (WHATWG URL, "application/x-www-
 *                                       form-urlencoded parsing"; also the
 *                                       query string of a GET)
 *   multipart/form-data                (RFC 7578, on RFC 2046 5.1.1)
 *   Cookie                             (RFC 6265 4.2.1) */
#ifndef CM_HTTP_FORM_H
#define CM_HTTP_FORM_H

#include "util/err.h"

#include <stddef.h>

#define FORM_MAX_FIELDS 32
#define FORM_MAX_NAME 64
#define FORM_MAX_FILENAME 256

struct form_field {
    char name[FORM_MAX_NAME];
    char filename[FORM_MAX_FILENAME]; /* multipart file parts: the name given; "" else */
    unsigned char *value;             /* decoded, malloc'ed, NUL-terminated (len excludes it) */
    size_t len;
};

struct http_form {
    struct form_field f[FORM_MAX_FIELDS];
    size_t n;
};

/* Parses body (len bytes) by its Content-Type (NULL: urlencoded, for a
 * query string). CM_ERR_INVALID with the reason: an unknown type, a bad
 * %-escape, a field name longer than FORM_MAX_NAME - 1 or empty, more than
 * FORM_MAX_FIELDS fields, a missing or bad boundary, a part without a
 * form-data name, a body that does not end with the closing delimiter.
 * *out is cleared first and must be freed with http_form_clear (also on
 * error). */
cm_err http_form_parse(struct http_form *out, const char *content_type, const unsigned char *body,
                       size_t len) CM_MUST_USE;
void http_form_clear(struct http_form *f);

/* The first field called name, or NULL. */
const struct form_field *http_form_get(const struct http_form *f, const char *name);
/* Its value as text: NULL when absent or when it holds a NUL byte. */
const char *http_form_text(const struct http_form *f, const char *name);

/* The value of cookie name in a Cookie header (NULL: none) copied into out
 * (cap bytes). 1 when found and it fits, 0 else. */
int http_cookie_get(char *out, size_t cap, const char *header, const char *name);

#endif
