/* libFuzzer target for the CSR checks: csr_parse (PEM/DER detection, the
 * hand-written DER walk, public key construction, signature verification)
 * on arbitrary bytes, and csr_parse_scratch with one scratch kept across
 * inputs (a batch worker's reused keys and verification contexts), which
 * must accept exactly what csr_parse accepts. Targets: src/ca/csr.c
 * csr_parse, csr_parse_scratch, pem_to_der. */
#include "ca/csr.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct csr_scratch scratch; /* libFuzzer runs inputs one at a time */
    struct csr *c = NULL, *s = NULL;
    cm_err rc = csr_parse(&c, data, size, "fuzz");
    cm_err rs = csr_parse_scratch(&s, data, size, "fuzz", &scratch);

    if (rc == CM_OK) {
        /* A request that parses must be complete. */
        if (c->subject == NULL || c->pkey == NULL || c->spki_alg == NULL || c->der == NULL)
            __builtin_trap();
    }
    if ((rc == CM_OK) != (rs == CM_OK))
        __builtin_trap();
    if (rs == CM_OK && (csr_make_key(s) != CM_OK || EVP_PKEY_eq(s->pkey, c->pkey) != 1))
        __builtin_trap();
    csr_free(c);
    csr_free(s);
    cm_err_clear();
    return 0;
}
