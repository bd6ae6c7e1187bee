/* host list / show / remove: what an entry holds, found by name or
 * thumbprint (Get-ExchangeCertificate). */
#include "host/host.h"

#include "ca/ca.h"
#include "ca/name.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/text.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void host_info_clear(struct host_info *i)
{
    if (i == NULL)
        return;
    free(i->subject);
    free(i->sans);
    free(i->issuer);
    free(i->services);
    memset(i, 0, sizeof(*i));
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

static cm_err info_from_cert(struct host_info *i, X509 *x)
{
    cm_err rc = CM_OK;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    struct san_list sl = SAN_LIST_INIT;

    if (X509_digest(x, EVP_sha1(), md, &mdlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-1 of the certificate");
    text_hex(i->sha1, md, mdlen);
    if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-256 of the certificate");
    text_hex(i->sha256, md, mdlen);
    free(i->subject);
    free(i->issuer);
    free(i->sans);
    i->subject = i->issuer = i->sans = NULL;
    CM_TRY(name_to_string(&i->subject, X509_get_subject_name(x)));
    CM_TRY(name_to_string(&i->issuer, X509_get_issuer_name(x)));
    CM_TRY(san_from_cert(&sl, x));
    CM_TRY(san_list_to_string(&i->sans, &sl));
    i->not_before = asn1_time_unix(X509_get0_notBefore(x));
    i->not_after = asn1_time_unix(X509_get0_notAfter(x));
    i->has_cert = 1;
out:
    san_list_free(&sl);
    return rc;
}

static cm_err read_cert_file(X509 **out, const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    cm_err rc = fs_read_file(&data, &len, path, CA_MAX_CERT_BYTES);

    if (rc == CM_OK)
        rc = ca_cert_parse(out, data, len, path);
    free(data);
    return rc;
}

cm_err host_info_get(struct host_info *out, host_store *st, const char *name)
{
    cm_err rc = CM_OK;
    struct host_kv kv = {0, NULL};
    char path[PATH_MAX];
    const char *v;
    X509 *x = NULL;

    memset(out, 0, sizeof(*out));
    CM_TRY(host_entry_meta(&kv, st, name));
    snprintf(out->name, sizeof(out->name), "%s", name);
    v = host_kv_get(&kv, "key");
    snprintf(out->key, sizeof(out->key), "%s%s", host_entry_in_token(&kv) ? "pkcs11 " : "",
             v ? v : "?");
    v = host_kv_get(&kv, "exportable");
    out->exportable = v != NULL && strcmp(v, "yes") == 0;
    v = host_kv_get(&kv, "encrypted");
    out->encrypted = v != NULL && strcmp(v, "yes") == 0;
    v = host_kv_get(&kv, "services");
    out->services = strdup(v ? v : "");
    CM_NOMEM_IF(out->services == NULL);
    CM_TRY(host_entry_file(path, sizeof(path), st, name, "cert.pem"));
    if (fs_exists(path)) {
        CM_TRY(read_cert_file(&x, path));
        CM_TRY(info_from_cert(out, x));
    }
out:
    X509_free(x);
    host_kv_free(&kv);
    if (rc != CM_OK)
        host_info_clear(out);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The entry names, sorted. */
static cm_err entry_names(char ***names, size_t *n, host_store *st)
{
    cm_err rc = CM_OK;
    char dir[PATH_MAX];
    DIR *d = NULL;
    struct dirent *de;

    *names = NULL;
    *n = 0;
    CM_TRY(fs_join(dir, sizeof(dir), host_store_dir(st), "entries"));
    if ((d = opendir(dir)) == NULL) {
        if (errno == ENOENT)
            goto out;
        CM_FAIL(CM_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || host_name_check(de->d_name) != CM_OK) {
            cm_err_clear();
            continue;
        }
        char **nn = realloc(*names, (*n + 1) * sizeof(char *));
        CM_NOMEM_IF(nn == NULL);
        *names = nn;
        CM_NOMEM_IF(((*names)[*n] = strdup(de->d_name)) == NULL);
        (*n)++;
    }
    qsort(*names, *n, sizeof(char *), name_cmp);
out:
    if (d != NULL)
        closedir(d);
    return rc;
}

cm_err host_list(host_store *st, host_list_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    char **names = NULL;
    size_t n = 0;
    struct host_info i;

    memset(&i, 0, sizeof(i));
    CM_TRY(entry_names(&names, &n, st));
    for (size_t k = 0; k < n; k++) {
        CM_TRY(host_info_get(&i, st, names[k]));
        rc = cb(ctx, &i);
        host_info_clear(&i);
        if (rc != CM_OK)
            goto out;
    }
out:
    names_free(names, n);
    return rc;
}

cm_err host_find(char name[HOST_NAME_MAX_LEN + 1], host_store *st, const char *which)
{
    cm_err rc = CM_OK;
    char **names = NULL, thumb[65], hits[256];
    size_t n = 0, nhit = 0, tl;
    struct host_info i;

    memset(&i, 0, sizeof(i));
    hits[0] = '\0';
    /* A NAME first: names and thumbprints can look alike ("abcd"). */
    if (host_name_check(which) == CM_OK && host_info_get(&i, st, which) == CM_OK) {
        snprintf(name, HOST_NAME_MAX_LEN + 1, "%s", which);
        goto out;
    }
    cm_err_clear();
    if (host_thumb_parse(thumb, which) != CM_OK)
        CM_FAIL(CM_ERR_NOTFOUND, "'%s': no entry of that name, and not a thumbprint", which);
    tl = strlen(thumb);
    CM_TRY(entry_names(&names, &n, st));
    for (size_t k = 0; k < n; k++) {
        host_info_clear(&i);
        CM_TRY(host_info_get(&i, st, names[k]));
        if (!i.has_cert || (strncmp(i.sha1, thumb, tl) != 0 && strncmp(i.sha256, thumb, tl) != 0))
            continue;
        if (nhit++ == 0)
            snprintf(name, HOST_NAME_MAX_LEN + 1, "%s", names[k]);
        size_t hl = strlen(hits);
        snprintf(hits + hl, sizeof(hits) - hl, "%s%s", hl ? ", " : "", names[k]);
    }
    if (nhit == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "no certificate with thumbprint %s in the store %s", thumb,
                host_store_dir(st));
    if (nhit > 1)
        CM_FAIL(CM_ERR_INVALID, "thumbprint %s matches %zu certificates (%s): give more digits",
                thumb, nhit, hits);
out:
    host_info_clear(&i);
    names_free(names, n);
    return rc;
}

cm_err host_info_json(cm_buf *b, const struct host_info *i)
{
    cm_err rc;
    int first = 1;

    rc = buf_append_str(b, "{");
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "name", i->name);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "thumbprint", i->has_cert ? i->sha1 : NULL);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "sha256", i->has_cert ? i->sha256 : NULL);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "subject", i->subject);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "sans", i->sans);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "issuer", i->issuer);
    if (rc == CM_OK)
        rc = json_append_kv_time(b, &first, "not_before", i->not_before);
    if (rc == CM_OK)
        rc = json_append_kv_time(b, &first, "not_after", i->not_after);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "key", i->key);
    if (rc == CM_OK)
        rc = json_append_kv_bool(b, &first, "exportable", i->exportable);
    if (rc == CM_OK)
        rc = json_append_kv_bool(b, &first, "pending", !i->has_cert);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "services", i->services);
    if (rc == CM_OK)
        rc = buf_append_str(b, "}");
    return rc;
}

cm_err host_remove_tree(const char *dir)
{
    cm_err rc = CM_OK;
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[PATH_MAX];

    if (d == NULL)
        return errno == ENOENT ? CM_OK : cm_err_set(CM_ERR_IO, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        CM_TRY(fs_join(path, sizeof(path), dir, de->d_name));
        if (de->d_type == DT_DIR)
            CM_TRY(host_remove_tree(path));
        else if (unlink(path) != 0)
            CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (rmdir(dir) != 0)
        CM_FAIL(CM_ERR_IO, "%s: %s", dir, strerror(errno));
out:
    closedir(d);
    return rc;
}

cm_err host_remove(host_store *st, const char *name, int force)
{
    cm_err rc = CM_OK;
    struct host_info i;
    char dir[PATH_MAX], tmp[PATH_MAX];

    memset(&i, 0, sizeof(i));
    CM_TRY(host_info_get(&i, st, name));
    if (i.services[0] != '\0' && !force)
        CM_FAIL(CM_ERR_STATE,
                "'%s' is enabled for %s: enable another certificate first, or --force", name,
                i.services);
    CM_TRY(host_entry_dir(dir, sizeof(dir), st, name));
    /* Renamed away first, so that a crash leaves no half-removed entry. */
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/entries/.removing-%s", host_store_dir(st), name) >=
        sizeof(tmp))
        CM_FAIL(CM_ERR_INVALID, "%s: path too long", name);
    CM_TRY(host_remove_tree(tmp));
    if (rename(dir, tmp) != 0)
        CM_FAIL(CM_ERR_IO, "%s: %s", dir, strerror(errno));
    CM_TRY(host_remove_tree(tmp));
out:
    host_info_clear(&i);
    return rc;
}
