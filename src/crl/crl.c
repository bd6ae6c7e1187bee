/* The CRL encoder: streaming DER, one buffer, signed in place. */
#include "crl/crl.h"
#include "util/der.h"
#include "util/fsutil.h"

#include <assert.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* CRL extension OIDs, content octets (RFC 5280 5.2). The entry extensions
 * reasonCode (2.5.29.21) and invalidityDate (2.5.29.24) are inlined in
 * encode_entry(). */
static const unsigned char oid_crl_number[] = {0x55, 0x1d, 0x14}; /* 2.5.29.20 */
static const unsigned char oid_delta_crl[] = {0x55, 0x1d, 0x1b};  /* 2.5.29.27 */
static const unsigned char oid_aki[] = {0x55, 0x1d, 0x23};        /* 2.5.29.35 */
static const unsigned char oid_freshest[] = {0x55, 0x1d, 0x2e};   /* 2.5.29.46 */

/* The signature algorithm follows the CA key (src/key/key.h). */
struct sigalg {
    const char *md; /* NULL: the algorithm hashes itself (Ed25519) */
    const unsigned char *der;
    size_t len;
};

static cm_err sigalg_for_key(struct sigalg *out, const cm_key *key)
{
    out->md = key_sign_md(key_public(key));
    return key_sigalg_der(&out->der, &out->len, key);
}

/* Largest entry: SEQUENCE header, serial of 64 octets + sign octet, Time,
 * extensions (header 2 + reasonCode 12 + invalidityDate 26): 124 octets.
 * Below 128, so an entry's own length is always one octet. */
#define ENTRY_MAX (2 + DER_INT_HEX_MAX + DER_TIME_MAX + 2 + 12 + 26)

/* One RevokedCertificate (RFC 5280 5.1.2.6) into e; returns its size, or 0
 * with the error set. */
static size_t encode_entry(unsigned char e[ENTRY_MAX], const struct db_revoked *r, cm_err *rc)
{
    size_t o = 2, n, ext_at;

    n = der_put_integer_hex(e + o, DER_INT_HEX_MAX, r->serial);
    if (n == 0) {
        *rc = cm_err_set(CM_ERR_INVALID, "revoked serial '%s': not a hex serial number", r->serial);
        return 0;
    }
    o += n;
    /* revocationDate: the time the revocation takes effect (5.1.2.6). */
    n = der_put_time(e + o, r->revoked_effective_when);
    if (n == 0) {
        *rc = cm_err_set(CM_ERR_INVALID, "revoked serial %s: revocation date %lld out of range",
                         r->serial, (long long)r->revoked_effective_when);
        return 0;
    }
    o += n;
    if (r->reason < 0 || r->reason > 127) {
        *rc = cm_err_set(CM_ERR_INVALID, "revoked serial %s: reason code %d is not a CRLReason",
                         r->serial, r->reason);
        return 0;
    }
    ext_at = o;
    o += 2; /* crlEntryExtensions SEQUENCE header, patched below */
    /* 5.3.1: reasonCode is absent rather than unspecified(0). */
    if (r->reason != DB_REASON_UNSPECIFIED) {
        static const unsigned char h[] = {0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d,
                                          0x15, 0x04, 0x03, 0x0a, 0x01};
        memcpy(e + o, h, sizeof(h));
        o += sizeof(h);
        e[o++] = (unsigned char)r->reason;
    }
    /* 5.3.2: invalidityDate is always a GeneralizedTime. */
    if (r->invalidity_date > 0) {
        static const unsigned char h[] = {0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11};
        memcpy(e + o, h, sizeof(h));
        o += sizeof(h);
        n = der_put_generalized_time(e + o, r->invalidity_date);
        if (n != 17) {
            *rc = cm_err_set(CM_ERR_INVALID, "revoked serial %s: invalidity date %lld out of range",
                             r->serial, (long long)r->invalidity_date);
            return 0;
        }
        o += n;
    }
    if (o == ext_at + 2) {
        o = ext_at; /* no extension: the optional SEQUENCE is absent */
    } else {
        e[ext_at] = DER_SEQUENCE;
        e[ext_at + 1] = (unsigned char)(o - ext_at - 2);
    }
    e[0] = DER_SEQUENCE;
    e[1] = (unsigned char)(o - 2);
    assert(o <= ENTRY_MAX && o - 2 < 0x80);
    return o;
}

cm_err crl_encode_revoked(cm_buf *out, const struct db_revoked *r)
{
    unsigned char e[ENTRY_MAX];
    cm_err rc = CM_OK;
    size_t n = encode_entry(e, r, &rc);
    if (n == 0)
        return rc;
    return buf_append(out, e, n);
}

struct build_state {
    cm_buf *buf;
    int64_t n;
};

static cm_err build_entry_cb(void *ctx, const struct db_revoked *r)
{
    struct build_state *st = ctx;
    cm_err rc = crl_encode_revoked(st->buf, r);
    if (rc == CM_OK)
        st->n++;
    return rc;
}

/* Starts Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue
 * OCTET STRING }; the caller appends extnValue's content, then ext_end(). */
static cm_err ext_begin(cm_buf *b, size_t marks[2], const unsigned char *oid, size_t oidlen,
                        int critical)
{
    cm_err rc;
    if ((rc = der_begin(b, &marks[0], DER_SEQUENCE)) != CM_OK ||
        (rc = der_oid(b, oid, oidlen)) != CM_OK)
        return rc;
    /* DER omits a BOOLEAN equal to its DEFAULT (X.690 11.5). */
    if (critical && (rc = der_boolean(b, 1)) != CM_OK)
        return rc;
    return der_begin(b, &marks[1], DER_OCTET_STRING);
}

static cm_err ext_end(cm_buf *b, size_t marks[2])
{
    cm_err rc = der_end(b, marks[1]);
    if (rc != CM_OK)
        return rc;
    return der_end(b, marks[0]);
}

/* crlExtensions [0] EXPLICIT Extensions (5.1.2.7, 5.2). */
static cm_err build_crl_extensions(cm_buf *b, const struct crl_params *p)
{
    cm_err rc = CM_OK;
    size_t m0, m1, em[2], m2, m3, m4, m5;

    CM_TRY(der_begin(b, &m0, DER_CTX_CONS(0)));
    CM_TRY(der_begin(b, &m1, DER_SEQUENCE));
    /* 5.2.1: authorityKeyIdentifier { keyIdentifier [0] IMPLICIT OCTET STRING }. */
    if (p->aki_keyid_len > 0) {
        CM_TRY(ext_begin(b, em, oid_aki, sizeof(oid_aki), 0));
        CM_TRY(der_begin(b, &m2, DER_SEQUENCE));
        CM_TRY(der_tlv(b, DER_CTX_PRIM(0), p->aki_keyid, p->aki_keyid_len));
        CM_TRY(der_end(b, m2));
        CM_TRY(ext_end(b, em));
    }
    /* 5.2.3: cRLNumber, non-critical. */
    CM_TRY(ext_begin(b, em, oid_crl_number, sizeof(oid_crl_number), 0));
    CM_TRY(der_integer(b, p->number));
    CM_TRY(ext_end(b, em));
    if (p->is_delta) {
        /* 5.2.4: deltaCRLIndicator, critical, BaseCRLNumber. */
        CM_TRY(ext_begin(b, em, oid_delta_crl, sizeof(oid_delta_crl), 1));
        CM_TRY(der_integer(b, p->base_number));
        CM_TRY(ext_end(b, em));
    } else if (p->freshest_url != NULL && p->freshest_url[0] != '\0') {
        /* 5.2.6: freshestCRL, non-critical, CRLDistributionPoints syntax:
         * SEQUENCE OF DistributionPoint { [0] { fullName [0] { URI [6] } } }. */
        CM_TRY(ext_begin(b, em, oid_freshest, sizeof(oid_freshest), 0));
        CM_TRY(der_begin(b, &m2, DER_SEQUENCE));
        CM_TRY(der_begin(b, &m3, DER_SEQUENCE));
        CM_TRY(der_begin(b, &m4, DER_CTX_CONS(0)));
        CM_TRY(der_begin(b, &m5, DER_CTX_CONS(0)));
        CM_TRY(der_tlv(b, DER_CTX_PRIM(6), p->freshest_url, strlen(p->freshest_url)));
        CM_TRY(der_end(b, m5));
        CM_TRY(der_end(b, m4));
        CM_TRY(der_end(b, m3));
        CM_TRY(der_end(b, m2));
        CM_TRY(ext_end(b, em));
    }
    CM_TRY(der_end(b, m1));
    CM_TRY(der_end(b, m0));
out:
    return rc;
}

/* Signs tbs through the key's backend and checks the signature with its
 * public half, so that a faulty signer never publishes a CRL nobody can
 * verify. */
static cm_err sign_tbs(unsigned char **sig, size_t *siglen, const struct sigalg *sa,
                       const cm_key *key, const unsigned char *tbs, size_t tbslen)
{
    cm_err rc = CM_OK;
    EVP_MD_CTX *mctx = NULL;
    unsigned char *s = NULL;
    size_t n = 0;

    *sig = NULL;
    *siglen = 0;
    CM_TRY(key_sign(key, &s, &n, tbs, tbslen));
    mctx = EVP_MD_CTX_new();
    CM_NOMEM_IF(mctx == NULL);
    if (EVP_DigestVerifyInit_ex(mctx, NULL, sa->md, NULL, NULL, key_public(key), NULL) != 1 ||
        EVP_DigestVerify(mctx, s, n, tbs, tbslen) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "CRL: the new signature does not verify with the CA key");
    *sig = s;
    *siglen = n;
    s = NULL;
out:
    free(s);
    EVP_MD_CTX_free(mctx);
    return rc;
}

/* TBSCertList fields before the entries (5.1.2), and the header of the
 * entries' SEQUENCE: n entries in entries_len bytes. */
static cm_err build_tbs_start(cm_buf *pre, const struct sigalg *sa, const struct crl_params *p,
                              int64_t n, size_t entries_len)
{
    cm_err rc = CM_OK;
    static const unsigned char version_v2[] = {DER_INTEGER, 1, 1};

    CM_TRY(buf_append(pre, version_v2, sizeof(version_v2)));
    CM_TRY(buf_append(pre, sa->der, sa->len));
    CM_TRY(buf_append(pre, p->issuer_der, p->issuer_len));
    CM_TRY(der_time(pre, p->this_update));
    CM_TRY(der_time(pre, p->next_update));
    /* 5.1.2.6: with no revoked certificate the list is absent. */
    if (n > 0) {
        if (entries_len > DER_LEN_MAX)
            CM_FAIL(CM_ERR_INVALID, "CRL of %lld entries is too large", (long long)n);
        CM_TRY(der_header(pre, DER_SEQUENCE, entries_len));
    }
out:
    return rc;
}

cm_err crl_build(struct crl_output *out, const struct crl_params *p, crl_entry_iter_fn iter,
                 void *iter_ctx)
{
    cm_err rc = CM_OK;
    struct crl_output o = CRL_OUTPUT_INIT;
    cm_buf pre = CM_BUF_INIT(1 << 20), ext = CM_BUF_INIT(1 << 20);
    struct sigalg sal, *sa = &sal;
    struct build_state st = {NULL, 0};
    unsigned char *sig = NULL;
    unsigned char hdr[DER_HEADER_MAX];
    size_t head, entries_len, tbs_len, tbs_off, hl, siglen = 0, der_off;

    assert(out != NULL && p != NULL && p->key != NULL && iter != NULL);
    assert(p->issuer_der != NULL || p->issuer_len == 0);
    memset(out, 0, sizeof(*out));
    buf_init(&out->buf, CRL_MAX_BYTES);
    CM_TRY(sigalg_for_key(sa, p->key));
    if (p->issuer_len > 65536)
        CM_FAIL(CM_ERR_INVALID, "CRL issuer name of %zu bytes is too large", p->issuer_len);

    /* The entries go after `head` bytes of room, which later receive the
     * outer and TBSCertList headers and the fields before the entries, so
     * that the whole CRL ends up contiguous without copying the entries. */
    head = p->issuer_len + 160;
    {
        size_t hint = p->entries_hint < CRL_MAX_BYTES / 64 ? p->entries_hint : 0;
        CM_TRY(buf_reserve(&o.buf, head + hint * 48));
    }
    memset(o.buf.data, 0, head);
    o.buf.len = head;
    st.buf = &o.buf;
    CM_TRY(iter(iter_ctx, build_entry_cb, &st));
    entries_len = o.buf.len - head;

    CM_TRY(build_crl_extensions(&ext, p));

    CM_TRY(build_tbs_start(&pre, sa, p, st.n, entries_len));
    tbs_len = pre.len + entries_len + ext.len;
    if (tbs_len > DER_LEN_MAX - 1024)
        CM_FAIL(CM_ERR_INVALID, "CRL of %lld entries is too large", (long long)st.n);
    hl = der_put_header(hdr, DER_SEQUENCE, tbs_len);
    assert(hl + pre.len + DER_HEADER_MAX <= head);
    CM_TRY(buf_append(&o.buf, ext.data, ext.len));
    tbs_off = head - pre.len - hl;
    memcpy(o.buf.data + tbs_off, hdr, hl);
    memcpy(o.buf.data + tbs_off + hl, pre.data, pre.len);

    /* Every to-be-signed object is linted; a broken rule refuses signing. */
    CM_TRY(crl_lint(NULL, o.buf.data + tbs_off, o.buf.len - tbs_off, p->last_number));

    CM_TRY(sign_tbs(&sig, &siglen, sa, p->key, o.buf.data + tbs_off, o.buf.len - tbs_off));
    CM_TRY(buf_append(&o.buf, sa->der, sa->len));
    CM_TRY(der_bit_string(&o.buf, sig, siglen, 0));

    /* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm,
     * signatureValue } (5.1). */
    hl = der_put_header(hdr, DER_SEQUENCE, o.buf.len - tbs_off);
    der_off = tbs_off - hl;
    memcpy(o.buf.data + der_off, hdr, hl);
    o.off = der_off;
    o.len = o.buf.len - der_off;
    o.der_len = o.len;
    o.entries = st.n;
    if (EVP_Digest(o.buf.data + o.off, o.len, o.sha256, NULL, EVP_sha256(), NULL) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "CRL: SHA-256 failed");
    *out = o;
    memset(&o, 0, sizeof(o));
out:
    free(sig);
    buf_free(&pre);
    buf_free(&ext);
    buf_free(&o.buf);
    return rc;
}

void crl_output_free(struct crl_output *o)
{
    if (o == NULL)
        return;
    buf_free(&o->buf);
    memset(o, 0, sizeof(*o));
}

cm_err crl_output_write(struct crl_output *o, const char *der_path, const char *pem_path,
                        mode_t mode)
{
    cm_err rc;

    assert(o != NULL && o->buf.data != NULL);
    if (der_path != NULL) {
        if (o->is_pem)
            return cm_err_set(CM_ERR_STATE, "%s: the CRL was already turned into PEM", der_path);
        if ((rc = fs_write_atomic(der_path, o->buf.data + o->off, o->len, mode)) != CM_OK)
            return rc;
    }
    if (pem_path != NULL) {
        if (!o->is_pem) {
            if ((rc = der_pem_inplace(&o->buf, &o->off, &o->len, "X509 CRL")) != CM_OK)
                return rc;
            o->is_pem = 1;
        }
        if ((rc = fs_write_atomic(pem_path, o->buf.data + o->off, o->len, mode)) != CM_OK)
            return rc;
    }
    return CM_OK;
}
