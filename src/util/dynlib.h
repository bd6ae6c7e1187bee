/* Libraries loaded on first use (dlopen) instead of at process start.
 *
 * libcurl, GMime (with GLib and GObject), libpq and libldap (with liblber)
 * bring ~40 more shared objects with them; mapping and relocating those
 * costs every certmint process ~15 ms of CPU at start in this kind of VM
 * (docs/architecture.md, "Libraries loaded on demand"), although most
 * commands -- and the batch submit -- never call them. Each such library
 * has a header src/util/dl_NAME.h that lists its functions once (an X-macro
 * list): the list gives the table of function pointers, the dlsym loop and,
 * through `#define name (dl_NAME()->name)`, the call names the modules use
 * unchanged. The table is filled once (pthread_once) and only read after.
 *
 * Only the library's exact soname is ever loaded, through the normal search
 * path: nothing in the configuration names a file to load. */
#ifndef CM_UTIL_DYNLIB_H
#define CM_UTIL_DYNLIB_H

#include "util/err.h"

#include <stddef.h>

/* One library's load state; filled by dynlib_open, read-only afterwards. */
struct dynlib {
    const char *soname;
    const char *const *names; /* count function names */
    void **syms;              /* count slots, filled by dynlib_open */
    size_t count;
    int loaded;
    char why[256]; /* dlerror()'s reason when loaded is 0 */
};

/* Loads d->soname (RTLD_NOW | RTLD_LOCAL) and resolves every name into
 * d->syms; a missing symbol fails the whole load. Sets d->loaded or d->why.
 * Called once per library, from its pthread_once routine. */
void dynlib_open(struct dynlib *d);

/* CM_OK once d is loaded; otherwise one error naming the user (`SMTP exit`),
 * the soname and the reason (CM_ERR_UNSUPPORTED). */
cm_err dynlib_status(const struct dynlib *d, const char *user) CM_MUST_USE;

/* A call through a table that never loaded is a programming error (its
 * module skipped its dl_NAME_load check): says which and aborts. */
_Noreturn void dynlib_unloaded(const struct dynlib *d);

#define DL_STR_(x) #x
#define DL_STR(x) DL_STR_(x)
#define DL_NAME_STR(f) #f,
#define DL_MEMBER(f) __typeof__(f) *f;
/* Each listed function must have its call name (`#define f (dl_x()->f)`):
 * the name expands to something longer than itself. */
#define DL_CHECK_CALL_NAME(f)                                                                      \
    _Static_assert(sizeof(DL_STR(f)) > sizeof(#f), #f " has no call name");

/* One library's table and its two entry points, for its dl_NAME.c (with
 * DL_NO_CALL_NAMES defined before it includes dl_NAME.h): NAME the prefix,
 * SONAME its exact soname, FUNCS its function list. Defines
 * dl_NAME_load(user), the modules' first-use check, and dl_NAME(), the
 * table the call names read (declared in dl_NAME.h). */
#define DL_SET(f) api_->f = (__typeof__(api_->f))dl_syms_[i_++];
#define DYNLIB_DEFINE(NAME, SONAME, FUNCS)                                                         \
    static const char *const dl_names_[] = {FUNCS(DL_NAME_STR)};                                   \
    static void *dl_syms_[sizeof dl_names_ / sizeof dl_names_[0]];                                 \
    static struct dynlib dl_lib_ = {.soname = SONAME,                                              \
                                    .names = dl_names_,                                            \
                                    .syms = dl_syms_,                                              \
                                    .count = sizeof dl_names_ / sizeof dl_names_[0]};              \
    static struct dl_##NAME##_api dl_api_;                                                         \
    static pthread_once_t dl_once_ = PTHREAD_ONCE_INIT;                                            \
    static void dl_load_(void)                                                                     \
    {                                                                                              \
        struct dl_##NAME##_api *api_ = &dl_api_;                                                   \
        size_t i_ = 0;                                                                             \
        dynlib_open(&dl_lib_);                                                                     \
        if (dl_lib_.loaded) {                                                                      \
            FUNCS(DL_SET)                                                                          \
        }                                                                                          \
    }                                                                                              \
    cm_err dl_##NAME##_load(const char *user)                                                      \
    {                                                                                              \
        pthread_once(&dl_once_, dl_load_);                                                         \
        return dynlib_status(&dl_lib_, user);                                                      \
    }                                                                                              \
    const struct dl_##NAME##_api *dl_##NAME(void)                                                  \
    {                                                                                              \
        pthread_once(&dl_once_, dl_load_);                                                         \
        if (!dl_lib_.loaded)                                                                       \
            dynlib_unloaded(&dl_lib_);                                                             \
        return &dl_api_;                                                                           \
    }

#endif
