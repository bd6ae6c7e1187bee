/* certmint serve */
#include "cli/commands.h"

#include "cli/serve_proc.h"
#include "http/http.h"
#include "serve/serve.h"
#include "util/log.h"

#include <getopt.h>
#include <signal.h>
#include <string.h>

const char cmd_serve_usage[] =
    "certmint serve [--once] [--setup-tls [--tls-names NAMES]]\n"
    "\n"
    "Runs the CA service in the foreground: raises STARTUP, then delivers queued\n"
    "exit-module events (with retries and backoff), raises CERTEXPIRING (exit.expiring_days),\n"
    "and republishes the full and delta CRLs before the previous ones expire (crl.period,\n"
    "crl.delta_period, crl.overlap), raising CRLISSUED. With http.listen or https.listen\n"
    "set it also serves HTTP (docs/http.md): the CA certificate, chain and CRLs under\n"
    "/ca/ and /crl/, the OCSP responder at /ocsp (responses pre-signed, ocsp.*), /healthz\n"
    "and /metrics. With HTTP the CA key is opened only by a key process forked at start\n"
    "(serve.key_process), which signs for the server. Started as root, serve switches\n"
    "to serve.user after binding and before any thread starts (the key process stays\n"
    "root; without HTTP the key is opened first). If the key process dies, serve stops and\n"
    "exits 1. SIGTERM or SIGINT: raises SHUTDOWN, drains what it can (open HTTP\n"
    "requests: up to 10 s) and exits 0. SIGHUP reloads the configuration, the TLS\n"
    "certificate and the CA files and CRLs served. Logs go to stderr (log.level, -v). The\n"
    "CA key passphrase must come from a file (--passphrase-file or ca.passphrase_file)\n"
    "unless started on a terminal.\n"
    "Several nodes may serve one CA whose database is in PostgreSQL (docs/postgresql.md):\n"
    "one delivers events and one publishes a due CRL at a time. When the database goes\n"
    "away serve logs it once, retries with backoff (1 s doubling to 16 s) and resumes.\n"
    "  --once         one pass of the loop, then stop as on SIGTERM\n"
    "  --setup-tls    have the CA issue the HTTPS server certificate (for the host of\n"
    "                 https.listen) into HOME/private/https.crt and https.key, then exit\n"
    "  --tls-names N  with --setup-tls: more DNS names or IP addresses, comma separated\n";

/* The signals are the front end's: the handlers only set flags, which the
 * serve loop polls (serve_opts.poll); a signal also ends its sleep. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static struct serve_keyproc keyproc;
static int keyproc_lost;

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
    /* Without its key process the server cannot sign: it stops, and exits
     * non-zero (a supervisor restarts both). */
    if (serve_keyproc_died(&keyproc)) {
        keyproc_lost = 1;
        req |= SERVE_STOP;
    }
    if (reload_requested) {
        reload_requested = 0;
        req |= SERVE_RELOAD;
    }
    return req;
}

static void install_signals(void)
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

/* The serve loop's tick: the HTTP server's turn in the ca_ctx's thread. */
static void http_tick(void *ctx, ca_ctx *ca, int reloaded)
{
    http_server *s = ctx;
    if (reloaded)
        http_server_reload(s, ca);
    http_server_tick(s, ca);
}

static int setup_tls(const struct cli_global *g, const char *names)
{
    ca_ctx *ca = NULL;
    cm_err rc;
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    if ((rc = ca_load_key(ca)) == CM_OK)
        rc = http_setup_tls(ca, names);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

int cmd_serve(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'},
                                         {"setup-tls", no_argument, NULL, 's'},
                                         {"tls-names", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    struct serve_opts o = {0};
    ca_ctx *ca = NULL;
    http_server *srv = NULL;
    const char *names = NULL;
    int ch, tls = 0;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch == 'o')
            o.once = 1;
        else if (ch == 's')
            tls = 1;
        else if (ch == 'n')
            names = optarg;
        else
            return cli_usage_error("serve: see 'certmint help serve'");
    }
    if (optind != argc)
        return cli_usage_error("serve: unexpected argument '%s'", argv[optind]);
    if (names != NULL && !tls)
        return cli_usage_error("serve: --tls-names goes with --setup-tls");
    if (log_get_level() < LOG_LVL_INFO && g->verbose == 0)
        log_set_level(LOG_LVL_INFO);
    if (tls)
        return setup_tls(g, names);
    install_signals();
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    o.poll = serve_poll;
    /* The key process is forked here, before any thread exists; then the
     * listeners are bound, root is given up while this process still has
     * one thread, and only then do the HTTP threads start (docs/http.md). */
    rc = serve_keyproc_wanted(ca) ? serve_keyproc_start(&keyproc, ca) : ca_load_key(ca);
    if (rc == CM_OK && (rc = http_server_start(&srv, ca)) == CM_OK &&
        (rc = serve_drop_privileges(ca)) == CM_OK && (rc = http_server_run(srv)) == CM_OK) {
        if (srv != NULL) {
            o.tick = http_tick;
            o.tick_ctx = srv;
        }
        rc = serve_run(ca, &o);
    }
    http_server_stop(srv, 10);
    cli_close_ca(ca); /* closes the key process's connections: it exits */
    serve_keyproc_reap(&keyproc);
    if (rc == CM_OK && keyproc_lost)
        rc = cm_err_set(CM_ERR_STATE, "serve stopped: the key process exited");
    return rc == CM_OK ? 0 : cli_fail(rc);
}
