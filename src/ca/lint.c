/* Pre-issuance certificate lint. See lint.h and docs/lint.md.
 *
 * Each rule is a function over a context that holds the certificate, its
 * issuer and the extensions decoded once. A rule returns PASS, FAIL (with a
 * one-line explanation) or ERR (the lint itself failed, message set). All
 * rules run so that the message can list every failed rule. */
#include "ca/lint.h"

#include "ca/ca_int.h"
#include "ca/name.h"
#include "util/der.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

enum { PASS = 0, FAIL = 1, ERR = -1 };

#define WHY_MAX 512

/* One extension of the certificate, decoded (first occurrence). */
struct ext {
    int nid;
    int loc; /* its index among the certificate's extensions, -1: absent */
    int present;
    int crit;
    int bad;      /* present but does not decode */
    int borrowed; /* v belongs to the memo (lint_memo), not to this context */
    void *v;
};

/* The kinds of key the rules tell apart (LK_: keystore.h has KEY_ names). */
enum keykind { LK_NONE, LK_OTHER, LK_RSA, LK_EC, LK_ED25519 };

/* What a batch's certificates share, remembered between lint_cert_memo
 * calls (see lint.h). Every entry is a pure function of what it is keyed
 * by, and holds a reference on the objects it is keyed by, so that a key
 * or certificate freed and another allocated at the same address is never
 * taken for it. */
#define MEMO_EXTS 16
#define MEMO_KEYS 4
struct memo_ext {
    int nid;
    int crit;           /* X509_EXTENSION_get_critical */
    int enclen;         /* the whole Extension's DER length: tells an encoded
                         * critical FALSE (3 octets more) from an absent one */
    unsigned char *val; /* extnValue's octets */
    int len;
    void *v; /* decoded, NULL when no method decodes this type */
};
struct memo_key {
    EVP_PKEY *k; /* referenced */
    enum keykind kind;
    const char *ec_want; /* LK_EC: the digest its curve signs with (ec_md), or NULL */
};
struct lint_memo {
    /* Extensions that passed ext_der, der_default_value and der_boolean. */
    struct memo_ext ext[MEMO_EXTS];
    size_t next;
    struct memo_key key[MEMO_KEYS];
    size_t nkeys;
    /* sig_key: sk_key is the public key of sk_want (both referenced). */
    EVP_PKEY *sk_key, *sk_want;
    /* The issuer certificate (referenced) and its decoded SKI. */
    X509 *ski_issuer;
    struct ext ski;
};

/* The subject attribute faults of name_check_entry, one pass per
 * certificate: the first attribute with each fault and why. */
#define FAULTS (NAME_FAULT_VALUE + 1)

/* The most extensions read from a TBSCertificate's DER (lint_opts.tbs_der);
 * a certificate with more has each encoded again. */
#define TBS_EXTS 32

struct lctx {
    const X509 *x;
    const X509 *issuer; /* NULL when self-signed */
    const struct lint_opts *o;
    struct lint_memo *memo;   /* NULL: nothing remembered */
    const EVP_PKEY *sub_key;  /* subject public key, may be NULL */
    const EVP_PKEY *sign_key; /* the key that will sign */
    enum keykind sub_kind, sign_kind;
    const char *sign_ec_want; /* LK_EC signing key: its digest (ec_md), or NULL */
    int is_ca;
    int server_auth; /* EKU lists id-kp-serverAuth */
    struct ext bc, ku, eku, ski, aki, san, cdp, aia, pol;
    struct ext issuer_ski;
    /* The DER scan of every extension (ext_check_all), shared by the two
     * rules that read it: the index of the first extension that does not
     * encode, that encodes a BOOLEAN FALSE, that has a BOOLEAN that is not
     * DER; -1 for none. */
    int scan_noenc, scan_default, scan_badbool;
    /* rule ext_der's finding: FAIL with ext_der_why, or PASS. */
    int ext_der;
    char ext_der_why[WHY_MAX];
    /* The serial number's DER content octets: -1 when it does not encode,
     * else how many (first two in serial_b). */
    long serial_n;
    unsigned char serial_b[2];
    int fault_at[FAULTS]; /* subject attribute index, -1: none */
    char fault_why[FAULTS][WHY_MAX - 32];
    /* notBefore, notAfter and the issuer's notAfter in unix seconds
     * (ca_time_of, as issuance and describe read them), once for the three
     * rules that compare them: *_ok 0 when absent or not a time. */
    int64_t nb_t, na_t, ina_t;
    int nb_ok, na_ok, ina_ok;
    /* Each extension's DER in lint_opts.tbs_der, n_der of them (as many
     * as the certificate has); n_der -1: none to read (tbs_exts_load). */
    const unsigned char *ext_enc[TBS_EXTS];
    size_t ext_enc_len[TBS_EXTS];
    int n_der;
};

typedef int (*rule_fn)(struct lctx *c, char *why, size_t whysz);

static int fail(char *why, size_t whysz, const char *fmt, ...) CM_PRINTF(3, 4);
static int fail(char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
    return FAIL;
}

/* ------------------------------------------------------------------------ */
/* Context */

static void ext_load(struct ext *e, const X509 *x, int nid)
{
    int loc;
    X509_EXTENSION *ex;

    memset(e, 0, sizeof(*e));
    e->nid = nid;
    e->loc = -1;
    loc = X509_get_ext_by_NID(x, nid, -1);
    if (loc < 0)
        return;
    ex = X509_get_ext(x, loc);
    e->loc = loc;
    e->present = 1;
    e->crit = X509_EXTENSION_get_critical(ex);
    e->v = X509V3_EXT_d2i(ex);
    if (e->v == NULL) {
        e->bad = 1;
        ERR_clear_error();
    }
}

static void ext_value_free(int nid, void *v)
{
    const X509V3_EXT_METHOD *m;
    if (v == NULL)
        return;
    m = X509V3_EXT_get_nid(nid);
    assert(m != NULL && m->it != NULL);
    ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
}

static void ext_free(struct ext *e)
{
    if (!e->borrowed)
        ext_value_free(e->nid, e->v);
    e->v = NULL;
}

static enum keykind key_kind(const EVP_PKEY *k)
{
    if (k == NULL)
        return LK_NONE;
    if (EVP_PKEY_is_a(k, "RSA"))
        return LK_RSA;
    if (EVP_PKEY_is_a(k, "EC"))
        return LK_EC;
    if (EVP_PKEY_is_a(k, "ED25519"))
        return LK_ED25519;
    return LK_OTHER;
}

static int ec_md(const EVP_PKEY *k, const char **mdname)
{
    char group[64];
    size_t gl = 0;
    if (!EVP_PKEY_get_group_name(k, group, sizeof(group), &gl)) {
        ERR_clear_error();
        return -1;
    }
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
        *mdname = "SHA256";
    else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
        *mdname = "SHA384";
    else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
        *mdname = "SHA512";
    else
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The memo */

struct lint_memo *lint_memo_new(void)
{
    return calloc(1, sizeof(struct lint_memo));
}

void lint_memo_free(struct lint_memo *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->next; i++) {
        ext_value_free(m->ext[i].nid, m->ext[i].v);
        free(m->ext[i].val);
    }
    for (size_t i = 0; i < m->nkeys; i++)
        EVP_PKEY_free(m->key[i].k);
    EVP_PKEY_free(m->sk_key);
    EVP_PKEY_free(m->sk_want);
    ext_free(&m->ski);
    X509_free(m->ski_issuer);
    free(m);
}

/* A key's kind and, for an EC key, the digest its curve signs with
 * (NULL: none). */
struct key_info {
    enum keykind kind;
    const char *ec_want;
};

static struct key_info key_info_of(const EVP_PKEY *k)
{
    struct key_info ki = {key_kind(k), NULL};
    if (ki.kind == LK_EC && ec_md(k, &ki.ec_want) != 0)
        ki.ec_want = NULL;
    return ki;
}

/* key_info_of, remembered per key object (EVP_PKEY_is_a takes a lock in
 * the provider's name map, three per call). */
static struct key_info memo_key_info(struct lint_memo *m, const EVP_PKEY *k)
{
    struct key_info ki;

    if (m == NULL || k == NULL)
        return key_info_of(k);
    for (size_t i = 0; i < m->nkeys; i++)
        if (m->key[i].k == k)
            return (struct key_info){m->key[i].kind, m->key[i].ec_want};
    ki = key_info_of(k);
    if (m->nkeys < MEMO_KEYS && EVP_PKEY_up_ref((EVP_PKEY *)k)) {
        m->key[m->nkeys].k = (EVP_PKEY *)k;
        m->key[m->nkeys].kind = ki.kind;
        m->key[m->nkeys].ec_want = ki.ec_want;
        m->nkeys++;
    }
    return ki;
}

/* The memo's entry for ex: same type, criticality, value octets and
 * encoded length (enclen when known, else -1: encoded here), so that the
 * DER rules would find the same and the value decodes to the same. NULL
 * when there is none. */
static const struct memo_ext *memo_find(const struct lint_memo *m, X509_EXTENSION *ex, int nid,
                                        int enclen)
{
    const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ex);
    int len = ASN1_STRING_length(val), crit = X509_EXTENSION_get_critical(ex);

    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < m->next; i++) {
        const struct memo_ext *e = &m->ext[i];
        if (e->nid == nid && e->crit == crit && e->len == len &&
            memcmp(e->val, ASN1_STRING_get0_data(val), (size_t)len) == 0) {
            /* A critical one encodes its BOOLEAN (one content octet,
             * whatever its value): its length follows from the OID (one
             * per nid, NID_undef is never remembered) and the value, both
             * the entry's. Only a non-critical one may encode FALSE or
             * nothing, which its length tells (an encoding each). */
            if (crit)
                return e;
            if (enclen < 0)
                enclen = i2d_X509_EXTENSION(ex, NULL);
            return enclen == e->enclen ? e : NULL;
        }
    }
    return NULL;
}

/* Remembers ex, which passed the DER rules, with its decoded value *v
 * (taken: *v becomes the memo's). The extensions that differ from one
 * certificate to the next are not worth a place. */
static void memo_add(struct lint_memo *m, X509_EXTENSION *ex, int nid, int enclen, void **v)
{
    const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ex);
    struct memo_ext *e;

    if (m == NULL || m->next >= MEMO_EXTS || nid == NID_undef ||
        nid == NID_subject_key_identifier || nid == NID_subject_alt_name)
        return;
    e = &m->ext[m->next];
    e->len = ASN1_STRING_length(val);
    e->val = malloc(e->len > 0 ? (size_t)e->len : 1);
    if (e->val == NULL)
        return;
    memcpy(e->val, ASN1_STRING_get0_data(val), (size_t)e->len);
    e->nid = nid;
    e->crit = X509_EXTENSION_get_critical(ex);
    e->enclen = enclen;
    e->v = *v;
    *v = NULL;
    m->next++;
}

static int ku_bit(const struct lctx *c, int bit)
{
    return c->ku.v != NULL && ASN1_BIT_STRING_get_bit(c->ku.v, bit);
}

/* RFC 5280 4.2.1.3 bit numbers. */
enum {
    KUB_DIGITAL_SIGNATURE = 0,
    KUB_NON_REPUDIATION = 1,
    KUB_KEY_ENCIPHERMENT = 2,
    KUB_DATA_ENCIPHERMENT = 3,
    KUB_KEY_AGREEMENT = 4,
    KUB_KEY_CERT_SIGN = 5,
    KUB_CRL_SIGN = 6,
    KUB_ENCIPHER_ONLY = 7,
    KUB_DECIPHER_ONLY = 8,
};

static int eku_has(const struct lctx *c, int nid)
{
    const EXTENDED_KEY_USAGE *eku = c->eku.v;
    int i;
    for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
        if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Version, serial number, unique identifiers */

static int rule_cert_version(struct lctx *c, char *why, size_t whysz)
{
    long v = X509_get_version(c->x);
    if (v != X509_VERSION_3)
        return fail(why, whysz, "version field is %ld (v%ld), must be 2 (v3)", v, v + 1);
    return PASS;
}

/* The DER content octets of the serial number, once per certificate:
 * their number in c->serial_n (-1 when it does not encode), the first two
 * in c->serial_b. */
static void serial_load(struct lctx *c)
{
    const ASN1_INTEGER *s = X509_get0_serialNumber(c->x);
    unsigned char *der = NULL;
    const unsigned char *p;
    long len;
    int tag, cls, dlen, r;

    c->serial_n = -1;
    dlen = i2d_ASN1_INTEGER(s, &der);
    if (dlen <= 0) {
        ERR_clear_error();
        return;
    }
    p = der;
    r = ASN1_get_object(&p, &len, &tag, &cls, dlen);
    if ((r & 0x80) || tag != V_ASN1_INTEGER || len < 0 || len > 256) {
        ERR_clear_error();
    } else {
        c->serial_n = len;
        c->serial_b[0] = len > 0 ? p[0] : 0;
        c->serial_b[1] = len > 1 ? p[1] : 0;
    }
    OPENSSL_free(der);
}

static int rule_serial_positive(struct lctx *c, char *why, size_t whysz)
{
    const ASN1_INTEGER *s = X509_get0_serialNumber(c->x);
    const unsigned char *d = ASN1_STRING_get0_data(s);
    int i, len = ASN1_STRING_length(s), zero = 1;

    if (ASN1_STRING_type(s) == V_ASN1_NEG_INTEGER)
        return fail(why, whysz, "serial number is negative");
    for (i = 0; i < len; i++)
        if (d[i] != 0)
            zero = 0;
    if (zero)
        return fail(why, whysz, "serial number is zero");
    return PASS;
}

static int rule_serial_length(struct lctx *c, char *why, size_t whysz)
{
    if (c->serial_n < 0)
        return fail(why, whysz, "serial number does not encode");
    if (c->serial_n > 20)
        return fail(why, whysz, "serial number is %ld octets, more than 20", c->serial_n);
    return PASS;
}

static int rule_serial_entropy(struct lctx *c, char *why, size_t whysz)
{
    if (c->serial_n < 0)
        return fail(why, whysz, "serial number does not encode");
    if (c->serial_n < 9)
        return fail(why, whysz,
                    "serial number is %ld octets: too short to hold 64 random bits (9 octets "
                    "at least)",
                    c->serial_n);
    return PASS;
}

static int rule_serial_der(struct lctx *c, char *why, size_t whysz)
{
    const unsigned char *b = c->serial_b;
    long n = c->serial_n;
    if (n <= 0)
        return fail(why, whysz, "serial number does not encode");
    /* X.690 8.3.2: the first nine bits must not be all zeros or all ones */
    if (n > 1 && ((b[0] == 0x00 && !(b[1] & 0x80)) || (b[0] == 0xff && (b[1] & 0x80))))
        return fail(why, whysz, "serial number has a superfluous leading 0x%02X octet", b[0]);
    return PASS;
}

static int rule_unique_ids(struct lctx *c, char *why, size_t whysz)
{
    const ASN1_BIT_STRING *iuid = NULL, *suid = NULL;
    X509_get0_uids(c->x, &iuid, &suid);
    if (iuid != NULL || suid != NULL)
        return fail(why, whysz, "issuerUniqueID or subjectUniqueID present");
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* Validity */

static int time_why(const ASN1_TIME *t, const char *what, char *why, size_t whysz)
{
    const unsigned char *d = ASN1_STRING_get0_data(t);
    int len = ASN1_STRING_length(t), i, ndig, year;

    if (ASN1_STRING_type(t) == V_ASN1_UTCTIME)
        ndig = 12;
    else if (ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME)
        ndig = 14;
    else
        return fail(why, whysz, "%s is neither UTCTime nor GeneralizedTime", what);
    /* YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ: seconds present, no fraction, Zulu
     * (RFC 5280 4.1.2.5.1, 4.1.2.5.2) */
    if (len != ndig + 1 || d[ndig] != 'Z')
        return fail(why, whysz, "%s '%.*s' is not in the form %s", what, len < 32 ? len : 32,
                    (const char *)d, ndig == 12 ? "YYMMDDHHMMSSZ" : "YYYYMMDDHHMMSSZ");
    for (i = 0; i < ndig; i++)
        if (d[i] < '0' || d[i] > '9')
            return fail(why, whysz, "%s has a non-digit", what);
    if (!ASN1_TIME_check(t))
        return fail(why, whysz, "%s '%.*s' is not a valid time", what, len, (const char *)d);
    if (ndig == 14) {
        year = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
        if (year < 2050)
            return fail(why, whysz,
                        "%s in %d is GeneralizedTime: years before 2050 must be UTCTime", what,
                        year);
    }
    /* A UTCTime's two-digit year always lies in 1950..2049 (RFC 5280
     * 4.1.2.5.1), so no further check. */
    return PASS;
}

static int rule_validity_encoding(struct lctx *c, char *why, size_t whysz)
{
    const ASN1_TIME *nb = X509_get0_notBefore(c->x), *na = X509_get0_notAfter(c->x);
    if (nb == NULL || na == NULL)
        return fail(why, whysz, "validity is not set");
    if (time_why(nb, "notBefore", why, whysz) != PASS)
        return FAIL;
    return time_why(na, "notAfter", why, whysz);
}

/* ASN1_TIME_compare(a, b) on the times read by lctx_load: 1 when a is
 * later, 0 equal, -1 earlier, -2 when either does not parse. */
static int time_compare(int64_t a, int a_ok, int64_t b, int b_ok)
{
    if (!a_ok || !b_ok)
        return -2;
    return a > b ? 1 : a < b ? -1 : 0;
}

static int rule_validity_order(struct lctx *c, char *why, size_t whysz)
{
    const ASN1_TIME *nb = X509_get0_notBefore(c->x), *na = X509_get0_notAfter(c->x);
    int r;
    if (nb == NULL || na == NULL)
        return fail(why, whysz, "validity is not set");
    r = time_compare(c->nb_t, c->nb_ok, c->na_t, c->na_ok);
    if (r == -2)
        return fail(why, whysz, "validity times do not parse");
    if (r >= 0)
        return fail(why, whysz, "notBefore is not before notAfter");
    return PASS;
}

static int rule_validity_issuer(struct lctx *c, char *why, size_t whysz)
{
    const ASN1_TIME *na = X509_get0_notAfter(c->x);
    int r;
    if (c->issuer == NULL)
        return PASS;
    if (na == NULL)
        return fail(why, whysz, "validity is not set");
    r = time_compare(c->na_t, c->na_ok, c->ina_t, c->ina_ok);
    if (r == -2)
        return fail(why, whysz, "validity times do not parse");
    if (r > 0)
        return fail(why, whysz, "notAfter is later than the issuer's notAfter");
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* Names */

static int rule_issuer_name(struct lctx *c, char *why, size_t whysz)
{
    const X509_NAME *want = X509_get_subject_name(c->issuer ? c->issuer : c->x);
    if (X509_NAME_cmp(X509_get_issuer_name(c->x), want) != 0)
        return fail(why, whysz, "issuer name differs from the %s subject name",
                    c->issuer ? "issuer certificate's" : "(self-signed) certificate's own");
    return PASS;
}

static int rule_subject_empty(struct lctx *c, char *why, size_t whysz)
{
    if (X509_NAME_entry_count(X509_get_subject_name(c->x)) > 0)
        return PASS;
    if (c->is_ca)
        return fail(why, whysz, "a CA certificate needs a non-empty subject");
    if (!c->san.present || !c->san.crit)
        return fail(why, whysz, "an empty subject needs a critical subjectAltName");
    return PASS;
}

/* The first subject attribute with the given fault (name_check_entry in
 * src/ca/name.c), so that each fault is its own rule. */
static int subject_fault(struct lctx *c, enum name_fault want, char *why, size_t whysz)
{
    if (c->fault_at[want] >= 0)
        return fail(why, whysz, "subject attribute %d: %s", c->fault_at[want] + 1,
                    c->fault_why[want]);
    return PASS;
}

static int rule_subject_attr_type(struct lctx *c, char *why, size_t whysz)
{
    return subject_fault(c, NAME_FAULT_TYPE, why, whysz);
}

static int rule_subject_attr_empty(struct lctx *c, char *why, size_t whysz)
{
    return subject_fault(c, NAME_FAULT_EMPTY, why, whysz);
}

static int rule_subject_attr_charset(struct lctx *c, char *why, size_t whysz)
{
    return subject_fault(c, NAME_FAULT_CHARSET, why, whysz);
}

static int rule_subject_attr_length(struct lctx *c, char *why, size_t whysz)
{
    return subject_fault(c, NAME_FAULT_LENGTH, why, whysz);
}

static int rule_subject_attr_value(struct lctx *c, char *why, size_t whysz)
{
    return subject_fault(c, NAME_FAULT_VALUE, why, whysz);
}

/* ------------------------------------------------------------------------ */
/* Extensions in general */

static int rule_ext_unique(struct lctx *c, char *why, size_t whysz)
{
    int i, j, n = X509_get_ext_count(c->x);
    for (i = 0; i < n; i++) {
        const ASN1_OBJECT *a = X509_EXTENSION_get_object(X509_get_ext(c->x, i));
        for (j = i + 1; j < n; j++)
            if (OBJ_cmp(a, X509_EXTENSION_get_object(X509_get_ext(c->x, j))) == 0) {
                char name[80];
                OBJ_obj2txt(name, sizeof(name), a, 0);
                return fail(why, whysz, "extension %s appears more than once", name);
            }
    }
    return PASS;
}

struct der_scan {
    int default_false; /* a BOOLEAN FALSE: a DEFAULT value encoded */
    int bad_true;      /* a BOOLEAN TRUE other than 0xFF */
    int malformed;
};

/* Walks DER TLVs. Recurses into constructed values and, at the top level of
 * an Extension, into the extnValue OCTET STRING. */
static void der_walk(struct der_scan *s, const unsigned char *p, long len, int depth,
                     int in_ext_seq)
{
    while (len > 0 && !s->malformed) {
        const unsigned char *q = p;
        long clen;
        int tag, cls, r;
        r = ASN1_get_object(&q, &clen, &tag, &cls, len);
        if ((r & 0x80) || r == 0x21 || depth > 32) {
            s->malformed = 1;
            ERR_clear_error();
            return;
        }
        if (cls == V_ASN1_UNIVERSAL && tag == V_ASN1_BOOLEAN && !(r & V_ASN1_CONSTRUCTED)) {
            if (clen != 1)
                s->malformed = 1;
            else if (q[0] == 0x00)
                s->default_false = 1;
            else if (q[0] != 0xff)
                s->bad_true = 1;
        } else if (r & V_ASN1_CONSTRUCTED) {
            der_walk(s, q, clen, depth + 1, depth == 0);
        } else if (in_ext_seq && cls == V_ASN1_UNIVERSAL && tag == V_ASN1_OCTET_STRING) {
            der_walk(s, q, clen, depth + 1, 0);
        }
        len -= (long)(q - p) + clen;
        p = q + clen;
    }
}

/* Scans extension i's DER: as the TBSCertificate holds it (lint_opts.
 * tbs_der), else made again (its critical BOOLEAN is only seen there).
 * Returns the encoded length, or -1 when it does not encode. */
static int ext_scan(struct der_scan *s, const struct lctx *c, int i, const X509_EXTENSION *ex)
{
    unsigned char *der = NULL;
    int n;

    memset(s, 0, sizeof(*s));
    if (i < c->n_der) {
        der_walk(s, c->ext_enc[i], (long)c->ext_enc_len[i], 0, 0);
        return (int)c->ext_enc_len[i];
    }
    n = i2d_X509_EXTENSION(ex, &der);
    if (n <= 0) {
        ERR_clear_error();
        return -1;
    }
    der_walk(s, der, n, 0, 0);
    OPENSSL_free(der);
    return n;
}

static void ext_name(char *out, size_t outsz, X509_EXTENSION *ex)
{
    OBJ_obj2txt(out, (int)outsz, X509_EXTENSION_get_object(ex), 0);
}

/* The first of the scan's findings: 1 when the extension at `at` is the
 * first that does not encode, 0 when it has the fault, -1 when none. */
static int scan_first(const struct lctx *c, int at)
{
    if (c->scan_noenc >= 0 && (at < 0 || c->scan_noenc < at))
        return 1;
    return at >= 0 ? 0 : -1;
}

/* X.690 11.5: DER does not encode a value equal to its DEFAULT: basic-
 * Constraints' cA FALSE, an Extension's critical FALSE. */
static int rule_der_default_value(struct lctx *c, char *why, size_t whysz)
{
    char name[80];

    switch (scan_first(c, c->scan_default)) {
    case 1:
        return fail(why, whysz, "an extension does not encode");
    case 0:
        ext_name(name, sizeof(name), X509_get_ext(c->x, c->scan_default));
        return fail(why, whysz, "%s encodes a BOOLEAN FALSE (a DEFAULT value)", name);
    default:
        return PASS;
    }
}

/* X.690 11.1: in DER a BOOLEAN TRUE is 0xFF. */
static int rule_der_boolean(struct lctx *c, char *why, size_t whysz)
{
    char name[80];

    switch (scan_first(c, c->scan_badbool)) {
    case 1:
        return fail(why, whysz, "an extension does not encode");
    case 0:
        ext_name(name, sizeof(name), X509_get_ext(c->x, c->scan_badbool));
        return fail(why, whysz, "%s has a BOOLEAN that is not DER (TRUE must be 0xFF)", name);
    default:
        return PASS;
    }
}

/* RFC 5280 4.1: extensions are DER. ex's value is one DER value; a type
 * libcrypto knows decodes and encodes back to the same octets. *v: its
 * decoded value when the caller has it, else made here (and left in *v
 * when it decodes). */
static int ext_der_one(X509_EXTENSION *ex, void **v, char *why, size_t whysz)
{
    const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ex);
    const unsigned char *d = ASN1_STRING_get0_data(val), *q = d;
    long len = ASN1_STRING_length(val), clen;
    const X509V3_EXT_METHOD *m = X509V3_EXT_get(ex);
    int tag, cls, r, same = 0;
    char name[80];

    r = ASN1_get_object(&q, &clen, &tag, &cls, len);
    if ((r & 0x80) || r == 0x21 || (q - d) + clen != len) {
        ERR_clear_error();
        ext_name(name, sizeof(name), ex);
        return fail(why, whysz, "%s: value is not exactly one DER value", name);
    }
    if (m != NULL && m->it != NULL) {
        unsigned char *re = NULL;
        int relen;
        if (*v == NULL)
            *v = X509V3_EXT_d2i(ex);
        relen = *v ? ASN1_item_i2d(*v, &re, ASN1_ITEM_ptr(m->it)) : -1;
        same = relen == len && memcmp(re, d, (size_t)len) == 0;
        OPENSSL_free(re);
        if (*v == NULL || relen < 0)
            ERR_clear_error();
        if (*v == NULL) {
            ext_name(name, sizeof(name), ex);
            return fail(why, whysz, "%s does not decode", name);
        }
        if (!same) {
            ext_name(name, sizeof(name), ex);
            return fail(why, whysz, "%s is not DER (it re-encodes differently)", name);
        }
    }
    /* OpenSSL keeps a BIT STRING's unused-bits count as decoded, so
     * check the named bit list rule itself (X.690 11.2.2): no trailing
     * zero bits. */
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ex)) == NID_key_usage && tag == V_ASN1_BIT_STRING &&
        clen >= 1) {
        unsigned unused = q[0], last = q[clen - 1];
        if (clen == 1 ? unused != 0
                      : (unused > 7 || ((last >> unused) & 1) == 0 ||
                         (last & ((1u << unused) - 1)) != 0)) {
            ext_name(name, sizeof(name), ex);
            return fail(why, whysz, "%s: named bit list has trailing zero bits (X.690 11.2.2)",
                        name);
        }
    }
    return PASS;
}

/* The context's slot for an extension of type nid, when it holds that
 * type and has not met one yet (the first occurrence is the one read). */
static struct ext *ext_slot(struct lctx *c, int nid)
{
    struct ext *const slots[] = {&c->bc,  &c->ku,  &c->eku, &c->ski, &c->aki,
                                 &c->san, &c->cdp, &c->aia, &c->pol};
    for (size_t k = 0; k < sizeof(slots) / sizeof(slots[0]); k++)
        if (slots[k]->nid == nid)
            return slots[k]->present ? NULL : slots[k];
    return NULL;
}

/* Extension i: decoded into its slot, scanned and checked for the DER
 * rules, unless the memo has met the same extension (then the findings
 * are those it had: none, and its decoded value). */
static void ext_check_one(struct lctx *c, int i)
{
    X509_EXTENSION *ex = X509_get_ext(c->x, i);
    int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ex)), enclen, r;
    struct ext *slot = ext_slot(c, nid);
    const struct memo_ext *me =
        memo_find(c->memo, ex, nid, i < c->n_der ? (int)c->ext_enc_len[i] : -1);
    struct der_scan s;
    char why[WHY_MAX];
    void *v = NULL, *kept;

    if (slot != NULL) {
        slot->loc = i;
        slot->present = 1;
        slot->crit = X509_EXTENSION_get_critical(ex);
    }
    if (me != NULL) {
        if (slot != NULL) {
            slot->v = me->v;
            slot->borrowed = 1;
            slot->bad = me->v == NULL;
        }
        return;
    }
    if (slot != NULL && (v = X509V3_EXT_d2i(ex)) == NULL)
        ERR_clear_error();
    enclen = ext_scan(&s, c, i, ex);
    if (enclen < 0 && c->scan_noenc < 0)
        c->scan_noenc = i;
    if (enclen >= 0 && s.default_false && c->scan_default < 0)
        c->scan_default = i;
    if (enclen >= 0 && (s.bad_true || s.malformed) && c->scan_badbool < 0)
        c->scan_badbool = i;
    r = ext_der_one(ex, &v, why, sizeof(why));
    if (r != PASS && c->ext_der == PASS) {
        c->ext_der = r;
        snprintf(c->ext_der_why, sizeof(c->ext_der_why), "%s", why);
    }
    kept = v;
    if (r == PASS && enclen >= 0 && !s.default_false && !s.bad_true && !s.malformed)
        memo_add(c->memo, ex, nid, enclen, &v); /* v NULL: the memo's now */
    if (slot != NULL) {
        slot->v = kept;
        slot->borrowed = kept != NULL && v == NULL;
        slot->bad = kept == NULL;
        return;
    }
    ext_value_free(nid, v);
}

/* Every extension once, for the slots and the DER rules below. */
static void ext_check_all(struct lctx *c)
{
    int i, n = X509_get_ext_count(c->x);

    c->scan_noenc = c->scan_default = c->scan_badbool = -1;
    c->ext_der = PASS;
    for (i = 0; i < n; i++)
        ext_check_one(c, i);
}

static int rule_ext_der(struct lctx *c, char *why, size_t whysz)
{
    if (c->ext_der == PASS)
        return PASS;
    snprintf(why, whysz, "%s", c->ext_der_why);
    return c->ext_der;
}

/* ------------------------------------------------------------------------ */
/* Key identifiers */

static int rule_ski_missing(struct lctx *c, char *why, size_t whysz)
{
    if (!c->ski.present)
        return fail(why, whysz, "no subjectKeyIdentifier");
    if (c->ski.v == NULL || ASN1_STRING_length(c->ski.v) == 0)
        return fail(why, whysz, "subjectKeyIdentifier is empty or malformed");
    return PASS;
}

static int rule_ski_critical(struct lctx *c, char *why, size_t whysz)
{
    if (c->ski.present && c->ski.crit)
        return fail(why, whysz, "subjectKeyIdentifier is marked critical");
    return PASS;
}

static int rule_aki_missing(struct lctx *c, char *why, size_t whysz)
{
    const AUTHORITY_KEYID *aki = c->aki.v;
    if (!c->aki.present)
        return c->issuer == NULL ? PASS : fail(why, whysz, "no authorityKeyIdentifier");
    if (aki == NULL || aki->keyid == NULL)
        return fail(why, whysz, "authorityKeyIdentifier has no keyIdentifier");
    return PASS;
}

static int rule_aki_critical(struct lctx *c, char *why, size_t whysz)
{
    if (c->aki.present && c->aki.crit)
        return fail(why, whysz, "authorityKeyIdentifier is marked critical");
    return PASS;
}

static int rule_aki_keyid(struct lctx *c, char *why, size_t whysz)
{
    const AUTHORITY_KEYID *aki = c->aki.v;
    const ASN1_OCTET_STRING *want = c->issuer ? c->issuer_ski.v : c->ski.v;
    if (aki == NULL || aki->keyid == NULL)
        return PASS; /* aki_missing */
    if (want == NULL)
        return fail(why, whysz, "the %s has no subjectKeyIdentifier to match",
                    c->issuer ? "issuer certificate" : "certificate");
    if (ASN1_OCTET_STRING_cmp(aki->keyid, want) != 0)
        return fail(why, whysz, "keyIdentifier differs from the %s subjectKeyIdentifier",
                    c->issuer ? "issuer's" : "certificate's own");
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* basicConstraints, keyUsage, extendedKeyUsage */

static int rule_bc_ca(struct lctx *c, char *why, size_t whysz)
{
    const BASIC_CONSTRAINTS *bc = c->bc.v;
    if (!c->is_ca)
        return PASS;
    if (bc == NULL)
        return fail(why, whysz, "CA certificate without basicConstraints");
    if (!bc->ca)
        return fail(why, whysz, "CA certificate with basicConstraints cA FALSE");
    return PASS;
}

static int rule_bc_critical(struct lctx *c, char *why, size_t whysz)
{
    if (c->is_ca && c->bc.present && !c->bc.crit)
        return fail(why, whysz, "basicConstraints of a CA certificate is not critical");
    return PASS;
}

static int rule_bc_ee(struct lctx *c, char *why, size_t whysz)
{
    const BASIC_CONSTRAINTS *bc = c->bc.v;
    if (!c->is_ca && bc != NULL && bc->ca)
        return fail(why, whysz, "end-entity certificate with basicConstraints cA TRUE");
    return PASS;
}

static int rule_bc_pathlen(struct lctx *c, char *why, size_t whysz)
{
    const BASIC_CONSTRAINTS *bc = c->bc.v;
    if (bc == NULL || bc->pathlen == NULL)
        return PASS;
    if (!bc->ca || !ku_bit(c, KUB_KEY_CERT_SIGN))
        return fail(why, whysz, "pathLenConstraint without cA TRUE and keyCertSign");
    if (ASN1_STRING_type(bc->pathlen) == V_ASN1_NEG_INTEGER)
        return fail(why, whysz, "pathLenConstraint is negative");
    return PASS;
}

static int rule_ku_missing(struct lctx *c, char *why, size_t whysz)
{
    int i, any = 0;
    if (!c->ku.present)
        return fail(why, whysz, "no keyUsage");
    if (c->ku.v == NULL)
        return fail(why, whysz, "keyUsage is malformed");
    for (i = 0; i <= KUB_DECIPHER_ONLY; i++)
        any |= ku_bit(c, i);
    if (!any)
        return fail(why, whysz, "keyUsage has no bit set");
    return PASS;
}

static int rule_ku_ca(struct lctx *c, char *why, size_t whysz)
{
    if (!c->is_ca || c->ku.v == NULL)
        return PASS;
    if (!ku_bit(c, KUB_KEY_CERT_SIGN) || !ku_bit(c, KUB_CRL_SIGN))
        return fail(why, whysz, "CA certificate keyUsage lacks keyCertSign or cRLSign");
    if (!c->ku.crit)
        return fail(why, whysz, "CA certificate keyUsage is not critical");
    return PASS;
}

static int rule_ku_ee(struct lctx *c, char *why, size_t whysz)
{
    if (c->is_ca)
        return PASS;
    if (ku_bit(c, KUB_KEY_CERT_SIGN) || ku_bit(c, KUB_CRL_SIGN))
        return fail(why, whysz, "end-entity certificate with keyCertSign or cRLSign");
    return PASS;
}

static int rule_ku_key_type(struct lctx *c, char *why, size_t whysz)
{
    enum keykind k = c->sub_kind;
    if (c->ku.v == NULL)
        return PASS;
    if ((ku_bit(c, KUB_ENCIPHER_ONLY) || ku_bit(c, KUB_DECIPHER_ONLY)) &&
        !ku_bit(c, KUB_KEY_AGREEMENT))
        return fail(why, whysz, "encipherOnly/decipherOnly without keyAgreement");
    if (k == LK_RSA && ku_bit(c, KUB_KEY_AGREEMENT))
        return fail(why, whysz, "keyAgreement with an RSA key");
    if ((k == LK_EC || k == LK_ED25519) &&
        (ku_bit(c, KUB_KEY_ENCIPHERMENT) || ku_bit(c, KUB_DATA_ENCIPHERMENT)))
        return fail(why, whysz, "keyEncipherment/dataEncipherment with an %s key",
                    k == LK_EC ? "EC" : "Ed25519");
    if (k == LK_ED25519 && ku_bit(c, KUB_KEY_AGREEMENT))
        return fail(why, whysz, "keyAgreement with an Ed25519 key");
    return PASS;
}

static int rule_eku_any(struct lctx *c, char *why, size_t whysz)
{
    if (!c->is_ca && eku_has(c, NID_anyExtendedKeyUsage))
        return fail(why, whysz, "end-entity certificate with anyExtendedKeyUsage");
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* TLS server certificates */

static int rule_server_san(struct lctx *c, char *why, size_t whysz)
{
    const GENERAL_NAMES *gns = c->san.v;
    int i;
    if (c->is_ca || !c->server_auth)
        return PASS;
    for (i = 0; gns != NULL && i < sk_GENERAL_NAME_num(gns); i++) {
        int t = sk_GENERAL_NAME_value(gns, i)->type;
        if (t == GEN_DNS || t == GEN_IPADD)
            return PASS;
    }
    return fail(why, whysz, "serverAuth certificate without a dNSName or iPAddress SAN");
}

static int cn_in_san(const char *cn, const GENERAL_NAMES *gns)
{
    unsigned char ip[16];
    int i, iplen = 0;
    if (inet_pton(AF_INET, cn, ip) == 1)
        iplen = 4;
    else if (inet_pton(AF_INET6, cn, ip) == 1)
        iplen = 16;
    for (i = 0; gns != NULL && i < sk_GENERAL_NAME_num(gns); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gns, i);
        if (gn->type == GEN_DNS) {
            const ASN1_IA5STRING *s = gn->d.dNSName;
            size_t n = (size_t)ASN1_STRING_length(s);
            if (n == strlen(cn) && strncasecmp((const char *)ASN1_STRING_get0_data(s), cn, n) == 0)
                return 1;
        } else if (gn->type == GEN_IPADD && iplen > 0) {
            const ASN1_OCTET_STRING *s = gn->d.iPAddress;
            if (ASN1_STRING_length(s) == iplen &&
                memcmp(ASN1_STRING_get0_data(s), ip, (size_t)iplen) == 0)
                return 1;
        }
    }
    return 0;
}

static int rule_server_cn(struct lctx *c, char *why, size_t whysz)
{
    const X509_NAME *subj = X509_get_subject_name(c->x);
    char *cn = NULL;
    int r = PASS, ncn = 0, loc = -1;

    if (c->is_ca || !c->server_auth)
        return PASS;
    while ((loc = X509_NAME_get_index_by_NID(subj, NID_commonName, loc)) >= 0)
        ncn++;
    if (ncn == 0)
        return PASS;
    if (ncn > 1)
        return fail(why, whysz, "serverAuth certificate with %d commonName attributes", ncn);
    if (name_get_cn(&cn, subj) != CM_OK) {
        cm_err_clear();
        return fail(why, whysz, "commonName does not convert to UTF-8");
    }
    if (!cn_in_san(cn, c->san.v)) {
        char sh[128];
        size_t k;
        /* the CN comes from a request: keep control bytes out of messages */
        snprintf(sh, sizeof(sh), "%s", cn);
        for (k = 0; sh[k] != '\0'; k++)
            if ((unsigned char)sh[k] < 0x20 || sh[k] == 0x7f)
                sh[k] = '?';
        r = fail(why, whysz, "commonName '%s' is not among the dNSName/iPAddress SANs", sh);
    }
    free(cn);
    return r;
}

static int rule_server_validity(struct lctx *c, char *why, size_t whysz)
{
    long long total;
    if (c->is_ca || !c->server_auth)
        return PASS;
    if (!c->nb_ok || !c->na_ok)
        return fail(why, whysz, "validity times do not parse");
    /* BR 1.6.1 "Validity Period": notBefore through notAfter inclusive,
     * so one second more than the difference. */
    total = (long long)(c->na_t - c->nb_t) + 1;
    if (total > 398LL * 86400)
        return fail(why, whysz, "validity period of %lld days is more than 398",
                    (total + 86399) / 86400);
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* subjectAltName */

static int rule_san_empty(struct lctx *c, char *why, size_t whysz)
{
    if (c->san.present && c->san.v != NULL && sk_GENERAL_NAME_num(c->san.v) <= 0)
        return fail(why, whysz, "subjectAltName has no names");
    return PASS;
}

static int rule_san_invalid(struct lctx *c, char *why, size_t whysz)
{
    struct san_list l = SAN_LIST_INIT;
    cm_err rc;
    if (!c->san.present)
        return PASS;
    if (c->san.v == NULL)
        return fail(why, whysz, "subjectAltName is malformed");
    rc = san_from_names(&l, c->san.v);
    if (rc == CM_ERR_NOMEM)
        return ERR;
    if (rc == CM_OK)
        rc = san_list_check(&l, why, whysz);
    else
        snprintf(why, whysz, "%s", cm_err_msg());
    san_list_free(&l);
    if (rc != CM_OK) {
        cm_err_clear();
        return FAIL;
    }
    return PASS;
}

static int rule_san_critical(struct lctx *c, char *why, size_t whysz)
{
    int empty = X509_NAME_entry_count(X509_get_subject_name(c->x)) == 0;
    if (!c->san.present)
        return PASS;
    if (empty && !c->san.crit)
        return fail(why, whysz, "subject is empty but subjectAltName is not critical");
    if (!empty && c->san.crit)
        return fail(why, whysz, "subject is not empty but subjectAltName is critical");
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* Public key */

static int spki(const struct lctx *c, int *alg_nid, const unsigned char **pk, int *pklen,
                const X509_ALGOR **alg)
{
    const X509_PUBKEY *pub = X509_get_X509_PUBKEY(c->x);
    ASN1_OBJECT *obj = NULL;
    X509_ALGOR *a = NULL;
    if (pub == NULL || !X509_PUBKEY_get0_param(&obj, pk, pklen, &a, pub)) {
        ERR_clear_error();
        return -1;
    }
    *alg_nid = OBJ_obj2nid(obj);
    *alg = a;
    return 0;
}

static int rule_key_type(struct lctx *c, char *why, size_t whysz)
{
    int nid;
    const unsigned char *pk;
    int pklen;
    const X509_ALGOR *alg;
    if (spki(c, &nid, &pk, &pklen, &alg) != 0 || c->sub_key == NULL)
        return fail(why, whysz, "no usable public key");
    if (nid != NID_rsaEncryption && nid != NID_X9_62_id_ecPublicKey && nid != NID_ED25519)
        return fail(why, whysz, "public key algorithm %s is not RSA, EC or Ed25519",
                    OBJ_nid2sn(nid));
    return PASS;
}

static int rule_key_rsa_size(struct lctx *c, char *why, size_t whysz)
{
    BIGNUM *n = NULL;
    int bits;
    if (c->sub_kind != LK_RSA)
        return PASS;
    if (!EVP_PKEY_get_bn_param(c->sub_key, OSSL_PKEY_PARAM_RSA_N, &n)) {
        ERR_clear_error();
        return fail(why, whysz, "RSA modulus unreadable");
    }
    bits = BN_num_bits(n);
    BN_free(n);
    if (bits < 2048 || bits % 8 != 0)
        return fail(why, whysz, "RSA modulus of %d bits: needs >= 2048 and a multiple of 8", bits);
    return PASS;
}

static int rule_key_rsa_exponent(struct lctx *c, char *why, size_t whysz)
{
    BIGNUM *e = NULL;
    int ok;
    if (c->sub_kind != LK_RSA)
        return PASS;
    if (!EVP_PKEY_get_bn_param(c->sub_key, OSSL_PKEY_PARAM_RSA_E, &e)) {
        ERR_clear_error();
        return fail(why, whysz, "RSA exponent unreadable");
    }
    ok = BN_is_odd(e) && BN_num_bits(e) >= 17 && BN_num_bits(e) <= 256;
    BN_free(e);
    if (!ok)
        return fail(why, whysz, "RSA public exponent must be odd, in 65537..2^256-1");
    return PASS;
}

static int rule_key_ec_curve(struct lctx *c, char *why, size_t whysz)
{
    int nid, pklen, ptype, curve, want;
    const unsigned char *pk;
    const X509_ALGOR *alg;
    const ASN1_OBJECT *aobj;
    const void *pval;

    if (spki(c, &nid, &pk, &pklen, &alg) != 0 || nid != NID_X9_62_id_ecPublicKey)
        return PASS;
    X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
    /* RFC 5480 2.1.1: namedCurve; explicit parameters are not allowed */
    if (ptype != V_ASN1_OBJECT)
        return fail(why, whysz, "EC key without a named curve");
    curve = OBJ_obj2nid(pval);
    if (curve == NID_X9_62_prime256v1)
        want = 65;
    else if (curve == NID_secp384r1)
        want = 97;
    else if (curve == NID_secp521r1)
        want = 133;
    else
        return fail(why, whysz, "EC curve %s is not P-256, P-384 or P-521", OBJ_nid2sn(curve));
    if (pklen != want || pk[0] != 0x04)
        return fail(why, whysz, "EC point is not in uncompressed form");
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* Signature */

/* The digest named name: *nid its NID (NID_undef and 0 returned for no
 * name). The usual names are known here: fetching a digest per
 * certificate takes the provider store's lock. -1: unknown. */
static int md_nid_of(const char *name, int *nid)
{
    static const struct {
        const char *name;
        int nid;
    } known[] = {{"SHA256", NID_sha256}, {"SHA2-256", NID_sha256}, {"SHA-256", NID_sha256},
                 {"SHA384", NID_sha384}, {"SHA2-384", NID_sha384}, {"SHA-384", NID_sha384},
                 {"SHA512", NID_sha512}, {"SHA2-512", NID_sha512}, {"SHA-512", NID_sha512}};
    EVP_MD *md;

    *nid = NID_undef;
    if (name == NULL || *name == '\0')
        return 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcasecmp(name, known[i].name) == 0) {
            *nid = known[i].nid;
            return 1;
        }
    md = EVP_MD_fetch(NULL, name, NULL);
    if (md == NULL) {
        ERR_clear_error();
        return -1;
    }
    *nid = EVP_MD_get_type(md);
    EVP_MD_free(md);
    return 1;
}

/* The digest's fit to the signing key (k, a digest of NID mdnid or none). */
static int sig_md_fits(const struct lctx *c, int have, int mdnid, char *why, size_t whysz)
{
    const char *mdn = c->o->md_name;

    switch (c->sign_kind) {
    case LK_ED25519:
        if (have)
            return fail(why, whysz, "Ed25519 signs without a separate digest, got %s", mdn);
        return PASS;
    case LK_EC:
        if (c->sign_ec_want == NULL)
            return fail(why, whysz, "signing key is on an unsupported curve");
        if (!have || mdnid != OBJ_sn2nid(c->sign_ec_want))
            return fail(why, whysz, "this ECDSA key signs with %s, not %s", c->sign_ec_want,
                        mdn ? mdn : "none");
        return PASS;
    case LK_RSA:
        if (!have || (mdnid != NID_sha256 && mdnid != NID_sha384 && mdnid != NID_sha512))
            return fail(why, whysz, "RSA signatures need SHA-256, SHA-384 or SHA-512, not %s",
                        mdn ? mdn : "none");
        return PASS;
    case LK_NONE:
        return fail(why, whysz, "no signing key");
    default:
        return fail(why, whysz, "signing key type is not RSA, EC or Ed25519");
    }
}

static int rule_sig_alg(struct lctx *c, char *why, size_t whysz)
{
    const char *mdn = c->o->md_name;
    enum keykind k = c->sign_kind;
    const X509_ALGOR *alg;
    const ASN1_OBJECT *aobj;
    const void *pval;
    int r, have, ptype, signid, md = NID_undef, mdnid = NID_undef, pknid = NID_undef;

    have = md_nid_of(mdn, &md);
    if (have < 0)
        return fail(why, whysz, "unknown digest '%s'", mdn);
    if ((r = sig_md_fits(c, have, md, why, whysz)) != PASS)
        return r;
    /* When the TBS signature field is already set, it must say the same
     * (RFC 5280 4.1.2.3) with the parameters of RFC 4055 5 / RFC 5758 3.2 /
     * RFC 8410 3: NULL for RSA PKCS#1 v1.5, absent for ECDSA and Ed25519. */
    alg = X509_get0_tbs_sigalg(c->x);
    X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
    signid = aobj ? OBJ_obj2nid(aobj) : NID_undef;
    if (signid == NID_undef)
        return PASS;
    if (!OBJ_find_sigid_algs(signid, &mdnid, &pknid))
        return fail(why, whysz, "signature algorithm %s is not supported", OBJ_nid2sn(signid));
    if ((k == LK_RSA && pknid != NID_rsaEncryption) ||
        (k == LK_EC && pknid != NID_X9_62_id_ecPublicKey) ||
        (k == LK_ED25519 && pknid != NID_ED25519) || mdnid != (have ? md : NID_undef))
        return fail(why, whysz, "signature field says %s, which is not the signing key and %s",
                    OBJ_nid2sn(signid), mdn ? mdn : "no digest");
    if ((k == LK_RSA && ptype != V_ASN1_NULL) || (k != LK_RSA && ptype != V_ASN1_UNDEF))
        return fail(why, whysz, "signature algorithm parameters must be %s",
                    k == LK_RSA ? "NULL" : "absent");
    return PASS;
}

/* EVP_PKEY_eq(key, want), once per pair of key objects with a memo (the
 * pair that matched is remembered, a reference held on each). */
static int sig_key_eq(struct lint_memo *m, const EVP_PKEY *key, const EVP_PKEY *want)
{
    int r;

    if (m != NULL && m->sk_key == key && m->sk_want == want)
        return 1;
    r = EVP_PKEY_eq(key, want);
    if (r != 1) {
        ERR_clear_error();
        return r;
    }
    if (m != NULL && EVP_PKEY_up_ref((EVP_PKEY *)key)) {
        if (!EVP_PKEY_up_ref((EVP_PKEY *)want)) {
            EVP_PKEY_free((EVP_PKEY *)key);
            return r;
        }
        EVP_PKEY_free(m->sk_key);
        EVP_PKEY_free(m->sk_want);
        m->sk_key = (EVP_PKEY *)key;
        m->sk_want = (EVP_PKEY *)want;
    }
    return r;
}

static int rule_sig_key(struct lctx *c, char *why, size_t whysz)
{
    const EVP_PKEY *want = c->issuer ? X509_get0_pubkey(c->issuer) : c->sub_key;
    int r;
    if (c->o->issuer_key == NULL)
        return PASS;
    r = want != NULL ? sig_key_eq(c->memo, c->o->issuer_key, want) : 0;
    if (r != 1)
        return fail(why, whysz, "the signing key is not the %s public key",
                    c->issuer ? "issuer certificate's" : "certificate's own (self-signed)");
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* CRL distribution points, authority information access */

static int uri_why(const GENERAL_NAME *gn, const char *what, char *why, size_t whysz)
{
    const ASN1_IA5STRING *s;
    const unsigned char *d;
    size_t n;
    char *u = NULL;
    int r = PASS;

    if (gn == NULL || gn->type != GEN_URI)
        return fail(why, whysz, "%s: a name that is not a URI", what);
    s = gn->d.uniformResourceIdentifier;
    d = ASN1_STRING_get0_data(s);
    n = (size_t)ASN1_STRING_length(s);
    if (memchr(d, 0, n) != NULL)
        return fail(why, whysz, "%s: URI contains a NUL byte", what);
    u = malloc(n + 1);
    if (u == NULL) {
        cm_err_set(CM_ERR_NOMEM, "out of memory");
        return ERR;
    }
    memcpy(u, d, n);
    u[n] = '\0';
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0 &&
        strncasecmp(u, "ldap://", 7) != 0)
        r = fail(why, whysz, "%s: URI scheme is not http, https or ldap", what);
    else if (san_check_uri(u) != CM_OK) {
        r = fail(why, whysz, "%s: %s", what, cm_err_msg());
        cm_err_clear();
    }
    free(u);
    return r;
}

static int rule_cdp_uri(struct lctx *c, char *why, size_t whysz)
{
    const CRL_DIST_POINTS *cdp = c->cdp.v;
    int i, j, r;
    if (!c->cdp.present)
        return PASS;
    if (cdp == NULL || sk_DIST_POINT_num(cdp) <= 0)
        return fail(why, whysz, "cRLDistributionPoints is malformed or empty");
    if (c->cdp.crit)
        return fail(why, whysz, "cRLDistributionPoints is marked critical");
    for (i = 0; i < sk_DIST_POINT_num(cdp); i++) {
        const DIST_POINT *dp = sk_DIST_POINT_value(cdp, i);
        const GENERAL_NAMES *names;
        if (dp->distpoint == NULL || dp->distpoint->type != 0)
            return fail(why, whysz, "distribution point without a fullName");
        names = dp->distpoint->name.fullname;
        if (sk_GENERAL_NAME_num(names) <= 0)
            return fail(why, whysz, "distribution point with an empty fullName");
        for (j = 0; j < sk_GENERAL_NAME_num(names); j++)
            if ((r = uri_why(sk_GENERAL_NAME_value(names, j), "CRL distribution point", why,
                             whysz)) != PASS)
                return r;
    }
    return PASS;
}

static int rule_aia_uri(struct lctx *c, char *why, size_t whysz)
{
    const AUTHORITY_INFO_ACCESS *aia = c->aia.v;
    int i, r;
    if (!c->aia.present)
        return PASS;
    if (aia == NULL || sk_ACCESS_DESCRIPTION_num(aia) <= 0)
        return fail(why, whysz, "authorityInfoAccess is malformed or empty");
    if (c->aia.crit)
        return fail(why, whysz, "authorityInfoAccess is marked critical");
    for (i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
        const ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
        if ((r = uri_why(ad->location, "authorityInfoAccess", why, whysz)) != PASS)
            return r;
    }
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* certificatePolicies */

/* An OID's dotted text, for messages; "" when it has none. */
static void oid_text(char *t, size_t tsz, const ASN1_OBJECT *o)
{
    if (OBJ_obj2txt(t, (int)tsz, o, 1) <= 0)
        t[0] = '\0';
}

/* The CA/B arcs under 2.23.140.1, as DER content octets (X.690 8.19). */
#define CABF_ARC 0x67, 0x81, 0x0c, 0x01
static const unsigned char cabf_tls_ev[] = {CABF_ARC, 0x01};       /* 2.23.140.1.1 */
static const unsigned char cabf_tls[] = {CABF_ARC, 0x02};          /* 2.23.140.1.2 */
static const unsigned char cabf_smime[] = {CABF_ARC, 0x05};        /* 2.23.140.1.5 */
static const unsigned char cabf_tls_dv[] = {CABF_ARC, 0x02, 0x01}; /* 2.23.140.1.2.1 */
static const unsigned char cabf_tls_ov[] = {CABF_ARC, 0x02, 0x02}; /* 2.23.140.1.2.2 */

/* o is the OID whose content octets are der (n of them), or (under) one
 * below it. Compared as DER, not as text (OBJ_obj2txt per policy was most
 * of these rules' cost): each arc's last octet has its top bit clear, so a
 * prefix ending there is a prefix of whole arcs. */
static int oid_is(const ASN1_OBJECT *o, const unsigned char *der, size_t n, int under)
{
    const unsigned char *d = OBJ_get0_data(o);
    size_t len = OBJ_length(o);
    if (d == NULL || len < n || (!under && len != n))
        return 0;
    return memcmp(d, der, n) == 0;
}

static int rule_policy_oids(struct lctx *c, char *why, size_t whysz)
{
    const CERTIFICATEPOLICIES *p = c->pol.v;
    if (!c->pol.present)
        return PASS;
    if (p == NULL)
        return fail(why, whysz, "certificatePolicies is malformed");
    if (sk_POLICYINFO_num(p) <= 0)
        return fail(why, whysz, "certificatePolicies lists no policy");
    for (int i = 0; i < sk_POLICYINFO_num(p); i++)
        for (int j = 0; j < i; j++)
            if (OBJ_cmp(sk_POLICYINFO_value(p, i)->policyid, sk_POLICYINFO_value(p, j)->policyid) ==
                0) {
                char t[128];
                OBJ_obj2txt(t, sizeof(t), sk_POLICYINFO_value(p, i)->policyid, 1);
                return fail(why, whysz, "policy %s is listed twice", t);
            }
    return PASS;
}

/* The CA/Browser Forum's reserved OIDs belong to their own kind of
 * certificate: 2.23.140.1.1 and 2.23.140.1.2.x (TLS BR 7.1.6.1) to TLS
 * server certificates, 2.23.140.1.5.x (S/MIME BR 7.1.6.1) to S/MIME ones. A
 * CA certificate may carry either (it issues under them). */
static int rule_policy_scope(struct lctx *c, char *why, size_t whysz)
{
    const CERTIFICATEPOLICIES *p = c->pol.v;
    if (p == NULL || c->is_ca)
        return PASS;
    for (int i = 0; i < sk_POLICYINFO_num(p); i++) {
        const ASN1_OBJECT *o = sk_POLICYINFO_value(p, i)->policyid;
        char t[128];
        if ((oid_is(o, cabf_tls_ev, sizeof(cabf_tls_ev), 1) ||
             oid_is(o, cabf_tls, sizeof(cabf_tls), 1)) &&
            !c->server_auth) {
            oid_text(t, sizeof(t), o);
            return fail(why, whysz,
                        "policy %s is a TLS Baseline Requirements OID but the certificate is "
                        "not for serverAuth",
                        t);
        }
        if (oid_is(o, cabf_smime, sizeof(cabf_smime), 1) && !eku_has(c, NID_email_protect)) {
            oid_text(t, sizeof(t), o);
            return fail(why, whysz,
                        "policy %s is an S/MIME Baseline Requirements OID but the certificate is "
                        "not for emailProtection",
                        t);
        }
    }
    return PASS;
}

static int subject_has(const struct lctx *c, int nid)
{
    return X509_NAME_get_index_by_NID(X509_get_subject_name(c->x), nid, -1) >= 0;
}

/* What the validation level asserted by a CA/B policy OID requires of the
 * subject (TLS BR 7.1.2.7.2-7.1.2.7.4): domain validated: nothing but
 * commonName and countryName; organization validated: organizationName and
 * countryName present. */
static int rule_policy_subject(struct lctx *c, char *why, size_t whysz)
{
    const CERTIFICATEPOLICIES *p = c->pol.v;
    const X509_NAME *n = X509_get_subject_name(c->x);
    if (p == NULL || c->is_ca)
        return PASS;
    for (int i = 0; i < sk_POLICYINFO_num(p); i++) {
        const ASN1_OBJECT *o = sk_POLICYINFO_value(p, i)->policyid;
        if (oid_is(o, cabf_tls_dv, sizeof(cabf_tls_dv), 0)) {
            for (int k = 0; k < X509_NAME_entry_count(n); k++) {
                int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, k)));
                if (nid != NID_commonName && nid != NID_countryName)
                    return fail(why, whysz,
                                "domain-validated policy 2.23.140.1.2.1 allows only commonName "
                                "and countryName in the subject, not %s",
                                OBJ_nid2ln(nid));
            }
        }
        if (oid_is(o, cabf_tls_ov, sizeof(cabf_tls_ov), 0) &&
            (!subject_has(c, NID_organizationName) || !subject_has(c, NID_countryName)))
            return fail(why, whysz,
                        "organization-validated policy 2.23.140.1.2.2 needs organizationName and "
                        "countryName in the subject");
    }
    return PASS;
}

/* ------------------------------------------------------------------------ */
/* The table */

static const struct rule {
    struct lint_rule info;
    rule_fn fn;
} rules[] = {
    {{"cert_version", "version is v3 (field value 2)", "RFC 5280 4.1.2.1; CA/B BR 7.1.1"},
     rule_cert_version},
    {{"serial_positive", "serial number is positive and not zero", "RFC 5280 4.1.2.2"},
     rule_serial_positive},
    {{"serial_length", "serial number is at most 20 octets", "RFC 5280 4.1.2.2"},
     rule_serial_length},
    {{"serial_entropy", "serial number is at least 9 octets (64 bits from a CSPRNG)",
      "CA/B BR 7.1"},
     rule_serial_entropy},
    {{"serial_der", "serial number INTEGER is minimally encoded", "X.690 8.3.2; RFC 5280 4.1"},
     rule_serial_der},
    {{"unique_ids", "no issuerUniqueID or subjectUniqueID", "RFC 5280 4.1.2.8"}, rule_unique_ids},
    {{"validity_encoding",
      "validity times are UTCTime through 2049 and GeneralizedTime from 2050, with seconds, "
      "in Zulu time",
      "RFC 5280 4.1.2.5, 4.1.2.5.1, 4.1.2.5.2"},
     rule_validity_encoding},
    {{"validity_order", "notBefore is before notAfter", "RFC 5280 4.1.2.5"}, rule_validity_order},
    {{"validity_issuer", "notAfter is not later than the issuer's notAfter",
      "certmint policy (RFC 5280 6.1.3(a)(2): an expired issuer breaks the path)"},
     rule_validity_issuer},
    {{"issuer_name", "issuer equals the issuer certificate's subject (own subject if self-signed)",
      "RFC 5280 4.1.2.4, 6.1.3(a)(4)"},
     rule_issuer_name},
    {{"subject_empty", "subject is not empty, unless an end entity with a critical subjectAltName",
      "RFC 5280 4.1.2.6, 4.2.1.6"},
     rule_subject_empty},
    {{"subject_attr_type",
      "subject attributes are of types certmint knows, each in the string type RFC 5280 allows "
      "(PrintableString/UTF8String; C PrintableString; emailAddress, DC IA5String)",
      "RFC 5280 4.1.2.6, Appendix A.1"},
     rule_subject_attr_type},
    {{"subject_attr_empty", "no subject attribute is empty",
      "RFC 5280 4.1.2.4 (X.520 lower bound 1)"},
     rule_subject_attr_empty},
    {{"subject_attr_charset",
      "subject values are valid for their string type and hold no control character (C0, DEL, "
      "C1)",
      "X.680 41.4; RFC 3629; RFC 5280 4.1.2.4"},
     rule_subject_attr_charset},
    {{"subject_attr_length",
      "subject values respect the upper bounds (CN, O, OU 64; L, ST 128; serialNumber 64; "
      "emailAddress 255)",
      "RFC 5280 Appendix A.1"},
     rule_subject_attr_length},
    {{"subject_attr_value", "countryName is two upper-case letters; emailAddress is a mailbox",
      "RFC 5280 Appendix A.1 (ISO 3166); RFC 5321 4.1.2"},
     rule_subject_attr_value},
    {{"ext_unique", "no extension appears twice", "RFC 5280 4.2"}, rule_ext_unique},
    {{"der_default_value",
      "no DEFAULT value encoded: no BOOLEAN FALSE (critical FALSE, basicConstraints cA FALSE)",
      "X.690 11.5; RFC 5280 4.1"},
     rule_der_default_value},
    {{"der_boolean", "every BOOLEAN TRUE is 0xFF", "X.690 11.1; RFC 5280 4.1"}, rule_der_boolean},
    {{"ext_der",
      "each extension value is one DER value; known ones decode and re-encode identically",
      "RFC 5280 4.1, 4.2"},
     rule_ext_der},
    {{"ski_missing", "subjectKeyIdentifier is present and not empty", "RFC 5280 4.2.1.2"},
     rule_ski_missing},
    {{"ski_critical", "subjectKeyIdentifier is not critical", "RFC 5280 4.2.1.2"},
     rule_ski_critical},
    {{"aki_missing",
      "authorityKeyIdentifier with keyIdentifier is present (optional when self-signed)",
      "RFC 5280 4.2.1.1"},
     rule_aki_missing},
    {{"aki_critical", "authorityKeyIdentifier is not critical", "RFC 5280 4.2.1.1"},
     rule_aki_critical},
    {{"aki_keyid", "authorityKeyIdentifier keyIdentifier equals the issuer's subjectKeyIdentifier",
      "RFC 5280 4.2.1.1"},
     rule_aki_keyid},
    {{"bc_ca", "a CA certificate has basicConstraints with cA TRUE",
      "RFC 5280 4.2.1.9, 4.2.1.3; CA/B BR 7.1.2.10.4"},
     rule_bc_ca},
    {{"bc_critical", "a CA certificate's basicConstraints is critical",
      "RFC 5280 4.2.1.9; CA/B BR 7.1.2.10.4"},
     rule_bc_critical},
    {{"bc_ee", "an end-entity certificate does not assert cA TRUE", "RFC 5280 4.2.1.9"},
     rule_bc_ee},
    {{"bc_pathlen", "pathLenConstraint only with cA TRUE and keyCertSign, and not negative",
      "RFC 5280 4.2.1.9"},
     rule_bc_pathlen},
    {{"ku_missing", "keyUsage is present with at least one bit set",
      "RFC 5280 4.2.1.3; CA/B BR 7.1.2.7.11, 7.1.2.10.7"},
     rule_ku_missing},
    {{"ku_ca", "a CA certificate's keyUsage is critical with keyCertSign and cRLSign",
      "RFC 5280 4.2.1.3; CA/B BR 7.1.2.10.7"},
     rule_ku_ca},
    {{"ku_ee", "an end-entity certificate has neither keyCertSign nor cRLSign",
      "RFC 5280 4.2.1.3; CA/B BR 7.1.2.7.11"},
     rule_ku_ee},
    {{"ku_key_type",
      "keyUsage fits the key: no encipherment for EC/Ed25519, no keyAgreement for RSA/Ed25519, "
      "encipherOnly/decipherOnly only with keyAgreement",
      "RFC 5280 4.2.1.3; RFC 5480 3; RFC 8410 5; RFC 4055 1.2"},
     rule_ku_key_type},
    {{"eku_any", "an end-entity certificate does not list anyExtendedKeyUsage",
      "CA/B BR 7.1.2.7.10"},
     rule_eku_any},
    {{"server_san", "a serverAuth end-entity certificate has a dNSName or iPAddress SAN",
      "CA/B BR 7.1.2.7.12"},
     rule_server_san},
    {{"server_cn", "a serverAuth certificate's commonName, if any, is one and among its SANs",
      "CA/B BR 7.1.4.3"},
     rule_server_cn},
    {{"server_validity", "a serverAuth end-entity certificate is valid for at most 398 days",
      "CA/B BR 6.3.2"},
     rule_server_validity},
    {{"san_empty", "subjectAltName, when present, is not empty", "RFC 5280 4.2.1.6"},
     rule_san_empty},
    {{"san_invalid",
      "every SAN entry is valid: DNS (LDH, wildcard leftmost), IP (4/16 octets), email "
      "(RFC 5321 mailbox), URI (with a host)",
      "RFC 5280 4.2.1.6; RFC 1034 3.5; RFC 5321 4.1.2; CA/B BR 7.1.2.7.12"},
     rule_san_invalid},
    {{"san_critical", "subjectAltName is critical exactly when the subject is empty",
      "RFC 5280 4.2.1.6"},
     rule_san_critical},
    {{"key_type", "public key is RSA, EC or Ed25519", "CA/B BR 6.1.5; RFC 8410"}, rule_key_type},
    {{"key_rsa_size", "RSA modulus is at least 2048 bits and a multiple of 8", "CA/B BR 6.1.5"},
     rule_key_rsa_size},
    {{"key_rsa_exponent", "RSA public exponent is odd and in 65537..2^256-1", "CA/B BR 6.1.6"},
     rule_key_rsa_exponent},
    {{"key_ec_curve", "EC key is on P-256, P-384 or P-521 by named curve, point uncompressed",
      "CA/B BR 6.1.5, 7.1.3.1.2; RFC 5480 2.1.1, 2.2"},
     rule_key_ec_curve},
    {{"sig_alg",
      "digest fits the signing key: P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, RSA/SHA-2 "
      "256..512, Ed25519/none; a set signature field agrees",
      "CA/B BR 7.1.3.2; RFC 5758 3.2; RFC 4055 5; RFC 8410 3"},
     rule_sig_alg},
    {{"sig_key", "the signing key is the issuer certificate's public key",
      "RFC 5280 4.1.1.3, 6.1.3(a)(1)"},
     rule_sig_key},
    {{"cdp_uri", "cRLDistributionPoints: non-critical, fullName http/https/ldap URIs with a host",
      "RFC 5280 4.2.1.13; CA/B BR 7.1.2.11.2"},
     rule_cdp_uri},
    {{"aia_uri", "authorityInfoAccess: non-critical, http/https/ldap URIs with a host",
      "RFC 5280 4.2.2.1; CA/B BR 7.1.2.7.7"},
     rule_aia_uri},
    {{"policy_oids", "certificatePolicies, when present, lists at least one policy and none twice",
      "RFC 5280 4.2.1.4"},
     rule_policy_oids},
    {{"policy_scope",
      "CA/B TLS policy OIDs (2.23.140.1.1, 2.23.140.1.2.x) only with serverAuth, S/MIME ones "
      "(2.23.140.1.5.x) only with emailProtection",
      "CA/B BR 7.1.6.1; CA/B S/MIME BR 7.1.6.1"},
     rule_policy_scope},
    {{"policy_subject",
      "domain-validated (2.23.140.1.2.1): subject only CN and C; organization-validated "
      "(2.23.140.1.2.2): O and C present",
      "CA/B BR 7.1.2.7.2, 7.1.2.7.3"},
     rule_policy_subject},
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))

size_t lint_rule_count(void)
{
    return NRULES;
}

const struct lint_rule *lint_rule_at(size_t i)
{
    return i < NRULES ? &rules[i].info : NULL;
}

const struct lint_rule *lint_rule_find(const char *name)
{
    size_t i;
    for (i = 0; i < NRULES; i++)
        if (strcmp(rules[i].info.name, name) == 0)
            return &rules[i].info;
    return NULL;
}

static void slot_init(struct ext *e, int nid)
{
    memset(e, 0, sizeof(*e));
    e->nid = nid;
    e->loc = -1;
}

/* The issuer's subjectKeyIdentifier, decoded once per issuer certificate
 * when there is a memo. */
static void issuer_ski_load(struct lctx *c, const X509 *issuer)
{
    struct lint_memo *m = c->memo;

    if (m == NULL || c->issuer == NULL) {
        ext_load(&c->issuer_ski, issuer, NID_subject_key_identifier);
        return;
    }
    if (m->ski_issuer != issuer) {
        ext_free(&m->ski);
        X509_free(m->ski_issuer);
        m->ski_issuer = NULL;
        ext_load(&m->ski, issuer, NID_subject_key_identifier);
        if (X509_up_ref((X509 *)issuer))
            m->ski_issuer = (X509 *)issuer;
    }
    c->issuer_ski = m->ski;
    c->issuer_ski.borrowed = 1;
    if (m->ski_issuer == NULL) {
        /* Not remembered: the context's own. */
        c->issuer_ski.borrowed = 0;
        m->ski.v = NULL;
    }
}

/* Each extension's DER in the TBSCertificate of lint_opts.tbs_der:
 * SEQUENCE { ..., [3] EXPLICIT SEQUENCE OF Extension } (RFC 5280 4.1),
 * the extensions last. n_der stays -1 unless the DER holds as many as the
 * certificate (then each extension i is ext_enc[i]). */
static void tbs_exts_load(struct lctx *c)
{
    const unsigned char *p = c->o->tbs_der, *end;
    struct der_tlv t, f;
    int n = 0;

    c->n_der = -1;
    f.tag = 0;
    if (p == NULL)
        return;
    end = p + c->o->tbs_der_len;
    if (der_next(&t, &p, end) != 0 || t.tag != DER_SEQUENCE || p != end)
        return;
    for (p = t.v, end = t.v + t.len; p < end;) {
        if (der_next(&f, &p, end) != 0)
            return;
        if (f.tag == DER_CTX_CONS(3))
            break;
    }
    if (p < end || f.tag != DER_CTX_CONS(3)) /* not last, or absent */
        return;
    p = f.v;
    end = f.v + f.len;
    if (der_next(&t, &p, end) != 0 || t.tag != DER_SEQUENCE || p != end)
        return;
    for (p = t.v, end = t.v + t.len; p < end; n++) {
        if (n >= TBS_EXTS || der_next(&f, &p, end) != 0 || f.tag != DER_SEQUENCE)
            return;
        c->ext_enc[n] = f.start;
        c->ext_enc_len[n] = f.total;
    }
    if (n == X509_get_ext_count(c->x))
        c->n_der = n;
}

/* t in unix seconds into *out; 0 when t is absent or does not parse. */
static int time_load(int64_t *out, const ASN1_TIME *t)
{
    if (t == NULL)
        return 0;
    if (ca_time_of(out, t) != CM_OK) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}

/* The per-certificate findings that several rules read: the extensions
 * (decoded once, DER-scanned once), the serial number's encoding, the
 * subject attributes' faults, the validity times. */
static void lctx_load(struct lctx *c)
{
    const X509_NAME *n = X509_get_subject_name(c->x);
    char w[WHY_MAX - 32];

    slot_init(&c->bc, NID_basic_constraints);
    slot_init(&c->ku, NID_key_usage);
    slot_init(&c->eku, NID_ext_key_usage);
    slot_init(&c->ski, NID_subject_key_identifier);
    slot_init(&c->aki, NID_authority_key_identifier);
    slot_init(&c->san, NID_subject_alt_name);
    slot_init(&c->cdp, NID_crl_distribution_points);
    slot_init(&c->aia, NID_info_access);
    slot_init(&c->pol, NID_certificate_policies);
    tbs_exts_load(c);
    ext_check_all(c);
    issuer_ski_load(c, c->issuer ? c->issuer : c->x);
    serial_load(c);
    c->nb_ok = time_load(&c->nb_t, X509_get0_notBefore(c->x));
    c->na_ok = time_load(&c->na_t, X509_get0_notAfter(c->x));
    if (c->issuer != NULL)
        c->ina_ok = time_load(&c->ina_t, X509_get0_notAfter(c->issuer));
    for (int f = 0; f < FAULTS; f++)
        c->fault_at[f] = -1;
    for (int i = 0; i < X509_NAME_entry_count(n); i++) {
        enum name_fault f = name_check_entry(X509_NAME_get_entry(n, i), w, sizeof(w));
        if (f != NAME_FAULT_NONE && f < FAULTS && c->fault_at[f] < 0) {
            c->fault_at[f] = i;
            snprintf(c->fault_why[f], sizeof(c->fault_why[f]), "%s", w);
        }
    }
}

static void lctx_free(struct lctx *c)
{
    ext_free(&c->bc);
    ext_free(&c->ku);
    ext_free(&c->eku);
    ext_free(&c->ski);
    ext_free(&c->aki);
    ext_free(&c->san);
    ext_free(&c->cdp);
    ext_free(&c->aia);
    ext_free(&c->pol);
    ext_free(&c->issuer_ski);
}

cm_err lint_cert(const X509 *tbs, const X509 *issuer, const struct lint_opts *o)
{
    return lint_cert_memo(tbs, issuer, o, NULL);
}

cm_err lint_cert_memo(const X509 *tbs, const X509 *issuer, const struct lint_opts *o,
                      struct lint_memo *memo)
{
    static const struct lint_opts defaults = LINT_OPTS_INIT;
    struct lctx c;
    struct key_info ki;
    char why[WHY_MAX], first[WHY_MAX + 64], also[1024];
    size_t i, nfail = 0;
    cm_err rc = CM_OK;

    assert(tbs != NULL);
    memset(&c, 0, sizeof(c));
    c.x = tbs;
    c.issuer = issuer;
    c.o = o ? o : &defaults;
    c.memo = memo;
    c.sub_key = c.o->subject_key ? c.o->subject_key : X509_get0_pubkey(tbs);
    /* The rules clear what their own failed calls queue; a caller's
     * leftovers go once. */
    if (ERR_peek_error() != 0)
        ERR_clear_error();
    lctx_load(&c);
    c.sign_key = c.o->issuer_key ? c.o->issuer_key : issuer ? X509_get0_pubkey(issuer) : c.sub_key;
    c.sub_kind = memo_key_info(memo, c.sub_key).kind;
    ki = memo_key_info(memo, c.sign_key);
    c.sign_kind = ki.kind;
    c.sign_ec_want = ki.ec_want;
    switch (c.o->kind) {
    case LINT_KIND_CA:
        c.is_ca = 1;
        break;
    case LINT_KIND_EE:
        c.is_ca = 0;
        break;
    case LINT_KIND_AUTO:
        c.is_ca =
            (c.bc.v != NULL && ((BASIC_CONSTRAINTS *)c.bc.v)->ca) || ku_bit(&c, KUB_KEY_CERT_SIGN);
        break;
    }
    c.server_auth = eku_has(&c, NID_server_auth);

    first[0] = also[0] = '\0';
    for (i = 0; i < NRULES; i++) {
        int r;
        why[0] = '\0';
        r = rules[i].fn(&c, why, sizeof(why));
        if (r == ERR) {
            rc = cm_err_prefix(CM_ERR_NOMEM, "lint: %s", rules[i].info.name);
            goto out;
        }
        if (r != FAIL)
            continue;
        if (nfail++ == 0) {
            snprintf(first, sizeof(first), "lint: %s: %s", rules[i].info.name, why);
        } else {
            size_t l = strlen(also);
            snprintf(also + l, sizeof(also) - l, "%s%s", l ? ", " : "", rules[i].info.name);
        }
    }
    if (nfail > 0)
        rc = cm_err_set(CM_ERR_LINT, "%s%s%s", first, nfail > 1 ? "; also: " : "", also);
out:
    lctx_free(&c);
    return rc;
}
