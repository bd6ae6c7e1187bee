/* Backup and restore of a CA home.
 *
 * A backup directory holds a consistent snapshot: the database (SQLite's
 * online backup API, not a file copy, so it is consistent while the service
 * runs), the CA key as stored (encrypted), the CA certificate and chain, the
 * configuration, the published CRLs, and MANIFEST: the SHA-256 of every file
 * and the database's high-water marks (last RequestID, last CRL number, last
 * event ID), written last. */
#ifndef CM_BACKUP_BACKUP_H
#define CM_BACKUP_BACKUP_H

#include "ca/ca.h"

#define BACKUP_MANIFEST "MANIFEST"

struct backup_marks {
    int64_t last_request_id;
    int64_t last_crl_number;
    int64_t last_event_id;
    int64_t certificates;
};

/* Snapshot of ca's home into dir (which must not exist or be empty). */
cm_err backup_create(struct backup_marks *marks, ca_ctx *ca, const char *dir) CM_MUST_USE;

/* Checks a backup without restoring it: every file's hash, the database's
 * integrity, and the marks against the database copy. */
cm_err backup_verify(struct backup_marks *marks, const char *dir) CM_MUST_USE;

struct restore_opts {
    const char *home;             /* where to restore */
    int force;                    /* replace a live CA home (it is moved aside, not deleted) */
    const char *const *crl_files; /* CRLs still at hand: the next CRL number exceeds theirs */
    size_t ncrl_files;
    const char *actor; /* who restores: the audit record "restore" in the restored home */
    const char *db_url; /* NULL: the backup's own database location; else the new
                           PostgreSQL database (db.url) to restore into */
};

/* Verifies dir and restores it into o->home. *moved_aside gets the path the
 * replaced home was renamed to (empty when none). The restored database
 * holds the audit record "restore" (by o->actor, details: dir) before the
 * home is put in place: no restored home goes without it. */
cm_err backup_restore(struct backup_marks *marks, char *moved_aside, size_t moved_aside_sz,
                      const char *dir, const struct restore_opts *o) CM_MUST_USE;

/* Reads the highest CRL number from CRL files (DER or PEM) and raises the
 * database's counter past it, in one transaction. */
cm_err backup_raise_crl_number(db_t *db, const char *const *crl_files, size_t n,
                               int64_t *highest) CM_MUST_USE;

/* `certmint db migrate --to TARGET` (src/backup/migrate.c): copies the
 * CA's database into TARGET ("postgresql://USER@HOST:PORT/DB", or "sqlite":
 * the home's own certmint.db), proves the copy (every table's row count
 * and SHA-256, the source's snapshot against one taken back from the
 * target) and then points certmint.conf at it. Refuses a target that holds
 * a CA database already, and fails (removing what it made, nothing else
 * changed) when a table differs or the source changed meanwhile. The old
 * database is left as it was. cb (may be NULL) gets every table: source
 * rows and hash, target rows and hash (-1, "" when the copy did not get
 * that far), also when the comparison failed. */
struct migrate_report {
    char target[4096 + 16];
    size_t tables;
    int64_t last_request_id;
    int64_t certificates;
};
typedef void (*migrate_table_cb)(void *ctx, const char *table, int64_t src_rows,
                                 const char *src_sha256, int64_t dst_rows, const char *dst_sha256);
cm_err backup_migrate(struct migrate_report *rep, ca_ctx *ca, const char *to, const char *actor,
                      migrate_table_cb cb, void *ctx) CM_MUST_USE;

#endif
