/* certmint serve's process model (docs/http.md, "Process model"): the key
 * process it forks at start, and the privilege drop after binding. Front
 * end only: the core never forks nor changes its user. */
#ifndef CM_CLI_SERVE_PROC_H
#define CM_CLI_SERVE_PROC_H

#include "ca/ca.h"

#include <sys/types.h>

struct serve_keyproc {
    pid_t pid; /* 0: no key process */
};

/* 1 when serve runs a key process: HTTP listeners are configured and
 * serve.key_process is yes. */
int serve_keyproc_wanted(const ca_ctx *ca);

/* Forks the key process (the caller has no thread yet), which opens the
 * CA key and answers sign requests; in this process the CA key of ca is
 * then its client (ca_use_key), and the key is never loaded here. */
cm_err serve_keyproc_start(struct serve_keyproc *kp, ca_ctx *ca) CM_MUST_USE;

/* From the signal flag: 1 (and logged) when the key process has exited. */
int serve_keyproc_died(struct serve_keyproc *kp);

/* After ca's key is closed (the key process then exits): reaps it. */
void serve_keyproc_reap(struct serve_keyproc *kp);

/* Started as root: switches to serve.user (groups, gid, uid; no way
 * back, checked) and sets no_new_privs. Not root: nothing. Call it while
 * the process has one thread (an error otherwise). */
cm_err serve_drop_privileges(const ca_ctx *ca) CM_MUST_USE;

#endif
