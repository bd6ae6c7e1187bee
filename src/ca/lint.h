/* Pre-issuance certificate lint: every to-be-signed certificate is checked
 * against a fixed table of rules before the CA key signs it; a failure
 * refuses the issuance and names the rule (the practice of Let's Encrypt's
 * Boulder and other CAs). The rules, with what they check and where the
 * requirement comes from (RFC 5280, CA/Browser Forum Baseline Requirements),
 * are listed in docs/lint.md and by lint_rule_at(). */
#ifndef CM_CA_LINT_H
#define CM_CA_LINT_H

#include "util/err.h"

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* What the caller means to issue. LINT_KIND_AUTO (0, so a zeroed struct is
 * fine) infers it: a CA when basicConstraints says cA TRUE or keyUsage has
 * keyCertSign, otherwise an end entity. */
enum lint_kind {
    LINT_KIND_AUTO = 0,
    LINT_KIND_EE,
    LINT_KIND_CA,
};

struct lint_opts {
    /* The key that will sign the certificate. NULL: the issuer certificate's
     * public key (the subject key when self-signed). When given, it must
     * match that key (rule sig_key). Borrowed. */
    const EVP_PKEY *issuer_key;
    /* The digest the signature will use ("SHA256", "SHA384", "SHA512"), or
     * NULL / "" for Ed25519, which hashes internally. */
    const char *md_name;
    enum lint_kind kind;
    /* The subject public key when the caller already holds it decoded (the
     * issuance path has it from the request): decoding tbs's key again
     * through libcrypto's generic decoder costs more than a signature. It
     * must be the key in tbs. NULL: decoded from tbs. Borrowed. */
    const EVP_PKEY *subject_key;
    /* The DER of tbs's TBSCertificate as it will be signed (key_cert_tbs),
     * when the caller has made it: the DER rules read each extension's
     * encoding there instead of encoding it again (i2d_X509_EXTENSION).
     * It must be tbs's. NULL: each extension is encoded. Borrowed. */
    const unsigned char *tbs_der;
    size_t tbs_der_len;
};
#define LINT_OPTS_INIT                                                                             \
    {                                                                                              \
        NULL, NULL, LINT_KIND_AUTO, NULL, NULL, 0                                                  \
    }

/* Checks tbs, a fully populated certificate that is not yet signed (its
 * signature algorithm may be unset; when set it is checked too). issuer is
 * the issuing CA's certificate, or NULL for a self-signed certificate.
 * Returns CM_OK, or CM_ERR_LINT with the message
 *   "lint: RULE: explanation"
 * naming the first failed rule, followed by "; also: RULE2, RULE3" when more
 * rules failed. Other codes (CM_ERR_NOMEM) for failures of the lint itself.
 * Runs every rule of the table in order. */
cm_err lint_cert(const X509 *tbs, const X509 *issuer, const struct lint_opts *o) CM_MUST_USE;

/* What the certificates of a batch share, remembered from one lint_cert_memo
 * call to the next by one thread: the extensions that passed the DER rules
 * (by their exact type, criticality and octets, with their decoded value),
 * the kinds of the keys, the issuer key found equal to the issuer
 * certificate's, the issuer's decoded subjectKeyIdentifier. Each is what the
 * rules would compute again from the same input, so the findings are the
 * same; the memo holds a reference on every key and certificate it keys
 * by. Not thread-safe: one per thread. */
struct lint_memo;
struct lint_memo *lint_memo_new(void);
void lint_memo_free(struct lint_memo *m);
/* lint_cert with a memo (NULL: lint_cert). */
cm_err lint_cert_memo(const X509 *tbs, const X509 *issuer, const struct lint_opts *o,
                      struct lint_memo *memo) CM_MUST_USE;

/* The rule table, for documentation and tests. */
struct lint_rule {
    const char *name; /* stable identifier, snake_case */
    const char *what; /* one line: what must hold */
    const char *cite; /* where it comes from: "RFC 5280 4.1.2.2", "CA/B BR 6.1.5" */
};
/* Number of rules, and rule i (0-based), or NULL when i is out of range. */
size_t lint_rule_count(void);
const struct lint_rule *lint_rule_at(size_t i);
/* The rule named name, or NULL. */
const struct lint_rule *lint_rule_find(const char *name);

#endif
