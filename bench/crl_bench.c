/* CRL generation benchmark: certmint's crl_build + crl_output_write against
 * `openssl ca -gencrl`, for the same revoked entries and the same key type
 * (P-256), timed in the same run.
 *
 * usage: crl_bench N DIR [--no-openssl]
 *
 * The entries are generated on the fly by a seeded PRNG inside the iterator
 * (random 16-octet serials, mixed reasons, some invalidity dates), so the
 * benchmark holds no list of its own and the peak RSS is that of the CRL
 * code. The same sequence is written to DIR/index.txt as "R" lines for
 * openssl. Prints one line:
 *   entries=N certmint_s=S build_s=S write_s=S openssl_s=S rss_mb=M base_rss_mb=M
 *   crl_mb=M openssl_rss_mb=M
 * (openssl_s=-1 with --no-openssl). Timings come from CLOCK_MONOTONIC;
 * peak RSS from getrusage (ru_maxrss: self, and the openssl child). */
#include "crl/crl.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct gen {
    uint64_t seed;
    size_t n;
    int64_t now;
};

/* splitmix64: fast and reproducible from the seed (not for keys). */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Reasons openssl ca can also express without adding other extensions. */
static const int reasons[] = {DB_REASON_UNSPECIFIED,         DB_REASON_KEY_COMPROMISE,
                              DB_REASON_AFFILIATION_CHANGED, DB_REASON_SUPERSEDED,
                              DB_REASON_CESSATION,           DB_REASON_SUPERSEDED};
static const char *const reason_names[] = {
    NULL,         "keyCompromise",        "affiliationChanged",
    "superseded", "cessationOfOperation", "superseded"};

struct entry {
    char serial[CM_SERIAL_BUF];
    int reason;
    int64_t when, invalidity;
};

static void make_entry(struct entry *e, uint64_t *s, int64_t now)
{
    unsigned char b[16];
    uint64_t a = next_u64(s), c = next_u64(s), r = next_u64(s);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(a >> (8 * i));
        b[8 + i] = (unsigned char)(c >> (8 * i));
    }
    b[0] |= 0x01; /* never all zero */
    if (text_serial_from_bytes(e->serial, b, sizeof(b)) != CM_OK)
        abort();
    e->reason = reasons[r % 6];
    e->when = now - 86400 * 365 + (int64_t)((r >> 8) % (86400 * 365));
    e->invalidity = e->reason == DB_REASON_KEY_COMPROMISE ? e->when - 86400 : 0;
}

static cm_err gen_iter(void *ctx, db_revoked_cb cb, void *cb_ctx)
{
    struct gen *g = ctx;
    uint64_t s = g->seed;
    struct entry e;
    struct db_revoked r;
    cm_err rc;

    for (size_t i = 0; i < g->n; i++) {
        make_entry(&e, &s, g->now);
        r.serial = e.serial;
        r.reason = e.reason;
        r.revoked_effective_when = e.when;
        r.invalidity_date = e.invalidity;
        if ((rc = cb(cb_ctx, &r)) != CM_OK)
            return rc;
    }
    return CM_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double maxrss_mb(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static void die(const char *what)
{
    fprintf(stderr, "crl_bench: %s: %s\n", what, cm_err_msg());
    exit(1);
}

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    static const struct {
        int nid;
        const char *v;
    } exts[] = {{NID_basic_constraints, "critical,CA:TRUE"},
                {NID_key_usage, "critical,keyCertSign,cRLSign"},
                {NID_subject_key_identifier, "hash"}};

    if (!x || !n || !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"certmint bench CA", -1, -1, 0) ||
        !X509_set_subject_name(x, n) || !X509_set_issuer_name(x, n) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650) || !X509_set_pubkey(x, key))
        return NULL;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        e = X509V3_EXT_nconf_nid(NULL, &ctx, exts[i].nid, exts[i].v);
        if (e == NULL || !X509_add_ext(x, e, -1))
            return NULL;
        X509_EXTENSION_free(e);
    }
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        return NULL;
    X509_NAME_free(n);
    return x;
}

static void fmt_utc(char *out, size_t sz, int64_t t, int generalized)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    /* UTCTime's two-digit year (1950-2049) where openssl expects it. */
    char full[32];
    strftime(full, sizeof(full), "%Y%m%d%H%M%SZ", &tm);
    snprintf(out, sz, "%s", generalized ? full : full + 2);
}

/* index.txt, openssl.cnf, the key and certificate for openssl ca. */
static void write_openssl_inputs(const char *dir, const struct gen *g, EVP_PKEY *key, X509 *ca)
{
    char path[4096], exp[32], rev[32], inv[32];
    FILE *f;
    uint64_t s = g->seed;
    struct entry e;
    BIO *b;

    snprintf(path, sizeof(path), "%s/index.txt", dir);
    f = fopen(path, "w");
    if (f == NULL)
        die("index.txt");
    fmt_utc(exp, sizeof(exp), g->now + 86400 * 365, 0);
    for (size_t i = 0; i < g->n; i++) {
        make_entry(&e, &s, g->now);
        fmt_utc(rev, sizeof(rev), e.when, 0);
        fprintf(f, "R\t%s\t%s", exp, rev);
        if (e.reason != DB_REASON_UNSPECIFIED) {
            size_t k;
            for (k = 0; reasons[k] != e.reason; k++)
                ;
            fprintf(f, ",%s", reason_names[k]);
            /* openssl ca: keyCompromise's third field is the compromise
             * time, written as invalidityDate. */
            if (e.invalidity) {
                fmt_utc(inv, sizeof(inv), e.invalidity, 1);
                fprintf(f, ",%s", inv);
            }
        }
        fprintf(f, "\t%s\tunknown\t/CN=cert %zu\n", e.serial, i);
    }
    if (fclose(f) != 0)
        die("index.txt");
    snprintf(path, sizeof(path), "%s/index.txt.attr", dir);
    f = fopen(path, "w");
    fputs("unique_subject = no\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/crlnumber", dir);
    f = fopen(path, "w");
    fputs("01\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/openssl.cnf", dir);
    f = fopen(path, "w");
    fprintf(f,
            "[ca]\ndefault_ca = CA_default\n[CA_default]\ndir = %s\n"
            "database = $dir/index.txt\ncertificate = $dir/ca.pem\n"
            "private_key = $dir/ca.key\ncrlnumber = $dir/crlnumber\n"
            "default_md = sha256\ndefault_crl_days = 7\ncrl_extensions = crl_ext\n"
            "unique_subject = no\n[crl_ext]\nauthorityKeyIdentifier = keyid:always\n",
            dir);
    fclose(f);
    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    b = BIO_new_file(path, "w");
    if (!b || !PEM_write_bio_X509(b, ca))
        die("ca.pem");
    BIO_free(b);
    /* A throwaway benchmark key, unencrypted so that openssl ca needs no
     * passphrase; it signs nothing but these two CRLs. */
    snprintf(path, sizeof(path), "%s/ca.key", dir);
    b = BIO_new_file(path, "w");
    if (!b || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
        die("ca.key");
    BIO_free(b);
}

static double run_openssl(const char *dir, double *rss_mb)
{
    char cnf[4096], out[4096];
    double t0, t1;
    pid_t pid;
    int st;

    snprintf(cnf, sizeof(cnf), "%s/openssl.cnf", dir);
    snprintf(out, sizeof(out), "%s/openssl.crl.pem", dir);
    t0 = now_s();
    pid = fork();
    if (pid == 0) {
        /* openssl's chatter ("Using configuration from") is not ours. */
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(127);
        execlp("openssl", "openssl", "ca", "-config", cnf, "-gencrl", "-out", out, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "crl_bench: openssl ca -gencrl failed\n");
        exit(1);
    }
    t1 = now_s();
    *rss_mb = maxrss_mb(RUSAGE_CHILDREN);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    long long n;
    const char *dir;
    int with_openssl;
    EVP_PKEY *key;
    cm_key *signer = NULL;
    X509 *ca;
    struct gen g;
    struct crl_params p;
    struct crl_output o = CRL_OUTPUT_INIT;
    unsigned char *issuer = NULL;
    int issuer_len;
    const ASN1_OCTET_STRING *ski;
    char der[4096], pem[4096];
    double t0, t1, t2, base_rss, rss, ossl_s = -1, ossl_rss = 0;
    size_t der_len;

    if (argc < 3 || text_parse_int(&n, argv[1], 0, 100000000, "entries") != CM_OK) {
        fprintf(stderr, "usage: crl_bench N DIR [--no-openssl]\n");
        return 2;
    }
    dir = argv[2];
    with_openssl = !(argc > 3 && strcmp(argv[3], "--no-openssl") == 0);
    if (fs_mkdirs(dir, 0700) != CM_OK)
        die(dir);
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ca = key ? self_signed(key) : NULL;
    if (ca == NULL) {
        fprintf(stderr, "crl_bench: cannot make the CA\n");
        return 1;
    }
    /* crl_build signs through the key layer, as crl_publish does with the
     * CA's key (the file backend around the key in memory). */
    if (key_from_pkey(&signer, key) != CM_OK)
        die("key");
    issuer_len = i2d_X509_NAME(X509_get_subject_name(ca), &issuer);
    ski = X509_get0_subject_key_id(ca);
    memset(&g, 0, sizeof(g));
    if (RAND_bytes((unsigned char *)&g.seed, sizeof(g.seed)) != 1)
        return 1;
    g.n = (size_t)n;
    g.now = (int64_t)time(NULL);

    memset(&p, 0, sizeof(p));
    p.issuer_der = issuer;
    p.issuer_len = (size_t)issuer_len;
    p.aki_keyid = ASN1_STRING_get0_data(ski);
    p.aki_keyid_len = (size_t)ASN1_STRING_length(ski);
    p.key = signer;
    p.number = 1;
    p.this_update = g.now;
    p.next_update = g.now + 7 * 86400;
    snprintf(der, sizeof(der), "%s/certmint.crl", dir);
    snprintf(pem, sizeof(pem), "%s/certmint.crl.pem", dir);

    base_rss = maxrss_mb(RUSAGE_SELF);
    t0 = now_s();
    if (crl_build(&o, &p, gen_iter, &g) != CM_OK)
        die("crl_build");
    t1 = now_s();
    der_len = o.der_len;
    if (crl_output_write(&o, der, pem, 0644) != CM_OK)
        die("crl_output_write");
    t2 = now_s();
    rss = maxrss_mb(RUSAGE_SELF);
    crl_output_free(&o);

    if (with_openssl) {
        write_openssl_inputs(dir, &g, key, ca);
        ossl_s = run_openssl(dir, &ossl_rss);
    }
    printf("entries=%lld certmint_s=%.3f build_s=%.3f write_s=%.3f openssl_s=%.3f rss_mb=%.1f "
           "base_rss_mb=%.1f crl_mb=%.1f openssl_rss_mb=%.1f\n",
           n, t2 - t0, t1 - t0, t2 - t1, ossl_s, rss, base_rss, (double)der_len / 1048576.0,
           ossl_rss);
    OPENSSL_free(issuer);
    X509_free(ca);
    key_close(signer);
    EVP_PKEY_free(key);
    return 0;
}
