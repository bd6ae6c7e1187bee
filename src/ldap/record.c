/* The database record of what certmint published in the directory (see
 * record.h), and the publish/unpublish steps that keep it. */
#include "ldap/record.h"

#include "util/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    enum dir_record_state st;
    const char *prefix; /* in the stored value */
    const char *name;
} states[] = {
    {DIR_REC_PENDING, "pending:", "pending"},
    {DIR_REC_REMOVED, "removed:", "removed"},
    {DIR_REC_FOREIGN, "foreign:", "foreign"},
    {DIR_REC_PUBLISHED, "", "published"},
};

const char *dir_record_state_name(enum dir_record_state st)
{
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (states[i].st == st)
            return states[i].name;
    return "none";
}

static void record_key(char *out, size_t outsz, const char *serial)
{
    snprintf(out, outsz, "%s%s", DIR_RECORD_KEY_PREFIX, serial);
}

cm_err dir_record_get(enum dir_record_state *st, char **dn, db_t *db, const char *serial)
{
    cm_err rc = CM_OK;
    char key[CM_SERIAL_BUF + sizeof(DIR_RECORD_KEY_PREFIX)];
    char *v = NULL;
    const char *rest = NULL;

    *st = DIR_REC_NONE;
    *dn = NULL;
    record_key(key, sizeof(key), serial);
    CM_TRY(db_meta_get(db, &v, key));
    if (v == NULL)
        goto out;
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        size_t n = strlen(states[i].prefix);
        if (strncmp(v, states[i].prefix, n) == 0) {
            *st = states[i].st;
            rest = v + n;
            break;
        }
    }
    /* The last row's prefix is "": rest is always set. */
    *dn = text_dup(rest);
    CM_NOMEM_IF(*dn == NULL);
    if (*st == DIR_REC_PUBLISHED && **dn == '\0')
        *st = DIR_REC_NONE; /* an empty value records nothing */
out:
    free(v);
    if (rc != CM_OK) {
        *st = DIR_REC_NONE;
        free(*dn);
        *dn = NULL;
    }
    return rc;
}

cm_err dir_record_set(db_t *db, const char *serial, enum dir_record_state st, const char *dn)
{
    cm_err rc = CM_OK;
    char key[CM_SERIAL_BUF + sizeof(DIR_RECORD_KEY_PREFIX)];
    const char *prefix = NULL;
    char *v = NULL;

    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (states[i].st == st)
            prefix = states[i].prefix;
    if (prefix == NULL || dn == NULL || (st == DIR_REC_PUBLISHED && *dn == '\0'))
        return cm_err_set(CM_ERR_INVALID, "serial %s: cannot record state %d for DN '%s'", serial,
                          (int)st, dn ? dn : "(null)");
    record_key(key, sizeof(key), serial);
    size_t n = strlen(prefix) + strlen(dn) + 1;
    v = malloc(n);
    CM_NOMEM_IF(v == NULL);
    snprintf(v, n, "%s%s", prefix, dn);
    CM_TRY(db_begin(db));
    CM_TRY(db_meta_set(db, key, v));
    CM_TRY(db_commit(db));
out:
    if (rc != CM_OK)
        db_rollback(db);
    free(v);
    return rc;
}

int dir_profile_listed(const cm_config *cfg, const char *profile)
{
    char **items = NULL;
    size_t n = 0;
    int found = 0;
    const char *v = config_get(cfg, "exit.ldap.profiles");

    if (profile == NULL || v == NULL || config_parse_list(&items, &n, v) != CM_OK)
        return 0;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(items[i], profile) == 0;
    config_list_free(items, n);
    return found;
}

/* Same DN for the record: compared by the DN rules, falling back to the
 * exact string for one that does not parse. */
static int same_dn(const char *a, const char *b)
{
    int eq = 0;
    if (a == NULL || b == NULL)
        return 0;
    if (dir_dn_equal(&eq, a, b) != CM_OK)
        return strcmp(a, b) == 0;
    return eq;
}

cm_err dir_record_publish(char **dn_out, enum dir_change *what, struct dir *d, db_t *db,
                          const char *serial, X509 *x, const unsigned char *der, size_t len)
{
    cm_err rc = CM_OK;
    char *dn = NULL, *old_dn = NULL;
    enum dir_record_state old = DIR_REC_NONE;
    int ours;

    *what = DIR_UNCHANGED;
    if (dn_out != NULL)
        *dn_out = NULL;
    CM_TRY(dir_record_get(&old, &old_dn, db, serial));
    CM_TRY(dir_find_for_cert(&dn, NULL, d, x));
    ours = (old == DIR_REC_PENDING || old == DIR_REC_PUBLISHED) && same_dn(old_dn, dn);
    /* Recorded before the write: if we die between the directory write
     * and the next commit, the value found on redelivery is ours. */
    if (!ours)
        CM_TRY(dir_record_set(db, serial, DIR_REC_PENDING, dn));
    CM_TRY(dir_publish_cert(d, dn, der, len, DIR_ADD, 0, what));
    if (*what == DIR_UNCHANGED && !ours)
        CM_TRY(dir_record_set(db, serial, DIR_REC_FOREIGN, dn));
    else if (old != DIR_REC_PUBLISHED || !ours)
        CM_TRY(dir_record_set(db, serial, DIR_REC_PUBLISHED, dn));
    if (dn_out != NULL) {
        *dn_out = dn;
        dn = NULL;
    }
out:
    free(dn);
    free(old_dn);
    return rc;
}

cm_err dir_record_unpublish(char **dn_out, enum dir_change *what, struct dir *d, db_t *db,
                            const char *serial, const unsigned char *der, size_t len)
{
    cm_err rc = CM_OK;
    char *dn = NULL;
    enum dir_record_state st = DIR_REC_NONE;

    *what = DIR_UNCHANGED;
    if (dn_out != NULL)
        *dn_out = NULL;
    CM_TRY(dir_record_get(&st, &dn, db, serial));
    if (st != DIR_REC_PUBLISHED && st != DIR_REC_PENDING)
        goto out;
    rc = dir_unpublish_cert(d, dn, der, len, 0, what);
    if (rc == CM_ERR_NOTFOUND) {
        /* The value (or the whole entry) is gone already: done. */
        cm_err_clear();
        rc = CM_OK;
        *what = DIR_UNCHANGED;
    }
    CM_TRY(rc);
    CM_TRY(dir_record_set(db, serial, DIR_REC_REMOVED, dn));
    if (dn_out != NULL) {
        *dn_out = dn;
        dn = NULL;
    }
out:
    free(dn);
    return rc;
}
