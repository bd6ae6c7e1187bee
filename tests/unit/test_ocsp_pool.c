/* The OCSP responder and the CA handle's session pool (src/ocsp/ocsp.h):
 * a request answered from the pre-signed cache, with or without a nonce,
 * takes no pool session (it is answered while every session is out); a
 * serial the cache does not hold (issued since the last sync) takes one,
 * so it waits for the pool and then reads the certificate's real status
 * from the database. A real CA home (ca_init, ca_open) with ca.sessions 2. */
#include "unit.h"

#include "fixture_home.h"

#include "ca/ca.h"
#include "exit/exit.h"
#include "ocsp/ocsp.h"
#include "util/fsutil.h"

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSIONS 2

static struct fixture_home fx; /* the CA home and its handle */

/* Issues a certificate for cn through s: *out its X509. */
static cm_err issue(X509 **out, ca_ctx *s, const char *cn)
{
    cm_err rc = CM_OK;
    struct ca_submission sub;
    struct ca_submit_opts so = {NULL, NULL, 0, 0, NULL, NULL, NULL};
    size_t len = 0;
    unsigned char *csr = fixture_csr(&len, cn);
    const unsigned char *p;

    memset(&sub, 0, sizeof(sub));
    *out = NULL;
    if (csr == NULL)
        CM_FAIL(CM_ERR_CRYPTO, "no CSR");
    sub.csr = csr;
    sub.csr_len = len;
    sub.source = cn;
    CM_TRY(ca_submit(s, &sub, 1, &so));
    if (sub.disposition != DB_DISP_ISSUED || sub.cert_der == NULL)
        CM_FAIL(CM_ERR_STATE, "%s: not issued: %s", cn, sub.message);
    p = sub.cert_der;
    if ((*out = d2i_X509(NULL, &p, (long)sub.cert_der_len)) == NULL)
        CM_FAIL(CM_ERR_CRYPTO, "%s: the issued certificate does not parse", cn);
out:
    ca_submission_clear(&sub);
    OPENSSL_free(csr);
    return rc;
}

/* A DER OCSPRequest for x (SHA-1 CertID, RFC 5019 2.1.1), with a nonce
 * when asked. */
static unsigned char *ocsp_req(size_t *len, X509 *x, X509 *issuer, int nonce)
{
    OCSP_REQUEST *q = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), x, issuer);
    unsigned char *der = NULL;
    int l = -1;
    if (q != NULL && id != NULL && OCSP_request_add0_id(q, id) != NULL) {
        id = NULL;
        if (!nonce || OCSP_request_add1_nonce(q, NULL, -1) == 1)
            l = i2d_OCSP_REQUEST(q, &der);
    }
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(q);
    *len = l > 0 ? (size_t)l : 0;
    return l > 0 ? der : NULL;
}

/* One ocsp_respond() call on its own thread, so that the test sees
 * whether it waits. */
struct call {
    ocsp_responder *r;
    unsigned char *req;
    size_t len;
    struct ocsp_answer a;
    cm_err rc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    pthread_t th;
};

static void *call_main(void *arg)
{
    struct call *c = arg;
    c->rc = ocsp_respond(&c->a, c->r, c->req, c->len);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int call_start(struct call *c, ocsp_responder *r, X509 *x, X509 *issuer, int nonce)
{
    memset(c, 0, sizeof(*c));
    c->r = r;
    c->req = ocsp_req(&c->len, x, issuer, nonce);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c->req != NULL && pthread_create(&c->th, NULL, call_main, c) == 0;
}

/* Waits up to ms for the call to finish: 1 when it did. */
static int call_wait(struct call *c, long ms)
{
    struct timespec ts;
    int done;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
        ;
    done = c->done;
    pthread_mutex_unlock(&c->mu);
    return done;
}

/* Ends a call; one still waiting for a session (a failure) gets the
 * pool's session *b so that the test ends instead of hanging. */
static void call_end(struct call *c, ca_ctx **b)
{
    if (!call_wait(c, 0)) {
        ca_session_close(*b);
        *b = NULL;
    }
    pthread_join(c->th, NULL);
    ocsp_answer_clear(&c->a);
    OPENSSL_free(c->req);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

/* Every session out: the cached certificate is answered (with and without
 * a nonce), the new one waits until a session comes back and is then
 * "good" from the database. */
TEST(cache_hits_take_no_session)
{
    const struct ca_actor serve = {CA_ACTOR_SERVICE, "serve"}, other = {CA_ACTOR_OPERATOR, "x"};
    ca_ctx *a = NULL, *b = NULL;
    ocsp_responder *r = NULL;
    struct ocsp_opts o;
    X509 *old = NULL, *fresh = NULL;
    struct call hit, nonce, miss;
    size_t n = 0;

    CHECK_OK(ca_session_open(&a, fx.handle, &serve));
    CHECK_OK(ca_load_key(a));
    CHECK_OK(issue(&old, a, "old.ocsp-pool.example"));
    CHECK_OK(ocsp_opts_from_config(&o, ca_config(a)));
    o.use_ca_key = 1;
    CHECK_OK(ocsp_responder_new(&r, a, &o));
    CHECK_OK(ocsp_responder_sync(r, &n));
    CHECK(n >= 1);
    CHECK_OK(issue(&fresh, a, "fresh.ocsp-pool.example")); /* after the sync: not cached */
    CHECK_OK(ca_session_open(&b, fx.handle, &other));      /* the pool is empty now */
    if (unit_failed_now || old == NULL || fresh == NULL || r == NULL)
        goto out;

    CHECK(call_start(&hit, r, old, ca_certificate(a), 0));
    CHECK(call_wait(&hit, 10000)); /* answered with no session free */
    CHECK_INT(hit.rc, CM_OK);
    CHECK_INT(hit.a.resp_status, OCSP_ST_SUCCESSFUL);
    CHECK_INT(hit.a.cert_status, OCSP_GOOD);
    CHECK_INT(hit.a.cached, 1);
    call_end(&hit, &b);

    CHECK(call_start(&nonce, r, old, ca_certificate(a), 1));
    CHECK(call_wait(&nonce, 10000)); /* signed on demand, status from the cache */
    CHECK_INT(nonce.a.resp_status, OCSP_ST_SUCCESSFUL);
    CHECK_INT(nonce.a.cert_status, OCSP_GOOD);
    CHECK_INT(nonce.a.cached, 0);
    call_end(&nonce, &b);

    CHECK(call_start(&miss, r, fresh, ca_certificate(a), 0));
    CHECK(!call_wait(&miss, 300)); /* a cache miss needs a session: it waits */
    ca_session_close(b);
    b = NULL;
    CHECK(call_wait(&miss, 10000));
    CHECK_INT(miss.a.resp_status, OCSP_ST_SUCCESSFUL);
    CHECK_INT(miss.a.cert_status, OCSP_GOOD); /* read from the database, not "unknown" */
    call_end(&miss, &b);
out:
    ca_session_close(b);
    ocsp_responder_free(r);
    ca_session_close(a);
    X509_free(old);
    X509_free(fresh);
}

int main(void)
{
    unit_suite = "ocsp_pool";
    if (fixture_home_open(&fx, "ocsppool", "OCSP Pool Test Root", SESSIONS) != 0) {
        printf("not ok - ocsp_pool: setup: %s\n", cm_err_msg());
        return 1;
    }
    RUN(cache_hits_take_no_session);
    fixture_home_close(&fx);
    return unit_nfail ? 1 : 0;
}
