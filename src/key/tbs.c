/* The TBSCertificate of a certificate built in memory, without libcrypto's
 * template encoder: i2d_re_X509_tbs() walks the whole ASN.1 template twice
 * (once for the lengths, once to write) and cost about 57,000 instructions
 * per issued certificate, three times the rest of its build. Every field
 * here is already encoded or a plain string: the names keep their DER
 * (X509_NAME_get0_der), the extensions their OID and value octets, the
 * public key its bits; this only adds the headers. */
#include "key/tbs.h"

#include "util/der.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <string.h>

/* OBJECT IDENTIFIER of o, whole TLV. */
static cm_err put_oid(cm_buf *b, const ASN1_OBJECT *o)
{
    const unsigned char *d = OBJ_get0_data(o);
    size_t n = OBJ_length(o);

    if (d == NULL || n == 0)
        return cm_err_set(CM_ERR_UNSUPPORTED, "an OID without its encoding");
    return der_oid(b, d, n);
}

/* INTEGER as i2c_ASN1_INTEGER writes a positive one (the magnitude, a
 * 0x00 octet first when its top bit is set, "0" when empty), which is
 * der_integer_bytes for a magnitude without leading zero octets; one with
 * them (never made by certmint) goes to libcrypto's encoder. */
static cm_err put_serial(cm_buf *b, const ASN1_INTEGER *sn)
{
    const unsigned char *d = ASN1_STRING_get0_data(sn);
    size_t n = (size_t)ASN1_STRING_length(sn);

    if (ASN1_STRING_type(sn) != V_ASN1_INTEGER || (n > 1 && d[0] == 0))
        return cm_err_set(CM_ERR_UNSUPPORTED, "a negative or unminimised serial number");
    return der_integer_bytes(b, d, n);
}

static cm_err put_time(cm_buf *b, const ASN1_TIME *t)
{
    int type = ASN1_STRING_type(t);

    if (type != V_ASN1_UTCTIME && type != V_ASN1_GENERALIZEDTIME)
        return cm_err_set(CM_ERR_UNSUPPORTED, "a time of type %d", type);
    return der_tlv(b, type == V_ASN1_UTCTIME ? DER_UTCTIME : DER_GENERALIZEDTIME,
                   ASN1_STRING_get0_data(t), (size_t)ASN1_STRING_length(t));
}

static cm_err put_name(cm_buf *b, const X509_NAME *n)
{
    const unsigned char *d = NULL;
    size_t len = 0;

    if (n == NULL || !X509_NAME_get0_der(n, &d, &len))
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot encode a name");
    return buf_append(b, d, len);
}

/* SubjectPublicKeyInfo (4.1.2.7): the algorithm's OID and parameters (an
 * OID, NULL, absent, or a SEQUENCE kept whole) and the key bits as whole
 * octets. OpenSSL 3 has no getter for the bits' unused count; every way a
 * key gets into an X509 (X509_PUBKEY_set0_param, X509_PUBKEY_set, the
 * decoder) marks it explicit and zero for the keys certmint certifies (EC
 * points, RSA and Ed25519 keys are whole octets), which is what
 * i2d_re_X509_tbs() then writes; test_issue_build compares the two. */
static cm_err put_spki(cm_buf *b, X509_PUBKEY *pk)
{
    cm_err rc = CM_OK;
    ASN1_OBJECT *oid = NULL;
    const unsigned char *bits = NULL;
    int bits_len = 0, ptype = V_ASN1_UNDEF;
    X509_ALGOR *alg = NULL;
    const void *pval = NULL;
    const ASN1_OBJECT *aoid = NULL;
    size_t m1, m2;

    if (pk == NULL || !X509_PUBKEY_get0_param(&oid, &bits, &bits_len, &alg, pk) || alg == NULL)
        CM_FAIL(CM_ERR_UNSUPPORTED, "no public key");
    X509_ALGOR_get0(&aoid, &ptype, &pval, alg);
    CM_TRY(der_begin(b, &m1, DER_SEQUENCE));
    CM_TRY(der_begin(b, &m2, DER_SEQUENCE));
    CM_TRY(put_oid(b, aoid));
    if (ptype == V_ASN1_OBJECT)
        CM_TRY(put_oid(b, pval));
    else if (ptype == V_ASN1_NULL)
        CM_TRY(der_null(b));
    else if (ptype == V_ASN1_SEQUENCE)
        CM_TRY(buf_append(b, ASN1_STRING_get0_data(pval), (size_t)ASN1_STRING_length(pval)));
    else if (ptype != V_ASN1_UNDEF)
        CM_FAIL(CM_ERR_UNSUPPORTED, "public key parameters of type %d", ptype);
    CM_TRY(der_end(b, m2));
    CM_TRY(der_bit_string(b, bits, (size_t)bits_len, 0));
    CM_TRY(der_end(b, m1));
out:
    return rc;
}

/* Extensions (4.1.2.9): [3] EXPLICIT SEQUENCE OF Extension, absent when
 * there is none; critical encoded only when TRUE (DEFAULT FALSE, X.690
 * 11.5), as X509_EXTENSION_set_critical leaves it. */
static cm_err put_extensions(cm_buf *b, const STACK_OF(X509_EXTENSION) * exts)
{
    cm_err rc = CM_OK;
    size_t m0, m1, m2;
    int n = exts != NULL ? sk_X509_EXTENSION_num(exts) : 0;

    if (n <= 0)
        return CM_OK;
    CM_TRY(der_begin(b, &m0, DER_CTX_CONS(3)));
    CM_TRY(der_begin(b, &m1, DER_SEQUENCE));
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
        CM_TRY(der_begin(b, &m2, DER_SEQUENCE));
        CM_TRY(put_oid(b, X509_EXTENSION_get_object(e)));
        if (X509_EXTENSION_get_critical(e))
            CM_TRY(der_boolean(b, 1));
        CM_TRY(der_octet_string(b, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v)));
        CM_TRY(der_end(b, m2));
    }
    CM_TRY(der_end(b, m1));
    CM_TRY(der_end(b, m0));
out:
    return rc;
}

cm_err tbs_encode(cm_buf *b, const X509 *x, const unsigned char *sigalg, size_t sigalg_len)
{
    cm_err rc = CM_OK;
    const ASN1_BIT_STRING *iuid = NULL, *suid = NULL;
    long version = X509_get_version(x);
    size_t start = b->len, m0, m1;

    X509_get0_uids(x, &iuid, &suid);
    if (iuid != NULL || suid != NULL || version < 0 || version > 2)
        return cm_err_set(CM_ERR_UNSUPPORTED, "unique identifiers or version %ld", version);
    CM_TRY(buf_reserve(b, 1024));
    CM_TRY(der_begin(b, &m0, DER_SEQUENCE));
    if (version != X509_VERSION_1) { /* DEFAULT v1 (4.1.2.1) */
        const unsigned char v[] = {0xa0, 0x03, 0x02, 0x01, (unsigned char)version};
        CM_TRY(buf_append(b, v, sizeof(v)));
    }
    CM_TRY(put_serial(b, X509_get0_serialNumber(x)));
    CM_TRY(buf_append(b, sigalg, sigalg_len));
    CM_TRY(put_name(b, X509_get_issuer_name(x)));
    CM_TRY(der_begin(b, &m1, DER_SEQUENCE));
    CM_TRY(put_time(b, X509_get0_notBefore(x)));
    CM_TRY(put_time(b, X509_get0_notAfter(x)));
    CM_TRY(der_end(b, m1));
    CM_TRY(put_name(b, X509_get_subject_name(x)));
    CM_TRY(put_spki(b, X509_get_X509_PUBKEY(x)));
    CM_TRY(put_extensions(b, X509_get0_extensions(x)));
    CM_TRY(der_end(b, m0));
out:
    if (rc != CM_OK)
        b->len = start;
    return rc;
}
