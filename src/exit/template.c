/* AD CS-style message templates (see template.h). The format is parsed
 * once into a list of segments, literal text or an argument reference, so
 * that rendering cannot fail on syntax and configuration errors surface
 * when the configuration is loaded. */
#include "exit/template.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest format and argument list accepted: configuration values. */
#define FORMAT_MAX 16384
#define ARGS_MAX 4096

struct segment {
    size_t off, len; /* literal: text[off .. off+len) */
    int arg;         /* argument number 0..8, or -1 for a literal */
};

struct template
{
    char *text; /* literal text, escapes resolved */
    struct segment *segs;
    size_t nsegs;
    int cols[TEMPLATE_MAX_ARGS]; /* column index of each argument */
    size_t nargs;
};

void template_free(struct template *t)
{
    if (t == NULL)
        return;
    free(t->text);
    free(t->segs);
    free(t);
}

size_t template_nargs(const struct template *t)
{
    return t->nargs;
}

int template_arg_column(const struct template *t, size_t i)
{
    assert(i < t->nargs);
    return t->cols[i];
}

static int find_column(const struct db_column *cols, size_t ncols, const char *name, size_t len)
{
    /* AD CS names request columns "Request.X"; certmint's view has them
     * unqualified. */
    if (len > 8 && strncasecmp(name, "Request.", 8) == 0) {
        name += 8;
        len -= 8;
    }
    for (size_t i = 0; i < ncols; i++)
        if (strlen(cols[i].name) == len && strncasecmp(cols[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static cm_err parse_args(struct template *t, const char *args, const struct db_column *cols,
                         size_t ncols)
{
    const char *p = args;

    if (strlen(args) > ARGS_MAX)
        return cm_err_set(CM_ERR_CONFIG, "template argument list: longer than %d bytes", ARGS_MAX);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return CM_OK; /* no arguments */
    for (;;) {
        const char *s = p, *e;
        size_t len;
        int col;

        while (*s == ' ' || *s == '\t')
            s++;
        e = s;
        while (*e != '\0' && *e != ',')
            e++;
        p = e;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        len = (size_t)(e - s);
        if (len == 0)
            return cm_err_set(CM_ERR_CONFIG, "template argument list '%s': empty column name",
                              args);
        if (t->nargs == TEMPLATE_MAX_ARGS)
            return cm_err_set(CM_ERR_CONFIG, "template argument list '%s': more than %d columns",
                              args, TEMPLATE_MAX_ARGS);
        col = find_column(cols, ncols, s, len);
        if (col < 0)
            return cm_err_set(CM_ERR_CONFIG, "template argument list: unknown column '%.*s'",
                              (int)len, s);
        t->cols[t->nargs++] = col;
        if (*p == '\0')
            break;
        p++; /* the comma */
    }
    return CM_OK;
}

static cm_err add_seg(struct template *t, size_t *cap, size_t off, size_t len, int arg)
{
    if (arg < 0 && len == 0)
        return CM_OK;
    /* Merge adjacent literals (escapes split them). */
    if (arg < 0 && t->nsegs > 0 && t->segs[t->nsegs - 1].arg < 0 &&
        t->segs[t->nsegs - 1].off + t->segs[t->nsegs - 1].len == off) {
        t->segs[t->nsegs - 1].len += len;
        return CM_OK;
    }
    if (t->nsegs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct segment *n = realloc(t->segs, ncap * sizeof(*n));
        if (n == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        t->segs = n;
        *cap = ncap;
    }
    t->segs[t->nsegs].off = off;
    t->segs[t->nsegs].len = len;
    t->segs[t->nsegs].arg = arg;
    t->nsegs++;
    return CM_OK;
}

cm_err template_compile_cols(struct template **out, const char *format, const char *args,
                             const struct db_column *cols, size_t ncols)
{
    struct template *t = NULL;
    size_t flen = strlen(format), tlen = 0, lit = 0, cap = 0;
    cm_err rc = CM_OK;

    *out = NULL;
    if (flen > FORMAT_MAX)
        CM_FAIL(CM_ERR_CONFIG, "template format: longer than %d bytes", FORMAT_MAX);
    t = calloc(1, sizeof(*t));
    CM_NOMEM_IF(t == NULL);
    t->text = malloc(flen + 1);
    CM_NOMEM_IF(t->text == NULL);
    CM_TRY(parse_args(t, args ? args : "", cols, ncols));

    /* Literal text is collected into t->text; `lit` is where the current
     * literal run started. */
    for (size_t i = 0; i < flen; i++) {
        char c = format[i];
        if (c == '\\' && i + 1 < flen &&
            (format[i + 1] == 'n' || format[i + 1] == 't' || format[i + 1] == '\\')) {
            i++;
            t->text[tlen++] = format[i] == 'n' ? '\n' : format[i] == 't' ? '\t' : '\\';
            continue;
        }
        if (c != '%') {
            t->text[tlen++] = c;
            continue;
        }
        if (i + 1 == flen)
            CM_FAIL(CM_ERR_CONFIG,
                    "template format '%.200s': '%%' at the end (write %%%% for a "
                    "literal %%)",
                    format);
        if (format[i + 1] == '%') {
            i++;
            t->text[tlen++] = '%';
            continue;
        }
        if (format[i + 1] < '1' || format[i + 1] > '9')
            CM_FAIL(CM_ERR_CONFIG,
                    "template format '%.200s': '%%%c' at offset %zu is not %%1..%%%d or %%%%",
                    format, format[i + 1], i, TEMPLATE_MAX_ARGS);
        int n = format[i + 1] - '1';
        /* Two digits (%10 ..) when the argument list is that long, as in
         * AD CS's message formats; otherwise "%10" is %1 followed by "0". */
        if (i + 2 < flen && format[i + 2] >= '0' && format[i + 2] <= '9') {
            int n2 = (format[i + 1] - '0') * 10 + (format[i + 2] - '0');
            if ((size_t)n2 <= t->nargs) {
                n = n2 - 1;
                i++;
            }
        }
        if ((size_t)n >= t->nargs)
            CM_FAIL(CM_ERR_CONFIG,
                    "template format '%.200s': %%%d refers to argument %d but the argument "
                    "list has %zu",
                    format, n + 1, n + 1, t->nargs);
        CM_TRY(add_seg(t, &cap, lit, tlen - lit, -1));
        CM_TRY(add_seg(t, &cap, 0, 0, n));
        lit = tlen;
        i++;
    }
    CM_TRY(add_seg(t, &cap, lit, tlen - lit, -1));
    t->text[tlen] = '\0';
    *out = t;
    t = NULL;
out:
    template_free(t);
    return rc;
}

cm_err template_render(cm_buf *out, const struct template *t, const char *const *values,
                       size_t nvalues)
{
    cm_err rc = CM_OK;

    for (size_t i = 0; i < t->nsegs; i++) {
        const struct segment *s = &t->segs[i];
        if (s->arg < 0) {
            CM_TRY(buf_append(out, t->text + s->off, s->len));
        } else {
            size_t col = (size_t)t->cols[s->arg];
            assert(col < nvalues);
            const char *v = values[col];
            CM_TRY(buf_append_str(out, v ? v : TEMPLATE_NULL_TEXT));
        }
    }
out:
    return rc;
}
