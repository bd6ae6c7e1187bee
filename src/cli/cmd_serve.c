/* certmint serve */
#include "cli/commands.h"

#include "serve/serve.h"
#include "util/log.h"

#include <getopt.h>
#include <signal.h>
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

/* The signals are the front end's: the handlers only set flags, which the
 * serve loop polls (serve_opts.poll); a signal also ends its sleep. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static int serve_poll(void *ctx)
{
    int req = SERVE_RUN;
    (void)ctx;
    if (stop_requested)
        req |= SERVE_STOP;
    if (reload_requested) {
        reload_requested = 0;
        req |= SERVE_RELOAD;
    }
    return req;
}

static void signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cmd_serve(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    struct serve_opts o = {0, serve_poll, NULL};
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
    signals_install();
    rc = serve_run(ca, &o);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}
