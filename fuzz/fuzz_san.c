/* libFuzzer target for the SAN checks of src/ca/name.c: san_check_dns,
 * san_check_ip, san_check_email, san_check_uri on the input as a string,
 * and san_from_names / san_list_check / san_list_to_string on the input as
 * DER GeneralNames.
 *
 * Build with `make fuzz`; run e.g.
 *   mkdir -p /tmp/corpus && build-fuzz/fuzz/fuzz_san -max_total_time=60 /tmp/corpus fuzz/seeds/san
 */
#include "ca/name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, why[256], *text = NULL;
    const unsigned char *p = data;
    GENERAL_NAMES *gns = NULL;
    struct san_list l = SAN_LIST_INIT;

    if (size > 4096)
        return 0;
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    /* Results are not compared: each must simply return cleanly. A DNS name
     * that passes has no byte outside LDH, '.', '*'. */
    if (san_check_dns(s) == CM_OK &&
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789-.*") != strlen(s))
        abort();
    (void)!san_check_ip(s);
    if (san_check_email(s) == CM_OK && strchr(s, '@') == NULL)
        abort();
    if (san_check_uri(s) == CM_OK && strstr(s, "://") == NULL)
        abort();

    gns = d2i_GENERAL_NAMES(NULL, &p, (long)size);
    if (gns != NULL && san_from_names(&l, gns) == CM_OK) {
        (void)!san_list_check(&l, why, sizeof(why));
        if (san_list_to_string(&text, &l) != CM_OK)
            abort();
    }
    free(text);
    san_list_free(&l);
    GENERAL_NAMES_free(gns);
    free(s);
    return 0;
}
