/* Unit tests of the directory layer's pure helpers: filter escaping
 * (RFC 4515), the certificate's e-mail address, X.509 names as LDAP DNs
 * (RFC 4514), DN comparison, URI checks and the ldap.* key validators. The
 * parts that talk to a server are tested against a real slapd in
 * tests/e2e/ldap_dir.sh. */
#include "ldap/dir.h"
#include "exit/exit.h"
#include "ldap/ldap_keys.h"
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

static char *esc(const char *in, size_t len)
{
    char *out = NULL;
    if (dir_filter_escape(&out, in, len) != CM_OK)
        return NULL;
    return out;
}

TEST(filter_escape)
{
    char *s;
    s = esc("alice@example.org", 17);
    CHECK_STR(s, "alice@example.org");
    free(s);
    /* RFC 4515 3: the five characters that must be escaped. */
    s = esc("a*b(c)d\\e", 9);
    CHECK_STR(s, "a\\2ab\\28c\\29d\\5ce");
    free(s);
    s = esc("x\0y", 3);
    CHECK_STR(s, "x\\00y");
    free(s);
    /* Non-ASCII (UTF-8 "é") and controls are escaped octet by octet. */
    s = esc("\xc3\xa9\n", 3);
    CHECK_STR(s, "\\c3\\a9\\0a");
    free(s);
    s = esc("", 0);
    CHECK_STR(s, "");
    free(s);
    /* An injection attempt stays one value. */
    s = esc("*)(objectClass=*", 16);
    CHECK_STR(s, "\\2a\\29\\28objectClass=\\2a");
    free(s);
}

/* A self-signed certificate with the given subject entries and SAN. */
static X509 *make_cert(const char *const *subj, const char *san)
{
    X509 *x = X509_new();
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_NAME *n = X509_NAME_new();

    for (size_t i = 0; subj && subj[i]; i += 2)
        X509_NAME_add_entry_by_txt(n, subj[i], MBSTRING_UTF8, (const unsigned char *)subj[i + 1],
                                   -1, -1, 0);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    if (san) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, k, EVP_sha256());
    X509_NAME_free(n);
    EVP_PKEY_free(k);
    return x;
}

TEST(cert_email)
{
    static const char *const subj_mail[] = {"CN", "Alice", "emailAddress", "subject@example.org",
                                            NULL};
    static const char *const subj_plain[] = {"CN", "Bob", NULL};
    char *e = NULL;
    X509 *x;

    /* The first rfc822Name wins over DNS names before it and the subject. */
    x = make_cert(subj_mail,
                  "DNS:host.example.org, email:san@example.org, email:second@example.org");
    CHECK_OK(dir_cert_email(&e, x));
    CHECK_STR(e, "san@example.org");
    free(e);
    X509_free(x);
    /* No rfc822Name: the subject's emailAddress. */
    x = make_cert(subj_mail, "DNS:host.example.org");
    CHECK_OK(dir_cert_email(&e, x));
    CHECK_STR(e, "subject@example.org");
    free(e);
    X509_free(x);
    x = make_cert(subj_mail, NULL);
    CHECK_OK(dir_cert_email(&e, x));
    CHECK_STR(e, "subject@example.org");
    free(e);
    X509_free(x);
    /* Neither: NULL and no error. */
    x = make_cert(subj_plain, "DNS:host.example.org");
    e = (char *)"sentinel";
    CHECK_OK(dir_cert_email(&e, x));
    CHECK(e == NULL);
    X509_free(x);
    /* Not an address: refused, not looked up. */
    x = make_cert(subj_plain, "email:no-at-sign");
    CHECK_ERR(dir_cert_email(&e, x), CM_ERR_INVALID);
    CHECK(e == NULL);
    X509_free(x);
    x = make_cert(subj_plain, "email:a b@example.org");
    CHECK_ERR(dir_cert_email(&e, x), CM_ERR_INVALID);
    X509_free(x);
}

TEST(cert_email_embedded_nul)
{
    static const char *const subj[] = {"CN", "Mallory", NULL};
    X509 *x = make_cert(subj, NULL);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    char *e = NULL;

    /* "victim@example.org\0@evil.example": a NUL must not cut the address. */
    ASN1_STRING_set(ia5, "victim@example.org\0@evil.example", 33);
    GENERAL_NAME_set0_value(g, GEN_EMAIL, ia5);
    sk_GENERAL_NAME_push(gens, g);
    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
    GENERAL_NAMES_free(gens);
    CHECK_ERR(dir_cert_email(&e, x), CM_ERR_INVALID);
    CHECK(e == NULL);
    X509_free(x);
}

static char *name_dn(const char *const *entries, const int *sets)
{
    X509_NAME *n = X509_NAME_new();
    char *dn = NULL;
    for (size_t i = 0; entries[i]; i += 2)
        X509_NAME_add_entry_by_txt(n, entries[i], MBSTRING_UTF8,
                                   (const unsigned char *)entries[i + 1], -1, -1,
                                   sets ? sets[i / 2] : 0);
    if (dir_name_to_dn(&dn, n) != CM_OK)
        dn = NULL;
    X509_NAME_free(n);
    return dn;
}

TEST(name_to_dn)
{
    static const char *const simple[] = {"DC",     "org", "DC",       "example", "OU",
                                         "people", "CN",  "Carol Dn", NULL};
    char *dn = name_dn(simple, NULL);
    /* RFC 4514 2.1: last RDN of the sequence first. */
    CHECK_STR(dn, "cn=Carol Dn,ou=people,dc=example,dc=org");
    free(dn);

    /* RFC 4514 2.4 escapes; multi-valued RDN joined with '+'. */
    static const char *const special[] = {"DC", "org", "CN", "Frank , Jr.", "UID", "frank", NULL};
    static const int sets[] = {0, 0, -1}; /* -1: same RDN as the entry before */
    dn = name_dn(special, sets);
    CHECK_STR(dn, "cn=Frank \\, Jr.+uid=frank,dc=org");
    free(dn);

    static const char *const edges[] = {
        "O", "#hash", "OU", " lead", "CN", "trail ", "L", "a+b=c;d<e>f\"g\\h", NULL};
    dn = name_dn(edges, NULL);
    CHECK_STR(dn, "l=a\\+b=c\\;d\\<e\\>f\\\"g\\\\h,cn=trail\\ ,ou=\\ lead,o=\\#hash");
    free(dn);

    /* UTF-8 is kept; emailAddress uses the LDAP name; unknown types are OIDs. */
    static const char *const other[] = {
        "C", "DE", "CN", "J\xc3\xbcrgen", "emailAddress", "j@example.de", "1.3.6.1.4.1.99999.1",
        "x", NULL};
    dn = name_dn(other, NULL);
    CHECK_STR(dn, "1.3.6.1.4.1.99999.1=x,email=j@example.de,cn=J\xc3\xbcrgen,c=DE");
    free(dn);

    X509_NAME *empty = X509_NAME_new();
    CHECK_OK(dir_name_to_dn(&dn, empty));
    CHECK_STR(dn, "");
    free(dn);
    X509_NAME_free(empty);
}

static int dn_eq(const char *a, const char *b)
{
    int eq = -1;
    if (dir_dn_equal(&eq, a, b) != CM_OK)
        return -1;
    return eq;
}

TEST(dn_equal)
{
    CHECK_INT(dn_eq("cn=Carol Dn,ou=people,dc=example,dc=org",
                    "CN=carol dn, OU=People, DC=Example, DC=ORG"),
              1);
    /* Type names and OIDs are the same attribute. */
    CHECK_INT(dn_eq("commonName=x,2.5.4.11=y,domainComponent=org", "cn=x,ou=y,dc=org"), 1);
    CHECK_INT(dn_eq("emailAddress=a@b.example", "email=a@b.example"), 1);
    /* Escaped and hex forms of the same value; insignificant spaces. */
    CHECK_INT(dn_eq("cn=Frank \\2C Jr.+uid=frank,dc=org", "uid=frank+cn=frank \\,  jr.,dc=org"), 1);
    CHECK_INT(dn_eq("cn=  a   b ,dc=org", "cn=a b,dc=org"), 1);
    /* Different. */
    CHECK_INT(dn_eq("cn=Carol,dc=org", "cn=Carol2,dc=org"), 0);
    CHECK_INT(dn_eq("cn=Carol,dc=org", "sn=Carol,dc=org"), 0);
    CHECK_INT(dn_eq("cn=Carol,dc=org", "cn=Carol,dc=example,dc=org"), 0);
    CHECK_INT(dn_eq("cn=a+uid=b,dc=org", "cn=a,uid=b,dc=org"), 0);
    CHECK_INT(dn_eq("cn=ab,dc=org", "cn=a b,dc=org"), 0);
    /* A BER (#hex) value only equals the same bytes. */
    CHECK_INT(dn_eq("cn=#0403616263", "cn=#0403616263"), 1);
    CHECK_INT(dn_eq("cn=#0403616263", "cn=abc"), 0);
    CHECK_INT(dn_eq("", ""), 1);
    /* Unparseable. */
    int eq = 5;
    CHECK_ERR(dir_dn_equal(&eq, "cn=a,=b", "cn=a"), CM_ERR_INVALID);
    CHECK_INT(eq, 0);
    CHECK_ERR(dir_dn_equal(&eq, "cn=a", "no equals sign"), CM_ERR_INVALID);
}

TEST(dn_is_under)
{
    int u = -1;
    CHECK_OK(dir_dn_is_under(&u, "cn=Carol,ou=people,dc=example,dc=org", "DC=Example,DC=Org"));
    CHECK_INT(u, 1);
    CHECK_OK(dir_dn_is_under(&u, "dc=example,dc=org", "dc=example,dc=org"));
    CHECK_INT(u, 1);
    CHECK_OK(dir_dn_is_under(&u, "cn=Carol,dc=other,dc=org", "dc=example,dc=org"));
    CHECK_INT(u, 0);
    /* RDN boundaries, not string suffixes. */
    CHECK_OK(dir_dn_is_under(&u, "cn=x,dc=myexample,dc=org", "dc=example,dc=org"));
    CHECK_INT(u, 0);
    CHECK_OK(dir_dn_is_under(&u, "dc=org", "dc=example,dc=org"));
    CHECK_INT(u, 0);
    CHECK_OK(dir_dn_is_under(&u, "cn=x", ""));
    CHECK_INT(u, 1);
    CHECK_ERR(dir_dn_is_under(&u, "cn=x,dc=org", "dc=org,"), CM_ERR_INVALID);
}

TEST(check_uri)
{
    CHECK_OK(dir_check_uri("ldap://ldap.example.org"));
    CHECK_OK(dir_check_uri("ldaps://ldap.example.org:636/"));
    CHECK_OK(dir_check_uri("ldap://127.0.0.1:3890"));
    CHECK_OK(dir_check_uri("ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi"));
    CHECK_OK(dir_check_uri("ldapi:///"));
    CHECK_ERR(dir_check_uri("http://ldap.example.org"), CM_ERR_CONFIG);
    CHECK_ERR(dir_check_uri("ldap://a.example ldap://b.example"), CM_ERR_CONFIG);
    CHECK_ERR(dir_check_uri("ldap://a.example,ldap://b.example"), CM_ERR_CONFIG);
    CHECK_ERR(dir_check_uri("ldap://a.example/dc=example,dc=org"), CM_ERR_CONFIG);
    CHECK_ERR(dir_check_uri("ldap://a.example/??sub?(cn=x)"), CM_ERR_CONFIG);
    CHECK_ERR(dir_check_uri("ldap:///"), CM_ERR_CONFIG);
    CHECK_ERR(dir_check_uri(""), CM_ERR_CONFIG);
    CHECK_ERR(dir_check_uri("ldap.example.org"), CM_ERR_CONFIG);
}

/* The declaration of a key, as registered (ldap.* by the directory client,
 * exit.ldap.* by the ldap exit module): exact patterns only. */
static const struct config_key *key(const char *name)
{
    const struct config_key *k = config_schema_find(name);
    return k != NULL && strcmp(k->pattern, name) == 0 ? k : NULL;
}

/* Runs the key's validator; returns the stored value or NULL (error). */
static char *check(const char *name, const char *old, const char *in)
{
    const struct config_key *k = key(name);
    char *out = NULL;
    if (k == NULL || k->check == NULL)
        return NULL;
    if (k->check(&out, k, old, in) != CM_OK)
        return NULL;
    return out;
}

TEST(keys_declared)
{
    static const char *const names[] = {"ldap.uri",
                                        "ldap.starttls",
                                        "ldap.cafile",
                                        "ldap.binddn",
                                        "ldap.password_file",
                                        "ldap.sasl_external",
                                        "ldap.base",
                                        "ldap.ca_entry",
                                        "ldap.timeout",
                                        "ldap.connect_timeout",
                                        "exit.ldap.eventfilter",
                                        "exit.ldap.profiles",
                                        NULL};
    for (size_t i = 0; names[i]; i++) {
        const struct config_key *k = key(names[i]);
        if (k == NULL)
            UNIT_FAIL("%s not declared", names[i]);
        else if (k->help == NULL || (k->type == CFG_CUSTOM && k->check == NULL))
            UNIT_FAIL("%s lacks help or validator", names[i]);
    }
    CHECK_STR(key("ldap.starttls")->def, "yes");
    CHECK_STR(key("exit.ldap.profiles")->def, "smime");
    CHECK_STR(key("ldap.timeout")->def, "10s");
    CHECK_STR(key("ldap.connect_timeout")->def, "5s");
}

TEST(key_eventfilter)
{
    char *v;
    v = check("exit.ldap.eventfilter", NULL, "crlissued, CERTISSUED");
    CHECK_STR(v, "CERTISSUED,CRLISSUED");
    free(v);
    /* Edits of the current value (the default when unset). */
    v = check("exit.ldap.eventfilter", NULL, "-STARTUP");
    CHECK_STR(v, "CERTISSUED,CERTREVOKED,CRLISSUED,CERTUNREVOKED,CERTIMPORTED");
    free(v);
    v = check("exit.ldap.eventfilter", NULL, "+CERTEXPIRING");
    CHECK_STR(v,
              "CERTISSUED,CERTREVOKED,CRLISSUED,STARTUP,CERTUNREVOKED,CERTIMPORTED,CERTEXPIRING");
    free(v);
    v = check("exit.ldap.eventfilter", "CERTISSUED,CRLISSUED", "-CRLISSUED,+CERTREVOKED");
    CHECK_STR(v, "CERTISSUED,CERTREVOKED");
    free(v);
    /* AD CS bit masks: 0x29 = CERTISSUED|CERTREVOKED|CRLISSUED. */
    v = check("exit.ldap.eventfilter", NULL, "0x29");
    CHECK_STR(v, "CERTISSUED,CERTREVOKED,CRLISSUED");
    free(v);
    v = check("exit.ldap.eventfilter", NULL, "1");
    CHECK_STR(v, "CERTISSUED");
    free(v);
    v = check("exit.ldap.eventfilter", NULL, "none");
    CHECK_STR(v, "NONE");
    free(v);
    CHECK(check("exit.ldap.eventfilter", NULL, "CERTISSUED,BOGUS") == NULL);
    CHECK(check("exit.ldap.eventfilter", NULL, "CERTISSUED,,CRLISSUED") == NULL);
    CHECK(check("exit.ldap.eventfilter", NULL, "0x8000") == NULL); /* beyond KEYRECOVERED */
    v = check("exit.ldap.eventfilter", NULL, "0x1000");
    CHECK_STR(v, "KEYARCHIVED"); /* issue 12 */
    free(v);
    CHECK(check("exit.ldap.eventfilter", NULL, "0xZZ") == NULL);
}

TEST(key_others)
{
    char *v;
    v = check("ldap.uri", NULL, "ldaps://ldap.example.org");
    CHECK_STR(v, "ldaps://ldap.example.org");
    free(v);
    CHECK(check("ldap.uri", NULL, "smtp://mail.example.org") == NULL);
    v = check("ldap.base", NULL, "ou=people,dc=example,dc=org");
    CHECK_STR(v, "ou=people,dc=example,dc=org");
    free(v);
    CHECK(check("ldap.base", NULL, "ou=people,,dc=org") == NULL);
    CHECK(check("ldap.ca_entry", NULL, "") == NULL);
    v = check("exit.ldap.profiles", NULL, "smime,smime-legacy");
    CHECK_STR(v, "smime,smime-legacy");
    free(v);
    CHECK(check("exit.ldap.profiles", NULL, "smime,,tls") == NULL);
    CHECK(check("exit.ldap.profiles", NULL, "sm ime") == NULL);
    CHECK(check("exit.ldap.profiles", NULL, ",smime") == NULL);
}

TEST(change_names)
{
    CHECK_STR(dir_change_name(DIR_UNCHANGED), "unchanged");
    CHECK_STR(dir_change_name(DIR_ADDED), "added");
    CHECK_STR(dir_change_name(DIR_REPLACED), "replaced");
    CHECK_STR(dir_change_name(DIR_REMOVED), "removed");
    CHECK_STR(dir_change_name(DIR_CREATED), "created");
    CHECK_INT(dir_values_count(NULL), 0);
}

int main(void)
{
    unit_suite = "dir";
    if (exit_registry_init() != CM_OK) {
        printf("not ok - dir: exit_registry_init: %s\n", cm_err_msg());
        return 1;
    }
    RUN(filter_escape);
    RUN(cert_email);
    RUN(cert_email_embedded_nul);
    RUN(name_to_dn);
    RUN(dn_equal);
    RUN(dn_is_under);
    RUN(check_uri);
    RUN(keys_declared);
    RUN(key_eventfilter);
    RUN(key_others);
    RUN(change_names);
    return UNIT_DONE();
}
