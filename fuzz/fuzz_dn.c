/* libFuzzer target for name_parse_dn() and name_to_string() (src/ca/name.c).
 *
 * Input: a DN string in either form. Invariants checked: a parsed name prints
 * as RFC 4514, that string parses again, prints identically and compares
 * equal (X509_NAME_cmp); name_get_cn/name_get_email do not fail on it.
 *
 * Build with `make fuzz`; run e.g.
 *   mkdir -p /tmp/corpus && build-fuzz/fuzz/fuzz_dn -max_total_time=60 /tmp/corpus fuzz/seeds/dn */
#include "ca/name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, *out = NULL, *again = NULL, *cn = NULL, *email = NULL;
    X509_NAME *n = NULL, *n2 = NULL;

    if (size > NAME_DN_MAX + 16)
        return 0;
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (name_parse_dn(&n, s) != CM_OK)
        goto out;
    if (name_to_string(&out, n) != CM_OK)
        abort();
    if (name_get_cn(&cn, n) != CM_OK || name_get_email(&email, n) != CM_OK)
        abort();
    /* what we print, we parse back to the same name */
    if (name_parse_dn(&n2, out) != CM_OK)
        abort();
    if (X509_NAME_cmp(n, n2) != 0)
        abort();
    if (name_to_string(&again, n2) != CM_OK || strcmp(out, again) != 0)
        abort();
out:
    free(s);
    free(out);
    free(again);
    free(cn);
    free(email);
    X509_NAME_free(n);
    X509_NAME_free(n2);
    return 0;
}
