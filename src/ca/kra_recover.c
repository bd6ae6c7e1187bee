/* Key recovery (issue 12, docs/key-archival.md): an officer opens a
 * request with a one-time transport key; each agent releases a share to
 * it (kra_release_share, on the agent's machine); the shares are imported
 * one by one (each checked: right request, an agent of this archive, the
 * share that was archived, not twice); with the threshold in, the content
 * key is rebuilt, the key unsealed, checked against the certificate and
 * handed out as PKCS#12. The request is then closed and its transport
 * key deleted. */
#include "ca/kra_int.h"

#include "event/event.h"
#include "kra/kra.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/text.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

cm_err kra_recovery_key_path(char *out, size_t outsz, ca_ctx *ca, const char *req)
{
    char dir[PATH_MAX], name[64];
    cm_err rc;

    CM_TRY(fs_join(dir, sizeof(dir), ca->home, KRA_RECOVERY_DIR));
    CM_TRY(fs_mkdirs(dir, 0700));
    snprintf(name, sizeof(name), "%s.key", req);
    CM_TRY(fs_join(out, outsz, dir, name));
out:
    return rc;
}

/* A one-time EC P-256 key and a self-signed certificate for it: CMS
 * addresses recipients by certificate (RFC 5652 6.2.2). */
cm_err kra_transport_make(EVP_PKEY **k, X509 **x, const char *req)
{
    struct key_spec spec;
    char cn[80];
    X509_NAME *n = NULL;
    cm_err rc;

    *x = NULL;
    CM_TRY(key_spec_parse(&spec, "ec:p256"));
    CM_TRY(key_generate(k, &spec));
    snprintf(cn, sizeof(cn), "certmint key recovery %s", req);
    *x = X509_new();
    CM_NOMEM_IF(*x == NULL);
    n = X509_get_subject_name(*x);
    if (!X509_set_version(*x, X509_VERSION_3) || !ASN1_INTEGER_set(X509_get_serialNumber(*x), 1) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0) ||
        !X509_set_issuer_name(*x, n) || !X509_gmtime_adj(X509_getm_notBefore(*x), -300) ||
        !X509_gmtime_adj(X509_getm_notAfter(*x), 30L * 86400) || !X509_set_pubkey(*x, *k) ||
        X509_sign(*x, *k, EVP_sha256()) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot make the recovery's transport certificate");
out:
    return rc;
}

/* The request record: what the vault keeps and each agent is given. */
cm_err kra_request_record(cm_buf *b, const char *req, const char *serial, const char *reason,
                          X509 *tc, const struct kra_rec *arch, const char *subject)
{
    unsigned char *der = NULL;
    const char *a;
    int n;
    long long m = 0;
    cm_err rc;

    CM_TRY(kra_rec_int(&m, arch, "threshold", 1, KRA_MAX_AGENTS, "archive record"));
    n = i2d_X509(tc, &der);
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the transport certificate");
    CM_TRY(kra_rec_begin(b, "certmint-kra-request 1"));
    CM_TRY(kra_rec_put(b, "request", req));
    CM_TRY(kra_rec_put(b, "serial", serial));
    CM_TRY(kra_rec_put(b, "subject", subject));
    CM_TRY(kra_rec_put(b, "reason", reason));
    CM_TRY(kra_rec_put_int(b, "threshold", m));
    CM_TRY(kra_rec_put_hex(b, "transport", der, (size_t)n));
    for (size_t i = 0; (a = kra_rec_get_nth(arch, "agent", i)) != NULL; i++) {
        const char *sh = kra_rec_get_nth(arch, "share", i);
        if (sh == NULL)
            CM_FAIL(CM_ERR_DB, "archive record of %s: agent without a share", serial);
        CM_TRY(kra_rec_put(b, "agent", a));
        CM_TRY(kra_rec_put(b, "share", sh));
    }
out:
    OPENSSL_free(der);
    return rc;
}

cm_err kra_archive_load(struct kra_rec *arch, ca_ctx *ca, const char *serial)
{
    unsigned char *body = NULL;
    size_t len = 0;
    cm_err rc = kra_vault_get(&body, &len, NULL, ca, KRA_V_ARCHIVE, serial);

    if (rc == CM_ERR_NOTFOUND)
        return cm_err_set(CM_ERR_NOTFOUND, "certificate %s: no archived key", serial);
    if (rc == CM_OK)
        rc = kra_rec_parse(arch, body, len, "archive record");
    free(body);
    return rc;
}

static cm_err request_store(ca_ctx *ca, const char *req, const char *serial, const char *reason,
                            const cm_buf *b, int64_t request_id)
{
    struct db_vault v = {KRA_V_RECOVERY, req, KRA_ST_OPEN, (int64_t)time(NULL), b->data, b->len};
    char details[700];
    cm_buf payload = CM_BUF_INIT(2048);
    int first = 1;
    cm_err rc;

    CM_TRY(buf_append_str(&payload, "{"));
    CM_TRY(json_append_kv(&payload, &first, "request", req));
    CM_TRY(json_append_kv(&payload, &first, "reason", reason));
    CM_TRY(buf_append_str(&payload, "}"));
    snprintf(details, sizeof(details), "recovery %s opened: %s", req, reason);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_vault_insert(ca->db, &v));
    CM_TRY(exit_raise(ca->db, EXIT_EV_KEYRECOVERYREQUESTED, request_id, serial, buf_str(&payload)));
    CM_TRY(ca_audit(ca, "key-recover-request", request_id, serial, details));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    buf_free(&payload);
    return rc;
}

/* long: look up, make the one-time key, write it, record; cleanup of each */
cm_err ca_key_recover_request(char req_id[40], unsigned char **reqfile, size_t *len, ca_ctx *ca,
                              const char *serial_in, const char *reason)
{
    char serial[CM_SERIAL_BUF], kpath[PATH_MAX], pass[1024];
    unsigned char rnd[8];
    struct kra_rec arch;
    struct db_cert *c = NULL;
    EVP_PKEY *tk = NULL;
    X509 *tc = NULL;
    cm_buf b = CM_BUF_INIT(KRA_MAX_FILE);
    int wrote = 0;
    cm_err rc;

    *reqfile = NULL;
    memset(&arch, 0, sizeof(arch));
    pass[0] = '\0';
    if (reason == NULL || reason[0] == '\0')
        return cm_err_set(CM_ERR_INVALID, "a recovery needs a reason (--reason TEXT)");
    CM_TRY(text_serial_canon(serial, serial_in));
    rc = db_cert_get(ca->db, &c, serial);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_NOTFOUND, "certificate %s: not in the database", serial);
    CM_TRY(rc);
    CM_TRY(kra_archive_load(&arch, ca, serial));
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "no randomness");
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(req_id + 2 * i, 3, "%02x", rnd[i]);
    CM_TRY(kra_transport_make(&tk, &tc, req_id));
    CM_TRY(kra_request_record(&b, req_id, serial, reason, tc, &arch, c->dn ? c->dn : ""));
    CM_TRY(kra_recovery_key_path(kpath, sizeof(kpath), ca, req_id));
    CM_TRY(kra_passphrase(pass, sizeof(pass), ca));
    CM_TRY(key_save_encrypted(tk, kpath, pass));
    wrote = 1;
    CM_TRY(request_store(ca, req_id, serial, reason, &b, c->request_id));
    wrote = 0;
    *reqfile = buf_steal(&b, len);
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    if (wrote)
        (void)unlink(kpath);
    buf_free(&b);
    kra_rec_clear(&arch);
    db_cert_free(c);
    EVP_PKEY_free(tk);
    X509_free(tc);
    return rc;
}

static cm_err request_check_id(const char *req)
{
    size_t n = strlen(req);
    if (n != 16 || strspn(req, "0123456789abcdef") != n)
        return cm_err_set(CM_ERR_INVALID, "'%s': a recovery request ID is 16 hex digits", req);
    return CM_OK;
}

static cm_err request_load(struct kra_rec *r, int *state, ca_ctx *ca, const char *req)
{
    unsigned char *body = NULL;
    size_t len = 0;
    cm_err rc;

    CM_TRY(request_check_id(req));
    rc = kra_vault_get(&body, &len, state, ca, KRA_V_RECOVERY, req);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_NOTFOUND, "recovery request %s: no such request", req);
    CM_TRY(rc);
    CM_TRY(kra_rec_parse(r, body, len, "recovery request"));
out:
    free(body);
    return rc;
}

cm_err ca_key_recover_request_file(unsigned char **reqfile, size_t *len, ca_ctx *ca,
                                   const char *req_id)
{
    int state = 0;
    cm_err rc;

    *reqfile = NULL;
    CM_TRY(request_check_id(req_id));
    CM_TRY(kra_vault_get(reqfile, len, &state, ca, KRA_V_RECOVERY, req_id));
    if (state != KRA_ST_OPEN) {
        free(*reqfile);
        *reqfile = NULL;
        CM_FAIL(CM_ERR_STATE, "recovery request %s is closed", req_id);
    }
out:
    return rc;
}

/* The one-time transport key and certificate of an open request. */
cm_err kra_transport_of(EVP_PKEY **k, X509 **x, ca_ctx *ca, const struct kra_rec *r,
                        const char *req)
{
    char kpath[PATH_MAX], pass[1024];
    const char *hex = NULL;
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t len = 0;
    cm_err rc;

    *k = NULL;
    *x = NULL;
    pass[0] = '\0';
    CM_TRY(kra_rec_str(&hex, r, "transport", "recovery request"));
    CM_TRY(kra_rec_hex(&der, &len, hex, KRA_MAX_FILE, "transport", "recovery request"));
    p = der;
    *x = d2i_X509(NULL, &p, (long)len);
    if (*x == NULL)
        CM_FAIL_OSSL(CM_ERR_DB, "recovery request %s: the transport certificate does not parse",
                     req);
    CM_TRY(kra_recovery_key_path(kpath, sizeof(kpath), ca, req));
    CM_TRY(kra_passphrase(pass, sizeof(pass), ca));
    CM_TRY(key_load_encrypted(k, kpath, pass));
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    free(der);
    return rc;
}

/* Is rel the share archived for agent number i of arch? (check value) */
cm_err kra_share_verify(const struct kra_rec *arch, const struct kra_released *rel,
                        const char *what)
{
    const char *a, *chk = NULL;
    unsigned char plain[1 + KRA_SHARE_LEN], md[32], *want = NULL;
    size_t i, wantlen = 0;
    unsigned mdlen = 0;
    cm_err rc = CM_OK;

    for (i = 0; (a = kra_rec_get_nth(arch, "agent", i)) != NULL; i++)
        if (strcmp(a, rel->agent) == 0)
            break;
    if (a == NULL)
        CM_FAIL(CM_ERR_AUTH, "%s: %.16s is not a key recovery agent of certificate %s's key", what,
                rel->agent, rel->serial);
    chk = kra_rec_get_nth(arch, "check", i);
    if (chk == NULL)
        CM_FAIL(CM_ERR_DB, "archive record of %s: no check value", rel->serial);
    CM_TRY(kra_rec_hex(&want, &wantlen, chk, 32, "check", "archive record"));
    plain[0] = rel->x;
    memcpy(plain + 1, rel->share, KRA_SHARE_LEN);
    {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) &&
                 EVP_DigestUpdate(m, rel->serial, strlen(rel->serial)) &&
                 EVP_DigestUpdate(m, plain, sizeof(plain)) && EVP_DigestFinal_ex(m, md, &mdlen);
        EVP_MD_CTX_free(m);
        if (!ok)
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-256 failed");
    }
    if (rel->x != i + 1 || wantlen != 32 || CRYPTO_memcmp(md, want, 32) != 0)
        CM_FAIL(CM_ERR_AUTH,
                "%s: the share of agent %.16s is not the one archived for %s "
                "(forged or changed)",
                what, rel->agent, rel->serial);
out:
    OPENSSL_cleanse(plain, sizeof(plain));
    free(want);
    return rc;
}

/* Opens a share envelope (a share file's, or one kept in the vault). */
cm_err kra_share_open(struct kra_released *rel, const unsigned char *env, size_t envlen, X509 *tc,
                      EVP_PKEY *tk, const char *what)
{
    unsigned char *plain = NULL;
    size_t plainlen = 0;
    cm_err rc;

    CM_TRY(kra_open(&plain, &plainlen, env, envlen, tc, tk, what));
    CM_TRY(kra_released_parse(rel, plain, plainlen, what));
out:
    kra_secret_free(plain, plainlen);
    return rc;
}

struct count_ctx {
    const char *prefix;
    int n;
};

static cm_err count_cb(void *ctx, const struct db_vault *v)
{
    struct count_ctx *c = ctx;
    if (strncmp(v->name, c->prefix, strlen(c->prefix)) == 0)
        c->n++;
    return CM_OK;
}

/* Records one checked share: a second share of the same agent for the
 * same request is a replay (the vault's unique key). */
static cm_err share_store(int *have, ca_ctx *ca, const struct kra_released *rel,
                          const unsigned char *env, size_t envlen, int64_t request_id)
{
    char name[128], prefix[48], details[160];
    struct db_vault v = {KRA_V_SHARE, name, KRA_ST_ACTIVE, (int64_t)time(NULL), env, envlen};
    struct count_ctx cc = {prefix, 0};
    cm_err rc;

    snprintf(name, sizeof(name), "%s/%s", rel->request, rel->agent);
    snprintf(prefix, sizeof(prefix), "%s/", rel->request);
    snprintf(details, sizeof(details), "recovery %s: share of agent %.16s", rel->request,
             rel->agent);
    CM_TRY(db_begin(ca->db));
    /* Still open: the compare-and-set on the request row (closed meanwhile:
     * CM_ERR_STATE). */
    CM_TRY(
        db_vault_update(ca->db, KRA_V_RECOVERY, rel->request, KRA_ST_OPEN, KRA_ST_OPEN, NULL, 0));
    rc = db_vault_insert(ca->db, &v);
    if (rc == CM_ERR_EXISTS)
        CM_FAIL(CM_ERR_EXISTS,
                "agent %.16s has already released a share for recovery %s "
                "(a replayed share file)",
                rel->agent, rel->request);
    CM_TRY(rc);
    CM_TRY(ca_audit(ca, "key-share", request_id, rel->serial, details));
    CM_TRY(db_vault_iter(ca->db, KRA_V_SHARE, NULL, count_cb, &cc));
    CM_TRY(db_commit(ca->db));
    *have = cc.n;
out:
    db_rollback(ca->db);
    return rc;
}

/* long: parse the file, load the request, open, check, store */
cm_err ca_key_add_share(int *have, int *need, ca_ctx *ca, const unsigned char *share, size_t len,
                        const char *what)
{
    struct kra_rec f, r, arch;
    struct kra_released rel;
    const char *req = NULL, *agent = NULL, *hex = NULL, *serial = NULL;
    unsigned char *env = NULL;
    size_t envlen = 0;
    EVP_PKEY *tk = NULL;
    X509 *tc = NULL;
    struct db_cert *c = NULL;
    long long m = 0;
    int state = 0;
    cm_err rc;

    memset(&f, 0, sizeof(f));
    memset(&r, 0, sizeof(r));
    memset(&arch, 0, sizeof(arch));
    memset(&rel, 0, sizeof(rel));
    CM_TRY(kra_rec_parse(&f, share, kra_rec_next(share, len), what));
    if (strcmp(f.kind, "certmint-kra-share 1") != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: not a certmint share file (first line '%s')", what, f.kind);
    CM_TRY(kra_rec_str(&req, &f, "request", what));
    CM_TRY(kra_rec_str(&agent, &f, "agent", what));
    if (kra_rewrap_is(ca, req)) {
        rc = kra_rewrap_add_share(have, need, ca, share, len, what);
        goto out;
    }
    if (kra_rec_next(share, len) != len)
        CM_FAIL(CM_ERR_INVALID, "%s: more than one share for recovery %s", what, req);
    CM_TRY(kra_rec_str(&hex, &f, "envelope", what));
    CM_TRY(kra_rec_hex(&env, &envlen, hex, KRA_MAX_FILE, "envelope", what));
    CM_TRY(request_load(&r, &state, ca, req));
    if (state != KRA_ST_OPEN)
        CM_FAIL(CM_ERR_STATE, "recovery request %s is closed", req);
    CM_TRY(kra_rec_str(&serial, &r, "serial", "recovery request"));
    CM_TRY(kra_rec_int(&m, &r, "threshold", 1, KRA_MAX_AGENTS, "recovery request"));
    CM_TRY(kra_transport_of(&tk, &tc, ca, &r, req));
    CM_TRY(kra_share_open(&rel, env, envlen, tc, tk, what));
    if (strcmp(rel.request, req) != 0 || strcmp(rel.agent, agent) != 0 ||
        strcmp(rel.serial, serial) != 0)
        CM_FAIL(CM_ERR_AUTH, "%s: the share inside is for another request, agent or certificate",
                what);
    CM_TRY(kra_archive_load(&arch, ca, serial));
    CM_TRY(kra_share_verify(&arch, &rel, what));
    CM_TRY(db_cert_get(ca->db, &c, serial));
    CM_TRY(share_store(have, ca, &rel, env, envlen, c->request_id));
    *need = (int)m;
out:
    OPENSSL_cleanse(&rel, sizeof(rel));
    db_cert_free(c);
    EVP_PKEY_free(tk);
    X509_free(tc);
    free(env);
    kra_rec_clear(&f);
    kra_rec_clear(&r);
    kra_rec_clear(&arch);
    return rc;
}

struct collect_ctx {
    const char *prefix;
    X509 *tc;
    EVP_PKEY *tk;
    unsigned char xs[KRA_MAX_AGENTS];
    unsigned char (*shares)[KRA_SHARE_LEN];
    unsigned k;
};

static cm_err collect_cb(void *ctx, const struct db_vault *v)
{
    struct collect_ctx *c = ctx;
    struct kra_released rel;
    cm_err rc;

    if (strncmp(v->name, c->prefix, strlen(c->prefix)) != 0 || c->k == KRA_MAX_AGENTS)
        return CM_OK;
    rc = kra_share_open(&rel, v->body, v->body_len, c->tc, c->tk, "stored share");
    if (rc == CM_OK) {
        c->xs[c->k] = rel.x;
        memcpy(c->shares[c->k], rel.share, KRA_SHARE_LEN);
        c->k++;
    }
    OPENSSL_cleanse(&rel, sizeof(rel));
    return rc;
}

cm_err kra_archive_unseal(unsigned char **p8, size_t *p8len, const struct kra_rec *arch,
                          const unsigned char *xs, const unsigned char shares[][KRA_SHARE_LEN],
                          unsigned k, const char *serial)
{
    unsigned char ck[KRA_KEY_LEN], *sealed = NULL;
    size_t sealed_len = 0;
    const char *hex = NULL;
    cm_err rc;

    *p8 = NULL;
    CM_TRY(kra_combine(ck, xs, shares, k));
    CM_TRY(kra_rec_str(&hex, arch, "sealed", "archive record"));
    CM_TRY(kra_rec_hex(&sealed, &sealed_len, hex, KRA_MAX_FILE + 64, "sealed", "archive record"));
    CM_TRY(kra_unseal(p8, p8len, ck, sealed, sealed_len, serial));
out:
    OPENSSL_cleanse(ck, sizeof(ck));
    free(sealed);
    return rc;
}

/* Rebuilds the archived key of serial from the request's shares. */
static cm_err key_rebuild(EVP_PKEY **key, ca_ctx *ca, const struct kra_rec *r, const char *req,
                          const char *serial)
{
    struct collect_ctx cc;
    struct kra_rec arch;
    char prefix[48];
    unsigned char *p8der = NULL;
    const unsigned char *p;
    size_t p8len = 0;
    long long m = 0;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    cm_err rc;

    memset(&cc, 0, sizeof(cc));
    memset(&arch, 0, sizeof(arch));
    snprintf(prefix, sizeof(prefix), "%s/", req);
    cc.prefix = prefix;
    cc.shares = OPENSSL_secure_zalloc(KRA_MAX_AGENTS * KRA_SHARE_LEN);
    CM_NOMEM_IF(cc.shares == NULL);
    CM_TRY(kra_rec_int(&m, r, "threshold", 1, KRA_MAX_AGENTS, "recovery request"));
    CM_TRY(kra_transport_of(&cc.tk, &cc.tc, ca, r, req));
    CM_TRY(db_vault_iter(ca->db, KRA_V_SHARE, NULL, collect_cb, &cc));
    if (cc.k < (unsigned)m)
        CM_FAIL(CM_ERR_STATE,
                "recovery %s has %u of the %lld shares it needs: %lld more agents "
                "must release theirs (certmint key release-share, key add-share)",
                req, cc.k, m, m - (long long)cc.k);
    CM_TRY(kra_archive_load(&arch, ca, serial));
    CM_TRY(kra_archive_unseal(&p8der, &p8len, &arch, cc.xs,
                              (const unsigned char(*)[KRA_SHARE_LEN])cc.shares, cc.k, serial));
    p = p8der;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)p8len);
    if (p8 == NULL || (*key = EVP_PKCS82PKEY(p8)) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the recovered key does not parse");
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    kra_secret_free(p8der, p8len);
    kra_rec_clear(&arch);
    OPENSSL_secure_clear_free(cc.shares, KRA_MAX_AGENTS * KRA_SHARE_LEN);
    EVP_PKEY_free(cc.tk);
    X509_free(cc.tc);
    return rc;
}

/* PKCS#12 (RFC 7292) with PBES2: AES-256-CBC, PBKDF2-HMAC-SHA256 600,000
 * iterations for the key and the certificates, an HMAC-SHA256 MAC; no
 * RC2, no 3DES. */
cm_err kra_p12_make(unsigned char **out, size_t *len, EVP_PKEY *k, X509 *x, ca_ctx *ca,
                    const char *pass)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    PKCS12 *p12 = NULL;
    unsigned char *der = NULL;
    int n;
    cm_err rc = CM_OK;

    *out = NULL;
    CM_NOMEM_IF(chain == NULL || !sk_X509_push(chain, ca->cert));
    for (int i = 0; ca->chain != NULL && i < sk_X509_num(ca->chain); i++)
        CM_NOMEM_IF(!sk_X509_push(chain, sk_X509_value(ca->chain, i)));
    p12 = PKCS12_create_ex(pass, NULL, k, x, chain, NID_aes_256_cbc, NID_aes_256_cbc, 600000, -1, 0,
                           NULL, NULL);
    if (p12 == NULL || PKCS12_set_mac(p12, pass, -1, NULL, 0, 2048, EVP_sha256()) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot make the PKCS#12");
    n = i2d_PKCS12(p12, &der);
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the PKCS#12");
    *out = der;
    *len = (size_t)n;
out:
    PKCS12_free(p12);
    sk_X509_free(chain);
    return rc;
}

static cm_err request_close(ca_ctx *ca, const char *req, const char *serial, int64_t request_id)
{
    char details[128], payload[64];
    cm_err rc;

    snprintf(details, sizeof(details), "recovery %s: key recovered", req);
    snprintf(payload, sizeof(payload), "{\"request\":\"%s\"}", req);
    CM_TRY(db_begin(ca->db));
    rc = db_vault_update(ca->db, KRA_V_RECOVERY, req, KRA_ST_OPEN, KRA_ST_DONE, NULL, 0);
    if (rc == CM_ERR_STATE)
        CM_FAIL(CM_ERR_STATE, "recovery request %s was closed meanwhile", req);
    CM_TRY(rc);
    CM_TRY(exit_raise(ca->db, EXIT_EV_KEYRECOVERED, request_id, serial, payload));
    CM_TRY(ca_audit(ca, "key-recover", request_id, serial, details));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

/* long: load, rebuild, check, package, close; each with its cleanup */
cm_err ca_key_recover(unsigned char **p12, size_t *len, ca_ctx *ca, const char *req,
                      const char *password_file)
{
    struct kra_rec r;
    const char *serial = NULL;
    struct db_cert *c = NULL;
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    char pass[1024], kpath[PATH_MAX];
    int state = 0;
    cm_err rc;

    *p12 = NULL;
    pass[0] = '\0';
    memset(&r, 0, sizeof(r));
    if (password_file == NULL)
        return cm_err_set(CM_ERR_INVALID, "the PKCS#12 needs a password (--password-file F)");
    CM_TRY(key_read_passphrase(pass, sizeof(pass), password_file, 0));
    CM_TRY(request_load(&r, &state, ca, req));
    if (state != KRA_ST_OPEN)
        CM_FAIL(CM_ERR_STATE, "recovery request %s is closed (its key was recovered)", req);
    CM_TRY(kra_rec_str(&serial, &r, "serial", "recovery request"));
    CM_TRY(db_cert_get(ca->db, &c, serial));
    CM_TRY(ca_cert_parse(&x, c->raw, c->raw_len, serial));
    CM_TRY(key_rebuild(&k, ca, &r, req, serial));
    if (X509_check_private_key(x, k) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "the recovered key does not match certificate %s", serial);
    CM_TRY(kra_p12_make(p12, len, k, x, ca, pass));
    CM_TRY(request_close(ca, req, serial, c->request_id));
    /* The one-time transport key has done its work. */
    if (kra_recovery_key_path(kpath, sizeof(kpath), ca, req) == CM_OK)
        (void)unlink(kpath);
out:
    if (rc != CM_OK) {
        OPENSSL_free(*p12);
        *p12 = NULL;
    }
    OPENSSL_cleanse(pass, sizeof(pass));
    EVP_PKEY_free(k);
    X509_free(x);
    db_cert_free(c);
    kra_rec_clear(&r);
    return rc;
}
