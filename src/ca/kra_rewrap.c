/* Re-wrapping archived keys to a new set of key recovery agents (issue 12,
 * docs/key-archival.md "Re-wrap"), after kra add / kra remove or a change
 * of kra.threshold. It needs the old agents as a recovery does: an officer
 * opens a re-wrap request (a one-time transport key, and one recovery
 * request record for each key not yet wrapped to the current agents); each
 * agent releases the shares of every key it holds one of (key
 * release-share, on its own machine) and the officer imports them (key
 * add-share); with enough shares for every key, kra rewrap rebuilds each
 * content key, unseals the key, seals it under a fresh content key and
 * splits that to the current agents and threshold, one transaction per
 * batch. A removed agent's old shares then open nothing: the content key
 * they were shares of is gone. */
#include "ca/kra_int.h"

#include "event/event.h"
#include "kra/kra.h"
#include "util/buf.h"
#include "util/fsutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define REWRAP_BATCH 256

/* The current agent set and threshold (what keys are re-wrapped to). */
struct agent_set {
    STACK_OF(X509) * certs;
    char (*ids)[65];
    long long m;
};

static void set_free(struct agent_set *s)
{
    sk_X509_pop_free(s->certs, X509_free);
    free(s->ids);
}

static cm_err set_load(struct agent_set *s, ca_ctx *ca)
{
    cm_err rc;

    memset(s, 0, sizeof(*s));
    if (config_get_int(ca->cfg, "kra.threshold", &s->m) != CM_OK || s->m < 1)
        s->m = 1;
    CM_TRY(kra_agents_load(&s->certs, &s->ids, ca));
    if (sk_X509_num(s->certs) < s->m)
        CM_FAIL(CM_ERR_STATE,
                "kra.threshold is %lld and this CA has %d active agents: nothing to "
                "re-wrap to (certmint kra add)",
                s->m, sk_X509_num(s->certs));
out:
    return rc;
}

static int set_has(const struct agent_set *s, const char *id)
{
    for (int i = 0; i < sk_X509_num(s->certs); i++)
        if (strcmp(s->ids[i], id) == 0)
            return 1;
    return 0;
}

/* Is the archive wrapped to exactly this set and threshold? */
static int set_same(const struct agent_set *s, const struct kra_rec *arch)
{
    long long m = 0;
    const char *a;
    size_t i;

    if (kra_rec_int(&m, arch, "threshold", 1, KRA_MAX_AGENTS, "archive record") != CM_OK ||
        m != s->m)
        return 0;
    for (i = 0; (a = kra_rec_get_nth(arch, "agent", i)) != NULL; i++)
        if (!set_has(s, a))
            return 0;
    return i == (size_t)sk_X509_num(s->certs);
}

struct serials {
    char (*v)[CM_SERIAL_BUF];
    size_t n, cap;
};

static cm_err serials_cb(void *ctx, const struct db_vault *v)
{
    struct serials *s = ctx;

    if (v->state != KRA_ST_ACTIVE)
        return CM_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        void *p = realloc(s->v, cap * sizeof(*s->v));
        if (p == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        s->v = p;
        s->cap = cap;
    }
    snprintf(s->v[s->n++], CM_SERIAL_BUF, "%s", v->name);
    return CM_OK;
}

/* The request records of the keys not yet wrapped to set (at most
 * KRA_REWRAP_MAX); *need: the largest old threshold among them. */
static cm_err keys_records(cm_buf *kb, size_t *nkeys, long long *need, ca_ctx *ca,
                           const struct agent_set *set, const char *req, const char *reason,
                           X509 *tc)
{
    struct serials s = {NULL, 0, 0};
    struct kra_rec arch;
    struct db_cert *c = NULL;
    long long m = 0;
    cm_err rc;

    *nkeys = 0;
    *need = 0;
    memset(&arch, 0, sizeof(arch));
    CM_TRY(db_vault_iter(ca->db, KRA_V_ARCHIVE, NULL, serials_cb, &s));
    for (size_t i = 0; i < s.n && *nkeys < KRA_REWRAP_MAX; i++) {
        kra_rec_clear(&arch);
        CM_TRY(kra_archive_load(&arch, ca, s.v[i]));
        if (set_same(set, &arch))
            continue;
        CM_TRY(kra_rec_int(&m, &arch, "threshold", 1, KRA_MAX_AGENTS, "archive record"));
        db_cert_free(c);
        c = NULL;
        CM_TRY(db_cert_get(ca->db, &c, s.v[i]));
        CM_TRY(kra_request_record(kb, req, s.v[i], reason, tc, &arch, c->dn ? c->dn : ""));
        *need = m > *need ? m : *need;
        (*nkeys)++;
    }
    if (*nkeys == 0)
        CM_FAIL(CM_ERR_STATE,
                "every archived key is already wrapped to the %d active agents with "
                "threshold %lld: nothing to re-wrap",
                sk_X509_num(set->certs), set->m);
out:
    kra_rec_clear(&arch);
    db_cert_free(c);
    free(s.v);
    return rc;
}

/* The request's first record: what the agents are asked to agree to. */
static cm_err header_record(cm_buf *b, const char *req, const char *reason, size_t nkeys,
                            long long need, const struct agent_set *set, X509 *tc)
{
    unsigned char *der = NULL;
    char keys[32], agents[64];
    int n = i2d_X509(tc, &der);
    cm_err rc;

    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the transport certificate");
    snprintf(keys, sizeof(keys), "%zu keys", nkeys);
    snprintf(agents, sizeof(agents), "re-wrap to %lld of %d agents", set->m,
             sk_X509_num(set->certs));
    CM_TRY(kra_rec_begin(b, "certmint-kra-rewrap 1"));
    CM_TRY(kra_rec_put(b, "request", req));
    CM_TRY(kra_rec_put(b, "reason", reason));
    CM_TRY(kra_rec_put(b, "keys", keys));
    CM_TRY(kra_rec_put(b, "agents", agents));
    CM_TRY(kra_rec_put_int(b, "threshold", set->m));
    CM_TRY(kra_rec_put_int(b, "need", need));
    CM_TRY(kra_rec_put_hex(b, "transport", der, (size_t)n));
    for (int i = 0; i < sk_X509_num(set->certs); i++)
        CM_TRY(kra_rec_put(b, "new-agent", set->ids[i]));
out:
    OPENSSL_free(der);
    return rc;
}

static cm_err rewrap_store(ca_ctx *ca, const char *req, const cm_buf *b, size_t nkeys,
                           const char *reason)
{
    struct db_vault v = {KRA_V_REWRAP, req, KRA_ST_OPEN, (int64_t)time(NULL), b->data, b->len};
    char details[700];
    cm_err rc;

    snprintf(details, sizeof(details), "re-wrap %s opened for %zu keys: %s", req, nkeys, reason);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_vault_insert(ca->db, &v));
    CM_TRY(ca_audit(ca, "kra-rewrap-request", 0, NULL, details));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

/* long: the set, the keys, the one-time key written, the request stored */
cm_err ca_kra_rewrap_request(char req_id[40], size_t *nkeys, unsigned char **file, size_t *len,
                             ca_ctx *ca, const char *reason)
{
    struct agent_set set;
    char kpath[PATH_MAX], pass[1024] = "";
    unsigned char rnd[8];
    EVP_PKEY *tk = NULL;
    X509 *tc = NULL;
    cm_buf kb = CM_BUF_INIT(KRA_MAX_BATCH_FILE), b = CM_BUF_INIT(KRA_MAX_BATCH_FILE);
    long long need = 0;
    int wrote = 0;
    cm_err rc;

    *file = NULL;
    memset(&set, 0, sizeof(set));
    if (reason == NULL || reason[0] == '\0')
        return cm_err_set(CM_ERR_INVALID, "a re-wrap needs a reason (--reason TEXT)");
    CM_TRY(set_load(&set, ca));
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "no randomness");
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(req_id + 2 * i, 3, "%02x", rnd[i]);
    CM_TRY(kra_transport_make(&tk, &tc, req_id));
    CM_TRY(keys_records(&kb, nkeys, &need, ca, &set, req_id, reason, tc));
    CM_TRY(header_record(&b, req_id, reason, *nkeys, need, &set, tc));
    CM_TRY(buf_append(&b, kb.data, kb.len));
    CM_TRY(kra_recovery_key_path(kpath, sizeof(kpath), ca, req_id));
    CM_TRY(kra_passphrase(pass, sizeof(pass), ca));
    CM_TRY(key_save_encrypted(tk, kpath, pass));
    wrote = 1;
    CM_TRY(rewrap_store(ca, req_id, &b, *nkeys, reason));
    wrote = 0;
    *file = buf_steal(&b, len);
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    if (wrote)
        (void)unlink(kpath);
    buf_free(&kb);
    buf_free(&b);
    set_free(&set);
    EVP_PKEY_free(tk);
    X509_free(tc);
    return rc;
}

/* ---- the request as stored ---- */

struct rewrap {
    char req[40];
    unsigned char *body; /* the request file */
    size_t len;
    struct kra_rec head;
    EVP_PKEY *tk;
    X509 *tc;
};

static void rewrap_free(struct rewrap *w)
{
    free(w->body);
    kra_rec_clear(&w->head);
    EVP_PKEY_free(w->tk);
    X509_free(w->tc);
}

int kra_rewrap_is(ca_ctx *ca, const char *req)
{
    unsigned char *body = NULL;
    size_t len = 0;
    int st = 0;
    cm_err rc = kra_vault_get(&body, &len, &st, ca, KRA_V_REWRAP, req);

    free(body);
    return rc == CM_OK;
}

/* Loads an open re-wrap request and its transport key. */
static cm_err rewrap_load(struct rewrap *w, ca_ctx *ca, const char *req)
{
    int state = 0;
    size_t n = strlen(req);
    cm_err rc;

    memset(w, 0, sizeof(*w));
    if (n != 16 || strspn(req, "0123456789abcdef") != n)
        return cm_err_set(CM_ERR_INVALID, "'%s': a re-wrap request ID is 16 hex digits", req);
    snprintf(w->req, sizeof(w->req), "%s", req);
    rc = kra_vault_get(&w->body, &w->len, &state, ca, KRA_V_REWRAP, req);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_NOTFOUND, "re-wrap request %s: no such request", req);
    CM_TRY(rc);
    if (state != KRA_ST_OPEN)
        CM_FAIL(CM_ERR_STATE, "re-wrap request %s is closed", req);
    CM_TRY(kra_rec_parse(&w->head, w->body, kra_rec_next(w->body, w->len), "re-wrap request"));
    CM_TRY(kra_transport_of(&w->tk, &w->tc, ca, &w->head, req));
out:
    return rc;
}

/* One share record of an agent's file, opened and checked: this request,
 * this agent, the share archived for this key. */
static cm_err share_check(struct kra_released *rel, ca_ctx *ca, const struct rewrap *w,
                          const unsigned char *p, size_t n, char agent[65], const char *what)
{
    struct kra_rec f, arch;
    const char *req = NULL, *ag = NULL, *hex = NULL;
    unsigned char *env = NULL;
    size_t envlen = 0;
    cm_err rc;

    memset(&f, 0, sizeof(f));
    memset(&arch, 0, sizeof(arch));
    CM_TRY(kra_rec_parse(&f, p, n, what));
    if (strcmp(f.kind, "certmint-kra-share 1") != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: not a certmint share file (first line '%s')", what, f.kind);
    CM_TRY(kra_rec_str(&req, &f, "request", what));
    CM_TRY(kra_rec_str(&ag, &f, "agent", what));
    if (agent[0] == '\0')
        snprintf(agent, 65, "%.64s", ag);
    if (strcmp(req, w->req) != 0 || strcmp(ag, agent) != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: a share of another request or agent inside", what);
    CM_TRY(kra_rec_str(&hex, &f, "envelope", what));
    CM_TRY(kra_rec_hex(&env, &envlen, hex, KRA_MAX_FILE, "envelope", what));
    CM_TRY(kra_share_open(rel, env, envlen, w->tc, w->tk, what));
    if (strcmp(rel->request, w->req) != 0 || strcmp(rel->agent, agent) != 0)
        CM_FAIL(CM_ERR_AUTH, "%s: the share inside is for another request or agent", what);
    CM_TRY(kra_archive_load(&arch, ca, rel->serial));
    CM_TRY(kra_share_verify(&arch, rel, what));
out:
    free(env);
    kra_rec_clear(&f);
    kra_rec_clear(&arch);
    return rc;
}

static cm_err count_shares(void *ctx, const struct db_vault *v)
{
    void **c = ctx;
    const char *prefix = c[0];
    if (strncmp(v->name, prefix, strlen(prefix)) == 0)
        (*(int *)c[1])++;
    return CM_OK;
}

static cm_err shares_store(int *have, ca_ctx *ca, const struct rewrap *w, const char *agent,
                           const unsigned char *data, size_t len, size_t nshares)
{
    char name[128], prefix[48], details[160];
    struct db_vault v = {KRA_V_SHARE, name, KRA_ST_ACTIVE, (int64_t)time(NULL), data, len};
    void *cc[2] = {prefix, have};
    cm_err rc;

    *have = 0;
    snprintf(name, sizeof(name), "%s/%s", w->req, agent);
    snprintf(prefix, sizeof(prefix), "%s/", w->req);
    snprintf(details, sizeof(details), "re-wrap %s: shares of agent %.16s for %zu keys", w->req,
             agent, nshares);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_vault_update(ca->db, KRA_V_REWRAP, w->req, KRA_ST_OPEN, KRA_ST_OPEN, NULL, 0));
    rc = db_vault_insert(ca->db, &v);
    if (rc == CM_ERR_EXISTS)
        CM_FAIL(CM_ERR_EXISTS,
                "agent %.16s has already released its shares for re-wrap %s "
                "(a replayed share file)",
                agent, w->req);
    CM_TRY(rc);
    CM_TRY(ca_audit(ca, "key-share", 0, NULL, details));
    CM_TRY(db_vault_iter(ca->db, KRA_V_SHARE, NULL, count_shares, cc));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

cm_err kra_rewrap_add_share(int *have, int *need, ca_ctx *ca, const unsigned char *share,
                            size_t len, const char *what)
{
    struct rewrap w;
    struct kra_rec f;
    struct kra_released rel;
    char agent[65] = "";
    const char *req = NULL;
    long long m = 0;
    size_t off, n, count = 0;
    cm_err rc;

    memset(&f, 0, sizeof(f));
    memset(&w, 0, sizeof(w));
    CM_TRY(kra_rec_parse(&f, share, kra_rec_next(share, len), what));
    CM_TRY(kra_rec_str(&req, &f, "request", what));
    CM_TRY(rewrap_load(&w, ca, req));
    CM_TRY(kra_rec_int(&m, &w.head, "need", 1, KRA_MAX_AGENTS, "re-wrap request"));
    for (off = 0; off < len; off += n, count++) {
        n = kra_rec_next(share + off, len - off);
        rc = share_check(&rel, ca, &w, share + off, n, agent, what);
        OPENSSL_cleanse(&rel, sizeof(rel));
        CM_TRY(rc);
    }
    CM_TRY(shares_store(have, ca, &w, agent, share, len, count));
    *need = (int)m;
out:
    kra_rec_clear(&f);
    rewrap_free(&w);
    return rc;
}

/* ---- the re-wrap itself ---- */

struct key_shares {
    char serial[CM_SERIAL_BUF];
    long long need; /* the key's old threshold */
    unsigned k;
    unsigned char xs[KRA_MAX_AGENTS];
    unsigned char sh[KRA_MAX_AGENTS][KRA_SHARE_LEN];
};

struct collect {
    const struct rewrap *w;
    struct key_shares *keys;
    size_t n;
};

/* The keys of the request, in its order (the records after the header). */
static cm_err keys_list(struct collect *c, const struct rewrap *w)
{
    struct kra_rec r;
    const char *serial = NULL;
    size_t off = kra_rec_next(w->body, w->len), n;
    cm_err rc = CM_OK;

    memset(&r, 0, sizeof(r));
    c->keys = OPENSSL_secure_zalloc(KRA_REWRAP_MAX * sizeof(*c->keys));
    CM_NOMEM_IF(c->keys == NULL);
    for (; off < w->len && c->n < KRA_REWRAP_MAX; off += n) {
        struct key_shares *k = &c->keys[c->n];
        n = kra_rec_next(w->body + off, w->len - off);
        kra_rec_clear(&r);
        CM_TRY(kra_rec_parse(&r, w->body + off, n, "re-wrap request"));
        CM_TRY(kra_rec_str(&serial, &r, "serial", "re-wrap request"));
        CM_TRY(kra_rec_int(&k->need, &r, "threshold", 1, KRA_MAX_AGENTS, "re-wrap request"));
        snprintf(k->serial, sizeof(k->serial), "%s", serial);
        c->n++;
    }
out:
    kra_rec_clear(&r);
    return rc;
}

static void share_add(struct collect *c, const struct kra_released *rel)
{
    for (size_t i = 0; i < c->n; i++) {
        struct key_shares *k = &c->keys[i];
        if (strcmp(k->serial, rel->serial) != 0)
            continue;
        for (unsigned j = 0; j < k->k; j++)
            if (k->xs[j] == rel->x)
                return;
        if (k->k < KRA_MAX_AGENTS) {
            k->xs[k->k] = rel->x;
            memcpy(k->sh[k->k++], rel->share, KRA_SHARE_LEN);
        }
        return;
    }
}

/* Each agent's stored share file (checked when it was added), opened. */
static cm_err collect_cb(void *ctx, const struct db_vault *v)
{
    struct collect *c = ctx;
    struct kra_rec f;
    struct kra_released rel;
    const char *hex = NULL;
    unsigned char *env = NULL;
    size_t off, n, envlen = 0;
    cm_err rc = CM_OK;

    if (strncmp(v->name, c->w->req, 16) != 0 || v->name[16] != '/')
        return CM_OK;
    memset(&f, 0, sizeof(f));
    for (off = 0; off < v->body_len; off += n) {
        n = kra_rec_next(v->body + off, v->body_len - off);
        kra_rec_clear(&f);
        free(env);
        env = NULL;
        CM_TRY(kra_rec_parse(&f, v->body + off, n, "stored share"));
        CM_TRY(kra_rec_str(&hex, &f, "envelope", "stored share"));
        CM_TRY(kra_rec_hex(&env, &envlen, hex, KRA_MAX_FILE, "envelope", "stored share"));
        CM_TRY(kra_share_open(&rel, env, envlen, c->w->tc, c->w->tk, "stored share"));
        share_add(c, &rel);
        OPENSSL_cleanse(&rel, sizeof(rel));
    }
out:
    free(env);
    kra_rec_clear(&f);
    return rc;
}

/* The current agents and threshold must be those the agents agreed to. */
static cm_err set_matches(const struct agent_set *set, const struct rewrap *w)
{
    long long m = 0;
    const char *a;
    size_t i;
    cm_err rc;

    CM_TRY(kra_rec_int(&m, &w->head, "threshold", 1, KRA_MAX_AGENTS, "re-wrap request"));
    for (i = 0; (a = kra_rec_get_nth(&w->head, "new-agent", i)) != NULL; i++)
        if (!set_has(set, a))
            break;
    if (m != set->m || a != NULL || i != (size_t)sk_X509_num(set->certs))
        CM_FAIL(CM_ERR_STATE,
                "the agents or kra.threshold changed since re-wrap %s was opened: open "
                "a new one (certmint kra rewrap-request)",
                w->req);
out:
    return rc;
}

/* One key's new archive record; NULL (*rec) when it was already re-wrapped
 * by this request (a re-wrap resumed after a failed batch). */
static cm_err key_rewrap(unsigned char **rec, size_t *reclen, ca_ctx *ca,
                         const struct key_shares *k, const struct agent_set *set, const char *req)
{
    struct kra_rec arch;
    const char *done;
    unsigned char *p8 = NULL;
    size_t p8len = 0;
    cm_err rc;

    *rec = NULL;
    memset(&arch, 0, sizeof(arch));
    CM_TRY(kra_archive_load(&arch, ca, k->serial));
    done = kra_rec_get(&arch, "rewrapped");
    if (done != NULL && strcmp(done, req) == 0)
        goto out;
    rc = kra_archive_unseal(&p8, &p8len, &arch, k->xs, (const unsigned char(*)[KRA_SHARE_LEN])k->sh,
                            k->k, k->serial);
    if (rc == CM_ERR_CRYPTO)
        CM_FAIL(CM_ERR_CRYPTO,
                "certificate %s: the released shares do not rebuild its key (its archive "
                "changed since re-wrap %s was opened?)",
                k->serial, req);
    CM_TRY(rc);
    CM_TRY(kra_archive_build(rec, reclen, p8, p8len, k->serial, (unsigned)set->m, set->certs,
                             set->ids, req));
out:
    kra_secret_free(p8, p8len);
    kra_rec_clear(&arch);
    return rc;
}

/* One batch: the new records made outside, written in one transaction. */
static cm_err batch_write(size_t *done, ca_ctx *ca, const struct collect *c, size_t from, size_t to,
                          const struct agent_set *set, const char *req)
{
    unsigned char *recs[REWRAP_BATCH] = {NULL};
    size_t lens[REWRAP_BATCH] = {0}, n = 0;
    char details[200], payload[160];
    struct db_cert *dc = NULL;
    cm_err rc = CM_OK;

    for (size_t i = from; i < to; i++)
        CM_TRY(key_rewrap(&recs[i - from], &lens[i - from], ca, &c->keys[i], set, req));
    snprintf(payload, sizeof(payload), "{\"threshold\":%lld,\"agents\":%d,\"rewrap\":\"%s\"}",
             set->m, sk_X509_num(set->certs), req);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_vault_update(ca->db, KRA_V_REWRAP, req, KRA_ST_OPEN, KRA_ST_OPEN, NULL, 0));
    for (size_t i = from; i < to; i++) {
        if (recs[i - from] == NULL)
            continue;
        db_cert_free(dc);
        dc = NULL;
        CM_TRY(db_cert_get(ca->db, &dc, c->keys[i].serial));
        CM_TRY(db_vault_update(ca->db, KRA_V_ARCHIVE, c->keys[i].serial, KRA_ST_ACTIVE,
                               KRA_ST_ACTIVE, recs[i - from], lens[i - from]));
        CM_TRY(exit_raise(ca->db, EXIT_EV_KEYARCHIVED, dc->request_id, c->keys[i].serial, payload));
        n++;
    }
    snprintf(details, sizeof(details), "re-wrap %s: %zu keys re-wrapped to %lld of %d agents", req,
             n, set->m, sk_X509_num(set->certs));
    CM_TRY(ca_audit(ca, "kra-rewrap", 0, NULL, details));
    CM_TRY(db_commit(ca->db));
    *done += n;
out:
    db_rollback(ca->db);
    db_cert_free(dc);
    for (size_t i = 0; i < REWRAP_BATCH; i++)
        free(recs[i]);
    return rc;
}

static cm_err rewrap_close(ca_ctx *ca, const char *req, size_t done)
{
    char details[128], kpath[PATH_MAX];
    cm_err rc;

    snprintf(details, sizeof(details), "re-wrap %s closed: %zu keys re-wrapped", req, done);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_vault_update(ca->db, KRA_V_REWRAP, req, KRA_ST_OPEN, KRA_ST_DONE, NULL, 0));
    CM_TRY(ca_audit(ca, "kra-rewrap", 0, NULL, details));
    CM_TRY(db_commit(ca->db));
    /* The one-time transport key has done its work. */
    if (kra_recovery_key_path(kpath, sizeof(kpath), ca, req) == CM_OK)
        (void)unlink(kpath);
out:
    db_rollback(ca->db);
    return rc;
}

/* long: load, check the set, collect, check every key, batches, close */
cm_err ca_kra_rewrap(size_t *done, ca_ctx *ca, const char *req)
{
    struct rewrap w;
    struct agent_set set;
    struct collect c = {NULL, NULL, 0};
    cm_err rc;

    *done = 0;
    memset(&set, 0, sizeof(set));
    CM_TRY(rewrap_load(&w, ca, req));
    CM_TRY(set_load(&set, ca));
    CM_TRY(set_matches(&set, &w));
    c.w = &w;
    CM_TRY(keys_list(&c, &w));
    CM_TRY(db_vault_iter(ca->db, KRA_V_SHARE, NULL, collect_cb, &c));
    /* Every key first: too few shares for any one changes nothing. */
    for (size_t i = 0; i < c.n; i++)
        if (c.keys[i].k < (unsigned)c.keys[i].need)
            CM_FAIL(CM_ERR_STATE,
                    "re-wrap %s: certificate %s's key has %u of the %lld shares it needs: "
                    "more agents must release theirs (certmint key release-share, key "
                    "add-share); nothing was changed",
                    w.req, c.keys[i].serial, c.keys[i].k, c.keys[i].need);
    for (size_t i = 0; i < c.n; i += REWRAP_BATCH)
        CM_TRY(batch_write(done, ca, &c, i, i + REWRAP_BATCH < c.n ? i + REWRAP_BATCH : c.n, &set,
                           w.req));
    CM_TRY(rewrap_close(ca, w.req, *done));
out:
    if (c.keys != NULL)
        OPENSSL_secure_clear_free(c.keys, KRA_REWRAP_MAX * sizeof(*c.keys));
    set_free(&set);
    rewrap_free(&w);
    return rc;
}
