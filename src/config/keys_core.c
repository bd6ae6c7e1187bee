/* The core configuration keys: the CA, CRLs, logging, batch submission and
 * certificate profiles. The names and meanings are the contract with the CA
 * core (src/ca/): renaming one breaks existing configuration files.
 * docs/configuration.md documents every key listed here (a unit test checks
 * that it names each one). */
#include "config/config.h"

#include <stdlib.h>
#include <string.h>

#define MINUTE 60LL
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* A name in a URL path: letters, digits, '-' and '_' (no '.', no '/':
 * nothing that could climb out of /ca/ or /crl/). */
static cm_err check_url_name(char **out, const struct config_key *k, const char *old,
                             const char *in)
{
    (void)k;
    (void)old;
    if (in[0] == '\0' || strlen(in) > 64 || strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(in))
        return cm_err_set(CM_ERR_CONFIG, "'%s' is not a name of 1 to 64 letters, digits, '-' or '_'", in);
    *out = strdup(in);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

static cm_err check_key_usage(char **out, const struct config_key *k, const char *old,
                              const char *in)
{
    (void)k;
    (void)old;
    return config_list_normalize(out, CFG_LIST_KEY_USAGE, in);
}

static cm_err check_ext_key_usage(char **out, const struct config_key *k, const char *old,
                                  const char *in)
{
    (void)k;
    (void)old;
    return config_list_normalize(out, CFG_LIST_EXT_KEY_USAGE, in);
}

static cm_err check_keys(char **out, const struct config_key *k, const char *old, const char *in)
{
    (void)k;
    (void)old;
    return config_list_normalize(out, CFG_LIST_KEYS, in);
}

static cm_err check_san_types(char **out, const struct config_key *k, const char *old,
                              const char *in)
{
    (void)k;
    (void)old;
    return config_list_normalize(out, CFG_LIST_SAN_TYPES, in);
}

/* db.url: a libpq URI (docs/postgresql.md). The password is never kept
 * here: it comes from PGPASSFILE or ~/.pgpass. */
static cm_err check_db_url(char **out, const struct config_key *k, const char *old, const char *in)
{
    const char *auth, *at, *end;
    (void)k;
    (void)old;
    *out = NULL;
    if (strncmp(in, "postgresql://", 13) != 0)
        return cm_err_set(CM_ERR_CONFIG, "'%s' is not a postgresql:// URL", in);
    /* RFC 3986 escapes these; the file keeps the URL bare. */
    if (in[strcspn(in, " \t\"#\\")] != '\0')
        return cm_err_set(CM_ERR_CONFIG, "'%s': a blank, '\"', '#' or '\\' in the URL", in);
    auth = in + 13;
    end = auth + strcspn(auth, "/?");
    at = memchr(auth, '@', (size_t)(end - auth));
    if ((at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL) ||
        strstr(in, "password=") != NULL)
        return cm_err_set(CM_ERR_CONFIG, "a password in the URL is refused; put it in a password "
                                         "file (PGPASSFILE or ~/.pgpass)");
    if (*end != '/' || end[1] == '\0' || end[1] == '?')
        return cm_err_set(CM_ERR_CONFIG, "'%s' names no database (postgresql://USER@HOST:PORT/DB)",
                          in);
    if ((*out = strdup(in)) == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    return CM_OK;
}

static cm_err check_policies(char **out, const struct config_key *k, const char *old,
                             const char *in)
{
    (void)k;
    (void)old;
    return config_list_normalize(out, CFG_LIST_POLICIES, in);
}

/* Fields: pattern, type, default, min, max, choices, check, help. For
 * durations min/max are seconds (both 0: any). */
const struct config_key config_keys_core[] = {
    /* The CA */
    {"ca.name", CFG_STRING, "", 0, 0, NULL, NULL,
     "name of the CA in messages and notifications; empty: the CA certificate's subject CN"},
    {"ca.passphrase_file", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "file whose first line is the CA key passphrase, when --passphrase-file is not given"},
    {"ca.aia_url", CFG_URL, NULL, 0, 0, NULL, NULL,
     "URL of the CA certificate, put as caIssuers in issued certificates (RFC 5280 4.2.2.1)"},
    {"ca.ocsp_url", CFG_URL, NULL, 0, 0, NULL, NULL,
     "OCSP responder URL put in issued certificates' AIA extension (RFC 5280 4.2.2.1)"},
    {"ca.serial_bytes", CFG_INT, "16", 9, 20, NULL, NULL,
     "octets of new serial numbers: from 13, the issuance second (5) then random; below, all "
     "random (RFC 5280 4.1.2.2: at most 20 octets)"},
    {"ca.default_days", CFG_INT, "365", 1, 36500, NULL, NULL,
     "validity in days of issued certificates when the profile sets none"},
    {"ca.backdate", CFG_DURATION, "5m", 0, DAY, NULL, NULL,
     "notBefore = now - backdate, so that clients with a slow clock accept new certificates"},

    /* CRLs (RFC 5280 5) */
    {"crl.period", CFG_DURATION, "7d", MINUTE, 3650 * DAY, NULL, NULL,
     "validity of a full CRL: nextUpdate = thisUpdate + period (RFC 5280 5.1.2.5)"},
    {"crl.delta_period", CFG_DURATION, "1d", 0, 3650 * DAY, NULL, NULL,
     "validity of a delta CRL (RFC 5280 5.2.4); 0: no delta CRLs"},
    {"crl.overlap", CFG_DURATION, "1h", 0, 3650 * DAY, NULL, NULL,
     "publish the next CRL this long before the current one's nextUpdate"},
    {"crl.cdp_url", CFG_URL, NULL, 0, 0, NULL, NULL,
     "CRL URL put in issued certificates' CRL distribution points (RFC 5280 4.2.1.13)"},
    {"crl.delta_cdp_url", CFG_URL, NULL, 0, 0, NULL, NULL,
     "delta CRL URL put in issued certificates' freshestCRL extension (RFC 5280 4.2.1.15)"},

    /* Storage */
    {"db.url", CFG_CUSTOM, NULL, 0, 0, NULL, check_db_url,
     "PostgreSQL database of the CA (postgresql://USER@HOST:PORT/DB, set by init --db); "
     "unset: SQLite in the home"},

    /* Operation */
    {"log.level", CFG_ENUM, "warn", 0, 0, "error|warn|info|debug", NULL,
     "least severe message logged to standard error (-v on the command line raises it)"},
    {"submit.batch_group", CFG_INT, "512", 1, 100000, NULL, NULL,
     "requests committed per database transaction in a batch submission"},
    {"submit.workers", CFG_INT, "0", 0, 64, NULL, NULL,
     "worker threads signing a large batch (0 = one per CPU core)"},
    {"kra.threshold", CFG_INT, "1", 1, 32, NULL, NULL,
     "key recovery agents needed to recover an archived key (M of the N agents; "
     "docs/key-archival.md); applies to keys archived from then on"},
    {"ca.sessions", CFG_INT, "16", 1, 1024, NULL, NULL,
     "sessions (database connections) one process opens at most; callers wait when all are out"},

    /* HTTP service (certmint serve; docs/http.md) */
    {"http.base_url", CFG_URL, NULL, 0, 0, NULL, NULL,
     "public http:// URL of the distribution points; unless set explicitly, ca.aia_url, "
     "ca.ocsp_url, crl.cdp_url and crl.delta_cdp_url are made from it"},
    {"http.ca_name", CFG_CUSTOM, "ca", 0, 0, NULL, check_url_name,
     "name of this CA in distribution point paths: /ca/NAME.crt, /crl/NAME.crl ([A-Za-z0-9_-])"},
    {"http.listen", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "HOST:PORT of the plain HTTP listener (distribution points, OCSP); unset: none"},
    {"http.threads", CFG_INT, "0", 0, 256, NULL, NULL,
     "event loop threads of the HTTP server (0 = one per CPU core)"},
    {"http.max_connections", CFG_INT, "4096", 1, 1000000, NULL, NULL,
     "open HTTP connections at most; the listeners pause while at the cap"},
    {"http.idle_timeout", CFG_DURATION, "15s", 1, 3600, NULL, NULL,
     "an HTTP connection idle (no byte read or written) this long is closed"},
    {"http.request_timeout", CFG_DURATION, "30s", 1, 3600, NULL, NULL,
     "a connection that has not completed a request this long after the last one is closed "
     "(slow clients)"},
    {"https.listen", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "HOST:PORT of the HTTPS listener (TLS 1.2 and 1.3); unset: none"},
    {"https.cert", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "PEM certificate chain of the HTTPS listener; unset: HOME/private/https.crt from "
     "certmint serve --setup-tls"},
    {"https.key", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "PEM private key of the HTTPS listener; unset: HOME/private/https.key"},
    {"http.roles.requester", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "client certificate subjects (DNs, ';' between them) with the requester role: may submit "
     "for the profiles whose http_access is requester"},
    {"http.roles.officer", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "client certificate subjects (DNs, ';' between them) with the officer role: approve, deny, "
     "search, revoke, publish CRLs (includes requester)"},
    {"http.roles.auditor", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "client certificate subjects (DNs, ';' between them) with the auditor role: search and "
     "read, change nothing"},
    {"http.roles.admin", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "client certificate subjects (DNs, ';' between them) with the administrator role (includes "
     "officer, auditor and requester)"},
    {"serve.key_process", CFG_BOOL, "yes", 0, 0, NULL, NULL,
     "with HTTP listeners, certmint serve signs in a separate key process and never loads "
     "the CA key in the process that parses network input (docs/http.md)"},
    {"serve.user", CFG_STRING, "certmint", 0, 0, NULL, NULL,
     "user certmint serve switches to after binding its listeners when started as root "
     "(root: no switch; the default user missing: a warning)"},
    {"ocsp.max_inflight_sign", CFG_INT, "0", 0, 100000, NULL, NULL,
     "OCSP requests signed on demand (nonces, several CertIDs) at once at most; more get "
     "tryLater (RFC 6960 2.3); 0 = twice the HTTP threads"},
    {"ocsp.signer", CFG_ENUM, "delegated", 0, 0, "delegated|ca", NULL,
     "who signs OCSP responses: a delegated responder certificate (id-kp-OCSPSigning, "
     "issued and renewed automatically) or the CA key"},
    {"ocsp.validity", CFG_DURATION, "4d", 8 * 3600, 10 * DAY, NULL, NULL,
     "nextUpdate - thisUpdate of OCSP responses (RFC 5019 recommends days, not hours)"},
    {"ocsp.refresh", CFG_DURATION, "2d", 60, 10 * DAY, NULL, NULL,
     "a pre-signed OCSP response is signed again when less than this is left of it"},
    {"ocsp.unknown_status", CFG_ENUM, "unknown", 0, 0, "unknown|revoked", NULL,
     "answer for serials this CA never issued: unknown, or revoked (RFC 6960 2.2 "
     "extended revoked); never good"},
    {"ocsp.responder_days", CFG_INT, "30", 1, 365, NULL, NULL,
     "validity of the delegated OCSP responder certificate, renewed a third before its end"},

    /* Profiles: keys override the built-in profiles (tls-server, tls-client,
     * smime, subca) or, with profile.NAME.base, define new ones. Unset keys
     * keep the built-in (or base) profile's value: no defaults here. */
    {"profile.*.description", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "one line describing the profile (shown by certmint profiles)"},
    {"profile.*.base", CFG_ENUM, NULL, 0, 0, "tls-server|tls-client|smime|smime-encrypt|subca", NULL,
     "built-in profile a new profile inherits its settings from"},
    {"profile.*.days", CFG_INT, NULL, 1, 36500, NULL, NULL,
     "validity of issued certificates in days"},
    {"profile.*.http_access", CFG_ENUM, NULL, 0, 0, "none|requester|anyone", NULL,
     "who may submit for this profile over HTTPS: none (unset), requester (a client "
     "certificate with a role), anyone (anonymous too; anonymous requests always pend)"},
    {"profile.*.archive_key", CFG_ENUM, NULL, 0, 0, "required|optional|no", NULL,
     "key archival (docs/key-archival.md): required, optional or no; only for an "
     "encryption-only profile (a signing key is never archived)"},
    {"profile.*.approval", CFG_ENUM, NULL, 0, 0, "auto|manual", NULL,
     "auto: issue at once; manual: requests wait for certmint approve"},
    {"profile.*.key_usage", CFG_CUSTOM, NULL, 0, 0, NULL, check_key_usage,
     "keyUsage bits (RFC 5280 4.2.1.3): digitalSignature,nonRepudiation,keyEncipherment,"
     "dataEncipherment,keyAgreement,keyCertSign,cRLSign or none"},
    {"profile.*.ext_key_usage", CFG_CUSTOM, NULL, 0, 0, NULL, check_ext_key_usage,
     "extKeyUsage (RFC 5280 4.2.1.12): serverAuth,clientAuth,emailProtection,codeSigning,"
     "OCSPSigning,timeStamping, dotted OIDs, or none"},
    {"profile.*.keys", CFG_CUSTOM, NULL, 0, 0, NULL, check_keys,
     "key types accepted in requests: ec:p256,ec:p384,ec:p521,rsa:2048,rsa:3072,rsa:4096,"
     "ed25519 (rsa:N = at least N bits)"},
    {"profile.*.san_types", CFG_CUSTOM, NULL, 0, 0, NULL, check_san_types,
     "subjectAltName types a request may carry: dns,ip,email,uri or none"},
    {"profile.*.require_san", CFG_BOOL, NULL, 0, 0, NULL, NULL,
     "refuse requests without a subjectAltName"},
    {"profile.*.require_email", CFG_BOOL, NULL, 0, 0, NULL, NULL,
     "refuse requests without an email address (rfc822Name SAN)"},
    {"profile.*.max_sans", CFG_INT, NULL, 0, 1000, NULL, NULL,
     "most subjectAltName entries a request may carry"},
    {"profile.*.subject_policy", CFG_ENUM, NULL, 0, 0, "keep|cn-only|empty", NULL,
     "certificate subject: keep the request's, only its CN, or empty (SAN only)"},
    {"profile.*.ca", CFG_BOOL, NULL, 0, 0, NULL, NULL,
     "issue CA certificates: basicConstraints cA=TRUE (RFC 5280 4.2.1.9)"},
    {"profile.*.policies", CFG_CUSTOM, NULL, 0, 0, NULL, check_policies,
     "certificatePolicies OIDs (RFC 5280 4.2.1.4), comma or space separated, anyPolicy, or none; "
     "defaults: tls-server 2.23.140.1.2.1, smime 2.23.140.1.5.1.2, tls-client and subca "
     "anyPolicy"},
    {"profile.*.wildcards", CFG_BOOL, NULL, 0, 0, NULL, NULL,
     "allow a wildcard DNS SAN (*.example.com, the whole leftmost label only); default yes for "
     "tls-server, no for the others"},
    {"profile.*.pathlen", CFG_INT, NULL, -1, 16, NULL, NULL,
     "CA certificates' pathLenConstraint (RFC 5280 4.2.1.9); -1: none"},

    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};
