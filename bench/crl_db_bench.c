/* The whole `certmint crl` path over a populated database: crl_publish()
 * (SQLite iteration, encoding, lint, signature, crls row, audit, event,
 * commit, DER and PEM files) for N revoked certificates.
 *
 * usage: crl_db_bench N DIR     populate DIR/certmint.db with N revoked certificates
 *        crl_db_bench 0 DIR     publish a full CRL from it (time and peak RSS)
 *
 * The two steps run as separate processes so that the peak RSS is that of
 * the publication alone. The publish step prints one line:
 *   entries=N publish_s=S rss_mb=M base_rss_mb=M crl_mb=M */
#include "crl/crl.h"
#include "ca/ca_int.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static void die(const char *what)
{
    fprintf(stderr, "crl_db_bench: %s: %s\n", what, cm_err_msg());
    exit(1);
}

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    if (!x || !n || !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"certmint bench CA", -1, -1, 0) ||
        !X509_set_subject_name(x, n) || !X509_set_issuer_name(x, n) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650) || !X509_set_pubkey(x, key))
        return NULL;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    if (e == NULL || !X509_add_ext(x, e, -1) || X509_sign(x, key, EVP_sha256()) <= 0)
        return NULL;
    X509_EXTENSION_free(e);
    X509_NAME_free(n);
    return x;
}

int main(int argc, char **argv)
{
    static const int reasons[] = {0, 1, 3, 4, 5, 9};
    long long n;
    ca_ctx ca;
    const ASN1_OCTET_STRING *ski;
    struct crl_result r;
    double t0, t1, t2, base;
    int64_t now = (int64_t)time(NULL), seq;

    if (argc != 3 || text_parse_int(&n, argv[1], 0, 100000000, "entries") != CM_OK) {
        fprintf(stderr, "usage: crl_db_bench N DIR\n");
        return 2;
    }
    memset(&ca, 0, sizeof(ca));
    snprintf(ca.home, sizeof(ca.home), "%s", argv[2]);
    if (fs_mkdirs(ca.home, 0700) != CM_OK || config_new(&ca.cfg) != CM_OK ||
        db_open_home(&ca.db, ca.home, n > 0) != CM_OK)
        die("setup");
    ca.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ca.cert = ca.key ? self_signed(ca.key) : NULL;
    /* crl_publish signs with ca.signer, as after ca_load_key (which sets
     * both it and ca.key, its public half); the signer holds its own
     * reference to the key. */
    if (ca.cert == NULL || key_from_pkey(&ca.signer, ca.key) != CM_OK)
        die("CA");
    ski = X509_get0_subject_key_id(ca.cert);
    ca.ski_len = (size_t)ASN1_STRING_length(ski);
    memcpy(ca.ski, ASN1_STRING_get0_data(ski), ca.ski_len);
    ca.operator_name = "bench";

    t0 = now_s();
    for (long long i = 0; i < n; i++) {
        struct db_request rq;
        struct db_cert c;
        unsigned char b[16];
        int reason;
        if (i % 50000 == 0 && db_begin(ca.db) != CM_OK)
            die("begin");
        memset(&rq, 0, sizeof(rq));
        memset(&c, 0, sizeof(c));
        rq.submitted_when = rq.resolved_when = now;
        rq.disposition = DB_DISP_FOREIGN;
        if (db_request_insert(ca.db, &rq) != CM_OK)
            die("request");
        if (RAND_bytes(b, sizeof(b)) != 1)
            return 1;
        b[0] |= 1;
        if (text_serial_from_bytes(c.serial, b, sizeof(b)) != CM_OK)
            die("serial");
        c.request_id = rq.request_id;
        c.origin = DB_ORIGIN_PLACEHOLDER;
        c.not_after = now + 86400 * 365;
        c.revoked_reason = DB_REASON_NONE;
        reason = reasons[i % 6];
        if (db_cert_insert(ca.db, &c) != CM_OK ||
            db_counter_next(ca.db, &seq, "rev_seq") != CM_OK ||
            db_cert_revoke(ca.db, c.serial, reason, now - (i % 86400), now - (i % 86400),
                           reason == 1 ? now - 86400 * 2 : 0, seq) != CM_OK)
            die("revoke");
        if ((i % 50000 == 49999 || i == n - 1) && db_commit(ca.db) != CM_OK)
            die("commit");
    }
    t1 = now_s();
    if (n > 0) {
        printf("populated %lld revoked certificates in %.1f s\n", n, t1 - t0);
    } else {
        base = maxrss_mb();
        if (crl_publish(&r, &ca, 0) != CM_OK)
            die("crl_publish");
        t2 = now_s();
        printf("entries=%lld publish_s=%.3f rss_mb=%.1f base_rss_mb=%.1f crl_mb=%.1f\n",
               (long long)r.entries, t2 - t1, maxrss_mb(), base, (double)r.der_size / 1048576.0);
    }
    db_close(ca.db);
    config_free(ca.cfg);
    X509_free(ca.cert);
    key_close(ca.signer);
    EVP_PKEY_free(ca.key);
    return 0;
}
