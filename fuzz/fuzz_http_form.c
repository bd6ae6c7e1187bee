/* libFuzzer target for the form body and cookie parsers (src/http/form.c).
 * The first byte picks the Content-Type (urlencoded, multipart with a
 * fixed boundary, multipart with the boundary taken from the input, or
 * none); the rest is the body. Invariants: at most FORM_MAX_FIELDS fields,
 * each with a non-empty NUL-terminated name that fits, a value NUL-
 * terminated at its length; a cookie value fits its buffer. Sanitizers
 * catch the rest. */
#include "http/form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_form(const struct http_form *f)
{
    if (f->n > FORM_MAX_FIELDS)
        abort();
    for (size_t i = 0; i < f->n; i++) {
        size_t nl = strnlen(f->f[i].name, FORM_MAX_NAME);
        if (nl == 0 || nl >= FORM_MAX_NAME ||
            strnlen(f->f[i].filename, FORM_MAX_FILENAME) >= FORM_MAX_FILENAME)
            abort();
        if (f->f[i].value == NULL || f->f[i].value[f->f[i].len] != '\0')
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *types[] = {"application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ",
                           NULL, NULL};
    struct http_form f;
    char ct[128], cookie[64];
    char *s;
    int pick;

    if (size < 1)
        return 0;
    pick = data[0] & 3;
    data++;
    size--;
    if (pick == 2) {
        size_t l = size < 64 ? size : 64;
        memcpy(ct, "multipart/form-data; boundary=", 30);
        memcpy(ct + 30, data, l);
        ct[30 + l] = '\0';
        if (strlen(ct) < 30 + l)
            return 0;
        types[2] = ct;
    }
    if (http_form_parse(&f, types[pick], data, size) == CM_OK)
        check_form(&f);
    http_form_clear(&f);
    if ((s = malloc(size + 1)) == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (http_cookie_get(cookie, sizeof(cookie), s, "certmint_csrf") &&
        strnlen(cookie, sizeof(cookie)) >= sizeof(cookie))
        abort();
    free(s);
    return 0;
}
