/* libgmime-3.0.so.0 loaded on first use: its table (util/dl_gmime.h). */
#ifdef CM_HAVE_GMIME
#define DL_NO_CALL_NAMES
#include "util/dl_gmime.h"

#include "util/dynlib.h"

#include <pthread.h>

static const char *const names[] = {DL_GMIME_FUNCS(DL_NAME_STR)};
static void *syms[sizeof names / sizeof names[0]];
static struct dynlib lib = {.soname = "libgmime-3.0.so.0",
                            .names = names,
                            .syms = syms,
                            .count = sizeof names / sizeof names[0]};
static struct dl_gmime_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    dynlib_open(&lib);
    if (!lib.loaded)
        return;
    size_t i = 0;
#define SET(f) api.f = (__typeof__(api.f))syms[i++];
    DL_GMIME_FUNCS(SET)
#undef SET
}

cm_err dl_gmime_load(const char *user)
{
    pthread_once(&once, load);
    return dynlib_status(&lib, user);
}

const struct dl_gmime_api *dl_gmime(void)
{
    pthread_once(&once, load);
    if (!lib.loaded)
        dynlib_unloaded(&lib);
    return &api;
}

#endif
