/* Message templates in the style of AD CS's SMTP exit module: a format
 * string (TitleFormat, BodyFormat) with numbered insertion points %1 ... %9,
 * and an argument list (TitleArg, BodyArg) naming the database columns that
 * fill them, e.g.
 *
 *     format: "Certificate %1 issued to %2 (serial %3)"
 *     args:   "RequestID,RequesterName,SerialNumber"
 *
 * Format syntax:
 *   %1 .. %32  the value of the Nth column of the argument list; two digits
 *              are read when the list has that many arguments, otherwise
 *              "%10" is %1 followed by "0"
 *   %%         a literal '%'
 *   \n \t \\   newline, tab, backslash (configuration values are single
 *              lines); any other backslash is kept as written
 * Any other '%' sequence, or a %N beyond the argument list, is a
 * configuration error found when the template is compiled, not when a mail
 * is sent.
 *
 * Argument list: column names separated by commas, white space around them
 * ignored, matched case-insensitively; AD CS's "Request." prefix is accepted
 * ("Request.RequesterName" = "RequesterName"). An unknown name is a
 * configuration error naming it. An empty list is allowed.
 *
 * Rendering: a column with no value (SQL NULL) renders as "???", as AD CS
 * does.
 *
 * Ownership: template_compile*() returns a template the caller frees with
 * template_free() (NULL-safe); it keeps no pointer to its inputs. */
#ifndef CM_EXIT_TEMPLATE_H
#define CM_EXIT_TEMPLATE_H

#include "db/db.h"
#include "util/buf.h"
#include "util/err.h"

#include <stddef.h>

#define TEMPLATE_MAX_ARGS 32
#define TEMPLATE_NULL_TEXT "???"

struct template;

/* Compiles against the database's columns (db_columns, db_column_find):
 * render values are then indexed like db_columns, as in struct db_row.
 * Errors are CM_ERR_CONFIG with a message naming the bad part. */
cm_err template_compile(struct template **out, const char *format, const char *args) CM_MUST_USE;

/* The same against any column table (cols[0..ncols)), for callers that add
 * their own pseudo-columns (the CA name, the event name) after the
 * database's. Names are matched case-insensitively. */
cm_err template_compile_cols(struct template **out, const char *format, const char *args,
                             const struct db_column *cols, size_t ncols) CM_MUST_USE;

/* Appends the rendered text to out. values[i] is the text of column i of
 * the table the template was compiled against (NULL = no value = "???");
 * nvalues is that table's size (asserted to cover every argument). */
cm_err template_render(cm_buf *out, const struct template *t, const char *const *values,
                       size_t nvalues) CM_MUST_USE;

/* Number of arguments, and the column index of argument i (0-based). */
size_t template_nargs(const struct template *t);
int template_arg_column(const struct template *t, size_t i);

void template_free(struct template *t);

#endif
