/* The mail audit trail scanner (mailscan.h): GMime parses the MIME
 * structure, this file reads the certmint parts of it (docs/mail-format.md)
 * or, for AD CS-style text mails, the labelled lines of the text body. */
#include "recover/mailscan.h"

#include <stdio.h>

#ifndef CM_HAVE_GMIME

cm_err mailscan_maildir(const char *dir, const char *ca_key_id, mailscan_cb cb,
                        mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
{
    (void)ca_key_id, (void)cb, (void)warn, (void)ctx, (void)st;
    return cm_err_set(CM_ERR_UNSUPPORTED, "%s: reading mail needs GMime 3 (built without it)", dir);
}

cm_err mailscan_mbox(const char *path, const char *ca_key_id, mailscan_cb cb,
                     mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
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

#include "ca/ca.h"
#include "db/db.h"
#include "exit/exit.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Fields of an events block (docs/mail-format.md); the same names are read
 * from the top-level headers of a mail without an events part. */
enum fld {
    F_EVENT,
    F_EVENT_ID,
    F_WHEN,
    F_REQUEST_ID,
    F_SERIAL,
    F_SUBJECT,
    F_NOT_BEFORE,
    F_NOT_AFTER,
    F_PROFILE,
    F_ATTACHMENT,
    F_REASON,
    F_EFFECTIVE,
    F_CRL_NUMBER,
    F_CRL_DELTA,
    F__COUNT
};

static const char *const fld_names[F__COUNT] = {
    [F_EVENT] = "X-Certmint-Event",
    [F_EVENT_ID] = "X-Certmint-Event-ID",
    [F_WHEN] = "X-Certmint-When",
    [F_REQUEST_ID] = "X-Certmint-Request-ID",
    [F_SERIAL] = "X-Certmint-Serial",
    [F_SUBJECT] = "X-Certmint-Subject",
    [F_NOT_BEFORE] = "X-Certmint-Not-Before",
    [F_NOT_AFTER] = "X-Certmint-Not-After",
    [F_PROFILE] = "X-Certmint-Profile",
    [F_ATTACHMENT] = "X-Certmint-Attachment",
    [F_REASON] = "X-Certmint-Revoked-Reason",
    [F_EFFECTIVE] = "X-Certmint-Revoked-Effective",
    [F_CRL_NUMBER] = "X-Certmint-CRL-Number",
    [F_CRL_DELTA] = "X-Certmint-CRL-Delta",
};

/* Lines of one events block: more than this is not a certmint block. */
#define BLOCK_MAX_FIELDS 64
/* Multipart nesting followed while looking for parts; certmint mails have
 * one level. */
#define MAX_DEPTH 8

struct attachment {
    GMimePart *part; /* borrowed from the message */
    const char *filename;
};

/* The parts of one message that matter here. */
struct parts {
    GMimePart *events;
    size_t nevents;
    GMimePart *text; /* first text/plain leaf */
    struct attachment *att;
    size_t natt, attcap;
};

/* What one event owns while the callback runs. */
struct scratch {
    char *subject, *profile, *attachment;
    GByteArray *der;
    X509 *cert;
};

struct scan {
    char keyid[MAILSCAN_KEYID_MAX]; /* normalised filter, "" = keep all */
    mailscan_cb cb;
    mailscan_warn_cb warn;
    void *ctx;
    struct mailscan_stats *st;
    GMimeParserOptions *opts;
    struct parts parts; /* attachment array reused from message to message */
    /* Per message. */
    const char *fatal; /* a GMime parser warning that makes a mail untrustworthy */
    int counted_bad;   /* this message was already counted in st->malformed */
    int64_t date;      /* the mail's Date, 0 if none */
    struct mail_event ev;
};

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
static void scan_note(struct scan *s, const char *fmt, ...) CM_PRINTF(2, 3);
static void scan_note(struct scan *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    scan_vnote(s, fmt, ap);
    va_end(ap);
}

/* Reports a problem with the current message and counts it once. */
static void scan_bad(struct scan *s, const char *fmt, ...) CM_PRINTF(2, 3);
static void scan_bad(struct scan *s, const char *fmt, ...)
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

/* --- value parsers ----------------------------------------------------------- */

/* Times written by certmint: YYYY-MM-DDTHH:MM:SSZ (UTC). "now" and "@N",
 * which text_parse_time also takes from users, have no place in a mail. */
static int parse_mail_time(int64_t *out, const char *v)
{
    if (v[0] == '@' || strcasecmp(v, "now") == 0)
        return -1;
    return text_parse_time(out, v) == CM_OK ? 0 : -1;
}

static int parse_strptime(int64_t *out, const char *v, const char *fmt)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(v, fmt, &tm);
    if (end == NULL)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || tm.tm_year < 50)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* Dates in AD CS-style text mails, best effort: ISO 8601, the US forms AD CS
 * prints ("11/22/2027 9:40 PM"), OpenSSL's ("Nov 22 21:40:00 2027 GMT") and
 * RFC 5322 section 3.3. A time without a zone is taken as UTC. */
static int parse_loose_time(int64_t *out, const char *v)
{
    static const char *const fmts[] = {
        "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",       "%m/%d/%Y",          "%b %d %H:%M:%S %Y GMT",
    };
    GDateTime *dt;

    if (parse_mail_time(out, v) == 0)
        return 0;
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
        if (parse_strptime(out, v, fmts[i]) == 0)
            return 0;
    /* GMime's date parser is lenient enough to misread the US forms (it
     * drops "PM"); give it only what the forms above did not take. */
    if (strchr(v, '/') != NULL)
        return -1;
    dt = g_mime_utils_header_decode_date(v);
    if (dt == NULL)
        return -1;
    *out = (int64_t)g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return 0;
}

static int parse_id(int64_t *out, const char *v, long long min)
{
    long long n;

    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    if (text_parse_int(&n, v, min, INT64_MAX, "id") != CM_OK)
        return -1;
    *out = (int64_t)n;
    return 0;
}

/* RFC 5280 5.3.1 CRLReason names, and the display names AD CS uses, compared
 * without case, spaces or punctuation. */
static int parse_reason(const char *v)
{
    static const struct {
        const char *name;
        int code;
    } names[] = {
        {"unspecified", DB_REASON_UNSPECIFIED},
        {"keycompromise", DB_REASON_KEY_COMPROMISE},
        {"cacompromise", DB_REASON_CA_COMPROMISE},
        {"affiliationchanged", DB_REASON_AFFILIATION_CHANGED},
        {"changeofaffiliation", DB_REASON_AFFILIATION_CHANGED},
        {"superseded", DB_REASON_SUPERSEDED},
        {"cessationofoperation", DB_REASON_CESSATION},
        {"ceaseofoperation", DB_REASON_CESSATION},
        {"certificatehold", DB_REASON_HOLD},
        {"removefromcrl", DB_REASON_REMOVE_FROM_CRL},
        {"privilegewithdrawn", DB_REASON_PRIVILEGE_WITHDRAWN},
        {"aacompromise", DB_REASON_AA_COMPROMISE},
    };
    char norm[40];
    size_t n = 0;
    int64_t code;

    if (parse_id(&code, v, 0) == 0)
        return (code <= 10 && code != 7) ? (int)code : -1; /* 7 is unused */
    for (const char *p = v; *p; p++) {
        if (!isalnum((unsigned char)*p))
            continue;
        if (n + 1 >= sizeof(norm))
            return -1;
        norm[n++] = (char)tolower((unsigned char)*p);
    }
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(norm, names[i].name) == 0)
            return names[i].code;
    return -1;
}

/* Key identifiers compare as lower-case hex without separators. */
static int keyid_norm(char out[MAILSCAN_KEYID_MAX], const char *in)
{
    size_t n = 0;

    for (const char *p = in; *p; p++) {
        if (*p == ':' || *p == ' ' || *p == '\t')
            continue;
        if (!isxdigit((unsigned char)*p) || n + 1 >= MAILSCAN_KEYID_MAX)
            return -1;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* --- certificates --------------------------------------------------------- */

/* Decodes a part's content (base64 or quoted-printable undone by GMime).
 * Returns NULL when the content cannot be read. */
static GByteArray *part_decode(GMimePart *part)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *mem = NULL;
    GByteArray *out = NULL;

    if (w == NULL)
        return NULL;
    mem = g_mime_stream_mem_new();
    if (g_mime_data_wrapper_write_to_stream(w, mem) >= 0) {
        /* Take the array from the stream so that it outlives it. */
        g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
        out = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    }
    g_object_unref(mem);
    return out;
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* Subject in RFC 4514 form, UTF-8 kept as is. NULL on failure. */
static char *name_rfc4514(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *data = NULL;
    long n;

    if (bio == NULL)
        return NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        n = BIO_get_mem_data(bio, &data);
        if (n >= 0)
            out = g_strndup(data, (gsize)n);
    }
    BIO_free(bio);
    return out;
}

/* Reads one DER TLV of the given universal/context tag from [*p, end):
 * definite length inside the bounds (ASN1_get_object checks that), the
 * constructed bit as expected. Moves *p past it. Returns 0 or -1. */
static int der_tlv(const unsigned char **p, const unsigned char *end, int xclass, int tag,
                   int constructed, const unsigned char **content, long *len)
{
    const unsigned char *q = *p;
    int t, c, r;

    if (q >= end)
        return -1;
    r = ASN1_get_object(&q, len, &t, &c, end - q);
    if ((r & 0x80) || r == 0x21 || t != tag || c != xclass || !!(r & 0x20) != constructed)
        return -1;
    *content = q;
    *p = q + *len;
    return 0;
}

/* Checks the DER skeleton of an X.509 certificate (RFC 5280 4.1):
 * Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
 * serialNumber INTEGER, signature, issuer, validity, subject,
 * subjectPublicKeyInfo (SEQUENCEs), ... }, signatureAlgorithm SEQUENCE,
 * signatureValue BIT STRING }, nothing after it, and returns the serial.
 * A full d2i_X509 costs more than the whole MIME parse in OpenSSL 3 (the
 * public key is decoded); the caller that imports the certificate parses and
 * verifies it anyway, so the scan stops at what it needs. Returns 0 or -1. */
static int der_cert_skeleton(char serial[CM_SERIAL_BUF], const unsigned char *der, size_t n)
{
    const unsigned char *p = der, *end = der + n, *c, *tp, *tend, *sn;
    long len, snlen;

    if (der_tlv(&p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1, &c, &len) != 0 || p != end)
        return -1;
    end = p;
    p = c;
    if (der_tlv(&p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1, &tp, &len) != 0)
        return -1;
    tend = p;
    if (der_tlv(&p, end, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1, &c, &len) != 0 ||
        der_tlv(&p, end, V_ASN1_UNIVERSAL, V_ASN1_BIT_STRING, 0, &c, &len) != 0 || p != end)
        return -1;
    p = tp;
    if (p < tend && *p == 0xa0 &&
        der_tlv(&p, tend, V_ASN1_CONTEXT_SPECIFIC, 0, 1, &c, &len) != 0)
        return -1;
    if (der_tlv(&p, tend, V_ASN1_UNIVERSAL, V_ASN1_INTEGER, 0, &sn, &snlen) != 0)
        return -1;
    for (int i = 0; i < 5; i++)
        if (der_tlv(&p, tend, V_ASN1_UNIVERSAL, V_ASN1_SEQUENCE, 1, &c, &len) != 0)
            return -1;
    /* RFC 5280 4.1.2.2: a positive INTEGER of at most 20 octets. */
    if (snlen < 1 || (sn[0] & 0x80) != 0)
        return -1;
    return text_serial_from_bytes(serial, sn, (size_t)snlen) == CM_OK ? 0 : -1;
}

/* Checks that the attachment is one DER certificate whose serial is the one
 * the mail gives (or takes it when the mail gives none); fills in from it
 * the subject and validity the mail lacks. Returns 0, or -1 after
 * reporting. */
static int cert_attach(struct scan *s, struct scratch *x, const char *where)
{
    struct mail_event *ev = &s->ev;
    const unsigned char *p = x->der->data;
    char serial[CM_SERIAL_BUF];

    if (x->der->len == 0 || x->der->len > CA_MAX_CERT_BYTES ||
        der_cert_skeleton(serial, x->der->data, x->der->len) != 0) {
        ERR_clear_error();
        scan_bad(s, "%s: attachment %s: not one DER certificate with a valid serial (%u bytes)",
                 where, x->attachment, (unsigned)x->der->len);
        return -1;
    }
    if (ev->serial[0] == '\0') {
        memcpy(ev->serial, serial, sizeof(serial));
    } else if (strcmp(ev->serial, serial) != 0) {
        scan_bad(s, "%s: attachment %s holds serial %s, the event says %s", where, x->attachment,
                 serial, ev->serial);
        return -1;
    }
    if (ev->subject_dn == NULL || ev->not_before == 0 || ev->not_after == 0) {
        x->cert = d2i_X509(NULL, &p, (long)x->der->len);
        if (x->cert == NULL || p != x->der->data + x->der->len) {
            (void)cm_err_ossl(CM_ERR_INVALID, "not a certificate");
            scan_bad(s, "%s: attachment %s: %s", where, x->attachment, cm_err_msg());
            return -1;
        }
        if (ev->subject_dn == NULL) {
            x->subject = name_rfc4514(X509_get_subject_name(x->cert));
            ev->subject_dn = x->subject;
        }
        if (ev->not_before == 0)
            ev->not_before = asn1_time_unix(X509_get0_notBefore(x->cert));
        if (ev->not_after == 0)
            ev->not_after = asn1_time_unix(X509_get0_notAfter(x->cert));
    }
    ev->cert_der = x->der->data;
    ev->cert_der_len = x->der->len;
    return 0;
}

/* Finds the attachment named name; two parts with that name must hold the
 * same bytes. Returns 0 (x->der set), or -1 after reporting. */
static int attachment_find(struct scan *s, struct scratch *x, const char *name, const char *where)
{
    const struct parts *p = &s->parts;

    for (size_t i = 0; i < p->natt; i++) {
        GByteArray *d;
        if (p->att[i].filename == NULL || g_ascii_strcasecmp(p->att[i].filename, name) != 0)
            continue;
        d = part_decode(p->att[i].part);
        if (d == NULL) {
            scan_bad(s, "%s: attachment %s: content cannot be decoded", where, name);
            return -1;
        }
        if (x->der == NULL) {
            x->der = d;
            continue;
        }
        if (d->len != x->der->len ||
            (d->len > 0 && memcmp(d->data, x->der->data, d->len) != 0)) {
            g_byte_array_unref(d);
            scan_bad(s, "%s: two different attachments named %s", where, name);
            return -1;
        }
        g_byte_array_unref(d);
    }
    if (x->der == NULL) {
        scan_bad(s, "%s: attachment %s is missing", where, name);
        return -1;
    }
    return 0;
}

/* --- events ----------------------------------------------------------------- */

static void event_reset(struct mail_event *ev)
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
    ev->revoked_reason = -1;
    ev->revoked_effective = 0;
    ev->crl_number = -1;
    ev->crl_delta = -1;
    ev->cert_der = NULL;
    ev->cert_der_len = 0;
    ev->from_text_fallback = 0;
}

static void scratch_free(struct scratch *x)
{
    g_free(x->subject);
    g_free(x->profile);
    g_free(x->attachment);
    if (x->der)
        g_byte_array_unref(x->der);
    X509_free(x->cert);
    memset(x, 0, sizeof(*x));
}

static cm_err event_emit(struct scan *s)
{
    cm_err rc = s->cb ? s->cb(s->ctx, &s->ev) : CM_OK;
    if (rc == CM_OK)
        s->st->events++;
    return rc;
}

/* Does the event name a certificate? Then it must carry a serial. */
static int event_needs_serial(int type)
{
    return type == EXIT_EV_CERTISSUED || type == EXIT_EV_CERTREVOKED ||
           type == EXIT_EV_CERTUNREVOKED || type == EXIT_EV_CERTIMPORTED;
}

/* Builds s->ev from the field values of one event. decode: values are raw
 * header text (an events block), so RFC 2047 encoded-words are decoded here;
 * top-level header values come decoded from GMime. Returns 0, or -1 after
 * reporting. */
static int event_build(struct scan *s, struct scratch *x, char *const v[F__COUNT], int decode,
                       const char *where)
{
    struct mail_event *ev = &s->ev;

    event_reset(ev);
    if (v[F_EVENT] == NULL) {
        scan_bad(s, "%s: no X-Certmint-Event", where);
        return -1;
    }
    ev->type = exit_event_parse(v[F_EVENT]);
    if (ev->type == 0) {
        scan_bad(s, "%s: unknown event '%.64s'", where, v[F_EVENT]);
        return -1;
    }
#define BAD_VALUE(f)                                                                               \
    do {                                                                                           \
        scan_bad(s, "%s: bad %s '%.64s'", where, fld_names[f], v[f]);                            \
        return -1;                                                                                 \
    } while (0)
    if (v[F_EVENT_ID] && parse_id(&ev->event_id, v[F_EVENT_ID], 1) != 0)
        BAD_VALUE(F_EVENT_ID);
    if (v[F_REQUEST_ID] && parse_id(&ev->request_id, v[F_REQUEST_ID], 1) != 0)
        BAD_VALUE(F_REQUEST_ID);
    if (v[F_SERIAL] && text_serial_canon(ev->serial, v[F_SERIAL]) != CM_OK)
        BAD_VALUE(F_SERIAL);
    if (v[F_WHEN] && parse_mail_time(&ev->when, v[F_WHEN]) != 0)
        BAD_VALUE(F_WHEN);
    if (v[F_NOT_BEFORE] && parse_mail_time(&ev->not_before, v[F_NOT_BEFORE]) != 0)
        BAD_VALUE(F_NOT_BEFORE);
    if (v[F_NOT_AFTER] && parse_mail_time(&ev->not_after, v[F_NOT_AFTER]) != 0)
        BAD_VALUE(F_NOT_AFTER);
    if (v[F_EFFECTIVE] && parse_mail_time(&ev->revoked_effective, v[F_EFFECTIVE]) != 0)
        BAD_VALUE(F_EFFECTIVE);
    if (v[F_REASON] && (ev->revoked_reason = parse_reason(v[F_REASON])) < 0)
        BAD_VALUE(F_REASON);
    if (v[F_CRL_NUMBER] && parse_id(&ev->crl_number, v[F_CRL_NUMBER], 0) != 0)
        BAD_VALUE(F_CRL_NUMBER);
    if (v[F_CRL_DELTA]) {
        if (strcasecmp(v[F_CRL_DELTA], "yes") == 0)
            ev->crl_delta = 1;
        else if (strcasecmp(v[F_CRL_DELTA], "no") == 0)
            ev->crl_delta = 0;
        else
            BAD_VALUE(F_CRL_DELTA);
    }
#undef BAD_VALUE
    if (ev->when == 0)
        ev->when = s->date;
    if (v[F_SUBJECT]) {
        x->subject = decode ? g_mime_utils_header_decode_text(s->opts, v[F_SUBJECT])
                            : g_strdup(v[F_SUBJECT]);
        ev->subject_dn = x->subject;
    }
    if (v[F_PROFILE]) {
        x->profile = decode ? g_mime_utils_header_decode_text(s->opts, v[F_PROFILE])
                            : g_strdup(v[F_PROFILE]);
        ev->profile = x->profile;
    }
    if (v[F_ATTACHMENT]) {
        x->attachment = decode ? g_mime_utils_header_decode_text(s->opts, v[F_ATTACHMENT])
                               : g_strdup(v[F_ATTACHMENT]);
        if (attachment_find(s, x, x->attachment, where) != 0 || cert_attach(s, x, where) != 0)
            return -1;
    }
    if (event_needs_serial(ev->type) && ev->serial[0] == '\0') {
        scan_bad(s, "%s: %s event without a serial", where, v[F_EVENT]);
        return -1;
    }
    if (ev->type == EXIT_EV_CRLISSUED && ev->crl_number < 0) {
        scan_bad(s, "%s: CRLISSUED event without a CRL number", where);
        return -1;
    }
    return 0;
}

/* Matches name against the field table; -1 if it is not a certmint field. */
static int fld_index(const char *name)
{
    if (g_ascii_strncasecmp(name, "X-Certmint-", 11) != 0)
        return -1;
    for (int i = 0; i < F__COUNT; i++)
        if (g_ascii_strcasecmp(name, fld_names[i]) == 0)
            return i;
    return -1;
}

/* Turns one parsed block into an event and passes it on. */
static cm_err block_emit(struct scan *s, char **names, char **values, size_t n, size_t blockno)
{
    char *v[F__COUNT] = {NULL};
    struct scratch x = {0};
    char where[48];
    cm_err rc = CM_OK;

    snprintf(where, sizeof(where), "events block %zu", blockno);
    for (size_t i = 0; i < n; i++) {
        int f = fld_index(names[i]);
        if (f < 0)
            continue; /* a later writer's field: ignored */
        if (v[f] != NULL) {
            scan_bad(s, "%s: %s given twice", where, fld_names[f]);
            goto out;
        }
        v[f] = text_trim(values[i]);
    }
    if (event_build(s, &x, v, 1, where) == 0)
        rc = event_emit(s);
out:
    scratch_free(&x);
    return rc;
}

/* Parses the events part (docs/mail-format.md: blocks in header syntax,
 * separated by empty lines) in place: buf holds len bytes and a NUL after
 * them. Field names and unfolded values (RFC 5322 2.2.3: a line starting with
 * white space continues the field before it) are compacted towards the start
 * of buf; the write position never passes the read position. Returns the
 * number of blocks through *nblocks. */
static cm_err events_parse(struct scan *s, char *buf, size_t len, size_t *nblocks)
{
    char *names[BLOCK_MAX_FIELDS], *values[BLOCK_MAX_FIELDS];
    char *r = buf, *w = buf, *end = buf + len;
    const char *bad = NULL;
    size_t nf = 0, blockno = 0;
    int in_field = 0;
    cm_err rc = CM_OK;

    *nblocks = 0;
    if (memchr(buf, '\0', len) != NULL) {
        scan_bad(s, "events part contains NUL bytes");
        return CM_OK;
    }
    for (;;) {
        char *ls = r, *le = r, *nl, *colon, *val;
        int blank = 1;

        if (r < end) {
            nl = memchr(r, '\n', (size_t)(end - r));
            le = nl ? nl : end;
            r = nl ? nl + 1 : end;
            if (le > ls && le[-1] == '\r')
                le--;
            for (char *p = ls; p < le; p++)
                if (*p != ' ' && *p != '\t') {
                    blank = 0;
                    break;
                }
        }
        if (in_field && (blank || (*ls != ' ' && *ls != '\t'))) {
            *w++ = '\0';
            in_field = 0;
        }
        if (blank) {
            if (nf > 0 || bad) {
                blockno++;
                if (blockno > MAILSCAN_MAX_EVENTS) {
                    scan_bad(s, "more than %d events in one message: the rest is ignored",
                             MAILSCAN_MAX_EVENTS);
                    break;
                }
                if (bad)
                    scan_bad(s, "events block %zu: %s", blockno, bad);
                else
                    CM_TRY(block_emit(s, names, values, nf, blockno));
                nf = 0;
                bad = NULL;
            }
            if (r >= end)
                break;
            continue;
        }
        if (bad)
            continue; /* skip the rest of a broken block */
        if (*ls == ' ' || *ls == '\t') {
            if (!in_field) {
                bad = "continuation line without a field";
                continue;
            }
            memmove(w, ls, (size_t)(le - ls));
            w += le - ls;
            continue;
        }
        colon = memchr(ls, ':', (size_t)(le - ls));
        if (colon == NULL || colon == ls) {
            bad = "line is not 'Name: value'";
            continue;
        }
        for (char *p = ls; p < colon; p++)
            if (*p < 33 || *p > 126) { /* RFC 5322 2.2: printable US-ASCII */
                bad = "bad character in a field name";
                break;
            }
        if (bad)
            continue;
        if (nf == BLOCK_MAX_FIELDS) {
            bad = "too many fields";
            continue;
        }
        memmove(w, ls, (size_t)(colon - ls));
        names[nf] = w;
        w += colon - ls;
        *w++ = '\0';
        for (val = colon + 1; val < le && (*val == ' ' || *val == '\t'); val++)
            ;
        memmove(w, val, (size_t)(le - val));
        values[nf++] = w;
        w += le - val;
        in_field = 1;
    }
    *nblocks = blockno;
out:
    return rc;
}

/* --- message structure ------------------------------------------------------ */

static int is_cert_type(GMimeContentType *ct)
{
    return g_mime_content_type_is_type(ct, "application", "pkix-cert") ||
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

    if (g_mime_content_type_is_type(ct, "text", "x-certmint-events") ||
        (fn && g_ascii_strcasecmp(fn, "events.txt") == 0)) {
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

/* Reads the events part and passes its events on. */
static cm_err scan_events(struct scan *s, GMimeMessage *msg)
{
    GByteArray *data = part_decode(s->parts.events);
    const char *cnt = g_mime_object_get_header(GMIME_OBJECT(msg), "X-Certmint-Event-Count");
    size_t nblocks = 0;
    int64_t want;
    cm_err rc = CM_OK;

    if (data == NULL) {
        scan_bad(s, "events part cannot be decoded");
        return CM_OK;
    }
    g_byte_array_append(data, (const guint8 *)"", 1); /* NUL for the parser */
    CM_TRY(events_parse(s, (char *)data->data, data->len - 1, &nblocks));
    if (nblocks == 0)
        scan_bad(s, "events part holds no event");
    /* The count in the headers and the blocks must agree: a mismatch means
     * the mail was cut or edited after certmint wrote it. */
    if (cnt != NULL && (parse_id(&want, cnt, 0) != 0 || (uint64_t)want != nblocks))
        scan_bad(s, "X-Certmint-Event-Count '%.32s' but %zu events blocks", cnt, nblocks);
out:
    g_byte_array_unref(data);
    return rc;
}

/* A certmint mail without an events part: one event from the top-level
 * X-Certmint-* headers. */
static cm_err scan_toplevel(struct scan *s, GMimeMessage *msg)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
    int nh = g_mime_header_list_get_count(hl);
    char *v[F__COUNT] = {NULL};
    struct scratch x = {0};
    cm_err rc = CM_OK;

    for (int i = 0; i < nh; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        int f = fld_index(g_mime_header_get_name(h));
        if (f < 0)
            continue;
        if (v[f] != NULL) {
            scan_bad(s, "headers: %s given twice", fld_names[f]);
            goto out;
        }
        v[f] = g_strstrip(g_strdup(g_mime_header_get_value(h) ? g_mime_header_get_value(h) : ""));
    }
    if (v[F_EVENT] && strchr(v[F_EVENT], ',') != NULL) {
        scan_bad(s, "batch mail (X-Certmint-Event: %.64s) without an events part", v[F_EVENT]);
        goto out;
    }
    if (v[F_EVENT_ID] && strchr(v[F_EVENT_ID], '-') != NULL) {
        scan_bad(s, "batch mail (X-Certmint-Event-ID: %.64s) without an events part",
                 v[F_EVENT_ID]);
        goto out;
    }
    if (event_build(s, &x, v, 0, "headers") != 0)
        goto out;
    /* No X-Certmint-Attachment at the top: the certificate is the only
     * certificate part, or the one named after the serial. */
    if (s->ev.cert_der == NULL && s->parts.natt > 0) {
        char name[CM_SERIAL_BUF + 8];
        if (s->parts.natt == 1 && s->parts.att[0].filename)
            x.attachment = g_strdup(s->parts.att[0].filename);
        else if (s->ev.serial[0]) {
            snprintf(name, sizeof(name), "%s.cer", s->ev.serial);
            x.attachment = g_strdup(name);
        }
        if (x.attachment &&
            (attachment_find(s, &x, x.attachment, "headers") != 0 || cert_attach(s, &x, "headers") != 0))
            goto out;
    }
    rc = event_emit(s);
out:
    for (int i = 0; i < F__COUNT; i++)
        g_free(v[i]);
    scratch_free(&x);
    return rc;
}

/* Normalises one "Label: value" label of a text mail: lower case, letters and
 * digits only ("Serial Number" -> "serialnumber"). */
static void label_norm(char *out, size_t outsz, const char *p, const char *end)
{
    size_t n = 0;
    for (; p < end && n + 1 < outsz; p++)
        if (isalnum((unsigned char)*p))
            out[n++] = (char)tolower((unsigned char)*p);
    out[n] = '\0';
}

static int label_in(const char *label, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(label, *set) == 0)
            return 1;
    return 0;
}

/* The event a text mail's subject names. "unrevoked" before "revoked". */
static int subject_event(const char *subject)
{
    static const struct {
        const char *word;
        int ev;
    } words[] = {
        {"unrevoked", EXIT_EV_CERTUNREVOKED},    {"released from hold", EXIT_EV_CERTUNREVOKED},
        {"revoked", EXIT_EV_CERTREVOKED},        {"revocation", EXIT_EV_CERTREVOKED},
        {"imported", EXIT_EV_CERTIMPORTED},      {"issued", EXIT_EV_CERTISSUED},
        {"denied", EXIT_EV_CERTDENIED},          {"pending", EXIT_EV_CERTPENDING},
    };
    if (subject == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(subject, words[i].word) != NULL)
            return words[i].ev;
    return 0;
}

/* AD CS-style text mail: no X-Certmint headers, a body with labelled lines
 * ("Serial Number: 61 1a 2b ...", "Request ID: 12", ...) and the event in the
 * subject ("Certificate Issued"). Anything else is not a notification. */
static cm_err scan_text(struct scan *s, GMimeMessage *msg)
{
    static const char *const l_serial[] = {"serialnumber", "serial", "certificateserialnumber", NULL};
    static const char *const l_request[] = {"requestid", "certificaterequestid", NULL};
    static const char *const l_subject[] = {"subject", "distinguishedname", "subjectdn",
                                            "requesterdn", NULL};
    static const char *const l_notbefore[] = {"notbefore", "validfrom", "effectivedate", NULL};
    static const char *const l_notafter[] = {"notafter", "expiration", "expirationdate",
                                             "expires", "validto", "validuntil", NULL};
    static const char *const l_reason[] = {"revocationreason", "crlreason", NULL};
    static const char *const l_revdate[] = {"revocationdate", "revoked", "revokedon",
                                            "revokedeffective", "revocationeffectivedate", NULL};
    static const char *const l_profile[] = {"certificatetemplate", "template", "profile", NULL};
    struct mail_event *ev = &s->ev;
    char *body = NULL, *line, *next, *subject_dn = NULL, *profile = NULL;
    char serial[CM_SERIAL_BUF] = "", label[40], err[160] = "";
    int type, revoked_hint = 0;
    cm_err rc = CM_OK;

    if (s->parts.text == NULL || !GMIME_IS_TEXT_PART(s->parts.text))
        return CM_OK;
    body = g_mime_text_part_get_text(GMIME_TEXT_PART(s->parts.text));
    if (body == NULL)
        return CM_OK;
    event_reset(ev);
    /* A problem is reported only once the mail turns out to be a
     * notification: a "Serial:" line in someone's invoice is not our concern. */
    for (line = body; line != NULL && err[0] == '\0'; line = next) {
        char *colon, *val;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line = text_trim(line);
        colon = strchr(line, ':');
        if (colon == NULL) {
            label_norm(label, sizeof(label), line, line + strlen(line));
            if (strcmp(label, "revoked") == 0)
                revoked_hint = 1;
            continue;
        }
        label_norm(label, sizeof(label), line, colon);
        val = text_trim(colon + 1);
        if (label_in(label, l_serial)) {
            char sn[CM_SERIAL_BUF];
            if (text_serial_canon(sn, val) != CM_OK)
                snprintf(err, sizeof(err), "bad serial number '%.64s'", val);
            else if (serial[0] && strcmp(serial, sn) != 0)
                snprintf(err, sizeof(err), "two serial numbers (%s, %s)", serial, sn);
            else
                memcpy(serial, sn, sizeof(sn));
        } else if (label_in(label, l_request)) {
            if (parse_id(&ev->request_id, val, 1) != 0)
                snprintf(err, sizeof(err), "bad request ID '%.64s'", val);
        } else if (label_in(label, l_subject) && subject_dn == NULL && *val) {
            subject_dn = g_strdup(val);
        } else if (label_in(label, l_profile) && profile == NULL && *val) {
            profile = g_strdup(val);
        } else if (label_in(label, l_notbefore)) {
            (void)parse_loose_time(&ev->not_before, val);
        } else if (label_in(label, l_notafter)) {
            (void)parse_loose_time(&ev->not_after, val);
        } else if (label_in(label, l_reason)) {
            revoked_hint = 1;
            ev->revoked_reason = parse_reason(val);
        } else if (label_in(label, l_revdate)) {
            revoked_hint = 1;
            (void)parse_loose_time(&ev->revoked_effective, val);
        }
    }
    type = subject_event(g_mime_message_get_subject(msg));
    if (type == 0 && revoked_hint)
        type = EXIT_EV_CERTREVOKED;
    if (type == 0)
        goto out; /* not a notification */
    if (err[0] != '\0') {
        scan_bad(s, "text mail: %s", err);
        goto out;
    }
    if (serial[0] == '\0' && ev->request_id == 0)
        goto out; /* names no certificate and no request */
    if (s->fatal) {
        scan_bad(s, "text mail: %s", s->fatal);
        goto out;
    }
    s->st->fallback_messages++;
    ev->type = type;
    memcpy(ev->serial, serial, sizeof(serial));
    ev->subject_dn = subject_dn;
    ev->profile = profile;
    ev->when = s->date;
    ev->from_text_fallback = 1;
    rc = event_emit(s);
out:
    g_free(subject_dn);
    g_free(profile);
    g_free(body);
    return rc;
}

/* Reads one parsed message. Fails only for the callback's error or out of
 * memory. */
static cm_err scan_parsed(struct scan *s, GMimeMessage *msg)
{
    GMimeObject *top = GMIME_OBJECT(msg);
    const char *xev = g_mime_object_get_header(top, "X-Certmint-Event");
    const char *keyid = g_mime_object_get_header(top, "X-Certmint-CA-Key-ID");
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
            if (g_ascii_strncasecmp(name, "X-Certmint-", 11) == 0) {
                scan_bad(s, "%s header without X-Certmint-Event or an events part", name);
                return CM_OK;
            }
        }
        return scan_text(s, msg);
    }
    s->st->certmint_messages++;
    if (keyid != NULL && keyid_norm(kid, keyid) == 0) {
        memcpy(s->ev.ca_key_id, kid, sizeof(kid));
    } else if (keyid != NULL) {
        scan_bad(s, "bad X-Certmint-CA-Key-ID '%.64s'", keyid);
        return CM_OK;
    }
    if (s->keyid[0] != '\0' && strcmp(s->keyid, s->ev.ca_key_id) != 0) {
        s->st->foreign_messages++;
        if (s->ev.ca_key_id[0] == '\0')
            scan_note(s, "foreign: no X-Certmint-CA-Key-ID (this CA is %s)", s->keyid);
        else
            scan_note(s, "foreign: X-Certmint-CA-Key-ID %s is not this CA's %s", s->ev.ca_key_id,
                       s->keyid);
        return CM_OK;
    }
    if (s->fatal) {
        scan_bad(s, "%s", s->fatal);
        return CM_OK;
    }
    if (s->parts.nevents > 1) {
        scan_bad(s, "%zu events parts", s->parts.nevents);
        return CM_OK;
    }
    if (s->parts.nevents == 1)
        CM_TRY(scan_events(s, msg));
    else
        CM_TRY(scan_toplevel(s, msg));
out:
    return rc;
}

/* --- sources -------------------------------------------------------------- */

static cm_err scan_init(struct scan *s, const char *ca_key_id, mailscan_cb cb,
                        mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st,
                        struct mailscan_stats *local)
{
    pthread_once(&gmime_once, gmime_init_once);
    memset(s, 0, sizeof(*s));
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
    event_reset(&s->ev);
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
        scan_bad(s, "not a mail message");
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
        scan_bad(s, "%zu bytes: larger than %u, skipped", len, MAILSCAN_MAX_MESSAGE);
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
        scan_bad(s, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        scan_bad(s, "not a regular file");
        goto out;
    }
    if ((uint64_t)sb.st_size > MAILSCAN_MAX_MESSAGE) {
        scan_bad(s, "%lld bytes: larger than %u, skipped", (long long)sb.st_size,
                 MAILSCAN_MAX_MESSAGE);
        goto out;
    }
    g_byte_array_set_size(buf, (guint)sb.st_size);
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf->data + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            scan_bad(s, "read failed: %s", n < 0 ? strerror(errno) : "file shrank");
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
            scan_note(s, "vanished while the Maildir was read (deleted, or renamed repeatedly)");
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

cm_err mailscan_mbox(const char *path, const char *ca_key_id, mailscan_cb cb,
                     mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st)
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
                scan_bad(s, "unreadable at offset %lld: the rest of the file is skipped",
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
            scan_bad(s, "%lld bytes: larger than %u, skipped", (long long)(end - start),
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
