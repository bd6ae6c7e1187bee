/* libFuzzer target for the configuration parser (src/config/config.c:
 * config_load, line_parse, value validation, list normalizers).
 *
 * Invariant checked: a file that loads, saved and loaded again, gives the
 * same keys with the same values in the same order, and saving that again
 * gives the same bytes (what certmint writes, it reads back). */
#include "config/config.h"
#include "exit/exit.h"
#include "util/err.h"
#include "util/fsutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

struct pairs {
    char *text;
    size_t len;
};

static void collect(void *ctx, const char *key, const char *value)
{
    struct pairs *p = ctx;
    size_t kl = strlen(key), vl = strlen(value);
    char *n = realloc(p->text, p->len + kl + vl + 3);
    if (n == NULL)
        abort();
    memcpy(n + p->len, key, kl);
    n[p->len + kl] = '\0';
    memcpy(n + p->len + kl + 1, value, vl);
    n[p->len + kl + 1 + vl] = '\n';
    p->text = n;
    p->len += kl + vl + 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[300], out1[300], out2[300];
    cm_config *a = NULL, *b = NULL;
    struct pairs pa = {NULL, 0}, pb = {NULL, 0};
    unsigned char *s1 = NULL, *s2 = NULL;
    size_t l1, l2;

    if (dir[0] == '\0') {
        /* Every key of the build: the exit modules' and ldap.* too. */
        if (exit_registry_init() != CM_OK)
            abort();
        snprintf(dir, sizeof(dir), "%s/fuzz-config.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (mkdtemp(dir) == NULL)
            abort();
    }
    snprintf(in, sizeof(in), "%s/in.conf", dir);
    snprintf(out1, sizeof(out1), "%s/out1.conf", dir);
    snprintf(out2, sizeof(out2), "%s/out2.conf", dir);
    if (fs_write_atomic(in, data, size, 0600) != CM_OK)
        abort();
    if (config_load(&a, in, 0) != CM_OK)
        return 0;
    /* Rewrite every key through config_set: exercises the formatter. */
    config_foreach(a, collect, &pa);
    for (size_t i = 0; i < pa.len;) {
        const char *key = pa.text + i;
        const char *value = key + strlen(key) + 1;
        const char *end = memchr(value, '\n', pa.len - (size_t)(value - pa.text));
        char *v = strndup(value, (size_t)(end - value));
        if (config_unset(a, key) != CM_OK)
            abort();
        /* A hand-written line may be compact ("k=v"); written back as
         * "k = v" it can pass the line limit, which set refuses. */
        if (config_set(a, key, v) != CM_OK) {
            if (strstr(cm_err_msg(), "value too long") == NULL)
                abort();
            free(v);
            goto out;
        }
        free(v);
        i = (size_t)(end - pa.text) + 1;
    }
    if (config_save(a, out1) != CM_OK)
        abort();
    if (config_load(&b, out1, 0) != CM_OK)
        abort();
    config_foreach(b, collect, &pb);
    if (pa.len != pb.len || memcmp(pa.text, pb.text, pa.len) != 0)
        abort();
    if (config_save(b, out2) != CM_OK)
        abort();
    if (fs_read_file(&s1, &l1, out1, 2 << 20) != CM_OK ||
        fs_read_file(&s2, &l2, out2, 2 << 20) != CM_OK || l1 != l2 || memcmp(s1, s2, l1) != 0)
        abort();
out:
    free(s1);
    free(s2);
    free(pa.text);
    free(pb.text);
    config_free(a);
    config_free(b);
    return 0;
}
