/* An entry's key, certificate and chain as one generation: a folder
 * entries/NAME/g-SHA1/ holding key.pem, cert.pem and chain.pem, and the
 * symbolic link entries/NAME/cur naming the current one. key.pem, cert.pem
 * and chain.pem in the entry folder are fixed links through cur, so every
 * reader sees one generation, and a new certificate (with a renewal's new
 * key) replaces the old pair with one rename of cur: no moment, even after
 * a crash, has the new key beside the old certificate. The generation
 * before is kept for rollback; older ones, and their live/SHA1 folders,
 * go after a renewal (host_prune). */
#include "host/host.h"

#include "util/fsutil.h"
#include "util/text.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const gen_files[] = {"key.pem", "cert.pem", "chain.pem"};
#define GEN_NFILES 3

/* SHA-1 (hex) of the first certificate of a PEM file. */
static cm_err pem_sha1(char out[41], const char *path)
{
    cm_err rc = CM_OK;
    FILE *f = fopen(path, "r");
    X509 *x = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (f == NULL)
        return cm_err_set(CM_ERR_IO, "%s: %s", path, strerror(errno));
    if ((x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL ||
        X509_digest(x, EVP_sha1(), md, &mdlen) != 1)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a certificate", path);
    text_hex(out, md, mdlen);
out:
    X509_free(x);
    fclose(f);
    return rc;
}

/* Points link (in dir) at target: a new link beside it, renamed over it. */
static cm_err link_swap(const char *dir, const char *link, const char *target)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    cm_err rc = fs_join(path, sizeof(path), dir, link);

    if (rc != CM_OK)
        return rc;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.swap", path) >= sizeof(tmp))
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", path);
    if ((unlink(tmp) != 0 && errno != ENOENT) || symlink(target, tmp) != 0 ||
        rename(tmp, path) != 0)
        return cm_err_set(CM_ERR_IO, "%s: %s", path, strerror(errno));
    return CM_OK;
}

/* Copies a file of the entry (through the links) into the generation gdir. */
static cm_err copy_into(const char *gdir, const char *edir, const char *from, const char *to,
                        mode_t mode)
{
    cm_err rc = CM_OK;
    char src[PATH_MAX], dst[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;

    CM_TRY(fs_join(src, sizeof(src), edir, from));
    CM_TRY(fs_join(dst, sizeof(dst), gdir, to));
    CM_TRY(fs_read_file(&data, &len, src, HOST_MAX_FILE));
    CM_TRY(fs_write_atomic(dst, data ? (const void *)data : "", len, mode));
out:
    if (data != NULL)
        OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

/* An entry of the old layout (key.pem, cert.pem, chain.pem as files) is
 * moved into its first generation; each file is replaced by a link to the
 * same content, so readers never see a mix. */
static cm_err migrate(const char *edir)
{
    cm_err rc = CM_OK;
    char cur[PATH_MAX], cert[PATH_MAX], sha1[41], g[48], gdir[PATH_MAX], target[PATH_MAX];
    int present[GEN_NFILES];
    struct stat sb;

    CM_TRY(fs_join(cur, sizeof(cur), edir, "cur"));
    CM_TRY(fs_join(cert, sizeof(cert), edir, "cert.pem"));
    if (lstat(cur, &sb) == 0 || lstat(cert, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    CM_TRY(pem_sha1(sha1, cert));
    snprintf(g, sizeof(g), "g-%s", sha1);
    CM_TRY(fs_join(gdir, sizeof(gdir), edir, g));
    CM_TRY(fs_mkdirs(gdir, 0700));
    for (int i = 0; i < GEN_NFILES; i++) {
        CM_TRY(fs_join(target, sizeof(target), edir, gen_files[i]));
        present[i] = fs_exists(target);
        if (present[i])
            CM_TRY(copy_into(gdir, edir, gen_files[i], gen_files[i], i == 0 ? 0600 : 0644));
    }
    CM_TRY(fs_sync_dir(gdir));
    CM_TRY(link_swap(edir, "cur", g));
    for (int i = 0; i < GEN_NFILES; i++) {
        snprintf(target, sizeof(target), "cur/%s", gen_files[i]);
        if (present[i])
            CM_TRY(link_swap(edir, gen_files[i], target));
    }
out:
    return rc;
}

/* The current generation's SHA-1 ("" when none). */
static void cur_sha1(char out[41], const char *edir)
{
    char cur[PATH_MAX], t[64];
    ssize_t n;

    out[0] = '\0';
    if (fs_join(cur, sizeof(cur), edir, "cur") != CM_OK)
        return;
    n = readlink(cur, t, sizeof(t) - 1);
    if (n == 42 && strncmp(t, "g-", 2) == 0) {
        memcpy(out, t + 2, 40);
        out[40] = '\0';
    }
}

/* "new,old,older,...": the entry's certificates, newest first (a very
 * long history loses its oldest end at a comma). */
static cm_err history_push(struct host_kv *meta, const char *sha1, const char *prev)
{
    const char *h = host_kv_get(meta, "history");
    char buf[4096];
    size_t n;

    if (h == NULL || h[0] == '\0')
        h = prev;
    if (strncmp(h, sha1, 40) == 0)
        return CM_OK;
    n = strlen(h);
    if (n > 41 * 90 - 1)
        n = 41 * 90 - 1;
    if (n == 0)
        snprintf(buf, sizeof(buf), "%s", sha1);
    else
        snprintf(buf, sizeof(buf), "%s,%.*s", sha1, (int)n, h);
    return host_kv_set(meta, "history", buf);
}

cm_err host_entry_commit(host_store *st, const char *name, const char *sha1, const void *cert,
                         size_t certlen, const void *chain, size_t chainlen)
{
    cm_err rc = CM_OK;
    char edir[PATH_MAX], gdir[PATH_MAX], path[PATH_MAX], g[48], prev[41], target[64];
    const char *keysrc = "key.pem";
    struct host_kv meta = {0, NULL};

    CM_TRY(host_entry_dir(edir, sizeof(edir), st, name));
    CM_TRY(migrate(edir));
    cur_sha1(prev, edir);
    snprintf(g, sizeof(g), "g-%s", sha1);
    CM_TRY(fs_join(gdir, sizeof(gdir), edir, g));
    CM_TRY(fs_mkdirs(gdir, 0700));
    CM_TRY(fs_join(path, sizeof(path), edir, "key.new"));
    if (fs_exists(path))
        keysrc = "key.new";
    CM_TRY(fs_join(path, sizeof(path), edir, keysrc));
    if (fs_exists(path)) /* none when the key is in a PKCS#11 token */
        CM_TRY(copy_into(gdir, edir, keysrc, "key.pem", 0600));
    CM_TRY(fs_join(path, sizeof(path), gdir, "chain.pem"));
    CM_TRY(fs_write_atomic(path, chain ? chain : "", chainlen, 0644));
    CM_TRY(fs_join(path, sizeof(path), gdir, "cert.pem"));
    CM_TRY(fs_write_atomic(path, cert, certlen, 0644));
    CM_TRY(fs_sync_dir(gdir));
    /* The switch: one rename. */
    CM_TRY(link_swap(edir, "cur", g));
    for (int i = 0; i < GEN_NFILES; i++) {
        snprintf(target, sizeof(target), "cur/%s", gen_files[i]);
        CM_TRY(fs_join(path, sizeof(path), gdir, gen_files[i]));
        if (fs_exists(path))
            CM_TRY(link_swap(edir, gen_files[i], target));
    }
    CM_TRY(fs_join(path, sizeof(path), edir, "key.new"));
    if (unlink(path) != 0 && errno != ENOENT)
        CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
    CM_TRY(fs_sync_dir(edir));
    CM_TRY(host_entry_meta(&meta, st, name));
    CM_TRY(history_push(&meta, sha1, strcmp(prev, sha1) != 0 ? prev : ""));
    CM_TRY(host_entry_meta_write(st, name, &meta));
out:
    host_kv_free(&meta);
    return rc;
}

/* One old certificate of the entry: its generation and its live folder. */
static cm_err prune_one(host_store *st, const char *edir, const char *sha1)
{
    char g[48], path[PATH_MAX], base[PATH_MAX];
    const char *ld = host_conf_get(st, "live_dir", NULL);
    cm_err rc;

    if (strlen(sha1) != 40 || strspn(sha1, "0123456789abcdef") != 40)
        return cm_err_set(CM_ERR_INVALID, "history: '%s' is not a thumbprint", sha1);
    snprintf(g, sizeof(g), "g-%s", sha1);
    if ((rc = fs_join(path, sizeof(path), edir, g)) != CM_OK ||
        (rc = host_remove_tree(path)) != CM_OK)
        return rc;
    if (ld == NULL) {
        if ((rc = fs_join(base, sizeof(base), host_store_dir(st), "live")) != CM_OK)
            return rc;
        ld = base;
    }
    if ((rc = fs_join(path, sizeof(path), ld, sha1)) != CM_OK)
        return rc;
    return host_remove_tree(path);
}

cm_err host_prune(host_store *st, const char *name, char *removed, size_t removedsz)
{
    cm_err rc = CM_OK;
    struct host_kv meta = {0, NULL};
    char edir[PATH_MAX], h[4096], *p = NULL, *comma = NULL;
    int kept = 0;

    removed[0] = '\0';
    CM_TRY(host_entry_dir(edir, sizeof(edir), st, name));
    CM_TRY(host_entry_meta(&meta, st, name));
    snprintf(h, sizeof(h), "%s",
             host_kv_get(&meta, "history") ? host_kv_get(&meta, "history") : "");
    /* Keep the current certificate and the one before (rollback). */
    for (p = h; p != NULL && *p != '\0'; p = comma ? comma + 1 : NULL) {
        comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (++kept <= 2)
            continue;
        CM_TRY(prune_one(st, edir, p));
        if (strlen(removed) + 42 < removedsz)
            snprintf(removed + strlen(removed), removedsz - strlen(removed), "%s%s",
                     removed[0] ? "," : "", p);
    }
    if (kept > 2) {
        snprintf(h, sizeof(h), "%s", host_kv_get(&meta, "history"));
        h[81] = '\0'; /* two thumbprints and their comma */
        CM_TRY(host_kv_set(&meta, "history", h));
        CM_TRY(host_entry_meta_write(st, name, &meta));
    }
out:
    host_kv_free(&meta);
    return rc;
}
