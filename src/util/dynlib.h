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

#endif
