/* RFC 7512 PKCS#11 URI parser. */
#include "key/p11uri.h"

#include "util/hex.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define P11_URI_MAX 4096

int p11_uri_is(const char *s)
{
    return s != NULL && strncasecmp(s, "pkcs11:", 7) == 0;
}

/* Percent-decodes n bytes at s into out (RFC 3986 2.1); a NUL (from %00)
 * is refused since every value here ends up in a C string or a label. */
static cm_err pct_decode(unsigned char *out, size_t outsz, size_t *outlen, const char *s, size_t n,
                         const char *attr)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = n - i >= 3 ? hex_digit_value((unsigned char)s[i + 1]) : -1;
            int lo = n - i >= 3 ? hex_digit_value((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return cm_err_set(CM_ERR_INVALID,
                                  "PKCS#11 URI: %s: '%%' not followed by two hex digits", attr);
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0)
            return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: %s: a NUL character is not allowed",
                              attr);
        if (o + 1 >= outsz)
            return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: %s: value too long", attr);
        out[o++] = (unsigned char)c;
    }
    out[o] = '\0';
    *outlen = o;
    return CM_OK;
}

/* Copies a decoded string value, refusing a second occurrence (2.3: an
 * attribute must not appear more than once). */
static cm_err set_str(char *dst, size_t dstsz, int *has, const char *v, size_t n, const char *attr)
{
    size_t len = 0;
    if (has != NULL && *has)
        return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: attribute '%s' given twice", attr);
    if (has == NULL && dst[0] != '\0')
        return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: attribute '%s' given twice", attr);
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: attribute '%s' is empty", attr);
    if (pct_decode((unsigned char *)dst, dstsz, &len, v, n, attr) != CM_OK)
        return CM_ERR_INVALID;
    if (has != NULL)
        *has = 1;
    return CM_OK;
}

static cm_err path_attr(struct p11_uri *u, const char *name, size_t nlen, const char *v, size_t n)
{
    unsigned char type[32];
    size_t len = 0;

    if (nlen == 5 && memcmp(name, "token", 5) == 0)
        return set_str(u->token, sizeof(u->token), &u->has_token, v, n, "token");
    if (nlen == 6 && memcmp(name, "object", 6) == 0)
        return set_str(u->object, sizeof(u->object), &u->has_object, v, n, "object");
    if (nlen == 2 && memcmp(name, "id", 2) == 0) {
        if (u->has_id)
            return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: attribute 'id' given twice");
        if (n == 0)
            return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: attribute 'id' is empty");
        /* The id is binary (CKA_ID), so %00 is allowed here: decode by hand. */
        for (size_t i = 0; i < n; i++) {
            int c = (unsigned char)v[i];
            if (c == '%') {
                int hi = n - i >= 3 ? hex_digit_value((unsigned char)v[i + 1]) : -1;
                int lo = n - i >= 3 ? hex_digit_value((unsigned char)v[i + 2]) : -1;
                if (hi < 0 || lo < 0)
                    return cm_err_set(CM_ERR_INVALID,
                                      "PKCS#11 URI: id: '%%' not followed by two hex digits");
                c = hi * 16 + lo;
                i += 2;
            }
            if (u->id_len >= sizeof(u->id))
                return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: id: value too long");
            u->id[u->id_len++] = (unsigned char)c;
        }
        u->has_id = 1;
        return CM_OK;
    }
    if (nlen == 4 && memcmp(name, "type", 4) == 0) {
        if (pct_decode(type, sizeof(type), &len, v, n, "type") != CM_OK)
            return CM_ERR_INVALID;
        if (strcmp((char *)type, "private") != 0)
            return cm_err_set(CM_ERR_INVALID,
                              "PKCS#11 URI: type=%s: the CA key must be type=private", type);
        return CM_OK;
    }
    return cm_err_set(CM_ERR_INVALID,
                      "PKCS#11 URI: path attribute '%.*s' is not supported (token, object, id, "
                      "type)",
                      (int)(nlen > 64 ? 64 : nlen), name);
}

static cm_err query_attr(struct p11_uri *u, const char *name, size_t nlen, const char *v, size_t n)
{
    char src[PATH_MAX];
    const char *path;

    if (nlen == 11 && memcmp(name, "module-path", 11) == 0)
        return set_str(u->module_path, sizeof(u->module_path), NULL, v, n, "module-path");
    if (nlen == 9 && memcmp(name, "pin-value", 9) == 0)
        return cm_err_set(CM_ERR_INVALID,
                          "PKCS#11 URI: pin-value is refused: a PIN never goes on a command line "
                          "or into the configuration; use pin-source=file:PATH (mode 0600) or "
                          "CERTMINT_PKCS11_PIN_FILE");
    if (nlen == 10 && memcmp(name, "pin-source", 10) == 0) {
        src[0] = '\0';
        if (u->pin_source[0] != '\0')
            return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: attribute 'pin-source' given twice");
        if (set_str(src, sizeof(src), NULL, v, n, "pin-source") != CM_OK)
            return CM_ERR_INVALID;
        /* RFC 7512 2.4: a URI or a path; only local files are taken. */
        path = src;
        if (strncmp(path, "file://", 7) == 0)
            path += 7;
        else if (strncmp(path, "file:", 5) == 0)
            path += 5;
        if (path[0] != '/')
            return cm_err_set(CM_ERR_INVALID,
                              "PKCS#11 URI: pin-source=%s: expected file:/ABSOLUTE/PATH", src);
        snprintf(u->pin_source, sizeof(u->pin_source), "%s", path);
        return CM_OK;
    }
    return cm_err_set(CM_ERR_INVALID,
                      "PKCS#11 URI: query attribute '%.*s' is not supported (module-path, "
                      "pin-source)",
                      (int)(nlen > 64 ? 64 : nlen), name);
}

/* Splits s[0..n) at sep and hands each name=value to fn. */
static cm_err each_attr(struct p11_uri *u, const char *s, size_t n, char sep,
                        cm_err (*fn)(struct p11_uri *, const char *, size_t, const char *, size_t))
{
    size_t i = 0;

    while (i < n) {
        size_t end = i, eq;
        while (end < n && s[end] != sep)
            end++;
        for (eq = i; eq < end && s[eq] != '='; eq++)
            ;
        if (eq == end || eq == i)
            return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: '%.*s' is not NAME=VALUE",
                              (int)(end - i > 64 ? 64 : end - i), s + i);
        if (fn(u, s + i, eq - i, s + eq + 1, end - eq - 1) != CM_OK)
            return CM_ERR_INVALID;
        i = end + 1;
    }
    return CM_OK;
}

cm_err p11_uri_parse(struct p11_uri *out, const char *s)
{
    const char *rest, *q;
    size_t len;

    memset(out, 0, sizeof(*out));
    if (!p11_uri_is(s))
        return cm_err_set(CM_ERR_INVALID, "not a PKCS#11 URI (expected pkcs11:...)");
    len = strnlen(s, P11_URI_MAX + 1);
    if (len > P11_URI_MAX)
        return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI longer than %d characters", P11_URI_MAX);
    rest = s + 7;
    if (strchr(rest, '#') != NULL)
        return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: a fragment ('#') is not allowed");
    q = strchr(rest, '?');
    if (each_attr(out, rest, q ? (size_t)(q - rest) : strlen(rest), ';', path_attr) != CM_OK)
        return CM_ERR_INVALID;
    if (q != NULL && each_attr(out, q + 1, strlen(q + 1), '&', query_attr) != CM_OK)
        return CM_ERR_INVALID;
    return CM_OK;
}
