/* Revocation (RFC 5280 5.3.1 reasons), release from hold, and the recovery
 * primitives for certificates the database lacks: import of a certificate
 * this CA signed, and placeholders for bare serial numbers. */
#include "ca/issue_int.h"
#include "ca/ca_int.h"

#include "ca/name.h"
#include "event/event.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Last second that RFC 5280 4.1.2.5.2 GeneralizedTime can carry. */
#define REVOKE_TIME_MAX 253402300799LL

static void revoke_note(struct ca_revoke_report *rep, const char *serial, enum ca_revoke_note kind,
                        const char *msg)
{
    if (kind == CA_REVOKE_DUPLICATE)
        rep->duplicates++;
    else
        rep->refused++;
    if (rep->note != NULL)
        rep->note(rep->note_ctx, serial, kind, msg);
}

/* A single serial: its refusal is the error itself, one line. */
static void single_note(void *ctx, const char *serial, enum ca_revoke_note kind, const char *msg)
{
    cm_err *code = ctx;
    char copy[512]; /* msg may be the error buffer itself */

    (void)serial;
    snprintf(copy, sizeof(copy), "%s", msg);
    *code = kind == CA_REVOKE_BAD        ? CM_ERR_INVALID
            : kind == CA_REVOKE_NOTFOUND ? CM_ERR_NOTFOUND
                                         : CM_ERR_STATE;
    cm_err_set(*code, "%s", copy);
}

struct canon_ref {
    const char *canon;
    size_t index;
};

static int canon_ref_cmp(const void *a, const void *b)
{
    const struct canon_ref *x = a, *y = b;
    int c = strcmp(x->canon, y->canon);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Canonicalises every serial into canon (n * CM_SERIAL_BUF; "" for a bad
 * one, reported) and marks in dup[i] the entries that repeat an earlier
 * one ("0a", "0A" and "00:0A" are one serial), reporting each once. */
static cm_err revoke_prepare(char *canon, unsigned char *dup, const char *const *serials, size_t n,
                             struct ca_revoke_report *rep)
{
    struct canon_ref *refs = NULL;
    size_t i, j;
    char msg[160];

    refs = calloc(n, sizeof(*refs));
    if (refs == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        char *c = canon + i * CM_SERIAL_BUF;
        if (text_serial_canon(c, serials[i]) != CM_OK) {
            c[0] = '\0';
            revoke_note(rep, serials[i], CA_REVOKE_BAD, cm_err_msg());
        }
        refs[i].canon = c;
        refs[i].index = i;
    }
    qsort(refs, n, sizeof(*refs), canon_ref_cmp);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(refs[j].canon, refs[i].canon) == 0; j++)
            if (refs[i].canon[0] != '\0') /* bad ones are each reported */
                dup[refs[j].index] = 1;
        if (j - i > 1 && refs[i].canon[0] != '\0') {
            snprintf(msg, sizeof(msg), "serial %s: listed %zu times; counted once", refs[i].canon,
                     j - i);
            revoke_note(rep, refs[i].canon, CA_REVOKE_DUPLICATE, msg);
        }
    }
    free(refs);
    return CM_OK;
}

/* Revokes one serial in the current transaction, or reports why not (and
 * then writes nothing: the whole call will be rolled back). */
static cm_err revoke_one(ca_ctx *ca, const char *canon, int reason, int64_t now, int64_t effective,
                         int64_t invalidity, struct ca_revoke_report *rep)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;
    char payload[128], msg[256];
    int64_t seq;

    rc = db_cert_get(ca->db, &c, canon);
    if (rc == CM_ERR_NOTFOUND) {
        snprintf(msg, sizeof(msg),
                 "serial %s: no such certificate in this CA's database (record it with "
                 "'certmint import-cert' or 'certmint placeholder')",
                 canon);
        revoke_note(rep, canon, CA_REVOKE_NOTFOUND, msg);
        return CM_OK;
    }
    if (rc != CM_OK)
        return rc;
    if ((c->revoked_reason != DB_REASON_NONE && c->revoked_reason != DB_REASON_HOLD) ||
        (c->revoked_reason == DB_REASON_HOLD && reason == DB_REASON_HOLD)) {
        snprintf(msg, sizeof(msg), "serial %s: already revoked (%s)", canon,
                 db_reason_name(c->revoked_reason));
        revoke_note(rep, canon, CA_REVOKE_ALREADY, msg);
        goto out;
    }
    if (rep->refused > 0)
        goto out; /* only checking now: nothing will be revoked */
    CM_TRY(db_counter_next(ca->db, &seq, "rev_seq"));
    CM_TRY(db_cert_revoke(ca->db, canon, reason, now, effective, invalidity, seq));
    snprintf(payload, sizeof(payload), "{\"reason\":%d,\"effective\":%lld}", reason,
             (long long)effective);
    /* The RequestID goes into the mail: a placeholder recovered from it
     * keeps the certificate's RequestID. */
    CM_TRY(exit_raise(ca->db, EXIT_EV_CERTREVOKED, c->request_id, canon, payload));
    CM_TRY(ca_audit(ca, "revoke", c->request_id, canon, db_reason_name(reason)));
    rep->revoked++;
out:
    db_cert_free(c);
    return rc;
}

cm_err ca_revoke_list(ca_ctx *ca, const char *const *serials, size_t n, int reason,
                      int64_t effective, int64_t invalidity, struct ca_revoke_report *rep)
{
    cm_err rc = CM_OK;
    int64_t now = (int64_t)time(NULL);
    struct ca_revoke_report none, saved;
    cm_err single_code = CM_OK;
    char *canon = NULL;
    unsigned char *dup = NULL;
    size_t i, ndistinct = 0;
    int in_tx = 0;

    if (rep == NULL) {
        memset(&none, 0, sizeof(none));
        rep = &none;
    }
    rep->revoked = rep->duplicates = rep->refused = 0;
    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "revoke: no serial number given");
    /* RFC 5280 5.3.1: removeFromCRL (8) only appears in delta CRLs; it is
     * not a reason to revoke with. */
    if (reason < 0 || reason == 7 || reason == DB_REASON_REMOVE_FROM_CRL || reason > 10)
        return cm_err_set(CM_ERR_INVALID, "revoke: reason %d is not a revocation reason", reason);
    if (effective < 0 || effective > REVOKE_TIME_MAX || invalidity < 0 ||
        invalidity > REVOKE_TIME_MAX)
        return cm_err_set(CM_ERR_INVALID, "revoke: dates must lie between 1970 and 9999");
    if (effective == 0)
        effective = now;
    if (invalidity != 0 && invalidity > now)
        return cm_err_set(CM_ERR_INVALID, "revoke: invalidity date is in the future");
    if (n == 1) {
        saved = *rep;
        rep->note = single_note;
        rep->note_ctx = &single_code;
    }
    canon = malloc(n * CM_SERIAL_BUF);
    dup = calloc(n, 1);
    CM_NOMEM_IF(canon == NULL || dup == NULL);
    CM_TRY(revoke_prepare(canon, dup, serials, n, rep));
    CM_TRY(db_begin(ca->db));
    in_tx = 1;
    for (i = 0; i < n; i++)
        ndistinct += !dup[i];
    for (i = 0; i < n; i++)
        if (!dup[i] && canon[i * CM_SERIAL_BUF] != '\0')
            CM_TRY(
                revoke_one(ca, canon + i * CM_SERIAL_BUF, reason, now, effective, invalidity, rep));
    /* All or nothing: one refused serial revokes none of the list. */
    if (rep->refused > 0 && n == 1) {
        rc = single_code;
        goto out;
    }
    if (rep->refused > 0)
        CM_FAIL(CM_ERR_STATE, "revoke: %zu of %zu serial%s refused; nothing was revoked",
                rep->refused, ndistinct, ndistinct == 1 ? "" : "s");
    CM_TRY(db_commit(ca->db));
    in_tx = 0;
out:
    if (in_tx) {
        db_rollback(ca->db);
        rep->revoked = 0;
    }
    if (n == 1) {
        rep->note = saved.note;
        rep->note_ctx = saved.note_ctx;
    }
    free(canon);
    free(dup);
    return rc;
}

cm_err ca_revoke(ca_ctx *ca, const char *const *serials, size_t n, int reason, int64_t effective,
                 int64_t invalidity)
{
    return ca_revoke_list(ca, serials, n, reason, effective, invalidity, NULL);
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
                              const char *profile, const char *requester, const char *message,
                              const char *recovered_from)
{
    struct db_request r;
    cm_err rc;

    memset(&r, 0, sizeof(r));
    r.request_id = request_id;
    r.requester_name = (char *)(requester != NULL && *requester ? requester : ca->operator_name);
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

/* Fills the placeholder of c->serial with c (described, c->raw set). */
static cm_err fill_placeholder_with(ca_ctx *ca, struct db_cert *c, const char *tmpl,
                                    const char *recovered_from, int64_t request_id)
{
    cm_err rc = CM_OK;

    c->template_name = (char *)tmpl;
    c->recovered_from = (char *)recovered_from;
    CM_TRY(db_cert_fill_placeholder(ca->db, c));
    CM_TRY(exit_raise(ca->db, EXIT_EV_CERTIMPORTED, request_id, c->serial,
                      "{\"placeholder_filled\":true}"));
    CM_TRY(
        ca_audit(ca, "import", request_id, c->serial, "placeholder filled with the certificate"));
out:
    /* Borrowed: not ours to free. */
    c->template_name = NULL;
    c->recovered_from = NULL;
    return rc;
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
    CM_TRY(fill_placeholder_with(ca, &c, tmpl, recovered_from, request_id));
out:
    c.raw = NULL;
    db_cert_clear(&c);
    OPENSSL_free(der);
    return rc;
}

cm_err ca_import_cert_in_tx(ca_ctx *ca, X509 *x, int64_t request_id, const char *profile,
                            const char *requester, const char *what, const char *recovered_from,
                            char serial_out[CM_SERIAL_BUF])
{
    cm_err rc = ca_check_signed_here(ca, x, what);
    if (rc != CM_OK)
        return rc;
    return ca_import_checked_in_tx(ca, x, request_id, profile, requester, what, recovered_from,
                                   serial_out);
}

cm_err ca_import_checked_in_tx(ca_ctx *ca, X509 *x, int64_t request_id, const char *profile,
                               const char *requester, const char *what, const char *recovered_from,
                               char serial_out[CM_SERIAL_BUF])
{
    cm_err rc = CM_OK;
    struct db_cert *existing = NULL;
    char serial[CM_SERIAL_BUF];
    char *dn = NULL, *tmpl = NULL;
    int64_t id = 0;
    const ASN1_INTEGER *sn;

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
    CM_TRY(foreign_request(&id, ca, request_id, dn, tmpl, requester,
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

cm_err ca_import_ready_make(struct ca_import_ready *r, X509 *x)
{
    cm_err rc = CM_OK;
    int len;

    memset(r, 0, sizeof(*r));
    len = i2d_X509(x, &r->der);
    if (len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate");
    r->der_len = (size_t)len;
    r->c.raw = r->der;
    r->c.raw_len = r->der_len;
    CM_TRY(ca_cert_describe(&r->c, x));
    r->guessed_profile = template_of(x);
out:
    return rc;
}

void ca_import_ready_clear(struct ca_import_ready *r)
{
    if (r == NULL)
        return;
    r->c.raw = NULL; /* der's */
    db_cert_clear(&r->c);
    OPENSSL_free(r->der);
    free(r->guessed_profile);
    memset(r, 0, sizeof(*r));
}

/* The rows of ca_import_checked_in_tx, from a certificate made ready: its
 * serial, subject and profile come from the description instead of the
 * certificate (the same values: ca_cert_describe reads them as
 * ca_import_checked_in_tx does). */
cm_err ca_import_ready_in_tx(ca_ctx *ca, struct ca_import_ready *r, int64_t request_id,
                             const char *profile, const char *requester, const char *what,
                             const char *recovered_from, char serial_out[CM_SERIAL_BUF])
{
    cm_err rc = CM_OK;
    struct db_cert *existing = NULL;
    struct issue_ready ir;
    const char *tmpl = profile != NULL ? profile : r->guessed_profile;
    int64_t id = 0;

    rc = db_cert_get(ca->db, &existing, r->c.serial);
    if (rc == CM_OK && existing->origin == DB_ORIGIN_PLACEHOLDER) {
        CM_TRY(fill_placeholder_with(ca, &r->c, tmpl, recovered_from, existing->request_id));
        snprintf(serial_out, CM_SERIAL_BUF, "%s", r->c.serial);
        goto out;
    }
    if (rc == CM_OK)
        CM_FAIL(CM_ERR_EXISTS, "%s: serial %s is already in the database", what, r->c.serial);
    if (rc != CM_ERR_NOTFOUND)
        goto out;
    rc = CM_OK;
    CM_TRY(foreign_request(&id, ca, request_id, r->c.dn, tmpl, requester,
                           recovered_from ? "Recovered from the audit trail" : "Imported",
                           recovered_from));
    /* A view of r for issue_record_ready (an import is never withheld:
     * strict mode is not read); r keeps ownership. */
    memset(&ir, 0, sizeof(ir));
    ir.c = r->c;
    ir.der = r->der;
    ir.der_len = r->der_len;
    ir.strict = 0;
    rc = issue_record_ready(ca, id, tmpl, &ir, NULL, NULL, serial_out, DB_ORIGIN_IMPORTED,
                            recovered_from);
out:
    db_cert_free(existing);
    return rc;
}

cm_err ca_import_cert(ca_ctx *ca, const unsigned char *data, size_t len, const char *what,
                      const char *recovered_from, char serial_out[CM_SERIAL_BUF])
{
    cm_err rc = CM_OK;
    X509 *x = NULL;

    CM_TRY(ca_cert_parse(&x, data, len, what));
    CM_TRY(db_begin(ca->db));
    rc = ca_import_cert_in_tx(ca, x, 0, NULL, NULL, what, recovered_from, serial_out);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
out:
    X509_free(x);
    return rc;
}

cm_err ca_placeholder_in_tx(ca_ctx *ca, const char *serial, const char *subject, int64_t not_after,
                            int64_t request_id, const char *requester, const char *recovered_from)
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
    CM_TRY(foreign_request(&id, ca, request_id, dn, NULL, requester,
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
    rc = ca_placeholder_in_tx(ca, serial, subject, not_after, 0, NULL, recovered_from);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
    return rc;
}
