/* The change hook of `config set` (config.h): checks that need a layer
 * above config (the exit modules'), registered at start by that layer. */
#include "config/config.h"

#include <stdatomic.h>
#include <stddef.h>

static _Atomic(const struct config_change_hook *) change_hook;

void config_change_hook_set(const struct config_change_hook *h)
{
    atomic_store(&change_hook, h);
}

cm_err config_change_check(const cm_config *cfg, const char *key)
{
    const struct config_change_hook *h = atomic_load(&change_hook);
    if (h == NULL || h->check == NULL)
        return CM_OK;
    return h->check(cfg, key);
}

const char *config_change_warning(char *buf, size_t bufsz, const cm_config *cfg, const char *key)
{
    const struct config_change_hook *h = atomic_load(&change_hook);
    if (h == NULL || h->warning == NULL)
        return NULL;
    return h->warning(buf, bufsz, cfg, key);
}
