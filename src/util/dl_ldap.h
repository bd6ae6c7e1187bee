/* libldap-2.5.so.0, loaded on first use (util/dynlib.h). Modules include this header
 * instead of the library's own and call its functions by their usual names.
 * The callers' first-use check is dl_ldap_load(). */
#ifndef CM_UTIL_DL_LDAP_H
#define CM_UTIL_DL_LDAP_H

#include "util/dynlib.h"
#include "util/err.h"

#include <lber.h>
#include <ldap.h>

/* Every function of the library that certmint (and its tests) calls. */
#define DL_LDAP_FUNCS(X)                                                                           \
    X(ldap_add_ext_s)                                                                              \
    X(ldap_search_ext_s)                                                                           \
    X(ldap_control_find)                                                                           \
    X(ldap_control_free)                                                                           \
    X(ldap_controls_free)                                                                          \
    X(ldap_count_entries)                                                                          \
    X(ldap_create_page_control)                                                                    \
    X(ldap_dnfree)                                                                                 \
    X(ldap_err2string)                                                                             \
    X(ldap_first_entry)                                                                            \
    X(ldap_free_urldesc)                                                                           \
    X(ldap_get_dn)                                                                                 \
    X(ldap_get_option)                                                                             \
    X(ldap_get_values_len)                                                                         \
    X(ldap_initialize)                                                                             \
    X(ldap_memfree)                                                                                \
    X(ldap_modify_ext_s)                                                                           \
    X(ldap_msgfree)                                                                                \
    X(ldap_next_entry)                                                                             \
    X(ldap_parse_pageresponse_control)                                                             \
    X(ldap_parse_result)                                                                           \
    X(ldap_sasl_bind_s)                                                                            \
    X(ldap_set_option)                                                                             \
    X(ldap_start_tls_s)                                                                            \
    X(ldap_str2dn)                                                                                 \
    X(ldap_unbind_ext_s)                                                                           \
    X(ldap_url_parse)                                                                              \
    X(ldap_value_free_len)                                                                         \
    X(ber_memfree)                                                                                 \
    X(ber_pvt_opt_on)                                                                              \
    X(ber_sockbuf_ctrl)

struct dl_ldap_api {
    DL_LDAP_FUNCS(DL_MEMBER)
};

/* Loads libldap-2.5.so.0 once for the whole process; CM_OK when it is usable, else
 * one error naming `user` (the module), the soname and the reason. */
cm_err dl_ldap_load(const char *user) CM_MUST_USE;

/* The loaded table (aborts if dl_ldap_load never succeeded). */
const struct dl_ldap_api *dl_ldap(void);

#ifndef DL_NO_CALL_NAMES
#define ldap_add_ext_s (dl_ldap()->ldap_add_ext_s)
#define ldap_control_find (dl_ldap()->ldap_control_find)
#define ldap_control_free (dl_ldap()->ldap_control_free)
#define ldap_controls_free (dl_ldap()->ldap_controls_free)
#define ldap_count_entries (dl_ldap()->ldap_count_entries)
#define ldap_create_page_control (dl_ldap()->ldap_create_page_control)
#define ldap_dnfree (dl_ldap()->ldap_dnfree)
#define ldap_err2string (dl_ldap()->ldap_err2string)
#define ldap_first_entry (dl_ldap()->ldap_first_entry)
#define ldap_free_urldesc (dl_ldap()->ldap_free_urldesc)
#define ldap_get_dn (dl_ldap()->ldap_get_dn)
#define ldap_get_option (dl_ldap()->ldap_get_option)
#define ldap_get_values_len (dl_ldap()->ldap_get_values_len)
#define ldap_initialize (dl_ldap()->ldap_initialize)
#define ldap_memfree (dl_ldap()->ldap_memfree)
#define ldap_modify_ext_s (dl_ldap()->ldap_modify_ext_s)
#define ldap_msgfree (dl_ldap()->ldap_msgfree)
#define ldap_next_entry (dl_ldap()->ldap_next_entry)
#define ldap_parse_pageresponse_control (dl_ldap()->ldap_parse_pageresponse_control)
#define ldap_parse_result (dl_ldap()->ldap_parse_result)
#define ldap_sasl_bind_s (dl_ldap()->ldap_sasl_bind_s)
#define ldap_set_option (dl_ldap()->ldap_set_option)
#define ldap_start_tls_s (dl_ldap()->ldap_start_tls_s)
#define ldap_str2dn (dl_ldap()->ldap_str2dn)
#define ldap_unbind_ext_s (dl_ldap()->ldap_unbind_ext_s)
#define ldap_url_parse (dl_ldap()->ldap_url_parse)
#define ldap_value_free_len (dl_ldap()->ldap_value_free_len)
#define ber_memfree (dl_ldap()->ber_memfree)
/* A variable, not a function (LDAP_OPT_ON is its address). */
#define ber_pvt_opt_on (*dl_ldap()->ber_pvt_opt_on)
#define ldap_search_ext_s (dl_ldap()->ldap_search_ext_s)
#define ber_sockbuf_ctrl (dl_ldap()->ber_sockbuf_ctrl)
DL_LDAP_FUNCS(DL_CHECK_CALL_NAME)
#endif

#endif
