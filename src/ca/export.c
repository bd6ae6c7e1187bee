/* Certificates with their chain as a PEM bundle, one DER certificate, or a
 * certificates-only PKCS#7 (.p7b). */
#include "ca/ca.h"
#include "ca/ca_int.h"

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

cm_err ca_export_parse_format(enum ca_export_format *out, const char *s)
{
    if (strcmp(s, "pem") == 0)
        *out = CA_EXPORT_PEM;
    else if (strcmp(s, "der") == 0)
        *out = CA_EXPORT_DER;
    else if (strcmp(s, "p7b") == 0 || strcmp(s, "p7c") == 0 || strcmp(s, "pkcs7") == 0)
        *out = CA_EXPORT_P7B;
    else
        return cm_err_set(CM_ERR_INVALID, "--format '%s': use pem, der or p7b", s);
    return CM_OK;
}

/* The certificates to export, leaf first: leaf (when given), then the CA
 * certificate and its chain when with_chain (or when there is no leaf). */
static cm_err export_list(STACK_OF(X509) * *out, const ca_ctx *ca, const unsigned char *leaf,
                          size_t leaf_len, int with_chain)
{
    cm_err rc = CM_OK;
    STACK_OF(X509) *sk = NULL;
    X509 *x = NULL;

    *out = NULL;
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "%s: this CA has no certificate yet", ca->home);
    sk = sk_X509_new_null();
    CM_NOMEM_IF(sk == NULL);
    if (leaf != NULL) {
        CM_TRY(ca_cert_parse(&x, leaf, leaf_len, "the certificate"));
        CM_NOMEM_IF(!sk_X509_push(sk, x));
        x = NULL;
    }
    if (leaf == NULL || with_chain) {
        CM_NOMEM_IF(!X509_up_ref(ca->cert) || !sk_X509_push(sk, ca->cert));
        for (int i = 0; with_chain && i < sk_X509_num(ca->chain); i++) {
            X509 *c = sk_X509_value(ca->chain, i);
            CM_NOMEM_IF(!X509_up_ref(c) || !sk_X509_push(sk, c));
        }
    }
    *out = sk;
    sk = NULL;
out:
    X509_free(x);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

/* A SignedData with no signers and no content, only certificates: the
 * "degenerate" form of RFC 5652 5.2 (RFC 2315 9.1), as `openssl crl2pkcs7
 * -nocrl` writes it. */
static cm_err p7b_write(BIO *mem, STACK_OF(X509) * sk)
{
    cm_err rc = CM_OK;
    PKCS7 *p7 = PKCS7_new();

    CM_NOMEM_IF(p7 == NULL);
    if (!PKCS7_set_type(p7, NID_pkcs7_signed) || !PKCS7_content_new(p7, NID_pkcs7_data) ||
        !PKCS7_set_detached(p7, 1))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build the PKCS#7 structure");
    for (int i = 0; i < sk_X509_num(sk); i++)
        if (!PKCS7_add_certificate(p7, sk_X509_value(sk, i)))
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot add a certificate to the PKCS#7 structure");
    if (i2d_PKCS7_bio(mem, p7) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the PKCS#7 structure");
out:
    PKCS7_free(p7);
    return rc;
}

cm_err ca_cert_export(unsigned char **out, size_t *len, const ca_ctx *ca, const unsigned char *leaf,
                      size_t leaf_len, int with_chain, enum ca_export_format fmt)
{
    cm_err rc = CM_OK;
    STACK_OF(X509) *sk = NULL;
    BIO *mem = NULL;
    char *p;
    long n;

    *out = NULL;
    *len = 0;
    if (fmt == CA_EXPORT_DER && with_chain)
        return cm_err_set(CM_ERR_INVALID,
                          "a DER file holds one certificate: use --format pem or p7b for a chain");
    CM_TRY(export_list(&sk, ca, leaf, leaf_len, with_chain || fmt == CA_EXPORT_P7B));
    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    if (fmt == CA_EXPORT_P7B) {
        CM_TRY(p7b_write(mem, sk));
    } else if (fmt == CA_EXPORT_DER) {
        if (i2d_X509_bio(mem, sk_X509_value(sk, 0)) != 1)
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate");
    } else {
        for (int i = 0; i < sk_X509_num(sk); i++)
            if (!PEM_write_bio_X509(mem, sk_X509_value(sk, i)))
                CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate as PEM");
    }
    n = BIO_get_mem_data(mem, &p);
    *out = malloc((size_t)n + 1);
    CM_NOMEM_IF(*out == NULL);
    memcpy(*out, p, (size_t)n);
    (*out)[n] = '\0';
    *len = (size_t)n;
out:
    BIO_free(mem);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}
