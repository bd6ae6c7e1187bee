/* The key registry and the signing of X.509 structures through it. */
#include "key/key.h"

#include "key/tbs.h"
#include "util/der.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const struct key_ops key_ops_pkcs11;
extern const struct key_ops key_ops_file;
extern const struct key_ops key_ops_keyproc;

/* One row per backend, the most specific first: the file backend claims
 * every reference that no URI backend claims. keyproc: the key process of
 * certmint serve (keyproc.h). */
static const struct key_ops *const backends[] = {&key_ops_keyproc, &key_ops_pkcs11, &key_ops_file};

/* AlgorithmIdentifier of each signature algorithm, whole DER. */
struct sigalg {
    const char *md; /* NULL: the algorithm hashes itself (Ed25519) */
    const unsigned char *der;
    size_t len;
};
/* RFC 5758 3.2: ecdsa-with-SHA256/384/512, parameters absent. */
static const unsigned char alg_ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char alg_ecdsa_sha384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const unsigned char alg_ecdsa_sha512[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
/* RFC 4055 5: sha256WithRSAEncryption, parameters NULL. */
static const unsigned char alg_rsa_sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                               0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
/* RFC 8410 3: id-Ed25519, parameters absent. */
static const unsigned char alg_ed25519[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};

static const struct sigalg sigalgs[] = {
    {"SHA256", alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256)},
    {"SHA384", alg_ecdsa_sha384, sizeof(alg_ecdsa_sha384)},
    {"SHA512", alg_ecdsa_sha512, sizeof(alg_ecdsa_sha512)},
    {"SHA256", alg_rsa_sha256, sizeof(alg_rsa_sha256)},
    {NULL, alg_ed25519, sizeof(alg_ed25519)},
};

struct cm_key {
    const struct key_ops *ops;
    void *state;
    EVP_PKEY *pub; /* borrowed from the backend */
    const struct sigalg *sa;
    X509_ALGOR *alg; /* sa->der decoded once, for the certificates signed */
    /* key_worker_open: parent is the key whose state, pub and alg this
     * handle borrows; signer its own (NULL: sign through state). */
    const cm_key *parent;
    void *signer;
};

/* The algorithm follows the key: the hash matches the curve's strength for
 * ECDSA (RFC 5480 4), SHA-256 for RSA. */
static cm_err sigalg_for(const struct sigalg **out, EVP_PKEY *pub)
{
    struct key_spec s;

    key_spec_of(&s, pub);
    switch (s.kind) {
    case KEY_EC_P256:
        *out = &sigalgs[0];
        return CM_OK;
    case KEY_EC_P384:
        *out = &sigalgs[1];
        return CM_OK;
    case KEY_EC_P521:
        *out = &sigalgs[2];
        return CM_OK;
    case KEY_RSA:
        *out = &sigalgs[3];
        return CM_OK;
    case KEY_ED25519:
        *out = &sigalgs[4];
        return CM_OK;
    default:
        return cm_err_set(CM_ERR_UNSUPPORTED, "CA key: unsupported key type %s",
                          EVP_PKEY_get0_type_name(pub));
    }
}

static const struct key_ops *backend_for(const char *ref)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (backends[i]->claims(ref))
            return backends[i];
    return NULL;
}

int key_ref_is_uri(const char *ref)
{
    const struct key_ops *ops = backend_for(ref);
    /* A key process reference names descriptors of a running serve, never
     * a key a CA home may point to (private/ca.key.uri). */
    return ops != NULL && ops != &key_ops_file && ops != &key_ops_keyproc;
}

/* Path attributes are ';'-separated up to '?' (RFC 7512 2.3): each kept
 * but id (the sibling has none) and object (its value gets the suffix). */
cm_err key_ref_sibling(char *out, size_t outsz, const char *ref, const char *suffix)
{
    const char *q, *p, *end;
    size_t off = 0;
    int has_object = 0, sep = 0;

    if (backend_for(ref) != &key_ops_pkcs11)
        return cm_err_set(CM_ERR_UNSUPPORTED, "%s: not a PKCS#11 URI", ref);
    q = strchr(ref, '?');
    end = q != NULL ? q : ref + strlen(ref);
    p = ref + strlen("pkcs11:");
    off = (size_t)snprintf(out, outsz, "%.*s", (int)(p - ref), ref);
    while (p < end && off < outsz) {
        const char *e = memchr(p, ';', (size_t)(end - p));
        size_t n = (size_t)((e != NULL ? e : end) - p);
        int is_object = n >= 7 && strncasecmp(p, "object=", 7) == 0;
        if (n > 0 && !(n >= 3 && strncasecmp(p, "id=", 3) == 0)) {
            off += (size_t)snprintf(out + off, outsz - off, "%s%.*s%s", sep ? ";" : "", (int)n, p,
                                    is_object ? suffix : "");
            sep = 1;
            has_object |= is_object;
        }
        p += n + (e != NULL);
    }
    if (!has_object && off < outsz)
        off +=
            (size_t)snprintf(out + off, outsz - off, "%sobject=certmint%s", sep ? ";" : "", suffix);
    if (q != NULL && off < outsz)
        off += (size_t)snprintf(out + off, outsz - off, "%s", q);
    if (off >= outsz)
        return cm_err_set(CM_ERR_INVALID, "%s: the URI is too long", ref);
    return CM_OK;
}

/* Wraps an opened backend state; closes it on failure. */
static cm_err key_wrap(cm_key **out, const struct key_ops *ops, void *state)
{
    cm_err rc = CM_OK;
    cm_key *k = calloc(1, sizeof(*k));

    if (k == NULL) {
        ops->close(state);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    k->ops = ops;
    k->state = state;
    k->pub = ops->public_key(state);
    if (k->pub == NULL)
        CM_FAIL(CM_ERR_CRYPTO, "CA key: the %s backend gave no public key", ops->name);
    CM_TRY(sigalg_for(&k->sa, k->pub));
    {
        const unsigned char *p = k->sa->der;
        k->alg = d2i_X509_ALGOR(NULL, &p, (long)k->sa->len);
        CM_NOMEM_IF(k->alg == NULL);
    }
    *out = k;
    k = NULL;
out:
    key_close(k);
    return rc;
}

static cm_err backend_check(const struct key_ops **out, const char *ref)
{
    *out = backend_for(ref);
    if (*out == NULL)
        return cm_err_set(CM_ERR_INVALID, "%s: no key backend takes this reference", ref);
    /* A backend built against another table layout would be called
     * through the wrong pointers. */
    if ((*out)->version != KEY_OPS_VERSION)
        return cm_err_set(CM_ERR_INVALID, "key backend %s has ops version %u, expected %u",
                          (*out)->name, (*out)->version, KEY_OPS_VERSION);
    return CM_OK;
}

cm_err key_open(cm_key **out, const char *ref, const struct key_open_opts *o)
{
    const struct key_ops *ops = NULL;
    void *state = NULL;
    cm_err rc;

    *out = NULL;
    if ((rc = backend_check(&ops, ref)) != CM_OK || (rc = ops->open(&state, ref, o)) != CM_OK)
        return rc;
    return key_wrap(out, ops, state);
}

cm_err key_create(cm_key **out, int *created, const char *ref, const struct key_spec *spec,
                  const struct key_open_opts *o)
{
    const struct key_ops *ops = NULL;
    void *state = NULL;
    cm_err rc;

    *out = NULL;
    *created = 0;
    if ((rc = backend_check(&ops, ref)) != CM_OK ||
        (rc = ops->create(&state, created, ref, spec, o)) != CM_OK)
        return rc;
    return key_wrap(out, ops, state);
}

/* file.c: wraps an EVP_PKEY in the file backend's state. */
cm_err key_file_state_from_pkey(void **state, EVP_PKEY *k);

cm_err key_from_pkey(cm_key **out, EVP_PKEY *k)
{
    void *state = NULL;
    cm_err rc;

    *out = NULL;
    if ((rc = key_file_state_from_pkey(&state, k)) != CM_OK)
        return rc;
    return key_wrap(out, &key_ops_file, state);
}

cm_err key_open_aux(cm_key **out, const cm_key *k, int fresh)
{
    void *state = NULL;
    cm_err rc;

    *out = NULL;
    if (k->ops->open_aux == NULL)
        return cm_err_set(CM_ERR_UNSUPPORTED, "the %s key backend keeps no second key",
                          k->ops->name);
    if ((rc = k->ops->open_aux(&state, k->state, fresh)) != CM_OK)
        return rc;
    return key_wrap(out, k->ops, state);
}

cm_err key_worker_open(cm_key **out, const cm_key *k)
{
    cm_err rc = CM_OK;
    cm_key *w = NULL;

    *out = NULL;
    w = calloc(1, sizeof(*w));
    CM_NOMEM_IF(w == NULL);
    *w = *k;
    w->parent = k->parent != NULL ? k->parent : k;
    w->signer = NULL;
    if (k->ops->signer_new != NULL)
        CM_TRY(k->ops->signer_new(&w->signer, k->state));
    *out = w;
    w = NULL;
out:
    free(w);
    return rc;
}

void key_close(cm_key *k)
{
    if (k == NULL)
        return;
    if (k->parent != NULL) {
        /* A worker's handle: only its signer is its own. */
        if (k->signer != NULL)
            k->ops->signer_free(k->signer);
        free(k);
        return;
    }
    if (k->state != NULL)
        k->ops->close(k->state);
    X509_ALGOR_free(k->alg);
    free(k);
}

EVP_PKEY *key_public(const cm_key *k)
{
    return k->pub;
}

const char *key_backend(const cm_key *k)
{
    return k->ops->name;
}

void key_describe(const cm_key *k, char *buf, size_t bufsz)
{
    k->ops->describe(k->state, buf, bufsz);
}

cm_err key_sigalg_der(const unsigned char **der, size_t *len, const cm_key *k)
{
    *der = k->sa->der;
    *len = k->sa->len;
    return CM_OK;
}

cm_err key_sign(const cm_key *k, unsigned char **sig, size_t *siglen, const unsigned char *data,
                size_t n)
{
    *sig = NULL;
    *siglen = 0;
    if (k->signer != NULL)
        return k->ops->signer_sign(k->signer, sig, siglen, data, n);
    return k->ops->sign(k->state, sig, siglen, k->sa->md, data, n);
}

const char *key_hash_name(enum key_hash h)
{
    switch (h) {
    case KEY_HASH_SHA1:
        return "SHA1";
    case KEY_HASH_SHA256:
        return "SHA256";
    case KEY_HASH_SHA384:
        return "SHA384";
    case KEY_HASH_SHA512:
        return "SHA512";
    }
    return NULL;
}

cm_err key_decrypt(const cm_key *k, unsigned char **out, size_t *outlen,
                   const struct key_decrypt_params *dp, const unsigned char *in, size_t n)
{
    *out = NULL;
    *outlen = 0;
    if (dp->oaep && (key_hash_name(dp->oaep_md) == NULL || key_hash_name(dp->mgf1_md) == NULL))
        return cm_err_set(CM_ERR_INVALID, "RSAES-OAEP: unknown hash");
    if (k->ops->decrypt == NULL)
        return cm_err_set(CM_ERR_UNSUPPORTED, "the %s key backend cannot decrypt", k->ops->name);
    return k->ops->decrypt(k->state, out, outlen, dp, in, n);
}

/* The whole signed structure (RFC 5280 4.1.1, RFC 2986 4.2): SEQUENCE {
 * tbs, AlgorithmIdentifier, BIT STRING sig }: its size, then its bytes
 * written into p (wrap_size bytes). */
static size_t wrap_size(const cm_key *k, size_t tbslen, size_t siglen)
{
    return der_tlv_size(tbslen + k->sa->len + der_tlv_size(siglen + 1));
}

static void wrap_put(unsigned char *p, const cm_key *k, const unsigned char *tbs, size_t tbslen,
                     const unsigned char *sig, size_t siglen)
{
    p += der_put_header(p, DER_SEQUENCE, tbslen + k->sa->len + der_tlv_size(siglen + 1));
    memcpy(p, tbs, tbslen);
    p += tbslen;
    memcpy(p, k->sa->der, k->sa->len);
    p += k->sa->len;
    p += der_put_header(p, DER_BIT_STRING, siglen + 1);
    *p++ = 0; /* no unused bits: a signature is whole octets (RFC 5280 4.1.1.3) */
    memcpy(p, sig, siglen);
}

/* Signs tbs and returns the whole signed structure; *der malloc'ed. */
static cm_err sign_wrap(unsigned char **der, size_t *derlen, const cm_key *k,
                        const unsigned char *tbs, size_t tbslen)
{
    cm_err rc = CM_OK;
    unsigned char *sig = NULL;
    size_t siglen = 0;

    *der = NULL;
    CM_TRY(key_sign(k, &sig, &siglen, tbs, tbslen));
    *derlen = wrap_size(k, tbslen, siglen);
    *der = malloc(*derlen);
    CM_NOMEM_IF(*der == NULL);
    wrap_put(*der, k, tbs, tbslen, sig, siglen);
out:
    free(sig);
    return rc;
}

cm_err key_sign_cert(const cm_key *k, X509 **x)
{
    return key_sign_cert_der(k, x, NULL, NULL);
}

/* The signature into x as X509_sign() puts it there (signatureAlgorithm
 * and signatureValue through the pointers it writes through; the
 * TBSCertificate keeps the encoding just signed). Decoding the signed DER
 * instead would decode the subject's public key again: OpenSSL 3.0 builds
 * a decoder chain for every key it decodes, which doubled the CPU per
 * issued certificate (bench/README.md). */
static cm_err cert_set_signature(X509 *x, const X509_ALGOR *alg, const unsigned char *sig,
                                 size_t siglen)
{
    cm_err rc = CM_OK;
    const ASN1_BIT_STRING *csig = NULL;
    const X509_ALGOR *calg = NULL;
    ASN1_BIT_STRING *bs;

    X509_get0_signature(&csig, &calg, x);
    if (!X509_ALGOR_copy((X509_ALGOR *)calg, alg))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot set the signature algorithm");
    bs = (ASN1_BIT_STRING *)csig;
    if (siglen > INT_MAX || !ASN1_BIT_STRING_set(bs, (unsigned char *)sig, (int)siglen))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot set the signature");
    /* A signature is whole octets: no unused bits (RFC 5280 4.1.1.3). */
    bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
    bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
out:
    return rc;
}

/* x's TBSCertificate into b: tbs_encode, or libcrypto's encoder for what
 * tbs_encode does not take as it is. */
static cm_err cert_tbs(cm_buf *b, const cm_key *k, X509 *x)
{
    unsigned char *tbs = NULL;
    int tbslen;
    cm_err rc = tbs_encode(b, x, k->sa->der, k->sa->len);

    if (rc != CM_ERR_UNSUPPORTED)
        return rc;
    tbslen = i2d_re_X509_tbs(x, &tbs);
    if (tbslen <= 0)
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot encode the certificate to sign");
    rc = buf_append(b, tbs, (size_t)tbslen);
    OPENSSL_free(tbs);
    return rc;
}

cm_err key_cert_tbs(unsigned char **tbs, size_t *tbs_len, const cm_key *k, X509 *x)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(DER_LEN_MAX);

    *tbs = NULL;
    *tbs_len = 0;
    /* The TBSCertificate names the algorithm too (RFC 5280 4.1.2.3), and
     * OpenSSL has no setter for it: X509_sign() writes through this same
     * pointer. */
    if (!X509_ALGOR_copy((X509_ALGOR *)X509_get0_tbs_sigalg(x), k->alg))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot set the signature algorithm");
    CM_TRY(cert_tbs(&b, k, x));
    *tbs_len = b.len;
    *tbs = buf_steal(&b, NULL);
out:
    buf_free(&b);
    return rc;
}

cm_err key_sign_tbs_der(const cm_key *k, X509 *x, const unsigned char *tbs, size_t tbs_len,
                        unsigned char **der, size_t *der_len)
{
    cm_err rc = CM_OK;
    unsigned char *sig = NULL;
    size_t siglen = 0;

    if (der != NULL)
        *der = NULL;
    CM_TRY(key_sign(k, &sig, &siglen, tbs, tbs_len));
    CM_TRY(cert_set_signature(x, k->alg, sig, siglen));
    /* The encoding just signed, wrapped: i2d_X509() would encode the
     * whole TBSCertificate again (OpenSSL keeps no encoding of a
     * certificate it built). */
    if (der != NULL) {
        *der_len = wrap_size(k, tbs_len, siglen);
        *der = OPENSSL_malloc(*der_len);
        CM_NOMEM_IF(*der == NULL);
        wrap_put(*der, k, tbs, tbs_len, sig, siglen);
    }
out:
    free(sig);
    return rc;
}

cm_err key_sign_cert_der(const cm_key *k, X509 **x, unsigned char **der, size_t *der_len)
{
    unsigned char *tbs = NULL;
    size_t tbs_len = 0;
    cm_err rc;

    if (der != NULL)
        *der = NULL;
    rc = key_cert_tbs(&tbs, &tbs_len, k, *x);
    if (rc == CM_OK)
        rc = key_sign_tbs_der(k, *x, tbs, tbs_len, der, der_len);
    free(tbs);
    return rc;
}

cm_err key_sign_req(const cm_key *k, X509_REQ **req)
{
    cm_err rc = CM_OK;
    unsigned char *tbs = NULL, *der = NULL;
    const unsigned char *p;
    int tbslen;
    size_t derlen = 0;
    X509_REQ *signed_req = NULL;

    tbslen = i2d_re_X509_REQ_tbs(*req, &tbs);
    if (tbslen <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the request to sign");
    CM_TRY(sign_wrap(&der, &derlen, k, tbs, (size_t)tbslen));
    p = der;
    signed_req = d2i_X509_REQ(NULL, &p, (long)derlen);
    if (signed_req == NULL || p != der + derlen)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the signed request does not decode");
    X509_REQ_free(*req);
    *req = signed_req;
    signed_req = NULL;
out:
    X509_REQ_free(signed_req);
    free(der);
    OPENSSL_free(tbs);
    return rc;
}
