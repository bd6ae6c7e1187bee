/* The shapes the subcommand front ends (kra, key, token) share: a table
 * of options, a listing with --format table|json, and the open-CA / call
 * one core function / close block. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#define CLI_OPTS_MAX 16

int cli_opts_parse(int argc, char **argv, const struct cli_opt *opts, const char *cmd)
{
    struct option lo[CLI_OPTS_MAX + 1];
    size_t n = 0;
    int ch;

    for (; opts[n].name != NULL; n++) {
        /* A programming error: the tables are static. */
        if (n == CLI_OPTS_MAX)
            return cli_usage_error("%s: too many options", cmd);
        lo[n] = (struct option){opts[n].name, opts[n].str ? required_argument : no_argument, NULL,
                                256 + (int)n};
    }
    lo[n] = (struct option){NULL, 0, NULL, 0};
    while ((ch = cli_getopt(argc, argv, "", lo)) != -1) {
        if (ch < 256 || ch >= 256 + (int)n)
            return cli_usage_error("%s: see 'certmint help %s'", cmd, cmd);
        if (opts[ch - 256].str != NULL)
            *opts[ch - 256].str = optarg;
        else
            *opts[ch - 256].flag = 1;
    }
    return 0;
}

cm_err cli_list_open(struct cli_list *l)
{
    if (l->js.len == 0)
        return buf_printf(&l->js, "{\"%s\":[{", l->key);
    return buf_append_str(&l->js, ",{");
}

int cli_list_main(const struct cli_global *g, int argc, char **argv, const char *cmd,
                  struct cli_list *l, cli_list_fn fn)
{
    ca_ctx *ca = NULL;
    int status;
    cm_err rc;

    if (cli_take_format(&l->fmt, &argc, argv) != 0) {
        buf_free(&l->js);
        return 2;
    }
    if (argc != 1) {
        buf_free(&l->js);
        return cli_usage_error("%s: unexpected argument '%s'", cmd, argv[1]);
    }
    CM_TRY(cli_open_ca(&ca, g, 0));
    rc = fn(ca, l);
    if (l->fmt == CLI_FMT_JSON) {
        if (rc == CM_OK)
            rc = l->js.len ? buf_append_str(&l->js, "]}")
                           : buf_printf(&l->js, "{\"%s\":[]}", l->key);
        status = cli_json_emit(&l->js, rc);
        cli_close_ca(ca);
        return status;
    }
out:
    buf_free(&l->js);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

int cli_with_ca(const struct cli_global *g, cli_ca_fn fn, void *ctx)
{
    ca_ctx *ca = NULL;
    cm_err rc;

    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(fn(ca, ctx));
out:
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

int cli_with_ca_out(const struct cli_global *g, const char *out, int force, cli_ca_fn fn, void *ctx)
{
    cm_err rc = cli_out_check(g, out, force);

    if (rc != CM_OK)
        return cli_fail(rc);
    return cli_with_ca(g, fn, ctx);
}
