/* certmint kra: the key-transport certificate and the key recovery agents
 * (issue 12, docs/key-archival.md). */
#include "cli/commands.h"

#include "util/fsutil.h"
#include "util/json.h"
#include "util/text.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_kra_usage[] =
    "certmint kra transport-cert [--init|--renew] [--out FILE [--force]]\n"
    "certmint kra add CERT\n"
    "certmint kra list [--format table|json]\n"
    "certmint kra remove ID\n"
    "certmint kra rewrap-request --reason TEXT --out REQFILE [--force]\n"
    "certmint kra rewrap REQ\n"
    "\n"
    "Key archival (docs/key-archival.md).\n"
    "  transport-cert   prints the CA's key-transport certificate: clients envelope the\n"
    "                   private key to archive to it (CMS, `openssl cms -encrypt -aes-256-gcm\n"
    "                   -recip transport.pem`, then submit --archive-key). --init creates\n"
    "                   it (RSA-3072 key in HOME/private/kra-transport.key, encrypted with the\n"
    "                   CA passphrase; the certificate is issued by this CA, keyEncipherment\n"
    "                   only, and recorded like any other); --renew replaces it\n"
    "  add CERT         makes the holder of CERT (PEM or DER; RSA or EC) a key recovery\n"
    "                   agent: keys archived from now on get a share enveloped to it\n"
    "  list             the agents: ID (SHA-256 of the certificate), state, subject\n"
    "  remove ID        no further shares for this agent (ID or a unique prefix of 8+\n"
    "                   digits); keys archived before keep their shares\n"
    "  rewrap-request   (officer, after add/remove or a kra.threshold change) opens a\n"
    "                   re-wrap of the archived keys not yet wrapped to the current agents\n"
    "                   and threshold (at most 1000 a request; run again for more) with a\n"
    "                   one-time transport key; writes REQFILE for the agents and prints\n"
    "                   REQ. Each agent runs 'certmint key release-share REQFILE' (the\n"
    "                   shares of every key it holds one of) and the officer imports the\n"
    "                   share files with 'certmint key add-share'\n"
    "  rewrap REQ       with enough shares for every key (each key's old threshold): seals\n"
    "                   each key under a fresh content key split to the current agents and\n"
    "                   kra.threshold (256 keys a transaction, KEYARCHIVED for each); a\n"
    "                   removed agent's old shares then open nothing; prints the number of\n"
    "                   keys re-wrapped. Too few shares for any key changes nothing\n"
    "kra.threshold (config set) is M: how many agents must release their shares to\n"
    "recover a key archived from then on; N is the number of active agents.\n";

static int kra_transport(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"init", no_argument, NULL, 'i'},
        {"renew", no_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int ch, init = 0, renew = 0, force = 0;
    const char *out = NULL;
    char *pem = NULL;
    ca_ctx *ca = NULL;
    cm_err rc = CM_OK;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'i':
            init = 1;
            break;
        case 'r':
            renew = 1;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = 1;
            break;
        default:
            return cli_usage_error("kra: see 'certmint help kra'");
        }
    }
    if (optind != argc)
        return cli_usage_error("kra transport-cert: unexpected argument '%s'", argv[optind]);
    CM_TRY(cli_out_check(g, out, force));
    CM_TRY(cli_open_ca(&ca, g, 0));
    if (init || renew)
        CM_TRY(ca_kra_transport_init(&pem, ca, renew));
    else
        CM_TRY(ca_kra_transport_pem(&pem, ca));
    if (init || renew)
        cli_deliver(ca);
    CM_TRY(cli_write_file(g, out, force, pem, strlen(pem), 0644));
out:
    free(pem);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int kra_add(const struct cli_global *g, int argc, char **argv)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char id[65];
    ca_ctx *ca = NULL;
    cm_err rc;

    if (argc != 2)
        return cli_usage_error("kra add: give one certificate file");
    CM_TRY(fs_read_file(&data, &len, argv[1], CA_MAX_CERT_BYTES));
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_kra_add(id, ca, data, len, argv[1]));
    printf("%s\n", id);
out:
    free(data);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

struct list_out {
    enum cli_format fmt;
    cm_buf *js;
};

static cm_err list_one(void *ctx, const struct ca_kra_agent *a)
{
    struct list_out *l = ctx;
    char when[32];
    int first = 1;
    cm_err rc;

    if (l->fmt == CLI_FMT_TEXT) {
        text_format_time(when, sizeof(when), a->not_after);
        printf("%s\t%s\t%s\t", a->id, a->active ? "active" : "removed", when);
        cli_print_safe(stdout, a->subject);
        putchar('\n');
        return CM_OK;
    }
    CM_TRY(buf_append_str(l->js, l->js->len == 0 ? "{\"agents\":[{" : ",{"));
    CM_TRY(json_append_kv(l->js, &first, "id", a->id));
    CM_TRY(json_append_kv(l->js, &first, "state", a->active ? "active" : "removed"));
    CM_TRY(json_append_kv(l->js, &first, "subject", a->subject));
    CM_TRY(json_append_kv_time(l->js, &first, "added", a->added));
    CM_TRY(json_append_kv_time(l->js, &first, "not_after", a->not_after));
    CM_TRY(buf_append_str(l->js, "}"));
out:
    return rc;
}

static int kra_list(const struct cli_global *g, int argc, char **argv)
{
    cm_buf js = CM_BUF_INIT(16 * 1024 * 1024);
    struct list_out l = {CLI_FMT_TEXT, &js};
    ca_ctx *ca = NULL;
    int status;
    cm_err rc;

    if (cli_take_format(&l.fmt, &argc, argv) != 0)
        return 2;
    if (argc != 1)
        return cli_usage_error("kra list: unexpected argument '%s'", argv[1]);
    CM_TRY(cli_open_ca(&ca, g, 0));
    rc = ca_kra_list(ca, list_one, &l);
    if (l.fmt == CLI_FMT_JSON) {
        if (rc == CM_OK)
            rc = buf_printf(&js, "%s]}", js.len ? "" : "{\"agents\":[");
        status = cli_json_emit(&js, rc);
        cli_close_ca(ca);
        return status;
    }
out:
    buf_free(&js);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int kra_remove(const struct cli_global *g, int argc, char **argv)
{
    ca_ctx *ca = NULL;
    cm_err rc;

    if (argc != 2)
        return cli_usage_error("kra remove: give one agent ID (certmint kra list)");
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_kra_remove(ca, argv[1]));
out:
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int kra_rewrap_request(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *reason = NULL, *out = NULL;
    char req[40];
    unsigned char *file = NULL;
    size_t len = 0, nkeys = 0;
    int ch, force = 0;
    ca_ctx *ca = NULL;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'r':
            reason = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = 1;
            break;
        default:
            return cli_usage_error("kra: see 'certmint help kra'");
        }
    }
    if (optind != argc || reason == NULL || out == NULL)
        return cli_usage_error("kra rewrap-request: --reason TEXT and --out REQFILE are needed");
    CM_TRY(cli_out_check(g, out, force));
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_kra_rewrap_request(req, &nkeys, &file, &len, ca, reason));
    CM_TRY(cli_write_file(g, out, force, file, len, 0644));
    printf("%s\n", req);
    fprintf(stderr, "certmint: re-wrap %s covers %zu archived keys\n", req, nkeys);
out:
    free(file);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int kra_rewrap(const struct cli_global *g, int argc, char **argv)
{
    size_t done = 0;
    ca_ctx *ca = NULL;
    cm_err rc;

    if (argc != 2)
        return cli_usage_error("kra rewrap: give one re-wrap request ID");
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_kra_rewrap(&done, ca, argv[1]));
    cli_deliver(ca);
    printf("%zu\n", done);
out:
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

int cmd_kra(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("kra: give transport-cert, add, list, remove, rewrap-request or "
                               "rewrap");
    if (strcmp(argv[1], "transport-cert") == 0)
        return kra_transport(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "add") == 0)
        return kra_add(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return kra_list(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "remove") == 0)
        return kra_remove(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "rewrap-request") == 0)
        return kra_rewrap_request(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "rewrap") == 0)
        return kra_rewrap(g, argc - 1, argv + 1);
    return cli_usage_error("kra: unknown subcommand '%s' (transport-cert, add, list, remove, "
                           "rewrap-request, rewrap)",
                           argv[1]);
}
