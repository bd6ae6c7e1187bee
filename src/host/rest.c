/* host submit --ca https://...: the entry's CSR to a remote certmint over
 * its REST API (docs/http.md, src/http/openapi.json): POST
 * /api/v1/requests (application/pkcs10, RFC 5967), GET /api/v1/requests/ID
 * while it is pending, GET /api/v1/requests/ID/certificate?chain=true once
 * it is issued. HTTPS only, TLS 1.2 or later, the server verified against
 * --ca-file (or the system's anchors); never without verification. The
 * client authenticates with a TLS client certificate (the entry's own for a
 * renewal of its subject) or a one-time token (Authorization: Bearer). */
#include "host/host.h"

#include "db/db.h"
#include "util/dl_curl.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REST_MAX_BODY (1024 * 1024) /* a certificate with its chain, or a problem */
#define REST_TIMEOUT_S 60L
#define REST_POLL_S 2

/* One connection's settings: the base URL, trust, who we are. */
struct rest_conn {
    char base[1024];
    const char *ca_file;
    X509 *cert;             /* client certificate, NULL: none */
    STACK_OF(X509) * chain; /* its issuers, sent along */
    EVP_PKEY *key;
    char bearer[600]; /* "Authorization: Bearer TOKEN" or "" */
};

static void conn_clear(struct rest_conn *c)
{
    X509_free(c->cert);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    OPENSSL_cleanse(c->bearer, sizeof(c->bearer));
    memset(c, 0, sizeof(*c));
}

/* https://HOST[:PORT][/PREFIX], without a trailing slash, query or
 * fragment; anything else (http://, credentials in the URL) is refused. */
static cm_err url_check(char *out, size_t outsz, const char *url)
{
    static const char scheme[] = "https://";
    size_t n = strlen(url);

    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0 || n == sizeof(scheme) - 1)
        return cm_err_set(CM_ERR_INVALID, "--ca %s: give https://HOST[:PORT] (HTTPS only)", url);
    for (const char *p = url; *p; p++)
        if (*p <= ' ' || *p == '?' || *p == '#' || *p == '@' || *p == '\\' ||
            (unsigned char)*p >= 0x7f)
            return cm_err_set(CM_ERR_INVALID,
                              "--ca %s: character '%c' not allowed (no credentials, query or "
                              "fragment)",
                              url, *p > ' ' && (unsigned char)*p < 0x7f ? *p : '?');
    while (n > sizeof(scheme) && url[n - 1] == '/')
        n--;
    if (n >= outsz)
        return cm_err_set(CM_ERR_INVALID, "--ca %s: too long", url);
    memcpy(out, url, n);
    out[n] = '\0';
    return CM_OK;
}

static size_t body_write(char *p, size_t size, size_t n, void *ctx)
{
    cm_buf *b = ctx;
    /* Over the cap, buf_append fails and curl stops the transfer. */
    return buf_append(b, p, size * n) == CM_OK ? size * n : 0;
}

/* libcurl's OpenSSL context: the client certificate and key as objects, so
 * that an encrypted store key (decrypted here) or a token's key works the
 * same way as a file. */
static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *arg)
{
    SSL_CTX *ctx = sslctx;
    const struct rest_conn *c = arg;

    (void)curl;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        return CURLE_SSL_CONNECT_ERROR;
    if (c->cert == NULL)
        return CURLE_OK;
    if (SSL_CTX_use_certificate(ctx, c->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, c->key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return CURLE_SSL_CERTPROBLEM;
    for (int i = 0; i < sk_X509_num(c->chain); i++)
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(c->chain, i)) != 1)
            return CURLE_SSL_CERTPROBLEM;
    return CURLE_OK;
}

static cm_err curl_error(const struct rest_conn *c, CURLcode cc, const char *errbuf)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (cc == CURLE_PEER_FAILED_VERIFICATION)
        return cm_err_set(CM_ERR_NET,
                          "%s: the server's TLS certificate does not verify against %s: %s",
                          c->base, c->ca_file ? c->ca_file : "the system's trust anchors", detail);
    if (cc == CURLE_SSL_CERTPROBLEM)
        return cm_err_set(CM_ERR_INVALID, "%s: the client certificate and key do not load: %s",
                          c->base, detail);
    if (cc == CURLE_WRITE_ERROR)
        return cm_err_set(CM_ERR_NET, "%s: the answer is larger than %d bytes", c->base,
                          REST_MAX_BODY);
    return cm_err_set(CM_ERR_NET, "%s: %s", c->base, detail);
}

/* One request: POST when body is non-NULL (type its Content-Type), GET
 * otherwise. The HTTP status into *status, the answer into out. */
static cm_err rest_call(long *status, cm_buf *out, const struct rest_conn *c, const char *path,
                        const char *type, const void *body, size_t len)
{
    cm_err rc = CM_OK;
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[2048], ctype[128], errbuf[CURL_ERROR_SIZE];
    CURLcode cc;

    errbuf[0] = '\0';
    CM_NOMEM_IF(h == NULL);
    if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url))
        CM_FAIL(CM_ERR_INVALID, "%s: URL too long", c->base);
    if (c->bearer[0] != '\0')
        CM_NOMEM_IF((hdrs = curl_slist_append(hdrs, c->bearer)) == NULL);
    CM_NOMEM_IF((hdrs = curl_slist_append(hdrs, "Accept: application/json")) == NULL);
    if (body != NULL) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", type);
        CM_NOMEM_IF((hdrs = curl_slist_append(hdrs, ctype)) == NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, (void *)c);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, REST_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    buf_reset(out);
    if ((cc = curl_easy_perform(h)) != CURLE_OK)
        CM_TRY(curl_error(c, cc, errbuf));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

/* The answer as JSON (an object), or NULL. */
static json_t *answer_json(const void *p, size_t len)
{
    json_t *j = len ? json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

/* An answer that is neither of the expected ones: the problem's detail
 * (RFC 9457) when there is one. */
static cm_err unexpected(const struct rest_conn *c, const char *what, long status, json_t *j)
{
    const char *d = jstr(j, "detail");
    return cm_err_set(status == 401 || status == 403 ? CM_ERR_AUTH : CM_ERR_NET,
                      "%s: %s: HTTP %ld%s%s", c->base, what, status, d[0] ? ": " : "", d);
}

cm_err host_rest_parse_answer(struct host_submit_result *out, char **cert_pem, long status,
                              const char *body, size_t len)
{
    json_t *j = answer_json(body, len);
    json_int_t id = json_integer_value(json_object_get(j, "request_id"));
    const char *disp = jstr(j, "disposition");
    cm_err rc = CM_OK;

    out->request_id = id;
    if (status == 422) {
        out->disposition = DB_DISP_DENIED;
        snprintf(out->message, sizeof(out->message), "%s", jstr(j, "detail"));
    } else if ((status == 200 || status == 201 || status == 202) && id > 0) {
        if (strcmp(disp, "pending") == 0 || json_is_true(json_object_get(j, "withheld")))
            out->disposition = DB_DISP_PENDING;
        else if (strcmp(disp, "issued") == 0 || strcmp(disp, "revoked") == 0)
            out->disposition = DB_DISP_ISSUED;
        else if (strcmp(disp, "denied") == 0 || strcmp(disp, "failed") == 0)
            out->disposition = DB_DISP_DENIED;
        else
            rc = cm_err_set(CM_ERR_NET, "the CA's answer: unknown disposition '%s'", disp);
        snprintf(out->message, sizeof(out->message), "%s", jstr(j, "message"));
        if (rc == CM_OK && cert_pem != NULL && out->disposition == DB_DISP_ISSUED &&
            jstr(j, "certificate")[0] != '\0' &&
            (*cert_pem = strdup(jstr(j, "certificate"))) == NULL)
            rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
        if (out->disposition == DB_DISP_PENDING && out->message[0] == '\0')
            snprintf(out->message, sizeof(out->message), "%s",
                     strcmp(disp, "pending") == 0 ? "pending at the CA"
                                                  : "withheld until the audit record is "
                                                    "acknowledged");
    } else {
        rc = cm_err_set(CM_ERR_NET, "the CA's answer: HTTP %ld without a request", status);
    }
    json_decref(j);
    return rc;
}

static cm_err decode(struct host_submit_result *out, char **cert_pem, const struct rest_conn *c,
                     const char *what, long status, const cm_buf *b)
{
    json_t *j = NULL;
    cm_err rc;
    if (status == 200 || status == 201 || status == 202 || status == 422)
        return host_rest_parse_answer(out, cert_pem, status, (const char *)b->data, b->len) == CM_OK
                   ? CM_OK
                   : cm_err_prefix(CM_ERR_NET, "%s: %s", c->base, what);
    j = answer_json(b->data, b->len);
    rc = unexpected(c, what, status, j);
    json_decref(j);
    return rc;
}

/* A PEM key in clear must not make OpenSSL ask on the terminal. */
static int no_prompt(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* The certificates of a PEM file: the first into *cert (cert NULL: none
 * required), the others into chain (its issuers, sent along in the
 * handshake). */
static cm_err read_cert_file(X509 **cert, STACK_OF(X509) * *chain, const char *path)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *b = NULL;
    X509 *x = NULL;

    if (*chain == NULL)
        CM_NOMEM_IF((*chain = sk_X509_new_null()) == NULL);
    CM_TRY(fs_read_file(&data, &len, path, HOST_MAX_FILE));
    if (len == 0 && cert == NULL)
        goto out;
    CM_NOMEM_IF((b = BIO_new_mem_buf(data, (int)len)) == NULL);
    if (cert != NULL && (*cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a PEM certificate", path);
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(*chain, x) <= 0)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        x = NULL;
    }
    ERR_clear_error(); /* the end of the file */
out:
    X509_free(x);
    BIO_free(b);
    free(data);
    return rc;
}

static cm_err load_client_files(struct rest_conn *c, const char *cert_file, const char *key_file)
{
    cm_err rc = CM_OK;
    FILE *f = NULL;

    CM_TRY(read_cert_file(&c->cert, &c->chain, cert_file));
    if ((f = fopen(key_file, "r")) == NULL)
        CM_FAIL(CM_ERR_IO, "--client-key %s: %s", key_file, strerror(errno));
    if ((c->key = PEM_read_PrivateKey(f, NULL, no_prompt, NULL)) == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "--client-key %s: not a PEM private key in clear", key_file);
    if (X509_check_private_key(c->cert, c->key) != 1)
        CM_FAIL_OSSL(CM_ERR_INVALID, "--client-key %s: not the key of --client-cert %s", key_file,
                     cert_file);
out:
    if (f != NULL)
        fclose(f);
    return rc;
}

/* The entry's own certificate, its chain and its key: a renewal of the
 * certificate's own subject, which certmint's API allows to it. */
static cm_err load_client_self(struct rest_conn *c, host_store *st, const char *name,
                               const char *key_pass)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];

    CM_TRY(host_entry_file(path, sizeof(path), st, name, "cert.pem"));
    if (!fs_exists(path))
        CM_FAIL(CM_ERR_STATE,
                "'%s' has no certificate yet to authenticate with: give --client-cert and "
                "--client-key, or --token-file",
                name);
    CM_TRY(read_cert_file(&c->cert, &c->chain, path));
    CM_TRY(host_entry_file(path, sizeof(path), st, name, "chain.pem"));
    if (fs_exists(path)) /* the issuers below the root; empty under a root */
        CM_TRY(read_cert_file(NULL, &c->chain, path));
    CM_TRY(host_entry_key(&c->key, st, name, key_pass));
out:
    return rc;
}

/* A one-time token (the first line of the file) as an RFC 6750 2.1
 * b64token; it goes only into the Authorization header. */
static cm_err load_token(struct rest_conn *c, const char *file)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0, n = 0;

    CM_TRY(fs_read_file(&data, &len, file, 4096));
    while (n < len && data[n] != '\n' && data[n] != '\r')
        n++;
    if (n == 0 || n > 512)
        CM_FAIL(CM_ERR_INVALID,
                "--token-file %s: the first line must hold the token (1 to 512 "
                "characters)",
                file);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = data[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              strchr("-._~+/=", ch) != NULL) ||
            ch == '\0')
            CM_FAIL(CM_ERR_INVALID,
                    "--token-file %s: the token has a character that is not "
                    "allowed (RFC 6750 2.1)",
                    file);
    }
    snprintf(c->bearer, sizeof(c->bearer), "Authorization: Bearer %.*s", (int)n, (char *)data);
out:
    if (data != NULL)
        OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

/* What a submission uses, from the options or what the entry recorded at
 * its last submission (a poll or a renewal has the same CA and trust). */
struct rest_plan {
    char url[1024];
    char ca_file[PATH_MAX]; /* "" : the system's anchors */
    char trust[PATH_MAX];   /* import's trust anchors; "": ca_file */
    char cert[PATH_MAX];    /* a PEM file, "self" (the entry's own), "" (none) */
    char key[PATH_MAX];
    char profile[64];
};

static cm_err abs_path(char *out, const char *in, const char *opt)
{
    char tmp[PATH_MAX];
    if (realpath(in, tmp) == NULL)
        return cm_err_set(CM_ERR_INVALID, "%s %s: %s", opt, in, strerror(errno));
    snprintf(out, PATH_MAX, "%s", tmp);
    return CM_OK;
}

static const char *meta_or(const struct host_kv *meta, const char *key)
{
    const char *v = host_kv_get(meta, key);
    return v != NULL ? v : "";
}

static cm_err plan_resolve(struct rest_plan *p, const struct host_kv *meta,
                           const struct host_rest *r)
{
    cm_err rc = CM_OK;
    const char *url = r->url ? r->url : meta_or(meta, "ca_url");

    memset(p, 0, sizeof(*p));
    if (url[0] == '\0')
        return cm_err_set(CM_ERR_INVALID, "give --ca https://HOST[:PORT] (or --ca-home DIR)");
    CM_TRY(url_check(p->url, sizeof(p->url), url));
    if (r->ca_file != NULL)
        CM_TRY(abs_path(p->ca_file, r->ca_file, "--ca-file"));
    else if (r->url == NULL)
        snprintf(p->ca_file, sizeof(p->ca_file), "%s", meta_or(meta, "ca_file"));
    if (r->trust_file != NULL)
        CM_TRY(abs_path(p->trust, r->trust_file, "--trust"));
    else if (r->url == NULL)
        snprintf(p->trust, sizeof(p->trust), "%s", meta_or(meta, "trust_file"));
    if ((r->client_cert == NULL) != (r->client_key == NULL))
        CM_FAIL(CM_ERR_INVALID, "give --client-cert and --client-key together");
    if (r->client_cert != NULL) {
        CM_TRY(abs_path(p->cert, r->client_cert, "--client-cert"));
        CM_TRY(abs_path(p->key, r->client_key, "--client-key"));
    } else if (r->self_auth) {
        snprintf(p->cert, sizeof(p->cert), "self");
    } else if (r->token_file == NULL) {
        snprintf(p->cert, sizeof(p->cert), "%s", meta_or(meta, "client_cert"));
        snprintf(p->key, sizeof(p->key), "%s", meta_or(meta, "client_key"));
    }
    snprintf(p->profile, sizeof(p->profile), "%s",
             r->profile ? r->profile : meta_or(meta, "profile"));
    for (const char *q = p->profile; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '-' || *q == '_'))
            CM_FAIL(CM_ERR_INVALID, "--profile %s: not a profile name", p->profile);
out:
    return rc;
}

static cm_err conn_open(struct rest_conn *c, const struct rest_plan *p, host_store *st,
                        const char *name, const struct host_rest *r)
{
    cm_err rc = CM_OK;

    memset(c, 0, sizeof(*c));
    /* Every request of this connection goes through libcurl. */
    CM_TRY(dl_curl_load("host REST client"));
    snprintf(c->base, sizeof(c->base), "%s", p->url);
    c->ca_file = p->ca_file[0] ? p->ca_file : NULL;
    if (strcmp(p->cert, "self") == 0)
        CM_TRY(load_client_self(c, st, name, r->key_pass_file));
    else if (p->cert[0] != '\0')
        CM_TRY(load_client_files(c, p->cert, p->key));
    if (r->token_file != NULL)
        CM_TRY(load_token(c, r->token_file));
out:
    return rc;
}

/* The issued certificate with its chain, imported into the store; the
 * trust anchors are --trust, else --ca-file (certmint's own TLS
 * certificate comes from the CA it serves), else the system's. */
static cm_err fetch_import(struct host_submit_result *out, const struct rest_conn *c,
                           host_store *st, const struct rest_plan *p, const char *cert_pem)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(REST_MAX_BODY);
    char path[96];
    long status = 0;
    json_t *j = NULL;
    struct host_import_opts o = {p->trust[0]     ? p->trust
                                 : p->ca_file[0] ? p->ca_file
                                                 : NULL,
                                 NULL, 0};

    if (cert_pem != NULL) { /* the issuers from the AIA caIssuers URL */
        o.allow_aia = 1;
        CM_TRY(host_import(out->name, st, (const unsigned char *)cert_pem, strlen(cert_pem),
                           "the certificate from the CA", &o));
        goto out;
    }
    snprintf(path, sizeof(path), "/api/v1/requests/%lld/certificate?format=pem&chain=true",
             (long long)out->request_id);
    CM_TRY(rest_call(&status, &b, c, path, NULL, NULL, 0));
    if (status == 409) { /* withheld until the audit record is acknowledged */
        j = answer_json(b.data, b.len);
        out->disposition = DB_DISP_PENDING;
        snprintf(out->message, sizeof(out->message), "%s", jstr(j, "detail"));
        goto out;
    }
    if (status != 200) {
        j = answer_json(b.data, b.len);
        CM_TRY(unexpected(c, "the certificate", status, j));
    }
    CM_TRY(host_import(out->name, st, b.data, b.len, "the certificate from the CA", &o));
out:
    json_decref(j);
    buf_free(&b);
    return rc;
}

static cm_err poll_once(struct host_submit_result *out, const struct rest_conn *c, int64_t id)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(REST_MAX_BODY);
    char path[64];
    long status = 0;

    snprintf(path, sizeof(path), "/api/v1/requests/%lld", (long long)id);
    CM_TRY(rest_call(&status, &b, c, path, NULL, NULL, 0));
    CM_TRY(decode(out, NULL, c, "polling the request", status, &b));
out:
    buf_free(&b);
    return rc;
}

/* The certificate of a 201 answer comes into *cert_pem: a renewal by a
 * certificate without a role may submit but not read requests. */
static cm_err submit_once(struct host_submit_result *out, char **cert_pem,
                          const struct rest_conn *c, host_store *st, const char *name,
                          const struct rest_plan *p)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(REST_MAX_BODY);
    char path[PATH_MAX];
    unsigned char *csr = NULL;
    size_t len = 0;
    long status = 0;

    CM_TRY(host_entry_file(path, sizeof(path), st, name, "request.csr"));
    CM_TRY(fs_read_file(&csr, &len, path, 64 * 1024));
    snprintf(path, sizeof(path), "/api/v1/requests%s%s", p->profile[0] ? "?profile=" : "",
             p->profile);
    CM_TRY(rest_call(&status, &b, c, path, "application/pkcs10", csr, len));
    CM_TRY(decode(out, cert_pem, c, "submitting the request", status, &b));
out:
    free(csr);
    buf_free(&b);
    return rc;
}

/* Remembers the CA and how to reach it (a poll, a renewal) and the request
 * that waits (id 0: none). */
static cm_err record(host_store *st, const char *name, const struct rest_plan *p, int64_t id)
{
    cm_err rc = CM_OK;
    struct host_kv meta = {0, NULL};
    char idbuf[32] = "";

    if (id > 0)
        snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
    CM_TRY(host_entry_meta(&meta, st, name));
    CM_TRY(host_kv_set(&meta, "ca_url", p->url));
    CM_TRY(host_kv_set(&meta, "ca_file", p->ca_file));
    CM_TRY(host_kv_set(&meta, "trust_file", p->trust));
    CM_TRY(host_kv_set(&meta, "client_cert", p->cert));
    CM_TRY(host_kv_set(&meta, "client_key", p->key));
    CM_TRY(host_kv_set(&meta, "profile", p->profile));
    CM_TRY(host_kv_set(&meta, "ca_home", ""));
    CM_TRY(host_kv_set(&meta, "pending_request", idbuf));
    CM_TRY(host_entry_meta_write(st, name, &meta));
out:
    host_kv_free(&meta);
    return rc;
}

/* Issued: fetch and import; pending: ask again every REST_POLL_S seconds
 * until the deadline. */
static cm_err settle(struct host_submit_result *out, const struct rest_conn *c, host_store *st,
                     const char *name, const struct rest_plan *p, const char *cert_pem, int wait_s)
{
    cm_err rc = CM_OK;
    time_t deadline = time(NULL) + wait_s;

    for (;;) {
        if (out->disposition == DB_DISP_ISSUED)
            CM_TRY(fetch_import(out, c, st, p, cert_pem));
        cert_pem = NULL;
        if (out->disposition != DB_DISP_PENDING || time(NULL) >= deadline)
            break;
        sleep(REST_POLL_S);
        CM_TRY(poll_once(out, c, out->request_id));
    }
    CM_TRY(record(st, name, p, out->disposition == DB_DISP_PENDING ? out->request_id : 0));
out:
    return rc;
}

cm_err host_submit_rest(struct host_submit_result *out, host_store *st, const char *name,
                        const struct host_rest *r)
{
    cm_err rc = CM_OK;
    struct host_kv meta = {0, NULL};
    struct rest_plan p;
    struct rest_conn c;
    const char *pend;
    char *cert = NULL;
    long long id = 0;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    snprintf(out->name, sizeof(out->name), "%s", name);
    CM_TRY(host_entry_meta(&meta, st, name));
    pend = meta_or(&meta, "pending_request");
    if (pend[0] != '\0' && meta_or(&meta, "ca_url")[0] == '\0')
        CM_FAIL(CM_ERR_STATE,
                "'%s' waits on request %s at the CA home %s: host submit %s --ca-home", name, pend,
                meta_or(&meta, "ca_home"), name);
    if (r->poll_only && pend[0] == '\0')
        CM_FAIL(CM_ERR_STATE, "'%s' has no pending request to poll", name);
    if (pend[0] != '\0')
        CM_TRY(text_parse_int(&id, pend, 1, INT64_MAX, "pending_request"));
    CM_TRY(plan_resolve(&p, &meta, r));
    CM_TRY(conn_open(&c, &p, st, name, r));
    if (id > 0)
        CM_TRY(poll_once(out, &c, (int64_t)id));
    else
        CM_TRY(submit_once(out, &cert, &c, st, name, &p));
    /* Before the import: a failed import leaves the request to fetch again. */
    CM_TRY(record(st, name, &p, out->disposition == DB_DISP_DENIED ? 0 : out->request_id));
    CM_TRY(settle(out, &c, st, name, &p, cert, r->wait_s));
out:
    free(cert);
    conn_clear(&c);
    host_kv_free(&meta);
    return rc;
}
