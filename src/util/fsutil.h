/* File helpers. Every file certmint publishes is written to a temp file in the
 * same directory, fsynced, renamed over the target, and the directory is
 * fsynced: a crash never leaves half a file. */
#ifndef CM_UTIL_FSUTIL_H
#define CM_UTIL_FSUTIL_H

#include "util/err.h"

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Reads a whole file of at most max bytes. *out is malloc'ed (caller frees)
 * and NUL-terminated (not counted in *len). Errors name the path. */
cm_err fs_read_file(unsigned char **out, size_t *len, const char *path, size_t max) CM_MUST_USE;

/* Atomically replaces path with data, file mode `mode`. */
cm_err fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode) CM_MUST_USE;

/* The same for data given in pieces (avoids concatenating large outputs). */
cm_err fs_writev_atomic(const char *path, const struct iovec *iov, int iovcnt,
                        mode_t mode) CM_MUST_USE;

/* mkdir -p with the given mode for created directories. */
cm_err fs_mkdirs(const char *path, mode_t mode) CM_MUST_USE;

/* 1 if path exists, 0 if not. */
int fs_exists(const char *path);

/* 1 if path is a directory with no entries other than . and .. (or absent). */
int fs_dir_empty_or_absent(const char *path);

/* Joins dir and name into out (bounded); fails if it does not fit. */
cm_err fs_join(char *out, size_t outsz, const char *dir, const char *name) CM_MUST_USE;

/* fsync a directory (after rename/create inside it). */
cm_err fs_sync_dir(const char *dir) CM_MUST_USE;

#endif
