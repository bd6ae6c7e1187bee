/* The file exit module: one JSON record per event (and the issued
 * certificate as PEM) written atomically into exit.file.dir, for shipping to
 * a remote share or a log system. File names sort in event order:
 * EVENTID-EVENTNAME.json, with IDs zero-padded. Writing the same event again
 * (at-least-once delivery) replaces the file with identical content. */
#include "exit/exit.h"
#include "ca/ca_int.h"

#include "ca/ca.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct file_state {
    char dir[PATH_MAX];
    int offbox;
    const struct exit_ca_info *info;
};

static int file_offbox(void *state)
{
    return ((struct file_state *)state)->offbox;
}

static cm_err file_init(void **out, struct ca_ctx *ca, const struct exit_ca_info *info)
{
    struct file_state *s;
    const char *dir = config_get(ca->cfg, "exit.file.dir");
    cm_err rc;

    *out = NULL;
    if (dir == NULL || *dir == '\0')
        return cm_err_set(CM_ERR_CONFIG, "exit.file.dir is not set");
    if (strlen(dir) >= sizeof(s->dir))
        return cm_err_set(CM_ERR_CONFIG, "exit.file.dir: path too long");
    if ((rc = fs_mkdirs(dir, 0700)) != CM_OK)
        return rc;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    s->offbox = config_get_bool(ca->cfg, "exit.file.offbox");
    s->info = info;
    *out = s;
    return CM_OK;
}

static cm_err pem_of(char **out, const unsigned char *der, size_t len)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *p;
    long n;
    *out = NULL;
    if (mem == NULL || !PEM_write_bio(mem, "CERTIFICATE", "", der, (long)len)) {
        BIO_free(mem);
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot encode the certificate");
    }
    n = BIO_get_mem_data(mem, &p);
    *out = strndup(p, (size_t)n);
    BIO_free(mem);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

static cm_err record_json(cm_buf *b, const struct file_state *s, const struct exit_event_ctx *e,
                          const char *pem)
{
    cm_err rc = CM_OK;
    char num[32], when[32];
    int first = 1;
    struct tm tm;
    time_t t = (time_t)e->ev->created;

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    CM_TRY(buf_append_str(b, "{"));
    CM_TRY(json_append_kv(b, &first, "event", exit_event_name(e->ev->type)));
    snprintf(num, sizeof(num), "%lld", (long long)e->ev->id);
    CM_TRY(json_append_kv(b, &first, "event_id", num));
    CM_TRY(json_append_kv(b, &first, "when", when));
    CM_TRY(json_append_kv(b, &first, "ca", s->info->dn));
    CM_TRY(json_append_kv(b, &first, "ca_key_id", s->info->key_id));
    if (e->ev->request_id > 0) {
        snprintf(num, sizeof(num), "%lld", (long long)e->ev->request_id);
        CM_TRY(json_append_kv(b, &first, "request_id", num));
    }
    if (e->ev->serial[0])
        CM_TRY(json_append_kv(b, &first, "serial", e->ev->serial));
    if (e->ev->payload != NULL)
        CM_TRY(buf_printf(b, ",\"payload\":%s", e->ev->payload));
    if (e->values != NULL) {
        int f2 = 1;
        CM_TRY(buf_append_str(b, ",\"columns\":{"));
        for (size_t i = 0; i < db_ncolumns; i++) {
            if (db_columns[i].type == DB_COL_BLOB || e->values[i] == NULL)
                continue;
            CM_TRY(json_append_kv(b, &f2, db_columns[i].name, e->values[i]));
        }
        CM_TRY(buf_append_str(b, "}"));
    }
    if (pem != NULL)
        CM_TRY(json_append_kv(b, &first, "certificate", pem));
    CM_TRY(buf_append_str(b, "}\n"));
out:
    return rc;
}

static cm_err file_deliver(void *state, const struct exit_event_ctx *const *evs, size_t n,
                           size_t *acked, int *poison)
{
    struct file_state *s = state;
    cm_err rc = CM_OK;
    size_t i;

    *acked = 0;
    *poison = 0; /* no event-specific failure: every error waits for a fix */
    for (i = 0; i < n; i++) {
        const struct exit_event_ctx *e = evs[i];
        cm_buf b = CM_BUF_INIT(16 * 1024 * 1024);
        char name[PATH_MAX], *pem = NULL;
        int carries_cert =
            (e->ev->type == EXIT_EV_CERTISSUED || e->ev->type == EXIT_EV_CERTIMPORTED) &&
            e->cert_der != NULL;

        if (carries_cert)
            rc = pem_of(&pem, e->cert_der, e->cert_der_len);
        if (rc == CM_OK)
            rc = record_json(&b, s, e, pem);
        if (rc == CM_OK && carries_cert) {
            snprintf(name, sizeof(name), "%s/%s.pem", s->dir, e->ev->serial);
            rc = fs_write_atomic(name, pem, strlen(pem), 0644);
        }
        if (rc == CM_OK) {
            snprintf(name, sizeof(name), "%s/%012lld-%s.json", s->dir, (long long)e->ev->id,
                     exit_event_name(e->ev->type));
            rc = fs_write_atomic(name, b.data, b.len, 0644);
        }
        free(pem);
        buf_free(&b);
        if (rc != CM_OK)
            return rc;
        (*acked)++;
    }
    return CM_OK;
}

static void file_shutdown(void *state)
{
    free(state);
}

static const struct config_key file_keys[] = {
    {"exit.file.dir", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "directory the file module writes one JSON record per event into"},
    {"exit.file.eventfilter", CFG_CUSTOM, EXIT_FILTER_ALL_NAMES, 0, 0, NULL, exit_check_eventfilter,
     "events the file module records (names, +NAME/-NAME edits, or a number)"},
    {"exit.file.offbox", CFG_BOOL, "no", 0, 0, NULL, NULL,
     "the file module's directory is off this machine (a mounted remote share)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};

const struct exit_module_ops exit_file_ops = {
    .version = EXIT_MODULE_VERSION,
    .name = "file",
    .description = "one JSON record (and the certificate as PEM) per event in a directory",
    .keys = file_keys,
    .offbox = file_offbox,
    .init = file_init,
    .deliver = file_deliver,
    .shutdown = file_shutdown,
};
