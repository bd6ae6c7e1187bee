/* OCSPRequest parsing (RFC 6960 4.1). The DER is decoded by libcrypto's
 * ASN.1 templates; this file checks what a responder must (RFC 6960 4.1.2,
 * RFC 8954) and copies out what it needs. */
#include "ocsp/ocsp.h"

#include <openssl/ocsp.h>
#include <openssl/objects.h>
#include <string.h>

static cm_err copy_certid(struct ocsp_certid *id, OCSP_CERTID *cid)
{
    cm_err rc = CM_OK;
    ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
    ASN1_OBJECT *md = NULL;
    ASN1_INTEGER *serial = NULL;
    unsigned char *p = id->der;
    int n;

    memset(id, 0, sizeof(*id));
    n = i2d_OCSP_CERTID(cid, NULL);
    if (n <= 0 || (size_t)n > sizeof(id->der))
        CM_FAIL(CM_ERR_INVALID, "OCSP request: CertID too large");
    id->der_len = (size_t)i2d_OCSP_CERTID(cid, &p);
    if (!OCSP_id_get0_info(&nh, &md, &kh, &serial, cid) || nh == NULL || kh == NULL || md == NULL ||
        serial == NULL)
        CM_FAIL(CM_ERR_INVALID, "OCSP request: incomplete CertID");
    id->md_nid = OBJ_obj2nid(md);
    if (nh->length <= 0 || (size_t)nh->length > sizeof(id->name_hash) || kh->length <= 0 ||
        (size_t)kh->length > sizeof(id->key_hash))
        CM_FAIL(CM_ERR_INVALID, "OCSP request: CertID hash of a bad length");
    memcpy(id->name_hash, nh->data, (size_t)nh->length);
    id->name_hash_len = (size_t)nh->length;
    memcpy(id->key_hash, kh->data, (size_t)kh->length);
    id->key_hash_len = (size_t)kh->length;
    /* A negative, zero or over-long serial was never issued here: it stays
     * "" and is answered as a serial this CA does not know. */
    if (ASN1_STRING_type(serial) == V_ASN1_INTEGER && serial->length > 0 && serial->length <= 20 &&
        text_serial_from_bytes(id->serial, serial->data, (size_t)serial->length) != CM_OK)
        id->serial[0] = '\0';
out:
    return rc;
}

/* requestExtensions: the nonce (RFC 8954) is taken; an unknown critical
 * extension makes the request one this responder cannot honour. */
static cm_err request_exts(struct ocsp_request *out, OCSP_REQUEST *req)
{
    cm_err rc = CM_OK;
    int n = OCSP_REQUEST_get_ext_count(req);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *e = OCSP_REQUEST_get_ext(req, i);
        ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_id_pkix_OCSP_Nonce) {
            if (out->has_nonce)
                CM_FAIL(CM_ERR_INVALID, "OCSP request: two nonce extensions");
            /* RFC 8954 2.1: the nonce is 1 to 32 octets; the extnValue
             * holds it as an OCTET STRING (2 octets of header). */
            if (v == NULL || v->length < 1 || (size_t)v->length > OCSP_MAX_NONCE)
                CM_FAIL(CM_ERR_INVALID, "OCSP request: nonce of a bad length");
            memcpy(out->nonce, v->data, (size_t)v->length);
            out->nonce_len = (size_t)v->length;
            out->has_nonce = 1;
        } else if (X509_EXTENSION_get_critical(e)) {
            CM_FAIL(CM_ERR_INVALID, "OCSP request: unknown critical extension");
        }
    }
out:
    return rc;
}

cm_err ocsp_request_parse(struct ocsp_request *out, const unsigned char *der, size_t len)
{
    cm_err rc = CM_OK;
    OCSP_REQUEST *req = NULL;
    const unsigned char *p = der;
    int n;

    memset(out, 0, sizeof(*out));
    if (der == NULL || len == 0)
        CM_FAIL(CM_ERR_INVALID, "OCSP request: empty");
    if (len > OCSP_MAX_REQUEST)
        CM_FAIL(CM_ERR_INVALID, "OCSP request: larger than %d bytes", OCSP_MAX_REQUEST);
    req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
    if (req == NULL)
        CM_FAIL(CM_ERR_INVALID, "OCSP request: not a DER OCSPRequest");
    if (p != der + len)
        CM_FAIL(CM_ERR_INVALID, "OCSP request: trailing bytes after the OCSPRequest");
    n = OCSP_request_onereq_count(req);
    if (n <= 0)
        CM_FAIL(CM_ERR_INVALID, "OCSP request: no certificate asked about");
    if (n > OCSP_MAX_CERTIDS)
        CM_FAIL(CM_ERR_INVALID, "OCSP request: more than %d CertIDs", OCSP_MAX_CERTIDS);
    for (int i = 0; i < n; i++)
        CM_TRY(copy_certid(&out->ids[i], OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i))));
    out->n = (size_t)n;
    CM_TRY(request_exts(out, req));
out:
    OCSP_REQUEST_free(req);
    if (rc != CM_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
