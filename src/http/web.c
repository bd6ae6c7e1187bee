/* /certsrv: routing, authentication, CSRF, cookies and headers (web.h).
 *
 * CSRF (OWASP "synchronizer token" without server state): a random
 * cookie per browser (certmint_csrf: Secure, HttpOnly, SameSite=Strict)
 * and, in every form, token = HMAC-SHA256(process key, cookie value and
 * client certificate serial). A POST whose token is missing or does not
 * match (compared in constant time) is refused with 403 before anything
 * else is read. The process key is 32 bytes from the OS CSPRNG, made once:
 * forms from before a restart are refused (the page says to reload).
 *
 * The requests a browser submitted are remembered in a cookie as certsrv
 * does (certmint_reqs: the ids, MACed with the same key so that it cannot
 * be edited to reach another's request). */
#include "http/web.h"

#include "ca/csr.h"
#include "http/html.h"
#include "util/log.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char mac_key[32];
static int mac_key_ok;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

static void mac_init(void)
{
    mac_key_ok = RAND_bytes(mac_key, sizeof(mac_key)) == 1;
}

/* hex(HMAC-SHA256(key, label ":" a ":" b)): 64 hex digits, or "" on failure. */
static void web_mac(char out[65], const char *label, const char *a, const char *b)
{
    unsigned char md[32];
    size_t mdlen = 0;
    char data[1024];
    int n = snprintf(data, sizeof(data), "%s:%s:%s", label, a, b);
    out[0] = '\0';
    pthread_once(&mac_once, mac_init);
    if (!mac_key_ok || n < 0 || (size_t)n >= sizeof(data) ||
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mac_key, sizeof(mac_key),
                  (const unsigned char *)data, (size_t)n, md, sizeof(md), &mdlen) == NULL ||
        mdlen != sizeof(md))
        return;
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int is_hex64(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static void csrf_token(char out[65], const struct web_req *w)
{
    web_mac(out, "csrf", w->csrf_cookie, w->p.serial);
}

void web_csrf_field(struct web_req *w)
{
    char tok[65];
    csrf_token(tok, w);
    evbuffer_add_printf(w->out, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", tok);
}

/* 1 when the POSTed token matches this browser's cookie and certificate. */
static int csrf_ok(struct web_req *w)
{
    char want[65];
    const char *got = http_form_text(&w->form, "csrf");
    if (w->set_csrf || got == NULL || strlen(got) != 64)
        return 0;
    csrf_token(want, w);
    return want[0] != '\0' && CRYPTO_memcmp(want, got, 64) == 0;
}

static void cookies_read(struct web_req *w)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(w->req), "Cookie");
    char v[WEB_MAX_REMEMBERED * 21 + 80], mac[65];
    unsigned char rnd[32];
    if (h == NULL || !http_cookie_get(w->csrf_cookie, sizeof(w->csrf_cookie), h, "certmint_csrf") ||
        !is_hex64(w->csrf_cookie)) {
        w->set_csrf = 1;
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            memset(rnd, 0, sizeof(rnd)); /* then every token check fails */
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(w->csrf_cookie + 2 * i, 3, "%02x", rnd[i]);
    }
    if (h != NULL && http_cookie_get(v, sizeof(v), h, "certmint_reqs")) {
        char *tilde = strrchr(v, '~');
        if (tilde == NULL)
            return;
        *tilde = '\0';
        web_mac(mac, "reqs", v, w->csrf_cookie);
        if (mac[0] == '\0' || strlen(tilde + 1) != 64 || CRYPTO_memcmp(mac, tilde + 1, 64) != 0)
            return; /* edited or from another browser: forgotten */
        for (char *s = v, *e; *s != '\0' && w->nids < WEB_MAX_REMEMBERED; s = e) {
            long long id = strtoll(s, &e, 10);
            if (e == s || id <= 0)
                break;
            w->ids[w->nids++] = id;
            if (*e == '.')
                e++;
        }
    }
}

void web_remember(struct web_req *w, int64_t id)
{
    for (size_t i = 0; i < w->nids; i++)
        if (w->ids[i] == id)
            return;
    if (w->nids == WEB_MAX_REMEMBERED) {
        memmove(w->ids, w->ids + 1, (WEB_MAX_REMEMBERED - 1) * sizeof(w->ids[0]));
        w->nids--;
    }
    w->ids[w->nids++] = id;
    w->set_ids = 1;
}

int web_may_see(const struct web_req *w, int64_t id)
{
    if (w->p.roles & (HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR))
        return 1;
    for (size_t i = 0; i < w->nids; i++)
        if (w->ids[i] == id)
            return 1;
    return 0;
}

int64_t web_param_id(const struct http_form *f, const char *name)
{
    const char *v = http_form_text(f, name);
    char *end = NULL;
    long long id;
    if (v == NULL || v[0] < '1' || v[0] > '9' || strlen(v) > 18)
        return 0;
    id = strtoll(v, &end, 10);
    return end != NULL && *end == '\0' && id > 0 ? (int64_t)id : 0;
}

static void cookies_write(struct web_req *w, struct evkeyvalq *h)
{
    char v[WEB_MAX_REMEMBERED * 21 + 256], list[WEB_MAX_REMEMBERED * 21 + 1], mac[65];
    size_t used = 0;
    if (w->set_csrf) {
        snprintf(v, sizeof(v),
                 "certmint_csrf=%s; Path=/certsrv; Max-Age=31536000; Secure; HttpOnly; "
                 "SameSite=Strict",
                 w->csrf_cookie);
        evhttp_add_header(h, "Set-Cookie", v);
    }
    if (!w->set_ids)
        return;
    list[0] = '\0';
    for (size_t i = 0; i < w->nids; i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%" PRId64, i ? "." : "", w->ids[i]);
        if (n < 0 || (size_t)n >= sizeof(list) - used)
            break;
        used += (size_t)n;
    }
    web_mac(mac, "reqs", list, w->csrf_cookie);
    snprintf(v, sizeof(v),
             "certmint_reqs=%s~%s; Path=/certsrv; Max-Age=31536000; Secure; HttpOnly; "
             "SameSite=Strict",
             list, mac);
    evhttp_add_header(h, "Set-Cookie", v);
}

void web_send(struct web_req *w, int code, const char *reason)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(w->req);
    int cls = code / 100;
    evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
    /* No script, no inline style, no framing, forms only to here. */
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                      "frame-ancestors 'none'; base-uri 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (w->c->tls)
        evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
    cookies_write(w, h);
    evhttp_send_reply(w->req, code, reason, w->out);
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add(&w->c->srv->responses_by_class[cls], 1);
}

void web_begin(struct web_req *w, const char *title)
{
    html_begin(w->out, title, w->p.subject, w->roles,
               (w->p.roles & (HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR)) != 0);
}

void web_fail(struct web_req *w, int code, const char *reason, const char *msg)
{
    evbuffer_drain(w->out, evbuffer_get_length(w->out));
    web_begin(w, reason);
    html_note(w->out, "error", msg);
    evbuffer_add_printf(w->out, "<p><a href=\"/certsrv\">Back to the start page</a></p>\n");
    html_end(w->out);
    web_send(w, code, reason);
}

static void send_css(struct web_req *w)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(w->req);
    evhttp_add_header(h, "Content-Type", "text/css; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "public, max-age=3600");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evbuffer_add(w->out, html_css, strlen(html_css));
    evhttp_send_reply(w->req, 200, "OK", w->out);
    atomic_fetch_add(&w->c->srv->responses_by_class[2], 1);
}

#define ROLE_ANY 0u
#define ROLE_READ (HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR)

static const struct page {
    const char *path;
    void (*fn)(struct web_req *w);
    unsigned roles; /* any of these (0: everyone) */
    int post;       /* POST accepted (with a CSRF token) */
} pages[] = {
    {"/certsrv", web_page_home, ROLE_ANY, 0},
    {"/certsrv/request", web_page_request, ROLE_ANY, 1},
    {"/certsrv/token", web_page_token, ROLE_ANY, 1},
    {"/certsrv/status", web_page_status, ROLE_ANY, 0},
    {"/certsrv/cert", web_page_cert, ROLE_ANY, 0},
    {"/certsrv/download", web_page_download, ROLE_ANY, 0},
    {"/certsrv/officer", web_page_pending, ROLE_READ, 1},
    {"/certsrv/officer/search", web_page_search, ROLE_READ, 0},
    {"/certsrv/officer/revoke", web_page_revoke, ROLE_READ, 1},
    {"/certsrv/officer/crl", web_page_crl, ROLE_READ, 1},
};

/* The body of a POST, parsed; CSRF checked. 1 ok, 0 answered (4xx). */
static int read_post(struct web_req *w)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(w->req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(w->req), "Content-Type");
    size_t n = evbuffer_get_length(in);
    unsigned char *body = n ? evbuffer_pullup(in, (ssize_t)n) : NULL;
    char msg[300];
    if (http_body_too_large(w->req)) {
        web_fail(w, 413, "Payload Too Large", "the form is larger than 64 KiB");
        return 0;
    }
    if (http_form_parse(&w->form, ct, body, n) != CM_OK) {
        snprintf(msg, sizeof(msg), "%s", cm_err_msg());
        cm_err_clear();
        web_fail(w, 400, "Bad Request", msg);
        return 0;
    }
    if (!csrf_ok(w)) {
        web_fail(w, 403, "Forbidden",
                 "the form's security token is missing or does not match this browser "
                 "(CSRF check): reload the page and send the form again");
        return 0;
    }
    w->post = 1;
    return 1;
}

static const struct page *page_find(const char *path)
{
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
        if (strcmp(pages[i].path, path) == 0)
            return &pages[i];
    return NULL;
}

static void web_dispatch(struct web_req *w, const struct http_target *t)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(w->req);
    const struct page *pg = page_find(t->path);
    char msg[512];

    if (strcmp(t->path, "/certsrv/style.css") == 0) {
        send_css(w);
        return;
    }
    if (!w->c->tls) {
        web_fail(w, 403, "Forbidden",
                 "the certificate services pages are served over HTTPS only (https.listen)");
        return;
    }
    if (http_auth_principal(&w->p, w->req, w->c) != CM_OK) {
        snprintf(msg, sizeof(msg), "%s", cm_err_msg());
        cm_err_clear();
        web_fail(w, 403, "Forbidden", msg);
        return;
    }
    http_roles_string(w->roles, sizeof(w->roles), w->p.roles);
    cookies_read(w);
    if (pg == NULL) {
        web_fail(w, 404, "Not Found", "no such page");
        return;
    }
    if (pg->roles != ROLE_ANY && !(w->p.roles & pg->roles)) {
        web_fail(w, 403, "Forbidden",
                 w->p.has_cert ? "this page needs the officer or auditor role (http.roles.* in "
                                 "the CA's configuration)"
                               : "this page needs a client certificate from this CA with the "
                                 "officer or auditor role");
        return;
    }
    if (http_form_parse(&w->q, NULL, (const unsigned char *)t->query, strlen(t->query)) != CM_OK) {
        snprintf(msg, sizeof(msg), "query string: %s", cm_err_msg());
        cm_err_clear();
        web_fail(w, 400, "Bad Request", msg);
        return;
    }
    if (cmd == EVHTTP_REQ_POST && (!pg->post || !read_post(w))) {
        if (!pg->post)
            web_fail(w, 405, "Method Not Allowed", "this page takes no form");
        return;
    }
    pg->fn(w);
}

int web_route(struct evhttp_request *req, struct http_ctx *c, const struct http_target *t)
{
    struct web_req *w = NULL;
    if (strncmp(t->path, "/certsrv", 8) != 0 || (t->path[8] != '\0' && t->path[8] != '/'))
        return 0;
    w = calloc(1, sizeof(*w));
    if (w == NULL || (w->out = evbuffer_new()) == NULL) {
        free(w);
        evhttp_send_error(req, 503, "out of memory");
        return 1;
    }
    w->req = req;
    w->c = c;
    web_dispatch(w, t);
    http_form_clear(&w->q);
    http_form_clear(&w->form);
    evbuffer_free(w->out);
    free(w);
    return 1;
}

cm_err web_csr_parse(X509_REQ **out, const unsigned char *data, size_t len, const char *what)
{
    struct csr *c = NULL;
    const unsigned char *p;
    cm_err rc = csr_parse(&c, data, len, what); /* PEM or DER, self-signature checked */
    *out = NULL;
    if (rc != CM_OK)
        return rc;
    p = c->der;
    if ((*out = d2i_X509_REQ(NULL, &p, (long)c->der_len)) == NULL)
        rc = cm_err_ossl(CM_ERR_INVALID, "%s: not a PKCS#10 request", what);
    csr_free(c);
    return rc;
}
