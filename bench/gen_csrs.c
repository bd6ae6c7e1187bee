/* Writes N PKCS#10 requests (DER) with fresh keys into a directory, for the
 * issuance benchmark: gen_csrs DIR N [ec:p256|rsa:2048]. Not part of the
 * product; built by bench/run.sh. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_csrs DIR N [ec:p256|rsa:2048]\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    int rsa = argc > 3 && strcmp(argv[3], "rsa:2048") == 0;
    EVP_PKEY *k = NULL;
    for (long i = 0; i < n; i++) {
        char cn[64], path[4096], san[96];
        /* A few keys are reused: key generation is not what is measured. */
        if (i % 64 == 0) {
            EVP_PKEY_free(k);
            k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                    : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        }
        X509_REQ *r = X509_REQ_new();
        X509_NAME *nm = X509_NAME_new();
        snprintf(cn, sizeof(cn), "host%ld.bench.example.org", i);
        X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0);
        X509_REQ_set_subject_name(r, nm);
        X509_REQ_set_pubkey(r, k);
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        snprintf(san, sizeof(san), "DNS:%s", cn);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        sk_X509_EXTENSION_push(exts, e);
        X509_REQ_add_extensions(r, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        X509_REQ_sign(r, k, EVP_sha256());
        snprintf(path, sizeof(path), "%s/%06ld.csr", argv[1], i);
        FILE *f = fopen(path, "wb");
        if (f == NULL || !i2d_X509_REQ_fp(f, r)) {
            perror(path);
            return 1;
        }
        fclose(f);
        X509_NAME_free(nm);
        X509_REQ_free(r);
    }
    EVP_PKEY_free(k);
    return 0;
}
