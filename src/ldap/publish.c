/* dspublish / dsunpublish as core calls (ldap/publish.h). */
#include "ca/ca_int.h"
#include "ldap/publish.h"

#include "ldap/ldap_keys.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <limits.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Largest CRL we publish: CRLs of big CAs run to megabytes. */
#define MAX_CRL_BYTES (64 * 1024 * 1024)

/* One run: the connection, what to report to, who asked. */
struct run {
    ca_ctx *ca;
    const char *actor;
    const char *action; /* "dspublish" or "dsunpublish" */
    struct dir *d;
    int dry_run;
    ds_report_cb cb;
    void *ctx;
    int failed;
};

/* Connects with the ldap.* settings of the CA home. */
static cm_err connect_dir(struct run *r)
{
    cm_err rc = CM_OK;
    struct dir_settings s;

    CM_TRY(dir_settings_load(&s, r->ca->cfg, r->ca->home));
    CM_TRY(dir_open(&r->d, &s.opts));
out:
    return rc;
}

/* A failed item: reported with the recorded error message. */
static void item_failed(struct run *r, const char *item)
{
    struct ds_result res = {item, NULL, NULL, NULL, NULL, cm_err_msg()};
    r->failed = 1;
    r->cb(r->ctx, &res);
}

/* The DER encoding of x (OPENSSL_free). */
static cm_err cert_der(unsigned char **der, size_t *len, X509 *x, const char *what)
{
    int n = i2d_X509(x, der);
    if (n <= 0) {
        *der = NULL;
        return cm_err_ossl(CM_ERR_CRYPTO, "%s: cannot encode the certificate", what);
    }
    *len = (size_t)n;
    return CM_OK;
}

/* A certificate file, PEM or DER: its X509 and DER (OPENSSL_free). */
static cm_err cert_load(X509 **x, unsigned char **der, size_t *len, const char *path)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t n = 0;

    *x = NULL;
    *der = NULL;
    CM_TRY(fs_read_file(&data, &n, path, CA_MAX_CERT_BYTES));
    CM_TRY(ca_cert_parse(x, data, n, path));
    CM_TRY(cert_der(der, len, *x, path));
out:
    free(data);
    if (rc != CM_OK) {
        X509_free(*x);
        *x = NULL;
    }
    return rc;
}

/* The stored certificate of serial (canonical hex) from the database. */
static cm_err cert_from_db(X509 **x, unsigned char **der, size_t *len, ca_ctx *ca,
                           const char *serial)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;

    *x = NULL;
    *der = NULL;
    CM_TRY(db_cert_get(ca->db, &c, serial));
    if (c == NULL)
        CM_FAIL(CM_ERR_NOTFOUND, "serial %s: no such certificate in %s", serial, ca->home);
    if (c->raw == NULL || c->raw_len == 0)
        CM_FAIL(CM_ERR_NOTFOUND,
                "serial %s: only a placeholder is recorded (no certificate to look for)", serial);
    /* Strict audit mode: not published before its off-box record either. */
    if (c->withheld)
        CM_FAIL(CM_ERR_WITHHELD,
                "serial %s: withheld until its off-box audit record is acknowledged (see "
                "'certmint exit status')",
                serial);
    CM_TRY(ca_cert_parse(x, c->raw, c->raw_len, serial));
    CM_TRY(cert_der(der, len, *x, serial));
out:
    if (rc != CM_OK) {
        X509_free(*x);
        *x = NULL;
    }
    db_cert_free(c);
    return rc;
}

static const char *change_text(enum dir_change c, int dry_run)
{
    if (!dry_run)
        return dir_change_name(c);
    switch (c) {
    case DIR_UNCHANGED:
        return "unchanged (already there)";
    case DIR_ADDED:
        return "would add";
    case DIR_REPLACED:
        return "would replace";
    case DIR_REMOVED:
        return "would remove";
    case DIR_CREATED:
        return "would create the entry";
    }
    return "?";
}

/* Records a change made in the directory (one transaction). The directory
 * is not transactional: the change is made first, so a record always
 * stands for a change that happened. */
static cm_err audit_change(struct run *r, const struct ds_result *res, const char *serial)
{
    cm_err rc = CM_OK;
    cm_buf details = CM_BUF_INIT(8192);
    struct db_audit a = {(int64_t)time(NULL), r->actor, r->action, 0, serial, NULL};

    CM_TRY(
        buf_printf(&details, "%s of %s: %s (%s)", res->attribute, res->dn, res->change, res->item));
    a.details = buf_str(&details);
    CM_TRY(db_begin(r->ca->db));
    rc = db_audit_append(r->ca->db, &a);
    if (rc == CM_OK)
        rc = db_commit(r->ca->db);
    if (rc != CM_OK)
        db_rollback(r->ca->db);
out:
    if (rc != CM_OK)
        cm_err_prefix(rc, "%s: %s in the directory, but the audit record failed", res->item,
                      res->change);
    buf_free(&details);
    return rc;
}

/* Reports a done item and records it when it changed something. */
static cm_err item_done(struct run *r, const struct ds_result *res, enum dir_change change, X509 *x)
{
    char serial[CM_SERIAL_BUF] = "";
    const ASN1_INTEGER *sn = x ? X509_get0_serialNumber(x) : NULL;
    cm_err rc = CM_OK;

    if (!r->dry_run && change != DIR_UNCHANGED) {
        if (sn != NULL && text_serial_from_bytes(serial, ASN1_STRING_get0_data(sn),
                                                 (size_t)ASN1_STRING_length(sn)) != CM_OK)
            serial[0] = '\0';
        rc = audit_change(r, res, serial[0] ? serial : NULL);
    }
    /* The item is reported as done even when its record failed: the
     * directory did change (the failure follows as its own error). */
    r->cb(r->ctx, res);
    return rc;
}

/* Publishes (or, with unpublish, removes) one certificate. what names it
 * (file or serial). */
static cm_err one_cert(struct run *r, X509 *x, const unsigned char *der, size_t len,
                       const char *what, int unpublish, enum dir_mode mode)
{
    cm_err rc = CM_OK;
    char *dn = NULL;
    enum dir_match how = DIR_MATCH_MAIL;
    enum dir_change change = DIR_UNCHANGED;

    CM_TRY(dir_find_for_cert(&dn, &how, r->d, x));
    if (unpublish)
        CM_TRY(dir_unpublish_cert(r->d, dn, der, len, r->dry_run, &change));
    else
        CM_TRY(dir_publish_cert(r->d, dn, der, len, mode, r->dry_run, &change));
    struct ds_result res = {what,
                            dn,
                            how == DIR_MATCH_MAIL ? "mail" : "DN",
                            DIR_ATTR_USER_CERT,
                            change_text(change, r->dry_run),
                            NULL};
    rc = item_done(r, &res, change, x);
    free(dn);
    return rc;
out:
    cm_err_prefix(rc, "%s", what);
    free(dn);
    return rc;
}

/* A CRL file, checked to parse so that a damaged file is never published:
 * the CRL files are DER (RFC 5280 5). */
static cm_err crl_load(unsigned char **data, size_t *n, const char *path)
{
    cm_err rc = fs_read_file(data, n, path, MAX_CRL_BYTES);
    const unsigned char *p = *data;
    X509_CRL *crl = NULL;

    if (rc != CM_OK)
        return rc;
    crl = d2i_X509_CRL(NULL, &p, (long)*n);
    if (crl == NULL || p != *data + *n)
        rc = cm_err_ossl(CM_ERR_INVALID, "%s: not a DER CRL", path);
    X509_CRL_free(crl);
    return rc;
}

/* One CA file (the certificate or a CRL) to the CA entry. missing_ok: a
 * file that does not exist is skipped silently (the delta CRL). */
static cm_err one_ca_file(struct run *r, enum dir_ca_attr which, const char *name, int create,
                          int missing_ok)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL, *der = NULL;
    size_t n = 0, len = 0;
    X509 *x = NULL;
    enum dir_change change = DIR_UNCHANGED;

    CM_TRY(fs_join(path, sizeof(path), r->ca->home, name));
    if (missing_ok && !fs_exists(path))
        goto out;
    if (which == DIR_CA_CERT)
        CM_TRY(cert_load(&x, &der, &len, path));
    else
        CM_TRY(crl_load(&data, &n, path));
    CM_TRY(
        dir_publish_ca(r->d, which, der ? der : data, der ? len : n, create, r->dry_run, &change));
    const char *attr = which == DIR_CA_CERT  ? "cACertificate"
                       : which == DIR_CA_CRL ? "certificateRevocationList"
                                             : "deltaRevocationList";
    struct ds_result res = {path, dir_ca_entry(r->d), NULL, attr, change_text(change, r->dry_run),
                            NULL};
    rc = item_done(r, &res, change, x);
out:
    X509_free(x);
    OPENSSL_free(der);
    free(data);
    return rc;
}

/* The CA certificate and the CRLs of ds_publish. */
static void publish_ca_objects(struct run *r, const struct ds_publish_opts *o)
{
    if (o->ca && one_ca_file(r, DIR_CA_CERT, CA_CERT_FILE, o->create, 0) != CM_OK)
        item_failed(r, CA_CERT_FILE);
    if (!o->crl)
        return;
    /* The full CRL first: the delta names it as its base. */
    if (one_ca_file(r, DIR_CA_CRL, CA_CRL_DIR "/ca.crl", o->create, 0) != CM_OK)
        item_failed(r, CA_CRL_DIR "/ca.crl");
    else if (one_ca_file(r, DIR_CA_DELTA_CRL, CA_CRL_DIR "/delta.crl", 0, 1) != CM_OK)
        item_failed(r, CA_CRL_DIR "/delta.crl");
}

cm_err ds_publish(int *failed, ca_ctx *ca, const struct ds_publish_opts *o,
                  ds_report_cb cb, void *ctx)
{
    struct run r = {ca, ca_session_who(ca), "dspublish", NULL, o->dry_run, cb, ctx, 0};
    cm_err rc = connect_dir(&r);

    *failed = 0;
    if (rc != CM_OK)
        return rc;
    publish_ca_objects(&r, o);
    for (size_t i = 0; i < o->nfiles; i++) {
        X509 *x = NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        rc = cert_load(&x, &der, &len, o->files[i]);
        if (rc == CM_OK)
            rc = one_cert(&r, x, der, len, o->files[i], 0, o->mode);
        if (rc != CM_OK)
            item_failed(&r, o->files[i]);
        X509_free(x);
        OPENSSL_free(der);
    }
    dir_close(r.d);
    *failed = r.failed;
    return CM_OK;
}

cm_err ds_unpublish(int *failed, ca_ctx *ca, const char *const *items, size_t n,
                    int dry_run, ds_report_cb cb, void *ctx)
{
    struct run r = {ca, ca_session_who(ca), "dsunpublish", NULL, dry_run, cb, ctx, 0};
    cm_err rc = connect_dir(&r);

    *failed = 0;
    if (rc != CM_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        X509 *x = NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        char serial[CM_SERIAL_BUF];
        const char *what = items[i];

        /* A file when one exists by that name, else a serial. */
        if (fs_exists(items[i])) {
            rc = cert_load(&x, &der, &len, items[i]);
        } else if (text_serial_canon(serial, items[i]) == CM_OK) {
            what = serial;
            rc = cert_from_db(&x, &der, &len, ca, serial);
        } else {
            rc = cm_err_set(CM_ERR_NOTFOUND, "%s: neither a certificate file nor a serial",
                            items[i]);
        }
        if (rc == CM_OK)
            rc = one_cert(&r, x, der, len, what, 1, DIR_REFUSE);
        if (rc != CM_OK)
            item_failed(&r, items[i]);
        X509_free(x);
        OPENSSL_free(der);
    }
    dir_close(r.d);
    *failed = r.failed;
    return CM_OK;
}

/* dsverify's findings: recorded when repaired, then passed on. */
struct verify_run {
    struct run r;
    dir_verify_cb cb;
    void *ctx;
    cm_err err; /* the first record that failed */
};

static void verify_finding(void *ctx, const struct dir_verify_finding *f)
{
    struct verify_run *v = ctx;
    struct ds_result res = {f->serial, f->dn ? f->dn : "-", NULL, DIR_ATTR_USER_CERT, "fixed",
                            NULL};
    cm_buf item = CM_BUF_INIT(1024);

    if (f->fixed && v->err == CM_OK) {
        if (buf_printf(&item, "%s %s", dir_verify_kind_name(f->kind), f->serial) == CM_OK)
            res.item = buf_str(&item);
        v->err = audit_change(&v->r, &res, f->serial);
    }
    buf_free(&item);
    if (v->cb != NULL)
        v->cb(v->ctx, f);
}

cm_err ds_verify(struct dir_verify_report *rep, const char **profiles, ca_ctx *ca, int fix, dir_verify_cb cb, void *ctx)
{
    struct verify_run v = {{ca, ca_session_who(ca), "dsverify", NULL, 0, NULL, NULL, 0}, cb, ctx, CM_OK};
    cm_err rc = connect_dir(&v.r);

    *profiles = config_get(ca->cfg, "exit.ldap.profiles");
    if (rc != CM_OK)
        return rc;
    rc = dir_verify(rep, ca, v.r.d, fix, verify_finding, &v);
    dir_close(v.r.d);
    return rc != CM_OK ? rc : v.err;
}
