/* certmint dspublish / dsunpublish: certificates, the CA certificate and CRLs
 * in the directory, a thin client of ldap/publish.h (the core finds the
 * entries, changes them and records each change in the audit log).
 *
 * The CA key is never loaded. */
#include "cli/cli.h"
#include "cli/commands.h"
#include "ldap/publish.h"
#include "util/json.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "Every change made is recorded in the audit log ('certmint audit': action\n"
    "dspublish, the serial, the attribute, entry and change).\n"
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
    "Every removal is recorded in the audit log (action dsunpublish).\n"
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
static void ds_json_item(struct ds_report *r, const struct ds_result *res)
{
    int first = 1;
    cm_err rc;

    if (r->err != CM_OK)
        return;
    rc = buf_append_str(&r->b, r->n++ ? ",{" : "{\"results\":[{");
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "item", res->item);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "dn", res->dn);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "matched_by", res->matched_by);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "attribute", res->attribute);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "change", res->change);
    if (rc == CM_OK)
        rc = json_append_kv(&r->b, &first, "error", res->error);
    if (rc == CM_OK)
        rc = buf_append_str(&r->b, "}");
    r->err = rc;
}

/* One item from the core: a failure on stderr (and in the JSON results), a
 * success as a line or a JSON result. */
static void ds_print(void *ctx, const struct ds_result *res)
{
    struct ds_report *r = ctx;

    if (r->fmt == CLI_FMT_JSON)
        ds_json_item(r, res);
    if (res->error != NULL)
        fprintf(stderr, "certmint: %s\n", res->error);
    else if (r->fmt == CLI_FMT_JSON)
        return;
    else if (res->matched_by != NULL)
        printf("%s: %s (matched by %s): %s\n", res->item, res->dn, res->matched_by, res->change);
    else
        printf("%s: %s %s: %s\n", res->item, res->dn, res->attribute, res->change);
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
    struct ds_publish_opts o;
    int ch, failed = 0;
    cm_err rc = CM_OK;
    ca_ctx *ca = NULL;

    memset(&o, 0, sizeof(o));
    o.mode = DIR_REFUSE;
    while ((ch = cli_getopt(argc, argv, "fnh", opts)) != -1) {
        switch (ch) {
        case 'r':
        case 'a':
            if (o.mode != DIR_REFUSE)
                return cli_usage_error("dspublish: give --replace or --add, not both");
            o.mode = ch == 'r' ? DIR_REPLACE : DIR_ADD;
            break;
        case 'C':
            o.ca = 1;
            break;
        case 'L':
            o.crl = 1;
            break;
        case 'f':
            o.create = 1;
            break;
        case 'n':
            o.dry_run = 1;
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
    if (o.ca || o.crl) {
        if (optind < argc)
            return cli_usage_error("dspublish: --ca/--crl take no certificate files");
        if (o.mode != DIR_REFUSE)
            return cli_usage_error("dspublish: --replace/--add apply to certificate files");
    } else {
        if (optind >= argc)
            return cli_usage_error("dspublish: give certificate files, --ca or --crl "
                                   "(see 'certmint help dspublish')");
        if (o.create)
            return cli_usage_error("dspublish: --create applies to --ca and --crl");
    }
    o.files = (const char *const *)argv + optind;
    o.nfiles = (size_t)(argc - optind);
    /* Neither the CA key nor (without --ca) the CA certificate is needed. */
    rc = cli_open_ca(&ca, g, 1);
    if (rc == CM_OK)
        rc = ds_publish(&failed, ca, &o, ds_print, &rep);
    cli_close_ca(ca);
    if (rc != CM_OK) {
        buf_free(&rep.b);
        return cli_fail(rc);
    }
    return ds_report_end(&rep, o.dry_run, failed);
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
    ca_ctx *ca = NULL;

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
    rc = cli_open_ca(&ca, g, 1);
    if (rc == CM_OK)
        rc = ds_unpublish(&failed, ca, (const char *const *)argv + optind,
                          (size_t)(argc - optind), dry_run, ds_print, &rep);
    cli_close_ca(ca);
    if (rc != CM_OK) {
        buf_free(&rep.b);
        return cli_fail(rc);
    }
    return ds_report_end(&rep, dry_run, failed);
}
