#include "key/keystore.h"

#include "util/fsutil.h"
#include "util/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define MAX_KEY_FILE (256 * 1024)

cm_err key_spec_parse(struct key_spec *out, const char *s)
{
    static const struct {
        const char *name;
        enum key_kind kind;
        int bits;
    } specs[] = {
        {"ec:p256", KEY_EC_P256, 256}, {"ec:p384", KEY_EC_P384, 384}, {"ec:p521", KEY_EC_P521, 521},
        {"rsa:2048", KEY_RSA, 2048},   {"rsa:3072", KEY_RSA, 3072},   {"rsa:4096", KEY_RSA, 4096},
        {"ed25519", KEY_ED25519, 256},
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (strcmp(s, specs[i].name) == 0) {
            out->kind = specs[i].kind;
            out->bits = specs[i].bits;
            return CM_OK;
        }
    }
    return cm_err_set(CM_ERR_INVALID,
                      "key type '%s': expected ec:p256, ec:p384, ec:p521, rsa:2048, rsa:3072, "
                      "rsa:4096 or ed25519",
                      s);
}

/* The key's type: its legacy id where it has one (a field read; the
 * built-in types all have one), else by name. EVP_PKEY_is_a looks the
 * name up under the library's name-map lock, three times for an EC key:
 * a lock that two threads issuing certificates took for every one. */
static enum key_kind spec_kind(const EVP_PKEY *k)
{
    switch (EVP_PKEY_get_id(k)) {
    case EVP_PKEY_RSA:
        return KEY_RSA;
    case EVP_PKEY_ED25519:
        return KEY_ED25519;
    case EVP_PKEY_EC:
        return KEY_EC_P256; /* any EC: the curve is read below */
    case EVP_PKEY_RSA_PSS:
    case EVP_PKEY_ED448:
    case EVP_PKEY_X25519:
    case EVP_PKEY_X448:
    case EVP_PKEY_DSA:
    case EVP_PKEY_DH:
    case EVP_PKEY_DHX:
    case EVP_PKEY_SM2:
        return KEY_OTHER;
    default:
        break;
    }
    if (EVP_PKEY_is_a(k, "RSA"))
        return KEY_RSA;
    if (EVP_PKEY_is_a(k, "ED25519"))
        return KEY_ED25519;
    return EVP_PKEY_is_a(k, "EC") ? KEY_EC_P256 : KEY_OTHER;
}

void key_spec_of(struct key_spec *out, const EVP_PKEY *k)
{
    char group[64] = "";
    enum key_kind kind = spec_kind(k);
    out->kind = KEY_OTHER;
    out->bits = EVP_PKEY_get_bits(k);
    if (kind == KEY_RSA) {
        out->kind = KEY_RSA;
    } else if (kind == KEY_ED25519) {
        out->kind = KEY_ED25519;
    } else if (kind == KEY_EC_P256 && EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
                                                                     group, sizeof(group), NULL)) {
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            out->kind = KEY_EC_P256;
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            out->kind = KEY_EC_P384;
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            out->kind = KEY_EC_P521;
    }
}

const char *key_spec_name(const struct key_spec *s, char *buf, size_t bufsz)
{
    switch (s->kind) {
    case KEY_EC_P256:
        return "ec:p256";
    case KEY_EC_P384:
        return "ec:p384";
    case KEY_EC_P521:
        return "ec:p521";
    case KEY_ED25519:
        return "ed25519";
    case KEY_RSA:
        snprintf(buf, bufsz, "rsa:%d", s->bits);
        return buf;
    default:
        return "other";
    }
}

cm_err key_generate(EVP_PKEY **out, const struct key_spec *s)
{
    *out = NULL;
    switch (s->kind) {
    case KEY_EC_P256:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case KEY_EC_P384:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case KEY_EC_P521:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
        break;
    case KEY_RSA:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)s->bits);
        break;
    case KEY_ED25519:
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        return cm_err_set(CM_ERR_INVALID, "cannot generate this key type");
    }
    if (*out == NULL)
        return cm_err_ossl(CM_ERR_CRYPTO, "key generation failed");
    return CM_OK;
}

const char *key_sign_md(const EVP_PKEY *k)
{
    struct key_spec s;
    key_spec_of(&s, k);
    switch (s.kind) {
    case KEY_EC_P384:
        return "SHA384";
    case KEY_EC_P521:
        return "SHA512";
    case KEY_ED25519:
        return NULL;
    default:
        return "SHA256";
    }
}

/* PBKDF2 rounds for new keys: OWASP's 2023 figure for PBKDF2-HMAC-SHA256
 * (Password Storage Cheat Sheet). scrypt at OWASP's level (N=2^17, r=8) needs
 * 128 MiB, beyond OpenSSL 3.0's 32 MiB cap for PKCS#8, so neither certmint
 * through libcrypto nor `openssl pkey` could read such a key back; PBKDF2
 * keeps the key readable by every OpenSSL. About 0.055 s of CPU per key
 * load with the SHA extensions (key_pbkdf2_sha256; libcrypto's own PBKDF2
 * takes 0.15 s). */
#define KEY_PBKDF2_ITER 600000

/* Encodes k as PEM EncryptedPrivateKeyInfo (RFC 5958 section 3): PBES2
 * (RFC 8018 section 6.2) with AES-256-CBC and PBKDF2-HMAC-SHA256, a random
 * 16-byte salt and IV from libcrypto's DRBG. */
static cm_err encode_encrypted(BIO *mem, const EVP_PKEY *k, const char *pass, const char *path)
{
    cm_err rc = CM_OK;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    X509_ALGOR *pbe = NULL;
    X509_SIG *sig = NULL;

    p8 = EVP_PKEY2PKCS8(k);
    if (p8 == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encode the private key", path);
    pbe = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), KEY_PBKDF2_ITER, NULL, 0, NULL, NID_hmacWithSHA256);
    if (pbe == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot set up PBES2", path);
    sig = PKCS8_set0_pbe(pass, (int)strlen(pass), p8, pbe);
    if (sig == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encrypt the private key", path);
    pbe = NULL; /* owned by sig now */
    if (!PEM_write_bio_PKCS8(mem, sig))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encode the private key", path);
out:
    X509_SIG_free(sig);
    X509_ALGOR_free(pbe);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rc;
}

cm_err key_save_encrypted(const EVP_PKEY *k, const char *path, const char *pass)
{
    cm_err rc = CM_OK;
    BIO *mem = NULL, *back = NULL;
    EVP_PKEY *check = NULL;
    char *data = NULL;
    long len;

    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    CM_TRY(encode_encrypted(mem, k, pass, path));
    len = BIO_get_mem_data(mem, &data);
    if (len <= 0)
        CM_FAIL(CM_ERR_CRYPTO, "%s: empty key encoding", path);
    /* Never replace a key with one that does not decrypt back to it. */
    back = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(back == NULL);
    check = PEM_read_bio_PrivateKey(back, NULL, NULL, (void *)pass);
    if (check == NULL || EVP_PKEY_eq(check, k) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: the encrypted key does not read back; not written", path);
    rc = fs_write_atomic(path, data, (size_t)len, 0600);
out:
    EVP_PKEY_free(check);
    BIO_free(back);
    if (mem != NULL) {
        /* The encoding is encrypted, but wipe it anyway. */
        if (BIO_get_mem_data(mem, &data) > 0)
            OPENSSL_cleanse(data, (size_t)BIO_get_mem_data(mem, &data));
        BIO_free(mem);
    }
    return rc;
}

/* alg's PBES2 parameters (RFC 8018 A.4); NULL when alg is not PBES2. */
static PBE2PARAM *pbes2_params(const X509_ALGOR *alg)
{
    const ASN1_OBJECT *oid = NULL;
    const void *pv = NULL;
    int ptype = 0;

    X509_ALGOR_get0(&oid, &ptype, &pv, alg);
    if (OBJ_obj2nid(oid) != NID_pbes2 || ptype != V_ASN1_SEQUENCE)
        return NULL;
    return ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
}

/* The PBKDF2 parameters (RFC 8018 A.2) of PBES2's key derivation; NULL
 * when it is another function. */
static PBKDF2PARAM *pbkdf2_params(const PBE2PARAM *pbe2)
{
    const ASN1_OBJECT *oid = NULL;
    const void *pv = NULL;
    int ptype = 0;

    X509_ALGOR_get0(&oid, &ptype, &pv, pbe2->keyfunc);
    if (OBJ_obj2nid(oid) != NID_id_pbkdf2)
        return NULL;
    return ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
}

/* Describes the PBES2 key derivation of an EncryptedPrivateKeyInfo. */
static void describe_pbes2(struct key_kdf *out, const X509_ALGOR *alg)
{
    const ASN1_OBJECT *oid = NULL, *kdf_oid = NULL;
    const void *pv = NULL;
    int ptype = 0;
    PBE2PARAM *pbe2 = NULL;
    PBKDF2PARAM *kdf = NULL;
    SCRYPT_PARAMS *sc = NULL;

    X509_ALGOR_get0(&oid, &ptype, &pv, alg);
    if (OBJ_obj2nid(oid) != NID_pbes2 || ptype != V_ASN1_SEQUENCE) {
        snprintf(out->name, sizeof(out->name), "%s", OBJ_nid2sn(OBJ_obj2nid(oid)));
        return;
    }
    pbe2 = pbes2_params(alg);
    if (pbe2 == NULL)
        return;
    X509_ALGOR_get0(&kdf_oid, &ptype, &pv, pbe2->keyfunc);
    if ((kdf = pbkdf2_params(pbe2)) != NULL) {
        out->kind = KEY_KDF_PBKDF2;
        out->cost = ASN1_INTEGER_get(kdf->iter);
        snprintf(out->name, sizeof(out->name), "PBKDF2-%s, %ld iterations",
                 kdf->prf ? OBJ_nid2sn(OBJ_obj2nid(kdf->prf->algorithm)) : "hmacWithSHA1",
                 out->cost);
    } else if (OBJ_obj2nid(kdf_oid) == NID_id_scrypt &&
               (sc = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS),
                                               pbe2->keyfunc->parameter)) != NULL) {
        out->kind = KEY_KDF_SCRYPT;
        out->cost = ASN1_INTEGER_get(sc->costParameter);
        snprintf(out->name, sizeof(out->name), "scrypt N=%ld r=%ld p=%ld", out->cost,
                 ASN1_INTEGER_get(sc->blockSize), ASN1_INTEGER_get(sc->parallelizationParameter));
    }
    SCRYPT_PARAMS_free(sc);
    PBKDF2PARAM_free(kdf);
    PBE2PARAM_free(pbe2);
}

cm_err key_kdf_of(struct key_kdf *out, const char *path)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *mem = NULL;
    X509_SIG *sig = NULL;
    const X509_ALGOR *alg = NULL;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "unknown");
    CM_TRY(fs_read_file(&data, &len, path, MAX_KEY_FILE));
    mem = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(mem == NULL);
    sig = PEM_read_bio_PKCS8(mem, NULL, NULL, NULL);
    if (sig == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a PEM encrypted private key", path);
    X509_SIG_get0(sig, &alg, NULL);
    describe_pbes2(out, alg);
out:
    X509_SIG_free(sig);
    BIO_free(mem);
    free(data);
    return rc;
}

int key_kdf_is_weak(const struct key_kdf *k)
{
    if (k->kind == KEY_KDF_PBKDF2)
        return k->cost < KEY_PBKDF2_ITER;
    if (k->kind == KEY_KDF_SCRYPT)
        return k->cost < 16384;
    return 1;
}

/* The HMAC-SHA256 key blocks (RFC 2104): the passphrase (hashed first when
 * longer than a block) padded with zeros, XOR ipad and XOR opad. Both
 * PBKDF2 paths start from them. */
static void hmac_pads(unsigned char ip[SHA256_BLOCK], unsigned char op[SHA256_BLOCK],
                      const char *pass, size_t passlen)
{
    unsigned char k[SHA256_BLOCK];
    uint32_t st[8];

    memset(k, 0, sizeof(k));
    if (passlen > sizeof(k)) {
        sha256_init(st);
        sha256_final(k, st, 0, (const unsigned char *)pass, passlen);
        OPENSSL_cleanse(st, sizeof(st));
    } else if (passlen > 0) {
        memcpy(k, pass, passlen);
    }
    for (size_t i = 0; i < sizeof(k); i++) {
        ip[i] = k[i] ^ 0x36;
        op[i] = k[i] ^ 0x5c;
    }
    OPENSSL_cleanse(k, sizeof(k));
}

/* The HMAC-SHA256 digest states after the key blocks: ipad for the inner
 * hash, opad for the outer. */
static cm_err evp_hmac_states(EVP_MD_CTX *in, EVP_MD_CTX *outer, const EVP_MD *md, const char *pass,
                              size_t passlen)
{
    cm_err rc = CM_OK;
    unsigned char ip[SHA256_BLOCK], op[SHA256_BLOCK];

    hmac_pads(ip, op, pass, passlen);
    if (EVP_DigestInit_ex(in, md, NULL) != 1 || EVP_DigestUpdate(in, ip, sizeof(ip)) != 1 ||
        EVP_DigestInit_ex(outer, md, NULL) != 1 || EVP_DigestUpdate(outer, op, sizeof(op)) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "PBKDF2: cannot start HMAC-SHA256");
out:
    OPENSSL_cleanse(ip, sizeof(ip));
    OPENSSL_cleanse(op, sizeof(op));
    return rc;
}

/* u = HMAC(u[0..len)) from the prepared states, through the scratch c. */
static int evp_hmac_step(unsigned char u[32], size_t len, EVP_MD_CTX *c, const EVP_MD_CTX *in,
                         const EVP_MD_CTX *outer)
{
    unsigned int n = 0;
    return EVP_MD_CTX_copy_ex(c, in) == 1 && EVP_DigestUpdate(c, u, len) == 1 &&
           EVP_DigestFinal_ex(c, u, &n) == 1 && EVP_MD_CTX_copy_ex(c, outer) == 1 &&
           EVP_DigestUpdate(c, u, 32) == 1 && EVP_DigestFinal_ex(c, u, &n) == 1;
}

/* key_pbkdf2_sha256 through libcrypto's SHA-256, for a CPU without the SHA
 * extensions: there libcrypto's assembly (SSSE3/AVX2) beats util/sha256.c's
 * portable C (600,000 iterations, SHA extensions masked with
 * OPENSSL_ia32cap: 0.18 s against 0.29 s). The HMAC's digest states after
 * the padded key are made once and copied per iteration, where
 * PKCS5_PBKDF2_HMAC goes through its HMAC provider each time. */
static cm_err pbkdf2_evp(unsigned char out[32], const char *pass, size_t passlen,
                         const unsigned char *salt, size_t saltlen, uint64_t iter)
{
    cm_err rc = CM_OK;
    EVP_MD *md = NULL;
    EVP_MD_CTX *in = NULL, *outer = NULL, *c = NULL;
    unsigned char u[64];
    static const unsigned char block1[4] = {0, 0, 0, 1};

    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    in = EVP_MD_CTX_new();
    outer = EVP_MD_CTX_new();
    c = EVP_MD_CTX_new();
    CM_NOMEM_IF(md == NULL || in == NULL || outer == NULL || c == NULL);
    CM_TRY(evp_hmac_states(in, outer, md, pass, passlen));
    /* U1 = HMAC(salt || INT(1)); Uj = HMAC(Uj-1); T1 = U1 ^ ... ^ Uc. */
    if (saltlen > 0)
        memcpy(u, salt, saltlen);
    memcpy(u + saltlen, block1, sizeof(block1));
    if (!evp_hmac_step(u, saltlen + sizeof(block1), c, in, outer))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "PBKDF2: HMAC-SHA256 failed");
    memcpy(out, u, 32);
    for (uint64_t j = 1; j < iter; j++) {
        if (!evp_hmac_step(u, 32, c, in, outer))
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "PBKDF2: HMAC-SHA256 failed");
        for (size_t i = 0; i < 32; i++)
            out[i] ^= u[i];
    }
out:
    OPENSSL_cleanse(u, sizeof(u));
    EVP_MD_CTX_free(c);
    EVP_MD_CTX_free(outer);
    EVP_MD_CTX_free(in);
    EVP_MD_free(md);
    return rc;
}

/* The HMAC-SHA256 midstates (RFC 2104): SHA-256's state after the key
 * block XOR ipad (in) and XOR opad (outer). */
static void hmac_midstates(uint32_t in[8], uint32_t outer[8], const char *pass, size_t passlen)
{
    sha256_compress_fn *f = sha256_compressor();
    unsigned char ip[SHA256_BLOCK], op[SHA256_BLOCK];

    hmac_pads(ip, op, pass, passlen);
    sha256_init(in);
    f(in, ip, 1);
    sha256_init(outer);
    f(outer, op, 1);
    OPENSSL_cleanse(ip, sizeof(ip));
    OPENSSL_cleanse(op, sizeof(op));
}

/* PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2), the first 32-byte block: the
 * derivation of the keys certmint writes. The same function as libcrypto's
 * PKCS5_PBKDF2_HMAC (the unit tests compare them, on both paths), with
 * about a third of its CPU where the CPU has the SHA extensions: after
 * U1, each HMAC step is exactly two compressions, of the inner midstate
 * over U(j-1) and its fixed padding (a 96-byte message), then of the outer
 * midstate over that and the same padding (sha256_hmac_iterate), where
 * libcrypto's HMAC or a copied EVP_MD_CTX pay a context copy, buffering
 * and padding per step. 600,000 iterations, AMD EPYC VM: SHA extensions
 * 0.050-0.055 s (near SHA256RNDS2's latency), EVP_MD_CTX copies
 * 0.09-0.10 s, PKCS5_PBKDF2_HMAC 0.15 s. Without the extensions it is
 * pbkdf2_evp.
 * The iterations, and so an attacker's cost, are those of the file: the
 * KDF is unchanged. */
cm_err key_pbkdf2_sha256(unsigned char out[32], const char *pass, size_t passlen,
                         const unsigned char *salt, size_t saltlen, uint64_t iter)
{
    uint32_t in[8], outer[8], s[8];
    unsigned char u[SHA256_BLOCK];
    static const unsigned char block1[4] = {0, 0, 0, 1};

    if (iter < 1 || saltlen > sizeof(u) - sizeof(block1))
        return cm_err_set(CM_ERR_INVALID, "PBKDF2: unsupported parameters");
    if (!sha256_is_hw())
        return pbkdf2_evp(out, pass, passlen, salt, saltlen, iter);
    hmac_midstates(in, outer, pass, passlen);
    /* U1 = HMAC(salt || INT(1)); Uj = HMAC(Uj-1); T1 = U1 ^ ... ^ Uc. */
    if (saltlen > 0)
        memcpy(u, salt, saltlen);
    memcpy(u + saltlen, block1, sizeof(block1));
    memcpy(s, in, sizeof(s));
    sha256_final(u, s, SHA256_BLOCK, u, saltlen + sizeof(block1));
    memcpy(s, outer, sizeof(s));
    sha256_final(u, s, SHA256_BLOCK, u, SHA256_LEN);
    memcpy(out, u, 32);
    sha256_hmac_iterate(out, u, in, outer, iter - 1);
    OPENSSL_cleanse(u, sizeof(u));
    OPENSSL_cleanse(s, sizeof(s));
    OPENSSL_cleanse(in, sizeof(in));
    OPENSSL_cleanse(outer, sizeof(outer));
    return CM_OK;
}

/* The salt, iterations and IV of a PBES2 algorithm of the kind certmint
 * writes (PBKDF2-HMAC-SHA256, 32-byte key, AES-256-CBC with a 16-byte IV);
 * 0 for any other kind. */
static int pbes2_ours(unsigned char salt[32], size_t *saltlen, uint64_t *iter, unsigned char iv[16],
                      const X509_ALGOR *alg)
{
    PBE2PARAM *pbe2 = NULL;
    PBKDF2PARAM *kdf = NULL;
    const ASN1_TYPE *ivt = NULL;
    int ok = 0;

    if ((pbe2 = pbes2_params(alg)) == NULL || (kdf = pbkdf2_params(pbe2)) == NULL)
        goto out;
    ivt = pbe2->encryption->parameter;
    ok = kdf->prf != NULL && OBJ_obj2nid(kdf->prf->algorithm) == NID_hmacWithSHA256 &&
         (kdf->keylength == NULL || ASN1_INTEGER_get(kdf->keylength) == 32) &&
         kdf->salt->type == V_ASN1_OCTET_STRING && kdf->salt->value.octet_string->length <= 32 &&
         ASN1_INTEGER_get_uint64(iter, kdf->iter) == 1 && *iter > 0 &&
         OBJ_obj2nid(pbe2->encryption->algorithm) == NID_aes_256_cbc && ivt != NULL &&
         ivt->type == V_ASN1_OCTET_STRING && ivt->value.octet_string->length == 16;
    if (ok) {
        *saltlen = (size_t)kdf->salt->value.octet_string->length;
        memcpy(salt, kdf->salt->value.octet_string->data, *saltlen);
        memcpy(iv, ivt->value.octet_string->data, 16);
    }
out:
    PBKDF2PARAM_free(kdf);
    PBE2PARAM_free(pbe2);
    return ok;
}

/* Decrypts an EncryptedPrivateKeyInfo that pbes2_ours accepts, deriving
 * the key with key_pbkdf2_sha256. CM_ERR_UNSUPPORTED: another kind, for
 * libcrypto's reader; CM_ERR_AUTH: it does not decrypt (a wrong
 * passphrase: a bad padding, or no PrivateKeyInfo inside). */
static cm_err pbes2_decrypt(EVP_PKEY **out, const X509_SIG *sig, const char *pass)
{
    cm_err rc = CM_OK;
    const X509_ALGOR *alg = NULL;
    const ASN1_OCTET_STRING *enc = NULL;
    unsigned char salt[32], iv[16], key[32];
    unsigned char *plain = NULL;
    const unsigned char *p = NULL;
    size_t saltlen = 0, cap = 0;
    uint64_t iter = 0;
    int n1 = 0, n2 = 0;
    EVP_CIPHER_CTX *cc = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;

    memset(key, 0, sizeof(key));
    X509_SIG_get0(sig, &alg, &enc);
    if (!pbes2_ours(salt, &saltlen, &iter, iv, alg))
        return CM_ERR_UNSUPPORTED;
    CM_TRY(key_pbkdf2_sha256(key, pass, strlen(pass), salt, saltlen, iter));
    cap = (size_t)enc->length + 16;
    plain = OPENSSL_malloc(cap);
    cc = EVP_CIPHER_CTX_new();
    CM_NOMEM_IF(plain == NULL || cc == NULL);
    if (EVP_DecryptInit_ex(cc, EVP_aes_256_cbc(), NULL, key, iv) != 1 ||
        EVP_DecryptUpdate(cc, plain, &n1, enc->data, enc->length) != 1 ||
        EVP_DecryptFinal_ex(cc, plain + n1, &n2) != 1) {
        rc = CM_ERR_AUTH; /* the caller words it, with libcrypto's reason */
        goto out;
    }
    p = plain;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)n1 + n2);
    if (p8 == NULL || (*out = EVP_PKCS82PKEY(p8)) == NULL)
        rc = CM_ERR_AUTH;
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_CIPHER_CTX_free(cc);
    OPENSSL_clear_free(plain, cap);
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

/* certmint's own kind of key is decrypted by pbes2_decrypt (the faster
 * PBKDF2), any other (older keys, keys made elsewhere) by libcrypto. */
cm_err key_load_encrypted(EVP_PKEY **out, const char *path, const char *pass)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *mem = NULL;
    X509_SIG *sig = NULL;

    *out = NULL;
    CM_TRY(fs_read_file(&data, &len, path, MAX_KEY_FILE));
    mem = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(mem == NULL);
    sig = PEM_read_bio_PKCS8(mem, NULL, NULL, NULL);
    rc = sig != NULL ? pbes2_decrypt(out, sig, pass) : CM_ERR_UNSUPPORTED;
    if (rc == CM_ERR_AUTH)
        CM_FAIL_OSSL(CM_ERR_AUTH, "%s: cannot decrypt the CA key (wrong passphrase?)", path);
    if (rc != CM_ERR_UNSUPPORTED)
        goto out;
    rc = CM_OK;
    ERR_clear_error();
    /* A read-only memory BIO rewinds to its start. */
    if (BIO_reset(mem) != 1)
        CM_FAIL_OSSL(CM_ERR_NOMEM, "%s: cannot read the key again", path);
    *out = PEM_read_bio_PrivateKey(mem, NULL, NULL, (void *)pass);
    if (*out == NULL)
        CM_FAIL_OSSL(CM_ERR_AUTH, "%s: cannot decrypt the CA key (wrong passphrase?)", path);
out:
    X509_SIG_free(sig);
    BIO_free(mem);
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    return rc;
}

static cm_err prompt_tty(char *out, size_t outsz, const char *prompt)
{
    cm_err rc = CM_OK;
    struct termios old, quiet;
    int fd = -1, restored = 1;
    size_t n = 0;
    char c;
    ssize_t r;

    fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return cm_err_set(CM_ERR_INVALID,
                          "no passphrase: give --passphrase-file FILE or set ca.passphrase_file "
                          "(no terminal to prompt on)");
    if (write(fd, prompt, strlen(prompt)) < 0)
        CM_FAIL(CM_ERR_IO, "/dev/tty: %s", strerror(errno));
    if (tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0)
            restored = 0;
    }
    while ((r = read(fd, &c, 1)) == 1 && c != '\n' && c != '\r') {
        if (n + 1 >= outsz)
            CM_FAIL(CM_ERR_INVALID, "passphrase too long");
        out[n++] = c;
    }
    out[n] = '\0';
    if (r < 0)
        CM_FAIL(CM_ERR_IO, "/dev/tty: %s", strerror(errno));
out:
    if (!restored)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (fd >= 0) {
        if (write(fd, "\n", 1) < 0) {
            /* nothing to do: the prompt line just stays unterminated */
        }
        close(fd);
    }
    return rc;
}

cm_err key_read_passphrase(char *out, size_t outsz, const char *file, int confirm)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0, n;

    out[0] = '\0';
    if (file != NULL) {
        CM_TRY(fs_read_secret(&data, &len, file, 4096, "passphrase file"));
        for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
            ;
        if (n == 0)
            CM_FAIL(CM_ERR_INVALID, "%s: passphrase file is empty", file);
        if (n + 1 > outsz)
            CM_FAIL(CM_ERR_INVALID, "%s: passphrase too long", file);
        memcpy(out, data, n);
        out[n] = '\0';
    } else {
        char again[1024];
        CM_TRY(prompt_tty(out, outsz, "CA key passphrase: "));
        if (confirm) {
            rc = prompt_tty(again, sizeof(again), "Repeat passphrase: ");
            if (rc == CM_OK && strcmp(out, again) != 0)
                rc = cm_err_set(CM_ERR_INVALID, "passphrases do not match");
            OPENSSL_cleanse(again, sizeof(again));
            if (rc != CM_OK)
                goto out;
        }
        if (out[0] == '\0')
            CM_FAIL(CM_ERR_INVALID, "empty passphrase refused");
    }
    if (strlen(out) < 8 && confirm)
        CM_FAIL(CM_ERR_INVALID, "passphrase too short: at least 8 characters");
out:
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    if (rc != CM_OK)
        OPENSSL_cleanse(out, outsz);
    return rc;
}
