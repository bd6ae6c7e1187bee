/* certmint audit: the append-only audit log (who changed what, when). */
#include "ca/query.h"
#include "cli/commands.h"

#include "config/config.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_audit_usage[] =
    "certmint audit [--since TIME] [--format table|json]\n"
    "\n"
    "Shows the audit log, oldest first: every state change the CA recorded (submit,\n"
    "issue, deny, revoke, unrevoke, import, placeholder, config set/unset, restore,\n"
    "exit skip, ...), with who made it. The log is append-only in the database.\n"
    "Who: the user who ran the command ($SUDO_USER under sudo); other front ends\n"
    "record subject:DN (a client certificate), token:ID or service:NAME.\n"
    "  --since TIME   only records at or after TIME: YYYY-MM-DD[ HH:MM[:SS]] UTC,\n"
    "                 @UNIXTIME, or a duration ago (30m, 12h, 7d)\n"
    "  --format F     table (default): ID, time (UTC), who, action, RequestID, serial,\n"
    "                 details (control characters shown as \\xHH); json: one object\n"
    "                 {\"records\":[{\"id\",\"when\",\"when_unix\",\"who\",\"action\",\n"
    "                 \"request_id\",\"serial\",\"details\"}]} (absent values are null)\n"
    "The CA key is not needed.\n";

struct audit_out {
    enum cli_format format;
    size_t count;
};

static cm_err audit_json(struct audit_out *o, int64_t id, const struct db_audit *a)
{
    cm_buf b = CM_BUF_INIT(16 * 1024 * 1024);
    char when[32];
    int first = 1;
    cm_err rc = CM_OK;

    text_format_time(when, sizeof(when), a->when);
    CM_TRY(buf_printf(&b, "%s{\"id\":%lld,", o->count ? "," : "", (long long)id));
    first = 1;
    CM_TRY(json_append_kv(&b, &first, "when", when));
    CM_TRY(buf_printf(&b, ",\"when_unix\":%lld,", (long long)a->when));
    first = 1;
    CM_TRY(json_append_kv(&b, &first, "who", a->who));
    CM_TRY(json_append_kv(&b, &first, "action", a->action));
    if (a->request_id)
        CM_TRY(buf_printf(&b, ",\"request_id\":%lld", (long long)a->request_id));
    else
        CM_TRY(buf_append_str(&b, ",\"request_id\":null"));
    CM_TRY(json_append_kv(&b, &first, "serial", a->serial));
    CM_TRY(json_append_kv(&b, &first, "details", a->details));
    CM_TRY(buf_append_str(&b, "}"));
    if (fwrite(b.data, 1, b.len, stdout) != b.len)
        CM_FAIL(CM_ERR_IO, "standard output: write failed");
out:
    buf_free(&b);
    return rc;
}

static cm_err audit_row(void *ctx, int64_t id, const struct db_audit *a)
{
    struct audit_out *o = ctx;
    char when[32];
    cm_err rc = CM_OK;

    if (o->format == CLI_FMT_JSON) {
        rc = audit_json(o, id, a);
    } else {
        text_format_time(when, sizeof(when), a->when);
        printf("%lld\t%s\t", (long long)id, when);
        cli_print_safe(stdout, a->who);
        printf("\t%s\t", a->action ? a->action : "");
        if (a->request_id)
            printf("%lld", (long long)a->request_id);
        else
            putchar('-');
        printf("\t%s\t", a->serial ? a->serial : "-");
        cli_print_safe(stdout, a->details ? a->details : "");
        putchar('\n');
    }
    o->count++;
    return rc;
}

/* TIME as text_parse_time reads it, or a duration before now. */
static cm_err parse_since(int64_t *out, const char *s)
{
    int64_t d;
    if (text_parse_time(out, s) == CM_OK)
        return CM_OK;
    if (config_parse_duration(&d, s) == CM_OK) {
        *out = (int64_t)time(NULL) - d;
        return CM_OK;
    }
    return cm_err_set(CM_ERR_INVALID,
                      "--since '%s': not a time (YYYY-MM-DD[ HH:MM[:SS]], @UNIXTIME) or a "
                      "duration (30m, 12h, 7d)",
                      s);
}

int cmd_audit(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct audit_out o = {CLI_FMT_TEXT, 0};
    int64_t since = 0;
    ca_ctx *ca = NULL;
    int ch;
    cm_err rc = CM_OK;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 's':
            if (parse_since(&since, optarg) != CM_OK)
                return cli_usage_error("audit: %s", cm_err_msg());
            break;
        case 'f':
            if (cli_parse_format(&o.format, optarg) != 0)
                return 2;
            break;
        default:
            return cli_usage_error("audit: see 'certmint help audit'");
        }
    }
    if (optind != argc)
        return cli_usage_error("audit: unexpected argument '%s'", argv[optind]);
    CM_TRY(cli_open_ca(&ca, g, 1));
    if (o.format == CLI_FMT_JSON)
        fputs("{\"records\":[", stdout);
    CM_TRY(ca_audit_list(ca, since, audit_row, &o));
    if (o.format == CLI_FMT_JSON)
        fputs("]}\n", stdout);
    else if (o.count == 0)
        fprintf(stderr, "no audit records\n");
    if (fflush(stdout) != 0 || ferror(stdout))
        CM_FAIL(CM_ERR_IO, "standard output: write failed");
out:
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}
