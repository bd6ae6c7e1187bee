/* Internals of the mail audit trail scanner, shared by mailscan.c (sources,
 * message dispatch), mailscan_events.c (certmint events parts, top-level
 * headers, certificate attachments) and mailscan_text.c (AD CS-style text
 * mails). Not for use outside src/recover/mailscan*.c. */
#ifndef CM_RECOVER_MAILSCAN_INT_H
#define CM_RECOVER_MAILSCAN_INT_H

#ifdef CM_HAVE_GMIME

#include "recover/mailscan.h"
#include "util/dl_gmime.h"
#include "util/err.h"

#include <stdint.h>

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
    int before_from;   /* mailscan_scan_chunk: a From line followed the message */
    struct mail_event ev;
};

/* Warnings about the current message (s->ev.source). mailscan_bad counts the
 * message once in stats.malformed; mailscan_note does not (foreign mail). */
void mailscan_note(struct scan *s, const char *fmt, ...) CM_PRINTF(2, 3);
void mailscan_bad(struct scan *s, const char *fmt, ...) CM_PRINTF(2, 3);

/* Clears the per-event fields of ev (not source, message_id, ca_key_id). */
void mailscan_event_reset(struct mail_event *ev);
/* Passes s->ev to the callback; counts it. */
cm_err mailscan_event_emit(struct scan *s) CM_MUST_USE;

/* Values: 0 on success, -1 if v is not one. */
int mailscan_parse_time(int64_t *out, const char *v);              /* YYYY-MM-DDTHH:MM:SSZ */
int mailscan_parse_id(int64_t *out, const char *v, long long min); /* digits only */
int mailscan_parse_reason(const char *v);                          /* CRLReason code, or -1 */

/* The events of a certmint mail: from its events part, or from its
 * top-level headers when it has none. Fail only for the callback's error or
 * out of memory. */
cm_err mailscan_scan_events(struct scan *s, GMimeMessage *msg) CM_MUST_USE;
cm_err mailscan_scan_toplevel(struct scan *s, GMimeMessage *msg) CM_MUST_USE;
/* An AD CS-style text mail (no X-Certmint headers); passes over anything
 * that is not a notification. */
cm_err mailscan_scan_text(struct scan *s, GMimeMessage *msg) CM_MUST_USE;

/* The parallel mbox scan's steps (mailscan_mbox.c): a scan state (st not
 * NULL), one mbox message read by it, the state freed. */
cm_err mailscan_scan_begin(struct scan *s, const char *ca_key_id, mailscan_cb cb,
                           mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st) CM_MUST_USE;
void mailscan_scan_end(struct scan *s);
cm_err mailscan_scan_chunk(struct scan *s, const char *path, size_t n, const unsigned char *data,
                           size_t len, int64_t span, int before_from) CM_MUST_USE;

#endif /* CM_HAVE_GMIME */
#endif
