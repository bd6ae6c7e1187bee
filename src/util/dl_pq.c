/* libpq.so.5 loaded on first use: its table (util/dl_pq.h). */
#ifdef CM_HAVE_PQ
#define DL_NO_CALL_NAMES
#include "util/dl_pq.h"

#include "util/dynlib.h"

#include <pthread.h>

DYNLIB_DEFINE(pq, "libpq.so.5", DL_PQ_FUNCS)

#endif
