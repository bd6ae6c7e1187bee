/* Key backend "file": the encrypted PKCS#8 file of src/ca/keys.c (PBES2,
 * PBKDF2-HMAC-SHA256 600,000 iterations for new keys; older keys load). */
#include "key/key.h"

#include "util/log.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASS_MAX 1024

struct file_key {
    EVP_PKEY *k;
    EVP_MD *md; /* fetched once: a per-signature fetch costs more than ECDSA */
    char path[PATH_MAX];
};

static int file_claims(const char *ref)
{
    (void)ref;
    return 1;
}

static void file_close(void *state)
{
    struct file_key *f = state;
    if (f == NULL)
        return;
    EVP_MD_free(f->md);
    EVP_PKEY_free(f->k);
    free(f);
}

static cm_err file_state(struct file_key **out, EVP_PKEY *k, const char *path)
{
    cm_err rc = CM_OK;
    struct file_key *f = calloc(1, sizeof(*f));
    const char *md = NULL;

    *out = NULL;
    CM_NOMEM_IF(f == NULL);
    snprintf(f->path, sizeof(f->path), "%s", path);
    f->k = k;
    md = key_sign_md(k);
    if (md != NULL && (f->md = EVP_MD_fetch(NULL, md, NULL)) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "digest %s unavailable", md);
    *out = f;
    f = NULL;
out:
    if (f != NULL)
        f->k = NULL; /* the caller still owns k on failure */
    file_close(f);
    return rc;
}

cm_err key_file_state_from_pkey(void **state, EVP_PKEY *k);
cm_err key_file_state_from_pkey(void **state, EVP_PKEY *k)
{
    cm_err rc;
    struct file_key *f = NULL;

    if (!EVP_PKEY_up_ref(k))
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot take a reference on the key");
    if ((rc = file_state(&f, k, "(in memory)")) != CM_OK) {
        EVP_PKEY_free(k);
        return rc;
    }
    *state = f;
    return CM_OK;
}

static cm_err file_open(void **state, const char *ref, const struct key_open_opts *o)
{
    cm_err rc = CM_OK;
    char pass[PASS_MAX];
    EVP_PKEY *k = NULL;
    struct file_key *f = NULL;
    struct key_kdf kdf;

    *state = NULL;
    CM_TRY(key_read_passphrase(pass, sizeof(pass), o ? o->passphrase_file : NULL, 0));
    rc = key_load_encrypted(&k, ref, pass);
    OPENSSL_cleanse(pass, sizeof(pass));
    if (rc != CM_OK)
        goto out;
    CM_TRY(file_state(&f, k, ref));
    k = NULL;
    if (key_kdf_of(&kdf, ref) == CM_OK && key_kdf_is_weak(&kdf))
        log_warn("%s: the CA key is encrypted with %s, below current guidance; re-encrypt "
                 "it with 'certmint ca passphrase'",
                 ref, kdf.name);
    *state = f;
out:
    EVP_PKEY_free(k);
    return rc;
}

static cm_err file_create(void **state, int *created, const char *ref, const struct key_spec *spec,
                          const struct key_open_opts *o)
{
    cm_err rc = CM_OK;
    char pass[PASS_MAX];
    EVP_PKEY *k = NULL;
    struct file_key *f = NULL;

    *state = NULL;
    pass[0] = '\0';
    CM_TRY(
        key_read_passphrase(pass, sizeof(pass), o ? o->passphrase_file : NULL, o ? o->confirm : 1));
    CM_TRY(key_generate(&k, spec));
    CM_TRY(key_save_encrypted(k, ref, pass));
    CM_TRY(file_state(&f, k, ref));
    k = NULL;
    *created = 1;
    *state = f;
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    EVP_PKEY_free(k);
    return rc;
}

/* One-shot EVP_DigestSign: Ed25519 (RFC 8032 PureEdDSA) cannot stream. An
 * EVP_PKEY may sign from several threads at once (OpenSSL 3 threading
 * rules: only the per-call EVP_MD_CTX is mutable). */
static cm_err file_sign(void *state, unsigned char **sig, size_t *siglen, const char *md,
                        const unsigned char *data, size_t n)
{
    cm_err rc = CM_OK;
    struct file_key *f = state;
    EVP_MD_CTX *mctx = NULL;
    unsigned char *s = NULL;
    size_t len = 0;

    (void)md; /* f->md is the same digest, fetched once */
    mctx = EVP_MD_CTX_new();
    CM_NOMEM_IF(mctx == NULL);
    if (EVP_DigestSignInit(mctx, NULL, f->md, NULL, f->k) != 1 ||
        EVP_DigestSign(mctx, NULL, &len, data, n) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot start signing with the CA key");
    s = malloc(len);
    CM_NOMEM_IF(s == NULL);
    if (EVP_DigestSign(mctx, s, &len, data, n) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "signing with the CA key failed");
    *sig = s;
    *siglen = len;
    s = NULL;
out:
    free(s);
    EVP_MD_CTX_free(mctx);
    return rc;
}

/* One thread's signer (key_ops.signer_new): the private-key operation
 * initialised once (EVP_PKEY_sign_init: the signature algorithm fetched,
 * the key exported to it) and a digest context reused, as `openssl speed`
 * signs. Per signature: hash the data, then EVP_PKEY_sign over the hash,
 * which gives the same forms as EVP_DigestSign: a DER ECDSA-Sig-Value (RFC
 * 5480 2.2 / RFC 5758 3.2), an EMSA-PKCS1-v1_5 block over the DigestInfo
 * (RFC 8017 8.2.1). EVP_DigestSignInit per signature cost about 5 us of
 * fetches, locks and allocations; Ed25519 (no separate hash, RFC 8032)
 * keeps file_sign. */
struct file_signer {
    EVP_PKEY_CTX *pctx;
    EVP_MD_CTX *mctx;
    const EVP_MD *md; /* the state's, which outlives the signer */
};

static void file_signer_free(void *signer)
{
    struct file_signer *fs = signer;
    if (fs == NULL)
        return;
    EVP_PKEY_CTX_free(fs->pctx);
    EVP_MD_CTX_free(fs->mctx);
    free(fs);
}

static cm_err file_signer_new(void **signer, void *state)
{
    cm_err rc = CM_OK;
    struct file_key *f = state;
    struct file_signer *fs = NULL;

    *signer = NULL;
    if (f->md == NULL)
        return CM_OK;
    fs = calloc(1, sizeof(*fs));
    CM_NOMEM_IF(fs == NULL);
    fs->md = f->md;
    fs->mctx = EVP_MD_CTX_new();
    fs->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, f->k, NULL);
    CM_NOMEM_IF(fs->mctx == NULL || fs->pctx == NULL);
    /* The digest set on the context: ECDSA then refuses a hash of another
     * length, RSA encodes the DigestInfo of this digest (PKCS#1 v1.5 is
     * the context's default padding). */
    if (EVP_PKEY_sign_init(fs->pctx) != 1 || EVP_PKEY_CTX_set_signature_md(fs->pctx, f->md) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot start signing with the CA key", f->path);
    *signer = fs;
    fs = NULL;
out:
    file_signer_free(fs);
    return rc;
}

static cm_err file_signer_sign(void *signer, unsigned char **sig, size_t *siglen,
                               const unsigned char *data, size_t n)
{
    cm_err rc = CM_OK;
    struct file_signer *fs = signer;
    unsigned char hash[EVP_MAX_MD_SIZE], *s = NULL;
    unsigned int hlen = 0;
    size_t len = 0;

    if (EVP_DigestInit_ex(fs->mctx, fs->md, NULL) != 1 ||
        EVP_DigestUpdate(fs->mctx, data, n) != 1 || EVP_DigestFinal_ex(fs->mctx, hash, &hlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot hash the data to sign");
    if (EVP_PKEY_sign(fs->pctx, NULL, &len, hash, hlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot start signing with the CA key");
    s = malloc(len);
    CM_NOMEM_IF(s == NULL);
    if (EVP_PKEY_sign(fs->pctx, s, &len, hash, hlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "signing with the CA key failed");
    *sig = s;
    *siglen = len;
    s = NULL;
out:
    free(s);
    return rc;
}

/* RSA only: an EC transport key would need key agreement (RFC 5652
 * 6.2.2), which the CA does not offer. */
static cm_err file_decrypt(void *state, unsigned char **out, size_t *outlen,
                           const struct key_decrypt_params *dp, const unsigned char *in, size_t n)
{
    cm_err rc = CM_OK;
    struct file_key *f = state;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *p = NULL;
    size_t len = 0;

    if (EVP_PKEY_get_base_id(f->k) != EVP_PKEY_RSA)
        return cm_err_set(CM_ERR_UNSUPPORTED, "%s: a %s key cannot decrypt a key transport block",
                          f->path, EVP_PKEY_get0_type_name(f->k));
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, f->k, NULL);
    CM_NOMEM_IF(ctx == NULL);
    if (EVP_PKEY_decrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, dp->oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) !=
            1 ||
        (dp->oaep &&
         (EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, key_hash_name(dp->oaep_md), NULL) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, key_hash_name(dp->mgf1_md), NULL) != 1)) ||
        EVP_PKEY_decrypt(ctx, NULL, &len, in, n) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot start decrypting", f->path);
    p = malloc(len ? len : 1);
    CM_NOMEM_IF(p == NULL);
    if (EVP_PKEY_decrypt(ctx, p, &len, in, n) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: the block does not decrypt with this key (%s padding)",
                     f->path, dp->oaep ? "RSAES-OAEP" : "PKCS#1 v1.5");
    *out = p;
    *outlen = len;
    p = NULL;
out:
    if (p != NULL) {
        OPENSSL_cleanse(p, len);
        free(p);
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static EVP_PKEY *file_public_key(void *state)
{
    return ((struct file_key *)state)->k;
}

static void file_describe(void *state, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "encrypted key file %s", ((struct file_key *)state)->path);
}

const struct key_ops key_ops_file = {
    KEY_OPS_VERSION, "file",          file_claims,      file_open,        file_create,
    file_sign,       file_public_key, file_describe,    file_close,       NULL,
    file_decrypt,    file_signer_new, file_signer_sign, file_signer_free,
};
