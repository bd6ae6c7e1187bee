/* Key archival inside the core (issue 12): the hooks of the submission
 * path (kra_submit.c) and what the kra*.c files share. */
#ifndef CM_CA_KRA_INT_H
#define CM_CA_KRA_INT_H

#include "ca/ca_int.h"
#include "ca/csr.h"
#include "ca/profile.h"
#include "kra/kra.h"
#include "util/buf.h"

#define KRA_TRANSPORT_KEY "private/kra-transport.key"
/* Instead of the file when the key is in the CA key's token: its URI. */
#define KRA_TRANSPORT_KEY_URI "private/kra-transport.key.uri"
#define KRA_TRANSPORT_CERT "kra-transport.crt"
#define KRA_RECOVERY_DIR "private/recovery"

/* Vault kinds and states (db/db.h). */
#define KRA_V_AGENT "kra.agent"       /* name: ID; body: certificate DER */
#define KRA_V_ARCHIVE "kra.archive"   /* name: serial; body: archive record */
#define KRA_V_RECOVERY "kra.recovery" /* name: request ID; body: request record */
#define KRA_V_SHARE "kra.share"       /* name: REQ/agent ID; body: share envelope (file) */
#define KRA_V_REWRAP "kra.rewrap"     /* name: request ID; body: re-wrap request file */
enum { KRA_ST_REMOVED = 0, KRA_ST_ACTIVE = 1, KRA_ST_OPEN = 1, KRA_ST_DONE = 2 };

/* Submission hooks, in the order request.c calls them.
 * decide: the profile's archive_key against the request (CM_ERR_POLICY with
 * the reason: envelope missing, not to the transport certificate, key not
 * matching the request's public key, no agents); opens the envelope.
 * seal: after signing: the key sealed and its content key split to the
 * agents, bound to the certificate's serial. Both outside the transaction.
 * record: in the submission's transaction. */
cm_err kra_submit_decide(ca_ctx *ca, const struct profile *p, const struct csr *c,
                         struct ca_submission *s) CM_MUST_USE;
cm_err kra_submit_seal(ca_ctx *ca, struct ca_submission *s, X509 *x) CM_MUST_USE;
cm_err kra_submit_record(ca_ctx *ca, struct ca_submission *s, int64_t request_id) CM_MUST_USE;
void kra_archived_free(struct ca_archived *a);
/* Way (b) (kra_keygen.c): the generated key of s (borrowed), NULL when none. */
EVP_PKEY *kra_keygen_pkey(const struct ca_submission *s);
void kra_keygen_free(struct ca_keygen *g);
/* PKCS#12 (RFC 7292) of k, x and the CA chain under pass: PBES2 AES-256-CBC,
 * PBKDF2 600,000 iterations, HMAC-SHA256 MAC (kra_recover.c). */
cm_err kra_p12_make(unsigned char **out, size_t *len, EVP_PKEY *k, X509 *x, ca_ctx *ca,
                    const char *pass) CM_MUST_USE;
/* Enrollment tokens (token.c): the binding replaces the request's subject
 * and extensions right after it is parsed (request.c). */
cm_err token_binding_apply(struct csr *c, const struct ca_token_binding *bd) CM_MUST_USE;

/* The active agents' certificates (and IDs, same order). */
cm_err kra_agents_load(STACK_OF(X509) * *certs, char (**ids)[65], ca_ctx *ca) CM_MUST_USE;
/* The transport certificate and (with_key) the transport key: the file
 * under the CA passphrase, or the token object private/kra-transport.key.uri
 * names; checked against the certificate. */
cm_err kra_transport_load(cm_key **key, X509 **cert, ca_ctx *ca, int with_key) CM_MUST_USE;
/* Reads the passphrase the CA key is encrypted with (file or prompt). */
cm_err kra_passphrase(char *out, size_t outsz, ca_ctx *ca) CM_MUST_USE;
/* One vault row's body copied (malloc'ed) with its state. */
cm_err kra_vault_get(unsigned char **body, size_t *len, int *state, ca_ctx *ca, const char *kind,
                     const char *name) CM_MUST_USE;

/* Shared by recovery and re-wrapping (kra_recover.c, kra_rewrap.c). */
struct kra_rec;
struct kra_released;
/* HOME/private/recovery/REQ.key (the directory made 0700). */
cm_err kra_recovery_key_path(char *out, size_t outsz, ca_ctx *ca, const char *req) CM_MUST_USE;
/* A one-time EC P-256 transport key and its self-signed certificate. */
cm_err kra_transport_make(EVP_PKEY **k, X509 **x, const char *req) CM_MUST_USE;
/* A recovery request record of the archive arch ("certmint-kra-request 1"). */
cm_err kra_request_record(cm_buf *b, const char *req, const char *serial, const char *reason,
                          X509 *tc, const struct kra_rec *arch, const char *subject) CM_MUST_USE;
/* The archive record of serial (CM_ERR_NOTFOUND: none). */
cm_err kra_archive_load(struct kra_rec *arch, ca_ctx *ca, const char *serial) CM_MUST_USE;
/* The one-time transport key (r's "transport" certificate, the key file of req). */
cm_err kra_transport_of(EVP_PKEY **k, X509 **x, ca_ctx *ca, const struct kra_rec *r,
                        const char *req) CM_MUST_USE;
/* Is rel the share archived for its agent in arch (check value)? CM_ERR_AUTH if not. */
cm_err kra_share_verify(const struct kra_rec *arch, const struct kra_released *rel,
                        const char *what) CM_MUST_USE;
/* Opens a share envelope to the transport key into rel. */
cm_err kra_share_open(struct kra_released *rel, const unsigned char *env, size_t envlen, X509 *tc,
                      EVP_PKEY *tk, const char *what) CM_MUST_USE;
/* The PKCS#8 DER sealed in arch, with k shares (x coordinates xs). */
cm_err kra_archive_unseal(unsigned char **p8, size_t *p8len, const struct kra_rec *arch,
                          const unsigned char *xs, const unsigned char shares[][KRA_SHARE_LEN],
                          unsigned k, const char *serial) CM_MUST_USE;
/* An archive record: p8 sealed under a fresh content key bound to serial,
 * the key split m-of-(the agents certs/ids), each share enveloped to its
 * agent with a check value; rewrapped (may be NULL) names the re-wrap. */
cm_err kra_archive_build(unsigned char **rec, size_t *reclen, const unsigned char *p8, size_t p8len,
                         const char *serial, unsigned m, STACK_OF(X509) * certs, char (*ids)[65],
                         const char *rewrapped) CM_MUST_USE;

/* Re-wrapping (kra_rewrap.c): a share file for a re-wrap request. */
cm_err kra_rewrap_add_share(int *have, int *need, ca_ctx *ca, const unsigned char *share,
                            size_t len, const char *what) CM_MUST_USE;
int kra_rewrap_is(ca_ctx *ca, const char *req);

#endif
