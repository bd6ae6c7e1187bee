/* Minimal DER writer and reader (X.690 DER subset used by X.509). */
#include "util/der.h"

#include "util/hex.h"

#include <assert.h>
#include <string.h>

size_t der_len_size(size_t len)
{
    assert(len <= DER_LEN_MAX);
    if (len < 0x80)
        return 1;
    if (len <= 0xff)
        return 2;
    if (len <= 0xffff)
        return 3;
    if (len <= 0xffffff)
        return 4;
    return 5;
}

size_t der_header_size(size_t len)
{
    return 1 + der_len_size(len);
}

size_t der_tlv_size(size_t len)
{
    return der_header_size(len) + len;
}

size_t der_put_header(unsigned char *p, unsigned tag, size_t len)
{
    size_t n, i;

    assert(tag <= 0xff && (tag & 0x1f) != 0x1f);
    p[0] = (unsigned char)tag;
    /* X.690 10.1: the definite form with the fewest length octets. */
    if (len < 0x80) {
        p[1] = (unsigned char)len;
        return 2;
    }
    n = der_len_size(len) - 1;
    p[1] = (unsigned char)(0x80 | n);
    for (i = 0; i < n; i++)
        p[2 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
    return 2 + n;
}

cm_err der_header(cm_buf *b, unsigned tag, size_t len)
{
    unsigned char h[DER_HEADER_MAX];
    if (len > DER_LEN_MAX)
        return cm_err_set(CM_ERR_INVALID, "DER element of %zu bytes is too large", len);
    return buf_append(b, h, der_put_header(h, tag, len));
}

cm_err der_tlv(cm_buf *b, unsigned tag, const void *v, size_t n)
{
    cm_err rc = der_header(b, tag, n);
    if (rc != CM_OK)
        return rc;
    return buf_append(b, v, n);
}

cm_err der_begin(cm_buf *b, size_t *mark, unsigned tag)
{
    unsigned char h[DER_HEADER_MAX] = {0};

    assert(tag <= 0xff && (tag & 0x1f) != 0x1f);
    h[0] = (unsigned char)tag;
    *mark = b->len;
    return buf_append(b, h, sizeof(h));
}

cm_err der_end(cm_buf *b, size_t mark)
{
    unsigned char h[DER_HEADER_MAX];
    size_t start = mark + DER_HEADER_MAX, clen, hsz;

    assert(b->data != NULL && b->len >= start);
    clen = b->len - start;
    if (clen > DER_LEN_MAX)
        return cm_err_set(CM_ERR_INVALID, "DER element of %zu bytes is too large", clen);
    hsz = der_put_header(h, b->data[mark], clen);
    /* The reserved header was the largest possible; slide the content down
     * over the octets the real one does not need. */
    if (hsz < DER_HEADER_MAX)
        memmove(b->data + mark + hsz, b->data + start, clen);
    memcpy(b->data + mark, h, hsz);
    b->len -= DER_HEADER_MAX - hsz;
    b->data[b->len] = '\0';
    return CM_OK;
}

cm_err der_integer_bytes(cm_buf *b, const unsigned char *mag, size_t n)
{
    unsigned char h[DER_HEADER_MAX + 1];
    size_t hl;
    int pad;
    cm_err rc;

    while (n > 0 && mag[0] == 0) {
        mag++;
        n--;
    }
    if (n == 0) {
        static const unsigned char zero[] = {DER_INTEGER, 1, 0};
        return buf_append(b, zero, sizeof(zero));
    }
    /* A set top bit would make the value negative (X.690 8.3.3). */
    pad = (mag[0] & 0x80) != 0;
    if (n > DER_LEN_MAX - 1)
        return cm_err_set(CM_ERR_INVALID, "INTEGER of %zu octets is too large", n);
    hl = der_put_header(h, DER_INTEGER, n + (size_t)pad);
    if (pad)
        h[hl++] = 0;
    if ((rc = buf_append(b, h, hl)) != CM_OK)
        return rc;
    return buf_append(b, mag, n);
}

size_t der_put_integer_hex(unsigned char *p, size_t cap, const char *hex)
{
    unsigned char mag[64];
    const unsigned char *m = mag;
    int n = hex_decode(mag, sizeof(mag), hex);
    size_t o;

    if (n < 0)
        return 0;
    while (n > 0 && m[0] == 0) {
        m++;
        n--;
    }
    if (n == 0) {
        if (cap < 3)
            return 0;
        p[0] = DER_INTEGER;
        p[1] = 1;
        p[2] = 0;
        return 3;
    }
    /* Content is at most 65 octets: a one-byte length suffices. A set top
     * bit would make the value negative (X.690 8.3.3): add a zero octet. */
    o = (size_t)n + ((m[0] & 0x80) != 0);
    if (cap < 2 + o)
        return 0;
    p[0] = DER_INTEGER;
    p[1] = (unsigned char)o;
    if (o > (size_t)n)
        p[2] = 0;
    memcpy(p + 2 + o - (size_t)n, m, (size_t)n);
    return 2 + o;
}

cm_err der_integer_hex(cm_buf *b, const char *hex)
{
    unsigned char e[DER_INT_HEX_MAX];
    size_t n = der_put_integer_hex(e, sizeof(e), hex);
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "'%s' is not an integer in hex of at most 128 digits",
                          hex);
    return buf_append(b, e, n);
}

/* Two's complement octets of v with the fewest octets (X.690 8.3.2). */
static size_t int64_octets(unsigned char out[8], int64_t v)
{
    uint64_t u = (uint64_t)v;
    size_t i, skip = 0;

    for (i = 0; i < 8; i++)
        out[i] = (unsigned char)(u >> (56 - 8 * i));
    while (skip < 7 && ((out[skip] == 0x00 && !(out[skip + 1] & 0x80)) ||
                        (out[skip] == 0xff && (out[skip + 1] & 0x80))))
        skip++;
    memmove(out, out + skip, 8 - skip);
    return 8 - skip;
}

static cm_err put_int64(cm_buf *b, unsigned tag, int64_t v)
{
    unsigned char o[8], h[2 + 8];
    size_t n = int64_octets(o, v);
    h[0] = (unsigned char)tag;
    h[1] = (unsigned char)n;
    memcpy(h + 2, o, n);
    return buf_append(b, h, 2 + n);
}

cm_err der_integer(cm_buf *b, int64_t v)
{
    return put_int64(b, DER_INTEGER, v);
}

cm_err der_enumerated(cm_buf *b, int64_t v)
{
    return put_int64(b, DER_ENUMERATED, v);
}

cm_err der_boolean(cm_buf *b, int v)
{
    const unsigned char e[] = {DER_BOOLEAN, 1, v ? 0xff : 0x00};
    return buf_append(b, e, sizeof(e));
}

cm_err der_null(cm_buf *b)
{
    static const unsigned char e[] = {DER_NULL, 0};
    return buf_append(b, e, sizeof(e));
}

cm_err der_octet_string(cm_buf *b, const void *v, size_t n)
{
    return der_tlv(b, DER_OCTET_STRING, v, n);
}

cm_err der_bit_string(cm_buf *b, const void *v, size_t n, unsigned unused)
{
    unsigned char u = (unsigned char)unused;
    cm_err rc;

    assert(unused <= 7 && (n > 0 || unused == 0));
    if (n > DER_LEN_MAX - 1)
        return cm_err_set(CM_ERR_INVALID, "BIT STRING of %zu octets is too large", n);
    if ((rc = der_header(b, DER_BIT_STRING, n + 1)) != CM_OK)
        return rc;
    if ((rc = buf_append(b, &u, 1)) != CM_OK)
        return rc;
    return buf_append(b, v, n);
}

/* Appends arc v in base 128, high groups first, continuation bit set on all
 * but the last (X.690 8.19.2). */
static int put_arc(unsigned char *out, size_t outsz, size_t *o, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (unsigned char)(v & 0x7f);
        v >>= 7;
    } while (v);
    if (*o + n > outsz)
        return -1;
    while (n > 0) {
        n--;
        out[(*o)++] = (unsigned char)(tmp[n] | (n ? 0x80 : 0));
    }
    return 0;
}

cm_err der_oid_encode(unsigned char *out, size_t outsz, size_t *outlen, const char *dotted)
{
    uint64_t arcs[2] = {0, 0}, v;
    size_t o = 0;
    int narcs = 0;
    const char *p = dotted;

    *outlen = 0;
    for (;;) {
        if (*p < '0' || *p > '9')
            goto bad;
        /* No leading zeros in an arc ("2.05"): not a canonical OID text. */
        if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
            goto bad;
        for (v = 0; *p >= '0' && *p <= '9'; p++) {
            if (v > (UINT64_MAX / 2 - 9) / 10)
                goto bad;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        if (narcs < 2) {
            arcs[narcs] = v;
        }
        narcs++;
        if (narcs == 2) {
            /* X.690 8.19.4: the first two arcs share one subidentifier. */
            if (arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) || arcs[1] > UINT64_MAX / 2 - 80)
                goto bad;
            if (put_arc(out, outsz, &o, arcs[0] * 40 + arcs[1]) != 0)
                goto bad;
        } else if (narcs > 2) {
            if (put_arc(out, outsz, &o, v) != 0)
                goto bad;
        }
        if (*p == '\0')
            break;
        if (*p != '.')
            goto bad;
        p++;
    }
    if (narcs < 2)
        goto bad;
    *outlen = o;
    return CM_OK;
bad:
    return cm_err_set(CM_ERR_INVALID, "'%s' is not a dotted object identifier", dotted);
}

cm_err der_oid_text(cm_buf *b, const char *dotted)
{
    unsigned char body[128];
    size_t n;
    cm_err rc = der_oid_encode(body, sizeof(body), &n, dotted);
    if (rc != CM_OK)
        return rc;
    return der_tlv(b, DER_OID, body, n);
}

cm_err der_oid(cm_buf *b, const unsigned char *body, size_t n)
{
    return der_tlv(b, DER_OID, body, n);
}

int64_t der_unix_from_civil(int64_t year, int month, int day, int hour, int min, int sec)
{
    /* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
     * calendar, no tables, no gmtime. */
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + hour * 3600 + min * 60 + sec;
}

void der_civil_from_unix(struct der_civil *out, int64_t t)
{
    int64_t days = t / 86400, secs = t % 86400;
    int64_t z, era, doe, yoe, doy, mp;

    if (secs < 0) {
        secs += 86400;
        days--;
    }
    /* Hinnant's civil_from_days. */
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    out->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    out->year = yoe + era * 400 + (out->month <= 2);
    out->hour = (int)(secs / 3600);
    out->min = (int)(secs / 60 % 60);
    out->sec = (int)(secs % 60);
}

static unsigned char *put2(unsigned char *p, int v)
{
    p[0] = (unsigned char)('0' + v / 10);
    p[1] = (unsigned char)('0' + v % 10);
    return p + 2;
}

/* YYYY or YY, then MMDDHHMMSSZ. */
static size_t put_time_tag(unsigned char *p, const struct der_civil *c, int generalized)
{
    unsigned char *q = p + 2;
    int y = (int)c->year;

    p[0] = generalized ? DER_GENERALIZEDTIME : DER_UTCTIME;
    p[1] = generalized ? 15 : 13;
    if (generalized)
        q = put2(q, y / 100);
    q = put2(q, y % 100);
    q = put2(q, c->month);
    q = put2(q, c->day);
    q = put2(q, c->hour);
    q = put2(q, c->min);
    q = put2(q, c->sec);
    *q++ = 'Z';
    return (size_t)(q - p);
}

size_t der_put_time(unsigned char *p, int64_t t)
{
    struct der_civil c;
    der_civil_from_unix(&c, t);
    /* RFC 5280 4.1.2.5 / 5.1.2.4: UTCTime through 2049, GeneralizedTime
     * from 2050; UTCTime's two-digit year means 1950..2049. */
    if (c.year < 1950 || c.year > 9999)
        return 0;
    return put_time_tag(p, &c, c.year >= 2050);
}

size_t der_put_generalized_time(unsigned char *p, int64_t t)
{
    struct der_civil c;
    der_civil_from_unix(&c, t);
    if (c.year < 0 || c.year > 9999)
        return 0;
    return put_time_tag(p, &c, 1);
}

cm_err der_time(cm_buf *b, int64_t t)
{
    unsigned char e[DER_TIME_MAX];
    size_t n = der_put_time(e, t);
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "time %lld is outside the years 1950..9999",
                          (long long)t);
    return buf_append(b, e, n);
}

cm_err der_generalized_time(cm_buf *b, int64_t t)
{
    unsigned char e[DER_TIME_MAX];
    size_t n = der_put_generalized_time(e, t);
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "time %lld is outside the years 0..9999", (long long)t);
    return buf_append(b, e, n);
}

/* ---- PEM ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(unsigned char *out, const unsigned char *in, size_t n)
{
    size_t i, o = 0;
    for (i = 0; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = (unsigned char)b64[v >> 18];
        out[o++] = (unsigned char)b64[(v >> 12) & 63];
        out[o++] = (unsigned char)b64[(v >> 6) & 63];
        out[o++] = (unsigned char)b64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        out[o++] = (unsigned char)b64[v >> 18];
        out[o++] = (unsigned char)b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? (unsigned char)b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

static size_t pem_body_size(size_t derlen)
{
    size_t full = derlen / 48, rest = derlen % 48;
    return full * 65 + (rest ? (rest + 2) / 3 * 4 + 1 : 0);
}

size_t der_pem_size(size_t derlen, const char *label)
{
    size_t l = strlen(label);
    return (11 + l + 6) + pem_body_size(derlen) + (9 + l + 6);
}

cm_err der_pem_inplace(cm_buf *b, size_t *off, size_t *len, const char *label)
{
    size_t d = *len, p = der_pem_size(d, label), in, o, l = strlen(label);
    unsigned char grp[48];
    cm_err rc;

    assert(*off + d <= b->len && l < 64);
    if (p > b->len && (rc = buf_reserve(b, p - b->len)) != CM_OK)
        return rc;
    /* The DER goes to the end of the PEM region. Encoding then runs forward:
     * after k whole groups the output ends at begin + 65k while the unread
     * input starts at begin + end + body - d + 48k >= begin + 65k, because
     * body - d >= 17 * (d / 48) (see der_pem_size). Each group is copied out
     * before its line is written, so no unread octet is ever overwritten. */
    in = p - d;
    memmove(b->data + in, b->data + *off, d);
    o = 0;
    memcpy(b->data + o, "-----BEGIN ", 11);
    o += 11;
    memcpy(b->data + o, label, l);
    o += l;
    memcpy(b->data + o, "-----\n", 6);
    o += 6;
    while (d > 0) {
        size_t n = d < 48 ? d : 48;
        memcpy(grp, b->data + in, n);
        in += n;
        d -= n;
        o += b64_encode(b->data + o, grp, n);
        b->data[o++] = '\n';
    }
    memcpy(b->data + o, "-----END ", 9);
    o += 9;
    memcpy(b->data + o, label, l);
    o += l;
    memcpy(b->data + o, "-----\n", 6);
    o += 6;
    assert(o == p);
    b->len = p;
    b->data[p] = '\0';
    *off = 0;
    *len = p;
    return CM_OK;
}

/* ---- Reader ---- */

int der_next(struct der_tlv *out, const unsigned char **p, const unsigned char *end)
{
    const unsigned char *q = *p;
    size_t avail, len, n, i;

    if (q >= end || end - q < 2)
        return -1;
    out->start = q;
    out->tag = q[0];
    if ((q[0] & 0x1f) == 0x1f)
        return -1; /* high tag numbers: never used by X.509 */
    len = q[1];
    q += 2;
    if (len & 0x80) {
        n = len & 0x7f;
        /* 0x80 is the indefinite form (BER only); DER uses the fewest
         * octets, so no leading zero and no long form below 128. */
        if (n == 0 || n > sizeof(size_t) || (size_t)(end - q) < n || q[0] == 0)
            return -1;
        for (len = 0, i = 0; i < n; i++)
            len = len << 8 | q[i];
        q += n;
        if (len < 0x80)
            return -1;
    }
    avail = (size_t)(end - q);
    if (len > avail)
        return -1;
    out->v = q;
    out->len = len;
    out->total = (size_t)(q - out->start) + len;
    *p = q + len;
    return 0;
}

static int dig2(const unsigned char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

int der_parse_time(int64_t *out, const struct der_tlv *t)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const unsigned char *s = t->v;
    int y1, y2 = 0, mo, d, h, mi, sec, leap, dim;
    int64_t year;

    if (t->tag == DER_UTCTIME && t->len == 13) {
        if (dig2(s, &y1) != 0)
            return -1;
        year = y1 < 50 ? 2000 + y1 : 1900 + y1;
        s += 2;
    } else if (t->tag == DER_GENERALIZEDTIME && t->len == 15) {
        if (dig2(s, &y1) != 0 || dig2(s + 2, &y2) != 0)
            return -1;
        year = y1 * 100 + y2;
        s += 4;
    } else {
        return -1;
    }
    if (dig2(s, &mo) || dig2(s + 2, &d) || dig2(s + 4, &h) || dig2(s + 6, &mi) ||
        dig2(s + 8, &sec) || s[10] != 'Z')
        return -1;
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59 || d < 1)
        return -1;
    leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    dim = dm[mo - 1] + (mo == 2 && leap);
    if (d > dim)
        return -1;
    *out = der_unix_from_civil(year, mo, d, h, mi, sec);
    return 0;
}

int der_parse_int64(int64_t *out, const unsigned char *v, size_t len)
{
    uint64_t u;
    size_t i;

    if (len == 0 || len > 8)
        return -1;
    if (len > 1 && ((v[0] == 0x00 && !(v[1] & 0x80)) || (v[0] == 0xff && (v[1] & 0x80))))
        return -1;
    u = (v[0] & 0x80) ? UINT64_MAX : 0;
    for (i = 0; i < len; i++)
        u = u << 8 | v[i];
    *out = (int64_t)u;
    return 0;
}
