/* The schema of the directory settings: ldap.* (connection, search base, CA
 * entry). The ldap exit module's own keys (exit.ldap.*) are in its file,
 * src/exit/ldap.c. */
#include "ldap/ldap_keys.h"

#include "util/buf.h"
#include "util/text.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static cm_err dup_out(char **out, const char *s)
{
    *out = text_dup(s);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

/* ldap.uri: one ldap://, ldaps:// or ldapi:// URL (CFG_URL has no ldapi). */
static cm_err check_uri(char **out, const struct config_key *k, const char *old, const char *in)
{
    (void)k;
    (void)old;
    cm_err rc = dir_check_uri(in);
    return rc != CM_OK ? rc : dup_out(out, in);
}

/* ldap.binddn, ldap.base, ldap.ca_entry: a DN (RFC 4514). */
static cm_err check_dn(char **out, const struct config_key *k, const char *old, const char *in)
{
    int eq = 0;
    (void)k;
    (void)old;
    if (*in == '\0')
        return cm_err_set(CM_ERR_CONFIG, "empty DN");
    /* Comparing the DN with itself parses it: an unparseable DN fails. */
    cm_err rc = dir_dn_equal(&eq, in, in);
    if (rc != CM_OK)
        return cm_err_set(CM_ERR_CONFIG, "'%s' is not a valid DN (RFC 4514)", in);
    return dup_out(out, in);
}

const struct config_key config_keys_ldap[] = {
    {"ldap.uri", CFG_CUSTOM, NULL, 0, 0, NULL, check_uri,
     "directory server: ldap://HOST[:PORT], ldaps://HOST[:PORT] or ldapi://SOCKET"},
    {"ldap.starttls", CFG_BOOL, "yes", 0, 0, NULL, NULL,
     "StartTLS on ldap:// before binding (ldaps:// is always TLS)"},
    {"ldap.cafile", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "PEM file of CA certificates that verify the server (default: system trust)"},
    {"ldap.certfile", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "TLS client certificate (PEM) for SASL EXTERNAL over TLS"},
    {"ldap.keyfile", CFG_STRING, NULL, 0, 0, NULL, NULL, "key of ldap.certfile (PEM)"},
    {"ldap.binddn", CFG_CUSTOM, NULL, 0, 0, NULL, check_dn,
     "DN for a simple bind (password in ldap.password_file)"},
    {"ldap.password_file", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "file whose first line is the bind password (mode 0600)"},
    {"ldap.sasl_external", CFG_BOOL, "no", 0, 0, NULL, NULL,
     "bind with SASL EXTERNAL (ldapi:// peer credentials or TLS client certificate)"},
    {"ldap.base", CFG_CUSTOM, NULL, 0, 0, NULL, check_dn,
     "where entries for certificates are looked up (mail, else subject DN)"},
    {"ldap.ca_entry", CFG_CUSTOM, NULL, 0, 0, NULL, check_dn,
     "DN of the CA entry holding cACertificate and the CRLs"},
    {"ldap.connect_timeout", CFG_DURATION, "5s", 1, 300, NULL, NULL,
     "deadline for connecting and the TLS handshake"},
    {"ldap.timeout", CFG_DURATION, "10s", 1, 600, NULL, NULL,
     "deadline for each directory operation"},
    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};
