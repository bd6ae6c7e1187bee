/* The public URLs of a CA (AIA, OCSP, CDP), explicit or made from
 * http.base_url, where certmint serve publishes them (docs/http.md). */
#include "config/config.h"

#include <stdio.h>
#include <string.h>

cm_err config_public_url(char *out, size_t outsz, const cm_config *c, const char *key)
{
    const char *v = config_get(c, key), *base = config_get(c, "http.base_url");
    const char *name = config_get(c, "http.ca_name");
    int64_t delta = 0;
    size_t bl;
    int n = 0;

    out[0] = '\0';
    if (v != NULL && v[0] != '\0') {
        n = snprintf(out, outsz, "%s", v);
    } else if (base != NULL && base[0] != '\0') {
        if (name == NULL || name[0] == '\0')
            name = "ca";
        bl = strlen(base);
        while (bl > 0 && base[bl - 1] == '/')
            bl--;
        if (strcmp(key, "ca.aia_url") == 0)
            n = snprintf(out, outsz, "%.*s/ca/%s.crt", (int)bl, base, name);
        else if (strcmp(key, "ca.ocsp_url") == 0)
            n = snprintf(out, outsz, "%.*s/ocsp", (int)bl, base);
        else if (strcmp(key, "crl.cdp_url") == 0)
            n = snprintf(out, outsz, "%.*s/crl/%s.crl", (int)bl, base, name);
        else if (strcmp(key, "crl.delta_cdp_url") == 0 &&
                 config_get_seconds(c, "crl.delta_period", &delta) == CM_OK && delta > 0)
            n = snprintf(out, outsz, "%.*s/crl/%s-delta.crl", (int)bl, base, name);
    }
    if (n < 0 || (size_t)n >= outsz) {
        out[0] = '\0';
        return cm_err_set(CM_ERR_CONFIG, "%s: URL too long", key);
    }
    if (out[0] != '\0' && config_check_url(out) != CM_OK) {
        out[0] = '\0';
        return cm_err_prefix(CM_ERR_CONFIG, "%s", key);
    }
    return CM_OK;
}
