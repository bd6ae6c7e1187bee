/* The TBSCertificate (RFC 5280 4.1) of a certificate built in memory,
 * encoded from the octets its fields already hold. */
#ifndef CM_KEY_TBS_H
#define CM_KEY_TBS_H

#include "util/buf.h"
#include "util/err.h"

#include <openssl/x509.h>

/* Appends x's TBSCertificate to b as i2d_re_X509_tbs() would write it, with
 * sigalg (a whole AlgorithmIdentifier) as its signature field. Fields this
 * encoder does not take as they are (unique identifiers, a negative serial,
 * a public key of unknown parameters or with unused bits, a time of another
 * type): CM_ERR_UNSUPPORTED, b unchanged in length, for the caller to use
 * i2d_re_X509_tbs(). */
cm_err tbs_encode(cm_buf *b, const X509 *x, const unsigned char *sigalg,
                  size_t sigalg_len) CM_MUST_USE;

#endif
