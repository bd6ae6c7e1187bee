/* Strict audit mode (audit.require_offbox): an issued certificate is
 * withheld until an off-box exit module has acknowledged its CERTISSUED
 * event. After the delivery that follows a command, the submissions whose
 * certificates were released get them (ca.h: ca_submissions_release). */
#include "ca/ca_int.h"
#include "ca/ca.h"

#include <openssl/crypto.h>

cm_err ca_submissions_release(ca_ctx *ca, struct ca_submission *subs, size_t n)
{
    cm_err rc = CM_OK;

    for (size_t i = 0; i < n; i++) {
        struct db_cert *c = NULL;
        if (subs[i].disposition != DB_DISP_ISSUED || subs[i].cert_der != NULL ||
            subs[i].delivered || subs[i].serial[0] == '\0')
            continue;
        rc = db_cert_get(ca->db, &c, subs[i].serial);
        if (rc == CM_OK && c != NULL && !c->withheld && c->raw != NULL) {
            subs[i].cert_der = OPENSSL_memdup(c->raw, c->raw_len);
            if (subs[i].cert_der == NULL)
                rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
            subs[i].cert_der_len = subs[i].cert_der ? c->raw_len : 0;
        }
        db_cert_free(c);
        if (rc != CM_OK)
            return rc;
    }
    return CM_OK;
}
