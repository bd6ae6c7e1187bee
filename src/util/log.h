/* Leveled logging to stderr. Never pass secrets (passphrases, passwords,
 * private keys) to these functions. */
#ifndef CM_UTIL_LOG_H
#define CM_UTIL_LOG_H

#include "util/err.h"

typedef enum { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG } cm_log_level;

void log_set_level(cm_log_level lvl);
cm_log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int log_parse_level(const char *s);
void log_msg(cm_log_level lvl, const char *fmt, ...) CM_PRINTF(2, 3);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
