/* libFuzzer target for hex_normalize(), hex_thumbprint() and hex_decode()
 * (src/util/hex.c) and text_serial_canon() built on them: arbitrary bytes as
 * pasted hex. hex_decode succeeds exactly on bare hex digits that fit, with
 * (digits + 1) / 2 octets.
 * Invariants: on success the output is only hex digits of the asked case,
 * its length is the digit count and fits the buffer; a thumbprint has an
 * even length; a canonical serial is even, at most 40 digits, upper case,
 * and canonicalising it again gives itself. Sanitizers catch the rest. */
#include "util/hex.h"
#include "util/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_digits(const char *s, size_t n, int upper)
{
    if (strlen(s) != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (hex_digit_value((unsigned char)s[i]) < 0 ||
            (upper ? (s[i] >= 'a' && s[i] <= 'f') : (s[i] >= 'A' && s[i] <= 'F')))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[64], thumb[HEX_THUMB_MAX + 1], ser[CM_SERIAL_BUF], again[CM_SERIAL_BUF];
    size_t n = 0;
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (hex_normalize(out, sizeof(out), &n, s, (int)(size & 1), "fuzz") == CM_OK) {
        if (n == 0 || n >= sizeof(out))
            abort();
        check_digits(out, n, (int)(size & 1));
    }
    if (hex_thumbprint(thumb, s, "fuzz") == CM_OK) {
        n = strlen(thumb);
        if (n == 0 || n % 2 != 0 || n > HEX_THUMB_MAX)
            abort();
        check_digits(thumb, n, 0);
    }
    if (text_serial_canon(ser, s) == CM_OK) {
        n = strlen(ser);
        if (n == 0 || n % 2 != 0 || n > CM_SERIAL_HEX_MAX)
            abort();
        check_digits(ser, n, 1);
        if (text_serial_canon(again, ser) != CM_OK || strcmp(again, ser) != 0)
            abort();
    }
    {
        unsigned char oct[16];
        int nb = hex_decode(oct, sizeof(oct), s);
        size_t nd = strlen(s);
        int bare = nd > 0 && (nd + 1) / 2 <= sizeof(oct);
        for (size_t i = 0; bare && i < nd; i++)
            bare = hex_digit_value((unsigned char)s[i]) >= 0;
        if ((nb >= 0) != bare || (bare && (size_t)nb != (nd + 1) / 2))
            abort();
    }
    free(s);
    return 0;
}
