/* Key archival inside the core (issue 12): the hooks of the submission
 * path (kra_submit.c) and what the kra*.c files share. */
#ifndef CM_CA_KRA_INT_H
#define CM_CA_KRA_INT_H

#include "ca/ca_int.h"
#include "ca/csr.h"
#include "ca/profile.h"

#define KRA_TRANSPORT_KEY "private/kra-transport.key"
#define KRA_TRANSPORT_CERT "kra-transport.crt"
#define KRA_RECOVERY_DIR "private/recovery"

/* Vault kinds and states (db/db.h). */
#define KRA_V_AGENT "kra.agent"       /* name: ID; body: certificate DER */
#define KRA_V_ARCHIVE "kra.archive"   /* name: serial; body: archive record */
#define KRA_V_RECOVERY "kra.recovery" /* name: request ID; body: request record */
#define KRA_V_SHARE "kra.share"       /* name: REQ/agent ID; body: share envelope */
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
/* The transport key (passphrase of the CA key) and certificate. */
cm_err kra_transport_load(EVP_PKEY **key, X509 **cert, ca_ctx *ca, int with_key) CM_MUST_USE;
/* Reads the passphrase the CA key is encrypted with (file or prompt). */
cm_err kra_passphrase(char *out, size_t outsz, ca_ctx *ca) CM_MUST_USE;
/* One vault row's body copied (malloc'ed) with its state. */
cm_err kra_vault_get(unsigned char **body, size_t *len, int *state, ca_ctx *ca, const char *kind,
                     const char *name) CM_MUST_USE;

#endif
