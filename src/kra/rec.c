/* The record format of key archival: "KIND VERSION" on the first line,
 * then "key: value" lines. Text so that an agent can read what a request
 * file asks of them before running release-share; values that are bytes
 * are hex. The parser is bounded (KRA_REC_MAX fields, KRA_MAX_FILE bytes)
 * and refuses what it does not expect: fuzz/fuzz_kra_rec.c. */
#include "kra/kra.h"

#include "util/hex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void kra_rec_clear(struct kra_rec *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i].value);
    memset(r, 0, sizeof(*r));
}

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* One "key: value" line [p, e) into f. */
static cm_err parse_line(struct kra_field *f, const char *p, const char *e, size_t lineno,
                         const char *what)
{
    const char *colon = memchr(p, ':', (size_t)(e - p));
    size_t klen;

    if (colon == NULL || colon == p || colon + 1 >= e || colon[1] != ' ')
        return cm_err_set(CM_ERR_INVALID, "%s: line %zu: not 'key: value'", what, lineno);
    klen = (size_t)(colon - p);
    if (klen >= sizeof(f->key))
        return cm_err_set(CM_ERR_INVALID, "%s: line %zu: key too long", what, lineno);
    for (size_t i = 0; i < klen; i++)
        if (!key_char(p[i]))
            return cm_err_set(CM_ERR_INVALID, "%s: line %zu: bad character in the key", what,
                              lineno);
    memcpy(f->key, p, klen);
    f->key[klen] = '\0';
    for (const char *q = colon + 2; q < e; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
            return cm_err_set(CM_ERR_INVALID, "%s: line %zu: value is not printable ASCII", what,
                              lineno);
    f->value = strndup(colon + 2, (size_t)(e - colon - 2));
    if (f->value == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    return CM_OK;
}

cm_err kra_rec_parse(struct kra_rec *out, const unsigned char *data, size_t len, const char *what)
{
    const char *p = (const char *)data, *end = p + len, *e;
    size_t lineno = 1;
    cm_err rc = CM_OK;

    memset(out, 0, sizeof(*out));
    if (len == 0 || len > KRA_MAX_FILE)
        return cm_err_set(CM_ERR_INVALID, "%s: empty or larger than %d bytes", what, KRA_MAX_FILE);
    e = memchr(p, '\n', len);
    if (e == NULL || e == p || (size_t)(e - p) >= sizeof(out->kind))
        return cm_err_set(CM_ERR_INVALID, "%s: not a certmint key archival file", what);
    /* Every byte of the line (a NUL too) must be a key character or a
     * space: found by fuzz/fuzz_kra_rec.c. */
    for (const char *q = p; q < e; q++)
        if (!key_char(*q) && *q != ' ')
            CM_FAIL(CM_ERR_INVALID, "%s: not a certmint key archival file", what);
    memcpy(out->kind, p, (size_t)(e - p));
    for (p = e + 1; p < end; p = e + 1) {
        lineno++;
        e = memchr(p, '\n', (size_t)(end - p));
        if (e == NULL)
            CM_FAIL(CM_ERR_INVALID, "%s: line %zu: no end of line", what, lineno);
        if (e == p)
            continue; /* blank line */
        if (out->n == KRA_REC_MAX)
            CM_FAIL(CM_ERR_INVALID, "%s: more than %d fields", what, KRA_REC_MAX);
        CM_TRY(parse_line(&out->f[out->n], p, e, lineno, what));
        out->n++;
    }
out:
    if (rc != CM_OK)
        kra_rec_clear(out);
    return rc;
}

size_t kra_rec_next(const unsigned char *data, size_t len)
{
    const unsigned char *p = memchr(data, '\n', len), *e, *end = data + len;

    for (p = p ? p + 1 : end; p < end; p = e + 1) {
        e = memchr(p, '\n', (size_t)(end - p));
        if (e == NULL)
            break;
        if ((size_t)(e - p) > 9 && memcmp(p, "certmint-", 9) == 0 &&
            memchr(p, ':', (size_t)(e - p)) == NULL)
            return (size_t)(p - data);
    }
    return len;
}

const char *kra_rec_get_nth(const struct kra_rec *r, const char *key, size_t nth)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].key, key) == 0 && nth-- == 0)
            return r->f[i].value;
    return NULL;
}

const char *kra_rec_get(const struct kra_rec *r, const char *key)
{
    return kra_rec_get_nth(r, key, 0);
}

cm_err kra_rec_str(const char **out, const struct kra_rec *r, const char *key, const char *what)
{
    *out = kra_rec_get(r, key);
    if (*out == NULL || (*out)[0] == '\0')
        return cm_err_set(CM_ERR_INVALID, "%s: no '%s'", what, key);
    return CM_OK;
}

cm_err kra_rec_int(long long *out, const struct kra_rec *r, const char *key, long long lo,
                   long long hi, const char *what)
{
    const char *v = NULL;
    char *end = NULL;
    cm_err rc;

    CM_TRY(kra_rec_str(&v, r, key, what));
    errno = 0;
    *out = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || *out < lo || *out > hi)
        CM_FAIL(CM_ERR_INVALID, "%s: '%s' is not a number from %lld to %lld", what, key, lo, hi);
out:
    return rc;
}

cm_err kra_rec_hex(unsigned char **out, size_t *len, const char *value, size_t max, const char *key,
                   const char *what)
{
    size_t n = strlen(value);
    unsigned char *b = NULL;

    *out = NULL;
    *len = 0;
    if (n == 0 || n % 2 != 0 || n / 2 > max)
        return cm_err_set(CM_ERR_INVALID, "%s: '%s' is not hex of at most %zu bytes", what, key,
                          max);
    b = malloc(n / 2);
    if (b == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    if (hex_decode(b, n / 2, value) != (int)(n / 2)) {
        free(b);
        return cm_err_set(CM_ERR_INVALID, "%s: '%s' is not hex", what, key);
    }
    *out = b;
    *len = n / 2;
    return CM_OK;
}

cm_err kra_rec_begin(cm_buf *b, const char *kind)
{
    return buf_printf(b, "%s\n", kind);
}

cm_err kra_rec_put(cm_buf *b, const char *key, const char *value)
{
    for (const char *q = value; *q != '\0'; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
            return cm_err_set(CM_ERR_INVALID, "%s: value is not printable ASCII", key);
    return buf_printf(b, "%s: %s\n", key, value);
}

cm_err kra_rec_put_int(cm_buf *b, const char *key, long long v)
{
    return buf_printf(b, "%s: %lld\n", key, v);
}

cm_err kra_rec_put_hex(cm_buf *b, const char *key, const unsigned char *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    cm_err rc;

    CM_TRY(buf_printf(b, "%s: ", key));
    CM_TRY(buf_reserve(b, 2 * n + 2));
    for (size_t i = 0; i < n; i++) {
        char two[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
        CM_TRY(buf_append(b, two, 2));
    }
    CM_TRY(buf_append(b, "\n", 1));
out:
    return rc;
}
