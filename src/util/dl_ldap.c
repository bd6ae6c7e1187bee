/* libldap-2.5.so.0 loaded on first use: its table (util/dl_ldap.h). */
#ifdef CM_HAVE_LDAP
#define DL_NO_CALL_NAMES
#include "util/dl_ldap.h"

#include "util/dynlib.h"

#include <pthread.h>

DYNLIB_DEFINE(ldap, "libldap-2.5.so.0", DL_LDAP_FUNCS)

#endif
