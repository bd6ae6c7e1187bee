/* Unit tests of the DER writer (src/crl/der.c), the CRL encoder and its lint
 * rules (src/crl/crl.c, crl_lint.c). Results are checked against OpenSSL:
 * libcrypto's own encoders and parsers, and the openssl command (crl -text,
 * crl -verify, verify -crl_check). No database is needed. */
#include "crl/crl.h"
#include "ca/ca_int.h"
#include "util/der.h"
#include "unit.h"
#include "util/fsutil.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

/* ---------- helpers ---------- */

static int has_rule(const char *rule)
{
    return strstr(cm_err_msg(), rule) != NULL;
}

static EVP_PKEY *gen_key(const char *type)
{
    if (strcmp(type, "P-256") == 0 || strcmp(type, "P-384") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", type);
    if (strcmp(type, "RSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for key, signed by issuer (self-signed when issuer NULL),
 * with the serial given in hex. */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn,
                       const char *serial_hex, int is_ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIGNUM *bn = NULL;
    X509V3_CTX ctx;
    int ok;

    ok = x != NULL && name != NULL && X509_set_version(x, X509_VERSION_3) &&
         BN_hex2bn(&bn, serial_hex) > 0 &&
         BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"certmint test",
                                    -1, -1, 0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) &&
         X509_set_subject_name(x, name) &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365) && X509_set_pubkey(x, key);
    if (ok) {
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
             (is_ca ? add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
                          add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")
                    : add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    }
    if (ok) {
        EVP_PKEY *sk = issuer_key ? issuer_key : key;
        const EVP_MD *md = EVP_PKEY_is_a(sk, "ED25519") ? NULL : EVP_sha256();
        ok = X509_sign(x, sk, md) > 0;
    }
    BN_free(bn);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

struct test_ca {
    EVP_PKEY *key;
    cm_key *signer;
    X509 *cert;
    unsigned char *issuer;
    int issuer_len;
    unsigned char ski[64];
    size_t ski_len;
};

static int ca_make(struct test_ca *ca, const char *type)
{
    const ASN1_OCTET_STRING *s;
    memset(ca, 0, sizeof(*ca));
    ca->key = gen_key(type);
    if (ca->key == NULL)
        return 0;
    if (key_from_pkey(&ca->signer, ca->key) != CM_OK)
        return 0;
    ca->cert = make_cert(ca->key, NULL, NULL, "certmint test CA", "01", 1);
    if (ca->cert == NULL)
        return 0;
    ca->issuer_len = i2d_X509_NAME(X509_get_subject_name(ca->cert), &ca->issuer);
    s = X509_get0_subject_key_id(ca->cert);
    if (ca->issuer_len <= 0 || s == NULL)
        return 0;
    ca->ski_len = (size_t)ASN1_STRING_length(s);
    memcpy(ca->ski, ASN1_STRING_get0_data(s), ca->ski_len);
    return 1;
}

static void ca_free(struct test_ca *ca)
{
    key_close(ca->signer);
    EVP_PKEY_free(ca->key);
    X509_free(ca->cert);
    OPENSSL_free(ca->issuer);
}

static void params_for(struct crl_params *p, const struct test_ca *ca, int64_t number)
{
    int64_t now = (int64_t)time(NULL);
    memset(p, 0, sizeof(*p));
    p->issuer_der = ca->issuer;
    p->issuer_len = (size_t)ca->issuer_len;
    p->aki_keyid = ca->ski;
    p->aki_keyid_len = ca->ski_len;
    p->key = ca->signer;
    p->number = number;
    p->this_update = now - 60;
    p->next_update = now + 7 * 86400;
}

struct list {
    const struct db_revoked *e;
    size_t n;
    cm_err fail_at_end; /* returned after the entries when not CM_OK */
};

static cm_err list_iter(void *ctx, db_revoked_cb cb, void *cb_ctx)
{
    struct list *l = ctx;
    cm_err rc;
    for (size_t i = 0; i < l->n; i++)
        if ((rc = cb(cb_ctx, &l->e[i])) != CM_OK)
            return rc;
    if (l->fail_at_end != CM_OK)
        return cm_err_set(l->fail_at_end, "test iterator failed");
    return CM_OK;
}

static int write_pem_cert(const char *path, X509 *x)
{
    BIO *b = BIO_new_file(path, "w");
    int ok = b != NULL && PEM_write_bio_X509(b, x) == 1;
    BIO_free(b);
    return ok;
}

static int sh(const char *fmt, ...) CM_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int r;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    r = system(cmd);
    return r == -1 ? -1 : WEXITSTATUS(r);
}

static char *slurp(const char *path)
{
    unsigned char *d = NULL;
    size_t n;
    if (fs_read_file(&d, &n, path, 1 << 24) != CM_OK)
        return NULL;
    return (char *)d;
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    return der_unix_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                               tm.tm_sec);
}

/* ---------- DER writer ---------- */

TEST(der_length_boundaries)
{
    static const size_t sizes[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        unsigned char *v = malloc(n + 1), *ref = NULL;
        cm_buf b = CM_BUF_INIT(1 << 20);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        int reflen;

        memset(v, 0x5a, n + 1);
        CHECK_OK(der_octet_string(&b, v, n));
        /* OpenSSL's encoder is the reference. */
        CHECK(ASN1_OCTET_STRING_set(os, v, (int)n) == 1);
        reflen = i2d_ASN1_OCTET_STRING(os, &ref);
        CHECK_INT(b.len, reflen);
        CHECK(reflen > 0 && memcmp(b.data, ref, (size_t)reflen) == 0);
        CHECK_INT(der_tlv_size(n), reflen);
        /* Length octets by hand at each boundary. */
        if (n == 127)
            CHECK(b.data[1] == 0x7f);
        if (n == 128)
            CHECK(b.data[1] == 0x81 && b.data[2] == 0x80);
        if (n == 255)
            CHECK(b.data[1] == 0x81 && b.data[2] == 0xff);
        if (n == 256)
            CHECK(b.data[1] == 0x82 && b.data[2] == 0x01 && b.data[3] == 0x00);
        if (n == 65535)
            CHECK(b.data[1] == 0x82 && b.data[2] == 0xff && b.data[3] == 0xff);
        if (n == 65536)
            CHECK(b.data[1] == 0x83 && b.data[2] == 1 && b.data[3] == 0 && b.data[4] == 0);
        /* The reader takes it back. */
        {
            const unsigned char *p = b.data;
            struct der_tlv t;
            CHECK(der_next(&t, &p, b.data + b.len) == 0);
            CHECK(t.tag == DER_OCTET_STRING && t.len == n && p == b.data + b.len);
        }
        OPENSSL_free(ref);
        ASN1_OCTET_STRING_free(os);
        buf_free(&b);
        free(v);
    }
}

TEST(der_reserve_and_patch)
{
    static const size_t sizes[] = {0, 5, 127, 128, 255, 256, 65535, 65536};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        cm_buf b = CM_BUF_INIT(1 << 20), ref = CM_BUF_INIT(1 << 20);
        size_t outer, inner, n = sizes[i];
        unsigned char *v = calloc(1, n + 1);

        CHECK_OK(buf_append(&b, "x", 1)); /* not at offset 0 */
        CHECK_OK(der_begin(&b, &outer, DER_SEQUENCE));
        CHECK_OK(der_begin(&b, &inner, DER_CTX_CONS(0)));
        CHECK_OK(buf_append(&b, v, n));
        CHECK_OK(der_end(&b, inner));
        CHECK_OK(der_null(&b));
        CHECK_OK(der_end(&b, outer));
        /* The same written length-first. */
        CHECK_OK(buf_append(&ref, "x", 1));
        CHECK_OK(der_header(&ref, DER_SEQUENCE, der_tlv_size(n) + 2));
        CHECK_OK(der_tlv(&ref, DER_CTX_CONS(0), v, n));
        CHECK_OK(der_null(&ref));
        CHECK_INT(b.len, ref.len);
        CHECK(b.len == ref.len && memcmp(b.data, ref.data, b.len) == 0);
        buf_free(&b);
        buf_free(&ref);
        free(v);
    }
}

static int int_hex_is(const char *hex, const unsigned char *want, size_t n)
{
    cm_buf b = CM_BUF_INIT(1024);
    int ok = der_integer_hex(&b, hex) == CM_OK && b.len == n && memcmp(b.data, want, n) == 0;
    buf_free(&b);
    return ok;
}

TEST(der_integer_sign_octet)
{
    static const unsigned char e7f[] = {2, 1, 0x7f}, e80[] = {2, 2, 0, 0x80},
                               eff[] = {2, 2, 0, 0xff}, e01[] = {2, 1, 1}, e0[] = {2, 1, 0},
                               e0abc[] = {2, 2, 0x0a, 0xbc};
    cm_buf b = CM_BUF_INIT(1024);
    unsigned char big[64];

    CHECK(int_hex_is("7F", e7f, sizeof(e7f)));
    CHECK(int_hex_is("80", e80, sizeof(e80)));
    CHECK(int_hex_is("00FF", eff, sizeof(eff)));
    CHECK(int_hex_is("0001", e01, sizeof(e01)));
    CHECK(int_hex_is("00", e0, sizeof(e0)));
    CHECK(int_hex_is("abc", e0abc, sizeof(e0abc))); /* odd digit count */
    CHECK_ERR(der_integer_hex(&b, "12G4"), CM_ERR_INVALID);
    CHECK_ERR(der_integer_hex(&b, ""), CM_ERR_INVALID);
    memset(big, 'F', sizeof(big));
    CHECK_OK(der_integer_hex(&b, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")); /* 20 octets */
    CHECK(b.len == 23 && b.data[1] == 21 && b.data[2] == 0);
    buf_reset(&b);
    /* 20 random octets, against OpenSSL's BIGNUM encoder. */
    for (int i = 0; i < 200; i++) {
        unsigned char mag[20], *ref = NULL;
        char hex[41];
        BIGNUM *bn;
        ASN1_INTEGER *ai;
        int reflen;
        CHECK(RAND_bytes(mag, sizeof(mag)) == 1);
        mag[0] = (unsigned char)(i & 1 ? mag[0] | 0x80 : mag[0] & 0x7f);
        if (i % 7 == 0)
            mag[0] = 0; /* leading zero octet dropped */
        text_hex(hex, mag, sizeof(mag));
        bn = BN_bin2bn(mag, sizeof(mag), NULL);
        ai = BN_to_ASN1_INTEGER(bn, NULL);
        reflen = i2d_ASN1_INTEGER(ai, &ref);
        buf_reset(&b);
        CHECK_OK(der_integer_hex(&b, hex));
        CHECK(reflen > 0 && b.len == (size_t)reflen && memcmp(b.data, ref, b.len) == 0);
        OPENSSL_free(ref);
        ASN1_INTEGER_free(ai);
        BN_free(bn);
    }
    /* Signed 64-bit values, against ASN1_INTEGER_set_int64. */
    {
        static const int64_t vals[] = {
            0,    1,     127,       128,       255,       256,           -1,      -128, -129,
            -256, 65535, 1LL << 40, INT64_MAX, INT64_MIN, INT64_MIN + 1, 0x800000};
        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
            ASN1_INTEGER *ai = ASN1_INTEGER_new();
            unsigned char *ref = NULL;
            int reflen;
            int64_t back = 0;
            CHECK(ASN1_INTEGER_set_int64(ai, vals[i]) == 1);
            reflen = i2d_ASN1_INTEGER(ai, &ref);
            buf_reset(&b);
            CHECK_OK(der_integer(&b, vals[i]));
            if (!(reflen > 0 && b.len == (size_t)reflen && memcmp(b.data, ref, b.len) == 0))
                UNIT_FAIL("der_integer(%lld) differs from OpenSSL", (long long)vals[i]);
            CHECK(der_parse_int64(&back, b.data + 2, b.len - 2) == 0 && back == vals[i]);
            OPENSSL_free(ref);
            ASN1_INTEGER_free(ai);
        }
    }
    buf_free(&b);
}

TEST(der_oid)
{
    static const char *good[] = {
        "2.5.29.20", "1.2.840.113549.1.1.11", "1.2.840.10045.4.3.2",   "1.3.101.112", "2.999.1",
        "0.39",      "1.3.6.1.4.1.311.21.7",  "2.16.840.1.101.3.4.2.1"};
    static const char *bad[] = {"",
                                "1",
                                "3.1",
                                "1.40",
                                "1..2",
                                "1.2.",
                                ".1.2",
                                "a.b",
                                "01.2",
                                "1.2.x",
                                "1.2.99999999999999999999999"};
    cm_buf b = CM_BUF_INIT(1024);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ASN1_OBJECT *o = OBJ_txt2obj(good[i], 1);
        unsigned char *ref = NULL;
        int reflen = i2d_ASN1_OBJECT(o, &ref);
        buf_reset(&b);
        CHECK_OK(der_oid_text(&b, good[i]));
        if (!(reflen > 0 && b.len == (size_t)reflen && memcmp(b.data, ref, b.len) == 0))
            UNIT_FAIL("OID %s differs from OpenSSL", good[i]);
        OPENSSL_free(ref);
        ASN1_OBJECT_free(o);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&b);
        if (der_oid_text(&b, bad[i]) != CM_ERR_INVALID)
            UNIT_FAIL("OID '%s' accepted", bad[i]);
        else if (strstr(cm_err_msg(), "object identifier") == NULL)
            UNIT_FAIL("OID '%s': message '%s'", bad[i], cm_err_msg());
    }
    buf_free(&b);
}

static int time_is(int64_t t, const char *want, unsigned tag)
{
    cm_buf b = CM_BUF_INIT(64);
    int ok = der_time(&b, t) == CM_OK && b.len == 2 + strlen(want) && b.data[0] == tag &&
             memcmp(b.data + 2, want, strlen(want)) == 0;
    buf_free(&b);
    return ok;
}

TEST(der_time_year_rule)
{
    cm_buf b = CM_BUF_INIT(64);
    int64_t t;

    /* 2049-12-31T23:59:59Z: the last UTCTime; one second later GeneralizedTime. */
    t = der_unix_from_civil(2049, 12, 31, 23, 59, 59);
    CHECK_INT(t, 2524607999LL);
    CHECK(time_is(t, "491231235959Z", DER_UTCTIME));
    CHECK(time_is(t + 1, "20500101000000Z", DER_GENERALIZEDTIME));
    CHECK(time_is(der_unix_from_civil(1950, 1, 1, 0, 0, 0), "500101000000Z", DER_UTCTIME));
    CHECK(time_is(0, "700101000000Z", DER_UTCTIME));
    CHECK(time_is(951782400, "000229000000Z", DER_UTCTIME)); /* 2000-02-29 */
    CHECK(time_is(der_unix_from_civil(9999, 12, 31, 23, 59, 59), "99991231235959Z",
                  DER_GENERALIZEDTIME));
    CHECK_ERR(der_time(&b, der_unix_from_civil(1949, 12, 31, 23, 59, 59)), CM_ERR_INVALID);
    CHECK_ERR(der_time(&b, der_unix_from_civil(10000, 1, 1, 0, 0, 0)), CM_ERR_INVALID);
    /* invalidityDate style: always GeneralizedTime. */
    buf_reset(&b);
    CHECK_OK(der_generalized_time(&b, t));
    CHECK(b.len == 17 && b.data[0] == DER_GENERALIZEDTIME &&
          memcmp(b.data + 2, "20491231235959Z", 15) == 0);
    /* Random instants against OpenSSL's ASN1_TIME_set (which applies the
     * same RFC 5280 rule) and against gmtime_r. */
    for (int i = 0; i < 2000; i++) {
        uint32_t r;
        ASN1_TIME *at;
        unsigned char *ref = NULL;
        int reflen;
        struct der_civil c;
        struct tm tm;
        time_t tt;
        struct der_tlv tlv;
        const unsigned char *p;
        int64_t back;

        CHECK(RAND_bytes((unsigned char *)&r, sizeof(r)) == 1);
        /* 1950 .. ~2090 */
        t = -631152000LL + (int64_t)r + (int64_t)(r % 2) * 2000000000LL;
        at = ASN1_TIME_set(NULL, (time_t)t);
        reflen = i2d_ASN1_TIME(at, &ref);
        buf_reset(&b);
        CHECK_OK(der_time(&b, t));
        if (!(reflen > 0 && b.len == (size_t)reflen && memcmp(b.data, ref, b.len) == 0))
            UNIT_FAIL("time %lld differs from OpenSSL", (long long)t);
        tt = (time_t)t;
        CHECK(gmtime_r(&tt, &tm) != NULL);
        der_civil_from_unix(&c, t);
        CHECK(c.year == tm.tm_year + 1900 && c.month == tm.tm_mon + 1 && c.day == tm.tm_mday &&
              c.hour == tm.tm_hour && c.min == tm.tm_min && c.sec == tm.tm_sec);
        p = b.data;
        CHECK(der_next(&tlv, &p, b.data + b.len) == 0 && der_parse_time(&back, &tlv) == 0 &&
              back == t);
        OPENSSL_free(ref);
        ASN1_TIME_free(at);
        if (unit_failed_now)
            break;
    }
    buf_free(&b);
}

static int next_fails(const unsigned char *d, size_t n)
{
    const unsigned char *p = d;
    struct der_tlv t;
    return der_next(&t, &p, d + n) == -1;
}

TEST(der_reader_rejects_non_der)
{
    static const unsigned char indefinite[] = {0x30, 0x80, 0, 0};
    static const unsigned char long_small[] = {0x04, 0x81, 0x05, 1, 2, 3, 4, 5};
    static const unsigned char lead_zero[] = {0x04, 0x82, 0x00, 0x80};
    static const unsigned char truncated[] = {0x04, 0x05, 1, 2};
    static const unsigned char high_tag[] = {0x1f, 0x01, 0x00};
    static const unsigned char short_hdr[] = {0x04};
    static const unsigned char ok[] = {0x04, 0x81, 0x80};
    struct der_tlv t;
    const unsigned char *p;
    unsigned char buf[3 + 128];

    CHECK(next_fails(indefinite, sizeof(indefinite)));
    CHECK(next_fails(long_small, sizeof(long_small)));
    CHECK(next_fails(lead_zero, sizeof(lead_zero)));
    CHECK(next_fails(truncated, sizeof(truncated)));
    CHECK(next_fails(high_tag, sizeof(high_tag)));
    CHECK(next_fails(short_hdr, sizeof(short_hdr)));
    memcpy(buf, ok, 3);
    memset(buf + 3, 0, 128);
    p = buf;
    CHECK(der_next(&t, &p, buf + sizeof(buf)) == 0 && t.len == 128 && t.total == 131);
    /* Times: DER forms only. */
    {
        static const char *badt[] = {"4912312359Z",   "491231235959",  "4913312359590Z",
                                     "491231235960Z", "490230000000Z", "49123123595.Z"};
        for (size_t i = 0; i < sizeof(badt) / sizeof(badt[0]); i++) {
            struct der_tlv x = {DER_UTCTIME, (const unsigned char *)badt[i], strlen(badt[i]), NULL,
                                0};
            int64_t v;
            if (der_parse_time(&v, &x) != -1)
                UNIT_FAIL("time '%s' accepted", badt[i]);
        }
    }
}

TEST(pem_in_place)
{
    static const size_t sizes[] = {0,  1,   2,   3,   47,   48,   49,   95,    96,
                                   97, 143, 144, 300, 4800, 4801, 4847, 100000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i], off, len, pre = i * 7 % 50;
        cm_buf b = CM_BUF_INIT(1 << 24);
        unsigned char *der = malloc(n + 1);
        BIO *mem = BIO_new(BIO_s_mem());
        char *ref = NULL;
        long reflen;

        CHECK(RAND_bytes(der, (int)n + 1) == 1);
        CHECK_OK(buf_append(&b, "garbage-before-the-der-garbage-before-the-der-xxxxx", pre));
        CHECK_OK(buf_append(&b, der, n));
        CHECK_OK(buf_append(&b, "tail", i % 2 ? 4 : 0));
        off = pre;
        len = n;
        CHECK_OK(der_pem_inplace(&b, &off, &len, "X509 CRL"));
        /* OpenSSL's PEM writer is the reference (it refuses empty data). */
        if (n > 0)
            CHECK(PEM_write_bio(mem, "X509 CRL", "", der, (long)n) > 0);
        else
            CHECK(BIO_puts(mem, "-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n") > 0);
        reflen = BIO_get_mem_data(mem, &ref);
        CHECK_INT(len, reflen);
        CHECK_INT(len, der_pem_size(n, "X509 CRL"));
        if (!(off == 0 && (long)len == reflen && memcmp(b.data, ref, len) == 0))
            UNIT_FAIL("PEM of %zu bytes differs from OpenSSL's", n);
        BIO_free(mem);
        buf_free(&b);
        free(der);
    }
}

/* ---------- CRL encoder ---------- */

TEST(entry_encoding_bytes)
{
    /* Serial 0x0A, 2020-01-01T00:00:00Z, keyCompromise, invalidity
     * 2019-12-31T12:00:00Z: every octet by hand from RFC 5280 5.1, 5.3. */
    static const unsigned char want[] = {
        0x30, 0x3a,       /* RevokedCertificate */
        0x02, 0x01, 0x0a, /* userCertificate */
        0x17, 0x0d, '2',  '0',  '0',  '1',  '0',  '1',  '0',  '0',  '0',  '0',  '0',
        '0',  'Z',  0x30, 0x26, /* crlEntryExtensions */
        0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, 0x01, 0x30,
        0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11, 0x18, 0x0f, '2',  '0',  '1',
        '9',  '1',  '2',  '3',  '1',  '1',  '2',  '0',  '0',  '0',  '0',  'Z'};
    static const unsigned char want_plain[] = {0x30, 0x15, 0x02, 0x02, 0x00, 0x80, 0x18, 0x0f,
                                               '2',  '0',  '5',  '0',  '0',  '1',  '0',  '1',
                                               '0',  '0',  '0',  '0',  '0',  '0',  'Z'};
    struct db_revoked r = {"0A", DB_REASON_KEY_COMPROMISE, 1577836800, 1577793600};
    struct db_revoked plain = {"80", DB_REASON_UNSPECIFIED, 2524608000LL, 0};
    struct db_revoked bad_serial = {"0X", 1, 1577836800, 0};
    struct db_revoked bad_reason = {"01", -1, 1577836800, 0};
    struct db_revoked bad_date = {"01", 1, -700000000, 0};
    cm_buf b = CM_BUF_INIT(1024);

    CHECK_OK(crl_encode_revoked(&b, &r));
    CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0);
    buf_reset(&b);
    /* unspecified: no reasonCode (5.3.1), no extensions at all; 2050: GeneralizedTime */
    CHECK_OK(crl_encode_revoked(&b, &plain));
    CHECK(b.len == sizeof(want_plain) && memcmp(b.data, want_plain, sizeof(want_plain)) == 0);
    CHECK_ERR(crl_encode_revoked(&b, &bad_serial), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "0X") != NULL);
    CHECK_ERR(crl_encode_revoked(&b, &bad_reason), CM_ERR_INVALID);
    CHECK_ERR(crl_encode_revoked(&b, &bad_date), CM_ERR_INVALID);
    buf_free(&b);
}

/* A varied list: every reason, top-bit serials, a 20-octet serial, dates on
 * both sides of 2050, invalidity dates. */
static const struct db_revoked sample[] = {
    {"01", DB_REASON_UNSPECIFIED, 1700000000, 0},
    {"0A1B2C3D4E5F", DB_REASON_KEY_COMPROMISE, 1700000100, 1699990000},
    {"80", DB_REASON_CA_COMPROMISE, 1700000200, 0},
    {"FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00", DB_REASON_AFFILIATION_CHANGED, 1700000300, 0},
    {"7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", DB_REASON_SUPERSEDED, 1700000400, 0},
    {"1234", DB_REASON_CESSATION, 2524607999LL, 0},
    {"1235", DB_REASON_HOLD, 2524608000LL, 0},
    {"1236", DB_REASON_PRIVILEGE_WITHDRAWN, 1700000500, 2524608001LL},
    {"1237", DB_REASON_AA_COMPROMISE, 1700000600, 0},
    {"00C0FFEE", DB_REASON_UNSPECIFIED, 1700000700, 1700000000},
};
#define NSAMPLE (sizeof(sample) / sizeof(sample[0]))

static ASN1_INTEGER *serial_of(const char *hex)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    if (BN_hex2bn(&bn, hex) > 0)
        ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    return ai;
}

/* Parses the DER with OpenSSL and checks everything against the inputs. */
static void help_check_parsed(const unsigned char *der, size_t len, const struct test_ca *ca,
                              const struct crl_params *p, const struct db_revoked *e, size_t n)
{
    const unsigned char *q = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);
    STACK_OF(X509_REVOKED) * revs;
    ASN1_INTEGER *num = NULL, *base = NULL;
    AUTHORITY_KEYID *akid = NULL;
    int crit = -1;

    if (crl == NULL || q != der + len) {
        UNIT_FAIL("d2i_X509_CRL failed");
        X509_CRL_free(crl);
        return;
    }
    CHECK(X509_CRL_verify(crl, ca->key) == 1);
    CHECK_INT(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    CHECK(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca->cert)) == 0);
    CHECK_INT(asn1_time_unix(X509_CRL_get0_lastUpdate(crl)), p->this_update);
    CHECK_INT(asn1_time_unix(X509_CRL_get0_nextUpdate(crl)), p->next_update);
    num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
    CHECK(num != NULL && ASN1_INTEGER_get(num) == p->number && crit == 0);
    akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit, NULL);
    CHECK(akid != NULL && akid->keyid != NULL && crit == 0 &&
          (size_t)ASN1_STRING_length(akid->keyid) == ca->ski_len &&
          memcmp(ASN1_STRING_get0_data(akid->keyid), ca->ski, ca->ski_len) == 0);
    base = X509_CRL_get_ext_d2i(crl, NID_delta_crl, &crit, NULL);
    if (p->is_delta)
        CHECK(base != NULL && crit == 1 && ASN1_INTEGER_get(base) == p->base_number);
    else
        CHECK(base == NULL);
    revs = X509_CRL_get_REVOKED(crl);
    CHECK_INT(revs ? sk_X509_REVOKED_num(revs) : 0, n);
    for (size_t i = 0; i < n; i++) {
        ASN1_INTEGER *ser = serial_of(e[i].serial);
        X509_REVOKED *rev = NULL;
        ASN1_ENUMERATED *reason;
        ASN1_GENERALIZEDTIME *inv;
        /* OpenSSL answers 2 for a removeFromCRL entry: independent proof of
         * the reason code. */
        if (ser == NULL ||
            X509_CRL_get0_by_serial(crl, &rev, ser) !=
                (e[i].reason == DB_REASON_REMOVE_FROM_CRL ? 2 : 1) ||
            rev == NULL) {
            UNIT_FAIL("serial %s not found in the CRL", e[i].serial);
            ASN1_INTEGER_free(ser);
            continue;
        }
        CHECK_INT(asn1_time_unix(X509_REVOKED_get0_revocationDate(rev)),
                  e[i].revoked_effective_when);
        reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
        if (e[i].reason == DB_REASON_UNSPECIFIED) {
            if (reason != NULL)
                UNIT_FAIL("serial %s: reasonCode present for unspecified", e[i].serial);
        } else if (reason == NULL || ASN1_ENUMERATED_get(reason) != e[i].reason || crit != 0) {
            UNIT_FAIL("serial %s: reasonCode wrong", e[i].serial);
        }
        inv = X509_REVOKED_get_ext_d2i(rev, NID_invalidity_date, &crit, NULL);
        if (e[i].invalidity_date == 0)
            CHECK(inv == NULL);
        else
            CHECK(inv != NULL && ASN1_STRING_type(inv) == V_ASN1_GENERALIZEDTIME &&
                  asn1_time_unix(inv) == e[i].invalidity_date);
        ASN1_ENUMERATED_free(reason);
        ASN1_GENERALIZEDTIME_free(inv);
        ASN1_INTEGER_free(ser);
    }
    ASN1_INTEGER_free(num);
    ASN1_INTEGER_free(base);
    AUTHORITY_KEYID_free(akid);
    X509_CRL_free(crl);
}

static void help_build_and_check(const char *keytype)
{
    struct test_ca ca;
    struct crl_params p;
    struct crl_output o = CRL_OUTPUT_INIT;
    struct list l = {sample, NSAMPLE, CM_OK};
    struct crl_lint_info info;
    char der_path[300], pem_path[300], ca_path[300], out_path[300], *text = NULL;
    unsigned char md[32];

    if (!ca_make(&ca, keytype)) {
        UNIT_FAIL("%s: cannot make the test CA", keytype);
        ca_free(&ca);
        return;
    }
    params_for(&p, &ca, 7);
    p.last_number = 6;
    p.freshest_url = "http://crl.example.test/delta.crl";
    if (crl_build(&o, &p, list_iter, &l) != CM_OK) {
        UNIT_FAIL("%s: crl_build failed: %s", keytype, cm_err_msg());
        ca_free(&ca);
        return;
    }
    CHECK_INT(o.entries, NSAMPLE);
    CHECK_INT(o.der_len, o.len);
    help_check_parsed(o.buf.data + o.off, o.len, &ca, &p, sample, NSAMPLE);
    CHECK(EVP_Digest(o.buf.data + o.off, o.len, md, NULL, EVP_sha256(), NULL) == 1 &&
          memcmp(md, o.sha256, 32) == 0);
    /* The lint reads what was signed: the TBSCertList is the first element. */
    {
        const unsigned char *q = o.buf.data + o.off;
        struct der_tlv outer, tbs;
        CHECK(der_next(&outer, &q, q + o.len) == 0);
        q = outer.v;
        CHECK(der_next(&tbs, &q, outer.v + outer.len) == 0);
        CHECK_OK(crl_lint(&info, tbs.start, tbs.total, 6));
        CHECK(info.number == 7 && info.is_delta == 0 && info.entries == (int64_t)NSAMPLE &&
              info.this_update == p.this_update && info.next_update == p.next_update);
        CHECK_ERR(crl_lint(&info, tbs.start, tbs.total, 7), CM_ERR_LINT);
        CHECK(has_rule("crl.number.increasing"));
    }

    snprintf(der_path, sizeof(der_path), "%s/%s.crl", tmpdir, keytype);
    snprintf(pem_path, sizeof(pem_path), "%s/%s.crl.pem", tmpdir, keytype);
    snprintf(ca_path, sizeof(ca_path), "%s/%s-ca.pem", tmpdir, keytype);
    snprintf(out_path, sizeof(out_path), "%s/%s.txt", tmpdir, keytype);
    CHECK(write_pem_cert(ca_path, ca.cert));
    CHECK_OK(crl_output_write(&o, der_path, pem_path, 0644));
    CHECK(o.is_pem);
    CHECK_ERR(crl_output_write(&o, der_path, NULL, 0644), CM_ERR_STATE);

    /* The openssl command parses and verifies both files. */
    CHECK_INT(sh("openssl crl -inform DER -in %s -noout -text >%s 2>&1", der_path, out_path), 0);
    text = slurp(out_path);
    CHECK(text != NULL);
    if (text) {
        CHECK(strstr(text, "Version 2") != NULL);
        CHECK(strstr(text, "X509v3 CRL Number:") != NULL);
        CHECK(strstr(text, "Key Compromise") != NULL);
        CHECK(strstr(text, "Certificate Hold") != NULL);
        CHECK(strstr(text, "Invalidity Date:") != NULL);
        CHECK(strstr(text, "Freshest CRL") != NULL);
        CHECK(strstr(text, "http://crl.example.test/delta.crl") != NULL);
        CHECK(strstr(text, "Delta CRL Indicator") == NULL);
        CHECK(strstr(text, "Unspecified") == NULL);
    }
    free(text);
    CHECK_INT(sh("openssl crl -inform DER -in %s -CAfile %s -noout -verify 2>&1 | grep -q "
                 "'verify OK'",
                 der_path, ca_path),
              0);
    CHECK_INT(sh("openssl crl -in %s -CAfile %s -noout -verify 2>&1 | grep -q 'verify OK'",
                 pem_path, ca_path),
              0);
    /* The PEM file holds the same CRL as the DER file. */
    CHECK_INT(sh("openssl crl -in %s -outform DER -out %s.re && cmp -s %s.re %s", pem_path,
                 der_path, der_path, der_path),
              0);
    /* Negative: one flipped bit in the signature and openssl refuses it. */
    {
        unsigned char *d = NULL;
        size_t n = 0;
        char bad[320];
        snprintf(bad, sizeof(bad), "%s.bad", der_path);
        CHECK_OK(fs_read_file(&d, &n, der_path, 1 << 20));
        if (d != NULL && n > 8) {
            d[n - 3] ^= 0x01;
            CHECK_OK(fs_write_atomic(bad, d, n, 0644));
        }
        free(d);
    }
    /* (openssl crl exits 0 on a bad signature: judge by what it prints.) */
    CHECK_INT(sh("openssl crl -inform DER -in %s.bad -CAfile %s -noout -verify 2>&1 | grep -q "
                 "'verify failure'",
                 der_path, ca_path),
              0);
    crl_output_free(&o);
    crl_output_free(&o); /* idempotent */
    ca_free(&ca);
}

TEST(crl_p256)
{
    help_build_and_check("P-256");
}
TEST(crl_p384)
{
    help_build_and_check("P-384");
}
TEST(crl_rsa2048)
{
    help_build_and_check("RSA");
}
TEST(crl_ed25519)
{
    help_build_and_check("ED25519");
}

TEST(crl_signature_algorithms)
{
    static const struct {
        const char *type;
        int nid;
    } t[] = {{"P-256", NID_ecdsa_with_SHA256},
             {"P-384", NID_ecdsa_with_SHA384},
             {"RSA", NID_sha256WithRSAEncryption},
             {"ED25519", NID_ED25519}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct test_ca ca;
        struct crl_params p;
        struct crl_output o = CRL_OUTPUT_INIT;
        struct list l = {sample, 2, CM_OK};
        const unsigned char *q;
        X509_CRL *crl = NULL;
        const X509_ALGOR *alg = NULL;
        const ASN1_OBJECT *obj = NULL;
        int ptype = -1;
        const void *pval;
        CHECK(ca_make(&ca, t[i].type));
        params_for(&p, &ca, 1);
        CHECK_OK(crl_build(&o, &p, list_iter, &l));
        q = o.buf.data + o.off;
        crl = d2i_X509_CRL(NULL, &q, (long)o.len);
        CHECK(crl != NULL);
        if (crl) {
            X509_CRL_get0_signature(crl, NULL, &alg);
            X509_ALGOR_get0(&obj, &ptype, &pval, alg);
            CHECK_INT(OBJ_obj2nid(obj), t[i].nid);
            /* RSA: NULL parameters (RFC 4055 5); ECDSA, Ed25519: absent. */
            CHECK_INT(ptype, strcmp(t[i].type, "RSA") == 0 ? V_ASN1_NULL : V_ASN1_UNDEF);
        }
        X509_CRL_free(crl);
        crl_output_free(&o);
        ca_free(&ca);
    }
    /* Unsupported key type. */
    {
        /* The key layer refuses it before any CRL is built. */
        EVP_PKEY *x448 = EVP_PKEY_Q_keygen(NULL, NULL, "X448");
        cm_key *k = NULL;
        CHECK_ERR(key_from_pkey(&k, x448), CM_ERR_UNSUPPORTED);
        CHECK(k == NULL);
        EVP_PKEY_free(x448);
    }
}

TEST(crl_empty_and_delta)
{
    struct test_ca ca;
    struct crl_params p;
    struct crl_output o = CRL_OUTPUT_INIT;
    struct list none = {NULL, 0, CM_OK};
    static const struct db_revoked delta_e[] = {
        {"1235", DB_REASON_REMOVE_FROM_CRL, 1700001000, 0},
        {"0ABC", DB_REASON_KEY_COMPROMISE, 1700001100, 0},
    };
    struct list dl = {delta_e, 2, CM_OK};
    char path[300], ca_path[300], out_path[300], *text;

    CHECK(ca_make(&ca, "P-256"));
    snprintf(ca_path, sizeof(ca_path), "%s/delta-ca.pem", tmpdir);
    CHECK(write_pem_cert(ca_path, ca.cert));
    /* No revoked certificate: revokedCertificates absent (5.1.2.6). */
    params_for(&p, &ca, 1);
    CHECK_OK(crl_build(&o, &p, list_iter, &none));
    CHECK_INT(o.entries, 0);
    help_check_parsed(o.buf.data + o.off, o.len, &ca, &p, NULL, 0);
    snprintf(path, sizeof(path), "%s/empty.crl", tmpdir);
    CHECK_OK(crl_output_write(&o, path, NULL, 0644));
    CHECK_INT(sh("openssl crl -inform DER -in %s -CAfile %s -noout -verify 2>&1 | grep -q "
                 "'verify OK'",
                 path, ca_path),
              0);
    crl_output_free(&o);

    /* Delta: critical deltaCRLIndicator naming the base; removeFromCRL. */
    params_for(&p, &ca, 9);
    p.is_delta = 1;
    p.base_number = 8;
    p.last_number = 8;
    p.freshest_url = "http://ignored.example/"; /* never in a delta (5.2.6) */
    CHECK_OK(crl_build(&o, &p, list_iter, &dl));
    help_check_parsed(o.buf.data + o.off, o.len, &ca, &p, delta_e, 2);
    snprintf(path, sizeof(path), "%s/delta.crl", tmpdir);
    snprintf(out_path, sizeof(out_path), "%s/delta.txt", tmpdir);
    CHECK_OK(crl_output_write(&o, path, NULL, 0644));
    CHECK_INT(sh("openssl crl -inform DER -in %s -noout -text >%s 2>&1", path, out_path), 0);
    text = slurp(out_path);
    CHECK(text != NULL && strstr(text, "X509v3 Delta CRL Indicator: critical") != NULL &&
          strstr(text, "Remove From CRL") != NULL && strstr(text, "Freshest CRL") == NULL);
    free(text);
    crl_output_free(&o);
    ca_free(&ca);
}

/* openssl verify -crl_check decides revocation with our CRLs, including a
 * delta CRL on top of a full one (-use_deltas). */
TEST(crl_openssl_verify_revocation)
{
    struct test_ca ca;
    EVP_PKEY *lk = gen_key("P-256");
    X509 *revoked = NULL, *good = NULL, *later = NULL;
    struct crl_params p;
    struct crl_output o = CRL_OUTPUT_INIT;
    static const struct db_revoked full_e[] = {{"5EED01", DB_REASON_KEY_COMPROMISE, 0, 0}};
    static const struct db_revoked delta_e[] = {{"5EED03", DB_REASON_SUPERSEDED, 0, 0}};
    struct db_revoked fe = full_e[0], de = delta_e[0];
    struct list fl = {&fe, 1, CM_OK}, dl = {&de, 1, CM_OK};
    char d[300], ca_path[300], full_path[300], delta_path[300], both[300];

    fe.revoked_effective_when = de.revoked_effective_when = (int64_t)time(NULL) - 120;
    CHECK(ca_make(&ca, "P-256"));
    revoked = make_cert(lk, ca.cert, ca.key, "revoked.example", "5EED01", 0);
    good = make_cert(lk, ca.cert, ca.key, "good.example", "5EED02", 0);
    later = make_cert(lk, ca.cert, ca.key, "later.example", "5EED03", 0);
    CHECK(revoked && good && later);
    snprintf(ca_path, sizeof(ca_path), "%s/v-ca.pem", tmpdir);
    snprintf(full_path, sizeof(full_path), "%s/v-full.pem", tmpdir);
    snprintf(delta_path, sizeof(delta_path), "%s/v-delta.pem", tmpdir);
    snprintf(both, sizeof(both), "%s/v-both.pem", tmpdir);
    CHECK(write_pem_cert(ca_path, ca.cert));
    snprintf(d, sizeof(d), "%s/v-revoked.pem", tmpdir);
    CHECK(write_pem_cert(d, revoked));
    snprintf(d, sizeof(d), "%s/v-good.pem", tmpdir);
    CHECK(write_pem_cert(d, good));
    snprintf(d, sizeof(d), "%s/v-later.pem", tmpdir);
    CHECK(write_pem_cert(d, later));

    params_for(&p, &ca, 1);
    /* OpenSSL only looks for deltas when the full CRL (or the certificate)
     * has freshestCRL (5.2.6). */
    p.freshest_url = "http://crl.example.test/delta.crl";
    CHECK_OK(crl_build(&o, &p, list_iter, &fl));
    CHECK_OK(crl_output_write(&o, NULL, full_path, 0644));
    crl_output_free(&o);
    params_for(&p, &ca, 2);
    p.is_delta = 1;
    p.base_number = 1;
    p.last_number = 1;
    CHECK_OK(crl_build(&o, &p, list_iter, &dl));
    CHECK_OK(crl_output_write(&o, NULL, delta_path, 0644));
    crl_output_free(&o);
    CHECK_INT(sh("cat %s %s > %s", full_path, delta_path, both), 0);

    CHECK_INT(sh("cd %s && openssl verify -crl_check -CAfile v-ca.pem -CRLfile v-full.pem "
                 "v-good.pem >/dev/null 2>&1",
                 tmpdir),
              0);
    CHECK_INT(sh("cd %s && openssl verify -crl_check -CAfile v-ca.pem -CRLfile v-full.pem "
                 "v-revoked.pem 2>&1 | grep -q 'certificate revoked'",
                 tmpdir),
              0);
    CHECK(sh("cd %s && openssl verify -crl_check -CAfile v-ca.pem -CRLfile v-full.pem "
             "v-revoked.pem >/dev/null 2>&1",
             tmpdir) != 0);
    /* Only the delta knows about 5EED03. */
    CHECK_INT(sh("cd %s && openssl verify -crl_check -CAfile v-ca.pem -CRLfile v-full.pem "
                 "v-later.pem >/dev/null 2>&1",
                 tmpdir),
              0);
    CHECK_INT(sh("cd %s && openssl verify -crl_check -use_deltas -CAfile v-ca.pem -CRLfile "
                 "v-both.pem v-later.pem 2>&1 | grep -q 'certificate revoked'",
                 tmpdir),
              0);
    X509_free(revoked);
    X509_free(good);
    X509_free(later);
    EVP_PKEY_free(lk);
    ca_free(&ca);
}

/* Lint rules reached through crl_build: each refuses signing, naming itself. */
TEST(crl_build_lint_refusals)
{
    struct test_ca ca;
    struct crl_params p;
    struct crl_output o = CRL_OUTPUT_INIT;
    static const struct db_revoked zero[] = {{"00", 1, 1700000000, 0}};
    static const struct db_revoked long_serial[] = {
        {"010203040506070809101112131415161718192021", 1, 1700000000, 0}};
    static const struct db_revoked remove[] = {{"01", DB_REASON_REMOVE_FROM_CRL, 1700000000, 0}};
    static const struct db_revoked seven[] = {{"01", 7, 1700000000, 0}};
    static const struct db_revoked eleven[] = {{"01", 11, 1700000000, 0}};
    static const unsigned char empty_name[] = {0x30, 0x00};
    struct list l;

    CHECK(ca_make(&ca, "P-256"));
#define REFUSED(list_, rule_)                                                                      \
    do {                                                                                           \
        l.e = (list_);                                                                             \
        l.n = 1;                                                                                   \
        l.fail_at_end = CM_OK;                                                                     \
        CHECK_ERR(crl_build(&o, &p, list_iter, &l), CM_ERR_LINT);                                  \
        if (!has_rule(rule_))                                                                      \
            UNIT_FAIL("expected rule %s, got '%s'", rule_, cm_err_msg());                          \
        CHECK(o.buf.data == NULL);                                                                 \
    } while (0)
    params_for(&p, &ca, 5);
    REFUSED(zero, "crl.entry.serial.positive");
    REFUSED(long_serial, "crl.entry.serial.length");
    REFUSED(remove, "crl.entry.reason.delta");
    REFUSED(seven, "crl.entry.reason.value");
    REFUSED(eleven, "crl.entry.reason.value");
    p.last_number = 5;
    REFUSED(sample, "crl.number.increasing");
    params_for(&p, &ca, 5);
    p.next_update = p.this_update;
    REFUSED(sample, "crl.update.order");
    params_for(&p, &ca, 5);
    p.issuer_der = empty_name;
    p.issuer_len = sizeof(empty_name);
    REFUSED(sample, "crl.issuer");
    params_for(&p, &ca, 5);
    p.aki_keyid_len = 0;
    REFUSED(sample, "crl.ext.aki");
    params_for(&p, &ca, 5);
    p.number = 0;
    REFUSED(sample, "crl.number.positive");
    params_for(&p, &ca, 5);
    p.is_delta = 1;
    p.base_number = 5;
    REFUSED(sample, "crl.delta.base");
    /* removeFromCRL is fine in a delta. */
    params_for(&p, &ca, 6);
    p.is_delta = 1;
    p.base_number = 5;
    l.e = remove;
    l.n = 1;
    CHECK_OK(crl_build(&o, &p, list_iter, &l));
    crl_output_free(&o);
    /* Errors from the iterator come back unchanged; nothing is kept. */
    params_for(&p, &ca, 7);
    l.e = sample;
    l.n = 3;
    l.fail_at_end = CM_ERR_DB;
    CHECK_ERR(crl_build(&o, &p, list_iter, &l), CM_ERR_DB);
    CHECK(o.buf.data == NULL);
    /* Times outside what a Time can hold. */
    params_for(&p, &ca, 7);
    p.next_update = der_unix_from_civil(10000, 1, 1, 0, 0, 0);
    l.fail_at_end = CM_OK;
    CHECK_ERR(crl_build(&o, &p, list_iter, &l), CM_ERR_INVALID);
#undef REFUSED
    ca_free(&ca);
}

/* ---------- lint rules on hand-made TBSCertLists ---------- */

struct knobs {
    int version; /* -1: absent */
    int empty_issuer;
    int this_generalized_2049;
    int bad_time_text;
    int no_next;
    int64_t this_t, next_t;
    int empty_list;
    const char *serial_hex; /* raw INTEGER content in hex, NULL: "01" */
    int reason;             /* -1: none */
    int reason_critical;
    int inv_utctime;
    int unknown_entry_critical;
    int no_exts;
    int no_number, number_critical, dup_number;
    int64_t number;
    int delta_base, delta_critical;
    int freshest;
    int no_aki;
    int unknown_critical;
    int trailing;
};

static void knobs_ok(struct knobs *k)
{
    memset(k, 0, sizeof(*k));
    k->version = 1;
    k->this_t = 1700000000;
    k->next_t = 1700600000;
    k->reason = 1;
    k->number = 10;
}

static cm_err put_ext(cm_buf *b, const char *oid, int critical, const cm_buf *value)
{
    cm_err rc = CM_OK;
    size_t m;
    CM_TRY(der_begin(b, &m, DER_SEQUENCE));
    CM_TRY(der_oid_text(b, oid));
    if (critical)
        CM_TRY(der_boolean(b, 1));
    CM_TRY(der_octet_string(b, value->data, value->len));
    CM_TRY(der_end(b, m));
out:
    return rc;
}

static cm_err build_tbs(cm_buf *b, const struct knobs *k)
{
    cm_err rc = CM_OK;
    cm_buf v = CM_BUF_INIT(4096);
    size_t m0, m1, m2, m3, m4;
    unsigned char ser[64];
    size_t sn = 1;
    static const unsigned char alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                        0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
    static const unsigned char name[] = {0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55,
                                         0x04, 0x03, 0x0c, 0x04, 'T',  'e',  's',  't'};

    ser[0] = 1;
    if (k->serial_hex) {
        sn = strlen(k->serial_hex) / 2;
        for (size_t i = 0; i < sn; i++) {
            unsigned x;
            sscanf(k->serial_hex + 2 * i, "%2x", &x);
            ser[i] = (unsigned char)x;
        }
    }
    CM_TRY(der_begin(b, &m0, DER_SEQUENCE));
    if (k->version >= 0)
        CM_TRY(der_integer(b, k->version));
    CM_TRY(buf_append(b, alg, sizeof(alg)));
    if (k->empty_issuer)
        CM_TRY(der_header(b, DER_SEQUENCE, 0));
    else
        CM_TRY(buf_append(b, name, sizeof(name)));
    if (k->this_generalized_2049)
        CM_TRY(der_generalized_time(b, der_unix_from_civil(2049, 6, 1, 0, 0, 0)));
    else if (k->bad_time_text)
        CM_TRY(der_tlv(b, DER_UTCTIME, "2311141213Z", 11));
    else
        CM_TRY(der_time(b, k->this_t));
    if (!k->no_next)
        CM_TRY(der_time(b, k->next_t));
    CM_TRY(der_begin(b, &m1, DER_SEQUENCE));
    if (!k->empty_list) {
        CM_TRY(der_begin(b, &m2, DER_SEQUENCE));
        CM_TRY(der_tlv(b, DER_INTEGER, ser, sn));
        CM_TRY(der_time(b, 1700000000));
        if (!k->no_exts) {
            CM_TRY(der_begin(b, &m3, DER_SEQUENCE));
            if (k->reason >= 0) {
                buf_reset(&v);
                CM_TRY(der_enumerated(&v, k->reason));
                CM_TRY(put_ext(b, "2.5.29.21", k->reason_critical, &v));
            }
            buf_reset(&v);
            if (k->inv_utctime)
                CM_TRY(der_time(&v, 1690000000));
            else
                CM_TRY(der_generalized_time(&v, 1690000000));
            CM_TRY(put_ext(b, "2.5.29.24", 0, &v));
            if (k->unknown_entry_critical) {
                buf_reset(&v);
                CM_TRY(der_null(&v));
                CM_TRY(put_ext(b, "1.2.3.4", 1, &v));
            }
            CM_TRY(der_end(b, m3));
        }
        CM_TRY(der_end(b, m2));
    }
    CM_TRY(der_end(b, m1));
    CM_TRY(der_begin(b, &m3, DER_CTX_CONS(0)));
    CM_TRY(der_begin(b, &m4, DER_SEQUENCE));
    if (!k->no_aki) {
        static const unsigned char aki[] = {0x30, 0x03, 0x80, 0x01, 0x42};
        buf_reset(&v);
        CM_TRY(buf_append(&v, aki, sizeof(aki)));
        CM_TRY(put_ext(b, "2.5.29.35", 0, &v));
    }
    if (!k->no_number) {
        buf_reset(&v);
        CM_TRY(der_integer(&v, k->number));
        CM_TRY(put_ext(b, "2.5.29.20", k->number_critical, &v));
        if (k->dup_number)
            CM_TRY(put_ext(b, "2.5.29.20", 0, &v));
    }
    if (k->delta_base) {
        buf_reset(&v);
        CM_TRY(der_integer(&v, k->delta_base));
        CM_TRY(put_ext(b, "2.5.29.27", k->delta_critical, &v));
    }
    if (k->freshest) {
        static const unsigned char dp[] = {0x30, 0x0a, 0x30, 0x08, 0xa0, 0x06,
                                           0xa0, 0x04, 0x86, 0x02, 'x',  'y'};
        buf_reset(&v);
        CM_TRY(buf_append(&v, dp, sizeof(dp)));
        CM_TRY(put_ext(b, "2.5.29.46", 0, &v));
    }
    if (k->unknown_critical) {
        buf_reset(&v);
        CM_TRY(der_null(&v));
        CM_TRY(put_ext(b, "1.2.3.4", 1, &v));
    }
    CM_TRY(der_end(b, m4));
    CM_TRY(der_end(b, m3));
    CM_TRY(der_end(b, m0));
    if (k->trailing)
        CM_TRY(der_null(b));
out:
    buf_free(&v);
    return rc;
}

static void help_lint_expect(const struct knobs *k, const char *rule, int line)
{
    cm_buf b = CM_BUF_INIT(1 << 16);
    struct crl_lint_info info;
    cm_err rc;
    if (build_tbs(&b, k) != CM_OK) {
        UNIT_FAIL("line %d: building the TBS failed: %s", line, cm_err_msg());
        buf_free(&b);
        return;
    }
    rc = crl_lint(&info, b.data, b.len, 5);
    if (rule == NULL && rc != CM_OK)
        UNIT_FAIL("line %d: valid TBS refused: %s", line, cm_err_msg());
    else if (rule != NULL && (rc != CM_ERR_LINT || !has_rule(rule)))
        UNIT_FAIL("line %d: expected rule %s, got %d '%s'", line, rule, (int)rc,
                  rc == CM_OK ? "accepted" : cm_err_msg());
    buf_free(&b);
}

TEST(lint_rules)
{
    struct knobs k;
#define EXPECT(field, value, rule)                                                                 \
    do {                                                                                           \
        knobs_ok(&k);                                                                              \
        k.field = (value);                                                                         \
        help_lint_expect(&k, rule, __LINE__);                                                      \
    } while (0)
    knobs_ok(&k);
    help_lint_expect(&k, NULL, __LINE__); /* the control: every rule passes */
    EXPECT(version, -1, "crl.version");
    EXPECT(version, 0, "crl.version");
    EXPECT(version, 2, "crl.version");
    EXPECT(empty_issuer, 1, "crl.issuer");
    EXPECT(this_generalized_2049, 1, "crl.time.encoding");
    EXPECT(bad_time_text, 1, "crl.time.format");
    EXPECT(no_next, 1, "crl.nextupdate");
    EXPECT(next_t, 1700000000, "crl.update.order");
    EXPECT(next_t, 1600000000, "crl.update.order");
    EXPECT(empty_list, 1, "crl.revoked.empty");
    EXPECT(serial_hex, "80", "crl.entry.serial.positive");
    EXPECT(serial_hex, "FF01", "crl.entry.serial.positive");
    EXPECT(serial_hex, "0001", "crl.der"); /* not minimal */
    EXPECT(serial_hex, "00", "crl.entry.serial.positive");
    EXPECT(serial_hex, "0101010101010101010101010101010101010101", NULL);   /* 20 octets */
    EXPECT(serial_hex, "00FF01010101010101010101010101010101010101", NULL); /* 20 + sign */
    EXPECT(serial_hex, "010101010101010101010101010101010101010101", "crl.entry.serial.length");
    EXPECT(reason, 0, "crl.entry.reason.unspecified");
    EXPECT(reason, 7, "crl.entry.reason.value");
    EXPECT(reason, 11, "crl.entry.reason.value");
    EXPECT(reason, 8, "crl.entry.reason.delta");
    EXPECT(reason_critical, 1, "crl.entry.ext.critical");
    EXPECT(unknown_entry_critical, 1, "crl.entry.ext.critical");
    EXPECT(inv_utctime, 1, "crl.entry.invalidity");
    EXPECT(no_number, 1, "crl.number.present");
    EXPECT(number_critical, 1, "crl.number.present");
    EXPECT(dup_number, 1, "crl.ext.duplicate");
    EXPECT(number, 5, "crl.number.increasing");
    EXPECT(number, -3, "crl.number.positive");
    EXPECT(delta_base, 3, "crl.delta.critical");
    EXPECT(no_aki, 1, "crl.ext.aki");
    EXPECT(freshest, 1, NULL);
    EXPECT(unknown_critical, 1, "crl.ext.critical");
    EXPECT(trailing, 1, "crl.der");
    /* Deltas: critical indicator, base below the number; removeFromCRL and
     * no freshestCRL. */
    knobs_ok(&k);
    k.delta_base = 9;
    k.delta_critical = 1;
    k.reason = 8;
    help_lint_expect(&k, NULL, __LINE__);
    k.freshest = 1;
    help_lint_expect(&k, "crl.freshest", __LINE__);
    k.freshest = 0;
    k.delta_base = 10;
    help_lint_expect(&k, "crl.delta.base", __LINE__);
    /* Truncated input at every length is refused, never read past. */
    {
        cm_buf b = CM_BUF_INIT(1 << 16);
        knobs_ok(&k);
        CHECK_OK(build_tbs(&b, &k));
        for (size_t n = 0; n < b.len; n++)
            if (crl_lint(NULL, b.data, n, 0) != CM_ERR_LINT)
                UNIT_FAIL("truncated TBS of %zu bytes accepted", n);
        buf_free(&b);
    }
    /* Random corruption: refused or accepted, never read out of bounds
     * (run under ASan), never another error code. */
    {
        cm_buf b = CM_BUF_INIT(1 << 16);
        unsigned char *m;
        knobs_ok(&k);
        k.delta_base = 9;
        k.delta_critical = 1;
        CHECK_OK(build_tbs(&b, &k));
        m = malloc(b.len);
        for (int i = 0; i < 20000 && m != NULL; i++) {
            unsigned char r[4];
            cm_err rc;
            CHECK(RAND_bytes(r, sizeof(r)) == 1);
            memcpy(m, b.data, b.len);
            m[r[0] % b.len] ^= (unsigned char)(r[1] | 1);
            if (r[2] & 1)
                m[r[3] % b.len] = r[2];
            rc = crl_lint(NULL, m, b.len, 0);
            if (rc != CM_OK && rc != CM_ERR_LINT) {
                UNIT_FAIL("corrupted TBS gave error %d", (int)rc);
                break;
            }
        }
        free(m);
        buf_free(&b);
    }
#undef EXPECT
}

/* A large CRL parses back with OpenSSL with the right entries. */
TEST(crl_large)
{
    struct test_ca ca;
    struct crl_params p;
    struct crl_output o = CRL_OUTPUT_INIT;
    size_t n = 100000;
    struct db_revoked *e = calloc(n, sizeof(*e));
    char(*serials)[41] = calloc(n, 41);
    struct list l = {e, n, CM_OK};
    const unsigned char *q;
    X509_CRL *crl;

    CHECK(ca_make(&ca, "P-256"));
    for (size_t i = 0; i < n; i++) {
        unsigned char r[16];
        CHECK(RAND_bytes(r, sizeof(r)) == 1);
        r[0] |= 1; /* never a leading zero octet: canonical form */
        text_hex(serials[i], r, sizeof(r));
        e[i].serial = serials[i];
        e[i].reason = (int)(i % 11 == 7 ? 1 : i % 11);
        if (e[i].reason == DB_REASON_REMOVE_FROM_CRL)
            e[i].reason = DB_REASON_SUPERSEDED;
        e[i].revoked_effective_when = 1600000000 + (int64_t)i;
        e[i].invalidity_date = i % 3 == 0 ? 1590000000 + (int64_t)i : 0;
    }
    params_for(&p, &ca, 3);
    p.entries_hint = n;
    CHECK_OK(crl_build(&o, &p, list_iter, &l));
    q = o.buf.data + o.off;
    crl = d2i_X509_CRL(NULL, &q, (long)o.len);
    CHECK(crl != NULL && X509_CRL_verify(crl, ca.key) == 1);
    CHECK(crl != NULL && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == (int)n);
    if (crl) {
        /* Spot checks, in the order written. */
        for (size_t i = 0; i < n; i += 9973) {
            X509_REVOKED *rev = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), (int)i);
            ASN1_INTEGER *want = serial_of(serials[i]);
            CHECK(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(rev), want) == 0);
            CHECK(asn1_time_unix(X509_REVOKED_get0_revocationDate(rev)) ==
                  e[i].revoked_effective_when);
            ASN1_INTEGER_free(want);
        }
    }
    X509_CRL_free(crl);
    crl_output_free(&o);
    free(serials);
    free(e);
    ca_free(&ca);
}

int main(void)
{
    unit_suite = "crl";
    snprintf(tmpdir, sizeof(tmpdir), "%s/test_crl.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        printf("not ok - crl: mkdtemp failed\n");
        return 1;
    }
    RUN(der_length_boundaries);
    RUN(der_reserve_and_patch);
    RUN(der_integer_sign_octet);
    RUN(der_oid);
    RUN(der_time_year_rule);
    RUN(der_reader_rejects_non_der);
    RUN(pem_in_place);
    RUN(entry_encoding_bytes);
    RUN(crl_p256);
    RUN(crl_p384);
    RUN(crl_rsa2048);
    RUN(crl_ed25519);
    RUN(crl_signature_algorithms);
    RUN(crl_empty_and_delta);
    RUN(crl_openssl_verify_revocation);
    RUN(crl_build_lint_refusals);
    RUN(lint_rules);
    RUN(crl_large);
    if (getenv("KEEP") == NULL)
        sh("rm -rf %s", tmpdir);
    else
        printf("# kept %s\n", tmpdir);
    return UNIT_DONE();
}
