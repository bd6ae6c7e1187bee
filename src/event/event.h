/* CA events: their names, the outbox writer and event filters.
 *
 * This is the layer below the CA core (src/ca, src/crl raise events) and
 * above the database (the outbox is a db op); the exit modules (src/exit)
 * that deliver events sit above the core. The names keep AD CS's "exit
 * event" vocabulary (certexit.h), hence the exit_ prefix.
 *
 * Event bits are AD CS's exit-module filter bits, so existing EventFilter
 * values carry over; CERTIMPORTED and CERTEXPIRING are certmint's.
 *
 * Raising an event writes it to the database outbox in the caller's
 * transaction (exit_raise); delivery to the configured modules happens after
 * commit (exit/exit.h: exit_deliver), with retries, in order, at least once. */
#ifndef CM_EVENT_EVENT_H
#define CM_EVENT_EVENT_H

#include "db/db.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

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
    /* certmint's alert: an exit module moved an event aside as poisoned
     * (payload: module, event_id, event, reason). */
    EXIT_EV_EXITPOISONED = 0x800,
    /* Key archival (issue 12, docs/key-archival.md): a private key was
     * archived with its certificate; a recovery was opened; a key was
     * recovered (payload: request, reason). */
    EXIT_EV_KEYARCHIVED = 0x1000,
    EXIT_EV_KEYRECOVERYREQUESTED = 0x2000,
    EXIT_EV_KEYRECOVERED = 0x4000,
};
#define EXIT_EV_ALL 0x7fff

/* EXIT_EV_ALL as an event filter key stores it (names, in bit order): the
 * default of the filters of modules that want every event. */
#define EXIT_FILTER_ALL_NAMES                                                                      \
    "CERTISSUED,CERTPENDING,CERTDENIED,CERTREVOKED,CERTRETRIEVEPENDING,CRLISSUED,SHUTDOWN,"        \
    "STARTUP,CERTUNREVOKED,CERTIMPORTED,CERTEXPIRING,EXITPOISONED,KEYARCHIVED,"                   \
    "KEYRECOVERYREQUESTED,KEYRECOVERED"

/* "CERTISSUED" for EXIT_EV_CERTISSUED; NULL for a value that is not one bit. */
const char *exit_event_name(int ev);
/* Bit for a name (case-insensitive; AD CS's "EXITEVENT_" prefix is
 * accepted: EXITEVENT_CERTISSUED), 0 if unknown. */
int exit_event_parse(const char *name);

/* Records an event in the outbox, in the current transaction. payload is an
 * optional JSON object with event-specific fields (e.g. {"crl_number":5}). */
cm_err exit_raise(db_t *db, int ev, int64_t request_id, const char *serial,
                  const char *payload) CM_MUST_USE;

/* Parses an event filter: a number (decimal or 0x hex, AD CS's EventFilter),
 * or names "CERTISSUED,CERTREVOKED", or edits "+CRLISSUED" / "-CERTDENIED"
 * applied to `old`. */
cm_err exit_filter_parse(int *out, const char *old, const char *in) CM_MUST_USE;
/* Names of the bits in mask, comma separated, into buf. */
void exit_filter_names(char *buf, size_t bufsz, int mask);
/* The config_check_fn of every exit.MODULE.eventfilter key: validates and
 * stores the filter as names (see config/config.h). */
struct config_key;
cm_err exit_check_eventfilter(char **out, const struct config_key *k, const char *old,
                              const char *in) CM_MUST_USE;

#endif
