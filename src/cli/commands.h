/* Declarations of every command function and its usage text, generated from
 * commands.def. */
#ifndef CM_CLI_COMMANDS_H
#define CM_CLI_COMMANDS_H

#include "cli/cli.h"

#define CLI_CMD(name, fn, summary)                                                                 \
    int fn(const struct cli_global *g, int argc, char **argv);                                     \
    extern const char fn##_usage[];
#include "cli/commands.def"
#undef CLI_CMD

#endif
