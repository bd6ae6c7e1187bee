/* Internals of src/http. */
#ifndef CM_HTTP_HTTP_INT_H
#define CM_HTTP_HTTP_INT_H

#include "http/http.h"
#include "ocsp/ocsp.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define HTTP_MAX_BODY (64 * 1024)
/* libevent's own cap, above HTTP_MAX_BODY: a body up to it is read whole,
 * so that the route answers 413 in its own form (problem+json for the API,
 * a page for /certsrv); beyond it (or a Content-Length over it) libevent
 * 2.1 answers a bare 413 and closes, as it has no hook before the body is
 * read (evhttp_set_newreqcb is 2.2). Four times the limit: a pasted bundle
 * or a wrong file gets a readable answer, and a connection still holds at
 * most 256 KiB. */
#define HTTP_WIRE_MAX_BODY (4 * HTTP_MAX_BODY)
#define HTTP_MAX_HEADERS (16 * 1024)
#define HTTP_LAT_BUCKETS 12

/* One published file: bytes and its HTTP validators. */
struct http_file {
    unsigned char *data;
    size_t len;
    char etag[48];
    int64_t last_modified;
    int64_t expires; /* 0: none (a fixed max-age) */
};

enum http_file_id {
    HF_CA_DER,
    HF_CA_PEM,
    HF_CHAIN_P7B,
    HF_CHAIN_PEM,
    HF_CRL,
    HF_DELTA_CRL,
    HF_COUNT
};

/* What the threads serve, swapped whole on reload. */
struct http_files {
    struct http_file f[HF_COUNT];
    int64_t crl_number, delta_number;
    atomic_int refs; /* the server's and each response's in flight */
};

struct http_worker;

struct http_server {
    char ca_name[80];
    int nthreads;
    struct http_worker *workers;
    int fd_http, fd_https;
    SSL_CTX *ssl; /* under lock */
    pthread_mutex_t lock;
    struct http_files *files; /* under lock */
    char *metrics_core;       /* under lock: the part that needs the database */
    ocsp_responder *ocsp;
    ca_t *ca; /* the handle of the serve session: per-request sessions (auth.h) */
    pthread_t refresher;
    int refresher_started;
    atomic_int stopping;
    atomic_long connections;
    long max_connections;
    int idle_timeout, request_timeout;
    /* counters for /metrics */
    atomic_long ocsp_by_status[8]; /* good revoked unknown malformed unauthorized internal */
    atomic_long lat_bucket[HTTP_LAT_BUCKETS + 1];
    atomic_long lat_count;
    atomic_llong lat_sum_us;
    atomic_long responses_by_class[6];
    atomic_long ocsp_signed;
};

/* One request, as the routes see it. */
struct http_ctx {
    struct http_server *srv;
    struct http_worker *w;
    int tls; /* database access: a pool session per request (auth.h) */
};

void http_server_reload_files(struct http_server *s, ca_ctx *ca);
/* Is the request's body over HTTP_MAX_BODY, by its Content-Length or by
 * what was read (a chunked body has none)? The routes answer 413. */
int http_body_too_large(struct evhttp_request *req);
void http_route(struct evhttp_request *req, struct http_ctx *c);

/* core.c */
cm_err http_files_load(struct http_files **out, ca_ctx *ca) CM_MUST_USE;
void http_files_free(struct http_files *f);
void http_metrics_refresh(struct http_server *s, ca_ctx *ca);
cm_err http_ocsp_start(struct http_server *s, ca_ctx *ca) CM_MUST_USE;
void *http_ocsp_refresher(void *arg);
const struct http_file *http_files_get(struct http_server *s, struct http_files **hold, int id);
void http_files_put(struct http_server *s, struct http_files *hold);

#endif
