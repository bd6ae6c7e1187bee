/* certmint exit status|flush|skip|retry: the exit-module queue. */
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
    if (rep.poisoned > 0)
        fprintf(stderr,
                "certmint: warning: %zu event(s) could not be delivered and were moved aside "
                "as poisoned (see 'certmint exit status', 'certmint exit retry ID')\n",
                rep.poisoned);
}

const char cmd_exit_usage[] =
    "certmint exit status\n"
    "certmint exit flush\n"
    "certmint exit skip MODULE\n"
    "certmint exit retry ID [MODULE]\n"
    "\n"
    "Exit modules are told of every CA event (exit.modules). Events are queued in the\n"
    "database with the state change that raised them and delivered in order, at least once.\n"
    "An event a module can never deliver as it is (SMTP: the mail cannot be rendered, or\n"
    "the server refuses it with a 5xx reply) is moved aside as poisoned, with the reason,\n"
    "and the events behind it go on; an EXITPOISONED event alerts the other modules.\n"
    "  status   per module: enabled / not enabled, event filter, backlog, last success,\n"
    "           last error, and each poisoned event with its reason\n"
    "  flush    deliver every queued event now (ignores the retry backoff); exit status 1\n"
    "           if a module still has a backlog\n"
    "  skip     start MODULE from the newest event (drops its backlog and its poisoned\n"
    "           events; audited)\n"
    "  retry    deliver poisoned event ID again (to MODULE, or to every module that set\n"
    "           it aside) after fixing the cause; audited; exit status 1 if it still fails\n";

static cm_err poison_line(void *ctx, const struct db_poison *p)
{
    char since[32];
    (void)ctx;
    text_format_time(since, sizeof(since), p->since);
    printf("\tpoisoned event %lld since %s (%lld attempt%s): %s\n", (long long)p->event_id, since,
           (long long)p->attempts, p->attempts == 1 ? "" : "s", p->reason);
    return CM_OK;
}

static void status_line(void *ctx, const struct exit_module_status *st)
{
    char filter[512], ok[32] = "never", err[32] = "-";
    ca_ctx *ca = ctx;
    exit_filter_names(filter, sizeof(filter), st->filter);
    if (st->last_success)
        text_format_time(ok, sizeof(ok), st->last_success);
    if (st->last_error_when)
        text_format_time(err, sizeof(err), st->last_error_when);
    printf("%s\t%s\tbacklog=%lld\tacked=%lld\tlast_success=%s\tfilter=%s\tpoisoned=%lld\n",
           st->name, st->enabled ? "enabled" : "not-enabled", (long long)st->backlog,
           (long long)st->acked, ok, filter, (long long)st->poisoned);
    /* The trap of a new administrator: keys set, module not listed. */
    if (!st->enabled && st->configured)
        printf("\tnot enabled: exit.%s keys are set but exit.modules does not list %s; nothing "
               "is delivered through it ('certmint config set exit.modules ...,%s')\n",
               st->name, st->name, st->name);
    if (st->attempts > 0 || st->last_error[0])
        printf("\tlast_error=%s (%s, %lld consecutive failure%s)\n", st->last_error, err,
               (long long)st->attempts, st->attempts == 1 ? "" : "s");
    if (st->poisoned > 0 && exit_poisoned(ca, st->name, poison_line, NULL) != CM_OK)
        printf("\tpoisoned events: %s\n", cm_err_msg());
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

    long long id = 0;

    if (argc < 2)
        return cli_usage_error("exit: usage: certmint exit status|flush|skip MODULE|retry ID");
    if (strcmp(argv[1], "retry") == 0) {
        if (argc != 3 && argc != 4)
            return cli_usage_error("exit retry: usage: certmint exit retry ID [MODULE]");
        if (text_parse_int(&id, argv[2], 1, INT64_MAX, "event ID") != CM_OK)
            return cli_fail(CM_ERR_INVALID);
    } else if (strcmp(argv[1], "skip") == 0 ? argc != 3 : argc != 2) {
        return cli_usage_error("exit: see 'certmint help exit'");
    }
    if (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "flush") != 0 &&
        strcmp(argv[1], "skip") != 0 && strcmp(argv[1], "retry") != 0)
        return cli_usage_error("exit: unknown subcommand '%s'", argv[1]);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    if (strcmp(argv[1], "status") == 0) {
        rc = exit_status(ca, status_line, ca);
    } else if (strcmp(argv[1], "retry") == 0) {
        size_t n = 0;
        rc = exit_retry(ca, (int64_t)id, argc == 4 ? argv[3] : NULL, &n);
        if (rc == CM_OK)
            printf("event %lld delivered by %zu module(s)\n", id, n);
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
