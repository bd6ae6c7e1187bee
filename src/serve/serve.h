/* certmint serve: the long-running CA service. It raises STARTUP when it
 * starts and SHUTDOWN on SIGTERM/SIGINT (after draining what it can),
 * delivers queued exit-module events with retries, raises CERTEXPIRING, and
 * republishes the full and delta CRLs before the previous ones expire. */
#ifndef CM_SERVE_SERVE_H
#define CM_SERVE_SERVE_H

#include "ca/ca.h"

struct serve_opts {
    int once; /* one pass of the loop, then stop (as after SIGTERM) */
};

/* Runs until SIGTERM/SIGINT (or one pass with once). SIGHUP reloads the
 * configuration file. */
cm_err serve_run(ca_ctx *ca, const struct serve_opts *o) CM_MUST_USE;

#endif
