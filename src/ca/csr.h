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
    EVP_PKEY *pkey;                  /* owned; NULL after csr_parse_scratch (csr_make_key) */
    X509_ALGOR *spki_alg;            /* SubjectPublicKeyInfo algorithm, owned */
    unsigned char *spki_bits;        /* subjectPublicKey bits, owned */
    int spki_bits_len;
    unsigned char *der; /* the whole request, DER, owned */
    size_t der_len;
    /* The key's type, curve and size, for the profile's checks and lint:
     * pkey, or after csr_parse_scratch the curve's prepared key (process-wide,
     * no public point: making each request's own key costs a key copy).
     * Borrowed; never NULL after parsing. Anything that reads the point
     * (EVP_PKEY_eq) calls csr_make_key and reads pkey. */
    const EVP_PKEY *kind;
};

/* Parses a PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER
 * request, and verifies its self-signature (RFC 2986 section 3: proof of
 * possession). `what` names the input in errors. Every failure is
 * CM_ERR_INVALID with one line saying what is wrong. */
cm_err csr_parse(struct csr **out, const unsigned char *data, size_t len,
                 const char *what) CM_MUST_USE;
void csr_free(struct csr *c);
/* Frees what parsing made of c (name, extensions, key, SubjectPublicKeyInfo)
 * and keeps only its DER and kind: what a decided request's rows need. A
 * batch's worker sheds each request it has decided, so that the single
 * writer thread frees only the DER (csr_free of a parsed P-256 request is
 * about 4,000 instructions, 6% of the writer thread's work). */
void csr_shed(struct csr *c);

/* Keys one thread reuses to check the signatures of a batch's requests
 * (csr_parse_scratch): one per curve, made on first use, each with its
 * verification set up once (EVP_PKEY_verify_init: the algorithm fetched,
 * the key handed to it), and one digest context with the digests fetched
 * once. Setting up EVP_DigestVerifyInit for every request cost about 8 us
 * of fetches, locks and allocations, which two threads contend for. Zero
 * it before use; csr_scratch_clear frees it. Never shared between threads. */
struct csr_scratch {
    EVP_PKEY *ec[3];         /* P-256, P-384, P-521 */
    EVP_PKEY_CTX *verify[3]; /* verification with ec[i] (it sees each new point) */
    EVP_MD_CTX *mctx;
    EVP_MD *md[3];       /* SHA-256, SHA-384, SHA-512 */
    unsigned char *file; /* the thread's request file buffer (request.c) */
};
void csr_scratch_clear(struct csr_scratch *s);

/* csr_parse for a batch: an EC request's signature is checked with the
 * scratch's key of its curve (the request's point set into it), and
 * c->pkey stays NULL until csr_make_key. A batch holds every parsed
 * request until all are verified; a key per request held that long cost
 * memory and time (bench/README.md). scratch NULL: csr_parse. */
cm_err csr_parse_scratch(struct csr **out, const unsigned char *data, size_t len, const char *what,
                         struct csr_scratch *scratch) CM_MUST_USE;

/* Makes c->pkey when csr_parse_scratch left it NULL (no-op otherwise). */
cm_err csr_make_key(struct csr *c) CM_MUST_USE;

/* Converts PEM to DER when data is PEM with the given label; otherwise
 * returns a copy marker: *der points into data when it is already DER.
 * *owned is set when *der must be freed. */
cm_err pem_to_der(unsigned char **der, size_t *der_len, int *owned, const unsigned char *data,
                  size_t len, const char *const *labels, const char *what) CM_MUST_USE;

#endif
