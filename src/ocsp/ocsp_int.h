/* Internals of src/ocsp shared by its files. */
#ifndef CM_OCSP_OCSP_INT_H
#define CM_OCSP_OCSP_INT_H

#include "ocsp/ocsp.h"

#include "key/key.h"

/* Who signs: the key (delegated responder key or the CA's), the SHA-1 of
 * its public key (the responderID byKey) and, for a delegated responder,
 * its certificate, sent along in every response (RFC 6960 4.2.2.2). */
struct ocsp_signer {
    cm_key *key;
    unsigned char key_hash[20];
    unsigned char *cert_der; /* NULL with the CA key */
    size_t cert_der_len;
};

/* One SingleResponse to make. */
struct ocsp_single {
    const unsigned char *certid; /* the CertID DER */
    size_t certid_len;
    int status;       /* enum ocsp_cert_status */
    int reason;       /* CRLReason; <= 0: left out */
    int64_t rev_time; /* revocationTime */
};

struct ocsp_sign_in {
    const struct ocsp_single *singles;
    size_t n;
    int64_t now, validity;
    const unsigned char *nonce; /* extnValue octets to echo, NULL: none */
    size_t nonce_len;
    int extended_revoke;
};

cm_err ocsp_sign_response(unsigned char **der, size_t *len, const struct ocsp_signer *sg,
                          const struct ocsp_sign_in *in) CM_MUST_USE;
cm_err ocsp_error_response(unsigned char **der, size_t *len, int status) CM_MUST_USE;

/* responder_cert.c: the delegated responder pair, loaded or issued (force:
 * always a new one). */
cm_err ocsp_responder_obtain(X509 **x, cm_key **k, ca_ctx *ca, int64_t days,
                             int force) CM_MUST_USE;
int64_t ocsp_cert_not_after(X509 *x);

#endif
