/* Restriction expressions for `certmint view --restrict` (the syntax of
 * `certutil -view -restrict`):
 *
 *   expr  = term *( "," term )            at most RESTRICT_MAX_TERMS terms
 *   term  = column op value               spaces around each part optional
 *   op    = "=" / "!=" / "<" / "<=" / ">" / ">="
 *   value = bare / quoted                 bare: up to the next comma, trimmed
 *   quoted = DQUOTE *( char / "\" DQUOTE / "\\" ) DQUOTE   (may hold commas)
 *
 * Column names are those of db_columns, case-insensitive. Values are typed
 * by the column: integers, dates (util/text.h formats, "now", "now-7d",
 * "now+12h"), serial numbers (any hex form), disposition names or codes,
 * RFC 5280 reason names or codes, text. A bare EMPTY matches a missing
 * value (with = and != only). Binary columns cannot be restricted. Terms
 * are ANDed. */
#ifndef CM_DB_RESTRICT_H
#define CM_DB_RESTRICT_H

#include "db/db.h"

#define RESTRICT_MAX_LEN 4096
#define RESTRICT_MAX_TERMS 32

/* Parses expr into *out (an array of *n restrictions, malloc'ed; free with
 * restrict_free). On error *out is NULL, *n is 0, and the one-line message
 * names the term and what is wrong with it. */
cm_err restrict_parse(struct db_restrict **out, size_t *n, const char *expr) CM_MUST_USE;

/* Frees an array returned by restrict_parse; NULL-safe. */
void restrict_free(struct db_restrict *r, size_t n);

#endif
