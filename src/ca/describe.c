/* The descriptive database columns of a certificate (AD CS's view):
 * DistinguishedName, CommonName, EMail, SubjectAltNames, CertificateHash,
 * SubjectKeyIdentifier, NotBefore, NotAfter, SerialNumber. */
#include "ca/ca.h"
#include "ca/ca_int.h"

#include "ca/name.h"
#include "util/buf.h"
#include "util/der.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* SHA-1 (ca_int.h), fetched once for the process and read-only after:
 * EVP_sha1() makes every EVP_Digest fetch it again, under the provider
 * store's lock (two issuing threads wait on each other there). NULL:
 * EVP_sha1(). */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_fetch(void)
{
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

const EVP_MD *ca_sha1(void)
{
    pthread_once(&sha1_once, sha1_fetch);
    return sha1_md != NULL ? sha1_md : EVP_sha1();
}

/* t in unix seconds. A time in RFC 5280's form (all that certmint
 * issues) is read by der_parse_time, the same value as ASN1_TIME_to_tm
 * and timegm give it for a tenth of their cost (timegm normalises
 * through the time zone code); any other goes to them. */
cm_err ca_time_of(int64_t *out, const ASN1_TIME *t)
{
    struct tm tm;
    struct der_tlv tlv;

    if (t != NULL) {
        memset(&tlv, 0, sizeof(tlv));
        tlv.tag = ASN1_STRING_type(t) == V_ASN1_UTCTIME ? DER_UTCTIME : DER_GENERALIZEDTIME;
        tlv.v = ASN1_STRING_get0_data(t);
        tlv.len = (size_t)ASN1_STRING_length(t);
        if ((ASN1_STRING_type(t) == V_ASN1_UTCTIME ||
             ASN1_STRING_type(t) == V_ASN1_GENERALIZEDTIME) &&
            der_parse_time(out, &tlv) == 0)
            return CM_OK;
    }
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return cm_err_set(CM_ERR_INVALID, "certificate has a malformed time");
    *out = (int64_t)timegm(&tm);
    return CM_OK;
}

static cm_err san_text(char **out, char **first_email, const GENERAL_NAMES *gens)
{
    cm_err rc = CM_OK;
    cm_buf b = CM_BUF_INIT(64 * 1024);
    int i;

    *out = NULL;
    for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const char *sep = b.len ? ", " : "";
        switch (g->type) {
        case GEN_DNS:
        case GEN_EMAIL:
        case GEN_URI: {
            const ASN1_IA5STRING *s = g->d.ia5;
            const char *label = g->type == GEN_DNS     ? "DNS:"
                                : g->type == GEN_EMAIL ? "email:"
                                                       : "URI:";
            size_t n = s->length > 0 ? (size_t)s->length : 0;
            const unsigned char *nul = n > 0 ? memchr(s->data, '\0', n) : NULL;
            /* "sep label:value" in pieces (buf_printf's vsnprintf cost more
             * than the rest of the column), the value up to a NUL as "%.*s"
             * took it (an imported certificate may hold one). */
            if (nul != NULL)
                n = (size_t)(nul - s->data);
            CM_TRY(buf_append_str(&b, sep));
            CM_TRY(buf_append_str(&b, label));
            CM_TRY(buf_append(&b, s->data, n));
            if (g->type == GEN_EMAIL && first_email && *first_email == NULL) {
                *first_email = strndup((const char *)s->data, (size_t)s->length);
                CM_NOMEM_IF(*first_email == NULL);
            }
            break;
        }
        case GEN_IPADD: {
            char ip[INET6_ADDRSTRLEN] = "?";
            const ASN1_OCTET_STRING *s = g->d.iPAddress;
            if (s != NULL && (s->length == 4 || s->length == 16))
                inet_ntop(s->length == 4 ? AF_INET : AF_INET6, s->data, ip, sizeof(ip));
            CM_TRY(buf_printf(&b, "%sIP Address:%s", sep, ip));
            break;
        }
        default:
            CM_TRY(buf_printf(&b, "%sother", sep));
        }
    }
    *out = (char *)buf_steal(&b, NULL);
    if (*out == NULL)
        *out = strdup("");
    CM_NOMEM_IF(*out == NULL);
out:
    buf_free(&b);
    return rc;
}

/* The subjectKeyIdentifier in hex (*out NULL when there is none, or it
 * appears twice or does not decode, as X509_get_ext_d2i finds). Its value
 * is one OCTET STRING: read in place when it is DER (every one certmint
 * makes), else decoded by libcrypto. */
static cm_err ski_text(char **out, const X509 *x)
{
    cm_err rc = CM_OK;
    int loc = X509_get_ext_by_NID(x, NID_subject_key_identifier, -1);
    const ASN1_OCTET_STRING *val;
    ASN1_OCTET_STRING *ski = NULL;
    const unsigned char *p, *id = NULL;
    struct der_tlv t;
    size_t len = 0;

    *out = NULL;
    if (loc < 0 || X509_get_ext_by_NID(x, NID_subject_key_identifier, loc) >= 0)
        return CM_OK;
    val = X509_EXTENSION_get_data(X509_get_ext(x, loc));
    p = ASN1_STRING_get0_data(val);
    if (der_next(&t, &p, p + ASN1_STRING_length(val)) == 0 && t.tag == DER_OCTET_STRING) {
        id = t.v;
        len = t.len;
    } else {
        ski = X509_get_ext_d2i(x, NID_subject_key_identifier, NULL, NULL);
        if (ski == NULL)
            goto out;
        id = ski->data;
        len = (size_t)ski->length;
    }
    *out = malloc(2 * len + 1);
    CM_NOMEM_IF(*out == NULL);
    text_hex(*out, id, len);
out:
    ASN1_OCTET_STRING_free(ski);
    return rc;
}

cm_err ca_cert_describe(struct db_cert *c, X509 *x)
{
    cm_err rc = CM_OK;
    GENERAL_NAMES *gens = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const ASN1_INTEGER *sn;
    char *email = NULL;

    sn = X509_get0_serialNumber(x);
    if (sn == NULL || ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER)
        return cm_err_set(CM_ERR_INVALID, "certificate has a negative serial number");
    CM_TRY(text_serial_from_bytes(c->serial, ASN1_STRING_get0_data(sn),
                                  (size_t)ASN1_STRING_length(sn)));
    CM_TRY(ca_time_of(&c->not_before, X509_get0_notBefore(x)));
    CM_TRY(ca_time_of(&c->not_after, X509_get0_notAfter(x)));
    CM_TRY(name_to_string(&c->dn, X509_get_subject_name(x)));
    CM_TRY(name_get_cn(&c->cn, X509_get_subject_name(x)));
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (gens != NULL)
        CM_TRY(san_text(&c->san, &email, gens));
    if (email == NULL)
        CM_TRY(name_get_email(&email, X509_get_subject_name(x)));
    c->email = email;
    email = NULL;
    /* CertificateHash: the SHA-1 thumbprint, as AD CS and Windows show it. */
    if (c->raw != NULL) {
        /* The DER is at hand (issuance): hash it instead of re-encoding. */
        if (!EVP_Digest(c->raw, c->raw_len, md, &mdlen, ca_sha1(), NULL))
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot hash the certificate");
    } else if (!X509_digest(x, ca_sha1(), md, &mdlen)) {
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot hash the certificate");
    }
    c->hash = malloc(2 * mdlen + 1);
    CM_NOMEM_IF(c->hash == NULL);
    text_hex(c->hash, md, mdlen);
    /* The one extension, decoded alone: X509_get0_subject_key_id would
     * compute OpenSSL's whole extension cache (a SHA-1 of the certificate
     * and every extension decoded), 5% of an issuance's CPU. */
    CM_TRY(ski_text(&c->ski, x));
out:
    free(email);
    GENERAL_NAMES_free(gens);
    return rc;
}
