/* The responder: its signer, the cache of pre-signed responses (RFC 5019
 * 2.1.1: a response per certificate, made ahead of the request) and the
 * answer to one request. */
#include "ca/ca_int.h"
#include "ocsp/ocsp_int.h"

#include "util/log.h"

#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS 65536u

struct entry {
    struct entry *next;
    char serial[CM_SERIAL_BUF];
    int status, reason;
    int64_t rev_time;
    unsigned char certid[96]; /* SHA-1 CertID (RFC 5019 2.1.1) */
    size_t certid_len;
    unsigned char *der;
    size_t len;
    int64_t produced, next_update;
    int seen; /* marked by the last full scan */
};

struct issuer_hash {
    int md_nid;
    unsigned char name[64], key[64];
    unsigned name_len, key_len;
};

struct ocsp_responder {
    struct ocsp_opts o;
    X509 *ca_cert;
    struct issuer_hash hashes[4];
    cm_key *ca_key; /* borrowed from the ca_ctx (CA-key mode) */
    pthread_rwlock_t signer_lock;
    struct ocsp_signer signer;
    X509 *responder;       /* delegated mode */
    pthread_rwlock_t lock; /* the cache */
    struct entry **buckets;
    size_t entries;
    int64_t seen_rev_seq, seen_request_id, seen_certs;
    int synced;
    atomic_int inflight; /* responses being signed on demand */
    ca_t *handle;        /* a cache miss takes a session of it (ocsp_respond) */
    db_t *sync_db;       /* the syncing thread's own connection */
};

const char *ocsp_cert_status_name(int st)
{
    return st == OCSP_GOOD ? "good" : st == OCSP_REVOKED ? "revoked" : "unknown";
}

const char *ocsp_resp_status_name(int st)
{
    switch (st) {
    case OCSP_ST_SUCCESSFUL:
        return "successful";
    case OCSP_ST_MALFORMED:
        return "malformedRequest";
    case OCSP_ST_INTERNAL:
        return "internalError";
    case OCSP_ST_TRYLATER:
        return "tryLater";
    case OCSP_ST_UNAUTHORIZED:
        return "unauthorized";
    }
    return "other";
}

cm_err ocsp_opts_from_config(struct ocsp_opts *o, const cm_config *cfg)
{
    cm_err rc = CM_OK;
    long long days = 30;
    const char *v;
    memset(o, 0, sizeof(*o));
    v = config_get(cfg, "ocsp.signer");
    o->use_ca_key = v != NULL && strcmp(v, "ca") == 0;
    v = config_get(cfg, "ocsp.unknown_status");
    o->unknown_as_revoked = v != NULL && strcmp(v, "revoked") == 0;
    CM_TRY(config_get_seconds(cfg, "ocsp.validity", &o->validity));
    CM_TRY(config_get_seconds(cfg, "ocsp.refresh", &o->refresh_before));
    CM_TRY(config_get_int(cfg, "ocsp.responder_days", &days));
    o->responder_days = days;
    CM_TRY(config_get_int(cfg, "ocsp.max_inflight_sign", &days));
    o->max_inflight_sign = (int)days;
    if (o->refresh_before >= o->validity)
        o->refresh_before = o->validity / 2;
out:
    return rc;
}

static unsigned bucket_of(const char *serial)
{
    unsigned h = 2166136261u;
    for (const char *p = serial; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % NBUCKETS;
}

static struct entry *find_entry(ocsp_responder *r, const char *serial)
{
    for (struct entry *e = r->buckets[bucket_of(serial)]; e != NULL; e = e->next)
        if (strcmp(e->serial, serial) == 0)
            return e;
    return NULL;
}

/* x NULL: the CA key; else the delegated responder's certificate and its
 * key k (taken over, also on failure). */
static cm_err signer_set(ocsp_responder *r, X509 *x, cm_key *k)
{
    cm_err rc = CM_OK;
    struct ocsp_signer s;
    unsigned n = 0;
    int len;
    unsigned char *p;

    memset(&s, 0, sizeof(s));
    if (x == NULL) {
        s.key = r->ca_key;
        x = r->ca_cert;
    } else {
        s.key = k;
        len = i2d_X509(x, NULL);
        CM_NOMEM_IF(len <= 0 || (s.cert_der = malloc((size_t)len)) == NULL);
        p = s.cert_der;
        s.cert_der_len = (size_t)i2d_X509(x, &p);
    }
    if (!X509_pubkey_digest(x, EVP_sha1(), s.key_hash, &n) || n != sizeof(s.key_hash))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "OCSP responder key hash");
    pthread_rwlock_wrlock(&r->signer_lock);
    if (r->signer.key != r->ca_key)
        key_close(r->signer.key);
    free(r->signer.cert_der);
    r->signer = s;
    pthread_rwlock_unlock(&r->signer_lock);
    memset(&s, 0, sizeof(s));
out:
    if (s.key != r->ca_key)
        key_close(s.key);
    free(s.cert_der);
    return rc;
}

static cm_err issuer_hashes(ocsp_responder *r)
{
    static const int nids[4] = {NID_sha1, NID_sha256, NID_sha384, NID_sha512};
    for (size_t i = 0; i < 4; i++) {
        const EVP_MD *md = EVP_get_digestbynid(nids[i]);
        struct issuer_hash *h = &r->hashes[i];
        h->md_nid = nids[i];
        if (md == NULL ||
            !X509_NAME_digest(X509_get_subject_name(r->ca_cert), md, h->name, &h->name_len) ||
            !X509_pubkey_digest(r->ca_cert, md, h->key, &h->key_len))
            return cm_err_ossl(CM_ERR_CRYPTO, "OCSP issuer hashes");
    }
    return CM_OK;
}

cm_err ocsp_responder_new(ocsp_responder **out, ca_ctx *ca, const struct ocsp_opts *o)
{
    cm_err rc = CM_OK;
    ocsp_responder *r = calloc(1, sizeof(*r));
    X509 *x = NULL;
    cm_key *k = NULL;

    *out = NULL;
    CM_NOMEM_IF(r == NULL);
    pthread_rwlock_init(&r->lock, NULL);
    pthread_rwlock_init(&r->signer_lock, NULL);
    r->o = *o;
    if (r->o.max_inflight_sign <= 0) /* not set by the caller: one per core */
        r->o.max_inflight_sign =
            (int)sysconf(_SC_NPROCESSORS_ONLN) > 0 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 1;
    r->ca_key = ca->signer;
    r->handle = ca->h;
    if (ca->cert == NULL || ca->signer == NULL)
        CM_FAIL(CM_ERR_STATE, "OCSP responder: the CA has no certificate or its key is not loaded");
    /* Its own connection: the refresher never holds a pool session. */
    CM_TRY(db_clone(&r->sync_db, ca->db));
    r->ca_cert = X509_dup(ca->cert);
    r->buckets = calloc(NBUCKETS, sizeof(*r->buckets));
    CM_NOMEM_IF(r->ca_cert == NULL || r->buckets == NULL);
    CM_TRY(issuer_hashes(r));
    if (!o->use_ca_key) {
        CM_TRY(ocsp_responder_obtain(&x, &k, ca, o->responder_days, 0));
        rc = signer_set(r, x, k);
        k = NULL; /* signer_set took it */
        if (rc != CM_OK)
            goto out;
        r->responder = x;
        x = NULL;
    } else {
        CM_TRY(signer_set(r, NULL, NULL));
    }
    *out = r;
    r = NULL;
out:
    X509_free(x);
    key_close(k);
    ocsp_responder_free(r);
    return rc;
}

cm_err ocsp_responder_renew(ocsp_responder *r, ca_ctx *ca, int *renewed)
{
    cm_err rc = CM_OK;
    X509 *x = NULL;
    cm_key *k = NULL;
    int64_t now = (int64_t)time(NULL), na;

    *renewed = 0;
    if (r->o.use_ca_key || r->responder == NULL)
        return CM_OK;
    na = ocsp_cert_not_after(r->responder);
    if (na - now > r->o.responder_days * 86400 / 3)
        return CM_OK;
    CM_TRY(ocsp_responder_obtain(&x, &k, ca, r->o.responder_days, 1));
    rc = signer_set(r, x, k);
    k = NULL; /* signer_set took it */
    if (rc != CM_OK)
        goto out;
    pthread_rwlock_wrlock(&r->lock);
    X509_free(r->responder);
    r->responder = x;
    x = NULL;
    /* Every response names the old certificate: re-sign them all. */
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct entry *e = r->buckets[b]; e != NULL; e = e->next)
            e->next_update = 0;
    pthread_rwlock_unlock(&r->lock);
    *renewed = 1;
out:
    X509_free(x);
    key_close(k);
    return rc;
}

void ocsp_responder_free(ocsp_responder *r)
{
    if (r == NULL)
        return;
    if (r->buckets != NULL)
        for (size_t b = 0; b < NBUCKETS; b++)
            for (struct entry *e = r->buckets[b], *n; e != NULL; e = n) {
                n = e->next;
                free(e->der);
                free(e);
            }
    free(r->buckets);
    if (r->signer.key != r->ca_key)
        key_close(r->signer.key);
    free(r->signer.cert_der);
    X509_free(r->responder);
    X509_free(r->ca_cert);
    db_close(r->sync_db);
    pthread_rwlock_destroy(&r->lock);
    pthread_rwlock_destroy(&r->signer_lock);
    free(r);
}

/* Signs one response under the signer's read lock. */
static cm_err sign_with(ocsp_responder *r, unsigned char **der, size_t *len,
                        const struct ocsp_sign_in *in)
{
    cm_err rc;
    pthread_rwlock_rdlock(&r->signer_lock);
    rc = ocsp_sign_response(der, len, &r->signer, in);
    pthread_rwlock_unlock(&r->signer_lock);
    return rc;
}

/* The SHA-1 CertID of serial under this issuer (the form RFC 5019 2.1.1
 * clients send). */
static cm_err sha1_certid(ocsp_responder *r, struct entry *e)
{
    cm_err rc = CM_OK;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    OCSP_CERTID *cid = NULL;
    unsigned char *p = e->certid;
    int n;

    if (!BN_hex2bn(&bn, e->serial) || (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "serial %s", e->serial);
    cid = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(r->ca_cert),
                           X509_get0_pubkey_bitstr(r->ca_cert), ai);
    if (cid == NULL || (n = i2d_OCSP_CERTID(cid, NULL)) <= 0 || (size_t)n > sizeof(e->certid))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "CertID of %s", e->serial);
    e->certid_len = (size_t)i2d_OCSP_CERTID(cid, &p);
out:
    BN_free(bn);
    ASN1_INTEGER_free(ai);
    OCSP_CERTID_free(cid);
    return rc;
}

/* (Re)signs the cached response of e. Called without the cache lock held
 * by a reader: e is private to the refresher until it is published. */
static cm_err entry_sign(ocsp_responder *r, struct entry *e, int64_t now)
{
    cm_err rc = CM_OK;
    struct ocsp_single s;
    struct ocsp_sign_in in = {&s, 1, now, r->o.validity, NULL, 0, 0};
    unsigned char *der = NULL;
    size_t len = 0;

    if (e->certid_len == 0)
        CM_TRY(sha1_certid(r, e));
    s.certid = e->certid;
    s.certid_len = e->certid_len;
    s.status = e->status;
    s.reason = e->reason;
    s.rev_time = e->rev_time;
    CM_TRY(sign_with(r, &der, &len, &in));
    pthread_rwlock_wrlock(&r->lock);
    free(e->der);
    e->der = der;
    e->len = len;
    e->produced = now;
    e->next_update = now + r->o.validity;
    pthread_rwlock_unlock(&r->lock);
out:
    return rc;
}

void ocsp_responder_stats(ocsp_responder *r, struct ocsp_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_rwlock_rdlock(&r->lock);
    st->entries = r->entries;
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct entry *e = r->buckets[b]; e != NULL; e = e->next)
            if (st->oldest_next_update == 0 || e->next_update < st->oldest_next_update)
                st->oldest_next_update = e->next_update;
    st->responder_not_after = ocsp_cert_not_after(r->responder);
    pthread_rwlock_unlock(&r->lock);
}

/* ---- the status of a serial ---- */

/* From a certificate row: revoked (with reason and effective time) if it is
 * revoked or on hold; good only for a certificate this CA signed and holds;
 * a placeholder (a bare serial recorded for revocation) is unknown. */
static void status_of_cert(int *status, int *reason, int64_t *when, int origin, int rev_reason,
                           int64_t rev_effective)
{
    *reason = 0;
    *when = 0;
    if (rev_reason >= 0) {
        *status = OCSP_REVOKED;
        *reason = rev_reason;
        *when = rev_effective;
    } else {
        *status = origin == DB_ORIGIN_PLACEHOLDER ? OCSP_UNKNOWN : OCSP_GOOD;
    }
}

/* A scan row: insert or update the entry (not yet signed when new or
 * changed: next_update 0). Runs under the write lock. */
static cm_err scan_one(ocsp_responder *r, const char *serial, int status, int reason, int64_t when)
{
    struct entry *e = find_entry(r, serial);
    if (e == NULL) {
        unsigned b = bucket_of(serial);
        if ((e = calloc(1, sizeof(*e))) == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        snprintf(e->serial, sizeof(e->serial), "%s", serial);
        e->status = -1;
        e->next = r->buckets[b];
        r->buckets[b] = e;
        r->entries++;
    }
    e->seen = 1;
    if (e->status != status || e->reason != reason || e->rev_time != when) {
        e->status = status;
        e->reason = reason;
        e->rev_time = when;
        e->next_update = 0;
    }
    return CM_OK;
}

struct scan_ctx {
    ocsp_responder *r;
    int c_serial, c_reason, c_eff, c_origin;
};

static cm_err scan_row(void *ctx, const struct db_row *row)
{
    struct scan_ctx *s = ctx;
    const char *serial = row->values[s->c_serial];
    const char *rs = row->values[s->c_reason], *eff = row->values[s->c_eff];
    const char *origin = row->values[s->c_origin];
    int status, reason, rr = -1, org = DB_ORIGIN_ISSUED;
    int64_t when = 0, t = 0;

    if (serial == NULL || serial[0] == '\0')
        return CM_OK; /* a request without a certificate */
    if (rs != NULL && rs[0] != '\0')
        rr = db_reason_parse(rs);
    if (eff != NULL && text_parse_time(&t, eff) != CM_OK)
        t = 0;
    if (origin != NULL && strcmp(origin, db_origin_name(DB_ORIGIN_PLACEHOLDER)) == 0)
        org = DB_ORIGIN_PLACEHOLDER;
    status_of_cert(&status, &reason, &when, org, rr, t);
    return scan_one(s->r, serial, status, reason, when);
}

/* Reads every certificate's status (the db's view, no new op needed) and
 * drops the entries of certificates no longer there (a restore). */
static cm_err full_scan(ocsp_responder *r, db_t *db)
{
    cm_err rc = CM_OK;
    struct scan_ctx s = {r, db_column_find("SerialNumber"), db_column_find("RevokedReason"),
                         db_column_find("RevokedEffectiveWhen"), db_column_find("Origin")};
    pthread_rwlock_wrlock(&r->lock);
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct entry *e = r->buckets[b]; e != NULL; e = e->next)
            e->seen = 0;
    rc = db_view(db, NULL, 0, scan_row, &s);
    if (rc == CM_OK)
        for (size_t b = 0; b < NBUCKETS; b++)
            for (struct entry **pe = &r->buckets[b]; *pe != NULL;) {
                struct entry *e = *pe;
                if (!e->seen) {
                    *pe = e->next;
                    free(e->der);
                    free(e);
                    r->entries--;
                } else {
                    pe = &e->next;
                }
            }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

/* Did anything an OCSP status depends on change since the last sync? */
static cm_err changed(int *yes, ocsp_responder *r, db_t *db)
{
    cm_err rc = CM_OK;
    int64_t rev = 0, req = 0;
    struct db_marks m;
    CM_TRY(db_counter_get(db, &rev, DB_COUNTER_REV_SEQ));
    CM_TRY(db_counter_get(db, &req, DB_COUNTER_REQUEST_ID));
    CM_TRY(db_marks(db, &m));
    *yes = !r->synced || rev != r->seen_rev_seq || req != r->seen_request_id ||
           m.certificates != r->seen_certs;
    r->seen_rev_seq = rev;
    r->seen_request_id = req;
    r->seen_certs = m.certificates;
out:
    return rc;
}

cm_err ocsp_responder_sync(ocsp_responder *r, size_t *signed_out)
{
    cm_err rc = CM_OK;
    db_t *db = r->sync_db;
    int64_t now = (int64_t)time(NULL);
    size_t n = 0;
    int yes = 0;

    if (signed_out)
        *signed_out = 0;
    CM_TRY(changed(&yes, r, db));
    if (yes) {
        CM_TRY(full_scan(r, db));
        r->synced = 1;
    }
    /* Only this thread adds, drops or re-signs entries: walking the list
     * without the lock is safe, and readers never see a half-made one. */
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct entry *e = r->buckets[b]; e != NULL; e = e->next)
            if (e->next_update - now < r->o.refresh_before) {
                CM_TRY(entry_sign(r, e, now));
                n++;
            }
out:
    if (signed_out)
        *signed_out = n;
    return rc;
}

/* ---- answering ---- */

void ocsp_answer_clear(struct ocsp_answer *a)
{
    free(a->der);
    memset(a, 0, sizeof(*a));
}

/* Is this CertID about our CA (RFC 6960 4.1.1: issuerNameHash and
 * issuerKeyHash under its hashAlgorithm)? */
static int ours(const ocsp_responder *r, const struct ocsp_certid *id)
{
    for (size_t i = 0; i < 4; i++) {
        const struct issuer_hash *h = &r->hashes[i];
        if (h->md_nid == id->md_nid)
            return id->name_hash_len == h->name_len && id->key_hash_len == h->key_len &&
                   memcmp(id->name_hash, h->name, h->name_len) == 0 &&
                   memcmp(id->key_hash, h->key, h->key_len) == 0;
    }
    return 0;
}

/* A certificate not in the cache (issued since the last sync): read from
 * the database through a pool session taken for this lookup only, so that
 * cached answers never wait for the pool. *found: it is in the database. */
static void lookup_db(struct ocsp_single *s, int *found, ocsp_responder *r, const char *serial)
{
    static const struct ca_actor who = {CA_ACTOR_SERVICE, "ocsp"};
    ca_ctx *ses = NULL;
    struct db_cert *c = NULL;

    if (r->handle == NULL || ca_session_open(&ses, r->handle, &who) != CM_OK)
        goto out;
    if (db_cert_get(ses->db, &c, serial) == CM_OK) {
        status_of_cert(&s->status, &s->reason, &s->rev_time, c->origin, c->revoked_reason,
                       c->revoked_effective_when);
        *found = 1;
    }
out:
    if (!*found)
        log_debug("OCSP: serial %s not in the cache or the database: %s", serial, cm_err_msg());
    ca_session_close(ses);
    db_cert_free(c);
    cm_err_clear();
}

/* The status of one serial: the cache, else the database (a certificate
 * issued since the last sync), else never issued here. */
static void lookup(struct ocsp_single *s, int *ext_revoked, ocsp_responder *r, const char *serial)
{
    struct entry *e;
    int found = 0;

    pthread_rwlock_rdlock(&r->lock);
    if (serial[0] != '\0' && (e = find_entry(r, serial)) != NULL) {
        s->status = e->status;
        s->reason = e->reason;
        s->rev_time = e->rev_time;
        found = 1;
    }
    pthread_rwlock_unlock(&r->lock);
    if (!found && serial[0] != '\0')
        lookup_db(s, &found, r, serial);
    if (found)
        return;
    /* Never issued here: never "good" (CA/B BR 4.9.10). Revoked means
     * certificateHold at 1970-01-01 with extended-revoke (RFC 6960 2.2). */
    if (r->o.unknown_as_revoked) {
        s->status = OCSP_REVOKED;
        s->reason = DB_REASON_HOLD;
        s->rev_time = 0;
        *ext_revoked = 1;
    } else {
        s->status = OCSP_UNKNOWN;
    }
}

/* The cached response for a single SHA-1 CertID without a nonce, if it is
 * signed and current. */
static int from_cache(struct ocsp_answer *out, ocsp_responder *r, const struct ocsp_certid *id)
{
    struct entry *e;
    int64_t now = (int64_t)time(NULL);
    int ok = 0;
    pthread_rwlock_rdlock(&r->lock);
    e = find_entry(r, id->serial);
    if (e != NULL && e->der != NULL && e->next_update > now && e->certid_len == id->der_len &&
        memcmp(e->certid, id->der, id->der_len) == 0 && (out->der = malloc(e->len)) != NULL) {
        memcpy(out->der, e->der, e->len);
        out->len = e->len;
        out->cert_status = e->status;
        out->produced_at = out->this_update = e->produced;
        out->next_update = e->next_update;
        out->cached = 1;
        ok = 1;
    }
    pthread_rwlock_unlock(&r->lock);
    return ok;
}

static cm_err error_answer(struct ocsp_answer *out, int status)
{
    out->resp_status = status;
    return ocsp_error_response(&out->der, &out->len, status);
}

cm_err ocsp_respond(struct ocsp_answer *out, ocsp_responder *r, const unsigned char *req,
                    size_t len)
{
    struct ocsp_request q;
    struct ocsp_single s[OCSP_MAX_CERTIDS];
    struct ocsp_sign_in in;
    int ext = 0;
    int64_t now = (int64_t)time(NULL);

    memset(out, 0, sizeof(*out));
    if (ocsp_request_parse(&q, req, len) != CM_OK) {
        log_debug("%s", cm_err_msg());
        cm_err_clear();
        return error_answer(out, OCSP_ST_MALFORMED);
    }
    for (size_t i = 0; i < q.n; i++)
        if (!ours(r, &q.ids[i]))
            return error_answer(out, OCSP_ST_UNAUTHORIZED);
    if (q.n == 1 && !q.has_nonce && from_cache(out, r, &q.ids[0]))
        return CM_OK;
    memset(s, 0, sizeof(s));
    for (size_t i = 0; i < q.n; i++) {
        s[i].certid = q.ids[i].der;
        s[i].certid_len = q.ids[i].der_len;
        lookup(&s[i], &ext, r, q.ids[i].serial);
    }
    memset(&in, 0, sizeof(in));
    in.singles = s;
    in.n = q.n;
    in.now = now;
    in.validity = r->o.validity;
    in.nonce = q.has_nonce ? q.nonce : NULL;
    in.nonce_len = q.nonce_len;
    in.extended_revoke = ext;
    /* Bounded: over the limit the client tries later (RFC 6960 2.3)
     * rather than every thread signing for it. */
    if (atomic_fetch_add(&r->inflight, 1) >= r->o.max_inflight_sign) {
        atomic_fetch_sub(&r->inflight, 1);
        return error_answer(out, OCSP_ST_TRYLATER);
    }
    if (sign_with(r, &out->der, &out->len, &in) != CM_OK) {
        atomic_fetch_sub(&r->inflight, 1);
        log_error("OCSP: signing a response: %s", cm_err_msg());
        cm_err_clear();
        return error_answer(out, OCSP_ST_INTERNAL);
    }
    atomic_fetch_sub(&r->inflight, 1);
    out->cert_status = s[0].status;
    out->produced_at = out->this_update = now;
    out->next_update = now + r->o.validity;
    return CM_OK;
}
