/* The HTTP server's calls into the core, all in this one file: the CA
 * files and CRLs it publishes, the metrics that need the database, and the
 * OCSP responder's refresher. */
#include "ca/ca.h"
#include "http/http_int.h"

#include "ca/stats.h"
#include "crl/crl.h"
#include "exit/exit.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void file_set(struct http_file *f, unsigned char *data, size_t len, int64_t mtime,
                     int64_t expires)
{
    unsigned char md[32];
    char hex[65];
    SHA256(data, len, md);
    for (size_t i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    f->data = data;
    f->len = len;
    snprintf(f->etag, sizeof(f->etag), "\"%s\"", hex);
    f->last_modified = mtime;
    f->expires = expires;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* A published CRL (HOME/crl/NAME): Last-Modified its thisUpdate, cached up
 * to its nextUpdate (RFC 5019 6.2 does the same for OCSP). Absent: left
 * empty (404). */
static cm_err load_crl(struct http_file *f, int64_t *number, ca_ctx *ca, const char *name)
{
    cm_err rc = CM_OK;
    char dir[PATH_MAX], path[PATH_MAX];
    unsigned char *data = NULL;
    const unsigned char *p;
    size_t len = 0;
    X509_CRL *crl = NULL;
    ASN1_INTEGER *num = NULL;

    CM_TRY(fs_join(dir, sizeof(dir), ca_home(ca), CA_CRL_DIR));
    CM_TRY(fs_join(path, sizeof(path), dir, name));
    if (!fs_exists(path))
        goto out;
    CM_TRY(fs_read_file(&data, &len, path, CRL_MAX_BYTES));
    p = data;
    if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a DER CRL", path);
    num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    *number = num ? ASN1_INTEGER_get(num) : 0;
    file_set(f, data, len, asn1_unix(X509_CRL_get0_lastUpdate(crl)),
             asn1_unix(X509_CRL_get0_nextUpdate(crl)));
    data = NULL;
out:
    free(data);
    X509_CRL_free(crl);
    ASN1_INTEGER_free(num);
    return rc;
}

static cm_err load_export(struct http_file *f, ca_ctx *ca, int with_chain,
                          enum ca_export_format fmt, int64_t mtime)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    CM_TRY(ca_cert_export(&data, &len, ca, NULL, 0, with_chain, fmt));
    file_set(f, data, len, mtime, 0);
out:
    return rc;
}

cm_err http_files_load(struct http_files **out, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    struct http_files *f = calloc(1, sizeof(*f));
    char path[PATH_MAX];
    struct stat st;
    int64_t mtime = 0;

    *out = NULL;
    CM_NOMEM_IF(f == NULL);
    atomic_store(&f->refs, 1);
    if (ca_certificate(ca) == NULL)
        CM_FAIL(CM_ERR_STATE, "HTTP: the CA has no certificate yet (install-ca-cert first)");
    if (fs_join(path, sizeof(path), ca_home(ca), CA_CERT_FILE) == CM_OK && stat(path, &st) == 0)
        mtime = (int64_t)st.st_mtime;
    CM_TRY(load_export(&f->f[HF_CA_DER], ca, 0, CA_EXPORT_DER, mtime));
    CM_TRY(load_export(&f->f[HF_CA_PEM], ca, 0, CA_EXPORT_PEM, mtime));
    CM_TRY(load_export(&f->f[HF_CHAIN_P7B], ca, 1, CA_EXPORT_P7B, mtime));
    CM_TRY(load_export(&f->f[HF_CHAIN_PEM], ca, 1, CA_EXPORT_PEM, mtime));
    CM_TRY(load_crl(&f->f[HF_CRL], &f->crl_number, ca, CRL_FULL_DER));
    CM_TRY(load_crl(&f->f[HF_DELTA_CRL], &f->delta_number, ca, CRL_DELTA_DER));
    *out = f;
    f = NULL;
out:
    http_files_free(f);
    return rc;
}

void http_files_free(struct http_files *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < HF_COUNT; i++)
        free(f->f[i].data);
    free(f);
}

const struct http_file *http_files_get(struct http_server *s, struct http_files **hold, int id)
{
    struct http_files *f;
    pthread_mutex_lock(&s->lock);
    f = s->files;
    atomic_fetch_add(&f->refs, 1);
    pthread_mutex_unlock(&s->lock);
    *hold = f;
    return &f->f[id];
}

void http_files_put(struct http_server *s, struct http_files *hold)
{
    (void)s;
    if (hold != NULL && atomic_fetch_sub(&hold->refs, 1) == 1)
        http_files_free(hold);
}

/* ---- metrics that need the database (the ca_ctx's thread) ---- */

struct module_lines {
    cm_buf *b;
};

static void module_cb(void *ctx, const struct exit_module_status *st)
{
    struct module_lines *m = ctx;
    if (!st->enabled)
        return;
    if (buf_printf(m->b, "certmint_outbox_backlog{module=\"%s\"} %lld\n", st->name,
                   (long long)st->backlog) != CM_OK ||
        buf_printf(m->b, "certmint_outbox_poisoned{module=\"%s\"} %lld\n", st->name,
                   (long long)st->poisoned) != CM_OK)
        return;
}

/* Seconds until a CRL's nextUpdate; -1 when none was published. */
static long long next_in(int64_t number, int64_t next_update, int64_t now)
{
    return number > 0 ? (long long)(next_update - now) : -1;
}

void http_metrics_refresh(struct http_server *s, ca_ctx *ca)
{
    cm_buf b = CM_BUF_INIT(1 << 20);
    struct module_lines m = {&b};
    struct ca_stats st;
    int64_t now = (int64_t)time(NULL);
    size_t len = 0;
    char *text;
    cm_err rc = CM_OK;

    CM_TRY(ca_stats_read(&st, ca));
    CM_TRY(buf_printf(&b,
                      "# HELP certmint_certificates Certificates in the database.\n"
                      "# TYPE certmint_certificates gauge\ncertmint_certificates %lld\n"
                      "# HELP certmint_requests_pending Requests waiting for an officer.\n"
                      "# TYPE certmint_requests_pending gauge\ncertmint_requests_pending %lld\n"
                      "# HELP certmint_crl_next_update_seconds Seconds until the current CRL's "
                      "nextUpdate (-1: none published).\n"
                      "# TYPE certmint_crl_next_update_seconds gauge\n"
                      "certmint_crl_next_update_seconds{kind=\"full\"} %lld\n"
                      "certmint_crl_next_update_seconds{kind=\"delta\"} %lld\n"
                      "# HELP certmint_outbox_backlog Events not yet delivered, per exit module.\n"
                      "# TYPE certmint_outbox_backlog gauge\n"
                      "# HELP certmint_outbox_poisoned Poisoned events, per exit module.\n"
                      "# TYPE certmint_outbox_poisoned gauge\n",
                      (long long)st.certificates, (long long)st.requests_pending,
                      next_in(st.crl_number, st.crl_next_update, now),
                      next_in(st.delta_number, st.delta_next_update, now)));
    if (exit_status(ca, module_cb, &m) != CM_OK)
        log_error("metrics: exit module status: %s", cm_err_msg());
    CM_TRY(buf_reserve(&b, 1));
    text = (char *)buf_steal(&b, &len);
    text[len] = '\0';
    pthread_mutex_lock(&s->lock);
    free(s->metrics_core);
    s->metrics_core = text;
    pthread_mutex_unlock(&s->lock);
out:
    if (rc != CM_OK)
        log_error("metrics: %s", cm_err_msg());
    buf_free(&b);
}

/* ---- the OCSP responder ---- */

cm_err http_ocsp_start(struct http_server *s, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    struct ocsp_opts o;
    size_t n = 0;
    CM_TRY(ocsp_opts_from_config(&o, ca_config(ca)));
    /* Default: half the threads may sign on demand, the others stay free
     * for the cached answers. */
    if (o.max_inflight_sign <= 0)
        o.max_inflight_sign = s->nthreads > 1 ? s->nthreads / 2 : 1;
    CM_TRY(ocsp_responder_new(&s->ocsp, ca, &o));
    /* The first fill before serving: no request waits for it. */
    CM_TRY(ocsp_responder_sync(s->ocsp, &n));
    atomic_fetch_add(&s->ocsp_signed, (long)n);
    log_info("OCSP: %zu response(s) pre-signed (%s)", n,
             o.use_ca_key ? "CA key" : "delegated responder");
out:
    return rc;
}

/* Polls the database four times a second: a revocation is answered from
 * the next sync on (and, until its response is signed, by signing on
 * demand: a changed entry is never served from its old bytes). */
void *http_ocsp_refresher(void *arg)
{
    struct http_server *s = arg;
    struct timespec ts = {0, 250 * 1000 * 1000};
    while (!atomic_load(&s->stopping)) {
        size_t n = 0;
        if (ocsp_responder_sync(s->ocsp, &n) != CM_OK)
            log_error("OCSP refresh: %s", cm_err_msg());
        else if (n > 0)
            log_debug("OCSP: %zu response(s) signed", n);
        atomic_fetch_add(&s->ocsp_signed, (long)n);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

void http_server_tick(http_server *s, ca_ctx *ca)
{
    struct http_files *f = NULL;
    struct ca_stats st;
    int r = 0;
    if (s == NULL)
        return;
    http_metrics_refresh(s, ca);
    if (ocsp_responder_renew(s->ocsp, ca, &r) != CM_OK)
        log_error("OCSP responder certificate renewal: %s", cm_err_msg());
    else if (r)
        log_info("OCSP responder certificate renewed");
    /* A CRL published since (by this loop or by `certmint crl`): served
     * from now on. */
    if (ca_stats_read(&st, ca) != CM_OK) {
        log_error("HTTP: reading the CRL numbers: %s", cm_err_msg());
        cm_err_clear();
        return;
    }
    pthread_mutex_lock(&s->lock);
    f = s->files;
    r = f->crl_number != st.crl_number || f->delta_number != st.delta_number;
    pthread_mutex_unlock(&s->lock);
    if (r)
        http_server_reload_files(s, ca);
}
