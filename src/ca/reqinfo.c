/* One request for a front end (ca/reqinfo.h). */
#include "ca/ca_int.h"
#include "ca/reqinfo.h"

#include <stdlib.h>
#include <string.h>

cm_err ca_request_info(struct ca_request_info *out, ca_ctx *ca, int64_t id)
{
    struct db_request *r = NULL;
    cm_err rc;

    memset(out, 0, sizeof(*out));
    rc = db_request_get(ca->db, &r, id);
    if (rc == CM_ERR_NOTFOUND)
        return cm_err_set(CM_ERR_NOTFOUND, "request %lld: no such request", (long long)id);
    if (rc != CM_OK)
        return rc;
    /* The strings and the DER are taken over from the row. */
    out->request_id = r->request_id;
    out->disposition = r->disposition;
    out->message = r->disposition_message;
    out->requester = r->requester_name;
    out->profile = r->template_name;
    out->subject = r->request_dn;
    out->submitted_when = r->submitted_when;
    out->csr = r->raw_request;
    out->csr_len = r->raw_request_len;
    r->disposition_message = r->requester_name = r->template_name = r->request_dn = NULL;
    r->raw_request = NULL;
    db_request_free(r);
    return CM_OK;
}

void ca_request_info_clear(struct ca_request_info *r)
{
    if (r == NULL)
        return;
    free(r->message);
    free(r->requester);
    free(r->profile);
    free(r->subject);
    free(r->csr);
    memset(r, 0, sizeof(*r));
}
