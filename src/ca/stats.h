/* The figures a server reports about its CA (certmint serve's /metrics
 * and the CRL it serves): one core call, so that front ends never read the
 * database themselves. */
#ifndef CM_CA_STATS_H
#define CM_CA_STATS_H

#include "ca/ca.h"

#include <stdint.h>

struct ca_stats {
    int64_t certificates;     /* certificate rows */
    int64_t requests_pending; /* requests waiting for an officer */
    /* The last full and delta CRL recorded: number 0 and next_update 0
     * when none was published. */
    int64_t crl_number, crl_next_update;
    int64_t delta_number, delta_next_update;
};

/* Reads the figures through the session's connection (a read: not
 * audited). */
cm_err ca_stats_read(struct ca_stats *out, ca_ctx *ca) CM_MUST_USE;

#endif
