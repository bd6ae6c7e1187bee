/* name_csr: writes a PKCS#10 request whose subject and subjectAltName carry
 * exactly the bytes and ASN.1 string types given, for the hostile-name
 * tests (tests/e2e/hostile_names.sh). `openssl req` refuses or re-encodes
 * much of what a hostile client can send (invalid UTF-8, BMPString, control
 * bytes in a PrintableString); this tool sets the values raw.
 *
 *   name_csr KEY.pem OUT.pem [ITEM]...
 *
 * ITEM:
 *   ATTR:TYPE:HEX   a subject attribute, in order (each its own RDN). ATTR is
 *                   an OpenSSL short name (CN, O, C, emailAddress, ...) or a
 *                   dotted OID; TYPE utf8, printable, ia5, bmp, t61 or
 *                   universal; HEX the value's bytes in hex ("" = empty).
 *   san:KIND:HEX    a subjectAltName entry: KIND dns, email or uri (an
 *                   IA5String holding the bytes) or ip (HEX of 4 or 16
 *                   octets).
 * The request is signed with KEY (SHA-256; none for Ed25519). */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex into a malloc'ed buffer; -1 on bad input. */
static long unhex(unsigned char **out, const char *h)
{
    size_t n = strlen(h), i;
    unsigned char *b;
    if (n % 2 != 0)
        return -1;
    b = malloc(n / 2 + 1);
    if (b == NULL)
        return -1;
    for (i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)h[2 * i]), lo = hexval((unsigned char)h[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return -1;
        }
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = b;
    return (long)(n / 2);
}

static int string_type(const char *t)
{
    static const struct {
        const char *name;
        int type;
    } types[] = {{"utf8", V_ASN1_UTF8STRING}, {"printable", V_ASN1_PRINTABLESTRING},
                 {"ia5", V_ASN1_IA5STRING},   {"bmp", V_ASN1_BMPSTRING},
                 {"t61", V_ASN1_T61STRING},   {"universal", V_ASN1_UNIVERSALSTRING}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, t) == 0)
            return types[i].type;
    return -1;
}

/* Adds ATTR:TYPE:HEX to n; 0 on success. */
static int add_attr(X509_NAME *n, char *item)
{
    char *t = strchr(item, ':'), *h;
    unsigned char *v = NULL;
    long len;
    int type, ok;
    ASN1_OBJECT *obj = NULL;
    X509_NAME_ENTRY *ne = NULL;

    if (t == NULL || (h = strchr(t + 1, ':')) == NULL)
        return -1;
    *t++ = '\0';
    *h++ = '\0';
    type = string_type(t);
    obj = OBJ_txt2obj(item, 0);
    len = unhex(&v, h);
    if (type < 0 || obj == NULL || len < 0) {
        ASN1_OBJECT_free(obj);
        free(v);
        return -1;
    }
    /* A V_ASN1_* type (not MBSTRING_*) stores the bytes as they are. */
    ne = X509_NAME_ENTRY_create_by_OBJ(NULL, obj, type, v, (int)len);
    ok = ne != NULL && X509_NAME_add_entry(n, ne, -1, 0);
    X509_NAME_ENTRY_free(ne);
    ASN1_OBJECT_free(obj);
    free(v);
    return ok ? 0 : -1;
}

/* Adds san:KIND:HEX to gens; 0 on success. */
static int add_san(GENERAL_NAMES *gens, const char *kind, const char *hex)
{
    unsigned char *v = NULL;
    long len = unhex(&v, hex);
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *s = NULL;
    int type;

    if (len < 0 || g == NULL)
        goto bad;
    if (strcmp(kind, "dns") == 0)
        type = GEN_DNS;
    else if (strcmp(kind, "email") == 0)
        type = GEN_EMAIL;
    else if (strcmp(kind, "uri") == 0)
        type = GEN_URI;
    else if (strcmp(kind, "ip") == 0)
        type = GEN_IPADD;
    else
        goto bad;
    s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (s == NULL || !ASN1_STRING_set(s, v, (int)len))
        goto bad;
    GENERAL_NAME_set0_value(g, type, s);
    s = NULL;
    if (!sk_GENERAL_NAME_push(gens, g))
        goto bad;
    free(v);
    return 0;
bad:
    ASN1_STRING_free(s);
    GENERAL_NAME_free(g);
    free(v);
    return -1;
}

int main(int argc, char **argv)
{
    FILE *f = NULL;
    EVP_PKEY *key = NULL;
    X509_REQ *req = NULL;
    X509_NAME *n = X509_NAME_new();
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    int rc = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: name_csr KEY.pem OUT.pem [ATTR:TYPE:HEX | san:KIND:HEX]...\n");
        return 2;
    }
    if ((f = fopen(argv[1], "r")) == NULL ||
        (key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL) {
        fprintf(stderr, "name_csr: cannot read key %s\n", argv[1]);
        goto out;
    }
    fclose(f);
    f = NULL;
    for (int i = 3; i < argc; i++) {
        char *item = argv[i];
        if (strncmp(item, "san:", 4) == 0) {
            char *kind = item + 4, *hex = strchr(kind, ':');
            if (hex == NULL) {
                fprintf(stderr, "name_csr: bad item '%s'\n", item);
                goto out;
            }
            *hex++ = '\0';
            if (add_san(gens, kind, hex) != 0) {
                fprintf(stderr, "name_csr: bad SAN '%s:%s'\n", kind, hex);
                goto out;
            }
        } else if (add_attr(n, item) != 0) {
            fprintf(stderr, "name_csr: bad attribute item\n");
            goto out;
        }
    }
    req = X509_REQ_new();
    if (req == NULL || !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, n) ||
        !X509_REQ_set_pubkey(req, key))
        goto out;
    if (sk_GENERAL_NAME_num(gens) > 0) {
        X509_EXTENSION *e = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
        exts = sk_X509_EXTENSION_new_null();
        if (e == NULL || exts == NULL || !sk_X509_EXTENSION_push(exts, e)) {
            X509_EXTENSION_free(e);
            goto out;
        }
        if (!X509_REQ_add_extensions(req, exts))
            goto out;
    }
    if (X509_REQ_sign(req, key, EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256()) <= 0)
        goto out;
    if ((f = fopen(argv[2], "w")) == NULL || !PEM_write_X509_REQ(f, req))
        goto out;
    rc = 0;
out:
    if (f != NULL && fclose(f) != 0)
        rc = 1;
    if (rc != 0)
        fprintf(stderr, "name_csr: failed\n");
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(n);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return rc;
}
