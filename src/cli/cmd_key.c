/* certmint key: recovery of archived keys (issue 12, docs/key-archival.md). */
#include "cli/commands.h"

#include "kra/kra.h"
#include "util/fsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

const char cmd_key_usage[] =
    "certmint key recover-request SERIAL --reason TEXT --out REQFILE [--force]\n"
    "certmint key request-file REQ --out REQFILE [--force]\n"
    "certmint key release-share REQFILE --agent-key KEY --agent-cert CERT --out SHAREFILE\n"
    "                           [--agent-password-file F] [--force]\n"
    "certmint key add-share SHAREFILE...\n"
    "certmint key recover REQ --out FILE.p12 --password-file F [--force]\n"
    "\n"
    "Recovery of a private key archived with certificate SERIAL (docs/key-archival.md):\n"
    "  recover-request  (officer) opens a recovery with a one-time transport key and\n"
    "                   writes the request file REQFILE to hand to the agents; prints the\n"
    "                   request ID REQ\n"
    "  request-file     writes the request file of an open request again\n"
    "  release-share    (agent, on their own machine; needs no CA home) shows what the\n"
    "                   request asks, opens the agent's share with the agent's key (which\n"
    "                   never leaves the machine) and re-envelopes it to the request's\n"
    "                   transport key: SHAREFILE goes back to the officer. On a re-wrap\n"
    "                   request (certmint kra rewrap-request): the shares of every key the\n"
    "                   agent holds one of\n"
    "  add-share        (officer) imports share files; each is checked (this request, an\n"
    "                   agent of this key, the share that was archived, not twice)\n"
    "  recover          (officer) with kra.threshold shares in: writes the key, its\n"
    "                   certificate and the chain as PKCS#12 (AES-256-CBC, PBKDF2 600,000\n"
    "                   iterations), password from --password-file; closes the request\n";

/* What the officer's subcommands were given. */
struct key_out {
    const struct cli_global *g;
    const char *out, *arg, *id; /* arg: the reason or the password file */
    int force;
};

static cm_err recover_request_run(ca_ctx *ca, void *ctx)
{
    struct key_out *o = ctx;
    char req[40];
    unsigned char *file = NULL;
    size_t len = 0;
    cm_err rc;

    CM_TRY(ca_key_recover_request(req, &file, &len, ca, o->id, o->arg));
    cli_deliver(ca);
    CM_TRY(cli_write_file(o->g, o->out, o->force, file, len, 0644));
    printf("%s\n", req);
out:
    free(file);
    return rc;
}

static int key_recover_request(const struct cli_global *g, int argc, char **argv)
{
    struct key_out o = {g, NULL, NULL, NULL, 0};
    const struct cli_opt opts[] = {
        {"reason", &o.arg, NULL},
        {"out", &o.out, NULL},
        {"force", NULL, &o.force},
        {NULL, NULL, NULL},
    };

    if (cli_opts_parse(argc, argv, opts, "key") != 0)
        return 2;
    if (optind != argc - 1)
        return cli_usage_error("key recover-request: give one serial number");
    if (o.arg == NULL || o.out == NULL)
        return cli_usage_error("key recover-request: --reason TEXT and --out REQFILE are needed");
    o.id = argv[optind];
    return cli_with_ca_out(g, o.out, o.force, recover_request_run, &o);
}

static cm_err request_file_run(ca_ctx *ca, void *ctx)
{
    struct key_out *o = ctx;
    unsigned char *file = NULL;
    size_t len = 0;
    cm_err rc;

    CM_TRY(ca_key_recover_request_file(&file, &len, ca, o->id));
    CM_TRY(cli_write_file(o->g, o->out, o->force, file, len, 0644));
out:
    free(file);
    return rc;
}

static int key_request_file(const struct cli_global *g, int argc, char **argv)
{
    struct key_out o = {g, NULL, NULL, NULL, 0};
    const struct cli_opt opts[] = {
        {"out", &o.out, NULL},
        {"force", NULL, &o.force},
        {NULL, NULL, NULL},
    };

    if (cli_opts_parse(argc, argv, opts, "key") != 0)
        return 2;
    if (optind != argc - 1 || o.out == NULL)
        return cli_usage_error("key request-file: give one request ID and --out REQFILE");
    o.id = argv[optind];
    return cli_with_ca_out(g, o.out, o.force, request_file_run, &o);
}

/* The agent's command: no CA home is opened. */
static int key_release_share(const struct cli_global *g, int argc, char **argv)
{
    const char *kpath = NULL, *cpath = NULL, *ppath = NULL, *out = NULL;
    int force = 0;
    const struct cli_opt opts[] = {
        {"agent-key", &kpath, NULL},
        {"agent-cert", &cpath, NULL},
        {"agent-password-file", &ppath, NULL},
        {"out", &out, NULL},
        {"force", NULL, &force},
        {NULL, NULL, NULL},
    };
    unsigned char *req = NULL, *share = NULL;
    size_t reqlen = 0, sharelen = 0;
    struct kra_request_info info;
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    cm_err rc;

    if (cli_opts_parse(argc, argv, opts, "key") != 0)
        return 2;
    if (optind != argc - 1 || kpath == NULL || cpath == NULL || out == NULL)
        return cli_usage_error("key release-share: give REQFILE, --agent-key, --agent-cert and "
                               "--out");
    CM_TRY(cli_out_check(g, out, force));
    CM_TRY(fs_read_file(&req, &reqlen, argv[optind], KRA_MAX_BATCH_FILE));
    CM_TRY(kra_request_info(&info, req, reqlen, argv[optind]));
    if (info.rewrap)
        fprintf(stderr, "certmint: releasing the shares of %s (", info.serial);
    else
        fprintf(stderr, "certmint: releasing a share of the key of certificate %s (", info.serial);
    cli_print_safe(stderr, info.subject);
    fprintf(stderr, ") for %s %s; reason: ", info.rewrap ? "re-wrap" : "recovery", info.request);
    cli_print_safe(stderr, info.reason);
    fputc('\n', stderr);
    CM_TRY(kra_agent_load(&k, &x, kpath, cpath, ppath));
    CM_TRY(kra_release_share(&share, &sharelen, req, reqlen, argv[optind], x, k));
    CM_TRY(cli_write_file(g, out, force, share, sharelen, 0644));
out:
    free(req);
    free(share);
    EVP_PKEY_free(k);
    X509_free(x);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int key_add_share(const struct cli_global *g, int argc, char **argv)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int have = 0, need = 0, status = 0;
    ca_ctx *ca = NULL;
    cm_err rc;

    if (argc < 2)
        return cli_usage_error("key add-share: give one or more share files");
    CM_TRY(cli_open_ca(&ca, g, 0));
    for (int i = 1; i < argc; i++) {
        free(data);
        data = NULL;
        rc = fs_read_file(&data, &len, argv[i], KRA_MAX_BATCH_FILE);
        if (rc == CM_OK)
            rc = ca_key_add_share(&have, &need, ca, data, len, argv[i]);
        if (rc != CM_OK) {
            cli_fail(rc);
            status = 1;
            continue;
        }
        printf("%s\t%d of %d shares\n", argv[i], have, need);
    }
    rc = CM_OK;
out:
    free(data);
    cli_close_ca(ca);
    return rc == CM_OK ? status : cli_fail(rc);
}

static cm_err recover_run(ca_ctx *ca, void *ctx)
{
    struct key_out *o = ctx;
    unsigned char *p12 = NULL;
    size_t len = 0;
    cm_err rc;

    CM_TRY(ca_key_recover(&p12, &len, ca, o->id, o->arg));
    cli_deliver(ca);
    CM_TRY(cli_write_file(o->g, o->out, o->force, p12, len, 0600));
out:
    OPENSSL_free(p12);
    return rc;
}

static int key_recover(const struct cli_global *g, int argc, char **argv)
{
    struct key_out o = {g, NULL, NULL, NULL, 0};
    const struct cli_opt opts[] = {
        {"out", &o.out, NULL},
        {"password-file", &o.arg, NULL},
        {"force", NULL, &o.force},
        {NULL, NULL, NULL},
    };

    if (cli_opts_parse(argc, argv, opts, "key") != 0)
        return 2;
    if (optind != argc - 1 || o.out == NULL || o.arg == NULL)
        return cli_usage_error("key recover: give REQ, --out FILE.p12 and --password-file F");
    o.id = argv[optind];
    return cli_with_ca_out(g, o.out, o.force, recover_run, &o);
}

int cmd_key(const struct cli_global *g, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(const struct cli_global *, int, char **);
    } subs[] = {
        {"recover-request", key_recover_request},
        {"request-file", key_request_file},
        {"release-share", key_release_share},
        {"add-share", key_add_share},
        {"recover", key_recover},
    };
    if (argc < 2)
        return cli_usage_error("key: give recover-request, request-file, release-share, "
                               "add-share or recover");
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].fn(g, argc - 1, argv + 1);
    return cli_usage_error("key: unknown subcommand '%s' (see 'certmint help key')", argv[1]);
}
