/* libFuzzer target for the HTTP server's URL decoding (src/http/url.c):
 * http_target_parse on arbitrary request-targets, and the OCSP GET decoder.
 * Invariants: a parsed path starts with '/', holds no NUL, control byte or
 * backslash, and has no empty, "." or ".." segment (nothing climbs out of
 * /ca/ or /crl/); a decoded OCSP request fits its buffer. Sanitizers catch
 * the rest. */
#include "http/url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p)
{
    size_t n = strlen(p);
    if (p[0] != '/')
        abort();
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\')
            abort();
        if (p[i] == '/') {
            const char *seg = p + i + 1;
            size_t l = strcspn(seg, "/");
            if ((l == 0 && seg[0] == '/') || (l == 1 && seg[0] == '.') ||
                (l == 2 && seg[0] == '.' && seg[1] == '.'))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_target t;
    unsigned char req[4096];
    size_t n = 0;
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (http_target_parse(&t, s) == CM_OK)
        check_path(t.path);
    if (http_ocsp_get_decode(req, sizeof(req), &n, s) == CM_OK && n > sizeof(req))
        abort();
    free(s);
    return 0;
}
