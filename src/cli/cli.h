/* The certmint command-line tool: a thin client of the core library.
 * Each command is one function in its own cmd_*.c, listed in the static
 * table in main.c. A command returns the process exit status. */
#ifndef CM_CLI_CLI_H
#define CM_CLI_CLI_H

#include "ca/ca.h"
#include "util/buf.h"

#include <getopt.h>
#include <stdio.h>

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
/* Opens the CA home of g (error when none is given) and takes its session
 * for the user at the command line (cli_actor). */
cm_err cli_open_ca(ca_ctx **out, const struct cli_global *g, int allow_no_cert) CM_MUST_USE;
/* Gives the session back and closes the handle cli_open_ca opened. */
void cli_close_ca(ca_ctx *ca);
/* The command line's actor: the OS user ($SUDO_USER under sudo); its name
 * is written into buf. */
void cli_actor(struct ca_actor *out, char *buf, size_t bufsz);

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
/* Writes data the same way; binary: refused on a terminal (DER, PKCS#7). */
cm_err cli_write_data(const struct cli_global *g, const char *path, int force, const void *data,
                      size_t len, int binary) CM_MUST_USE;
/* Parses a RequestID argument. */
cm_err cli_parse_request_id(int64_t *out, const char *s) CM_MUST_USE;

/* Delivers queued exit-module events after a command committed, through
 * the core's exit_deliver_committed (errors are reported as warnings; the
 * events stay queued). */
void cli_deliver(ca_ctx *ca);
/* The warnings of a delivery: modules that failed, events poisoned. */
struct exit_delivery_report;
void cli_report_delivery(const struct exit_delivery_report *rep);

/* Options (opt.c). cli_getopt is getopt_long with certmint's messages: a
 * refused option is reported on stderr naming the command, with the nearest
 * long option of longopts ("unrecognized option '--ouput'; did you mean
 * '--out'?"); it returns '?' then, as getopt_long does. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* Optimal-string-alignment edit distance of a and b; -1 if either is longer
 * than 64 bytes. */
int cli_edit_distance(const char *a, const char *b);
/* The candidate nearest to word when it is close enough to be a typo (at
 * most half of word's length, 1..3 edits), else NULL. */
const char *cli_suggest(const char *word, const char *const *cands, size_t n);
/* cli_suggest over the command names. */
const char *cli_suggest_command(const char *word);
/* The command being run (main.c sets it), for messages. */
extern const struct cli_command *cli_current;

/* Output format of commands that report (--format table|json). */
enum cli_format { CLI_FMT_TEXT, CLI_FMT_JSON };
/* Parses a --format value ("table", "text" or "json"); prints a usage error
 * naming the command and returns 2 when it is neither, else 0. */
int cli_parse_format(enum cli_format *out, const char *arg);
/* For commands that parse their arguments by hand (config, exit): removes
 * "--format F" or "--format=F" from argv (before a "--"), updating *argc.
 * Returns 0, or 2 after a usage error for a bad or missing F. */
int cli_take_format(enum cli_format *out, int *argc, char **argv);
/* Writes the JSON document in b (one line) to stdout and frees b. rc is the
 * result of building it; returns the exit status (0, or 1 after cli_fail). */
int cli_json_emit(cm_buf *b, cm_err rc);
/* As cli_json_emit, but returns the error instead of reporting it. */
cm_err cli_json_write(cm_buf *b, cm_err rc) CM_MUST_USE;

/* Subcommands (subcmd.c). An option of a table: a string (str set) or a
 * flag (flag set to 1); a table ends with a NULL name. */
struct cli_opt {
    const char *name;
    const char **str;
    int *flag;
};
/* Parses argv's options with cli_getopt into the table's targets, leaving
 * optind at the first operand. Returns 0, or 2 after the usage error "CMD:
 * see 'certmint help CMD'". */
int cli_opts_parse(int argc, char **argv, const struct cli_opt *opts, const char *cmd);
/* A listing: one line a row (text) or {"KEY":[{...},...]} (JSON). */
struct cli_list {
    enum cli_format fmt;
    cm_buf js;
    const char *key;
};
/* Opens the next JSON element ("{\"KEY\":[{" first, then ",{"). */
cm_err cli_list_open(struct cli_list *l) CM_MUST_USE;
typedef cm_err (*cli_list_fn)(ca_ctx *ca, struct cli_list *l);
/* "CMD [--format table|json]": takes --format, opens the CA, fn prints each
 * row or appends its object, ends and writes the document; frees l->js.
 * Returns the exit status. */
int cli_list_main(const struct cli_global *g, int argc, char **argv, const char *cmd,
                  struct cli_list *l, cli_list_fn fn);
typedef cm_err (*cli_ca_fn)(ca_ctx *ca, void *ctx);
/* Opens the CA of g, calls fn(ca, ctx) (one core call and its output),
 * closes it; returns 0, or cli_fail's status. */
int cli_with_ca(const struct cli_global *g, cli_ca_fn fn, void *ctx);
/* cli_with_ca after the output file passed cli_out_check (before any work). */
int cli_with_ca_out(const struct cli_global *g, const char *out, int force, cli_ca_fn fn,
                    void *ctx);

/* Writes s to f with C0 controls, DEL and C1 controls (U+0080..U+009F)
 * shown as \xHH, so that stored text cannot drive the terminal. */
void cli_print_safe(FILE *f, const char *s);

/* The command table (main.c). */
extern const struct cli_command cli_commands[];
const struct cli_command *cli_command_find(const char *name);

#endif
