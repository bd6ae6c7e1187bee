#include "ca/csr.h"

#include "ca/ca.h"

#include <assert.h>
#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A view of one DER TLV inside a buffer. */
struct tlv {
    const unsigned char *start; /* first byte of the tag */
    const unsigned char *val;   /* first byte of the value */
    long len;                   /* value length */
    int tag, cls, constructed;
    size_t total; /* header + value */
};

static int tlv_read(struct tlv *t, const unsigned char **p, long avail)
{
    const unsigned char *q = *p;
    int r;

    if (avail <= 0)
        return 0;
    t->start = q;
    r = ASN1_get_object(&q, &t->len, &t->tag, &t->cls, avail);
    /* 0x80 = error; indefinite lengths (0x21) are not DER. */
    if ((r & 0x80) || r == 0x21)
        return 0;
    t->constructed = (r & V_ASN1_CONSTRUCTED) != 0;
    t->val = q;
    if (t->len < 0 || t->len > avail - (long)(q - *p))
        return 0;
    t->total = (size_t)(q - *p) + (size_t)t->len;
    *p = q + t->len;
    return 1;
}

cm_err pem_to_der(unsigned char **der, size_t *der_len, int *owned, const unsigned char *data,
                  size_t len, const char *const *labels, const char *what)
{
    cm_err rc = CM_OK;
    BIO *mem = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *body = NULL;
    long blen = 0;
    size_t i;

    *der = NULL;
    *der_len = 0;
    *owned = 0;
    /* DER starts with a SEQUENCE tag; anything else must be PEM. */
    if (len > 0 && data[0] == 0x30) {
        *der = (unsigned char *)data;
        *der_len = len;
        return CM_OK;
    }
    for (i = 0;
         i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'); i++)
        ;
    if (len - i < 11 || memcmp(data + i, "-----BEGIN ", 11) != 0)
        return cm_err_set(CM_ERR_INVALID, "%s: neither PEM nor DER", what);
    mem = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(mem == NULL);
    if (!PEM_read_bio(mem, &name, &header, &body, &blen))
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad PEM", what);
    for (i = 0; labels[i]; i++)
        if (strcmp(name, labels[i]) == 0)
            break;
    if (labels[i] == NULL)
        CM_FAIL(CM_ERR_INVALID, "%s: PEM label is '%s', expected '%s'", what, name, labels[0]);
    if (header != NULL && header[0] != '\0')
        CM_FAIL(CM_ERR_INVALID, "%s: unexpected PEM headers", what);
    *der = body;
    *der_len = (size_t)blen;
    *owned = 1;
    body = NULL;
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(body);
    BIO_free(mem);
    return rc;
}

/* The named curves certmint accepts in requests (RFC 5480 2.1.1.1), with
 * a parameters-only key for each, made once per process (pthread_once) and
 * only read after. A request's EC key is a copy of its curve's key with the
 * point set: making the curve again for every request (EVP_PKEY_fromdata
 * with a group name builds a new EC_GROUP, its Montgomery constants and
 * generator) cost about a quarter of the request's signature check
 * (bench/README.md); the copy shares the precomputed tables. */
static const struct ec_curve {
    int nid;
    const char *name;
} ec_curves[] = {
    {NID_X9_62_prime256v1, "P-256"},
    {NID_secp384r1, "P-384"},
    {NID_secp521r1, "P-521"},
};
#define EC_NCURVES (sizeof(ec_curves) / sizeof(ec_curves[0]))
static EVP_PKEY *ec_params[EC_NCURVES];
static pthread_once_t ec_params_once = PTHREAD_ONCE_INIT;

/* A curve whose key cannot be made stays NULL: spki_ec_key then builds
 * each request's key from the group name, as before. */
static void ec_params_init(void)
{
    for (size_t i = 0; i < EC_NCURVES; i++) {
        OSSL_PARAM params[2];
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                     (char *)ec_curves[i].name, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &ec_params[i], EVP_PKEY_KEY_PARAMETERS, params) <= 0) {
            EVP_PKEY_free(ec_params[i]);
            ec_params[i] = NULL;
        }
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
}

/* The EC public key `bits` (an uncompressed or compressed point, SEC 1
 * 2.3.4: checked to be on the curve) on curve number `curve`. */
static cm_err spki_ec_key(EVP_PKEY **out, size_t curve, const unsigned char *bits, int bits_len,
                          const char *what)
{
    cm_err rc = CM_OK;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM params[3];

    (void)pthread_once(&ec_params_once, ec_params_init);
    if (ec_params[curve] != NULL) {
        *out = EVP_PKEY_dup(ec_params[curve]);
        CM_NOMEM_IF(*out == NULL);
        if (EVP_PKEY_set1_encoded_public_key(*out, bits, (size_t)bits_len) != 1)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad EC public key", what);
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)ec_curves[curve].name, 0);
    params[1] =
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)bits, (size_t)bits_len);
    params[2] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    CM_NOMEM_IF(ctx == NULL);
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad EC public key", what);
out:
    if (rc != CM_OK) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* The named curve of an EC key's algorithm (RFC 5480 2.1.1): *curve its
 * index in ec_curves, or EC_NCURVES when the key is not an EC key. */
static cm_err spki_curve(size_t *curve, const X509_ALGOR *alg, const char *what)
{
    const ASN1_OBJECT *oid = NULL;
    const void *pval = NULL;
    int ptype = 0, nid;
    size_t i;

    *curve = EC_NCURVES;
    X509_ALGOR_get0(&oid, &ptype, &pval, alg);
    if (OBJ_obj2nid(oid) != NID_X9_62_id_ecPublicKey)
        return CM_OK;
    if (ptype != V_ASN1_OBJECT)
        return cm_err_set(CM_ERR_INVALID, "%s: EC key without a named curve (RFC 5480 2.1.1)",
                          what);
    nid = OBJ_obj2nid(pval);
    for (i = 0; i < EC_NCURVES && ec_curves[i].nid != nid; i++)
        ;
    if (i == EC_NCURVES)
        return cm_err_set(CM_ERR_INVALID, "%s: EC curve not supported (P-256, P-384, P-521 are)",
                          what);
    *curve = i;
    return CM_OK;
}

/* Builds the EVP_PKEY for the SubjectPublicKeyInfo. EC keys are made from
 * their named curve's key (RFC 5480 2.1.1.1, spki_ec_key); other types use
 * the generic decoder. */
static cm_err spki_to_pkey(EVP_PKEY **out, const X509_ALGOR *alg, const unsigned char *bits,
                           int bits_len, const unsigned char *spki_der, size_t spki_len,
                           const char *what)
{
    cm_err rc = CM_OK;
    size_t curve;

    *out = NULL;
    CM_TRY(spki_curve(&curve, alg, what));
    if (curve < EC_NCURVES) {
        CM_TRY(spki_ec_key(out, curve, bits, bits_len, what));
    } else {
        const unsigned char *p = spki_der;
        *out = d2i_PUBKEY(NULL, &p, (long)spki_len);
        if (*out == NULL)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad or unsupported public key", what);
    }
out:
    return rc;
}

void csr_scratch_clear(struct csr_scratch *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < sizeof(s->ec) / sizeof(s->ec[0]); i++) {
        EVP_PKEY_CTX_free(s->verify[i]);
        s->verify[i] = NULL;
        EVP_PKEY_free(s->ec[i]);
        s->ec[i] = NULL;
        EVP_MD_free(s->md[i]);
        s->md[i] = NULL;
    }
    EVP_MD_CTX_free(s->mctx);
    s->mctx = NULL;
    free(s->file);
    s->file = NULL;
}

/* s's key of the curve with the request's point set (checked to be on the
 * curve), for the signature check; *out NULL when the curve has no prepared
 * key (the caller builds one). */
static cm_err scratch_key(EVP_PKEY **out, struct csr_scratch *s, size_t curve,
                          const unsigned char *bits, int bits_len, const char *what)
{
    *out = NULL;
    (void)pthread_once(&ec_params_once, ec_params_init);
    if (ec_params[curve] == NULL)
        return CM_OK;
    if (s->ec[curve] == NULL && (s->ec[curve] = EVP_PKEY_dup(ec_params[curve])) == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    if (EVP_PKEY_set1_encoded_public_key(s->ec[curve], bits, (size_t)bits_len) != 1)
        return cm_err_ossl(CM_ERR_INVALID, "%s: bad EC public key", what);
    *out = s->ec[curve];
    return CM_OK;
}

cm_err csr_make_key(struct csr *c)
{
    cm_err rc = CM_OK;
    size_t curve = EC_NCURVES;

    if (c->pkey != NULL)
        return CM_OK;
    /* Only an EC key is left to make (csr_read_spki). */
    CM_TRY(spki_curve(&curve, c->spki_alg, "request"));
    assert(curve < EC_NCURVES);
    rc = spki_ec_key(&c->pkey, curve, c->spki_bits, c->spki_bits_len, "request");
    if (rc == CM_OK)
        c->kind = c->pkey;
out:
    return rc;
}

/* The digest named by a signature algorithm, checked against the key type.
 * *md is NULL for Ed25519 (RFC 8410 section 6: no separate digest). */
static cm_err sigalg_md(const char **md, const X509_ALGOR *sigalg, const EVP_PKEY *pkey,
                        const char *what)
{
    const ASN1_OBJECT *oid = NULL;
    int nid, mdnid = NID_undef, pknid = NID_undef;

    X509_ALGOR_get0(&oid, NULL, NULL, sigalg);
    nid = OBJ_obj2nid(oid);
    if (nid == NID_ED25519) {
        if (!EVP_PKEY_is_a(pkey, "ED25519"))
            return cm_err_set(CM_ERR_INVALID, "%s: signature algorithm does not match the key",
                              what);
        *md = NULL;
        return CM_OK;
    }
    if (!OBJ_find_sigid_algs(nid, &mdnid, &pknid) || mdnid == NID_undef)
        return cm_err_set(CM_ERR_INVALID, "%s: unsupported signature algorithm %s", what,
                          OBJ_nid2sn(nid));
    if ((pknid == NID_X9_62_id_ecPublicKey && !EVP_PKEY_is_a(pkey, "EC")) ||
        (pknid == NID_rsaEncryption && !EVP_PKEY_is_a(pkey, "RSA")) ||
        (pknid != NID_X9_62_id_ecPublicKey && pknid != NID_rsaEncryption))
        return cm_err_set(CM_ERR_INVALID, "%s: signature algorithm %s does not match the key", what,
                          OBJ_nid2sn(nid));
    switch (mdnid) {
    case NID_sha256:
        *md = "SHA256";
        break;
    case NID_sha384:
        *md = "SHA384";
        break;
    case NID_sha512:
        *md = "SHA512";
        break;
    default:
        return cm_err_set(CM_ERR_INVALID, "%s: weak or unsupported digest %s in the signature",
                          what, OBJ_nid2sn(mdnid));
    }
    return CM_OK;
}

/* CertificationRequest ::= SEQUENCE { certificationRequestInfo,
 *   signatureAlgorithm, signature BIT STRING }   (RFC 2986 4.2) */
static cm_err csr_read_outer(struct tlv *cri, struct tlv *salg_t, struct tlv *sig,
                             const unsigned char *der, size_t der_len, const char *what)
{
    cm_err rc = CM_OK;
    const unsigned char *p, *q, *end;
    struct tlv outer;

    p = der;
    if (!tlv_read(&outer, &p, (long)der_len) || outer.tag != V_ASN1_SEQUENCE || !outer.constructed)
        CM_FAIL(CM_ERR_INVALID, "%s: not a PKCS#10 request (bad outer SEQUENCE)", what);
    if (outer.total != der_len)
        CM_FAIL(CM_ERR_INVALID, "%s: trailing data after the request", what);
    q = outer.val;
    end = outer.val + outer.len;
    if (!tlv_read(cri, &q, end - q) || cri->tag != V_ASN1_SEQUENCE)
        CM_FAIL(CM_ERR_INVALID, "%s: bad certificationRequestInfo", what);
    if (!tlv_read(salg_t, &q, end - q) || salg_t->tag != V_ASN1_SEQUENCE)
        CM_FAIL(CM_ERR_INVALID, "%s: bad signatureAlgorithm", what);
    if (!tlv_read(sig, &q, end - q) || sig->tag != V_ASN1_BIT_STRING || sig->len < 2 ||
        sig->val[0] != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: bad signature BIT STRING", what);
    if (q != end)
        CM_FAIL(CM_ERR_INVALID, "%s: unexpected data in the request", what);
out:
    return rc;
}

/* CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) },
 *   subject Name, subjectPKInfo, attributes [0] }   (RFC 2986 4.1) */
static cm_err csr_read_info(struct tlv *subj, struct tlv *spki, struct tlv *attrs,
                            const struct tlv *cri, const char *what)
{
    cm_err rc = CM_OK;
    const unsigned char *p, *cri_end;
    struct tlv ver;

    p = cri->val;
    cri_end = cri->val + cri->len;
    if (!tlv_read(&ver, &p, cri_end - p) || ver.tag != V_ASN1_INTEGER || ver.len != 1 ||
        ver.val[0] != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: request version is not v1 (0)", what);
    if (!tlv_read(subj, &p, cri_end - p) || subj->tag != V_ASN1_SEQUENCE)
        CM_FAIL(CM_ERR_INVALID, "%s: bad subject name", what);
    if (!tlv_read(spki, &p, cri_end - p) || spki->tag != V_ASN1_SEQUENCE)
        CM_FAIL(CM_ERR_INVALID, "%s: bad subjectPublicKeyInfo", what);
    if (!tlv_read(attrs, &p, cri_end - p) || attrs->cls != V_ASN1_CONTEXT_SPECIFIC ||
        attrs->tag != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: missing attributes [0]", what);
    if (p != cri_end)
        CM_FAIL(CM_ERR_INVALID, "%s: unexpected data in certificationRequestInfo", what);
out:
    return rc;
}

/* SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }
 * into c's spki_alg, spki_bits and pkey; *verify gets the key that checks
 * the signature: c->pkey, or with a scratch set and an EC key, the
 * scratch's key (c->pkey then stays NULL, csr_make_key). */
static cm_err csr_read_spki(struct csr *c, EVP_PKEY **verify, size_t *vcurve,
                            struct csr_scratch *scratch, const struct tlv *spki, const char *what)
{
    cm_err rc = CM_OK;
    const unsigned char *q;
    struct tlv alg_t, bits_t;
    size_t curve = EC_NCURVES;

    q = spki->val;
    if (!tlv_read(&alg_t, &q, spki->len) || alg_t.tag != V_ASN1_SEQUENCE)
        CM_FAIL(CM_ERR_INVALID, "%s: bad public key algorithm", what);
    if (!tlv_read(&bits_t, &q, spki->val + spki->len - q) || bits_t.tag != V_ASN1_BIT_STRING ||
        bits_t.len < 2 || bits_t.val[0] != 0 || q != spki->val + spki->len)
        CM_FAIL(CM_ERR_INVALID, "%s: bad subjectPublicKey", what);
    q = alg_t.start;
    c->spki_alg = d2i_X509_ALGOR(NULL, &q, (long)alg_t.total);
    if (c->spki_alg == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad public key algorithm", what);
    c->spki_bits_len = (int)bits_t.len - 1;
    c->spki_bits = OPENSSL_memdup(bits_t.val + 1, (size_t)c->spki_bits_len);
    CM_NOMEM_IF(c->spki_bits == NULL);
    *verify = NULL;
    if (scratch != NULL) {
        CM_TRY(spki_curve(&curve, c->spki_alg, what));
        if (curve < EC_NCURVES)
            CM_TRY(scratch_key(verify, scratch, curve, c->spki_bits, c->spki_bits_len, what));
        /* scratch_key made it from the prepared key, so that one exists. */
        if (*verify != NULL) {
            c->kind = ec_params[curve];
            *vcurve = curve;
        }
    }
    if (*verify == NULL) {
        CM_TRY(spki_to_pkey(&c->pkey, c->spki_alg, c->spki_bits, c->spki_bits_len, spki->start,
                            spki->total, what));
        *verify = c->pkey;
        c->kind = c->pkey;
    }
out:
    return rc;
}

/* Attributes: only extensionRequest (PKCS#9, RFC 2985 5.4.2) matters;
 * challengePassword and others are ignored. Sets c->exts. */
static cm_err csr_read_attributes(struct csr *c, const struct tlv *attrs, const char *what)
{
    cm_err rc = CM_OK;
    const unsigned char *q;

    q = attrs->val;
    while (q < attrs->val + attrs->len) {
        struct tlv attr, oid_t, set_t, ext_t;
        const unsigned char *a;
        ASN1_OBJECT *oid = NULL;
        if (!tlv_read(&attr, &q, attrs->val + attrs->len - q) || attr.tag != V_ASN1_SEQUENCE)
            CM_FAIL(CM_ERR_INVALID, "%s: bad attribute", what);
        a = attr.val;
        if (!tlv_read(&oid_t, &a, attr.len) || oid_t.tag != V_ASN1_OBJECT)
            CM_FAIL(CM_ERR_INVALID, "%s: bad attribute type", what);
        {
            const unsigned char *o = oid_t.start;
            oid = d2i_ASN1_OBJECT(NULL, &o, (long)oid_t.total);
        }
        if (oid == NULL)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad attribute type", what);
        int nid = OBJ_obj2nid(oid);
        ASN1_OBJECT_free(oid);
        if (!tlv_read(&set_t, &a, attr.val + attr.len - a) || set_t.tag != V_ASN1_SET)
            CM_FAIL(CM_ERR_INVALID, "%s: bad attribute values", what);
        if (nid != NID_ext_req)
            continue;
        if (c->exts != NULL)
            CM_FAIL(CM_ERR_INVALID, "%s: more than one extensionRequest attribute", what);
        a = set_t.val;
        if (!tlv_read(&ext_t, &a, set_t.len) || a != set_t.val + set_t.len)
            CM_FAIL(CM_ERR_INVALID, "%s: extensionRequest must hold exactly one value", what);
        a = ext_t.start;
        c->exts = d2i_X509_EXTENSIONS(NULL, &a, (long)ext_t.total);
        if (c->exts == NULL)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad extensionRequest", what);
    }
out:
    return rc;
}

/* Proof of possession: the signature over certificationRequestInfo. */
static cm_err csr_verify_pop(EVP_PKEY *pkey, const struct tlv *cri, const struct tlv *salg_t,
                             const struct tlv *sig, const char *what)
{
    cm_err rc = CM_OK;
    const unsigned char *q;
    X509_ALGOR *sigalg = NULL;
    const char *md = NULL;
    EVP_MD_CTX *mctx = NULL;

    q = salg_t->start;
    sigalg = d2i_X509_ALGOR(NULL, &q, (long)salg_t->total);
    if (sigalg == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad signatureAlgorithm", what);
    CM_TRY(sigalg_md(&md, sigalg, pkey, what));
    mctx = EVP_MD_CTX_new();
    CM_NOMEM_IF(mctx == NULL);
    /* One verification per context: the final step may use the context
     * itself instead of a copy of it. */
    EVP_MD_CTX_set_flags(mctx, EVP_MD_CTX_FLAG_FINALISE);
    if (EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, NULL, pkey, NULL) != 1)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: cannot verify the signature", what);
    if (EVP_DigestVerify(mctx, sig->val + 1, (size_t)sig->len - 1, cri->start, cri->total) != 1)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: the request's signature does not verify", what);
out:
    EVP_MD_CTX_free(mctx);
    X509_ALGOR_free(sigalg);
    return rc;
}

/* RFC 5758 3.2: ecdsa-with-SHA256, -SHA384, -SHA512, parameters absent,
 * whole AlgorithmIdentifier DER; the digests' names in the same order. */
static const unsigned char ecdsa_algs[3][12] = {
    {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02},
    {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03},
    {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04},
};
static const char *const ecdsa_mds[3] = {"SHA256", "SHA384", "SHA512"};

/* The index in ecdsa_algs of the request's signatureAlgorithm; -1 for any
 * other (csr_verify_pop decodes and checks those). */
static int ecdsa_alg_index(const struct tlv *salg_t)
{
    for (int i = 0; i < 3; i++)
        if (salg_t->total == sizeof(ecdsa_algs[i]) &&
            memcmp(salg_t->start, ecdsa_algs[i], sizeof(ecdsa_algs[i])) == 0)
            return i;
    return -1;
}

/* Proof of possession of an EC request whose point scratch_key has just
 * set into s->ec[curve]: the hash of certificationRequestInfo (RFC 2986
 * 4.2) with digest mdi, checked by the curve's verification context, which
 * holds that same key (OpenSSL 3.0's EC provider keeps a reference to the
 * key object that EVP_PKEY_set1_encoded_public_key changes in place;
 * test_csr's stale_key checks that each new point is used). No digest is
 * set on the context: ECDSA takes a hash of any length (SEC 1 4.1.4 step
 * 5 truncates it), as EVP_DigestVerify does. */
static cm_err verify_scratch(struct csr_scratch *s, size_t curve, int mdi, const struct tlv *cri,
                             const struct tlv *sig, const char *what)
{
    cm_err rc = CM_OK;
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hlen = 0;

    if (s->verify[curve] == NULL) {
        s->verify[curve] = EVP_PKEY_CTX_new_from_pkey(NULL, s->ec[curve], NULL);
        CM_NOMEM_IF(s->verify[curve] == NULL);
        if (EVP_PKEY_verify_init(s->verify[curve]) != 1) {
            EVP_PKEY_CTX_free(s->verify[curve]);
            s->verify[curve] = NULL;
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot verify the signature", what);
        }
    }
    if (s->md[mdi] == NULL && (s->md[mdi] = EVP_MD_fetch(NULL, ecdsa_mds[mdi], NULL)) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: digest %s unavailable", what, ecdsa_mds[mdi]);
    if (s->mctx == NULL && (s->mctx = EVP_MD_CTX_new()) == NULL)
        CM_FAIL(CM_ERR_NOMEM, "out of memory");
    if (EVP_DigestInit_ex(s->mctx, s->md[mdi], NULL) != 1 ||
        EVP_DigestUpdate(s->mctx, cri->start, cri->total) != 1 ||
        EVP_DigestFinal_ex(s->mctx, hash, &hlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot hash the request", what);
    if (EVP_PKEY_verify(s->verify[curve], sig->val + 1, (size_t)sig->len - 1, hash, hlen) != 1)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: the request's signature does not verify", what);
out:
    return rc;
}

cm_err csr_parse(struct csr **out, const unsigned char *data, size_t len, const char *what)
{
    return csr_parse_scratch(out, data, len, what, NULL);
}

cm_err csr_parse_scratch(struct csr **out, const unsigned char *data, size_t len, const char *what,
                         struct csr_scratch *scratch)
{
    static const char *const labels[] = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", NULL};
    cm_err rc = CM_OK;
    struct csr *c = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    int owned = 0;
    const unsigned char *q;
    struct tlv cri, subj, spki, salg_t, sig, attrs;
    EVP_PKEY *verify = NULL;
    size_t vcurve = EC_NCURVES;
    int mdi = -1;

    *out = NULL;
    if (len == 0)
        return cm_err_set(CM_ERR_INVALID, "%s: empty file", what);
    if (len > CA_MAX_CSR_BYTES)
        return cm_err_set(CM_ERR_INVALID, "%s: too large for a CSR (%zu bytes, limit %d)", what,
                          len, CA_MAX_CSR_BYTES);
    CM_TRY(pem_to_der(&der, &der_len, &owned, data, len, labels, what));
    c = calloc(1, sizeof(*c));
    CM_NOMEM_IF(c == NULL);

    CM_TRY(csr_read_outer(&cri, &salg_t, &sig, der, der_len, what));
    CM_TRY(csr_read_info(&subj, &spki, &attrs, &cri, what));
    q = subj.start;
    c->subject = d2i_X509_NAME(NULL, &q, (long)subj.total);
    if (c->subject == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: bad subject name", what);
    CM_TRY(csr_read_spki(c, &verify, &vcurve, scratch, &spki, what));
    CM_TRY(csr_read_attributes(c, &attrs, what));
    if (vcurve < EC_NCURVES && (mdi = ecdsa_alg_index(&salg_t)) >= 0)
        CM_TRY(verify_scratch(scratch, vcurve, mdi, &cri, &sig, what));
    else
        CM_TRY(csr_verify_pop(verify, &cri, &salg_t, &sig, what));

    if (owned) {
        c->der = der;
        der = NULL;
    } else {
        c->der = OPENSSL_memdup(der, der_len);
        CM_NOMEM_IF(c->der == NULL);
    }
    c->der_len = der_len;
    *out = c;
    c = NULL;
out:
    if (owned)
        OPENSSL_free(der);
    csr_free(c);
    return rc;
}

void csr_shed(struct csr *c)
{
    if (c == NULL)
        return;
    X509_NAME_free(c->subject);
    c->subject = NULL;
    sk_X509_EXTENSION_pop_free(c->exts, X509_EXTENSION_free);
    c->exts = NULL;
    EVP_PKEY_free(c->pkey);
    c->pkey = NULL;
    X509_ALGOR_free(c->spki_alg);
    c->spki_alg = NULL;
    OPENSSL_free(c->spki_bits);
    c->spki_bits = NULL;
    c->spki_bits_len = 0;
}

void csr_free(struct csr *c)
{
    if (c == NULL)
        return;
    csr_shed(c);
    OPENSSL_free(c->der);
    free(c);
}
