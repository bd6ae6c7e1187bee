/* The PostgreSQL backend of the certificate database (libpq).
 *
 * Location: a libpq URI, "postgresql://USER@HOST:PORT/DBNAME". The password
 * is never part of it: libpq reads it from PGPASSFILE or ~/.pgpass (a URI
 * with a password is refused, so that it never lands in certmint.conf or on
 * a command line).
 *
 * Several certmint processes (nodes) may use one database at once:
 *   - db_begin takes a transaction-level advisory lock (the writer lock)
 *     after BEGIN (READ COMMITTED): one writer at a time per database, as
 *     SQLite's BEGIN IMMEDIATE. Every statement of a writer sees every
 *     commit made before it got the lock, so what it reads stays true until
 *     it commits (C2), counters and event IDs follow commit order (C3, C6).
 *     Readers outside a transaction are never blocked.
 *   - counters are rows of the table counters. A transaction reads each
 *     counter it uses once (under the writer lock), hands out the next
 *     values from memory and stores the counter with its commit (a
 *     rolled-back value was never stored). Event IDs are the counter
 *     "event_id".
 *   - the issuance path's rows (new requests, certificates just signed,
 *     events, audit records) are kept back and sent as multi-row INSERTs
 *     in libpq's pipeline mode at the transaction's next synchronous step
 *     (any other statement, the commit): no round trip per row.
 *   - serials and RequestIDs are unique by constraint (C4); inserts use ON
 *     CONFLICT DO NOTHING so that a duplicate is CM_ERR_EXISTS without
 *     aborting the caller's transaction (as with SQLite, the caller may go
 *     on, e.g. draw another serial).
 *   - state changes are compare-and-set in one UPDATE (C5).
 *   - named locks are session-level advisory locks (C8): released by
 *     unlock, by closing the connection, or when the server sees the
 *     holder's connection close (a killed process).
 *   - a snapshot is an SQLite database file (the sqlite backend's schema)
 *     written from one REPEATABLE READ READ ONLY transaction (C9): it opens
 *     with the sqlite backend (db_snapshot_open), `certmint backup` hashes
 *     it like any snapshot, and db_restore loads one into a new PostgreSQL
 *     database (from either backend's snapshot).
 *   - the schema is created and upgraded by the versioned migrations below
 *     (meta "schema_version"), under the writer lock so that nodes starting
 *     together do not race.
 *
 * Table and column names are SQLite's (AD CS's); unquoted, so PostgreSQL
 * folds them to lower case. Serials are COLLATE "C": byte order, as in
 * SQLite, whatever the database's locale. */
#ifdef CM_HAVE_PQ

#include "db/db.h"
#include "db/sqlite.h"

#include "db/certview.h"
#include "util/buf.h"
#include "util/dl_pq.h"
#include "util/fsutil.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The schema version this build creates and understands. */
#define PG_SCHEMA_VERSION 2

/* Advisory lock keys (two int4 keys): the writer lock, and the namespace
 * of named locks (the second key is hashtext(name)). "CMNT", "CMNL". */
#define PG_KEY_WRITER 1129139796
#define PG_KEY_NAMED 1129139788

#define PG_STR_(x) #x
#define CM_STR(x) PG_STR_(x)

#define PG_LOCKS_MAX 4
/* How long a busy lock is retried by db_lock(wait = 0), see pg_lock. */
#define PG_LOCK_GRACE_MS 300
#define PQP_MAX 24
/* Statements of the issuance path prepared once per session (pg_run_hot). */
#define PG_HOT_MAX 32
/* Rows fetched at a time when copying a table (snapshot). */
#define PG_FETCH 2000

/* Statements sent in the pipeline and not yet read back (pg_pipe_send):
 * at most this many, then they are drained. */
#define PG_PIPE_MAX 2048
/* Counters one transaction may hold in memory (pg_counter_take). */
#define PG_COUNTERS_MAX 8

/* What a pipelined statement's result must show (pg_pipe_drain). */
enum pend_kind {
    PEND_ANY,   /* success */
    PEND_ONE,   /* one row changed, else CM_ERR_EXISTS with the message */
    PEND_COUNT, /* success; the rows changed go to pipe_changes */
    PEND_ROWS,  /* all of its rows inserted, else CM_ERR_EXISTS with the message */
};

struct pg_pending {
    const char *what; /* for the error message: "inserting a request" */
    enum pend_kind kind;
    int64_t rows;  /* PEND_ROWS */
    char msg[160]; /* PEND_ONE: the error when no row changed */
};

/* A counter of the open transaction: the value last handed out (stored at
 * the commit when dirty). */
struct pg_counter {
    char name[65];
    int64_t value;
    int dirty;
};

/* Rows of the issuance path kept back and sent as multi-row INSERTs
 * (rows_add, rows_flush): each value copied, in the order of the table's
 * columns. */
enum { ROWS_REQUESTS, ROWS_CERTS, ROWS_EVENTS, ROWS_AUDIT, ROWS_N };
struct pg_val {
    size_t off; /* in data */
    int len;    /* -1: NULL */
    int fmt;    /* 1: binary (bytea) */
};
struct pg_rows {
    cm_buf data;
    struct pg_val *v;
    size_t nv, cap;
};

struct pg_db {
    struct db base; /* first: db.c sees a db_t */
    PGconn *c;
    char *url; /* "postgresql://user@host:port/db": no password, safe to print */
    char sqlstate[6];
    char locks[PG_LOCKS_MAX][65];  /* named locks held ("" = free slot) */
    int lock_shared[PG_LOCKS_MAX]; /* ... taken with DB_LOCK_SHARED */
    int listening;                 /* LISTEN PG_CHANNEL done in this session */
    const char *hot[PG_HOT_MAX];   /* statements prepared in this session (pg_run_hot) */
    int nhot;
    /* Statements sent in pipeline mode whose results are read at the next
     * synchronous step (pg_pipe_send, pg_pipe_drain). */
    struct pg_pending pend[PG_PIPE_MAX];
    int npend;
    int64_t pipe_changes; /* rows changed by the last PEND_COUNT statement */
    /* Counters taken in the open transaction (pg_counter_take): read once,
     * written at the commit. */
    struct pg_counter cnt[PG_COUNTERS_MAX];
    int ncnt;
    int notify; /* an event was queued: notify at the commit */
    struct pg_rows rows[ROWS_N];
    int rows_prepared[ROWS_N]; /* the full-chunk INSERT prepared in this session */
};

/* The channel an event's commit notifies (C11: db_wait). */
#define PG_CHANNEL "certmint_events"

#define PDB(db) ((struct pg_db *)(void *)(db))

/* ---- the schema: migration i brings version i to i + 1 ---- */

static const char schema_v1[] =
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL CHECK (value >= 0));"
    "CREATE TABLE requests ("
    "  RequestID bigint PRIMARY KEY,"
    "  RequesterName text,"
    "  SubmittedWhen bigint,"
    "  ResolvedWhen bigint,"
    "  Disposition integer NOT NULL CHECK (Disposition IN (9, 12, 20, 30, 31)),"
    "  DispositionMessage text,"
    "  CertificateTemplate text,"
    "  RequestDistinguishedName text,"
    "  RecoveredFrom text,"
    "  RawRequest bytea);"
    "CREATE INDEX requests_disposition ON requests(Disposition);"
    "CREATE TABLE certificates ("
    "  SerialNumber text COLLATE \"C\" PRIMARY KEY,"
    "  RequestID bigint NOT NULL UNIQUE REFERENCES requests(RequestID),"
    "  Origin integer NOT NULL DEFAULT 0 CHECK (Origin IN (0, 1, 2)),"
    "  NotBefore bigint,"
    "  NotAfter bigint,"
    "  DistinguishedName text,"
    "  CommonName text,"
    "  EMail text,"
    "  SubjectAltNames text,"
    "  CertificateHash text,"
    "  SubjectKeyIdentifier text,"
    "  CertificateTemplate text,"
    "  RawCertificate bytea,"
    "  RevokedReason integer CHECK (RevokedReason IS NULL OR"
    "                               RevokedReason IN (0, 1, 2, 3, 4, 5, 6, 9, 10)),"
    "  RevokedWhen bigint,"
    "  RevokedEffectiveWhen bigint,"
    "  InvalidityDate bigint,"
    "  RevSeq bigint,"
    "  HoldSeq bigint,"
    "  ReleasedWhen bigint,"
    "  Withheld integer NOT NULL DEFAULT 0 CHECK (Withheld IN (0, 1)),"
    "  RecoveredFrom text);"
    "CREATE INDEX certificates_notafter ON certificates(NotAfter);"
    "CREATE INDEX certificates_cn ON certificates(CommonName);"
    "CREATE INDEX certificates_revseq ON certificates(RevSeq) WHERE RevSeq IS NOT NULL;"
    "CREATE INDEX certificates_revoked ON certificates(SerialNumber) INCLUDE (RevokedReason,"
    "  RevokedEffectiveWhen, InvalidityDate) WHERE RevokedReason IS NOT NULL;"
    "CREATE TABLE crls ("
    "  Number bigint PRIMARY KEY,"
    "  IsDelta integer NOT NULL CHECK (IsDelta IN (0, 1)),"
    "  BaseNumber bigint,"
    "  ThisUpdate bigint NOT NULL,"
    "  NextUpdate bigint NOT NULL,"
    "  RevSeq bigint NOT NULL,"
    "  Entries bigint NOT NULL,"
    "  Hash text);"
    "CREATE INDEX crls_kind ON crls(IsDelta, Number);"
    "CREATE TABLE audit ("
    "  ID bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  \"when\" bigint NOT NULL,"
    "  Who text NOT NULL,"
    "  Action text NOT NULL,"
    "  RequestID bigint,"
    "  SerialNumber text COLLATE \"C\","
    "  Details text);"
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    "  $$BEGIN RAISE EXCEPTION 'the audit log is append-only'; END$$;"
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit"
    "  FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit"
    "  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();"
    "CREATE TABLE events ("
    "  ID bigint PRIMARY KEY,"
    "  Type integer NOT NULL,"
    "  RequestID bigint,"
    "  SerialNumber text COLLATE \"C\","
    "  Created bigint NOT NULL,"
    "  Payload text);"
    "CREATE TABLE event_poison ("
    "  Module text NOT NULL,"
    "  EventID bigint NOT NULL,"
    "  Reason text NOT NULL,"
    "  Since bigint NOT NULL,"
    "  Attempts bigint NOT NULL DEFAULT 1,"
    "  PRIMARY KEY (Module, EventID));" DB_CERTVIEW_SQL;

/* 2: the vault of key archival and enrollment tokens (issue 12, db.h). */
static const char schema_v2[] = "CREATE TABLE vault ("
                                "  Kind text COLLATE \"C\" NOT NULL,"
                                "  Name text COLLATE \"C\" NOT NULL,"
                                "  State integer NOT NULL,"
                                "  Created bigint NOT NULL,"
                                "  Body bytea,"
                                "  PRIMARY KEY (Kind, Name));";

static const char *const migrations[PG_SCHEMA_VERSION] = {schema_v1, schema_v2};

/* The constraints db_check expects (C10): a database whose constraints were
 * dropped or left unvalidated no longer enforces C4. */
static const char *const expected_constraints[] = {
    "meta_pkey",
    "counters_pkey",
    "counters_value_check",
    "requests_pkey",
    "certificates_pkey",
    "certificates_requestid_key",
    "certificates_requestid_fkey",
    "crls_pkey",
    "audit_pkey",
    "events_pkey",
    "event_poison_pkey",
    "vault_pkey",
};

#define CERT_COLS                                                                                  \
    "SerialNumber, RequestID, Origin, NotBefore, NotAfter, DistinguishedName, CommonName, EMail, " \
    "SubjectAltNames, CertificateHash, SubjectKeyIdentifier, CertificateTemplate, "                \
    "RawCertificate, "                                                                             \
    "RevokedReason, RevokedWhen, RevokedEffectiveWhen, InvalidityDate, RevSeq, HoldSeq, "          \
    "ReleasedWhen, Withheld, RecoveredFrom"
#define REQ_COLS                                                                                   \
    "RequestID, RequesterName, SubmittedWhen, ResolvedWhen, Disposition, DispositionMessage, "     \
    "CertificateTemplate, RequestDistinguishedName, RecoveredFrom, RawRequest"
#define CRL_COLS "Number, IsDelta, BaseNumber, ThisUpdate, NextUpdate, RevSeq, Entries, Hash"

/* The tables a snapshot copies, in an order that satisfies the foreign key
 * (requests before certificates). Both backends use these names. optional:
 * a snapshot made before the table existed lacks it (restore skips it). */
static const struct {
    const char *name, *cols, *order;
    int ncols, optional;
} copy_tables[] = {
    {"requests", REQ_COLS, "RequestID", 10, 0},
    {"certificates", CERT_COLS, "SerialNumber", 22, 0},
    {"crls", CRL_COLS, "Number", 8, 0},
    {"audit", "ID, \"when\", Who, Action, RequestID, SerialNumber, Details", "ID", 7, 0},
    {"events", "ID, Type, RequestID, SerialNumber, Created, Payload", "ID", 6, 0},
    {"event_poison", "Module, EventID, Reason, Since, Attempts", "Module, EventID", 5, 0},
    /* Issue 12: archived keys and enrollment tokens (schema v2). */
    {"vault", "Kind, Name, State, Created, Body", "Kind, Name", 5, 1},
};
#define NCOPY (sizeof(copy_tables) / sizeof(copy_tables[0]))

/* ---- parameters and results ---- */

struct pqp {
    int n;
    const char *v[PQP_MAX];
    int len[PQP_MAX];
    int fmt[PQP_MAX];
    char num[PQP_MAX][24];
};

static void p_text(struct pqp *p, const char *s)
{
    assert(p->n < PQP_MAX);
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_int(struct pqp *p, int64_t v)
{
    assert(p->n < PQP_MAX);
    snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
    p_text(p, p->num[p->n]);
}

/* 0 means "none" for every time and sequence in the structs. */
static void p_opt(struct pqp *p, int64_t v)
{
    if (v)
        p_int(p, v);
    else
        p_text(p, NULL);
}

static void p_blob(struct pqp *p, const unsigned char *b, size_t n)
{
    assert(p->n < PQP_MAX && n <= INT_MAX);
    p->v[p->n] = (const char *)b;
    p->len[p->n] = b ? (int)n : 0;
    p->fmt[p->n] = 1;
    p->n++;
}

/* The error of the last statement: "URL: what: PostgreSQL's message" (its
 * first line). A connection that is gone is CM_ERR_IO. */
static cm_err pg_fail(struct pg_db *s, const PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (msg == NULL || *msg == '\0')
        msg = PQerrorMessage(s->c);
    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state ? state : "");
    if (PQstatus(s->c) != CONNECTION_OK)
        return cm_err_set(CM_ERR_IO, "%s: %s: the connection to the database is lost: %.*s", s->url,
                          what, (int)strcspn(msg, "\n"), msg);
    return cm_err_set(CM_ERR_DB, "%s: %s: %.*s", s->url, what, (int)strcspn(msg, "\n"), msg);
}

/* Statements without parameters, several separated by ';'. */
static cm_err pg_exec_raw_what(struct pg_db *s, const char *sql, const char *what)
{
    PGresult *r = PQexec(s->c, sql);
    ExecStatusType st = PQresultStatus(r);
    cm_err rc = CM_OK;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(s, r, what);
    PQclear(r);
    return rc;
}

static cm_err pg_exec_raw(struct pg_db *s, const char *sql)
{
    return pg_exec_raw_what(s, sql, "setting up the session");
}

/* A connection the server dropped (restart, failover, network) is made
 * again here, before a statement that starts afresh: outside a transaction
 * and while the handle holds no named lock. A lock lives in the lost
 * session, so a handle that held one must not go on as if it still did
 * (another node may hold it now): the caller's statement fails, it gives
 * the lock up, and the next attempt reconnects. Inside a transaction the
 * transaction is lost with the session: the caller rolls back. */
static cm_err pg_pipe_drain(struct pg_db *s);
static int rows_kept(const struct pg_db *s);

static cm_err pg_revive(struct pg_db *s)
{
    /* Statements still in the pipeline come first: their results (and
     * errors) belong before this one's. */
    if ((PQpipelineStatus(s->c) != PQ_PIPELINE_OFF || rows_kept(s)) &&
        PQstatus(s->c) == CONNECTION_OK) {
        cm_err rc = pg_pipe_drain(s);
        if (rc != CM_OK)
            return rc;
    }
    s->npend = 0; /* a lost session's pipeline is gone with it (PQreset) */
    if (PQstatus(s->c) == CONNECTION_OK)
        return CM_OK;
    if (s->base.in_tx)
        return cm_err_set(CM_ERR_IO, "%s: the connection to the database is lost", s->url);
    for (int i = 0; i < PG_LOCKS_MAX; i++)
        if (s->locks[i][0] != '\0')
            return cm_err_set(CM_ERR_IO,
                              "%s: the connection to the database is lost (and with it the "
                              "lock '%s')",
                              s->url, s->locks[i]);
    PQreset(s->c);
    s->listening = 0; /* the new session listens to nothing yet */
    s->nhot = 0;      /* ... and has no prepared statements */
    memset(s->rows_prepared, 0, sizeof(s->rows_prepared));
    if (PQstatus(s->c) != CONNECTION_OK)
        return cm_err_set(CM_ERR_NET, "%s: the connection to the database is lost: %.*s", s->url,
                          (int)strcspn(PQerrorMessage(s->c), "\n"), PQerrorMessage(s->c));
    return pg_exec_raw(s, "SET client_min_messages = warning");
}

/* Executes sql prepared: the first use in a session prepares it (named
 * by its slot), later ones only bind and execute, so the server parses and
 * plans each statement of the issuance path once per session rather than
 * once per certificate. sql must be a string literal: slots are found by
 * its address. Past PG_HOT_MAX statements it runs unprepared. */
static PGresult *exec_hot(struct pg_db *s, const char *sql, const struct pqp *p)
{
    char name[16];
    int i;

    for (i = 0; i < s->nhot && s->hot[i] != sql; i++)
        ;
    if (i == PG_HOT_MAX)
        return PQexecParams(s->c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
                            p ? p->fmt : NULL, 0);
    snprintf(name, sizeof(name), "cm_hot%d", i);
    if (i == s->nhot) {
        PGresult *r = PQprepare(s->c, name, sql, p ? p->n : 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            return r; /* the caller reports it */
        PQclear(r);
        s->hot[s->nhot++] = sql;
    }
    return PQexecPrepared(s->c, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL,
                          p ? p->fmt : NULL, 0);
}

/* Runs one statement with parameters (p may be NULL), prepared when hot.
 * *out (when out is not NULL) gets the result, which the caller clears. */
static cm_err pg_run_how(struct pg_db *s, PGresult **out, const char *sql, const struct pqp *p,
                         const char *what, int hot)
{
    PGresult *r;
    ExecStatusType st;
    cm_err rc;

    if (out != NULL)
        *out = NULL;
    rc = pg_revive(s);
    if (rc != CM_OK)
        return rc;
    if (hot)
        r = exec_hot(s, sql, p);
    else
        r = PQexecParams(s->c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
                         p ? p->fmt : NULL, 0);
    st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        s->sqlstate[0] = '\0';
        if (out != NULL)
            *out = r;
        else
            PQclear(r);
        return CM_OK;
    }
    rc = pg_fail(s, r, what);
    PQclear(r);
    return rc;
}

static cm_err pg_run(struct pg_db *s, PGresult **out, const char *sql, const struct pqp *p,
                     const char *what)
{
    return pg_run_how(s, out, sql, p, what, 0);
}

/* pg_run for a statement of the issuance path (sql a string literal). */
static cm_err pg_run_hot(struct pg_db *s, PGresult **out, const char *sql, const struct pqp *p,
                         const char *what)
{
    return pg_run_how(s, out, sql, p, what, 1);
}

/* Statements without parameters, several separated by ';' (after
 * pg_revive, as pg_run). */
static cm_err pg_exec(struct pg_db *s, const char *sql, const char *what)
{
    cm_err rc = pg_revive(s);
    if (rc != CM_OK)
        return rc;
    return pg_exec_raw_what(s, sql, what);
}

/* Rows changed by the last UPDATE / INSERT / DELETE of r. */
static int64_t pg_changes(PGresult *r)
{
    const char *t = PQcmdTuples(r);
    return t && *t ? strtoll(t, NULL, 10) : 0;
}

/* ---- the pipeline: write statements without a round trip each ----
 *
 * A certificate's rows are four statements (request, certificate, event,
 * audit); sent one by one, each waits for the server's answer, and on a
 * shared machine that wait (two context switches, the scheduler's delay)
 * costs more than the statement. Statements whose result the caller does
 * not need at once go out in libpq's pipeline mode (PostgreSQL 14+
 * protocol use of the extended query protocol without a Sync each) and are
 * read back together at the next synchronous step: any other statement,
 * the commit, or PG_PIPE_MAX of them. Inside the transaction they run in
 * order, so a later read sees them; a failed one aborts the transaction
 * (the server skips the rest until the Sync) and its error is reported by
 * the step that drains it, at the latest the commit: nothing of the
 * transaction is stored. */

/* Checks one pipelined result against what was expected of it. */
static cm_err pend_check(struct pg_db *s, PGresult *r, const struct pg_pending *pd)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_PIPELINE_ABORTED)
        return cm_err_set(CM_ERR_DB, "%s: %s: not run (an earlier statement failed)", s->url,
                          pd->what);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return pg_fail(s, r, pd->what);
    if (pd->kind == PEND_COUNT)
        s->pipe_changes = pg_changes(r);
    else if ((pd->kind == PEND_ONE && pg_changes(r) != 1) ||
             (pd->kind == PEND_ROWS && pg_changes(r) != pd->rows))
        return cm_err_set(CM_ERR_EXISTS, "%s", pd->msg);
    return CM_OK;
}

/* Reads back every pipelined result (the first error is returned, the
 * rest consumed) and leaves pipeline mode. report = 0: the results are
 * only consumed (a rollback: the caller's error stays the one reported). */
static cm_err rows_flush(struct pg_db *s);
static void rows_discard(struct pg_db *s);

static cm_err pipe_collect(struct pg_db *s, int report)
{
    cm_err rc = CM_OK, one;
    PGresult *r = NULL;
    int i, lost = 0;

    if (PQpipelineStatus(s->c) == PQ_PIPELINE_OFF)
        return CM_OK;
    if (PQpipelineSync(s->c) != 1) {
        if (report)
            rc = pg_fail(s, NULL, "sending statements");
        lost = 1;
    }
    for (i = 0; i < s->npend && !lost; i++) {
        r = PQgetResult(s->c);
        one = CM_OK;
        if (r == NULL) {
            lost = 1;
            if (report)
                one = pg_fail(s, NULL, s->pend[i].what);
        } else if (report)
            one = pend_check(s, r, &s->pend[i]);
        if (rc == CM_OK)
            rc = one;
        PQclear(r);
        /* NULL ends each statement's results. */
        while (!lost && (r = PQgetResult(s->c)) != NULL)
            PQclear(r);
    }
    /* The Sync's own result. */
    while (!lost && (r = PQgetResult(s->c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    s->npend = 0;
    if (PQexitPipelineMode(s->c) != 1 && rc == CM_OK && report)
        rc = pg_fail(s, NULL, "leaving pipeline mode");
    return rc;
}

/* pipe_collect after the rows kept back went out (a rollback, report = 0,
 * drops them). */
static cm_err pg_pipe_drain_how(struct pg_db *s, int report)
{
    cm_err rc = CM_OK, more;

    if (report)
        rc = rows_flush(s);
    else
        rows_discard(s);
    /* After a failed flush only its error is reported. */
    more = pipe_collect(s, report && rc == CM_OK);
    return rc != CM_OK ? rc : more;
}

static cm_err pg_pipe_drain(struct pg_db *s)
{
    return pg_pipe_drain_how(s, 1);
}

/* Sends a statement of the issuance path (sql a string literal, prepared
 * once per session as exec_hot does) without waiting for its result;
 * pd says what the result must show when it is read. */
static cm_err pg_pipe_send(struct pg_db *s, const char *sql, const struct pqp *p, const char *what,
                           enum pend_kind kind, const char *msg)
{
    char name[16];
    int i;
    cm_err rc = CM_OK;

    /* Rows kept back go before this statement. */
    CM_TRY(rows_flush(s));
    for (i = 0; i < s->nhot && s->hot[i] != sql; i++)
        ;
    if (i == s->nhot || s->npend == PG_PIPE_MAX || PQstatus(s->c) != CONNECTION_OK) {
        /* Not prepared yet (prepared synchronously, once per session), a
         * full pipeline, or a lost connection: drain first. */
        CM_TRY(pg_revive(s));
        if (i == s->nhot) {
            PGresult *r = NULL;
            if (i == PG_HOT_MAX)
                CM_FAIL(CM_ERR_DB, "%s: %s: too many prepared statements", s->url, what);
            snprintf(name, sizeof(name), "cm_hot%d", i);
            r = PQprepare(s->c, name, sql, p ? p->n : 0, NULL);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                rc = pg_fail(s, r, what);
                PQclear(r);
                goto out;
            }
            PQclear(r);
            s->hot[s->nhot++] = sql;
        }
    }
    if (PQpipelineStatus(s->c) == PQ_PIPELINE_OFF && PQenterPipelineMode(s->c) != 1)
        CM_FAIL(CM_ERR_DB, "%s: %s: cannot enter pipeline mode", s->url, what);
    snprintf(name, sizeof(name), "cm_hot%d", i);
    if (PQsendQueryPrepared(s->c, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL,
                            p ? p->fmt : NULL, 0) != 1) {
        rc = pg_fail(s, NULL, what);
        goto out;
    }
    s->pend[s->npend].what = what;
    s->pend[s->npend].kind = kind;
    snprintf(s->pend[s->npend].msg, sizeof(s->pend[s->npend].msg), "%s", msg ? msg : "");
    s->npend++;
out:
    return rc;
}

/* ---- rows kept back: one INSERT for many rows ----
 *
 * Four statements per certificate cost the server more than their rows
 * (each is bound, planned and run on its own). The rows of a new request,
 * a certificate just signed, an event and an audit record are kept in the
 * handle and sent as multi-row INSERTs (PG_ROWS_CHUNK rows each) before
 * any other statement of the transaction and at its commit, in the order
 * requests, certificates, events, audit (a certificate's request is in
 * first). A refused row fails the transaction there: RequestIDs come from
 * the transaction's counter and serials are random, so a refusal means a
 * damaged table or a 64-bit collision, never a normal race (C4: the
 * constraints decide). */
#define PG_ROWS_CHUNK 128
/* At most this many bytes of rows kept back per table (a group of
 * submit.batch_group certificates is a few MiB). */
#define PG_ROWS_BYTES (1024u * 1024u * 1024u)

static const struct {
    const char *insert; /* up to VALUES */
    const char *tail;
    int ncols;
    int all; /* every row must go in (ON CONFLICT DO NOTHING counted) */
    const char *what;
} rows_table[ROWS_N] = {
    {"INSERT INTO requests(" REQ_COLS ") VALUES ", " ON CONFLICT DO NOTHING", 10, 1,
     "inserting requests"},
    {"INSERT INTO certificates(" CERT_COLS ") VALUES ", " ON CONFLICT DO NOTHING", 22, 1,
     "inserting certificates"},
    {"INSERT INTO events(ID, Type, RequestID, SerialNumber, Created, Payload) VALUES ", "", 6, 0,
     "queueing events"},
    {"INSERT INTO audit(\"when\", Who, Action, RequestID, SerialNumber, Details) VALUES ", "", 6, 0,
     "appending to the audit log"},
};

/* Keeps one row (p's values, copied) for table t. */
static cm_err rows_add(struct pg_db *s, int t, const struct pqp *p)
{
    struct pg_rows *w = &s->rows[t];
    cm_err rc = CM_OK;

    assert(p->n == rows_table[t].ncols);
    if (w->nv + (size_t)p->n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        struct pg_val *v = realloc(w->v, cap * sizeof(*v));
        CM_NOMEM_IF(v == NULL);
        w->v = v;
        w->cap = cap;
    }
    for (int i = 0; i < p->n; i++) {
        struct pg_val *v = &w->v[w->nv + (size_t)i];
        size_t n = p->v[i] == NULL ? 0 : p->fmt[i] ? (size_t)p->len[i] : strlen(p->v[i]);
        v->off = w->data.len;
        v->len = p->v[i] == NULL ? -1 : (int)n;
        v->fmt = p->fmt[i];
        if (n > 0)
            CM_TRY(buf_append(&w->data, p->v[i], n));
        /* libpq reads a text value up to its NUL. */
        if (p->v[i] != NULL && !p->fmt[i])
            CM_TRY(buf_append(&w->data, "", 1));
    }
    w->nv += (size_t)p->n;
out:
    return rc;
}

static int rows_kept(const struct pg_db *s)
{
    for (int t = 0; t < ROWS_N; t++)
        if (s->rows[t].nv > 0)
            return 1;
    return 0;
}

static void rows_discard(struct pg_db *s)
{
    for (int t = 0; t < ROWS_N; t++) {
        s->rows[t].nv = 0;
        s->rows[t].data.len = 0;
    }
}

static void rows_free(struct pg_db *s)
{
    for (int t = 0; t < ROWS_N; t++) {
        buf_free(&s->rows[t].data);
        free(s->rows[t].v);
        s->rows[t].v = NULL;
        s->rows[t].nv = s->rows[t].cap = 0;
    }
}

/* Sends rows [from, to) of table t as one INSERT in the pipeline. */
static cm_err rows_send(struct pg_db *s, int t, size_t from, size_t to)
{
    struct pg_rows *w = &s->rows[t];
    size_t nc = (size_t)rows_table[t].ncols, nv = (to - from) * nc, k;
    const char **vals = calloc(nv, sizeof(*vals));
    int *lens = calloc(nv, sizeof(*lens)), *fmts = calloc(nv, sizeof(*fmts));
    cm_buf sql = CM_BUF_INIT(1 << 20);
    struct pg_pending *pd;
    char name[16];
    int full;
    cm_err rc = CM_OK;

    CM_NOMEM_IF(vals == NULL || lens == NULL || fmts == NULL);
    CM_TRY(buf_append_str(&sql, rows_table[t].insert));
    for (k = 0; k < nv; k++) {
        const struct pg_val *v = &w->v[from * nc + k];
        /* An empty value still needs a non-NULL pointer. */
        vals[k] = v->len < 0                   ? NULL
                  : v->len == 0 && v->fmt != 0 ? ""
                                               : (const char *)w->data.data + v->off;
        lens[k] = v->len < 0 ? 0 : v->len;
        fmts[k] = v->fmt;
        CM_TRY(buf_printf(&sql, "%s$%zu%s", k % nc == 0 ? (k ? "), (" : "(") : ", ", k + 1,
                          k + 1 == nv ? ")" : ""));
    }
    CM_TRY(buf_append_str(&sql, rows_table[t].tail));
    snprintf(name, sizeof(name), "cm_rows%d", t);
    /* A full chunk is prepared once per session (planned once, not per
     * chunk); the last, shorter one of a flush goes unprepared. */
    full = to - from == PG_ROWS_CHUNK;
    if (full && !s->rows_prepared[t]) {
        PGresult *r = NULL;
        CM_TRY(pipe_collect(s, 1));
        r = PQprepare(s->c, name, buf_str(&sql), (int)nv, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = pg_fail(s, r, rows_table[t].what);
            PQclear(r);
            goto out;
        }
        PQclear(r);
        s->rows_prepared[t] = 1;
    }
    if (PQpipelineStatus(s->c) == PQ_PIPELINE_OFF && PQenterPipelineMode(s->c) != 1)
        CM_FAIL(CM_ERR_DB, "%s: %s: cannot enter pipeline mode", s->url, rows_table[t].what);
    if ((full ? PQsendQueryPrepared(s->c, name, (int)nv, vals, lens, fmts, 0)
              : PQsendQueryParams(s->c, buf_str(&sql), (int)nv, NULL, vals, lens, fmts, 0)) != 1) {
        rc = pg_fail(s, NULL, rows_table[t].what);
        goto out;
    }
    pd = &s->pend[s->npend++];
    pd->what = rows_table[t].what;
    pd->kind = rows_table[t].all ? PEND_ROWS : PEND_ANY;
    pd->rows = (int64_t)(to - from);
    snprintf(pd->msg, sizeof(pd->msg), "%s: %zu rows: refused (a RequestID or serial number taken)",
             rows_table[t].what, to - from);
out:
    free(vals);
    free(lens);
    free(fmts);
    buf_free(&sql);
    return rc;
}

/* Sends every row kept back, in the order of rows_table. */
static cm_err rows_flush(struct pg_db *s)
{
    cm_err rc = CM_OK;

    for (int t = 0; t < ROWS_N; t++) {
        struct pg_rows *w = &s->rows[t];
        size_t n = w->nv / (size_t)rows_table[t].ncols;
        for (size_t i = 0; i < n; i += PG_ROWS_CHUNK) {
            if (s->npend >= PG_PIPE_MAX - 1)
                CM_TRY(pipe_collect(s, 1));
            CM_TRY(rows_send(s, t, i, i + PG_ROWS_CHUNK < n ? i + PG_ROWS_CHUNK : n));
        }
    }
out:
    rows_discard(s);
    return rc;
}

static int64_t g_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0; /* NULL reads as 0, as with SQLite */
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *g_dup(const PGresult *r, int row, int col, int *nomem)
{
    char *d;
    if (PQgetisnull(r, row, col))
        return NULL;
    d = strdup(PQgetvalue(r, row, col));
    if (d == NULL)
        *nomem = 1;
    return d;
}

/* A bytea column (text format: "\x" hex) as malloc'ed bytes. */
static unsigned char *g_blob(const PGresult *r, int row, int col, size_t *len, int *nomem)
{
    unsigned char *u, *d;
    size_t n = 0;

    *len = 0;
    if (PQgetisnull(r, row, col))
        return NULL;
    u = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (u == NULL) {
        *nomem = 1;
        return NULL;
    }
    d = n ? malloc(n) : NULL;
    if (n && d == NULL)
        *nomem = 1;
    else if (n)
        memcpy(d, u, n);
    PQfreemem(u);
    *len = d ? n : 0;
    return d;
}

/* A text column, NULL when SQL NULL (PQgetvalue would give ""). */
static char *g_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* The iterators' loop: runs sql and hands each row to row(walk, r, i),
 * stopping at the first non-OK return (passed back). *nrows (when not
 * NULL) gets the number of rows. Strings of r are valid during the call. */
typedef cm_err (*pg_row_fn)(void *walk, const PGresult *r, int i);

static cm_err pg_each(struct pg_db *s, int *nrows, const char *sql, const struct pqp *p,
                      const char *what, pg_row_fn row, void *walk)
{
    PGresult *r = NULL;
    cm_err rc;

    CM_TRY(pg_run(s, &r, sql, p, what));
    if (nrows != NULL)
        *nrows = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++)
        CM_TRY(row(walk, r, i));
out:
    PQclear(r);
    return rc;
}

/* What an iterator passes to its row function: the caller's callback. */
struct pg_walk {
    union {
        db_revoked_cb revoked;
        db_audit_cb audit;
        db_event_cb event;
        db_poison_cb poison;
        db_vault_cb vault;
    } cb;
    void *ctx;
};

/* ---- meta and counters ---- */

static cm_err pg_meta_get(db_t *db, char **out, const char *key)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    PGresult *r = NULL;
    int nomem = 0;
    cm_err rc;

    *out = NULL;
    p_text(&p, key);
    CM_TRY(pg_run_hot(s, &r, "SELECT value FROM meta WHERE key = $1", &p, "reading meta"));
    if (PQntuples(r) > 0) {
        *out = g_dup(r, 0, 0, &nomem);
        CM_NOMEM_IF(nomem);
    }
out:
    PQclear(r);
    return rc;
}

static cm_err pg_meta_set(db_t *db, const char *key, const char *value)
{
    struct pqp p = {0};
    p_text(&p, key);
    p_text(&p, value);
    return pg_run_hot(PDB(db), NULL,
                      "INSERT INTO meta(key, value) VALUES ($1, $2)"
                      " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                      &p, "writing meta");
}

/* ---- counters of the open transaction ----
 *
 * Every writer holds the writer lock (pg_begin) from its BEGIN to its
 * commit, so no other transaction reads or changes a counter meanwhile:
 * a transaction reads each counter it uses once, hands out the following
 * values from memory and stores the counter with its commit (db.h C3 allows
 * it; SQLite does the same for request_id). Values still never repeat or go
 * backwards: the next writer reads them only after this commit, and a
 * rolled-back transaction stored none. Event IDs so follow commit order
 * (C6) because the writer lock, not a counter row lock, orders the
 * transactions. (Taking them with an UPDATE each would also leave one row
 * version per value, a chain that every later UPDATE of the row in the
 * same transaction walks.) */
#define PG_COUNTER_LOAD "SELECT COALESCE((SELECT value FROM counters WHERE name = $1), 0)"
/* request_id continues past the highest RequestID in the table, also of a
 * row a restore brought in without raising the counter (as SQLite's). */
#define PG_COUNTER_LOAD_REQ                                                                        \
    "SELECT GREATEST(COALESCE((SELECT value FROM counters WHERE name = $1), 0),"                   \
    " COALESCE((SELECT max(RequestID) FROM requests), 0))"
#define PG_COUNTER_STORE                                                                           \
    "INSERT INTO counters(name, value) VALUES ($1, $2) ON CONFLICT (name)"                         \
    " DO UPDATE SET value = GREATEST(counters.value, EXCLUDED.value)"

/* The transaction's slot of counter key, read from the table on first use;
 * *out NULL when all PG_COUNTERS_MAX slots are taken (the caller then uses
 * the table directly). */
static cm_err counter_slot(struct pg_db *s, struct pg_counter **out, const char *key)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    struct pg_counter *c;
    cm_err rc = CM_OK;

    *out = NULL;
    assert(s->base.in_tx);
    for (int i = 0; i < s->ncnt; i++)
        if (strcmp(s->cnt[i].name, key) == 0) {
            *out = &s->cnt[i];
            return CM_OK;
        }
    if (s->ncnt == PG_COUNTERS_MAX)
        return CM_OK;
    p_text(&p, key);
    if (strcmp(key, DB_COUNTER_REQUEST_ID) == 0)
        CM_TRY(pg_run_hot(s, &r, PG_COUNTER_LOAD_REQ, &p, "reading a counter"));
    else
        CM_TRY(pg_run_hot(s, &r, PG_COUNTER_LOAD, &p, "reading a counter"));
    if (PQntuples(r) != 1)
        CM_FAIL(CM_ERR_DB, "%s: counter %s: no value returned", s->url, key);
    c = &s->cnt[s->ncnt++];
    snprintf(c->name, sizeof(c->name), "%s", key);
    c->value = g_int(r, 0, 0);
    c->dirty = 0;
    *out = c;
out:
    PQclear(r);
    return rc;
}

/* Queues the store of the transaction's counters and the wake-up of the
 * nodes waiting for events (pipelined: sent with the commit). */
static cm_err counters_store(struct pg_db *s)
{
    cm_err rc = CM_OK;

    for (int i = 0; i < s->ncnt; i++) {
        struct pqp p = {0};
        if (!s->cnt[i].dirty)
            continue;
        p_text(&p, s->cnt[i].name);
        p_int(&p, s->cnt[i].value);
        CM_TRY(pg_pipe_send(s, PG_COUNTER_STORE, &p, "storing a counter", PEND_ANY, NULL));
    }
    /* The notification is transactional: listeners hear it at the commit,
     * never for an event rolled back (one per channel and transaction). */
    if (s->notify)
        CM_TRY(pg_pipe_send(s, "SELECT pg_notify('" PG_CHANNEL "', '')", NULL, "notifying",
                            PEND_ANY, NULL));
out:
    return rc;
}

/* The end of a transaction, whatever the outcome. */
static void tx_forget(struct pg_db *s)
{
    rows_discard(s);
    s->ncnt = 0;
    s->notify = 0;
}

/* The next value of a counter (C3): from the transaction's slot, or, when
 * none is free, one statement on the locked row. */
static cm_err pg_counter_next(db_t *db, int64_t *out, const char *key)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    PGresult *r = NULL;
    struct pg_counter *c = NULL;
    cm_err rc;

    CM_TRY(counter_slot(s, &c, key));
    if (c != NULL) {
        *out = ++c->value;
        c->dirty = 1;
        goto out;
    }
    p_text(&p, key);
    CM_TRY(pg_run_hot(s, &r,
                      "INSERT INTO counters(name, value) VALUES ($1, 1) ON CONFLICT (name)"
                      " DO UPDATE SET value = counters.value + 1 RETURNING value",
                      &p, "taking a counter value"));
    if (PQntuples(r) != 1)
        CM_FAIL(CM_ERR_DB, "%s: counter %s: no value returned", s->url, key);
    *out = g_int(r, 0, 0);
out:
    PQclear(r);
    return rc;
}

static cm_err pg_counter_raise(db_t *db, const char *key, int64_t at_least)
{
    struct pqp p = {0};
    struct pg_counter *c = NULL;
    cm_err rc = counter_slot(PDB(db), &c, key);

    if (rc != CM_OK)
        return rc;
    if (c != NULL) {
        if (at_least > c->value)
            c->value = at_least;
        c->dirty = 1;
        return CM_OK;
    }
    p_text(&p, key);
    p_int(&p, at_least < 0 ? 0 : at_least);
    return pg_run(PDB(db), NULL,
                  "INSERT INTO counters(name, value) VALUES ($1, $2) ON CONFLICT (name)"
                  " DO UPDATE SET value = GREATEST(counters.value, EXCLUDED.value)",
                  &p, "raising a counter");
}

static cm_err pg_counter_get(db_t *db, int64_t *out, const char *key)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    *out = 0;
    /* Inside a transaction, the values it took (not stored until its
     * commit). */
    for (int i = 0; db->in_tx && i < PDB(db)->ncnt; i++)
        if (strcmp(PDB(db)->cnt[i].name, key) == 0) {
            *out = PDB(db)->cnt[i].value;
            return CM_OK;
        }
    p_text(&p, key);
    CM_TRY(
        pg_run(PDB(db), &r, "SELECT value FROM counters WHERE name = $1", &p, "reading a counter"));
    if (PQntuples(r) > 0)
        *out = g_int(r, 0, 0);
out:
    PQclear(r);
    return rc;
}

/* ---- requests ---- */

/* A request row with its RequestID. */
#define REQ_INSERT                                                                                 \
    "INSERT INTO requests(" REQ_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"          \
    " ON CONFLICT DO NOTHING"

static void request_params(struct pqp *p, const struct db_request *req)
{
    p_text(p, req->requester_name);
    p_opt(p, req->submitted_when);
    p_opt(p, req->resolved_when);
    p_int(p, req->disposition);
    p_text(p, req->disposition_message);
    p_text(p, req->template_name);
    p_text(p, req->request_dn);
    p_text(p, req->recovered_from);
    p_blob(p, req->raw_request, req->raw_request_len);
}

static cm_err pg_request_insert(db_t *db, struct db_request *req)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    PGresult *r = NULL;
    int64_t id = req->request_id;
    cm_err rc;

    if (id > 0) {
        /* Recovery: the caller's ID, and later ones above it. */
        CM_TRY(pg_counter_raise(db, DB_COUNTER_REQUEST_ID, id));
        p_int(&p, id);
        request_params(&p, req);
        /* ON CONFLICT: a taken ID is CM_ERR_EXISTS and the transaction
         * goes on (a failed statement would abort it). */
        CM_TRY(pg_run(s, &r, REQ_INSERT, &p, "inserting a request"));
        if (pg_changes(r) == 0)
            CM_FAIL(CM_ERR_EXISTS, "RequestID %lld is already taken", (long long)id);
        goto out;
    }
    /* A new RequestID from the transaction's counter (above every row: no
     * other writer inserts before this commit), and the row pipelined:
     * taken it could only be by a damaged table, and then the transaction
     * fails at its next synchronous step (C4 still holds: the constraint). */
    CM_TRY(pg_counter_next(db, &id, DB_COUNTER_REQUEST_ID));
    p_int(&p, id);
    request_params(&p, req);
    CM_TRY(rows_add(s, ROWS_REQUESTS, &p));
out:
    if (rc == CM_OK)
        req->request_id = id;
    PQclear(r);
    return rc;
}

static cm_err pg_request_get(db_t *db, struct db_request **out, int64_t id)
{
    struct pqp p = {0};
    PGresult *res = NULL;
    struct db_request *r = NULL;
    int nomem = 0;
    cm_err rc;

    *out = NULL;
    p_int(&p, id);
    CM_TRY(pg_run(PDB(db), &res, "SELECT " REQ_COLS " FROM requests WHERE RequestID = $1", &p,
                  "reading a request"));
    if (PQntuples(res) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "request %" PRId64 ": not in the database", id);
    r = calloc(1, sizeof(*r));
    CM_NOMEM_IF(r == NULL);
    r->request_id = g_int(res, 0, 0);
    r->requester_name = g_dup(res, 0, 1, &nomem);
    r->submitted_when = g_int(res, 0, 2);
    r->resolved_when = g_int(res, 0, 3);
    r->disposition = (int)g_int(res, 0, 4);
    r->disposition_message = g_dup(res, 0, 5, &nomem);
    r->template_name = g_dup(res, 0, 6, &nomem);
    r->request_dn = g_dup(res, 0, 7, &nomem);
    r->recovered_from = g_dup(res, 0, 8, &nomem);
    r->raw_request = g_blob(res, 0, 9, &r->raw_request_len, &nomem);
    CM_NOMEM_IF(nomem);
    *out = r;
    r = NULL;
out:
    PQclear(res);
    db_request_free(r);
    return rc;
}

static cm_err pg_request_resolve(db_t *db, int64_t id, int disposition, const char *message,
                                 int64_t when)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    struct db_request *cur = NULL;
    cm_err rc;

    assert(disposition != DB_DISP_REVOKED);
    p_int(&p, id);
    p_int(&p, disposition);
    p_text(&p, message);
    p_opt(&p, when);
    p_int(&p, DB_DISP_PENDING);
    /* Compare-and-set on Disposition = pending (C5). */
    CM_TRY(pg_run(PDB(db), &r,
                  "UPDATE requests SET Disposition = $2, DispositionMessage = $3,"
                  " ResolvedWhen = $4 WHERE RequestID = $1 AND Disposition = $5",
                  &p, "updating a request"));
    if (pg_changes(r) > 0)
        goto out;
    rc = pg_request_get(db, &cur, id);
    if (rc == CM_OK)
        rc = cm_err_set(CM_ERR_STATE, "request %" PRId64 " is no longer pending (now: %s)", id,
                        db_disposition_name(cur->disposition));
out:
    PQclear(r);
    db_request_free(cur);
    return rc;
}

/* ---- certificates ---- */

static void cert_params(struct pqp *p, const char *serial, const struct db_cert *c)
{
    p_text(p, serial);
    p_int(p, c->request_id);
    p_int(p, c->origin);
    p_opt(p, c->not_before);
    p_opt(p, c->not_after);
    p_text(p, c->dn);
    p_text(p, c->cn);
    p_text(p, c->email);
    p_text(p, c->san);
    p_text(p, c->hash);
    p_text(p, c->ski);
    p_text(p, c->template_name);
    p_blob(p, c->raw, c->raw_len);
    if (c->revoked_reason >= 0)
        p_int(p, c->revoked_reason);
    else
        p_text(p, NULL);
    p_opt(p, c->revoked_when);
    p_opt(p, c->revoked_effective_when);
    p_opt(p, c->invalidity_date);
    p_opt(p, c->rev_seq);
    p_opt(p, c->hold_seq);
    p_opt(p, c->released_when);
    p_int(p, c->withheld ? 1 : 0);
    p_text(p, c->recovered_from);
}

/* 1 when the query with one parameter returns a row. */
static cm_err pg_exists(struct pg_db *s, int *found, const char *sql, const char *arg,
                        const char *what)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    p_text(&p, arg);
    CM_TRY(pg_run(s, &r, sql, &p, what));
    *found = PQntuples(r) > 0;
out:
    PQclear(r);
    return rc;
}

#define CERT_INSERT                                                                                \
    "INSERT INTO certificates(" CERT_COLS ") SELECT $1, $2::bigint, $3::integer,"                  \
    " $4::bigint, $5::bigint, $6, $7, $8, $9, $10, $11, $12, $13::bytea,"                          \
    " $14::integer, $15::bigint, $16::bigint, $17::bigint, $18::bigint,"                           \
    " $19::bigint, $20::bigint, $21::integer, $22"                                                 \
    " WHERE EXISTS (SELECT 1 FROM requests WHERE RequestID = $2::bigint)"                          \
    " ON CONFLICT DO NOTHING"

static cm_err pg_cert_insert(db_t *db, const struct db_cert *c)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    PGresult *r = NULL;
    char serial[CM_SERIAL_BUF], rid[24];
    int found = 0;
    cm_err rc;

    CM_TRY(text_serial_canon(serial, c->serial));
    if (c->request_id <= 0)
        CM_FAIL(CM_ERR_INVALID,
                "certificate %s: no RequestID (every certificate, imported ones and "
                "placeholders included, belongs to a request row)",
                serial);
    cert_params(&p, serial, c);
    /* A certificate this CA has just signed has a serial of >= 64 random
     * bits and a request row of this transaction: it is kept back and
     * sent with the others (rows_flush), and a refusal fails the
     * transaction at its next synchronous step (db.h C4). Any other
     * (imports, placeholders) is sent now with the request's row checked
     * in the same statement (WHERE EXISTS: the foreign key never fails it
     * and with it the caller's transaction) and a duplicate left out (ON
     * CONFLICT); it is read back at once, so the caller learns the reason
     * now (looked up only then). */
    if (c->origin == DB_ORIGIN_ISSUED && c->raw != NULL) {
        CM_TRY(rows_add(s, ROWS_CERTS, &p));
        goto out;
    }
    CM_TRY(pg_pipe_send(s, CERT_INSERT, &p, "inserting a certificate", PEND_COUNT, NULL));
    s->pipe_changes = 0;
    CM_TRY(pg_pipe_drain(s));
    if (s->pipe_changes > 0)
        goto out;
    snprintf(rid, sizeof(rid), "%" PRId64, c->request_id);
    CM_TRY(pg_exists(s, &found, "SELECT 1 FROM requests WHERE RequestID = $1::bigint", rid,
                     "inserting a certificate"));
    if (!found)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: request %" PRId64 " is not in the database",
                serial, c->request_id);
    /* C4: the unique constraints refused it; say which. */
    CM_TRY(pg_exists(s, &found, "SELECT 1 FROM certificates WHERE SerialNumber = $1", serial,
                     "inserting a certificate"));
    if (found)
        CM_FAIL(CM_ERR_EXISTS, "certificate %s: serial number already in the database", serial);
    CM_FAIL(CM_ERR_EXISTS, "certificate %s: request %" PRId64 " already has a certificate", serial,
            c->request_id);
out:
    PQclear(r);
    return rc;
}

static cm_err cert_from_row(struct db_cert **out, const PGresult *r)
{
    struct db_cert *c = NULL;
    int nomem = 0;
    cm_err rc = CM_OK;

    c = calloc(1, sizeof(*c));
    CM_NOMEM_IF(c == NULL);
    snprintf(c->serial, sizeof(c->serial), "%s", PQgetvalue(r, 0, 0));
    c->request_id = g_int(r, 0, 1);
    c->origin = (int)g_int(r, 0, 2);
    c->not_before = g_int(r, 0, 3);
    c->not_after = g_int(r, 0, 4);
    c->dn = g_dup(r, 0, 5, &nomem);
    c->cn = g_dup(r, 0, 6, &nomem);
    c->email = g_dup(r, 0, 7, &nomem);
    c->san = g_dup(r, 0, 8, &nomem);
    c->hash = g_dup(r, 0, 9, &nomem);
    c->ski = g_dup(r, 0, 10, &nomem);
    c->template_name = g_dup(r, 0, 11, &nomem);
    c->raw = g_blob(r, 0, 12, &c->raw_len, &nomem);
    c->revoked_reason = PQgetisnull(r, 0, 13) ? DB_REASON_NONE : (int)g_int(r, 0, 13);
    c->revoked_when = g_int(r, 0, 14);
    c->revoked_effective_when = g_int(r, 0, 15);
    c->invalidity_date = g_int(r, 0, 16);
    c->rev_seq = g_int(r, 0, 17);
    c->hold_seq = g_int(r, 0, 18);
    c->released_when = g_int(r, 0, 19);
    c->withheld = (int)g_int(r, 0, 20);
    c->recovered_from = g_dup(r, 0, 21, &nomem);
    CM_NOMEM_IF(nomem);
    *out = c;
    c = NULL;
out:
    db_cert_free(c);
    return rc;
}

static cm_err cert_query(struct pg_db *s, struct db_cert **out, const char *sql, const char *arg)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    *out = NULL;
    p_text(&p, arg);
    CM_TRY(pg_run(s, &r, sql, &p, "reading a certificate"));
    if (PQntuples(r) == 0) {
        rc = CM_ERR_NOTFOUND;
        goto out;
    }
    CM_TRY(cert_from_row(out, r));
out:
    PQclear(r);
    return rc;
}

static cm_err pg_cert_get(db_t *db, struct db_cert **out, const char *serial_in)
{
    char serial[CM_SERIAL_BUF];
    cm_err rc;

    *out = NULL;
    CM_TRY(text_serial_canon(serial, serial_in));
    rc = cert_query(PDB(db), out, "SELECT " CERT_COLS " FROM certificates WHERE SerialNumber = $1",
                    serial);
    if (rc == CM_ERR_NOTFOUND)
        rc = cm_err_set(CM_ERR_NOTFOUND, "certificate %s: not in the database", serial);
out:
    return rc;
}

static cm_err pg_cert_get_by_request(db_t *db, struct db_cert **out, int64_t request_id)
{
    char rid[24];
    cm_err rc;

    snprintf(rid, sizeof(rid), "%" PRId64, request_id);
    rc = cert_query(PDB(db), out,
                    "SELECT " CERT_COLS " FROM certificates WHERE RequestID = $1::bigint", rid);
    if (rc == CM_ERR_NOTFOUND)
        rc = cm_err_set(CM_ERR_NOTFOUND, "request %" PRId64 ": no certificate in the database",
                        request_id);
    return rc;
}

static cm_err pg_cert_set_withheld(db_t *db, const char *serial_in, int withheld)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    char serial[CM_SERIAL_BUF];
    cm_err rc;

    CM_TRY(text_serial_canon(serial, serial_in));
    p_text(&p, serial);
    p_int(&p, withheld ? 1 : 0);
    CM_TRY(pg_run_hot(PDB(db), &r, "UPDATE certificates SET Withheld = $2 WHERE SerialNumber = $1",
                      &p, "updating a certificate"));
    if (pg_changes(r) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: not in the database", serial);
out:
    PQclear(r);
    return rc;
}

static cm_err pg_cert_fill_placeholder(db_t *db, const struct db_cert *c)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    char serial[CM_SERIAL_BUF];
    cm_err rc;

    CM_TRY(text_serial_canon(serial, c->serial));
    if (c->raw == NULL || c->raw_len == 0)
        CM_FAIL(CM_ERR_INVALID, "certificate %s: no certificate to fill the placeholder with",
                serial);
    p_text(&p, serial);
    p_opt(&p, c->not_before);
    p_opt(&p, c->not_after);
    p_text(&p, c->dn);
    p_text(&p, c->cn);
    p_text(&p, c->email);
    p_text(&p, c->san);
    p_text(&p, c->hash);
    p_text(&p, c->ski);
    p_text(&p, c->template_name);
    p_text(&p, c->recovered_from);
    p_blob(&p, c->raw, c->raw_len);
    CM_TRY(pg_run(PDB(db), &r,
                  "UPDATE certificates SET Origin = 1, NotBefore = $2, NotAfter = $3,"
                  " DistinguishedName = $4, CommonName = $5, EMail = $6, SubjectAltNames = $7,"
                  " CertificateHash = $8, SubjectKeyIdentifier = $9,"
                  " CertificateTemplate = COALESCE($10, CertificateTemplate),"
                  " RecoveredFrom = COALESCE($11, RecoveredFrom), RawCertificate = $12"
                  " WHERE SerialNumber = $1 AND Origin = 2",
                  &p, "filling a placeholder"));
    if (pg_changes(r) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: no placeholder with this serial", serial);
out:
    PQclear(r);
    return rc;
}

/* The current RevokedReason of serial (DB_REASON_NONE when not revoked). */
static cm_err cert_reason(struct pg_db *s, int *out, const char *serial)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    p_text(&p, serial);
    CM_TRY(pg_run(s, &r, "SELECT RevokedReason FROM certificates WHERE SerialNumber = $1", &p,
                  "reading a certificate"));
    if (PQntuples(r) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: not in the database", serial);
    *out = PQgetisnull(r, 0, 0) ? DB_REASON_NONE : (int)g_int(r, 0, 0);
out:
    PQclear(r);
    return rc;
}

static cm_err pg_cert_revoke(db_t *db, const char *serial_in, int reason, int64_t when,
                             int64_t effective, int64_t invalidity, int64_t seq)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    PGresult *r = NULL;
    char serial[CM_SERIAL_BUF];
    int cur = DB_REASON_NONE;
    cm_err rc;

    assert(reason >= 0 && reason <= 10 && reason != 7 && reason != DB_REASON_REMOVE_FROM_CRL);
    assert(seq > 0);
    CM_TRY(text_serial_canon(serial, serial_in));
    CM_TRY(cert_reason(s, &cur, serial));
    /* RFC 5280 5.3.1: only certificateHold is temporary. */
    if (cur == DB_REASON_HOLD && reason == DB_REASON_HOLD)
        CM_FAIL(CM_ERR_STATE, "certificate %s: already on hold", serial);
    if (cur != DB_REASON_NONE && cur != DB_REASON_HOLD)
        CM_FAIL(CM_ERR_STATE, "certificate %s: already revoked (%s)", serial, db_reason_name(cur));
    p_text(&p, serial);
    p_int(&p, reason);
    p_opt(&p, when);
    p_opt(&p, effective ? effective : when);
    p_opt(&p, invalidity);
    p_int(&p, seq);
    if (cur == DB_REASON_NONE)
        p_text(&p, NULL);
    else
        p_int(&p, cur);
    /* Compare-and-set on the state read above (C5). */
    CM_TRY(pg_run(s, &r,
                  "UPDATE certificates SET RevokedReason = $2, RevokedWhen = $3,"
                  " RevokedEffectiveWhen = $4, InvalidityDate = $5, RevSeq = $6"
                  " WHERE SerialNumber = $1 AND RevokedReason IS NOT DISTINCT FROM $7::integer",
                  &p, "revoking a certificate"));
    if (pg_changes(r) == 0)
        CM_FAIL(CM_ERR_STATE, "certificate %s: its revocation state changed meanwhile", serial);
out:
    PQclear(r);
    return rc;
}

static cm_err pg_cert_unrevoke(db_t *db, const char *serial_in, int64_t when, int64_t seq)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    PGresult *r = NULL;
    char serial[CM_SERIAL_BUF];
    int cur = DB_REASON_NONE;
    cm_err rc;

    assert(seq > 0);
    CM_TRY(text_serial_canon(serial, serial_in));
    CM_TRY(cert_reason(s, &cur, serial));
    if (cur == DB_REASON_NONE)
        CM_FAIL(CM_ERR_STATE, "certificate %s: not revoked", serial);
    if (cur != DB_REASON_HOLD)
        CM_FAIL(CM_ERR_STATE,
                "certificate %s: revoked for %s, which is final; only certificateHold can be "
                "released (RFC 5280 5.3.1)",
                serial, db_reason_name(cur));
    p_text(&p, serial);
    p_opt(&p, when);
    p_int(&p, seq);
    /* HoldSeq: see the SQLite backend (the first hold ever released). */
    CM_TRY(pg_run(s, &r,
                  "UPDATE certificates SET HoldSeq = COALESCE(HoldSeq, RevSeq),"
                  " RevSeq = $3, ReleasedWhen = $2, RevokedReason = NULL,"
                  " RevokedWhen = NULL, RevokedEffectiveWhen = NULL, InvalidityDate = NULL"
                  " WHERE SerialNumber = $1 AND RevokedReason = 6",
                  &p, "releasing a certificate from hold"));
    if (pg_changes(r) == 0)
        CM_FAIL(CM_ERR_STATE, "certificate %s: no longer on hold", serial);
out:
    PQclear(r);
    return rc;
}

static cm_err revoked_row(void *walk, const PGresult *r, int i)
{
    const struct pg_walk *w = walk;
    struct db_revoked e;

    e.serial = PQgetvalue(r, i, 0);
    e.reason = (int)g_int(r, i, 1);
    e.revoked_effective_when = g_int(r, i, 2);
    e.invalidity_date = g_int(r, i, 3);
    return w->cb.revoked(w->ctx, &e);
}

static cm_err pg_revoked_iter(db_t *db, int64_t since_seq, db_revoked_cb cb, void *ctx)
{
    static const char all_sql[] =
        "SELECT SerialNumber, RevokedReason, RevokedEffectiveWhen, InvalidityDate"
        " FROM certificates WHERE RevokedReason IS NOT NULL ORDER BY SerialNumber";
    static const char delta_sql[] =
        "SELECT SerialNumber, COALESCE(RevokedReason, 8),"
        " CASE WHEN RevokedReason IS NULL THEN ReleasedWhen ELSE RevokedEffectiveWhen END,"
        " CASE WHEN RevokedReason IS NULL THEN NULL ELSE InvalidityDate END"
        " FROM certificates WHERE RevSeq > $1"
        " AND (RevokedReason IS NOT NULL OR (HoldSeq IS NOT NULL AND HoldSeq <= $1))"
        " ORDER BY SerialNumber";
    struct pqp p = {0};
    struct pg_walk w = {.cb.revoked = cb, .ctx = ctx};

    if (since_seq >= 0)
        p_int(&p, since_seq);
    return pg_each(PDB(db), NULL, since_seq < 0 ? all_sql : delta_sql, &p,
                   "reading revoked certificates", revoked_row, &w);
}

/* ---- CRLs, audit ---- */

static cm_err pg_crl_insert(db_t *db, const struct db_crl *crl)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    p_int(&p, crl->number);
    p_int(&p, crl->is_delta ? 1 : 0);
    p_opt(&p, crl->base_number);
    p_int(&p, crl->this_update);
    p_int(&p, crl->next_update);
    p_int(&p, crl->rev_seq);
    p_int(&p, crl->entries);
    p_text(&p, crl->hash);
    CM_TRY(pg_run(PDB(db), &r,
                  "INSERT INTO crls(" CRL_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                  " ON CONFLICT DO NOTHING",
                  &p, "recording a CRL"));
    /* RFC 5280 5.2.3: full and delta CRLs share one number sequence. */
    if (pg_changes(r) == 0)
        CM_FAIL(CM_ERR_EXISTS, "CRL number %" PRId64 " already recorded", crl->number);
out:
    PQclear(r);
    return rc;
}

static cm_err pg_crl_last(db_t *db, struct db_crl **out, int is_delta)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    struct db_crl *c = NULL;
    int nomem = 0;
    cm_err rc;

    *out = NULL;
    p_int(&p, is_delta ? 1 : 0);
    CM_TRY(pg_run(PDB(db), &r,
                  "SELECT " CRL_COLS " FROM crls WHERE IsDelta = $1 ORDER BY Number DESC LIMIT 1",
                  &p, "reading the last CRL"));
    if (PQntuples(r) == 0)
        goto out;
    c = calloc(1, sizeof(*c));
    CM_NOMEM_IF(c == NULL);
    c->number = g_int(r, 0, 0);
    c->is_delta = (int)g_int(r, 0, 1);
    c->base_number = g_int(r, 0, 2);
    c->this_update = g_int(r, 0, 3);
    c->next_update = g_int(r, 0, 4);
    c->rev_seq = g_int(r, 0, 5);
    c->entries = g_int(r, 0, 6);
    c->hash = g_dup(r, 0, 7, &nomem);
    CM_NOMEM_IF(nomem);
    *out = c;
    c = NULL;
out:
    PQclear(r);
    db_crl_free(c);
    return rc;
}

static cm_err pg_audit_append(db_t *db, const struct db_audit *a)
{
    struct pqp p = {0};

    assert(a->who != NULL && a->action != NULL);
    p_int(&p, a->when);
    p_text(&p, a->who);
    p_text(&p, a->action);
    p_opt(&p, a->request_id);
    p_text(&p, a->serial);
    p_text(&p, a->details);
    /* Pipelined: read back at the next synchronous step (a failure fails
     * the transaction there). */
    return rows_add(PDB(db), ROWS_AUDIT, &p);
}

static cm_err audit_row(void *walk, const PGresult *r, int i)
{
    const struct pg_walk *w = walk;
    struct db_audit a;

    a.when = g_int(r, i, 1);
    a.who = PQgetvalue(r, i, 2);
    a.action = PQgetvalue(r, i, 3);
    a.request_id = g_int(r, i, 4);
    a.serial = g_text(r, i, 5);
    a.details = g_text(r, i, 6);
    return w->cb.audit(w->ctx, g_int(r, i, 0), &a);
}

static cm_err pg_audit_iter(db_t *db, int64_t since, db_audit_cb cb, void *ctx)
{
    struct pqp p = {0};
    struct pg_walk w = {.cb.audit = cb, .ctx = ctx};

    p_int(&p, since);
    return pg_each(PDB(db), NULL,
                   "SELECT ID, \"when\", Who, Action, RequestID, SerialNumber, Details"
                   " FROM audit WHERE \"when\" >= $1 ORDER BY ID",
                   &p, "reading the audit log", audit_row, &w);
}

/* ---- the view ---- */

/* Appends the condition for one restriction with its parameters. */
static cm_err view_cond(cm_buf *b, struct pqp *p, const struct db_restrict *r)
{
    static const char *const ops[] = {
        [DB_OP_EQ] = "=", [DB_OP_NE] = "IS DISTINCT FROM",
        [DB_OP_LT] = "<", [DB_OP_LE] = "<=",
        [DB_OP_GT] = ">", [DB_OP_GE] = ">=",
    };
    const struct db_column *col;

    assert(r->column >= 0 && (size_t)r->column < db_ncolumns);
    assert(r->op >= DB_OP_EQ && r->op <= DB_OP_GE);
    col = &db_columns[r->column];
    assert(col->type != DB_COL_BLOB);
    if (r->is_null) {
        assert(r->op == DB_OP_EQ || r->op == DB_OP_NE);
        return buf_printf(b, "%s %s NULL", col->name, r->op == DB_OP_EQ ? "IS" : "IS NOT");
    }
    if (col->type == DB_COL_DISP && (r->op == DB_OP_EQ || r->op == DB_OP_NE)) {
        const char *neg = r->op == DB_OP_NE ? "NOT " : "";
        if (r->ival == DB_DISP_REVOKED)
            return buf_printf(b, "%s(RevokedReason IS NOT NULL)", neg);
        p_int(p, r->ival);
        return buf_printf(b, "%s(RequestDisposition = $%d AND RevokedReason IS NULL)", neg, p->n);
    }
    if (col->type == DB_COL_SERIAL && r->op != DB_OP_EQ && r->op != DB_OP_NE) {
        /* Canonical serials: numeric order is (length, text). */
        const char *strict = (r->op == DB_OP_LT || r->op == DB_OP_LE) ? "<" : ">";
        p_int(p, (int64_t)strlen(r->sval));
        p_text(p, r->sval);
        return buf_printf(b,
                          "(length(SerialNumber) %s $%d OR (length(SerialNumber) = $%d AND "
                          "SerialNumber %s $%d))",
                          strict, p->n - 1, p->n - 1, ops[r->op], p->n);
    }
    if (col->type == DB_COL_TEXT || col->type == DB_COL_SERIAL) {
        p_text(p, r->sval);
        return buf_printf(b, "%s %s $%d::text", col->name, ops[r->op], p->n);
    }
    p_int(p, r->ival);
    return buf_printf(b, "%s %s $%d::bigint", col->name, ops[r->op], p->n);
}

/* One row of the view in the text form db_row carries; 0 when out of
 * memory. */
static int view_row(const PGresult *r, int i, const char **values, const unsigned char **blobs,
                    size_t *blob_len, char text[][32], unsigned char **freeme)
{
    int origin = db_column_find("Origin"), withheld = db_column_find("Withheld");
    int rawcert = db_column_find("RawCertificate");
    /* Strict audit mode: a withheld certificate leaves the CA by no path
     * before its acknowledgement, the view included (as SQLite's). */
    int hide_raw = g_int(r, i, withheld) != 0;

    for (size_t k = 0; k < db_ncolumns; k++) {
        int ci = (int)k;
        values[k] = NULL;
        blobs[k] = NULL;
        blob_len[k] = 0;
        if (PQgetisnull(r, i, ci))
            continue;
        switch (db_columns[k].type) {
        case DB_COL_INT:
            values[k] = ci == origin ? db_origin_name((int)g_int(r, i, ci)) : PQgetvalue(r, i, ci);
            break;
        case DB_COL_TIME:
            text_format_time(text[k], sizeof(text[k]), g_int(r, i, ci));
            values[k] = text[k];
            break;
        case DB_COL_DISP:
            values[k] = db_disposition_name((int)g_int(r, i, ci));
            break;
        case DB_COL_REASON:
            values[k] = db_reason_name((int)g_int(r, i, ci));
            break;
        case DB_COL_BLOB:
            if (hide_raw && ci == rawcert)
                break;
            freeme[k] = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, ci), &blob_len[k]);
            if (freeme[k] == NULL)
                return 0;
            blobs[k] = freeme[k];
            break;
        case DB_COL_TEXT:
        case DB_COL_SERIAL:
            values[k] = PQgetvalue(r, i, ci);
            break;
        }
    }
    return 1;
}

static cm_err pg_view(db_t *db, const struct db_restrict *rs, size_t nr, db_row_cb cb, void *ctx)
{
    cm_buf b = CM_BUF_INIT(64 * 1024);
    struct pqp p = {0};
    PGresult *r = NULL;
    const char *values[64];
    const unsigned char *blobs[64];
    unsigned char *freeme[64] = {0};
    size_t blob_len[64];
    char text[64][32];
    struct db_row row = {values, blobs, blob_len};
    cm_err rc;

    assert(db_ncolumns <= 64);
    if (nr > PQP_MAX / 2)
        CM_FAIL(CM_ERR_INVALID, "too many restrictions (at most %d)", PQP_MAX / 2);
    CM_TRY(buf_append_str(&b, "SELECT "));
    for (size_t i = 0; i < db_ncolumns; i++)
        CM_TRY(buf_printf(&b, "%s%s", i ? ", " : "", db_columns[i].name));
    CM_TRY(buf_append_str(&b, " FROM certview"));
    for (size_t i = 0; i < nr; i++) {
        CM_TRY(buf_append_str(&b, i ? " AND " : " WHERE "));
        CM_TRY(view_cond(&b, &p, &rs[i]));
    }
    CM_TRY(buf_append_str(&b, " ORDER BY RequestID"));
    CM_TRY(pg_run(PDB(db), &r, buf_str(&b), &p, "reading the view"));
    for (int i = 0; i < PQntuples(r); i++) {
        if (!view_row(r, i, values, blobs, blob_len, text, freeme))
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        rc = cb(ctx, &row);
        for (size_t k = 0; k < db_ncolumns; k++) {
            PQfreemem(freeme[k]);
            freeme[k] = NULL;
        }
        if (rc != CM_OK)
            goto out;
    }
    rc = CM_OK;
out:
    for (size_t k = 0; k < 64; k++)
        PQfreemem(freeme[k]);
    PQclear(r);
    buf_free(&b);
    return rc;
}

static cm_err pg_request_list(db_t *db, int disposition, db_row_cb cb, void *ctx)
{
    struct db_restrict r = {0};

    r.column = db_column_find("Disposition");
    assert(r.column >= 0);
    r.op = DB_OP_EQ;
    r.ival = disposition;
    return pg_view(db, &r, 1, cb, ctx);
}

/* ---- events ---- */

/* The ID is taken under the writer lock: IDs follow commit order (C6). */
static cm_err pg_event_enqueue(db_t *db, struct db_event *ev)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    int64_t id = 0;
    cm_err rc;

    /* The event ID from the transaction's counter (stored at the commit,
     * see counter_slot) and the row pipelined. The nodes waiting for
     * events are notified at the commit (counters_store). */
    CM_TRY(pg_counter_next(db, &id, DB_COUNTER_EVENT_ID));
    p_int(&p, id);
    p_int(&p, ev->type);
    p_opt(&p, ev->request_id);
    p_text(&p, ev->serial[0] ? ev->serial : NULL);
    p_int(&p, ev->created);
    p_text(&p, ev->payload);
    CM_TRY(rows_add(s, ROWS_EVENTS, &p));
    s->notify = 1;
    ev->id = id;
out:
    return rc;
}

static cm_err event_row(void *walk, const PGresult *r, int i)
{
    const struct pg_walk *w = walk;
    struct db_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.id = g_int(r, i, 0);
    ev.type = (int)g_int(r, i, 1);
    ev.request_id = g_int(r, i, 2);
    snprintf(ev.serial, sizeof(ev.serial), "%s", PQgetvalue(r, i, 3));
    ev.created = g_int(r, i, 4);
    ev.payload = g_text(r, i, 5);
    return w->cb.event(w->ctx, &ev);
}

static cm_err pg_event_iter(db_t *db, int64_t after_id, int type_mask, size_t limit, db_event_cb cb,
                            void *ctx)
{
    struct pqp p = {0};
    struct pg_walk w = {.cb.event = cb, .ctx = ctx};

    p_int(&p, after_id);
    p_int(&p, type_mask);
    /* limit 0: no limit (LIMIT NULL). */
    if (limit == 0 || limit > INT64_MAX)
        p_text(&p, NULL);
    else
        p_int(&p, (int64_t)limit);
    return pg_each(PDB(db), NULL,
                   "SELECT ID, Type, RequestID, SerialNumber, Created, Payload FROM events"
                   " WHERE ID > $1 AND (Type & $2::integer) != 0 ORDER BY ID LIMIT $3::bigint",
                   &p, "reading events", event_row, &w);
}

/* ---- poisoned events ---- */

static cm_err pg_poison_add(db_t *db, const char *module, int64_t event_id, const char *reason,
                            int64_t when)
{
    struct pqp p = {0};
    p_text(&p, module);
    p_int(&p, event_id);
    p_text(&p, reason);
    p_int(&p, when);
    return pg_run(PDB(db), NULL,
                  "INSERT INTO event_poison(Module, EventID, Reason, Since) VALUES ($1, $2, $3, $4)"
                  " ON CONFLICT (Module, EventID) DO UPDATE SET Reason = EXCLUDED.Reason,"
                  " Attempts = event_poison.Attempts + 1",
                  &p, "recording a poisoned event");
}

static cm_err pg_poison_del(db_t *db, const char *module, int64_t event_id)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    p_text(&p, module);
    p_int(&p, event_id);
    CM_TRY(pg_run(PDB(db), &r, "DELETE FROM event_poison WHERE Module = $1 AND EventID = $2", &p,
                  "clearing a poisoned event"));
    if (pg_changes(r) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "event %lld is not poisoned for exit module %s",
                (long long)event_id, module);
out:
    PQclear(r);
    return rc;
}

static cm_err poison_row(void *walk, const PGresult *r, int i)
{
    const struct pg_walk *w = walk;
    struct db_poison e;

    e.module = PQgetvalue(r, i, 0);
    e.event_id = g_int(r, i, 1);
    e.reason = PQgetvalue(r, i, 2);
    e.since = g_int(r, i, 3);
    e.attempts = g_int(r, i, 4);
    return w->cb.poison(w->ctx, &e);
}

static cm_err pg_poison_iter(db_t *db, const char *module, db_poison_cb cb, void *ctx)
{
    struct pqp p = {0};
    struct pg_walk w = {.cb.poison = cb, .ctx = ctx};

    p_text(&p, module);
    return pg_each(PDB(db), NULL,
                   "SELECT Module, EventID, Reason, Since, Attempts FROM event_poison"
                   " WHERE $1::text IS NULL OR Module = $1 ORDER BY EventID, Module",
                   &p, "reading poisoned events", poison_row, &w);
}

/* ---- the vault (issue 12) ---- */

static cm_err pg_vault_insert(db_t *db, const struct db_vault *v)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    p_text(&p, v->kind);
    p_text(&p, v->name);
    p_int(&p, v->state);
    p_int(&p, v->created);
    p_blob(&p, v->body, v->body_len);
    /* ON CONFLICT DO NOTHING: a duplicate is CM_ERR_EXISTS and the
     * transaction goes on (C4). */
    CM_TRY(pg_run(PDB(db), &r,
                  "INSERT INTO vault(Kind, Name, State, Created, Body) VALUES ($1, $2, $3, $4, $5)"
                  " ON CONFLICT DO NOTHING",
                  &p, "writing the vault"));
    if (pg_changes(r) == 0)
        CM_FAIL(CM_ERR_EXISTS, "%s %s already exists", v->kind, v->name);
out:
    PQclear(r);
    return rc;
}

static cm_err pg_vault_update(db_t *db, const char *kind, const char *name, int expect_state,
                              int new_state, const unsigned char *body, size_t body_len)
{
    struct pqp p = {0};
    PGresult *r = NULL;
    cm_err rc;

    p_text(&p, kind);
    p_text(&p, name);
    p_int(&p, new_state);
    p_blob(&p, body, body_len);
    p_int(&p, expect_state);
    CM_TRY(pg_run(PDB(db), &r,
                  "UPDATE vault SET State = $3, Body = COALESCE($4::bytea, Body)"
                  " WHERE Kind = $1 AND Name = $2 AND State = $5",
                  &p, "updating the vault"));
    if (pg_changes(r) == 1)
        goto out;
    PQclear(r);
    r = NULL;
    p.n = 2;
    CM_TRY(pg_run(PDB(db), &r, "SELECT 1 FROM vault WHERE Kind = $1 AND Name = $2", &p,
                  "reading the vault"));
    if (PQntuples(r) > 0)
        CM_FAIL(CM_ERR_STATE, "%s %s has changed meanwhile (state is not %d)", kind, name,
                expect_state);
    CM_FAIL(CM_ERR_NOTFOUND, "%s %s: not found", kind, name);
out:
    PQclear(r);
    return rc;
}

static cm_err vault_row(void *walk, const PGresult *r, int i)
{
    const struct pg_walk *w = walk;
    struct db_vault v;
    unsigned char *body = NULL;
    int nomem = 0;
    cm_err rc;

    v.kind = PQgetvalue(r, i, 0);
    v.name = PQgetvalue(r, i, 1);
    v.state = (int)g_int(r, i, 2);
    v.created = g_int(r, i, 3);
    body = g_blob(r, i, 4, &v.body_len, &nomem);
    if (nomem)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    v.body = body;
    rc = w->cb.vault(w->ctx, &v);
    free(body);
    return rc;
}

static cm_err pg_vault_iter(db_t *db, const char *kind, const char *name, db_vault_cb cb,
                            void *ctx)
{
    struct pqp p = {0};
    struct pg_walk w = {.cb.vault = cb, .ctx = ctx};
    int n = 0;
    cm_err rc;

    p_text(&p, kind);
    p_text(&p, name);
    CM_TRY(pg_each(PDB(db), &n,
                   "SELECT Kind, Name, State, Created, Body FROM vault"
                   " WHERE Kind = $1 AND ($2::text IS NULL OR Name = $2) ORDER BY Name",
                   &p, "reading the vault", vault_row, &w));
    if (name != NULL && n == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "%s %s: not found", kind, name);
out:
    return rc;
}

/* ---- connections, transactions, schema ---- */

static void pg_close(db_t *db)
{
    struct pg_db *s = PDB(db);
    if (s == NULL)
        return;
    /* Closing the session rolls back an open transaction and releases
     * its advisory locks (C2, C8). */
    if (PQpipelineStatus(s->c) != PQ_PIPELINE_OFF)
        (void)pg_pipe_drain_how(s, 0);
    for (int i = 0; i < PG_LOCKS_MAX; i++)
        if (s->locks[i][0] != '\0') {
            /* Released now, not when the server notices the closed
             * connection: the next db_lock must find it free. */
            PQclear(PQexec(s->c, "SELECT pg_advisory_unlock_all()"));
            break;
        }
    PQfinish(s->c);
    rows_free(s);
    free(s->url);
    free(s);
}

static cm_err pg_begin(db_t *db)
{
    /* The writer lock after BEGIN: one writer at a time, and every
     * statement after it (READ COMMITTED) sees every earlier commit. */
    struct pg_db *s = PDB(db);
    cm_err rc;

    tx_forget(s);
    rc = pg_exec(s,
                 "BEGIN ISOLATION LEVEL READ COMMITTED;"
                 " SELECT pg_advisory_xact_lock(" CM_STR(PG_KEY_WRITER) ", 0)",
                 "starting a transaction");
    /* A failed begin leaves no transaction behind (db.c then knows of none
     * to roll back). */
    if (rc != CM_OK && PQtransactionStatus(s->c) != PQTRANS_IDLE)
        PQclear(PQexec(s->c, "ROLLBACK"));
    return rc;
}

static cm_err pg_commit(db_t *db)
{
    struct pg_db *s = PDB(db);
    PGresult *r = NULL;
    cm_err rc;

    /* The counters and the notification join the pipeline; its results
     * are read (and any failure in it reported) before the COMMIT. */
    rc = counters_store(s);
    if (rc == CM_OK)
        rc = pg_revive(s);
    tx_forget(s);
    if (rc != CM_OK)
        return rc;
    r = PQexec(s->c, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(s, r, "committing");
    /* COMMIT of a failed transaction answers ROLLBACK. */
    else if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
        rc = cm_err_set(CM_ERR_DB, "%s: committing: the transaction was rolled back", s->url);
    PQclear(r);
    return rc;
}

static void pg_rollback(db_t *db)
{
    struct pg_db *s = PDB(db);

    tx_forget(s);
    if (PQpipelineStatus(s->c) != PQ_PIPELINE_OFF)
        (void)pg_pipe_drain_how(s, 0);
    if (PQtransactionStatus(s->c) != PQTRANS_IDLE)
        PQclear(PQexec(s->c, "ROLLBACK"));
}

/* Refuses a location with a password in it and one without a database
 * name; *dbname (malloc'ed) gets the name. */
static cm_err url_check(const char *url, char **dbname)
{
    PQconninfoOption *opts = NULL;
    char *err = NULL;
    cm_err rc = CM_OK;

    *dbname = NULL;
    /* The first libpq call of every connection. */
    rc = dl_pq_load("PostgreSQL database");
    if (rc != CM_OK)
        return rc;
    opts = PQconninfoParse(url, &err);
    if (opts == NULL) {
        rc = cm_err_set(CM_ERR_INVALID, "database '%s': %.*s", url,
                        err ? (int)strcspn(err, "\n") : 14, err ? err : "not a libpq URI");
        goto out;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && *o->val != '\0')
            CM_FAIL(CM_ERR_CONFIG,
                    "database URL: a password in the URL is refused; put it in a password "
                    "file (PGPASSFILE or ~/.pgpass, docs/postgresql.md)");
        if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL && *o->val != '\0') {
            *dbname = strdup(o->val);
            CM_NOMEM_IF(*dbname == NULL);
        }
    }
    if (*dbname == NULL)
        CM_FAIL(CM_ERR_INVALID, "database '%s': no database name (postgresql://USER@HOST:PORT/DB)",
                url);
out:
    PQfreemem(err);
    PQconninfoFree(opts);
    return rc;
}

/* Connects to url, or (maintenance = 1) to the server's "postgres"
 * database with the same user, host and password file. */
static cm_err pg_connect(struct pg_db **out, const char *url, int maintenance)
{
    /* A later "dbname" overrides the one the URI expands to. */
    const char *keys[] = {"dbname", "connect_timeout", "client_encoding", "dbname", NULL};
    const char *vals[] = {url, "10", "UTF8", "postgres", NULL};
    struct pg_db *s = NULL;
    char *dbname = NULL;
    const char *msg;
    cm_err rc;

    *out = NULL;
    CM_TRY(url_check(url, &dbname));
    s = calloc(1, sizeof(*s));
    CM_NOMEM_IF(s == NULL);
    for (int t = 0; t < ROWS_N; t++)
        buf_init(&s->rows[t].data, PG_ROWS_BYTES);
    s->url = strdup(url);
    CM_NOMEM_IF(s->url == NULL);
    if (!maintenance)
        keys[3] = NULL;
    s->c = PQconnectdbParams(keys, vals, 1);
    CM_NOMEM_IF(s->c == NULL);
    if (PQstatus(s->c) != CONNECTION_OK) {
        msg = PQerrorMessage(s->c);
        if (strstr(msg, "does not exist") != NULL && strstr(msg, "database") != NULL)
            CM_FAIL(CM_ERR_NOTFOUND, "%s: CA database missing (%.*s)", url, (int)strcspn(msg, "\n"),
                    msg);
        if (strstr(msg, "password") != NULL || strstr(msg, "authentication") != NULL)
            CM_FAIL(CM_ERR_AUTH, "%s: %.*s (the password comes from PGPASSFILE or ~/.pgpass)", url,
                    (int)strcspn(msg, "\n"), msg);
        CM_FAIL(CM_ERR_NET, "%s: cannot connect: %.*s", url, (int)strcspn(msg, "\n"), msg);
    }
    CM_TRY(pg_exec(s, "SET client_min_messages = warning", "setting up the session"));
    *out = s;
    s = NULL;
out:
    free(dbname);
    if (s != NULL)
        pg_close(&s->base);
    return rc;
}

/* CREATE DATABASE (what = "CREATE") or DROP DATABASE ... WITH (FORCE)
 * through the maintenance database. */
static cm_err pg_database_ddl(const char *url, int create)
{
    struct pg_db *m = NULL;
    char *dbname = NULL, *ident = NULL;
    cm_buf b = CM_BUF_INIT(1024);
    cm_err rc;

    CM_TRY(url_check(url, &dbname));
    CM_TRY(pg_connect(&m, url, 1));
    ident = PQescapeIdentifier(m->c, dbname, strlen(dbname));
    CM_NOMEM_IF(ident == NULL);
    if (create)
        CM_TRY(buf_printf(&b, "CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0", ident));
    else
        CM_TRY(buf_printf(&b, "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident));
    CM_TRY(pg_exec(m, buf_str(&b), create ? "creating the database" : "removing the database"));
out:
    PQfreemem(ident);
    free(dbname);
    buf_free(&b);
    if (m != NULL)
        pg_close(&m->base);
    return rc;
}

/* The schema version of s: 0 when there is no certmint schema. */
static cm_err schema_version(struct pg_db *s, int64_t *out)
{
    PGresult *r = NULL;
    char *end = NULL;
    const char *v;
    cm_err rc;

    *out = 0;
    CM_TRY(pg_run(s, &r, "SELECT to_regclass('meta') IS NOT NULL", NULL,
                  "reading the schema version"));
    if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        goto out;
    PQclear(r);
    r = NULL;
    CM_TRY(pg_run(s, &r, "SELECT (SELECT value FROM meta WHERE key = 'schema_version')", NULL,
                  "reading the schema version"));
    v = PQgetvalue(r, 0, 0);
    errno = 0;
    *out = strtoll(v, &end, 10);
    if (PQgetisnull(r, 0, 0) || errno != 0 || end == v || *end != '\0' || *out < 1)
        CM_FAIL(CM_ERR_DB, "%s: not a certmint database (schema version '%s')", s->url, v);
out:
    PQclear(r);
    return rc;
}

/* Creates or upgrades the schema under the writer lock (nodes starting
 * together: one migrates, the others then find it done). */
static cm_err pg_migrate(struct pg_db *s, int create)
{
    int64_t ver = 0;
    char sql[128];
    cm_err rc;

    CM_TRY(pg_begin(&s->base));
    CM_TRY(schema_version(s, &ver));
    if (create && ver > 0)
        CM_FAIL(CM_ERR_EXISTS, "%s: a database already exists; not overwriting it", s->url);
    if (!create && ver == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "%s: CA database missing (no certmint schema)", s->url);
    if (ver > PG_SCHEMA_VERSION)
        CM_FAIL(CM_ERR_DB,
                "%s: database schema version %" PRId64 " is newer than this certmint supports "
                "(%d); use a newer certmint",
                s->url, ver, PG_SCHEMA_VERSION);
    for (int64_t v = ver; v < PG_SCHEMA_VERSION; v++)
        CM_TRY(pg_exec(s, migrations[v], "migrating the schema"));
    snprintf(sql, sizeof(sql),
             "INSERT INTO meta(key, value) VALUES ('schema_version', '%d')"
             " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
             PG_SCHEMA_VERSION);
    CM_TRY(pg_exec(s, sql, "migrating the schema"));
    CM_TRY(pg_commit(&s->base));
out:
    pg_rollback(&s->base);
    return rc;
}

/* location is what follows "postgresql:" ("//user@host/db"). */
static cm_err pg_open_url(db_t **out, const char *url, int create)
{
    struct pg_db *s = NULL;
    int64_t ver = 0;
    int made = 0;
    cm_err rc;

    *out = NULL;
    rc = pg_connect(&s, url, 0);
    if (rc == CM_ERR_NOTFOUND && create) {
        CM_TRY(pg_database_ddl(url, 1));
        made = 1;
        rc = pg_connect(&s, url, 0);
    }
    if (rc != CM_OK)
        goto out;
    if (!create)
        CM_TRY(schema_version(s, &ver));
    if (create || ver != PG_SCHEMA_VERSION)
        CM_TRY(pg_migrate(s, create));
    *out = &s->base;
    s = NULL;
out:
    if (s != NULL)
        pg_close(&s->base);
    if (rc != CM_OK && made)
        (void)pg_database_ddl(url, 0);
    return rc;
}

static cm_err full_url(char **out, const char *location)
{
    size_t n = strlen("postgresql:") + strlen(location) + 1;
    *out = malloc(n);
    if (*out == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    snprintf(*out, n, "postgresql:%s", location);
    return CM_OK;
}

static cm_err pg_open(db_t **out, const char *location, int create)
{
    char *url = NULL;
    cm_err rc;

    *out = NULL;
    CM_TRY(full_url(&url, location));
    CM_TRY(pg_open_url(out, url, create));
out:
    free(url);
    return rc;
}

/* ---- handles, locks, marks (ops version 2) ---- */

static cm_err pg_home_location(char *out, size_t outsz, const char *home)
{
    (void)out;
    (void)outsz;
    return cm_err_set(CM_ERR_UNSUPPORTED,
                      "%s: a PostgreSQL database is named by its URL (certmint init --db "
                      "postgresql://...), not by the CA home",
                      home);
}

/* Only the URL is used (C1): after fork() the parent's connection is the
 * parent's. */
static cm_err pg_clone(db_t **out, db_t *db)
{
    struct pg_db *s = NULL;
    cm_err rc;

    *out = NULL;
    CM_TRY(pg_connect(&s, PDB(db)->url, 0));
    *out = &s->base;
out:
    return rc;
}

static cm_err pg_remove(const char *location)
{
    char *url = NULL;
    cm_err rc;

    CM_TRY(full_url(&url, location));
    CM_TRY(pg_database_ddl(url, 0));
out:
    free(url);
    return rc;
}

/* Takes the notifications that arrived; 1 when there was one. */
static int notified(struct pg_db *s)
{
    PGnotify *n;
    int any = 0;

    while ((n = PQnotifies(s->c)) != NULL) {
        PQfreemem(n);
        any = 1;
    }
    return any;
}

/* C11: LISTEN once per session, then wait on the connection's socket. A
 * lost connection is not this call's to report: it sleeps the timeout and
 * the next statement reconnects (pg_revive), listening again here. */
static cm_err pg_wait(db_t *db, int *woken, int timeout_ms)
{
    struct pg_db *s = PDB(db);
    struct pollfd pfd;
    cm_err rc = CM_OK;

    if (!s->listening) {
        rc = pg_exec(s, "LISTEN " PG_CHANNEL, "listening for events");
        if (rc != CM_OK)
            goto sleep;
        s->listening = 1;
    }
    if (PQconsumeInput(s->c) == 0)
        goto sleep;
    if ((*woken = notified(s)) != 0)
        return CM_OK;
    pfd.fd = PQsocket(s->c);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0)
        goto sleep;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return CM_OK; /* timeout, or a signal (EINTR) */
    if (PQconsumeInput(s->c) == 0)
        goto sleep;
    *woken = notified(s);
    return CM_OK;
sleep:
    /* Not an error of the caller's: its next statement reports the lost
     * connection (and reconnects). */
    (void)rc;
    poll(NULL, 0, timeout_ms);
    return CM_OK;
}

/* The statements of pg_lock by mode (bits DB_LOCK_WAIT, DB_LOCK_SHARED):
 * each answers (ignored, taken). */
static const char *const lock_sql[4] = {
    "SELECT 0, pg_try_advisory_lock(" CM_STR(PG_KEY_NAMED) ", hashtext($1))",
    "SELECT pg_advisory_lock(" CM_STR(PG_KEY_NAMED) ", hashtext($1)), true",
    "SELECT 0, pg_try_advisory_lock_shared(" CM_STR(PG_KEY_NAMED) ", hashtext($1))",
    "SELECT pg_advisory_lock_shared(" CM_STR(PG_KEY_NAMED) ", hashtext($1)), true",
};

static cm_err pg_lock(db_t *db, int *held, const char *name, int mode)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};
    PGresult *r = NULL;
    int slot = -1;
    cm_err rc;

    *held = 0;
    for (int i = 0; i < PG_LOCKS_MAX; i++) {
        assert(strcmp(s->locks[i], name) != 0); /* already held by this handle */
        if (slot < 0 && s->locks[i][0] == '\0')
            slot = i;
    }
    if (slot < 0)
        CM_FAIL(CM_ERR_STATE, "%s: too many locks held", s->url);
    p_text(&p, name);
    /* Without DB_LOCK_WAIT: a holder that was just killed still holds the
     * lock until its server process has seen the connection close (a few
     * ms): a busy lock is tried again for PG_LOCK_GRACE_MS before it counts
     * as held elsewhere (C8: a killed holder never blocks the next one). */
    for (int tries = 0;; tries++) {
        CM_TRY(pg_run(s, &r, lock_sql[mode & 3], &p, "taking a lock"));
        if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 1), "t") == 0)
            break;
        if (tries * 10 >= PG_LOCK_GRACE_MS)
            goto out; /* held elsewhere: *held stays 0 */
        PQclear(r);
        r = NULL;
        usleep(10000);
    }
    snprintf(s->locks[slot], sizeof(s->locks[slot]), "%s", name);
    s->lock_shared[slot] = (mode & DB_LOCK_SHARED) != 0;
    *held = 1;
out:
    PQclear(r);
    return rc;
}

static void pg_unlock(db_t *db, const char *name)
{
    struct pg_db *s = PDB(db);
    struct pqp p = {0};

    for (int i = 0; i < PG_LOCKS_MAX; i++)
        if (strcmp(s->locks[i], name) == 0) {
            p_text(&p, name);
            (void)pg_run(
                s, NULL,
                s->lock_shared[i]
                    ? "SELECT pg_advisory_unlock_shared(" CM_STR(PG_KEY_NAMED) ", hashtext($1))"
                    : "SELECT pg_advisory_unlock(" CM_STR(PG_KEY_NAMED) ", hashtext($1))",
                &p, "releasing a lock");
            s->locks[i][0] = '\0';
        }
}

/* One statement: one consistent view of the four marks. */
static cm_err pg_marks(db_t *db, struct db_marks *m)
{
    PGresult *r = NULL;
    cm_err rc;

    CM_TRY(pg_run(PDB(db), &r,
                  "SELECT COALESCE((SELECT value FROM counters WHERE name = 'request_id'), 0),"
                  " COALESCE((SELECT value FROM counters WHERE name = 'crl_number'), 0),"
                  " COALESCE((SELECT max(ID) FROM events), 0),"
                  " (SELECT count(*) FROM certificates)",
                  NULL, "reading the high-water marks"));
    m->last_request_id = g_int(r, 0, 0);
    m->last_crl_number = g_int(r, 0, 1);
    m->last_event_id = g_int(r, 0, 2);
    m->certificates = g_int(r, 0, 3);
out:
    PQclear(r);
    return rc;
}

/* ---- snapshots: an SQLite database written from one PostgreSQL snapshot ---- */

#define SNAP_FILE "certmint.db"

static cm_err sq_err(sqlite3 *h, const char *path, const char *what)
{
    return cm_err_set(CM_ERR_DB, "%s: %s: %s", path, what, h ? sqlite3_errmsg(h) : "out of memory");
}

/* Binds PostgreSQL's text value of column col (its type from the result)
 * to the SQLite statement's parameter col + 1. */
static int bind_pg_value(sqlite3_stmt *st, const PGresult *r, int row, int col)
{
    Oid type = PQftype(r, col);
    size_t n = 0;
    unsigned char *u;
    int x;

    if (PQgetisnull(r, row, col))
        return sqlite3_bind_null(st, col + 1);
    switch (type) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
        return sqlite3_bind_int64(st, col + 1, g_int(r, row, col));
    case 17: /* bytea */
        u = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
        if (u == NULL)
            return SQLITE_NOMEM;
        x = sqlite3_bind_blob64(st, col + 1, u, n, SQLITE_TRANSIENT);
        PQfreemem(u);
        return x;
    default:
        return sqlite3_bind_text(st, col + 1, PQgetvalue(r, row, col), -1, SQLITE_STATIC);
    }
}

/* Copies the rows of a PostgreSQL query (run through a cursor inside the
 * snapshot transaction, PG_FETCH rows at a time) into an SQLite table. */
static cm_err copy_out(struct pg_db *s, sqlite3 *h, const char *path, const char *select,
                       const char *table, const char *cols, int ncols)
{
    cm_buf b = CM_BUF_INIT(4096);
    sqlite3_stmt *st = NULL;
    PGresult *r = NULL;
    cm_err rc;

    CM_TRY(buf_printf(&b, "INSERT INTO %s(%s) VALUES (", table, cols));
    for (int i = 0; i < ncols; i++)
        CM_TRY(buf_append_str(&b, i ? ", ?" : "?"));
    CM_TRY(buf_append_str(&b, ")"));
    if (sqlite3_prepare_v2(h, buf_str(&b), -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_err(h, path, "writing the snapshot"));
    buf_reset(&b);
    CM_TRY(buf_printf(&b, "DECLARE cm_copy NO SCROLL CURSOR FOR %s", select));
    CM_TRY(pg_exec(s, buf_str(&b), "reading the snapshot"));
    for (;;) {
        CM_TRY(
            pg_run(s, &r, "FETCH " CM_STR(PG_FETCH) " FROM cm_copy", NULL, "reading the snapshot"));
        if (PQntuples(r) == 0)
            break;
        if (PQnfields(r) != ncols)
            CM_FAIL(CM_ERR_DB, "%s: %s: %d columns, expected %d", s->url, table, PQnfields(r),
                    ncols);
        for (int i = 0; i < PQntuples(r); i++) {
            for (int k = 0; k < ncols; k++)
                if (bind_pg_value(st, r, i, k) != SQLITE_OK)
                    CM_TRY(sq_err(h, path, "writing the snapshot"));
            if (sqlite3_step(st) != SQLITE_DONE)
                CM_TRY(sq_err(h, path, "writing the snapshot"));
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
        }
        PQclear(r);
        r = NULL;
    }
    CM_TRY(pg_exec(s, "CLOSE cm_copy", "reading the snapshot"));
out:
    PQclear(r);
    sqlite3_finalize(st);
    buf_free(&b);
    return rc;
}

/* Every table, the metadata and the counters (as the sqlite backend keeps
 * them: meta "counter.NAME", the outbox's in sqlite_sequence). */
static cm_err copy_all_out(struct pg_db *s, sqlite3 *h, const char *path)
{
    static const char *const seq_sql[] = {
        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'events' AND seq < ?1",
        "INSERT INTO sqlite_sequence(name, seq) SELECT 'events', ?1"
        " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')",
    };
    sqlite3_stmt *st = NULL;
    char sel[512];
    int64_t ev = 0;
    cm_err rc = CM_OK;

    for (size_t i = 0; i < NCOPY; i++) {
        snprintf(sel, sizeof(sel), "SELECT %s FROM %s ORDER BY %s", copy_tables[i].cols,
                 copy_tables[i].name, copy_tables[i].order);
        CM_TRY(copy_out(s, h, path, sel, copy_tables[i].name, copy_tables[i].cols,
                        copy_tables[i].ncols));
    }
    CM_TRY(copy_out(s, h, path,
                    "SELECT key, value FROM meta WHERE key <> 'schema_version'"
                    " UNION ALL SELECT 'counter.' || name, value::text FROM counters"
                    " WHERE name <> 'event_id'",
                    "meta", "key, value", 2));
    CM_TRY(pg_counter_get(&s->base, &ev, DB_COUNTER_EVENT_ID));
    /* AUTOINCREMENT's high-water mark (the sqlite backend's event_id). */
    for (size_t i = 0; i < 2; i++) {
        if (sqlite3_prepare_v2(h, seq_sql[i], -1, &st, NULL) != SQLITE_OK)
            CM_TRY(sq_err(h, path, "writing the snapshot"));
        sqlite3_bind_int64(st, 1, ev);
        if (sqlite3_step(st) != SQLITE_DONE)
            CM_TRY(sq_err(h, path, "writing the snapshot"));
        sqlite3_finalize(st);
        st = NULL;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* Writes the snapshot file at tmp (created by the sqlite backend, so that
 * its schema is exactly SQLite's). */
static cm_err write_snapshot(struct pg_db *s, const char *tmp)
{
    char loc[PATH_MAX + 16];
    db_t *made = NULL;
    sqlite3 *h = NULL;
    cm_err rc;

    snprintf(loc, sizeof(loc), "sqlite:%s", tmp);
    CM_TRY(db_open(&made, loc, 1));
    db_close(made);
    if (sqlite3_open_v2(tmp, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        CM_TRY(sq_err(h, tmp, "writing the snapshot"));
    /* A self-contained file (no -wal beside it), synced at COMMIT. */
    if (sqlite3_exec(h, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; BEGIN", NULL, NULL,
                     NULL) != SQLITE_OK)
        CM_TRY(sq_err(h, tmp, "writing the snapshot"));
    CM_TRY(copy_all_out(s, h, tmp));
    if (sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        CM_TRY(sq_err(h, tmp, "writing the snapshot"));
out:
    if (h != NULL)
        sqlite3_close(h);
    return rc;
}

static cm_err pg_snapshot(db_t *db, struct db_marks *marks, const char *dir, db_file_cb cb,
                          void *ctx)
{
    struct pg_db *s = PDB(db);
    char to[PATH_MAX], tmp[PATH_MAX + 32];
    int fd = -1, made = 0;
    cm_err rc;

    CM_TRY(fs_join(to, sizeof(to), dir, SNAP_FILE));
    snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", to, (long)getpid());
    (void)unlink(tmp);
    /* One snapshot of the committed state for the marks and every table. */
    CM_TRY(pg_exec(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "taking a snapshot"));
    CM_TRY(pg_marks(db, marks));
    made = 1;
    CM_TRY(write_snapshot(s, tmp));
    CM_TRY(pg_exec(s, "COMMIT", "taking a snapshot"));
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot sync: %s", tmp, strerror(errno));
    if (rename(tmp, to) != 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot rename into place: %s", to, strerror(errno));
    made = 0;
    CM_TRY(fs_sync_dir(dir));
    if (cb != NULL)
        CM_TRY(cb(ctx, SNAP_FILE));
out:
    if (fd >= 0)
        close(fd);
    pg_rollback(db);
    if (made) {
        char side[PATH_MAX + 48];
        unlink(tmp);
        snprintf(side, sizeof(side), "%s-journal", tmp);
        unlink(side);
    }
    return rc;
}

/* A PostgreSQL snapshot is an SQLite database: the sqlite backend opens it
 * (db_snapshot_open tries every backend). */
static cm_err pg_snapshot_open(db_t **out, const char *dir, db_file_cb cb, void *ctx)
{
    (void)cb;
    (void)ctx;
    *out = NULL;
    return cm_err_set(CM_ERR_NOTFOUND, "%s: no PostgreSQL snapshot (they are SQLite files)", dir);
}

/* ---- restore: an SQLite snapshot into a new PostgreSQL database ---- */

/* Opens the snapshot file read-only without changing a byte. */
static cm_err snap_open(sqlite3 **out, const char *dir)
{
    char path[PATH_MAX];
    cm_buf uri = CM_BUF_INIT(3 * PATH_MAX + 32);
    sqlite3_stmt *st = NULL;
    cm_err rc;

    *out = NULL;
    CM_TRY(fs_join(path, sizeof(path), dir, SNAP_FILE));
    if (!fs_exists(path))
        CM_FAIL(CM_ERR_NOTFOUND, "%s: no database snapshot (no %s)", dir, SNAP_FILE);
    CM_TRY(buf_append_str(&uri, "file:"));
    for (const char *p = path; *p; p++)
        if (*p == '%' || *p == '?' || *p == '#')
            CM_TRY(buf_printf(&uri, "%%%02X", (unsigned char)*p));
        else
            CM_TRY(buf_append(&uri, p, 1));
    CM_TRY(buf_append_str(&uri, "?immutable=1"));
    if (sqlite3_open_v2(buf_str(&uri), out, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
        SQLITE_OK)
        CM_TRY(sq_err(*out, path, "cannot open the snapshot"));
    if (sqlite3_prepare_v2(*out, "PRAGMA application_id", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != DB_SQLITE_APPLICATION_ID)
        CM_FAIL(CM_ERR_DB, "%s: not a certmint database snapshot", path);
out:
    sqlite3_finalize(st);
    buf_free(&uri);
    if (rc != CM_OK && *out != NULL) {
        sqlite3_close(*out);
        *out = NULL;
    }
    return rc;
}

/* One row of an SQLite statement as PostgreSQL parameters. */
static void sqlite_row_params(struct pqp *p, sqlite3_stmt *st, int ncols)
{
    p->n = 0;
    for (int k = 0; k < ncols; k++) {
        switch (sqlite3_column_type(st, k)) {
        case SQLITE_NULL:
            p_text(p, NULL);
            break;
        case SQLITE_INTEGER:
            p_int(p, sqlite3_column_int64(st, k));
            break;
        case SQLITE_BLOB:
            p_blob(p, sqlite3_column_blob(st, k), (size_t)sqlite3_column_bytes(st, k));
            break;
        default:
            p_text(p, (const char *)sqlite3_column_text(st, k));
            break;
        }
    }
}

/* Copies the rows of an SQLite query into PostgreSQL with insert (ncols
 * parameters). */
static cm_err copy_in(struct pg_db *s, sqlite3 *h, const char *select, const char *insert,
                      int ncols)
{
    sqlite3_stmt *st = NULL;
    struct pqp p = {0};
    int x;
    cm_err rc = CM_OK;

    if (sqlite3_prepare_v2(h, select, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_err(h, "snapshot", "reading the snapshot"));
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite_row_params(&p, st, ncols);
        CM_TRY(pg_run(s, NULL, insert, &p, "restoring the snapshot"));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_err(h, "snapshot", "reading the snapshot"));
out:
    sqlite3_finalize(st);
    return rc;
}

/* Whether the snapshot has the table (one made before it existed does not). */
static int snapshot_has(sqlite3 *h, const char *table)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static cm_err copy_all_in(struct pg_db *s, sqlite3 *h)
{
    char sel[512];
    cm_buf ins = CM_BUF_INIT(4096);
    cm_err rc = CM_OK;

    for (size_t i = 0; i < NCOPY; i++) {
        if (copy_tables[i].optional && !snapshot_has(h, copy_tables[i].name))
            continue;
        snprintf(sel, sizeof(sel), "SELECT %s FROM %s ORDER BY %s", copy_tables[i].cols,
                 copy_tables[i].name, copy_tables[i].order);
        buf_reset(&ins);
        CM_TRY(buf_printf(&ins, "INSERT INTO %s(%s) VALUES (", copy_tables[i].name,
                          copy_tables[i].cols));
        for (int k = 1; k <= copy_tables[i].ncols; k++)
            CM_TRY(buf_printf(&ins, "%s$%d", k > 1 ? ", " : "", k));
        CM_TRY(buf_append_str(&ins, ")"));
        CM_TRY(copy_in(s, h, sel, buf_str(&ins), copy_tables[i].ncols));
    }
    /* Counters (C3 across a restore: they go on from the snapshot's). */
    CM_TRY(copy_in(s, h,
                   "SELECT substr(key, 9), CAST(value AS INTEGER) FROM meta"
                   " WHERE key LIKE 'counter.%'",
                   "INSERT INTO counters(name, value) VALUES ($1, $2)", 2));
    CM_TRY(copy_in(s, h,
                   "SELECT 'event_id', max(COALESCE((SELECT seq FROM sqlite_sequence"
                   " WHERE name = 'events'), 0), COALESCE((SELECT max(ID) FROM events), 0))",
                   "INSERT INTO counters(name, value) VALUES ($1, $2) ON CONFLICT (name)"
                   " DO UPDATE SET value = GREATEST(counters.value, EXCLUDED.value)",
                   2));
    CM_TRY(copy_in(s, h,
                   "SELECT key, value FROM meta WHERE key <> 'schema_version'"
                   " AND key NOT LIKE 'counter.%'",
                   "INSERT INTO meta(key, value) VALUES ($1, $2)", 2));
    CM_TRY(pg_exec(s,
                   "SELECT setval(pg_get_serial_sequence('audit', 'id'),"
                   " COALESCE((SELECT max(ID) FROM audit), 0) + 1, false)",
                   "restoring the snapshot"));
out:
    buf_free(&ins);
    return rc;
}

static cm_err pg_restore(const char *location, const char *dir)
{
    sqlite3 *h = NULL;
    db_t *db = NULL;
    int made = 0;
    cm_err rc;

    CM_TRY(snap_open(&h, dir));
    CM_TRY(pg_open(&db, location, 1));
    made = 1;
    /* One transaction: a restore that fails leaves nothing half-copied
     * (and the database it made is dropped below). */
    CM_TRY(pg_begin(db));
    CM_TRY(copy_all_in(PDB(db), h));
    CM_TRY(pg_commit(db));
    made = 0;
out:
    if (db != NULL) {
        pg_rollback(db);
        pg_close(db);
    }
    if (made)
        (void)pg_remove(location);
    if (h != NULL)
        sqlite3_close(h);
    return rc;
}

/* ---- integrity (C10) ---- */

/* The first row of sql, if any, names the damage. */
static cm_err check_query(struct pg_db *s, const char *sql, const char *what)
{
    PGresult *r = NULL;
    cm_err rc;

    CM_TRY(pg_run(s, &r, sql, NULL, "integrity check"));
    if (PQntuples(r) > 0)
        CM_FAIL(CM_ERR_DB, "%s: integrity check failed: %s: %s", s->url, what, PQgetvalue(r, 0, 0));
out:
    PQclear(r);
    return rc;
}

/* What PostgreSQL itself keeps sound (pages, WAL) is its business; this
 * checks what certmint relies on: the schema version, every constraint
 * present and validated, no dangling reference, counters above the rows. */
static cm_err pg_check(db_t *db)
{
    struct pg_db *s = PDB(db);
    cm_buf b = CM_BUF_INIT(4096);
    int64_t ver = 0;
    cm_err rc;

    CM_TRY(schema_version(s, &ver));
    if (ver != PG_SCHEMA_VERSION)
        CM_FAIL(CM_ERR_DB, "%s: integrity check failed: schema version %" PRId64 ", expected %d",
                s->url, ver, PG_SCHEMA_VERSION);
    CM_TRY(buf_append_str(&b, "SELECT n FROM unnest(ARRAY["));
    for (size_t i = 0; i < sizeof(expected_constraints) / sizeof(expected_constraints[0]); i++)
        CM_TRY(buf_printf(&b, "%s'%s'", i ? ", " : "", expected_constraints[i]));
    CM_TRY(buf_append_str(&b, "]) AS n WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c"
                              " JOIN pg_namespace ns ON ns.oid = c.connamespace"
                              " WHERE c.conname = n AND ns.nspname = current_schema()"
                              " AND c.convalidated)"));
    CM_TRY(check_query(s, buf_str(&b), "constraint missing or not validated"));
    CM_TRY(check_query(s,
                       "SELECT c.SerialNumber FROM certificates c LEFT JOIN requests r"
                       " ON r.RequestID = c.RequestID WHERE r.RequestID IS NULL LIMIT 1",
                       "a certificate refers to a missing request"));
    CM_TRY(check_query(s,
                       "SELECT 'request_id' WHERE (SELECT max(RequestID) FROM requests) >"
                       " COALESCE((SELECT value FROM counters WHERE name = 'request_id'), 0)"
                       " UNION ALL SELECT 'event_id' WHERE (SELECT max(ID) FROM events) >"
                       " COALESCE((SELECT value FROM counters WHERE name = 'event_id'), 0)"
                       " UNION ALL SELECT 'crl_number' WHERE (SELECT max(Number) FROM crls) >"
                       " COALESCE((SELECT value FROM counters WHERE name = 'crl_number'), 0)",
                       "a counter is below the rows it numbered"));
out:
    buf_free(&b);
    return rc;
}

const struct db_ops db_postgresql_ops = {
    .version = DB_OPS_VERSION,
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .counter_next = pg_counter_next,
    .counter_raise = pg_counter_raise,
    .request_insert = pg_request_insert,
    .request_get = pg_request_get,
    .request_resolve = pg_request_resolve,
    .request_list = pg_request_list,
    .cert_insert = pg_cert_insert,
    .cert_get = pg_cert_get,
    .cert_get_by_request = pg_cert_get_by_request,
    .cert_set_withheld = pg_cert_set_withheld,
    .cert_revoke = pg_cert_revoke,
    .cert_unrevoke = pg_cert_unrevoke,
    .revoked_iter = pg_revoked_iter,
    .crl_insert = pg_crl_insert,
    .crl_last = pg_crl_last,
    .audit_append = pg_audit_append,
    .view = pg_view,
    .event_enqueue = pg_event_enqueue,
    .event_iter = pg_event_iter,
    .poison_add = pg_poison_add,
    .poison_del = pg_poison_del,
    .poison_iter = pg_poison_iter,
    .audit_iter = pg_audit_iter,
    .cert_fill_placeholder = pg_cert_fill_placeholder,
    .home_location = pg_home_location,
    .clone = pg_clone,
    .remove = pg_remove,
    .counter_get = pg_counter_get,
    .lock = pg_lock,
    .unlock = pg_unlock,
    .marks = pg_marks,
    .snapshot = pg_snapshot,
    .snapshot_open = pg_snapshot_open,
    .restore = pg_restore,
    .check = pg_check,
    .wait = pg_wait,
    .vault_insert = pg_vault_insert,
    .vault_update = pg_vault_update,
    .vault_iter = pg_vault_iter,
};

#else
/* Built without libpq (libpq-dev): no PostgreSQL backend. */
typedef int db_postgres_unused;
#endif /* CM_HAVE_PQ */
