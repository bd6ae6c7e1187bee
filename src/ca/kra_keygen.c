/* Way (b) of key archival (issue 12, docs/key-archival.md), as EJBCA does
 * it: the CA generates the key pair for a request. The key lives only in
 * memory: archived (sealed and split M-of-N, kra_submit.c) when the profile
 * says so, and handed to the requester as a PKCS#12 under the requester's
 * password; it is never written unencrypted. */
#include "ca/kra_int.h"

#include "ca/name.h"
#include "kra/kra.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

struct ca_keygen {
    EVP_PKEY *key;
    unsigned char *csr; /* DER of the request made for key */
    size_t csr_len;
};

void kra_keygen_free(struct ca_keygen *g)
{
    if (g == NULL)
        return;
    EVP_PKEY_free(g->key);
    OPENSSL_free(g->csr);
    free(g);
}

EVP_PKEY *kra_keygen_pkey(const struct ca_submission *s)
{
    return s->keygen != NULL ? s->keygen->key : NULL;
}

/* The request's subject: the DN given, or a placeholder that a token's
 * binding replaces (token_binding_apply). */
static cm_err req_subject(X509_REQ *r, const struct ca_keygen_opts *o)
{
    X509_NAME *n = NULL;
    cm_err rc = CM_OK;

    if (o->subject == NULL && !o->bound)
        return cm_err_set(CM_ERR_INVALID, "a generated key needs a subject (--subject DN), "
                                          "or a token that binds one (--token-file)");
    if (o->subject != NULL) {
        CM_TRY(name_parse_dn(&n, o->subject));
    } else {
        n = X509_NAME_new();
        CM_NOMEM_IF(n == NULL);
        if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"token-bound",
                                        -1, -1, 0))
            CM_FAIL_OSSL(CM_ERR_NOMEM, "out of memory");
    }
    if (!X509_REQ_set_subject_name(r, n))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "out of memory");
out:
    X509_NAME_free(n);
    return rc;
}

/* The SANs asked for, as the extensionRequest attribute (RFC 2986 4.1,
 * RFC 2985 5.4.2). */
static cm_err req_sans(X509_REQ *r, const char *sans)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_EXTENSION *e = NULL;
    cm_err rc = CM_OK;

    if (sans == NULL || sans[0] == '\0')
        return CM_OK;
    e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
    if (e == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID,
                     "--san '%s': not a subjectAltName list "
                     "(email:a@example.org,DNS:host.example.org)",
                     sans);
    exts = sk_X509_EXTENSION_new_null();
    CM_NOMEM_IF(exts == NULL || !sk_X509_EXTENSION_push(exts, e));
    e = NULL;
    if (!X509_REQ_add_extensions(r, exts))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot add the SANs to the request");
out:
    X509_EXTENSION_free(e);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* The request, signed by the new key (proof of possession as for any
 * request: the issuance path checks the signature). */
static cm_err req_make(struct ca_keygen *g, const struct ca_keygen_opts *o)
{
    X509_REQ *r = X509_REQ_new();
    unsigned char *der = NULL;
    int n;
    cm_err rc = CM_OK;

    CM_NOMEM_IF(r == NULL);
    CM_TRY(req_subject(r, o));
    CM_TRY(req_sans(r, o->sans));
    if (!X509_REQ_set_pubkey(r, g->key) ||
        X509_REQ_sign(r, g->key,
                      EVP_PKEY_get_id(g->key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot sign the request of the generated key");
    n = i2d_X509_REQ(r, &der);
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the request of the generated key");
    g->csr = der;
    g->csr_len = (size_t)n;
out:
    X509_REQ_free(r);
    return rc;
}

cm_err ca_keygen_prepare(struct ca_submission *s, const struct ca_keygen_opts *o)
{
    struct ca_keygen *g = NULL;
    struct key_spec spec;
    cm_err rc;

    if (s->archive_env != NULL)
        return cm_err_set(CM_ERR_INVALID, "a generated key and an archive envelope exclude each "
                                          "other (the CA makes the key it archives)");
    g = calloc(1, sizeof(*g));
    CM_NOMEM_IF(g == NULL);
    CM_TRY(key_spec_parse(&spec, o->key_spec ? o->key_spec : "rsa:3072"));
    CM_TRY(key_generate(&g->key, &spec));
    CM_TRY(req_make(g, o));
    kra_keygen_free(s->keygen);
    s->keygen = g;
    s->csr = g->csr;
    s->csr_len = g->csr_len;
    if (s->source == NULL)
        s->source = "generated key";
    g = NULL;
out:
    kra_keygen_free(g);
    return rc;
}

cm_err ca_keygen_p12(unsigned char **p12, size_t *len, ca_ctx *ca, const struct ca_submission *s,
                     const char *password)
{
    X509 *x = NULL;
    cm_err rc;

    *p12 = NULL;
    if (s->keygen == NULL)
        return cm_err_set(CM_ERR_STATE, "no key was generated for this request");
    if (s->disposition != DB_DISP_ISSUED)
        return cm_err_set(CM_ERR_STATE, "request %lld was not issued: no PKCS#12",
                          (long long)s->request_id);
    if (s->cert_der == NULL)
        return cm_err_set(CM_ERR_WITHHELD,
                          "certificate %s is withheld until its off-box audit record is "
                          "acknowledged: no PKCS#12 (an archived key can be recovered)",
                          s->serial);
    if (password == NULL || password[0] == '\0')
        return cm_err_set(CM_ERR_INVALID, "the PKCS#12 needs a non-empty password");
    CM_TRY(ca_cert_parse(&x, s->cert_der, s->cert_der_len, s->serial));
    if (X509_check_private_key(x, s->keygen->key) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the generated key does not match certificate %s", s->serial);
    CM_TRY(kra_p12_make(p12, len, s->keygen->key, x, ca, password));
out:
    X509_free(x);
    return rc;
}
