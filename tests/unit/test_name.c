/* Unit tests for src/ca/name.c: DN parsing in both forms, printing checked
 * against `openssl x509 -nameopt RFC2253`, SAN checks with good and bad
 * lists, SAN lists from CSRs and certificates checked against `openssl x509
 * -ext subjectAltName`. */
#include "ca/name.h"
#include "util/fsutil.h"
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/certmint-test-name.XXXXXX";

/* ------------------------------------------------------------------------ */
/* helpers */

static char *dn_str(const char *in)
{
    X509_NAME *n = NULL;
    char *s = NULL;
    if (name_parse_dn(&n, in) != CM_OK)
        return NULL;
    if (name_to_string(&s, n) != CM_OK)
        s = NULL;
    X509_NAME_free(n);
    return s;
}

static char *dn_cn(const char *in)
{
    X509_NAME *n = NULL;
    char *s = NULL;
    if (name_parse_dn(&n, in) != CM_OK)
        return NULL;
    if (name_get_cn(&s, n) != CM_OK)
        s = NULL;
    X509_NAME_free(n);
    return s;
}

/* CHECK that in parses and prints as want (RFC 4514). */
#define CHECK_DN(in, want)                                                                         \
    do {                                                                                           \
        char *got_ = dn_str(in);                                                                   \
        if (got_ == NULL)                                                                          \
            UNIT_FAIL("'%s' refused: %s", in, cm_err_msg());                                       \
        else                                                                                       \
            CHECK_STR(got_, want);                                                                 \
        free(got_);                                                                                \
    } while (0)

#define CHECK_CN(in, want)                                                                         \
    do {                                                                                           \
        char *got_ = dn_cn(in);                                                                    \
        if (got_ == NULL)                                                                          \
            UNIT_FAIL("'%s': no CN: %s", in, cm_err_msg());                                        \
        else                                                                                       \
            CHECK_STR(got_, want);                                                                 \
        free(got_);                                                                                \
    } while (0)

/* CHECK that in is refused with a message containing part. */
#define CHECK_DN_BAD(in, part)                                                                     \
    do {                                                                                           \
        X509_NAME *n_ = NULL;                                                                      \
        cm_err r_ = name_parse_dn(&n_, in);                                                        \
        if (r_ != CM_ERR_INVALID)                                                                  \
            UNIT_FAIL("'%s' accepted (rc %d), expected refusal", in, (int)r_);                     \
        else if (strstr(cm_err_msg(), part) == NULL)                                               \
            UNIT_FAIL("'%s': message '%s' lacks '%s'", in, cm_err_msg(), part);                    \
        CHECK(n_ == NULL);                                                                         \
        X509_NAME_free(n_);                                                                        \
    } while (0)

/* Runs cmd and returns its first output line (without newline), or NULL. */
static char *run_line(const char *cmd, int skip)
{
    char line[4096];
    char *res = NULL;
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return NULL;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (skip-- > 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        res = strdup(line);
        break;
    }
    while (fgets(line, sizeof(line), f) != NULL)
        ;
    pclose(f);
    return res;
}

/* A self-signed certificate with subject n and (optionally) SAN names. */
static X509 *make_cert(const X509_NAME *n, GENERAL_NAMES *san)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    if (k == NULL || x == NULL)
        goto fail;
    if (!X509_set_version(x, X509_VERSION_3) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_set_subject_name(x, n) || !X509_set_issuer_name(x, n) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 3600) || !X509_set_pubkey(x, k))
        goto fail;
    if (san != NULL && !X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT))
        goto fail;
    if (!X509_sign(x, k, EVP_sha256()))
        goto fail;
    EVP_PKEY_free(k);
    return x;
fail:
    EVP_PKEY_free(k);
    X509_free(x);
    return NULL;
}

static int write_pem(const char *path, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int ok = 0;
    if (b != NULL && PEM_write_bio_X509(b, x)) {
        len = BIO_get_mem_data(b, &data);
        ok = fs_write_atomic(path, data, (size_t)len, 0644) == CM_OK;
    }
    BIO_free(b);
    return ok;
}

static GENERAL_NAME *gn_ia5(int type, const char *v, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, v, (int)len);
    GENERAL_NAME_set0_value(gn, type, s);
    return gn;
}

static GENERAL_NAME *gn_ip(const unsigned char *b, int len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(s, b, len);
    GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
    return gn;
}

static GENERAL_NAME *gn_conf(const char *v)
{
    /* "DNS:x", "IP:1.2.3.4", "otherName:..." through OpenSSL's own parser */
    GENERAL_NAMES *gns;
    GENERAL_NAME *gn;
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    X509V3_set_ctx(&ctx, NULL, NULL, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, v);
    if (ext == NULL)
        return NULL;
    gns = X509V3_EXT_d2i(ext);
    X509_EXTENSION_free(ext);
    gn = sk_GENERAL_NAME_shift(gns);
    GENERAL_NAMES_free(gns);
    return gn;
}

/* ------------------------------------------------------------------------ */
/* DN parsing */

TEST(dn_forms)
{
    X509_NAME *a = NULL, *b = NULL;
    /* Slash form is in encoding order, RFC 4514 in reverse. */
    CHECK_DN("/CN=Example Root/O=Example Org/C=DE", "C=DE,O=Example Org,CN=Example Root");
    CHECK_DN("CN=Example Root,O=Example Org,C=DE", "CN=Example Root,O=Example Org,C=DE");
    CHECK_OK(name_parse_dn(&a, "/C=DE/O=Example Org/CN=Example Root"));
    CHECK_OK(name_parse_dn(&b, "CN=Example Root, O=Example Org, C=DE"));
    CHECK(a != NULL && b != NULL && X509_NAME_cmp(a, b) == 0);
    /* the first entry of the encoding is C */
    CHECK(a != NULL && X509_NAME_entry_count(a) == 3 &&
          OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(a, 0))) == NID_countryName);
    X509_NAME_free(a);
    X509_NAME_free(b);
    CHECK_DN("/CN=Example Root", "CN=Example Root");
}

TEST(dn_types)
{
    X509_NAME *n = NULL;
    char *s = NULL;
    CHECK_DN("cn=x,o=y", "CN=x,O=y");
    CHECK_DN("commonName=x", "CN=x");
    CHECK_DN("2.5.4.3=x", "CN=x");
    CHECK_DN("/DC=com/DC=example/UID=jdoe", "UID=jdoe,DC=example,DC=com");
    CHECK_DN("GN=Jane,SN=Doe,title=Dr,serialNumber=1234,L=Berlin,ST=Berlin,OU=IT",
             "GN=Jane,SN=Doe,title=Dr,serialNumber=1234,L=Berlin,ST=Berlin,OU=IT");
    CHECK_DN("givenName=Jane,surname=Doe", "GN=Jane,SN=Doe");
    CHECK_DN("S=Bayern,street=Main St 1,postalCode=12345",
             "ST=Bayern,street=Main St 1,postalCode=12345");
    CHECK_DN("E=jane@example.com,CN=Jane", "emailAddress=jane@example.com,CN=Jane");
    /* ASN.1 string types: C PrintableString, emailAddress/DC IA5, CN UTF8 */
    CHECK_OK(name_parse_dn(&n, "/C=DE/DC=example/CN=x/emailAddress=a@example.com"));
    if (n != NULL) {
        CHECK_INT(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 0))),
                  V_ASN1_PRINTABLESTRING);
        CHECK_INT(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 1))),
                  V_ASN1_IA5STRING);
        CHECK_INT(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 2))),
                  V_ASN1_UTF8STRING);
        CHECK_INT(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 3))),
                  V_ASN1_IA5STRING);
        CHECK_OK(name_get_email(&s, n));
        CHECK_STR(s, "a@example.com");
        free(s);
        s = NULL;
    }
    X509_NAME_free(n);
}

TEST(dn_escapes)
{
    /* RFC 4514 section 3 escapes */
    CHECK_CN("CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\#i\\=j", "a,b+c\"d\\e<f>g;h#i=j");
    CHECK_CN("CN=caf\\C3\\A9", "caf\xC3\xA9");
    CHECK_CN("CN=caf\xC3\xA9", "caf\xC3\xA9");
    CHECK_CN("CN=\\#x", "#x");
    CHECK_CN("CN=\\ a\\ ", " a ");
    CHECK_CN("CN=  a b  ,O=x", "a b");
    CHECK_CN("CN=a=b", "a=b");
    CHECK_CN("CN=#0C03616263", "abc");       /* UTF8String "abc" as BER */
    CHECK_CN("CN=#130378797A , O=x", "xyz"); /* PrintableString */
    /* printing escapes what RFC 4514 requires and non-ASCII as \XX */
    CHECK_DN("CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h", "CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h");
    CHECK_DN("CN=caf\xC3\xA9", "CN=caf\\C3\\A9");
    CHECK_DN("CN=\\#x", "CN=\\#x");
    /* slash form: backslash escapes the next character, '+' is literal */
    CHECK_CN("/O=x/CN=a\\/b", "a/b");
    CHECK_CN("/CN=a+b", "a+b");
    CHECK_CN("/CN=a\\\\b", "a\\b");
    CHECK_CN("/CN=a,b", "a,b");
}

TEST(dn_multivalued)
{
    X509_NAME *n = NULL;
    char *s = NULL;
    CHECK_OK(name_parse_dn(&n, "CN=a+UID=x,O=b"));
    if (n != NULL) {
        CHECK_INT(X509_NAME_entry_count(n), 3);
        /* O is its own RDN, CN and UID share one */
        CHECK(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 1)) ==
              X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 2)));
        CHECK(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 0)) !=
              X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 1)));
        CHECK_OK(name_to_string(&s, n));
        /* printing is stable through a second parse */
        {
            char *again = s ? dn_str(s) : NULL;
            CHECK(again != NULL);
            if (again != NULL)
                CHECK_STR(again, s);
            free(again);
        }
        CHECK(s != NULL && strstr(s, "+") != NULL && strstr(s, ",O=b") != NULL);
        free(s);
    }
    X509_NAME_free(n);
}

TEST(dn_cn_email)
{
    X509_NAME *n = NULL;
    char *s = (char *)"sentinel";
    CHECK_OK(name_parse_dn(&n, "/O=x"));
    CHECK_OK(name_get_cn(&s, n));
    CHECK(s == NULL);
    s = (char *)"sentinel";
    CHECK_OK(name_get_email(&s, n));
    CHECK(s == NULL);
    X509_NAME_free(n);
    /* the most specific (last) CN */
    CHECK_CN("/CN=first/CN=second", "second");
    CHECK_CN("CN=second,CN=first", "second");
}

TEST(dn_rejects)
{
    char big[NAME_DN_MAX + 16];
    char cn[80];
    CHECK_DN_BAD("", "empty");
    CHECK_DN_BAD("/", "empty");
    CHECK_DN_BAD("CN=", "empty value");
    CHECK_DN_BAD("/CN=", "empty value");
    CHECK_DN_BAD("CN= ", "empty value");
    CHECK_DN_BAD("CN", "expected '='");
    CHECK_DN_BAD("/CN", "expected '='");
    CHECK_DN_BAD("=x", "empty attribute type");
    CHECK_DN_BAD("XX=foo", "unknown attribute type 'XX'");
    CHECK_DN_BAD("basicConstraints=CA:TRUE", "unknown attribute type");
    CHECK_DN_BAD("1.2.3.4=foo", "unknown attribute type");
    CHECK_DN_BAD("2.5.4.3.=foo", "unknown attribute type");
    CHECK_DN_BAD("CN=a\\zz", "bad escape");
    CHECK_DN_BAD("CN=a\\", "backslash at the end");
    CHECK_DN_BAD("/CN=a\\", "backslash at the end");
    CHECK_DN_BAD("CN=a\"b", "must be escaped");
    CHECK_DN_BAD("CN=a;b", "must be escaped");
    CHECK_DN_BAD("CN=<x>", "must be escaped");
    CHECK_DN_BAD("CN=a,", "nothing after");
    CHECK_DN_BAD("CN=a+", "nothing after");
    CHECK_DN_BAD("CN=a,,O=b", "expected '='");
    CHECK_DN_BAD("CN=a+CN=b", "twice in one RDN");
    CHECK_DN_BAD("/CN=a/", "empty RDN");
    CHECK_DN_BAD("CN=a\x01"
                 "b",
                 "control character");
    CHECK_DN_BAD("CN=a\\00b", "NUL");
    CHECK_DN_BAD("CN=\\C3", "UTF-8");
    CHECK_DN_BAD("CN=\xC0\xAF", "UTF-8");             /* overlong '/' */
    CHECK_DN_BAD("CN=\xED\xA0\x80", "UTF-8");         /* surrogate */
    CHECK_DN_BAD("CN=\\C2\\85", "control character"); /* NEL, C1 */
    CHECK_DN_BAD("C=DEU", "upper bound of 2");
    CHECK_DN_BAD("C=de", "two upper-case letters");
    CHECK_DN_BAD("C=D1", "two upper-case letters");
    CHECK_DN_BAD("emailAddress=not-an-email", "no '@'");
    CHECK_DN_BAD("serialNumber=ab_c", "PrintableString");
    CHECK_DN_BAD("DC=caf\xC3\xA9", "IA5String");
    CHECK_DN_BAD("CN=#zz", "bad #hexstring");
    CHECK_DN_BAD("CN=#0", "bad #hexstring");
    CHECK_DN_BAD("CN=#0C0361", "not one DER value");
    CHECK_DN_BAD("CN=#020101", "not a string type");
    /* RFC 5280 upper bound: 64 characters for CN (characters, not bytes) */
    memset(cn, 0, sizeof(cn));
    memcpy(cn, "CN=", 3);
    memset(cn + 3, 'a', 64);
    CHECK_CN(cn, cn + 3);
    cn[3 + 64] = 'a';
    CHECK_DN_BAD(cn, "upper bound of 64");
    CHECK_CN("CN=\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9",
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
    memset(big, 0, sizeof(big));
    memcpy(big, "CN=", 3);
    memset(big + 3, 'a', sizeof(big) - 4);
    CHECK_DN_BAD(big, "longer than 8192 bytes");
    /* the input is named, escaped */
    CHECK_DN_BAD("CN=a\x01", "'CN=a\\x01'");
}

/* name_to_string is byte for byte `openssl x509 -noout -subject -nameopt
 * RFC2253`, and its output parses back to the same name. */
TEST(dn_matches_openssl)
{
    static const char *const dns[] = {
        "CN=Example Root,O=Example Org,C=DE",
        "/C=DE/ST=Baden-W\xC3\xBCrttemberg/L=Stuttgart/O=Org\\, Inc./OU=R&D/CN=J\xC3\xB6rg \"JJ\" "
        "M\xC3\xBCller",
        "CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\#i\\=j,OU=x",
        "CN=\\#hash\\ ,O=\\ lead",
        "CN=a+UID=x,O=b+OU=c,DC=example,DC=com",
        "emailAddress=a@example.com,CN=\xE6\x97\xA5\xE6\x9C\xAC,serialNumber=42",
        "CN=\xF0\x9F\x94\x92 lock,O=x",
        /* OpenSSL prints a lone '#' unescaped; it must read back */
        "/CN=#/O=# x/OU=x#",
        "/CN= lead and trail /O=a  b",
        /* plain names (name_to_string's own path) */
        "CN=www.example.com,OU=R/D: a@b!?*'_ (x) & y,O=Example-Org,C=DE",
        "/DC=com/DC=example/CN=host-1.example.com/emailAddress=ops@example.com",
    };
    char path[256];
    size_t i;
    for (i = 0; i < sizeof(dns) / sizeof(dns[0]); i++) {
        X509_NAME *n = NULL, *back = NULL;
        X509 *x = NULL;
        char *mine = NULL, *theirs = NULL, cmd[600];
        CHECK_OK(name_parse_dn(&n, dns[i]));
        if (n == NULL)
            continue;
        x = make_cert(n, NULL);
        CHECK(x != NULL);
        snprintf(path, sizeof(path), "%s/dn%zu.pem", tmpdir, i);
        CHECK(x != NULL && write_pem(path, x));
        CHECK_OK(name_to_string(&mine, X509_get_subject_name(x)));
        snprintf(cmd, sizeof(cmd), "openssl x509 -noout -subject -nameopt RFC2253 -in '%s'", path);
        theirs = run_line(cmd, 0);
        CHECK(theirs != NULL && strncmp(theirs, "subject=", 8) == 0);
        if (mine != NULL && theirs != NULL)
            CHECK_STR(mine, theirs + 8);
        if (mine != NULL) {
            CHECK_OK(name_parse_dn(&back, mine));
            CHECK(back != NULL && X509_NAME_cmp(back, n) == 0);
        }
        X509_NAME_free(back);
        X509_NAME_free(n);
        X509_free(x);
        free(mine);
        free(theirs);
    }
}

/* name_to_string's own printing of plain names (name_string_plain) and
 * OpenSSL's (X509_NAME_print_ex, RFC 2253) agree on every printable ASCII
 * character at the start, inside and at the end of a value, in each string
 * type, and on multi-valued RDNs and attribute types without a short name
 * (both printed by OpenSSL). */
TEST(dn_plain_matches_print_ex)
{
    static const int types[] = {V_ASN1_PRINTABLESTRING, V_ASN1_UTF8STRING, V_ASN1_IA5STRING,
                                V_ASN1_T61STRING};
    char v[4];
    size_t checked = 0;

    for (int ch = 0x20; ch < 0x7f; ch++) {
        for (int pos = 0; pos < 3; pos++) {
            for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
                for (int shape = 0; shape < 3; shape++) {
                    X509_NAME *n = X509_NAME_new();
                    BIO *b = BIO_new(BIO_s_mem());
                    char *mine = NULL, *data = NULL;
                    long len;
                    memcpy(v, "ab", 3);
                    if (pos == 0)
                        snprintf(v, sizeof(v), "%cab", ch);
                    else if (pos == 1)
                        snprintf(v, sizeof(v), "a%cb", ch);
                    else
                        snprintf(v, sizeof(v), "ab%c", ch);
                    CHECK(n != NULL && b != NULL);
                    if (n == NULL || b == NULL) {
                        X509_NAME_free(n);
                        BIO_free(b);
                        continue;
                    }
                    CHECK(X509_NAME_add_entry_by_NID(n, NID_countryName, V_ASN1_PRINTABLESTRING,
                                                     (const unsigned char *)"DE", 2, -1, 0));
                    if (!X509_NAME_add_entry_by_NID(n, NID_commonName, types[t],
                                                    (const unsigned char *)v, 3, -1, 0))
                        UNIT_FAIL("cannot add CN '%s' of type %d", v, types[t]);
                    if (shape == 1) /* a second attribute in the same RDN */
                        CHECK(X509_NAME_add_entry_by_NID(n, NID_organizationName, V_ASN1_UTF8STRING,
                                                         (const unsigned char *)"O", 1, -1, -1));
                    if (shape == 2) /* a type without a short name */
                        CHECK(X509_NAME_add_entry_by_txt(n, "1.3.6.1.4.1.55555.9",
                                                         V_ASN1_UTF8STRING,
                                                         (const unsigned char *)"x", 1, -1, 0));
                    CHECK(X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0);
                    len = BIO_get_mem_data(b, &data);
                    CHECK_OK(name_to_string(&mine, n));
                    if (mine != NULL &&
                        ((size_t)len != strlen(mine) || memcmp(mine, data, (size_t)len) != 0))
                        UNIT_FAIL("char 0x%02x at %d, type %d, shape %d: '%s', OpenSSL '%.*s'", ch,
                                  pos, types[t], shape, mine, (int)len, data);
                    checked++;
                    free(mine);
                    BIO_free(b);
                    X509_NAME_free(n);
                }
            }
        }
    }
    CHECK(checked == 95 * 3 * 4 * 3);
}

/* name_get_cn copies ASCII values as they are: the same as the UTF-8 of
 * ASN1_STRING_to_UTF8 for every string type and octet (Latin-1 octets in a
 * PrintableString or T61String become two UTF-8 octets); a NUL is refused. */
TEST(dn_cn_ascii_copy)
{
    static const int types[] = {V_ASN1_PRINTABLESTRING, V_ASN1_UTF8STRING, V_ASN1_IA5STRING,
                                V_ASN1_T61STRING};
    for (int ch = 1; ch < 0x100; ch++) {
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            X509_NAME *n = X509_NAME_new();
            unsigned char v[3] = {'a', (unsigned char)ch, 'b'}, *utf = NULL;
            char *mine = NULL;
            int len;
            if (n == NULL ||
                !X509_NAME_add_entry_by_NID(n, NID_commonName, types[t], v, 3, -1, 0)) {
                UNIT_FAIL("cannot make CN 0x%02x of type %d", ch, types[t]);
                X509_NAME_free(n);
                continue;
            }
            len = ASN1_STRING_to_UTF8(&utf, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 0)));
            if (name_get_cn(&mine, n) != CM_OK) {
                if (len > 0)
                    UNIT_FAIL("0x%02x type %d refused: %s", ch, types[t], cm_err_msg());
            } else if (len < 0 || mine == NULL || strlen(mine) != (size_t)len ||
                       memcmp(mine, utf, (size_t)len) != 0) {
                UNIT_FAIL("0x%02x type %d: '%s' is not OpenSSL's UTF-8", ch, types[t],
                          mine ? mine : "(null)");
            }
            free(mine);
            OPENSSL_free(utf);
            X509_NAME_free(n);
        }
    }
    {
        X509_NAME *n = X509_NAME_new();
        char *mine = NULL;
        CHECK(n != NULL && X509_NAME_add_entry_by_NID(n, NID_commonName, V_ASN1_UTF8STRING,
                                                      (const unsigned char *)"a\0b", 3, -1, 0));
        CHECK_ERR(name_get_cn(&mine, n), CM_ERR_INVALID);
        free(mine);
        X509_NAME_free(n);
    }
}

/* ------------------------------------------------------------------------ */
/* SAN checks */

#define CHECK_GOOD(fn, s)                                                                          \
    do {                                                                                           \
        if (fn(s) != CM_OK)                                                                        \
            UNIT_FAIL("%s(\"%s\") refused: %s", #fn, s, cm_err_msg());                             \
    } while (0)
#define CHECK_BAD(fn, s, part)                                                                     \
    do {                                                                                           \
        if (fn(s) != CM_ERR_INVALID)                                                               \
            UNIT_FAIL("%s(\"%s\") accepted", #fn, s);                                              \
        else if (strstr(cm_err_msg(), part) == NULL)                                               \
            UNIT_FAIL("%s(\"%s\"): message '%s' lacks '%s'", #fn, s, cm_err_msg(), part);          \
    } while (0)

/* The pieces uri_why checks one after the other (scheme, host, port, the
 * rest), at their boundaries. */
TEST(san_uri_parts)
{
    CHECK_GOOD(san_check_uri, "svn+ssh://example.com/");
    CHECK_GOOD(san_check_uri, "a-b.c://example.com");
    CHECK_BAD(san_check_uri, "ht_tp://example.com/", "no scheme");
    CHECK_BAD(san_check_uri, "http", "no scheme");
    CHECK_GOOD(san_check_uri, "http://[::1]");
    CHECK_GOOD(san_check_uri, "http://[::1]:8080");
    CHECK_BAD(san_check_uri, "http://[]/", "bad IPv6");
    CHECK_BAD(san_check_uri, "http://[::1]:/", "bad port");
    CHECK_BAD(san_check_uri, "http://1.2.3/", "bad IPv4");
    CHECK_BAD(san_check_uri, "http://ex_ample.com/", "host: underscore");
    CHECK_GOOD(san_check_uri, "http://example.com:1/");
    CHECK_GOOD(san_check_uri, "http://example.com:65535");
    CHECK_BAD(san_check_uri, "http://example.com:65536/", "bad port");
    CHECK_BAD(san_check_uri, "http://example.com:123456/", "bad port");
    CHECK_GOOD(san_check_uri, "http://example.com?q");
    CHECK_GOOD(san_check_uri, "http://example.com#f");
    CHECK_BAD(san_check_uri, "http://example.com/[x]", "not allowed");
    CHECK_BAD(san_check_uri, "http://example.com/%", "%-escape");
}

TEST(san_dns)
{
    char lab63[80], lab64[80], long253[300], long254[300];
    size_t i;
    CHECK_GOOD(san_check_dns, "example.com");
    CHECK_GOOD(san_check_dns, "a.b.example.com");
    CHECK_GOOD(san_check_dns, "EXAMPLE.COM");
    CHECK_GOOD(san_check_dns, "xn--bcher-kva.example");
    CHECK_GOOD(san_check_dns, "a-b.example");
    CHECK_GOOD(san_check_dns, "1a.example");
    CHECK_GOOD(san_check_dns, "123.example.com");
    CHECK_GOOD(san_check_dns, "*.example.com");
    CHECK_BAD(san_check_dns, "", "empty");
    CHECK_BAD(san_check_dns, "com", "at least two labels");
    CHECK_BAD(san_check_dns, "example.com.", "trailing dot");
    CHECK_BAD(san_check_dns, ".example.com", "empty label");
    CHECK_BAD(san_check_dns, "a..example", "empty label");
    CHECK_BAD(san_check_dns, "-a.example", "hyphen");
    CHECK_BAD(san_check_dns, "a-.example", "hyphen");
    CHECK_BAD(san_check_dns, "a_b.example", "underscore");
    CHECK_BAD(san_check_dns, "a b.example", "not allowed");
    CHECK_BAD(san_check_dns, "a/b.example", "not allowed");
    CHECK_BAD(san_check_dns, "ab--cd.example", "reserved");
    CHECK_BAD(san_check_dns,
              "b\xC3\xBC"
              "cher.example",
              "A-labels");
    CHECK_BAD(san_check_dns, "1.2.3.4", "all digits");
    CHECK_BAD(san_check_dns, "example.123", "all digits");
    /* wildcards: whole leftmost label only, two labels after it */
    CHECK_BAD(san_check_dns, "*", "at least two labels");
    CHECK_BAD(san_check_dns, "*.com", "two labels after");
    CHECK_BAD(san_check_dns, "a.*.example.com", "leftmost");
    CHECK_BAD(san_check_dns, "*.*.example.com", "leftmost");
    CHECK_BAD(san_check_dns, "f*o.example.com", "leftmost");
    CHECK_BAD(san_check_dns, "*o.example.com", "leftmost");
    CHECK_BAD(san_check_dns, "**.example.com", "leftmost");
    /* label and name length limits (RFC 1034 3.1) */
    memset(lab63, 'a', 63);
    memcpy(lab63 + 63, ".example", 9);
    CHECK_GOOD(san_check_dns, lab63);
    memset(lab64, 'a', 64);
    memcpy(lab64 + 64, ".example", 9);
    CHECK_BAD(san_check_dns, lab64, "longer than 63");
    /* 253 = 3 * 63 + 61 + 3 dots... built as labels of 63 */
    for (i = 0; i < 253; i++)
        long253[i] = (i % 64 == 63) ? '.' : 'a';
    long253[253] = '\0';
    CHECK_GOOD(san_check_dns, long253);
    memcpy(long254, long253, 253);
    long254[253] = 'a';
    long254[254] = '\0';
    CHECK_BAD(san_check_dns, long254, "longer than 253");
}

TEST(san_ip)
{
    CHECK_GOOD(san_check_ip, "192.0.2.1");
    CHECK_GOOD(san_check_ip, "0.0.0.0");
    CHECK_GOOD(san_check_ip, "2001:db8::1");
    CHECK_GOOD(san_check_ip, "::1");
    CHECK_GOOD(san_check_ip, "::ffff:192.0.2.1");
    CHECK_BAD(san_check_ip, "", "not an IPv4 or IPv6");
    CHECK_BAD(san_check_ip, "192.0.2", "not an IPv4 or IPv6");
    CHECK_BAD(san_check_ip, "192.0.2.256", "not an IPv4 or IPv6");
    CHECK_BAD(san_check_ip, "192.0.2.1/24", "not an IPv4 or IPv6");
    CHECK_BAD(san_check_ip, "2001:db8::1%eth0", "not an IPv4 or IPv6");
    CHECK_BAD(san_check_ip, "2001:db8:::1", "not an IPv4 or IPv6");
    CHECK_BAD(san_check_ip, "example.com", "not an IPv4 or IPv6");
    CHECK_BAD(san_check_ip, " 192.0.2.1", "not an IPv4 or IPv6");
}

TEST(san_email)
{
    char local65[100];
    CHECK_GOOD(san_check_email, "user@example.com");
    CHECK_GOOD(san_check_email, "first.last+tag@sub.example.org");
    CHECK_GOOD(san_check_email, "a!#$%&'*+/=?^_`{|}~-@example.com");
    CHECK_BAD(san_check_email, "", "empty");
    CHECK_BAD(san_check_email, "user", "no '@'");
    CHECK_BAD(san_check_email, "@example.com", "empty local part");
    CHECK_BAD(san_check_email, "user@", "domain: empty");
    CHECK_BAD(san_check_email, "user@@example.com", "more than one '@'");
    CHECK_BAD(san_check_email, "a@b@example.com", "more than one '@'");
    CHECK_BAD(san_check_email, ".user@example.com", "misplaced dot");
    CHECK_BAD(san_check_email, "user.@example.com", "misplaced dot");
    CHECK_BAD(san_check_email, "us..er@example.com", "misplaced dot");
    CHECK_BAD(san_check_email, "\"quoted\"@example.com", "quoted");
    CHECK_BAD(san_check_email, "us er@example.com", "not allowed");
    CHECK_BAD(san_check_email, "user@[192.0.2.1]", "address literals");
    CHECK_BAD(san_check_email, "user@localhost", "two labels");
    CHECK_BAD(san_check_email, "user@*.example.com", "wildcard");
    CHECK_BAD(san_check_email, "user@example.com.", "trailing dot");
    CHECK_BAD(san_check_email, "\xC3\xBCser@example.com", "non-ASCII");
    CHECK_BAD(san_check_email,
              "user@b\xC3\xBC"
              "cher.example",
              "A-labels");
    memset(local65, 'a', 65);
    memcpy(local65 + 65, "@example.com", 13);
    CHECK_BAD(san_check_email, local65, "longer than 64");
    local65[64] = '@';
    memcpy(local65 + 64, "@example.com", 13);
    CHECK_GOOD(san_check_email, local65);
}

TEST(san_uri)
{
    CHECK_GOOD(san_check_uri, "http://example.com");
    CHECK_GOOD(san_check_uri, "https://example.com:8443/path?q=1&r=%41#frag");
    CHECK_GOOD(san_check_uri,
               "ldap://ldap.example.com/cn=CA,dc=example,dc=com?certificateRevocationList");
    CHECK_GOOD(san_check_uri, "http://192.0.2.1/crl");
    CHECK_GOOD(san_check_uri, "http://[2001:db8::1]:80/x");
    CHECK_GOOD(san_check_uri, "spiffe://prod.example.org/ns/default/sa/web");
    CHECK_GOOD(san_check_uri, "HTTP://EXAMPLE.COM/");
    CHECK_BAD(san_check_uri, "", "no scheme");
    CHECK_BAD(san_check_uri, "example.com", "no scheme");
    CHECK_BAD(san_check_uri, "/relative/path", "no scheme");
    CHECK_BAD(san_check_uri, "1http://x.example/", "no scheme");
    CHECK_BAD(san_check_uri, "http:/x", "no authority");
    CHECK_BAD(san_check_uri, "mailto:a@example.com", "no authority");
    CHECK_BAD(san_check_uri, "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "no authority");
    CHECK_BAD(san_check_uri, "http://", "empty host");
    CHECK_BAD(san_check_uri, "ldap:///cn=x", "empty host");
    CHECK_BAD(san_check_uri, "http://user@example.com/", "userinfo");
    CHECK_BAD(san_check_uri, "http://exa mple.com/", "host:");
    CHECK_BAD(san_check_uri, "http://host/", "two labels");
    CHECK_BAD(san_check_uri, "http://*.example.com/", "wildcard");
    CHECK_BAD(san_check_uri, "http://example.com./", "trailing dot");
    CHECK_BAD(san_check_uri, "http://256.1.1.1/", "bad IPv4");
    CHECK_BAD(san_check_uri, "http://[::1/", "unterminated");
    CHECK_BAD(san_check_uri, "http://[zz]/", "bad IPv6");
    CHECK_BAD(san_check_uri, "http://[::1]x/", "junk after");
    CHECK_BAD(san_check_uri, "http://example.com:0/", "bad port");
    CHECK_BAD(san_check_uri, "http://example.com:99999/", "bad port");
    CHECK_BAD(san_check_uri, "http://example.com:/", "bad port");
    CHECK_BAD(san_check_uri, "http://example.com:8a/", "bad port");
    CHECK_BAD(san_check_uri, "http://example.com/a b", "not allowed");
    CHECK_BAD(san_check_uri, "http://example.com/\xC3\xBC", "not allowed");
    CHECK_BAD(san_check_uri, "http://example.com/<x>", "not allowed");
    CHECK_BAD(san_check_uri, "http://example.com/%zz", "%-escape");
    CHECK_BAD(san_check_uri, "http://example.com/%4", "%-escape");
    CHECK_BAD(san_check_uri, "http://example.com/#a#b", "second '#'");
}

/* ------------------------------------------------------------------------ */
/* SAN lists */

static GENERAL_NAMES *sample_names(void)
{
    static const unsigned char v4[4] = {192, 0, 2, 1};
    static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0,    0,    0,    0,    0, 0, 0, 1};
    GENERAL_NAMES *gns = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_DNS, "a.example", 9));
    sk_GENERAL_NAME_push(gns, gn_ip(v4, 4));
    sk_GENERAL_NAME_push(gns, gn_ip(v6, 16));
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_EMAIL, "x@y.example", 11));
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_URI, "http://h.example/x", 18));
    sk_GENERAL_NAME_push(gns, gn_conf("otherName:msUPN;UTF8:u@example.com"));
    return gns;
}

TEST(san_list_cert)
{
    GENERAL_NAMES *gns = sample_names();
    X509_NAME *n = NULL;
    X509 *x = NULL;
    struct san_list l = SAN_LIST_INIT;
    char *s = NULL, *theirs = NULL, path[256], cmd[600], why[256];

    CHECK_OK(name_parse_dn(&n, "CN=a.example"));
    x = n ? make_cert(n, gns) : NULL;
    CHECK(x != NULL);
    if (x == NULL)
        goto out;
    CHECK_OK(san_from_cert(&l, x));
    CHECK_INT(l.n, 6);
    if (l.n == 6) {
        CHECK_INT(l.e[0].type, GEN_DNS);
        CHECK_STR(l.e[0].value, "a.example");
        CHECK_INT(l.e[1].type, GEN_IPADD);
        CHECK_STR(l.e[1].value, "192.0.2.1");
        CHECK_STR(l.e[2].value, "2001:db8::1");
        CHECK_INT(l.e[3].type, GEN_EMAIL);
        CHECK_STR(l.e[3].value, "x@y.example");
        CHECK_INT(l.e[4].type, GEN_URI);
        CHECK_INT(l.e[5].type, GEN_OTHERNAME);
        CHECK_STR(l.e[5].value, "UPN:u@example.com");
    }
    CHECK_OK(san_list_check(&l, why, sizeof(why)));
    /* the text is what OpenSSL prints */
    CHECK_OK(san_list_to_string(&s, &l));
    snprintf(path, sizeof(path), "%s/san.pem", tmpdir);
    CHECK(write_pem(path, x));
    snprintf(cmd, sizeof(cmd), "openssl x509 -noout -ext subjectAltName -in '%s'", path);
    theirs = run_line(cmd, 1);
    CHECK(theirs != NULL);
    if (s != NULL && theirs != NULL)
        CHECK_STR(s, theirs + strspn(theirs, " "));
out:
    free(s);
    free(theirs);
    san_list_free(&l);
    san_list_free(&l); /* idempotent */
    san_list_free(NULL);
    X509_free(x);
    X509_NAME_free(n);
    GENERAL_NAMES_free(gns);
}

TEST(san_list_more_types)
{
    GENERAL_NAMES *gns = GENERAL_NAMES_new();
    X509_NAME *n = NULL;
    X509 *x = NULL;
    struct san_list l = SAN_LIST_INIT;
    char *s = NULL, *theirs = NULL, path[256], cmd[600];

    GENERAL_NAME *dir = GENERAL_NAME_new();

    CHECK_OK(name_parse_dn(&n, "CN=x"));
    GENERAL_NAME_set0_value(dir, GEN_DIRNAME, X509_NAME_dup(n));
    sk_GENERAL_NAME_push(gns, dir);
    sk_GENERAL_NAME_push(gns, gn_conf("RID:1.2.3.4"));
    x = make_cert(n, gns);
    CHECK(x != NULL);
    if (x == NULL)
        goto out;
    CHECK_OK(san_from_cert(&l, x));
    CHECK_INT(l.n, 2);
    CHECK_OK(san_list_to_string(&s, &l));
    CHECK_STR(s, "DirName:/CN=x, Registered ID:1.2.3.4");
    snprintf(path, sizeof(path), "%s/san2.pem", tmpdir);
    CHECK(write_pem(path, x));
    snprintf(cmd, sizeof(cmd), "openssl x509 -noout -ext subjectAltName -in '%s'", path);
    theirs = run_line(cmd, 1);
    if (s != NULL && theirs != NULL)
        CHECK_STR(s, theirs + strspn(theirs, " "));
    /* certmint issues no registeredID names */
    CHECK_ERR(san_list_check(&l, NULL, 0), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "entry 2: subjectAltName type Registered ID is not supported") !=
          NULL);
out:
    free(s);
    free(theirs);
    san_list_free(&l);
    X509_free(x);
    X509_NAME_free(n);
    GENERAL_NAMES_free(gns);
}

TEST(san_list_bad)
{
    static const unsigned char ip8[8] = {192, 0, 2, 0, 255, 255, 255, 0};
    struct san_list l = SAN_LIST_INIT;
    GENERAL_NAMES *gns;
    char why[256], *s = NULL;

    /* an embedded NUL is refused outright */
    gns = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_DNS, "good.example\0.evil.example", 26));
    CHECK_ERR(san_from_names(&l, gns), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "NUL") != NULL);
    CHECK(l.n == 0 && l.e == NULL);
    GENERAL_NAMES_free(gns);

    /* bad entries decode but fail the check, naming the entry */
    gns = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_DNS, "ok.example", 10));
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_DNS, "bad_name.example", 16));
    CHECK_OK(san_from_names(&l, gns));
    CHECK_ERR(san_list_check(&l, why, sizeof(why)), CM_ERR_INVALID);
    CHECK(strstr(why, "entry 2: DNS name 'bad_name.example': underscore") != NULL);
    san_list_free(&l);
    GENERAL_NAMES_free(gns);

    /* an 8-octet iPAddress (a name-constraints form) is not a SAN */
    gns = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(gns, gn_ip(ip8, 8));
    CHECK_OK(san_from_names(&l, gns));
    CHECK(l.n == 1 && strcmp(l.e[0].value, "<invalid:C0000200FFFFFF00>") == 0);
    CHECK_ERR(san_list_check(&l, why, sizeof(why)), CM_ERR_INVALID);
    CHECK_OK(san_list_to_string(&s, &l));
    CHECK_STR(s, "IP Address:<invalid>");
    free(s);
    s = NULL;
    san_list_free(&l);
    GENERAL_NAMES_free(gns);

    /* bad URI and email entries */
    gns = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_URI, "urn:x", 5));
    CHECK_OK(san_from_names(&l, gns));
    CHECK_ERR(san_list_check(&l, why, sizeof(why)), CM_ERR_INVALID);
    CHECK(strstr(why, "no authority") != NULL);
    san_list_free(&l);
    GENERAL_NAMES_free(gns);
    gns = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_EMAIL, "nobody", 6));
    CHECK_OK(san_from_names(&l, gns));
    CHECK_ERR(san_list_check(&l, why, sizeof(why)), CM_ERR_INVALID);
    CHECK(strstr(why, "email address 'nobody'") != NULL);
    san_list_free(&l);
    GENERAL_NAMES_free(gns);

    /* empty list: fine, prints as "" */
    CHECK_OK(san_from_names(&l, NULL));
    CHECK_OK(san_list_check(&l, why, sizeof(why)));
    CHECK_OK(san_list_to_string(&s, &l));
    CHECK_STR(s, "");
    free(s);
}

TEST(san_list_dup_ext)
{
    X509_NAME *n = NULL;
    X509 *x = NULL;
    struct san_list l = SAN_LIST_INIT;
    GENERAL_NAMES *gns = GENERAL_NAMES_new();
    X509_EXTENSION *ext = NULL;

    sk_GENERAL_NAME_push(gns, gn_ia5(GEN_DNS, "a.example", 9));
    CHECK_OK(name_parse_dn(&n, "CN=x"));
    x = make_cert(n, gns);
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gns);
    CHECK(x != NULL && ext != NULL && X509_add_ext(x, ext, -1));
    CHECK_ERR(san_from_cert(&l, x), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "more than one subjectAltName") != NULL);
    san_list_free(&l);
    X509_EXTENSION_free(ext);
    X509_free(x);
    X509_NAME_free(n);
    GENERAL_NAMES_free(gns);
}

static X509_REQ *make_req(int nsan)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *r = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    GENERAL_NAMES *gns = sample_names();
    int i;
    X509_REQ_set_pubkey(r, k);
    for (i = 0; i < nsan; i++)
        sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, gns));
    if (nsan > 0)
        X509_REQ_add_extensions(r, exts);
    X509_REQ_sign(r, k, EVP_sha256());
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gns);
    EVP_PKEY_free(k);
    return r;
}

TEST(san_list_req)
{
    X509_REQ *r = make_req(1);
    struct san_list l = SAN_LIST_INIT;
    char *s = NULL;
    CHECK_OK(san_from_req(&l, r));
    CHECK_INT(l.n, 6);
    CHECK_OK(san_list_to_string(&s, &l));
    CHECK_STR(s, "DNS:a.example, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1, "
                 "email:x@y.example, URI:http://h.example/x, othername: UPN::u@example.com");
    free(s);
    san_list_free(&l);
    X509_REQ_free(r);

    /* no extensionRequest: empty list */
    r = make_req(0);
    CHECK_OK(san_from_req(&l, r));
    CHECK_INT(l.n, 0);
    X509_REQ_free(r);

    /* two SAN extensions requested: refused */
    r = make_req(2);
    CHECK_ERR(san_from_req(&l, r), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "more than one subjectAltName") != NULL);
    X509_REQ_free(r);

    /* a malformed extensionRequest value */
    r = make_req(0);
    {
        ASN1_INTEGER *i = ASN1_INTEGER_new();
        ASN1_INTEGER_set(i, 5);
        X509_REQ_add1_attr_by_NID(r, NID_ext_req, V_ASN1_INTEGER, (unsigned char *)i, -1);
        ASN1_INTEGER_free(i);
    }
    CHECK_ERR(san_from_req(&l, r), CM_ERR_INVALID);
    X509_REQ_free(r);
}

/* ------------------------------------------------------------------------ */
/* name_check_entry / name_check: names as a CSR may carry them */

/* The fault name_check_entry finds in one attribute of type nid holding
 * len raw bytes of ASN.1 string type type; why gets the reason. */
static enum name_fault entry_fault(int nid, int type, const char *v, int len, char *why,
                                   size_t whysz)
{
    X509_NAME_ENTRY *e =
        X509_NAME_ENTRY_create_by_NID(NULL, nid, type, (const unsigned char *)v, len);
    enum name_fault f;
    why[0] = '\0';
    if (e == NULL)
        return (enum name_fault) - 1;
    f = name_check_entry(e, why, whysz);
    X509_NAME_ENTRY_free(e);
    return f;
}

#define CHECK_FAULT(nid, type, v, len, want, text)                                                 \
    do {                                                                                           \
        char why_[400];                                                                            \
        enum name_fault f_ = entry_fault(nid, type, v, len, why_, sizeof(why_));                   \
        CHECK_INT((int)f_, (int)(want));                                                           \
        if ((text) != NULL && strstr(why_, (text) ? (text) : "") == NULL)                          \
            UNIT_FAIL("reason '%s' lacks '%s'", why_, (text) ? (text) : "");                       \
    } while (0)

TEST(check_entries)
{
    char big[20001];
    const int U = V_ASN1_UTF8STRING, P = V_ASN1_PRINTABLESTRING, I = V_ASN1_IA5STRING;

    /* Good values, at the bounds. */
    memset(big, 'a', sizeof(big));
    CHECK_FAULT(NID_commonName, U, big, 64, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_commonName, P, "Device 42 (lab), rack-7/A", -1, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_commonName, U, "J\xc3\xb6rg M\xc3\xbcller \xe2\x82\xac", -1, NAME_FAULT_NONE,
                NULL);
    CHECK_FAULT(NID_organizationName, U, big, 64, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_organizationalUnitName, U, big, 64, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_localityName, U, big, 128, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_stateOrProvinceName, U, big, 128, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_serialNumber, P, "1234567890", -1, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_countryName, P, "DE", -1, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_pkcs9_emailAddress, I, "alice@example.org", -1, NAME_FAULT_NONE, NULL);
    CHECK_FAULT(NID_domainComponent, I, "example", -1, NAME_FAULT_NONE, NULL);

    /* Upper bounds: counted in characters (a 64-character UTF-8 CN of
     * 2-byte characters passes, 65 do not). */
    CHECK_FAULT(NID_commonName, U, big, 65, NAME_FAULT_LENGTH, "65 characters");
    CHECK_FAULT(NID_commonName, U, big, 300, NAME_FAULT_LENGTH, "upper bound of 64");
    CHECK_FAULT(NID_organizationName, U, big, 20000, NAME_FAULT_LENGTH, "20000 characters");
    CHECK_FAULT(NID_organizationalUnitName, U, big, 65, NAME_FAULT_LENGTH, NULL);
    CHECK_FAULT(NID_localityName, U, big, 129, NAME_FAULT_LENGTH, "upper bound of 128");
    CHECK_FAULT(NID_stateOrProvinceName, U, big, 129, NAME_FAULT_LENGTH, NULL);
    CHECK_FAULT(NID_serialNumber, P, big, 65, NAME_FAULT_LENGTH, NULL);
    {
        char e[300];
        memset(e, 'e', sizeof(e));
        memcpy(e + 244, "@example.com", 12); /* 256 octets */
        CHECK_FAULT(NID_pkcs9_emailAddress, I, e, 256, NAME_FAULT_LENGTH, "upper bound of 255");
    }
    {
        char u[200];
        for (int i = 0; i < 64; i++)
            memcpy(u + 2 * i, "\xc3\xa9", 2);
        CHECK_FAULT(NID_commonName, U, u, 128, NAME_FAULT_NONE, NULL);
        memcpy(u + 128, "\xc3\xa9", 2);
        CHECK_FAULT(NID_commonName, U, u, 130, NAME_FAULT_LENGTH, "65 characters");
    }
    CHECK_FAULT(NID_countryName, P, "DEU", -1, NAME_FAULT_LENGTH, NULL);

    /* Character sets and controls. */
    CHECK_FAULT(NID_commonName, U, "a\r\nb", -1, NAME_FAULT_CHARSET, "control character 0x0D");
    CHECK_FAULT(NID_commonName, U, "\x1b[31m", -1, NAME_FAULT_CHARSET, "0x1B");
    CHECK_FAULT(NID_commonName, U, "a\x7f", -1, NAME_FAULT_CHARSET, "0x7F");
    CHECK_FAULT(NID_commonName, U,
                "a\xc2\x9b"
                "b",
                -1, NAME_FAULT_CHARSET, "U+009B");
    CHECK_FAULT(NID_commonName, U, "a\xc2\x85", -1, NAME_FAULT_CHARSET, "U+0085");
    CHECK_FAULT(NID_commonName, U, "a\0b", 3, NAME_FAULT_CHARSET, "0x00");
    CHECK_FAULT(NID_commonName, U, "a\xff", -1, NAME_FAULT_CHARSET, "invalid UTF-8");
    CHECK_FAULT(NID_commonName, U, "\xc0\xaf", -1, NAME_FAULT_CHARSET, "0xC0");
    CHECK_FAULT(NID_commonName, U, "\xed\xa0\x80", -1, NAME_FAULT_CHARSET, "surrogate");
    CHECK_FAULT(NID_commonName, U, "ab\xe2\x82", -1, NAME_FAULT_CHARSET, "truncated");
    CHECK_FAULT(NID_commonName, P, "a@b", -1, NAME_FAULT_CHARSET, "PrintableString");
    CHECK_FAULT(NID_commonName, P, "a*b", -1, NAME_FAULT_CHARSET, "PrintableString");
    CHECK_FAULT(NID_commonName, P, "a\nb", -1, NAME_FAULT_CHARSET, "0x0A");
    CHECK_FAULT(NID_pkcs9_emailAddress, I, "a\xc3\xa9@example.com", -1, NAME_FAULT_CHARSET,
                "not ASCII");
    CHECK_FAULT(NID_pkcs9_emailAddress, I, "a\t@example.com", -1, NAME_FAULT_CHARSET, "0x09");
    /* The reason shows the value escaped: no raw control byte in it. */
    {
        char why[400];
        entry_fault(NID_commonName, U, "x\r\nBcc: y", -1, why, sizeof(why));
        CHECK(strstr(why, "'x\\x0D\\x0ABcc: y'") != NULL);
        CHECK(strchr(why, '\r') == NULL && strchr(why, '\n') == NULL);
    }

    /* Empty values and string types. */
    CHECK_FAULT(NID_commonName, U, "", 0, NAME_FAULT_EMPTY, "commonName is empty");
    CHECK_FAULT(NID_countryName, P, "", 0, NAME_FAULT_EMPTY, NULL);
    CHECK_FAULT(NID_commonName, V_ASN1_BMPSTRING, "\0a\0b", 4, NAME_FAULT_TYPE, "BMPString");
    CHECK_FAULT(NID_commonName, V_ASN1_T61STRING, "abc", -1, NAME_FAULT_TYPE, "TeletexString");
    CHECK_FAULT(NID_commonName, I, "abc", -1, NAME_FAULT_TYPE, "IA5String");
    CHECK_FAULT(NID_countryName, U, "DE", -1, NAME_FAULT_TYPE, "allow only PrintableString");
    CHECK_FAULT(NID_serialNumber, U, "123", -1, NAME_FAULT_TYPE, NULL);
    CHECK_FAULT(NID_pkcs9_emailAddress, U, "a@example.com", -1, NAME_FAULT_TYPE, "IA5String");
    CHECK_FAULT(NID_pkcs9_unstructuredName, U, "x", -1, NAME_FAULT_TYPE, "not one certmint");

    /* Values. */
    CHECK_FAULT(NID_countryName, P, "de", -1, NAME_FAULT_VALUE, "upper-case");
    CHECK_FAULT(NID_countryName, P, "1A", -1, NAME_FAULT_VALUE, NULL);
    CHECK_FAULT(NID_pkcs9_emailAddress, I, "no address", -1, NAME_FAULT_VALUE, "emailAddress");
    CHECK_FAULT(NID_pkcs9_emailAddress, I, "a@b@example.com", -1, NAME_FAULT_VALUE, NULL);

    /* name_check: the first bad attribute, named; a parsed DN passes. */
    {
        X509_NAME *n = NULL;
        CHECK_OK(
            name_parse_dn(&n, "/C=DE/O=Example/CN=www.example.com/emailAddress=a@example.com"));
        CHECK_OK(name_check(n, "subject"));
        CHECK(X509_NAME_add_entry_by_NID(n, NID_organizationalUnitName, V_ASN1_UTF8STRING,
                                         (const unsigned char *)"a\x1b"
                                                                "b",
                                         -1, -1, 0));
        CHECK_ERR(name_check(n, "subject"), CM_ERR_INVALID);
        CHECK(strstr(cm_err_msg(), "subject: organizationalUnitName 'a\\x1Bb'") != NULL);
        X509_NAME_free(n);
    }
}

int main(void)
{
    unit_suite = "name";
    if (mkdtemp(tmpdir) == NULL) {
        printf("not ok - name: mkdtemp failed\n");
        return 1;
    }
    RUN(dn_forms);
    RUN(dn_types);
    RUN(dn_escapes);
    RUN(dn_multivalued);
    RUN(dn_cn_email);
    RUN(dn_rejects);
    RUN(dn_matches_openssl);
    RUN(dn_plain_matches_print_ex);
    RUN(dn_cn_ascii_copy);
    RUN(san_dns);
    RUN(san_ip);
    RUN(san_email);
    RUN(san_uri);
    RUN(san_uri_parts);
    RUN(san_list_cert);
    RUN(san_list_more_types);
    RUN(san_list_bad);
    RUN(san_list_dup_ext);
    RUN(san_list_req);
    RUN(check_entries);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", tmpdir);
    }
    return UNIT_DONE();
}
