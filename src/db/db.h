/* The certificate database: a storage interface (an ops table, like libgit2's
 * odb backends) whose first implementation is SQLite. Callers use only the
 * db_* wrappers below, so a PostgreSQL backend is one new file registered in
 * the static table in db.c. Nothing outside src/db names a file of the
 * database, an SQL statement or how a backend encodes its state: counters,
 * locks, metadata, snapshots and the integrity check are ops like the rest.
 *
 * Model (AD CS's view, column names included so exit-module templates and
 * `certmint view` can name them):
 *   request   one row per submitted (or imported / placeholder) request,
 *             identified by RequestID; Disposition says where it stands.
 *   cert      at most one certificate per request, identified by its
 *             SerialNumber (canonical upper-case hex, see util/text.h);
 *             revocation state lives on the certificate row.
 *   crl       every CRL published (number, times, delta or full).
 *   audit     append-only log of every state change.
 *   event     the exit-module outbox (written in the same transaction as
 *             the state change that raised it).
 *   meta      small named values of the modules above the database (exit
 *             cursors, directory publication marks, open batches).
 *   counter   named sequences (RequestID, CRL number, revocation sequence,
 *             event ID).
 *
 * Transactions: every command runs in exactly one db_begin()/db_commit();
 * on any error the caller calls db_rollback() and nothing has changed. The
 * wrappers assert that a write happens inside a transaction.
 *
 * THE CONTRACT (what every backend must guarantee; tests/unit/
 * test_db_contract.c runs it against every backend in the registry, so a
 * new backend is done when that test passes for it):
 *
 * C1 Handles. A handle (db_t) is one connection, used by one thread at a
 *    time; two handles on one database (db_clone, or db_open twice, in one
 *    process or several) are independent sessions. db_clone may be called
 *    in a child after fork() on the parent's handle: it uses only the
 *    handle's location, never the parent's connection.
 * C2 Transactions. db_begin starts a write transaction that is serializable
 *    against every other handle's: what it reads stays true until its
 *    commit (SQLite: BEGIN IMMEDIATE, one writer; PostgreSQL: SERIALIZABLE,
 *    or row locks on what is read, with the retry inside the backend). A
 *    commit that returned CM_OK is durable (survives a crash or power
 *    loss); a rollback leaves no trace; a handle closed inside a
 *    transaction rolls it back. Reads outside a transaction see committed
 *    data only.
 * C3 Counters (db_counter_*: "request_id", "crl_number", "rev_seq" and
 *    event IDs). A value handed out never repeats and never goes
 *    backwards, across handles, processes, reopen, restore from a snapshot
 *    and rollbacks of other transactions (a rolled-back value may be
 *    handed out again only if nobody committed it; gaps are allowed). Two
 *    transactions that both take a value get different ones: the read and
 *    the increment are one atomic step (SQLite gets this from BEGIN
 *    IMMEDIATE; PostgreSQL must use UPDATE ... RETURNING on a locked row or
 *    a sequence, never SELECT-then-UPDATE without a lock). Values taken by
 *    one transaction may come from memory and the counter be stored at
 *    its commit (SQLite does so for request_id: one read and one write per
 *    batch group, not five statements per request). RequestIDs and
 *    CRL numbers are the certificates' and CRLs' names: RFC 5280 5.2.3
 *    requires monotonically increasing CRL numbers.
 * C4 Uniqueness is the database's. A certificate's serial is drawn at
 *    random by the caller (>= 64 bits); db_cert_insert of a serial already
 *    there fails with CM_ERR_EXISTS even when the other insert came through
 *    another handle a moment before (a unique index, not a read-then-
 *    insert). The same holds for RequestIDs given by the caller. For a
 *    certificate just signed (origin DB_ORIGIN_ISSUED, with its DER) the
 *    refusal may come at the transaction's next synchronous step instead,
 *    at the latest db_commit (both backends send such rows together,
 *    as multi-row INSERTs); the
 *    whole transaction then fails and stores nothing.
 * C5 State changes are compare-and-set. db_request_resolve, db_cert_revoke
 *    and db_cert_unrevoke change a row only if it is still in the state the
 *    caller expects, in the same statement; of two racing handles exactly
 *    one wins, the other gets CM_ERR_STATE and changes nothing.
 * C6 The outbox. Event IDs are assigned at enqueue, strictly increasing in
 *    commit order as seen by db_event_iter (an event committed later never
 *    gets a lower ID than one already read by a deliverer: with SQLite the
 *    single writer gives this; PostgreSQL takes the ID under the
 *    writer's lock, which orders the transactions).
 *    Exit modules deliver in ID order and record "delivered up to ID".
 * C7 Metadata (db_meta_*) is transactional like every row. Keys are the
 *    callers' (module.name...); the backend keeps its own state (counters,
 *    schema version) out of their reach: db_meta_* refuses the reserved
 *    keys "schema_version" and "counter.*".
 * C8 Locks (db_lock). A named lock is exclusive across handles (or
 *    shared among them: DB_LOCK_SHARED), in one process or several; it is
 *    held until db_unlock, db_close, or the death of the process (a killed
 *    holder never blocks the next one: SQLite uses
 *    flock(2), PostgreSQL a session-level advisory lock). Locks do not
 *    depend on transactions. Callers never fork() while holding one (with
 *    flock the child would hold it too, as long as it lives).
 * C9 Snapshots. db_snapshot writes a consistent snapshot of the committed
 *    state (one point in time, while other handles keep writing) into a
 *    directory, with the high-water marks of exactly that state;
 *    db_snapshot_open opens such a snapshot without changing it;
 *    db_restore makes a new database from one. Counters continue from the
 *    snapshot's values (C3 across a restore; recovery raises them past the
 *    mail trail with db_counter_raise).
 * C10 Integrity. db_check finds damage to the stored data (torn pages,
 *    broken indexes, dangling references) and names it; CM_OK only when
 *    the backend's own check passes.
 * C11 Wake-ups (optional). db_wait returns early once another handle
 *    committed an event; never later than its timeout (see db_wait).
 *
 * Ownership: structs returned through an out pointer are owned by the caller
 * and freed with the matching *_free() (NULL-safe). Strings inside structs
 * passed in are borrowed for the duration of the call. */
#ifndef CM_DB_DB_H
#define CM_DB_DB_H

#include "util/err.h"
#include "util/text.h"

#include <stddef.h>
#include <stdint.h>

/* 2: counters read, locks, clone, snapshots, integrity check (issue 10). */
#define DB_OPS_VERSION 2

/* The counters every backend keeps (C3). "event_id" is the outbox's: read
 * and raised like the others, taken only by db_event_enqueue. */
#define DB_COUNTER_REQUEST_ID "request_id"
#define DB_COUNTER_CRL_NUMBER "crl_number"
#define DB_COUNTER_REV_SEQ "rev_seq"
#define DB_COUNTER_EVENT_ID "event_id"

/* Disposition values: AD CS's numbers so that habits carry over. */
enum db_disposition {
    DB_DISP_PENDING = 9,
    DB_DISP_FOREIGN = 12, /* imported certificate / placeholder */
    DB_DISP_ISSUED = 20,
    DB_DISP_REVOKED = 21, /* computed in the view from the cert's revocation */
    DB_DISP_FAILED = 30,
    DB_DISP_DENIED = 31,
};
const char *db_disposition_name(int disp); /* "pending", "issued", ... */

/* Where a certificate row came from. */
enum db_origin {
    DB_ORIGIN_ISSUED = 0,      /* signed by this CA through submit/approve */
    DB_ORIGIN_IMPORTED = 1,    /* import-cert of a certificate this CA signed */
    DB_ORIGIN_PLACEHOLDER = 2, /* bare serial recorded for revocation */
};
const char *db_origin_name(int origin);

/* RFC 5280 5.3.1 CRLReason values. -1 = not revoked. */
enum db_reason {
    DB_REASON_NONE = -1,
    DB_REASON_UNSPECIFIED = 0,
    DB_REASON_KEY_COMPROMISE = 1,
    DB_REASON_CA_COMPROMISE = 2,
    DB_REASON_AFFILIATION_CHANGED = 3,
    DB_REASON_SUPERSEDED = 4,
    DB_REASON_CESSATION = 5,
    DB_REASON_HOLD = 6,
    DB_REASON_REMOVE_FROM_CRL = 8, /* only in delta CRLs */
    DB_REASON_PRIVILEGE_WITHDRAWN = 9,
    DB_REASON_AA_COMPROMISE = 10,
};
/* Name <-> code: accepts "keyCompromise", "keycompromise", "1", ... Returns
 * -1 (and sets the error) when unknown or not allowed for revoke. */
int db_reason_parse(const char *s);
const char *db_reason_name(int reason);

struct db_request {
    int64_t request_id; /* assigned by db_request_insert */
    char *requester_name;
    int64_t submitted_when; /* unix seconds UTC */
    int64_t resolved_when;  /* 0 while pending */
    int disposition;
    char *disposition_message;
    char *template_name;        /* CertificateTemplate: the profile */
    char *request_dn;           /* subject DN as requested (RFC 4514 string) */
    unsigned char *raw_request; /* DER PKCS#10, may be NULL */
    size_t raw_request_len;
    char *recovered_from; /* Message-ID / file a recovered row came from */
};

struct db_cert {
    char serial[CM_SERIAL_BUF];
    int64_t request_id;
    int origin;
    int64_t not_before, not_after;
    char *dn;    /* DistinguishedName (RFC 4514 string, as `openssl -nameopt RFC2253`) */
    char *cn;    /* CommonName */
    char *email; /* EMail: first rfc822Name SAN, else subject emailAddress */
    char *san;   /* SubjectAltNames, comma separated "DNS:a, IP:1.2.3.4" */
    char *hash;  /* CertificateHash: SHA-1 thumbprint, lower-case hex (AD CS) */
    char *ski;   /* SubjectKeyIdentifier, lower-case hex */
    char *template_name;
    unsigned char *raw; /* DER certificate; NULL for placeholders */
    size_t raw_len;
    /* Revocation (RFC 5280 5.3): reason -1 when not revoked. */
    int revoked_reason;
    int64_t revoked_when;           /* when the CA recorded it */
    int64_t revoked_effective_when; /* revocationDate on the CRL */
    int64_t invalidity_date;        /* 0 = none (RFC 5280 5.3.2) */
    int64_t rev_seq;                /* change sequence of the last revoke/unrevoke */
    int64_t hold_seq;               /* rev_seq the certificate was put on hold at, when released */
    int64_t released_when;          /* 0 unless released from hold */
    int withheld;                   /* strict audit mode: not yet handed out */
    char *recovered_from;
};

struct db_crl {
    int64_t number;
    int is_delta;
    int64_t base_number; /* deltas: the full CRL they build on */
    int64_t this_update, next_update;
    int64_t rev_seq; /* highest revocation change covered */
    int64_t entries;
    char *hash; /* SHA-256 of the DER, hex */
};

struct db_audit {
    int64_t when;
    const char *who;    /* operator (login name) or "service" */
    const char *action; /* "submit", "issue", "revoke", ... */
    int64_t request_id; /* 0 = none */
    const char *serial; /* NULL = none */
    const char *details;
};

/* One audit record as read back; id orders them (assigned on append,
 * strictly increasing). Pointers borrowed during the callback. */
typedef cm_err (*db_audit_cb)(void *ctx, int64_t id, const struct db_audit *a);

/* An entry for CRL building (borrowed pointers valid during the callback). */
struct db_revoked {
    const char *serial; /* canonical hex */
    int reason;         /* DB_REASON_*; DB_REASON_REMOVE_FROM_CRL for releases */
    int64_t revoked_effective_when;
    int64_t invalidity_date;
};
typedef cm_err (*db_revoked_cb)(void *ctx, const struct db_revoked *r);

/* Column table for view/restrict/templates. */
enum db_coltype {
    DB_COL_INT,
    DB_COL_TEXT,
    DB_COL_TIME,
    DB_COL_SERIAL,
    DB_COL_BLOB,
    DB_COL_DISP,
    DB_COL_REASON
};
struct db_column {
    const char *name; /* AD CS column name, matched case-insensitively */
    enum db_coltype type;
    int indexed; /* restrict on it uses an index */
};
extern const struct db_column db_columns[];
extern const size_t db_ncolumns;
/* Index into db_columns of name (case-insensitive), or -1 with error set. */
int db_column_find(const char *name);

/* A restriction: column OP value, already parsed (see restrict.h). */
enum db_op { DB_OP_EQ, DB_OP_NE, DB_OP_LT, DB_OP_LE, DB_OP_GT, DB_OP_GE };
struct db_restrict {
    int column;
    enum db_op op;
    int is_null;  /* value is "EMPTY"/NULL */
    int64_t ival; /* INT, TIME, DISP, REASON */
    char *sval;   /* TEXT, SERIAL (canonical) */
};

/* One row of the view: values[i] is the text form of db_columns[i] (NULL when
 * SQL NULL); blobs are given as raw bytes with blob_len. Borrowed during the
 * callback. Return non-OK to stop (the code is passed back). */
struct db_row {
    const char *const *values;
    const unsigned char *const *blobs;
    const size_t *blob_len;
};
typedef cm_err (*db_row_cb)(void *ctx, const struct db_row *row);

/* Exit-module outbox. */
struct db_event {
    int64_t id;                 /* assigned on enqueue, strictly increasing */
    int type;                   /* EXIT_EV_* bit (see exit/exit.h) */
    int64_t request_id;         /* 0 = none */
    char serial[CM_SERIAL_BUF]; /* "" = none */
    int64_t created;
    char *payload; /* JSON with event-specific fields, may be NULL */
};
typedef cm_err (*db_event_cb)(void *ctx, const struct db_event *ev);

/* An event one exit module cannot deliver as it is (docs/exit-modules.md):
 * kept aside with the reason until `certmint exit retry` or `exit skip`. */
struct db_poison {
    const char *module;
    int64_t event_id;
    const char *reason;
    int64_t since;
    int64_t attempts;
};
typedef cm_err (*db_poison_cb)(void *ctx, const struct db_poison *p);

/* Every backend's handle starts with this struct (so db.c can dispatch and
 * track the transaction state): struct sqlite_db { struct db base; ... }. */
typedef struct db db_t;
struct db_ops;
struct db {
    const struct db_ops *ops;
    int in_tx;
};

/* The high-water marks of a database state (C9): what a backup records and
 * a restore continues from. */
struct db_marks {
    int64_t last_request_id; /* the request_id counter */
    int64_t last_crl_number; /* the crl_number counter */
    int64_t last_event_id;   /* highest event ID in the outbox, 0 when empty */
    int64_t certificates;    /* certificate rows */
};

/* The vault (issue 12): small records of key archival and enrollment
 * tokens, (kind, name) -> state, creation time, body. The core keeps
 * only ciphertext and hashes here (docs/key-archival.md, docs/tokens.md);
 * kinds are the callers' ("kra.agent", "kra.archive", "kra.recovery",
 * "kra.share", "token"). Strings and body are borrowed for the call. */
struct db_vault {
    const char *kind;
    const char *name;
    int state;
    int64_t created;
    const unsigned char *body;
    size_t body_len;
};
typedef cm_err (*db_vault_cb)(void *ctx, const struct db_vault *v);

/* Called with each file (relative to the snapshot directory) a snapshot
 * consists of. */
typedef cm_err (*db_file_cb)(void *ctx, const char *name);

struct db_ops {
    int version; /* DB_OPS_VERSION: checked when the backend is selected */
    const char *name;
    cm_err (*open)(db_t **out, const char *location, int create);
    void (*close)(db_t *db);
    cm_err (*begin)(db_t *db);
    cm_err (*commit)(db_t *db);
    void (*rollback)(db_t *db);
    cm_err (*meta_get)(db_t *db, char **out, const char *key);
    cm_err (*meta_set)(db_t *db, const char *key, const char *value);
    cm_err (*counter_next)(db_t *db, int64_t *out, const char *key);
    cm_err (*counter_raise)(db_t *db, const char *key, int64_t at_least);
    cm_err (*request_insert)(db_t *db, struct db_request *req);
    cm_err (*request_get)(db_t *db, struct db_request **out, int64_t id);
    cm_err (*request_resolve)(db_t *db, int64_t id, int disposition, const char *message,
                              int64_t when);
    cm_err (*request_list)(db_t *db, int disposition, db_row_cb cb, void *ctx);
    cm_err (*cert_insert)(db_t *db, const struct db_cert *c);
    cm_err (*cert_get)(db_t *db, struct db_cert **out, const char *serial);
    cm_err (*cert_get_by_request)(db_t *db, struct db_cert **out, int64_t request_id);
    cm_err (*cert_set_withheld)(db_t *db, const char *serial, int withheld);
    cm_err (*cert_revoke)(db_t *db, const char *serial, int reason, int64_t when, int64_t effective,
                          int64_t invalidity, int64_t seq);
    cm_err (*cert_unrevoke)(db_t *db, const char *serial, int64_t when, int64_t seq);
    cm_err (*revoked_iter)(db_t *db, int64_t since_seq, db_revoked_cb cb, void *ctx);
    cm_err (*crl_insert)(db_t *db, const struct db_crl *crl);
    cm_err (*crl_last)(db_t *db, struct db_crl **out, int is_delta);
    cm_err (*audit_append)(db_t *db, const struct db_audit *a);
    cm_err (*view)(db_t *db, const struct db_restrict *r, size_t nr, db_row_cb cb, void *ctx);
    cm_err (*event_enqueue)(db_t *db, struct db_event *ev);
    cm_err (*event_iter)(db_t *db, int64_t after_id, int type_mask, size_t limit, db_event_cb cb,
                         void *ctx);
    cm_err (*cert_fill_placeholder)(db_t *db, const struct db_cert *c);
    cm_err (*poison_add)(db_t *db, const char *module, int64_t event_id, const char *reason,
                         int64_t when);
    cm_err (*poison_del)(db_t *db, const char *module, int64_t event_id);
    cm_err (*poison_iter)(db_t *db, const char *module, db_poison_cb cb, void *ctx);
    cm_err (*audit_iter)(db_t *db, int64_t since, db_audit_cb cb, void *ctx);
    /* Version 2. */
    cm_err (*home_location)(char *out, size_t outsz, const char *home);
    cm_err (*clone)(db_t **out, db_t *db);
    cm_err (*remove)(const char *location);
    cm_err (*counter_get)(db_t *db, int64_t *out, const char *key);
    cm_err (*lock)(db_t *db, int *held, const char *name, int mode);
    void (*unlock)(db_t *db, const char *name);
    cm_err (*marks)(db_t *db, struct db_marks *out);
    cm_err (*snapshot)(db_t *db, struct db_marks *marks, const char *dir, db_file_cb cb, void *ctx);
    cm_err (*snapshot_open)(db_t **out, const char *dir, db_file_cb cb, void *ctx);
    cm_err (*restore)(const char *location, const char *dir);
    cm_err (*check)(db_t *db);
    /* Optional (NULL: db_wait sleeps the whole timeout; SQLite). */
    cm_err (*wait)(db_t *db, int *woken, int timeout_ms);
    /* Issue 12: the vault (key archival, enrollment tokens). */
    cm_err (*vault_insert)(db_t *db, const struct db_vault *v);
    cm_err (*vault_update)(db_t *db, const char *kind, const char *name, int expect_state,
                           int new_state, const unsigned char *body, size_t body_len);
    cm_err (*vault_iter)(db_t *db, const char *kind, const char *name, db_vault_cb cb, void *ctx);
};

/* Registry: the backends compiled in (db.c's table; the first is the
 * default). db_backend_find returns NULL for an unknown name; db_backend_at
 * walks the table (NULL past the end), for the contract test. */
const struct db_ops *db_backend_find(const char *name);
const struct db_ops *db_backend_at(size_t i);

/* Opens the database at location ("sqlite:PATH" or a bare path = sqlite).
 * create = 1 makes a new one (schema created); 0 requires it to exist. */
cm_err db_open(db_t **out, const char *location, int create) CM_MUST_USE;
void db_close(db_t *db);
const struct db_ops *db_get_ops(db_t *db);

/* The location of the database of the CA home at home: the home's db.url
 * when its certmint.conf sets one ("postgresql://USER@HOST:PORT/DB", see
 * docs/postgresql.md), else the default backend's choice (for SQLite
 * "sqlite:HOME/certmint.db"). Every caller
 * that opens a CA's database goes through this (or db_open_home), so the
 * home's layout below the database is the backend's business. */
cm_err db_home_location(char *out, size_t outsz, const char *home) CM_MUST_USE;
/* db_open(db_home_location(home), create). A missing database is
 * CM_ERR_NOTFOUND "LOCATION: CA database missing". */
cm_err db_open_home(db_t **out, const char *home, int create) CM_MUST_USE;
/* A new, independent handle (C1) on the database db is open on, for a
 * worker (thread, or process after fork) that needs its own connection. */
cm_err db_clone(db_t **out, db_t *db) CM_MUST_USE;
/* Removes the database at location and everything the backend keeps for it
 * (SQLite: the file, its -wal and -shm). Only for cleaning up what a failed
 * init or restore created; a missing database is not an error (clean-up
 * code may ignore the result: it is already on an error path). */
cm_err db_remove(const char *location);

cm_err db_begin(db_t *db) CM_MUST_USE;
cm_err db_commit(db_t *db) CM_MUST_USE;
void db_rollback(db_t *db); /* no-op outside a transaction */

/* Metadata (C7): small named strings of the modules above ("exit.MODULE.
 * acked", "ldap.published.SERIAL", ...). get: *out NULL if absent; outside
 * a transaction it reads the committed value. set: inside a transaction,
 * replaces the value. Keys "schema_version" and "counter.*" are the
 * backend's: CM_ERR_INVALID. */
cm_err db_meta_get(db_t *db, char **out, const char *key) CM_MUST_USE;
cm_err db_meta_set(db_t *db, const char *key, const char *value) CM_MUST_USE;
/* Counters (C3, DB_COUNTER_*; other names [a-z0-9_]+ are fine too). next:
 * inside a transaction, returns a value strictly greater than every value
 * any handle ever committed for key, atomically with the transaction
 * (CM_ERR_INVALID for "event_id": event IDs are taken by enqueue). */
cm_err db_counter_next(db_t *db, int64_t *out, const char *key) CM_MUST_USE;
/* Inside a transaction: makes every later value of key greater than
 * at_least (restore, recovery); never lowers it. */
cm_err db_counter_raise(db_t *db, const char *key, int64_t at_least) CM_MUST_USE;
/* The last value handed out (or raised to); 0 when never used. Inside a
 * transaction it is consistent with what the transaction reads (a CRL
 * records the revocation sequence it covers). */
cm_err db_counter_get(db_t *db, int64_t *out, const char *key) CM_MUST_USE;

/* Named locks (C8), [a-z0-9_-]+: "exit-MODULE" is the claim of the one
 * process delivering MODULE's events (exit/dispatch.c), "exit" (shared by
 * every deliverer, exclusive for `db migrate`) says that one delivers.
 * mode: DB_LOCK_WAIT blocks until the lock is free, else *held = 0 when
 * another handle holds it; DB_LOCK_SHARED takes it shared: any number of
 * shared holders at once, none while it is held exclusively (and the
 * other way round). Taking a lock the handle already holds is a
 * programming error. unlock: releases it (no-op when not held). */
enum { DB_LOCK_TRY = 0, DB_LOCK_WAIT = 1, DB_LOCK_SHARED = 2 };
cm_err db_lock(db_t *db, int *held, const char *name, int mode) CM_MUST_USE;
void db_unlock(db_t *db, const char *name);

/* Assigns req->request_id; when the caller sets it (> 0, recovery of a
 * request known from the audit trail) that ID is used, CM_ERR_EXISTS if
 * taken, and later IDs stay above it. */
cm_err db_request_insert(db_t *db, struct db_request *req) CM_MUST_USE;
cm_err db_request_get(db_t *db, struct db_request **out, int64_t id) CM_MUST_USE;
/* Resolves a pending request: a compare-and-set on Disposition = pending,
 * so that of two officers racing exactly one wins; the other gets
 * CM_ERR_STATE "request N is no longer pending (now: issued)" and must roll
 * back (CM_ERR_NOTFOUND when there is no such request). */
cm_err db_request_resolve(db_t *db, int64_t id, int disposition, const char *message,
                          int64_t when) CM_MUST_USE;
/* Rows of the view for requests with that disposition, oldest first. */
cm_err db_request_list(db_t *db, int disposition, db_row_cb cb, void *ctx) CM_MUST_USE;
void db_request_free(struct db_request *r);

cm_err db_cert_insert(db_t *db, const struct db_cert *c) CM_MUST_USE; /* CM_ERR_EXISTS on dup */
cm_err db_cert_get(db_t *db, struct db_cert **out, const char *serial) CM_MUST_USE;
cm_err db_cert_get_by_request(db_t *db, struct db_cert **out, int64_t request_id) CM_MUST_USE;
cm_err db_cert_set_withheld(db_t *db, const char *serial, int withheld) CM_MUST_USE;
/* Revoke and release are compare-and-sets on the revocation state read in
 * the same transaction (CM_ERR_STATE when it is not revocable / not on
 * hold, or changed meanwhile). */
cm_err db_cert_revoke(db_t *db, const char *serial, int reason, int64_t when, int64_t effective,
                      int64_t invalidity, int64_t seq) CM_MUST_USE;
cm_err db_cert_unrevoke(db_t *db, const char *serial, int64_t when, int64_t seq) CM_MUST_USE;
/* Turns the placeholder with c->serial into the real certificate c (the
 * descriptive columns and the DER; revocation state and RequestID stay).
 * CM_ERR_NOTFOUND when there is no placeholder with that serial. */
cm_err db_cert_fill_placeholder(db_t *db, const struct db_cert *c) CM_MUST_USE;
void db_cert_free(struct db_cert *c);
/* Frees the strings and buffers inside c (not c itself) and zeroes it. */
void db_cert_clear(struct db_cert *c);

/* Revoked certificates for a CRL. since_seq < 0: every revoked certificate
 * (full CRL). since_seq >= 0: certificates whose revocation changed after
 * since_seq (delta CRL), including DB_REASON_REMOVE_FROM_CRL entries for
 * holds released after since_seq whose hold was at or before since_seq. */
cm_err db_revoked_iter(db_t *db, int64_t since_seq, db_revoked_cb cb, void *ctx) CM_MUST_USE;

cm_err db_crl_insert(db_t *db, const struct db_crl *crl) CM_MUST_USE;
cm_err db_crl_last(db_t *db, struct db_crl **out, int is_delta) CM_MUST_USE; /* NULL if none */
void db_crl_free(struct db_crl *c);

cm_err db_audit_append(db_t *db, const struct db_audit *a) CM_MUST_USE;
/* The audit log, oldest first: records whose time is at or after since
 * (0: all). A non-OK return of cb stops and is passed back. */
cm_err db_audit_iter(db_t *db, int64_t since, db_audit_cb cb, void *ctx) CM_MUST_USE;

cm_err db_view(db_t *db, const struct db_restrict *r, size_t nr, db_row_cb cb,
               void *ctx) CM_MUST_USE;

cm_err db_event_enqueue(db_t *db, struct db_event *ev) CM_MUST_USE;
cm_err db_event_iter(db_t *db, int64_t after_id, int type_mask, size_t limit, db_event_cb cb,
                     void *ctx) CM_MUST_USE;

/* Makes the next event ID greater than at_least (after a restore, event IDs
 * seen in the mail trail must not be used again: they name the mails).
 * Same as db_counter_raise(db, DB_COUNTER_EVENT_ID, at_least). */
cm_err db_event_raise_id(db_t *db, int64_t at_least) CM_MUST_USE;

/* Poisoned events. add: records (or, when already there, updates the reason
 * and counts one more attempt of) event_id as poisoned for module. del:
 * CM_ERR_NOTFOUND when it is not. iter: module NULL = every module; by
 * event ID. Strings passed to cb are borrowed for the call. */
cm_err db_poison_add(db_t *db, const char *module, int64_t event_id, const char *reason,
                     int64_t when) CM_MUST_USE;
cm_err db_poison_del(db_t *db, const char *module, int64_t event_id) CM_MUST_USE;
cm_err db_poison_iter(db_t *db, const char *module, db_poison_cb cb, void *ctx) CM_MUST_USE;

/* The vault. insert: CM_ERR_EXISTS when (kind, name) is there (the
 * database's unique key, C4). update: compare-and-set (C5): changes the
 * state (and the body unless body is NULL) only while the row is in
 * expect_state, else CM_ERR_STATE (CM_ERR_NOTFOUND when there is no row).
 * iter: the rows of kind by name (name NULL: all of them; else that one:
 * CM_ERR_NOTFOUND when absent). */
cm_err db_vault_insert(db_t *db, const struct db_vault *v) CM_MUST_USE;
cm_err db_vault_update(db_t *db, const char *kind, const char *name, int expect_state,
                       int new_state, const unsigned char *body, size_t body_len) CM_MUST_USE;
cm_err db_vault_iter(db_t *db, const char *kind, const char *name, db_vault_cb cb,
                     void *ctx) CM_MUST_USE;

/* High-water marks (C9) of the committed state, read consistently. */
cm_err db_marks(db_t *db, struct db_marks *out) CM_MUST_USE;

/* Snapshots (C9). snapshot: outside a transaction, writes a consistent
 * snapshot of the committed state into the existing directory dir (durable
 * when it returns: files fsynced), fills *marks with the marks of exactly
 * that state, and calls cb for each file written (the caller lists and
 * hashes them; SQLite: "certmint.db", a self-contained file). A file of
 * that name already in dir is replaced only once the copy is complete.
 * snapshot_open: a read-only handle on the snapshot in dir, the dir left
 * byte for byte as it was; cb is called for each file it consists of (so a
 * verifier can check that its manifest covers them); CM_ERR_NOTFOUND when
 * dir holds none. restore: creates the database at location from the
 * snapshot in dir (CM_ERR_EXISTS when one is there); counters go on from
 * the snapshot's values. */
cm_err db_snapshot(db_t *db, struct db_marks *marks, const char *dir, db_file_cb cb,
                   void *ctx) CM_MUST_USE;
cm_err db_snapshot_open(db_t **out, const char *dir, db_file_cb cb, void *ctx) CM_MUST_USE;
cm_err db_restore(const char *location, const char *dir) CM_MUST_USE;

/* Waits, outside a transaction, up to timeout_ms for another handle (in
 * this process or another, on any machine) to commit a new outbox event
 * (C11): *woken = 1 when one was committed since the previous db_wait on
 * this handle (or during this one), returning at once then; 0 after the
 * timeout. A signal ends the wait early (*woken 0). A backend without
 * notifications (SQLite) sleeps the timeout: a waiter never misses an
 * event for longer than its timeout. PostgreSQL: LISTEN/NOTIFY, so idle
 * `serve` nodes start delivering as soon as a node commits an event. */
cm_err db_wait(db_t *db, int *woken, int timeout_ms) CM_MUST_USE;

/* Table digests of the snapshot in dir (written by db_snapshot of either
 * backend): cb gets each table's name, row count and SHA-256 (hex, over
 * the rows in column order), tables by name. `certmint db migrate`
 * compares the source's with the target's (src/db/digest.c). */
typedef cm_err (*db_digest_cb)(void *ctx, const char *table, int64_t rows, const char *sha256);
cm_err db_snapshot_digest(const char *dir, db_digest_cb cb, void *ctx) CM_MUST_USE;

/* Integrity check (C10): outside a transaction. CM_OK when the stored data
 * is sound; CM_ERR_DB naming the first problem found otherwise. */
cm_err db_check(db_t *db) CM_MUST_USE;

#endif
