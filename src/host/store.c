/* The host store: its directory, host.conf, the entries and their files. */
#include "host/host.h"

#include "ca/ca.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct host_store {
    char dir[PATH_MAX];
    struct host_kv conf;
};

/* Every key host.conf may set (docs/host.md, "host.conf"). */
static const char *const conf_keys[] = {
    "live_dir",       "postfix.config_dir", "postfix.postconf", "postfix.check",  "postfix.reload",
    "dovecot.config", "dovecot.ssl_file",   "dovecot.check",    "dovecot.reload", "nginx.config",
    "nginx.ssl_file", "nginx.check",        "nginx.reload",     "apache.config",  "apache.ssl_file",
    "apache.check",   "apache.reload",
};

static cm_err conf_load(host_store *st)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;

    CM_TRY(fs_join(path, sizeof(path), st->dir, "host.conf"));
    if (!fs_exists(path))
        goto out;
    CM_TRY(fs_read_file(&data, &len, path, HOST_MAX_FILE));
    CM_TRY(host_kv_parse(&st->conf, (const char *)data, len, path));
    for (size_t i = 0; i < st->conf.n; i++) {
        size_t k = 0;
        while (k < sizeof(conf_keys) / sizeof(conf_keys[0]) &&
               strcmp(conf_keys[k], st->conf.p[i].key) != 0)
            k++;
        if (k == sizeof(conf_keys) / sizeof(conf_keys[0]))
            CM_FAIL(CM_ERR_CONFIG, "%s: unknown key '%s' (docs/host.md lists them)", path,
                    st->conf.p[i].key);
    }
out:
    free(data);
    return rc;
}

cm_err host_store_open(host_store **out, const char *dir, int create)
{
    cm_err rc = CM_OK;
    host_store *st = NULL;
    struct stat sb;

    *out = NULL;
    st = calloc(1, sizeof(*st));
    CM_NOMEM_IF(st == NULL);
    if ((size_t)snprintf(st->dir, sizeof(st->dir), "%s", dir) >= sizeof(st->dir))
        CM_FAIL(CM_ERR_INVALID, "store %s: path too long", dir);
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT || !create)
            CM_FAIL(CM_ERR_NOTFOUND, "store %s: %s (host request creates it)", dir,
                    strerror(errno));
        CM_TRY(fs_mkdirs(dir, 0700));
        if (chmod(dir, 0700) != 0)
            CM_FAIL(CM_ERR_IO, "store %s: chmod: %s", dir, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        CM_FAIL(CM_ERR_INVALID, "store %s: not a directory", dir);
    } else if ((sb.st_mode & 077) != 0) {
        CM_FAIL(CM_ERR_CONFIG, "store %s: group or others may enter it (mode %03o); chmod 700 %s",
                dir, (unsigned)(sb.st_mode & 0777), dir);
    }
    CM_TRY(conf_load(st));
    *out = st;
    st = NULL;
out:
    host_store_close(st);
    return rc;
}

void host_store_close(host_store *st)
{
    if (st == NULL)
        return;
    host_kv_free(&st->conf);
    free(st);
}

const char *host_store_dir(const host_store *st)
{
    return st->dir;
}

const char *host_conf_get(const host_store *st, const char *key, const char *dflt)
{
    const char *v = host_kv_get(&st->conf, key);
    return v != NULL && v[0] != '\0' ? v : dflt;
}

cm_err host_name_check(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > HOST_NAME_MAX_LEN || name[0] == '.' || name[0] == '-')
        return cm_err_set(CM_ERR_INVALID,
                          "name '%s': 1 to %d characters of A-Z a-z 0-9 . _ -, not starting "
                          "with '.' or '-'",
                          name, HOST_NAME_MAX_LEN);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return cm_err_set(CM_ERR_INVALID, "name '%s': character '%c' not allowed", name, c);
    }
    return CM_OK;
}

cm_err host_entry_dir(char *out, size_t outsz, const host_store *st, const char *name)
{
    if (host_name_check(name) != CM_OK)
        return CM_ERR_INVALID;
    if ((size_t)snprintf(out, outsz, "%s/entries/%s", st->dir, name) >= outsz)
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", name);
    return CM_OK;
}

cm_err host_entry_file(char *out, size_t outsz, const host_store *st, const char *name,
                       const char *file)
{
    char dir[PATH_MAX];
    cm_err rc = host_entry_dir(dir, sizeof(dir), st, name);
    return rc != CM_OK ? rc : fs_join(out, outsz, dir, file);
}

cm_err host_entry_meta(struct host_kv *out, const host_store *st, const char *name)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;

    CM_TRY(host_entry_file(path, sizeof(path), st, name, "entry.conf"));
    if (!fs_exists(path))
        CM_FAIL(CM_ERR_NOTFOUND, "no entry '%s' in the store %s", name, st->dir);
    CM_TRY(fs_read_file(&data, &len, path, HOST_MAX_FILE));
    CM_TRY(host_kv_parse(out, (const char *)data, len, path));
out:
    free(data);
    return rc;
}

cm_err host_entry_meta_write(const host_store *st, const char *name, const struct host_kv *kv)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    cm_buf b = CM_BUF_INIT(HOST_MAX_FILE);

    CM_TRY(host_entry_file(path, sizeof(path), st, name, "entry.conf"));
    CM_TRY(buf_append_str(&b, "# certmint host entry (written by certmint; docs/host.md)\n"));
    for (size_t i = 0; i < kv->n; i++)
        CM_TRY(buf_printf(&b, "%s = %s\n", kv->p[i].key, kv->p[i].value));
    CM_TRY(fs_write_atomic(path, b.data, b.len, 0600));
out:
    buf_free(&b);
    return rc;
}

/* A key that entry.conf calls clear must not make OpenSSL ask on the
 * terminal for a passphrase. */
static int no_prompt(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int host_entry_in_token(const struct host_kv *meta)
{
    const char *u = host_kv_get(meta, "key_uri");
    return u != NULL && u[0] != '\0';
}

cm_err host_entry_key(EVP_PKEY **out, const host_store *st, const char *name, const char *pass_file)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX], pass[1024];
    struct host_kv kv = {0, NULL};
    const char *enc;

    *out = NULL;
    pass[0] = '\0';
    CM_TRY(host_entry_meta(&kv, st, name));
    if (host_entry_in_token(&kv))
        CM_FAIL(CM_ERR_UNSUPPORTED,
                "the key of '%s' is in a PKCS#11 token (%s) and never leaves it: a service "
                "or a file that needs the key cannot have it (docs/host.md)",
                name, host_kv_get(&kv, "key_uri"));
    CM_TRY(host_entry_file(path, sizeof(path), st, name, "key.pem"));
    enc = host_kv_get(&kv, "encrypted");
    if (enc != NULL && strcmp(enc, "yes") == 0) {
        if (pass_file == NULL)
            CM_FAIL(CM_ERR_AUTH, "%s: the key of '%s' is encrypted: give --key-passphrase-file",
                    path, name);
        CM_TRY(key_read_passphrase(pass, sizeof(pass), pass_file, 0));
        CM_TRY(key_load_encrypted(out, path, pass));
    } else {
        FILE *f = fopen(path, "r");
        if (f == NULL)
            CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
        *out = PEM_read_PrivateKey(f, NULL, no_prompt, NULL);
        fclose(f);
        if (*out == NULL)
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: not a private key", path);
    }
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    host_kv_free(&kv);
    return rc;
}
