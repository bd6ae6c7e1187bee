/* Recovery of "orphaned" certificates from the mail audit trail.
 *
 * After a CA is restored from a backup, certificates it issued after the
 * backup are valid but unknown to it. recover_orphans() reads the SMTP exit
 * module's notification mails (Maildir or mbox), rebuilds the events they
 * record and, for each certificate the database lacks, imports the real
 * certificate (when the mail carries it and it verifies with this CA's key)
 * or records a placeholder for its serial; it re-applies revocations and
 * releases from hold, raises the RequestID, CRL-number and event-ID
 * sequences past everything seen in the trail, optionally revokes every
 * recovered certificate, and publishes a new CRL. A second run finds
 * nothing to do. */
#ifndef CM_RECOVER_RECOVER_H
#define CM_RECOVER_RECOVER_H

#include "ca/ca.h"

struct recover_opts {
    const char *const *maildirs;
    size_t nmaildirs;
    const char *const *mboxes;
    size_t nmboxes;
    int revoke_reason; /* -1: do not revoke what is recovered */
    int dry_run;       /* report only: nothing changes */
    int progress;      /* progress line on stderr (a terminal) */
    int workers;       /* threads decoding and checking certificates; 0: one per processor */
};

struct recover_item {
    char source[512];
    char serial[CM_SERIAL_BUF];
    char what[512];
    int64_t request_id; /* pending_unknown: the RequestID; else 0 */
};

struct recover_report {
    size_t messages, certmint_messages, foreign_messages, fallback_messages, malformed;
    size_t events;
    size_t known;        /* certificate events whose certificate the database had */
    size_t imported;     /* real certificates restored from mails */
    size_t placeholders; /* serials recorded without a certificate */
    size_t revocations;  /* revocations from the trail applied */
    size_t releases;     /* releases from hold from the trail applied */
    size_t revoked_now;  /* recovered certificates revoked by --revoke */
    int64_t max_request_id, max_event_id, max_crl_number;
    int64_t crl_number; /* the CRL published (0: none) */
    int64_t delta_crl_number;
    /* The first 10,000 of each are listed; the totals count them all. */
    struct recover_item *rejected; /* forged, foreign, conflicting */
    size_t nrejected, rejected_total;
    struct recover_item *warnings; /* malformed messages skipped */
    size_t nwarnings, warnings_total;
    /* Requests the trail shows pending (CERTPENDING, no outcome) that the
     * database lacks: reported, not restored (the mails lack the CSR). */
    struct recover_item *pending_unknown;
    size_t npending_unknown, pending_unknown_total;
};

cm_err recover_orphans(struct recover_report *rep, ca_ctx *ca,
                       const struct recover_opts *o) CM_MUST_USE;
void recover_report_free(struct recover_report *rep);

#endif
