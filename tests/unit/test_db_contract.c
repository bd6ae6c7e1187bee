/* The database contract (src/db/db.h, C1-C10) run against every backend in
 * the registry: a new backend (PostgreSQL) is done when this passes for it.
 * Only the public db_* API is used, except in the fixtures table at the top,
 * which says for each backend how to damage a database (the integrity
 * check must find it). Concurrency is real: several processes, each with
 * its own handle (db_clone after fork, as the batch workers do). */
#include "db/db.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef CM_HAVE_PQ
#include "util/dl_pq.h"
#endif

static char tmpdir[] = "/tmp/cm-test-dbc.XXXXXX";
static const struct db_ops *backend; /* the one under test */
static int homeseq;

/* ---- per-backend fixtures ---- */

/* SQLite: overwrite the b-tree headers of the last pages (the indexes and
 * rows written last) with garbage; page 1 (the header) stays intact, so
 * the file still opens and only a full check finds the damage. */
static int sqlite_corrupt(const char *location)
{
    const char *path = location + strlen("sqlite:");
    unsigned char junk[64];
    struct stat sb;
    int fd = open(path, O_RDWR), ok = 1;

    if (fd < 0 || fstat(fd, &sb) != 0)
        return 0;
    memset(junk, 0x5a, sizeof(junk));
    for (off_t page = 3; page <= 6 && ok; page++)
        ok = pwrite(fd, junk, sizeof(junk), sb.st_size - page * 4096) == (ssize_t)sizeof(junk);
    close(fd);
    return ok;
}

#ifdef CM_HAVE_PQ
/* PostgreSQL: the server the test harness started (scripts/pg.sh; its URL
 * without a database in CERTMINT_TEST_PG, the password in PGPASSFILE). A
 * fresh database per location. */
static int pg_location(char *loc, size_t n, int seq)
{
    const char *base = getenv("CERTMINT_TEST_PG");
    int k;
    if (base == NULL || *base == '\0')
        return 0;
    k = snprintf(loc, n, "%s/cm_contract_%ld_%d", base, (long)getpid(), seq);
    return k > 0 && (size_t)k < n;
}

/* PostgreSQL keeps its pages sound itself; the damage certmint can suffer
 * is a schema changed behind its back: the foreign key dropped and a
 * request deleted under its certificate. */
static int pg_corrupt(const char *location)
{
    PGconn *c = NULL;
    PGresult *r = NULL;
    int ok = 0;

    if (dl_pq_load("test_db_contract") != CM_OK)
        return 0;
    c = PQconnectdb(location);

    if (PQstatus(c) == CONNECTION_OK) {
        r = PQexec(c, "ALTER TABLE certificates DROP CONSTRAINT certificates_requestid_fkey;"
                      " DELETE FROM requests WHERE RequestID = 5");
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            printf("# pg_corrupt: %s", PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
    return ok;
}
#endif

static const struct {
    const char *backend;
    int (*corrupt)(const char *location); /* 1 when the database was damaged */
    /* A fresh location for the seq-th database (NULL: the backend's
     * home_location in a new folder); 0 when the backend cannot run. */
    int (*location)(char *loc, size_t n, int seq);
} fixtures[] = {
    {"sqlite", sqlite_corrupt, NULL},
#ifdef CM_HAVE_PQ
    {"postgresql", pg_corrupt, pg_location},
#endif
};

static int (*fixture_location(void))(char *, size_t, int)
{
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
        if (strcmp(fixtures[i].backend, backend->name) == 0)
            return fixtures[i].location;
    return NULL;
}

/* ---- helpers ---- */

/* A fresh, empty CA home for the backend under test; *loc its database. */
static void new_location(char *loc, size_t n)
{
    char home[256];
    int (*fixture)(char *, size_t, int) = fixture_location();
    if (fixture != NULL) {
        if (!fixture(loc, n, ++homeseq)) {
            printf("# %s: no location for a test database\n", backend->name);
            exit(1);
        }
        return;
    }
    snprintf(home, sizeof(home), "%s/%s-%d", tmpdir, backend->name, ++homeseq);
    if (mkdir(home, 0700) != 0 || backend->home_location(loc, n, home) != CM_OK) {
        printf("# cannot make %s: %s\n", home, cm_err_msg());
        exit(1);
    }
}

static db_t *open_new(char *loc, size_t n)
{
    db_t *db = NULL;
    new_location(loc, n);
    if (db_open(&db, loc, 1) != CM_OK) {
        printf("# cannot create %s: %s\n", loc, cm_err_msg());
        exit(1);
    }
    return db;
}

static cm_err add_request(db_t *db, int64_t *id, int disposition)
{
    struct db_request r;
    cm_err rc;
    memset(&r, 0, sizeof(r));
    r.requester_name = "contract";
    r.submitted_when = 1700000000;
    r.disposition = disposition;
    rc = db_request_insert(db, &r);
    *id = r.request_id;
    return rc;
}

static cm_err add_cert(db_t *db, int64_t request_id, const char *serial)
{
    struct db_cert c;
    memset(&c, 0, sizeof(c));
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    c.request_id = request_id;
    c.not_before = 1700000000;
    c.not_after = 1800000000;
    c.dn = "CN=contract";
    c.cn = "contract";
    c.revoked_reason = DB_REASON_NONE;
    return db_cert_insert(db, &c);
}

/* One transaction: a request, its certificate and an event, so that in
 * every committed state certificates == last RequestID == last event ID. */
static cm_err issue_one(db_t *db, int n)
{
    struct db_event ev;
    char serial[40];
    int64_t id = 0;
    cm_err rc;

    memset(&ev, 0, sizeof(ev));
    ev.type = 1;
    ev.created = 1700000000;
    snprintf(serial, sizeof(serial), "%X%08X", (unsigned)getpid(), (unsigned)n);
    if ((rc = db_begin(db)) != CM_OK)
        return rc;
    if ((rc = add_request(db, &id, DB_DISP_ISSUED)) == CM_OK &&
        (rc = add_cert(db, id, serial)) == CM_OK && (rc = db_event_enqueue(db, &ev)) == CM_OK)
        rc = db_commit(db);
    if (rc != CM_OK)
        db_rollback(db);
    return rc;
}

/* Starts nproc children running fn(db_clone of db, i, fd): each writes
 * int64 values to its own pipe. Returns the values of child i in vals[i]
 * (up to max each) and 1 when every child exited 0. */
typedef int (*child_fn)(db_t *db, int i, int fd);
static int run_children(db_t *db, int nproc, child_fn fn, int64_t vals[][256], int *nvals, int max)
{
    pid_t pid[8];
    int fds[8], ok = 1;

    for (int i = 0; i < nproc; i++) {
        int p[2];
        if (pipe(p) != 0)
            return 0;
        fflush(stdout);
        pid[i] = fork();
        if (pid[i] == 0) {
            db_t *mine = NULL;
            close(p[0]);
            /* C1: a forked child gets its own connection from the handle. */
            if (db_clone(&mine, db) != CM_OK)
                _exit(3);
            _exit(fn(mine, i, p[1]));
        }
        close(p[1]);
        fds[i] = p[0];
    }
    for (int i = 0; i < nproc; i++) {
        int st = 0;
        int64_t v;
        nvals[i] = 0;
        while (read(fds[i], &v, sizeof(v)) == (ssize_t)sizeof(v))
            if (nvals[i] < max)
                vals[i][nvals[i]++] = v;
        close(fds[i]);
        if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            ok = 0;
    }
    return ok;
}

static int put(int fd, int64_t v)
{
    return write(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

/* ---- C0: the ops table is complete ---- */

TEST(ops_complete)
{
    const struct db_ops *o = backend;
    CHECK_INT(o->version, DB_OPS_VERSION);
    CHECK(o->open && o->close && o->begin && o->commit && o->rollback && o->meta_get &&
          o->meta_set && o->counter_next && o->counter_raise && o->counter_get &&
          o->request_insert && o->request_get && o->request_resolve && o->request_list &&
          o->cert_insert && o->cert_get && o->cert_get_by_request && o->cert_set_withheld &&
          o->cert_revoke && o->cert_unrevoke && o->revoked_iter && o->crl_insert && o->crl_last &&
          o->audit_append && o->audit_iter && o->view && o->event_enqueue && o->event_iter &&
          o->cert_fill_placeholder && o->poison_add && o->poison_del && o->poison_iter &&
          o->home_location && o->clone && o->remove && o->lock && o->unlock && o->marks &&
          o->snapshot && o->snapshot_open && o->restore && o->check && o->vault_insert &&
          o->vault_update && o->vault_iter);
    CHECK(db_backend_find(o->name) == o);
}

/* ---- C3: counters ---- */

static int counter_child(db_t *db, int i, int fd)
{
    (void)i;
    for (int k = 0; k < 50; k++) {
        int64_t v = 0;
        if (db_begin(db) != CM_OK || db_counter_next(db, &v, DB_COUNTER_CRL_NUMBER) != CM_OK ||
            db_commit(db) != CM_OK || !put(fd, v))
            return 1;
    }
    db_close(db);
    return 0;
}

TEST(counters_concurrent)
{
    char loc[512];
    db_t *db = open_new(loc, sizeof(loc));
    static int64_t vals[4][256];
    int nv[4], total = 0;
    int64_t last = 0, v = 0;

    /* Four processes, 50 values each: all distinct, each process's rising. */
    CHECK(run_children(db, 4, counter_child, vals, nv, 256));
    for (int i = 0; i < 4; i++) {
        CHECK_INT(nv[i], 50);
        for (int k = 1; k < nv[i]; k++)
            CHECK(vals[i][k] > vals[i][k - 1]);
        for (int k = 0; k < nv[i]; k++) {
            total++;
            if (vals[i][k] > last)
                last = vals[i][k];
            for (int j = 0; j <= i; j++)
                for (int l = 0; l < (j == i ? k : nv[j]); l++)
                    if (vals[j][l] == vals[i][k])
                        UNIT_FAIL("value %lld handed out twice", (long long)vals[i][k]);
        }
    }
    CHECK_INT(total, 200);
    /* counter_get says the last; across reopen it goes on above it. */
    CHECK_OK(db_counter_get(db, &v, DB_COUNTER_CRL_NUMBER));
    CHECK_INT(v, last);
    db_close(db);
    CHECK_OK(db_open(&db, loc, 0));
    CHECK_OK(db_begin(db));
    CHECK_OK(db_counter_next(db, &v, DB_COUNTER_CRL_NUMBER));
    CHECK(v > last);
    /* raise: never lowers; next is above the raised value. */
    CHECK_OK(db_counter_raise(db, DB_COUNTER_CRL_NUMBER, 1000));
    CHECK_OK(db_counter_raise(db, DB_COUNTER_CRL_NUMBER, 10));
    CHECK_OK(db_counter_next(db, &v, DB_COUNTER_CRL_NUMBER));
    CHECK_INT(v, 1001);
    CHECK_ERR(db_counter_next(db, &v, DB_COUNTER_EVENT_ID), CM_ERR_INVALID);
    CHECK_ERR(db_counter_next(db, &v, "Bad Name"), CM_ERR_INVALID);
    CHECK_OK(db_commit(db));
    /* An unused counter reads 0. */
    CHECK_OK(db_counter_get(db, &v, "never_used"));
    CHECK_INT(v, 0);
    db_close(db);
}

/* A value taken by a transaction that rolled back is not committed; the
 * next committed value is still above every committed one. */
TEST(counters_rollback)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL;
    int64_t v1 = 0, v2 = 0, v3 = 0;

    CHECK_OK(db_clone(&b, a));
    CHECK_OK(db_begin(a));
    CHECK_OK(db_counter_next(a, &v1, DB_COUNTER_REV_SEQ));
    CHECK_OK(db_commit(a));
    CHECK_OK(db_begin(a));
    CHECK_OK(db_counter_next(a, &v2, DB_COUNTER_REV_SEQ));
    db_rollback(a);
    CHECK_OK(db_counter_get(b, &v3, DB_COUNTER_REV_SEQ));
    CHECK_INT(v3, v1);
    CHECK_OK(db_begin(b));
    CHECK_OK(db_counter_next(b, &v3, DB_COUNTER_REV_SEQ));
    CHECK_OK(db_commit(b));
    CHECK(v3 > v1);
    db_close(a);
    db_close(b);
}

/* C3 for RequestIDs many to a transaction (a batch group): increasing,
 * seen by db_counter_get inside the transaction, not committed by a
 * rollback, continued by another handle after the commit; a RequestID given
 * by the caller (recovery) in the middle raises the counter past it. (The
 * SQLite backend reads the counter once per transaction and writes it back
 * at the commit; gaps are allowed, so a backend with a sequence passes.) */
TEST(request_ids_in_one_transaction)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL;
    int64_t id = 0, prev = 0, first = 0, got = 0, given = 0;
    struct db_request r;

    CHECK_OK(db_clone(&b, a));
    CHECK_OK(db_begin(a));
    CHECK_OK(add_request(a, &first, DB_DISP_PENDING));
    prev = first;
    for (int k = 1; k < 100; k++) {
        CHECK_OK(add_request(a, &id, DB_DISP_PENDING));
        CHECK(id > prev);
        prev = id;
    }
    CHECK_OK(db_counter_get(a, &got, DB_COUNTER_REQUEST_ID));
    CHECK_INT(got, prev);
    db_rollback(a);

    CHECK_OK(db_begin(a));
    for (int k = 0; k < 10; k++)
        CHECK_OK(add_request(a, &id, DB_DISP_PENDING));
    memset(&r, 0, sizeof(r));
    r.disposition = DB_DISP_FOREIGN;
    given = id + 50;
    r.request_id = given;
    CHECK_OK(db_request_insert(a, &r));
    CHECK_OK(add_request(a, &got, DB_DISP_PENDING));
    CHECK(got > given);
    prev = got;
    CHECK_OK(db_commit(a));
    CHECK_OK(db_counter_get(b, &got, DB_COUNTER_REQUEST_ID));
    CHECK(got >= prev);
    CHECK_OK(db_begin(b));
    CHECK_OK(add_request(b, &got, DB_DISP_PENDING));
    CHECK_OK(db_commit(b));
    CHECK(got > prev);
    prev = got;
    /* The next transaction of the first handle does not reuse its cache. */
    CHECK_OK(db_begin(a));
    CHECK_OK(add_request(a, &got, DB_DISP_PENDING));
    CHECK_OK(db_commit(a));
    CHECK(got > prev);
    db_close(a);
    db_close(b);
}

static int request_child(db_t *db, int i, int fd)
{
    for (int k = 0; k < 40; k++) {
        int64_t id = 0;
        if (issue_one(db, i * 1000 + k) != CM_OK)
            return 1;
        if (db_counter_get(db, &id, DB_COUNTER_REQUEST_ID) != CM_OK || !put(fd, id))
            return 1;
    }
    db_close(db);
    return 0;
}

/* RequestIDs and event IDs from four writers: no ID twice, and the marks
 * add up. A caller-given RequestID that is taken is CM_ERR_EXISTS (C4). */
TEST(request_and_event_ids)
{
    char loc[512];
    db_t *db = open_new(loc, sizeof(loc));
    static int64_t vals[4][256];
    int nv[4];
    struct db_marks m;
    struct db_request r;
    int64_t ev = 0;

    CHECK(run_children(db, 4, request_child, vals, nv, 256));
    CHECK_OK(db_marks(db, &m));
    CHECK_INT(m.certificates, 160);
    CHECK_INT(m.last_request_id, 160);
    CHECK_INT(m.last_event_id, 160);
    CHECK_OK(db_counter_get(db, &ev, DB_COUNTER_EVENT_ID));
    CHECK_INT(ev, 160);
    memset(&r, 0, sizeof(r));
    r.disposition = DB_DISP_PENDING;
    r.request_id = 77;
    CHECK_OK(db_begin(db));
    CHECK_ERR(db_request_insert(db, &r), CM_ERR_EXISTS);
    db_rollback(db);
    /* Event IDs raised past a mail trail: the next is above. */
    CHECK_OK(db_begin(db));
    CHECK_OK(db_event_raise_id(db, 500));
    {
        struct db_event e;
        memset(&e, 0, sizeof(e));
        e.type = 1;
        e.created = 1;
        CHECK_OK(db_event_enqueue(db, &e));
        CHECK_INT(e.id, 501);
    }
    CHECK_OK(db_commit(db));
    db_close(db);
}

/* ---- C4, C5: uniqueness and compare-and-set across handles ---- */

TEST(serial_unique_and_cas)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL;
    struct db_request *r = NULL;
    int64_t id1 = 0, id2 = 0;

    CHECK_OK(db_open(&b, loc, 0));
    CHECK_OK(db_begin(a));
    CHECK_OK(add_request(a, &id1, DB_DISP_ISSUED));
    CHECK_OK(add_cert(a, id1, "0A1B2C3D4E5F6071"));
    CHECK_OK(add_request(a, &id2, DB_DISP_PENDING));
    CHECK_OK(db_commit(a));
    /* The same serial through the other handle: refused by the database. */
    CHECK_OK(db_begin(b));
    {
        int64_t id3 = 0;
        CHECK_OK(add_request(b, &id3, DB_DISP_ISSUED));
        CHECK_ERR(add_cert(b, id3, "0A1B2C3D4E5F6071"), CM_ERR_EXISTS);
    }
    db_rollback(b);
    /* Two officers resolve the pending request: the first wins, the second
     * loses cleanly and its transaction changes nothing. */
    CHECK_OK(db_begin(a));
    CHECK_OK(db_request_resolve(a, id2, DB_DISP_DENIED, "no", 1700000001));
    CHECK_OK(db_commit(a));
    CHECK_OK(db_begin(b));
    CHECK_ERR(db_request_resolve(b, id2, DB_DISP_ISSUED, "yes", 1700000002), CM_ERR_STATE);
    db_rollback(b);
    CHECK_OK(db_request_get(a, &r, id2));
    CHECK(r != NULL && r->disposition == DB_DISP_DENIED);
    db_request_free(r);
    /* Revocation: a second revoke of the same certificate loses. */
    CHECK_OK(db_begin(a));
    CHECK_OK(db_cert_revoke(a, "0A1B2C3D4E5F6071", DB_REASON_SUPERSEDED, 1, 1, 0, 1));
    CHECK_OK(db_commit(a));
    CHECK_OK(db_begin(b));
    CHECK_ERR(db_cert_revoke(b, "0A1B2C3D4E5F6071", DB_REASON_KEY_COMPROMISE, 2, 2, 0, 2),
              CM_ERR_STATE);
    CHECK_ERR(db_cert_unrevoke(b, "0A1B2C3D4E5F6071", 2, 2), CM_ERR_STATE);
    db_rollback(b);
    db_close(a);
    db_close(b);
}

static int64_t race_id;

static int resolve_child(db_t *db, int i, int fd)
{
    cm_err rc;
    if (db_begin(db) != CM_OK)
        return 1;
    rc = db_request_resolve(db, race_id, i % 2 ? DB_DISP_DENIED : DB_DISP_ISSUED, "race", 1);
    if (rc == CM_OK)
        rc = db_commit(db);
    else
        db_rollback(db);
    put(fd, rc == CM_OK ? 1 : rc == CM_ERR_STATE ? 0 : -1);
    db_close(db);
    return 0;
}

/* Four processes resolve one request at once: exactly one wins. */
/* C4 for certificates just signed (origin issued, with their DER): a
 * backend may report a taken serial at the transaction's next synchronous
 * step, at the latest db_commit (PostgreSQL keeps such rows back and sends
 * them together). Either way the transaction stores nothing, its request
 * and event included, and the counters go on from the committed state. */
TEST(serial_taken_issued_deferred)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL;
    static const unsigned char der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    struct db_cert c;
    struct db_marks m0, m1;
    struct db_event ev;
    struct db_request *r = NULL;
    int64_t id1 = 0, id2 = 0, id3 = 0, before = 0, after = 0;
    cm_err rc;

    memset(&c, 0, sizeof(c));
    snprintf(c.serial, sizeof(c.serial), "%s", "7A1B2C3D4E5F6071");
    c.not_before = 1700000000;
    c.not_after = 1800000000;
    c.dn = "CN=deferred";
    c.cn = "deferred";
    c.raw = (unsigned char *)der;
    c.raw_len = sizeof(der);
    c.revoked_reason = DB_REASON_NONE;
    CHECK_OK(db_open(&b, loc, 0));
    CHECK_OK(db_begin(a));
    CHECK_OK(add_request(a, &id1, DB_DISP_ISSUED));
    c.request_id = id1;
    CHECK_OK(db_cert_insert(a, &c));
    CHECK_OK(db_commit(a));
    CHECK_OK(db_marks(a, &m0));
    CHECK_OK(db_counter_get(a, &before, DB_COUNTER_EVENT_ID));
    /* The same serial, issued again through the other handle. */
    CHECK_OK(db_begin(b));
    rc = add_request(b, &id2, DB_DISP_ISSUED);
    if (rc == CM_OK) {
        c.request_id = id2;
        rc = db_cert_insert(b, &c);
    }
    if (rc == CM_OK) {
        memset(&ev, 0, sizeof(ev));
        ev.type = 1;
        ev.created = 1700000000;
        rc = db_event_enqueue(b, &ev);
    }
    if (rc == CM_OK)
        rc = db_commit(b);
    CHECK_ERR(rc, CM_ERR_EXISTS);
    db_rollback(b);
    CHECK_OK(db_marks(a, &m1));
    CHECK_INT(m1.certificates, m0.certificates);
    CHECK_INT(m1.last_event_id, m0.last_event_id);
    CHECK_ERR(db_request_get(a, &r, id2), CM_ERR_NOTFOUND);
    CHECK_OK(db_counter_get(a, &after, DB_COUNTER_EVENT_ID));
    CHECK_INT(after, before);
    /* The handle goes on: the next request gets a RequestID above every
     * committed one, its certificate goes in. */
    CHECK_OK(db_begin(b));
    CHECK_OK(add_request(b, &id3, DB_DISP_ISSUED));
    CHECK(id3 > id1);
    snprintf(c.serial, sizeof(c.serial), "%s", "7A1B2C3D4E5F6072");
    c.request_id = id3;
    CHECK_OK(db_cert_insert(b, &c));
    CHECK_OK(db_commit(b));
    CHECK_OK(db_marks(a, &m1));
    CHECK_INT(m1.certificates, m0.certificates + 1);
    db_request_free(r);
    db_close(b);
    db_close(a);
}

TEST(cas_race)
{
    char loc[512];
    db_t *db = open_new(loc, sizeof(loc));
    static int64_t vals[4][256];
    int nv[4], wins = 0, losses = 0;

    CHECK_OK(db_begin(db));
    CHECK_OK(add_request(db, &race_id, DB_DISP_PENDING));
    CHECK_OK(db_commit(db));
    CHECK(run_children(db, 4, resolve_child, vals, nv, 256));
    for (int i = 0; i < 4; i++) {
        CHECK_INT(nv[i], 1);
        wins += vals[i][0] == 1;
        losses += vals[i][0] == 0;
    }
    CHECK_INT(wins, 1);
    CHECK_INT(losses, 3);
    db_close(db);
}

/* ---- C7: metadata ---- */

TEST(meta)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL;
    char *v = NULL;

    CHECK_OK(db_clone(&b, a));
    CHECK_OK(db_begin(a));
    CHECK_OK(db_meta_set(a, "exit.file.acked", "7"));
    /* Not visible to another handle before the commit. */
    CHECK_OK(db_meta_get(b, &v, "exit.file.acked"));
    CHECK(v == NULL);
    CHECK_OK(db_commit(a));
    CHECK_OK(db_meta_get(b, &v, "exit.file.acked"));
    CHECK_STR(v, "7");
    free(v);
    v = NULL;
    CHECK_OK(db_begin(a));
    CHECK_OK(db_meta_set(a, "exit.file.acked", "8"));
    db_rollback(a);
    CHECK_OK(db_meta_get(b, &v, "exit.file.acked"));
    CHECK_STR(v, "7");
    free(v);
    v = NULL;
    CHECK_OK(db_begin(a));
    CHECK_ERR(db_meta_set(a, "counter.crl_number", "1"), CM_ERR_INVALID);
    CHECK_ERR(db_meta_set(a, "schema_version", "9"), CM_ERR_INVALID);
    db_rollback(a);
    CHECK_ERR(db_meta_get(b, &v, "counter.request_id"), CM_ERR_INVALID);
    db_close(a);
    db_close(b);
}

/* ---- C8: locks ---- */

static int lock_child(db_t *db, int i, int fd)
{
    int held = 0;
    (void)i;
    /* Blocks until the parent lets go, then reports. */
    if (db_lock(db, &held, "exit", 1) != CM_OK || !held)
        return 1;
    put(fd, (int64_t)time(NULL));
    db_close(db); /* releases it */
    return 0;
}

TEST(locks)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL;
    int held = 0;
    static int64_t vals[1][256];
    int nv[1];
    pid_t pid = -1;
    int p[2], st = 0;

    CHECK_OK(db_clone(&b, a));
    CHECK_OK(db_lock(a, &held, "exit", 0));
    CHECK_INT(held, 1);
    /* Exclusive across two handles of one process. */
    CHECK_OK(db_lock(b, &held, "exit", 0));
    CHECK_INT(held, 0);
    /* Another name is another lock. */
    CHECK_OK(db_lock(b, &held, "other", 0));
    CHECK_INT(held, 1);
    db_unlock(b, "other");
    db_unlock(a, "exit");
    CHECK_OK(db_lock(b, &held, "exit", 0));
    CHECK_INT(held, 1);
    /* Closing the handle releases it. */
    db_close(b);
    CHECK_OK(db_lock(a, &held, "exit", 0));
    CHECK_INT(held, 1);
    db_unlock(a, "exit");
    /* A waiter in another process gets it once it is released. The child
     * is forked before the lock is taken: callers never fork while holding
     * a lock (C8), a child would hold it too (flock). */
    {
        int64_t released;
        int go[2];
        char c = 'g';
        fflush(stdout);
        if (pipe(p) == 0 && pipe(go) == 0 && fork() == 0) {
            db_t *mine = NULL;
            close(p[0]);
            close(go[1]);
            if (read(go[0], &c, 1) != 1 || db_clone(&mine, a) != CM_OK)
                _exit(3);
            _exit(lock_child(mine, 0, p[1]));
        }
        close(p[1]);
        close(go[0]);
        CHECK_OK(db_lock(a, &held, "exit", 0));
        CHECK_INT(held, 1);
        CHECK(write(go[1], &c, 1) == 1);
        close(go[1]);
        sleep(1);
        released = (int64_t)time(NULL);
        db_unlock(a, "exit");
        nv[0] = 0;
        while (nv[0] < 1 && read(p[0], &vals[0][0], sizeof(int64_t)) == sizeof(int64_t))
            nv[0]++;
        close(p[0]);
        CHECK_INT(nv[0], 1);
        CHECK(vals[0][0] >= released);
        while (wait(&st) < 0 && errno == EINTR)
            ;
    }
    /* A holder killed with SIGKILL never blocks the next one. */
    fflush(stdout);
    if (pipe(p) == 0 && (pid = fork()) == 0) {
        db_t *mine = NULL;
        int h = 0;
        close(p[0]);
        if (db_clone(&mine, a) != CM_OK || db_lock(mine, &h, "exit", 0) != CM_OK || !h)
            _exit(3);
        put(p[1], 1);
        pause();
        _exit(0);
    }
    close(p[1]);
    {
        int64_t one = 0;
        CHECK(read(p[0], &one, sizeof(one)) == (ssize_t)sizeof(one) && one == 1);
        close(p[0]);
        CHECK_OK(db_lock(a, &held, "exit", 0));
        CHECK_INT(held, 0);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        CHECK_OK(db_lock(a, &held, "exit", 0));
        CHECK_INT(held, 1);
    }
    CHECK_ERR(db_lock(a, &held, "../x", 0), CM_ERR_INVALID);
    db_close(a);
}

/* C8, shared holds: every deliverer holds "exit" shared, `db migrate`
 * takes it exclusively (exit/dispatch.c, backup/migrate.c). */
TEST(locks_shared)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL, *c = NULL;
    int held = 0;

    CHECK_OK(db_clone(&b, a));
    CHECK_OK(db_clone(&c, a));
    CHECK_OK(db_lock(a, &held, "exit", DB_LOCK_SHARED));
    CHECK_INT(held, 1);
    /* Two shared holders at once... */
    CHECK_OK(db_lock(b, &held, "exit", DB_LOCK_SHARED));
    CHECK_INT(held, 1);
    /* ... and no exclusive one while either holds it. */
    CHECK_OK(db_lock(c, &held, "exit", DB_LOCK_TRY));
    CHECK_INT(held, 0);
    db_unlock(a, "exit");
    CHECK_OK(db_lock(c, &held, "exit", DB_LOCK_TRY));
    CHECK_INT(held, 0);
    /* The last shared holder gone (closed: C8), the exclusive one gets it,
     * and then no shared one does. */
    db_close(b);
    CHECK_OK(db_lock(c, &held, "exit", DB_LOCK_TRY));
    CHECK_INT(held, 1);
    CHECK_OK(db_lock(a, &held, "exit", DB_LOCK_SHARED));
    CHECK_INT(held, 0);
    db_unlock(c, "exit");
    CHECK_OK(db_lock(a, &held, "exit", DB_LOCK_SHARED | DB_LOCK_WAIT));
    CHECK_INT(held, 1);
    /* A shared hold released by unlock (not only by close). */
    db_unlock(a, "exit");
    CHECK_OK(db_lock(c, &held, "exit", DB_LOCK_TRY));
    CHECK_INT(held, 1);
    db_unlock(c, "exit");
    db_close(c);
    db_close(a);
}

/* ---- C9: snapshots while a writer writes, restore ---- */

static int writer_child(db_t *db, int i, int fd)
{
    (void)i;
    (void)fd;
    for (int k = 0; k < 300; k++)
        if (issue_one(db, k) != CM_OK)
            return 1;
    db_close(db);
    return 0;
}

static cm_err count_cb(void *ctx, const struct db_row *row)
{
    (void)row;
    (*(int64_t *)ctx)++;
    return CM_OK;
}

static cm_err collect_name(void *ctx, const char *name)
{
    char *list = ctx;
    size_t n = strlen(list);
    snprintf(list + n, 512 - n, "%s;", name);
    return CM_OK;
}

/* Reads every file of the snapshot (as its callback named them). */
static size_t snapshot_bytes(unsigned char *out, size_t max, const char *dir, const char *names)
{
    char list[512], path[600], *save = NULL;
    size_t len = 0;
    snprintf(list, sizeof(list), "%s", names);
    for (char *n = strtok_r(list, ";", &save); n; n = strtok_r(NULL, ";", &save)) {
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, n);
        if ((f = fopen(path, "rb")) == NULL)
            return 0;
        len += fread(out + len, 1, max - len, f);
        fclose(f);
    }
    return len;
}

TEST(snapshot_consistent)
{
    char loc[512], loc2[512], dir[300], names[512] = "", names2[512] = "";
    db_t *db = open_new(loc, sizeof(loc)), *s = NULL, *r = NULL;
    struct db_marks m, m2;
    pid_t pid;
    int st = 0, taken = 0, moving = 0;
    static unsigned char before[8 << 20], after[8 << 20];
    size_t lb, la;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        db_t *mine = NULL;
        _exit(db_clone(&mine, db) == CM_OK ? writer_child(mine, 0, -1) : 3);
    }
    /* Snapshots taken while the writer commits: each is one committed
     * state (a request, its certificate and its event always together). */
    for (int k = 0; k < 6; k++) {
        int64_t rows = 0;
        snprintf(dir, sizeof(dir), "%s/snap-%s-%d", tmpdir, backend->name, k);
        CHECK(mkdir(dir, 0700) == 0);
        names[0] = '\0';
        CHECK_OK(db_snapshot(db, &m, dir, collect_name, names));
        CHECK(names[0] != '\0');
        CHECK_INT(m.certificates, m.last_request_id);
        CHECK_INT(m.last_event_id, m.last_request_id);
        if (m.certificates > 0 && m.certificates < 300)
            moving++;
        CHECK_OK(db_snapshot_open(&s, dir, NULL, NULL));
        if (s == NULL)
            continue;
        CHECK_OK(db_view(s, NULL, 0, count_cb, &rows));
        CHECK_INT(rows, m.certificates);
        CHECK_OK(db_marks(s, &m2));
        CHECK(memcmp(&m, &m2, sizeof(m)) == 0);
        db_close(s);
        s = NULL;
        taken++;
        usleep(20000);
    }
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_INT(taken, 6);
    if (moving == 0)
        printf("# %s: no snapshot fell inside the writer's run\n", backend->name);
    /* Opening and checking a snapshot leaves it byte for byte as it was,
     * and it names the same files. */
    lb = snapshot_bytes(before, sizeof(before), dir, names);
    CHECK(lb > 0);
    CHECK_OK(db_snapshot_open(&s, dir, collect_name, names2));
    CHECK_STR(names2, names);
    if (s != NULL) {
        CHECK_OK(db_check(s));
        CHECK_OK(db_marks(s, &m2));
        db_close(s);
    }
    la = snapshot_bytes(after, sizeof(after), dir, names);
    CHECK(la == lb && memcmp(before, after, la) == 0);
    /* Restore: a new database with the snapshot's state, whose counters go
     * on from the snapshot's marks. */
    new_location(loc2, sizeof(loc2));
    CHECK_OK(db_restore(loc2, dir));
    CHECK_ERR(db_restore(loc2, dir), CM_ERR_EXISTS);
    CHECK_OK(db_open(&r, loc2, 0));
    if (r != NULL) {
        struct db_marks m3;
        int64_t id = 0;
        CHECK_OK(db_marks(r, &m3));
        CHECK(memcmp(&m2, &m3, sizeof(m2)) == 0);
        CHECK_OK(db_begin(r));
        CHECK_OK(add_request(r, &id, DB_DISP_PENDING));
        CHECK_OK(db_commit(r));
        CHECK_INT(id, m3.last_request_id + 1);
        db_close(r);
    }
    CHECK_OK(db_remove(loc2));
    CHECK_ERR(db_open(&r, loc2, 0), CM_ERR_NOTFOUND);
    /* An empty directory holds no snapshot. */
    snprintf(dir, sizeof(dir), "%s/empty-%s", tmpdir, backend->name);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK_ERR(db_snapshot_open(&s, dir, NULL, NULL), CM_ERR_NOTFOUND);
    db_close(db);
}

/* ---- the vault (issue 12): unique key, compare-and-set, iteration ---- */

struct vault_seen {
    int n;
    char names[4][16];
    int states[4];
    size_t body_len[4];
};

static cm_err vault_cb(void *ctx, const struct db_vault *v)
{
    struct vault_seen *s = ctx;
    if (s->n < 4) {
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", v->name);
        s->states[s->n] = v->state;
        s->body_len[s->n] = v->body_len;
    }
    s->n++;
    return CM_OK;
}

TEST(vault)
{
    char loc[512];
    db_t *db = open_new(loc, sizeof(loc)), *other = NULL;
    static const unsigned char body[] = {0, 1, 2, 0xff, 0};
    struct db_vault a = {"kra.test", "b", 1, 100, body, sizeof(body)};
    struct db_vault b = {"kra.test", "a", 1, 101, NULL, 0};
    struct db_vault c = {"other", "a", 7, 102, body, 1};
    struct vault_seen s;

    CHECK_OK(db_begin(db));
    CHECK_OK(db_vault_insert(db, &a));
    CHECK_OK(db_vault_insert(db, &b));
    CHECK_OK(db_vault_insert(db, &c));
    CHECK_ERR(db_vault_insert(db, &a), CM_ERR_EXISTS);
    CHECK_OK(db_commit(db));
    memset(&s, 0, sizeof(s));
    CHECK_OK(db_vault_iter(db, "kra.test", NULL, vault_cb, &s));
    CHECK_INT(s.n, 2);
    CHECK_STR(s.names[0], "a");
    CHECK_STR(s.names[1], "b");
    CHECK_INT(s.body_len[1], sizeof(body));
    CHECK_ERR(db_vault_iter(db, "kra.test", "zz", vault_cb, &s), CM_ERR_NOTFOUND);
    /* C5: of two handles, the one whose expected state is stale loses. */
    CHECK_OK(db_clone(&other, db));
    CHECK_OK(db_begin(db));
    CHECK_OK(db_vault_update(db, "kra.test", "b", 1, 2, NULL, 0));
    CHECK_OK(db_commit(db));
    CHECK_OK(db_begin(other));
    CHECK_ERR(db_vault_update(other, "kra.test", "b", 1, 3, NULL, 0), CM_ERR_STATE);
    CHECK_ERR(db_vault_update(other, "kra.test", "none", 1, 3, NULL, 0), CM_ERR_NOTFOUND);
    CHECK_OK(db_vault_update(other, "kra.test", "b", 2, 3, body, 2));
    db_rollback(other);
    memset(&s, 0, sizeof(s));
    CHECK_OK(db_vault_iter(other, "kra.test", "b", vault_cb, &s));
    CHECK_INT(s.n, 1);
    CHECK_INT(s.states[0], 2);
    CHECK_INT(s.body_len[0], sizeof(body)); /* the rollback kept the body */
    db_close(other);
    db_close(db);
}

/* ---- C10: integrity ---- */

TEST(integrity)
{
    char loc[512];
    db_t *db = open_new(loc, sizeof(loc));
    int (*corrupt)(const char *) = NULL;
    cm_err rc;

    for (int k = 0; k < 2000; k++)
        CHECK_OK(issue_one(db, k));
    CHECK_OK(db_check(db));
    db_close(db);
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
        if (strcmp(fixtures[i].backend, backend->name) == 0)
            corrupt = fixtures[i].corrupt;
    if (corrupt == NULL) {
        printf("# %s: no corruption fixture; damage detection not tested\n", backend->name);
        return;
    }
    CHECK(corrupt(loc));
    /* Either the open already refuses the damaged database, or the check
     * names the damage; never a silent CM_OK. */
    rc = db_open(&db, loc, 0);
    if (getenv("VERBOSE"))
        printf("# open: %d %s\n", rc, rc ? cm_err_msg() : "");
    if (rc == CM_OK) {
        rc = db_check(db);
        db_close(db);
    }
    if (getenv("VERBOSE"))
        printf("# check: %d %s\n", rc, rc ? cm_err_msg() : "");
    CHECK_ERR(rc, CM_ERR_DB);
    CHECK(strstr(cm_err_msg(), "integrity") != NULL || strstr(cm_err_msg(), "malformed") != NULL);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

/* ---- C11: wake-ups ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cm_err enqueue_one(db_t *db, int commit)
{
    struct db_event ev;
    cm_err rc;
    memset(&ev, 0, sizeof(ev));
    ev.type = 1;
    ev.created = 1700000000;
    if ((rc = db_begin(db)) != CM_OK)
        return rc;
    rc = db_event_enqueue(db, &ev);
    if (rc == CM_OK && commit)
        return db_commit(db);
    db_rollback(db);
    return rc;
}

TEST(wait)
{
    char loc[512];
    db_t *a = open_new(loc, sizeof(loc)), *b = NULL;
    int woken = -1;
    int64_t t0;

    CHECK_OK(db_clone(&b, a));
    /* Nothing committed: the whole timeout, not woken. */
    t0 = mono_ms();
    CHECK_OK(db_wait(a, &woken, 300));
    CHECK_INT(woken, 0);
    CHECK(mono_ms() - t0 >= 250);
    /* Another handle's event, rolled back: still nothing. */
    CHECK_OK(enqueue_one(b, 0));
    CHECK_OK(db_wait(a, &woken, 300));
    CHECK_INT(woken, 0);
    /* Committed: a backend with notifications wakes the waiter at once; one
     * without sleeps the timeout (never longer). */
    CHECK_OK(enqueue_one(b, 1));
    t0 = mono_ms();
    CHECK_OK(db_wait(a, &woken, 1500));
    if (backend->wait != NULL) {
        CHECK_INT(woken, 1);
        CHECK(mono_ms() - t0 < 1000);
        /* Taken: the next wait runs to its timeout again. */
        CHECK_OK(db_wait(a, &woken, 200));
        CHECK_INT(woken, 0);
    } else {
        CHECK_INT(woken, 0);
        CHECK(mono_ms() - t0 >= 1400);
    }
    db_close(b);
    db_close(a);
}

int main(void)
{
    unit_suite = "db_contract";
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; (backend = db_backend_at(i)) != NULL; i++) {
        char probe[512];
        int (*fixture)(char *, size_t, int) = fixture_location();
        printf("# backend %s\n", backend->name);
        if (fixture != NULL && !fixture(probe, sizeof(probe), 0)) {
            /* tests/run.sh starts a private server when PostgreSQL is
             * installed (scripts/pg.sh); without one this backend is not
             * tested, and says so. */
            printf("# %s: skipped, no test server (CERTMINT_TEST_PG unset)\n", backend->name);
            continue;
        }
        RUN(ops_complete);
        RUN(counters_concurrent);
        RUN(counters_rollback);
        RUN(request_ids_in_one_transaction);
        RUN(request_and_event_ids);
        RUN(serial_unique_and_cas);
        RUN(serial_taken_issued_deferred);
        RUN(cas_race);
        RUN(meta);
        RUN(locks);
        RUN(locks_shared);
        RUN(snapshot_consistent);
        RUN(vault);
        RUN(integrity);
        RUN(wait);
    }
    if (getenv("KEEP") == NULL)
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_DONE();
}
