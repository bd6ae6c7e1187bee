/* Parsing of values that users type: serial numbers, dates, integers. Every
 * parser is bounded and reports what was wrong with the input. */
#ifndef CM_UTIL_TEXT_H
#define CM_UTIL_TEXT_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest serial: RFC 5280 4.1.2.2 allows 20 octets = 40 hex digits. */
#define CM_SERIAL_HEX_MAX 40
#define CM_SERIAL_BUF (CM_SERIAL_HEX_MAX + 1)

/* Canonical serial form in the database: upper-case hex, no separators, no
 * leading zero octets ("00" pairs), at least 2 digits, even length. Accepts
 * hex with or without colons/spaces, any case, an optional 0x. */
cm_err text_serial_canon(char out[CM_SERIAL_BUF], const char *in) CM_MUST_USE;

/* Serial bytes (big-endian, as in the certificate INTEGER, without sign
 * octet) to canonical hex. */
cm_err text_serial_from_bytes(char out[CM_SERIAL_BUF], const unsigned char *p,
                              size_t n) CM_MUST_USE;

/* Parses a date: "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]", "YYYY-MM-DDTHH:MM[:SS][Z]",
 * "@UNIXSECONDS", or "now". Times are UTC. */
cm_err text_parse_time(int64_t *out, const char *in) CM_MUST_USE;

/* Formats t as "YYYY-MM-DD HH:MM:SS" (UTC) into out (at least 20 bytes). */
void text_format_time(char *out, size_t outsz, int64_t t);

/* Parses a decimal integer in [min, max] (strtonum). */
cm_err text_parse_int(long long *out, const char *in, long long min, long long max,
                      const char *what) CM_MUST_USE;

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void text_hex(char *out, const unsigned char *p, size_t n);

/* Duplicates s; NULL-safe (returns NULL for NULL). Aborts never: NULL on OOM. */
char *text_dup(const char *s);

/* Trims ASCII whitespace in place; returns s. */
char *text_trim(char *s);

#endif
