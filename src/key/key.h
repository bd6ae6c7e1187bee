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
 * process and reopen what does not survive fork, such as PKCS#11 sessions). */
#ifndef CM_KEY_KEY_H
#define CM_KEY_KEY_H

#include "key/keystore.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* Bumped when struct key_ops changes incompatibly; key_open() refuses a
 * backend built against another version. */
#define KEY_OPS_VERSION 2

/* Secrets a backend may need; none of them is ever taken from the command
 * line. */
struct key_open_opts {
    const char *passphrase_file; /* file backend: NULL = prompt on the terminal */
    int confirm;                 /* file backend, when creating: ask twice */
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

/* The backend's second key beside k (key_ops.open_aux); CM_ERR_UNSUPPORTED
 * when it keeps none. */
cm_err key_open_aux(cm_key **out, const cm_key *k, int fresh) CM_MUST_USE;

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
/* Signs a certification request (RFC 2986 4.2) likewise. */
cm_err key_sign_req(const cm_key *k, X509_REQ **req) CM_MUST_USE;

#endif
