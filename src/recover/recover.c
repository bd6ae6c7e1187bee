#include "recover/recover.h"

#include "crl/crl.h"
#include "exit/exit.h"
#include "recover/mailscan.h"
#include "util/log.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Changes committed per transaction. */
#define GROUP 512
#define LIST_MAX 100000

/* A certificate event of the trail whose serial the database lacks. */
struct orphan {
    char serial[CM_SERIAL_BUF];
    int64_t request_id, not_after, event_id;
    char *subject_dn;
    unsigned char *der;
    size_t der_len;
    char source[512];
    char message_id[256];
};

/* A revocation or release seen in the trail. */
struct revent {
    char serial[CM_SERIAL_BUF];
    int type; /* EXIT_EV_CERTREVOKED or EXIT_EV_CERTUNREVOKED */
    int reason;
    int64_t effective, event_id, when;
    char source[512];
    char message_id[256];
};

struct scan {
    ca_ctx *ca;
    const struct recover_opts *o;
    struct recover_report *rep;
    struct orphan *orphans;
    size_t norphans, cap_orphans;
    struct revent *revs;
    size_t nrevs, cap_revs;
    size_t seen_messages;
    cm_err fatal;
};

static cm_err add_item(struct recover_item **list, size_t *n, const char *source,
                       const char *serial, const char *what)
{
    struct recover_item *p;
    if (*n >= LIST_MAX)
        return CM_OK; /* the count in the report is enough past this */
    p = realloc(*list, (*n + 1) * sizeof(**list));
    if (p == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    *list = p;
    snprintf(p[*n].source, sizeof(p[*n].source), "%s", source ? source : "");
    snprintf(p[*n].serial, sizeof(p[*n].serial), "%s", serial ? serial : "");
    snprintf(p[*n].what, sizeof(p[*n].what), "%s", what);
    (*n)++;
    return CM_OK;
}

static void on_warn(void *ctx, const char *source, const char *why)
{
    struct scan *s = ctx;
    cm_err rc;
    if (strncmp(why, "foreign", 7) == 0)
        rc = add_item(&s->rep->rejected, &s->rep->nrejected, source, NULL, why);
    else
        rc = add_item(&s->rep->warnings, &s->rep->nwarnings, source, NULL, why);
    if (rc != CM_OK && s->fatal == CM_OK)
        s->fatal = rc;
}

static void progress(struct scan *s, int final)
{
    if (!s->o->progress)
        return;
    if (final || s->rep->events % 1000 == 0)
        fprintf(stderr, "\rrecover-orphans: %zu events read, %zu orphans so far%s",
                s->rep->events, s->norphans, final ? "\n" : "");
}

/* Does the database already hold this certificate? 1 yes (same), 0 no,
 * -1 a different certificate with this serial (conflict). */
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
    if (der == NULL || c->raw == NULL)
        *state = 1; /* a placeholder, or a mail without the certificate */
    else
        *state = (c->raw_len == len && memcmp(c->raw, der, len) == 0) ? 1 : -1;
    db_cert_free(c);
    return CM_OK;
}

static cm_err on_event(void *ctx, const struct mail_event *ev)
{
    struct scan *s = ctx;
    struct recover_report *rep = s->rep;
    int state = 0;
    cm_err rc = CM_OK;

    rep->events++;
    progress(s, 0);
    if (ev->event_id > rep->max_event_id)
        rep->max_event_id = ev->event_id;
    if (ev->request_id > rep->max_request_id)
        rep->max_request_id = ev->request_id;
    if (ev->type == EXIT_EV_CRLISSUED && ev->crl_number > rep->max_crl_number)
        rep->max_crl_number = ev->crl_number;
    if (ev->serial[0] == '\0')
        return CM_OK;
    switch (ev->type) {
    case EXIT_EV_CERTISSUED:
    case EXIT_EV_CERTIMPORTED:
    case EXIT_EV_CERTRETRIEVEPENDING:
    case EXIT_EV_CERTEXPIRING: {
        struct orphan *o;
        /* Events that only name a certificate still prove it exists. */
        CM_TRY(db_has(&state, s->ca, ev->serial, ev->cert_der, ev->cert_der_len));
        if (state == 1)
            break;
        if (state == -1) {
            CM_TRY(add_item(&rep->rejected, &rep->nrejected, ev->source, ev->serial,
                            "serial conflicts with a different certificate in the database"));
            break;
        }
        if (s->norphans == s->cap_orphans) {
            size_t ncap = s->cap_orphans ? s->cap_orphans * 2 : 64;
            void *p = realloc(s->orphans, ncap * sizeof(*s->orphans));
            CM_NOMEM_IF(p == NULL);
            s->orphans = p;
            s->cap_orphans = ncap;
        }
        o = &s->orphans[s->norphans];
        memset(o, 0, sizeof(*o));
        snprintf(o->serial, sizeof(o->serial), "%s", ev->serial);
        o->request_id = ev->request_id;
        o->not_after = ev->not_after;
        o->event_id = ev->event_id;
        snprintf(o->source, sizeof(o->source), "%s", ev->source);
        snprintf(o->message_id, sizeof(o->message_id), "%s", ev->message_id);
        if (ev->subject_dn != NULL) {
            o->subject_dn = strdup(ev->subject_dn);
            CM_NOMEM_IF(o->subject_dn == NULL);
        }
        if (ev->cert_der != NULL) {
            o->der = malloc(ev->cert_der_len);
            CM_NOMEM_IF(o->der == NULL);
            memcpy(o->der, ev->cert_der, ev->cert_der_len);
            o->der_len = ev->cert_der_len;
        }
        s->norphans++;
        break;
    }
    case EXIT_EV_CERTREVOKED:
    case EXIT_EV_CERTUNREVOKED: {
        struct revent *r;
        if (s->nrevs == s->cap_revs) {
            size_t ncap = s->cap_revs ? s->cap_revs * 2 : 64;
            void *p = realloc(s->revs, ncap * sizeof(*s->revs));
            CM_NOMEM_IF(p == NULL);
            s->revs = p;
            s->cap_revs = ncap;
        }
        r = &s->revs[s->nrevs++];
        memset(r, 0, sizeof(*r));
        snprintf(r->serial, sizeof(r->serial), "%s", ev->serial);
        r->type = ev->type;
        r->reason = ev->revoked_reason;
        r->effective = ev->revoked_effective ? ev->revoked_effective : ev->when;
        r->event_id = ev->event_id;
        r->when = ev->when;
        snprintf(r->source, sizeof(r->source), "%s", ev->source);
        snprintf(r->message_id, sizeof(r->message_id), "%s", ev->message_id);
        break;
    }
    default:
        break;
    }
out:
    return rc;
}

/* Orphans sorted by serial, the most complete record (with DER) first. */
static int orphan_cmp(const void *a, const void *b)
{
    const struct orphan *x = a, *y = b;
    int c = strcmp(x->serial, y->serial);
    if (c != 0)
        return c;
    if ((x->der != NULL) != (y->der != NULL))
        return x->der != NULL ? -1 : 1;
    return x->event_id < y->event_id ? -1 : x->event_id > y->event_id;
}

/* Revocation events by serial, then in the order the CA raised them. */
static int revent_cmp(const void *a, const void *b)
{
    const struct revent *x = a, *y = b;
    int c = strcmp(x->serial, y->serial);
    if (c != 0)
        return c;
    if (x->event_id != y->event_id)
        return x->event_id < y->event_id ? -1 : 1;
    return x->when < y->when ? -1 : x->when > y->when;
}

struct tx {
    ca_ctx *ca;
    size_t pending;
    int dry_run;
};

/* Commits every GROUP changes (one transaction for a dry run, never
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

static cm_err recover_revoke_one(ca_ctx *ca, const char *serial, int reason, int64_t effective,
                                 const char *why)
{
    cm_err rc = CM_OK;
    int64_t seq;
    char payload[160];
    CM_TRY(db_counter_next(ca->db, &seq, "rev_seq"));
    CM_TRY(db_cert_revoke(ca->db, serial, reason, (int64_t)time(NULL), effective, 0, seq));
    snprintf(payload, sizeof(payload), "{\"reason\":%d,\"effective\":%lld,\"recovered\":true}",
             reason, (long long)effective);
    CM_TRY(exit_raise(ca->db, EXIT_EV_CERTREVOKED, 0, serial, payload));
    CM_TRY(ca_audit(ca, "revoke", 0, serial, why));
out:
    return rc;
}

/* Applies the trail's final revocation state of each serial. */
static cm_err apply_revocations(struct scan *s, struct tx *t)
{
    cm_err rc = CM_OK;
    size_t i = 0, j;
    struct db_cert *c = NULL;

    qsort(s->revs, s->nrevs, sizeof(*s->revs), revent_cmp);
    while (i < s->nrevs) {
        int final_revoked = 0, reason = 0;
        int64_t effective = 0;
        const struct revent *last = NULL;
        for (j = i; j < s->nrevs && strcmp(s->revs[j].serial, s->revs[i].serial) == 0; j++) {
            last = &s->revs[j];
            if (last->type == EXIT_EV_CERTREVOKED) {
                final_revoked = 1;
                reason = last->reason >= 0 ? last->reason : 0;
                effective = last->effective;
            } else {
                final_revoked = 0;
            }
        }
        rc = db_cert_get(s->ca->db, &c, s->revs[i].serial);
        if (rc == CM_ERR_NOTFOUND) {
            /* Revoked in the trail, unknown here: record the serial. */
            rc = CM_OK;
            if (final_revoked) {
                CM_TRY(ca_placeholder_in_tx(s->ca, s->revs[i].serial, NULL, 0, 0,
                                            last->message_id));
                s->rep->placeholders++;
                CM_TRY(db_cert_get(s->ca->db, &c, s->revs[i].serial));
            }
        } else if (rc != CM_OK) {
            goto out;
        }
        if (c != NULL) {
            if (final_revoked && (c->revoked_reason == DB_REASON_NONE ||
                                  (c->revoked_reason == DB_REASON_HOLD && reason != DB_REASON_HOLD))) {
                CM_TRY(recover_revoke_one(s->ca, c->serial, reason, effective,
                                          "re-applied from the audit trail"));
                s->rep->revocations++;
                CM_TRY(tx_tick(t));
            } else if (!final_revoked && c->revoked_reason == DB_REASON_HOLD) {
                int64_t seq;
                CM_TRY(db_counter_next(s->ca->db, &seq, "rev_seq"));
                CM_TRY(db_cert_unrevoke(s->ca->db, c->serial, (int64_t)time(NULL), seq));
                CM_TRY(exit_raise(s->ca->db, EXIT_EV_CERTUNREVOKED, c->request_id, c->serial,
                                  "{\"recovered\":true}"));
                CM_TRY(ca_audit(s->ca, "unrevoke", c->request_id, c->serial,
                                "re-applied from the audit trail"));
                s->rep->releases++;
                CM_TRY(tx_tick(t));
            }
            db_cert_free(c);
            c = NULL;
        }
        i = j;
    }
out:
    db_cert_free(c);
    return rc;
}

static cm_err restore_orphans(struct scan *s, struct tx *t, int revoke_reason)
{
    cm_err rc = CM_OK;
    size_t i;
    X509 *x = NULL;
    char serial[CM_SERIAL_BUF];

    qsort(s->orphans, s->norphans, sizeof(*s->orphans), orphan_cmp);
    for (i = 0; i < s->norphans; i++) {
        struct orphan *o = &s->orphans[i];
        int state = 0;
        if (i > 0 && strcmp(o->serial, s->orphans[i - 1].serial) == 0)
            continue; /* the same certificate in several mails */
        CM_TRY(db_has(&state, s->ca, o->serial, o->der, o->der_len));
        if (state != 0)
            continue;
        if (o->der != NULL) {
            const unsigned char *p = o->der;
            x = d2i_X509(NULL, &p, (long)o->der_len);
            if (x == NULL || (size_t)(p - o->der) != o->der_len) {
                CM_TRY(add_item(&s->rep->rejected, &s->rep->nrejected, o->source, o->serial,
                                "attached certificate does not parse"));
                X509_free(x);
                x = NULL;
                continue;
            }
            rc = ca_import_cert_in_tx(s->ca, x, o->request_id, o->source, o->message_id, serial);
            X509_free(x);
            x = NULL;
            if (rc == CM_ERR_INVALID) {
                /* Forged or foreign: never imported. */
                CM_TRY(add_item(&s->rep->rejected, &s->rep->nrejected, o->source, o->serial,
                                cm_err_msg()));
                rc = CM_OK;
                continue;
            }
            if (rc != CM_OK)
                goto out;
            s->rep->imported++;
        } else {
            rc = ca_placeholder_in_tx(s->ca, o->serial, o->subject_dn, o->not_after,
                                      o->request_id, o->message_id);
            if (rc == CM_ERR_INVALID && o->subject_dn != NULL) {
                /* A subject the mail gives in a form we cannot parse: the
                 * serial matters, record it without. */
                rc = ca_placeholder_in_tx(s->ca, o->serial, NULL, o->not_after, o->request_id,
                                          o->message_id);
            }
            if (rc != CM_OK)
                goto out;
            s->rep->placeholders++;
        }
        if (revoke_reason >= 0) {
            CM_TRY(recover_revoke_one(s->ca, o->serial, revoke_reason, (int64_t)time(NULL),
                                      "recovered orphan revoked (recover-orphans --revoke)"));
            s->rep->revoked_now++;
        }
        CM_TRY(tx_tick(t));
    }
out:
    X509_free(x);
    return rc;
}

cm_err recover_orphans(struct recover_report *rep, ca_ctx *ca, const struct recover_opts *o)
{
    cm_err rc = CM_OK;
    struct scan s;
    struct mailscan_stats st;
    struct tx t = {ca, 0, o->dry_run};
    char keyid[130];
    size_t i, changes;
    int in_tx = 0;

    memset(rep, 0, sizeof(*rep));
    memset(&s, 0, sizeof(s));
    memset(&st, 0, sizeof(st));
    s.ca = ca;
    s.o = o;
    s.rep = rep;
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "this CA has no certificate yet");
    if (o->nmaildirs + o->nmboxes == 0)
        return cm_err_set(CM_ERR_INVALID, "recover-orphans: give --maildir DIR or --mbox FILE");
    text_hex(keyid, ca->ski, ca->ski_len);

    /* Scan: only the certificates the database lacks are kept in memory. */
    for (i = 0; i < o->nmaildirs; i++)
        CM_TRY(mailscan_maildir(o->maildirs[i], keyid, on_event, on_warn, &s, &st));
    for (i = 0; i < o->nmboxes; i++)
        CM_TRY(mailscan_mbox(o->mboxes[i], keyid, on_event, on_warn, &s, &st));
    CM_TRY(s.fatal);
    progress(&s, 1);
    rep->messages = st.messages;
    rep->certmint_messages = st.certmint_messages;
    rep->foreign_messages = st.foreign_messages;
    rep->fallback_messages = st.fallback_messages;
    rep->malformed = st.malformed;

    if (!o->dry_run || s.norphans + s.nrevs > 0)
        CM_TRY(ca_load_key(ca));
    CM_TRY(db_begin(ca->db));
    in_tx = 1;
    /* Nothing goes backwards: IDs and numbers seen in the trail are never
     * used again (they name mails, requests and CRLs people have). */
    if (rep->max_request_id > 0)
        CM_TRY(db_counter_raise(ca->db, "request_id", rep->max_request_id));
    if (rep->max_crl_number > 0)
        CM_TRY(db_counter_raise(ca->db, "crl_number", rep->max_crl_number));
    if (rep->max_event_id > 0)
        CM_TRY(db_event_raise_id(ca->db, rep->max_event_id));
    CM_TRY(restore_orphans(&s, &t, o->revoke_reason));
    CM_TRY(apply_revocations(&s, &t));
    changes = rep->imported + rep->placeholders + rep->revocations + rep->releases;
    if (changes > 0) {
        char details[256];
        snprintf(details, sizeof(details),
                 "%zu imported, %zu placeholders, %zu revocations, %zu releases, %zu revoked now",
                 rep->imported, rep->placeholders, rep->revocations, rep->releases,
                 rep->revoked_now);
        CM_TRY(ca_audit(ca, "recover-orphans", 0, NULL, details));
    }
    if (o->dry_run) {
        db_rollback(ca->db);
        in_tx = 0;
        goto out;
    }
    CM_TRY(db_commit(ca->db));
    in_tx = 0;
    /* A new CRL (and delta, when configured) reflects the recovered state,
     * with a number above every CRL in the trail. */
    if (changes > 0) {
        struct crl_result cr;
        int64_t dp = 0;
        CM_TRY(crl_publish(&cr, ca, 0));
        rep->crl_number = cr.number;
        if (config_get_seconds(ca->cfg, "crl.delta_period", &dp) == CM_OK && dp > 0) {
            CM_TRY(crl_publish(&cr, ca, 1));
            rep->delta_crl_number = cr.number;
        }
    }
out:
    if (in_tx)
        db_rollback(ca->db);
    for (i = 0; i < s.norphans; i++) {
        free(s.orphans[i].subject_dn);
        free(s.orphans[i].der);
    }
    free(s.orphans);
    free(s.revs);
    return rc;
}

void recover_report_free(struct recover_report *rep)
{
    if (rep == NULL)
        return;
    free(rep->rejected);
    free(rep->warnings);
    rep->rejected = rep->warnings = NULL;
    rep->nrejected = rep->nwarnings = 0;
}
