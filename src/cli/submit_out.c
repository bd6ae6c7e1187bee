/* submit --out DIR: the files of committed groups written while the batch
 * goes on (submit_out.h). */
#include "cli/submit_out.h"

#include "util/fsutil.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct submit_out {
    const struct cli_global *g;
    const char *dir;
    int force;
    struct ca_submission *subs;
    size_t n;
    unsigned char *written; /* per submission: its file was tried */
    fs_group *grp;          /* one thread at a time: the writer, then the caller */
    size_t committed, done; /* subs[0, committed) handed over, [0, done) written */
    int closing, failed, started;
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void out_failed(void *ctx, size_t index, cm_err rc)
{
    (void)index;
    cli_fail(rc);
    *(int *)ctx = 1;
}

/* Writes the certificates of subs[from, to) (at most FS_GROUP_MAX) that have
 * no file yet as REQUEST-ID.pem and syncs them as one group; returns 1 when
 * a file could not be written (reported on stderr). */
static int out_group(submit_out *w, size_t from, size_t to)
{
    int failed = 0;
    char name[64], *pem = NULL;
    cm_err rc;

    for (size_t i = from; i < to; i++) {
        const struct ca_submission *s = &w->subs[i];
        if (s->request_id == 0 || s->cert_der == NULL || w->written[i])
            continue;
        w->written[i] = 1;
        if (w->grp == NULL &&
            (rc = fs_group_open(&w->grp, w->dir, w->g->home, w->force, FS_GROUP_MAX)) != CM_OK) {
            /* Reported once for the group: its others are not tried again. */
            for (; i < to; i++)
                w->written[i] |= w->subs[i].cert_der != NULL;
            cli_fail(rc);
            return 1;
        }
        snprintf(name, sizeof(name), "%lld.pem", (long long)s->request_id);
        rc = cli_cert_pem(&pem, s->cert_der, s->cert_der_len);
        if (rc == CM_OK)
            rc = fs_group_add(w->grp, name, pem, strlen(pem), 0644);
        free(pem);
        pem = NULL;
        if (rc != CM_OK) {
            cli_fail(rc);
            failed = 1;
        }
    }
    /* Errors are reported per file by out_failed. */
    if (w->grp != NULL && fs_group_count(w->grp) > 0 &&
        fs_group_commit(w->grp, out_failed, &failed) != CM_OK)
        failed = 1;
    /* Their files are written (or their failure reported): the DER is not
     * needed again (submit_out_finish orders this before the caller reads
     * subs). */
    for (size_t i = from; i < to; i++)
        if (w->written[i])
            ca_submission_delivered(&w->subs[i]);
    return failed;
}

/* The thread: writes every range handed over, in groups of FS_GROUP_MAX,
 * until submit_out_finish. */
static void *out_thread(void *arg)
{
    submit_out *w = arg;
    size_t from, to;
    int failed;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->done == w->committed && !w->closing)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->done == w->committed)
            break;
        from = w->done;
        to = w->committed;
        pthread_mutex_unlock(&w->mu);
        failed = 0;
        for (size_t i = from; i < to; i += FS_GROUP_MAX)
            failed |= out_group(w, i, to - i < FS_GROUP_MAX ? to : i + FS_GROUP_MAX);
        pthread_mutex_lock(&w->mu);
        w->failed |= failed;
        w->done = to;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

cm_err submit_out_start(submit_out **out, const struct cli_global *g, const char *dir, int force,
                        struct ca_submission *subs, size_t n)
{
    submit_out *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (w == NULL || (w->written = calloc(n ? n : 1, 1)) == NULL) {
        free(w);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    w->g = g;
    w->dir = dir;
    w->force = force;
    w->subs = subs;
    w->n = n;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    /* No thread: the files are written after the batch, as before. */
    w->started = pthread_create(&w->t, NULL, out_thread, w) == 0;
    *out = w;
    return CM_OK;
}

void submit_out_committed(void *ctx, size_t start, size_t end)
{
    submit_out *w = ctx;

    /* At -vv: the order of commits and files (tests/e2e/batch_out.sh). */
    log_debug("submit --out: requests %zu-%zu committed, their files handed to the writer",
              start + 1, end);
    if (!w->started)
        return;
    /* Groups are committed in input order: [0, end) is done. */
    pthread_mutex_lock(&w->mu);
    if (end > w->committed && end <= w->n)
        w->committed = end;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int submit_out_finish(submit_out *w)
{
    int failed;

    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->closing = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->t, NULL);
        w->started = 0;
    }
    failed = w->failed;
    w->failed = 0;
    return failed;
}

int submit_out_rest(submit_out *w, size_t from, size_t to)
{
    return out_group(w, from, to);
}

void submit_out_free(submit_out *w)
{
    if (w == NULL)
        return;
    (void)submit_out_finish(w);
    fs_group_free(w->grp);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->written);
    free(w);
}
