/* The certificates issuance builds (src/ca/issue.c), byte for byte: every
 * certificate of a batch and of a single request is compared with one made
 * independently from OpenSSL's configuration syntax (X509V3_EXT_conf_nid)
 * from the request, the CA certificate and the configuration, with only the
 * serial number and the validity taken from the issued one. The issuance
 * path builds the profile's extensions once per batch or session (the issue
 * cache) and the lint remembers what certificates share (lint_memo): a
 * configuration or profile changed between batches must show in the next
 * batch (the cache is not stale). */
#include "unit.h"

#include "fixture_home.h"

#include "ca/ca_int.h"
#include "config/config.h"
#include "util/fsutil.h"

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct fixture_home fx;

/* What the configuration says the certificates carry. */
struct want {
    const char *profile;
    const char *eku;      /* X509V3 syntax */
    const char *policies; /* X509V3 syntax */
    const char *cdp;      /* URL or NULL */
    const char *ocsp;     /* URL or NULL */
    const char *issuers;  /* URL or NULL */
    long serial_octets;   /* content octets of the serial INTEGER */
    long backdate;        /* seconds */
};

static int add_conf(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* The extensions of the profile in certmint's order (issue.c
 * sign_extensions), from the configuration syntax. */
static int ref_extensions(X509 *ref, X509 *ca, X509_REQ *req, const struct want *w)
{
    X509V3_CTX v3;
    STACK_OF(X509_EXTENSION) *rx = X509_REQ_get_extensions(req);
    CONF *conf = NCONF_new(NULL); /* certificatePolicies needs one, empty */
    int ok = conf != NULL, loc;
    char buf[600];

    X509V3_set_ctx(&v3, ca, ref, NULL, NULL, 0);
    X509V3_set_nconf(&v3, conf);
    ok &= add_conf(ref, &v3, NID_basic_constraints, "critical,CA:FALSE");
    ok &= add_conf(ref, &v3, NID_key_usage, "critical,digitalSignature");
    ok &= add_conf(ref, &v3, NID_ext_key_usage, w->eku);
    ok &= add_conf(ref, &v3, NID_subject_key_identifier, "hash");
    ok &= add_conf(ref, &v3, NID_authority_key_identifier, "keyid:always");
    loc = X509v3_get_ext_by_NID(rx, NID_subject_alt_name, -1);
    ok &= loc >= 0 && X509_add_ext(ref, X509v3_get_ext(rx, loc), -1);
    if (w->cdp != NULL) {
        snprintf(buf, sizeof(buf), "URI:%s", w->cdp);
        ok &= add_conf(ref, &v3, NID_crl_distribution_points, buf);
    }
    if (w->ocsp != NULL || w->issuers != NULL) {
        snprintf(buf, sizeof(buf), "%s%s%s%s%s", w->ocsp ? "OCSP;URI:" : "", w->ocsp ? w->ocsp : "",
                 w->ocsp && w->issuers ? "," : "", w->issuers ? "caIssuers;URI:" : "",
                 w->issuers ? w->issuers : "");
        ok &= add_conf(ref, &v3, NID_info_access, buf);
    }
    ok &= add_conf(ref, &v3, NID_certificate_policies, w->policies);
    sk_X509_EXTENSION_pop_free(rx, X509_EXTENSION_free);
    NCONF_free(conf);
    return ok;
}

/* The certificate der as certmint issued it for the request csr must be
 * the reference's TBSCertificate, byte for byte. */
/* issue.c cache_serial: from 13 octets the serial begins with 0x40 and the
 * issuance second (within the last two minutes here), below 13 it is all
 * randomness (a random prefix equal to the time: odds of 2^-38). */
static void check_serial_prefix(const unsigned char *sn, long octets, const char *what)
{
    uint64_t t = ((uint64_t)(sn[0] & 0x3f) << 32) | ((uint64_t)sn[1] << 24) |
                 ((uint64_t)sn[2] << 16) | ((uint64_t)sn[3] << 8) | sn[4];
    uint64_t now = (uint64_t)time(NULL);
    int timed = (sn[0] & 0xc0) == 0x40 && t <= now && t + 120 >= now;

    if ((sn[0] & 0xc0) != 0x40)
        UNIT_FAIL("%s: serial's first octet %02x is not 0x40-0x7f", what, sn[0]);
    if (timed != (octets >= 13))
        UNIT_FAIL("%s: serial of %ld octets %s the issuance second", what, octets,
                  timed ? "begins with" : "does not begin with");
}

static void compare(const unsigned char *der, size_t len, const unsigned char *csr, size_t csr_len,
                    const struct want *w, const char *what)
{
    const unsigned char *p = der, *q = csr;
    X509 *x = d2i_X509(NULL, &p, (long)len), *ref = X509_new();
    X509 *ca = NULL;
    X509_REQ *req = d2i_X509_REQ(NULL, &q, (long)csr_len);
    EVP_PKEY *junk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    unsigned char *a = NULL, *b = NULL;
    int alen = -1, blen = -1;
    time_t nb;

    {
        /* The CA certificate from the home (what the issuer name and the
         * keyIdentifier come from). */
        char path[400];
        unsigned char *pem = NULL;
        size_t pl = 0;
        BIO *bio;
        snprintf(path, sizeof(path), "%s/ca.crt", fx.home);
        if (fs_read_file(&pem, &pl, path, 1 << 20) == CM_OK) {
            bio = BIO_new_mem_buf(pem, (int)pl);
            ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
            BIO_free(bio);
        }
        free(pem);
    }
    if (x == NULL || ref == NULL || ca == NULL || req == NULL || junk == NULL) {
        UNIT_FAIL("%s: cannot read the certificate, the CA certificate or the request", what);
        goto out;
    }
    CHECK(X509_set_version(ref, X509_VERSION_3));
    CHECK(X509_set_serialNumber(ref, (ASN1_INTEGER *)X509_get0_serialNumber(x)));
    CHECK(X509_set_issuer_name(ref, X509_get_subject_name(ca)));
    CHECK(X509_set1_notBefore(ref, X509_get0_notBefore(x)));
    CHECK(X509_set1_notAfter(ref, X509_get0_notAfter(x)));
    CHECK(X509_set_subject_name(ref, X509_REQ_get_subject_name(req)));
    CHECK(X509_set_pubkey(ref, X509_REQ_get0_pubkey(req)));
    CHECK(ref_extensions(ref, ca, req, w));
    /* The signature field of the TBSCertificate: ecdsa-with-SHA256. */
    CHECK(X509_sign(ref, junk, EVP_sha256()) > 0);
    alen = i2d_re_X509_tbs(x, &a);
    blen = i2d_re_X509_tbs(ref, &b);
    if (alen <= 0 || alen != blen || memcmp(a, b, (size_t)alen) != 0)
        UNIT_FAIL("%s: the TBSCertificate (%d octets) differs from the reference (%d octets)", what,
                  alen, blen);
    /* The serial's length and the backdating are the configuration's. */
    {
        const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
        unsigned char *sd = NULL;
        int sl = i2d_ASN1_INTEGER(sn, &sd);
        if (sl != 2 + w->serial_octets)
            UNIT_FAIL("%s: serial INTEGER of %d octets, want %ld content octets", what, sl,
                      w->serial_octets);
        else
            check_serial_prefix(sd + 2, w->serial_octets, what);
        OPENSSL_free(sd);
    }
    nb = time(NULL) - w->backdate;
    if (X509_cmp_time(X509_get0_notBefore(x), &(time_t){nb - 120}) <= 0 ||
        X509_cmp_time(X509_get0_notBefore(x), &(time_t){nb + 120}) >= 0)
        UNIT_FAIL("%s: notBefore is not backdated by %ld s", what, w->backdate);
out:
    OPENSSL_free(a);
    OPENSSL_free(b);
    X509_free(x);
    X509_free(ref);
    X509_free(ca);
    X509_REQ_free(req);
    EVP_PKEY_free(junk);
}

/* Submits n requests (one call: n > 1 is a batch in worker threads) and
 * compares each certificate. */
static void issue_and_compare(size_t n, const struct want *w, const char *what)
{
    const struct ca_actor who = {CA_ACTOR_OPERATOR, "tester"};
    struct ca_submission subs[4];
    unsigned char *csrs[4] = {NULL};
    size_t lens[4] = {0};
    struct ca_submit_opts so = {.profile = w->profile};
    ca_ctx *s = NULL;
    char cn[64], label[128];

    memset(subs, 0, sizeof(subs));
    for (size_t i = 0; i < n; i++) {
        snprintf(cn, sizeof(cn), "h%zu.%s.build.example", i, w->profile);
        csrs[i] = fixture_csr(&lens[i], cn);
        CHECK(csrs[i] != NULL);
        subs[i].csr = csrs[i];
        subs[i].csr_len = lens[i];
        subs[i].source = "test";
    }
    CHECK_OK(ca_session_open(&s, fx.handle, &who));
    if (s != NULL)
        CHECK_OK(ca_submit(s, subs, n, &so));
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof(label), "%s, request %zu", what, i);
        if (subs[i].disposition != DB_DISP_ISSUED || subs[i].cert_der == NULL)
            UNIT_FAIL("%s: not issued: %s", label, subs[i].message);
        else
            compare(subs[i].cert_der, subs[i].cert_der_len, csrs[i], lens[i], w, label);
        ca_submission_clear(&subs[i]);
        OPENSSL_free(csrs[i]);
    }
    ca_session_close(s);
}

/* Sets key=value in the home's configuration and has the handle adopt it. */
static int conf_set(const char *key, const char *value)
{
    const struct ca_actor who = {CA_ACTOR_OPERATOR, "tester"};
    char path[400];
    cm_config *cfg = NULL;
    ca_ctx *s = NULL;
    int ok;

    snprintf(path, sizeof(path), "%s/certmint.conf", fx.home);
    ok = config_load(&cfg, path, 0) == CM_OK && config_set(cfg, key, value) == CM_OK &&
         config_save(cfg, path) == CM_OK;
    config_free(cfg);
    ok = ok && ca_session_open(&s, fx.handle, &who) == CM_OK && ca_reload_config(s) == CM_OK;
    ca_session_close(s);
    return ok;
}

TEST(identical_to_reference)
{
    struct want w = {"tls-server", "serverAuth", "2.23.140.1.2.1", NULL, NULL, NULL, 16, 300};
    issue_and_compare(1, &w, "tls-server, default configuration, single");
    issue_and_compare(3, &w, "tls-server, default configuration, batch");
}

TEST(configuration_changed_between_batches)
{
    struct want w = {"tls-server",
                     "serverAuth",
                     "2.23.140.1.2.1",
                     "http://crl.example/a.crl",
                     "http://ocsp.example/",
                     "http://ca.example/ca.crt",
                     16,
                     300};
    CHECK(conf_set("crl.cdp_url", w.cdp) && conf_set("ca.ocsp_url", w.ocsp) &&
          conf_set("ca.aia_url", w.issuers));
    issue_and_compare(1, &w, "tls-server, URLs, single");
    issue_and_compare(3, &w, "tls-server, URLs, batch");
    /* the same session pool, profile and CA: new values in the next batch */
    w.cdp = "http://crl2.example/b.crl";
    w.serial_octets = 12;
    w.backdate = 3600;
    CHECK(conf_set("crl.cdp_url", w.cdp) && conf_set("ca.serial_bytes", "12") &&
          conf_set("ca.backdate", "1h"));
    issue_and_compare(1, &w, "tls-server, changed configuration, single");
    issue_and_compare(3, &w, "tls-server, changed configuration, batch");
    /* another profile in the same sessions: its own extensions */
    w.profile = "tls-client";
    w.eku = "clientAuth";
    w.policies = "2.5.29.32.0";
    issue_and_compare(1, &w, "tls-client, single");
    issue_and_compare(3, &w, "tls-client, batch");
    w.profile = "tls-server";
    w.eku = "serverAuth";
    w.policies = "2.23.140.1.2.1";
    issue_and_compare(1, &w, "tls-server again, single");
}

/* ca_time_of (describe.c: notBefore/notAfter columns, the CA's notAfter
 * at issuance) reads RFC 5280 times itself: the same value as
 * ASN1_TIME_to_tm and timegm, and the same failures, for those and for
 * the forms it leaves to them. */
TEST(time_of_as_libcrypto)
{
    static const struct {
        int type;
        const char *s;
    } cases[] = {
        {V_ASN1_UTCTIME, "500101000000Z"},
        {V_ASN1_UTCTIME, "491231235959Z"},
        {V_ASN1_UTCTIME, "000229120000Z"},
        {V_ASN1_UTCTIME, "261205154324Z"},
        {V_ASN1_UTCTIME, "700101000000Z"},
        {V_ASN1_UTCTIME, "690101000000Z"},
        {V_ASN1_UTCTIME, "2612051543Z"},
        {V_ASN1_UTCTIME, "261205154324+0100"},
        {V_ASN1_UTCTIME, "991332000000Z"},
        {V_ASN1_UTCTIME, "990230000000Z"},
        {V_ASN1_UTCTIME, "010229000000Z"},
        {V_ASN1_UTCTIME, "26120515432Z"},
        {V_ASN1_GENERALIZEDTIME, "20500101000000Z"},
        {V_ASN1_GENERALIZEDTIME, "99991231235959Z"},
        {V_ASN1_GENERALIZEDTIME, "21000229000000Z"},
        {V_ASN1_GENERALIZEDTIME, "24000229000000Z"},
        {V_ASN1_GENERALIZEDTIME, "19500101000000Z"},
        {V_ASN1_GENERALIZEDTIME, "20261205154324.5Z"},
        {V_ASN1_GENERALIZEDTIME, "202612051543Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ASN1_TIME *t = ASN1_STRING_type_new(cases[i].type);
        struct tm tm;
        int64_t got = 0, want = 0;
        int ok_want, ok_got;
        if (t == NULL || !ASN1_STRING_set(t, cases[i].s, -1)) {
            UNIT_FAIL("cannot make %s", cases[i].s);
            ASN1_STRING_free(t);
            continue;
        }
        ok_want = ASN1_TIME_to_tm(t, &tm) == 1;
        if (ok_want)
            want = (int64_t)timegm(&tm);
        ok_got = ca_time_of(&got, t) == CM_OK;
        if (ok_got != ok_want || (ok_got && got != want))
            UNIT_FAIL("%s: ca_time_of %d/%lld, libcrypto %d/%lld", cases[i].s, ok_got,
                      (long long)got, ok_want, (long long)want);
        ASN1_STRING_free(t);
        ERR_clear_error();
    }
}

/* One certificate with the given subjectKeyIdentifier values (the raw
 * extnValue octets; n of them), signed by a new P-256 key. */
static X509 *cert_with_ski(const unsigned char *const *vals, const size_t *lens, int n)
{
    X509 *x = X509_new();
    EVP_PKEY *k = EVP_EC_gen("P-256");
    int ok = x != NULL && k != NULL && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
             X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
             X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                        (const unsigned char *)"ski", -1, -1, 0) &&
             X509_set_issuer_name(x, X509_get_subject_name(x)) && X509_set_pubkey(x, k);
    for (int i = 0; ok && i < n; i++) {
        ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
        X509_EXTENSION *e = NULL;
        ok = v != NULL && ASN1_OCTET_STRING_set(v, vals[i], (int)lens[i]) &&
             (e = X509_EXTENSION_create_by_NID(NULL, NID_subject_key_identifier, 0, v)) != NULL &&
             X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(v);
    }
    ok = ok && X509_sign(x, k, EVP_sha256()) > 0;
    EVP_PKEY_free(k);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* The SubjectKeyIdentifier column (describe.c ski_text reads a DER value
 * in place): what X509_get_ext_d2i gives, in hex (it takes an OCTET
 * STRING followed by other octets, and a long-form length, as its own),
 * and NULL where it gives nothing (another tag, a second SKI extension). */
TEST(ski_as_libcrypto)
{
    static const unsigned char good[] = {0x04, 0x02, 0xAA, 0xBB};
    static const unsigned char trailing[] = {0x04, 0x02, 0xAA, 0xBB, 0x00};
    static const unsigned char longform[] = {0x04, 0x81, 0x02, 0xAA, 0xBB};
    static const unsigned char bitstr[] = {0x03, 0x02, 0x00, 0xAA};
    static const unsigned char empty[] = {0x04, 0x00};
    static const struct {
        const unsigned char *v;
        size_t len;
        int twice;
    } cases[] = {
        {good, sizeof(good), 0},         {trailing, sizeof(trailing), 0},
        {longform, sizeof(longform), 0}, {bitstr, sizeof(bitstr), 0},
        {empty, sizeof(empty), 0},       {good, sizeof(good), 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const unsigned char *vals[2] = {cases[i].v, cases[i].v};
        size_t lens[2] = {cases[i].len, cases[i].len};
        X509 *x = cert_with_ski(vals, lens, cases[i].twice ? 2 : 1);
        struct db_cert c;
        ASN1_OCTET_STRING *ski = NULL;
        char want[64] = "";

        memset(&c, 0, sizeof(c));
        if (x == NULL) {
            UNIT_FAIL("case %zu: cannot make the certificate", i);
            continue;
        }
        ski = X509_get_ext_d2i(x, NID_subject_key_identifier, NULL, NULL);
        for (int j = 0; ski != NULL && j < ski->length && j < 30; j++)
            snprintf(want + 2 * j, sizeof(want) - 2 * (size_t)j, "%02x", ski->data[j]);
        if (ca_cert_describe(&c, x) != CM_OK)
            UNIT_FAIL("case %zu: ca_cert_describe failed", i);
        else if ((ski == NULL) != (c.ski == NULL) || (ski != NULL && strcasecmp(c.ski, want) != 0))
            UNIT_FAIL("case %zu: ski %s, libcrypto %s", i, c.ski ? c.ski : "(none)",
                      ski ? want : "(none)");
        ASN1_OCTET_STRING_free(ski);
        db_cert_clear(&c);
        X509_free(x);
        ERR_clear_error();
    }
}

int main(void)
{
    unit_suite = "issue_build";
    if (fixture_home_open(&fx, "issuebuild", "Build Test CA", 2) != 0) {
        printf("not ok - issue_build: setup failed: %s\n", cm_err_msg());
        fixture_home_close(&fx);
        return 1;
    }
    RUN(identical_to_reference);
    RUN(configuration_changed_between_batches);
    RUN(ski_as_libcrypto);
    RUN(time_of_as_libcrypto);
    fixture_home_close(&fx);
    return UNIT_DONE();
}
