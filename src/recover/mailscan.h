/* Reading the mail audit trail: a scanner of Maildirs and mbox files that
 * rebuilds the CA events recorded in the SMTP exit module's notification
 * mails (docs/mail-format.md), and, as a fallback, in AD CS-style text mails
 * ("Serial Number: 61 1a ..."). It is the reading half of
 * `certmint recover-orphans` (docs/recovery.md); it never touches the CA.
 *
 * MIME is parsed by GMime 3 (base64, quoted-printable, RFC 2047 and mbox
 * From_ lines are its job). Without GMime (no CM_HAVE_GMIME) every entry
 * point fails with CM_ERR_UNSUPPORTED.
 *
 * Robustness contract: one bad message never ends a run. A message that
 * cannot be parsed, is truncated, is larger than MAILSCAN_MAX_MESSAGE, or has
 * an events block that does not make sense is reported to the warn callback
 * (naming its source and why) and counted in mailscan_stats.malformed; the
 * scan goes on. The scan functions fail only when the mailbox itself cannot
 * be read, memory runs out, or the event callback returns an error (which is
 * passed back unchanged, so the caller can stop a scan).
 *
 * Nothing read from a mail is trusted: a certificate attached to a mail is
 * only known to have the DER structure of one certificate with the serial
 * the mail claims. Parsing it fully and checking that this CA signed it is
 * the caller's job.
 *
 * Each scan keeps its own state (GMime is initialised once, on first use);
 * callbacks are called on the scanning thread. */
#ifndef CM_RECOVER_MAILSCAN_H
#define CM_RECOVER_MAILSCAN_H

#include "util/err.h"
#include "util/text.h"

#include <stddef.h>
#include <stdint.h>

/* Messages larger than this are skipped (with a warning). */
#define MAILSCAN_MAX_MESSAGE (10u * 1024 * 1024)
/* At most this many events are read from one message. */
#define MAILSCAN_MAX_EVENTS 100000

#define MAILSCAN_SOURCE_MAX 4200
#define MAILSCAN_MSGID_MAX 1000
#define MAILSCAN_KEYID_MAX 129 /* 64-octet key identifier in hex + NUL */

/* One event rebuilt from a mail. The event passed to the callback, and every
 * pointer in it, belongs to the scanner and is valid only during the call:
 * copy what you keep. Absent values: 0 for event_id, request_id and times,
 * "" for serial/message_id/ca_key_id, NULL for strings and cert_der, -1 for
 * revoked_reason, crl_number and crl_delta. */
struct mail_event {
    /* "maildir:/path/cur/FILE", "mbox:/path#N" (N counts messages from 1),
     * or the source given to mailscan_message(). */
    char source[MAILSCAN_SOURCE_MAX];
    char message_id[MAILSCAN_MSGID_MAX]; /* without the angle brackets */
    char ca_key_id[MAILSCAN_KEYID_MAX];  /* X-Certmint-CA-Key-ID, lower-case hex */
    int type;                            /* EXIT_EV_* (exit/exit.h) */
    int64_t event_id;                    /* outbox ID (X-Certmint-Event-ID) */
    int64_t request_id;
    char serial[CM_SERIAL_BUF]; /* canonical (text_serial_canon) */
    char *subject_dn;           /* UTF-8, RFC 2047 decoded */
    int64_t when;               /* X-Certmint-When, else the mail's Date */
    int64_t not_before, not_after;
    char *profile;
    char *requester; /* the request's RequesterName (X-Certmint-Requester); NULL: absent */
    int revoked_reason; /* RFC 5280 5.3.1 CRLReason code (DB_REASON_*) */
    int64_t revoked_effective;
    int64_t crl_number;
    int crl_delta; /* 1 delta CRL, 0 full CRL */
    /* The attached certificate, DER. Checked only as far as the scan needs:
     * the RFC 5280 4.1 structure of one certificate with nothing after it,
     * and a serial equal to `serial`. Parse it and verify its signature
     * before trusting it. Subject and validity the mail lacks were filled in
     * from it (those certificates were parsed in full). */
    unsigned char *cert_der;
    size_t cert_der_len;
    /* 1 when rebuilt from an AD CS-style text body (no X-Certmint headers):
     * values are best effort, times are read as UTC, ca_key_id is "". */
    int from_text_fallback;
};

/* Called once per event, in mailbox order. A non-CM_OK return stops the scan
 * and is returned by the scan function. */
typedef cm_err (*mailscan_cb)(void *ctx, const struct mail_event *ev);
/* Called for every message skipped or partly read: why is one line. NULL
 * warn callback: the warning goes to log_warn(). */
typedef void (*mailscan_warn_cb)(void *ctx, const char *source, const char *why);

/* Counters; the scan functions add to them (zero the struct before the first
 * scan), so one struct can total several mailboxes. */
struct mailscan_stats {
    size_t messages;          /* every message read */
    size_t certmint_messages; /* with X-Certmint-Event or an events part */
    size_t fallback_messages; /* AD CS-style text mails that gave an event */
    size_t foreign_messages;  /* certmint mails of another CA (ca_key_id) */
    size_t events;            /* events passed to the callback */
    size_t malformed;         /* messages skipped or partly read */
};

/* Scans a Maildir: DIR/cur then DIR/new (tmp/ holds deliveries in progress
 * and is ignored), files in byte order of their names, then the Maildir++
 * subfolders DIR/.NAME (sorted) the same way. ca_key_id (hex, any case,
 * colons allowed) keeps only the certmint mails whose X-Certmint-CA-Key-ID
 * equals it; NULL keeps all. warn and st may be NULL. Fails with
 * CM_ERR_NOTFOUND when DIR has neither cur/ nor new/. */
cm_err mailscan_maildir(const char *dir, const char *ca_key_id, mailscan_cb cb,
                        mailscan_warn_cb warn, void *ctx, struct mailscan_stats *st) CM_MUST_USE;

/* Scans an mbox file (messages separated by "From " lines), streaming: the
 * memory used does not grow with the file. A body line quoted as ">From " is
 * not a separator (and stays quoted). Fails with CM_ERR_INVALID when the
 * file is not empty and does not start with a From line. */
cm_err mailscan_mbox(const char *path, const char *ca_key_id, mailscan_cb cb, mailscan_warn_cb warn,
                     void *ctx, struct mailscan_stats *st) CM_MUST_USE;

/* mailscan_mbox with GMime's parse of the messages in `workers` threads
 * (1: mailscan_mbox itself). This thread splits the file at its From lines
 * as GMime does and calls cb and warn, in mailbox order: the events,
 * warnings and stats are those of mailscan_mbox whatever the number of
 * workers. At most MAILSCAN_WINDOW messages (and MAILSCAN_WINDOW_BYTES of
 * them) are held at a time, so memory stays flat however large the mbox. */
#define MAILSCAN_WINDOW 256
#define MAILSCAN_WINDOW_BYTES (64u * 1024 * 1024)
cm_err mailscan_mbox_workers(const char *path, const char *ca_key_id, int workers, mailscan_cb cb,
                             mailscan_warn_cb warn, void *ctx,
                             struct mailscan_stats *st) CM_MUST_USE;

/* Scans one RFC 5322 message held in memory. source names it in events and
 * warnings (NULL: "message"). */
cm_err mailscan_message(const unsigned char *data, size_t len, const char *source,
                        const char *ca_key_id, mailscan_cb cb, mailscan_warn_cb warn, void *ctx,
                        struct mailscan_stats *st) CM_MUST_USE;

#endif
