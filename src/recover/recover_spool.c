/* Fixed-size records sorted with bounded memory (recover_spool.h). The
 * scratch file holds the runs, then (after spool_sort) their merge after
 * them: record i of the sorted spool is at out_off + i * size. */
#include "recover/recover_spool.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes read from a run at a time while merging, and written at a time. */
#define SPOOL_IO (16u * 1024)

struct run {
    off_t off; /* its first record in the file */
    size_t n;  /* records */
};

struct spool {
    size_t size; /* bytes per record */
    spool_cmp cmp;
    size_t cap_run;     /* records per run */
    unsigned char *buf; /* the run being added (and, with no file, all) */
    size_t nbuf, capbuf;
    size_t count;
    int fd; /* the scratch file, -1 until a run is written */
    off_t fsize;
    struct run *runs;
    size_t nruns, capruns;
    off_t out_off; /* the sorted records in the file */
    int sorted;
};

static cm_err io_fail(const char *what)
{
    return cm_err_set(errno == ENOMEM ? CM_ERR_NOMEM : CM_ERR_IO, "scratch file: %s: %s", what,
                      strerror(errno ? errno : EIO));
}

static int write_all(int fd, const unsigned char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int read_all(int fd, unsigned char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* the file is shorter than it must be */
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* An unlinked file in $TMPDIR (else /tmp), readable by nobody else. */
static cm_err file_open(struct spool *s)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];

    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    if (snprintf(path, sizeof(path), "%s/certmint-spool.XXXXXX", dir) >= (int)sizeof(path))
        return cm_err_set(CM_ERR_INVALID, "TMPDIR: path too long");
    s->fd = mkstemp(path);
    if (s->fd < 0)
        return cm_err_set(CM_ERR_IO, "%s: cannot create a scratch file: %s", path, strerror(errno));
    unlink(path);
    return CM_OK;
}

/* A stable merge sort of the n records at a (tmp: room for n more): the
 * order spool.h promises, which qsort does not. */
static void sort_stable(struct spool *s, unsigned char *a, unsigned char *tmp, size_t n)
{
    size_t z = s->size;

    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                if (s->cmp(a + j * z, a + i * z) < 0)
                    memcpy(tmp + k++ * z, a + j++ * z, z);
                else
                    memcpy(tmp + k++ * z, a + i++ * z, z);
            memcpy(tmp + k * z, a + i * z, (mid - i) * z);
            k += mid - i;
            memcpy(tmp + k * z, a + j * z, (hi - j) * z);
        }
        memcpy(a, tmp, n * z);
    }
}

/* Sorts the records in memory (tmp from the caller, or made here). */
static cm_err sort_buf(struct spool *s)
{
    unsigned char *tmp;

    if (s->cmp == NULL || s->nbuf < 2)
        return CM_OK;
    tmp = malloc(s->nbuf * s->size);
    if (tmp == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    sort_stable(s, s->buf, tmp, s->nbuf);
    free(tmp);
    return CM_OK;
}

/* The records in memory, sorted, as a new run at the end of the file. */
static cm_err run_flush(struct spool *s)
{
    struct run *r;

    if (s->nbuf == 0)
        return CM_OK;
    if (s->fd < 0) {
        cm_err rc = file_open(s);
        if (rc != CM_OK)
            return rc;
    }
    if (sort_buf(s) != CM_OK)
        return CM_ERR_NOMEM;
    if (s->nruns == s->capruns) {
        size_t ncap = s->capruns ? 2 * s->capruns : 16;
        r = realloc(s->runs, ncap * sizeof(*r));
        if (r == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        s->runs = r;
        s->capruns = ncap;
    }
    if (write_all(s->fd, s->buf, s->nbuf * s->size, s->fsize) != 0)
        return io_fail("write");
    r = &s->runs[s->nruns++];
    r->off = s->fsize;
    r->n = s->nbuf;
    s->fsize += (off_t)(s->nbuf * s->size);
    s->nbuf = 0;
    return CM_OK;
}

cm_err spool_new(struct spool **out, size_t recsize, spool_cmp cmp, size_t run)
{
    struct spool *s;

    *out = NULL;
    if (recsize == 0)
        return cm_err_set(CM_ERR_INVALID, "spool: records of 0 bytes");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    s->size = recsize;
    s->cmp = cmp;
    s->cap_run = run > 0 ? run : SPOOL_RUN;
    s->fd = -1;
    *out = s;
    return CM_OK;
}

cm_err spool_add(struct spool *s, const void *rec)
{
    if (s->sorted)
        return cm_err_set(CM_ERR_STATE, "spool: added to after sorting");
    if (s->nbuf == s->cap_run) {
        cm_err rc = run_flush(s);
        if (rc != CM_OK)
            return rc;
    }
    if (s->nbuf == s->capbuf) {
        /* Grows to one run, no more: small spools stay small. */
        size_t ncap = s->capbuf ? 2 * s->capbuf : 64;
        unsigned char *nb;
        if (ncap > s->cap_run)
            ncap = s->cap_run;
        nb = realloc(s->buf, ncap * s->size);
        if (nb == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        s->buf = nb;
        s->capbuf = ncap;
    }
    memcpy(s->buf + s->nbuf++ * s->size, rec, s->size);
    s->count++;
    return CM_OK;
}

/* One run's place in the merge: a buffer of its next records. */
struct cursor {
    off_t off;   /* the next record not yet buffered */
    size_t left; /* records not yet buffered */
    unsigned char *buf;
    size_t n, pos; /* buffered, and the next of them */
};

static int cursor_fill(const struct spool *s, struct cursor *c, size_t per)
{
    size_t k = c->left < per ? c->left : per;

    if (read_all(s->fd, c->buf, k * s->size, c->off) != 0)
        return -1;
    c->off += (off_t)(k * s->size);
    c->left -= k;
    c->n = k;
    c->pos = 0;
    return 0;
}

/* The run whose next record comes first (ties: the earlier run, so that
 * equal records keep the order they were added in); -1 when all are
 * used up. */
static long cursor_min(const struct spool *s, const struct cursor *c, size_t nc)
{
    long best = -1;

    for (size_t k = 0; k < nc; k++) {
        if (c[k].pos >= c[k].n)
            continue;
        if (best < 0 || (s->cmp != NULL && s->cmp(c[k].buf + c[k].pos * s->size,
                                                  c[best].buf + c[best].pos * s->size) < 0))
            best = (long)k;
    }
    return best;
}

/* Merges the runs into one sorted sequence at the end of the file. */
static cm_err runs_merge(struct spool *s)
{
    cm_err rc = CM_OK;
    /* Records buffered per run: SPOOL_IO's worth, no more than a run. */
    size_t per = SPOOL_IO / s->size > 0 ? SPOOL_IO / s->size : 1;
    struct cursor *c = calloc(s->nruns, sizeof(*c));
    unsigned char *out = malloc(per * s->size);
    size_t nout = 0;
    off_t at = s->fsize;
    long k;

    CM_NOMEM_IF(c == NULL || out == NULL);
    if (per > s->cap_run)
        per = s->cap_run;
    for (size_t i = 0; i < s->nruns; i++) {
        c[i].off = s->runs[i].off;
        c[i].left = s->runs[i].n;
        c[i].buf = malloc(per * s->size);
        CM_NOMEM_IF(c[i].buf == NULL);
        if (cursor_fill(s, &c[i], per) != 0)
            CM_FAIL(CM_ERR_IO, "scratch file: read: %s", strerror(errno));
    }
    s->out_off = at;
    while ((k = cursor_min(s, c, s->nruns)) >= 0) {
        memcpy(out + nout++ * s->size, c[k].buf + c[k].pos++ * s->size, s->size);
        if (c[k].pos == c[k].n && c[k].left > 0 && cursor_fill(s, &c[k], per) != 0)
            CM_FAIL(CM_ERR_IO, "scratch file: read: %s", strerror(errno));
        if (nout == per) {
            if (write_all(s->fd, out, nout * s->size, at) != 0)
                CM_FAIL(CM_ERR_IO, "scratch file: write: %s", strerror(errno));
            at += (off_t)(nout * s->size);
            nout = 0;
        }
    }
    if (nout > 0 && write_all(s->fd, out, nout * s->size, at) != 0)
        CM_FAIL(CM_ERR_IO, "scratch file: write: %s", strerror(errno));
out:
    for (size_t i = 0; c != NULL && i < s->nruns; i++)
        free(c[i].buf);
    free(c);
    free(out);
    return rc;
}

cm_err spool_sort(struct spool *s)
{
    cm_err rc = CM_OK;

    if (s->sorted)
        return CM_OK;
    s->sorted = 1;
    if (s->nruns == 0)
        return sort_buf(s); /* everything in memory */
    CM_TRY(run_flush(s));
    free(s->buf);
    s->buf = NULL;
    s->capbuf = 0;
    if (s->cmp == NULL)
        s->out_off = 0; /* the runs, one after the other, are the order */
    else
        CM_TRY(runs_merge(s));
out:
    return rc;
}

cm_err spool_get(const struct spool *s, size_t i, void *rec)
{
    if (!s->sorted || i >= s->count)
        return cm_err_set(CM_ERR_STATE,
                          "spool: record %zu of %zu read before sorting or past the end", i,
                          s->count);
    if (s->nruns == 0) {
        memcpy(rec, s->buf + i * s->size, s->size);
        return CM_OK;
    }
    if (read_all(s->fd, rec, s->size, s->out_off + (off_t)(i * s->size)) != 0)
        return io_fail("read");
    return CM_OK;
}

size_t spool_count(const struct spool *s)
{
    return s ? s->count : 0;
}

size_t spool_runs(const struct spool *s)
{
    return s ? s->nruns : 0;
}

void spool_free(struct spool *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    free(s->runs);
    free(s);
}
