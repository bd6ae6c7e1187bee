/* What certmint itself put in the directory, remembered in the CA database,
 * so that the ldap exit module removes on revocation exactly what it
 * published and never a certificate someone else put on an entry.
 *
 * One meta key per certificate, "ldap.published.SERIAL" (db/db.h meta
 * table, backed up and restored with the rest of the database), holding:
 *   DN             published by certmint on the entry DN
 *   pending:DN     about to be written to DN (set before the write, so that
 *                  a crash between the directory write and the database
 *                  commit is recognised when the event is delivered again)
 *   removed:DN     was published, then removed (revoked, or expired and
 *                  cleaned by dsverify --fix); DN is empty when the
 *                  certificate was already on hold when its CERTISSUED event
 *                  was delivered, so that releasing the hold publishes it
 *   foreign:DN     was already on DN when certmint came to publish it
 *                  (someone ran dspublish): not certmint's to remove
 * ("pending:", "removed:", "foreign:" cannot start a DN: an attribute type
 * holds no ':', RFC 4512 1.4.) No key: certmint never published it.
 *
 * Every change is one committed transaction of its own (callers are outside
 * any transaction). */
#ifndef CM_LDAP_RECORD_H
#define CM_LDAP_RECORD_H

#include "config/config.h"
#include "db/db.h"
#include "ldap/dir.h"
#include "util/err.h"

#include <openssl/x509.h>

#define DIR_RECORD_KEY_PREFIX "ldap.published."

enum dir_record_state {
    DIR_REC_NONE,
    DIR_REC_PENDING,
    DIR_REC_PUBLISHED,
    DIR_REC_REMOVED,
    DIR_REC_FOREIGN,
};
const char *dir_record_state_name(enum dir_record_state st); /* "published", ... */

/* The record of serial (canonical hex). *dn (caller frees) is the DN part,
 * "" for DIR_REC_REMOVED without one, NULL for DIR_REC_NONE. */
cm_err dir_record_get(enum dir_record_state *st, char **dn, db_t *db,
                      const char *serial) CM_MUST_USE;
/* Stores the record of serial in its own transaction. */
cm_err dir_record_set(db_t *db, const char *serial, enum dir_record_state st,
                      const char *dn) CM_MUST_USE;

/* 1 when profile is listed in exit.ldap.profiles of cfg (case-sensitive,
 * as profile names are); 0 for NULL. */
int dir_profile_listed(const cm_config *cfg, const char *profile);

/* Publishes a certificate of this CA on its owner's entry and records it:
 * finds the entry (dir_find_for_cert), records pending, adds the DER with
 * DIR_ADD (a renewal keeps the owner's other certificates; the same one
 * again changes nothing), then records published, or foreign when the value
 * was already there and no earlier record of ours says we put it there.
 * *dn_out (may be NULL; caller frees) is the entry; *what what changed. */
cm_err dir_record_publish(char **dn_out, enum dir_change *what, struct dir *d, db_t *db,
                          const char *serial, X509 *x, const unsigned char *der,
                          size_t len) CM_MUST_USE;

/* Removes the certificate from the entry recorded for serial when the
 * record says certmint published it (published or pending) and records it
 * removed; the value or the entry being gone already counts as removed.
 * Any other record: nothing is touched, *what = DIR_UNCHANGED. *dn_out
 * (may be NULL; caller frees) is the entry it was removed from. */
cm_err dir_record_unpublish(char **dn_out, enum dir_change *what, struct dir *d, db_t *db,
                            const char *serial, const unsigned char *der, size_t len) CM_MUST_USE;

#endif
