/* JSON output helpers. */
#include "util/json.h"

#include "util/text.h"

#include <stdio.h>

/* Length of a valid UTF-8 sequence at p (RFC 3629), 0 if invalid. */
size_t json_utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (p[0] >= 0xe0 && p[0] <= 0xef) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f))
            return 0; /* overlong, surrogate */
        return 3;
    }
    if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

/* RFC 8259 7: quote, backslash and controls escaped; bytes that are not
 * UTF-8 become U+FFFD so that the output is always valid JSON. */
cm_err json_append_string(cm_buf *b, const char *s)
{
    static const char hx[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    cm_err rc;

    rc = buf_append(b, "\"", 1);
    while (*p && rc == CM_OK) {
        size_t n = json_utf8_len(p);
        if (n == 0) {
            rc = buf_append_str(b, "\\ufffd");
            p++;
        } else if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            rc = buf_append(b, e, 2);
            p++;
        } else if (*p == '\n') {
            rc = buf_append(b, "\\n", 2);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hx[*p >> 4], hx[*p & 15]};
            rc = buf_append(b, e, 6);
            p++;
        } else {
            rc = buf_append(b, p, n);
            p += n;
        }
    }
    if (rc == CM_OK)
        rc = buf_append(b, "\"", 1);
    return rc;
}

cm_err json_append_kv(cm_buf *b, int *first, const char *key, const char *value)
{
    cm_err rc = buf_append_str(b, *first ? "" : ",");
    *first = 0;
    if (rc == CM_OK)
        rc = json_append_string(b, key);
    if (rc == CM_OK)
        rc = buf_append(b, ":", 1);
    if (rc == CM_OK)
        rc = value ? json_append_string(b, value) : buf_append_str(b, "null");
    return rc;
}

/* `,"key":` (no comma for the first member). */
static cm_err json_key(cm_buf *b, int *first, const char *key)
{
    cm_err rc = buf_append_str(b, *first ? "" : ",");
    *first = 0;
    if (rc == CM_OK)
        rc = json_append_string(b, key);
    if (rc == CM_OK)
        rc = buf_append(b, ":", 1);
    return rc;
}

cm_err json_append_kv_int(cm_buf *b, int *first, const char *key, long long value)
{
    cm_err rc = json_key(b, first, key);
    return rc == CM_OK ? buf_printf(b, "%lld", value) : rc;
}

cm_err json_append_kv_bool(cm_buf *b, int *first, const char *key, int value)
{
    cm_err rc = json_key(b, first, key);
    return rc == CM_OK ? buf_append_str(b, value ? "true" : "false") : rc;
}

cm_err json_append_kv_time(cm_buf *b, int *first, const char *key, int64_t t)
{
    char when[32];
    if (t == 0)
        return json_append_kv(b, first, key, NULL);
    text_format_time(when, sizeof(when), t);
    return json_append_kv(b, first, key, when);
}
