/* Libraries loaded on first use: the shared dlopen/dlsym step (dynlib.h). */
#include "util/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void dynlib_open(struct dynlib *d)
{
    void *h = dlopen(d->soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        snprintf(d->why, sizeof d->why, "%s", e != NULL ? e : "dlopen failed");
        return;
    }
    for (size_t i = 0; i < d->count; i++) {
        /* dlsym on the handle also searches the library's own
         * dependencies (GLib under GMime, liblber under libldap). */
        d->syms[i] = dlsym(h, d->names[i]);
        if (d->syms[i] == NULL) {
            snprintf(d->why, sizeof d->why, "no symbol %s", d->names[i]);
            /* Never unloaded: a failed library stays mapped but unused,
             * since dlclose of GLib-based libraries is unsafe. */
            return;
        }
    }
    d->loaded = 1;
}

cm_err dynlib_status(const struct dynlib *d, const char *user)
{
    if (d->loaded)
        return CM_OK;
    return cm_err_set(CM_ERR_UNSUPPORTED, "%s: cannot load %s: %s", user, d->soname, d->why);
}

void dynlib_unloaded(const struct dynlib *d)
{
    fprintf(stderr, "certmint: internal error: %s used before it was loaded (%s)\n", d->soname,
            d->loaded ? "loaded" : d->why);
    abort();
}
