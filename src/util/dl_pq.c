/* libpq.so.5 loaded on first use: its table (util/dl_pq.h). */
#ifdef CM_HAVE_PQ
#define DL_NO_CALL_NAMES
#include "util/dl_pq.h"

#include "util/dynlib.h"

#include <pthread.h>

static const char *const names[] = {DL_PQ_FUNCS(DL_NAME_STR)};
static void *syms[sizeof names / sizeof names[0]];
static struct dynlib lib = {
    .soname = "libpq.so.5", .names = names, .syms = syms, .count = sizeof names / sizeof names[0]};
static struct dl_pq_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    dynlib_open(&lib);
    if (!lib.loaded)
        return;
    size_t i = 0;
#define SET(f) api.f = (__typeof__(api.f))syms[i++];
    DL_PQ_FUNCS(SET)
#undef SET
}

cm_err dl_pq_load(const char *user)
{
    pthread_once(&once, load);
    return dynlib_status(&lib, user);
}

const struct dl_pq_api *dl_pq(void)
{
    pthread_once(&once, load);
    if (!lib.loaded)
        dynlib_unloaded(&lib);
    return &api;
}

#endif
