/* libFuzzer target for restrict_parse() (src/db/restrict.c): arbitrary
 * bytes as a restriction expression. Checks the parser's invariants: on
 * success 1..RESTRICT_MAX_TERMS terms with valid columns and operators,
 * a value for every non-EMPTY text or serial term, EMPTY only with = and
 * !=, no blob column; on failure no output. Sanitizers catch the rest. */
#include "db/restrict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct db_restrict *r = NULL;
    size_t n = 0;
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (restrict_parse(&r, &n, s) == CM_OK) {
        if (r == NULL || n == 0 || n > RESTRICT_MAX_TERMS)
            abort();
        for (size_t i = 0; i < n; i++) {
            const struct db_column *c;
            if (r[i].column < 0 || (size_t)r[i].column >= db_ncolumns)
                abort();
            c = &db_columns[r[i].column];
            if (c->type == DB_COL_BLOB || r[i].op < DB_OP_EQ || r[i].op > DB_OP_GE)
                abort();
            if (r[i].is_null && r[i].op != DB_OP_EQ && r[i].op != DB_OP_NE)
                abort();
            if (!r[i].is_null && (c->type == DB_COL_TEXT || c->type == DB_COL_SERIAL) &&
                r[i].sval == NULL)
                abort();
            if (c->type == DB_COL_SERIAL && r[i].sval != NULL &&
                (strlen(r[i].sval) > CM_SERIAL_HEX_MAX || strlen(r[i].sval) % 2 != 0))
                abort();
        }
    } else if (r != NULL || n != 0) {
        abort();
    }
    restrict_free(r, n);
    free(s);
    return 0;
}
