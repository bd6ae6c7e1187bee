/* Unit tests: the output-file policy (fs_out_check, fs_out_write), loose path
 * resolution (fs_resolve) and the secret-file mode check (fs_read_secret),
 * on a scratch directory. */
#include "unit.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char top[PATH_MAX];  /* canonical scratch directory */
static char home[PATH_MAX]; /* a fake CA home inside it */

static const char *at(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", top, rel);
    return buf[i];
}

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, mode);
}

TEST(resolve_missing_tail)
{
    char out[PATH_MAX];
    CHECK_OK(fs_resolve(out, sizeof(out), at("home/private/../nothere/x.pem")));
    CHECK_STR(out, at("home/nothere/x.pem"));
    CHECK_OK(fs_resolve(out, sizeof(out), at("alias/certmint.conf")));
    CHECK_STR(out, at("home/certmint.conf"));
    CHECK_OK(fs_resolve(out, sizeof(out), at("no/such/../dir")));
    CHECK_STR(out, at("no/dir"));
}

TEST(inside_home_refused)
{
    CHECK_ERR(fs_out_check(at("home/x.pem"), home, 1), CM_ERR_POLICY);
    CHECK_ERR(fs_out_check(at("home/private/ca.key"), home, 1), CM_ERR_POLICY);
    CHECK_ERR(fs_out_check(at("out/../home/certmint.db"), home, 1), CM_ERR_POLICY);
    CHECK_ERR(fs_out_check(at("alias/certmint.conf"), home, 1), CM_ERR_POLICY);
    CHECK(strstr(cm_err_msg(), "inside the CA home") != NULL);
    /* A home that does not exist yet (init) is judged by name. */
    CHECK_ERR(fs_out_check(at("out/newhome/x.csr"), at("out/newhome"), 1), CM_ERR_POLICY);
    CHECK_ERR(fs_out_write(at("home/y.pem"), home, 1, "x", 1, 0644), CM_ERR_POLICY);
    CHECK(access(at("home/y.pem"), F_OK) != 0);
    /* A name that only starts like the home is outside it. */
    CHECK_OK(fs_out_check(at("home2.pem"), home, 0));
}

TEST(symlink_into_home)
{
    CHECK_ERR(fs_out_check(at("out/keylink"), home, 1), CM_ERR_POLICY);
    CHECK(strstr(cm_err_msg(), "symbolic link") != NULL);
    /* Dangling, relative: still a link into the home. */
    CHECK_ERR(fs_out_check(at("out/newkeylink"), home, 1), CM_ERR_POLICY);
    /* A dangling link elsewhere is replaced only with force. */
    CHECK_ERR(fs_out_check(at("out/dangling"), home, 0), CM_ERR_EXISTS);
    CHECK_OK(fs_out_check(at("out/dangling"), home, 1));
}

TEST(existing_needs_force)
{
    unsigned char *data = NULL;
    size_t len = 0;
    put(at("out/old.pem"), "old", 0644);
    CHECK_ERR(fs_out_write(at("out/old.pem"), home, 0, "new", 3, 0644), CM_ERR_EXISTS);
    CHECK(strstr(cm_err_msg(), "--force") != NULL);
    CHECK_OK(fs_read_file(&data, &len, at("out/old.pem"), 100));
    CHECK_STR((char *)data, "old");
    free(data);
    CHECK_OK(fs_out_write(at("out/old.pem"), home, 1, "new", 3, 0644));
    CHECK_OK(fs_read_file(&data, &len, at("out/old.pem"), 100));
    CHECK_STR((char *)data, "new");
    free(data);
    CHECK_OK(fs_out_write(at("out/fresh.pem"), home, 0, "f", 1, 0644));
    CHECK_ERR(fs_out_check(at("out"), home, 1), CM_ERR_INVALID); /* a directory */
    CHECK_ERR(fs_out_check(at("missing/x.pem"), home, 0), CM_ERR_NOTFOUND);
    CHECK_ERR(fs_out_check("", home, 0), CM_ERR_INVALID);
    CHECK_OK(fs_out_check(at("out/free.pem"), NULL, 0));
}

TEST(out_dir)
{
    CHECK_ERR(fs_out_check_dir(at("home/backup"), home), CM_ERR_POLICY);
    CHECK_ERR(fs_out_check_dir(at("alias/a/b"), home), CM_ERR_POLICY);
    CHECK_OK(fs_out_check_dir(at("out/backup"), home));
}

TEST(secret_modes)
{
    unsigned char *data = NULL;
    size_t len = 0;
    put(at("out/s600"), "pw\n", 0600);
    put(at("out/s640"), "pw\n", 0640);
    put(at("out/s604"), "pw\n", 0604);
    put(at("out/s620"), "pw\n", 0620);
    CHECK_OK(fs_read_secret(&data, &len, at("out/s600"), 100, "passphrase file"));
    free(data);
    CHECK_ERR(fs_read_secret(&data, &len, at("out/s640"), 100, "passphrase file"), CM_ERR_CONFIG);
    CHECK(strstr(cm_err_msg(), "readable by group or others (mode 0640): run chmod 600") != NULL);
    CHECK_ERR(fs_read_secret(&data, &len, at("out/s604"), 100, "passphrase file"), CM_ERR_CONFIG);
    CHECK_ERR(fs_read_secret(&data, &len, at("out/s620"), 100, "passphrase file"), CM_ERR_CONFIG);
    CHECK(strstr(cm_err_msg(), "writable by group or others (mode 0620)") != NULL);
    CHECK_ERR(fs_read_secret(&data, &len, at("out/none"), 100, "passphrase file"), CM_ERR_NOTFOUND);
    CHECK_OK(fs_check_secret(at("out/s600"), "key file"));
    CHECK_ERR(fs_check_secret(at("out/s604"), "key file"), CM_ERR_CONFIG);
    CHECK(strstr(cm_err_msg(), "key file") != NULL);
}

static void group_failed(void *ctx, size_t index, cm_err rc)
{
    int *seen = ctx;
    seen[index] = (int)rc;
}

/* Only NAME entries, no temp file left behind. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
        else if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n += 1000; /* a leftover .NAME.tmp.* */
    closedir(d);
    return n;
}

TEST(group_writes)
{
    fs_group *g = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    int seen[4] = {0};
    struct stat st;

    CHECK(mkdir(at("grp"), 0755) == 0);
    put(at("grp/2.pem"), "keep", 0600);
    CHECK_OK(fs_group_open(&g, at("grp"), home, 0, 4));
    CHECK_OK(fs_group_add(g, "1.pem", "one", 3, 0644));
    /* An existing name is refused at once, without force... */
    CHECK_ERR(fs_group_add(g, "2.pem", "two", 3, 0644), CM_ERR_EXISTS);
    CHECK(strstr(cm_err_msg(), "2.pem: already exists") != NULL);
    CHECK_ERR(fs_group_add(g, "a/b.pem", "x", 1, 0644), CM_ERR_INVALID);
    CHECK_ERR(fs_group_add(g, "..", "x", 1, 0644), CM_ERR_INVALID);
    CHECK_OK(fs_group_add(g, "3.pem", "three", 5, 0644));
    /* ...and one that appears between add and commit is not replaced. */
    put(at("grp/3.pem"), "raced", 0600);
    CHECK_INT((int)fs_group_count(g), 2);
    CHECK_ERR(fs_group_commit(g, group_failed, seen), CM_ERR_EXISTS);
    CHECK_INT(seen[0], 0);
    CHECK_INT(seen[1], CM_ERR_EXISTS);
    CHECK_INT((int)fs_group_count(g), 0);
    CHECK_OK(fs_read_file(&data, &len, at("grp/1.pem"), 100));
    CHECK_STR((char *)data, "one");
    free(data);
    CHECK_OK(fs_read_file(&data, &len, at("grp/3.pem"), 100));
    CHECK_STR((char *)data, "raced");
    free(data);
    CHECK(stat(at("grp/1.pem"), &st) == 0 && (st.st_mode & 07777) == 0644);
    /* The group is reusable after a commit; full at max. */
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d.pem", i);
        CHECK_OK(fs_group_add(g, name, "n", 1, 0644));
    }
    CHECK_ERR(fs_group_add(g, "n4.pem", "n", 1, 0644), CM_ERR_INVALID);
    CHECK_OK(fs_group_commit(g, NULL, NULL));
    /* 1, 2, 3 and n0..n3; no temp file left. */
    CHECK_INT(dir_entries(at("grp")), 7);
    /* Uncommitted files vanish with the group. */
    CHECK_OK(fs_group_add(g, "gone.pem", "g", 1, 0644));
    fs_group_free(g);
    CHECK_INT(dir_entries(at("grp")), 7);
}

TEST(group_policy)
{
    fs_group *g = NULL;
    unsigned char *data = NULL;
    size_t len = 0;

    CHECK_ERR(fs_group_open(&g, home, home, 1, 4), CM_ERR_POLICY);
    CHECK_ERR(fs_group_open(&g, at("alias"), home, 1, 4), CM_ERR_POLICY);
    CHECK_ERR(fs_group_open(&g, at("alias/private"), home, 1, 4), CM_ERR_POLICY);
    CHECK_ERR(fs_group_open(&g, at("nodir"), home, 1, 4), CM_ERR_NOTFOUND);
    CHECK_ERR(fs_group_open(&g, at("out"), home, 1, FS_GROUP_MAX + 1), CM_ERR_INVALID);
    CHECK(g == NULL);
    /* With force: a link into the home is still refused, others replaced. */
    CHECK_OK(fs_group_open(&g, at("out"), home, 1, 4));
    CHECK_ERR(fs_group_add(g, "keylink", "x", 1, 0644), CM_ERR_POLICY);
    CHECK_ERR(fs_group_add(g, "newkeylink", "x", 1, 0644), CM_ERR_POLICY);
    CHECK_OK(fs_group_add(g, "s600", "x", 1, 0644));
    CHECK_OK(fs_group_commit(g, NULL, NULL));
    fs_group_free(g);
    CHECK_OK(fs_read_file(&data, &len, at("home/private/ca.key"), 100));
    CHECK_STR((char *)data, "KEY");
    free(data);
    CHECK_OK(fs_read_file(&data, &len, at("out/s600"), 100));
    CHECK_STR((char *)data, "x");
    free(data);
}

/* read() system calls of this process so far (/proc/self/io, syscr);
 * -1 where the kernel does not count them. */
static long reads_so_far(void)
{
    char line[128];
    long n = -1;
    FILE *f = fopen("/proc/self/io", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "syscr: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* A file of `size` bytes of 'a'. */
static void put_size(const char *path, size_t size)
{
    FILE *f = fopen(path, "w");
    for (size_t i = 0; f != NULL && i < size; i++)
        fputc('a', f);
    if (f != NULL)
        fclose(f);
}

/* fs_read_file: a regular file in one read() (issue 10: every request file
 * of a batch), the limit at its boundary, and files that are not regular
 * (no size to trust) read to their end. */
TEST(read_sizes)
{
    unsigned char *data = NULL;
    size_t len = 99;
    long r0, r1, base;
    static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 10000};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        put_size(at("sized"), sizes[i]);
        CHECK_OK(fs_read_file(&data, &len, at("sized"), 10000));
        CHECK_INT(len, sizes[i]);
        CHECK(data != NULL && data[len] == '\0' && (len == 0 || data[len - 1] == 'a'));
        free(data);
        data = NULL;
    }
    put_size(at("sized"), 10001);
    CHECK_ERR(fs_read_file(&data, &len, at("sized"), 10000), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "file too large") != NULL);
    CHECK(data == NULL && len == 0);
    /* A character device: no size, read until the end. */
    CHECK_OK(fs_read_file(&data, &len, "/dev/null", 100));
    CHECK_INT(len, 0);
    free(data);
    data = NULL;
    CHECK_ERR(fs_read_file(&data, &len, top, 100), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "is a directory") != NULL);
    /* One read() for a regular file: the difference to reading the counter
     * twice in a row is what fs_read_file made. */
    put_size(at("sized"), 700);
    r0 = reads_so_far();
    r1 = reads_so_far();
    base = r1 - r0;
    if (r0 >= 0) {
        CHECK_OK(fs_read_file(&data, &len, at("sized"), 10000));
        CHECK_INT(reads_so_far() - r1 - base, 1);
        CHECK_INT(len, 700);
        free(data);
    }
}

/* A FIFO has no size either: read to its end in several reads. */
TEST(read_fifo)
{
    unsigned char *data = NULL;
    size_t len = 0;
    pid_t pid;

    CHECK(mkfifo(at("fifo"), 0600) == 0);
    pid = fork();
    if (pid == 0) {
        FILE *f = fopen(at("fifo"), "w");
        for (int i = 0; f != NULL && i < 9000; i++)
            fputc('b', f);
        if (f != NULL)
            fclose(f);
        _exit(0);
    }
    CHECK_OK(fs_read_file(&data, &len, at("fifo"), 10000));
    CHECK_INT(len, 9000);
    CHECK(data != NULL && data[8999] == 'b' && data[9000] == '\0');
    free(data);
    waitpid(pid, NULL, 0);
}

/* fs_read_into (a batch's request files): the same results and messages
 * as fs_read_file for regular files at the limit's boundary, a device, a
 * directory, a missing file and a FIFO, in one read for a regular file. */
TEST(read_into)
{
    unsigned char buf[1002];
    size_t len = 99;
    long r0, r1;
    pid_t pid;
    static const size_t sizes[] = {0, 1, 999, 1000};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        put_size(at("sized"), sizes[i]);
        memset(buf, 'x', sizeof(buf));
        CHECK_OK(fs_read_into(&len, buf, sizeof(buf), at("sized"), 1000));
        CHECK_INT(len, sizes[i]);
        CHECK(buf[len] == '\0' && (len == 0 || buf[len - 1] == 'a'));
    }
    put_size(at("sized"), 1001);
    CHECK_ERR(fs_read_into(&len, buf, sizeof(buf), at("sized"), 1000), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "file too large (1001 bytes, limit 1000)") != NULL);
    CHECK_INT(len, 0);
    CHECK_OK(fs_read_into(&len, buf, sizeof(buf), "/dev/null", 1000));
    CHECK_INT(len, 0);
    CHECK_ERR(fs_read_into(&len, buf, sizeof(buf), "/dev/zero", 1000), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "file too large (limit 1000 bytes)") != NULL);
    CHECK_ERR(fs_read_into(&len, buf, sizeof(buf), top, 1000), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "is a directory") != NULL);
    CHECK_ERR(fs_read_into(&len, buf, sizeof(buf), at("nothere"), 1000), CM_ERR_NOTFOUND);
    CHECK(strstr(cm_err_msg(), at("nothere")) != NULL);
    put_size(at("sized"), 700);
    r0 = reads_so_far();
    r1 = reads_so_far();
    if (r0 >= 0) {
        CHECK_OK(fs_read_into(&len, buf, sizeof(buf), at("sized"), 1000));
        CHECK_INT(reads_so_far() - r1 - (r1 - r0), 1);
        CHECK_INT(len, 700);
    }
    /* A FIFO: pread cannot read it, so it is read to its end, in pieces
     * (the writer's stdio writes 4096 bytes at a time), and one over the
     * limit is refused. */
    CHECK(mkfifo(at("fifo2"), 0600) == 0);
    for (int over = 0; over < 2; over++) {
        pid = fork();
        if (pid == 0) {
            FILE *f = fopen(at("fifo2"), "w");
            for (int i = 0; f != NULL && i < 900 + over * 200; i++) {
                fputc('b', f);
                if (i % 300 == 299)
                    fflush(f);
            }
            if (f != NULL)
                fclose(f);
            _exit(0);
        }
        if (over) {
            CHECK_ERR(fs_read_into(&len, buf, sizeof(buf), at("fifo2"), 1000), CM_ERR_INVALID);
            CHECK(strstr(cm_err_msg(), "file too large (limit 1000 bytes)") != NULL);
        } else {
            CHECK_OK(fs_read_into(&len, buf, sizeof(buf), at("fifo2"), 1000));
            CHECK_INT(len, 900);
            CHECK(buf[899] == 'b' && buf[900] == '\0');
        }
        waitpid(pid, NULL, 0);
    }
}

int main(void)
{
    char tmpl[] = "/tmp/cm-fsutil.XXXXXX";
    char cmd[PATH_MAX + 16];
    unit_suite = "fsutil";
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, top) == NULL)
        return 1;
    snprintf(home, sizeof(home), "%s/home", top);
    if (mkdir(home, 0700) != 0 || mkdir(at("home/private"), 0700) != 0 ||
        mkdir(at("out"), 0755) != 0 || symlink(home, at("alias")) != 0 ||
        symlink(at("home/private/ca.key"), at("out/keylink")) != 0 ||
        symlink(at("nowhere/x"), at("out/dangling")) != 0 ||
        symlink("../home/private/new.key", at("out/newkeylink")) != 0)
        return 1;
    put(at("home/private/ca.key"), "KEY", 0600);
    RUN(resolve_missing_tail);
    RUN(inside_home_refused);
    RUN(symlink_into_home);
    RUN(existing_needs_force);
    RUN(out_dir);
    RUN(secret_modes);
    RUN(group_writes);
    RUN(group_policy);
    RUN(read_sizes);
    RUN(read_fifo);
    RUN(read_into);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    if (system(cmd) != 0)
        return 1;
    return UNIT_DONE();
}
