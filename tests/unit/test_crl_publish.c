/* crl_publish over a real SQLite database and configuration: numbering,
 * full and delta CRLs, removeFromCRL after a released hold, the files
 * written, the crls row, the CRLISSUED event, rollback on refusal. The CA
 * context is filled by hand (no CA home needed); the published CRLs are
 * checked with OpenSSL's parser and the openssl command. */
#include "crl/crl.h"
#include "ca/ca_int.h"
#include "exit/exit.h"
#include "fixture_ca.h"
#include "unit.h"
#include "util/fsutil.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <time.h>
#include <unistd.h>

static char home[256];

static cm_err add_cert(ca_ctx *ca, const char *serial)
{
    cm_err rc = CM_OK;
    struct db_request rq;
    struct db_cert c;

    memset(&rq, 0, sizeof(rq));
    memset(&c, 0, sizeof(c));
    rq.submitted_when = rq.resolved_when = (int64_t)time(NULL);
    rq.disposition = DB_DISP_FOREIGN;
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_request_insert(ca->db, &rq));
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    c.request_id = rq.request_id;
    c.origin = DB_ORIGIN_PLACEHOLDER;
    c.not_after = (int64_t)time(NULL) + 86400 * 30;
    c.revoked_reason = DB_REASON_NONE;
    CM_TRY(db_cert_insert(ca->db, &c));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

/* What ca_revoke does with the database: a new revocation sequence value. */
static cm_err test_revoke(ca_ctx *ca, const char *serial, int reason, int64_t invalidity)
{
    cm_err rc = CM_OK;
    int64_t seq, now = (int64_t)time(NULL);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_counter_next(ca->db, &seq, "rev_seq"));
    CM_TRY(db_cert_revoke(ca->db, serial, reason, now, now - 60, invalidity, seq));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

static cm_err test_release(ca_ctx *ca, const char *serial)
{
    cm_err rc = CM_OK;
    int64_t seq;
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_counter_next(ca->db, &seq, "rev_seq"));
    CM_TRY(db_cert_unrevoke(ca->db, serial, (int64_t)time(NULL), seq));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

static X509_CRL *load_crl(const char *path)
{
    unsigned char *d = NULL;
    size_t n = 0;
    const unsigned char *p;
    X509_CRL *crl = NULL;
    if (fs_read_file(&d, &n, path, 1 << 24) != CM_OK)
        return NULL;
    p = d;
    crl = d2i_X509_CRL(NULL, &p, (long)n);
    free(d);
    return crl;
}

/* 1 when serial is listed, 2 when listed as removeFromCRL, 0 when not. */
static int crl_has(X509_CRL *crl, const char *hex)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    X509_REVOKED *rev = NULL;
    int r = 0;
    if (BN_hex2bn(&bn, hex) > 0 && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL)
        r = X509_CRL_get0_by_serial(crl, &rev, ai);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return r;
}

static long crl_number(X509_CRL *crl, int nid)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, nid, NULL, NULL);
    long v = n ? ASN1_INTEGER_get(n) : -1;
    ASN1_INTEGER_free(n);
    return v;
}

struct ev_seen {
    int n;
    char last[512];
};

static cm_err ev_cb(void *ctx, const struct db_event *ev)
{
    struct ev_seen *s = ctx;
    s->n++;
    snprintf(s->last, sizeof(s->last), "%s", ev->payload ? ev->payload : "");
    return CM_OK;
}

static int crl_events(ca_ctx *ca, char *last, size_t lastsz)
{
    struct ev_seen s = {0, ""};
    if (db_event_iter(ca->db, 0, EXIT_EV_CRLISSUED, 1000, ev_cb, &s) != CM_OK)
        return -1;
    if (last)
        snprintf(last, lastsz, "%s", s.last);
    return s.n;
}

TEST(full_then_delta)
{
    char dir[300], path[600], ev[512];
    ca_ctx *ca;
    struct crl_result r;
    struct db_crl *row = NULL;
    X509_CRL *crl = NULL;

    snprintf(dir, sizeof(dir), "%s/ca1", home);
    ca = open_test_ca(dir);
    if (ca == NULL || ca->db == NULL || ca->cert == NULL) {
        UNIT_FAIL("cannot set up the CA: %s", cm_err_msg());
        close_test_ca(ca);
        return;
    }
    CHECK_OK(config_set(ca->cfg, "crl.delta_cdp_url", "http://crl.example.test/delta.crl"));
    /* A delta needs a full CRL first. */
    CHECK_ERR(crl_publish(&r, ca, 1), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "full CRL") != NULL);

    CHECK_OK(add_cert(ca, "0A01"));
    CHECK_OK(add_cert(ca, "0A02"));
    CHECK_OK(add_cert(ca, "0A03"));
    CHECK_OK(add_cert(ca, "0A04"));
    CHECK_OK(add_cert(ca, "0A05"));
    CHECK_OK(test_revoke(ca, "0A01", DB_REASON_KEY_COMPROMISE, 1700000000));
    CHECK_OK(test_revoke(ca, "0A02", DB_REASON_UNSPECIFIED, 0));
    CHECK_OK(test_revoke(ca, "0A03", DB_REASON_HOLD, 0));

    /* Full CRL 1. */
    CHECK_OK(crl_publish(&r, ca, 0));
    CHECK_INT(r.number, 1);
    CHECK_INT(r.is_delta, 0);
    CHECK_INT(r.entries, 3);
    CHECK(r.next_update - r.this_update == 7 * 86400); /* crl.period default 7d */
    snprintf(path, sizeof(path), "%s/crl/ca.crl", dir);
    CHECK_STR(r.der_path, path);
    crl = load_crl(path);
    CHECK(crl != NULL && X509_CRL_verify(crl, ca->key) == 1);
    if (crl) {
        CHECK_INT(crl_number(crl, NID_crl_number), 1);
        CHECK(crl_has(crl, "0A01") == 1 && crl_has(crl, "0A02") == 1 && crl_has(crl, "0A03") == 1 &&
              crl_has(crl, "0A04") == 0);
        CHECK(X509_CRL_get_ext_by_NID(crl, NID_freshest_crl, -1) >= 0);
    }
    X509_CRL_free(crl);
    crl = NULL;
    CHECK_OK(db_crl_last(ca->db, &row, 0));
    CHECK(row != NULL && row->number == 1 && row->entries == 3 && row->rev_seq == 3 &&
          row->hash != NULL && strcmp(row->hash, r.sha256_hex) == 0);
    db_crl_free(row);
    row = NULL;
    CHECK_INT(crl_events(ca, ev, sizeof(ev)), 1);
    CHECK(strstr(ev, "\"crl_number\":1") != NULL && strstr(ev, "\"delta\":false") != NULL);
    /* The PEM copy, checked by the openssl command. */
    snprintf(path, sizeof(path),
             "openssl crl -in %s/crl/ca.crl.pem -noout -text | grep -q 'X509v3 CRL Number'", dir);
    CHECK(system(path) == 0);

    /* Changes after the full CRL: a new revocation, the hold released. */
    CHECK_OK(test_revoke(ca, "0A04", DB_REASON_SUPERSEDED, 0));
    CHECK_OK(test_release(ca, "0A03"));
    CHECK_OK(crl_publish(&r, ca, 1));
    CHECK_INT(r.number, 2);
    CHECK_INT(r.is_delta, 1);
    CHECK_INT(r.base_number, 1);
    CHECK_INT(r.entries, 2);
    CHECK(r.next_update - r.this_update == 86400); /* crl.delta_period default 1d */
    snprintf(path, sizeof(path), "%s/crl/delta.crl", dir);
    CHECK_STR(r.der_path, path);
    crl = load_crl(path);
    CHECK(crl != NULL && X509_CRL_verify(crl, ca->key) == 1);
    if (crl) {
        CHECK_INT(crl_number(crl, NID_crl_number), 2);
        CHECK_INT(crl_number(crl, NID_delta_crl), 1);
        CHECK(crl_has(crl, "0A04") == 1);
        CHECK(crl_has(crl, "0A03") == 2); /* removeFromCRL */
        CHECK(crl_has(crl, "0A01") == 0);
    }
    X509_CRL_free(crl);
    crl = NULL;
    CHECK_INT(crl_events(ca, ev, sizeof(ev)), 2);
    CHECK(strstr(ev, "\"delta\":true") != NULL && strstr(ev, "\"base_crl_number\":1") != NULL);

    /* The next full CRL: numbers keep rising across both kinds, the
     * released certificate is gone. */
    CHECK_OK(crl_publish(&r, ca, 0));
    CHECK_INT(r.number, 3);
    CHECK_INT(r.entries, 3);
    crl = load_crl(r.der_path);
    CHECK(crl != NULL && crl_has(crl, "0A03") == 0 && crl_has(crl, "0A04") == 1);
    X509_CRL_free(crl);
    crl = NULL;
    /* A delta right after it is empty, based on CRL 3. */
    CHECK_OK(crl_publish(&r, ca, 1));
    CHECK_INT(r.number, 4);
    CHECK_INT(r.base_number, 3);
    CHECK_INT(r.entries, 0);

    /* After a restore that raised the counter, numbers continue above it. */
    CHECK_OK(db_begin(ca->db));
    CHECK_OK(db_counter_raise(ca->db, "crl_number", 100));
    CHECK_OK(db_commit(ca->db));
    CHECK_OK(crl_publish(&r, ca, 0));
    CHECK_INT(r.number, 101);

    /* Deltas disabled: a clear configuration error, nothing recorded. */
    CHECK_OK(config_set(ca->cfg, "crl.delta_period", "0"));
    CHECK_ERR(crl_publish(&r, ca, 1), CM_ERR_CONFIG);
    CHECK(strstr(cm_err_msg(), "crl.delta_period") != NULL);
    /* ...and a full CRL then carries no freshestCRL (5.2.6). */
    CHECK_OK(crl_publish(&r, ca, 0));
    CHECK_INT(r.number, 102);
    crl = load_crl(r.der_path);
    CHECK(crl != NULL && X509_CRL_get_ext_by_NID(crl, NID_freshest_crl, -1) < 0);
    X509_CRL_free(crl);
    close_test_ca(ca);
}

/* A refused CRL (lint) leaves no trace: no row, no event, no number used,
 * no file. */
TEST(refusal_rolls_back)
{
    char dir[300], path[600];
    ca_ctx *ca;
    struct crl_result r;
    struct db_crl *row = NULL;

    snprintf(dir, sizeof(dir), "%s/ca2", home);
    ca = open_test_ca(dir);
    if (ca == NULL || ca->db == NULL || ca->cert == NULL) {
        UNIT_FAIL("cannot set up the CA: %s", cm_err_msg());
        close_test_ca(ca);
        return;
    }
    CHECK_OK(add_cert(ca, "0B01"));
    CHECK_OK(test_revoke(ca, "0B01", DB_REASON_CESSATION, 0));
    /* No key identifier to put in authorityKeyIdentifier (5.2.1). */
    {
        X509 *saved = ca->cert;
        X509 *bare = X509_new();
        X509_NAME *n = X509_NAME_new();
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"bare", -1, -1, 0);
        X509_set_subject_name(bare, n);
        X509_NAME_free(n);
        ca->cert = bare;
        ca->ski_len = 0;
        CHECK_ERR(crl_publish(&r, ca, 0), CM_ERR_LINT);
        CHECK(strstr(cm_err_msg(), "crl.ext.aki") != NULL);
        ca->cert = saved;
        X509_free(bare);
    }
    CHECK_OK(db_crl_last(ca->db, &row, 0));
    CHECK(row == NULL);
    db_crl_free(row);
    CHECK_INT(crl_events(ca, NULL, 0), 0);
    snprintf(path, sizeof(path), "%s/crl/ca.crl", dir);
    CHECK(!fs_exists(path));
    /* The number was not used up. */
    {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert);
        ca->ski_len = (size_t)ASN1_STRING_length(ski);
        memcpy(ca->ski, ASN1_STRING_get0_data(ski), ca->ski_len);
    }
    CHECK_OK(crl_publish(&r, ca, 0));
    CHECK_INT(r.number, 1);
    CHECK(fs_exists(path));
    close_test_ca(ca);
}

int main(void)
{
    unit_suite = "crl_publish";
    snprintf(home, sizeof(home), "%s/test_crl_publish.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(home) == NULL) {
        printf("not ok - crl_publish: mkdtemp failed\n");
        return 1;
    }
    RUN(full_then_delta);
    RUN(refusal_rolls_back);
    if (getenv("KEEP") == NULL) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", home);
    }
    return UNIT_DONE();
}
