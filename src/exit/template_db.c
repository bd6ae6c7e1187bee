/* template_compile against the database's column table. Kept apart from
 * template.c so that the template engine links without the database module
 * (its unit test and fuzz target use template_compile_cols). */
#include "exit/template.h"

cm_err template_compile(struct template **out, const char *format, const char *args)
{
    return template_compile_cols(out, format, args, db_columns, db_ncolumns);
}
