/* One request as a front end shows it (the officer's web page): its
 * state and the PKCS#10 it carried. A read: not audited. */
#ifndef CM_CA_REQINFO_H
#define CM_CA_REQINFO_H

#include "ca/ca.h"

struct ca_request_info {
    int64_t request_id;
    int disposition;        /* DB_DISP_* */
    char *message;          /* disposition message, may be NULL */
    char *requester;        /* may be NULL */
    char *profile;          /* may be NULL */
    char *subject;          /* as requested, RFC 4514; may be NULL */
    int64_t submitted_when; /* unix seconds */
    unsigned char *csr;     /* DER PKCS#10; NULL when not kept */
    size_t csr_len;
};

/* CM_ERR_NOTFOUND naming the id when there is no such request. */
cm_err ca_request_info(struct ca_request_info *out, ca_ctx *ca, int64_t id) CM_MUST_USE;
void ca_request_info_clear(struct ca_request_info *r);

#endif
