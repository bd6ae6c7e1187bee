/* certmint dspublish / dsunpublish: certificates, the CA certificate and CRLs
 * in the directory (certutil -dspublish's job), for any certificate: issued
 * here or by someone else (external contacts).
 *
 * Needs only the configuration (ldap.* keys) and the files named; the CA key
 * is never loaded. dsunpublish by serial reads the certificate from the
 * database. */
#include "ca/ca.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
#include "db/db.h"
#include "ldap/dir.h"
#include "ldap/ldap_keys.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/text.h"

#include <getopt.h>
#include <limits.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest CRL we publish: CRLs of big CAs run to megabytes. */
#define MAX_CRL_BYTES (64 * 1024 * 1024)

const char cmd_dspublish_usage[] =
    "usage: certmint dspublish [--replace | --add] [--dry-run] CERT...\n"
    "       certmint dspublish --ca [--crl] [-f | --create] [--dry-run]\n"
    "       certmint dspublish --crl [-f | --create] [--dry-run]\n"
    "\n"
    "Publishes certificates in the directory configured by the ldap.* settings\n"
    "(see docs/ldap.md).\n"
    "\n"
    "  CERT...        certificate files (PEM or DER), issued here or elsewhere.\n"
    "                 Each goes to userCertificate;binary of the entry under\n"
    "                 ldap.base whose mail equals the certificate's e-mail address\n"
    "                 (first rfc822Name subjectAltName, else the subject's\n"
    "                 emailAddress), else of the entry whose DN is the subject DN.\n"
    "                 None or several such entries is an error. The same\n"
    "                 certificate already there is left alone; an entry holding\n"
    "                 another certificate is refused unless:\n"
    "  --replace      the other certificates are removed and this one added\n"
    "  --add          this one is added beside them (renewals)\n"
    "  --ca           publish HOME/ca.crt in cACertificate;binary of ldap.ca_entry\n"
    "                 (earlier CA certificates there stay)\n"
    "  --crl          publish HOME/crl/ca.crl in certificateRevocationList;binary and\n"
    "                 HOME/crl/delta.crl, when present, in deltaRevocationList;binary\n"
    "                 (each replaces the previous value)\n"
    "  -f, --create   create ldap.ca_entry when it does not exist\n"
    "  -n, --dry-run  show what would change; change nothing\n"
    "  --format F     table (default) or json: {\"results\":[{\"item\",\"dn\",\n"
    "                 \"matched_by\",\"attribute\",\"change\",\"error\"}],\"dry_run\",\n"
    "                 \"failed\"} (one result per file, serial or CA object)\n"
    "\n"
    "Exit status: 0 when everything was published (or already there), 1 when\n"
    "something failed (the others are still done), 2 on a usage error.\n"
    "\n"
    "Examples:\n"
    "  certmint dspublish partner.cer\n"
    "  certmint dspublish --add alice-renewed.pem\n"
    "  certmint dspublish --ca --crl --create\n";

const char cmd_dsunpublish_usage[] =
    "usage: certmint dsunpublish [--dry-run] CERT|SERIAL...\n"
    "\n"
    "Removes exactly this certificate from userCertificate;binary of the entry it\n"
    "belongs to (found as dspublish finds it); the entry's other certificates stay.\n"
    "\n"
    "  CERT           a certificate file (PEM or DER)\n"
    "  SERIAL         the serial of a certificate in this CA's database (hex)\n"
    "  -n, --dry-run  show what would change; change nothing\n"
    "  --format F     table (default) or json, as dspublish's\n"
    "\n"
    "Example:\n"
    "  certmint dsunpublish 4F2A9C01D3\n";

/* The results of one run, printed as they come (table) or gathered into one
 * JSON document. */
struct ds_report {
    enum cli_format fmt;
    cm_buf b; /* json: the results array so far */
    size_t n;
    cm_err err; /* first failure to build the document */
};

/* One JSON result; NULL members are null. */
static void ds_json_item(struct ds_report *r, const char *item, const char *dn, const char *matched,
                         const char *attr, const char *change, const char *error)
{
    int first = 1;
    cm_err rc;

    if (r->err != CM_OK)
        return;
    rc = buf_append_str(&r->b, r->n++ ? ",{" : "{\"results\":[{");
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "item", item);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "dn", dn);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "matched_by", matched);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "attribute", attr);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "change", change);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "error", error);
    if (rc == CM_OK)
        rc = buf_append_str(&r->b, "}");
    r->err = rc;
}

/* Reports a failed item: on stderr, and in the JSON results. */
static void ds_fail(struct ds_report *r, cm_err rc, const char *item)
{
    if (r->fmt == CLI_FMT_JSON)
        ds_json_item(r, item, NULL, NULL, NULL, NULL, cm_err_msg());
    cli_fail(rc);
}

/* Ends the JSON document (nothing for the table); returns the exit status
 * given, or 1 when the document could not be written. */
static int ds_report_end(struct ds_report *r, int dry_run, int failed)
{
    int first = 0;
    cm_err rc = r->err;

    if (r->fmt != CLI_FMT_JSON) {
        buf_free(&r->b);
        return failed;
    }
    if (rc == CM_OK)
        rc = buf_append_str(&r->b, r->n ? "]" : "{\"results\":[]");
    if (rc == CM_OK)
        rc = json_append_kv_bool(&r->b, &first, "dry_run", dry_run);
    if (rc == CM_OK)
        rc = json_append_kv_bool(&r->b, &first, "failed", failed);
    if (rc == CM_OK)
        rc = buf_append_str(&r->b, "}");
    return cli_json_emit(&r->b, rc) != 0 ? 1 : failed;
}

static cm_err config_open(cm_config **cfg, const struct cli_global *g)
{
    char path[PATH_MAX];

    *cfg = NULL;
    if (g->home == NULL)
        return cm_err_set(CM_ERR_INVALID, "no CA home: give --home DIR or set CERTMINT_HOME");
    if (fs_join(path, sizeof(path), g->home, CA_CONF_FILE) != CM_OK)
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", g->home);
    return config_load(cfg, path, 0);
}

/* Connects with the ldap.* settings of the CA home. */
static cm_err connect_dir(struct dir **d, cm_config **cfg, const struct cli_global *g)
{
    cm_err rc = CM_OK;
    struct dir_settings s;

    *d = NULL;
    CM_TRY(config_open(cfg, g));
    CM_TRY(dir_settings_load(&s, *cfg, g->home));
    CM_TRY(dir_open(d, &s.opts));
out:
    return rc;
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

/* Publishes (or, with unpublish, removes) one certificate. what names it in
 * messages (file or serial). Prints one line; returns the error. */
static cm_err one_cert(struct ds_report *r, struct dir *d, X509 *x, const unsigned char *der,
                       size_t len, const char *what, int unpublish, enum dir_mode mode, int dry_run)
{
    cm_err rc = CM_OK;
    char *dn = NULL;
    enum dir_match how = DIR_MATCH_MAIL;
    enum dir_change change = DIR_UNCHANGED;

    CM_TRY(dir_find_for_cert(&dn, &how, d, x));
    if (unpublish)
        CM_TRY(dir_unpublish_cert(d, dn, der, len, dry_run, &change));
    else
        CM_TRY(dir_publish_cert(d, dn, der, len, mode, dry_run, &change));
    if (r->fmt == CLI_FMT_JSON)
        ds_json_item(r, what, dn, how == DIR_MATCH_MAIL ? "mail" : "DN", "userCertificate;binary",
                     change_text(change, dry_run), NULL);
    else
        printf("%s: %s (matched by %s): %s\n", what, dn, how == DIR_MATCH_MAIL ? "mail" : "DN",
               change_text(change, dry_run));
out:
    if (rc != CM_OK)
        cm_err_prefix(rc, "%s", what);
    free(dn);
    return rc;
}

/* One CA file (the certificate or a CRL) to the CA entry. missing_ok: a
 * file that does not exist is skipped silently (the delta CRL). */
static cm_err one_ca_file(struct ds_report *r, struct dir *d, enum dir_ca_attr which,
                          const char *home, const char *name, int create, int dry_run,
                          int missing_ok)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL, *der = NULL;
    size_t n = 0, len = 0;
    X509 *x = NULL;
    X509_CRL *crl = NULL;
    enum dir_change change = DIR_UNCHANGED;

    CM_TRY(fs_join(path, sizeof(path), home, name));
    if (missing_ok && !fs_exists(path))
        goto out;
    if (which == DIR_CA_CERT) {
        CM_TRY(cert_load(&x, &der, &len, path));
    } else {
        /* The CRL files are DER (RFC 5280 5); check they parse so that
         * a damaged file is never published. */
        CM_TRY(fs_read_file(&data, &n, path, MAX_CRL_BYTES));
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)n);
        if (crl == NULL || p != data + n)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a DER CRL", path);
    }
    CM_TRY(dir_publish_ca(d, which, der ? der : data, der ? len : n, create, dry_run, &change));
    const char *attr = which == DIR_CA_CERT  ? "cACertificate"
                       : which == DIR_CA_CRL ? "certificateRevocationList"
                                             : "deltaRevocationList";
    if (r->fmt == CLI_FMT_JSON)
        ds_json_item(r, path, dir_ca_entry(d), NULL, attr, change_text(change, dry_run), NULL);
    else
        printf("%s: %s %s: %s\n", path, dir_ca_entry(d), attr, change_text(change, dry_run));
out:
    X509_free(x);
    X509_CRL_free(crl);
    OPENSSL_free(der);
    free(data);
    return rc;
}

int cmd_dspublish(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"replace", no_argument, NULL, 'r'},
        {"add", no_argument, NULL, 'a'},
        {"ca", no_argument, NULL, 'C'},
        {"crl", no_argument, NULL, 'L'},
        {"create", no_argument, NULL, 'f'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    struct ds_report rep = {CLI_FMT_TEXT, CM_BUF_INIT(64 * 1024 * 1024), 0, CM_OK};
    enum dir_mode mode = DIR_REFUSE;
    int ca = 0, crl = 0, create = 0, dry_run = 0, ch, failed = 0;
    cm_err rc = CM_OK;
    cm_config *cfg = NULL;
    struct dir *d = NULL;

    while ((ch = cli_getopt(argc, argv, "fnh", opts)) != -1) {
        switch (ch) {
        case 'r':
        case 'a':
            if (mode != DIR_REFUSE)
                return cli_usage_error("dspublish: give --replace or --add, not both");
            mode = ch == 'r' ? DIR_REPLACE : DIR_ADD;
            break;
        case 'C':
            ca = 1;
            break;
        case 'L':
            crl = 1;
            break;
        case 'f':
            create = 1;
            break;
        case 'n':
            dry_run = 1;
            break;
        case 'h':
            fputs(cmd_dspublish_usage, stdout);
            return 0;
        case 'F':
            if (cli_parse_format(&rep.fmt, optarg) != 0)
                return 2;
            break;
        default:
            fputs(cmd_dspublish_usage, stderr);
            return 2;
        }
    }
    if (ca || crl) {
        if (optind < argc)
            return cli_usage_error("dspublish: --ca/--crl take no certificate files");
        if (mode != DIR_REFUSE)
            return cli_usage_error("dspublish: --replace/--add apply to certificate files");
    } else {
        if (optind >= argc)
            return cli_usage_error("dspublish: give certificate files, --ca or --crl "
                                   "(see 'certmint help dspublish')");
        if (create)
            return cli_usage_error("dspublish: --create applies to --ca and --crl");
    }
    rc = connect_dir(&d, &cfg, g);
    if (rc != CM_OK)
        goto out;
    if (ca && (rc = one_ca_file(&rep, d, DIR_CA_CERT, g->home, CA_CERT_FILE, create, dry_run, 0)) !=
                  CM_OK) {
        ds_fail(&rep, rc, CA_CERT_FILE);
        failed = 1;
    }
    if (crl) {
        /* The full CRL first: the delta names it as its base. */
        if ((rc = one_ca_file(&rep, d, DIR_CA_CRL, g->home, CA_CRL_DIR "/ca.crl", create, dry_run,
                              0)) != CM_OK) {
            ds_fail(&rep, rc, CA_CRL_DIR "/ca.crl");
            failed = 1;
        } else if ((rc = one_ca_file(&rep, d, DIR_CA_DELTA_CRL, g->home, CA_CRL_DIR "/delta.crl", 0,
                                     dry_run, 1)) != CM_OK) {
            ds_fail(&rep, rc, CA_CRL_DIR "/delta.crl");
            failed = 1;
        }
    }
    for (int i = optind; i < argc; i++) {
        X509 *x = NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        rc = cert_load(&x, &der, &len, argv[i]);
        if (rc == CM_OK)
            rc = one_cert(&rep, d, x, der, len, argv[i], 0, mode, dry_run);
        if (rc != CM_OK) {
            ds_fail(&rep, rc, argv[i]);
            failed = 1;
        }
        X509_free(x);
        OPENSSL_free(der);
    }
    rc = CM_OK;
out:
    dir_close(d);
    config_free(cfg);
    if (rc != CM_OK) {
        buf_free(&rep.b);
        return cli_fail(rc);
    }
    return ds_report_end(&rep, dry_run, failed);
}

/* The stored certificate of serial (canonical hex) from the database. */
static cm_err cert_from_db(X509 **x, unsigned char **der, size_t *len, const char *home,
                           const char *serial)
{
    cm_err rc = CM_OK;
    db_t *db = NULL;
    struct db_cert *c = NULL;

    *x = NULL;
    *der = NULL;
    CM_TRY(db_open_home(&db, home, 0));
    CM_TRY(db_cert_get(db, &c, serial));
    if (c == NULL)
        CM_FAIL(CM_ERR_NOTFOUND, "serial %s: no such certificate in %s", serial, home);
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
    db_close(db);
    return rc;
}

int cmd_dsunpublish(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    struct ds_report rep = {CLI_FMT_TEXT, CM_BUF_INIT(64 * 1024 * 1024), 0, CM_OK};
    int dry_run = 0, ch, failed = 0;
    cm_err rc = CM_OK;
    cm_config *cfg = NULL;
    struct dir *d = NULL;

    while ((ch = cli_getopt(argc, argv, "nh", opts)) != -1) {
        switch (ch) {
        case 'n':
            dry_run = 1;
            break;
        case 'h':
            fputs(cmd_dsunpublish_usage, stdout);
            return 0;
        case 'F':
            if (cli_parse_format(&rep.fmt, optarg) != 0)
                return 2;
            break;
        default:
            fputs(cmd_dsunpublish_usage, stderr);
            return 2;
        }
    }
    if (optind >= argc)
        return cli_usage_error("dsunpublish: give certificate files or serials "
                               "(see 'certmint help dsunpublish')");
    rc = connect_dir(&d, &cfg, g);
    if (rc != CM_OK)
        goto out;
    for (int i = optind; i < argc; i++) {
        X509 *x = NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        char serial[CM_SERIAL_BUF];
        const char *what = argv[i];

        /* A file when one exists by that name, else a serial. */
        if (fs_exists(argv[i])) {
            rc = cert_load(&x, &der, &len, argv[i]);
        } else if (text_serial_canon(serial, argv[i]) == CM_OK) {
            what = serial;
            rc = cert_from_db(&x, &der, &len, g->home, serial);
        } else {
            rc =
                cm_err_set(CM_ERR_NOTFOUND, "%s: neither a certificate file nor a serial", argv[i]);
        }
        if (rc == CM_OK)
            rc = one_cert(&rep, d, x, der, len, what, 1, DIR_REFUSE, dry_run);
        if (rc != CM_OK) {
            ds_fail(&rep, rc, argv[i]);
            failed = 1;
        }
        X509_free(x);
        OPENSSL_free(der);
    }
    rc = CM_OK;
out:
    dir_close(d);
    config_free(cfg);
    if (rc != CM_OK) {
        buf_free(&rep.b);
        return cli_fail(rc);
    }
    return ds_report_end(&rep, dry_run, failed);
}
