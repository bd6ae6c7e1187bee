/* The file system's limit for submit --out DIR: creates N files in a new
 * directory the way src/util/fsutil.c's fs_group writes a group of output
 * files (fs_group_add, fs_group_commit) and reports files/s and the CPU per
 * file. No certificate work: what is left is the cost of the file system.
 *   fs_limit DIR N [BYTES [GROUP]]
 * DIR must not exist (it is created, on the file system to be measured);
 * BYTES per file (default 800, a PEM certificate), GROUP files per sync
 * (default 256, FS_GROUP_MAX in src/util/fsutil.h). One thread, like the
 * --out writer thread. Not part of the product; built by bench/run.sh. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* fsutil.c: from this many files on, a group is synced with one syncfs. */
#define SYNCFS_MIN 8

struct file {
    char name[32]; /* ID.pem, like submit's REQUEST-ID.pem */
    char tmp[96];  /* .NAME.tmp.TAG.SEQ */
    int fd;
};

struct group {
    int dirfd;
    size_t n, max;
    unsigned long seq;
    char tag[32];
    struct file *f;
};

static int fail(const char *what, const char *name)
{
    fprintf(stderr, "fs_limit: %s: %s: %s\n", name, what, strerror(errno));
    return -1;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fs_group_add: the name checked (absent), a temp file created, its mode
 * set, the data written; the file stays open until the group's commit. */
static int group_add(struct group *g, unsigned long id, const char *data, size_t len)
{
    struct file *f = &g->f[g->n];
    struct stat st;

    snprintf(f->name, sizeof(f->name), "%lu.pem", id);
    if (fstatat(g->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
        return fail("exists or cannot be checked", f->name);
    snprintf(f->tmp, sizeof(f->tmp), ".%s.tmp.%s.%lu", f->name, g->tag, g->seq++);
    f->fd = openat(g->dirfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return fail("open", f->tmp);
    g->n++;
    if (fchmod(f->fd, 0644) != 0)
        return fail("chmod", f->tmp);
    if (write_all(f->fd, data, len) != 0)
        return fail("write", f->tmp);
    return 0;
}

/* fs_group_commit: one syncfs for the group (an fsync per file below
 * SYNCFS_MIN), every file closed, renamed to its name without replacing,
 * and one fsync of the directory for all the renames. */
static int group_commit(struct group *g)
{
    int rc = 0, whole = g->n >= SYNCFS_MIN;

    if (whole && syncfs(g->dirfd) != 0)
        rc = fail("syncfs", ".");
    for (size_t i = 0; i < g->n; i++) {
        if (rc == 0 && !whole && fsync(g->f[i].fd) != 0)
            rc = fail("fsync", g->f[i].tmp);
        if (close(g->f[i].fd) != 0 && rc == 0)
            rc = fail("close", g->f[i].tmp);
    }
    for (size_t i = 0; i < g->n && rc == 0; i++)
        if (renameat2(g->dirfd, g->f[i].tmp, g->dirfd, g->f[i].name, RENAME_NOREPLACE) != 0)
            rc = fail("rename", g->f[i].tmp);
    g->n = 0;
    if (rc == 0 && fsync(g->dirfd) != 0 && errno != EINVAL)
        rc = fail("fsync", ".");
    return rc;
}

static double cpu_us(const struct timeval *tv)
{
    return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A PEM-shaped body: lines of 64 characters. */
static void fill_pem(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (i + 1) % 65 == 0 ? '\n' : (char)('A' + i % 26);
}

static int parse(long *out, const char *s, long lo, long hi)
{
    char *end = NULL;

    errno = 0;
    *out = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *out >= lo && *out <= hi ? 0 : -1;
}

int main(int argc, char **argv)
{
    int rc = 1;
    long n = 0, bytes = 800, max = 256;
    char *data = NULL;
    unsigned char rnd[6];
    struct group g = {.dirfd = -1};
    struct rusage r0, r1;
    FILE *ur = NULL;
    double t0, t1;

    if (argc < 3 || argc > 5 || parse(&n, argv[2], 1, 100000000) != 0 ||
        (argc > 3 && parse(&bytes, argv[3], 1, 1 << 20) != 0) ||
        (argc > 4 && parse(&max, argv[4], 1, 65536) != 0)) {
        fprintf(stderr, "usage: fs_limit DIR N [BYTES [GROUP]]\n");
        return 2;
    }
    g.max = (size_t)max;
    g.f = calloc(g.max, sizeof(*g.f));
    data = malloc((size_t)bytes);
    ur = fopen("/dev/urandom", "rb");
    if (g.f == NULL || data == NULL || ur == NULL ||
        fread(rnd, 1, sizeof(rnd), ur) != sizeof(rnd)) {
        fprintf(stderr, "fs_limit: out of memory or no /dev/urandom\n");
        goto out;
    }
    fill_pem(data, (size_t)bytes);
    snprintf(g.tag, sizeof(g.tag), "%ld.%02x%02x%02x%02x%02x%02x", (long)getpid(), rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
    if (mkdir(argv[1], 0755) != 0) {
        fail("mkdir", argv[1]);
        goto out;
    }
    g.dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g.dirfd < 0) {
        fail("open", argv[1]);
        goto out;
    }
    getrusage(RUSAGE_SELF, &r0);
    t0 = now_s();
    for (long i = 1; i <= n; i++) {
        if (group_add(&g, (unsigned long)i, data, (size_t)bytes) != 0 ||
            ((g.n == g.max || i == n) && group_commit(&g) != 0))
            goto out;
    }
    t1 = now_s();
    getrusage(RUSAGE_SELF, &r1);
    printf("%.0f files/s, CPU per file %.0f us system + %.0f us user (%ld files of %ld bytes in "
           "groups of %ld, %s)\n",
           (double)n / (t1 - t0), (cpu_us(&r1.ru_stime) - cpu_us(&r0.ru_stime)) / (double)n,
           (cpu_us(&r1.ru_utime) - cpu_us(&r0.ru_utime)) / (double)n, n, bytes, max, argv[1]);
    rc = 0;
out:
    for (size_t i = 0; i < g.n; i++)
        if (g.f[i].fd >= 0)
            close(g.f[i].fd);
    if (g.dirfd >= 0)
        close(g.dirfd);
    if (ur != NULL)
        fclose(ur);
    free(data);
    free(g.f);
    return rc;
}
