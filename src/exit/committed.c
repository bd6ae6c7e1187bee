/* The delivery after a committed command (exit.h: exit_deliver_committed,
 * exit_retrieve): one policy for every front end. */
#include "ca/ca_int.h"
#include "ca/ca.h"
#include "exit/exit.h"
#include "util/log.h"

#include <string.h>

cm_err exit_deliver_committed(struct exit_delivery_report *rep, ca_ctx *ca)
{
    int flags = EXIT_DELIVER_RESPECT_BACKOFF;

    memset(rep, 0, sizeof(*rep));
    if (config_get_bool(ca->cfg, "audit.require_offbox"))
        flags |= EXIT_DELIVER_WAIT_LOCK;
    return exit_deliver(ca, flags, rep);
}

/* One delivery, added to sum; its error is logged, not returned: the
 * retrieval's result is what counts. */
static void deliver_quietly(struct exit_delivery_report *sum, ca_ctx *ca)
{
    struct exit_delivery_report rep;

    if (exit_deliver_committed(&rep, ca) != CM_OK)
        log_error("event delivery: %s", cm_err_msg());
    sum->delivered += rep.delivered;
    sum->failed_modules += rep.failed_modules;
    sum->poisoned += rep.poisoned;
    sum->busy |= rep.busy;
}

cm_err exit_retrieve(unsigned char **der, size_t *len, struct exit_delivery_report *rep, ca_ctx *ca, int64_t request_id)
{
    cm_err rc = ca_retrieve(ca, request_id, der, len);

    memset(rep, 0, sizeof(*rep));
    if (rc == CM_ERR_WITHHELD) {
        /* Try to get the audit record off the box now, then once more. */
        deliver_quietly(rep, ca);
        rc = ca_retrieve(ca, request_id, der, len);
    }
    if (rc == CM_OK)
        deliver_quietly(rep, ca);
    return rc;
}
