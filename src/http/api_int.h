/* Internals of the REST API (api.c, api_ops.c). */
#ifndef CM_HTTP_API_INT_H
#define CM_HTTP_API_INT_H

#include "http/api.h"
#include "http/auth.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

/* One API request while it is answered. */
struct api_req {
    struct evhttp_request *req;
    struct http_ctx *c;
    struct evkeyvalq query; /* decoded parameters (when query_ok) */
    int query_ok;
    char arg[96]; /* the path parameter ({id}, {serial}), as sent */
    const unsigned char *body;
    size_t body_len;
    struct http_principal p;
    ca_ctx *s; /* the pool session acting for p (NULL for public routes) */
    int answered;
};

typedef void (*api_handler)(struct api_req *r);

/* Answers (each answers r once). api_send_json takes the reference. */
void api_send_json(struct api_req *r, int status, json_t *body);
void api_send_bytes(struct api_req *r, int status, const char *type, const void *data, size_t len);
/* RFC 9457 problem details: type is the last part of the type URI
 * "urn:certmint:problem:TYPE" (docs/http.md lists them). extra (may be NULL;
 * the reference is taken) adds members such as request_id. */
void api_problem_x(struct api_req *r, int status, const char *type, const char *detail,
                   json_t *extra);
void api_problem(struct api_req *r, int status, const char *type, const char *detail);
/* The status and type a core error calls for; the detail is cm_err_msg(). */
void api_problem_err(struct api_req *r, cm_err rc);

const char *api_query(struct api_req *r, const char *name);
int api_content_type_is(struct api_req *r, const char *type);
/* 1 when the body is absent or application/json, else answers 415. */
int api_json_body(struct api_req *r);

/* api_ops.c: one per route. */
void api_op_openapi(struct api_req *r);
void api_op_submit(struct api_req *r);
void api_op_transport_cert(struct api_req *r);
void api_op_request_get(struct api_req *r);
void api_op_request_cert(struct api_req *r);
void api_op_approve(struct api_req *r);
void api_op_deny(struct api_req *r);
void api_op_search(struct api_req *r);
void api_op_cert_get(struct api_req *r);
void api_op_revoke(struct api_req *r);
void api_op_unrevoke(struct api_req *r);
void api_op_crl(struct api_req *r);
void api_op_exit_status(struct api_req *r);

#endif
