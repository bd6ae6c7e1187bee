/* tbs_encode (src/key/tbs.c) against libcrypto's own encoder,
 * i2d_re_X509_tbs(), byte for byte: keys of every type certmint certifies
 * (EC parameters an OID, RSA's NULL, Ed25519's absent), set from an
 * EVP_PKEY or from the bits as issuance does, versions 1 and 3, serials
 * with the top bit set, zero and 20 octets, UTCTime and GeneralizedTime,
 * names built in memory and empty, extensions critical or not, none at
 * all. The issued certificates themselves are compared with an independent
 * reference in test_issue_build. */
#include "unit.h"

#include "key/tbs.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

/* ecdsa-with-SHA256, as the CA's key writes it. */
static const unsigned char sigalg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                       0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

struct variant {
    const char *what;
    const char *key_type; /* EVP_PKEY_Q_keygen */
    const char *key_arg;  /* curve, or NULL (RSA: 2048 bits) */
    int from_bits;        /* the key set as issue.c sets it (set0_param) */
    long version;
    unsigned char serial[21];
    int serial_len;
    int64_t not_after; /* seconds after now */
    int empty_subject;
    int extensions; /* add_profile_exts: 0 none, 1 tls-server, 2 subca, 3 smime */
};

static EVP_PKEY *keygen(const struct variant *v)
{
    if (strcmp(v->key_type, "RSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (v->key_arg != NULL)
        return EVP_PKEY_Q_keygen(NULL, NULL, v->key_type, v->key_arg);
    return EVP_PKEY_Q_keygen(NULL, NULL, v->key_type);
}

/* The public key from its bits and algorithm, as issue.c sign_pubkey. */
static int set_key_bits(X509 *x, EVP_PKEY *k)
{
    X509_PUBKEY *tmp = NULL;
    ASN1_OBJECT *oid = NULL;
    const unsigned char *bits = NULL;
    int bits_len = 0, ptype = V_ASN1_UNDEF, ok = 0;
    X509_ALGOR *alg = NULL;
    const void *pval = NULL;
    const ASN1_OBJECT *aoid = NULL;
    void *pdup = NULL;
    unsigned char *bdup = NULL;

    if (!X509_PUBKEY_set(&tmp, k) || !X509_PUBKEY_get0_param(&oid, &bits, &bits_len, &alg, tmp))
        goto out;
    X509_ALGOR_get0(&aoid, &ptype, &pval, alg);
    if (ptype == V_ASN1_OBJECT)
        pdup = OBJ_dup(pval);
    else if (ptype == V_ASN1_SEQUENCE)
        pdup = ASN1_STRING_dup(pval);
    bdup = OPENSSL_memdup(bits, (size_t)bits_len);
    ok = bdup != NULL && X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_dup(aoid), ptype, pdup,
                                                bdup, bits_len);
out:
    X509_PUBKEY_free(tmp);
    return ok;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;
    CONF *conf = NCONF_new(NULL); /* certificatePolicies needs one, empty */
    int ok;

    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509V3_set_nconf(&v3, conf);
    e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    NCONF_free(conf);
    return ok;
}

/* The extensions of a profile's certificates, in issue.c's order. */
static int add_profile_exts(X509 *x, int set, int empty_subject)
{
    switch (set) {
    case 1: /* tls-server */
        return add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
               add_ext(x, NID_key_usage, "critical,digitalSignature") &&
               add_ext(x, NID_ext_key_usage, "serverAuth") &&
               add_ext(x, NID_subject_key_identifier, "hash") &&
               add_ext(x, NID_authority_key_identifier, "keyid:always") &&
               add_ext(x, NID_subject_alt_name,
                       empty_subject ? "critical,DNS:host.example" : "DNS:host.example") &&
               add_ext(x, NID_crl_distribution_points, "URI:http://crl.example/a.crl") &&
               add_ext(x, NID_certificate_policies, "2.23.140.1.2.1");
    case 2: /* subca */
        return add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
               add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign") &&
               add_ext(x, NID_subject_key_identifier, "hash") &&
               add_ext(x, NID_authority_key_identifier, "keyid:always") &&
               add_ext(x, NID_info_access,
                       "OCSP;URI:http://ocsp.example/,caIssuers;URI:http://ca.example/ca.crt") &&
               add_ext(x, NID_certificate_policies, "2.5.29.32.0");
    case 3: /* smime */
        return add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
               add_ext(x, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
               add_ext(x, NID_ext_key_usage, "emailProtection") &&
               add_ext(x, NID_subject_key_identifier, "hash") &&
               add_ext(x, NID_subject_alt_name, "email:user@example.org") &&
               add_ext(x, NID_certificate_policies, "2.23.140.1.5.1.2");
    default:
        return 1;
    }
}

static X509 *build(const struct variant *v)
{
    X509 *x = X509_new();
    EVP_PKEY *k = keygen(v);
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    X509_NAME *issuer = X509_NAME_new(), *subject = X509_NAME_new();
    X509_ALGOR *tbs_alg;
    const unsigned char *p = sigalg;
    int ok = x != NULL && k != NULL && sn != NULL && issuer != NULL && subject != NULL;

    ok = ok && X509_set_version(x, v->version) && ASN1_STRING_set(sn, v->serial, v->serial_len) &&
         X509_set_serialNumber(x, sn);
    ok = ok &&
         X509_NAME_add_entry_by_txt(issuer, "C", MBSTRING_ASC, (const unsigned char *)"DE", -1, -1,
                                    0) &&
         X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)"Test CA \xc3\xa4", -1, -1, 0) &&
         X509_set_issuer_name(x, issuer);
    if (!v->empty_subject)
        ok = ok && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                              (const unsigned char *)"host.example", -1, -1, 0);
    ok = ok && X509_set_subject_name(x, subject);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -300) &&
         X509_time_adj_ex(X509_getm_notAfter(x), 0, (long)v->not_after, NULL);
    ok = ok && (v->from_bits ? set_key_bits(x, k) : X509_set_pubkey(x, k));
    ok = ok && add_profile_exts(x, v->extensions, v->empty_subject);
    tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
    ok = ok && d2i_X509_ALGOR(&tbs_alg, &p, (long)sizeof(sigalg)) != NULL;
    ASN1_INTEGER_free(sn);
    X509_NAME_free(issuer);
    X509_NAME_free(subject);
    EVP_PKEY_free(k);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static void compare(const struct variant *v)
{
    X509 *x = build(v);
    cm_buf b = CM_BUF_INIT(1 << 20);
    unsigned char *ref = NULL;
    int reflen = -1;

    if (x == NULL) {
        UNIT_FAIL("%s: cannot build the certificate", v->what);
        return;
    }
    CHECK_OK(tbs_encode(&b, x, sigalg, sizeof(sigalg)));
    reflen = i2d_re_X509_tbs(x, &ref);
    if (reflen <= 0 || (size_t)reflen != b.len || memcmp(ref, b.data, b.len) != 0)
        UNIT_FAIL("%s: tbs_encode wrote %zu octets that differ from i2d_re_X509_tbs's %d", v->what,
                  b.len, reflen);
    OPENSSL_free(ref);
    buf_free(&b);
    X509_free(x);
}

TEST(same_as_libcrypto)
{
    static const struct variant vs[] = {
        {"P-256 from bits", "EC", "P-256", 1, 2, {0x7f, 1, 2, 3, 4, 5, 6, 7, 8}, 9, 86400, 0, 1},
        {"P-256 from key", "EC", "P-256", 0, 2, {0x80, 1, 2, 3, 4, 5, 6, 7, 8}, 9, 86400, 0, 1},
        {"P-384, top bit",
         "EC",
         "P-384",
         1,
         2,
         {0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19},
         20,
         86400,
         0,
         1},
        {"P-521, 2050", "EC", "P-521", 1, 2, {0x01}, 1, 30LL * 365 * 86400, 0, 1},
        {"RSA from bits", "RSA", NULL, 1, 2, {0x12, 0x34}, 2, 86400, 0, 1},
        {"RSA from key, v1", "RSA", NULL, 0, 0, {0x12, 0x34}, 2, 86400, 0, 0},
        {"Ed25519, empty subject", "ED25519", NULL, 1, 2, {0x55}, 1, 86400, 1, 1},
        {"Ed25519, v3 without extensions", "ED25519", NULL, 0, 2, {0}, 0, 86400, 0, 0},
        {"P-256, v2", "EC", "P-256", 1, 1, {0x42}, 1, 86400, 0, 0},
        {"P-384, subca", "EC", "P-384", 1, 2, {0x42, 0}, 2, 5 * 365 * 86400LL, 0, 2},
        {"RSA, subca", "RSA", NULL, 0, 2, {0x99, 0x98}, 2, 86400, 0, 2},
        {"P-256, smime", "EC", "P-256", 1, 2, {0x42, 0}, 2, 86400, 0, 3},
        {"RSA, smime", "RSA", NULL, 1, 2, {0x42, 0}, 2, 86400, 1, 3},
    };
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
        compare(&vs[i]);
}

TEST(negative_serial_left_to_libcrypto)
{
    struct variant v = {"negative", "EC", "P-256", 1, 2, {0x05}, 1, 86400, 0, 1};
    X509 *x = build(&v);
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    cm_buf b = CM_BUF_INIT(1 << 20);

    CHECK(x != NULL && sn != NULL && ASN1_INTEGER_set(sn, -5) && X509_set_serialNumber(x, sn));
    CHECK(buf_append(&b, "ab", 2) == CM_OK);
    if (x != NULL)
        CHECK_INT(tbs_encode(&b, x, sigalg, sizeof(sigalg)), CM_ERR_UNSUPPORTED);
    CHECK_INT(b.len, 2); /* nothing left behind */
    buf_free(&b);
    ASN1_INTEGER_free(sn);
    X509_free(x);
}

int main(void)
{
    unit_suite = "tbs";
    RUN(same_as_libcrypto);
    RUN(negative_serial_left_to_libcrypto);
    return UNIT_DONE();
}
