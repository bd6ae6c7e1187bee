/* host enable (Enable-ExchangeCertificate -Services): deploy a certificate
 * to Postfix, Dovecot and nginx, each checked by its own tool before it is
 * reloaded, everything restored when one of them fails. */
#include "host/edit.h"
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
#include <unistd.h>

/* The four programs behind the five services. */
enum { SVC_POSTFIX, SVC_DOVECOT, SVC_NGINX, SVC_APACHE, SVC_N };
static const struct svc_def {
    const char *id;
    unsigned mask;
    const char *config_key, *config_dflt; /* what {config} stands for */
    const char *file_key, *file_dflt;     /* the file edited (postfix: main.cf in config) */
    const char *check_dflt, *reload_dflt;
} svc_defs[SVC_N] = {
    {"postfix", HOST_SMTP, "postfix.config_dir", "/etc/postfix", NULL, NULL,
     "postfix -c {config} check", "postfix -c {config} reload"},
    {"dovecot", HOST_IMAP | HOST_POP, "dovecot.config", "/etc/dovecot/dovecot.conf",
     "dovecot.ssl_file", "/etc/dovecot/conf.d/10-ssl.conf", "doveconf -c {config} -n",
     "doveadm -c {config} reload"},
    {"nginx", HOST_HTTPS, "nginx.config", "/etc/nginx/nginx.conf", "nginx.ssl_file",
     "/etc/nginx/snippets/certmint-ssl.conf", "nginx -t -q -c {config}",
     "nginx -s reload -c {config}"},
    /* Debian's apache2ctl sets the APACHE_* variables and passes the rest
     * to apache2; graceful lets open connections finish. */
    {"apache", HOST_APACHE, "apache.config", "/etc/apache2/apache2.conf", "apache.ssl_file",
     "/etc/apache2/sites-available/default-ssl.conf", "apache2ctl -f {config} -t",
     "apache2ctl -f {config} -k graceful"},
};

/* One configuration file as it was before the edit. */
struct svc_file {
    char path[PATH_MAX];
    unsigned char *orig;
    size_t len;
    int existed, saved;
};

/* What the services read: live/SHA1/. */
struct live {
    char dir[PATH_MAX], cert[PATH_MAX], chain[PATH_MAX], full[PATH_MAX], key[PATH_MAX];
    char sha1[41];
};

static cm_err copy_entry_file(cm_buf *b, host_store *st, const char *name, const char *file)
{
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;
    cm_err rc = host_entry_file(path, sizeof(path), st, name, file);

    if (rc == CM_OK)
        rc = fs_read_file(&data, &len, path, HOST_MAX_FILE);
    if (rc == CM_OK)
        rc = buf_append(b, data, len);
    free(data);
    return rc;
}

static cm_err write_key_clear(const char *path, EVP_PKEY *k)
{
    BIO *mem = BIO_new(BIO_s_secmem());
    char *p = NULL;
    long n;
    cm_err rc = CM_OK;

    if (mem == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    if (PEM_write_bio_PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL) != 1)
        rc = cm_err_ossl(CM_ERR_CRYPTO, "encoding the key");
    n = BIO_get_mem_data(mem, &p);
    if (rc == CM_OK)
        rc = fs_write_atomic(path, p, (size_t)n, 0600);
    BIO_free(mem);
    return rc;
}

static cm_err live_paths(struct live *l, const host_store *st, const char *sha1)
{
    char base[PATH_MAX];
    const char *ld = host_conf_get(st, "live_dir", NULL);

    if (ld == NULL) {
        cm_err rc = fs_join(base, sizeof(base), host_store_dir(st), "live");
        if (rc != CM_OK)
            return rc;
        ld = base;
    }
    snprintf(l->sha1, sizeof(l->sha1), "%s", sha1);
    if (fs_join(l->dir, sizeof(l->dir), ld, sha1) != CM_OK ||
        fs_join(l->cert, sizeof(l->cert), l->dir, "cert.pem") != CM_OK ||
        fs_join(l->chain, sizeof(l->chain), l->dir, "chain.pem") != CM_OK ||
        fs_join(l->full, sizeof(l->full), l->dir, "fullchain.pem") != CM_OK ||
        fs_join(l->key, sizeof(l->key), l->dir, "key.pem") != CM_OK)
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", ld);
    return CM_OK;
}

/* Writes live/SHA1/: cert, chain, cert+chain, and the key in clear (0600). */
static cm_err write_live(struct live *l, host_store *st, const char *name, const char *sha1,
                         const char *key_pass)
{
    cm_err rc = CM_OK;
    cm_buf cert = CM_BUF_INIT(HOST_MAX_FILE), chain = CM_BUF_INIT(HOST_MAX_FILE);
    EVP_PKEY *k = NULL;

    CM_TRY(live_paths(l, st, sha1));
    CM_TRY(copy_entry_file(&cert, st, name, "cert.pem"));
    CM_TRY(copy_entry_file(&chain, st, name, "chain.pem"));
    CM_TRY(host_entry_key(&k, st, name, key_pass));
    CM_TRY(fs_mkdirs(l->dir, 0700));
    CM_TRY(write_key_clear(l->key, k));
    CM_TRY(fs_write_atomic(l->cert, cert.data, cert.len, 0644));
    CM_TRY(fs_write_atomic(l->chain, chain.data ? (void *)chain.data : "", chain.len, 0644));
    CM_TRY(buf_append(&cert, chain.data, chain.len));
    CM_TRY(fs_write_atomic(l->full, cert.data, cert.len, 0644));
out:
    EVP_PKEY_free(k);
    buf_free(&cert);
    buf_free(&chain);
    return rc;
}

/* Keeps the file's content, and a copy beside it (FILE.certmint-bak). */
static cm_err svc_save(struct svc_file *f, const char *path)
{
    char bak[PATH_MAX];
    cm_err rc;

    snprintf(f->path, sizeof(f->path), "%s", path);
    f->existed = fs_exists(path);
    if (f->existed) {
        if ((rc = fs_read_file(&f->orig, &f->len, path, HOST_MAX_FILE)) != CM_OK)
            return rc;
        if ((size_t)snprintf(bak, sizeof(bak), "%s.certmint-bak", path) >= sizeof(bak))
            return cm_err_set(CM_ERR_INVALID, "%s: path too long", path);
        if ((rc = fs_write_atomic(bak, f->orig, f->len, 0600)) != CM_OK)
            return rc;
    }
    f->saved = 1;
    return CM_OK;
}

static void svc_restore(struct svc_file *f)
{
    if (!f->saved)
        return;
    if (!f->existed)
        (void)unlink(f->path);
    else if (fs_write_atomic(f->path, f->orig ? (void *)f->orig : "", f->len, 0644) != CM_OK)
        fprintf(stderr, "certmint: could not restore %s: %s (the copy is %s.certmint-bak)\n",
                f->path, cm_err_msg(), f->path);
}

static cm_err run_conf_cmd(const host_store *st, const struct svc_def *d, const char *which,
                           const char *dflt, const char *extra)
{
    char key[64], **argv = NULL, *words = NULL, what[96];
    const char *argv2[80];
    cm_err rc;
    size_t n = 0;

    snprintf(key, sizeof(key), "%s.%s", d->id, which);
    snprintf(what, sizeof(what), "%s %s", d->id, which);
    rc = host_split(&argv, &words, host_conf_get(st, key, dflt),
                    host_conf_get(st, d->config_key, d->config_dflt));
    if (rc != CM_OK)
        return cm_err_prefix(rc, "%s (host.conf)", key);
    while (argv[n] != NULL && n < 76) {
        argv2[n] = argv[n];
        n++;
    }
    if (extra != NULL) {
        argv2[n++] = "-e";
        argv2[n++] = extra;
    }
    argv2[n] = NULL;
    rc = host_run(argv2, NULL, what);
    free(argv);
    free(words);
    return rc;
}

/* Points the service at live/SHA1/ (the file is saved first). */
static cm_err svc_edit(struct svc_file *f, const host_store *st, const struct svc_def *d,
                       const struct live *l)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX], val[2 * PATH_MAX + 40], kv2[2][PATH_MAX + 2];
    cm_buf b = CM_BUF_INIT(HOST_MAX_FILE * 2);

    if (d->file_key == NULL) {
        /* Postfix 3.4+: one list of key then certificates (postconf(5),
         * smtpd_tls_chain_files); postconf -e edits main.cf in place. */
        CM_TRY(fs_join(path, sizeof(path), host_conf_get(st, d->config_key, d->config_dflt),
                       "main.cf"));
        CM_TRY(svc_save(f, path));
        snprintf(val, sizeof(val), "smtpd_tls_chain_files = %s, %s", l->key, l->full);
        CM_TRY(run_conf_cmd(st, d, "postconf", "postconf -c {config}", val));
        goto out;
    }
    snprintf(path, sizeof(path), "%s", host_conf_get(st, d->file_key, d->file_dflt));
    CM_TRY(svc_save(f, path));
    if (strcmp(d->id, "dovecot") == 0) {
        /* Dovecot reads "<FILE" as the file's content; ssl_cert carries the chain. */
        snprintf(kv2[0], sizeof(kv2[0]), "<%s", l->full);
        snprintf(kv2[1], sizeof(kv2[1]), "<%s", l->key);
        struct host_directive dd[2] = {{"ssl_cert", kv2[0]}, {"ssl_key", kv2[1]}};
        CM_TRY(host_edit_directives(&b, f->orig ? (char *)f->orig : "", f->len, dd, 2,
                                    HOST_SYNTAX_DOVECOT));
    } else if (strcmp(d->id, "apache") == 0) {
        /* Apache 2.4.8+: the file may hold the chain after the certificate
         * (mod_ssl, SSLCertificateFile); SSLCertificateChainFile is obsolete. */
        struct host_directive da[2] = {{"SSLCertificateFile", l->full},
                                       {"SSLCertificateKeyFile", l->key}};
        CM_TRY(host_edit_directives(&b, f->orig ? (char *)f->orig : "", f->len, da, 2,
                                    HOST_SYNTAX_APACHE));
    } else {
        struct host_directive dn[2] = {{"ssl_certificate", l->full},
                                       {"ssl_certificate_key", l->key}};
        CM_TRY(host_edit_directives(&b, f->orig ? (char *)f->orig : "", f->len, dn, 2,
                                    HOST_SYNTAX_NGINX));
    }
    CM_TRY(fs_write_atomic(path, b.data, b.len, 0644));
out:
    buf_free(&b);
    return rc;
}

/* The deploy hook `which` of the entry, with the paths in its environment
 * (docs/host.md, "Hooks"). */
static cm_err run_hook(const struct host_kv *meta, const char *which, const char *name,
                       const struct live *l, const char *services)
{
    const char *cmd = host_kv_get(meta, which);
    char **argv = NULL, *words = NULL, e[8][PATH_MAX + 40];
    const char *env[9];
    cm_err rc;

    if (cmd == NULL || cmd[0] == '\0')
        return CM_OK;
    snprintf(e[0], sizeof(e[0]), "CERTMINT_HOST_NAME=%s", name);
    snprintf(e[1], sizeof(e[1]), "CERTMINT_HOST_THUMBPRINT=%s", l->sha1);
    snprintf(e[2], sizeof(e[2]), "CERTMINT_HOST_CERT=%s", l->cert);
    snprintf(e[3], sizeof(e[3]), "CERTMINT_HOST_CHAIN=%s", l->chain);
    snprintf(e[4], sizeof(e[4]), "CERTMINT_HOST_FULLCHAIN=%s", l->full);
    snprintf(e[5], sizeof(e[5]), "CERTMINT_HOST_KEY=%s", l->key);
    snprintf(e[6], sizeof(e[6]), "CERTMINT_HOST_SERVICES=%s", services);
    snprintf(e[7], sizeof(e[7]), "CERTMINT_HOST_HOOK=%s", which);
    for (int i = 0; i < 8; i++)
        env[i] = e[i];
    env[8] = NULL;
    rc = host_split(&argv, &words, cmd, NULL);
    if (rc == CM_OK)
        rc = host_run((const char *const *)argv, env, which);
    free(argv);
    free(words);
    return rc;
}

/* Edits and checks every service of mask; on failure restores them all. */
static cm_err edit_and_check(struct svc_file *f, const host_store *st, unsigned mask,
                             const struct live *l)
{
    cm_err rc = CM_OK;

    for (int i = 0; i < SVC_N; i++) {
        if (!(svc_defs[i].mask & mask))
            continue;
        CM_TRY(svc_edit(&f[i], st, &svc_defs[i], l));
        CM_TRY(run_conf_cmd(st, &svc_defs[i], "check", svc_defs[i].check_dflt, NULL));
    }
out:
    if (rc != CM_OK)
        for (int i = 0; i < SVC_N; i++)
            svc_restore(&f[i]);
    return rc;
}

/* Reloads every service of mask; when one fails, restores every file and
 * reloads the services again with their old configuration. */
static cm_err reload_all(struct svc_file *f, const host_store *st, unsigned mask)
{
    cm_err rc = CM_OK;

    for (int i = 0; i < SVC_N && rc == CM_OK; i++)
        if (svc_defs[i].mask & mask)
            rc = run_conf_cmd(st, &svc_defs[i], "reload", svc_defs[i].reload_dflt, NULL);
    if (rc == CM_OK)
        return CM_OK;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", cm_err_msg());
    for (int i = 0; i < SVC_N; i++) {
        svc_restore(&f[i]);
        if ((svc_defs[i].mask & mask) &&
            run_conf_cmd(st, &svc_defs[i], "reload", svc_defs[i].reload_dflt, NULL) != CM_OK)
            fprintf(stderr, "certmint: reloading %s with its old configuration: %s\n",
                    svc_defs[i].id, cm_err_msg());
    }
    return cm_err_set(rc, "%s; the previous configuration is restored", msg);
}

static const struct {
    const char *name;
    unsigned mask;
} svc_names[] = {
    {"smtp", HOST_SMTP},   {"imap", HOST_IMAP},     {"pop", HOST_POP},
    {"https", HOST_HTTPS}, {"apache", HOST_APACHE},
};

cm_err host_services_parse(unsigned *out, const char *s)
{
    const char *p = s;

    *out = 0;
    while (*p != '\0') {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p), i;
        for (i = 0; i < sizeof(svc_names) / sizeof(svc_names[0]); i++)
            if (strlen(svc_names[i].name) == l && strncmp(p, svc_names[i].name, l) == 0)
                break;
        if (i == sizeof(svc_names) / sizeof(svc_names[0]))
            return cm_err_set(
                CM_ERR_INVALID,
                "--services %s: '%.*s' is not a service (smtp, imap, pop, https, apache)", s,
                (int)l, p);
        *out |= svc_names[i].mask;
        p = e ? e + 1 : p + l;
    }
    if (*out == 0)
        return cm_err_set(CM_ERR_INVALID, "--services: give smtp, imap, pop, https or apache");
    return CM_OK;
}

void host_services_name(char *out, size_t outsz, unsigned mask)
{
    size_t l = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(svc_names) / sizeof(svc_names[0]); i++)
        if ((mask & svc_names[i].mask) && l < outsz)
            l += (size_t)snprintf(out + l, outsz - l, "%s%s", l ? "," : "", svc_names[i].name);
}

/* The services are this entry's now: added here, taken from any other
 * entry that had them (as Exchange moves a service to the new
 * certificate). */
static cm_err move_services(host_store *st, const char *name, unsigned mask)
{
    cm_err rc = CM_OK;
    char dir[PATH_MAX], buf[64];
    DIR *d = NULL;
    struct dirent *de;
    struct host_kv kv = {0, NULL};
    unsigned have;

    CM_TRY(fs_join(dir, sizeof(dir), host_store_dir(st), "entries"));
    if ((d = opendir(dir)) == NULL)
        CM_FAIL(CM_ERR_IO, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || host_name_check(de->d_name) != CM_OK) {
            cm_err_clear();
            continue;
        }
        host_kv_free(&kv);
        if (host_entry_meta(&kv, st, de->d_name) != CM_OK) {
            cm_err_clear();
            continue;
        }
        const char *sv = host_kv_get(&kv, "services");
        if (sv == NULL || sv[0] == '\0' || host_services_parse(&have, sv) != CM_OK)
            have = 0;
        unsigned now = strcmp(de->d_name, name) == 0 ? (have | mask) : (have & ~mask);
        if (now == have && strcmp(de->d_name, name) != 0)
            continue;
        host_services_name(buf, sizeof(buf), now);
        CM_TRY(host_kv_set(&kv, "services", buf));
        CM_TRY(host_entry_meta_write(st, de->d_name, &kv));
    }
out:
    host_kv_free(&kv);
    if (d != NULL)
        closedir(d);
    return rc;
}

/* The recorded message, copied (cm_err_set must not format its own buffer). */
static const char *msg_copy(char *buf, size_t sz)
{
    snprintf(buf, sz, "%s", cm_err_msg());
    return buf;
}

cm_err host_enable(host_store *st, const char *name, unsigned services, const char *key_pass)
{
    cm_err rc = CM_OK;
    struct host_info i;
    struct host_kv meta = {0, NULL};
    struct svc_file f[SVC_N];
    struct live l;
    char names[64], msg[1024];

    memset(&i, 0, sizeof(i));
    memset(f, 0, sizeof(f));
    CM_TRY(host_info_get(&i, st, name));
    if (!i.has_cert)
        CM_FAIL(CM_ERR_STATE, "'%s' has no certificate yet (host import)", name);
    CM_TRY(host_entry_meta(&meta, st, name));
    if (host_entry_in_token(&meta))
        CM_FAIL(CM_ERR_UNSUPPORTED,
                "'%s': its key is in a PKCS#11 token, and Postfix, Dovecot and nginx read "
                "their key from a file (live/SHA1/key.pem): nothing changed. Such a key serves "
                "a program that loads it from the token itself (docs/host.md)",
                name);
    host_services_name(names, sizeof(names), services);
    CM_TRY(write_live(&l, st, name, i.sha1, key_pass));
    if ((rc = run_hook(&meta, "pre_deploy", name, &l, names)) != CM_OK)
        CM_FAIL(rc, "the pre-deploy hook failed, nothing changed: %s", msg_copy(msg, sizeof(msg)));
    CM_TRY(edit_and_check(f, st, services, &l));
    CM_TRY(reload_all(f, st, services));
    CM_TRY(move_services(st, name, services));
    rc = run_hook(&meta, "post_deploy", name, &l, names);
    if (rc != CM_OK)
        CM_FAIL(rc, "deployed to %s, but the post-deploy hook failed: %s", names,
                msg_copy(msg, sizeof(msg)));
out:
    for (int k = 0; k < SVC_N; k++)
        free(f[k].orig);
    host_kv_free(&meta);
    host_info_clear(&i);
    return rc;
}

cm_err host_set_hook(host_store *st, const char *name, const char *which, const char *command)
{
    cm_err rc = CM_OK;
    struct host_kv kv = {0, NULL};
    char **argv = NULL, *words = NULL;

    if (strcmp(which, "pre_deploy") != 0 && strcmp(which, "post_deploy") != 0)
        return cm_err_set(CM_ERR_INVALID, "no hook '%s'", which);
    if (command != NULL && command[0] != '\0') {
        CM_TRY(host_split(&argv, &words, command, NULL));
        if (strchr(command, '\n') != NULL)
            CM_FAIL(CM_ERR_INVALID, "hook command: one line");
    }
    CM_TRY(host_entry_meta(&kv, st, name));
    CM_TRY(host_kv_set(&kv, which, command ? command : ""));
    CM_TRY(host_entry_meta_write(st, name, &kv));
out:
    free(argv);
    free(words);
    host_kv_free(&kv);
    return rc;
}
