/* Recovery of orphaned certificates from the mail audit trail (recover.h).
 *
 * 1. Scan (mailscan.h): every event of this CA's notification mails. The
 *    certificate events whose serial the database lacks become orphan
 *    records, revocations and releases become revent records, and the
 *    highest RequestID, event ID and CRL number seen are kept. The bulky
 *    parts of a record (certificate, subject, source, Message-ID) go to an
 *    unlinked scratch file: memory holds about 100 bytes per record, however
 *    large the mailbox.
 * 2. Apply, in transactions of GROUP changes: counters raised past the
 *    trail first (so that the events this run raises get IDs, hence
 *    Message-IDs, no mail has had); per serial, the real certificate when a
 *    mail carries one that verifies with this CA's key, else a placeholder;
 *    then the trail's final revocation state per serial (by event ID); then
 *    --revoke on everything recovered.
 * 3. Publish a new full CRL (and delta, when configured).
 *
 * Idempotent: everything applied is compared with the database first, so a
 * second run (or a run over a mailbox holding every mail twice, as
 * at-least-once delivery may leave it) changes nothing. A run cut short
 * leaves committed groups behind; running it again finishes the job. */
#include "recover/recover.h"
#include "ca/ca_int.h"

#include "crl/crl.h"
#include "exit/exit.h"
#include "recover/mailscan.h"
#include "recover/recover_prep.h"
#include "recover/recover_spool.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Changes committed per transaction. (4,096 measured no faster than 512 in
 * bench/recover.sh: the pages written per certificate are the same.) */
#define GROUP 512
/* Rejected mails and warnings listed one by one; the counts go on. */
#define LIST_MAX 10000
/* IDs and numbers above this in a mail are not believed: a forged mail
 * could otherwise push a counter to INT64_MAX and stop the CA (no real CA
 * gets near 2^53, the largest integer JSON readers keep exactly). */
#define RECOVER_ID_MAX ((int64_t)1 << 53)
/* Profile names taken from a mail: a configuration identifier. */
#define PROFILE_NAME_MAX 64

/* For the small helpers without an out: label. */
#define TRY_RET(expr)                                                                              \
    do {                                                                                           \
        cm_err r_ = (expr);                                                                        \
        if (r_ != CM_OK)                                                                           \
            return r_;                                                                             \
    } while (0)

/* A certificate event of the trail whose serial the database lacks. */
struct orphan {
    char serial[CM_SERIAL_BUF];
    int64_t request_id, not_after, event_id;
    int64_t off;      /* its record in the scratch file */
    uint32_t der_len; /* 0: the mail names the certificate without carrying it */
    int from_text;    /* an AD CS-style text mail: least trusted */
};

/* A revocation or release from hold seen in the trail. */
struct revent {
    char serial[CM_SERIAL_BUF];
    int type; /* EXIT_EV_CERTREVOKED or EXIT_EV_CERTUNREVOKED */
    int reason;
    int64_t request_id, effective, event_id, when;
    int64_t off;
};

/* A request event seen in the trail: CERTPENDING, or an outcome
 * (CERTISSUED, CERTDENIED) that settles it. */
struct reqev {
    int64_t request_id;
    int64_t off; /* pending notices: the mail's record (its source, for the report) */
    int settled; /* an outcome, not a pending notice */
};

/* One scratch-file record read back (pointers into the scratch buffer). */
struct rec {
    const unsigned char *der;
    size_t der_len;
    const char *subject, *profile, *source, *message_id, *requester;
};

struct scan {
    ca_ctx *ca;
    const struct recover_opts *o;
    struct recover_report *rep;
    /* The records of the trail, spooled (recover_spool.h: memory stays
     * flat however long the trail): orphans, revocations, request events,
     * and the serials recovered by this run (for --revoke). */
    struct spool *orphans, *revs, *reqs, *recovered;
    struct orphan *group; /* one serial's orphan records, being restored */
    size_t cap_group;
    FILE *spill;
    int64_t spill_size;
    unsigned char *rbuf; /* record read back */
    size_t rbuf_cap;
    cm_err fatal;
    struct prep *prep; /* the workers decoding and checking certificates */
};

static cm_err add_item(struct recover_item **list, size_t *n, size_t *total, const char *source,
                       const char *serial, const char *what)
{
    struct recover_item *p;
    (*total)++;
    if (*n >= LIST_MAX)
        return CM_OK; /* the total in the report is enough past this */
    p = realloc(*list, (*n + 1) * sizeof(**list));
    if (p == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    *list = p;
    snprintf(p[*n].source, sizeof(p[*n].source), "%s", source ? source : "");
    snprintf(p[*n].serial, sizeof(p[*n].serial), "%s", serial ? serial : "");
    snprintf(p[*n].what, sizeof(p[*n].what), "%s", what);
    p[*n].request_id = 0;
    (*n)++;
    return CM_OK;
}

static cm_err reject(struct recover_report *rep, const char *source, const char *serial,
                     const char *what)
{
    return add_item(&rep->rejected, &rep->nrejected, &rep->rejected_total, source, serial, what);
}

static void on_warn(void *ctx, const char *source, const char *why)
{
    struct scan *s = ctx;
    cm_err rc;
    if (strncmp(why, "foreign", 7) == 0)
        rc = reject(s->rep, source, NULL, why);
    else
        rc = add_item(&s->rep->warnings, &s->rep->nwarnings, &s->rep->warnings_total, source, NULL,
                      why);
    if (rc != CM_OK && s->fatal == CM_OK)
        s->fatal = rc;
}

static void progress(struct scan *s, int final)
{
    if (!s->o->progress)
        return;
    if (final || s->rep->events % 1000 == 0)
        fprintf(stderr, "\rrecover-orphans: %zu events read, %zu orphan records%s", s->rep->events,
                spool_count(s->orphans), final ? "\n" : "");
}

/* --- the scratch file ------------------------------------------------------ */

/* An unlinked file in $TMPDIR (else /tmp), readable by nobody else. It holds
 * certificates and mail sources only: nothing secret. */
static cm_err spill_open(struct scan *s)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    int fd;

    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    if (snprintf(path, sizeof(path), "%s/certmint-recover.XXXXXX", dir) >= (int)sizeof(path))
        return cm_err_set(CM_ERR_INVALID, "TMPDIR: path too long");
    fd = mkstemp(path);
    if (fd < 0)
        return cm_err_set(CM_ERR_IO, "%s: cannot create a scratch file: %s", path, strerror(errno));
    unlink(path);
    s->spill = fdopen(fd, "w+");
    if (s->spill == NULL) {
        close(fd);
        return cm_err_set(CM_ERR_IO, "scratch file: %s", strerror(errno));
    }
    return CM_OK;
}

/* A record: SPILL_FIELDS lengths, then the bytes (the certificate first). */
#define SPILL_FIELDS 6
#define SPILL_HEAD (SPILL_FIELDS * sizeof(uint32_t))

/* Appends a record. *off gets its offset. */
static cm_err spill_put(struct scan *s, int64_t *off, const unsigned char *der, size_t der_len,
                        const char *subject, const char *profile, const char *source,
                        const char *message_id, const char *requester)
{
    const void *p[SPILL_FIELDS] = {der, subject, profile, source, message_id, requester};
    uint32_t len[SPILL_FIELDS];

    _Static_assert(sizeof(len) == SPILL_HEAD, "scratch record header");
    if (s->spill == NULL)
        TRY_RET(spill_open(s));
    len[0] = der ? (uint32_t)der_len : 0;
    for (int i = 1; i < SPILL_FIELDS; i++)
        len[i] = p[i] ? (uint32_t)strlen(p[i]) : 0;
    *off = s->spill_size;
    if (fwrite(len, sizeof(len), 1, s->spill) != 1)
        return cm_err_set(CM_ERR_IO, "scratch file: %s", strerror(errno));
    s->spill_size += (int64_t)sizeof(len);
    for (int i = 0; i < SPILL_FIELDS; i++) {
        if (len[i] == 0)
            continue;
        if (fwrite(p[i], len[i], 1, s->spill) != 1)
            return cm_err_set(CM_ERR_IO, "scratch file: %s", strerror(errno));
        s->spill_size += len[i];
    }
    return CM_OK;
}

static cm_err read_at(struct scan *s, void *buf, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fileno(s->spill), (char *)buf + got, n - got, (off_t)off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return cm_err_set(CM_ERR_IO, "scratch file: %s",
                              r < 0 ? strerror(errno) : "short read");
        got += (size_t)r;
    }
    return CM_OK;
}

/* Reads a record back; the strings are NUL-terminated, NULL when empty.
 * Two reads (the lengths, then the bytes): the bytes land SPILL_FIELDS past the
 * buffer's start and each field moves down into its place, a NUL after
 * it (field i moves down by SPILL_FIELDS - i: never onto bytes not yet
 * moved). */
static cm_err spill_get(struct scan *s, struct rec *r, int64_t off)
{
    uint32_t len[SPILL_FIELDS];
    size_t total = 0, pos = 0, from = SPILL_FIELDS;
    const char **str[SPILL_FIELDS - 1] = {&r->subject, &r->profile,    &r->source,
                                          &r->message_id, &r->requester};

    memset(r, 0, sizeof(*r));
    TRY_RET(read_at(s, len, sizeof(len), off));
    for (int i = 0; i < SPILL_FIELDS; i++)
        total += (size_t)len[i];
    if (total + SPILL_FIELDS > s->rbuf_cap) {
        unsigned char *nb = realloc(s->rbuf, total + SPILL_FIELDS);
        if (nb == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        s->rbuf = nb;
        s->rbuf_cap = total + SPILL_FIELDS;
    }
    if (total > 0)
        TRY_RET(read_at(s, s->rbuf + SPILL_FIELDS, total, off + (int64_t)sizeof(len)));
    for (int i = 0; i < SPILL_FIELDS; i++) {
        memmove(s->rbuf + pos, s->rbuf + from, len[i]);
        s->rbuf[pos + len[i]] = '\0';
        if (i == 0) {
            r->der = len[0] ? s->rbuf : NULL;
            r->der_len = len[0];
        } else {
            *str[i - 1] = len[i] ? (const char *)s->rbuf + pos : NULL;
        }
        pos += (size_t)len[i] + 1;
        from += len[i];
    }
    return CM_OK;
}

/* --- scan --------------------------------------------------------------------- */

/* Does the database already hold this certificate? 1 yes (same, or a
 * placeholder, or the mail carries no certificate), 0 no, -1 a different
 * certificate with this serial (conflict). */
static cm_err db_has(int *state, ca_ctx *ca, const char *serial, const unsigned char *der,
                     size_t len)
{
    struct db_cert *c = NULL;
    cm_err rc = db_cert_get(ca->db, &c, serial);
    *state = 0;
    if (rc == CM_ERR_NOTFOUND)
        return CM_OK;
    if (rc != CM_OK)
        return rc;
    if (der != NULL && c->origin == DB_ORIGIN_PLACEHOLDER)
        *state = 2; /* a placeholder this mail's certificate can fill */
    else if (der == NULL || c->raw == NULL)
        *state = 1;
    else
        *state = (c->raw_len == len && memcmp(c->raw, der, len) == 0) ? 1 : -1;
    db_cert_free(c);
    return CM_OK;
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t ncap_ = (cap) ? (cap)*2 : 64;                                                   \
            void *p_ = realloc((arr), ncap_ * sizeof(*(arr)));                                     \
            CM_NOMEM_IF(p_ == NULL);                                                               \
            (arr) = p_;                                                                            \
            (cap) = ncap_;                                                                         \
        }                                                                                          \
    } while (0)

static int is_cert_event(int type)
{
    return type == EXIT_EV_CERTISSUED || type == EXIT_EV_CERTIMPORTED ||
           type == EXIT_EV_CERTRETRIEVEPENDING || type == EXIT_EV_CERTEXPIRING;
}

/* Remembers a request event for the pending-request check. */
static cm_err request_seen(struct scan *s, const struct mail_event *ev)
{
    struct reqev r;

    memset(&r, 0, sizeof(r));
    r.request_id = ev->request_id;
    r.settled = ev->type != EXIT_EV_CERTPENDING;
    r.off = -1;
    if (!r.settled)
        TRY_RET(spill_put(s, &r.off, NULL, 0, NULL, NULL, ev->source, NULL, NULL));
    return spool_add(s->reqs, &r);
}

static cm_err on_event(void *ctx, const struct mail_event *ev)
{
    struct scan *s = ctx;
    struct recover_report *rep = s->rep;
    int state = 0;
    cm_err rc = CM_OK;

    rep->events++;
    progress(s, 0);
    if (ev->event_id > RECOVER_ID_MAX || ev->request_id > RECOVER_ID_MAX ||
        ev->crl_number > RECOVER_ID_MAX)
        return reject(rep, ev->source, ev->serial,
                      "implausibly large event ID, RequestID or CRL number: not believed");
    if (ev->event_id > rep->max_event_id)
        rep->max_event_id = ev->event_id;
    if (ev->request_id > rep->max_request_id)
        rep->max_request_id = ev->request_id;
    if (ev->type == EXIT_EV_CRLISSUED && ev->crl_number > rep->max_crl_number)
        rep->max_crl_number = ev->crl_number;
    if (ev->request_id > 0 && (ev->type == EXIT_EV_CERTPENDING || ev->type == EXIT_EV_CERTISSUED ||
                               ev->type == EXIT_EV_CERTDENIED))
        CM_TRY(request_seen(s, ev));
    if (ev->serial[0] == '\0')
        return CM_OK;
    if (is_cert_event(ev->type)) {
        struct orphan o;
        /* Events that only name a certificate still prove it exists. */
        CM_TRY(db_has(&state, s->ca, ev->serial, ev->cert_der, ev->cert_der_len));
        if (state == 1) {
            rep->known++;
            goto out;
        }
        if (state == -1) {
            CM_TRY(reject(rep, ev->source, ev->serial,
                          "serial conflicts with a different certificate in the database"));
            goto out;
        }
        if (ev->cert_der_len > CA_MAX_CERT_BYTES)
            goto out; /* the scanner refuses these already */
        memset(&o, 0, sizeof(o));
        snprintf(o.serial, sizeof(o.serial), "%s", ev->serial);
        o.request_id = ev->request_id;
        o.not_after = ev->not_after;
        o.event_id = ev->event_id;
        o.der_len = ev->cert_der ? (uint32_t)ev->cert_der_len : 0;
        o.from_text = ev->from_text_fallback;
        CM_TRY(spill_put(s, &o.off, ev->cert_der, ev->cert_der_len, ev->subject_dn, ev->profile,
                         ev->source, ev->message_id, ev->requester));
        CM_TRY(spool_add(s->orphans, &o));
    } else if (ev->type == EXIT_EV_CERTREVOKED || ev->type == EXIT_EV_CERTUNREVOKED) {
        struct revent r;
        memset(&r, 0, sizeof(r));
        snprintf(r.serial, sizeof(r.serial), "%s", ev->serial);
        r.type = ev->type;
        r.reason = ev->revoked_reason;
        r.request_id = ev->request_id;
        r.effective = ev->revoked_effective ? ev->revoked_effective : ev->when;
        r.event_id = ev->event_id;
        r.when = ev->when;
        CM_TRY(spill_put(s, &r.off, NULL, 0, NULL, NULL, ev->source, ev->message_id,
                               ev->requester));
        CM_TRY(spool_add(s->revs, &r));
    }
out:
    return rc;
}

static int reqev_cmp(const void *a, const void *b)
{
    const struct reqev *x = a, *y = b;
    if (x->request_id != y->request_id)
        return x->request_id < y->request_id ? -1 : 1;
    return x->settled - y->settled;
}

/* One request the trail shows pending and never settled: listed when the
 * database lacks it. r: its first pending notice. */
static cm_err pending_check(struct scan *s, const struct reqev *r)
{
    cm_err rc;
    struct db_request *dr = NULL;
    struct rec m;
    char what[160];
    size_t listed;

    rc = db_request_get(s->ca->db, &dr, r->request_id);
    db_request_free(dr);
    if (rc != CM_ERR_NOTFOUND)
        return rc; /* CM_OK: the database has it */
    TRY_RET(spill_get(s, &m, r->off));
    snprintf(what, sizeof(what),
             "request %lld was pending and is missing from the database; ask its requester "
             "to submit again",
             (long long)r->request_id);
    listed = s->rep->npending_unknown;
    TRY_RET(add_item(&s->rep->pending_unknown, &s->rep->npending_unknown,
                     &s->rep->pending_unknown_total, m.source, NULL, what));
    if (s->rep->npending_unknown > listed)
        s->rep->pending_unknown[listed].request_id = r->request_id;
    return CM_OK;
}

/* Requests the trail shows pending, with no outcome in the trail, that the
 * database lacks: submitted after the backup and never decided. Their
 * CSRs are not in the mails, so they cannot be restored; the report lists
 * them so that their requesters can be asked to submit again. The request
 * events come sorted by RequestID, pending notices first, each in mail
 * order. */
static cm_err report_pending_unknown(struct scan *s)
{
    cm_err rc = CM_OK;
    size_t n;
    struct reqev first, r;
    int have = 0, settled = 0;

    memset(&first, 0, sizeof(first));
    memset(&r, 0, sizeof(r));

    CM_TRY(spool_sort(s->reqs));
    n = spool_count(s->reqs);
    for (size_t i = 0; i <= n; i++) {
        if (i < n)
            CM_TRY(spool_get(s->reqs, i, &r));
        if (have && (i == n || r.request_id != first.request_id)) {
            if (!settled)
                CM_TRY(pending_check(s, &first));
            have = 0;
        }
        if (i == n)
            break;
        if (!have) {
            first = r;
            have = 1;
            settled = 0;
        }
        settled |= r.settled;
    }
out:
    return rc;
}

/* --- apply -------------------------------------------------------------------- */

/* Orphans by serial; within a serial, the records carrying a certificate
 * first, then certmint's mails before text-only ones, then in event order. */
static int orphan_cmp(const void *a, const void *b)
{
    const struct orphan *x = a, *y = b;
    int c = strcmp(x->serial, y->serial);
    if (c != 0)
        return c;
    if ((x->der_len > 0) != (y->der_len > 0))
        return x->der_len > 0 ? -1 : 1;
    if (x->from_text != y->from_text)
        return x->from_text ? 1 : -1;
    if (x->event_id != y->event_id)
        return x->event_id < y->event_id ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Revocation events by serial, then in the order the CA raised them (the
 * outbox ID). Text-only mails carry no ID: they come first, by date, so
 * that certmint's own record of the same serial has the last word. */
static int revent_cmp(const void *a, const void *b)
{
    const struct revent *x = a, *y = b;
    int c = strcmp(x->serial, y->serial);
    if (c != 0)
        return c;
    if (x->event_id != y->event_id)
        return x->event_id < y->event_id ? -1 : 1;
    if (x->when != y->when)
        return x->when < y->when ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

struct tx {
    ca_ctx *ca;
    size_t pending;
    int dry_run;
};

/* Commits every GROUP changes (a dry run stays in one transaction, never
 * committed). */
static cm_err tx_tick(struct tx *t)
{
    cm_err rc;
    if (++t->pending < GROUP || t->dry_run)
        return CM_OK;
    t->pending = 0;
    if ((rc = db_commit(t->ca->db)) != CM_OK)
        return rc;
    return db_begin(t->ca->db);
}

static cm_err recovered_add(struct scan *s, const char *serial)
{
    char rec[CM_SERIAL_BUF];
    memset(rec, 0, sizeof(rec));
    snprintf(rec, sizeof(rec), "%s", serial);
    return spool_add(s->recovered, rec);
}

/* A profile name from a mail, if it looks like one (else NULL: the import
 * guesses from the certificate). */
static const char *profile_name(const char *p)
{
    size_t n = 0;
    if (p == NULL)
        return NULL;
    for (; p[n]; n++)
        if (!isalnum((unsigned char)p[n]) && p[n] != '-' && p[n] != '_' && p[n] != '.')
            return NULL;
    return n > 0 && n <= PROFILE_NAME_MAX ? p : NULL;
}

static cm_err revoke_one(ca_ctx *ca, const struct db_cert *c, int reason, int64_t when,
                         int64_t effective, const char *why)
{
    cm_err rc = CM_OK;
    int64_t seq;
    char payload[160];
    CM_TRY(db_counter_next(ca->db, &seq, "rev_seq"));
    CM_TRY(db_cert_revoke(ca->db, c->serial, reason, when, effective, 0, seq));
    snprintf(payload, sizeof(payload), "{\"reason\":%d,\"effective\":%lld,\"recovered\":true}",
             reason, (long long)effective);
    CM_TRY(exit_raise(ca->db, EXIT_EV_CERTREVOKED, c->request_id, c->serial, payload));
    CM_TRY(ca_audit(ca, "revoke", c->request_id, c->serial, why));
out:
    return rc;
}

/* The import of a record the workers did not make ready: decoded here when
 * they could not (out of memory, a read failed), checked here unless they
 * verified it. *x: the decoded certificate (the caller frees it). Returns
 * the import's result; *unparsed: 1 when the record is not a certificate. */
static cm_err import_decoded(X509 **x, int *unparsed, ca_ctx *ca, const struct orphan *o,
                             const struct rec *r, const struct prep_out *pr, const char *from,
                             char serial[CM_SERIAL_BUF])
{
    int parsed = pr->parsed;

    *x = pr->x;
    *unparsed = 0;
    if (parsed < 0) {
        const unsigned char *p = r->der;
        *x = d2i_X509(NULL, &p, (long)r->der_len);
        parsed = *x != NULL && (size_t)(p - r->der) == r->der_len;
    }
    if (!parsed) {
        *unparsed = 1;
        return CM_OK;
    }
    /* Checked by a worker: issuer and signature (ca_check_signed_here).
     * Anything else is checked again here, for the message. */
    if (pr->verified)
        return ca_import_checked_in_tx(ca, *x, o->request_id, profile_name(r->profile),
                                       r->requester, "attached certificate", from, serial);
    return ca_import_cert_in_tx(ca, *x, o->request_id, profile_name(r->profile), r->requester,
                                "attached certificate", from, serial);
}

/* Imports the certificate of one orphan record; pr is the worker's decoding
 * and check of it (freed here). *ok: 1 imported, 0 rejected and listed. */
static cm_err import_record(struct scan *s, const struct orphan *o, const struct rec *r,
                            struct prep_out *pr, int *ok)
{
    cm_err rc = CM_OK;
    X509 *x = NULL;
    char serial[CM_SERIAL_BUF];
    const char *from = r->message_id ? r->message_id : r->source;
    int unparsed = 0;

    *ok = 0;
    if (pr->ready_ok) /* decoded, checked, encoded and described: rows only */
        rc = ca_import_ready_in_tx(s->ca, &pr->ready, o->request_id, profile_name(r->profile),
                                   r->requester, "attached certificate", from, serial);
    else
        rc = import_decoded(&x, &unparsed, s->ca, o, r, pr, from, serial);
    pr->x = NULL; /* x's now */
    if (unparsed) {
        CM_TRY(reject(s->rep, r->source, o->serial, "attached certificate does not parse"));
    } else if (rc == CM_ERR_INVALID) {
        /* Forged or foreign: never imported. */
        CM_TRY(reject(s->rep, r->source, o->serial, cm_err_msg()));
    } else if (rc == CM_OK) {
        *ok = 1;
    }
out:
    X509_free(x);
    prep_out_clear(pr);
    return rc;
}

/* One serial's orphan records o[0..n), the sorted records base .. base+n-1:
 * import the first certificate that verifies; the others must be the same
 * certificate. Without one, a placeholder from the best serial-only
 * record, unless the only evidence was rejected certificates. */
static cm_err restore_serial(struct scan *s, const struct orphan *o, size_t n, size_t base)
{
    cm_err rc = CM_OK;
    struct recover_report *rep = s->rep;
    unsigned char *imported = NULL;
    size_t imported_len = 0, k;
    char imported_from[512] = "";
    const struct orphan *ph = NULL;
    struct rec r;
    struct prep_out pr;
    int state = 0, have_der = 0, ok = 0;

    for (k = 0; k < n; k++)
        have_der |= o[k].der_len > 0;
    /* Recorded meanwhile (a revocation's placeholder): only a certificate
     * can still fill it. */
    CM_TRY(db_has(&state, s->ca, o[0].serial, have_der ? (const unsigned char *)"" : NULL, 0));
    if (state != 0 && state != 2)
        goto out;
    for (k = 0; k < n; k++) {
        if (o[k].der_len == 0) {
            if (ph == NULL)
                ph = &o[k];
            continue;
        }
        CM_TRY(spill_get(s, &r, o[k].off));
        /* The worker's decoding and check of this record (dropped below
         * when not needed: the same certificate again). */
        prep_take(s->prep, base + k, &pr);
        if (imported != NULL) {
            prep_out_clear(&pr);
            if (r.der_len != imported_len || memcmp(r.der, imported, imported_len) != 0) {
                char why[700];
                snprintf(why, sizeof(why),
                         "a different certificate with this serial was imported from %s",
                         imported_from);
                CM_TRY(reject(rep, r.source, o[k].serial, why));
            }
            continue; /* else the same certificate in another mail */
        }
        CM_TRY(import_record(s, &o[k], &r, &pr, &ok));
        if (!ok)
            continue;
        imported = malloc(r.der_len);
        CM_NOMEM_IF(imported == NULL);
        memcpy(imported, r.der, r.der_len);
        imported_len = r.der_len;
        snprintf(imported_from, sizeof(imported_from), "%s", r.source ? r.source : "");
        rep->imported++;
        CM_TRY(recovered_add(s, o[k].serial));
    }
    if (imported == NULL && ph != NULL && state == 0) {
        CM_TRY(spill_get(s, &r, ph->off));
        rc = ca_placeholder_in_tx(s->ca, ph->serial, r.subject, ph->not_after, ph->request_id,
                                  r.requester, r.message_id ? r.message_id : r.source);
        if (rc == CM_ERR_INVALID && r.subject != NULL) {
            /* A subject in a form we cannot parse: the serial is what
             * matters, record it without. */
            rc = ca_placeholder_in_tx(s->ca, ph->serial, NULL, ph->not_after, ph->request_id,
                                      r.requester, r.message_id ? r.message_id : r.source);
        }
        if (rc != CM_OK)
            goto out;
        rep->placeholders++;
        CM_TRY(recovered_add(s, ph->serial));
    }
out:
    free(imported);
    return rc;
}

/* Job i of the workers: the certificate of orphan record i (nothing to do
 * when it cannot be read: the writer reads it again and says why). */
static void orphan_job(void *ctx, size_t i, int64_t *off, uint32_t *der_len)
{
    const struct scan *s = ctx;
    struct orphan o;

    *off = 0;
    *der_len = 0;
    if (spool_get(s->orphans, i, &o) == CM_OK) {
        *off = o.off + (int64_t)SPILL_HEAD;
        *der_len = o.der_len;
    }
}

/* Appends sorted orphan record i to the group being gathered. */
static cm_err group_add(struct scan *s, size_t *n, const struct orphan *o)
{
    cm_err rc = CM_OK;
    GROW(s->group, *n, s->cap_group);
    s->group[(*n)++] = *o;
out:
    return rc;
}

/* The orphan records in serial order, one serial's records at a time (only
 * those in memory: a serial's group, and the workers' window). */
static cm_err restore_orphans(struct scan *s, struct tx *t)
{
    cm_err rc = CM_OK;
    size_t n, i, start = 0, ng = 0, before;
    struct orphan o;

    memset(&o, 0, sizeof(o));

    CM_TRY(spool_sort(s->orphans));
    n = spool_count(s->orphans);
    log_info("recover-orphans: %zu orphan records, %zu runs of them sorted on disk and merged", n,
             spool_runs(s->orphans));
    /* Decoding and signature checks run ahead in worker threads, in the
     * order of the records; this thread imports, in that order. */
    if (n > 0 && s->spill != NULL)
        CM_TRY(prep_start(&s->prep, fileno(s->spill), n, orphan_job, s, s->ca->cert,
                          s->o->workers > 0 ? s->o->workers : prep_default_workers()));
    for (i = 0; i <= n; i++) {
        if (i < n)
            CM_TRY(spool_get(s->orphans, i, &o));
        if (ng > 0 && (i == n || strcmp(o.serial, s->group[0].serial) != 0)) {
            before = spool_count(s->recovered);
            CM_TRY(restore_serial(s, s->group, ng, start));
            if (spool_count(s->recovered) != before)
                CM_TRY(tx_tick(t));
            ng = 0;
        }
        if (i == n)
            break;
        if (ng == 0)
            start = i;
        CM_TRY(group_add(s, &ng, &o));
    }
out:
    prep_stop(s->prep);
    s->prep = NULL;
    return rc;
}

/* One serial's final revocation state: last, the last of its events. */
static cm_err apply_final(struct scan *s, struct tx *t, const struct revent *last)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;
    struct rec r;
    int final_revoked = last->type == EXIT_EV_CERTREVOKED;
    int reason = last->reason >= 0 ? last->reason : DB_REASON_UNSPECIFIED;

    if (reason == DB_REASON_REMOVE_FROM_CRL)
        final_revoked = 0; /* a release written as a revocation reason */
    rc = db_cert_get(s->ca->db, &c, last->serial);
    if (rc == CM_ERR_NOTFOUND) {
        CM_TRY(spill_get(s, &r, last->off));
        CM_TRY(ca_placeholder_in_tx(s->ca, last->serial, NULL, 0, last->request_id, r.requester,
                                    r.message_id ? r.message_id : r.source));
        s->rep->placeholders++;
        CM_TRY(recovered_add(s, last->serial));
        CM_TRY(tx_tick(t));
        CM_TRY(db_cert_get(s->ca->db, &c, last->serial));
    } else if (rc != CM_OK) {
        goto out;
    }
    if (final_revoked && (c->revoked_reason == DB_REASON_NONE ||
                          (c->revoked_reason == DB_REASON_HOLD && reason != DB_REASON_HOLD))) {
        CM_TRY(revoke_one(s->ca, c, reason, last->when > 0 ? last->when : (int64_t)time(NULL),
                          last->effective > 0 ? last->effective : (int64_t)time(NULL),
                          "re-applied from the audit trail"));
        s->rep->revocations++;
        CM_TRY(tx_tick(t));
    } else if (!final_revoked && c->revoked_reason == DB_REASON_HOLD) {
        int64_t seq;
        CM_TRY(db_counter_next(s->ca->db, &seq, "rev_seq"));
        CM_TRY(db_cert_unrevoke(s->ca->db, c->serial,
                                last->when > 0 ? last->when : (int64_t)time(NULL), seq));
        CM_TRY(exit_raise(s->ca->db, EXIT_EV_CERTUNREVOKED, c->request_id, c->serial,
                          "{\"recovered\":true}"));
        CM_TRY(ca_audit(s->ca, "unrevoke", c->request_id, c->serial,
                        "re-applied from the audit trail"));
        s->rep->releases++;
        CM_TRY(tx_tick(t));
    }
out:
    db_cert_free(c);
    return rc;
}

/* Applies the trail's final revocation state of each serial: the last of
 * its revocation events by event ID. A serial the database still lacks is
 * recorded as a placeholder first (the mail proves the certificate
 * exists). Revocation is final: a revoked certificate is never released,
 * and only a hold is turned into a final revocation. */
static cm_err apply_revocations(struct scan *s, struct tx *t)
{
    cm_err rc = CM_OK;
    size_t n;
    struct revent last, r;

    memset(&last, 0, sizeof(last));
    memset(&r, 0, sizeof(r));

    CM_TRY(spool_sort(s->revs));
    n = spool_count(s->revs);
    for (size_t i = 0; i < n; i++) {
        CM_TRY(spool_get(s->revs, i, &r));
        if (i > 0 && strcmp(r.serial, last.serial) != 0)
            CM_TRY(apply_final(s, t, &last));
        last = r;
    }
    if (n > 0)
        CM_TRY(apply_final(s, t, &last));
out:
    return rc;
}

/* --revoke REASON: every certificate this run recovered that the trail left
 * valid or on hold. The trail's own revocations keep their reason and date. */
static cm_err revoke_recovered(struct scan *s, struct tx *t, int reason)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;
    int64_t now = (int64_t)time(NULL);

    char serial[CM_SERIAL_BUF];

    CM_TRY(spool_sort(s->recovered));
    for (size_t i = 0; i < spool_count(s->recovered); i++) {
        CM_TRY(spool_get(s->recovered, i, serial));
        CM_TRY(db_cert_get(s->ca->db, &c, serial));
        if (c->revoked_reason == DB_REASON_NONE ||
            (c->revoked_reason == DB_REASON_HOLD && reason != DB_REASON_HOLD)) {
            CM_TRY(revoke_one(s->ca, c, reason, now, now,
                              "recovered orphan revoked (recover-orphans --revoke)"));
            s->rep->revoked_now++;
            CM_TRY(tx_tick(t));
        }
        db_cert_free(c);
        c = NULL;
    }
out:
    db_cert_free(c);
    return rc;
}

/* The highest CRL number this database has published (0: none). */
static cm_err last_crl_number(int64_t *out, db_t *db)
{
    cm_err rc = CM_OK;
    struct db_crl *c = NULL;
    *out = 0;
    for (int delta = 0; delta < 2; delta++) {
        CM_TRY(db_crl_last(db, &c, delta));
        if (c != NULL && c->number > *out)
            *out = c->number;
        db_crl_free(c);
        c = NULL;
    }
out:
    return rc;
}

/* The options' checks, before anything is read. */
static cm_err opts_check(const ca_ctx *ca, const struct recover_opts *o)
{
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "this CA has no certificate yet");
    if (o->nmaildirs + o->nmboxes == 0)
        return cm_err_set(CM_ERR_INVALID, "recover-orphans: give --maildir DIR or --mbox FILE");
    if (o->revoke_reason == 7 || o->revoke_reason == DB_REASON_REMOVE_FROM_CRL ||
        o->revoke_reason > DB_REASON_AA_COMPROMISE || o->revoke_reason < -1)
        return cm_err_set(CM_ERR_INVALID, "recover-orphans: reason %d is not a revocation reason",
                          o->revoke_reason);
    return CM_OK;
}

/* Step 1: reads every mailbox; only what the database lacks is kept. */
static cm_err scan_trail(struct scan *s, const char *keyid)
{
    const struct recover_opts *o = s->o;
    struct recover_report *rep = s->rep;
    struct mailscan_stats st;
    cm_err rc = CM_OK;
    size_t i;

    memset(&st, 0, sizeof(st));
    for (i = 0; i < o->nmaildirs; i++)
        CM_TRY(mailscan_maildir(o->maildirs[i], keyid, on_event, on_warn, s, &st));
    for (i = 0; i < o->nmboxes; i++)
        CM_TRY(mailscan_mbox_workers(o->mboxes[i], keyid,
                                     o->workers > 0 ? o->workers : prep_default_workers(), on_event,
                                     on_warn, s, &st));
    CM_TRY(s->fatal);
    if (s->spill != NULL && fflush(s->spill) != 0)
        CM_FAIL(CM_ERR_IO, "scratch file: %s", strerror(errno));
    progress(s, 1);
    rep->messages = st.messages;
    rep->certmint_messages = st.certmint_messages;
    rep->foreign_messages = st.foreign_messages;
    rep->fallback_messages = st.fallback_messages;
    rep->malformed = st.malformed;
    CM_TRY(report_pending_unknown(s));
out:
    return rc;
}

/* Steps 2-4 inside the caller's transaction; *changes: what they did. */
static cm_err apply_trail(struct scan *s, struct tx *t, size_t *changes)
{
    struct recover_report *rep = s->rep;
    ca_ctx *ca = s->ca;
    cm_err rc = CM_OK;

    /* Nothing goes backwards: IDs and numbers seen in the trail are never
     * used again (they name mails, requests and CRLs people have). First, so
     * that the events raised below get IDs, and so Message-IDs, above every
     * mail of the trail. */
    if (rep->max_request_id > 0)
        CM_TRY(db_counter_raise(ca->db, "request_id", rep->max_request_id));
    if (rep->max_crl_number > 0)
        CM_TRY(db_counter_raise(ca->db, "crl_number", rep->max_crl_number));
    if (rep->max_event_id > 0)
        CM_TRY(db_event_raise_id(ca->db, rep->max_event_id));
    CM_TRY(restore_orphans(s, t));
    CM_TRY(apply_revocations(s, t));
    if (s->o->revoke_reason >= 0)
        CM_TRY(revoke_recovered(s, t, s->o->revoke_reason));
    *changes =
        rep->imported + rep->placeholders + rep->revocations + rep->releases + rep->revoked_now;
    if (*changes > 0) {
        char details[256];
        snprintf(details, sizeof(details),
                 "%zu imported, %zu placeholders, %zu revocations, %zu releases, %zu revoked now",
                 rep->imported, rep->placeholders, rep->revocations, rep->releases,
                 rep->revoked_now);
        CM_TRY(ca_audit(ca, "recover-orphans", 0, NULL, details));
    }
out:
    return rc;
}

/* A new CRL reflects the recovered state, numbered above every CRL of the
 * trail. Also when nothing changed but the trail holds a CRL newer than
 * this database's last one: relying parties have a CRL the restored CA
 * never made (or a run was cut short before its CRL). */
static cm_err publish_after(struct recover_report *rep, ca_ctx *ca, size_t changes, int64_t db_crl)
{
    struct crl_result cr;
    int64_t dp = 0;
    cm_err rc = CM_OK;

    if (changes == 0 && rep->max_crl_number <= db_crl)
        return CM_OK;
    CM_TRY(crl_publish(&cr, ca, 0));
    rep->crl_number = cr.number;
    if (config_get_seconds(ca->cfg, "crl.delta_period", &dp) == CM_OK && dp > 0) {
        CM_TRY(crl_publish(&cr, ca, 1));
        rep->delta_crl_number = cr.number;
    }
out:
    return rc;
}

/* Where a run's time goes, for -v (bench/recover.sh): wall seconds, and CPU
 * seconds of this thread (the writer) and of the whole process. */
struct phase_clock {
    double wall, self, all;
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void phase_mark(struct phase_clock *pc, const char *what)
{
    struct phase_clock now = {clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_THREAD_CPUTIME_ID),
                              clock_s(CLOCK_PROCESS_CPUTIME_ID)};
    if (what != NULL)
        log_info("recover-orphans: %s: %.2f s, CPU %.2f s (%.2f s in this thread)", what,
                 now.wall - pc->wall, now.all - pc->all, now.self - pc->self);
    *pc = now;
}

/* Records per spool run: CERTMINT_SPOOL_RUN (1-1000000) makes them few, so
 * that the tests' small trails take the path of a large one (runs written
 * out and merged: tests/e2e/disaster.sh); else the default. */
static size_t spool_run_size(void)
{
    const char *v = getenv("CERTMINT_SPOOL_RUN");
    char *end = NULL;
    long n;

    if (v == NULL || *v == '\0')
        return 0;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > 1000000) {
        log_warn("CERTMINT_SPOOL_RUN: \"%s\" is not a number from 1 to 1000000; ignored", v);
        return 0;
    }
    return (size_t)n;
}

cm_err recover_orphans(struct recover_report *rep, ca_ctx *ca, const struct recover_opts *o)
{
    struct phase_clock pc;
    size_t run;
    cm_err rc = CM_OK;
    struct scan s;
    struct tx t = {ca, 0, o->dry_run};
    char keyid[130];
    size_t changes = 0;
    int in_tx = 0;
    int64_t db_crl = 0;

    memset(rep, 0, sizeof(*rep));
    memset(&s, 0, sizeof(s));
    s.ca = ca;
    s.o = o;
    s.rep = rep;
    CM_TRY(opts_check(ca, o));
    run = spool_run_size();
    CM_TRY(spool_new(&s.orphans, sizeof(struct orphan), orphan_cmp, run));
    CM_TRY(spool_new(&s.revs, sizeof(struct revent), revent_cmp, run));
    CM_TRY(spool_new(&s.reqs, sizeof(struct reqev), reqev_cmp, run));
    CM_TRY(spool_new(&s.recovered, CM_SERIAL_BUF, NULL, run));
    /* The key signs the CRL at the end: ask for it before a long scan, not
     * after. A dry run only verifies certificates (public key). */
    phase_mark(&pc, NULL);
    if (!o->dry_run)
        CM_TRY(ca_load_key(ca));
    phase_mark(&pc, "the CA key");
    text_hex(keyid, ca->ski, ca->ski_len);
    CM_TRY(scan_trail(&s, keyid));
    phase_mark(&pc, "reading the trail");
    CM_TRY(last_crl_number(&db_crl, ca->db));
    CM_TRY(db_begin(ca->db));
    in_tx = 1;
    CM_TRY(apply_trail(&s, &t, &changes));
    if (o->dry_run)
        goto out; /* rolled back below */
    CM_TRY(db_commit(ca->db));
    in_tx = 0;
    phase_mark(&pc, "applying it");
    CM_TRY(publish_after(rep, ca, changes, db_crl));
    phase_mark(&pc, "the CRL");
out:
    if (in_tx)
        db_rollback(ca->db);
    if (s.spill)
        fclose(s.spill);
    free(s.rbuf);
    spool_free(s.orphans);
    spool_free(s.revs);
    spool_free(s.reqs);
    spool_free(s.recovered);
    free(s.group);
    return rc;
}

void recover_report_free(struct recover_report *rep)
{
    if (rep == NULL)
        return;
    free(rep->rejected);
    free(rep->warnings);
    free(rep->pending_unknown);
    rep->rejected = rep->warnings = rep->pending_unknown = NULL;
    rep->nrejected = rep->nwarnings = rep->npending_unknown = 0;
}
