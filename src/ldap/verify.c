/* certmint dsverify: the directory against the database (see verify.h).
 *
 * Two passes, each bounded by what it reads: the directory's
 * userCertificate values under ldap.base (paged), keeping for this CA's
 * certificates only serial and entry; then the database's valid
 * certificates of the listed profiles, each looked up among those. Repairs
 * happen after both passes, never while a listing is open. */
#include "ldap/verify.h"
#include "ca/ca_int.h"

#include "ldap/record.h"
#include "util/log.h"
#include "util/text.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CM_HAVE_LDAP
#include "util/dl_ldap.h"
#endif

const char *dir_verify_kind_name(enum dir_verify_kind k)
{
    switch (k) {
    case DIR_VERIFY_MISSING:
        return "missing";
    case DIR_VERIFY_STALE:
        return "stale";
    case DIR_VERIFY_REVOKED:
        return "revoked";
    }
    return "?";
}

#ifdef CM_HAVE_LDAP

/* A value of this CA found on an entry. */
struct seen {
    char serial[CM_SERIAL_BUF];
    char *dn;
    int kind; /* -1: valid; else DIR_VERIFY_STALE or DIR_VERIFY_REVOKED */
    int64_t when;
};

struct scan {
    ca_ctx *ca;
    int64_t now;
    struct dir_verify_report *rep;
    struct seen *v;
    size_t n, cap;
};

/* Is this directory value a certificate of this CA, and in what state? */
static cm_err value_cb(void *ctx, const char *dn, const struct berval *bv)
{
    struct scan *s = ctx;
    cm_err rc = CM_OK;
    const unsigned char *p = (const unsigned char *)bv->bv_val;
    X509 *x = d2i_X509(NULL, &p, (long)bv->bv_len);
    struct db_cert *c = NULL;
    char serial[CM_SERIAL_BUF];

    if (x == NULL) {
        /* Not a certificate: not ours to judge (dspublish never writes one). */
        ERR_clear_error();
        goto out;
    }
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(s->ca->cert)) != 0)
        goto out;
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    if (text_serial_from_bytes(serial, ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn)) !=
        CM_OK) {
        cm_err_clear();
        s->rep->unknown++;
        goto out;
    }
    rc = db_cert_get(s->ca->db, &c, serial);
    if (rc == CM_ERR_NOTFOUND || (rc == CM_OK && c == NULL)) {
        cm_err_clear();
        rc = CM_OK;
        s->rep->unknown++;
        log_info("dsverify: %s holds a certificate naming this CA as issuer, serial %s, that the "
                 "database does not know: left alone",
                 dn, serial);
        goto out;
    }
    CM_TRY(rc);
    /* Same issuer name and serial, other bytes: another CA of that name
     * (or a forgery); not this CA's certificate. */
    if (c->raw == NULL || c->raw_len != bv->bv_len || memcmp(c->raw, bv->bv_val, bv->bv_len) != 0) {
        s->rep->unknown++;
        goto out;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        struct seen *nv = realloc(s->v, ncap * sizeof(*nv));
        CM_NOMEM_IF(nv == NULL);
        s->v = nv;
        s->cap = ncap;
    }
    struct seen *e = &s->v[s->n];
    memset(e, 0, sizeof(*e));
    snprintf(e->serial, sizeof(e->serial), "%s", serial);
    e->dn = text_dup(dn);
    CM_NOMEM_IF(e->dn == NULL);
    e->kind = -1;
    if (c->revoked_reason != DB_REASON_NONE) {
        e->kind = DIR_VERIFY_REVOKED;
        e->when = c->revoked_when;
    } else if (c->not_after != 0 && c->not_after < s->now) {
        e->kind = DIR_VERIFY_STALE;
        e->when = c->not_after;
    }
    s->n++;
    s->rep->published++;
out:
    X509_free(x);
    db_cert_free(c);
    return rc;
}

static int seen_cmp(const void *a, const void *b)
{
    return strcmp(((const struct seen *)a)->serial, ((const struct seen *)b)->serial);
}

/* Valid certificates of the listed profiles (serials). */
struct expect {
    const cm_config *cfg;
    int serial_col, template_col, raw_col;
    int64_t now;
    char (*serials)[CM_SERIAL_BUF];
    size_t n, cap;
};

static cm_err expect_cb(void *ctx, const struct db_row *row)
{
    struct expect *e = ctx;
    const char *serial = row->values[e->serial_col];

    if (serial == NULL || row->blobs[e->raw_col] == NULL || row->blob_len[e->raw_col] == 0 ||
        !dir_profile_listed(e->cfg, row->values[e->template_col]))
        return CM_OK;
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 64;
        void *nv = realloc(e->serials, ncap * sizeof(*e->serials));
        if (nv == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        e->serials = nv;
        e->cap = ncap;
    }
    snprintf(e->serials[e->n++], CM_SERIAL_BUF, "%s", serial);
    return CM_OK;
}

static cm_err expected_list(struct expect *e, ca_ctx *ca)
{
    struct db_restrict r[2];

    memset(r, 0, sizeof(r));
    e->serial_col = db_column_find("SerialNumber");
    e->template_col = db_column_find("CertificateTemplate");
    e->raw_col = db_column_find("RawCertificate");
    /* Within validity and not revoked (a placeholder has no certificate;
     * requests without one have no NotAfter). */
    r[0].column = db_column_find("NotAfter");
    r[0].op = DB_OP_GT;
    r[0].ival = e->now;
    r[1].column = db_column_find("RevokedReason");
    r[1].op = DB_OP_EQ;
    r[1].is_null = 1;
    return db_view(ca->db, r, 2, expect_cb, e);
}

static void report(dir_verify_cb cb, void *ctx, enum dir_verify_kind kind, const char *serial,
                   const char *owner, const char *dn, int64_t when, int fixed, const char *note)
{
    struct dir_verify_finding f = {kind, serial, owner, dn, when, fixed, note};
    if (cb != NULL)
        cb(ctx, &f);
}

/* The owner of a stored certificate, for messages. */
static const char *owner_of(const struct db_cert *c)
{
    if (c->email != NULL && *c->email != '\0')
        return c->email;
    return c->dn ? c->dn : "";
}

static cm_err check_missing(struct dir_verify_report *rep, ca_ctx *ca, struct dir *d, int fix,
                            const char *serial, dir_verify_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;
    X509 *x = NULL;
    char *dn = NULL;
    char note[600] = "";
    enum dir_change what = DIR_UNCHANGED;
    int fixed = 0;

    CM_TRY(db_cert_get(ca->db, &c, serial));
    const unsigned char *p = c->raw;
    x = d2i_X509(NULL, &p, (long)c->raw_len);
    if (x == NULL) {
        ERR_clear_error();
        snprintf(note, sizeof(note), "the stored certificate does not parse");
    } else if (c->not_before > (int64_t)time(NULL)) {
        goto out; /* not valid yet: nothing is missing */
    } else if (fix) {
        if (dir_record_publish(&dn, &what, d, ca->db, serial, x, c->raw, c->raw_len) == CM_OK)
            fixed = 1;
        else
            snprintf(note, sizeof(note), "%s", cm_err_msg());
    } else if (dir_find_for_cert(&dn, NULL, d, x) != CM_OK) {
        snprintf(note, sizeof(note), "%s", cm_err_msg());
    }
    rep->missing++;
    rep->fixed += (size_t)fixed;
    report(cb, ctx, DIR_VERIFY_MISSING, serial, owner_of(c), dn, 0, fixed,
           fixed ? NULL : (note[0] ? note : "not published"));
out:
    X509_free(x);
    db_cert_free(c);
    free(dn);
    return rc;
}

/* Takes a stale or revoked value off its entry. */
static cm_err remove_value(char *note, size_t notesz, ca_ctx *ca, struct dir *d,
                           const struct seen *e, const struct db_cert *c)
{
    cm_err rc;
    enum dir_change what = DIR_UNCHANGED;
    enum dir_record_state st = DIR_REC_NONE;
    char *rec_dn = NULL;
    int same = 0;

    rc = dir_unpublish_cert(d, e->dn, c->raw, c->raw_len, 0, &what);
    if (rc == CM_ERR_NOTFOUND) {
        cm_err_clear(); /* gone meanwhile */
        rc = CM_OK;
    }
    if (rc == CM_OK)
        rc = dir_record_get(&st, &rec_dn, ca->db, e->serial);
    if (rc == CM_OK && (st == DIR_REC_PUBLISHED || st == DIR_REC_PENDING) &&
        dir_dn_equal(&same, rec_dn, e->dn) == CM_OK && same)
        rc = dir_record_set(ca->db, e->serial, DIR_REC_REMOVED, e->dn);
    if (rc != CM_OK)
        snprintf(note, notesz, "%s", cm_err_msg());
    free(rec_dn);
    return rc;
}

static cm_err check_published(struct dir_verify_report *rep, ca_ctx *ca, struct dir *d, int fix,
                              const struct seen *e, dir_verify_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;
    char note[600] = "";
    int fixed = 0;

    if (e->kind < 0)
        return CM_OK;
    CM_TRY(db_cert_get(ca->db, &c, e->serial));
    if (fix)
        fixed = remove_value(note, sizeof(note), ca, d, e, c) == CM_OK;
    if (e->kind == DIR_VERIFY_REVOKED)
        rep->revoked++;
    else
        rep->stale++;
    rep->fixed += (size_t)fixed;
    report(cb, ctx, (enum dir_verify_kind)e->kind, e->serial, owner_of(c), e->dn, e->when, fixed,
           fixed ? NULL
                 : (note[0] ? note
                            : (e->kind == DIR_VERIFY_REVOKED ? "revoked but still published"
                                                             : "expired but still published")));
out:
    db_cert_free(c);
    return rc;
}

cm_err dir_verify(struct dir_verify_report *rep, ca_ctx *ca, struct dir *d, int fix,
                  dir_verify_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    struct scan s;
    struct expect ex;
    size_t i;

    memset(rep, 0, sizeof(*rep));
    memset(&s, 0, sizeof(s));
    memset(&ex, 0, sizeof(ex));
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "the CA has no certificate yet");
    s.ca = ca;
    s.rep = rep;
    s.now = (int64_t)time(NULL);
    CM_TRY(dir_iter_values(d, DIR_ATTR_USER_CERT, value_cb, &s));
    if (s.n > 1)
        qsort(s.v, s.n, sizeof(*s.v), seen_cmp);
    ex.cfg = ca->cfg;
    ex.now = s.now;
    CM_TRY(expected_list(&ex, ca));
    rep->expected = ex.n;
    for (i = 0; i < s.n; i++)
        CM_TRY(check_published(rep, ca, d, fix, &s.v[i], cb, ctx));
    for (i = 0; i < ex.n; i++) {
        struct seen key;
        snprintf(key.serial, sizeof(key.serial), "%s", ex.serials[i]);
        if (s.n > 0 && bsearch(&key, s.v, s.n, sizeof(*s.v), seen_cmp) != NULL)
            continue;
        CM_TRY(check_missing(rep, ca, d, fix, ex.serials[i], cb, ctx));
    }
out:
    for (i = 0; i < s.n; i++)
        free(s.v[i].dn);
    free(s.v);
    free(ex.serials);
    return rc;
}

#else /* !CM_HAVE_LDAP */

cm_err dir_verify(struct dir_verify_report *rep, ca_ctx *ca, struct dir *d, int fix,
                  dir_verify_cb cb, void *ctx)
{
    (void)ca, (void)d, (void)fix, (void)cb, (void)ctx;
    memset(rep, 0, sizeof(*rep));
    return cm_err_set(CM_ERR_UNSUPPORTED, "built without the OpenLDAP client library");
}

#endif
