/* The figures a server reports about its CA (ca/stats.h). */
#include "ca/stats.h"

#include "ca/ca_int.h"

#include <string.h>

static cm_err count_row(void *ctx, const struct db_row *row)
{
    (void)row;
    (*(int64_t *)ctx)++;
    return CM_OK;
}

static cm_err last_crl(int64_t *number, int64_t *next_update, ca_ctx *ca, int delta)
{
    cm_err rc = CM_OK;
    struct db_crl *c = NULL;
    CM_TRY(db_crl_last(ca->db, &c, delta));
    if (c != NULL) {
        *number = c->number;
        *next_update = c->next_update;
    }
out:
    db_crl_free(c);
    return rc;
}

cm_err ca_stats_read(struct ca_stats *out, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    struct db_marks mk;

    memset(out, 0, sizeof(*out));
    memset(&mk, 0, sizeof(mk));
    CM_TRY(db_marks(ca->db, &mk));
    out->certificates = mk.certificates;
    CM_TRY(db_request_list(ca->db, DB_DISP_PENDING, count_row, &out->requests_pending));
    CM_TRY(last_crl(&out->crl_number, &out->crl_next_update, ca, 0));
    CM_TRY(last_crl(&out->delta_number, &out->delta_next_update, ca, 1));
out:
    return rc;
}
