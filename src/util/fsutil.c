#include "util/fsutil.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static cm_err secret_mode_check(const struct stat *st, const char *path, const char *what)
{
    if (S_ISREG(st->st_mode) && (st->st_mode & 077) != 0)
        return cm_err_set(CM_ERR_CONFIG,
                          "%s %s is %s by group or others (mode %04o): run chmod 600 %s", what,
                          path, (st->st_mode & 044) ? "readable" : "writable",
                          (unsigned)(st->st_mode & 07777), path);
    return CM_OK;
}

cm_err fs_check_secret(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cm_err_set(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO, "%s %s: %s", what, path,
                          strerror(errno));
    return secret_mode_check(&st, path, what);
}

/* Reads the open fd to its end into a buffer of cap bytes (cap > 1, grown
 * as needed; one byte kept for the NUL). */
static cm_err read_rest(unsigned char **data, size_t *have, size_t cap, int fd, const char *path,
                        size_t max)
{
    cm_err rc = CM_OK;
    ssize_t n;

    for (;;) {
        if (*have + 1 >= cap) {
            unsigned char *p;
            if (cap > max + 1)
                CM_FAIL(CM_ERR_INVALID, "%s: file too large (limit %zu bytes)", path, max);
            cap *= 2;
            p = realloc(*data, cap);
            CM_NOMEM_IF(p == NULL);
            *data = p;
        }
        n = read(fd, *data + *have, cap - *have - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
        }
        if (n == 0)
            break;
        *have += (size_t)n;
        if (*have > max)
            CM_FAIL(CM_ERR_INVALID, "%s: file too large (limit %zu bytes)", path, max);
    }
out:
    return rc;
}

/* A regular file is read by one read() of its size plus one byte: one that
 * returns exactly the size fstat gave is the whole file (*whole = 1), which
 * spares the read() that would only confirm the end, and the realloc (a
 * request file of a batch costs open, fstat, read, close). A file that grew
 * or shrank since the fstat is read on to its end by read_rest. */
static cm_err read_regular(int *whole, unsigned char *data, size_t *have, const struct stat *st,
                           int fd, const char *path, size_t max)
{
    ssize_t n;

    *whole = 0;
    do
        n = read(fd, data, (size_t)st->st_size + 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return cm_err_set(CM_ERR_IO, "%s: %s", path, strerror(errno));
    if ((size_t)n > max)
        return cm_err_set(CM_ERR_INVALID, "%s: file too large (limit %zu bytes)", path, max);
    *have = (size_t)n;
    *whole = *have == (size_t)st->st_size;
    return CM_OK;
}

/* Reads path; when `secret` names what the file holds, a regular file that
 * group or others may read or write is refused, as ssh refuses such keys. */
static cm_err read_file(unsigned char **out, size_t *len, const char *path, size_t max,
                        const char *secret)
{
    cm_err rc = CM_OK;
    int fd = -1;
    struct stat st;
    unsigned char *data = NULL;
    size_t have = 0, cap;
    int whole = 0;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        CM_FAIL(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0)
        CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
    if (secret != NULL)
        CM_TRY(secret_mode_check(&st, path, secret));
    if (S_ISDIR(st.st_mode))
        CM_FAIL(CM_ERR_INVALID, "%s: is a directory", path);
    if (S_ISREG(st.st_mode) && (size_t)st.st_size > max)
        CM_FAIL(CM_ERR_INVALID, "%s: file too large (%lld bytes, limit %zu)", path,
                (long long)st.st_size, max);
    /* A regular file: its size, the byte that shows its end, the NUL. */
    cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 4096;
    data = malloc(cap);
    CM_NOMEM_IF(data == NULL);
    if (S_ISREG(st.st_mode))
        CM_TRY(read_regular(&whole, data, &have, &st, fd, path, max));
    if (!whole)
        CM_TRY(read_rest(&data, &have, cap, fd, path, max));
    data[have] = '\0';
    *out = data;
    *len = have;
    data = NULL;
out:
    free(data);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The error for a file found over max bytes: a regular file's message
 * names its size, as read_file's does (a second system call, but only on
 * the way out). */
static cm_err too_large(int fd, const char *path, size_t max)
{
    struct stat st;

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return cm_err_set(CM_ERR_INVALID, "%s: file too large (%lld bytes, limit %zu)", path,
                          (long long)st.st_size, max);
    return cm_err_set(CM_ERR_INVALID, "%s: file too large (limit %zu bytes)", path, max);
}

/* Reads a stream (a FIFO, a terminal, a socket) to its end into buf, which
 * holds max + 2 bytes. */
static cm_err read_stream(size_t *have, unsigned char *buf, int fd, const char *path, size_t max)
{
    ssize_t n;

    *have = 0;
    for (;;) {
        n = read(fd, buf + *have, max + 1 - *have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cm_err_set(CM_ERR_IO, "%s: %s", path, strerror(errno));
        if (n == 0)
            return CM_OK;
        *have += (size_t)n;
        if (*have > max)
            return too_large(fd, path, max);
    }
}

/* open, pread, close: no fstat, which costs 2-4 us a file in a VM (bench/
 * README.md, issue 10 session 11). A pread of max + 1 bytes at offset 0
 * tells the kinds of file apart by itself: a directory answers EISDIR, a
 * stream (FIFO, terminal, socket) ESPIPE without losing a byte, and for a
 * seekable file (regular or a device) a read shorter than asked is its end,
 * since Linux does not cut a read of a local file short for a signal it
 * survives; max + 1 bytes mean the file is over the limit. */
cm_err fs_read_into(size_t *len, unsigned char *buf, size_t cap, const char *path, size_t max)
{
    cm_err rc = CM_OK;
    int fd = -1;
    ssize_t n;

    *len = 0;
    assert(cap >= 2 && max <= cap - 2);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        CM_FAIL(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO, "%s: %s", path, strerror(errno));
    do
        n = pread(fd, buf, max + 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ESPIPE) {
        CM_TRY(read_stream(len, buf, fd, path, max));
    } else if (n < 0 && errno == EISDIR) {
        CM_FAIL(CM_ERR_INVALID, "%s: is a directory", path);
    } else if (n < 0) {
        CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
    } else if ((size_t)n > max) {
        CM_TRY(too_large(fd, path, max));
    } else {
        *len = (size_t)n;
    }
    buf[*len] = '\0';
out:
    if (rc != CM_OK)
        *len = 0;
    if (fd >= 0)
        close(fd);
    return rc;
}

cm_err fs_read_file(unsigned char **out, size_t *len, const char *path, size_t max)
{
    return read_file(out, len, path, max, NULL);
}

cm_err fs_read_secret(unsigned char **out, size_t *len, const char *path, size_t max,
                      const char *what)
{
    return read_file(out, len, path, max, what);
}

cm_err fs_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cm_err_set(CM_ERR_IO, "%s: %s", dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return cm_err_set(CM_ERR_IO, "%s: fsync: %s", dir, strerror(e));
    }
    close(fd);
    return CM_OK;
}

/* Moves the finished temp file to path; with noreplace an existing path is
 * never replaced (EEXIST). RENAME_NOREPLACE where the file system has it,
 * else link(2) + unlink, which is just as atomic (NFS, older kernels). */
static int commit_temp(const char *tmp, const char *path, int noreplace)
{
    if (!noreplace)
        return rename(tmp, path);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(tmp, path) != 0)
        return -1;
    unlink(tmp);
    return 0;
}

static cm_err writev_commit(const char *path, const struct iovec *iov, int iovcnt, mode_t mode,
                            int noreplace)
{
    cm_err rc = CM_OK;
    char tmp[4096];
    char dirbuf[4096];
    int fd = -1, i;
    unsigned char rnd[6];

    /* The temp name is unique per process and attempt so that two writers
     * never share a temp file. */
    FILE *ur = fopen("/dev/urandom", "rb");
    if (ur == NULL || fread(rnd, 1, sizeof(rnd), ur) != sizeof(rnd)) {
        if (ur)
            fclose(ur);
        return cm_err_set(CM_ERR_IO, "/dev/urandom: cannot read");
    }
    fclose(ur);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%02x%02x%02x%02x%02x%02x", path,
                         (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
                         rnd[5]) >= sizeof(tmp))
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        CM_FAIL(CM_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (fchmod(fd, mode) != 0)
        CM_FAIL(CM_ERR_IO, "%s: chmod: %s", tmp, strerror(errno));
    for (i = 0; i < iovcnt; i++) {
        const unsigned char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            ssize_t n = write(fd, p, left);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                CM_FAIL(CM_ERR_IO, "%s: write: %s", tmp, strerror(errno));
            }
            p += n;
            left -= (size_t)n;
        }
    }
    if (fsync(fd) != 0)
        CM_FAIL(CM_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0) {
        fd = -1;
        CM_FAIL(CM_ERR_IO, "%s: close: %s", tmp, strerror(errno));
    }
    fd = -1;
    if (commit_temp(tmp, path, noreplace) != 0) {
        if (errno == EEXIST)
            CM_FAIL(CM_ERR_EXISTS, "%s: already exists; give --force to replace it", path);
        CM_FAIL(CM_ERR_IO, "%s: rename: %s", path, strerror(errno));
    }
    snprintf(dirbuf, sizeof(dirbuf), "%s", path);
    rc = fs_sync_dir(dirname(dirbuf));
    return rc;
out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

cm_err fs_writev_atomic(const char *path, const struct iovec *iov, int iovcnt, mode_t mode)
{
    return writev_commit(path, iov, iovcnt, mode, 0);
}

cm_err fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    struct iovec iov = {(void *)data, len};
    return fs_writev_atomic(path, &iov, 1, mode);
}

cm_err fs_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t i, n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return cm_err_set(CM_ERR_INVALID, "%s: bad directory path", path);
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return cm_err_set(CM_ERR_IO, "%s: mkdir: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return CM_OK;
}

int fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int fs_dir_empty_or_absent(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int empty = 1;
    if (d == NULL)
        return errno == ENOENT;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

cm_err fs_join(char *out, size_t outsz, const char *dir, const char *name)
{
    int n = snprintf(out, outsz, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= outsz)
        return cm_err_set(CM_ERR_INVALID, "%s/%s: path too long", dir, name);
    return CM_OK;
}

cm_err fs_resolve(char *out, size_t outsz, const char *path)
{
    char buf[PATH_MAX], parent[PATH_MAX];
    const char *base;
    char *slash;
    size_t n;
    cm_err rc;

    if (outsz < PATH_MAX)
        return cm_err_set(CM_ERR_INVALID, "%s: resolve buffer too small", path);
    n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return cm_err_set(CM_ERR_INVALID, "'%s': bad path", path);
    if (realpath(path, out) != NULL)
        return CM_OK;
    if (errno != ENOENT)
        return cm_err_set(errno == EACCES ? CM_ERR_IO : CM_ERR_INVALID, "%s: %s", path,
                          strerror(errno));
    /* The last component does not exist: resolve its parent, append it. */
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    slash = strrchr(buf, '/');
    if (slash == NULL) {
        snprintf(parent, sizeof(parent), ".");
        base = buf;
    } else {
        *slash = '\0';
        snprintf(parent, sizeof(parent), "%s", slash == buf ? "/" : buf);
        base = slash + 1;
    }
    if (strcmp(parent, path) == 0)
        return cm_err_set(CM_ERR_INVALID, "%s: cannot resolve", path);
    if ((rc = fs_resolve(out, outsz, parent)) != CM_OK)
        return rc;
    if (strcmp(base, ".") == 0 || *base == '\0')
        return CM_OK;
    if (strcmp(base, "..") == 0) {
        slash = strrchr(out, '/');
        if (slash != NULL)
            slash[slash == out ? 1 : 0] = '\0';
        return CM_OK;
    }
    n = strlen(out);
    if (snprintf(out + n, outsz - n, "%s%s", out[n - 1] == '/' ? "" : "/", base) >=
        (int)(outsz - n))
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", path);
    return CM_OK;
}

/* 1 when the canonical path p is dir or below it. */
static int path_within(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    if (strcmp(dir, "/") == 0)
        return 1;
    return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* 1 when a directory on the way from `dir` up to / is `home` by device and
 * inode: catches a second path to the home (bind mount, hard-linked name). */
static int dir_under(const char *dir, const struct stat *home)
{
    char buf[PATH_MAX];
    struct stat st;
    char *slash;

    snprintf(buf, sizeof(buf), "%s", dir);
    for (;;) {
        if (stat(buf, &st) == 0 && st.st_dev == home->st_dev && st.st_ino == home->st_ino)
            return 1;
        slash = strrchr(buf, '/');
        if (slash == NULL || buf[1] == '\0')
            return 0;
        slash[slash == buf ? 1 : 0] = '\0';
    }
}

/* Where the symbolic link at path points, resolved (also when dangling);
 * dir is the canonical directory that holds the link. */
static cm_err link_target(char target[PATH_MAX], const char *dir, const char *path)
{
    char link[PATH_MAX], joined[PATH_MAX];
    ssize_t n = readlink(path, link, sizeof(link) - 1);

    if (n < 0)
        return cm_err_set(CM_ERR_IO, "%s: readlink: %s", path, strerror(errno));
    link[n] = '\0';
    if (link[0] != '/') {
        if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", dir, link) >= sizeof(joined))
            return cm_err_set(CM_ERR_INVALID, "%s: link target too long", path);
        return fs_resolve(target, PATH_MAX, joined);
    }
    return fs_resolve(target, PATH_MAX, link);
}

static cm_err refuse_inside(const char *path, const char *protect)
{
    return cm_err_set(CM_ERR_POLICY,
                      "%s: inside the CA home %s; output files go elsewhere (the CA's key, "
                      "database and configuration live there)",
                      path, protect);
}

cm_err fs_out_check(const char *path, const char *protect, int force)
{
    char full[PATH_MAX], home[PATH_MAX], target[PATH_MAX], dir[PATH_MAX];
    struct stat st, hst;
    int have_home = 0;
    cm_err rc;

    if (path == NULL || *path == '\0')
        return cm_err_set(CM_ERR_INVALID, "output file name is empty");
    if (protect != NULL) {
        if ((rc = fs_resolve(home, sizeof(home), protect)) != CM_OK)
            return rc;
        have_home = stat(home, &hst) == 0;
    }
    /* The directory the file is written in, with symlinks and .. resolved. */
    snprintf(dir, sizeof(dir), "%s", path);
    if ((rc = fs_resolve(full, sizeof(full), dirname(dir))) != CM_OK)
        return rc;
    if (protect != NULL && (path_within(full, home) || (have_home && dir_under(full, &hst))))
        return refuse_inside(path, protect);
    if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode))
        return cm_err_set(CM_ERR_NOTFOUND, "%s: directory %s does not exist", path, full);
    if (lstat(path, &st) == 0) {
        /* rename(2) would replace the link, not write through it; refuse a
         * link into the home all the same: it says someone aimed it there. */
        if (S_ISLNK(st.st_mode) && protect != NULL && link_target(target, full, path) == CM_OK &&
            (path_within(target, home) || (have_home && dir_under(target, &hst))))
            return cm_err_set(CM_ERR_POLICY, "%s: a symbolic link into the CA home %s; refused",
                              path, protect);
        if (S_ISDIR(st.st_mode))
            return cm_err_set(CM_ERR_INVALID, "%s: is a directory", path);
        if (!force)
            return cm_err_set(CM_ERR_EXISTS, "%s: already exists; give --force to replace it",
                              path);
    } else if (errno != ENOENT) {
        return cm_err_set(CM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    return CM_OK;
}

cm_err fs_out_check_dir(const char *dir, const char *protect)
{
    char full[PATH_MAX], home[PATH_MAX];
    struct stat hst;
    cm_err rc;

    if (dir == NULL || *dir == '\0')
        return cm_err_set(CM_ERR_INVALID, "output directory name is empty");
    if (protect == NULL)
        return CM_OK;
    if ((rc = fs_resolve(home, sizeof(home), protect)) != CM_OK ||
        (rc = fs_resolve(full, sizeof(full), dir)) != CM_OK)
        return rc;
    if (path_within(full, home) || (stat(home, &hst) == 0 && dir_under(full, &hst)))
        return refuse_inside(dir, protect);
    return CM_OK;
}

cm_err fs_out_write(const char *path, const char *protect, int force, const void *data, size_t len,
                    mode_t mode)
{
    struct iovec iov = {(void *)data, len};
    cm_err rc = fs_out_check(path, protect, force);
    if (rc != CM_OK)
        return rc;
    return writev_commit(path, &iov, 1, mode, !force);
}

/* ---- groups of output files (fsutil.h) ---- */

/* From this many files on, a group is synced with one syncfs. */
#define FS_GROUP_SYNCFS_MIN 8

struct fs_group_file {
    char name[NAME_MAX + 1];
    char tmp[NAME_MAX + 1];
    int fd;
};

struct fs_group {
    int dirfd;
    int force;
    int have_home;
    size_t n, max;
    unsigned long seq;
    char full[PATH_MAX]; /* the directory, canonical */
    char home[PATH_MAX]; /* the protected home, canonical; "" for none */
    char tag[32];        /* temp names: .NAME.tmp.TAG.SEQ */
    struct stat hst;
    struct fs_group_file *f;
};

cm_err fs_group_open(fs_group **out, const char *dir, const char *protect, int force, size_t max)
{
    cm_err rc = CM_OK;
    fs_group *g = NULL;
    unsigned char rnd[6];
    struct stat st;

    *out = NULL;
    if (max == 0 || max > FS_GROUP_MAX)
        return cm_err_set(CM_ERR_INVALID, "output group of %zu files (1..%d)", max, FS_GROUP_MAX);
    CM_TRY(fs_out_check_dir(dir, protect));
    g = calloc(1, sizeof(*g));
    CM_NOMEM_IF(g == NULL);
    g->dirfd = -1;
    g->f = calloc(max, sizeof(*g->f));
    CM_NOMEM_IF(g->f == NULL);
    g->max = max;
    g->force = force;
    CM_TRY(fs_resolve(g->full, sizeof(g->full), dir));
    if (protect != NULL) {
        CM_TRY(fs_resolve(g->home, sizeof(g->home), protect));
        g->have_home = stat(g->home, &g->hst) == 0;
    }
    g->dirfd = open(g->full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g->dirfd < 0 || fstat(g->dirfd, &st) != 0)
        CM_FAIL(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO, "%s: %s", dir, strerror(errno));
    /* One random tag per group: temp names never collide with another
     * writer's, without reading /dev/urandom per file. */
    FILE *ur = fopen("/dev/urandom", "rb");
    if (ur == NULL || fread(rnd, 1, sizeof(rnd), ur) != sizeof(rnd)) {
        if (ur)
            fclose(ur);
        CM_FAIL(CM_ERR_IO, "/dev/urandom: cannot read");
    }
    fclose(ur);
    snprintf(g->tag, sizeof(g->tag), "%ld.%02x%02x%02x%02x%02x%02x", (long)getpid(), rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
    *out = g;
    g = NULL;
out:
    fs_group_free(g);
    return rc;
}

/* fs_out_check for one name in the group's (already checked) directory. */
static cm_err group_check_name(const fs_group *g, const char *name)
{
    char path[PATH_MAX], target[PATH_MAX];
    struct stat st;

    if (*name == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 || strlen(name) > NAME_MAX - 40)
        return cm_err_set(CM_ERR_INVALID, "%s/%s: not a plain file name", g->full, name);
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", g->full, name) >= sizeof(path))
        return cm_err_set(CM_ERR_INVALID, "%s/%s: path too long", g->full, name);
    if (fstatat(g->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return CM_OK;
        return cm_err_set(CM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISLNK(st.st_mode) && g->home[0] != '\0' && link_target(target, g->full, path) == CM_OK &&
        (path_within(target, g->home) || (g->have_home && dir_under(target, &g->hst))))
        return cm_err_set(CM_ERR_POLICY, "%s: a symbolic link into the CA home %s; refused", path,
                          g->home);
    if (S_ISDIR(st.st_mode))
        return cm_err_set(CM_ERR_INVALID, "%s: is a directory", path);
    if (!g->force)
        return cm_err_set(CM_ERR_EXISTS, "%s: already exists; give --force to replace it", path);
    return CM_OK;
}

static cm_err write_all(int fd, const void *data, size_t len, const char *what)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cm_err_set(CM_ERR_IO, "%s: write: %s", what, strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return CM_OK;
}

cm_err fs_group_add(fs_group *g, const char *name, const void *data, size_t len, mode_t mode)
{
    cm_err rc = CM_OK;
    struct fs_group_file *f;

    if (g->n == g->max)
        return cm_err_set(CM_ERR_INVALID, "%s: output group full (%zu files)", g->full, g->max);
    CM_TRY(group_check_name(g, name));
    f = &g->f[g->n];
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->tmp, sizeof(f->tmp), ".%s.tmp.%s.%lu", name, g->tag, g->seq++);
    f->fd = openat(g->dirfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (f->fd < 0)
        CM_FAIL(CM_ERR_IO, "%s/%s: %s", g->full, f->tmp, strerror(errno));
    if (fchmod(f->fd, mode) != 0)
        rc = cm_err_set(CM_ERR_IO, "%s/%s: chmod: %s", g->full, f->tmp, strerror(errno));
    if (rc == CM_OK)
        rc = write_all(f->fd, data, len, f->tmp);
    if (rc != CM_OK) {
        close(f->fd);
        unlinkat(g->dirfd, f->tmp, 0);
        goto out;
    }
    g->n++;
out:
    return rc;
}

size_t fs_group_count(const fs_group *g)
{
    return g ? g->n : 0;
}

/* Moves one synced temp file to its name (commit_temp, relative to the
 * group's directory). */
static int group_rename(const fs_group *g, const struct fs_group_file *f)
{
    if (g->force)
        return renameat(g->dirfd, f->tmp, g->dirfd, f->name);
    if (renameat2(g->dirfd, f->tmp, g->dirfd, f->name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (linkat(g->dirfd, f->tmp, g->dirfd, f->name, 0) != 0)
        return -1;
    unlinkat(g->dirfd, f->tmp, 0);
    return 0;
}

/* Syncs and closes every temp file; the first error, all of them closed.
 * A group of more than a few files is synced with one syncfs(2) of the
 * directory's file system: one write-back, one journal commit and one
 * cache flush for the whole group, where an fsync per file costs a flush
 * of the disk's cache each (measured: ~0.5 ms per file here). syncfs
 * reports write-back errors on the file system since the directory was
 * opened (Linux 5.8), so a failed write is not missed. */
static cm_err group_sync_files(fs_group *g)
{
    cm_err rc = CM_OK;
    int whole = g->n >= FS_GROUP_SYNCFS_MIN;

    if (whole && syncfs(g->dirfd) != 0)
        rc = cm_err_set(CM_ERR_IO, "%s: syncfs: %s", g->full, strerror(errno));
    for (size_t i = 0; i < g->n; i++) {
        struct fs_group_file *f = &g->f[i];
        if (rc == CM_OK && !whole && fsync(f->fd) != 0)
            rc = cm_err_set(CM_ERR_IO, "%s/%s: fsync: %s", g->full, f->tmp, strerror(errno));
        if (close(f->fd) != 0 && rc == CM_OK)
            rc = cm_err_set(CM_ERR_IO, "%s/%s: close: %s", g->full, f->tmp, strerror(errno));
        f->fd = -1;
    }
    return rc;
}

cm_err fs_group_commit(fs_group *g, fs_group_fail_fn fail, void *ctx)
{
    cm_err rc = group_sync_files(g), first = CM_OK;
    char why[512] = "";
    size_t i;

    if (rc != CM_OK)
        snprintf(why, sizeof(why), "%s", cm_err_msg());

    for (i = 0; i < g->n; i++) {
        struct fs_group_file *f = &g->f[i];
        cm_err frc = rc;
        if (frc != CM_OK)
            cm_err_set(frc, "%s/%s: not written: %s", g->full, f->name, why);
        else if (group_rename(g, f) != 0)
            frc =
                errno == EEXIST
                    ? cm_err_set(CM_ERR_EXISTS, "%s/%s: already exists; give --force to replace it",
                                 g->full, f->name)
                    : cm_err_set(CM_ERR_IO, "%s/%s: rename: %s", g->full, f->name, strerror(errno));
        if (frc != CM_OK) {
            unlinkat(g->dirfd, f->tmp, 0);
            if (first == CM_OK)
                first = frc;
            if (fail != NULL)
                fail(ctx, i, frc);
        }
    }
    g->n = 0;
    /* One directory sync makes every rename of the group durable. */
    if (rc == CM_OK && fsync(g->dirfd) != 0 && errno != EINVAL) {
        rc = cm_err_set(CM_ERR_IO, "%s: fsync: %s", g->full, strerror(errno));
        return rc;
    }
    if (rc != CM_OK)
        return cm_err_set(rc, "%s (no file of its group was written)", why);
    return first;
}

void fs_group_free(fs_group *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++) {
        if (g->f[i].fd >= 0)
            close(g->f[i].fd);
        unlinkat(g->dirfd, g->f[i].tmp, 0);
    }
    if (g->dirfd >= 0)
        close(g->dirfd);
    free(g->f);
    free(g);
}
