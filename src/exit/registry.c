/* The exit-module registry: the one static table of modules, the start-up
 * check of each module's ops table, and the configuration keys the exit
 * layer contributes to the schema.
 *
 * Adding a module is one new file that defines its struct exit_module_ops
 * (functions, keys, docs) and one row in `exit_modules` below; see
 * docs/exit-modules.md. */
#include "exit/exit.h"
#include "exit/exit_int.h"

#include "ldap/ldap_keys.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern const struct exit_module_ops exit_file_ops;
extern const struct exit_module_ops exit_smtp_ops;
#ifdef CM_HAVE_LDAP
extern const struct exit_module_ops exit_ldap_ops;
#endif

/* The one static table of exit modules, in delivery order. */
const struct exit_module_ops *const exit_modules[] = {
    &exit_smtp_ops,
    &exit_file_ops,
#ifdef CM_HAVE_LDAP
    &exit_ldap_ops,
#endif
    NULL,
};

const struct exit_module_ops *exit_module_find(const char *name)
{
    for (size_t i = 0; exit_modules[i]; i++)
        if (strcmp(exit_modules[i]->name, name) == 0)
            return exit_modules[i];
    return NULL;
}

static int name_ok(const char *name)
{
    if (name == NULL || *name == '\0' || strlen(name) > 32)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

/* One module: what the dispatcher and the schema rely on. */
static cm_err module_check(const struct exit_module_ops *m, size_t index)
{
    char prefix[64];

    /* version and name are the first two fields in every layout (exit.h),
     * so a module of another layout can still be named. */
    if (m->version != EXIT_MODULE_VERSION)
        return cm_err_set(CM_ERR_CONFIG,
                          "exit module '%s': ops version %d, this build expects %d (rebuild the "
                          "module against this exit/exit.h)",
                          m->name ? m->name : "(unnamed)", m->version, EXIT_MODULE_VERSION);
    if (!name_ok(m->name))
        return cm_err_set(CM_ERR_CONFIG, "exit module #%zu: name '%s' is not 1-32 of [a-z0-9]",
                          index + 1, m->name ? m->name : "(null)");
    if (m->offbox == NULL || m->init == NULL || m->deliver == NULL || m->shutdown == NULL)
        return cm_err_set(CM_ERR_CONFIG,
                          "exit module '%s': offbox, init, deliver and shutdown are required",
                          m->name);
    if (m->description == NULL || *m->description == '\0')
        return cm_err_set(CM_ERR_CONFIG, "exit module '%s': no description", m->name);
    snprintf(prefix, sizeof(prefix), "exit.%s.", m->name);
    for (const struct config_key *k = m->keys; k != NULL && k->pattern != NULL; k++) {
        if (strncmp(k->pattern, prefix, strlen(prefix)) != 0)
            return cm_err_set(CM_ERR_CONFIG,
                              "exit module '%s': key '%s' is not under %s (a module owns only "
                              "its own keys)",
                              m->name, k->pattern, prefix);
        if (k->help == NULL || *k->help == '\0')
            return cm_err_set(CM_ERR_CONFIG, "exit module '%s': key '%s' has no help text", m->name,
                              k->pattern);
    }
    return CM_OK;
}

cm_err exit_registry_check(const struct exit_module_ops *const *mods)
{
    for (size_t i = 0; mods[i] != NULL; i++) {
        cm_err rc = module_check(mods[i], i);
        if (rc != CM_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(mods[j]->name, mods[i]->name) == 0)
                return cm_err_set(CM_ERR_CONFIG, "exit module '%s' is registered twice",
                                  mods[i]->name);
    }
    return CM_OK;
}

static const struct config_change_hook change_hook = {exit_config_check, exit_config_warning};

static cm_err init_rc = CM_OK;
static char init_msg[512];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void registry_init_once(void)
{
    cm_err rc = exit_registry_check(exit_modules);

    if (rc == CM_OK)
        rc = config_schema_register(exit_framework_keys);
    if (rc == CM_OK)
        rc = config_schema_register(config_keys_ldap);
    for (size_t i = 0; rc == CM_OK && exit_modules[i] != NULL; i++)
        if (exit_modules[i]->keys != NULL)
            rc = config_schema_register(exit_modules[i]->keys);
    /* `config set` (src/ca) reaches the modules' checks through config. */
    if (rc == CM_OK)
        config_change_hook_set(&change_hook);
    init_rc = rc;
    if (rc != CM_OK)
        snprintf(init_msg, sizeof(init_msg), "%s", cm_err_msg());
}

cm_err exit_registry_init(void)
{
    pthread_once(&init_once, registry_init_once);
    if (init_rc != CM_OK)
        return cm_err_set(init_rc, "%s", init_msg);
    return CM_OK;
}

/* ---- `config set` hooks ---- */

/* The module whose exit.NAME. prefix key has, or NULL. */
static const struct exit_module_ops *module_of_key(const char *key)
{
    if (strncmp(key, "exit.", 5) != 0)
        return NULL;
    for (size_t i = 0; exit_modules[i]; i++) {
        size_t n = strlen(exit_modules[i]->name);
        if (strncmp(key + 5, exit_modules[i]->name, n) == 0 && key[5 + n] == '.')
            return exit_modules[i];
    }
    return NULL;
}

cm_err exit_config_check(const cm_config *cfg, const char *key)
{
    const struct exit_module_ops *m = module_of_key(key);
    if (m == NULL || m->check_config == NULL)
        return CM_OK;
    return m->check_config(cfg);
}

static int listed(const cm_config *cfg, const char *name)
{
    char buf[512], *save = NULL, *tok;
    const char *v = config_get(cfg, "exit.modules");
    if (v == NULL || strlen(v) >= sizeof(buf))
        return 0;
    memcpy(buf, v, strlen(v) + 1);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (strcmp(tok, name) == 0)
            return 1;
    return 0;
}

const char *exit_config_warning(char *buf, size_t bufsz, const cm_config *cfg, const char *key)
{
    const struct exit_module_ops *m = module_of_key(key);
    const char *mods = config_get(cfg, "exit.modules");

    for (size_t i = 0; m == NULL && exit_modules[i]; i++) {
        const char *p = exit_modules[i]->reads_prefix;
        if (p != NULL && strncmp(key, p, strlen(p)) == 0)
            m = exit_modules[i];
    }
    if (m == NULL || listed(cfg, m->name))
        return NULL;
    /* ldap.* also serves dspublish/dsverify: the warning says what is off. */
    snprintf(buf, bufsz,
             "exit module %s is not enabled: exit.modules does not list it, so no event is "
             "delivered through it (enable it with 'certmint config set exit.modules %s%s%s')",
             m->name, mods && *mods ? mods : "", mods && *mods ? "," : "", m->name);
    return buf;
}
