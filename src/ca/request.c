/* The request lifecycle: submit (single and batch), approve, deny, retrieve.
 * Every state change is one transaction that also writes the audit record
 * and the exit-module event. */
#include "ca/issue_int.h"

#include "ca/name.h"
#include "exit/exit.h"
#include "util/log.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void cert_fields_free(struct db_cert *c)
{
    free(c->dn);
    free(c->cn);
    free(c->email);
    free(c->san);
    free(c->hash);
    free(c->ski);
    memset(c, 0, sizeof(*c));
}

static int strict_mode(const ca_ctx *ca)
{
    const struct config_key *k = config_schema_find("audit.require_offbox");
    return k != NULL && config_get_bool(ca->cfg, "audit.require_offbox");
}

cm_err issue_record(ca_ctx *ca, int64_t request_id, const char *profile, X509 *x,
                    unsigned char **der_out, size_t *der_len, char serial_out[CM_SERIAL_BUF],
                    int origin)
{
    cm_err rc = CM_OK;
    struct db_cert c;
    unsigned char *der = NULL;
    int len;

    memset(&c, 0, sizeof(c));
    len = i2d_X509(x, &der);
    if (len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate");
    CM_TRY(ca_cert_describe(&c, x));
    c.request_id = request_id;
    c.origin = origin;
    c.template_name = (char *)profile;
    c.raw = der;
    c.raw_len = (size_t)len;
    c.revoked_reason = DB_REASON_NONE;
    /* Strict audit mode: the certificate is withheld until an off-box exit
     * module has acknowledged its CERTISSUED event. */
    c.withheld = origin == DB_ORIGIN_ISSUED && strict_mode(ca);
    CM_TRY(db_cert_insert(ca->db, &c));
    CM_TRY(exit_raise(ca->db, origin == DB_ORIGIN_ISSUED ? EXIT_EV_CERTISSUED : EXIT_EV_CERTIMPORTED,
                      request_id, c.serial, NULL));
    CM_TRY(ca_audit(ca, origin == DB_ORIGIN_ISSUED ? "issue" : "import", request_id, c.serial,
                    c.dn));
    snprintf(serial_out, CM_SERIAL_BUF, "%s", c.serial);
    if (der_out != NULL && !c.withheld) {
        *der_out = der;
        *der_len = (size_t)len;
        der = NULL;
    }
out:
    c.template_name = NULL;
    c.raw = NULL;
    cert_fields_free(&c);
    OPENSSL_free(der);
    return rc;
}

void ca_submission_clear(struct ca_submission *s)
{
    if (s == NULL)
        return;
    OPENSSL_free(s->cert_der);
    s->cert_der = NULL;
    s->cert_der_len = 0;
}

/* Decides and records one parsed request in the current transaction. */
static cm_err submit_one(ca_ctx *ca, const struct profile *p, const struct csr *c,
                         struct ca_submission *s, const char *requester)
{
    cm_err rc = CM_OK;
    struct db_request r;
    X509 *x = NULL;
    char *dn = NULL;
    int ev;
    cm_err why = CM_OK;

    memset(&r, 0, sizeof(r));
    CM_TRY(name_to_string(&dn, c->subject));
    r.requester_name = (char *)requester;
    r.submitted_when = (int64_t)time(NULL);
    r.template_name = (char *)p->name;
    r.request_dn = dn;
    r.raw_request = c->der;
    r.raw_request_len = c->der_len;
    if (p->manual) {
        r.disposition = DB_DISP_PENDING;
        snprintf(s->message, sizeof(s->message), "Taken under submission");
    } else {
        why = issue_sign(&x, ca, p, c);
        if (why == CM_ERR_POLICY || why == CM_ERR_LINT) {
            r.disposition = DB_DISP_DENIED;
            snprintf(s->message, sizeof(s->message), "Denied by policy: %s", cm_err_msg());
        } else if (why != CM_OK) {
            rc = why;
            goto out;
        } else {
            r.disposition = DB_DISP_ISSUED;
            snprintf(s->message, sizeof(s->message), "Issued");
        }
        r.resolved_when = r.submitted_when;
    }
    r.disposition_message = s->message;
    CM_TRY(db_request_insert(ca->db, &r));
    s->request_id = r.request_id;
    s->disposition = r.disposition;
    switch (r.disposition) {
    case DB_DISP_ISSUED:
        CM_TRY(issue_record(ca, r.request_id, p->name, x, &s->cert_der, &s->cert_der_len,
                            s->serial, DB_ORIGIN_ISSUED));
        ev = 0;
        break;
    case DB_DISP_PENDING:
        ev = EXIT_EV_CERTPENDING;
        CM_TRY(ca_audit(ca, "submit", r.request_id, NULL, "pending"));
        break;
    default:
        ev = EXIT_EV_CERTDENIED;
        CM_TRY(ca_audit(ca, "deny", r.request_id, NULL, s->message));
        break;
    }
    if (ev != 0)
        CM_TRY(exit_raise(ca->db, ev, r.request_id, NULL, NULL));
out:
    free(dn);
    X509_free(x);
    return rc;
}

cm_err ca_submit(ca_ctx *ca, struct ca_submission *subs, size_t n,
                 const struct ca_submit_opts *o)
{
    cm_err rc = CM_OK;
    struct profile *p = NULL;
    struct csr **csrs = NULL;
    size_t i, start, group;
    long long g = 512;

    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "submit: no request given");
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "this CA has no certificate yet (install-ca-cert)");
    CM_TRY(profile_load(&p, ca->cfg, o->profile ? o->profile : "tls-server"));
    /* Bad input changes nothing: every request is parsed and its signature
     * verified before the first is recorded. */
    csrs = calloc(n, sizeof(*csrs));
    CM_NOMEM_IF(csrs == NULL);
    for (i = 0; i < n; i++) {
        subs[i].err = csr_parse(&csrs[i], subs[i].csr, subs[i].csr_len,
                                subs[i].source ? subs[i].source : "request");
        if (subs[i].err != CM_OK) {
            rc = subs[i].err;
            goto out;
        }
    }
    if (!p->manual)
        CM_TRY(ca_load_key(ca));
    group = o->group;
    if (group == 0) {
        if (config_get_int(ca->cfg, "submit.batch_group", &g) != CM_OK || g < 1)
            g = 512;
        group = (size_t)g;
    }
    for (start = 0; start < n; start += group) {
        size_t end = start + group < n ? start + group : n;
        CM_TRY(db_begin(ca->db));
        for (i = start; i < end; i++) {
            rc = submit_one(ca, p, csrs[i], &subs[i], o->requester ? o->requester : ca->operator_name);
            if (rc != CM_OK)
                break;
        }
        if (rc == CM_OK)
            rc = db_commit(ca->db);
        if (rc != CM_OK) {
            db_rollback(ca->db);
            /* Nothing of this group was stored. */
            for (i = start; i < end; i++) {
                ca_submission_clear(&subs[i]);
                subs[i].request_id = 0;
                subs[i].disposition = 0;
                subs[i].serial[0] = '\0';
            }
            goto out;
        }
        /* Free the parsed requests of this group early: batches can be big. */
        for (i = start; i < end; i++) {
            csr_free(csrs[i]);
            csrs[i] = NULL;
        }
    }
out:
    if (csrs != NULL)
        for (i = 0; i < n; i++)
            csr_free(csrs[i]);
    free(csrs);
    profile_free(p);
    return rc;
}

static cm_err load_pending(struct db_request **out, ca_ctx *ca, int64_t id)
{
    cm_err rc = db_request_get(ca->db, out, id);
    if (rc == CM_ERR_NOTFOUND)
        return cm_err_set(CM_ERR_NOTFOUND, "request %lld: no such request", (long long)id);
    if (rc != CM_OK)
        return rc;
    if ((*out)->disposition != DB_DISP_PENDING) {
        int d = (*out)->disposition;
        db_request_free(*out);
        *out = NULL;
        return cm_err_set(CM_ERR_STATE, "request %lld is not pending (it is %s)", (long long)id,
                          db_disposition_name(d));
    }
    return CM_OK;
}

cm_err ca_approve(ca_ctx *ca, int64_t request_id, struct ca_submission *out)
{
    cm_err rc = CM_OK;
    struct db_request *r = NULL;
    struct profile *p = NULL;
    struct csr *c = NULL;
    X509 *x = NULL;
    cm_err why;
    int in_tx = 0;

    memset(out, 0, sizeof(*out));
    out->request_id = request_id;
    CM_TRY(load_pending(&r, ca, request_id));
    CM_TRY(profile_load(&p, ca->cfg, r->template_name));
    CM_TRY(csr_parse(&c, r->raw_request, r->raw_request_len, "stored request"));
    CM_TRY(ca_load_key(ca));
    CM_TRY(db_begin(ca->db));
    in_tx = 1;
    why = issue_sign(&x, ca, p, c);
    if (why == CM_ERR_POLICY || why == CM_ERR_LINT) {
        /* The profile may have changed since submission: deny with the reason. */
        snprintf(out->message, sizeof(out->message), "Denied by policy: %s", cm_err_msg());
        out->disposition = DB_DISP_DENIED;
        CM_TRY(db_request_resolve(ca->db, request_id, DB_DISP_DENIED, out->message,
                                  (int64_t)time(NULL)));
        CM_TRY(exit_raise(ca->db, EXIT_EV_CERTDENIED, request_id, NULL, NULL));
        CM_TRY(ca_audit(ca, "deny", request_id, NULL, out->message));
    } else if (why != CM_OK) {
        rc = why;
        goto out;
    } else {
        snprintf(out->message, sizeof(out->message), "Issued (approved by %s)", ca->operator_name);
        out->disposition = DB_DISP_ISSUED;
        CM_TRY(db_request_resolve(ca->db, request_id, DB_DISP_ISSUED, out->message,
                                  (int64_t)time(NULL)));
        CM_TRY(issue_record(ca, request_id, p->name, x, &out->cert_der, &out->cert_der_len,
                            out->serial, DB_ORIGIN_ISSUED));
    }
    CM_TRY(db_commit(ca->db));
    in_tx = 0;
out:
    if (in_tx) {
        db_rollback(ca->db);
        ca_submission_clear(out);
    }
    X509_free(x);
    csr_free(c);
    profile_free(p);
    db_request_free(r);
    return rc;
}

cm_err ca_deny(ca_ctx *ca, int64_t request_id, const char *reason)
{
    cm_err rc = CM_OK;
    struct db_request *r = NULL;
    char msg[512];

    CM_TRY(load_pending(&r, ca, request_id));
    snprintf(msg, sizeof(msg), "Denied by %s%s%s", ca->operator_name, reason ? ": " : "",
             reason ? reason : "");
    CM_TRY(db_begin(ca->db));
    rc = db_request_resolve(ca->db, request_id, DB_DISP_DENIED, msg, (int64_t)time(NULL));
    if (rc == CM_OK)
        rc = exit_raise(ca->db, EXIT_EV_CERTDENIED, request_id, NULL, NULL);
    if (rc == CM_OK)
        rc = ca_audit(ca, "deny", request_id, NULL, msg);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
out:
    db_request_free(r);
    return rc;
}

cm_err ca_retrieve(ca_ctx *ca, int64_t request_id, unsigned char **der, size_t *len)
{
    cm_err rc = CM_OK;
    struct db_request *r = NULL;
    struct db_cert *c = NULL;

    *der = NULL;
    *len = 0;
    rc = db_request_get(ca->db, &r, request_id);
    if (rc == CM_ERR_NOTFOUND)
        return cm_err_set(CM_ERR_NOTFOUND, "request %lld: no such request", (long long)request_id);
    if (rc != CM_OK)
        return rc;
    if (r->disposition == DB_DISP_PENDING)
        CM_FAIL(CM_ERR_STATE, "request %lld is still pending", (long long)request_id);
    if (r->disposition == DB_DISP_DENIED || r->disposition == DB_DISP_FAILED)
        CM_FAIL(CM_ERR_STATE, "request %lld was %s: %s", (long long)request_id,
                db_disposition_name(r->disposition),
                r->disposition_message ? r->disposition_message : "");
    rc = db_cert_get_by_request(ca->db, &c, request_id);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_NOTFOUND, "request %lld has no certificate", (long long)request_id);
    if (rc != CM_OK)
        goto out;
    if (c->raw == NULL)
        CM_FAIL(CM_ERR_NOTFOUND, "request %lld: only a placeholder is recorded for serial %s",
                (long long)request_id, c->serial);
    if (c->withheld)
        CM_FAIL(CM_ERR_WITHHELD,
                "request %lld: certificate %s is withheld until its off-box audit record is "
                "acknowledged (audit.require_offbox); try again after 'certmint exit flush'",
                (long long)request_id, c->serial);
    CM_TRY(db_begin(ca->db));
    rc = exit_raise(ca->db, EXIT_EV_CERTRETRIEVEPENDING, request_id, c->serial, NULL);
    if (rc == CM_OK)
        rc = ca_audit(ca, "retrieve", request_id, c->serial, NULL);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK) {
        db_rollback(ca->db);
        goto out;
    }
    *der = c->raw;
    *len = c->raw_len;
    c->raw = NULL;
out:
    db_cert_free(c);
    db_request_free(r);
    return rc;
}
