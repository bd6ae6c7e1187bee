/* Who is asking, and what may they do (docs/http.md, "Roles").
 *
 * The HTTPS listener asks every client for a certificate (optional:
 * SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT, the CA's subject in the
 * CertificateRequest's certificate_authorities, RFC 8446 4.2.4) and accepts
 * the handshake whatever is sent; the verdict is given here, per request,
 * where it can be a clear 403 instead of a TLS alert: the certificate must
 * verify against this CA's certificate and be current in its database
 * (ca_client_cert_check: not revoked, not on hold, not withheld).
 *
 * Roles are bound to certificate subjects in the configuration
 * (http.roles.requester, .officer, .auditor, .admin: DNs separated by ';',
 * compared as X.509 names). admin includes every role, officer includes
 * requester. Who may submit for a profile: profile.NAME.http_access. */
#ifndef CM_HTTP_AUTH_H
#define CM_HTTP_AUTH_H

#include "http/http_int.h"

#include <event2/http.h>
#include <openssl/x509.h>

enum http_role {
    HTTP_ROLE_REQUESTER = 1u << 0,
    HTTP_ROLE_OFFICER = 1u << 1,
    HTTP_ROLE_AUDITOR = 1u << 2,
    HTTP_ROLE_ADMIN = 1u << 3,
};

struct http_principal {
    int has_cert;      /* a verified client certificate from this CA (chain, dates, not revoked/held) */
    char subject[512]; /* its subject, RFC 2253 one line; "" when anonymous */
    char serial[80];   /* its serial, hex */
    unsigned roles;    /* HTTP_ROLE_* bound to the subject in the configuration */
};

/* Who is asking on this request: anonymous (plain HTTP, or no client
 * certificate), or the TLS client certificate's subject and roles. A
 * certificate that does not verify against this CA, or is revoked, on hold
 * or expired: CM_ERR_AUTH with the reason (answer 403). */
cm_err http_auth_principal(struct http_principal *out, struct evhttp_request *req,
                           struct http_ctx *c) CM_MUST_USE;

/* A session from the core's pool (ca_session_open on the handle of the
 * serve session) acting for p: CA_ACTOR_SUBJECT with the subject, or
 * CA_ACTOR_SERVICE "http-anonymous". Give it back with ca_session_close. */
cm_err http_session_open(ca_ctx **out, struct http_ctx *c,
                         const struct http_principal *p) CM_MUST_USE;

/* May p submit csr for this profile, and must the request pend?
 * profile.NAME.http_access: none (or unset) refuses everyone; requester
 * admits a client certificate with the requester, officer or admin role, or
 * one whose subject equals the CSR's (a renewal); anyone admits anonymous
 * clients too. *must_pend (ca_submit_opts.force_pending): 1 for anonymous
 * clients and for a requester asking for another subject; 0 for a renewal
 * of the certificate's own subject and for officers and administrators (the
 * profile's approval then decides). Refusal: CM_ERR_AUTH with the reason. */
cm_err http_auth_may_submit(int *must_pend, const struct http_principal *p, ca_ctx *s,
                            const char *profile, X509_REQ *csr) CM_MUST_USE;

/* May p submit for this profile at all (the same rule without a CSR; for
 * listing the profiles a form offers). 1 yes, 0 no. */
int http_auth_profile_allowed(const struct http_principal *p, ca_ctx *s, const char *profile);

/* The roles of subject under the configuration (bad DNs in it skipped). */
unsigned http_auth_roles(const cm_config *cfg, const X509_NAME *subject);

/* Start-up check of http.roles.*: every DN must parse. CM_ERR_CONFIG naming
 * the key and the DN. */
cm_err http_auth_check_config(const cm_config *cfg) CM_MUST_USE;

/* The client's IP address as text ("unknown" when libevent has none): the
 * per-address limit of failed enrollment tokens counts it. Behind a
 * reverse proxy it is the proxy's (docs/http.md). */
void http_peer_addr(char *out, size_t n, struct evhttp_request *req);

/* "requester, officer" for a role set ("none" when empty). */
void http_roles_string(char *out, size_t n, unsigned roles);

#endif
