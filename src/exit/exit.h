/* CA events and exit modules.
 *
 * Event bits are AD CS's exit-module filter bits (certexit.h), so existing
 * EventFilter values carry over; CERTIMPORTED and CERTEXPIRING are certmint's.
 *
 * Raising an event writes it to the database outbox in the caller's
 * transaction (exit_raise); delivery to the configured modules happens after
 * commit (exit_deliver), with retries, in order, at least once. */
#ifndef CM_EXIT_EXIT_H
#define CM_EXIT_EXIT_H

#include "db/db.h"
#include "util/err.h"

enum exit_event {
    EXIT_EV_CERTISSUED = 0x1,
    EXIT_EV_CERTPENDING = 0x2,
    EXIT_EV_CERTDENIED = 0x4,
    EXIT_EV_CERTREVOKED = 0x8,
    EXIT_EV_CERTRETRIEVEPENDING = 0x10,
    EXIT_EV_CRLISSUED = 0x20,
    EXIT_EV_SHUTDOWN = 0x40,
    EXIT_EV_STARTUP = 0x80,
    EXIT_EV_CERTUNREVOKED = 0x100,
    EXIT_EV_CERTIMPORTED = 0x200,
    EXIT_EV_CERTEXPIRING = 0x400,
};
#define EXIT_EV_ALL 0x7ff

/* "CERTISSUED" for EXIT_EV_CERTISSUED; NULL for a value that is not one bit. */
const char *exit_event_name(int ev);
/* Bit for a name (case-insensitive), 0 if unknown. */
int exit_event_parse(const char *name);

/* Records an event in the outbox, in the current transaction. payload is an
 * optional JSON object with event-specific fields (e.g. {"crl_number":5}). */
cm_err exit_raise(db_t *db, int ev, int64_t request_id, const char *serial,
                  const char *payload) CM_MUST_USE;

#endif
