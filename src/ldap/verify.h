/* certmint dsverify: compares what the directory holds with the database.
 *
 * Findings:
 *   missing   a certificate of a profile in exit.ldap.profiles that is valid
 *             now (issued or imported, not revoked, within its validity) is
 *             on no entry under ldap.base
 *   stale     an entry holds a certificate of this CA that has expired
 *   revoked   an entry holds a certificate of this CA that is revoked (or on
 *             hold)
 * Stale and revoked look at every certificate of this CA found in the
 * directory, whatever its profile (a revoked certificate in the address
 * book is wrong whoever put it there); a value counts as this CA's when its
 * issuer is the CA's subject and the database holds the very same bytes
 * under its serial. Values of other CAs are never looked at further.
 *
 * With fix: a missing certificate is published on its owner's entry as the
 * ldap exit module would (dir_record_publish); a stale or revoked one is
 * removed from the entry holding it (byte-identical value only) and, when
 * certmint's record says it published it, recorded as removed. */
#ifndef CM_LDAP_VERIFY_H
#define CM_LDAP_VERIFY_H

#include "ca/ca.h"
#include "ldap/dir.h"
#include "util/err.h"

enum dir_verify_kind {
    DIR_VERIFY_MISSING,
    DIR_VERIFY_STALE,
    DIR_VERIFY_REVOKED,
};
const char *dir_verify_kind_name(enum dir_verify_kind k); /* "missing", "stale", "revoked" */

/* One finding; strings borrowed during the callback. */
struct dir_verify_finding {
    enum dir_verify_kind kind;
    const char *serial;
    const char *owner; /* the certificate's e-mail address, else its subject DN */
    const char *dn;    /* stale/revoked: the entry holding it; missing: the entry it
                          belongs on, NULL when none was found (see note) */
    int64_t when;      /* stale: notAfter; revoked: revocation time; missing: 0 */
    int fixed;         /* 1 when fix repaired it */
    const char *note;  /* why it was not (or could not be) repaired; NULL when fixed */
};
typedef void (*dir_verify_cb)(void *ctx, const struct dir_verify_finding *f);

struct dir_verify_report {
    size_t expected;  /* valid certificates of the listed profiles */
    size_t published; /* values in the directory that are this CA's certificates */
    size_t unknown;   /* values naming this CA as issuer that the database does not hold */
    size_t missing, stale, revoked;
    size_t fixed;
};

/* Runs the comparison over the whole of ldap.base (d's search base),
 * reporting each finding to cb (may be NULL). With fix, repairs what it
 * can; a finding it cannot repair is reported with a note and does not stop
 * the others. Errors: the directory listing or the database failing. */
cm_err dir_verify(struct dir_verify_report *rep, ca_ctx *ca, struct dir *d, int fix,
                  dir_verify_cb cb, void *ctx) CM_MUST_USE;

#endif
