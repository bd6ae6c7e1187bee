/* Revocation (RFC 5280 5.3.1 reasons), release from hold, and the recovery
 * primitives for certificates the database lacks: import of a certificate
 * this CA signed, and placeholders for bare serial numbers. */
#include "ca/issue_int.h"

#include "ca/name.h"
#include "exit/exit.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

cm_err ca_revoke(ca_ctx *ca, const char *const *serials, size_t n, int reason, int64_t effective,
                 int64_t invalidity)
{
    cm_err rc = CM_OK;
    int64_t now = (int64_t)time(NULL), seq;
    char canon[CM_SERIAL_BUF];
    char payload[128];
    struct db_cert *c = NULL;
    size_t i;

    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "revoke: no serial number given");
    /* RFC 5280 5.3.1: removeFromCRL (8) only appears in delta CRLs; it is
     * not a reason to revoke with. */
    if (reason < 0 || reason == 7 || reason == DB_REASON_REMOVE_FROM_CRL || reason > 10)
        return cm_err_set(CM_ERR_INVALID, "revoke: reason %d is not a revocation reason", reason);
    if (effective == 0)
        effective = now;
    if (invalidity != 0 && invalidity > now)
        return cm_err_set(CM_ERR_INVALID, "revoke: invalidity date is in the future");
    CM_TRY(db_begin(ca->db));
    for (i = 0; i < n; i++) {
        CM_TRY(text_serial_canon(canon, serials[i]));
        rc = db_cert_get(ca->db, &c, canon);
        if (rc == CM_ERR_NOTFOUND)
            CM_FAIL(CM_ERR_NOTFOUND,
                    "serial %s: no such certificate in this CA's database (record it with "
                    "'certmint import-cert' or 'certmint placeholder')",
                    canon);
        if (rc != CM_OK)
            goto out;
        if (c->revoked_reason != DB_REASON_NONE && c->revoked_reason != DB_REASON_HOLD)
            CM_FAIL(CM_ERR_STATE, "serial %s: already revoked (%s)", canon,
                    db_reason_name(c->revoked_reason));
        CM_TRY(db_counter_next(ca->db, &seq, "rev_seq"));
        CM_TRY(db_cert_revoke(ca->db, canon, reason, now, effective, invalidity, seq));
        snprintf(payload, sizeof(payload), "{\"reason\":%d,\"effective\":%lld}", reason,
                 (long long)effective);
        /* The RequestID goes into the mail: a placeholder recovered from it
         * keeps the certificate's RequestID. */
        CM_TRY(exit_raise(ca->db, EXIT_EV_CERTREVOKED, c->request_id, canon, payload));
        CM_TRY(ca_audit(ca, "revoke", c->request_id, canon, db_reason_name(reason)));
        db_cert_free(c);
        c = NULL;
    }
    CM_TRY(db_commit(ca->db));
out:
    db_cert_free(c);
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}

cm_err ca_unrevoke(ca_ctx *ca, const char *serial)
{
    cm_err rc = CM_OK;
    char canon[CM_SERIAL_BUF];
    struct db_cert *c = NULL;
    int64_t seq;

    CM_TRY(text_serial_canon(canon, serial));
    CM_TRY(db_begin(ca->db));
    rc = db_cert_get(ca->db, &c, canon);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_NOTFOUND, "serial %s: no such certificate", canon);
    if (rc != CM_OK)
        goto out;
    if (c->revoked_reason == DB_REASON_NONE)
        CM_FAIL(CM_ERR_STATE, "serial %s: not revoked", canon);
    if (c->revoked_reason != DB_REASON_HOLD)
        CM_FAIL(CM_ERR_STATE,
                "serial %s: revoked for %s, which is final; only certificateHold can be released",
                canon, db_reason_name(c->revoked_reason));
    CM_TRY(db_counter_next(ca->db, &seq, "rev_seq"));
    CM_TRY(db_cert_unrevoke(ca->db, canon, (int64_t)time(NULL), seq));
    CM_TRY(exit_raise(ca->db, EXIT_EV_CERTUNREVOKED, c->request_id, canon, NULL));
    CM_TRY(ca_audit(ca, "unrevoke", c->request_id, canon, NULL));
    CM_TRY(db_commit(ca->db));
out:
    db_cert_free(c);
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}

/* A request row for a certificate that arrived without one (import,
 * placeholder), so that every certificate has a RequestID as in AD CS.
 * request_id > 0 keeps the RequestID the audit trail gave it. */
static cm_err foreign_request(int64_t *id, ca_ctx *ca, int64_t request_id, const char *dn,
                              const char *profile, const char *message, const char *recovered_from)
{
    struct db_request r;
    cm_err rc;

    memset(&r, 0, sizeof(r));
    r.request_id = request_id;
    r.requester_name = (char *)ca->operator_name;
    r.submitted_when = r.resolved_when = (int64_t)time(NULL);
    r.disposition = DB_DISP_FOREIGN;
    r.disposition_message = (char *)message;
    r.template_name = (char *)profile;
    r.request_dn = (char *)dn;
    r.recovered_from = (char *)recovered_from;
    rc = db_request_insert(ca->db, &r);
    if (rc == CM_ERR_EXISTS && request_id > 0) {
        /* The ID is taken by another request: keep the certificate, give
         * it a fresh ID (the trail's ID stays in RecoveredFrom's message). */
        r.request_id = 0;
        rc = db_request_insert(ca->db, &r);
    }
    *id = r.request_id;
    return rc;
}

static char *template_of(X509 *x)
{
    /* The profile a certmint certificate was issued under is not in the
     * certificate; record what its extended key usage says. */
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    const char *t = NULL;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    if (bc != NULL && bc->ca)
        t = "subca";
    for (int i = 0; t == NULL && eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
        switch (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i))) {
        case NID_server_auth:
            t = "tls-server";
            break;
        case NID_email_protect:
            t = "smime";
            break;
        case NID_client_auth:
            t = "tls-client";
            break;
        }
    }
    BASIC_CONSTRAINTS_free(bc);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return t ? strdup(t) : NULL;
}

cm_err ca_check_signed_here(ca_ctx *ca, X509 *x, const char *what)
{
    EVP_PKEY *capub;
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "this CA has no certificate yet");
    /* Only certificates this CA signed: issuer name and signature. */
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca->cert)) != 0)
        return cm_err_set(CM_ERR_INVALID, "%s: not issued by this CA (issuer differs)", what);
    capub = X509_get0_pubkey(ca->cert);
    if (capub == NULL)
        return cm_err_ossl(CM_ERR_CRYPTO, "this CA's public key cannot be read");
    switch (X509_verify(x, capub)) {
    case 1:
        return CM_OK;
    case 0:
        /* A clean mismatch: OpenSSL's queue holds nothing worth showing. */
        ERR_clear_error();
        return cm_err_set(CM_ERR_INVALID, "%s: signature does not verify with this CA's key", what);
    default:
        return cm_err_ossl(CM_ERR_INVALID, "%s: signature cannot be checked with this CA's key",
                           what);
    }
}

static cm_err fill_placeholder(ca_ctx *ca, X509 *x, const char *tmpl, const char *recovered_from,
                               int64_t request_id)
{
    cm_err rc = CM_OK;
    struct db_cert c;
    unsigned char *der = NULL;
    int len;

    memset(&c, 0, sizeof(c));
    len = i2d_X509(x, &der);
    if (len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate");
    c.raw = der;
    c.raw_len = (size_t)len;
    CM_TRY(ca_cert_describe(&c, x));
    c.template_name = (char *)tmpl;
    c.recovered_from = (char *)recovered_from;
    CM_TRY(db_cert_fill_placeholder(ca->db, &c));
    CM_TRY(exit_raise(ca->db, EXIT_EV_CERTIMPORTED, request_id, c.serial,
                      "{\"placeholder_filled\":true}"));
    CM_TRY(ca_audit(ca, "import", request_id, c.serial, "placeholder filled with the certificate"));
out:
    c.raw = NULL;
    c.template_name = NULL;
    c.recovered_from = NULL;
    db_cert_clear(&c);
    OPENSSL_free(der);
    return rc;
}

cm_err ca_import_cert_in_tx(ca_ctx *ca, X509 *x, int64_t request_id, const char *profile,
                            const char *what, const char *recovered_from,
                            char serial_out[CM_SERIAL_BUF])
{
    cm_err rc = CM_OK;
    struct db_cert *existing = NULL;
    char serial[CM_SERIAL_BUF];
    char *dn = NULL, *tmpl = NULL;
    int64_t id = 0;
    const ASN1_INTEGER *sn;

    CM_TRY(ca_check_signed_here(ca, x, what));
    sn = X509_get0_serialNumber(x);
    if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER)
        CM_FAIL(CM_ERR_INVALID, "%s: negative serial number", what);
    CM_TRY(
        text_serial_from_bytes(serial, ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn)));
    CM_TRY(name_to_string(&dn, X509_get_subject_name(x)));
    tmpl = profile != NULL ? strdup(profile) : template_of(x);
    CM_NOMEM_IF(profile != NULL && tmpl == NULL);
    rc = db_cert_get(ca->db, &existing, serial);
    if (rc == CM_OK && existing->origin == DB_ORIGIN_PLACEHOLDER) {
        /* The real certificate of a serial recorded earlier without one:
         * the placeholder becomes it (its revocation state stays). */
        CM_TRY(fill_placeholder(ca, x, tmpl, recovered_from, existing->request_id));
        snprintf(serial_out, CM_SERIAL_BUF, "%s", serial);
        goto out;
    }
    if (rc == CM_OK)
        CM_FAIL(CM_ERR_EXISTS, "%s: serial %s is already in the database", what, serial);
    if (rc != CM_ERR_NOTFOUND)
        goto out;
    rc = CM_OK;
    CM_TRY(foreign_request(&id, ca, request_id, dn, tmpl,
                           recovered_from ? "Recovered from the audit trail" : "Imported",
                           recovered_from));
    CM_TRY(
        issue_record(ca, id, tmpl, x, NULL, NULL, serial_out, DB_ORIGIN_IMPORTED, recovered_from));
out:
    db_cert_free(existing);
    free(dn);
    free(tmpl);
    return rc;
}

cm_err ca_import_cert(ca_ctx *ca, const unsigned char *data, size_t len, const char *what,
                      const char *recovered_from, char serial_out[CM_SERIAL_BUF])
{
    cm_err rc = CM_OK;
    X509 *x = NULL;

    CM_TRY(ca_cert_parse(&x, data, len, what));
    CM_TRY(db_begin(ca->db));
    rc = ca_import_cert_in_tx(ca, x, 0, NULL, what, recovered_from, serial_out);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
out:
    X509_free(x);
    return rc;
}

cm_err ca_placeholder_in_tx(ca_ctx *ca, const char *serial, const char *subject, int64_t not_after,
                            int64_t request_id, const char *recovered_from)
{
    cm_err rc = CM_OK;
    struct db_cert c;
    struct db_cert *existing = NULL;
    X509_NAME *name = NULL;
    char *dn = NULL, *cn = NULL;
    int64_t id = 0;

    memset(&c, 0, sizeof(c));
    CM_TRY(text_serial_canon(c.serial, serial));
    if (subject != NULL && *subject != '\0') {
        CM_TRY(name_parse_dn(&name, subject));
        CM_TRY(name_to_string(&dn, name));
        CM_TRY(name_get_cn(&cn, name));
    }
    rc = db_cert_get(ca->db, &existing, c.serial);
    if (rc == CM_OK)
        CM_FAIL(CM_ERR_EXISTS, "serial %s is already in the database", c.serial);
    if (rc != CM_ERR_NOTFOUND)
        goto out;
    rc = CM_OK;
    CM_TRY(foreign_request(&id, ca, request_id, dn, NULL,
                           "Placeholder for a certificate missing from the database",
                           recovered_from));
    c.request_id = id;
    c.origin = DB_ORIGIN_PLACEHOLDER;
    c.not_after = not_after;
    c.dn = dn;
    c.cn = cn;
    c.revoked_reason = DB_REASON_NONE;
    c.recovered_from = (char *)recovered_from;
    CM_TRY(db_cert_insert(ca->db, &c));
    CM_TRY(exit_raise(ca->db, EXIT_EV_CERTIMPORTED, id, c.serial, "{\"placeholder\":true}"));
    CM_TRY(ca_audit(ca, "placeholder", id, c.serial, dn));
out:
    db_cert_free(existing);
    X509_NAME_free(name);
    free(dn);
    free(cn);
    return rc;
}

cm_err ca_placeholder(ca_ctx *ca, const char *serial, const char *subject, int64_t not_after,
                      const char *recovered_from)
{
    cm_err rc = db_begin(ca->db);
    if (rc != CM_OK)
        return rc;
    rc = ca_placeholder_in_tx(ca, serial, subject, not_after, 0, recovered_from);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}
