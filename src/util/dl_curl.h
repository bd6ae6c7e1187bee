/* libcurl.so.4, loaded on first use (util/dynlib.h). Modules include this header
 * instead of the library's own and call its functions by their usual names.
 * The callers' first-use check is dl_curl_load(). */
#ifndef CM_UTIL_DL_CURL_H
#define CM_UTIL_DL_CURL_H

#include "util/dynlib.h"
#include "util/err.h"

/* curl.h's function-like macros for curl_easy_setopt/getinfo (its GCC type
 * checks, or a plain argument-count check) would clash with the call names
 * below: the type checks are off and the plain macros undefined. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#undef curl_easy_setopt
#undef curl_easy_getinfo

/* Every function of the library that certmint (and its tests) calls. */
#define DL_CURL_FUNCS(X)                                                                           \
    X(curl_easy_cleanup)                                                                           \
    X(curl_easy_getinfo)                                                                           \
    X(curl_easy_init)                                                                              \
    X(curl_easy_perform)                                                                           \
    X(curl_easy_setopt)                                                                            \
    X(curl_easy_strerror)                                                                          \
    X(curl_global_init)                                                                            \
    X(curl_slist_append)                                                                           \
    X(curl_slist_free_all)                                                                         \
    X(curl_version_info)

struct dl_curl_api {
    DL_CURL_FUNCS(DL_MEMBER)
};

/* Loads libcurl.so.4 once for the whole process; CM_OK when it is usable, else
 * one error naming `user` (the module), the soname and the reason. */
cm_err dl_curl_load(const char *user) CM_MUST_USE;

/* The loaded table (aborts if dl_curl_load never succeeded). */
const struct dl_curl_api *dl_curl(void);

#ifndef DL_NO_CALL_NAMES
#define curl_easy_cleanup (dl_curl()->curl_easy_cleanup)
#define curl_easy_getinfo (dl_curl()->curl_easy_getinfo)
#define curl_easy_init (dl_curl()->curl_easy_init)
#define curl_easy_perform (dl_curl()->curl_easy_perform)
#define curl_easy_setopt (dl_curl()->curl_easy_setopt)
#define curl_easy_strerror (dl_curl()->curl_easy_strerror)
#define curl_global_init (dl_curl()->curl_global_init)
#define curl_slist_append (dl_curl()->curl_slist_append)
#define curl_slist_free_all (dl_curl()->curl_slist_free_all)
#define curl_version_info (dl_curl()->curl_version_info)
DL_CURL_FUNCS(DL_CHECK_CALL_NAME)
#endif

#endif
