/* Output of the certificate view (`certmint view`): rows of db_view()
 * written as an aligned table, CSV (RFC 4180) or JSON (RFC 8259). Lives in
 * the library, not the CLI, so that it is tested against a real database
 * and other front ends can reuse it. */
#ifndef CM_DB_VIEWFMT_H
#define CM_DB_VIEWFMT_H

#include "db/db.h"

#include <stdint.h>
#include <stdio.h>

/* Most columns one output may list (repetitions included). */
#define VIEWFMT_MAX_COLS 64

enum viewfmt_format { VIEWFMT_TABLE, VIEWFMT_CSV, VIEWFMT_JSON };

struct viewfmt_opts {
    const int *cols; /* indexes into db_columns */
    size_t ncols;
    enum viewfmt_format format;
    uint64_t limit; /* most rows written; 0 = all */
};

/* The default columns of `certmint view`. */
extern const char viewfmt_default_cols[];

/* "table", "csv" or "json" (case-insensitive). */
cm_err viewfmt_parse_format(enum viewfmt_format *out, const char *s) CM_MUST_USE;

/* "RequestID, CommonName,NotAfter" into column indexes (at most max).
 * Unknown names are an error naming them. */
cm_err viewfmt_parse_columns(int *cols, size_t *ncols, size_t max, const char *list) CM_MUST_USE;

/* Runs db_view(db, r, nr) and writes the rows to f: a header then one
 * row per request. NULL values are EMPTY in a table, an empty field in
 * CSV, null in JSON; binary columns are base64 (one line, no PEM
 * armour). Write errors are CM_ERR_IO. */
cm_err viewfmt_run(FILE *f, db_t *db, const struct db_restrict *r, size_t nr,
                   const struct viewfmt_opts *o) CM_MUST_USE;

#endif
