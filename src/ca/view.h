/* The certificate view (`certmint view`) as one core call: a front end
 * hands over the option texts as the user gave them; the core parses the
 * restriction, the columns and the format (db/restrict.h, db/viewfmt.h),
 * queries and writes the rows. Front ends never name a db/ header. */
#ifndef CM_CA_VIEW_H
#define CM_CA_VIEW_H

#include "ca/ca.h"

#include <stdint.h>
#include <stdio.h>

/* A parsed view request: restriction, columns, format, limit. */
typedef struct ca_view_query ca_view_query;

/* A query with the defaults: every row, the default columns, table. */
cm_err ca_view_query_new(ca_view_query **out) CM_MUST_USE;
void ca_view_query_free(ca_view_query *q);
/* "table", "csv" or "json" (case-insensitive). */
cm_err ca_view_set_format(ca_view_query *q, const char *format) CM_MUST_USE;
/* "RequestID, CommonName,NotAfter": the columns and their order. */
cm_err ca_view_set_columns(ca_view_query *q, const char *columns) CM_MUST_USE;
/* "Disposition=issued,NotAfter<now+30d" (docs/view.md); replaces an
 * earlier restriction. */
cm_err ca_view_set_restrict(ca_view_query *q, const char *expr) CM_MUST_USE;
/* At most limit rows (0: all). */
void ca_view_set_limit(ca_view_query *q, uint64_t limit);

/* Writes the rows of q to f (header, rows; CSV RFC 4180, JSON array).
 * actor is who asked (a read: not audited). */
cm_err ca_view(FILE *f, ca_ctx *ca, const ca_view_query *q) CM_MUST_USE;

#endif
