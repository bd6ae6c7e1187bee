/* /certsrv/token: redeeming a one-time enrollment token on the web
 * (issue 12, docs/tokens.md; issue 11 "the one-time token ... issues at once
 * within the token's binding"). Open to anonymous browsers: the token is
 * the authentication, the CSRF token (web.c) guards the form as on every
 * other page. One core call, ca_token_redeem_x, with the browser's address
 * for the per-address failure limit; the result page is the request page's
 * (issued with the download links, or denied with the reason). */
#include "http/web.h"

#include "http/html.h"
#include "util/log.h"

#include <event2/http.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static void token_form(struct web_req *w)
{
    evbuffer_add_printf(w->out, "<form class=\"card\" method=\"post\" action=\"/certsrv/token\" "
                                "enctype=\"multipart/form-data\">");
    web_csrf_field(w);
    evbuffer_add_printf(
        w->out,
        "<label for=\"token\">Enrollment token (from the mail you were sent: "
        "<code>cmt1.&hellip;</code>)</label>"
        "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" "
        "spellcheck=\"false\">"
        "<label for=\"csr\">Certificate signing request (PEM, "
        "<code>-----BEGIN CERTIFICATE REQUEST-----</code>)</label>"
        "<textarea id=\"csr\" name=\"csr\" spellcheck=\"false\"></textarea>"
        "<label for=\"csrfile\">or upload a file (PEM or DER)</label>"
        "<input type=\"file\" id=\"csrfile\" name=\"csrfile\">"
        "<label for=\"archive\">Key archival (only when the token is for an encryption "
        "certificate that archives keys): your private key (PKCS#8) in a CMS envelope to the "
        "CA's key-transport certificate, DER or PEM</label>"
        "<input type=\"file\" id=\"archive\" name=\"archive\">"
        "<div><button type=\"submit\" id=\"submit\">Redeem the token</button></div>"
        "</form>\n<p class=\"muted\">The token decides the profile, the subject and the "
        "e-mail address of the certificate; it can be used once. Enveloping a key for "
        "archival: <code>openssl pkcs8 -topk8 -nocrypt -in my.key -outform DER | openssl "
        "cms -encrypt -binary -aes-256-gcm -outform DER -out my.p7m transport.pem</code> "
        "(<a href=\"/api/v1/kra/transport-certificate\" id=\"transport\">the CA's "
        "key-transport certificate</a>)</p>\n");
}

/* A failed redemption: 429 over the address limit, 403 a refused token,
 * else by the core's error (the token is given back in those cases). */
static void token_fail(struct web_req *w, cm_err rc, const struct ca_token_redeem_opts *o)
{
    char msg[700], after[32];
    int code = o->retry_after > 0      ? 429
               : o->refused            ? 403
               : rc == CM_ERR_INVALID  ? 400
               : rc == CM_ERR_POLICY   ? 422
               : rc == CM_ERR_LINT     ? 422
               : rc == CM_ERR_STATE    ? 409
               : rc == CM_ERR_WITHHELD ? 409
                                       : 500;
    const char *reason = code == 429   ? "Too Many Requests"
                         : code == 403 ? "Forbidden"
                         : code == 400 ? "Bad Request"
                         : code == 422 ? "Unprocessable Content"
                         : code == 409 ? "Conflict"
                                       : "Internal Server Error";

    if (code == 500) {
        log_error("certsrv token: %s", cm_err_msg());
        snprintf(msg, sizeof(msg), "internal error (logged by the server)");
    } else {
        snprintf(msg, sizeof(msg), "%s: %s", o->refused ? "token refused" : "not accepted",
                 cm_err_msg());
    }
    cm_err_clear();
    if (code == 429) {
        snprintf(after, sizeof(after), "%lld", (long long)o->retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(w->req), "Retry-After", after);
    }
    web_fail(w, code, reason, msg);
}

static void token_submit(struct web_req *w, ca_ctx *s)
{
    const struct form_field *f = web_form_csr(w), *env = http_form_get(&w->form, "archive");
    const char *tok = http_form_text(&w->form, "token");
    char addr[64];
    struct ca_token_redeem_opts o = {NULL, NULL, 0, 0};
    struct ca_submission sub;
    cm_err rc;

    memset(&sub, 0, sizeof(sub));
    if (tok == NULL || tok[0] == '\0' || f == NULL) {
        web_fail(w, 400, "Bad Request",
                 "paste the token from your mail, and a certificate request or choose a file");
        return;
    }
    sub.source = f->filename[0] ? f->filename : "web form";
    if (env != NULL && env->len > 0) {
        sub.archive_env = env->value;
        sub.archive_env_len = env->len;
    }
    http_peer_addr(addr, sizeof(addr), w->req);
    o.client_addr = addr;
    rc = ca_token_redeem_x(&sub, s, tok, f->value, f->len, &o);
    if (rc == CM_OK)
        rc = sub.err;
    if (rc != CM_OK)
        token_fail(w, rc, &o);
    else
        web_submission_result(w, &sub);
    ca_submission_clear(&sub);
}

void web_page_token(struct web_req *w)
{
    ca_ctx *s = NULL;
    if (http_session_open(&s, w->c, &w->p) != CM_OK) {
        char msg[300];
        snprintf(msg, sizeof(msg), "the CA is not available: %s", cm_err_msg());
        cm_err_clear();
        web_fail(w, 503, "Service Unavailable", msg);
        return;
    }
    if (w->post) {
        token_submit(w, s);
    } else {
        web_begin(w, "Redeem an enrollment token");
        token_form(w);
        html_end(w->out);
        web_send(w, 200, "OK");
    }
    /* The token is a credential: not left in freed memory. */
    {
        const struct form_field *t = http_form_get(&w->form, "token");
        if (t != NULL)
            OPENSSL_cleanse(t->value, t->len);
    }
    ca_session_close(s);
}
