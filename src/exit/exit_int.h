/* Shared between the files of src/exit only. */
#ifndef CM_EXIT_EXIT_INT_H
#define CM_EXIT_EXIT_INT_H

#include "config/config.h"

/* The exit framework's own keys (exit_keys.c), {NULL}-terminated. */
extern const struct config_key exit_framework_keys[];

#endif
