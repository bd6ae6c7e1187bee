#include "ca/profile.h"

#include "util/text.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Built-in profiles. Validities follow CA/Browser Forum limits where they
 * apply (TLS server: 397 days, under BR 6.3.2's 398). */
static const struct builtin {
    const char *name;
    int days;
    int manual;
    unsigned ku; /* 0 = by key type */
    const char *eku;
    unsigned san_types;
    int require_san, require_email;
    int is_ca;
    const char *description;
    const char *policies; /* certificatePolicies OIDs */
    int wildcards;
    const char *keys; /* NULL: the default key types */
    int archive;      /* enum profile_archive */
} builtins[] = {
    {"tls-server", 397, 0, 0, "serverAuth", PROFILE_SAN_DNS | PROFILE_SAN_IP, 1, 0, 0,
     "TLS server (mail servers, web servers): DNS/IP SANs, serverAuth",
     /* CA/B BR 7.1.6.1 domain-validated: the CA checks the names, not the
      * organization. */
     "2.23.140.1.2.1", 1, NULL, 0},
    {"tls-client", 365, 0, 0, "clientAuth",
     PROFILE_SAN_DNS | PROFILE_SAN_IP | PROFILE_SAN_EMAIL | PROFILE_SAN_URI, 0, 0, 0,
     "TLS client authentication: clientAuth",
     /* No Baseline Requirements cover client certificates, and their OIDs
      * are refused outside serverAuth/emailProtection: anyPolicy (RFC 5280
      * 4.2.1.4) until the operator sets the CA's own policy OID. */
     "2.5.29.32.0", 0, NULL, 0},
    {"smime", 365, 0, 0, "emailProtection", PROFILE_SAN_EMAIL, 1, 1, 0,
     "S/MIME signing and encryption: e-mail SAN, emailProtection",
     /* S/MIME BR 7.1.6.1: mailbox-validated, multipurpose generation. */
     "2.23.140.1.5.1.2", 0, NULL, 0},
    /* Issue 12: an encryption-only certificate whose key may be archived
     * (docs/key-archival.md). RSA key transport only: keyEncipherment is
     * the one key usage, so the key never signs (RFC 8550 4.4.2). */
    {"smime-encrypt", 365, 0, KU_KEY_ENCIPHERMENT, "emailProtection", PROFILE_SAN_EMAIL, 1, 1, 0,
     "S/MIME encryption only (RSA), private key archived for recovery: e-mail SAN",
     /* S/MIME BR 7.1.6.1: mailbox-validated, strict generation. */
     "2.23.140.1.5.1.3", 0, "rsa:2048", PROFILE_ARCHIVE_OPTIONAL},
    {"subca", 1825, 1, KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE, NULL, 0, 0, 0, 1,
     "subordinate CA certificate (pends for an officer)",
     /* The subordinate may issue under any policy of this CA. */
     "2.5.29.32.0", 0, NULL, 0},
};

static const struct builtin *builtin_find(const char *name)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

static const struct {
    const char *name;
    unsigned bit;
} ku_names[] = {
    {"digitalSignature", KU_DIGITAL_SIGNATURE}, {"nonRepudiation", KU_NON_REPUDIATION},
    {"contentCommitment", KU_NON_REPUDIATION},  {"keyEncipherment", KU_KEY_ENCIPHERMENT},
    {"dataEncipherment", KU_DATA_ENCIPHERMENT}, {"keyAgreement", KU_KEY_AGREEMENT},
    {"keyCertSign", KU_KEY_CERT_SIGN},          {"cRLSign", KU_CRL_SIGN},
};

static cm_err parse_ku(unsigned *out, const char *v)
{
    char buf[512], *save = NULL, *tok;
    unsigned bits = 0;

    if (strlen(v) >= sizeof(buf))
        return cm_err_set(CM_ERR_CONFIG, "key_usage '%s': too long", v);
    memcpy(buf, v, strlen(v) + 1);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        size_t i;
        for (i = 0; i < sizeof(ku_names) / sizeof(ku_names[0]); i++)
            if (strcasecmp(tok, ku_names[i].name) == 0)
                break;
        if (i == sizeof(ku_names) / sizeof(ku_names[0]))
            return cm_err_set(CM_ERR_CONFIG, "key_usage: unknown usage '%s'", tok);
        bits |= ku_names[i].bit;
    }
    *out = bits;
    return CM_OK;
}

static cm_err parse_keys(struct profile *p, const char *v)
{
    char buf[512], *save = NULL, *tok;

    if (strlen(v) >= sizeof(buf))
        return cm_err_set(CM_ERR_CONFIG, "keys '%s': too long", v);
    memcpy(buf, v, strlen(v) + 1);
    p->nkeys = 0;
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (p->nkeys == sizeof(p->keys) / sizeof(p->keys[0]))
            return cm_err_set(CM_ERR_CONFIG, "keys: too many entries");
        if (key_spec_parse(&p->keys[p->nkeys], tok) != CM_OK)
            return cm_err_prefix(CM_ERR_CONFIG, "profile %s keys", p->name);
        p->nkeys++;
    }
    return CM_OK;
}

static cm_err parse_sans(unsigned *out, const char *v)
{
    char buf[256], *save = NULL, *tok;
    unsigned t = 0;

    if (strlen(v) >= sizeof(buf))
        return cm_err_set(CM_ERR_CONFIG, "san_types '%s': too long", v);
    memcpy(buf, v, strlen(v) + 1);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (strcasecmp(tok, "dns") == 0)
            t |= PROFILE_SAN_DNS;
        else if (strcasecmp(tok, "ip") == 0)
            t |= PROFILE_SAN_IP;
        else if (strcasecmp(tok, "email") == 0)
            t |= PROFILE_SAN_EMAIL;
        else if (strcasecmp(tok, "uri") == 0)
            t |= PROFILE_SAN_URI;
        else
            return cm_err_set(CM_ERR_CONFIG, "san_types: unknown type '%s'", tok);
    }
    *out = t;
    return CM_OK;
}

/* certificatePolicies: a normalized list of dotted OIDs, or "none"/"" for
 * no extension. Checked again here because a hand-edited file skips
 * `config set`. */
static cm_err set_policies(struct profile *p, const char *v)
{
    cm_err rc = CM_OK;
    char *norm = NULL;

    free(p->policies);
    p->policies = NULL;
    if (v == NULL || v[0] == '\0')
        return CM_OK;
    rc = config_list_normalize(&norm, CFG_LIST_POLICIES, v);
    if (rc != CM_OK)
        return cm_err_prefix(CM_ERR_CONFIG, "profile %s policies", p->name);
    if (strcmp(norm, "none") == 0)
        free(norm);
    else
        p->policies = norm;
    return CM_OK;
}

struct name_probe {
    const char *want;
    int found;
};

static void probe_cb(void *ctx, const char *name)
{
    struct name_probe *np = ctx;
    if (strcmp(np->want, name) == 0)
        np->found = 1;
}

/* Reads profile.NAME.KEY if set. */
static const char *pget(const cm_config *cfg, const char *name, const char *key)
{
    char k[160];
    snprintf(k, sizeof(k), "profile.%s.%s", name, key);
    return config_is_set(cfg, k) ? config_get(cfg, k) : NULL;
}

struct list_ctx {
    char buf[512];
};

static void list_cb(void *ctx, const char *name)
{
    struct list_ctx *l = ctx;
    size_t n = strlen(l->buf);
    snprintf(l->buf + n, sizeof(l->buf) - n, "%s%s", n ? ", " : "", name);
}

struct names_fwd {
    void (*cb)(void *ctx, const char *name);
    void *ctx;
};

static void names_fwd_cb(void *ctx, const char *name)
{
    const struct names_fwd *f = ctx;
    if (builtin_find(name) == NULL)
        f->cb(f->ctx, name);
}

void profile_names(const cm_config *cfg, void (*cb)(void *ctx, const char *name), void *ctx)
{
    struct names_fwd f = {cb, ctx};
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        cb(ctx, builtins[i].name);
    config_names(cfg, "profile", names_fwd_cb, &f);
}

/* The built-in profile NAME is, or is based on (profile.NAME.base). */
static cm_err profile_builtin(const struct builtin **out, const cm_config *cfg, const char *name)
{
    const struct builtin *b;
    const char *v;
    struct name_probe np = {name, 0};

    *out = NULL;
    config_names(cfg, "profile", probe_cb, &np);
    b = builtin_find(name);
    if (b == NULL && np.found) {
        v = pget(cfg, name, "base");
        if (v == NULL)
            return cm_err_set(CM_ERR_CONFIG,
                              "profile '%s': profile.%s.base must name a built-in profile "
                              "(tls-server, tls-client, smime, smime-encrypt, subca)",
                              name, name);
        b = builtin_find(v);
        if (b == NULL)
            return cm_err_set(CM_ERR_CONFIG, "profile '%s': base '%s' is not a built-in profile",
                              name, v);
    }
    if (b == NULL) {
        struct list_ctx l = {""};
        profile_names(cfg, list_cb, &l);
        return cm_err_set(CM_ERR_INVALID, "unknown profile '%s' (known: %s)", name, l.buf);
    }
    *out = b;
    return CM_OK;
}

/* Fills p with the built-in profile's settings. */
static cm_err profile_defaults(struct profile *p, const struct builtin *b, const char *name)
{
    cm_err rc = CM_OK;

    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->base, sizeof(p->base), "%s", b->name);
    p->days = b->days;
    p->manual = b->manual;
    p->ku_set = b->ku != 0;
    p->key_usage = b->ku;
    p->eku = b->eku ? strdup(b->eku) : NULL;
    CM_NOMEM_IF(b->eku && p->eku == NULL);
    CM_TRY(parse_keys(p, b->keys ? b->keys : "ec:p256,ec:p384,ec:p521,rsa:2048,ed25519"));
    p->archive = (enum profile_archive)b->archive;
    p->san_types = b->san_types;
    p->require_san = b->require_san;
    p->require_email = b->require_email;
    p->max_sans = 100;
    p->subject = PROFILE_SUBJECT_KEEP;
    p->is_ca = b->is_ca;
    p->pathlen = -1;
    p->description = strdup(b->description);
    CM_NOMEM_IF(p->description == NULL);
    CM_TRY(set_policies(p, b->policies));
    p->wildcards = b->wildcards;
out:
    return rc;
}

/* Configuration overrides (validated on write by config; re-checked). */
static cm_err profile_overrides(struct profile *p, const cm_config *cfg, const char *name)
{
    cm_err rc = CM_OK;
    const char *v;

    if ((v = pget(cfg, name, "days")) != NULL) {
        long long d;
        CM_TRY(text_parse_int(&d, v, 1, 36500, "profile days"));
        p->days = (int)d;
    }
    if ((v = pget(cfg, name, "approval")) != NULL)
        p->manual = strcmp(v, "manual") == 0;
    if ((v = pget(cfg, name, "key_usage")) != NULL) {
        CM_TRY(parse_ku(&p->key_usage, v));
        p->ku_set = 1;
    }
    if ((v = pget(cfg, name, "ext_key_usage")) != NULL) {
        free(p->eku);
        p->eku = v[0] ? strdup(v) : NULL;
        CM_NOMEM_IF(v[0] && p->eku == NULL);
    }
    if ((v = pget(cfg, name, "keys")) != NULL)
        CM_TRY(parse_keys(p, v));
    if ((v = pget(cfg, name, "san_types")) != NULL)
        CM_TRY(parse_sans(&p->san_types, v));
    if ((v = pget(cfg, name, "require_san")) != NULL)
        p->require_san = strcmp(v, "yes") == 0;
    if ((v = pget(cfg, name, "require_email")) != NULL)
        p->require_email = strcmp(v, "yes") == 0;
    if ((v = pget(cfg, name, "max_sans")) != NULL) {
        long long m;
        CM_TRY(text_parse_int(&m, v, 0, 1000, "profile max_sans"));
        p->max_sans = (int)m;
    }
    if ((v = pget(cfg, name, "archive_key")) != NULL)
        p->archive = strcmp(v, "required") == 0   ? PROFILE_ARCHIVE_REQUIRED
                     : strcmp(v, "optional") == 0 ? PROFILE_ARCHIVE_OPTIONAL
                                                  : PROFILE_ARCHIVE_NO;
    if ((v = pget(cfg, name, "subject_policy")) != NULL)
        p->subject = strcmp(v, "cn-only") == 0 ? PROFILE_SUBJECT_CN_ONLY
                     : strcmp(v, "empty") == 0 ? PROFILE_SUBJECT_EMPTY
                                               : PROFILE_SUBJECT_KEEP;
    if ((v = pget(cfg, name, "ca")) != NULL)
        p->is_ca = strcmp(v, "yes") == 0;
    if ((v = pget(cfg, name, "pathlen")) != NULL) {
        long long pl;
        CM_TRY(text_parse_int(&pl, v, -1, 16, "profile pathlen"));
        p->pathlen = (int)pl;
    }
    if ((v = pget(cfg, name, "policies")) != NULL)
        CM_TRY(set_policies(p, v));
    if ((v = pget(cfg, name, "wildcards")) != NULL)
        p->wildcards = strcmp(v, "yes") == 0;
    if ((v = pget(cfg, name, "description")) != NULL) {
        free(p->description);
        p->description = strdup(v);
        CM_NOMEM_IF(p->description == NULL);
    }
out:
    return rc;
}

cm_err profile_load(struct profile **out, const cm_config *cfg, const char *name)
{
    cm_err rc = CM_OK;
    struct profile *p = NULL;
    const struct builtin *b;

    *out = NULL;
    if (strlen(name) >= sizeof(p->name))
        return cm_err_set(CM_ERR_INVALID, "profile name '%s' too long", name);
    rc = profile_builtin(&b, cfg, name);
    if (rc != CM_OK)
        return rc;
    p = calloc(1, sizeof(*p));
    CM_NOMEM_IF(p == NULL);
    CM_TRY(profile_defaults(p, b, name));
    CM_TRY(profile_overrides(p, cfg, name));
    if (p->is_ca && !p->ku_set) {
        p->key_usage = KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE;
        p->ku_set = 1;
    }
    /* A signing key is never archived (issue 12): refused when the
     * configuration is changed (ca_config_set loads the profile) and here. */
    if (p->archive != PROFILE_ARCHIVE_NO && !profile_encryption_only(p))
        CM_FAIL(CM_ERR_CONFIG,
                "profile '%s': archive_key needs an encryption-only profile (key_usage "
                "keyEncipherment or keyAgreement, without digitalSignature or nonRepudiation): "
                "a signing key is never archived",
                name);
    *out = p;
    p = NULL;
out:
    profile_free(p);
    return rc;
}

int profile_encryption_only(const struct profile *p)
{
    return p->ku_set && !p->is_ca && (p->key_usage & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)) &&
           !(p->key_usage & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_CERT_SIGN));
}

void profile_free(struct profile *p)
{
    if (p == NULL)
        return;
    free(p->eku);
    free(p->description);
    free(p->policies);
    free(p);
}

cm_err profile_check_key(const struct profile *p, const EVP_PKEY *k)
{
    struct key_spec s;
    char a[32];
    key_spec_of(&s, k);
    for (size_t i = 0; i < p->nkeys; i++) {
        if (p->keys[i].kind != s.kind)
            continue;
        if (s.kind == KEY_RSA && s.bits < p->keys[i].bits)
            continue;
        return CM_OK;
    }
    return cm_err_set(CM_ERR_POLICY, "profile %s does not allow %s keys", p->name,
                      key_spec_name(&s, a, sizeof(a)));
}

unsigned profile_key_usage(const struct profile *p, const EVP_PKEY *k)
{
    struct key_spec s;
    if (p->ku_set)
        return p->key_usage;
    key_spec_of(&s, k);
    switch (s.kind) {
    case KEY_RSA:
        return KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
    case KEY_EC_P256:
    case KEY_EC_P384:
    case KEY_EC_P521:
        /* S/MIME encryption to EC keys is key agreement (RFC 5753). */
        return strcmp(p->base, "smime") == 0 ? KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT
                                             : KU_DIGITAL_SIGNATURE;
    default:
        return KU_DIGITAL_SIGNATURE;
    }
}
