/* Key archival on the submission path (issue 12, docs/key-archival.md).
 *
 * decide (before signing, no database writes): the profile's archive_key
 * against what came with the request; the client's envelope opened with
 * the transport key; the private key in it must match the request's public
 * key, or the request is denied with that reason.
 * seal (after signing, still outside the transaction): a fresh 256-bit
 * content key seals the PKCS#8 key with AES-256-GCM (the serial as
 * associated data); the content key is split M-of-N (kra.threshold of the
 * active agents) and each share is enveloped (CMS) to one agent. Only the
 * sealed key and the envelopes are kept: the CA forgets the key and the
 * content key at once.
 * record (in the transaction): the archive row, KEYARCHIVED, audit. */
#include "ca/kra_int.h"

#include "event/event.h"
#include "kra/kra.h"
#include "util/buf.h"
#include "util/text.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

struct ca_archived {
    unsigned char *pkcs8; /* the client's key, PKCS#8 DER (wiped when freed) */
    size_t pkcs8_len;
    unsigned char *record; /* the archive record, text */
    size_t record_len;
    char serial[CM_SERIAL_BUF];
    unsigned m, n;
};

void kra_archived_free(struct ca_archived *a)
{
    if (a == NULL)
        return;
    kra_secret_free(a->pkcs8, a->pkcs8_len);
    free(a->record);
    free(a);
}

static cm_err deny(const char *fmt, const char *arg)
{
    return cm_err_set(CM_ERR_POLICY, fmt, arg);
}

/* The envelope's content: an unencrypted PKCS#8 PrivateKeyInfo (RFC 5958),
 * DER or PEM. *der is it as DER (secret, the caller wipes it). */
static cm_err key_from_content(EVP_PKEY **k, unsigned char **der, size_t *derlen,
                               const unsigned char *in, size_t len)
{
    const unsigned char *p = in;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    BIO *b = NULL;
    int n;
    cm_err rc = CM_OK;

    *k = NULL;
    *der = NULL;
    if (len > 10 && memcmp(in, "-----BEGIN", 10) == 0) {
        b = BIO_new_mem_buf(in, (int)len);
        p8 = b ? PEM_read_bio_PKCS8_PRIV_KEY_INFO(b, NULL, NULL, NULL) : NULL;
    } else {
        p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    }
    if (p8 == NULL || (*k = EVP_PKCS82PKEY(p8)) == NULL)
        CM_FAIL_OSSL(CM_ERR_POLICY, "the archive envelope does not hold an unencrypted PKCS#8 "
                                    "private key");
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, der);
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the private key");
    *derlen = (size_t)n;
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    BIO_free(b);
    return rc;
}

/* Keeps the handle's transport key, which another thread may be using,
 * until the handle is closed (a renewal replaces it: rare). */
static cm_err kra_tk_retire(struct ca *h)
{
    struct kra_tk_old *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    o->k = h->kra_tk;
    o->next = h->kra_tk_old;
    h->kra_tk_old = o;
    return CM_OK;
}

/* The handle's transport key: in the key process when the CA key is there
 * (certmint serve: the serving process holds neither), else opened here
 * (file or token). Called under h->mu. */
static cm_err transport_open_handle(struct ca *h, ca_ctx *ca)
{
    cm_err rc;

    if (h->signer != NULL &&
        (rc = key_open_aux(&h->kra_tk, h->signer, KEY_AUX_TRANSPORT)) != CM_ERR_UNSUPPORTED) {
        if (rc == CM_OK && (rc = kra_transport_load(NULL, &h->kra_tc, ca, 0)) == CM_OK &&
            EVP_PKEY_eq(X509_get0_pubkey(h->kra_tc), key_public(h->kra_tk)) != 1)
            rc = cm_err_set(CM_ERR_CRYPTO, "the key process's key-transport key does not match %s",
                            KRA_TRANSPORT_CERT);
        return rc;
    }
    cm_err_clear();
    return kra_transport_load(&h->kra_tk, &h->kra_tc, ca, 1);
}

/* The transport key: a server (or one submit of many envelopes) pays its
 * KDF or token login once. The handle keeps it under its mutex, as
 * ca_load_key does the CA key; the certificate file is read each time, and
 * a different one (kra transport-cert --renew, in any process) reopens the
 * key. A bare session (no handle) opens it each time (*own: the caller
 * closes *tk). The handle's key is used after the mutex is given back: a
 * replaced one is kept (kra_tk_old) until the handle is closed, when no
 * session is out. */
static cm_err transport_cached(const cm_key **tk, cm_key **own, X509 **tc, ca_ctx *ca)
{
    struct ca *h = ca->h;
    X509 *now = NULL;
    cm_err rc;

    *tk = NULL;
    *own = NULL;
    *tc = NULL;
    if (h == NULL) {
        rc = kra_transport_load(own, tc, ca, 1);
        *tk = *own;
        return rc;
    }
    CM_TRY(kra_transport_load(NULL, &now, ca, 0));
    pthread_mutex_lock(&h->mu);
    if (h->kra_tk == NULL || h->kra_tc == NULL || X509_cmp(h->kra_tc, now) != 0) {
        if (h->kra_tk != NULL && (rc = kra_tk_retire(h)) != CM_OK) {
            pthread_mutex_unlock(&h->mu);
            goto out;
        }
        X509_free(h->kra_tc);
        h->kra_tk = NULL;
        h->kra_tc = NULL;
        rc = transport_open_handle(h, ca);
        if (rc != CM_OK) {
            key_close(h->kra_tk);
            X509_free(h->kra_tc);
            h->kra_tk = NULL;
            h->kra_tc = NULL;
        }
    }
    if (rc == CM_OK && !X509_up_ref(h->kra_tc))
        rc = cm_err_set(CM_ERR_NOMEM, "out of memory");
    if (rc == CM_OK) {
        *tk = h->kra_tk;
        *tc = h->kra_tc;
    }
    pthread_mutex_unlock(&h->mu);
out:
    X509_free(now);
    return rc;
}

/* Opens the envelope and checks the key against the request. */
static cm_err open_and_match(struct ca_archived *a, ca_ctx *ca, const struct csr *c,
                             const struct ca_submission *s)
{
    const cm_key *tk = NULL;
    cm_key *own = NULL;
    EVP_PKEY *k = NULL;
    X509 *tc = NULL;
    unsigned char *content = NULL;
    size_t clen = 0;
    cm_err rc;

    CM_TRY(transport_cached(&tk, &own, &tc, ca));
    rc = kra_open_key(&content, &clen, s->archive_env, s->archive_env_len, tc, tk,
                      "archive envelope");
    if (rc == CM_ERR_CRYPTO || rc == CM_ERR_INVALID || rc == CM_ERR_UNSUPPORTED) {
        char why[512];
        snprintf(why, sizeof(why), "%s", cm_err_msg());
        CM_FAIL(CM_ERR_POLICY,
                "%s (it must be enveloped to this CA's key-transport "
                "certificate: certmint kra transport-cert)",
                why);
    }
    CM_TRY(rc);
    CM_TRY(key_from_content(&k, &a->pkcs8, &a->pkcs8_len, content, clen));
    if (EVP_PKEY_eq(k, c->pkey) != 1)
        CM_FAIL(CM_ERR_POLICY, "the archived private key does not match the request's public key");
out:
    kra_secret_free(content, clen);
    EVP_PKEY_free(k);
    key_close(own);
    X509_free(tc);
    return rc;
}

/* Way (b): the key the CA generated for the request (kra_keygen.c) is
 * archived when the profile archives, as an envelope's would be. */
static cm_err keygen_decide(const struct profile *p, const struct csr *c, struct ca_submission *s)
{
    EVP_PKEY *k = kra_keygen_pkey(s);
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    struct ca_archived *a = NULL;
    int n;
    cm_err rc = CM_OK;

    if (p->manual)
        return deny("profile %s needs an officer's approval: a generated key is only made for "
                    "a request issued at once (approval = auto); the CA never keeps one waiting",
                    p->name);
    if (EVP_PKEY_eq(k, c->pkey) != 1)
        return cm_err_set(CM_ERR_STATE, "the request is not the generated key's");
    if (p->archive == PROFILE_ARCHIVE_NO || !profile_encryption_only(p))
        return CM_OK; /* a signing key is never archived */
    a = calloc(1, sizeof(*a));
    CM_NOMEM_IF(a == NULL);
    p8 = EVP_PKEY2PKCS8(k);
    n = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &a->pkcs8) : 0;
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the generated key");
    a->pkcs8_len = (size_t)n;
    kra_archived_free(s->archived);
    s->archived = a;
    a = NULL;
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    kra_archived_free(a);
    return rc;
}

cm_err kra_submit_decide(ca_ctx *ca, const struct profile *p, const struct csr *c,
                         struct ca_submission *s)
{
    struct ca_archived *a = NULL;
    cm_err rc = CM_OK;

    if (s->keygen != NULL && s->archive_env == NULL)
        return keygen_decide(p, c, s);
    if (s->archive_env == NULL) {
        if (p->archive == PROFILE_ARCHIVE_REQUIRED)
            return deny("profile %s requires key archival: send the private key enveloped to "
                        "the key-transport certificate (submit --archive-key)",
                        p->name);
        return CM_OK;
    }
    if (p->archive == PROFILE_ARCHIVE_NO || !profile_encryption_only(p))
        return deny("profile %s does not archive keys (only an encryption-only profile with "
                    "archive_key = optional or required does; a signing key is never archived)",
                    p->name);
    if (p->manual)
        return deny("profile %s needs an officer's approval: key archival is only done at "
                    "once (approval = auto)",
                    p->name);
    a = calloc(1, sizeof(*a));
    CM_NOMEM_IF(a == NULL);
    CM_TRY(open_and_match(a, ca, c, s));
    kra_archived_free(s->archived);
    s->archived = a;
    a = NULL;
out:
    kra_archived_free(a);
    return rc;
}

/* One share as an agent opens it: "x || share" (33 bytes). */
static cm_err share_envelopes(cm_buf *rec, const unsigned char shares[][KRA_SHARE_LEN],
                              STACK_OF(X509) * certs, char (*ids)[65], const char *serial)
{
    unsigned char plain[1 + KRA_SHARE_LEN], md[32], *env = NULL;
    size_t envlen = 0;
    cm_err rc = CM_OK;

    for (int i = 0; i < sk_X509_num(certs); i++) {
        plain[0] = (unsigned char)(i + 1);
        memcpy(plain + 1, shares[i], KRA_SHARE_LEN);
        CM_TRY(kra_envelope_one(&env, &envlen, plain, sizeof(plain), sk_X509_value(certs, i)));
        /* A check value of each share (SHA-256 over serial, x, share): a
         * released share that is not the archived one is named as such;
         * 256 bits of share cannot be guessed from it. */
        {
            EVP_MD_CTX *m = EVP_MD_CTX_new();
            unsigned mdlen = 0;
            int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) &&
                     EVP_DigestUpdate(m, serial, strlen(serial)) &&
                     EVP_DigestUpdate(m, plain, sizeof(plain)) && EVP_DigestFinal_ex(m, md, &mdlen);
            EVP_MD_CTX_free(m);
            if (!ok)
                CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-256 failed");
        }
        CM_TRY(kra_rec_put(rec, "agent", ids[i]));
        CM_TRY(kra_rec_put_hex(rec, "share", env, envlen));
        CM_TRY(kra_rec_put_hex(rec, "check", md, sizeof(md)));
        OPENSSL_free(env);
        env = NULL;
    }
out:
    OPENSSL_cleanse(plain, sizeof(plain));
    OPENSSL_free(env);
    return rc;
}

/* long: the whole archival of one key, each secret wiped on every path */
cm_err kra_archive_build(unsigned char **recout, size_t *reclen, const unsigned char *p8,
                         size_t p8len, const char *serial, unsigned m, STACK_OF(X509) * certs,
                         char (*ids)[65], const char *rewrapped)
{
    unsigned char ck[KRA_KEY_LEN], (*shares)[KRA_SHARE_LEN] = NULL, *sealed = NULL;
    size_t sealed_len = 0;
    unsigned n = (unsigned)sk_X509_num(certs);
    cm_err rc;
    cm_buf rec = CM_BUF_INIT(KRA_MAX_FILE);

    *recout = NULL;
    shares = OPENSSL_secure_zalloc(KRA_MAX_AGENTS * KRA_SHARE_LEN);
    CM_NOMEM_IF(shares == NULL);
    if (RAND_bytes(ck, sizeof(ck)) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "no randomness for the content key");
    CM_TRY(kra_seal(&sealed, &sealed_len, ck, p8, p8len, serial));
    CM_TRY(kra_split(shares, ck, n, m));
    CM_TRY(kra_rec_begin(&rec, "certmint-kra-archive 1"));
    CM_TRY(kra_rec_put(&rec, "serial", serial));
    CM_TRY(kra_rec_put_int(&rec, "threshold", (long long)m));
    if (rewrapped != NULL)
        CM_TRY(kra_rec_put(&rec, "rewrapped", rewrapped));
    CM_TRY(kra_rec_put_hex(&rec, "sealed", sealed, sealed_len));
    CM_TRY(
        share_envelopes(&rec, (const unsigned char(*)[KRA_SHARE_LEN])shares, certs, ids, serial));
    *recout = buf_steal(&rec, reclen);
out:
    OPENSSL_cleanse(ck, sizeof(ck));
    OPENSSL_secure_clear_free(shares, KRA_MAX_AGENTS * KRA_SHARE_LEN);
    OPENSSL_free(sealed);
    buf_free(&rec);
    return rc;
}

cm_err kra_submit_seal(ca_ctx *ca, struct ca_submission *s, X509 *x)
{
    struct ca_archived *a = s->archived;
    STACK_OF(X509) *certs = NULL;
    char(*ids)[65] = NULL;
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    long long m = 1;
    cm_err rc;

    if (a == NULL)
        return CM_OK;
    CM_TRY(text_serial_from_bytes(a->serial, ASN1_STRING_get0_data(sn),
                                  (size_t)ASN1_STRING_length(sn)));
    if (config_get_int(ca->cfg, "kra.threshold", &m) != CM_OK || m < 1)
        m = 1;
    CM_TRY(kra_agents_load(&certs, &ids, ca));
    if (sk_X509_num(certs) < m)
        CM_FAIL(CM_ERR_STATE,
                "key archival needs at least %lld key recovery agents "
                "(kra.threshold) and this CA has %d: certmint kra add",
                m, sk_X509_num(certs));
    a->m = (unsigned)m;
    a->n = (unsigned)sk_X509_num(certs);
    CM_TRY(kra_archive_build(&a->record, &a->record_len, a->pkcs8, a->pkcs8_len, a->serial, a->m,
                             certs, ids, NULL));
    /* The CA keeps nothing it could open the key with. */
    kra_secret_free(a->pkcs8, a->pkcs8_len);
    a->pkcs8 = NULL;
    a->pkcs8_len = 0;
out:
    sk_X509_pop_free(certs, X509_free);
    free(ids);
    return rc;
}

cm_err kra_submit_record(ca_ctx *ca, struct ca_submission *s, int64_t request_id)
{
    struct ca_archived *a = s->archived;
    struct db_vault v;
    char details[160], payload[160];
    cm_err rc;

    if (a == NULL || a->record == NULL)
        return CM_OK;
    v = (struct db_vault){KRA_V_ARCHIVE,       a->serial, KRA_ST_ACTIVE,
                          (int64_t)time(NULL), a->record, a->record_len};
    CM_TRY(db_vault_insert(ca->db, &v));
    snprintf(details, sizeof(details), "private key archived, %u of %u agents to recover", a->m,
             a->n);
    snprintf(payload, sizeof(payload), "{\"threshold\":%u,\"agents\":%u}", a->m, a->n);
    CM_TRY(exit_raise(ca->db, EXIT_EV_KEYARCHIVED, request_id, a->serial, payload));
    CM_TRY(ca_audit(ca, "key-archive", request_id, a->serial, details));
out:
    return rc;
}
