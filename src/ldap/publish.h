/* dspublish / dsunpublish as core calls: certificates, the CA certificate
 * and CRLs in the directory configured by the ldap.* keys (certutil
 * -dspublish's job), for any certificate: issued here or elsewhere.
 *
 * The CA key is never needed. Each item (a file, a serial, a CA object) is
 * reported through a callback as it is done; a failed item does not stop
 * the others. Every change made (not with dry_run, not "unchanged") is
 * recorded in the audit log by actor: action "dspublish" or "dsunpublish",
 * the certificate's serial, and "ATTRIBUTE of DN: CHANGE (ITEM)". */
#ifndef CM_LDAP_PUBLISH_H
#define CM_LDAP_PUBLISH_H

#include "ca/ca.h"
#include "ldap/dir.h"
#include "ldap/verify.h"

/* One item's outcome. Strings are borrowed for the callback's duration. */
struct ds_result {
    const char *item;       /* as given: file name, serial, CA file */
    const char *dn;         /* the entry; NULL when the item failed */
    const char *matched_by; /* "mail" or "DN" (certificates); NULL otherwise */
    const char *attribute;  /* userCertificate;binary, cACertificate, ... */
    const char *change;     /* "added", "would add", "unchanged (already there)"... */
    const char *error;      /* NULL, or why the item failed (the whole message) */
};
typedef void (*ds_report_cb)(void *ctx, const struct ds_result *r);

struct ds_publish_opts {
    const char *const *files; /* certificate files (PEM or DER) */
    size_t nfiles;
    enum dir_mode mode; /* an entry holding another certificate */
    int ca;             /* HOME's CA certificate to ldap.ca_entry */
    int crl;            /* HOME's full CRL, then the delta CRL when there is one */
    int create;         /* create ldap.ca_entry when missing (ca, crl) */
    int dry_run;        /* report what would change; change nothing */
};

/* Publishes what o names: the CA certificate, the CRLs (full first: the
 * delta names it as its base; the delta is skipped when the full one
 * failed), then each file. *failed is 1 when some item failed (each was
 * reported). The return value is an error that stopped everything (no
 * directory configured, cannot connect). */
cm_err ds_publish(int *failed, ca_ctx *ca, const struct ds_publish_opts *o,
                  ds_report_cb cb, void *ctx) CM_MUST_USE;

/* Removes exactly these certificates from userCertificate;binary of their
 * entries: each item is a certificate file when one exists by that name,
 * else a serial of this CA's database (hex; a withheld certificate is
 * refused in strict audit mode). */
cm_err ds_unpublish(int *failed, ca_ctx *ca, const char *const *items, size_t n,
                    int dry_run, ds_report_cb cb, void *ctx) CM_MUST_USE;

/* dsverify: compares the directory with the database (ldap/verify.h:
 * dir_verify) over a connection made with the ldap.* settings; with fix,
 * repairs what it can, and each repair is recorded in the audit log by
 * actor (action "dsverify", the serial, "KIND fixed: DN"). *profiles: the
 * profiles compared (exit.ldap.profiles; borrowed from ca). */
cm_err ds_verify(struct dir_verify_report *rep, const char **profiles, ca_ctx *ca, int fix, dir_verify_cb cb, void *ctx) CM_MUST_USE;

#endif
