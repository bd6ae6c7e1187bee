/* certmint host ...: the host's certificate store (docs/host.md). A thin
 * client of src/host: parse, call one host_* function, print. */
#include "cli/cli.h"
#include "cli/commands.h"
#include "host/host.h"

#include "util/fsutil.h"
#include "util/text.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_host_usage[] =
    "usage: certmint host SUBCOMMAND [--store DIR] [OPTIONS]\n"
    "\n"
    "The certificate store of a server that uses certificates (docs/host.md):\n"
    "keys made here, certificates from certmint or any CA, deployed to Postfix,\n"
    "Dovecot, nginx and Apache. The store is --store DIR, CERTMINT_HOST_STORE, or\n"
    "/var/lib/certmint-host (mode 0700; keys 0600).\n"
    "\n"
    "  request --name NAME --subject DN [--dns NAME]... [--ip ADDR]...\n"
    "          [--key rsa:2048|rsa:3072|rsa:4096|ec:p256|ec:p384] [--exportable]\n"
    "          [--key-passphrase-file FILE] [--out CSR]\n"
    "        a new key (encrypted with the passphrase when given) and its CSR for\n"
    "        any CA (stdout, or --out); the entry waits for host import\n"
    "  request ... --key 'pkcs11:token=T;object=O?module-path=M&pin-source=file:F'\n"
    "          [--key-type rsa:N|ec:p256|ec:p384]\n"
    "        the key made (or found by its label) in a PKCS#11 token, the CSR signed\n"
    "        there; never exportable; enable refuses it (services read key files)\n"
    "  import FILE [--trust PEM] [--no-aia]\n"
    "        a certificate (PEM, DER, .p7b, or a PEM bundle with its chain) matched\n"
    "        to its key by public key; missing issuers are fetched from the AIA\n"
    "        caIssuers URL (http://); the chain must verify to --trust or the\n"
    "        system's anchors; an expired or not yet valid certificate is refused\n"
    "  list [--format table|json]   thumbprint (SHA-1), name, not-after, services, subject\n"
    "  show THUMBPRINT|NAME [--format table|json]\n"
    "        THUMBPRINT: SHA-1 or SHA-256, any case, with or without separators,\n"
    "        or a unique prefix of 4 digits or more\n"
    "  export THUMBPRINT --pfx --password-file FILE [--out FILE] [--force]\n"
    "        PKCS#12 (AES-256-CBC, PBKDF2) of an exportable key, its certificate and\n"
    "        chain\n"
    "  remove THUMBPRINT [--force]   (--force: even when enabled for a service)\n"
    "  enable THUMBPRINT --services smtp,imap,pop,https,apache\n"
    "        deploys to Postfix (smtp), Dovecot (imap, pop), nginx (https) and\n"
    "        Apache httpd (apache) as\n"
    "        host.conf in the store says; each service's check runs before its\n"
    "        reload, and a failure restores every configuration\n"
    "  hook THUMBPRINT [--pre-deploy CMD] [--post-deploy CMD]   (\"\" clears)\n"
    "  submit NAME --ca-home DIR [--profile P]\n"
    "        submits the entry's CSR to a certmint CA home on this machine and\n"
    "        imports the certificate when it is issued\n"
    "  submit NAME --ca https://HOST[:PORT] [--ca-file PEM] [--profile P]\n"
    "         [--client-cert PEM --client-key PEM | --token-file FILE]\n"
    "         [--trust PEM] [--poll] [--wait SECONDS]\n"
    "        the same over certmint's REST API (HTTPS, TLS 1.2+, the server\n"
    "        verified against --ca-file); authenticated by a client certificate\n"
    "        (default: the entry's own, a renewal) or a one-time token; a pending\n"
    "        request is fetched by --poll or a re-run (--wait: poll that long)\n"
    "  renew [THUMBPRINT | --all] [--rekey] [--window DAYS]\n"
    "        re-requests from the CA the entry came from (THUMBPRINT: now; --all:\n"
    "        those expiring within DAYS, default 30) and enables the services again\n"
    "  certmonger-helper --ca-home DIR [--profile P]\n"
    "        certmonger's external CA helper (CERTMONGER_OPERATION SUBMIT, POLL,\n"
    "        IDENTIFY, GET-NEW-/GET-RENEW-REQUEST-REQUIREMENTS, FETCH-ROOTS;\n"
    "        others exit 6)\n"
    "\n"
    "--key-passphrase-file FILE gives the passphrase of an encrypted store key\n"
    "(request, export, enable, renew). The CA key's passphrase is the global\n"
    "--passphrase-file. Exit status: 0 done, 1 error, 2 usage.\n";

struct host_args {
    const char *store, *name, *subject, *key, *out, *keypass, *pfxpass, *trust, *services;
    const char *pre, *post, *ca_home, *profile;
    const char *ca_url, *ca_file, *client_cert, *client_key, *token_file, *key_type;
    const char *dns[32], *ips[32];
    size_t ndns, nips;
    int exportable, pfx, force, no_aia, all, rekey, pre_set, post_set, poll;
    long long window, wait;
    enum cli_format fmt;
};

enum {
    O_STORE = 256,
    O_NAME,
    O_SUBJECT,
    O_DNS,
    O_IP,
    O_KEY,
    O_EXPORTABLE,
    O_KEYPASS,
    O_OUT,
    O_TRUST,
    O_NOAIA,
    O_FORMAT,
    O_PFX,
    O_PFXPASS,
    O_FORCE,
    O_SERVICES,
    O_PRE,
    O_POST,
    O_CAHOME,
    O_PROFILE,
    O_ALL,
    O_REKEY,
    O_WINDOW,
    O_CA,
    O_CAFILE,
    O_CLIENTCERT,
    O_CLIENTKEY,
    O_TOKENFILE,
    O_POLL,
    O_WAIT,
    O_KEYTYPE,
};

static int take_list(const char **arr, size_t *n, const char *v, const char *opt)
{
    if (*n >= 32)
        return cli_usage_error("host: at most 32 %s values", opt);
    arr[(*n)++] = v;
    return 0;
}

/* long: one case per option */
static int parse_args(struct host_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, O_STORE},
        {"name", required_argument, NULL, O_NAME},
        {"subject", required_argument, NULL, O_SUBJECT},
        {"dns", required_argument, NULL, O_DNS},
        {"ip", required_argument, NULL, O_IP},
        {"key", required_argument, NULL, O_KEY},
        {"exportable", no_argument, NULL, O_EXPORTABLE},
        {"key-passphrase-file", required_argument, NULL, O_KEYPASS},
        {"out", required_argument, NULL, O_OUT},
        {"trust", required_argument, NULL, O_TRUST},
        {"no-aia", no_argument, NULL, O_NOAIA},
        {"format", required_argument, NULL, O_FORMAT},
        {"pfx", no_argument, NULL, O_PFX},
        {"password-file", required_argument, NULL, O_PFXPASS},
        {"force", no_argument, NULL, O_FORCE},
        {"services", required_argument, NULL, O_SERVICES},
        {"pre-deploy", required_argument, NULL, O_PRE},
        {"post-deploy", required_argument, NULL, O_POST},
        {"ca-home", required_argument, NULL, O_CAHOME},
        {"profile", required_argument, NULL, O_PROFILE},
        {"all", no_argument, NULL, O_ALL},
        {"rekey", no_argument, NULL, O_REKEY},
        {"window", required_argument, NULL, O_WINDOW},
        {"ca", required_argument, NULL, O_CA},
        {"ca-file", required_argument, NULL, O_CAFILE},
        {"client-cert", required_argument, NULL, O_CLIENTCERT},
        {"client-key", required_argument, NULL, O_CLIENTKEY},
        {"token-file", required_argument, NULL, O_TOKENFILE},
        {"poll", no_argument, NULL, O_POLL},
        {"wait", required_argument, NULL, O_WAIT},
        {"key-type", required_argument, NULL, O_KEYTYPE},
        {NULL, 0, NULL, 0},
    };
    int ch;

    a->window = 30;
    optind = 0;
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case O_STORE:
            a->store = optarg;
            break;
        case O_NAME:
            a->name = optarg;
            break;
        case O_SUBJECT:
            a->subject = optarg;
            break;
        case O_DNS:
            if (take_list(a->dns, &a->ndns, optarg, "--dns"))
                return 2;
            break;
        case O_IP:
            if (take_list(a->ips, &a->nips, optarg, "--ip"))
                return 2;
            break;
        case O_KEY:
            a->key = optarg;
            break;
        case O_EXPORTABLE:
            a->exportable = 1;
            break;
        case O_KEYPASS:
            a->keypass = optarg;
            break;
        case O_OUT:
            a->out = optarg;
            break;
        case O_TRUST:
            a->trust = optarg;
            break;
        case O_NOAIA:
            a->no_aia = 1;
            break;
        case O_FORMAT:
            if (cli_parse_format(&a->fmt, optarg))
                return 2;
            break;
        case O_PFX:
            a->pfx = 1;
            break;
        case O_PFXPASS:
            a->pfxpass = optarg;
            break;
        case O_FORCE:
            a->force = 1;
            break;
        case O_SERVICES:
            a->services = optarg;
            break;
        case O_PRE:
            a->pre = optarg;
            a->pre_set = 1;
            break;
        case O_POST:
            a->post = optarg;
            a->post_set = 1;
            break;
        case O_CAHOME:
            a->ca_home = optarg;
            break;
        case O_PROFILE:
            a->profile = optarg;
            break;
        case O_ALL:
            a->all = 1;
            break;
        case O_REKEY:
            a->rekey = 1;
            break;
        case O_WINDOW:
            if (text_parse_int(&a->window, optarg, 0, 3650, "--window") != CM_OK)
                return cli_fail(CM_ERR_INVALID) + 1;
            break;
        case O_CA:
            a->ca_url = optarg;
            break;
        case O_CAFILE:
            a->ca_file = optarg;
            break;
        case O_CLIENTCERT:
            a->client_cert = optarg;
            break;
        case O_CLIENTKEY:
            a->client_key = optarg;
            break;
        case O_TOKENFILE:
            a->token_file = optarg;
            break;
        case O_POLL:
            a->poll = 1;
            break;
        case O_KEYTYPE:
            a->key_type = optarg;
            break;
        case O_WAIT:
            if (text_parse_int(&a->wait, optarg, 0, 86400, "--wait") != CM_OK)
                return cli_fail(CM_ERR_INVALID) + 1;
            break;
        default:
            return 2;
        }
    }
    if (a->store == NULL)
        a->store = getenv("CERTMINT_HOST_STORE");
    if (a->store == NULL || a->store[0] == '\0')
        a->store = HOST_DEFAULT_STORE;
    return 0;
}

/* The one positional argument after the subcommand (THUMBPRINT, FILE, NAME). */
static const char *positional(int argc, char **argv, const char *sub, const char *what)
{
    if (optind >= argc) {
        cli_usage_error("host %s: give %s", sub, what);
        return NULL;
    }
    if (optind + 1 < argc) {
        cli_usage_error("host %s: unexpected argument '%s'", sub, argv[optind + 1]);
        return NULL;
    }
    return argv[optind];
}

static int sub_request(const struct cli_global *g, host_store *st, const struct host_args *a)
{
    int uri = a->key != NULL && strncmp(a->key, "pkcs11:", 7) == 0;
    struct host_request_opts o = {a->name, a->subject, a->dns,        a->ndns,    a->ips, a->nips,
                                  a->key,  NULL,       a->exportable, a->keypass, 0};
    char *csr = NULL;
    cm_err rc;

    if (a->name == NULL || a->subject == NULL)
        return cli_usage_error("host request: --name and --subject are required");
    if (a->key_type != NULL && !uri)
        return cli_usage_error("host request: --key-type goes with --key pkcs11:URI");
    if (uri) {
        o.key_uri = a->key;
        o.key_spec = a->key_type;
    }
    if ((rc = cli_out_check(g, a->out, a->force)) != CM_OK)
        return cli_fail(rc);
    rc = host_request(&csr, st, &o);
    if (rc == CM_OK)
        rc = cli_write_file(g, a->out, a->force, csr, strlen(csr), 0644);
    free(csr);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int sub_import(host_store *st, const struct host_args *a, const char *file)
{
    struct host_import_opts o = {a->trust, NULL, !a->no_aia};
    unsigned char *data = NULL;
    size_t len = 0;
    char name[HOST_NAME_MAX_LEN + 1];
    cm_err rc = fs_read_file(&data, &len, file, HOST_MAX_FILE);

    if (rc == CM_OK)
        rc = host_import(name, st, data, len, file, &o);
    free(data);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("imported into '%s'\n", name);
    return 0;
}

static void print_time(const char *label, int64_t t)
{
    char buf[32];
    text_format_time(buf, sizeof(buf), t);
    printf("%-12s %s UTC\n", label, buf);
}

static void print_info(const struct host_info *i)
{
    printf("%-12s %s\n", "Name", i->name);
    printf("%-12s %s\n", "Thumbprint", i->has_cert ? i->sha1 : "(pending: no certificate yet)");
    if (i->has_cert) {
        printf("%-12s %s\n", "SHA-256", i->sha256);
        printf("%-12s ", "Subject");
        cli_print_safe(stdout, i->subject);
        printf("\n%-12s ", "SANs");
        cli_print_safe(stdout, i->sans);
        printf("\n%-12s ", "Issuer");
        cli_print_safe(stdout, i->issuer);
        putchar('\n');
        print_time("NotBefore", i->not_before);
        print_time("NotAfter", i->not_after);
    }
    printf("%-12s %s%s\n", "Key", i->key, i->encrypted ? " (encrypted)" : "");
    printf("%-12s %s\n", "Exportable", i->exportable ? "yes" : "no");
    printf("%-12s %s\n", "Services", i->services[0] ? i->services : "none");
}

struct list_ctx {
    enum cli_format fmt;
    cm_buf js;
    int n;
};

static cm_err list_one(void *ctx, const struct host_info *i)
{
    struct list_ctx *lc = ctx;
    char when[32];

    if (lc->fmt == CLI_FMT_JSON) {
        cm_err rc = buf_append_str(&lc->js, lc->n++ ? "," : "");
        return rc != CM_OK ? rc : host_info_json(&lc->js, i);
    }
    text_format_time(when, sizeof(when), i->not_after);
    printf("%-40s %-16s %-19s %-16s ", i->has_cert ? i->sha1 : "(pending)", i->name,
           i->has_cert ? when : "-", i->services[0] ? i->services : "-");
    cli_print_safe(stdout, i->has_cert ? i->subject : "");
    putchar('\n');
    return CM_OK;
}

static int sub_list(host_store *st, const struct host_args *a)
{
    struct list_ctx lc = {a->fmt, CM_BUF_INIT(64 * 1024 * 1024), 0};
    cm_err rc;

    if (a->fmt == CLI_FMT_JSON) {
        rc = buf_append_str(&lc.js, "{\"certificates\":[");
        if (rc == CM_OK)
            rc = host_list(st, list_one, &lc);
        if (rc == CM_OK)
            rc = buf_append_str(&lc.js, "]}");
        return cli_json_emit(&lc.js, rc);
    }
    printf("%-40s %-16s %-19s %-16s %s\n", "THUMBPRINT", "NAME", "NOT-AFTER (UTC)", "SERVICES",
           "SUBJECT");
    rc = host_list(st, list_one, &lc);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int sub_show(host_store *st, const struct host_args *a, const char *which)
{
    char name[HOST_NAME_MAX_LEN + 1];
    struct host_info i;
    cm_buf js = CM_BUF_INIT(1024 * 1024);
    cm_err rc = host_find(name, st, which);

    memset(&i, 0, sizeof(i));
    if (rc == CM_OK)
        rc = host_info_get(&i, st, name);
    if (rc != CM_OK)
        return cli_fail(rc);
    if (a->fmt == CLI_FMT_JSON) {
        rc = host_info_json(&js, &i);
        host_info_clear(&i);
        return cli_json_emit(&js, rc);
    }
    print_info(&i);
    host_info_clear(&i);
    return 0;
}

static int sub_export(const struct cli_global *g, host_store *st, const struct host_args *a,
                      const char *which)
{
    char name[HOST_NAME_MAX_LEN + 1];
    unsigned char *der = NULL;
    size_t len = 0;
    cm_err rc;

    if (!a->pfx)
        return cli_usage_error("host export: give --pfx (the one format for a key)");
    if ((rc = cli_out_check(g, a->out, a->force)) != CM_OK)
        return cli_fail(rc);
    rc = host_find(name, st, which);
    if (rc == CM_OK)
        rc = host_export_pfx(&der, &len, st, name, a->pfxpass, a->keypass);
    if (rc == CM_OK)
        rc = cli_write_data(g, a->out, a->force, der, len, 1);
    if (der != NULL)
        OPENSSL_cleanse(der, len);
    free(der);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int sub_remove(host_store *st, const struct host_args *a, const char *which)
{
    char name[HOST_NAME_MAX_LEN + 1];
    cm_err rc = host_find(name, st, which);

    if (rc == CM_OK)
        rc = host_remove(st, name, a->force);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("removed '%s'\n", name);
    return 0;
}

static int sub_enable(host_store *st, const struct host_args *a, const char *which)
{
    char name[HOST_NAME_MAX_LEN + 1];
    unsigned mask = 0;
    cm_err rc;

    if (a->services == NULL)
        return cli_usage_error("host enable: give --services smtp,imap,pop,https,apache");
    if ((rc = host_services_parse(&mask, a->services)) != CM_OK)
        return cli_usage_error("%s", cm_err_msg());
    rc = host_find(name, st, which);
    if (rc == CM_OK)
        rc = host_enable(st, name, mask, a->keypass);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("enabled '%s' for %s\n", name, a->services);
    return 0;
}

static int sub_hook(host_store *st, const struct host_args *a, const char *which)
{
    char name[HOST_NAME_MAX_LEN + 1];
    cm_err rc;

    if (!a->pre_set && !a->post_set)
        return cli_usage_error("host hook: give --pre-deploy CMD and/or --post-deploy CMD");
    rc = host_find(name, st, which);
    if (rc == CM_OK && a->pre_set)
        rc = host_set_hook(st, name, "pre_deploy", a->pre);
    if (rc == CM_OK && a->post_set)
        rc = host_set_hook(st, name, "post_deploy", a->post);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

/* --ca https://...: certmint's REST API; also a re-run or --poll of an
 * entry that came that way (no --ca-home). */
static int use_rest(const struct cli_global *g, const struct host_args *a)
{
    return a->ca_url != NULL || a->client_cert != NULL || a->token_file != NULL || a->poll ||
           (a->ca_home == NULL && g->home == NULL);
}

static int print_submit(const struct host_submit_result *r)
{
    printf("%lld\t%s\t%s\n", (long long)r->request_id, db_disposition_name(r->disposition),
           r->disposition == DB_DISP_ISSUED ? "imported" : r->message);
    return r->disposition == DB_DISP_DENIED ? 3 : 0;
}

static int sub_submit(const struct cli_global *g, host_store *st, const struct host_args *a,
                      const char *which)
{
    char name[HOST_NAME_MAX_LEN + 1], who[256];
    struct ca_actor actor;
    struct host_ca ca = {a->ca_home ? a->ca_home : g->home, g->passphrase_file, a->profile, &actor};
    struct host_rest rest = {
        a->ca_url,  a->ca_file, a->trust, a->client_cert, a->client_key, a->token_file,
        a->profile, a->keypass, 0,        a->poll,        (int)a->wait};
    struct host_submit_result r;
    cm_err rc;

    cli_actor(&actor, who, sizeof(who));
    if (a->ca_url != NULL && a->ca_home != NULL)
        return cli_usage_error("host submit: --ca or --ca-home, not both");
    rc = host_find(name, st, which);
    if (rc == CM_OK)
        rc = use_rest(g, a) ? host_submit_rest(&r, st, name, &rest)
                            : host_submit_local(&r, st, name, &ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    return print_submit(&r);
}

static void renew_report(void *ctx, const char *name, const char *what)
{
    (void)ctx;
    printf("%s\t%s\n", name, what);
}

static int sub_renew(const struct cli_global *g, host_store *st, const struct host_args *a,
                     const char *which)
{
    struct host_renew_opts o = {a->all,         which,      a->rekey,
                                (int)a->window, a->keypass, g->passphrase_file};
    cm_err rc = host_renew(st, &o, renew_report, NULL);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static int sub_certmonger(const struct cli_global *g, const struct host_args *a)
{
    struct host_ca ca = {a->ca_home ? a->ca_home : g->home, g->passphrase_file, a->profile, NULL};
    struct host_cm_env env = {getenv("CERTMONGER_OPERATION"), getenv("CERTMONGER_CSR"),
                              getenv("CERTMONGER_CA_COOKIE")};
    cm_buf out = CM_BUF_INIT(1024 * 1024);
    int status = host_certmonger(&out, &env, &ca);

    fwrite(out.data ? (const void *)out.data : "", 1, out.len, stdout);
    buf_free(&out);
    return status;
}

/* Subcommands that name one entry (THUMBPRINT or NAME). */
static int run_on_entry(const struct cli_global *g, host_store *st, const struct host_args *a,
                        const char *sub, const char *which)
{
    if (strcmp(sub, "show") == 0)
        return sub_show(st, a, which);
    if (strcmp(sub, "export") == 0)
        return sub_export(g, st, a, which);
    if (strcmp(sub, "remove") == 0)
        return sub_remove(st, a, which);
    if (strcmp(sub, "enable") == 0)
        return sub_enable(st, a, which);
    if (strcmp(sub, "hook") == 0)
        return sub_hook(st, a, which);
    if (strcmp(sub, "submit") == 0)
        return sub_submit(g, st, a, which);
    if (strcmp(sub, "renew") == 0)
        return sub_renew(g, st, a, which);
    return cli_usage_error("host: unknown subcommand '%s' (certmint help host)", sub);
}

static int known_sub(const char *sub)
{
    static const char *const subs[] = {"request",          "import", "list", "show",   "export",
                                       "remove",           "enable", "hook", "submit", "renew",
                                       "certmonger-helper"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(sub, subs[i]) == 0)
            return 1;
    return 0;
}

int cmd_host(const struct cli_global *g, int argc, char **argv)
{
    struct host_args a;
    host_store *st = NULL;
    const char *sub, *arg = NULL;
    int status, create;
    cm_err rc;

    memset(&a, 0, sizeof(a));
    /* The subcommand is the first word that is not an option, so that
     * "host --store DIR list" and "host list --store DIR" are the same. */
    if ((status = parse_args(&a, argc, argv)) != 0)
        return status;
    if (optind >= argc)
        return cli_usage_error("host: give a subcommand (certmint help host)");
    sub = argv[optind++];
    if (!known_sub(sub))
        return cli_usage_error("host: unknown subcommand '%s' (certmint help host)", sub);
    if (strcmp(sub, "certmonger-helper") == 0)
        return optind < argc
                   ? cli_usage_error("host %s: unexpected argument '%s'", sub, argv[optind])
                   : sub_certmonger(g, &a);
    if (strcmp(sub, "renew") == 0 && a.all) {
        if (optind < argc)
            return cli_usage_error("host renew: --all or THUMBPRINT, not both");
    } else if (strcmp(sub, "list") != 0 && strcmp(sub, "request") != 0 &&
               (arg = positional(argc, argv, sub,
                                 strcmp(sub, "import") == 0 ? "FILE" : "THUMBPRINT")) == NULL)
        return 2;
    if (strcmp(sub, "list") == 0 || strcmp(sub, "request") == 0) {
        if (optind < argc)
            return cli_usage_error("host %s: unexpected argument '%s'", sub, argv[optind]);
    }
    create = strcmp(sub, "request") == 0;
    if ((rc = host_store_open(&st, a.store, create)) != CM_OK)
        return cli_fail(rc);
    if (strcmp(sub, "request") == 0)
        status = sub_request(g, st, &a);
    else if (strcmp(sub, "import") == 0)
        status = sub_import(st, &a, arg);
    else if (strcmp(sub, "list") == 0)
        status = sub_list(st, &a);
    else
        status = run_on_entry(g, st, &a, sub, arg);
    host_store_close(st);
    return status;
}
