/* PKCS#10 (RFC 2986) certification requests, parsed for issuance.
 *
 * d2i_X509_REQ decodes the public key through libcrypto's generic decoder,
 * which costs more than verifying the signature. certmint walks the DER
 * itself, builds the public key directly from its parameters (an EC point is
 * set into a copy of its curve's key, made once per process), and keeps the
 * raw SubjectPublicKeyInfo parts so that the certificate gets the key bits
 * copied, not re-encoded. */
#ifndef CM_CA_CSR_H
#define CM_CA_CSR_H

#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct csr {
    X509_NAME *subject;              /* owned */
    STACK_OF(X509_EXTENSION) * exts; /* extensionRequest (RFC 2985 5.4.2), owned, may be NULL */
    EVP_PKEY *pkey;                  /* owned */
    X509_ALGOR *spki_alg;            /* SubjectPublicKeyInfo algorithm, owned */
    unsigned char *spki_bits;        /* subjectPublicKey bits, owned */
    int spki_bits_len;
    unsigned char *der; /* the whole request, DER, owned */
    size_t der_len;
};

/* Parses a PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER
 * request, and verifies its self-signature (RFC 2986 section 3: proof of
 * possession). `what` names the input in errors. Every failure is
 * CM_ERR_INVALID with one line saying what is wrong. */
cm_err csr_parse(struct csr **out, const unsigned char *data, size_t len,
                 const char *what) CM_MUST_USE;
void csr_free(struct csr *c);

/* Converts PEM to DER when data is PEM with the given label; otherwise
 * returns a copy marker: *der points into data when it is already DER.
 * *owned is set when *der must be freed. */
cm_err pem_to_der(unsigned char **der, size_t *der_len, int *owned, const unsigned char *data,
                  size_t len, const char *const *labels, const char *what) CM_MUST_USE;

#endif
