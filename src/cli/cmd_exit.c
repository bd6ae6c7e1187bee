/* certmint exit status|flush|skip: the exit-module queue. */
#include "cli/commands.h"

#include "exit/exit.h"
#include "util/json.h"
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
    "certmint exit status [--format table|json]\n"
    "certmint exit flush [--format table|json]\n"
    "certmint exit skip MODULE\n"
    "\n"
    "Exit modules are told of every CA event (exit.modules). Events are queued in the\n"
    "database with the state change that raised them and delivered in order, at least once.\n"
    "  status   per module: enabled, event filter, backlog, last success, last error\n"
    "  flush    deliver every queued event now (ignores the retry backoff); exit status 1\n"
    "           if a module still has a backlog\n"
    "  skip     start MODULE from the newest event (drops its backlog; audited)\n"
    "status --format json: {\"modules\":[{\"name\",\"enabled\",\"offbox\",\"filter\",\n"
    "\"backlog\",\"acked\",\"last_success\",\"last_error\",\"last_error_when\",\"attempts\",\n"
    "\"next_attempt\"}]} (times UTC, null for never). flush --format json:\n"
    "{\"delivered\",\"queued\"}.\n";

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

struct status_json_ctx {
    cm_buf b;
    size_t n;   /* modules written */
    cm_err err; /* first failure (the callback cannot return one) */
};

/* One module of `exit status --format json`. */
static void status_json(void *ctx, const struct exit_module_status *st)
{
    struct status_json_ctx *j = ctx;
    cm_buf *b = &j->b;
    char filter[512];
    int first = 1;
    cm_err rc;

    exit_filter_names(filter, sizeof(filter), st->filter);
    if (j->err != CM_OK)
        return;
    rc = buf_append_str(b, j->n++ ? ",{" : "{");
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "name", st->name);
    if (rc == CM_OK)
        rc = json_append_kv_bool(b, &first, "enabled", st->enabled);
    if (rc == CM_OK)
        rc = json_append_kv_bool(b, &first, "offbox", st->offbox);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "filter", filter);
    if (rc == CM_OK)
        rc = json_append_kv_int(b, &first, "backlog", (long long)st->backlog);
    if (rc == CM_OK)
        rc = json_append_kv_int(b, &first, "acked", (long long)st->acked);
    if (rc == CM_OK)
        rc = json_append_kv_time(b, &first, "last_success", st->last_success);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "last_error", st->last_error[0] ? st->last_error : NULL);
    if (rc == CM_OK)
        rc = json_append_kv_time(b, &first, "last_error_when", st->last_error_when);
    if (rc == CM_OK)
        rc = json_append_kv_int(b, &first, "attempts", (long long)st->attempts);
    if (rc == CM_OK)
        rc = json_append_kv_time(b, &first, "next_attempt", st->next_attempt);
    if (rc == CM_OK)
        rc = buf_append_str(b, "}");
    j->err = rc;
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
    enum cli_format fmt = CLI_FMT_TEXT;
    struct status_json_ctx js = {CM_BUF_INIT(16 * 1024 * 1024), 0, CM_OK};

    if (cli_take_format(&fmt, &argc, argv) != 0)
        return 2;
    if (argc < 2)
        return cli_usage_error("exit: usage: certmint exit status|flush|skip MODULE");
    if (strcmp(argv[1], "skip") == 0 ? argc != 3 : argc != 2)
        return cli_usage_error("exit: see 'certmint help exit'");
    if (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "flush") != 0 &&
        strcmp(argv[1], "skip") != 0)
        return cli_usage_error("exit: unknown subcommand '%s'", argv[1]);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    if (strcmp(argv[1], "status") == 0 && fmt == CLI_FMT_JSON) {
        rc = buf_append_str(&js.b, "{\"modules\":[");
        if (rc == CM_OK)
            rc = exit_status(ca, status_json, &js);
        if (rc == CM_OK)
            rc = js.err;
        if (rc == CM_OK)
            status = cli_json_emit(&js.b, buf_append_str(&js.b, "]}"));
    } else if (strcmp(argv[1], "status") == 0) {
        rc = exit_status(ca, status_line, NULL);
    } else if (strcmp(argv[1], "flush") == 0) {
        struct exit_delivery_report rep;
        struct backlog_ctx b = {0};
        rc = exit_deliver(ca, EXIT_DELIVER_WAIT_LOCK, &rep);
        if (rc == CM_OK)
            rc = exit_status(ca, backlog_cb, &b);
        if (rc == CM_OK && fmt == CLI_FMT_JSON) {
            int first = 1;
            rc = buf_append_str(&js.b, "{");
            if (rc == CM_OK)
                rc = json_append_kv_int(&js.b, &first, "delivered", (long long)rep.delivered);
            if (rc == CM_OK)
                rc = json_append_kv_int(&js.b, &first, "queued", (long long)b.backlog);
            if (rc == CM_OK)
                rc = cli_json_write(&js.b, buf_append_str(&js.b, "}"));
            if (rc == CM_OK && b.backlog > 0)
                status = 1;
        } else if (rc == CM_OK) {
            printf("delivered %zu event(s); %lld still queued\n", rep.delivered,
                   (long long)b.backlog);
            if (b.backlog > 0)
                status = 1;
        }
    } else {
        rc = exit_skip(ca, argv[2]);
    }
    ca_close(ca);
    buf_free(&js.b);
    return rc == CM_OK ? status : cli_fail(rc);
}
