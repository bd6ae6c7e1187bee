/* certmint exit status|flush|skip: the exit-module queue. */
#include "cli/commands.h"

#include "exit/exit.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

void cli_deliver(ca_ctx *ca)
{
    struct exit_delivery_report rep;
    int flags = EXIT_DELIVER_RESPECT_BACKOFF;
    /* In strict audit mode the command's certificate is released only by a
     * delivery: wait for a running `certmint serve` to finish its pass
     * rather than leave the certificate to it. Otherwise a running serve
     * delivers the events, and the command does not wait. */
    if (config_get_bool(ca->cfg, "audit.require_offbox"))
        flags |= EXIT_DELIVER_WAIT_LOCK;
    /* The command's state change is committed; delivery problems are
     * recorded for `certmint exit status` and retried later, never fatal. */
    if (exit_deliver(ca, flags, &rep) != CM_OK)
        log_error("event delivery: %s", cm_err_msg());
    else if (rep.failed_modules > 0)
        fprintf(stderr,
                "certmint: warning: %zu exit module(s) could not deliver; events stay "
                "queued (see 'certmint exit status')\n",
                rep.failed_modules);
}

const char cmd_exit_usage[] =
    "certmint exit status\n"
    "certmint exit flush\n"
    "certmint exit skip MODULE\n"
    "\n"
    "Exit modules are told of every CA event (exit.modules). Events are queued in the\n"
    "database with the state change that raised them and delivered in order, at least once.\n"
    "  status   per module: enabled, event filter, backlog, last success, last error\n"
    "  flush    deliver every queued event now (ignores the retry backoff); exit status 1\n"
    "           if a module still has a backlog\n"
    "  skip     start MODULE from the newest event (drops its backlog; audited)\n";

static void status_line(void *ctx, const struct exit_module_status *st)
{
    char filter[512], ok[32] = "never", err[32] = "-";
    (void)ctx;
    exit_filter_names(filter, sizeof(filter), st->filter);
    if (st->last_success)
        text_format_time(ok, sizeof(ok), st->last_success);
    if (st->last_error_when)
        text_format_time(err, sizeof(err), st->last_error_when);
    printf("%s\t%s\tbacklog=%lld\tacked=%lld\tlast_success=%s\tfilter=%s\n", st->name,
           st->enabled ? "enabled" : "disabled", (long long)st->backlog, (long long)st->acked, ok,
           filter);
    if (st->attempts > 0 || st->last_error[0])
        printf("\tlast_error=%s (%s, %lld consecutive failure%s)\n", st->last_error, err,
               (long long)st->attempts, st->attempts == 1 ? "" : "s");
}

struct backlog_ctx {
    int64_t backlog;
};

static void backlog_cb(void *ctx, const struct exit_module_status *st)
{
    if (st->enabled)
        ((struct backlog_ctx *)ctx)->backlog += st->backlog;
}

int cmd_exit(const struct cli_global *g, int argc, char **argv)
{
    ca_ctx *ca = NULL;
    cm_err rc = CM_OK;
    int status = 0;

    if (argc < 2)
        return cli_usage_error("exit: usage: certmint exit status|flush|skip MODULE");
    if (strcmp(argv[1], "skip") == 0 ? argc != 3 : argc != 2)
        return cli_usage_error("exit: see 'certmint help exit'");
    if (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "flush") != 0 &&
        strcmp(argv[1], "skip") != 0)
        return cli_usage_error("exit: unknown subcommand '%s'", argv[1]);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    if (strcmp(argv[1], "status") == 0) {
        rc = exit_status(ca, status_line, NULL);
    } else if (strcmp(argv[1], "flush") == 0) {
        struct exit_delivery_report rep;
        struct backlog_ctx b = {0};
        rc = exit_deliver(ca, EXIT_DELIVER_WAIT_LOCK, &rep);
        if (rc == CM_OK)
            rc = exit_status(ca, backlog_cb, &b);
        if (rc == CM_OK) {
            printf("delivered %zu event(s); %lld still queued\n", rep.delivered,
                   (long long)b.backlog);
            if (b.backlog > 0)
                status = 1;
        }
    } else {
        rc = exit_skip(ca, argv[2]);
    }
    ca_close(ca);
    return rc == CM_OK ? status : cli_fail(rc);
}
