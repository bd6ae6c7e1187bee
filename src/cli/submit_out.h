/* submit --out DIR for several requests (issue 10): the certificate files of
 * each committed group are written and synced by a thread of their own while
 * the core signs the next groups (ca_submit_opts.committed), instead of all
 * after the batch. A group's files are synced before its lines are printed:
 * the lines are printed after submit_out_finish. Front end only: the file
 * layout (DIR/REQUEST-ID.pem, fs_group's policy) stays in the CLI. */
#ifndef CM_CLI_SUBMIT_OUT_H
#define CM_CLI_SUBMIT_OUT_H

#include "cli/cli.h"

typedef struct submit_out submit_out;

/* Starts the file writer for subs[0, n) (borrowed until submit_out_free);
 * without a thread (pthread_create failed) every file is written by
 * submit_out_rest. */
cm_err submit_out_start(submit_out **out, const struct cli_global *g, const char *dir, int force,
                        struct ca_submission *subs, size_t n) CM_MUST_USE;

/* ca_submit_opts.committed: hands subs[start, end) to the writer thread
 * (which writes those that carry a certificate; in strict audit mode none
 * does before the release). */
void submit_out_committed(void *ctx, size_t start, size_t end);

/* Waits until the files of every group handed over are written and synced,
 * and stops the thread: subs may change afterwards (the release). Returns 1
 * when a file could not be written (reported on stderr; its certificate
 * stays retrievable). */
int submit_out_finish(submit_out *w);

/* Writes the certificates of subs[from, to) (to - from <= FS_GROUP_MAX)
 * that have no file yet (released in strict audit mode, or all of them
 * without a thread), synced as one group. Returns 1 as submit_out_finish. */
int submit_out_rest(submit_out *w, size_t from, size_t to);

/* Stops a thread still running and frees w (NULL-safe). */
void submit_out_free(submit_out *w);

#endif
