/* certmint config: read and change HOME/certmint.conf, a thin client of
 * ca/settings.h (the core validates, saves and audits a change).
 *
 * Works without the CA key (and without the CA certificate). */
#include "ca/settings.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
#include "util/buf.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX 4096 /* one configuration line */

const char cmd_config_usage[] =
    "usage: certmint config get KEY\n"
    "       certmint config set KEY VALUE\n"
    "       certmint config set KEY -\n"
    "       certmint config unset KEY\n"
    "       certmint config list\n"
    "       certmint config keys\n"
    "       certmint config get|list|keys --format json\n"
    "\n"
    "Reads and changes HOME/certmint.conf. The CA key is not needed.\n"
    "\n"
    "  get KEY        print the value of KEY: the one set, else its default;\n"
    "                 nothing when it is unset and has no default\n"
    "  set KEY VALUE  check VALUE against KEY's type and save the file atomically;\n"
    "                 a refused value leaves the file unchanged. With VALUE '-'\n"
    "                 the value is the first line of standard input (required for\n"
    "                 keys ending in password or passphrase: secrets never go on\n"
    "                 a command line)\n"
    "  unset KEY      remove KEY from the file (back to its default)\n"
    "  list           print every key set in the file, in file order (secret\n"
    "                 values are not shown)\n"
    "  keys           print every key the configuration accepts, with its type,\n"
    "                 default and meaning; * stands for a name (a profile...)\n"
    "\n"
    "  --format json  get: {\"key\",\"value\",\"set\"}; list: {\"settings\":[{\"key\",\n"
    "                 \"value\",\"secret\"}]} (a secret's value is null); keys:\n"
    "                 {\"keys\":[{\"pattern\",\"type\",\"min\",\"max\",\"choices\",\n"
    "                 \"default\",\"help\"}]}\n"
    "\n"
    "Comments, blank lines and key order are kept when the file is rewritten.\n"
    "set and unset are recorded in the audit log (without secret values).\n"
    "See docs/configuration.md for every key.\n"
    "\n"
    "Examples:\n"
    "  certmint config set crl.period 3d\n"
    "  certmint config set profile.web.base tls-server\n"
    "  certmint config set profile.web.key_usage digitalSignature,keyEncipherment\n"
    "  certmint config get ca.default_days\n";

static const char *type_name(enum config_type t)
{
    switch (t) {
    case CFG_STRING:
        return "string";
    case CFG_INT:
        return "int";
    case CFG_BOOL:
        return "bool";
    case CFG_ENUM:
        return "enum";
    case CFG_DURATION:
        return "duration";
    case CFG_URL:
        return "url";
    case CFG_CUSTOM:
        return "list";
    }
    return "?";
}

static void print_key(void *ctx, const struct config_key *k)
{
    (void)ctx;
    printf("%s (%s", k->pattern, type_name(k->type));
    if (k->type == CFG_INT)
        printf(" %lld..%lld", k->min, k->max);
    else if (k->type == CFG_ENUM)
        printf(" %s", k->choices);
    else if (k->type == CFG_DURATION && (k->min != 0 || k->max != 0))
        printf(" %llds..%llds", k->min, k->max);
    if (k->def == NULL)
        printf(", no default)\n");
    else if (k->def[0] == '\0')
        printf(", default empty)\n");
    else
        printf(", default %s)\n", k->def);
    printf("    %s\n", k->help ? k->help : "");
}

static void print_setting(void *ctx, const char *key, const char *value, int secret)
{
    (void)ctx;
    printf("%s = %s\n", key, secret ? "(secret, not shown)" : value);
}

/* JSON documents of get, list and keys: one array filled by the
 * callbacks, which cannot return an error (the first one is kept). */
struct json_ctx {
    cm_buf b;
    size_t n;
    cm_err err;
};

static void json_key_cb(void *ctx, const struct config_key *k)
{
    struct json_ctx *j = ctx;
    int first = 1;
    int ranged = k->type == CFG_INT || (k->type == CFG_DURATION && (k->min != 0 || k->max != 0));
    cm_err rc;

    if (j->err != CM_OK)
        return;
    rc = buf_append_str(&j->b, j->n++ ? ",{" : "{");
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "pattern", k->pattern);
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "type", type_name(k->type));
    if (rc == CM_OK)
        rc = ranged ? json_append_kv_int(&j->b, &first, "min", k->min)
                    : json_append_kv(&j->b, &first, "min", NULL);
    if (rc == CM_OK)
        rc = ranged ? json_append_kv_int(&j->b, &first, "max", k->max)
                    : json_append_kv(&j->b, &first, "max", NULL);
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "choices", k->type == CFG_ENUM ? k->choices : NULL);
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "default", k->def);
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "help", k->help);
    if (rc == CM_OK)
        rc = buf_append_str(&j->b, "}");
    j->err = rc;
}

static void json_setting_cb(void *ctx, const char *key, const char *value, int secret)
{
    struct json_ctx *j = ctx;
    int first = 1;
    cm_err rc;

    if (j->err != CM_OK)
        return;
    rc = buf_append_str(&j->b, j->n++ ? ",{" : "{");
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "key", key);
    if (rc == CM_OK)
        rc = json_append_kv(&j->b, &first, "value", value);
    if (rc == CM_OK)
        rc = json_append_kv_bool(&j->b, &first, "secret", secret);
    if (rc == CM_OK)
        rc = buf_append_str(&j->b, "}");
    j->err = rc;
}

/* The first line of standard input, without its line ending. */
static cm_err read_stdin_value(char *out, size_t outsz)
{
    size_t n;

    if (fgets(out, (int)outsz, stdin) == NULL)
        return cm_err_set(CM_ERR_INVALID, "standard input: no value given");
    n = strlen(out);
    if (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    else if (!feof(stdin))
        return cm_err_set(CM_ERR_INVALID, "standard input: value longer than %zu bytes", outsz - 2);
    if (n > 0 && out[n - 1] == '\r')
        out[--n] = '\0';
    return CM_OK;
}

int cmd_config(const struct cli_global *g, int argc, char **argv)
{
    cm_err rc = CM_OK;
    ca_ctx *ca = NULL;
    char value[VALUE_MAX + 2], warn[512];
    const char *sub, *key;
    char **args;
    int nargs, status = 0;
    enum cli_format fmt = CLI_FMT_TEXT;
    struct json_ctx js = {CM_BUF_INIT(16 * 1024 * 1024), 0, CM_OK};

    if (cli_take_format(&fmt, &argc, argv) != 0)
        return 2;
    if (argc < 2)
        return cli_usage_error("config: missing subcommand (get, set, unset, list, keys)");
    sub = argv[1];
    args = argv + 2;
    nargs = argc - 2;
    /* Nothing here takes options; "--" is allowed so that scripts can pass
     * values like "-1" without worrying. */
    if (nargs > 0 && strcmp(args[0], "--") == 0) {
        args++;
        nargs--;
    }
    if (fmt == CLI_FMT_JSON && (strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0))
        return cli_usage_error("config: --format applies to get, list and keys");
    if (strcmp(sub, "keys") == 0) {
        if (nargs != 0)
            return cli_usage_error("config keys: no arguments expected");
        if (fmt == CLI_FMT_JSON) {
            rc = buf_append_str(&js.b, "{\"keys\":[");
            if (rc == CM_OK)
                config_schema_foreach(json_key_cb, &js);
            return cli_json_emit(&js.b, rc != CM_OK       ? rc
                                        : js.err != CM_OK ? js.err
                                                          : buf_append_str(&js.b, "]}"));
        }
        config_schema_foreach(print_key, NULL);
        return 0;
    }
    if (strcmp(sub, "get") != 0 && strcmp(sub, "set") != 0 && strcmp(sub, "unset") != 0 &&
        strcmp(sub, "list") != 0) {
        static const char *const subs[] = {"get", "set", "unset", "list", "keys"};
        const char *near = cli_suggest(sub, subs, sizeof(subs) / sizeof(subs[0]));
        if (near != NULL)
            return cli_usage_error("config: unknown subcommand '%s'; did you mean '%s'?", sub,
                                   near);
        return cli_usage_error("config: unknown subcommand '%s' (get, set, unset, list, keys)",
                               sub);
    }
    if (nargs != (strcmp(sub, "list") == 0 ? 0 : strcmp(sub, "set") == 0 ? 2 : 1))
        return cli_usage_error("config %s: wrong number of arguments (see 'certmint help "
                               "config')",
                               sub);
    key = nargs > 0 ? args[0] : NULL;
    if (strcmp(sub, "set") == 0) {
        const char *v = args[1];
        if (strcmp(v, "-") == 0) {
            CM_TRY(read_stdin_value(value, sizeof(value)));
        } else if (config_key_is_secret(key)) {
            CM_FAIL(CM_ERR_INVALID,
                    "%s holds a secret: give its value on standard input "
                    "('certmint config set %s -'), never on the command line",
                    key, key);
        }
    }
    /* Neither the CA key nor the CA certificate is needed. */
    CM_TRY(cli_open_ca(&ca, g, 1));
    if (strcmp(sub, "set") == 0) {
        CM_TRY(ca_config_set(warn, sizeof(warn), ca, key,
                             strcmp(args[1], "-") == 0 ? value : args[1]));
        if (warn[0] != '\0')
            fprintf(stderr, "certmint: warning: %s\n", warn);
    } else if (strcmp(sub, "unset") == 0) {
        CM_TRY(ca_config_unset(ca, key));
    } else if (strcmp(sub, "list") == 0 && fmt == CLI_FMT_JSON) {
        CM_TRY(buf_append_str(&js.b, "{\"settings\":["));
        CM_TRY(ca_config_list(ca, json_setting_cb, &js));
        CM_TRY(js.err);
        CM_TRY(buf_append_str(&js.b, "]}"));
        CM_TRY(cli_json_write(&js.b, CM_OK));
    } else if (strcmp(sub, "list") == 0) {
        CM_TRY(ca_config_list(ca, print_setting, NULL));
    } else {
        const char *v = NULL;
        int is_set = 0, first = 1;
        CM_TRY(ca_config_get(&v, &is_set, ca, key));
        if (fmt == CLI_FMT_JSON) {
            CM_TRY(buf_append_str(&js.b, "{"));
            CM_TRY(json_append_kv(&js.b, &first, "key", key));
            CM_TRY(json_append_kv(&js.b, &first, "value", v));
            CM_TRY(json_append_kv_bool(&js.b, &first, "set", is_set));
            CM_TRY(buf_append_str(&js.b, "}"));
            CM_TRY(cli_json_write(&js.b, CM_OK));
        } else if (v != NULL) {
            printf("%s\n", v);
        }
    }
out:
    explicit_bzero(value, sizeof(value));
    buf_free(&js.b);
    cli_close_ca(ca);
    if (rc != CM_OK)
        status = cli_fail(rc);
    else if (fflush(stdout) != 0 || ferror(stdout))
        status = cli_fail(cm_err_set(CM_ERR_IO, "standard output: write failed"));
    return status;
}
