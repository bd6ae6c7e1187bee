/* Read-only queries for front ends (ca/query.h). */
#include "ca/ca_int.h"
#include "ca/query.h"

#include "util/text.h"

#include <stdint.h>

cm_err ca_audit_list(ca_ctx *ca, int64_t since, ca_audit_cb cb, void *ctx)
{
    return db_audit_iter(ca->db, since, cb, ctx);
}

struct pending_ctx {
    int id, when, who, tmpl, dn;
    ca_pending_cb cb;
    void *ctx;
};

static cm_err pending_row(void *ctx, const struct db_row *row)
{
    struct pending_ctx *p = ctx;
    const char *const *v = row->values;
    struct ca_pending out = {0, v[p->when], v[p->who], v[p->tmpl], v[p->dn]};
    long long id = 0;
    cm_err rc = v[p->id] ? text_parse_int(&id, v[p->id], 1, INT64_MAX, "RequestID") : CM_OK;

    if (rc != CM_OK)
        return rc;
    out.request_id = id;
    return p->cb(p->ctx, &out);
}

cm_err ca_pending_list(ca_ctx *ca, ca_pending_cb cb, void *ctx)
{
    struct pending_ctx p = {db_column_find("RequestID"),
                            db_column_find("SubmittedWhen"),
                            db_column_find("RequesterName"),
                            db_column_find("CertificateTemplate"),
                            db_column_find("RequestDistinguishedName"),
                            cb,
                            ctx};

    return db_request_list(ca->db, DB_DISP_PENDING, pending_row, &p);
}
