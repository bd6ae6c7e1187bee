/* The officer's /certsrv pages (web.h): pending requests with their
 * decoded content, approve and deny, search, revoke, publish a CRL. An
 * auditor sees the same pages without the forms that change anything.
 * Every action is one core call acting as the officer's certificate
 * subject; the races are the core's (ca_approve and ca_deny are
 * compare-and-set: the loser gets "no longer pending", shown as 409). */
#include "http/web.h"

#include "ca/name.h"
#include "ca/query.h"
#include "ca/reqinfo.h"
#include "ca/view.h"
#include "crl/crl.h"
#include "http/html.h"

#include <event2/http.h>
#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_officer(const struct web_req *w)
{
    return (w->p.roles & HTTP_ROLE_OFFICER) != 0;
}

static void note_err(struct web_req *w, const char *what)
{
    char msg[700];
    snprintf(msg, sizeof(msg), "%s: %s", what, cm_err_msg());
    cm_err_clear();
    html_note(w->out, "error", msg);
}

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

/* ---- pending requests ---- */

/* The CSR's content: SANs, key, and the whole of it as openssl prints it. */
static void csr_decoded(struct web_req *w, const struct ca_request_info *r)
{
    X509_REQ *x = NULL;
    struct san_list sl = SAN_LIST_INIT;
    char *sans = NULL, *text = NULL;
    BIO *b = NULL;
    EVP_PKEY *k;
    long n;

    if (r->csr == NULL || web_csr_parse(&x, r->csr, r->csr_len, "the stored request") != CM_OK) {
        cm_err_clear();
        evbuffer_add_printf(w->out, "<td colspan=\"2\" class=\"muted\">request not kept</td>");
        return;
    }
    evbuffer_add_printf(w->out, "<td class=\"sans\">");
    if (san_from_req(&sl, x) == CM_OK && san_list_to_string(&sans, &sl) == CM_OK)
        html_esc(w->out, sans[0] ? sans : "(none)");
    else
        evbuffer_add_printf(w->out, "(unreadable)");
    cm_err_clear();
    k = X509_REQ_get0_pubkey(x);
    evbuffer_add_printf(w->out, "</td><td class=\"key\">");
    html_esc(w->out, k ? EVP_PKEY_get0_type_name(k) : "?");
    evbuffer_add_printf(w->out, " %d bits<details><summary>full request</summary><pre>",
                        k ? EVP_PKEY_get_bits(k) : 0);
    if ((b = BIO_new(BIO_s_mem())) != NULL &&
        X509_REQ_print_ex(b, x, XN_FLAG_RFC2253, X509_FLAG_NO_SIGDUMP) == 1 &&
        (n = BIO_get_mem_data(b, &text)) > 0)
        html_escn(w->out, text, (size_t)n);
    evbuffer_add_printf(w->out, "</pre></details></td>");
    BIO_free(b);
    free(sans);
    san_list_free(&sl);
    X509_REQ_free(x);
}

static void decision_forms(struct web_req *w, int64_t id)
{
    evbuffer_add_printf(w->out, "<td><form class=\"inline\" method=\"post\" "
                                "action=\"/certsrv/officer\">");
    web_csrf_field(w);
    evbuffer_add_printf(w->out,
                        "<input type=\"hidden\" name=\"id\" value=\"%" PRId64 "\">"
                        "<button class=\"small\" name=\"action\" value=\"approve\" "
                        "id=\"approve-%" PRId64 "\">Approve</button></form>"
                        "<form class=\"inline\" method=\"post\" action=\"/certsrv/officer\">",
                        id, id);
    web_csrf_field(w);
    evbuffer_add_printf(w->out,
                        "<input type=\"hidden\" name=\"id\" value=\"%" PRId64 "\">"
                        "<input type=\"text\" name=\"reason\" placeholder=\"reason\" "
                        "aria-label=\"reason for denial\">"
                        "<button class=\"small deny\" name=\"action\" value=\"deny\" "
                        "id=\"deny-%" PRId64 "\">Deny</button></form></td>",
                        id, id);
}

struct pending_ctx {
    struct web_req *w;
    ca_ctx *s;
    int n;
};

static cm_err pending_row(void *ctx, const struct ca_pending *p)
{
    struct pending_ctx *pc = ctx;
    struct web_req *w = pc->w;
    struct ca_request_info r;
    evbuffer_add_printf(w->out,
                        "<tr id=\"req-%" PRId64 "\"><td>%" PRId64 "</td><td class=\"when\">",
                        p->request_id, p->request_id);
    html_esc(w->out, p->submitted);
    evbuffer_add_printf(w->out, "</td><td>");
    html_esc(w->out, p->requester);
    evbuffer_add_printf(w->out, "</td><td>");
    html_esc(w->out, p->profile);
    evbuffer_add_printf(w->out, "</td><td class=\"subject\">");
    html_esc(w->out, p->subject);
    evbuffer_add_printf(w->out, "</td>");
    if (ca_request_info(&r, pc->s, p->request_id) == CM_OK) {
        csr_decoded(w, &r);
        ca_request_info_clear(&r);
    } else {
        cm_err_clear();
        evbuffer_add_printf(w->out, "<td></td><td></td>");
    }
    if (is_officer(w))
        decision_forms(w, p->request_id);
    evbuffer_add_printf(w->out, "</tr>\n");
    pc->n++;
    return CM_OK;
}

/* approve or deny: one core call; the result as a note above the list. */
static int decide(struct web_req *w, ca_ctx *s)
{
    const char *action = http_form_text(&w->form, "action");
    const char *reason = http_form_text(&w->form, "reason");
    int64_t id = web_param_id(&w->form, "id");
    struct ca_submission out;
    char msg[300];
    cm_err rc;

    memset(&out, 0, sizeof(out));
    if (!is_officer(w)) {
        web_fail(w, 403, "Forbidden", "approving and denying need the officer role");
        return 0;
    }
    if (id <= 0 || action == NULL ||
        (strcmp(action, "approve") != 0 && strcmp(action, "deny") != 0)) {
        web_fail(w, 400, "Bad Request", "the form needs an id and action approve or deny");
        return 0;
    }
    if (reason != NULL && strlen(reason) > 400) {
        web_fail(w, 400, "Bad Request", "reason: longer than 400 characters");
        return 0;
    }
    rc = strcmp(action, "approve") == 0 ? ca_approve(s, id, &out)
                                        : ca_deny(s, id, reason && reason[0] ? reason : NULL);
    if (rc != CM_OK) {
        snprintf(msg, sizeof(msg), "request %" PRId64 ": %s", id, cm_err_msg());
        cm_err_clear();
        web_fail(w,
                 rc == CM_ERR_STATE      ? 409
                 : rc == CM_ERR_NOTFOUND ? 404
                                         : 500,
                 rc == CM_ERR_STATE      ? "Conflict"
                 : rc == CM_ERR_NOTFOUND ? "Not Found"
                                         : "Internal Server Error",
                 msg);
        return 0;
    }
    web_begin(w, "Pending requests");
    if (out.disposition == DB_DISP_ISSUED)
        snprintf(msg, sizeof(msg), "Request %" PRId64 " approved: certificate %s issued.", id,
                 out.serial);
    else
        snprintf(msg, sizeof(msg), "Request %" PRId64 " %s.", id,
                 strcmp(action, "deny") == 0 ? "denied" : out.message);
    html_note(w->out, "ok", msg);
    ca_submission_clear(&out);
    return 1;
}

void web_page_pending(struct web_req *w)
{
    ca_ctx *s = session(w);
    struct pending_ctx pc = {w, s, 0};
    struct evbuffer *page = NULL, *rows = NULL;
    if (s == NULL)
        return;
    if (w->post && !decide(w, s))
        goto out;
    if (!w->post)
        web_begin(w, "Pending requests");
    /* The rows first, so that an empty list is a sentence, not a table. */
    page = w->out;
    if ((w->out = evbuffer_new()) == NULL) {
        w->out = page;
        html_note(w->out, "error", "out of memory");
    } else {
        if (ca_pending_list(s, pending_row, &pc) != CM_OK)
            note_err(w, "pending requests");
        rows = w->out;
        w->out = page;
    }
    if (pc.n > 0)
        evbuffer_add_printf(w->out,
                            "<table id=\"pending\"><tr><th>Request</th><th>Submitted</th>"
                            "<th>Requester</th><th>Profile</th><th>Subject</th>"
                            "<th>Alternative names</th><th>Key</th>%s</tr>\n",
                            is_officer(w) ? "<th>Decision</th>" : "");
    if (rows != NULL)
        evbuffer_add_buffer(w->out, rows);
    if (pc.n > 0)
        evbuffer_add_printf(w->out, "</table>\n");
    else
        evbuffer_add_printf(w->out, "<p class=\"muted\">No request is waiting.</p>\n");
    html_end(w->out);
    web_send(w, 200, "OK");
out:
    if (rows != NULL)
        evbuffer_free(rows);
    ca_session_close(s);
}

/* ---- search (the restriction syntax of `certmint view`) ---- */

/* One CSV field (RFC 4180) from *p: unquoted, or quoted with "" for ".
 * Returns the end of the record reached (1) or not (0). */
static int csv_field(struct evbuffer *b, const char **p, const char *end)
{
    const char *s = *p;
    if (s < end && *s == '"') {
        const char *run = ++s;
        while (s < end) {
            if (*s == '"' && s + 1 < end && s[1] == '"') {
                html_escn(b, run, (size_t)(s + 1 - run));
                s += 2;
                run = s;
            } else if (*s == '"') {
                html_escn(b, run, (size_t)(s - run));
                s++;
                break;
            } else {
                s++;
            }
        }
        if (s >= end && run < end && s[-1] != '"')
            html_escn(b, run, (size_t)(end - run));
    } else {
        const char *f = s;
        while (s < end && *s != ',' && *s != '\r' && *s != '\n')
            s++;
        html_escn(b, f, (size_t)(s - f));
    }
    if (s < end && *s == ',') {
        *p = s + 1;
        return 0;
    }
    while (s < end && (*s == '\r' || *s == '\n'))
        s++;
    *p = s;
    return 1;
}

/* The CSV of ca_view as an HTML table (the first record is the header). */
static size_t csv_table(struct evbuffer *b, const char *csv, size_t len)
{
    const char *p = csv, *end = csv + len;
    size_t rows = 0;
    evbuffer_add_printf(b, "<table id=\"results\">");
    while (p < end) {
        const char *cell = rows == 0 ? "th" : "td";
        evbuffer_add_printf(b, "<tr><%s>", cell);
        while (!csv_field(b, &p, end))
            evbuffer_add_printf(b, "</%s><%s>", cell, cell);
        evbuffer_add_printf(b, "</%s></tr>\n", cell);
        rows++;
    }
    evbuffer_add_printf(b, "</table>\n");
    return rows ? rows - 1 : 0;
}

static void search_run(struct web_req *w, ca_ctx *s, const char *q)
{
    ca_view_query *vq = NULL;
    char *buf = NULL;
    size_t len = 0, rows;
    FILE *f = NULL;
    cm_err rc;

    if ((rc = ca_view_query_new(&vq)) != CM_OK || (rc = ca_view_set_format(vq, "csv")) != CM_OK ||
        (q[0] != '\0' && (rc = ca_view_set_restrict(vq, q)) != CM_OK)) {
        note_err(w, "restriction");
        goto out;
    }
    ca_view_set_limit(vq, 500);
    if ((f = open_memstream(&buf, &len)) == NULL || ca_view(f, s, vq) != CM_OK) {
        note_err(w, "search");
        goto out;
    }
    fclose(f);
    f = NULL;
    rows = csv_table(w->out, buf, len);
    evbuffer_add_printf(w->out, "<p class=\"muted\">%zu row(s)%s.</p>\n", rows,
                        rows >= 500 ? ", the first 500" : "");
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    ca_view_query_free(vq);
}

void web_page_search(struct web_req *w)
{
    const char *q = http_form_text(&w->q, "q");
    ca_ctx *s = session(w);
    if (s == NULL)
        return;
    web_begin(w, "Search certificates and requests");
    evbuffer_add_printf(w->out, "<form class=\"card\" method=\"get\" "
                                "action=\"/certsrv/officer/search\"><label for=\"q\">Restriction "
                                "(as <code>certmint view --restrict</code>, e.g. "
                                "<code>Disposition=issued,NotAfter&lt;now+30d</code>)</label>"
                                "<input type=\"text\" id=\"q\" name=\"q\" value=\"");
    html_esc(w->out, q);
    evbuffer_add_printf(w->out, "\"><button type=\"submit\">Search</button></form>\n");
    if (q != NULL)
        search_run(w, s, q);
    html_end(w->out);
    web_send(w, 200, "OK");
    ca_session_close(s);
}

/* ---- revoke ---- */

static void revoke_form(struct web_req *w)
{
    static const char *reasons[] = {
        "unspecified",          "keyCompromise",   "affiliationChanged", "superseded",
        "cessationOfOperation", "certificateHold", "privilegeWithdrawn"};
    const char *serial = http_form_text(&w->q, "serial");
    evbuffer_add_printf(w->out, "<form class=\"card\" method=\"post\" "
                                "action=\"/certsrv/officer/revoke\">");
    web_csrf_field(w);
    evbuffer_add_printf(w->out, "<label for=\"serial\">Serial number (hex)</label>"
                                "<input type=\"text\" id=\"serial\" name=\"serial\" value=\"");
    html_esc(w->out, serial);
    evbuffer_add_printf(w->out, "\"><label for=\"reason\">Reason (RFC 5280 5.3.1)</label>"
                                "<select id=\"reason\" name=\"reason\">");
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        evbuffer_add_printf(w->out, "<option>%s</option>", reasons[i]);
    evbuffer_add_printf(w->out, "</select><div><button class=\"deny\" type=\"submit\">Revoke"
                                "</button></div></form>\n");
}

static int revoke_do(struct web_req *w, ca_ctx *s)
{
    const char *serial = http_form_text(&w->form, "serial");
    const char *reason = http_form_text(&w->form, "reason");
    int code;
    char msg[300];
    cm_err rc;

    if (serial == NULL || reason == NULL || serial[0] == '\0') {
        web_fail(w, 400, "Bad Request", "the form needs a serial number and a reason");
        return 0;
    }
    if ((code = db_reason_parse(reason)) < 0) {
        snprintf(msg, sizeof(msg), "reason: %s", cm_err_msg());
        cm_err_clear();
        web_fail(w, 400, "Bad Request", msg);
        return 0;
    }
    if ((rc = ca_revoke(s, &serial, 1, code, 0, 0)) != CM_OK) {
        snprintf(msg, sizeof(msg), "%s", cm_err_msg());
        cm_err_clear();
        web_fail(w,
                 rc == CM_ERR_INVALID    ? 400
                 : rc == CM_ERR_NOTFOUND ? 404
                                         : 409,
                 rc == CM_ERR_INVALID    ? "Bad Request"
                 : rc == CM_ERR_NOTFOUND ? "Not Found"
                                         : "Conflict",
                 msg);
        return 0;
    }
    web_begin(w, "Revoke a certificate");
    snprintf(msg, sizeof(msg),
             "Certificate %s revoked (%s). It is on the next CRL; OCSP "
             "answers revoked at once.",
             serial, db_reason_name(code));
    html_note(w->out, "ok", msg);
    return 1;
}

void web_page_revoke(struct web_req *w)
{
    ca_ctx *s = NULL;
    if (w->post && !is_officer(w)) {
        web_fail(w, 403, "Forbidden", "revoking needs the officer role");
        return;
    }
    if ((s = session(w)) == NULL)
        return;
    if (w->post && !revoke_do(w, s))
        goto out;
    if (!w->post)
        web_begin(w, "Revoke a certificate");
    if (is_officer(w))
        revoke_form(w);
    else
        evbuffer_add_printf(w->out, "<p class=\"muted\">Revoking needs the officer role.</p>\n");
    html_end(w->out);
    web_send(w, 200, "OK");
out:
    ca_session_close(s);
}

/* ---- CRL ---- */

void web_page_crl(struct web_req *w)
{
    ca_ctx *s = NULL;
    struct crl_result r;
    char msg[300];
    int delta = 0;

    if (w->post && !is_officer(w)) {
        web_fail(w, 403, "Forbidden", "publishing a CRL needs the officer role");
        return;
    }
    if ((s = session(w)) == NULL)
        return;
    web_begin(w, "Certificate revocation list");
    if (w->post) {
        const char *kind = http_form_text(&w->form, "kind");
        delta = kind != NULL && strcmp(kind, "delta") == 0;
        memset(&r, 0, sizeof(r));
        if (crl_publish(&r, s, delta) != CM_OK) {
            note_err(w, "CRL not published");
        } else {
            snprintf(msg, sizeof(msg),
                     "%s CRL number %" PRId64 " published with %" PRId64
                     " entr%s; it is served from the next tick of serve.",
                     delta ? "Delta" : "Full", r.number, r.entries, r.entries == 1 ? "y" : "ies");
            html_note(w->out, "ok", msg);
        }
    }
    evbuffer_add_printf(w->out,
                        "<p class=\"links\">Current: <a href=\"/crl/%s.crl\">full CRL</a>"
                        "<a href=\"/crl/%s-delta.crl\">delta CRL</a></p>\n",
                        w->c->srv->ca_name, w->c->srv->ca_name);
    if (is_officer(w)) {
        evbuffer_add_printf(w->out, "<form class=\"card\" method=\"post\" "
                                    "action=\"/certsrv/officer/crl\">");
        web_csrf_field(w);
        evbuffer_add_printf(w->out, "<label for=\"kind\">Kind</label><select id=\"kind\" "
                                    "name=\"kind\"><option value=\"full\">full CRL</option>"
                                    "<option value=\"delta\">delta CRL</option></select>"
                                    "<div><button type=\"submit\">Publish now</button></div>"
                                    "</form>\n");
    }
    html_end(w->out);
    web_send(w, 200, "OK");
    ca_session_close(s);
}
