/* host import (Import-ExchangeCertificate): a certificate from any CA,
 * matched to its pending key, its chain completed and verified. */
#include "host/host.h"

#include "ca/ca.h"
#include "util/dl_curl.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMPORT_MAX_CERTS 16 /* a leaf and its issuers */
#define AIA_MAX_BYTES (64 * 1024)

static cm_err push_certs(STACK_OF(X509) * sk, STACK_OF(X509) * from, const char *what)
{
    for (int i = 0; i < sk_X509_num(from); i++) {
        X509 *x = sk_X509_value(from, i);
        if (sk_X509_num(sk) >= IMPORT_MAX_CERTS)
            return cm_err_set(CM_ERR_INVALID, "%s: more than %d certificates", what,
                              IMPORT_MAX_CERTS);
        if (!X509_up_ref(x) || sk_X509_push(sk, x) <= 0)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    return CM_OK;
}

/* DER: one certificate, or a PKCS#7 SignedData (RFC 2315 9.1) carrying
 * certificates (.p7b, "certs-only"). */
static cm_err read_der(STACK_OF(X509) * sk, const unsigned char *data, size_t len, const char *what)
{
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    PKCS7 *p7 = NULL;
    cm_err rc = CM_OK;

    if (x != NULL && p == data + len) {
        if (sk_X509_num(sk) >= IMPORT_MAX_CERTS)
            CM_FAIL(CM_ERR_INVALID, "%s: more than %d certificates", what, IMPORT_MAX_CERTS);
        if (sk_X509_push(sk, x) <= 0)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        x = NULL;
        goto out;
    }
    p = data;
    p7 = d2i_PKCS7(NULL, &p, (long)len);
    if (p7 == NULL || p != data + len || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
        p7->d.sign->cert == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID,
                     "%s: not a certificate (PEM, DER) or a PKCS#7 bundle of certificates", what);
    CM_TRY(push_certs(sk, p7->d.sign->cert, what));
out:
    X509_free(x);
    PKCS7_free(p7);
    return rc;
}

/* PEM: every CERTIFICATE and PKCS7 block, in order; other blocks (a key
 * pasted alongside) are refused so that a key never travels by mistake. */
static cm_err read_pem(STACK_OF(X509) * sk, const unsigned char *data, size_t len, const char *what)
{
    cm_err rc = CM_OK;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *hdr = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    int blocks = 0;

    CM_NOMEM_IF(b == NULL);
    while (PEM_read_bio(b, &name, &hdr, &der, &dlen) == 1) {
        blocks++;
        if (strcmp(name, "CERTIFICATE") != 0 && strcmp(name, "X509 CERTIFICATE") != 0 &&
            strcmp(name, "PKCS7") != 0)
            CM_FAIL(CM_ERR_INVALID, "%s: block %d is '%s', not a certificate", what, blocks, name);
        CM_TRY(read_der(sk, der, (size_t)dlen, what));
        OPENSSL_free(name);
        OPENSSL_free(hdr);
        OPENSSL_free(der);
        name = hdr = NULL;
        der = NULL;
    }
    ERR_clear_error();
    if (blocks == 0)
        CM_FAIL(CM_ERR_INVALID, "%s: no PEM certificate in the file", what);
out:
    OPENSSL_free(name);
    OPENSSL_free(hdr);
    OPENSSL_free(der);
    BIO_free(b);
    return rc;
}

cm_err host_read_certs(void **out, const unsigned char *data, size_t len, const char *what)
{
    cm_err rc = CM_OK;
    STACK_OF(X509) *sk = sk_X509_new_null();

    *out = NULL;
    CM_NOMEM_IF(sk == NULL);
    if (len == 0 || len > HOST_MAX_FILE)
        CM_FAIL(CM_ERR_INVALID, "%s: empty or larger than %d bytes", what, HOST_MAX_FILE);
    if (memmem(data, len, "-----BEGIN ", 11) != NULL)
        CM_TRY(read_pem(sk, data, len, what));
    else
        CM_TRY(read_der(sk, data, len, what));
    if (sk_X509_num(sk) == 0)
        CM_FAIL(CM_ERR_INVALID, "%s: no certificate in the file", what);
    *out = sk;
    sk = NULL;
out:
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

static size_t aia_write(char *p, size_t sz, size_t n, void *ctx)
{
    cm_buf *b = ctx;
    return buf_append(b, p, sz * n) == CM_OK ? sz * n : 0;
}

/* The caIssuers URL of x's AIA (RFC 5280 4.2.2.1), http:// only (RFC 5280
 * says caIssuers over HTTP is DER or a certs-only PKCS#7). NULL when none. */
static char *aia_url(X509 *x)
{
    AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
    char *url = NULL;

    for (int i = 0; aia != NULL && url == NULL && i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
        ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
        if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers || ad->location->type != GEN_URI)
            continue;
        const ASN1_IA5STRING *s = ad->location->d.uniformResourceIdentifier;
        if (s->length > 7 && strncmp((const char *)s->data, "http://", 7) == 0 &&
            memchr(s->data, '\0', (size_t)s->length) == NULL)
            url = strndup((const char *)s->data, (size_t)s->length);
    }
    AUTHORITY_INFO_ACCESS_free(aia);
    return url;
}

/* Fetches the issuer of x from its AIA caIssuers URL into sk; CM_ERR_NOTFOUND
 * when x has none. */
static cm_err aia_fetch(STACK_OF(X509) * sk, X509 *x)
{
    cm_err rc = CM_OK;
    char *url = aia_url(x);
    CURL *c = NULL;
    cm_buf b = CM_BUF_INIT(AIA_MAX_BYTES);
    STACK_OF(X509) *got = NULL;
    long code = 0;
    CURLcode cc;

    if (url == NULL)
        return CM_ERR_NOTFOUND;
    rc = dl_curl_load("AIA fetch");
    if (rc != CM_OK) {
        free(url);
        return rc;
    }
    c = curl_easy_init();
    CM_NOMEM_IF(c == NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, aia_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if ((cc = curl_easy_perform(c)) != CURLE_OK)
        CM_FAIL(CM_ERR_NET, "AIA caIssuers %s: %s", url, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200)
        CM_FAIL(CM_ERR_NET, "AIA caIssuers %s: HTTP status %ld", url, code);
    CM_TRY(host_read_certs((void **)&got, b.data, b.len, url));
    CM_TRY(push_certs(sk, got, url));
out:
    sk_X509_pop_free(got, X509_free);
    buf_free(&b);
    curl_easy_cleanup(c);
    free(url);
    return rc;
}

/* The certificate in sk whose subject issued x and whose key signed it. */
static X509 *find_issuer(STACK_OF(X509) * sk, X509 *x)
{
    for (int i = 0; i < sk_X509_num(sk); i++) {
        X509 *c = sk_X509_value(sk, i);
        if (c != x && X509_check_issued(c, x) == X509_V_OK)
            return c;
    }
    return NULL;
}

/* The chain above leaf, in order, from the file and then the AIA URLs. The
 * root (self-issued) is not part of what a server sends but is kept as a
 * trust anchor in *roots. */
static cm_err build_chain(STACK_OF(X509) * chain, STACK_OF(X509) * roots, STACK_OF(X509) * all,
                          X509 *leaf, int allow_aia)
{
    cm_err rc = CM_OK;
    X509 *cur = leaf;

    for (int depth = 0; depth < IMPORT_MAX_CERTS; depth++) {
        if (X509_check_issued(cur, cur) == X509_V_OK)
            break; /* self-issued: the top */
        X509 *iss = find_issuer(all, cur);
        if (iss == NULL && allow_aia) {
            rc = aia_fetch(all, cur);
            if (rc == CM_ERR_NOTFOUND) {
                rc = CM_OK;
                break;
            }
            CM_TRY(rc);
            iss = find_issuer(all, cur);
        }
        if (iss == NULL)
            break;
        STACK_OF(X509) *dst = X509_check_issued(iss, iss) == X509_V_OK ? roots : chain;
        if (!X509_up_ref(iss) || sk_X509_push(dst, iss) <= 0)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        cur = iss;
    }
out:
    return rc;
}

static cm_err add_trust_pem(X509_STORE *store, const char *pem, size_t len, const char *what)
{
    STACK_OF(X509) *sk = NULL;
    cm_err rc = host_read_certs((void **)&sk, (const unsigned char *)pem, len, what);

    for (int i = 0; rc == CM_OK && i < sk_X509_num(sk); i++)
        if (X509_STORE_add_cert(store, sk_X509_value(sk, i)) != 1)
            rc = cm_err_ossl(CM_ERR_CRYPTO, "%s: trust anchor", what);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

/* The leaf's dates, then its chain to a trust anchor (RFC 5280 6.1). */
static cm_err verify_chain(X509 *leaf, STACK_OF(X509) * chain, const char *what,
                           const struct host_import_opts *o)
{
    cm_err rc = CM_OK;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    unsigned char *data = NULL;
    size_t len = 0;

    CM_NOMEM_IF(store == NULL || ctx == NULL);
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
        CM_FAIL(CM_ERR_INVALID, "%s: the certificate is not yet valid (notBefore in the future)",
                what);
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
        CM_FAIL(CM_ERR_INVALID, "%s: the certificate has expired", what);
    if (X509_STORE_set_default_paths(store) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the system's trust store");
    if (o->trust_file != NULL) {
        CM_TRY(fs_read_file(&data, &len, o->trust_file, HOST_MAX_FILE));
        CM_TRY(add_trust_pem(store, (const char *)data, len, o->trust_file));
    }
    if (o->trust_pem != NULL)
        CM_TRY(add_trust_pem(store, o->trust_pem, strlen(o->trust_pem), "the CA's root"));
    if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "verifying %s", what);
    if (X509_verify_cert(ctx) != 1)
        CM_FAIL(CM_ERR_INVALID, "%s: the chain does not verify: %s (certificate at depth %d)", what,
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)),
                X509_STORE_CTX_get_error_depth(ctx));
out:
    ERR_clear_error();
    free(data);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

/* The public key of the entry's last request. */
static cm_err entry_pubkey(EVP_PKEY **out, host_store *st, const char *name)
{
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;
    X509_REQ *req = NULL;
    cm_err rc = host_entry_file(path, sizeof(path), st, name, "request.csr");

    *out = NULL;
    if (rc == CM_OK && !fs_exists(path))
        return CM_ERR_NOTFOUND;
    if (rc == CM_OK)
        rc = fs_read_file(&data, &len, path, CA_MAX_CSR_BYTES);
    if (rc == CM_OK) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        if (req == NULL)
            rc = cm_err_ossl(CM_ERR_INVALID, "%s: not a PEM certificate request", path);
    }
    if (rc == CM_OK && (*out = X509_REQ_get_pubkey(req)) == NULL)
        rc = cm_err_ossl(CM_ERR_CRYPTO, "%s: public key", path);
    X509_REQ_free(req);
    free(data);
    return rc;
}

/* The entry and the certificate of sk whose public key it holds. */
static cm_err match_key(char name[HOST_NAME_MAX_LEN + 1], X509 **leaf, host_store *st,
                        STACK_OF(X509) * sk, const char *what)
{
    cm_err rc = CM_OK;
    char entries[PATH_MAX];
    DIR *d = NULL;
    struct dirent *de;
    EVP_PKEY *pk = NULL;

    *leaf = NULL;
    CM_TRY(fs_join(entries, sizeof(entries), host_store_dir(st), "entries"));
    d = opendir(entries);
    while (d != NULL && *leaf == NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || host_name_check(de->d_name) != CM_OK)
            continue;
        EVP_PKEY_free(pk);
        pk = NULL;
        if (entry_pubkey(&pk, st, de->d_name) != CM_OK)
            continue;
        for (int i = 0; i < sk_X509_num(sk); i++) {
            if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(sk, i)), pk) == 1) {
                *leaf = sk_X509_value(sk, i);
                snprintf(name, HOST_NAME_MAX_LEN + 1, "%s", de->d_name);
                break;
            }
        }
    }
    cm_err_clear();
    if (*leaf == NULL)
        CM_FAIL(CM_ERR_NOTFOUND,
                "%s: no key in the store %s matches the certificate's public key (was the "
                "request made with host request on this host?)",
                what, host_store_dir(st));
out:
    EVP_PKEY_free(pk);
    if (d != NULL)
        closedir(d);
    return rc;
}

static cm_err pem_of(cm_buf *b, STACK_OF(X509) * sk)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;
    cm_err rc = CM_OK;

    if (mem == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < sk_X509_num(sk); i++)
        if (PEM_write_bio_X509(mem, sk_X509_value(sk, i)) != 1)
            rc = cm_err_ossl(CM_ERR_CRYPTO, "PEM encoding");
    n = BIO_get_mem_data(mem, &p);
    if (rc == CM_OK && n > 0)
        rc = buf_append(b, p, (size_t)n);
    BIO_free(mem);
    return rc;
}

/* The certificate, its chain and the key (a renewal's key.new, or the
 * current key) as the entry's new generation (host_entry_commit). */
static cm_err store_cert(host_store *st, const char *name, X509 *leaf, STACK_OF(X509) * chain)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(HOST_MAX_FILE), c = CM_BUF_INIT(HOST_MAX_FILE);
    STACK_OF(X509) *one = sk_X509_new_null();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char sha1[41];

    CM_NOMEM_IF(one == NULL || sk_X509_push(one, leaf) <= 0);
    if (X509_digest(leaf, EVP_sha1(), md, &mdlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the certificate's SHA-1");
    text_hex(sha1, md, mdlen);
    CM_TRY(pem_of(&b, chain));
    CM_TRY(pem_of(&c, one));
    CM_TRY(host_entry_commit(st, name, sha1, c.data, c.len, b.data, b.len));
out:
    sk_X509_free(one);
    buf_free(&b);
    buf_free(&c);
    return rc;
}

cm_err host_import(char name[HOST_NAME_MAX_LEN + 1], host_store *st, const unsigned char *data,
                   size_t len, const char *what, const struct host_import_opts *o)
{
    cm_err rc = CM_OK;
    STACK_OF(X509) *all = NULL, *chain = sk_X509_new_null(), *roots = sk_X509_new_null();
    X509 *leaf = NULL;

    CM_NOMEM_IF(chain == NULL || roots == NULL);
    CM_TRY(host_read_certs((void **)&all, data, len, what));
    CM_TRY(match_key(name, &leaf, st, all, what));
    CM_TRY(build_chain(chain, roots, all, leaf, o->allow_aia));
    CM_TRY(verify_chain(leaf, chain, what, o));
    CM_TRY(store_cert(st, name, leaf, chain));
out:
    sk_X509_pop_free(roots, X509_free);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(all, X509_free);
    return rc;
}
