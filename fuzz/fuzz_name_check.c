/* libFuzzer target for the name lint of src/ca/name.c: name_check() and
 * name_check_entry() on a DER Name (as a CSR carries it), and
 * config_check_url() (src/config/config.c) on the input as a string.
 *
 * Invariants: a name that passes holds no control byte (C0, DEL) and no
 * UTF-8 C1 control in any value, and no empty value; a URL that passes holds
 * only RFC 3986 characters and one "://".
 *
 * Build with `make fuzz`; run e.g.
 *   mkdir -p /tmp/corpus && build-fuzz/fuzz/fuzz_name_check -max_total_time=60 /tmp/corpus */
#include "ca/name.h"
#include "config/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_passed_name(const X509_NAME *n)
{
    for (int i = 0; i < X509_NAME_entry_count(n); i++) {
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
        if (v->length <= 0)
            abort();
        for (int k = 0; k < v->length; k++) {
            unsigned char c = v->data[k];
            if (c < 0x20 || c == 0x7f)
                abort();
            if (c == 0xc2 && k + 1 < v->length && v->data[k + 1] >= 0x80 && v->data[k + 1] <= 0x9f)
                abort();
        }
    }
}

static void check_url(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    const char *first;
    if (s == NULL)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    if (config_check_url(s) == CM_OK) {
        if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                      "-._~:/?#[]@!$&'()*+,;=%") != strlen(s))
            abort();
        first = strstr(s, "://");
        if (first != NULL && strstr(first + 3, "://") != NULL)
            abort();
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *p = data;
    X509_NAME *n;
    char why[512];

    if (size > 65536)
        return 0;
    check_url(data, size);
    n = d2i_X509_NAME(NULL, &p, (long)size);
    if (n == NULL)
        return 0;
    for (int i = 0; i < X509_NAME_entry_count(n); i++)
        (void)name_check_entry(X509_NAME_get_entry(n, i), why, sizeof(why));
    if (name_check(n, "fuzz") == CM_OK)
        check_passed_name(n);
    X509_NAME_free(n);
    return 0;
}
