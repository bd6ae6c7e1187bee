/* The OCSP responder (RFC 6960, with the RFC 5019 profile for high volume).
 *
 * The core half of it: parsing a request, deciding a status from the
 * database, building and signing a BasicOCSPResponse, and the cache of
 * pre-signed responses. The HTTP layer (src/http) only takes the request
 * bytes off the wire and presents the answer.
 *
 *   ocsp_request_parse()  one DER OCSPRequest -> its CertIDs and nonce
 *   ocsp_responder_*      a responder for one CA: its signer (a delegated
 *                         responder certificate with id-kp-OCSPSigning and
 *                         id-pkix-ocsp-nocheck, issued and renewed here, or
 *                         the CA key), and a cache of responses pre-signed
 *                         for every certificate, refreshed ahead of their
 *                         nextUpdate and re-made at once when a revocation
 *                         changes a status.
 *
 * Threads: ocsp_respond() may be called from many threads at once: it
 * answers from the cache without the database, and takes a pool session of
 * the CA handle (ca_session_open) only for a serial the cache does not hold;
 * ocsp_responder_sync() from one thread at a time (the refresher), on the
 * responder's own database connection; ocsp_responder_renew() from the
 * thread that owns the ca_ctx. The cache is under a read-write lock. */
#ifndef CM_OCSP_OCSP_H
#define CM_OCSP_OCSP_H

#include "ca/ca.h"
#include "db/db.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Largest OCSP request accepted (POST body or decoded GET): RFC 5019 2.1.1
 * requests are about 100 bytes; a nonce is at most 32 octets (RFC 8954). */
#define OCSP_MAX_REQUEST 4096
#define OCSP_MAX_CERTIDS 16
#define OCSP_MAX_NONCE 128 /* the extnValue octets (RFC 8954: nonce 1..32 octets) */

/* OCSPResponseStatus (RFC 6960 4.2.1). */
enum ocsp_resp_status {
    OCSP_ST_SUCCESSFUL = 0,
    OCSP_ST_MALFORMED = 1,
    OCSP_ST_INTERNAL = 2,
    OCSP_ST_TRYLATER = 3,
    OCSP_ST_UNAUTHORIZED = 6,
};

/* What a successful answer said about the (first) certificate. */
enum ocsp_cert_status { OCSP_GOOD = 0, OCSP_REVOKED = 1, OCSP_UNKNOWN = 2 };

/* One CertID of a request (RFC 6960 4.1.1), as DER and decoded. */
struct ocsp_certid {
    unsigned char der[256]; /* the CertID DER, echoed in the response */
    size_t der_len;
    char serial[CM_SERIAL_BUF]; /* canonical hex; "" when out of range */
    int md_nid;                 /* hashAlgorithm (NID_sha1, NID_sha256, ...) */
    unsigned char name_hash[64], key_hash[64];
    size_t name_hash_len, key_hash_len;
};

struct ocsp_request {
    struct ocsp_certid ids[OCSP_MAX_CERTIDS];
    size_t n;
    unsigned char nonce[OCSP_MAX_NONCE]; /* the nonce extension's extnValue */
    size_t nonce_len;
    int has_nonce;
};

/* Parses a DER OCSPRequest. CM_ERR_INVALID (with the reason) for anything
 * that is not one: bad DER, trailing bytes, no request, too many CertIDs
 * (more than OCSP_MAX_CERTIDS), a nonce longer than OCSP_MAX_NONCE or a
 * critical extension this responder does not know (RFC 6960 4.1.2). */
cm_err ocsp_request_parse(struct ocsp_request *out, const unsigned char *der,
                          size_t len) CM_MUST_USE;

/* The delegated responder's certificate and key in the CA home. The key
 * is written by whoever keeps it: this process, or certmint serve's key
 * process (key_open_aux). */
#define OCSP_CERT_FILE "private/ocsp.crt"
#define OCSP_KEY_FILE "private/ocsp.key"

struct ocsp_opts {
    int use_ca_key;         /* 1: sign with the CA key; 0: delegated responder */
    int64_t validity;       /* nextUpdate - thisUpdate, seconds */
    int64_t refresh_before; /* re-sign when less than this is left */
    int unknown_as_revoked; /* never-issued serials: revoked (RFC 6960 2.2) */
    int64_t responder_days; /* validity of the delegated responder certificate */
    /* Responses signed on demand (nonce, several CertIDs, not yet cached)
     * at once at most; more get tryLater (RFC 6960 2.3) so that a flood of
     * nonces cannot take every thread from the cached answers. 0 from
     * ocsp_opts_from_config: the caller sets it (ocsp.max_inflight_sign). */
    int max_inflight_sign;
};

/* Reads ocsp.* from the configuration (docs/configuration.md). */
cm_err ocsp_opts_from_config(struct ocsp_opts *o, const cm_config *cfg) CM_MUST_USE;

typedef struct ocsp_responder ocsp_responder;

/* A responder for ca (its certificate and, for signing, ca->signer, which
 * must be loaded). It keeps ca's handle (the sessions for cache misses) and
 * a connection of its own for ocsp_responder_sync. With a delegated signer, the responder
 * certificate in HOME/private/ocsp.crt and its key ocsp.key are used when valid for more than a
 * third of their life, else a new pair is issued (recorded in the database and the audit log like
 * every certificate this CA signs). The cache starts empty: ocsp_responder_sync fills it. */
cm_err ocsp_responder_new(ocsp_responder **out, ca_ctx *ca, const struct ocsp_opts *o) CM_MUST_USE;
void ocsp_responder_free(ocsp_responder *r);

/* Renews the delegated responder certificate when a third of its life is
 * left (the thread owning ca calls it now and then); *renewed says whether
 * it did. Responses signed by the old one stay valid until their own
 * nextUpdate; they are re-signed by the next sync. */
cm_err ocsp_responder_renew(ocsp_responder *r, ca_ctx *ca, int *renewed) CM_MUST_USE;

/* Brings the cache up to date with the database (through the responder's
 * own connection; one thread at a time): when the revocation sequence, the RequestID counter
 * or the number of certificates moved since the last sync, every status is
 * read again and the responses whose status changed, and those of new
 * certificates, are signed; responses with less than refresh_before left
 * are re-signed. *signed_out (may be NULL) counts the signatures made. */
cm_err ocsp_responder_sync(ocsp_responder *r, size_t *signed_out) CM_MUST_USE;

/* An answer: the DER OCSPResponse and what it says. */
struct ocsp_answer {
    unsigned char *der; /* malloc'ed */
    size_t len;
    int resp_status; /* enum ocsp_resp_status */
    int cert_status; /* enum ocsp_cert_status of the first CertID (successful only) */
    int cached;      /* 1: a pre-signed response (cacheable by HTTP caches) */
    int64_t produced_at, this_update, next_update;
};

/* Answers one request (the DER bytes). Never fails for bad input: a
 * malformed request gets malformedRequest, a CertID of another issuer
 * unauthorized (RFC 6960 2.3), a request to sign on demand while
 * max_inflight_sign are being signed tryLater. A single CertID without a
 * nonce is answered from the cache; a nonce (RFC 8954) or several CertIDs
 * are signed on demand with the statuses of the cache. Only a serial the
 * cache does not hold (a certificate issued since the last sync) takes a
 * pool session of the CA handle, waiting while all ca.sessions are out, to
 * read it from the database. CM_ERR_* only when no answer at all could be
 * made (out of memory). */
cm_err ocsp_respond(struct ocsp_answer *out, ocsp_responder *r, const unsigned char *req,
                    size_t len) CM_MUST_USE;
void ocsp_answer_clear(struct ocsp_answer *a);

/* Counts of the cache, for metrics. */
struct ocsp_stats {
    size_t entries;
    int64_t oldest_next_update;  /* 0 when empty */
    int64_t responder_not_after; /* 0 with the CA key */
};
void ocsp_responder_stats(ocsp_responder *r, struct ocsp_stats *st);

const char *ocsp_cert_status_name(int st); /* "good", "revoked", "unknown" */
const char *ocsp_resp_status_name(int st); /* "successful", "malformedRequest", ... */

#endif
