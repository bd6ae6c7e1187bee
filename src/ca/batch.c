/* Batches that did not finish. A large `submit` records itself in meta
 * ("submit.batches": one line per running batch, "PID STARTED N REQUESTER")
 * in its first group's transaction and removes the line in its last
 * group's, or on its own when a failure stops the batch before that (a
 * failing group rolls back the line's change with its rows). Every
 * committed group of an unfinished batch therefore carries its line, and a
 * batch that committed nothing left none. A line whose process is gone is
 * a batch that was killed: the next `submit` reports what it had recorded
 * by then (its groups are committed or absent, never half: each group is
 * one transaction, and the workers are threads of the submit, see
 * request.c). Riding in the groups' transactions spares the batch two
 * transactions of its own, each with an fsync, with every core idle
 * (between verifying and signing, and at the very end). */
#include "ca/ca.h"
#include "ca/ca_int.h"

#include "util/buf.h"
#include "util/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_META_KEY "submit.batches"

/* One parsed line; requester points into the line. */
struct batch_line {
    long long pid, started, n;
    const char *requester;
};

static int line_parse(struct batch_line *b, char *line)
{
    int used = 0;
    if (sscanf(line, "%lld %lld %lld %n", &b->pid, &b->started, &b->n, &used) != 3 || used == 0)
        return 0;
    b->requester = line + used;
    return 1;
}

static int pid_alive(long long pid)
{
    if (pid <= 0 || pid > INT32_MAX)
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* Rewrites the list without the lines for which drop() says so. */
typedef int (*line_drop_fn)(void *ctx, const struct batch_line *b);

static cm_err batches_filter(ca_ctx *ca, line_drop_fn drop, void *ctx, const char *add)
{
    cm_err rc = CM_OK;
    char *cur = NULL, *save = NULL, *line;
    cm_buf b = CM_BUF_INIT(1 << 20);

    CM_TRY(db_meta_get(ca->db, &cur, BATCH_META_KEY));
    for (line = cur ? strtok_r(cur, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        struct batch_line bl;
        char copy[BATCH_LINE_MAX];
        snprintf(copy, sizeof(copy), "%s", line);
        if (!line_parse(&bl, copy) || drop(ctx, &bl))
            continue;
        CM_TRY(buf_printf(&b, "%s\n", line));
    }
    if (add != NULL)
        CM_TRY(buf_printf(&b, "%s\n", add));
    CM_TRY(db_meta_set(ca->db, BATCH_META_KEY, b.len ? (const char *)b.data : ""));
out:
    free(cur);
    buf_free(&b);
    return rc;
}

static int drop_none(void *ctx, const struct batch_line *b)
{
    (void)ctx;
    (void)b;
    return 0;
}

static int drop_mine(void *ctx, const struct batch_line *b)
{
    return b->pid == *(const long long *)ctx;
}

void batch_mark_init(struct batch_mark *m, size_t n, size_t group, const char *requester)
{
    memset(m, 0, sizeof(*m));
    /* One transaction is all or nothing: nothing to report, ever. */
    if (n <= group)
        return;
    m->n = n;
    snprintf(m->line, sizeof(m->line), "%lld %lld %zu %s", (long long)getpid(),
             (long long)time(NULL), n, requester ? requester : "");
    /* The requester is free text: keep the list one line per batch. */
    for (char *p = m->line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

cm_err batch_mark_write(const struct batch_mark *m, ca_ctx *ca, size_t start, size_t end)
{
    long long me = (long long)getpid();

    if (m == NULL || m->n == 0)
        return CM_OK;
    if (start == 0)
        return batches_filter(ca, drop_none, NULL, m->line);
    if (end == m->n)
        return batches_filter(ca, drop_mine, &me, NULL);
    return CM_OK;
}

void batch_mark_committed(struct batch_mark *m, size_t start, size_t end)
{
    if (m == NULL || m->n == 0)
        return;
    if (start == 0)
        m->recorded = 1;
    if (end == m->n)
        m->recorded = 0;
}

void batch_mark_end(ca_ctx *ca, struct batch_mark *m)
{
    long long me = (long long)getpid();
    cm_err rc;

    if (!m->recorded)
        return;
    m->recorded = 0;
    rc = db_begin(ca->db);
    if (rc == CM_OK)
        rc = batches_filter(ca, drop_mine, &me, NULL);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK) {
        db_rollback(ca->db);
        /* Harmless: the next run reports this batch as interrupted. */
        log_warn("submit: cannot clear the batch record: %s", cm_err_msg());
    }
}

/* Counts the requests of one interrupted batch: those of its requester
 * recorded from its start on. */
struct count_ctx {
    struct ca_batch_report *r;
    int id_col, disp_col;
};

static cm_err count_row(void *vctx, const struct db_row *row)
{
    struct count_ctx *c = vctx;
    const char *d = row->values[c->disp_col];
    long long id = row->values[c->id_col] ? strtoll(row->values[c->id_col], NULL, 10) : 0;

    c->r->recorded++;
    if (c->r->first_id == 0 || id < c->r->first_id)
        c->r->first_id = id;
    if (id > c->r->last_id)
        c->r->last_id = id;
    if (d != NULL && (strcmp(d, "issued") == 0 || strcmp(d, "revoked") == 0))
        c->r->issued++;
    else if (d != NULL && strcmp(d, "pending") == 0)
        c->r->pending++;
    else
        c->r->denied++;
    return CM_OK;
}

static cm_err batch_count(ca_ctx *ca, struct ca_batch_report *r)
{
    struct db_restrict rs[2];
    struct count_ctx c = {r, db_column_find("RequestID"), db_column_find("Disposition")};
    char *who = r->requester;

    memset(rs, 0, sizeof(rs));
    rs[0].column = db_column_find("SubmittedWhen");
    rs[0].op = DB_OP_GE;
    rs[0].ival = r->started;
    rs[1].column = db_column_find("RequesterName");
    rs[1].op = DB_OP_EQ;
    rs[1].sval = who;
    if (c.id_col < 0 || c.disp_col < 0 || rs[0].column < 0 || rs[1].column < 0)
        return cm_err_set(CM_ERR_DB, "view columns missing");
    return db_view(ca->db, rs, 2, count_row, &c);
}

struct dead_ctx {
    ca_ctx *ca;
    ca_batch_cb cb;
    void *cb_ctx;
    cm_err rc;
};

static int drop_dead(void *vctx, const struct batch_line *b)
{
    struct dead_ctx *d = vctx;
    struct ca_batch_report r;

    if (pid_alive(b->pid))
        return 0;
    memset(&r, 0, sizeof(r));
    r.pid = b->pid;
    r.started = b->started;
    r.size = b->n;
    snprintf(r.requester, sizeof(r.requester), "%s", b->requester);
    if (d->rc == CM_OK)
        d->rc = batch_count(d->ca, &r);
    if (d->rc == CM_OK)
        d->cb(d->cb_ctx, &r);
    return 1;
}

cm_err ca_batch_interrupted(ca_ctx *ca, ca_batch_cb cb, void *ctx)
{
    struct dead_ctx d = {ca, cb, ctx, CM_OK};
    cm_err rc;
    char *cur = NULL;

    /* Cheap look first: almost always there is nothing to report. */
    CM_TRY(db_meta_get(ca->db, &cur, BATCH_META_KEY));
    if (cur == NULL || *cur == '\0')
        goto out;
    CM_TRY(db_begin(ca->db));
    rc = batches_filter(ca, drop_dead, &d, NULL);
    if (rc == CM_OK)
        rc = d.rc;
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
out:
    free(cur);
    return rc;
}
