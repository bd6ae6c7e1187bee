/* The one parser for hex that users type or paste: serial numbers and
 * thumbprints (CertificateHash, SubjectKeyIdentifier). Windows shows them
 * in upper case with spaces ("5A 3F 09 ..."), OpenSSL with colons, and a
 * copy from the Windows certificate dialog starts with an invisible
 * U+200E LEFT-TO-RIGHT MARK; all of these name the same value. */
#ifndef CM_UTIL_HEX_H
#define CM_UTIL_HEX_H

#include "util/err.h"

#include <stddef.h>

/* Value of one hex digit, -1 when c is not one. Every hex parser in the
 * tree (DER serials, DN escapes, URL %XX, mail key ids) goes through this
 * file. */
int hex_digit_value(int c);

/* Bare hex digits (no separators; as stored in the database) to big-endian
 * octets; an odd count has a leading nibble ("ABC" is 0x0A 0xBC). Returns
 * the octet count, or -1 when hex is empty, not hex, or needs more than
 * outsz octets. */
int hex_decode(unsigned char *out, size_t outsz, const char *hex);

/* Normalises in to bare hex digits in out (NUL-terminated, upper case when
 * upper, else lower case): surrounding white space, one leading "0x", and
 * separators between digits (':', ' ', tab, line ends, and the invisible or
 * no-break spaces U+00A0, U+200E, U+200F, U+FEFF in UTF-8) are dropped;
 * anything else is an error naming `what` and the offending character.
 * *ndigits receives the digit count. Refuses an empty value and more than
 * outsz - 1 digits. */
cm_err hex_normalize(char *out, size_t outsz, size_t *ndigits, const char *in, int upper,
                     const char *what) CM_MUST_USE;

/* A thumbprint or key identifier as stored in the database: lower-case hex
 * of whole octets, at most 64 octets (SHA-512). */
#define HEX_THUMB_MAX 128
cm_err hex_thumbprint(char out[HEX_THUMB_MAX + 1], const char *in, const char *what) CM_MUST_USE;

#endif
