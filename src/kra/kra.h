/* Key archival primitives (issue 12; docs/key-archival.md): Shamir secret
 * sharing of a content key (libgfshare fed from the OS CSPRNG), CMS
 * enveloping (RFC 5652 / RFC 5083 AuthEnvelopedData with AES-256-GCM) to
 * agent and transport certificates, AES-256-GCM sealing of an archived key,
 * and the one record format of what the CA stores and hands to agents
 * (archive records, recovery request files, share files).
 *
 * No database and no policy: src/ca/kra.c decides who gets what and
 * stores it. Buffers returned through out pointers are the caller's
 * (OPENSSL_free for *_der / sealed bytes, kra_secret_free for secrets). */
#ifndef CM_KRA_KRA_H
#define CM_KRA_KRA_H

#include "key/key.h"
#include "util/buf.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define KRA_KEY_LEN 32   /* AES-256 content key = the shared secret */
#define KRA_SHARE_LEN 32 /* one share of it (same size as the secret) */
#define KRA_MAX_AGENTS 32
#define KRA_MAX_FILE (1024 * 1024) /* request and share files */

/* ---- Shamir M-of-N over GF(2^8) (libgfshare) ---- */

/* Splits secret (KRA_KEY_LEN bytes) into n shares, any m of which rebuild
 * it. Share i (0-based) has the x coordinate i + 1 (never 0: that point is
 * the secret) and is written to shares[i]. 1 <= m <= n <= KRA_MAX_AGENTS.
 * The polynomial's coefficients come from RAND_bytes. */
cm_err kra_split(unsigned char shares[][KRA_SHARE_LEN], const unsigned char *secret, unsigned n,
                 unsigned m) CM_MUST_USE;
/* Rebuilds the secret from k shares with x coordinates xs[] (distinct,
 * 1..255). With fewer than m shares the result is a different value: the
 * caller checks it (the sealed key's GCM tag does). */
cm_err kra_combine(unsigned char secret[KRA_KEY_LEN], const unsigned char *xs,
                   const unsigned char shares[][KRA_SHARE_LEN], unsigned k) CM_MUST_USE;

/* ---- AES-256-GCM sealing of an archived private key ---- */

/* out = iv(12) || ciphertext || tag(16), aad bound (the certificate serial:
 * a sealed key moved to another row does not open). */
cm_err kra_seal(unsigned char **out, size_t *outlen, const unsigned char key[KRA_KEY_LEN],
                const unsigned char *in, size_t inlen, const char *aad) CM_MUST_USE;
/* CM_ERR_CRYPTO "...does not open" when the key, aad or bytes differ. */
cm_err kra_unseal(unsigned char **out, size_t *outlen, const unsigned char key[KRA_KEY_LEN],
                  const unsigned char *in, size_t inlen, const char *aad) CM_MUST_USE;
/* Frees a secret buffer after wiping it. NULL-safe. */
void kra_secret_free(unsigned char *p, size_t len);

/* ---- CMS ---- */

/* Hands the bytes of a memory BIO to *out (allocated with OPENSSL_malloc,
 * NUL-terminated, the caller frees it) and wipes the BIO's copy: what
 * kra_open and kra_open_key decrypt. */
cm_err kra_bio_take(unsigned char **out, size_t *outlen, BIO *mem) CM_MUST_USE;

/* AuthEnvelopedData (RFC 5083, AES-256-GCM) of data to the certificates
 * recips (RSA: key transport, EC: key agreement), DER. */
cm_err kra_envelope(unsigned char **der, size_t *derlen, const unsigned char *data, size_t len,
                    STACK_OF(X509) * recips) CM_MUST_USE;
cm_err kra_envelope_one(unsigned char **der, size_t *derlen, const unsigned char *data, size_t len,
                        X509 *recip) CM_MUST_USE;
/* Opens EnvelopedData or AuthEnvelopedData (DER, or PEM "CMS"/"PKCS7")
 * with the recipient's certificate and key. what names the input in
 * errors. A tampered envelope is CM_ERR_CRYPTO. */
cm_err kra_open(unsigned char **out, size_t *outlen, const unsigned char *der, size_t derlen,
                X509 *cert, EVP_PKEY *key, const char *what) CM_MUST_USE;

/* The same with a key behind the key ops (key/key.h: a file, a PKCS#11
 * token, the key process), RSA: the KeyTransRecipientInfo naming cert is
 * decrypted with key_decrypt (PKCS#1 v1.5 or OAEP, RFC 5652 6.2.1) and the
 * content opened with that content key (cms_key.c). A wrong recipient, a
 * wrong padding and a changed envelope all fail as "does not open"
 * (CM_ERR_CRYPTO); an EC key is CM_ERR_UNSUPPORTED. */
cm_err kra_open_key(unsigned char **out, size_t *outlen, const unsigned char *der, size_t derlen,
                    X509 *cert, const cm_key *key, const char *what) CM_MUST_USE;
/* DER, or PEM "CMS"/"PKCS7", at most KRA_MAX_FILE bytes; what names it. */
cm_err kra_cms_parse(CMS_ContentInfo **out, const unsigned char *der, size_t len,
                     const char *what) CM_MUST_USE;

/* ---- the record format ----
 * Text, one "key: value" per line after a first line naming the kind
 * ("certmint-kra-request 1"): binary values are hex. At most KRA_REC_MAX
 * fields, each value at most KRA_MAX_FILE bytes; keys [a-z0-9.-]. */
#define KRA_REC_MAX 96
struct kra_field {
    char key[32];
    char *value;
};
struct kra_rec {
    char kind[48];
    struct kra_field f[KRA_REC_MAX];
    size_t n;
};
/* A file of several records (a re-wrap request, an agent's shares of
 * one): the length of the first record of data, up to the next line that
 * names a kind ("certmint-..." without a colon), or len. */
size_t kra_rec_next(const unsigned char *data, size_t len);
#define KRA_MAX_BATCH_FILE (64 * 1024 * 1024) /* a re-wrap request or share file */
#define KRA_REWRAP_MAX 1000                   /* archived keys per re-wrap request */
/* Parses data (need not be NUL-terminated); errors name what. */
cm_err kra_rec_parse(struct kra_rec *out, const unsigned char *data, size_t len,
                     const char *what) CM_MUST_USE;
void kra_rec_clear(struct kra_rec *r);
/* The first value of key, NULL if absent. */
const char *kra_rec_get(const struct kra_rec *r, const char *key);
/* The i-th value of key (0-based), NULL past the last. */
const char *kra_rec_get_nth(const struct kra_rec *r, const char *key, size_t i);
/* Required fields: a clear error "what: no 'key'" / "what: 'key' is not ...". */
cm_err kra_rec_str(const char **out, const struct kra_rec *r, const char *key,
                   const char *what) CM_MUST_USE;
cm_err kra_rec_int(long long *out, const struct kra_rec *r, const char *key, long long lo,
                   long long hi, const char *what) CM_MUST_USE;
/* Hex value decoded into a malloc'ed buffer (max bytes at most). */
cm_err kra_rec_hex(unsigned char **out, size_t *len, const char *value, size_t max, const char *key,
                   const char *what) CM_MUST_USE;
/* Writers: append to a NUL-terminated text buffer (see util/buf.h). */
cm_err kra_rec_begin(cm_buf *b, const char *kind) CM_MUST_USE;
cm_err kra_rec_put(cm_buf *b, const char *key, const char *value) CM_MUST_USE;
cm_err kra_rec_put_int(cm_buf *b, const char *key, long long v) CM_MUST_USE;
cm_err kra_rec_put_hex(cm_buf *b, const char *key, const unsigned char *p, size_t n) CM_MUST_USE;

/* SHA-256 of der, lower-case hex (64 + NUL): an agent's or a certificate's ID. */
cm_err kra_fingerprint(char out[65], const unsigned char *der, size_t len) CM_MUST_USE;

/* ---- the agent's side (release.c), needs no CA home ---- */

/* What a recovery request file says (for the agent to read first). */
struct kra_request_info {
    int rewrap; /* a re-wrap request: serial holds the number of keys */
    char request[40];
    char serial[48];
    char subject[512];
    char reason[512];
    long long threshold;
};
/* Parses a request file (a recovery or a re-wrap request: its first
 * record) and fills info (info may be NULL): a clear error naming what for
 * anything malformed. */
cm_err kra_request_info(struct kra_request_info *info, const unsigned char *req, size_t len,
                        const char *what) CM_MUST_USE;
/* Opens the share of the request file req addressed to agent_cert (with
 * agent_key, which never leaves this process) and writes a share file
 * (*out, malloc'ed text): the share, bound to the request, the serial and
 * the agent, enveloped to the request's one-time transport certificate.
 * An agent not named in the request is CM_ERR_NOTFOUND. A re-wrap request
 * (several keys) gives one share record for each key the agent holds a
 * share of, all in *out. */
cm_err kra_release_share(unsigned char **out, size_t *outlen, const unsigned char *req, size_t len,
                         const char *what, X509 *agent_cert, EVP_PKEY *agent_key) CM_MUST_USE;
/* The released share inside a share file's envelope, as the CA checks it. */
struct kra_released {
    char request[40];
    char serial[48];
    char agent[65];
    unsigned char x;
    unsigned char share[KRA_SHARE_LEN];
};
cm_err kra_released_parse(struct kra_released *out, const unsigned char *plain, size_t len,
                          const char *what) CM_MUST_USE;

/* Loads an agent's key (PEM or DER PKCS#8 / traditional; encrypted PEM
 * with the passphrase of pass_file, else it must be unencrypted) and
 * certificate, and checks that they belong together. */
cm_err kra_agent_load(EVP_PKEY **key, X509 **cert, const char *key_path, const char *cert_path,
                      const char *pass_file) CM_MUST_USE;

#endif
