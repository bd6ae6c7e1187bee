/* Unit tests: the key ops' decrypt (key/key.h) in the file backend and in
 * the PKCS#11 backend on SoftHSM2 (a private token in a temp folder, the
 * key made decrypt-only as `kra transport-cert --init` makes it), and CMS
 * envelopes opened through it (kra_open_key, src/kra/cms_key.c). Blocks
 * are made with OpenSSL's own RSA encryption (PKCS#1 v1.5, RSAES-OAEP
 * SHA-1 and SHA-256) and envelopes with OpenSSL's CMS_encrypt; a wrong
 * key, a wrong padding, another recipient and a changed envelope each
 * fail with an error. The PKCS#11 part is skipped, saying so, where
 * softhsm2 is not installed. */
#include "unit.h"
#include "fixture_token.h"
#include "key/key.h"
#include "kra/kra.h"

#include <openssl/cms.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct fixture_token tok;
static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";

/* OpenSSL's encryption of secret to pub with the padding of dp. */
static int rsa_encrypt(unsigned char *out, size_t *outlen, EVP_PKEY *pub,
                       const struct key_decrypt_params *dp)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
    int ok = c != NULL && EVP_PKEY_encrypt_init(c) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, dp->oaep ? RSA_PKCS1_OAEP_PADDING
                                                      : RSA_PKCS1_PADDING) == 1 &&
             (!dp->oaep ||
              (EVP_PKEY_CTX_set_rsa_oaep_md_name(c, key_hash_name(dp->oaep_md), NULL) == 1 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md_name(c, key_hash_name(dp->mgf1_md), NULL) == 1)) &&
             EVP_PKEY_encrypt(c, out, outlen, secret, sizeof(secret)) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

/* Decrypts a block made for k's public key with dp: the secret again. */
static cm_err round_trip(const cm_key *k, const struct key_decrypt_params *dp)
{
    unsigned char blk[1024], *plain = NULL;
    size_t blen = sizeof(blk), plen = 0;
    cm_err rc;

    if (!rsa_encrypt(blk, &blen, key_public(k), dp))
        return cm_err_set(CM_ERR_CRYPTO, "test: cannot encrypt");
    rc = key_decrypt(k, &plain, &plen, dp, blk, blen);
    if (rc == CM_OK && (plen != sizeof(secret) || memcmp(plain, secret, plen) != 0))
        rc = cm_err_set(CM_ERR_CRYPTO, "test: decrypted to other bytes");
    free(plain);
    return rc;
}

static const struct key_decrypt_params pkcs1 = {0, KEY_HASH_SHA1, KEY_HASH_SHA1};
static const struct key_decrypt_params oaep1 = {1, KEY_HASH_SHA1, KEY_HASH_SHA1};
static const struct key_decrypt_params oaep256 = {1, KEY_HASH_SHA256, KEY_HASH_SHA256};

/* A block for `other` (another key) and a block padded with `as` but
 * decrypted as `dp`: both fail, and nothing comes out. */
static void refusals(const cm_key *k, EVP_PKEY *other, const struct key_decrypt_params *as,
                     const struct key_decrypt_params *dp)
{
    unsigned char blk[1024], *plain = NULL;
    size_t blen = sizeof(blk), plen = 0;

    CHECK(rsa_encrypt(blk, &blen, other, dp));
    CHECK_ERR(key_decrypt(k, &plain, &plen, dp, blk, blen), CM_ERR_CRYPTO);
    CHECK(plain == NULL && plen == 0);
    blen = sizeof(blk);
    CHECK(rsa_encrypt(blk, &blen, key_public(k), as));
    CHECK_ERR(key_decrypt(k, &plain, &plen, dp, blk, blen), CM_ERR_CRYPTO);
    CHECK(plain == NULL);
    /* A block of the wrong size. */
    CHECK_ERR(key_decrypt(k, &plain, &plen, dp, blk, 17), CM_ERR_CRYPTO);
    CHECK(plain == NULL);
}

static X509 *self_cert(EVP_PKEY *k, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_free(n);
    return x;
}

/* An envelope of secret to x: AuthEnvelopedData AES-256-GCM or
 * EnvelopedData AES-256-CBC, the recipient's padding PKCS#1 v1.5 or
 * OAEP with dp's hashes. */
static int envelope(unsigned char **der, size_t *len, X509 *x, int gcm,
                    const struct key_decrypt_params *dp)
{
    BIO *in = BIO_new_mem_buf(secret, sizeof(secret));
    CMS_ContentInfo *cms = NULL;
    CMS_RecipientInfo *ri;
    EVP_PKEY_CTX *pc;
    int n = 0;

    *der = NULL;
    /* CMS_KEY_PARAM keeps the recipient's key context for its padding. */
    cms = CMS_encrypt(NULL, NULL, gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc(),
                      CMS_BINARY | CMS_PARTIAL);
    ri = cms != NULL ? CMS_add1_recipient_cert(cms, x, CMS_KEY_PARAM) : NULL;
    pc = ri != NULL ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
    if (pc != NULL && dp->oaep &&
        (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_oaep_md_name(pc, key_hash_name(dp->oaep_md), NULL) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md_name(pc, key_hash_name(dp->mgf1_md), NULL) != 1))
        pc = NULL;
    if (pc != NULL && CMS_final(cms, in, NULL, CMS_BINARY) == 1)
        n = i2d_CMS_ContentInfo(cms, der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    *len = n > 0 ? (size_t)n : 0;
    return n > 0;
}

/* Opens an envelope of each kind to x with k; another recipient's and a
 * changed one fail. oaep256: whether k's backend does OAEP with SHA-256. */
static void cms_checks(const cm_key *k, X509 *x, X509 *other, int oaep256_ok)
{
    const struct key_decrypt_params *pads[] = {&pkcs1, &oaep1, &oaep256};
    unsigned char *der = NULL, *out = NULL;
    size_t len = 0, outlen = 0;

    for (int gcm = 0; gcm <= 1; gcm++)
        for (size_t i = 0; i < 3; i++) {
            if (pads[i] == &oaep256 && !oaep256_ok)
                continue;
            CHECK(envelope(&der, &len, x, gcm, pads[i]));
            if (der == NULL)
                continue;
            CHECK_OK(kra_open_key(&out, &outlen, der, len, x, k, "test envelope"));
            CHECK(out != NULL && outlen == sizeof(secret) && memcmp(out, secret, outlen) == 0);
            kra_secret_free(out, outlen);
            out = NULL;
            /* One byte of the encrypted content changed (GCM: the tag
             * fails; CBC: the padding or the bytes differ). */
            der[len - (gcm ? 40 : 20)] ^= 1;
            if (kra_open_key(&out, &outlen, der, len, x, k, "test envelope") == CM_OK)
                CHECK(outlen != sizeof(secret) || memcmp(out, secret, outlen) != 0);
            kra_secret_free(out, outlen);
            out = NULL;
            OPENSSL_free(der);
            der = NULL;
        }
    /* The content cipher changed to AES key wrap with padding (an
     * AuthEnvelopedData must use AES-GCM; found by fuzz_cms_key): refused. */
    CHECK(envelope(&der, &len, x, 1, &pkcs1));
    if (der != NULL) {
        static const unsigned char gcm256[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                               0x65, 0x03, 0x04, 0x01, 0x2e};
        unsigned char *at = memmem(der, len, gcm256, sizeof(gcm256));
        CHECK(at != NULL);
        if (at != NULL)
            at[sizeof(gcm256) - 1] = 0x30; /* id-aes256-wrap-pad, RFC 5649 */
        CHECK_ERR(kra_open_key(&out, &outlen, der, len, x, k, "test envelope"), CM_ERR_UNSUPPORTED);
        CHECK(out == NULL);
        OPENSSL_free(der);
    }
    /* Addressed to another certificate: no recipient for x. */
    CHECK(envelope(&der, &len, other, 1, &pkcs1));
    if (der != NULL)
        CHECK_ERR(kra_open_key(&out, &outlen, der, len, x, k, "test envelope"), CM_ERR_CRYPTO);
    CHECK(strstr(cm_err_msg(), "not addressed") != NULL);
    CHECK(out == NULL);
    OPENSSL_free(der);
    /* Not CMS at all. */
    CHECK_ERR(kra_open_key(&out, &outlen, secret, sizeof(secret), x, k, "test envelope"),
              CM_ERR_INVALID);
}

TEST(file_backend)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
    cm_key *k = NULL, *ek = NULL;
    X509 *x = self_cert(rsa, "transport"), *ox = self_cert(other, "someone else");
    unsigned char blk[8] = {0}, *plain = NULL;
    size_t plen = 0;

    CHECK_OK(key_from_pkey(&k, rsa));
    CHECK_OK(round_trip(k, &pkcs1));
    CHECK_OK(round_trip(k, &oaep1));
    CHECK_OK(round_trip(k, &oaep256));
    refusals(k, other, &oaep256, &pkcs1);
    refusals(k, other, &pkcs1, &oaep256);
    refusals(k, other, &oaep1, &oaep256);
    cms_checks(k, x, ox, 1);
    /* EC: no key transport (key agreement is not offered). */
    CHECK_OK(key_from_pkey(&ek, ec));
    CHECK_ERR(key_decrypt(ek, &plain, &plen, &pkcs1, blk, sizeof(blk)), CM_ERR_UNSUPPORTED);
    CHECK_ERR(kra_open_key(&plain, &plen, blk, sizeof(blk), x, ek, "t"), CM_ERR_UNSUPPORTED);
    key_close(ek);
    key_close(k);
    X509_free(x);
    X509_free(ox);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(other);
    EVP_PKEY_free(ec);
}

/* The transport key as the CA makes it in a token, and a signing key. */
TEST(pkcs11_backend)
{
    char uri[1024], curi[1024];
    struct key_spec spec;
    struct key_open_opts dec = {NULL, 0, 1};
    cm_key *k = NULL, *ck = NULL;
    EVP_PKEY *other = EVP_RSA_gen(2048);
    X509 *x = NULL, *ox = self_cert(other, "someone else");
    unsigned char *sig = NULL, blk[512];
    size_t siglen = 0, blen = sizeof(blk);
    int created = 0;
    cm_err rc;

    if (!fixture_token_open(&tok, "p11dec", 0)) {
        printf("ok - key_decrypt: pkcs11 skipped: softhsm2 is not installed\n");
        goto out;
    }
    fixture_token_uri(curi, sizeof(curi), &tok, "ca");
    CHECK_OK(key_ref_sibling(uri, sizeof(uri), curi, "-kra-transport"));
    CHECK(strstr(uri, ";object=ca-kra-transport?module-path=") != NULL);
    CHECK_OK(key_spec_parse(&spec, "rsa:2048"));
    CHECK_OK(key_create(&k, &created, uri, &spec, &dec));
    if (k == NULL)
        goto out;
    CHECK(created == 1);
    CHECK_OK(round_trip(k, &pkcs1));
    CHECK_OK(round_trip(k, &oaep1));
    /* SoftHSM 2.6 does RSAES-OAEP with SHA-1 only: SHA-256 is refused as
     * unsupported (not as a bad block), or decrypts right. */
    rc = round_trip(k, &oaep256);
    CHECK(rc == CM_OK || rc == CM_ERR_UNSUPPORTED);
    refusals(k, other, &oaep1, &pkcs1);
    refusals(k, other, &pkcs1, &oaep1);
    /* Decrypt only: it does not sign (CKA_SIGN false). */
    CHECK(key_sign(k, &sig, &siglen, secret, sizeof(secret)) != CM_OK);
    free(sig);
    x = self_cert(key_public(k), "transport");
    cms_checks(k, x, ox, rc == CM_OK);
    /* A signing key (a CA key) does not decrypt (CKA_DECRYPT false). */
    CHECK_OK(key_create(&ck, &created, curi, &spec, NULL));
    CHECK(rsa_encrypt(blk, &blen, key_public(ck), &pkcs1));
    CHECK_ERR(key_decrypt(ck, &sig, &siglen, &pkcs1, blk, blen), CM_ERR_UNSUPPORTED);
out:
    key_close(ck);
    key_close(k);
    X509_free(x);
    X509_free(ox);
    EVP_PKEY_free(other);
}

int main(void)
{
    unit_suite = "key_decrypt";
    RUN(file_backend);
    RUN(pkcs11_backend);
    fixture_token_close(&tok);
    return UNIT_DONE();
}
