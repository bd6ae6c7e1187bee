/* The CA home fixture of fixture_home.h. */
#include "fixture_home.h"

#include "exit/exit.h"
#include "util/fsutil.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fixture_home_open(struct fixture_home *f, const char *tag, const char *subject_cn,
                      size_t sessions)
{
    char pass[320], subject[128];
    const char *tmp = getenv("TMPDIR");
    static const char passphrase[] = "fixture-home-test-passphrase\n";
    const struct ca_actor who = {CA_ACTOR_OPERATOR, "tester"};
    struct ca_init_opts io;
    struct ca_open_opts oo = {NULL, 0, sessions};

    memset(f, 0, sizeof(*f));
    snprintf(f->base, sizeof(f->base), "%s/cm-%s-XXXXXX", tmp ? tmp : "/tmp", tag);
    if (mkdtemp(f->base) == NULL) {
        f->base[0] = '\0';
        return -1;
    }
    snprintf(f->home, sizeof(f->home), "%s/ca", f->base);
    snprintf(pass, sizeof(pass), "%s/pass", f->base);
    snprintf(subject, sizeof(subject), "CN=%s", subject_cn);
    if (fs_write_atomic(pass, passphrase, sizeof(passphrase) - 1, 0600) != CM_OK)
        return -1;
    memset(&io, 0, sizeof(io));
    io.home = f->home;
    io.subject = subject;
    io.key_spec = "ec:p256";
    io.days = 365;
    io.pathlen = -1;
    io.passphrase_file = pass;
    io.actor = &who;
    if (exit_registry_init() != CM_OK || ca_init(&io) != CM_OK)
        return -1;
    oo.passphrase_file = pass;
    return ca_open(&f->handle, f->home, &oo) == CM_OK ? 0 : -1;
}

void fixture_home_close(struct fixture_home *f)
{
    char cmd[600];
    if (f == NULL)
        return;
    ca_close(f->handle);
    f->handle = NULL;
    if (f->base[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->base);
    f->base[0] = '\0';
}

unsigned char *fixture_csr(size_t *len, const char *cn)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san_ext = NULL;
    unsigned char *out = NULL;
    char san[128];
    int l = -1;

    *len = 0;
    snprintf(san, sizeof(san), "DNS:%s", cn);
    if (k == NULL || r == NULL || n == NULL || exts == NULL)
        goto out;
    san_ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    if (san_ext == NULL || sk_X509_EXTENSION_push(exts, san_ext) <= 0)
        goto out;
    san_ext = NULL;
    if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) &&
        X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, k) &&
        X509_REQ_add_extensions(r, exts) && X509_REQ_sign(r, k, EVP_sha256()) > 0)
        l = i2d_X509_REQ(r, &out);
    *len = l > 0 ? (size_t)l : 0;
out:
    X509_EXTENSION_free(san_ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(n);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
    return l > 0 ? out : NULL;
}
