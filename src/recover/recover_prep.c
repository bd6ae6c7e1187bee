/* Worker threads that decode and check the certificates recover-orphans
 * imports (recover_prep.h). */
#include "recover/recover_prep.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct slot {
    size_t idx;
    int done;
    struct prep_out r;
};

struct prep {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a slot was freed, or stop */
    pthread_cond_t done; /* a result is ready */
    size_t n, next, taken;
    int stop;
    int fd;
    prep_job_fn job;
    void *ctx;
    X509 *ca;
    EVP_PKEY *capub;
    /* Decoding in a library context that holds only the "null" provider
     * leaves the subject public key undecoded: OpenSSL 3.0 builds a decoder
     * chain for every key it decodes, ~10 times the cost of the rest of the
     * certificate (bench/recover.sh). Nothing here needs the subject's key:
     * the signature is checked with the CA's, and the certificate keeps the
     * default context for that (only its key decoder sees this one). */
    OSSL_LIB_CTX *nokeys;
    OSSL_PROVIDER *null_prov;
    struct slot slots[PREP_WINDOW];
    pthread_t th[PREP_MAX_WORKERS];
    int nth;
};

/* Reads n bytes at off; -1 on any failure (the writer will read them again
 * and report it). */
static int read_full(int fd, unsigned char *buf, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Decodes and checks one certificate: the same tests as restore_serial's
 * d2i_X509 and ca_check_signed_here. */
static void prep_one(struct prep *p, unsigned char **buf, size_t *cap, size_t i, struct prep_out *r)
{
    int64_t off = 0;
    uint32_t len = 0;
    const unsigned char *q;

    memset(r, 0, sizeof(*r));
    r->parsed = -1;
    p->job(p->ctx, i, &off, &len);
    if (len == 0)
        return;
    if (len > *cap) {
        unsigned char *nb = realloc(*buf, len);
        if (nb == NULL)
            return;
        *buf = nb;
        *cap = len;
    }
    if (read_full(p->fd, *buf, len, off) != 0)
        return;
    q = *buf;
    if (p->nokeys != NULL)
        r->x = (X509 *)ASN1_item_d2i_ex(NULL, &q, (long)len, ASN1_ITEM_rptr(X509), p->nokeys, NULL);
    else
        r->x = d2i_X509(NULL, &q, (long)len);
    if (r->x == NULL || q != *buf + len) {
        X509_free(r->x);
        r->x = NULL;
        r->parsed = 0;
    } else {
        r->parsed = 1;
        r->verified =
            X509_NAME_cmp(X509_get_issuer_name(r->x), X509_get_subject_name(p->ca)) == 0 &&
            X509_verify(r->x, p->capub) == 1;
    }
    /* The writer's work on a certificate it will import, done here. When
     * it fails, the writer does it again (with the message). */
    if (r->verified && ca_import_ready_make(&r->ready, r->x) == CM_OK) {
        r->ready_ok = 1;
        X509_free(r->x);
        r->x = NULL;
    } else {
        ca_import_ready_clear(&r->ready);
    }
    ERR_clear_error();
}

static void *prep_worker(void *arg)
{
    struct prep *p = arg;
    unsigned char *buf = NULL;
    size_t cap = 0;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        size_t i;
        struct prep_out r;
        if (p->stop)
            break;
        /* A job only when its slot is free: job i - PREP_WINDOW was taken. */
        if (p->next >= p->n || p->next >= p->taken + PREP_WINDOW) {
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        prep_one(p, &buf, &cap, i, &r);
        pthread_mutex_lock(&p->mu);
        p->slots[i % PREP_WINDOW].idx = i;
        p->slots[i % PREP_WINDOW].r = r;
        p->slots[i % PREP_WINDOW].done = 1;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    free(buf);
    OPENSSL_thread_stop();
    return NULL;
}

void prep_out_clear(struct prep_out *r)
{
    if (r == NULL)
        return;
    X509_free(r->x);
    r->x = NULL;
    ca_import_ready_clear(&r->ready);
    r->ready_ok = 0;
}

int prep_default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

cm_err prep_start(struct prep **out, int fd, size_t n, prep_job_fn job, void *ctx, X509 *ca_cert,
                  int workers)
{
    struct prep *p;

    *out = NULL;
    if (workers < 1 || workers > PREP_MAX_WORKERS)
        return cm_err_set(CM_ERR_INVALID, "workers: %d is not between 1 and %d", workers,
                          PREP_MAX_WORKERS);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = n;
    p->fd = fd;
    p->job = job;
    p->ctx = ctx;
    p->ca = ca_cert;
    p->capub = X509_get0_pubkey(ca_cert);
    if (p->capub == NULL) {
        prep_stop(p);
        return cm_err_ossl(CM_ERR_CRYPTO, "this CA's public key cannot be read");
    }
    p->nokeys = OSSL_LIB_CTX_new();
    if (p->nokeys != NULL)
        p->null_prov = OSSL_PROVIDER_load(p->nokeys, "null");
    if (p->null_prov == NULL) {
        /* Works without it, at the cost of decoding every key. */
        OSSL_LIB_CTX_free(p->nokeys);
        p->nokeys = NULL;
        ERR_clear_error();
    }
    if ((size_t)workers > n)
        workers = n > 0 ? (int)n : 1;
    for (; p->nth < workers; p->nth++)
        if (pthread_create(&p->th[p->nth], NULL, prep_worker, p) != 0) {
            if (p->nth > 0)
                break; /* fewer workers: still correct */
            prep_stop(p);
            return cm_err_set(CM_ERR_NOMEM, "cannot start a worker thread");
        }
    *out = p;
    return CM_OK;
}

void prep_take(struct prep *p, size_t i, struct prep_out *out)
{
    memset(out, 0, sizeof(*out));
    out->parsed = -1;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    while (p->taken <= i && p->taken < p->n) {
        struct slot *s = &p->slots[p->taken % PREP_WINDOW];
        if (!s->done || s->idx != p->taken) {
            pthread_cond_wait(&p->done, &p->mu);
            continue;
        }
        if (p->taken == i)
            *out = s->r;
        else
            prep_out_clear(&s->r); /* skipped over: not needed */
        s->done = 0;
        memset(&s->r, 0, sizeof(s->r));
        p->taken++;
        pthread_cond_broadcast(&p->work);
    }
    pthread_mutex_unlock(&p->mu);
}

void prep_stop(struct prep *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < p->nth; k++)
        pthread_join(p->th[k], NULL);
    for (size_t k = 0; k < PREP_WINDOW; k++)
        if (p->slots[k].done)
            prep_out_clear(&p->slots[k].r);
    if (p->null_prov)
        OSSL_PROVIDER_unload(p->null_prov);
    OSSL_LIB_CTX_free(p->nokeys);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
