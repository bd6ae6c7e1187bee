/* Certificate profiles: what a request may contain and what the certificate
 * gets. Built-in profiles tls-server, tls-client, smime and subca; the
 * configuration overrides their settings (profile.NAME.KEY) or defines new
 * profiles (profile.NAME.base = a built-in to start from). */
#ifndef CM_CA_PROFILE_H
#define CM_CA_PROFILE_H

#include "key/keystore.h"
#include "config/config.h"
#include "util/err.h"

#include <stddef.h>

/* keyUsage bits (RFC 5280 4.2.1.3), as OpenSSL's KU_* values. */
#define PROFILE_SAN_DNS 0x1
#define PROFILE_SAN_IP 0x2
#define PROFILE_SAN_EMAIL 0x4
#define PROFILE_SAN_URI 0x8

/* Key archival (issue 12, docs/key-archival.md). */
enum profile_archive { PROFILE_ARCHIVE_NO, PROFILE_ARCHIVE_OPTIONAL, PROFILE_ARCHIVE_REQUIRED };

enum profile_subject { PROFILE_SUBJECT_KEEP, PROFILE_SUBJECT_CN_ONLY, PROFILE_SUBJECT_EMPTY };

struct profile {
    char name[64];
    char base[32]; /* the built-in it derives from */
    int days;
    int manual;              /* approval: 1 = pends for an officer */
    int ku_set;              /* key_usage given explicitly (else by key type) */
    unsigned key_usage;      /* KU_* bits */
    char *eku;               /* comma list of EKU short names / OIDs, NULL = none */
    struct key_spec keys[8]; /* allowed key types (RSA: minimum bits) */
    size_t nkeys;
    unsigned san_types; /* PROFILE_SAN_* allowed */
    int require_san, require_email;
    int max_sans;
    enum profile_subject subject;
    int is_ca, pathlen; /* pathlen -1 = none */
    char *description;
    /* certificatePolicies (RFC 5280 4.2.1.4): comma-separated dotted OIDs,
     * NULL = no extension. Built-in defaults: the CA/Browser Forum's reserved
     * OIDs where a Baseline Requirements document covers the profile. */
    char *policies;
    int wildcards; /* a DNS SAN may be "*.example.com" (CA/B BR 7.1.2.7.12) */
    enum profile_archive archive; /* archive_key: only for encryption-only profiles */
};

/* Loads profile `name` (built-in and/or configured). Unknown: CM_ERR_INVALID
 * "unknown profile 'x' (known: ...)". */
cm_err profile_load(struct profile **out, const cm_config *cfg, const char *name) CM_MUST_USE;
void profile_free(struct profile *p);

/* Calls cb for every known profile name (built-ins, then configured). */
void profile_names(const cm_config *cfg, void (*cb)(void *ctx, const char *name), void *ctx);

/* An encryption-only profile: keyUsage set explicitly, with keyEncipherment
 * or keyAgreement and without digitalSignature or nonRepudiation. Only such
 * a profile may archive keys: a signing key is never archived. */
int profile_encryption_only(const struct profile *p);

/* Checks a key against the profile's allowed keys. */
cm_err profile_check_key(const struct profile *p, const EVP_PKEY *k) CM_MUST_USE;

/* The keyUsage bits for a subject key: explicit, else by key type (RSA keys
 * encipher keys, EC keys agree on them, Ed25519 only signs). */
unsigned profile_key_usage(const struct profile *p, const EVP_PKEY *k);

#endif
