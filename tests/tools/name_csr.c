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
 * The request is signed with KEY (SHA-256; none for Ed25519).
 *
 * OpenSSL cannot encode a name holding invalid UTF-8 (it canonicalizes
 * names when encoding them), so UTF8String values of 4 or more bytes are
 * first set to a unique placeholder of the same length, and the real bytes
 * are put in the encoded request before it is signed. */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values to put in place of their placeholders after encoding. */
#define MAX_PATCH 64
static struct patch {
    unsigned char *real, *ph;
    size_t len;
} patches[MAX_PATCH];
static size_t npatch;

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
    if (type == V_ASN1_UTF8STRING && len >= 4 && npatch < MAX_PATCH) {
        struct patch *pt = &patches[npatch];
        pt->real = v;
        pt->len = (size_t)len;
        pt->ph = malloc((size_t)len);
        if (pt->ph == NULL)
            return -1;
        memset(pt->ph, '~', (size_t)len);
        snprintf((char *)pt->ph, 4, "#%02zX", npatch);
        pt->ph[3] = '#';
        v = malloc((size_t)len);
        if (v == NULL)
            return -1;
        memcpy(v, pt->ph, (size_t)len);
        npatch++;
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

/* DER length octets of n into b; returns their count. */
static size_t der_len(unsigned char *b, size_t n)
{
    if (n < 0x80) {
        b[0] = (unsigned char)n;
        return 1;
    }
    if (n < 0x100) {
        b[0] = 0x81;
        b[1] = (unsigned char)n;
        return 2;
    }
    if (n < 0x10000) {
        b[0] = 0x82;
        b[1] = (unsigned char)(n >> 8);
        b[2] = (unsigned char)n;
        return 3;
    }
    b[0] = 0x83;
    b[1] = (unsigned char)(n >> 16);
    b[2] = (unsigned char)(n >> 8);
    b[3] = (unsigned char)n;
    return 4;
}

/* Encodes the request info, swaps the placeholders for the real bytes,
 * signs that, and writes the request as PEM. */
static int sign_write(X509_REQ *req, EVP_PKEY *key, const char *path)
{
    int ed = EVP_PKEY_is_a(key, "ED25519");
    unsigned char *tbs = NULL, *alg = NULL, *sig = NULL, *der = NULL, hdr[8];
    int tbslen, alglen, ok = 0;
    size_t siglen = 0, body, n, i;
    const X509_ALGOR *palg = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    FILE *f = NULL;

    /* The signature algorithm is set by signing once. */
    if (md == NULL || X509_REQ_sign(req, key, ed ? NULL : EVP_sha256()) <= 0)
        goto out;
    X509_REQ_get0_signature(req, NULL, &palg);
    if ((tbslen = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0 ||
        (alglen = i2d_X509_ALGOR(palg, &alg)) <= 0)
        goto out;
    for (i = 0; i < npatch; i++) {
        unsigned char *p = tbs, *end = tbs + tbslen;
        int found = 0;
        for (; p + patches[i].len <= end; p++)
            if (memcmp(p, patches[i].ph, patches[i].len) == 0) {
                memcpy(p, patches[i].real, patches[i].len);
                found = 1;
                break;
            }
        if (!found)
            goto out;
    }
    if (EVP_DigestSignInit(md, NULL, ed ? NULL : EVP_sha256(), NULL, key) <= 0 ||
        EVP_DigestSign(md, NULL, &siglen, tbs, (size_t)tbslen) <= 0 ||
        (sig = malloc(siglen)) == NULL ||
        EVP_DigestSign(md, sig, &siglen, tbs, (size_t)tbslen) <= 0)
        goto out;
    /* CertificationRequest ::= SEQUENCE { info, algorithm, BIT STRING } */
    n = der_len(hdr, siglen + 1);
    body = (size_t)tbslen + (size_t)alglen + 1 + n + 1 + siglen;
    der = malloc(body + 8);
    if (der == NULL)
        goto out;
    i = 0;
    der[i++] = 0x30;
    i += der_len(der + i, body);
    memcpy(der + i, tbs, (size_t)tbslen);
    i += (size_t)tbslen;
    memcpy(der + i, alg, (size_t)alglen);
    i += (size_t)alglen;
    der[i++] = 0x03;
    memcpy(der + i, hdr, n);
    i += n;
    der[i++] = 0x00;
    memcpy(der + i, sig, siglen);
    i += siglen;
    if ((f = fopen(path, "w")) == NULL || !PEM_write(f, "CERTIFICATE REQUEST", "", der, (long)i))
        goto out;
    ok = 1;
out:
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    EVP_MD_CTX_free(md);
    OPENSSL_free(tbs);
    OPENSSL_free(alg);
    free(sig);
    free(der);
    return ok ? 0 : -1;
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
    if (sign_write(req, key, argv[2]) != 0)
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
