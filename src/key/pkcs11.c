/* Key backend "pkcs11": the CA key in a PKCS#11 token, by direct calls to
 * the module named in the URI (RFC 7512 module-path), with the standard
 * header from p11-kit. Why not libp11's engine: ENGINEs are deprecated and
 * certmint builds with OPENSSL_NO_DEPRECATED; Debian 12's pkcs11-provider
 * is young; the dozen calls needed here are stable since PKCS#11 v2.20.
 *
 * Sessions: a pool under a mutex; a signer takes a free session or opens
 * one, so threads sign concurrently, each on its own session (PKCS#11 v2.40
 * 6.6.1: one operation at a time per session). Login is per application
 * and token, so every new session is already logged in. Fork: a session
 * does not survive fork (v2.40 6.7.7); a child notices the new pid on its
 * first signature, calls C_Initialize again (CKR_CRYPTOKI_ALREADY_INITIALIZED
 * accepted), logs in and finds the key anew. */
#include "key/key.h"
#include "key/p11uri.h"

#include "util/fsutil.h"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PIN_MAX 256
#define POOL_MAX 64

/* Both need a local `cm_err rc`, the `struct p11_key *p` and an `out:` label. */
#define CK_FAIL(rv, what)                                                                          \
    do {                                                                                           \
        rc = ck_fail((rv), (what), p);                                                             \
        goto out;                                                                                  \
    } while (0)

struct p11_key {
    struct p11_uri uri;
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    CK_OBJECT_HANDLE priv;
    CK_KEY_TYPE ktype;
    char pin[PIN_MAX];
    EVP_PKEY *pub;
    pid_t pid; /* the process the sessions belong to */
    int initialized;
    pthread_mutex_t mu;
    CK_SESSION_HANDLE pool[POOL_MAX];
    size_t npool;
};

static int p11_claims(const char *ref)
{
    return p11_uri_is(ref);
}

static const char *token_name(const struct p11_key *p)
{
    return p->uri.has_token ? p->uri.token : "(any)";
}

static const char *object_name(const struct p11_key *p)
{
    return p->uri.has_object ? p->uri.object : "(by id)";
}

/* The PIN: pin-source in the URI, else CERTMINT_PKCS11_PIN_FILE, else
 * CERTMINT_PKCS11_PIN. A PIN file must be 0600 or stricter. */
static cm_err read_pin(struct p11_key *p)
{
    cm_err rc = CM_OK;
    const char *file =
        p->uri.pin_source[0] ? p->uri.pin_source : getenv("CERTMINT_PKCS11_PIN_FILE");
    const char *env = getenv("CERTMINT_PKCS11_PIN");
    unsigned char *data = NULL;
    size_t len = 0, n;

    if (file != NULL && *file != '\0') {
        CM_TRY(fs_read_secret(&data, &len, file, PIN_MAX, "PIN file"));
        for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
            ;
        if (n == 0 || n >= sizeof(p->pin))
            CM_FAIL(CM_ERR_INVALID, "%s: PIN file is empty or too long", file);
        memcpy(p->pin, data, n);
        p->pin[n] = '\0';
    } else if (env != NULL && *env != '\0') {
        if (strlen(env) >= sizeof(p->pin))
            CM_FAIL(CM_ERR_INVALID, "CERTMINT_PKCS11_PIN: too long");
        snprintf(p->pin, sizeof(p->pin), "%s", env);
    } else {
        CM_FAIL(CM_ERR_INVALID,
                "PKCS#11 token '%s': no PIN: add pin-source=file:PATH to the URI or set "
                "CERTMINT_PKCS11_PIN_FILE (or CERTMINT_PKCS11_PIN)",
                token_name(p));
    }
out:
    if (data != NULL) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    return rc;
}

static cm_err ck_fail(CK_RV rv, const char *what, const struct p11_key *p)
{
    cm_err e = CM_ERR_CRYPTO;
    const char *why = "";
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) {
        e = CM_ERR_AUTH;
        why = " (wrong PIN)";
    } else if (rv == CKR_PIN_LOCKED) {
        e = CM_ERR_AUTH;
        why = " (PIN locked)";
    }
    return cm_err_set(e, "PKCS#11 token '%s': %s failed: CKR 0x%lx%s", token_name(p), what,
                      (unsigned long)rv, why);
}

/* Loads the module and initialises it for this process. */
static cm_err module_load(struct p11_key *p)
{
    CK_C_GetFunctionList get = NULL;

    if (p->uri.module_path[0] == '\0')
        return cm_err_set(CM_ERR_INVALID,
                          "PKCS#11 URI: module-path is required (the token's PKCS#11 library, "
                          "e.g. module-path=/usr/lib/softhsm/libsofthsm2.so)");
    p->dl = dlopen(p->uri.module_path, RTLD_NOW | RTLD_LOCAL);
    if (p->dl == NULL)
        return cm_err_set(CM_ERR_NOTFOUND, "PKCS#11 module %s: %s", p->uri.module_path, dlerror());
    /* dlsym returns an object pointer; POSIX guarantees it converts. */
    *(void **)&get = dlsym(p->dl, "C_GetFunctionList");
    if (get == NULL || get(&p->f) != CKR_OK || p->f == NULL)
        return cm_err_set(CM_ERR_INVALID, "%s: not a PKCS#11 module (no C_GetFunctionList)",
                          p->uri.module_path);
    return CM_OK;
}

static cm_err module_init(struct p11_key *p)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK; /* signers on several threads */
    rv = p->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return cm_err_set(CM_ERR_CRYPTO, "PKCS#11 module %s: C_Initialize failed: CKR 0x%lx",
                          p->uri.module_path, (unsigned long)rv);
    p->initialized = rv == CKR_OK;
    p->pid = getpid();
    /* A module built on libcrypto (SoftHSM) may leave errors in this
     * thread's OpenSSL queue while it starts (a provider or engine it could
     * not load); they are not ours and would end up in the next message. */
    ERR_clear_error();
    return CM_OK;
}

/* Label fields are 32 octets, blank-padded (PKCS#11 v2.40 3.2). */
static int label_eq(const CK_UTF8CHAR *field, size_t fsz, const char *want)
{
    size_t n = strlen(want), end = fsz;
    while (end > 0 && field[end - 1] == ' ')
        end--;
    return end == n && memcmp(field, want, n) == 0;
}

static cm_err find_slot(struct p11_key *p)
{
    cm_err rc = CM_OK;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0, i, found = 0;
    CK_TOKEN_INFO ti;
    CK_RV rv;

    rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return ck_fail(rv, "C_GetSlotList", p);
    slots = calloc(n ? n : 1, sizeof(*slots));
    CM_NOMEM_IF(slots == NULL);
    if ((rv = p->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
        CK_FAIL(rv, "C_GetSlotList");
    for (i = 0; i < n; i++) {
        if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if (p->uri.has_token && !label_eq(ti.label, sizeof(ti.label), p->uri.token))
            continue;
        if (found++ == 0)
            p->slot = slots[i];
    }
    if (found == 0)
        CM_FAIL(CM_ERR_NOTFOUND, "PKCS#11 module %s: no token labelled '%s'", p->uri.module_path,
                token_name(p));
    if (found > 1)
        CM_FAIL(CM_ERR_INVALID, "PKCS#11 module %s: %lu tokens match '%s': name one with token=",
                p->uri.module_path, (unsigned long)found, token_name(p));
out:
    free(slots);
    return rc;
}

/* Opens a session (logged in when login). *rv_out: the failing call's
 * return value (CKR_OK on success), for connect_token's retry. */
static cm_err open_session(struct p11_key *p, CK_SESSION_HANDLE *s, int login, CK_RV *rv_out)
{
    CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
    *rv_out = rv;
    if (rv != CKR_OK)
        return ck_fail(rv, "C_OpenSession", p);
    if (login) {
        rv = p->f->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)p->pin, strlen(p->pin));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
            *rv_out = rv;
            p->f->C_CloseSession(*s);
            return ck_fail(rv, "C_Login", p);
        }
    }
    return CM_OK;
}

/* Finds the one object of class cls with the URI's label and id. */
static cm_err find_object(CK_OBJECT_HANDLE *out, int *found, struct p11_key *p, CK_SESSION_HANDLE s,
                          CK_OBJECT_CLASS cls)
{
    CK_ATTRIBUTE t[3];
    CK_ULONG nt = 0, n = 0;
    CK_OBJECT_HANDLE h[2];
    CK_RV rv;

    *found = 0;
    t[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
    if (p->uri.has_object)
        t[nt++] = (CK_ATTRIBUTE){CKA_LABEL, p->uri.object, strlen(p->uri.object)};
    if (p->uri.has_id)
        t[nt++] = (CK_ATTRIBUTE){CKA_ID, p->uri.id, p->uri.id_len};
    if (!p->uri.has_object && !p->uri.has_id)
        return cm_err_set(CM_ERR_INVALID, "PKCS#11 URI: name the key with object= or id=");
    if ((rv = p->f->C_FindObjectsInit(s, t, nt)) != CKR_OK)
        return ck_fail(rv, "C_FindObjectsInit", p);
    rv = p->f->C_FindObjects(s, h, 2, &n);
    p->f->C_FindObjectsFinal(s);
    if (rv != CKR_OK)
        return ck_fail(rv, "C_FindObjects", p);
    if (n > 1)
        return cm_err_set(CM_ERR_INVALID, "PKCS#11 token '%s': several objects match '%s'",
                          token_name(p), object_name(p));
    *found = n == 1;
    if (n == 1)
        *out = h[0];
    return CM_OK;
}

/* Reads one attribute into a malloc'ed buffer. */
static cm_err get_attr(unsigned char **v, CK_ULONG *len, struct p11_key *p, CK_SESSION_HANDLE s,
                       CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_RV rv;

    *v = NULL;
    if ((rv = p->f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK || a.ulValueLen == (CK_ULONG)-1)
        return ck_fail(rv == CKR_OK ? CKR_ATTRIBUTE_TYPE_INVALID : rv, "C_GetAttributeValue", p);
    if ((a.pValue = *v = malloc(a.ulValueLen ? a.ulValueLen : 1)) == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    if ((rv = p->f->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK) {
        free(*v);
        *v = NULL;
        return ck_fail(rv, "C_GetAttributeValue", p);
    }
    *len = a.ulValueLen;
    return CM_OK;
}

/* CKA_EC_POINT is a DER OCTET STRING around the point (v2.40 2.3.3); some
 * modules give the bare point. */
static void unwrap_point(const unsigned char **pt, size_t *n)
{
    const unsigned char *q = *pt;
    long len = 0;
    int tag = 0, cls = 0;
    if (*n > 2 && q[0] == 0x04 && !(ASN1_get_object(&q, &len, &tag, &cls, (long)*n) & 0x80) &&
        tag == V_ASN1_OCTET_STRING && (size_t)(q - *pt) + (size_t)len == *n) {
        *n = (size_t)len;
        *pt = q;
    }
}

static cm_err ec_public(EVP_PKEY **out, const unsigned char *params, size_t plen,
                        const unsigned char *point, size_t n)
{
    cm_err rc = CM_OK;
    ASN1_OBJECT *oid = NULL;
    const unsigned char *q = params;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *prm = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int nid;

    oid = d2i_ASN1_OBJECT(NULL, &q, (long)plen);
    if (oid == NULL)
        CM_FAIL(CM_ERR_INVALID, "PKCS#11 key: CKA_EC_PARAMS is not a named curve");
    nid = OBJ_obj2nid(oid);
    unwrap_point(&point, &n);
    if (nid == NID_ED25519) {
        *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, point, n);
        if (*out == NULL)
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "PKCS#11 key: bad Ed25519 public key");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    CM_NOMEM_IF(bld == NULL);
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, n) ||
        (prm = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, prm) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "PKCS#11 key: cannot read the EC public key");
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(prm);
    OSSL_PARAM_BLD_free(bld);
    ASN1_OBJECT_free(oid);
    return rc;
}

static cm_err rsa_public(EVP_PKEY **out, const unsigned char *nb, size_t nlen,
                         const unsigned char *eb, size_t elen)
{
    cm_err rc = CM_OK;
    BIGNUM *bn = BN_bin2bn(nb, (int)nlen, NULL), *be = BN_bin2bn(eb, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *prm = NULL;
    EVP_PKEY_CTX *ctx = NULL;

    CM_NOMEM_IF(bn == NULL || be == NULL || bld == NULL);
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        (prm = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, prm) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "PKCS#11 key: cannot read the RSA public key");
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(prm);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return rc;
}

/* The public key, from the public key object beside the private one. */
static cm_err read_public(struct p11_key *p, CK_SESSION_HANDLE s)
{
    cm_err rc = CM_OK;
    CK_OBJECT_HANDLE pubh = 0;
    int found = 0;
    unsigned char *a = NULL, *b = NULL;
    CK_ULONG alen = 0, blen = 0;

    CM_TRY(find_object(&pubh, &found, p, s, CKO_PUBLIC_KEY));
    if (!found)
        CM_FAIL(CM_ERR_NOTFOUND,
                "PKCS#11 token '%s': no public key object '%s' beside the private key",
                token_name(p), object_name(p));
    if (p->ktype == CKK_RSA) {
        CM_TRY(get_attr(&a, &alen, p, s, pubh, CKA_MODULUS));
        CM_TRY(get_attr(&b, &blen, p, s, pubh, CKA_PUBLIC_EXPONENT));
        CM_TRY(rsa_public(&p->pub, a, alen, b, blen));
    } else if (p->ktype == CKK_EC || p->ktype == CKK_EC_EDWARDS) {
        CM_TRY(get_attr(&a, &alen, p, s, pubh, CKA_EC_PARAMS));
        CM_TRY(get_attr(&b, &blen, p, s, pubh, CKA_EC_POINT));
        CM_TRY(ec_public(&p->pub, a, alen, b, blen));
    } else {
        CM_FAIL(CM_ERR_INVALID, "PKCS#11 token '%s': key '%s' has type 0x%lx, not EC or RSA",
                token_name(p), object_name(p), (unsigned long)p->ktype);
    }
out:
    free(a);
    free(b);
    return rc;
}

/* Finds the private key (and notes its type) in a logged-in session. */
static cm_err find_private(struct p11_key *p, CK_SESSION_HANDLE s, int *found)
{
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &p->ktype, sizeof(p->ktype)};
    CK_RV rv;
    cm_err rc = find_object(&p->priv, found, p, s, CKO_PRIVATE_KEY);
    if (rc != CM_OK || !*found)
        return rc;
    if ((rv = p->f->C_GetAttributeValue(s, p->priv, &a, 1)) != CKR_OK)
        return ck_fail(rv, "C_GetAttributeValue(CKA_KEY_TYPE)", p);
    return CM_OK;
}

/* A failure another process's use of the token can cause for a moment,
 * worth another try: SoftHSM2's file store skips a token whose files
 * another process holds locked (the token looks missing), and fails
 * C_Login with CKR_GENERAL_ERROR while another login rewrites the token's
 * flags (SoftHSMv2 issue #757; seen with 30 concurrent `approve`s). */
static int transient(cm_err rc, CK_RV rv)
{
    if (rc == CM_ERR_NOTFOUND)
        return 1;
    return rv == CKR_GENERAL_ERROR || rv == CKR_DEVICE_ERROR || rv == CKR_TOKEN_NOT_PRESENT ||
           rv == CKR_SESSION_COUNT;
}

/* Initialises, finds the token, logs in; the session goes to the pool. A
 * module scans its tokens in C_Initialize, so a retry starts over from
 * there: up to CONNECT_TRIES times, about 3 s in all, with jitter so that
 * processes that collided do not collide again. */
#define CONNECT_TRIES 10
static cm_err connect_token(struct p11_key *p, CK_SESSION_HANDLE *s)
{
    cm_err rc;
    CK_RV rv = CKR_OK;
    for (int attempt = 1;; attempt++) {
        unsigned char r = 0;
        struct timespec ts = {0, 0};
        rv = CKR_OK;
        if ((rc = module_init(p)) != CM_OK)
            return rc;
        if ((rc = find_slot(p)) == CM_OK && (rc = open_session(p, s, 1, &rv)) == CM_OK)
            return CM_OK;
        if (!transient(rc, rv) || attempt == CONNECT_TRIES)
            return rc;
        if (p->initialized) {
            p->f->C_Finalize(NULL);
            p->initialized = 0;
        }
        (void)RAND_bytes(&r, 1);
        ts.tv_nsec = (long)(30 + 25 * attempt + r % 50) * 1000 * 1000L;
        nanosleep(&ts, NULL);
    }
}

static void pool_put(struct p11_key *p, CK_SESSION_HANDLE s)
{
    pthread_mutex_lock(&p->mu);
    if (p->pid == getpid() && p->npool < POOL_MAX)
        p->pool[p->npool++] = s;
    else if (p->pid == getpid())
        p->f->C_CloseSession(s);
    pthread_mutex_unlock(&p->mu);
}

/* After fork: the parent's sessions are not ours; start over. */
static cm_err after_fork(struct p11_key *p)
{
    cm_err rc;
    CK_SESSION_HANDLE s = 0;
    int found = 0;

    p->npool = 0;
    if ((rc = connect_token(p, &s)) != CM_OK)
        return rc;
    if ((rc = find_private(p, s, &found)) == CM_OK && !found)
        rc = cm_err_set(CM_ERR_NOTFOUND, "PKCS#11 token '%s': no private key '%s'", token_name(p),
                        object_name(p));
    if (rc != CM_OK) {
        p->f->C_CloseSession(s);
        return rc;
    }
    p->pool[p->npool++] = s;
    return CM_OK;
}

static cm_err pool_get(struct p11_key *p, CK_SESSION_HANDLE *s)
{
    cm_err rc = CM_OK;
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&p->mu);
    if (p->pid != getpid())
        rc = after_fork(p);
    if (rc == CM_OK) {
        if (p->npool > 0)
            *s = p->pool[--p->npool];
        else
            rc = open_session(p, s, 0, &rv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void p11_close(void *state)
{
    struct p11_key *p = state;
    if (p == NULL)
        return;
    if (p->f != NULL && p->pid == getpid()) {
        for (size_t i = 0; i < p->npool; i++)
            p->f->C_CloseSession(p->pool[i]);
        if (p->initialized)
            p->f->C_Finalize(NULL);
    }
    /* The module stays mapped: libraries it loaded may have registered
     * atexit handlers or thread keys that point into it. */
    EVP_PKEY_free(p->pub);
    OPENSSL_cleanse(p->pin, sizeof(p->pin));
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static cm_err p11_new(struct p11_key **out, const char *ref)
{
    cm_err rc = CM_OK;
    struct p11_key *p = calloc(1, sizeof(*p));

    *out = NULL;
    CM_NOMEM_IF(p == NULL);
    pthread_mutex_init(&p->mu, NULL);
    CM_TRY(p11_uri_parse(&p->uri, ref));
    CM_TRY(read_pin(p));
    CM_TRY(module_load(p));
    *out = p;
    p = NULL;
out:
    p11_close(p);
    return rc;
}

/* Opens (or, with spec, creates when missing) the key. */
static cm_err p11_start(void **state, int *created, const char *ref, const struct key_spec *spec,
                        int decrypt_key);

static cm_err p11_open(void **state, const char *ref, const struct key_open_opts *o)
{
    (void)o;
    return p11_start(state, NULL, ref, NULL, 0);
}

static cm_err p11_create(void **state, int *created, const char *ref, const struct key_spec *spec,
                         const struct key_open_opts *o)
{
    return p11_start(state, created, ref, spec, o != NULL && o->decrypt_key);
}

static cm_err p11_generate(struct p11_key *p, CK_SESSION_HANDLE s, const struct key_spec *spec,
                           int decrypt_key);

static cm_err p11_start(void **state, int *created, const char *ref, const struct key_spec *spec,
                        int decrypt_key)
{
    cm_err rc = CM_OK;
    struct p11_key *p = NULL;
    CK_SESSION_HANDLE s = 0;
    int have_session = 0, found = 0;

    *state = NULL;
    CM_TRY(p11_new(&p, ref));
    CM_TRY(connect_token(p, &s));
    have_session = 1;
    CM_TRY(find_private(p, s, &found));
    if (!found && spec != NULL) {
        if (!p->uri.has_object)
            CM_FAIL(CM_ERR_INVALID, "PKCS#11 URI: object=LABEL names the key to generate");
        CM_TRY(p11_generate(p, s, spec, decrypt_key));
        CM_TRY(find_private(p, s, &found));
        *created = 1;
    }
    if (!found)
        CM_FAIL(CM_ERR_NOTFOUND, "PKCS#11 token '%s': no private key '%s'", token_name(p),
                object_name(p));
    CM_TRY(read_public(p, s));
    ERR_clear_error(); /* the module's, as in module_init() */
    p->pool[p->npool++] = s;
    have_session = 0;
    *state = p;
    p = NULL;
out:
    if (have_session)
        p->f->C_CloseSession(s);
    p11_close(p);
    return rc;
}

/* DER OIDs for CKA_EC_PARAMS (RFC 5480 2.1.1.1, RFC 8410 3). */
static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const unsigned char oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

/* Generates the key pair in the token: private key sensitive and never
 * extractable (v2.40 4.9), sign only (a CA key) or decrypt only (the
 * key-transport key, RSA), both token objects with the URI's label and id. */
static cm_err p11_generate(struct p11_key *p, CK_SESSION_HANDLE s, const struct key_spec *spec,
                           int decrypt_key)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG bits = (CK_ULONG)spec->bits;
    static const unsigned char f4[] = {0x01, 0x00, 0x01};
    CK_ATTRIBUTE pub[6], priv[10];
    CK_ULONG np = 0, nv = 0;
    CK_OBJECT_HANDLE hpub, hpriv;
    CK_RV rv;
    const unsigned char *oid = NULL;
    size_t oidlen = 0;

    switch (spec->kind) {
    case KEY_EC_P256:
        oid = oid_p256, oidlen = sizeof(oid_p256);
        break;
    case KEY_EC_P384:
        oid = oid_p384, oidlen = sizeof(oid_p384);
        break;
    case KEY_EC_P521:
        oid = oid_p521, oidlen = sizeof(oid_p521);
        break;
    case KEY_ED25519:
        oid = oid_ed25519, oidlen = sizeof(oid_ed25519);
        m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
        break;
    case KEY_RSA:
        m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
        break;
    default:
        return cm_err_set(CM_ERR_INVALID, "PKCS#11: cannot generate this key type");
    }
    if (decrypt_key && spec->kind != KEY_RSA)
        return cm_err_set(CM_ERR_INVALID, "PKCS#11: a key-transport key is RSA");
    pub[np++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
    pub[np++] = (CK_ATTRIBUTE){decrypt_key ? CKA_ENCRYPT : CKA_VERIFY, &yes, sizeof(yes)};
    pub[np++] = (CK_ATTRIBUTE){CKA_LABEL, p->uri.object, strlen(p->uri.object)};
    if (oid != NULL)
        pub[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid, oidlen};
    else {
        pub[np++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
        pub[np++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, (void *)f4, sizeof(f4)};
    }
    priv[nv++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
    priv[nv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, sizeof(yes)};
    priv[nv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, sizeof(yes)};
    priv[nv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, sizeof(no)};
    /* A CA key signs and does nothing else (RFC 5280 4.2.1.3 spirit); the
     * transport key only decrypts (its certificate: keyEncipherment). */
    priv[nv++] = (CK_ATTRIBUTE){CKA_SIGN, decrypt_key ? &no : &yes, sizeof(yes)};
    priv[nv++] = (CK_ATTRIBUTE){CKA_DECRYPT, decrypt_key ? &yes : &no, sizeof(no)};
    priv[nv++] = (CK_ATTRIBUTE){CKA_UNWRAP, &no, sizeof(no)};
    priv[nv++] = (CK_ATTRIBUTE){CKA_LABEL, p->uri.object, strlen(p->uri.object)};
    if (p->uri.has_id) {
        pub[np++] = (CK_ATTRIBUTE){CKA_ID, p->uri.id, p->uri.id_len};
        priv[nv++] = (CK_ATTRIBUTE){CKA_ID, p->uri.id, p->uri.id_len};
    }
    rv = p->f->C_GenerateKeyPair(s, &m, pub, np, priv, nv, &hpub, &hpriv);
    if (rv != CKR_OK)
        return ck_fail(rv, "C_GenerateKeyPair", p);
    return CM_OK;
}

/* DigestInfo prefix for SHA-256 (RFC 8017 9.2 note 1): CKM_RSA_PKCS pads
 * but does not hash, and every token has it. */
static const unsigned char sha256_prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                              0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                              0x01, 0x05, 0x00, 0x04, 0x20};

/* What the token signs: the digest (ECDSA), DigestInfo (RSA) or the data
 * itself (EdDSA). */
static cm_err sign_input(const struct p11_key *p, unsigned char *buf, size_t *len, CK_MECHANISM *m,
                         const char *md, const unsigned char *data, size_t n)
{
    unsigned int dl = 0;
    size_t pre = 0;

    if (p->ktype == CKK_EC_EDWARDS) {
        m->mechanism = CKM_EDDSA;
        *len = 0;
        return CM_OK;
    }
    if (p->ktype == CKK_RSA) {
        m->mechanism = CKM_RSA_PKCS;
        memcpy(buf, sha256_prefix, sizeof(sha256_prefix));
        pre = sizeof(sha256_prefix);
    } else {
        m->mechanism = CKM_ECDSA;
    }
    if (EVP_Digest(data, n, buf + pre, &dl, EVP_get_digestbyname(md), NULL) != 1)
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot hash the data to sign");
    *len = pre + dl;
    return CM_OK;
}

/* CKM_ECDSA gives r || s, each the size of the order (v2.40 2.3.1); X.509
 * wants ECDSA-Sig-Value (RFC 3279 2.2.3). */
static cm_err ecdsa_der(unsigned char **sig, size_t *siglen, const unsigned char *raw, size_t n)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(n / 2), NULL), *s = BN_bin2bn(raw + n / 2, (int)(n / 2), NULL);
    unsigned char *der = NULL;
    int len;

    if (es == NULL || r == NULL || s == NULL || n % 2 != 0 || !ECDSA_SIG_set0(es, r, s)) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return cm_err_set(CM_ERR_CRYPTO, "PKCS#11: bad ECDSA signature from the token");
    }
    len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (len <= 0)
        return cm_err_ossl(CM_ERR_CRYPTO, "cannot encode the ECDSA signature");
    *sig = malloc((size_t)len);
    if (*sig == NULL) {
        OPENSSL_free(der);
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    memcpy(*sig, der, (size_t)len);
    *siglen = (size_t)len;
    OPENSSL_free(der);
    return CM_OK;
}

static cm_err p11_sign(void *state, unsigned char **sig, size_t *siglen, const char *md,
                       const unsigned char *data, size_t n)
{
    cm_err rc = CM_OK;
    struct p11_key *p = state;
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    CK_SESSION_HANDLE s = 0;
    unsigned char in[128], out[1024];
    size_t inlen = 0;
    CK_ULONG outlen = sizeof(out);
    CK_RV rv;
    int have = 0;

    CM_TRY(sign_input(p, in, &inlen, &m, md, data, n));
    CM_TRY(pool_get(p, &s));
    have = 1;
    if ((rv = p->f->C_SignInit(s, &m, p->priv)) != CKR_OK)
        CK_FAIL(rv, "C_SignInit");
    rv = m.mechanism == CKM_EDDSA ? p->f->C_Sign(s, (CK_BYTE_PTR)data, n, out, &outlen)
                                  : p->f->C_Sign(s, in, inlen, out, &outlen);
    if (rv != CKR_OK)
        CK_FAIL(rv, "C_Sign");
    ERR_clear_error(); /* the module's, as in module_init() */
    if (m.mechanism == CKM_ECDSA) {
        CM_TRY(ecdsa_der(sig, siglen, out, outlen));
    } else {
        *sig = malloc(outlen);
        CM_NOMEM_IF(*sig == NULL);
        memcpy(*sig, out, outlen);
        *siglen = outlen;
    }
out:
    if (have)
        pool_put(p, s);
    return rc;
}

/* CK_RSA_PKCS_OAEP_PARAMS of v2.40 2.1.8: the hash and MGF1 pairs. */
static void oaep_mech(CK_RSA_PKCS_OAEP_PARAMS *op, const struct key_decrypt_params *dp)
{
    static const CK_MECHANISM_TYPE hash[] = {CKM_SHA_1, CKM_SHA_1, CKM_SHA256, CKM_SHA384,
                                             CKM_SHA512};
    static const CK_RSA_PKCS_MGF_TYPE mgf[] = {CKG_MGF1_SHA1, CKG_MGF1_SHA1, CKG_MGF1_SHA256,
                                               CKG_MGF1_SHA384, CKG_MGF1_SHA512};
    memset(op, 0, sizeof(*op));
    op->hashAlg = hash[dp->oaep_md <= KEY_HASH_SHA512 ? dp->oaep_md : 0];
    op->mgf = mgf[dp->mgf1_md <= KEY_HASH_SHA512 ? dp->mgf1_md : 0];
    op->source = CKZ_DATA_SPECIFIED; /* an empty label (RFC 8017 7.1) */
}

/* C_Decrypt with CKM_RSA_PKCS_OAEP or CKM_RSA_PKCS (v2.40 2.1.8, 2.1.6). */
static cm_err p11_decrypt(void *state, unsigned char **out, size_t *outlen,
                          const struct key_decrypt_params *dp, const unsigned char *in, size_t n)
{
    cm_err rc = CM_OK;
    struct p11_key *p = state;
    CK_RSA_PKCS_OAEP_PARAMS op;
    CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
    CK_SESSION_HANDLE s = 0;
    unsigned char buf[2048];
    CK_ULONG len = sizeof(buf);
    CK_RV rv;
    int have = 0;

    if (p->ktype != CKK_RSA)
        return cm_err_set(CM_ERR_UNSUPPORTED,
                          "PKCS#11 token '%s': key '%s' is not RSA: it cannot decrypt a key "
                          "transport block",
                          token_name(p), object_name(p));
    if (dp->oaep) {
        oaep_mech(&op, dp);
        m = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    }
    CM_TRY(pool_get(p, &s));
    have = 1;
    /* Not the block's fault: the key may not decrypt (CKA_DECRYPT false)
     * or the token lacks the mechanism or these OAEP hashes. */
    if ((rv = p->f->C_DecryptInit(s, &m, p->priv)) != CKR_OK)
        CM_FAIL(CM_ERR_UNSUPPORTED,
                "PKCS#11 token '%s': key '%s' cannot decrypt with %s%s%s: C_DecryptInit failed: "
                "CKR 0x%lx",
                token_name(p), object_name(p), dp->oaep ? "RSAES-OAEP " : "PKCS#1 v1.5",
                dp->oaep ? key_hash_name(dp->oaep_md) : "", dp->oaep ? "/MGF1" : "",
                (unsigned long)rv);
    rv = p->f->C_Decrypt(s, (CK_BYTE_PTR)in, n, buf, &len);
    ERR_clear_error(); /* the module's, as in module_init() */
    if (rv != CKR_OK)
        CK_FAIL(rv, dp->oaep ? "C_Decrypt (RSAES-OAEP)" : "C_Decrypt (PKCS#1 v1.5)");
    *out = malloc(len ? len : 1);
    CM_NOMEM_IF(*out == NULL);
    memcpy(*out, buf, len);
    *outlen = len;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    if (have)
        pool_put(p, s);
    return rc;
}

static EVP_PKEY *p11_public_key(void *state)
{
    return ((struct p11_key *)state)->pub;
}

static void p11_describe(void *state, char *buf, size_t bufsz)
{
    const struct p11_key *p = state;
    snprintf(buf, bufsz, "PKCS#11 token '%s' key '%s' (module %s)", token_name(p), object_name(p),
             p->uri.module_path);
}

const struct key_ops key_ops_pkcs11 = {
    KEY_OPS_VERSION, "pkcs11",  p11_claims, p11_open,    p11_create, p11_sign, p11_public_key,
    p11_describe,    p11_close, NULL,       p11_decrypt, NULL,       NULL,     NULL,
};
