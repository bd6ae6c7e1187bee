/* certmint exit status|flush|skip|retry: the exit-module queue. */
#include "cli/commands.h"

#include "exit/exit.h"
#include "util/json.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

void cli_report_delivery(const struct exit_delivery_report *rep)
{
    if (rep->failed_modules > 0)
        fprintf(stderr,
                "certmint: warning: %zu exit module(s) could not deliver; events stay "
                "queued (see 'certmint exit status')\n",
                rep->failed_modules);
    if (rep->poisoned > 0)
        fprintf(stderr,
                "certmint: warning: %zu event(s) could not be delivered and were moved aside "
                "as poisoned (see 'certmint exit status', 'certmint exit retry ID')\n",
                rep->poisoned);
}

void cli_deliver(ca_ctx *ca)
{
    struct exit_delivery_report rep;

    /* The command's state change is committed; the core delivers as its
     * policy says (exit_deliver_committed), and problems are warnings. */
    if (exit_deliver_committed(&rep, ca) != CM_OK)
        log_error("event delivery: %s", cm_err_msg());
    cli_report_delivery(&rep);
}

const char cmd_exit_usage[] =
    "certmint exit status [--format table|json]\n"
    "certmint exit flush [--format table|json]\n"
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
    "           it aside) after fixing the cause; audited; exit status 1 if it still fails\n"
    "status --format json: {\"modules\":[{\"name\",\"enabled\",\"configured\",\"offbox\",\n"
    "\"filter\",\"backlog\",\"acked\",\"last_success\",\"last_error\",\"last_error_when\",\n"
    "\"attempts\",\"next_attempt\",\"poisoned\":[{\"event\",\"since\",\"attempts\",\n"
    "\"reason\"}]}]} (times UTC, null for never). flush --format json:\n"
    "{\"delivered\",\"queued\"}.\n";

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

struct status_json_ctx {
    struct ca_ctx *ca;
    cm_buf b;
    size_t n;       /* modules written */
    size_t npoison; /* poisoned events written for the current module */
    cm_err err; /* first failure (the callback cannot return one) */
};

/* One poisoned event in `exit status --format json`. */
static cm_err poison_json(void *ctx, const struct db_poison *p)
{
    struct status_json_ctx *j = ctx;
    int first = 1;
    cm_err rc = buf_append_str(&j->b, j->npoison++ ? ",{" : "{");
    if (rc == CM_OK)
        rc = json_append_kv_int(&j->b, &first, "event", (long long)p->event_id);
    if (rc == CM_OK)
        rc = json_append_kv_time(&j->b, &first, "since", p->since);
    if (rc == CM_OK)
        rc = json_append_kv_int(&j->b, &first, "attempts", (long long)p->attempts);
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "reason", p->reason);
    if (rc == CM_OK)
        rc = buf_append_str(&j->b, "}");
    return rc;
}

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
        rc = json_append_kv_bool(b, &first, "configured", st->configured);
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
        rc = buf_append_str(b, ",\"poisoned\":[");
    j->npoison = 0;
    if (rc == CM_OK && st->poisoned > 0)
        rc = exit_poisoned(j->ca, st->name, poison_json, j);
    if (rc == CM_OK)
        rc = buf_append_str(b, "]}");
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
    struct status_json_ctx js = {NULL, CM_BUF_INIT(16 * 1024 * 1024), 0, 0, CM_OK};

    long long id = 0;

    if (cli_take_format(&fmt, &argc, argv) != 0)
        return 2;
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
    if (strcmp(argv[1], "status") == 0 && fmt == CLI_FMT_JSON) {
        js.ca = ca;
        rc = buf_append_str(&js.b, "{\"modules\":[");
        if (rc == CM_OK)
            rc = exit_status(ca, status_json, &js);
        if (rc == CM_OK)
            rc = js.err;
        if (rc == CM_OK)
            status = cli_json_emit(&js.b, buf_append_str(&js.b, "]}"));
    } else if (strcmp(argv[1], "status") == 0) {
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
    cli_close_ca(ca);
    buf_free(&js.b);
    return rc == CM_OK ? status : cli_fail(rc);
}
