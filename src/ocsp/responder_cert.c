/* The delegated OCSP responder certificate (RFC 6960 4.2.2.2): issued by
 * the CA to a key of its own with id-kp-OCSPSigning and id-pkix-ocsp-nocheck
 * (4.2.2.2.1: relying parties do not check its revocation, so it is short
 * lived), kept in HOME/private/ocsp.crt and ocsp.key (0600) and renewed when
 * a third of its life is left. */
#include "ca/ca_int.h"
#include "ocsp/ocsp_int.h"

#include "util/fsutil.h"
#include "util/log.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Valid now, with more than a third of its life left, issued by this CA. */
static int responder_usable(X509 *x, X509 *ca, int64_t now)
{
    int64_t nb = 0, na = 0;
    struct tm t;
    if (X509_check_issued(ca, x) != X509_V_OK)
        return 0;
    if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &t))
        return 0;
    nb = (int64_t)timegm(&t);
    if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &t))
        return 0;
    na = (int64_t)timegm(&t);
    return now >= nb && na - now > (na - nb) / 3;
}

int64_t ocsp_cert_not_after(X509 *x)
{
    struct tm t;
    if (x == NULL || !ASN1_TIME_to_tm(X509_get0_notAfter(x), &t))
        return 0;
    return (int64_t)timegm(&t);
}

/* The stored key: kept by the CA key's backend (certmint serve's key
 * process) when it offers that, else read here. NULL when absent. */
static cm_key *responder_key_load(ca_ctx *ca)
{
    char path[PATH_MAX];
    FILE *f = NULL;
    EVP_PKEY *pk = NULL;
    cm_key *k = NULL;
    cm_err rc = ca->signer != NULL ? key_open_aux(&k, ca->signer, 0) : CM_ERR_UNSUPPORTED;

    if (rc == CM_ERR_UNSUPPORTED && fs_join(path, sizeof(path), ca->home, OCSP_KEY_FILE) == CM_OK &&
        (f = fopen(path, "r")) != NULL) {
        pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (pk == NULL || key_from_pkey(&k, pk) != CM_OK)
            k = NULL;
        EVP_PKEY_free(pk);
    }
    return k;
}

/* Loads the stored pair; *x NULL when absent, unreadable or due. */
static void responder_load(X509 **x, cm_key **k, ca_ctx *ca)
{
    char path[PATH_MAX];
    FILE *f = NULL;
    *x = NULL;
    *k = NULL;
    if (fs_join(path, sizeof(path), ca->home, OCSP_CERT_FILE) == CM_OK &&
        (f = fopen(path, "r")) != NULL) {
        *x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (*x != NULL)
        *k = responder_key_load(ca);
    if (*x == NULL || *k == NULL || !X509_check_private_key(*x, key_public(*k)) ||
        !responder_usable(*x, ca->cert, (int64_t)time(NULL))) {
        X509_free(*x);
        key_close(*k);
        *x = NULL;
        *k = NULL;
    }
    cm_err_clear();
    ERR_clear_error();
}

static cm_err add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? CM_OK
              : cm_err_ossl(CM_ERR_CRYPTO, "OCSP responder certificate: extension %s",
                            OBJ_nid2sn(nid));
}

/* The certificate's body: subject = the CA's subject with
 * OU=OCSP Responder added, serial random (RFC 5280 4.1.2.2). */
static cm_err responder_body(X509 **out, ca_ctx *ca, EVP_PKEY *k, int64_t days)
{
    cm_err rc = CM_OK;
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    unsigned char sn[16];
    BIGNUM *bn = NULL;
    X509V3_CTX v3;

    CM_NOMEM_IF(x == NULL);
    if (RAND_bytes(sn, sizeof(sn)) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "random serial");
    sn[0] &= 0x7f;
    sn[0] |= 0x40;
    if ((bn = BN_bin2bn(sn, sizeof(sn), NULL)) == NULL ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "serial");
    name = X509_NAME_dup(X509_get_subject_name(ca->cert));
    CM_NOMEM_IF(name == NULL);
    if (!X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
                                    (const unsigned char *)"OCSP Responder", -1, -1, 0) ||
        !X509_set_version(x, 2) || !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
        !X509_set_subject_name(x, name) || !X509_set_pubkey(x, k) ||
        X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, NULL) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "OCSP responder certificate");
    X509V3_set_ctx(&v3, ca->cert, x, NULL, NULL, 0);
    CM_TRY(add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE"));
    CM_TRY(add_ext(x, &v3, NID_key_usage, "critical,digitalSignature"));
    CM_TRY(add_ext(x, &v3, NID_ext_key_usage, "OCSPSigning"));
    CM_TRY(add_ext(x, &v3, NID_subject_key_identifier, "hash"));
    CM_TRY(add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"));
    /* id-pkix-ocsp-nocheck: NULL value (RFC 6960 4.2.2.2.1). */
    CM_TRY(add_ext(x, &v3, NID_id_pkix_OCSP_noCheck, "ignored"));
    *out = x;
    x = NULL;
out:
    X509_free(x);
    X509_NAME_free(name);
    BN_free(bn);
    return rc;
}

/* Records the new certificate like every certificate this CA signs: in the
 * database (CertificateTemplate "ocsp-responder") and the audit log, in
 * one transaction. */
static cm_err responder_record(ca_ctx *ca, X509 *x)
{
    cm_err rc = CM_OK;
    char serial[CM_SERIAL_BUF];
    CM_TRY(db_begin(ca->db));
    CM_TRY(ca_import_checked_in_tx(ca, x, 0, "ocsp-responder", NULL, "OCSP responder certificate", NULL,
                                   serial));
    CM_TRY(ca_audit(ca, "ocsp-responder-issue", 0, serial, "delegated OCSP responder"));
    CM_TRY(db_commit(ca->db));
    log_info("issued the OCSP responder certificate %s", serial);
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}

/* k NULL: the key is stored by whoever keeps it (the key process). */
static cm_err responder_save(ca_ctx *ca, X509 *x, EVP_PKEY *k)
{
    cm_err rc = CM_OK;
    BIO *b = BIO_new(BIO_s_mem());
    char path[PATH_MAX];
    char *p = NULL;
    long n;
    CM_NOMEM_IF(b == NULL);
    if (k != NULL) {
        if (!PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "OCSP responder key");
        n = BIO_get_mem_data(b, &p);
        CM_TRY(fs_join(path, sizeof(path), ca->home, OCSP_KEY_FILE));
        CM_TRY(fs_write_atomic(path, p, (size_t)n, 0600));
        (void)BIO_reset(b);
    }
    if (!PEM_write_bio_X509(b, x))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "OCSP responder certificate");
    n = BIO_get_mem_data(b, &p);
    CM_TRY(fs_join(path, sizeof(path), ca->home, OCSP_CERT_FILE));
    CM_TRY(fs_write_atomic(path, p, (size_t)n, 0600));
out:
    BIO_free(b);
    return rc;
}

/* A new responder key: made by the CA key's backend when it keeps one
 * (the key process: *pk stays NULL, the key never comes here), else here
 * (*pk: to be stored). */
static cm_err responder_key_new(cm_key **k, EVP_PKEY **pk, ca_ctx *ca)
{
    cm_err rc = key_open_aux(k, ca->signer, 1);
    *pk = NULL;
    if (rc != CM_ERR_UNSUPPORTED)
        return rc;
    cm_err_clear();
    if ((*pk = EVP_EC_gen("P-256")) == NULL)
        return cm_err_ossl(CM_ERR_CRYPTO, "OCSP responder key");
    return key_from_pkey(k, *pk);
}

/* A usable responder pair: the stored one, or a new one issued now. */
cm_err ocsp_responder_obtain(X509 **xo, cm_key **ko, ca_ctx *ca, int64_t days, int force)
{
    cm_err rc = CM_OK;
    X509 *x = NULL;
    cm_key *k = NULL;
    EVP_PKEY *pk = NULL;

    if (!force)
        responder_load(&x, &k, ca);
    if (x == NULL) {
        if (ca->signer == NULL)
            CM_FAIL(CM_ERR_STATE, "OCSP responder certificate: the CA key is not loaded");
        CM_TRY(responder_key_new(&k, &pk, ca));
        CM_TRY(responder_body(&x, ca, key_public(k), days));
        CM_TRY(key_sign_cert(ca->signer, &x));
        CM_TRY(responder_record(ca, x));
        CM_TRY(responder_save(ca, x, pk));
    }
    *xo = x;
    *ko = k;
    x = NULL;
    k = NULL;
out:
    X509_free(x);
    key_close(k);
    EVP_PKEY_free(pk);
    return rc;
}
