/* Unit tests for AD CS-style templates (src/exit/template.c): %N
 * substitution, "???" for missing values, %% and escapes, and the
 * configuration errors (bad %N, unknown column) found at compile time.
 *
 * The database module's column table is not linked here (the template
 * engine must not need it), so the tests compile against a table with the
 * same AD CS column names through template_compile_cols(). */
#include "unit.h"

#include "exit/template.h"

static const struct db_column cols[] = {
    {"RequestID", DB_COL_INT, 1},      {"RequesterName", DB_COL_TEXT, 1},
    {"SerialNumber", DB_COL_SERIAL, 1}, {"CommonName", DB_COL_TEXT, 1},
    {"NotAfter", DB_COL_TIME, 1},      {"DispositionMessage", DB_COL_TEXT, 0},
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

static const char *const row[NCOLS] = {"17", "EXAMPLE\\alice", "5A3F09C2D1E4B7A8",
                                       "alice@example.org", NULL, "Issued"};

/* Compiles and renders; returns the text (static buffer) or NULL with the
 * error recorded. */
static const char *render(const char *format, const char *args)
{
    static char out[1024];
    struct template *t = NULL;
    cm_buf b = CM_BUF_INIT(1024);
    const char *r = NULL;

    if (template_compile_cols(&t, format, args, cols, NCOLS) != CM_OK)
        return NULL;
    if (template_render(&b, t, row, NCOLS) == CM_OK) {
        snprintf(out, sizeof(out), "%s", buf_str(&b));
        r = out;
    }
    buf_free(&b);
    template_free(t);
    return r;
}

TEST(substitution)
{
    CHECK_STR(render("Certificate %1 issued to %2 (serial %3)",
                     "RequestID,RequesterName,SerialNumber"),
              "Certificate 17 issued to EXAMPLE\\alice (serial 5A3F09C2D1E4B7A8)");
    /* Arguments in any order, repeated, unused; names case-insensitive,
     * spaces around them ignored, AD CS's "Request." prefix. */
    CHECK_STR(render("%2/%1/%2", " serialnumber , Request.RequestID ,CommonName"),
                     "17/5A3F09C2D1E4B7A8/17");
    CHECK_STR(render("%1%2%3", "RequestID,RequestID,RequestID"), "171717");
    CHECK_STR(render("no arguments", ""), "no arguments");
    CHECK_STR(render("no arguments", NULL), "no arguments");
    CHECK_STR(render("", "RequestID"), "");
    /* With fewer than ten arguments %10 is %1 then "0". */
    CHECK_STR(render("%10", "RequestID"), "170");
}

TEST(missing_value)
{
    /* SQL NULL renders as AD CS does. */
    CHECK_STR(render("expires %1, CN %2", "NotAfter,CommonName"),
              "expires ???, CN alice@example.org");
}

TEST(escapes)
{
    CHECK_STR(render("100%% done", ""), "100% done");
    CHECK_STR(render("%%1 is literal, %1 is not", "RequestID"), "%1 is literal, 17 is not");
    CHECK_STR(render("line1\\nline2\\tX\\\\n", ""), "line1\nline2\tX\\n");
    CHECK_STR(render("C:\\path\\x", ""), "C:\\path\\x");
    CHECK_STR(render("end\\", ""), "end\\");
    /* Values are inserted as they are: a '%' or "\n" in a value is text. */
    static const struct db_column one[] = {{"V", DB_COL_TEXT, 0}};
    const char *vals[] = {"50% \\n %1"};
    struct template *t = NULL;
    cm_buf b = CM_BUF_INIT(256);
    CHECK_OK(template_compile_cols(&t, "[%1]", "V", one, 1));
    if (t) {
        CHECK_OK(template_render(&b, t, vals, 1));
        CHECK_STR(buf_str(&b), "[50% \\n %1]");
        CHECK_INT(template_nargs(t), 1);
        CHECK_INT(template_arg_column(t, 0), 0);
    }
    buf_free(&b);
    template_free(t);
    template_free(NULL);
}

TEST(errors)
{
    struct template *t = NULL;
    CHECK_ERR(template_compile_cols(&t, "%2", "RequestID", cols, NCOLS), CM_ERR_CONFIG);
    CHECK(strstr(cm_err_msg(), "%2") != NULL);
    CHECK(t == NULL);
    CHECK_ERR(template_compile_cols(&t, "%1", "", cols, NCOLS), CM_ERR_CONFIG);
    CHECK_ERR(template_compile_cols(&t, "%0", "RequestID", cols, NCOLS), CM_ERR_CONFIG);
    CHECK_ERR(template_compile_cols(&t, "50%", "", cols, NCOLS), CM_ERR_CONFIG);
    CHECK_ERR(template_compile_cols(&t, "%s", "RequestID", cols, NCOLS), CM_ERR_CONFIG);
    CHECK_ERR(template_compile_cols(&t, "%1", "RequestID,NoSuchColumn", cols, NCOLS),
              CM_ERR_CONFIG);
    CHECK(strstr(cm_err_msg(), "NoSuchColumn") != NULL);
    CHECK_ERR(template_compile_cols(&t, "%1", "RequestID,,CommonName", cols, NCOLS),
              CM_ERR_CONFIG);
    CHECK_ERR(template_compile_cols(&t, "%1", "RequestID,", cols, NCOLS), CM_ERR_CONFIG);
    CHECK_ERR(template_compile_cols(&t, "%1", "Request.", cols, NCOLS), CM_ERR_CONFIG);
    CHECK_ERR(template_compile_cols(&t, "%1", "RequestIDX", cols, NCOLS), CM_ERR_CONFIG);
    {
        /* TEMPLATE_MAX_ARGS + 1 arguments are refused. */
        char many[1024] = "";
        for (int i = 0; i <= TEMPLATE_MAX_ARGS; i++) {
            size_t l = strlen(many);
            snprintf(many + l, sizeof(many) - l, "%sRequestID", i ? "," : "");
        }
        CHECK_ERR(template_compile_cols(&t, "x", many, cols, NCOLS), CM_ERR_CONFIG);
    }
    CHECK(t == NULL);
    /* Nine arguments are fine. */
    CHECK_OK(template_compile_cols(&t, "%9",
                                   "RequestID,RequestID,RequestID,RequestID,RequestID,"
                                   "RequestID,RequestID,RequestID,CommonName",
                                   cols, NCOLS));
    template_free(t);
}

int main(void)
{
    unit_suite = "template";
    RUN(substitution);
    RUN(missing_value);
    RUN(escapes);
    RUN(errors);
    return UNIT_DONE();
}
