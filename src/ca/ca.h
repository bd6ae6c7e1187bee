/* The CA: its home directory, keys, certificate and chain, and issuance.
 *
 * A CA home holds:
 *   certmint.conf        configuration (config/config.h)
 *   the database         where db_home_location() says; its files are the
 *                        backend's business (db/db.h)
 *   private/ca.key       the CA private key, PKCS#8 encrypted (PBES2: AES-256-CBC,
 *                        PBKDF2-HMAC-SHA256, 600,000 iterations), 0600; or
 *   private/ca.key.uri   where the key is when it is not in a file: a PKCS#11
 *                        URI (RFC 7512, never a PIN), 0600 (src/key/key.h)
 *   ca.crt               the CA certificate (PEM)
 *   chain.pem            the issuers above it up to the root (PEM, may be empty)
 *   ca.csr               a subordinate CA's request until install-ca-cert
 *   crl/ca.crl ca.crl.pem delta.crl delta.crl.pem   published CRLs
 *
 * The CLI is a thin client of these functions. */
#ifndef CM_CA_CA_H
#define CM_CA_CA_H

#include "key/keystore.h"
#include "key/key.h"
#include "config/config.h"
#include "db/db.h"
#include "util/err.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_CONF_FILE "certmint.conf"
#define CA_KEY_FILE "private/ca.key"
#define CA_KEY_URI_FILE "private/ca.key.uri"
#define CA_KEY_REF_MAX 4200 /* a key URI (4096) or a path */
#define CA_CERT_FILE "ca.crt"
#define CA_CHAIN_FILE "chain.pem"
#define CA_CSR_FILE "ca.csr"
#define CA_CRL_DIR "crl"

/* Hard limits on inputs. */
#define CA_MAX_CSR_BYTES (64 * 1024)
#define CA_MAX_CERT_BYTES (64 * 1024)

/* The handle and its sessions.
 *
 * ca_t (struct ca) is one open CA home, shared by every thread of a front
 * end (the CLI holds one for a command, a server one for its life). It owns
 * what does not change while it is open, read by all threads without locks:
 * the configuration (a reload installs a new one; the old one lives until
 * ca_close, so a session that still reads it is never left dangling), the
 * CA certificate and chain, the CA key (ca_load_key opens it once; the key
 * backends sign from several threads at once) and the passphrase file. It
 * also owns a bounded pool of sessions.
 *
 * ca_ctx (struct ca_ctx) is a session: one caller's use of the handle, by
 * one thread at a time. It holds its own database connection (so its own
 * transaction: no connection or transaction is shared between threads),
 * its own cache of precomputed issuance extensions, and the actor: who
 * asked, written into every audit record the operations of this session
 * make. Every core operation takes a session; a front end takes one per
 * request (ca_session_open, which waits while the pool is exhausted:
 * ca.sessions, docs/configuration.md) and gives it back (ca_session_close:
 * an open transaction is rolled back, the connection stays pooled).
 *
 * Both are opaque to front ends; the core's definitions are in
 * ca/ca_int.h. Thread rules: ca_open/ca_close by one thread while no
 * session is out; any number of threads may take sessions at once. */
typedef struct ca ca_t;
typedef struct ca_ctx ca_ctx;

/* Who asked. The audit log's "who" is the name for an operator (an OS user
 * on the command line: as before) and KIND:NAME for the others
 * ("subject:CN=host.example", "token:7f3a", "service:serve"). */
enum ca_actor_kind {
    CA_ACTOR_OPERATOR, /* a person at the command line: the OS user name */
    CA_ACTOR_SUBJECT,  /* a client authenticated by its certificate: its subject */
    CA_ACTOR_TOKEN,    /* a client authenticated by a token: the token's id */
    CA_ACTOR_SERVICE,  /* the CA itself (serve's schedule, ...) */
};
struct ca_actor {
    enum ca_actor_kind kind;
    const char *name; /* not empty; copied (at most CA_ACTOR_MAX - 1 bytes with the prefix) */
};
#define CA_ACTOR_MAX 256

struct ca_open_opts {
    const char *passphrase_file; /* may be NULL */
    int allow_no_cert;           /* subordinate waiting for its certificate */
    long long sessions;          /* pool bound; 0: ca.sessions from the configuration */
};

/* Opens an existing CA home: loads configuration, database and certificate.
 * A missing or corrupt home is a clear error naming what is wrong. */
cm_err ca_open(ca_t **out, const char *home, const struct ca_open_opts *o) CM_MUST_USE;
/* Closes the handle; every session must have been given back. */
void ca_close(ca_t *ca);

/* Takes a session of ca for the actor who (required), waiting while all
 * ca.sessions are out. The session is the calling thread's until
 * ca_session_close. */
cm_err ca_session_open(ca_ctx **out, ca_t *ca, const struct ca_actor *who) CM_MUST_USE;
/* Gives the session back (rolls back an open transaction). NULL-safe. */
void ca_session_close(ca_ctx *s);
/* Changes who the session acts for (a server reusing one session). */
cm_err ca_session_actor(ca_ctx *s, const struct ca_actor *who) CM_MUST_USE;
/* The handle a session belongs to (NULL for a test fixture's bare session). */
ca_t *ca_session_handle(const ca_ctx *s);
/* The audit log's "who" of the session's actor. */
const char *ca_session_who(const ca_ctx *s);

/* Read access for front ends (a session's view). */
const char *ca_home(const ca_ctx *s);
const cm_config *ca_config(const ca_ctx *s);
/* The CA certificate, borrowed from the handle (valid while the session
 * is); NULL while a subordinate waits for install-ca-cert. */
X509 *ca_certificate(const ca_ctx *s);
/* Re-reads certmint.conf (serve's SIGHUP). The new configuration is the
 * handle's from now on: sessions taken later see it, the calling session at
 * once. A file that does not load changes nothing. */
cm_err ca_reload_config(ca_ctx *s) CM_MUST_USE;

/* Opens the CA key: decrypts the key file with the passphrase (file, else
 * prompt on the terminal), or opens the PKCS#11 key private/ca.key.uri
 * names. Idempotent. */
cm_err ca_load_key(ca_ctx *ca) CM_MUST_USE;

/* Opens the CA key as ca_load_key() does (reference, passphrase, check
 * against the CA certificate) into a handle the caller owns, without
 * installing it and without the database: the key process of certmint
 * serve (key/keyproc.h). */
cm_err ca_open_key(cm_key **out, ca_ctx *ca) CM_MUST_USE;

/* Installs k (taken over, also on failure) as the CA key of the handle
 * after checking it matches the CA certificate: certmint serve's client of
 * its key process. Call before other sessions are taken; a key already
 * loaded is closed. */
cm_err ca_use_key(ca_ctx *ca, cm_key *k) CM_MUST_USE;

/* Re-encrypts the CA key (loaded with the current passphrase) under the
 * passphrase read from new_passphrase_file (NULL: prompt twice) with the
 * current KDF, atomically (temp, fsync, rename; mode 0600), and records it
 * in the audit log. *was and *now describe the KDF before and after. */
cm_err ca_change_passphrase(struct key_kdf *was, struct key_kdf *now, ca_ctx *ca,
                            const char *new_passphrase_file) CM_MUST_USE;

struct ca_init_opts {
    const char *home;
    const char *subject;         /* "/CN=Example Root" or "CN=Example Root,O=Example" */
    const char *key_spec;        /* ec:p256 ec:p384 rsa:2048 rsa:3072 rsa:4096 ed25519 */
    const char *key_ref;         /* NULL: a new key file; a pkcs11: URI: the key in a token,
                                    generated (of key_spec) when the object is missing */
    int days;                    /* validity of the root (default 3650) */
    int pathlen;                 /* -1 = unlimited */
    int subordinate;             /* write a CSR instead of self-signing */
    const char *csr_out;         /* subordinate: where to write the CSR (PEM); never inside home */
    int force;                   /* csr_out may replace an existing file */
    const char *passphrase_file; /* NULL = prompt */
    const struct ca_actor *actor; /* who, for the "init" audit record (NULL: "unknown") */
    const char *db_url;          /* NULL: SQLite in the home; postgresql://... (db.url) */
};
/* Creates a new CA home (refuses an existing one), mode 0700 whatever the
 * umask; warns when the parent directory is writable by others. */
cm_err ca_init(const struct ca_init_opts *o) CM_MUST_USE;

/* Completes a subordinate: checks the certificate matches the key, is a CA
 * certificate, and chains (with chain_pem) to a trusted root. */
cm_err ca_install_cert(ca_ctx *ca, const char *cert_path, const char *chain_path) CM_MUST_USE;

/* PEM of the CA certificate, plus the chain when with_chain. Caller frees. */
cm_err ca_cert_pem(char **out, const ca_ctx *ca, int with_chain) CM_MUST_USE;

/* Parses a certificate in PEM or DER. */
cm_err ca_cert_parse(X509 **out, const unsigned char *data, size_t len,
                     const char *what) CM_MUST_USE;

/* Fills the descriptive columns (dn, cn, email, san, hash, ski, dates,
 * serial) of c from the certificate. Strings are malloc'ed into c. When
 * c->raw already holds the certificate's DER it is hashed as is. */
cm_err ca_cert_describe(struct db_cert *c, X509 *x) CM_MUST_USE;

/* One submitted request and its outcome. */
struct ca_submission {
    const unsigned char *csr; /* PEM or DER; NULL: read from the file `source` */
    size_t csr_len;
    const char *source; /* file name, for messages */
    /* outputs */
    int64_t request_id;
    int disposition;   /* DB_DISP_ISSUED, PENDING, DENIED */
    /* The disposition message: "" until ca_submit or ca_approve decides;
     * then a constant or message_buf. A pointer, not a buffer: a batch
     * holds one submission per request (submit). */
    const char *message;
    char serial[CM_SERIAL_BUF];
    unsigned char *cert_der; /* issued certificate (malloc'ed), NULL otherwise */
    size_t cert_der_len;
    cm_err err; /* CM_OK or why this request failed (message in `message`) */
    /* Set by a front end that has written cert_der out and freed it (a
     * batch's memory stays bounded, submit): the certificate was not
     * withheld, and ca_submissions_release leaves it. */
    int delivered;
    /* Key archival (issue 12, kra_submit.c): the client's PKCS#8 private key
     * in a CMS envelope to the CA's key-transport certificate (borrowed;
     * NULL: none), and what the core made of it (internal, freed by
     * ca_submission_clear). */
    const unsigned char *archive_env;
    size_t archive_env_len;
    struct ca_archived *archived;
    /* An enrollment token's binding (issue 12, token.c; internal): the
     * subject and SANs that replace the request's. NULL: none. */
    const struct ca_token_binding *binding;
    /* A key pair the CA generated for this request (issue 12 way (b),
     * kra_keygen.c; internal): set by ca_keygen_prepare, freed by
     * ca_submission_clear. */
    struct ca_keygen *keygen;
    char *message_buf; /* internal: a formatted message, freed by ca_submission_clear */
};

struct ca_submit_opts {
    const char *profile;
    const char *requester;
    size_t group; /* requests per transaction in a batch (default 256) */
    int force_pending; /* pend for an officer whatever the profile's approval (an
                          anonymous web request) */
    /* Called after each committed transaction of the call, in input order,
     * in the thread that called ca_submit: subs[start, end) have their
     * results, which ca_submit does not touch again, so that a front end
     * can write them out while the next groups are signed (submit --out).
     * NULL: none. */
    void (*committed)(void *ctx, size_t start, size_t end);
    void *committed_ctx;
    /* The request files, one per submission (borrowed; NULL: none): when
     * set, ca_submit sets subs[i].source to files[i] itself, where request
     * i is parsed (in a batch's workers), and the caller leaves it NULL. A
     * caller's loop over a large subs array would touch every page of it
     * first, serially, with the other cores idle: a 10,000-request submit
     * spent up to 30 ms of its start on those fresh pages (bench/README.md,
     * session 12). Every subs[i].source is set when ca_submit returns. */
    const char *const *files;
};

/* Submits n requests. Every request is parsed and its signature verified
 * first: a bad one (unparseable, badly signed, unreadable file) refuses the
 * whole call with its error and nothing is stored. Then each request is
 * checked against the profile and gets a disposition (issued, pending, or
 * denied with the reason as its message; all are recorded), signed outside
 * and committed inside transactions of o->group (submit.batch_group), in
 * worker threads for large batches (submit.workers). On a database error
 * the groups already committed stay, and their results are filled in. */
cm_err ca_submit(ca_ctx *ca, struct ca_submission *subs, size_t n,
                 const struct ca_submit_opts *o) CM_MUST_USE;
void ca_submission_clear(struct ca_submission *s);
/* A front end has written s's certificate out (printed its result, or
 * written its file): frees cert_der and sets delivered, so that a batch's
 * memory does not grow with its size (submit). No-op without one. */
void ca_submission_delivered(struct ca_submission *s);

/* Interrupted batches (batch.c). A batch (more requests than one group, or
 * split across workers) is recorded while it runs; one whose process died
 * (kill -9, power loss) is reported by the next ca_batch_interrupted():
 * what it had recorded (its requester's requests from its start on;
 * concurrent submissions of the same requester are counted too), then the
 * record is dropped. */
struct ca_batch_report {
    long long pid, started, size; /* the batch: its process, start, requests given */
    char requester[128];
    long long recorded, issued, pending, denied; /* requests found in the database */
    long long first_id, last_id;                 /* their RequestIDs */
};
typedef void (*ca_batch_cb)(void *ctx, const struct ca_batch_report *r);
cm_err ca_batch_interrupted(ca_ctx *ca, ca_batch_cb cb, void *ctx) CM_MUST_USE;

/* Strict audit mode: after the delivery that follows a submit or an
 * approve, fills in cert_der of every issued submission whose certificate
 * has been released (its CERTISSUED event acknowledged off-box); the others
 * stay withheld (cert_der NULL, not delivered). The one implementation of
 * the release for every front end. */
cm_err ca_submissions_release(ca_ctx *ca, struct ca_submission *subs,
                              size_t n) CM_MUST_USE;

/* Officer actions on pending requests. */
cm_err ca_approve(ca_ctx *ca, int64_t request_id, struct ca_submission *out) CM_MUST_USE;
cm_err ca_deny(ca_ctx *ca, int64_t request_id, const char *reason) CM_MUST_USE;
/* The certificate of an issued request (DER, malloc'ed). Raises
 * CERTRETRIEVEPENDING. CM_ERR_WITHHELD in strict audit mode until released. */
cm_err ca_retrieve(ca_ctx *ca, int64_t request_id, unsigned char **der, size_t *len) CM_MUST_USE;

/* Revocation. reason: RFC 5280 code. effective/invalidity 0 = now / none;
 * dates before 1970 or after 9999 are refused.
 * A list is all or nothing: every serial is checked and every refused one
 * (bad syntax, not in the database, already revoked) is reported through
 * rep->note; when any is refused nothing is revoked and the call fails. A
 * serial listed more than once (in any spelling) is revoked once and
 * reported once as a duplicate. rep may be NULL. */
enum ca_revoke_note {
    CA_REVOKE_DUPLICATE, /* not an error: revoked once */
    CA_REVOKE_BAD,       /* not a serial number */
    CA_REVOKE_NOTFOUND,
    CA_REVOKE_ALREADY,
};
struct ca_revoke_report {
    void (*note)(void *ctx, const char *serial, enum ca_revoke_note kind, const char *msg);
    void *note_ctx;
    /* outputs */
    size_t revoked;    /* distinct serials revoked */
    size_t duplicates; /* serials listed more than once */
    size_t refused;    /* serials refused */
};
cm_err ca_revoke_list(ca_ctx *ca, const char *const *serials, size_t n, int reason,
                      int64_t effective, int64_t invalidity,
                      struct ca_revoke_report *rep) CM_MUST_USE;
cm_err ca_revoke(ca_ctx *ca, const char *const *serials, size_t n, int reason, int64_t effective,
                 int64_t invalidity) CM_MUST_USE;
cm_err ca_unrevoke(ca_ctx *ca, const char *serial) CM_MUST_USE;

/* Recovery primitives. The _in_tx forms run inside the caller's
 * transaction (recovery commits many in groups); request_id > 0 keeps the
 * RequestID known from the audit trail when it is free; profile (may be
 * NULL: guessed from the certificate's extended key usage) is the
 * CertificateTemplate recorded, as the audit trail names it; requester
 * (may be NULL: the session's operator) is the RequesterName recorded, as
 * the audit trail names it (X-Certmint-Requester). */
cm_err ca_check_signed_here(ca_ctx *ca, X509 *x, const char *what) CM_MUST_USE;
cm_err ca_import_cert_in_tx(ca_ctx *ca, X509 *x, int64_t request_id, const char *profile,
                            const char *requester, const char *what, const char *recovered_from,
                            char serial_out[CM_SERIAL_BUF]) CM_MUST_USE;
/* ca_import_cert_in_tx without its ca_check_signed_here: for a caller that
 * has just made that check itself, on this X509 (recovery checks in worker
 * threads and imports on one writer). */
cm_err ca_import_checked_in_tx(ca_ctx *ca, X509 *x, int64_t request_id, const char *profile,
                               const char *requester, const char *what, const char *recovered_from,
                               char serial_out[CM_SERIAL_BUF]) CM_MUST_USE;
cm_err ca_placeholder_in_tx(ca_ctx *ca, const char *serial, const char *subject, int64_t not_after,
                            int64_t request_id, const char *requester,
                            const char *recovered_from) CM_MUST_USE;
/* A certificate made ready for import in any thread, from nothing but the
 * certificate (no CA state): encoded, described (ca_cert_describe) and its
 * profile guessed from its extended key usage. Recovery makes these in its
 * worker threads, next to ca_check_signed_here's tests, so that its one
 * writer thread only writes rows. ca_import_ready_clear frees (NULL-safe,
 * also after a failed make). */
struct ca_import_ready {
    struct db_cert c;   /* described; c.raw is der */
    unsigned char *der; /* OPENSSL_malloc'ed */
    size_t der_len;
    char *guessed_profile; /* NULL: the extended key usage names none */
};
cm_err ca_import_ready_make(struct ca_import_ready *r, X509 *x) CM_MUST_USE;
void ca_import_ready_clear(struct ca_import_ready *r);
/* ca_import_checked_in_tx for a certificate made ready (its signature
 * checked by the caller): the same rows, events and audit records. */
cm_err ca_import_ready_in_tx(ca_ctx *ca, struct ca_import_ready *r, int64_t request_id,
                             const char *profile, const char *requester, const char *what, const char *recovered_from,
                             char serial_out[CM_SERIAL_BUF]) CM_MUST_USE;
cm_err ca_import_cert(ca_ctx *ca, const unsigned char *data, size_t len, const char *what,
                      const char *recovered_from, char serial_out[CM_SERIAL_BUF]) CM_MUST_USE;
cm_err ca_placeholder(ca_ctx *ca, const char *serial, const char *subject, int64_t not_after,
                      const char *recovered_from) CM_MUST_USE;

/* Drops precomputed issuance state (after a configuration reload). */
void issue_cache_reset(ca_ctx *ca);

/* Certificates with their chain, for export (export.c). */
enum ca_export_format {
    CA_EXPORT_PEM, /* PEM certificates, concatenated (a bundle) */
    CA_EXPORT_DER, /* one DER certificate: never a chain */
    CA_EXPORT_P7B  /* DER PKCS#7 SignedData, certificates only (RFC 2315 9.1; RFC 5652 5.2,
                      "degenerate"): what Windows, Exchange and IIS import as .p7b */
};
/* "pem", "der" or "p7b" (also "p7c", "pkcs7"); CM_ERR_INVALID else. */
cm_err ca_export_parse_format(enum ca_export_format *out, const char *s) CM_MUST_USE;
/* Encodes leaf (DER; NULL: the CA certificate comes first) and, when
 * with_chain, the CA certificate and the issuers above it up to the root,
 * nearest first. P7B always carries the chain; DER refuses a chain. *out is
 * malloc'ed (the caller frees it) and NUL-terminated for PEM. */
cm_err ca_cert_export(unsigned char **out, size_t *len, const ca_ctx *ca, const unsigned char *leaf,
                      size_t leaf_len, int with_chain, enum ca_export_format fmt) CM_MUST_USE;

/* ---- Key archival and recovery (issue 12; src/ca/kra*.c,
 * docs/key-archival.md) ---- */

/* Creates the CA's key-transport key (RSA-3072) where the CA key is: with
 * a CA key in a file, HOME/private/kra-transport.key, encrypted like the CA
 * key with the CA passphrase; with a CA key in a PKCS#11 token, an object
 * of its own in that token (the CA object's label + "-kra-transport",
 * CKA_DECRYPT true, CKA_SIGN false, never extractable), its URI in
 * HOME/private/kra-transport.key.uri. And its certificate,
 * issued by this CA (keyEncipherment only, recorded like any issued
 * certificate, HOME/kra-transport.crt). Clients envelope the key they want
 * archived to it. *pem: the certificate (malloc'ed). An existing one is
 * CM_ERR_EXISTS unless renew. */
cm_err ca_kra_transport_init(char **pem, ca_ctx *ca, int renew) CM_MUST_USE;
/* Opens the transport key (file or token), checked against the
 * certificate: the key process of certmint serve (key/keyproc.h). */
cm_err ca_kra_transport_key(cm_key **key, ca_ctx *ca) CM_MUST_USE;
/* The transport certificate as PEM (malloc'ed). */
cm_err ca_kra_transport_pem(char **pem, ca_ctx *ca) CM_MUST_USE;

/* Key recovery agents: a certificate (PEM or DER) whose key can receive a
 * CMS envelope (RSA or EC). id: SHA-256 of the certificate, hex. */
struct ca_kra_agent {
    const char *id;
    const char *subject;
    int active;
    int64_t added;
    int64_t not_after;
};
typedef cm_err (*ca_kra_agent_cb)(void *ctx, const struct ca_kra_agent *a);
cm_err ca_kra_add(char id[65], ca_ctx *ca, const unsigned char *cert, size_t len,
                  const char *what) CM_MUST_USE;
/* id: the full ID or a unique prefix of at least 8 digits. */
cm_err ca_kra_remove(ca_ctx *ca, const char *id) CM_MUST_USE;
cm_err ca_kra_list(ca_ctx *ca, ca_kra_agent_cb cb, void *ctx) CM_MUST_USE;

/* Re-wrapping archived keys to the current agents and kra.threshold
 * (kra_rewrap.c; after kra add/remove or a threshold change). request:
 * opens a re-wrap of the keys (at most KRA_REWRAP_MAX, 1000, a request) not
 * yet wrapped to them, with a one-time transport key; *file (malloc'ed)
 * goes to the agents (key release-share), whose share files come back
 * through ca_key_add_share. rewrap: with enough shares for every key,
 * seals each key under a fresh content key split to the current agents,
 * one transaction per 256 keys (KEYARCHIVED for each, audit), and closes
 * the request. Fewer shares than a key's threshold change nothing. */
cm_err ca_kra_rewrap_request(char req_id[40], size_t *nkeys, unsigned char **file, size_t *len,
                             ca_ctx *ca, const char *reason) CM_MUST_USE;
cm_err ca_kra_rewrap(size_t *done, ca_ctx *ca, const char *req) CM_MUST_USE;

/* Recovery. request: opens a recovery of the key archived with the
 * certificate serial; *reqfile (malloc'ed text, *len bytes) is what each
 * agent is given (docs/key-archival.md); req_id gets the request's ID. */
cm_err ca_key_recover_request(char req_id[40], unsigned char **reqfile, size_t *len, ca_ctx *ca,
                              const char *serial, const char *reason) CM_MUST_USE;
/* The request file of an open request again. */
cm_err ca_key_recover_request_file(unsigned char **reqfile, size_t *len, ca_ctx *ca,
                                   const char *req_id) CM_MUST_USE;
/* Imports a share file an agent made with kra_release_share. *have and
 * *need: shares in after this one, and the threshold. */
cm_err ca_key_add_share(int *have, int *need, ca_ctx *ca, const unsigned char *share,
                        size_t len, const char *what) CM_MUST_USE;
/* With the threshold of shares in: rebuilds the key, checks it against the
 * certificate, and returns a PKCS#12 (key, certificate, chain; AES-256-CBC,
 * PBKDF2-HMAC-SHA256 600,000 iterations, HMAC-SHA256 MAC) protected by
 * the passphrase read from password_file. The request is then closed. */
cm_err ca_key_recover(unsigned char **p12, size_t *len, ca_ctx *ca, const char *req_id,
                      const char *password_file) CM_MUST_USE;

/* Way (b), EJBCA style (kra_keygen.c): the CA generates the key pair.
 * ca_keygen_prepare generates the key (key_spec, default rsa:3072) and a
 * request for it (subject: a DN, required unless a token's binding will
 * replace it (bound); sans: OpenSSL syntax, may be NULL) and sets s->csr
 * to it: then s goes to ca_submit or ca_token_redeem as any submission.
 * The profile decides archival as for an envelope (archive_key optional or
 * required on an encryption-only profile: sealed and split M-of-N); a
 * profile that needs an officer's approval denies it (the CA never keeps a
 * generated key waiting). ca_keygen_p12: once issued (and, in strict audit
 * mode, released), the key, the certificate and the chain as PKCS#12
 * (AES-256-CBC, PBKDF2 600,000 iterations, HMAC-SHA256 MAC) under password
 * (non-empty). The key is never written unencrypted. */
struct ca_keygen_opts {
    const char *key_spec; /* NULL: rsa:3072 */
    const char *subject;
    const char *sans;
    int bound; /* the subject and SANs come from a token's binding */
};
cm_err ca_keygen_prepare(struct ca_submission *s, const struct ca_keygen_opts *o) CM_MUST_USE;
cm_err ca_keygen_p12(unsigned char **p12, size_t *len, ca_ctx *ca, const struct ca_submission *s,
                     const char *password) CM_MUST_USE;

/* ---- One-time enrollment tokens (issue 12; src/ca/token.c, docs/tokens.md) ---- */

struct ca_token_opts {
    const char *email;   /* where the token is mailed (required) */
    const char *profile; /* the profile it enrolls for (required) */
    const char *subject; /* DN forced on the certificate; NULL: "CN=EMAIL" */
    const char *sans;    /* SANs forced, OpenSSL syntax ("email:a@b.org,DNS:x");
                            NULL: "email:EMAIL" */
    int64_t ttl;         /* seconds; 0: 72 hours. At most 30 days */
};
/* Makes a token: 256 random bits (RAND_bytes); only its SHA-256 is stored,
 * with the binding, the expiry and single use. *token (the value, to be
 * mailed, never stored or logged; "cmt1.ID.SECRET") and id (the public
 * handle for list and revoke) are the caller's. Audit "token-issue". */
#define CA_TOKEN_MAX 96
cm_err ca_token_issue(char id[17], char token[CA_TOKEN_MAX], int64_t *expires, ca_ctx *ca,
                      const struct ca_token_opts *o) CM_MUST_USE;
/* Redeems a token with a CSR (PEM or DER): the front ends' one call (CLI
 * submit --token-file, web, REST). Checks the token (constant-time hash
 * compare; expired, used, revoked, wrong: refused with the reason, each
 * failure counted: after 5 the token is locked, and a client address with
 * 20 failures in an hour is refused for the rest of it), marks it used
 * (compare-and-set: two redeemers of one token, one wins) and submits the
 * CSR to the token's profile with the subject and SANs of the binding
 * whatever the CSR asks. client_addr may be NULL (the command line). A
 * submission that is not issued gives the token back. */
cm_err ca_token_redeem(struct ca_submission *out, ca_ctx *ca, const char *token,
                       const unsigned char *csr, size_t csr_len, const char *client_addr) CM_MUST_USE;
/* The front ends over the network (REST, web) say more and learn more. */
struct ca_token_redeem_opts {
    const char *client_addr; /* NULL: the command line (no per-address limit) */
    const char *profile;     /* NULL, or the profile the client named: it must
                                be the token's (else CM_ERR_POLICY; the token
                                is not used and no failure is counted) */
    /* outputs */
    int refused;         /* 1: the token itself was refused (CM_ERR_AUTH or a
                            malformed token): not a CSR or policy error */
    int64_t retry_after; /* > 0: refused because the client address had too
                            many failures; seconds until its window ends */
};
cm_err ca_token_redeem_x(struct ca_submission *out, ca_ctx *ca, const char *token,
                         const unsigned char *csr, size_t csr_len,
                         struct ca_token_redeem_opts *o) CM_MUST_USE;
cm_err ca_token_revoke(ca_ctx *ca, const char *id) CM_MUST_USE;
struct ca_token_info {
    const char *id, *email, *profile, *subject, *sans, *state;
    int64_t created, expires;
    long long failures;
};
typedef cm_err (*ca_token_cb)(void *ctx, const struct ca_token_info *t);
/* Every token, never a value (only hashes are stored). */
cm_err ca_token_list(ca_ctx *ca, ca_token_cb cb, void *ctx) CM_MUST_USE;

/* Appends to the audit log in the current transaction. */
cm_err ca_audit(ca_ctx *ca, const char *action, int64_t request_id, const char *serial,
                const char *details) CM_MUST_USE;

#endif
