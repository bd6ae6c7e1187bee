/* The host side of certmint (`certmint host ...`, docs/host.md): a local
 * store of keys and certificates on a server that uses them, the way
 * Exchange keeps its certificates (New-, Import-, Get-, Enable-, Export-,
 * Remove-ExchangeCertificate), and the deployment of a certificate to the
 * services on the host (Postfix, Dovecot, nginx).
 *
 * A store is a directory (mode 0700):
 *   host.conf                 where the services are (host_conf_*; optional)
 *   entries/NAME/             one certificate and its key, NAME [A-Za-z0-9._-]
 *     entry.conf              key = value: key type, exportable, services, hooks,
 *                             the CA it came from (renewal)
 *     key.pem                 the private key, PKCS#8, mode 0600; encrypted
 *                             (PBES2, AES-256-CBC, PBKDF2 600k) when a
 *                             passphrase file was given at request
 *     request.csr             the last CSR made for this entry
 *     cert.pem, chain.pem     once imported: the certificate and its issuers
 *   live/SHA1/                what the services read: cert.pem, chain.pem,
 *                             fullchain.pem, key.pem (0600, in clear: a service
 *                             cannot decrypt it); one folder per certificate,
 *                             never rewritten, so that a failed enable only has
 *                             to restore the services' configuration.
 *
 * Every file is written temp + fsync + rename (util/fsutil.h). */
#ifndef CM_HOST_HOST_H
#define CM_HOST_HOST_H

#include "util/buf.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define HOST_DEFAULT_STORE "/var/lib/certmint-host"
#define HOST_NAME_MAX_LEN 64
#define HOST_MAX_FILE (1024 * 1024) /* largest import, bundle or configuration file */

typedef struct host_store host_store;
struct ca_actor;

/* Opens the store at dir; create: make it (0700) when absent. An existing
 * store that group or others may enter is refused with the chmod that fixes
 * it. host.conf is read when present (unknown keys and bad lines are
 * errors naming the file and line). */
cm_err host_store_open(host_store **out, const char *dir, int create) CM_MUST_USE;
void host_store_close(host_store *st);
const char *host_store_dir(const host_store *st);

/* key = value files (host.conf, entry.conf). One pair per line, '#'
 * comments and blank lines ignored; keys [a-z0-9_.], values to the end of
 * the line without surrounding blanks; a key given twice is an error.
 * `what` names the input in messages. */
struct host_kv {
    size_t n;
    struct host_kv_pair {
        char *key, *value;
    } * p;
};
cm_err host_kv_parse(struct host_kv *out, const char *text, size_t len,
                     const char *what) CM_MUST_USE;
const char *host_kv_get(const struct host_kv *kv, const char *key);
cm_err host_kv_set(struct host_kv *kv, const char *key, const char *value) CM_MUST_USE;
void host_kv_free(struct host_kv *kv);

/* A thumbprint as typed or pasted (any case, spaces, colons, the invisible
 * marks Windows adds): lower-case hex digits into out. At least 4 digits
 * (a prefix), at most 64 (SHA-256). */
cm_err host_thumb_parse(char out[65], const char *in) CM_MUST_USE;

/* One entry as `host list` shows it. Strings malloc'ed (host_info_clear). */
struct host_info {
    char name[HOST_NAME_MAX_LEN + 1];
    int has_cert;  /* 0: a pending request */
    char sha1[41]; /* hex, lower case; "" when pending */
    char sha256[65];
    char *subject, *sans, *issuer;
    int64_t not_before, not_after;
    char key[32]; /* "rsa:3072", "ec:p256", "pkcs11 ec:p256" (a key in a token) */
    int exportable, encrypted;
    char *services; /* "smtp,imap" or "" */
};
void host_info_clear(struct host_info *i);
typedef cm_err (*host_list_cb)(void *ctx, const struct host_info *i);
/* Every entry, by name. */
cm_err host_list(host_store *st, host_list_cb cb, void *ctx) CM_MUST_USE;
/* The entry a THUMBPRINT (SHA-1 or SHA-256, or a unique prefix of 4 digits
 * or more; host_thumb_parse) or a NAME designates: its name into name. Two
 * matches are an error listing them. */
cm_err host_find(char name[HOST_NAME_MAX_LEN + 1], host_store *st, const char *which) CM_MUST_USE;
cm_err host_info_get(struct host_info *out, host_store *st, const char *name) CM_MUST_USE;
/* One entry as JSON (an object) appended to b. */
cm_err host_info_json(cm_buf *b, const struct host_info *i) CM_MUST_USE;

struct host_request_opts {
    const char *name;       /* entry name */
    const char *subject;    /* "/CN=mail.example.org" or "CN=...,O=..." */
    const char *const *dns; /* subjectAltName dNSNames */
    size_t ndns;
    const char *const *ips; /* subjectAltName iPAddresses */
    size_t nips;
    const char *key_spec;        /* rsa:2048|3072|4096, ec:p256|p384; NULL: rsa:2048 */
    const char *key_uri;         /* pkcs11:... (RFC 7512): the key made in a token
                                    through the core's key ops (src/key); NULL: a file */
    int exportable;              /* host export --pfx allowed */
    const char *passphrase_file; /* encrypt the key with this passphrase; NULL: clear, 0600 */
    int replace;                 /* a new request for an existing entry (renewal) */
};
/* New-ExchangeCertificate: generates the key here, writes the entry and
 * returns the CSR (PEM, malloc'ed) for any CA. An existing entry is refused
 * unless replace. */
cm_err host_request(char **csr_pem, host_store *st, const struct host_request_opts *o) CM_MUST_USE;

struct host_import_opts {
    const char *trust_file; /* trust anchors (PEM); the system's are used too */
    const char *trust_pem;  /* more trust anchors as PEM text (the local CA's root) */
    int allow_aia;          /* fetch missing issuers from the AIA caIssuers URL (http://) */
};
/* Import-ExchangeCertificate: reads a certificate (PEM, DER, PKCS#7 .p7b, or
 * a PEM bundle with its chain) from data, finds the entry whose key matches
 * its public key (that of the entry's request.csr), completes the chain from
 * the file or the AIA caIssuers URL, checks the dates and the chain (to a
 * trust anchor of trust_file, trust_pem or the system's store; a root that
 * only the file brings is not trusted) and stores it. Any refusal changes nothing. The entry's
 * name goes into name. */
cm_err host_import(char name[HOST_NAME_MAX_LEN + 1], host_store *st, const unsigned char *data,
                   size_t len, const char *what, const struct host_import_opts *o) CM_MUST_USE;
/* The certificates in a file: PEM (one or more CERTIFICATE or PKCS7 blocks),
 * DER certificate or DER PKCS#7 (.p7b). *out is a STACK_OF(X509) (caller
 * frees with sk_X509_pop_free(sk, X509_free)); at least one certificate. */
cm_err host_read_certs(void **out, const unsigned char *data, size_t len,
                       const char *what) CM_MUST_USE;

/* Export-ExchangeCertificate: PKCS#12 (AES-256-CBC, PBKDF2-HMAC-SHA256,
 * HMAC-SHA256 MAC) of the entry's key, certificate and chain, protected with
 * the first line of pfx_pass_file. Only for exportable entries. key_pass_file:
 * the store key's passphrase when it is encrypted. *der malloc'ed. */
cm_err host_export_pfx(unsigned char **der, size_t *len, host_store *st, const char *name,
                       const char *pfx_pass_file, const char *key_pass_file) CM_MUST_USE;

/* Removes dir and everything under it (a missing dir is no error). Internal
 * to src/host: the store's entry, generation and live folders. */
cm_err host_remove_tree(const char *dir) CM_MUST_USE;

/* Remove-ExchangeCertificate: removes the entry (key, certificate, request).
 * An entry still enabled for a service is refused unless force. */
cm_err host_remove(host_store *st, const char *name, int force) CM_MUST_USE;

/* Services a certificate can be enabled for. */
enum host_service { HOST_SMTP = 1, HOST_IMAP = 2, HOST_POP = 4, HOST_HTTPS = 8, HOST_APACHE = 16 };
/* "smtp,imap,pop,https,apache" to a mask (and back); bad names are
 * CM_ERR_INVALID. https is nginx, apache Apache httpd (docs/host.md). */
cm_err host_services_parse(unsigned *out, const char *s) CM_MUST_USE;
void host_services_name(char *out, size_t outsz, unsigned mask);

/* Enable-ExchangeCertificate: writes live/SHA1/, edits each service's
 * configuration (a backup beside it), runs the service's own check, then
 * reloads it; when a check or a reload fails every edited configuration is
 * restored (and reloaded) and the error names the service and its output.
 * The entry's pre_deploy and post_deploy hooks run around it (docs/host.md).
 * key_pass_file: the store key's passphrase when it is encrypted. */
cm_err host_enable(host_store *st, const char *name, unsigned services,
                   const char *key_pass_file) CM_MUST_USE;

/* Sets (value non-NULL) or clears an entry's hook ("pre_deploy",
 * "post_deploy"). */
cm_err host_set_hook(host_store *st, const char *name, const char *which,
                     const char *command) CM_MUST_USE;

/* A CA home on this machine (the core library) for submit, renew and the
 * certmonger helper. */
struct host_ca {
    const char *home;
    const char *passphrase_file;  /* the CA key's */
    const char *profile;          /* NULL: the CA's default (tls-server) */
    const struct ca_actor *actor; /* who, for the CA's audit log (NULL: service:certmint-host) */
};
/* The result of a submission. */
struct host_submit_result {
    int disposition; /* DB_DISP_ISSUED, PENDING, DENIED */
    int64_t request_id;
    char message[512];
    char name[HOST_NAME_MAX_LEN + 1];
};
/* Submits the entry's CSR to the CA home and imports the certificate when
 * issued; the CA is recorded in the entry for renewal. */
cm_err host_submit_local(struct host_submit_result *out, host_store *st, const char *name,
                         const struct host_ca *ca) CM_MUST_USE;

/* A certmint CA reached over its REST API (host submit --ca https://...,
 * src/host/rest.c). NULL members come from what the entry recorded at its
 * last submission (ca_url, ca_file, trust_file, client_cert, client_key,
 * profile in entry.conf), so that a poll or a renewal needs no options. */
struct host_rest {
    const char *url;         /* https://HOST[:PORT][/PREFIX] */
    const char *ca_file;     /* PEM anchors for the server's TLS certificate; NULL: system */
    const char *trust_file;  /* anchors for the issued chain; NULL: ca_file */
    const char *client_cert; /* PEM certificate (and its chain) for TLS client auth */
    const char *client_key;  /* its key, PEM in clear */
    const char *token_file;  /* a one-time token, sent as Authorization: Bearer */
    const char *profile;
    const char *key_pass_file; /* the entry key's passphrase (self_auth) */
    int self_auth;             /* authenticate with the entry's own certificate (renewal) */
    int poll_only;             /* only fetch a pending request */
    int wait_s;                /* wait this long for a pending request (polling) */
};
/* Submits the entry's CSR (or polls its pending request) over HTTPS and
 * imports the certificate with its chain when issued. The CA and the way
 * to reach it are recorded in the entry. */
cm_err host_submit_rest(struct host_submit_result *out, host_store *st, const char *name,
                        const struct host_rest *r) CM_MUST_USE;
/* The JSON answer of POST /api/v1/requests or GET /api/v1/requests/ID with
 * its HTTP status (201/202/200, 422 denied) into out, and when cert_pem is
 * non-NULL an issued certificate's PEM into *cert_pem (malloc'ed; NULL when
 * the answer has none); exposed for tests and the fuzz target. */
cm_err host_rest_parse_answer(struct host_submit_result *out, char **cert_pem, long status,
                              const char *body, size_t len) CM_MUST_USE;

struct host_renew_opts {
    int all;           /* every entry from a CA that is within the window */
    const char *which; /* one entry (renewed whatever its expiry) */
    int rekey;         /* a new key instead of the same one */
    int window_days;   /* --all: renew when not-after is less than this away */
    const char *key_pass_file;
    const char *ca_pass_file; /* the CA key's passphrase */
};
typedef void (*host_renew_cb)(void *ctx, const char *name, const char *what);
/* Renews through the CA recorded at submit, then enables the services the
 * old certificate had. cb reports each entry ("renewed ...", "not due",
 * "pending ..."). The first error stops the run. */
cm_err host_renew(host_store *st, const struct host_renew_opts *o, host_renew_cb cb,
                  void *ctx) CM_MUST_USE;

/* certmonger's external CA helper (getcert add-ca -e; certmonger's
 * doc/submit.txt): one operation, its inputs from the environment. Writes
 * what certmonger reads (a certificate, a cookie, a message) into out and
 * returns the exit status: 0 issued, 1 wait (cookie), 2 rejected,
 * 3 unreachable, 4 unconfigured, 6 unsupported operation. */
struct host_cm_env {
    const char *operation; /* CERTMONGER_OPERATION */
    const char *csr;       /* CERTMONGER_CSR */
    const char *cookie;    /* CERTMONGER_CA_COOKIE */
};
int host_certmonger(cm_buf *out, const struct host_cm_env *env, const struct host_ca *ca);

/* Internal to src/host. */
/* Makes cert (PEM, SHA-1 sha1) and chain, with the entry's key (key.new when
 * a renewal made one), the entry's current generation in one switch, and
 * records it in the entry's history (src/host/gen.c). */
cm_err host_entry_commit(host_store *st, const char *name, const char *sha1, const void *cert,
                         size_t certlen, const void *chain, size_t chainlen) CM_MUST_USE;
/* Removes the generations and live/SHA1 folders of the entry's
 * certificates older than the current one and the one before; their
 * thumbprints into removed (comma-separated). */
cm_err host_prune(host_store *st, const char *name, char *removed, size_t removedsz) CM_MUST_USE;
struct ca_ctx;
/* certmonger's CA data operations (GET-NEW-REQUEST-REQUIREMENTS,
 * GET-RENEW-REQUEST-REQUIREMENTS, FETCH-ROOTS): 1 for one of them; the
 * answer for the CA session s into out. */
int host_certmonger_is_cadata(const char *op);
cm_err host_certmonger_cadata(cm_buf *out, const char *op, struct ca_ctx *s,
                              const char *profile) CM_MUST_USE;
cm_err host_entry_dir(char *out, size_t outsz, const host_store *st, const char *name) CM_MUST_USE;
cm_err host_entry_file(char *out, size_t outsz, const host_store *st, const char *name,
                       const char *file) CM_MUST_USE;
cm_err host_entry_meta(struct host_kv *out, const host_store *st, const char *name) CM_MUST_USE;
cm_err host_entry_meta_write(const host_store *st, const char *name,
                             const struct host_kv *kv) CM_MUST_USE;
cm_err host_name_check(const char *name) CM_MUST_USE;
const char *host_conf_get(const host_store *st, const char *key, const char *dflt);
/* 1 when the entry's key is in a PKCS#11 token (key_uri in entry.conf): it
 * signs there and is never read out. */
int host_entry_in_token(const struct host_kv *meta);
/* The entry's private key (decrypted with pass_file when encrypted); a key
 * in a token is CM_ERR_UNSUPPORTED naming the entry. */
struct evp_pkey_st;
cm_err host_entry_key(struct evp_pkey_st **out, const host_store *st, const char *name,
                      const char *pass_file) CM_MUST_USE;
/* Runs argv (no shell) with env added, waits; output (stdout+stderr, at
 * most 4 KiB kept) into out when non-NULL. Nonzero status is CM_ERR_STATE
 * naming `what` with the output. */
cm_err host_run(const char *const *argv, const char *const *env, const char *what) CM_MUST_USE;
/* Splits a command line on blanks (no quoting, no shell) replacing the
 * word "{config}" with config; *argv malloc'ed, words in *store. */
cm_err host_split(char ***argv, char **store, const char *cmd, const char *config) CM_MUST_USE;

#endif
