#include "util/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MSG_MAX 1024

static _Thread_local char msg[MSG_MAX];
static _Thread_local int have_msg;

static const char *const names[CM_ERR__COUNT] = {
    [CM_OK] = "success",
    [CM_ERR_NOMEM] = "out of memory",
    [CM_ERR_IO] = "input/output error",
    [CM_ERR_INVALID] = "invalid input",
    [CM_ERR_NOTFOUND] = "not found",
    [CM_ERR_EXISTS] = "already exists",
    [CM_ERR_CRYPTO] = "cryptographic failure",
    [CM_ERR_DB] = "database error",
    [CM_ERR_CONFIG] = "configuration error",
    [CM_ERR_POLICY] = "refused by policy",
    [CM_ERR_LINT] = "certificate lint failure",
    [CM_ERR_STATE] = "not allowed in the current state",
    [CM_ERR_NET] = "network error",
    [CM_ERR_AUTH] = "authentication failed",
    [CM_ERR_TIMEOUT] = "timed out",
    [CM_ERR_WITHHELD] = "withheld until the off-box audit record is acknowledged",
    [CM_ERR_UNSUPPORTED] = "not supported",
};

const char *cm_strerror(cm_err e)
{
    if ((unsigned)e >= CM_ERR__COUNT || names[e] == NULL)
        return "unknown error";
    return names[e];
}

static void vset(const char *fmt, va_list ap)
{
    vsnprintf(msg, sizeof(msg), fmt, ap);
    have_msg = 1;
}

cm_err cm_err_set(cm_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(fmt, ap);
    va_end(ap);
    return e;
}

cm_err cm_err_ossl(cm_err e, const char *fmt, ...)
{
    va_list ap;
    unsigned long code;
    size_t len;

    va_start(ap, fmt);
    vset(fmt, ap);
    va_end(ap);
    /* Drain the whole queue so that a later operation does not report a
     * stale error; keep the innermost (first) reason in the message. */
    int first = 1;
    while ((code = ERR_get_error()) != 0) {
        if (!first)
            continue;
        first = 0;
        len = strlen(msg);
        if (len + 3 < sizeof(msg)) {
            msg[len] = ':';
            msg[len + 1] = ' ';
            ERR_error_string_n(code, msg + len + 2, sizeof(msg) - len - 2);
        }
    }
    return e;
}

cm_err cm_err_prefix(cm_err e, const char *fmt, ...)
{
    char prefix[MSG_MAX];
    char old[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    snprintf(old, sizeof(old), "%s", have_msg ? msg : cm_strerror(e));
    snprintf(msg, sizeof(msg), "%s: %s", prefix, old);
    have_msg = 1;
    return e;
}

const char *cm_err_msg(void)
{
    return have_msg ? msg : "no error";
}

void cm_err_clear(void)
{
    have_msg = 0;
    msg[0] = '\0';
    ERR_clear_error();
}
