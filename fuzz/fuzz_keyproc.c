/* libFuzzer target for the key process's request check (src/key/keyproc.c):
 * arbitrary bytes sent as the to-be-signed data of a SIGN request to a key
 * process (keyproc_run in a thread, an in-memory P-256 CA key) through the
 * keyproc backend. Invariants: an answer is either a refusal or a signature
 * that verifies over exactly those bytes with the CA key, and only bytes
 * that are one DER SEQUENCE are ever signed. An input whose first byte is
 * 0xff is a block for the DECRYPT request instead (the rest: oaep flag,
 * then the block), to the key-transport key the key process opens on
 * request (RSA-2048): it decrypts to what OpenSSL itself decrypts the
 * block to, or fails; the CA key never decrypts. Sanitizers catch the
 * rest. */
#include "key/keyproc.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NCONN 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ca_key, *transport_key;
static cm_key *client, *transport;

static cm_err transport_open(cm_key **out, void *arg)
{
    (void)arg;
    return key_from_pkey(out, transport_key);
}

struct server_args {
    int fd[NCONN];
    cm_key *k;
    X509 *cert;
};

static void *server_main(void *arg)
{
    struct server_args *a = arg;
    struct keyproc_transport tr = {transport_open, NULL};
    keyproc_run(a->fd, NCONN, a->k, a->cert, NULL, &tr);
    return NULL;
}

static void setup(void)
{
    static struct server_args a;
    int c[NCONN];
    char ref[KEYPROC_REF_MAX];
    X509_NAME *n = X509_NAME_new();
    pthread_t th;

    ca_key = EVP_EC_gen("P-256");
    transport_key = EVP_RSA_gen(2048);
    a.cert = X509_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"Fuzz CA", -1, -1, 0);
    X509_set_subject_name(a.cert, n);
    X509_set_issuer_name(a.cert, n);
    X509_set_pubkey(a.cert, ca_key);
    X509_NAME_free(n);
    if (keyproc_sockets(c, a.fd, NCONN) != CM_OK || key_from_pkey(&a.k, ca_key) != CM_OK ||
        pthread_create(&th, NULL, server_main, &a) != 0 ||
        keyproc_ref(ref, sizeof(ref), c, NCONN) != CM_OK || key_open(&client, ref, NULL) != CM_OK ||
        key_open_aux(&transport, client, KEY_AUX_TRANSPORT) != CM_OK)
        abort();
}

/* What OpenSSL decrypts blk to (NULL: it does not). */
static unsigned char *direct(size_t *len, int oaep, const uint8_t *blk, size_t n)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, transport_key, NULL);
    unsigned char *p = malloc(512);
    *len = 512;
    if (c == NULL || p == NULL || EVP_PKEY_decrypt_init(c) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(c, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_decrypt(c, p, len, blk, n) != 1) {
        free(p);
        p = NULL;
    }
    EVP_PKEY_CTX_free(c);
    return p;
}

static int decrypt_one(const uint8_t *data, size_t size)
{
    struct key_decrypt_params dp = {data[0] & 1, KEY_HASH_SHA1, KEY_HASH_SHA1};
    unsigned char *out = NULL, *want = NULL;
    size_t outlen = 0, wantlen = 0;
    cm_err rc = key_decrypt(transport, &out, &outlen, &dp, data + 1, size - 1);

    want = direct(&wantlen, dp.oaep, data + 1, size - 1);
    if (rc == CM_OK && (want == NULL || wantlen != outlen || memcmp(out, want, outlen) != 0))
        abort();
    if (rc != CM_OK && rc != CM_ERR_CRYPTO && rc != CM_ERR_INVALID)
        abort(); /* a refusal, never a broken key process */
    free(out);
    free(want);
    out = NULL;
    if (key_decrypt(client, &out, &outlen, &dp, data + 1, size - 1) == CM_OK)
        abort(); /* the CA key never decrypts */
    cm_err_clear();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *m = NULL;
    cm_err rc;

    if (client == NULL)
        setup();
    if (size >= 2 && data[0] == 0xff)
        return decrypt_one(data + 1, size - 1);
    rc = key_sign(client, &sig, &siglen, data, size);
    if (rc == CM_OK) {
        m = EVP_MD_CTX_new();
        if (size == 0 || data[0] != 0x30 || m == NULL ||
            EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, ca_key) != 1 ||
            EVP_DigestVerify(m, sig, siglen, data, size) != 1)
            abort();
        EVP_MD_CTX_free(m);
    } else if (rc != CM_ERR_CRYPTO) {
        abort(); /* a refusal, never a broken key process */
    }
    free(sig);
    cm_err_clear();
    return 0;
}
