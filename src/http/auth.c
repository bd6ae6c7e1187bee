/* Client certificate authentication and roles (http/auth.h). */
#include "http/auth.h"

#include "ca/clientauth.h"
#include "ca/name.h"
#include "util/log.h"
#include "util/text.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *key;
    unsigned role;
} role_keys[] = {
    {"http.roles.requester", HTTP_ROLE_REQUESTER},
    {"http.roles.officer", HTTP_ROLE_OFFICER},
    {"http.roles.auditor", HTTP_ROLE_AUDITOR},
    {"http.roles.admin", HTTP_ROLE_ADMIN},
};

/* Calls cb on each DN of a ';'-separated list (blanks around trimmed).
 * Stops at the first error cb returns. */
static cm_err dn_list_each(const char *list, cm_err (*cb)(void *ctx, const char *dn), void *ctx)
{
    cm_err rc = CM_OK;
    char *copy = NULL, *save = NULL;
    if (list == NULL || list[0] == '\0')
        return CM_OK;
    copy = strdup(list);
    CM_NOMEM_IF(copy == NULL);
    for (char *t = strtok_r(copy, ";", &save); t != NULL; t = strtok_r(NULL, ";", &save)) {
        size_t l;
        while (*t == ' ' || *t == '\t')
            t++;
        l = strlen(t);
        while (l > 0 && (t[l - 1] == ' ' || t[l - 1] == '\t'))
            t[--l] = '\0';
        if (*t != '\0')
            CM_TRY(cb(ctx, t));
    }
out:
    free(copy);
    return rc;
}

struct match_ctx {
    const X509_NAME *subject;
    const char *key;
    int found, strict;
};

static cm_err match_dn(void *ctx, const char *dn)
{
    struct match_ctx *m = ctx;
    X509_NAME *n = NULL;
    cm_err rc = name_parse_dn(&n, dn);
    if (rc != CM_OK) {
        if (m->strict)
            return cm_err_prefix(CM_ERR_CONFIG, "%s: '%s'", m->key, dn);
        cm_err_clear();
        return CM_OK;
    }
    /* X509_NAME_cmp compares the canonical encodings: case and string
     * type (PrintableString or UTF8String) do not matter. */
    if (m->subject != NULL && X509_NAME_cmp(n, m->subject) == 0)
        m->found = 1;
    X509_NAME_free(n);
    return CM_OK;
}

unsigned http_auth_roles(const cm_config *cfg, const X509_NAME *subject)
{
    unsigned roles = 0;
    for (size_t i = 0; i < sizeof(role_keys) / sizeof(role_keys[0]); i++) {
        struct match_ctx m = {subject, role_keys[i].key, 0, 0};
        if (dn_list_each(config_get(cfg, role_keys[i].key), match_dn, &m) != CM_OK)
            cm_err_clear();
        if (m.found)
            roles |= role_keys[i].role;
    }
    if (roles & HTTP_ROLE_ADMIN)
        roles |= HTTP_ROLE_OFFICER | HTTP_ROLE_AUDITOR | HTTP_ROLE_REQUESTER;
    if (roles & HTTP_ROLE_OFFICER)
        roles |= HTTP_ROLE_REQUESTER;
    return roles;
}

cm_err http_auth_check_config(const cm_config *cfg)
{
    cm_err rc = CM_OK;
    for (size_t i = 0; i < sizeof(role_keys) / sizeof(role_keys[0]); i++) {
        struct match_ctx m = {NULL, role_keys[i].key, 0, 1};
        CM_TRY(dn_list_each(config_get(cfg, role_keys[i].key), match_dn, &m));
    }
out:
    return rc;
}

void http_roles_string(char *out, size_t n, unsigned roles)
{
    static const char *names[] = {"requester", "officer", "auditor", "admin"};
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < 4; i++)
        if (roles & (1u << i)) {
            int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "", names[i]);
            if (w < 0 || (size_t)w >= n - used)
                break;
            used += (size_t)w;
        }
    if (used == 0)
        snprintf(out, n, "none");
}

static X509 *peer_cert(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get0_peer_certificate(ssl) : NULL;
}

/* Subject, serial and roles of a certificate that has passed the check. */
static cm_err principal_fill(struct http_principal *out, ca_ctx *s, X509 *x)
{
    cm_err rc = CM_OK;
    char *dn = NULL;
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    char serial[CM_SERIAL_BUF];

    CM_TRY(name_to_string(&dn, X509_get_subject_name(x)));
    if (strlen(dn) >= sizeof(out->subject))
        CM_FAIL(CM_ERR_AUTH, "client certificate subject longer than %zu bytes",
                sizeof(out->subject) - 1);
    CM_TRY(text_serial_from_bytes(serial, ASN1_STRING_get0_data(sn),
                                  (size_t)ASN1_STRING_length(sn)));
    snprintf(out->subject, sizeof(out->subject), "%s", dn);
    snprintf(out->serial, sizeof(out->serial), "%s", serial);
    out->roles = http_auth_roles(ca_config(s), X509_get_subject_name(x));
    out->has_cert = 1;
out:
    free(dn);
    return rc;
}

cm_err http_auth_principal(struct http_principal *out, struct evhttp_request *req,
                           struct http_ctx *c)
{
    cm_err rc = CM_OK;
    struct ca_actor who = {CA_ACTOR_SERVICE, "http-auth"};
    ca_ctx *s = NULL;
    X509 *x = NULL;

    memset(out, 0, sizeof(*out));
    if (!c->tls || (x = peer_cert(req)) == NULL)
        return CM_OK; /* anonymous */
    CM_TRY(ca_session_open(&s, c->srv->ca, &who));
    CM_TRY(ca_client_cert_check(s, x));
    CM_TRY(principal_fill(out, s, x));
out:
    ca_session_close(s);
    if (rc != CM_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

cm_err http_session_open(ca_ctx **out, struct http_ctx *c, const struct http_principal *p)
{
    struct ca_actor who = {CA_ACTOR_SERVICE, "http-anonymous"};
    char name[600];
    *out = NULL;
    if (p != NULL && p->has_cert) {
        who.kind = CA_ACTOR_SUBJECT;
        if (p->subject[0] != '\0')
            who.name = p->subject;
        else {
            snprintf(name, sizeof(name), "serial=%s", p->serial);
            who.name = name;
        }
    }
    return ca_session_open(out, c->srv->ca, &who);
}

/* profile.NAME.http_access: "none", "requester" or "anyone". */
static const char *profile_access(ca_ctx *s, const char *profile)
{
    char key[200];
    const char *v;
    if (profile == NULL || profile[0] == '\0' || strlen(profile) > 64 ||
        strchr(profile, '.') != NULL)
        return "none";
    snprintf(key, sizeof(key), "profile.%s.http_access", profile);
    v = config_get(ca_config(s), key);
    return v != NULL && v[0] != '\0' ? v : "none";
}

int http_auth_profile_allowed(const struct http_principal *p, ca_ctx *s, const char *profile)
{
    const char *a = profile_access(s, profile);
    if (strcmp(a, "anyone") == 0)
        return 1;
    /* A certificate without a role may still renew its own subject. */
    return strcmp(a, "requester") == 0 && p->has_cert;
}

/* Does the CSR ask for the subject of the client certificate? */
static int is_renewal(const struct http_principal *p, X509_REQ *csr)
{
    X509_NAME *mine = NULL;
    int same = 0;
    if (!p->has_cert || csr == NULL)
        return 0;
    if (name_parse_dn(&mine, p->subject) != CM_OK) {
        cm_err_clear();
        return 0;
    }
    same = X509_NAME_cmp(mine, X509_REQ_get_subject_name(csr)) == 0;
    X509_NAME_free(mine);
    return same;
}

cm_err http_auth_may_submit(int *must_pend, const struct http_principal *p, ca_ctx *s,
                            const char *profile, X509_REQ *csr)
{
    const char *a = profile_access(s, profile);
    int renewal = is_renewal(p, csr);
    unsigned staff = HTTP_ROLE_OFFICER | HTTP_ROLE_ADMIN;

    *must_pend = 1;
    if (strcmp(a, "none") == 0)
        return cm_err_set(CM_ERR_AUTH, "profile '%s' is not offered over HTTPS", profile);
    if (strcmp(a, "requester") == 0 && !renewal && !(p->roles & HTTP_ROLE_REQUESTER))
        return cm_err_set(CM_ERR_AUTH,
                          p->has_cert ? "profile '%s' needs the requester role (or a renewal of "
                                        "your certificate's own subject)"
                                      : "profile '%s' needs a client certificate from this CA",
                          profile);
    *must_pend = !(p->has_cert && (renewal || (p->roles & staff)));
    return CM_OK;
}

void http_peer_addr(char *out, size_t n, struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *host = NULL;
    ev_uint16_t port = 0;

    if (conn != NULL)
        evhttp_connection_get_peer(conn, &host, &port);
    snprintf(out, n, "%s", host != NULL ? host : "unknown");
}
