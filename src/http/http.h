/* The HTTP front of certmint serve (docs/http.md): listeners from
 * http.listen / https.listen, one libevent loop per thread, the public
 * distribution points (/ca, /crl), the OCSP responder (/ocsp), /healthz and
 * /metrics. The answers come from the core: distribution files from the CA
 * home, OCSP from src/ocsp; core.c is the one file that calls into it.
 *
 * Threads: http_server_start() binds and prepares everything in the calling
 * thread and starts none; http_server_run() starts the loops and the OCSP
 * refresher (serve drops its privileges in between, while the process has
 * one thread: docs/http.md); the thread that owns the ca_ctx (the serve loop) calls
 * http_server_tick() now and then and http_server_reload() on SIGHUP; http_server_stop() drains and
 * joins them. Signal handling is the caller's (src/cli). */
#ifndef CM_HTTP_HTTP_H
#define CM_HTTP_HTTP_H

#include "ca/ca.h"
#include "util/err.h"

typedef struct http_server http_server;

/* Binds the listeners the configuration names (none: *out stays NULL and
 * CM_OK), loads the distribution files and the OCSP responder (pre-signing
 * its cache) and makes the event loops, starting no thread. ca->signer must
 * be loaded (the responder signs). */
cm_err http_server_start(http_server **out, ca_ctx *ca) CM_MUST_USE;

/* Starts the loop threads and the OCSP refresher of a started server
 * (NULL: nothing to do). On failure http_server_stop() joins those that
 * started. */
cm_err http_server_run(http_server *s) CM_MUST_USE;

/* From the ca_ctx's thread: refreshes the metrics that need the database,
 * picks up newly published CRLs, renews the OCSP responder certificate. */
void http_server_tick(http_server *s, ca_ctx *ca);

/* SIGHUP: reloads the TLS certificate and key, the CA files and CRLs. A
 * file that does not load keeps the running one (logged). */
void http_server_reload(http_server *s, ca_ctx *ca);

/* Stops accepting, lets open requests finish for up to drain_seconds, then
 * closes everything and frees s (NULL-safe). */
void http_server_stop(http_server *s, int drain_seconds);

/* certmint serve --setup-tls: the CA issues the HTTPS server certificate
 * for the host of https.listen (and names, comma separated, may be NULL)
 * into HOME/private/https.crt and https.key. */
cm_err http_setup_tls(ca_ctx *ca, const char *names) CM_MUST_USE;

#endif
