/* Form bodies and cookies (http/form.h). */
#include "http/form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* '+' is a space, %XX a byte. out holds at least n + 1 bytes. */
static cm_err url_decode(unsigned char *out, size_t *outlen, const char *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            int h, l;
            if (n - i < 3)
                return cm_err_set(CM_ERR_INVALID, "form: truncated %%-escape");
            if ((h = hexval((unsigned char)in[i + 1])) < 0 ||
                (l = hexval((unsigned char)in[i + 2])) < 0)
                return cm_err_set(CM_ERR_INVALID, "form: bad %%-escape");
            c = h * 16 + l;
            i += 2;
        }
        out[o++] = (unsigned char)c;
    }
    out[o] = '\0';
    *outlen = o;
    return CM_OK;
}

static cm_err field_add(struct http_form *f, const char *name, size_t nl, const char *filename,
                        size_t fl, unsigned char *value, size_t len)
{
    struct form_field *x;
    if (f->n >= FORM_MAX_FIELDS) {
        free(value);
        return cm_err_set(CM_ERR_INVALID, "form: more than %d fields", FORM_MAX_FIELDS);
    }
    if (nl == 0 || nl >= FORM_MAX_NAME || memchr(name, '\0', nl) != NULL) {
        free(value);
        return cm_err_set(CM_ERR_INVALID, "form: a field name is empty or longer than %d bytes",
                          FORM_MAX_NAME - 1);
    }
    if (fl >= FORM_MAX_FILENAME)
        fl = FORM_MAX_FILENAME - 1; /* only shown, never used as a path */
    x = &f->f[f->n++];
    memcpy(x->name, name, nl);
    x->name[nl] = '\0';
    if (fl > 0)
        memcpy(x->filename, filename, fl);
    x->filename[fl] = '\0';
    x->value = value;
    x->len = len;
    return CM_OK;
}

static cm_err parse_urlencoded(struct http_form *f, const char *s, size_t len)
{
    cm_err rc = CM_OK;
    size_t i = 0;
    while (i < len) {
        const char *pair = s + i;
        const char *amp = memchr(pair, '&', len - i);
        size_t pl = amp ? (size_t)(amp - pair) : len - i;
        const char *eq = memchr(pair, '=', pl);
        size_t kl = eq ? (size_t)(eq - pair) : pl;
        unsigned char name[FORM_MAX_NAME * 3 + 1], *val = NULL;
        size_t nl = 0, vl = 0;

        i += pl + 1;
        if (pl == 0)
            continue;
        if (kl > FORM_MAX_NAME * 3)
            return cm_err_set(CM_ERR_INVALID, "form: a field name is longer than %d bytes",
                              FORM_MAX_NAME - 1);
        CM_TRY(url_decode(name, &nl, pair, kl));
        if ((val = malloc(pl - kl + 1)) == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        if ((rc = url_decode(val, &vl, eq ? eq + 1 : pair + pl, eq ? pl - kl - 1 : 0)) != CM_OK) {
            free(val);
            goto out;
        }
        CM_TRY(field_add(f, (const char *)name, nl, NULL, 0, val, vl));
    }
out:
    return rc;
}

/* The value of parameter param (boundary, name, filename) in a header
 * value such as `form-data; name="csr"; filename="a.csr"`: quoted (RFC
 * 9110 5.6.4, backslash escapes) or a token. 1 found, 0 not. */
static int header_param(char *out, size_t cap, const char *h, size_t hl, const char *param)
{
    size_t pl = strlen(param), i = 0;
    while (i < hl) {
        const char *semi = memchr(h + i, ';', hl - i);
        size_t o = 0;
        if (semi == NULL)
            return 0;
        i = (size_t)(semi - h) + 1;
        while (i < hl && (h[i] == ' ' || h[i] == '\t'))
            i++;
        if (hl - i <= pl || strncasecmp(h + i, param, pl) != 0 || h[i + pl] != '=')
            continue;
        i += pl + 1;
        if (i < hl && h[i] == '"') {
            for (i++; i < hl && h[i] != '"'; i++) {
                if (h[i] == '\\' && i + 1 < hl)
                    i++;
                if (o + 1 >= cap)
                    return 0;
                out[o++] = h[i];
            }
            if (i >= hl)
                return 0; /* unterminated */
        } else {
            for (; i < hl && h[i] != ';' && h[i] != ' ' && h[i] != '\t'; i++) {
                if (o + 1 >= cap)
                    return 0;
                out[o++] = h[i];
            }
        }
        out[o] = '\0';
        return 1;
    }
    return 0;
}

/* One part's headers (up to the blank line): its form-data name and file
 * name from Content-Disposition (RFC 7578 4.2). */
static cm_err part_headers(char *name, char *filename, const char *h, size_t hl)
{
    size_t i = 0;
    int found = 0;
    name[0] = filename[0] = '\0';
    while (i < hl) {
        const char *eol = memmem(h + i, hl - i, "\r\n", 2);
        size_t ll = eol ? (size_t)(eol - (h + i)) : hl - i;
        const char *line = h + i;
        static const char cd[] = "Content-Disposition:";
        if (ll > sizeof(cd) - 1 && strncasecmp(line, cd, sizeof(cd) - 1) == 0) {
            const char *v = line + sizeof(cd) - 1;
            size_t vl = ll - (sizeof(cd) - 1);
            while (vl > 0 && (*v == ' ' || *v == '\t'))
                v++, vl--;
            if (vl < 9 || strncasecmp(v, "form-data", 9) != 0)
                return cm_err_set(CM_ERR_INVALID, "form: a part is not form-data");
            if (!header_param(name, FORM_MAX_NAME, v, vl, "name") || name[0] == '\0')
                return cm_err_set(CM_ERR_INVALID, "form: a part has no usable name");
            if (!header_param(filename, FORM_MAX_FILENAME, v, vl, "filename"))
                filename[0] = '\0';
            found = 1;
        }
        i += ll + 2;
    }
    return found ? CM_OK : cm_err_set(CM_ERR_INVALID, "form: a part has no Content-Disposition");
}

static cm_err multipart_part(struct http_form *f, const char *p, size_t pl)
{
    char name[FORM_MAX_NAME], filename[FORM_MAX_FILENAME];
    const char *sep = memmem(p, pl, "\r\n\r\n", 4);
    size_t hl, vl;
    unsigned char *val;
    cm_err rc;

    if (sep == NULL)
        return cm_err_set(CM_ERR_INVALID, "form: a part has no header end");
    hl = (size_t)(sep - p);
    if ((rc = part_headers(name, filename, p, hl)) != CM_OK)
        return rc;
    vl = pl - hl - 4;
    if ((val = malloc(vl + 1)) == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    memcpy(val, sep + 4, vl);
    val[vl] = '\0';
    return field_add(f, name, strlen(name), filename, strlen(filename), val, vl);
}

/* RFC 2046 5.1.1: --boundary CRLF part CRLF --boundary ... CRLF
 * --boundary-- (a preamble and an epilogue are ignored). */
static cm_err parse_multipart(struct http_form *f, const char *ct, const char *s, size_t len)
{
    char b[BOUNDARY_MAX + 1], delim[BOUNDARY_MAX + 5];
    size_t dl, i;
    const char *p;
    cm_err rc = CM_OK;

    if (!header_param(b, sizeof(b), ct, strlen(ct), "boundary") || b[0] == '\0')
        return cm_err_set(CM_ERR_INVALID, "form: multipart without a boundary of 1 to 70 "
                                          "characters");
    dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", b);
    /* The first delimiter may open the body without its CRLF. */
    if (len >= dl - 2 && memcmp(s, delim + 2, dl - 2) == 0)
        i = dl - 2;
    else if ((p = memmem(s, len, delim, dl)) != NULL)
        i = (size_t)(p - s) + dl;
    else
        return cm_err_set(CM_ERR_INVALID, "form: no multipart boundary in the body");
    for (;;) {
        if (len - i >= 2 && s[i] == '-' && s[i + 1] == '-')
            return CM_OK; /* the close delimiter */
        if (len - i < 2 || s[i] != '\r' || s[i + 1] != '\n')
            return cm_err_set(CM_ERR_INVALID, "form: bad multipart delimiter line");
        i += 2;
        if ((p = memmem(s + i, len - i, delim, dl)) == NULL)
            return cm_err_set(CM_ERR_INVALID, "form: multipart body not closed");
        CM_TRY(multipart_part(f, s + i, (size_t)(p - (s + i))));
        i = (size_t)(p - s) + dl;
    }
out:
    return rc;
}

cm_err http_form_parse(struct http_form *out, const char *content_type, const unsigned char *body,
                       size_t len)
{
    const char *s = (const char *)body;
    memset(out, 0, sizeof(*out));
    if (body == NULL)
        len = 0;
    if (content_type == NULL ||
        strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0)
        return parse_urlencoded(out, s, len);
    if (strncasecmp(content_type, "multipart/form-data", 19) == 0)
        return parse_multipart(out, content_type, s, len);
    return cm_err_set(CM_ERR_INVALID,
                      "form: Content-Type must be application/x-www-form-urlencoded or "
                      "multipart/form-data");
}

void http_form_clear(struct http_form *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->f[i].value);
    memset(f, 0, sizeof(*f));
}

const struct form_field *http_form_get(const struct http_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->f[i].name, name) == 0)
            return &f->f[i];
    return NULL;
}

const char *http_form_text(const struct http_form *f, const char *name)
{
    const struct form_field *x = http_form_get(f, name);
    if (x == NULL || memchr(x->value, '\0', x->len) != NULL)
        return NULL;
    return (const char *)x->value;
}

int http_cookie_get(char *out, size_t cap, const char *header, const char *name)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ';');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        while (l > 0 && (*p == ' ' || *p == '\t'))
            p++, l--;
        if (l > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = l - nl - 1;
            while (vl > 0 && (p[nl + 1 + vl - 1] == ' ' || p[nl + 1 + vl - 1] == '\t'))
                vl--;
            if (vl + 1 > cap)
                return 0;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}
