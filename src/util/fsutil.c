#include "util/fsutil.h"

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
    ssize_t n;

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
    cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
    data = malloc(cap);
    CM_NOMEM_IF(data == NULL);
    for (;;) {
        if (have + 1 >= cap) {
            unsigned char *p;
            if (cap > max + 1)
                CM_FAIL(CM_ERR_INVALID, "%s: file too large (limit %zu bytes)", path, max);
            cap *= 2;
            p = realloc(data, cap);
            CM_NOMEM_IF(p == NULL);
            data = p;
        }
        n = read(fd, data + have, cap - have - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (have > max)
            CM_FAIL(CM_ERR_INVALID, "%s: file too large (limit %zu bytes)", path, max);
    }
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
