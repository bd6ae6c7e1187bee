/* The request lifecycle: submit (single and batch), approve, deny, retrieve.
 * Every state change is one transaction that also writes the audit record
 * and the exit-module event. */
#include "ca/issue_int.h"

#include "ca/name.h"
#include "exit/exit.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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

cm_err issue_record(ca_ctx *ca, int64_t request_id, const char *profile, X509 *x,
                    unsigned char **der_out, size_t *der_len, char serial_out[CM_SERIAL_BUF],
                    int origin, const char *recovered_from)
{
    cm_err rc = CM_OK;
    struct db_cert c;
    unsigned char *der = NULL;
    int len;

    memset(&c, 0, sizeof(c));
    len = i2d_X509(x, &der);
    if (len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate");
    c.raw = der;
    c.raw_len = (size_t)len;
    CM_TRY(ca_cert_describe(&c, x));
    c.request_id = request_id;
    c.origin = origin;
    c.template_name = (char *)profile;
    c.revoked_reason = DB_REASON_NONE;
    c.recovered_from = (char *)recovered_from;
    /* Strict audit mode: the certificate is withheld until an off-box exit
     * module has acknowledged its CERTISSUED event. */
    c.withheld = origin == DB_ORIGIN_ISSUED && strict_mode(ca);
    CM_TRY(db_cert_insert(ca->db, &c));
    CM_TRY(exit_raise(ca->db,
                      origin == DB_ORIGIN_ISSUED ? EXIT_EV_CERTISSUED : EXIT_EV_CERTIMPORTED,
                      request_id, c.serial, NULL));
    CM_TRY(
        ca_audit(ca, origin == DB_ORIGIN_ISSUED ? "issue" : "import", request_id, c.serial, c.dn));
    snprintf(serial_out, CM_SERIAL_BUF, "%s", c.serial);
    if (der_out != NULL && !c.withheld) {
        *der_out = der;
        *der_len = (size_t)len;
        der = NULL;
    }
out:
    /* Borrowed: not ours to free. */
    c.template_name = NULL;
    c.raw = NULL;
    c.recovered_from = NULL;
    db_cert_clear(&c);
    OPENSSL_free(der);
    return rc;
}

void ca_submission_clear(struct ca_submission *s)
{
    if (s == NULL)
        return;
    OPENSSL_free(s->cert_der);
    s->cert_der = NULL;
    s->cert_der_len = 0;
}

/* Decides one parsed request: pending, issued (signed into *x) or denied by
 * policy. No database access, so that the signing of a group happens
 * outside its transaction. */
static cm_err decide_one(X509 **x, ca_ctx *ca, const struct profile *p, const struct csr *c,
                         struct ca_submission *s)
{
    cm_err why;

    *x = NULL;
    /* A request that will pend is checked now (names, SANs, key): a hostile
     * one is denied at once, not left for an officer. */
    why = p->manual ? issue_check(ca, p, c) : issue_sign(x, ca, p, c);
    if (why == CM_OK && p->manual) {
        s->disposition = DB_DISP_PENDING;
        snprintf(s->message, sizeof(s->message), "Taken under submission");
        return CM_OK;
    }
    if (why == CM_ERR_POLICY || why == CM_ERR_LINT) {
        s->disposition = DB_DISP_DENIED;
        snprintf(s->message, sizeof(s->message), "Denied by policy: %s", cm_err_msg());
        return CM_OK;
    }
    if (why != CM_OK)
        return why;
    s->disposition = DB_DISP_ISSUED;
    snprintf(s->message, sizeof(s->message), "Issued");
    return CM_OK;
}

/* Records one decided request in the current transaction. */
static cm_err record_one(ca_ctx *ca, const struct profile *p, const struct csr *c, X509 *x,
                         struct ca_submission *s, const char *requester)
{
    cm_err rc = CM_OK;
    struct db_request r;
    char *dn = NULL;
    int ev = 0;

    memset(&r, 0, sizeof(r));
    CM_TRY(name_to_string(&dn, c->subject));
    r.requester_name = (char *)requester;
    r.submitted_when = (int64_t)time(NULL);
    r.resolved_when = s->disposition == DB_DISP_PENDING ? 0 : r.submitted_when;
    r.template_name = (char *)p->name;
    r.request_dn = dn;
    r.raw_request = c->der;
    r.raw_request_len = c->der_len;
    r.disposition = s->disposition;
    r.disposition_message = s->message;
    CM_TRY(db_request_insert(ca->db, &r));
    s->request_id = r.request_id;
    switch (r.disposition) {
    case DB_DISP_ISSUED:
        CM_TRY(issue_record(ca, r.request_id, p->name, x, &s->cert_der, &s->cert_der_len, s->serial,
                            DB_ORIGIN_ISSUED, NULL));
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
    free(dn);
    return rc;
}

/* Parses one submission; a submission given by file name only is read here
 * (in the worker that handles it, for large batches). */
static cm_err submission_parse(struct csr **out, const struct ca_submission *s)
{
    unsigned char *data = NULL;
    size_t len = 0;
    cm_err rc;

    if (s->csr != NULL)
        return csr_parse(out, s->csr, s->csr_len, s->source ? s->source : "request");
    assert(s->source != NULL);
    rc = fs_read_file(&data, &len, s->source, CA_MAX_CSR_BYTES);
    if (rc == CM_OK)
        rc = csr_parse(out, data, len, s->source);
    free(data);
    return rc;
}

/* Records requests [from, to) in transactions of `group`. On a failed
 * group nothing of it is stored and its results are cleared. */
static cm_err submit_range(ca_ctx *ca, const struct profile *p, struct csr **csrs,
                           struct ca_submission *subs, size_t from, size_t to, size_t group,
                           const char *requester)
{
    cm_err rc = CM_OK;
    size_t i, start;
    X509 **xs = NULL;

    xs = calloc(group, sizeof(*xs));
    if (xs == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (start = from; start < to; start += group) {
        size_t end = start + group < to ? start + group : to;
        /* Sign first, then hold the write lock only for the inserts. */
        for (i = start; i < end; i++)
            CM_TRY(decide_one(&xs[i - start], ca, p, csrs[i], &subs[i]));
        CM_TRY(db_begin(ca->db));
        for (i = start; i < end; i++) {
            rc = record_one(ca, p, csrs[i], xs[i - start], &subs[i], requester);
            if (rc != CM_OK)
                break;
        }
        if (rc == CM_OK)
            rc = db_commit(ca->db);
        if (rc != CM_OK) {
            db_rollback(ca->db);
            for (i = start; i < end; i++) {
                ca_submission_clear(&subs[i]);
                subs[i].request_id = 0;
                subs[i].disposition = 0;
                subs[i].serial[0] = '\0';
            }
            goto out;
        }
        /* Free the parsed requests of this group early: batches can be big. */
        for (i = start; i < end; i++) {
            csr_free(csrs[i]);
            csrs[i] = NULL;
            X509_free(xs[i - start]);
            xs[i - start] = NULL;
        }
    }
out:
    for (i = 0; i < group; i++)
        X509_free(xs[i]);
    free(xs);
    return rc;
}

/* --- Parallel batches -------------------------------------------------
 * Verifying and signing dominate issuance, and libcrypto scales across
 * processes better than across threads (its internal locks). A large batch
 * is split into contiguous chunks, one per worker process. Each worker
 * first parses and verifies its chunk; only when every request of the
 * whole batch is valid does the parent let them go on (bad input changes
 * nothing). Each worker then signs and commits its own groups on its own
 * database connection (SQLite's WAL serialises the short commits) and
 * leaves its results in shared memory, which the parent reports in input
 * order. */

#define SLOT_DER_MAX 16384
#define WORKERS_MAX 64

struct slot {
    int64_t request_id;
    int disposition;
    int err;
    char serial[CM_SERIAL_BUF];
    char message[512];
    size_t der_len;
    unsigned char der[SLOT_DER_MAX];
};

struct worker_state {
    int failed; /* after phase 2: a group failed */
    int err;
    char errmsg[1024];
};

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
    /* Forking pays off only for real batches. */
    if (n < 256)
        return 1;
    if ((size_t)w > n / 128)
        w = (long long)(n / 128);
    return w < 1 ? 1 : (int)w;
}

/* A worker must not outlive its parent: a killed `submit` leaves no
 * process signing on (and nobody to report what it signed). The kernel
 * kills the worker when the parent dies; the parent may have died before
 * the request was made, hence the check after it (prctl(2)). A worker
 * killed this way takes only uncommitted work with it: its signed but
 * unrecorded certificates never left its memory. */
static void worker_bind_to_parent(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(4);
}

static void worker_run(ca_ctx *ca, const struct profile *p, struct ca_submission *subs, size_t from,
                       size_t to, size_t group, const char *requester, struct slot *slots,
                       struct worker_state *ws, int status_fd, int go_fd)
{
    struct csr **csrs = NULL;
    char go = 0;
    int bad = 0;
    size_t i;
    cm_err rc = CM_OK;
    db_t *db = NULL;

    csrs = calloc(to - from, sizeof(*csrs));
    if (csrs == NULL)
        _exit(3);
    for (i = from; i < to; i++) {
        slots[i].err = submission_parse(&csrs[i - from], &subs[i]);
        if (slots[i].err != CM_OK) {
            snprintf(slots[i].message, sizeof(slots[i].message), "%s", cm_err_msg());
            bad = 1;
            break;
        }
    }
    if (write(status_fd, bad ? "F" : "K", 1) != 1 || bad)
        _exit(bad ? 0 : 3);
    if (read(go_fd, &go, 1) != 1 || go != 'G')
        _exit(0);
    /* Never use a database connection across fork: open our own. */
    if ((rc = db_clone(&db, ca->db)) != CM_OK) {
        ws->failed = 1;
        ws->err = rc ? (int)rc : CM_ERR_DB;
        snprintf(ws->errmsg, sizeof(ws->errmsg), "%s", cm_err_msg());
        _exit(1);
    }
    ca->db = db;
    rc = submit_range(ca, p, csrs - from, subs, from, to, group, requester);
    for (i = from; i < to; i++) {
        struct ca_submission *s = &subs[i];
        slots[i].request_id = s->request_id;
        slots[i].disposition = s->disposition;
        snprintf(slots[i].serial, sizeof(slots[i].serial), "%s", s->serial);
        snprintf(slots[i].message, sizeof(slots[i].message), "%s", s->message);
        slots[i].der_len = 0;
        if (s->cert_der != NULL && s->cert_der_len <= SLOT_DER_MAX) {
            memcpy(slots[i].der, s->cert_der, s->cert_der_len);
            slots[i].der_len = s->cert_der_len;
        }
    }
    if (rc != CM_OK) {
        ws->failed = 1;
        ws->err = (int)rc;
        snprintf(ws->errmsg, sizeof(ws->errmsg), "%s", cm_err_msg());
    }
    db_close(db);
    _exit(rc == CM_OK ? 0 : 1);
}

static cm_err submit_parallel(ca_ctx *ca, const struct profile *p, struct ca_submission *subs,
                              size_t n, size_t group, const char *requester, int nw)
{
    cm_err rc = CM_OK;
    struct slot *slots = MAP_FAILED;
    struct worker_state *ws = MAP_FAILED;
    pid_t pids[WORKERS_MAX];
    int status_fd[WORKERS_MAX], go_fd[WORKERS_MAX];
    int started = 0, w, any_bad = 0;
    size_t slots_len = n * sizeof(struct slot);
    size_t i;
    pid_t parent = getpid();

    for (w = 0; w < WORKERS_MAX; w++)
        status_fd[w] = go_fd[w] = -1;
    slots = mmap(NULL, slots_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ws = mmap(NULL, (size_t)nw * sizeof(*ws), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
              -1, 0);
    if (slots == MAP_FAILED || ws == MAP_FAILED)
        CM_FAIL(CM_ERR_NOMEM, "cannot map shared memory for %zu requests", n);
    fflush(stdout);
    fflush(stderr);
    for (w = 0; w < nw; w++) {
        int sp[2], gp[2];
        size_t from = n * (size_t)w / (size_t)nw, to = n * (size_t)(w + 1) / (size_t)nw;
        if (pipe(sp) != 0)
            CM_FAIL(CM_ERR_IO, "pipe: %s", strerror(errno));
        if (pipe(gp) != 0) {
            close(sp[0]);
            close(sp[1]);
            CM_FAIL(CM_ERR_IO, "pipe: %s", strerror(errno));
        }
        pids[w] = fork();
        if (pids[w] < 0) {
            close(sp[0]);
            close(sp[1]);
            close(gp[0]);
            close(gp[1]);
            CM_FAIL(CM_ERR_IO, "fork: %s", strerror(errno));
        }
        if (pids[w] == 0) {
            worker_bind_to_parent(parent);
            close(sp[0]);
            close(gp[1]);
            for (int o = 0; o < w; o++) {
                close(status_fd[o]);
                close(go_fd[o]);
            }
            worker_run(ca, p, subs, from, to, group, requester, slots, &ws[w], sp[1], gp[0]);
        }
        close(sp[1]);
        close(gp[0]);
        status_fd[w] = sp[0];
        go_fd[w] = gp[1];
        started++;
    }
    /* Phase 1: every request parsed and verified? */
    for (w = 0; w < nw; w++) {
        char c = 0;
        if (read(status_fd[w], &c, 1) != 1 || c != 'K')
            any_bad = 1;
    }
    for (w = 0; w < nw; w++) {
        if (write(go_fd[w], any_bad ? "S" : "G", 1) != 1)
            any_bad = 1;
        close(go_fd[w]);
        go_fd[w] = -1;
    }
out:
    /* Wait for every worker, whatever happened. */
    for (w = 0; w < started; w++) {
        int st = 0;
        while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR)
            ;
        if (rc == CM_OK && !any_bad && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
            if (ws[w].failed)
                rc = cm_err_set((cm_err)ws[w].err, "%s", ws[w].errmsg);
            else
                rc = cm_err_set(CM_ERR_IO, "batch worker %d ended abnormally (status %d)", w, st);
        }
        if (status_fd[w] >= 0)
            close(status_fd[w]);
        if (go_fd[w] >= 0)
            close(go_fd[w]);
    }
    if (slots != MAP_FAILED && started == nw) {
        if (any_bad && rc == CM_OK) {
            /* Report the first bad request; nothing was recorded. */
            for (i = 0; i < n; i++) {
                if (slots[i].err != CM_OK) {
                    subs[i].err = (cm_err)slots[i].err;
                    rc = cm_err_set((cm_err)slots[i].err, "%s", slots[i].message);
                    break;
                }
            }
            if (i == n)
                rc = cm_err_set(CM_ERR_IO, "a batch worker failed while parsing");
        } else if (!any_bad) {
            for (i = 0; i < n; i++) {
                subs[i].request_id = slots[i].request_id;
                subs[i].disposition = slots[i].disposition;
                snprintf(subs[i].serial, sizeof(subs[i].serial), "%s", slots[i].serial);
                snprintf(subs[i].message, sizeof(subs[i].message), "%s", slots[i].message);
                if (slots[i].der_len > 0) {
                    subs[i].cert_der = OPENSSL_memdup(slots[i].der, slots[i].der_len);
                    if (subs[i].cert_der == NULL && rc == CM_OK)
                        rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
                    subs[i].cert_der_len = slots[i].der_len;
                }
            }
        }
    }
    if (slots != MAP_FAILED)
        munmap(slots, slots_len);
    if (ws != MAP_FAILED)
        munmap(ws, (size_t)nw * sizeof(*ws));
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
    int nw, marked = 0;

    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "submit: no request given");
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "this CA has no certificate yet (install-ca-cert)");
    CM_TRY(profile_load(&p, ca->cfg, o->profile ? o->profile : "tls-server"));
    if (!p->manual)
        CM_TRY(ca_load_key(ca));
    group = o->group;
    if (group == 0) {
        if (config_get_int(ca->cfg, "submit.batch_group", &g) != CM_OK || g < 1)
            g = 512;
        group = (size_t)g;
    }
    nw = workers_for(ca, n);
    /* A batch of several transactions records itself while it runs, so
     * that one killed half-way is reported by the next run. */
    if (nw > 1 || n > group) {
        CM_TRY(ca_batch_begin(ca, n, requester));
        marked = 1;
    }
    if (nw > 1) {
        rc = submit_parallel(ca, p, subs, n, group, requester, nw);
        goto out;
    }
    /* Bad input changes nothing: every request is parsed and its signature
     * verified before the first is recorded. */
    csrs = calloc(n, sizeof(*csrs));
    CM_NOMEM_IF(csrs == NULL);
    for (i = 0; i < n; i++) {
        subs[i].err = submission_parse(&csrs[i], &subs[i]);
        if (subs[i].err != CM_OK) {
            rc = subs[i].err;
            goto out;
        }
    }
    rc = submit_range(ca, p, csrs, subs, 0, n, group, requester);
out:
    if (marked)
        ca_batch_end(ca);
    if (csrs != NULL)
        for (i = 0; i < n; i++)
            csr_free(csrs[i]);
    free(csrs);
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
        snprintf(out->message, sizeof(out->message), "Denied by policy: %s", cm_err_msg());
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
    snprintf(out->message, sizeof(out->message), "Issued (approved by %s)", ca->operator_name);
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
