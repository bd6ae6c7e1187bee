/* libFuzzer target for opening an archival envelope through the key ops
 * (kra_open_key, src/kra/cms_key.c: the recipient search, the OAEP
 * parameters and the envelope rebuilt around one KEKRecipientInfo). An
 * input whose first byte is 0 is an XOR mask over a valid envelope (AES-
 * 256-GCM, RSAES-OAEP) to the test transport certificate, made at start,
 * so that mutations reach past the parser; any other input is taken as
 * the envelope itself. Invariants: an envelope opens only to the bytes it
 * was made of or fails with an error; never a crash (sanitizers). */
#include "key/key.h"
#include "kra/kra.h"

#include <openssl/cms.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char secret[32] = "fuzzed content-encryption key!!";
static cm_key *tk;
static X509 *tc;
static unsigned char *good;
static int good_len;

static void setup(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    X509_NAME *n = X509_NAME_new();
    BIO *in = BIO_new_mem_buf(secret, sizeof(secret));
    CMS_ContentInfo *cms = NULL;
    CMS_RecipientInfo *ri = NULL;
    EVP_PKEY_CTX *pc = NULL;

    tc = X509_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"transport", -1, -1,
                               0);
    X509_set_subject_name(tc, n);
    X509_set_issuer_name(tc, n);
    ASN1_INTEGER_set(X509_get_serialNumber(tc), 1);
    X509_set_pubkey(tc, k);
    X509_NAME_free(n);
    cms = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL);
    if (cms == NULL || (ri = CMS_add1_recipient_cert(cms, tc, CMS_KEY_PARAM)) == NULL ||
        (pc = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL ||
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) != 1 ||
        CMS_final(cms, in, NULL, CMS_BINARY) != 1 ||
        (good_len = i2d_CMS_ContentInfo(cms, &good)) <= 0 || key_from_pkey(&tk, k) != CM_OK)
        abort();
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    EVP_PKEY_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *env = NULL, *out = NULL;
    size_t len = size, outlen = 0;
    cm_err rc;

    if (tk == NULL)
        setup();
    if (size > 0 && data[0] == 0) {
        len = (size_t)good_len;
        env = malloc(len);
        if (env == NULL)
            return 0;
        memcpy(env, good, len);
        for (size_t i = 1; i < size && i - 1 < len; i++)
            env[i - 1] ^= data[i];
    } else {
        env = malloc(size ? size : 1);
        if (env == NULL)
            return 0;
        memcpy(env, data, size);
    }
    rc = kra_open_key(&out, &outlen, env, len, tc, tk, "fuzz envelope");
    /* GCM: what opens is what was sealed (a mask may change the
     * recipient's unauthenticated parts, never the content). */
    if (rc == CM_OK && data[0] == 0 && (outlen != sizeof(secret) || memcmp(out, secret, outlen)))
        abort();
    if (rc == CM_OK)
        kra_secret_free(out, outlen);
    free(env);
    cm_err_clear();
    return 0;
}
