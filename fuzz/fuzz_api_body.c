/* libFuzzer target for the REST API's request bodies (src/http/api_body.c):
 * every body parser (submit, archive_key, revoke, deny, crl, empty) and the
 * Authorization: Bearer parser on arbitrary bytes.
 * Invariants: a parser that succeeds gives values inside their bounds (a
 * CSR as long as it says and NUL-terminated, a profile and a reason that
 * fit, an RFC 5280 reason code, a non-negative invalidity date); one that
 * fails leaves nothing allocated. ASan, UBSan and LeakSanitizer do the
 * rest. */
#include "http/api.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *csr = NULL, profile[API_PROFILE_MAX], reason[API_REASON_MAX];
    size_t len = 0;
    int code = 0, delta = 0;
    int64_t inval = 0;

    if (api_body_submit(&csr, &len, profile, data, size) == CM_OK) {
        if (csr == NULL || strlen(csr) != len || len == 0 || strlen(profile) >= API_PROFILE_MAX)
            abort();
        free(csr);
    } else if (csr != NULL) {
        abort();
    }
    {
        unsigned char *env = NULL;
        size_t elen = 0;
        char tok[API_TOKEN_MAX], *hdr = malloc(size + 1);
        int bearer = 0;
        if (api_body_archive_key(&env, &elen, data, size) == CM_OK && env != NULL && elen == 0)
            abort();
        free(env);
        if (hdr != NULL) {
            memcpy(hdr, data, size);
            hdr[size] = '\0';
            if (api_bearer_parse(tok, &bearer, hdr) == CM_OK &&
                (!bearer || tok[0] == '\0' || strlen(tok) >= API_TOKEN_MAX ||
                 strpbrk(tok, " \t\r\n\"") != NULL))
                abort();
            free(hdr);
        }
    }
    if (api_body_revoke(&code, &inval, data, size) == CM_OK &&
        (code < 0 || code > 10 || code == 7 || code == 8 || inval < 0))
        abort();
    if (api_body_deny(reason, data, size) == CM_OK &&
        (reason[0] == '\0' || strlen(reason) >= API_REASON_MAX))
        abort();
    if (api_body_crl(&delta, data, size) == CM_OK && delta != 0 && delta != 1)
        abort();
    (void)api_body_empty(data, size);
    cm_err_clear();
    return 0;
}
