/* The REST API /api/v1 (docs/http.md, "REST API"; the contract is
 * src/http/openapi.json, served at /api/v1/openapi.json).
 *
 * JSON over HTTPS, the client authenticated by its certificate and given
 * roles by the configuration (http/auth.h); every action is one core call
 * in a pool session whose actor is the certificate's subject. Errors are
 * application/problem+json (RFC 9457). Bodies are parsed here with
 * jansson, never by hand (api_body.c; fuzz/fuzz_api_body.c). */
#ifndef CM_HTTP_API_H
#define CM_HTTP_API_H

#include "http/http_int.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Answers every request whose path starts with /api/v1/ (the hook in
 * routes.c). path is the decoded path, query the raw query ("" none). */
void api_route(struct evhttp_request *req, struct http_ctx *c, const char *path, const char *query);

/* The route table, for the test that holds it against openapi.json. */
struct api_route_info {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* OpenAPI path template, e.g. "/api/v1/requests/{id}" */
};
size_t api_route_count(void);
const struct api_route_info *api_route_at(size_t i);

/* The OpenAPI document as built into the binary (NUL-terminated). */
const char *api_openapi_json(size_t *len);

/* ---- bodies (api_body.c): parsed with jansson, strict ----
 * Every member is checked for its type; an unknown member is refused (a
 * misspelt "reasn" must not revoke with the default). Errors are
 * CM_ERR_INVALID with one line naming the member and the reason. */

#define API_PROFILE_MAX 128
#define API_REASON_MAX 512

/* POST /api/v1/requests as application/json:
 * {"csr": "-----BEGIN CERTIFICATE REQUEST-----...", "profile": "tls-server",
 *  "archive_key": "..." (api_body_archive_key reads it)}.
 * *csr is malloc'ed (the PEM text, NUL-terminated); profile is "" when
 * absent. */
cm_err api_body_submit(char **csr, size_t *csr_len, char profile[API_PROFILE_MAX],
                       const unsigned char *body, size_t len) CM_MUST_USE;

/* The "archive_key" member of the same body (issue 12, docs/key-archival.md):
 * the client's PKCS#8 private key in a CMS EnvelopedData (RFC 5652 6) to the
 * CA's key-transport certificate, as base64 of the DER or as PEM. *env
 * (malloc'ed, DER or the PEM text) is NULL when the member is absent. */
#define API_ARCHIVE_MAX (48 * 1024)
cm_err api_body_archive_key(unsigned char **env, size_t *env_len, const unsigned char *body,
                            size_t len) CM_MUST_USE;

/* The token of an "Authorization: Bearer TOKEN" header (RFC 6750 2.1), for
 * redeeming a one-time enrollment token (docs/tokens.md). *is_bearer: the
 * scheme was Bearer (a malformed token: CM_ERR_INVALID with *is_bearer 1;
 * another scheme: CM_ERR_INVALID with *is_bearer 0). */
#define API_TOKEN_MAX 128
cm_err api_bearer_parse(char token[API_TOKEN_MAX], int *is_bearer, const char *header) CM_MUST_USE;

/* POST .../revoke: {"reason": "keyCompromise" | 1, "invalidity_date":
 * "2026-01-02T03:04:05Z" | unix seconds}. An empty body is reason
 * unspecified. *reason is an RFC 5280 5.3.1 code, *invalidity 0 when none. */
cm_err api_body_revoke(int *reason, int64_t *invalidity, const unsigned char *body,
                       size_t len) CM_MUST_USE;

/* POST .../deny: {"reason": "text"} (required, not empty). */
cm_err api_body_deny(char reason[API_REASON_MAX], const unsigned char *body,
                     size_t len) CM_MUST_USE;

/* POST /api/v1/crl: {"delta": false} (empty body: a full CRL). */
cm_err api_body_crl(int *delta, const unsigned char *body, size_t len) CM_MUST_USE;

/* An empty body or "{}" (approve, unrevoke): anything else is refused. */
cm_err api_body_empty(const unsigned char *body, size_t len) CM_MUST_USE;

#endif
