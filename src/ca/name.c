/* Distinguished names (RFC 5280 4.1.2.4/4.1.2.6, RFC 4514 strings) and
 * subject alternative names (RFC 5280 4.2.1.6). See name.h. */
#include "ca/name.h"

#include "util/buf.h"
#include "util/hex.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

/* ------------------------------------------------------------------------ */
/* Helpers */

/* Renders untrusted text for an error message: printable ASCII as is, other
 * bytes as \xNN, cut with "..." so that a message stays one short line. */
static const char *show(char *out, size_t outsz, const char *s, size_t len)
{
    size_t i, o = 0;
    assert(outsz >= 8);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= outsz) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, outsz - o, "\\x%02X", c);
            o += 4;
        }
    }
    out[o] = '\0';
    return out;
}
#define SHOW_MAX 160

static void why_set(char *why, size_t whysz, const char *fmt, ...) CM_PRINTF(3, 4);
static void why_set(char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || whysz == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
}

static char *mem_dup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int is_alpha(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Counts the characters of a UTF-8 string, or returns -1 with the reason:
 * malformed UTF-8 (overlong, surrogate, > U+10FFFF, truncated) or a control
 * character (C0, DEL, C1), which has no place in a name. */
static long utf8_count(const unsigned char *p, size_t len, char *why, size_t whysz)
{
    size_t i = 0;
    long n = 0;
    while (i < len) {
        unsigned c = p[i];
        unsigned cp, need, k;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                why_set(why, whysz, "control character 0x%02X", c);
                return -1;
            }
            i++;
            n++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            why_set(why, whysz, "invalid UTF-8 byte 0x%02X", c);
            return -1;
        }
        if (len - i - 1 < need) {
            why_set(why, whysz, "truncated UTF-8 sequence");
            return -1;
        }
        for (k = 1; k <= need; k++) {
            unsigned cc = p[i + k];
            if ((cc & 0xc0) != 0x80) {
                why_set(why, whysz, "invalid UTF-8 sequence");
                return -1;
            }
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            why_set(why, whysz, "invalid UTF-8 sequence (overlong, surrogate or out of range)");
            return -1;
        }
        if (cp >= 0x80 && cp <= 0x9f) {
            why_set(why, whysz, "control character U+%04X", cp);
            return -1;
        }
        i += need + 1;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* DNS names, IP addresses, email addresses, URIs */

/* The characters of one DNS label (RFC 1034 3.5: letters, digits, hyphen);
 * *numeric tells whether the label is all digits. Returns 0 or -1 with
 * why. */
static int dns_label_chars_why(const char *lab, size_t ll, int *numeric, char *why, size_t whysz)
{
    size_t i;

    *numeric = 1;
    for (i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)lab[i];
        if (c >= 0x80) {
            why_set(why, whysz,
                    "non-ASCII byte 0x%02X: internationalized names must be given as "
                    "A-labels (xn--..., RFC 5890)",
                    c);
            return -1;
        }
        if (c == '*') {
            why_set(why, whysz, "wildcard '*' only as the whole leftmost label");
            return -1;
        }
        if (c == '_') {
            char sh[SHOW_MAX];
            why_set(why, whysz, "underscore in label '%s' (RFC 1034 3.5, CA/B BR 7.1.4.2)",
                    show(sh, sizeof(sh), lab, ll));
            return -1;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-') {
            char sh[16];
            why_set(why, whysz, "character '%s' not allowed (letters, digits, hyphen)",
                    show(sh, sizeof(sh), (const char *)&lab[i], 1));
            return -1;
        }
        if (!is_digit(c))
            *numeric = 0;
    }
    return 0;
}

/* RFC 1034 3.5 preferred name syntax as RFC 5280 4.2.1.6 requires it for
 * dNSName, plus the wildcard form CAs issue (CA/B BR 7.1.2.7.12 / RFC 6125
 * 6.4.3: the whole leftmost label only). Returns 0 or -1 with why. */
static int dns_why(const char *s, size_t len, int allow_wild, char *why, size_t whysz)
{
    size_t start = 0, nlabels = 0;
    int wild = 0, last_numeric = 0;

    if (len == 0) {
        why_set(why, whysz, "empty");
        return -1;
    }
    if (len > 253) {
        why_set(why, whysz, "longer than 253 octets (RFC 1034 3.1)");
        return -1;
    }
    if (s[len - 1] == '.') {
        why_set(why, whysz, "trailing dot: give the name without the root label");
        return -1;
    }
    while (start <= len) {
        size_t end = start;
        const char *lab = s + start;
        size_t ll;
        while (end < len && s[end] != '.')
            end++;
        ll = end - start;
        nlabels++;
        if (ll == 0) {
            why_set(why, whysz, "empty label");
            return -1;
        }
        if (ll > 63) {
            char sh[32];
            why_set(why, whysz, "label '%s' longer than 63 octets (RFC 1034 3.1)",
                    show(sh, sizeof(sh), lab, ll));
            return -1;
        }
        if (ll == 1 && lab[0] == '*') {
            if (!allow_wild) {
                why_set(why, whysz, "wildcard not allowed here");
                return -1;
            }
            if (nlabels != 1) {
                why_set(why, whysz, "wildcard '*' only as the whole leftmost label");
                return -1;
            }
            wild = 1;
            start = end + 1;
            continue;
        }
        if (dns_label_chars_why(lab, ll, &last_numeric, why, whysz) != 0)
            return -1;
        if (lab[0] == '-' || lab[ll - 1] == '-') {
            why_set(why, whysz, "label '%.*s' starts or ends with a hyphen (RFC 1034 3.5)", (int)ll,
                    lab);
            return -1;
        }
        if (ll >= 4 && lab[2] == '-' && lab[3] == '-' && strncasecmp(lab, "xn", 2) != 0) {
            why_set(why, whysz, "label '%.*s' is a reserved LDH label (RFC 5890 2.3.1)", (int)ll,
                    lab);
            return -1;
        }
        start = end + 1;
    }
    if (nlabels < 2) {
        why_set(why, whysz, "needs at least two labels");
        return -1;
    }
    if (wild && nlabels < 3) {
        why_set(why, whysz, "wildcard needs at least two labels after it");
        return -1;
    }
    if (last_numeric) {
        why_set(why, whysz, "rightmost label is all digits (an IP address is not a DNS name)");
        return -1;
    }
    return 0;
}

cm_err san_check_dns(const char *s)
{
    char why[256], sh[SHOW_MAX];
    assert(s != NULL);
    if (dns_why(s, strlen(s), 1, why, sizeof(why)) != 0)
        return cm_err_set(CM_ERR_INVALID, "DNS name '%s': %s", show(sh, sizeof(sh), s, strlen(s)),
                          why);
    return CM_OK;
}

static int ip_parse(unsigned char out[16], size_t *outlen, const char *s, size_t len)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET, tmp, out) == 1) {
        *outlen = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, out) == 1) {
        *outlen = 16;
        return 0;
    }
    return -1;
}

cm_err san_check_ip(const char *s)
{
    unsigned char b[16];
    size_t n;
    char sh[SHOW_MAX];
    assert(s != NULL);
    if (ip_parse(b, &n, s, strlen(s)) != 0)
        return cm_err_set(CM_ERR_INVALID, "IP address '%s': not an IPv4 or IPv6 address",
                          show(sh, sizeof(sh), s, strlen(s)));
    return CM_OK;
}

/* RFC 5322 3.2.3 atext. */
static int is_atext(int c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int email_why(const char *s, char *why, size_t whysz)
{
    size_t len = strlen(s), llen, i;
    const char *at = strrchr(s, '@');
    char sub[200];

    if (len == 0) {
        why_set(why, whysz, "empty");
        return -1;
    }
    if (len > 254) {
        why_set(why, whysz, "longer than 254 octets (RFC 5321 4.5.3.1.3)");
        return -1;
    }
    if (at == NULL) {
        why_set(why, whysz, "no '@'");
        return -1;
    }
    llen = (size_t)(at - s);
    if (llen == 0) {
        why_set(why, whysz, "empty local part");
        return -1;
    }
    if (llen > 64) {
        why_set(why, whysz, "local part longer than 64 octets (RFC 5321 4.5.3.1.1)");
        return -1;
    }
    for (i = 0; i < llen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (i == 0 || i + 1 == llen || s[i - 1] == '.') {
                why_set(why, whysz, "local part: misplaced dot (dot-atom, RFC 5322 3.2.3)");
                return -1;
            }
        } else if (!is_atext(c)) {
            char sh[16];
            if (c == '@')
                why_set(why, whysz, "more than one '@'");
            else if (c == '"')
                why_set(why, whysz, "quoted local parts are not supported");
            else if (c >= 0x80)
                why_set(why, whysz, "non-ASCII local part (SmtpUTF8Mailbox is not supported)");
            else
                why_set(why, whysz, "character '%s' not allowed in the local part",
                        show(sh, sizeof(sh), (const char *)&s[i], 1));
            return -1;
        }
    }
    if (at[1] == '[') {
        why_set(why, whysz, "address literals are not supported");
        return -1;
    }
    if (dns_why(at + 1, strlen(at + 1), 0, sub, sizeof(sub)) != 0) {
        why_set(why, whysz, "domain: %s", sub);
        return -1;
    }
    return 0;
}

cm_err san_check_email(const char *s)
{
    char why[256], sh[SHOW_MAX];
    assert(s != NULL);
    if (email_why(s, why, sizeof(why)) != 0)
        return cm_err_set(CM_ERR_INVALID, "email address '%s': %s",
                          show(sh, sizeof(sh), s, strlen(s)), why);
    return CM_OK;
}

/* RFC 3986 2.2/2.3: unreserved and reserved characters (with '%' checked
 * separately). */
static int is_uric(int c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("-._~:/?#[]@!$&'()*+,;=", c) != NULL);
}

#define URI_MAX 2048

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1),
 * then "//": *a is where the authority starts. Returns 0 or -1 with why. */
static int uri_scheme_why(const char *s, size_t len, size_t *a, char *why, size_t whysz)
{
    size_t i;

    if (len == 0 || !is_alpha((unsigned char)s[0])) {
        why_set(why, whysz, "no scheme (an absolute URI is required, RFC 5280 4.2.1.6)");
        return -1;
    }
    for (i = 1; i < len && s[i] != ':'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') {
            why_set(why, whysz, "no scheme (an absolute URI is required, RFC 5280 4.2.1.6)");
            return -1;
        }
    }
    if (i == len) {
        why_set(why, whysz, "no scheme (an absolute URI is required, RFC 5280 4.2.1.6)");
        return -1;
    }
    if (strncmp(s + i + 1, "//", 2) != 0) {
        why_set(why, whysz, "no authority: certmint requires scheme://host (RFC 5280 4.2.1.6)");
        return -1;
    }
    *a = i + 3;
    return 0;
}

/* The host of the authority s[a..aend): an IPv6 literal in brackets, an
 * IPv4 address or a DNS name; *hend is where it ends (at the port's ':' or
 * aend). Returns 0 or -1 with why. */
static int uri_host_why(const char *s, size_t a, size_t aend, size_t *hend, char *why, size_t whysz)
{
    char sub[200];

    if (a < aend && s[a] == '[') {
        const char *rb = memchr(s + a, ']', aend - a);
        unsigned char b[16];
        char tmp[64];
        size_t hl;
        if (rb == NULL) {
            why_set(why, whysz, "unterminated IPv6 literal");
            return -1;
        }
        hl = (size_t)(rb - (s + a + 1));
        if (hl == 0 || hl >= sizeof(tmp)) {
            why_set(why, whysz, "bad IPv6 literal");
            return -1;
        }
        memcpy(tmp, s + a + 1, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, b) != 1) {
            why_set(why, whysz, "bad IPv6 literal");
            return -1;
        }
        *hend = (size_t)(rb - s) + 1;
        if (*hend < aend && s[*hend] != ':') {
            why_set(why, whysz, "junk after IPv6 literal");
            return -1;
        }
    } else {
        size_t hl, k;
        int numeric = 1;
        for (*hend = a; *hend < aend && s[*hend] != ':'; (*hend)++)
            ;
        hl = *hend - a;
        if (hl == 0) {
            why_set(why, whysz, "empty host (RFC 5280 4.2.1.6 requires one)");
            return -1;
        }
        for (k = a; k < *hend; k++)
            if (!is_digit((unsigned char)s[k]) && s[k] != '.')
                numeric = 0;
        if (numeric) {
            unsigned char b[16];
            char tmp[32];
            if (hl >= sizeof(tmp)) {
                why_set(why, whysz, "bad IPv4 address");
                return -1;
            }
            memcpy(tmp, s + a, hl);
            tmp[hl] = '\0';
            if (inet_pton(AF_INET, tmp, b) != 1) {
                why_set(why, whysz, "bad IPv4 address");
                return -1;
            }
        } else if (dns_why(s + a, hl, 0, sub, sizeof(sub)) != 0) {
            why_set(why, whysz, "host: %s", sub);
            return -1;
        }
    }
    return 0;
}

/* port = *DIGIT (RFC 3986 3.2.3) in s[hend + 1..aend); certmint wants
 * 1..65535. Returns 0 or -1 with why. */
static int uri_port_why(const char *s, size_t hend, size_t aend, char *why, size_t whysz)
{
    size_t k, nd = aend - hend - 1;
    long port = 0;

    if (nd == 0 || nd > 5) {
        why_set(why, whysz, "bad port");
        return -1;
    }
    for (k = hend + 1; k < aend; k++) {
        if (!is_digit((unsigned char)s[k])) {
            why_set(why, whysz, "bad port");
            return -1;
        }
        port = port * 10 + (s[k] - '0');
    }
    if (port < 1 || port > 65535) {
        why_set(why, whysz, "bad port");
        return -1;
    }
    return 0;
}

/* Path, query and fragment s[from..len): URI characters, %-escapes, at
 * most one '#'. Returns 0 or -1 with why. */
static int uri_rest_why(const char *s, size_t from, size_t len, char *why, size_t whysz)
{
    size_t i;
    int frag = 0;

    for (i = from; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || hex_digit_value((unsigned char)s[i + 1]) < 0 ||
                hex_digit_value((unsigned char)s[i + 2]) < 0) {
                why_set(why, whysz, "bad %%-escape (RFC 3986 2.1)");
                return -1;
            }
            i += 2;
            continue;
        }
        if (c == '#') {
            if (frag) {
                why_set(why, whysz, "second '#'");
                return -1;
            }
            frag = 1;
            continue;
        }
        if (c == '[' || c == ']' || !is_uric(c)) {
            char sh[16];
            why_set(why, whysz, "character '%s' not allowed (RFC 3986 2)",
                    show(sh, sizeof(sh), (const char *)&s[i], 1));
            return -1;
        }
    }
    return 0;
}

static int uri_why(const char *s, char *why, size_t whysz)
{
    size_t len = strlen(s), a, aend, hend;

    if (len > URI_MAX) {
        why_set(why, whysz, "longer than %d octets", URI_MAX);
        return -1;
    }
    if (uri_scheme_why(s, len, &a, why, whysz) != 0)
        return -1;
    for (aend = a; aend < len && s[aend] != '/' && s[aend] != '?' && s[aend] != '#'; aend++)
        ;
    if (memchr(s + a, '@', aend - a) != NULL) {
        why_set(why, whysz, "userinfo is not allowed");
        return -1;
    }
    if (uri_host_why(s, a, aend, &hend, why, whysz) != 0)
        return -1;
    if (hend < aend && uri_port_why(s, hend, aend, why, whysz) != 0)
        return -1;
    return uri_rest_why(s, aend, len, why, whysz);
}

cm_err san_check_uri(const char *s)
{
    char why[256], sh[SHOW_MAX];
    assert(s != NULL);
    if (uri_why(s, why, sizeof(why)) != 0)
        return cm_err_set(CM_ERR_INVALID, "URI '%s': %s", show(sh, sizeof(sh), s, strlen(s)), why);
    return CM_OK;
}

/* ------------------------------------------------------------------------ */
/* Distinguished names */

enum dn_kind {
    DNK_DIR,       /* DirectoryString: UTF8String (RFC 5280 4.1.2.6) */
    DNK_PRINTABLE, /* PrintableString only */
    DNK_COUNTRY,   /* ISO 3166-1 alpha-2, PrintableString */
    DNK_EMAIL,     /* PKCS#9 emailAddress, IA5String */
    DNK_IA5,       /* IA5String (domainComponent, RFC 4519 2.4) */
};

struct dn_attr {
    int nid;
    const char *alias; /* another accepted name (Windows' E=, S=), or NULL */
    unsigned ub;       /* upper bound in characters */
    enum dn_kind kind;
};

/* The attributes certmint accepts in a DN, with the upper bounds of RFC 5280
 * Appendix A.1 (ub-*), X.520 where RFC 5280 has none, and a certmint bound
 * (marked) where neither sets one. */
static const struct dn_attr dn_attrs[] = {
    {NID_commonName, NULL, 64, DNK_DIR},             /* ub-common-name */
    {NID_surname, NULL, 32768, DNK_DIR},             /* ub-name */
    {NID_serialNumber, NULL, 64, DNK_PRINTABLE},     /* ub-serial-number */
    {NID_countryName, NULL, 2, DNK_COUNTRY},         /* ub-country-name-alpha-length */
    {NID_localityName, NULL, 128, DNK_DIR},          /* ub-locality-name */
    {NID_stateOrProvinceName, "S", 128, DNK_DIR},    /* ub-state-name */
    {NID_streetAddress, NULL, 128, DNK_DIR},         /* X.520 ub-street-address */
    {NID_organizationName, NULL, 64, DNK_DIR},       /* ub-organization-name */
    {NID_organizationalUnitName, NULL, 64, DNK_DIR}, /* ub-organizational-unit-name */
    {NID_title, NULL, 64, DNK_DIR},                  /* ub-title */
    {NID_description, NULL, 1024, DNK_DIR},          /* X.520 ub-description */
    {NID_businessCategory, NULL, 128, DNK_DIR},      /* X.520 ub-business-category */
    {NID_postalCode, NULL, 40, DNK_DIR},             /* X.520 ub-postal-code */
    {NID_name, NULL, 32768, DNK_DIR},                /* ub-name */
    {NID_givenName, NULL, 32768, DNK_DIR},           /* ub-name */
    {NID_initials, NULL, 32768, DNK_DIR},            /* ub-name */
    {NID_generationQualifier, NULL, 32768, DNK_DIR}, /* ub-name */
    {NID_dnQualifier, NULL, 64, DNK_PRINTABLE},      /* certmint */
    {NID_pseudonym, NULL, 128, DNK_DIR},             /* ub-pseudonym */
    {NID_organizationIdentifier, NULL, 64, DNK_DIR}, /* certmint (as O) */
    {NID_pkcs9_emailAddress, "E", 255, DNK_EMAIL},   /* ub-emailaddress-length */
    {NID_domainComponent, NULL, 63, DNK_IA5},        /* a DNS label (RFC 1034 3.1) */
    {NID_userId, NULL, 256, DNK_DIR},                /* certmint */
    {NID_jurisdictionCountryName, NULL, 2, DNK_COUNTRY},
    {NID_jurisdictionStateOrProvinceName, NULL, 128, DNK_DIR},
    {NID_jurisdictionLocalityName, NULL, 128, DNK_DIR},
};

static int name_eq(const char *a, size_t alen, const char *b)
{
    return b != NULL && strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

/* The attribute named by type[0..len): a short or long name (any case), an
 * alias, or a numeric OID. NULL when unknown. */
static const struct dn_attr *attr_find(const char *type, size_t len)
{
    size_t i;
    int nid = NID_undef;

    if (len > 0 && is_digit((unsigned char)type[0])) {
        char oid[80];
        ASN1_OBJECT *obj = NULL;
        /* numericoid = number 1*( DOT number ) (RFC 4512 1.4) */
        for (i = 0; i < len; i++)
            if (type[i] == '.' ? (i + 1 == len || type[i + 1] == '.')
                               : !is_digit((unsigned char)type[i]))
                return NULL;
        if (len >= sizeof(oid))
            return NULL;
        memcpy(oid, type, len);
        oid[len] = '\0';
        obj = OBJ_txt2obj(oid, 1);
        if (obj == NULL) {
            ERR_clear_error();
            return NULL;
        }
        nid = OBJ_obj2nid(obj);
        ASN1_OBJECT_free(obj);
    }
    for (i = 0; i < sizeof(dn_attrs) / sizeof(dn_attrs[0]); i++) {
        const struct dn_attr *a = &dn_attrs[i];
        if (nid != NID_undef) {
            if (a->nid == nid)
                return a;
        } else if (name_eq(type, len, OBJ_nid2sn(a->nid)) ||
                   name_eq(type, len, OBJ_nid2ln(a->nid)) || name_eq(type, len, a->alias)) {
            return a;
        }
    }
    return NULL;
}

/* X.680 41.4 PrintableString characters. */
static int is_printable(int c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr(" '()+,-./:=?", c) != NULL);
}

/* Validates one attribute value; 0 or -1 with why. */
static int value_why(const struct dn_attr *a, const unsigned char *v, size_t len, char *why,
                     size_t whysz)
{
    long nch;
    size_t i;

    if (len == 0) {
        why_set(why, whysz, "empty value");
        return -1;
    }
    if (memchr(v, 0, len) != NULL) {
        why_set(why, whysz, "value contains a NUL byte");
        return -1;
    }
    nch = utf8_count(v, len, why, whysz);
    if (nch < 0)
        return -1;
    if ((unsigned long)nch > a->ub) {
        why_set(why, whysz, "%ld characters, more than the upper bound of %u (RFC 5280 Appendix A)",
                nch, a->ub);
        return -1;
    }
    switch (a->kind) {
    case DNK_DIR:
        break;
    case DNK_COUNTRY:
        if (len != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z') {
            why_set(why, whysz, "must be two upper-case letters (ISO 3166-1 alpha-2)");
            return -1;
        }
        break;
    case DNK_PRINTABLE:
        for (i = 0; i < len; i++)
            if (!is_printable(v[i])) {
                why_set(why, whysz, "character not allowed in a PrintableString");
                return -1;
            }
        break;
    case DNK_IA5:
        for (i = 0; i < len; i++)
            if (v[i] >= 0x80) {
                why_set(why, whysz, "non-ASCII character in an IA5String");
                return -1;
            }
        break;
    case DNK_EMAIL: {
        char sub[200];
        /* v holds no NUL (checked above) and is NUL-terminated by the
         * parser. */
        if (email_why((const char *)v, sub, sizeof(sub)) != 0) {
            why_set(why, whysz, "%s", sub);
            return -1;
        }
        break;
    }
    }
    return 0;
}

static int asn1_type_of(enum dn_kind k)
{
    switch (k) {
    case DNK_PRINTABLE:
    case DNK_COUNTRY:
        return V_ASN1_PRINTABLESTRING;
    case DNK_EMAIL:
    case DNK_IA5:
        return V_ASN1_IA5STRING;
    case DNK_DIR:
        break;
    }
    return V_ASN1_UTF8STRING;
}

struct ava {
    const struct dn_attr *attr;
    unsigned char *val; /* malloc'ed, NUL-terminated */
    size_t len;
    int newrdn; /* first attribute of its RDN */
};

struct dn_parse {
    const char *in;
    size_t inlen;
    struct ava avas[NAME_AVA_MAX];
    size_t n;
};

static cm_err dn_fail(const struct dn_parse *p, const char *fmt, ...) CM_PRINTF(2, 3);
static cm_err dn_fail(const struct dn_parse *p, const char *fmt, ...)
{
    char why[512], sh[SHOW_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return cm_err_set(CM_ERR_INVALID, "distinguished name '%s': %s",
                      show(sh, sizeof(sh), p->in, p->inlen), why);
}

static void dn_parse_free(struct dn_parse *p)
{
    size_t i;
    for (i = 0; i < p->n; i++)
        free(p->avas[i].val);
    p->n = 0;
}

/* Looks up the type text and appends an AVA that takes ownership of val
 * (freed on failure too). */
static cm_err dn_add(struct dn_parse *p, const char *type, size_t tlen, unsigned char *val,
                     size_t vlen, int newrdn)
{
    const struct dn_attr *a;
    char why[256], sh[64];
    size_t i;

    if (tlen == 0) {
        free(val);
        return dn_fail(p, "empty attribute type");
    }
    a = attr_find(type, tlen);
    if (a == NULL) {
        free(val);
        return dn_fail(p, "unknown attribute type '%s'", show(sh, sizeof(sh), type, tlen));
    }
    if (value_why(a, val, vlen, why, sizeof(why)) != 0) {
        free(val);
        return dn_fail(p, "%s: %s", OBJ_nid2sn(a->nid), why);
    }
    if (p->n >= NAME_AVA_MAX) {
        free(val);
        return dn_fail(p, "more than %d attributes", NAME_AVA_MAX);
    }
    /* X.501 9.3: the attributes of one RDN have distinct types. */
    if (!newrdn)
        for (i = p->n; i-- > 0;) {
            if (p->avas[i].attr == a) {
                free(val);
                return dn_fail(p, "attribute %s appears twice in one RDN", OBJ_nid2sn(a->nid));
            }
            if (p->avas[i].newrdn)
                break;
        }
    p->avas[p->n].attr = a;
    p->avas[p->n].val = val;
    p->avas[p->n].len = vlen;
    p->avas[p->n].newrdn = newrdn;
    p->n++;
    return CM_OK;
}

/* OpenSSL's -subj form: "/type=value/type=value", '\' escapes any byte. */
static cm_err dn_parse_slash(struct dn_parse *p)
{
    const char *s = p->in + 1;
    char sh[64];
    cm_err rc = CM_OK;

    if (*s == '\0')
        return dn_fail(p, "empty");
    while (*s != '\0') {
        const char *type = s;
        size_t tlen, vlen = 0;
        unsigned char *val = NULL;
        while (*s != '\0' && *s != '=' && *s != '/')
            s++;
        if (*s != '=')
            return dn_fail(p, "expected '=' after attribute type '%s'",
                           show(sh, sizeof(sh), type, (size_t)(s - type)));
        tlen = (size_t)(s - type);
        s++;
        val = malloc(strlen(s) + 1);
        if (val == NULL)
            return cm_err_set(CM_ERR_NOMEM, "out of memory");
        while (*s != '\0' && *s != '/') {
            if (*s == '\\') {
                if (s[1] == '\0') {
                    free(val);
                    return dn_fail(p, "backslash at the end");
                }
                s++;
            }
            val[vlen++] = (unsigned char)*s++;
        }
        val[vlen] = '\0';
        CM_TRY(dn_add(p, type, tlen, val, vlen, 1));
        if (*s == '/') {
            s++;
            if (*s == '\0')
                return dn_fail(p, "empty RDN after the last '/'");
        }
    }
out:
    return rc;
}

/* RFC 4514 3: "#" hexstring = the BER encoding of the value. certmint
 * accepts the string types and converts them to UTF-8. */
static cm_err dn_hexvalue(struct dn_parse *p, const char **sp, unsigned char **out, size_t *outlen)
{
    const char *s = *sp + 1;
    unsigned char *der = NULL, *utf = NULL;
    const unsigned char *q;
    ASN1_TYPE *t = NULL;
    size_t n = 0, cap = strlen(s) / 2 + 1;
    int ulen;
    cm_err rc = CM_OK;

    der = malloc(cap);
    CM_NOMEM_IF(der == NULL);
    while (hex_digit_value((unsigned char)s[0]) >= 0 && hex_digit_value((unsigned char)s[1]) >= 0) {
        der[n++] = (unsigned char)(hex_digit_value((unsigned char)s[0]) * 16 +
                                   hex_digit_value((unsigned char)s[1]));
        s += 2;
    }
    while (*s == ' ')
        s++;
    if (n == 0 || (*s != '\0' && *s != ',' && *s != '+')) {
        rc = dn_fail(p, "bad #hexstring value");
        goto out;
    }
    q = der;
    t = d2i_ASN1_TYPE(NULL, &q, (long)n);
    if (t == NULL || q != der + n) {
        ERR_clear_error();
        rc = dn_fail(p, "#hexstring value is not one DER value");
        goto out;
    }
    switch (t->type) {
    case V_ASN1_UTF8STRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_T61STRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_UNIVERSALSTRING:
        break;
    default:
        rc = dn_fail(p, "#hexstring value is not a string type");
        goto out;
    }
    ulen = ASN1_STRING_to_UTF8(&utf, t->value.asn1_string);
    if (ulen < 0) {
        ERR_clear_error();
        rc = dn_fail(p, "#hexstring value does not convert to UTF-8");
        goto out;
    }
    *out = (unsigned char *)mem_dup(utf, (size_t)ulen);
    CM_NOMEM_IF(*out == NULL);
    *outlen = (size_t)ulen;
    *sp = s;
out:
    free(der);
    OPENSSL_free(utf);
    ASN1_TYPE_free(t);
    return rc;
}

static int is_rfc4514_special(int c)
{
    return c != 0 && strchr(" \"#+,;<=>\\", c) != NULL;
}

/* RFC 4514 string form. RDNs come least significant first. */
static cm_err dn_parse_4514(struct dn_parse *p)
{
    const char *s = p->in;
    int newrdn = 1;
    char sh[64];
    cm_err rc = CM_OK;

    for (;;) {
        const char *type, *tend;
        unsigned char *val = NULL;
        size_t vlen = 0, sig = 0;

        while (*s == ' ')
            s++;
        type = s;
        while (*s != '\0' && *s != '=' && *s != ',' && *s != '+')
            s++;
        if (*s != '=')
            return dn_fail(p, "expected '=' after attribute type '%s'",
                           show(sh, sizeof(sh), type, (size_t)(s - type)));
        for (tend = s; tend > type && tend[-1] == ' '; tend--)
            ;
        s++;
        while (*s == ' ')
            s++;
        /* A lone '#' cannot start a hexstring; OpenSSL prints a value of
         * just "#" unescaped, so read it back as that value. */
        if (*s == '#' && s[1] != '\0' && s[1] != ',' && s[1] != '+') {
            CM_TRY(dn_hexvalue(p, &s, &val, &vlen));
        } else {
            val = malloc(strlen(s) + 1);
            CM_NOMEM_IF(val == NULL);
            while (*s != '\0' && *s != ',' && *s != '+') {
                unsigned char c = (unsigned char)*s;
                if (c == '\\') {
                    int h1 = hex_digit_value((unsigned char)s[1]);
                    int h2 = h1 >= 0 ? hex_digit_value((unsigned char)s[2]) : -1;
                    if (h1 >= 0 && h2 >= 0) {
                        val[vlen++] = (unsigned char)(h1 * 16 + h2);
                        s += 3;
                    } else if (is_rfc4514_special((unsigned char)s[1])) {
                        val[vlen++] = (unsigned char)s[1];
                        s += 2;
                    } else {
                        free(val);
                        if (s[1] == '\0')
                            return dn_fail(p, "backslash at the end");
                        return dn_fail(p, "bad escape '\\%s' (RFC 4514 3)",
                                       show(sh, sizeof(sh), s + 1, 1));
                    }
                    /* escaped characters are significant, even spaces */
                    sig = vlen;
                    continue;
                }
                if (c == '"' || c == ';' || c == '<' || c == '>') {
                    free(val);
                    return dn_fail(p, "'%c' must be escaped as '\\%c' (RFC 4514 3)", c, c);
                }
                val[vlen++] = c;
                s++;
                if (c != ' ')
                    sig = vlen;
            }
            /* unescaped trailing spaces are not part of the value */
            vlen = sig;
            val[vlen] = '\0';
        }
        CM_TRY(dn_add(p, type, (size_t)(tend - type), val, vlen, newrdn));
        if (*s == '\0')
            break;
        newrdn = (*s == ',');
        s++;
        while (*s == ' ')
            s++;
        if (*s == '\0')
            return dn_fail(p, "nothing after the last '%c'", newrdn ? ',' : '+');
    }
out:
    return rc;
}

cm_err name_parse_dn(X509_NAME **out, const char *s)
{
    struct dn_parse p;
    X509_NAME *nm = NULL;
    X509_NAME_ENTRY *ne = NULL;
    size_t i;
    cm_err rc = CM_OK;

    assert(out != NULL && s != NULL);
    *out = NULL;
    memset(&p, 0, sizeof(p));
    p.in = s;
    p.inlen = strlen(s);
    if (p.inlen == 0)
        return cm_err_set(CM_ERR_INVALID, "distinguished name: empty");
    if (p.inlen > NAME_DN_MAX)
        return dn_fail(&p, "longer than %d bytes", NAME_DN_MAX);
    if (s[0] == '/')
        CM_TRY(dn_parse_slash(&p));
    else
        CM_TRY(dn_parse_4514(&p));

    nm = X509_NAME_new();
    CM_NOMEM_IF(nm == NULL);
    for (i = 0; i < p.n; i++) {
        /* The slash form lists RDNs in encoding order; RFC 4514 in reverse
         * (section 2.1), attributes of an RDN included. */
        size_t k = s[0] == '/' ? i : p.n - 1 - i;
        const struct ava *a = &p.avas[k];
        int newrdn = s[0] == '/' ? a->newrdn : (i == 0 || p.avas[k + 1].newrdn);
        ne = X509_NAME_ENTRY_create_by_NID(NULL, a->attr->nid, asn1_type_of(a->attr->kind), a->val,
                                           (int)a->len);
        if (ne == NULL || !X509_NAME_add_entry(nm, ne, -1, newrdn ? 0 : -1))
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "distinguished name: cannot add %s",
                         OBJ_nid2sn(a->attr->nid));
        X509_NAME_ENTRY_free(ne);
        ne = NULL;
    }
    /* Round trip through DER so that the in-memory order of multi-valued
     * RDNs is the encoded (sorted) one and printing is stable. */
    *out = X509_NAME_dup(nm);
    if (*out == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "distinguished name: cannot encode");
out:
    X509_NAME_ENTRY_free(ne);
    X509_NAME_free(nm);
    dn_parse_free(&p);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Checking names that come from outside (CSRs) */

/* The string types RFC 5280 allows for an attribute: DirectoryString values
 * of new certificates are PrintableString or UTF8String (4.1.2.6); country,
 * serialNumber and dnQualifier are PrintableString (Appendix A.1); the
 * PKCS#9 emailAddress and domainComponent are IA5String (Appendix A.1,
 * RFC 4519 2.4). */
static int string_type_allowed(enum dn_kind k, int type)
{
    switch (k) {
    case DNK_DIR:
        return type == V_ASN1_UTF8STRING || type == V_ASN1_PRINTABLESTRING;
    case DNK_PRINTABLE:
    case DNK_COUNTRY:
        return type == V_ASN1_PRINTABLESTRING;
    case DNK_EMAIL:
    case DNK_IA5:
        return type == V_ASN1_IA5STRING;
    }
    return 0;
}

static const char *string_type_name(int type)
{
    switch (type) {
    case V_ASN1_UTF8STRING:
        return "UTF8String";
    case V_ASN1_PRINTABLESTRING:
        return "PrintableString";
    case V_ASN1_IA5STRING:
        return "IA5String";
    case V_ASN1_T61STRING:
        return "TeletexString";
    case V_ASN1_BMPSTRING:
        return "BMPString";
    case V_ASN1_UNIVERSALSTRING:
        return "UniversalString";
    case V_ASN1_VISIBLESTRING:
        return "VisibleString";
    default:
        return "a non-string type";
    }
}

/* The bytes of v valid for its string type: PrintableString per X.680 41.4,
 * IA5String ASCII, UTF8String valid UTF-8; control characters (C0, DEL, C1)
 * in none of them (a name is displayed, logged and mailed). Returns the
 * number of characters, or -1 with why. */
static long string_chars(const ASN1_STRING *v, char *why, size_t whysz)
{
    const unsigned char *d = v->data;
    size_t len = (size_t)v->length, i;

    if (v->type == V_ASN1_UTF8STRING)
        return utf8_count(d, len, why, whysz);
    for (i = 0; i < len; i++) {
        if (d[i] < 0x20 || d[i] == 0x7f) {
            why_set(why, whysz, "control character 0x%02X", d[i]);
            return -1;
        }
        if (v->type == V_ASN1_PRINTABLESTRING && !is_printable(d[i])) {
            why_set(why, whysz, "character 0x%02X is not allowed in a PrintableString (X.680 41.4)",
                    d[i]);
            return -1;
        }
        if (d[i] >= 0x80) {
            why_set(why, whysz, "byte 0x%02X is not ASCII (IA5String)", d[i]);
            return -1;
        }
    }
    return (long)len;
}

static const struct dn_attr *attr_by_nid(int nid)
{
    for (size_t i = 0; i < sizeof(dn_attrs) / sizeof(dn_attrs[0]); i++)
        if (dn_attrs[i].nid == nid)
            return &dn_attrs[i];
    return NULL;
}

enum name_fault name_check_entry(const X509_NAME_ENTRY *e, char *why, size_t whysz)
{
    const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
    const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
    const struct dn_attr *a = attr_by_nid(OBJ_obj2nid(obj));
    char sub[200], sh[SHOW_MAX], oid[80];
    long nch;

    if (a == NULL) {
        OBJ_obj2txt(oid, sizeof(oid), obj, 0);
        why_set(why, whysz, "attribute type %s is not one certmint issues", oid);
        return NAME_FAULT_TYPE;
    }
    snprintf(oid, sizeof(oid), "%s", OBJ_nid2ln(a->nid));
    if (v == NULL || v->length <= 0) {
        why_set(why, whysz, "%s is empty", oid);
        return NAME_FAULT_EMPTY;
    }
    if (!string_type_allowed(a->kind, v->type)) {
        why_set(why, whysz, "%s is a %s; RFC 5280 4.1.2.6 and Appendix A allow only %s", oid,
                string_type_name(v->type),
                a->kind == DNK_DIR ? "PrintableString or UTF8String"
                                   : string_type_name(asn1_type_of(a->kind)));
        return NAME_FAULT_TYPE;
    }
    nch = string_chars(v, sub, sizeof(sub));
    if (nch < 0) {
        why_set(why, whysz, "%s '%s': %s", oid,
                show(sh, sizeof(sh), (const char *)v->data, (size_t)v->length), sub);
        return NAME_FAULT_CHARSET;
    }
    if ((unsigned long)nch > a->ub) {
        why_set(why, whysz,
                "%s has %ld characters, more than the upper bound of %u (RFC 5280 Appendix A)", oid,
                nch, a->ub);
        return NAME_FAULT_LENGTH;
    }
    if (a->kind == DNK_COUNTRY || a->kind == DNK_EMAIL) {
        /* No NUL and no control byte (checked above); copy to terminate. */
        char *t = mem_dup(v->data, (size_t)v->length);
        int bad;
        if (t == NULL) {
            why_set(why, whysz, "out of memory");
            return NAME_FAULT_VALUE;
        }
        bad = value_why(a, (const unsigned char *)t, strlen(t), sub, sizeof(sub)) != 0;
        if (bad)
            why_set(why, whysz, "%s '%s': %s", oid, show(sh, sizeof(sh), t, strlen(t)), sub);
        free(t);
        if (bad)
            return NAME_FAULT_VALUE;
    }
    return NAME_FAULT_NONE;
}

cm_err name_check(const X509_NAME *n, const char *what)
{
    char why[400];
    for (int i = 0; i < X509_NAME_entry_count(n); i++)
        if (name_check_entry(X509_NAME_get_entry(n, i), why, sizeof(why)) != NAME_FAULT_NONE)
            return cm_err_set(CM_ERR_INVALID, "%s: %s", what, why);
    return CM_OK;
}

/* A value name_to_string may copy as it is: a PrintableString,
 * UTF8String or IA5String of ASCII letters, digits, inner spaces and
 * punctuation that RFC 4514 2.4 does not escape (X509_NAME_print_ex with
 * XN_FLAG_RFC2253 would print it unchanged). */
static int plain_value(const ASN1_STRING *v)
{
    const unsigned char *d = v->data;
    int len = v->length;

    if (v->type != V_ASN1_PRINTABLESTRING && v->type != V_ASN1_UTF8STRING &&
        v->type != V_ASN1_IA5STRING)
        return 0;
    if (len <= 0 || d[0] == ' ' || d[len - 1] == ' ')
        return 0;
    for (int i = 0; i < len; i++)
        if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z') ||
              (d[i] >= '0' && d[i] <= '9') || (d[i] != '\0' && strchr(" -._:/@'()*!?&", d[i]))))
            return 0;
    return 1;
}

/* name_to_string for a name of single-valued RDNs whose attribute types
 * have short names and whose values are plain_value: what
 * X509_NAME_print_ex would print, without its BIO and per-character
 * conversions (a tenth of the cost). 0: not such a name (*out NULL). */
static int name_string_plain(char **out, const X509_NAME *n)
{
    int count = X509_NAME_entry_count(n), set = -1;
    size_t len = 0, at = 0;
    char *s;

    *out = NULL;
    for (int i = 0; i < count; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
        if (sn == NULL || X509_NAME_ENTRY_set(e) == set ||
            !plain_value(X509_NAME_ENTRY_get_data(e)))
            return 0;
        set = X509_NAME_ENTRY_set(e);
        len += strlen(sn) + 2 + (size_t)X509_NAME_ENTRY_get_data(e)->length;
    }
    s = malloc(len + 1);
    if (s == NULL)
        return 0;
    /* RFC 4514 2.1: the last RDN first, separated by commas. */
    for (int i = count - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
        const char *sn = OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)));
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        size_t snl = strlen(sn);
        if (at > 0)
            s[at++] = ',';
        memcpy(s + at, sn, snl);
        at += snl;
        s[at++] = '=';
        memcpy(s + at, v->data, (size_t)v->length);
        at += (size_t)v->length;
    }
    s[at] = '\0';
    *out = s;
    return 1;
}

cm_err name_to_string(char **out, const X509_NAME *n)
{
    BIO *b = NULL;
    char *data = NULL;
    long len;
    cm_err rc = CM_OK;

    assert(out != NULL && n != NULL);
    *out = NULL;
    if (name_string_plain(out, n))
        return CM_OK;
    b = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(b == NULL);
    /* XN_FLAG_RFC2253 is what `openssl x509 -nameopt RFC2253` sets. */
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) < 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot print distinguished name");
    len = BIO_get_mem_data(b, &data);
    *out = mem_dup(data, len > 0 ? (size_t)len : 0);
    CM_NOMEM_IF(*out == NULL);
out:
    BIO_free(b);
    return rc;
}

/* A PrintableString, IA5String or UTF8String of ASCII characters other
 * than NUL: its UTF-8 is its octets. */
int name_value_ascii(const ASN1_STRING *v)
{
    if (v == NULL || (v->type != V_ASN1_PRINTABLESTRING && v->type != V_ASN1_IA5STRING &&
                      v->type != V_ASN1_UTF8STRING))
        return 0;
    for (int i = 0; i < v->length; i++)
        if (v->data[i] == 0 || v->data[i] >= 0x80)
            return 0;
    return 1;
}

static cm_err name_get_last(char **out, const X509_NAME *n, int nid, const char *what)
{
    const ASN1_STRING *v;
    int loc = -1, next;
    unsigned char *utf = NULL;
    int len;
    cm_err rc = CM_OK;

    assert(out != NULL && n != NULL);
    *out = NULL;
    while ((next = X509_NAME_get_index_by_NID(n, nid, loc)) >= 0)
        loc = next;
    if (loc < 0)
        return CM_OK;
    v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, loc));
    if (name_value_ascii(v)) {
        /* ASN1_STRING_to_UTF8 would give the same octets. */
        *out = mem_dup(v->data, (size_t)v->length);
        return *out != NULL ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    len = ASN1_STRING_to_UTF8(&utf, v);
    if (len < 0)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: cannot convert to UTF-8", what);
    if (memchr(utf, 0, (size_t)len) != NULL)
        CM_FAIL(CM_ERR_INVALID, "%s contains a NUL byte", what);
    *out = mem_dup(utf, (size_t)len);
    CM_NOMEM_IF(*out == NULL);
out:
    OPENSSL_free(utf);
    return rc;
}

cm_err name_get_cn(char **out, const X509_NAME *n)
{
    return name_get_last(out, n, NID_commonName, "commonName");
}

cm_err name_get_email(char **out, const X509_NAME *n)
{
    return name_get_last(out, n, NID_pkcs9_emailAddress, "emailAddress");
}

/* ------------------------------------------------------------------------ */
/* subjectAltName lists */

void san_list_free(struct san_list *l)
{
    size_t i;
    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++)
        free(l->e[i].value);
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

static const char *gen_type_name(int type)
{
    switch (type) {
    case GEN_DNS:
        return "DNS";
    case GEN_IPADD:
        return "IP Address";
    case GEN_EMAIL:
        return "email";
    case GEN_URI:
        return "URI";
    case GEN_DIRNAME:
        return "DirName";
    case GEN_RID:
        return "Registered ID";
    case GEN_OTHERNAME:
        return "othername";
    default:
        return "unsupported name type";
    }
}

static cm_err san_value(char **out, const GENERAL_NAME *gn)
{
    char tmp[INET6_ADDRSTRLEN + 64];
    cm_buf b = CM_BUF_INIT(65536);
    cm_err rc = CM_OK;

    *out = NULL;
    switch (gn->type) {
    case GEN_DNS:
    case GEN_EMAIL:
    case GEN_URI: {
        const ASN1_IA5STRING *s = gn->d.ia5;
        const unsigned char *d = ASN1_STRING_get0_data(s);
        int len = ASN1_STRING_length(s);
        if (len < 0 || (len > 0 && memchr(d, 0, (size_t)len) != NULL))
            return cm_err_set(CM_ERR_INVALID, "subjectAltName %s entry contains a NUL byte",
                              gen_type_name(gn->type));
        *out = mem_dup(d, (size_t)len);
        break;
    }
    case GEN_IPADD: {
        const unsigned char *d = ASN1_STRING_get0_data(gn->d.iPAddress);
        int len = ASN1_STRING_length(gn->d.iPAddress);
        if (len == 4 || len == 16) {
            if (inet_ntop(len == 4 ? AF_INET : AF_INET6, d, tmp, sizeof(tmp)) == NULL)
                return cm_err_set(CM_ERR_INVALID, "subjectAltName: bad IP address");
            *out = mem_dup(tmp, strlen(tmp));
        } else {
            /* keep the bytes visible so that the check can say what is wrong */
            int i;
            CM_TRY(buf_append_str(&b, "<invalid:"));
            for (i = 0; i < len && i < 64; i++)
                CM_TRY(buf_printf(&b, "%02X", d[i]));
            CM_TRY(buf_append_str(&b, ">"));
            *out = (char *)buf_steal(&b, NULL);
        }
        break;
    }
    case GEN_DIRNAME: {
        char *one = X509_NAME_oneline(gn->d.directoryName, NULL, 0);
        if (one == NULL)
            return cm_err_ossl(CM_ERR_INVALID, "subjectAltName: bad directory name");
        *out = mem_dup(one, strlen(one));
        OPENSSL_free(one);
        break;
    }
    case GEN_RID:
        if (OBJ_obj2txt(tmp, sizeof(tmp), gn->d.registeredID, 1) <= 0)
            return cm_err_ossl(CM_ERR_INVALID, "subjectAltName: bad registered ID");
        *out = mem_dup(tmp, strlen(tmp));
        break;
    case GEN_OTHERNAME: {
        const OTHERNAME *o = gn->d.otherName;
        if (OBJ_obj2nid(o->type_id) == NID_ms_upn && o->value != NULL &&
            o->value->type == V_ASN1_UTF8STRING) {
            const ASN1_STRING *v = o->value->value.utf8string;
            const unsigned char *d = ASN1_STRING_get0_data(v);
            int len = ASN1_STRING_length(v);
            if (len > 0 && memchr(d, 0, (size_t)len) != NULL)
                return cm_err_set(CM_ERR_INVALID, "subjectAltName UPN contains a NUL byte");
            CM_TRY(buf_append_str(&b, "UPN:"));
            CM_TRY(buf_append(&b, d, (size_t)len));
            *out = (char *)buf_steal(&b, NULL);
        } else {
            *out = mem_dup("<unsupported>", 13);
        }
        break;
    }
    default:
        *out = mem_dup("<unsupported>", 13);
        break;
    }
    CM_NOMEM_IF(*out == NULL);
out:
    buf_free(&b);
    return rc;
}

cm_err san_from_names(struct san_list *out, const GENERAL_NAMES *names)
{
    int i, n = names ? sk_GENERAL_NAME_num(names) : 0;
    struct san_list l = SAN_LIST_INIT;
    cm_err rc = CM_OK;

    assert(out != NULL);
    out->n = 0;
    out->e = NULL;
    if (n <= 0)
        return CM_OK;
    l.e = calloc((size_t)n, sizeof(*l.e));
    CM_NOMEM_IF(l.e == NULL);
    for (i = 0; i < n; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        CM_TRY(san_value(&l.e[l.n].value, gn));
        l.e[l.n].type = gn->type;
        l.n++;
    }
    *out = l;
    l.e = NULL;
    l.n = 0;
out:
    san_list_free(&l);
    return rc;
}

cm_err san_from_cert(struct san_list *out, const X509 *x)
{
    int crit = -1;
    GENERAL_NAMES *gns = NULL;
    cm_err rc = CM_OK;

    assert(out != NULL && x != NULL);
    out->n = 0;
    out->e = NULL;
    gns = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    if (gns == NULL) {
        if (crit == -1)
            return CM_OK;
        if (crit == -2)
            return cm_err_set(CM_ERR_INVALID, "more than one subjectAltName extension");
        return cm_err_ossl(CM_ERR_INVALID, "malformed subjectAltName extension");
    }
    rc = san_from_names(out, gns);
    GENERAL_NAMES_free(gns);
    return rc;
}

/* The CSR's requested extensions: PKCS#9 extensionRequest (RFC 2985 5.4.2)
 * or Microsoft's equivalent. *out = NULL when there is none. */
static cm_err req_extensions(STACK_OF(X509_EXTENSION) * *out, X509_REQ *req)
{
    static const int nids[] = {NID_ext_req, NID_ms_ext_req};
    size_t k;
    int found = 0;
    cm_err rc = CM_OK;

    *out = NULL;
    for (k = 0; k < sizeof(nids) / sizeof(nids[0]); k++) {
        int loc = X509_REQ_get_attr_by_NID(req, nids[k], -1);
        X509_ATTRIBUTE *attr;
        ASN1_TYPE *t;
        if (loc < 0)
            continue;
        if (found || X509_REQ_get_attr_by_NID(req, nids[k], loc) >= 0)
            CM_FAIL(CM_ERR_INVALID, "CSR has more than one extensionRequest attribute");
        found = 1;
        attr = X509_REQ_get_attr(req, loc);
        if (attr == NULL || X509_ATTRIBUTE_count(attr) != 1)
            CM_FAIL(CM_ERR_INVALID, "CSR extensionRequest attribute must have one value");
        t = X509_ATTRIBUTE_get0_type(attr, 0);
        if (t == NULL || t->type != V_ASN1_SEQUENCE)
            CM_FAIL(CM_ERR_INVALID, "CSR extensionRequest attribute is not a SEQUENCE");
        *out = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_EXTENSIONS), t);
        if (*out == NULL)
            CM_FAIL_OSSL(CM_ERR_INVALID, "CSR extensionRequest attribute is malformed");
    }
out:
    return rc;
}

cm_err san_from_req(struct san_list *out, X509_REQ *req)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *gns = NULL;
    int crit = -1;
    cm_err rc = CM_OK;

    assert(out != NULL && req != NULL);
    out->n = 0;
    out->e = NULL;
    CM_TRY(req_extensions(&exts, req));
    if (exts == NULL)
        goto out;
    gns = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
    if (gns == NULL) {
        if (crit == -2)
            CM_FAIL(CM_ERR_INVALID, "CSR requests more than one subjectAltName extension");
        if (crit != -1)
            CM_FAIL_OSSL(CM_ERR_INVALID, "CSR subjectAltName extension is malformed");
        goto out;
    }
    CM_TRY(san_from_names(out, gns));
out:
    GENERAL_NAMES_free(gns);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

cm_err san_list_check(const struct san_list *l, char *why, size_t whysz)
{
    size_t i;
    cm_err rc = CM_OK;

    assert(l != NULL);
    for (i = 0; i < l->n && rc == CM_OK; i++) {
        const struct san_entry *e = &l->e[i];
        switch (e->type) {
        case GEN_DNS:
            rc = san_check_dns(e->value);
            break;
        case GEN_IPADD:
            rc = san_check_ip(e->value);
            break;
        case GEN_EMAIL:
            rc = san_check_email(e->value);
            break;
        case GEN_URI:
            rc = san_check_uri(e->value);
            break;
        case GEN_DIRNAME:
            if (strcmp(e->value, "") == 0 || strcmp(e->value, "/") == 0)
                rc = cm_err_set(CM_ERR_INVALID, "directory name is empty");
            break;
        case GEN_OTHERNAME: {
            const char *v = e->value;
            char sub[128], sh[SHOW_MAX];
            if (strncmp(v, "UPN:", 4) != 0) {
                rc = cm_err_set(CM_ERR_INVALID, "otherName of this type is not supported");
            } else if (strchr(v + 4, '@') == NULL ||
                       utf8_count((const unsigned char *)v + 4, strlen(v + 4), sub, sizeof(sub)) <
                           0) {
                rc = cm_err_set(CM_ERR_INVALID, "UPN '%s': not a user@domain name",
                                show(sh, sizeof(sh), v + 4, strlen(v + 4)));
            }
            break;
        }
        default:
            rc = cm_err_set(CM_ERR_INVALID, "subjectAltName type %s is not supported",
                            gen_type_name(e->type));
            break;
        }
    }
    if (rc != CM_OK) {
        rc = cm_err_prefix(CM_ERR_INVALID, "subjectAltName entry %zu", i);
        why_set(why, whysz, "%s", cm_err_msg());
    }
    return rc;
}

cm_err san_list_to_string(char **out, const struct san_list *l)
{
    cm_buf b = CM_BUF_INIT(1024 * 1024);
    size_t i;
    cm_err rc = CM_OK;

    assert(out != NULL && l != NULL);
    *out = NULL;
    CM_TRY(buf_append_str(&b, ""));
    for (i = 0; i < l->n; i++) {
        const struct san_entry *e = &l->e[i];
        if (i > 0)
            CM_TRY(buf_append_str(&b, ", "));
        if (e->type == GEN_IPADD) {
            unsigned char ip[16];
            size_t n;
            CM_TRY(buf_append_str(&b, "IP Address:"));
            if (ip_parse(ip, &n, e->value, strlen(e->value)) != 0) {
                CM_TRY(buf_append_str(&b, "<invalid>"));
            } else if (n == 4) {
                CM_TRY(buf_append_str(&b, e->value));
            } else {
                /* OpenSSL prints eight upper-case groups without "::". */
                int k;
                for (k = 0; k < 16; k += 2)
                    CM_TRY(buf_printf(&b, "%s%X", k ? ":" : "", ip[k] << 8 | ip[k + 1]));
            }
        } else if (e->type == GEN_OTHERNAME) {
            if (strncmp(e->value, "UPN:", 4) == 0)
                CM_TRY(buf_printf(&b, "othername: UPN::%s", e->value + 4));
            else
                CM_TRY(buf_append_str(&b, "othername:<unsupported>"));
        } else if (e->type == GEN_DNS || e->type == GEN_EMAIL || e->type == GEN_URI ||
                   e->type == GEN_DIRNAME || e->type == GEN_RID) {
            CM_TRY(buf_printf(&b, "%s:%s", gen_type_name(e->type), e->value));
        } else {
            CM_TRY(buf_printf(&b, "%s:<unsupported>", gen_type_name(e->type)));
        }
    }
    *out = (char *)buf_steal(&b, NULL);
    CM_NOMEM_IF(*out == NULL);
out:
    buf_free(&b);
    return rc;
}
