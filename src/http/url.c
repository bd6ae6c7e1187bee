#include "http/url.h"

#include <stdint.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

cm_err http_percent_decode(unsigned char *out, size_t cap, size_t *outlen, const char *in, size_t n)
{
    size_t o = 0;
    *outlen = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n)
                return cm_err_set(CM_ERR_INVALID, "URL: truncated %%-escape");
            if ((h = hexval(in[i + 1])) < 0 || (l = hexval(in[i + 2])) < 0)
                return cm_err_set(CM_ERR_INVALID, "URL: bad %%-escape");
            c = h * 16 + l;
            i += 2;
        }
        if (o >= cap)
            return cm_err_set(CM_ERR_INVALID, "URL: too long");
        out[o++] = (unsigned char)c;
    }
    *outlen = o;
    return CM_OK;
}

/* A "." or ".." segment, or an empty one between two slashes. */
static int bad_segments(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j;
        if (p[i] != '/')
            return 1;
        j = i + 1;
        while (j < n && p[j] != '/')
            j++;
        if (j == i + 1 && j < n)
            return 1; /* "//" */
        if ((j - i - 1 == 1 && p[i + 1] == '.') ||
            (j - i - 1 == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
            return 1;
        i = j;
    }
    return 0;
}

cm_err http_target_parse(struct http_target *t, const char *raw)
{
    const char *q;
    size_t plen, dlen = 0;

    memset(t, 0, sizeof(*t));
    if (raw == NULL || raw[0] != '/')
        return cm_err_set(CM_ERR_INVALID, "URL: not an absolute path");
    if (strlen(raw) >= HTTP_PATH_MAX)
        return cm_err_set(CM_ERR_INVALID, "URL: longer than %d bytes", HTTP_PATH_MAX - 1);
    q = strchr(raw, '?');
    plen = q ? (size_t)(q - raw) : strlen(raw);
    for (size_t i = 0; raw[i]; i++)
        if ((unsigned char)raw[i] < 0x21 || raw[i] == 0x7f || raw[i] == '\\')
            return cm_err_set(CM_ERR_INVALID, "URL: control character, space or backslash");
    if (bad_segments(raw, plen))
        return cm_err_set(CM_ERR_INVALID, "URL: empty, '.' or '..' path segment");
    if (http_percent_decode((unsigned char *)t->path, sizeof(t->path) - 1, &dlen, raw, plen) !=
        CM_OK)
        return CM_ERR_INVALID;
    t->path[dlen] = '\0';
    if (strlen(t->path) != dlen)
        return cm_err_set(CM_ERR_INVALID, "URL: NUL byte in the path");
    for (size_t i = 0; i < dlen; i++)
        if ((unsigned char)t->path[i] < 0x20 || t->path[i] == 0x7f || t->path[i] == '\\')
            return cm_err_set(CM_ERR_INVALID, "URL: escaped control character or backslash");
    if (bad_segments(t->path, dlen))
        return cm_err_set(CM_ERR_INVALID, "URL: escaped '.' or '..' path segment");
    if (q != NULL)
        memcpy(t->query, q + 1, strlen(q + 1) + 1);
    return CM_OK;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

cm_err http_base64_decode(unsigned char *out, size_t cap, size_t *outlen, const char *in, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    *outlen = 0;
    while (n > 0 && in[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return cm_err_set(CM_ERR_INVALID, "base64: bad character");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return cm_err_set(CM_ERR_INVALID, "base64: too long");
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits >= 6)
        return cm_err_set(CM_ERR_INVALID, "base64: truncated");
    *outlen = o;
    return CM_OK;
}

cm_err http_ocsp_get_decode(unsigned char *out, size_t cap, size_t *outlen, const char *rest)
{
    char b64[8192];
    size_t n = strcspn(rest, "?"), blen = 0;
    *outlen = 0;
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "OCSP GET: no request in the URL");
    if (http_percent_decode((unsigned char *)b64, sizeof(b64), &blen, rest, n) != CM_OK)
        return CM_ERR_INVALID;
    return http_base64_decode(out, cap, outlen, b64, blen);
}
