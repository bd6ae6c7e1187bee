/* Configuration keys of the exit-module framework, the file module and
 * strict audit mode. */
#include "config/config.h"
#include "exit/exit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exit.MODULE.eventfilter: AD CS's EventFilter as a number or event names,
 * edited with +NAME / -NAME (the `certutil -setreg` of certmint). Stored as
 * names so the file reads well. */
cm_err exit_check_eventfilter(char **out, const struct config_key *k, const char *old,
                              const char *in)
{
    char names[512];
    int mask = 0;
    cm_err rc = exit_filter_parse(&mask, old ? old : k->def, in);
    if (rc != CM_OK)
        return rc;
    exit_filter_names(names, sizeof(names), mask);
    *out = strdup(names);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

static cm_err check_modules(char **out, const struct config_key *k, const char *old, const char *in)
{
    char buf[512], norm[512] = "", *save = NULL, *tok;
    (void)k;
    (void)old;
    if (strlen(in) >= sizeof(buf))
        return cm_err_set(CM_ERR_CONFIG, "exit.modules: too long");
    memcpy(buf, in, strlen(in) + 1);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        size_t n = strlen(norm);
        if (exit_module_find(tok) == NULL)
            return cm_err_set(CM_ERR_CONFIG, "exit.modules: no exit module '%s' in this build",
                              tok);
        snprintf(norm + n, sizeof(norm) - n, "%s%s", n ? "," : "", tok);
    }
    *out = strdup(norm);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

cm_err exit_config_check(const cm_config *cfg, const char *key)
{
    /* A format and its argument list are set one key at a time: the pair
     * as it would be saved must compile, or the module would fall back to
     * the built-in template at every mail. */
    if (strncmp(key, "exit.smtp.", 10) == 0)
        return exit_smtp_check_templates(cfg);
    return CM_OK;
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
    const char *name = NULL;
    if (strncmp(key, "exit.smtp.", 10) == 0)
        name = "smtp";
    else if (strncmp(key, "exit.file.", 10) == 0)
        name = "file";
    else if (strncmp(key, "exit.ldap.", 10) == 0 || strncmp(key, "ldap.", 5) == 0)
        name = "ldap";
    if (name == NULL || exit_module_find(name) == NULL || listed(cfg, name))
        return NULL;
    /* ldap.* also serves dspublish/dsverify: the warning says what is off. */
    snprintf(buf, bufsz,
             "exit module %s is not enabled: exit.modules does not list it, so no event is "
             "delivered through it (enable it with 'certmint config set exit.modules %s%s%s')",
             name,
             config_get(cfg, "exit.modules") && *config_get(cfg, "exit.modules")
                 ? config_get(cfg, "exit.modules")
                 : "",
             config_get(cfg, "exit.modules") && *config_get(cfg, "exit.modules") ? "," : "", name);
    return buf;
}

/* EXIT_EV_ALL as stored (names, in bit order). */
#define EXIT_FILTER_ALL_NAMES                                                                      \
    "CERTISSUED,CERTPENDING,CERTDENIED,CERTREVOKED,CERTRETRIEVEPENDING,CRLISSUED,SHUTDOWN,"        \
    "STARTUP,CERTUNREVOKED,CERTIMPORTED,CERTEXPIRING,EXITPOISONED"

const struct config_key config_keys_exit[] = {
    {"exit.modules", CFG_CUSTOM, "", 0, 0, NULL, check_modules,
     "exit modules told of every CA event, comma separated (smtp, file, ldap)"},
    {"exit.expiring_days", CFG_INT, "30", 0, 3650, NULL, NULL,
     "raise CERTEXPIRING once per certificate this many days before it expires (0 = never)"},
    {"exit.file.dir", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "directory the file module writes one JSON record per event into"},
    {"exit.file.eventfilter", CFG_CUSTOM, EXIT_FILTER_ALL_NAMES, 0, 0, NULL, exit_check_eventfilter,
     "events the file module records (names, +NAME/-NAME edits, or a number)"},
    {"exit.file.offbox", CFG_BOOL, "no", 0, 0, NULL, NULL,
     "the file module's directory is off this machine (a mounted remote share)"},
    {"audit.require_offbox", CFG_BOOL, "no", 0, 0, NULL, NULL,
     "strict audit mode: hand out a certificate only after an off-box exit module acknowledged "
     "its CERTISSUED event"},
    {"serve.poll_interval", CFG_DURATION, "2s", 0, 0, NULL, NULL,
     "how often certmint serve looks for queued events and due CRLs"},
    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};
