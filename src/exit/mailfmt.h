/* The certmint mail format: what the SMTP exit module writes (smtp.c,
 * mime.c) and the mail scanner reads back (src/recover/mailscan*.c) to
 * rebuild a lost database. One definition of every header name, the
 * events part and the Message-ID, so that writer and reader cannot drift.
 * These are string-literal macros so that they concatenate into format
 * strings: the bytes on the wire are exactly the literals below (tests:
 * test_mime.c, test_mailscan.c, e2e exit_smtp.sh and disaster.sh).
 *
 * Changing a value breaks reading older mail archives: add, never rename. */
#ifndef CM_EXIT_MAILFMT_H
#define CM_EXIT_MAILFMT_H

/* Every certmint header starts with this (RFC 6648 discourages "X-", but the
 * names are deployed in mail archives and filters: kept). */
#define MAILFMT_HDR_PREFIX "X-Certmint-"
#define MAILFMT_HDR_PREFIX_LEN 11

/* Top-level headers of every mail (one event or a batch). */
#define MAILFMT_HDR_CA "X-Certmint-CA"               /* RFC 4514 DN of the CA */
#define MAILFMT_HDR_CA_KEY_ID "X-Certmint-CA-Key-ID" /* lower-case hex SKI */
#define MAILFMT_HDR_EVENT_COUNT "X-Certmint-Event-Count"

/* Per-event fields: top-level headers of a one-event mail, and the lines
 * of each block of the events part. */
#define MAILFMT_HDR_EVENT "X-Certmint-Event"
#define MAILFMT_HDR_EVENT_ID "X-Certmint-Event-ID"
#define MAILFMT_HDR_WHEN "X-Certmint-When"
#define MAILFMT_HDR_REQUEST_ID "X-Certmint-Request-ID"
#define MAILFMT_HDR_SERIAL "X-Certmint-Serial"
#define MAILFMT_HDR_SUBJECT "X-Certmint-Subject"
#define MAILFMT_HDR_NOT_BEFORE "X-Certmint-Not-Before"
#define MAILFMT_HDR_NOT_AFTER "X-Certmint-Not-After"
#define MAILFMT_HDR_PROFILE "X-Certmint-Profile"
#define MAILFMT_HDR_REQUESTER "X-Certmint-Requester" /* the request's RequesterName */
#define MAILFMT_HDR_ATTACHMENT "X-Certmint-Attachment"
#define MAILFMT_HDR_REVOKED_REASON "X-Certmint-Revoked-Reason"
#define MAILFMT_HDR_REVOKED_EFFECTIVE "X-Certmint-Revoked-Effective"
#define MAILFMT_HDR_CRL_NUMBER "X-Certmint-CRL-Number"
#define MAILFMT_HDR_CRL_DELTA "X-Certmint-CRL-Delta"

/* The machine-readable part: one block of the fields above per event. */
#define MAILFMT_EVENTS_TYPE "text"
#define MAILFMT_EVENTS_SUBTYPE "x-certmint-events"
#define MAILFMT_EVENTS_CONTENT_TYPE                                                                \
    MAILFMT_EVENTS_TYPE "/" MAILFMT_EVENTS_SUBTYPE "; charset=us-ascii"
#define MAILFMT_EVENTS_FILENAME "events.txt"

/* Each issued certificate is attached as SERIAL.cer (RFC 2585 3). */
#define MAILFMT_CERT_TYPE "application"
#define MAILFMT_CERT_SUBTYPE "pkix-cert"
#define MAILFMT_CERT_CONTENT_TYPE MAILFMT_CERT_TYPE "/" MAILFMT_CERT_SUBTYPE
#define MAILFMT_CERT_SUFFIX ".cer"

/* Message-ID left sides (RFC 5322 3.6.4): certmint.KEYID16.EVENTID or
 * certmint.KEYID16.FIRST-LAST for a batch (the same events give the same
 * ID, so a resent mail is a recognisable duplicate); certmint.RANDOM for a
 * mail without one. */
#define MAILFMT_MSGID_PREFIX "certmint."

#endif
