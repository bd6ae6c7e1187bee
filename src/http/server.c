/* The HTTP server: listeners, one libevent loop per thread, TLS, limits.
 *
 * Why libevent (docs/architecture.md): evhttp parses HTTP/1.1 with limits
 * on header and body sizes, bufferevent_openssl keeps OpenSSL the one TLS
 * stack, and it is a Debian package with a long record. Every loop thread
 * accepts on the same listening sockets (the kernel hands each connection
 * to one of them) and owns its connections, its database handle and its
 * evhttp; nothing is shared between loops but the server's counters, the
 * refcounted distribution files and the OCSP cache (under its own lock).
 *
 * Limits (slow and greedy clients): evhttp's header and body caps
 * (HTTP_MAX_HEADERS; HTTP_WIRE_MAX_BODY, above which libevent answers 413
 * and closes; the routes answer 413 over HTTP_MAX_BODY), an idle timeout on every
 * read and write (http.idle_timeout), a deadline for a whole request after
 * the previous one (http.request_timeout: a client that trickles a header a
 * byte at a time is cut), and a cap on open connections
 * (http.max_connections: the listeners pause while at it). */
#include "ca/ca.h"
#include "http/auth.h"
#include "http/http_int.h"

#include "util/fsutil.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_BUCKETS 1024u

/* A connection the loop tracks: an extra reference on its bufferevent lets
 * the sweep see when evhttp has let go of it (its callbacks are cleared). */
struct conn {
    struct conn *next;
    struct bufferevent *bev;
    int64_t last_request; /* accept, or the last complete request */
};

struct http_worker {
    struct http_server *srv;
    pthread_t thread;
    int started;
    struct event_base *base;
    struct evhttp *http, *https;
    struct evconnlistener *lis_http, *lis_https;
    struct event *sweep;
    struct conn *conns[CONN_BUCKETS];
    long nconns;
    int paused;
    struct http_ctx ctx_http, ctx_https;
};

static unsigned conn_bucket(const struct bufferevent *bev)
{
    return (unsigned)(((uintptr_t)bev >> 4) % CONN_BUCKETS);
}

static void conn_track(struct http_worker *w, struct bufferevent *bev)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return; /* untracked: still served, only not counted */
    bufferevent_incref(bev);
    c->bev = bev;
    c->last_request = (int64_t)time(NULL);
    c->next = w->conns[conn_bucket(bev)];
    w->conns[conn_bucket(bev)] = c;
    w->nconns++;
    atomic_fetch_add(&w->srv->connections, 1);
}

/* A request completed on bev: its deadline starts again. */
static void conn_touch(struct http_worker *w, struct bufferevent *bev)
{
    for (struct conn *c = w->conns[conn_bucket(bev)]; c != NULL; c = c->next)
        if (c->bev == bev) {
            c->last_request = (int64_t)time(NULL);
            return;
        }
}

static void listeners_enable(struct http_worker *w, int on)
{
    if (w->paused == !on)
        return;
    w->paused = !on;
    if (w->lis_http)
        on ? evconnlistener_enable(w->lis_http) : evconnlistener_disable(w->lis_http);
    if (w->lis_https)
        on ? evconnlistener_enable(w->lis_https) : evconnlistener_disable(w->lis_https);
}

/* Every 250 ms: frees what evhttp closed, cuts requests over their
 * deadline (shutdown: evhttp reads EOF and closes), and pauses or resumes
 * accepting at the connection cap. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_worker *w = arg;
    struct http_server *s = w->srv;
    int64_t now = (int64_t)time(NULL);
    (void)fd;
    (void)what;
    for (unsigned b = 0; b < CONN_BUCKETS; b++)
        for (struct conn **pc = &w->conns[b]; *pc != NULL;) {
            struct conn *c = *pc;
            bufferevent_event_cb ecb = NULL;
            void *arg2 = NULL;
            bufferevent_getcb(c->bev, NULL, NULL, &ecb, &arg2);
            if (ecb == NULL && arg2 == NULL) {
                *pc = c->next;
                bufferevent_decref(c->bev);
                free(c);
                w->nconns--;
                atomic_fetch_sub(&s->connections, 1);
                continue;
            }
            if (now - c->last_request > s->request_timeout) {
                evutil_socket_t cfd = bufferevent_getfd(c->bev);
                if (cfd >= 0)
                    shutdown(cfd, SHUT_RDWR);
                c->last_request = now; /* once */
            }
            pc = &c->next;
        }
    if (atomic_load(&s->stopping))
        return;
    listeners_enable(w, atomic_load(&s->connections) < s->max_connections);
}

static struct bufferevent *bev_plain(struct event_base *base, void *arg)
{
    struct http_worker *w = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev != NULL)
        conn_track(w, bev);
    if (atomic_load(&w->srv->connections) >= w->srv->max_connections)
        listeners_enable(w, 0);
    return bev;
}

static struct bufferevent *bev_tls(struct event_base *base, void *arg)
{
    struct http_worker *w = arg;
    struct bufferevent *bev = NULL;
    SSL *ssl = NULL;
    pthread_mutex_lock(&w->srv->lock);
    if (w->srv->ssl != NULL)
        ssl = SSL_new(w->srv->ssl);
    pthread_mutex_unlock(&w->srv->lock);
    if (ssl != NULL)
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        /* evhttp closes the socket when no bufferevent can be made for
         * it; a plain one would speak HTTP on a TLS port. */
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        return bev;
    }
    conn_track(w, bev);
    if (atomic_load(&w->srv->connections) >= w->srv->max_connections)
        listeners_enable(w, 0);
    return bev;
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    struct http_ctx *c = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon != NULL)
        conn_touch(c->w, evhttp_connection_get_bufferevent(evcon));
    http_route(req, c);
}

static struct evhttp *make_http(struct http_worker *w, int tls)
{
    struct http_server *s = w->srv;
    struct evhttp *h = evhttp_new(w->base);
    struct http_ctx *c = tls ? &w->ctx_https : &w->ctx_http;
    if (h == NULL)
        return NULL;
    c->srv = s;
    c->w = w;
    c->tls = tls;
    evhttp_set_max_body_size(h, HTTP_WIRE_MAX_BODY);
    evhttp_set_max_headers_size(h, HTTP_MAX_HEADERS);
    evhttp_set_timeout(h, s->idle_timeout);
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_gencb(h, request_cb, c);
    evhttp_set_bevcb(h, tls ? bev_tls : bev_plain, w);
    return h;
}

static cm_err bind_listener(struct evconnlistener **lis, struct evhttp *h, struct event_base *base,
                            int fd)
{
    /* The listening socket is shared by every loop: LEV_OPT_CLOSE_ON_FREE
     * is not set, the server closes it once. */
    *lis = evconnlistener_new(base, NULL, NULL, LEV_OPT_REUSEABLE, -1, fd);
    if (*lis == NULL || evhttp_bind_listener(h, *lis) == NULL)
        return cm_err_set(CM_ERR_IO, "HTTP: cannot listen");
    return CM_OK;
}

static cm_err worker_init(struct http_worker *w, struct http_server *s)
{
    cm_err rc = CM_OK;
    struct timeval tv = {0, 250000};
    w->srv = s;
    w->base = event_base_new();
    if (w->base == NULL)
        CM_FAIL(CM_ERR_NOMEM, "HTTP: event_base_new failed");
    if (s->fd_http >= 0) {
        if ((w->http = make_http(w, 0)) == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        CM_TRY(bind_listener(&w->lis_http, w->http, w->base, s->fd_http));
    }
    if (s->fd_https >= 0) {
        if ((w->https = make_http(w, 1)) == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        CM_TRY(bind_listener(&w->lis_https, w->https, w->base, s->fd_https));
    }
    w->sweep = event_new(w->base, -1, EV_PERSIST, sweep_cb, w);
    if (w->sweep == NULL || event_add(w->sweep, &tv) != 0)
        CM_FAIL(CM_ERR_NOMEM, "HTTP: timer");
out:
    return rc;
}

static void *worker_main(void *arg)
{
    struct http_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

/* HOST:PORT -> a listening socket (IPv6 as [::1]:8080). */
static cm_err listen_on(int *fd, const char *spec, const char *key)
{
    cm_err rc = CM_OK;
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints, *ai = NULL;
    int one = 1, e;
    size_t hl;

    *fd = -1;
    if (colon == NULL || colon == spec || colon[1] == '\0')
        CM_FAIL(CM_ERR_CONFIG, "%s: '%s' is not HOST:PORT", key, spec);
    hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        CM_FAIL(CM_ERR_CONFIG, "%s: host name too long", key);
    memcpy(host, spec, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((e = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
        CM_FAIL(CM_ERR_CONFIG, "%s: '%s': %s", key, host, gai_strerror(e));
    *fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        CM_FAIL(CM_ERR_IO, "%s: socket: %s", key, strerror(errno));
    setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(*fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(*fd, 1024) != 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot listen on %s: %s", key, colon - hl, strerror(errno));
out:
    if (rc != CM_OK && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    if (ai != NULL)
        freeaddrinfo(ai);
    return rc;
}

/* TLS 1.2 and 1.3 only; for 1.2 only forward-secret AEAD suites (Mozilla's
 * "intermediate" list); no renegotiation, no compression, no tickets
 * shared across restarts. */
static cm_err tls_ctx(SSL_CTX **out, const char *cert, const char *key)
{
    cm_err rc = CM_OK;
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    *out = NULL;
    if (c == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "TLS context");
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "TLS cipher list");
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1)
        CM_FAIL_OSSL(CM_ERR_CONFIG, "https.cert: %s: cannot load the certificate chain", cert);
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1)
        CM_FAIL_OSSL(CM_ERR_CONFIG, "https.key: %s: cannot load the private key", key);
    if (SSL_CTX_check_private_key(c) != 1)
        CM_FAIL_OSSL(CM_ERR_CONFIG, "https.key: %s does not match https.cert %s", key, cert);
    *out = c;
    c = NULL;
out:
    SSL_CTX_free(c);
    return rc;
}

/* The TLS layer accepts any client certificate, or none: the verdict
 * (this CA's, current, not revoked) is http_auth_principal's, per request,
 * so that it is a 403 with the reason instead of a handshake alert. */
static int accept_any_cert(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

/* Asks for a client certificate (optional: SSL_VERIFY_PEER without
 * FAIL_IF_NO_PEER_CERT), naming this CA in certificate_authorities (RFC
 * 8446 4.2.4, RFC 5246 7.4.4) so that a browser offers the right one. */
static cm_err tls_client_auth(SSL_CTX *c, ca_ctx *ca)
{
    static const unsigned char sid[] = "certmint-https";
    if (ca_certificate(ca) == NULL)
        return CM_OK;
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, accept_any_cert);
    if (SSL_CTX_add_client_CA(c, ca_certificate(ca)) != 1 ||
        SSL_CTX_set_session_id_context(c, sid, sizeof(sid) - 1) != 1)
        return cm_err_ossl(CM_ERR_CRYPTO, "TLS: client certificate request");
    return CM_OK;
}

static cm_err tls_load(SSL_CTX **out, ca_ctx *ca)
{
    char cert[PATH_MAX], key[PATH_MAX];
    const char *c = config_get(ca_config(ca), "https.cert"),
               *k = config_get(ca_config(ca), "https.key");
    cm_err rc = CM_OK;
    if (c == NULL || c[0] == '\0')
        CM_TRY(fs_join(cert, sizeof(cert), ca_home(ca), "private/https.crt"));
    else
        snprintf(cert, sizeof(cert), "%s", c);
    if (k == NULL || k[0] == '\0')
        CM_TRY(fs_join(key, sizeof(key), ca_home(ca), "private/https.key"));
    else
        snprintf(key, sizeof(key), "%s", k);
    CM_TRY(tls_ctx(out, cert, key));
    if ((rc = tls_client_auth(*out, ca)) != CM_OK) {
        SSL_CTX_free(*out);
        *out = NULL;
    }
out:
    return rc;
}

/* More open files than the default 1024: connections are files. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static cm_err server_config(struct http_server *s, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    long long v = 0;
    int64_t t = 0;
    const char *name = config_get(ca_config(ca), "http.ca_name");
    snprintf(s->ca_name, sizeof(s->ca_name), "%s", name && name[0] ? name : "ca");
    CM_TRY(config_get_int(ca_config(ca), "http.threads", &v));
    s->nthreads = v > 0 ? (int)v : ncpus();
    CM_TRY(config_get_int(ca_config(ca), "http.max_connections", &v));
    s->max_connections = (long)v;
    CM_TRY(config_get_seconds(ca_config(ca), "http.idle_timeout", &t));
    s->idle_timeout = (int)t;
    CM_TRY(config_get_seconds(ca_config(ca), "http.request_timeout", &t));
    s->request_timeout = (int)t;
out:
    return rc;
}

static cm_err server_listen(struct http_server *s, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    const char *h = config_get(ca_config(ca), "http.listen"),
               *hs = config_get(ca_config(ca), "https.listen");
    if (h != NULL && h[0] != '\0')
        CM_TRY(listen_on(&s->fd_http, h, "http.listen"));
    if (hs != NULL && hs[0] != '\0') {
        CM_TRY(tls_load(&s->ssl, ca));
        CM_TRY(listen_on(&s->fd_https, hs, "https.listen"));
    }
    if (s->fd_http >= 0)
        log_info("HTTP listening on %s", h);
    if (s->fd_https >= 0)
        log_info("HTTPS listening on %s", hs);
out:
    return rc;
}

cm_err http_server_start(http_server **out, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    struct http_server *s = NULL;
    const char *h = config_get(ca_config(ca), "http.listen"),
               *hs = config_get(ca_config(ca), "https.listen");

    *out = NULL;
    if ((h == NULL || h[0] == '\0') && (hs == NULL || hs[0] == '\0'))
        return CM_OK;
    if (evthread_use_pthreads() != 0)
        return cm_err_set(CM_ERR_NOMEM, "libevent threads");
    raise_nofile();
    s = calloc(1, sizeof(*s));
    CM_NOMEM_IF(s == NULL);
    s->fd_http = s->fd_https = -1;
    pthread_mutex_init(&s->lock, NULL);
    s->ca = ca_session_handle(ca);
    if (s->ca == NULL)
        CM_FAIL(CM_ERR_STATE, "HTTP: the serve session has no CA handle");
    CM_TRY(http_auth_check_config(ca_config(ca)));
    CM_TRY(server_config(s, ca));
    CM_TRY(server_listen(s, ca));
    CM_TRY(http_files_load(&s->files, ca));
    CM_TRY(http_ocsp_start(s, ca));
    http_metrics_refresh(s, ca);
    /* Each loop is made here; its thread starts in http_server_run. */
    s->workers = calloc((size_t)s->nthreads, sizeof(*s->workers));
    CM_NOMEM_IF(s->workers == NULL);
    for (int i = 0; i < s->nthreads; i++)
        CM_TRY(worker_init(&s->workers[i], s));
    *out = s;
    s = NULL;
out:
    if (s != NULL)
        http_server_stop(s, 0);
    return rc;
}

cm_err http_server_run(http_server *s)
{
    cm_err rc = CM_OK;
    if (s == NULL)
        return CM_OK;
    for (int i = 0; i < s->nthreads; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0)
            CM_FAIL(CM_ERR_NOMEM, "HTTP: cannot start a thread");
        s->workers[i].started = 1;
    }
    if (pthread_create(&s->refresher, NULL, http_ocsp_refresher, s) != 0)
        CM_FAIL(CM_ERR_NOMEM, "HTTP: cannot start the OCSP refresher");
    s->refresher_started = 1;
    log_info("HTTP server: %d thread(s), at most %ld connections", s->nthreads, s->max_connections);
out:
    return rc;
}

void http_server_reload(http_server *s, ca_ctx *ca)
{
    SSL_CTX *c = NULL, *old = NULL;
    if (s == NULL)
        return;
    if (s->fd_https >= 0) {
        if (tls_load(&c, ca) != CM_OK) {
            log_error("reload: keeping the running TLS certificate: %s", cm_err_msg());
        } else {
            pthread_mutex_lock(&s->lock);
            old = s->ssl;
            s->ssl = c;
            pthread_mutex_unlock(&s->lock);
            SSL_CTX_free(old); /* live connections hold their SSL (and its ctx) */
            log_info("reload: TLS certificate loaded");
        }
    }
    http_server_reload_files(s, ca);
}

void http_server_reload_files(http_server *s, ca_ctx *ca)
{
    struct http_files *f = NULL, *oldf = NULL;
    if (http_files_load(&f, ca) != CM_OK) {
        log_error("reload: keeping the served CA files and CRLs: %s", cm_err_msg());
        return;
    }
    pthread_mutex_lock(&s->lock);
    oldf = s->files;
    s->files = f;
    pthread_mutex_unlock(&s->lock);
    http_files_put(s, oldf);
    log_info("reload: CA certificate, chain and CRLs loaded");
}

/* In each loop: stop accepting; the sweep keeps closing what finishes. */
static void stop_accepting(evutil_socket_t fd, short what, void *arg)
{
    struct http_worker *w = arg;
    (void)fd;
    (void)what;
    if (w->lis_http)
        evconnlistener_disable(w->lis_http);
    if (w->lis_https)
        evconnlistener_disable(w->lis_https);
}

static void drain(struct http_server *s, int seconds)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    for (int i = 0; i < s->nthreads; i++)
        if (s->workers[i].started)
            event_base_once(s->workers[i].base, -1, EV_TIMEOUT, stop_accepting, &s->workers[i],
                            NULL);
    /* Open connections finish their request (or idle out) meanwhile. */
    for (int i = 0; i < seconds * 10 && atomic_load(&s->connections) > 0; i++)
        nanosleep(&ts, NULL);
    if (atomic_load(&s->connections) > 0)
        log_warn("HTTP: %ld connection(s) still open after %d s, closing them",
                 atomic_load(&s->connections), seconds);
}

static void worker_free(struct http_worker *w)
{
    if (w->sweep)
        event_free(w->sweep);
    if (w->http)
        evhttp_free(w->http);
    if (w->https)
        evhttp_free(w->https);
    for (unsigned b = 0; b < CONN_BUCKETS; b++)
        for (struct conn *c = w->conns[b], *n; c != NULL; c = n) {
            n = c->next;
            bufferevent_decref(c->bev);
            free(c);
        }
    if (w->base)
        event_base_free(w->base);
}

void http_server_stop(http_server *s, int drain_seconds)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, 1);
    if (s->workers != NULL) {
        drain(s, drain_seconds);
        for (int i = 0; i < s->nthreads; i++)
            if (s->workers[i].started) {
                event_base_loopbreak(s->workers[i].base);
                pthread_join(s->workers[i].thread, NULL);
            }
        for (int i = 0; i < s->nthreads; i++)
            worker_free(&s->workers[i]);
        free(s->workers);
    }
    if (s->refresher_started)
        pthread_join(s->refresher, NULL);
    if (s->fd_http >= 0)
        close(s->fd_http);
    if (s->fd_https >= 0)
        close(s->fd_https);
    SSL_CTX_free(s->ssl);
    http_files_put(s, s->files);
    free(s->metrics_core);
    ocsp_responder_free(s->ocsp);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
