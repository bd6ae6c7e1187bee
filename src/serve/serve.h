/* certmint serve: the long-running CA service. It raises STARTUP when it
 * starts and SHUTDOWN on SIGTERM/SIGINT (after draining what it can),
 * delivers queued exit-module events with retries, raises CERTEXPIRING, and
 * republishes the full and delta CRLs before the previous ones expire. */
#ifndef CM_SERVE_SERVE_H
#define CM_SERVE_SERVE_H

#include "ca/ca.h"

/* What the front end asks of a running loop (it owns the signals: the
 * core installs no handler). */
enum serve_request {
    SERVE_RUN = 0,
    SERVE_STOP = 1,   /* raise SHUTDOWN, drain, return (SIGTERM, SIGINT) */
    SERVE_RELOAD = 2, /* re-read certmint.conf (SIGHUP) */
};

struct serve_opts {
    int once; /* one pass of the loop, then stop (as after SIGTERM) */
    /* Polled before each pass and after each sleep: SERVE_STOP and/or
     * SERVE_RELOAD bits, each returned once per request. NULL: never. A
     * signal to the process ends the loop's sleep early. */
    int (*poll)(void *ctx);
    void *poll_ctx;
    /* Called in the loop's thread after each pass (reloaded: 1 right after
     * a reload); the HTTP server's tick. May be NULL. */
    void (*tick)(void *ctx, ca_ctx *ca, int reloaded);
    void *tick_ctx;
};

/* Runs until o->poll asks it to stop (or one pass with once). */
cm_err serve_run(ca_ctx *ca, const struct serve_opts *o) CM_MUST_USE;

#endif
