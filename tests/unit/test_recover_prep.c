/* The worker threads of recover-orphans (src/recover/recover_prep.h): a
 * scratch file of jobs larger than the window (this CA's certificates,
 * forgeries under the same issuer name, garbage, trailing bytes, empty
 * jobs) is decoded and checked with 1, 2 and 7 workers (a certificate that
 * verifies also encoded and described for import); every result must
 * come back in job order and be the same whatever the number of workers,
 * also when the reader skips jobs or stops early. Built with ThreadSanitizer
 * by `make tsan`. */
#include "recover/recover_prep.h"

#include "unit.h"
#include "util/text.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define NJOBS (2 * PREP_WINDOW + 300)

enum kind { K_GOOD, K_FORGED, K_GARBAGE, K_EMPTY, K_TRAILING, K__COUNT };

struct jobs {
    int64_t off[NJOBS];
    uint32_t len[NJOBS];
};

static EVP_PKEY *ca_key, *evil_key;
static X509 *ca_cert;

static X509 *make_cert(const char *cn, long serial, const char *issuer_cn, EVP_PKEY *pub,
                       EVP_PKEY *signer)
{
    X509 *x = X509_new();
    X509_NAME *s = X509_NAME_new(), *i = X509_NAME_new();
    int ok =
        x && s && i && X509_set_version(x, X509_VERSION_3) &&
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
        X509_NAME_add_entry_by_txt(s, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) &&
        X509_NAME_add_entry_by_txt(i, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn, -1, -1,
                                   0) &&
        X509_set_subject_name(x, s) && X509_set_issuer_name(x, i) &&
        X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
        X509_gmtime_adj(X509_getm_notAfter(x), 86400) && X509_set_pubkey(x, pub) &&
        X509_sign(x, signer, EVP_sha256()) > 0;
    X509_NAME_free(s);
    X509_NAME_free(i);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static void job_of(void *ctx, size_t i, int64_t *off, uint32_t *len)
{
    const struct jobs *j = ctx;
    *off = j->off[i];
    *len = j->len[i];
}

/* Writes the jobs to an unlinked temporary file; returns its descriptor. */
static int write_jobs(struct jobs *j)
{
    char path[] = "/tmp/cm-test-prep.XXXXXX";
    int fd = mkstemp(path);
    FILE *f;
    int64_t pos = 0;
    X509 *leaf = NULL;

    if (fd < 0)
        return -1;
    unlink(path);
    f = fdopen(dup(fd), "w");
    for (size_t i = 0; f && i < NJOBS; i++) {
        unsigned char *der = NULL;
        int len = 0;
        char cn[32];
        snprintf(cn, sizeof(cn), "leaf %zu", i);
        switch (i % K__COUNT) {
        case K_GOOD:
        case K_TRAILING:
            leaf = make_cert(cn, (long)i + 1, "prep test CA", ca_key, ca_key);
            break;
        case K_FORGED:
            leaf = make_cert(cn, (long)i + 1, "prep test CA", evil_key, evil_key);
            break;
        default:
            leaf = NULL;
        }
        if (leaf)
            len = i2d_X509(leaf, &der);
        X509_free(leaf);
        if (i % K__COUNT == K_GARBAGE) {
            der = OPENSSL_malloc(64);
            memset(der, 0x30, 64);
            len = 64;
        }
        j->off[i] = pos;
        j->len[i] = (uint32_t)(len > 0 ? len : 0) + (i % K__COUNT == K_TRAILING);
        if (len > 0)
            fwrite(der, (size_t)len, 1, f);
        if (i % K__COUNT == K_TRAILING)
            fputc(0, f);
        pos += j->len[i];
        OPENSSL_free(der);
    }
    if (f == NULL || fclose(f) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A certificate the workers made ready for import: its DER is the job's
 * bytes, its description that of this certificate (serial, subject, the
 * SHA-1 thumbprint of those bytes). 0 when it is. */
static int ready_differs(int fd, const struct jobs *j, size_t i, const struct prep_out *r)
{
    unsigned char der[4096], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hash[2 * EVP_MAX_MD_SIZE + 1], cn[40], serial[CM_SERIAL_BUF];
    unsigned char sn[8];
    size_t nsn = 0;

    if (!r->ready_ok || r->x != NULL || j->len[i] > sizeof(der) ||
        pread(fd, der, j->len[i], j->off[i]) != (ssize_t)j->len[i])
        return 1;
    if (r->ready.der_len != j->len[i] || memcmp(r->ready.der, der, j->len[i]) != 0 ||
        r->ready.c.raw != r->ready.der || !EVP_Digest(der, j->len[i], md, &mdlen, EVP_sha1(), NULL))
        return 1;
    text_hex(hash, md, mdlen);
    for (size_t v = i + 1; v > 0; v >>= 8)
        nsn++;
    for (size_t k = 0, v = i + 1; k < nsn; k++, v >>= 8)
        sn[nsn - 1 - k] = (unsigned char)(v & 0xff);
    if (text_serial_from_bytes(serial, sn, nsn) != CM_OK)
        return 1;
    snprintf(cn, sizeof(cn), "leaf %zu", i);
    return r->ready.c.hash == NULL || strcasecmp(r->ready.c.hash, hash) != 0 ||
           strcmp(r->ready.c.serial, serial) != 0 || r->ready.c.cn == NULL ||
           strcmp(r->ready.c.cn, cn) != 0 || r->ready.c.not_after <= r->ready.c.not_before ||
           r->ready.guessed_profile != NULL; /* no extended key usage */
}

/* Takes every `step`-th job, up to `upto`, and checks each result. */
static void run_workers(int fd, struct jobs *j, int workers, size_t step, size_t upto)
{
    struct prep *p = NULL;
    size_t bad = 0;

    CHECK_OK(prep_start(&p, fd, NJOBS, job_of, j, ca_cert, workers));
    if (p == NULL)
        return;
    for (size_t i = 0; i < upto; i += step) {
        struct prep_out r;
        int want_parsed, want_verified;
        prep_take(p, i, &r);
        switch (i % K__COUNT) {
        case K_GOOD:
            want_parsed = 1, want_verified = 1;
            break;
        case K_FORGED:
            want_parsed = 1, want_verified = 0;
            break;
        case K_EMPTY:
            want_parsed = -1, want_verified = 0;
            break;
        default:
            want_parsed = 0, want_verified = 0;
        }
        /* A certificate that verifies comes made ready (its X509 freed);
         * any other that parses comes decoded. */
        if (r.parsed != want_parsed || r.verified != want_verified || r.ready_ok != want_verified ||
            (want_parsed == 1 && !want_verified) != (r.x != NULL) ||
            (r.x && ASN1_INTEGER_get(X509_get0_serialNumber(r.x)) != (long)i + 1) ||
            (want_verified && ready_differs(fd, j, i, &r))) {
            if (bad++ < 5)
                UNIT_FAIL("%d workers, job %zu: parsed %d verified %d ready %d x %p", workers, i,
                          r.parsed, r.verified, r.ready_ok, (void *)r.x);
        }
        prep_out_clear(&r);
    }
    prep_stop(p);
}

TEST(results_in_order_whatever_the_workers)
{
    static struct jobs j;
    int fd;

    ca_key = EVP_EC_gen("P-256");
    evil_key = EVP_EC_gen("P-256");
    ca_cert = ca_key ? make_cert("prep test CA", 1, "prep test CA", ca_key, ca_key) : NULL;
    CHECK(ca_cert != NULL && evil_key != NULL);
    if (ca_cert == NULL || evil_key == NULL)
        return;
    fd = write_jobs(&j);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    int counts[] = {1, 2, 7};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        run_workers(fd, &j, counts[k], 1, NJOBS); /* all, in order */
        run_workers(fd, &j, counts[k], 3, NJOBS); /* skipping: dropped */
        run_workers(fd, &j, counts[k], 1, 10);    /* stopped early */
    }
    close(fd);
}

TEST(bad_worker_counts)
{
    struct prep *p = NULL;
    CHECK_ERR(prep_start(&p, -1, 0, job_of, NULL, ca_cert, 0), CM_ERR_INVALID);
    CHECK_ERR(prep_start(&p, -1, 0, job_of, NULL, ca_cert, PREP_MAX_WORKERS + 1), CM_ERR_INVALID);
    CHECK(p == NULL);
    CHECK(prep_default_workers() >= 1);
}

int main(void)
{
    unit_suite = "recover_prep";
    RUN(results_in_order_whatever_the_workers);
    RUN(bad_worker_counts);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(evil_key);
    return UNIT_DONE();
}
