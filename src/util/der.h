/* A minimal DER (ITU-T X.690) writer and reader on cm_buf.
 *
 * Writer: every der_* function appends one complete element to a cm_buf and
 * returns CM_OK, or CM_ERR_INVALID / CM_ERR_NOMEM with the message set (the
 * buffer's hard maximum is honoured). Lengths are always definite and use the
 * fewest octets (X.690 10.1). Only low tag numbers (< 31) are supported:
 * that is all X.509 needs.
 *
 * Constructed elements can be written two ways:
 *   - length first: when the content length is known, der_header() writes the
 *     tag and length and the caller appends exactly that many content bytes
 *     (der_header_size() and der_tlv_size() compute sizes ahead of time);
 *   - reserve and patch: der_begin() reserves room for the largest header and
 *     der_end() writes the real header and slides the content down over the
 *     unused octets. Meant for small elements (the content is moved once).
 *
 * Reader: der_next() takes one element off the front of a byte range,
 * enforcing the same DER rules (definite, minimal lengths, low tags). It
 * never allocates; the element's value points into the input.
 *
 * Nothing here keeps state: the functions are thread-safe. */
#ifndef CM_CRL_DER_H
#define CM_CRL_DER_H

#include "util/buf.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Universal tags (X.680 8.4) and the usual constructed / context forms. */
#define DER_BOOLEAN 0x01u
#define DER_INTEGER 0x02u
#define DER_BIT_STRING 0x03u
#define DER_OCTET_STRING 0x04u
#define DER_NULL 0x05u
#define DER_OID 0x06u
#define DER_ENUMERATED 0x0au
#define DER_UTF8STRING 0x0cu
#define DER_PRINTABLESTRING 0x13u
#define DER_IA5STRING 0x16u
#define DER_UTCTIME 0x17u
#define DER_GENERALIZEDTIME 0x18u
#define DER_SEQUENCE 0x30u
#define DER_SET 0x31u
/* [n] EXPLICIT or constructed IMPLICIT: context-specific, constructed. */
#define DER_CTX_CONS(n) (0xa0u | (unsigned)(n))
/* [n] IMPLICIT of a primitive type: context-specific, primitive. */
#define DER_CTX_PRIM(n) (0x80u | (unsigned)(n))

/* Largest header der_begin() reserves: tag + 0x84 + 4 length octets, enough
 * for contents up to 4 GiB - 1 (the most der_header() accepts). */
#define DER_HEADER_MAX 6
#define DER_LEN_MAX 0xffffffffu

/* Octets of the length field for a content of len bytes (1..5). */
size_t der_len_size(size_t len);
/* Octets of tag + length for a content of len bytes. */
size_t der_header_size(size_t len);
/* Octets of a whole element with a content of len bytes. */
size_t der_tlv_size(size_t len);

/* Writes tag + length into p (at least DER_HEADER_MAX bytes); returns the
 * number of bytes written. len must be <= DER_LEN_MAX (asserted). */
size_t der_put_header(unsigned char *p, unsigned tag, size_t len);

/* Appends tag + length (the caller appends the content). */
cm_err der_header(cm_buf *b, unsigned tag, size_t len) CM_MUST_USE;
/* Appends a whole element: tag, length, the n content bytes at v. */
cm_err der_tlv(cm_buf *b, unsigned tag, const void *v, size_t n) CM_MUST_USE;

/* Reserve and patch. der_begin() appends tag and a placeholder header and
 * stores in *mark where the element starts; der_end() fixes the header
 * once the content has been appended. Calls nest like parentheses. */
cm_err der_begin(cm_buf *b, size_t *mark, unsigned tag) CM_MUST_USE;
cm_err der_end(cm_buf *b, size_t mark) CM_MUST_USE;

/* INTEGER of an unsigned big-endian magnitude (leading zero octets are
 * dropped, a 0x00 sign octet is added when the top bit is set, so the value
 * is positive as RFC 5280 4.1.2.2 requires of serials). n == 0 or all zero
 * octets encode 0. */
cm_err der_integer_bytes(cm_buf *b, const unsigned char *mag, size_t n) CM_MUST_USE;
/* INTEGER from hex digits (a serial number in canonical form, util/text.h, or
 * any even or odd count of hex digits, at most 128). Not a hex string:
 * CM_ERR_INVALID naming it. */
cm_err der_integer_hex(cm_buf *b, const char *hex) CM_MUST_USE;
/* The same INTEGER written into p (cap bytes, DER_INT_HEX_MAX is always
 * enough); returns the bytes written, 0 when hex is not valid. */
#define DER_INT_HEX_MAX (2 + 1 + 64)
size_t der_put_integer_hex(unsigned char *p, size_t cap, const char *hex);
/* INTEGER of a signed 64-bit value (two's complement, minimal octets). */
cm_err der_integer(cm_buf *b, int64_t v) CM_MUST_USE;
/* ENUMERATED (same content rules as INTEGER). */
cm_err der_enumerated(cm_buf *b, int64_t v) CM_MUST_USE;
cm_err der_boolean(cm_buf *b, int v) CM_MUST_USE; /* TRUE is 0xff (X.690 11.1) */
cm_err der_null(cm_buf *b) CM_MUST_USE;
cm_err der_octet_string(cm_buf *b, const void *v, size_t n) CM_MUST_USE;
/* BIT STRING of n whole octets with `unused` (0..7) unused trailing bits. */
cm_err der_bit_string(cm_buf *b, const void *v, size_t n, unsigned unused) CM_MUST_USE;

/* OBJECT IDENTIFIER from dotted text ("2.5.29.20"). Malformed text (fewer
 * than two arcs, first arc > 2, second > 39 under 0 or 1, empty or
 * non-digit arcs, arcs above 2^63) is CM_ERR_INVALID naming it. */
cm_err der_oid_text(cm_buf *b, const char *dotted) CM_MUST_USE;
/* OBJECT IDENTIFIER from its already-encoded content octets. */
cm_err der_oid(cm_buf *b, const unsigned char *body, size_t n) CM_MUST_USE;
/* The content octets of dotted text into out (at most outsz bytes). */
cm_err der_oid_encode(unsigned char *out, size_t outsz, size_t *outlen,
                      const char *dotted) CM_MUST_USE;

/* Time (RFC 5280 4.1.2.5 and 5.1.2.4) of t unix seconds UTC: UTCTime
 * YYMMDDHHMMSSZ for 1950 through 2049, GeneralizedTime YYYYMMDDHHMMSSZ from
 * 2050. Years before 1950 or after 9999: CM_ERR_INVALID. */
cm_err der_time(cm_buf *b, int64_t t) CM_MUST_USE;
/* GeneralizedTime YYYYMMDDHHMMSSZ regardless of year (RFC 5280 4.1.2.5.2;
 * used e.g. by invalidityDate, 5.3.2). Years 0000..9999. */
cm_err der_generalized_time(cm_buf *b, int64_t t) CM_MUST_USE;
/* The same as der_time / der_generalized_time into a caller buffer of at
 * least DER_TIME_MAX bytes; returns the bytes written, 0 if out of range. */
#define DER_TIME_MAX 17
size_t der_put_time(unsigned char *p, int64_t t);
size_t der_put_generalized_time(unsigned char *p, int64_t t);

/* Civil date of t (proleptic Gregorian, UTC), no gmtime needed. */
struct der_civil {
    int64_t year;
    int month, day, hour, min, sec;
};
void der_civil_from_unix(struct der_civil *out, int64_t t);
/* Unix seconds of a civil date (no range checks on the fields). */
int64_t der_unix_from_civil(int64_t year, int month, int day, int hour, int min, int sec);

/* ---- PEM armour ---- */

/* Size of the PEM text (RFC 7468: "-----BEGIN label-----", base64 in lines
 * of 64 characters, "-----END label-----", each line ending in '\n') of a
 * DER object of derlen bytes. */
size_t der_pem_size(size_t derlen, const char *label);

/* Replaces the DER object at b->data[*off .. *off + *len) by its PEM text,
 * in place: the DER is moved to the end of a region of der_pem_size() bytes
 * at the start of b and encoded forward over itself (each 48-octet group is
 * read before its 65 output bytes can reach it), so the peak memory is the
 * PEM's size, not DER + PEM. Every other byte of b is discarded. On return
 * b->data[*off .. *off + *len) is the PEM text (*off is 0). */
cm_err der_pem_inplace(cm_buf *b, size_t *off, size_t *len, const char *label) CM_MUST_USE;

/* ---- Reader ---- */

struct der_tlv {
    unsigned tag;
    const unsigned char *v;     /* content, borrowed from the input */
    size_t len;                 /* content length */
    const unsigned char *start; /* first byte of the element (its tag) */
    size_t total;               /* header + content */
};

/* Takes the next element from [*p, end) and advances *p past it. Returns 0,
 * or -1 when the bytes are not DER: truncated, indefinite or non-minimal
 * length, high tag number, length past end. */
int der_next(struct der_tlv *out, const unsigned char **p, const unsigned char *end);

/* Parses a UTCTime or GeneralizedTime element in the DER form RFC 5280
 * requires (seconds, 'Z', no fraction) into unix seconds. Returns 0 or -1. */
int der_parse_time(int64_t *out, const struct der_tlv *t);

/* Value of a DER INTEGER/ENUMERATED content that fits in int64; -1 when it
 * does not (empty, non-minimal or longer than 8 octets). */
int der_parse_int64(int64_t *out, const unsigned char *v, size_t len);

#endif
