/* AES-256-GCM sealing of an archived private key (NIST SP 800-38D): a
 * fresh content key per archived key, so a 96-bit random IV never repeats
 * under one key. The certificate's serial is the associated data. */
#include "kra/kra.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define IV_LEN 12
#define TAG_LEN 16

void kra_secret_free(unsigned char *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_clear_free(p, len);
}

static cm_err gcm(unsigned char *out, int *outlen, const unsigned char key[KRA_KEY_LEN],
                  const unsigned char *iv, const unsigned char *in, int inlen, const char *aad,
                  unsigned char *tag, int enc)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    cm_err rc = CM_OK;
    int n = 0, f = 0;

    if (c == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    if (EVP_CipherInit_ex2(c, EVP_aes_256_gcm(), key, iv, enc, NULL) != 1 ||
        EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_CipherUpdate(c, out, &n, in, inlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "AES-256-GCM failed");
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "AES-256-GCM failed");
    if (EVP_CipherFinal_ex(c, out + n, &f) != 1) {
        ERR_clear_error();
        CM_FAIL(CM_ERR_CRYPTO, "the archived key does not open with this content key "
                               "(wrong or too few shares, or the record was changed)");
    }
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "AES-256-GCM failed");
    *outlen = n + f;
out:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

cm_err kra_seal(unsigned char **out, size_t *outlen, const unsigned char key[KRA_KEY_LEN],
                const unsigned char *in, size_t inlen, const char *aad)
{
    unsigned char *o = NULL;
    int n = 0;
    cm_err rc = CM_OK;

    *out = NULL;
    *outlen = 0;
    if (inlen > KRA_MAX_FILE)
        return cm_err_set(CM_ERR_INVALID, "key to archive too large (%zu bytes)", inlen);
    o = OPENSSL_malloc(IV_LEN + inlen + TAG_LEN);
    CM_NOMEM_IF(o == NULL);
    if (RAND_bytes(o, IV_LEN) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "no randomness for the IV");
    CM_TRY(gcm(o + IV_LEN, &n, key, o, in, (int)inlen, aad, o + IV_LEN + inlen, 1));
    *out = o;
    *outlen = IV_LEN + inlen + TAG_LEN;
    o = NULL;
out:
    OPENSSL_free(o);
    return rc;
}

cm_err kra_unseal(unsigned char **out, size_t *outlen, const unsigned char key[KRA_KEY_LEN],
                  const unsigned char *in, size_t inlen, const char *aad)
{
    unsigned char *o = NULL, tag[TAG_LEN];
    size_t clen;
    int n = 0;
    cm_err rc = CM_OK;

    *out = NULL;
    *outlen = 0;
    if (inlen < IV_LEN + TAG_LEN || inlen > KRA_MAX_FILE + IV_LEN + TAG_LEN)
        return cm_err_set(CM_ERR_INVALID, "sealed key: %zu bytes is not a sealed key", inlen);
    clen = inlen - IV_LEN - TAG_LEN;
    memcpy(tag, in + IV_LEN + clen, TAG_LEN);
    o = OPENSSL_malloc(clen + 1);
    CM_NOMEM_IF(o == NULL);
    CM_TRY(gcm(o, &n, key, in, in + IV_LEN, (int)clen, aad, tag, 0));
    *out = o;
    *outlen = (size_t)n;
    o = NULL;
out:
    kra_secret_free(o, clen + 1);
    return rc;
}
