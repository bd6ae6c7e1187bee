/* Unit tests: the PKCS#11 URI parser (RFC 7512) and the key ops registry
 * with the file backend (signatures through key_sign verify, certificates
 * and requests signed through key_sign_cert / key_sign_req verify, and so
 * do those of a worker's handle, key_worker_open). */
#include "unit.h"
#include "key/key.h"
#include "key/keystore.h"
#include "key/p11uri.h"
#include "util/sha256.h"

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TEST(uri_parse)
{
    struct p11_uri u;
    CHECK_OK(p11_uri_parse(&u, "pkcs11:token=certmint;object=root-ca?module-path=/usr/lib/"
                               "softhsm/libsofthsm2.so&pin-source=file:/etc/pin"));
    CHECK(u.has_token && u.has_object && !u.has_id);
    CHECK_STR(u.token, "certmint");
    CHECK_STR(u.object, "root-ca");
    CHECK_STR(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
    CHECK_STR(u.pin_source, "/etc/pin");
    /* Percent-decoding (RFC 7512 2.3 / RFC 3986 2.1), a binary id, the
     * scheme in any case, file:// and a bare path for pin-source. */
    CHECK_OK(p11_uri_parse(&u, "PKCS11:token=My%20Token;id=%00%ff%41;type=private"
                               "?pin-source=file:///run/p%69n"));
    CHECK_STR(u.token, "My Token");
    CHECK_INT(u.id_len, 3);
    CHECK(u.id[0] == 0x00 && u.id[1] == 0xff && u.id[2] == 'A');
    CHECK_STR(u.pin_source, "/run/pin");
    CHECK_OK(p11_uri_parse(&u, "pkcs11:object=a%3bb?pin-source=/abs/pin"));
    CHECK_STR(u.object, "a;b");
    CHECK_STR(u.pin_source, "/abs/pin");
    CHECK_OK(p11_uri_parse(&u, "pkcs11:"));
    CHECK(!u.has_token && !u.has_object && u.module_path[0] == '\0');
}

TEST(uri_rejects)
{
    struct p11_uri u;
    static const char *bad[] = {
        "pkcs12:token=a",
        "pkcs11:token=a?pin-value=1234", /* a PIN never in a URI */
        "pkcs11:token=a;token=b",        /* twice */
        "pkcs11:object=a?module-path=/x&module-path=/y",
        "pkcs11:token=", /* empty */
        "pkcs11:token",  /* no '=' */
        "pkcs11:=x",
        "pkcs11:object=%zz", /* bad escape */
        "pkcs11:object=%4",
        "pkcs11:object=a%00b",                  /* NUL in a label */
        "pkcs11:type=cert",                     /* the CA key is private */
        "pkcs11:slot-id=1",                     /* not supported: named */
        "pkcs11:object=a?pin-source=relative",  /* not absolute */
        "pkcs11:object=a?pin-source=|/bin/cat", /* no commands */
        "pkcs11:object=a?module-name=softhsm2",
        "pkcs11:object=a#frag",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (p11_uri_parse(&u, bad[i]) != CM_ERR_INVALID) {
            UNIT_FAIL("accepted: %s", bad[i]);
        }
    }
    CHECK_ERR(p11_uri_parse(&u, "pkcs11:token=a?pin-value=1234"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "pin-value is refused") != NULL);
    {
        char longv[P11_LABEL_MAX + 32];
        char uri[sizeof(longv) + 16];
        memset(longv, 'a', sizeof(longv) - 1);
        longv[sizeof(longv) - 1] = '\0';
        snprintf(uri, sizeof(uri), "pkcs11:object=%s", longv);
        CHECK_ERR(p11_uri_parse(&u, uri), CM_ERR_INVALID);
    }
}

TEST(registry_dispatch)
{
    CHECK(key_ref_is_uri("pkcs11:token=a;object=b"));
    CHECK(!key_ref_is_uri("/home/ca/private/ca.key"));
    CHECK(!key_ref_is_uri("ec:p256"));
}

/* Every key type signs through the ops table with the algorithm X.509
 * expects, and the signed certificate and request verify. */
static void sign_with(EVP_PKEY *pk, const char *want_sigalg)
{
    cm_key *k = NULL;
    X509 *x = X509_new();
    X509_REQ *r = X509_REQ_new();
    unsigned char *sig = NULL;
    size_t siglen = 0;

    CHECK(pk != NULL && x != NULL && r != NULL);
    CHECK_OK(key_from_pkey(&k, pk));
    CHECK_STR(key_backend(k), "file");
    CHECK_OK(key_sign(k, &sig, &siglen, (const unsigned char *)"data", 4));
    CHECK(siglen > 0);
    free(sig);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    CHECK_OK(key_sign_cert(k, &x));
    CHECK(X509_verify(x, pk) == 1);
    CHECK_STR(OBJ_nid2ln(X509_get_signature_nid(x)), want_sigalg);
    {
        /* key_sign_cert_der's DER is the certificate's own encoding, signed
         * again (a new serial): what i2d_X509 writes and a decoder accepts. */
        unsigned char *der = NULL, *enc = NULL;
        const unsigned char *q;
        size_t der_len = 0;
        int enc_len;
        X509 *back;
        ASN1_INTEGER_set(X509_get_serialNumber(x), 8);
        CHECK_OK(key_sign_cert_der(k, &x, &der, &der_len));
        enc_len = i2d_X509(x, &enc);
        CHECK(der != NULL && enc_len > 0 && (size_t)enc_len == der_len &&
              memcmp(der, enc, der_len) == 0);
        q = der;
        back = d2i_X509(NULL, &q, (long)der_len);
        CHECK(back != NULL && q == der + der_len && X509_verify(back, pk) == 1);
        CHECK(back != NULL && ASN1_INTEGER_get(X509_get0_serialNumber(back)) == 8);
        X509_free(back);
        OPENSSL_free(enc);
        OPENSSL_free(der);
    }
    X509_REQ_set_subject_name(r, X509_get_subject_name(x));
    X509_REQ_set_pubkey(r, pk);
    CHECK_OK(key_sign_req(k, &r));
    CHECK(X509_REQ_verify(r, pk) == 1);
    key_close(k);
    X509_REQ_free(r);
    X509_free(x);
    EVP_PKEY_free(pk);
}

TEST(sign_every_type)
{
    sign_with(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "ecdsa-with-SHA256");
    sign_with(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "ecdsa-with-SHA384");
    sign_with(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"), "ecdsa-with-SHA512");
    sign_with(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), "ED25519");
    sign_with(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "sha256WithRSAEncryption");
}

/* 1 when sig is k's signature of data, checked by libcrypto itself
 * (EVP_DigestVerify with the algorithm key.h names for the key). */
static int sig_ok(EVP_PKEY *pk, const char *md, const unsigned char *sig, size_t siglen,
                  const unsigned char *data, size_t n)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL && EVP_DigestVerifyInit_ex(m, NULL, md, NULL, NULL, pk, NULL) == 1 &&
             EVP_DigestVerify(m, sig, siglen, data, n) == 1;
    EVP_MD_CTX_free(m);
    return ok;
}

struct worker_run {
    const cm_key *k;
    EVP_PKEY *pk;
    const char *md;
    int bad; /* signatures that did not verify */
};

/* One thread's worker handle: many signatures, each over other data. */
static void *worker_signs(void *arg)
{
    struct worker_run *w = arg;
    cm_key *wk = NULL;
    unsigned char data[64], *sig = NULL;
    size_t siglen = 0;

    if (key_worker_open(&wk, w->k) != CM_OK) {
        w->bad = -1;
        return NULL;
    }
    for (int i = 0; i < 100; i++) {
        memset(data, i, sizeof(data));
        if (key_sign(wk, &sig, &siglen, data, (size_t)i % sizeof(data)) != CM_OK ||
            !sig_ok(w->pk, w->md, sig, siglen, data, (size_t)i % sizeof(data)))
            w->bad++;
        free(sig);
        sig = NULL;
    }
    key_close(wk);
    return NULL;
}

/* key_worker_open: a worker's handle signs with the reused signer (file
 * backend) exactly as the key does: each signature verifies with
 * libcrypto, ECDSA signatures of the same data differ (a fresh nonce each
 * time, RFC 6979 not being used), certificates signed through it verify and
 * encode as i2d_X509 does; two threads with a handle each sign at once;
 * closing the handle leaves the key working. */
static void worker_with(EVP_PKEY *pk, const char *md)
{
    cm_key *k = NULL, *wk = NULL;
    unsigned char *s1 = NULL, *s2 = NULL, *der = NULL;
    size_t l1 = 0, l2 = 0, der_len = 0;
    const unsigned char *data = (const unsigned char *)"to be signed";
    X509 *x = X509_new();
    struct worker_run w[2];
    pthread_t t[2];

    CHECK_OK(key_from_pkey(&k, pk));
    CHECK_OK(key_worker_open(&wk, k));
    CHECK(wk != NULL && key_public(wk) == key_public(k));
    CHECK_OK(key_sign(wk, &s1, &l1, data, 12));
    CHECK_OK(key_sign(wk, &s2, &l2, data, 12));
    CHECK(sig_ok(pk, md, s1, l1, data, 12) && sig_ok(pk, md, s2, l2, data, 12));
    if (md != NULL) /* ECDSA and RSA: hashed by the signer */
        CHECK(EVP_PKEY_is_a(pk, "RSA") ? memcmp(s1, s2, l1) == 0
                                       : l1 != l2 || memcmp(s1, s2, l1) != 0);
    CHECK(!sig_ok(pk, md, s1, l1, data, 11));
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 9);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"w", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    for (int i = 0; i < 3; i++) {
        unsigned char *enc = NULL;
        int enc_len;
        ASN1_INTEGER_set(X509_get_serialNumber(x), 10 + i);
        CHECK_OK(key_sign_cert_der(wk, &x, &der, &der_len));
        CHECK(X509_verify(x, pk) == 1);
        enc_len = i2d_X509(x, &enc);
        CHECK(der != NULL && enc_len > 0 && (size_t)enc_len == der_len &&
              memcmp(der, enc, der_len) == 0);
        OPENSSL_free(enc);
        OPENSSL_free(der);
        der = NULL;
    }
    key_close(wk);
    for (int i = 0; i < 2; i++) {
        w[i] = (struct worker_run){k, pk, md, 0};
        CHECK(pthread_create(&t[i], NULL, worker_signs, &w[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(w[i].bad, 0);
    }
    free(s1);
    s1 = NULL;
    CHECK_OK(key_sign(k, &s1, &l1, data, 12)); /* the key outlives its handles */
    CHECK(sig_ok(pk, md, s1, l1, data, 12));
    free(s1);
    free(s2);
    X509_free(x);
    key_close(k);
    EVP_PKEY_free(pk);
}

TEST(worker_signer)
{
    worker_with(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "SHA256");
    worker_with(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "SHA384");
    worker_with(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"), "SHA512");
    worker_with(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "SHA256");
    worker_with(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), NULL);
}

/* key_spec_of reads the type from the key's id (keystore.c spec_kind):
 * each kind the CA knows, with its size, and the kinds it does not know
 * (RSA-PSS, Ed448, X25519, another curve) as KEY_OTHER, as by name. */
TEST(spec_of_each_kind)
{
    static const struct {
        const char *type, *curve;
        size_t bits;
        enum key_kind kind;
    } want[] = {
        {"EC", "P-256", 0, KEY_EC_P256},   {"EC", "P-384", 0, KEY_EC_P384},
        {"EC", "P-521", 0, KEY_EC_P521},   {"EC", "secp256k1", 0, KEY_OTHER},
        {"RSA", NULL, 2048, KEY_RSA},      {"RSA-PSS", NULL, 0, KEY_OTHER},
        {"ED25519", NULL, 0, KEY_ED25519}, {"ED448", NULL, 0, KEY_OTHER},
        {"X25519", NULL, 0, KEY_OTHER},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct key_spec s;
        EVP_PKEY *k = NULL;
        EVP_PKEY_CTX *g = NULL;
        if (want[i].curve != NULL)
            k = EVP_PKEY_Q_keygen(NULL, NULL, want[i].type, want[i].curve);
        else if (want[i].bits != 0)
            k = EVP_PKEY_Q_keygen(NULL, NULL, want[i].type, want[i].bits);
        else if ((g = EVP_PKEY_CTX_new_from_name(NULL, want[i].type, NULL)) != NULL &&
                 EVP_PKEY_keygen_init(g) == 1 && EVP_PKEY_keygen(g, &k) != 1)
            k = NULL;
        EVP_PKEY_CTX_free(g);
        if (k == NULL) {
            UNIT_FAIL("cannot make a %s key", want[i].type);
            continue;
        }
        key_spec_of(&s, k);
        if (s.kind != want[i].kind)
            UNIT_FAIL("%s %s: kind %d, expected %d", want[i].type,
                      want[i].curve ? want[i].curve : "", (int)s.kind, (int)want[i].kind);
        if (want[i].kind == KEY_RSA)
            CHECK_INT(s.bits, 2048);
        EVP_PKEY_free(k);
    }
}

/* key_pbkdf2_sha256 computes what libcrypto's PBKDF2 does: passphrases
 * shorter than, as long as and longer than the HMAC block (hashed first),
 * salts of 0, 16 and 32 bytes, 1, 2 and 1,000 iterations; on each path
 * (impl 0: util/sha256.c forced portable, so libcrypto's SHA-256 as on a
 * CPU without the SHA extensions; 1: the SHA extensions, where present). */
TEST(pbkdf2_as_libcrypto)
{
    static const char pass[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static const size_t plens[] = {0, 8, 63, 64, 65, 128};
    static const size_t slens[] = {0, 16, 32};
    static const uint64_t iters[] = {1, 2, 1000};
    unsigned char salt[32];

    for (size_t i = 0; i < sizeof(salt); i++)
        salt[i] = (unsigned char)(0xa5 ^ i);
    for (int impl = 0; impl < (sha256_have_shaext() ? 2 : 1); impl++) {
        sha256_force_portable(impl == 0);
        for (size_t p = 0; p < sizeof(plens) / sizeof(plens[0]); p++)
            for (size_t s = 0; s < sizeof(slens) / sizeof(slens[0]); s++)
                for (size_t it = 0; it < sizeof(iters) / sizeof(iters[0]); it++) {
                    unsigned char want[32], got[32];
                    memset(got, 0, sizeof(got));
                    CHECK(PKCS5_PBKDF2_HMAC(pass, (int)plens[p], salt, (int)slens[s],
                                            (int)iters[it], EVP_sha256(), 32, want) == 1);
                    CHECK_OK(key_pbkdf2_sha256(got, pass, plens[p], salt, slens[s], iters[it]));
                    if (memcmp(want, got, sizeof(want)) != 0)
                        UNIT_FAIL("impl %d, pass %zu, salt %zu, %llu iterations: not libcrypto's",
                                  impl, plens[p], slens[s], (unsigned long long)iters[it]);
                }
    }
    sha256_force_portable(0);
    CHECK_ERR(key_pbkdf2_sha256(salt, "x", 1, salt, 16, 0), CM_ERR_INVALID);
    CHECK_ERR(key_pbkdf2_sha256(salt, "x", 1, salt, 61, 1), CM_ERR_INVALID);
}

/* RFC 7914 section 11's PBKDF2-HMAC-SHA256 vectors (the first 32 of their
 * 64 bytes: key_pbkdf2_sha256 derives one block), on each implementation. */
TEST(pbkdf2_rfc7914)
{
    static const struct {
        const char *pass, *salt;
        uint64_t iter;
        const char *hex;
    } v[] = {
        {"passwd", "salt", 1, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"},
        {"Password", "NaCl", 80000,
         "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"},
    };

    for (int impl = 0; impl < (sha256_have_shaext() ? 2 : 1); impl++) {
        sha256_force_portable(impl == 0);
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            unsigned char got[32];
            char hex[65];
            CHECK_OK(key_pbkdf2_sha256(got, v[i].pass, strlen(v[i].pass),
                                       (const unsigned char *)v[i].salt, strlen(v[i].salt),
                                       v[i].iter));
            for (size_t j = 0; j < sizeof(got); j++)
                snprintf(hex + 2 * j, 3, "%02x", got[j]);
            if (strcmp(hex, v[i].hex) != 0)
                UNIT_FAIL("impl %d, vector %zu: %s", impl, i, hex);
        }
    }
    sha256_force_portable(0);
}

/* k encrypted by libcrypto with PBES2 of the given cipher, PRF and
 * iterations, written to path. */
static int write_pbes2(const char *path, EVP_PKEY *k, const EVP_CIPHER *c, int prf, int iter,
                       const char *pass)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
    X509_ALGOR *pbe = PKCS5_pbe2_set_iv(c, iter, NULL, 0, NULL, prf);
    X509_SIG *sig = p8 && pbe ? PKCS8_set0_pbe(pass, (int)strlen(pass), p8, pbe) : NULL;
    FILE *f = sig ? fopen(path, "w") : NULL;
    int ok = f != NULL && PEM_write_PKCS8(f, sig) == 1;

    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (sig == NULL)
        X509_ALGOR_free(pbe);
    X509_SIG_free(sig);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return ok;
}

/* key_load_encrypted: certmint's own kind (key_save_encrypted; PBES2 with
 * PBKDF2-HMAC-SHA256 and AES-256-CBC, at a low count too) through its own
 * PBKDF2, other kinds (another PRF, another cipher, no encryption) through
 * libcrypto; each reads back the key, and a wrong passphrase is
 * CM_ERR_AUTH in both. */
TEST(load_encrypted_kinds)
{
    char dir[] = "/tmp/cm-test-keyload-XXXXXX", path[64];
    static const char pass[] = "right horse battery", wrong[] = "wrong horse battery";
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *back = NULL;
    FILE *f = NULL;

    if (k == NULL || mkdtemp(dir) == NULL) {
        UNIT_FAIL("cannot set up");
        EVP_PKEY_free(k);
        return;
    }
    snprintf(path, sizeof(path), "%s/k.pem", dir);
    for (int kind = 0; kind < 5; kind++) {
        int ok = 1;
        if (kind == 0)
            ok = key_save_encrypted(k, path, pass) == CM_OK;
        else if (kind == 1)
            ok = write_pbes2(path, k, EVP_aes_256_cbc(), NID_hmacWithSHA256, 2048, pass);
        else if (kind == 2)
            ok = write_pbes2(path, k, EVP_aes_256_cbc(), NID_hmacWithSHA512, 2048, pass);
        else if (kind == 3)
            ok = write_pbes2(path, k, EVP_aes_128_cbc(), NID_hmacWithSHA256, 2048, pass);
        else
            ok = (f = fopen(path, "w")) != NULL &&
                 PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
        if (f != NULL && fclose(f) != 0)
            ok = 0;
        f = NULL;
        if (!ok) {
            UNIT_FAIL("kind %d: cannot write the key", kind);
            continue;
        }
        CHECK_OK(key_load_encrypted(&back, path, pass));
        if (back == NULL || EVP_PKEY_eq(back, k) != 1)
            UNIT_FAIL("kind %d: not the key written", kind);
        EVP_PKEY_free(back);
        back = NULL;
        if (kind < 4)
            CHECK_ERR(key_load_encrypted(&back, path, wrong), CM_ERR_AUTH);
        CHECK(back == NULL);
        unlink(path);
    }
    rmdir(dir);
    EVP_PKEY_free(k);
}

int main(void)
{
    unit_suite = "key";
    RUN(uri_parse);
    RUN(uri_rejects);
    RUN(registry_dispatch);
    RUN(sign_every_type);
    RUN(worker_signer);
    RUN(spec_of_each_kind);
    RUN(pbkdf2_as_libcrypto);
    RUN(pbkdf2_rfc7914);
    RUN(load_encrypted_kinds);
    return UNIT_DONE();
}
