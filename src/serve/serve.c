#include "serve/serve.h"
#include "ca/ca_int.h"

#include "crl/crl.h"
#include "exit/exit.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static cm_err raise_service_event(ca_ctx *ca, int ev)
{
    cm_err rc = CM_OK;
    char payload[128];
    snprintf(payload, sizeof(payload), "{\"pid\":%ld}", (long)getpid());
    CM_TRY(db_begin(ca->db));
    CM_TRY(exit_raise(ca->db, ev, 0, NULL, payload));
    CM_TRY(ca_audit(ca, ev == EXIT_EV_STARTUP ? "service-start" : "service-stop", 0, NULL, NULL));
    CM_TRY(db_commit(ca->db));
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}

/* Is a new CRL of this kind due? Republished `overlap` before nextUpdate
 * (at most half the period, so a short period still leaves a valid CRL). */
static cm_err crl_due(int *due, ca_ctx *ca, int delta)
{
    cm_err rc = CM_OK;
    struct db_crl *last = NULL, *full = NULL;
    int64_t period = 0, overlap = 3600, now = (int64_t)time(NULL);

    *due = 0;
    CM_TRY(config_get_seconds(ca->cfg, delta ? "crl.delta_period" : "crl.period", &period));
    if (period <= 0)
        goto out;
    if (config_get_seconds(ca->cfg, "crl.overlap", &overlap) != CM_OK)
        overlap = 3600;
    if (overlap > period / 2)
        overlap = period / 2;
    CM_TRY(db_crl_last(ca->db, &last, delta));
    if (delta) {
        CM_TRY(db_crl_last(ca->db, &full, 0));
        if (full == NULL)
            goto out; /* a delta needs a base full CRL first */
        /* A new full CRL makes the old delta's base stale. */
        if (last == NULL || last->base_number < full->number) {
            *due = 1;
            goto out;
        }
    }
    if (last == NULL || now >= last->next_update - overlap)
        *due = 1;
out:
    db_crl_free(last);
    db_crl_free(full);
    return rc;
}

/* Several nodes on one database (docs/postgresql.md): one at a time
 * publishes, under the database's "crl" lock (PostgreSQL: an advisory
 * lock), and decides whether a CRL is due only once it holds it, so that
 * a CRL another node has just published is not published again. */
#define CRL_LOCK "crl"

static void publish_due_crls(ca_ctx *ca)
{
    int held = 0;

    if (db_lock(ca->db, &held, CRL_LOCK, 0) != CM_OK) {
        log_error("CRL schedule: %s", cm_err_msg());
        return;
    }
    if (!held)
        return; /* another node is publishing */
    for (int delta = 0; delta <= 1; delta++) {
        struct crl_result r;
        int due = 0;
        if (crl_due(&due, ca, delta) != CM_OK) {
            log_error("CRL schedule: %s", cm_err_msg());
            continue;
        }
        if (!due)
            continue;
        if (crl_publish(&r, ca, delta) != CM_OK) {
            log_error("publishing the %s CRL: %s", delta ? "delta" : "full", cm_err_msg());
            continue;
        }
        log_info("published %s CRL %lld (%lld entries)", delta ? "delta" : "full",
                 (long long)r.number, (long long)r.entries);
    }
    db_unlock(ca->db, CRL_LOCK);
}

/* The database as the loop sees it: a node whose database went away
 * (restart, failover, network) says so once, stops working (every step
 * needs the database: nothing is issued or released without its committed
 * row), tries again with exponential backoff (1 s doubling to
 * DB_BACKOFF_MAX_S) and says when it resumes. */
#define DB_BACKOFF_MAX_S 16

struct db_health {
    int64_t down_since; /* 0: reachable */
    int64_t backoff;    /* seconds to wait before the next try */
};

/* 1 when the database answers; else logs (once per outage) and sets
 * h->backoff for the caller's sleep. */
static int db_reachable(struct db_health *h, ca_ctx *ca)
{
    int64_t v = 0, now = (int64_t)time(NULL);

    if (db_counter_get(ca->db, &v, DB_COUNTER_CRL_NUMBER) == CM_OK) {
        if (h->down_since != 0)
            log_info("database reachable again after %lld s: resuming",
                     (long long)(now - h->down_since));
        h->down_since = 0;
        h->backoff = 0;
        return 1;
    }
    if (h->down_since == 0) {
        log_error("database unreachable: %s; stopped (nothing is issued or delivered), retrying "
                  "with backoff",
                  cm_err_msg());
        h->down_since = now;
    } else {
        log_debug("database still unreachable: %s", cm_err_msg());
    }
    h->backoff = h->backoff == 0 ? 1 : h->backoff * 2;
    if (h->backoff > DB_BACKOFF_MAX_S)
        h->backoff = DB_BACKOFF_MAX_S;
    return 0;
}

static void reload_config(ca_ctx *ca)
{
    if (ca_reload_config(ca) != CM_OK) {
        log_error("reload refused, keeping the running configuration: %s", cm_err_msg());
        return;
    }
    log_info("configuration reloaded");
}

static int poll_requests(const struct serve_opts *o)
{
    return o && o->poll ? o->poll(o->poll_ctx) : SERVE_RUN;
}

/* Module lines for the start-up log: what is on, what is configured but
 * off (the new administrator's trap), and what waits. */
struct start_log {
    char active[256];
    int64_t backlog, poisoned;
};

static void start_module_cb(void *ctx, const struct exit_module_status *st)
{
    struct start_log *l = ctx;
    size_t n = strlen(l->active);
    if (st->enabled) {
        snprintf(l->active + n, sizeof(l->active) - n, "%s%s%s", n ? "," : "", st->name,
                 st->offbox ? " (off-box)" : "");
        l->backlog += st->backlog;
        l->poisoned += st->poisoned;
        if (st->last_error[0])
            log_warn("exit module %s: last error: %s", st->name, st->last_error);
    } else if (st->configured) {
        log_warn("exit module %s is configured but not enabled (exit.modules): nothing is "
                 "delivered through it",
                 st->name);
    }
}

/* When the next CRL of this kind is due (0: never: its period is 0). */
static int64_t crl_next_time(ca_ctx *ca, int delta)
{
    struct db_crl *last = NULL;
    int64_t period = 0, overlap = 3600, when = 0;
    if (config_get_seconds(ca->cfg, delta ? "crl.delta_period" : "crl.period", &period) != CM_OK ||
        period <= 0)
        return 0;
    if (config_get_seconds(ca->cfg, "crl.overlap", &overlap) != CM_OK)
        overlap = 3600;
    if (overlap > period / 2)
        overlap = period / 2;
    if (db_crl_last(ca->db, &last, delta) != CM_OK)
        return 0;
    when = last == NULL ? (int64_t)time(NULL) : last->next_update - overlap;
    db_crl_free(last);
    return when;
}

static void log_start(ca_ctx *ca)
{
    struct start_log l;
    char full[32] = "never", delta[32] = "never";
    int64_t t;

    memset(&l, 0, sizeof(l));
    if (exit_status(ca, start_module_cb, &l) != CM_OK) {
        log_error("exit module status: %s", cm_err_msg());
        return;
    }
    if ((t = crl_next_time(ca, 0)) > 0)
        text_format_time(full, sizeof(full), t);
    if ((t = crl_next_time(ca, 1)) > 0)
        text_format_time(delta, sizeof(delta), t);
    log_info("exit modules active: %s; backlog %lld event(s), %lld poisoned; next full CRL %s "
             "UTC, next delta CRL %s UTC",
             l.active[0] ? l.active : "none (exit.modules is empty)", (long long)l.backlog,
             (long long)l.poisoned, full, delta);
}

/* STARTUP recorded; a node (re)started while its database is away waits
 * for it as the loop does, rather than exiting. */
static cm_err serve_start_event(struct db_health *h, ca_ctx *ca, const struct serve_opts *o)
{
    cm_err rc;

    while ((rc = raise_service_event(ca, EXIT_EV_STARTUP)) == CM_ERR_IO || rc == CM_ERR_NET) {
        struct timespec ts = {1, 0};
        if (!db_reachable(h, ca))
            ts.tv_sec = (time_t)h->backoff;
        if ((poll_requests(o) & SERVE_STOP) || (o && o->once))
            break;
        nanosleep(&ts, NULL);
    }
    return rc;
}

cm_err serve_run(ca_ctx *ca, const struct serve_opts *o)
{
    cm_err rc = CM_OK;
    struct exit_delivery_report rep;
    int64_t poll = 2, last_expiry = 0;
    size_t raised;
    int req = SERVE_RUN;
    struct db_health health = {0, 0};

    CM_TRY(ca_load_key(ca));
    CM_TRY(serve_start_event(&health, ca, o));
    log_info("certmint serve started for %s (pid %ld)", ca->home, (long)getpid());
    log_start(ca);
    for (;;) {
        int reloaded = 0;
        req |= poll_requests(o);
        if (req & SERVE_STOP)
            break;
        if (req & SERVE_RELOAD) {
            reload_config(ca);
            reloaded = 1;
        }
        req = SERVE_RUN;
        if (!db_reachable(&health, ca)) {
            struct timespec ts = {(time_t)health.backoff, 0};
            if (o && o->once)
                break;
            nanosleep(&ts, NULL);
            req = poll_requests(o);
            continue;
        }
        publish_due_crls(ca);
        if ((int64_t)time(NULL) - last_expiry >= 3600) {
            if (exit_raise_expiring(ca, &raised) != CM_OK)
                log_error("CERTEXPIRING: %s", cm_err_msg());
            else if (raised)
                log_info("raised CERTEXPIRING for %zu certificate(s)", raised);
            last_expiry = (int64_t)time(NULL);
        }
        if (exit_deliver(ca, EXIT_DELIVER_RESPECT_BACKOFF | EXIT_DELIVER_ALLOW_WAIT, &rep) != CM_OK)
            log_error("event delivery: %s", cm_err_msg());
        if (o && o->tick)
            o->tick(o->tick_ctx, ca, reloaded);
        if (o && o->once)
            break;
        if (config_get_seconds(ca->cfg, "serve.poll_interval", &poll) != CM_OK || poll < 1)
            poll = 1;
        {
            /* Until the next poll, or earlier when any node (or command)
             * commits an event (PostgreSQL: LISTEN/NOTIFY, db.h C11) or a
             * signal arrives (EINTR). */
            int woken = 0;
            if (db_wait(ca->db, &woken, (int)(poll * 1000)) != CM_OK)
                log_debug("waiting for events: %s", cm_err_msg());
        }
        req = poll_requests(o);
    }
    /* SHUTDOWN: recorded, then drained as far as the modules allow (after
     * a command that is delivering at this moment, rather than leaving
     * SHUTDOWN to whichever process delivers next). */
    CM_TRY(raise_service_event(ca, EXIT_EV_SHUTDOWN));
    if (exit_deliver(ca, EXIT_DELIVER_WAIT_LOCK, &rep) != CM_OK)
        log_error("event delivery at shutdown: %s", cm_err_msg());
    log_info("certmint serve stopped");
out:
    return rc;
}
