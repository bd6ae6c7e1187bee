/* The REST API's routing, authentication and answers: the route table
 * (the contract is src/http/openapi.json; tests/unit/test_api_routes.c
 * holds the two together), the principal and the pool session of each
 * request (http/auth.h), JSON answers and RFC 9457 problem details. The
 * actions themselves are in api_ops.c, the body parsers in api_body.c. */
#include "http/api_int.h"

#include "util/json.h"
#include "util/log.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The document, embedded at build time (Makefile: api.o depends on it). */
__asm__(".pushsection .rodata\n"
        ".global cm_api_openapi_start\n"
        "cm_api_openapi_start:\n"
        ".incbin \"src/http/openapi.json\"\n"
        ".global cm_api_openapi_end\n"
        "cm_api_openapi_end:\n"
        ".byte 0\n"
        ".popsection\n");
extern const char cm_api_openapi_start[];
extern const char cm_api_openapi_end[];

const char *api_openapi_json(size_t *len)
{
    *len = (size_t)(cm_api_openapi_end - cm_api_openapi_start);
    return cm_api_openapi_start;
}

#define R_ANY (HTTP_ROLE_REQUESTER | HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR | HTTP_ROLE_ADMIN)
#define R_READ (HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR | HTTP_ROLE_ADMIN)
#define R_OFFICER (HTTP_ROLE_OFFICER | HTTP_ROLE_ADMIN)
#define R_AUDIT (HTTP_ROLE_AUDITOR | HTTP_ROLE_ADMIN)

enum route_auth {
    AUTH_NONE,   /* public, no session (the document) */
    AUTH_SUBMIT, /* anyone the profile admits (http_auth_may_submit decides) */
    AUTH_ROLES,  /* a client certificate with one of the roles */
};

static const struct {
    struct api_route_info info;
    enum route_auth auth;
    unsigned roles;
    api_handler fn;
} routes[] = {
    {{"GET", "/api/v1/openapi.json"}, AUTH_NONE, 0, api_op_openapi},
    {{"POST", "/api/v1/requests"}, AUTH_SUBMIT, 0, api_op_submit},
    {{"GET", "/api/v1/requests/{id}"}, AUTH_ROLES, R_ANY, api_op_request_get},
    {{"GET", "/api/v1/requests/{id}/certificate"}, AUTH_ROLES, R_ANY, api_op_request_cert},
    {{"POST", "/api/v1/requests/{id}/approve"}, AUTH_ROLES, R_OFFICER, api_op_approve},
    {{"POST", "/api/v1/requests/{id}/deny"}, AUTH_ROLES, R_OFFICER, api_op_deny},
    {{"GET", "/api/v1/certificates"}, AUTH_ROLES, R_READ, api_op_search},
    {{"GET", "/api/v1/certificates/{serial}"}, AUTH_ROLES, R_ANY, api_op_cert_get},
    {{"POST", "/api/v1/certificates/{serial}/revoke"}, AUTH_ROLES, R_OFFICER, api_op_revoke},
    {{"POST", "/api/v1/certificates/{serial}/unrevoke"}, AUTH_ROLES, R_OFFICER, api_op_unrevoke},
    {{"POST", "/api/v1/crl"}, AUTH_ROLES, R_OFFICER, api_op_crl},
    {{"GET", "/api/v1/exit-modules"}, AUTH_ROLES, R_AUDIT, api_op_exit_status},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

size_t api_route_count(void)
{
    return NROUTES;
}

const struct api_route_info *api_route_at(size_t i)
{
    return i < NROUTES ? &routes[i].info : NULL;
}

/* ---- answers ---- */

static void api_send(struct api_req *r, int status, const char *type, struct evbuffer *b)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    int cls = status / 100;
    if (type != NULL)
        evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (r->c->tls)
        evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
    if (evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD && b != NULL) {
        char len[32];
        snprintf(len, sizeof(len), "%zu", evbuffer_get_length(b));
        evhttp_add_header(h, "Content-Length", len);
        evbuffer_drain(b, evbuffer_get_length(b));
    }
    evhttp_send_reply(r->req, status, NULL, b);
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add(&r->c->srv->responses_by_class[cls], 1);
    r->answered = 1;
}

void api_send_bytes(struct api_req *r, int status, const char *type, const void *data, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || evbuffer_add(b, data, len) != 0) {
        if (b != NULL)
            evbuffer_free(b);
        evhttp_send_error(r->req, 503, "out of memory");
        r->answered = 1;
        return;
    }
    api_send(r, status, type, b);
    evbuffer_free(b);
}

void api_send_json(struct api_req *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);
    if (text == NULL) {
        api_problem(r, 500, "internal", "cannot encode the answer");
        return;
    }
    api_send_bytes(r, status, "application/json", text, strlen(text));
    free(text);
}

/* detail may carry bytes of the client's input (a member name, a CSR's
 * subject): valid UTF-8 is kept, anything else and control characters
 * become '?', so the answer always encodes. */
static void utf8_clean(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p != '\0' && o + 5 < cap) {
        size_t n = *p < 0x80 ? (*p >= 0x20 && *p != 0x7f) : json_utf8_len(p);
        if (n == 0) {
            out[o++] = '?';
            p++;
            continue;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    out[o] = '\0';
}

static const char *status_title(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

/* RFC 9457 3.1: type (a URI naming the kind of problem, documented in
 * docs/http.md), title (the same for every occurrence of the type),
 * status, detail (this occurrence). extra (may be NULL) adds members. */
void api_problem_x(struct api_req *r, int status, const char *type, const char *detail,
                   json_t *extra)
{
    char uri[96];
    json_t *o = extra != NULL ? extra : json_object();
    char *text = NULL, clean[1024];
    snprintf(uri, sizeof(uri), "urn:certmint:problem:%s", type);
    utf8_clean(clean, sizeof(clean), detail);
    if (o != NULL) {
        json_object_set_new(o, "type", json_string(uri));
        json_object_set_new(o, "title", json_string(status_title(status)));
        json_object_set_new(o, "status", json_integer(status));
        json_object_set_new(o, "detail", json_string(clean));
        text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
    }
    if (text == NULL) {
        evhttp_send_error(r->req, 503, "out of memory");
        r->answered = 1;
        return;
    }
    api_send_bytes(r, status, "application/problem+json", text, strlen(text));
    free(text);
}

void api_problem(struct api_req *r, int status, const char *type, const char *detail)
{
    api_problem_x(r, status, type, detail, NULL);
}

/* A core error as a problem: the code says which (db/db.h contracts:
 * CM_ERR_STATE is the loser of a compare-and-set, "no longer pending"). */
void api_problem_err(struct api_req *r, cm_err rc)
{
    static const struct {
        cm_err rc;
        int status;
        const char *type;
    } map[] = {
        {CM_ERR_INVALID, 400, "malformed"},   {CM_ERR_NOTFOUND, 404, "not-found"},
        {CM_ERR_EXISTS, 409, "conflict"},     {CM_ERR_STATE, 409, "conflict"},
        {CM_ERR_WITHHELD, 409, "withheld"},   {CM_ERR_POLICY, 422, "policy"},
        {CM_ERR_LINT, 422, "policy"},         {CM_ERR_CONFIG, 409, "configuration"},
        {CM_ERR_AUTH, 403, "forbidden"},      {CM_ERR_UNSUPPORTED, 400, "malformed"},
        {CM_ERR_TIMEOUT, 503, "unavailable"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].rc == rc) {
            api_problem(r, map[i].status, map[i].type, cm_err_msg());
            cm_err_clear();
            return;
        }
    /* Database and I/O failures: the detail stays in the log. */
    log_error("API %s: %s", evhttp_request_get_uri(r->req), cm_err_msg());
    cm_err_clear();
    api_problem(r, 500, "internal", "internal error (logged by the server)");
}

/* ---- the query string (libevent decodes it: RFC 3986, '+' as space) ---- */

const char *api_query(struct api_req *r, const char *name)
{
    return r->query_ok ? evhttp_find_header(&r->query, name) : NULL;
}

/* Every parameter must be one the route documents. */
static int query_check(struct api_req *r, const char *raw)
{
    static const char *const known[] = {"profile", "format", "chain", "restrict",
                                        "columns", "limit",  NULL};
    if (evhttp_parse_query_str(raw, &r->query) != 0) {
        api_problem(r, 400, "malformed", "the query string does not parse");
        return 0;
    }
    r->query_ok = 1;
    for (struct evkeyval *kv = r->query.tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        size_t i = 0;
        while (known[i] != NULL && strcmp(known[i], kv->key) != 0)
            i++;
        if (known[i] == NULL) {
            char d[160];
            snprintf(d, sizeof(d), "unknown query parameter '%.64s'", kv->key);
            api_problem(r, 400, "malformed", d);
            return 0;
        }
    }
    return 1;
}

/* ---- routing ---- */

/* path against a template: '{x}' matches one segment, captured into
 * r->arg (at most one per template). */
static int match(const char *tpl, const char *path, char *arg, size_t argcap)
{
    while (*tpl != '\0' && *path != '\0') {
        if (*tpl == '{') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= argcap)
                return 0;
            memcpy(arg, path, n);
            arg[n] = '\0';
            path += n;
            tpl = strchr(tpl, '}') + 1;
            continue;
        }
        if (*tpl++ != *path++)
            return 0;
    }
    return *tpl == '\0' && *path == '\0';
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    return cmd == EVHTTP_REQ_POST                              ? "POST"
           : (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) ? "GET"
                                                               : "?";
}

/* The route for r, or -1 after answering 404 / 405. */
static int find_route(struct api_req *r, const char *path)
{
    const char *m = method_name(evhttp_request_get_command(r->req));
    char allow[32] = "";
    for (size_t i = 0; i < NROUTES; i++) {
        if (!match(routes[i].info.pattern, path, r->arg, sizeof(r->arg)))
            continue;
        if (strcmp(routes[i].info.method, m) == 0)
            return (int)i;
        snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
                 strcmp(routes[i].info.method, "GET") == 0 ? "GET, HEAD" : "POST");
    }
    if (allow[0] == '\0') {
        api_problem(r, 404, "not-found", "no such API resource (see /api/v1/openapi.json)");
        return -1;
    }
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
    api_problem(r, 405, "method-not-allowed", "method not allowed here");
    return -1;
}

/* Who asks, and may they (401: no certificate; 403: a certificate that
 * does not verify here, is revoked, or lacks the role). */
static int authorize(struct api_req *r, int i)
{
    char d[1024];
    if (routes[i].auth == AUTH_NONE)
        return 1;
    if (!r->c->tls) {
        api_problem(r, 403, "forbidden", "the REST API is served over HTTPS only (https.listen)");
        return 0;
    }
    if (http_auth_principal(&r->p, r->req, r->c) != CM_OK) {
        api_problem(r, 403, "forbidden", cm_err_msg());
        cm_err_clear();
        return 0;
    }
    if (routes[i].auth == AUTH_ROLES && !r->p.has_cert) {
        api_problem(
            r, 401, "unauthenticated",
            "a client certificate issued by this CA is required (TLS client authentication)");
        return 0;
    }
    if (routes[i].auth == AUTH_ROLES && (r->p.roles & routes[i].roles) == 0) {
        char have[96];
        http_roles_string(have, sizeof(have), r->p.roles);
        snprintf(d, sizeof(d), "%s has the role(s) %s; %s %s needs another (see http.roles.*)",
                 r->p.subject, have, routes[i].info.method, routes[i].info.pattern);
        api_problem(r, 403, "forbidden", d);
        return 0;
    }
    if (http_session_open(&r->s, r->c, &r->p) != CM_OK) {
        log_error("API: no session: %s", cm_err_msg());
        cm_err_clear();
        api_problem(r, 503, "unavailable", "the CA is busy; try again");
        return 0;
    }
    return 1;
}

void api_route(struct evhttp_request *req, struct http_ctx *c, const char *path, const char *query)
{
    struct api_req r;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    int i;

    memset(&r, 0, sizeof(r));
    r.req = req;
    r.c = c;
    if ((i = find_route(&r, path)) < 0 || !query_check(&r, query))
        goto out;
    r.body_len = evbuffer_get_length(in);
    if (r.body_len > HTTP_MAX_BODY) {
        api_problem(&r, 413, "too-large", "the request body is over 64 KiB");
        goto out;
    }
    r.body = r.body_len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
    if (!authorize(&r, i))
        goto out;
    routes[i].fn(&r);
    if (!r.answered)
        api_problem(&r, 500, "internal", "no answer");
out:
    ca_session_close(r.s);
    if (r.query_ok)
        evhttp_clear_headers(&r.query);
}

/* The content type without parameters, compared case-insensitively. */
int api_content_type_is(struct api_req *r, const char *type)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
    size_t n = strlen(type);
    if (ct == NULL || strncasecmp(ct, type, n) != 0)
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* An action's body must be JSON (or absent). */
int api_json_body(struct api_req *r)
{
    if (r->body_len == 0 || api_content_type_is(r, "application/json"))
        return 1;
    api_problem(r, 415, "unsupported-media-type", "the body of this action is application/json");
    return 0;
}
