/* libFuzzer target for the CSR checks: csr_parse (PEM/DER detection, the
 * hand-written DER walk, public key construction, signature verification)
 * on arbitrary bytes. Targets: src/ca/csr.c csr_parse, pem_to_der. */
#include "ca/csr.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csr *c = NULL;
    if (csr_parse(&c, data, size, "fuzz") == CM_OK) {
        /* A request that parses must be complete. */
        if (c->subject == NULL || c->pkey == NULL || c->spki_alg == NULL || c->der == NULL)
            __builtin_trap();
    }
    csr_free(c);
    cm_err_clear();
    return 0;
}
