/* CMS envelopes (RFC 5652 6; RFC 5083 AuthEnvelopedData with AES-256-GCM,
 * RFC 5084): what carries a client's key to the CA, a share to an agent,
 * and a released share back to a recovery's one-time transport key. GCM
 * makes a changed envelope fail to open instead of yielding other bytes. */
#include "kra/kra.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

cm_err kra_envelope(unsigned char **der, size_t *derlen, const unsigned char *data, size_t len,
                    STACK_OF(X509) * recips)
{
    BIO *in = NULL;
    CMS_ContentInfo *cms = NULL;
    unsigned char *p = NULL;
    int n;
    cm_err rc = CM_OK;

    *der = NULL;
    *derlen = 0;
    in = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(in == NULL);
    cms = CMS_encrypt(recips, in, EVP_aes_256_gcm(), CMS_BINARY);
    if (cms == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot make a CMS envelope");
    n = i2d_CMS_ContentInfo(cms, &p);
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode a CMS envelope");
    *der = p;
    *derlen = (size_t)n;
out:
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return rc;
}

cm_err kra_envelope_one(unsigned char **der, size_t *derlen, const unsigned char *data, size_t len,
                        X509 *recip)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    cm_err rc;

    if (sk == NULL || !sk_X509_push(sk, recip)) {
        sk_X509_free(sk);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    rc = kra_envelope(der, derlen, data, len, sk);
    sk_X509_free(sk);
    return rc;
}

/* DER, or PEM labelled CMS or PKCS7 (what `openssl cms -outform PEM`
 * writes). */
static CMS_ContentInfo *cms_parse(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    CMS_ContentInfo *cms = NULL;
    BIO *b = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;

    if (len < 10 || memcmp(der, "-----BEGIN", 10) != 0)
        return d2i_CMS_ContentInfo(NULL, &p, (long)len);
    b = BIO_new_mem_buf(der, (int)len);
    if (b != NULL && PEM_read_bio(b, &name, &header, &data, &dlen) == 1 &&
        (strcmp(name, "CMS") == 0 || strcmp(name, "PKCS7") == 0)) {
        p = data;
        cms = d2i_CMS_ContentInfo(NULL, &p, dlen);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(b);
    return cms;
}

cm_err kra_cms_parse(CMS_ContentInfo **out, const unsigned char *der, size_t len, const char *what)
{
    *out = NULL;
    if (len == 0 || len > KRA_MAX_FILE)
        return cm_err_set(CM_ERR_INVALID, "%s: not a CMS envelope (%zu bytes)", what, len);
    if ((*out = cms_parse(der, len)) == NULL)
        return cm_err_ossl(CM_ERR_INVALID, "%s: not a CMS envelope", what);
    return CM_OK;
}

cm_err kra_bio_take(unsigned char **out, size_t *outlen, BIO *mem)
{
    BUF_MEM *bm = NULL;

    BIO_get_mem_ptr(mem, &bm);
    *out = OPENSSL_malloc(bm->length + 1);
    if (*out == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    if (bm->length > 0)
        memcpy(*out, bm->data, bm->length);
    (*out)[bm->length] = '\0';
    *outlen = bm->length;
    OPENSSL_cleanse(bm->data, bm->length);
    return CM_OK;
}

cm_err kra_open(unsigned char **out, size_t *outlen, const unsigned char *der, size_t derlen,
                X509 *cert, EVP_PKEY *key, const char *what)
{
    CMS_ContentInfo *cms = NULL;
    BIO *mem = NULL;
    int nid;
    cm_err rc = CM_OK;

    *out = NULL;
    *outlen = 0;
    CM_TRY(kra_cms_parse(&cms, der, derlen, what));
    nid = OBJ_obj2nid(CMS_get0_type(cms));
    if (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData)
        CM_FAIL(CM_ERR_INVALID, "%s: a CMS %s, not an EnvelopedData", what, OBJ_nid2sn(nid));
    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    /* The recipient is found by the certificate: an envelope made for
     * someone else is "no matching recipient", not a blind try. */
    if (CMS_decrypt(cms, key, cert, NULL, mem, CMS_BINARY) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO,
                     "%s: the CMS envelope does not open with this key "
                     "(not addressed to it, or changed)",
                     what);
    rc = kra_bio_take(out, outlen, mem);
out:
    BIO_free(mem);
    CMS_ContentInfo_free(cms);
    return rc;
}

cm_err kra_fingerprint(char out[65], const unsigned char *der, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    static const char hx[] = "0123456789abcdef";

    if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return cm_err_ossl(CM_ERR_CRYPTO, "SHA-256 failed");
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[64] = '\0';
    return CM_OK;
}
