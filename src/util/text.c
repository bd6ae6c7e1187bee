#include "util/text.h"

#include "util/hex.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 if in is already canonical: an even number (2 to CM_SERIAL_HEX_MAX) of
 * upper-case hex digits, not beginning with "00" (so not zero either).
 * Every serial this CA stores is, and checking is a tenth of the general
 * path's cost on the database writer (issue 10). */
static int serial_is_canon(const char *in)
{
    size_t n = 0;

    for (; in[n] != '\0'; n++) {
        char c = in[n];
        if (n >= CM_SERIAL_HEX_MAX || !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return n >= 2 && n % 2 == 0 && !(in[0] == '0' && in[1] == '0');
}

cm_err text_serial_canon(char out[CM_SERIAL_BUF], const char *in)
{
    char digits[128];
    size_t nd = 0, i, start;
    cm_err rc;

    out[0] = '\0';
    if (in == NULL || *in == '\0')
        return cm_err_set(CM_ERR_INVALID, "serial number: empty");
    if (serial_is_canon(in)) {
        memcpy(out, in, strlen(in) + 1);
        return CM_OK;
    }
    rc = hex_normalize(digits, sizeof(digits), &nd, in, 1, "serial number");
    if (rc != CM_OK)
        return rc;
    /* Strip leading zeros, then pad to an even number of digits. */
    for (start = 0; start + 1 < nd && digits[start] == '0'; start++)
        ;
    nd -= start;
    memmove(digits, digits + start, nd);
    if (nd == 1 && digits[0] == '0')
        return cm_err_set(CM_ERR_INVALID, "serial number '%s': zero is not a valid serial", in);
    if (nd > CM_SERIAL_HEX_MAX)
        return cm_err_set(CM_ERR_INVALID,
                          "serial number '%s': longer than 20 octets (RFC 5280 4.1.2.2)", in);
    i = 0;
    if (nd % 2)
        out[i++] = '0';
    memcpy(out + i, digits, nd);
    out[i + nd] = '\0';
    return CM_OK;
}

cm_err text_serial_from_bytes(char out[CM_SERIAL_BUF], const unsigned char *p, size_t n)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t i, o = 0;
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "serial number is zero");
    if (n > 20)
        return cm_err_set(CM_ERR_INVALID, "serial number longer than 20 octets");
    for (i = 0; i < n; i++) {
        out[o++] = hx[p[i] >> 4];
        out[o++] = hx[p[i] & 15];
    }
    out[o] = '\0';
    return CM_OK;
}

static int days_from_civil(int y, unsigned m, unsigned d, int64_t *out)
{
    /* Howard Hinnant's algorithm: exact for the proleptic Gregorian calendar. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = era * 146097 + (int64_t)doe - 719468;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

cm_err text_parse_time(int64_t *out, const char *in)
{
    int y, mo, d, h = 0, mi = 0, s = 0, n = 0, used = 0;
    int64_t days;
    char sep;

    if (in == NULL || *in == '\0')
        return cm_err_set(CM_ERR_INVALID, "date: empty");
    if (strcmp(in, "now") == 0) {
        *out = (int64_t)time(NULL);
        return CM_OK;
    }
    if (in[0] == '@') {
        long long v;
        cm_err rc = text_parse_int(&v, in + 1, 0, 253402300799LL, "date");
        if (rc == CM_OK)
            *out = v;
        return rc;
    }
    if (sscanf(in, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return cm_err_set(CM_ERR_INVALID, "date '%s': expected YYYY-MM-DD[ HH:MM[:SS]]", in);
    used = n;
    if (in[used] == ' ' || in[used] == 'T') {
        sep = in[used];
        (void)sep;
        n = 0;
        if (sscanf(in + used + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
            return cm_err_set(CM_ERR_INVALID, "date '%s': bad time of day", in);
        used += 1 + n;
        if (in[used] == ':') {
            n = 0;
            if (sscanf(in + used + 1, "%2d%n", &s, &n) != 1 || n != 2)
                return cm_err_set(CM_ERR_INVALID, "date '%s': bad seconds", in);
            used += 1 + n;
        }
    }
    if (in[used] == 'Z')
        used++;
    if (in[used] != '\0')
        return cm_err_set(CM_ERR_INVALID, "date '%s': unexpected text after the date", in);
    if (y < 1950 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || s > 59 || h < 0 || mi < 0 || s < 0)
        return cm_err_set(CM_ERR_INVALID, "date '%s': out of range", in);
    days_from_civil(y, (unsigned)mo, (unsigned)d, &days);
    *out = days * 86400 + h * 3600 + mi * 60 + s;
    return CM_OK;
}

void text_format_time(char *out, size_t outsz, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, outsz, "?");
        return;
    }
    strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm);
}

cm_err text_parse_int(long long *out, const char *in, long long min, long long max,
                      const char *what)
{
    char *end = NULL;
    long long v;

    if (in == NULL || *in == '\0')
        return cm_err_set(CM_ERR_INVALID, "%s: empty number", what);
    errno = 0;
    v = strtoll(in, &end, 10);
    if (errno != 0 || end == in || *end != '\0')
        return cm_err_set(CM_ERR_INVALID, "%s '%s': not a number", what, in);
    if (v < min || v > max)
        return cm_err_set(CM_ERR_INVALID, "%s '%s': out of range %lld..%lld", what, in, min, max);
    *out = v;
    return CM_OK;
}

void text_hex(char *out, const unsigned char *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

char *text_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *text_trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}
