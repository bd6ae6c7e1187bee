/* Hex typed or pasted by users (see hex.h). */
#include "util/hex.h"

#include <limits.h>
#include <string.h>

/* Hex digit values plus one (so that the zero-initialised rest means "not
 * hex"). A table, not comparisons: random serials make the digit/letter
 * branches unpredictable, and hex_decode is on the path of every CRL
 * entry. */
static const signed char digit_tab[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int hex_digit_value(int c)
{
    return c < 0 || c > 255 ? -1 : digit_tab[c] - 1;
}

int hex_decode(unsigned char *out, size_t outsz, const char *hex)
{
    size_t nd = strlen(hex), nb = (nd + 1) / 2, i = 0, o = 0;
    int hi, lo;

    if (nd == 0 || nb > outsz || nb > (size_t)INT_MAX)
        return -1;
    if (nd % 2) {
        if ((lo = digit_tab[(unsigned char)hex[0]] - 1) < 0)
            return -1;
        out[o++] = (unsigned char)lo;
        i = 1;
    }
    for (; i < nd; i += 2) {
        hi = digit_tab[(unsigned char)hex[i]] - 1;
        lo = digit_tab[(unsigned char)hex[i + 1]] - 1;
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (unsigned char)(hi << 4 | lo);
    }
    return (int)o;
}

/* Length of the separator at p (0 when p holds none). The UTF-8 forms are
 * the marks and spaces that copying from Windows dialogs and web pages
 * brings along. */
static size_t separator_len(const unsigned char *p)
{
    if (*p == ':' || *p == ' ' || *p == '\t')
        return 1;
    if (p[0] == 0xC2 && p[1] == 0xA0) /* U+00A0 NO-BREAK SPACE */
        return 2;
    if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0x8E || p[2] == 0x8F)) /* U+200E, U+200F */
        return 3;
    if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) /* U+FEFF */
        return 3;
    return 0;
}

/* Whether s can be echoed in a message as it is (no control bytes reach
 * the terminal). */
static int all_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

cm_err hex_normalize(char *out, size_t outsz, size_t *ndigits, const char *in, int upper,
                     const char *what)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0, skip;

    if (outsz > 0)
        out[0] = '\0';
    *ndigits = 0;
    if (in == NULL)
        return cm_err_set(CM_ERR_INVALID, "%s: empty", what);
    while ((skip = separator_len(p)) > 0 || *p == '\n' || *p == '\r')
        p += skip > 0 ? skip : 1;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    for (; *p != '\0'; p++) {
        int v;
        if ((skip = separator_len(p)) > 0 || *p == '\n' || *p == '\r') {
            p += (skip > 0 ? skip : 1) - 1;
            continue;
        }
        v = hex_digit_value(*p);
        if (v < 0) {
            if (*p >= 0x20 && *p < 0x7f && all_printable(in))
                return cm_err_set(CM_ERR_INVALID, "%s '%s': '%c' is not a hex digit", what, in, *p);
            if (*p >= 0x20 && *p < 0x7f)
                return cm_err_set(CM_ERR_INVALID, "%s: '%c' is not a hex digit", what, *p);
            return cm_err_set(CM_ERR_INVALID, "%s: byte 0x%02x is not a hex digit", what, *p);
        }
        if (n + 1 >= outsz)
            return cm_err_set(CM_ERR_INVALID, "%s: more than %zu hex digits", what,
                              outsz > 0 ? outsz - 1 : 0);
        out[n++] = (upper ? up : lo)[v];
    }
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "%s '%s': no hex digits", what, in);
    out[n] = '\0';
    *ndigits = n;
    return CM_OK;
}

cm_err hex_thumbprint(char out[HEX_THUMB_MAX + 1], const char *in, const char *what)
{
    size_t n = 0;
    cm_err rc = hex_normalize(out, HEX_THUMB_MAX + 1, &n, in, 0, what);
    if (rc != CM_OK)
        return rc;
    if (n % 2 != 0) {
        out[0] = '\0';
        return cm_err_set(CM_ERR_INVALID, "%s '%s': odd number of hex digits (%zu)", what, in, n);
    }
    return CM_OK;
}
