/* The key recovery agent's side (docs/key-archival.md, "Recovery"): run on
 * the agent's own machine with the agent's own key, on the request file
 * the officer hands out. Nothing here touches a CA home or a database. */
#include "kra/kra.h"

#include "key/keystore.h"
#include "util/fsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

static cm_err copy_field(char *dst, size_t dstsz, const struct kra_rec *r, const char *key,
                         const char *what)
{
    const char *v = NULL;
    cm_err rc;

    CM_TRY(kra_rec_str(&v, r, key, what));
    if (strlen(v) >= dstsz)
        CM_FAIL(CM_ERR_INVALID, "%s: '%s' is too long", what, key);
    snprintf(dst, dstsz, "%s", v);
out:
    return rc;
}

static cm_err info_fill(struct kra_request_info *info, const struct kra_rec *r, const char *what)
{
    cm_err rc;

    memset(info, 0, sizeof(*info));
    if (strcmp(r->kind, "certmint-kra-rewrap 1") == 0) {
        info->rewrap = 1;
        CM_TRY(copy_field(info->request, sizeof(info->request), r, "request", what));
        CM_TRY(copy_field(info->serial, sizeof(info->serial), r, "keys", what));
        CM_TRY(copy_field(info->subject, sizeof(info->subject), r, "agents", what));
        CM_TRY(copy_field(info->reason, sizeof(info->reason), r, "reason", what));
        CM_TRY(kra_rec_int(&info->threshold, r, "threshold", 1, KRA_MAX_AGENTS, what));
        goto out;
    }
    if (strcmp(r->kind, "certmint-kra-request 1") != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: not a certmint key recovery request (first line '%s')", what,
                r->kind);
    CM_TRY(copy_field(info->request, sizeof(info->request), r, "request", what));
    CM_TRY(copy_field(info->serial, sizeof(info->serial), r, "serial", what));
    CM_TRY(copy_field(info->subject, sizeof(info->subject), r, "subject", what));
    CM_TRY(copy_field(info->reason, sizeof(info->reason), r, "reason", what));
    CM_TRY(kra_rec_int(&info->threshold, r, "threshold", 1, KRA_MAX_AGENTS, what));
out:
    return rc;
}

cm_err kra_request_info(struct kra_request_info *info, const unsigned char *req, size_t len,
                        const char *what)
{
    struct kra_rec r;
    struct kra_request_info tmp;
    cm_err rc;

    CM_TRY(kra_rec_parse(&r, req, kra_rec_next(req, len), what));
    rc = info_fill(info ? info : &tmp, &r, what);
    kra_rec_clear(&r);
out:
    return rc;
}

/* The hex value of the share addressed to agent id. */
static const char *share_for(const struct kra_rec *r, const char *id)
{
    const char *a;
    for (size_t i = 0; (a = kra_rec_get_nth(r, "agent", i)) != NULL; i++)
        if (strcmp(a, id) == 0)
            return kra_rec_get_nth(r, "share", i);
    return NULL;
}

static cm_err released_plain(cm_buf *b, const struct kra_request_info *info, const char *id,
                             const unsigned char *share, size_t len)
{
    cm_err rc;

    if (len != 1 + KRA_SHARE_LEN || share[0] == 0)
        return cm_err_set(CM_ERR_INVALID, "the share in the request is not a share (%zu bytes)",
                          len);
    CM_TRY(kra_rec_begin(b, "certmint-kra-released 1"));
    CM_TRY(kra_rec_put(b, "request", info->request));
    CM_TRY(kra_rec_put(b, "serial", info->serial));
    CM_TRY(kra_rec_put(b, "agent", id));
    CM_TRY(kra_rec_put_int(b, "x", share[0]));
    CM_TRY(kra_rec_put_hex(b, "share", share + 1, KRA_SHARE_LEN));
out:
    return rc;
}

/* long: parse, find, open, re-envelope, each with its own cleanup */
static cm_err release_one(unsigned char **out, size_t *outlen, const unsigned char *req, size_t len,
                          const char *what, X509 *agent_cert, EVP_PKEY *agent_key)
{
    struct kra_rec r;
    struct kra_request_info info;
    unsigned char *cder = NULL, *env = NULL, *plain = NULL, *tder = NULL, *tenv = NULL;
    size_t cderlen = 0, envlen = 0, plainlen = 0, tderlen = 0, tenvlen = 0;
    const unsigned char *p;
    const char *hex;
    char id[65];
    X509 *transport = NULL;
    cm_buf pb = CM_BUF_INIT(KRA_MAX_FILE), ob = CM_BUF_INIT(KRA_MAX_FILE);
    int n;
    cm_err rc;

    *out = NULL;
    *outlen = 0;
    memset(&r, 0, sizeof(r));
    n = i2d_X509(agent_cert, &cder);
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_INVALID, "the agent certificate does not encode");
    cderlen = (size_t)n;
    CM_TRY(kra_fingerprint(id, cder, cderlen));
    CM_TRY(kra_rec_parse(&r, req, len, what));
    CM_TRY(info_fill(&info, &r, what));
    hex = share_for(&r, id);
    if (hex == NULL)
        CM_FAIL(CM_ERR_NOTFOUND,
                "%s: no share for this agent (%.16s) in request %s: not an agent "
                "of this archived key",
                what, id, info.request);
    CM_TRY(kra_rec_hex(&env, &envlen, hex, KRA_MAX_FILE, "share", what));
    CM_TRY(kra_open(&plain, &plainlen, env, envlen, agent_cert, agent_key, what));
    CM_TRY(released_plain(&pb, &info, id, plain, plainlen));
    CM_TRY(kra_rec_str(&hex, &r, "transport", what));
    CM_TRY(kra_rec_hex(&tder, &tderlen, hex, KRA_MAX_FILE, "transport", what));
    p = tder;
    transport = d2i_X509(NULL, &p, (long)tderlen);
    if (transport == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: the transport certificate does not parse", what);
    CM_TRY(kra_envelope_one(&tenv, &tenvlen, pb.data, pb.len, transport));
    CM_TRY(kra_rec_begin(&ob, "certmint-kra-share 1"));
    CM_TRY(kra_rec_put(&ob, "request", info.request));
    CM_TRY(kra_rec_put(&ob, "agent", id));
    CM_TRY(kra_rec_put_hex(&ob, "envelope", tenv, tenvlen));
    *out = buf_steal(&ob, outlen);
out:
    if (pb.data != NULL)
        OPENSSL_cleanse(pb.data, pb.len);
    buf_free(&pb);
    buf_free(&ob);
    kra_secret_free(plain, plainlen);
    kra_rec_clear(&r);
    X509_free(transport);
    OPENSSL_free(cder);
    OPENSSL_free(tenv);
    free(env);
    free(tder);
    return rc;
}

/* A re-wrap request: the header, then one recovery request record for each
 * archived key; the agent releases the share of every key it holds one of. */
static cm_err release_rewrap(cm_buf *ob, const unsigned char *req, size_t len, const char *what,
                             X509 *agent_cert, EVP_PKEY *agent_key)
{
    unsigned char *one = NULL;
    size_t onelen = 0, off = kra_rec_next(req, len), n;
    int found = 0;
    cm_err rc = CM_OK;

    for (; off < len; off += n) {
        n = kra_rec_next(req + off, len - off);
        rc = release_one(&one, &onelen, req + off, n, what, agent_cert, agent_key);
        if (rc == CM_ERR_NOTFOUND)
            continue;
        CM_TRY(rc);
        found++;
        rc = buf_append(ob, one, onelen);
        free(one);
        one = NULL;
        CM_TRY(rc);
    }
    if (!found)
        CM_FAIL(CM_ERR_NOTFOUND, "%s: this agent holds no share of any key of the re-wrap", what);
out:
    free(one);
    return rc;
}

cm_err kra_release_share(unsigned char **out, size_t *outlen, const unsigned char *req, size_t len,
                         const char *what, X509 *agent_cert, EVP_PKEY *agent_key)
{
    struct kra_request_info info;
    cm_buf ob = CM_BUF_INIT(KRA_MAX_BATCH_FILE);
    cm_err rc;

    *out = NULL;
    *outlen = 0;
    CM_TRY(kra_request_info(&info, req, len, what));
    if (!info.rewrap)
        return release_one(out, outlen, req, len, what, agent_cert, agent_key);
    CM_TRY(release_rewrap(&ob, req, len, what, agent_cert, agent_key));
    *out = buf_steal(&ob, outlen);
out:
    buf_free(&ob);
    return rc;
}

cm_err kra_released_parse(struct kra_released *out, const unsigned char *plain, size_t len,
                          const char *what)
{
    struct kra_rec r;
    const char *hex = NULL;
    unsigned char *sh = NULL;
    size_t shlen = 0;
    long long x = 0;
    cm_err rc;

    memset(out, 0, sizeof(*out));
    CM_TRY(kra_rec_parse(&r, plain, len, what));
    if (strcmp(r.kind, "certmint-kra-released 1") != 0)
        CM_FAIL(CM_ERR_INVALID, "%s: the envelope does not hold a released share", what);
    CM_TRY(copy_field(out->request, sizeof(out->request), &r, "request", what));
    CM_TRY(copy_field(out->serial, sizeof(out->serial), &r, "serial", what));
    CM_TRY(copy_field(out->agent, sizeof(out->agent), &r, "agent", what));
    CM_TRY(kra_rec_int(&x, &r, "x", 1, 255, what));
    CM_TRY(kra_rec_str(&hex, &r, "share", what));
    CM_TRY(kra_rec_hex(&sh, &shlen, hex, KRA_SHARE_LEN, "share", what));
    if (shlen != KRA_SHARE_LEN)
        CM_FAIL(CM_ERR_INVALID, "%s: a share is %d bytes", what, KRA_SHARE_LEN);
    out->x = (unsigned char)x;
    memcpy(out->share, sh, KRA_SHARE_LEN);
out:
    kra_secret_free(sh, shlen);
    kra_rec_clear(&r);
    return rc;
}

cm_err kra_agent_load(EVP_PKEY **key, X509 **cert, const char *key_path, const char *cert_path,
                      const char *pass_file)
{
    char pass[1024];
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *b = NULL;
    cm_err rc;

    *key = NULL;
    *cert = NULL;
    pass[0] = '\0';
    if (pass_file != NULL)
        CM_TRY(key_read_passphrase(pass, sizeof(pass), pass_file, 0));
    CM_TRY(fs_read_secret(&data, &len, key_path, KRA_MAX_FILE, "agent key"));
    b = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(b == NULL);
    /* An empty passphrase without a file: an encrypted key fails to load
     * instead of prompting. */
    *key = PEM_read_bio_PrivateKey(b, NULL, NULL, pass);
    if (*key == NULL) {
        const unsigned char *p = data;
        *key = d2i_AutoPrivateKey(NULL, &p, (long)len);
    }
    if (*key == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a private key%s", key_path,
                     pass_file ? " (or a wrong passphrase)"
                               : " (an encrypted key needs --agent-password-file)");
    free(data);
    data = NULL;
    CM_TRY(fs_read_file(&data, &len, cert_path, KRA_MAX_FILE));
    BIO_free(b);
    b = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(b == NULL);
    *cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (*cert == NULL) {
        const unsigned char *p = data;
        *cert = d2i_X509(NULL, &p, (long)len);
    }
    if (*cert == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a certificate", cert_path);
    if (X509_check_private_key(*cert, *key) != 1)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s does not belong to %s", key_path, cert_path);
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    if (rc != CM_OK) {
        EVP_PKEY_free(*key);
        *key = NULL;
        X509_free(*cert);
        *cert = NULL;
    }
    if (data != NULL)
        OPENSSL_cleanse(data, len);
    free(data);
    BIO_free(b);
    return rc;
}
