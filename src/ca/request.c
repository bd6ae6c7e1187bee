/* The request lifecycle: submit (single and batch), approve, deny, retrieve.
 * Every state change is one transaction that also writes the audit record
 * and the exit-module event. */
#include "ca/issue_int.h"
#include "ca/ca_int.h"
#include "ca/kra_int.h"

#include "ca/name.h"
#include "event/event.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int strict_mode(const ca_ctx *ca)
{
    const struct config_key *k = config_schema_find("audit.require_offbox");
    return k != NULL && config_get_bool(ca->cfg, "audit.require_offbox");
}

void issue_ready_clear(struct issue_ready *r)
{
    if (r == NULL)
        return;
    /* Borrowed by c: not db_cert_clear's to free. */
    r->c.raw = NULL;
    db_cert_clear(&r->c);
    OPENSSL_free(r->der);
    r->der = NULL;
    r->der_len = 0;
}

cm_err issue_ready_make(struct issue_ready *r, X509 *x)
{
    return issue_ready_make_der(r, x, NULL, 0);
}

cm_err issue_ready_make_der(struct issue_ready *r, X509 *x, unsigned char *der, size_t der_len)
{
    cm_err rc = CM_OK;
    int len;

    memset(r, 0, sizeof(*r));
    r->strict = -1;
    r->der = der;
    r->der_len = der_len;
    if (der == NULL) {
        len = i2d_X509(x, &r->der);
        if (len <= 0)
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate");
        r->der_len = (size_t)len;
    }
    r->c.raw = r->der;
    r->c.raw_len = r->der_len;
    rc = ca_cert_describe(&r->c, x);
out:
    if (rc != CM_OK)
        issue_ready_clear(r);
    return rc;
}

cm_err issue_record_ready(ca_ctx *ca, int64_t request_id, const char *profile,
                          struct issue_ready *r, unsigned char **der_out, size_t *der_len,
                          char serial_out[CM_SERIAL_BUF], int origin, const char *recovered_from)
{
    cm_err rc = CM_OK;
    struct db_cert *c = &r->c;

    c->request_id = request_id;
    c->origin = origin;
    c->template_name = (char *)profile;
    c->revoked_reason = DB_REASON_NONE;
    c->recovered_from = (char *)recovered_from;
    /* Strict audit mode: the certificate is withheld until an off-box exit
     * module has acknowledged its CERTISSUED event. */
    if (r->strict < 0)
        r->strict = strict_mode(ca);
    c->withheld = origin == DB_ORIGIN_ISSUED && r->strict;
    CM_TRY(db_cert_insert(ca->db, c));
    CM_TRY(exit_raise(ca->db,
                      origin == DB_ORIGIN_ISSUED ? EXIT_EV_CERTISSUED : EXIT_EV_CERTIMPORTED,
                      request_id, c->serial, NULL));
    CM_TRY(ca_audit(ca, origin == DB_ORIGIN_ISSUED ? "issue" : "import", request_id, c->serial,
                    c->dn));
    snprintf(serial_out, CM_SERIAL_BUF, "%s", c->serial);
    if (der_out != NULL && !c->withheld) {
        *der_out = r->der;
        *der_len = r->der_len;
        r->der = NULL;
        r->der_len = 0;
    }
out:
    /* Borrowed: not ours to free. */
    c->template_name = NULL;
    c->recovered_from = NULL;
    return rc;
}

cm_err issue_record(ca_ctx *ca, int64_t request_id, const char *profile, X509 *x,
                    unsigned char **der_out, size_t *der_len, char serial_out[CM_SERIAL_BUF],
                    int origin, const char *recovered_from)
{
    struct issue_ready r;
    cm_err rc = issue_ready_make(&r, x);

    if (rc == CM_OK)
        rc = issue_record_ready(ca, request_id, profile, &r, der_out, der_len, serial_out, origin,
                                recovered_from);
    issue_ready_clear(&r);
    return rc;
}

void ca_submission_clear(struct ca_submission *s)
{
    if (s == NULL)
        return;
    OPENSSL_free(s->cert_der);
    s->cert_der = NULL;
    s->cert_der_len = 0;
    kra_archived_free(s->archived);
    s->archived = NULL;
    kra_keygen_free(s->keygen);
    s->keygen = NULL;
    free(s->message_buf);
    s->message_buf = NULL;
    s->message = "";
}

/* Sets s->message to a formatted text of at most 511 bytes (the size its
 * buffer had), in s->message_buf. */
static cm_err submission_message_set(struct ca_submission *s, const char *fmt, ...)
    CM_PRINTF(2, 3);
static cm_err submission_message_set(struct ca_submission *s, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    free(s->message_buf);
    s->message = s->message_buf = strdup(text);
    if (s->message_buf != NULL)
        return CM_OK;
    s->message = "";
    return cm_err_set(CM_ERR_NOMEM, "out of memory");
}

void ca_submission_delivered(struct ca_submission *s)
{
    if (s->cert_der == NULL)
        return;
    OPENSSL_free(s->cert_der);
    s->cert_der = NULL;
    s->cert_der_len = 0;
    s->delivered = 1;
}

/* Decides one parsed request: pending, issued (signed into *x, borrowed:
 * issue_sign_reuse) or denied by policy. No database access, so that the
 * signing of a group happens outside its transaction. */
static cm_err decide_one(X509 **x, unsigned char **der, size_t *der_len, ca_ctx *ca,
                         const struct profile *p, const struct csr *c, struct ca_submission *s)
{
    cm_err why;

    *x = NULL;
    /* A request that will pend is checked now (names, SANs, key): a hostile
     * one is denied at once, not left for an officer. */
    why = kra_submit_decide(ca, p, c, s); /* key archival (issue 12) */
    if (why == CM_OK)
        why = p->manual ? issue_check(ca, p, c) : issue_sign_reuse(x, der, der_len, ca, p, c);
    if (why == CM_OK && *x != NULL)
        why = kra_submit_seal(ca, s, *x);
    if (why == CM_OK && p->manual) {
        s->disposition = DB_DISP_PENDING;
        s->message = "Taken under submission";
        return CM_OK;
    }
    if (why == CM_ERR_POLICY || why == CM_ERR_LINT) {
        s->disposition = DB_DISP_DENIED;
        return submission_message_set(s, "Denied by policy: %s", cm_err_msg());
    }
    if (why != CM_OK)
        return why;
    s->disposition = DB_DISP_ISSUED;
    s->message = "Issued";
    return CM_OK;
}

/* One decided request of a group, with everything its rows need computed
 * before the group's transaction: the writer only binds. */
struct decided {
    char *request_dn;         /* the request's subject as text */
    struct issue_ready ready; /* issued: the certificate, encoded and described */
};

static void decided_clear(struct decided *d)
{
    free(d->request_dn);
    d->request_dn = NULL;
    issue_ready_clear(&d->ready);
}

/* decide_one, then the encoding and the text columns (no database). */
static cm_err decide_prepare(struct decided *d, ca_ctx *ca, const struct profile *p, struct csr *c,
                             struct ca_submission *s)
{
    cm_err rc = CM_OK;
    X509 *x = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;

    memset(d, 0, sizeof(*d));
    /* The key was left unmade while the batch was verified; only key
     * archival and a generated key compare it with another key (c->kind
     * serves the profile and lint). */
    if (s->archive_env != NULL || s->keygen != NULL)
        CM_TRY(csr_make_key(c));
    CM_TRY(decide_one(&x, &der, &der_len, ca, p, c, s));
    CM_TRY(name_to_string(&d->request_dn, c->subject));
    if (x != NULL) {
        /* The DER as signed: taken by ready whatever the result. */
        rc = issue_ready_make_der(&d->ready, x, der, der_len);
        der = NULL;
    }
out:
    /* x is the issuance cache's (issue_sign_reuse): not freed. */
    OPENSSL_free(der);
    return rc;
}

/* Records one decided request in the current transaction. */
static cm_err record_one(ca_ctx *ca, const struct profile *p, const struct csr *c,
                         struct decided *d, struct ca_submission *s, const char *requester)
{
    cm_err rc = CM_OK;
    struct db_request r;
    int ev = 0;

    memset(&r, 0, sizeof(r));
    r.requester_name = (char *)requester;
    r.submitted_when = (int64_t)time(NULL);
    r.resolved_when = s->disposition == DB_DISP_PENDING ? 0 : r.submitted_when;
    r.template_name = (char *)p->name;
    r.request_dn = d->request_dn;
    r.raw_request = c->der;
    r.raw_request_len = c->der_len;
    r.disposition = s->disposition;
    r.disposition_message = (char *)s->message;
    CM_TRY(db_request_insert(ca->db, &r));
    s->request_id = r.request_id;
    switch (r.disposition) {
    case DB_DISP_ISSUED:
        CM_TRY(issue_record_ready(ca, r.request_id, p->name, &d->ready, &s->cert_der,
                                  &s->cert_der_len, s->serial, DB_ORIGIN_ISSUED, NULL));
        CM_TRY(kra_submit_record(ca, s, r.request_id));
        break;
    case DB_DISP_PENDING:
        ev = EXIT_EV_CERTPENDING;
        CM_TRY(ca_audit(ca, "submit", r.request_id, NULL, "pending"));
        break;
    default:
        ev = EXIT_EV_CERTDENIED;
        CM_TRY(ca_audit(ca, "deny", r.request_id, NULL, s->message));
        break;
    }
    if (ev != 0)
        CM_TRY(exit_raise(ca->db, ev, r.request_id, NULL, NULL));
out:
    return rc;
}

/* Parses one submission; a submission given by file name only is read here
 * (in the worker that handles it, for large batches) into the thread's
 * buffer (the parse copies the DER it keeps). The key of an EC request is
 * made later (decide_prepare): the signature is checked with the thread's
 * scratch key. */
/* A request file of at most CA_MAX_CSR_BYTES, the byte that shows it is
 * over, the NUL (fs_read_into). */
#define CSR_FILE_CAP (CA_MAX_CSR_BYTES + 2)

/* Request i's file name from ca_submit_opts.files, written before anything
 * of subs[i] is read: the first touch of its page is then one write fault,
 * not a read of the zero page and a second fault at the first write. Every
 * result also has a message to print, "" until decided. */
static void submission_source(struct ca_submission *s, const struct ca_submit_opts *o, size_t i)
{
    if (o->files != NULL)
        s->source = o->files[i];
    if (s->message == NULL)
        s->message = "";
}

/* ca_submit's promise (ca_submit_opts.files, a message for every result)
 * where it stopped before parsing them all: the rest get theirs too. Reads
 * only, where the workers set them all. */
static void submission_sources_fill(struct ca_submission *subs, size_t n,
                                    const struct ca_submit_opts *o)
{
    for (size_t i = 0; i < n; i++) {
        if (o->files != NULL && subs[i].source == NULL)
            subs[i].source = o->files[i];
        if (subs[i].message == NULL)
            subs[i].message = "";
    }
}

static cm_err submission_parse(struct csr **out, const struct ca_submission *s,
                               struct csr_scratch *scratch)
{
    size_t len = 0;
    cm_err rc;

    if (s->csr != NULL) {
        rc = csr_parse_scratch(out, s->csr, s->csr_len, s->source ? s->source : "request", scratch);
        /* An enrollment token's binding (issue 12, token.c). */
        if (rc == CM_OK && s->binding != NULL)
            rc = token_binding_apply(*out, s->binding);
        return rc;
    }
    assert(s->source != NULL);
    if (scratch->file == NULL && (scratch->file = malloc(CSR_FILE_CAP)) == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    rc = fs_read_into(&len, scratch->file, CSR_FILE_CAP, s->source, CA_MAX_CSR_BYTES);
    if (rc == CM_OK)
        rc = csr_parse_scratch(out, scratch->file, len, s->source, scratch);
    return rc;
}

static double clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

/* What the database writer spent (submit_range, submit_threads): wall
 * time, and the writer thread's CPU time, which a loaded machine does not
 * inflate (the wall time of a commit is mostly the wait for fsync). */
struct writer_time {
    double held, rows; /* us: BEGIN to the end of COMMIT; of it, the inserts */
    double cpu, cpu_rows;
    size_t n, groups;
};

/* Records the decided requests [start, end) (request i's is ds[i % ring])
 * in one transaction, with the batch's line when it is the first or the last
 * group (batch.c; bm may be NULL); on failure nothing of it is stored and
 * its results are cleared. Frees the group's parsed and decided requests
 * either way. */
static cm_err record_group(ca_ctx *ca, const struct profile *p, struct csr **csrs,
                           struct ca_submission *subs, struct decided *ds, size_t ring,
                           size_t start, size_t end, const char *requester, struct batch_mark *bm,
                           struct writer_time *wt)
{
    cm_err rc;
    size_t i;
    double t0 = now_us(), c0 = clock_us(CLOCK_THREAD_CPUTIME_ID), t1, c1;
    int strict = strict_mode(ca);

    /* The configuration is read once per group, not per certificate. */
    for (i = start; i < end; i++)
        ds[i % ring].ready.strict = strict;
    rc = db_begin(ca->db);
    if (rc == CM_OK)
        rc = batch_mark_write(bm, ca, start, end);
    for (i = start; i < end && rc == CM_OK; i++)
        rc = record_one(ca, p, csrs[i], &ds[i % ring], &subs[i], requester);
    t1 = now_us();
    c1 = clock_us(CLOCK_THREAD_CPUTIME_ID);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    wt->rows += t1 - t0;
    wt->held += now_us() - t0;
    wt->cpu_rows += c1 - c0;
    wt->cpu += clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
    wt->n += end - start;
    wt->groups++;
    if (rc == CM_OK)
        batch_mark_committed(bm, start, end);
    if (rc != CM_OK) {
        db_rollback(ca->db);
        for (i = start; i < end; i++) {
            ca_submission_clear(&subs[i]);
            subs[i].request_id = 0;
            subs[i].disposition = 0;
            subs[i].serial[0] = '\0';
        }
    }
    /* Free the requests of this group early: batches can be big (in a
     * pool the workers have shed all but their DER, unit_run). */
    for (i = start; i < end; i++) {
        csr_free(csrs[i]);
        csrs[i] = NULL;
        decided_clear(&ds[i % ring]);
    }
    return rc;
}

/* The figure that bounds a single writer's throughput, at -vv
 * (docs/operations.md, Performance). */
static void writer_time_log(const struct writer_time *wt)
{
    double n = wt->n ? (double)wt->n : 1;
    if (wt->n > 0)
        log_debug("submit: %zu requests in %zu transactions: the writer held %.1f us per "
                  "request (%.1f us of rows, %.1f us of commit); writer CPU %.1f us per "
                  "request (%.1f us of rows, %.1f us of commit)",
                  wt->n, wt->groups, wt->held / n, wt->rows / n, (wt->held - wt->rows) / n,
                  wt->cpu / n, wt->cpu_rows / n, (wt->cpu - wt->cpu_rows) / n);
}

/* Tells the caller that subs[start, end) are committed (ca_submit_opts). */
static void group_committed(const struct ca_submit_opts *o, size_t start, size_t end)
{
    if (o->committed != NULL)
        o->committed(o->committed_ctx, start, end);
}

/* Records requests [from, to) in transactions of `group`, signing each
 * group before its transaction. On a failed group nothing of it is stored
 * and its results are cleared. */
static cm_err submit_range(ca_ctx *ca, const struct profile *p, struct csr **csrs,
                           struct ca_submission *subs, size_t from, size_t to, size_t group,
                           const char *requester, struct batch_mark *bm,
                           const struct ca_submit_opts *o)
{
    cm_err rc = CM_OK;
    size_t i, start;
    struct decided *ds = NULL;
    struct writer_time wt = {0, 0, 0, 0, 0, 0};

    ds = calloc(group, sizeof(*ds));
    if (ds == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (start = from; start < to; start += group) {
        size_t end = start + group < to ? start + group : to;
        /* Sign, encode and describe first, then hold the write lock only
         * for the inserts. */
        for (i = start; i < end; i++)
            CM_TRY(decide_prepare(&ds[i - start], ca, p, csrs[i], &subs[i]));
        CM_TRY(record_group(ca, p, csrs, subs, ds, group, start, end, requester, bm, &wt));
        group_committed(o, start, end);
    }
    writer_time_log(&wt);
out:
    for (i = 0; i < group; i++)
        decided_clear(&ds[i]);
    free(ds);
    return rc;
}

/* --- Parallel batches -------------------------------------------------
 * Verifying and signing dominate issuance; a large batch spreads them over
 * submit.workers threads (one per core by default). Threads, not
 * processes: measured on 2 cores they were as fast or faster and used less
 * CPU per certificate (no fork, one database connection, no writer-lock
 * waits between processes; docs/operations.md, Performance), and the core
 * stays fork-free. */

#define WORKERS_MAX 64

static int workers_for(const ca_ctx *ca, size_t n)
{
    long long w = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (config_get_int(ca->cfg, "submit.workers", &w) != CM_OK)
        w = 0;
    if (w == 0)
        w = cpus > 0 ? cpus : 1;
    if (w > WORKERS_MAX)
        w = WORKERS_MAX;
    /* Threads pay off only for real batches. */
    if (n < 256)
        return 1;
    if ((size_t)w > n / 128)
        w = (long long)(n / 128);
    return w < 1 ? 1 : (int)w;
}

/* --- Threads ------------------------------------------------------------
 * The same batch in threads of this process: workers parse and verify
 * every request (phase 1: nothing is recorded unless all are valid), then
 * sign, encode and describe units of UNIT requests (phase 2), while this
 * thread, the only database writer, records the groups in input order on
 * its one connection. The workers run at most two groups ahead of the
 * writer, so memory stays bounded, and signing overlaps the commits. Each
 * worker signs with its own copy of the context (its own extension cache,
 * no database handle); the key and the CA certificate are only read
 * (OpenSSL 3 objects are safe to share read-only). A killed submit takes
 * its threads with it: only committed groups stay, as with processes. */
#define UNIT 32

struct pool {
    ca_ctx *ca;
    const struct profile *p;
    const struct ca_submit_opts *o;
    struct batch_mark *bm; /* the writer's only */
    struct ca_submission *subs;
    struct csr **csrs;
    /* A ring of `ring` (pool_ring): request i's is ds[i % ring], so that the
     * batch's decided requests take memory bounded by the group, not by n. */
    struct decided *ds;
    size_t n, group, units, ring;
    size_t *left;     /* per group: units not yet prepared */
    size_t next;      /* next unit to take */
    size_t committed; /* groups the writer has finished */
    int phase, stop;  /* stop: a failure; nobody takes more work */
    cm_err err;
    char errmsg[1024];
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* The slots of the decided ring. While the writer has finished groups
 * [0, c), every request prepared and not yet recorded lies in [c * group,
 * (c + 2) * group + UNIT): a unit opens when it starts in group c + 1 at
 * the latest (unit_open) and may run UNIT - 1 past that group's end; those
 * below were cleared when their group was recorded (record_group). */
static size_t pool_ring(size_t group)
{
    return 2 * group + UNIT;
}

static void pool_fail(struct pool *pl, cm_err rc)
{
    if (!pl->stop) {
        pl->err = rc;
        snprintf(pl->errmsg, sizeof(pl->errmsg), "%s", cm_err_msg());
    }
    pl->stop = 1;
    pthread_cond_broadcast(&pl->cv);
}

/* With pl->mu held: 1 when the next unit may be taken now (phase 2: only
 * within two groups of the writer). */
static int unit_open(const struct pool *pl)
{
    return pl->phase == 1 || pl->next * UNIT / pl->group < pl->committed + 2;
}

/* Takes the next unit, waiting for the writer when too far ahead. */
static int pool_take(struct pool *pl, size_t *u)
{
    int got = 0;
    pthread_mutex_lock(&pl->mu);
    while (!pl->stop && pl->next < pl->units && !unit_open(pl))
        pthread_cond_wait(&pl->cv, &pl->mu);
    if (!pl->stop && pl->next < pl->units) {
        *u = pl->next++;
        got = 1;
    }
    pthread_mutex_unlock(&pl->mu);
    return got;
}

static cm_err unit_run(struct pool *pl, ca_ctx *mine, struct csr_scratch *scratch, size_t from,
                       size_t to)
{
    cm_err rc = CM_OK;
    for (size_t i = from; i < to && rc == CM_OK; i++) {
        if (pl->phase == 1) {
            submission_source(&pl->subs[i], pl->o, i);
            rc = pl->subs[i].err = submission_parse(&pl->csrs[i], &pl->subs[i], scratch);
        } else {
            rc = decide_prepare(&pl->ds[i % pl->ring], mine, pl->p, pl->csrs[i], &pl->subs[i]);
            /* The writer needs only the DER (record_one): the rest is
             * freed here, in parallel, not on the writer's thread. */
            csr_shed(pl->csrs[i]);
        }
    }
    return rc;
}

/* Runs unit u and records it done; called without pl->mu. */
static void unit_do(struct pool *pl, ca_ctx *mine, struct csr_scratch *scratch, size_t u)
{
    size_t from = u * UNIT, to = from + UNIT < pl->n ? from + UNIT : pl->n;
    cm_err rc = unit_run(pl, mine, scratch, from, to);

    pthread_mutex_lock(&pl->mu);
    if (rc != CM_OK)
        pool_fail(pl, rc);
    if (pl->phase == 2 && --pl->left[from / pl->group] == 0)
        pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* This thread's handle of the CA key (key_worker_open) into its copy of
 * the session, so that its signatures reuse one set-up operation; returns
 * it for key_close when the thread is done (NULL: none made, the copy
 * signs with the shared key, which signs the same). */
static cm_key *worker_key(ca_ctx *mine)
{
    cm_key *w = NULL;

    if (mine->signer == NULL || key_worker_open(&w, mine->signer) != CM_OK)
        return NULL;
    mine->signer = w;
    return w;
}

static void *pool_worker(void *arg)
{
    struct pool *pl = arg;
    ca_ctx mine;
    struct csr_scratch scratch;
    size_t u;
    cm_key *wk = NULL;

    /* Phase 1 does not read the context: the submitting thread may be
     * loading the key into it meanwhile (submit_threads). */
    memset(&mine, 0, sizeof(mine));
    memset(&scratch, 0, sizeof(scratch));
    if (pl->phase == 2)
        mine = *pl->ca;
    mine.db = NULL;
    mine.issue_cache = NULL;
    if (pl->phase == 2)
        wk = worker_key(&mine);
    while (pool_take(pl, &u))
        unit_do(pl, &mine, &scratch, u);
    issue_cache_free(&mine);
    key_close(wk);
    csr_scratch_clear(&scratch);
    return NULL;
}

/* Starts nw threads on phase pl->phase; returns how many started. */
static int pool_run(struct pool *pl, pthread_t *t, int nw)
{
    int started = 0;
    pl->next = 0;
    for (; started < nw; started++)
        if (pthread_create(&t[started], NULL, pool_worker, pl) != 0)
            break;
    return started;
}

/* The writer: records each group once its units are prepared, and while
 * it waits for one, prepares units itself (so that nw threads, this one
 * included, keep nw cores busy). */
static cm_err pool_write(struct pool *pl, ca_ctx *mine, const char *requester)
{
    cm_err rc = CM_OK;
    struct writer_time wt = {0, 0, 0, 0, 0, 0};
    size_t u;

    for (size_t g = 0; g * pl->group < pl->n; g++) {
        size_t start = g * pl->group, end = start + pl->group < pl->n ? start + pl->group : pl->n;
        pthread_mutex_lock(&pl->mu);
        while (!pl->stop && pl->left[g] > 0) {
            if (pl->next < pl->units && unit_open(pl)) {
                u = pl->next++;
                pthread_mutex_unlock(&pl->mu);
                unit_do(pl, mine, NULL, u);
                pthread_mutex_lock(&pl->mu);
                continue;
            }
            pthread_cond_wait(&pl->cv, &pl->mu);
        }
        if (pl->left[g] > 0 || (pl->stop && pl->err != CM_OK))
            rc = cm_err_set(pl->err ? pl->err : CM_ERR_IO, "%s", pl->errmsg);
        pthread_mutex_unlock(&pl->mu);
        if (rc == CM_OK)
            rc = record_group(pl->ca, pl->p, pl->csrs, pl->subs, pl->ds, pl->ring, start, end,
                              requester, pl->bm, &wt);
        if (rc == CM_OK)
            group_committed(pl->o, start, end);
        pthread_mutex_lock(&pl->mu);
        if (rc != CM_OK)
            pool_fail(pl, rc);
        pl->committed = g + 1;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
        if (rc != CM_OK)
            break;
    }
    writer_time_log(&wt);
    return rc;
}

static void pool_join(pthread_t *t, int started)
{
    for (int w = 0; w < started; w++)
        pthread_join(t[w], NULL);
}

static cm_err submit_threads(struct batch_mark *bm, ca_ctx *ca, const struct profile *p,
                             struct ca_submission *subs, size_t n, size_t group,
                             const char *requester, int nw, const struct ca_submit_opts *o)
{
    cm_err rc = CM_OK;
    struct pool pl;
    ca_ctx mine = *ca;
    pthread_t t[WORKERS_MAX];
    int started;
    size_t i, g;
    cm_key *wk = NULL;

    mine.db = NULL;
    mine.issue_cache = NULL;
    memset(&pl, 0, sizeof(pl));
    pl.ca = ca;
    pl.p = p;
    pl.o = o;
    pl.bm = bm;
    pl.subs = subs;
    pl.n = n;
    pl.group = group;
    pl.units = (n + UNIT - 1) / UNIT;
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cv, NULL);
    pl.csrs = calloc(n, sizeof(*pl.csrs));
    pl.ring = pool_ring(group);
    pl.ds = calloc(pl.ring, sizeof(*pl.ds));
    pl.left = calloc((n + group - 1) / group, sizeof(*pl.left));
    CM_NOMEM_IF(pl.csrs == NULL || pl.ds == NULL || pl.left == NULL);
    for (i = 0; i < pl.units; i++)
        pl.left[i * UNIT / group]++;
    /* Phase 1: bad input changes nothing. The key's decryption (a strong
     * KDF: about 0.25 s of one core, serial) runs in this thread meanwhile,
     * which then verifies requests too. */
    pl.phase = 1;
    started = pool_run(&pl, t, nw);
    if (started == 0)
        CM_FAIL(CM_ERR_IO, "submit: cannot start worker threads");
    rc = p->manual ? CM_OK : ca_load_key(ca);
    if (rc == CM_OK)
        (void)pool_worker(&pl);
    pthread_mutex_lock(&pl.mu);
    if (rc != CM_OK)
        pool_fail(&pl, rc);
    pthread_mutex_unlock(&pl.mu);
    pool_join(t, started);
    if (rc != CM_OK)
        goto out;
    if (pl.stop)
        CM_FAIL(pl.err, "%s", pl.errmsg);
    /* The batch's line goes in with its first group (batch.c): no
     * transaction of its own here, with every core waiting for it. */
    batch_mark_init(bm, n, group, requester);
    pl.phase = 2;
    /* This thread is the writer and the nw-th worker (its copy taken now
     * that the key is loaded). */
    mine = *ca;
    mine.db = NULL;
    mine.issue_cache = NULL;
    wk = worker_key(&mine);
    started = pool_run(&pl, t, nw - 1);
    rc = pool_write(&pl, &mine, requester);
    pthread_mutex_lock(&pl.mu);
    pl.stop = 1;
    pthread_cond_broadcast(&pl.cv);
    pthread_mutex_unlock(&pl.mu);
    pool_join(t, started);
out:
    /* Only the cache and the key's worker handle are this copy's own. */
    issue_cache_free(&mine);
    key_close(wk);
    for (g = 0; pl.csrs != NULL && g < n; g++)
        csr_free(pl.csrs[g]);
    for (g = 0; pl.ds != NULL && g < pl.ring; g++)
        decided_clear(&pl.ds[g]);
    free(pl.csrs);
    free(pl.ds);
    free(pl.left);
    pthread_cond_destroy(&pl.cv);
    pthread_mutex_destroy(&pl.mu);
    return rc;
}

cm_err ca_submit(ca_ctx *ca, struct ca_submission *subs, size_t n, const struct ca_submit_opts *o)
{
    cm_err rc = CM_OK;
    struct profile *p = NULL;
    struct csr **csrs = NULL;
    size_t i, group;
    long long g = 512;
    const char *requester = o->requester ? o->requester : ca->operator_name;
    int nw;
    struct batch_mark bm;
    struct csr_scratch scratch;
    cm_key *shared = NULL, *wk = NULL;

    memset(&scratch, 0, sizeof(scratch));
    memset(&bm, 0, sizeof(bm));
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "submit: no request given");
    if (ca->cert == NULL)
        CM_FAIL(CM_ERR_STATE, "this CA has no certificate yet (install-ca-cert)");
    CM_TRY(profile_load(&p, ca->cfg, o->profile ? o->profile : "tls-server"));
    if (o->force_pending)
        p->manual = 1;
    group = o->group;
    if (group == 0) {
        if (config_get_int(ca->cfg, "submit.batch_group", &g) != CM_OK || g < 1)
            g = 512;
        group = (size_t)g;
    }
    nw = workers_for(ca, n);
    /* With workers, submit_threads loads the key while they verify. */
    if (nw == 1 && !p->manual)
        CM_TRY(ca_load_key(ca));
    /* A batch of several transactions records itself while it runs, so
     * that one killed half-way is reported by the next run (batch.c). */
    if (nw > 1) {
        /* Records itself once the key is loaded and the input is valid. */
        rc = submit_threads(&bm, ca, p, subs, n, group, requester, nw, o);
        goto out;
    }
    batch_mark_init(&bm, n, group, requester);
    /* Bad input changes nothing: every request is parsed and its signature
     * verified before the first is recorded. */
    csrs = calloc(n, sizeof(*csrs));
    CM_NOMEM_IF(csrs == NULL);
    for (i = 0; i < n; i++) {
        submission_source(&subs[i], o, i);
        subs[i].err = submission_parse(&csrs[i], &subs[i], &scratch);
        if (subs[i].err != CM_OK) {
            rc = subs[i].err;
            goto out;
        }
    }
    /* This session is this thread's until ca_submit returns: it signs
     * with its own worker handle meanwhile (worker_key). */
    shared = ca->signer;
    wk = worker_key(ca);
    rc = submit_range(ca, p, csrs, subs, 0, n, group, requester, &bm, o);
    /* Nothing in a submission replaces the session's key (ca_use_key):
     * wk is still the signer, and is closed below. */
    assert(wk == NULL || ca->signer == wk);
    if (wk != NULL)
        ca->signer = shared;
out:
    submission_sources_fill(subs, n, o);
    /* A failure after the first group committed: the line goes now. */
    batch_mark_end(ca, &bm);
    if (csrs != NULL)
        for (i = 0; i < n; i++)
            csr_free(csrs[i]);
    free(csrs);
    key_close(wk);
    csr_scratch_clear(&scratch);
    profile_free(p);
    return rc;
}

/* Reads the request inside the caller's transaction (serializable, db/db.h
 * C2: no other writer can change it until commit) and checks that it is pending.
 * The resolve itself is a compare-and-set too (db_request_resolve). */
static cm_err load_pending(struct db_request **out, ca_ctx *ca, int64_t id)
{
    cm_err rc = db_request_get(ca->db, out, id);
    if (rc == CM_ERR_NOTFOUND)
        return cm_err_set(CM_ERR_NOTFOUND, "request %lld: no such request", (long long)id);
    if (rc != CM_OK)
        return rc;
    if ((*out)->disposition != DB_DISP_PENDING) {
        int d = (*out)->disposition;
        db_request_free(*out);
        *out = NULL;
        return cm_err_set(CM_ERR_STATE, "request %lld is no longer pending (now: %s)",
                          (long long)id, db_disposition_name(d));
    }
    return CM_OK;
}

/* Signs and records an approved request, or denies it when the profile
 * (changed since submission) refuses it; inside the caller's transaction,
 * after the request was found pending in it. The resolve (a compare-and-set)
 * precedes the certificate row, which is written only when it won; a
 * certificate signed for a request that is no longer pending is dropped
 * with the rollback and never leaves the process. */
static cm_err approve_in_tx(ca_ctx *ca, const struct db_request *r, struct ca_submission *out)
{
    cm_err rc = CM_OK, why;
    struct profile *p = NULL;
    struct csr *c = NULL;
    X509 *x = NULL;
    int64_t id = r->request_id;

    CM_TRY(profile_load(&p, ca->cfg, r->template_name));
    CM_TRY(csr_parse(&c, r->raw_request, r->raw_request_len, "stored request"));
    why = issue_sign(&x, ca, p, c);
    if (why == CM_ERR_POLICY || why == CM_ERR_LINT) {
        CM_TRY(submission_message_set(out, "Denied by policy: %s", cm_err_msg()));
        out->disposition = DB_DISP_DENIED;
        CM_TRY(db_request_resolve(ca->db, id, DB_DISP_DENIED, out->message, (int64_t)time(NULL)));
        CM_TRY(exit_raise(ca->db, EXIT_EV_CERTDENIED, id, NULL, NULL));
        CM_TRY(ca_audit(ca, "deny", id, NULL, out->message));
        goto out;
    }
    if (why != CM_OK) {
        rc = why;
        goto out;
    }
    CM_TRY(submission_message_set(out, "Issued (approved by %s)", ca->operator_name));
    out->disposition = DB_DISP_ISSUED;
    CM_TRY(db_request_resolve(ca->db, id, DB_DISP_ISSUED, out->message, (int64_t)time(NULL)));
    CM_TRY(issue_record(ca, id, p->name, x, &out->cert_der, &out->cert_der_len, out->serial,
                        DB_ORIGIN_ISSUED, NULL));
out:
    X509_free(x);
    csr_free(c);
    profile_free(p);
    return rc;
}

cm_err ca_approve(ca_ctx *ca, int64_t request_id, struct ca_submission *out)
{
    cm_err rc = CM_OK;
    struct db_request *r = NULL;

    memset(out, 0, sizeof(*out));
    out->message = "";
    out->request_id = request_id;
    /* A quick look first, so that a request that is not pending is refused
     * before the passphrase is asked for; then the key, whose prompt must
     * not hold the write lock; then the real check inside the transaction. */
    CM_TRY(load_pending(&r, ca, request_id));
    db_request_free(r);
    r = NULL;
    CM_TRY(ca_load_key(ca));
    CM_TRY(db_begin(ca->db));
    rc = load_pending(&r, ca, request_id);
    if (rc == CM_OK)
        rc = approve_in_tx(ca, r, out);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK) {
        /* Nothing signed leaves: the certificate goes with the rollback. */
        db_rollback(ca->db);
        ca_submission_clear(out);
        out->disposition = 0;
        out->serial[0] = '\0';
    }
out:
    db_request_free(r);
    return rc;
}

cm_err ca_deny(ca_ctx *ca, int64_t request_id, const char *reason)
{
    cm_err rc = CM_OK;
    struct db_request *r = NULL;
    char msg[512];

    snprintf(msg, sizeof(msg), "Denied by %s%s%s", ca->operator_name, reason ? ": " : "",
             reason ? reason : "");
    CM_TRY(db_begin(ca->db));
    rc = load_pending(&r, ca, request_id);
    if (rc == CM_OK)
        rc = db_request_resolve(ca->db, request_id, DB_DISP_DENIED, msg, (int64_t)time(NULL));
    if (rc == CM_OK)
        rc = exit_raise(ca->db, EXIT_EV_CERTDENIED, request_id, NULL, NULL);
    if (rc == CM_OK)
        rc = ca_audit(ca, "deny", request_id, NULL, msg);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
out:
    db_request_free(r);
    return rc;
}

cm_err ca_retrieve(ca_ctx *ca, int64_t request_id, unsigned char **der, size_t *len)
{
    cm_err rc = CM_OK;
    struct db_request *r = NULL;
    struct db_cert *c = NULL;

    *der = NULL;
    *len = 0;
    rc = db_request_get(ca->db, &r, request_id);
    if (rc == CM_ERR_NOTFOUND)
        return cm_err_set(CM_ERR_NOTFOUND, "request %lld: no such request", (long long)request_id);
    if (rc != CM_OK)
        return rc;
    if (r->disposition == DB_DISP_PENDING)
        CM_FAIL(CM_ERR_STATE, "request %lld is still pending", (long long)request_id);
    if (r->disposition == DB_DISP_DENIED || r->disposition == DB_DISP_FAILED)
        CM_FAIL(CM_ERR_STATE, "request %lld was %s: %s", (long long)request_id,
                db_disposition_name(r->disposition),
                r->disposition_message ? r->disposition_message : "");
    rc = db_cert_get_by_request(ca->db, &c, request_id);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_NOTFOUND, "request %lld has no certificate", (long long)request_id);
    if (rc != CM_OK)
        goto out;
    if (c->raw == NULL)
        CM_FAIL(CM_ERR_NOTFOUND, "request %lld: only a placeholder is recorded for serial %s",
                (long long)request_id, c->serial);
    if (c->withheld)
        CM_FAIL(CM_ERR_WITHHELD,
                "request %lld: certificate %s is withheld until its off-box audit record is "
                "acknowledged (audit.require_offbox); try again after 'certmint exit flush'",
                (long long)request_id, c->serial);
    CM_TRY(db_begin(ca->db));
    rc = exit_raise(ca->db, EXIT_EV_CERTRETRIEVEPENDING, request_id, c->serial, NULL);
    if (rc == CM_OK)
        rc = ca_audit(ca, "retrieve", request_id, c->serial, NULL);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK) {
        db_rollback(ca->db);
        goto out;
    }
    *der = c->raw;
    *len = c->raw_len;
    c->raw = NULL;
out:
    db_cert_free(c);
    db_request_free(r);
    return rc;
}
