/* Pure helpers of the directory layer: URI checks, filter escaping, the
 * certificate's e-mail address, X.509 names as LDAP DNs and DN comparison.
 * Nothing here talks to a server. */
#include "ldap/dir.h"

#include "util/buf.h"
#include "util/text.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef CM_HAVE_LDAP
#include "util/dl_ldap.h"
#endif

/* Longest DN or filter value we build: far above any real entry name. */
#define DN_MAX (64 * 1024)

/* Attribute types of DNs: the LDAP names servers know (RFC 4519, RFC 4524,
 * PKCS #9 for email) and their OIDs. The first name is the one we write. */
static const struct {
    const char *oid;
    const char *names[4];
} dn_types[] = {
    {"2.5.4.3", {"cn", "commonName", NULL}},
    {"2.5.4.4", {"sn", "surname", NULL}},
    {"2.5.4.5", {"serialNumber", NULL}},
    {"2.5.4.6", {"c", "countryName", NULL}},
    {"2.5.4.7", {"l", "localityName", NULL}},
    {"2.5.4.8", {"st", "stateOrProvinceName", NULL}},
    {"2.5.4.9", {"street", "streetAddress", NULL}},
    {"2.5.4.10", {"o", "organizationName", NULL}},
    {"2.5.4.11", {"ou", "organizationalUnitName", NULL}},
    {"2.5.4.12", {"title", NULL}},
    {"2.5.4.13", {"description", NULL}},
    {"2.5.4.15", {"businessCategory", NULL}},
    {"2.5.4.17", {"postalCode", NULL}},
    {"2.5.4.41", {"name", NULL}},
    {"2.5.4.42", {"givenName", "gn", NULL}},
    {"2.5.4.43", {"initials", NULL}},
    {"2.5.4.44", {"generationQualifier", NULL}},
    {"2.5.4.46", {"dnQualifier", NULL}},
    {"2.5.4.65", {"pseudonym", NULL}},
    {"0.9.2342.19200300.100.1.1", {"uid", "userid", NULL}},
    {"0.9.2342.19200300.100.1.3", {"mail", "rfc822Mailbox", NULL}},
    {"0.9.2342.19200300.100.1.25", {"dc", "domainComponent", NULL}},
    {"1.2.840.113549.1.9.1", {"email", "emailAddress", "pkcs9email", NULL}},
};
#define N_DN_TYPES (sizeof(dn_types) / sizeof(dn_types[0]))

/* Index in dn_types of a type given by name or OID (len bytes), or -1. */
static int dn_type_find(const char *t, size_t len)
{
    /* RFC 4512 1.4 allows OIDs written as "OID.2.5.4.3" in older texts. */
    if (len > 4 && strncasecmp(t, "oid.", 4) == 0) {
        t += 4;
        len -= 4;
    }
    for (size_t i = 0; i < N_DN_TYPES; i++) {
        if (strlen(dn_types[i].oid) == len && memcmp(dn_types[i].oid, t, len) == 0)
            return (int)i;
        for (size_t j = 0; dn_types[i].names[j]; j++)
            if (strlen(dn_types[i].names[j]) == len &&
                strncasecmp(dn_types[i].names[j], t, len) == 0)
                return (int)i;
    }
    return -1;
}

cm_err dir_filter_escape(char **out, const char *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(DN_MAX);

    *out = NULL;
    CM_TRY(buf_reserve(&b, len + 1));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        /* RFC 4515 3: '*', '(', ')', '\' and NUL must be escaped; other
         * octets may be. Escaping everything that is not printable ASCII
         * keeps the filter readable in logs and safe in any server. */
        if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c > 0x7e) {
            char e[3] = {'\\', hex[c >> 4], hex[c & 15]};
            CM_TRY(buf_append(&b, e, 3));
        } else {
            CM_TRY(buf_append(&b, &in[i], 1));
        }
    }
    CM_TRY(buf_append(&b, "", 0)); /* an empty value still yields "" */
    *out = (char *)buf_steal(&b, NULL);
    if (*out == NULL)
        rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
out:
    if (rc != CM_OK && rc != CM_ERR_NOMEM)
        rc = cm_err_prefix(rc, "filter value");
    buf_free(&b);
    return rc;
}

/* An addr-spec we accept for the directory lookup: printable ASCII without
 * spaces, with an '@' that is neither first nor last. */
static cm_err email_check(const unsigned char *p, size_t n, const char *where)
{
    const unsigned char *at = NULL;

    if (n == 0)
        return cm_err_set(CM_ERR_INVALID, "%s: empty e-mail address", where);
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= 0x20 || p[i] > 0x7e)
            return cm_err_set(CM_ERR_INVALID,
                              "%s: e-mail address has a byte 0x%02x that is not printable ASCII",
                              where, p[i]);
        if (p[i] == '@')
            at = p + i;
    }
    if (at == NULL || at == p || at == p + n - 1)
        return cm_err_set(CM_ERR_INVALID, "%s: '%.*s' is not an e-mail address", where, (int)n,
                          (const char *)p);
    return CM_OK;
}

static cm_err dup_bytes(char **out, const unsigned char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return CM_OK;
}

cm_err dir_cert_email(char **out, X509 *cert)
{
    cm_err rc = CM_OK;
    GENERAL_NAMES *gens = NULL;
    unsigned char *utf8 = NULL;
    int crit = -1;

    *out = NULL;
    /* RFC 5280 4.2.1.6: the rfc822Name SAN is the place for the address;
     * the subject's emailAddress is the legacy fallback (4.1.2.6). */
    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL && crit == -2)
        CM_FAIL(CM_ERR_INVALID, "certificate has more than one subjectAltName extension");
    if (gens == NULL && crit >= 0)
        CM_FAIL_OSSL(CM_ERR_INVALID, "certificate's subjectAltName extension does not parse");
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_EMAIL)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(g->d.rfc822Name);
        size_t n = (size_t)ASN1_STRING_length(g->d.rfc822Name);
        CM_TRY(email_check(p, n, "subjectAltName rfc822Name"));
        CM_TRY(dup_bytes(out, p, n));
        goto out;
    }
    const X509_NAME *subj = X509_get_subject_name(cert);
    int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, -1) : -1;
    if (idx >= 0) {
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
        int n = ASN1_STRING_to_UTF8(&utf8, v);
        if (n < 0)
            CM_FAIL_OSSL(CM_ERR_INVALID, "subject emailAddress does not decode");
        CM_TRY(email_check(utf8, (size_t)n, "subject emailAddress"));
        CM_TRY(dup_bytes(out, utf8, (size_t)n));
    }
out:
    GENERAL_NAMES_free(gens);
    OPENSSL_free(utf8);
    return rc;
}

/* Appends a value escaped per RFC 4514 2.4. */
static cm_err dn_value_append(cm_buf *b, const unsigned char *v, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    cm_err rc = CM_OK;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = v[i];
        int esc_char = c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' ||
                       c == '\\' || (i == 0 && (c == '#' || c == ' ')) || (i == n - 1 && c == ' ');
        if (esc_char) {
            char e[2] = {'\\', (char)c};
            CM_TRY(buf_append(b, e, 2));
        } else if (c < 0x20 || c == 0x7f) {
            /* NUL must be escaped as \00; other controls are escaped too
             * so that the DN stays printable. UTF-8 (>= 0x80) goes as is. */
            char e[3] = {'\\', hex[c >> 4], hex[c & 15]};
            CM_TRY(buf_append(b, e, 3));
        } else {
            CM_TRY(buf_append(b, &v[i], 1));
        }
    }
out:
    return rc;
}

/* Appends one AVA "type=value". */
static cm_err dn_ava_append(cm_buf *b, const X509_NAME_ENTRY *e)
{
    cm_err rc = CM_OK;
    unsigned char *utf8 = NULL;
    char oid[128];

    if (OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1) <= 0)
        CM_FAIL_OSSL(CM_ERR_INVALID, "subject attribute type does not decode");
    int t = dn_type_find(oid, strlen(oid));
    const char *type = t >= 0 ? dn_types[t].names[0] : oid;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (len < 0)
        CM_FAIL_OSSL(CM_ERR_INVALID, "subject attribute %s does not decode as a string", type);
    CM_TRY(buf_printf(b, "%s=", type));
    CM_TRY(dn_value_append(b, utf8, (size_t)len));
out:
    OPENSSL_free(utf8);
    return rc;
}

cm_err dir_name_to_dn(char **out, const X509_NAME *name)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(DN_MAX);
    int n = X509_NAME_entry_count(name);

    *out = NULL;
    CM_TRY(buf_append(&b, "", 0));
    /* RFC 4514 2.1: the RDNSequence is written last RDN first; the AVAs
     * of a multi-valued RDN (entries sharing a set number) keep their
     * order and are joined with '+'. */
    for (int last = n - 1; last >= 0;) {
        int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, last));
        int first = last;
        while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) == set)
            first--;
        if (last != n - 1)
            CM_TRY(buf_append(&b, ",", 1));
        for (int i = first; i <= last; i++) {
            if (i != first)
                CM_TRY(buf_append(&b, "+", 1));
            CM_TRY(dn_ava_append(&b, X509_NAME_get_entry(name, i)));
        }
        last = first - 1;
    }
    *out = (char *)buf_steal(&b, NULL);
    if (*out == NULL)
        rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
out:
    buf_free(&b);
    return rc;
}

#ifdef CM_HAVE_LDAP

cm_err dir_check_uri(const char *uri)
{
    cm_err rc = CM_OK;
    LDAPURLDesc *lud = NULL;

    if (uri == NULL || *uri == '\0')
        return cm_err_set(CM_ERR_CONFIG, "no LDAP URI given");
    /* The first libldap call of dir_open (and of the checks of ldap.uri). */
    rc = dl_ldap_load("LDAP directory");
    if (rc != CM_OK)
        return rc;
    /* libldap takes a list of URIs separated by spaces or commas; we take
     * one, so that the server the operator named is the one we talk to. */
    if (strpbrk(uri, " \t,") != NULL)
        return cm_err_set(CM_ERR_CONFIG, "'%s': give exactly one LDAP URI", uri);
    int lrc = ldap_url_parse(uri, &lud);
    if (lrc != LDAP_URL_SUCCESS)
        CM_FAIL(CM_ERR_CONFIG, "'%s': not an LDAP URI (ldap://, ldaps:// or ldapi://)", uri);
    if (strcasecmp(lud->lud_scheme, "ldap") != 0 && strcasecmp(lud->lud_scheme, "ldaps") != 0 &&
        strcasecmp(lud->lud_scheme, "ldapi") != 0)
        CM_FAIL(CM_ERR_CONFIG, "'%s': scheme must be ldap, ldaps or ldapi", uri);
    if (strcasecmp(lud->lud_scheme, "ldapi") != 0 &&
        (lud->lud_host == NULL || *lud->lud_host == '\0'))
        CM_FAIL(CM_ERR_CONFIG, "'%s': no host", uri);
    if ((lud->lud_dn && *lud->lud_dn) || lud->lud_attrs || lud->lud_filter || lud->lud_exts)
        CM_FAIL(CM_ERR_CONFIG, "'%s': give only scheme, host and port (the base is ldap.base)",
                uri);
out:
    ldap_free_urldesc(lud);
    return rc;
}

/* A value normalized for comparison (RFC 4518 2.6.1 insignificant space
 * handling, ASCII case folded): written into out (at least n + 1 bytes). */
static size_t value_norm(char *out, const char *v, size_t n)
{
    size_t o = 0;
    int space = 0;

    while (n > 0 && v[0] == ' ') {
        v++;
        n--;
    }
    while (n > 0 && v[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == ' ') {
            space = 1;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = 0;
        out[o++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out[o] = '\0';
    return o;
}

static int ava_equal(const LDAPAVA *a, const LDAPAVA *b)
{
    int ta = dn_type_find(a->la_attr.bv_val, a->la_attr.bv_len);
    int tb = dn_type_find(b->la_attr.bv_val, b->la_attr.bv_len);

    if (ta >= 0 || tb >= 0) {
        if (ta != tb)
            return 0;
    } else if (a->la_attr.bv_len != b->la_attr.bv_len ||
               strncasecmp(a->la_attr.bv_val, b->la_attr.bv_val, a->la_attr.bv_len) != 0) {
        return 0;
    }
    /* A #hex (BER) value is compared byte for byte, and never equals a
     * string value: decoding BER here is not worth the risk. */
    int bin_a = (a->la_flags & LDAP_AVA_BINARY) != 0, bin_b = (b->la_flags & LDAP_AVA_BINARY) != 0;
    if (bin_a || bin_b)
        return bin_a == bin_b && a->la_value.bv_len == b->la_value.bv_len &&
               memcmp(a->la_value.bv_val, b->la_value.bv_val, a->la_value.bv_len) == 0;
    char *na = malloc(a->la_value.bv_len + 1), *nb = malloc(b->la_value.bv_len + 1);
    int eq = 0;
    if (na && nb) {
        size_t la = value_norm(na, a->la_value.bv_val, a->la_value.bv_len);
        size_t lb = value_norm(nb, b->la_value.bv_val, b->la_value.bv_len);
        eq = la == lb && memcmp(na, nb, la) == 0;
    }
    free(na);
    free(nb);
    return eq;
}

static size_t rdn_count(LDAPRDN r)
{
    size_t n = 0;
    while (r && r[n])
        n++;
    return n;
}

/* RDNs are sets of AVAs (X.501 9.3): order does not matter. */
static int rdn_equal(LDAPRDN a, LDAPRDN b)
{
    size_t na = rdn_count(a), nb = rdn_count(b);
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        int found = 0;
        for (size_t j = 0; j < nb && !found; j++)
            found = ava_equal(a[i], b[j]);
        if (!found)
            return 0;
    }
    return 1;
}

static cm_err dn_parse(LDAPDN *out, size_t *n, const char *s)
{
    *out = NULL;
    *n = 0;
    if (ldap_str2dn(s, out, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
        *out = NULL;
        return cm_err_set(CM_ERR_INVALID, "'%s': not a valid DN (RFC 4514)", s);
    }
    while (*out && (*out)[*n])
        (*n)++;
    return CM_OK;
}

/* Compares the last `count` RDNs of a and b. */
static int dn_tail_equal(LDAPDN a, size_t na, LDAPDN b, size_t nb, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!rdn_equal(a[na - count + i], b[nb - count + i]))
            return 0;
    return 1;
}

cm_err dir_dn_equal(int *equal, const char *a, const char *b)
{
    cm_err rc = CM_OK;
    LDAPDN da = NULL, db = NULL;
    size_t na, nb;

    *equal = 0;
    rc = dl_ldap_load("LDAP directory");
    if (rc != CM_OK)
        return rc;
    CM_TRY(dn_parse(&da, &na, a));
    CM_TRY(dn_parse(&db, &nb, b));
    *equal = na == nb && dn_tail_equal(da, na, db, nb, na);
out:
    ldap_dnfree(da);
    ldap_dnfree(db);
    return rc;
}

cm_err dir_dn_is_under(int *under, const char *dn, const char *base)
{
    cm_err rc = CM_OK;
    LDAPDN dd = NULL, db = NULL;
    size_t nd, nb;

    *under = 0;
    rc = dl_ldap_load("LDAP directory");
    if (rc != CM_OK)
        return rc;
    CM_TRY(dn_parse(&dd, &nd, dn));
    CM_TRY(dn_parse(&db, &nb, base));
    *under = nd >= nb && dn_tail_equal(dd, nd, db, nb, nb);
out:
    ldap_dnfree(dd);
    ldap_dnfree(db);
    return rc;
}

#else /* !CM_HAVE_LDAP */

cm_err dir_check_uri(const char *uri)
{
    (void)uri;
    return cm_err_set(CM_ERR_UNSUPPORTED, "built without the OpenLDAP client library");
}

cm_err dir_dn_equal(int *equal, const char *a, const char *b)
{
    (void)a;
    (void)b;
    *equal = 0;
    return cm_err_set(CM_ERR_UNSUPPORTED, "built without the OpenLDAP client library");
}

cm_err dir_dn_is_under(int *under, const char *dn, const char *base)
{
    (void)dn;
    (void)base;
    *under = 0;
    return cm_err_set(CM_ERR_UNSUPPORTED, "built without the OpenLDAP client library");
}

#endif
