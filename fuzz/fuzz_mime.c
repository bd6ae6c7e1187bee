/* libFuzzer target: the MIME builder's input checks and encoders
 * (src/exit/mime.c): mime_addr_parse_list() on arbitrary address lists, and
 * a message built from arbitrary subject, header value, display name and
 * body bytes. Invariants: whatever is accepted renders into a message whose
 * lines all end in CRLF, with no 8-bit byte and no line over 998
 * characters, and whose parsed addresses pass mime_check_addr(). */
#include "exit/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_wire(const cm_buf *b)
{
    const char *s = (const char *)b->data;
    size_t line = 0;

    for (size_t i = 0; i < b->len; i++) {
        if (s[i] == '\r') {
            if (i + 1 >= b->len || s[i + 1] != '\n')
                abort();
            line = 0;
            i++;
            continue;
        }
        if (s[i] == '\n' || (unsigned char)s[i] >= 0x80)
            abort();
        if (++line > 998)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Fields separated by NUL bytes: list, subject, header, name, body. */
    char *in = malloc(size + 6);
    const char *f[5];
    struct mime_addr *a = NULL;
    struct mime_msg *m = NULL;
    size_t n = 0, pos = 0;
    cm_buf out = CM_BUF_INIT(1u << 24);

    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    memset(in + size, 0, 6);
    for (int k = 0; k < 5; k++) {
        f[k] = in + pos;
        pos += strlen(in + pos) + 1;
        if (pos > size + 5)
            pos = size + 5;
    }
    if (mime_addr_parse_list(&a, &n, f[0]) == CM_OK) {
        for (size_t i = 0; i < n; i++)
            if (mime_check_addr(a[i].addr) != CM_OK)
                abort();
    }
    if (mime_new(&m) == CM_OK) {
        (void)mime_add_address(m, MIME_FROM, f[3], "ca@example.org");
        for (size_t i = 0; i < n; i++)
            (void)mime_add_address(m, MIME_TO, a[i].display, a[i].addr);
        (void)mime_set_subject(m, f[1]);
        (void)mime_add_header(m, "X-Fuzz", f[2]);
        (void)mime_add_text(m, f[4]);
        (void)mime_add_part(m, "text/plain", "inline", f[3], (const unsigned char *)f[4],
                            strlen(f[4]));
        (void)mime_add_attachment(m, "application/octet-stream", f[2], data, size);
        if (mime_render(&out, m) == CM_OK)
            check_wire(&out);
        buf_reset(&out);
        if (mime_format_header(&out, "X-Fuzz", f[1]) == CM_OK)
            check_wire(&out);
    }
    mime_free(m);
    mime_addr_free(a, n);
    buf_free(&out);
    free(in);
    return 0;
}
