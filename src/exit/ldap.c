/* The ldap exit module: keeps the directory in step with the CA.
 *
 *   CERTISSUED, CERTIMPORTED  a certificate of a profile in exit.ldap.profiles
 *                             goes to userCertificate;binary of its owner's
 *                             entry (added beside the owner's other
 *                             certificates: renewals overlap)
 *   CERTREVOKED               removes exactly that value from exactly the
 *                             entry it was published on, and only when this
 *                             module (or dsverify --fix) published it
 *   CERTUNREVOKED             a released hold publishes it again
 *   CRLISSUED                 HOME/crl/ca.crl or delta.crl to the CA entry
 *   STARTUP                   the CA certificate to the CA entry
 *
 * What was published where is recorded in the database (ldap/record.h).
 * Every event is acknowledged only once the directory holds the result, so
 * an unreachable directory, a refused bind, a missing entry or a value the
 * server rejects leaves the event queued with the reason in `certmint exit
 * status`; nothing is lost. The connection is opened at the first event that
 * needs it and kept for the batch; a network error or timeout drops it so
 * that the retry starts afresh. */
#include "exit/exit.h"
#include "ca/ca_int.h"

#include "ca/ca.h"
#include "ldap/dir.h"
#include "ldap/ldap_keys.h"
#include "ldap/record.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/text.h"

#include <errno.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CM_HAVE_LDAP

/* Largest CRL file published (CRLs of big CAs run to megabytes). */
#define MAX_CRL_BYTES (64 * 1024 * 1024)

struct ldap_state {
    struct ca_ctx *ca;
    struct dir_settings settings; /* borrows from ca->cfg for the batch */
    struct dir *d;                /* NULL until an event needs the directory */
};

static int ldap_offbox(void *state)
{
    (void)state;
    /* Not an audit trail: the module acknowledges events it does not publish
     * (other profiles), and it removes what it published on revocation. In
     * strict audit mode only a module that keeps a record of every event
     * (smtp, file on a remote share) may release certificates. */
    return 0;
}

static cm_err ldap_init(void **out, struct ca_ctx *ca, const struct exit_ca_info *info)
{
    cm_err rc = CM_OK;
    struct ldap_state *s = NULL;

    (void)info;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    CM_NOMEM_IF(s == NULL);
    s->ca = ca;
    /* Only the settings are read here: a bad one is a configuration error
     * now, while the directory is contacted when an event needs it. */
    rc = dir_settings_load(&s->settings, ca->cfg, ca->home);
    if (rc != CM_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    free(s);
    return rc;
}

/* Connection trouble: the next attempt reconnects. */
static int is_transient(cm_err rc)
{
    return rc == CM_ERR_NET || rc == CM_ERR_TIMEOUT;
}

static cm_err ensure_open(struct ldap_state *s)
{
    if (s->d != NULL)
        return CM_OK;
    return dir_open(&s->d, &s->settings.opts);
}

/* The certificate's current row: its revocation state and expiry decide
 * what a (possibly late) event still has to do. */
static cm_err cert_row(struct db_cert **c, struct ldap_state *s, const char *serial)
{
    cm_err rc = db_cert_get(s->ca->db, c, serial);
    /* An event names a certificate of its own transaction: one missing
     * now is a damaged database, not a directory problem. */
    if (rc == CM_ERR_NOTFOUND || (rc == CM_OK && *c == NULL))
        rc = cm_err_set(CM_ERR_STATE, "certificate %s: not in the database", serial);
    return rc;
}

static cm_err parse_der(X509 **x, const unsigned char *der, size_t len, const char *serial)
{
    const unsigned char *p = der;
    *x = d2i_X509(NULL, &p, (long)len);
    if (*x == NULL || p != der + len) {
        X509_free(*x);
        *x = NULL;
        return cm_err_ossl(CM_ERR_INVALID, "certificate %s: stored DER does not parse", serial);
    }
    return CM_OK;
}

/* Publishes one certificate of a listed profile that is valid now. */
static cm_err publish_cert(struct ldap_state *s, const struct db_cert *c)
{
    cm_err rc = CM_OK;
    X509 *x = NULL;
    char *dn = NULL;
    enum dir_change what = DIR_UNCHANGED;

    CM_TRY(parse_der(&x, c->raw, c->raw_len, c->serial));
    CM_TRY(ensure_open(s));
    CM_TRY(dir_record_publish(&dn, &what, s->d, s->ca->db, c->serial, x, c->raw, c->raw_len));
    log_info("exit module ldap: certificate %s on %s: %s", c->serial, dn, dir_change_name(what));
out:
    X509_free(x);
    free(dn);
    return rc;
}

/* The certificate's profile: its own column, else its request's (the
 * view's CertificateTemplate, which the event carries). */
static const char *profile_of(const struct db_cert *c, const struct exit_event_ctx *e)
{
    int col;
    if (c->template_name != NULL)
        return c->template_name;
    col = db_column_find("CertificateTemplate");
    if (e->values == NULL || col < 0)
        return NULL;
    return e->values[col];
}

static int cert_expired(const struct db_cert *c, int64_t now)
{
    return c->not_after != 0 && c->not_after < now;
}

/* CERTISSUED, CERTIMPORTED, CERTUNREVOKED. */
static cm_err on_cert(struct ldap_state *s, const struct exit_event_ctx *e)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;
    char *dn = NULL;
    enum dir_record_state st = DIR_REC_NONE;
    int64_t now = (int64_t)time(NULL);

    if (e->ev->serial[0] == '\0')
        goto out;
    CM_TRY(cert_row(&c, s, e->ev->serial));
    /* A placeholder has no certificate to publish; other profiles are
     * not ours to publish. */
    if (c->raw == NULL || c->raw_len == 0 || !dir_profile_listed(s->ca->cfg, profile_of(c, e)))
        goto out;
    CM_TRY(dir_record_get(&st, &dn, s->ca->db, c->serial));
    if (e->ev->type == EXIT_EV_CERTUNREVOKED && st != DIR_REC_REMOVED)
        goto out; /* only what we had published and took down goes back */
    if (c->revoked_reason != DB_REASON_NONE) {
        /* Revoked (or on hold) by the time the event is delivered: it is
         * not published. Recorded as taken down, so that releasing a hold
         * publishes it; one we did publish is removed by its CERTREVOKED,
         * which follows in the queue. */
        if (st == DIR_REC_NONE)
            CM_TRY(dir_record_set(s->ca->db, c->serial, DIR_REC_REMOVED, ""));
        goto out;
    }
    if (cert_expired(c, now))
        goto out;
    CM_TRY(publish_cert(s, c));
out:
    db_cert_free(c);
    free(dn);
    return rc;
}

/* CERTREVOKED: removes what we published, nothing else. */
static cm_err on_revoked(struct ldap_state *s, const struct exit_event_ctx *e)
{
    cm_err rc = CM_OK;
    struct db_cert *c = NULL;
    char *dn = NULL, *rec_dn = NULL;
    enum dir_record_state st = DIR_REC_NONE;
    enum dir_change what = DIR_UNCHANGED;

    if (e->ev->serial[0] == '\0')
        goto out;
    CM_TRY(dir_record_get(&st, &rec_dn, s->ca->db, e->ev->serial));
    if (st != DIR_REC_PUBLISHED && st != DIR_REC_PENDING) {
        if (st == DIR_REC_FOREIGN)
            log_info("exit module ldap: certificate %s on %s was not published by certmint: "
                     "left there (certmint dsverify reports it)",
                     e->ev->serial, rec_dn);
        goto out; /* never published by us: nothing to undo */
    }
    CM_TRY(cert_row(&c, s, e->ev->serial));
    if (c->raw == NULL || c->raw_len == 0)
        goto out;
    CM_TRY(ensure_open(s));
    CM_TRY(dir_record_unpublish(&dn, &what, s->d, s->ca->db, c->serial, c->raw, c->raw_len));
    log_info("exit module ldap: certificate %s on %s: %s", c->serial, dn ? dn : rec_dn,
             what == DIR_REMOVED ? "removed" : "already gone");
out:
    db_cert_free(c);
    free(dn);
    free(rec_dn);
    return rc;
}

/* Where the value of a field of the event payload starts (*val NULL when
 * the field is absent). The payload is JSON certmint writes itself,
 * {"crl_number":5,"delta":false,...} (crl/crl_publish.c): flat, keys
 * unique, numbers and literals unquoted. */
static cm_err payload_field(const char **val, const char *json, const char *key)
{
    char pat[64];
    const char *p;

    *val = NULL;
    if (json == NULL)
        return CM_OK;
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr(json, pat);
    if (p == NULL)
        return CM_OK;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return cm_err_set(CM_ERR_INVALID, "event payload: '%s' has no value", key);
    p++;
    while (*p == ' ')
        p++;
    *val = p;
    return CM_OK;
}

static cm_err crl_number_of(int64_t *out, X509_CRL *crl, const char *path)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    int ok = n != NULL && ASN1_INTEGER_get_int64(out, n) == 1;
    ASN1_INTEGER_free(n);
    if (!ok)
        return cm_err_ossl(CM_ERR_INVALID, "%s: no usable cRLNumber (RFC 5280 5.2.3)", path);
    return CM_OK;
}

/* CRLISSUED: the current file of that kind to the CA entry. */
static cm_err on_crl(struct ldap_state *s, const struct exit_event_ctx *e)
{
    cm_err rc = CM_OK;
    const char *v = NULL;
    long long number = 0;
    int64_t file_number = 0;
    int delta = 0;
    char path[PATH_MAX], numbuf[32];
    unsigned char *data = NULL;
    size_t n = 0, i;
    X509_CRL *crl = NULL;
    enum dir_change what = DIR_UNCHANGED;

    CM_TRY(payload_field(&v, e->ev->payload, "delta"));
    delta = v != NULL && strncmp(v, "true", 4) == 0;
    CM_TRY(payload_field(&v, e->ev->payload, "crl_number"));
    if (v == NULL)
        CM_FAIL(CM_ERR_INVALID, "CRLISSUED event %lld: payload has no crl_number",
                (long long)e->ev->id);
    for (i = 0; i + 1 < sizeof(numbuf) && v[i] >= '0' && v[i] <= '9'; i++)
        numbuf[i] = v[i];
    numbuf[i] = '\0';
    CM_TRY(text_parse_int(&number, numbuf, 1, INT64_MAX, "crl_number"));
    CM_TRY(fs_join(path, sizeof(path), s->ca->home,
                   delta ? CA_CRL_DIR "/delta.crl" : CA_CRL_DIR "/ca.crl"));
    CM_TRY(fs_read_file(&data, &n, path, MAX_CRL_BYTES));
    const unsigned char *p = data;
    crl = d2i_X509_CRL(NULL, &p, (long)n);
    if (crl == NULL || p != data + n)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a DER CRL", path);
    CM_TRY(crl_number_of(&file_number, crl, path));
    /* The files are written after the commit that raised the event: an
     * older number means that write failed (or has not happened yet).
     * Publishing it would acknowledge a CRL the directory never got; a
     * newer one is the current CRL, which is what relying parties need. */
    if (file_number < number)
        CM_FAIL(CM_ERR_STATE,
                "%s holds CRL %lld, older than CRL %lld of the event: its file was not written "
                "(run 'certmint crl%s' again)",
                path, (long long)file_number, number, delta ? " --delta" : "");
    CM_TRY(ensure_open(s));
    CM_TRY(dir_publish_ca(s->d, delta ? DIR_CA_DELTA_CRL : DIR_CA_CRL, data, n, 1, 0, &what));
    log_info("exit module ldap: %s CRL %lld on %s: %s", delta ? "delta" : "full",
             (long long)file_number, dir_ca_entry(s->d), dir_change_name(what));
out:
    X509_CRL_free(crl);
    free(data);
    return rc;
}

/* STARTUP: the CA certificate on the CA entry (kept beside earlier ones). */
static cm_err on_startup(struct ldap_state *s)
{
    cm_err rc = CM_OK;
    unsigned char *der = NULL;
    enum dir_change what = DIR_UNCHANGED;
    int len;

    if (s->ca->cert == NULL)
        goto out;
    len = i2d_X509(s->ca->cert, &der);
    if (len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the CA certificate");
    CM_TRY(ensure_open(s));
    CM_TRY(dir_publish_ca(s->d, DIR_CA_CERT, der, (size_t)len, 1, 0, &what));
    log_info("exit module ldap: CA certificate on %s: %s", dir_ca_entry(s->d),
             dir_change_name(what));
out:
    OPENSSL_free(der);
    return rc;
}

/* Without ldap.ca_entry the CA entry is not ours to keep: CRLs and the CA
 * certificate are then published by hand (dspublish --ca --crl) or not at
 * all, and their events must not hold up the certificates queued behind. */
static int ca_entry_unset(struct ldap_state *s, const struct exit_event_ctx *e)
{
    const char *ce = s->settings.opts.ca_entry;
    if (ce != NULL && *ce != '\0')
        return 0;
    log_info("exit module ldap: event %lld %s: ldap.ca_entry is not set, nothing to publish",
             (long long)e->ev->id, exit_event_name(e->ev->type));
    return 1;
}

static cm_err deliver_one(struct ldap_state *s, const struct exit_event_ctx *e)
{
    if ((e->ev->type == EXIT_EV_CRLISSUED || e->ev->type == EXIT_EV_STARTUP) &&
        ca_entry_unset(s, e))
        return CM_OK;
    switch (e->ev->type) {
    case EXIT_EV_CERTISSUED:
    case EXIT_EV_CERTIMPORTED:
    case EXIT_EV_CERTUNREVOKED:
        return on_cert(s, e);
    case EXIT_EV_CERTREVOKED:
        return on_revoked(s, e);
    case EXIT_EV_CRLISSUED:
        return on_crl(s, e);
    case EXIT_EV_STARTUP:
        return on_startup(s);
    default:
        return CM_OK; /* nothing in the directory follows from it */
    }
}

/* The operator's next step for an error that retrying alone will not fix. */
static const char *hint(cm_err rc)
{
    switch (rc) {
    case CM_ERR_AUTH:
        return "; check ldap.binddn, ldap.password_file and the account's rights";
    case CM_ERR_NOTFOUND:
        return "; add the entry (or fix its mail), then 'certmint exit flush'";
    case CM_ERR_INVALID:
        return "; fix the entry or the server's schema, then 'certmint exit flush'";
    default:
        return "";
    }
}

static cm_err ldap_deliver(void *state, const struct exit_event_ctx *const *evs, size_t n,
                           size_t *acked, int *poison)
{
    struct ldap_state *s = state;
    cm_err rc = CM_OK;
    char msg[700];

    *acked = 0;
    *poison = 0; /* no event-specific failure: every error waits for a fix */
    for (size_t i = 0; i < n; i++) {
        const struct exit_event_ctx *e = evs[i];
        rc = deliver_one(s, e);
        if (rc != CM_OK) {
            /* The event stays queued (not acknowledged) whatever the
             * error: the dispatcher retries with backoff and `certmint
             * exit status` shows this message. */
            snprintf(msg, sizeof(msg), "%s", cm_err_msg());
            if (is_transient(rc)) {
                dir_close(s->d);
                s->d = NULL;
            }
            if (e->ev->serial[0])
                return cm_err_set(rc, "event %lld %s of certificate %s: %s%s", (long long)e->ev->id,
                                  exit_event_name(e->ev->type), e->ev->serial, msg, hint(rc));
            return cm_err_set(rc, "event %lld %s: %s%s", (long long)e->ev->id,
                              exit_event_name(e->ev->type), msg, hint(rc));
        }
        (*acked)++;
    }
    return CM_OK;
}

static void ldap_shutdown(void *state)
{
    struct ldap_state *s = state;
    if (s == NULL)
        return;
    dir_close(s->d);
    free(s);
}

/* exit.ldap.profiles: profile names, comma separated ("smime,smime-legacy"). */
static cm_err check_profiles(char **out, const struct config_key *k, const char *old,
                             const char *in)
{
    (void)k;
    (void)old;
    if (*in == '\0')
        return cm_err_set(CM_ERR_CONFIG, "empty list (give profile names or none)");
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == ','))
            return cm_err_set(CM_ERR_CONFIG,
                              "'%s': profile names are letters, digits, '-' and '_', "
                              "separated by commas",
                              in);
        if (c == ',' && (p == in || p[1] == ',' || p[1] == '\0'))
            return cm_err_set(CM_ERR_CONFIG, "'%s': empty profile name", in);
    }
    *out = text_dup(in);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

/* What the module acts on by default: not CERTPENDING and the like, which
 * change nothing in the directory. */
#define LDAP_EVENTFILTER_DEFAULT                                                                   \
    "CERTISSUED,CERTREVOKED,CRLISSUED,STARTUP,CERTUNREVOKED,CERTIMPORTED"

/* The connection settings (ldap.*) belong to the directory client
 * (ldap/ldap_keys.c): dspublish and dsverify read them too. */
static const struct config_key ldap_module_keys[] = {
    {"exit.ldap.eventfilter", CFG_CUSTOM, LDAP_EVENTFILTER_DEFAULT, 0, 0, NULL,
     exit_check_eventfilter,
     "events the ldap exit module acts on (names, +NAME/-NAME edits, or a mask)"},
    {"exit.ldap.profiles", CFG_CUSTOM, "smime", 0, 0, NULL, check_profiles,
     "profiles whose issued certificates the ldap exit module publishes"},
    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};

const struct exit_module_ops exit_ldap_ops = {
    .version = EXIT_MODULE_VERSION,
    .name = "ldap",
    .description = "publishes certificates and CRLs to an LDAP directory and removes revoked "
                   "certificates",
    .keys = ldap_module_keys,
    .reads_prefix = "ldap.",
    .offbox = ldap_offbox,
    .init = ldap_init,
    .deliver = ldap_deliver,
    .shutdown = ldap_shutdown,
};

#endif /* CM_HAVE_LDAP */
