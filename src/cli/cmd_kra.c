/* certmint kra: the key-transport certificate and the key recovery agents
 * (issue 12, docs/key-archival.md). */
#include "cli/commands.h"

#include "util/fsutil.h"
#include "util/json.h"
#include "util/text.h"

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
    "                   it: an RSA-3072 key where the CA key is (a CA key in a file:\n"
    "                   HOME/private/kra-transport.key, encrypted with the CA passphrase; in\n"
    "                   a PKCS#11 token: an object of its own in that token, the CA object's\n"
    "                   label + \"-kra-transport\", decrypt only, never extractable, its URI in\n"
    "                   HOME/private/kra-transport.key.uri); the certificate is issued by\n"
    "                   this CA, keyEncipherment only, and recorded like any other; --renew\n"
    "                   replaces it (in a token: a new object, the old one left for you to\n"
    "                   delete)\n"
    "  add CERT         makes the holder of CERT (PEM or DER; RSA or EC) a key recovery\n"
    "                   agent: keys archived from now on get a share enveloped to it\n"
    "  list             the agents: ID (SHA-256 of the certificate), state, subject\n"
    "  remove ID        no further shares for this agent (ID or a unique prefix of 8+\n"
    "                   digits); keys archived before keep their shares until they are\n"
    "                   re-wrapped (rewrap-request, rewrap)\n"
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

struct kra_out {
    const struct cli_global *g;
    const char *out, *arg;
    int init, renew, force;
};

static cm_err transport_run(ca_ctx *ca, void *ctx)
{
    struct kra_out *o = ctx;
    char *pem = NULL;
    cm_err rc;

    if (o->init || o->renew)
        CM_TRY(ca_kra_transport_init(&pem, ca, o->renew));
    else
        CM_TRY(ca_kra_transport_pem(&pem, ca));
    if (o->init || o->renew)
        cli_deliver(ca);
    CM_TRY(cli_write_file(o->g, o->out, o->force, pem, strlen(pem), 0644));
out:
    free(pem);
    return rc;
}

static int kra_transport(const struct cli_global *g, int argc, char **argv)
{
    struct kra_out o = {g, NULL, NULL, 0, 0, 0};
    const struct cli_opt opts[] = {
        {"init", NULL, &o.init},   {"renew", NULL, &o.renew}, {"out", &o.out, NULL},
        {"force", NULL, &o.force}, {NULL, NULL, NULL},
    };

    if (cli_opts_parse(argc, argv, opts, "kra") != 0)
        return 2;
    if (optind != argc)
        return cli_usage_error("kra transport-cert: unexpected argument '%s'", argv[optind]);
    return cli_with_ca_out(g, o.out, o.force, transport_run, &o);
}

struct add_ctx {
    const unsigned char *data;
    size_t len;
    const char *file;
};

static cm_err add_run(ca_ctx *ca, void *ctx)
{
    struct add_ctx *a = ctx;
    char id[65];
    cm_err rc = ca_kra_add(id, ca, a->data, a->len, a->file);

    if (rc == CM_OK)
        printf("%s\n", id);
    return rc;
}

static int kra_add(const struct cli_global *g, int argc, char **argv)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct add_ctx a;
    int status;
    cm_err rc;

    if (argc != 2)
        return cli_usage_error("kra add: give one certificate file");
    if ((rc = fs_read_file(&data, &len, argv[1], CA_MAX_CERT_BYTES)) != CM_OK)
        return cli_fail(rc);
    a = (struct add_ctx){data, len, argv[1]};
    status = cli_with_ca(g, add_run, &a);
    free(data);
    return status;
}

static cm_err list_one(void *ctx, const struct ca_kra_agent *a)
{
    struct cli_list *l = ctx;
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
    CM_TRY(cli_list_open(l));
    CM_TRY(json_append_kv(&l->js, &first, "id", a->id));
    CM_TRY(json_append_kv(&l->js, &first, "state", a->active ? "active" : "removed"));
    CM_TRY(json_append_kv(&l->js, &first, "subject", a->subject));
    CM_TRY(json_append_kv_time(&l->js, &first, "added", a->added));
    CM_TRY(json_append_kv_time(&l->js, &first, "not_after", a->not_after));
    CM_TRY(buf_append_str(&l->js, "}"));
out:
    return rc;
}

static cm_err list_run(ca_ctx *ca, struct cli_list *l)
{
    return ca_kra_list(ca, list_one, l);
}

static int kra_list(const struct cli_global *g, int argc, char **argv)
{
    struct cli_list l = {CLI_FMT_TEXT, CM_BUF_INIT(16 * 1024 * 1024), "agents"};
    return cli_list_main(g, argc, argv, "kra list", &l, list_run);
}

static cm_err remove_run(ca_ctx *ca, void *ctx)
{
    return ca_kra_remove(ca, ctx);
}

static int kra_remove(const struct cli_global *g, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("kra remove: give one agent ID (certmint kra list)");
    return cli_with_ca(g, remove_run, argv[1]);
}

static cm_err rewrap_request_run(ca_ctx *ca, void *ctx)
{
    struct kra_out *o = ctx;
    char req[40];
    unsigned char *file = NULL;
    size_t len = 0, nkeys = 0;
    cm_err rc;

    CM_TRY(ca_kra_rewrap_request(req, &nkeys, &file, &len, ca, o->arg));
    CM_TRY(cli_write_file(o->g, o->out, o->force, file, len, 0644));
    printf("%s\n", req);
    fprintf(stderr, "certmint: re-wrap %s covers %zu archived keys\n", req, nkeys);
out:
    free(file);
    return rc;
}

static int kra_rewrap_request(const struct cli_global *g, int argc, char **argv)
{
    struct kra_out o = {g, NULL, NULL, 0, 0, 0};
    const struct cli_opt opts[] = {
        {"reason", &o.arg, NULL},
        {"out", &o.out, NULL},
        {"force", NULL, &o.force},
        {NULL, NULL, NULL},
    };

    if (cli_opts_parse(argc, argv, opts, "kra") != 0)
        return 2;
    if (optind != argc || o.arg == NULL || o.out == NULL)
        return cli_usage_error("kra rewrap-request: --reason TEXT and --out REQFILE are needed");
    return cli_with_ca_out(g, o.out, o.force, rewrap_request_run, &o);
}

static cm_err rewrap_run(ca_ctx *ca, void *ctx)
{
    size_t done = 0;
    cm_err rc = ca_kra_rewrap(&done, ca, ctx);

    if (rc == CM_OK) {
        cli_deliver(ca);
        printf("%zu\n", done);
    }
    return rc;
}

static int kra_rewrap(const struct cli_global *g, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("kra rewrap: give one re-wrap request ID");
    return cli_with_ca(g, rewrap_run, argv[1]);
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
