/* dir_tool: drives the directory layer (src/ldap/dir.c) against a real
 * server for tests/e2e/ldap_dir.sh. Not installed.
 *
 *   dir_tool [CONNECTION OPTIONS] open
 *   dir_tool [...] find CERT                 prints "DN\tmail|dn"
 *   dir_tool [...] publish CERT [--replace|--add] [--dry-run]
 *   dir_tool [...] publish-to DN CERT [--replace|--add] [--dry-run]
 *   dir_tool [...] unpublish CERT [--dry-run]
 *   dir_tool [...] count DN ATTR             prints the number of values
 *   dir_tool [...] ca cert|crl|delta FILE [--create] [--dry-run]
 *
 * Connection options: --uri U --starttls --cafile F --certfile F --keyfile F
 * --binddn DN --password-file F --sasl-external --base DN --ca-entry DN
 * --timeout-ms N --connect-timeout-ms N.
 *
 * --wait-for FILE: after connecting, create FILE.ready and wait (up to 60 s)
 * until FILE exists before the operation, so that a test can stop or kill
 * the server between the bind and the operation.
 *
 * Publish commands print "DN\tCHANGE" (dir_change_name). Errors print
 * "error=CODE: message" on stderr (CODE: NET, AUTH, NOTFOUND, EXISTS,
 * INVALID, TIMEOUT, CONFIG, ...) and exit 1; usage errors exit 2. */
#include "ldap/dir.h"
#include "util/err.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <getopt.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *code_name(cm_err e)
{
    static const char *const names[CM_ERR__COUNT] = {
        [CM_OK] = "OK",
        [CM_ERR_NOMEM] = "NOMEM",
        [CM_ERR_IO] = "IO",
        [CM_ERR_INVALID] = "INVALID",
        [CM_ERR_NOTFOUND] = "NOTFOUND",
        [CM_ERR_EXISTS] = "EXISTS",
        [CM_ERR_CRYPTO] = "CRYPTO",
        [CM_ERR_DB] = "DB",
        [CM_ERR_CONFIG] = "CONFIG",
        [CM_ERR_POLICY] = "POLICY",
        [CM_ERR_LINT] = "LINT",
        [CM_ERR_STATE] = "STATE",
        [CM_ERR_NET] = "NET",
        [CM_ERR_AUTH] = "AUTH",
        [CM_ERR_TIMEOUT] = "TIMEOUT",
        [CM_ERR_WITHHELD] = "WITHHELD",
        [CM_ERR_UNSUPPORTED] = "UNSUPPORTED",
    };
    return (unsigned)e < CM_ERR__COUNT && names[e] ? names[e] : "?";
}

static int fail(cm_err rc)
{
    fprintf(stderr, "error=%s: %s\n", code_name(rc), cm_err_msg());
    return 1;
}

static int usage(void)
{
    fputs(
        "usage: dir_tool [--uri U] [--starttls] [--cafile F] [--binddn DN] [--password-file F]\n"
        "       [--sasl-external] [--base DN] [--ca-entry DN] [--timeout-ms N]\n"
        "       open | find CERT | publish CERT | publish-to DN CERT | unpublish CERT |\n"
        "       count DN ATTR | ca cert|crl|delta FILE  [--replace|--add] [--create] [--dry-run]\n",
        stderr);
    return 2;
}

/* Reads a certificate or CRL file, PEM or DER, and gives its DER. */
static cm_err read_der(unsigned char **der, size_t *len, X509 **cert, const char *path, int is_crl)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t n = 0;
    BIO *bio = NULL;
    X509 *x = NULL;
    X509_CRL *crl = NULL;
    int dlen;

    *der = NULL;
    CM_TRY(fs_read_file(&data, &n, path, 16 * 1024 * 1024));
    bio = BIO_new_mem_buf(data, (int)n);
    CM_NOMEM_IF(bio == NULL);
    if (is_crl) {
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        if (crl == NULL) {
            const unsigned char *p = data;
            crl = d2i_X509_CRL(NULL, &p, (long)n);
        }
        if (crl == NULL)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a CRL", path);
        dlen = i2d_X509_CRL(crl, der);
    } else {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL) {
            const unsigned char *p = data;
            x = d2i_X509(NULL, &p, (long)n);
        }
        if (x == NULL)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a certificate", path);
        dlen = i2d_X509(x, der);
    }
    if (dlen <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encode", path);
    *len = (size_t)dlen;
    if (cert) {
        *cert = x;
        x = NULL;
    }
out:
    ERR_clear_error();
    X509_free(x);
    X509_CRL_free(crl);
    BIO_free(bio);
    free(data);
    return rc;
}

static cm_err open_dir(struct dir **d, const struct dir_opts *o, const char *wait_for)
{
    char ready[4096];
    cm_err rc = dir_open(d, o);

    if (rc != CM_OK || wait_for == NULL)
        return rc;
    snprintf(ready, sizeof(ready), "%s.ready", wait_for);
    rc = fs_write_atomic(ready, "", 0, 0644);
    for (int i = 0; rc == CM_OK && i < 600 && !fs_exists(wait_for); i++)
        usleep(100 * 1000);
    return rc;
}

int main(int argc, char **argv)
{
    struct dir_opts o = {0};
    enum dir_mode mode = DIR_REFUSE;
    int dry_run = 0, create = 0, ch, status = 0;
    const char *wait_for = NULL;
    long long v;
    cm_err rc = CM_OK;
    struct dir *d = NULL;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    char *dn = NULL;
    struct berval **vals = NULL;
    enum dir_change what = DIR_UNCHANGED;
    enum dir_match how = DIR_MATCH_MAIL;
    static const struct option opts[] = {
        {"uri", required_argument, NULL, 'u'},
        {"starttls", no_argument, NULL, 'Z'},
        {"cafile", required_argument, NULL, 'C'},
        {"certfile", required_argument, NULL, 'c'},
        {"keyfile", required_argument, NULL, 'k'},
        {"binddn", required_argument, NULL, 'D'},
        {"password-file", required_argument, NULL, 'y'},
        {"sasl-external", no_argument, NULL, 'E'},
        {"base", required_argument, NULL, 'b'},
        {"ca-entry", required_argument, NULL, 'A'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"connect-timeout-ms", required_argument, NULL, 'T'},
        {"replace", no_argument, NULL, 'r'},
        {"add", no_argument, NULL, 'a'},
        {"dry-run", no_argument, NULL, 'n'},
        {"create", no_argument, NULL, 'f'},
        {"wait-for", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };

    /* Options may follow the command too (GNU getopt permutes). */
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            o.uri = optarg;
            break;
        case 'Z':
            o.starttls = 1;
            break;
        case 'C':
            o.cafile = optarg;
            break;
        case 'c':
            o.certfile = optarg;
            break;
        case 'k':
            o.keyfile = optarg;
            break;
        case 'D':
            o.binddn = optarg;
            break;
        case 'y':
            o.password_file = optarg;
            break;
        case 'E':
            o.sasl_external = 1;
            break;
        case 'b':
            o.base = optarg;
            break;
        case 'A':
            o.ca_entry = optarg;
            break;
        case 't':
        case 'T':
            if (text_parse_int(&v, optarg, 1, 600000, "timeout") != CM_OK)
                return fail(CM_ERR_INVALID);
            if (ch == 't')
                o.timeout_ms = (int)v;
            else
                o.connect_timeout_ms = (int)v;
            break;
        case 'r':
            mode = DIR_REPLACE;
            break;
        case 'a':
            mode = DIR_ADD;
            break;
        case 'n':
            dry_run = 1;
            break;
        case 'f':
            create = 1;
            break;
        case 'w':
            wait_for = optarg;
            break;
        default:
            return usage();
        }
    }
    if (optind >= argc)
        return usage();
    const char *cmd = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;

    if (strcmp(cmd, "open") == 0) {
        if (nargs != 0)
            return usage();
        CM_TRY(open_dir(&d, &o, wait_for));
        puts("connected");
    } else if (strcmp(cmd, "find") == 0 || strcmp(cmd, "publish") == 0 ||
               strcmp(cmd, "unpublish") == 0) {
        if (nargs != 1)
            return usage();
        CM_TRY(read_der(&der, &len, &cert, args[0], 0));
        CM_TRY(open_dir(&d, &o, wait_for));
        CM_TRY(dir_find_for_cert(&dn, &how, d, cert));
        if (strcmp(cmd, "find") == 0) {
            printf("%s\t%s\n", dn, how == DIR_MATCH_MAIL ? "mail" : "dn");
        } else {
            if (strcmp(cmd, "publish") == 0)
                CM_TRY(dir_publish_cert(d, dn, der, len, mode, dry_run, &what));
            else
                CM_TRY(dir_unpublish_cert(d, dn, der, len, dry_run, &what));
            printf("%s\t%s\n", dn, dir_change_name(what));
        }
    } else if (strcmp(cmd, "publish-to") == 0) {
        if (nargs != 2)
            return usage();
        CM_TRY(read_der(&der, &len, NULL, args[1], 0));
        CM_TRY(open_dir(&d, &o, wait_for));
        CM_TRY(dir_publish_cert(d, args[0], der, len, mode, dry_run, &what));
        printf("%s\t%s\n", args[0], dir_change_name(what));
    } else if (strcmp(cmd, "count") == 0) {
        if (nargs != 2)
            return usage();
        CM_TRY(open_dir(&d, &o, wait_for));
        CM_TRY(dir_get_values(&vals, d, args[0], args[1]));
        printf("%zu\n", dir_values_count(vals));
    } else if (strcmp(cmd, "ca") == 0) {
        enum dir_ca_attr which;
        if (nargs != 2)
            return usage();
        if (strcmp(args[0], "cert") == 0)
            which = DIR_CA_CERT;
        else if (strcmp(args[0], "crl") == 0)
            which = DIR_CA_CRL;
        else if (strcmp(args[0], "delta") == 0)
            which = DIR_CA_DELTA_CRL;
        else
            return usage();
        CM_TRY(read_der(&der, &len, NULL, args[1], which != DIR_CA_CERT));
        CM_TRY(open_dir(&d, &o, wait_for));
        CM_TRY(dir_publish_ca(d, which, der, len, create, dry_run, &what));
        printf("%s\t%s\n", dir_ca_entry(d), dir_change_name(what));
    } else {
        return usage();
    }
out:
    if (rc != CM_OK)
        status = fail(rc);
    dir_values_free(vals);
    free(dn);
    OPENSSL_free(der);
    X509_free(cert);
    dir_close(d);
    return status;
}
