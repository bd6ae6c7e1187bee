/* libFuzzer target for the host store's parsers (src/host): the key = value
 * files (host_kv_parse: host.conf, entry.conf), the directive editor of
 * service configuration files (host_edit_directives, the three syntaxes), the
 * certificate reader of host import (host_read_certs: PEM, DER, PKCS#7) and
 * the thumbprint parser (host_thumb_parse), and the REST API's answers
 * (host_rest_parse_answer).
 * Invariants: a parsed kv file has keys of [a-z0-9_.] only and no key twice;
 * the directive edit is idempotent (editing its output again gives the same
 * bytes) and every directive appears in the output; a thumbprint is 4..64
 * lower-case hex digits; a certificate stack is non-empty and at most 16.
 * Sanitizers catch the rest. */
#include "db/db.h"
#include "host/edit.h"
#include "host/host.h"

#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_kv(const char *s, size_t size)
{
    struct host_kv kv = {0, NULL};
    if (host_kv_parse(&kv, s, size, "fuzz") != CM_OK)
        return;
    for (size_t i = 0; i < kv.n; i++) {
        for (const char *k = kv.p[i].key; *k; k++)
            if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '.'))
                abort();
        for (size_t j = i + 1; j < kv.n; j++)
            if (strcmp(kv.p[i].key, kv.p[j].key) == 0)
                abort();
    }
    host_kv_free(&kv);
}

static void fuzz_edit(const char *s, size_t size, enum host_syntax syn)
{
    struct host_directive d[2] = {{"ssl_cert", "</x/full.pem"}, {"ssl_key", "</x/key.pem"}};
    cm_buf a = CM_BUF_INIT(4 * 1024 * 1024), b = CM_BUF_INIT(4 * 1024 * 1024);

    if (host_edit_directives(&a, s, size, d, 2, syn) == CM_OK) {
        if (host_edit_directives(&b, (const char *)a.data, a.len, d, 2, syn) != CM_OK ||
            a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort();
        if (strstr(buf_str(&a), "/x/full.pem") == NULL || strstr(buf_str(&a), "/x/key.pem") == NULL)
            abort();
    }
    buf_free(&a);
    buf_free(&b);
}

/* An answer of certmint's REST API (host submit --ca https://): a known
 * disposition, and a certificate only when issued. */
static void fuzz_rest(const char *s, size_t size)
{
    static const long statuses[] = {200, 201, 202, 422};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        struct host_submit_result r;
        char *pem = NULL;
        memset(&r, 0, sizeof(r));
        if (host_rest_parse_answer(&r, &pem, statuses[i], s, size) == CM_OK &&
            (r.disposition < DB_DISP_PENDING || (pem != NULL && r.disposition != DB_DISP_ISSUED)))
            abort();
        free(pem);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), thumb[65];
    STACK_OF(X509) *sk = NULL;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_kv(s, size);
    fuzz_edit(s, size, HOST_SYNTAX_DOVECOT);
    fuzz_edit(s, size, HOST_SYNTAX_NGINX);
    fuzz_edit(s, size, HOST_SYNTAX_APACHE);
    if (host_thumb_parse(thumb, s) == CM_OK) {
        size_t n = strlen(thumb);
        if (n < 4 || n > 64)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!((thumb[i] >= '0' && thumb[i] <= '9') || (thumb[i] >= 'a' && thumb[i] <= 'f')))
                abort();
    }
    fuzz_rest(s, size);
    if (host_read_certs((void **)&sk, data, size, "fuzz") == CM_OK) {
        if (sk_X509_num(sk) < 1 || sk_X509_num(sk) > 16)
            abort();
        sk_X509_pop_free(sk, X509_free);
    }
    free(s);
    return 0;
}
