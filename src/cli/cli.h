/* The certmint command-line tool: a thin client of the core library.
 * Each command is one function in its own cmd_*.c, listed in the static
 * table in main.c. A command returns the process exit status. */
#ifndef CM_CLI_CLI_H
#define CM_CLI_CLI_H

#include "ca/ca.h"

#include <sys/types.h>

struct cli_global {
    const char *home;            /* --home or CERTMINT_HOME */
    const char *passphrase_file; /* --passphrase-file or CERTMINT_PASSPHRASE_FILE */
    int verbose;
};

struct cli_command {
    const char *name;
    int (*run)(const struct cli_global *g, int argc, char **argv);
    const char *summary; /* one line for `certmint help` */
    const char *usage;   /* full text for `certmint help NAME` */
};

/* Prints "certmint: MESSAGE" (the recorded error) to stderr; returns 1. */
int cli_fail(cm_err rc);
/* Prints "certmint: <formatted>" to stderr; returns 2 (usage error). */
int cli_usage_error(const char *fmt, ...) CM_PRINTF(1, 2);
/* Opens the CA home of g (error when none is given). */
cm_err cli_open_ca(ca_ctx **out, const struct cli_global *g, int allow_no_cert) CM_MUST_USE;

/* PEM text of a DER certificate (malloc'ed, NUL-terminated). */
cm_err cli_cert_pem(char **out, const unsigned char *der, size_t len) CM_MUST_USE;
/* Checks an output file before any work is done: not inside the CA home of
 * g, not an existing file unless force (fs_out_check). NULL or "-" (stdout)
 * pass. */
cm_err cli_out_check(const struct cli_global *g, const char *path, int force) CM_MUST_USE;
/* Writes data to path under the output-file policy (fs_out_write), or to
 * stdout when path is NULL or "-". */
cm_err cli_write_file(const struct cli_global *g, const char *path, int force, const void *data,
                      size_t len, mode_t mode) CM_MUST_USE;
/* Writes a DER certificate as PEM (mode 0644) the same way. */
cm_err cli_write_cert(const struct cli_global *g, const char *path, int force,
                      const unsigned char *der, size_t len) CM_MUST_USE;
/* Parses a RequestID argument. */
cm_err cli_parse_request_id(int64_t *out, const char *s) CM_MUST_USE;

/* Delivers queued exit-module events after a command committed (errors are
 * reported as warnings; the events stay queued). */
void cli_deliver(ca_ctx *ca);

/* The command table (main.c). */
extern const struct cli_command cli_commands[];
const struct cli_command *cli_command_find(const char *name);

#endif
