/* Key archival, the CA's side of its setup (issue 12, docs/key-archival.md):
 * the key-transport certificate clients envelope their key to, and the set
 * of key recovery agents. */
#include "ca/kra_int.h"

#include "ca/issue_int.h"
#include "event/event.h"
#include "kra/kra.h"
#include "util/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

cm_err kra_passphrase(char *out, size_t outsz, ca_ctx *ca)
{
    return key_read_passphrase(out, outsz, ca->passphrase_file, 0);
}

static cm_err pem_of(char **pem, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *bm = NULL;

    *pem = NULL;
    if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
        BIO_free(b);
        return cm_err_ossl(CM_ERR_NOMEM, "cannot encode the certificate");
    }
    BIO_get_mem_ptr(b, &bm);
    *pem = strndup(bm->data, bm->length);
    BIO_free(b);
    return *pem ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

/* The transport key's reference: the URI file when there is one (a key in
 * the token), else the key file. */
static cm_err transport_ref(char *ref, size_t refsz, ca_ctx *ca)
{
    return ca_key_ref_at(ref, refsz, ca->home, KRA_TRANSPORT_KEY_URI, KRA_TRANSPORT_KEY);
}

static cm_err transport_key_open(cm_key **key, ca_ctx *ca, X509 *cert)
{
    char ref[CA_KEY_REF_MAX];
    struct key_open_opts ko = {ca->passphrase_file, 0, 0};
    cm_err rc;

    CM_TRY(transport_ref(ref, sizeof(ref), ca));
    CM_TRY(key_open(key, ref, &ko));
    if (EVP_PKEY_eq(X509_get0_pubkey(cert), key_public(*key)) != 1) {
        char what[PATH_MAX + 64];
        key_describe(*key, what, sizeof(what));
        key_close(*key);
        *key = NULL;
        CM_FAIL(CM_ERR_CRYPTO, "%s: the key-transport key does not match %s", what,
                KRA_TRANSPORT_CERT);
    }
out:
    return rc;
}

cm_err kra_transport_load(cm_key **key, X509 **cert, ca_ctx *ca, int with_key)
{
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;
    cm_err rc;

    *cert = NULL;
    if (key != NULL)
        *key = NULL;
    CM_TRY(fs_join(path, sizeof(path), ca->home, KRA_TRANSPORT_CERT));
    rc = fs_read_file(&data, &len, path, CA_MAX_CERT_BYTES);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_STATE, "this CA has no key-transport certificate yet: "
                              "certmint kra transport-cert --init");
    CM_TRY(rc);
    CM_TRY(ca_cert_parse(cert, data, len, path));
    if (with_key)
        CM_TRY(transport_key_open(key, ca, *cert));
out:
    free(data);
    return rc;
}

cm_err ca_kra_transport_key(cm_key **key, ca_ctx *ca)
{
    X509 *x = NULL;
    cm_err rc = kra_transport_load(key, &x, ca, 1);
    X509_free(x);
    return rc;
}

/* A request for the transport key, as the issuance path takes it. */
static cm_err transport_csr(struct csr **out, EVP_PKEY *k)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = NULL;
    unsigned char *der = NULL;
    int len;
    cm_err rc = CM_OK;

    CM_NOMEM_IF(r == NULL);
    n = X509_REQ_get_subject_name(r);
    if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"certmint key archival transport", -1,
                                    -1, 0) ||
        !X509_REQ_set_pubkey(r, k) || X509_REQ_sign(r, k, EVP_sha256()) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot make the transport key's request");
    len = i2d_X509_REQ(r, &der);
    if (len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the transport key's request");
    CM_TRY(csr_parse(out, der, (size_t)len, "transport key request"));
out:
    OPENSSL_free(der);
    X509_REQ_free(r);
    return rc;
}

/* The transport certificate's profile: keyEncipherment only, no SANs. */
static cm_err transport_profile(struct profile **p, ca_ctx *ca)
{
    cm_err rc;

    CM_TRY(profile_load(p, ca->cfg, "tls-client"));
    snprintf((*p)->name, sizeof((*p)->name), "kra-transport");
    (*p)->ku_set = 1;
    (*p)->key_usage = KU_KEY_ENCIPHERMENT;
    free((*p)->eku);
    (*p)->eku = NULL;
    (*p)->san_types = 0;
    (*p)->require_san = (*p)->require_email = 0;
    (*p)->days = 3650;
out:
    return rc;
}

/* Records the transport certificate like an issued one (its request row
 * and certificate row, CERTISSUED, audit) in one transaction. */
static cm_err transport_record(ca_ctx *ca, const struct csr *c, X509 *x)
{
    struct db_request r;
    char serial[CM_SERIAL_BUF];
    cm_err rc;

    memset(&r, 0, sizeof(r));
    r.requester_name = (char *)ca_session_who(ca);
    r.submitted_when = r.resolved_when = (int64_t)time(NULL);
    r.template_name = "kra-transport";
    r.request_dn = "CN=certmint key archival transport";
    r.raw_request = c->der;
    r.raw_request_len = c->der_len;
    r.disposition = DB_DISP_ISSUED;
    r.disposition_message = "Issued (key archival transport)";
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_request_insert(ca->db, &r));
    CM_TRY(issue_record(ca, r.request_id, "kra-transport", x, NULL, NULL, serial, DB_ORIGIN_ISSUED,
                        NULL));
    CM_TRY(ca_audit(ca, "kra-transport", r.request_id, serial, "key-transport certificate issued"));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

/* The request of a key in a token that may not sign (CKA_SIGN false): no
 * proof of possession is possible or needed (the CA made the key), so the
 * request is built as csr_parse() would leave it, and its row keeps the
 * unsigned CertificationRequestInfo (RFC 2986 4.1). */
static cm_err transport_csr_unsigned(struct csr **out, EVP_PKEY *pub)
{
    X509_REQ *r = X509_REQ_new();
    X509_PUBKEY *xp = NULL;
    const unsigned char *bits = NULL;
    X509_ALGOR *alg = NULL;
    struct csr *c = calloc(1, sizeof(*c));
    int bitslen = 0, len;
    cm_err rc = CM_OK;

    CM_NOMEM_IF(r == NULL || c == NULL);
    if (!X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
                                    (const unsigned char *)"certmint key archival transport", -1,
                                    -1, 0) ||
        !X509_REQ_set_pubkey(r, pub) || !X509_PUBKEY_set(&xp, pub) ||
        !X509_PUBKEY_get0_param(NULL, &bits, &bitslen, &alg, xp) ||
        (c->subject = X509_NAME_dup(X509_REQ_get_subject_name(r))) == NULL ||
        (c->spki_alg = X509_ALGOR_dup(alg)) == NULL ||
        (c->spki_bits = OPENSSL_memdup(bits, (size_t)bitslen)) == NULL || !EVP_PKEY_up_ref(pub))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot make the transport key's request");
    c->pkey = pub;
    c->kind = pub; /* the key type the profile and lint read (csr.h) */
    c->spki_bits_len = bitslen;
    if ((len = i2d_re_X509_REQ_tbs(r, &c->der)) <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the transport key's request");
    c->der_len = (size_t)len;
    *out = c;
    c = NULL;
out:
    csr_free(c);
    X509_PUBKEY_free(xp);
    X509_REQ_free(r);
    return rc;
}

/* The transport key in the CA key's token (an object of its own: the CA
 * object's label + "-kra-transport", a random suffix more on renewal so
 * that the old key stays until the operator deletes it), RSA-3072,
 * decrypt only, never extractable; *uri its reference. */
static cm_err transport_in_token(cm_key **tk, struct csr **c, char *uri, size_t urisz,
                                 const char *caref, ca_ctx *ca, int renew)
{
    char suffix[48];
    unsigned char rnd[4];
    struct key_spec spec;
    struct key_open_opts ko = {ca->passphrase_file, 0, 1};
    int created = 0;
    cm_err rc;

    snprintf(suffix, sizeof(suffix), "-kra-transport");
    if (renew) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            return cm_err_ossl(CM_ERR_CRYPTO, "no randomness");
        snprintf(suffix, sizeof(suffix), "-kra-transport-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3]);
    }
    CM_TRY(key_ref_sibling(uri, urisz, caref, suffix));
    CM_TRY(key_spec_parse(&spec, "rsa:3072"));
    CM_TRY(key_create(tk, &created, uri, &spec, &ko));
    if (EVP_PKEY_get_base_id(key_public(*tk)) != EVP_PKEY_RSA)
        CM_FAIL(CM_ERR_INVALID, "%s: the token's key-transport key is not RSA", uri);
    CM_TRY(transport_csr_unsigned(c, key_public(*tk)));
out:
    return rc;
}

/* The transport key as an encrypted file (a CA key in a file): written
 * under the CA passphrase to kpath. */
static cm_err transport_in_file(struct csr **c, ca_ctx *ca, const char *kpath)
{
    char pass[1024];
    struct key_spec spec;
    EVP_PKEY *k = NULL;
    cm_err rc;

    pass[0] = '\0';
    CM_TRY(key_spec_parse(&spec, "rsa:3072"));
    CM_TRY(key_generate(&k, &spec));
    CM_TRY(transport_csr(c, k));
    CM_TRY(kra_passphrase(pass, sizeof(pass), ca));
    CM_TRY(key_save_encrypted(k, kpath, pass));
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    EVP_PKEY_free(k);
    return rc;
}

/* long: make the key where the CA key is, issue, write files and record,
 * each step's cleanup */
cm_err ca_kra_transport_init(char **pem, ca_ctx *ca, int renew)
{
    char kpath[PATH_MAX], upath[PATH_MAX], cpath[PATH_MAX], caref[CA_KEY_REF_MAX];
    char uri[CA_KEY_REF_MAX];
    cm_key *tk = NULL;
    struct csr *c = NULL;
    struct profile *p = NULL;
    X509 *x = NULL;
    int in_token = 0, wrote = 0;
    cm_err rc;

    *pem = NULL;
    CM_TRY(fs_join(kpath, sizeof(kpath), ca->home, KRA_TRANSPORT_KEY));
    CM_TRY(fs_join(upath, sizeof(upath), ca->home, KRA_TRANSPORT_KEY_URI));
    CM_TRY(fs_join(cpath, sizeof(cpath), ca->home, KRA_TRANSPORT_CERT));
    if (!renew && fs_exists(cpath))
        CM_FAIL(CM_ERR_EXISTS, "%s: the key-transport certificate exists (--renew replaces it)",
                cpath);
    CM_TRY(ca_load_key(ca));
    CM_TRY(ca_key_ref(caref, sizeof(caref), ca->home));
    in_token = key_ref_is_uri(caref);
    if (in_token)
        CM_TRY(transport_in_token(&tk, &c, uri, sizeof(uri), caref, ca, renew));
    CM_TRY(transport_profile(&p, ca));
    if (!in_token) {
        CM_TRY(transport_in_file(&c, ca, kpath));
        wrote = 1;
        /* A URI left from a token key would win over the new file. */
        if (unlink(upath) != 0 && errno != ENOENT)
            CM_FAIL(CM_ERR_IO, "%s: %s", upath, strerror(errno));
    }
    CM_TRY(issue_sign(&x, ca, p, c));
    if (in_token) {
        CM_TRY(fs_write_atomic(upath, uri, strlen(uri), 0600));
        wrote = 1;
    }
    CM_TRY(transport_record(ca, c, x));
    CM_TRY(pem_of(pem, x));
    CM_TRY(fs_write_atomic(cpath, *pem, strlen(*pem), 0644));
    wrote = 0;
out:
    if (wrote && !renew)
        (void)unlink(in_token ? upath : kpath);
    if (rc != CM_OK) {
        free(*pem);
        *pem = NULL;
    }
    X509_free(x);
    profile_free(p);
    csr_free(c);
    key_close(tk);
    return rc;
}

cm_err ca_kra_transport_pem(char **pem, ca_ctx *ca)
{
    X509 *x = NULL;
    cm_err rc;

    *pem = NULL;
    CM_TRY(kra_transport_load(NULL, &x, ca, 0));
    CM_TRY(pem_of(pem, x));
out:
    X509_free(x);
    return rc;
}

/* ---- agents ---- */

/* An agent's certificate must be able to receive a CMS envelope: RSA (key
 * transport, RFC 5652 6.2.1) or EC (key agreement, RFC 5753), and, when it
 * has a keyUsage, keyEncipherment or keyAgreement (RFC 5280 4.2.1.3). */
static cm_err agent_check(X509 *x, const char *what)
{
    EVP_PKEY *k = X509_get0_pubkey(x);
    uint32_t ku = X509_get_key_usage(x);
    int id = k ? EVP_PKEY_get_base_id(k) : 0;

    if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC)
        return cm_err_set(CM_ERR_INVALID,
                          "%s: an agent's key must be RSA or EC (it receives "
                          "CMS envelopes)",
                          what);
    if (ku != UINT32_MAX && !(ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)))
        return cm_err_set(CM_ERR_INVALID,
                          "%s: the certificate's keyUsage allows neither "
                          "keyEncipherment nor keyAgreement",
                          what);
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
        return cm_err_set(CM_ERR_INVALID, "%s: the certificate has expired", what);
    return CM_OK;
}

cm_err ca_kra_add(char id[65], ca_ctx *ca, const unsigned char *cert, size_t len, const char *what)
{
    X509 *x = NULL;
    unsigned char *der = NULL;
    int n;
    char details[600];
    char *subj = NULL;
    struct db_vault v;
    cm_err rc;

    CM_TRY(ca_cert_parse(&x, cert, len, what));
    CM_TRY(agent_check(x, what));
    n = i2d_X509(x, &der);
    if (n <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encode the certificate", what);
    CM_TRY(kra_fingerprint(id, der, (size_t)n));
    subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
    snprintf(details, sizeof(details), "agent %.16s added: %s", id, subj ? subj : "?");
    v = (struct db_vault){KRA_V_AGENT, id, KRA_ST_ACTIVE, (int64_t)time(NULL), der, (size_t)n};
    CM_TRY(db_begin(ca->db));
    rc = db_vault_insert(ca->db, &v);
    if (rc == CM_ERR_EXISTS)
        rc = db_vault_update(ca->db, KRA_V_AGENT, id, KRA_ST_REMOVED, KRA_ST_ACTIVE, NULL, 0);
    if (rc == CM_ERR_STATE)
        CM_FAIL(CM_ERR_EXISTS, "%s: already a key recovery agent (%.16s)", what, id);
    CM_TRY(rc);
    CM_TRY(ca_audit(ca, "kra-add", 0, NULL, details));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    OPENSSL_free(subj);
    OPENSSL_free(der);
    X509_free(x);
    return rc;
}

struct find_ctx {
    const char *prefix;
    char id[65];
    int state, matches;
};

static cm_err find_cb(void *ctx, const struct db_vault *v)
{
    struct find_ctx *f = ctx;
    if (strncmp(v->name, f->prefix, strlen(f->prefix)) == 0) {
        f->matches++;
        snprintf(f->id, sizeof(f->id), "%s", v->name);
        f->state = v->state;
    }
    return CM_OK;
}

cm_err ca_kra_remove(ca_ctx *ca, const char *id)
{
    struct find_ctx f = {id, "", 0, 0};
    char details[128];
    cm_err rc;

    if (strlen(id) < 8 || strlen(id) > 64)
        return cm_err_set(CM_ERR_INVALID,
                          "'%s': an agent ID is 8 to 64 hex digits "
                          "(certmint kra list)",
                          id);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_vault_iter(ca->db, KRA_V_AGENT, NULL, find_cb, &f));
    if (f.matches == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "'%s': no such key recovery agent (certmint kra list)", id);
    if (f.matches > 1)
        CM_FAIL(CM_ERR_INVALID, "'%s': more than one agent has this ID prefix; give more digits",
                id);
    rc = db_vault_update(ca->db, KRA_V_AGENT, f.id, KRA_ST_ACTIVE, KRA_ST_REMOVED, NULL, 0);
    if (rc == CM_ERR_STATE)
        CM_FAIL(CM_ERR_STATE, "agent %.16s was already removed", f.id);
    CM_TRY(rc);
    snprintf(details, sizeof(details), "agent %.16s removed", f.id);
    CM_TRY(ca_audit(ca, "kra-remove", 0, NULL, details));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

struct list_ctx {
    ca_kra_agent_cb cb;
    void *ctx;
};

static cm_err list_cb(void *ctx, const struct db_vault *v)
{
    struct list_ctx *l = ctx;
    const unsigned char *p = v->body;
    X509 *x = d2i_X509(NULL, &p, (long)v->body_len);
    char *subj = NULL;
    struct tm tm;
    struct ca_kra_agent a = {v->name, "?", v->state == KRA_ST_ACTIVE, v->created, 0};
    cm_err rc;

    if (x != NULL) {
        subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
        a.subject = subj ? subj : "?";
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
            a.not_after = (int64_t)timegm(&tm);
    }
    rc = l->cb(l->ctx, &a);
    OPENSSL_free(subj);
    X509_free(x);
    return rc;
}

cm_err ca_kra_list(ca_ctx *ca, ca_kra_agent_cb cb, void *ctx)
{
    struct list_ctx l = {cb, ctx};
    return db_vault_iter(ca->db, KRA_V_AGENT, NULL, list_cb, &l);
}

struct load_ctx {
    STACK_OF(X509) * certs;
    char (*ids)[65];
    size_t n;
};

static cm_err load_cb(void *ctx, const struct db_vault *v)
{
    struct load_ctx *l = ctx;
    const unsigned char *p = v->body;
    X509 *x;

    if (v->state != KRA_ST_ACTIVE)
        return CM_OK;
    if (l->n == KRA_MAX_AGENTS)
        return cm_err_set(CM_ERR_STATE, "more than %d key recovery agents", KRA_MAX_AGENTS);
    x = d2i_X509(NULL, &p, (long)v->body_len);
    if (x == NULL)
        return cm_err_ossl(CM_ERR_DB, "agent %.16s: the stored certificate does not parse",
                           v->name);
    if (!sk_X509_push(l->certs, x)) {
        X509_free(x);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    snprintf(l->ids[l->n++], 65, "%s", v->name);
    return CM_OK;
}

cm_err kra_agents_load(STACK_OF(X509) * *certs, char (**ids)[65], ca_ctx *ca)
{
    struct load_ctx l = {sk_X509_new_null(), calloc(KRA_MAX_AGENTS, 65), 0};
    cm_err rc;

    *certs = NULL;
    *ids = NULL;
    CM_NOMEM_IF(l.certs == NULL || l.ids == NULL);
    CM_TRY(db_vault_iter(ca->db, KRA_V_AGENT, NULL, load_cb, &l));
    *certs = l.certs;
    *ids = l.ids;
    l.certs = NULL;
    l.ids = NULL;
out:
    sk_X509_pop_free(l.certs, X509_free);
    free(l.ids);
    return rc;
}

struct get_ctx {
    unsigned char *body;
    size_t len;
    int state;
};

static cm_err get_cb(void *ctx, const struct db_vault *v)
{
    struct get_ctx *g = ctx;
    g->body = malloc(v->body_len + 1);
    if (g->body == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    if (v->body_len)
        memcpy(g->body, v->body, v->body_len);
    g->body[v->body_len] = '\0';
    g->len = v->body_len;
    g->state = v->state;
    return CM_OK;
}

cm_err kra_vault_get(unsigned char **body, size_t *len, int *state, ca_ctx *ca, const char *kind,
                     const char *name)
{
    struct get_ctx g = {NULL, 0, 0};
    cm_err rc = db_vault_iter(ca->db, kind, name, get_cb, &g);

    if (rc != CM_OK) {
        free(g.body);
        return rc;
    }
    *body = g.body;
    *len = g.len;
    if (state != NULL)
        *state = g.state;
    return CM_OK;
}
