/* Unit tests for src/ca/lint.c. Good CA and end-entity certificates of every
 * supported key type are built in-process with OpenSSL, pass the lint, and
 * once signed verify with `openssl verify -x509_strict`. Then each rule gets
 * certificates that break it, and the test checks that exactly the expected
 * rules are named in the message. The last test checks that every rule of
 * the table was seen failing and is documented in docs/lint.md. */
#include "ca/lint.h"
#include "ca/name.h"
#include "util/fsutil.h"
#include "unit.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/certmint-test-lint.XXXXXX";

/* ------------------------------------------------------------------------ */
/* Building certificates */

struct keyspec {
    const char *label;
    const char *alg;
    const char *curve;
    size_t bits;
    const char *md;
};

static const struct keyspec keyspecs[] = {
    {"rsa2048", "RSA", NULL, 2048, "SHA256"}, {"p256", "EC", "P-256", 0, "SHA256"},
    {"p384", "EC", "P-384", 0, "SHA384"},     {"p521", "EC", "P-521", 0, "SHA512"},
    {"ed25519", "ED25519", NULL, 0, NULL},
};

static EVP_PKEY *keygen(const struct keyspec *k)
{
    if (strcmp(k->alg, "RSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", k->bits);
    if (strcmp(k->alg, "EC") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", k->curve);
    return EVP_PKEY_Q_keygen(NULL, NULL, k->alg);
}

static EVP_PKEY *rsa_keygen(unsigned bits, unsigned long e)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *k = NULL;
    BIGNUM *be = BN_new();
    BN_set_word(be, e);
    if (ctx != NULL && EVP_PKEY_keygen_init(ctx) > 0 &&
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) > 0 &&
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, be) > 0)
        EVP_PKEY_generate(ctx, &k);
    BN_free(be);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static void set_serial_bytes(X509 *x, const unsigned char *b, size_t n)
{
    BIGNUM *bn = BN_bin2bn(b, (int)n, NULL);
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
}

static void set_random_serial(X509 *x, size_t n, int top_bit)
{
    unsigned char b[64];
    RAND_bytes(b, (int)n);
    b[0] = top_bit ? (b[0] | 0x80) : ((b[0] & 0x7f) | 0x40);
    set_serial_bytes(x, b, n);
}

static void del_ext(X509 *x, int nid)
{
    int loc;
    while ((loc = X509_get_ext_by_NID(x, nid, -1)) >= 0)
        X509_EXTENSION_free(X509_delete_ext(x, loc));
}

/* Adds (replacing any) the extension nid configured as in openssl.cnf. */
static int set_ext(X509 *x, X509 *issuer, int nid, const char *conf)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;
    del_ext(x, nid);
    if (conf == NULL)
        return 1;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, conf);
    if (ext == NULL)
        return 0;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* Adds (replacing any) extension nid with raw DER value bytes. */
static int set_ext_der(X509 *x, int nid, int crit, const unsigned char *der, size_t len)
{
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = 0;
    del_ext(x, nid);
    if (os != NULL && ASN1_OCTET_STRING_set(os, der, (int)len))
        ext = X509_EXTENSION_create_by_NID(NULL, nid, crit, os);
    if (ext != NULL)
        ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    return ok;
}

static int set_crit(X509 *x, int nid, int crit)
{
    int loc = X509_get_ext_by_NID(x, nid, -1);
    return loc >= 0 && X509_EXTENSION_set_critical(X509_get_ext(x, loc), crit);
}

struct certspec {
    const char *subject; /* "" = empty */
    EVP_PKEY *key;
    X509 *issuer; /* NULL = self-signed */
    int ca;
    long days;
};

static X509 *mkcert(const struct certspec *s)
{
    X509 *x = X509_new();
    X509_NAME *n = NULL;
    int ok = 1, rsa = EVP_PKEY_is_a(s->key, "RSA");

    if (x == NULL)
        return NULL;
    if (s->subject[0] != '\0') {
        if (name_parse_dn(&n, s->subject) != CM_OK) {
            X509_free(x);
            return NULL;
        }
    } else {
        n = X509_NAME_new();
    }
    ok &= X509_set_version(x, X509_VERSION_3);
    set_random_serial(x, 16, 0);
    ok &= X509_set_subject_name(x, n);
    ok &= X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer) : n);
    ok &= X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL;
    ok &= X509_time_adj_ex(X509_getm_notAfter(x), (int)s->days, 0, NULL) != NULL;
    ok &= X509_set_pubkey(x, s->key);
    if (s->ca) {
        ok &= set_ext(x, s->issuer, NID_basic_constraints, "critical,CA:TRUE");
        ok &= set_ext(x, s->issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        ok &= set_ext(x, s->issuer, NID_basic_constraints, "critical,CA:FALSE");
        ok &= set_ext(x, s->issuer, NID_key_usage,
                      rsa ? "critical,digitalSignature,keyEncipherment"
                          : "critical,digitalSignature");
        ok &= set_ext(x, s->issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        ok &= set_ext(x, s->issuer, NID_subject_alt_name,
                      "DNS:www.example.com,DNS:example.com,IP:192.0.2.10");
        ok &=
            set_ext(x, s->issuer, NID_crl_distribution_points, "URI:http://crl.example.com/ca.crl");
        ok &=
            set_ext(x, s->issuer, NID_info_access,
                    "caIssuers;URI:http://ca.example.com/ca.crt,OCSP;URI:http://ocsp.example.com/");
    }
    ok &= set_ext(x, s->issuer, NID_subject_key_identifier, "hash");
    ok &= set_ext(x, s->issuer, NID_authority_key_identifier, "keyid:always");
    X509_NAME_free(n);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

#define EE_DN "CN=www.example.com,O=Example Org,C=DE"
#define CA_DN "CN=Example Root CA,O=Example Org,C=DE"

/* A CA and an end entity with the same key type (unsigned). */
struct fx {
    const struct keyspec *ks;
    EVP_PKEY *ca_key, *ee_key;
    X509 *ca, *ee;
    struct certspec ca_spec, ee_spec;
    struct lint_opts ca_opts, ee_opts;
};

static int fx_init(struct fx *f, const struct keyspec *ks)
{
    memset(f, 0, sizeof(*f));
    f->ks = ks;
    f->ca_key = keygen(ks);
    f->ee_key = keygen(ks);
    if (f->ca_key == NULL || f->ee_key == NULL)
        return 0;
    f->ca_spec = (struct certspec){CA_DN, f->ca_key, NULL, 1, 3650};
    f->ca = mkcert(&f->ca_spec);
    if (f->ca == NULL)
        return 0;
    f->ee_spec = (struct certspec){EE_DN, f->ee_key, f->ca, 0, 90};
    f->ee = mkcert(&f->ee_spec);
    f->ca_opts = (struct lint_opts){f->ca_key, ks->md, LINT_KIND_AUTO, NULL, NULL, 0};
    f->ee_opts = (struct lint_opts){f->ca_key, ks->md, LINT_KIND_AUTO, NULL, NULL, 0};
    return f->ee != NULL;
}

static void fx_free(struct fx *f)
{
    X509_free(f->ca);
    X509_free(f->ee);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->ee_key);
    memset(f, 0, sizeof(*f));
}

/* A fresh end entity / CA like the fixture's, to break. (X509_dup cannot
 * copy a certificate whose signature algorithm is not set yet.) */
static X509 *ee_copy(const struct fx *f)
{
    return mkcert(&f->ee_spec);
}

static X509 *ca_copy(const struct fx *f)
{
    return mkcert(&f->ca_spec);
}

static struct fx fx_ec; /* P-256, shared by the per-rule tests */

/* ------------------------------------------------------------------------ */
/* Checking lint results */

#define MAXRULES 64
static char seen_fail[MAXRULES][40];
static size_t nseen;

/* The second pass of every test lints through one memo shared by all
 * calls (lint_cert_memo, as the issuance path does): the good certificates
 * met first fill it, and every planted defect must still be found. */
static struct lint_memo *memo;
/* The third pass gives the lint the certificate's TBSCertificate DER as
 * well (lint_opts.tbs_der, as the issuance path does, key_cert_tbs): every
 * finding must be the same when the DER rules read the extensions there. */
static int with_tbs;

static cm_err lint_run(const X509 *x, const X509 *issuer, const struct lint_opts *o)
{
    static const struct lint_opts defaults = LINT_OPTS_INIT;
    struct lint_opts t = o != NULL ? *o : defaults;
    unsigned char *tbs = NULL;
    int n;
    cm_err rc;

    const X509_ALGOR *alg = X509_get0_tbs_sigalg(x);
    const ASN1_OBJECT *aobj = NULL;

    if (!with_tbs)
        return memo != NULL ? lint_cert_memo(x, issuer, o, memo) : lint_cert(x, issuer, o);
    /* Most test certificates have no signature algorithm yet, which
     * i2d_re_X509_tbs cannot encode: one only while encoding (the DER
     * rules read the extensions alone). */
    int unset;

    X509_ALGOR_get0(&aobj, NULL, NULL, alg);
    unset = aobj == NULL || OBJ_obj2nid(aobj) == NID_undef;
    if (unset)
        X509_ALGOR_set0((X509_ALGOR *)alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL);
    n = i2d_re_X509_tbs((X509 *)x, &tbs);
    if (unset)
        X509_ALGOR_set0((X509_ALGOR *)alg, OBJ_nid2obj(NID_undef), V_ASN1_UNDEF, NULL);
    if (n <= 0)
        return cm_err_set(CM_ERR_CRYPTO, "test: cannot encode the TBSCertificate");
    t.tbs_der = tbs;
    t.tbs_der_len = (size_t)n;
    rc = lint_cert_memo(x, issuer, &t, memo);
    OPENSSL_free(tbs);
    return rc;
}

static void note_seen(const char *r)
{
    size_t i;
    for (i = 0; i < nseen; i++)
        if (strcmp(seen_fail[i], r) == 0)
            return;
    if (nseen < MAXRULES)
        snprintf(seen_fail[nseen++], sizeof(seen_fail[0]), "%s", r);
}

/* Splits "lint: A: why; also: B, C" into names. Returns the count, -1 when
 * the message is not in that form. */
static int msg_rules(const char *msg, char names[][40], int max)
{
    const char *p, *colon, *also = NULL, *q;
    int n = 0;
    if (strncmp(msg, "lint: ", 6) != 0)
        return -1;
    p = msg + 6;
    colon = strchr(p, ':');
    if (colon == NULL || colon - p >= 40)
        return -1;
    snprintf(names[n++], 40, "%.*s", (int)(colon - p), p);
    for (q = strstr(msg, "; also: "); q != NULL; q = strstr(q + 1, "; also: "))
        also = q;
    if (also == NULL)
        return n;
    p = also + 8;
    while (*p && n < max) {
        size_t l = strcspn(p, ",");
        snprintf(names[n++], 40, "%.*s", (int)l, p);
        p += l;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return n;
}

/* lint must fail with exactly the rules in the space-separated list want.
 * Returns 1, or 0 with the reason in err. */
static int expect_rules(char *err, size_t errsz, const X509 *x, const X509 *issuer,
                        const struct lint_opts *o, const char *want)
{
    char names[MAXRULES][40];
    const char *p = want;
    int n, i, nwant = 0, ok = 1;
    cm_err rc = lint_run(x, issuer, o);
    if (rc != CM_ERR_LINT) {
        snprintf(err, errsz, "expected [%s], lint returned %d: %s", want, (int)rc,
                 rc ? cm_err_msg() : "passed");
        return 0;
    }
    n = msg_rules(cm_err_msg(), names, MAXRULES);
    if (n < 0) {
        snprintf(err, errsz, "bad message '%s'", cm_err_msg());
        return 0;
    }
    while (*p != '\0') {
        char tok[40];
        size_t l = strcspn(p, " ");
        int found = 0;
        snprintf(tok, sizeof(tok), "%.*s", (int)l, p);
        p += l;
        while (*p == ' ')
            p++;
        nwant++;
        for (i = 0; i < n; i++)
            found |= strcmp(names[i], tok) == 0;
        if (!found || lint_rule_find(tok) == NULL)
            ok = 0;
        else
            note_seen(tok);
    }
    if (nwant != n)
        ok = 0;
    if (!ok)
        snprintf(err, errsz, "expected [%s], got '%s'", want, cm_err_msg());
    return ok;
}

#define CHECK_RULES(x, issuer, o, want)                                                            \
    do {                                                                                           \
        char err_[1200];                                                                           \
        if (!expect_rules(err_, sizeof(err_), x, issuer, o, want))                                 \
            UNIT_FAIL("%s", err_);                                                                 \
    } while (0)

#define CHECK_LINT_OK(x, issuer, o)                                                                \
    do {                                                                                           \
        cm_err rc_ = lint_run(x, issuer, o);                                                       \
        if (rc_ != CM_OK)                                                                          \
            UNIT_FAIL("lint failed: %s", cm_err_msg());                                            \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Helpers around files and the openssl CLI */

static int write_pem(const char *path, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int ok = 0;
    if (b != NULL && PEM_write_bio_X509(b, x)) {
        len = BIO_get_mem_data(b, &data);
        ok = fs_write_atomic(path, data, (size_t)len, 0644) == CM_OK;
    }
    BIO_free(b);
    return ok;
}

static int sign(X509 *x, EVP_PKEY *k, const char *md)
{
    return X509_sign(x, k, md ? EVP_get_digestbyname(md) : NULL) > 0;
}

/* Runs cmd; returns its exit status and the first line of output. */
static int run(const char *cmd, char *line, size_t linesz)
{
    FILE *f = popen(cmd, "r");
    char buf[1024];
    line[0] = '\0';
    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) != NULL) {
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(line, linesz, "%s", buf);
    }
    while (fgets(buf, sizeof(buf), f) != NULL)
        ;
    return pclose(f);
}

/* ------------------------------------------------------------------------ */
/* Good certificates */

TEST(good_all_key_types)
{
    size_t i;
    for (i = 0; i < sizeof(keyspecs) / sizeof(keyspecs[0]); i++) {
        struct fx f;
        char ca_path[256], ee_path[256], cmd[800], line[512];
        if (!fx_init(&f, &keyspecs[i])) {
            UNIT_FAIL("%s: fixture failed", keyspecs[i].label);
            fx_free(&f);
            continue;
        }
        if (lint_run(f.ca, NULL, &f.ca_opts) != CM_OK)
            UNIT_FAIL("%s CA: %s", keyspecs[i].label, cm_err_msg());
        if (lint_run(f.ee, f.ca, &f.ee_opts) != CM_OK)
            UNIT_FAIL("%s EE: %s", keyspecs[i].label, cm_err_msg());
        /* explicit kinds agree */
        f.ca_opts.kind = LINT_KIND_CA;
        f.ee_opts.kind = LINT_KIND_EE;
        CHECK_LINT_OK(f.ca, NULL, &f.ca_opts);
        CHECK_LINT_OK(f.ee, f.ca, &f.ee_opts);
        /* signed, they still pass (the signature field is now checked) and
         * the independent verifier accepts the chain in strict mode */
        CHECK(sign(f.ca, f.ca_key, f.ks->md) && sign(f.ee, f.ca_key, f.ks->md));
        CHECK_LINT_OK(f.ca, NULL, &f.ca_opts);
        CHECK_LINT_OK(f.ee, f.ca, &f.ee_opts);
        snprintf(ca_path, sizeof(ca_path), "%s/%s-ca.pem", tmpdir, f.ks->label);
        snprintf(ee_path, sizeof(ee_path), "%s/%s-ee.pem", tmpdir, f.ks->label);
        CHECK(write_pem(ca_path, f.ca) && write_pem(ee_path, f.ee));
        snprintf(cmd, sizeof(cmd),
                 "openssl verify -x509_strict -purpose sslserver -CAfile '%s' '%s' 2>&1", ca_path,
                 ee_path);
        if (run(cmd, line, sizeof(line)) != 0 || strstr(line, ": OK") == NULL)
            UNIT_FAIL("%s: openssl verify: %s", f.ks->label, line);
        fx_free(&f);
    }
}

TEST(good_variants)
{
    const struct fx *f = &fx_ec;
    X509 *x;
    struct lint_opts o = f->ee_opts;

    /* no options at all: the issuer certificate's key and no digest; the
     * EC issuer then needs SHA-256, so only sig_alg fails */
    CHECK_RULES(f->ee, f->ca, NULL, "sig_alg");
    o.issuer_key = NULL;
    CHECK_LINT_OK(f->ee, f->ca, &o);

    /* a root without authorityKeyIdentifier */
    x = ca_copy(f);
    del_ext(x, NID_authority_key_identifier);
    CHECK_LINT_OK(x, NULL, &f->ca_opts);
    X509_free(x);

    /* empty subject with a critical SAN */
    x = ee_copy(f);
    {
        X509_NAME *empty = X509_NAME_new();
        X509_set_subject_name(x, empty);
        X509_NAME_free(empty);
    }
    CHECK(set_crit(x, NID_subject_alt_name, 1));
    CHECK_LINT_OK(x, f->ca, &o);
    X509_free(x);

    /* CN in another case, CN as an IP address */
    x = ee_copy(f);
    {
        X509_NAME *n = NULL;
        CHECK_OK(name_parse_dn(&n, "CN=WWW.Example.COM"));
        X509_set_subject_name(x, n);
        CHECK_LINT_OK(x, f->ca, &o);
        X509_NAME_free(n);
        CHECK_OK(name_parse_dn(&n, "CN=192.0.2.10"));
        X509_set_subject_name(x, n);
        CHECK_LINT_OK(x, f->ca, &o);
        X509_NAME_free(n);
    }
    X509_free(x);

    /* no EKU: none of the serverAuth rules apply */
    x = ee_copy(f);
    del_ext(x, NID_ext_key_usage);
    X509_time_adj_ex(X509_getm_notAfter(x), 3000, 0, NULL);
    CHECK_LINT_OK(x, f->ca, &o);
    X509_free(x);

    /* a CA valid into 2050+ encodes that as GeneralizedTime */
    x = ca_copy(f);
    CHECK(ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "20510101000000Z"));
    CHECK_INT(ASN1_STRING_type(X509_get0_notAfter(x)), V_ASN1_GENERALIZEDTIME);
    CHECK_LINT_OK(x, NULL, &f->ca_opts);
    X509_free(x);

    /* a subordinate CA with pathLenConstraint */
    x = ca_copy(f);
    X509_set_issuer_name(x, X509_get_subject_name(f->ca));
    CHECK(set_ext(x, f->ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    CHECK(set_ext(x, f->ca, NID_authority_key_identifier, "keyid:always"));
    X509_time_adj_ex(X509_getm_notAfter(x), 365, 0, NULL);
    CHECK_LINT_OK(x, f->ca, &f->ca_opts);
    X509_free(x);
}

/* ------------------------------------------------------------------------ */
/* One test per rule (or group of close rules) */

TEST(rule_cert_version)
{
    X509 *x = ee_copy(&fx_ec);
    X509_set_version(x, X509_VERSION_1);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "cert_version");
    X509_free(x);
}

TEST(rule_serial)
{
    X509 *x = ee_copy(&fx_ec);
    unsigned char b[32];
    BIGNUM *bn;
    ASN1_INTEGER *ai;

    /* negative, 16 octets */
    RAND_bytes(b, 16);
    b[0] |= 0x40;
    bn = BN_bin2bn(b, 16, NULL);
    BN_set_negative(bn, 1);
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "serial_positive");

    /* zero */
    ai = ASN1_INTEGER_new();
    ASN1_INTEGER_set(ai, 0);
    X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "serial_positive serial_entropy");

    /* 20 octets pass; 21 fail, also when the 21st is the sign octet */
    set_random_serial(x, 20, 0);
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    set_random_serial(x, 21, 0);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "serial_length");
    set_random_serial(x, 20, 1);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "serial_length");

    /* 9 octets pass (8 random bytes with the sign octet); 8 fail */
    set_random_serial(x, 8, 1);
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    set_random_serial(x, 9, 0);
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    set_random_serial(x, 8, 0);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "serial_entropy");

    /* a superfluous leading zero octet */
    memset(b, 0, sizeof(b));
    RAND_bytes(b + 1, 15);
    b[1] &= 0x7f;
    ai = ASN1_INTEGER_new();
    ASN1_STRING_set(ai, b, 16);
    X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "serial_der");

    /* all-zero octets: zero and not minimal */
    memset(b, 0, sizeof(b));
    ai = ASN1_INTEGER_new();
    ASN1_STRING_set(ai, b, 16);
    X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "serial_positive serial_der");
    X509_free(x);
}

/* DER length octets. */
static size_t der_len(unsigned char *out, size_t n)
{
    if (n < 0x80) {
        out[0] = (unsigned char)n;
        return 1;
    }
    if (n < 0x100) {
        out[0] = 0x81;
        out[1] = (unsigned char)n;
        return 2;
    }
    out[0] = 0x82;
    out[1] = (unsigned char)(n >> 8);
    out[2] = (unsigned char)n;
    return 3;
}

/* The certificate with ins inserted into the TBSCertificate before its
 * extensions ([3]); lengths re-encoded. The signature no longer matches,
 * which the lint does not look at. */
static X509 *der_insert_before_exts(X509 *x, const unsigned char *ins, size_t inslen)
{
    unsigned char *der = NULL, *out = NULL, *tbs = NULL;
    const unsigned char *p, *q, *tc, *e;
    long clen, tlen, len;
    int tag, cls, n = i2d_X509(x, &der);
    size_t tbsn = 0, outn = 0, hl;
    unsigned char hdr[4];
    X509 *res = NULL;

    if (n <= 0)
        return NULL;
    p = der;
    ASN1_get_object(&p, &clen, &tag, &cls, n); /* Certificate */
    q = p;
    ASN1_get_object(&q, &tlen, &tag, &cls, clen); /* TBSCertificate */
    tc = q;
    /* find [3] */
    for (e = tc; e < tc + tlen;) {
        const unsigned char *h = e;
        ASN1_get_object(&h, &len, &tag, &cls, tc + tlen - e);
        if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 3)
            break;
        e = h + len;
    }
    tbs = malloc((size_t)tlen + inslen + 8);
    out = malloc((size_t)n + inslen + 16);
    if (tbs == NULL || out == NULL)
        goto done;
    tbs[0] = 0x30;
    hl = der_len(tbs + 1, (size_t)tlen + inslen);
    tbsn = 1 + hl;
    memcpy(tbs + tbsn, tc, (size_t)(e - tc));
    tbsn += (size_t)(e - tc);
    memcpy(tbs + tbsn, ins, inslen);
    tbsn += inslen;
    memcpy(tbs + tbsn, e, (size_t)(tc + tlen - e));
    tbsn += (size_t)(tc + tlen - e);
    /* Certificate = SEQ { tbs', rest } */
    {
        const unsigned char *rest = tc + tlen;
        size_t restn = (size_t)(p + clen - rest);
        out[0] = 0x30;
        hl = der_len(hdr, tbsn + restn);
        memcpy(out + 1, hdr, hl);
        outn = 1 + hl;
        memcpy(out + outn, tbs, tbsn);
        outn += tbsn;
        memcpy(out + outn, rest, restn);
        outn += restn;
    }
    p = out;
    res = d2i_X509(NULL, &p, (long)outn);
done:
    free(tbs);
    free(out);
    OPENSSL_free(der);
    return res;
}

TEST(rule_unique_ids)
{
    static const unsigned char iuid[] = {0x81, 0x02, 0x00, 0xAA}; /* [1] BIT STRING */
    X509 *x = ee_copy(&fx_ec), *y;
    CHECK(sign(x, fx_ec.ca_key, "SHA256"));
    y = der_insert_before_exts(x, iuid, sizeof(iuid));
    CHECK(y != NULL);
    if (y != NULL) {
        const ASN1_BIT_STRING *i = NULL, *s = NULL;
        X509_get0_uids(y, &i, &s);
        CHECK(i != NULL);
        CHECK_RULES(y, fx_ec.ca, &fx_ec.ee_opts, "unique_ids");
    }
    X509_free(y);
    X509_free(x);
}

TEST(rule_validity)
{
    X509 *x = ee_copy(&fx_ec), *ca2;
    ASN1_GENERALIZEDTIME *g = NULL;
    time_t now = time(NULL);
    struct tm tm;
    char s[32];

    /* GeneralizedTime for a date before 2050 */
    g = ASN1_TIME_to_generalizedtime(X509_get0_notAfter(fx_ec.ee), NULL);
    CHECK(g != NULL && X509_set1_notAfter(x, g));
    ASN1_GENERALIZEDTIME_free(g);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "validity_encoding");

    /* UTCTime without seconds */
    X509_free(x);
    x = ee_copy(&fx_ec);
    now -= 3600;
    gmtime_r(&now, &tm);
    /* UTCTime wants two-digit years */
    snprintf(s, sizeof(s), "%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min);
    CHECK(ASN1_STRING_set(X509_getm_notBefore(x), s, -1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "validity_encoding");
    /* with a time zone offset instead of Z */
    snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02d+0000", tm.tm_year % 100, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    CHECK(ASN1_STRING_set(X509_getm_notBefore(x), s, -1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "validity_encoding");
    /* a 13-character UTCTime that is not a date */
    CHECK(ASN1_STRING_set(X509_getm_notBefore(x), "261399000000Z", -1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "validity_encoding validity_order server_validity");

    /* notBefore == notAfter */
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(X509_set1_notAfter(x, X509_get0_notBefore(x)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "validity_order");
    /* notAfter before notBefore */
    X509_gmtime_adj(X509_getm_notAfter(x), -7200);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "validity_order");

    /* outliving the issuer */
    X509_free(x);
    x = ee_copy(&fx_ec);
    ca2 = ca_copy(&fx_ec);
    X509_time_adj_ex(X509_getm_notAfter(ca2), 30, 0, NULL);
    CHECK_RULES(x, ca2, &fx_ec.ee_opts, "validity_issuer");
    X509_time_adj_ex(X509_getm_notAfter(ca2), 90, 3600, NULL);
    CHECK_LINT_OK(x, ca2, &fx_ec.ee_opts);
    X509_free(ca2);
    X509_free(x);
}

TEST(rule_names)
{
    X509 *x = ee_copy(&fx_ec);
    X509_NAME *n = NULL, *empty = X509_NAME_new();

    CHECK_OK(name_parse_dn(&n, "CN=Other CA"));
    X509_set_issuer_name(x, n);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "issuer_name");
    /* self-signed: issuer must be the own subject */
    X509_free(x);
    x = ca_copy(&fx_ec);
    X509_set_issuer_name(x, n);
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "issuer_name");

    /* empty subject of a CA */
    X509_set_subject_name(x, empty);
    X509_set_issuer_name(x, empty);
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "subject_empty");
    /* empty subject of an end entity with a non-critical SAN */
    X509_free(x);
    x = ee_copy(&fx_ec);
    X509_set_subject_name(x, empty);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_empty san_critical");
    /* ...and without any SAN */
    del_ext(x, NID_subject_alt_name);
    del_ext(x, NID_ext_key_usage);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_empty");
    X509_free(x);
    X509_NAME_free(n);
    X509_NAME_free(empty);
}

/* Adds one raw attribute (bytes as they are, of ASN.1 type type) to x's
 * subject. */
static int add_subject_raw(X509 *x, int nid, int type, const char *v, int len)
{
    X509_NAME *n = X509_get_subject_name(x);
    return X509_NAME_add_entry_by_NID(n, nid, type, (const unsigned char *)v, len, -1, 0);
}

TEST(rule_subject_attrs)
{
    X509 *x;
    char big[300];

    memset(big, 'o', sizeof(big));
    /* One rule per fault: type, empty, charset, length, value. */
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_organizationalUnitName, V_ASN1_BMPSTRING, "\0a", 2));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_type");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_pkcs9_unstructuredName, V_ASN1_UTF8STRING, "x", 1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_type");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_organizationalUnitName, V_ASN1_UTF8STRING, "", 0));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_empty");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_organizationalUnitName, V_ASN1_UTF8STRING, "a\r\nb", -1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_charset");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_localityName, V_ASN1_UTF8STRING, "M\xc2\x9b", -1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_charset");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_organizationalUnitName, V_ASN1_UTF8STRING, big, 65));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_length");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_localityName, V_ASN1_UTF8STRING, big, 128));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    CHECK(add_subject_raw(x, NID_stateOrProvinceName, V_ASN1_UTF8STRING, big, 129));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_length");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_jurisdictionCountryName, V_ASN1_PRINTABLESTRING, "de", 2));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_value");
    X509_free(x);
    /* Several faults: each rule names its own attribute. */
    x = ee_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_organizationalUnitName, V_ASN1_UTF8STRING, "", 0));
    CHECK(add_subject_raw(x, NID_localityName, V_ASN1_UTF8STRING, "\x1b", 1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "subject_attr_empty subject_attr_charset");
    X509_free(x);
    /* The CA certificate is checked the same way. */
    x = ca_copy(&fx_ec);
    CHECK(add_subject_raw(x, NID_organizationalUnitName, V_ASN1_UTF8STRING, big, 100));
    X509_set_issuer_name(x, X509_get_subject_name(x));
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "subject_attr_length");
    X509_free(x);
}

/* Sets certificatePolicies to the OIDs in conf ("2.23.140.1.2.1, ..."). */
static int set_policies(X509 *x, const char *conf)
{
    CERTIFICATEPOLICIES *pols = sk_POLICYINFO_new_null();
    char buf[256], *save = NULL, *tok;
    int ok = pols != NULL;

    snprintf(buf, sizeof(buf), "%s", conf);
    for (tok = strtok_r(buf, ", ", &save); ok && tok; tok = strtok_r(NULL, ", ", &save)) {
        POLICYINFO *pi = POLICYINFO_new();
        ok = pi != NULL;
        if (ok) {
            ASN1_OBJECT_free(pi->policyid);
            pi->policyid = OBJ_txt2obj(tok, 1);
            ok = pi->policyid != NULL && sk_POLICYINFO_push(pols, pi);
        }
        if (!ok)
            POLICYINFO_free(pi);
    }
    del_ext(x, NID_certificate_policies);
    ok = ok && X509_add1_ext_i2d(x, NID_certificate_policies, pols, 0, X509V3_ADD_DEFAULT) == 1;
    CERTIFICATEPOLICIES_free(pols);
    return ok;
}

TEST(rule_policies)
{
    X509 *x = ee_copy(&fx_ec);
    X509_NAME *n = NULL;

    /* A serverAuth certificate with the DV OID and only CN (and C). */
    CHECK_OK(name_parse_dn(&n, "CN=www.example.com,C=DE"));
    X509_set_subject_name(x, n);
    X509_NAME_free(n);
    n = NULL;
    CHECK(set_policies(x, "2.23.140.1.2.1"));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    CHECK(set_policies(x, "2.23.140.1.2.1,1.3.6.1.4.1.99999.1"));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    CHECK(set_policies(x, "2.23.140.1.2.1,2.23.140.1.2.1"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "policy_oids");
    /* OV needs O and C. */
    CHECK(set_policies(x, "2.23.140.1.2.2"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "policy_subject");
    X509_free(x);
    /* The fixture's subject has O: DV refuses it, OV takes it. */
    x = ee_copy(&fx_ec);
    CHECK(set_policies(x, "2.23.140.1.2.1"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "policy_subject");
    CHECK(set_policies(x, "2.23.140.1.2.2"));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    /* S/MIME OIDs need emailProtection; TLS OIDs need serverAuth. */
    CHECK(set_policies(x, "2.23.140.1.5.1.2"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "policy_scope");
    CHECK(set_ext(x, NULL, NID_ext_key_usage, "clientAuth,emailProtection"));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    CHECK(set_policies(x, "2.23.140.1.2.2"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "policy_scope");
    CHECK(set_policies(x, "2.5.29.32.0"));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    X509_free(x);
    /* A CA certificate may carry any of them. */
    x = ca_copy(&fx_ec);
    CHECK(set_policies(x, "2.23.140.1.2.1,2.23.140.1.5.1.2"));
    CHECK_LINT_OK(x, NULL, &fx_ec.ca_opts);
    X509_free(x);
    /* An empty certificatePolicies. */
    x = ee_copy(&fx_ec);
    {
        static const unsigned char empty_seq[] = {0x30, 0x00};
        CHECK(set_ext_der(x, NID_certificate_policies, 0, empty_seq, sizeof(empty_seq)));
    }
    {
        cm_err rc = lint_run(x, fx_ec.ca, &fx_ec.ee_opts);
        CHECK_INT(rc, CM_ERR_LINT);
        CHECK(strstr(cm_err_msg(), "policy_oids") != NULL);
    }
    X509_free(x);
}

TEST(rule_ext_unique)
{
    X509 *x = ee_copy(&fx_ec);
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    X509V3_set_ctx(&ctx, fx_ec.ca, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_crl_distribution_points,
                               "URI:http://crl2.example.com/ca.crl");
    CHECK(ext != NULL && X509_add_ext(x, ext, -1));
    X509_EXTENSION_free(ext);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ext_unique");
    X509_free(x);
}

TEST(rule_der)
{
    /* basicConstraints { cA FALSE } with the DEFAULT encoded */
    static const unsigned char bc_false[] = {0x30, 0x03, 0x01, 0x01, 0x00};
    static const unsigned char seq_false[] = {0x30, 0x03, 0x01, 0x01, 0x00};
    static const unsigned char seq_true1[] = {0x30, 0x03, 0x01, 0x01, 0x01};
    /* Extension { 1.3.6.1.4.1.55555.1, critical BOOLEAN 0x01, NULL } */
    static const unsigned char ext_crit1[] = {0x30, 0x13, 0x06, 0x0a, 0x2b, 0x06, 0x01,
                                              0x04, 0x01, 0x83, 0xb2, 0x03, 0x01, 0x00,
                                              0x01, 0x01, 0x01, 0x04, 0x02, 0x05, 0x00};
    /* keyUsage digitalSignature with 0 unused bits declared (DER: 7) */
    static const unsigned char ku_nonder[] = {0x03, 0x02, 0x00, 0x80};
    static const unsigned char ku_junkbits[] = {0x03, 0x02, 0x07, 0x81};
    X509 *x = ee_copy(&fx_ec);
    /* Made by the first pass, found by the second. */
    int nid = OBJ_txt2nid("1.3.6.1.4.1.55555.1");
    unsigned char san[128];
    unsigned char *sp = san;
    GENERAL_NAMES *gns = NULL;
    int sanlen;

    if (nid == NID_undef)
        nid = OBJ_create("1.3.6.1.4.1.55555.1", "cmTestExt", "certmint test extension");
    CHECK(nid != NID_undef);
    CHECK(set_ext_der(x, NID_basic_constraints, 1, bc_false, sizeof(bc_false)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "der_default_value ext_der");
    X509_free(x);
    /* in an extension OpenSSL does not know: only the DER rule */
    x = ee_copy(&fx_ec);
    CHECK(set_ext_der(x, nid, 0, seq_false, sizeof(seq_false)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "der_default_value");
    CHECK(set_ext_der(x, nid, 0, seq_true1, sizeof(seq_true1)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "der_boolean");
    del_ext(x, nid);
    /* an Extension whose critical BOOLEAN is 0x01 (decoded from BER) */
    {
        const unsigned char *p = ext_crit1;
        X509_EXTENSION *e = d2i_X509_EXTENSION(NULL, &p, sizeof(ext_crit1));
        CHECK(e != NULL && X509_add_ext(x, e, -1));
        X509_EXTENSION_free(e);
        CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "der_boolean");
    }
    X509_free(x);

    /* a known extension that is BER, not DER */
    x = ee_copy(&fx_ec);
    CHECK(set_ext_der(x, NID_key_usage, 1, ku_nonder, sizeof(ku_nonder)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ext_der");
    /* unused bits that are not zero */
    CHECK(set_ext_der(x, NID_key_usage, 1, ku_junkbits, sizeof(ku_junkbits)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ext_der");
    X509_free(x);
    /* trailing bytes after the value */
    x = ee_copy(&fx_ec);
    gns = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    sanlen = i2d_GENERAL_NAMES(gns, &sp);
    CHECK(sanlen > 0 && sanlen + 2 < (int)sizeof(san));
    san[sanlen] = 0x05;
    san[sanlen + 1] = 0x00;
    CHECK(set_ext_der(x, NID_subject_alt_name, 0, san, (size_t)sanlen + 2));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ext_der");
    GENERAL_NAMES_free(gns);
    X509_free(x);
}

TEST(rule_key_identifiers)
{
    static const unsigned char other_aki[] = {0x30, 0x06, 0x80, 0x04, 1, 2, 3, 4};
    X509 *x = ee_copy(&fx_ec);

    del_ext(x, NID_subject_key_identifier);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ski_missing");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(set_crit(x, NID_subject_key_identifier, 1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ski_critical");
    X509_free(x);

    x = ee_copy(&fx_ec);
    del_ext(x, NID_authority_key_identifier);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "aki_missing");
    /* issuer and serial only, no keyIdentifier */
    CHECK(set_ext(x, fx_ec.ca, NID_authority_key_identifier, "issuer:always"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "aki_missing");
    X509_free(x);
    x = ee_copy(&fx_ec);
    CHECK(set_crit(x, NID_authority_key_identifier, 1));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "aki_critical");
    X509_free(x);

    /* keyIdentifier that is not the issuer's SKI */
    x = ee_copy(&fx_ec);
    CHECK(set_ext_der(x, NID_authority_key_identifier, 0, other_aki, sizeof(other_aki)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "aki_keyid");
    X509_free(x);
    /* a self-signed root whose AKI is not its own SKI */
    x = ca_copy(&fx_ec);
    CHECK(set_ext_der(x, NID_authority_key_identifier, 0, other_aki, sizeof(other_aki)));
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "aki_keyid");
    X509_free(x);
    /* an issuer without SKI */
    {
        X509 *ca2 = ca_copy(&fx_ec);
        del_ext(ca2, NID_subject_key_identifier);
        CHECK_RULES(fx_ec.ee, ca2, &fx_ec.ee_opts, "aki_keyid");
        X509_free(ca2);
    }
}

TEST(rule_basic_constraints)
{
    struct lint_opts ca_kind = fx_ec.ca_opts, ee_kind = fx_ec.ee_opts;
    X509 *x = ca_copy(&fx_ec);
    ca_kind.kind = LINT_KIND_CA;
    ee_kind.kind = LINT_KIND_EE;

    /* a CA (keyCertSign) without basicConstraints */
    del_ext(x, NID_basic_constraints);
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "bc_ca");
    /* meant as a CA, cA FALSE */
    CHECK(set_ext(x, NULL, NID_basic_constraints, "critical,CA:FALSE"));
    CHECK_RULES(x, NULL, &ca_kind, "bc_ca");
    /* not critical */
    CHECK(set_ext(x, NULL, NID_basic_constraints, "CA:TRUE"));
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "bc_critical");
    X509_free(x);

    /* meant as an end entity, cA TRUE */
    x = ee_copy(&fx_ec);
    CHECK(set_ext(x, fx_ec.ca, NID_basic_constraints, "critical,CA:TRUE"));
    CHECK_RULES(x, fx_ec.ca, &ee_kind, "bc_ee");
    /* pathLenConstraint without cA */
    CHECK(set_ext(x, fx_ec.ca, NID_basic_constraints, "critical,CA:FALSE,pathlen:0"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "bc_pathlen");
    X509_free(x);
}

TEST(rule_key_usage)
{
    static const unsigned char ku_empty[] = {0x03, 0x01, 0x00};
    struct lint_opts ee_kind = fx_ec.ee_opts;
    X509 *x = ee_copy(&fx_ec);
    ee_kind.kind = LINT_KIND_EE;

    del_ext(x, NID_key_usage);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ku_missing");
    CHECK(set_ext_der(x, NID_key_usage, 1, ku_empty, sizeof(ku_empty)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ku_missing");

    /* end entity with cRLSign or keyCertSign */
    CHECK(set_ext(x, fx_ec.ca, NID_key_usage, "critical,digitalSignature,cRLSign"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ku_ee");
    CHECK(set_ext(x, fx_ec.ca, NID_key_usage, "critical,digitalSignature,keyCertSign"));
    CHECK_RULES(x, fx_ec.ca, &ee_kind, "ku_ee");
    /* ...which, left to inference, makes it a CA without basicConstraints cA
     * (and without cRLSign) */
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "bc_ca ku_ca");

    /* key type: EC with keyEncipherment */
    CHECK(set_ext(x, fx_ec.ca, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ku_key_type");
    CHECK(set_ext(x, fx_ec.ca, NID_key_usage, "critical,digitalSignature,encipherOnly"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ku_key_type");
    X509_free(x);

    /* CA without cRLSign, CA with non-critical keyUsage */
    x = ca_copy(&fx_ec);
    CHECK(set_ext(x, NULL, NID_key_usage, "critical,keyCertSign"));
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "ku_ca");
    CHECK(set_ext(x, NULL, NID_key_usage, "keyCertSign,cRLSign"));
    CHECK_RULES(x, NULL, &fx_ec.ca_opts, "ku_ca");
    X509_free(x);
}

TEST(rule_key_usage_rsa_ed25519)
{
    struct certspec cs;
    EVP_PKEY *rsa = keygen(&keyspecs[0]), *ed = keygen(&keyspecs[4]);
    X509 *x;

    cs = (struct certspec){EE_DN, rsa, fx_ec.ca, 0, 90};
    x = mkcert(&cs);
    CHECK(x != NULL);
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    CHECK(set_ext(x, fx_ec.ca, NID_key_usage, "critical,digitalSignature,keyAgreement"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ku_key_type");
    X509_free(x);
    cs = (struct certspec){EE_DN, ed, fx_ec.ca, 0, 90};
    x = mkcert(&cs);
    CHECK(x != NULL);
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    CHECK(set_ext(x, fx_ec.ca, NID_key_usage, "critical,digitalSignature,keyAgreement"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "ku_key_type");
    X509_free(x);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
}

TEST(rule_eku_server)
{
    X509 *x = ee_copy(&fx_ec);
    X509_NAME *n = NULL;

    CHECK(set_ext(x, fx_ec.ca, NID_ext_key_usage, "serverAuth,anyExtendedKeyUsage"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "eku_any");
    X509_free(x);

    /* serverAuth with only an email SAN (and no CN) */
    x = ee_copy(&fx_ec);
    CHECK_OK(name_parse_dn(&n, "O=Example Org"));
    X509_set_subject_name(x, n);
    X509_NAME_free(n);
    n = NULL;
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name, "email:a@example.com"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "server_san");
    /* without SAN at all */
    del_ext(x, NID_subject_alt_name);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "server_san");
    X509_free(x);

    /* CN not among the SANs; two CNs */
    x = ee_copy(&fx_ec);
    CHECK_OK(name_parse_dn(&n, "CN=other.example.com,O=Example Org"));
    X509_set_subject_name(x, n);
    X509_NAME_free(n);
    n = NULL;
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "server_cn");
    CHECK_OK(name_parse_dn(&n, "/CN=example.com/CN=www.example.com"));
    X509_set_subject_name(x, n);
    X509_NAME_free(n);
    n = NULL;
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "server_cn");
    /* clientAuth only: the CN rule does not apply */
    CHECK(set_ext(x, fx_ec.ca, NID_ext_key_usage, "clientAuth"));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    X509_free(x);

    /* 398 days pass, one second more fails (BR counts both ends) */
    x = ee_copy(&fx_ec);
    {
        time_t t0 = time(NULL) - 3600;
        X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &t0);
        X509_time_adj_ex(X509_getm_notAfter(x), 398, -1, &t0);
        CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
        X509_time_adj_ex(X509_getm_notAfter(x), 398, 0, &t0);
        CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "server_validity");
        X509_time_adj_ex(X509_getm_notAfter(x), 825, 0, &t0);
        CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "server_validity");
    }
    X509_free(x);
}

TEST(rule_san)
{
    static const unsigned char empty_seq[] = {0x30, 0x00};
    X509 *x = ee_copy(&fx_ec);
    X509_NAME *n = NULL;

    /* present but empty (clientAuth so the serverAuth rules stay out) */
    CHECK(set_ext(x, fx_ec.ca, NID_ext_key_usage, "clientAuth"));
    CHECK(set_ext_der(x, NID_subject_alt_name, 0, empty_seq, sizeof(empty_seq)));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_empty");
    X509_free(x);

    x = ee_copy(&fx_ec);
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name, "DNS:www.example.com,DNS:-bad.example.com"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_invalid");
    if (strstr(cm_err_msg(), "entry 2: DNS name '-bad.example.com'") == NULL)
        UNIT_FAIL("message: %s", cm_err_msg());
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name, "DNS:www.example.com,DNS:*.*.example.com"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_invalid");
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name, "DNS:www.example.com,email:bad@"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_invalid");
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name, "DNS:www.example.com,URI:urn:x:y"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_invalid");
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name, "DNS:www.example.com,RID:1.2.3"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_invalid");
    /* raw UTF-8 in a dNSName, which OpenSSL's config parser accepts */
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name,
                  "DNS:www.example.com,DNS:b\xC3\xBC"
                  "cher.example"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_invalid");

    /* critical SAN with a non-empty subject */
    CHECK(set_ext(x, fx_ec.ca, NID_subject_alt_name, "critical,DNS:www.example.com"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "san_critical");
    X509_free(x);
    X509_NAME_free(n);
}

static X509 *ee_with_key(EVP_PKEY *k)
{
    struct certspec cs = {EE_DN, k, fx_ec.ca, 0, 90};
    return mkcert(&cs);
}

TEST(rule_key_type)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    X509 *x = k ? ee_with_key(k) : NULL;
    CHECK(x != NULL);
    if (x != NULL)
        CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "key_type");
    X509_free(x);
    EVP_PKEY_free(k);
}

TEST(rule_key_rsa)
{
    EVP_PKEY *k1024 = rsa_keygen(1024, 65537), *k2052 = rsa_keygen(2052, 65537),
             *ke3 = rsa_keygen(2048, 3), *k3072 = rsa_keygen(3072, 65537);
    X509 *x;

    x = ee_with_key(k1024);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "key_rsa_size");
    X509_free(x);
    x = ee_with_key(k2052);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "key_rsa_size");
    X509_free(x);
    x = ee_with_key(k3072);
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    X509_free(x);
    x = ee_with_key(ke3);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "key_rsa_exponent");
    X509_free(x);
    EVP_PKEY_free(k1024);
    EVP_PKEY_free(k2052);
    EVP_PKEY_free(ke3);
    EVP_PKEY_free(k3072);
}

TEST(rule_key_ec_curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    EVP_PKEY *kc = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ke = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    X509 *x;

    x = ee_with_key(k);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "key_ec_curve");
    X509_free(x);
    /* compressed point */
    CHECK(EVP_PKEY_set_utf8_string_param(kc, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                         "compressed"));
    x = ee_with_key(kc);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "key_ec_curve");
    X509_free(x);
    /* explicit curve parameters */
    CHECK(EVP_PKEY_set_utf8_string_param(ke, OSSL_PKEY_PARAM_EC_ENCODING, "explicit"));
    x = ee_with_key(ke);
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "key_ec_curve");
    X509_free(x);
    EVP_PKEY_free(k);
    EVP_PKEY_free(kc);
    EVP_PKEY_free(ke);
}

TEST(rule_sig)
{
    struct fx f384, fed;
    struct lint_opts o;
    X509 *x;
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    CHECK(fx_init(&f384, &keyspecs[2]) && fx_init(&fed, &keyspecs[4]));
    /* P-384 signs with SHA-384, not SHA-256 or SHA-512 */
    o = f384.ee_opts;
    o.md_name = "SHA256";
    CHECK_RULES(f384.ee, f384.ca, &o, "sig_alg");
    o.md_name = "SHA512";
    CHECK_RULES(f384.ee, f384.ca, &o, "sig_alg");
    /* P-256 with SHA-384 */
    o = fx_ec.ee_opts;
    o.md_name = "SHA384";
    CHECK_RULES(fx_ec.ee, fx_ec.ca, &o, "sig_alg");
    /* Ed25519 with a digest */
    o = fed.ee_opts;
    o.md_name = "SHA256";
    CHECK_RULES(fed.ee, fed.ca, &o, "sig_alg");
    /* unknown digest */
    o = fx_ec.ee_opts;
    o.md_name = "NOPE-1";
    CHECK_RULES(fx_ec.ee, fx_ec.ca, &o, "sig_alg");

    /* RSA: SHA-1 and SHA-224 refused, SHA-384 fine */
    {
        struct fx frsa;
        CHECK(fx_init(&frsa, &keyspecs[0]));
        o = frsa.ee_opts;
        o.md_name = "SHA1";
        CHECK_RULES(frsa.ee, frsa.ca, &o, "sig_alg");
        o.md_name = "SHA224";
        CHECK_RULES(frsa.ee, frsa.ca, &o, "sig_alg");
        o.md_name = "SHA384";
        CHECK_LINT_OK(frsa.ee, frsa.ca, &o);
        /* already signed with SHA-256, to be linted as SHA-384: the
         * signature field disagrees */
        x = ee_copy(&frsa);
        CHECK(sign(x, frsa.ca_key, "SHA256"));
        CHECK_RULES(x, frsa.ca, &o, "sig_alg");
        o.md_name = "SHA256";
        CHECK_LINT_OK(x, frsa.ca, &o);
        X509_free(x);
        fx_free(&frsa);
    }

    /* the signing key is not the issuer's */
    o = fx_ec.ee_opts;
    o.issuer_key = other;
    CHECK_RULES(fx_ec.ee, fx_ec.ca, &o, "sig_key");
    /* self-signed, signed by another key */
    o = fx_ec.ca_opts;
    o.issuer_key = other;
    CHECK_RULES(fx_ec.ca, NULL, &o, "sig_key");

    fx_free(&f384);
    fx_free(&fed);
    EVP_PKEY_free(other);
}

TEST(rule_cdp_aia)
{
    X509 *x = ee_copy(&fx_ec);

    CHECK(set_ext(x, fx_ec.ca, NID_crl_distribution_points, "URI:ftp://crl.example.com/ca.crl"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "cdp_uri");
    CHECK(set_ext(x, fx_ec.ca, NID_crl_distribution_points, "URI:http://crl/ca.crl"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "cdp_uri");
    CHECK(set_ext(x, fx_ec.ca, NID_crl_distribution_points,
                  "critical,URI:http://crl.example.com/ca.crl"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "cdp_uri");
    CHECK(set_ext(x, fx_ec.ca, NID_crl_distribution_points,
                  "URI:ldap://ldap.example.com/cn=CA?certificateRevocationList"));
    CHECK_LINT_OK(x, fx_ec.ca, &fx_ec.ee_opts);
    X509_free(x);

    x = ee_copy(&fx_ec);
    CHECK(set_ext(x, fx_ec.ca, NID_info_access, "caIssuers;URI:ldap:///cn=ca"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "aia_uri");
    CHECK(set_ext(x, fx_ec.ca, NID_info_access, "OCSP;email:ocsp@example.com"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "aia_uri");
    CHECK(set_ext(x, fx_ec.ca, NID_info_access, "critical,OCSP;URI:http://ocsp.example.com/"));
    CHECK_RULES(x, fx_ec.ca, &fx_ec.ee_opts, "aia_uri");
    X509_free(x);
}

/* ------------------------------------------------------------------------ */
/* The table itself */

TEST(rule_table)
{
    size_t i, j, n = lint_rule_count();
    unsigned char *doc = NULL;
    size_t doclen = 0;

    CHECK(n > 30);
    CHECK(lint_rule_at(n) == NULL);
    CHECK(lint_rule_find("no_such_rule") == NULL);
    CHECK_OK(fs_read_file(&doc, &doclen, "docs/lint.md", 1 << 20));
    for (i = 0; i < n; i++) {
        const struct lint_rule *r = lint_rule_at(i);
        char want[64];
        CHECK(r != NULL && r->name[0] && r->what[0] && r->cite[0]);
        CHECK(lint_rule_find(r->name) == r);
        for (j = 0; j < i; j++)
            CHECK(strcmp(lint_rule_at(j)->name, r->name) != 0);
        snprintf(want, sizeof(want), "`%s`", r->name);
        if (doc != NULL && strstr((const char *)doc, want) == NULL)
            UNIT_FAIL("rule %s is not documented in docs/lint.md", r->name);
    }
    free(doc);
}

/* The memo remembers an extension by its type, criticality, octets and
 * encoded length: the same octets with the critical FALSE encoded (a
 * DEFAULT value, 3 octets more) are not taken for the clean one met
 * before, and a value changed in place is decoded again. */
TEST(memo_exact)
{
    struct lint_memo *m = lint_memo_new();
    X509 *x = ee_copy(&fx_ec);
    X509_EXTENSION *good, *e = NULL;
    const ASN1_OCTET_STRING *val;
    unsigned char der[512];
    const unsigned char *p = der;
    int loc, n;

    CHECK(m != NULL && x != NULL);
    CHECK_OK(lint_cert_memo(x, fx_ec.ca, &fx_ec.ee_opts, m));
    CHECK_OK(lint_cert_memo(x, fx_ec.ca, &fx_ec.ee_opts, m));
    loc = X509_get_ext_by_NID(x, NID_ext_key_usage, -1);
    CHECK(loc >= 0);
    good = X509_get_ext(x, loc);
    CHECK(!X509_EXTENSION_get_critical(good));
    val = X509_EXTENSION_get_data(good);
    n = ASN1_STRING_length(val);
    CHECK(n > 0 && n < 120);
    /* Extension { id-ce-extKeyUsage, critical FALSE, extnValue } */
    der[0] = 0x30;
    der[1] = (unsigned char)(5 + 3 + 2 + n);
    memcpy(der + 2, "\x06\x03\x55\x1d\x25\x01\x01\x00\x04", 9);
    der[11] = (unsigned char)n;
    memcpy(der + 12, ASN1_STRING_get0_data(val), (size_t)n);
    e = d2i_X509_EXTENSION(NULL, &p, 12 + n);
    CHECK(e != NULL && X509_delete_ext(x, loc) == good);
    X509_EXTENSION_free(good);
    CHECK(e != NULL && X509_add_ext(x, e, loc));
    X509_EXTENSION_free(e);
    if (lint_cert_memo(x, fx_ec.ca, &fx_ec.ee_opts, m) != CM_ERR_LINT ||
        strstr(cm_err_msg(), "der_default_value") == NULL)
        UNIT_FAIL("explicit critical FALSE not found with a memo: %s", cm_err_msg());
    X509_free(x);
    /* the same type and criticality with other octets: decoded afresh
     * (anyExtendedKeyUsage instead of serverAuth, clientAuth) */
    x = ee_copy(&fx_ec);
    CHECK(set_ext_der(x, NID_ext_key_usage, 0,
                      (const unsigned char *)"\x30\x06\x06\x04\x55\x1d\x25\x00", 8));
    if (lint_cert_memo(x, fx_ec.ca, &fx_ec.ee_opts, m) != CM_ERR_LINT ||
        strstr(cm_err_msg(), "eku_any") == NULL)
        UNIT_FAIL("anyExtendedKeyUsage not found with a memo: %s", cm_err_msg());
    X509_free(x);
    lint_memo_free(m);
}

/* Runs last: every rule was seen failing in some test above. */
TEST(every_rule_tested)
{
    size_t i, j, n = lint_rule_count();
    for (i = 0; i < n; i++) {
        const char *name = lint_rule_at(i)->name;
        int found = 0;
        for (j = 0; j < nseen; j++)
            found |= strcmp(seen_fail[j], name) == 0;
        if (!found)
            UNIT_FAIL("no test makes rule %s fail", name);
    }
}

int main(void)
{
    unit_suite = "lint";
    if (mkdtemp(tmpdir) == NULL || !fx_init(&fx_ec, &keyspecs[1])) {
        printf("not ok - lint: setup failed\n");
        return 1;
    }
    for (int pass = 0; pass < 3; pass++) {
        if (pass >= 1) {
            unit_suite = pass == 1 ? "lint (memo)" : "lint (memo, tbs_der)";
            with_tbs = pass == 2;
            lint_memo_free(memo);
            memo = lint_memo_new();
            nseen = 0;
            if (memo == NULL) {
                printf("not ok - lint: lint_memo_new failed\n");
                return 1;
            }
        }
        RUN(good_all_key_types);
        RUN(good_variants);
        RUN(rule_cert_version);
        RUN(rule_serial);
        RUN(rule_unique_ids);
        RUN(rule_validity);
        RUN(rule_names);
        RUN(rule_subject_attrs);
        RUN(rule_policies);
        RUN(rule_ext_unique);
        RUN(rule_der);
        RUN(rule_key_identifiers);
        RUN(rule_basic_constraints);
        RUN(rule_key_usage);
        RUN(rule_key_usage_rsa_ed25519);
        RUN(rule_eku_server);
        RUN(rule_san);
        RUN(rule_key_type);
        RUN(rule_key_rsa);
        RUN(rule_key_ec_curve);
        RUN(rule_sig);
        RUN(rule_cdp_aia);
        RUN(rule_table);
        RUN(memo_exact);
        RUN(every_rule_tested);
    }
    lint_memo_free(memo);
    fx_free(&fx_ec);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", tmpdir);
    }
    return UNIT_DONE();
}
