/* libcurl.so.4 loaded on first use: its table (util/dl_curl.h). */
#define DL_NO_CALL_NAMES
#include "util/dl_curl.h"

#include "util/dynlib.h"

#include <pthread.h>

DYNLIB_DEFINE(curl, "libcurl.so.4", DL_CURL_FUNCS)
