/* certmint serve --setup-tls: the HTTPS server certificate, requested from
 * the CA itself through the ordinary submission path (the tls-server
 * profile, its policy and lint, the database, the audit log and the exit
 * modules), so that it is a certificate like every other. */
#include "ca/ca.h"
#include "http/http_int.h"

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* "DNS:a,IP:1.2.3.4" from host names and addresses. */
static cm_err san_list(cm_buf *b, const char *names)
{
    cm_err rc = CM_OK;
    char *copy = strdup(names), *save = NULL;
    unsigned char addr[16];
    CM_NOMEM_IF(copy == NULL);
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t == '\0')
            continue;
        int ip = inet_pton(AF_INET, t, addr) == 1 || inet_pton(AF_INET6, t, addr) == 1;
        CM_TRY(buf_printf(b, "%s%s:%s", b->len ? "," : "", ip ? "IP" : "DNS", t));
    }
    if (b->len == 0)
        CM_FAIL(CM_ERR_INVALID, "--setup-tls: no host name to certify");
out:
    free(copy);
    return rc;
}

static cm_err make_csr(unsigned char **der, size_t *len, EVP_PKEY *k, const char *cn,
                       const char *sans)
{
    cm_err rc = CM_OK;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = NULL;
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *e = NULL;
    unsigned char *p = NULL;
    int l;

    CM_NOMEM_IF(req == NULL || exts == NULL);
    n = X509_REQ_get_subject_name(req);
    e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
    if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_REQ_set_pubkey(req, k) || e == NULL || !sk_X509_EXTENSION_push(exts, e))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "HTTPS certificate request");
    e = NULL;
    if (!X509_REQ_add_extensions(req, exts) || X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
        (l = i2d_X509_REQ(req, &p)) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "HTTPS certificate request");
    *der = p;
    *len = (size_t)l;
out:
    X509_EXTENSION_free(e);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return rc;
}

static cm_err write_pair(ca_ctx *ca, EVP_PKEY *k, const unsigned char *cert, size_t certlen)
{
    cm_err rc = CM_OK;
    BIO *b = BIO_new(BIO_s_mem());
    unsigned char *chain = NULL;
    size_t chainlen = 0;
    char path[PATH_MAX], *p = NULL;
    long n;

    CM_NOMEM_IF(b == NULL);
    if (!PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "HTTPS key");
    n = BIO_get_mem_data(b, &p);
    CM_TRY(fs_join(path, sizeof(path), ca_home(ca), "private/https.key"));
    CM_TRY(fs_write_atomic(path, p, (size_t)n, 0600));
    /* The leaf, then the CA and the issuers above it (RFC 8446 4.4.2). */
    CM_TRY(ca_cert_export(&chain, &chainlen, ca, cert, certlen, 1, CA_EXPORT_PEM));
    CM_TRY(fs_join(path, sizeof(path), ca_home(ca), "private/https.crt"));
    CM_TRY(fs_write_atomic(path, chain, chainlen, 0644));
    log_info("wrote %s and private/https.key", path);
out:
    free(chain);
    BIO_free(b);
    return rc;
}

cm_err http_setup_tls(ca_ctx *ca, const char *names)
{
    cm_err rc = CM_OK;
    cm_buf sans = CM_BUF_INIT(8192);
    EVP_PKEY *k = NULL;
    struct ca_submission sub;
    struct ca_submit_opts so;
    const char *listen = config_get(ca_config(ca), "https.listen");
    char host[256] = "localhost";
    unsigned char *csr = NULL;
    size_t csrlen = 0;

    memset(&sub, 0, sizeof(sub));
    memset(&so, 0, sizeof(so));
    if (listen != NULL && strrchr(listen, ':') != NULL) {
        size_t hl = (size_t)(strrchr(listen, ':') - listen);
        const char *h = listen;
        if (h[0] == '[' && hl >= 2) {
            h++;
            hl -= 2;
        }
        if (hl > 0 && hl < sizeof(host) && strncmp(h, "0.0.0.0", hl) != 0 &&
            strncmp(h, "::", hl) != 0)
            snprintf(host, sizeof(host), "%.*s", (int)hl, h);
    }
    CM_TRY(buf_printf(&sans, "%s%s%s", host, names ? "," : "", names ? names : ""));
    {
        cm_buf list = CM_BUF_INIT(8192);
        rc = san_list(&list, buf_str(&sans));
        if (rc == CM_OK && (k = EVP_EC_gen("P-256")) == NULL)
            rc = cm_err_ossl(CM_ERR_CRYPTO, "HTTPS key");
        if (rc == CM_OK)
            rc = make_csr(&csr, &csrlen, k, host, buf_str(&list));
        buf_free(&list);
        if (rc != CM_OK)
            goto out;
    }
    sub.csr = csr;
    sub.csr_len = csrlen;
    sub.source = "certmint serve --setup-tls";
    so.profile = "tls-server";
    so.requester = "certmint serve --setup-tls";
    CM_TRY(ca_submit(ca, &sub, 1, &so));
    if (sub.disposition != DB_DISP_ISSUED || sub.cert_der == NULL)
        CM_FAIL(CM_ERR_POLICY,
                "--setup-tls: request %lld was not issued at once (%s): approve it, then put "
                "the certificate in https.cert",
                (long long)sub.request_id, sub.message);
    CM_TRY(write_pair(ca, k, sub.cert_der, sub.cert_der_len));
    log_info("HTTPS certificate %s issued for %s (request %lld)", sub.serial, buf_str(&sans),
             (long long)sub.request_id);
out:
    ca_submission_clear(&sub);
    OPENSSL_free(csr);
    EVP_PKEY_free(k);
    buf_free(&sans);
    return rc;
}
