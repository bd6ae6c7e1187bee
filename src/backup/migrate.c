/* `certmint db migrate`: moves a CA home's database to another backend
 * (SQLite -> PostgreSQL and back) without losing a row.
 *
 * The copy is the backup path's (db_snapshot of the source, db_restore into
 * the target, which refuses a target that already holds a CA). The proof
 * is separate from the copy: a snapshot taken back from the target through
 * its own backend, and every table's row count and SHA-256 compared with
 * the source snapshot's (db_snapshot_digest). The source must stay still
 * meanwhile: its marks are read before and after, and a change fails the
 * migration. Only when all of that holds does certmint.conf name the new
 * database; a failed migration removes what it made and changes nothing. */
#include "backup/backup.h"
#include "ca/ca_int.h"

#include "config/config.h"
#include "db/db.h"
#include "util/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIGRATE_TABLES_MAX 32

struct table_digest {
    char name[64];
    int64_t rows;
    char sha256[65];
};

struct digest_list {
    struct table_digest t[MIGRATE_TABLES_MAX];
    size_t n;
};

static cm_err digest_cb(void *ctx, const char *table, int64_t rows, const char *sha256)
{
    struct digest_list *l = ctx;
    if (l->n == MIGRATE_TABLES_MAX)
        return cm_err_set(CM_ERR_DB, "more than %d tables", MIGRATE_TABLES_MAX);
    snprintf(l->t[l->n].name, sizeof(l->t[0].name), "%s", table);
    l->t[l->n].rows = rows;
    snprintf(l->t[l->n].sha256, sizeof(l->t[0].sha256), "%s", sha256);
    l->n++;
    return CM_OK;
}

/* Removes the snapshot directory dir (files the snapshot wrote). */
static cm_err snap_file_cb(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return CM_OK;
}

static void snap_remove(const char *dir)
{
    char p[PATH_MAX];
    if (dir[0] == '\0')
        return;
    if (fs_join(p, sizeof(p), dir, "certmint.db") == CM_OK)
        unlink(p);
    rmdir(dir);
}

/* Snapshot of db into a new directory under home (*dir), and its digests. */
static cm_err snap_digest(char *dir, size_t dirsz, struct db_marks *marks, struct digest_list *l,
                          db_t *db, const char *home, const char *what)
{
    cm_err rc = CM_OK;
    int n = snprintf(dir, dirsz, "%s/.migrate-%s.XXXXXX", home, what);

    if (n < 0 || (size_t)n >= dirsz)
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", home);
    if (mkdtemp(dir) == NULL) {
        rc = cm_err_set(CM_ERR_IO, "%s: %s", dir, strerror(errno));
        dir[0] = '\0';
        return rc;
    }
    CM_TRY(db_snapshot(db, marks, dir, snap_file_cb, NULL));
    CM_TRY(db_snapshot_digest(dir, digest_cb, l));
out:
    return rc;
}

/* Every table of the source in the target with its rows and hash. */
static cm_err digests_compare(const struct digest_list *a, const struct digest_list *b)
{
    if (a->n != b->n)
        return cm_err_set(CM_ERR_DB, "the target has %zu tables, the source %zu", b->n, a->n);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->t[i].name, b->t[i].name) != 0 || a->t[i].rows != b->t[i].rows ||
            strcmp(a->t[i].sha256, b->t[i].sha256) != 0)
            return cm_err_set(CM_ERR_DB,
                              "table %s differs: source %lld rows sha256 %s, target %lld rows "
                              "sha256 %s",
                              a->t[i].name, (long long)a->t[i].rows, a->t[i].sha256,
                              (long long)b->t[i].rows, b->t[i].sha256);
    return CM_OK;
}

/* The target as db.url: a postgresql:// URL, or none (the home's SQLite
 * file, the default). Written temp + rename by config_save. */
static cm_err conf_point_at(const char *home, const char *url)
{
    cm_config *c = NULL;
    char path[PATH_MAX];
    cm_err rc;

    CM_TRY(fs_join(path, sizeof(path), home, CA_CONF_FILE));
    CM_TRY(config_load(&c, path, 0));
    if (url != NULL)
        CM_TRY(config_set(c, "db.url", url));
    else
        CM_TRY(config_unset(c, "db.url"));
    CM_TRY(config_save(c, path));
out:
    config_free(c);
    return rc;
}

/* Refused before anything changes: a target that holds a CA database
 * (db_restore would refuse it too, but only after the source's audit
 * record). A target that cannot be reached is that error. */
static cm_err target_empty(const char *location, const char *to)
{
    db_t *t = NULL;
    cm_err rc = db_open(&t, location, 0);

    if (rc == CM_OK) {
        db_close(t);
        return cm_err_set(CM_ERR_EXISTS,
                          "db migrate --to '%s': the target already holds a CA database; "
                          "migrate only into an empty one",
                          to);
    }
    return rc == CM_ERR_NOTFOUND ? CM_OK : rc;
}

/* The target's location: "sqlite" is the home's own database file. */
static cm_err target_location(char *out, size_t outsz, const char *home, const char *to)
{
    char cur[PATH_MAX + 16];
    cm_err rc;

    if (strcmp(to, "sqlite") == 0) {
        const struct db_ops *sq = db_backend_find("sqlite");
        if (sq == NULL)
            return cm_err_set(CM_ERR_UNSUPPORTED, "no sqlite backend");
        rc = sq->home_location(out, outsz, home);
    } else if (strncmp(to, "postgresql://", 13) == 0) {
        rc = snprintf(out, outsz, "%s", to) < (int)outsz
                 ? CM_OK
                 : cm_err_set(CM_ERR_INVALID, "--to: too long");
    } else {
        return cm_err_set(CM_ERR_INVALID,
                          "db migrate --to '%s': neither a postgresql:// URL nor 'sqlite'", to);
    }
    if (rc != CM_OK)
        return rc;
    CM_TRY(db_home_location(cur, sizeof(cur), home));
    if (strcmp(cur, out) == 0)
        CM_FAIL(CM_ERR_INVALID, "db migrate --to '%s': the CA's database is already there", to);
    CM_TRY(target_empty(out, to));
out:
    return rc;
}

static int marks_equal(const struct db_marks *a, const struct db_marks *b)
{
    return a->last_request_id == b->last_request_id && a->last_crl_number == b->last_crl_number &&
           a->last_event_id == b->last_event_id && a->certificates == b->certificates;
}

/* The migration's own record, in the source before its snapshot: both
 * databases then hold it, and the comparison covers it. */
static cm_err migrate_audit(ca_ctx *ca, const char *actor, const char *to)
{
    cm_err rc = CM_OK;
    char details[600];
    struct db_audit a = {
        (int64_t)time(NULL), actor ? actor : "unknown", "db-migrate", 0, NULL, details};

    snprintf(details, sizeof(details), "to %s", to);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_audit_append(ca->db, &a));
    CM_TRY(db_commit(ca->db));
out:
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}

struct migrate_state {
    char target[PATH_MAX + 16];
    char sdir[PATH_MAX], tdir[PATH_MAX];
    struct digest_list src, dst;
    struct db_marks m0, m1, mt;
    db_t *tdb;
    int made; /* the target database was created */
};

static cm_err migrate_copy(struct migrate_state *st, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    struct db_marks now;

    CM_TRY(snap_digest(st->sdir, sizeof(st->sdir), &st->m0, &st->src, ca->db, ca->home, "src"));
    CM_TRY(db_restore(st->target, st->sdir));
    st->made = 1;
    CM_TRY(db_open(&st->tdb, st->target, 0));
    CM_TRY(snap_digest(st->tdir, sizeof(st->tdir), &st->mt, &st->dst, st->tdb, ca->home, "dst"));
    CM_TRY(digests_compare(&st->src, &st->dst));
    if (!marks_equal(&st->m0, &st->mt))
        CM_FAIL(CM_ERR_DB, "the target's high-water marks differ from the source's");
    CM_TRY(db_marks(ca->db, &now));
    if (!marks_equal(&st->m0, &now))
        CM_FAIL(CM_ERR_STATE,
                "the CA's database changed during the migration (RequestID %lld -> %lld, event "
                "%lld -> %lld): stop every certmint process of this CA and run it again",
                (long long)st->m0.last_request_id, (long long)now.last_request_id,
                (long long)st->m0.last_event_id, (long long)now.last_event_id);
    CM_TRY(
        conf_point_at(ca->home, strncmp(st->target, "postgresql://", 13) == 0 ? st->target : NULL));
out:
    return rc;
}

cm_err backup_migrate(struct migrate_report *rep, ca_ctx *ca, const char *to, const char *actor,
                      migrate_table_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    struct migrate_state *st = calloc(1, sizeof(*st));
    int lock = 0;

    memset(rep, 0, sizeof(*rep));
    if (st == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    CM_TRY(target_location(st->target, sizeof(st->target), ca->home, to));
    /* No delivery from this home while the rows move (serve on another
     * node still could write: the marks check catches that). */
    CM_TRY(db_lock(ca->db, &lock, "exit", 0));
    if (!lock)
        CM_FAIL(CM_ERR_STATE, "another certmint process is delivering events of this CA: stop "
                              "'certmint serve' on every node first");
    CM_TRY(migrate_audit(ca, actor, to));
    rc = migrate_copy(st, ca);
    for (size_t i = 0; i < st->src.n && cb != NULL; i++)
        cb(ctx, st->src.t[i].name, st->src.t[i].rows, st->src.t[i].sha256,
           i < st->dst.n ? st->dst.t[i].rows : -1, i < st->dst.n ? st->dst.t[i].sha256 : "");
    if (rc != CM_OK)
        goto out;
    rep->tables = st->src.n;
    rep->last_request_id = st->m0.last_request_id;
    rep->certificates = st->m0.certificates;
    snprintf(rep->target, sizeof(rep->target), "%s", st->target);
out:
    if (lock)
        db_unlock(ca->db, "exit");
    db_close(st->tdb);
    if (rc != CM_OK && st->made)
        (void)db_remove(st->target);
    snap_remove(st->sdir);
    snap_remove(st->tdir);
    free(st);
    return rc;
}
