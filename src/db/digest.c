/* Table digests of a database snapshot (db_snapshot_digest, db.h): what
 * `certmint db migrate` prints and compares for the source and the target.
 *
 * Both backends write a snapshot as an SQLite file of one schema (C9), so
 * one reader digests either: the source's snapshot and a snapshot taken
 * back from the target after the copy, each read through its own backend.
 * A table's hash is SHA-256 over its rows in the order of every column
 * (not of rowid: the target may have inserted them in another order), each
 * value as a type tag, a length and its bytes, so that NULL, '' and 0 or a
 * text and a blob of the same bytes never hash alike. */
#include "db/db.h"

#include "util/fsutil.h"

#include <limits.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* The snapshot's file (both backends: sqlite.c's SQ_HOME_FILE). */
#define DIGEST_FILE "certmint.db"

static void hash_value(EVP_MD_CTX *md, sqlite3_stmt *st, int col)
{
    unsigned char tag;
    uint64_t len = 0;
    const void *p = NULL;
    char num[32];

    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        tag = 'N';
        break;
    case SQLITE_INTEGER:
        tag = 'I';
        len =
            (uint64_t)snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, col));
        p = num;
        break;
    case SQLITE_BLOB:
        tag = 'B';
        p = sqlite3_column_blob(st, col);
        len = (uint64_t)sqlite3_column_bytes(st, col);
        break;
    default: /* TEXT (no REAL columns in the schema; as text if one came) */
        tag = 'T';
        p = sqlite3_column_text(st, col);
        len = (uint64_t)sqlite3_column_bytes(st, col);
        break;
    }
    EVP_DigestUpdate(md, &tag, 1);
    EVP_DigestUpdate(md, &len, sizeof(len));
    if (len > 0 && p != NULL)
        EVP_DigestUpdate(md, p, (size_t)len);
}

/* Rows and SHA-256 (hex) of table name. */
static cm_err digest_table(sqlite3 *h, const char *path, const char *name, int64_t *rows, char *hex,
                           size_t hexsz)
{
    cm_err rc = CM_OK;
    sqlite3_stmt *st = NULL;
    EVP_MD_CTX *md = NULL;
    char sql[512];
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int dglen = 0, i;
    int ncols, step, n;

    /* The column count first: ORDER BY 1, 2, ..., n (every column). */
    n = snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" LIMIT 0", name);
    if (n < 0 || (size_t)n >= sizeof(sql) || sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: table %s: %s", path, name, sqlite3_errmsg(h));
    ncols = sqlite3_column_count(st);
    sqlite3_finalize(st);
    st = NULL;
    n = snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY 1", name);
    for (int c = 2; c <= ncols && n > 0 && (size_t)n < sizeof(sql); c++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, ", %d", c);
    if (n < 0 || (size_t)n >= sizeof(sql))
        CM_FAIL(CM_ERR_INVALID, "%s: table %s: too many columns", path, name);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: table %s: %s", path, name, sqlite3_errmsg(h));
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-256");
    *rows = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < ncols; c++)
            hash_value(md, st, c);
        (*rows)++;
    }
    if (step != SQLITE_DONE)
        CM_FAIL(CM_ERR_DB, "%s: table %s: %s", path, name, sqlite3_errmsg(h));
    if (EVP_DigestFinal_ex(md, dg, &dglen) != 1 || hexsz < 2 * (size_t)dglen + 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-256");
    for (i = 0; i < dglen; i++)
        snprintf(hex + 2 * i, 3, "%02x", dg[i]);
out:
    EVP_MD_CTX_free(md);
    sqlite3_finalize(st);
    return rc;
}

cm_err db_snapshot_digest(const char *dir, db_digest_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    char path[PATH_MAX], hex[2 * EVP_MAX_MD_SIZE + 1];
    int64_t rows = 0;
    int step;

    CM_TRY(fs_join(path, sizeof(path), dir, DIGEST_FILE));
    if (!fs_exists(path))
        CM_FAIL(CM_ERR_NOTFOUND, "%s: no database snapshot (no %s)", dir, DIGEST_FILE);
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: %s", path, h ? sqlite3_errmsg(h) : "cannot open");
    if (sqlite3_prepare_v2(h,
                           "SELECT name FROM sqlite_master WHERE type = 'table'"
                           " AND name NOT LIKE 'sqlite_%' ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        CM_FAIL(CM_ERR_DB, "%s: listing the tables: %s", path, sqlite3_errmsg(h));
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name == NULL || name[strspn(name, "abcdefghijklmnopqrstuvwxyz_0123456789")] != '\0')
            CM_FAIL(CM_ERR_DB, "%s: unexpected table name", path);
        CM_TRY(digest_table(h, path, name, &rows, hex, sizeof(hex)));
        CM_TRY(cb(ctx, name, rows, hex));
    }
    if (step != SQLITE_DONE)
        CM_FAIL(CM_ERR_DB, "%s: listing the tables: %s", path, sqlite3_errmsg(h));
out:
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rc;
}
