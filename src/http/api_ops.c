/* The REST API's actions: each one core call (src/ca, src/crl, src/exit)
 * on the request's pool session, whose actor is the client certificate's
 * subject (audited by the core). Races are the core's: approve, deny,
 * revoke and unrevoke are compare-and-set in the database, and the loser's
 * CM_ERR_STATE is a 409 (api_problem_err). */
#include "http/api_int.h"

#include "ca/view.h"
#include "crl/crl.h"
#include "db/db.h"
#include "exit/exit.h"
#include "http/url.h"
#include "util/log.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <strings.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEARCH_LIMIT_DEFAULT 1000
#define SEARCH_LIMIT_MAX 10000

void api_op_openapi(struct api_req *r)
{
    size_t len = 0;
    const char *doc = api_openapi_json(&len);
    api_send_bytes(r, 200, "application/json", doc, len);
}

/* ---- path parameters: checked before they reach a restriction ---- */

static int arg_request_id(struct api_req *r, int64_t *id)
{
    char *end = NULL;
    long long v;
    if (strspn(r->arg, "0123456789") != strlen(r->arg) || strlen(r->arg) > 18 ||
        (v = strtoll(r->arg, &end, 10)) <= 0) {
        api_problem(r, 400, "malformed", "the request id is a positive decimal number");
        return 0;
    }
    *id = (int64_t)v;
    return 1;
}

/* A serial: hex digits only (the view's spelling: upper case), so that
 * nothing of it can be read as more of a restriction. */
static int arg_serial(struct api_req *r, char serial[CM_SERIAL_BUF])
{
    size_t n = strlen(r->arg);
    if (n == 0 || n >= CM_SERIAL_BUF || n > 40 || strspn(r->arg, "0123456789abcdefABCDEF") != n) {
        api_problem(r, 400, "malformed", "the serial number is hexadecimal (at most 40 digits)");
        return 0;
    }
    for (size_t i = 0; i <= n; i++)
        serial[i] = (char)toupper((unsigned char)r->arg[i]);
    return 1;
}

/* ---- the view (ca_view) as JSON rows ---- */

static cm_err view_rows(json_t **rows, ca_ctx *s, const char *restrict_expr, const char *columns,
                        uint64_t limit)
{
    cm_err rc = CM_OK;
    ca_view_query *q = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = NULL;
    json_error_t e;

    *rows = NULL;
    CM_TRY(ca_view_query_new(&q));
    CM_TRY(ca_view_set_format(q, "json"));
    if (columns != NULL)
        CM_TRY(ca_view_set_columns(q, columns));
    if (restrict_expr != NULL && restrict_expr[0] != '\0')
        CM_TRY(ca_view_set_restrict(q, restrict_expr));
    ca_view_set_limit(q, limit);
    if ((f = open_memstream(&text, &len)) == NULL)
        CM_FAIL(CM_ERR_NOMEM, "out of memory");
    rc = ca_view(f, s, q);
    if (fclose(f) != 0 && rc == CM_OK)
        rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
    f = NULL;
    if (rc != CM_OK)
        goto out;
    if ((*rows = json_loadb(text, len, 0, &e)) == NULL || !json_is_array(*rows))
        CM_FAIL(CM_ERR_IO, "the view's JSON does not parse: %s", e.text);
out:
    if (rc != CM_OK) {
        json_decref(*rows);
        *rows = NULL;
    }
    free(text);
    ca_view_query_free(q);
    return rc;
}

/* The one row of a request or certificate, or NULL after answering 404. */
static json_t *one_row(struct api_req *r, const char *restrict_expr, const char *columns,
                       const char *what)
{
    json_t *rows = NULL, *row = NULL;
    cm_err rc = view_rows(&rows, r->s, restrict_expr, columns, 1);
    char d[160];
    if (rc != CM_OK) {
        api_problem_err(r, rc);
        return NULL;
    }
    if (json_array_size(rows) == 0) {
        snprintf(d, sizeof(d), "no %s %s", what, r->arg);
        api_problem(r, 404, "not-found", d);
    } else {
        row = json_incref(json_array_get(rows, 0));
    }
    json_decref(rows);
    return row;
}

/* Officers, auditors and administrators read every request; a requester
 * the ones it submitted (RequesterName is the session's who). */
static int may_read(struct api_req *r, json_t *row, const char *what)
{
    char d[96];
    const char *who = json_string_value(json_object_get(row, "RequesterName"));
    if ((r->p.roles & (HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR | HTTP_ROLE_ADMIN)) != 0)
        return 1;
    if (who != NULL && strcmp(who, ca_session_who(r->s)) == 0)
        return 1;
    snprintf(d, sizeof(d), "this %s was requested by someone else", what);
    api_problem(r, 403, "forbidden", d);
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS" (the view) as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ". */
static json_t *rfc3339(json_t *v)
{
    char t[24];
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != 19)
        return json_null();
    snprintf(t, sizeof(t), "%.10sT%.8sZ", s, s + 11);
    return json_string(t);
}

static json_t *time_json(int64_t t)
{
    char s[32];
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        return json_null();
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(s);
}

/* ---- certificates: PEM, DER or PKCS#7, with the chain when asked ---- */

static void send_cert(struct api_req *r, const unsigned char *der, size_t len)
{
    const char *fmt = api_query(r, "format"), *chain = api_query(r, "chain");
    enum ca_export_format f = CA_EXPORT_PEM;
    int with_chain = chain != NULL && strcmp(chain, "true") == 0;
    unsigned char *out = NULL;
    size_t olen = 0;
    cm_err rc;

    if (chain != NULL && strcmp(chain, "true") != 0 && strcmp(chain, "false") != 0) {
        api_problem(r, 400, "malformed", "chain is true or false");
        return;
    }
    if (fmt != NULL && ca_export_parse_format(&f, fmt) != CM_OK) {
        cm_err_clear();
        api_problem(r, 400, "malformed", "format is pem, der or p7b");
        return;
    }
    if (f == CA_EXPORT_DER && with_chain) {
        api_problem(r, 400, "malformed",
                    "a DER certificate is one certificate: use pem or p7b "
                    "for the chain");
        return;
    }
    if ((rc = ca_cert_export(&out, &olen, r->s, der, len, with_chain || f == CA_EXPORT_P7B, f)) !=
        CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    api_send_bytes(r, 200,
                   f == CA_EXPORT_DER   ? "application/pkix-cert"
                   : f == CA_EXPORT_P7B ? "application/pkcs7-mime"
                                        : "application/pem-certificate-chain",
                   out, olen);
    free(out);
}

void api_op_cert_get(struct api_req *r)
{
    char serial[CM_SERIAL_BUF], expr[96];
    json_t *row = NULL;
    const char *b64;
    unsigned char der[CA_MAX_CERT_BYTES];
    size_t len = 0;

    if (!arg_serial(r, serial))
        return;
    snprintf(expr, sizeof(expr), "SerialNumber=%s", serial);
    if ((row = one_row(r, expr, "RequesterName,Withheld,RawCertificate", "certificate")) == NULL)
        return;
    if (!may_read(r, row, "certificate"))
        goto out;
    if (json_integer_value(json_object_get(row, "Withheld")) != 0) {
        api_problem(r, 409, "withheld",
                    "the certificate is withheld until its off-box audit "
                    "record is acknowledged (strict audit mode)");
        goto out;
    }
    b64 = json_string_value(json_object_get(row, "RawCertificate"));
    if (b64 == NULL || http_base64_decode(der, sizeof(der), &len, b64, strlen(b64)) != CM_OK) {
        cm_err_clear();
        api_problem(r, 404, "not-found", "no certificate recorded under this serial");
        goto out;
    }
    send_cert(r, der, len);
out:
    json_decref(row);
}

/* ---- requests ---- */

static const char request_columns[] =
    "RequestID,Disposition,DispositionMessage,RequesterName,SubmittedWhen,ResolvedWhen,"
    "CertificateTemplate,RequestDistinguishedName,SerialNumber,Withheld";

static json_t *request_json(json_t *row)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set(o, "request_id", json_object_get(row, "RequestID"));
    json_object_set(o, "disposition", json_object_get(row, "Disposition"));
    json_object_set(o, "message", json_object_get(row, "DispositionMessage"));
    json_object_set(o, "requester", json_object_get(row, "RequesterName"));
    json_object_set_new(o, "submitted", rfc3339(json_object_get(row, "SubmittedWhen")));
    json_object_set_new(o, "resolved", rfc3339(json_object_get(row, "ResolvedWhen")));
    json_object_set(o, "profile", json_object_get(row, "CertificateTemplate"));
    json_object_set(o, "subject", json_object_get(row, "RequestDistinguishedName"));
    json_object_set(o, "serial", json_object_get(row, "SerialNumber"));
    json_object_set_new(o, "withheld",
                        json_boolean(json_integer_value(json_object_get(row, "Withheld"))));
    return o;
}

/* The request's row after the checks every request route makes. */
static json_t *request_row(struct api_req *r, int64_t *id)
{
    char expr[64];
    json_t *row;
    if (!arg_request_id(r, id))
        return NULL;
    snprintf(expr, sizeof(expr), "RequestID=%" PRId64, *id);
    if ((row = one_row(r, expr, request_columns, "request")) == NULL)
        return NULL;
    if (!may_read(r, row, "request")) {
        json_decref(row);
        return NULL;
    }
    return row;
}

void api_op_request_get(struct api_req *r)
{
    int64_t id = 0;
    json_t *row = request_row(r, &id);
    if (row == NULL)
        return;
    api_send_json(r, 200, request_json(row));
    json_decref(row);
}

/* exit_retrieve: strict mode's one more delivery, CERTRETRIEVEPENDING. */
void api_op_request_cert(struct api_req *r)
{
    int64_t id = 0;
    json_t *row = request_row(r, &id);
    struct exit_delivery_report rep;
    unsigned char *der = NULL;
    size_t len = 0;
    cm_err rc;

    if (row == NULL)
        return;
    if ((rc = exit_retrieve(&der, &len, &rep, r->s, id)) != CM_OK)
        api_problem_err(r, rc);
    else
        send_cert(r, der, len);
    free(der);
    json_decref(row);
}

/* The events of a committed action go out as the core's policy says
 * (strict audit mode: the certificate is released by this delivery). */
static void deliver(struct api_req *r)
{
    struct exit_delivery_report rep;
    if (exit_deliver_committed(&rep, r->s) != CM_OK) {
        log_error("API: event delivery: %s", cm_err_msg());
        cm_err_clear();
    }
}

/* An issued, pending or denied submission as the API shows it; the
 * certificate's PEM only when released. */
static json_t *submission_json(struct api_req *r, const struct ca_submission *s)
{
    json_t *o = json_object();
    unsigned char *pem = NULL;
    size_t len = 0;
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "request_id", json_integer(s->request_id));
    json_object_set_new(o, "disposition", json_string(db_disposition_name(s->disposition)));
    json_object_set_new(o, "serial", s->serial[0] ? json_string(s->serial) : json_null());
    json_object_set_new(o, "message",
                        s->disposition != DB_DISP_ISSUED && s->message[0] ? json_string(s->message)
                                                                          : json_null());
    json_object_set_new(o, "withheld",
                        json_boolean(s->disposition == DB_DISP_ISSUED && s->cert_der == NULL));
    if (s->cert_der != NULL &&
        ca_cert_export(&pem, &len, r->s, s->cert_der, s->cert_der_len, 0, CA_EXPORT_PEM) == CM_OK)
        json_object_set_new(o, "certificate", json_stringn((const char *)pem, len));
    else
        json_object_set_new(o, "certificate", json_null());
    cm_err_clear();
    free(pem);
    return o;
}

static void answer_submission(struct api_req *r, struct ca_submission *s)
{
    char loc[64];
    json_t *extra;
    if (s->disposition == DB_DISP_DENIED) {
        extra = json_object();
        if (extra != NULL)
            json_object_set_new(extra, "request_id", json_integer(s->request_id));
        api_problem_x(r, 422, "policy", s->message, extra);
        return;
    }
    snprintf(loc, sizeof(loc), "/api/v1/requests/%" PRId64, s->request_id);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", loc);
    api_send_json(r, s->disposition == DB_DISP_ISSUED && s->cert_der != NULL ? 201 : 202,
                  submission_json(r, s));
}

/* The CSR, profile and archive envelope of a submission:
 * application/pkcs10 (DER or PEM, RFC 5967; profile in the query) or JSON
 * {"csr", "profile", "archive_key"}. profile is "" when the client named
 * none; *env (malloc'ed) NULL without an envelope. */
static int submit_input(struct api_req *r, char **owned, const unsigned char **csr, size_t *len,
                        char profile[API_PROFILE_MAX], unsigned char **env, size_t *envlen)
{
    const char *qp = api_query(r, "profile");
    cm_err rc;
    snprintf(profile, API_PROFILE_MAX, "%s", qp != NULL ? qp : "");
    if (api_content_type_is(r, "application/pkcs10")) {
        *csr = r->body;
        *len = r->body_len;
    } else if (api_content_type_is(r, "application/json")) {
        if ((rc = api_body_submit(owned, len, profile, r->body, r->body_len)) != CM_OK ||
            (rc = api_body_archive_key(env, envlen, r->body, r->body_len)) != CM_OK) {
            api_problem_err(r, rc);
            return 0;
        }
        if (profile[0] == '\0' && qp != NULL)
            snprintf(profile, API_PROFILE_MAX, "%s", qp);
        *csr = (const unsigned char *)*owned;
    } else {
        api_problem(r, 415, "unsupported-media-type",
                    "a request is POSTed as application/pkcs10 (DER or PEM) or application/json");
        return 0;
    }
    if (*len == 0) {
        api_problem(r, 400, "malformed", "the request body is empty (a PKCS#10 request is needed)");
        return 0;
    }
    return 1;
}

/* ---- enrollment tokens (issue 12, docs/tokens.md) ---- */

/* RFC 6750 3: the challenge of a 401 for a bearer token. */
static void bearer_challenge(struct api_req *r, const char *error)
{
    char v[96];
    snprintf(v, sizeof(v), "Bearer realm=\"certmint\"%s%s%s", error ? ", error=\"" : "",
             error ? error : "", error ? "\"" : "");
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate", v);
}

/* The token of "Authorization: Bearer TOKEN" ("" without the header); 0
 * after answering a malformed or second header, or another scheme. */
static int bearer_token(struct api_req *r, char token[API_TOKEN_MAX])
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    const char *v = NULL;
    int n = 0, is_bearer = 0;

    token[0] = '\0';
    for (struct evkeyval *kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
        if (strcasecmp(kv->key, "Authorization") == 0 && n++ == 0)
            v = kv->value;
    if (n == 0)
        return 1;
    if (n > 1) {
        bearer_challenge(r, "invalid_request");
        api_problem(r, 400, "malformed", "Authorization: one header, one token (RFC 6750 2.1)");
        return 0;
    }
    if (api_bearer_parse(token, &is_bearer, v) == CM_OK)
        return 1;
    /* RFC 6750 3.1: invalid_request is a 400; another scheme is a 401
     * naming the one accepted. */
    bearer_challenge(r, is_bearer ? "invalid_request" : NULL);
    api_problem(r, is_bearer ? 400 : 401, is_bearer ? "malformed" : "unauthenticated",
                cm_err_msg());
    cm_err_clear();
    return 0;
}

/* The client's address, which the per-address limit of failed tokens
 * counts (behind a reverse proxy: the proxy's, docs/http.md). */
static void peer_addr(char *out, size_t n, struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *host = NULL;
    ev_uint16_t port = 0;

    if (conn != NULL)
        evhttp_connection_get_peer(conn, &host, &port);
    snprintf(out, n, "%s", host != NULL ? host : "unknown");
}

/* The token, not a certificate, authorises the request: the profile, the
 * subject and the SANs are the token's; it issues at once (201) or is
 * denied (422, the token stays usable). A refused token is a 401
 * (invalid_token), a client address over its limit a 429. */
static void submit_token(struct api_req *r, struct ca_submission *sub, const char *token,
                         const char *profile)
{
    char addr[INET6_ADDRSTRLEN + 8], after[32];
    struct ca_token_redeem_opts o = {NULL, NULL, 0, 0};
    cm_err rc;

    peer_addr(addr, sizeof(addr), r->req);
    o.client_addr = addr;
    o.profile = profile[0] != '\0' ? profile : NULL;
    rc = ca_token_redeem_x(sub, r->s, token, sub->csr, sub->csr_len, &o);
    if (rc == CM_OK)
        rc = sub->err;
    if (rc != CM_OK && o.retry_after > 0) {
        snprintf(after, sizeof(after), "%lld", (long long)o.retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", after);
        api_problem(r, 429, "rate-limited", cm_err_msg());
    } else if (rc != CM_OK && o.refused) {
        bearer_challenge(r, "invalid_token");
        api_problem(r, 401, "invalid-token", cm_err_msg());
    } else if (rc != CM_OK) {
        api_problem_err(r, rc);
    }
    cm_err_clear();
    if (rc != CM_OK)
        return;
    deliver(r);
    if ((rc = ca_submissions_release(r->s, sub, 1)) != CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    answer_submission(r, sub);
}

/* The request as an X509_REQ for the submission policy (whose subject is
 * it?). ca_submit parses it again in full and checks its signature. */
static cm_err req_decode(X509_REQ **out, const unsigned char *csr, size_t len)
{
    static const char pem[] = "-----BEGIN ";
    const unsigned char *p = csr;
    BIO *b = NULL;
    *out = NULL;
    if (len > sizeof(pem) - 1 && memcmp(csr, pem, sizeof(pem) - 1) == 0) {
        if ((b = BIO_new_mem_buf(csr, (int)len)) != NULL)
            *out = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        *out = d2i_X509_REQ(NULL, &p, (long)len);
    }
    if (*out == NULL)
        return cm_err_ossl(CM_ERR_INVALID, "request body: not a PKCS#10 request (PEM or DER)");
    return CM_OK;
}

void api_op_submit(struct api_req *r)
{
    char profile[API_PROFILE_MAX], *owned = NULL, token[API_TOKEN_MAX];
    const unsigned char *csr = NULL;
    unsigned char *env = NULL;
    size_t len = 0, envlen = 0;
    X509_REQ *x = NULL;
    struct ca_submission sub;
    struct ca_submit_opts so;
    int must_pend = 1;
    cm_err rc;

    memset(&sub, 0, sizeof(sub));
    memset(&so, 0, sizeof(so));
    if (!bearer_token(r, token) || !submit_input(r, &owned, &csr, &len, profile, &env, &envlen))
        goto out;
    sub.csr = csr;
    sub.csr_len = len;
    sub.source = "request body";
    sub.archive_env = env;
    sub.archive_env_len = envlen;
    if (token[0] != '\0') {
        submit_token(r, &sub, token, profile);
        goto out;
    }
    if (profile[0] == '\0')
        snprintf(profile, sizeof(profile), "tls-server");
    if ((rc = req_decode(&x, csr, len)) != CM_OK) {
        api_problem_err(r, rc);
        goto out;
    }
    if ((rc = http_auth_may_submit(&must_pend, &r->p, r->s, profile, x)) != CM_OK) {
        if (rc == CM_ERR_AUTH && !r->p.has_cert)
            api_problem(r, 401, "unauthenticated", cm_err_msg());
        else
            api_problem_err(r, rc);
        cm_err_clear();
        goto out;
    }
    so.profile = profile;
    so.force_pending = must_pend;
    if ((rc = ca_submit(r->s, &sub, 1, &so)) != CM_OK || (rc = sub.err) != CM_OK) {
        api_problem_err(r, rc);
        goto out;
    }
    deliver(r);
    if ((rc = ca_submissions_release(r->s, &sub, 1)) != CM_OK) {
        api_problem_err(r, rc);
        goto out;
    }
    answer_submission(r, &sub);
out:
    OPENSSL_cleanse(token, sizeof(token));
    X509_REQ_free(x);
    ca_submission_clear(&sub);
    free(owned);
    free(env);
}

void api_op_approve(struct api_req *r)
{
    int64_t id = 0;
    struct ca_submission sub;
    cm_err rc;

    memset(&sub, 0, sizeof(sub));
    if (!arg_request_id(r, &id) || !api_json_body(r))
        return;
    if ((rc = api_body_empty(r->body, r->body_len)) != CM_OK ||
        (rc = ca_approve(r->s, id, &sub)) != CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    deliver(r);
    if ((rc = ca_submissions_release(r->s, &sub, 1)) != CM_OK)
        api_problem_err(r, rc);
    else
        api_send_json(r, 200, submission_json(r, &sub));
    ca_submission_clear(&sub);
}

void api_op_deny(struct api_req *r)
{
    int64_t id = 0;
    char reason[API_REASON_MAX];
    json_t *o;
    cm_err rc;

    if (!arg_request_id(r, &id) || !api_json_body(r))
        return;
    if ((rc = api_body_deny(reason, r->body, r->body_len)) != CM_OK ||
        (rc = ca_deny(r->s, id, reason)) != CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    deliver(r);
    o = json_pack("{s:I,s:s,s:s}", "request_id", (json_int_t)id, "disposition", "denied", "message",
                  reason);
    api_send_json(r, 200, o);
}

/* ---- search ---- */

void api_op_search(struct api_req *r)
{
    const char *lim = api_query(r, "limit");
    uint64_t limit = SEARCH_LIMIT_DEFAULT;
    json_t *rows = NULL;
    cm_err rc;

    if (lim != NULL) {
        char *end = NULL;
        long long v = strtoll(lim, &end, 10);
        if (lim[0] < '0' || lim[0] > '9' || *end != '\0' || v < 1 || v > SEARCH_LIMIT_MAX) {
            api_problem(r, 400, "malformed", "limit is a number from 1 to 10000");
            return;
        }
        limit = (uint64_t)v;
    }
    if ((rc = view_rows(&rows, r->s, api_query(r, "restrict"), api_query(r, "columns"), limit)) !=
        CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    api_send_json(
        r, 200,
        json_pack("{s:o,s:I}", "certificates", rows, "count", (json_int_t)json_array_size(rows)));
}

/* ---- revocation ---- */

struct revoke_note {
    enum ca_revoke_note kind;
    int seen;
};

static void note_cb(void *ctx, const char *serial, enum ca_revoke_note kind, const char *msg)
{
    struct revoke_note *n = ctx;
    (void)serial;
    (void)msg;
    if (kind != CA_REVOKE_DUPLICATE) {
        n->kind = kind;
        n->seen = 1;
    }
}

void api_op_revoke(struct api_req *r)
{
    char serial[CM_SERIAL_BUF];
    const char *list[1] = {serial};
    struct revoke_note n = {CA_REVOKE_BAD, 0};
    struct ca_revoke_report rep = {note_cb, &n, 0, 0, 0};
    int reason = 0;
    int64_t invalidity = 0;
    cm_err rc;

    if (!arg_serial(r, serial) || !api_json_body(r))
        return;
    if ((rc = api_body_revoke(&reason, &invalidity, r->body, r->body_len)) != CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    if ((rc = ca_revoke_list(r->s, list, 1, reason, 0, invalidity, &rep)) != CM_OK) {
        /* The note says which: not ours (404), already revoked (409). */
        if (n.seen && n.kind == CA_REVOKE_NOTFOUND)
            rc = CM_ERR_NOTFOUND;
        else if (n.seen && n.kind == CA_REVOKE_ALREADY)
            rc = CM_ERR_STATE;
        api_problem_err(r, rc);
        return;
    }
    deliver(r);
    api_send_json(r, 200,
                  json_pack("{s:s,s:b,s:s,s:o}", "serial", serial, "revoked", 1, "reason",
                            db_reason_name(reason), "invalidity_date", time_json(invalidity)));
}

void api_op_unrevoke(struct api_req *r)
{
    char serial[CM_SERIAL_BUF];
    cm_err rc;

    if (!arg_serial(r, serial) || !api_json_body(r))
        return;
    if ((rc = api_body_empty(r->body, r->body_len)) != CM_OK ||
        (rc = ca_unrevoke(r->s, serial)) != CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    deliver(r);
    api_send_json(r, 200, json_pack("{s:s,s:b}", "serial", serial, "revoked", 0));
}

/* ---- CRL, exit modules ---- */

void api_op_crl(struct api_req *r)
{
    struct crl_result res;
    int delta = 0;
    cm_err rc;

    memset(&res, 0, sizeof(res));
    if (!api_json_body(r))
        return;
    if ((rc = api_body_crl(&delta, r->body, r->body_len)) != CM_OK ||
        (rc = ca_load_key(r->s)) != CM_OK || (rc = crl_publish(&res, r->s, delta)) != CM_OK) {
        api_problem_err(r, rc);
        return;
    }
    deliver(r);
    api_send_json(r, 201,
                  json_pack("{s:I,s:b,s:I,s:o,s:o,s:s}", "number", (json_int_t)res.number, "delta",
                            res.is_delta, "entries", (json_int_t)res.entries, "this_update",
                            time_json(res.this_update), "next_update", time_json(res.next_update),
                            "sha256", res.sha256_hex));
}

static void module_cb(void *ctx, const struct exit_module_status *st)
{
    json_t *m = json_pack(
        "{s:s,s:b,s:b,s:b,s:I,s:I,s:I,s:o,s:o,s:s?,s:I,s:o}", "name", st->name, "enabled",
        st->enabled, "configured", st->configured, "offbox", st->offbox, "acked",
        (json_int_t)st->acked, "backlog", (json_int_t)st->backlog, "poisoned",
        (json_int_t)st->poisoned, "last_success", time_json(st->last_success), "last_error_when",
        time_json(st->last_error_when), "last_error", st->last_error[0] ? st->last_error : NULL,
        "attempts", (json_int_t)st->attempts, "next_attempt", time_json(st->next_attempt));
    if (m != NULL)
        json_array_append_new(ctx, m);
}

void api_op_exit_status(struct api_req *r)
{
    json_t *a = json_array();
    cm_err rc;
    if (a == NULL || (rc = exit_status(r->s, module_cb, a)) != CM_OK) {
        json_decref(a);
        api_problem_err(r, a == NULL ? cm_err_set(CM_ERR_NOMEM, "out of memory") : rc);
        return;
    }
    api_send_json(r, 200, json_pack("{s:o}", "modules", a));
}
