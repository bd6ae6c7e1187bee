/* Unit tests: serial numbers, dates and integers typed by users. */
#include "unit.h"
#include "util/text.h"

TEST(serial_forms)
{
    char out[CM_SERIAL_BUF];
    CHECK_OK(text_serial_canon(out, "5a:3f:09"));
    CHECK_STR(out, "5A3F09");
    CHECK_OK(text_serial_canon(out, "5A 3F 09"));
    CHECK_STR(out, "5A3F09");
    CHECK_OK(text_serial_canon(out, "0x00005a3f09"));
    CHECK_STR(out, "5A3F09");
    CHECK_OK(text_serial_canon(out, "abc"));
    CHECK_STR(out, "0ABC");
    CHECK_OK(text_serial_canon(out, "0102030405060708090A0B0C0D0E0F1011121314"));
    CHECK_STR(out, "0102030405060708090A0B0C0D0E0F1011121314");
}

TEST(serial_rejects)
{
    char out[CM_SERIAL_BUF];
    CHECK_ERR(text_serial_canon(out, ""), CM_ERR_INVALID);
    CHECK_ERR(text_serial_canon(out, "xyz"), CM_ERR_INVALID);
    CHECK_ERR(text_serial_canon(out, "00:00"), CM_ERR_INVALID);
    CHECK_ERR(text_serial_canon(out, ":::"), CM_ERR_INVALID);
    CHECK_ERR(text_serial_canon(out, "0102030405060708090A0B0C0D0E0F101112131415"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "20 octets") != NULL);
}

TEST(serial_from_bytes)
{
    char out[CM_SERIAL_BUF];
    const unsigned char b[] = {0x00, 0x80, 0x01};
    CHECK_OK(text_serial_from_bytes(out, b, sizeof(b)));
    CHECK_STR(out, "8001");
    const unsigned char z[] = {0x00};
    CHECK_ERR(text_serial_from_bytes(out, z, 1), CM_ERR_INVALID);
}

TEST(times)
{
    int64_t t;
    char buf[32];
    CHECK_OK(text_parse_time(&t, "1970-01-01"));
    CHECK_INT(t, 0);
    CHECK_OK(text_parse_time(&t, "2049-12-31 23:59:59"));
    CHECK_INT(t, 2524607999LL);
    CHECK_OK(text_parse_time(&t, "2050-01-01T00:00:00Z"));
    CHECK_INT(t, 2524608000LL);
    CHECK_OK(text_parse_time(&t, "2024-02-29 12:00"));
    text_format_time(buf, sizeof(buf), t);
    CHECK_STR(buf, "2024-02-29 12:00:00");
    CHECK_OK(text_parse_time(&t, "@86400"));
    CHECK_INT(t, 86400);
    CHECK_ERR(text_parse_time(&t, "2023-02-29"), CM_ERR_INVALID);
    CHECK_ERR(text_parse_time(&t, "2026-13-01"), CM_ERR_INVALID);
    CHECK_ERR(text_parse_time(&t, "2026-01-01 25:00"), CM_ERR_INVALID);
    CHECK_ERR(text_parse_time(&t, "yesterday"), CM_ERR_INVALID);
    CHECK_ERR(text_parse_time(&t, "2026-01-01x"), CM_ERR_INVALID);
}

TEST(ints)
{
    long long v;
    CHECK_OK(text_parse_int(&v, "42", 0, 100, "n"));
    CHECK_INT(v, 42);
    CHECK_ERR(text_parse_int(&v, "101", 0, 100, "n"), CM_ERR_INVALID);
    CHECK_ERR(text_parse_int(&v, "4x", 0, 100, "n"), CM_ERR_INVALID);
    CHECK_ERR(text_parse_int(&v, "", 0, 100, "n"), CM_ERR_INVALID);
    CHECK_ERR(text_parse_int(&v, "99999999999999999999999", 0, 100, "n"), CM_ERR_INVALID);
}

int main(void)
{
    unit_suite = "text";
    RUN(serial_forms);
    RUN(serial_rejects);
    RUN(serial_from_bytes);
    RUN(times);
    RUN(ints);
    return UNIT_DONE();
}
