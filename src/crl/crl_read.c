/* Reading back a published CRL (crl.h: crl_published_read). */
#include "crl/crl.h"

#include "util/fsutil.h"
#include "util/text.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

cm_err crl_published_read(unsigned char **der, size_t *len, const struct crl_result *r)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL, md[32];
    size_t n = 0;
    char hex[65];

    *der = NULL;
    *len = 0;
    CM_TRY(fs_read_file(&data, &n, r->der_path, CRL_MAX_BYTES));
    if (EVP_Digest(data, n, md, NULL, EVP_sha256(), NULL) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: SHA-256 failed", r->der_path);
    text_hex(hex, md, sizeof(md));
    if (strcmp(hex, r->sha256_hex) != 0)
        CM_FAIL(CM_ERR_STATE, "%s: replaced by another CRL meanwhile", r->der_path);
    *der = data;
    *len = n;
    data = NULL;
out:
    free(data);
    return rc;
}
