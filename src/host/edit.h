/* Directive edits of service configuration files (edit.c). */
#ifndef CM_HOST_EDIT_H
#define CM_HOST_EDIT_H

#include "util/buf.h"

enum host_syntax {
    HOST_SYNTAX_DOVECOT, /* name = value */
    HOST_SYNTAX_NGINX,   /* name value; */
    HOST_SYNTAX_APACHE,  /* Name "value" (names in any case, httpd.conf) */
};
struct host_directive {
    const char *name, *value;
};
/* Appends to out the text with directives d[0..n) (n <= 8) set: each
 * uncommented line whose first word is a directive's name is replaced
 * (indentation kept); a directive on no line is appended. Idempotent. */
cm_err host_edit_directives(cm_buf *out, const char *text, size_t len,
                            const struct host_directive *d, size_t n,
                            enum host_syntax syn) CM_MUST_USE;

#endif
