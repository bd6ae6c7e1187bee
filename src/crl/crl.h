/* Certificate revocation lists (RFC 5280 section 5): full and delta CRLs.
 *
 * A CRL is written as DER directly, streaming, without building an OpenSSL
 * X509_REVOKED per entry: the revoked entries are encoded one after the
 * other into a single buffer that has room in front for the TBSCertList
 * header, so that the whole CRL ends up contiguous in that one buffer (about
 * the CRL's size) and the PEM copy is made in place over it.
 *
 * Layers:
 *   crl_build()    the encoder core: issuer name, key, numbers, times and an
 *                  entry iterator in, a linted and signed CRL out. Needs no
 *                  database and no CA home (tests and benchmarks use it).
 *   crl_lint()     the CRL lint rules, run by crl_build() on every
 *                  TBSCertList before it is signed.
 *   crl_publish()  the CA operation: one database transaction that numbers,
 *                  builds, records and announces a CRL, then writes
 *                  HOME/crl/{ca,delta}.crl and .crl.pem.
 *
 * Ownership: struct crl_output owns its buffer (crl_output_free, NULL-safe).
 * Pointers inside struct crl_params are borrowed for the call. */
#ifndef CM_CRL_CRL_H
#define CM_CRL_CRL_H

#include "ca/ca.h"
#include "db/db.h"
#include "util/buf.h"
#include "util/err.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Hard limit on a CRL's DER size (and on the buffer that holds it). */
#define CRL_MAX_BYTES ((size_t)3 << 30)

/* Pushes every entry of the CRL to cb, in any order (push iterator, like
 * db_revoked_iter). Must return cb's error unchanged when cb fails. */
typedef cm_err (*crl_entry_iter_fn)(void *iter_ctx, db_revoked_cb cb, void *cb_ctx);

struct crl_params {
    const unsigned char *issuer_der; /* issuer Name, DER (the CA cert's subject) */
    size_t issuer_len;
    const unsigned char *aki_keyid; /* authorityKeyIdentifier keyid (RFC 5280 5.2.1) */
    size_t aki_keyid_len;
    const cm_key *key;        /* signing key: EC P-256/384/521, RSA, Ed25519 */
    int64_t number;           /* cRLNumber (5.2.3), > 0 */
    int64_t last_number;      /* highest number issued before, 0 = none (lint) */
    int is_delta;             /* 1: delta CRL (5.2.4) */
    int64_t base_number;      /* delta: the complete CRL's number */
    int64_t this_update;      /* unix seconds UTC (5.1.2.4) */
    int64_t next_update;      /* (5.1.2.5) */
    const char *freshest_url; /* full CRLs: freshestCRL URI (5.2.6), NULL = none */
    size_t entries_hint;      /* expected entries, sizes the buffer once; 0 = unknown */
};

struct crl_output {
    cm_buf buf;      /* owns the bytes */
    size_t off, len; /* the DER CRL is buf.data[off .. off + len) */
    int is_pem;      /* set once crl_output_write made the PEM in place */
    size_t der_len;  /* size of the DER, kept after the PEM replaced it */
    int64_t entries;
    unsigned char sha256[32]; /* SHA-256 of the DER */
};
#define CRL_OUTPUT_INIT                                                                            \
    {                                                                                              \
        CM_BUF_INIT(CRL_MAX_BYTES), 0, 0, 0, 0, 0,                                                 \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Encodes, lints (crl_lint) and signs a CRL v2 over the entries iter pushes.
 * Entries with reason unspecified carry no reasonCode (5.3.1); an
 * invalidity_date > 0 adds invalidityDate (5.3.2). The signature is checked
 * with the public key before returning. On error *out is left empty. */
cm_err crl_build(struct crl_output *out, const struct crl_params *p, crl_entry_iter_fn iter,
                 void *iter_ctx) CM_MUST_USE;
void crl_output_free(struct crl_output *o);

/* Writes the DER to der_path and then the PEM ("X509 CRL") to pem_path,
 * each atomically with the given mode; either path may be NULL. The PEM is
 * made in place over the DER (memory stays about one CRL): afterwards o
 * holds the PEM (is_pem) and cannot be written as DER again. */
cm_err crl_output_write(struct crl_output *o, const char *der_path, const char *pem_path,
                        mode_t mode) CM_MUST_USE;

/* Appends one revokedCertificates entry (RFC 5280 5.1.2.6 and 5.3) for r.
 * CM_ERR_INVALID when the serial is not hex, the reason is not 0..127, or a
 * date is outside 1950..9999. */
cm_err crl_encode_revoked(cm_buf *out, const struct db_revoked *r) CM_MUST_USE;

/* What crl_lint() read from a TBSCertList. */
struct crl_lint_info {
    int64_t number;
    int is_delta;
    int64_t base_number;
    int64_t this_update, next_update;
    int64_t entries;
};

/* The CRL lint rules, checked on the DER of a TBSCertList (independently of
 * the encoder). A broken rule is CM_ERR_LINT with the message
 * "CRL lint RULE (RFC 5280 x.y.z): what is wrong". Rules:
 *   crl.der                    well-formed DER of the TBSCertList structure
 *   crl.version                version present and v2 (5.1.2.1)
 *   crl.issuer                 issuer name not empty (5.1.2.3)
 *   crl.time.format            times are YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ (5.1.2.4)
 *   crl.time.encoding          UTCTime through 2049, GeneralizedTime from 2050
 *   crl.nextupdate             nextUpdate present (5.1.2.5)
 *   crl.update.order           thisUpdate < nextUpdate
 *   crl.revoked.empty          no empty revokedCertificates list (5.1.2.6)
 *   crl.entry.serial.positive  entry serial > 0 (4.1.2.2)
 *   crl.entry.serial.length    entry serial at most 20 octets (4.1.2.2)
 *   crl.entry.reason.unspecified  no reasonCode unspecified(0) (5.3.1)
 *   crl.entry.reason.value     reasonCode one of 1..6, 8..10 (5.3.1)
 *   crl.entry.reason.delta     removeFromCRL(8) only in a delta CRL (5.3.1)
 *   crl.entry.invalidity       invalidityDate a GeneralizedTime (5.3.2)
 *   crl.entry.ext.critical     no critical entry extension (5.3.1, 5.3.2)
 *   crl.ext.duplicate          no extension twice (4.2)
 *   crl.ext.critical           no unknown critical CRL extension (5.2)
 *   crl.ext.aki                authorityKeyIdentifier with keyIdentifier (5.2.1)
 *   crl.number.present         cRLNumber present, non-critical (5.2.3)
 *   crl.number.positive        cRLNumber > 0
 *   crl.number.length          cRLNumber at most 20 octets (5.2.3)
 *   crl.number.increasing      cRLNumber > last_number
 *   crl.delta.critical         deltaCRLIndicator critical (5.2.4)
 *   crl.delta.base             base CRL number positive and < cRLNumber
 *   crl.freshest               freshestCRL non-critical, not in a delta (5.2.6)
 * info may be NULL. */
cm_err crl_lint(struct crl_lint_info *info, const unsigned char *tbs, size_t len,
                int64_t last_number) CM_MUST_USE;

/* ---- The CA operation ---- */

#define CRL_FULL_DER "ca.crl"
#define CRL_FULL_PEM "ca.crl.pem"
#define CRL_DELTA_DER "delta.crl"
#define CRL_DELTA_PEM "delta.crl.pem"

struct crl_result {
    int64_t number;
    int is_delta;
    int64_t base_number; /* delta: the full CRL it builds on */
    int64_t entries;
    int64_t this_update, next_update;
    size_t der_size;
    char sha256_hex[65];
    char der_path[PATH_MAX];
    char pem_path[PATH_MAX];
};

/* Publishes a full CRL (delta = 0) or a delta CRL (delta = 1) of the CA.
 * The caller has loaded the CA key (ca_load_key: ca->signer). In one
 * transaction of its own: takes the next "crl_number", reads the
 * revocations (all of them, or for a delta those changed since the last
 * full CRL), builds and signs the CRL, records it (db_crl_insert), appends
 * an audit record and raises CRLISSUED. After the commit it writes
 * HOME/crl/ca.crl and ca.crl.pem (delta.crl and delta.crl.pem for a delta),
 * so that a CRL number that was rolled back is never seen outside. Errors:
 * CM_ERR_CONFIG when a delta is asked for with crl.delta_period = 0,
 * CM_ERR_STATE when a delta has no full CRL to build on, CM_ERR_LINT when a
 * lint rule refuses the CRL. */
cm_err crl_publish(struct crl_result *out, ca_ctx *ca, int delta) CM_MUST_USE;

/* The DER bytes of the CRL r describes, read back from r->der_path and
 * checked against r->sha256_hex: CM_ERR_STATE when another run has
 * replaced the file meanwhile (a copy for the user is then not made). *der
 * is malloc'ed. */
cm_err crl_published_read(unsigned char **der, size_t *len, const struct crl_result *r) CM_MUST_USE;

#endif
