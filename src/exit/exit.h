/* Exit modules: what delivers CA events (event/event.h) to the world.
 *
 * Raising an event writes it to the database outbox in the caller's
 * transaction (exit_raise, event/event.h); delivery to the configured
 * modules happens after commit (exit_deliver), with retries, in order, at
 * least once. */
#ifndef CM_EXIT_EXIT_H
#define CM_EXIT_EXIT_H

#include "config/config.h"
#include "db/db.h"
#include "event/event.h"
#include "util/err.h"

/* ---- Exit modules ------------------------------------------------------
 * An exit module is one file that fills one struct exit_module_ops: its
 * functions, its configuration keys and their one-line docs. The module is
 * listed once, in the static table of registry.c; nothing else names it.
 * The dispatcher hands each enabled module the events that pass its filter,
 * in outbox order, in batches; the module delivers a prefix of them and
 * says how many (`*acked`). The acknowledged position is stored in the
 * database after each deliver() call, so delivery is at least once and in order per
 * module; a module that fails is retried later with backoff.
 * docs/exit-modules.md ("Writing a module") walks through a new one. */
#include <stddef.h>

/* The layout of struct exit_module_ops. Bumped whenever a field is added,
 * removed or changes meaning: exit_registry_init refuses a module built
 * against another layout, naming it. 2: description, keys, reads_prefix,
 * check_config. */
#define EXIT_MODULE_VERSION 2

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
    /* version and name stay the first two fields in every layout, so that
     * the registry can name a module built against another one. */
    int version;             /* EXIT_MODULE_VERSION */
    const char *name;        /* [a-z0-9]+: exit.modules lists it, keys are exit.NAME.* */
    const char *description; /* one line for docs and `certmint exit status` */
    /* The module's configuration keys, each under exit.NAME. (checked at
     * start), {NULL}-terminated; NULL: none. Their help strings are the
     * docs (`certmint config keys`, docs/configuration.md). The registry
     * adds them to the configuration schema. */
    const struct config_key *keys;
    /* Another prefix of keys the module reads ("ldap." for the directory
     * settings it shares with dspublish), or NULL: `config set` warns when
     * such a key is set while the module is not enabled. */
    const char *reads_prefix;
    /* Optional (NULL): checks of the module's keys that need the whole
     * configuration, run by `config set` on the configuration as it would
     * be saved. CM_ERR_CONFIG naming the keys. */
    cm_err (*check_config)(const cm_config *cfg);
    /* 1 when an acknowledgement means the record left this machine (SMTP,
     * LDAP): only those release certificates in strict audit mode. The file
     * module is off-box only when exit.file.offbox says its directory is. */
    int (*offbox)(void *state);
    /* Reads the module's configuration; a bad setting is CM_ERR_CONFIG. */
    cm_err (*init)(void **state, struct ca_ctx *ca, const struct exit_ca_info *info);
    /* Delivers a prefix of evs[0..n): *acked = how many were delivered. A
     * non-OK return with *acked < n leaves the rest queued. CM_OK with
     * 0 < *acked < n: the prefix is delivered and the dispatcher records
     * it before it calls again with the rest (SMTP returns after each mail,
     * so that a mail's acknowledgement is committed the moment its 250
     * arrives); CM_OK with *acked 0 counts as a failure. The module sets
     * *poison = 1 with a non-OK return when evs[*acked] itself can never be
     * delivered as it is (its permanent-failure rule: for SMTP a render
     * error or a 5xx reply to the message); the dispatcher then moves that
     * event aside as poisoned and goes on with the next. A failure of the
     * server or the configuration leaves *poison 0: everything waits. */
    cm_err (*deliver)(void *state, const struct exit_event_ctx *const *evs, size_t n, size_t *acked,
                      int *poison);
    void (*shutdown)(void *state);
};

/* ---- The registry (registry.c) ----------------------------------------- */

/* The registered modules, NULL-terminated, in the order events are
 * delivered and `exit status` lists them. */
extern const struct exit_module_ops *const exit_modules[];

/* Checks a NULL-terminated table of modules: the ops version, a valid and
 * unique name, the required functions, and that every key lies under
 * exit.NAME. CM_ERR_CONFIG naming the module and what is wrong. */
cm_err exit_registry_check(const struct exit_module_ops *const *mods) CM_MUST_USE;

/* Run once at start by every front end (and every test that reads exit or
 * directory keys), before threads: checks the module table
 * (exit_registry_check) and adds to the configuration schema the exit
 * framework's keys, the directory client's (ldap.*) and each module's.
 * Idempotent and thread-safe: later calls return the first call's result. */
cm_err exit_registry_init(void) CM_MUST_USE;

/* Mails a one-time enrollment token to its address through the SMTP
 * module's server and settings (exit.smtp.*) with its own template
 * (exit.smtp.token.*, docs/tokens.md); only to that address. */
struct exit_token_mail {
    const char *email, *token, *id, *profile;
    int64_t expires;
};
cm_err exit_smtp_mail_token(struct ca_ctx *ca, const struct exit_token_mail *tm) CM_MUST_USE;

/* Finds a registered module. */
const struct exit_module_ops *exit_module_find(const char *name);

/* The event filter of module `name` (exit.NAME.eventfilter), a mask of
 * EXIT_EV_* bits. */
int exit_module_filter(const struct ca_ctx *ca, const char *name);

enum {
    EXIT_DELIVER_RESPECT_BACKOFF = 1, /* skip modules whose retry time has not come */
    EXIT_DELIVER_ALLOW_WAIT = 2,      /* let part-filled batches wait (batch_window) */
    EXIT_DELIVER_WAIT_LOCK = 4,       /* wait while another process delivers */
};

struct exit_delivery_report {
    size_t delivered; /* events acknowledged in this call, over all modules */
    size_t failed_modules;
    size_t poisoned; /* events moved aside in this call */
    int busy;        /* another process was delivering a module: left to it */
};

/* Delivers queued events to every enabled module. Each module is delivered
 * by one process at a time (its claim, the database lock "exit-NAME"):
 * without EXIT_DELIVER_WAIT_LOCK a module that another process is
 * delivering is left to that process (rep->busy set) while this call
 * delivers the others; with it, the call waits for each claim. Each
 * module's position is recorded after every deliver() call (for SMTP:
 * every mail) in its own transaction. Errors of modules are recorded (exit
 * status) and logged, not returned: only a failure of the database itself
 * (or of a lock) is returned. */
cm_err exit_deliver(struct ca_ctx *ca, int flags, struct exit_delivery_report *rep) CM_MUST_USE;

/* The delivery every front end runs after a command committed (the policy
 * lives here, not in the front ends): retry times are respected; in strict
 * audit mode (audit.require_offbox) the command's certificate is released
 * only by a delivery, so a running `certmint serve`'s pass is waited for
 * rather than left to it; otherwise a running serve delivers the events and
 * the call returns at once. Module errors are recorded for `exit status`
 * and counted in rep, never fatal; the events stay queued. actor is who
 * ran the command. rep is always filled (zero on error). */
cm_err exit_deliver_committed(struct exit_delivery_report *rep, struct ca_ctx *ca) CM_MUST_USE;

/* ca_retrieve with the delivery around it: a certificate withheld in
 * strict audit mode gets one delivery and one more try (its off-box record
 * may just be waiting in the queue); the CERTRETRIEVEPENDING event of a
 * retrieval is delivered at once. rep: that delivery (its errors are not
 * returned). CM_ERR_WITHHELD when it is still withheld. */
cm_err exit_retrieve(unsigned char **der, size_t *len, struct exit_delivery_report *rep,
                     struct ca_ctx *ca, int64_t request_id) CM_MUST_USE;

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

/* `config set` checks of exit keys that need the whole configuration: the
 * check_config of the module whose exit.NAME. prefix `key` has (for SMTP:
 * every template must compile against the configuration as it would be
 * saved). CM_ERR_CONFIG naming the keys otherwise. */
cm_err exit_config_check(const cm_config *cfg, const char *key) CM_MUST_USE;
/* A warning for `config set` (NULL: none): key configures a module that
 * exit.modules does not list, so nothing would be delivered through it.
 * Written into buf. */
const char *exit_config_warning(char *buf, size_t bufsz, const cm_config *cfg, const char *key);

/* Raises CERTEXPIRING for certificates expiring within exit.expiring_days
 * that have not been announced yet (once per certificate). */
cm_err exit_raise_expiring(struct ca_ctx *ca, size_t *raised) CM_MUST_USE;

#endif
