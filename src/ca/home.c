/* The CA home: creating a CA (root or subordinate), opening it, the CA key,
 * the CA certificate and chain. */
#include "ca/ca_int.h"

#include "ca/csr.h"
#include "ca/issue_int.h"
#include "key/keystore.h"
#include "ca/lint.h"
#include "ca/name.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <errno.h>
#include <libgen.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PASS_MAX 1024

static const char *const cert_labels[] = {"CERTIFICATE", "X509 CERTIFICATE", NULL};

cm_err ca_cert_parse(X509 **out, const unsigned char *data, size_t len, const char *what)
{
    cm_err rc = CM_OK;
    unsigned char *der = NULL;
    size_t der_len = 0;
    int owned = 0;
    const unsigned char *p;

    *out = NULL;
    if (len == 0)
        return cm_err_set(CM_ERR_INVALID, "%s: empty file", what);
    if (len > CA_MAX_CERT_BYTES)
        return cm_err_set(CM_ERR_INVALID, "%s: too large for a certificate", what);
    CM_TRY(pem_to_der(&der, &der_len, &owned, data, len, cert_labels, what));
    p = der;
    *out = d2i_X509(NULL, &p, (long)der_len);
    if (*out == NULL)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: not a valid X.509 certificate", what);
    if ((size_t)(p - der) != der_len) {
        X509_free(*out);
        *out = NULL;
        CM_FAIL(CM_ERR_INVALID, "%s: trailing data after the certificate", what);
    }
out:
    if (owned)
        OPENSSL_free(der);
    return rc;
}

/* Reads every certificate in a PEM file (chain.pem). */
static cm_err read_pem_certs(STACK_OF(X509) * *out, const char *path, int allow_missing)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *mem = NULL;
    X509 *x = NULL;
    STACK_OF(X509) *sk = NULL;

    *out = NULL;
    sk = sk_X509_new_null();
    CM_NOMEM_IF(sk == NULL);
    rc = fs_read_file(&data, &len, path, 1024 * 1024);
    if (rc == CM_ERR_NOTFOUND && allow_missing) {
        rc = CM_OK;
        goto done;
    }
    if (rc != CM_OK)
        goto out;
    mem = BIO_new_mem_buf(data, (int)len);
    CM_NOMEM_IF(mem == NULL);
    while ((x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(sk, x))
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        x = NULL;
    }
    /* The loop ends on "no start line" at the end of the file. */
    ERR_clear_error();
    if (len > 0 && sk_X509_num(sk) == 0 && memchr(data, '-', len) != NULL)
        CM_FAIL(CM_ERR_INVALID, "%s: no PEM certificate found", path);
done:
    *out = sk;
    sk = NULL;
out:
    X509_free(x);
    sk_X509_pop_free(sk, X509_free);
    BIO_free(mem);
    free(data);
    return rc;
}

static cm_err load_ski(ca_ctx *ca)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert);
    if (ski == NULL || ski->length <= 0 || (size_t)ski->length > sizeof(ca->ski))
        return cm_err_set(CM_ERR_INVALID, "%s/%s: CA certificate has no subjectKeyIdentifier",
                          ca->home, CA_CERT_FILE);
    memcpy(ca->ski, ski->data, (size_t)ski->length);
    ca->ski_len = (size_t)ski->length;
    return CM_OK;
}

/* --- Actors -------------------------------------------------------------- */

static const char *const actor_prefix[] = {"", "subject:", "token:", "service:"};

/* The audit log's "who" for an actor: the bare name for an operator (as the
 * log always had it), KIND:NAME for the others. */
static cm_err actor_format(char *out, size_t outsz, const struct ca_actor *who)
{
    if (who == NULL || who->name == NULL || who->name[0] == '\0')
        return cm_err_set(CM_ERR_INVALID, "a core call needs an actor (who asked)");
    if ((unsigned)who->kind > CA_ACTOR_SERVICE)
        return cm_err_set(CM_ERR_INVALID, "actor '%s': unknown kind %d", who->name, (int)who->kind);
    if (snprintf(out, outsz, "%s%s", actor_prefix[who->kind], who->name) >= (int)outsz)
        return cm_err_set(CM_ERR_INVALID, "actor '%.40s...': longer than %d bytes", who->name,
                          CA_ACTOR_MAX - 1);
    return CM_OK;
}

/* --- The handle ---------------------------------------------------------- */

struct cfg_retired {
    cm_config *cfg;
    struct cfg_retired *next;
};

#define SESSIONS_DEFAULT 16

/* Loads what the handle shares: configuration, certificate, chain. */
static cm_err handle_load(struct ca *h, ca_ctx *first, const struct ca_open_opts *o)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;
    struct stat st;
    long long n = 0;

    CM_TRY(fs_join(path, sizeof(path), h->home, CA_CONF_FILE));
    if (stat(path, &st) != 0 && errno == ENOENT)
        CM_FAIL(CM_ERR_NOTFOUND, "%s: not a CA home (no %s)", h->home, CA_CONF_FILE);
    if (stat(path, &st) != 0)
        CM_FAIL(CM_ERR_IO, "%s: %s", path, strerror(errno));
    CM_TRY(config_load(&h->cfg, path, 0));
    CM_TRY(db_open_home(&first->db, h->home, 0));

    CM_TRY(fs_join(path, sizeof(path), h->home, CA_CERT_FILE));
    rc = fs_read_file(&data, &len, path, CA_MAX_CERT_BYTES);
    if (rc == CM_ERR_NOTFOUND && o && o->allow_no_cert) {
        rc = CM_OK;
    } else if (rc != CM_OK) {
        if (rc == CM_ERR_NOTFOUND)
            cm_err_prefix(rc, "CA certificate missing (a subordinate CA needs 'certmint "
                              "install-ca-cert')");
        goto out;
    } else {
        CM_TRY(ca_cert_parse(&h->cert, data, len, path));
        first->cert = h->cert;
        CM_TRY(load_ski(first));
        memcpy(h->ski, first->ski, first->ski_len);
        h->ski_len = first->ski_len;
    }
    CM_TRY(fs_join(path, sizeof(path), h->home, CA_CHAIN_FILE));
    CM_TRY(read_pem_certs(&h->chain, path, 1));

    if (o && o->passphrase_file) {
        h->passphrase_file = strdup(o->passphrase_file);
        CM_NOMEM_IF(h->passphrase_file == NULL);
    } else if (config_is_set(h->cfg, "ca.passphrase_file")) {
        h->passphrase_file = strdup(config_get(h->cfg, "ca.passphrase_file"));
        CM_NOMEM_IF(h->passphrase_file == NULL);
    }
    n = o ? o->sessions : 0;
    if (n <= 0 && config_get_int(h->cfg, "ca.sessions", &n) != CM_OK)
        n = SESSIONS_DEFAULT;
    h->max_sessions = n > 0 ? (size_t)n : SESSIONS_DEFAULT;
out:
    free(data);
    return rc;
}

/* Under h->mu: the handle's shared state into s. A session that missed a
 * change (reload, key, certificate) drops its issuance cache. */
static void session_sync_locked(ca_ctx *s)
{
    struct ca *h = s->h;
    s->cfg = h->cfg;
    s->cert = h->cert;
    s->chain = h->chain;
    s->signer = h->signer;
    s->key = h->key;
    s->passphrase_file = h->passphrase_file;
    memcpy(s->ski, h->ski, h->ski_len);
    s->ski_len = h->ski_len;
    if (s->gen != h->gen)
        issue_cache_free(s);
    s->gen = h->gen;
}

static void session_sync(ca_ctx *s)
{
    pthread_mutex_lock(&s->h->mu);
    session_sync_locked(s);
    pthread_mutex_unlock(&s->h->mu);
}

static cm_err session_new(ca_ctx **out, struct ca *h)
{
    ca_ctx *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    s->h = h;
    /* Under the lock: another session may be loading the key (h->gen++). */
    pthread_mutex_lock(&h->mu);
    s->gen = h->gen;
    pthread_mutex_unlock(&h->mu);
    memcpy(s->home, h->home, sizeof(s->home));
    *out = s;
    return CM_OK;
}

static void session_free(ca_ctx *s)
{
    if (s == NULL)
        return;
    db_close(s->db);
    issue_cache_free(s);
    free(s);
}

cm_err ca_open(ca_t **out, const char *home, const struct ca_open_opts *o)
{
    cm_err rc = CM_OK;
    struct ca *h = NULL;
    ca_ctx *first = NULL;
    struct stat st;

    *out = NULL;
    if (stat(home, &st) != 0 && errno == ENOENT)
        return cm_err_set(CM_ERR_NOTFOUND, "%s: no such CA home (create one with 'certmint init')",
                          home);
    if (stat(home, &st) != 0)
        return cm_err_set(CM_ERR_IO, "%s: cannot open the CA home: %s", home, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cm_err_set(CM_ERR_INVALID, "%s: not a directory, so not a CA home", home);
    if (strlen(home) >= sizeof(h->home))
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", home);
    h = calloc(1, sizeof(*h));
    CM_NOMEM_IF(h == NULL);
    snprintf(h->home, sizeof(h->home), "%s", home);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    /* The first session's connection proves the database opens; it waits
     * in the pool for the first caller. */
    CM_TRY(session_new(&first, h));
    h->open = 1;
    h->idle = first;
    CM_TRY(handle_load(h, first, o));
    session_sync_locked(first);
    {
        const char *lvl = config_get(h->cfg, "log.level");
        int l = lvl ? log_parse_level(lvl) : -1;
        if (l >= 0 && (cm_log_level)l > log_get_level())
            log_set_level((cm_log_level)l);
    }
    *out = h;
    h = NULL;
out:
    ca_close(h);
    return rc;
}

void ca_close(ca_t *h)
{
    if (h == NULL)
        return;
    while (h->idle != NULL) {
        ca_ctx *s = h->idle;
        h->idle = s->next_idle;
        session_free(s);
    }
    if (h->out != 0)
        log_error("%s: closed with %zu session(s) still out", h->home, h->out);
    while (h->retired != NULL) {
        struct cfg_retired *r = h->retired;
        h->retired = r->next;
        config_free(r->cfg);
        free(r);
    }
    config_free(h->cfg);
    X509_free(h->cert);
    sk_X509_pop_free(h->chain, X509_free);
    key_close(h->signer);
    key_close(h->kra_tk);
    while (h->kra_tk_old != NULL) {
        struct kra_tk_old *o = h->kra_tk_old;
        h->kra_tk_old = o->next;
        key_close(o->k);
        free(o);
    }
    X509_free(h->kra_tc);
    free(h->passphrase_file);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* --- Sessions ------------------------------------------------------------ */

/* Takes an idle session or the right to open one, waiting while ca.sessions
 * are out (the bound keeps a busy server from opening a connection per
 * request). *s NULL: open a new one. */
static void pool_take(ca_ctx **s, struct ca *h)
{
    pthread_mutex_lock(&h->mu);
    while (h->idle == NULL && h->open >= h->max_sessions)
        pthread_cond_wait(&h->cv, &h->mu);
    *s = h->idle;
    if (*s != NULL) {
        h->idle = (*s)->next_idle;
        (*s)->next_idle = NULL;
    } else {
        h->open++;
    }
    h->out++;
    pthread_mutex_unlock(&h->mu);
}

cm_err ca_session_open(ca_ctx **out, ca_t *h, const struct ca_actor *who)
{
    cm_err rc = CM_OK;
    char actor[CA_ACTOR_MAX];
    ca_ctx *s = NULL;

    *out = NULL;
    CM_TRY(actor_format(actor, sizeof(actor), who));
    pool_take(&s, h);
    if (s == NULL) {
        rc = session_new(&s, h);
        if (rc == CM_OK)
            rc = db_open_home(&s->db, h->home, 0);
        if (rc != CM_OK) {
            session_free(s);
            pthread_mutex_lock(&h->mu);
            h->open--;
            h->out--;
            pthread_cond_signal(&h->cv);
            pthread_mutex_unlock(&h->mu);
            return rc;
        }
    }
    session_sync(s);
    memcpy(s->actor, actor, sizeof(s->actor));
    s->operator_name = s->actor;
    *out = s;
out:
    return rc;
}

void ca_session_close(ca_ctx *s)
{
    struct ca *h;
    if (s == NULL || s->h == NULL)
        return; /* a bare session belongs to whoever made it */
    h = s->h;
    db_rollback(s->db); /* a caller that failed half-way leaves no transaction */
    s->operator_name = NULL;
    s->actor[0] = '\0';
    pthread_mutex_lock(&h->mu);
    s->next_idle = h->idle;
    h->idle = s;
    h->out--;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

cm_err ca_session_actor(ca_ctx *s, const struct ca_actor *who)
{
    char actor[CA_ACTOR_MAX];
    cm_err rc = actor_format(actor, sizeof(actor), who);
    if (rc != CM_OK)
        return rc;
    memcpy(s->actor, actor, sizeof(s->actor));
    s->operator_name = s->actor;
    return CM_OK;
}

ca_t *ca_session_handle(const ca_ctx *s)
{
    return s->h;
}

const char *ca_session_who(const ca_ctx *s)
{
    return s->operator_name ? s->operator_name : "unknown";
}

const char *ca_home(const ca_ctx *s)
{
    return s->home;
}

const cm_config *ca_config(const ca_ctx *s)
{
    return s->cfg;
}

X509 *ca_certificate(const ca_ctx *s)
{
    return s->cert;
}

cm_err ca_adopt_config(ca_ctx *s, cm_config *cfg)
{
    struct cfg_retired *r = NULL;

    if (s->h == NULL) {
        config_free(s->cfg);
        s->cfg = cfg;
        issue_cache_reset(s);
        return CM_OK;
    }
    /* Other threads may be reading the old one: it lives until ca_close. */
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        config_free(cfg);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&s->h->mu);
    r->cfg = s->h->cfg;
    r->next = s->h->retired;
    s->h->retired = r;
    s->h->cfg = cfg;
    s->h->gen++;
    session_sync_locked(s);
    pthread_mutex_unlock(&s->h->mu);
    return CM_OK;
}

cm_err ca_reload_config(ca_ctx *s)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    cm_config *cfg = NULL;

    CM_TRY(fs_join(path, sizeof(path), s->home, CA_CONF_FILE));
    CM_TRY(config_load(&cfg, path, 0));
    rc = ca_adopt_config(s, cfg);
out:
    return rc;
}

cm_err ca_key_ref_at(char *ref, size_t refsz, const char *home, const char *uri_file,
                     const char *key_file)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    unsigned char *data = NULL;
    size_t len = 0;

    CM_TRY(fs_join(path, sizeof(path), home, uri_file));
    if (access(path, F_OK) != 0)
        return fs_join(ref, refsz, home, key_file);
    CM_TRY(fs_read_file(&data, &len, path, refsz - 1));
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    memcpy(ref, data, len);
    ref[len] = '\0';
    if (len == 0 || memchr(ref, '\0', len) != NULL || !key_ref_is_uri(ref))
        CM_FAIL(CM_ERR_INVALID, "%s: not a key URI", path);
out:
    free(data);
    return rc;
}

/* The key's reference: the URI in private/ca.key.uri, else the path of
 * private/ca.key. */
static cm_err key_ref_of(char *ref, size_t refsz, const char *home)
{
    return ca_key_ref_at(ref, refsz, home, CA_KEY_URI_FILE, CA_KEY_FILE);
}

cm_err ca_key_ref(char *ref, size_t refsz, const char *home)
{
    return key_ref_of(ref, refsz, home);
}

/* Opens the key into *signer and checks it against cert (may be NULL). */
static cm_err key_load(cm_key **signer, const char *home, const char *passphrase_file, X509 *cert)
{
    cm_err rc = CM_OK;
    char ref[CA_KEY_REF_MAX];
    struct key_open_opts ko = {passphrase_file, 0, 0};

    CM_TRY(key_ref_of(ref, sizeof(ref), home));
    CM_TRY(key_open(signer, ref, &ko));
    if (cert != NULL && X509_check_private_key(cert, key_public(*signer)) != 1) {
        char what[PATH_MAX + 64];
        key_describe(*signer, what, sizeof(what));
        key_close(*signer);
        *signer = NULL;
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: the CA key does not match %s", what, CA_CERT_FILE);
    }
out:
    return rc;
}

cm_err ca_load_key(ca_ctx *ca)
{
    cm_err rc = CM_OK;
    struct ca *h = ca->h;

    if (ca->signer != NULL)
        return CM_OK;
    if (h == NULL) {
        CM_TRY(key_load(&ca->signer, ca->home, ca->passphrase_file, ca->cert));
        ca->key = key_public(ca->signer);
        return CM_OK;
    }
    /* Once per handle: the first session to need the key opens it (a
     * passphrase prompt included) while the others wait; then all share it. */
    pthread_mutex_lock(&h->mu);
    if (h->signer == NULL) {
        rc = key_load(&h->signer, h->home, h->passphrase_file, h->cert);
        if (rc == CM_OK) {
            h->key = key_public(h->signer);
            h->gen++;
        }
    }
    if (rc == CM_OK)
        session_sync_locked(ca);
    pthread_mutex_unlock(&h->mu);
out:
    return rc;
}

cm_err ca_open_key(cm_key **out, ca_ctx *ca)
{
    struct ca *h = ca->h;
    *out = NULL;
    /* What it reads (home, passphrase file, certificate) is fixed for the
     * handle's life: no lock, and no database. */
    if (h == NULL)
        return key_load(out, ca->home, ca->passphrase_file, ca->cert);
    return key_load(out, h->home, h->passphrase_file, h->cert);
}

cm_err ca_use_key(ca_ctx *ca, cm_key *k)
{
    cm_err rc = CM_OK;
    struct ca *h = ca->h;
    X509 *cert = h != NULL ? h->cert : ca->cert;

    if (cert != NULL && X509_check_private_key(cert, key_public(k)) != 1) {
        char what[PATH_MAX + 64];
        key_describe(k, what, sizeof(what));
        key_close(k);
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: the CA key does not match %s", what, CA_CERT_FILE);
    }
    if (h == NULL) {
        key_close(ca->signer);
        ca->signer = k;
        ca->key = key_public(k);
        return CM_OK;
    }
    pthread_mutex_lock(&h->mu);
    key_close(h->signer);
    h->signer = k;
    h->key = key_public(k);
    h->gen++;
    session_sync_locked(ca);
    pthread_mutex_unlock(&h->mu);
out:
    return rc;
}

cm_err ca_change_passphrase(struct key_kdf *was, struct key_kdf *now, ca_ctx *ca,
                            const char *new_passphrase_file)
{
    cm_err rc = CM_OK;
    char pass[PASS_MAX];
    char path[PATH_MAX];
    char details[256];
    int in_tx = 0;

    pass[0] = '\0';
    CM_TRY(ca_load_key(ca));
    if (strcmp(key_backend(ca->signer), "file") != 0)
        CM_FAIL(CM_ERR_STATE,
                "the CA key is in a PKCS#11 token, not in a file: its PIN is the token's (change "
                "it with the token's tools)");
    CM_TRY(fs_join(path, sizeof(path), ca->home, CA_KEY_FILE));
    CM_TRY(key_kdf_of(was, path));
    CM_TRY(key_read_passphrase(pass, sizeof(pass), new_passphrase_file, 1));
    /* The audit record and the new key stand or fall together: the record
     * commits only once the key file has been replaced. */
    CM_TRY(db_begin(ca->db));
    in_tx = 1;
    snprintf(details, sizeof(details), "CA key re-encrypted with a new passphrase (was %s)",
             was->name);
    CM_TRY(ca_audit(ca, "ca-passphrase", 0, NULL, details));
    CM_TRY(key_save_encrypted(ca->key, path, pass));
    CM_TRY(db_commit(ca->db));
    in_tx = 0;
    CM_TRY(key_kdf_of(now, path));
out:
    if (in_tx)
        db_rollback(ca->db);
    OPENSSL_cleanse(pass, sizeof(pass));
    return rc;
}

cm_err ca_audit(ca_ctx *ca, const char *action, int64_t request_id, const char *serial,
                const char *details)
{
    struct db_audit a = {
        (int64_t)time(NULL), ca_session_who(ca), action, request_id, serial, details};
    return db_audit_append(ca->db, &a);
}

/* Adds an extension from OpenSSL's v3 configuration syntax (only used at CA
 * creation, where speed does not matter). */
static cm_err add_ext(X509 *x, X509 *issuer, X509_REQ *req, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&v3, issuer ? issuer : x, x, req, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot build extension %s=%s", OBJ_nid2sn(nid), value);
    if (!X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot add extension %s", OBJ_nid2sn(nid));
    }
    X509_EXTENSION_free(ext);
    return CM_OK;
}

cm_err ca_random_serial(ASN1_INTEGER **out, size_t nbytes)
{
    unsigned char buf[20];

    *out = NULL;
    if (nbytes < 9 || nbytes > 20)
        nbytes = 16;
    if (RAND_bytes(buf, (int)nbytes) != 1)
        return cm_err_ossl(CM_ERR_CRYPTO, "no randomness for the serial number");
    return ca_serial_from_random(out, buf, nbytes);
}

cm_err ca_serial_from_random(ASN1_INTEGER **out, unsigned char *buf, size_t nbytes)
{
    BIGNUM *bn = NULL;

    *out = NULL;
    /* RFC 5280 4.1.2.2: positive, at most 20 octets; CA/B BR 7.1: at least
     * 64 bits from a CSPRNG. Clearing the top bit keeps the INTEGER positive
     * without a sign octet; forcing the next bit keeps the length fixed. */
    buf[0] = (unsigned char)((buf[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(buf, (int)nbytes, NULL);
    if (bn == NULL)
        return cm_err_ossl(CM_ERR_NOMEM, "serial number");
    *out = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    if (*out == NULL)
        return cm_err_ossl(CM_ERR_NOMEM, "serial number");
    return CM_OK;
}

static cm_err write_pem_cert(const char *path, X509 *x, mode_t mode)
{
    cm_err rc = CM_OK;
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;

    CM_NOMEM_IF(mem == NULL);
    if (!PEM_write_bio_X509(mem, x))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encode", path);
    len = BIO_get_mem_data(mem, &data);
    rc = fs_write_atomic(path, data, (size_t)len, mode);
out:
    BIO_free(mem);
    return rc;
}

/* A parent directory that others may write lets them rename the home away
 * and put their own in its place (the sticky bit stops renames of others'
 * entries but not a home that is created later by name): say so. */
static void warn_open_parent(const char *home)
{
    char resolved[PATH_MAX], dir[PATH_MAX];
    struct stat st;

    if (fs_resolve(resolved, sizeof(resolved), home) != CM_OK)
        return;
    snprintf(dir, sizeof(dir), "%s", resolved);
    if (stat(dirname(dir), &st) == 0 && (st.st_mode & S_IWOTH))
        log_warn("%s: the parent directory %s is writable by every user (mode %04o%s); another "
                 "user could replace the CA home: keep it in a directory only you can write",
                 home, dir, (unsigned)(st.st_mode & 07777),
                 (st.st_mode & S_ISVTX) ? ", sticky" : "");
}

/* mkdir -p, then the exact mode: mkdir(2) applies the umask, and an empty
 * directory that already existed keeps whatever mode it had. */
static cm_err make_dir_mode(const char *path, mode_t mode)
{
    struct stat st;
    cm_err rc = fs_mkdirs(path, mode);
    /* An empty directory someone else made (in /tmp, say) stays theirs:
     * they could swap the key or the database later. */
    if (rc == CM_OK && stat(path, &st) == 0 && st.st_uid != geteuid())
        rc = cm_err_set(CM_ERR_POLICY, "%s: owned by uid %ld, not by the user running init (%ld)",
                        path, (long)st.st_uid, (long)geteuid());
    if (rc == CM_OK && chmod(path, mode) != 0)
        rc = cm_err_set(CM_ERR_IO, "%s: chmod %04o: %s", path, (unsigned)mode, strerror(errno));
    return rc;
}

static cm_err write_config_defaults(const char *path, const char *db_url)
{
    static const char text[] =
        "# certmint configuration. Change settings with 'certmint config set KEY VALUE'\n"
        "# (validated) or edit this file; 'certmint config keys' lists every key.\n";
    cm_buf b = CM_BUF_INIT(8192);
    cm_err rc;

    CM_TRY(buf_append_str(&b, text));
    /* The database's location (db_home_location reads it): init --db. */
    if (db_url != NULL)
        CM_TRY(buf_printf(&b, "db.url = %s\n", db_url));
    CM_TRY(fs_write_atomic(path, b.data, b.len, 0600));
out:
    buf_free(&b);
    return rc;
}

/* Creates the home directory (or takes an existing empty one) and locks it
 * for this init: two inits on one home at once must not both write into it,
 * and the loser must not clean up the winner's files. The lock is a flock
 * on the directory itself, held until init returns. *created says whether
 * this run made the directory (only then may a failed init remove it). */
static cm_err home_claim(int *lock_fd, int *created, const char *home)
{
    char parent[PATH_MAX];
    char *slash;
    int fd;

    *lock_fd = -1;
    *created = 0;
    if (snprintf(parent, sizeof(parent), "%s", home) >= (int)sizeof(parent))
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", home);
    for (size_t n = strlen(parent); n > 1 && parent[n - 1] == '/'; n--)
        parent[n - 1] = '\0';
    slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        cm_err rc;
        *slash = '\0';
        if ((rc = fs_mkdirs(parent, 0700)) != CM_OK)
            return rc;
    }
    if (mkdir(home, 0700) == 0)
        *created = 1;
    else if (errno != EEXIST)
        return cm_err_set(CM_ERR_IO, "%s: mkdir: %s", home, strerror(errno));
    fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cm_err_set(CM_ERR_IO, "%s: %s", home, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return cm_err_set(CM_ERR_STATE, "%s: another 'certmint init' is creating a CA here",
                              home);
        return cm_err_set(CM_ERR_IO, "%s: lock: %s", home, strerror(e));
    }
    /* Under the lock: an init that finished before us left files. */
    if (!fs_dir_empty_or_absent(home)) {
        close(fd);
        return cm_err_set(CM_ERR_EXISTS,
                          "%s: already exists and is not empty; refusing to overwrite", home);
    }
    *lock_fd = fd;
    return CM_OK;
}

/* Creates the CA key: a new encrypted file in the home, or the key in a
 * PKCS#11 token (generated when the URI's object is missing), whose URI the
 * home then records. */
static cm_err init_key(cm_key **signer, const struct ca_init_opts *o, const struct key_spec *spec)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX], what[PATH_MAX + 64];
    struct key_open_opts ko = {o->passphrase_file, 1, 0};
    int created = 0;

    if (o->key_ref == NULL) {
        CM_TRY(fs_join(path, sizeof(path), o->home, CA_KEY_FILE));
        return key_create(signer, &created, path, spec, &ko);
    }
    CM_TRY(key_create(signer, &created, o->key_ref, spec, &ko));
    key_describe(*signer, what, sizeof(what));
    log_info("%s: %s", what, created ? "generated" : "existing key used");
    CM_TRY(fs_join(path, sizeof(path), o->home, CA_KEY_URI_FILE));
    CM_TRY(fs_write_atomic(path, o->key_ref, strlen(o->key_ref), 0600));
out:
    return rc;
}

/* The CA's own extensions: a CA certificate that signs certificates and
 * CRLs (RFC 5280 4.2.1.3, 4.2.1.9). */
static void ca_bc_value(char *bc, size_t n, int pathlen)
{
    if (pathlen >= 0)
        snprintf(bc, n, "critical,CA:TRUE,pathlen:%d", pathlen);
    else
        snprintf(bc, n, "critical,CA:TRUE");
}

static cm_err push_ext(STACK_OF(X509_EXTENSION) * exts, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    if (e == NULL || !sk_X509_EXTENSION_push(exts, e)) {
        X509_EXTENSION_free(e);
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot build %s", OBJ_nid2sn(nid));
    }
    return CM_OK;
}

/* A subordinate: the request for the parent CA, asking for a CA
 * certificate, written to csr_out and kept in the home. */
static cm_err init_request(const struct ca_init_opts *o, const cm_key *signer, X509_NAME *subject)
{
    cm_err rc = CM_OK;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509V3_CTX v3;
    X509_REQ *req = NULL;
    BIO *mem = NULL;
    char bc[64], path[PATH_MAX];
    char *pem = NULL;
    long plen;

    req = X509_REQ_new();
    exts = sk_X509_EXTENSION_new_null();
    CM_NOMEM_IF(req == NULL || exts == NULL);
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, subject) ||
        !X509_REQ_set_pubkey(req, key_public(signer)))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build the CA request");
    X509V3_set_ctx(&v3, NULL, NULL, req, NULL, 0);
    ca_bc_value(bc, sizeof(bc), o->pathlen);
    CM_TRY(push_ext(exts, &v3, NID_basic_constraints, bc));
    CM_TRY(push_ext(exts, &v3, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
    if (!X509_REQ_add_extensions(req, exts))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot add extensions to the request");
    CM_TRY(key_sign_req(signer, &req));
    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    if (!PEM_write_bio_X509_REQ(mem, req))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the CA request");
    plen = BIO_get_mem_data(mem, &pem);
    CM_TRY(fs_out_write(o->csr_out, o->home, o->force, pem, (size_t)plen, 0644));
    CM_TRY(fs_join(path, sizeof(path), o->home, CA_CSR_FILE));
    CM_TRY(fs_write_atomic(path, pem, (size_t)plen, 0644));
out:
    BIO_free(mem);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    return rc;
}

/* A root: the self-signed certificate, linted before it is signed. */
static cm_err init_root(const struct ca_init_opts *o, const cm_key *signer, X509_NAME *subject,
                        time_t now)
{
    cm_err rc = CM_OK;
    X509 *x = NULL;
    ASN1_INTEGER *serial = NULL;
    EVP_PKEY *key = key_public(signer);
    char bc[64], path[PATH_MAX];
    struct lint_opts lo = LINT_OPTS_INIT;

    x = X509_new();
    CM_NOMEM_IF(x == NULL);
    CM_TRY(ca_random_serial(&serial, 16));
    if (!X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, serial) ||
        !X509_set_subject_name(x, subject) || !X509_set_issuer_name(x, subject) ||
        !X509_set_pubkey(x, key))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot build the root certificate");
    /* ASN1_TIME_set picks UTCTime before 2050 and GeneralizedTime from
     * 2050 on, as RFC 5280 4.1.2.5 requires. */
    if (ASN1_TIME_set(X509_getm_notBefore(x), now) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), now + (time_t)o->days * 86400) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot set the validity");
    ca_bc_value(bc, sizeof(bc), o->pathlen);
    CM_TRY(add_ext(x, NULL, NULL, NID_basic_constraints, bc));
    CM_TRY(add_ext(x, NULL, NULL, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
    CM_TRY(add_ext(x, NULL, NULL, NID_subject_key_identifier, "hash"));
    lo.issuer_key = key;
    lo.subject_key = key;
    lo.md_name = key_sign_md(key);
    lo.kind = LINT_KIND_CA;
    CM_TRY(lint_cert(x, NULL, &lo));
    CM_TRY(key_sign_cert(signer, &x));
    CM_TRY(fs_join(path, sizeof(path), o->home, CA_CERT_FILE));
    CM_TRY(write_pem_cert(path, x, 0644));
    CM_TRY(fs_join(path, sizeof(path), o->home, CA_CHAIN_FILE));
    CM_TRY(fs_write_atomic(path, "", 0, 0644));
out:
    ASN1_INTEGER_free(serial);
    X509_free(x);
    return rc;
}

static cm_err init_check(const struct ca_init_opts *o, struct key_spec *spec, X509_NAME **subject)
{
    if (o->subject == NULL || *o->subject == '\0')
        return cm_err_set(CM_ERR_INVALID, "init: --subject DN is required");
    if (o->key_ref != NULL && !key_ref_is_uri(o->key_ref))
        return cm_err_set(CM_ERR_INVALID, "init: --key %s: neither a key type nor a pkcs11: URI",
                          o->key_ref);
    if (key_spec_parse(spec, o->key_spec ? o->key_spec : "ec:p256") != CM_OK ||
        name_parse_dn(subject, o->subject) != CM_OK)
        return CM_ERR_INVALID;
    if (X509_NAME_entry_count(*subject) == 0)
        return cm_err_set(CM_ERR_INVALID, "init: --subject must not be empty");
    if (o->days < 1 || o->days > 36500)
        return cm_err_set(CM_ERR_INVALID, "init: --days %d out of range 1..36500", o->days);
    if (o->pathlen < -1 || o->pathlen > 16)
        return cm_err_set(CM_ERR_INVALID, "init: --pathlen %d out of range 0..16", o->pathlen);
    if (o->subordinate && (o->csr_out == NULL || *o->csr_out == '\0'))
        return cm_err_set(CM_ERR_INVALID, "init --subordinate: --out FILE for the CSR is required");
    if (o->db_url != NULL && strncmp(o->db_url, "postgresql://", 13) != 0)
        return cm_err_set(CM_ERR_INVALID, "init --db '%s': not a postgresql:// URL", o->db_url);
    if (!fs_dir_empty_or_absent(o->home))
        return cm_err_set(CM_ERR_EXISTS,
                          "%s: already exists and is not empty; refusing to overwrite", o->home);
    if (o->subordinate)
        return fs_out_check(o->csr_out, o->home, o->force);
    return CM_OK;
}

static cm_err init_db(const struct ca_init_opts *o, const cm_key *signer, time_t now)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX], details[512], spec[32], what[PATH_MAX + 64];
    struct key_spec ks;
    db_t *db = NULL;
    char who[CA_ACTOR_MAX] = "unknown";
    struct db_audit a = {(int64_t)now, who, "init", 0, NULL, details};

    if (o->actor != NULL)
        CM_TRY(actor_format(who, sizeof(who), o->actor));
    CM_TRY(fs_join(path, sizeof(path), o->home, CA_CONF_FILE));
    CM_TRY(write_config_defaults(path, o->db_url));
    CM_TRY(db_open_home(&db, o->home, 1));
    key_spec_of(&ks, key_public(signer));
    key_describe(signer, what, sizeof(what));
    snprintf(details, sizeof(details), "%s CA '%s' key %s%s%s",
             o->subordinate ? "subordinate" : "root", o->subject,
             key_spec_name(&ks, spec, sizeof(spec)), o->key_ref ? " in " : "",
             o->key_ref ? what : "");
    CM_TRY(db_begin(db));
    rc = db_audit_append(db, &a);
    if (rc == CM_OK)
        rc = db_commit(db);
    if (rc != CM_OK)
        db_rollback(db);
out:
    db_close(db);
    return rc;
}

/* Leave nothing half-made: a failed init removes what it created, and only
 * while it holds the lock (the files are then its own); the home itself
 * only when this run made the directory. A key generated in a token stays
 * there (the token is not the home's to clean). */
static void init_undo(const char *home, int created_home)
{
    const char *files[] = {CA_KEY_FILE,   CA_KEY_URI_FILE, CA_CERT_FILE,
                           CA_CHAIN_FILE, CA_CSR_FILE,     CA_CONF_FILE};
    char path[PATH_MAX];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (fs_join(path, sizeof(path), home, files[i]) == CM_OK)
            unlink(path);
    /* The directory was empty under the lock: a database in it is ours. */
    if (db_home_location(path, sizeof(path), home) == CM_OK)
        (void)db_remove(path);
    if (fs_join(path, sizeof(path), home, "private") == CM_OK)
        rmdir(path);
    if (fs_join(path, sizeof(path), home, CA_CRL_DIR) == CM_OK)
        rmdir(path);
    if (created_home)
        rmdir(home);
}

cm_err ca_init(const struct ca_init_opts *o)
{
    cm_err rc = CM_OK;
    char path[PATH_MAX];
    struct key_spec spec;
    cm_key *signer = NULL;
    X509_NAME *subject = NULL;
    int created_home = 0, lock_fd = -1;
    time_t now = time(NULL);

    CM_TRY(init_check(o, &spec, &subject));
    warn_open_parent(o->home);
    CM_TRY(home_claim(&lock_fd, &created_home, o->home));
    /* Under the lock: the exact mode whatever the umask, and the owner. */
    CM_TRY(make_dir_mode(o->home, 0700));
    CM_TRY(fs_join(path, sizeof(path), o->home, "private"));
    CM_TRY(make_dir_mode(path, 0700));
    CM_TRY(fs_join(path, sizeof(path), o->home, CA_CRL_DIR));
    CM_TRY(make_dir_mode(path, 0755));
    CM_TRY(init_key(&signer, o, &spec));
    if (o->subordinate)
        CM_TRY(init_request(o, signer, subject));
    else
        CM_TRY(init_root(o, signer, subject, now));
    CM_TRY(init_db(o, signer, now));
out:
    if (rc != CM_OK && lock_fd >= 0)
        init_undo(o->home, created_home);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock, after the clean-up */
    key_close(signer);
    X509_NAME_free(subject);
    return rc;
}

/* The certificate a session just installed becomes the handle's, for every
 * session (a bare session keeps owning it). */
static void handle_adopt_cert(ca_ctx *ca)
{
    if (ca->h == NULL)
        return;
    pthread_mutex_lock(&ca->h->mu);
    ca->h->cert = ca->cert;
    memcpy(ca->h->ski, ca->ski, ca->ski_len);
    ca->h->ski_len = ca->ski_len;
    ca->h->gen++;
    session_sync_locked(ca);
    pthread_mutex_unlock(&ca->h->mu);
}

/* The certificate for install-ca-cert: read from cert_path, matching this
 * CA's key, a CA certificate with a subjectKeyIdentifier. */
static cm_err install_read_cert(X509 **out, ca_ctx *ca, const char *cert_path)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t len = 0;
    X509 *x = NULL;

    CM_TRY(fs_read_file(&data, &len, cert_path, CA_MAX_CERT_BYTES));
    CM_TRY(ca_cert_parse(&x, data, len, cert_path));
    if (X509_check_private_key(x, ca->key) != 1)
        CM_FAIL_OSSL(CM_ERR_INVALID, "%s: the certificate does not match this CA's key", cert_path);
    if (X509_check_ca(x) < 1)
        CM_FAIL(CM_ERR_INVALID, "%s: not a CA certificate (basicConstraints cA missing)",
                cert_path);
    if (X509_get0_subject_key_id(x) == NULL)
        CM_FAIL(CM_ERR_INVALID, "%s: the certificate has no subjectKeyIdentifier", cert_path);
    *out = x;
    x = NULL;
out:
    X509_free(x);
    free(data);
    return rc;
}

/* Appends the PEM of the verified chain above x (nearest first) to pem. */
static cm_err install_chain_pem(cm_buf *pem, X509_STORE_CTX *sctx)
{
    cm_err rc = CM_OK;
    STACK_OF(X509) *verified = X509_STORE_CTX_get0_chain(sctx);
    int i;

    for (i = 1; i < sk_X509_num(verified); i++) {
        BIO *mem = BIO_new(BIO_s_mem());
        char *p;
        long n;
        CM_NOMEM_IF(mem == NULL);
        if (!PEM_write_bio_X509(mem, sk_X509_value(verified, i))) {
            BIO_free(mem);
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the chain");
        }
        n = BIO_get_mem_data(mem, &p);
        rc = buf_append(pem, p, (size_t)n);
        BIO_free(mem);
        if (rc != CM_OK)
            goto out;
    }
out:
    return rc;
}

/* Verifies x up to the self-signed root in chain_path (strict X.509) and
 * appends the verified chain above x to pem. */
static cm_err install_verify_chain(cm_buf *pem, X509 *x, const char *cert_path,
                                   const char *chain_path)
{
    cm_err rc = CM_OK;
    STACK_OF(X509) *chain = NULL;
    X509_STORE *store = NULL;
    X509_STORE_CTX *sctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    int i;

    if (chain_path != NULL) {
        CM_TRY(read_pem_certs(&chain, chain_path, 0));
        if (sk_X509_num(chain) == 0)
            CM_FAIL(CM_ERR_INVALID, "%s: no certificates in the chain file", chain_path);
    } else {
        chain = sk_X509_new_null();
        CM_NOMEM_IF(chain == NULL);
    }
    /* The chain must end in a self-signed root, which is the trust anchor;
     * everything between is untrusted and must verify up to it. */
    store = X509_STORE_new();
    untrusted = sk_X509_new_null();
    CM_NOMEM_IF(store == NULL || untrusted == NULL);
    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_check_issued(c, c) == X509_V_OK) {
            if (!X509_STORE_add_cert(store, c))
                CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot use the root");
        } else if (!sk_X509_push(untrusted, c)) {
            CM_FAIL(CM_ERR_NOMEM, "out of memory");
        }
    }
    if (sk_X509_num(untrusted) == sk_X509_num(chain))
        CM_FAIL(CM_ERR_INVALID,
                "%s: the chain must include the self-signed root the certificate chains to",
                chain_path ? chain_path : "(no chain given)");
    sctx = X509_STORE_CTX_new();
    CM_NOMEM_IF(sctx == NULL);
    if (!X509_STORE_CTX_init(sctx, store, x, untrusted))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot verify the certificate");
    X509_STORE_CTX_set_flags(sctx, X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(sctx) != 1)
        CM_FAIL(CM_ERR_INVALID, "%s: does not chain to a trusted root: %s", cert_path,
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
    CM_TRY(install_chain_pem(pem, sctx));
out:
    X509_STORE_CTX_free(sctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

cm_err ca_install_cert(ca_ctx *ca, const char *cert_path, const char *chain_path)
{
    cm_err rc = CM_OK;
    X509 *x = NULL;
    char path[PATH_MAX];
    cm_buf pem = CM_BUF_INIT(4 * 1024 * 1024);

    if (ca->cert != NULL)
        return cm_err_set(CM_ERR_STATE, "%s: this CA already has its certificate", ca->home);
    CM_TRY(ca_load_key(ca));
    CM_TRY(install_read_cert(&x, ca, cert_path));
    CM_TRY(install_verify_chain(&pem, x, cert_path, chain_path));
    CM_TRY(fs_join(path, sizeof(path), ca->home, CA_CHAIN_FILE));
    CM_TRY(fs_write_atomic(path, pem.data ? (const char *)pem.data : "", pem.len, 0644));
    CM_TRY(fs_join(path, sizeof(path), ca->home, CA_CERT_FILE));
    CM_TRY(write_pem_cert(path, x, 0644));
    ca->cert = x;
    x = NULL;
    CM_TRY(load_ski(ca));
    handle_adopt_cert(ca);
    CM_TRY(db_begin(ca->db));
    rc = ca_audit(ca, "install-ca-cert", 0, NULL, cert_path);
    if (rc == CM_OK)
        rc = db_commit(ca->db);
    if (rc != CM_OK)
        db_rollback(ca->db);
    if (rc == CM_OK) {
        CM_TRY(fs_join(path, sizeof(path), ca->home, CA_CSR_FILE));
        unlink(path);
    }
out:
    buf_free(&pem);
    X509_free(x);
    return rc;
}

cm_err ca_cert_pem(char **out, const ca_ctx *ca, int with_chain)
{
    cm_err rc = CM_OK;
    BIO *mem = NULL;
    char *p;
    long n;

    *out = NULL;
    if (ca->cert == NULL)
        return cm_err_set(CM_ERR_STATE, "%s: this CA has no certificate yet", ca->home);
    mem = BIO_new(BIO_s_mem());
    CM_NOMEM_IF(mem == NULL);
    if (!PEM_write_bio_X509(mem, ca->cert))
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the CA certificate");
    for (int i = 0; with_chain && i < sk_X509_num(ca->chain); i++)
        if (!PEM_write_bio_X509(mem, sk_X509_value(ca->chain, i)))
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "cannot encode the chain");
    n = BIO_get_mem_data(mem, &p);
    *out = malloc((size_t)n + 1);
    CM_NOMEM_IF(*out == NULL);
    memcpy(*out, p, (size_t)n);
    (*out)[n] = '\0';
out:
    BIO_free(mem);
    return rc;
}
