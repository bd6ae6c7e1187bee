/* Benchmark of the mail audit trail scanner (src/recover/mailscan.h).
 *
 *   mailscan_bench gen-mbox FILE N      writes N notification mails to an mbox
 *   mailscan_bench gen-maildir DIR N    writes them as Maildir files (new/)
 *   mailscan_bench scan-mbox FILE       scans, prints one result line
 *   mailscan_bench scan-maildir DIR
 *
 * Each mail carries one event; three in four are CERTISSUED with a DER
 * certificate attached (a handful of real certificates, made here, reused),
 * the others CERTREVOKED. Generation and scanning run as separate processes
 * so that the peak RSS reported (getrusage) is the scanner's alone. The
 * output files are scratch data, written with stdio, not published files. */
#include "mailgen.h"
#include "recover/mailscan.h"
#include "util/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#define KEYID "3f1c2a9be4d05f6a7b8c9d0e1f2a3b4c5d6e7f80"
#define NCERTS 5

struct counts {
    size_t events, with_cert;
    unsigned long long serial_sum;
};

static cm_err on_event(void *ctx, const struct mail_event *ev)
{
    struct counts *c = ctx;
    c->events++;
    if (ev->cert_der)
        c->with_cert++;
    c->serial_sum += (unsigned char)ev->serial[0];
    return CM_OK;
}

static void on_warn(void *ctx, const char *source, const char *why)
{
    (void)ctx;
    fprintf(stderr, "warning: %s: %s\n", source, why);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int generate(const char *out, long n, int maildir)
{
    EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *certs[NCERTS] = {NULL};
    X509_NAME *caname = X509_NAME_new();
    cm_buf msg = CM_BUF_INIT(MG_MAX), box = CM_BUF_INIT(MG_MAX);
    FILE *f = NULL;
    char path[PATH_MAX], serial[64], subject[64];
    int ret = 1;

    if (!cakey || !key || !caname ||
        !X509_NAME_add_entry_by_txt(caname, "CN", MBSTRING_ASC, (const unsigned char *)"bench CA",
                                    -1, -1, 0))
        goto out;
    ca = mg_cert(cakey, NULL, cakey, "01", "bench CA", "Example", 1700000000, 2000000000);
    for (int i = 0; i < NCERTS && ca; i++) {
        snprintf(serial, sizeof(serial), "%02X5A3F09C2D1E4B7A8%02X", 0x10 + i, i);
        snprintf(subject, sizeof(subject), "user%d", i);
        certs[i] = mg_cert(cakey, X509_get_subject_name(ca), key, serial, subject, "Example",
                           1700000000, 1800000000);
        if (certs[i] == NULL)
            goto out;
    }
    if (ca == NULL)
        goto out;
    if (maildir) {
        char d[PATH_MAX];
        const char *subs[] = {"cur", "new", "tmp"};
        for (int k = 0; k < 3; k++) {
            snprintf(d, sizeof(d), "%s/%s", out, subs[k]);
            if (fs_mkdirs(d, 0700) != CM_OK)
                goto out;
        }
    } else if ((f = fopen(out, "w")) == NULL) {
        perror(out);
        goto out;
    }
    for (long i = 0; i < n; i++) {
        struct mg_event ev = {0};
        struct mg_mail m = {0};
        X509 *c = certs[i % NCERTS];
        char when[32];
        time_t t = (time_t)(1700000000 + i);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        ev.id = i + 1;
        ev.when = when;
        ev.request_id = i + 1;
        ev.profile = "tls-client";
        if (i % 4 == 3) {
            mg_cert_serial(serial, c);
            ev.event = "CERTREVOKED";
            ev.serial = serial;
            ev.reason = "keyCompromise";
            ev.effective = when;
        } else {
            ev.event = "CERTISSUED";
            ev.cert = c;
            ev.subject = "CN=user,O=Example";
            ev.not_before = when;
            ev.not_after = "2027-01-01T00:00:00Z";
        }
        m.keyid = KEYID;
        m.ca_dn = "CN=bench CA,O=Example";
        m.subject = i % 4 == 3 ? "Certificate revoked" : "Certificate issued";
        m.date = "Tue, 14 Nov 2023 22:13:20 +0000";
        m.body = "A certificate event.\nSee the attachment.\n";
        m.ev = &ev;
        m.n = 1;
        if (mg_mail(&msg, &m) != CM_OK)
            goto out;
        if (maildir) {
            snprintf(path, sizeof(path), "%s/new/%010ld.M%ldP1.bench", out, 1700000000 + i, i);
            FILE *mf = fopen(path, "w");
            if (mf == NULL || fwrite(msg.data, 1, msg.len, mf) != msg.len || fclose(mf) != 0) {
                perror(path);
                goto out;
            }
        } else {
            buf_reset(&box);
            if (mg_mbox_append(&box, msg.data, msg.len) != CM_OK ||
                fwrite(box.data, 1, box.len, f) != box.len) {
                perror(out);
                goto out;
            }
        }
    }
    if (f) {
        if (fclose(f) != 0) {
            f = NULL;
            perror(out);
            goto out;
        }
        f = NULL;
    }
    ret = 0;
out:
    if (ret)
        fprintf(stderr, "generation failed: %s\n", cm_err_msg());
    if (f)
        fclose(f);
    buf_free(&msg);
    buf_free(&box);
    for (int i = 0; i < NCERTS; i++)
        X509_free(certs[i]);
    X509_free(ca);
    X509_NAME_free(caname);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    return ret;
}

static int scan(const char *in, int maildir)
{
    struct mailscan_stats st = {0};
    struct counts c = {0};
    struct rusage ru;
    double t0 = now_s(), dt;
    cm_err rc;

    rc = maildir ? mailscan_maildir(in, KEYID, on_event, on_warn, &c, &st)
                 : mailscan_mbox(in, KEYID, on_event, on_warn, &c, &st);
    dt = now_s() - t0;
    if (rc != CM_OK) {
        fprintf(stderr, "scan failed: %s\n", cm_err_msg());
        return 1;
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("%s messages=%zu events=%zu with_cert=%zu malformed=%zu foreign=%zu seconds=%.2f "
           "msgs_per_s=%.0f peak_rss_kib=%ld\n",
           maildir ? "maildir" : "mbox", st.messages, st.events, c.with_cert, st.malformed,
           st.foreign_messages, dt, dt > 0 ? (double)st.messages / dt : 0.0, ru.ru_maxrss);
    return st.malformed == 0 && st.events == st.messages ? 0 : 1;
}

int main(int argc, char **argv)
{
    long long n = 0;

    if (argc == 4 && (strcmp(argv[1], "gen-mbox") == 0 || strcmp(argv[1], "gen-maildir") == 0)) {
        if (text_parse_int(&n, argv[3], 1, 10000000, "message count") != CM_OK) {
            fprintf(stderr, "%s\n", cm_err_msg());
            return 2;
        }
        return generate(argv[2], (long)n, strcmp(argv[1], "gen-maildir") == 0);
    }
    if (argc == 3 && strcmp(argv[1], "scan-mbox") == 0)
        return scan(argv[2], 0);
    if (argc == 3 && strcmp(argv[1], "scan-maildir") == 0)
        return scan(argv[2], 1);
    fprintf(stderr, "usage: mailscan_bench gen-mbox FILE N | gen-maildir DIR N | "
                    "scan-mbox FILE | scan-maildir DIR\n");
    return 2;
}
