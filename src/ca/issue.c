/* Issuance: profile checks, certificate construction, lint, signature, and
 * the request lifecycle (submit, pending, approve, deny, retrieve).
 *
 * The hot path avoids libcrypto's generic encoders/decoders: the public key
 * bits are copied from the request (X509_PUBKEY_set0_param), and the
 * extensions that are the same for every certificate of a profile are built
 * once and reused. Requests of a batch are committed in groups: one fsync'd
 * commit costs far more than a signature. */
#include "ca/issue_int.h"
#include "ca/ca_int.h"

#include "ca/lint.h"
#include "ca/name.h"
#include "util/der.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SERIAL_DRAW_CERTS 32

struct issue_cache {
    char profile[64];
    unsigned ku; /* keyUsage bits of ku_ext */
    X509_EXTENSION *bc, *ku_ext, *eku, *aki, *cdp, *aia, *pol;
    BASIC_CONSTRAINTS *bc_v; /* bc decoded: the first extension is encoded from it */
    const char *md;
    /* The configuration read per certificate until now (ca.backdate,
     * ca.serial_bytes): read with the extensions, for the cache's life
     * (a configuration adopted resets it, issue_cache_reset). */
    int64_t backdate;
    long long serial_bytes;
    /* What lint_cert finds the same from one certificate to the next. */
    struct lint_memo *lint;
    /* profile_key_usage of the last request key object (referenced: the
     * requests of a curve share one prepared key). */
    EVP_PKEY *ku_for;
    unsigned ku_for_bits;
    /* The last request key object (referenced) that profile_check_key
     * allowed: a pure function of the profile and the key's type, which
     * the requests of a curve share (it looks the type up under the
     * provider's locks). */
    EVP_PKEY *key_ok_for;
    /* Serial-number randomness drawn ahead, for SERIAL_DRAW_CERTS serials
     * per RAND_bytes call instead of one (each call costs this thread's DRBG
     * a lock, a fork check and a reseed test: about 3 us per certificate).
     * Each byte is used once and wiped as it is taken. */
    unsigned char rnd[SERIAL_DRAW_CERTS * 20];
    size_t rnd_left;
    /* The certificate issue_sign_reuse fills for each request (NULL until
     * the first): its version and issuer are set once. X509_set_issuer_name
     * copies a name by encoding and decoding it (13,000 instructions for
     * one CN), X509_new and X509_free cost 17,000 more per certificate. */
    X509 *x;
    /* x's extensions are those of the last request (sign_extensions made
     * them): where its keyUsage, subjectKeyIdentifier and SANs are (-1:
     * none). 0: x's extensions are to be made again. */
    int x_ready;
    int x_ku_at, x_skid_at, x_san_at;
    unsigned x_ku; /* the keyUsage bits x has (ku_ext may be newer: issue_sign) */
};

static void cache_clear(struct issue_cache *c)
{
    X509_EXTENSION_free(c->bc);
    BASIC_CONSTRAINTS_free(c->bc_v);
    X509_EXTENSION_free(c->ku_ext);
    X509_EXTENSION_free(c->eku);
    X509_EXTENSION_free(c->aki);
    X509_EXTENSION_free(c->cdp);
    X509_EXTENSION_free(c->aia);
    X509_EXTENSION_free(c->pol);
    lint_memo_free(c->lint);
    EVP_PKEY_free(c->ku_for);
    EVP_PKEY_free(c->key_ok_for);
    X509_free(c->x);
    OPENSSL_cleanse(c->rnd, sizeof(c->rnd));
    memset(c, 0, sizeof(*c));
}

void issue_cache_free(ca_ctx *ca)
{
    if (ca == NULL || ca->issue_cache == NULL)
        return;
    cache_clear(ca->issue_cache);
    free(ca->issue_cache);
    ca->issue_cache = NULL;
}

void issue_cache_reset(ca_ctx *ca)
{
    issue_cache_free(ca);
}

static cm_err conf_ext(X509_EXTENSION **out, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, NULL, NULL, NULL, NULL, 0);
    *out = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (*out == NULL)
        return cm_err_ossl(CM_ERR_CONFIG, "cannot build extension %s from '%s'", OBJ_nid2sn(nid),
                           value);
    return CM_OK;
}

static cm_err ku_ext(X509_EXTENSION **out, unsigned ku)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{KU_DIGITAL_SIGNATURE, "digitalSignature"},
                 {KU_NON_REPUDIATION, "nonRepudiation"},
                 {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
                 {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
                 {KU_KEY_AGREEMENT, "keyAgreement"},
                 {KU_KEY_CERT_SIGN, "keyCertSign"},
                 {KU_CRL_SIGN, "cRLSign"}};
    char v[256] = "critical";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (ku & names[i].bit) {
            size_t n = strlen(v);
            snprintf(v + n, sizeof(v) - n, ",%s", names[i].name);
        }
    }
    return conf_ext(out, NID_key_usage, v);
}

/* One uniformResourceIdentifier GeneralName holding url as it is: the URL
 * is never parsed by OpenSSL's configuration syntax ("URI:a,URI:b"), so a
 * comma or "URI:" inside it cannot add names. */
static GENERAL_NAME *uri_name(const char *url)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    if (g == NULL || ia5 == NULL || !ASN1_STRING_set(ia5, url, (int)strlen(url))) {
        GENERAL_NAME_free(g);
        ASN1_IA5STRING_free(ia5);
        return NULL;
    }
    GENERAL_NAME_set0_value(g, GEN_URI, ia5);
    return g;
}

/* The URL of key, explicit or made from http.base_url
 * (config_public_url), checked again (a hand-edited file skips `config
 * set`): certificates carry it as an IA5String URI (RFC 5280 4.2.1.13,
 * 4.2.2.1). NULL when there is none. */
static cm_err conf_url(const char **out, char *buf, size_t bufsz, const ca_ctx *ca, const char *key)
{
    *out = NULL;
    if (config_public_url(buf, bufsz, ca->cfg, key) != CM_OK)
        return cm_err_prefix(CM_ERR_CONFIG, "%s", key);
    if (buf[0] != '\0')
        *out = buf;
    return CM_OK;
}

/* cRLDistributionPoints with one DistributionPoint whose fullName is the one
 * URI (RFC 5280 4.2.1.13), built as ASN.1 structures. */
static cm_err cdp_ext(X509_EXTENSION **out, const char *url)
{
    cm_err rc = CM_OK;
    CRL_DIST_POINTS *cdp = sk_DIST_POINT_new_null();
    DIST_POINT *dp = DIST_POINT_new();
    GENERAL_NAME *g = uri_name(url);

    *out = NULL;
    if (cdp == NULL || dp == NULL || g == NULL)
        CM_FAIL(CM_ERR_NOMEM, "out of memory");
    dp->distpoint = DIST_POINT_NAME_new();
    CM_NOMEM_IF(dp->distpoint == NULL);
    dp->distpoint->type = 0; /* fullName */
    dp->distpoint->name.fullname = GENERAL_NAMES_new();
    CM_NOMEM_IF(dp->distpoint->name.fullname == NULL);
    CM_NOMEM_IF(!sk_GENERAL_NAME_push(dp->distpoint->name.fullname, g));
    g = NULL;
    CM_NOMEM_IF(!sk_DIST_POINT_push(cdp, dp));
    dp = NULL;
    *out = X509V3_EXT_i2d(NID_crl_distribution_points, 0, cdp);
    if (*out == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build cRLDistributionPoints");
out:
    GENERAL_NAME_free(g);
    DIST_POINT_free(dp);
    CRL_DIST_POINTS_free(cdp);
    return rc;
}

static cm_err aia_push(AUTHORITY_INFO_ACCESS *aia, int method, const char *url)
{
    cm_err rc = CM_OK;
    ACCESS_DESCRIPTION *ad = NULL;
    GENERAL_NAME *g = NULL;

    if (url == NULL)
        return CM_OK;
    ad = ACCESS_DESCRIPTION_new();
    g = uri_name(url);
    CM_NOMEM_IF(ad == NULL || g == NULL);
    ASN1_OBJECT_free(ad->method);
    ad->method = OBJ_nid2obj(method);
    GENERAL_NAME_free(ad->location);
    ad->location = g;
    g = NULL;
    CM_NOMEM_IF(!sk_ACCESS_DESCRIPTION_push(aia, ad));
    ad = NULL;
out:
    GENERAL_NAME_free(g);
    ACCESS_DESCRIPTION_free(ad);
    return rc;
}

/* authorityInfoAccess (RFC 5280 4.2.2.1): OCSP and caIssuers, one URI each,
 * built as ASN.1 structures. *out NULL when neither is configured. */
static cm_err aia_ext(X509_EXTENSION **out, const char *ocsp, const char *issuers)
{
    cm_err rc = CM_OK;
    AUTHORITY_INFO_ACCESS *aia = NULL;

    *out = NULL;
    if (ocsp == NULL && issuers == NULL)
        return CM_OK;
    aia = sk_ACCESS_DESCRIPTION_new_null();
    CM_NOMEM_IF(aia == NULL);
    CM_TRY(aia_push(aia, NID_ad_OCSP, ocsp));
    CM_TRY(aia_push(aia, NID_ad_ca_issuers, issuers));
    *out = X509V3_EXT_i2d(NID_info_access, 0, aia);
    if (*out == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build authorityInfoAccess");
out:
    AUTHORITY_INFO_ACCESS_free(aia);
    return rc;
}

/* extendedKeyUsage (RFC 5280 4.2.1.12) from the profile's normalized list of
 * names and dotted OIDs. */
static cm_err eku_ext(X509_EXTENSION **out, const char *list)
{
    cm_err rc = CM_OK;
    EXTENDED_KEY_USAGE *eku = NULL;
    ASN1_OBJECT *o = NULL;
    char **items = NULL;
    size_t n = 0;

    *out = NULL;
    CM_TRY(config_parse_list(&items, &n, list));
    if (n == 0)
        goto out;
    eku = sk_ASN1_OBJECT_new_null();
    CM_NOMEM_IF(eku == NULL);
    for (size_t i = 0; i < n; i++) {
        o = OBJ_txt2obj(items[i], 0);
        if (o == NULL)
            CM_FAIL_OSSL(CM_ERR_CONFIG, "extended key usage '%s' is not a known name or OID",
                         items[i]);
        CM_NOMEM_IF(!sk_ASN1_OBJECT_push(eku, o));
        o = NULL;
    }
    *out = X509V3_EXT_i2d(NID_ext_key_usage, 0, eku);
    if (*out == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build extendedKeyUsage");
out:
    ASN1_OBJECT_free(o);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    config_list_free(items, n);
    return rc;
}

/* certificatePolicies (RFC 5280 4.2.1.4): one PolicyInformation per OID,
 * without qualifiers, non-critical. */
static cm_err policies_ext(X509_EXTENSION **out, const char *list)
{
    cm_err rc = CM_OK;
    CERTIFICATEPOLICIES *pols = NULL;
    POLICYINFO *pi = NULL;
    char **items = NULL;
    size_t n = 0;

    *out = NULL;
    CM_TRY(config_parse_list(&items, &n, list));
    if (n == 0)
        goto out;
    pols = sk_POLICYINFO_new_null();
    CM_NOMEM_IF(pols == NULL);
    for (size_t i = 0; i < n; i++) {
        pi = POLICYINFO_new();
        CM_NOMEM_IF(pi == NULL);
        ASN1_OBJECT_free(pi->policyid);
        pi->policyid = OBJ_txt2obj(items[i], 1);
        if (pi->policyid == NULL)
            CM_FAIL_OSSL(CM_ERR_CONFIG, "policy '%s' is not a dotted OID", items[i]);
        CM_NOMEM_IF(!sk_POLICYINFO_push(pols, pi));
        pi = NULL;
    }
    *out = X509V3_EXT_i2d(NID_certificate_policies, 0, pols);
    if (*out == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build certificatePolicies");
out:
    POLICYINFO_free(pi);
    CERTIFICATEPOLICIES_free(pols);
    config_list_free(items, n);
    return rc;
}

/* Builds (once per profile) the extensions every certificate of the profile
 * shares. RFC 5280 sections: basicConstraints 4.2.1.9, extKeyUsage 4.2.1.12,
 * authorityKeyIdentifier 4.2.1.1, cRLDistributionPoints 4.2.1.13,
 * authorityInfoAccess 4.2.2.1. */
static cm_err cache_get(struct issue_cache **out, ca_ctx *ca, const struct profile *p)
{
    cm_err rc = CM_OK;
    struct issue_cache *c = ca->issue_cache;
    const char *v;
    char buf[1024], url1[2048], url2[2048], url3[2048];

    if (c != NULL && strcmp(c->profile, p->name) == 0) {
        *out = c;
        return CM_OK;
    }
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        ca->issue_cache = c;
    } else {
        cache_clear(c);
    }
    snprintf(c->profile, sizeof(c->profile), "%s", p->name);
    c->md = key_sign_md(ca->key);
    c->lint = lint_memo_new();
    if (c->lint == NULL)
        CM_FAIL(CM_ERR_NOMEM, "out of memory");
    if (config_get_seconds(ca->cfg, "ca.backdate", &c->backdate) != CM_OK)
        c->backdate = 300;
    if (config_get_int(ca->cfg, "ca.serial_bytes", &c->serial_bytes) != CM_OK)
        c->serial_bytes = 16;
    if (p->is_ca) {
        if (p->pathlen >= 0)
            snprintf(buf, sizeof(buf), "critical,CA:TRUE,pathlen:%d", p->pathlen);
        else
            snprintf(buf, sizeof(buf), "critical,CA:TRUE");
    } else {
        /* cA FALSE is the DEFAULT and is not encoded (X.690 11.5): the value
         * is an empty SEQUENCE. */
        snprintf(buf, sizeof(buf), "critical,CA:FALSE");
    }
    CM_TRY(conf_ext(&c->bc, NID_basic_constraints, buf));
    c->bc_v = X509V3_EXT_d2i(c->bc);
    if (c->bc_v == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot decode basicConstraints");
    if (p->eku != NULL && p->eku[0] != '\0')
        CM_TRY(eku_ext(&c->eku, p->eku));
    if (p->policies != NULL)
        CM_TRY(policies_ext(&c->pol, p->policies));
    {
        AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
        if (akid == NULL)
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        akid->keyid = ASN1_OCTET_STRING_new();
        if (akid->keyid == NULL || !ASN1_OCTET_STRING_set(akid->keyid, ca->ski, (int)ca->ski_len)) {
            AUTHORITY_KEYID_free(akid);
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        }
        c->aki = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid);
        AUTHORITY_KEYID_free(akid);
        if (c->aki == NULL)
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build authorityKeyIdentifier");
    }
    CM_TRY(conf_url(&v, url1, sizeof(url1), ca, "crl.cdp_url"));
    if (v != NULL)
        CM_TRY(cdp_ext(&c->cdp, v));
    {
        const char *aia = NULL, *ocsp = NULL;
        CM_TRY(conf_url(&aia, url2, sizeof(url2), ca, "ca.aia_url"));
        CM_TRY(conf_url(&ocsp, url3, sizeof(url3), ca, "ca.ocsp_url"));
        CM_TRY(aia_ext(&c->aia, ocsp, aia));
    }
    *out = c;
    return CM_OK;
out:
    cache_clear(c);
    return rc;
}

static int gen_type_allowed(const struct profile *p, int type)
{
    switch (type) {
    case GEN_DNS:
        return (p->san_types & PROFILE_SAN_DNS) != 0;
    case GEN_IPADD:
        return (p->san_types & PROFILE_SAN_IP) != 0;
    case GEN_EMAIL:
        return (p->san_types & PROFILE_SAN_EMAIL) != 0;
    case GEN_URI:
        return (p->san_types & PROFILE_SAN_URI) != 0;
    default:
        return 0;
    }
}

static const char *gen_type_name(int type)
{
    switch (type) {
    case GEN_DNS:
        return "DNS";
    case GEN_IPADD:
        return "IP";
    case GEN_EMAIL:
        return "email";
    case GEN_URI:
        return "URI";
    case GEN_DIRNAME:
        return "dirName";
    case GEN_OTHERNAME:
        return "otherName";
    default:
        return "other";
    }
}

/* Validates one requested SAN entry by type (RFC 5280 4.2.1.6). A wildcard
 * DNS name (the whole leftmost label, san_check_dns) only where the profile
 * allows it. */
static cm_err check_gen(const struct profile *p, const GENERAL_NAME *g)
{
    const ASN1_STRING *s;
    char text[512];

    if (g->type == GEN_IPADD) {
        s = g->d.iPAddress;
        if (s->length != 4 && s->length != 16)
            return cm_err_set(CM_ERR_POLICY, "SAN IP address of %d octets (4 or 16 expected)",
                              s->length);
        return CM_OK;
    }
    s = g->d.ia5;
    if (s == NULL || s->length <= 0 || (size_t)s->length >= sizeof(text) ||
        memchr(s->data, '\0', (size_t)s->length) != NULL)
        return cm_err_set(CM_ERR_POLICY, "SAN %s entry empty, too long or with a NUL byte",
                          gen_type_name(g->type));
    memcpy(text, s->data, (size_t)s->length);
    text[s->length] = '\0';
    switch (g->type) {
    case GEN_DNS:
        if (san_check_dns(text) != CM_OK)
            return cm_err_prefix(CM_ERR_POLICY, "SAN DNS");
        if (text[0] == '*' && !p->wildcards)
            return cm_err_set(CM_ERR_POLICY,
                              "SAN DNS '%s': profile %s does not allow wildcard names "
                              "(profile.%s.wildcards)",
                              text, p->name, p->name);
        return CM_OK;
    case GEN_EMAIL:
        return san_check_email(text) == CM_OK ? CM_OK : cm_err_prefix(CM_ERR_POLICY, "SAN email");
    case GEN_URI:
        return san_check_uri(text) == CM_OK ? CM_OK : cm_err_prefix(CM_ERR_POLICY, "SAN URI");
    default:
        return cm_err_set(CM_ERR_POLICY, "SAN type %s not allowed", gen_type_name(g->type));
    }
}

static int gens_have(const GENERAL_NAMES *gens, int type, const char *value)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_STRING *s;
        if (g->type != type)
            continue;
        s = g->d.ia5;
        if (value == NULL)
            return 1;
        if ((size_t)s->length == strlen(value) &&
            strncasecmp((const char *)s->data, value, (size_t)s->length) == 0)
            return 1;
    }
    return 0;
}

/* First value of attribute nid in name as UTF-8 (malloc'ed), or NULL. */
static char *name_attr(const X509_NAME *n, int nid)
{
    int i = X509_NAME_get_index_by_NID(n, nid, -1);
    const ASN1_STRING *v;
    unsigned char *u = NULL;
    char *r;
    int len;
    if (i < 0)
        return NULL;
    v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    if (name_value_ascii(v))
        return strndup((const char *)v->data, (size_t)v->length);
    len = ASN1_STRING_to_UTF8(&u, v);
    if (len < 0)
        return NULL;
    r = strndup((const char *)u, (size_t)len);
    OPENSSL_free(u);
    return r;
}

/* The request's SubjectAltNames (NULL for none), checked against the
 * profile: how many, which types, each name's syntax. */
static cm_err check_sans(GENERAL_NAMES **gens_out, const struct profile *p, const struct csr *c)
{
    cm_err rc = CM_OK;
    GENERAL_NAMES *gens = NULL;
    int crit = 0, i, n;

    *gens_out = NULL;
    /* Only the SAN is taken from the request; every other extension is the
     * profile's decision. */
    if (c->exts != NULL) {
        gens = X509V3_get_d2i(c->exts, NID_subject_alt_name, &crit, NULL);
        if (gens == NULL && crit != -1)
            CM_FAIL(CM_ERR_POLICY, "the request's subjectAltName is malformed or repeated");
    }
    n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    if (gens != NULL && n == 0)
        CM_FAIL(CM_ERR_POLICY, "the request's subjectAltName is empty");
    if (n > p->max_sans)
        CM_FAIL(CM_ERR_POLICY, "%d SANs requested, profile %s allows at most %d", n, p->name,
                p->max_sans);
    for (i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (!gen_type_allowed(p, g->type))
            CM_FAIL(CM_ERR_POLICY, "profile %s does not allow %s SANs", p->name,
                    gen_type_name(g->type));
        CM_TRY(check_gen(p, g));
    }
    *gens_out = gens;
    gens = NULL;
out:
    GENERAL_NAMES_free(gens);
    return rc;
}

/* The certificate's subject per the profile's subject policy, made from the
 * request's; no attribute may be empty. *subject_out stays NULL when the
 * policy keeps the request's subject as it is: the caller uses c->subject
 * (X509_set_subject_name copies it anyway; a copy here cost as much). */
static cm_err check_subject(X509_NAME **subject_out, const struct profile *p, const struct csr *c)
{
    cm_err rc = CM_OK;
    X509_NAME *subject = NULL;
    const X509_NAME *use;
    char *cn = NULL;
    int i;

    *subject_out = NULL;
    switch (p->subject) {
    case PROFILE_SUBJECT_EMPTY:
        subject = X509_NAME_new();
        CM_NOMEM_IF(subject == NULL);
        break;
    case PROFILE_SUBJECT_CN_ONLY:
        subject = X509_NAME_new();
        CM_NOMEM_IF(subject == NULL);
        cn = name_attr(c->subject, NID_commonName);
        if (cn != NULL && !X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                                      (unsigned char *)cn, -1, -1, 0))
            CM_FAIL_OSSL(CM_ERR_POLICY, "bad commonName");
        break;
    default:
        break;
    }
    use = subject != NULL ? subject : c->subject;
    for (i = 0; i < X509_NAME_entry_count(use); i++) {
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(use, i));
        if (v == NULL || v->length == 0)
            CM_FAIL(CM_ERR_POLICY, "the request's subject has an empty attribute");
    }
    *subject_out = subject;
    subject = NULL;
out:
    free(cn);
    X509_NAME_free(subject);
    return rc;
}

/* S/MIME: the address goes in an rfc822Name SAN (RFC 8550 3); take it
 * from the subject's emailAddress when the request has no SAN for it.
 * *gens may be NULL on entry and is made then. */
static cm_err check_email_san(GENERAL_NAMES **gens, const struct profile *p,
                              const X509_NAME *subject)
{
    cm_err rc = CM_OK;
    char *email = NULL;

    if (p->require_email && !gens_have(*gens, GEN_EMAIL, NULL)) {
        GENERAL_NAME *g = NULL;
        ASN1_IA5STRING *ia5 = NULL;
        email = name_attr(subject, NID_pkcs9_emailAddress);
        if (email == NULL)
            CM_FAIL(CM_ERR_POLICY, "profile %s requires an e-mail address (rfc822Name SAN)",
                    p->name);
        if (san_check_email(email) != CM_OK)
            CM_FAIL(CM_ERR_POLICY, "subject emailAddress '%s' is not a valid address", email);
        if (*gens == NULL) {
            *gens = GENERAL_NAMES_new();
            CM_NOMEM_IF(*gens == NULL);
        }
        g = GENERAL_NAME_new();
        ia5 = ASN1_IA5STRING_new();
        if (g == NULL || ia5 == NULL || !ASN1_STRING_set(ia5, email, -1)) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(ia5);
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        }
        GENERAL_NAME_set0_value(g, GEN_EMAIL, ia5);
        if (!sk_GENERAL_NAME_push(*gens, g)) {
            GENERAL_NAME_free(g);
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        }
    }
out:
    free(email);
    return rc;
}

/* CA/B BR 7.1.4.3: a TLS server certificate's commonName, if present,
 * must be one of its SANs. */
static cm_err check_cn_in_sans(const struct profile *p, const X509_NAME *subject,
                               const GENERAL_NAMES *gens)
{
    cm_err rc = CM_OK;
    char *cn = NULL;
    int i;

    cn = name_attr(subject, NID_commonName);
    if (cn != NULL && (p->san_types & (PROFILE_SAN_DNS | PROFILE_SAN_IP)) &&
        strcmp(p->base, "tls-server") == 0 && !gens_have(gens, GEN_DNS, cn)) {
        int ip_match = 0;
        unsigned char ipbuf[16];
        int iplen = inet_pton(AF_INET, cn, ipbuf) == 1    ? 4
                    : inet_pton(AF_INET6, cn, ipbuf) == 1 ? 16
                                                          : 0;
        for (i = 0; iplen > 0 && i < sk_GENERAL_NAME_num(gens); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type == GEN_IPADD && g->d.iPAddress->length == iplen &&
                memcmp(g->d.iPAddress->data, ipbuf, (size_t)iplen) == 0)
                ip_match = 1;
        }
        if (!ip_match)
            CM_FAIL(CM_ERR_POLICY, "commonName '%s' is not among the SANs (CA/B BR 7.1.4.3)", cn);
    }
out:
    free(cn);
    return rc;
}

/* The profile checks on a request: key, subject and SANs. *gens_out gets the
 * SubjectAltNames for the certificate (NULL for none), *subject_out its
 * subject (NULL: the request's, check_subject). */
static cm_err check_request(GENERAL_NAMES **gens_out, X509_NAME **subject_out,
                            struct issue_cache *cache, const struct profile *p, const struct csr *c)
{
    cm_err rc = CM_OK;
    GENERAL_NAMES *gens = NULL;
    X509_NAME *subject = NULL;
    const X509_NAME *subj;

    *gens_out = NULL;
    *subject_out = NULL;
    if (cache == NULL || c->kind == NULL || c->kind != cache->key_ok_for) {
        CM_TRY(profile_check_key(p, c->kind));
        if (cache != NULL && c->kind != NULL && EVP_PKEY_up_ref((EVP_PKEY *)c->kind)) {
            EVP_PKEY_free(cache->key_ok_for);
            cache->key_ok_for = (EVP_PKEY *)c->kind;
        }
    }
    /* The request's subject as submitted, whatever the profile keeps of it:
     * it is stored, shown and mailed too (RFC 5280 4.1.2.6, Appendix A). */
    if (name_check(c->subject, "the request's subject") != CM_OK) {
        rc = cm_err_prefix(CM_ERR_POLICY, "name lint");
        goto out;
    }
    CM_TRY(check_sans(&gens, p, c));
    CM_TRY(check_subject(&subject, p, c));
    subj = subject != NULL ? subject : c->subject;
    CM_TRY(check_email_san(&gens, p, subj));
    if (p->require_san && (gens == NULL || sk_GENERAL_NAME_num(gens) == 0))
        CM_FAIL(CM_ERR_POLICY, "profile %s requires a subjectAltName", p->name);
    if (X509_NAME_entry_count(subj) == 0 && (gens == NULL || sk_GENERAL_NAME_num(gens) == 0))
        CM_FAIL(CM_ERR_POLICY, "the request has neither a subject nor a subjectAltName");
    CM_TRY(check_cn_in_sans(p, subj, gens));
    *gens_out = gens;
    gens = NULL;
    *subject_out = subject;
    subject = NULL;
out:
    GENERAL_NAMES_free(gens);
    X509_NAME_free(subject);
    return rc;
}

static cm_err add_ext_dup(X509 *x, X509_EXTENSION *e)
{
    if (e != NULL && !X509_add_ext(x, e, -1))
        return cm_err_ossl(CM_ERR_NOMEM, "cannot add extension");
    return CM_OK;
}

/* Appends a copy of the cached extension e made from its parts (type,
 * criticality, octets): the same DER. X509_add_ext's own copy
 * (X509_EXTENSION_dup) encodes and decodes it again, five times what
 * this costs. The first extension goes through X509_add_ext, which makes
 * the certificate's list and marks its encoding changed; the list is then
 * x's own (X509_get0_extensions), which takes the copy. */
static cm_err add_ext_copy(X509 *x, X509_EXTENSION *e)
{
    STACK_OF(X509_EXTENSION) * sk;
    X509_EXTENSION *copy;

    if (e == NULL)
        return CM_OK;
    sk = (STACK_OF(X509_EXTENSION) *)X509_get0_extensions(x);
    if (sk == NULL || sk_X509_EXTENSION_num(sk) == 0)
        return add_ext_dup(x, e);
    copy = X509_EXTENSION_create_by_OBJ(NULL, X509_EXTENSION_get_object(e),
                                        X509_EXTENSION_get_critical(e), X509_EXTENSION_get_data(e));
    if (copy == NULL || !sk_X509_EXTENSION_push(sk, copy)) {
        X509_EXTENSION_free(copy);
        return cm_err_ossl(CM_ERR_NOMEM, "cannot add extension");
    }
    return CM_OK;
}

cm_err issue_check(ca_ctx *ca, const struct profile *p, const struct csr *c)
{
    GENERAL_NAMES *gens = NULL;
    X509_NAME *subject = NULL;
    cm_err rc;

    (void)ca;
    rc = check_request(&gens, &subject, NULL, p, c);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(subject);
    return rc;
}

/* t = when, UTCTime through 2049 and GeneralizedTime after (RFC 5280
 * 4.1.2.5), as ASN1_TIME_set() chooses: written by der_put_time, which
 * needs no gmtime() and no formatting (ASN1_TIME_set cost 3,300
 * instructions a time). */
static cm_err time_set(ASN1_TIME *t, int64_t when)
{
    unsigned char buf[DER_TIME_MAX];
    size_t n = der_put_time(buf, when);

    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "a validity outside the years 1950..9999");
    /* A Time's header is two octets: its content is 13 or 15. */
    if (!ASN1_STRING_set(t, buf + 2, (int)(n - 2)))
        return cm_err_ossl(CM_ERR_NOMEM, "cannot set the validity");
    t->type = buf[0] == DER_UTCTIME ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME;
    return CM_OK;
}

/* Validity: backdated a little for clock skew; never beyond the CA's own
 * notAfter (RFC 5280 6.1: a chain is only valid while every certificate is). */
static cm_err sign_validity(X509 *x, ca_ctx *ca, const struct profile *p, int64_t now,
                            int64_t backdate)
{
    cm_err rc = CM_OK;
    int64_t nb, na, ca_na;

    nb = now - backdate;
    na = now + (int64_t)p->days * 86400;
    if (ca_time_of(&ca_na, X509_get0_notAfter(ca->cert)) != CM_OK)
        CM_FAIL(CM_ERR_INVALID, "CA certificate has a bad notAfter");
    if (na > ca_na)
        na = ca_na;
    if (na <= now)
        CM_FAIL(CM_ERR_STATE, "the CA certificate has expired or expires now");
    CM_TRY(time_set(X509_getm_notBefore(x), nb));
    CM_TRY(time_set(X509_getm_notAfter(x), na));
out:
    return rc;
}

/* The subject public key: copy the algorithm and the key bits from the
 * request instead of re-encoding an EVP_PKEY. */
static cm_err sign_pubkey(X509 *x, const struct csr *c)
{
    cm_err rc = CM_OK;
    ASN1_OBJECT *alg_oid = NULL;
    unsigned char *key_bits = NULL;
    int ptype = V_ASN1_UNDEF;
    const void *pval = NULL;
    void *pval_dup = NULL;
    const ASN1_OBJECT *o;

    X509_ALGOR_get0(&o, &ptype, &pval, c->spki_alg);
    alg_oid = OBJ_dup(o);
    CM_NOMEM_IF(alg_oid == NULL);
    if (ptype == V_ASN1_OBJECT) {
        pval_dup = OBJ_dup(pval);
        CM_NOMEM_IF(pval_dup == NULL);
    } else if (ptype == V_ASN1_SEQUENCE) {
        pval_dup = ASN1_STRING_dup(pval);
        CM_NOMEM_IF(pval_dup == NULL);
    } else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
        CM_FAIL(CM_ERR_POLICY, "unsupported public key parameters");
    }
    key_bits = OPENSSL_memdup(c->spki_bits, (size_t)c->spki_bits_len);
    CM_NOMEM_IF(key_bits == NULL);
    if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), alg_oid, ptype, pval_dup, key_bits,
                                c->spki_bits_len))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot set the public key");
    alg_oid = NULL;
    pval_dup = NULL;
    key_bits = NULL;
out:
    ASN1_OBJECT_free(alg_oid);
    if (ptype == V_ASN1_OBJECT)
        ASN1_OBJECT_free(pval_dup);
    else
        ASN1_STRING_free(pval_dup);
    OPENSSL_free(key_bits);
    return rc;
}

/* profile_key_usage (its key type lookups take the provider's locks),
 * once per request key object. */
static unsigned cache_key_usage(struct issue_cache *cache, const struct profile *p,
                                const EVP_PKEY *k)
{
    unsigned bits;

    if (k != NULL && k == cache->ku_for)
        return cache->ku_for_bits;
    bits = profile_key_usage(p, k);
    if (k != NULL && EVP_PKEY_up_ref((EVP_PKEY *)k)) {
        EVP_PKEY_free(cache->ku_for);
        cache->ku_for = (EVP_PKEY *)k;
        cache->ku_for_bits = bits;
    }
    return bits;
}

/* The cache's keyUsage extension for the request's key type, made again
 * when the type changes its bits. */
static cm_err cache_ku_ext(struct issue_cache *cache, const struct profile *p, const struct csr *c)
{
    X509_EXTENSION *ku = NULL;
    unsigned kubits = cache_key_usage(cache, p, c->kind);
    cm_err rc;

    if (cache->ku_ext != NULL && cache->ku == kubits)
        return CM_OK;
    rc = ku_ext(&ku, kubits);
    if (rc != CM_OK)
        return rc;
    X509_EXTENSION_free(cache->ku_ext);
    cache->ku_ext = ku;
    cache->ku = kubits;
    return CM_OK;
}

/* subjectKeyIdentifier's value, the DER of an OCTET STRING holding the
 * SHA-1 of the subjectPublicKey bits (4.2.1.2, method 1). */
static cm_err skid_value(ASN1_OCTET_STRING *out, const struct csr *c)
{
    unsigned char v[2 + SHA_DIGEST_LENGTH] = {V_ASN1_OCTET_STRING, SHA_DIGEST_LENGTH};

    if (!EVP_Digest(c->spki_bits, (size_t)c->spki_bits_len, v + 2, NULL, ca_sha1(), NULL))
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot hash the subject public key");
    if (!ASN1_OCTET_STRING_set(out, v, sizeof(v)))
        return cm_err_ossl(CM_ERR_NOMEM, "cannot set subjectKeyIdentifier");
    return CM_OK;
}

/* Extensions, RFC 5280 4.2: the profile's from the cache, keyUsage for the
 * key's type, subjectKeyIdentifier and the SANs. */
static cm_err sign_extensions(X509 *x, struct issue_cache *cache, const struct profile *p,
                              const struct csr *c, GENERAL_NAMES *gens, const X509_NAME *subject)
{
    cm_err rc = CM_OK;
    X509_EXTENSION *skid = NULL;

    /* The first extension makes the certificate's list: encoded from the
     * decoded value (X509_add_ext would encode and decode a copy). */
    if (!X509_add1_ext_i2d(x, NID_basic_constraints, cache->bc_v,
                           X509_EXTENSION_get_critical(cache->bc), X509V3_ADD_APPEND))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot add basicConstraints");
    CM_TRY(cache_ku_ext(cache, p, c));
    CM_TRY(add_ext_copy(x, cache->ku_ext));
    CM_TRY(add_ext_copy(x, cache->eku));
    skid = X509_EXTENSION_new();
    CM_NOMEM_IF(skid == NULL ||
                !X509_EXTENSION_set_object(skid, OBJ_nid2obj(NID_subject_key_identifier)) ||
                !X509_EXTENSION_set_critical(skid, 0));
    CM_TRY(skid_value(X509_EXTENSION_get_data(skid), c));
    CM_NOMEM_IF(!sk_X509_EXTENSION_push((STACK_OF(X509_EXTENSION) *)X509_get0_extensions(x), skid));
    skid = NULL;
    CM_TRY(add_ext_copy(x, cache->aki));
    if (gens != NULL && sk_GENERAL_NAME_num(gens) > 0) {
        /* Critical exactly when the subject is empty (4.2.1.6). */
        int crit = X509_NAME_entry_count(subject) == 0;
        if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, crit, X509V3_ADD_DEFAULT))
            CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot add subjectAltName");
    }
    CM_TRY(add_ext_copy(x, cache->cdp));
    CM_TRY(add_ext_copy(x, cache->aia));
    CM_TRY(add_ext_copy(x, cache->pol));
out:
    X509_EXTENSION_free(skid);
    return rc;
}

/* The SANs of the cache's certificate for this request (sign_extensions'
 * rule): set in place, added after authorityKeyIdentifier or removed. */
static cm_err san_update(STACK_OF(X509_EXTENSION) * sk, struct issue_cache *cache,
                         GENERAL_NAMES *gens, const X509_NAME *subject)
{
    cm_err rc = CM_OK;
    X509_EXTENSION *e = NULL;
    unsigned char *der = NULL;
    int len, crit = X509_NAME_entry_count(subject) == 0;

    if (gens == NULL || sk_GENERAL_NAME_num(gens) == 0) {
        if (cache->x_san_at >= 0)
            X509_EXTENSION_free(sk_X509_EXTENSION_delete(sk, cache->x_san_at));
        cache->x_san_at = -1;
        return CM_OK;
    }
    if (cache->x_san_at < 0) {
        int at = cache->x_skid_at + (cache->aki != NULL ? 2 : 1);
        e = X509V3_EXT_i2d(NID_subject_alt_name, crit, gens);
        if (e == NULL)
            CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot add subjectAltName");
        CM_NOMEM_IF(!sk_X509_EXTENSION_insert(sk, e, at));
        e = NULL;
        cache->x_san_at = at;
    } else {
        /* The certificate's own extension, set in place (not e's). */
        X509_EXTENSION *have = sk_X509_EXTENSION_value(sk, cache->x_san_at);
        len = i2d_GENERAL_NAMES(gens, &der);
        if (len <= 0 || !ASN1_OCTET_STRING_set(X509_EXTENSION_get_data(have), der, len) ||
            !X509_EXTENSION_set_critical(have, crit))
            CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot set subjectAltName");
    }
out:
    OPENSSL_free(der);
    X509_EXTENSION_free(e);
    return rc;
}

/* The extensions of the cache's certificate after the last request's
 * (sign_extensions made them, cache->x_ready): the profile's stay as they
 * are; keyUsage (when the key type changes its bits), subjectKeyIdentifier
 * and the SANs are set in place. Copying the profile's extensions, and
 * freeing them, cost 9,000 instructions per certificate. */
static cm_err exts_update(X509 *x, struct issue_cache *cache, const struct profile *p,
                          const struct csr *c, GENERAL_NAMES *gens, const X509_NAME *subject)
{
    cm_err rc = CM_OK;
    STACK_OF(X509_EXTENSION) *sk = (STACK_OF(X509_EXTENSION) *)X509_get0_extensions(x);
    X509_EXTENSION *ku, *copy;

    CM_TRY(cache_ku_ext(cache, p, c));
    if (cache->ku != cache->x_ku) {
        ku = cache->ku_ext;
        copy = X509_EXTENSION_create_by_OBJ(NULL, X509_EXTENSION_get_object(ku),
                                            X509_EXTENSION_get_critical(ku),
                                            X509_EXTENSION_get_data(ku));
        if (copy == NULL)
            CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot add keyUsage");
        /* sk_set returns the new element, not the one it replaces. */
        X509_EXTENSION_free(sk_X509_EXTENSION_value(sk, cache->x_ku_at));
        (void)sk_X509_EXTENSION_set(sk, cache->x_ku_at, copy);
        cache->x_ku = cache->ku;
    }
    CM_TRY(skid_value(X509_EXTENSION_get_data(sk_X509_EXTENSION_value(sk, cache->x_skid_at)), c));
    CM_TRY(san_update(sk, cache, gens, subject));
out:
    return rc;
}

cm_err issue_sign(X509 **out, ca_ctx *ca, const struct profile *p, const struct csr *c)
{
    return issue_sign_der(out, NULL, NULL, ca, p, c);
}

/* Octets of a serial number's time prefix (cache_serial). */
#define SERIAL_TIME_OCTETS 5

/* A serial number of nbytes (9-20) for a certificate issued at `now`. Its
 * first SERIAL_TIME_OCTETS octets are the issuance second (0x40 | the top
 * 6 bits of a 38-bit second count, then 32 bits) when at least 8 octets of
 * the cache's drawn randomness still follow (nbytes >= 13; the default 16
 * keeps 88 random bits); shorter serials are randomness alone.
 *
 * Why the time: both databases index serials in order (SQLite's TEXT
 * primary key on the fixed-length hex, PostgreSQL's b-tree). Wholly random
 * serials land on any leaf of that index, so each group of a batch dirtied
 * most of its leaf pages, and the writer's page writes per certificate grew
 * with the database (5,492 WAL pages per 10,000 certificates into an empty
 * one, 10,139 at 20,000-30,000). Prefixed serials land at the index's right
 * edge. The 64 bits the CA/B BR 7.1 ask from a CSPRNG are the suffix alone:
 * the prefix adds no unpredictability and gives away nothing but the
 * issuance second, which notBefore states already. Uniqueness, across
 * nodes of one PostgreSQL too, rests on the random suffix and the primary
 * key, as before; a clock set back costs locality, not correctness. */
static cm_err cache_serial(ASN1_INTEGER **out, struct issue_cache *c, size_t nbytes, int64_t now)
{
    unsigned char buf[20];
    size_t pre = 0, nrnd;
    uint64_t t = now > 0 ? (uint64_t)now : 0;
    cm_err rc;

    if (nbytes < 9 || nbytes > sizeof(buf))
        nbytes = 16;
    if (nbytes >= SERIAL_TIME_OCTETS + 8) {
        pre = SERIAL_TIME_OCTETS;
        buf[0] = (unsigned char)(0x40 | ((t >> 32) & 0x3f));
        buf[1] = (unsigned char)(t >> 24);
        buf[2] = (unsigned char)(t >> 16);
        buf[3] = (unsigned char)(t >> 8);
        buf[4] = (unsigned char)t;
    }
    nrnd = nbytes - pre;
    if (c->rnd_left < nrnd) {
        if (RAND_bytes(c->rnd, (int)sizeof(c->rnd)) != 1)
            return cm_err_ossl(CM_ERR_CRYPTO, "no randomness for the serial number");
        c->rnd_left = sizeof(c->rnd);
    }
    c->rnd_left -= nrnd;
    memcpy(buf + pre, c->rnd + c->rnd_left, nrnd);
    OPENSSL_cleanse(c->rnd + c->rnd_left, nrnd);
    rc = ca_serial_from_random(out, buf, nbytes);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

/* A new certificate object with what every certificate of this CA has:
 * version 3 and the CA's subject as its issuer (RFC 5280 4.1.2.1, 4.1.2.4).
 * sign_into sets the rest. */
static cm_err cert_new(X509 **out, const ca_ctx *ca)
{
    X509 *x = X509_new();

    *out = NULL;
    if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca->cert))) {
        X509_free(x);
        return cm_err_ossl(CM_ERR_NOMEM, "cannot build the certificate");
    }
    *out = x;
    return CM_OK;
}

/* The cache's certificate for issue_sign_reuse, made with its version and
 * issuer on first use. The last request's extensions are removed unless
 * they are to be updated (x_ready, exts_update; the list stays, for
 * X509_add_ext to append to); every other field is overwritten by
 * sign_into. */
static cm_err cache_cert(X509 **out, struct issue_cache *cache, const ca_ctx *ca)
{
    STACK_OF(X509_EXTENSION) * sk;
    X509_EXTENSION *e;

    *out = NULL;
    if (cache->x == NULL) {
        cm_err rc = cert_new(&cache->x, ca);
        if (rc != CM_OK)
            return rc;
    }
    sk = (STACK_OF(X509_EXTENSION) *)X509_get0_extensions(cache->x);
    while (!cache->x_ready && (e = sk_X509_EXTENSION_pop(sk)) != NULL)
        X509_EXTENSION_free(e);
    *out = cache->x;
    return CM_OK;
}

/* x's extensions: updated when x is the cache's with the last request's
 * (exts_update), else made. A failure leaves the cache's to be made again. */
static cm_err sign_exts(X509 *x, struct issue_cache *cache, const struct profile *p,
                        const struct csr *c, GENERAL_NAMES *gens)
{
    const X509_NAME *subject = X509_get_subject_name(x);
    int ready = x == cache->x && cache->x_ready;
    cm_err rc = CM_OK;

    if (x == cache->x)
        cache->x_ready = 0;
    if (ready) {
        CM_TRY(exts_update(x, cache, p, c, gens, subject));
    } else {
        CM_TRY(sign_extensions(x, cache, p, c, gens, subject));
        if (x != cache->x)
            return CM_OK;
        cache->x_ku_at = X509_get_ext_by_NID(x, NID_key_usage, -1);
        cache->x_skid_at = X509_get_ext_by_NID(x, NID_subject_key_identifier, -1);
        cache->x_san_at = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
        cache->x_ku = cache->ku;
    }
    cache->x_ready = cache->x_ku_at >= 0 && cache->x_skid_at >= 0;
out:
    return rc;
}

/* Checks c and signs it into x, which has its version and issuer: every
 * other field is set here (x may be the cache's, cache_cert). */
static cm_err sign_into(X509 *x, unsigned char **der, size_t *der_len, ca_ctx *ca,
                        struct issue_cache *cache, const struct profile *p, const struct csr *c)
{
    cm_err rc = CM_OK;
    GENERAL_NAMES *gens = NULL;
    X509_NAME *subject = NULL;
    ASN1_INTEGER *serial = NULL;
    unsigned char *tbs = NULL;
    size_t tbs_len = 0;
    int64_t now = (int64_t)time(NULL);

    CM_TRY(check_request(&gens, &subject, cache, p, c));
    CM_TRY(cache_serial(&serial, cache, (size_t)cache->serial_bytes, now));
    if (!X509_set_serialNumber(x, serial) ||
        !X509_set_subject_name(x, subject != NULL ? subject : c->subject))
        CM_FAIL_OSSL(CM_ERR_NOMEM, "cannot build the certificate");
    CM_TRY(sign_validity(x, ca, p, now, cache->backdate));
    CM_TRY(sign_pubkey(x, c));
    CM_TRY(sign_exts(x, cache, p, c, gens));

    /* Nothing is signed that fails certmint's lint. The TBSCertificate is
     * encoded first: the lint reads each extension's DER from the octets
     * that are then signed (lint_opts.tbs_der) instead of encoding each
     * extension again. */
    CM_TRY(key_cert_tbs(&tbs, &tbs_len, ca->signer, x));
    {
        struct lint_opts lo = LINT_OPTS_INIT;
        lo.issuer_key = ca->key;
        lo.subject_key = c->kind;
        lo.md_name = cache->md;
        lo.kind = p->is_ca ? LINT_KIND_CA : LINT_KIND_EE;
        lo.tbs_der = tbs;
        lo.tbs_der_len = tbs_len;
        CM_TRY(lint_cert_memo(x, ca->cert, &lo, cache->lint));
    }
    CM_TRY(key_sign_tbs_der(ca->signer, x, tbs, tbs_len, der, der_len));
out:
    free(tbs);
    ASN1_INTEGER_free(serial);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(subject);
    return rc;
}

cm_err issue_sign_der(X509 **out, unsigned char **der, size_t *der_len, ca_ctx *ca,
                      const struct profile *p, const struct csr *c)
{
    cm_err rc = CM_OK;
    struct issue_cache *cache = NULL;
    X509 *x = NULL;

    *out = NULL;
    assert(ca->key != NULL && ca->cert != NULL);
    CM_TRY(cache_get(&cache, ca, p));
    CM_TRY(cert_new(&x, ca));
    CM_TRY(sign_into(x, der, der_len, ca, cache, p, c));
    *out = x;
    x = NULL;
out:
    X509_free(x);
    return rc;
}

cm_err issue_sign_reuse(X509 **out, unsigned char **der, size_t *der_len, ca_ctx *ca,
                        const struct profile *p, const struct csr *c)
{
    cm_err rc = CM_OK;
    struct issue_cache *cache = NULL;
    X509 *x = NULL;

    *out = NULL;
    assert(ca->key != NULL && ca->cert != NULL);
    CM_TRY(cache_get(&cache, ca, p));
    CM_TRY(cache_cert(&x, cache, ca));
    CM_TRY(sign_into(x, der, der_len, ca, cache, p, c));
    *out = x;
out:
    return rc;
}
