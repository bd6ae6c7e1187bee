/* The /certsrv pages (web.h). Every action is one core call on a pool
 * session acting for the client (http_session_open: audited as
 * subject:DN, or service:http-anonymous); every value that comes from a
 * certificate, a request or a form is written with html_esc. */
#include "http/web.h"

#include "ca/name.h"
#include "ca/profile.h"
#include "ca/reqinfo.h"
#include "ca/view.h"
#include "crl/crl.h"
#include "http/html.h"
#include "util/text.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A session for the page, or the 503 page. */
static ca_ctx *session(struct web_req *w)
{
    ca_ctx *s = NULL;
    if (http_session_open(&s, w->c, &w->p) != CM_OK) {
        char msg[300];
        snprintf(msg, sizeof(msg), "the CA is not available: %s", cm_err_msg());
        cm_err_clear();
        web_fail(w, 503, "Service Unavailable", msg);
        return NULL;
    }
    return s;
}

static void fail_err(struct web_req *w, cm_err rc, const char *what)
{
    char msg[700];
    int code = rc == CM_ERR_INVALID                          ? 400
               : rc == CM_ERR_AUTH                           ? 403
               : rc == CM_ERR_NOTFOUND                       ? 404
               : rc == CM_ERR_STATE || rc == CM_ERR_WITHHELD ? 409
               : rc == CM_ERR_POLICY || rc == CM_ERR_LINT    ? 422
                                                             : 500;
    static const char *reasons[] = {
        "Bad Request",          "Forbidden", "Not Found", "Conflict", "Unprocessable Content",
        "Internal Server Error"};
    int ri = code == 400   ? 0
             : code == 403 ? 1
             : code == 404 ? 2
             : code == 409 ? 3
             : code == 422 ? 4
                           : 5;
    snprintf(msg, sizeof(msg), "%s: %s", what, cm_err_msg());
    cm_err_clear();
    web_fail(w, code, reasons[ri], msg);
}

/* ---- start page ---- */

void web_page_home(struct web_req *w)
{
    web_begin(w, "Certificate services");
    evbuffer_add_printf(w->out, "<div class=\"card\"><p>Welcome. From here you can:</p><ul>"
                                "<li><a href=\"/certsrv/request\">Request a certificate</a> "
                                "by pasting or uploading a certificate signing request "
                                "(PKCS#10)</li>"
                                "<li><a href=\"/certsrv/token\">Redeem an enrollment "
                                "token</a> you were sent by mail</li>"
                                "<li><a href=\"/certsrv/status\">View the status of your "
                                "requests</a> and download issued certificates</li>"
                                "<li><a href=\"/certsrv/download\">Download the CA certificate, "
                                "its chain and the current CRLs</a></li>");
    if (w->p.roles & (HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR))
        evbuffer_add_printf(w->out,
                            "<li><a href=\"/certsrv/officer\">Review pending "
                            "requests</a>, <a href=\"/certsrv/officer/search\">search "
                            "certificates</a>, <a href=\"/certsrv/officer/revoke\">revoke"
                            "</a>, <a href=\"/certsrv/officer/crl\">publish a CRL</a></li>");
    evbuffer_add_printf(w->out, "</ul></div>\n");
    if (w->p.has_cert) {
        evbuffer_add_printf(w->out, "<h2>Your client certificate</h2><table class=\"kv\">"
                                    "<tr><th>Subject</th><td>");
        html_esc(w->out, w->p.subject);
        evbuffer_add_printf(w->out, "</td></tr><tr><th>Serial number</th><td><code>");
        html_esc(w->out, w->p.serial);
        evbuffer_add_printf(w->out, "</code></td></tr><tr><th>Roles</th><td>");
        html_esc(w->out, w->roles);
        evbuffer_add_printf(w->out, "</td></tr></table>\n");
    } else {
        evbuffer_add_printf(w->out, "<p class=\"muted\">You have not presented a client "
                                    "certificate: requests you submit wait for a certificate "
                                    "officer.</p>\n");
    }
    html_end(w->out);
    web_send(w, 200, "OK");
}

/* ---- request a certificate ---- */

struct profile_opts {
    struct web_req *w;
    ca_ctx *s;
    const char *selected;
    int n;
};

static void profile_option(void *ctx, const char *name)
{
    struct profile_opts *o = ctx;
    if (!http_auth_profile_allowed(&o->w->p, o->s, name))
        return;
    evbuffer_add_printf(o->w->out, "<option value=\"");
    html_esc(o->w->out, name);
    evbuffer_add_printf(o->w->out, "\"%s>",
                        o->selected && strcmp(o->selected, name) == 0 ? " selected" : "");
    html_esc(o->w->out, name);
    evbuffer_add_printf(o->w->out, "</option>");
    o->n++;
}

static void request_form(struct web_req *w, ca_ctx *s)
{
    struct profile_opts o = {w, s, http_form_text(&w->form, "profile"), 0};
    evbuffer_add_printf(w->out, "<form class=\"card\" method=\"post\" action=\"/certsrv/request\" "
                                "enctype=\"multipart/form-data\">");
    web_csrf_field(w);
    evbuffer_add_printf(w->out, "<label for=\"profile\">Certificate profile</label>"
                                "<select id=\"profile\" name=\"profile\">");
    profile_names(ca_config(s), profile_option, &o);
    evbuffer_add_printf(w->out, "</select>");
    if (o.n == 0)
        evbuffer_add_printf(w->out, "<p class=\"note warn\">No profile is open to you over the "
                                    "web (profile.NAME.http_access).</p>");
    evbuffer_add_printf(w->out,
                        "<label for=\"csr\">Certificate signing request (PEM, "
                        "<code>-----BEGIN CERTIFICATE REQUEST-----</code>)</label>"
                        "<textarea id=\"csr\" name=\"csr\" spellcheck=\"false\"></textarea>"
                        "<label for=\"csrfile\">or upload a file (PEM or DER)</label>"
                        "<input type=\"file\" id=\"csrfile\" name=\"csrfile\">"
                        "<div><button type=\"submit\" id=\"submit\">Submit request</button></div>"
                        "</form>\n<p class=\"muted\">Make a request with, for example: "
                        "<code>openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                        "-keyout my.key -out my.csr -subj \"/CN=host.example.org\" -addext "
                        "\"subjectAltName=DNS:host.example.org\"</code></p>\n");
}

const struct form_field *web_form_csr(const struct web_req *w)
{
    const struct form_field *f = http_form_get(&w->form, "csrfile");
    if (f != NULL && f->len > 0)
        return f;
    f = http_form_get(&w->form, "csr");
    return f != NULL && f->len > 0 ? f : NULL;
}

static void cert_links(struct web_req *w, int64_t id)
{
    evbuffer_add_printf(w->out,
                        "<p class=\"links\">Download: "
                        "<a href=\"/certsrv/cert?id=%" PRId64 "&amp;fmt=pem\">certificate (PEM)</a>"
                        "<a href=\"/certsrv/cert?id=%" PRId64 "&amp;fmt=der\">certificate (DER)</a>"
                        "<a href=\"/certsrv/cert?id=%" PRId64 "&amp;fmt=p7b\">with chain (.p7b)</a>"
                        "<a href=\"/certsrv/cert?id=%" PRId64
                        "&amp;fmt=chain\">with chain (PEM)</a>"
                        "</p>\n",
                        id, id, id, id);
}

/* Strict audit mode (audit.require_offbox): issued, but the core released
 * no certificate (cert_der NULL) until the CERTISSUED event is
 * acknowledged off-box; the page says so and how to fetch it later, as the
 * REST API's 409 "withheld" does. */
static void issued_withheld(struct web_req *w, const struct ca_submission *sub)
{
    web_begin(w, "Certificate issued, withheld");
    evbuffer_add_printf(w->out,
                        "<p class=\"note warn\" id=\"withheld\">Request %" PRId64
                        " was issued (certificate serial <code>",
                        sub->request_id);
    html_esc(w->out, sub->serial);
    evbuffer_add_printf(w->out,
                        "</code>), but the certificate is withheld until its off-box "
                        "audit record is acknowledged (strict audit mode). This browser "
                        "remembers the request: <a href=\"/certsrv/status?id=%" PRId64
                        "\">check its status later</a> and download it once released.</p>\n",
                        sub->request_id);
}

void web_submission_result(struct web_req *w, const struct ca_submission *sub)
{
    if (sub->disposition == DB_DISP_ISSUED && sub->cert_der == NULL) {
        web_remember(w, sub->request_id);
        issued_withheld(w, sub);
    } else if (sub->disposition == DB_DISP_ISSUED) {
        web_remember(w, sub->request_id);
        web_begin(w, "Certificate issued");
        evbuffer_add_printf(w->out,
                            "<p class=\"note ok\">Request %" PRId64 " was issued: "
                            "certificate serial <code>",
                            sub->request_id);
        html_esc(w->out, sub->serial);
        evbuffer_add_printf(w->out, "</code>.</p>\n");
        cert_links(w, sub->request_id);
    } else if (sub->disposition == DB_DISP_PENDING) {
        web_remember(w, sub->request_id);
        web_begin(w, "Request pending");
        evbuffer_add_printf(w->out,
                            "<p class=\"note warn\">Your request id is <b id=\"reqid\">%" PRId64
                            "</b>. It waits for a certificate officer. This browser remembers "
                            "it: <a href=\"/certsrv/status?id=%" PRId64 "\">check its status "
                            "later</a>.</p>\n",
                            sub->request_id, sub->request_id);
    } else {
        web_begin(w, "Request denied");
        evbuffer_add_printf(
            w->out, "<p class=\"note error\">Request %" PRId64 " was denied: ", sub->request_id);
        html_esc(w->out, sub->message);
        evbuffer_add_printf(w->out, "</p>\n");
    }
    html_end(w->out);
    web_send(w, 200, "OK");
}

static void request_submit(struct web_req *w, ca_ctx *s)
{
    const struct form_field *f = web_form_csr(w);
    const char *profile = http_form_text(&w->form, "profile");
    X509_REQ *x = NULL;
    struct ca_submission sub;
    struct ca_submit_opts so;
    int must_pend = 1;
    cm_err rc;

    memset(&sub, 0, sizeof(sub));
    memset(&so, 0, sizeof(so));
    if (f == NULL || profile == NULL) {
        web_fail(w, 400, "Bad Request",
                 "paste a certificate request or choose a file, and a "
                 "profile");
        return;
    }
    if ((rc = web_csr_parse(&x, f->value, f->len, "the certificate request")) != CM_OK) {
        fail_err(w, rc, "not accepted");
        return;
    }
    if ((rc = http_auth_may_submit(&must_pend, &w->p, s, profile, x)) != CM_OK) {
        fail_err(w, rc, "not allowed");
        goto out;
    }
    sub.csr = f->value;
    sub.csr_len = f->len;
    sub.source = f->filename[0] ? f->filename : "web form";
    so.profile = profile;
    so.force_pending = must_pend;
    if ((rc = ca_submit(s, &sub, 1, &so)) != CM_OK) {
        fail_err(w, rc, "not accepted");
        goto out;
    }
    web_submission_result(w, &sub);
out:
    ca_submission_clear(&sub);
    X509_REQ_free(x);
}

void web_page_request(struct web_req *w)
{
    ca_ctx *s = session(w);
    if (s == NULL)
        return;
    if (w->post) {
        request_submit(w, s);
    } else {
        web_begin(w, "Request a certificate");
        request_form(w, s);
        html_end(w->out);
        web_send(w, 200, "OK");
    }
    ca_session_close(s);
}

/* ---- status of remembered requests, downloads ---- */

static void status_row(struct web_req *w, ca_ctx *s, int64_t id)
{
    struct ca_request_info r;
    if (ca_request_info(&r, s, id) != CM_OK) {
        cm_err_clear();
        evbuffer_add_printf(w->out,
                            "<tr><td>%" PRId64 "</td><td colspan=\"4\">not found</td>"
                            "</tr>\n",
                            id);
        return;
    }
    evbuffer_add_printf(w->out, "<tr><td>%" PRId64 "</td><td>", id);
    html_esc(w->out, r.subject);
    evbuffer_add_printf(w->out, "</td><td>");
    html_esc(w->out, r.profile);
    evbuffer_add_printf(w->out, "</td><td class=\"disp\">");
    html_esc(w->out, db_disposition_name(r.disposition));
    evbuffer_add_printf(w->out, "</td><td>");
    html_esc(w->out, r.message);
    if (r.disposition == DB_DISP_ISSUED)
        cert_links(w, id);
    evbuffer_add_printf(w->out, "</td></tr>\n");
    ca_request_info_clear(&r);
}

void web_page_status(struct web_req *w)
{
    int64_t one = web_param_id(&w->q, "id");
    ca_ctx *s;
    if (one > 0 && !web_may_see(w, one)) {
        web_fail(w, 403, "Forbidden", "that request was not submitted from this browser");
        return;
    }
    if ((s = session(w)) == NULL)
        return;
    web_begin(w, one > 0 ? "Request status" : "My requests");
    if (one == 0 && w->nids == 0) {
        evbuffer_add_printf(w->out, "<p class=\"muted\">This browser has not submitted a "
                                    "request yet. <a href=\"/certsrv/request\">Request a "
                                    "certificate</a>.</p>\n");
    } else {
        evbuffer_add_printf(w->out, "<table><tr><th>Request</th><th>Subject</th><th>Profile"
                                    "</th><th>Status</th><th>Details</th></tr>\n");
        if (one > 0)
            status_row(w, s, one);
        for (size_t i = w->nids; one == 0 && i > 0; i--)
            status_row(w, s, w->ids[i - 1]);
        evbuffer_add_printf(w->out, "</table>\n");
    }
    html_end(w->out);
    web_send(w, 200, "OK");
    ca_session_close(s);
}

static void send_download(struct web_req *w, const unsigned char *data, size_t len,
                          const char *type, const char *name)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(w->req);
    char cd[128];
    snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", name);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Content-Disposition", cd);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evbuffer_add(w->out, data, len);
    evhttp_send_reply(w->req, 200, "OK", w->out);
    atomic_fetch_add(&w->c->srv->responses_by_class[2], 1);
}

void web_page_cert(struct web_req *w)
{
    int64_t id = web_param_id(&w->q, "id");
    const char *fmt = http_form_text(&w->q, "fmt");
    unsigned char *der = NULL, *out = NULL;
    size_t len = 0, olen = 0;
    char name[64];
    ca_ctx *s = NULL;
    cm_err rc;
    int chain = 0;
    enum ca_export_format ef = CA_EXPORT_PEM;

    if (fmt == NULL)
        fmt = "pem";
    if (strcmp(fmt, "der") == 0)
        ef = CA_EXPORT_DER;
    else if (strcmp(fmt, "p7b") == 0)
        ef = CA_EXPORT_P7B, chain = 1;
    else if (strcmp(fmt, "chain") == 0)
        chain = 1;
    else if (strcmp(fmt, "pem") != 0) {
        web_fail(w, 400, "Bad Request", "fmt must be pem, der, p7b or chain");
        return;
    }
    if (id <= 0 || !web_may_see(w, id)) {
        web_fail(w, id <= 0 ? 400 : 403, id <= 0 ? "Bad Request" : "Forbidden",
                 id <= 0 ? "id: not a request id"
                         : "that request was not submitted from this "
                           "browser");
        return;
    }
    if ((s = session(w)) == NULL)
        return;
    if ((rc = ca_retrieve(s, id, &der, &len)) != CM_OK ||
        (rc = ca_cert_export(&out, &olen, s, der, len, chain, ef)) != CM_OK) {
        fail_err(w, rc, "no certificate");
        goto out;
    }
    snprintf(name, sizeof(name), "request-%" PRId64 "%s", id,
             ef == CA_EXPORT_DER   ? ".crt"
             : ef == CA_EXPORT_P7B ? ".p7b"
             : chain               ? "-chain.pem"
                                   : ".pem");
    send_download(w, out, olen,
                  ef == CA_EXPORT_DER   ? "application/pkix-cert"
                  : ef == CA_EXPORT_P7B ? "application/pkcs7-mime"
                                        : "application/x-pem-file",
                  name);
out:
    free(der);
    free(out);
    ca_session_close(s);
}

void web_page_download(struct web_req *w)
{
    const char *n = w->c->srv->ca_name; /* [A-Za-z0-9_-] (http.ca_name) */
    web_begin(w, "CA certificate and CRLs");
    evbuffer_add_printf(
        w->out,
        "<table><tr><th>What</th><th>Download</th></tr>"
        "<tr><td>CA certificate</td><td class=\"links\">"
        "<a href=\"/ca/%s.crt\">DER (.crt)</a><a href=\"/ca/%s.pem\">PEM</a></td></tr>"
        "<tr><td>Certificate chain</td><td class=\"links\">"
        "<a href=\"/ca/%s-chain.p7b\">PKCS#7 (.p7b)</a>"
        "<a href=\"/ca/%s-chain.pem\">PEM bundle</a></td></tr>"
        "<tr><td>Certificate revocation list</td><td class=\"links\">"
        "<a href=\"/crl/%s.crl\">current CRL</a>"
        "<a href=\"/crl/%s-delta.crl\">delta CRL</a></td></tr></table>\n"
        "<p class=\"muted\">Relying parties fetch these over plain HTTP from the "
        "URLs in every certificate (AIA and CDP).</p>\n",
        n, n, n, n, n, n);
    html_end(w->out);
    web_send(w, 200, "OK");
}
