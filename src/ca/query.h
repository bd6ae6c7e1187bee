/* Read-only queries of a CA home for front ends: the audit log and the
 * pending requests. actor is who asked (reads are not audited). */
#ifndef CM_CA_QUERY_H
#define CM_CA_QUERY_H

#include "ca/ca.h"

/* The audit log, oldest first, from since (unix time; 0: all). */
typedef cm_err (*ca_audit_cb)(void *ctx, int64_t id, const struct db_audit *a);
cm_err ca_audit_list(ca_ctx *ca, int64_t since, ca_audit_cb cb,
                     void *ctx) CM_MUST_USE;

/* One request waiting for an officer. Strings are borrowed for the
 * callback's duration; NULL when not recorded. */
struct ca_pending {
    int64_t request_id;
    const char *submitted; /* as stored: "YYYY-MM-DD HH:MM:SS" UTC */
    const char *requester;
    const char *profile;
    const char *subject; /* the requested subject DN */
};
typedef cm_err (*ca_pending_cb)(void *ctx, const struct ca_pending *p);
/* The pending requests, oldest first. */
cm_err ca_pending_list(ca_ctx *ca, ca_pending_cb cb, void *ctx) CM_MUST_USE;

#endif
