/* certmint serve: the long-running CA service. It raises STARTUP when it
 * starts and SHUTDOWN on SIGTERM/SIGINT (after draining what it can),
 * delivers queued exit-module events with retries, raises CERTEXPIRING, and
 * republishes the full and delta CRLs before the previous ones expire. */
#ifndef CM_SERVE_SERVE_H
#define CM_SERVE_SERVE_H

#include "ca/ca.h"

#include <signal.h>

struct serve_opts {
    int once; /* one pass of the loop, then stop (as after SIGTERM) */
    /* The front end's signal flags (its handlers set them: SIGTERM/SIGINT
     * stop, SIGHUP reload); the loop polls them. */
    volatile sig_atomic_t *stop, *reload;
    /* Called in the loop's thread after each pass (reloaded: 1 right after
     * a SIGHUP reload); the HTTP server's tick. May be NULL. */
    void (*tick)(void *ctx, ca_ctx *ca, int reloaded);
    void *tick_ctx;
};

/* Runs until *o->stop (or one pass with once). *o->reload reloads the
 * configuration file. The caller owns the signal handlers. */
cm_err serve_run(ca_ctx *ca, const struct serve_opts *o) CM_MUST_USE;

#endif
