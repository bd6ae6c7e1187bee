/* certmint token: one-time enrollment tokens by mail (issue 12,
 * docs/tokens.md). Redemption is `certmint submit --token-file`. */
#include "cli/commands.h"

#include "config/config.h"
#include "exit/exit.h"
#include "util/json.h"
#include "util/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

const char cmd_token_usage[] =
    "certmint token issue --email ADDR --profile NAME [--ttl DURATION] [--subject DN]\n"
    "                     [--san LIST]\n"
    "certmint token list [--format table|json]\n"
    "certmint token revoke ID\n"
    "\n"
    "One-time enrollment tokens (docs/tokens.md).\n"
    "  issue    makes a token (256 random bits; only its SHA-256 is stored) bound to the\n"
    "           profile, the subject (default CN=ADDR), the SANs (OpenSSL syntax, default\n"
    "           email:ADDR) and an expiry (--ttl, default 72h, at most 30d), and mails it\n"
    "           to ADDR through the SMTP exit module's server (template exit.smtp.token.*);\n"
    "           prints the token ID, never the token. The holder redeems it once with\n"
    "           'certmint submit --token-file FILE CSR': the certificate gets the bound\n"
    "           subject and SANs whatever the CSR asks\n"
    "  list     ID, state (open, used, revoked, expired), address, profile, expiry,\n"
    "           failed attempts; never a token value\n"
    "  revoke   the token can no longer be redeemed\n";

static int token_issue(const struct cli_global *g, int argc, char **argv)
{
    struct ca_token_opts o = {0};
    const char *ttl = NULL;
    const struct cli_opt opts[] = {
        {"email", &o.email, NULL},     {"profile", &o.profile, NULL}, {"ttl", &ttl, NULL},
        {"subject", &o.subject, NULL}, {"san", &o.sans, NULL},        {NULL, NULL, NULL},
    };
    char id[17] = "", token[CA_TOKEN_MAX] = "";
    int64_t expires = 0;
    ca_ctx *ca = NULL;
    cm_err rc;

    if (cli_opts_parse(argc, argv, opts, "token") != 0)
        return 2;
    if (ttl != NULL && (config_parse_duration(&o.ttl, ttl) != CM_OK || o.ttl <= 0))
        return cli_usage_error("token issue: --ttl '%s' is not a duration (72h, 3d)", ttl);
    if (optind != argc || o.email == NULL || o.profile == NULL)
        return cli_usage_error("token issue: --email ADDR and --profile NAME are needed");
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_token_issue(id, token, &expires, ca, &o));
    {
        struct exit_token_mail tm = {o.email, token, id, o.profile, expires};
        rc = exit_smtp_mail_token(ca, &tm);
        if (rc != CM_OK) {
            cm_err_prefix(rc,
                          "token %s was made but could not be mailed (certmint token "
                          "revoke %s, then issue again)",
                          id, id);
            goto out;
        }
    }
    printf("%s\n", id);
out:
    OPENSSL_cleanse(token, sizeof(token));
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static cm_err list_one(void *ctx, const struct ca_token_info *t)
{
    struct cli_list *l = ctx;
    char when[32];
    int first = 1;
    cm_err rc;

    if (l->fmt == CLI_FMT_TEXT) {
        text_format_time(when, sizeof(when), t->expires);
        printf("%s\t%s\t", t->id, t->state);
        cli_print_safe(stdout, t->email ? t->email : "?");
        printf("\t%s\t%s\t%lld\n", t->profile ? t->profile : "?", when, t->failures);
        return CM_OK;
    }
    CM_TRY(cli_list_open(l));
    CM_TRY(json_append_kv(&l->js, &first, "id", t->id));
    CM_TRY(json_append_kv(&l->js, &first, "state", t->state));
    CM_TRY(json_append_kv(&l->js, &first, "email", t->email));
    CM_TRY(json_append_kv(&l->js, &first, "profile", t->profile));
    CM_TRY(json_append_kv(&l->js, &first, "subject", t->subject));
    CM_TRY(json_append_kv(&l->js, &first, "sans", t->sans));
    CM_TRY(json_append_kv_time(&l->js, &first, "created", t->created));
    CM_TRY(json_append_kv_time(&l->js, &first, "expires", t->expires));
    CM_TRY(json_append_kv_int(&l->js, &first, "failures", t->failures));
    CM_TRY(buf_append_str(&l->js, "}"));
out:
    return rc;
}

static cm_err list_run(ca_ctx *ca, struct cli_list *l)
{
    return ca_token_list(ca, list_one, l);
}

static int token_list(const struct cli_global *g, int argc, char **argv)
{
    struct cli_list l = {CLI_FMT_TEXT, CM_BUF_INIT(64 * 1024 * 1024), "tokens"};
    return cli_list_main(g, argc, argv, "token list", &l, list_run);
}

static cm_err revoke_run(ca_ctx *ca, void *ctx)
{
    return ca_token_revoke(ca, ctx);
}

static int token_revoke(const struct cli_global *g, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("token revoke: give one token ID (certmint token list)");
    return cli_with_ca(g, revoke_run, argv[1]);
}

int cmd_token(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("token: give issue, list or revoke");
    if (strcmp(argv[1], "issue") == 0)
        return token_issue(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return token_list(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "revoke") == 0)
        return token_revoke(g, argc - 1, argv + 1);
    return cli_usage_error("token: unknown subcommand '%s' (issue, list, revoke)", argv[1]);
}
