/* libFuzzer target for p11_uri_parse() (src/key/p11uri.c, RFC 7512):
 * arbitrary bytes as a PKCS#11 URI. Invariants: a URI with pin-value is
 * never accepted; on success every string field is NUL-terminated within
 * its buffer, the id fits, and pin_source is absolute. Sanitizers catch
 * the rest. */
#include "key/p11uri.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct p11_uri u;
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (p11_uri_parse(&u, s) == CM_OK) {
        const char *q = strchr(s, '?');
        for (; q != NULL; q = strchr(q + 1, '&'))
            if (strncmp(q + 1, "pin-value=", 10) == 0)
                abort();
        if (strnlen(u.token, sizeof(u.token)) == sizeof(u.token) ||
            strnlen(u.object, sizeof(u.object)) == sizeof(u.object) ||
            strnlen(u.module_path, sizeof(u.module_path)) == sizeof(u.module_path) ||
            u.id_len > sizeof(u.id))
            abort();
        if (u.pin_source[0] != '\0' && u.pin_source[0] != '/')
            abort();
    }
    free(s);
    return 0;
}
