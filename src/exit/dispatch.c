/* The exit-module dispatcher: delivers outbox events to every enabled
 * module, in order, at least once, with per-module position, error state
 * and backoff kept in the database (meta keys exit.MODULE.*). */
#include "exit/exit.h"
#include "ca/ca_int.h"

#include "ca/ca.h"
#include "ca/name.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* The module table lives in registry.c (the one place a module is listed). */
static const struct exit_module_ops *const *const modules = exit_modules;

/* Events handed to a module per call, and the backoff ceiling. */
#define BATCH_EVENTS 1000
#define BACKOFF_MAX_S 300

int exit_module_filter(const struct ca_ctx *ca, const char *name)
{
    char key[128];
    int mask = 0;
    const char *v;
    snprintf(key, sizeof(key), "exit.%s.eventfilter", name);
    if (config_schema_find(key) == NULL)
        return EXIT_EV_ALL;
    v = config_get(ca->cfg, key);
    if (v == NULL || exit_filter_parse(&mask, NULL, v) != CM_OK)
        return EXIT_EV_ALL;
    return mask;
}

/* Is module `name` listed in exit.modules? */
static int module_enabled(const struct ca_ctx *ca, const char *name)
{
    char buf[512], *save = NULL, *tok;
    const char *v = config_get(ca->cfg, "exit.modules");
    if (v == NULL || strlen(v) >= sizeof(buf))
        return 0;
    memcpy(buf, v, strlen(v) + 1);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (strcmp(tok, name) == 0)
            return 1;
    return 0;
}

static int64_t meta_int(db_t *db, const char *module, const char *what)
{
    char key[128], *v = NULL;
    long long n = 0;
    snprintf(key, sizeof(key), "exit.%s.%s", module, what);
    if (db_meta_get(db, &v, key) != CM_OK || v == NULL)
        return 0;
    if (text_parse_int(&n, v, INT64_MIN, INT64_MAX, key) != CM_OK)
        n = 0;
    free(v);
    return n;
}

static cm_err meta_set_int(db_t *db, const char *module, const char *what, int64_t n)
{
    char key[128], v[32];
    snprintf(key, sizeof(key), "exit.%s.%s", module, what);
    snprintf(v, sizeof(v), "%lld", (long long)n);
    return db_meta_set(db, key, v);
}

static cm_err meta_set_str(db_t *db, const char *module, const char *what, const char *s)
{
    char key[128];
    snprintf(key, sizeof(key), "exit.%s.%s", module, what);
    return db_meta_set(db, key, s);
}

/* ---- Building event contexts ---- */

struct ev_item {
    struct db_event ev;
    char **values;       /* db_ncolumns strings, or NULL */
    unsigned char *cert; /* RawCertificate copy */
    size_t cert_len;
    int row_tried; /* looked up (load_rows), whether found or not */
    struct exit_event_ctx ctx;
};

struct collect {
    struct ev_item *items;
    size_t n, cap;
};

static cm_err collect_cb(void *ctx, const struct db_event *ev)
{
    struct collect *c = ctx;
    if (c->n == c->cap)
        return CM_OK;
    memset(&c->items[c->n], 0, sizeof(c->items[c->n]));
    c->items[c->n].ev = *ev;
    c->items[c->n].ev.payload = ev->payload ? strdup(ev->payload) : NULL;
    if (ev->payload && c->items[c->n].ev.payload == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    c->n++;
    return CM_OK;
}

/* Copies one view row into an item (values as text, the certificate). */
static cm_err item_set_row(struct ev_item *it, const struct db_row *row)
{
    int raw = db_column_find("RawCertificate");
    size_t i;

    it->values = calloc(db_ncolumns, sizeof(char *));
    if (it->values == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (i = 0; i < db_ncolumns; i++) {
        if (row->values[i] == NULL)
            continue;
        it->values[i] = strdup(row->values[i]);
        if (it->values[i] == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    if (raw >= 0 && row->blobs && row->blobs[raw] && row->blob_len[raw] > 0) {
        it->cert = malloc(row->blob_len[raw]);
        if (it->cert == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        memcpy(it->cert, row->blobs[raw], row->blob_len[raw]);
        it->cert_len = row->blob_len[raw];
    }
    return CM_OK;
}

struct row_copy {
    struct ev_item *it;
    int found;
};

static cm_err row_cb(void *ctx, const struct db_row *row)
{
    struct row_copy *rc = ctx;
    if (rc->found)
        return CM_OK;
    rc->found = 1;
    return item_set_row(rc->it, row);
}

/* Loads the view row of an event (by RequestID, else by SerialNumber). */
static cm_err load_row(db_t *db, struct ev_item *it)
{
    struct db_restrict r;
    struct row_copy rc = {it, 0};
    memset(&r, 0, sizeof(r));
    if (it->ev.request_id > 0) {
        r.column = db_column_find("RequestID");
        r.op = DB_OP_EQ;
        r.ival = it->ev.request_id;
    } else if (it->ev.serial[0] != '\0') {
        r.column = db_column_find("SerialNumber");
        r.op = DB_OP_EQ;
        r.sval = it->ev.serial;
    } else {
        return CM_OK;
    }
    return db_view(db, &r, 1, row_cb, &rc);
}

/* Bulk loading: the rows of a run of events whose RequestIDs lie close
 * together (a burst of issuances) come from one range query instead of one
 * query per event. by_rid lists the items sorted by RequestID. */
struct rid_ref {
    int64_t rid;
    size_t item;
};

struct range_load {
    struct ev_item *items;
    struct rid_ref *by_rid;
    size_t n;
    int rid_col;
};

static int rid_cmp(const void *a, const void *b)
{
    const struct rid_ref *x = a, *y = b;
    if (x->rid != y->rid)
        return (x->rid > y->rid) - (x->rid < y->rid);
    return (x->item > y->item) - (x->item < y->item);
}

static cm_err range_cb(void *ctx, const struct db_row *row)
{
    struct range_load *rl = ctx;
    const char *v = row->values[rl->rid_col];
    long long rid;
    size_t lo = 0, hi = rl->n;

    if (v == NULL || text_parse_int(&rid, v, 1, INT64_MAX, "RequestID") != CM_OK)
        return CM_OK;
    while (lo < hi) { /* the first reference with rid >= this row's */
        size_t mid = lo + (hi - lo) / 2;
        if (rl->by_rid[mid].rid < rid)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < rl->n && rl->by_rid[lo].rid == rid; lo++) {
        struct ev_item *it = &rl->items[rl->by_rid[lo].item];
        if (it->values == NULL) {
            cm_err rc = item_set_row(it, row);
            if (rc != CM_OK)
                return rc;
        }
    }
    return CM_OK;
}

/* The view hides a withheld certificate (strict audit mode); the mail that
 * releases it must carry it, so it is read from the certificate record. */
static cm_err load_withheld(db_t *db, struct ev_item *it)
{
    int wcol = db_column_find("Withheld"), scol = db_column_find("SerialNumber");
    struct db_cert *c = NULL;
    cm_err rc = CM_OK;

    if (it->values == NULL || it->cert != NULL || it->values[wcol] == NULL ||
        strcmp(it->values[wcol], "0") == 0 || it->values[scol] == NULL)
        return CM_OK;
    CM_TRY(db_cert_get(db, &c, it->values[scol]));
    if (c != NULL && c->raw != NULL && c->raw_len > 0) {
        it->cert = malloc(c->raw_len);
        CM_NOMEM_IF(it->cert == NULL);
        memcpy(it->cert, c->raw, c->raw_len);
        it->cert_len = c->raw_len;
    }
out:
    db_cert_free(c);
    return rc;
}

static cm_err load_rows(db_t *db, struct ev_item *items, size_t n)
{
    cm_err rc = CM_OK;
    struct range_load rl = {items, NULL, 0, db_column_find("RequestID")};
    struct db_restrict r[2];
    int64_t lo = INT64_MAX, hi = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (items[i].ev.request_id <= 0)
            continue;
        if (items[i].ev.request_id < lo)
            lo = items[i].ev.request_id;
        if (items[i].ev.request_id > hi)
            hi = items[i].ev.request_id;
        rl.n++;
    }
    /* A range query pays when the range is dense enough; sparse events
     * (a revocation of an old certificate) are looked up one by one. */
    if (rl.n >= 8 && (uint64_t)(hi - lo) < 4 * (uint64_t)rl.n + 64) {
        rl.by_rid = malloc(rl.n * sizeof(*rl.by_rid));
        CM_NOMEM_IF(rl.by_rid == NULL);
        rl.n = 0;
        for (i = 0; i < n; i++)
            if (items[i].ev.request_id > 0)
                rl.by_rid[rl.n++] = (struct rid_ref){items[i].ev.request_id, i};
        qsort(rl.by_rid, rl.n, sizeof(*rl.by_rid), rid_cmp);
        memset(r, 0, sizeof(r));
        r[0].column = r[1].column = rl.rid_col;
        r[0].op = DB_OP_GE;
        r[0].ival = lo;
        r[1].op = DB_OP_LE;
        r[1].ival = hi;
        CM_TRY(db_view(db, r, 2, range_cb, &rl));
        for (i = 0; i < n; i++) /* in the range but not in the view: no row */
            if (items[i].ev.request_id > 0)
                items[i].row_tried = 1;
    }
    for (i = 0; i < n; i++)
        if (items[i].values == NULL && !items[i].row_tried)
            CM_TRY(load_row(db, &items[i]));
    for (i = 0; i < n; i++)
        CM_TRY(load_withheld(db, &items[i]));
out:
    free(rl.by_rid);
    return rc;
}

static void items_free(struct ev_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].ev.payload);
        if (items[i].values)
            for (size_t j = 0; j < db_ncolumns; j++)
                free(items[i].values[j]);
        free(items[i].values);
        free(items[i].cert);
    }
}

/* ---- Delivery ---- */

struct info_buf {
    struct exit_ca_info info;
    char *dn, *name;
    char keyid[130];
    char host[256];
};

static cm_err info_load(struct info_buf *b, struct ca_ctx *ca)
{
    cm_err rc = CM_OK;
    const char *n;
    memset(b, 0, sizeof(*b));
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "the CA has no certificate yet");
    CM_TRY(name_to_string(&b->dn, X509_get_subject_name(ca->cert)));
    n = config_get(ca->cfg, "ca.name");
    if (n != NULL && *n != '\0') {
        b->name = strdup(n);
        CM_NOMEM_IF(b->name == NULL);
    } else {
        CM_TRY(name_get_cn(&b->name, X509_get_subject_name(ca->cert)));
        if (b->name == NULL) {
            b->name = strdup(b->dn);
            CM_NOMEM_IF(b->name == NULL);
        }
    }
    text_hex(b->keyid, ca->ski, ca->ski_len);
    if (gethostname(b->host, sizeof(b->host) - 1) != 0)
        snprintf(b->host, sizeof(b->host), "localhost");
    b->info.name = b->name;
    b->info.dn = b->dn;
    b->info.key_id = b->keyid;
    b->info.hostname = b->host;
out:
    return rc;
}

static void info_free(struct info_buf *b)
{
    free(b->dn);
    free(b->name);
}

static int strict_mode(const struct ca_ctx *ca)
{
    return config_schema_find("audit.require_offbox") != NULL &&
           config_get_bool(ca->cfg, "audit.require_offbox");
}

/* What one module's delivery run has written, so that the acknowledgement
 * of each mail (each slice) costs one small transaction. */
struct run_state {
    int64_t success_written; /* last_success value stored in this run */
    int failures_cleared;    /* attempts/next_attempt reset in this run */
};

/* Records progress (and releases withheld certificates) in one transaction.
 * The position only moves forward: `exit skip`, or a delivery that another
 * process finished first, may already have moved it further. */
static cm_err record_ack(struct ca_ctx *ca, const char *name, struct run_state *run,
                         const struct ev_item *items, size_t acked, int release)
{
    cm_err rc = CM_OK;
    size_t i;
    int64_t now = (int64_t)time(NULL);

    CM_TRY(db_begin(ca->db));
    if (items[acked - 1].ev.id > meta_int(ca->db, name, "acked"))
        CM_TRY(meta_set_int(ca->db, name, "acked", items[acked - 1].ev.id));
    if (run->success_written != now)
        CM_TRY(meta_set_int(ca->db, name, "last_success", now));
    if (!run->failures_cleared) {
        if (meta_int(ca->db, name, "attempts") > 0)
            log_info("exit module %s: delivering again after %lld failed attempt(s)", name,
                     (long long)meta_int(ca->db, name, "attempts"));
        CM_TRY(meta_set_int(ca->db, name, "attempts", 0));
        CM_TRY(meta_set_int(ca->db, name, "next_attempt", 0));
    }
    if (release) {
        for (i = 0; i < acked; i++) {
            if (items[i].ev.type != EXIT_EV_CERTISSUED || items[i].ev.serial[0] == '\0')
                continue;
            CM_TRY(db_cert_set_withheld(ca->db, items[i].ev.serial, 0));
        }
    }
    CM_TRY(db_commit(ca->db));
    run->success_written = now;
    run->failures_cleared = 1;
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}

/* A failure is logged when it starts or changes, not on every retry of
 * the same one (a server down for an hour under `certmint serve` gives one
 * line, and one when delivery works again: record_ack's caller). */
static cm_err log_failure_once(struct ca_ctx *ca, const char *name, const char *msg)
{
    char key[128], *last = NULL;
    cm_err rc;
    snprintf(key, sizeof(key), "exit.%s.last_error", name);
    rc = db_meta_get(ca->db, &last, key);
    if (rc != CM_OK)
        return rc;
    if (meta_int(ca->db, name, "attempts") == 0 || last == NULL || strcmp(last, msg) != 0)
        log_warn("%s (events stay queued; retried with backoff, logged again when it changes)",
                 msg);
    else
        log_debug("%s (still failing)", msg);
    free(last);
    return CM_OK;
}

static cm_err record_failure(struct ca_ctx *ca, const char *name, const char *msg)
{
    cm_err rc = CM_OK;
    int64_t now = (int64_t)time(NULL), attempts, delay;

    attempts = meta_int(ca->db, name, "attempts") + 1;
    /* Exponential backoff: 1, 2, 4, ... seconds, at most 5 minutes. */
    delay = attempts >= 9 ? BACKOFF_MAX_S : ((int64_t)1 << (attempts - 1));
    if (delay > BACKOFF_MAX_S)
        delay = BACKOFF_MAX_S;
    CM_TRY(db_begin(ca->db));
    CM_TRY(meta_set_int(ca->db, name, "attempts", attempts));
    CM_TRY(meta_set_int(ca->db, name, "next_attempt", now + delay));
    CM_TRY(meta_set_int(ca->db, name, "last_error_when", now));
    CM_TRY(meta_set_str(ca->db, name, "last_error", msg));
    CM_TRY(db_commit(ca->db));
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}

/* Appends s to b as a JSON string (RFC 8259 7). */
static cm_err json_str(cm_buf *b, const char *s)
{
    cm_err rc = CM_OK;
    CM_TRY(buf_append(b, "\"", 1));
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            CM_TRY(buf_printf(b, "\\%c", *p));
        else if (*p < 0x20 || *p == 0x7f)
            CM_TRY(buf_printf(b, "\\u%04x", *p));
        else
            CM_TRY(buf_append(b, p, 1));
    }
    CM_TRY(buf_append(b, "\"", 1));
out:
    return rc;
}

/* Moves event `it` of module `name` aside as poisoned, in one transaction
 * with the module's position (past it, so the events behind it flow on)
 * and the EXITPOISONED alert that tells the other modules (not raised for
 * an alert that is itself poisoned: no chain of alerts). */
static cm_err record_poison(struct ca_ctx *ca, const char *name, const struct ev_item *it,
                            const char *msg)
{
    cm_err rc = CM_OK;
    cm_buf payload = CM_BUF_INIT(8192);
    int64_t now = (int64_t)time(NULL);

    log_error("%s: event %lld (%s) moved aside as poisoned; later events go on ('certmint exit "
              "retry %lld' after fixing the cause)",
              msg, (long long)it->ev.id, exit_event_name(it->ev.type), (long long)it->ev.id);
    CM_TRY(buf_printf(&payload, "{\"module\":\"%s\",\"event_id\":%lld,\"event\":\"%s\",\"reason\":",
                      name, (long long)it->ev.id, exit_event_name(it->ev.type)));
    CM_TRY(json_str(&payload, msg));
    CM_TRY(buf_append_str(&payload, "}"));
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_poison_add(ca->db, name, it->ev.id, msg, now));
    if (it->ev.id > meta_int(ca->db, name, "acked"))
        CM_TRY(meta_set_int(ca->db, name, "acked", it->ev.id));
    if (it->ev.type != EXIT_EV_EXITPOISONED)
        CM_TRY(exit_raise(ca->db, EXIT_EV_EXITPOISONED, it->ev.request_id,
                          it->ev.serial[0] ? it->ev.serial : NULL, buf_str(&payload)));
    CM_TRY(db_commit(ca->db));
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    buf_free(&payload);
    return rc;
}

/* exit.MODULE.batch_window: under `certmint serve`, a part-filled batch
 * waits this many milliseconds (from its oldest event) for more events. */
static int batch_wait(const struct ca_ctx *ca, const char *name, const struct ev_item *items,
                      size_t n)
{
    char kw[128], km[128];
    long long window = 0, max = 1;
    struct timespec now;
    snprintf(kw, sizeof(kw), "exit.%s.batch_window", name);
    snprintf(km, sizeof(km), "exit.%s.batch_max", name);
    if (config_schema_find(kw) == NULL || config_get_int(ca->cfg, kw, &window) != CM_OK ||
        window <= 0)
        return 0;
    if (config_schema_find(km) != NULL && config_get_int(ca->cfg, km, &max) == CM_OK &&
        (long long)n >= max)
        return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    return ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000) - items[0].ev.created * 1000 <
           window;
}

/* Events per deliver() call: exit.MODULE.batch_max where the module has
 * one (SMTP: one mail per call unless routes differ), so that the position
 * can be recorded between mails; other modules get whole chunks. */
static size_t module_slice(const struct ca_ctx *ca, const char *name)
{
    char k[128];
    long long max = 0;
    snprintf(k, sizeof(k), "exit.%s.batch_max", name);
    if (config_schema_find(k) == NULL || config_get_int(ca->cfg, k, &max) != CM_OK || max < 1 ||
        max > BATCH_EVENTS)
        return BATCH_EVENTS;
    return (size_t)max;
}

/* Points the module's view of each collected event at its row. */
static void chunk_contexts(struct collect *c, const struct exit_event_ctx **ctxs)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        c->items[i].ctx.ev = &c->items[i].ev;
        c->items[i].ctx.values = (const char *const *)c->items[i].values;
        c->items[i].ctx.cert_der = c->items[i].cert;
        c->items[i].ctx.cert_der_len = c->items[i].cert_len;
        ctxs[i] = &c->items[i].ctx;
    }
}

/* Starts the module for its first chunk. When it cannot start, records the
 * failure and leaves *state NULL. *release: whether strict mode releases
 * certificates once this module has taken them off the box. */
static cm_err module_start(void **state, int *release, struct ca_ctx *ca,
                           const struct exit_module_ops *m, const struct exit_ca_info *info,
                           struct exit_delivery_report *rep)
{
    cm_err rc = CM_OK, mrc;
    char msg[600];

    mrc = m->init(state, ca, info);
    if (mrc != CM_OK) {
        /* Modules report bare reasons; the module is named here. */
        snprintf(msg, sizeof(msg), "exit module %s: %s", m->name, cm_err_msg());
        CM_TRY(log_failure_once(ca, m->name, msg));
        CM_TRY(record_failure(ca, m->name, msg));
        rep->failed_modules++;
        *state = NULL;
        goto out;
    }
    *release = strict_mode(ca) && m->offbox(*state);
out:
    return rc;
}

/* Hands one chunk to the module, at most slice events per deliver() call,
 * and records what each call acknowledged at once, in one transaction
 * (record_ack): a process killed between a mail's 250 and that commit is
 * the only way an event goes out twice (docs/exit-modules.md "Exactly
 * once"). A module may take a prefix and return CM_OK to have it recorded
 * before it goes on (SMTP: after every mail); CM_OK with nothing taken is
 * a stop. *chunk_acked: how many it took; *failed (with msg) when it
 * stopped, *poison when the event after those is at fault rather than the
 * module. */
static cm_err deliver_chunk(size_t *chunk_acked, int *failed, int *poison, char *msg, size_t msgsz,
                            struct ca_ctx *ca, const struct exit_module_ops *m, void *state,
                            const struct collect *c, const struct exit_event_ctx **ctxs,
                            size_t slice, int release, struct run_state *run,
                            struct exit_delivery_report *rep)
{
    cm_err rc = CM_OK, mrc;
    size_t off, k, acked;

    *chunk_acked = 0;
    for (off = 0; off < c->n; off += acked) {
        k = c->n - off < slice ? c->n - off : slice;
        acked = 0;
        *poison = 0;
        mrc = m->deliver(state, ctxs + off, k, &acked, poison);
        if (acked > k)
            acked = k;
        if (mrc != CM_OK || acked == 0) {
            /* Kept before anything else can replace the message. */
            snprintf(msg, msgsz, "exit module %s: %s", m->name,
                     mrc != CM_OK ? cm_err_msg() : "delivery stopped");
            *failed = 1;
            *poison = *poison && mrc != CM_OK && acked < k;
        }
        if (acked > 0) {
            CM_TRY(record_ack(ca, m->name, run, c->items + off, acked, release));
            rep->delivered += acked;
            *chunk_acked += acked;
        }
        if (*failed)
            break;
    }
out:
    return rc;
}

static cm_err deliver_module(struct ca_ctx *ca, const struct exit_module_ops *m, int flags,
                             const struct exit_ca_info *info, struct exit_delivery_report *rep)
{
    cm_err rc = CM_OK;
    void *state = NULL;
    struct collect c = {NULL, 0, 0};
    const struct exit_event_ctx **ctxs = NULL;
    int filter = exit_module_filter(ca, m->name);
    struct run_state run = {0, 0};
    int64_t cursor, next;
    int release = 0, failed = 0, poison = 0;
    size_t slice = module_slice(ca, m->name), chunk_acked;
    char msg[600];

    next = meta_int(ca->db, m->name, "next_attempt");
    if ((flags & EXIT_DELIVER_RESPECT_BACKOFF) && next > (int64_t)time(NULL))
        return CM_OK;
    c.cap = BATCH_EVENTS;
    c.items = calloc(c.cap, sizeof(*c.items));
    ctxs = calloc(c.cap, sizeof(*ctxs));
    if (c.items == NULL || ctxs == NULL) {
        rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
        goto out;
    }
    while (!failed) {
        cursor = meta_int(ca->db, m->name, "acked");
        items_free(c.items, c.n);
        c.n = 0;
        if (filter == 0)
            break;
        CM_TRY(db_event_iter(ca->db, cursor, filter, c.cap, collect_cb, &c));
        if (c.n == 0)
            break;
        if ((flags & EXIT_DELIVER_ALLOW_WAIT) && batch_wait(ca, m->name, c.items, c.n))
            break;
        CM_TRY(load_rows(ca->db, c.items, c.n));
        chunk_contexts(&c, ctxs);
        if (state == NULL) {
            CM_TRY(module_start(&state, &release, ca, m, info, rep));
            if (state == NULL)
                break;
        }
        CM_TRY(deliver_chunk(&chunk_acked, &failed, &poison, msg, sizeof(msg), ca, m, state, &c,
                             ctxs, slice, release, &run, rep));
        if (failed && poison) {
            /* This event, not the module, is at fault: set it aside and
             * go on with the events behind it (a new chunk from the new
             * position). Strict mode keeps only its certificate. */
            CM_TRY(record_poison(ca, m->name, &c.items[chunk_acked], msg));
            rep->poisoned++;
            failed = 0;
            continue;
        }
        if (chunk_acked > 0)
            log_info("exit module %s: delivered %zu event(s) up to %lld", m->name, chunk_acked,
                     (long long)c.items[chunk_acked - 1].ev.id);
    }
    if (failed) {
        CM_TRY(log_failure_once(ca, m->name, msg));
        CM_TRY(record_failure(ca, m->name, msg));
        rep->failed_modules++;
    }
out:
    if (state != NULL)
        m->shutdown(state);
    items_free(c.items, c.n);
    free(c.items);
    free(ctxs);
    return rc;
}

/* Delivery claims (docs/postgresql.md "Several nodes"). Each module's
 * events go out in outbox order, so one process at a time delivers a
 * module: it holds that module's claim, the database's lock "exit-NAME"
 * (db/db.h C8: exclusive across handles, processes and nodes, dropped when
 * the holder dies, so a killed node never blocks the next one). Other
 * processes take the other modules' claims meanwhile: with several nodes
 * the modules are spread over them. Every deliverer also holds the lock
 * "exit" shared, so that `db migrate` (which takes it exclusively) knows
 * that nobody delivers. */
#define DELIVERY_LOCK "exit"

static cm_err delivery_lock(int *held, const struct ca_ctx *ca, int block)
{
    return db_lock(ca->db, held, DELIVERY_LOCK, DB_LOCK_SHARED | (block ? DB_LOCK_WAIT : 0));
}

/* Takes module name's claim (lock "exit-NAME"). */
static cm_err module_claim(int *held, const struct ca_ctx *ca, const char *name, int block)
{
    char lock[80];
    snprintf(lock, sizeof(lock), DELIVERY_LOCK "-%s", name);
    return db_lock(ca->db, held, lock, block ? DB_LOCK_WAIT : DB_LOCK_TRY);
}

static void module_unclaim(const struct ca_ctx *ca, const char *name)
{
    char lock[80];
    snprintf(lock, sizeof(lock), DELIVERY_LOCK "-%s", name);
    db_unlock(ca->db, lock);
}

/* Delivers module m's events while holding its claim; a module another
 * process is delivering is left to it (rep->busy). */
static cm_err deliver_claimed(struct ca_ctx *ca, const struct exit_module_ops *m, int flags,
                              const struct exit_ca_info *info, struct exit_delivery_report *rep)
{
    cm_err rc;
    int held = 0;

    rc = module_claim(&held, ca, m->name, flags & EXIT_DELIVER_WAIT_LOCK);
    if (rc != CM_OK || !held) {
        if (rc == CM_OK) {
            rep->busy = 1;
            log_debug("exit module %s: another process is delivering; its events stay queued "
                      "for it",
                      m->name);
        }
        return rc;
    }
    rc = deliver_module(ca, m, flags, info, rep);
    module_unclaim(ca, m->name);
    return rc;
}

cm_err exit_deliver(struct ca_ctx *ca, int flags, struct exit_delivery_report *rep)
{
    cm_err rc = CM_OK;
    struct info_buf ib;
    struct exit_delivery_report local;
    int lock = 0;

    memset(&ib, 0, sizeof(ib));
    if (rep == NULL)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    if (ca->cert == NULL)
        return CM_OK;
    CM_TRY(delivery_lock(&lock, ca, flags & EXIT_DELIVER_WAIT_LOCK));
    if (!lock) {
        rep->busy = 1;
        log_info("exit modules: the CA's database is being migrated; events stay queued");
        goto out;
    }
    CM_TRY(info_load(&ib, ca));
    for (size_t i = 0; modules[i]; i++) {
        if (!module_enabled(ca, modules[i]->name))
            continue;
        rc = deliver_claimed(ca, modules[i], flags, &ib.info, rep);
        if (rc != CM_OK)
            break;
    }
out:
    info_free(&ib);
    if (lock)
        db_unlock(ca->db, DELIVERY_LOCK);
    return rc;
}

struct count_ctx {
    int64_t n;
};

static cm_err count_cb(void *ctx, const struct db_event *ev)
{
    (void)ev;
    ((struct count_ctx *)ctx)->n++;
    return CM_OK;
}

static cm_err poison_count_cb(void *ctx, const struct db_poison *p)
{
    (void)p;
    (*(int64_t *)ctx)++;
    return CM_OK;
}

struct configured_ctx {
    const char *prefix, *prefix2;
    int found;
};

static void configured_cb(void *ctx, const char *key, const char *value)
{
    struct configured_ctx *c = ctx;
    (void)value;
    if (strncmp(key, c->prefix, strlen(c->prefix)) == 0 ||
        (c->prefix2 != NULL && strncmp(key, c->prefix2, strlen(c->prefix2)) == 0))
        c->found = 1;
}

/* Is some key of module m set (exit.NAME.*, or its reads_prefix: the LDAP
 * module also reads ldap.*)? */
static int module_configured(const cm_config *cfg, const struct exit_module_ops *m)
{
    char prefix[64];
    struct configured_ctx c = {prefix, m->reads_prefix, 0};
    snprintf(prefix, sizeof(prefix), "exit.%s.", m->name);
    config_foreach(cfg, configured_cb, &c);
    return c.found;
}

cm_err exit_status(struct ca_ctx *ca, exit_status_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    char key[128], *v = NULL;

    for (size_t i = 0; modules[i]; i++) {
        struct exit_module_status st;
        struct count_ctx cc = {0};
        memset(&st, 0, sizeof(st));
        st.name = modules[i]->name;
        st.enabled = module_enabled(ca, st.name);
        st.filter = exit_module_filter(ca, st.name);
        st.acked = meta_int(ca->db, st.name, "acked");
        st.last_success = meta_int(ca->db, st.name, "last_success");
        st.last_error_when = meta_int(ca->db, st.name, "last_error_when");
        st.attempts = meta_int(ca->db, st.name, "attempts");
        st.next_attempt = meta_int(ca->db, st.name, "next_attempt");
        snprintf(key, sizeof(key), "exit.%s.last_error", st.name);
        CM_TRY(db_meta_get(ca->db, &v, key));
        if (v != NULL)
            snprintf(st.last_error, sizeof(st.last_error), "%s", v);
        free(v);
        v = NULL;
        if (st.filter != 0)
            CM_TRY(db_event_iter(ca->db, st.acked, st.filter, (size_t)-1, count_cb, &cc));
        st.backlog = cc.n;
        CM_TRY(db_poison_iter(ca->db, st.name, poison_count_cb, &st.poisoned));
        st.configured = module_configured(ca->cfg, modules[i]);
        /* As the modules' offbox() answer it, from the configuration: a
         * module whose records may leave the machine declares
         * exit.NAME.offbox (smtp, file). */
        snprintf(key, sizeof(key), "exit.%s.offbox", st.name);
        st.offbox = config_schema_find(key) != NULL && config_get_bool(ca->cfg, key);
        cb(ctx, &st);
    }
out:
    free(v);
    return rc;
}

/* The poisoned events of a module (or of an event: want_id). */
struct poison_ids {
    int64_t *id;
    char (*names)[32];
    size_t n, cap;
    int64_t want_id; /* 0: every event */
};

static cm_err poison_ids_cb(void *ctx, const struct db_poison *p)
{
    struct poison_ids *x = ctx;
    if (x->want_id != 0 && p->event_id != x->want_id)
        return CM_OK;
    if (x->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 16;
        int64_t *ni = realloc(x->id, ncap * sizeof(*ni));
        if (ni == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        x->id = ni;
        char(*nn)[32] = realloc(x->names, ncap * sizeof(*nn));
        if (nn == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        x->names = nn;
        x->cap = ncap;
    }
    x->id[x->n] = p->event_id;
    snprintf(x->names[x->n], sizeof(x->names[0]), "%s", p->module);
    x->n++;
    return CM_OK;
}

cm_err exit_poisoned(struct ca_ctx *ca, const char *module, db_poison_cb cb, void *ctx)
{
    return db_poison_iter(ca->db, module, cb, ctx);
}

/* Delivers the one event `it` to module m; on success takes it off the
 * module's poisoned list in one transaction with the release of its
 * certificate (strict mode, an off-box module) and the audit record. */
static cm_err retry_one(struct ca_ctx *ca, const struct exit_module_ops *m,
                        const struct exit_ca_info *info, struct ev_item *it)
{
    cm_err rc = CM_OK, mrc;
    void *state = NULL;
    const struct exit_event_ctx *ctx = &it->ctx;
    size_t acked = 0;
    int poison = 0;
    char msg[600], details[128];

    mrc = m->init(&state, ca, info);
    if (mrc == CM_OK)
        mrc = m->deliver(state, &ctx, 1, &acked, &poison);
    if (mrc != CM_OK || acked != 1) {
        snprintf(msg, sizeof(msg), "exit module %s: %s", m->name,
                 mrc != CM_OK ? cm_err_msg() : "delivery stopped");
        CM_TRY(db_begin(ca->db));
        CM_TRY(db_poison_add(ca->db, m->name, it->ev.id, msg, (int64_t)time(NULL)));
        CM_TRY(db_commit(ca->db));
        CM_FAIL(mrc != CM_OK ? mrc : CM_ERR_STATE, "event %lld: %s (still poisoned)",
                (long long)it->ev.id, msg);
    }
    snprintf(details, sizeof(details), "event %lld delivered by %s", (long long)it->ev.id, m->name);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_poison_del(ca->db, m->name, it->ev.id));
    if (strict_mode(ca) && m->offbox(state) && it->ev.type == EXIT_EV_CERTISSUED &&
        it->ev.serial[0] != '\0')
        CM_TRY(db_cert_set_withheld(ca->db, it->ev.serial, 0));
    CM_TRY(ca_audit(ca, "exit-retry", it->ev.request_id, it->ev.serial[0] ? it->ev.serial : NULL,
                    details));
    CM_TRY(db_commit(ca->db));
    log_info("exit module %s: poisoned event %lld delivered on retry", m->name,
             (long long)it->ev.id);
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    if (state != NULL)
        m->shutdown(state);
    return rc;
}

/* Loads event id with its row into *it (CM_ERR_NOTFOUND if it is gone). */
static cm_err load_event(struct ca_ctx *ca, struct ev_item *it, int64_t id)
{
    cm_err rc = CM_OK;
    struct collect c = {it, 0, 1};
    CM_TRY(db_event_iter(ca->db, id - 1, EXIT_EV_ALL, 1, collect_cb, &c));
    if (c.n == 0 || it->ev.id != id)
        CM_FAIL(CM_ERR_NOTFOUND, "event %lld: not in the outbox", (long long)id);
    CM_TRY(load_rows(ca->db, it, 1));
    it->ctx.ev = &it->ev;
    it->ctx.values = (const char *const *)it->values;
    it->ctx.cert_der = it->cert;
    it->ctx.cert_der_len = it->cert_len;
out:
    return rc;
}

cm_err exit_retry(struct ca_ctx *ca, int64_t id, const char *module, size_t *delivered)
{
    cm_err rc = CM_OK, first = CM_OK;
    struct poison_ids ids = {NULL, NULL, 0, 0, id};
    struct ev_item it;
    struct info_buf ib;
    int lock = 0;
    char firstmsg[700] = "";

    memset(&it, 0, sizeof(it));
    memset(&ib, 0, sizeof(ib));
    *delivered = 0;
    if (module != NULL && exit_module_find(module) == NULL)
        return cm_err_set(CM_ERR_INVALID, "no exit module '%s'", module);
    CM_TRY(db_poison_iter(ca->db, module, poison_ids_cb, &ids));
    if (ids.n == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "event %lld is not poisoned%s%s (see 'certmint exit status')",
                (long long)id, module ? " for exit module " : "", module ? module : "");
    CM_TRY(load_event(ca, &it, id));
    CM_TRY(info_load(&ib, ca));
    CM_TRY(delivery_lock(&lock, ca, 1));
    for (size_t i = 0; i < ids.n; i++) {
        int claim = 0;
        cm_err r = module_claim(&claim, ca, ids.names[i], 1);
        if (r == CM_OK)
            r = retry_one(ca, exit_module_find(ids.names[i]), &ib.info, &it);
        if (claim)
            module_unclaim(ca, ids.names[i]);
        if (r == CM_OK) {
            (*delivered)++;
        } else if (first == CM_OK) {
            first = r;
            snprintf(firstmsg, sizeof(firstmsg), "%s", cm_err_msg());
        }
    }
    if (first != CM_OK)
        rc = cm_err_set(first, "%s", firstmsg);
out:
    if (lock)
        db_unlock(ca->db, DELIVERY_LOCK);
    info_free(&ib);
    items_free(&it, 1);
    free(ids.id);
    free(ids.names);
    return rc;
}

static cm_err last_cb(void *ctx, const struct db_event *ev)
{
    *(int64_t *)ctx = ev->id;
    return CM_OK;
}

cm_err exit_skip(struct ca_ctx *ca, const char *name)
{
    cm_err rc = CM_OK;
    int64_t last = 0, from = 0;
    struct poison_ids ids = {NULL, NULL, 0, 0, 0};

    if (exit_module_find(name) == NULL)
        return cm_err_set(CM_ERR_INVALID, "no exit module '%s'", name);
    CM_TRY(db_begin(ca->db));
    /* Walk to the newest event in chunks. */
    for (;;) {
        int64_t before = last;
        CM_TRY(db_event_iter(ca->db, from, EXIT_EV_ALL, 100000, last_cb, &last));
        if (last == before)
            break;
        from = last;
    }
    CM_TRY(meta_set_int(ca->db, name, "acked", last));
    CM_TRY(meta_set_int(ca->db, name, "attempts", 0));
    CM_TRY(meta_set_int(ca->db, name, "next_attempt", 0));
    CM_TRY(db_poison_iter(ca->db, name, poison_ids_cb, &ids));
    for (size_t i = 0; i < ids.n; i++)
        CM_TRY(db_poison_del(ca->db, name, ids.id[i]));
    CM_TRY(ca_audit(ca, "exit-skip", 0, NULL, name));
    CM_TRY(db_commit(ca->db));
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    free(ids.id);
    free(ids.names);
    return rc;
}

/* ---- CERTEXPIRING ---- */

struct expiring_ctx {
    int serial_col;
    char (*serials)[CM_SERIAL_BUF];
    size_t n, cap;
};

static cm_err expiring_cb(void *ctx, const struct db_row *row)
{
    struct expiring_ctx *e = ctx;
    const char *s = row->values[e->serial_col];
    if (s == NULL)
        return CM_OK;
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 64;
        void *p = realloc(e->serials, ncap * sizeof(*e->serials));
        if (p == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        e->serials = p;
        e->cap = ncap;
    }
    snprintf(e->serials[e->n++], CM_SERIAL_BUF, "%s", s);
    return CM_OK;
}

cm_err exit_raise_expiring(struct ca_ctx *ca, size_t *raised)
{
    cm_err rc = CM_OK;
    struct db_restrict r[3];
    struct expiring_ctx e = {0, NULL, 0, 0};
    long long days = 30;
    int64_t now = (int64_t)time(NULL);
    char key[CM_SERIAL_BUF + 16], *v = NULL;
    size_t i;

    *raised = 0;
    if (config_get_int(ca->cfg, "exit.expiring_days", &days) != CM_OK || days <= 0)
        return CM_OK;
    memset(r, 0, sizeof(r));
    r[0].column = db_column_find("NotAfter");
    r[0].op = DB_OP_GT;
    r[0].ival = now;
    r[1].column = db_column_find("NotAfter");
    r[1].op = DB_OP_LE;
    r[1].ival = now + (int64_t)days * 86400;
    r[2].column = db_column_find("Disposition");
    r[2].op = DB_OP_EQ;
    r[2].ival = DB_DISP_ISSUED;
    e.serial_col = db_column_find("SerialNumber");
    CM_TRY(db_view(ca->db, r, 3, expiring_cb, &e));
    if (e.n == 0)
        goto out;
    CM_TRY(db_begin(ca->db));
    for (i = 0; i < e.n; i++) {
        /* Once per certificate: remembered in meta. */
        snprintf(key, sizeof(key), "expiring.%s", e.serials[i]);
        CM_TRY(db_meta_get(ca->db, &v, key));
        if (v != NULL) {
            free(v);
            v = NULL;
            continue;
        }
        CM_TRY(db_meta_set(ca->db, key, "1"));
        CM_TRY(exit_raise(ca->db, EXIT_EV_CERTEXPIRING, 0, e.serials[i], NULL));
        (*raised)++;
    }
    CM_TRY(db_commit(ca->db));
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    free(v);
    free(e.serials);
    return rc;
}
