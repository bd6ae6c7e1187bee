/* The database front end: the backend registry, the column table shared by
 * `certmint view`, restrictions and exit-module templates, the name tables
 * for dispositions, origins and revocation reasons, and the db_* wrappers
 * that dispatch to the backend's ops table and check the transaction rule
 * (every write inside db_begin()/db_commit()). */
#include "db/db.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

extern const struct db_ops db_sqlite_ops;
#ifdef CM_HAVE_PQ
extern const struct db_ops db_postgresql_ops;
#endif

/* The backends compiled in; the first is the default for a bare path. */
static const struct db_ops *const backends[] = {
    &db_sqlite_ops,
#ifdef CM_HAVE_PQ
    &db_postgresql_ops, /* "postgresql://USER@HOST:PORT/DB" (libpq URI) */
#endif
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct db_ops *db_backend_find(const char *name)
{
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strcasecmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const struct db_ops *db_backend_at(size_t i)
{
    return i < NBACKENDS ? backends[i] : NULL;
}

/* A backend built against another version of this header would call
 * through the wrong slots: refuse it by name rather than crash. */
static cm_err backend_check(const struct db_ops *ops)
{
    if (ops->version != DB_OPS_VERSION)
        return cm_err_set(CM_ERR_UNSUPPORTED,
                          "database backend '%s' implements ops version %d, this build needs %d",
                          ops->name, ops->version, DB_OPS_VERSION);
    return CM_OK;
}

/* The view's columns, in AD CS's names and in the order `certmint view`
 * and templates list them. The SQLite view exposes exactly these names. */
const struct db_column db_columns[] = {
    {"RequestID", DB_COL_INT, 1},
    {"RequesterName", DB_COL_TEXT, 0},
    {"SubmittedWhen", DB_COL_TIME, 0},
    {"ResolvedWhen", DB_COL_TIME, 0},
    {"Disposition", DB_COL_DISP, 1},
    {"DispositionMessage", DB_COL_TEXT, 0},
    {"CertificateTemplate", DB_COL_TEXT, 0},
    {"RequestDistinguishedName", DB_COL_TEXT, 0},
    {"SerialNumber", DB_COL_SERIAL, 1},
    {"NotBefore", DB_COL_TIME, 0},
    {"NotAfter", DB_COL_TIME, 1},
    {"DistinguishedName", DB_COL_TEXT, 0},
    {"CommonName", DB_COL_TEXT, 1},
    {"EMail", DB_COL_TEXT, 0},
    {"SubjectAltNames", DB_COL_TEXT, 0},
    {"CertificateHash", DB_COL_TEXT, 0},
    {"SubjectKeyIdentifier", DB_COL_TEXT, 0},
    {"RevokedWhen", DB_COL_TIME, 0},
    {"RevokedEffectiveWhen", DB_COL_TIME, 0},
    {"RevokedReason", DB_COL_REASON, 0},
    {"InvalidityDate", DB_COL_TIME, 0},
    {"Origin", DB_COL_INT, 0},
    {"RecoveredFrom", DB_COL_TEXT, 0},
    {"Withheld", DB_COL_INT, 0},
    {"RawCertificate", DB_COL_BLOB, 0},
    {"RawRequest", DB_COL_BLOB, 0},
};
const size_t db_ncolumns = sizeof(db_columns) / sizeof(db_columns[0]);

int db_column_find(const char *name)
{
    for (size_t i = 0; i < db_ncolumns; i++)
        if (strcasecmp(db_columns[i].name, name) == 0)
            return (int)i;
    cm_err_set(CM_ERR_INVALID, "unknown column '%s'", name);
    return -1;
}

const char *db_disposition_name(int disp)
{
    switch (disp) {
    case DB_DISP_PENDING:
        return "pending";
    case DB_DISP_FOREIGN:
        return "foreign";
    case DB_DISP_ISSUED:
        return "issued";
    case DB_DISP_REVOKED:
        return "revoked";
    case DB_DISP_FAILED:
        return "failed";
    case DB_DISP_DENIED:
        return "denied";
    default:
        return "unknown";
    }
}

const char *db_origin_name(int origin)
{
    switch (origin) {
    case DB_ORIGIN_ISSUED:
        return "issued";
    case DB_ORIGIN_IMPORTED:
        return "imported";
    case DB_ORIGIN_PLACEHOLDER:
        return "placeholder";
    default:
        return "unknown";
    }
}

/* RFC 5280 5.3.1 CRLReason names (the ASN.1 identifiers). Value 7 is not
 * used by the RFC. */
static const struct {
    const char *name;
    int code;
} reasons[] = {
    {"unspecified", DB_REASON_UNSPECIFIED},
    {"keyCompromise", DB_REASON_KEY_COMPROMISE},
    {"cACompromise", DB_REASON_CA_COMPROMISE},
    {"affiliationChanged", DB_REASON_AFFILIATION_CHANGED},
    {"superseded", DB_REASON_SUPERSEDED},
    {"cessationOfOperation", DB_REASON_CESSATION},
    {"certificateHold", DB_REASON_HOLD},
    {"removeFromCRL", DB_REASON_REMOVE_FROM_CRL},
    {"privilegeWithdrawn", DB_REASON_PRIVILEGE_WITHDRAWN},
    {"aACompromise", DB_REASON_AA_COMPROMISE},
};

const char *db_reason_name(int reason)
{
    if (reason == DB_REASON_NONE)
        return "none";
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == reason)
            return reasons[i].name;
    return "unknown";
}

int db_reason_parse(const char *s)
{
    int code = -1;

    if (s == NULL || *s == '\0') {
        cm_err_set(CM_ERR_INVALID, "revocation reason: empty");
        return -1;
    }
    if (isdigit((unsigned char)s[0])) {
        /* At most two digits: the codes are 0..10. */
        if (s[1] == '\0')
            code = s[0] - '0';
        else if (isdigit((unsigned char)s[1]) && s[2] == '\0')
            code = (s[0] - '0') * 10 + (s[1] - '0');
        for (size_t i = 0; code >= 0 && i < sizeof(reasons) / sizeof(reasons[0]); i++)
            if (reasons[i].code == code)
                goto found;
        code = -1;
    } else {
        for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
            if (strcasecmp(reasons[i].name, s) == 0) {
                code = reasons[i].code;
                goto found;
            }
    }
    cm_err_set(CM_ERR_INVALID,
               "revocation reason '%s': unknown (RFC 5280 5.3.1: unspecified, keyCompromise, "
               "cACompromise, affiliationChanged, superseded, cessationOfOperation, "
               "certificateHold, privilegeWithdrawn, aACompromise, or their codes)",
               s);
    return -1;
found:
    /* removeFromCRL only appears in delta CRLs (RFC 5280 5.3.1), as the
     * result of releasing a hold; nobody revokes with it. */
    if (code == DB_REASON_REMOVE_FROM_CRL) {
        cm_err_set(CM_ERR_INVALID,
                   "revocation reason '%s': removeFromCRL is only used in delta CRLs; "
                   "release a hold with unrevoke",
                   s);
        return -1;
    }
    return code;
}

void db_request_free(struct db_request *r)
{
    if (r == NULL)
        return;
    free(r->requester_name);
    free(r->disposition_message);
    free(r->template_name);
    free(r->request_dn);
    free(r->raw_request);
    free(r->recovered_from);
    free(r);
}

void db_cert_clear(struct db_cert *c)
{
    if (c == NULL)
        return;
    free(c->dn);
    free(c->cn);
    free(c->email);
    free(c->san);
    free(c->hash);
    free(c->ski);
    free(c->template_name);
    free(c->raw);
    free(c->recovered_from);
    memset(c, 0, sizeof(*c));
}

void db_cert_free(struct db_cert *c)
{
    db_cert_clear(c);
    free(c);
}

void db_crl_free(struct db_crl *c)
{
    if (c == NULL)
        return;
    free(c->hash);
    free(c);
}

/* Splits "backend:rest" when the prefix names a compiled-in backend (or
 * looks like a scheme but is unknown: an error, so that "postgres:..." is
 * not taken for a file name). Anything else is a path for the default. */
static cm_err backend_select(const struct db_ops **ops, const char **rest, const char *location)
{
    const char *colon = strchr(location, ':');
    size_t n;

    *ops = backends[0];
    *rest = location;
    if (colon == NULL || colon == location)
        return backend_check(*ops);
    n = (size_t)(colon - location);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)location[i]))
            return backend_check(*ops); /* "./a:b", "/x/y:z": a path */
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strlen(backends[i]->name) == n && strncasecmp(backends[i]->name, location, n) == 0) {
            *ops = backends[i];
            *rest = colon + 1;
            return backend_check(*ops);
        }
    return cm_err_set(CM_ERR_UNSUPPORTED, "database '%s': unknown backend '%.*s'", location, (int)n,
                      location);
}

cm_err db_open(db_t **out, const char *location, int create)
{
    const struct db_ops *ops = NULL;
    const char *rest = NULL;
    cm_err rc;

    assert(out != NULL && location != NULL);
    *out = NULL;
    if ((rc = backend_select(&ops, &rest, location)) != CM_OK)
        return rc;
    if (*rest == '\0')
        return cm_err_set(CM_ERR_INVALID, "database '%s': empty location", location);
    if ((rc = ops->open(out, rest, create)) != CM_OK)
        return rc;
    (*out)->ops = ops;
    (*out)->in_tx = 0;
    return CM_OK;
}

/* The home's database URL: the key db.url of HOME/certmint.conf (`key =
 * value` lines, '#' comments; the last one counts). Read here, not through
 * src/config, because the db layer sits below it (scripts/layers.sh); the
 * value was validated by config's db.url check when it was written. *found
 * = 0 when the file or the key is missing. */
static cm_err home_db_url(char *out, size_t outsz, const char *home, int *found)
{
    char path[PATH_MAX], line[4096];
    FILE *f = NULL;
    int n = snprintf(path, sizeof(path), "%s/certmint.conf", home);

    *found = 0;
    if (n < 0 || (size_t)n >= sizeof(path))
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", home);
    if ((f = fopen(path, "re")) == NULL)
        return errno == ENOENT ? CM_OK : cm_err_set(CM_ERR_IO, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *v, *end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "db.url", 6) != 0)
            continue;
        v = p + 6;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v++ != '=')
            continue;
        while (*v == ' ' || *v == '\t')
            v++;
        /* config's syntax: a trailing '#' comment, or a quoted value (a URL
         * has neither '#' nor '"': the db.url check refuses them). */
        if (*v == '"') {
            v++;
            v[strcspn(v, "\"")] = '\0';
        }
        v[strcspn(v, "#")] = '\0';
        end = v + strlen(v);
        while (end > v && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if ((size_t)(end - v) >= outsz) {
            fclose(f);
            return cm_err_set(CM_ERR_CONFIG, "%s: db.url too long", path);
        }
        snprintf(out, outsz, "%s", v);
        *found = 1;
    }
    fclose(f);
    return CM_OK;
}

cm_err db_home_location(char *out, size_t outsz, const char *home)
{
    cm_err rc = backend_check(backends[0]);
    int found = 0;

    if (rc == CM_OK)
        rc = home_db_url(out, outsz, home, &found);
    if (rc != CM_OK || found)
        return rc;
    return backends[0]->home_location(out, outsz, home);
}

cm_err db_open_home(db_t **out, const char *home, int create)
{
    char loc[PATH_MAX + 16];
    cm_err rc;

    *out = NULL;
    if ((rc = db_home_location(loc, sizeof(loc), home)) != CM_OK)
        return rc;
    return db_open(out, loc, create);
}

cm_err db_clone(db_t **out, db_t *db)
{
    cm_err rc;

    *out = NULL;
    if ((rc = db->ops->clone(out, db)) != CM_OK)
        return rc;
    (*out)->ops = db->ops;
    (*out)->in_tx = 0;
    return CM_OK;
}

cm_err db_remove(const char *location)
{
    const struct db_ops *ops = NULL;
    const char *rest = NULL;
    cm_err rc;

    if ((rc = backend_select(&ops, &rest, location)) != CM_OK)
        return rc;
    if (*rest == '\0')
        return cm_err_set(CM_ERR_INVALID, "database '%s': empty location", location);
    return ops->remove(rest);
}

void db_close(db_t *db)
{
    if (db == NULL)
        return;
    if (db->in_tx)
        db_rollback(db);
    db->ops->close(db);
}

const struct db_ops *db_get_ops(db_t *db)
{
    return db->ops;
}

cm_err db_begin(db_t *db)
{
    cm_err rc;
    assert(!db->in_tx);
    rc = db->ops->begin(db);
    if (rc == CM_OK)
        db->in_tx = 1;
    return rc;
}

cm_err db_commit(db_t *db)
{
    cm_err rc;
    assert(db->in_tx);
    /* On failure the transaction stays open: the caller's db_rollback()
     * ends it (the backend copes with one already rolled back). */
    rc = db->ops->commit(db);
    if (rc == CM_OK)
        db->in_tx = 0;
    return rc;
}

void db_rollback(db_t *db)
{
    if (db == NULL || !db->in_tx)
        return;
    db->ops->rollback(db);
    db->in_tx = 0;
}

/* A write outside a transaction is a programming error: it would commit on
 * its own and break the one-transaction-per-command rule. */
#define WRITE(db) assert((db)->in_tx)

/* The backend's own keys (C7): a caller that could write "counter.crl_number"
 * would bypass the counter contract, one that reads it depends on an
 * encoding. */
static cm_err meta_key_check(const char *key)
{
    if (strcmp(key, "schema_version") == 0 || strncmp(key, "counter.", 8) == 0)
        return cm_err_set(CM_ERR_INVALID, "metadata key '%s' is reserved for the database", key);
    return CM_OK;
}

/* Counter and lock names: short, [a-z0-9_-], so that every backend can use
 * them as a key or a file name as they are. */
static cm_err name_check(const char *what, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return cm_err_set(CM_ERR_INVALID, "%s name '%s': 1 to 64 characters", what, name);
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
              name[i] == '_' || name[i] == '-'))
            return cm_err_set(CM_ERR_INVALID, "%s name '%s': only a-z, 0-9, _ and -", what, name);
    return CM_OK;
}

cm_err db_meta_get(db_t *db, char **out, const char *key)
{
    cm_err rc = meta_key_check(key);
    *out = NULL;
    return rc != CM_OK ? rc : db->ops->meta_get(db, out, key);
}

cm_err db_meta_set(db_t *db, const char *key, const char *value)
{
    cm_err rc = meta_key_check(key);
    WRITE(db);
    return rc != CM_OK ? rc : db->ops->meta_set(db, key, value);
}

cm_err db_counter_next(db_t *db, int64_t *out, const char *key)
{
    cm_err rc = name_check("counter", key);
    WRITE(db);
    if (rc == CM_OK && strcmp(key, DB_COUNTER_EVENT_ID) == 0)
        rc = cm_err_set(CM_ERR_INVALID, "event IDs are assigned by queueing an event");
    return rc != CM_OK ? rc : db->ops->counter_next(db, out, key);
}

cm_err db_counter_raise(db_t *db, const char *key, int64_t at_least)
{
    cm_err rc = name_check("counter", key);
    WRITE(db);
    return rc != CM_OK ? rc : db->ops->counter_raise(db, key, at_least);
}

cm_err db_counter_get(db_t *db, int64_t *out, const char *key)
{
    cm_err rc = name_check("counter", key);
    *out = 0;
    return rc != CM_OK ? rc : db->ops->counter_get(db, out, key);
}

cm_err db_lock(db_t *db, int *held, const char *name, int mode)
{
    cm_err rc = name_check("lock", name);
    *held = 0;
    return rc != CM_OK ? rc : db->ops->lock(db, held, name, mode);
}

cm_err db_wait(db_t *db, int *woken, int timeout_ms)
{
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};

    assert(!db->in_tx);
    *woken = 0;
    if (db->ops->wait != NULL)
        return db->ops->wait(db, woken, timeout_ms);
    /* A signal ends the sleep early (EINTR), as the caller wants. */
    nanosleep(&ts, NULL);
    return CM_OK;
}

void db_unlock(db_t *db, const char *name)
{
    if (db != NULL)
        db->ops->unlock(db, name);
}

cm_err db_request_insert(db_t *db, struct db_request *req)
{
    WRITE(db);
    return db->ops->request_insert(db, req);
}

cm_err db_request_get(db_t *db, struct db_request **out, int64_t id)
{
    return db->ops->request_get(db, out, id);
}

cm_err db_request_resolve(db_t *db, int64_t id, int disposition, const char *message, int64_t when)
{
    WRITE(db);
    return db->ops->request_resolve(db, id, disposition, message, when);
}

cm_err db_request_list(db_t *db, int disposition, db_row_cb cb, void *ctx)
{
    return db->ops->request_list(db, disposition, cb, ctx);
}

cm_err db_cert_insert(db_t *db, const struct db_cert *c)
{
    WRITE(db);
    return db->ops->cert_insert(db, c);
}

cm_err db_cert_get(db_t *db, struct db_cert **out, const char *serial)
{
    return db->ops->cert_get(db, out, serial);
}

cm_err db_cert_get_by_request(db_t *db, struct db_cert **out, int64_t request_id)
{
    return db->ops->cert_get_by_request(db, out, request_id);
}

cm_err db_cert_set_withheld(db_t *db, const char *serial, int withheld)
{
    WRITE(db);
    return db->ops->cert_set_withheld(db, serial, withheld);
}

cm_err db_cert_revoke(db_t *db, const char *serial, int reason, int64_t when, int64_t effective,
                      int64_t invalidity, int64_t seq)
{
    WRITE(db);
    return db->ops->cert_revoke(db, serial, reason, when, effective, invalidity, seq);
}

cm_err db_cert_unrevoke(db_t *db, const char *serial, int64_t when, int64_t seq)
{
    WRITE(db);
    return db->ops->cert_unrevoke(db, serial, when, seq);
}

cm_err db_revoked_iter(db_t *db, int64_t since_seq, db_revoked_cb cb, void *ctx)
{
    return db->ops->revoked_iter(db, since_seq, cb, ctx);
}

cm_err db_crl_insert(db_t *db, const struct db_crl *crl)
{
    WRITE(db);
    return db->ops->crl_insert(db, crl);
}

cm_err db_crl_last(db_t *db, struct db_crl **out, int is_delta)
{
    return db->ops->crl_last(db, out, is_delta);
}

cm_err db_audit_append(db_t *db, const struct db_audit *a)
{
    WRITE(db);
    return db->ops->audit_append(db, a);
}

cm_err db_audit_iter(db_t *db, int64_t since, db_audit_cb cb, void *ctx)
{
    return db->ops->audit_iter(db, since, cb, ctx);
}

cm_err db_view(db_t *db, const struct db_restrict *r, size_t nr, db_row_cb cb, void *ctx)
{
    return db->ops->view(db, r, nr, cb, ctx);
}

cm_err db_event_enqueue(db_t *db, struct db_event *ev)
{
    WRITE(db);
    return db->ops->event_enqueue(db, ev);
}

cm_err db_event_iter(db_t *db, int64_t after_id, int type_mask, size_t limit, db_event_cb cb,
                     void *ctx)
{
    return db->ops->event_iter(db, after_id, type_mask, limit, cb, ctx);
}

cm_err db_poison_add(db_t *db, const char *module, int64_t event_id, const char *reason,
                     int64_t when)
{
    assert(db->in_tx);
    return db->ops->poison_add(db, module, event_id, reason, when);
}

cm_err db_poison_del(db_t *db, const char *module, int64_t event_id)
{
    assert(db->in_tx);
    return db->ops->poison_del(db, module, event_id);
}

cm_err db_poison_iter(db_t *db, const char *module, db_poison_cb cb, void *ctx)
{
    return db->ops->poison_iter(db, module, cb, ctx);
}

cm_err db_vault_insert(db_t *db, const struct db_vault *v)
{
    assert(db->in_tx);
    return db->ops->vault_insert(db, v);
}

cm_err db_vault_update(db_t *db, const char *kind, const char *name, int expect_state,
                       int new_state, const unsigned char *body, size_t body_len)
{
    assert(db->in_tx);
    return db->ops->vault_update(db, kind, name, expect_state, new_state, body, body_len);
}

cm_err db_vault_iter(db_t *db, const char *kind, const char *name, db_vault_cb cb, void *ctx)
{
    return db->ops->vault_iter(db, kind, name, cb, ctx);
}

cm_err db_cert_fill_placeholder(db_t *db, const struct db_cert *c)
{
    assert(db->in_tx);
    return db->ops->cert_fill_placeholder(db, c);
}

cm_err db_event_raise_id(db_t *db, int64_t at_least)
{
    return db_counter_raise(db, DB_COUNTER_EVENT_ID, at_least);
}

cm_err db_marks(db_t *db, struct db_marks *out)
{
    memset(out, 0, sizeof(*out));
    return db->ops->marks(db, out);
}

cm_err db_snapshot(db_t *db, struct db_marks *marks, const char *dir, db_file_cb cb, void *ctx)
{
    memset(marks, 0, sizeof(*marks));
    if (db->in_tx)
        return cm_err_set(CM_ERR_STATE, "a snapshot inside a transaction would copy uncommitted "
                                        "data");
    return db->ops->snapshot(db, marks, dir, cb, ctx);
}

/* A snapshot directory says nothing about its backend: the first backend
 * that finds its snapshot there opens it. */
cm_err db_snapshot_open(db_t **out, const char *dir, db_file_cb cb, void *ctx)
{
    cm_err rc = CM_ERR_NOTFOUND;

    *out = NULL;
    for (size_t i = 0; i < NBACKENDS; i++) {
        if ((rc = backend_check(backends[i])) != CM_OK)
            return rc;
        rc = backends[i]->snapshot_open(out, dir, cb, ctx);
        if (rc == CM_OK) {
            (*out)->ops = backends[i];
            (*out)->in_tx = 0;
            return CM_OK;
        }
        if (rc != CM_ERR_NOTFOUND)
            return rc;
    }
    return rc;
}

cm_err db_restore(const char *location, const char *dir)
{
    const struct db_ops *ops = NULL;
    const char *rest = NULL;
    cm_err rc;

    if ((rc = backend_select(&ops, &rest, location)) != CM_OK)
        return rc;
    if (*rest == '\0')
        return cm_err_set(CM_ERR_INVALID, "database '%s': empty location", location);
    return ops->restore(rest, dir);
}

cm_err db_check(db_t *db)
{
    assert(!db->in_tx);
    return db->ops->check(db);
}
