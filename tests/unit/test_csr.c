/* Unit tests: CSR parsing and verification (src/ca/csr.c) and profiles
 * (src/ca/profile.c). CSRs are made in-process with libcrypto and checked
 * against what libcrypto's own parser says. */
#include "unit.h"

#include "ca/csr.h"
#include "ca/profile.h"
#include "config/config.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static unsigned char *make_csr(size_t *len, EVP_PKEY *k, const char *san, int pem)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    unsigned char *out = NULL;
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"unit.example.org",
                               -1, -1, 0);
    X509_REQ_set_subject_name(r, n);
    X509_REQ_set_pubkey(r, k);
    if (san) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
        X509_REQ_add_extensions(r, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    X509_REQ_sign(r, k, EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256());
    if (pem) {
        BIO *b = BIO_new(BIO_s_mem());
        char *p;
        PEM_write_bio_X509_REQ(b, r);
        *len = (size_t)BIO_get_mem_data(b, &p);
        out = malloc(*len);
        memcpy(out, p, *len);
        BIO_free(b);
    } else {
        int l = i2d_X509_REQ(r, &out);
        *len = (size_t)l;
    }
    X509_NAME_free(n);
    X509_REQ_free(r);
    return out;
}

static void free_buf(unsigned char *p, int pem)
{
    if (pem)
        free(p);
    else
        OPENSSL_free(p);
}

TEST(parse_every_key_type)
{
    const char *types[][2] = {{"EC", "P-256"}, {"EC", "P-384"}, {"RSA", NULL}, {"ED25519", NULL}};
    for (size_t i = 0; i < 4; i++) {
        EVP_PKEY *k = types[i][1] ? EVP_PKEY_Q_keygen(NULL, NULL, types[i][0], types[i][1])
                      : strcmp(types[i][0], "RSA") == 0
                          ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                          : EVP_PKEY_Q_keygen(NULL, NULL, types[i][0]);
        for (int pem = 0; pem <= 1; pem++) {
            size_t len;
            unsigned char *d = make_csr(&len, k, "DNS:unit.example.org", pem);
            struct csr *c = NULL;
            CHECK_OK(csr_parse(&c, d, len, "unit"));
            if (c != NULL) {
                CHECK(EVP_PKEY_eq(c->pkey, k) == 1);
                CHECK(c->exts != NULL && sk_X509_EXTENSION_num(c->exts) == 1);
                CHECK(X509_NAME_entry_count(c->subject) == 1);
            }
            csr_free(c);
            free_buf(d, pem);
        }
        EVP_PKEY_free(k);
    }
}

/* EC keys are made from a per-curve key shared by the process (csr.c):
 * requests on different curves and of other types, interleaved, each get
 * their own key and curve, and a point that is not on its curve is
 * refused before the signature is checked. */
TEST(curves_interleaved)
{
    const char *curve[] = {"P-256", "P-384", NULL, "P-521", "P-256", NULL, "P-384", "P-256"};
    EVP_PKEY *keys[8];
    char name[64];

    for (size_t i = 0; i < 8; i++)
        keys[i] = curve[i] ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve[i])
                           : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < 8; i++) {
            size_t len;
            unsigned char *d = make_csr(&len, keys[i], NULL, 0);
            struct csr *c = NULL;
            CHECK_OK(csr_parse(&c, d, len, "interleaved"));
            CHECK(c != NULL && EVP_PKEY_eq(c->pkey, keys[i]) == 1);
            for (size_t j = 0; c != NULL && j < 8; j++)
                if (j != i)
                    CHECK(EVP_PKEY_eq(c->pkey, keys[j]) != 1);
            if (c != NULL && curve[i] != NULL) {
                CHECK(EVP_PKEY_get_group_name(c->pkey, name, sizeof(name), NULL) == 1);
                CHECK(OBJ_sn2nid(name) == EC_curve_nist2nid(curve[i]));
            }
            csr_free(c);
            OPENSSL_free(d);
        }
    }
    {
        /* The P-256 request with its point's last byte changed: off the
         * curve. */
        unsigned char pub[200];
        size_t pl = 0, len;
        unsigned char *d = make_csr(&len, keys[0], NULL, 0), *at;
        struct csr *c = NULL;
        CHECK(EVP_PKEY_get_octet_string_param(keys[0], "encoded-pub-key", pub, sizeof(pub), &pl) ==
              1);
        at = memmem(d, len, pub, pl);
        CHECK(at != NULL);
        if (at != NULL) {
            at[pl - 1] ^= 0x01;
            CHECK_ERR(csr_parse(&c, d, len, "offcurve"), CM_ERR_INVALID);
            CHECK(strstr(cm_err_msg(), "bad EC public key") != NULL);
            at[pl - 1] ^= 0x01;
        }
        CHECK(c == NULL);
        OPENSSL_free(d);
    }
    for (size_t i = 0; i < 8; i++)
        EVP_PKEY_free(keys[i]);
}

/* csr_parse_scratch (batches): the signature is checked with the thread's
 * scratch key of the curve, the request's own point set into it each time:
 * a request signed by another key than the one it carries fails even right
 * after a request of the signing key; csr_make_key makes each key. */
/* A DER request carrying pub's key, signed by signer with md (NULL:
 * Ed25519); *len its length. */
static unsigned char *make_csr_signed(size_t *len, EVP_PKEY *pub, EVP_PKEY *signer,
                                      const EVP_MD *md)
{
    X509_REQ *r = X509_REQ_new();
    unsigned char *out = NULL;
    int l;
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
                               (const unsigned char *)"unit.example.org", -1, -1, 0);
    X509_REQ_set_pubkey(r, pub);
    X509_REQ_sign(r, signer, md);
    l = i2d_X509_REQ(r, &out);
    *len = l > 0 ? (size_t)l : 0;
    X509_REQ_free(r);
    return out;
}

TEST(scratch_keys)
{
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *k3 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *order[] = {k1, k3, rsa, k2, k1};
    struct csr_scratch sc;
    size_t len;
    unsigned char *d = NULL;
    struct csr *c = NULL;

    memset(&sc, 0, sizeof(sc));
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        d = make_csr(&len, order[i], NULL, 0);
        CHECK_OK(csr_parse_scratch(&c, d, len, "scratch", &sc));
        CHECK(c != NULL && (c->pkey == NULL) == (order[i] != rsa));
        CHECK(c != NULL && csr_make_key(c) == CM_OK && EVP_PKEY_eq(c->pkey, order[i]) == 1);
        csr_free(c);
        c = NULL;
        OPENSSL_free(d);
    }
    {
        /* k2's key in the request, signed by k1 (whose point the scratch
         * key held last). */
        size_t blen = 0;
        unsigned char *bad = make_csr_signed(&blen, k2, k1, EVP_sha256());
        CHECK(bad != NULL && blen > 0);
        CHECK_ERR(csr_parse_scratch(&c, bad, blen, "mismatch", &sc), CM_ERR_INVALID);
        CHECK(strstr(cm_err_msg(), "does not verify") != NULL);
        CHECK(c == NULL);
        OPENSSL_free(bad);
    }
    csr_scratch_clear(&sc);
    csr_scratch_clear(&sc); /* idempotent */
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    EVP_PKEY_free(rsa);
}

/* One scratch parse; 1 when it verified. The request's signature is the
 * last bytes of the DER: flip != 0 changes one of them first. */
static int scratch_ok(struct csr_scratch *sc, EVP_PKEY *pub, EVP_PKEY *signer, const EVP_MD *md,
                      int flip)
{
    size_t len = 0;
    unsigned char *d = make_csr_signed(&len, pub, signer, md);
    struct csr *c = NULL;
    cm_err rc;

    if (d == NULL)
        return -1;
    if (flip)
        d[len - 5] ^= 0x01;
    rc = csr_parse_scratch(&c, d, len, "stale", sc);
    if (rc != CM_OK)
        CHECK(c == NULL && strstr(cm_err_msg(), "stale: ") == cm_err_msg());
    else
        CHECK(c != NULL && csr_make_key(c) == CM_OK && EVP_PKEY_eq(c->pkey, pub) == 1);
    csr_free(c);
    OPENSSL_free(d);
    return rc == CM_OK;
}

/* The scratch's verification context is set up once per curve and sees
 * each request's key (csr.c verify_scratch): in one scratch, A's request
 * verifies, then one carrying B's key but signed by A is refused (a context
 * holding a stale copy of A's key would accept it), then B's own verifies
 * and A's again; a changed signature byte is refused. On every curve the
 * profiles allow, with each digest; RSA and Ed25519 requests in the same
 * scratch keep the general path (checked, a changed signature refused). */
TEST(scratch_stale_key)
{
    const char *curves[] = {"P-256", "P-384", "P-521"};
    const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    struct csr_scratch sc;

    memset(&sc, 0, sizeof(sc));
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
        EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i]);
        for (size_t m = 0; m < 3; m++) {
            CHECK(scratch_ok(&sc, a, a, mds[m], 0) == 1);
            CHECK(sc.verify[i] != NULL); /* the reused context checked it */
            CHECK(scratch_ok(&sc, b, a, mds[m], 0) == 0);
            CHECK(strstr(cm_err_msg(), "does not verify") != NULL);
            CHECK(scratch_ok(&sc, b, b, mds[m], 0) == 1);
            CHECK(scratch_ok(&sc, a, b, mds[m], 0) == 0);
            CHECK(scratch_ok(&sc, a, a, mds[m], 1) == 0);
            CHECK(scratch_ok(&sc, a, a, mds[m], 0) == 1);
            CHECK(scratch_ok(&sc, rsa, rsa, mds[m], 0) == 1);
            CHECK(scratch_ok(&sc, rsa, rsa, mds[m], 1) == 0);
            CHECK(scratch_ok(&sc, ed, ed, NULL, 0) == 1);
            CHECK(scratch_ok(&sc, ed, ed, NULL, 1) == 0);
        }
        /* ecdsa-with-SHA1 is refused on this path too (sigalg_md). */
        CHECK(scratch_ok(&sc, a, a, EVP_sha1(), 0) == 0);
        CHECK(strstr(cm_err_msg(), "weak or unsupported digest") != NULL);
        EVP_PKEY_free(a);
        EVP_PKEY_free(b);
    }
    csr_scratch_clear(&sc);
    CHECK(sc.verify[0] == NULL && sc.mctx == NULL && sc.md[0] == NULL);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
}

TEST(rejects)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    size_t len;
    unsigned char *d = make_csr(&len, k, NULL, 0);
    unsigned char *bad = malloc(len + 2);
    struct csr *c = NULL;

    memcpy(bad, d, len);
    bad[len - 3] ^= 1; /* inside the signature */
    CHECK_ERR(csr_parse(&c, bad, len, "sig"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "sig: ") == cm_err_msg());
    memcpy(bad, d, len);
    bad[len] = 0;
    bad[len + 1] = 0;
    CHECK_ERR(csr_parse(&c, bad, len + 2, "trailing"), CM_ERR_INVALID);
    CHECK_ERR(csr_parse(&c, d, len / 2, "truncated"), CM_ERR_INVALID);
    CHECK_ERR(csr_parse(&c, (const unsigned char *)"", 0, "empty"), CM_ERR_INVALID);
    CHECK_ERR(csr_parse(&c, (const unsigned char *)"hello", 5, "text"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "neither PEM nor DER") != NULL);
    {
        const char *wrong = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        CHECK_ERR(csr_parse(&c, (const unsigned char *)wrong, strlen(wrong), "label"),
                  CM_ERR_INVALID);
        CHECK(strstr(cm_err_msg(), "label") != NULL);
    }
    CHECK(c == NULL);
    free(bad);
    OPENSSL_free(d);
    EVP_PKEY_free(k);
}

TEST(profiles)
{
    cm_config *cfg = NULL;
    struct profile *p = NULL;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *r = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

    CHECK_OK(config_new(&cfg));
    CHECK_OK(profile_load(&p, cfg, "tls-server"));
    CHECK(p != NULL && p->days == 397 && p->require_san && !p->manual);
    CHECK(profile_key_usage(p, k) == KU_DIGITAL_SIGNATURE);
    CHECK(profile_key_usage(p, r) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
    profile_free(p);
    p = NULL;
    CHECK_OK(profile_load(&p, cfg, "smime"));
    CHECK(p != NULL && p->require_email && (p->san_types == PROFILE_SAN_EMAIL));
    CHECK(profile_key_usage(p, k) == (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
    profile_free(p);
    p = NULL;
    CHECK_OK(profile_load(&p, cfg, "subca"));
    CHECK(p != NULL && p->is_ca && p->manual);
    profile_free(p);
    p = NULL;
    CHECK_ERR(profile_load(&p, cfg, "nope"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "tls-server") != NULL);

    /* A configured profile inherits from its base and overrides it. */
    CHECK_OK(config_set(cfg, "profile.mail.base", "tls-server"));
    CHECK_OK(config_set(cfg, "profile.mail.days", "90"));
    CHECK_OK(config_set(cfg, "profile.mail.approval", "manual"));
    CHECK_OK(config_set(cfg, "profile.mail.keys", "rsa:3072"));
    CHECK_OK(profile_load(&p, cfg, "mail"));
    CHECK(p != NULL && p->days == 90 && p->manual && p->require_san);
    CHECK_ERR(profile_check_key(p, k), CM_ERR_POLICY);
    CHECK_ERR(profile_check_key(p, r), CM_ERR_POLICY); /* 2048 < 3072 */
    profile_free(p);
    p = NULL;
    CHECK_OK(config_set(cfg, "profile.orphan.days", "10"));
    CHECK_ERR(profile_load(&p, cfg, "orphan"), CM_ERR_CONFIG);
    config_free(cfg);
    EVP_PKEY_free(k);
    EVP_PKEY_free(r);
}

int main(void)
{
    unit_suite = "csr";
    RUN(parse_every_key_type);
    RUN(curves_interleaved);
    RUN(scratch_keys);
    RUN(scratch_stale_key);
    RUN(rejects);
    RUN(profiles);
    return UNIT_DONE();
}
