/* The CA's signing key behind an ops table.
 *
 * A key is named by a reference: a path (the encrypted PKCS#8 file of
 * src/key/file.c) or a URI whose scheme picks a backend ("pkcs11:", RFC 7512,
 * src/key/pkcs11.c). The registry in key.c holds one row per backend: a new
 * backend is one new file plus one row there.
 *
 * Every signature the CA makes (certificates, its own request and root,
 * CRLs) goes through key_sign() over the to-be-signed bytes. The signature
 * algorithm follows the key and never changes for it:
 *   EC P-256 ecdsa-with-SHA256, P-384 ecdsa-with-SHA384, P-521
 *   ecdsa-with-SHA512 (RFC 5758 3.2); RSA sha256WithRSAEncryption, PKCS#1
 *   v1.5 (RFC 4055 5); Ed25519 (RFC 8410 3).
 *
 * Threads and fork: a key handle may be used from several threads at once
 * (backends keep per-thread state as they need: PKCS#11 a session per
 * concurrent signer), and in a child after fork (backends notice the new
 * process and reopen what does not survive fork, such as PKCS#11 sessions).
 * A handle from key_worker_open is the exception: one thread's own. */
#ifndef CM_KEY_KEY_H
#define CM_KEY_KEY_H

#include "key/keystore.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* Bumped when struct key_ops changes incompatibly; key_open() refuses a
 * backend built against another version. */
#define KEY_OPS_VERSION 4

/* Secrets a backend may need; none of them is ever taken from the command
 * line. */
struct key_open_opts {
    const char *passphrase_file; /* file backend: NULL = prompt on the terminal */
    int confirm;                 /* file backend, when creating: ask twice */
    /* When creating: a key-transport key (the CA's archival transport key):
     * PKCS#11 CKA_DECRYPT true, CKA_SIGN false (RSA only). 0: a signing key
     * (CKA_SIGN true, CKA_DECRYPT false). The file backend ignores it. */
    int decrypt_key;
};

/* Hashes of RSAES-OAEP (RFC 8017 7.1; RFC 4055 4.1 names them in CMS). */
enum key_hash { KEY_HASH_SHA1 = 1, KEY_HASH_SHA256, KEY_HASH_SHA384, KEY_HASH_SHA512 };

/* How the block to decrypt was padded: RSAES-PKCS1-v1_5 (RFC 8017 7.2) or
 * RSAES-OAEP with these hashes and an empty label (7.1), the two kinds a
 * CMS KeyTransRecipientInfo carries (RFC 5652 6.2.1, RFC 3560). */
struct key_decrypt_params {
    int oaep;              /* 0: PKCS#1 v1.5 */
    enum key_hash oaep_md; /* OAEP: the label hash */
    enum key_hash mgf1_md; /* OAEP: MGF1's hash */
};

struct key_ops {
    unsigned version; /* KEY_OPS_VERSION, first so that it can be checked */
    const char *name; /* "file", "pkcs11" */
    /* 1 when the backend handles this reference. */
    int (*claims)(const char *ref);
    /* Opens an existing key. */
    cm_err (*open)(void **state, const char *ref, const struct key_open_opts *o);
    /* Creates the key (or, where the backend allows, takes an existing one:
     * *created says which). */
    cm_err (*create)(void **state, int *created, const char *ref, const struct key_spec *spec,
                     const struct key_open_opts *o);
    /* Signs the n bytes at data with the key's algorithm (above), the result
     * in X.509's form (DER ECDSA-Sig-Value, PKCS#1 v1.5 block, raw Ed25519),
     * malloc'ed. Thread-safe; fork-safe. */
    cm_err (*sign)(void *state, unsigned char **sig, size_t *siglen, const char *md,
                   const unsigned char *data, size_t n);
    /* The public key (borrowed; lives as long as the state). */
    EVP_PKEY *(*public_key)(void *state);
    /* One line for people (no secret): "encrypted file private/ca.key". */
    void (*describe)(void *state, char *buf, size_t bufsz);
    void (*close)(void *state);
    /* A second key kept beside this one by the same process, EC P-256, for
     * the delegated OCSP responder: fresh 0 opens the one stored, 1 makes
     * and stores a new one. NULL when the backend keeps none (the caller
     * then keeps such a key itself). keyproc: the key process. */
    cm_err (*open_aux)(void **state, void *parent, int fresh);
    /* Decrypts one RSA block (an encryptedKey of RFC 5652 6.2.1) with the
     * private key: *out malloc'ed, a secret (the caller wipes it). A key
     * that cannot decrypt (EC, Ed25519; a CA key in a token, CKA_DECRYPT
     * false) is CM_ERR_UNSUPPORTED; a block that does not decrypt (wrong
     * key, wrong padding) CM_ERR_CRYPTO. Thread-safe; fork-safe. */
    cm_err (*decrypt)(void *state, unsigned char **out, size_t *outlen,
                      const struct key_decrypt_params *dp, const unsigned char *in, size_t n);
    /* Optional (all three NULL: every signature goes through sign). A
     * signer is one thread's reusable signing state for the key: set up
     * once (the algorithm fetched, the private-key operation initialised)
     * so that each signature is only the hash and the private-key step.
     * signer_new may set *signer to NULL for a key it has no fast path for
     * (the caller then uses sign). A signer is never used by two threads
     * at once, lives no longer than state, and signs exactly as sign does
     * (same algorithm, same output form). */
    cm_err (*signer_new)(void **signer, void *state);
    cm_err (*signer_sign)(void *signer, unsigned char **sig, size_t *siglen,
                          const unsigned char *data, size_t n);
    void (*signer_free)(void *signer);
};

typedef struct cm_key cm_key;

/* Opens the key a reference names. */
cm_err key_open(cm_key **out, const char *ref, const struct key_open_opts *o) CM_MUST_USE;
/* Creates a key for a new CA (init). */
cm_err key_create(cm_key **out, int *created, const char *ref, const struct key_spec *spec,
                  const struct key_open_opts *o) CM_MUST_USE;
/* Wraps a key already in memory (tests, tools): the file backend without a
 * file. Takes a reference on k. */
cm_err key_from_pkey(cm_key **out, EVP_PKEY *k) CM_MUST_USE;
void key_close(cm_key *k);

/* A handle of k for one thread (a batch worker): the same key, public key
 * and algorithm, whose signatures reuse the backend's signer
 * (key_ops.signer_new) instead of setting up an operation per signature.
 * Backends without one sign through k as before. Not thread-safe; closed
 * with key_close (which leaves k open) before k is. */
cm_err key_worker_open(cm_key **out, const cm_key *k) CM_MUST_USE;

/* The backend's second key beside k (key_ops.open_aux); CM_ERR_UNSUPPORTED
 * when it keeps none. fresh KEY_AUX_TRANSPORT: the CA's key-transport key
 * as the key process holds it (keyproc only). */
#define KEY_AUX_TRANSPORT 2
cm_err key_open_aux(cm_key **out, const cm_key *k, int fresh) CM_MUST_USE;

/* The reference of a key of its own beside the key ref names, in the same
 * token: ref's object label with suffix appended, without ref's id (a
 * PKCS#11 URI, RFC 7512 2.3). CM_ERR_UNSUPPORTED for a file. */
cm_err key_ref_sibling(char *out, size_t outsz, const char *ref, const char *suffix) CM_MUST_USE;

/* 1 when ref names a key outside a file (a URI of a registered scheme). */
int key_ref_is_uri(const char *ref);

EVP_PKEY *key_public(const cm_key *k);
const char *key_backend(const cm_key *k);
void key_describe(const cm_key *k, char *buf, size_t bufsz);
/* The signature's AlgorithmIdentifier, whole DER (static storage). */
cm_err key_sigalg_der(const unsigned char **der, size_t *len, const cm_key *k) CM_MUST_USE;

/* Signs data (see key_ops.sign); *sig malloc'ed. */
cm_err key_sign(const cm_key *k, unsigned char **sig, size_t *siglen, const unsigned char *data,
                size_t n) CM_MUST_USE;
/* Signs a certificate: sets its signature algorithm, signs the TBS
 * encoding and replaces *x by the signed certificate. */
cm_err key_sign_cert(const cm_key *k, X509 **x) CM_MUST_USE;
/* The same, and *der (OPENSSL_malloc'ed) gets the signed certificate's DER, as
 * i2d_X509() of the new *x would write it, without encoding it again. */
cm_err key_sign_cert_der(const cm_key *k, X509 **x, unsigned char **der,
                         size_t *der_len) CM_MUST_USE;
/* key_sign_cert_der in two steps, so that the TBSCertificate can be checked
 * (lint_opts.tbs_der) before it is signed: key_cert_tbs sets x's signature
 * algorithm and encodes its TBSCertificate into *tbs (malloc'ed);
 * key_sign_tbs_der signs those octets, which must be x's, sets the
 * signature into x and, der not NULL, makes *der (OPENSSL_malloc'ed). */
cm_err key_cert_tbs(unsigned char **tbs, size_t *tbs_len, const cm_key *k, X509 *x) CM_MUST_USE;
cm_err key_sign_tbs_der(const cm_key *k, X509 *x, const unsigned char *tbs, size_t tbs_len,
                        unsigned char **der, size_t *der_len) CM_MUST_USE;
/* Decrypts with the key (key_ops.decrypt); *out malloc'ed, a secret: the
 * caller wipes it (OPENSSL_cleanse) before free(). */
cm_err key_decrypt(const cm_key *k, unsigned char **out, size_t *outlen,
                   const struct key_decrypt_params *dp, const unsigned char *in,
                   size_t n) CM_MUST_USE;
/* OpenSSL's name of h ("SHA256"), NULL for none. */
const char *key_hash_name(enum key_hash h);
/* Signs a certification request (RFC 2986 4.2) likewise. */
cm_err key_sign_req(const cm_key *k, X509_REQ **req) CM_MUST_USE;

#endif
