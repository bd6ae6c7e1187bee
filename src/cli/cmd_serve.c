/* certmint serve */
#include "cli/commands.h"

#include "serve/serve.h"
#include "util/log.h"

#include <getopt.h>
#include <string.h>

const char cmd_serve_usage[] =
    "certmint serve [--once]\n"
    "\n"
    "Runs the CA service in the foreground: raises STARTUP, then delivers queued\n"
    "exit-module events (with retries and backoff), raises CERTEXPIRING (exit.expiring_days),\n"
    "and republishes the full and delta CRLs before the previous ones expire (crl.period,\n"
    "crl.delta_period, crl.overlap), raising CRLISSUED. SIGTERM or SIGINT: raises SHUTDOWN,\n"
    "drains what it can and exits 0. SIGHUP reloads the configuration. Logs go to stderr\n"
    "(log.level, -v). The CA key passphrase must come from a file (--passphrase-file or\n"
    "ca.passphrase_file) unless started on a terminal.\n"
    "  --once   one pass of the loop, then stop as on SIGTERM\n";

int cmd_serve(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    struct serve_opts o = {0};
    ca_ctx *ca = NULL;
    int ch;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch != 'o')
            return cli_usage_error("serve: see 'certmint help serve'");
        o.once = 1;
    }
    if (optind != argc)
        return cli_usage_error("serve: unexpected argument '%s'", argv[optind]);
    if (log_get_level() < LOG_LVL_INFO && g->verbose == 0)
        log_set_level(LOG_LVL_INFO);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = serve_run(ca, &o);
    ca_close(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}
