/* Fixed-size records, sorted with bounded memory: recover-orphans' lists
 * (orphan certificates, revocations, request events, serials recovered)
 * grow with the trail, so past SPOOL_RUN records they go to an unlinked
 * scratch file in sorted runs, merged at the end (an external merge sort).
 * Memory stays flat however long the trail: one run in memory while
 * adding (SPOOL_RUN records), then 16 KiB per run while merging (under 2
 * bytes per record spooled: 200 KiB for 100,000 orphans, 20 MiB only past
 * ten million). Internal to src/recover.
 *
 * Order: by cmp, records that compare equal in the order they were added
 * (stable); cmp NULL keeps the order they were added in.
 *
 * Threads: spool_get may be called from several threads at once after
 * spool_sort (it reads with pread, or from memory); everything else from
 * one thread. */
#ifndef CM_RECOVER_SPOOL_H
#define CM_RECOVER_SPOOL_H

#include "util/err.h"

#include <stddef.h>

/* Records held in memory before a run is written out. */
#define SPOOL_RUN 8192

struct spool;

typedef int (*spool_cmp)(const void *a, const void *b);

/* A new, empty spool of recsize-byte records; run: records per run (0:
 * SPOOL_RUN), small values for tests. */
cm_err spool_new(struct spool **out, size_t recsize, spool_cmp cmp, size_t run) CM_MUST_USE;
cm_err spool_add(struct spool *s, const void *rec) CM_MUST_USE;
/* Ends the adding and sorts: spool_get works after it, spool_add no more. */
cm_err spool_sort(struct spool *s) CM_MUST_USE;
/* Record i (0 .. spool_count - 1) of the sorted spool into rec. */
cm_err spool_get(const struct spool *s, size_t i, void *rec) CM_MUST_USE;
size_t spool_count(const struct spool *s);
/* Runs written to the scratch file (0: everything fits in memory). */
size_t spool_runs(const struct spool *s);
/* NULL-safe. */
void spool_free(struct spool *s);

#endif
