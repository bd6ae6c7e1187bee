/* libcurl.so.4 loaded on first use: its table (util/dl_curl.h). */
#define DL_NO_CALL_NAMES
#include "util/dl_curl.h"

#include "util/dynlib.h"

#include <pthread.h>

static const char *const names[] = {DL_CURL_FUNCS(DL_NAME_STR)};
static void *syms[sizeof names / sizeof names[0]];
static struct dynlib lib = {.soname = "libcurl.so.4",
                            .names = names,
                            .syms = syms,
                            .count = sizeof names / sizeof names[0]};
static struct dl_curl_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    dynlib_open(&lib);
    if (!lib.loaded)
        return;
    size_t i = 0;
#define SET(f) api.f = (__typeof__(api.f))syms[i++];
    DL_CURL_FUNCS(SET)
#undef SET
}

cm_err dl_curl_load(const char *user)
{
    pthread_once(&once, load);
    return dynlib_status(&lib, user);
}

const struct dl_curl_api *dl_curl(void)
{
    pthread_once(&once, load);
    if (!lib.loaded)
        dynlib_unloaded(&lib);
    return &api;
}
