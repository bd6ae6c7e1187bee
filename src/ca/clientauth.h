/* Client certificates presented to a front end (the HTTPS listener of
 * certmint serve): is this a current certificate of this CA? The check
 * lives in the core so that no front end reads the certificate table. */
#ifndef CM_CA_CLIENTAUTH_H
#define CM_CA_CLIENTAUTH_H

#include "ca/ca.h"

#include <openssl/x509.h>

/* CM_OK when leaf was signed by this CA's key (RFC 5280 6.1, with this
 * CA's certificate as the trust anchor, at the current time, for TLS
 * client use: X509_PURPOSE_SSL_CLIENT), is recorded in this CA's database
 * with the same DER, and is neither revoked, on hold (certificateHold is a
 * revocation until it is released, RFC 5280 5.3.1) nor withheld (strict
 * audit mode). Else CM_ERR_AUTH with the reason ("certificate 1A2B is
 * revoked (keyCompromise)", "... not issued by this CA: unable to get
 * local issuer certificate"). Reads only: nothing is written or audited. */
cm_err ca_client_cert_check(ca_ctx *ca, X509 *leaf) CM_MUST_USE;

#endif
