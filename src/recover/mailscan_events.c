/* The events of a certmint notification (docs/mail-format.md): the blocks
 * of its text/x-certmint-events part, or its top-level X-Certmint-* headers,
 * and the certificates attached to it. */
#ifdef CM_HAVE_GMIME

#include "ca/ca.h"
#include "db/db.h"
#include "exit/exit.h"
#include "exit/mailfmt.h"
#include "recover/mailscan_int.h"

#include <ctype.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
    F_REQUESTER,
    F_ATTACHMENT,
    F_REASON,
    F_EFFECTIVE,
    F_CRL_NUMBER,
    F_CRL_DELTA,
    F__COUNT
};

static const char *const fld_names[F__COUNT] = {
    [F_EVENT] = MAILFMT_HDR_EVENT,
    [F_EVENT_ID] = MAILFMT_HDR_EVENT_ID,
    [F_WHEN] = MAILFMT_HDR_WHEN,
    [F_REQUEST_ID] = MAILFMT_HDR_REQUEST_ID,
    [F_SERIAL] = MAILFMT_HDR_SERIAL,
    [F_SUBJECT] = MAILFMT_HDR_SUBJECT,
    [F_NOT_BEFORE] = MAILFMT_HDR_NOT_BEFORE,
    [F_NOT_AFTER] = MAILFMT_HDR_NOT_AFTER,
    [F_PROFILE] = MAILFMT_HDR_PROFILE,
    [F_REQUESTER] = MAILFMT_HDR_REQUESTER,
    [F_ATTACHMENT] = MAILFMT_HDR_ATTACHMENT,
    [F_REASON] = MAILFMT_HDR_REVOKED_REASON,
    [F_EFFECTIVE] = MAILFMT_HDR_REVOKED_EFFECTIVE,
    [F_CRL_NUMBER] = MAILFMT_HDR_CRL_NUMBER,
    [F_CRL_DELTA] = MAILFMT_HDR_CRL_DELTA,
};

/* Lines of one events block: more than this is not a certmint block. */
#define BLOCK_MAX_FIELDS 64

/* What one event owns while the callback runs. */
struct scratch {
    char *subject, *profile, *requester, *attachment;
    GByteArray *der;
    X509 *cert;
};

/* --- values ----------------------------------------------------------- */

/* Times written by certmint: YYYY-MM-DDTHH:MM:SSZ (UTC). "now" and "@N",
 * which text_parse_time also takes from users, have no place in a mail. */
int mailscan_parse_time(int64_t *out, const char *v)
{
    if (v[0] == '@' || strcasecmp(v, "now") == 0)
        return -1;
    return text_parse_time(out, v) == CM_OK ? 0 : -1;
}

int mailscan_parse_id(int64_t *out, const char *v, long long min)
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
int mailscan_parse_reason(const char *v)
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

    if (mailscan_parse_id(&code, v, 0) == 0)
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
    if (p < tend && *p == 0xa0 && der_tlv(&p, tend, V_ASN1_CONTEXT_SPECIFIC, 0, 1, &c, &len) != 0)
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
        mailscan_bad(s, "%s: attachment %s: not one DER certificate with a valid serial (%u bytes)",
                     where, x->attachment, (unsigned)x->der->len);
        return -1;
    }
    if (ev->serial[0] == '\0') {
        memcpy(ev->serial, serial, sizeof(serial));
    } else if (strcmp(ev->serial, serial) != 0) {
        mailscan_bad(s, "%s: attachment %s holds serial %s, the event says %s", where,
                     x->attachment, serial, ev->serial);
        return -1;
    }
    if (ev->subject_dn == NULL || ev->not_before == 0 || ev->not_after == 0) {
        x->cert = d2i_X509(NULL, &p, (long)x->der->len);
        if (x->cert == NULL || p != x->der->data + x->der->len) {
            (void)cm_err_ossl(CM_ERR_INVALID, "not a certificate");
            mailscan_bad(s, "%s: attachment %s: %s", where, x->attachment, cm_err_msg());
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
            mailscan_bad(s, "%s: attachment %s: content cannot be decoded", where, name);
            return -1;
        }
        if (x->der == NULL) {
            x->der = d;
            continue;
        }
        if (d->len != x->der->len || (d->len > 0 && memcmp(d->data, x->der->data, d->len) != 0)) {
            g_byte_array_unref(d);
            mailscan_bad(s, "%s: two different attachments named %s", where, name);
            return -1;
        }
        g_byte_array_unref(d);
    }
    if (x->der == NULL) {
        mailscan_bad(s, "%s: attachment %s is missing", where, name);
        return -1;
    }
    return 0;
}

/* --- events ----------------------------------------------------------------- */

static void scratch_free(struct scratch *x)
{
    g_free(x->subject);
    g_free(x->profile);
    g_free(x->requester);
    g_free(x->attachment);
    if (x->der)
        g_byte_array_unref(x->der);
    X509_free(x->cert);
    memset(x, 0, sizeof(*x));
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

    mailscan_event_reset(ev);
    if (v[F_EVENT] == NULL) {
        mailscan_bad(s, "%s: no " MAILFMT_HDR_EVENT, where);
        return -1;
    }
    ev->type = exit_event_parse(v[F_EVENT]);
    if (ev->type == 0) {
        mailscan_bad(s, "%s: unknown event '%.64s'", where, v[F_EVENT]);
        return -1;
    }
#define BAD_VALUE(f)                                                                               \
    do {                                                                                           \
        mailscan_bad(s, "%s: bad %s '%.64s'", where, fld_names[f], v[f]);                          \
        return -1;                                                                                 \
    } while (0)
    if (v[F_EVENT_ID] && mailscan_parse_id(&ev->event_id, v[F_EVENT_ID], 1) != 0)
        BAD_VALUE(F_EVENT_ID);
    if (v[F_REQUEST_ID] && mailscan_parse_id(&ev->request_id, v[F_REQUEST_ID], 1) != 0)
        BAD_VALUE(F_REQUEST_ID);
    if (v[F_SERIAL] && text_serial_canon(ev->serial, v[F_SERIAL]) != CM_OK)
        BAD_VALUE(F_SERIAL);
    if (v[F_WHEN] && mailscan_parse_time(&ev->when, v[F_WHEN]) != 0)
        BAD_VALUE(F_WHEN);
    if (v[F_NOT_BEFORE] && mailscan_parse_time(&ev->not_before, v[F_NOT_BEFORE]) != 0)
        BAD_VALUE(F_NOT_BEFORE);
    if (v[F_NOT_AFTER] && mailscan_parse_time(&ev->not_after, v[F_NOT_AFTER]) != 0)
        BAD_VALUE(F_NOT_AFTER);
    if (v[F_EFFECTIVE] && mailscan_parse_time(&ev->revoked_effective, v[F_EFFECTIVE]) != 0)
        BAD_VALUE(F_EFFECTIVE);
    if (v[F_REASON] && (ev->revoked_reason = mailscan_parse_reason(v[F_REASON])) < 0)
        BAD_VALUE(F_REASON);
    if (v[F_CRL_NUMBER] && mailscan_parse_id(&ev->crl_number, v[F_CRL_NUMBER], 0) != 0)
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
    if (v[F_REQUESTER]) {
        x->requester = decode ? g_mime_utils_header_decode_text(s->opts, v[F_REQUESTER])
                              : g_strdup(v[F_REQUESTER]);
        ev->requester = x->requester;
    }
    if (v[F_ATTACHMENT]) {
        x->attachment = decode ? g_mime_utils_header_decode_text(s->opts, v[F_ATTACHMENT])
                               : g_strdup(v[F_ATTACHMENT]);
        if (attachment_find(s, x, x->attachment, where) != 0 || cert_attach(s, x, where) != 0)
            return -1;
    }
    if (event_needs_serial(ev->type) && ev->serial[0] == '\0') {
        mailscan_bad(s, "%s: %s event without a serial", where, v[F_EVENT]);
        return -1;
    }
    if (ev->type == EXIT_EV_CRLISSUED && ev->crl_number < 0) {
        mailscan_bad(s, "%s: CRLISSUED event without a CRL number", where);
        return -1;
    }
    return 0;
}

/* Matches name against the field table; -1 if it is not a certmint field. */
static int fld_index(const char *name)
{
    if (g_ascii_strncasecmp(name, MAILFMT_HDR_PREFIX, MAILFMT_HDR_PREFIX_LEN) != 0)
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
            mailscan_bad(s, "%s: %s given twice", where, fld_names[f]);
            goto out;
        }
        v[f] = text_trim(values[i]);
    }
    if (event_build(s, &x, v, 1, where) == 0)
        rc = mailscan_event_emit(s);
out:
    scratch_free(&x);
    return rc;
}

/* Whether the line [ls, le) holds only spaces and tabs. */
static int line_blank(const char *ls, const char *le)
{
    for (const char *p = ls; p < le; p++)
        if (*p != ' ' && *p != '\t')
            return 0;
    return 1;
}

/* Takes the "Name: value" line [ls, le) of an events block as field *nf:
 * its name and value are moved to *w (NUL after the name; the value's end is
 * left to the caller, which may append continuation lines). Returns NULL, or
 * why the line breaks the block. */
static const char *field_start(char **w, char **names, char **values, size_t *nf, char *ls,
                               char *le)
{
    char *colon, *val;

    colon = memchr(ls, ':', (size_t)(le - ls));
    if (colon == NULL || colon == ls)
        return "line is not 'Name: value'";
    for (char *p = ls; p < colon; p++)
        if (*p < 33 || *p > 126) /* RFC 5322 2.2: printable US-ASCII */
            return "bad character in a field name";
    if (*nf == BLOCK_MAX_FIELDS)
        return "too many fields";
    memmove(*w, ls, (size_t)(colon - ls));
    names[*nf] = *w;
    *w += colon - ls;
    *(*w)++ = '\0';
    for (val = colon + 1; val < le && (*val == ' ' || *val == '\t'); val++)
        ;
    memmove(*w, val, (size_t)(le - val));
    values[(*nf)++] = *w;
    *w += le - val;
    return NULL;
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
        mailscan_bad(s, "events part contains NUL bytes");
        return CM_OK;
    }
    for (;;) {
        char *ls = r, *le = r, *nl;
        int blank = 1;

        if (r < end) {
            nl = memchr(r, '\n', (size_t)(end - r));
            le = nl ? nl : end;
            r = nl ? nl + 1 : end;
            if (le > ls && le[-1] == '\r')
                le--;
            blank = line_blank(ls, le);
        }
        if (in_field && (blank || (*ls != ' ' && *ls != '\t'))) {
            *w++ = '\0';
            in_field = 0;
        }
        if (blank) {
            if (nf > 0 || bad) {
                blockno++;
                if (blockno > MAILSCAN_MAX_EVENTS) {
                    mailscan_bad(s, "more than %d events in one message: the rest is ignored",
                                 MAILSCAN_MAX_EVENTS);
                    break;
                }
                if (bad)
                    mailscan_bad(s, "events block %zu: %s", blockno, bad);
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
        bad = field_start(&w, names, values, &nf, ls, le);
        if (bad)
            continue;
        in_field = 1;
    }
    *nblocks = blockno;
out:
    return rc;
}

/* Reads the events part and passes its events on. */
cm_err mailscan_scan_events(struct scan *s, GMimeMessage *msg)
{
    GByteArray *data = part_decode(s->parts.events);
    const char *cnt = g_mime_object_get_header(GMIME_OBJECT(msg), MAILFMT_HDR_EVENT_COUNT);
    size_t nblocks = 0;
    int64_t want;
    cm_err rc = CM_OK;

    if (data == NULL) {
        mailscan_bad(s, "events part cannot be decoded");
        return CM_OK;
    }
    g_byte_array_append(data, (const guint8 *)"", 1); /* NUL for the parser */
    CM_TRY(events_parse(s, (char *)data->data, data->len - 1, &nblocks));
    if (nblocks == 0)
        mailscan_bad(s, "events part holds no event");
    /* The count in the headers and the blocks must agree: a mismatch means
     * the mail was cut or edited after certmint wrote it. */
    if (cnt != NULL && (mailscan_parse_id(&want, cnt, 0) != 0 || (uint64_t)want != nblocks))
        mailscan_bad(s, MAILFMT_HDR_EVENT_COUNT " '%.32s' but %zu events blocks", cnt, nblocks);
out:
    g_byte_array_unref(data);
    return rc;
}

/* A certmint mail without an events part: one event from the top-level
 * X-Certmint-* headers. */
cm_err mailscan_scan_toplevel(struct scan *s, GMimeMessage *msg)
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
            mailscan_bad(s, "headers: %s given twice", fld_names[f]);
            goto out;
        }
        v[f] = g_strstrip(g_strdup(g_mime_header_get_value(h) ? g_mime_header_get_value(h) : ""));
    }
    if (v[F_EVENT] && strchr(v[F_EVENT], ',') != NULL) {
        mailscan_bad(s, "batch mail (" MAILFMT_HDR_EVENT ": %.64s) without an events part",
                     v[F_EVENT]);
        goto out;
    }
    if (v[F_EVENT_ID] && strchr(v[F_EVENT_ID], '-') != NULL) {
        mailscan_bad(s, "batch mail (" MAILFMT_HDR_EVENT_ID ": %.64s) without an events part",
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
        if (x.attachment && (attachment_find(s, &x, x.attachment, "headers") != 0 ||
                             cert_attach(s, &x, "headers") != 0))
            goto out;
    }
    rc = mailscan_event_emit(s);
out:
    for (int i = 0; i < F__COUNT; i++)
        g_free(v[i]);
    scratch_free(&x);
    return rc;
}

#endif /* CM_HAVE_GMIME */
