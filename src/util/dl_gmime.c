/* libgmime-3.0.so.0 loaded on first use: its table (util/dl_gmime.h). */
#ifdef CM_HAVE_GMIME
#define DL_NO_CALL_NAMES
#include "util/dl_gmime.h"

#include "util/dynlib.h"

#include <pthread.h>

DYNLIB_DEFINE(gmime, "libgmime-3.0.so.0", DL_GMIME_FUNCS)

#endif
