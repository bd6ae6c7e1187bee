/* Unit tests: the one parser for hex that users type or paste (util/hex.h),
 * and the serial and thumbprint forms built on it. */
#include "unit.h"
#include "util/hex.h"
#include "util/text.h"

TEST(normalize_forms)
{
    char out[64];
    size_t n = 0;
    CHECK_OK(hex_normalize(out, sizeof(out), &n, "5a 3f 09", 1, "x"));
    CHECK_STR(out, "5A3F09");
    CHECK_INT(n, 6);
    CHECK_OK(hex_normalize(out, sizeof(out), &n, " 5A:3F:09\n", 0, "x"));
    CHECK_STR(out, "5a3f09");
    CHECK_OK(hex_normalize(out, sizeof(out), &n, "0x5a3f09", 1, "x"));
    CHECK_STR(out, "5A3F09");
    /* A copy from the Windows certificate dialog: U+200E first; no-break
     * spaces and a byte order mark from web pages. */
    CHECK_OK(hex_normalize(out, sizeof(out), &n,
                           "\xe2\x80\x8e"
                           "5a 3f 09",
                           1, "x"));
    CHECK_STR(out, "5A3F09");
    CHECK_OK(hex_normalize(out, sizeof(out), &n,
                           "\xef\xbb\xbf"
                           "5a\xc2\xa0"
                           "3f\t09",
                           1, "x"));
    CHECK_STR(out, "5A3F09");
}

TEST(normalize_rejects)
{
    char out[8];
    size_t n = 1;
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, "", 1, "thumb"), CM_ERR_INVALID);
    CHECK_INT(n, 0);
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, " : ", 1, "thumb"), CM_ERR_INVALID);
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, "5g", 1, "thumb"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "'g' is not a hex digit") != NULL);
    CHECK(strstr(cm_err_msg(), "thumb") != NULL);
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, "5a\xc3\xa9", 1, "thumb"), CM_ERR_INVALID);
    /* No control byte of the input reaches the message (a terminal). */
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, "5g\x1b[31m", 1, "thumb"), CM_ERR_INVALID);
    CHECK(strchr(cm_err_msg(), 0x1b) == NULL);
    CHECK(strstr(cm_err_msg(), "'g' is not a hex digit") != NULL);
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, "-5a", 1, "thumb"), CM_ERR_INVALID);
    /* 7 digits fit in 8 bytes, 8 do not. */
    CHECK_OK(hex_normalize(out, sizeof(out), &n, "1234567", 1, "thumb"));
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, "12345678", 1, "thumb"), CM_ERR_INVALID);
    CHECK_ERR(hex_normalize(out, sizeof(out), &n, NULL, 1, "thumb"), CM_ERR_INVALID);
}

TEST(thumbprints)
{
    char out[HEX_THUMB_MAX + 1];
    CHECK_OK(hex_thumbprint(out, "AB CD EF 01", "CertificateHash"));
    CHECK_STR(out, "abcdef01");
    CHECK_ERR(hex_thumbprint(out, "ABC", "CertificateHash"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "odd number") != NULL);
}

TEST(serials_any_spelling)
{
    char a[CM_SERIAL_BUF], b[CM_SERIAL_BUF];
    CHECK_OK(text_serial_canon(a, "\xe2\x80\x8e"
                                  "0a bc de"));
    CHECK_OK(text_serial_canon(b, "0A:BC:DE"));
    CHECK_STR(a, b);
    CHECK_STR(a, "0ABCDE");
}

/* Every byte against a reference (the parsers it replaced in der.c,
 * smtp.c, name.c and mailscan.c accepted exactly [0-9A-Fa-f]). */
TEST(digit_values)
{
    for (int c = -1; c < 257; c++) {
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        if (hex_digit_value(c) != want)
            UNIT_FAIL("hex_digit_value(%d) = %d, expected %d", c, hex_digit_value(c), want);
    }
}

/* Bare stored hex to octets (DER serials in CRLs). */
TEST(decode)
{
    unsigned char b[4];
    CHECK_INT(hex_decode(b, sizeof(b), "0aBc"), 2);
    CHECK(b[0] == 0x0a && b[1] == 0xbc);
    CHECK_INT(hex_decode(b, sizeof(b), "ABC"), 2); /* odd: a leading nibble */
    CHECK(b[0] == 0x0a && b[1] == 0xbc);
    CHECK_INT(hex_decode(b, sizeof(b), "01020304"), 4);
    CHECK(b[3] == 0x04);
    CHECK_INT(hex_decode(b, sizeof(b), "0102030405"), -1); /* does not fit */
    CHECK_INT(hex_decode(b, sizeof(b), ""), -1);
    CHECK_INT(hex_decode(b, sizeof(b), "0g"), -1);
    CHECK_INT(hex_decode(b, sizeof(b), "01:02"), -1); /* stored form: no separators */
    CHECK_INT(hex_decode(b, sizeof(b), "\xc3\xa9"), -1);
}

int main(void)
{
    unit_suite = "hex";
    RUN(normalize_forms);
    RUN(normalize_rejects);
    RUN(thumbprints);
    RUN(serials_any_spelling);
    RUN(digit_values);
    RUN(decode);
    return UNIT_DONE();
}
