/* Parallel preparation of the certificates recover-orphans imports: worker
 * threads read each attached certificate from the scratch file, decode it
 * and check that this CA signed it (issuer name and signature, as
 * ca_check_signed_here does), while the one writer thread imports them into
 * the database in order. Internal to src/recover.
 *
 * Results come back in job order, whatever the number of workers, so that
 * the database a run leaves does not depend on it. At most PREP_WINDOW
 * decoded certificates are held at a time: memory stays flat however many
 * the trail holds.
 *
 * Threads: the workers touch only the scratch file (pread on its
 * descriptor), their own OpenSSL objects, and the CA certificate's public
 * key, read-only (decoded before they start). A certificate that verifies
 * is also encoded and described there (ca_import_ready_make: no CA
 * state). Their cm_err messages stay in their threads: anything a worker
 * cannot do is left to the writer (parsed = -1, or ready_ok = 0), which
 * does it the way a single-threaded run does, with the same messages. */
#ifndef CM_RECOVER_PREP_H
#define CM_RECOVER_PREP_H

#include "ca/ca.h"
#include "util/err.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#define PREP_WINDOW 1024
#define PREP_MAX_WORKERS 64

/* Job i: der_len bytes of DER at offset off of the file fd (der_len 0:
 * nothing to do). */
typedef void (*prep_job_fn)(void *ctx, size_t i, int64_t *off, uint32_t *der_len);

struct prep_out {
    X509 *x;      /* the decoded certificate, or NULL (also when ready_ok) */
    int parsed;   /* 1 one certificate, nothing after it; 0 not one; -1 not tried */
    int verified; /* 1: issued by this CA and its signature verifies */
    /* 1: verified, and made ready for import (ca_import_ready_make) in the
     * worker: the writer has only rows to write. x is then NULL. */
    int ready_ok;
    struct ca_import_ready ready;
};

/* Frees what a result holds (NULL-safe). */
void prep_out_clear(struct prep_out *r);

struct prep;

/* Starts `workers` threads (1 .. PREP_MAX_WORKERS) over jobs 0 .. n-1.
 * ca_cert's public key must already be decoded. */
cm_err prep_start(struct prep **out, int fd, size_t n, prep_job_fn job, void *ctx, X509 *ca_cert,
                  int workers) CM_MUST_USE;
/* The result of job i (waits for it). i must grow from call to call; jobs
 * skipped over are dropped. p NULL: parsed -1 (not tried). */
void prep_take(struct prep *p, size_t i, struct prep_out *out);
/* Stops the workers and frees everything not taken. NULL-safe. */
void prep_stop(struct prep *p);
/* Workers to use when none is asked for: the processors online, at most 16. */
int prep_default_workers(void);

#endif
