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
    /* certmint's alert: an exit module moved an event aside as poisoned
     * (payload: module, event_id, event, reason). */
    EXIT_EV_EXITPOISONED = 0x800,
};
#define EXIT_EV_ALL 0xfff

/* "CERTISSUED" for EXIT_EV_CERTISSUED; NULL for a value that is not one bit. */
const char *exit_event_name(int ev);
/* Bit for a name (case-insensitive; AD CS's "EXITEVENT_" prefix is
 * accepted: EXITEVENT_CERTISSUED), 0 if unknown. */
int exit_event_parse(const char *name);

/* Records an event in the outbox, in the current transaction. payload is an
 * optional JSON object with event-specific fields (e.g. {"crl_number":5}). */
cm_err exit_raise(db_t *db, int ev, int64_t request_id, const char *serial,
                  const char *payload) CM_MUST_USE;

/* ---- Exit modules ------------------------------------------------------
 * An exit module is an ops table registered in the static table in
 * dispatch.c. The dispatcher hands each enabled module the events that pass
 * its filter, in outbox order, in batches; the module delivers a prefix of
 * them and says how many (`*acked`). The acknowledged position is stored in
 * the database after each batch, so delivery is at least once and in order
 * per module; a module that fails is retried later with backoff. */
#include <stddef.h>

#define EXIT_MODULE_VERSION 1

struct ca_ctx;

/* What a module sees of one event: the outbox record and every database
 * column of its request/certificate (values[i] is db_columns[i] as text,
 * NULL when empty; NULL array when the event has no row, e.g. CRLISSUED). */
struct exit_event_ctx {
    const struct db_event *ev;
    const char *const *values;
    const unsigned char *cert_der; /* the certificate, when there is one */
    size_t cert_der_len;
};

/* Facts about the CA every module needs for its messages. */
struct exit_ca_info {
    const char *name;   /* ca.name, else the CA's CN */
    const char *dn;     /* RFC 4514 subject DN */
    const char *key_id; /* subject key identifier, lower-case hex */
    const char *hostname;
};

struct exit_module_ops {
    int version; /* EXIT_MODULE_VERSION */
    const char *name;
    /* 1 when an acknowledgement means the record left this machine (SMTP,
     * LDAP): only those release certificates in strict audit mode. The file
     * module is off-box only when exit.file.offbox says its directory is. */
    int (*offbox)(void *state);
    /* Reads the module's configuration; a bad setting is CM_ERR_CONFIG. */
    cm_err (*init)(void **state, struct ca_ctx *ca, const struct exit_ca_info *info);
    /* Delivers a prefix of evs[0..n): *acked = how many were delivered. A
     * non-OK return with *acked < n leaves the rest queued. The module sets
     * *poison = 1 with a non-OK return when evs[*acked] itself can never be
     * delivered as it is (its permanent-failure rule: for SMTP a render
     * error or a 5xx reply to the message); the dispatcher then moves that
     * event aside as poisoned and goes on with the next. A failure of the
     * server or the configuration leaves *poison 0: everything waits. */
    cm_err (*deliver)(void *state, const struct exit_event_ctx *const *evs, size_t n, size_t *acked,
                      int *poison);
    void (*shutdown)(void *state);
};

/* The event filter of module `name` (exit.NAME.eventfilter), a mask of
 * EXIT_EV_* bits. */
int exit_module_filter(const struct ca_ctx *ca, const char *name);

/* Parses an event filter: a number (decimal or 0x hex, AD CS's EventFilter),
 * or names "CERTISSUED,CERTREVOKED", or edits "+CRLISSUED" / "-CERTDENIED"
 * applied to `old`. */
cm_err exit_filter_parse(int *out, const char *old, const char *in) CM_MUST_USE;
/* The config_check_fn of every exit.MODULE.eventfilter key: validates and
 * stores the filter as names (see config/config.h). */
struct config_key;
cm_err exit_check_eventfilter(char **out, const struct config_key *k, const char *old,
                              const char *in) CM_MUST_USE;
/* Names of the bits in mask, comma separated, into buf. */
void exit_filter_names(char *buf, size_t bufsz, int mask);

enum {
    EXIT_DELIVER_RESPECT_BACKOFF = 1, /* skip modules whose retry time has not come */
    EXIT_DELIVER_ALLOW_WAIT = 2,      /* let part-filled batches wait (batch_window) */
    EXIT_DELIVER_WAIT_LOCK = 4,       /* wait while another process delivers */
};

struct exit_delivery_report {
    size_t delivered; /* events acknowledged in this call, over all modules */
    size_t failed_modules;
    size_t poisoned; /* events moved aside in this call */
    int busy;        /* another process was delivering: nothing was tried */
};

/* Delivers queued events to every enabled module. One process delivers at a
 * time (a lock file in the CA home): without EXIT_DELIVER_WAIT_LOCK a call
 * that finds another process delivering returns at once with rep->busy set,
 * leaving the events to that process. Each module's position is recorded
 * after every deliver() call of at most exit.MODULE.batch_max events. Errors
 * of modules are recorded (exit status) and logged, not returned: only a
 * failure of the database itself (or of the lock file) is returned. */
cm_err exit_deliver(struct ca_ctx *ca, int flags, struct exit_delivery_report *rep) CM_MUST_USE;

/* Per-module state for `certmint exit status`. */
struct exit_module_status {
    const char *name;
    int enabled;
    int filter;
    int offbox;
    int64_t acked;        /* last acknowledged event ID */
    int64_t backlog;      /* events waiting that pass the filter */
    int64_t last_success; /* 0 = never */
    int64_t last_error_when;
    char last_error[512];
    int64_t attempts; /* consecutive failures */
    int64_t next_attempt;
    int64_t poisoned; /* events moved aside (db_poison_iter lists them) */
    int configured;   /* some exit.NAME.* (or ldap.*) key is set */
};
typedef void (*exit_status_cb)(void *ctx, const struct exit_module_status *st);
cm_err exit_status(struct ca_ctx *ca, exit_status_cb cb, void *ctx) CM_MUST_USE;

/* Moves module `name`'s position to the newest event (skips the backlog,
 * and forgets the module's poisoned events). */
cm_err exit_skip(struct ca_ctx *ca, const char *name) CM_MUST_USE;

/* Delivers poisoned event `id` again, to `module` or (NULL) to every module
 * that has it poisoned, and on success takes it off the list (and, in
 * strict mode, releases its certificate). CM_ERR_NOTFOUND when the event is
 * not poisoned; the module's error when it still fails (the reason is
 * updated). *delivered counts the modules that took it. */
cm_err exit_retry(struct ca_ctx *ca, int64_t id, const char *module, size_t *delivered) CM_MUST_USE;

/* Calls cb for every poisoned event of module (NULL: of every module). */
cm_err exit_poisoned(struct ca_ctx *ca, const char *module, db_poison_cb cb, void *ctx) CM_MUST_USE;

/* `config set` checks of exit keys that need the whole configuration:
 * every SMTP template that `key` takes part in must compile against the
 * configuration as it would be saved (format %N within its argument list,
 * known columns). CM_ERR_CONFIG naming the keys otherwise. */
struct cm_config;
cm_err exit_config_check(const struct cm_config *cfg, const char *key) CM_MUST_USE;
/* A warning for `config set` (NULL: none): key configures a module that
 * exit.modules does not list, so nothing would be delivered through it.
 * Written into buf. */
const char *exit_config_warning(char *buf, size_t bufsz, const struct cm_config *cfg,
                                const char *key);
/* The same check for smtp's templates only (smtp.c). */
cm_err exit_smtp_check_templates(const struct cm_config *cfg) CM_MUST_USE;

/* Finds a registered module. */
const struct exit_module_ops *exit_module_find(const char *name);

/* Raises CERTEXPIRING for certificates expiring within exit.expiring_days
 * that have not been announced yet (once per certificate). */
cm_err exit_raise_expiring(struct ca_ctx *ca, size_t *raised) CM_MUST_USE;

#endif
