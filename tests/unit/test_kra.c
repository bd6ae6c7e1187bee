/* Unit tests of src/kra: the Shamir wrapper (any M of N shares rebuild the
 * secret, M-1 do not, shares are not the secret and differ between two
 * splits: the filler is random), AES-256-GCM sealing (wrong key or
 * associated data, a flipped bit: refused), the record parser's refusals,
 * the split of a file of several records,
 * and a CMS round trip to a freshly made certificate. */
#include "kra/kra.h"
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

TEST(split_combine_all_subsets)
{
    unsigned char secret[KRA_KEY_LEN], out[KRA_KEY_LEN], sh[5][KRA_SHARE_LEN];
    unsigned char pick[5][KRA_SHARE_LEN], xs[5];

    RAND_bytes(secret, sizeof(secret));
    CHECK_OK(kra_split(sh, secret, 5, 3));
    for (unsigned mask = 1; mask < 32; mask++) {
        unsigned k = 0;
        for (unsigned i = 0; i < 5; i++)
            if (mask & (1u << i)) {
                xs[k] = (unsigned char)(i + 1);
                memcpy(pick[k++], sh[i], KRA_SHARE_LEN);
            }
        CHECK_OK(kra_combine(out, xs, (const unsigned char(*)[KRA_SHARE_LEN])pick, k));
        if (k >= 3)
            CHECK(memcmp(out, secret, KRA_KEY_LEN) == 0);
        else
            CHECK(memcmp(out, secret, KRA_KEY_LEN) != 0);
    }
    for (unsigned i = 0; i < 5; i++)
        CHECK(memcmp(sh[i], secret, KRA_KEY_LEN) != 0);
}

TEST(split_is_random)
{
    unsigned char secret[KRA_KEY_LEN] = {0}, a[2][KRA_SHARE_LEN], b[2][KRA_SHARE_LEN];

    CHECK_OK(kra_split(a, secret, 2, 2));
    CHECK_OK(kra_split(b, secret, 2, 2));
    /* Same secret, two splits: different polynomials, different shares. */
    CHECK(memcmp(a[0], b[0], KRA_SHARE_LEN) != 0);
}

TEST(split_bounds)
{
    unsigned char secret[KRA_KEY_LEN] = {0}, sh[KRA_MAX_AGENTS + 1][KRA_SHARE_LEN], out[32];
    unsigned char xs[2] = {1, 1};

    CHECK_ERR(kra_split(sh, secret, 2, 3), CM_ERR_INVALID);
    CHECK_ERR(kra_split(sh, secret, 3, 0), CM_ERR_INVALID);
    CHECK_ERR(kra_split(sh, secret, KRA_MAX_AGENTS + 1, 2), CM_ERR_INVALID);
    CHECK_ERR(kra_combine(out, xs, (const unsigned char(*)[KRA_SHARE_LEN])sh, 2), CM_ERR_INVALID);
    xs[0] = 0;
    CHECK_ERR(kra_combine(out, xs, (const unsigned char(*)[KRA_SHARE_LEN])sh, 1), CM_ERR_INVALID);
}

TEST(seal)
{
    unsigned char key[KRA_KEY_LEN], other[KRA_KEY_LEN], *s = NULL, *o = NULL;
    size_t slen = 0, olen = 0;
    static const unsigned char msg[] = "a PKCS#8 key";

    RAND_bytes(key, sizeof(key));
    memcpy(other, key, sizeof(key));
    other[0] ^= 1;
    CHECK_OK(kra_seal(&s, &slen, key, msg, sizeof(msg), "01AB"));
    CHECK_OK(kra_unseal(&o, &olen, key, s, slen, "01AB"));
    CHECK(olen == sizeof(msg) && memcmp(o, msg, olen) == 0);
    kra_secret_free(o, olen);
    CHECK_ERR(kra_unseal(&o, &olen, other, s, slen, "01AB"), CM_ERR_CRYPTO);
    CHECK_ERR(kra_unseal(&o, &olen, key, s, slen, "01AC"), CM_ERR_CRYPTO);
    s[slen / 2] ^= 1;
    CHECK_ERR(kra_unseal(&o, &olen, key, s, slen, "01AB"), CM_ERR_CRYPTO);
    CHECK_ERR(kra_unseal(&o, &olen, key, s, 10, "01AB"), CM_ERR_INVALID);
    OPENSSL_free(s);
}

static int parses(const char *text)
{
    struct kra_rec r;
    cm_err rc = kra_rec_parse(&r, (const unsigned char *)text, strlen(text), "t");
    kra_rec_clear(&r);
    return rc == CM_OK;
}

TEST(record_parser)
{
    struct kra_rec r;
    static const char good[] = "certmint-kra-share 1\nrequest: ab\nagent: x\nagent: y\n";
    long long v = 0;
    unsigned char *b = NULL;
    size_t n = 0;

    CHECK_OK(kra_rec_parse(&r, (const unsigned char *)good, strlen(good), "t"));
    CHECK_STR(r.kind, "certmint-kra-share 1");
    CHECK_STR(kra_rec_get(&r, "request"), "ab");
    CHECK_STR(kra_rec_get_nth(&r, "agent", 1), "y");
    CHECK(kra_rec_get_nth(&r, "agent", 2) == NULL);
    CHECK_OK(kra_rec_hex(&b, &n, "ab", 4, "request", "t"));
    CHECK(n == 1 && b[0] == 0xab);
    free(b);
    CHECK_ERR(kra_rec_hex(&b, &n, "abc", 4, "request", "t"), CM_ERR_INVALID);
    CHECK_ERR(kra_rec_hex(&b, &n, "zz", 4, "request", "t"), CM_ERR_INVALID);
    CHECK_ERR(kra_rec_int(&v, &r, "request", 0, 10, "t"), CM_ERR_INVALID);
    kra_rec_clear(&r);
    CHECK(!parses(""));
    CHECK(!parses("kind"));                   /* no end of line */
    CHECK(!parses("kind\nkey value\n"));      /* no colon */
    CHECK(!parses("kind\nKey: value\n"));     /* upper case key */
    CHECK(!parses("kind\nkey: va\001lue\n")); /* control character */
    CHECK(!parses("kind\nkey: value"));       /* last line unterminated */
    CHECK(!parses("ki\x80nd\nkey: v\n"));
    CHECK(parses("kind\n\nkey: value\n"));
}

/* A self-signed RSA certificate and its key. */
/* A file of several records (a re-wrap request, an agent's shares): split
 * on the lines that name a kind, never on a field whose key starts the
 * same way, and each part parses alone. */
TEST(record_split)
{
    const char *f = "certmint-kra-rewrap 1\nrequest: 00\ncertmint-x: not a kind\n"
                    "certmint-kra-request 1\nserial: 01\n\n"
                    "certmint-kra-request 1\nserial: 02\n";
    const unsigned char *p = (const unsigned char *)f;
    size_t len = strlen(f), n, off = 0, count = 0;
    struct kra_rec r;

    while (off < len) {
        n = kra_rec_next(p + off, len - off);
        CHECK(n > 0);
        CHECK_OK(kra_rec_parse(&r, p + off, n, "part"));
        CHECK(count != 0 || strcmp(r.kind, "certmint-kra-rewrap 1") == 0);
        CHECK(count != 0 || r.n == 2);
        CHECK(count != 2 || strcmp(kra_rec_get(&r, "serial"), "02") == 0);
        kra_rec_clear(&r);
        off += n;
        count++;
    }
    CHECK(count == 3);
    /* One record: its whole length. */
    CHECK(kra_rec_next(p, 38) == 38);
}

static X509 *make_cert(EVP_PKEY **k)
{
    X509 *x = X509_new();
    *k = EVP_RSA_gen(2048);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"agent", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, *k);
    X509_sign(x, *k, EVP_sha256());
    return x;
}

TEST(cms_round_trip)
{
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    X509 *x1 = make_cert(&k1), *x2 = make_cert(&k2);
    unsigned char *env = NULL, *out = NULL;
    size_t envlen = 0, outlen = 0;
    static const unsigned char msg[] = "share";

    CHECK_OK(kra_envelope_one(&env, &envlen, msg, sizeof(msg), x1));
    CHECK_OK(kra_open(&out, &outlen, env, envlen, x1, k1, "env"));
    CHECK(outlen == sizeof(msg) && memcmp(out, msg, outlen) == 0);
    OPENSSL_free(out);
    CHECK_ERR(kra_open(&out, &outlen, env, envlen, x2, k2, "env"), CM_ERR_CRYPTO);
    env[envlen - 20] ^= 1; /* in the GCM ciphertext or tag */
    CHECK_ERR(kra_open(&out, &outlen, env, envlen, x1, k1, "env"), CM_ERR_CRYPTO);
    CHECK_ERR(kra_open(&out, &outlen, msg, sizeof(msg), x1, k1, "env"), CM_ERR_INVALID);
    OPENSSL_free(env);
    X509_free(x1);
    X509_free(x2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

int main(void)
{
    unit_suite = "kra";
    RUN(split_combine_all_subsets);
    RUN(split_is_random);
    RUN(split_bounds);
    RUN(seal);
    RUN(record_parser);
    RUN(record_split);
    RUN(cms_round_trip);
    return UNIT_DONE();
}
