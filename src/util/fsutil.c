#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cm_err fs_read_file(unsigned char **out, size_t *len, const char *path, size_t max)
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

cm_err fs_writev_atomic(const char *path, const struct iovec *iov, int iovcnt, mode_t mode)
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
    if (rename(tmp, path) != 0)
        CM_FAIL(CM_ERR_IO, "%s: rename: %s", path, strerror(errno));
    snprintf(dirbuf, sizeof(dirbuf), "%s", path);
    rc = fs_sync_dir(dirname(dirbuf));
    return rc;
out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
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
