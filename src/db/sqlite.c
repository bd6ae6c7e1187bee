/* The SQLite backend of the certificate database.
 *
 * One file, WAL journal, synchronous=FULL: a commit that returned is on disk.
 * Every fixed statement is prepared once per connection and cached (the
 * issuance path inserts tens of thousands of rows a second inside one
 * transaction); statements of iterators are prepared per call so that a
 * callback may use the database again.
 *
 * Tables (column names are AD CS's, so the view needs no renaming):
 *   meta          key/value: schema_version, counters ("counter.KEY")
 *   requests      one row per request; RequestID from the request_id counter
 *   certificates  one row per certificate, revocation state on the row
 *   crls          every CRL published
 *   audit         append-only (triggers refuse UPDATE and DELETE)
 *   events        exit-module outbox, ID strictly increasing (AUTOINCREMENT)
 *   certview      requests LEFT JOIN certificates: what db_view() reads
 *
 * Times are unix seconds (INTEGER); "none" (0 in the structs) is NULL. */
#include "db/sqlite.h"

#include "db/certview.h"
#include "db/walbuf.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a writer waits for another process's transaction to end. */
#define BUSY_TIMEOUT_MS 10000

/* Poisoned events (docs/exit-modules.md): an event one exit module cannot
 * deliver as it is, moved aside so that the events behind it flow on. Added
 * after schema version 1 without a version change: an existing database
 * gains the table when it is opened (sq_open), older builds ignore it. */
#define POISON_TABLE_SQL                                                                           \
    "CREATE TABLE IF NOT EXISTS event_poison ("                                                    \
    "  Module TEXT NOT NULL,"                                                                      \
    "  EventID INTEGER NOT NULL,"                                                                  \
    "  Reason TEXT NOT NULL,"                                                                      \
    "  Since INTEGER NOT NULL,"                                                                    \
    "  Attempts INTEGER NOT NULL DEFAULT 1,"                                                       \
    "  PRIMARY KEY (Module, EventID)"                                                              \
    ");"

/* The vault of key archival and enrollment tokens (issue 12, db.h): added
 * like event_poison, on open, without a schema version change. */
#define VAULT_TABLE_SQL                                                                            \
    "CREATE TABLE IF NOT EXISTS vault ("                                                           \
    "  Kind TEXT NOT NULL,"                                                                        \
    "  Name TEXT NOT NULL,"                                                                        \
    "  State INTEGER NOT NULL,"                                                                    \
    "  Created INTEGER NOT NULL,"                                                                  \
    "  Body BLOB,"                                                                                 \
    "  PRIMARY KEY (Kind, Name)"                                                                   \
    ");"

/* The CHECK constraints are written as OR-ed equalities, not IN lists:
 * SQLite 3.40 builds an ephemeral b-tree for an IN list on every row it
 * checks, a third of the cost of a certificate's insert (measured with
 * callgrind). Databases created before keep their IN lists (same meaning). */
static const char schema_sql[] =
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;"
    /* RequestID is the rowid: lookups by it are primary-key lookups. */
    "CREATE TABLE requests ("
    "  RequestID INTEGER PRIMARY KEY,"
    "  RequesterName TEXT,"
    "  SubmittedWhen INTEGER,"
    "  ResolvedWhen INTEGER,"
    "  Disposition INTEGER NOT NULL CHECK (Disposition = 9 OR Disposition = 12 OR"
    "    Disposition = 20 OR Disposition = 30 OR Disposition = 31),"
    "  DispositionMessage TEXT,"
    "  CertificateTemplate TEXT,"
    "  RequestDistinguishedName TEXT,"
    "  RecoveredFrom TEXT,"
    "  RawRequest BLOB"
    ");"
    "CREATE INDEX requests_disposition ON requests(Disposition);"
    /* The large DER goes last: SQLite reads a row's columns in order, so
     * the descriptive columns stay on the row's first page. */
    "CREATE TABLE certificates ("
    "  SerialNumber TEXT PRIMARY KEY NOT NULL,"
    "  RequestID INTEGER NOT NULL UNIQUE REFERENCES requests(RequestID),"
    "  Origin INTEGER NOT NULL DEFAULT 0 CHECK (Origin = 0 OR Origin = 1 OR"
    "    Origin = 2),"
    "  NotBefore INTEGER,"
    "  NotAfter INTEGER,"
    "  DistinguishedName TEXT,"
    "  CommonName TEXT,"
    "  EMail TEXT,"
    "  SubjectAltNames TEXT,"
    "  CertificateHash TEXT,"
    "  SubjectKeyIdentifier TEXT,"
    "  CertificateTemplate TEXT,"
    /* RFC 5280 5.3.1 codes; removeFromCRL (8) is never stored, it is
     * derived for delta CRLs from released holds. */
    "  RevokedReason INTEGER CHECK (RevokedReason IS NULL OR RevokedReason = 0 OR"
    "    RevokedReason = 1 OR RevokedReason = 2 OR RevokedReason = 3 OR RevokedReason = 4 OR"
    "    RevokedReason = 5 OR RevokedReason = 6 OR RevokedReason = 9 OR RevokedReason = 10),"
    "  RevokedWhen INTEGER,"
    "  RevokedEffectiveWhen INTEGER,"
    "  InvalidityDate INTEGER,"
    "  RevSeq INTEGER,"
    "  HoldSeq INTEGER,"
    "  ReleasedWhen INTEGER,"
    "  Withheld INTEGER NOT NULL DEFAULT 0 CHECK (Withheld = 0 OR Withheld = 1),"
    "  RecoveredFrom TEXT,"
    "  RawCertificate BLOB"
    ");"
    "CREATE INDEX certificates_notafter ON certificates(NotAfter);"
    "CREATE INDEX certificates_cn ON certificates(CommonName);"
    "CREATE INDEX certificates_revseq ON certificates(RevSeq) WHERE RevSeq IS NOT NULL;"
    /* Covering partial index: a full CRL walks only the revoked rows, in
     * serial order, without touching the table. */
    "CREATE INDEX certificates_revoked ON certificates(SerialNumber, RevokedReason,"
    "  RevokedEffectiveWhen, InvalidityDate) WHERE RevokedReason IS NOT NULL;"
    "CREATE TABLE crls ("
    "  Number INTEGER PRIMARY KEY,"
    "  IsDelta INTEGER NOT NULL CHECK (IsDelta IN (0, 1)),"
    "  BaseNumber INTEGER,"
    "  ThisUpdate INTEGER NOT NULL,"
    "  NextUpdate INTEGER NOT NULL,"
    "  RevSeq INTEGER NOT NULL,"
    "  Entries INTEGER NOT NULL,"
    "  Hash TEXT"
    ");"
    "CREATE INDEX crls_kind ON crls(IsDelta, Number);"
    /* No AUTOINCREMENT: the triggers refuse DELETE, so the next rowid
     * (max + 1) is already strictly increasing, and AUTOINCREMENT would
     * read and rewrite sqlite_sequence on every insert (3,900 of the
     * writer's 61,400 instructions per certificate of a batch, callgrind;
     * a restore inserts the IDs it is given either way). Databases
     * created before keep AUTOINCREMENT (same IDs, same order). */
    "CREATE TABLE audit ("
    "  ID INTEGER PRIMARY KEY,"
    "  \"When\" INTEGER NOT NULL,"
    "  Who TEXT NOT NULL,"
    "  Action TEXT NOT NULL,"
    "  RequestID INTEGER,"
    "  SerialNumber TEXT,"
    "  Details TEXT"
    ");"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    /* AUTOINCREMENT: an ID is never reused, even after the newest events
     * are deleted, so an exit module's "delivered up to ID" stays true. */
    "CREATE TABLE events ("
    "  ID INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  Type INTEGER NOT NULL,"
    "  RequestID INTEGER,"
    "  SerialNumber TEXT,"
    "  Created INTEGER NOT NULL,"
    "  Payload TEXT"
    ");" POISON_TABLE_SQL VAULT_TABLE_SQL
    /* The view of AD CS: one row per request with its certificate, if any.
     * Disposition says 21 (revoked) while the certificate is revoked;
     * RequestDisposition (not a db_columns entry) keeps the stored value
     * so that `Disposition = issued` can use requests_disposition. */
    DB_CERTVIEW_SQL;

/* The cached statements. */
enum st {
    ST_META_GET,
    ST_META_SET,
    ST_REQ_MAXID,
    ST_REQ_INSERT,
    ST_REQ_GET,
    ST_REQ_RESOLVE,
    ST_CERT_INSERT,
    ST_CERT_GET,
    ST_CERT_GET_BY_REQ,
    ST_CERT_WITHHELD,
    ST_CERT_REASON,
    ST_CERT_REVOKE,
    ST_CERT_UNREVOKE,
    ST_CRL_INSERT,
    ST_CRL_LAST,
    ST_AUDIT_INSERT,
    ST_EVENT_INSERT,
    ST__COUNT
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

static const char *const st_sql[ST__COUNT] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_REQ_MAXID] = "SELECT max(RequestID) FROM requests",
    [ST_REQ_INSERT] = "INSERT INTO requests(" REQ_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                      " ?9, ?10)",
    [ST_REQ_GET] = "SELECT " REQ_COLS " FROM requests WHERE RequestID = ?1",
    /* Compare-and-set: only a pending request is resolved, so that of two
     * officers racing (approve against deny) exactly one wins. */
    [ST_REQ_RESOLVE] = "UPDATE requests SET Disposition = ?2, DispositionMessage = ?3,"
                       " ResolvedWhen = ?4 WHERE RequestID = ?1 AND Disposition = ?5",
    [ST_CERT_INSERT] = "INSERT INTO certificates(" CERT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                       " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,"
                       " ?22)",
    [ST_CERT_GET] = "SELECT " CERT_COLS " FROM certificates WHERE SerialNumber = ?1",
    [ST_CERT_GET_BY_REQ] = "SELECT " CERT_COLS " FROM certificates WHERE RequestID = ?1",
    [ST_CERT_WITHHELD] = "UPDATE certificates SET Withheld = ?2 WHERE SerialNumber = ?1",
    [ST_CERT_REASON] = "SELECT RevokedReason FROM certificates WHERE SerialNumber = ?1",
    [ST_CERT_REVOKE] = "UPDATE certificates SET RevokedReason = ?2, RevokedWhen = ?3,"
                       " RevokedEffectiveWhen = ?4, InvalidityDate = ?5, RevSeq = ?6"
                       " WHERE SerialNumber = ?1 AND RevokedReason IS ?7",
    /* HoldSeq keeps the sequence of the first hold ever released: a delta
     * CRL whose base was taken during any earlier hold then still gets its
     * removeFromCRL entry (a removal of an entry the base lacks is
     * harmless, a missing removal is not). */
    [ST_CERT_UNREVOKE] = "UPDATE certificates SET HoldSeq = COALESCE(HoldSeq, RevSeq),"
                         " RevSeq = ?3, ReleasedWhen = ?2, RevokedReason = NULL,"
                         " RevokedWhen = NULL, RevokedEffectiveWhen = NULL, InvalidityDate = NULL"
                         " WHERE SerialNumber = ?1 AND RevokedReason = 6",
    [ST_CRL_INSERT] = "INSERT INTO crls(Number, IsDelta, BaseNumber, ThisUpdate, NextUpdate,"
                      " RevSeq, Entries, Hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_CRL_LAST] = "SELECT Number, IsDelta, BaseNumber, ThisUpdate, NextUpdate, RevSeq, Entries,"
                    " Hash FROM crls WHERE IsDelta = ?1 ORDER BY Number DESC LIMIT 1",
    [ST_AUDIT_INSERT] = "INSERT INTO audit(\"When\", Who, Action, RequestID, SerialNumber,"
                        " Details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_EVENT_INSERT] = "INSERT INTO events(Type, RequestID, SerialNumber, Created, Payload)"
                        " VALUES (?1, ?2, ?3, ?4, ?5)",
};

/* Rows of the issuance path kept back inside a transaction and sent as
 * multi-row INSERTs (rows_flush): a new request (its RequestID from the
 * counter), a certificate just signed, an event, an audit record. One
 * statement per ROWS_CHUNK rows instead of one per row: each statement
 * opens a cursor on every b-tree it writes (the certificate's table and
 * four indexes) and seeks each from its root, and AUTOINCREMENT reads and
 * rewrites sqlite_sequence once per statement; 16 rows a statement took
 * the four tables' inserts and the commit from 60,100 to 36,900
 * instructions per certificate (callgrind, bench/README.md, issue 10,
 * session 11). The rows go out in the order requests, certificates,
 * events, audit (a certificate's request first) before any other
 * statement of the transaction and at its commit, so that every read sees
 * them; a refusal (db.h C4: only a damaged table or a 64-bit serial
 * collision can refuse these rows) fails the transaction there. */
#define ROWS_CHUNK 32
/* At most this many bytes of rows kept back per table (a group of
 * submit.batch_group certificates is a few MiB). */
#define ROWS_BYTES (1024u * 1024u * 1024u)
enum { ROWS_REQUESTS, ROWS_CERTS, ROWS_EVENTS, ROWS_AUDIT, ROWS_N };

/* One value kept back: an integer, NULL, or text or blob in the data. */
struct sq_val {
    int type; /* SQLITE_INTEGER, SQLITE_NULL, SQLITE_TEXT, SQLITE_BLOB */
    int64_t i;
    size_t off, len;
};

struct sq_rows {
    cm_buf data;
    struct sq_val *v;
    size_t nv, cap;
    sqlite3_stmt *chunk, *one; /* INSERTs of ROWS_CHUNK rows and of one row */
};

static const struct {
    const char *insert; /* up to VALUES */
    int ncols;
    const char *what;
} rows_table[ROWS_N] = {
    {"INSERT INTO requests(" REQ_COLS ") VALUES ", 10, "inserting requests"},
    {"INSERT INTO certificates(" CERT_COLS ") VALUES ", 22, "inserting certificates"},
    {"INSERT INTO events(ID, Type, RequestID, SerialNumber, Created, Payload) VALUES ", 6,
     "queueing events"},
    {"INSERT INTO audit(\"When\", Who, Action, RequestID, SerialNumber, Details) VALUES ", 6,
     "appending to the audit log"},
};

/* Named locks held by a handle (db_lock): each an flock on its own open
 * file, so two handles of one process exclude each other as two processes
 * do. */
#define SQ_LOCKS_MAX 4

/* The WAL checkpointer (one per connection that writes enough): SQLite's
 * automatic checkpoint runs in the committing thread, inside the commit of
 * every transaction that takes the WAL past 1,000 pages, and copies the
 * pages into the database file and fsyncs it there: about 3 us per
 * certificate of a batch's writer (bench/README.md). Instead the commit
 * only signals this thread, which checkpoints (PASSIVE: it never waits for
 * and never blocks the writer) on its own connection. Crash safety is
 * SQLite's either way: a checkpoint copies committed frames only. If the
 * thread falls far behind, the writer checkpoints itself, as before. */
#define CKPT_PAGES 1000        /* SQLite's own autocheckpoint threshold */
#define CKPT_INLINE_PAGES 8000 /* the thread is behind: checkpoint inline */

struct sq_ckpt {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    pid_t pid;      /* the process that started the thread (0: none) */
    int want;       /* a checkpoint is asked for */
    int stop;       /* sq_close: end the thread */
    long long runs; /* checkpoints the thread ran */
};

struct sqlite_db {
    struct db base; /* first: db.c sees a db_t */
    sqlite3 *h;
    char *path;
    struct sq_ckpt ck;
    sqlite3_stmt *st[ST__COUNT];
    /* The RequestID counter inside a write transaction: read once by the
     * first insert, handed out from memory, written back before the
     * commit (rid_flush). BEGIN IMMEDIATE keeps every other writer out
     * meanwhile, so the cache cannot go stale (C2, C3). */
    int64_t rid_last;
    int rid_known, rid_dirty;
    /* Rows kept back (rows_flush) while hold is set (sq_begin to the
     * commit or rollback); event IDs of kept rows are handed out from
     * ev_last as RequestIDs are. rows_failed: a flush was refused, the
     * transaction can only roll back. */
    struct sq_rows rows[ROWS_N];
    size_t kept;
    int hold, ev_known;
    int64_t ev_last;
    cm_err rows_failed;
    struct {
        char name[65]; /* "" = free slot */
        int fd;
    } locks[SQ_LOCKS_MAX];
};

/* The database file of a CA home, and of a snapshot directory. */
#define SQ_HOME_FILE "certmint.db"

#define SDB(db) ((struct sqlite_db *)(void *)(db))

/* The one error shape of this file: "PATH: what: SQLite's message". */
/* 1 for SQLite results that come from the operating system (I/O, space,
 * permissions, a read-only file system), not from the database's content. */
static int sq_is_os_error(int code)
{
    switch (code & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return 1;
    default:
        return 0;
    }
}

/* The error of the last call, with the operating system's reason when there
 * is one ("disk I/O error (No space left on device)"): disk full, read-only
 * file system and permission denied each read as what they are. */
static cm_err sq_fail(struct sqlite_db *s, const char *what)
{
    int code = sqlite3_extended_errcode(s->h), sys = sqlite3_system_errno(s->h);
    /* Rows kept back were refused when this statement flushed them: their
     * error (CM_ERR_EXISTS for a taken serial), not the statement's. */
    if (s->rows_failed != CM_OK)
        return cm_err_set(s->rows_failed, "%s: %s: rows of this transaction refused: %s", s->path,
                          what, sqlite3_errmsg(s->h));
    if (sq_is_os_error(code) && sys != 0)
        return cm_err_set(CM_ERR_IO, "%s: %s: %s (%s)", s->path, what, strerror(sys),
                          sqlite3_errmsg(s->h));
    if (sq_is_os_error(code))
        return cm_err_set(CM_ERR_IO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->h));
    return cm_err_set(CM_ERR_DB, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->h));
}

static cm_err rows_flush(struct sqlite_db *s);

static cm_err sq_exec(struct sqlite_db *s, const char *sql, const char *what)
{
    cm_err rc = rows_flush(s);
    if (rc != CM_OK)
        return rc;
    if (sqlite3_exec(s->h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(s, what);
    return CM_OK;
}

/* A cached statement, reset and ready for binding. */
static cm_err st_get(struct sqlite_db *s, sqlite3_stmt **out, enum st id)
{
    cm_err rc = s->kept > 0 || s->rows_failed != CM_OK ? rows_flush(s) : CM_OK;

    *out = NULL;
    if (rc != CM_OK)
        return rc;
    if (s->st[id] == NULL && sqlite3_prepare_v3(s->h, st_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                                &s->st[id], NULL) != SQLITE_OK)
        return sq_fail(s, "preparing a statement");
    *out = s->st[id];
    return CM_OK;
}

/* Ends the use of a cached statement: no read stays open, no pointer to
 * the caller's data stays bound. */
static void st_done(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* 0 means "none" for every time and sequence in the structs. */
static int bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_blob(sqlite3_stmt *st, int i, const unsigned char *p, size_t n)
{
    if (p == NULL)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
}

static int64_t col_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i); /* NULL reads as 0 */
}

/* Copies a text column; NULL stays NULL. Sets *nomem on failure. */
static char *col_dup(sqlite3_stmt *st, int i, int *nomem)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    char *d;
    if (t == NULL)
        return NULL;
    d = strdup((const char *)t);
    if (d == NULL)
        *nomem = 1;
    return d;
}

static unsigned char *col_blob_dup(sqlite3_stmt *st, int i, size_t *len, int *nomem)
{
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    unsigned char *d;

    *len = 0;
    if (p == NULL || n <= 0)
        return NULL;
    d = malloc((size_t)n);
    if (d == NULL) {
        *nomem = 1;
        return NULL;
    }
    memcpy(d, p, (size_t)n);
    *len = (size_t)n;
    return d;
}

/* ---- rows kept back (see ROWS_CHUNK) ---- */

/* Room for one more row of table t; 0 when it cannot be kept (no memory:
 * the transaction fails, the row was not added). */
static cm_err rows_reserve(struct sqlite_db *s, int t)
{
    struct sq_rows *w = &s->rows[t];
    size_t n = (size_t)rows_table[t].ncols;

    if (w->nv + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64 * n;
        struct sq_val *v = realloc(w->v, cap * sizeof(*v));
        if (v == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        w->v = v;
        w->cap = cap;
    }
    return CM_OK;
}

static void val_int(struct sq_rows *w, int64_t i)
{
    struct sq_val *v = &w->v[w->nv++];
    v->type = SQLITE_INTEGER;
    v->i = i;
}

static void val_null(struct sq_rows *w)
{
    w->v[w->nv++].type = SQLITE_NULL;
}

/* 0 means "none", as bind_opt_int. */
static void val_opt_int(struct sq_rows *w, int64_t i)
{
    if (i != 0)
        val_int(w, i);
    else
        val_null(w);
}

/* Text or blob, copied (NULL stays NULL). A failure leaves the row
 * half-made: the caller fails the transaction (rows_failed). */
static cm_err val_bytes(struct sq_rows *w, int type, const void *p, size_t n)
{
    struct sq_val *v = &w->v[w->nv++];

    v->type = p == NULL ? SQLITE_NULL : type;
    v->off = w->data.len;
    v->len = n;
    if (p == NULL || n == 0)
        return CM_OK;
    /* The common case without buf_append's checks: room for it. */
    if (w->data.len + n < w->data.cap && w->data.len + n <= w->data.max) {
        memcpy(w->data.data + w->data.len, p, n);
        w->data.len += n;
        return CM_OK;
    }
    return buf_append(&w->data, p, n);
}

static cm_err val_text(struct sq_rows *w, const char *p)
{
    return val_bytes(w, SQLITE_TEXT, p, p != NULL ? strlen(p) : 0);
}

/* A row is complete: counted, or the transaction is failed. */
static cm_err rows_added(struct sqlite_db *s, cm_err rc)
{
    if (rc != CM_OK)
        s->rows_failed = rc;
    else
        s->kept++;
    return rc;
}

/* The INSERT of nrows rows of table t, prepared once per connection. */
static cm_err rows_prepare(struct sqlite_db *s, sqlite3_stmt **out, int t, size_t nrows)
{
    cm_buf sql = CM_BUF_INIT(1 << 20);
    int nc = rows_table[t].ncols;
    cm_err rc = CM_OK;

    if (*out != NULL)
        return CM_OK;
    CM_TRY(buf_append_str(&sql, rows_table[t].insert));
    for (size_t r = 0; r < nrows; r++)
        for (int c = 0; c < nc; c++)
            CM_TRY(buf_append_str(&sql, c == 0 ? (r ? "), (?" : "(?") : ", ?"));
    CM_TRY(buf_append_str(&sql, ")"));
    if (sqlite3_prepare_v3(s->h, buf_str(&sql), -1, SQLITE_PREPARE_PERSISTENT, out, NULL) !=
        SQLITE_OK)
        CM_TRY(sq_fail(s, "preparing a statement"));
out:
    buf_free(&sql);
    return rc;
}

/* Binds the values [from, from + n) of table t's rows to st's parameters. */
static void rows_bind(struct sq_rows *w, sqlite3_stmt *st, size_t from, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const struct sq_val *v = &w->v[from + k];
        const char *p = "";
        int i = (int)k + 1;

        /* An empty text or blob is not NULL: it needs a pointer. */
        if ((v->type == SQLITE_TEXT || v->type == SQLITE_BLOB) && v->len > 0)
            p = (const char *)w->data.data + v->off;
        if (v->type == SQLITE_INTEGER)
            sqlite3_bind_int64(st, i, v->i);
        else if (v->type == SQLITE_TEXT)
            sqlite3_bind_text64(st, i, p, v->len, SQLITE_STATIC, SQLITE_UTF8);
        else if (v->type == SQLITE_BLOB)
            sqlite3_bind_blob64(st, i, p, v->len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, i);
    }
}

/* The error of a refused INSERT of table t's rows. */
static cm_err rows_refused(struct sqlite_db *s, int t)
{
    switch (sqlite3_extended_errcode(s->h)) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return cm_err_set(CM_ERR_EXISTS, "%s: %s: a %s already in the database", s->path,
                          rows_table[t].what,
                          t == ROWS_CERTS      ? "serial number"
                          : t == ROWS_REQUESTS ? "RequestID"
                                               : "row ID");
    case SQLITE_CONSTRAINT_UNIQUE:
        return cm_err_set(CM_ERR_EXISTS, "%s: %s: a request already has a certificate", s->path,
                          rows_table[t].what);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return cm_err_set(CM_ERR_NOTFOUND, "%s: %s: a request is not in the database", s->path,
                          rows_table[t].what);
    default:
        return sq_fail(s, rows_table[t].what);
    }
}

/* Sends the rows kept back of table t: ROWS_CHUNK a statement, the rest
 * one a statement. */
static cm_err rows_send(struct sqlite_db *s, int t)
{
    struct sq_rows *w = &s->rows[t];
    size_t nc = (size_t)rows_table[t].ncols, n = w->nv / nc, i, k;
    sqlite3_stmt *st = NULL;
    cm_err rc = CM_OK;

    for (i = 0; i < n; i += k) {
        k = n - i >= ROWS_CHUNK ? ROWS_CHUNK : 1;
        CM_TRY(rows_prepare(s, k > 1 ? &w->chunk : &w->one, t, k));
        st = k > 1 ? w->chunk : w->one;
        rows_bind(w, st, i * nc, k * nc);
        if (sqlite3_step(st) != SQLITE_DONE)
            CM_TRY(rows_refused(s, t));
        /* No sqlite3_clear_bindings (hundreds of parameters): every one is
         * bound again before the next step, and what they point to is the
         * handle's own buffer (freed after the statements, rows_free). */
        sqlite3_reset(st);
        st = NULL;
    }
out:
    if (st != NULL)
        sqlite3_reset(st);
    return rc;
}

/* Forgets the rows kept back (after they went out, or at a rollback). */
static void rows_discard(struct sqlite_db *s)
{
    for (int t = 0; t < ROWS_N; t++) {
        s->rows[t].nv = 0;
        s->rows[t].data.len = 0;
    }
    s->kept = 0;
    s->ev_known = 0;
}

/* Sends every row kept back, in the order of rows_table: before any other
 * statement of the transaction (st_get, sq_prepare, sq_exec) and at the
 * commit. After a refusal every later statement of the transaction fails
 * too: it can only roll back. */
static cm_err rows_flush(struct sqlite_db *s)
{
    cm_err rc = CM_OK;

    if (s->rows_failed != CM_OK)
        return cm_err_set(s->rows_failed,
                          "%s: rows of this transaction were refused: it must roll back", s->path);
    if (s->kept == 0)
        return CM_OK;
    for (int t = 0; t < ROWS_N && rc == CM_OK; t++)
        rc = rows_send(s, t);
    rows_discard(s);
    if (rc != CM_OK)
        s->rows_failed = rc;
    return rc;
}

static void rows_free(struct sqlite_db *s)
{
    for (int t = 0; t < ROWS_N; t++) {
        buf_free(&s->rows[t].data);
        free(s->rows[t].v);
        s->rows[t].v = NULL;
        s->rows[t].nv = s->rows[t].cap = 0;
        sqlite3_finalize(s->rows[t].chunk);
        sqlite3_finalize(s->rows[t].one);
        s->rows[t].chunk = s->rows[t].one = NULL;
    }
}

/* sqlite3_prepare_v2 after the rows kept back went out (SQLITE_ABORT if
 * they were refused: the error is set). */
static int sq_prepare(struct sqlite_db *s, const char *sql, int n, sqlite3_stmt **st,
                      const char **tail)
{
    if (rows_flush(s) != CM_OK) {
        *st = NULL;
        return SQLITE_ABORT;
    }
    return sqlite3_prepare_v2(s->h, sql, n, st, tail);
}

/* ---- meta and counters ---- */

static cm_err sq_meta_get(db_t *db, char **out, const char *key)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc;
    int nomem = 0, r;

    *out = NULL;
    CM_TRY(st_get(s, &st, ST_META_GET));
    bind_text(st, 1, key);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *out = col_dup(st, 0, &nomem);
        CM_NOMEM_IF(nomem);
    } else if (r != SQLITE_DONE) {
        CM_TRY(sq_fail(s, "reading meta"));
    }
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

static cm_err sq_meta_set(db_t *db, const char *key, const char *value)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc;

    CM_TRY(st_get(s, &st, ST_META_SET));
    bind_text(st, 1, key);
    bind_text(st, 2, value);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "writing meta"));
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

/* Counters live in meta as "counter.KEY" = decimal. */
static cm_err counter_key(char *out, size_t outsz, const char *key)
{
    int n = snprintf(out, outsz, "counter.%s", key);
    if (n < 0 || (size_t)n >= outsz)
        return cm_err_set(CM_ERR_INVALID, "counter name '%s' too long", key);
    return CM_OK;
}

static cm_err rid_flush(struct sqlite_db *s);

static cm_err counter_read(struct sqlite_db *s, int64_t *out, const char *mkey)
{
    char *v = NULL, *end = NULL;
    long long n;
    cm_err rc;

    *out = 0;
    /* Every read of a counter sees the RequestIDs handed out from memory. */
    CM_TRY(rid_flush(s));
    CM_TRY(sq_meta_get(&s->base, &v, mkey));
    if (v == NULL)
        goto out;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 0)
        CM_FAIL(CM_ERR_DB, "%s: meta %s = '%s' is not a counter value", s->path, mkey, v);
    *out = n;
out:
    free(v);
    return rc;
}

static cm_err counter_write(struct sqlite_db *s, const char *mkey, int64_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, v);
    return sq_meta_set(&s->base, mkey, num);
}

/* Writes the cached RequestID counter back and forgets it (before the
 * commit, and before any other use of the counters). */
static cm_err rid_flush(struct sqlite_db *s)
{
    cm_err rc = CM_OK;

    if (s->rid_dirty)
        rc = counter_write(s, "counter." DB_COUNTER_REQUEST_ID, s->rid_last);
    s->rid_known = 0;
    s->rid_dirty = 0;
    return rc;
}

/* The next RequestID of an insert without one: the counter, raised past the
 * highest row (a restore may have inserted rows without raising it), read
 * by the first insert of a transaction; later inserts count on in memory
 * (a batch of 512 costs one counter read and one write, not 2,560
 * statements). */
static cm_err rid_next(struct sqlite_db *s, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int64_t maxid = 0, cur = 0;
    cm_err rc = CM_OK;

    if (!s->rid_known) {
        CM_TRY(counter_read(s, &cur, "counter." DB_COUNTER_REQUEST_ID));
        CM_TRY(st_get(s, &st, ST_REQ_MAXID));
        if (sqlite3_step(st) != SQLITE_ROW)
            CM_TRY(sq_fail(s, "reading the highest RequestID"));
        maxid = col_int(st, 0);
        s->rid_last = maxid > cur ? maxid : cur;
        s->rid_known = 1;
    }
    if (s->rid_last == INT64_MAX)
        CM_FAIL(CM_ERR_DB, "%s: counter %s exhausted", s->path, DB_COUNTER_REQUEST_ID);
    *out = ++s->rid_last;
    s->rid_dirty = 1;
out:
    st_done(st);
    return rc;
}

static cm_err event_seq_get(struct sqlite_db *s, int64_t *out);
static cm_err sq_event_raise_id(db_t *db, int64_t at_least);

static cm_err sq_counter_next(db_t *db, int64_t *out, const char *key)
{
    struct sqlite_db *s = SDB(db);
    char mkey[128];
    int64_t cur = 0;
    cm_err rc;

    CM_TRY(counter_key(mkey, sizeof(mkey), key));
    CM_TRY(counter_read(s, &cur, mkey));
    if (cur == INT64_MAX)
        CM_FAIL(CM_ERR_DB, "%s: counter %s exhausted", s->path, key);
    CM_TRY(counter_write(s, mkey, cur + 1));
    *out = cur + 1;
out:
    return rc;
}

static cm_err sq_counter_raise(db_t *db, const char *key, int64_t at_least)
{
    struct sqlite_db *s = SDB(db);
    char mkey[128];
    int64_t cur = 0;
    cm_err rc;

    /* Event IDs are SQLite's AUTOINCREMENT sequence (see the events table). */
    if (strcmp(key, DB_COUNTER_EVENT_ID) == 0)
        return sq_event_raise_id(db, at_least);
    CM_TRY(counter_key(mkey, sizeof(mkey), key));
    CM_TRY(counter_read(s, &cur, mkey));
    if (at_least > cur)
        CM_TRY(counter_write(s, mkey, at_least));
out:
    return rc;
}

static cm_err sq_counter_get(db_t *db, int64_t *out, const char *key)
{
    struct sqlite_db *s = SDB(db);
    char mkey[128];
    cm_err rc;

    *out = 0;
    if (strcmp(key, DB_COUNTER_EVENT_ID) == 0)
        return event_seq_get(s, out);
    CM_TRY(counter_key(mkey, sizeof(mkey), key));
    CM_TRY(counter_read(s, out, mkey));
out:
    return rc;
}

/* ---- requests ---- */

static cm_err rows_keep_request(struct sqlite_db *s, const struct db_request *req)
{
    struct sq_rows *w = &s->rows[ROWS_REQUESTS];
    cm_err rc = rows_reserve(s, ROWS_REQUESTS);

    if (rc != CM_OK)
        return rows_added(s, rc);
    val_int(w, req->request_id);
    rc = val_text(w, req->requester_name);
    val_opt_int(w, req->submitted_when);
    val_opt_int(w, req->resolved_when);
    val_int(w, req->disposition);
    if (rc == CM_OK)
        rc = val_text(w, req->disposition_message);
    if (rc == CM_OK)
        rc = val_text(w, req->template_name);
    if (rc == CM_OK)
        rc = val_text(w, req->request_dn);
    if (rc == CM_OK)
        rc = val_text(w, req->recovered_from);
    if (rc == CM_OK)
        rc = val_bytes(w, SQLITE_BLOB, req->raw_request, req->raw_request_len);
    return rows_added(s, rc);
}

static cm_err sq_request_insert(db_t *db, struct db_request *req)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    cm_err rc;

    /* Never reuse a RequestID: the counter remembers IDs of rows that a
     * rolled-back restore or a deletion removed, and the current maximum
     * covers rows inserted by a restore that did not raise the counter. */
    if (req->request_id > 0) {
        /* A RequestID known from the audit trail (recovery). */
        id = req->request_id;
        CM_TRY(sq_counter_raise(db, "request_id", id));
    } else {
        CM_TRY(rid_next(s, &id));
        /* The counter's ID cannot be taken: kept back (ROWS_CHUNK). */
        if (s->hold) {
            req->request_id = id;
            return rows_keep_request(s, req);
        }
    }

    CM_TRY(st_get(s, &st, ST_REQ_INSERT));
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, req->requester_name);
    bind_opt_int(st, 3, req->submitted_when);
    bind_opt_int(st, 4, req->resolved_when);
    sqlite3_bind_int(st, 5, req->disposition);
    bind_text(st, 6, req->disposition_message);
    bind_text(st, 7, req->template_name);
    bind_text(st, 8, req->request_dn);
    bind_text(st, 9, req->recovered_from);
    bind_blob(st, 10, req->raw_request, req->raw_request_len);
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(s->h) == SQLITE_CONSTRAINT_PRIMARYKEY)
            CM_FAIL(CM_ERR_EXISTS, "RequestID %lld is already taken", (long long)id);
        CM_TRY(sq_fail(s, "inserting a request"));
    }
    req->request_id = id;
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

static cm_err sq_request_get(db_t *db, struct db_request **out, int64_t id)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    struct db_request *r = NULL;
    int nomem = 0, x;
    cm_err rc;

    *out = NULL;
    CM_TRY(st_get(s, &st, ST_REQ_GET));
    sqlite3_bind_int64(st, 1, id);
    x = sqlite3_step(st);
    if (x == SQLITE_DONE)
        CM_FAIL(CM_ERR_NOTFOUND, "request %" PRId64 ": not in the database", id);
    if (x != SQLITE_ROW)
        CM_TRY(sq_fail(s, "reading a request"));
    r = calloc(1, sizeof(*r));
    CM_NOMEM_IF(r == NULL);
    r->request_id = col_int(st, 0);
    r->requester_name = col_dup(st, 1, &nomem);
    r->submitted_when = col_int(st, 2);
    r->resolved_when = col_int(st, 3);
    r->disposition = (int)col_int(st, 4);
    r->disposition_message = col_dup(st, 5, &nomem);
    r->template_name = col_dup(st, 6, &nomem);
    r->request_dn = col_dup(st, 7, &nomem);
    r->recovered_from = col_dup(st, 8, &nomem);
    r->raw_request = col_blob_dup(st, 9, &r->raw_request_len, &nomem);
    CM_NOMEM_IF(nomem);
    *out = r;
    r = NULL;
    rc = CM_OK;
out:
    st_done(st);
    db_request_free(r);
    return rc;
}

/* Why the compare-and-set of a resolve found nothing to change. */
static cm_err request_not_pending(db_t *db, int64_t id)
{
    struct db_request *r = NULL;
    cm_err rc = sq_request_get(db, &r, id);

    if (rc == CM_ERR_NOTFOUND)
        return cm_err_set(CM_ERR_NOTFOUND, "request %" PRId64 ": not in the database", id);
    if (rc != CM_OK)
        return rc;
    rc = cm_err_set(CM_ERR_STATE, "request %" PRId64 " is no longer pending (now: %s)", id,
                    db_disposition_name(r->disposition));
    db_request_free(r);
    return rc;
}

static cm_err sq_request_resolve(db_t *db, int64_t id, int disposition, const char *message,
                                 int64_t when)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc;

    /* Revoked is a state of the certificate, never stored on a request. */
    assert(disposition != DB_DISP_REVOKED);
    CM_TRY(st_get(s, &st, ST_REQ_RESOLVE));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, disposition);
    bind_text(st, 3, message);
    bind_opt_int(st, 4, when);
    sqlite3_bind_int(st, 5, DB_DISP_PENDING);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "updating a request"));
    if (sqlite3_changes(s->h) == 0) {
        st_done(st);
        st = NULL;
        rc = request_not_pending(db, id);
        goto out;
    }
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

/* ---- certificates ---- */

/* The values of ST_CERT_INSERT, in its order (CERT_COLS). */
static cm_err rows_keep_cert(struct sqlite_db *s, const struct db_cert *c, const char *serial)
{
    struct sq_rows *w = &s->rows[ROWS_CERTS];
    const char *text[] = {c->dn, c->cn, c->email, c->san, c->hash, c->ski, c->template_name};
    cm_err rc = rows_reserve(s, ROWS_CERTS);

    if (rc != CM_OK)
        return rows_added(s, rc);
    rc = val_text(w, serial);
    val_int(w, c->request_id);
    val_int(w, c->origin);
    val_opt_int(w, c->not_before);
    val_opt_int(w, c->not_after);
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]) && rc == CM_OK; i++)
        rc = val_text(w, text[i]);
    if (rc == CM_OK)
        rc = val_bytes(w, SQLITE_BLOB, c->raw, c->raw_len);
    if (rc != CM_OK)
        return rows_added(s, rc);
    if (c->revoked_reason >= 0)
        val_int(w, c->revoked_reason);
    else
        val_null(w);
    val_opt_int(w, c->revoked_when);
    val_opt_int(w, c->revoked_effective_when);
    val_opt_int(w, c->invalidity_date);
    val_opt_int(w, c->rev_seq);
    val_opt_int(w, c->hold_seq);
    val_opt_int(w, c->released_when);
    val_int(w, c->withheld ? 1 : 0);
    return rows_added(s, val_text(w, c->recovered_from));
}

static cm_err sq_cert_insert(db_t *db, const struct db_cert *c)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    char serial[CM_SERIAL_BUF];
    int x;
    cm_err rc;

    CM_TRY(text_serial_canon(serial, c->serial));
    if (c->request_id <= 0)
        CM_FAIL(CM_ERR_INVALID,
                "certificate %s: no RequestID (every certificate, imported ones and "
                "placeholders included, belongs to a request row)",
                serial);
    /* A certificate just signed: kept back (db.h C4, ROWS_CHUNK). */
    if (s->hold && c->origin == DB_ORIGIN_ISSUED && c->raw != NULL)
        return rows_keep_cert(s, c, serial);
    CM_TRY(st_get(s, &st, ST_CERT_INSERT));
    bind_text(st, 1, serial);
    sqlite3_bind_int64(st, 2, c->request_id);
    sqlite3_bind_int(st, 3, c->origin);
    bind_opt_int(st, 4, c->not_before);
    bind_opt_int(st, 5, c->not_after);
    bind_text(st, 6, c->dn);
    bind_text(st, 7, c->cn);
    bind_text(st, 8, c->email);
    bind_text(st, 9, c->san);
    bind_text(st, 10, c->hash);
    bind_text(st, 11, c->ski);
    bind_text(st, 12, c->template_name);
    bind_blob(st, 13, c->raw, c->raw_len);
    if (c->revoked_reason >= 0)
        sqlite3_bind_int(st, 14, c->revoked_reason);
    else
        sqlite3_bind_null(st, 14);
    bind_opt_int(st, 15, c->revoked_when);
    bind_opt_int(st, 16, c->revoked_effective_when);
    bind_opt_int(st, 17, c->invalidity_date);
    bind_opt_int(st, 18, c->rev_seq);
    bind_opt_int(st, 19, c->hold_seq);
    bind_opt_int(st, 20, c->released_when);
    sqlite3_bind_int(st, 21, c->withheld ? 1 : 0);
    bind_text(st, 22, c->recovered_from);
    x = sqlite3_step(st);
    if (x == SQLITE_DONE) {
        rc = CM_OK;
        goto out;
    }
    switch (sqlite3_extended_errcode(s->h)) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        CM_FAIL(CM_ERR_EXISTS, "certificate %s: serial number already in the database", serial);
    case SQLITE_CONSTRAINT_UNIQUE:
        CM_FAIL(CM_ERR_EXISTS, "certificate %s: request %" PRId64 " already has a certificate",
                serial, c->request_id);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: request %" PRId64 " is not in the database",
                serial, c->request_id);
    default:
        CM_TRY(sq_fail(s, "inserting a certificate"));
    }
out:
    st_done(st);
    return rc;
}

static cm_err cert_from_row(struct db_cert **out, sqlite3_stmt *st)
{
    struct db_cert *c = NULL;
    int nomem = 0;
    cm_err rc;
    const unsigned char *serial;

    c = calloc(1, sizeof(*c));
    CM_NOMEM_IF(c == NULL);
    serial = sqlite3_column_text(st, 0);
    snprintf(c->serial, sizeof(c->serial), "%s", serial ? (const char *)serial : "");
    c->request_id = col_int(st, 1);
    c->origin = (int)col_int(st, 2);
    c->not_before = col_int(st, 3);
    c->not_after = col_int(st, 4);
    c->dn = col_dup(st, 5, &nomem);
    c->cn = col_dup(st, 6, &nomem);
    c->email = col_dup(st, 7, &nomem);
    c->san = col_dup(st, 8, &nomem);
    c->hash = col_dup(st, 9, &nomem);
    c->ski = col_dup(st, 10, &nomem);
    c->template_name = col_dup(st, 11, &nomem);
    c->raw = col_blob_dup(st, 12, &c->raw_len, &nomem);
    c->revoked_reason =
        sqlite3_column_type(st, 13) == SQLITE_NULL ? DB_REASON_NONE : (int)col_int(st, 13);
    c->revoked_when = col_int(st, 14);
    c->revoked_effective_when = col_int(st, 15);
    c->invalidity_date = col_int(st, 16);
    c->rev_seq = col_int(st, 17);
    c->hold_seq = col_int(st, 18);
    c->released_when = col_int(st, 19);
    c->withheld = (int)col_int(st, 20);
    c->recovered_from = col_dup(st, 21, &nomem);
    CM_NOMEM_IF(nomem);
    *out = c;
    c = NULL;
    rc = CM_OK;
out:
    db_cert_free(c);
    return rc;
}

static cm_err sq_cert_get(db_t *db, struct db_cert **out, const char *serial_in)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    char serial[CM_SERIAL_BUF];
    int x;
    cm_err rc;

    *out = NULL;
    CM_TRY(text_serial_canon(serial, serial_in));
    CM_TRY(st_get(s, &st, ST_CERT_GET));
    bind_text(st, 1, serial);
    x = sqlite3_step(st);
    if (x == SQLITE_DONE)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: not in the database", serial);
    if (x != SQLITE_ROW)
        CM_TRY(sq_fail(s, "reading a certificate"));
    CM_TRY(cert_from_row(out, st));
out:
    st_done(st);
    return rc;
}

static cm_err sq_cert_get_by_request(db_t *db, struct db_cert **out, int64_t request_id)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    int x;
    cm_err rc;

    *out = NULL;
    CM_TRY(st_get(s, &st, ST_CERT_GET_BY_REQ));
    sqlite3_bind_int64(st, 1, request_id);
    x = sqlite3_step(st);
    if (x == SQLITE_DONE)
        CM_FAIL(CM_ERR_NOTFOUND, "request %" PRId64 ": no certificate in the database", request_id);
    if (x != SQLITE_ROW)
        CM_TRY(sq_fail(s, "reading a certificate"));
    CM_TRY(cert_from_row(out, st));
out:
    st_done(st);
    return rc;
}

static cm_err sq_cert_set_withheld(db_t *db, const char *serial_in, int withheld)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    char serial[CM_SERIAL_BUF];
    cm_err rc;

    CM_TRY(text_serial_canon(serial, serial_in));
    CM_TRY(st_get(s, &st, ST_CERT_WITHHELD));
    bind_text(st, 1, serial);
    sqlite3_bind_int(st, 2, withheld ? 1 : 0);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "updating a certificate"));
    if (sqlite3_changes(s->h) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: not in the database", serial);
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

/* A placeholder becomes the real certificate: descriptive columns and the
 * DER are filled in; revocation state and RequestID stay. */
static cm_err sq_cert_fill_placeholder(db_t *db, const struct db_cert *c)
{
    static const char sql[] =
        "UPDATE certificates SET Origin = 1, NotBefore = ?2, NotAfter = ?3,"
        " DistinguishedName = ?4, CommonName = ?5, EMail = ?6, SubjectAltNames = ?7,"
        " CertificateHash = ?8, SubjectKeyIdentifier = ?9,"
        " CertificateTemplate = COALESCE(?10, CertificateTemplate),"
        " RecoveredFrom = COALESCE(?11, RecoveredFrom), RawCertificate = ?12"
        " WHERE SerialNumber = ?1 AND Origin = 2";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    char serial[CM_SERIAL_BUF];
    cm_err rc = CM_OK;

    CM_TRY(text_serial_canon(serial, c->serial));
    if (c->raw == NULL || c->raw_len == 0)
        CM_FAIL(CM_ERR_INVALID, "certificate %s: no certificate to fill the placeholder with",
                serial);
    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "filling a placeholder"));
    bind_text(st, 1, serial);
    bind_opt_int(st, 2, c->not_before);
    bind_opt_int(st, 3, c->not_after);
    bind_text(st, 4, c->dn);
    bind_text(st, 5, c->cn);
    bind_text(st, 6, c->email);
    bind_text(st, 7, c->san);
    bind_text(st, 8, c->hash);
    bind_text(st, 9, c->ski);
    bind_text(st, 10, c->template_name);
    bind_text(st, 11, c->recovered_from);
    bind_blob(st, 12, c->raw, c->raw_len);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "filling a placeholder"));
    if (sqlite3_changes(s->h) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: no placeholder with this serial", serial);
out:
    sqlite3_finalize(st);
    return rc;
}

/* The current RevokedReason of serial (DB_REASON_NONE when not revoked). */
static cm_err cert_reason(struct sqlite_db *s, int *out, const char *serial)
{
    sqlite3_stmt *st = NULL;
    int x;
    cm_err rc;

    CM_TRY(st_get(s, &st, ST_CERT_REASON));
    bind_text(st, 1, serial);
    x = sqlite3_step(st);
    if (x == SQLITE_DONE)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: not in the database", serial);
    if (x != SQLITE_ROW)
        CM_TRY(sq_fail(s, "reading a certificate"));
    *out = sqlite3_column_type(st, 0) == SQLITE_NULL ? DB_REASON_NONE : sqlite3_column_int(st, 0);
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

static cm_err sq_cert_revoke(db_t *db, const char *serial_in, int reason, int64_t when,
                             int64_t effective, int64_t invalidity, int64_t seq)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    char serial[CM_SERIAL_BUF];
    int cur = DB_REASON_NONE;
    cm_err rc;

    assert(reason >= 0 && reason <= 10 && reason != 7 && reason != DB_REASON_REMOVE_FROM_CRL);
    assert(seq > 0);
    CM_TRY(text_serial_canon(serial, serial_in));
    CM_TRY(cert_reason(s, &cur, serial));
    /* RFC 5280 5.3.1: only certificateHold is temporary; a held
     * certificate may be revoked for good (a reason change). */
    if (cur == DB_REASON_HOLD && reason == DB_REASON_HOLD)
        CM_FAIL(CM_ERR_STATE, "certificate %s: already on hold", serial);
    if (cur != DB_REASON_NONE && cur != DB_REASON_HOLD)
        CM_FAIL(CM_ERR_STATE, "certificate %s: already revoked (%s)", serial, db_reason_name(cur));
    CM_TRY(st_get(s, &st, ST_CERT_REVOKE));
    bind_text(st, 1, serial);
    sqlite3_bind_int(st, 2, reason);
    bind_opt_int(st, 3, when);
    bind_opt_int(st, 4, effective ? effective : when);
    bind_opt_int(st, 5, invalidity);
    sqlite3_bind_int64(st, 6, seq);
    if (cur == DB_REASON_NONE)
        sqlite3_bind_null(st, 7);
    else
        sqlite3_bind_int(st, 7, cur);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "revoking a certificate"));
    /* Compare-and-set on the state read above: never revoke over a
     * revocation another writer recorded in between. */
    if (sqlite3_changes(s->h) == 0)
        CM_FAIL(CM_ERR_STATE, "certificate %s: its revocation state changed meanwhile", serial);
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

static cm_err sq_cert_unrevoke(db_t *db, const char *serial_in, int64_t when, int64_t seq)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
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
    CM_TRY(st_get(s, &st, ST_CERT_UNREVOKE));
    bind_text(st, 1, serial);
    bind_opt_int(st, 2, when);
    sqlite3_bind_int64(st, 3, seq);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "releasing a certificate from hold"));
    /* Compare-and-set: released only while still on hold. */
    if (sqlite3_changes(s->h) == 0)
        CM_FAIL(CM_ERR_STATE, "certificate %s: no longer on hold", serial);
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

/* Full CRL: the covering partial index certificates_revoked gives the
 * revoked rows in serial (text) order. Delta CRL: the rows whose state
 * changed after since_seq (certificates_revseq), revoked ones as they
 * are, released holds that the base could list as removeFromCRL; a release
 * is dated by ReleasedWhen. INDEXED BY because the planner would otherwise
 * walk the whole primary key to save sorting a few delta rows (and a
 * missing index is then an error, not a silent full scan). */
static const char revoked_all_sql[] =
    "SELECT SerialNumber, RevokedReason, RevokedEffectiveWhen, InvalidityDate"
    " FROM certificates INDEXED BY certificates_revoked WHERE RevokedReason IS NOT NULL"
    " ORDER BY SerialNumber";
static const char revoked_delta_sql[] =
    "SELECT SerialNumber, COALESCE(RevokedReason, 8),"
    " CASE WHEN RevokedReason IS NULL THEN ReleasedWhen ELSE RevokedEffectiveWhen END,"
    " CASE WHEN RevokedReason IS NULL THEN NULL ELSE InvalidityDate END"
    " FROM certificates INDEXED BY certificates_revseq WHERE RevSeq > ?1"
    " AND (RevokedReason IS NOT NULL OR (HoldSeq IS NOT NULL AND HoldSeq <= ?1))"
    " ORDER BY SerialNumber";

static cm_err sq_revoked_iter(db_t *db, int64_t since_seq, db_revoked_cb cb, void *ctx)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    struct db_revoked r;
    int x;
    cm_err rc;

    if (sq_prepare(s, since_seq < 0 ? revoked_all_sql : revoked_delta_sql, -1, &st, NULL) !=
        SQLITE_OK)
        CM_TRY(sq_fail(s, "preparing the revoked list"));
    if (since_seq >= 0)
        sqlite3_bind_int64(st, 1, since_seq);
    /* One row at a time: a CRL of a million entries is never held here. */
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        r.serial = (const char *)sqlite3_column_text(st, 0);
        r.reason = sqlite3_column_int(st, 1);
        r.revoked_effective_when = col_int(st, 2);
        r.invalidity_date = col_int(st, 3);
        if (r.serial == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        CM_TRY(cb(ctx, &r));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "reading revoked certificates"));
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- CRLs, audit ---- */

static cm_err sq_crl_insert(db_t *db, const struct db_crl *crl)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc;

    CM_TRY(st_get(s, &st, ST_CRL_INSERT));
    sqlite3_bind_int64(st, 1, crl->number);
    sqlite3_bind_int(st, 2, crl->is_delta ? 1 : 0);
    bind_opt_int(st, 3, crl->base_number);
    sqlite3_bind_int64(st, 4, crl->this_update);
    sqlite3_bind_int64(st, 5, crl->next_update);
    sqlite3_bind_int64(st, 6, crl->rev_seq);
    sqlite3_bind_int64(st, 7, crl->entries);
    bind_text(st, 8, crl->hash);
    if (sqlite3_step(st) != SQLITE_DONE) {
        /* RFC 5280 5.2.3: full and delta CRLs share one number sequence. */
        if (sqlite3_extended_errcode(s->h) == SQLITE_CONSTRAINT_PRIMARYKEY)
            CM_FAIL(CM_ERR_EXISTS, "CRL number %" PRId64 " already recorded", crl->number);
        CM_TRY(sq_fail(s, "recording a CRL"));
    }
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

static cm_err sq_crl_last(db_t *db, struct db_crl **out, int is_delta)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    struct db_crl *c = NULL;
    int nomem = 0, x;
    cm_err rc;

    *out = NULL;
    CM_TRY(st_get(s, &st, ST_CRL_LAST));
    sqlite3_bind_int(st, 1, is_delta ? 1 : 0);
    x = sqlite3_step(st);
    if (x == SQLITE_DONE) {
        rc = CM_OK;
        goto out;
    }
    if (x != SQLITE_ROW)
        CM_TRY(sq_fail(s, "reading the last CRL"));
    c = calloc(1, sizeof(*c));
    CM_NOMEM_IF(c == NULL);
    c->number = col_int(st, 0);
    c->is_delta = (int)col_int(st, 1);
    c->base_number = col_int(st, 2);
    c->this_update = col_int(st, 3);
    c->next_update = col_int(st, 4);
    c->rev_seq = col_int(st, 5);
    c->entries = col_int(st, 6);
    c->hash = col_dup(st, 7, &nomem);
    CM_NOMEM_IF(nomem);
    *out = c;
    c = NULL;
    rc = CM_OK;
out:
    st_done(st);
    db_crl_free(c);
    return rc;
}

static cm_err sq_audit_append(db_t *db, const struct db_audit *a)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc;

    assert(a->who != NULL && a->action != NULL);
    if (s->hold) {
        struct sq_rows *w = &s->rows[ROWS_AUDIT];
        CM_TRY(rows_reserve(s, ROWS_AUDIT));
        val_int(w, a->when);
        rc = val_text(w, a->who);
        if (rc == CM_OK)
            rc = val_text(w, a->action);
        val_opt_int(w, a->request_id);
        if (rc == CM_OK)
            rc = val_text(w, a->serial);
        if (rc == CM_OK)
            rc = val_text(w, a->details);
        return rows_added(s, rc);
    }
    CM_TRY(st_get(s, &st, ST_AUDIT_INSERT));
    sqlite3_bind_int64(st, 1, a->when);
    bind_text(st, 2, a->who);
    bind_text(st, 3, a->action);
    bind_opt_int(st, 4, a->request_id);
    bind_text(st, 5, a->serial);
    bind_text(st, 6, a->details);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "appending to the audit log"));
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

static cm_err sq_audit_iter(db_t *db, int64_t since, db_audit_cb cb, void *ctx)
{
    static const char sql[] = "SELECT ID, \"When\", Who, Action, RequestID, SerialNumber, Details"
                              " FROM audit WHERE \"When\" >= ?1 ORDER BY ID";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    struct db_audit a;
    int x;
    cm_err rc;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "preparing the audit query"));
    sqlite3_bind_int64(st, 1, since);
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        a.when = col_int(st, 1);
        a.who = (const char *)sqlite3_column_text(st, 2);
        a.action = (const char *)sqlite3_column_text(st, 3);
        a.request_id = col_int(st, 4);
        a.serial = (const char *)sqlite3_column_text(st, 5);
        a.details = (const char *)sqlite3_column_text(st, 6);
        CM_TRY(cb(ctx, col_int(st, 0), &a));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "reading the audit log"));
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- the view ---- */

/* Appends the SQL condition for one restriction; the values are bound in
 * the same order by view_bind(). */
static cm_err view_cond(cm_buf *b, const struct db_restrict *r)
{
    static const char *const ops[] = {
        [DB_OP_EQ] = "=",  [DB_OP_NE] = "IS NOT", [DB_OP_LT] = "<",
        [DB_OP_LE] = "<=", [DB_OP_GT] = ">",      [DB_OP_GE] = ">=",
    };
    const struct db_column *col;
    const char *name;

    assert(r->column >= 0 && (size_t)r->column < db_ncolumns);
    assert(r->op >= DB_OP_EQ && r->op <= DB_OP_GE);
    col = &db_columns[r->column];
    name = col->name;
    assert(col->type != DB_COL_BLOB);
    if (r->is_null) {
        assert(r->op == DB_OP_EQ || r->op == DB_OP_NE);
        return buf_printf(b, "\"%s\" %s NULL", name, r->op == DB_OP_EQ ? "IS" : "IS NOT");
    }
    if (col->type == DB_COL_DISP && (r->op == DB_OP_EQ || r->op == DB_OP_NE)) {
        /* Written against the stored columns so that requests_disposition
         * serves "Disposition = pending" (the pending list). */
        const char *neg = r->op == DB_OP_NE ? "NOT " : "";
        if (r->ival == DB_DISP_REVOKED)
            return buf_printf(b, "%s(RevokedReason IS NOT NULL)", neg);
        return buf_printf(b, "%s(RequestDisposition = ? AND RevokedReason IS NULL)", neg);
    }
    if (col->type == DB_COL_SERIAL && r->op != DB_OP_EQ && r->op != DB_OP_NE) {
        /* Canonical serials have no leading zero octet, so numeric order is
         * (length, text): a longer serial is a larger number. */
        const char *strict = (r->op == DB_OP_LT || r->op == DB_OP_LE) ? "<" : ">";
        return buf_printf(b,
                          "(length(SerialNumber) %s ? OR (length(SerialNumber) = ? AND "
                          "SerialNumber %s ?))",
                          strict, ops[r->op]);
    }
    /* Without statistics SQLite guesses that a one-sided range keeps a
     * quarter of the rows and then prefers walking requests in RequestID
     * order (no sort) to the index: "NotAfter < now+30d" would read the
     * whole table. Restrictions are meant to select few rows; say so. */
    if (col->indexed && r->op != DB_OP_EQ && r->op != DB_OP_NE)
        return buf_printf(b, "(\"%s\" IS NOT NULL AND likelihood(\"%s\" %s ?, 0.01))", name, name,
                          ops[r->op]);
    return buf_printf(b, "\"%s\" %s ?", name, ops[r->op]);
}

static void view_bind(sqlite3_stmt *st, int *idx, const struct db_restrict *r)
{
    const struct db_column *col = &db_columns[r->column];

    if (r->is_null)
        return;
    if (col->type == DB_COL_DISP && (r->op == DB_OP_EQ || r->op == DB_OP_NE)) {
        if (r->ival != DB_DISP_REVOKED)
            sqlite3_bind_int64(st, (*idx)++, r->ival);
        return;
    }
    if (col->type == DB_COL_SERIAL) {
        if (r->op != DB_OP_EQ && r->op != DB_OP_NE) {
            int64_t len = (int64_t)strlen(r->sval);
            sqlite3_bind_int64(st, (*idx)++, len);
            sqlite3_bind_int64(st, (*idx)++, len);
        }
        sqlite3_bind_text(st, (*idx)++, r->sval, -1, SQLITE_STATIC);
        return;
    }
    if (col->type == DB_COL_TEXT)
        sqlite3_bind_text(st, (*idx)++, r->sval, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, (*idx)++, r->ival);
}

/* Builds and prepares the view query (prefix is "" or "EXPLAIN QUERY
 * PLAN "). */
static cm_err view_prepare(struct sqlite_db *s, sqlite3_stmt **out, const char *prefix,
                           const struct db_restrict *r, size_t nr)
{
    cm_buf b = CM_BUF_INIT(64 * 1024);
    sqlite3_stmt *st = NULL;
    int idx = 1;
    cm_err rc;

    *out = NULL;
    CM_TRY(buf_printf(&b, "%sSELECT ", prefix));
    for (size_t i = 0; i < db_ncolumns; i++)
        CM_TRY(buf_printf(&b, "%s\"%s\"", i ? ", " : "", db_columns[i].name));
    CM_TRY(buf_append_str(&b, " FROM certview"));
    for (size_t i = 0; i < nr; i++) {
        CM_TRY(buf_append_str(&b, i ? " AND " : " WHERE "));
        CM_TRY(view_cond(&b, &r[i]));
    }
    CM_TRY(buf_append_str(&b, " ORDER BY RequestID"));
    if (sq_prepare(s, buf_str(&b), -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "preparing the view query"));
    for (size_t i = 0; i < nr; i++)
        view_bind(st, &idx, &r[i]);
    assert(idx - 1 == sqlite3_bind_parameter_count(st));
    *out = st;
    st = NULL;
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    buf_free(&b);
    return rc;
}

static cm_err sq_view(db_t *db, const struct db_restrict *r, size_t nr, db_row_cb cb, void *ctx)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    const char *values[64];
    const unsigned char *blobs[64];
    size_t blob_len[64];
    char text[64][32];
    struct db_row row = {values, blobs, blob_len};
    int x, origin = db_column_find("Origin"), withheld = db_column_find("Withheld");
    int rawcert = db_column_find("RawCertificate");
    cm_err rc;

    assert(db_ncolumns <= 64 && origin >= 0 && withheld >= 0 && rawcert >= 0);
    CM_TRY(view_prepare(s, &st, "", r, nr));
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        /* Strict audit mode: a withheld certificate leaves the CA by no
         * path before its off-box acknowledgement, the view (`view --out
         * RawCertificate`, exports) included; the exit dispatcher reads it
         * with db_cert_get to mail it. */
        int hide_raw = sqlite3_column_int(st, withheld) != 0;
        for (size_t i = 0; i < db_ncolumns; i++) {
            int ci = (int)i;
            values[i] = NULL;
            blobs[i] = NULL;
            blob_len[i] = 0;
            if (sqlite3_column_type(st, ci) == SQLITE_NULL)
                continue;
            switch (db_columns[i].type) {
            case DB_COL_INT:
                if (ci == origin)
                    values[i] = db_origin_name(sqlite3_column_int(st, ci));
                else {
                    snprintf(text[i], sizeof(text[i]), "%" PRId64, col_int(st, ci));
                    values[i] = text[i];
                }
                break;
            case DB_COL_TIME:
                text_format_time(text[i], sizeof(text[i]), col_int(st, ci));
                values[i] = text[i];
                break;
            case DB_COL_DISP:
                values[i] = db_disposition_name(sqlite3_column_int(st, ci));
                break;
            case DB_COL_REASON:
                values[i] = db_reason_name(sqlite3_column_int(st, ci));
                break;
            case DB_COL_BLOB:
                if (hide_raw && ci == rawcert)
                    break;
                blobs[i] = sqlite3_column_blob(st, ci);
                blob_len[i] = (size_t)sqlite3_column_bytes(st, ci);
                break;
            case DB_COL_TEXT:
            case DB_COL_SERIAL:
                values[i] = (const char *)sqlite3_column_text(st, ci);
                if (values[i] == NULL)
                    CM_FAIL(CM_ERR_NOMEM, "out of memory");
                break;
            }
        }
        CM_TRY(cb(ctx, &row));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "reading the view"));
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

static cm_err sq_request_list(db_t *db, int disposition, db_row_cb cb, void *ctx)
{
    struct db_restrict r = {0};

    r.column = db_column_find("Disposition");
    assert(r.column >= 0);
    r.op = DB_OP_EQ;
    r.ival = disposition;
    return sq_view(db, &r, 1, cb, ctx);
}

cm_err db_sqlite_explain_view(char **out, db_t *db, const struct db_restrict *r, size_t nr)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_buf b = CM_BUF_INIT(1024 * 1024);
    size_t len;
    int x;
    cm_err rc;

    assert(db->ops == db_backend_find("sqlite"));
    *out = NULL;
    CM_TRY(view_prepare(s, &st, "EXPLAIN QUERY PLAN ", r, nr));
    /* Columns: id, parent, notused, detail. */
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *d = sqlite3_column_text(st, 3);
        CM_TRY(buf_printf(&b, "%s\n", d ? (const char *)d : ""));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "explaining the view query"));
    CM_TRY(buf_reserve(&b, 1)); /* data is non-NULL even for an empty plan */
    *out = (char *)buf_steal(&b, &len);
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    buf_free(&b);
    return rc;
}

/* ---- events ---- */

static cm_err event_seq_get(struct sqlite_db *s, int64_t *out);
static cm_err query_int(struct sqlite_db *s, int64_t *out, const char *sql, const char *what);

/* An event kept back gets its ID now, as AUTOINCREMENT would give it:
 * past the high-water mark and past the highest row, read once per
 * transaction (after any flush: rows_discard forgets it); the explicit
 * IDs raise the high-water mark when the rows go in. */
static cm_err rows_keep_event(struct sqlite_db *s, struct db_event *ev)
{
    struct sq_rows *w = &s->rows[ROWS_EVENTS];
    int64_t seq = 0, maxid = 0;
    cm_err rc;

    if (!s->ev_known) {
        CM_TRY(event_seq_get(s, &seq));
        CM_TRY(query_int(s, &maxid, "SELECT COALESCE(max(ID), 0) FROM events",
                         "reading the event ID"));
        s->ev_last = seq > maxid ? seq : maxid;
        s->ev_known = 1;
    }
    if (s->ev_last == INT64_MAX)
        CM_FAIL(CM_ERR_DB, "%s: event IDs exhausted", s->path);
    CM_TRY(rows_reserve(s, ROWS_EVENTS));
    ev->id = ++s->ev_last;
    val_int(w, ev->id);
    val_int(w, ev->type);
    val_opt_int(w, ev->request_id);
    rc = val_text(w, ev->serial[0] ? ev->serial : NULL);
    val_int(w, ev->created);
    if (rc == CM_OK)
        rc = val_text(w, ev->payload);
    return rows_added(s, rc);
out:
    return rc;
}

static cm_err sq_event_enqueue(db_t *db, struct db_event *ev)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc;

    if (s->hold)
        return rows_keep_event(s, ev);
    CM_TRY(st_get(s, &st, ST_EVENT_INSERT));
    sqlite3_bind_int(st, 1, ev->type);
    bind_opt_int(st, 2, ev->request_id);
    bind_text(st, 3, ev->serial[0] ? ev->serial : NULL);
    sqlite3_bind_int64(st, 4, ev->created);
    bind_text(st, 5, ev->payload);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "queueing an event"));
    ev->id = sqlite3_last_insert_rowid(s->h);
    rc = CM_OK;
out:
    st_done(st);
    return rc;
}

/* One integer from a PRAGMA or query. */
static cm_err query_int(struct sqlite_db *s, int64_t *out, const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    cm_err rc;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        CM_TRY(sq_fail(s, what));
    *out = col_int(st, 0);
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* The AUTOINCREMENT high-water mark of the outbox: the last event ID taken
 * or raised to, even when those events are gone. */
static cm_err event_seq_get(struct sqlite_db *s, int64_t *out)
{
    return query_int(s, out,
                     "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
                     "reading the event ID");
}

/* AUTOINCREMENT keeps its high-water mark in sqlite_sequence. */
static cm_err sq_event_raise_id(db_t *db, int64_t at_least)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    static const char *const sql[] = {
        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'events' AND seq < ?1",
        "INSERT INTO sqlite_sequence(name, seq) SELECT 'events', ?1"
        " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events')",
    };
    cm_err rc = CM_OK;

    for (size_t i = 0; i < 2; i++) {
        if (sq_prepare(s, sql[i], -1, &st, NULL) != SQLITE_OK)
            CM_TRY(sq_fail(s, "raising the event ID"));
        sqlite3_bind_int64(st, 1, at_least);
        if (sqlite3_step(st) != SQLITE_DONE)
            CM_TRY(sq_fail(s, "raising the event ID"));
        sqlite3_finalize(st);
        st = NULL;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static cm_err sq_event_iter(db_t *db, int64_t after_id, int type_mask, size_t limit, db_event_cb cb,
                            void *ctx)
{
    static const char sql[] = "SELECT ID, Type, RequestID, SerialNumber, Created, Payload"
                              " FROM events WHERE ID > ?1 AND (Type & ?2) != 0"
                              " ORDER BY ID LIMIT ?3";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    struct db_event ev;
    int x;
    cm_err rc;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "preparing the event query"));
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int(st, 2, type_mask);
    /* limit 0: no limit (SQLite's LIMIT -1). */
    sqlite3_bind_int64(st, 3, limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit);
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *serial = sqlite3_column_text(st, 3);
        memset(&ev, 0, sizeof(ev));
        ev.id = col_int(st, 0);
        ev.type = sqlite3_column_int(st, 1);
        ev.request_id = col_int(st, 2);
        snprintf(ev.serial, sizeof(ev.serial), "%s", serial ? (const char *)serial : "");
        ev.created = col_int(st, 4);
        ev.payload = (char *)sqlite3_column_text(st, 5);
        CM_TRY(cb(ctx, &ev));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "reading events"));
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- poisoned events ---- */

static cm_err sq_poison_add(db_t *db, const char *module, int64_t event_id, const char *reason,
                            int64_t when)
{
    static const char sql[] =
        "INSERT INTO event_poison(Module, EventID, Reason, Since) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT(Module, EventID) DO UPDATE SET Reason = ?3, Attempts = Attempts + 1";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc = CM_OK;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "recording a poisoned event"));
    bind_text(st, 1, module);
    sqlite3_bind_int64(st, 2, event_id);
    bind_text(st, 3, reason);
    sqlite3_bind_int64(st, 4, when);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "recording a poisoned event"));
out:
    sqlite3_finalize(st);
    return rc;
}

static cm_err sq_poison_del(db_t *db, const char *module, int64_t event_id)
{
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc = CM_OK;

    if (sq_prepare(s, "DELETE FROM event_poison WHERE Module = ?1 AND EventID = ?2", -1, &st,
                   NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "clearing a poisoned event"));
    bind_text(st, 1, module);
    sqlite3_bind_int64(st, 2, event_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "clearing a poisoned event"));
    if (sqlite3_changes(s->h) == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "event %lld is not poisoned for exit module %s",
                (long long)event_id, module);
out:
    sqlite3_finalize(st);
    return rc;
}

static cm_err sq_poison_iter(db_t *db, const char *module, db_poison_cb cb, void *ctx)
{
    static const char sql[] = "SELECT Module, EventID, Reason, Since, Attempts FROM event_poison"
                              " WHERE ?1 IS NULL OR Module = ?1 ORDER BY EventID, Module";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    struct db_poison p;
    int x;
    cm_err rc = CM_OK;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "reading poisoned events"));
    bind_text(st, 1, module);
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        p.module = (const char *)sqlite3_column_text(st, 0);
        p.event_id = col_int(st, 1);
        p.reason = (const char *)sqlite3_column_text(st, 2);
        p.since = col_int(st, 3);
        p.attempts = col_int(st, 4);
        if (p.module == NULL || p.reason == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        CM_TRY(cb(ctx, &p));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "reading poisoned events"));
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- the vault (issue 12) ---- */

static cm_err sq_vault_insert(db_t *db, const struct db_vault *v)
{
    static const char sql[] =
        "INSERT INTO vault(Kind, Name, State, Created, Body) VALUES (?1, ?2, ?3, ?4, ?5)";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc = CM_OK;
    int x;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "writing the vault"));
    bind_text(st, 1, v->kind);
    bind_text(st, 2, v->name);
    sqlite3_bind_int(st, 3, v->state);
    sqlite3_bind_int64(st, 4, v->created);
    bind_blob(st, 5, v->body, v->body_len);
    x = sqlite3_step(st);
    if (x == SQLITE_CONSTRAINT_PRIMARYKEY)
        CM_FAIL(CM_ERR_EXISTS, "%s %s already exists", v->kind, v->name);
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "writing the vault"));
out:
    sqlite3_finalize(st);
    return rc;
}

/* Compare-and-set in one statement (C5); a miss is told apart after. */
static cm_err sq_vault_update(db_t *db, const char *kind, const char *name, int expect_state,
                              int new_state, const unsigned char *body, size_t body_len)
{
    static const char sql[] = "UPDATE vault SET State = ?3, Body = CASE WHEN ?5 THEN ?4 ELSE Body"
                              " END WHERE Kind = ?1 AND Name = ?2 AND State = ?6";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc = CM_OK;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "updating the vault"));
    bind_text(st, 1, kind);
    bind_text(st, 2, name);
    sqlite3_bind_int(st, 3, new_state);
    bind_blob(st, 4, body, body_len);
    sqlite3_bind_int(st, 5, body != NULL);
    sqlite3_bind_int(st, 6, expect_state);
    if (sqlite3_step(st) != SQLITE_DONE)
        CM_TRY(sq_fail(s, "updating the vault"));
    if (sqlite3_changes(s->h) == 1)
        goto out;
    sqlite3_finalize(st);
    st = NULL;
    if (sq_prepare(s, "SELECT 1 FROM vault WHERE Kind = ?1 AND Name = ?2", -1, &st, NULL) !=
        SQLITE_OK)
        CM_TRY(sq_fail(s, "reading the vault"));
    bind_text(st, 1, kind);
    bind_text(st, 2, name);
    if (sqlite3_step(st) == SQLITE_ROW)
        CM_FAIL(CM_ERR_STATE, "%s %s has changed meanwhile (state is not %d)", kind, name,
                expect_state);
    CM_FAIL(CM_ERR_NOTFOUND, "%s %s: not found", kind, name);
out:
    sqlite3_finalize(st);
    return rc;
}

static cm_err sq_vault_iter(db_t *db, const char *kind, const char *name, db_vault_cb cb,
                            void *ctx)
{
    static const char sql[] = "SELECT Kind, Name, State, Created, Body FROM vault"
                              " WHERE Kind = ?1 AND (?2 IS NULL OR Name = ?2) ORDER BY Name";
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    struct db_vault v;
    cm_err rc = CM_OK;
    int x, seen = 0;

    if (sq_prepare(s, sql, -1, &st, NULL) != SQLITE_OK)
        CM_TRY(sq_fail(s, "reading the vault"));
    bind_text(st, 1, kind);
    bind_text(st, 2, name);
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        v.kind = (const char *)sqlite3_column_text(st, 0);
        v.name = (const char *)sqlite3_column_text(st, 1);
        v.state = sqlite3_column_int(st, 2);
        v.created = col_int(st, 3);
        v.body = sqlite3_column_blob(st, 4);
        v.body_len = (size_t)sqlite3_column_bytes(st, 4);
        if (v.kind == NULL || v.name == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        seen = 1;
        CM_TRY(cb(ctx, &v));
    }
    if (x != SQLITE_DONE)
        CM_TRY(sq_fail(s, "reading the vault"));
    if (name != NULL && !seen)
        CM_FAIL(CM_ERR_NOTFOUND, "%s %s: not found", kind, name);
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- open, transactions, backup ---- */

/* The checkpointer thread: its own connection, one PASSIVE checkpoint per
 * request (requests that arrive during one are merged). */
static void *ckpt_main(void *arg)
{
    struct sqlite_db *s = arg;
    sqlite3 *h = NULL;

    if (sqlite3_open_v2(s->path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ==
        SQLITE_OK) {
        sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        /* FULL, as the writer: the WAL is synced before its pages are
         * copied, and the database file after. */
        (void)sqlite3_exec(h, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        sqlite3_wal_autocheckpoint(h, 0);
    }
    pthread_mutex_lock(&s->ck.mu);
    for (;;) {
        while (!s->ck.want && !s->ck.stop)
            pthread_cond_wait(&s->ck.cv, &s->ck.mu);
        if (s->ck.stop)
            break;
        s->ck.want = 0;
        pthread_mutex_unlock(&s->ck.mu);
        /* SQLITE_BUSY (another checkpoint is running) is harmless: the
         * next commit over the threshold asks again. */
        if (h != NULL)
            (void)sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ck.mu);
        s->ck.runs++;
    }
    pthread_mutex_unlock(&s->ck.mu);
    sqlite3_close(h);
    return NULL;
}

/* Asks the checkpointer for a checkpoint, starting it the first time;
 * 0 when it will run one. */
static int ckpt_ask(struct sqlite_db *s)
{
    int ok = 1;
    pthread_mutex_lock(&s->ck.mu);
    if (s->ck.pid != getpid()) {
        /* First use, or a child of a fork (the thread stayed behind). */
        s->ck.stop = 0;
        s->ck.want = 0;
        s->ck.pid = pthread_create(&s->ck.thread, NULL, ckpt_main, s) == 0 ? getpid() : 0;
    }
    if (s->ck.pid != 0) {
        s->ck.want = 1;
        pthread_cond_signal(&s->ck.cv);
        ok = 0;
    }
    pthread_mutex_unlock(&s->ck.mu);
    return ok;
}

/* sqlite3_wal_hook: called after every commit with the WAL's size. */
static int ckpt_hook(void *arg, sqlite3 *h, const char *dbname, int pages)
{
    struct sqlite_db *s = arg;
    if (pages < CKPT_PAGES)
        return SQLITE_OK;
    if (pages >= CKPT_INLINE_PAGES || ckpt_ask(s) != 0)
        (void)sqlite3_wal_checkpoint_v2(h, dbname, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

/* Ends the checkpointer (if this process started one). */
static void ckpt_stop(struct sqlite_db *s)
{
    int mine;
    pthread_mutex_lock(&s->ck.mu);
    mine = s->ck.pid != 0 && s->ck.pid == getpid();
    s->ck.stop = 1;
    pthread_cond_signal(&s->ck.cv);
    pthread_mutex_unlock(&s->ck.mu);
    if (mine) {
        pthread_join(s->ck.thread, NULL);
        log_debug("%s: %lld WAL checkpoints on the checkpointer thread", s->path, s->ck.runs);
    }
    s->ck.pid = 0;
}

static void sq_close(db_t *db)
{
    struct sqlite_db *s = SDB(db);
    if (s == NULL)
        return;
    /* First: the connection that closes last checkpoints and removes the
     * WAL, and that must be this one. */
    ckpt_stop(s);
    pthread_cond_destroy(&s->ck.cv);
    pthread_mutex_destroy(&s->ck.mu);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    rows_free(s);
    for (int i = 0; i < SQ_LOCKS_MAX; i++)
        if (s->locks[i].name[0] != '\0')
            close(s->locks[i].fd); /* releases the flock */
    sqlite3_close(s->h);
    free(s->path);
    free(s);
}

static cm_err sq_begin(db_t *db)
{
    struct sqlite_db *s = SDB(db);
    cm_err rc;

    s->rid_known = 0;
    s->rid_dirty = 0;
    rows_discard(s);
    s->rows_failed = CM_OK;
    /* IMMEDIATE takes the write lock now: two certmint processes never
     * both read, then fail to upgrade (SQLITE_BUSY mid-transaction). */
    rc = sq_exec(s, "BEGIN IMMEDIATE", "starting a transaction");
    s->hold = rc == CM_OK;
    return rc;
}

static cm_err sq_commit(db_t *db)
{
    struct sqlite_db *s = SDB(db);
    cm_err rc = rows_flush(s);

    if (rc == CM_OK)
        rc = rid_flush(s);
    if (rc == CM_OK)
        rc = sq_exec(s, "COMMIT", "committing");
    /* A failed commit is rolled back by the caller (sq_rollback). */
    if (rc == CM_OK)
        s->hold = 0;
    return rc;
}

static void sq_rollback(db_t *db)
{
    struct sqlite_db *s = SDB(db);
    s->rid_known = 0;
    s->rid_dirty = 0;
    s->hold = 0;
    rows_discard(s);
    s->rows_failed = CM_OK;
    /* SQLite may already have rolled back (a failed COMMIT, I/O errors). */
    if (!sqlite3_get_autocommit(s->h))
        (void)sqlite3_exec(s->h, "ROLLBACK", NULL, NULL, NULL);
}

/* The page size of a new database (an existing one keeps its own). 8 KiB
 * instead of SQLite's 4 KiB: a group commit writes about half the WAL
 * frames (two write(2) calls each) for the same rows, which is most of
 * the writer's kernel time per certificate (bench/README.md, issue 10);
 * the random serial-number index is touched on nearly every page either
 * way. It must be set before the first table and before WAL mode. */
#define NEW_PAGE_SIZE_SQL "PRAGMA page_size=8192"

/* SQLite's global memory statistics take a mutex on every allocation:
 * certmint never reads them (sqlite3_status), so they are off, before
 * SQLite initialises (a later call is refused and changes nothing). */
static pthread_once_t memstatus_once = PTHREAD_ONCE_INIT;

/* A statement journal (the pages one statement changes, kept to undo that
 * statement alone: every multi-row INSERT of ROWS_CHUNK rows has one) stays
 * in memory. SQLite's default spills it to a temporary file past 64 KiB,
 * and a chunk of 32 certificates changes more than that (the CommonName
 * index's leaves): 12,000 more pwrite calls per 10,000 certificates
 * (strace), 20-40 us of system time each in this VM. A spill threshold
 * instead of -1 would also be the journal's allocation unit (one 8 MiB
 * malloc per statement: 1,300 madvise calls); -1 keeps SQLite's small
 * chunks. Its size is what one statement changes: a few hundred KiB for a
 * chunk of rows (bench/README.md, issue 10, session 11). */
#define STMTJRNL_SPILL_BYTES (-1)

static void memstatus_off(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMTJRNL_SPILL_BYTES);
}

static cm_err set_pragmas(struct sqlite_db *s, int create)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *mode;
    cm_err rc;

    if (create)
        CM_TRY(sq_exec(s, NEW_PAGE_SIZE_SQL, "setting the page size"));
    if (sq_prepare(s, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        CM_TRY(sq_fail(s, "setting WAL mode"));
    mode = sqlite3_column_text(st, 0);
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0)
        CM_FAIL(CM_ERR_DB, "%s: the file system does not support SQLite's WAL mode (got '%s')",
                s->path, mode ? (const char *)mode : "?");
    /* FULL: in WAL mode every commit fsyncs the log, so a commit that
     * returned survives a crash or power loss. */
    /* A 2 MiB page cache (256 pages of 8 KiB): enough for the interior
     * pages of the indexes and a batch group's dirty pages. Each page the
     * cache fills is fresh memory, which costs a page fault (~12 us in a
     * VM): a 10,000-request submit filled an 8 MiB cache (1,700 more faults,
     * writer CPU 13-16 against 10-14 us per request, the same on a 50,000
     * certificate database), and view over 50,000 rows was no faster with
     * it. A scan of a million revoked rows for a CRL does not double the
     * process's memory (docs/crl.md). */
    CM_TRY(sq_exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-2048;",
                   "setting pragmas"));
    rc = CM_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Checks that an existing file is a certmint database this build can use. */
static cm_err check_identity(struct sqlite_db *s)
{
    int64_t appid = 0, ver = 0;
    char *v = NULL, *end = NULL;
    cm_err rc;

    /* The first read parses the header: garbage fails here with "file is
     * not a database". */
    if (query_int(s, &appid, "PRAGMA application_id", "reading the header") != CM_OK) {
        /* Only content SQLite cannot parse means "not a database"; a
         * failing disk or a refused open keeps its own message. */
        if (sq_is_os_error(sqlite3_extended_errcode(s->h)))
            CM_TRY(sq_fail(s, "cannot open the database"));
        CM_FAIL(CM_ERR_DB, "%s: not a certmint database (%s)", s->path, sqlite3_errmsg(s->h));
    }
    if (appid != DB_SQLITE_APPLICATION_ID)
        CM_FAIL(CM_ERR_DB,
                "%s: not a certmint database (SQLite application_id is 0x%08" PRIx64
                ", expected 0x%08X)",
                s->path, (uint64_t)(uint32_t)appid, DB_SQLITE_APPLICATION_ID);
    CM_TRY(sq_meta_get(&s->base, &v, "schema_version"));
    if (v == NULL)
        CM_FAIL(CM_ERR_DB, "%s: not a certmint database (no schema version)", s->path);
    errno = 0;
    ver = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || ver < 1)
        CM_FAIL(CM_ERR_DB, "%s: unknown database schema version '%s'", s->path, v);
    if (ver > DB_SQLITE_SCHEMA_VERSION)
        CM_FAIL(CM_ERR_DB,
                "%s: database schema version %" PRId64 " is newer than this certmint supports "
                "(%d); use a newer certmint",
                s->path, ver, DB_SQLITE_SCHEMA_VERSION);
    rc = CM_OK;
out:
    free(v);
    return rc;
}

static cm_err create_schema(struct sqlite_db *s)
{
    char sql[160];
    cm_err rc;

    CM_TRY(sq_exec(s, "BEGIN IMMEDIATE", "creating the schema"));
    snprintf(sql, sizeof(sql),
             "PRAGMA application_id = %d; PRAGMA user_version = %d;"
             " INSERT INTO meta(key, value) VALUES ('schema_version', '%d');",
             DB_SQLITE_APPLICATION_ID, DB_SQLITE_SCHEMA_VERSION, DB_SQLITE_SCHEMA_VERSION);
    CM_TRY(sq_exec(s, schema_sql, "creating the schema"));
    CM_TRY(sq_exec(s, sql, "creating the schema"));
    CM_TRY(sq_exec(s, "COMMIT", "creating the schema"));
out:
    if (rc != CM_OK)
        sq_rollback(&s->base);
    return rc;
}

/* A non-empty file at path (also a leftover WAL, which SQLite would replay
 * into a "new" database). */
static int file_nonempty(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > 0);
}

/* certmint writes on every open (WAL mode, the -wal and -shm files beside
 * the database): say plainly when the file or its directory cannot be
 * written, before SQLite reports it as "unable to open database file". */
static cm_err check_writable(const char *path)
{
    char dir[PATH_MAX];

    /* access, not open + close: closing any descriptor of the database
     * file drops every POSIX lock this process holds on it, those of the
     * other SQLite connections open in it included (sqlite.org
     * howtocorrupt.html 2.2.1). Another process then believes it is the
     * last user, checkpoints and removes the -wal and -shm under them:
     * stale reads, then a corrupt database. */
    if (faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) != 0)
        return cm_err_set(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO,
                          "%s: cannot open the database for writing: %s", path, strerror(errno));
    snprintf(dir, sizeof(dir), "%s", path);
    if (access(dirname(dir), W_OK) != 0)
        return cm_err_set(CM_ERR_IO,
                          "%s: cannot write in the database's directory (SQLite keeps its -wal "
                          "and -shm files there): %s",
                          path, strerror(errno));
    return CM_OK;
}

/* A new handle for path, not yet connected (sq_close frees it). */
static cm_err sq_alloc(struct sqlite_db **out, const char *path)
{
    struct sqlite_db *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->ck.mu, NULL);
    pthread_cond_init(&s->ck.cv, NULL);
    for (int t = 0; t < ROWS_N; t++)
        buf_init(&s->rows[t].data, ROWS_BYTES);
    s->path = strdup(path);
    if (s->path == NULL) {
        sq_close(&s->base);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return CM_OK;
}

static cm_err sq_open(db_t **out, const char *path, int create)
{
    struct sqlite_db *s = NULL;
    char wal[PATH_MAX];
    struct stat sb;
    int fd = -1, created = 0;
    cm_err rc;

    *out = NULL;
    (void)pthread_once(&memstatus_once, memstatus_off);
    CM_TRY(sq_alloc(&s, path));
    if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
        CM_FAIL(CM_ERR_INVALID, "%s: path too long", path);
    if (create) {
        if (file_nonempty(path) || file_nonempty(wal))
            CM_FAIL(CM_ERR_EXISTS, "%s: a database already exists; not overwriting it", path);
        /* Create it ourselves: mode 0600 (requester names and e-mail
         * addresses are personal data); SQLite gives -wal and -shm the
         * same mode. */
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            created = 1;
        else if (errno == EEXIST) /* an empty file is a fine place to start */
            fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            CM_FAIL(CM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > 0)
            CM_FAIL(CM_ERR_EXISTS, "%s: a database already exists; not overwriting it", path);
    } else {
        if (stat(path, &sb) != 0 && errno == ENOENT)
            CM_FAIL(CM_ERR_NOTFOUND, "%s: CA database missing", path);
        if (stat(path, &sb) != 0)
            CM_FAIL(CM_ERR_IO, "%s: cannot open database: %s", path, strerror(errno));
        if (!S_ISREG(sb.st_mode))
            CM_FAIL(CM_ERR_DB, "%s: not a certmint database (not a regular file)", path);
        CM_TRY(check_writable(path));
    }
    if (sqlite3_open_v2(path, &s->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, walbuf_vfs()) !=
        SQLITE_OK) {
        if (s->h == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        CM_TRY(sq_fail(s, "cannot open database"));
    }
    sqlite3_extended_result_codes(s->h, 1);
    sqlite3_busy_timeout(s->h, BUSY_TIMEOUT_MS);
    /* Hardening against a crafted database file: no writable_schema
     * tricks, no SQL functions with side effects in views or triggers. */
    sqlite3_db_config(s->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    if (!create)
        CM_TRY(check_identity(s));
    CM_TRY(set_pragmas(s, create));
    /* Checkpoints off the committing thread (ckpt_hook); replaces
     * SQLite's automatic checkpoint. */
    sqlite3_wal_hook(s->h, ckpt_hook, s);
    if (!create)
        CM_TRY(sq_exec(s, POISON_TABLE_SQL VAULT_TABLE_SQL, "adding the newer tables"));
    if (create) {
        char dir[PATH_MAX];
        CM_TRY(create_schema(s));
        snprintf(dir, sizeof(dir), "%s", path);
        CM_TRY(fs_sync_dir(dirname(dir)));
    }
    *out = &s->base;
    s = NULL;
    rc = CM_OK;
out:
    if (fd >= 0)
        close(fd);
    if (s != NULL)
        sq_close(&s->base);
    if (rc != CM_OK && created) {
        /* Leave nothing behind from a failed create (only what we made). */
        char shm[PATH_MAX];
        snprintf(shm, sizeof(shm), "%s-shm", path);
        unlink(path);
        unlink(wal);
        unlink(shm);
    }
    return rc;
}

/* Copies the database of s into dest_path, a self-contained file in
 * rollback-journal mode, through SQLite's online backup API: a consistent
 * snapshot even while other connections write. */
static cm_err backup_to(struct sqlite_db *s, const char *dest_path)
{
    sqlite3 *dh = NULL;
    sqlite3_backup *bk = NULL;
    char tmp[PATH_MAX], dir[PATH_MAX];
    int fd = -1, made_tmp = 0, x;
    cm_err rc;

    /* The copy reads the connection's pages: rows kept back go in first. */
    CM_TRY(rows_flush(s));
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dest_path) >= (int)sizeof(tmp))
        CM_FAIL(CM_ERR_INVALID, "%s: path too long", dest_path);
    fd = mkstemp(tmp);
    if (fd < 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot create: %s", dest_path, strerror(errno));
    made_tmp = 1;
    close(fd);
    fd = -1;
    if (sqlite3_open_v2(tmp, &dh, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: cannot open: %s", tmp, dh ? sqlite3_errmsg(dh) : "out of memory");
    bk = sqlite3_backup_init(dh, "main", s->h, "main");
    if (bk == NULL)
        CM_FAIL(CM_ERR_DB, "%s: backup: %s", dest_path, sqlite3_errmsg(dh));
    /* All pages in one step: one read transaction on the source, so the
     * copy is a consistent snapshot even while others write. */
    x = sqlite3_backup_step(bk, -1);
    if (x != SQLITE_DONE) {
        sqlite3_backup_finish(bk);
        bk = NULL;
        CM_FAIL(CM_ERR_DB, "%s: backup: %s", dest_path, sqlite3_errstr(x));
    }
    x = sqlite3_backup_finish(bk);
    bk = NULL;
    if (x != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: backup: %s", dest_path, sqlite3_errmsg(dh));
    /* The copy carries the source's WAL flag; make it a self-contained
     * file (no -wal beside it) before it is renamed into place. */
    if (sqlite3_exec(dh, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: backup: %s", dest_path, sqlite3_errmsg(dh));
    if (sqlite3_close(dh) != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: backup: closing the copy failed", dest_path);
    dh = NULL;
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot sync: %s", tmp, strerror(errno));
    if (rename(tmp, dest_path) != 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot rename into place: %s", dest_path, strerror(errno));
    made_tmp = 0;
    snprintf(dir, sizeof(dir), "%s", dest_path);
    CM_TRY(fs_sync_dir(dirname(dir)));
    rc = CM_OK;
out:
    if (fd >= 0)
        close(fd);
    if (bk != NULL)
        sqlite3_backup_finish(bk);
    if (dh != NULL)
        sqlite3_close(dh);
    if (made_tmp)
        unlink(tmp);
    return rc;
}

/* ---- handles, locks, snapshots, integrity (ops version 2) ---- */

static cm_err sq_home_location(char *out, size_t outsz, const char *home)
{
    int n = snprintf(out, outsz, "sqlite:%s/" SQ_HOME_FILE, home);
    if (n < 0 || (size_t)n >= outsz)
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", home);
    return CM_OK;
}

/* Only the path is used: after fork() the parent's connection belongs to
 * the parent (SQLite forbids carrying one across fork). */
static cm_err sq_clone(db_t **out, db_t *db)
{
    return sq_open(out, SDB(db)->path, 0);
}

static cm_err sq_remove(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[PATH_MAX];

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        if (snprintf(p, sizeof(p), "%s%s", path, suffix[i]) >= (int)sizeof(p))
            return cm_err_set(CM_ERR_INVALID, "%s: path too long", path);
        if (unlink(p) != 0 && errno != ENOENT)
            return cm_err_set(CM_ERR_IO, "%s: cannot remove: %s", p, strerror(errno));
    }
    return CM_OK;
}

/* A lock is an flock on DIR/NAME.lock beside the database: "exit" is then
 * HOME/exit.lock, the file earlier versions used, so an old `serve` and a
 * new command still exclude each other during an upgrade. */
static cm_err lock_path(char *out, size_t outsz, const struct sqlite_db *s, const char *name)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", s->path);
    if (snprintf(out, outsz, "%s/%s.lock", dirname(dir), name) >= (int)outsz)
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", s->path);
    return CM_OK;
}

static cm_err sq_lock(db_t *db, int *held, const char *name, int mode)
{
    struct sqlite_db *s = SDB(db);
    char path[PATH_MAX];
    int slot = -1, fd = -1, r;
    cm_err rc;

    *held = 0;
    for (int i = 0; i < SQ_LOCKS_MAX; i++) {
        assert(strcmp(s->locks[i].name, name) != 0); /* already held by this handle */
        if (slot < 0 && s->locks[i].name[0] == '\0')
            slot = i;
    }
    if (slot < 0)
        CM_FAIL(CM_ERR_STATE, "%s: too many locks held", s->path);
    CM_TRY(lock_path(path, sizeof(path), s, name));
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot open the lock: %s", path, strerror(errno));
    while ((r = flock(fd, ((mode & DB_LOCK_SHARED) ? LOCK_SH : LOCK_EX) |
                              ((mode & DB_LOCK_WAIT) ? 0 : LOCK_NB))) != 0 &&
           errno == EINTR)
        ;
    if (r != 0 && errno == EWOULDBLOCK)
        goto out; /* held elsewhere: *held stays 0 */
    if (r != 0)
        CM_FAIL(CM_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
    snprintf(s->locks[slot].name, sizeof(s->locks[slot].name), "%s", name);
    s->locks[slot].fd = fd;
    fd = -1;
    *held = 1;
    rc = CM_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void sq_unlock(db_t *db, const char *name)
{
    struct sqlite_db *s = SDB(db);
    for (int i = 0; i < SQ_LOCKS_MAX; i++)
        if (strcmp(s->locks[i].name, name) == 0) {
            close(s->locks[i].fd);
            s->locks[i].name[0] = '\0';
            s->locks[i].fd = -1;
        }
}

/* The marks in one read transaction (WAL: a stable view while others
 * commit), or in the caller's. */
static cm_err sq_marks(db_t *db, struct db_marks *m)
{
    struct sqlite_db *s = SDB(db);
    int own = !db->in_tx && sqlite3_get_autocommit(s->h);
    cm_err rc;

    if (own)
        CM_TRY(sq_exec(s, "BEGIN", "reading the high-water marks"));
    CM_TRY(counter_read(s, &m->last_request_id, "counter." DB_COUNTER_REQUEST_ID));
    CM_TRY(counter_read(s, &m->last_crl_number, "counter." DB_COUNTER_CRL_NUMBER));
    CM_TRY(query_int(s, &m->last_event_id, "SELECT COALESCE(max(ID), 0) FROM events",
                     "reading the high-water marks"));
    CM_TRY(query_int(s, &m->certificates, "SELECT count(*) FROM certificates",
                     "reading the high-water marks"));
out:
    if (own && !sqlite3_get_autocommit(s->h))
        (void)sqlite3_exec(s->h, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* A read-only connection that changes nothing in the file or beside it
 * (immutable: no locks, no -wal or -shm): for a snapshot, whose hash is
 * in a manifest. */
static cm_err open_readonly(struct sqlite_db **out, const char *path)
{
    struct sqlite_db *s = NULL;
    cm_buf uri = CM_BUF_INIT(3 * PATH_MAX + 32);
    struct stat sb;
    cm_err rc;

    *out = NULL;
    if (stat(path, &sb) != 0)
        return cm_err_set(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO, "%s: %s", path,
                          strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return cm_err_set(CM_ERR_DB, "%s: not a certmint database (not a regular file)", path);
    CM_TRY(sq_alloc(&s, path));
    /* RFC 3986 file URI: escape what SQLite's URI parser would read. */
    CM_TRY(buf_append_str(&uri, "file:"));
    for (const char *p = path; *p; p++)
        if (*p == '%' || *p == '?' || *p == '#')
            CM_TRY(buf_printf(&uri, "%%%02X", (unsigned char)*p));
        else
            CM_TRY(buf_append(&uri, p, 1));
    CM_TRY(buf_append(&uri, "?immutable=1", 13)); /* with the NUL */
    if (sqlite3_open_v2((const char *)uri.data, &s->h,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        if (s->h == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        CM_TRY(sq_fail(s, "cannot open database"));
    }
    sqlite3_extended_result_codes(s->h, 1);
    sqlite3_db_config(s->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    CM_TRY(check_identity(s));
    *out = s;
    s = NULL;
    rc = CM_OK;
out:
    buf_free(&uri);
    if (s != NULL)
        sq_close(&s->base);
    return rc;
}

static cm_err sq_snapshot(db_t *db, struct db_marks *marks, const char *dir, db_file_cb cb,
                          void *ctx)
{
    struct sqlite_db *copy = NULL;
    char to[PATH_MAX];
    cm_err rc;

    CM_TRY(fs_join(to, sizeof(to), dir, SQ_HOME_FILE));
    CM_TRY(backup_to(SDB(db), to));
    /* The marks of exactly the copied state: read from the copy. */
    CM_TRY(open_readonly(&copy, to));
    CM_TRY(sq_marks(&copy->base, marks));
    if (cb != NULL)
        CM_TRY(cb(ctx, SQ_HOME_FILE));
out:
    if (copy != NULL)
        sq_close(&copy->base);
    return rc;
}

static cm_err sq_snapshot_open(db_t **out, const char *dir, db_file_cb cb, void *ctx)
{
    struct sqlite_db *s = NULL;
    char path[PATH_MAX];
    cm_err rc;

    *out = NULL;
    CM_TRY(fs_join(path, sizeof(path), dir, SQ_HOME_FILE));
    if (!fs_exists(path))
        CM_FAIL(CM_ERR_NOTFOUND, "%s: no database snapshot (no %s)", dir, SQ_HOME_FILE);
    if (cb != NULL)
        CM_TRY(cb(ctx, SQ_HOME_FILE));
    CM_TRY(open_readonly(&s, path));
    *out = &s->base;
out:
    return rc;
}

static cm_err sq_restore(const char *path, const char *dir)
{
    struct sqlite_db *src = NULL;
    char from[PATH_MAX], wal[PATH_MAX];
    cm_err rc;

    CM_TRY(fs_join(from, sizeof(from), dir, SQ_HOME_FILE));
    if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
        CM_FAIL(CM_ERR_INVALID, "%s: path too long", path);
    if (file_nonempty(path) || file_nonempty(wal))
        CM_FAIL(CM_ERR_EXISTS, "%s: a database already exists; not overwriting it", path);
    CM_TRY(open_readonly(&src, from));
    /* Page by page, not the file read whole: a database of millions of
     * certificates does not pass through memory at once. */
    CM_TRY(backup_to(src, path));
    if (chmod(path, 0600) != 0)
        CM_FAIL(CM_ERR_IO, "%s: chmod: %s", path, strerror(errno));
out:
    if (src != NULL)
        sq_close(&src->base);
    return rc;
}

/* PRAGMA integrity_check reads every page and index; foreign_key_check
 * finds certificates whose request is gone. The first complaint is named. */
static cm_err sq_check(db_t *db)
{
    static const char *const sql[] = {"PRAGMA integrity_check(1)", "PRAGMA foreign_key_check"};
    struct sqlite_db *s = SDB(db);
    sqlite3_stmt *st = NULL;
    cm_err rc = CM_OK;
    int x;

    for (size_t i = 0; i < 2; i++) {
        if (sq_prepare(s, sql[i], -1, &st, NULL) != SQLITE_OK)
            CM_FAIL(CM_ERR_DB, "%s: integrity check failed: %s", s->path, sqlite3_errmsg(s->h));
        x = sqlite3_step(st);
        if (x == SQLITE_ROW && i == 0) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            /* "*** in database main ***\nPage 7: ...": one line. */
            if (t != NULL && strncmp(t, "*** ", 4) == 0 && strchr(t, '\n') != NULL)
                t = strchr(t, '\n') + 1;
            if (t == NULL || strcmp(t, "ok") != 0)
                CM_FAIL(CM_ERR_DB, "%s: integrity check failed: %.*s", s->path,
                        t ? (int)strcspn(t, "\n") : 1, t ? t : "?");
        } else if (x == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            CM_FAIL(CM_ERR_DB, "%s: integrity check failed: a row of %s refers to a missing row",
                    s->path, t ? (const char *)t : "?");
        } else if (x != SQLITE_DONE) {
            CM_FAIL(CM_ERR_DB, "%s: integrity check failed: %s", s->path, sqlite3_errmsg(s->h));
        }
        sqlite3_finalize(st);
        st = NULL;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

const struct db_ops db_sqlite_ops = {
    .version = DB_OPS_VERSION,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .counter_next = sq_counter_next,
    .counter_raise = sq_counter_raise,
    .request_insert = sq_request_insert,
    .request_get = sq_request_get,
    .request_resolve = sq_request_resolve,
    .request_list = sq_request_list,
    .cert_insert = sq_cert_insert,
    .cert_get = sq_cert_get,
    .cert_get_by_request = sq_cert_get_by_request,
    .cert_set_withheld = sq_cert_set_withheld,
    .cert_revoke = sq_cert_revoke,
    .cert_unrevoke = sq_cert_unrevoke,
    .revoked_iter = sq_revoked_iter,
    .crl_insert = sq_crl_insert,
    .crl_last = sq_crl_last,
    .audit_append = sq_audit_append,
    .view = sq_view,
    .event_enqueue = sq_event_enqueue,
    .event_iter = sq_event_iter,
    .poison_add = sq_poison_add,
    .poison_del = sq_poison_del,
    .poison_iter = sq_poison_iter,
    .audit_iter = sq_audit_iter,
    .cert_fill_placeholder = sq_cert_fill_placeholder,
    .home_location = sq_home_location,
    .clone = sq_clone,
    .remove = sq_remove,
    .counter_get = sq_counter_get,
    .lock = sq_lock,
    .unlock = sq_unlock,
    .marks = sq_marks,
    .snapshot = sq_snapshot,
    .snapshot_open = sq_snapshot_open,
    .restore = sq_restore,
    .check = sq_check,
    .vault_insert = sq_vault_insert,
    .vault_update = sq_vault_update,
    .vault_iter = sq_vault_iter,
};
