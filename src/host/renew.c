/* host submit / renew: requests to a certmint CA home on this machine
 * through the core library (the REST submission comes with the API). */
#include "host/host.h"

#include "ca/ca.h"
#include "ca/query.h"
#include "key/keystore.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <limits.h>
#include <stdint.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static cm_err open_ca(ca_t **h, ca_ctx **s, const struct host_ca *ca)
{
    struct ca_open_opts o = {ca->passphrase_file, 0, 1};
    struct ca_actor who = {CA_ACTOR_SERVICE, "certmint-host"};
    cm_err rc;

    *s = NULL;
    if (ca->home == NULL)
        return cm_err_set(CM_ERR_CONFIG, "no CA home: give --ca-home DIR");
    if ((rc = ca_open(h, ca->home, &o)) != CM_OK)
        return rc;
    if ((rc = ca_session_open(s, *h, ca->actor ? ca->actor : &who)) != CM_OK) {
        ca_close(*h);
        *h = NULL;
    }
    return rc;
}

static void close_ca(ca_t *h, ca_ctx *s)
{
    ca_session_close(s);
    ca_close(h);
}

/* The issued certificate with the CA's chain, imported into the store;
 * the CA's root is the trust anchor. */
static cm_err import_issued(char name[HOST_NAME_MAX_LEN + 1], host_store *st, ca_ctx *s,
                            const unsigned char *der, size_t len)
{
    cm_err rc = CM_OK;
    char *chain = NULL, *leaf = NULL;
    cm_buf b = CM_BUF_INIT(HOST_MAX_FILE);
    struct host_import_opts o = {NULL, NULL, 0};
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    BIO *mem = BIO_new(BIO_s_mem());

    CM_NOMEM_IF(mem == NULL);
    if (x == NULL || PEM_write_bio_X509(mem, x) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the issued certificate");
    long n = BIO_get_mem_data(mem, &leaf);
    CM_TRY(buf_append(&b, leaf, (size_t)n));
    CM_TRY(ca_cert_pem(&chain, s, 1));
    CM_TRY(buf_append_str(&b, chain));
    o.trust_pem = chain;
    CM_TRY(host_import(name, st, b.data, b.len, "the issued certificate", &o));
out:
    BIO_free(mem);
    X509_free(x);
    free(chain);
    buf_free(&b);
    return rc;
}

/* A request recorded as pending at the CA: still pending, or decided. */
struct pend_find {
    int64_t id;
    int found;
};
static cm_err pend_cb(void *ctx, const struct ca_pending *p)
{
    struct pend_find *f = ctx;
    if (p->request_id == f->id)
        f->found = 1;
    return CM_OK;
}

/* Fills out for request id: pending, or issued (*der) or denied. */
static cm_err poll_request(struct host_submit_result *out, ca_ctx *s, int64_t id,
                           unsigned char **der, size_t *len)
{
    struct pend_find f = {id, 0};
    cm_err rc = ca_pending_list(s, pend_cb, &f);

    out->request_id = id;
    if (rc != CM_OK)
        return rc;
    if (f.found) {
        out->disposition = DB_DISP_PENDING;
        snprintf(out->message, sizeof(out->message), "request %lld is pending at the CA",
                 (long long)id);
        return CM_OK;
    }
    rc = ca_retrieve(s, id, der, len);
    if (rc == CM_ERR_STATE) {
        out->disposition = DB_DISP_DENIED;
        snprintf(out->message, sizeof(out->message), "%s", cm_err_msg());
        return CM_OK;
    }
    if (rc == CM_OK)
        out->disposition = DB_DISP_ISSUED;
    return rc;
}

static cm_err read_csr(unsigned char **data, size_t *len, host_store *st, const char *name)
{
    char path[PATH_MAX];
    cm_err rc = host_entry_file(path, sizeof(path), st, name, "request.csr");
    return rc != CM_OK ? rc : fs_read_file(data, len, path, CA_MAX_CSR_BYTES);
}

/* Submits (or, when the entry waits on a pending request, polls) and
 * imports an issued certificate. */
static cm_err submit_entry(struct host_submit_result *out, host_store *st, const char *name,
                           ca_ctx *s, struct host_kv *meta, const struct host_ca *ca)
{
    cm_err rc = CM_OK;
    struct ca_submission sub;
    struct ca_submit_opts so = {.profile = ca->profile};
    unsigned char *csr = NULL, *der = NULL;
    size_t csrlen = 0, derlen = 0;
    const char *pend = host_kv_get(meta, "pending_request");
    char idbuf[32];

    memset(&sub, 0, sizeof(sub));
    if (pend != NULL && pend[0] != '\0') {
        CM_TRY(poll_request(out, s, strtoll(pend, NULL, 10), &der, &derlen));
    } else {
        CM_TRY(read_csr(&csr, &csrlen, st, name));
        sub.csr = csr;
        sub.csr_len = csrlen;
        sub.source = name;
        CM_TRY(ca_submit(s, &sub, 1, &so));
        out->request_id = sub.request_id;
        out->disposition = sub.disposition;
        snprintf(out->message, sizeof(out->message), "%s", sub.message);
        der = sub.cert_der;
        derlen = sub.cert_der_len;
        sub.cert_der = NULL;
    }
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)out->request_id);
    CM_TRY(host_kv_set(meta, "pending_request", out->disposition == DB_DISP_PENDING ? idbuf : ""));
    CM_TRY(host_kv_set(meta, "ca_home", ca->home));
    CM_TRY(host_kv_set(meta, "profile", ca->profile ? ca->profile : ""));
    CM_TRY(host_entry_meta_write(st, name, meta));
    if (out->disposition == DB_DISP_ISSUED && der != NULL)
        CM_TRY(import_issued(out->name, st, s, der, derlen));
out:
    ca_submission_clear(&sub);
    free(csr);
    free(der);
    return rc;
}

cm_err host_submit_local(struct host_submit_result *out, host_store *st, const char *name,
                         const struct host_ca *ca)
{
    cm_err rc = CM_OK;
    ca_t *h = NULL;
    ca_ctx *s = NULL;
    struct host_kv meta = {0, NULL};

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    CM_TRY(host_entry_meta(&meta, st, name));
    CM_TRY(open_ca(&h, &s, ca));
    CM_TRY(submit_entry(out, st, name, s, &meta, ca));
out:
    close_ca(h, s);
    host_kv_free(&meta);
    return rc;
}

/* --rekey: a new key of the same type, and a request with the old one's
 * subject and extensions (RFC 2986), signed by the new key; the key waits
 * as key.new until its certificate is imported. */
static cm_err rekey(host_store *st, const char *name, const char *key_pass)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *in = NULL, *mem = NULL;
    X509_REQ *req = NULL;
    EVP_PKEY *old = NULL, *k = NULL;
    struct key_spec ks;
    char path[PATH_MAX], pass[1024], *p = NULL;

    pass[0] = '\0';
    CM_TRY(read_csr(&data, &len, st, name));
    in = BIO_new_mem_buf(data, (int)len);
    if (in == NULL || (req = PEM_read_bio_X509_REQ(in, NULL, NULL, NULL)) == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "the request of '%s'", name);
    CM_NOMEM_IF((old = X509_REQ_get_pubkey(req)) == NULL);
    key_spec_of(&ks, old);
    CM_TRY(key_generate(&k, &ks));
    if (X509_REQ_set_pubkey(req, k) != 1 || X509_REQ_sign(req, k, EVP_sha256()) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "signing the new request of '%s'", name);
    CM_TRY(host_entry_file(path, sizeof(path), st, name, "key.new"));
    CM_NOMEM_IF((mem = BIO_new(BIO_s_secmem())) == NULL);
    if (key_pass != NULL) {
        CM_TRY(key_read_passphrase(pass, sizeof(pass), key_pass, 0));
        CM_TRY(key_save_encrypted(k, path, pass));
    } else {
        if (PEM_write_bio_PKCS8PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL) != 1)
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "encoding the key");
        long n = BIO_get_mem_data(mem, &p);
        CM_TRY(fs_write_atomic(path, p, (size_t)n, 0600));
    }
    BIO_free(mem);
    CM_NOMEM_IF((mem = BIO_new(BIO_s_mem())) == NULL);
    if (PEM_write_bio_X509_REQ(mem, req) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "encoding the request");
    long n = BIO_get_mem_data(mem, &p);
    CM_TRY(host_entry_file(path, sizeof(path), st, name, "request.csr"));
    CM_TRY(fs_write_atomic(path, p, (size_t)n, 0644));
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    BIO_free(mem);
    BIO_free(in);
    EVP_PKEY_free(k);
    EVP_PKEY_free(old);
    X509_REQ_free(req);
    free(data);
    return rc;
}

/* Did the entry come from a certmint CA (a home here, or a URL)? */
static int from_ca(const struct host_kv *meta)
{
    const char *home = host_kv_get(meta, "ca_home"), *url = host_kv_get(meta, "ca_url");
    return (home != NULL && home[0] != '\0') || (url != NULL && url[0] != '\0');
}

/* The renewal's request to the CA the entry came from; over the REST API
 * it authenticates with the entry's own certificate (a renewal of its own
 * subject), or for a pending renewal as whoever submitted it. */
static cm_err submit_again(struct host_submit_result *res, host_store *st, const char *name,
                           const struct host_kv *meta, const struct host_ca *ca,
                           const char *key_pass)
{
    const char *url = host_kv_get(meta, "ca_url"), *pend = host_kv_get(meta, "pending_request");
    struct host_rest r;

    if (url == NULL || url[0] == '\0')
        return host_submit_local(res, st, name, ca);
    memset(&r, 0, sizeof(r));
    r.key_pass_file = key_pass;
    r.self_auth = pend == NULL || pend[0] == '\0';
    return host_submit_rest(res, st, name, &r);
}

/* One entry: rekey if asked, submit to its CA, enable its services again. */
static cm_err renew_one(host_store *st, const char *name, const struct host_renew_opts *o,
                        host_renew_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    struct host_kv meta = {0, NULL};
    struct host_info before;
    struct host_submit_result res;
    struct host_ca ca = {NULL, o->ca_pass_file, NULL, NULL};
    unsigned mask = 0;
    char what[1200], gone[420];
    int enc;

    memset(&before, 0, sizeof(before));
    CM_TRY(host_info_get(&before, st, name));
    CM_TRY(host_entry_meta(&meta, st, name));
    ca.home = host_kv_get(&meta, "ca_home");
    ca.profile = host_kv_get(&meta, "profile");
    if (ca.profile != NULL && ca.profile[0] == '\0')
        ca.profile = NULL;
    if (!from_ca(&meta))
        CM_FAIL(CM_ERR_STATE,
                "'%s' did not come from a certmint CA (host submit): renew it "
                "with host request and host import",
                name);
    if (o->rekey && strncmp(before.key, "pkcs11 ", 7) == 0)
        CM_FAIL(CM_ERR_UNSUPPORTED,
                "'%s': its key is in a PKCS#11 token: a new key there is host request with a "
                "new object= label (renew without --rekey keeps the key)",
                name);
    enc = before.encrypted;
    if (o->rekey && enc && o->key_pass_file == NULL)
        CM_FAIL(CM_ERR_AUTH, "'%s': its key is encrypted: give --key-passphrase-file", name);
    if (o->rekey)
        CM_TRY(rekey(st, name, enc ? o->key_pass_file : NULL));
    CM_TRY(submit_again(&res, st, name, &meta, &ca, o->key_pass_file));
    if (res.disposition != DB_DISP_ISSUED) {
        snprintf(what, sizeof(what), "%s (request %lld): %s",
                 res.disposition == DB_DISP_PENDING ? "pending" : "refused",
                 (long long)res.request_id, res.message);
        cb(ctx, name, what);
        if (res.disposition != DB_DISP_PENDING)
            rc = cm_err_set(CM_ERR_POLICY, "'%s': the CA refused the renewal: %s", name,
                            res.message);
        goto out;
    }
    if (before.services[0] != '\0') {
        CM_TRY(host_services_parse(&mask, before.services));
        CM_TRY(host_enable(st, name, mask, o->key_pass_file));
    }
    /* Every service of the entry is on the new certificate now. */
    CM_TRY(host_prune(st, name, gone, sizeof(gone)));
    snprintf(what, sizeof(what), "renewed (request %lld)%s%s%s%s", (long long)res.request_id,
             mask ? ", enabled for " : "", mask ? before.services : "", gone[0] ? ", removed " : "",
             gone);
    cb(ctx, name, what);
out:
    host_info_clear(&before);
    host_kv_free(&meta);
    return rc;
}

static cm_err due_cb(void *ctx, const struct host_info *i)
{
    cm_buf *names = ctx;
    return buf_printf(names, "%s\n", i->name);
}

cm_err host_renew(host_store *st, const struct host_renew_opts *o, host_renew_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    cm_buf names = CM_BUF_INIT(1024 * 1024);
    char name[HOST_NAME_MAX_LEN + 1];
    struct host_info i;
    struct host_kv meta = {0, NULL};
    int64_t now = (int64_t)time(NULL);

    memset(&i, 0, sizeof(i));
    if (!o->all) {
        CM_TRY(host_find(name, st, o->which));
        CM_TRY(renew_one(st, name, o, cb, ctx));
        goto out;
    }
    CM_TRY(host_list(st, due_cb, &names));
    for (char *p = (char *)names.data; p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        host_info_clear(&i);
        host_kv_free(&meta);
        CM_TRY(host_info_get(&i, st, p));
        CM_TRY(host_entry_meta(&meta, st, p));
        if (!i.has_cert || !from_ca(&meta))
            cb(ctx, p, "skipped (not from a certmint CA)");
        else if (i.not_after - now > (int64_t)o->window_days * 86400)
            cb(ctx, p, "not due");
        else
            CM_TRY(renew_one(st, p, o, cb, ctx));
        p = nl + 1;
    }
out:
    host_kv_free(&meta);
    host_info_clear(&i);
    buf_free(&names);
    return rc;
}

/* certmonger's exit statuses (certmonger doc/submit.txt). */
enum {
    CMG_ISSUED = 0,
    CMG_WAIT = 1,
    CMG_REJECTED = 2,
    CMG_UNREACHABLE = 3,
    CMG_UNCONFIGURED = 4,
    CMG_UNSUPPORTED = 6
};

static int cm_result(cm_buf *out, struct host_submit_result *r, const unsigned char *der,
                     size_t len)
{
    const unsigned char *p = der;
    X509 *x = NULL;
    BIO *mem = NULL;
    char *pem = NULL;
    int status = CMG_UNREACHABLE;

    if (r->disposition == DB_DISP_PENDING)
        return buf_printf(out, "%lld\n", (long long)r->request_id) == CM_OK ? CMG_WAIT
                                                                            : CMG_UNREACHABLE;
    if (r->disposition != DB_DISP_ISSUED)
        return buf_printf(out, "%s\n", r->message) == CM_OK ? CMG_REJECTED : CMG_UNREACHABLE;
    if (der == NULL) /* strict audit mode: withheld until released; ask again */
        return buf_printf(out, "%lld\n", (long long)r->request_id) == CM_OK ? CMG_WAIT
                                                                            : CMG_UNREACHABLE;
    if ((x = d2i_X509(NULL, &p, (long)len)) != NULL && (mem = BIO_new(BIO_s_mem())) != NULL &&
        PEM_write_bio_X509(mem, x) == 1) {
        long n = BIO_get_mem_data(mem, &pem);
        if (buf_append(out, pem, (size_t)n) == CM_OK)
            status = CMG_ISSUED;
    }
    BIO_free(mem);
    X509_free(x);
    return status;
}

static int cm_failure(cm_buf *out, cm_err rc)
{
    buf_reset(out);
    if (buf_printf(out, "%s\n", cm_err_msg()) != CM_OK)
        buf_reset(out);
    if (rc == CM_ERR_INVALID || rc == CM_ERR_POLICY)
        return CMG_REJECTED;
    if (rc == CM_ERR_CONFIG || rc == CM_ERR_NOTFOUND || rc == CM_ERR_AUTH)
        return CMG_UNCONFIGURED;
    return CMG_UNREACHABLE;
}

/* SUBMIT (a CSR) or POLL (a cookie: the RequestID). */
static int cm_submit_poll(cm_buf *out, const struct host_cm_env *env, ca_ctx *s,
                          const struct host_ca *ca)
{
    struct host_submit_result r;
    struct ca_submission sub;
    struct ca_submit_opts so = {.profile = ca->profile, .requester = "certmonger"};
    unsigned char *der = NULL;
    size_t len = 0;
    long long id = 0;
    cm_err rc;
    int status;

    memset(&r, 0, sizeof(r));
    memset(&sub, 0, sizeof(sub));
    if (strcmp(env->operation, "POLL") == 0) {
        if (env->cookie == NULL ||
            text_parse_int(&id, env->cookie, 1, INT64_MAX, "CERTMONGER_CA_COOKIE") != CM_OK)
            return cm_failure(out, CM_ERR_INVALID);
        rc = poll_request(&r, s, (int64_t)id, &der, &len);
    } else {
        if (env->csr == NULL || env->csr[0] == '\0')
            return cm_failure(out, cm_err_set(CM_ERR_INVALID, "CERTMONGER_CSR is not set"));
        sub.csr = (const unsigned char *)env->csr;
        sub.csr_len = strlen(env->csr);
        sub.source = "CERTMONGER_CSR";
        rc = ca_submit(s, &sub, 1, &so);
        r.disposition = sub.disposition;
        r.request_id = sub.request_id;
        snprintf(r.message, sizeof(r.message), "%s", sub.message);
        der = sub.cert_der;
        len = sub.cert_der_len;
        sub.cert_der = NULL;
    }
    status = rc == CM_OK ? cm_result(out, &r, der, len) : cm_failure(out, rc);
    ca_submission_clear(&sub);
    free(der);
    return status;
}

int host_certmonger(cm_buf *out, const struct host_cm_env *env, const struct host_ca *ca)
{
    struct ca_actor who = {CA_ACTOR_SERVICE, "certmonger"};
    struct host_ca c = *ca;
    ca_t *h = NULL;
    ca_ctx *s = NULL;
    cm_err rc;
    int status;

    if (env->operation == NULL)
        return cm_failure(out, cm_err_set(CM_ERR_CONFIG, "CERTMONGER_OPERATION is not set"));
    if (strcmp(env->operation, "IDENTIFY") == 0)
        return buf_append_str(out, "certmint host certmonger-helper\n") == CM_OK ? CMG_ISSUED
                                                                                 : CMG_UNREACHABLE;
    if (strcmp(env->operation, "SUBMIT") != 0 && strcmp(env->operation, "POLL") != 0 &&
        !host_certmonger_is_cadata(env->operation))
        return CMG_UNSUPPORTED;
    if (c.actor == NULL)
        c.actor = &who;
    if ((rc = open_ca(&h, &s, &c)) != CM_OK)
        return cm_failure(out, rc == CM_ERR_AUTH ? rc : CM_ERR_CONFIG);
    if (host_certmonger_is_cadata(env->operation))
        status = (rc = host_certmonger_cadata(out, env->operation, s, c.profile)) == CM_OK
                     ? CMG_ISSUED
                     : cm_failure(out, rc);
    else
        status = cm_submit_poll(out, env, s, &c);
    close_ca(h, s);
    return status;
}
