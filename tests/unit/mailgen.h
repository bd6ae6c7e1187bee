/* A small generator of certmint notification mails, written from
 * docs/mail-format.md independently of the scanner, for the mail scanner's
 * tests and benchmark. It also makes certificates (OpenSSL) to attach, and
 * writes Maildir files and mbox files (From_ lines, ">From " quoting).
 *
 * Everything is static inline so that a program includes only what it uses. */
#ifndef CM_TESTS_MAILGEN_H
#define CM_TESTS_MAILGEN_H

#include "util/buf.h"
#include "util/err.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MG_MAX (64u * 1024 * 1024)

struct mg_event {
    const char *event;    /* "CERTISSUED"; NULL leaves the line out */
    long long id;         /* X-Certmint-Event-ID */
    const char *when;     /* YYYY-MM-DDTHH:MM:SSZ, NULL: none */
    long long request_id; /* 0: none */
    const char *serial;   /* as written; NULL: the certificate's, else none */
    const char *subject;  /* UTF-8 DN; RFC 2047 encoded when not ASCII */
    int fold_subject;     /* fold the subject line at its first ", " */
    const char *not_before, *not_after, *profile;
    const char *reason, *effective; /* revocations */
    long long crl_number;           /* CRLISSUED; 0: none */
    const char *crl_delta;          /* "yes" / "no" */
    X509 *cert;                     /* attached as SERIAL.cer */
    const unsigned char *garbage;   /* attached instead of a certificate... */
    size_t garbage_len;
    const char *attach_name; /* ...under this name (and for cert if set) */
    const char *extra;       /* raw lines appended to the block */
};

struct mg_mail {
    const char *keyid;                /* X-Certmint-CA-Key-ID, full lower-case hex */
    const char *ca_dn;                /* X-Certmint-CA */
    const char *subject;              /* Subject: as written (encode it yourself) */
    const char *date;                 /* RFC 5322 date */
    const char *body;                 /* text/plain, UTF-8 */
    int qp_body, qp_events, qp_certs; /* quoted-printable instead of 8bit/7bit/base64 */
    int toplevel_only;                /* no events part: a single event in the headers only */
    int reverse_attachments;
    int crlf;                 /* CRLF line ends instead of LF */
    long long count_override; /* X-Certmint-Event-Count when not 0 */
    const struct mg_event *ev;
    size_t n;
};

/* Serial of a certificate as upper-case hex (no leading zero octets). */
static inline void mg_cert_serial(char out[64], X509 *cert)
{
    const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
    BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(out, 64, "%s%s", hex && strlen(hex) % 2 ? "0" : "", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

/* DER of a certificate; *out is OPENSSL_malloc'ed. */
static inline int mg_cert_der(unsigned char **out, X509 *cert)
{
    *out = NULL;
    return i2d_X509(cert, out);
}

/* Base64 (RFC 2045 6.8), lines of 76 characters. */
static inline cm_err mg_b64(cm_buf *b, const unsigned char *p, size_t n)
{
    unsigned char line[80];
    cm_err rc = CM_OK;
    for (size_t i = 0; i < n && rc == CM_OK; i += 57) {
        size_t k = n - i < 57 ? n - i : 57;
        int m = EVP_EncodeBlock(line, p + i, (int)k);
        rc = buf_append(b, line, (size_t)m);
        if (rc == CM_OK)
            rc = buf_append_str(b, "\n");
    }
    return rc;
}

/* Quoted-printable (RFC 2045 6.7). text: line breaks stay line breaks;
 * otherwise every byte outside the printable set is encoded. Lines are
 * soft-broken before 76 characters. */
static inline cm_err mg_qp(cm_buf *b, const unsigned char *p, size_t n, int text)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t col = 0;
    cm_err rc = CM_OK;
    for (size_t i = 0; i < n && rc == CM_OK; i++) {
        unsigned c = p[i];
        char enc[4];
        size_t el;
        if (text && c == '\n') {
            rc = buf_append_str(b, "\n");
            col = 0;
            continue;
        }
        int eol_ws = (c == ' ' || c == '\t') && (i + 1 == n || p[i + 1] == '\n');
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol_ws)) {
            enc[0] = (char)c;
            el = 1;
        } else {
            enc[0] = '=';
            enc[1] = hx[c >> 4];
            enc[2] = hx[c & 15];
            el = 3;
        }
        if (col + el > 75) {
            rc = buf_append_str(b, "=\n");
            col = 0;
        }
        if (rc == CM_OK)
            rc = buf_append(b, enc, el);
        col += el;
    }
    if (rc == CM_OK && !text)
        rc = buf_append_str(b, "\n");
    return rc;
}

static inline int mg_is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* An RFC 2047 encoded-word (B encoding) for a UTF-8 value. */
static inline cm_err mg_encword(cm_buf *b, const char *utf8)
{
    unsigned char tmp[1024];
    size_t n = strlen(utf8);
    if (n > 700)
        return cm_err_set(CM_ERR_INVALID, "mailgen: value too long");
    EVP_EncodeBlock(tmp, (const unsigned char *)utf8, (int)n);
    return buf_printf(b, "=?utf-8?B?%s?=", (const char *)tmp);
}

static inline cm_err mg_block(cm_buf *b, const struct mg_event *e)
{
    cm_err rc = CM_OK;
    char serial[64] = "";

    if (e->serial)
        snprintf(serial, sizeof(serial), "%s", e->serial);
    else if (e->cert)
        mg_cert_serial(serial, e->cert);
    if (e->event)
        CM_TRY(buf_printf(b, "X-Certmint-Event: %s\n", e->event));
    CM_TRY(buf_printf(b, "X-Certmint-Event-ID: %lld\n", e->id));
    if (e->when)
        CM_TRY(buf_printf(b, "X-Certmint-When: %s\n", e->when));
    if (e->request_id)
        CM_TRY(buf_printf(b, "X-Certmint-Request-ID: %lld\n", e->request_id));
    if (serial[0])
        CM_TRY(buf_printf(b, "X-Certmint-Serial: %s\n", serial));
    if (e->subject) {
        CM_TRY(buf_append_str(b, "X-Certmint-Subject: "));
        if (!mg_is_ascii(e->subject)) {
            CM_TRY(mg_encword(b, e->subject));
        } else if (e->fold_subject && strstr(e->subject, ", ")) {
            const char *sp = strstr(e->subject, ", ");
            /* RFC 5322 2.2.3: fold by putting a line break before white space. */
            CM_TRY(buf_append(b, e->subject, (size_t)(sp - e->subject) + 1));
            CM_TRY(buf_printf(b, "\n%s", sp + 1));
        } else {
            CM_TRY(buf_append_str(b, e->subject));
        }
        CM_TRY(buf_append_str(b, "\n"));
    }
    if (e->not_before)
        CM_TRY(buf_printf(b, "X-Certmint-Not-Before: %s\n", e->not_before));
    if (e->not_after)
        CM_TRY(buf_printf(b, "X-Certmint-Not-After: %s\n", e->not_after));
    if (e->profile)
        CM_TRY(buf_printf(b, "X-Certmint-Profile: %s\n", e->profile));
    if (e->reason)
        CM_TRY(buf_printf(b, "X-Certmint-Revoked-Reason: %s\n", e->reason));
    if (e->effective)
        CM_TRY(buf_printf(b, "X-Certmint-Revoked-Effective: %s\n", e->effective));
    if (e->crl_number)
        CM_TRY(buf_printf(b, "X-Certmint-CRL-Number: %lld\n", e->crl_number));
    if (e->crl_delta)
        CM_TRY(buf_printf(b, "X-Certmint-CRL-Delta: %s\n", e->crl_delta));
    if (e->attach_name)
        CM_TRY(buf_printf(b, "X-Certmint-Attachment: %s\n", e->attach_name));
    else if (e->cert)
        CM_TRY(buf_printf(b, "X-Certmint-Attachment: %s.cer\n", serial));
    if (e->extra)
        CM_TRY(buf_append_str(b, e->extra));
out:
    return rc;
}

static inline cm_err mg_attachment(cm_buf *b, const char *boundary, const struct mg_event *e,
                                   int qp)
{
    unsigned char *der = NULL;
    const unsigned char *data;
    size_t len;
    char serial[64] = "", name[128];
    cm_err rc = CM_OK;

    if (e->garbage) {
        data = e->garbage;
        len = e->garbage_len;
    } else {
        int n = mg_cert_der(&der, e->cert);
        if (n <= 0)
            return cm_err_set(CM_ERR_CRYPTO, "mailgen: i2d_X509");
        data = der;
        len = (size_t)n;
        mg_cert_serial(serial, e->cert);
    }
    if (e->serial) /* the name the block gives, even when it lies */
        snprintf(serial, sizeof(serial), "%s", e->serial);
    if (e->attach_name)
        snprintf(name, sizeof(name), "%s", e->attach_name);
    else
        snprintf(name, sizeof(name), "%s.cer", serial);
    CM_TRY(buf_printf(b,
                      "--%s\nContent-Type: application/pkix-cert; name=\"%s\"\n"
                      "Content-Disposition: attachment; filename=\"%s\"\n"
                      "Content-Transfer-Encoding: %s\n\n",
                      boundary, name, name, qp ? "quoted-printable" : "base64"));
    CM_TRY(qp ? mg_qp(b, data, len, 0) : mg_b64(b, data, len));
out:
    OPENSSL_free(der);
    return rc;
}

/* Writes one mail following docs/mail-format.md into *out (reset first). */
static inline cm_err mg_mail(cm_buf *out, const struct mg_mail *m)
{
    cm_buf b = CM_BUF_INIT(MG_MAX), blocks = CM_BUF_INIT(MG_MAX);
    const struct mg_event *first = m->n ? &m->ev[0] : NULL, *last = m->n ? &m->ev[m->n - 1] : NULL;
    char boundary[64], serial[64] = "", names[512] = "";
    cm_err rc = CM_OK;

    snprintf(boundary, sizeof(boundary), "=_certmint_%lld_%zu", first ? first->id : 0, m->n);
    /* Distinct event names, comma separated, in order of appearance. */
    for (size_t i = 0; i < m->n; i++) {
        const char *nm = m->ev[i].event;
        if (nm == NULL || strstr(names, nm))
            continue;
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", names[0] ? "," : "",
                 nm);
    }
    if (first && first->serial)
        snprintf(serial, sizeof(serial), "%s", first->serial);
    else if (first && first->cert)
        mg_cert_serial(serial, first->cert);

    CM_TRY(buf_printf(&b,
                      "Return-Path: <certmint@ca.example>\n"
                      "From: certmint <certmint@ca.example>\n"
                      "To: pki-audit@example.org\n"
                      "Subject: %s\nDate: %s\n",
                      m->subject, m->date));
    if (first && first->id != last->id)
        CM_TRY(buf_printf(&b, "Message-ID: <certmint.%.16s.%lld-%lld@ca.example>\n", m->keyid,
                          first->id, last->id));
    else
        CM_TRY(buf_printf(&b, "Message-ID: <certmint.%.16s.%lld@ca.example>\n", m->keyid,
                          first ? first->id : 0));
    CM_TRY(buf_printf(&b, "MIME-Version: 1.0\nX-Certmint-CA: %s\nX-Certmint-CA-Key-ID: %s\n",
                      m->ca_dn, m->keyid));
    if (names[0])
        CM_TRY(buf_printf(&b, "X-Certmint-Event: %s\n", names));
    if (first && m->n > 1)
        CM_TRY(buf_printf(&b, "X-Certmint-Event-ID: %lld-%lld\n", first->id, last->id));
    else if (first)
        CM_TRY(buf_printf(&b, "X-Certmint-Event-ID: %lld\n", first->id));
    if (first && first->request_id)
        CM_TRY(buf_printf(&b, "X-Certmint-Request-ID: %lld\n", first->request_id));
    if (serial[0])
        CM_TRY(buf_printf(&b, "X-Certmint-Serial: %s\n", serial));
    CM_TRY(buf_printf(&b, "X-Certmint-Event-Count: %lld\n",
                      m->count_override ? m->count_override : (long long)m->n));
    CM_TRY(buf_printf(&b,
                      "Content-Type: multipart/mixed; boundary=\"%s\"\n\n"
                      "This is a multi-part message in MIME format.\n\n"
                      "--%s\nContent-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: %s\n\n",
                      boundary, boundary, m->qp_body ? "quoted-printable" : "8bit"));
    if (m->qp_body)
        CM_TRY(mg_qp(&b, (const unsigned char *)m->body, strlen(m->body), 1));
    else
        CM_TRY(buf_append_str(&b, m->body));
    CM_TRY(buf_append_str(&b, "\n"));
    if (!m->toplevel_only) {
        for (size_t i = 0; i < m->n; i++) {
            if (i)
                CM_TRY(buf_append_str(&blocks, "\n"));
            CM_TRY(mg_block(&blocks, &m->ev[i]));
        }
        CM_TRY(buf_printf(&b,
                          "--%s\nContent-Type: text/x-certmint-events; charset=us-ascii\n"
                          "Content-Disposition: attachment; filename=\"events.txt\"\n"
                          "Content-Transfer-Encoding: %s\n\n",
                          boundary, m->qp_events ? "quoted-printable" : "7bit"));
        if (m->qp_events)
            CM_TRY(mg_qp(&b, blocks.data, blocks.len, 1));
        else
            CM_TRY(buf_append(&b, blocks.data, blocks.len));
    }
    for (size_t k = 0; k < m->n; k++) {
        size_t i = m->reverse_attachments ? m->n - 1 - k : k;
        if (m->ev[i].cert || m->ev[i].garbage)
            CM_TRY(mg_attachment(&b, boundary, &m->ev[i], m->qp_certs));
    }
    CM_TRY(buf_printf(&b, "--%s--\n", boundary));

    buf_reset(out);
    for (size_t i = 0; i < b.len; i++) {
        if (m->crlf && b.data[i] == '\n')
            CM_TRY(buf_append(out, "\r\n", 2));
        else
            CM_TRY(buf_append(out, &b.data[i], 1));
    }
out:
    buf_free(&b);
    buf_free(&blocks);
    return rc;
}

/* Appends a message to an mbox: a From_ line, the message with every line
 * that matches ^>*From  quoted by one more '>' (mboxrd), and an empty line. */
static inline cm_err mg_mbox_append(cm_buf *mbox, const unsigned char *msg, size_t len)
{
    cm_err rc = CM_OK;
    size_t i = 0;

    CM_TRY(buf_append_str(mbox, "From certmint@ca.example Sun Nov 22 21:40:00 2026\n"));
    while (i < len) {
        const unsigned char *nl = memchr(msg + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - msg) + 1 : len, j = i;
        while (j < end && msg[j] == '>')
            j++;
        if (end - j >= 5 && memcmp(msg + j, "From ", 5) == 0)
            CM_TRY(buf_append_str(mbox, ">"));
        CM_TRY(buf_append(mbox, msg + i, end - i));
        i = end;
    }
    if (len == 0 || msg[len - 1] != '\n')
        CM_TRY(buf_append_str(mbox, "\n"));
    CM_TRY(buf_append_str(mbox, "\n"));
out:
    return rc;
}

/* A certificate for tests: subject CN=cn[,O=o] (UTF-8), serial from hex,
 * validity [nb, na], key `key`, signed by cakey as `issuer` (NULL issuer:
 * self-signed). */
static inline X509 *mg_cert(EVP_PKEY *cakey, const X509_NAME *issuer, EVP_PKEY *key,
                            const char *serial_hex, const char *cn, const char *o, time_t nb,
                            time_t na)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *sn = NULL;
    int ok = x && name && BN_hex2bn(&bn, serial_hex) > 0 &&
             (sn = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && X509_set_version(x, 2) &&
             X509_set_serialNumber(x, sn) &&
             (o == NULL || X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                      (const unsigned char *)o, -1, -1, 0)) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                        -1, 0) &&
             X509_set_subject_name(x, name) && X509_set_issuer_name(x, issuer ? issuer : name) &&
             ASN1_TIME_set(X509_getm_notBefore(x), nb) &&
             ASN1_TIME_set(X509_getm_notAfter(x), na) && X509_set_pubkey(x, key) &&
             X509_sign(x, cakey, EVP_sha256()) > 0;
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

#endif
