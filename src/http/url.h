/* Request-target parsing for the HTTP server (RFC 9112 3.2, RFC 3986):
 * strict, bounded, and the only place that decodes what a client put in a
 * URL. A libFuzzer target (fuzz/fuzz_http_url.c) runs it. */
#ifndef CM_HTTP_URL_H
#define CM_HTTP_URL_H

#include "util/err.h"

#include <stddef.h>

#define HTTP_PATH_MAX 2048

struct http_target {
    char path[HTTP_PATH_MAX];  /* percent-decoded, starts with '/' */
    char query[HTTP_PATH_MAX]; /* raw, without '?' ("" when none) */
};

/* Splits an origin-form request-target into its decoded path and raw query.
 * CM_ERR_INVALID for anything else: not starting with '/', longer than
 * HTTP_PATH_MAX, a bad or NUL %XX escape, a control character, a
 * backslash, an empty segment ("//"), or a "." or ".." segment before or
 * after decoding (no path ever climbs out of its folder). */
cm_err http_target_parse(struct http_target *t, const char *raw) CM_MUST_USE;

/* Percent-decodes n bytes of in into out (cap bytes); CM_ERR_INVALID on a
 * bad escape or when it does not fit. '+' stays '+' (a path, not a form). */
cm_err http_percent_decode(unsigned char *out, size_t cap, size_t *outlen, const char *in,
                           size_t n) CM_MUST_USE;

/* Decodes base64 (RFC 4648 4; padding optional, no whitespace); also takes
 * the URL-safe alphabet ('-', '_'), which some OCSP clients send.
 * CM_ERR_INVALID on a character outside it or when it does not fit. */
cm_err http_base64_decode(unsigned char *out, size_t cap, size_t *outlen, const char *in,
                          size_t n) CM_MUST_USE;

/* The OCSP request of a GET (RFC 6960 A.1: "GET {url}/{url-encoding of
 * base-64 encoding of the DER encoding of the OCSPRequest}"): rest is the
 * raw target after the responder's path and its '/'. */
cm_err http_ocsp_get_decode(unsigned char *out, size_t cap, size_t *outlen,
                            const char *rest) CM_MUST_USE;

#endif
