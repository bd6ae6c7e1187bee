/* host request (New-ExchangeCertificate): a key made on this host and a
 * PKCS#10 request (RFC 2986) for any CA. */
#include "host/host.h"

#include "ca/name.h"
#include "key/key.h"
#include "key/keystore.h"
#include "util/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The key types a host key may have: what Postfix, Dovecot and nginx all
 * load, and what Exchange offers (RSA 2048..4096); ECDSA P-256 / P-384. */
static cm_err host_key_spec(struct key_spec *ks, const char *s)
{
    cm_err rc = key_spec_parse(ks, s ? s : "rsa:2048");
    if (rc != CM_OK)
        return rc;
    if (ks->kind == KEY_RSA || ks->kind == KEY_EC_P256 || ks->kind == KEY_EC_P384)
        return CM_OK;
    return cm_err_set(CM_ERR_INVALID,
                      "--key %s: a host key is rsa:2048|3072|4096, ec:p256 or "
                      "ec:p384",
                      s);
}

/* subjectAltName (RFC 5280 4.2.1.6) from the --dns and --ip values, checked
 * as the CA checks them. */
static cm_err san_ext(STACK_OF(X509_EXTENSION) * *exts, const struct host_request_opts *o)
{
    cm_err rc = CM_OK;
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    X509_EXTENSION *ext = NULL;

    CM_NOMEM_IF(gens == NULL);
    for (size_t i = 0; i < o->ndns + o->nips; i++) {
        int dns = i < o->ndns;
        const char *v = dns ? o->dns[i] : o->ips[i - o->ndns];
        GENERAL_NAME *g = NULL;
        if ((rc = dns ? san_check_dns(v) : san_check_ip(v)) != CM_OK) {
            rc = cm_err_prefix(rc, "--%s", dns ? "dns" : "ip");
            goto out;
        }
        if (dns) {
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            CM_NOMEM_IF(s == NULL || (g = GENERAL_NAME_new()) == NULL);
            ASN1_STRING_set(s, v, (int)strlen(v));
            GENERAL_NAME_set0_value(g, GEN_DNS, s);
        } else {
            g = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, v, 0);
            CM_NOMEM_IF(g == NULL);
        }
        if (sk_GENERAL_NAME_push(gens, g) <= 0) {
            GENERAL_NAME_free(g);
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        }
    }
    if (sk_GENERAL_NAME_num(gens) == 0)
        goto out;
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
    if (ext == NULL || (*exts = sk_X509_EXTENSION_new_null()) == NULL ||
        sk_X509_EXTENSION_push(*exts, ext) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "subjectAltName extension");
    ext = NULL;
out:
    X509_EXTENSION_free(ext);
    GENERAL_NAMES_free(gens);
    return rc;
}

/* The request signed by the file key k, or by the token's key tk (through
 * the key ops: the private key never leaves the token). */
static cm_err make_csr(char **pem, EVP_PKEY *k, const cm_key *tk, const struct host_request_opts *o)
{
    cm_err rc = CM_OK;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subj = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    BIO *mem = NULL;
    char *p = NULL;
    long n;

    CM_NOMEM_IF(req == NULL);
    CM_TRY(name_parse_dn(&subj, o->subject));
    CM_TRY(san_ext(&exts, o));
    if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_subject_name(req, subj) != 1 ||
        X509_REQ_set_pubkey(req, tk ? key_public(tk) : k) != 1 ||
        (exts != NULL && X509_REQ_add_extensions(req, exts) != 1) ||
        (tk == NULL && X509_REQ_sign(req, k, EVP_sha256()) <= 0))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "making the request for '%s'", o->name);
    if (tk != NULL)
        CM_TRY(key_sign_req(tk, &req));
    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    if (PEM_write_bio_X509_REQ(mem, req) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "encoding the request");
    n = BIO_get_mem_data(mem, &p);
    CM_NOMEM_IF((*pem = strndup(p, (size_t)n)) == NULL);
out:
    BIO_free(mem);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subj);
    X509_REQ_free(req);
    return rc;
}

static cm_err save_key(EVP_PKEY *k, const char *path, const char *pass_file)
{
    cm_err rc = CM_OK;
    char pass[1024];
    BIO *mem = NULL;
    char *p = NULL;
    long n;

    pass[0] = '\0';
    if (pass_file != NULL) {
        CM_TRY(key_read_passphrase(pass, sizeof(pass), pass_file, 0));
        CM_TRY(key_save_encrypted(k, path, pass));
        goto out;
    }
    mem = BIO_new(BIO_s_secmem());
    CM_NOMEM_IF(mem == NULL);
    if (PEM_write_bio_PKCS8PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "encoding the key");
    n = BIO_get_mem_data(mem, &p);
    CM_TRY(fs_write_atomic(path, p, (size_t)n, 0600));
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    BIO_free(mem);
    return rc;
}

/* A host key in a PKCS#11 token (RFC 7512 URI, the PIN from its
 * pin-source): generated there by the core's key backend, or the token's
 * existing key of that label. Never exportable, never in a file. */
static cm_err token_key(cm_key **out, const struct host_request_opts *o)
{
    struct key_spec ks;
    struct key_open_opts ko = {NULL, 0, 0};
    int created = 0;
    cm_err rc;

    if (!key_ref_is_uri(o->key_uri) || strncmp(o->key_uri, "pkcs11:", 7) != 0)
        return cm_err_set(CM_ERR_INVALID, "--key %s: a key type or a pkcs11: URI", o->key_uri);
    if (o->exportable || o->passphrase_file != NULL)
        return cm_err_set(CM_ERR_INVALID,
                          "--key %s: a key in a token is neither exportable nor encrypted by a "
                          "passphrase (--exportable, --key-passphrase-file)",
                          o->key_uri);
    if ((rc = host_key_spec(&ks, o->key_spec)) != CM_OK)
        return rc;
    return key_create(out, &created, o->key_uri, &ks, &ko);
}

/* The entry's files: new key (or the old one when renewing without
 * --rekey is handled by the caller through key_spec NULL), CSR, entry.conf.
 * The key is written last-but-one and the entry.conf last: an entry without
 * entry.conf is not listed. */
cm_err host_request(char **csr_pem, host_store *st, const struct host_request_opts *o)
{
    cm_err rc = CM_OK;
    struct key_spec ks;
    EVP_PKEY *k = NULL;
    char dir[PATH_MAX], path[PATH_MAX], kname[32];
    struct host_kv kv = {0, NULL};
    cm_key *tk = NULL;

    *csr_pem = NULL;
    CM_TRY(host_entry_dir(dir, sizeof(dir), st, o->name));
    if (o->subject == NULL)
        CM_FAIL(CM_ERR_INVALID, "host request: --subject is required");
    CM_TRY(host_key_spec(&ks, o->key_spec));
    if (fs_exists(dir) && !o->replace)
        CM_FAIL(CM_ERR_EXISTS, "entry '%s' exists in the store %s (host remove, or host renew)",
                o->name, host_store_dir(st));
    if (o->key_uri != NULL) {
        CM_TRY(token_key(&tk, o));
        key_spec_of(&ks, key_public(tk)); /* the token's key, made or found */
    } else
        CM_TRY(key_generate(&k, &ks));
    CM_TRY(make_csr(csr_pem, k, tk, o));
    CM_TRY(fs_mkdirs(dir, 0700));
    if (o->replace)
        CM_TRY(host_entry_meta(&kv, st, o->name));
    CM_TRY(host_kv_set(&kv, "key", key_spec_name(&ks, kname, sizeof(kname))));
    CM_TRY(host_kv_set(&kv, "key_uri", o->key_uri ? o->key_uri : ""));
    CM_TRY(host_kv_set(&kv, "exportable", o->exportable ? "yes" : "no"));
    CM_TRY(host_kv_set(&kv, "encrypted", o->passphrase_file ? "yes" : "no"));
    CM_TRY(host_entry_file(path, sizeof(path), st, o->name, "request.csr"));
    CM_TRY(fs_write_atomic(path, *csr_pem, strlen(*csr_pem), 0644));
    /* When renewing, a new key goes beside the old one until its
     * certificate is imported (host_import swaps them). */
    CM_TRY(host_entry_file(path, sizeof(path), st, o->name, o->replace ? "key.new" : "key.pem"));
    if (tk == NULL)
        CM_TRY(save_key(k, path, o->passphrase_file));
    CM_TRY(host_entry_meta_write(st, o->name, &kv));
out:
    if (rc != CM_OK) {
        free(*csr_pem);
        *csr_pem = NULL;
    }
    host_kv_free(&kv);
    key_close(tk);
    EVP_PKEY_free(k);
    return rc;
}
