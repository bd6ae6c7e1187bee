/* The CA home's configuration as core calls (ca/settings.h). */
#include "ca/ca_int.h"
#include "ca/settings.h"
#include "ca/profile.h"

#include "util/buf.h"
#include "util/fsutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALUE_MAX 4096 /* one configuration line */
#define CONF_MAX_BYTES (1024 * 1024)

/* A change to profile.NAME.KEY must leave profile NAME loadable (e.g.
 * archive_key on a signing profile is refused, issue 12). */
static cm_err profile_change_check(const cm_config *cfg, const char *key)
{
    char name[64];
    const char *dot;
    struct profile *p = NULL;
    cm_err rc;

    if (strncmp(key, "profile.", 8) != 0 || (dot = strchr(key + 8, '.')) == NULL ||
        (size_t)(dot - key - 8) >= sizeof(name))
        return CM_OK;
    snprintf(name, sizeof(name), "%.*s", (int)(dot - key - 8), key + 8);
    rc = profile_load(&p, cfg, name);
    profile_free(p);
    /* A profile still being defined (no base yet) is not an error here. */
    if (rc == CM_ERR_CONFIG && strstr(cm_err_msg(), "archive_key") == NULL)
        return CM_OK;
    return rc;
}

static cm_err known_key(const char *key)
{
    if (config_schema_find(key) == NULL)
        return cm_err_set(CM_ERR_CONFIG, "unknown key '%s' (see 'certmint config keys')", key);
    return CM_OK;
}

cm_err ca_config_get(const char **value, int *is_set, ca_ctx *ca,
                     const char *key)
{
    cm_err rc = known_key(key);

    *value = NULL;
    *is_set = 0;
    if (rc != CM_OK)
        return rc;
    *value = config_get(ca->cfg, key);
    *is_set = config_is_set(ca->cfg, key);
    return CM_OK;
}

struct list_ctx {
    ca_config_setting_cb cb;
    void *ctx;
};

static void list_one(void *ctx, const char *key, const char *value)
{
    struct list_ctx *l = ctx;
    int secret = config_key_is_secret(key);
    l->cb(l->ctx, key, secret ? NULL : value, secret);
}

cm_err ca_config_list(ca_ctx *ca, ca_config_setting_cb cb, void *ctx)
{
    struct list_ctx l = {cb, ctx};

    config_foreach(ca->cfg, list_one, &l);
    return CM_OK;
}

/* After a failed commit the previous file is put back, so that the log and
 * the file agree; rc's message says which happened. */
static cm_err undo_file(cm_err rc, const char *path, const unsigned char *orig, size_t origlen)
{
    char errmsg[1024];

    snprintf(errmsg, sizeof(errmsg), "%s", cm_err_msg());
    if (fs_write_atomic(path, orig, origlen, 0600) == CM_OK)
        return cm_err_set(rc, "%s (the configuration change was undone)", errmsg);
    return cm_err_set(rc,
                      "%s; restoring %s also failed: %s (the change is in the file but not in "
                      "the audit log)",
                      errmsg, path, cm_err_msg());
}

/* Applies a set (value != NULL) or an unset and records it in the audit log.
 *
 * Order matters: the transaction is opened first (SQLite takes its write
 * lock there, which also serializes concurrent changes), the file is read
 * inside it, the audit record is written, then the file is replaced, then
 * the transaction commits. If the file cannot be written nothing is
 * recorded; if the commit fails the previous file is put back. */
static cm_err config_change(char *warning, size_t warningsz, ca_ctx *ca,
                            const char *key, const char *value)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    cm_config *cfg = NULL;
    unsigned char *orig = NULL;
    size_t origlen = 0;
    int in_tx = 0;
    cm_buf details = CM_BUF_INIT(2 * VALUE_MAX);
    struct db_audit a = {0, ca_session_who(ca), "config", 0, NULL, NULL};

    if (warning != NULL && warningsz > 0)
        warning[0] = '\0';
    /* An unknown key is refused before anything is locked. */
    CM_TRY(known_key(key));
    CM_TRY(fs_join(path, sizeof(path), ca->home, CA_CONF_FILE));
    CM_TRY(db_begin(ca->db));
    in_tx = 1;
    CM_TRY(fs_read_file(&orig, &origlen, path, CONF_MAX_BYTES));
    CM_TRY(config_load(&cfg, path, 0));
    if (value != NULL) {
        CM_TRY(config_set(cfg, key, value));
        CM_TRY(config_change_check(cfg, key));
        CM_TRY(profile_change_check(cfg, key));
        if (config_key_is_secret(key))
            CM_TRY(buf_printf(&details, "set %s", key));
        else
            CM_TRY(buf_printf(&details, "set %s = %s", key, config_get(cfg, key)));
    } else {
        if (!config_is_set(cfg, key))
            goto out; /* nothing to remove: no write, no audit record */
        CM_TRY(config_unset(cfg, key));
        CM_TRY(buf_printf(&details, "unset %s", key));
    }
    a.when = (int64_t)time(NULL);
    a.details = buf_str(&details);
    CM_TRY(db_audit_append(ca->db, &a));
    CM_TRY(config_save(cfg, path));
    in_tx = 0;
    rc = db_commit(ca->db);
    if (rc != CM_OK) {
        db_rollback(ca->db);
        rc = undo_file(rc, path, orig, origlen);
        goto out;
    }
    if (value != NULL && warning != NULL)
        (void)config_change_warning(warning, warningsz, cfg, key);
    /* The handle goes on with the configuration as saved (every session:
     * ca_adopt_config takes it over, the old one lives until ca_close). */
    rc = ca_adopt_config(ca, cfg);
    cfg = NULL;
out:
    if (in_tx)
        db_rollback(ca->db);
    buf_free(&details);
    free(orig);
    config_free(cfg);
    return rc;
}

cm_err ca_config_set(char *warning, size_t warningsz, ca_ctx *ca,
                     const char *key, const char *value)
{
    return config_change(warning, warningsz, ca, key, value);
}

cm_err ca_config_unset(ca_ctx *ca, const char *key)
{
    return config_change(NULL, 0, ca, key, NULL);
}
