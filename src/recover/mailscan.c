/* The mail audit trail scanner (mailscan.h): the mailboxes (Maildir, mbox,
 * one message), GMime's parse of each message, and the choice between a
 * certmint notification (mailscan_events.c), an AD CS-style text mail
 * (mailscan_text.c) and anything else. */
#include "recover/mailscan.h"

#include <stdio.h>

#ifndef CM_HAVE_GMIME

cm_err mailscan_maildir(const char *dir, const char *ca_key_id, mailscan_cb cb,
                        mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
{
    (void)ca_key_id, (void)cb, (void)warn, (void)ctx, (void)st;
    return cm_err_set(CM_ERR_UNSUPPORTED, "%s: reading mail needs GMime 3 (built without it)", dir);
}

cm_err mailscan_mbox(const char *path, const char *ca_key_id, mailscan_cb cb, mailscan_warn_cb warn,
                     void *ctx, struct mailscan_stats *st)
{
    (void)ca_key_id, (void)cb, (void)warn, (void)ctx, (void)st;
    return cm_err_set(CM_ERR_UNSUPPORTED, "%s: reading mail needs GMime 3 (built without it)",
                      path);
}

cm_err mailscan_message(const unsigned char *data, size_t len, const char *source,
                        const char *ca_key_id, mailscan_cb cb, mailscan_warn_cb warn, void *ctx,
                        struct mailscan_stats *st)
{
    (void)data, (void)len, (void)ca_key_id, (void)cb, (void)warn, (void)ctx, (void)st;
    return cm_err_set(CM_ERR_UNSUPPORTED, "%s: reading mail needs GMime 3 (built without it)",
                      source ? source : "message");
}

#else /* CM_HAVE_GMIME */

#include "exit/exit.h"
#include "exit/mailfmt.h"
#include "recover/mailscan_int.h"
#include "util/fsutil.h"
#include "util/hex.h"
#include "util/log.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Multipart nesting followed while looking for parts; certmint mails have
 * one level. */
#define MAX_DEPTH 8

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
    g_mime_init();
}

/* --- warnings -------------------------------------------------------------- */

static void scan_vnote(struct scan *s, const char *fmt, va_list ap)
{
    char why[1024];

    vsnprintf(why, sizeof(why), fmt, ap);
    if (s->warn)
        s->warn(s->ctx, s->ev.source, why);
    else
        log_warn("%s: %s", s->ev.source, why);
}

/* A warning that does not make the message malformed (foreign CA). */
void mailscan_note(struct scan *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    scan_vnote(s, fmt, ap);
    va_end(ap);
}

/* Reports a problem with the current message and counts it once. */
void mailscan_bad(struct scan *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    scan_vnote(s, fmt, ap);
    va_end(ap);
    if (!s->counted_bad) {
        s->counted_bad = 1;
        s->st->malformed++;
    }
}

/* GMime reports structural damage through the parser options' warning
 * callback; remember the first problem that means the mail is not what its
 * writer sent (a truncated mail may end in the middle of a serial). */
static void parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
                           gpointer user_data)
{
    struct scan *s = user_data;
    const char *why = NULL;

    (void)offset, (void)item;
    /* A message cut out of an mbox ends where the next From line was: the
     * whole-file parse meets that line inside the multipart, and says so. */
    if (s->before_from && code == GMIME_WARN_TRUNCATED_MESSAGE)
        code = GMIME_WARN_MALFORMED_MULTIPART;
    switch (code) {
    case GMIME_WARN_TRUNCATED_MESSAGE:
        why = "truncated (a MIME part or the closing boundary is missing)";
        break;
    case GMIME_WARN_MALFORMED_MULTIPART:
        why = "truncated or malformed multipart (a boundary is missing)";
        break;
    case GMIME_WARN_MALFORMED_MESSAGE:
        why = "malformed message";
        break;
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        why = "multipart without a boundary";
        break;
    case GMIME_CRIT_NESTING_OVERFLOW:
        why = "MIME parts nested too deeply";
        break;
    case GMIME_CRIT_CONFLICTING_HEADER:
        why = "conflicting MIME headers";
        break;
    case GMIME_CRIT_CONFLICTING_PARAMETER:
        why = "conflicting MIME parameters";
        break;
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        why = "MIME part without headers or content";
        break;
    default:
        break; /* duplicated Received:, odd parameters: harmless here */
    }
    if (why && s->fatal == NULL)
        s->fatal = why;
}

/* Key identifiers compare as lower-case hex without separators (the one
 * hex parser, util/hex.h). */
static int keyid_norm(char out[MAILSCAN_KEYID_MAX], const char *in)
{
    size_t n = 0;
    return hex_normalize(out, MAILSCAN_KEYID_MAX, &n, in, 0, MAILFMT_HDR_CA_KEY_ID) == CM_OK ? 0
                                                                                             : -1;
}

/* --- events ----------------------------------------------------------------- */

void mailscan_event_reset(struct mail_event *ev)
{
    ev->type = 0;
    ev->event_id = 0;
    ev->request_id = 0;
    ev->serial[0] = '\0';
    ev->subject_dn = NULL;
    ev->when = 0;
    ev->not_before = 0;
    ev->not_after = 0;
    ev->profile = NULL;
    ev->requester = NULL;
    ev->revoked_reason = -1;
    ev->revoked_effective = 0;
    ev->crl_number = -1;
    ev->crl_delta = -1;
    ev->cert_der = NULL;
    ev->cert_der_len = 0;
    ev->from_text_fallback = 0;
}

cm_err mailscan_event_emit(struct scan *s)
{
    cm_err rc = s->cb ? s->cb(s->ctx, &s->ev) : CM_OK;
    if (rc == CM_OK)
        s->st->events++;
    return rc;
}

/* --- message structure ------------------------------------------------------ */

static int is_cert_type(GMimeContentType *ct)
{
    return g_mime_content_type_is_type(ct, MAILFMT_CERT_TYPE, MAILFMT_CERT_SUBTYPE) ||
           g_mime_content_type_is_type(ct, "application", "x-x509-ca-cert") ||
           g_mime_content_type_is_type(ct, "application", "x-x509-user-cert");
}

/* Collects the interesting leaves. A forwarded message (message/rfc822) is
 * another mail and is not entered. Returns -1 on out of memory. */
static int parts_walk(struct parts *p, GMimeObject *obj, int depth)
{
    if (obj == NULL || depth > MAX_DEPTH)
        return 0;
    if (GMIME_IS_MULTIPART(obj)) {
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
        for (int i = 0; i < n; i++)
            if (parts_walk(p, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), depth + 1) != 0)
                return -1;
        return 0;
    }
    if (!GMIME_IS_PART(obj))
        return 0;
    GMimePart *part = GMIME_PART(obj);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *fn = g_mime_part_get_filename(part);

    if (g_mime_content_type_is_type(ct, MAILFMT_EVENTS_TYPE, MAILFMT_EVENTS_SUBTYPE) ||
        (fn && g_ascii_strcasecmp(fn, MAILFMT_EVENTS_FILENAME) == 0)) {
        if (p->nevents++ == 0)
            p->events = part;
    } else if (is_cert_type(ct)) {
        if (p->natt == p->attcap) {
            size_t ncap = p->attcap ? p->attcap * 2 : 16;
            struct attachment *na = realloc(p->att, ncap * sizeof(*na));
            if (na == NULL)
                return -1;
            p->att = na;
            p->attcap = ncap;
        }
        p->att[p->natt].part = part;
        p->att[p->natt].filename = fn;
        p->natt++;
    } else if (p->text == NULL && g_mime_content_type_is_type(ct, "text", "plain")) {
        p->text = part;
    }
    return 0;
}

/* Reads one parsed message. Fails only for the callback's error or out of
 * memory. */
static cm_err scan_parsed(struct scan *s, GMimeMessage *msg)
{
    GMimeObject *top = GMIME_OBJECT(msg);
    const char *xev = g_mime_object_get_header(top, MAILFMT_HDR_EVENT);
    const char *keyid = g_mime_object_get_header(top, MAILFMT_HDR_CA_KEY_ID);
    const char *mid = g_mime_message_get_message_id(msg);
    GDateTime *date = g_mime_message_get_date(msg);
    char kid[MAILSCAN_KEYID_MAX];
    cm_err rc = CM_OK;

    s->parts.events = NULL;
    s->parts.nevents = 0;
    s->parts.text = NULL;
    s->parts.natt = 0;
    if (parts_walk(&s->parts, g_mime_message_get_mime_part(msg), 0) != 0)
        return cm_err_set(CM_ERR_NOMEM, "%s: out of memory", s->ev.source);
    snprintf(s->ev.message_id, sizeof(s->ev.message_id), "%s", mid ? mid : "");
    s->ev.ca_key_id[0] = '\0';
    s->date = date ? (int64_t)g_date_time_to_unix(date) : 0;

    if (xev == NULL && s->parts.nevents == 0) {
        GMimeHeaderList *hl = g_mime_object_get_header_list(top);
        int nh = g_mime_header_list_get_count(hl);
        for (int i = 0; i < nh; i++) {
            const char *name = g_mime_header_get_name(g_mime_header_list_get_header_at(hl, i));
            if (g_ascii_strncasecmp(name, MAILFMT_HDR_PREFIX, MAILFMT_HDR_PREFIX_LEN) == 0) {
                mailscan_bad(s, "%s header without " MAILFMT_HDR_EVENT " or an events part", name);
                return CM_OK;
            }
        }
        return mailscan_scan_text(s, msg);
    }
    s->st->certmint_messages++;
    if (keyid != NULL && keyid_norm(kid, keyid) == 0) {
        memcpy(s->ev.ca_key_id, kid, sizeof(kid));
    } else if (keyid != NULL) {
        mailscan_bad(s, "bad " MAILFMT_HDR_CA_KEY_ID " '%.64s'", keyid);
        return CM_OK;
    }
    if (s->keyid[0] != '\0' && strcmp(s->keyid, s->ev.ca_key_id) != 0) {
        s->st->foreign_messages++;
        if (s->ev.ca_key_id[0] == '\0')
            mailscan_note(s, "foreign: no " MAILFMT_HDR_CA_KEY_ID " (this CA is %s)", s->keyid);
        else
            mailscan_note(s, "foreign: " MAILFMT_HDR_CA_KEY_ID " %s is not this CA's %s",
                          s->ev.ca_key_id, s->keyid);
        return CM_OK;
    }
    if (s->fatal) {
        mailscan_bad(s, "%s", s->fatal);
        return CM_OK;
    }
    if (s->parts.nevents > 1) {
        mailscan_bad(s, "%zu events parts", s->parts.nevents);
        return CM_OK;
    }
    if (s->parts.nevents == 1)
        CM_TRY(mailscan_scan_events(s, msg));
    else
        CM_TRY(mailscan_scan_toplevel(s, msg));
out:
    return rc;
}

/* --- sources -------------------------------------------------------------- */

static cm_err scan_init(struct scan *s, const char *ca_key_id, mailscan_cb cb,
                        mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st,
                        struct mailscan_stats *local)
{
    memset(s, 0, sizeof(*s));
    cm_err rc = dl_gmime_load("mail scanner");
    if (rc != CM_OK)
        return rc;
    pthread_once(&gmime_once, gmime_init_once);
    if (ca_key_id != NULL && keyid_norm(s->keyid, ca_key_id) != 0)
        return cm_err_set(CM_ERR_INVALID, "CA key identifier '%s': not hex", ca_key_id);
    s->cb = cb;
    s->warn = warn;
    s->ctx = ctx;
    if (st == NULL) {
        memset(local, 0, sizeof(*local));
        st = local;
    }
    s->st = st;
    s->opts = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(s->opts, parser_warning, s);
    mailscan_event_reset(&s->ev);
    return CM_OK;
}

static void scan_fini(struct scan *s)
{
    if (s->opts)
        g_mime_parser_options_free(s->opts);
    free(s->parts.att);
    s->opts = NULL;
    s->parts.att = NULL;
}

static void scan_source(struct scan *s, const char *fmt, ...) CM_PRINTF(2, 3);
static void scan_source(struct scan *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->ev.source, sizeof(s->ev.source), fmt, ap);
    va_end(ap);
    s->counted_bad = 0;
    s->st->messages++;
}

/* Parses one message from a stream (a maildir file or a message in memory). */
static cm_err scan_stream(struct scan *s, GMimeStream *stream)
{
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *msg;
    cm_err rc = CM_OK;

    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    s->fatal = NULL;
    msg = g_mime_parser_construct_message(parser, s->opts);
    if (msg == NULL)
        mailscan_bad(s, "not a mail message");
    else
        rc = scan_parsed(s, msg);
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    return rc;
}

cm_err mailscan_message(const unsigned char *data, size_t len, const char *source,
                        const char *ca_key_id, mailscan_cb cb, mailscan_warn_cb warn, void *ctx,
                        struct mailscan_stats *st)
{
    struct mailscan_stats local;
    struct scan *s = NULL;
    GMimeStream *stream = NULL;
    cm_err rc = CM_OK;

    assert(data != NULL || len == 0);
    s = malloc(sizeof(*s));
    CM_NOMEM_IF(s == NULL);
    CM_TRY(scan_init(s, ca_key_id, cb, warn, ctx, st, &local));
    scan_source(s, "%s", source ? source : "message");
    if (len > MAILSCAN_MAX_MESSAGE) {
        mailscan_bad(s, "%zu bytes: larger than %u, skipped", len, MAILSCAN_MAX_MESSAGE);
        goto out;
    }
    stream = g_mime_stream_mem_new_with_buffer((const char *)data, len);
    rc = scan_stream(s, stream);
out:
    if (stream)
        g_object_unref(stream);
    if (s)
        scan_fini(s);
    free(s);
    return rc;
}

/* Reads one maildir file into buf (reused) and scans it. *vanished is set
 * (and nothing counted) when the file is gone: a mail client renamed it
 * (new/ to cur/, or new flags after the ":2,") since the directory was
 * listed. */
static cm_err scan_file(struct scan *s, GByteArray *buf, const char *path, int *vanished)
{
    struct stat sb;
    int fd = -1;
    size_t got = 0;
    GMimeStream *stream = NULL;
    cm_err rc = CM_OK;

    *vanished = 0;
    /* O_NOFOLLOW|O_NONBLOCK: a symlink or a FIFO in a Maildir is not mail. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) {
        *vanished = 1;
        return CM_OK;
    }
    scan_source(s, "maildir:%s", path);
    if (fd < 0) {
        mailscan_bad(s, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        mailscan_bad(s, "not a regular file");
        goto out;
    }
    if ((uint64_t)sb.st_size > MAILSCAN_MAX_MESSAGE) {
        mailscan_bad(s, "%lld bytes: larger than %u, skipped", (long long)sb.st_size,
                     MAILSCAN_MAX_MESSAGE);
        goto out;
    }
    g_byte_array_set_size(buf, (guint)sb.st_size);
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf->data + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            mailscan_bad(s, "read failed: %s", n < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t)n;
    }
    /* The stream borrows buf (owner FALSE): no copy of the file. */
    stream = g_mime_stream_mem_new_with_byte_array(buf);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
    rc = scan_stream(s, stream);
out:
    if (stream)
        g_object_unref(stream);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir that do not start with '.', sorted bytewise (readdir
 * order is the file system's). *out is malloc'ed, each name too. A missing
 * dir gives none. */
static cm_err dir_list(char ***out, size_t *n, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    cm_err rc = CM_OK;

    *out = NULL;
    *n = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return CM_OK;
        return cm_err_set(CM_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                CM_FAIL(CM_ERR_IO, "%s: %s", dir, strerror(errno));
            break;
        }
        if (de->d_name[0] == '.')
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nv = realloc(v, ncap * sizeof(*nv));
            CM_NOMEM_IF(nv == NULL);
            v = nv;
            cap = ncap;
        }
        v[cnt] = strdup(de->d_name);
        CM_NOMEM_IF(v[cnt] == NULL);
        cnt++;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), cmp_str);
    *out = v;
    *n = cnt;
    v = NULL;
out:
    if (v) {
        for (size_t i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
    }
    closedir(d);
    return rc;
}

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* The unique part of a Maildir file name: what comes before the ":2,FLAGS"
 * info (';' or '!' on file systems that forbid ':'). */
static size_t maildir_base_len(const char *name)
{
    return strcspn(name, ":;!");
}

/* Adds the base of name to the set of vanished messages. */
static cm_err vanished_add(char ***v, size_t *n, size_t *cap, const char *name)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        char **nv = realloc(*v, ncap * sizeof(*nv));
        if (nv == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        *v = nv;
        *cap = ncap;
    }
    (*v)[*n] = strndup(name, maildir_base_len(name));
    if ((*v)[*n] == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    (*n)++;
    return CM_OK;
}

/* Index of the vanished entry with the same base as name, or -1. */
static long vanished_find(char **v, size_t n, const char *name)
{
    size_t bl = maildir_base_len(name);
    for (size_t i = 0; i < n; i++)
        if (v[i] && strlen(v[i]) == bl && strncmp(v[i], name, bl) == 0)
            return (long)i;
    return -1;
}

/* One Maildir folder: cur/ then new/. A client may rename files while we
 * read (new/ to cur/ when it sees a mail, a new flags suffix when it marks
 * one): new/ is listed before cur/ so that a move between the two listings
 * shows the file in both, and files gone when opened are looked for again
 * under their unique name, up to three times, before a warning. */
static cm_err scan_folder(struct scan *s, GByteArray *buf, const char *folder)
{
    static const char *const subs[] = {"cur", "new"};
    char dir[2][PATH_MAX], path[PATH_MAX];
    char **names[2] = {NULL, NULL}, **gone = NULL;
    size_t n[2] = {0, 0}, ngone = 0, capgone = 0, left;
    int vanished;
    cm_err rc = CM_OK;

    for (int k = 0; k < 2; k++)
        CM_TRY(fs_join(dir[k], sizeof(dir[k]), folder, subs[k]));
    CM_TRY(dir_list(&names[1], &n[1], dir[1]));
    CM_TRY(dir_list(&names[0], &n[0], dir[0]));
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < n[k]; i++) {
            CM_TRY(fs_join(path, sizeof(path), dir[k], names[k][i]));
            CM_TRY(scan_file(s, buf, path, &vanished));
            if (vanished && vanished_find(gone, ngone, names[k][i]) < 0)
                CM_TRY(vanished_add(&gone, &ngone, &capgone, names[k][i]));
        }
    left = ngone;
    for (int pass = 0; pass < 3 && left > 0; pass++) {
        for (int k = 0; k < 2; k++) {
            names_free(names[k], n[k]);
            names[k] = NULL;
            n[k] = 0;
        }
        CM_TRY(dir_list(&names[1], &n[1], dir[1]));
        CM_TRY(dir_list(&names[0], &n[0], dir[0]));
        for (int k = 0; k < 2 && left > 0; k++)
            for (size_t i = 0; i < n[k] && left > 0; i++) {
                long g = vanished_find(gone, ngone, names[k][i]);
                if (g < 0)
                    continue;
                CM_TRY(fs_join(path, sizeof(path), dir[k], names[k][i]));
                CM_TRY(scan_file(s, buf, path, &vanished));
                if (!vanished) {
                    free(gone[g]);
                    gone[g] = NULL;
                    left--;
                }
            }
    }
    for (size_t i = 0; i < ngone; i++)
        if (gone[i] != NULL) {
            snprintf(s->ev.source, sizeof(s->ev.source), "maildir:%s/*/%s", folder, gone[i]);
            mailscan_note(s,
                          "vanished while the Maildir was read (deleted, or renamed repeatedly)");
        }
out:
    for (int k = 0; k < 2; k++)
        names_free(names[k], n[k]);
    names_free(gone, ngone);
    return rc;
}

static int is_maildir(const char *dir)
{
    char p[PATH_MAX];
    struct stat sb;

    for (int k = 0; k < 2; k++) {
        if (fs_join(p, sizeof(p), dir, k ? "new" : "cur") != CM_OK)
            return 0;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            return 1;
    }
    return 0;
}

cm_err mailscan_maildir(const char *dir, const char *ca_key_id, mailscan_cb cb,
                        mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
{
    struct mailscan_stats local;
    struct scan *s = NULL;
    GByteArray *buf = NULL;
    DIR *d = NULL;
    char **subs = NULL;
    size_t nsubs = 0, cap = 0;
    char path[PATH_MAX];
    cm_err rc = CM_OK;

    s = malloc(sizeof(*s));
    CM_NOMEM_IF(s == NULL);
    CM_TRY(scan_init(s, ca_key_id, cb, warn, ctx, st, &local));
    if (!is_maildir(dir))
        CM_FAIL(CM_ERR_NOTFOUND, "%s: not a Maildir (no cur/ or new/)", dir);
    buf = g_byte_array_new();
    CM_TRY(scan_folder(s, buf, dir));
    /* Maildir++ subfolders (".Archive", ".Certmint"): mail rules sort the
     * notifications into them. */
    d = opendir(dir);
    if (d == NULL)
        CM_FAIL(CM_ERR_IO, "%s: %s", dir, strerror(errno));
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        CM_TRY(fs_join(path, sizeof(path), dir, de->d_name));
        if (!is_maildir(path))
            continue;
        if (nsubs == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(subs, ncap * sizeof(*nv));
            CM_NOMEM_IF(nv == NULL);
            subs = nv;
            cap = ncap;
        }
        subs[nsubs] = strdup(path);
        CM_NOMEM_IF(subs[nsubs] == NULL);
        nsubs++;
    }
    if (nsubs > 1)
        qsort(subs, nsubs, sizeof(*subs), cmp_str);
    for (size_t i = 0; i < nsubs; i++)
        CM_TRY(scan_folder(s, buf, subs[i]));
out:
    if (d)
        closedir(d);
    names_free(subs, nsubs);
    if (buf)
        g_byte_array_unref(buf);
    if (s)
        scan_fini(s);
    free(s);
    return rc;
}

/* For the parallel mbox scan (mailscan_mbox.c): the same steps as
 * mailscan_mbox's, one message given as its bytes (the From line and the
 * newline GMime takes as part of the separator left out) and span, the
 * bytes from its From line to the next one. */
cm_err mailscan_scan_begin(struct scan *s, const char *ca_key_id, mailscan_cb cb,
                           mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
{
    /* st is never NULL here: local is not used. */
    struct mailscan_stats local;
    assert(st != NULL);
    return scan_init(s, ca_key_id, cb, warn, ctx, st, &local);
}

void mailscan_scan_end(struct scan *s)
{
    scan_fini(s);
}

cm_err mailscan_scan_chunk(struct scan *s, const char *path, size_t n, const unsigned char *data,
                           size_t len, int64_t span, int before_from)
{
    GMimeStream *stream = NULL;
    cm_err rc;

    scan_source(s, "mbox:%s#%zu", path, n);
    if (span > (int64_t)MAILSCAN_MAX_MESSAGE) {
        mailscan_bad(s, "%lld bytes: larger than %u, skipped", (long long)span,
                     MAILSCAN_MAX_MESSAGE);
        return CM_OK;
    }
    stream = g_mime_stream_mem_new_with_buffer((const char *)data, len);
    s->before_from = before_from;
    rc = scan_stream(s, stream);
    s->before_from = 0;
    g_object_unref(stream);
    return rc;
}

cm_err mailscan_mbox(const char *path, const char *ca_key_id, mailscan_cb cb, mailscan_warn_cb warn,
                     void *ctx, struct mailscan_stats *st)
{
    struct mailscan_stats local;
    struct scan *s = NULL;
    GMimeStream *stream = NULL;
    GMimeParser *parser = NULL;
    GMimeMessage *msg = NULL;
    struct stat sb;
    char head[5];
    gint64 last_end = -1;
    int fd = -1;
    size_t n = 0;
    cm_err rc = CM_OK;

    s = malloc(sizeof(*s));
    CM_NOMEM_IF(s == NULL);
    CM_TRY(scan_init(s, ca_key_id, cb, warn, ctx, st, &local));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        CM_FAIL(errno == ENOENT ? CM_ERR_NOTFOUND : CM_ERR_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        CM_FAIL(CM_ERR_INVALID, "%s: not a regular file", path);
    if (sb.st_size == 0)
        goto out;
    if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
        memcmp(head, "From ", sizeof(head)) != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: not an mbox file (it does not start with \"From \")", path);
    /* GMime reads the file through its own buffer and, the stream being
     * seekable, leaves part contents on disk (persist_stream): memory stays
     * flat however large the mbox. */
    stream = g_mime_stream_fs_new(fd);
    fd = -1; /* the stream owns it */
    parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MBOX);
    while (!g_mime_parser_eos(parser)) {
        gint64 start, end;

        s->fatal = NULL;
        msg = g_mime_parser_construct_message(parser, s->opts);
        if (msg == NULL || g_mime_parser_tell(parser) <= last_end) {
            /* GMime stops at the end of the file; anywhere else (or if it
             * makes no progress) the rest cannot be read: say so. */
            if (!g_mime_parser_eos(parser)) {
                scan_source(s, "mbox:%s#%zu", path, n + 1);
                mailscan_bad(s, "unreadable at offset %lld: the rest of the file is skipped",
                             (long long)g_mime_parser_tell(parser));
            }
            break;
        }
        n++;
        last_end = g_mime_parser_tell(parser);
        scan_source(s, "mbox:%s#%zu", path, n);
        start = g_mime_parser_get_mbox_marker_offset(parser);
        end = g_mime_parser_tell(parser);
        if (start >= 0 && end - start > (gint64)MAILSCAN_MAX_MESSAGE)
            mailscan_bad(s, "%lld bytes: larger than %u, skipped", (long long)(end - start),
                         MAILSCAN_MAX_MESSAGE);
        else
            CM_TRY(scan_parsed(s, msg));
        g_object_unref(msg);
        msg = NULL;
    }
out:
    if (msg)
        g_object_unref(msg);
    if (parser)
        g_object_unref(parser);
    if (stream)
        g_object_unref(stream);
    if (fd >= 0)
        close(fd);
    if (s)
        scan_fini(s);
    free(s);
    return rc;
}

#endif /* CM_HAVE_GMIME */
