/* certmint crl: publish a full or delta CRL. */
#include "cli/cli.h"
#include "cli/commands.h"
#include "crl/crl.h"
#include "util/json.h"
#include "util/text.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_crl_usage[] =
    "usage: certmint crl [--delta] [--out FILE [--force]] [--format table|json]\n"
    "\n"
    "Signs and publishes a CRL with the CA key (RFC 5280 section 5): every\n"
    "revoked certificate (full CRL) or, with --delta, what changed since the\n"
    "last full CRL (delta CRL). Writes HOME/crl/ca.crl and ca.crl.pem, or\n"
    "delta.crl and delta.crl.pem, records the CRL and raises CRLISSUED.\n"
    "\n"
    "  --delta      publish a delta CRL (needs crl.delta_period > 0 and a full CRL)\n"
    "  --out FILE   also write the DER CRL to FILE (never inside the CA home)\n"
    "  --force      replace FILE if it exists\n"
    "  --format F   table (default) or json: {\"number\",\"kind\":\"full\"|\"delta\",\n"
    "               \"base_number\",\"entries\",\"this_update\",\"next_update\",\"sha256\",\n"
    "               \"der_path\",\"pem_path\",\"out\"} (what was published)\n"
    "\n"
    "Validity: crl.period (full, default 7d), crl.delta_period (delta, default 1d).\n";

/* Copies the CRL just published to the user's file: the core checks that
 * it is the one published (not one a concurrent run wrote meanwhile). */
static cm_err copy_out(const struct cli_global *g, const struct crl_result *r, const char *dest,
                       int force)
{
    unsigned char *data = NULL;
    size_t len = 0;
    cm_err rc = crl_published_read(&data, &len, r);

    if (rc == CM_ERR_STATE) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", cm_err_msg());
        rc = cm_err_set(rc, "%s; %s not written", msg, dest);
    }
    if (rc == CM_OK)
        rc = cli_write_file(g, dest, force, data, len, 0644);
    free(data);
    return rc;
}

/* crl's JSON report of what was published. */
static int crl_json(const struct crl_result *r, const char *out_file)
{
    cm_buf b = CM_BUF_INIT(64 * 1024);
    int first = 1;
    cm_err rc = CM_OK;

    CM_TRY(buf_append_str(&b, "{"));
    CM_TRY(json_append_kv_int(&b, &first, "number", (long long)r->number));
    CM_TRY(json_append_kv(&b, &first, "kind", r->is_delta ? "delta" : "full"));
    if (r->is_delta)
        CM_TRY(json_append_kv_int(&b, &first, "base_number", (long long)r->base_number));
    else
        CM_TRY(json_append_kv(&b, &first, "base_number", NULL));
    CM_TRY(json_append_kv_int(&b, &first, "entries", (long long)r->entries));
    CM_TRY(json_append_kv_time(&b, &first, "this_update", r->this_update));
    CM_TRY(json_append_kv_time(&b, &first, "next_update", r->next_update));
    CM_TRY(json_append_kv(&b, &first, "sha256", r->sha256_hex));
    CM_TRY(json_append_kv(&b, &first, "der_path", r->der_path));
    CM_TRY(json_append_kv(&b, &first, "pem_path", r->pem_path));
    CM_TRY(json_append_kv(&b, &first, "out", out_file));
    CM_TRY(buf_append_str(&b, "}"));
out:
    return cli_json_emit(&b, rc);
}

int cmd_crl(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"delta", no_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    enum cli_format fmt = CLI_FMT_TEXT;
    ca_ctx *ca = NULL;
    struct crl_result res;
    const char *out_file = NULL;
    char next[32];
    int delta = 0, ch, status = 0, force = 0;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "do:fh", opts)) != -1) {
        switch (ch) {
        case 'd':
            delta = 1;
            break;
        case 'o':
            out_file = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            fputs(cmd_crl_usage, stdout);
            return 0;
        case 'F':
            if (cli_parse_format(&fmt, optarg) != 0)
                return 2;
            break;
        default:
            fputs(cmd_crl_usage, stderr);
            return 2;
        }
    }
    if (optind < argc)
        return cli_usage_error("crl: unexpected argument '%s'", argv[optind]);
    if (out_file != NULL && out_file[0] == '\0')
        return cli_usage_error("crl: --out needs a file name");
    /* Refused before signing: a CRL number is not spent on a bad --out. */
    if (out_file != NULL && (rc = cli_out_check(g, out_file, force)) != CM_OK)
        return cli_fail(rc);

    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK || (rc = ca_load_key(ca)) != CM_OK ||
        (rc = crl_publish(&res, ca, delta)) != CM_OK) {
        status = cli_fail(rc);
        goto out;
    }
    cli_deliver(ca);
    if (fmt == CLI_FMT_JSON) {
        if (out_file != NULL && (rc = copy_out(g, &res, out_file, force)) != CM_OK)
            status = cli_fail(rc);
        else
            status = crl_json(&res, out_file);
        goto out;
    }
    text_format_time(next, sizeof(next), res.next_update);
    printf("CRL %lld (%s): %lld entries, next update %s UTC, written to %s\n",
           (long long)res.number, res.is_delta ? "delta" : "full", (long long)res.entries, next,
           res.der_path);
    if (out_file != NULL) {
        if ((rc = copy_out(g, &res, out_file, force)) != CM_OK) {
            status = cli_fail(rc);
            goto out;
        }
        printf("DER copy written to %s\n", out_file);
    }
out:
    cli_close_ca(ca);
    return status;
}
