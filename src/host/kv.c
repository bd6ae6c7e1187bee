/* key = value files of the host store (host.conf, entry.conf), and the
 * thumbprint parser. Both read what users write or paste: fuzz/fuzz_host.c. */
#include "host/host.h"

#include "util/hex.h"

#include <stdlib.h>
#include <string.h>

void host_kv_free(struct host_kv *kv)
{
    if (kv == NULL)
        return;
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->p[i].key);
        free(kv->p[i].value);
    }
    free(kv->p);
    kv->p = NULL;
    kv->n = 0;
}

const char *host_kv_get(const struct host_kv *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->p[i].key, key) == 0)
            return kv->p[i].value;
    return NULL;
}

static int key_char_ok(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

static cm_err kv_add(struct host_kv *kv, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct host_kv_pair *np = NULL;
    char *ks = strndup(k, klen), *vs = strndup(v, vlen);

    if (ks == NULL || vs == NULL)
        goto nomem;
    np = realloc(kv->p, (kv->n + 1) * sizeof(*np));
    if (np == NULL)
        goto nomem;
    kv->p = np;
    kv->p[kv->n].key = ks;
    kv->p[kv->n].value = vs;
    kv->n++;
    return CM_OK;
nomem:
    free(ks);
    free(vs);
    return cm_err_set(CM_ERR_NOMEM, "out of memory");
}

cm_err host_kv_set(struct host_kv *kv, const char *key, const char *value)
{
    for (size_t i = 0; i < kv->n; i++) {
        if (strcmp(kv->p[i].key, key) != 0)
            continue;
        char *v = strdup(value);
        if (v == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        free(kv->p[i].value);
        kv->p[i].value = v;
        return CM_OK;
    }
    return kv_add(kv, key, strlen(key), value, strlen(value));
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* One line [p, e): blank, a comment, or key = value. */
static cm_err kv_line(struct host_kv *kv, const char *p, const char *e, const char *what,
                      int lineno)
{
    const char *k, *ke, *v;

    while (p < e && is_blank((unsigned char)*p))
        p++;
    while (e > p && is_blank((unsigned char)e[-1]))
        e--;
    if (p == e || *p == '#')
        return CM_OK;
    for (k = ke = p; ke < e && key_char_ok((unsigned char)*ke); ke++)
        ;
    if (ke == k)
        return cm_err_set(CM_ERR_CONFIG, "%s:%d: expected 'key = value'", what, lineno);
    for (v = ke; v < e && is_blank((unsigned char)*v); v++)
        ;
    if (v == e || *v != '=')
        return cm_err_set(CM_ERR_CONFIG, "%s:%d: expected '=' after '%.*s'", what, lineno,
                          (int)(ke - k), k);
    for (v++; v < e && is_blank((unsigned char)*v); v++)
        ;
    for (const char *q = v; q < e; q++)
        if ((unsigned char)*q < 0x20 && *q != '\t')
            return cm_err_set(CM_ERR_CONFIG, "%s:%d: control character in the value", what, lineno);
    for (size_t i = 0; i < kv->n; i++)
        if (strlen(kv->p[i].key) == (size_t)(ke - k) && memcmp(kv->p[i].key, k, ke - k) == 0)
            return cm_err_set(CM_ERR_CONFIG, "%s:%d: '%.*s' given twice", what, lineno,
                              (int)(ke - k), k);
    return kv_add(kv, k, (size_t)(ke - k), v, (size_t)(e - v));
}

cm_err host_kv_parse(struct host_kv *out, const char *text, size_t len, const char *what)
{
    cm_err rc = CM_OK;
    struct host_kv kv = {0, NULL};
    const char *p = text, *end = text + len;
    int lineno = 0;

    if (memchr(text, '\0', len) != NULL)
        CM_FAIL(CM_ERR_CONFIG, "%s: NUL byte in a text file", what);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        CM_TRY(kv_line(&kv, p, e, what, lineno));
        p = nl ? nl + 1 : end;
    }
    *out = kv;
    kv.n = 0;
    kv.p = NULL;
out:
    host_kv_free(&kv);
    return rc;
}

cm_err host_thumb_parse(char out[65], const char *in)
{
    size_t n = 0;
    cm_err rc = hex_normalize(out, 65, &n, in, 0, "thumbprint");

    if (rc != CM_OK)
        return rc;
    if (n < 4)
        return cm_err_set(CM_ERR_INVALID, "thumbprint '%s': give at least 4 hex digits", in);
    return CM_OK;
}
