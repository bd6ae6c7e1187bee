/* certmint key: recovery of archived keys (issue 12, docs/key-archival.md). */
#include "cli/commands.h"

#include "kra/kra.h"
#include "util/fsutil.h"

#include <getopt.h>
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

static int key_recover_request(const struct cli_global *g, int argc, char **argv)
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
    size_t len = 0;
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
            return cli_usage_error("key: see 'certmint help key'");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("key recover-request: give one serial number");
    if (reason == NULL || out == NULL)
        return cli_usage_error("key recover-request: --reason TEXT and --out REQFILE are needed");
    CM_TRY(cli_out_check(g, out, force));
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_key_recover_request(req, &file, &len, ca, argv[optind], reason));
    cli_deliver(ca);
    CM_TRY(cli_write_file(g, out, force, file, len, 0644));
    printf("%s\n", req);
out:
    free(file);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int key_request_file(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    unsigned char *file = NULL;
    size_t len = 0;
    int ch, force = 0;
    ca_ctx *ca = NULL;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = 1;
            break;
        default:
            return cli_usage_error("key: see 'certmint help key'");
        }
    }
    if (optind != argc - 1 || out == NULL)
        return cli_usage_error("key request-file: give one request ID and --out REQFILE");
    CM_TRY(cli_out_check(g, out, force));
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_key_recover_request_file(&file, &len, ca, argv[optind]));
    CM_TRY(cli_write_file(g, out, force, file, len, 0644));
out:
    free(file);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

/* The agent's command: no CA home is opened. */
static int key_release_share(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"agent-key", required_argument, NULL, 'k'},
        {"agent-cert", required_argument, NULL, 'c'},
        {"agent-password-file", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *kpath = NULL, *cpath = NULL, *ppath = NULL, *out = NULL;
    unsigned char *req = NULL, *share = NULL;
    size_t reqlen = 0, sharelen = 0;
    struct kra_request_info info;
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    int ch, force = 0;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'k':
            kpath = optarg;
            break;
        case 'c':
            cpath = optarg;
            break;
        case 'p':
            ppath = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = 1;
            break;
        default:
            return cli_usage_error("key: see 'certmint help key'");
        }
    }
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

static int key_recover(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"password-file", required_argument, NULL, 'p'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *pw = NULL;
    unsigned char *p12 = NULL;
    size_t len = 0;
    int ch, force = 0;
    ca_ctx *ca = NULL;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 'p':
            pw = optarg;
            break;
        case 'f':
            force = 1;
            break;
        default:
            return cli_usage_error("key: see 'certmint help key'");
        }
    }
    if (optind != argc - 1 || out == NULL || pw == NULL)
        return cli_usage_error("key recover: give REQ, --out FILE.p12 and --password-file F");
    CM_TRY(cli_out_check(g, out, force));
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_key_recover(&p12, &len, ca, argv[optind], pw));
    cli_deliver(ca);
    CM_TRY(cli_write_file(g, out, force, p12, len, 0600));
out:
    OPENSSL_free(p12);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
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
