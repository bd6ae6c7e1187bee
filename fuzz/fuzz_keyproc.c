/* libFuzzer target for the key process's request check (src/key/keyproc.c):
 * arbitrary bytes sent as the to-be-signed data of a SIGN request to a key
 * process (keyproc_run in a thread, an in-memory P-256 CA key) through the
 * keyproc backend. Invariants: an answer is either a refusal or a signature
 * that verifies over exactly those bytes with the CA key, and only bytes
 * that are one DER SEQUENCE are ever signed. Sanitizers catch the rest. */
#include "key/keyproc.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NCONN 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ca_key;
static cm_key *client;

struct server_args {
    int fd[NCONN];
    cm_key *k;
    X509 *cert;
};

static void *server_main(void *arg)
{
    struct server_args *a = arg;
    keyproc_run(a->fd, NCONN, a->k, a->cert, NULL, NULL);
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
    a.cert = X509_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"Fuzz CA", -1, -1, 0);
    X509_set_subject_name(a.cert, n);
    X509_set_issuer_name(a.cert, n);
    X509_set_pubkey(a.cert, ca_key);
    X509_NAME_free(n);
    if (keyproc_sockets(c, a.fd, NCONN) != CM_OK || key_from_pkey(&a.k, ca_key) != CM_OK ||
        pthread_create(&th, NULL, server_main, &a) != 0 ||
        keyproc_ref(ref, sizeof(ref), c, NCONN) != CM_OK || key_open(&client, ref, NULL) != CM_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *m = NULL;
    cm_err rc;

    if (client == NULL)
        setup();
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
