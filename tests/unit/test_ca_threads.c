/* Unit test: one CA handle (ca_t) used by many threads at once, as the HTTP
 * server will. NTHREADS threads each take sessions of ONE handle (more
 * threads than ca.sessions, so some wait for a session), submit requests
 * and revoke half of what they got, each under its own actor. Then
 * independent reads (a fresh database connection, the CA certificate from
 * the file, libcrypto's own verification) check: every certificate has its
 * row and verifies under the CA, no serial and no RequestID repeats, every
 * revocation is recorded, and every audit record of a thread's actions
 * carries that thread's actor. `make tsan` runs this under ThreadSanitizer.
 * Also: the pool's bound holds (no more connections than ca.sessions), a
 * session refuses a missing actor, and a reload reaches later sessions. */
#include "unit.h"

#include "fixture_home.h"

#include "ca/ca.h"
#include "ca/ca_int.h" /* the sessions' connections */
#include "exit/exit.h"
#include "util/fsutil.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 8
#define PER_THREAD 6 /* requests per thread; every other one is revoked */
#define SESSIONS 3   /* fewer than NTHREADS: threads wait for sessions */

static struct fixture_home fx; /* the CA home and its handle */

struct result {
    char serial[CM_SERIAL_BUF];
    int64_t request_id;
    int revoked;
};

struct worker {
    int idx;
    char actor[32];
    struct result res[PER_THREAD];
    char err[256];
};

/* One request: a session of its own, submit, maybe revoke, give it back. */
static cm_err one_request(struct worker *w, int i)
{
    cm_err rc = CM_OK;
    ca_ctx *s = NULL;
    struct ca_actor who = {CA_ACTOR_TOKEN, w->actor};
    struct ca_submission sub;
    struct ca_submit_opts so = {NULL, NULL, 0, 0, NULL, NULL, NULL};
    char cn[64];
    unsigned char *csr = NULL;
    size_t len = 0;

    memset(&sub, 0, sizeof(sub));
    snprintf(cn, sizeof(cn), "t%d-r%d.threads.example", w->idx, i);
    csr = fixture_csr(&len, cn);
    if (csr == NULL)
        return cm_err_set(CM_ERR_CRYPTO, "no CSR");
    sub.csr = csr;
    sub.csr_len = len;
    sub.source = cn;
    CM_TRY(ca_session_open(&s, fx.handle, &who));
    CM_TRY(ca_submit(s, &sub, 1, &so));
    if (sub.disposition != DB_DISP_ISSUED)
        CM_FAIL(CM_ERR_STATE, "%s: not issued: %s", cn, sub.message);
    snprintf(w->res[i].serial, sizeof(w->res[i].serial), "%s", sub.serial);
    w->res[i].request_id = sub.request_id;
    if (i % 2 == 1) {
        const char *serials[1] = {sub.serial};
        CM_TRY(ca_revoke(s, serials, 1, 1 /* keyCompromise */, 0, 0));
        w->res[i].revoked = 1;
    }
out:
    ca_session_close(s);
    ca_submission_clear(&sub);
    OPENSSL_free(csr);
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        if (one_request(w, i) != CM_OK) {
            snprintf(w->err, sizeof(w->err), "%s", cm_err_msg());
            break;
        }
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct audit_count {
    struct worker *w;
    int issue[NTHREADS], revoke[NTHREADS];
    int foreign; /* a thread's record under another actor */
};

/* Which thread asked for the request or serial of an audit record. */
static int owner_of(struct worker *w, int64_t rid, const char *serial)
{
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            if (w[t].res[i].request_id == rid ||
                (serial != NULL && strcmp(w[t].res[i].serial, serial) == 0))
                return t;
    return -1;
}

static cm_err audit_row(void *ctx, int64_t id, const struct db_audit *a)
{
    struct audit_count *ac = ctx;
    int t;
    (void)id;
    if (strcmp(a->action, "issue") != 0 && strcmp(a->action, "revoke") != 0)
        return CM_OK;
    t = owner_of(ac->w, a->request_id, a->serial);
    if (t < 0)
        return CM_OK;
    if (strncmp(a->who, "token:", 6) != 0 || strcmp(a->who + 6, ac->w[t].actor) != 0) {
        ac->foreign++;
        return CM_OK;
    }
    if (strcmp(a->action, "issue") == 0)
        ac->issue[t]++;
    else
        ac->revoke[t]++;
    return CM_OK;
}

static X509 *read_ca_cert(void)
{
    char path[300];
    FILE *f;
    X509 *x;
    snprintf(path, sizeof(path), "%s/%s", fx.home, CA_CERT_FILE);
    f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

/* The checks, on a connection of their own (not one of the handle's). */
static void check_results(struct worker *w)
{
    db_t *db = NULL;
    X509 *cax = read_ca_cert();
    EVP_PKEY *capub = cax ? X509_get0_pubkey(cax) : NULL;
    int64_t rids[NTHREADS * PER_THREAD];
    const char *serials[NTHREADS * PER_THREAD];
    size_t n = 0;
    struct audit_count ac;

    CHECK(capub != NULL);
    CHECK_OK(db_open_home(&db, fx.home, 0));
    if (db == NULL || capub == NULL)
        goto out;
    for (int t = 0; t < NTHREADS; t++) {
        if (w[t].err[0])
            UNIT_FAIL("thread %d: %s", t, w[t].err);
        for (int i = 0; i < PER_THREAD && w[t].err[0] == '\0'; i++) {
            struct db_cert *c = NULL;
            const unsigned char *p;
            X509 *x = NULL;
            rids[n] = w[t].res[i].request_id;
            serials[n++] = w[t].res[i].serial;
            if (db_cert_get(db, &c, w[t].res[i].serial) != CM_OK || c == NULL) {
                UNIT_FAIL("thread %d: certificate %s has no row", t, w[t].res[i].serial);
                continue;
            }
            CHECK_INT(c->request_id, w[t].res[i].request_id);
            CHECK_INT(c->revoked_reason >= 0, w[t].res[i].revoked);
            p = c->raw;
            x = c->raw ? d2i_X509(NULL, &p, (long)c->raw_len) : NULL;
            if (x == NULL || X509_verify(x, capub) != 1)
                UNIT_FAIL("thread %d: certificate %s does not verify under the CA", t,
                          w[t].res[i].serial);
            X509_free(x);
            db_cert_free(c);
        }
    }
    CHECK_INT(n, NTHREADS * PER_THREAD);
    qsort(rids, n, sizeof(rids[0]), cmp_i64);
    qsort(serials, n, sizeof(serials[0]), cmp_str);
    for (size_t i = 1; i < n; i++) {
        if (rids[i] == rids[i - 1])
            UNIT_FAIL("RequestID %lld given twice", (long long)rids[i]);
        if (strcmp(serials[i], serials[i - 1]) == 0)
            UNIT_FAIL("serial %s given twice", serials[i]);
    }
    memset(&ac, 0, sizeof(ac));
    ac.w = w;
    CHECK_OK(db_audit_iter(db, 0, audit_row, &ac));
    CHECK_INT(ac.foreign, 0);
    for (int t = 0; t < NTHREADS; t++) {
        CHECK_INT(ac.issue[t], PER_THREAD);
        CHECK_INT(ac.revoke[t], PER_THREAD / 2);
    }
out:
    db_close(db);
    X509_free(cax);
}

TEST(threads_share_one_handle)
{
    pthread_t th[NTHREADS];
    static struct worker w[NTHREADS];
    int started = 0;

    for (int t = 0; t < NTHREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].idx = t;
        snprintf(w[t].actor, sizeof(w[t].actor), "thread-%d", t);
    }
    for (; started < NTHREADS; started++)
        if (pthread_create(&th[started], NULL, worker_main, &w[started]) != 0)
            break;
    CHECK_INT(started, NTHREADS);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    check_results(w);
}

/* Sessions come back to the pool: taking and giving back many more than
 * the bound, from this thread, never fails or blocks. */
TEST(pool_reuses_sessions)
{
    const struct ca_actor who = {CA_ACTOR_OPERATOR, "pool"};
    ca_ctx *s[SESSIONS];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < SESSIONS; i++)
            CHECK_OK(ca_session_open(&s[i], fx.handle, &who));
        /* Distinct sessions, distinct connections. */
        for (int i = 1; i < SESSIONS; i++)
            CHECK(s[i]->db != s[0]->db);
        for (int i = 0; i < SESSIONS; i++)
            ca_session_close(s[i]);
    }
}

struct waiter {
    pthread_mutex_t mu;
    int got; /* 1 once the waiting thread has its session */
};

static void *take_one(void *arg)
{
    struct waiter *wt = arg;
    const struct ca_actor who = {CA_ACTOR_OPERATOR, "waiter"};
    ca_ctx *s = NULL;
    cm_err rc = ca_session_open(&s, fx.handle, &who);
    pthread_mutex_lock(&wt->mu);
    wt->got = rc == CM_OK ? 1 : -1;
    pthread_mutex_unlock(&wt->mu);
    ca_session_close(s);
    return NULL;
}

static int waiter_got(struct waiter *wt)
{
    int g;
    pthread_mutex_lock(&wt->mu);
    g = wt->got;
    pthread_mutex_unlock(&wt->mu);
    return g;
}

/* The bound: with every session out, the next caller waits until one is
 * given back (and then gets it). */
TEST(pool_bound_waits)
{
    const struct ca_actor who = {CA_ACTOR_OPERATOR, "holder"};
    ca_ctx *s[SESSIONS] = {NULL};
    struct waiter wt = {PTHREAD_MUTEX_INITIALIZER, 0};
    pthread_t th;
    struct timespec ts = {0, 300 * 1000 * 1000};

    for (int i = 0; i < SESSIONS; i++)
        CHECK_OK(ca_session_open(&s[i], fx.handle, &who));
    if (pthread_create(&th, NULL, take_one, &wt) != 0) {
        UNIT_FAIL("pthread_create");
        return;
    }
    nanosleep(&ts, NULL);
    CHECK_INT(waiter_got(&wt), 0); /* still waiting: the pool is exhausted */
    ca_session_close(s[0]);
    pthread_join(th, NULL);
    CHECK_INT(waiter_got(&wt), 1);
    for (int i = 1; i < SESSIONS; i++)
        ca_session_close(s[i]);
}

TEST(actor_required_and_formatted)
{
    const struct ca_actor none = {CA_ACTOR_OPERATOR, ""};
    const struct ca_actor subj = {CA_ACTOR_SUBJECT, "CN=client.example"};
    const struct ca_actor op = {CA_ACTOR_OPERATOR, "alice"};
    ca_ctx *s = NULL;

    CHECK(ca_session_open(&s, fx.handle, NULL) == CM_ERR_INVALID);
    CHECK(s == NULL);
    CHECK(ca_session_open(&s, fx.handle, &none) == CM_ERR_INVALID);
    CHECK_OK(ca_session_open(&s, fx.handle, &subj));
    if (s == NULL)
        return;
    CHECK_STR(ca_session_who(s), "subject:CN=client.example");
    CHECK_OK(ca_session_actor(s, &op));
    CHECK_STR(ca_session_who(s), "alice");
    CHECK(ca_session_handle(s) == fx.handle);
    ca_session_close(s);
}

/* A reload is the handle's: a session taken after it sees the new value. */
TEST(reload_reaches_later_sessions)
{
    const struct ca_actor who = {CA_ACTOR_SERVICE, "serve"};
    ca_ctx *s = NULL, *t = NULL;
    char path[300];
    static const char conf[] = "submit.batch_group = 77\nca.sessions = 3\n";

    snprintf(path, sizeof(path), "%s/%s", fx.home, CA_CONF_FILE);
    CHECK_OK(ca_session_open(&s, fx.handle, &who));
    if (s == NULL)
        return;
    CHECK(config_get(ca_config(s), "submit.batch_group") != NULL &&
          strcmp(config_get(ca_config(s), "submit.batch_group"), "77") != 0);
    CHECK_OK(fs_write_atomic(path, conf, sizeof(conf) - 1, 0600));
    CHECK_OK(ca_reload_config(s));
    CHECK_STR(config_get(ca_config(s), "submit.batch_group"), "77");
    ca_session_close(s);
    CHECK_OK(ca_session_open(&t, fx.handle, &who));
    if (t != NULL)
        CHECK_STR(config_get(ca_config(t), "submit.batch_group"), "77");
    ca_session_close(t);
}

int main(void)
{
    unit_suite = "ca_threads";
    if (fixture_home_open(&fx, "threads", "Threads Test Root", SESSIONS) != 0) {
        printf("not ok - ca_threads: setup: %s\n", cm_err_msg());
        return 1;
    }
    RUN(threads_share_one_handle);
    RUN(pool_reuses_sessions);
    RUN(pool_bound_waits);
    RUN(actor_required_and_formatted);
    RUN(reload_reaches_later_sessions);
    fixture_home_close(&fx);
    return unit_nfail ? 1 : 0;
}
