/* The configuration file: parsing, schema validation, editing, saving.
 *
 * The file is kept as a list of lines. Lines that were read and not changed
 * are written back byte for byte, so that comments, blank lines, spacing and
 * key order chosen by the operator survive `certmint config set`: a set
 * rewrites only its own line (keeping a trailing comment), a new key is
 * appended, an unset removes the line. */
#include "config/config.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/hex.h"
#include "util/text.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFG_LINE_MAX 4096          /* bytes per line, without the newline */
#define CFG_FILE_MAX (1024 * 1024) /* bytes per file */

/* The schema: the core keys (keys_core.c), then the tables the layers
 * above register (config_schema_register), in the order `config keys` and
 * the documentation list them. config depends on none of those layers: the
 * exit registry (src/exit/registry.c) registers the exit framework's keys,
 * the directory client's and each exit module's at start.
 *
 * Tables are only ever appended: a reader loads the count (acquire) and
 * reads tables below it, which the writer filled before publishing the
 * count (release), so lookups need no lock; writers take the mutex. */
#define CFG_MAX_TABLES 32
extern const struct config_key config_keys_core[];
static const struct config_key *schema_tables[CFG_MAX_TABLES] = {config_keys_core};
static _Atomic size_t schema_ntables = 1;
static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t schema_count(void)
{
    return atomic_load_explicit(&schema_ntables, memory_order_acquire);
}

struct cfg_line {
    char *raw;     /* the line as read, without newline; NULL once rewritten */
    char *key;     /* NULL for blank and comment lines */
    char *value;   /* the normalized value (what config_get returns) */
    char *comment; /* trailing "# ..." kept when the line is rewritten; may be NULL */
};

struct cm_config {
    struct cfg_line *lines;
    size_t n, cap;
};

/* ---- schema ---------------------------------------------------------- */

static int is_name_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

static int is_key_char(int ch)
{
    return is_name_char(ch) || ch == '.';
}

/* Matches key against pattern segment by segment. A `*` segment matches one
 * non-empty name segment [A-Za-z0-9_-]+; other segments match exactly. */
static int pattern_match(const char *pat, const char *key)
{
    for (;;) {
        const char *pe = strchr(pat, '.');
        const char *ke = strchr(key, '.');
        size_t pn = pe ? (size_t)(pe - pat) : strlen(pat);
        size_t kn = ke ? (size_t)(ke - key) : strlen(key);

        if (kn == 0)
            return 0;
        if (pn == 1 && pat[0] == '*') {
            for (size_t i = 0; i < kn; i++)
                if (!is_name_char((unsigned char)key[i]))
                    return 0;
        } else if (pn != kn || memcmp(pat, key, pn) != 0) {
            return 0;
        }
        if ((pe == NULL) != (ke == NULL))
            return 0;
        if (pe == NULL)
            return 1;
        pat = pe + 1;
        key = ke + 1;
    }
}

const struct config_key *config_schema_find(const char *key)
{
    /* Exact patterns win over wildcard ones, so that a module can declare
     * both `x.*.y` and a specific `x.default.y`. */
    size_t n = schema_count();
    for (int wild = 0; wild < 2; wild++)
        for (size_t m = 0; m < n; m++)
            for (const struct config_key *k = schema_tables[m]; k->pattern != NULL; k++)
                if ((strchr(k->pattern, '*') != NULL) == wild && pattern_match(k->pattern, key))
                    return k;
    return NULL;
}

void config_schema_foreach(void (*cb)(void *ctx, const struct config_key *k), void *ctx)
{
    size_t n = schema_count();
    for (size_t m = 0; m < n; m++)
        for (const struct config_key *k = schema_tables[m]; k->pattern != NULL; k++)
            cb(ctx, k);
}

/* The table and key of an already declared pattern, or NULL. */
static const struct config_key *schema_declared(const char *pattern, size_t n)
{
    for (size_t m = 0; m < n; m++)
        for (const struct config_key *k = schema_tables[m]; k->pattern != NULL; k++)
            if (strcmp(k->pattern, pattern) == 0)
                return k;
    return NULL;
}

cm_err config_schema_register(const struct config_key *keys)
{
    cm_err rc = CM_OK;
    size_t n;

    pthread_mutex_lock(&schema_lock);
    n = schema_count();
    for (size_t m = 0; m < n; m++)
        if (schema_tables[m] == keys)
            goto out; /* already registered */
    if (n == CFG_MAX_TABLES)
        CM_FAIL(CM_ERR_CONFIG, "configuration schema: more than %d key tables", CFG_MAX_TABLES);
    for (const struct config_key *k = keys; k->pattern != NULL; k++) {
        /* Two owners of one key would shadow each other silently. */
        if (schema_declared(k->pattern, n) != NULL)
            CM_FAIL(CM_ERR_CONFIG, "configuration schema: key '%s' is declared twice", k->pattern);
        for (const struct config_key *j = keys; j != k; j++)
            if (strcmp(j->pattern, k->pattern) == 0)
                CM_FAIL(CM_ERR_CONFIG, "configuration schema: key '%s' is declared twice",
                        k->pattern);
    }
    schema_tables[n] = keys;
    atomic_store_explicit(&schema_ntables, n + 1, memory_order_release);
out:
    pthread_mutex_unlock(&schema_lock);
    return rc;
}

int config_key_is_secret(const char *key)
{
    static const char *const suffixes[] = {"password", "passphrase"};
    size_t n = strlen(key);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t s = strlen(suffixes[i]);
        if (n >= s && strcmp(key + n - s, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

/* ---- value validation -------------------------------------------------- */

/* Every value is one line of valid UTF-8 without control characters: the
 * file is line-based, and values end up in certificates, mail headers and
 * LDAP filters where a stray CR/LF or invalid byte would do damage. */
static cm_err value_check_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t len, i;
        unsigned cp;

        if (c < 0x20 || c == 0x7f)
            return cm_err_set(CM_ERR_CONFIG, "contains a control character (0x%02x)", c);
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return cm_err_set(CM_ERR_CONFIG, "not valid UTF-8");
        }
        for (i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return cm_err_set(CM_ERR_CONFIG, "not valid UTF-8");
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return cm_err_set(CM_ERR_CONFIG, "not valid UTF-8");
        p += len;
    }
    return CM_OK;
}

/* A decimal integer: optional '-', digits, nothing else. */
static cm_err parse_int(long long *out, const char *s)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    char *end = NULL;
    long long v;

    if (*d == '\0')
        return cm_err_set(CM_ERR_CONFIG, "'%s' is not a number", s);
    for (const char *p = d; *p; p++)
        if (*p < '0' || *p > '9')
            return cm_err_set(CM_ERR_CONFIG, "'%s' is not a number", s);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return cm_err_set(CM_ERR_CONFIG, "'%s' is out of range", s);
    *out = v;
    return CM_OK;
}

static int parse_bool(const char *s)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

cm_err config_parse_duration(int64_t *out, const char *s)
{
    int64_t v = 0, mult = 1;
    const char *p = s;

    if (s == NULL || *s == '\0')
        return cm_err_set(CM_ERR_CONFIG, "empty duration");
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10)
            return cm_err_set(CM_ERR_CONFIG, "duration '%s' is too long", s);
        v = v * 10 + (*p - '0');
    }
    if (p == s)
        return cm_err_set(CM_ERR_CONFIG,
                          "duration '%s': expected a number of seconds or Nd, Nh, Nm, Ns", s);
    switch (*p) {
    case '\0':
        break;
    case 'd':
        mult = 86400;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'm':
        mult = 60;
        break;
    case 's':
        break;
    default:
        return cm_err_set(CM_ERR_CONFIG,
                          "duration '%s': unknown unit (use d, h, m or s, e.g. 7d, 12h, 30m)", s);
    }
    if (*p != '\0' && p[1] != '\0')
        return cm_err_set(CM_ERR_CONFIG,
                          "duration '%s': one number and one unit only (e.g. 36h, not 1d12h)", s);
    if (v > INT64_MAX / mult)
        return cm_err_set(CM_ERR_CONFIG, "duration '%s' is too long", s);
    *out = v * mult;
    return CM_OK;
}

/* Formats seconds for range messages: "1d", "5m", "90s". */
static void duration_format(char *out, size_t outsz, long long s)
{
    if (s != 0 && s % 86400 == 0)
        snprintf(out, outsz, "%lldd", s / 86400);
    else if (s != 0 && s % 3600 == 0)
        snprintf(out, outsz, "%lldh", s / 3600);
    else if (s != 0 && s % 60 == 0)
        snprintf(out, outsz, "%lldm", s / 60);
    else
        snprintf(out, outsz, "%llds", s);
}

/* RFC 3986 2.2-2.3: unreserved, gen-delims and sub-delims; '%' starts a
 * pct-encoded triplet (checked separately). */
static int url_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL);
}

/* URLs go into certificates (CRL distribution points, AIA) as IA5String
 * (RFC 5280 4.2.1.13, 4.2.2.1) and into client libraries: only RFC 3986
 * characters with valid %XX escapes (no spaces, quotes, '<', '>', '\\',
 * '^', '`', '{', '|', '}', no control or non-ASCII byte), a known scheme,
 * and a host for everything but file:. The certificate extensions are built
 * from the URL as one ASN.1 string (src/ca/issue.c), so characters with a
 * meaning in OpenSSL's configuration syntax (',' ':') are plain data. */
/* Only RFC 3986 characters, and every '%' starts a %XX escape. */
static cm_err url_check_chars(const char *s)
{
    const char *p;

    for (p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return cm_err_set(CM_ERR_CONFIG,
                              "URL '%s': spaces and non-ASCII characters must be %%-encoded", s);
    for (p = s; *p; p++) {
        if (!url_char((unsigned char)*p))
            return cm_err_set(CM_ERR_CONFIG,
                              "URL '%s': character '%c' is not allowed in a URI (RFC 3986 2); "
                              "%%-encode it",
                              s, *p);
        if (*p == '%' &&
            (hex_digit_value((unsigned char)p[1]) < 0 || hex_digit_value((unsigned char)p[2]) < 0))
            return cm_err_set(CM_ERR_CONFIG,
                              "URL '%s': '%%' must start a %%XX escape (RFC 3986 2.1)", s);
    }
    return CM_OK;
}

/* The authority auth..aend of URL s (RFC 3986 3.2): [userinfo@]host[:port],
 * host a name or a bracketed IPv6 address, port 1..65535. */
static cm_err url_check_authority(const char *s, const char *auth, const char *aend)
{
    const char *p, *host = auth, *hend;

    /* userinfo@ is allowed (ldap://, smtp://); the host follows the last '@'. */
    for (p = auth; p < aend; p++)
        if (*p == '@')
            host = p + 1;
    if (*host == '[') {
        hend = memchr(host, ']', (size_t)(aend - host));
        if (hend == NULL || hend == host + 1)
            return cm_err_set(CM_ERR_CONFIG, "URL '%s': bad IPv6 address", s);
        p = hend + 1;
        hend++;
    } else {
        hend = host;
        while (hend < aend && *hend != ':')
            hend++;
        p = hend;
    }
    if (hend == host)
        return cm_err_set(CM_ERR_CONFIG, "URL '%s': no host", s);
    if (p < aend) {
        long port = 0;
        if (*p != ':' || p + 1 == aend)
            return cm_err_set(CM_ERR_CONFIG, "URL '%s': bad port", s);
        for (p++; p < aend; p++) {
            if (*p < '0' || *p > '9' || port > 65535)
                return cm_err_set(CM_ERR_CONFIG, "URL '%s': bad port", s);
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return cm_err_set(CM_ERR_CONFIG, "URL '%s': port out of range 1..65535", s);
    }
    return CM_OK;
}

cm_err config_check_url(const char *s)
{
    static const char *const schemes[] = {"http", "https", "ldap", "ldaps",
                                          "smtp", "smtps", "file"};
    const char *colon, *auth, *aend;
    size_t i, sn;
    cm_err rc;

    if (*s == '\0')
        return cm_err_set(CM_ERR_CONFIG, "empty URL (use 'config unset' to remove it)");
    if ((rc = url_check_chars(s)) != CM_OK)
        return rc;
    colon = strchr(s, ':');
    if (colon == NULL)
        return cm_err_set(CM_ERR_CONFIG, "URL '%s': no scheme (e.g. http://)", s);
    sn = (size_t)(colon - s);
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strlen(schemes[i]) == sn && strncasecmp(s, schemes[i], sn) == 0)
            break;
    if (i == sizeof(schemes) / sizeof(schemes[0]))
        return cm_err_set(CM_ERR_CONFIG,
                          "URL '%s': scheme must be http, https, ldap, ldaps, smtp, smtps or file",
                          s);
    if (strcmp(schemes[i], "file") == 0) {
        if (colon[1] != '/')
            return cm_err_set(CM_ERR_CONFIG, "URL '%s': expected file:///PATH", s);
        return CM_OK;
    }
    if (colon[1] != '/' || colon[2] != '/')
        return cm_err_set(CM_ERR_CONFIG, "URL '%s': expected %s://HOST...", s, schemes[i]);
    auth = colon + 3;
    aend = auth + strcspn(auth, "/?#");
    /* One setting holds one URL: "http://a/x.crl,URI:http://b/" is what a
     * list (or an attempt on OpenSSL's "URI:" syntax) looks like. */
    if (strstr(aend, "://") != NULL)
        return cm_err_set(CM_ERR_CONFIG,
                          "URL '%s': holds a second URL ('://' after the host); give one URL "
                          "(%%-encode ':' as %%3A if it is data)",
                          s);
    return url_check_authority(s, auth, aend);
}

/* Validates `in` for k and gives the value to store. The message on failure
 * is the reason only; callers prefix the key. */
static cm_err value_validate(char **out, const struct config_key *k, const char *old,
                             const char *in)
{
    cm_err rc = CM_OK;
    char *norm = NULL;
    long long iv;
    int64_t dv;
    char buf[32];

    *out = NULL;
    CM_TRY(value_check_text(in));
    switch (k->type) {
    case CFG_STRING:
        norm = strdup(in);
        break;
    case CFG_INT:
        CM_TRY(parse_int(&iv, in));
        if (iv < k->min || iv > k->max)
            CM_FAIL(CM_ERR_CONFIG, "'%s' is out of range %lld..%lld", in, k->min, k->max);
        snprintf(buf, sizeof(buf), "%lld", iv);
        norm = strdup(buf);
        break;
    case CFG_BOOL: {
        int b = parse_bool(in);
        if (b < 0)
            CM_FAIL(CM_ERR_CONFIG, "'%s' is not yes or no", in);
        norm = strdup(b ? "yes" : "no");
        break;
    }
    case CFG_ENUM: {
        const char *p = k->choices;
        size_t n = strlen(in);
        assert(p != NULL);
        for (;;) {
            size_t cn = strcspn(p, "|");
            if (cn == n && strncasecmp(p, in, n) == 0) {
                norm = strndup(p, cn);
                break;
            }
            if (p[cn] == '\0')
                CM_FAIL(CM_ERR_CONFIG, "'%s' is not one of %s", in, k->choices);
            p += cn + 1;
        }
        break;
    }
    case CFG_DURATION:
        CM_TRY(config_parse_duration(&dv, in));
        if ((k->min != 0 || k->max != 0) && (dv < k->min || dv > k->max)) {
            char lo[32], hi[32];
            duration_format(lo, sizeof(lo), k->min);
            duration_format(hi, sizeof(hi), k->max);
            CM_FAIL(CM_ERR_CONFIG, "duration '%s' is out of range %s..%s", in, lo, hi);
        }
        norm = strdup(in);
        break;
    case CFG_URL:
        CM_TRY(config_check_url(in));
        norm = strdup(in);
        break;
    case CFG_CUSTOM:
        assert(k->check != NULL);
        CM_TRY(k->check(&norm, k, old, in));
        assert(norm != NULL);
        /* The checker's output goes into the file: hold it to the same rule. */
        CM_TRY(value_check_text(norm));
        break;
    }
    CM_NOMEM_IF(norm == NULL);
    *out = norm;
    norm = NULL;
out:
    free(norm);
    return rc;
}

/* ---- lines ------------------------------------------------------------- */

static void line_clear(struct cfg_line *l)
{
    free(l->raw);
    free(l->key);
    free(l->value);
    free(l->comment);
    memset(l, 0, sizeof(*l));
}

static cm_err lines_grow(cm_config *c)
{
    struct cfg_line *p;
    size_t ncap;

    if (c->n < c->cap)
        return CM_OK;
    ncap = c->cap ? c->cap * 2 : 32;
    p = realloc(c->lines, ncap * sizeof(*p));
    if (p == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    c->lines = p;
    c->cap = ncap;
    return CM_OK;
}

static struct cfg_line *line_find(const cm_config *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->lines[i].key != NULL && strcmp(c->lines[i].key, key) == 0)
            return &c->lines[i];
    return NULL;
}

/* A value is quoted when writing it bare would not read back the same:
 * empty, leading/trailing blanks, a '#' (comment) or a leading '"'. */
static int value_needs_quotes(const char *v)
{
    size_t n = strlen(v);
    return n == 0 || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t' ||
           v[0] == '"' || strchr(v, '#') != NULL;
}

static cm_err value_format(cm_buf *b, const char *v)
{
    cm_err rc = CM_OK;
    if (!value_needs_quotes(v))
        return buf_append_str(b, v);
    CM_TRY(buf_append(b, "\"", 1));
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            CM_TRY(buf_append(b, "\\", 1));
        CM_TRY(buf_append(b, p, 1));
    }
    CM_TRY(buf_append(b, "\"", 1));
out:
    return rc;
}

static cm_err line_format(cm_buf *b, const struct cfg_line *l)
{
    cm_err rc = CM_OK;
    if (l->raw != NULL)
        return buf_append_str(b, l->raw);
    assert(l->key != NULL && l->value != NULL);
    CM_TRY(buf_printf(b, "%s = ", l->key));
    CM_TRY(value_format(b, l->value));
    if (l->comment != NULL)
        CM_TRY(buf_printf(b, " %s", l->comment));
out:
    return rc;
}

static int is_blank(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Splits one line. Blank and comment lines give *key NULL. Otherwise *key
 * and *value are malloc'ed (value unquoted) and *comment is the trailing
 * "#..." (malloc'ed) or NULL. The message on failure is the reason only. */
static cm_err line_parse(char **key, char **value, char **comment, const char *line)
{
    cm_err rc = CM_OK;
    const char *p = line, *ks, *ke;
    cm_buf v = CM_BUF_INIT(CFG_LINE_MAX);
    char *k = NULL, *cm = NULL;

    *key = *value = *comment = NULL;
    while (is_blank((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == '#')
        return CM_OK;
    ks = p;
    while (is_key_char((unsigned char)*p))
        p++;
    ke = p;
    while (is_blank((unsigned char)*p))
        p++;
    if (ke == ks || *p != '=')
        CM_FAIL(CM_ERR_CONFIG, "expected 'key = value'");
    p++;
    while (is_blank((unsigned char)*p))
        p++;
    if (*p == '"') {
        /* Quoted: keeps blanks and '#'; \" and \\ are the only escapes. */
        for (p++;; p++) {
            if (*p == '\0')
                CM_FAIL(CM_ERR_CONFIG, "missing closing '\"'");
            if (*p == '"')
                break;
            if (*p == '\\') {
                p++;
                if (*p != '"' && *p != '\\')
                    CM_FAIL(CM_ERR_CONFIG, "in quotes, a backslash must be followed by \" or \\");
            }
            CM_TRY(buf_append(&v, p, 1));
        }
        p++;
        while (is_blank((unsigned char)*p))
            p++;
        if (*p != '\0' && *p != '#')
            CM_FAIL(CM_ERR_CONFIG, "text after the closing '\"'");
    } else {
        const char *vs = p, *ve = p + strcspn(p, "#");
        p = ve;
        while (ve > vs && is_blank((unsigned char)ve[-1]))
            ve--;
        CM_TRY(buf_append(&v, vs, (size_t)(ve - vs)));
    }
    if (*p == '#') {
        const char *ce = p + strlen(p);
        while (ce > p && is_blank((unsigned char)ce[-1]))
            ce--;
        cm = strndup(p, (size_t)(ce - p));
        CM_NOMEM_IF(cm == NULL);
    }
    k = strndup(ks, (size_t)(ke - ks));
    CM_NOMEM_IF(k == NULL);
    if (v.data == NULL)
        CM_TRY(buf_append(&v, "", 0)); /* an empty value is "", not NULL */
    *value = (char *)buf_steal(&v, NULL);
    *key = k;
    *comment = cm;
    k = cm = NULL;
out:
    buf_free(&v);
    free(k);
    free(cm);
    return rc;
}

/* ---- duplicate detection while loading ----------------------------------- */

/* Open addressing over the keys seen so far: a 1 MiB file has up to ~200k
 * lines, too many for a quadratic scan. Slots hold line index + 1. */
struct keyset {
    size_t *slot;
    size_t mask;
};

static size_t key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* Returns the index of an earlier line with the same key, or (size_t)-1
 * after recording line i. */
static size_t keyset_add(struct keyset *ks, const cm_config *c, size_t i)
{
    size_t h = key_hash(c->lines[i].key) & ks->mask;
    while (ks->slot[h] != 0) {
        size_t j = ks->slot[h] - 1;
        if (strcmp(c->lines[j].key, c->lines[i].key) == 0)
            return j;
        h = (h + 1) & ks->mask;
    }
    ks->slot[h] = i + 1;
    return (size_t)-1;
}

/* ---- public ------------------------------------------------------------ */

cm_err config_new(cm_config **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    return CM_OK;
}

void config_free(cm_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        line_clear(&c->lines[i]);
    free(c->lines);
    free(c);
}

/* Parses and validates line `lineno` (the last of c->lines): its key must
 * be declared and not seen before (ks), its value valid; the value is
 * replaced by its normal form. Errors name path, line and key. */
static cm_err load_line(cm_config *c, struct keyset *ks, const char *path, size_t lineno)
{
    struct cfg_line *l = &c->lines[c->n - 1];
    const char *text = l->raw;
    const struct config_key *k;
    char *norm = NULL;
    size_t dup;

    /* An editor's UTF-8 byte order mark: skipped, and kept on save. */
    if (lineno == 1 && strncmp(text, "\xef\xbb\xbf", 3) == 0)
        text += 3;
    if (line_parse(&l->key, &l->value, &l->comment, text) != CM_OK)
        return cm_err_prefix(CM_ERR_CONFIG, "%s:%zu", path, lineno);
    if (l->key == NULL)
        return CM_OK;
    k = config_schema_find(l->key);
    if (k == NULL)
        return cm_err_set(CM_ERR_CONFIG, "%s:%zu: unknown key '%s'", path, lineno, l->key);
    dup = keyset_add(ks, c, c->n - 1);
    if (dup != (size_t)-1) /* every line is one entry: line number = index + 1 */
        return cm_err_set(CM_ERR_CONFIG, "%s:%zu: duplicate key '%s' (first set on line %zu)", path,
                          lineno, l->key, dup + 1);
    if (value_validate(&norm, k, k->def, l->value) != CM_OK) {
        if (config_key_is_secret(l->key) && k->type != CFG_STRING)
            return cm_err_set(CM_ERR_CONFIG, "%s:%zu: %s: bad value (not shown: a secret)", path,
                              lineno, l->key);
        return cm_err_prefix(CM_ERR_CONFIG, "%s:%zu: %s", path, lineno, l->key);
    }
    free(l->value);
    l->value = norm;
    return CM_OK;
}

cm_err config_load(cm_config **out, const char *path, int allow_missing)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0, nlines = 1, pos, lineno = 0, cap = 16;
    cm_config *c = NULL;
    struct keyset ks = {NULL, 0};

    *out = NULL;
    rc = fs_read_file(&data, &len, path, CFG_FILE_MAX);
    if (rc == CM_ERR_NOTFOUND && allow_missing)
        return config_new(out);
    if (rc != CM_OK)
        goto out;
    CM_TRY(config_new(&c));
    if (memchr(data, '\0', len) != NULL)
        CM_FAIL(CM_ERR_CONFIG, "%s: contains a NUL byte: not a text file", path);
    for (pos = 0; pos < len; pos++)
        nlines += data[pos] == '\n';
    while (cap < 2 * nlines)
        cap *= 2;
    ks.slot = calloc(cap, sizeof(*ks.slot));
    CM_NOMEM_IF(ks.slot == NULL);
    ks.mask = cap - 1;

    for (pos = 0; pos < len;) {
        char *nl = memchr(data + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (char *)data) - pos : len - pos;
        struct cfg_line *l;

        lineno++;
        if (ll > CFG_LINE_MAX)
            CM_FAIL(CM_ERR_CONFIG, "%s:%zu: line longer than %d bytes", path, lineno, CFG_LINE_MAX);
        CM_TRY(lines_grow(c));
        l = &c->lines[c->n];
        memset(l, 0, sizeof(*l));
        l->raw = strndup((char *)data + pos, ll);
        CM_NOMEM_IF(l->raw == NULL);
        c->n++;
        pos += ll + (nl != NULL);
        CM_TRY(load_line(c, &ks, path, lineno));
    }
    *out = c;
    c = NULL;
out:
    free(ks.slot);
    free(data);
    config_free(c);
    return rc;
}

static cm_err config_serialize(cm_buf *b, const cm_config *c)
{
    cm_err rc = CM_OK;
    for (size_t i = 0; i < c->n; i++) {
        CM_TRY(line_format(b, &c->lines[i]));
        CM_TRY(buf_append(b, "\n", 1));
    }
out:
    return rc;
}

cm_err config_save(const cm_config *c, const char *path)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(CFG_FILE_MAX);

    if (config_serialize(&b, c) != CM_OK)
        CM_FAIL(CM_ERR_CONFIG, "%s: configuration larger than %d bytes", path, CFG_FILE_MAX);
    CM_TRY(fs_write_atomic(path, b.data ? (const void *)b.data : "", b.len, 0600));
out:
    buf_free(&b);
    return rc;
}

const char *config_get(const cm_config *c, const char *key)
{
    const struct config_key *k = config_schema_find(key);
    const struct cfg_line *l;

    assert(k != NULL && "config_get: key not declared in any schema");
    if (k == NULL)
        return NULL;
    l = line_find(c, key);
    return l ? l->value : k->def;
}

int config_is_set(const cm_config *c, const char *key)
{
    assert(config_schema_find(key) != NULL && "config_is_set: key not declared");
    return line_find(c, key) != NULL;
}

cm_err config_get_int(const cm_config *c, const char *key, long long *out)
{
    const struct config_key *k = config_schema_find(key);
    const char *v = config_get(c, key);
    long long iv;

    if (v == NULL)
        return cm_err_set(CM_ERR_NOTFOUND, "%s: not set", key);
    if (parse_int(&iv, v) != CM_OK)
        return cm_err_prefix(CM_ERR_CONFIG, "%s", key);
    if (k->type == CFG_INT && (iv < k->min || iv > k->max))
        return cm_err_set(CM_ERR_CONFIG, "%s: '%s' is out of range %lld..%lld", key, v, k->min,
                          k->max);
    *out = iv;
    return CM_OK;
}

int config_get_bool(const cm_config *c, const char *key)
{
    const char *v = config_get(c, key);
    return v != NULL && parse_bool(v) == 1;
}

cm_err config_get_seconds(const cm_config *c, const char *key, int64_t *out)
{
    const char *v = config_get(c, key);
    if (v == NULL)
        return cm_err_set(CM_ERR_NOTFOUND, "%s: not set", key);
    if (config_parse_duration(out, v) != CM_OK)
        return cm_err_prefix(CM_ERR_CONFIG, "%s", key);
    return CM_OK;
}

cm_err config_set(cm_config *c, const char *key, const char *value)
{
    cm_err rc = CM_OK;
    const struct config_key *k;
    struct cfg_line *l;
    char *norm = NULL, *kdup = NULL;
    const char *old;
    cm_buf b = CM_BUF_INIT(CFG_LINE_MAX);

    k = config_schema_find(key);
    if (k == NULL)
        CM_FAIL(CM_ERR_CONFIG, "unknown key '%s' (see 'certmint config keys')", key);
    l = line_find(c, key);
    old = l ? l->value : k->def;
    if (value_validate(&norm, k, old, value) != CM_OK) {
        if (config_key_is_secret(key) && k->type != CFG_STRING)
            CM_FAIL(CM_ERR_CONFIG, "%s: bad value (not shown: a secret)", key);
        rc = cm_err_prefix(CM_ERR_CONFIG, "%s", key);
        goto out;
    }
    /* The line must read back: refuse what would exceed the line limit. */
    {
        struct cfg_line probe = {NULL, (char *)key, norm, l ? l->comment : NULL};
        if (line_format(&b, &probe) != CM_OK)
            CM_FAIL(CM_ERR_CONFIG, "%s: value too long (a line holds at most %d bytes)", key,
                    CFG_LINE_MAX);
    }
    if (l != NULL) {
        if (strcmp(l->value, norm) == 0)
            goto out; /* unchanged: the line stays byte-identical */
        free(l->value);
        l->value = norm;
        norm = NULL;
        free(l->raw);
        l->raw = NULL;
        goto out;
    }
    kdup = strdup(key);
    CM_NOMEM_IF(kdup == NULL);
    CM_TRY(lines_grow(c));
    l = &c->lines[c->n++];
    memset(l, 0, sizeof(*l));
    l->key = kdup;
    l->value = norm;
    kdup = norm = NULL;
out:
    buf_free(&b);
    free(kdup);
    free(norm);
    return rc;
}

cm_err config_unset(cm_config *c, const char *key)
{
    struct cfg_line *l;
    size_t i;

    if (config_schema_find(key) == NULL)
        return cm_err_set(CM_ERR_CONFIG, "unknown key '%s' (see 'certmint config keys')", key);
    l = line_find(c, key);
    if (l == NULL)
        return CM_OK;
    i = (size_t)(l - c->lines);
    line_clear(l);
    memmove(&c->lines[i], &c->lines[i + 1], (c->n - i - 1) * sizeof(*l));
    c->n--;
    return CM_OK;
}

void config_foreach(const cm_config *c, void (*cb)(void *ctx, const char *key, const char *value),
                    void *ctx)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->lines[i].key != NULL)
            cb(ctx, c->lines[i].key, c->lines[i].value);
}

void config_names(const cm_config *c, const char *prefix, void (*cb)(void *ctx, const char *name),
                  void *ctx)
{
    size_t plen = strlen(prefix);
    char name[CFG_LINE_MAX + 1];

    for (size_t i = 0; i < c->n; i++) {
        const char *key = c->lines[i].key, *ns, *ne;
        size_t j, nn;
        int seen = 0;

        if (key == NULL || strncmp(key, prefix, plen) != 0 || key[plen] != '.')
            continue;
        ns = key + plen + 1;
        ne = strchr(ns, '.');
        if (ne == NULL || ne == ns)
            continue; /* "prefix.N" alone is a key, not a name */
        nn = (size_t)(ne - ns);
        /* Report each name once, at its first key in file order. */
        for (j = 0; j < i && !seen; j++) {
            const char *o = c->lines[j].key;
            seen = o != NULL && strncmp(o, key, plen + 1 + nn + 1) == 0;
        }
        if (seen)
            continue;
        memcpy(name, ns, nn);
        name[nn] = '\0';
        cb(ctx, name);
    }
}
