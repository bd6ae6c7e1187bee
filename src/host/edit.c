/* Minimal edits of a service's configuration file: set a few directives,
 * touching nothing else. Every uncommented line whose first word is one of
 * the directives is replaced (keeping its indentation); a directive found
 * nowhere is appended at the end. Running it twice gives the same file.
 * Three syntaxes: Dovecot's "name = value", nginx's "name value;" and
 * Apache's "Name value" (directive names in any case; the value quoted). The
 * input is a file a person wrote: fuzz/fuzz_host.c. */
#include "host/edit.h"

#include <string.h>
#include <strings.h>

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static cm_err put_directive(cm_buf *b, const struct host_directive *d, enum host_syntax syn)
{
    if (syn == HOST_SYNTAX_DOVECOT)
        return buf_printf(b, "%s = %s", d->name, d->value);
    if (syn == HOST_SYNTAX_APACHE)
        return buf_printf(b, "%s \"%s\"", d->name, d->value);
    return buf_printf(b, "%s %s;", d->name, d->value);
}

/* The directive line [p, e) sets, or -1. */
static int line_directive(const char *p, const char *e, const struct host_directive *d, size_t n,
                          enum host_syntax syn)
{
    while (p < e && is_blank((unsigned char)*p))
        p++;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(d[i].name);
        if ((size_t)(e - p) <= l || (syn == HOST_SYNTAX_APACHE ? strncasecmp(p, d[i].name, l)
                                                               : memcmp(p, d[i].name, l)) != 0)
            continue;
        char c = p[l];
        if (is_blank((unsigned char)c) || (syn == HOST_SYNTAX_DOVECOT && c == '='))
            return (int)i;
    }
    return -1;
}

cm_err host_edit_directives(cm_buf *out, const char *text, size_t len,
                            const struct host_directive *d, size_t n, enum host_syntax syn)
{
    cm_err rc = CM_OK;
    const char *p = text, *end = text + len;
    unsigned seen = 0;

    if (n > 8 || memchr(text, '\0', len) != NULL)
        return cm_err_set(CM_ERR_INVALID, "configuration file with a NUL byte");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        int k = line_directive(p, e, d, n, syn);
        if (k < 0) {
            CM_TRY(buf_append(out, p, (size_t)(e - p)));
        } else {
            const char *q = p;
            while (q < e && is_blank((unsigned char)*q))
                q++;
            CM_TRY(buf_append(out, p, (size_t)(q - p)));
            CM_TRY(put_directive(out, &d[k], syn));
            seen |= 1u << k;
        }
        if (nl != NULL)
            CM_TRY(buf_append(out, "\n", 1));
        p = nl ? nl + 1 : end;
    }
    for (size_t i = 0; i < n; i++) {
        if (seen & (1u << i))
            continue;
        if (out->len > 0 && out->data[out->len - 1] != '\n')
            CM_TRY(buf_append(out, "\n", 1));
        CM_TRY(put_directive(out, &d[i], syn));
        CM_TRY(buf_append(out, "\n", 1));
    }
out:
    return rc;
}
