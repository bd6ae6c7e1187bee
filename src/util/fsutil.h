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

/* fs_read_file into the caller's buffer of cap bytes (cap >= max + 2), for
 * reading many small files (a batch's requests) without an allocation or an
 * fstat each; buf[*len] is set to NUL. Same errors as fs_read_file. */
cm_err fs_read_into(size_t *len, unsigned char *buf, size_t cap, const char *path,
                    size_t max) CM_MUST_USE;

/* fs_read_file for a file holding a secret (a passphrase, a password):
 * a regular file that group or others may read or write is refused with the
 * chmod that fixes it (CM_ERR_CONFIG); `what` names it ("passphrase file"). */
cm_err fs_read_secret(unsigned char **out, size_t *len, const char *path, size_t max,
                      const char *what) CM_MUST_USE;

/* The same mode rule for a secret file another library reads (a TLS client
 * key handed to libldap). */
cm_err fs_check_secret(const char *path, const char *what) CM_MUST_USE;

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

/* Canonical absolute form of path (symlinks and . / .. resolved, as
 * realpath(3)) even when its last components do not exist yet: the longest
 * existing prefix is resolved and the rest appended. out has PATH_MAX bytes. */
cm_err fs_resolve(char *out, size_t outsz, const char *path) CM_MUST_USE;

/* The output-file policy for every file a command writes on the user's
 * behalf (--out, backup DIR, a subordinate's CSR):
 *  - never inside `protect` (the CA home: its key, database, configuration),
 *    judged after resolving symlinks and .. in the parent directory, and by
 *    device and inode of every directory above the file (bind mounts);
 *  - a symbolic link at path that points into `protect` is refused always;
 *  - an existing file (or link) is refused unless force; a directory always;
 *  - the parent directory must exist.
 * protect may be NULL (no home) and need not exist yet (init). */
cm_err fs_out_check(const char *path, const char *protect, int force) CM_MUST_USE;

/* The same rule for an output directory (backup DIR): neither it nor the
 * directories it would be created in are inside protect. */
cm_err fs_out_check_dir(const char *dir, const char *protect) CM_MUST_USE;

/* fs_out_check, then writes data atomically (temp + fsync + rename). Without
 * force the final step never replaces a file that appeared meanwhile
 * (RENAME_NOREPLACE, else link(2)). */
cm_err fs_out_write(const char *path, const char *protect, int force, const void *data, size_t len,
                    mode_t mode) CM_MUST_USE;

/* A group of output files in one directory made durable together (submit
 * --out of a batch): each file goes to its own temp file as it is added; the
 * commit syncs them all in one pass, renames each to its name and fsyncs
 * the directory once. A group of N files costs N file syncs that the file
 * system can merge into one journal commit, and one directory sync, instead
 * of 2N syncs taken one after the other. The output-file policy is
 * fs_out_check's: the directory is checked (and opened: later writes go to
 * that directory even if its name is moved) when the group is opened, each
 * name when it is added, and without force a rename never replaces a file
 * that appeared meanwhile (RENAME_NOREPLACE, else link(2)). Not thread-safe. */
typedef struct fs_group fs_group;

/* Opens a group for files in dir (which must exist); at most `max` files
 * (1..FS_GROUP_MAX) are added between commits. */
#define FS_GROUP_MAX 256
cm_err fs_group_open(fs_group **out, const char *dir, const char *protect, int force,
                     size_t max) CM_MUST_USE;

/* Checks name (one path component in the group's directory) against the
 * policy and writes data to its temp file. On an error the file is not in
 * the group and the group stays usable. CM_ERR_INVALID when the group is
 * full (commit first). */
cm_err fs_group_add(fs_group *g, const char *name, const void *data, size_t len,
                    mode_t mode) CM_MUST_USE;

/* Files added since the last commit. */
size_t fs_group_count(const fs_group *g);

/* Called once per file that could not be published, with its index (in
 * the order added since the last commit) and its error (cm_err_msg() says
 * why). */
typedef void (*fs_group_fail_fn)(void *ctx, size_t index, cm_err rc);

/* Syncs every file of the group, then renames each, then syncs the
 * directory. When a sync fails nothing is renamed and every file fails.
 * Returns the first error (CM_OK when every file is published); the group is
 * empty afterwards. fail may be NULL. */
cm_err fs_group_commit(fs_group *g, fs_group_fail_fn fail, void *ctx) CM_MUST_USE;

/* Removes the temp files of an uncommitted group and frees it (NULL-safe). */
void fs_group_free(fs_group *g);

#endif
