/* Opening a CMS envelope with a key behind the key ops (key/key.h): the
 * CA's key-transport key, which may sit in a PKCS#11 token or in the key
 * process of certmint serve, where OpenSSL cannot reach it.
 *
 * The recipient is found by its certificate among the KeyTransRecipientInfos
 * (RFC 5652 6.2.1); its encryptedKey is decrypted with key_decrypt() (RSAES-
 * PKCS1-v1_5 or RSAES-OAEP, RFC 3560 / RFC 4055 4.1); the content-encryption
 * key is then handed to OpenSSL, which decrypts and authenticates the
 * content as CMS_decrypt does. OpenSSL 3.0 has no setter for the content
 * key of a key transport recipient, so the envelope's recipientInfos are
 * replaced by one KEKRecipientInfo (6.2.3) carrying that key wrapped (RFC
 * 3394, AES-256) under a one-time key: the content, its algorithm and,
 * for AuthEnvelopedData (RFC 5083), the authenticated attributes and the
 * MAC are kept byte for byte, and CMS_decrypt_set1_key opens it. */
#include "kra/kra.h"

#include "util/der.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#define CEK_MAX 64
static const unsigned char kek_id[] = "certmint-transport";

/* DER of the envelope's parts (pointers into the re-encoded envelope). */
struct env_parts {
    struct der_tlv ctype; /* the contentType OID */
    struct der_tlv outer; /* the EnvelopedData or AuthEnvelopedData SEQUENCE */
    struct der_tlv ris;   /* recipientInfos SET */
    const unsigned char *head_end, *tail;
};

/* ContentInfo { contentType, [0] EXPLICIT content }: the content's
 * version [originatorInfo] recipientInfos ... (RFC 5652 6.1, RFC 5083 2.1). */
static int env_split(struct env_parts *e, const unsigned char *der, size_t len)
{
    const unsigned char *p = der, *end = der + len, *q;
    struct der_tlv ci, t, wrap;

    if (der_next(&ci, &p, end) != 0 || ci.tag != DER_SEQUENCE)
        return -1;
    q = ci.v;
    if (der_next(&e->ctype, &q, ci.v + ci.len) != 0 || e->ctype.tag != DER_OID ||
        der_next(&wrap, &q, ci.v + ci.len) != 0 || wrap.tag != DER_CTX_CONS(0))
        return -1;
    q = wrap.v;
    if (der_next(&e->outer, &q, wrap.v + wrap.len) != 0 || e->outer.tag != DER_SEQUENCE)
        return -1;
    q = e->outer.v;
    end = e->outer.v + e->outer.len;
    if (der_next(&t, &q, end) != 0 || t.tag != DER_INTEGER || der_next(&t, &q, end) != 0)
        return -1;
    if (t.tag == DER_CTX_CONS(0) && der_next(&t, &q, end) != 0)
        return -1;
    if (t.tag != DER_SET)
        return -1;
    e->ris = t;
    e->head_end = t.start;
    e->tail = q;
    return 0;
}

/* The content-encryption algorithm (the encryptedContentInfo's, RFC 5652
 * 6.1) is one that protects the content: AES-GCM in an AuthEnvelopedData
 * (RFC 5084), AES-CBC or AES-GCM in an EnvelopedData. OpenSSL takes others
 * too (a key-wrap cipher as content cipher "opens" a changed envelope to
 * nothing: found by fuzz/fuzz_cms_key.c). 0 or -1. */
static int content_alg_ok(const struct env_parts *e, int auth)
{
    const unsigned char *p = e->tail, *end = e->outer.v + e->outer.len, *q, *a;
    struct der_tlv eci, t, alg;
    X509_ALGOR *x = NULL;
    int nid;

    if (der_next(&eci, &p, end) != 0 || eci.tag != DER_SEQUENCE)
        return -1;
    q = eci.v;
    if (der_next(&t, &q, eci.v + eci.len) != 0 || der_next(&alg, &q, eci.v + eci.len) != 0)
        return -1;
    a = alg.start;
    if ((x = d2i_X509_ALGOR(NULL, &a, (long)alg.total)) == NULL)
        return -1;
    nid = OBJ_obj2nid(x->algorithm);
    X509_ALGOR_free(x);
    if (nid == NID_aes_128_gcm || nid == NID_aes_192_gcm || nid == NID_aes_256_gcm)
        return 0;
    return !auth && (nid == NID_aes_128_cbc || nid == NID_aes_192_cbc || nid == NID_aes_256_cbc)
               ? 0
               : -1;
}

/* Does the KeyTransRecipientInfo's rid name cert (issuerAndSerialNumber
 * or [0] subjectKeyIdentifier, RFC 5652 6.2.1)? */
static int rid_is(const struct der_tlv *rid, X509 *cert)
{
    const unsigned char *q = rid->v, *end = rid->v + rid->len;
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    unsigned char *name = NULL, *sn = NULL;
    struct der_tlv n, s;
    int nlen, snlen, ok = 0;

    if (rid->tag == DER_CTX_PRIM(0))
        return ski != NULL && (size_t)ASN1_STRING_length(ski) == rid->len &&
               memcmp(ASN1_STRING_get0_data(ski), rid->v, rid->len) == 0;
    if (rid->tag != DER_SEQUENCE || der_next(&n, &q, end) != 0 || der_next(&s, &q, end) != 0)
        return 0;
    nlen = i2d_X509_NAME(X509_get_issuer_name(cert), &name);
    snlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &sn);
    ok = nlen > 0 && snlen > 0 && (size_t)nlen == n.total && memcmp(name, n.start, n.total) == 0 &&
         (size_t)snlen == s.total && memcmp(sn, s.start, s.total) == 0;
    OPENSSL_free(name);
    OPENSSL_free(sn);
    return ok;
}

static int hash_of(enum key_hash *h, const X509_ALGOR *a)
{
    switch (a == NULL ? NID_sha1 : OBJ_obj2nid(a->algorithm)) {
    case NID_sha1:
        *h = KEY_HASH_SHA1;
        return 0;
    case NID_sha256:
        *h = KEY_HASH_SHA256;
        return 0;
    case NID_sha384:
        *h = KEY_HASH_SHA384;
        return 0;
    case NID_sha512:
        *h = KEY_HASH_SHA512;
        return 0;
    }
    return -1;
}

/* keyEncryptionAlgorithm: rsaEncryption (PKCS#1 v1.5) or id-RSAES-OAEP
 * with RSAES-OAEP-params (RFC 4055 4.1: defaults SHA-1, MGF1 SHA-1, empty
 * label; only MGF1 and an empty label are taken). */
static cm_err kea_params(struct key_decrypt_params *dp, const struct der_tlv *alg, const char *what)
{
    const unsigned char *p = alg->start;
    X509_ALGOR *a = d2i_X509_ALGOR(NULL, &p, (long)alg->total);
    RSA_OAEP_PARAMS *op = NULL;
    X509_ALGOR *mgfh = NULL;
    int nid = a != NULL ? OBJ_obj2nid(a->algorithm) : NID_undef, bad = 0;
    cm_err rc = CM_OK;

    memset(dp, 0, sizeof(*dp));
    if (nid == NID_rsaEncryption)
        goto out;
    if (nid != NID_rsaesOaep)
        CM_FAIL(CM_ERR_UNSUPPORTED, "%s: key transport with %s: only RSA (PKCS#1 v1.5 or OAEP)",
                what, nid == NID_undef ? "an unknown algorithm" : OBJ_nid2sn(nid));
    dp->oaep = 1;
    if (a->parameter != NULL && a->parameter->type == V_ASN1_SEQUENCE)
        op = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_OAEP_PARAMS), a->parameter);
    else if (a->parameter != NULL && a->parameter->type != V_ASN1_NULL)
        bad = 1;
    if (op != NULL && op->maskGenFunc != NULL) {
        bad |= OBJ_obj2nid(op->maskGenFunc->algorithm) != NID_mgf1;
        mgfh =
            bad ? NULL
                : ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), op->maskGenFunc->parameter);
        bad |= mgfh == NULL;
    }
    bad |= op != NULL && op->pSourceFunc != NULL;
    bad |= (a->parameter != NULL && a->parameter->type == V_ASN1_SEQUENCE && op == NULL);
    if (bad || hash_of(&dp->oaep_md, op != NULL ? op->hashFunc : NULL) != 0 ||
        hash_of(&dp->mgf1_md, mgfh) != 0)
        CM_FAIL(CM_ERR_UNSUPPORTED,
                "%s: RSAES-OAEP parameters not supported (SHA-1/256/384/512, MGF1, no label)",
                what);
out:
    X509_ALGOR_free(mgfh);
    RSA_OAEP_PARAMS_free(op);
    X509_ALGOR_free(a);
    return rc;
}

/* The KeyTransRecipientInfo of cert: its keyEncryptionAlgorithm and
 * encryptedKey (RFC 5652 6.2.1); -1 when none names cert. */
static int ktri_find(struct der_tlv *alg, struct der_tlv *ek, const struct der_tlv *ris, X509 *cert)
{
    const unsigned char *p = ris->v, *end = ris->v + ris->len, *q;
    struct der_tlv ri, v, rid;

    while (p < end) {
        if (der_next(&ri, &p, end) != 0)
            return -1;
        if (ri.tag != DER_SEQUENCE) /* kari [1], kekri [2], pwri [3], ori [4] */
            continue;
        q = ri.v;
        if (der_next(&v, &q, ri.v + ri.len) != 0 || der_next(&rid, &q, ri.v + ri.len) != 0 ||
            der_next(alg, &q, ri.v + ri.len) != 0 || der_next(ek, &q, ri.v + ri.len) != 0 ||
            alg->tag != DER_SEQUENCE || ek->tag != DER_OCTET_STRING)
            continue;
        if (rid_is(&rid, cert))
            return 0;
    }
    return -1;
}

/* AES key wrap (RFC 3394) of the content key under kek. */
static cm_err cek_wrap(unsigned char *out, int *outlen, const unsigned char *kek,
                       const unsigned char *cek, size_t ceklen)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, m = 0, ok;

    if (c == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = ceklen % 8 == 0 && ceklen >= 16 &&
         EVP_EncryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) == 1 &&
         EVP_EncryptUpdate(c, out, &n, cek, (int)ceklen) == 1 &&
         EVP_EncryptFinal_ex(c, out + n, &m) == 1;
    EVP_CIPHER_CTX_free(c);
    *outlen = n + m;
    return ok ? CM_OK : cm_err_ossl(CM_ERR_CRYPTO, "cannot wrap the content key");
}

/* The envelope again, its recipientInfos one KEKRecipientInfo (RFC 5652
 * 6.2.3: [2] { version 4, kekid { keyIdentifier }, id-aes256-wrap,
 * encryptedKey }) holding cek wrapped under kek. */
static cm_err env_rebuild(cm_buf *b, const struct env_parts *e, const unsigned char *kek,
                          const unsigned char *cek, size_t ceklen)
{
    /* id-aes256-wrap, RFC 3565 4.3 */
    static const unsigned char wrap_oid[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2d};
    unsigned char wrapped[CEK_MAX + 8];
    int wlen = 0;
    size_t ci, w, env, set, kekri, kid, alg;
    cm_err rc;

    CM_TRY(cek_wrap(wrapped, &wlen, kek, cek, ceklen));
    CM_TRY(der_begin(b, &ci, DER_SEQUENCE));
    /* the contentType as it was (enveloped-data or id-ct-authEnvelopedData) */
    CM_TRY(buf_append(b, e->ctype.start, e->ctype.total));
    CM_TRY(der_begin(b, &w, DER_CTX_CONS(0)));
    CM_TRY(der_begin(b, &env, DER_SEQUENCE));
    CM_TRY(buf_append(b, e->outer.v, (size_t)(e->head_end - e->outer.v)));
    CM_TRY(der_begin(b, &set, DER_SET));
    CM_TRY(der_begin(b, &kekri, DER_CTX_CONS(2)));
    CM_TRY(der_integer(b, 4));
    CM_TRY(der_begin(b, &kid, DER_SEQUENCE));
    CM_TRY(der_octet_string(b, kek_id, sizeof(kek_id) - 1));
    CM_TRY(der_end(b, kid));
    CM_TRY(der_begin(b, &alg, DER_SEQUENCE));
    CM_TRY(der_oid(b, wrap_oid, sizeof(wrap_oid)));
    CM_TRY(der_end(b, alg));
    CM_TRY(der_octet_string(b, wrapped, (size_t)wlen));
    CM_TRY(der_end(b, kekri));
    CM_TRY(der_end(b, set));
    CM_TRY(buf_append(b, e->tail, (size_t)(e->outer.v + e->outer.len - e->tail)));
    CM_TRY(der_end(b, env));
    CM_TRY(der_end(b, w));
    CM_TRY(der_end(b, ci));
out:
    OPENSSL_cleanse(wrapped, sizeof(wrapped));
    return rc;
}

/* The content key: the recipient's encryptedKey decrypted with the key.
 * When that fails the key goes on as a random one, so that a wrong
 * padding and a wrong content look the same to the sender (RFC 3218
 * 2.3.2, the Bleichenbacher countermeasure, as OpenSSL's CMS does). */
static cm_err cek_get(unsigned char *cek, size_t *ceklen, const cm_key *key,
                      const struct key_decrypt_params *dp, const struct der_tlv *ek)
{
    unsigned char *plain = NULL;
    size_t plen = 0;
    cm_err rc = key_decrypt(key, &plain, &plen, dp, ek->v, ek->len);

    if (rc == CM_OK && plen >= 16 && plen <= CEK_MAX && plen % 8 == 0) {
        memcpy(cek, plain, plen);
        *ceklen = plen;
    } else if (rc == CM_OK || rc == CM_ERR_CRYPTO) {
        cm_err_clear();
        ERR_clear_error();
        *ceklen = 32;
        rc = RAND_bytes(cek, 32) == 1 ? CM_OK : cm_err_ossl(CM_ERR_CRYPTO, "no randomness");
    }
    if (plain != NULL) {
        OPENSSL_cleanse(plain, plen);
        free(plain);
    }
    return rc;
}

/* The envelope with one KEKRecipientInfo (above), parsed again. */
static cm_err env_for_key(CMS_ContentInfo **out, unsigned char *kek, const unsigned char *der,
                          size_t len, int auth, X509 *cert, const cm_key *key, const char *what)
{
    struct env_parts e;
    struct der_tlv alg, ek;
    struct key_decrypt_params dp;
    unsigned char cek[CEK_MAX];
    size_t ceklen = 0;
    const unsigned char *p;
    cm_buf b = CM_BUF_INIT(KRA_MAX_FILE + 1024);
    cm_err rc;

    *out = NULL;
    if (env_split(&e, der, len) != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: not a CMS envelope", what);
    if (content_alg_ok(&e, auth) != 0)
        CM_FAIL(CM_ERR_UNSUPPORTED,
                "%s: the content must be encrypted with AES-GCM (AuthEnvelopedData) or AES-CBC "
                "(EnvelopedData)",
                what);
    if (ktri_find(&alg, &ek, &e.ris, cert) != 0)
        CM_FAIL(CM_ERR_CRYPTO,
                "%s: the CMS envelope does not open with this key (not addressed to it: no "
                "key transport recipient for the certificate)",
                what);
    CM_TRY(kea_params(&dp, &alg, what));
    CM_TRY(cek_get(cek, &ceklen, key, &dp, &ek));
    if (RAND_bytes(kek, 32) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "no randomness");
    CM_TRY(env_rebuild(&b, &e, kek, cek, ceklen));
    p = (const unsigned char *)b.data;
    if ((*out = d2i_CMS_ContentInfo(NULL, &p, (long)b.len)) == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a CMS envelope", what);
out:
    OPENSSL_cleanse(cek, sizeof(cek));
    if (b.data != NULL)
        OPENSSL_cleanse(b.data, b.len);
    buf_free(&b);
    return rc;
}

/* long: parse, re-encode, open, copy out; each buffer wiped */
cm_err kra_open_key(unsigned char **out, size_t *outlen, const unsigned char *in, size_t inlen,
                    X509 *cert, const cm_key *key, const char *what)
{
    CMS_ContentInfo *cms = NULL, *kcms = NULL;
    unsigned char *der = NULL, kek[32];
    BIO *mem = NULL;
    int nid, n;
    cm_err rc = CM_OK;

    *out = NULL;
    *outlen = 0;
    if (EVP_PKEY_get_base_id(key_public(key)) != EVP_PKEY_RSA)
        return cm_err_set(CM_ERR_UNSUPPORTED,
                          "%s: the key-transport key is %s: only RSA key transport (RFC 5652 "
                          "6.2.1) is supported, not key agreement",
                          what, EVP_PKEY_get0_type_name(key_public(key)));
    CM_TRY(kra_cms_parse(&cms, in, inlen, what));
    nid = OBJ_obj2nid(CMS_get0_type(cms));
    if (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData)
        CM_FAIL(CM_ERR_INVALID, "%s: a CMS %s, not an EnvelopedData", what, OBJ_nid2sn(nid));
    /* DER again: a BER envelope (indefinite lengths) is walked as DER. */
    if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a CMS envelope", what);
    CM_TRY(env_for_key(&kcms, kek, der, (size_t)n, nid == NID_id_smime_ct_authEnvelopedData, cert,
                       key, what));
    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    if (CMS_decrypt_set1_key(kcms, kek, sizeof(kek), kek_id, sizeof(kek_id) - 1) != 1 ||
        CMS_decrypt(kcms, NULL, NULL, NULL, mem, CMS_BINARY) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO,
                     "%s: the CMS envelope does not open with this key "
                     "(not addressed to it, or changed)",
                     what);
    rc = kra_bio_take(out, outlen, mem);
out:
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_free(der);
    BIO_free(mem);
    CMS_ContentInfo_free(kcms);
    CMS_ContentInfo_free(cms);
    return rc;
}
