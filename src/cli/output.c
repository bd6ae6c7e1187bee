/* Small output helpers shared by the commands. */
#include "cli/cli.h"

#include "util/fsutil.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cm_err cli_cert_pem(char **out, const unsigned char *der, size_t len)
{
    cm_err rc = CM_OK;
    BIO *mem = NULL;
    char *p;
    long n;

    *out = NULL;
    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    if (!PEM_write_bio(mem, "CERTIFICATE", "", der, (long)len))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the certificate as PEM");
    n = BIO_get_mem_data(mem, &p);
    *out = malloc((size_t)n + 1);
    CM_NOMEM_IF(*out == NULL);
    memcpy(*out, p, (size_t)n);
    (*out)[n] = '\0';
out:
    BIO_free(mem);
    return rc;
}

static int is_stdout(const char *path)
{
    return path == NULL || strcmp(path, "-") == 0;
}

cm_err cli_out_check(const struct cli_global *g, const char *path, int force)
{
    if (is_stdout(path))
        return CM_OK;
    return fs_out_check(path, g->home, force);
}

cm_err cli_write_file(const struct cli_global *g, const char *path, int force, const void *data,
                      size_t len, mode_t mode)
{
    if (!is_stdout(path))
        return fs_out_write(path, g->home, force, data, len, mode);
    if ((len > 0 && fwrite(data, len, 1, stdout) != 1) || fflush(stdout) != 0)
        return cm_err_set(CM_ERR_IO, "stdout: write failed");
    return CM_OK;
}

cm_err cli_write_cert(const struct cli_global *g, const char *path, int force,
                      const unsigned char *der, size_t len)
{
    char *pem = NULL;
    cm_err rc = cli_cert_pem(&pem, der, len);
    if (rc != CM_OK)
        return rc;
    rc = cli_write_file(g, path, force, pem, strlen(pem), 0644);
    free(pem);
    return rc;
}

cm_err cli_parse_request_id(int64_t *out, const char *s)
{
    long long v;
    cm_err rc = text_parse_int(&v, s, 1, INT64_MAX, "request ID");
    if (rc == CM_OK)
        *out = v;
    return rc;
}
