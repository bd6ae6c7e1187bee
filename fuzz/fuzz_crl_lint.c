/* libFuzzer target for the CRL lint DER walker (crl_lint in
 * src/crl/crl_lint.c) and the DER reader under it (der_next, der_parse_time,
 * der_parse_int64 in src/crl/der.c). Any input must give CM_OK or
 * CM_ERR_LINT, with no read outside the input. */
#include "crl/crl.h"
#include "util/der.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct crl_lint_info info;
    /* A private copy of exactly size bytes so ASan sees any over-read. */
    unsigned char *p = malloc(size ? size : 1);
    cm_err rc;

    if (p == NULL)
        return 0;
    memcpy(p, data, size);
    rc = crl_lint(&info, p, size, 0);
    if (rc != CM_OK && rc != CM_ERR_LINT)
        abort();
    free(p);
    return 0;
}
