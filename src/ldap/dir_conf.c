/* Connection options from the CA home's configuration (ldap.* keys). */
#include "ldap/ldap_keys.h"

#include "util/fsutil.h"

#include <string.h>

/* A file setting: absolute, or relative to the CA home. */
static cm_err path_setting(char *out, size_t outsz, const char **dst, const cm_config *cfg,
                           const char *key, const char *home)
{
    const char *v = config_get(cfg, key);

    *dst = NULL;
    out[0] = '\0';
    if (v == NULL || *v == '\0')
        return CM_OK;
    if (v[0] == '/' || home == NULL) {
        if (strlen(v) >= outsz)
            return cm_err_set(CM_ERR_CONFIG, "%s: path too long", key);
        memcpy(out, v, strlen(v) + 1);
    } else if (fs_join(out, outsz, home, v) != CM_OK) {
        return cm_err_set(CM_ERR_CONFIG, "%s: path too long", key);
    }
    *dst = out;
    return CM_OK;
}

static cm_err ms_setting(int *out, const cm_config *cfg, const char *key, int64_t max_s)
{
    int64_t s = 0;
    cm_err rc = config_get_seconds(cfg, key, &s);
    if (rc != CM_OK)
        return cm_err_prefix(CM_ERR_CONFIG, "%s", key);
    if (s < 1 || s > max_s)
        return cm_err_set(CM_ERR_CONFIG, "%s: %lld s is outside 1 to %lld s", key, (long long)s,
                          (long long)max_s);
    *out = (int)(s * 1000);
    return CM_OK;
}

cm_err dir_settings_load(struct dir_settings *s, const cm_config *cfg, const char *home)
{
    cm_err rc = CM_OK;
    struct dir_opts *o = &s->opts;

    memset(s, 0, sizeof(*s));
    o->uri = config_get(cfg, "ldap.uri");
    if (o->uri == NULL || *o->uri == '\0')
        CM_FAIL(CM_ERR_CONFIG, "no directory configured: set ldap.uri (certmint config set "
                               "ldap.uri ldaps://HOST)");
    o->starttls = config_get_bool(cfg, "ldap.starttls");
    o->sasl_external = config_get_bool(cfg, "ldap.sasl_external");
    o->binddn = config_get(cfg, "ldap.binddn");
    o->base = config_get(cfg, "ldap.base");
    o->ca_entry = config_get(cfg, "ldap.ca_entry");
    CM_TRY(path_setting(s->cafile, sizeof(s->cafile), &o->cafile, cfg, "ldap.cafile", home));
    CM_TRY(
        path_setting(s->certfile, sizeof(s->certfile), &o->certfile, cfg, "ldap.certfile", home));
    CM_TRY(path_setting(s->keyfile, sizeof(s->keyfile), &o->keyfile, cfg, "ldap.keyfile", home));
    CM_TRY(path_setting(s->password_file, sizeof(s->password_file), &o->password_file, cfg,
                        "ldap.password_file", home));
    CM_TRY(ms_setting(&o->connect_timeout_ms, cfg, "ldap.connect_timeout", 300));
    CM_TRY(ms_setting(&o->timeout_ms, cfg, "ldap.timeout", 600));
    if (o->binddn != NULL && o->password_file == NULL && !o->sasl_external)
        CM_FAIL(CM_ERR_CONFIG, "ldap.binddn is set but ldap.password_file is not");
    if ((o->certfile == NULL) != (o->keyfile == NULL))
        CM_FAIL(CM_ERR_CONFIG, "ldap.certfile and ldap.keyfile go together");
out:
    return rc;
}
