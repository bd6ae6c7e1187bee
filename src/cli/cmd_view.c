/* certmint view: the certificate database as a table, CSV or JSON, with
 * certutil-style restrictions. A thin client of ca/view.h. */
#include "ca/view.h"
#include "cli/cli.h"
#include "cli/commands.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

const char cmd_view_usage[] =
    "usage: certmint view [--restrict \"COL OP VALUE,...\"] [--out COL,...]\n"
    "                     [--format table|csv|json] [--limit N]\n"
    "\n"
    "Lists the requests and their certificates, oldest request first.\n"
    "\n"
    "  -r, --restrict EXPR  only rows matching every term of EXPR, e.g.\n"
    "                       \"Disposition=issued,NotAfter<now+30d\". OP is one of\n"
    "                       = != < <= > >=; quote values holding commas (\"a, b\");\n"
    "                       EMPTY matches a missing value.\n"
    "  -o, --out COLS       columns to show, comma separated (default:\n"
    "                       RequestID,Disposition,SerialNumber,CommonName,NotAfter,\n"
    "                       RevokedReason)\n"
    "  -f, --format FMT     table (default), csv (RFC 4180) or json\n"
    "  -n, --limit N        at most N rows\n"
    "\n"
    "Columns: RequestID RequesterName SubmittedWhen ResolvedWhen Disposition\n"
    "DispositionMessage CertificateTemplate RequestDistinguishedName SerialNumber\n"
    "NotBefore NotAfter DistinguishedName CommonName EMail SubjectAltNames\n"
    "CertificateHash SubjectKeyIdentifier RevokedWhen RevokedEffectiveWhen\n"
    "RevokedReason InvalidityDate Origin RecoveredFrom Withheld RawCertificate\n"
    "RawRequest (binary columns are shown as base64). Times are UTC.\n"
    "See docs/view.md.\n";

int cmd_view(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"restrict", required_argument, NULL, 'r'}, {"out", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},   {"limit", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *restrict_expr = NULL, *out_cols = NULL;
    long long limit = 0;
    ca_view_query *q = NULL;
    ca_ctx *ca = NULL;
    int ch, status = 0;
    cm_err rc;

    if ((rc = ca_view_query_new(&q)) != CM_OK)
        return cli_fail(rc);
    while ((ch = cli_getopt(argc, argv, "r:o:f:n:h", opts)) != -1) {
        switch (ch) {
        case 'r':
            restrict_expr = optarg;
            break;
        case 'o':
            out_cols = optarg;
            break;
        case 'f':
            if (ca_view_set_format(q, optarg) != CM_OK)
                status = cli_usage_error("view: %s", cm_err_msg());
            break;
        case 'n':
            if (text_parse_int(&limit, optarg, 1, LLONG_MAX, "--limit") != CM_OK)
                status = cli_usage_error("view: %s", cm_err_msg());
            ca_view_set_limit(q, (uint64_t)limit);
            break;
        case 'h':
            fputs(cmd_view_usage, stdout);
            goto out;
        default:
            fputs(cmd_view_usage, stderr);
            status = 2;
        }
        if (status != 0)
            goto out;
    }
    if (optind < argc) {
        status = cli_usage_error("view: unexpected argument '%s'", argv[optind]);
        goto out;
    }
    /* Every mistake in the options is reported before anything is printed
     * or the CA is opened. */
    if (out_cols != NULL && ca_view_set_columns(q, out_cols) != CM_OK)
        status = cli_usage_error("view: --out: %s", cm_err_msg());
    else if (restrict_expr != NULL && ca_view_set_restrict(q, restrict_expr) != CM_OK)
        status = cli_usage_error("view: %s", cm_err_msg());
    if (status != 0)
        goto out;

    rc = cli_open_ca(&ca, g, 1);
    if (rc == CM_OK)
        rc = ca_view(stdout, ca, q);
    if (rc != CM_OK)
        status = cli_fail(rc);
out:
    cli_close_ca(ca);
    ca_view_query_free(q);
    return status;
}
