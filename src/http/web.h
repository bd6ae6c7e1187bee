/* The web enrollment pages, /certsrv (docs/http.md, "Web enrollment"):
 * server-rendered HTML in the manner of AD CS's certsrv, no script.
 * web.c routes, authenticates (auth.h), checks CSRF tokens and writes the
 * headers; web_pages.c renders the pages and calls the core. */
#ifndef CM_HTTP_WEB_H
#define CM_HTTP_WEB_H

#include "http/auth.h"
#include "http/form.h"
#include "http/http_int.h"
#include "http/url.h"

#include <event2/buffer.h>
#include <stdint.h>

#define WEB_MAX_REMEMBERED 20

/* One request to a page. */
struct web_req {
    struct evhttp_request *req;
    struct http_ctx *c;
    struct http_principal p;
    char roles[64];        /* p.roles as text */
    int post;              /* a POST whose CSRF token has been checked */
    struct http_form q;    /* the query string */
    struct http_form form; /* a POST's body */
    char csrf_cookie[65];  /* the browser's CSRF cookie (new: set_csrf) */
    int set_csrf;
    int64_t ids[WEB_MAX_REMEMBERED]; /* requests remembered in the cookie */
    size_t nids;
    int set_ids;
    struct evbuffer *out;
};

/* /certsrv and below: 1 when answered (0: not a /certsrv path). */
int web_route(struct evhttp_request *req, struct http_ctx *c, const struct http_target *t);

/* Sends w->out as the page with status code. */
void web_send(struct web_req *w, int code, const char *reason);
/* An error page: the title, the message (escaped), status code. */
void web_fail(struct web_req *w, int code, const char *reason, const char *msg);
/* The hidden CSRF field of every form. */
void web_csrf_field(struct web_req *w);
/* Page frame with the principal. */
void web_begin(struct web_req *w, const char *title);
/* Remembered in the cookie (certsrv's "pending requests on this browser"). */
void web_remember(struct web_req *w, int64_t id);
/* May w see request id: remembered here, or an officer/auditor. */
int web_may_see(const struct web_req *w, int64_t id);
/* A query or form parameter as a request id (> 0), else 0. */
int64_t web_param_id(const struct http_form *f, const char *name);

/* Parses and checks a CSR (PEM or DER, self-signature verified). */
cm_err web_csr_parse(X509_REQ **out, const unsigned char *data, size_t len,
                     const char *what) CM_MUST_USE;

/* web_pages.c */
void web_page_home(struct web_req *w);
void web_page_request(struct web_req *w);
void web_page_status(struct web_req *w);
void web_page_cert(struct web_req *w);
void web_page_download(struct web_req *w);
void web_page_pending(struct web_req *w);
void web_page_search(struct web_req *w);
void web_page_revoke(struct web_req *w);
void web_page_crl(struct web_req *w);
/* The result page of a submission (issued, pending or denied). */
void web_submission_result(struct web_req *w, const struct ca_submission *sub);
/* The CSR of a request form: the uploaded file ("csrfile") when one was
 * chosen, else the pasted text ("csr"); NULL when both are empty. */
const struct form_field *web_form_csr(const struct web_req *w);

/* web_token.c: redeem a one-time enrollment token (docs/tokens.md). */
void web_page_token(struct web_req *w);

#endif
