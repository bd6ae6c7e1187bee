/* A CA context filled by hand for unit tests: a P-256 key, a self-signed
 * CA certificate, a new SQLite database and an empty configuration in dir;
 * no CA home files, no passphrase. Shared by the tests that need a ca_ctx. */
#ifndef CM_TESTS_FIXTURE_CA_H
#define CM_TESTS_FIXTURE_CA_H

#include "ca/ca.h"
#include "ca/ca_int.h"
#include "ca/issue_int.h"
#include "util/fsutil.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

static X509 *make_ca_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX ctx;
    int ok =
        x && n && X509_set_version(x, X509_VERSION_3) &&
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                   (const unsigned char *)"certmint unit test CA", -1, -1, 0) &&
        X509_set_subject_name(x, n) && X509_set_issuer_name(x, n) &&
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
        X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650) && X509_set_pubkey(x, key);
    if (ok) {
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             X509_sign(x, key, EVP_sha256()) > 0;
    }
    X509_NAME_free(n);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static ca_ctx *open_test_ca(const char *dir)
{
    ca_ctx *ca = calloc(1, sizeof(*ca));
    const ASN1_OCTET_STRING *ski;

    if (ca == NULL)
        return NULL;
    snprintf(ca->home, sizeof(ca->home), "%s", dir);
    if (fs_mkdirs(dir, 0700) != CM_OK || config_new(&ca->cfg) != CM_OK ||
        db_open_home(&ca->db, dir, 1) != CM_OK)
        return ca;
    ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    /* The signer holds its own reference; ca->key stays the fixture's. */
    if (ca->key != NULL && key_from_pkey(&ca->signer, ca->key) != CM_OK)
        ca->signer = NULL;
    ca->cert = ca->key ? make_ca_cert(ca->key) : NULL;
    ski = ca->cert ? X509_get0_subject_key_id(ca->cert) : NULL;
    if (ski) {
        ca->ski_len = (size_t)ASN1_STRING_length(ski);
        memcpy(ca->ski, ASN1_STRING_get0_data(ski), ca->ski_len);
    }
    ca->operator_name = "tester";
    return ca;
}

static void close_test_ca(ca_ctx *ca)
{
    if (ca == NULL)
        return;
    issue_cache_free(ca); /* filled by an issuance through this session */
    db_close(ca->db);
    config_free(ca->cfg);
    X509_free(ca->cert);
    key_close(ca->signer);
    EVP_PKEY_free(ca->key);
    free(ca);
}

/* A placeholder certificate row (and its request) for serial. */

#endif
