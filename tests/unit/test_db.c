/* The certificate database against real SQLite files in a temp folder.
 * Where a property is about the file itself (append-only audit, schema
 * refusal, a restored database) the test opens it with a second, raw SQLite
 * connection, independent of the code under test. */
#include "db/db.h"
#include "db/restrict.h"
#include "db/sqlite.h"
#include "unit.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/cm-test-db.XXXXXX";
static int dbseq;

/* A fresh database path in the temp folder. */
static void new_path(char *out, size_t n)
{
    snprintf(out, n, "%s/db%d.sqlite", tmpdir, ++dbseq);
}

static db_t *new_db(char *path, size_t n)
{
    db_t *db = NULL;
    new_path(path, n);
    if (db_open(&db, path, 1) != CM_OK) {
        printf("# cannot create %s: %s\n", path, cm_err_msg());
        exit(1);
    }
    return db;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

/* Runs sql on path through its own connection; returns the SQLite code and
 * copies the error message. */
static int raw_exec(const char *path, const char *sql, char *err, size_t errsz)
{
    sqlite3 *h = NULL;
    char *msg = NULL;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (err)
        snprintf(err, errsz, "%s", msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(h);
    return rc;
}

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -12345;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Inserts a request (and a certificate when serial != NULL). Returns the
 * RequestID. */
static int64_t add(db_t *db, int disp, const char *cn, const char *serial, int64_t not_after)
{
    struct db_request rq;
    struct db_cert c;
    static const unsigned char der[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    static const unsigned char csr[] = {0x30, 0x00, 0xff, 0x00, 0x7f};
    char dn[128];

    memset(&rq, 0, sizeof(rq));
    snprintf(dn, sizeof(dn), "CN=%s,O=Example", cn);
    rq.requester_name = "alice";
    rq.submitted_when = 1700000000;
    rq.resolved_when = disp == DB_DISP_PENDING ? 0 : 1700000100;
    rq.disposition = disp;
    rq.disposition_message = "ok";
    rq.template_name = "server";
    rq.request_dn = dn;
    rq.raw_request = (unsigned char *)csr;
    rq.raw_request_len = sizeof(csr);
    if (db_request_insert(db, &rq) != CM_OK) {
        printf("# request insert: %s\n", cm_err_msg());
        return -1;
    }
    if (serial == NULL)
        return rq.request_id;
    memset(&c, 0, sizeof(c));
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    c.request_id = rq.request_id;
    c.origin = DB_ORIGIN_ISSUED;
    c.not_before = 1700000000;
    c.not_after = not_after;
    c.dn = dn;
    c.cn = (char *)cn;
    c.email = "a@example.org";
    c.san = "DNS:a.example.org";
    c.hash = "00ff";
    c.ski = "aabb";
    c.template_name = "server";
    c.raw = (unsigned char *)der;
    c.raw_len = sizeof(der);
    c.revoked_reason = DB_REASON_NONE;
    if (db_cert_insert(db, &c) != CM_OK) {
        printf("# cert insert: %s\n", cm_err_msg());
        return -1;
    }
    return rq.request_id;
}

TEST(names)
{
    CHECK_STR(db_disposition_name(DB_DISP_PENDING), "pending");
    CHECK_STR(db_disposition_name(DB_DISP_REVOKED), "revoked");
    CHECK_STR(db_disposition_name(77), "unknown");
    CHECK_STR(db_origin_name(DB_ORIGIN_PLACEHOLDER), "placeholder");
    CHECK_STR(db_reason_name(1), "keyCompromise");
    CHECK_STR(db_reason_name(8), "removeFromCRL");
    CHECK_STR(db_reason_name(10), "aACompromise");
    CHECK_STR(db_reason_name(7), "unknown");
    CHECK_INT(db_reason_parse("keyCompromise"), 1);
    CHECK_INT(db_reason_parse("KEYCOMPROMISE"), 1);
    CHECK_INT(db_reason_parse("cACompromise"), 2);
    CHECK_INT(db_reason_parse("certificatehold"), 6);
    CHECK_INT(db_reason_parse("0"), 0);
    CHECK_INT(db_reason_parse("9"), 9);
    CHECK_INT(db_reason_parse("10"), 10);
    CHECK_INT(db_reason_parse("privilegeWithdrawn"), 9);
    CHECK_INT(db_reason_parse("removeFromCRL"), -1);
    CHECK(strstr(cm_err_msg(), "removeFromCRL") != NULL);
    CHECK_INT(db_reason_parse("8"), -1);
    CHECK_INT(db_reason_parse("7"), -1);
    CHECK_INT(db_reason_parse("11"), -1);
    CHECK_INT(db_reason_parse("-1"), -1);
    CHECK_INT(db_reason_parse("010"), -1);
    CHECK_INT(db_reason_parse(""), -1);
    CHECK_INT(db_reason_parse("stolen"), -1);
    CHECK(strstr(cm_err_msg(), "'stolen'") != NULL);
    CHECK_INT(db_column_find("serialnumber"), 8);
    CHECK_INT(db_column_find("RequestID"), 0);
    CHECK_INT(db_column_find("Nope"), -1);
    CHECK(strstr(cm_err_msg(), "Nope") != NULL);
    CHECK_INT(db_ncolumns, 26);
    CHECK_STR(db_columns[25].name, "RawRequest");
    CHECK(db_backend_find("SQLite") != NULL);
    CHECK(db_backend_find("postgres") == NULL);
}

TEST(create_open)
{
    char path[256], p2[300];
    db_t *db = NULL, *db2 = NULL;
    char *v = NULL;
    struct stat sb;

    db = new_db(path, sizeof(path));
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK_OK(db_meta_get(db, &v, "nothing"));
    CHECK(v == NULL);
    CHECK_OK(db_begin(db));
    CHECK_OK(db_meta_set(db, "ca.name", "Example"));
    CHECK_OK(db_meta_set(db, "ca.name", "Example 2"));
    CHECK_OK(db_commit(db));
    db_close(db);

    /* A second create refuses the file and leaves it alone. */
    CHECK_ERR(db_open(&db, path, 1), CM_ERR_EXISTS);
    CHECK(db == NULL);
    CHECK(strstr(cm_err_msg(), path) != NULL);
    /* Missing file with create = 0. */
    snprintf(p2, sizeof(p2), "%s/missing.sqlite", tmpdir);
    CHECK_ERR(db_open(&db, p2, 0), CM_ERR_NOTFOUND);
    CHECK(strstr(cm_err_msg(), "missing.sqlite") != NULL);
    CHECK(access(p2, F_OK) != 0);
    CHECK_ERR(db_open(&db, "postgres:host=x", 0), CM_ERR_UNSUPPORTED);
    CHECK_ERR(db_open(&db, "sqlite:", 0), CM_ERR_INVALID);

    /* Reopen, also through the "sqlite:" form. */
    snprintf(p2, sizeof(p2), "sqlite:%s", path);
    CHECK_OK(db_open(&db2, p2, 0));
    if (db2) {
        CHECK_OK(db_meta_get(db2, &v, "ca.name"));
        CHECK_STR(v, "Example 2");
        free(v);
        v = NULL;
        /* The backend's own keys are out of the callers' reach (C7). */
        CHECK_ERR(db_meta_get(db2, &v, "schema_version"), CM_ERR_INVALID);
        CHECK(v == NULL);
        CHECK_ERR(db_meta_get(db2, &v, "counter.crl_number"), CM_ERR_INVALID);
        db_close(db2);
    }
    CHECK_INT(raw_int(path, "SELECT value FROM meta WHERE key = 'schema_version'"), 1);
    /* WAL and the identity, as another SQLite client sees them. */
    CHECK_INT(raw_int(path, "PRAGMA application_id"), DB_SQLITE_APPLICATION_ID);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'"),
              1);
    /* New databases get 8 KiB pages (fewer WAL frames per group commit,
     * bench/README.md); the size survives the switch to WAL. */
    CHECK_INT(raw_int(path, "PRAGMA page_size"), 8192);
    db_close(NULL);
}

TEST(refuse_foreign_files)
{
    char path[256], msg[256];
    db_t *db = NULL;
    FILE *f;

    /* Garbage. */
    new_path(path, sizeof(path));
    f = fopen(path, "w");
    fputs("this is not a database, just some text that is long enough to have a header ....\n"
          "................................................................................\n",
          f);
    fclose(f);
    CHECK_ERR(db_open(&db, path, 0), CM_ERR_DB);
    CHECK(strstr(cm_err_msg(), path) != NULL);
    CHECK(strstr(cm_err_msg(), "not a certmint database") != NULL);
    CHECK(db == NULL);
    /* ...and create refuses to overwrite it. */
    CHECK_ERR(db_open(&db, path, 1), CM_ERR_EXISTS);

    /* An empty file is not a certmint database either. */
    new_path(path, sizeof(path));
    f = fopen(path, "w");
    fclose(f);
    CHECK_ERR(db_open(&db, path, 0), CM_ERR_DB);
    CHECK(strstr(cm_err_msg(), "not a certmint database") != NULL);

    /* Another program's SQLite database: refused and not converted to
     * WAL (header byte 18 stays 1 = rollback journal). */
    new_path(path, sizeof(path));
    CHECK_INT(raw_exec(path, "", NULL, 0), SQLITE_CANTOPEN); /* no create flag */
    {
        sqlite3 *h = NULL;
        CHECK(sqlite3_open(path, &h) == SQLITE_OK);
        CHECK(sqlite3_exec(h, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", NULL, NULL, NULL) ==
              SQLITE_OK);
        sqlite3_close(h);
    }
    CHECK_ERR(db_open(&db, path, 0), CM_ERR_DB);
    CHECK(strstr(cm_err_msg(), "application_id") != NULL);
    {
        unsigned char hdr[20] = {0};
        f = fopen(path, "rb");
        CHECK(f != NULL && fread(hdr, 1, 20, f) == 20);
        if (f)
            fclose(f);
        CHECK_INT(hdr[18], 1);
    }

    /* A newer schema. */
    db = new_db(path, sizeof(path));
    db_close(db);
    db = NULL;
    CHECK_INT(
        raw_exec(path, "UPDATE meta SET value='2' WHERE key='schema_version'", msg, sizeof(msg)),
        SQLITE_OK);
    CHECK_ERR(db_open(&db, path, 0), CM_ERR_DB);
    CHECK(strstr(cm_err_msg(), "newer") != NULL && strstr(cm_err_msg(), path) != NULL);
    CHECK_INT(
        raw_exec(path, "UPDATE meta SET value='x1' WHERE key='schema_version'", msg, sizeof(msg)),
        SQLITE_OK);
    CHECK_ERR(db_open(&db, path, 0), CM_ERR_DB);
    CHECK(strstr(cm_err_msg(), "unknown database schema version 'x1'") != NULL);
    CHECK(db == NULL);
}

TEST(requests_and_certs)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct db_request *rq = NULL;
    struct db_cert *c = NULL, c2;
    int64_t id1, id2, id3;

    CHECK_OK(db_begin(db));
    id1 = add(db, DB_DISP_ISSUED, "one", "0A1B", 1800000000);
    id2 = add(db, DB_DISP_PENDING, "two", NULL, 0);
    id3 = add(db, DB_DISP_ISSUED, "three", "7F", 1800000000);
    CHECK_OK(db_commit(db));
    CHECK_INT(id1, 1);
    CHECK_INT(id2, 2);
    CHECK_INT(id3, 3);

    CHECK_OK(db_request_get(db, &rq, id2));
    if (rq) {
        CHECK_STR(rq->requester_name, "alice");
        CHECK_STR(rq->request_dn, "CN=two,O=Example");
        CHECK_INT(rq->disposition, DB_DISP_PENDING);
        CHECK_INT(rq->resolved_when, 0);
        CHECK_INT(rq->raw_request_len, 5);
        CHECK(rq->raw_request && rq->raw_request[2] == 0xff && rq->raw_request[3] == 0);
        CHECK(rq->recovered_from == NULL);
    }
    db_request_free(rq);
    rq = NULL;
    CHECK_ERR(db_request_get(db, &rq, 99), CM_ERR_NOTFOUND);
    CHECK(strstr(cm_err_msg(), "99") != NULL);

    /* Any serial spelling finds the canonical row. */
    CHECK_OK(db_cert_get(db, &c, "0a:1b"));
    if (c) {
        CHECK_STR(c->serial, "0A1B");
        CHECK_INT(c->request_id, id1);
        CHECK_STR(c->cn, "one");
        CHECK_INT(c->revoked_reason, DB_REASON_NONE);
        CHECK_INT(c->not_after, 1800000000);
        CHECK_INT(c->raw_len, 5);
        CHECK_INT(c->withheld, 0);
    }
    db_cert_free(c);
    c = NULL;
    CHECK_OK(db_cert_get_by_request(db, &c, id3));
    CHECK(c != NULL && strcmp(c->serial, "7F") == 0);
    db_cert_free(c);
    c = NULL;
    CHECK_ERR(db_cert_get_by_request(db, &c, id2), CM_ERR_NOTFOUND);
    CHECK_ERR(db_cert_get(db, &c, "0B1B"), CM_ERR_NOTFOUND);
    CHECK_ERR(db_cert_get(db, &c, "zz"), CM_ERR_INVALID);

    /* Duplicates and orphans are refused, nothing else changes. */
    CHECK_OK(db_begin(db));
    memset(&c2, 0, sizeof(c2));
    snprintf(c2.serial, sizeof(c2.serial), "0a1b");
    c2.request_id = id2;
    c2.revoked_reason = DB_REASON_NONE;
    CHECK_ERR(db_cert_insert(db, &c2), CM_ERR_EXISTS);
    CHECK(strstr(cm_err_msg(), "0A1B") != NULL);
    snprintf(c2.serial, sizeof(c2.serial), "0C");
    c2.request_id = id1;
    CHECK_ERR(db_cert_insert(db, &c2), CM_ERR_EXISTS);
    c2.request_id = 42;
    CHECK_ERR(db_cert_insert(db, &c2), CM_ERR_NOTFOUND);
    c2.request_id = 0;
    CHECK_ERR(db_cert_insert(db, &c2), CM_ERR_INVALID);
    c2.request_id = id2;
    CHECK_OK(db_cert_insert(db, &c2));
    CHECK_OK(db_request_resolve(db, id2, DB_DISP_ISSUED, "approved", 1700000500));
    CHECK_ERR(db_request_resolve(db, 77, DB_DISP_DENIED, "x", 1), CM_ERR_NOTFOUND);
    CHECK_OK(db_cert_set_withheld(db, "0c", 1));
    CHECK_ERR(db_cert_set_withheld(db, "0d", 1), CM_ERR_NOTFOUND);
    CHECK_OK(db_commit(db));
    CHECK_OK(db_request_get(db, &rq, id2));
    CHECK(rq && rq->disposition == DB_DISP_ISSUED && rq->resolved_when == 1700000500 &&
          strcmp(rq->disposition_message, "approved") == 0);
    db_request_free(rq);
    CHECK_OK(db_cert_get(db, &c, "0C"));
    CHECK(c && c->withheld == 1 && c->raw == NULL && c->cn == NULL);
    db_cert_free(c);
    db_close(db);
}

static cm_err count_row(void *ctx, const struct db_row *row)
{
    (void)row;
    (*(int *)ctx)++;
    return CM_OK;
}

TEST(rollback_leaves_nothing)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct db_request *rq = NULL;
    struct db_event ev;
    struct db_audit a = {1700000000, "alice", "issue", 1, "01", "details"};
    int64_t id, v;
    int rows = 0;

    CHECK_OK(db_begin(db));
    id = add(db, DB_DISP_ISSUED, "gone", "01", 1800000000);
    memset(&ev, 0, sizeof(ev));
    ev.type = 1;
    ev.created = 1;
    CHECK_OK(db_event_enqueue(db, &ev));
    CHECK_OK(db_audit_append(db, &a));
    CHECK_OK(db_counter_next(db, &v, "crl_number"));
    CHECK_OK(db_meta_set(db, "k", "v"));
    db_rollback(db);
    db_rollback(db); /* no-op outside a transaction */
    CHECK_ERR(db_request_get(db, &rq, id), CM_ERR_NOTFOUND);
    CHECK_OK(db_view(db, NULL, 0, count_row, &rows));
    CHECK_INT(rows, 0);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM audit"), 0);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM events"), 0);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM certificates"), 0);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM meta"), 1); /* schema_version only */
    /* The database is still usable afterwards. */
    CHECK_OK(db_begin(db));
    CHECK(add(db, DB_DISP_ISSUED, "kept", "01", 1800000000) > 0);
    CHECK_OK(db_commit(db));
    CHECK_INT(raw_int(path, "SELECT count(*) FROM certificates"), 1);
    db_close(db);
}

/* How many ephemeral tables the program of sql opens (EXPLAIN). */
static int ephemeral_ops(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    char ex[512];
    int n = -1;

    snprintf(ex, sizeof(ex), "EXPLAIN %s", sql);
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, ex, -1, &st, NULL) == SQLITE_OK) {
        n = 0;
        while (sqlite3_step(st) == SQLITE_ROW)
            if (strcmp((const char *)sqlite3_column_text(st, 1), "OpenEphemeral") == 0)
                n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

/* The schema's CHECK constraints (OR-ed comparisons, not IN lists: see
 * schema_sql) still refuse every value outside their sets, and inserting a
 * certificate builds no ephemeral table (an IN list made one per row). */
TEST(check_constraints)
{
    char path[256], err[256];
    db_t *db = new_db(path, sizeof(path));
    static const char *const bad[] = {
        "INSERT INTO requests(RequestID, Disposition) VALUES (900, 10)",
        "INSERT INTO requests(RequestID, Disposition) VALUES (901, 21)",
        "INSERT INTO requests(RequestID, Disposition) VALUES (902, 20.5)",
        "INSERT INTO certificates(SerialNumber, RequestID, Origin) VALUES ('A1', 1, 3)",
        "INSERT INTO certificates(SerialNumber, RequestID, Origin) VALUES ('A2', 1, 1.5)",
        "INSERT INTO certificates(SerialNumber, RequestID, Withheld) VALUES ('A3', 1, 2)",
        "INSERT INTO certificates(SerialNumber, RequestID, RevokedReason) VALUES ('A4', 1, 7)",
        "INSERT INTO certificates(SerialNumber, RequestID, RevokedReason) VALUES ('A5', 1, 8)",
        "INSERT INTO certificates(SerialNumber, RequestID, RevokedReason) VALUES ('A6', 1, 11)",
    };
    static const char *const good[] = {
        "INSERT INTO requests(RequestID, Disposition) VALUES (1, 20)",
        "INSERT INTO requests(RequestID, Disposition) VALUES (2, 9)",
        "INSERT INTO requests(RequestID, Disposition) VALUES (3, 31)",
        "INSERT INTO certificates(SerialNumber, RequestID, Origin, Withheld, RevokedReason)"
        " VALUES ('B1', 1, 2, 1, 10)",
        "INSERT INTO certificates(SerialNumber, RequestID, RevokedReason) VALUES ('B2', 2, 0)",
        "INSERT INTO certificates(SerialNumber, RequestID, RevokedReason) VALUES ('B3', 3, NULL)",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (raw_exec(path, good[i], err, sizeof(err)) != SQLITE_OK)
            UNIT_FAIL("refused: %s: %s", good[i], err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (raw_exec(path, bad[i], err, sizeof(err)) != SQLITE_CONSTRAINT)
            UNIT_FAIL("accepted: %s", bad[i]);
    CHECK_INT(ephemeral_ops(path, "INSERT INTO certificates(SerialNumber, RequestID, Origin,"
                                  " Withheld, RevokedReason) VALUES ('C1', 1, 0, 0, 1)"),
              0);
    CHECK_INT(ephemeral_ops(path, "INSERT INTO requests(RequestID, Disposition) VALUES (5, 20)"),
              0);
    db_close(db);
}

TEST(counters)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    int64_t a = 0, b = 0, c = 0, d = 0, id;

    CHECK_OK(db_begin(db));
    CHECK_OK(db_counter_next(db, &a, "crl_number"));
    CHECK_OK(db_counter_next(db, &b, "crl_number"));
    CHECK_OK(db_counter_next(db, &c, "rev_seq"));
    CHECK_OK(db_commit(db));
    CHECK_INT(a, 1);
    CHECK_INT(b, 2);
    CHECK_INT(c, 1);
    db_close(db);

    CHECK_OK(db_open(&db, path, 0));
    if (db == NULL)
        return;
    CHECK_OK(db_begin(db));
    CHECK_OK(db_counter_next(db, &d, "crl_number"));
    CHECK(d > b);
    CHECK_OK(db_counter_raise(db, "crl_number", 1000));
    CHECK_OK(db_counter_next(db, &d, "crl_number"));
    CHECK_INT(d, 1001);
    CHECK_OK(db_counter_raise(db, "crl_number", 5)); /* lower: no effect */
    CHECK_OK(db_counter_next(db, &d, "crl_number"));
    CHECK_INT(d, 1002);
    /* Request IDs: a raised counter is honoured... */
    CHECK_OK(db_counter_raise(db, "request_id", 500));
    id = add(db, DB_DISP_PENDING, "x", NULL, 0);
    CHECK_INT(id, 501);
    CHECK_OK(db_commit(db));
    db_close(db);

    /* ...and rows put in by a restore without raising it are never
     * reused. */
    CHECK_INT(raw_exec(path,
                       "INSERT INTO requests(RequestID, SubmittedWhen, Disposition)"
                       " VALUES (900, 1, 20)",
                       NULL, 0),
              SQLITE_OK);
    CHECK_OK(db_open(&db, path, 0));
    if (db == NULL)
        return;
    CHECK_OK(db_begin(db));
    id = add(db, DB_DISP_PENDING, "y", NULL, 0);
    CHECK_INT(id, 901);
    CHECK_OK(db_commit(db));
    /* Deleting the newest row does not bring its ID back. */
    db_close(db);
    CHECK_INT(raw_exec(path, "DELETE FROM requests WHERE RequestID >= 900", NULL, 0), SQLITE_OK);
    CHECK_OK(db_open(&db, path, 0));
    if (db == NULL)
        return;
    CHECK_OK(db_begin(db));
    id = add(db, DB_DISP_PENDING, "z", NULL, 0);
    CHECK_INT(id, 902);
    CHECK_OK(db_commit(db));
    db_close(db);
}

/* Two connections (two officers' processes) on one database: the second
 * resolve of a request, or release of a hold, finds the state changed and
 * changes nothing (compare-and-set). */
TEST(compare_and_set)
{
    char path[256];
    db_t *a = new_db(path, sizeof(path)), *b = NULL;
    struct db_request *r = NULL;
    int64_t id;

    CHECK_OK(db_open(&b, path, 0));
    CHECK_OK(db_begin(a));
    id = add(a, DB_DISP_PENDING, "p", NULL, 0);
    add(a, DB_DISP_ISSUED, "h", "0B", 1800000000);
    CHECK_OK(db_cert_revoke(a, "0B", DB_REASON_HOLD, 100, 0, 0, 1));
    CHECK_OK(db_commit(a));
    /* Both saw it pending; a approves first. */
    CHECK_OK(db_request_get(b, &r, id));
    CHECK_INT(r->disposition, DB_DISP_PENDING);
    db_request_free(r);
    CHECK_OK(db_begin(a));
    CHECK_OK(db_request_resolve(a, id, DB_DISP_ISSUED, "approved", 200));
    CHECK_OK(db_commit(a));
    CHECK_OK(db_begin(b));
    CHECK_ERR(db_request_resolve(b, id, DB_DISP_DENIED, "denied", 201), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "is no longer pending (now: issued)") != NULL);
    db_rollback(b);
    CHECK_INT(raw_int(path, "SELECT Disposition FROM requests WHERE RequestID = 1"),
              DB_DISP_ISSUED);
    /* A hold released by a, then again by b. */
    CHECK_OK(db_begin(a));
    CHECK_OK(db_cert_unrevoke(a, "0B", 300, 2));
    CHECK_OK(db_commit(a));
    CHECK_OK(db_begin(b));
    CHECK_ERR(db_cert_unrevoke(b, "0B", 301, 3), CM_ERR_STATE);
    db_rollback(b);
    CHECK_INT(raw_int(path, "SELECT RevSeq FROM certificates WHERE SerialNumber = '0B'"), 2);
    db_close(b);
    db_close(a);
}

TEST(revocation_states)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct db_cert *c = NULL;

    CHECK_OK(db_begin(db));
    add(db, DB_DISP_ISSUED, "a", "0A", 1800000000);
    add(db, DB_DISP_ISSUED, "b", "0B", 1800000000);
    add(db, DB_DISP_ISSUED, "c", "0C", 1800000000);

    CHECK_OK(db_cert_revoke(db, "0a", DB_REASON_KEY_COMPROMISE, 100, 90, 80, 1));
    CHECK_ERR(db_cert_revoke(db, "0A", DB_REASON_SUPERSEDED, 101, 0, 0, 2), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "already revoked") != NULL &&
          strstr(cm_err_msg(), "keyCompromise") != NULL);
    CHECK_ERR(db_cert_revoke(db, "0D", DB_REASON_SUPERSEDED, 101, 0, 0, 2), CM_ERR_NOTFOUND);
    CHECK_ERR(db_cert_unrevoke(db, "0A", 102, 2), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "keyCompromise") != NULL);
    CHECK_ERR(db_cert_unrevoke(db, "0B", 102, 2), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "not revoked") != NULL);

    /* Hold, hold again (refused), release, hold, then revoke for good. */
    CHECK_OK(db_cert_revoke(db, "0B", DB_REASON_HOLD, 110, 0, 0, 3));
    CHECK_ERR(db_cert_revoke(db, "0B", DB_REASON_HOLD, 111, 0, 0, 4), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "on hold") != NULL);
    CHECK_OK(db_cert_unrevoke(db, "0B", 120, 5));
    CHECK_OK(db_cert_get(db, &c, "0B"));
    if (c) {
        CHECK_INT(c->revoked_reason, DB_REASON_NONE);
        CHECK_INT(c->rev_seq, 5);
        CHECK_INT(c->hold_seq, 3);
        CHECK_INT(c->released_when, 120);
        CHECK_INT(c->revoked_when, 0);
    }
    db_cert_free(c);
    c = NULL;
    CHECK_OK(db_cert_revoke(db, "0C", DB_REASON_HOLD, 130, 0, 0, 6));
    CHECK_OK(db_cert_revoke(db, "0C", DB_REASON_CESSATION, 140, 135, 0, 7));
    CHECK_ERR(db_cert_unrevoke(db, "0C", 150, 8), CM_ERR_STATE);
    CHECK_OK(db_commit(db));

    CHECK_OK(db_cert_get(db, &c, "0C"));
    if (c) {
        CHECK_INT(c->revoked_reason, DB_REASON_CESSATION);
        CHECK_INT(c->revoked_when, 140);
        CHECK_INT(c->revoked_effective_when, 135);
        CHECK_INT(c->rev_seq, 7);
    }
    db_cert_free(c);
    c = NULL;
    CHECK_OK(db_cert_get(db, &c, "0A"));
    if (c) {
        CHECK_INT(c->revoked_effective_when, 90);
        CHECK_INT(c->invalidity_date, 80);
    }
    db_cert_free(c);
    db_close(db);
}

/* Collects "SERIAL:reason" lines. */
static cm_err collect_revoked(void *ctx, const struct db_revoked *r)
{
    char line[80];
    snprintf(line, sizeof(line), "%s:%d@%lld ", r->serial, r->reason,
             (long long)r->revoked_effective_when);
    strncat((char *)ctx, line, 1023 - strlen((char *)ctx));
    return CM_OK;
}

static const char *revoked(db_t *db, int64_t since)
{
    static char out[1024];
    out[0] = '\0';
    if (db_revoked_iter(db, since, collect_revoked, out) != CM_OK)
        snprintf(out, sizeof(out), "error: %s", cm_err_msg());
    return out;
}

TEST(revoked_iter)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));

    CHECK_OK(db_begin(db));
    add(db, DB_DISP_ISSUED, "a", "0A", 1800000000);
    add(db, DB_DISP_ISSUED, "b", "0B", 1800000000);
    add(db, DB_DISP_ISSUED, "c", "0C", 1800000000);
    add(db, DB_DISP_ISSUED, "d", "0D", 1800000000);
    add(db, DB_DISP_ISSUED, "e", "0E", 1800000000);
    add(db, DB_DISP_ISSUED, "f", "0100", 1800000000);
    CHECK_OK(db_commit(db));
    CHECK_STR(revoked(db, -1), "");

    /* seq 1: C keyCompromise; 2: B hold; 3: D hold; full CRL "at 3". */
    CHECK_OK(db_begin(db));
    CHECK_OK(db_cert_revoke(db, "0C", 1, 1000, 0, 0, 1));
    CHECK_OK(db_cert_revoke(db, "0B", 6, 2000, 0, 0, 2));
    CHECK_OK(db_cert_revoke(db, "0D", 6, 3000, 0, 0, 3));
    CHECK_OK(db_commit(db));
    CHECK_STR(revoked(db, -1), "0B:6@2000 0C:1@1000 0D:6@3000 ");
    CHECK_STR(revoked(db, 3), "");
    CHECK_STR(revoked(db, 1), "0B:6@2000 0D:6@3000 ");

    /* seq 4: B released; 5: E superseded; 6: D hold -> keyCompromise;
     * 7: F hold; 8: F released (held and released after the base). */
    CHECK_OK(db_begin(db));
    CHECK_OK(db_cert_unrevoke(db, "0B", 4000, 4));
    CHECK_OK(db_cert_revoke(db, "0E", 4, 5000, 0, 0, 5));
    CHECK_OK(db_cert_revoke(db, "0D", 1, 6000, 0, 0, 6));
    CHECK_OK(db_cert_revoke(db, "0100", 6, 7000, 0, 0, 7));
    CHECK_OK(db_cert_unrevoke(db, "0100", 8000, 8));
    CHECK_OK(db_commit(db));
    CHECK_STR(revoked(db, -1), "0C:1@1000 0D:1@6000 0E:4@5000 ");
    /* Delta on the base at 3: B removed (held at 2 <= 3), D's new reason,
     * E new; F never was on the base, so no entry. */
    CHECK_STR(revoked(db, 3), "0B:8@4000 0D:1@6000 0E:4@5000 ");
    /* Delta on a base at 1 (B was not on it yet): no removeFromCRL. */
    CHECK_STR(revoked(db, 1), "0D:1@6000 0E:4@5000 ");
    /* Base at 7 listed F on hold: its release is a removeFromCRL. */
    CHECK_STR(revoked(db, 7), "0100:8@8000 ");
    CHECK_STR(revoked(db, 8), "");

    /* B held again at 9 and released at 10: a delta on the base at 3
     * (which listed B's first hold) must still remove it. */
    CHECK_OK(db_begin(db));
    CHECK_OK(db_cert_revoke(db, "0B", 6, 9000, 0, 0, 9));
    CHECK_OK(db_cert_unrevoke(db, "0B", 10000, 10));
    CHECK_OK(db_commit(db));
    CHECK_STR(revoked(db, 3), "0B:8@10000 0D:1@6000 0E:4@5000 ");
    CHECK_STR(revoked(db, 9), "0B:8@10000 ");
    CHECK_STR(revoked(db, -1), "0C:1@1000 0D:1@6000 0E:4@5000 ");
    db_close(db);
}

static cm_err stop_after_one(void *ctx, const struct db_revoked *r)
{
    (void)r;
    (*(int *)ctx)++;
    return cm_err_set(CM_ERR_IO, "stop");
}

TEST(revoked_iter_stops)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    int n = 0;

    CHECK_OK(db_begin(db));
    add(db, DB_DISP_ISSUED, "a", "0A", 1800000000);
    add(db, DB_DISP_ISSUED, "b", "0B", 1800000000);
    CHECK_OK(db_cert_revoke(db, "0A", 1, 1, 0, 0, 1));
    CHECK_OK(db_cert_revoke(db, "0B", 1, 1, 0, 0, 2));
    CHECK_OK(db_commit(db));
    CHECK_ERR(db_revoked_iter(db, -1, stop_after_one, &n), CM_ERR_IO);
    CHECK_INT(n, 1);
    db_close(db);
}

TEST(audit_append_only)
{
    char path[256], msg[256];
    db_t *db = new_db(path, sizeof(path));
    struct db_audit a = {1700000000, "alice", "revoke", 3, "0A", "reason=keyCompromise"};
    struct db_audit b = {1700000001, "service", "crl", 0, NULL, NULL};

    CHECK_OK(db_begin(db));
    CHECK_OK(db_audit_append(db, &a));
    CHECK_OK(db_audit_append(db, &b));
    CHECK_OK(db_commit(db));
    db_close(db);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM audit"), 2);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM audit WHERE RequestID IS NULL AND Who='service'"),
              1);
    CHECK(raw_exec(path, "UPDATE audit SET Who='mallory'", msg, sizeof(msg)) != SQLITE_OK);
    CHECK(strstr(msg, "append-only") != NULL);
    CHECK(raw_exec(path, "DELETE FROM audit", msg, sizeof(msg)) != SQLITE_OK);
    CHECK(strstr(msg, "append-only") != NULL);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM audit WHERE Who='alice'"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM audit"), 2);
}

/* db_audit_iter: oldest first, every field back, NULLs as NULL, the since
 * bound inclusive, and a callback's error stops the walk. */
struct audit_seen {
    int n;
    int64_t ids[4];
    char text[512];
};

static cm_err audit_collect(void *ctx, int64_t id, const struct db_audit *a)
{
    struct audit_seen *s = ctx;
    size_t len = strlen(s->text);
    if (s->n < 4)
        s->ids[s->n] = id;
    s->n++;
    snprintf(s->text + len, sizeof(s->text) - len, "%lld|%s|%s|%lld|%s|%s;", (long long)a->when,
             a->who, a->action, (long long)a->request_id, a->serial ? a->serial : "NULL",
             a->details ? a->details : "NULL");
    return CM_OK;
}

static cm_err audit_stop(void *ctx, int64_t id, const struct db_audit *a)
{
    (void)id;
    (void)a;
    ++*(int *)ctx;
    return cm_err_set(CM_ERR_IO, "stop");
}

TEST(audit_iter)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct db_audit a = {1700000000, "alice", "revoke", 3, "0A", "reason=keyCompromise"};
    struct db_audit b = {1700000100, "service", "crl", 0, NULL, NULL};
    struct audit_seen s;
    int n = 0;

    CHECK_OK(db_begin(db));
    CHECK_OK(db_audit_append(db, &a));
    CHECK_OK(db_audit_append(db, &b));
    CHECK_OK(db_commit(db));
    memset(&s, 0, sizeof(s));
    CHECK_OK(db_audit_iter(db, 0, audit_collect, &s));
    CHECK_INT(s.n, 2);
    CHECK(s.ids[0] < s.ids[1]);
    CHECK_STR(s.text, "1700000000|alice|revoke|3|0A|reason=keyCompromise;"
                      "1700000100|service|crl|0|NULL|NULL;");
    memset(&s, 0, sizeof(s));
    CHECK_OK(db_audit_iter(db, 1700000100, audit_collect, &s));
    CHECK_STR(s.text, "1700000100|service|crl|0|NULL|NULL;");
    memset(&s, 0, sizeof(s));
    CHECK_OK(db_audit_iter(db, 1700000101, audit_collect, &s));
    CHECK_INT(s.n, 0);
    CHECK_ERR(db_audit_iter(db, 0, audit_stop, &n), CM_ERR_IO);
    CHECK_INT(n, 1);
    db_close(db);
}

TEST(crls)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct db_crl *c = NULL;
    struct db_crl full = {1, 0, 0, 100, 200, 3, 2, "ab"}, delta = {2, 1, 1, 150, 200, 5, 1, NULL};

    CHECK_OK(db_crl_last(db, &c, 0));
    CHECK(c == NULL);
    CHECK_OK(db_begin(db));
    CHECK_OK(db_crl_insert(db, &full));
    CHECK_OK(db_crl_insert(db, &delta));
    CHECK_ERR(db_crl_insert(db, &delta), CM_ERR_EXISTS);
    CHECK_OK(db_commit(db));
    CHECK_OK(db_crl_last(db, &c, 0));
    CHECK(c && c->number == 1 && !c->is_delta && c->rev_seq == 3 && strcmp(c->hash, "ab") == 0);
    db_crl_free(c);
    CHECK_OK(db_crl_last(db, &c, 1));
    CHECK(c && c->number == 2 && c->is_delta && c->base_number == 1 && c->hash == NULL);
    db_crl_free(c);
    db_close(db);
}

/* View rows as "ID;Disposition;Serial;RevokedReason|" for comparisons. */
struct seen {
    char ids[512];
    int blobs_ok;
};

static cm_err collect_rows(void *ctx, const struct db_row *row)
{
    struct seen *s = ctx;
    char one[128];
    snprintf(one, sizeof(one), "%s%s", s->ids[0] ? "," : "", row->values[0]);
    strncat(s->ids, one, sizeof(s->ids) - 1 - strlen(s->ids));
    /* Blobs are bytes, never text. */
    if (row->values[24] != NULL || row->values[25] != NULL)
        s->blobs_ok = 0;
    if (row->blobs[25] == NULL || row->blob_len[25] != 5 || row->blobs[25][2] != 0xff)
        s->blobs_ok = 0;
    /* Strict audit mode: a withheld certificate's DER is not in the view. */
    const char *w = row->values[db_column_find("Withheld")];
    int raw = db_column_find("RawCertificate");
    if (w != NULL && strcmp(w, "1") == 0 && row->blobs[raw] != NULL)
        s->blobs_ok = 0;
    return CM_OK;
}

/* The RequestIDs matching expr, or "ERR: message". */
static const char *match(db_t *db, const char *expr)
{
    static struct seen s;
    struct db_restrict *r = NULL;
    size_t n = 0;

    memset(&s, 0, sizeof(s));
    s.blobs_ok = 1;
    if (restrict_parse(&r, &n, expr) != CM_OK) {
        snprintf(s.ids, sizeof(s.ids), "ERR: %s", cm_err_msg());
        return s.ids;
    }
    if (db_view(db, r, n, collect_rows, &s) != CM_OK)
        snprintf(s.ids, sizeof(s.ids), "ERR: %s", cm_err_msg());
    else if (!s.blobs_ok)
        snprintf(s.ids, sizeof(s.ids), "ERR: blob columns wrong");
    restrict_free(r, n);
    return s.ids;
}

static char first_row[26][128];

static cm_err keep_row(void *ctx, const struct db_row *row)
{
    (void)ctx;
    for (int i = 0; i < 26; i++)
        snprintf(first_row[i], sizeof(first_row[i]), "%s",
                 row->values[i] ? row->values[i] : "(null)");
    return CM_OK;
}

TEST(view_restrictions)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    int64_t now = (int64_t)time(NULL);
    struct db_restrict *r = NULL;
    size_t n = 0;

    CHECK_OK(db_begin(db));
    add(db, DB_DISP_ISSUED, "alpha", "0A", 1735689600);                     /* 1: 2025-01-01 */
    add(db, DB_DISP_PENDING, "beta", NULL, 0);                              /* 2 */
    add(db, DB_DISP_ISSUED, "gamma, with comma", "01FF", now + 10 * 86400); /* 3 */
    add(db, DB_DISP_ISSUED, "delta", "0102030405", now + 90 * 86400);       /* 4 */
    add(db, DB_DISP_DENIED, "epsilon", NULL, 0);                            /* 5 */
    add(db, DB_DISP_ISSUED, "zeta", "7F", 1767225600);                      /* 6: 2026-01-01 */
    CHECK_OK(db_cert_revoke(db, "01FF", 1, 1700001000, 0, 0, 1));
    CHECK_OK(db_cert_revoke(db, "7F", 6, 1700002000, 0, 0, 2));
    CHECK_OK(db_cert_set_withheld(db, "0A", 1));
    CHECK_OK(db_commit(db));

    CHECK_STR(match(db, "RequestID >= 3"), "3,4,5,6");
    CHECK_STR(match(db, "requestid=2"), "2");
    CHECK_STR(match(db, "RequestID != 2, RequestID < 5"), "1,3,4");
    /* Text, quoted with a comma; not-equal includes rows without a value. */
    CHECK_STR(match(db, "CommonName = \"gamma, with comma\""), "3");
    CHECK_STR(match(db, "CommonName != alpha"), "2,3,4,5,6");
    CHECK_STR(match(db, "RequestDistinguishedName = \"CN=beta,O=Example\""), "2");
    CHECK_STR(match(db, "CommonName = EMPTY"), "2,5");
    CHECK_STR(match(db, "CommonName = \"EMPTY\""), "");
    CHECK_STR(match(db, "SerialNumber != EMPTY"), "1,3,4,6");
    /* Serial numbers in any spelling, and in numeric order. */
    CHECK_STR(match(db, "SerialNumber = 0a"), "1");
    CHECK_STR(match(db, "SerialNumber = 01:ff"), "3");
    CHECK_STR(match(db, "SerialNumber = \"01 02 03 04 05\""), "4");
    CHECK_STR(match(db, "SerialNumber = 0x1ff"), "3");
    CHECK_STR(match(db, "SerialNumber > 7f"), "3,4");
    CHECK_STR(match(db, "SerialNumber >= 7F"), "3,4,6");
    CHECK_STR(match(db, "SerialNumber < 01FF"), "1,6");
    CHECK_STR(match(db, "SerialNumber <= 1ff"), "1,3,6");
    /* Dates. */
    CHECK_STR(match(db, "NotAfter < 2025-06-01"), "1");
    CHECK_STR(match(db, "NotAfter = 2025-01-01"), "1");
    CHECK_STR(match(db, "NotAfter >= 2025-01-01 00:00:01, NotAfter < 2026-01-01T00:00:01Z"), "6");
    CHECK_STR(match(db, "NotAfter > now"), "3,4");
    CHECK_STR(match(db, "NotAfter > now, NotAfter < now+30d"), "3");
    CHECK_STR(match(db, "NotAfter < now-1d"), "1,6");
    CHECK_STR(match(db, "NotAfter < @1735689601"), "1");
    CHECK_STR(match(db, "SubmittedWhen = 2023-11-14 22:13:20"), "1,2,3,4,5,6");
    CHECK_STR(match(db, "ResolvedWhen = EMPTY"), "2");
    /* Dispositions: revoked certificates show as revoked, not issued. */
    CHECK_STR(match(db, "Disposition = issued"), "1,4");
    CHECK_STR(match(db, "Disposition = revoked"), "3,6");
    CHECK_STR(match(db, "Disposition = 21"), "3,6");
    CHECK_STR(match(db, "Disposition = PENDING"), "2");
    CHECK_STR(match(db, "Disposition != revoked"), "1,2,4,5");
    CHECK_STR(match(db, "Disposition != issued"), "2,3,5,6");
    CHECK_STR(match(db, "Disposition >= 21"), "3,5,6");
    CHECK_STR(match(db, "Disposition = denied"), "5");
    /* Reasons. */
    CHECK_STR(match(db, "RevokedReason = keyCompromise"), "3");
    CHECK_STR(match(db, "RevokedReason = 6"), "6");
    CHECK_STR(match(db, "RevokedReason != EMPTY"), "3,6");
    CHECK_STR(match(db, "RevokedWhen > 2023-11-14 22:40"), "6");
    /* Integers and origin. */
    CHECK_STR(match(db, "Withheld = 1"), "1");
    CHECK_STR(match(db, "Origin = issued"), "1,3,4,6");
    CHECK_STR(match(db, "Origin = 0"), "1,3,4,6");
    CHECK_STR(match(db, "Origin = imported"), "");
    CHECK_STR(match(db, "CertificateTemplate = server, EMail = a@example.org"), "1,3,4,6");
    /* Errors come from the parser, before the database. */
    CHECK(strncmp(match(db, "RawCertificate = x"), "ERR:", 4) == 0);
    CHECK(strncmp(match(db, "NotAfter < tomorrow"), "ERR:", 4) == 0);

    /* The text form of a row. */
    CHECK_OK(restrict_parse(&r, &n, "RequestID = 3"));
    if (r) {
        CHECK_OK(db_view(db, r, n, keep_row, NULL));
        CHECK_STR(first_row[0], "3");
        CHECK_STR(first_row[2], "2023-11-14 22:13:20");
        CHECK_STR(first_row[4], "revoked");
        CHECK_STR(first_row[8], "01FF");
        CHECK_STR(first_row[17], "2023-11-14 22:30:00");
        CHECK_STR(first_row[19], "keyCompromise");
        CHECK_STR(first_row[20], "(null)");
        CHECK_STR(first_row[21], "issued");
        CHECK_STR(first_row[23], "0");
        CHECK_STR(first_row[24], "(null)");
    }
    restrict_free(r, n);
    db_close(db);
}

TEST(request_list)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct seen s;

    CHECK_OK(db_begin(db));
    add(db, DB_DISP_PENDING, "p1", NULL, 0);
    add(db, DB_DISP_ISSUED, "i1", "01", 1800000000);
    add(db, DB_DISP_PENDING, "p2", NULL, 0);
    add(db, DB_DISP_PENDING, "p3", NULL, 0);
    CHECK_OK(db_request_resolve(db, 3, DB_DISP_DENIED, "no", 5));
    CHECK_OK(db_commit(db));
    memset(&s, 0, sizeof(s));
    s.blobs_ok = 1;
    CHECK_OK(db_request_list(db, DB_DISP_PENDING, collect_rows, &s));
    CHECK_STR(s.ids, "1,4");
    db_close(db);
}

/* The plan of a restriction, one step per line. */
static char *plan(db_t *db, const char *expr)
{
    struct db_restrict *r = NULL;
    size_t n = 0;
    char *p = NULL;
    if (restrict_parse(&r, &n, expr) != CM_OK || db_sqlite_explain_view(&p, db, r, n) != CM_OK)
        printf("# plan for %s: %s\n", expr, cm_err_msg());
    restrict_free(r, n);
    return p;
}

static int plan_has(db_t *db, const char *expr, const char *want, const char *never)
{
    char *p = plan(db, expr);
    int ok = p != NULL && strstr(p, want) != NULL && (never == NULL || strstr(p, never) == NULL);
    if (!ok)
        printf("# plan for '%s' lacks '%s' (or has '%s'):\n%s", expr, want, never ? never : "",
               p ? p : "(none)\n");
    free(p);
    return ok;
}

TEST(explain_uses_indexes)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));

    CHECK_OK(db_begin(db));
    for (int i = 0; i < 50; i++) {
        char serial[8];
        snprintf(serial, sizeof(serial), "%02X", i + 1);
        add(db, i % 3 ? DB_DISP_ISSUED : DB_DISP_PENDING, "x", i % 3 ? serial : NULL,
            1700000000 + i * 86400);
    }
    CHECK_OK(db_commit(db));
    /* Neither full scan of requests nor of certificates. */
    CHECK(plan_has(db, "SerialNumber = 1a", "sqlite_autoindex_certificates_1 (SerialNumber=?)",
                   "SCAN"));
    CHECK(plan_has(db, "RequestID = 7", "INTEGER PRIMARY KEY (rowid=?)", "SCAN"));
    CHECK(plan_has(db, "RequestID > 7, RequestID < 9", "INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
                   "SCAN"));
    CHECK(plan_has(db, "NotAfter >= 2024-01-01, NotAfter < 2024-02-01",
                   "certificates_notafter (NotAfter>? AND NotAfter<?)", "SCAN"));
    CHECK(
        plan_has(db, "NotAfter < now+30d", "USING INDEX certificates_notafter (NotAfter", "SCAN"));
    CHECK(plan_has(db, "NotAfter > now", "USING INDEX certificates_notafter (NotAfter>?)", "SCAN"));
    CHECK(plan_has(db, "Disposition = pending", "requests_disposition (Disposition=?)", "SCAN"));
    CHECK(plan_has(db, "CommonName = x", "certificates_cn (CommonName=?)", "SCAN"));
    /* And the unrestricted view walks requests in RequestID order: no
     * sort of a million rows. */
    CHECK(plan_has(db, "Withheld = 0", "SCAN r", "TEMP B-TREE"));
    db_close(db);
}

struct evs {
    char s[256];
};

static cm_err collect_event(void *ctx, const struct db_event *ev)
{
    struct evs *e = ctx;
    char one[64];
    snprintf(one, sizeof(one), "%lld:%d:%s:%s ", (long long)ev->id, ev->type, ev->serial,
             ev->payload ? ev->payload : "-");
    strncat(e->s, one, sizeof(e->s) - 1 - strlen(e->s));
    return CM_OK;
}

static cm_err poison_collect(void *ctx, const struct db_poison *p)
{
    char *s = ctx;
    size_t n = strlen(s);
    snprintf(s + n, 512 - n, "%s:%lld:%s:%lld ", p->module, (long long)p->event_id, p->reason,
             (long long)p->attempts);
    return CM_OK;
}

/* Poisoned events: recorded with the reason, updated on a second failure,
 * listed per module, deleted once; a database made before the table
 * existed gains it when opened (issue 9). */
TEST(poison)
{
    char path[256], s[512] = "";
    db_t *db = new_db(path, sizeof(path));

    CHECK_OK(db_begin(db));
    CHECK_OK(db_poison_add(db, "smtp", 7, "554 refused", 1700000000));
    CHECK_OK(db_poison_add(db, "file", 3, "disk", 1700000001));
    CHECK_OK(db_poison_add(db, "smtp", 7, "554 again", 1700000002));
    CHECK_OK(db_commit(db));
    CHECK_OK(db_poison_iter(db, NULL, poison_collect, s));
    CHECK_STR(s, "file:3:disk:1 smtp:7:554 again:2 ");
    s[0] = '\0';
    CHECK_OK(db_poison_iter(db, "smtp", poison_collect, s));
    CHECK_STR(s, "smtp:7:554 again:2 ");
    CHECK_OK(db_begin(db));
    CHECK_OK(db_poison_del(db, "smtp", 7));
    CHECK_ERR(db_poison_del(db, "smtp", 7), CM_ERR_NOTFOUND);
    CHECK_OK(db_commit(db));
    db_close(db);
    /* An older database: no table. Opening adds it; nothing else changes. */
    CHECK_INT(raw_exec(path, "DROP TABLE event_poison", NULL, 0), SQLITE_OK);
    CHECK_OK(db_open(&db, path, 0));
    if (db == NULL)
        return;
    s[0] = '\0';
    CHECK_OK(db_poison_iter(db, NULL, poison_collect, s));
    CHECK_STR(s, "");
    db_close(db);
}

TEST(events)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct db_event ev;
    struct evs e;
    int64_t last = 0;
    int types[] = {1, 8, 0x20, 1, 0x100};

    CHECK_OK(db_begin(db));
    for (int i = 0; i < 5; i++) {
        memset(&ev, 0, sizeof(ev));
        ev.type = types[i];
        ev.request_id = i + 1;
        snprintf(ev.serial, sizeof(ev.serial), "%02X", i + 1);
        ev.created = 1700000000 + i;
        ev.payload = i == 2 ? "{\"crl\":1}" : NULL;
        CHECK_OK(db_event_enqueue(db, &ev));
        CHECK(ev.id > last);
        last = ev.id;
    }
    CHECK_OK(db_commit(db));
    memset(&e, 0, sizeof(e));
    CHECK_OK(db_event_iter(db, 0, 0x7ff, 0, collect_event, &e));
    CHECK_STR(e.s, "1:1:01:- 2:8:02:- 3:32:03:{\"crl\":1} 4:1:04:- 5:256:05:- ");
    memset(&e, 0, sizeof(e));
    CHECK_OK(db_event_iter(db, 1, 1 | 0x100, 0, collect_event, &e));
    CHECK_STR(e.s, "4:1:04:- 5:256:05:- ");
    memset(&e, 0, sizeof(e));
    CHECK_OK(db_event_iter(db, 0, 0x7ff, 2, collect_event, &e));
    CHECK_STR(e.s, "1:1:01:- 2:8:02:- ");
    memset(&e, 0, sizeof(e));
    CHECK_OK(db_event_iter(db, 5, 0x7ff, 0, collect_event, &e));
    CHECK_STR(e.s, "");
    db_close(db);
    /* IDs are never reused, even after the newest are deleted. */
    CHECK_INT(raw_exec(path, "DELETE FROM events WHERE ID >= 4", NULL, 0), SQLITE_OK);
    CHECK_OK(db_open(&db, path, 0));
    if (db == NULL)
        return;
    CHECK_OK(db_begin(db));
    memset(&ev, 0, sizeof(ev));
    ev.type = 1;
    CHECK_OK(db_event_enqueue(db, &ev));
    CHECK_INT(ev.id, 6);
    CHECK_OK(db_commit(db));
    db_close(db);
}

/* The issuance path's rows are kept back inside a transaction and sent
 * as multi-row INSERTs (sqlite.c, ROWS_CHUNK): more rows than one chunk
 * and a remainder, a read in the middle that must see the rows kept so
 * far, event IDs handed out before the rows go in. */
TEST(rows_kept_back)
{
    char path[256], serial[CM_SERIAL_BUF];
    db_t *db = new_db(path, sizeof(path));
    struct db_cert *c = NULL;
    struct db_event ev;
    struct db_audit a = {1700000000, "alice", "issue", 0, NULL, "kept"};
    int64_t id = 0;

    CHECK_OK(db_begin(db));
    for (int i = 0; i < 75; i++) {
        snprintf(serial, sizeof(serial), "%04X", 0x1000 + i);
        id = add(db, DB_DISP_ISSUED, "kept", serial, 1800000000 + i);
        CHECK(id == i + 1);
        memset(&ev, 0, sizeof(ev));
        ev.type = 1;
        ev.request_id = id;
        snprintf(ev.serial, sizeof(ev.serial), "%s", serial);
        CHECK_OK(db_event_enqueue(db, &ev));
        CHECK_INT(ev.id, i + 1);
        a.request_id = id;
        a.serial = serial;
        CHECK_OK(db_audit_append(db, &a));
        if (i == 40) {
            CHECK_OK(db_cert_get(db, &c, "1028"));
            CHECK(c != NULL && c->request_id == 41 && c->not_after == 1800000040);
            db_cert_free(c);
            c = NULL;
        }
    }
    CHECK_OK(db_commit(db));
    CHECK_INT(raw_int(path, "SELECT count(*) FROM requests"), 75);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM certificates c JOIN requests r USING (RequestID)"
                            " WHERE c.SerialNumber = printf('%04X', 4095 + r.RequestID)"),
              75);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM events e JOIN certificates c USING (RequestID)"
                            " WHERE e.SerialNumber = c.SerialNumber AND e.ID = e.RequestID"),
              75);
    CHECK_INT(raw_int(path, "SELECT seq FROM sqlite_sequence WHERE name = 'events'"), 75);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM audit WHERE Details = 'kept'"), 75);
    CHECK_INT(raw_int(path, "SELECT value FROM meta WHERE key = 'counter.request_id'"), 75);
    db_close(db);
}

static cm_err name_cb(void *ctx, const char *name)
{
    snprintf(ctx, 64, "%s", name);
    return CM_OK;
}

TEST(backup)
{
    char path[256], dir[300], copy[340], name[64] = "", loc[400];
    db_t *db = new_db(path, sizeof(path)), *db2 = NULL;
    int rows = 0;
    struct db_cert *c = NULL;
    struct db_marks m;

    CHECK_OK(db_begin(db));
    for (int i = 0; i < 20; i++) {
        char serial[8];
        snprintf(serial, sizeof(serial), "%02X", i + 1);
        add(db, DB_DISP_ISSUED, "b", serial, 1800000000);
    }
    snprintf(dir, sizeof(dir), "%s/snap", tmpdir);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(copy, sizeof(copy), "%s/certmint.db", dir);
    CHECK_ERR(db_snapshot(db, &m, dir, name_cb, name), CM_ERR_STATE);
    CHECK_OK(db_commit(db));
    CHECK_OK(db_snapshot(db, &m, dir, name_cb, name));
    /* The SQLite snapshot is one self-contained file, named to the caller. */
    CHECK_STR(name, "certmint.db");
    CHECK_INT(m.certificates, 20);
    CHECK_INT(m.last_request_id, 20);
    db_close(db);
    CHECK_OK(db_open(&db2, copy, 0));
    if (db2 == NULL)
        return;
    CHECK_OK(db_view(db2, NULL, 0, count_row, &rows));
    CHECK_INT(rows, 20);
    CHECK_OK(db_cert_get(db2, &c, "14"));
    CHECK(c != NULL && c->request_id == 20);
    db_cert_free(c);
    db_close(db2);
    /* Independent check: SQLite's own integrity check on the copy. */
    CHECK_INT(raw_int(copy, "SELECT count(*) FROM pragma_integrity_check WHERE "
                            "integrity_check='ok'"),
              1);
    /* A restore makes a file of its own; not over an existing database. */
    snprintf(loc, sizeof(loc), "sqlite:%s/restored.sqlite", tmpdir);
    CHECK_OK(db_restore(loc, dir));
    CHECK_ERR(db_restore(loc, dir), CM_ERR_EXISTS);
    snprintf(loc, sizeof(loc), "%s/restored.sqlite", tmpdir);
    CHECK_INT(raw_int(loc, "SELECT count(*) FROM certificates"), 20);
    CHECK_OK(db_remove(loc));
    CHECK(access(loc, F_OK) != 0);
}

TEST(insert_timing)
{
    char path[256];
    db_t *db = new_db(path, sizeof(path));
    struct timespec a, b;
    int n = 1000, ok = 1;
    double ms;

    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_OK(db_begin(db));
    for (int i = 0; i < n && ok; i++) {
        char serial[CM_SERIAL_BUF];
        snprintf(serial, sizeof(serial), "%016X", (unsigned)i * 2654435761u + 1);
        ok = add(db, DB_DISP_ISSUED, "timing", serial, 1800000000 + i) > 0;
    }
    CHECK(ok);
    CHECK_OK(db_commit(db));
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    printf("# %d request+certificate inserts in one transaction: %.1f ms (%.0f/s)\n", n, ms,
           n / (ms / 1e3));
    db_close(db);
}

/* A home's database location: its certmint.conf's db.url when set (the
 * last one, comments and other keys ignored), else SQLite in the home. */
TEST(home_location)
{
    char home[256], conf[300], loc[600], want[600];
    FILE *f;

    snprintf(home, sizeof(home), "%s/home-loc", tmpdir);
    CHECK(mkdir(home, 0700) == 0);
    CHECK_OK(db_home_location(loc, sizeof(loc), home));
    snprintf(want, sizeof(want), "sqlite:%s/certmint.db", home);
    CHECK_STR(loc, want);
    snprintf(conf, sizeof(conf), "%s/certmint.conf", home);
    f = fopen(conf, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("# db.url = postgresql://commented@h/x\nca.backdate = 5m\n", f);
    fclose(f);
    CHECK_OK(db_home_location(loc, sizeof(loc), home));
    CHECK_STR(loc, want);
    f = fopen(conf, "a");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("db.url = postgresql://a@h:1/old\n  db.url=postgresql://ca@db.example:5432/root # c\r\n"
          "db.urlx = nothing\n",
          f);
    fclose(f);
    CHECK_OK(db_home_location(loc, sizeof(loc), home));
    CHECK_STR(loc, "postgresql://ca@db.example:5432/root");
    /* Too small a buffer: an error, never a cut URL. */
    CHECK_ERR(db_home_location(loc, 20, home), CM_ERR_CONFIG);
}

int main(void)
{
    unit_suite = "db";
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(names);
    RUN(compare_and_set);
    RUN(create_open);
    RUN(refuse_foreign_files);
    RUN(requests_and_certs);
    RUN(rollback_leaves_nothing);
    RUN(check_constraints);
    RUN(counters);
    RUN(revocation_states);
    RUN(revoked_iter);
    RUN(revoked_iter_stops);
    RUN(audit_append_only);
    RUN(audit_iter);
    RUN(crls);
    RUN(view_restrictions);
    RUN(request_list);
    RUN(explain_uses_indexes);
    RUN(rows_kept_back);
    RUN(events);
    RUN(poison);
    RUN(backup);
    RUN(home_location);
    RUN(insert_timing);
    if (getenv("KEEP") == NULL)
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_DONE();
}
