/* SQLite backend specifics that are not part of the generic ops table. */
#ifndef CM_DB_SQLITE_H
#define CM_DB_SQLITE_H

#include "db/db.h"

/* The schema version this build creates and understands (meta key
 * "schema_version"). A database with a higher version is refused. */
#define DB_SQLITE_SCHEMA_VERSION 1

/* SQLite's application_id header field for certmint databases ("CMNT"):
 * lets `file` and certmint tell a certmint database from any other. */
#define DB_SQLITE_APPLICATION_ID 0x434D4E54

/* The query plan (EXPLAIN QUERY PLAN, one step per line) SQLite chooses for
 * db_view() with these restrictions: lets tests and operators check that a
 * restriction uses an index. db must be an SQLite database. *out is
 * malloc'ed (caller frees). */
cm_err db_sqlite_explain_view(char **out, db_t *db, const struct db_restrict *r,
                              size_t nr) CM_MUST_USE;

#endif
