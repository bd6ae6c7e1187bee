/* AD CS-style text mails: no X-Certmint headers, a text body with labelled
 * lines ("Serial Number: 61 1a 2b ...", "Request ID: 12") and the event in
 * the subject ("Certificate Issued"). Best effort: see docs/recovery.md. */
#ifdef CM_HAVE_GMIME

#include "exit/exit.h"
#include "recover/mailscan_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

    if (mailscan_parse_time(out, v) == 0)
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
        {"unrevoked", EXIT_EV_CERTUNREVOKED}, {"released from hold", EXIT_EV_CERTUNREVOKED},
        {"revoked", EXIT_EV_CERTREVOKED},     {"revocation", EXIT_EV_CERTREVOKED},
        {"imported", EXIT_EV_CERTIMPORTED},   {"issued", EXIT_EV_CERTISSUED},
        {"denied", EXIT_EV_CERTDENIED},       {"pending", EXIT_EV_CERTPENDING},
    };
    if (subject == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(subject, words[i].word) != NULL)
            return words[i].ev;
    return 0;
}

/* What the labelled lines of a text mail said so far. */
struct text_fields {
    struct mail_event *ev;
    char serial[CM_SERIAL_BUF];
    char err[160]; /* the first problem found, "" for none */
    char *subject_dn, *profile;
    int revoked_hint;
};

/* Reads one line of a text mail's body into f: a "Label: value" line with
 * a label certmint knows, or a bare "Revoked". */
static void text_line(struct text_fields *f, char *line)
{
    static const char *const l_serial[] = {"serialnumber", "serial", "certificateserialnumber",
                                           NULL};
    static const char *const l_request[] = {"requestid", "certificaterequestid", NULL};
    static const char *const l_subject[] = {"subject", "distinguishedname", "subjectdn",
                                            "requesterdn", NULL};
    static const char *const l_notbefore[] = {"notbefore", "validfrom", "effectivedate", NULL};
    static const char *const l_notafter[] = {
        "notafter", "expiration", "expirationdate", "expires", "validto", "validuntil", NULL};
    static const char *const l_reason[] = {"revocationreason", "crlreason", NULL};
    static const char *const l_revdate[] = {
        "revocationdate",          "revoked", "revokedon", "revokedeffective",
        "revocationeffectivedate", NULL};
    static const char *const l_profile[] = {"certificatetemplate", "template", "profile", NULL};
    struct mail_event *ev = f->ev;
    char label[40], *colon, *val;

    line = text_trim(line);
    colon = strchr(line, ':');
    if (colon == NULL) {
        label_norm(label, sizeof(label), line, line + strlen(line));
        if (strcmp(label, "revoked") == 0)
            f->revoked_hint = 1;
        return;
    }
    label_norm(label, sizeof(label), line, colon);
    val = text_trim(colon + 1);
    if (label_in(label, l_serial)) {
        char sn[CM_SERIAL_BUF];
        if (text_serial_canon(sn, val) != CM_OK)
            snprintf(f->err, sizeof(f->err), "bad serial number '%.64s'", val);
        else if (f->serial[0] && strcmp(f->serial, sn) != 0)
            snprintf(f->err, sizeof(f->err), "two serial numbers (%s, %s)", f->serial, sn);
        else
            memcpy(f->serial, sn, sizeof(sn));
    } else if (label_in(label, l_request)) {
        if (mailscan_parse_id(&ev->request_id, val, 1) != 0)
            snprintf(f->err, sizeof(f->err), "bad request ID '%.64s'", val);
    } else if (label_in(label, l_subject) && f->subject_dn == NULL && *val) {
        f->subject_dn = g_strdup(val);
    } else if (label_in(label, l_profile) && f->profile == NULL && *val) {
        f->profile = g_strdup(val);
    } else if (label_in(label, l_notbefore)) {
        (void)parse_loose_time(&ev->not_before, val);
    } else if (label_in(label, l_notafter)) {
        (void)parse_loose_time(&ev->not_after, val);
    } else if (label_in(label, l_reason)) {
        f->revoked_hint = 1;
        ev->revoked_reason = mailscan_parse_reason(val);
    } else if (label_in(label, l_revdate)) {
        f->revoked_hint = 1;
        (void)parse_loose_time(&ev->revoked_effective, val);
    }
}

/* AD CS-style text mail: no X-Certmint headers, a body with labelled lines
 * ("Serial Number: 61 1a 2b ...", "Request ID: 12", ...) and the event in the
 * subject ("Certificate Issued"). Anything else is not a notification. */
cm_err mailscan_scan_text(struct scan *s, GMimeMessage *msg)
{
    struct mail_event *ev = &s->ev;
    struct text_fields f;
    char *body = NULL, *line, *next;
    int type;
    cm_err rc = CM_OK;

    if (s->parts.text == NULL || !GMIME_IS_TEXT_PART(s->parts.text))
        return CM_OK;
    body = g_mime_text_part_get_text(GMIME_TEXT_PART(s->parts.text));
    if (body == NULL)
        return CM_OK;
    mailscan_event_reset(ev);
    memset(&f, 0, sizeof(f));
    f.ev = ev;
    /* A problem is reported only once the mail turns out to be a
     * notification: a "Serial:" line in someone's invoice is not our concern. */
    for (line = body; line != NULL && f.err[0] == '\0'; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        text_line(&f, line);
    }
    type = subject_event(g_mime_message_get_subject(msg));
    if (type == 0 && f.revoked_hint)
        type = EXIT_EV_CERTREVOKED;
    if (type == 0)
        goto out; /* not a notification */
    if (f.err[0] != '\0') {
        mailscan_bad(s, "text mail: %s", f.err);
        goto out;
    }
    if (f.serial[0] == '\0' && ev->request_id == 0)
        goto out; /* names no certificate and no request */
    if (s->fatal) {
        mailscan_bad(s, "text mail: %s", s->fatal);
        goto out;
    }
    s->st->fallback_messages++;
    ev->type = type;
    memcpy(ev->serial, f.serial, sizeof(f.serial));
    ev->subject_dn = f.subject_dn;
    ev->profile = f.profile;
    ev->when = s->date;
    ev->from_text_fallback = 1;
    rc = mailscan_event_emit(s);
out:
    g_free(f.subject_dn);
    g_free(f.profile);
    g_free(body);
    return rc;
}

#endif /* CM_HAVE_GMIME */
