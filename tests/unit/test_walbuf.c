/* Unit tests: the WAL-gathering VFS (db/walbuf.c). A connection on it and
 * one on SQLite's default VFS (its own descriptors, as another process
 * has) share a database: the other sees every commit, and frames of a
 * rolled-back transaction that spilled into the WAL never land on the
 * other's frames later (walbuf flushes them at the write lock's release). */
#include "unit.h"
#include "db/walbuf.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char top[PATH_MAX];
static char dbpath[PATH_MAX];

static sqlite3 *open_db(const char *vfs)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK)
        return h;
    sqlite3_busy_timeout(h, 5000);
    (void)sqlite3_exec(h,
                       "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                       "PRAGMA wal_autocheckpoint=0",
                       NULL, NULL, NULL);
    return h;
}

static long long one_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int integrity_ok(sqlite3 *h)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok;
}

static int run(sqlite3 *h, const char *sql)
{
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        printf("# %s: %s\n", sql, sqlite3_errmsg(h));
    return rc;
}

static void fresh(void)
{
    char p[PATH_MAX + 8];
    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

TEST(registered)
{
    CHECK(walbuf_vfs() != NULL);
    CHECK(sqlite3_vfs_find(walbuf_vfs()) != NULL);
    /* Not the default: only the connections that ask use it. */
    CHECK(sqlite3_vfs_find(NULL) != sqlite3_vfs_find(walbuf_vfs()));
}

/* Every commit on walbuf is in the WAL file when the other connection
 * reads it: many small frames, then pages beyond one gathering buffer. */
TEST(commits_visible)
{
    sqlite3 *a = NULL, *b = NULL;
    char sql[128];

    fresh();
    a = open_db(walbuf_vfs());
    b = open_db(NULL);
    CHECK(a != NULL && b != NULL);
    CHECK_INT(run(a, "CREATE TABLE t(i INTEGER PRIMARY KEY, v BLOB)"), SQLITE_OK);
    for (int i = 1; i <= 40; i++) {
        snprintf(sql, sizeof(sql), "INSERT INTO t VALUES(%d, randomblob(%d))", i,
                 i % 4 == 0 ? 300000 : 100);
        CHECK_INT(run(a, sql), SQLITE_OK);
        CHECK_INT(one_int(b, "SELECT count(*) FROM t"), i);
        CHECK_INT(one_int(b, "SELECT max(length(v)) FROM t"), i >= 4 ? 300000 : 100);
    }
    CHECK_INT(run(b, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    CHECK_INT(run(a, "INSERT INTO t VALUES(41, zeroblob(10))"), SQLITE_OK);
    CHECK_INT(one_int(b, "SELECT count(*) FROM t"), 41);
    sqlite3_close(a);
    sqlite3_close(b);
    b = open_db(NULL);
    CHECK_INT(one_int(b, "SELECT count(*) FROM t"), 41);
    CHECK(integrity_ok(b));
    sqlite3_close(b);
}

/* A transaction on walbuf too big for its page cache spills frames into
 * the WAL, then rolls back; the other connection then commits frames at
 * the same offsets. walbuf's connection must not write its stale frames
 * over them afterwards (reading, writing or closing). */
TEST(rollback_after_spill)
{
    sqlite3 *a = NULL, *b = NULL;

    fresh();
    a = open_db(walbuf_vfs());
    b = open_db(NULL);
    CHECK(a != NULL && b != NULL);
    CHECK_INT(run(a, "CREATE TABLE t(i INTEGER PRIMARY KEY, v BLOB)"), SQLITE_OK);
    /* The table in the database file: the rollback then reads nothing
     * from the WAL (a read would flush the stale frames in time). */
    CHECK_INT(run(b, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
    CHECK_INT(run(a, "PRAGMA cache_size=8"), SQLITE_OK);
    CHECK_INT(run(a, "BEGIN; WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE "
                     "x<400) INSERT INTO t SELECT x, randomblob(2000) FROM n"),
              SQLITE_OK);
    CHECK_INT(run(a, "ROLLBACK"), SQLITE_OK);
    CHECK_INT(run(b, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE "
                     "x<1000) INSERT INTO t SELECT x, zeroblob(2000) FROM n"),
              SQLITE_OK);
    /* walbuf's connection reads b's frames, then writes its own. */
    CHECK_INT(one_int(a, "SELECT count(*) FROM t WHERE v = zeroblob(2000)"), 1000);
    CHECK_INT(run(a, "INSERT INTO t VALUES(5000, zeroblob(2000))"), SQLITE_OK);
    sqlite3_close(a);
    CHECK_INT(one_int(b, "SELECT count(*) FROM t WHERE v = zeroblob(2000)"), 1001);
    CHECK(integrity_ok(b));
    sqlite3_close(b);
}

int main(void)
{
    char tmpl[] = "/tmp/cm-walbuf.XXXXXX";
    char cmd[PATH_MAX + 16];
    unit_suite = "walbuf";
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, top) == NULL)
        return 1;
    snprintf(dbpath, sizeof(dbpath), "%s/t.db", top);
    RUN(registered);
    RUN(commits_visible);
    RUN(rollback_after_spill);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    if (system(cmd) != 0)
        return 1;
    return UNIT_DONE();
}
