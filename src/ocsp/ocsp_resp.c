/* BasicOCSPResponse encoding and signing (RFC 6960 4.2.1), written with the
 * DER writer of src/util/der.c and signed through the key ops (src/key), so
 * that the CA key may be in a token and the delegated key in memory alike. */
#include "ocsp/ocsp_int.h"

#include "util/der.h"

#include <stdlib.h>
#include <string.h>

#define OID_OCSP_BASIC "1.3.6.1.5.5.7.48.1.1"
#define OID_OCSP_NONCE "1.3.6.1.5.5.7.48.1.2"
#define OID_OCSP_EXTENDED_REVOKE "1.3.6.1.5.5.7.48.1.9" /* RFC 6960 4.4.8 */

/* CertStatus (4.2.1): good [0] IMPLICIT NULL, revoked [1] IMPLICIT
 * RevokedInfo, unknown [2] IMPLICIT NULL. */
static cm_err put_status(cm_buf *b, const struct ocsp_single *s)
{
    cm_err rc = CM_OK;
    size_t m, m2;
    if (s->status == OCSP_GOOD || s->status == OCSP_UNKNOWN)
        return der_tlv(b, DER_CTX_PRIM(s->status == OCSP_GOOD ? 0 : 2), NULL, 0);
    CM_TRY(der_begin(b, &m, DER_CTX_CONS(1)));
    CM_TRY(der_generalized_time(b, s->rev_time));
    /* revocationReason [0] EXPLICIT CRLReason OPTIONAL: left out for
     * unspecified, as on the CRL (RFC 5280 5.3.1). */
    if (s->reason > 0) {
        CM_TRY(der_begin(b, &m2, DER_CTX_CONS(0)));
        CM_TRY(der_enumerated(b, s->reason));
        CM_TRY(der_end(b, m2));
    }
    CM_TRY(der_end(b, m));
out:
    return rc;
}

static cm_err put_single(cm_buf *b, const struct ocsp_single *s, int64_t now, int64_t validity)
{
    cm_err rc = CM_OK;
    size_t m, m2;
    CM_TRY(der_begin(b, &m, DER_SEQUENCE));
    CM_TRY(buf_append(b, s->certid, s->certid_len));
    CM_TRY(put_status(b, s));
    CM_TRY(der_generalized_time(b, now));
    CM_TRY(der_begin(b, &m2, DER_CTX_CONS(0)));
    CM_TRY(der_generalized_time(b, now + validity));
    CM_TRY(der_end(b, m2));
    CM_TRY(der_end(b, m));
out:
    return rc;
}

static cm_err put_ext(cm_buf *b, const char *oid, const unsigned char *v, size_t n)
{
    cm_err rc = CM_OK;
    size_t m;
    CM_TRY(der_begin(b, &m, DER_SEQUENCE));
    CM_TRY(der_oid_text(b, oid));
    CM_TRY(der_octet_string(b, v, n));
    CM_TRY(der_end(b, m));
out:
    return rc;
}

/* responseExtensions [1] EXPLICIT: the nonce echoed as the client sent it
 * (RFC 8954 2.1), and extended-revoke when a never-issued serial is
 * reported revoked (RFC 6960 2.2, 4.4.8). */
static cm_err put_exts(cm_buf *b, const struct ocsp_sign_in *in)
{
    static const unsigned char null_der[] = {0x05, 0x00};
    cm_err rc = CM_OK;
    size_t m, m2;
    if (in->nonce == NULL && !in->extended_revoke)
        return CM_OK;
    CM_TRY(der_begin(b, &m, DER_CTX_CONS(1)));
    CM_TRY(der_begin(b, &m2, DER_SEQUENCE));
    if (in->nonce != NULL)
        CM_TRY(put_ext(b, OID_OCSP_NONCE, in->nonce, in->nonce_len));
    if (in->extended_revoke)
        CM_TRY(put_ext(b, OID_OCSP_EXTENDED_REVOKE, null_der, sizeof(null_der)));
    CM_TRY(der_end(b, m2));
    CM_TRY(der_end(b, m));
out:
    return rc;
}

/* ResponseData: version v1 (DEFAULT, left out), responderID byKey (the
 * SHA-1 of the signer's public key, RFC 6960 4.2.1 and RFC 5019 2.2.2),
 * producedAt, responses, responseExtensions. */
static cm_err put_tbs(cm_buf *b, const struct ocsp_signer *sg, const struct ocsp_sign_in *in)
{
    cm_err rc = CM_OK;
    size_t m, m2;
    CM_TRY(der_begin(b, &m, DER_SEQUENCE));
    CM_TRY(der_begin(b, &m2, DER_CTX_CONS(2)));
    CM_TRY(der_octet_string(b, sg->key_hash, sizeof(sg->key_hash)));
    CM_TRY(der_end(b, m2));
    CM_TRY(der_generalized_time(b, in->now));
    CM_TRY(der_begin(b, &m2, DER_SEQUENCE));
    for (size_t i = 0; i < in->n; i++)
        CM_TRY(put_single(b, &in->singles[i], in->now, in->validity));
    CM_TRY(der_end(b, m2));
    CM_TRY(put_exts(b, in));
    CM_TRY(der_end(b, m));
out:
    return rc;
}

/* BasicOCSPResponse { tbsResponseData, signatureAlgorithm, signature,
 * certs [0] EXPLICIT (the delegated responder's certificate) } wrapped in
 * OCSPResponse { successful, responseBytes { id-pkix-ocsp-basic, OCTET
 * STRING } }. */
cm_err ocsp_sign_response(unsigned char **der, size_t *len, const struct ocsp_signer *sg,
                          const struct ocsp_sign_in *in)
{
    cm_err rc = CM_OK;
    cm_buf tbs = CM_BUF_INIT(1 << 20), basic = CM_BUF_INIT(1 << 20), out = CM_BUF_INIT(1 << 20);
    unsigned char *sig = NULL;
    const unsigned char *alg = NULL;
    size_t siglen = 0, alglen = 0, m, m2, m3;

    *der = NULL;
    *len = 0;
    CM_TRY(put_tbs(&tbs, sg, in));
    CM_TRY(key_sigalg_der(&alg, &alglen, sg->key));
    CM_TRY(key_sign(sg->key, &sig, &siglen, tbs.data, tbs.len));
    CM_TRY(der_begin(&basic, &m, DER_SEQUENCE));
    CM_TRY(buf_append(&basic, tbs.data, tbs.len));
    CM_TRY(buf_append(&basic, alg, alglen));
    CM_TRY(der_bit_string(&basic, sig, siglen, 0));
    if (sg->cert_der != NULL) {
        CM_TRY(der_begin(&basic, &m2, DER_CTX_CONS(0)));
        CM_TRY(der_begin(&basic, &m3, DER_SEQUENCE));
        CM_TRY(buf_append(&basic, sg->cert_der, sg->cert_der_len));
        CM_TRY(der_end(&basic, m3));
        CM_TRY(der_end(&basic, m2));
    }
    CM_TRY(der_end(&basic, m));

    CM_TRY(der_begin(&out, &m, DER_SEQUENCE));
    CM_TRY(der_enumerated(&out, OCSP_ST_SUCCESSFUL));
    CM_TRY(der_begin(&out, &m2, DER_CTX_CONS(0)));
    CM_TRY(der_begin(&out, &m3, DER_SEQUENCE));
    CM_TRY(der_oid_text(&out, OID_OCSP_BASIC));
    CM_TRY(der_octet_string(&out, basic.data, basic.len));
    CM_TRY(der_end(&out, m3));
    CM_TRY(der_end(&out, m2));
    CM_TRY(der_end(&out, m));
    *der = buf_steal(&out, len);
out:
    free(sig);
    buf_free(&tbs);
    buf_free(&basic);
    buf_free(&out);
    return rc;
}

/* An unsuccessful OCSPResponse: the status alone, no responseBytes, not
 * signed (RFC 6960 4.2.1). */
cm_err ocsp_error_response(unsigned char **der, size_t *len, int status)
{
    unsigned char *p = malloc(5);
    *der = NULL;
    *len = 0;
    if (p == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    p[0] = 0x30;
    p[1] = 3;
    p[2] = 0x0a;
    p[3] = 1;
    p[4] = (unsigned char)status;
    *der = p;
    *len = 5;
    return CM_OK;
}
