/* Client certificate checks for front ends (ca/clientauth.h). */
#include "ca/ca_int.h"
#include "ca/clientauth.h"

#include "util/text.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* The signature, dates and purpose, against this CA's certificate alone:
 * a certificate of another CA (even one under the same root) fails. */
static cm_err verify_signed_here(ca_ctx *ca, X509 *leaf)
{
    cm_err rc = CM_OK;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *sctx = X509_STORE_CTX_new();

    if (store == NULL || sctx == NULL)
        CM_FAIL(CM_ERR_NOMEM, "out of memory");
    if (ca->cert == NULL)
        CM_FAIL(CM_ERR_STATE, "this CA has no certificate yet");
    if (!X509_STORE_add_cert(store, ca->cert) || !X509_STORE_CTX_init(sctx, store, leaf, NULL))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "client certificate: cannot set up the verification");
    /* The CA certificate is the trust anchor even when it is a
     * subordinate (RFC 5280 6.1.1 (d): any trusted public key). */
    X509_STORE_CTX_set_flags(sctx, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(sctx) != 1) {
        int e = X509_STORE_CTX_get_error(sctx);
        rc = cm_err_set(CM_ERR_AUTH, "client certificate not accepted by this CA: %s",
                        X509_verify_cert_error_string(e));
        ERR_clear_error();
    }
out:
    X509_STORE_CTX_free(sctx);
    X509_STORE_free(store);
    return rc;
}

/* The database's word on it: recorded with these bytes, not revoked. */
static cm_err check_recorded(ca_ctx *ca, X509 *leaf)
{
    cm_err rc = CM_OK;
    char serial[CM_SERIAL_BUF];
    const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
    struct db_cert *c = NULL;
    unsigned char *der = NULL;
    int len;

    if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER)
        CM_FAIL(CM_ERR_AUTH, "client certificate has a negative serial number");
    CM_TRY(text_serial_from_bytes(serial, ASN1_STRING_get0_data(sn),
                                  (size_t)ASN1_STRING_length(sn)));
    rc = db_cert_get(ca->db, &c, serial);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_AUTH, "client certificate %s is not in this CA's database", serial);
    if (rc != CM_OK)
        goto out;
    if ((len = i2d_X509(leaf, &der)) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "client certificate %s: cannot encode it", serial);
    if (c->raw == NULL || c->raw_len != (size_t)len || memcmp(c->raw, der, (size_t)len) != 0)
        CM_FAIL(CM_ERR_AUTH, "client certificate %s differs from the one this CA recorded",
                serial);
    if (c->revoked_reason == DB_REASON_HOLD)
        CM_FAIL(CM_ERR_AUTH, "client certificate %s is on hold", serial);
    if (c->revoked_reason >= 0)
        CM_FAIL(CM_ERR_AUTH, "client certificate %s is revoked (%s)", serial,
                db_reason_name(c->revoked_reason));
    if (c->withheld)
        CM_FAIL(CM_ERR_AUTH, "client certificate %s has not been released yet (strict audit)",
                serial);
out:
    OPENSSL_free(der);
    db_cert_free(c);
    return rc;
}

cm_err ca_client_cert_check(ca_ctx *ca, X509 *leaf)
{
    cm_err rc = CM_OK;
    if (leaf == NULL)
        return cm_err_set(CM_ERR_AUTH, "no client certificate");
    CM_TRY(verify_signed_here(ca, leaf));
    CM_TRY(check_recorded(ca, leaf));
out:
    return rc;
}
