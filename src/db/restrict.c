/* Parser for restriction expressions (see restrict.h). Hand-written and
 * bounded: the expression is at most RESTRICT_MAX_LEN bytes and
 * RESTRICT_MAX_TERMS terms, every value is copied into a buffer of the
 * expression's size, and every error is one line naming the term. */
#include "db/restrict.h"

#include "util/buf.h"
#include "util/hex.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What we know while parsing one term. */
struct term {
    const char *start; /* first byte of the term in the expression */
    size_t len;        /* bytes up to the separating comma (or the end) */
    int index;         /* 1-based, for messages */
};

/* Prefixes the current message with the term, shortened and trimmed so
 * that the whole message stays one readable line. */
static cm_err term_fail(cm_err rc, const struct term *t)
{
    char shown[72];
    const char *s = t->start;
    size_t n = t->len, o = 0;

    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    for (size_t i = 0; i < n && o < sizeof(shown) - 4; i++)
        shown[o++] = s[i];
    if (o < n) {
        memcpy(shown + o, "...", 3);
        o += 3;
    }
    shown[o] = '\0';
    return cm_err_prefix(rc, "restriction term %d '%s'", t->index, shown);
}

static int is_space(int c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_space(const char *p)
{
    while (is_space((unsigned char)*p))
        p++;
    return p;
}

/* Column name: letters, digits, underscore. */
static size_t ident_len(const char *p)
{
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_')
        n++;
    return n;
}

static int op_parse(enum db_op *op, const char **p)
{
    const char *s = *p;
    if (s[0] == '<' && s[1] == '=') {
        *op = DB_OP_LE;
        *p = s + 2;
    } else if (s[0] == '>' && s[1] == '=') {
        *op = DB_OP_GE;
        *p = s + 2;
    } else if (s[0] == '!' && s[1] == '=') {
        *op = DB_OP_NE;
        *p = s + 2;
    } else if (s[0] == '=') {
        *op = DB_OP_EQ;
        *p = s + 1;
    } else if (s[0] == '<') {
        *op = DB_OP_LT;
        *p = s + 1;
    } else if (s[0] == '>') {
        *op = DB_OP_GT;
        *p = s + 1;
    } else {
        return 0;
    }
    return 1;
}

/* "now", "now-7d", "now+30d", "now-12h"; anything else goes to
 * text_parse_time. */
static cm_err time_parse(int64_t *out, const char *v)
{
    long long n = 0;
    int64_t unit;
    char num[16];
    size_t len;
    cm_err rc;

    if (strncasecmp(v, "now", 3) != 0 || v[3] == '\0')
        return text_parse_time(out, strcasecmp(v, "now") == 0 ? "now" : v);
    if (v[3] != '+' && v[3] != '-')
        return cm_err_set(CM_ERR_INVALID, "date '%s': expected now, now-Nd or now+Nh", v);
    len = strlen(v + 4);
    if (len < 2 || len > 8)
        return cm_err_set(CM_ERR_INVALID, "date '%s': expected now-Nd or now+Nh", v);
    switch (v[4 + len - 1]) {
    case 'd':
    case 'D':
        unit = 86400;
        break;
    case 'h':
    case 'H':
        unit = 3600;
        break;
    default:
        return cm_err_set(CM_ERR_INVALID, "date '%s': unit must be d (days) or h (hours)", v);
    }
    memcpy(num, v + 4, len - 1);
    num[len - 1] = '\0';
    for (size_t i = 0; i < len - 1; i++)
        if (!isdigit((unsigned char)num[i]))
            return cm_err_set(CM_ERR_INVALID, "date '%s': '%s' is not a number", v, num);
    if ((rc = text_parse_int(&n, num, 0, 3660000, "date offset")) != CM_OK)
        return rc;
    if ((rc = text_parse_time(out, "now")) != CM_OK)
        return rc;
    *out += (v[3] == '-' ? -1 : 1) * (int64_t)n * unit;
    return CM_OK;
}

/* 1 when v is the decimal number code. */
static int num_is(const char *v, int code)
{
    long long n = -1;
    return isdigit((unsigned char)v[0]) && text_parse_int(&n, v, 0, 1000, "number") == CM_OK &&
           n == code;
}

static const struct {
    const char *name;
    int code;
} dispositions[] = {
    {"pending", DB_DISP_PENDING}, {"foreign", DB_DISP_FOREIGN}, {"issued", DB_DISP_ISSUED},
    {"revoked", DB_DISP_REVOKED}, {"failed", DB_DISP_FAILED},   {"denied", DB_DISP_DENIED},
};

static cm_err disp_parse(int64_t *out, const char *v)
{
    for (size_t i = 0; i < sizeof(dispositions) / sizeof(dispositions[0]); i++)
        if (strcasecmp(v, dispositions[i].name) == 0 || num_is(v, dispositions[i].code)) {
            *out = dispositions[i].code;
            return CM_OK;
        }
    return cm_err_set(CM_ERR_INVALID,
                      "disposition '%s': unknown (pending, issued, revoked, denied, failed, "
                      "foreign, or 9, 20, 21, 31, 30, 12)",
                      v);
}

static cm_err origin_parse(int64_t *out, const char *v)
{
    static const int origins[] = {DB_ORIGIN_ISSUED, DB_ORIGIN_IMPORTED, DB_ORIGIN_PLACEHOLDER};
    for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++)
        if (strcasecmp(v, db_origin_name(origins[i])) == 0 || num_is(v, origins[i])) {
            *out = origins[i];
            return CM_OK;
        }
    return cm_err_set(CM_ERR_INVALID,
                      "origin '%s': unknown (issued, imported, placeholder, or "
                      "0, 1, 2)",
                      v);
}

/* Text columns that hold hex digests (describe.c stores them lower case). */
static int is_hex_column(const struct db_column *col)
{
    return strcmp(col->name, "CertificateHash") == 0 ||
           strcmp(col->name, "SubjectKeyIdentifier") == 0;
}

/* Types the value v (already unquoted) for column col into r. */
static cm_err value_parse(struct db_restrict *r, const char *v, int quoted)
{
    const struct db_column *col = &db_columns[r->column];
    long long n = 0;
    int code;
    char serial[CM_SERIAL_BUF];
    char thumb[HEX_THUMB_MAX + 1];
    cm_err rc;

    if (col->type == DB_COL_BLOB)
        return cm_err_set(CM_ERR_INVALID, "column %s holds binary data and cannot be restricted",
                          col->name);
    /* A bare EMPTY is the missing value; "EMPTY" in quotes is the text. */
    if (!quoted && strcasecmp(v, "EMPTY") == 0) {
        if (r->op != DB_OP_EQ && r->op != DB_OP_NE)
            return cm_err_set(CM_ERR_INVALID, "EMPTY can only be compared with = or !=");
        r->is_null = 1;
        return CM_OK;
    }
    if (*v == '\0' && !quoted)
        return cm_err_set(CM_ERR_INVALID, "missing value (use EMPTY for a missing value)");
    switch (col->type) {
    case DB_COL_INT:
        if (strcmp(col->name, "Origin") == 0)
            return origin_parse(&r->ival, v);
        if ((rc = text_parse_int(&n, v, -INT64_MAX, INT64_MAX, col->name)) != CM_OK)
            return rc;
        r->ival = n;
        return CM_OK;
    case DB_COL_TIME:
        return time_parse(&r->ival, v);
    case DB_COL_DISP:
        return disp_parse(&r->ival, v);
    case DB_COL_REASON:
        if ((code = db_reason_parse(v)) < 0)
            return CM_ERR_INVALID;
        r->ival = code;
        return CM_OK;
    case DB_COL_SERIAL:
        if ((rc = text_serial_canon(serial, v)) != CM_OK)
            return rc;
        v = serial;
        break;
    case DB_COL_TEXT:
        /* Thumbprints are stored as bare lower-case hex; accept them as
         * Windows (upper case, spaces) or OpenSSL (colons) shows them.
         * Only for equality: an ordering of hex text means nothing. */
        if (is_hex_column(col) && (r->op == DB_OP_EQ || r->op == DB_OP_NE)) {
            if ((rc = hex_thumbprint(thumb, v, col->name)) != CM_OK)
                return rc;
            v = thumb;
        }
        break;
    case DB_COL_BLOB:
        assert(0);
        break;
    }
    r->sval = strdup(v);
    if (r->sval == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    return CM_OK;
}

/* Parses one term starting at *pp into r; *pp is left at the comma or the
 * end. val is scratch space at least as long as the expression. */
static cm_err term_parse(struct db_restrict *r, struct term *t, const char **pp, char *val)
{
    const char *p = *pp, *name;
    char colname[64];
    size_t n, vlen = 0;
    int quoted = 0;
    cm_err rc;

    t->start = p;
    /* The term's extent, for messages: up to the first comma outside
     * quotes (or the end). */
    for (int inq = 0; p[t->len] != '\0' && (inq || p[t->len] != ','); t->len++) {
        if (inq && p[t->len] == '\\' && (p[t->len + 1] == '"' || p[t->len + 1] == '\\'))
            t->len++;
        else if (p[t->len] == '"')
            inq = !inq;
    }

    p = skip_space(p);
    if (*p == ',' || *p == '\0')
        return cm_err_set(CM_ERR_INVALID, "restriction term %d: empty", t->index);
    name = p;
    n = ident_len(p);
    if (n == 0)
        return term_fail(cm_err_set(CM_ERR_INVALID, "expected a column name"), t);
    if (n >= sizeof(colname))
        return term_fail(cm_err_set(CM_ERR_INVALID, "column name too long"), t);
    memcpy(colname, name, n);
    colname[n] = '\0';
    p = skip_space(p + n);
    r->column = db_column_find(colname);
    if (r->column < 0) {
        cm_buf b = CM_BUF_INIT(1024);
        for (size_t i = 0; i < db_ncolumns; i++)
            if (buf_printf(&b, "%s%s", i ? ", " : "", db_columns[i].name) != CM_OK)
                break;
        rc = cm_err_set(CM_ERR_INVALID, "unknown column '%s' (columns: %s)", colname, buf_str(&b));
        buf_free(&b);
        return term_fail(rc, t);
    }
    if (!op_parse(&r->op, &p))
        return term_fail(cm_err_set(CM_ERR_INVALID,
                                    "expected an operator (= != < <= > >=) after %s",
                                    db_columns[r->column].name),
                         t);
    p = skip_space(p);
    if (*p == '"') {
        quoted = 1;
        for (p++; *p != '"'; p++) {
            if (*p == '\0')
                return term_fail(cm_err_set(CM_ERR_INVALID, "unterminated quote"), t);
            /* \" and \\ are escapes; any other backslash is itself. */
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            val[vlen++] = *p;
        }
        p = skip_space(p + 1);
        if (*p != ',' && *p != '\0')
            return term_fail(cm_err_set(CM_ERR_INVALID, "unexpected text after the quoted value"),
                             t);
    } else {
        while (*p != ',' && *p != '\0') {
            if (*p == '"')
                return term_fail(cm_err_set(CM_ERR_INVALID, "a quote inside an unquoted value "
                                                            "(quote the whole value)"),
                                 t);
            val[vlen++] = *p++;
        }
        while (vlen > 0 && is_space((unsigned char)val[vlen - 1]))
            vlen--;
    }
    val[vlen] = '\0';
    if ((rc = value_parse(r, val, quoted)) != CM_OK)
        return term_fail(rc, t);
    *pp = p;
    return CM_OK;
}

cm_err restrict_parse(struct db_restrict **out, size_t *n, const char *expr)
{
    struct db_restrict *r = NULL;
    size_t len, nr = 0;
    char *val = NULL;
    const char *p;
    cm_err rc;

    *out = NULL;
    *n = 0;
    len = strnlen(expr, RESTRICT_MAX_LEN + 1);
    if (len > RESTRICT_MAX_LEN)
        CM_FAIL(CM_ERR_INVALID, "restriction: longer than %d bytes", RESTRICT_MAX_LEN);
    /* Control characters would make messages span lines; nobody types them
     * in a restriction. */
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)expr[i] < 0x20 && expr[i] != '\t') || expr[i] == 0x7f)
            CM_FAIL(CM_ERR_INVALID, "restriction: control character at offset %zu", i);
    p = skip_space(expr);
    if (*p == '\0')
        CM_FAIL(CM_ERR_INVALID, "restriction: empty (expected COLUMN OP VALUE[,...])");
    r = calloc(RESTRICT_MAX_TERMS, sizeof(*r));
    val = malloc(len + 1);
    CM_NOMEM_IF(r == NULL || val == NULL);
    p = expr;
    for (;;) {
        struct term t = {NULL, 0, (int)nr + 1};
        if (nr == RESTRICT_MAX_TERMS)
            CM_FAIL(CM_ERR_INVALID, "restriction: more than %d terms", RESTRICT_MAX_TERMS);
        CM_TRY(term_parse(&r[nr], &t, &p, val));
        nr++;
        if (*p == '\0')
            break;
        assert(*p == ',');
        p++;
    }
    *out = r;
    *n = nr;
    r = NULL;
    nr = 0;
    rc = CM_OK;
out:
    restrict_free(r, RESTRICT_MAX_TERMS);
    free(val);
    return rc;
}

void restrict_free(struct db_restrict *r, size_t n)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(r[i].sval);
    free(r);
}
