/* The mbox scan with GMime's parse in worker threads (mailscan.h,
 * mailscan_mbox_workers). GMime's parse of each message is most of a scan's
 * time (bench/recover.sh), and it needs nothing but the message's bytes:
 * this thread splits the file into messages the way GMime's mbox parser
 * does, workers parse them (each with its own scan state and GMime
 * objects) and record what the callbacks would have been given, and this
 * thread passes those on in mailbox order. */
#include "recover/mailscan.h"

#ifndef CM_HAVE_GMIME

cm_err mailscan_mbox_workers(const char *path, const char *ca_key_id, int workers, mailscan_cb cb,
                             mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
{
    (void)workers;
    return mailscan_mbox(path, ca_key_id, cb, warn, ctx, st);
}

#else /* CM_HAVE_GMIME */

#include "recover/mailscan_int.h"
#include "util/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB_MAX_WORKERS 64
#define MB_READ (1u << 20) /* bytes read from the file at a time */

/* What a callback was given: an event (its strings and certificate copied)
 * or a warning. */
struct rec {
    char *why; /* a warning; NULL: an event */
    struct mail_event ev;
};

struct job {
    size_t n;            /* message number, from 1 */
    unsigned char *data; /* the message (NULL when too large) */
    size_t len;
    int64_t span;    /* from its From line to the next */
    int before_from; /* a From line follows it */
    int done;
    cm_err rc; /* the scan's own failure (out of memory) */
    char errmsg[512];
    struct rec *recs;
    size_t nrec, cap;
    struct mailscan_stats st;
};

struct mb {
    const char *path;
    const char *keyid;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued, or stop */
    pthread_cond_t done; /* a job is done */
    struct job jobs[MAILSCAN_WINDOW];
    size_t queued, next, taken; /* job counters: queued > next-taken */
    size_t bytes;               /* held by queued jobs not yet taken */
    int stop;
    pthread_t th[MB_MAX_WORKERS];
    int nth;
};

/* --- a worker ------------------------------------------------------------ */

static struct rec *rec_add(struct job *j)
{
    if (j->nrec == j->cap) {
        size_t ncap = j->cap ? j->cap * 2 : 4;
        struct rec *nr = realloc(j->recs, ncap * sizeof(*nr));
        if (nr == NULL)
            return NULL;
        j->recs = nr;
        j->cap = ncap;
    }
    memset(&j->recs[j->nrec], 0, sizeof(j->recs[0]));
    return &j->recs[j->nrec++];
}

static void rec_clear(struct rec *r)
{
    free(r->why);
    free(r->ev.subject_dn);
    free(r->ev.profile);
    free(r->ev.requester);
    free(r->ev.cert_der);
}

static char *dup_or_null(const char *v, int *nomem)
{
    char *d = v ? strdup(v) : NULL;
    if (v != NULL && d == NULL)
        *nomem = 1;
    return d;
}

/* The workers' event callback: keeps a copy. */
static cm_err collect_event(void *ctx, const struct mail_event *ev)
{
    struct job *j = ctx;
    struct rec *r = rec_add(j);
    int nomem = 0;

    if (r == NULL)
        return cm_err_set(CM_ERR_NOMEM, "%s: out of memory", ev->source);
    r->ev = *ev;
    r->ev.subject_dn = dup_or_null(ev->subject_dn, &nomem);
    r->ev.profile = dup_or_null(ev->profile, &nomem);
    r->ev.requester = dup_or_null(ev->requester, &nomem);
    r->ev.cert_der = NULL;
    if (ev->cert_der != NULL && ev->cert_der_len > 0) {
        r->ev.cert_der = malloc(ev->cert_der_len);
        if (r->ev.cert_der != NULL)
            memcpy(r->ev.cert_der, ev->cert_der, ev->cert_der_len);
        else
            nomem = 1;
    }
    if (nomem)
        return cm_err_set(CM_ERR_NOMEM, "%s: out of memory", ev->source);
    return CM_OK;
}

/* The workers' warning callback: keeps a copy (the source is the job's). */
static void collect_warn(void *ctx, const char *source, const char *why)
{
    struct job *j = ctx;
    struct rec *r = rec_add(j);

    (void)source;
    if (r == NULL || (r->why = strdup(why)) == NULL) {
        if (r != NULL)
            j->nrec--;
        if (j->rc == CM_OK)
            j->rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
}

static void job_run(struct mb *m, struct scan *s, struct job *j)
{
    cm_err rc;

    s->ctx = j;
    s->st = &j->st;
    rc = mailscan_scan_chunk(s, m->path, j->n, j->data, j->len, j->span, j->before_from);
    if (rc != CM_OK && j->rc == CM_OK)
        j->rc = rc;
    if (j->rc != CM_OK)
        snprintf(j->errmsg, sizeof(j->errmsg), "%s", cm_err_msg());
}

static void *mb_worker(void *arg)
{
    struct mb *m = arg;
    struct scan *s = malloc(sizeof(*s));
    struct mailscan_stats none;

    memset(&none, 0, sizeof(none));
    if (s != NULL &&
        mailscan_scan_begin(s, m->keyid, collect_event, collect_warn, NULL, &none) != CM_OK) {
        free(s);
        s = NULL;
    }
    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct job *j;
        if (m->stop)
            break;
        if (m->next >= m->queued) {
            pthread_cond_wait(&m->work, &m->mu);
            continue;
        }
        j = &m->jobs[m->next++ % MAILSCAN_WINDOW];
        pthread_mutex_unlock(&m->mu);
        if (s != NULL)
            job_run(m, s, j);
        else
            j->rc = CM_ERR_NOMEM;
        pthread_mutex_lock(&m->mu);
        j->done = 1;
        pthread_cond_broadcast(&m->done);
    }
    pthread_mutex_unlock(&m->mu);
    if (s != NULL) {
        mailscan_scan_end(s);
        free(s);
    }
    return NULL;
}

/* --- this thread: the callbacks, in order -------------------------------- */

/* Waits for the oldest job, passes its events and warnings on, frees it. */
static cm_err mb_deliver(struct mb *m, mailscan_cb cb, mailscan_warn_cb warn, void *ctx,
                         struct mailscan_stats *st, char *source, size_t srcsz)
{
    struct job *j = &m->jobs[m->taken % MAILSCAN_WINDOW];
    cm_err rc = CM_OK;
    size_t events = st->events;

    pthread_mutex_lock(&m->mu);
    while (!j->done)
        pthread_cond_wait(&m->done, &m->mu);
    pthread_mutex_unlock(&m->mu);
    snprintf(source, srcsz, "mbox:%s#%zu", m->path, j->n);
    for (size_t i = 0; i < j->nrec && rc == CM_OK; i++) {
        struct rec *r = &j->recs[i];
        if (r->why != NULL && warn != NULL) {
            warn(ctx, source, r->why);
        } else if (r->why != NULL) {
            log_warn("%s: %s", source, r->why);
        } else {
            memcpy(r->ev.source, source, strlen(source) + 1);
            rc = cb ? cb(ctx, &r->ev) : CM_OK;
            if (rc == CM_OK)
                events++;
        }
    }
    if (rc == CM_OK && j->rc != CM_OK)
        rc = cm_err_set(j->rc, "%s", j->errmsg);
    /* The message's counts, events as the callback took them. */
    st->messages += j->st.messages;
    st->certmint_messages += j->st.certmint_messages;
    st->fallback_messages += j->st.fallback_messages;
    st->foreign_messages += j->st.foreign_messages;
    st->malformed += j->st.malformed;
    st->events = events;
    for (size_t i = 0; i < j->nrec; i++)
        rec_clear(&j->recs[i]);
    free(j->recs);
    free(j->data);
    pthread_mutex_lock(&m->mu);
    m->bytes -= j->len;
    memset(j, 0, sizeof(*j));
    m->taken++;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* --- this thread: splitting the file --------------------------------------- */

/* The file, read forward through one buffer: the bytes not yet split are
 * buf[pos, len), the first of them at file offset base. */
struct rd {
    int fd;
    unsigned char *buf;
    size_t cap, len, pos;
    int64_t base;
    int eof;
};

/* The unsplit bytes and their count. */
#define RD_AT(r) ((r)->buf + (r)->pos)
#define RD_N(r) ((r)->len - (r)->pos)

/* Reads more: moves the unsplit bytes to the front first (so each byte is
 * moved about once), grows the buffer when they fill it. -1 on a read or
 * memory error. */
static int rd_more(struct rd *r)
{
    ssize_t got;

    if (r->pos > 0) {
        memmove(r->buf, RD_AT(r), RD_N(r));
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < MB_READ) {
        size_t ncap = r->cap + 2 * MB_READ;
        unsigned char *nb = realloc(r->buf, ncap);
        if (nb == NULL)
            return -1;
        r->buf = nb;
        r->cap = ncap;
    }
    do
        got = read(r->fd, r->buf + r->len, MB_READ);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return -1;
    if (got == 0)
        r->eof = 1;
    r->len += (size_t)got;
    return 0;
}

/* Splits off the first k unsplit bytes. */
static void rd_drop(struct rd *r, size_t k)
{
    r->pos += k;
    r->base += (int64_t)k;
}

/* The index (in the unsplit bytes) of the next "\nFrom " at or after from,
 * or -1. */
static long rd_find_from(const struct rd *r, size_t from)
{
    const unsigned char *q;
    if (from >= RD_N(r))
        return -1;
    q = memmem(RD_AT(r) + from, RD_N(r) - from, "\nFrom ", 6);
    return q ? (long)(q - RD_AT(r)) : -1;
}

/* A message too large to hold, from r->base on: skips to the next From
 * line, keeping only the bytes a separator may start in. */
static int rd_skip(struct rd *r, int64_t *span, int *before_from)
{
    int64_t start = r->base;
    long next = -1;

    while (next < 0 && !r->eof) {
        rd_drop(r, RD_N(r) > 5 ? RD_N(r) - 5 : 0);
        if (rd_more(r) != 0)
            return -1;
        next = rd_find_from(r, 0);
    }
    *before_from = next >= 0;
    next = next >= 0 ? next + 1 : (long)RD_N(r);
    *span = r->base + next - start;
    rd_drop(r, (size_t)next);
    return 0;
}

/* The next message, whose From line starts at r->base: its content into
 * *data (malloc'd; NULL when it is too large to hold), *span its bytes up
 * to the next From line (or the end), and r advanced to that line. 0 on
 * success, 1 at the end of the file, -1 on a read or memory error. GMime's
 * mbox parser takes a line that starts with "From " as the next message's,
 * and the newline before it (with a CR before that) as part of the
 * separator. */
static int rd_message(struct rd *r, unsigned char **data, size_t *len, int64_t *span,
                      int *before_from)
{
    long eol = -1, next = -1;
    size_t scanned = 0, body, end;

    *data = NULL;
    *len = 0;
    *before_from = 0;
    if (RD_N(r) == 0 && r->eof)
        return 1;
    for (;;) {
        /* Nothing buffered yet: no buffer either (memchr needs one). */
        unsigned char *nl = RD_N(r) > 0 ? memchr(RD_AT(r), '\n', RD_N(r)) : NULL;
        eol = nl ? (long)(nl - RD_AT(r)) : -1;
        next = eol >= 0 ? rd_find_from(r, scanned > (size_t)eol ? scanned : (size_t)eol) : -1;
        if (next >= 0 || r->eof)
            break;
        scanned = RD_N(r) >= 5 ? RD_N(r) - 5 : 0;
        if (RD_N(r) > (size_t)MAILSCAN_MAX_MESSAGE + MB_READ)
            return rd_skip(r, span, before_from);
        if (rd_more(r) != 0)
            return -1;
    }
    end = next >= 0 ? (size_t)next + 1 : RD_N(r); /* the next From line, or the end */
    *before_from = next >= 0;
    *span = (int64_t)end;
    body = eol >= 0 ? (size_t)eol + 1 : RD_N(r);
    if (next >= 0) {
        size_t stop = (size_t)next; /* the newline before the From line */
        if (stop > body && RD_AT(r)[stop - 1] == '\r')
            stop--;
        *len = stop > body ? stop - body : 0;
    } else {
        *len = RD_N(r) - body;
    }
    if (*span <= (int64_t)MAILSCAN_MAX_MESSAGE) {
        *data = malloc(*len ? *len : 1);
        if (*data == NULL)
            return -1;
        memcpy(*data, RD_AT(r) + body, *len);
    } else {
        *len = 0;
    }
    rd_drop(r, end);
    return 0;
}

/* Queues the next message; *more = 0 at the end of the file. */
static cm_err mb_queue(struct mb *m, struct rd *r, size_t n, int *more)
{
    struct job *j = &m->jobs[m->queued % MAILSCAN_WINDOW];
    unsigned char *data = NULL;
    size_t len = 0;
    int64_t span = 0;
    int before_from = 0;
    int got = rd_message(r, &data, &len, &span, &before_from);

    *more = got == 0;
    if (got < 0)
        return cm_err_set(errno == ENOMEM ? CM_ERR_NOMEM : CM_ERR_IO, "%s: %s", m->path,
                          strerror(errno));
    if (got > 0)
        return CM_OK;
    pthread_mutex_lock(&m->mu);
    memset(j, 0, sizeof(*j));
    j->n = n;
    j->data = data;
    j->len = len;
    j->span = span;
    j->before_from = before_from;
    m->bytes += len;
    m->queued++;
    pthread_cond_signal(&m->work);
    pthread_mutex_unlock(&m->mu);
    return CM_OK;
}

static void mb_stop(struct mb *m)
{
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_broadcast(&m->work);
    pthread_mutex_unlock(&m->mu);
    for (int k = 0; k < m->nth; k++)
        pthread_join(m->th[k], NULL);
    for (size_t i = m->taken; i < m->queued; i++) {
        struct job *j = &m->jobs[i % MAILSCAN_WINDOW];
        for (size_t k = 0; k < j->nrec; k++)
            rec_clear(&j->recs[k]);
        free(j->recs);
        free(j->data);
    }
    pthread_cond_destroy(&m->done);
    pthread_cond_destroy(&m->work);
    pthread_mutex_destroy(&m->mu);
}

/* Opens the mbox and checks it as mailscan_mbox does; *empty for an empty
 * file. */
static cm_err mb_open(int *fd, const char *path, int *empty)
{
    struct stat sb;
    char head[5];

    *empty = 0;
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd < 0)
        return cm_err_set(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO, "%s: %s", path,
                          strerror(errno));
    if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return cm_err_set(CM_ERR_INVALID, "%s: not a regular file", path);
    if (sb.st_size == 0) {
        *empty = 1;
        return CM_OK;
    }
    if (pread(*fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
        memcmp(head, "From ", sizeof(head)) != 0)
        return cm_err_set(CM_ERR_INVALID, "%s: not an mbox file (it does not start with \"From \")",
                          path);
    return CM_OK;
}

/* Splits, queues and delivers until the end of the file or an error. */
static cm_err mb_run(struct mb *m, struct rd *r, mailscan_cb cb, mailscan_warn_cb warn, void *ctx,
                     struct mailscan_stats *st)
{
    char source[MAILSCAN_SOURCE_MAX];
    cm_err rc = CM_OK;
    int more = 1;

    while (rc == CM_OK && (more || m->taken < m->queued)) {
        int full = m->queued - m->taken >= MAILSCAN_WINDOW || m->bytes >= MAILSCAN_WINDOW_BYTES;
        if (more && !full)
            rc = mb_queue(m, r, m->queued + 1, &more);
        else
            rc = mb_deliver(m, cb, warn, ctx, st, source, sizeof(source));
    }
    return rc;
}

cm_err mailscan_mbox_workers(const char *path, const char *ca_key_id, int workers, mailscan_cb cb,
                             mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
{
    struct mailscan_stats local;
    struct scan *check = NULL;
    struct mb *m = NULL;
    struct rd r = {-1, NULL, 0, 0, 0, 0, 0};
    int empty = 0, started = 0;
    cm_err rc = CM_OK;

    if (workers <= 1)
        return mailscan_mbox(path, ca_key_id, cb, warn, ctx, st);
    if (workers > MB_MAX_WORKERS)
        workers = MB_MAX_WORKERS;
    if (st == NULL) {
        memset(&local, 0, sizeof(local));
        st = &local;
    }
    /* The key identifier is checked (and GMime initialised) here, before
     * any thread starts. */
    check = malloc(sizeof(*check));
    CM_NOMEM_IF(check == NULL);
    CM_TRY(mailscan_scan_begin(check, ca_key_id, cb, warn, ctx, st));
    CM_TRY(mb_open(&r.fd, path, &empty));
    if (empty)
        goto out;
    m = calloc(1, sizeof(*m));
    CM_NOMEM_IF(m == NULL);
    m->path = path;
    m->keyid = ca_key_id;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->work, NULL);
    pthread_cond_init(&m->done, NULL);
    started = 1;
    for (; m->nth < workers; m->nth++)
        if (pthread_create(&m->th[m->nth], NULL, mb_worker, m) != 0)
            break;
    if (m->nth == 0)
        CM_FAIL(CM_ERR_NOMEM, "cannot start a worker thread");
    rc = mb_run(m, &r, cb, warn, ctx, st);
out:
    if (started)
        mb_stop(m);
    free(m);
    if (r.fd >= 0)
        close(r.fd);
    free(r.buf);
    if (check != NULL) {
        mailscan_scan_end(check);
        free(check);
    }
    return rc;
}

#endif /* CM_HAVE_GMIME */
