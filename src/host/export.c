/* host export --pfx (Export-ExchangeCertificate): PKCS#12 (RFC 7292) with
 * PBES2 / AES-256-CBC / PBKDF2 (RFC 8018) for the key and the certificates,
 * and an HMAC-SHA256 MAC: what Windows Server 2019+ and OpenSSL 3 read;
 * never the RC2/3DES of the old defaults. */
#include "host/host.h"

#include "ca/ca.h"
#include "util/fsutil.h"

#include <limits.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#define PFX_ITER 600000 /* PBKDF2 iterations, as the store's own keys */

static cm_err load_certs(X509 **leaf, STACK_OF(X509) * *chain, host_store *st, const char *name)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;

    CM_TRY(host_entry_file(path, sizeof(path), st, name, "cert.pem"));
    if (!fs_exists(path))
        CM_FAIL(CM_ERR_STATE, "'%s' has no certificate yet (host import)", name);
    CM_TRY(fs_read_file(&data, &len, path, CA_MAX_CERT_BYTES));
    CM_TRY(ca_cert_parse(leaf, data, len, path));
    free(data);
    data = NULL;
    CM_TRY(host_entry_file(path, sizeof(path), st, name, "chain.pem"));
    CM_TRY(fs_read_file(&data, &len, path, HOST_MAX_FILE));
    if (len == 0) {
        *chain = sk_X509_new_null();
        CM_NOMEM_IF(*chain == NULL);
    } else {
        CM_TRY(host_read_certs((void **)chain, data, len, path));
    }
out:
    free(data);
    return rc;
}

cm_err host_export_pfx(unsigned char **der, size_t *len, host_store *st, const char *name,
                       const char *pfx_pass_file, const char *key_pass_file)
{
    cm_err rc = CM_OK;
    struct host_info i;
    EVP_PKEY *k = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    PKCS12 *p12 = NULL;
    char pass[1024];
    unsigned char *p = NULL;
    int n;

    *der = NULL;
    pass[0] = '\0';
    memset(&i, 0, sizeof(i));
    CM_TRY(host_info_get(&i, st, name));
    if (strncmp(i.key, "pkcs11 ", 7) == 0)
        CM_FAIL(CM_ERR_POLICY,
                "the key of '%s' is in a PKCS#11 token: not exportable (it never leaves the token)",
                name);
    if (!i.exportable)
        CM_FAIL(CM_ERR_POLICY, "the key of '%s' is not exportable (made without --exportable)",
                name);
    if (pfx_pass_file == NULL)
        CM_FAIL(CM_ERR_INVALID, "host export --pfx: give --password-file FILE");
    CM_TRY(load_certs(&leaf, &chain, st, name));
    CM_TRY(host_entry_key(&k, st, name, key_pass_file));
    CM_TRY(key_read_passphrase(pass, sizeof(pass), pfx_pass_file, 0));
    p12 = PKCS12_create_ex(pass, name, k, leaf, chain, NID_aes_256_cbc, NID_aes_256_cbc, PFX_ITER,
                           -1, 0, NULL, NULL);
    if (p12 == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "making the PKCS#12 of '%s'", name);
    if (PKCS12_set_mac(p12, pass, -1, NULL, 0, PFX_ITER, EVP_sha256()) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the PKCS#12 MAC");
    if ((n = i2d_PKCS12(p12, &p)) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "encoding the PKCS#12");
    *der = malloc((size_t)n);
    CM_NOMEM_IF(*der == NULL);
    memcpy(*der, p, (size_t)n);
    *len = (size_t)n;
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    OPENSSL_free(p);
    PKCS12_free(p12);
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    EVP_PKEY_free(k);
    host_info_clear(&i);
    return rc;
}
