/* Internet message builder (see mime.h). References: RFC 5322 (message
 * format), RFC 2045 (MIME, transfer encodings), RFC 2046 (multipart),
 * RFC 2047 (encoded-words), RFC 2183 (Content-Disposition), RFC 2231
 * (parameter value encoding), RFC 5321 (SMTP address limits). */
#include "exit/mime.h"

#include "exit/mailfmt.h"
#include "util/text.h"

#include <assert.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* RFC 5322 2.1.1: lines SHOULD be at most 78 characters and MUST be at most
 * 998; RFC 2047 2: a line holding encoded-words at most 76. */
#define LINE_SOFT 78
#define LINE_HARD 998
#define LINE_EW 76
#define EW_MAX 75      /* RFC 2047 2: one encoded-word */
#define EW_OVERHEAD 12 /* "=?UTF-8?B?" + "?=" */
/* A run of text without white space longer than this cannot be folded
 * under LINE_SOFT together with a header name ("Subject: " and more):
 * encode it instead, as encoded-words fold between words (a 20,000-octet
 * subject from a hostile CSR still gives lines of at most 76). */
#define RUN_MAX 60
#define QP_LINE 76  /* RFC 2045 6.7 (5), soft break "=" included */
#define B64_LINE 76 /* RFC 2045 6.8: at most 76 characters per line */
#define BOUNDARY_PREFIX "=_certmint_"

enum cte { CTE_7BIT, CTE_QP, CTE_BASE64 };

struct mime_hdr {
    char *name;
    char *value;
};

struct mime_part {
    char *headers; /* rendered part header lines, CRLF terminated */
    cm_buf body;   /* encoded body, lines CRLF separated, no final CRLF */
};

struct mime_msg {
    struct mime_addr *addrs[MIME_ADDR__COUNT];
    size_t naddrs[MIME_ADDR__COUNT];
    char *subject;
    int have_date;
    int64_t date;
    char *msgid; /* with angle brackets */
    struct mime_hdr *hdrs;
    size_t nhdrs;
    struct mime_part *parts;
    size_t nparts;
};

static const char *const addr_field_names[MIME_ADDR__COUNT] = {"From", "To", "Cc", "Reply-To"};

/* ---- character classes ------------------------------------------------ */

/* RFC 5322 3.2.3 atext. */
static int is_atext(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF refused). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    unsigned long cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Checks that s is valid UTF-8 text fit for a header: no CR or LF (header
 * injection), no other control character but TAB, at most max bytes.
 * `what` names the input. */
static cm_err check_header_text_max(const char *s, const char *what, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), n;

    if (len > max)
        return cm_err_set(CM_ERR_INVALID, "%s: longer than %zu bytes", what, max);
    for (size_t i = 0; i < len; i += n) {
        if (p[i] == '\r' || p[i] == '\n')
            return cm_err_set(CM_ERR_INVALID, "%s: line break in a header value refused", what);
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7F)
            return cm_err_set(CM_ERR_INVALID, "%s: control character 0x%02x in a header value",
                              what, p[i]);
        n = utf8_seq(p + i, len - i);
        if (n == 0)
            return cm_err_set(CM_ERR_INVALID, "%s: not valid UTF-8 (at byte %zu)", what, i);
    }
    return CM_OK;
}

static cm_err check_header_text(const char *s, const char *what)
{
    return check_header_text_max(s, what, MIME_VALUE_MAX);
}

static cm_err check_utf8(const unsigned char *p, size_t len, const char *what)
{
    size_t n;
    for (size_t i = 0; i < len; i += n) {
        if (p[i] == '\0')
            return cm_err_set(CM_ERR_INVALID, "%s: NUL byte in text", what);
        n = utf8_seq(p + i, len - i);
        if (n == 0)
            return cm_err_set(CM_ERR_INVALID, "%s: not valid UTF-8 (at byte %zu)", what, i);
    }
    return CM_OK;
}

/* RFC 5322 3.6.8 field name: printable ASCII except ':'. */
static cm_err check_field_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 76)
        return cm_err_set(CM_ERR_INVALID, "header name '%.80s': empty or too long", name);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 33 || c > 126 || c == ':')
            return cm_err_set(CM_ERR_INVALID, "header name '%.80s': bad character 0x%02x", name, c);
    }
    return CM_OK;
}

/* Does an unstructured value need encoded-words? Non-ASCII does; so does
 * text that a reader would take for an encoded-word ("=?"), and a run
 * without white space too long to fold under the hard line limit. */
static int needs_encoding(const char *s)
{
    size_t run = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80)
            return 1;
        if (p[0] == '=' && p[1] == '?')
            return 1;
        run = is_wsp(*p) ? 0 : run + 1;
        if (run > RUN_MAX)
            return 1;
    }
    return 0;
}

/* ---- RFC 2047 encoded-words -------------------------------------------- */

/* Q encoding (RFC 2047 4.2) with the characters RFC 2047 5 (3) allows even
 * in a phrase, so that the same output is valid in Subject and in a display
 * name. */
static int q_literal(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '!' ||
           c == '*' || c == '+' || c == '-' || c == '/';
}

static size_t q_len(unsigned char c)
{
    return (q_literal(c) || c == ' ') ? 1 : 3;
}

static cm_err q_put(cm_buf *out, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char t[3];

    if (q_literal(c))
        return buf_append(out, &c, 1);
    if (c == ' ')
        return buf_append(out, "_", 1);
    t[0] = '=';
    t[1] = hex[c >> 4];
    t[2] = hex[c & 15];
    return buf_append(out, t, 3);
}

/* Appends s (validated UTF-8) as encoded-words separated by single spaces:
 * the first at most first_max characters long, the others at most EW_MAX. */
static cm_err encode_words(cm_buf *out, const char *s, size_t first_max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), qtotal = 0, btotal, i, n, max = first_max;
    int use_q;
    cm_err rc = CM_OK;

    if (max < EW_OVERHEAD + 12)
        max = EW_OVERHEAD + 12;
    if (max > EW_MAX)
        max = EW_MAX;
    for (i = 0; i < len; i++)
        qtotal += q_len(p[i]);
    btotal = (len + 2) / 3 * 4;
    use_q = qtotal <= btotal;
    if (len == 0)
        return CM_OK; /* RFC 2047 2: encoded-text is never empty */

    for (i = 0; i < len;) {
        /* Take whole characters while the word stays within max. */
        size_t start = i, enc = 0;
        while (i < len) {
            size_t add = 0;
            n = utf8_seq(p + i, len - i);
            assert(n > 0);
            if (use_q) {
                for (size_t k = 0; k < n; k++)
                    add += q_len(p[i + k]);
                if (EW_OVERHEAD + enc + add > max)
                    break;
                enc += add;
            } else {
                size_t bytes = i + n - start;
                if (EW_OVERHEAD + (bytes + 2) / 3 * 4 > max)
                    break;
            }
            i += n;
        }
        assert(i > start);
        if (start > 0)
            CM_TRY(buf_append(out, " ", 1));
        CM_TRY(buf_append_str(out, use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?"));
        if (use_q) {
            for (size_t k = start; k < i; k++)
                CM_TRY(q_put(out, p[k]));
        } else {
            size_t bytes = i - start;
            unsigned char b64[EW_MAX + 1];
            assert((bytes + 2) / 3 * 4 < sizeof(b64));
            int w = EVP_EncodeBlock(b64, p + start, (int)bytes);
            CM_TRY(buf_append(out, b64, (size_t)w));
        }
        CM_TRY(buf_append(out, "?=", 2));
        max = EW_MAX;
    }
out:
    return rc;
}

cm_err mime_encode_word(cm_buf *out, const char *utf8)
{
    cm_err rc = check_header_text(utf8, "encoded-word text");
    if (rc != CM_OK)
        return rc;
    return encode_words(out, utf8, EW_MAX);
}

/* ---- header folding ---------------------------------------------------- */

/* Appends "name: value" CRLF, where value is already in wire form (ASCII,
 * no CR/LF). Folds (RFC 5322 2.2.3: a CRLF inserted before white space) so
 * that lines stay within `limit` where the value has white space; runs of
 * white space are kept whole on the line before the fold but their last
 * character, so no line consists of white space only. */
static cm_err fold_header(cm_buf *out, const char *name, const char *value, size_t limit)
{
    size_t nlen = strlen(name), vlen = strlen(value), linelen, i;
    cm_err rc = CM_OK;

    CM_TRY(buf_append(out, name, nlen));
    CM_TRY(buf_append(out, ":", 1));
    linelen = nlen + 1;
    /* The field body starts with one space (RFC 5322 2.2 habit). */
    i = 0;
    while (i < vlen) {
        /* A segment: white space run, then a run without white space. */
        size_t ws = i, word, end;
        while (ws < vlen && is_wsp((unsigned char)value[ws]))
            ws++;
        word = ws;
        end = word;
        while (end < vlen && !is_wsp((unsigned char)value[end]))
            end++;
        if (i == 0 && ws == 0) {
            /* Value does not start with white space: add the customary one. */
            CM_TRY(buf_append(out, " ", 1));
            CM_TRY(buf_append(out, value, end));
            linelen += 1 + end;
        } else if (end == word) {
            /* Trailing white space: keep it on this line. */
            CM_TRY(buf_append(out, value + i, end - i));
            linelen += end - i;
        } else if (linelen + (end - i) > limit && linelen > nlen + 1) {
            /* Fold before the last white space character of the run. */
            CM_TRY(buf_append(out, value + i, ws - 1 - i));
            CM_TRY(buf_append(out, "\r\n", 2));
            CM_TRY(buf_append(out, value + ws - 1, end - (ws - 1)));
            linelen = end - (ws - 1);
        } else {
            CM_TRY(buf_append(out, value + i, end - i));
            linelen += end - i;
        }
        if (linelen > LINE_HARD)
            CM_FAIL(CM_ERR_INVALID, "header %s: a line would exceed %d characters", name,
                    LINE_HARD);
        i = end;
    }
    CM_TRY(buf_append(out, "\r\n", 2));
out:
    return rc;
}

/* Unstructured header (Subject, X-...): value checked, encoded if needed,
 * folded. */
static cm_err put_unstructured(cm_buf *out, const char *name, const char *value)
{
    /* Encoded-words take at most 4 characters per byte plus their framing. */
    cm_buf v = CM_BUF_INIT(4 * strlen(value) + 1024);
    size_t first;
    cm_err rc = CM_OK;

    if (!needs_encoding(value)) {
        rc = fold_header(out, name, value, LINE_SOFT);
        goto out;
    }
    /* "Name: " precedes the first word on its line. */
    first = LINE_EW > strlen(name) + 2 ? LINE_EW - strlen(name) - 2 : 0;
    CM_TRY(encode_words(&v, value, first));
    CM_TRY(fold_header(out, name, buf_str(&v), LINE_EW));
out:
    buf_free(&v);
    return rc;
}

cm_err mime_format_header(cm_buf *out, const char *name, const char *utf8)
{
    cm_err rc = CM_OK;
    CM_TRY(check_field_name(name));
    CM_TRY(check_header_text_max(utf8, name, MIME_FIELD_MAX));
    CM_TRY(put_unstructured(out, name, utf8));
out:
    return rc;
}

/* ---- addresses --------------------------------------------------------- */

static int dot_atom_ok(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!is_atext((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int domain_ok(const char *d, size_t len)
{
    if (len >= 2 && d[0] == '[' && d[len - 1] == ']') {
        /* RFC 5321 4.1.3 address literal: IPv4 or "IPv6:" followed by hex,
         * ':' and '.'. Checked by character class; SMTP servers parse it. */
        size_t i = 1;
        if (len > 7 && strncasecmp(d + 1, "IPv6:", 5) == 0)
            i = 6;
        if (i >= len - 1)
            return 0;
        for (; i < len - 1; i++) {
            char c = d[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == '.' || c == ':'))
                return 0;
        }
        return 1;
    }
    /* RFC 5321 4.1.2 Domain: labels of letters, digits, hyphens. */
    size_t label = 0;
    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? d[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || d[i - 1] == '-' || d[i - label] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

cm_err mime_check_addr(const char *addr)
{
    const char *at;
    size_t len = strlen(addr);

    if (len == 0)
        return cm_err_set(CM_ERR_INVALID, "empty mail address");
    /* RFC 5321 4.5.3.1.3: a path is at most 256 octets including "<>". */
    if (len > 254)
        return cm_err_set(CM_ERR_INVALID, "mail address '%.40s...': longer than 254 octets", addr);
    at = strrchr(addr, '@');
    if (at == NULL)
        return cm_err_set(CM_ERR_INVALID, "mail address '%.254s': no '@'", addr);
    if ((size_t)(at - addr) > 64)
        return cm_err_set(CM_ERR_INVALID, "mail address '%.254s': local part over 64 octets", addr);
    if (!dot_atom_ok(addr, (size_t)(at - addr)))
        return cm_err_set(CM_ERR_INVALID,
                          "mail address '%.254s': local part is not a dot-atom "
                          "(RFC 5322 3.4.1; quoted local parts are not supported)",
                          addr);
    if (!domain_ok(at + 1, strlen(at + 1)))
        return cm_err_set(CM_ERR_INVALID, "mail address '%.254s': bad domain", addr);
    return CM_OK;
}

void mime_addr_free(struct mime_addr *a, size_t n)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(a[i].display);
        free(a[i].addr);
    }
    free(a);
}

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Parses one list item (already trimmed) into a. */
static cm_err parse_mailbox(struct mime_addr *a, const char *item, size_t len)
{
    const char *lt = memrchr(item, '<', len); /* a quoted name may hold '<' */
    cm_buf name = CM_BUF_INIT(MIME_VALUE_MAX);
    cm_err rc = CM_OK;

    a->display = a->addr = NULL;
    if (lt == NULL) {
        a->addr = dup_range(item, len);
        CM_NOMEM_IF(a->addr == NULL);
        CM_TRY(mime_check_addr(a->addr));
        goto out;
    }
    if (item[len - 1] != '>')
        CM_FAIL(CM_ERR_INVALID, "mailbox '%.*s': text after '>'", (int)len, item);
    a->addr = dup_range(lt + 1, (size_t)(item + len - 1 - (lt + 1)));
    CM_NOMEM_IF(a->addr == NULL);
    CM_TRY(mime_check_addr(a->addr));
    /* The display name: trimmed; a quoted-string loses its quotes and
     * escapes. */
    const char *d = item, *e = lt;
    while (d < e && is_wsp((unsigned char)*d))
        d++;
    while (e > d && is_wsp((unsigned char)e[-1]))
        e--;
    if (e - d >= 2 && d[0] == '"' && e[-1] == '"') {
        for (const char *p = d + 1; p < e - 1; p++) {
            if (*p == '\\' && p + 1 < e - 1)
                p++;
            else if (*p == '"')
                CM_FAIL(CM_ERR_INVALID, "mailbox '%.*s': unescaped '\"' in the name", (int)len,
                        item);
            CM_TRY(buf_append(&name, p, 1));
        }
    } else {
        CM_TRY(buf_append(&name, d, (size_t)(e - d)));
    }
    if (name.len > 0) {
        CM_TRY(check_header_text(buf_str(&name), "display name"));
        a->display = (char *)buf_steal(&name, NULL);
    }
out:
    buf_free(&name);
    if (rc != CM_OK) {
        free(a->display);
        free(a->addr);
        a->display = a->addr = NULL;
    }
    return rc;
}

cm_err mime_addr_parse_list(struct mime_addr **out, size_t *nout, const char *list)
{
    struct mime_addr *v = NULL;
    size_t n = 0, cap = 0, len = strlen(list), start = 0;
    int inq = 0, inangle = 0;
    cm_err rc = CM_OK;

    *out = NULL;
    *nout = 0;
    CM_TRY(check_header_text(list, "address list"));
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? list[i] : ',';
        if (inq) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '"')
                inq = 0;
            if (i < len)
                continue;
            CM_FAIL(CM_ERR_INVALID, "address list '%.200s': unterminated quote", list);
        }
        if (c == '"') {
            inq = 1;
        } else if (c == '<') {
            inangle = 1;
        } else if (c == '>') {
            inangle = 0;
        } else if (c == ',' && !inangle) {
            size_t a = start, b = i;
            while (a < b && is_wsp((unsigned char)list[a]))
                a++;
            while (b > a && is_wsp((unsigned char)list[b - 1]))
                b--;
            if (a == b)
                CM_FAIL(CM_ERR_INVALID, "address list '%.200s': empty entry", list);
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 4;
                struct mime_addr *nv = realloc(v, ncap * sizeof(*v));
                CM_NOMEM_IF(nv == NULL);
                v = nv;
                cap = ncap;
            }
            CM_TRY(parse_mailbox(&v[n], list + a, b - a));
            n++;
            start = i + 1;
        }
    }
    *out = v;
    *nout = n;
    v = NULL;
out:
    mime_addr_free(v, n);
    return rc;
}

/* Appends a display name as a phrase (RFC 5322 3.2.5): atoms as they are,
 * other ASCII as a quoted-string, non-ASCII as encoded-words. */
static cm_err put_phrase(cm_buf *out, const char *s)
{
    int atoms = 1, ascii = 1;
    cm_err rc = CM_OK;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80)
            ascii = 0;
        else if (!is_atext(*p) && *p != ' ')
            atoms = 0;
    }
    if (!ascii || needs_encoding(s))
        return encode_words(out, s, EW_MAX);
    if (atoms && s[0] != ' ' && s[strlen(s) - 1] != ' ' && strstr(s, "  ") == NULL)
        return buf_append_str(out, s);
    CM_TRY(buf_append(out, "\"", 1));
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            CM_TRY(buf_append(out, "\\", 1));
        CM_TRY(buf_append(out, p, 1));
    }
    CM_TRY(buf_append(out, "\"", 1));
out:
    return rc;
}

/* ---- message ----------------------------------------------------------- */

cm_err mime_new(struct mime_msg **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    return CM_OK;
}

void mime_free(struct mime_msg *m)
{
    if (m == NULL)
        return;
    for (int f = 0; f < MIME_ADDR__COUNT; f++)
        mime_addr_free(m->addrs[f], m->naddrs[f]);
    free(m->subject);
    free(m->msgid);
    for (size_t i = 0; i < m->nhdrs; i++) {
        free(m->hdrs[i].name);
        free(m->hdrs[i].value);
    }
    free(m->hdrs);
    for (size_t i = 0; i < m->nparts; i++) {
        free(m->parts[i].headers);
        buf_free(&m->parts[i].body);
    }
    free(m->parts);
    free(m);
}

cm_err mime_add_address(struct mime_msg *m, enum mime_addr_field field, const char *display,
                        const char *addr)
{
    struct mime_addr a = {NULL, NULL}, *nv;
    cm_err rc = CM_OK;

    assert(field >= 0 && field < MIME_ADDR__COUNT);
    if (field == MIME_FROM && m->naddrs[field] > 0)
        CM_FAIL(CM_ERR_INVALID, "From: only one mailbox allowed (adding '%.254s')", addr);
    CM_TRY(mime_check_addr(addr));
    if (display != NULL && display[0] != '\0') {
        CM_TRY(check_header_text(display, "display name"));
        a.display = text_dup(display);
        CM_NOMEM_IF(a.display == NULL);
    }
    a.addr = text_dup(addr);
    CM_NOMEM_IF(a.addr == NULL);
    nv = realloc(m->addrs[field], (m->naddrs[field] + 1) * sizeof(*nv));
    CM_NOMEM_IF(nv == NULL);
    m->addrs[field] = nv;
    nv[m->naddrs[field]++] = a;
    a.display = a.addr = NULL;
out:
    free(a.display);
    free(a.addr);
    return rc;
}

cm_err mime_set_subject(struct mime_msg *m, const char *utf8)
{
    char *s;
    cm_err rc = check_header_text(utf8, "Subject");
    if (rc != CM_OK)
        return rc;
    s = text_dup(utf8);
    if (s == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    free(m->subject);
    m->subject = s;
    return CM_OK;
}

cm_err mime_set_date(struct mime_msg *m, int64_t when)
{
    /* Years 1900-9999: what the RFC 5322 3.3 grammar (4-digit year) and
     * gmtime_r can both express. */
    if (when < -2208988800LL || when > 253402300799LL)
        return cm_err_set(CM_ERR_INVALID, "Date: time %lld out of range", (long long)when);
    m->date = when;
    m->have_date = 1;
    return CM_OK;
}

static int msgid_side_ok(const char *s, size_t len)
{
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        /* RFC 5322 3.6.4 no-fold-literal: dtext only. */
        for (size_t i = 1; i + 1 < len; i++)
            if (s[i] < 33 || s[i] > 126 || s[i] == '[' || s[i] == ']' || s[i] == '\\')
                return 0;
        return 1;
    }
    return dot_atom_ok(s, len);
}

cm_err mime_set_message_id(struct mime_msg *m, const char *id)
{
    size_t len = strlen(id);
    const char *p = id, *at;
    char *v = NULL;
    cm_err rc = CM_OK;

    if (len >= 2 && id[0] == '<' && id[len - 1] == '>') {
        p = id + 1;
        len -= 2;
    }
    at = memchr(p, '@', len);
    if (len > 250 || at == NULL || !dot_atom_ok(p, (size_t)(at - p)) ||
        !msgid_side_ok(at + 1, len - (size_t)(at - p) - 1))
        CM_FAIL(CM_ERR_INVALID, "Message-ID '%.260s': not <dot-atom@dot-atom> (RFC 5322 3.6.4)",
                id);
    v = malloc(len + 3);
    CM_NOMEM_IF(v == NULL);
    v[0] = '<';
    memcpy(v + 1, p, len);
    v[len + 1] = '>';
    v[len + 2] = '\0';
    free(m->msgid);
    m->msgid = v;
    v = NULL;
out:
    free(v);
    return rc;
}

/* Headers the builder writes itself; an extra one would contradict them. */
static int reserved_header(const char *name)
{
    static const char *const names[] = {"Date",       "From",        "To",     "Cc",
                                        "Bcc",        "Reply-To",    "Sender", "Subject",
                                        "Message-ID", "MIME-Version"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return strncasecmp(name, "Content-", 8) == 0;
}

cm_err mime_add_header(struct mime_msg *m, const char *name, const char *value)
{
    struct mime_hdr h = {NULL, NULL}, *nv;
    cm_err rc = CM_OK;

    CM_TRY(check_field_name(name));
    if (reserved_header(name))
        CM_FAIL(CM_ERR_INVALID, "header %s: set by the message builder, not as an extra header",
                name);
    CM_TRY(check_header_text(value, name));
    h.name = text_dup(name);
    h.value = text_dup(value);
    CM_NOMEM_IF(h.name == NULL || h.value == NULL);
    nv = realloc(m->hdrs, (m->nhdrs + 1) * sizeof(*nv));
    CM_NOMEM_IF(nv == NULL);
    m->hdrs = nv;
    nv[m->nhdrs++] = h;
    h.name = h.value = NULL;
out:
    free(h.name);
    free(h.value);
    return rc;
}

/* ---- body encodings ---------------------------------------------------- */

/* Quoted-printable (RFC 2045 6.7) of text: LF and CRLF are line breaks
 * (written CRLF); a lone CR is encoded. Lines joined by CRLF, no final
 * CRLF (it belongs to the boundary, RFC 2046 5.1.1). Besides the rules'
 * minimum, '.' and "From " at the start of a line are encoded so that no
 * transport's line conventions (mbox "From ", SMTP's lone ".") touch it. */
static cm_err qp_encode(cm_buf *out, const unsigned char *p, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t linelen = 0;
    cm_err rc = CM_OK;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        char tok[3];
        size_t toklen;
        int at_eol;

        if (c == '\n' || (c == '\r' && i + 1 < len && p[i + 1] == '\n')) {
            if (c == '\r')
                i++;
            CM_TRY(buf_append(out, "\r\n", 2));
            linelen = 0;
            continue;
        }
        at_eol = i + 1 == len || p[i + 1] == '\n' ||
                 (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n');
        if (((c >= 33 && c <= 126 && c != '=') || (is_wsp(c) && !at_eol)) &&
            !(linelen == 0 && c == '.') &&
            !(linelen == 0 && c == 'F' && len - i >= 5 && memcmp(p + i, "From ", 5) == 0)) {
            tok[0] = (char)c;
            toklen = 1;
        } else {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 15];
            toklen = 3;
        }
        /* Soft break so that the line with its "=" stays within 76. A
         * break after the last character of a line is not needed. */
        if (linelen + toklen > QP_LINE - 1 && !(at_eol && linelen + toklen <= QP_LINE)) {
            CM_TRY(buf_append(out, "=\r\n", 3));
            linelen = 0;
            /* This character now starts a line: choose its form again. */
            i--;
            continue;
        }
        CM_TRY(buf_append(out, tok, toklen));
        linelen += toklen;
    }
out:
    return rc;
}

/* Base64 (RFC 2045 6.8), 76-character lines joined by CRLF. */
static cm_err b64_encode(cm_buf *out, const unsigned char *p, size_t len)
{
    unsigned char line[B64_LINE + 1];
    const size_t chunk = B64_LINE / 4 * 3; /* 57 input bytes per line */
    cm_err rc = CM_OK;

    for (size_t i = 0; i < len; i += chunk) {
        size_t n = len - i < chunk ? len - i : chunk;
        int w = EVP_EncodeBlock(line, p + i, (int)n);
        if (i > 0)
            CM_TRY(buf_append(out, "\r\n", 2));
        CM_TRY(buf_append(out, line, (size_t)w));
    }
out:
    return rc;
}

/* 7bit (RFC 2045 2.7): ASCII without NUL, CR and LF only as line breaks,
 * lines of at most 998 octets. */
static int is_7bit(const unsigned char *p, size_t len)
{
    size_t linelen = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            linelen = 0;
            continue;
        }
        if (p[i] == '\r') {
            if (i + 1 < len && p[i + 1] == '\n')
                continue;
            return 0;
        }
        if (p[i] == 0 || p[i] >= 0x80 || ++linelen > LINE_HARD)
            return 0;
    }
    return 1;
}

static cm_err copy_7bit(cm_buf *out, const unsigned char *p, size_t len)
{
    cm_err rc = CM_OK;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n')
            continue;
        size_t end = (i > start && p[i - 1] == '\r') ? i - 1 : i;
        CM_TRY(buf_append(out, p + start, end - start));
        CM_TRY(buf_append(out, "\r\n", 2));
        start = i + 1;
    }
    CM_TRY(buf_append(out, p + start, len - start));
out:
    return rc;
}

/* Content-Type value check: "type/subtype" tokens and optional parameters,
 * printable ASCII (the caller's parameters are taken as written). */
static cm_err check_content_type(const char *ct)
{
    const char *slash = strchr(ct, '/');
    size_t len = strlen(ct);
    if (len == 0 || len > 200 || slash == NULL || slash == ct)
        return cm_err_set(CM_ERR_INVALID, "content type '%.200s': not type/subtype", ct);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)ct[i] < 32 || (unsigned char)ct[i] > 126)
            return cm_err_set(CM_ERR_INVALID, "content type '%.200s': bad character", ct);
    return CM_OK;
}

/* Appends the filename parameter: quoted-string when plain ASCII (RFC
 * 2183), else RFC 2231 "filename*=UTF-8''%XX". */
static cm_err put_filename(cm_buf *out, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    int plain = 1;
    cm_err rc = CM_OK;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 32 || *p > 126 || *p == '"' || *p == '\\')
            plain = 0;
    if (plain)
        return buf_printf(out, "; filename=\"%s\"", name);
    CM_TRY(buf_append_str(out, "; filename*=UTF-8''"));
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        /* RFC 2231 7 attribute-char: token characters except *, ', %. */
        if (((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
             strchr("!#$&+-.^_`|~", *p) != NULL) &&
            *p != '\0') {
            CM_TRY(buf_append(out, p, 1));
        } else {
            char t[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            CM_TRY(buf_append(out, t, 3));
        }
    }
out:
    return rc;
}

static cm_err add_part(struct mime_msg *m, const char *content_type, const char *disposition,
                       const char *filename, const unsigned char *data, size_t len, enum cte cte)
{
    /* Quoted-printable may triple the size; base64 adds a third. */
    struct mime_part part = {NULL, CM_BUF_INIT((size_t)MIME_PART_MAX * 4)};
    cm_buf h = CM_BUF_INIT(4096);
    struct mime_part *nv;
    static const char *const cte_names[] = {"7bit", "quoted-printable", "base64"};
    cm_err rc = CM_OK;

    if (len > MIME_PART_MAX)
        CM_FAIL(CM_ERR_INVALID, "part %s: %zu bytes, more than the limit of %u", content_type, len,
                MIME_PART_MAX);
    CM_TRY(check_content_type(content_type));
    if (disposition != NULL && strcmp(disposition, "inline") != 0 &&
        strcmp(disposition, "attachment") != 0)
        CM_FAIL(CM_ERR_INVALID, "disposition '%.40s': not inline or attachment", disposition);
    if (filename != NULL) {
        if (filename[0] == '\0' || strlen(filename) > 200)
            CM_FAIL(CM_ERR_INVALID, "attachment file name: empty or over 200 bytes");
        CM_TRY(check_header_text(filename, "attachment file name"));
    }
    switch (cte) {
    case CTE_7BIT:
        CM_TRY(copy_7bit(&part.body, data, len));
        break;
    case CTE_QP:
        CM_TRY(qp_encode(&part.body, data, len));
        break;
    case CTE_BASE64:
        CM_TRY(b64_encode(&part.body, data, len));
        break;
    }
    CM_TRY(fold_header(&h, "Content-Type", content_type, LINE_SOFT));
    CM_TRY(buf_printf(&h, "Content-Transfer-Encoding: %s\r\n", cte_names[cte]));
    if (disposition != NULL || filename != NULL) {
        cm_buf d = CM_BUF_INIT(2048);
        rc = buf_append_str(&d, disposition ? disposition : "attachment");
        if (rc == CM_OK && filename != NULL)
            rc = put_filename(&d, filename);
        if (rc == CM_OK)
            rc = fold_header(&h, "Content-Disposition", buf_str(&d), LINE_SOFT);
        buf_free(&d);
        CM_TRY(rc);
    }
    nv = realloc(m->parts, (m->nparts + 1) * sizeof(*nv));
    CM_NOMEM_IF(nv == NULL);
    m->parts = nv;
    part.headers = (char *)buf_steal(&h, NULL);
    nv[m->nparts++] = part;
    part.body.data = NULL;
    part.headers = NULL;
out:
    buf_free(&h);
    buf_free(&part.body);
    free(part.headers);
    return rc;
}

cm_err mime_add_text(struct mime_msg *m, const char *utf8)
{
    size_t len = strlen(utf8);
    cm_err rc = check_utf8((const unsigned char *)utf8, len, "text part");
    if (rc != CM_OK)
        return rc;
    return add_part(m, "text/plain; charset=utf-8", NULL, NULL, (const unsigned char *)utf8, len,
                    CTE_QP);
}

cm_err mime_add_part(struct mime_msg *m, const char *content_type, const char *disposition,
                     const char *filename, const unsigned char *data, size_t len)
{
    enum cte cte;
    if (is_7bit(data, len))
        cte = CTE_7BIT;
    else if (strncasecmp(content_type, "text/", 5) == 0)
        cte = CTE_QP;
    else
        cte = CTE_BASE64;
    return add_part(m, content_type, disposition, filename, data, len, cte);
}

cm_err mime_add_attachment(struct mime_msg *m, const char *content_type, const char *filename,
                           const unsigned char *data, size_t len)
{
    if (filename == NULL)
        return cm_err_set(CM_ERR_INVALID, "attachment %s: no file name", content_type);
    return add_part(m, content_type, "attachment", filename, data, len, CTE_BASE64);
}

/* ---- rendering --------------------------------------------------------- */

static cm_err put_date(cm_buf *out, int64_t when)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t t = (time_t)when;

    if (gmtime_r(&t, &tm) == NULL)
        return cm_err_set(CM_ERR_INVALID, "Date: time %lld not representable", (long long)when);
    /* RFC 5322 3.3, in English whatever the locale. */
    return buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                      tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                      tm.tm_sec);
}

static cm_err put_addresses(cm_buf *out, const struct mime_msg *m, enum mime_addr_field f)
{
    cm_buf v = CM_BUF_INIT(1024 * 1024);
    int encoded = 0;
    cm_err rc = CM_OK;

    if (m->naddrs[f] == 0)
        return CM_OK;
    for (size_t i = 0; i < m->naddrs[f]; i++) {
        const struct mime_addr *a = &m->addrs[f][i];
        if (i > 0)
            CM_TRY(buf_append(&v, ", ", 2));
        if (a->display) {
            size_t before = v.len;
            CM_TRY(put_phrase(&v, a->display));
            if (memmem(v.data + before, v.len - before, "=?UTF-8?", 8) != NULL)
                encoded = 1;
            CM_TRY(buf_printf(&v, " <%s>", a->addr));
        } else {
            CM_TRY(buf_append_str(&v, a->addr));
        }
    }
    CM_TRY(fold_header(out, addr_field_names[f], buf_str(&v), encoded ? LINE_EW : LINE_SOFT));
out:
    buf_free(&v);
    return rc;
}

static cm_err random_hex(char *out, size_t nbytes)
{
    unsigned char r[32];
    assert(nbytes <= sizeof(r));
    if (RAND_bytes(r, (int)nbytes) != 1)
        return cm_err_ossl(CM_ERR_CRYPTO, "RAND_bytes");
    text_hex(out, r, nbytes);
    return CM_OK;
}

static cm_err put_default_msgid(cm_buf *out)
{
    char host[256], hex[33];
    cm_err rc = random_hex(hex, 16);

    if (rc != CM_OK)
        return rc;
    if (gethostname(host, sizeof(host)) != 0 || !domain_ok(host, strnlen(host, sizeof(host))))
        snprintf(host, sizeof(host), "localhost.invalid");
    host[sizeof(host) - 1] = '\0';
    return buf_printf(out, "Message-ID: <" MAILFMT_MSGID_PREFIX "%s@%s>\r\n", hex, host);
}

cm_err mime_render(cm_buf *out, const struct mime_msg *m)
{
    char boundary[sizeof(BOUNDARY_PREFIX) + 32], hex[33], delim[sizeof(boundary) + 2];
    int tries;
    cm_err rc = CM_OK;

    if (m->naddrs[MIME_FROM] == 0)
        return cm_err_set(CM_ERR_INVALID, "message has no From address");
    /* A boundary that occurs in no part (RFC 2046 5.1.1). "=_" cannot occur
     * in quoted-printable or base64, so only 7bit parts can collide. */
    for (tries = 0;; tries++) {
        int clash = 0;
        if (tries == 8)
            return cm_err_set(CM_ERR_CRYPTO,
                              "no MIME boundary found that the parts do not contain");
        CM_TRY(random_hex(hex, 16));
        snprintf(boundary, sizeof(boundary), "%s%s", BOUNDARY_PREFIX, hex);
        snprintf(delim, sizeof(delim), "--%s", boundary);
        for (size_t i = 0; i < m->nparts && !clash; i++)
            clash = m->parts[i].body.len > 0 && memmem(m->parts[i].body.data, m->parts[i].body.len,
                                                       delim, strlen(delim)) != NULL;
        if (!clash)
            break;
    }

    CM_TRY(put_date(out, m->have_date ? m->date : (int64_t)time(NULL)));
    CM_TRY(put_addresses(out, m, MIME_FROM));
    CM_TRY(put_addresses(out, m, MIME_TO));
    CM_TRY(put_addresses(out, m, MIME_CC));
    CM_TRY(put_addresses(out, m, MIME_REPLY_TO));
    if (m->subject)
        CM_TRY(put_unstructured(out, "Subject", m->subject));
    if (m->msgid)
        CM_TRY(buf_printf(out, "Message-ID: %s\r\n", m->msgid));
    else
        CM_TRY(put_default_msgid(out));
    CM_TRY(buf_append_str(out, "MIME-Version: 1.0\r\n"));
    for (size_t i = 0; i < m->nhdrs; i++)
        CM_TRY(put_unstructured(out, m->hdrs[i].name, m->hdrs[i].value));
    if (m->nparts == 0) {
        CM_TRY(buf_append_str(out, "Content-Type: text/plain; charset=us-ascii\r\n\r\n"));
        goto out;
    }
    CM_TRY(buf_printf(out, "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n", boundary));
    /* The preamble, for readers that do not know MIME (RFC 2046 5.1.1). */
    CM_TRY(buf_append_str(out, "This is a MIME message (RFC 2045).\r\n"));
    for (size_t i = 0; i < m->nparts; i++) {
        CM_TRY(buf_printf(out, "\r\n%s\r\n", delim));
        CM_TRY(buf_append_str(out, m->parts[i].headers));
        CM_TRY(buf_append(out, "\r\n", 2));
        if (m->parts[i].body.len)
            CM_TRY(buf_append(out, m->parts[i].body.data, m->parts[i].body.len));
    }
    CM_TRY(buf_printf(out, "\r\n%s--\r\n", delim));
out:
    return rc;
}
