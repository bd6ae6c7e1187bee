/* The routes: what each URL answers. Parsing stops at src/http/url.c;
 * the answers come from the core (core.c, src/ocsp). */
#include "http/auth.h"
#include "http/http_int.h"

#include "http/api.h"
#include "http/url.h"
#include "http/web.h"
#include "util/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Upper bounds of the latency histogram, seconds (Prometheus "le"). */
static const double lat_le[HTTP_LAT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void http_date(char *out, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void reply(struct evhttp_request *req, struct http_ctx *c, int code, const char *reason,
                  struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    int cls = code / 100;
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (c->tls)
        evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD && body != NULL) {
        /* HEAD: the headers of the GET, Content-Length included. */
        char len[32];
        snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
        evhttp_add_header(h, "Content-Length", len);
        evbuffer_drain(body, evbuffer_get_length(body));
    }
    evhttp_send_reply(req, code, reason, body);
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add(&c->srv->responses_by_class[cls], 1);
}

static void send_text(struct evhttp_request *req, struct http_ctx *c, int code, const char *reason,
                      const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (b != NULL)
        evbuffer_add_printf(b, "%s\n", text);
    reply(req, c, code, reason, b);
    if (b != NULL)
        evbuffer_free(b);
}

int http_body_too_large(struct evhttp_request *req)
{
    const char *cl = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Length");
    char *end = NULL;
    unsigned long long n;
    if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > HTTP_MAX_BODY)
        return 1;
    if (cl == NULL)
        return 0;
    errno = 0;
    n = strtoull(cl, &end, 10);
    /* libevent refused a Content-Length that is not a number already. */
    return end != cl && (errno == ERANGE || n > HTTP_MAX_BODY);
}

static void files_release(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    http_files_put(NULL, arg);
}

/* A distribution file with its validators (RFC 9110 8.8, 13.1.2; RFC 9111
 * 5.2.2.1): 304 for a matching If-None-Match; max-age up to the CRL's
 * nextUpdate (a CRL must not be cached past it), a day for certificates. */
static void serve_file(struct evhttp_request *req, struct http_ctx *c, int id, const char *type)
{
    struct http_files *hold = NULL;
    const struct http_file *f = http_files_get(c->srv, &hold, id);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    struct evbuffer *b = NULL;
    int64_t now = (int64_t)time(NULL), age = 86400;
    char date[64], cc[64];

    if (f->data == NULL) {
        http_files_put(c->srv, hold);
        send_text(req, c, 404, "Not Found", "not published yet");
        return;
    }
    if (f->expires > 0)
        age = f->expires > now ? f->expires - now : 0;
    snprintf(cc, sizeof(cc), "public, max-age=%" PRId64, age);
    evhttp_add_header(h, "Cache-Control", cc);
    evhttp_add_header(h, "ETag", f->etag);
    http_date(date, sizeof(date), f->last_modified);
    evhttp_add_header(h, "Last-Modified", date);
    if (f->expires > 0) {
        http_date(date, sizeof(date), f->expires);
        evhttp_add_header(h, "Expires", date);
    }
    if (inm != NULL && (strcmp(inm, f->etag) == 0 || strcmp(inm, "*") == 0)) {
        http_files_put(c->srv, hold);
        reply(req, c, 304, "Not Modified", NULL);
        return;
    }
    evhttp_add_header(h, "Content-Type", type);
    b = evbuffer_new();
    /* The bytes stay in the refcounted file set: no copy per request. */
    if (b == NULL || evbuffer_add_reference(b, f->data, f->len, files_release, hold) != 0) {
        http_files_put(c->srv, hold);
        if (b != NULL)
            evbuffer_free(b);
        send_text(req, c, 503, "Service Unavailable", "out of memory");
        return;
    }
    reply(req, c, 200, "OK", b);
    evbuffer_free(b);
}

/* /ca/NAME.crt .pem -chain.p7b -chain.pem, /crl/NAME.crl -delta.crl */
static int route_dist(struct evhttp_request *req, struct http_ctx *c, const char *path)
{
    static const struct {
        const char *dir, *suffix, *type;
        int id;
    } t[] = {
        {"/ca/", ".crt", "application/pkix-cert", HF_CA_DER},
        {"/ca/", ".cer", "application/pkix-cert", HF_CA_DER},
        {"/ca/", ".pem", "application/x-pem-file", HF_CA_PEM},
        {"/ca/", "-chain.p7b", "application/pkcs7-mime", HF_CHAIN_P7B},
        {"/ca/", "-chain.pem", "application/x-pem-file", HF_CHAIN_PEM},
        {"/crl/", ".crl", "application/pkix-crl", HF_CRL},
        {"/crl/", "-delta.crl", "application/pkix-crl", HF_DELTA_CRL},
    };
    const char *name = c->srv->ca_name;
    size_t nl = strlen(name);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t dl = strlen(t[i].dir);
        if (strncmp(path, t[i].dir, dl) == 0 && strncmp(path + dl, name, nl) == 0 &&
            strcmp(path + dl + nl, t[i].suffix) == 0) {
            serve_file(req, c, t[i].id, t[i].type);
            return 1;
        }
    }
    return 0;
}

static void count_ocsp(struct http_ctx *c, const struct ocsp_answer *a)
{
    int i;
    if (a->resp_status == OCSP_ST_SUCCESSFUL)
        i = a->cert_status; /* 0 good, 1 revoked, 2 unknown */
    else if (a->resp_status == OCSP_ST_MALFORMED)
        i = 3;
    else if (a->resp_status == OCSP_ST_UNAUTHORIZED)
        i = 4;
    else if (a->resp_status == OCSP_ST_TRYLATER)
        i = 6;
    else
        i = 5;
    atomic_fetch_add(&c->srv->ocsp_by_status[i], 1);
}

/* RFC 5019 6.2: a pre-signed response may be cached by HTTP caches until
 * its nextUpdate; one signed for a nonce or for a POST must not be. */
static void ocsp_reply(struct evhttp_request *req, struct http_ctx *c, const unsigned char *der,
                       size_t len, int is_get)
{
    struct ocsp_answer a;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *b = evbuffer_new();
    char date[64], cc[96], etag[48];
    int64_t now = (int64_t)time(NULL);
    /* No pool session here: the responder takes one only for a serial its
     * pre-signed cache does not hold (ocsp.h). */
    cm_err rc = b == NULL ? CM_ERR_NOMEM : ocsp_respond(&a, c->srv->ocsp, der, len);

    if (rc != CM_OK) {
        if (b != NULL)
            evbuffer_free(b);
        send_text(req, c, 503, "Service Unavailable", "OCSP responder unavailable");
        return;
    }
    count_ocsp(c, &a);
    evhttp_add_header(h, "Content-Type", "application/ocsp-response");
    if (a.cached && is_get) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256(a.der, a.len, md);
        snprintf(etag, sizeof(etag), "\"");
        for (int i = 0; i < 16; i++)
            snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
        snprintf(etag + 33, sizeof(etag) - 33, "\"");
        snprintf(cc, sizeof(cc), "public, max-age=%" PRId64 ", no-transform, must-revalidate",
                 a.next_update > now ? a.next_update - now : 0);
        evhttp_add_header(h, "Cache-Control", cc);
        evhttp_add_header(h, "ETag", etag);
        http_date(date, sizeof(date), a.produced_at);
        evhttp_add_header(h, "Last-Modified", date);
        http_date(date, sizeof(date), a.next_update);
        evhttp_add_header(h, "Expires", date);
    } else {
        evhttp_add_header(h, "Cache-Control", "no-cache, no-store");
    }
    evbuffer_add(b, a.der, a.len);
    ocsp_answer_clear(&a);
    reply(req, c, 200, "OK", b);
    evbuffer_free(b);
}

static void route_ocsp_post(struct evhttp_request *req, struct http_ctx *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    unsigned char buf[OCSP_MAX_REQUEST + 1];
    size_t n = evbuffer_get_length(in);
    if (ct == NULL || strncasecmp(ct, "application/ocsp-request", 24) != 0) {
        send_text(req, c, 415, "Unsupported Media Type",
                  "an OCSP request is POSTed as application/ocsp-request (RFC 6960 A.1)");
        return;
    }
    if (n > OCSP_MAX_REQUEST)
        n = OCSP_MAX_REQUEST + 1; /* too long: malformedRequest */
    evbuffer_copyout(in, buf, n);
    ocsp_reply(req, c, buf, n, 0);
}

static void route_ocsp_get(struct evhttp_request *req, struct http_ctx *c, const char *rest)
{
    unsigned char buf[OCSP_MAX_REQUEST];
    size_t n = 0;
    if (http_ocsp_get_decode(buf, sizeof(buf), &n, rest) != CM_OK) {
        /* Not base64 of a request: still an OCSP answer (RFC 6960 2.3). */
        cm_err_clear();
        ocsp_reply(req, c, (const unsigned char *)"", 0, 1);
        return;
    }
    ocsp_reply(req, c, buf, n, 1);
}

static void route_metrics(struct evhttp_request *req, struct http_ctx *c)
{
    struct http_server *s = c->srv;
    static const char *st[7] = {"good",         "revoked",       "unknown", "malformedRequest",
                                "unauthorized", "internalError", "tryLater"};
    struct evbuffer *b = evbuffer_new();
    struct ocsp_stats os;
    long cum = 0;
    if (b == NULL) {
        send_text(req, c, 503, "Service Unavailable", "out of memory");
        return;
    }
    pthread_mutex_lock(&s->lock);
    evbuffer_add_printf(b, "%s", s->metrics_core ? s->metrics_core : "");
    pthread_mutex_unlock(&s->lock);
    ocsp_responder_stats(s->ocsp, &os);
    evbuffer_add_printf(b, "# HELP certmint_ocsp_responses_total OCSP responses sent, by status.\n"
                           "# TYPE certmint_ocsp_responses_total counter\n");
    for (int i = 0; i < 7; i++)
        evbuffer_add_printf(b, "certmint_ocsp_responses_total{status=\"%s\"} %ld\n", st[i],
                            atomic_load(&s->ocsp_by_status[i]));
    evbuffer_add_printf(b,
                        "# HELP certmint_ocsp_cached_responses Pre-signed OCSP responses.\n"
                        "# TYPE certmint_ocsp_cached_responses gauge\n"
                        "certmint_ocsp_cached_responses %zu\n"
                        "# HELP certmint_ocsp_signatures_total OCSP responses pre-signed.\n"
                        "# TYPE certmint_ocsp_signatures_total counter\n"
                        "certmint_ocsp_signatures_total %ld\n"
                        "# HELP certmint_http_connections Open HTTP connections.\n"
                        "# TYPE certmint_http_connections gauge\n"
                        "certmint_http_connections %ld\n"
                        "# HELP certmint_http_request_duration_seconds Time to answer a request.\n"
                        "# TYPE certmint_http_request_duration_seconds histogram\n",
                        os.entries, atomic_load(&s->ocsp_signed), atomic_load(&s->connections));
    for (int i = 0; i < HTTP_LAT_BUCKETS; i++) {
        cum += atomic_load(&s->lat_bucket[i]);
        evbuffer_add_printf(b, "certmint_http_request_duration_seconds_bucket{le=\"%g\"} %ld\n",
                            lat_le[i], cum);
    }
    evbuffer_add_printf(b,
                        "certmint_http_request_duration_seconds_bucket{le=\"+Inf\"} %ld\n"
                        "certmint_http_request_duration_seconds_sum %.6f\n"
                        "certmint_http_request_duration_seconds_count %ld\n",
                        atomic_load(&s->lat_count), (double)atomic_load(&s->lat_sum_us) / 1e6,
                        atomic_load(&s->lat_count));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    reply(req, c, 200, "OK", b);
    evbuffer_free(b);
}

static void observe(struct http_server *s, int64_t us)
{
    int i = 0;
    while (i < HTTP_LAT_BUCKETS && (double)us / 1e6 > lat_le[i])
        i++;
    atomic_fetch_add(&s->lat_bucket[i], 1);
    atomic_fetch_add(&s->lat_count, 1);
    atomic_fetch_add(&s->lat_sum_us, us);
}

static void dispatch(struct evhttp_request *req, struct http_ctx *c)
{
    const char *raw = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct http_target t;

    /* Over the limit: 413 in the route's own form (problem+json for the
     * API, a page for /certsrv, text here). */
    if (raw != NULL && strncmp(raw, "/api/v1/", 8) != 0 && strncmp(raw, "/certsrv", 8) != 0 &&
        http_body_too_large(req)) {
        send_text(req, c, 413, "Payload Too Large", "the request body is over 64 KiB");
        return;
    }
    /* OCSP first: its GET URL carries base64, '/' included (RFC 6960 A.1). */
    if (raw != NULL && strcmp(raw, "/ocsp") == 0 && cmd == EVHTTP_REQ_POST) {
        route_ocsp_post(req, c);
        return;
    }
    if (raw != NULL && strncmp(raw, "/ocsp/", 6) == 0 && cmd == EVHTTP_REQ_GET) {
        route_ocsp_get(req, c, raw + 6);
        return;
    }
    if (http_target_parse(&t, raw) != CM_OK) {
        send_text(req, c, 400, "Bad Request", cm_err_msg());
        cm_err_clear();
        return;
    }
    if (strncmp(t.path, "/api/v1/", 8) == 0) {
        api_route(req, c, t.path, t.query);
        return;
    }
    if (web_route(req, c, &t)) /* /certsrv: the web enrollment pages (web.c) */
        return;
    if (cmd == EVHTTP_REQ_POST) {
        send_text(req, c, 405, "Method Not Allowed", "POST is for /ocsp only");
        return;
    }
    if (strcmp(t.path, "/healthz") == 0) {
        send_text(req, c, atomic_load(&c->srv->stopping) ? 503 : 200,
                  atomic_load(&c->srv->stopping) ? "Service Unavailable" : "OK",
                  atomic_load(&c->srv->stopping) ? "stopping" : "ok");
        return;
    }
    if (strcmp(t.path, "/metrics") == 0) {
        route_metrics(req, c);
        return;
    }
    if (strcmp(t.path, "/ocsp") == 0) {
        send_text(req, c, 405, "Method Not Allowed",
                  "POST an application/ocsp-request to /ocsp, or GET /ocsp/BASE64");
        return;
    }
    if (route_dist(req, c, t.path))
        return;
    send_text(req, c, 404, "Not Found", "no such resource");
}

void http_route(struct evhttp_request *req, struct http_ctx *c)
{
    int64_t t0 = now_us();
    dispatch(req, c);
    observe(c->srv, now_us() - t0);
}
