/* libFuzzer target for the key archival file formats (src/kra/rec.c,
 * release.c): kra_rec_parse (request files, share files, archive
 * records), kra_request_info (what release-share shows an agent) and
 * kra_released_parse (a share inside its envelope), and kra_rec_next (the
 * split of a re-wrap request or an agent's share file into records).
 * Invariants: on success every field key is non-empty [a-z0-9.-], every
 * value printable ASCII; writing the fields back with kra_rec_put and
 * parsing again gives the same fields; a request's threshold is 1..32, a
 * released share's x is 1..255; the split's parts are non-empty, within the
 * input and add up to it. Sanitizers catch the rest. */
#include "kra/kra.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct kra_rec *r)
{
    cm_buf b = CM_BUF_INIT(4 * KRA_MAX_FILE);
    struct kra_rec again;

    if (kra_rec_begin(&b, r->kind) != CM_OK)
        abort();
    for (size_t i = 0; i < r->n; i++) {
        if (r->f[i].key[0] == '\0')
            abort();
        if (kra_rec_put(&b, r->f[i].key, r->f[i].value) != CM_OK)
            abort();
    }
    if (b.len <= KRA_MAX_FILE) {
        if (kra_rec_parse(&again, b.data, b.len, "again") != CM_OK || again.n != r->n)
            abort();
        for (size_t i = 0; i < r->n; i++)
            if (strcmp(again.f[i].key, r->f[i].key) != 0 ||
                strcmp(again.f[i].value, r->f[i].value) != 0)
                abort();
        kra_rec_clear(&again);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kra_rec r;
    struct kra_request_info info;
    struct kra_released rel;

    if (kra_rec_parse(&r, data, size, "fuzz") == CM_OK) {
        round_trip(&r);
        kra_rec_clear(&r);
    }
    if (kra_request_info(&info, data, size, "fuzz") == CM_OK &&
        (info.threshold < 1 || info.threshold > KRA_MAX_AGENTS))
        abort();
    if (kra_released_parse(&rel, data, size, "fuzz") == CM_OK && rel.x == 0)
        abort();
    for (size_t off = 0, n; off < size; off += n) {
        n = kra_rec_next(data + off, size - off);
        if (n == 0 || n > size - off)
            abort();
        if (kra_rec_parse(&r, data + off, n, "part") == CM_OK)
            kra_rec_clear(&r);
    }
    return 0;
}
