/* The certificate view as one core call (ca/view.h). */
#include "ca/ca_int.h"
#include "ca/view.h"

#include "db/restrict.h"
#include "db/viewfmt.h"

#include <stdlib.h>

struct ca_view_query {
    struct db_restrict *r;
    size_t nr;
    int cols[VIEWFMT_MAX_COLS];
    struct viewfmt_opts o;
};

cm_err ca_view_query_new(ca_view_query **out)
{
    cm_err rc = CM_OK;
    ca_view_query *q = calloc(1, sizeof(*q));

    *out = NULL;
    if (q == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    q->o.cols = q->cols;
    q->o.format = VIEWFMT_TABLE;
    CM_TRY(viewfmt_parse_columns(q->cols, &q->o.ncols, VIEWFMT_MAX_COLS, viewfmt_default_cols));
    *out = q;
    q = NULL;
out:
    ca_view_query_free(q);
    return rc;
}

void ca_view_query_free(ca_view_query *q)
{
    if (q == NULL)
        return;
    restrict_free(q->r, q->nr);
    free(q);
}

cm_err ca_view_set_format(ca_view_query *q, const char *format)
{
    return viewfmt_parse_format(&q->o.format, format);
}

cm_err ca_view_set_columns(ca_view_query *q, const char *columns)
{
    return viewfmt_parse_columns(q->cols, &q->o.ncols, VIEWFMT_MAX_COLS, columns);
}

cm_err ca_view_set_restrict(ca_view_query *q, const char *expr)
{
    struct db_restrict *r = NULL;
    size_t nr = 0;
    cm_err rc = restrict_parse(&r, &nr, expr);

    if (rc != CM_OK)
        return rc;
    restrict_free(q->r, q->nr);
    q->r = r;
    q->nr = nr;
    return CM_OK;
}

void ca_view_set_limit(ca_view_query *q, uint64_t limit)
{
    q->o.limit = limit;
}

cm_err ca_view(FILE *f, ca_ctx *ca, const ca_view_query *q)
{
    return viewfmt_run(f, ca->db, q->r, q->nr, &q->o);
}
