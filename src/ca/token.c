/* One-time enrollment tokens (issue 12, docs/tokens.md). A token is
 * "cmt1.ID.SECRET": ID (64 bits, hex) names the row, SECRET (256 bits from
 * RAND_bytes, hex) is the credential; the vault keeps SHA-256(SECRET) with
 * the binding (profile, subject, SANs), the expiry, the state and the
 * failure count. SHA-256 without a salt or stretching is enough for 256
 * random bits (nothing to guess); the compare is CRYPTO_memcmp. */
#include "ca/kra_int.h"

#include "ca/name.h"
#include "kra/kra.h"
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define TOKEN_V "token"
#define TOKEN_V_ADDR "token.addr"
#define TOKEN_MAX_FAILURES 5
#define ADDR_MAX_FAILURES 20
#define ADDR_WINDOW 3600
enum { TOKEN_OPEN = 1, TOKEN_USED = 2, TOKEN_REVOKED = 3 };

struct ca_token_binding {
    X509_NAME *subject;
    X509_EXTENSION *san;
};

static const char *state_name(int st)
{
    return st == TOKEN_OPEN ? "open" : st == TOKEN_USED ? "used" : "revoked";
}

static cm_err hex_of(char *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    return CM_OK;
}

/* The binding's SAN extension from OpenSSL's syntax ("email:a@b, DNS:x"). */
static cm_err san_parse(X509_EXTENSION **out, const char *sans)
{
    *out = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
    if (*out == NULL)
        return cm_err_ossl(CM_ERR_INVALID,
                           "--san '%s': not a subjectAltName list "
                           "(email:a@example.org,DNS:host.example.org)",
                           sans);
    return CM_OK;
}

static cm_err binding_check(const struct ca_token_opts *o, const char *subject, const char *sans)
{
    X509_NAME *n = NULL;
    X509_EXTENSION *e = NULL;
    cm_err rc;

    CM_TRY(name_parse_dn(&n, subject));
    CM_TRY(san_parse(&e, sans));
    if (o->ttl < 0 || o->ttl > 30 * 86400)
        CM_FAIL(CM_ERR_INVALID, "--ttl: at most 30 days");
out:
    X509_NAME_free(n);
    X509_EXTENSION_free(e);
    return rc;
}

static cm_err email_check(const char *e)
{
    const char *at = e ? strchr(e, '@') : NULL;
    if (at == NULL || at == e || at[1] == '\0' || strchr(at + 1, '@') != NULL || strlen(e) > 254 ||
        strpbrk(e, " <>,;\"\\\r\n\t") != NULL)
        return cm_err_set(CM_ERR_INVALID, "--email '%s': not a mail address", e ? e : "");
    return CM_OK;
}

/* long: validate every part of the binding, then one transaction */
cm_err ca_token_issue(char id[17], char token[CA_TOKEN_MAX], int64_t *expires, ca_ctx *ca,
                      const struct ca_token_opts *o)
{
    unsigned char rid[8], secret[32], md[32];
    char subj[600], sans[600], shex[65], mdhex[65], details[400];
    struct profile *p = NULL;
    cm_buf b = CM_BUF_INIT(16 * 1024);
    int64_t now = (int64_t)time(NULL), ttl = o->ttl ? o->ttl : 72 * 3600;
    struct db_vault v;
    cm_err rc;

    token[0] = '\0';
    CM_TRY(email_check(o->email));
    if (o->profile == NULL)
        CM_FAIL(CM_ERR_INVALID, "a token needs a profile (--profile)");
    CM_TRY(profile_load(&p, ca->cfg, o->profile));
    snprintf(subj, sizeof(subj), "%s", o->subject ? o->subject : "");
    if (o->subject == NULL)
        snprintf(subj, sizeof(subj), "CN=%s", o->email);
    snprintf(sans, sizeof(sans), "%s", o->sans ? o->sans : "");
    if (o->sans == NULL)
        snprintf(sans, sizeof(sans), "email:%s", o->email);
    CM_TRY(binding_check(o, subj, sans));
    if (RAND_bytes(rid, sizeof(rid)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "no randomness for the token");
    hex_of(id, rid, sizeof(rid));
    hex_of(shex, secret, sizeof(secret));
    if (EVP_Digest(secret, sizeof(secret), md, NULL, EVP_sha256(), NULL) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-256 failed");
    hex_of(mdhex, md, sizeof(md));
    CM_TRY(kra_rec_begin(&b, "certmint-token 1"));
    CM_TRY(kra_rec_put(&b, "email", o->email));
    CM_TRY(kra_rec_put(&b, "profile", p->name));
    CM_TRY(kra_rec_put(&b, "subject", subj));
    CM_TRY(kra_rec_put(&b, "sans", sans));
    CM_TRY(kra_rec_put_int(&b, "expires", now + ttl));
    CM_TRY(kra_rec_put(&b, "hash", mdhex));
    CM_TRY(kra_rec_put_int(&b, "failures", 0));
    v = (struct db_vault){TOKEN_V, id, TOKEN_OPEN, now, b.data, b.len};
    snprintf(details, sizeof(details), "token %s for %s, profile %s", id, o->email, p->name);
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_vault_insert(ca->db, &v));
    CM_TRY(ca_audit(ca, "token-issue", 0, NULL, details));
    CM_TRY(db_commit(ca->db));
    snprintf(token, CA_TOKEN_MAX, "cmt1.%s.%s", id, shex);
    *expires = now + ttl;
out:
    db_rollback(ca->db);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(shex, sizeof(shex));
    profile_free(p);
    buf_free(&b);
    return rc;
}

/* A token row, parsed. */
struct tok {
    struct kra_rec r;
    int state;
    int64_t created;
    long long expires, failures;
};

static cm_err tok_load(struct tok *t, ca_ctx *ca, const char *id)
{
    unsigned char *body = NULL;
    size_t len = 0;
    cm_err rc;

    memset(t, 0, sizeof(*t));
    rc = kra_vault_get(&body, &len, &t->state, ca, TOKEN_V, id);
    if (rc == CM_ERR_NOTFOUND)
        CM_FAIL(CM_ERR_AUTH, "token %s: no such token", id);
    CM_TRY(rc);
    CM_TRY(kra_rec_parse(&t->r, body, len, "token record"));
    CM_TRY(kra_rec_int(&t->expires, &t->r, "expires", 0, INT64_MAX, "token record"));
    CM_TRY(kra_rec_int(&t->failures, &t->r, "failures", 0, 1000000, "token record"));
out:
    free(body);
    return rc;
}

/* The record with failures replaced (same order of fields). */
static cm_err tok_body(cm_buf *b, const struct tok *t, long long failures)
{
    cm_err rc;

    CM_TRY(kra_rec_begin(b, t->r.kind));
    for (size_t i = 0; i < t->r.n; i++) {
        if (strcmp(t->r.f[i].key, "failures") == 0)
            CM_TRY(kra_rec_put_int(b, "failures", failures));
        else
            CM_TRY(kra_rec_put(b, t->r.f[i].key, t->r.f[i].value));
    }
out:
    return rc;
}

/* The row counting a client address's failures in the current hour
 * (fixed windows: one row per address and hour). */
static void addr_bucket(char *out, size_t outsz, const char *addr)
{
    snprintf(out, outsz, "%.200s/%lld", addr, (long long)(time(NULL) / ADDR_WINDOW));
}

static int addr_failures(ca_ctx *ca, const char *addr)
{
    char name[256];
    unsigned char *b = NULL;
    size_t l = 0;
    int n = 0;

    if (addr == NULL)
        return 0;
    addr_bucket(name, sizeof(name), addr);
    if (kra_vault_get(&b, &l, &n, ca, TOKEN_V_ADDR, name) != CM_OK)
        n = 0;
    free(b);
    return n;
}

/* Counts a failure against the token (and the client address): its own
 * transaction, kept whatever the caller does next; the error message of
 * the refusal is kept for the caller. */
static void failure_count(ca_ctx *ca, const char *id, const struct tok *t, const char *addr)
{
    cm_buf b = CM_BUF_INIT(16 * 1024);
    char details[400], why[256], name[256];
    cm_err e = CM_ERR_AUTH, x = CM_OK;
    int n;

    snprintf(why, sizeof(why), "%s", cm_err_msg());
    snprintf(details, sizeof(details), "token %.16s refused%s%s: %s", id, addr ? " from " : "",
             addr ? addr : "", why);
    if (db_begin(ca->db) != CM_OK)
        goto out;
    if (t != NULL && tok_body(&b, t, t->failures + 1) == CM_OK)
        x = db_vault_update(ca->db, TOKEN_V, id, t->state, t->state, b.data, b.len);
    if (addr != NULL && x == CM_OK) {
        struct db_vault v = {TOKEN_V_ADDR, name, 1, (int64_t)time(NULL), NULL, 0};
        addr_bucket(name, sizeof(name), addr);
        n = addr_failures(ca, addr);
        x = n == 0 ? db_vault_insert(ca->db, &v)
                   : db_vault_update(ca->db, TOKEN_V_ADDR, name, n, n + 1, NULL, 0);
    }
    if (x == CM_OK)
        x = ca_audit(ca, "token-refused", 0, NULL, details);
    if (x == CM_OK)
        x = db_commit(ca->db);
    if (x != CM_OK) /* the refusal stands; only its count is lost */
        db_rollback(ca->db);
out:
    buf_free(&b);
    cm_err_set(e, "%s", why);
}

/* The token's ID and secret from "cmt1.ID.SECRET" (surrounding white
 * space, a file's line end, ignored). */
static cm_err token_split(char id[17], unsigned char secret[32], const char *token)
{
    char buf[CA_TOKEN_MAX + 8];
    size_t n;

    while (*token == ' ' || *token == '\t')
        token++;
    snprintf(buf, sizeof(buf), "%s", token);
    n = strcspn(buf, " \t\r\n");
    buf[n] = '\0';
    if (n != 5 + 16 + 1 + 64 || strncmp(buf, "cmt1.", 5) != 0 || buf[21] != '.' ||
        strspn(buf + 5, "0123456789abcdef") != 16 || strspn(buf + 22, "0123456789abcdef") != 64)
        return cm_err_set(CM_ERR_INVALID, "not a certmint enrollment token (cmt1.ID.SECRET)");
    memcpy(id, buf + 5, 16);
    id[16] = '\0';
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        sscanf(buf + 22 + 2 * i, "%2x", &v);
        secret[i] = (unsigned char)v;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return CM_OK;
}

/* The checks of a presented token, in the order that reveals least. */
static cm_err token_check(const struct tok *t, const unsigned char secret[32], const char *id)
{
    unsigned char md[32], *want = NULL;
    size_t wl = 0;
    const char *hex = kra_rec_get(&t->r, "hash");
    cm_err rc = CM_OK;

    if (t->failures >= TOKEN_MAX_FAILURES)
        CM_FAIL(CM_ERR_AUTH, "token %s is locked after %d failed attempts (issue a new one)", id,
                TOKEN_MAX_FAILURES);
    if (hex == NULL)
        CM_FAIL(CM_ERR_DB, "token %s: no hash stored", id);
    CM_TRY(kra_rec_hex(&want, &wl, hex, 32, "hash", "token record"));
    if (EVP_Digest(secret, 32, md, NULL, EVP_sha256(), NULL) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "SHA-256 failed");
    if (wl != 32 || CRYPTO_memcmp(md, want, 32) != 0)
        CM_FAIL(CM_ERR_AUTH, "token %s: wrong token", id);
    if (t->state == TOKEN_USED)
        CM_FAIL(CM_ERR_AUTH, "token %s has been used already (a token enrolls once)", id);
    if (t->state == TOKEN_REVOKED)
        CM_FAIL(CM_ERR_AUTH, "token %s was revoked", id);
    if ((int64_t)t->expires <= (int64_t)time(NULL))
        CM_FAIL(CM_ERR_AUTH, "token %s has expired", id);
out:
    free(want);
    return rc;
}

static cm_err binding_make(struct ca_token_binding *bd, const struct tok *t)
{
    const char *subj = kra_rec_get(&t->r, "subject"), *sans = kra_rec_get(&t->r, "sans");
    cm_err rc;

    memset(bd, 0, sizeof(*bd));
    if (subj == NULL || sans == NULL)
        return cm_err_set(CM_ERR_DB, "token record without a binding");
    CM_TRY(name_parse_dn(&bd->subject, subj));
    CM_TRY(san_parse(&bd->san, sans));
out:
    return rc;
}

/* The request's subject and extensions replaced by the binding: the token
 * decides what the certificate says, not the CSR (its signature, checked
 * when it was parsed, still proves possession of the key). */
cm_err token_binding_apply(struct csr *c, const struct ca_token_binding *bd)
{
    X509_NAME *n = X509_NAME_dup(bd->subject);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *e = X509_EXTENSION_dup(bd->san);

    if (n == NULL || exts == NULL || e == NULL || !sk_X509_EXTENSION_push(exts, e)) {
        X509_NAME_free(n);
        X509_EXTENSION_free(e);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    X509_NAME_free(c->subject);
    c->subject = n;
    sk_X509_EXTENSION_pop_free(c->exts, X509_EXTENSION_free);
    c->exts = exts;
    return CM_OK;
}

static cm_err token_mark(ca_ctx *ca, const char *id, int from, int to, const char *action)
{
    char details[64];
    cm_err rc;

    snprintf(details, sizeof(details), "token %s", id);
    CM_TRY(db_begin(ca->db));
    rc = db_vault_update(ca->db, TOKEN_V, id, from, to, NULL, 0);
    if (rc == CM_ERR_STATE)
        CM_FAIL(CM_ERR_AUTH, "token %s has been used or revoked meanwhile", id);
    CM_TRY(rc);
    CM_TRY(ca_audit(ca, action, 0, NULL, details));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

/* The token's own checks before anything is claimed: the client address's
 * window, the record, the secret, the state, the profile asked for. */
static cm_err redeem_check(struct tok *t, ca_ctx *ca, const char *id,
                           const unsigned char secret[32], struct ca_token_redeem_opts *o)
{
    const char *profile;
    cm_err rc;

    if (addr_failures(ca, o->client_addr) >= ADDR_MAX_FAILURES) {
        o->retry_after = ADDR_WINDOW - (int64_t)time(NULL) % ADDR_WINDOW;
        o->refused = 1;
        return cm_err_set(CM_ERR_AUTH, "too many failed token attempts from %s; try again later",
                          o->client_addr);
    }
    rc = tok_load(t, ca, id);
    if (rc == CM_OK)
        rc = token_check(t, secret, id);
    if (rc == CM_ERR_AUTH) {
        o->refused = 1;
        failure_count(ca, id, t->r.n ? t : NULL, o->client_addr);
        return rc;
    }
    if (rc != CM_OK)
        return rc;
    /* Asked after the secret is proven: a stranger learns nothing of the
     * binding, and a client's mistake costs neither the token nor a try. */
    profile = kra_rec_get(&t->r, "profile");
    if (o->profile != NULL && o->profile[0] != '\0' &&
        (profile == NULL || strcmp(o->profile, profile) != 0))
        return cm_err_set(CM_ERR_POLICY, "token %s enrolls for profile %s, not %s", id,
                          profile ? profile : "?", o->profile);
    return CM_OK;
}

/* long: parse, check, claim, submit, give back on failure */
cm_err ca_token_redeem_x(struct ca_submission *out, ca_ctx *ca, const char *token,
                         const unsigned char *csr, size_t csr_len, struct ca_token_redeem_opts *o)
{
    char id[17] = "", actor[64];
    unsigned char secret[32];
    struct tok t;
    struct ca_token_binding bd = {NULL, NULL};
    struct ca_submit_opts so = {0};
    int claimed = 0;
    cm_err rc;

    memset(&t, 0, sizeof(t));
    o->refused = 0;
    o->retry_after = 0;
    rc = token_split(id, secret, token);
    if (rc != CM_OK) {
        o->refused = 1;
        goto out;
    }
    CM_TRY(redeem_check(&t, ca, id, secret, o));
    CM_TRY(binding_make(&bd, &t));
    CM_TRY(token_mark(ca, id, TOKEN_OPEN, TOKEN_USED, "token-redeem"));
    claimed = 1;
    snprintf(actor, sizeof(actor), "token:%s", id);
    so.profile = kra_rec_get(&t.r, "profile");
    so.requester = actor;
    out->csr = csr;
    out->csr_len = csr_len;
    if (out->source == NULL)
        out->source = "request";
    out->binding = &bd;
    rc = ca_submit(ca, out, 1, &so);
    out->binding = NULL;
    if (rc == CM_OK && out->disposition == DB_DISP_ISSUED)
        claimed = 0;
out:
    /* Not issued: the token can be used again (the CSR was at fault). */
    if (claimed && token_mark(ca, id, TOKEN_USED, TOKEN_OPEN, "token-returned") != CM_OK)
        rc = rc != CM_OK ? rc : CM_ERR_DB;
    OPENSSL_cleanse(secret, sizeof(secret));
    X509_NAME_free(bd.subject);
    X509_EXTENSION_free(bd.san);
    kra_rec_clear(&t.r);
    return rc;
}

cm_err ca_token_redeem(struct ca_submission *out, ca_ctx *ca, const char *token,
                       const unsigned char *csr, size_t csr_len, const char *client_addr)
{
    struct ca_token_redeem_opts o = {client_addr, NULL, 0, 0};
    return ca_token_redeem_x(out, ca, token, csr, csr_len, &o);
}

cm_err ca_token_revoke(ca_ctx *ca, const char *id)
{
    struct tok t;
    cm_err rc;

    if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
        return cm_err_set(CM_ERR_INVALID, "'%s': a token ID is 16 hex digits (certmint token list)",
                          id);
    CM_TRY(tok_load(&t, ca, id));
    if (t.state != TOKEN_OPEN)
        CM_FAIL(CM_ERR_STATE, "token %s is %s already", id, state_name(t.state));
    CM_TRY(token_mark(ca, id, TOKEN_OPEN, TOKEN_REVOKED, "token-revoke"));
out:
    kra_rec_clear(&t.r);
    return rc;
}

struct list_ctx {
    ca_token_cb cb;
    void *ctx;
};

static cm_err list_cb(void *ctx, const struct db_vault *v)
{
    struct list_ctx *l = ctx;
    struct kra_rec r;
    struct ca_token_info i;
    long long ex = 0, fl = 0;
    cm_err rc;

    CM_TRY(kra_rec_parse(&r, v->body, v->body_len, "token record"));
    CM_TRY(kra_rec_int(&ex, &r, "expires", 0, INT64_MAX, "token record"));
    CM_TRY(kra_rec_int(&fl, &r, "failures", 0, 1000000, "token record"));
    i = (struct ca_token_info){v->name,
                               kra_rec_get(&r, "email"),
                               kra_rec_get(&r, "profile"),
                               kra_rec_get(&r, "subject"),
                               kra_rec_get(&r, "sans"),
                               state_name(v->state),
                               v->created,
                               (int64_t)ex,
                               fl};
    if (v->state == TOKEN_OPEN && ex <= (long long)time(NULL))
        i.state = "expired";
    rc = l->cb(l->ctx, &i);
out:
    kra_rec_clear(&r);
    return rc;
}

cm_err ca_token_list(ca_ctx *ca, ca_token_cb cb, void *ctx)
{
    struct list_ctx l = {cb, ctx};
    return db_vault_iter(ca->db, TOKEN_V, NULL, list_cb, &l);
}
