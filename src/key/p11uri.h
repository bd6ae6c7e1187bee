/* PKCS#11 URIs (RFC 7512): which token, which object, which module, and
 * where the PIN comes from.
 *
 *   pkcs11:token=certmint;object=root-ca?module-path=/usr/lib/softhsm/libsofthsm2.so
 *          &pin-source=file:/etc/certmint/pin
 *
 * Path attributes (2.3): token, object, id, type (only "private"); query
 * attributes: module-path, pin-source (file:PATH or an absolute path).
 * pin-value is refused: a PIN is never put on a command line or into a file
 * that is not a secret (the CA home records the URI). Each attribute at most
 * once; values percent-decoded (RFC 3986 2.1), no NUL. Anything else is an
 * error that names the attribute. */
#ifndef CM_KEY_P11URI_H
#define CM_KEY_P11URI_H

#include "util/err.h"

#include <limits.h>
#include <stddef.h>

#define P11_LABEL_MAX 256
#define P11_ID_MAX 128

struct p11_uri {
    int has_token, has_object, has_id;
    char token[P11_LABEL_MAX];  /* CK_TOKEN_INFO label (32 octets in PKCS#11) */
    char object[P11_LABEL_MAX]; /* CKA_LABEL */
    unsigned char id[P11_ID_MAX];
    size_t id_len;              /* CKA_ID */
    char module_path[PATH_MAX]; /* "" = none */
    char pin_source[PATH_MAX];  /* a file path; "" = none */
};

/* 1 when s starts with the scheme "pkcs11:" (case-insensitive, RFC 3986 3.1). */
int p11_uri_is(const char *s);
/* Parses a URI of at most 4096 characters. */
cm_err p11_uri_parse(struct p11_uri *out, const char *s) CM_MUST_USE;

#endif
