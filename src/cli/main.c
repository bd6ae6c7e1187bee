/* certmint: entry point, global options and the command table. */
#include "cli/cli.h"
#include "cli/commands.h"
#include "exit/exit.h"
#include "util/log.h"

#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CM_VERSION "0.1.0"

#ifdef CM_JEMALLOC_CONF
/* jemalloc's options, read by jemalloc itself before main (the Makefile
 * defines CM_JEMALLOC_CONF where it links jemalloc; the MALLOC_CONF
 * environment variable still overrides them): transparent huge pages for
 * the arenas and jemalloc's metadata, so that a 10,000-request submit
 * takes about 1,700 page faults instead of 8,900, each costly in a VM
 * (docs/architecture.md, "Memory allocator"). */
extern const char *malloc_conf;
const char *malloc_conf = CM_JEMALLOC_CONF;
#endif

static int cmd_help(const struct cli_global *g, int argc, char **argv);
static int cmd_version(const struct cli_global *g, int argc, char **argv);

/* The one static table of commands: a new command is a new cmd_*.c file and
 * one row here. */
const struct cli_command cli_commands[] = {
#define CLI_CMD(name, fn, summary) {name, fn, summary, fn##_usage},
#include "cli/commands.def"
#undef CLI_CMD
    {"help", cmd_help, "show help for certmint or one command",
     "certmint help [COMMAND]\n"
     "certmint COMMAND --help\n"},
    {"version", cmd_version, "print the version", "certmint version\ncertmint --version\n"},
    {NULL, NULL, NULL, NULL},
};

const struct cli_command *cli_command_find(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int cli_fail(cm_err rc)
{
    fprintf(stderr, "certmint: %s\n", cm_err_msg());
    (void)rc;
    return 1;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("certmint: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* The person at the command line, for the audit log: $SUDO_USER when run
 * through sudo, else the login name of the real user. */
void cli_actor(struct ca_actor *out, char *buf, size_t bufsz)
{
    struct passwd pw, *res = NULL;
    char pwbuf[4096];
    const char *s = getenv("SUDO_USER");

    if (s != NULL && *s != '\0')
        snprintf(buf, bufsz, "%s", s);
    else if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
        snprintf(buf, bufsz, "%s", res->pw_name);
    else
        snprintf(buf, bufsz, "unknown");
    out->kind = CA_ACTOR_OPERATOR;
    out->name = buf;
}

cm_err cli_open_ca(ca_ctx **out, const struct cli_global *g, int allow_no_cert)
{
    struct ca_open_opts o = {g->passphrase_file, allow_no_cert, 0};
    struct ca_actor who;
    char name[CA_ACTOR_MAX];
    ca_t *ca = NULL;
    cm_err rc;

    *out = NULL;
    if (g->home == NULL)
        return cm_err_set(CM_ERR_INVALID, "no CA home: give --home DIR or set CERTMINT_HOME");
    cli_actor(&who, name, sizeof(name));
    if ((rc = ca_open(&ca, g->home, &o)) != CM_OK)
        return rc;
    if ((rc = ca_session_open(out, ca, &who)) != CM_OK)
        ca_close(ca);
    return rc;
}

void cli_close_ca(ca_ctx *s)
{
    ca_t *ca;
    if (s == NULL)
        return;
    ca = ca_session_handle(s);
    ca_session_close(s);
    ca_close(ca);
}

static void usage_all(FILE *f)
{
    fputs("usage: certmint [--home DIR] [--passphrase-file FILE] [-v] COMMAND [ARGS]\n"
          "       certmint --version | --help\n\n"
          "Commands:\n",
          f);
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(f, "  %-16s %s\n", c->name, c->summary);
    fputs("\nRun 'certmint help COMMAND' or 'certmint COMMAND --help' for a command's\n"
          "options. The CA home comes from --home or CERTMINT_HOME; the CA key\n"
          "passphrase from --passphrase-file, CERTMINT_PASSPHRASE_FILE,\n"
          "ca.passphrase_file in the configuration, or a prompt.\n",
          f);
}

/* `certmint help NAME` and `certmint NAME --help`. */
static void command_help(const struct cli_command *c)
{
    printf("%s\n\n%s", c->summary, c->usage);
}

static int unknown_command(const char *name)
{
    const char *near = cli_suggest_command(name);
    if (near != NULL)
        return cli_usage_error("unknown command '%s'; did you mean '%s'?", name, near);
    return cli_usage_error("unknown command '%s' (see 'certmint help')", name);
}

/* Every command answers --help as `certmint help COMMAND` does. Only the
 * exact word counts, before a "--" that ends the options, so that a value
 * after "--" is never taken for it. */
static int asks_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

static int cmd_help(const struct cli_global *g, int argc, char **argv)
{
    (void)g;
    if (argc < 2) {
        usage_all(stdout);
        return 0;
    }
    const struct cli_command *c = cli_command_find(argv[1]);
    if (c == NULL)
        return unknown_command(argv[1]);
    command_help(c);
    return 0;
}

static int cmd_version(const struct cli_global *g, int argc, char **argv)
{
    (void)g;
    (void)argc;
    (void)argv;
    printf("certmint %s\n", CM_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    struct cli_global g = {getenv("CERTMINT_HOME"), getenv("CERTMINT_PASSPHRASE_FILE"), 0};
    static const struct option opts[] = {
        {"home", required_argument, NULL, 'H'},
        {"passphrase-file", required_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    /* The exit modules' ops versions are checked and their keys join the
     * configuration schema before any command reads a configuration. */
    if (exit_registry_init() != CM_OK)
        return cli_fail(CM_ERR_CONFIG);

    /* '+' stops at the command name: the rest belongs to the command. */
    while ((ch = cli_getopt(argc, argv, "+H:P:vh", opts)) != -1) {
        switch (ch) {
        case 'H':
            g.home = optarg;
            break;
        case 'P':
            g.passphrase_file = optarg;
            break;
        case 'v':
            g.verbose++;
            break;
        case 'h':
            usage_all(stdout);
            return 0;
        case 'V':
            return cmd_version(&g, 0, NULL);
        default:
            usage_all(stderr);
            return 2;
        }
    }
    if (g.verbose)
        log_set_level(g.verbose > 1 ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    if (optind >= argc) {
        usage_all(stderr);
        return 2;
    }
    const struct cli_command *c = cli_command_find(argv[optind]);
    if (c == NULL)
        return unknown_command(argv[optind]);
    cli_current = c;
    if (asks_help(argc - optind, argv + optind)) {
        command_help(c);
        return 0;
    }
    /* Each command parses its own options with getopt from its argv[0];
     * optind = 0 makes glibc's getopt start afresh. */
    int cidx = optind;
    optind = 0;
    return c->run(&g, argc - cidx, argv + cidx);
}
