/* libFuzzer target for the OCSP request parser (src/ocsp/ocsp_req.c):
 * arbitrary bytes as a DER OCSPRequest. Invariants: on success there are 1
 * to OCSP_MAX_CERTIDS CertIDs, each DER fits its buffer and parses back as
 * a CertID, serials are canonical or empty, the nonce fits; on failure the
 * result is zeroed. Sanitizers catch the rest. */
#include "ocsp/ocsp.h"

#include <openssl/ocsp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ocsp_request q;
    if (ocsp_request_parse(&q, data, size) != CM_OK) {
        if (q.n != 0 || q.has_nonce)
            abort();
        return 0;
    }
    if (q.n == 0 || q.n > OCSP_MAX_CERTIDS || q.nonce_len > OCSP_MAX_NONCE)
        abort();
    for (size_t i = 0; i < q.n; i++) {
        const unsigned char *p = q.ids[i].der;
        OCSP_CERTID *cid = d2i_OCSP_CERTID(NULL, &p, (long)q.ids[i].der_len);
        char again[CM_SERIAL_BUF];
        if (cid == NULL || q.ids[i].der_len > sizeof(q.ids[i].der))
            abort();
        OCSP_CERTID_free(cid);
        if (q.ids[i].serial[0] != '\0' && (text_serial_canon(again, q.ids[i].serial) != CM_OK ||
                                           strcmp(again, q.ids[i].serial) != 0))
            abort();
    }
    return 0;
}
