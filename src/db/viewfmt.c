/* Writers for the certificate view: aligned table, CSV, JSON. Rows are
 * streamed; only the table keeps its first TABLE_SAMPLE_ROWS rows to size
 * the columns (longer cells further down push their row out instead). */
#include "db/viewfmt.h"

#include "util/json.h"

#include "util/buf.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TABLE_SAMPLE_ROWS 1000
#define CELL_MAX (16 * 1024 * 1024)

const char viewfmt_default_cols[] =
    "RequestID,Disposition,SerialNumber,CommonName,NotAfter,RevokedReason";

cm_err viewfmt_parse_format(enum viewfmt_format *out, const char *s)
{
    if (strcasecmp(s, "table") == 0)
        *out = VIEWFMT_TABLE;
    else if (strcasecmp(s, "csv") == 0)
        *out = VIEWFMT_CSV;
    else if (strcasecmp(s, "json") == 0)
        *out = VIEWFMT_JSON;
    else
        return cm_err_set(CM_ERR_INVALID, "format '%s': expected table, csv or json", s);
    return CM_OK;
}

cm_err viewfmt_parse_columns(int *cols, size_t *ncols, size_t max, const char *list)
{
    char name[64];
    const char *p = list, *e;
    size_t n = 0, len;

    *ncols = 0;
    for (;;) {
        e = strchr(p, ',');
        len = e ? (size_t)(e - p) : strlen(p);
        while (len > 0 && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == 0)
            return cm_err_set(CM_ERR_INVALID, "column list '%s': empty column name", list);
        if (len >= sizeof(name))
            return cm_err_set(CM_ERR_INVALID, "column list: name '%.*s...' too long", 20, p);
        memcpy(name, p, len);
        name[len] = '\0';
        if (n == max)
            return cm_err_set(CM_ERR_INVALID, "column list: more than %zu columns", max);
        if ((cols[n] = db_column_find(name)) < 0)
            return CM_ERR_INVALID; /* the message names it */
        n++;
        if (e == NULL)
            break;
        p = e + 1;
    }
    *ncols = n;
    return CM_OK;
}

struct run {
    FILE *f;
    const struct viewfmt_opts *o;
    uint64_t rows;
    int stopped; /* the limit was reached: not an error */
    cm_buf raw;  /* one value as text (blobs in base64) */
    cm_buf cell; /* one value encoded for the output */
    /* table */
    char **sample; /* TABLE_SAMPLE_ROWS x ncols encoded cells */
    size_t nsample;
    size_t width[VIEWFMT_MAX_COLS];
    int flushed;
};

/* The value of column ci as text into r->raw; returns 0 for NULL. */
static cm_err value_text(int *present, struct run *r, const struct db_row *row, int ci)
{
    cm_err rc;

    buf_reset(&r->raw);
    *present = 0;
    if (db_columns[ci].type == DB_COL_BLOB) {
        size_t n = row->blob_len[ci];
        int m;
        if (row->blobs[ci] == NULL)
            return CM_OK;
        if (n > INT_MAX / 2)
            return cm_err_set(CM_ERR_INVALID, "%s: value too large", db_columns[ci].name);
        if ((rc = buf_reserve(&r->raw, 4 * ((n + 2) / 3) + 1)) != CM_OK)
            return rc;
        m = EVP_EncodeBlock(r->raw.data, row->blobs[ci], (int)n);
        r->raw.len = (size_t)m;
        r->raw.data[m] = '\0';
    } else {
        if (row->values[ci] == NULL)
            return CM_OK;
        if ((rc = buf_append_str(&r->raw, row->values[ci])) != CM_OK)
            return rc;
    }
    *present = 1;
    return CM_OK;
}

/* Numbers in JSON and right-aligned in tables. Origin is shown by name. */
static int is_number_col(int ci)
{
    return db_columns[ci].type == DB_COL_INT && strcmp(db_columns[ci].name, "Origin") != 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 4: no overlongs,
 * no surrogates, at most U+10FFFF), or 0 when it is not one; *cp gets the
 * code point. */
static size_t utf8_seq(const unsigned char *p, unsigned *cp)
{
    unsigned c = p[0], need, v;
    size_t k;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        need = 1, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        need = 2, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3, v = c & 0x07;
    else
        return 0;
    for (k = 1; k <= need; k++) {
        if ((p[k] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        v = v << 6 | (p[k] & 0x3f);
    }
    if ((need == 2 && v < 0x800) || (need == 3 && v < 0x10000) || v > 0x10ffff ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return need + 1;
}

/* Table cell: what reaches a terminal is printable. C0 controls and DEL,
 * C1 controls (U+0080..U+009F: 0x9B is CSI, as ESC [ is), bytes that are
 * not well-formed UTF-8, and the bidirectional overrides and isolates
 * (U+202A..U+202E, U+2066..U+2069, which reorder the rest of the line) are
 * written as \xHH per byte; \n and \t as such. So a row stays one line and
 * a value cannot drive the terminal. */
static cm_err enc_table(cm_buf *b, const char *s, int present)
{
    static const char hx[] = "0123456789abcdef";
    cm_err rc = CM_OK;
    const unsigned char *p = (const unsigned char *)s;

    if (!present)
        return buf_append_str(b, "EMPTY");
    while (*p && rc == CM_OK) {
        unsigned cp = 0;
        size_t n = utf8_seq(p, &cp), esc;
        if (*p == '\n') {
            rc = buf_append(b, "\\n", 2);
            p++;
            continue;
        }
        if (*p == '\t') {
            rc = buf_append(b, "\\t", 2);
            p++;
            continue;
        }
        /* Bytes to escape: the whole sequence when the character is a
         * control, the one offending byte when the UTF-8 is broken. */
        esc = n == 0 ? 1
              : (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
                 (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
                  ? n
                  : 0;
        if (esc == 0) {
            rc = buf_append(b, p, n);
            p += n;
            continue;
        }
        for (size_t i = 0; i < esc && rc == CM_OK; i++) {
            char e[4] = {'\\', 'x', hx[p[i] >> 4], hx[p[i] & 15]};
            rc = buf_append(b, e, 4);
        }
        p += esc;
    }
    return rc;
}

/* A cell a spreadsheet would run as a formula (OWASP "CSV Injection"):
 * starting with '=', '+', '-' or '@', or with a tab or CR before one of
 * them. Numbers ("-1") are left alone: they are data, not formulas. */
static int csv_formula(const char *s, int number)
{
    if (number)
        return 0;
    return s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r';
}

/* RFC 4180 2.6-2.7: a field holding a comma, quote, CR or LF is quoted,
 * quotes doubled. Leading/trailing spaces are quoted too (spreadsheets
 * trim them otherwise). A text that a spreadsheet would take for a formula
 * gets a leading single quote (OWASP), inside the quotes. NULL is an empty
 * field, an empty string "". */
static cm_err enc_csv(cm_buf *b, const char *s, int present, int number)
{
    size_t n;
    cm_err rc = CM_OK;
    int formula;

    if (!present)
        return CM_OK;
    n = strlen(s);
    formula = csv_formula(s, number);
    if (n > 0 && !formula && strpbrk(s, ",\"\r\n") == NULL && s[0] != ' ' && s[n - 1] != ' ')
        return buf_append(b, s, n);
    rc = buf_append(b, formula ? "\"'" : "\"", formula ? 2 : 1);
    for (const char *p = s; *p && rc == CM_OK; p++)
        rc = *p == '"' ? buf_append(b, "\"\"", 2) : buf_append(b, p, 1);
    if (rc == CM_OK)
        rc = buf_append(b, "\"", 1);
    return rc;
}

/* JSON strings are encoded by util/json.c (RFC 8259 7). */
static cm_err enc_json(cm_buf *b, const char *s, int present, int number)
{
    if (!present)
        return buf_append_str(b, "null");
    if (number)
        return buf_append_str(b, s);
    return json_append_string(b, s);
}

/* Columns shown on a terminal: UTF-8 continuation bytes take none. */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            w++;
    return w;
}

static void table_line(struct run *r, char *const *cells)
{
    const struct viewfmt_opts *o = r->o;
    for (size_t i = 0; i < o->ncols; i++) {
        size_t w = display_width(cells[i]);
        size_t pad = r->width[i] > w ? r->width[i] - w : 0;
        int right = is_number_col(o->cols[i]);
        if (i > 0)
            fputs("  ", r->f);
        if (right)
            fprintf(r->f, "%*s", (int)pad, "");
        fputs(cells[i], r->f);
        if (!right && i + 1 < o->ncols)
            fprintf(r->f, "%*s", (int)pad, "");
    }
    fputc('\n', r->f);
}

/* Sizes the columns from the header and the sample, then writes both. */
static cm_err table_flush(struct run *r)
{
    const struct viewfmt_opts *o = r->o;
    char *hdr[VIEWFMT_MAX_COLS], *dash[VIEWFMT_MAX_COLS];
    cm_err rc = CM_OK;

    memset(dash, 0, sizeof(dash));
    for (size_t i = 0; i < o->ncols; i++) {
        hdr[i] = (char *)db_columns[o->cols[i]].name;
        r->width[i] = strlen(hdr[i]);
        for (size_t j = 0; j < r->nsample; j++) {
            size_t w = display_width(r->sample[j * o->ncols + i]);
            if (w > r->width[i])
                r->width[i] = w;
        }
    }
    for (size_t i = 0; i < o->ncols; i++) {
        dash[i] = malloc(r->width[i] + 1);
        CM_NOMEM_IF(dash[i] == NULL);
        memset(dash[i], '-', r->width[i]);
        dash[i][r->width[i]] = '\0';
    }
    table_line(r, hdr);
    table_line(r, dash);
    for (size_t j = 0; j < r->nsample; j++)
        table_line(r, r->sample + j * o->ncols);
    r->flushed = 1;
out:
    for (size_t i = 0; i < o->ncols; i++)
        free(dash[i]);
    return rc;
}

static cm_err row_cb(void *ctx, const struct db_row *row)
{
    struct run *r = ctx;
    const struct viewfmt_opts *o = r->o;
    int present;
    cm_err rc = CM_OK;

    if (o->format == VIEWFMT_TABLE && !r->flushed) {
        /* Keep the row for sizing the columns. */
        char **cells = r->sample + r->nsample * o->ncols;
        for (size_t i = 0; i < o->ncols; i++) {
            CM_TRY(value_text(&present, r, row, o->cols[i]));
            buf_reset(&r->cell);
            CM_TRY(enc_table(&r->cell, buf_str(&r->raw), present));
            cells[i] = strdup(buf_str(&r->cell));
            CM_NOMEM_IF(cells[i] == NULL);
        }
        r->nsample++;
        if (r->nsample == TABLE_SAMPLE_ROWS)
            CM_TRY(table_flush(r));
    } else {
        char *cells[VIEWFMT_MAX_COLS];
        size_t off[VIEWFMT_MAX_COLS];
        buf_reset(&r->cell);
        if (o->format == VIEWFMT_JSON)
            CM_TRY(buf_append_str(&r->cell, r->rows == 0 ? "\n  {" : ",\n  {"));
        for (size_t i = 0; i < o->ncols; i++) {
            int ci = o->cols[i];
            size_t start = r->cell.len;
            CM_TRY(value_text(&present, r, row, ci));
            switch (o->format) {
            case VIEWFMT_TABLE:
                CM_TRY(enc_table(&r->cell, buf_str(&r->raw), present));
                CM_TRY(buf_append(&r->cell, "", 1)); /* each cell NUL-terminated */
                off[i] = start;                      /* the buffer may still move */
                break;
            case VIEWFMT_CSV:
                if (i > 0)
                    CM_TRY(buf_append(&r->cell, ",", 1));
                CM_TRY(enc_csv(&r->cell, buf_str(&r->raw), present, is_number_col(ci)));
                break;
            case VIEWFMT_JSON:
                if (i > 0)
                    CM_TRY(buf_append(&r->cell, ", ", 2));
                CM_TRY(enc_json(&r->cell, db_columns[ci].name, 1, 0));
                CM_TRY(buf_append(&r->cell, ": ", 2));
                CM_TRY(enc_json(&r->cell, buf_str(&r->raw), present, is_number_col(ci)));
                break;
            }
        }
        switch (o->format) {
        case VIEWFMT_TABLE:
            for (size_t i = 0; i < o->ncols; i++)
                cells[i] = (char *)r->cell.data + off[i];
            table_line(r, cells);
            break;
        case VIEWFMT_CSV:
            CM_TRY(buf_append(&r->cell, "\r\n", 2)); /* RFC 4180 2.1: CRLF */
            fwrite(r->cell.data, 1, r->cell.len, r->f);
            break;
        case VIEWFMT_JSON:
            CM_TRY(buf_append(&r->cell, "}", 1));
            fwrite(r->cell.data, 1, r->cell.len, r->f);
            break;
        }
    }
    r->rows++;
    if (ferror(r->f))
        CM_FAIL(CM_ERR_IO, "writing the view: output error");
    if (o->limit != 0 && r->rows >= o->limit) {
        r->stopped = 1;
        rc = CM_ERR_STATE; /* stops db_view; not reported */
    }
out:
    return rc;
}

cm_err viewfmt_run(FILE *f, db_t *db, const struct db_restrict *restr, size_t nr,
                   const struct viewfmt_opts *o)
{
    struct run r;
    cm_err rc;

    assert(o->ncols > 0 && o->ncols <= VIEWFMT_MAX_COLS);
    memset(&r, 0, sizeof(r));
    r.f = f;
    r.o = o;
    buf_init(&r.raw, CELL_MAX);
    buf_init(&r.cell, CELL_MAX);
    if (o->format == VIEWFMT_TABLE) {
        r.sample = calloc((size_t)TABLE_SAMPLE_ROWS * o->ncols, sizeof(char *));
        CM_NOMEM_IF(r.sample == NULL);
    } else if (o->format == VIEWFMT_CSV) {
        for (size_t i = 0; i < o->ncols; i++)
            fprintf(f, "%s%s", i ? "," : "", db_columns[o->cols[i]].name);
        fputs("\r\n", f);
    } else {
        fputc('[', f);
    }
    rc = db_view(db, restr, nr, row_cb, &r);
    if (rc == CM_ERR_STATE && r.stopped)
        rc = CM_OK;
    if (rc != CM_OK)
        goto out;
    if (o->format == VIEWFMT_TABLE && !r.flushed)
        CM_TRY(table_flush(&r));
    else if (o->format == VIEWFMT_JSON)
        fputs(r.rows ? "\n]\n" : "]\n", f);
    if (fflush(f) != 0 || ferror(f))
        CM_FAIL(CM_ERR_IO, "writing the view: output error");
out:
    if (r.sample != NULL) {
        for (size_t i = 0; i < (size_t)TABLE_SAMPLE_ROWS * o->ncols; i++)
            free(r.sample[i]);
        free(r.sample);
    }
    buf_free(&r.raw);
    buf_free(&r.cell);
    return rc;
}
