#include "backup/backup.h"
#include "ca/ca_int.h"

#include "config/config.h"
#include "event/event.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_MAX (1024 * 1024)
#define FILE_MAX ((size_t)8 << 30)

/* Files of a CA home copied as they are (the database is snapshotted). */
static const struct {
    const char *path;
    mode_t mode;
    int optional;
} home_files[] = {
    {CA_CONF_FILE, 0600, 0},
    {CA_KEY_FILE, 0600, 2}, /* 2: required unless the key is in a token */
    {CA_KEY_URI_FILE, 0600, 1},
    {CA_CERT_FILE, 0644, 1},
    {CA_CHAIN_FILE, 0644, 1},
    {CA_CSR_FILE, 0644, 1},
    {CA_CRL_DIR "/ca.crl", 0644, 1},
    {CA_CRL_DIR "/ca.crl.pem", 0644, 1},
    {CA_CRL_DIR "/delta.crl", 0644, 1},
    {CA_CRL_DIR "/delta.crl.pem", 0644, 1},
    /* Key archival's key-transport key (a file, or the URI of its token
     * object) and certificate (docs/key-archival.md). */
    {"private/kra-transport.key", 0600, 1},
    {"private/kra-transport.key.uri", 0600, 1},
    {"kra-transport.crt", 0644, 1},
};

static cm_err sha256_file(char hex[65], const char *path)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL, md[32];
    size_t len = 0;
    unsigned int mdlen = 0;

    CM_TRY(fs_read_file(&data, &len, path, FILE_MAX));
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot hash", path);
    text_hex(hex, md, 32);
out:
    free(data);
    return rc;
}

static cm_err copy_file(const char *from, const char *to, mode_t mode)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    CM_TRY(fs_read_file(&data, &len, from, FILE_MAX));
    CM_TRY(fs_write_atomic(to, data, len, mode));
out:
    free(data);
    return rc;
}

static void marks_from_db(struct backup_marks *m, const struct db_marks *d)
{
    m->last_request_id = d->last_request_id;
    m->last_crl_number = d->last_crl_number;
    m->last_event_id = d->last_event_id;
    m->certificates = d->certificates;
}

/* The snapshot's files, hashed into the manifest's file lines as the
 * database layer reports them. */
struct snap_ctx {
    const char *dir;
    cm_buf *lines;
};

static cm_err snap_file(void *ctx, const char *name)
{
    struct snap_ctx *c = ctx;
    char path[PATH_MAX], hex[65];
    cm_err rc;

    if ((rc = fs_join(path, sizeof(path), c->dir, name)) != CM_OK ||
        (rc = sha256_file(hex, path)) != CM_OK)
        return rc;
    return buf_printf(c->lines, "sha256 %s %s\n", hex, name);
}

cm_err backup_create(struct backup_marks *marks, ca_ctx *ca, const char *dir)
{
    cm_err rc = CM_OK;
    char from[PATH_MAX], to[PATH_MAX], hex[65];
    cm_buf man = CM_BUF_INIT(MANIFEST_MAX), snap = CM_BUF_INIT(MANIFEST_MAX);
    struct snap_ctx sc = {dir, &snap};
    struct db_marks dm;
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    size_t i;

    if ((rc = fs_out_check_dir(dir, ca->home)) != CM_OK)
        return rc;
    if (!fs_dir_empty_or_absent(dir))
        return cm_err_set(CM_ERR_EXISTS, "%s: not empty; a backup goes into a new directory", dir);
    CM_TRY(fs_mkdirs(dir, 0700));
    CM_TRY(fs_join(to, sizeof(to), dir, "private"));
    CM_TRY(fs_mkdirs(to, 0700));
    CM_TRY(fs_join(to, sizeof(to), dir, CA_CRL_DIR));
    CM_TRY(fs_mkdirs(to, 0755));

    /* The database first: the snapshot fixes what the backup contains. */
    CM_TRY(db_snapshot(ca->db, &dm, dir, snap_file, &sc));
    marks_from_db(marks, &dm);

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    CM_TRY(buf_printf(&man, "certmint-backup 1\ncreated %s\nhome %s\n", when, ca->home));
    if (ca->ski_len > 0) {
        char kid[130];
        text_hex(kid, ca->ski, ca->ski_len);
        CM_TRY(buf_printf(&man, "ca_key_id %s\n", kid));
    }
    CM_TRY(buf_printf(&man,
                      "last_request_id %lld\nlast_crl_number %lld\nlast_event_id %lld\n"
                      "certificates %lld\n",
                      (long long)marks->last_request_id, (long long)marks->last_crl_number,
                      (long long)marks->last_event_id, (long long)marks->certificates));
    CM_TRY(buf_append(&man, snap.data, snap.len));
    for (i = 0; i < sizeof(home_files) / sizeof(home_files[0]); i++) {
        CM_TRY(fs_join(from, sizeof(from), ca->home, home_files[i].path));
        if (!fs_exists(from)) {
            char uri[PATH_MAX];
            if (home_files[i].optional == 1 ||
                (home_files[i].optional == 2 &&
                 fs_join(uri, sizeof(uri), ca->home, CA_KEY_URI_FILE) == CM_OK && fs_exists(uri)))
                continue;
            CM_FAIL(CM_ERR_NOTFOUND, "%s: missing from the CA home", from);
        }
        CM_TRY(fs_join(to, sizeof(to), dir, home_files[i].path));
        CM_TRY(copy_file(from, to, home_files[i].mode));
        CM_TRY(sha256_file(hex, to));
        CM_TRY(buf_printf(&man, "sha256 %s %s\n", hex, home_files[i].path));
    }
    /* The manifest last: a backup without one is incomplete. */
    CM_TRY(fs_join(to, sizeof(to), dir, BACKUP_MANIFEST));
    CM_TRY(fs_write_atomic(to, man.data, man.len, 0600));
    CM_TRY(db_begin(ca->db));
    rc = ca_audit(ca, "backup", 0, NULL, dir);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
out:
    buf_free(&snap);
    buf_free(&man);
    return rc;
}

/* Parses MANIFEST; calls file_cb for every "sha256 HEX PATH" line. */
static cm_err manifest_read(struct backup_marks *m, const char *dir,
                            cm_err (*file_cb)(void *ctx, const char *hex, const char *path),
                            void *ctx)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;
    char *line, *save = NULL;
    int lineno = 0, have_header = 0;

    memset(m, 0, sizeof(*m));
    CM_TRY(fs_join(path, sizeof(path), dir, BACKUP_MANIFEST));
    rc = fs_read_file(&data, &len, path, MANIFEST_MAX);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_INVALID, "%s: no MANIFEST: not a certmint backup (or an incomplete one)",
                dir);
    if (rc != CM_OK)
        goto out;
    for (line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[32], a[160], b[PATH_MAX];
        long long v;
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, "certmint-backup 1") != 0)
                CM_FAIL(CM_ERR_INVALID, "%s:1: not a certmint backup manifest (version 1)", path);
            have_header = 1;
            continue;
        }
        if (sscanf(line, "%31s", key) != 1)
            continue;
        if (strcmp(key, "sha256") == 0) {
            if (sscanf(line, "sha256 %159s %4095s", a, b) != 2 || strlen(a) != 64 ||
                strstr(b, "..") != NULL || b[0] == '/')
                CM_FAIL(CM_ERR_INVALID, "%s:%d: bad file line", path, lineno);
            if (file_cb)
                CM_TRY(file_cb(ctx, a, b));
        } else if (sscanf(line, "%31s %lld", key, &v) == 2) {
            if (strcmp(key, "last_request_id") == 0)
                m->last_request_id = v;
            else if (strcmp(key, "last_crl_number") == 0)
                m->last_crl_number = v;
            else if (strcmp(key, "last_event_id") == 0)
                m->last_event_id = v;
            else if (strcmp(key, "certificates") == 0)
                m->certificates = v;
        }
    }
    if (!have_header)
        CM_FAIL(CM_ERR_INVALID, "%s: empty manifest", path);
out:
    free(data);
    return rc;
}

struct verify_ctx {
    const char *dir;
    cm_buf listed; /* "\nNAME\n..." of every file line */
};

static cm_err verify_file(void *ctx, const char *hex, const char *rel)
{
    struct verify_ctx *v = ctx;
    char path[PATH_MAX], got[65];
    cm_err rc = fs_join(path, sizeof(path), v->dir, rel);
    if (rc != CM_OK)
        return rc;
    if (!fs_exists(path))
        return cm_err_set(CM_ERR_INVALID, "%s: listed in the manifest but missing", path);
    if ((rc = sha256_file(got, path)) != CM_OK)
        return rc;
    if (strcmp(got, hex) != 0)
        return cm_err_set(CM_ERR_INVALID, "%s: SHA-256 does not match the manifest (damaged)",
                          path);
    if (v->listed.len == 0 && (rc = buf_append(&v->listed, "\n", 1)) != CM_OK)
        return rc;
    return buf_printf(&v->listed, "%s\n", rel);
}

/* Every file of the database snapshot must be one the manifest lists (and
 * so hash-checked above): an unlisted one could be anything. */
static cm_err verify_listed(void *ctx, const char *name)
{
    struct verify_ctx *v = ctx;
    char needle[PATH_MAX + 2];
    cm_err rc = CM_OK;

    snprintf(needle, sizeof(needle), "\n%s\n", name);
    if (v->listed.len == 0 || (rc = buf_append(&v->listed, "", 1)) != CM_OK ||
        strstr((const char *)v->listed.data, needle) == NULL)
        return rc != CM_OK ? rc
                           : cm_err_set(CM_ERR_INVALID,
                                        "%s/%s: the manifest lists no database (%s is not in it)",
                                        v->dir, BACKUP_MANIFEST, name);
    v->listed.len--; /* drop the NUL again */
    return CM_OK;
}

cm_err backup_verify(struct backup_marks *marks, const char *dir)
{
    cm_err rc = CM_OK;
    struct verify_ctx v = {dir, CM_BUF_INIT(MANIFEST_MAX)};
    struct db_marks dm;
    struct backup_marks got;
    db_t *db = NULL;

    CM_TRY(manifest_read(marks, dir, verify_file, &v));
    /* Read-only: verifying leaves the backup byte for byte as it was. */
    rc = db_snapshot_open(&db, dir, verify_listed, &v);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_INVALID, "%s/%s: the manifest lists no database", dir, BACKUP_MANIFEST);
    if (rc != CM_OK)
        goto out;
    CM_TRY(db_check(db));
    CM_TRY(db_marks(db, &dm));
    marks_from_db(&got, &dm);
    if (got.last_request_id != marks->last_request_id ||
        got.last_crl_number != marks->last_crl_number ||
        got.last_event_id != marks->last_event_id || got.certificates != marks->certificates)
        CM_FAIL(CM_ERR_INVALID, "%s: database does not match the manifest's high-water marks", dir);
out:
    db_close(db);
    buf_free(&v.listed);
    return rc;
}

cm_err backup_raise_crl_number(db_t *db, const char *const *crl_files, size_t n, int64_t *highest)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0, i;
    X509_CRL *crl = NULL;
    ASN1_INTEGER *num = NULL;
    BIGNUM *bn = NULL;

    *highest = 0;
    for (i = 0; i < n; i++) {
        const unsigned char *p;
        BIO *mem;
        CM_TRY(fs_read_file(&data, &len, crl_files[i], (size_t)1 << 30));
        p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
        if (crl == NULL) {
            mem = BIO_new_mem_buf(data, (int)len);
            CM_NOMEM_IF(mem == NULL);
            crl = PEM_read_bio_X509_CRL(mem, NULL, NULL, NULL);
            BIO_free(mem);
        }
        if (crl == NULL)
            CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a CRL", crl_files[i]);
        num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
        if (num == NULL)
            CM_FAIL(CM_ERR_INVALID, "%s: CRL without a CRL number", crl_files[i]);
        bn = ASN1_INTEGER_to_BN(num, NULL);
        if (bn == NULL || BN_num_bits(bn) > 62)
            CM_FAIL(CM_ERR_INVALID, "%s: CRL number out of range", crl_files[i]);
        {
            int64_t v = (int64_t)BN_get_word(bn);
            if (v > *highest)
                *highest = v;
        }
        BN_free(bn);
        bn = NULL;
        ASN1_INTEGER_free(num);
        num = NULL;
        X509_CRL_free(crl);
        crl = NULL;
        free(data);
        data = NULL;
    }
    if (*highest > 0) {
        CM_TRY(db_begin(db));
        rc = db_counter_raise(db, "crl_number", *highest);
        if (rc == CM_OK)
            rc = db_commit(db);
        if (rc != CM_OK)
            db_rollback(db);
    }
out:
    BN_free(bn);
    ASN1_INTEGER_free(num);
    X509_CRL_free(crl);
    free(data);
    return rc;
}

struct restore_ctx {
    const char *from, *to;
};

/* Copies a file of the CA home from the backup; the database's files are
 * db_restore's (the snapshot is the backend's format). */
static cm_err restore_file(void *ctx, const char *hex, const char *rel)
{
    struct restore_ctx *r = ctx;
    char from[PATH_MAX], to[PATH_MAX], dirbuf[PATH_MAX], *slash;
    cm_err rc;
    mode_t mode = 0;
    (void)hex;
    for (size_t i = 0; i < sizeof(home_files) / sizeof(home_files[0]); i++)
        if (strcmp(rel, home_files[i].path) == 0)
            mode = home_files[i].mode;
    if (mode == 0)
        return CM_OK;
    if ((rc = fs_join(from, sizeof(from), r->from, rel)) != CM_OK ||
        (rc = fs_join(to, sizeof(to), r->to, rel)) != CM_OK)
        return rc;
    snprintf(dirbuf, sizeof(dirbuf), "%s", to);
    slash = strrchr(dirbuf, '/');
    if (slash != NULL) {
        *slash = '\0';
        if ((rc = fs_mkdirs(dirbuf, strstr(rel, "private/") ? 0700 : 0755)) != CM_OK)
            return rc;
    }
    return copy_file(from, to, mode);
}

/* restore --db URL: the restored home's database is that new PostgreSQL
 * database (docs/postgresql.md), whatever the backed-up CA used: its
 * configuration is rewritten before the database is restored. */
static cm_err restore_db_url(const char *tmp, const char *url)
{
    cm_config *c = NULL;
    char path[PATH_MAX];
    cm_err rc;

    CM_TRY(fs_join(path, sizeof(path), tmp, CA_CONF_FILE));
    CM_TRY(config_load(&c, path, 0));
    CM_TRY(config_set(c, "db.url", url));
    CM_TRY(config_save(c, path));
out:
    config_free(c);
    return rc;
}

/* The restore's own record in the restored database (one transaction). */
static cm_err restore_audit(const char *tmp_home, const char *dir, const char *actor)
{
    cm_err rc = CM_OK;
    db_t *db = NULL;
    struct db_audit a = {(int64_t)time(NULL), actor ? actor : "unknown", "restore", 0, NULL, dir};

    CM_TRY(db_open_home(&db, tmp_home, 0));
    CM_TRY(db_begin(db));
    rc = db_audit_append(db, &a);
    if (rc == CM_OK)
        rc = db_commit(db);
out:
    if (db != NULL)
        db_rollback(db);
    db_close(db);
    return rc;
}

/* The CA home o_home names, without trailing slashes, and the folder it is
 * in: "ca/" names the same home as "ca": the sibling paths of a restore
 * (HOME.restoring.PID, HOME.replaced.TIME) must not land inside it. */
static cm_err restore_home_paths(char home[PATH_MAX], char parent[PATH_MAX], const char *o_home)
{
    char *slash;
    size_t hl;

    hl = strlen(o_home);
    while (hl > 1 && o_home[hl - 1] == '/')
        hl--;
    if (hl == 0 || hl >= PATH_MAX || (hl == 1 && o_home[0] == '/'))
        return cm_err_set(CM_ERR_INVALID, "%s: not a place for a CA home", o_home);
    memcpy(home, o_home, hl);
    home[hl] = '\0';
    snprintf(parent, PATH_MAX, "%s", home);
    slash = strrchr(parent, '/');
    if (slash == NULL)
        snprintf(parent, PATH_MAX, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return CM_OK;
}

/* Fills the new home tmp from the backup in dir: its files, the database,
 * and the CRL number raised past the CRLs given (o->crl_files). */
static cm_err restore_fill(const char *tmp, const char *dir, const struct restore_opts *o)
{
    cm_err rc;
    struct restore_ctx r;
    struct backup_marks m2;
    char loc[PATH_MAX + 16];
    db_t *db = NULL;
    int64_t highest = 0;

    r.from = dir;
    r.to = tmp;
    rc = manifest_read(&m2, dir, restore_file, &r);
    if (rc == CM_OK && o->db_url != NULL)
        rc = restore_db_url(tmp, o->db_url);
    if (rc == CM_OK)
        rc = db_home_location(loc, sizeof(loc), tmp);
    if (rc == CM_OK)
        rc = db_restore(loc, dir);
    if (rc != CM_OK)
        return rc;
    if (o->ncrl_files > 0) {
        rc = db_open_home(&db, tmp, 0);
        if (rc == CM_OK)
            rc = backup_raise_crl_number(db, o->crl_files, o->ncrl_files, &highest);
        db_close(db);
        db = NULL;
    }
    return rc;
}

/* Moves the home being replaced aside to HOME.replaced.TIME, named in
 * moved_aside (left empty when nothing was moved). */
static cm_err restore_move_aside(char *moved_aside, size_t moved_aside_sz, const char *home)
{
    if (snprintf(moved_aside, moved_aside_sz, "%s.replaced.%ld", home, (long)time(NULL)) >=
        (int)moved_aside_sz) {
        moved_aside[0] = '\0';
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", home);
    }
    if (fs_exists(moved_aside)) {
        cm_err rc =
            cm_err_set(CM_ERR_EXISTS, "%s: already exists; try again in a second", moved_aside);
        moved_aside[0] = '\0';
        return rc;
    }
    if (rename(home, moved_aside) != 0) {
        cm_err rc = cm_err_set(CM_ERR_IO, "%s: cannot move aside: %s", home, strerror(errno));
        moved_aside[0] = '\0';
        return rc;
    }
    return CM_OK;
}

/* Removes the partial copy tmp of a failed restore (only files we wrote). */
static void restore_remove_partial(const char *tmp)
{
    char sub[PATH_MAX], loc[PATH_MAX + 16];

    for (size_t i = 0; i < sizeof(home_files) / sizeof(home_files[0]); i++)
        if (fs_join(sub, sizeof(sub), tmp, home_files[i].path) == CM_OK)
            unlink(sub);
    if (db_home_location(loc, sizeof(loc), tmp) == CM_OK)
        (void)db_remove(loc);
    if (fs_join(sub, sizeof(sub), tmp, "private") == CM_OK)
        rmdir(sub);
    if (fs_join(sub, sizeof(sub), tmp, CA_CRL_DIR) == CM_OK)
        rmdir(sub);
    rmdir(tmp);
}

cm_err backup_restore(struct backup_marks *marks, char *moved_aside, size_t moved_aside_sz,
                      const char *dir, const struct restore_opts *o)
{
    cm_err rc = CM_OK;
    char tmp[PATH_MAX], home[PATH_MAX], parent[PATH_MAX];

    moved_aside[0] = '\0';
    rc = restore_home_paths(home, parent, o->home);
    if (rc != CM_OK)
        return rc;
    CM_TRY(backup_verify(marks, dir));
    if (!fs_dir_empty_or_absent(home) && !o->force)
        CM_FAIL(CM_ERR_EXISTS,
                "%s: a CA home is already there; restore into a new directory (--home NEW) or "
                "give --force to replace it (it is moved aside, not deleted)",
                home);
    /* Build the restored home beside the target, then rename it into place,
     * so that a failed restore leaves nothing half-made. */
    if (snprintf(tmp, sizeof(tmp), "%s.restoring.%ld", home, (long)getpid()) >= (int)sizeof(tmp))
        CM_FAIL(CM_ERR_INVALID, "%s: path too long", home);
    CM_TRY(fs_mkdirs(tmp, 0700));
    rc = restore_fill(tmp, dir, o);
    if (rc == CM_OK)
        rc = restore_audit(tmp, dir, o->actor);
    if (rc != CM_OK)
        goto fail;
    if (fs_exists(home) && !fs_dir_empty_or_absent(home)) {
        rc = restore_move_aside(moved_aside, moved_aside_sz, home);
        if (rc != CM_OK)
            goto fail;
    } else if (fs_exists(home)) {
        rmdir(home);
    }
    if (rename(tmp, home) != 0) {
        rc = cm_err_set(CM_ERR_IO, "%s: cannot rename into place: %s", home, strerror(errno));
        /* Put the replaced home back: a failed restore changes nothing. */
        if (moved_aside[0] != '\0' && rename(moved_aside, home) == 0)
            moved_aside[0] = '\0';
        goto fail;
    }
    /* The renames are durable before the command says it restored. */
    CM_TRY(fs_sync_dir(parent));
    return CM_OK;
fail:
    restore_remove_partial(tmp);
out:
    return rc;
}
