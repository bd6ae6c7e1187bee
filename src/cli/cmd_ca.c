/* certmint init, ca-cert, install-ca-cert. */
#include "cli/commands.h"
#include "key/p11uri.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_init_usage[] =
    "certmint --home DIR init --subject DN [--key SPEC|URI] [--key-type SPEC] [--days N]\n"
    "                    [--pathlen N] [--db URL]\n"
    "certmint --home DIR init --subordinate --subject DN --out CSR [--force]\n"
    "                    [--key SPEC|URI] [--key-type SPEC] [--pathlen N] [--db URL]\n"
    "\n"
    "Creates a CA home in DIR (which must not exist, or be empty and yours), mode 0700\n"
    "whatever the umask; a parent directory that every user may write draws a warning.\n"
    "  --subject DN     the CA's name: \"/CN=Example Root/O=Example\" or \"CN=Example "
    "Root,O=Example\"\n"
    "  --key SPEC       ec:p256 (default), ec:p384, ec:p521, rsa:2048, rsa:3072, rsa:4096, "
    "ed25519\n"
    "  --key URI        keep the key in a PKCS#11 token (RFC 7512), e.g.\n"
    "                   'pkcs11:token=ca;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so"
    "\n"
    "                   &pin-source=file:/etc/certmint/pin': the object is used when it\n"
    "                   exists, else a key pair of --key-type is generated in the token;\n"
    "                   the home records the URI. The PIN comes from pin-source, else the\n"
    "                   file CERTMINT_PKCS11_PIN_FILE names, else CERTMINT_PKCS11_PIN;\n"
    "                   pin-value is refused\n"
    "  --key-type SPEC  the type of a key generated in a token (default ec:p256)\n"
    "  --days N         validity of a root certificate (default 3650)\n"
    "  --pathlen N      basicConstraints pathLenConstraint (default: none)\n"
    "  --db URL         keep the CA's database in PostgreSQL: postgresql://USER@HOST:PORT/DB\n"
    "                   (created when missing and USER may; recorded as db.url). The\n"
    "                   password comes from PGPASSFILE or ~/.pgpass, never the URL\n"
    "                   (docs/postgresql.md). Default: SQLite in DIR\n"
    "  --subordinate    make a subordinate CA: write a CSR for the parent CA to --out, then\n"
    "                   complete with 'certmint install-ca-cert CERT CHAIN'; CSR must be\n"
    "                   outside DIR and is not replaced unless --force\n"
    "The key is encrypted with the passphrase from --passphrase-file (global option) or a\n"
    "prompt; it is never taken from the command line. A passphrase file that group or\n"
    "others may read is refused (chmod 600 it).\n";

int cmd_init(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"subject", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},
        {"key-type", required_argument, NULL, 't'},
        {"days", required_argument, NULL, 'd'},
        {"pathlen", required_argument, NULL, 'p'},
        {"subordinate", no_argument, NULL, 'S'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"db", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    struct ca_init_opts o = {0};
    struct ca_actor who;
    char who_name[CA_ACTOR_MAX];
    const char *spec = NULL, *type = NULL;
    long long v;
    int ch;
    cm_err rc;

    o.days = 3650;
    o.pathlen = -1;
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 's':
            o.subject = optarg;
            break;
        case 'k':
            if (p11_uri_is(optarg))
                o.key_ref = optarg;
            else
                spec = optarg;
            break;
        case 't':
            type = optarg;
            break;
        case 'd':
            if (text_parse_int(&v, optarg, 1, 36500, "--days") != CM_OK)
                return cli_fail(CM_ERR_INVALID);
            o.days = (int)v;
            break;
        case 'p':
            if (text_parse_int(&v, optarg, 0, 16, "--pathlen") != CM_OK)
                return cli_fail(CM_ERR_INVALID);
            o.pathlen = (int)v;
            break;
        case 'S':
            o.subordinate = 1;
            break;
        case 'o':
            o.csr_out = optarg;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'D':
            o.db_url = optarg;
            break;
        default:
            return cli_usage_error("init: see 'certmint help init'");
        }
    }
    if (optind != argc)
        return cli_usage_error("init: unexpected argument '%s'", argv[optind]);
    if (spec != NULL && type != NULL)
        return cli_usage_error("init: give the key type once: --key SPEC or --key-type SPEC");
    o.key_spec = spec ? spec : type ? type : "ec:p256";
    if (g->home == NULL)
        return cli_usage_error("init: no CA home: give --home DIR or set CERTMINT_HOME");
    o.home = g->home;
    o.passphrase_file = g->passphrase_file;
    cli_actor(&who, who_name, sizeof(who_name));
    o.actor = &who;
    if ((rc = ca_init(&o)) != CM_OK)
        return cli_fail(rc);
    if (o.subordinate)
        printf("Subordinate CA created in %s; CSR written to %s.\n"
               "Have the parent CA sign it (profile subca), then run: certmint install-ca-cert "
               "CERT CHAIN\n",
               g->home, o.csr_out);
    else
        printf("Root CA created in %s\n", g->home);
    return 0;
}

const char cmd_ca_cert_usage[] =
    "certmint ca-cert [--chain] [--format pem|der|p7b] [--out FILE [--force]]\n"
    "\n"
    "Prints the CA certificate as PEM; with --chain also the issuers above it up to\n"
    "the root.\n"
    "  --format F   pem (default); der: the CA certificate alone, binary; p7b: the CA\n"
    "               certificate and its chain as a certificates-only PKCS#7 (DER), the\n"
    "               .p7b file that Windows, Exchange and IIS import\n"
    "  --out FILE   write to FILE (atomically, never inside the CA home) instead of\n"
    "               standard output; binary formats are never written to a terminal\n"
    "  --force      replace FILE if it exists\n";

int cmd_ca_cert(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"chain", no_argument, NULL, 'c'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"force", no_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    enum ca_export_format fmt = CA_EXPORT_PEM;
    const char *out = NULL;
    ca_ctx *ca = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    int ch, chain = 0, force = 0;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'c':
            chain = 1;
            break;
        case 'F':
            if (ca_export_parse_format(&fmt, optarg) != CM_OK)
                return cli_usage_error("ca-cert: %s", cm_err_msg());
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = 1;
            break;
        default:
            return cli_usage_error("ca-cert: see 'certmint help ca-cert'");
        }
    }
    if (optind != argc)
        return cli_usage_error("ca-cert: unexpected argument '%s'", argv[optind]);
    if (fmt == CA_EXPORT_DER && chain)
        return cli_usage_error("ca-cert: a DER file holds one certificate: use --format pem or "
                               "p7b for the chain");
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = ca_cert_export(&data, &len, ca, NULL, 0, chain, fmt);
    if (rc == CM_OK)
        rc = cli_write_data(g, out, force, data, len, fmt != CA_EXPORT_PEM);
    free(data);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

const char cmd_install_ca_cert_usage[] =
    "certmint install-ca-cert CERT [CHAIN]\n"
    "\n"
    "Completes a subordinate CA made with 'init --subordinate': CERT is the certificate the\n"
    "parent CA issued for our CSR, CHAIN the parent's certificates up to and including the\n"
    "self-signed root (PEM). The certificate must match the CA key, be a CA certificate and\n"
    "verify up to the root.\n";

int cmd_install_ca_cert(const struct cli_global *g, int argc, char **argv)
{
    ca_ctx *ca = NULL;
    cm_err rc;

    if (argc < 2 || argc > 3)
        return cli_usage_error("install-ca-cert: usage: certmint install-ca-cert CERT [CHAIN]");
    if ((rc = cli_open_ca(&ca, g, 1)) != CM_OK)
        return cli_fail(rc);
    rc = ca_install_cert(ca, argv[1], argc == 3 ? argv[2] : NULL);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("CA certificate installed in %s\n", g->home);
    return 0;
}

const char cmd_ca_usage[] =
    "certmint ca passphrase [--new-passphrase-file FILE]\n"
    "\n"
    "passphrase  decrypts the CA key with the current passphrase (global --passphrase-file,\n"
    "            ca.passphrase_file, else a prompt) and re-encrypts it under the new one from\n"
    "            FILE (else asked twice on the terminal; never the command line; at least 8\n"
    "            characters) with today's KDF: PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256 with\n"
    "            600,000 iterations. Keys made by older versions (2,048 iterations) are\n"
    "            upgraded this way. The key file is replaced atomically (mode 0600) and the\n"
    "            change is recorded in the audit log. Update ca.passphrase_file's file\n"
    "            afterwards if the configuration names one.\n";

int cmd_ca(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"new-passphrase-file", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    struct key_kdf was, now;
    const char *newfile = NULL;
    ca_ctx *ca = NULL;
    int ch;
    cm_err rc;

    if (argc < 2 || strcmp(argv[1], "passphrase") != 0)
        return cli_usage_error("ca: usage: certmint ca passphrase [--new-passphrase-file FILE]");
    argc--;
    argv++;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'n')
            return cli_usage_error("ca passphrase: see 'certmint help ca'");
        newfile = optarg;
    }
    if (optind != argc)
        return cli_usage_error("ca passphrase: unexpected argument '%s'", argv[optind]);
    if ((rc = cli_open_ca(&ca, g, 1)) != CM_OK)
        return cli_fail(rc);
    rc = ca_change_passphrase(&was, &now, ca, newfile);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("CA key re-encrypted with %s (was %s)\n", now.name, was.name);
    return 0;
}
