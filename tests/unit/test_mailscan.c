/* Mail audit trail scanner: mails built by tests/unit/mailgen.h from
 * docs/mail-format.md, with real certificates made here with OpenSSL, written
 * as a Maildir (cur/, new/, a Maildir++ subfolder) and as an mbox, scanned,
 * and every field of every event, every counter and every warning checked.
 * Hostile cases: truncated, forged serial, garbage attachment, broken blocks,
 * foreign CA, oversized, not mail at all. */
#include "recover/mailscan.h"

#include "exit/exit.h"
#include "mailgen.h"
#include "unit.h"
#include "util/buf.h"
#include "util/fsutil.h"

#include <ftw.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef CM_HAVE_GMIME

/* --- fixtures --------------------------------------------------------------- */

#define KEYID "3f1c2a9be4d05f6a7b8c9d0e1f2a3b4c5d6e7f80"
#define OTHER_KEYID "ffeeddccbbaa99887766554433221100ffeeddcc"
#define DATE_HDR "Sun, 22 Nov 2026 21:40:05 +0000"
#define NMSG 15

static EVP_PKEY *ca_key, *leaf_key;
static X509 *ca_cert;
static X509 *cA, *cB, *cC, *cD, *cE, *cF, *cG, *cH, *cI, *cJ;
static char tmpdir[256];
static char msg_path[NMSG][PATH_MAX]; /* the Maildir file of each message */
static char mbox_path[PATH_MAX];
static cm_buf msgs[NMSG];

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

static X509 *leaf(const char *serial, const char *cn, const char *o)
{
    X509 *x = mg_cert(ca_key, X509_get_subject_name(ca_cert), leaf_key, serial, cn, o,
                      (time_t)utc(2026, 11, 22, 21, 40, 0), (time_t)utc(2027, 11, 22, 21, 40, 0));
    if (x == NULL) {
        fprintf(stderr, "cannot make test certificate %s\n", serial);
        exit(2);
    }
    return x;
}

/* --- recording --------------------------------------------------------------- */

struct rec {
    struct mail_event ev;
    char *subject, *profile;
    unsigned char *der;
};

struct recorder {
    struct rec ev[64];
    size_t nev;
    char warn_src[64][MAILSCAN_SOURCE_MAX];
    char warn_why[64][512];
    size_t nwarn;
    int stop_after;     /* return an error from the callback after this many */
    void (*hook)(void); /* run once, at the first event */
};

static cm_err record(void *ctx, const struct mail_event *ev)
{
    struct recorder *r = ctx;
    struct rec *x;

    if (r->stop_after && r->nev == (size_t)r->stop_after)
        return cm_err_set(CM_ERR_DB, "stop requested");
    if (r->nev == 64)
        return cm_err_set(CM_ERR_INVALID, "recorder full");
    if (r->hook) {
        r->hook();
        r->hook = NULL;
    }
    x = &r->ev[r->nev++];
    x->ev = *ev;
    x->subject = text_dup(ev->subject_dn);
    x->profile = text_dup(ev->profile);
    x->der = NULL;
    if (ev->cert_der) {
        x->der = malloc(ev->cert_der_len);
        memcpy(x->der, ev->cert_der, ev->cert_der_len);
    }
    x->ev.subject_dn = x->subject;
    x->ev.profile = x->profile;
    x->ev.cert_der = x->der;
    return CM_OK;
}

static void warned(void *ctx, const char *source, const char *why)
{
    struct recorder *r = ctx;
    if (r->nwarn == 64)
        return;
    snprintf(r->warn_src[r->nwarn], sizeof(r->warn_src[0]), "%s", source);
    snprintf(r->warn_why[r->nwarn], sizeof(r->warn_why[0]), "%s", why);
    r->nwarn++;
}

static void recorder_free(struct recorder *r)
{
    for (size_t i = 0; i < r->nev; i++) {
        free(r->ev[i].subject);
        free(r->ev[i].profile);
        free(r->ev[i].der);
    }
    memset(r, 0, sizeof(*r));
}

/* --- the mails ------------------------------------------------------------------ */

static const unsigned char garbage[] = "this is not a certificate, only some text that "
                                       "base64-decodes to something other than DER";

static void build_mails(void)
{
    struct mg_event m1[] = {{.event = "CERTISSUED",
                             .id = 42,
                             .when = "2026-11-22T21:40:00Z",
                             .request_id = 17,
                             .subject = "CN=J\xc3\xbcrgen M\xc3\xbcller,O=Example",
                             .not_before = "2026-11-22T21:40:00Z",
                             .not_after = "2027-11-22T21:40:00Z",
                             .profile = "smime",
                             .cert = cA}};
    struct mg_event m2[] = {
        {.event = "CERTISSUED",
         .id = 43,
         .when = "2026-11-22T21:41:00Z",
         .request_id = 18,
         .subject = "CN=bob,O=Example",
         .not_before = "2026-11-22T21:40:00Z",
         .not_after = "2027-11-22T21:40:00Z",
         .profile = "tls-client",
         .cert = cB},
        {.event = "CERTIMPORTED", .id = 44, .when = "2026-11-22T21:42:00Z", .cert = cC},
        {.event = "CERTREVOKED",
         .id = 45,
         .when = "2026-11-22T21:43:00Z",
         .request_id = 17,
         .serial = "5a:3f:09:c2:d1:e4:b7:a8",
         .reason = "keyCompromise",
         .effective = "2026-11-22T21:00:00Z"},
    };
    struct mg_event m3[] = {{.event = "CERTREVOKED",
                             .id = 46,
                             .when = "2026-11-23T08:00:00Z",
                             .serial = "8F01020304050607",
                             .subject = "CN=bob, O=Example",
                             .fold_subject = 1,
                             .reason = "certificateHold",
                             .effective = "2026-11-23T07:59:00Z"}};
    struct mg_event m4[] = {{.event = "CRLISSUED",
                             .id = 47,
                             .when = "2026-11-23T08:01:00Z",
                             .crl_number = 12,
                             .crl_delta = "yes"}};
    struct mg_event m5[] = {{.event = "CERTISSUED",
                             .id = 48,
                             .when = "2026-11-23T09:00:00Z",
                             .request_id = 19,
                             .subject = "CN=dave,OU=A rather long organisational unit name to "
                                        "force a soft line break,O=Example",
                             .not_before = "2026-11-22T21:40:00Z",
                             .not_after = "2027-11-22T21:40:00Z",
                             .profile = "tls-server",
                             .cert = cD}};
    struct mg_event m8[] = {{.event = "CERTISSUED", .id = 7, .request_id = 3, .cert = cE}};
    struct mg_event m9[] = {
        {.event = "CERTISSUED", .id = 50, .request_id = 21, .subject = "CN=frank", .cert = cF}};
    struct mg_event m10[] = {
        {.event = "CERTISSUED", .id = 51, .request_id = 22, .cert = cG},
        {.event = "CERTISSUED",
         .id = 52,
         .request_id = 23,
         .serial = "0BADBAD0",
         .garbage = garbage,
         .garbage_len = sizeof(garbage) - 1,
         .attach_name = "0BADBAD0.cer"},
    };
    struct mg_event m12[] = {
        {.event = NULL, .id = 53, .serial = "1234"},
        {.event = "CERTREVOKED", .id = 54, .serial = "XYZ", .reason = "superseded"},
        {.event = "CERTREVOKED",
         .id = 55,
         .serial = "8F01020304050607",
         .reason = "superseded",
         .extra = "X-Certmint-Future-Field: ignored\n"},
    };
    struct mg_event m13[] = {{.event = "CERTISSUED", .id = 56, .request_id = 24, .cert = cH}};
    struct mg_event m14[] = {{.event = "CERTISSUED", .id = 57, .serial = "0102", .cert = cI}};
    struct mg_event m15[] = {{.event = "CERTISSUED", .id = 58, .request_id = 25, .cert = cJ}};

    struct mg_mail mails[NMSG] = {
        {.subject = "Certificate issued: =?utf-8?B?SsO8cmdlbg==?=",
         .body = "Certificate 5A3F09C2D1E4B7A8 was issued.\n"
                 "From here on the holder may sign mail.\n",
         .ev = m1,
         .n = 1},
        {.subject = "certmint: 3 events",
         .body = "Three events.\n",
         .ev = m2,
         .n = 3,
         .reverse_attachments = 1},
        {.subject = "Certificate revoked", .body = "On hold.\n", .ev = m3, .n = 1, .crlf = 1},
        {.subject = "CRL issued", .body = "CRL 12 (delta).\n", .ev = m4, .n = 1},
        {.subject = "Certificate issued",
         .body = "Gr\xc3\xbc\xc3\x9f"
                 "e: the certificate for dave=ok.\n",
         .ev = m5,
         .n = 1,
         .qp_body = 1,
         .qp_events = 1,
         .qp_certs = 1},
        {0}, /* 6, 7: AD CS-style text mails, written below */
        {0},
        {.subject = "Certificate issued (other CA)",
         .body = "x\n",
         .ev = m8,
         .n = 1,
         .keyid = OTHER_KEYID},
        {.subject = "Certificate issued", .body = "cut\n", .ev = m9, .n = 1},
        {.subject = "certmint: 2 events", .body = "two\n", .ev = m10, .n = 2},
        {0}, /* 11: not a notification */
        {.subject = "certmint: 3 events", .body = "three\n", .ev = m12, .n = 3},
        {.subject = "Certificate issued",
         .body = "top-level only\n",
         .ev = m13,
         .n = 1,
         .toplevel_only = 1},
        {.subject = "Certificate issued", .body = "forged\n", .ev = m14, .n = 1},
        {.subject = "Certificate issued",
         .body = "count\n",
         .ev = m15,
         .n = 1,
         .count_override = 2},
    };

    for (int i = 0; i < NMSG; i++) {
        buf_init(&msgs[i], MG_MAX);
        if (mails[i].ev == NULL)
            continue;
        mails[i].ca_dn = "CN=certmint Test CA,O=Example";
        mails[i].date = DATE_HDR;
        if (mails[i].keyid == NULL)
            mails[i].keyid = KEYID;
        if (mg_mail(&msgs[i], &mails[i]) != CM_OK) {
            fprintf(stderr, "mailgen: %s\n", cm_err_msg());
            exit(2);
        }
    }
    /* 6: AD CS issued mail (CRLF, as Exchange would store it). */
    if (buf_append_str(&msgs[5], "From: CA Admin <ca@contoso.com>\r\n"
                                 "To: pki@contoso.com\r\n"
                                 "Subject: Certificate Issued\r\n"
                                 "Date: Sun, 22 Nov 2026 21:45:00 +0000\r\n"
                                 "Message-ID: <adcs-12@contoso.com>\r\n"
                                 "MIME-Version: 1.0\r\n"
                                 "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
                                 "Certificate Services issued a certificate.\r\n\r\n"
                                 "Request ID: 12\r\n"
                                 "Serial Number: 61 1a 2b 3c 00 00 00 00 00 0c\r\n"
                                 "Subject: CN=bob, OU=Users, DC=contoso, DC=com\r\n"
                                 "Certificate Template: User\r\n"
                                 "NotBefore: 11/22/2026 9:40 PM\r\n"
                                 "NotAfter: 11/22/2027 9:40 PM\r\n") != CM_OK ||
        /* 7: AD CS revocation, labels without spaces, quoted-printable. */
        buf_append_str(&msgs[6],
                       "From: CA Admin <ca@contoso.com>\n"
                       "To: pki@contoso.com\n"
                       "Subject: =?iso-8859-1?q?Zertifikat_gesperrt_/_Certificate_Revoked?=\n"
                       "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
                       "Message-ID: <adcs-13@contoso.com>\n"
                       "MIME-Version: 1.0\n"
                       "Content-Type: text/plain; charset=iso-8859-1\n"
                       "Content-Transfer-Encoding: quoted-printable\n\n"
                       "RequestID: 13\n"
                       "SerialNumber: 1a2b3c\n"
                       "DistinguishedName: CN=3DJ=FCrgen\n"
                       "Revocation Reason: Key Compromise\n"
                       "Revocation Date: Mon, 23 Nov 2026 09:30:00 +0000\n") != CM_OK ||
        /* 11: not a notification, with a line that an mbox must quote and a
         * "Serial:" that is not a certificate's. */
        buf_append_str(&msgs[10], "From: alice@example.org\n"
                                  "To: pki-audit@example.org\n"
                                  "Subject: Lunch on Friday\n"
                                  "Date: Mon, 23 Nov 2026 12:00:00 +0000\n"
                                  "Message-ID: <lunch@example.org>\n\n"
                                  "From the kitchen: soup.\n"
                                  "Serial: ZZ-TOP-1\n") != CM_OK) {
        fprintf(stderr, "test mail: %s\n", cm_err_msg());
        exit(2);
    }
    /* 9: truncated in the middle of the events part's serial line. */
    {
        char *ep = strstr((char *)msgs[8].data, "text/x-certmint-events");
        char *p = ep ? strstr(ep, "\nX-Certmint-Serial: 0F0F") : NULL;
        if (p == NULL) {
            fprintf(stderr, "test mail 9: no serial line\n");
            exit(2);
        }
        msgs[8].len = (size_t)(p - (char *)msgs[8].data) + strlen("\nX-Certmint-Serial: 0F0F");
        msgs[8].data[msgs[8].len] = '\0';
    }
}

/* Maildir: messages 1-8 in cur/, 9-13 in new/, 14-15 in .Certmint/cur/,
 * under names whose byte order is the message order; a stray file in tmp/. */
static void write_maildir(const char *md)
{
    char dir[PATH_MAX], path[PATH_MAX];
    const char *subs[] = {"cur", "new", "tmp", ".Certmint/cur", ".Certmint/new", ".Certmint/tmp"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(dir, sizeof(dir), "%s/%s", md, subs[i]);
        if (fs_mkdirs(dir, 0700) != CM_OK) {
            fprintf(stderr, "%s\n", cm_err_msg());
            exit(2);
        }
    }
    for (int i = 0; i < NMSG; i++) {
        const char *sub = i < 8 ? "cur" : i < 13 ? "new" : ".Certmint/cur";
        snprintf(msg_path[i], sizeof(msg_path[i]), "%s/%s/17000000%02d.M%dP1.host%s", md, sub,
                 i + 1, i + 1, i < 8 || i >= 13 ? ":2,S" : "");
        if (fs_write_atomic(msg_path[i], msgs[i].data, msgs[i].len, 0600) != CM_OK) {
            fprintf(stderr, "%s\n", cm_err_msg());
            exit(2);
        }
    }
    snprintf(path, sizeof(path), "%s/tmp/1700000099.M99P1.host", md);
    if (fs_write_atomic(path, msgs[0].data, msgs[0].len, 0600) != CM_OK)
        exit(2);
}

static void write_mbox(const char *path)
{
    cm_buf mbox = CM_BUF_INIT(MG_MAX);
    for (int i = 0; i < NMSG; i++)
        if (mg_mbox_append(&mbox, msgs[i].data, msgs[i].len) != CM_OK)
            exit(2);
    if (fs_write_atomic(path, mbox.data, mbox.len, 0600) != CM_OK)
        exit(2);
    buf_free(&mbox);
}

/* --- expectations ----------------------------------------------------------- */

struct want {
    int msg; /* 1-based message number */
    int type;
    long long event_id, request_id;
    const char *serial, *subject;
    int64_t when, nb, na;
    const char *profile;
    int reason;
    int64_t effective;
    long long crl_number;
    int crl_delta;
    X509 **cert;
    int fallback;
    const char *msgid, *keyid;
};

static struct want wants[] = {
    {1, EXIT_EV_CERTISSUED, 42, 17, "5A3F09C2D1E4B7A8", "CN=J\xc3\xbcrgen M\xc3\xbcller,O=Example",
     0, 0, 0, "smime", -1, 0, -1, -1, &cA, 0, "certmint.3f1c2a9be4d05f6a.42@ca.example", KEYID},
    {2, EXIT_EV_CERTISSUED, 43, 18, "8F01020304050607", "CN=bob,O=Example", 0, 0, 0, "tls-client",
     -1, 0, -1, -1, &cB, 0, "certmint.3f1c2a9be4d05f6a.43-45@ca.example", KEYID},
    /* No X-Certmint-Subject / validity in the block: taken from the certificate. */
    {2, EXIT_EV_CERTIMPORTED, 44, 0, "0C0FFEE0", "CN=carol,O=Example", 0, 0, 0, NULL, -1, 0, -1, -1,
     &cC, 0, "certmint.3f1c2a9be4d05f6a.43-45@ca.example", KEYID},
    {2, EXIT_EV_CERTREVOKED, 45, 17, "5A3F09C2D1E4B7A8", NULL, 0, 0, 0, NULL, 1, 0, -1, -1, NULL, 0,
     "certmint.3f1c2a9be4d05f6a.43-45@ca.example", KEYID},
    /* Folded subject: unfolding keeps the white space (RFC 5322 2.2.3). */
    {3, EXIT_EV_CERTREVOKED, 46, 0, "8F01020304050607", "CN=bob, O=Example", 0, 0, 0, NULL, 6, 0,
     -1, -1, NULL, 0, "certmint.3f1c2a9be4d05f6a.46@ca.example", KEYID},
    {4, EXIT_EV_CRLISSUED, 47, 0, "", NULL, 0, 0, 0, NULL, -1, 0, 12, 1, NULL, 0,
     "certmint.3f1c2a9be4d05f6a.47@ca.example", KEYID},
    {5, EXIT_EV_CERTISSUED, 48, 19, "7D00000000000000000000000000000000000001",
     "CN=dave,OU=A rather long organisational unit name to force a soft line break,O=Example", 0, 0,
     0, "tls-server", -1, 0, -1, -1, &cD, 0, "certmint.3f1c2a9be4d05f6a.48@ca.example", KEYID},
    {6, EXIT_EV_CERTISSUED, 0, 12, "611A2B3C00000000000C", "CN=bob, OU=Users, DC=contoso, DC=com",
     0, 0, 0, "User", -1, 0, -1, -1, NULL, 1, "adcs-12@contoso.com", ""},
    {7, EXIT_EV_CERTREVOKED, 0, 13, "1A2B3C", "CN=J\xc3\xbcrgen", 0, 0, 0, NULL, 1, 0, -1, -1, NULL,
     1, "adcs-13@contoso.com", ""},
    {8, EXIT_EV_CERTISSUED, 7, 3, "0E0E", "CN=erin,O=Other", 0, 0, 0, NULL, -1, 0, -1, -1, &cE, 0,
     "certmint.ffeeddccbbaa9988.7@ca.example", OTHER_KEYID},
    {10, EXIT_EV_CERTISSUED, 51, 22, "1111", "CN=gina,O=Example", 0, 0, 0, NULL, -1, 0, -1, -1, &cG,
     0, "certmint.3f1c2a9be4d05f6a.51-52@ca.example", KEYID},
    {12, EXIT_EV_CERTREVOKED, 55, 0, "8F01020304050607", NULL, 0, 0, 0, NULL, 4, 0, -1, -1, NULL, 0,
     "certmint.3f1c2a9be4d05f6a.53-55@ca.example", KEYID},
    /* Top-level headers only: the single certificate part is the event's. */
    {13, EXIT_EV_CERTISSUED, 56, 24, "4848", "CN=hank,O=Example", 0, 0, 0, NULL, -1, 0, -1, -1, &cH,
     0, "certmint.3f1c2a9be4d05f6a.56@ca.example", KEYID},
    {15, EXIT_EV_CERTISSUED, 58, 25, "4A4A", "CN=jane,O=Example", 0, 0, 0, NULL, -1, 0, -1, -1, &cJ,
     0, "certmint.3f1c2a9be4d05f6a.58@ca.example", KEYID},
};
#define NWANT (sizeof(wants) / sizeof(wants[0]))

/* Times that the table cannot hold as constants. */
static void fill_times(void)
{
    int64_t nb = utc(2026, 11, 22, 21, 40, 0), na = utc(2027, 11, 22, 21, 40, 0);
    int64_t date = utc(2026, 11, 22, 21, 40, 5);
    for (size_t i = 0; i < NWANT; i++) {
        struct want *w = &wants[i];
        if (w->cert) { /* from the block or, when absent there, the certificate */
            w->nb = nb;
            w->na = na;
        }
        w->when = date; /* the Date header, unless the block says */
    }
    wants[0].when = utc(2026, 11, 22, 21, 40, 0);
    wants[1].when = utc(2026, 11, 22, 21, 41, 0);
    wants[2].when = utc(2026, 11, 22, 21, 42, 0);
    wants[3].when = utc(2026, 11, 22, 21, 43, 0);
    wants[3].effective = utc(2026, 11, 22, 21, 0, 0);
    wants[4].when = utc(2026, 11, 23, 8, 0, 0);
    wants[4].effective = utc(2026, 11, 23, 7, 59, 0);
    wants[5].when = utc(2026, 11, 23, 8, 1, 0);
    wants[6].when = utc(2026, 11, 23, 9, 0, 0);
    /* AD CS: US dates read as UTC, the Date header as the event time. */
    wants[7].when = utc(2026, 11, 22, 21, 45, 0);
    wants[7].nb = utc(2026, 11, 22, 21, 40, 0);
    wants[7].na = utc(2027, 11, 22, 21, 40, 0);
    wants[8].when = utc(2026, 11, 23, 10, 0, 0);
    wants[8].effective = utc(2026, 11, 23, 9, 30, 0);
}

/* Checks one recorded event against its expectation. */
static void check_event(const struct rec *r, const struct want *w, const char *source)
{
    const struct mail_event *e = &r->ev;
    unsigned char *der = NULL;
    int derlen;

    CHECK_STR(e->source, source);
    CHECK_INT(e->type, w->type);
    CHECK_INT(e->event_id, w->event_id);
    CHECK_INT(e->request_id, w->request_id);
    CHECK_STR(e->serial, w->serial);
    if (w->subject)
        CHECK_STR(e->subject_dn, w->subject);
    else
        CHECK(e->subject_dn == NULL);
    if (w->profile)
        CHECK_STR(e->profile, w->profile);
    else
        CHECK(e->profile == NULL);
    CHECK_INT(e->when, w->when);
    CHECK_INT(e->not_before, w->nb);
    CHECK_INT(e->not_after, w->na);
    CHECK_INT(e->revoked_reason, w->reason);
    CHECK_INT(e->revoked_effective, w->effective);
    CHECK_INT(e->crl_number, w->crl_number);
    CHECK_INT(e->crl_delta, w->crl_delta);
    CHECK_INT(e->from_text_fallback, w->fallback);
    CHECK_STR(e->message_id, w->msgid);
    CHECK_STR(e->ca_key_id, w->keyid);
    if (w->cert) {
        derlen = mg_cert_der(&der, *w->cert);
        CHECK(derlen > 0);
        CHECK(e->cert_der != NULL);
        CHECK_INT(e->cert_der_len, derlen);
        if (e->cert_der && derlen > 0 && (size_t)derlen == e->cert_der_len)
            CHECK(memcmp(e->cert_der, der, e->cert_der_len) == 0);
        OPENSSL_free(der);
    } else {
        CHECK(e->cert_der == NULL);
        CHECK_INT(e->cert_der_len, 0);
    }
}

/* Which message is in which place, for the sources. */
enum layout { LAYOUT_MAILDIR, LAYOUT_MBOX };

static void source_of(char *out, size_t outsz, enum layout l, int msg)
{
    if (l == LAYOUT_MAILDIR)
        snprintf(out, outsz, "maildir:%s", msg_path[msg - 1]);
    else
        snprintf(out, outsz, "mbox:%s#%d", mbox_path, msg);
}

/* Expected warnings (message, text it contains), in order. */
static const struct {
    int msg;
    const char *why;
} want_warn[] = {
    {9, "truncated"},
    {10, "events block 2: attachment 0BADBAD0.cer: not one DER certificate"},
    {12, "events block 1: no X-Certmint-Event"},
    {12, "events block 2: bad X-Certmint-Serial 'XYZ'"},
    {14, "attachment 0102.cer holds serial 4949, the event says 0102"},
    {15, "X-Certmint-Event-Count '2' but 1 events blocks"},
};
#define NWARN (sizeof(want_warn) / sizeof(want_warn[0]))

static void check_all(const struct recorder *r, const struct mailscan_stats *st, enum layout l)
{
    char src[MAILSCAN_SOURCE_MAX];

    CHECK_INT(st->messages, NMSG);
    CHECK_INT(st->certmint_messages, 12);
    CHECK_INT(st->fallback_messages, 2);
    CHECK_INT(st->foreign_messages, 0);
    CHECK_INT(st->events, NWANT);
    CHECK_INT(st->malformed, 5);
    CHECK_INT(r->nev, NWANT);
    for (size_t i = 0; i < NWANT && i < r->nev; i++) {
        source_of(src, sizeof(src), l, wants[i].msg);
        check_event(&r->ev[i], &wants[i], src);
    }
    CHECK_INT(r->nwarn, NWARN);
    for (size_t i = 0; i < NWARN && i < r->nwarn; i++) {
        source_of(src, sizeof(src), l, want_warn[i].msg);
        CHECK_STR(r->warn_src[i], src);
        if (strstr(r->warn_why[i], want_warn[i].why) == NULL)
            UNIT_FAIL("warning %zu is '%s', expected it to contain '%s'", i, r->warn_why[i],
                      want_warn[i].why);
    }
}

/* --- tests ------------------------------------------------------------------------ */

TEST(maildir_every_field)
{
    struct recorder r = {0};
    struct mailscan_stats st = {0};
    char md[PATH_MAX];

    snprintf(md, sizeof(md), "%s/Maildir", tmpdir);
    CHECK_OK(mailscan_maildir(md, NULL, record, warned, &r, &st));
    check_all(&r, &st, LAYOUT_MAILDIR);
    recorder_free(&r);
}

TEST(mbox_every_field)
{
    struct recorder r = {0};
    struct mailscan_stats st = {0};

    CHECK_OK(mailscan_mbox(mbox_path, NULL, record, warned, &r, &st));
    check_all(&r, &st, LAYOUT_MBOX);
    recorder_free(&r);
}

/* The mbox really has the quoted lines (the generator quoted them, GMime did
 * not split the message there) and the scanner still reads 15 messages. */
TEST(mbox_from_quoting)
{
    unsigned char *data = NULL;
    size_t len = 0;

    CHECK_OK(fs_read_file(&data, &len, mbox_path, MG_MAX));
    CHECK(data && strstr((char *)data, "\n>From here on the holder") != NULL);
    CHECK(data && strstr((char *)data, "\n>From the kitchen") != NULL);
    CHECK(data && strstr((char *)data, "\nFrom here on") == NULL);
    free(data);
}

/* Same mailbox with this CA's key id: the other CA's mail is foreign. */
TEST(ca_key_id_filter)
{
    struct recorder r = {0};
    struct mailscan_stats st = {0};
    char md[PATH_MAX];

    snprintf(md, sizeof(md), "%s/Maildir", tmpdir);
    /* Any case, colons allowed. */
    CHECK_OK(mailscan_maildir(md, "3F:1C:2A:9B:E4:D0:5F:6A:7B:8C:9D:0E:1F:2A:3B:4C:5D:6E:7F:80",
                              record, warned, &r, &st));
    CHECK_INT(st.messages, NMSG);
    CHECK_INT(st.foreign_messages, 1);
    CHECK_INT(st.events, NWANT - 1);
    CHECK_INT(st.malformed, 5);
    for (size_t i = 0; i < r.nev; i++)
        CHECK(strcmp(r.ev[i].ev.ca_key_id, OTHER_KEYID) != 0);
    CHECK_INT(r.nwarn, NWARN + 1);
    if (r.nwarn > 0) { /* message 8 comes first */
        char src[MAILSCAN_SOURCE_MAX];
        source_of(src, sizeof(src), LAYOUT_MAILDIR, 8);
        CHECK_STR(r.warn_src[0], src);
        CHECK(strstr(r.warn_why[0], "foreign") != NULL);
        CHECK(strstr(r.warn_why[0], OTHER_KEYID) != NULL);
    }
    recorder_free(&r);

    /* The other CA's key id: only its mail and the text mails (which carry
     * no key id) remain; every other certmint mail is foreign, none is
     * reported as malformed. */
    memset(&st, 0, sizeof(st));
    CHECK_OK(mailscan_mbox(mbox_path, OTHER_KEYID, record, warned, &r, &st));
    CHECK_INT(st.events, 3);
    CHECK_INT(st.foreign_messages, 11);
    CHECK_INT(st.malformed, 0);
    CHECK_INT(r.nev, 3);
    if (r.nev == 3) {
        CHECK_INT(r.ev[0].ev.from_text_fallback, 1);
        CHECK_INT(r.ev[1].ev.from_text_fallback, 1);
        CHECK_STR(r.ev[2].ev.serial, "0E0E");
    }
    recorder_free(&r);

    CHECK_ERR(mailscan_mbox(mbox_path, "not-hex", record, warned, &r, &st), CM_ERR_INVALID);
}

/* Stats add up over several scans; a NULL stats and a NULL warn work. */
TEST(stats_accumulate)
{
    struct recorder r = {0};
    struct mailscan_stats st = {0};
    char md[PATH_MAX];

    snprintf(md, sizeof(md), "%s/Maildir", tmpdir);
    CHECK_OK(mailscan_maildir(md, NULL, record, warned, &r, &st));
    recorder_free(&r);
    CHECK_OK(mailscan_mbox(mbox_path, NULL, record, warned, &r, &st));
    recorder_free(&r);
    CHECK_INT(st.messages, 2 * NMSG);
    CHECK_INT(st.events, 2 * NWANT);
    CHECK_OK(mailscan_mbox(mbox_path, NULL, record, NULL, &r, NULL));
    CHECK_INT(r.nev, NWANT);
    recorder_free(&r);
}

/* GMime's parse in worker threads (mailscan_mbox_workers): the same events,
 * warnings (sources included) and stats as the one-thread scan, in the same
 * order, whatever the number of workers; the key filter, NULL warn and
 * stats, and a callback's error behave the same. */
TEST(mbox_workers_agree)
{
    static const int ws[] = {2, 3, 8};

    for (size_t k = 0; k < sizeof(ws) / sizeof(ws[0]); k++) {
        struct recorder r = {0};
        struct mailscan_stats st = {0};

        CHECK_OK(mailscan_mbox_workers(mbox_path, NULL, ws[k], record, warned, &r, &st));
        check_all(&r, &st, LAYOUT_MBOX);
        recorder_free(&r);

        memset(&st, 0, sizeof(st));
        CHECK_OK(mailscan_mbox_workers(mbox_path, OTHER_KEYID, ws[k], record, warned, &r, &st));
        CHECK_INT(st.events, 3);
        CHECK_INT(st.foreign_messages, 11);
        CHECK_INT(st.malformed, 0);
        CHECK_INT(r.nev, 3);
        recorder_free(&r);

        CHECK_OK(mailscan_mbox_workers(mbox_path, NULL, ws[k], record, NULL, &r, NULL));
        CHECK_INT(r.nev, NWANT);
        recorder_free(&r);

        memset(&st, 0, sizeof(st));
        r.stop_after = 3;
        CHECK_ERR(mailscan_mbox_workers(mbox_path, NULL, ws[k], record, warned, &r, &st),
                  CM_ERR_DB);
        CHECK_INT(r.nev, 3);
        CHECK_INT(st.events, 3);
        recorder_free(&r);

        CHECK_ERR(mailscan_mbox_workers(mbox_path, "not-hex", ws[k], record, warned, &r, &st),
                  CM_ERR_INVALID);
    }
}

/* Two scans gave the same callbacks and stats. */
static void check_same(const struct recorder *a, const struct mailscan_stats *sa,
                       const struct recorder *b, const struct mailscan_stats *sb)
{
    CHECK(memcmp(sa, sb, sizeof(*sa)) == 0);
    CHECK_INT(a->nev, b->nev);
    for (size_t i = 0; i < a->nev && i < b->nev; i++) {
        CHECK_STR(a->ev[i].ev.source, b->ev[i].ev.source);
        CHECK_STR(a->ev[i].ev.serial, b->ev[i].ev.serial);
        CHECK_INT(a->ev[i].ev.cert_der_len, b->ev[i].ev.cert_der_len);
    }
    CHECK_INT(a->nwarn, b->nwarn);
    for (size_t i = 0; i < a->nwarn && i < b->nwarn; i++) {
        CHECK_STR(a->warn_src[i], b->warn_src[i]);
        CHECK_STR(a->warn_why[i], b->warn_why[i]);
    }
}

/* Messages too large to read (one just over the limit, one larger than
 * what the splitter buffers) between ordinary ones, a mail ending without
 * a newline, CRLF line ends: the workers' split is GMime's. */
TEST(mbox_workers_large_and_odd)
{
    static const int ws[] = {2, 5};
    cm_buf mb = CM_BUF_INIT(64u * 1024 * 1024);
    char path[PATH_MAX];
    struct recorder *r1 = calloc(1, sizeof(*r1)), *r2 = calloc(1, sizeof(*r2));
    struct mailscan_stats s1 = {0}, s2 = {0};
    static const size_t big[] = {MAILSCAN_MAX_MESSAGE + 1000, MAILSCAN_MAX_MESSAGE + 3000000};

    snprintf(path, sizeof(path), "%s/odd.mbox", tmpdir);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(mg_mbox_append(&mb, msgs[i].data, msgs[i].len));
        if (i < 2) {
            CHECK_OK(buf_append_str(&mb, "From big@example Sun Nov 22 21:40:00 2026\n"
                                         "Subject: big\n\n"));
            for (size_t k = 0; k < big[i] / 64; k++)
                CHECK_OK(buf_append_str(&mb,
                                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                        "xxxxxxxxx\n"));
        }
    }
    CHECK_OK(buf_append_str(&mb, "From crlf@example Sun Nov 22 21:40:00 2026\r\nSubject: "
                                 "crlf\r\n\r\nbody\r\n\r\n"));
    CHECK_OK(buf_append_str(&mb, "From last@example Sun Nov 22 21:40:00 2026\nSubject: last\n\n"
                                 "no newline at the end"));
    CHECK_OK(fs_write_atomic(path, mb.data, mb.len, 0600));
    buf_free(&mb);
    CHECK_OK(mailscan_mbox(path, NULL, record, warned, r1, &s1));
    CHECK_INT(s1.messages, 7);
    CHECK_INT(r1->nwarn, 2);
    for (size_t k = 0; k < sizeof(ws) / sizeof(ws[0]); k++) {
        memset(&s2, 0, sizeof(s2));
        CHECK_OK(mailscan_mbox_workers(path, NULL, ws[k], record, warned, r2, &s2));
        check_same(r1, &s1, r2, &s2);
        recorder_free(r2);
    }
    recorder_free(r1);
    free(r1);
    free(r2);
    unlink(path);
}

/* An error from the callback stops the scan and comes back unchanged. */
TEST(callback_error_stops)
{
    struct recorder r = {0};
    struct mailscan_stats st = {0};

    r.stop_after = 3;
    CHECK_ERR(mailscan_mbox(mbox_path, NULL, record, warned, &r, &st), CM_ERR_DB);
    CHECK_INT(r.nev, 3);
    CHECK_INT(st.events, 3);
    recorder_free(&r);
}

TEST(single_messages)
{
    struct recorder r = {0};
    struct mailscan_stats st = {0};
    unsigned char *big;

    /* One message from memory: the same event as in the mailbox. */
    CHECK_OK(mailscan_message(msgs[0].data, msgs[0].len, "test:1", NULL, record, warned, &r, &st));
    CHECK_INT(r.nev, 1);
    if (r.nev == 1)
        check_event(&r.ev[0], &wants[0], "test:1");
    recorder_free(&r);

    /* Nothing, garbage, a lone header: no event, and no crash. */
    memset(&st, 0, sizeof(st));
    CHECK_OK(mailscan_message((const unsigned char *)"", 0, NULL, NULL, record, warned, &r, &st));
    CHECK_OK(mailscan_message((const unsigned char *)"\x00\x01\x02\xff", 4, NULL, NULL, record,
                              warned, &r, &st));
    CHECK_OK(mailscan_message((const unsigned char *)"X-Certmint-Event: CERTISSUED\n", 29, "hdr",
                              NULL, record, warned, &r, &st));
    CHECK_INT(r.nev, 0);
    CHECK_INT(st.messages, 3);
    CHECK_INT(st.events, 0);
    /* Nothing and binary are not mail; the lone header is a certmint mail
     * whose header block never ends. */
    CHECK_INT(st.malformed, 3);
    CHECK_INT(r.nwarn, 3);
    if (r.nwarn == 3) {
        CHECK_STR(r.warn_src[0], "message");
        CHECK_STR(r.warn_why[0], "not a mail message");
        CHECK_STR(r.warn_why[1], "not a mail message");
        CHECK_STR(r.warn_src[2], "hdr");
        CHECK(strstr(r.warn_why[2], "truncated") != NULL);
    }
    recorder_free(&r);

    /* Larger than the limit: skipped with a warning, without parsing. */
    memset(&st, 0, sizeof(st));
    big = malloc(MAILSCAN_MAX_MESSAGE + 1);
    CHECK(big != NULL);
    if (big) {
        memset(big, 'a', MAILSCAN_MAX_MESSAGE + 1);
        memcpy(big, msgs[0].data, msgs[0].len);
        CHECK_OK(
            mailscan_message(big, MAILSCAN_MAX_MESSAGE + 1, "big", NULL, record, warned, &r, &st));
        CHECK_INT(r.nev, 0);
        CHECK_INT(st.malformed, 1);
        CHECK(r.nwarn == 1 && strstr(r.warn_why[0], "larger than") != NULL);
    }
    free(big);
    recorder_free(&r);
}

/* Broken blocks in an events part, one at a time: each is reported and the
 * good block after it still comes through. */
TEST(events_block_errors)
{
    static const struct {
        const char *block, *why;
    } cases[] = {
        {"X-Certmint-Event: CERTFOO\nX-Certmint-Event-ID: 1\n", "unknown event"},
        {"X-Certmint-Event: CERTISSUED\nX-Certmint-Event-ID: x1\nX-Certmint-Serial: 01\n",
         "bad X-Certmint-Event-ID"},
        {"X-Certmint-Event: CERTISSUED\nX-Certmint-Serial: 01\nX-Certmint-Serial: 02\n",
         "given twice"},
        {"X-Certmint-Event: CERTISSUED\nX-Certmint-Serial: 01\nX-Certmint-When: now\n",
         "bad X-Certmint-When"},
        {"X-Certmint-Event: CERTREVOKED\nX-Certmint-Serial: 01\nX-Certmint-Revoked-Reason: oops\n",
         "bad X-Certmint-Revoked-Reason"},
        {"X-Certmint-Event: CRLISSUED\nX-Certmint-CRL-Delta: maybe\nX-Certmint-CRL-Number: 1\n",
         "bad X-Certmint-CRL-Delta"},
        {"X-Certmint-Event: CRLISSUED\n", "without a CRL number"},
        {"X-Certmint-Event: CERTISSUED\nX-Certmint-Serial: 01\nX-Certmint-Attachment: 01.cer\n",
         "attachment 01.cer is missing"},
        {" folded: without a field\nX-Certmint-Event: CERTISSUED\n", "continuation line"},
        {"X-Certmint-Event CERTISSUED\n", "not 'Name: value'"},
        {"X-Certmint-Event: CERTISSUED\nX-Certmint-Serial: 00\n", "bad X-Certmint-Serial"},
        {"X-Certmint-Event: CERTISSUED\nX-Certmint-Serial: "
         "0102030405060708090A0B0C0D0E0F101112131415\n",
         "bad X-Certmint-Serial"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct recorder r = {0};
        struct mailscan_stats st = {0};
        cm_buf m = CM_BUF_INIT(MG_MAX);
        cm_err rc = buf_printf(&m,
                               "Subject: x\nMIME-Version: 1.0\nX-Certmint-Event: CERTISSUED\n"
                               "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                               "Content-Type: text/x-certmint-events\n\n%s\n"
                               "X-Certmint-Event: CERTREVOKED\nX-Certmint-Serial: 7F\n"
                               "X-Certmint-Event-ID: 9\n--b--\n",
                               cases[i].block);
        CHECK_OK(rc);
        CHECK_OK(mailscan_message(m.data, m.len, "case", NULL, record, warned, &r, &st));
        CHECK_INT(r.nev, 1);
        if (r.nev == 1) {
            CHECK_STR(r.ev[0].ev.serial, "7F");
            CHECK_INT(r.ev[0].ev.type, EXIT_EV_CERTREVOKED);
            CHECK_INT(r.ev[0].ev.event_id, 9);
        }
        CHECK_INT(st.malformed, 1);
        if (r.nwarn != 1 || strstr(r.warn_why[0], cases[i].why) == NULL)
            UNIT_FAIL("case %zu: warnings %zu, first '%s', expected '%s'", i, r.nwarn,
                      r.nwarn ? r.warn_why[0] : "", cases[i].why);
        recorder_free(&r);
        buf_free(&m);
    }
}

/* The certificate checks on an attachment: exactly one DER certificate, a
 * positive serial of at most 20 octets equal to the event's. */
static void one_attachment(const unsigned char *der, size_t len, const char *serial,
                           int subject_given, const char *want_why)
{
    struct mg_event ev = {.event = "CERTISSUED",
                          .id = 1,
                          .serial = serial,
                          .subject = subject_given ? "CN=x" : NULL,
                          .not_before = subject_given ? "2026-11-22T21:40:00Z" : NULL,
                          .not_after = subject_given ? "2027-11-22T21:40:00Z" : NULL,
                          .garbage = der,
                          .garbage_len = len,
                          .attach_name = "c.cer"};
    struct mg_mail m = {.keyid = KEYID,
                        .ca_dn = "CN=CA",
                        .subject = "s",
                        .date = DATE_HDR,
                        .body = "b",
                        .ev = &ev,
                        .n = 1};
    struct recorder r = {0};
    struct mailscan_stats st = {0};
    cm_buf msg = CM_BUF_INIT(MG_MAX);

    CHECK_OK(mg_mail(&msg, &m));
    CHECK_OK(mailscan_message(msg.data, msg.len, "att", NULL, record, warned, &r, &st));
    if (want_why == NULL) {
        CHECK_INT(r.nev, 1);
        CHECK_INT(r.nwarn, 0);
        if (r.nev == 1) {
            CHECK_INT(r.ev[0].ev.cert_der_len, len);
            CHECK(r.ev[0].ev.cert_der && memcmp(r.ev[0].ev.cert_der, der, len) == 0);
        }
    } else {
        CHECK_INT(r.nev, 0);
        CHECK_INT(st.malformed, 1);
        if (r.nwarn != 1 || strstr(r.warn_why[0], want_why) == NULL)
            UNIT_FAIL("serial %s: warning '%s', expected '%s'", serial,
                      r.nwarn ? r.warn_why[0] : "", want_why);
    }
    recorder_free(&r);
    buf_free(&msg);
}

TEST(attachment_checks)
{
    unsigned char *der = NULL, *big = NULL;
    int n = mg_cert_der(&der, cB);
    X509 *neg = leaf("-05", "neg", NULL), *zero = leaf("00", "zero", NULL),
         *longer = leaf("0102030405060708090A0B0C0D0E0F101112131415", "long", NULL);
    unsigned char *dneg = NULL, *dzero = NULL, *dlong = NULL;
    int nneg = mg_cert_der(&dneg, neg), nzero = mg_cert_der(&dzero, zero),
        nlong = mg_cert_der(&dlong, longer);

    CHECK(n > 0 && nneg > 0 && nzero > 0 && nlong > 0);
    if (n <= 0 || nneg <= 0 || nzero <= 0 || nlong <= 0)
        return;
    /* The good one, with and without the fields that need a full parse. */
    one_attachment(der, (size_t)n, "8F01020304050607", 1, NULL);
    one_attachment(der, (size_t)n, "8F01020304050607", 0, NULL);
    /* Not the serial the event gives. */
    one_attachment(der, (size_t)n, "8F01020304050608", 1, "holds serial 8F01020304050607");
    /* A byte more, a byte less, a PEM file instead of DER. */
    big = malloc((size_t)n + 1);
    memcpy(big, der, (size_t)n);
    big[n] = 0;
    one_attachment(big, (size_t)n + 1, "8F01020304050607", 1, "not one DER certificate");
    one_attachment(der, (size_t)n - 1, "8F01020304050607", 1, "not one DER certificate");
    one_attachment((const unsigned char *)"-----BEGIN CERTIFICATE-----\nMIIB\n", 32,
                   "8F01020304050607", 1, "not one DER certificate");
    /* Serials RFC 5280 4.1.2.2 does not allow. */
    one_attachment(dneg, (size_t)nneg, "05", 1, "not one DER certificate with a valid serial");
    one_attachment(dzero, (size_t)nzero, "01", 1, "not one DER certificate with a valid serial");
    one_attachment(dlong, (size_t)nlong, "01", 1, "not one DER certificate with a valid serial");
    /* Indefinite length (BER, not DER). */
    big[0] = 0x30;
    big[1] = 0x80;
    one_attachment(big, (size_t)n + 1, "8F01020304050607", 1, "not one DER certificate");
    free(big);

    /* Two empty parts under the same name (found by fuzzing: an empty
     * decoded part has no data pointer). */
    {
        static const char two_empty[] =
            "Subject: x\nMIME-Version: 1.0\nX-Certmint-Event: CERTISSUED\n"
            "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
            "Content-Type: text/x-certmint-events\n\nX-Certmint-Event: CERTISSUED\n"
            "X-Certmint-Serial: 01\nX-Certmint-Attachment: c.cer\n--b\n"
            "Content-Type: application/pkix-cert; name=c.cer\n\n--b\n"
            "Content-Type: application/pkix-cert; name=c.cer\n\n--b--\n";
        struct recorder r = {0};
        struct mailscan_stats st = {0};
        CHECK_OK(mailscan_message((const unsigned char *)two_empty, sizeof(two_empty) - 1, "e",
                                  NULL, record, warned, &r, &st));
        CHECK_INT(r.nev, 0);
        CHECK(r.nwarn == 1 && strstr(r.warn_why[0], "(0 bytes)") != NULL);
        recorder_free(&r);
    }
    OPENSSL_free(der);
    OPENSSL_free(dneg);
    OPENSSL_free(dzero);
    OPENSSL_free(dlong);
    X509_free(neg);
    X509_free(zero);
    X509_free(longer);
}

/* The test mails checked by independent parsers: Python's mailbox/email
 * modules split the mbox and undo quoted-printable, openssl reads the
 * certificate they decode. They must agree with the scanner. */
TEST(independent_parsers_agree)
{
    static const char py[] = "import mailbox, sys\n"
                             "msgs = list(mailbox.mbox(sys.argv[1]))\n"
                             "print(len(msgs))\n"
                             "for p in msgs[4].walk():\n"
                             "    ct = p.get_content_type()\n"
                             "    if ct == 'text/x-certmint-events':\n"
                             "        for l in p.get_payload(decode=True).decode().splitlines():\n"
                             "            if l.startswith('X-Certmint-Subject:'): print(l)\n"
                             "    if ct == 'application/pkix-cert':\n"
                             "        open(sys.argv[2], 'wb').write(p.get_payload(decode=True))\n";
    char script[PATH_MAX], der[PATH_MAX], out[PATH_MAX], cmd[4 * PATH_MAX];
    unsigned char *text = NULL, *got = NULL, *want = NULL;
    size_t tlen = 0, glen = 0;
    int wlen;

    if (system("command -v python3 >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1") != 0) {
        printf("# SKIP independent_parsers_agree: python3 or openssl missing\n");
        return;
    }
    snprintf(script, sizeof(script), "%s/check.py", tmpdir);
    snprintf(der, sizeof(der), "%s/m5.der", tmpdir);
    snprintf(out, sizeof(out), "%s/check.out", tmpdir);
    CHECK_OK(fs_write_atomic(script, py, sizeof(py) - 1, 0600));
    snprintf(cmd, sizeof(cmd),
             "python3 '%s' '%s' '%s' >'%s' 2>&1 && "
             "openssl x509 -inform DER -in '%s' -noout -serial >>'%s' 2>&1",
             script, mbox_path, der, out, der, out);
    CHECK_INT(system(cmd), 0);
    CHECK_OK(fs_read_file(&text, &tlen, out, 65536));
    CHECK(text && strstr((char *)text, "15\n") == (char *)text);
    CHECK(text && strstr((char *)text, "X-Certmint-Subject: CN=dave,OU=A rather long "
                                       "organisational unit name to force a soft line break,"
                                       "O=Example\n") != NULL);
    CHECK(text && strstr((char *)text, "serial=7D00000000000000000000000000000000000001") != NULL);
    CHECK_OK(fs_read_file(&got, &glen, der, 65536));
    wlen = mg_cert_der(&want, cD);
    CHECK(wlen > 0 && (size_t)wlen == glen && got && memcmp(got, want, glen) == 0);
    if (unit_failed_now && text)
        printf("# %s", (char *)text);
    free(text);
    free(got);
    OPENSSL_free(want);
}

/* A mail client at work during the scan: message 3 gets a new flag (renamed
 * in cur/), message 13 is seen (moved from new/ to cur/). Both must still be
 * read, once. */
static char renamed3[PATH_MAX], moved13[PATH_MAX];

static void client_renames(void)
{
    snprintf(renamed3, sizeof(renamed3), "%.*sRS", (int)strlen(msg_path[2]) - 1, msg_path[2]);
    snprintf(moved13, sizeof(moved13), "%s", msg_path[12]);
    char *p = strstr(moved13, "/new/");
    if (p)
        memcpy(p, "/cur/", 5);
    strncat(moved13, ":2,S", sizeof(moved13) - strlen(moved13) - 1);
    if (rename(msg_path[2], renamed3) != 0 || rename(msg_path[12], moved13) != 0)
        perror("rename");
}

TEST(maildir_client_renames)
{
    struct recorder r = {0};
    struct mailscan_stats st = {0};
    char md[PATH_MAX];
    int saw46 = 0, saw56 = 0;

    snprintf(md, sizeof(md), "%s/Maildir", tmpdir);
    r.hook = client_renames;
    CHECK_OK(mailscan_maildir(md, NULL, record, warned, &r, &st));
    CHECK_INT(st.events, NWANT);
    CHECK_INT(st.messages, NMSG);
    CHECK_INT(r.nwarn, NWARN);
    for (size_t i = 0; i < r.nev; i++) {
        if (r.ev[i].ev.event_id == 46) {
            saw46++;
            CHECK_STR(r.ev[i].ev.source + strlen("maildir:"), renamed3);
        }
        if (r.ev[i].ev.event_id == 56) {
            saw56++;
            CHECK_STR(r.ev[i].ev.source + strlen("maildir:"), moved13);
        }
    }
    CHECK_INT(saw46, 1);
    CHECK_INT(saw56, 1);
    recorder_free(&r);
    /* Put them back for the other tests. */
    if (rename(renamed3, msg_path[2]) != 0 || rename(moved13, msg_path[12]) != 0)
        UNIT_FAIL("cannot restore the Maildir");
}

TEST(bad_containers)
{
    struct recorder r = {0};
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/nope", tmpdir);
    CHECK_ERR(mailscan_maildir(path, NULL, record, warned, &r, NULL), CM_ERR_NOTFOUND);
    CHECK_ERR(mailscan_maildir(tmpdir, NULL, record, warned, &r, NULL), CM_ERR_NOTFOUND);
    CHECK_ERR(mailscan_mbox(path, NULL, record, warned, &r, NULL), CM_ERR_NOTFOUND);
    /* A Maildir file is not an mbox. */
    CHECK_ERR(mailscan_mbox(msg_path[0], NULL, record, warned, &r, NULL), CM_ERR_INVALID);
    /* An empty mbox has no message. */
    snprintf(path, sizeof(path), "%s/empty.mbox", tmpdir);
    CHECK_OK(fs_write_atomic(path, "", 0, 0600));
    CHECK_OK(mailscan_mbox(path, NULL, record, warned, &r, NULL));
    CHECK_INT(r.nev, 0);
    CHECK_INT(r.nwarn, 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    char md[PATH_MAX];

    unit_suite = "mailscan";
    snprintf(tmpdir, sizeof(tmpdir), "%s/cm-mailscan.XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    ca_key = EVP_EC_gen("P-256");
    leaf_key = EVP_EC_gen("P-256");
    ca_cert = mg_cert(ca_key, NULL, ca_key, "01", "certmint Test CA", "Example",
                      (time_t)utc(2026, 1, 1, 0, 0, 0), (time_t)utc(2036, 1, 1, 0, 0, 0));
    if (!ca_key || !leaf_key || !ca_cert)
        return 2;
    cA = leaf("5A3F09C2D1E4B7A8", "J\xc3\xbcrgen M\xc3\xbcller", "Example");
    cB = leaf("8F01020304050607", "bob", "Example");
    cC = leaf("0C0FFEE0", "carol", "Example");
    cD = leaf("7D00000000000000000000000000000000000001", "dave", "Example");
    cE = leaf("0E0E", "erin", "Other");
    cF = leaf("0F0F0F0F", "frank", "Example");
    cG = leaf("1111", "gina", "Example");
    cH = leaf("4848", "hank", "Example");
    cI = leaf("4949", "ivan", "Example");
    cJ = leaf("4A4A", "jane", "Example");
    fill_times();
    build_mails();
    snprintf(md, sizeof(md), "%s/Maildir", tmpdir);
    write_maildir(md);
    snprintf(mbox_path, sizeof(mbox_path), "%s/audit.mbox", tmpdir);
    write_mbox(mbox_path);

    RUN(maildir_every_field);
    RUN(mbox_every_field);
    RUN(mbox_from_quoting);
    RUN(ca_key_id_filter);
    RUN(stats_accumulate);
    RUN(callback_error_stops);
    RUN(mbox_workers_agree);
    RUN(mbox_workers_large_and_odd);
    RUN(single_messages);
    RUN(events_block_errors);
    RUN(attachment_checks);
    RUN(independent_parsers_agree);
    RUN(maildir_client_renames);
    RUN(bad_containers);

    for (int i = 0; i < NMSG; i++)
        buf_free(&msgs[i]);
    X509 *all[] = {cA, cB, cC, cD, cE, cF, cG, cH, cI, cJ, ca_cert};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        X509_free(all[i]);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    if (getenv("KEEP") == NULL)
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_DONE();
}

#else

/* Built without GMime: every entry point refuses, clearly. */
TEST(refused_without_gmime)
{
    struct mailscan_stats st = {0};

    CHECK_ERR(mailscan_mbox("/dev/null", NULL, NULL, NULL, NULL, &st), CM_ERR_UNSUPPORTED);
    CHECK_ERR(mailscan_maildir("/tmp", NULL, NULL, NULL, NULL, &st), CM_ERR_UNSUPPORTED);
    CHECK_ERR(mailscan_message((const unsigned char *)"", 0, NULL, NULL, NULL, NULL, NULL, &st),
              CM_ERR_UNSUPPORTED);
    CHECK(strstr(cm_err_msg(), "GMime") != NULL);
}

int main(void)
{
    unit_suite = "mailscan";
    RUN(refused_without_gmime);
    return UNIT_DONE();
}

#endif
