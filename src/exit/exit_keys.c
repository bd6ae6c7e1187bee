/* Configuration keys of the exit-module framework itself (which modules are
 * enabled, CERTEXPIRING, strict audit mode, serve's polling). Each module's
 * own keys live in the module's file (ops.keys); registry.c adds both to the
 * configuration schema. */
#include "exit/exit.h"
#include "exit/exit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const struct config_key exit_framework_keys[] = {
    {"exit.modules", CFG_CUSTOM, "", 0, 0, NULL, check_modules,
     "exit modules told of every CA event, comma separated (smtp, file, ldap)"},
    {"exit.expiring_days", CFG_INT, "30", 0, 3650, NULL, NULL,
     "raise CERTEXPIRING once per certificate this many days before it expires (0 = never)"},
    {"audit.require_offbox", CFG_BOOL, "no", 0, 0, NULL, NULL,
     "strict audit mode: hand out a certificate only after an off-box exit module acknowledged "
     "its CERTISSUED event"},
    {"serve.poll_interval", CFG_DURATION, "2s", 0, 0, NULL, NULL,
     "how often certmint serve looks for queued events and due CRLs"},
    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};
