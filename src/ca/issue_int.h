/* Internal to src/ca: issuance helpers shared by issue.c, home.c and
 * recover.c. Not part of the public API. */
#ifndef CM_CA_ISSUE_INT_H
#define CM_CA_ISSUE_INT_H

#include "ca/ca.h"
#include "ca/csr.h"
#include "ca/profile.h"

/* A positive random serial of nbytes (9..20) from the CSPRNG. */
cm_err ca_random_serial(ASN1_INTEGER **out, size_t nbytes) CM_MUST_USE;
/* The serial number of nbytes (9-20) random bytes in buf (from the OS
 * CSPRNG via RAND_bytes; buf[0] is shaped in place). */
cm_err ca_serial_from_random(ASN1_INTEGER **out, unsigned char *buf, size_t nbytes) CM_MUST_USE;

/* Frees the per-CA cache of precomputed extensions (NULL-safe). */
void issue_cache_free(ca_ctx *ca);

/* Checks the request against the profile and signs a certificate. On a
 * policy refusal returns CM_ERR_POLICY (or CM_ERR_LINT) with the reason as
 * the message; the caller records the request as denied. */
cm_err issue_sign(X509 **out, ca_ctx *ca, const struct profile *p, const struct csr *c) CM_MUST_USE;
/* issue_sign, and *der (OPENSSL_malloc'ed, when der is not NULL) gets the
 * certificate's DER as it was signed (key_sign_cert_der): no second
 * encoding. */
cm_err issue_sign_der(X509 **out, unsigned char **der, size_t *der_len, ca_ctx *ca,
                      const struct profile *p, const struct csr *c) CM_MUST_USE;
/* issue_sign_der into a certificate object that ca's issuance cache keeps
 * and refills for each request (its version and issuer set once): *out is
 * borrowed, valid until the next issuance on ca or issue_cache_free, and
 * never to be freed or kept. Its users read its fields only: nothing may
 * call what fills OpenSSL's per-certificate caches (X509_check_purpose,
 * X509_get0_pubkey, X509_get_extension_flags and the like), which a
 * refilled object would answer from the first certificate. */
cm_err issue_sign_reuse(X509 **out, unsigned char **der, size_t *der_len, ca_ctx *ca,
                        const struct profile *p, const struct csr *c) CM_MUST_USE;

/* The checks of issue_sign that need no signature (key, subject name lint,
 * SANs, profile rules), for requests that will pend: a hostile request is
 * denied at submission, not left for an officer. Same results as
 * issue_sign's refusals. */
cm_err issue_check(ca_ctx *ca, const struct profile *p, const struct csr *c) CM_MUST_USE;

/* An issued certificate ready to be recorded: its DER and its descriptive
 * columns, computed before the transaction (in the signing workers of a
 * batch) so that the database writer only binds them. */
struct issue_ready {
    struct db_cert c;   /* described; c.raw and c.raw_len are der's */
    unsigned char *der; /* OPENSSL_malloc'ed */
    size_t der_len;
    /* Strict audit mode (audit.require_offbox): -1 until known, then
     * 0 or 1; a batch's writer reads the configuration once per group. */
    int strict;
};

/* Encodes and describes x into r (cleared first; issue_ready_clear frees). */
cm_err issue_ready_make(struct issue_ready *r, X509 *x) CM_MUST_USE;
/* The same with x's DER already made (issue_sign_der): r takes der
 * (OPENSSL_malloc'ed) whatever the result; NULL encodes x. */
cm_err issue_ready_make_der(struct issue_ready *r, X509 *x, unsigned char *der,
                            size_t der_len) CM_MUST_USE;
void issue_ready_clear(struct issue_ready *r);

/* issue_record for a certificate made ready: the rows only. The DER moves
 * to *der_out when given and the certificate is not withheld. */
cm_err issue_record_ready(ca_ctx *ca, int64_t request_id, const char *profile,
                          struct issue_ready *r, unsigned char **der_out, size_t *der_len,
                          char serial_out[CM_SERIAL_BUF], int origin,
                          const char *recovered_from) CM_MUST_USE;

/* Records an issued certificate (certificate row, CERTISSUED event, audit)
 * in the current transaction. */
cm_err issue_record(ca_ctx *ca, int64_t request_id, const char *profile, X509 *x,
                    unsigned char **der_out, size_t *der_len, char serial_out[CM_SERIAL_BUF],
                    int origin, const char *recovered_from) CM_MUST_USE;

#endif
