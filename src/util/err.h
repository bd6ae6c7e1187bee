/* certmint error codes: one enum for the whole project, with a message.
 *
 * Every fallible function returns a cm_err. On failure it records one line of
 * human-readable context with cm_err_set() (naming the input and the reason);
 * the caller that reports to the user prints cm_err_msg(). Programming errors
 * are assert()ed, never returned. */
#ifndef CM_UTIL_ERR_H
#define CM_UTIL_ERR_H

#include <stddef.h>

#define CM_MUST_USE __attribute__((warn_unused_result))
#define CM_PRINTF(a, b) __attribute__((format(printf, a, b)))

typedef enum cm_err {
    CM_OK = 0,
    CM_ERR_NOMEM,    /* allocation failed */
    CM_ERR_IO,       /* file or socket I/O failed */
    CM_ERR_INVALID,  /* bad input from the user: file, CSR, serial, expression */
    CM_ERR_NOTFOUND, /* no such request, certificate, key, file */
    CM_ERR_EXISTS,   /* duplicate: already present */
    CM_ERR_CRYPTO,   /* libcrypto failure, signature mismatch */
    CM_ERR_DB,       /* storage backend failure */
    CM_ERR_CONFIG,   /* configuration file or key/value refused */
    CM_ERR_POLICY,   /* refused by profile or policy */
    CM_ERR_LINT,     /* to-be-signed object broke a certmint lint rule */
    CM_ERR_STATE,    /* operation not allowed in the current state */
    CM_ERR_NET,      /* network peer unreachable or refused */
    CM_ERR_AUTH,     /* authentication refused, bad passphrase */
    CM_ERR_TIMEOUT,  /* peer did not answer in time */
    CM_ERR_WITHHELD, /* strict audit mode: certificate not yet released */
    CM_ERR_UNSUPPORTED,
    CM_ERR__COUNT
} cm_err;

/* Static description of a code ("invalid input", ...). Never NULL. */
const char *cm_strerror(cm_err e);

/* Records the message for the current thread and returns e, so that callers
 * can write `return cm_err_set(CM_ERR_INVALID, "%s: not a CSR", path);`. */
cm_err cm_err_set(cm_err e, const char *fmt, ...) CM_PRINTF(2, 3);

/* As cm_err_set, then appends the libcrypto error queue (drained) to the
 * message: "...: error:0680007B:asn1 encoding routines::header too long". */
cm_err cm_err_ossl(cm_err e, const char *fmt, ...) CM_PRINTF(2, 3);

/* Prefixes the current message with "prefix: ". Returns e. */
cm_err cm_err_prefix(cm_err e, const char *fmt, ...) CM_PRINTF(2, 3);

/* The last message recorded on this thread, or cm_strerror of nothing. Valid
 * until the next cm_err_* call on this thread. */
const char *cm_err_msg(void);

/* Forgets the recorded message (and the OpenSSL error queue). */
void cm_err_clear(void);

/* Guard macros: the happy path reads straight down. Both need a local
 * `cm_err rc` and an `out:` label. */
#define CM_TRY(expr)                                                                               \
    do {                                                                                           \
        if ((rc = (expr)) != CM_OK)                                                                \
            goto out;                                                                              \
    } while (0)
#define CM_FAIL(code, ...)                                                                         \
    do {                                                                                           \
        rc = cm_err_set((code), __VA_ARGS__);                                                      \
        goto out;                                                                                  \
    } while (0)
#define CM_FAIL_OSSL(code, ...)                                                                    \
    do {                                                                                           \
        rc = cm_err_ossl((code), __VA_ARGS__);                                                     \
        goto out;                                                                                  \
    } while (0)
#define CM_NOMEM_IF(cond)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            rc = cm_err_set(CM_ERR_NOMEM, "out of memory");                                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#endif
