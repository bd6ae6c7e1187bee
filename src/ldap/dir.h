/* Directory publishing: certificates, CA certificates and CRLs in LDAP.
 *
 * Mail clients look up a recipient's S/MIME certificate in the
 * `userCertificate;binary` attribute of the recipient's entry, and relying
 * parties fetch the CA certificate and CRLs from `cACertificate;binary`,
 * `certificateRevocationList;binary` and `deltaRevocationList;binary` on the
 * CA's entry (RFC 4523 2.1-2.5: these attributes are transferred with the
 * ;binary option, RFC 4522).
 *
 * One struct dir is one bound connection (OpenLDAP's libldap). Every network
 * step has a deadline: connecting (connect_timeout_ms, default 5 s) and each
 * operation (timeout_ms, default 10 s), so an unreachable or hanging
 * directory never hangs the CA.
 *
 * Errors: server down or TLS failure -> CM_ERR_NET; bind refused or access
 * denied -> CM_ERR_AUTH; no such entry / value -> CM_ERR_NOTFOUND; a value
 * already there -> CM_ERR_EXISTS; schema or constraint violation -> CM_ERR_INVALID
 * with the server's diagnostic message; deadline passed -> CM_ERR_TIMEOUT.
 * Messages name the URI, the operation and the DN.
 *
 * Ownership: strings and arrays returned through out pointers are the
 * caller's (free(), dir_values_free()). Strings in struct dir_opts are
 * borrowed during dir_open() only. */
#ifndef CM_LDAP_DIR_H
#define CM_LDAP_DIR_H

#include "util/err.h"

#include <stddef.h>
#include <openssl/x509.h>

struct berval; /* <lber.h>: {bv_len, bv_val} */

#define DIR_CONNECT_TIMEOUT_MS_DEFAULT 5000
#define DIR_TIMEOUT_MS_DEFAULT 10000
/* Most entries a mail/DN lookup looks at: enough to report "several". */
#define DIR_FIND_MAX 16

#define DIR_ATTR_USER_CERT "userCertificate;binary"
#define DIR_ATTR_CA_CERT "cACertificate;binary"
#define DIR_ATTR_CRL "certificateRevocationList;binary"
#define DIR_ATTR_DELTA_CRL "deltaRevocationList;binary"

struct dir_opts {
    const char *uri;           /* one ldap://, ldaps:// or ldapi:// URI */
    int starttls;              /* ldap:// only: StartTLS before binding (ldaps:// is TLS anyway) */
    const char *cafile;        /* PEM CA certificates for the server; NULL = system trust */
    const char *certfile;      /* TLS client certificate (SASL EXTERNAL over TLS); may be NULL */
    const char *keyfile;       /* its key; may be NULL */
    const char *binddn;        /* simple bind DN; NULL with !sasl_external = anonymous */
    const char *password_file; /* simple bind password: first line of this file */
    int sasl_external;      /* SASL EXTERNAL bind (ldapi:// peer credentials or TLS client cert) */
    const char *base;       /* search base for dir_find_for_cert */
    const char *ca_entry;   /* DN of the CA entry for dir_publish_ca */
    int connect_timeout_ms; /* 0 = DIR_CONNECT_TIMEOUT_MS_DEFAULT */
    int timeout_ms;         /* per operation; 0 = DIR_TIMEOUT_MS_DEFAULT */
};

/* How dir_publish_cert treats an entry that already holds another certificate. */
enum dir_mode {
    DIR_REFUSE,  /* fail with CM_ERR_EXISTS (certutil -dspublish's default) */
    DIR_REPLACE, /* remove the other certificates, add this one (one atomic modify) */
    DIR_ADD,     /* keep them and add this one (renewals) */
};

/* What a publish/unpublish did (or, with dry_run, would do). */
enum dir_change {
    DIR_UNCHANGED, /* the value was already there (publish) */
    DIR_ADDED,     /* value added */
    DIR_REPLACED,  /* other values removed, this one added */
    DIR_REMOVED,   /* value removed (unpublish) */
    DIR_CREATED,   /* entry created with the value (dir_publish_ca with create) */
};
const char *dir_change_name(enum dir_change c); /* "unchanged", "added", ... */

/* Which attribute of the CA entry dir_publish_ca writes. */
enum dir_ca_attr {
    DIR_CA_CERT,      /* cACertificate;binary: added, earlier values kept (renewed CAs) */
    DIR_CA_CRL,       /* certificateRevocationList;binary: replaced */
    DIR_CA_DELTA_CRL, /* deltaRevocationList;binary: replaced */
};

/* How dir_find_for_cert found the entry. */
enum dir_match { DIR_MATCH_MAIL, DIR_MATCH_DN };

struct dir;

/* Connects, sets up TLS (StartTLS or ldaps://, verifying the server against
 * cafile, TLS 1.2 at least) and binds. A simple bind password is only ever
 * sent over TLS or ldapi://: with plain ldap:// and starttls off it is
 * refused (CM_ERR_CONFIG). The password is wiped from memory after the bind. */
cm_err dir_open(struct dir **out, const struct dir_opts *o) CM_MUST_USE;
/* Unbinds and frees; NULL-safe. */
void dir_close(struct dir *d);

/* Finds the entry a certificate belongs to: the one under base whose `mail`
 * equals the certificate's e-mail address (dir_cert_email), else the one
 * whose DN equals the certificate's subject DN (which must lie under base).
 * Several entries with that mail, or none by either rule, is an error naming
 * the address, the DN and the count. *dn_out is the entry's DN as the
 * server gives it (caller frees); *how (may be NULL) says which rule matched. */
cm_err dir_find_for_cert(char **dn_out, enum dir_match *how, struct dir *d, X509 *cert) CM_MUST_USE;

/* All values of attr (e.g. DIR_ATTR_USER_CERT) of the entry dn. An entry
 * without the attribute gives *out == NULL and CM_OK; a missing entry is
 * CM_ERR_NOTFOUND. Free with dir_values_free. */
cm_err dir_get_values(struct berval ***out, struct dir *d, const char *dn,
                      const char *attr) CM_MUST_USE;
void dir_values_free(struct berval **v);
size_t dir_values_count(struct berval *const *v);

/* One value met by dir_iter_values: the entry's DN and the value, both
 * borrowed during the call. A non-OK return stops the listing and is
 * passed back. */
typedef cm_err (*dir_value_cb)(void *ctx, const char *dn, const struct berval *value);

/* Lists every value of attr (e.g. DIR_ATTR_USER_CERT) on every entry under
 * the search base that holds the attribute (a subtree search for the
 * attribute's presence), calling cb for each. Read in pages (RFC 2696, a
 * non-critical control: a server without paging answers in one go), each
 * page under the operation deadline, so a large directory is never held in
 * memory at once. A server size or time limit that cuts the listing short
 * is an error (CM_ERR_INVALID naming the limit to raise): a partial list
 * must never pass for the whole. */
cm_err dir_iter_values(struct dir *d, const char *attr, dir_value_cb cb, void *ctx) CM_MUST_USE;

/* Publishes the DER certificate in userCertificate;binary of dn. The same
 * certificate already there is a no-op (DIR_UNCHANGED). Another certificate
 * there: mode decides (DIR_REFUSE fails with CM_ERR_EXISTS naming their
 * serials). With dry_run nothing is written; *what says what would change. */
cm_err dir_publish_cert(struct dir *d, const char *dn, const unsigned char *der, size_t len,
                        enum dir_mode mode, int dry_run, enum dir_change *what) CM_MUST_USE;

/* Removes exactly this certificate (byte-identical) from userCertificate;binary
 * of dn; the entry's other certificates stay. CM_ERR_NOTFOUND when dn does
 * not hold it. */
cm_err dir_unpublish_cert(struct dir *d, const char *dn, const unsigned char *der, size_t len,
                          int dry_run, enum dir_change *what) CM_MUST_USE;

/* Publishes the CA certificate or a CRL (DER) on the configured CA entry.
 * A missing entry is CM_ERR_NOTFOUND unless create, which adds it
 * (applicationProcess + pkiCA + deltaCRL, RFC 4523 3.3/3.5; its first RDN must
 * be cn=...), like certutil -dspublish -f. An existing entry lacking the
 * auxiliary class that allows the attribute gets it added. */
cm_err dir_publish_ca(struct dir *d, enum dir_ca_attr which, const unsigned char *der, size_t len,
                      int create, int dry_run, enum dir_change *what) CM_MUST_USE;

/* The URI, base and CA entry the connection was opened with (borrowed). */
const char *dir_uri(const struct dir *d);
const char *dir_ca_entry(const struct dir *d);

/* ---- Pure helpers (no connection), exposed for the exit module and tests. */

/* Checks that uri is one ldap://, ldaps:// or ldapi:// URL naming only a
 * server (no DN, attributes, filter or extensions). */
cm_err dir_check_uri(const char *uri) CM_MUST_USE;

/* Escapes a value for an LDAP filter (RFC 4515 3): '*', '(', ')', '\', NUL
 * and every byte outside printable ASCII become \XX. Caller frees *out. */
cm_err dir_filter_escape(char **out, const char *in, size_t len) CM_MUST_USE;

/* The certificate's e-mail address: its first rfc822Name subjectAltName
 * (RFC 5280 4.2.1.6), else the first emailAddress attribute of the subject
 * (PKCS #9, RFC 2985 5.2.1). *out NULL (and CM_OK) when it has none; an
 * address with a NUL or a non-ASCII byte is CM_ERR_INVALID. */
cm_err dir_cert_email(char **out, X509 *cert) CM_MUST_USE;

/* The X.509 name as an RFC 4514 LDAP DN string: most specific RDN first,
 * multi-valued RDNs joined with '+', LDAP attribute names (cn, ou, dc, uid,
 * email, ...) or the dotted OID, values escaped per RFC 4514 2.4. An empty
 * name gives "". Caller frees. */
cm_err dir_name_to_dn(char **out, const X509_NAME *name) CM_MUST_USE;

/* Compares two DN strings RDN by RDN: attribute types by name or OID
 * (cn = commonName = 2.5.4.3), values after RFC 4514 unescaping with ASCII
 * case folded and insignificant spaces removed (RFC 4518 2.6.1), the AVAs of
 * a multi-valued RDN in any order. *equal is 1 or 0. An unparseable DN is
 * CM_ERR_INVALID. */
cm_err dir_dn_equal(int *equal, const char *a, const char *b) CM_MUST_USE;
/* *under = 1 when dn equals base or lies below it (same comparison). */
cm_err dir_dn_is_under(int *under, const char *dn, const char *base) CM_MUST_USE;

#endif
