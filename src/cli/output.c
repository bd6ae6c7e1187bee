/* Small output helpers shared by the commands. */
#include "cli/cli.h"

#include "util/fsutil.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

cm_err cli_write_data(const struct cli_global *g, const char *path, int force, const void *data,
                      size_t len, int binary)
{
    if (is_stdout(path) && binary && isatty(STDOUT_FILENO))
        return cm_err_set(CM_ERR_INVALID,
                          "binary output is not written to a terminal: give --out FILE or "
                          "redirect standard output");
    return cli_write_file(g, path, force, data, len, 0644);
}

cm_err cli_parse_request_id(int64_t *out, const char *s)
{
    long long v;
    cm_err rc = text_parse_int(&v, s, 1, INT64_MAX, "request ID");
    if (rc == CM_OK)
        *out = v;
    return rc;
}

int cli_parse_format(enum cli_format *out, const char *arg)
{
    if (strcmp(arg, "json") == 0)
        *out = CLI_FMT_JSON;
    else if (strcmp(arg, "table") == 0 || strcmp(arg, "text") == 0)
        *out = CLI_FMT_TEXT;
    else
        return cli_usage_error("%s: --format '%s': use table or json",
                               cli_current ? cli_current->name : "certmint", arg);
    return 0;
}

cm_err cli_json_write(cm_buf *b, cm_err rc)
{
    if (rc == CM_OK)
        rc = buf_append(b, "\n", 1);
    if (rc == CM_OK && (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0))
        rc = cm_err_set(CM_ERR_IO, "standard output: write failed");
    buf_free(b);
    return rc;
}

int cli_take_format(enum cli_format *out, int *argc, char **argv)
{
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int drop;
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--format=", 9) == 0) {
            v = argv[i] + 9;
            drop = 1;
        } else if (strcmp(argv[i], "--format") == 0) {
            if (i + 1 >= *argc)
                return cli_usage_error("%s: option '--format' needs a value",
                                       cli_current ? cli_current->name : "certmint");
            v = argv[i + 1];
            drop = 2;
        } else {
            continue;
        }
        if (cli_parse_format(out, v) != 0)
            return 2;
        memmove(&argv[i], &argv[i + drop], (size_t)(*argc - i - drop + 1) * sizeof(*argv));
        *argc -= drop;
        i--;
    }
    return 0;
}

int cli_json_emit(cm_buf *b, cm_err rc)
{
    rc = cli_json_write(b, rc);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

void cli_print_safe(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (; p != NULL && *p; p++) {
        /* C1 controls are U+0080..U+009F, UTF-8 C2 80..C2 9F. */
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fprintf(f, "\\x%02X", p[1]);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\x%02X", *p);
        } else {
            fputc(*p, f);
        }
    }
}
