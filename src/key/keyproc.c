/* Key backend "keyproc" and the key process it talks to (keyproc.h has the
 * design and the protocol). */
#include "key/keyproc.h"

#include "util/der.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define KP_MAGIC 0x434d4b50u /* "CMKP" */
#define KP_OP_HELLO 1u
#define KP_OP_SIGN 2u
#define KP_OP_AUX 3u /* data: one byte, 1 = a new key, 2 = the transport key */
#define KP_OP_DECRYPT 4u
#define KP_AUX_TRANSPORT 2u
#define KP_DEC_HDR (SHA_DIGEST_LENGTH + 3) /* key hash | oaep | md | mgf1 md */
#define KP_ST_OK 0u
#define KP_ST_REFUSED 1u
#define KP_ST_FAILED 2u
/* An answer is a signature (RSA 16384 at most) or a public key. */
#define KP_MAX_ANSWER (64u * 1024)
#define KP_DESC_MAX 256

/* ---- I/O on one connection ---- */

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 0: read n bytes; 1: end of stream before the first byte; -1: error. */
static int read_all(int fd, void *p, size_t n)
{
    unsigned char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 && got == 0)
            return 1;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

cm_err keyproc_sockets(int *client, int *server, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            cm_err rc = cm_err_set(CM_ERR_IO, "key process: socketpair: %s", strerror(errno));
            for (size_t j = 0; j < i; j++) {
                close(client[j]);
                close(server[j]);
            }
            return rc;
        }
        client[i] = sv[0];
        server[i] = sv[1];
    }
    return CM_OK;
}

cm_err keyproc_ref(char *ref, size_t refsz, const int *client, size_t n)
{
    size_t off = (size_t)snprintf(ref, refsz, "%s", KEYPROC_SCHEME);
    for (size_t i = 0; i < n && off < refsz; i++)
        off += (size_t)snprintf(ref + off, refsz - off, "%s%d", i ? "," : "", client[i]);
    if (n == 0 || n > KEYPROC_MAX_CONN || off >= refsz)
        return cm_err_set(CM_ERR_INVALID, "key process: %zu connections do not fit a reference", n);
    return CM_OK;
}

/* ---- the key process ---- */

/* A second key (the delegated OCSP responder's), found by the SHA-1 of
 * its public key, as the responderID byKey names it (RFC 6960 4.2.2.3).
 * Kept until the process ends: a renewal adds one, and responses being
 * signed with the previous one still find it. */
struct kp_aux {
    struct kp_aux *next;
    cm_key *k;
    int transport; /* the key-transport key: decrypts, never signs */
    unsigned char hash[SHA_DIGEST_LENGTH];
};

struct kp_server {
    const cm_key *k;
    const char *aux_path;                      /* where the second key is stored; NULL: none */
    const struct keyproc_transport *transport; /* NULL: none */
    pthread_mutex_t mu;                        /* aux */
    struct kp_aux *aux;                        /* newest first */
    unsigned char issuer[1024];                /* the CA's subject Name, DER */
    size_t issuer_len;
    unsigned char key_hash[SHA_DIGEST_LENGTH]; /* OCSP responderID byKey */
    const unsigned char *alg;                  /* this key's AlgorithmIdentifier */
    size_t alg_len;
};

static const cm_key *aux_find(struct kp_server *s, const unsigned char *hash, int transport)
{
    const cm_key *k = NULL;
    pthread_mutex_lock(&s->mu);
    for (struct kp_aux *a = s->aux; a != NULL && k == NULL; a = a->next)
        if (a->transport == transport && memcmp(a->hash, hash, sizeof(a->hash)) == 0)
            k = a->k;
    pthread_mutex_unlock(&s->mu);
    return k;
}

/* The second key: the stored one (fresh 0) or a new one, made and stored
 * 0600 (fresh 1). NULL or why not. */
static const char *aux_load(EVP_PKEY **pk, const char *path, int fresh)
{
    BIO *b = NULL;
    FILE *f = NULL;
    char *pem = NULL;
    long len;
    const char *why = NULL;

    if (!fresh) {
        if ((f = fopen(path, "r")) == NULL ||
            (*pk = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
            why = "no stored key";
    } else if ((*pk = EVP_EC_gen("P-256")) == NULL || (b = BIO_new(BIO_s_mem())) == NULL ||
               !PEM_write_bio_PrivateKey(b, *pk, NULL, NULL, 0, NULL, NULL) ||
               (len = BIO_get_mem_data(b, &pem)) <= 0) {
        why = "cannot make a key";
    } else if (fs_write_atomic(path, pem, (size_t)len, 0600) != CM_OK) {
        log_error("key process: %s", cm_err_msg());
        why = "cannot store the new key";
    }
    if (f != NULL)
        fclose(f);
    BIO_free(b);
    return why;
}

/* Opens or makes the second key and adds it to s; its public key (DER)
 * into *ans. NULL or why not. */
/* The key-transport key, opened anew (a renewal made a new one). NULL or
 * why not. */
static const char *transport_load(struct kp_server *s, cm_key **k)
{
    if (s->transport == NULL)
        return "this key process holds no key-transport key";
    if (s->transport->open(k, s->transport->arg) != CM_OK) {
        log_error("key process: %s", cm_err_msg());
        return "cannot open the key-transport key";
    }
    return NULL;
}

/* long: the two kinds of second key share the bookkeeping */
static const char *aux_open(struct kp_server *s, int fresh, unsigned char **ans, size_t *anslen)
{
    EVP_PKEY *pk = NULL;
    cm_key *tk = NULL;
    struct kp_aux *a = NULL;
    X509_PUBKEY *xp = NULL;
    const unsigned char *bits = NULL;
    int bitslen = 0, len;
    const char *why;

    if (fresh == KP_AUX_TRANSPORT)
        why = transport_load(s, &tk);
    else if (s->aux_path == NULL)
        return "this key process keeps no second key";
    else
        why = aux_load(&pk, s->aux_path, fresh);
    if (why == NULL && tk != NULL && (pk = key_public(tk)) != NULL && !EVP_PKEY_up_ref(pk))
        pk = NULL;
    if (why == NULL &&
        ((a = calloc(1, sizeof(*a))) == NULL || pk == NULL ||
         (tk == NULL && key_from_pkey(&a->k, pk) != CM_OK) || !X509_PUBKEY_set(&xp, pk) ||
         !X509_PUBKEY_get0_param(NULL, &bits, &bitslen, NULL, xp) ||
         (len = i2d_PUBKEY(pk, ans)) <= 0))
        why = "cannot use the key";
    if (why == NULL && tk != NULL) {
        a->k = tk;
        a->transport = 1;
        tk = NULL;
    }
    if (why == NULL) {
        *anslen = (size_t)len;
        SHA1(bits, (size_t)bitslen, a->hash);
        pthread_mutex_lock(&s->mu);
        a->next = s->aux;
        s->aux = a;
        pthread_mutex_unlock(&s->mu);
        a = NULL;
        if (fresh == KP_AUX_TRANSPORT)
            log_info("key process: opened the key-transport key");
        else
            log_info("key process: %s the OCSP responder key %s", fresh ? "made" : "opened",
                     s->aux_path);
    }
    if (a != NULL)
        key_close(a->k);
    free(a);
    key_close(tk);
    EVP_PKEY_free(pk);
    X509_PUBKEY_free(xp);
    cm_err_clear();
    return why;
}

static int tlv_is(const struct der_tlv *t, const unsigned char *der, size_t len)
{
    return t->total == len && memcmp(t->start, der, len) == 0;
}

/* The kinds of object the CA signs, told apart by their first fields:
 *   TBSCertificate (RFC 5280 4.1): [0] version, serialNumber, signature,
 *     issuer;
 *   TBSCertList (5.1): version, signature, issuer;
 *   ResponseData (RFC 6960 4.2.1): [0] version?, responderID [1] byName or
 *     [2] byKey, producedAt.
 * NULL when data is one of them naming this CA (*use: the key to sign
 * with: the CA's, or for an OCSP ResponseData the second key it names);
 * else why not. */
static const char *tbs_check(struct kp_server *s, const cm_key **use, const unsigned char *data,
                             size_t n)
{
    const unsigned char *p = data, *end = data + n;
    struct der_tlv outer, t;

    if (der_next(&outer, &p, end) != 0 || outer.tag != DER_SEQUENCE || p != end)
        return "not one DER SEQUENCE";
    p = outer.v;
    end = outer.v + outer.len;
    if (der_next(&t, &p, end) != 0)
        return "empty";
    if (t.tag == DER_CTX_CONS(0) && der_next(&t, &p, end) != 0)
        return "truncated after the version";
    if (t.tag == DER_CTX_CONS(1) || t.tag == DER_CTX_CONS(2)) {
        int by_name = t.tag == DER_CTX_CONS(1);
        struct der_tlv id;
        const unsigned char *q = t.v;
        if (der_next(&id, &q, t.v + t.len) != 0)
            return "bad responderID";
        *use = s->k;
        if (by_name ? !tlv_is(&id, s->issuer, s->issuer_len)
                    : id.tag != DER_OCTET_STRING || id.len != sizeof(s->key_hash) ||
                          (memcmp(id.v, s->key_hash, id.len) != 0 &&
                           (*use = aux_find(s, id.v, 0)) == NULL))
            return "OCSP ResponseData of another responder";
        if (der_next(&t, &p, end) != 0 || t.tag != DER_GENERALIZEDTIME)
            return "OCSP ResponseData without producedAt";
        return NULL;
    }
    /* A certificate's serialNumber, a CRL's version: an INTEGER either way. */
    if (t.tag == DER_INTEGER && der_next(&t, &p, end) != 0)
        return "truncated after the first INTEGER";
    *use = s->k;
    if (!tlv_is(&t, s->alg, s->alg_len))
        return "not this key's signature algorithm";
    if (der_next(&t, &p, end) != 0 || !tlv_is(&t, s->issuer, s->issuer_len))
        return "issuer is not this CA";
    return NULL;
}

/* DECRYPT: NULL and the plain bytes in *ans, or why not (*failed: the
 * key's own error, in msg). */
static const char *kp_decrypt(struct kp_server *s, const unsigned char *data, size_t n,
                              unsigned char **ans, size_t *anslen, int *failed, char *msg,
                              size_t msgsz)
{
    const cm_key *k;
    struct key_decrypt_params dp;

    if (n <= KP_DEC_HDR || data[SHA_DIGEST_LENGTH] > 1)
        return "bad decrypt request";
    if ((k = aux_find(s, data, 1)) == NULL)
        return "not a key-transport key of this process";
    dp.oaep = data[SHA_DIGEST_LENGTH];
    dp.oaep_md = (enum key_hash)data[SHA_DIGEST_LENGTH + 1];
    dp.mgf1_md = (enum key_hash)data[SHA_DIGEST_LENGTH + 2];
    if (key_decrypt(k, ans, anslen, &dp, data + KP_DEC_HDR, n - KP_DEC_HDR) == CM_OK)
        return NULL;
    snprintf(msg, msgsz, "%s", cm_err_msg());
    cm_err_clear();
    *failed = 1;
    return "";
}

/* Answers one request; fills *st and the answer (malloc'ed). */
static void kp_handle(struct kp_server *s, uint32_t op, const unsigned char *data, size_t n,
                      uint32_t *st, unsigned char **ans, size_t *anslen)
{
    const char *why = NULL;
    char msg[256];
    EVP_PKEY *pub = key_public(s->k);
    const cm_key *use = NULL;
    int len;

    *ans = NULL;
    *anslen = 0;
    if (op == KP_OP_HELLO) {
        key_describe(s->k, msg, sizeof(msg));
        len = i2d_PUBKEY(pub, NULL);
        if (len > 0 && (*ans = malloc((size_t)len + strlen(msg))) != NULL) {
            unsigned char *p = *ans;
            i2d_PUBKEY(pub, &p);
            memcpy(p, msg, strlen(msg));
            *anslen = (size_t)len + strlen(msg);
            *st = KP_ST_OK;
            return;
        }
        why = "cannot encode the public key";
    } else if (op == KP_OP_AUX) {
        *st = KP_ST_OK;
        if (n == 1 && data[0] <= KP_AUX_TRANSPORT &&
            (why = aux_open(s, data[0], ans, anslen)) == NULL)
            return;
        why = why ? why : "bad request for the second key";
    } else if (op == KP_OP_DECRYPT) {
        int failed = 0;
        *st = KP_ST_OK;
        if ((why = kp_decrypt(s, data, n, ans, anslen, &failed, msg, sizeof(msg))) == NULL)
            return;
        if (failed) {
            *st = KP_ST_FAILED;
            goto answer;
        }
    } else if (op != KP_OP_SIGN) {
        why = "unknown operation";
    } else if ((why = tbs_check(s, &use, data, n)) == NULL) {
        if (key_sign(use, ans, anslen, data, n) == CM_OK) {
            *st = KP_ST_OK;
            return;
        }
        snprintf(msg, sizeof(msg), "%s", cm_err_msg());
        cm_err_clear();
        *st = KP_ST_FAILED;
        goto answer;
    }
    /* A well-behaved server never sends these: worth a line in the log. */
    log_warn("key process: refused a request (op %u, %zu bytes): %s", op, n, why);
    snprintf(msg, sizeof(msg), "the key process refused %s: %s",
             op == KP_OP_DECRYPT ? "to decrypt"
             : op == KP_OP_SIGN  ? "to sign"
                                 : "the request",
             why);
    *st = KP_ST_REFUSED;
answer:
    *anslen = strlen(msg);
    *ans = (unsigned char *)strdup(msg);
    if (*ans == NULL)
        *anslen = 0;
}

struct kp_conn {
    struct kp_server *s;
    int fd;
    pthread_t th;
};

/* One connection: requests until the other end closes it or breaks the
 * protocol (then it is closed: a stream cannot be resynchronised). */
static void *kp_conn_main(void *arg)
{
    struct kp_conn *c = arg;
    unsigned char h[12], rh[8];
    unsigned char *data = NULL, *ans = NULL;
    size_t anslen = 0;
    uint32_t op, len, st = 0;

    for (;;) {
        int r = read_all(c->fd, h, sizeof(h));
        if (r != 0)
            break;
        op = get32(h + 4);
        len = get32(h + 8);
        if (get32(h) != KP_MAGIC || len > KEYPROC_MAX_DATA) {
            log_warn("key process: bad request header (magic %08x, length %u): connection "
                     "closed",
                     get32(h), len);
            break;
        }
        if ((data = malloc(len ? len : 1)) == NULL || read_all(c->fd, data, len) != 0)
            break;
        kp_handle(c->s, op, data, len, &st, &ans, &anslen);
        free(data);
        data = NULL;
        put32(rh, st);
        put32(rh + 4, (uint32_t)anslen);
        r = write_all(c->fd, rh, sizeof(rh)) || write_all(c->fd, ans, anslen);
        free(ans);
        ans = NULL;
        if (r != 0)
            break;
    }
    free(data);
    close(c->fd);
    return NULL;
}

void keyproc_run(const int *server, size_t n, const cm_key *k, X509 *issuer, const char *aux_path,
                 const struct keyproc_transport *transport)
{
    struct kp_server s;
    struct kp_conn c[KEYPROC_MAX_CONN];
    int started[KEYPROC_MAX_CONN];
    unsigned char *p;
    unsigned hl = 0;
    int len;

    memset(&s, 0, sizeof(s));
    s.k = k;
    s.aux_path = aux_path;
    s.transport = transport;
    pthread_mutex_init(&s.mu, NULL);
    len = i2d_X509_NAME(X509_get_subject_name(issuer), NULL);
    p = s.issuer;
    if (n > KEYPROC_MAX_CONN || len <= 0 || (size_t)len > sizeof(s.issuer) ||
        !X509_pubkey_digest(issuer, EVP_sha1(), s.key_hash, &hl) ||
        key_sigalg_der(&s.alg, &s.alg_len, k) != CM_OK) {
        log_error("key process: cannot describe the CA certificate");
        return;
    }
    s.issuer_len = (size_t)i2d_X509_NAME(X509_get_subject_name(issuer), &p);
    for (size_t i = 0; i < n; i++) {
        c[i].s = &s;
        c[i].fd = server[i];
        started[i] = pthread_create(&c[i].th, NULL, kp_conn_main, &c[i]) == 0;
        if (!started[i]) {
            log_error("key process: cannot start a thread");
            close(server[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(c[i].th, NULL);
    while (s.aux != NULL) {
        struct kp_aux *a = s.aux;
        s.aux = a->next;
        key_close(a->k);
        free(a);
    }
    pthread_mutex_destroy(&s.mu);
}

/* ---- the backend: the client in the serving process ---- */

/* The connections, shared by the CA key and the second key: each holds
 * a reference. */
struct kp_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd[KEYPROC_MAX_CONN];
    unsigned char busy[KEYPROC_MAX_CONN];
    size_t n;
    atomic_int dead;
    atomic_int refs;
};

struct kp_client {
    struct kp_pool *pool;
    EVP_PKEY *pub;
    unsigned char hash[SHA_DIGEST_LENGTH]; /* of pub's bits: names the key to decrypt with */
    char desc[KP_DESC_MAX];
};

static int kp_claims(const char *ref)
{
    return strncmp(ref, KEYPROC_SCHEME, sizeof(KEYPROC_SCHEME) - 1) == 0;
}

static void pool_unref(struct kp_pool *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    for (size_t i = 0; i < p->n; i++)
        close(p->fd[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void kp_close(void *state)
{
    struct kp_client *c = state;
    if (c == NULL)
        return;
    pool_unref(c->pool);
    EVP_PKEY_free(c->pub);
    free(c);
}

/* "keyproc:5,6,7": each a connected stream socket of this process. */
static cm_err kp_parse(struct kp_pool *c, const char *ref)
{
    const char *p = ref + sizeof(KEYPROC_SCHEME) - 1;
    struct stat st;

    while (*p != '\0') {
        char *e = NULL;
        long v;
        errno = 0;
        v = strtol(p, &e, 10);
        if (e == p || errno != 0 || v < 0 || v > INT_MAX || (*e != ',' && *e != '\0') ||
            c->n == KEYPROC_MAX_CONN)
            return cm_err_set(CM_ERR_INVALID, "%s: not a key process reference", ref);
        if (fstat((int)v, &st) != 0 || !S_ISSOCK(st.st_mode))
            return cm_err_set(CM_ERR_INVALID, "%s: descriptor %ld is not a socket", ref, v);
        c->fd[c->n++] = (int)v;
        p = *e == ',' ? e + 1 : e;
    }
    if (c->n == 0)
        return cm_err_set(CM_ERR_INVALID, "%s: no connection", ref);
    return CM_OK;
}

/* One request and its answer on fd. Status other than OK: the answer is
 * the key process's message, as the error. */
static cm_err kp_call(struct kp_pool *c, int fd, uint32_t op, const unsigned char *data, size_t n,
                      unsigned char **ans, size_t *anslen)
{
    unsigned char h[12], rh[8];
    uint32_t st, len;
    unsigned char *a = NULL;
    cm_err rc;

    put32(h, KP_MAGIC);
    put32(h + 4, op);
    put32(h + 8, (uint32_t)n);
    if (n > KEYPROC_MAX_DATA)
        return cm_err_set(CM_ERR_INVALID, "key process: %zu bytes to sign is over the limit", n);
    if (write_all(fd, h, sizeof(h)) != 0 || write_all(fd, data, n) != 0 ||
        read_all(fd, rh, sizeof(rh)) != 0 || (len = get32(rh + 4)) > KP_MAX_ANSWER ||
        (a = malloc(len + 1)) == NULL || read_all(fd, a, len) != 0) {
        free(a);
        if (atomic_exchange(&c->dead, 1) == 0)
            log_error("the key process is gone: nothing can be signed (certmint serve stops)");
        return cm_err_set(CM_ERR_STATE, "the key process is gone: cannot sign");
    }
    st = get32(rh);
    if (st != KP_ST_OK) {
        a[len] = '\0';
        rc = cm_err_set(CM_ERR_CRYPTO, "%s", (char *)a);
        free(a);
        return rc;
    }
    *ans = a;
    *anslen = len;
    return CM_OK;
}

/* Takes an idle connection (waits while all are out), calls, gives it
 * back. */
static cm_err kp_request(struct kp_pool *c, uint32_t op, const unsigned char *data, size_t n,
                         unsigned char **ans, size_t *anslen)
{
    size_t i = 0;
    cm_err rc;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        for (i = 0; i < c->n && c->busy[i]; i++)
            ;
        if (i < c->n || atomic_load(&c->dead))
            break;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    if (atomic_load(&c->dead)) {
        pthread_mutex_unlock(&c->mu);
        return cm_err_set(CM_ERR_STATE, "the key process is gone: cannot sign");
    }
    c->busy[i] = 1;
    pthread_mutex_unlock(&c->mu);
    rc = kp_call(c, c->fd[i], op, data, n, ans, anslen);
    pthread_mutex_lock(&c->mu);
    c->busy[i] = 0;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* A client on pool (a reference taken) for the key whose public key and
 * description the answer to op carries. */
static cm_err kp_client_new(struct kp_client **out, struct kp_pool *pool, uint32_t op,
                            const unsigned char *data, size_t n)
{
    cm_err rc = CM_OK;
    struct kp_client *c = calloc(1, sizeof(*c));
    unsigned char *ans = NULL;
    const unsigned char *p;
    size_t len = 0, publen;

    *out = NULL;
    CM_NOMEM_IF(c == NULL);
    c->pool = pool;
    atomic_fetch_add(&pool->refs, 1);
    CM_TRY(kp_request(pool, op, data, n, &ans, &len));
    p = ans;
    if ((c->pub = d2i_PUBKEY(NULL, &p, (long)len)) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "key process: not a public key");
    publen = (size_t)(p - ans);
    {
        X509_PUBKEY *xp = NULL;
        const unsigned char *bits = NULL;
        int bitslen = 0;
        if (!X509_PUBKEY_set(&xp, c->pub) ||
            !X509_PUBKEY_get0_param(NULL, &bits, &bitslen, NULL, xp)) {
            X509_PUBKEY_free(xp);
            CM_FAIL_OSSL(CM_ERR_CRYPTO, "key process: not a public key");
        }
        SHA1(bits, (size_t)bitslen, c->hash);
        X509_PUBKEY_free(xp);
    }
    snprintf(c->desc, sizeof(c->desc), "%.*s (in the key process)",
             (int)(len - publen < 200 ? len - publen : 200), (const char *)p);
    if (len == publen)
        snprintf(c->desc, sizeof(c->desc), "%s (in the key process)",
                 op == KP_OP_AUX && n == 1 && data[0] == KP_AUX_TRANSPORT ? "key-transport key"
                                                                          : "OCSP responder key");
    *out = c;
    c = NULL;
out:
    free(ans);
    kp_close(c);
    return rc;
}

static cm_err kp_open(void **state, const char *ref, const struct key_open_opts *o)
{
    cm_err rc = CM_OK;
    struct kp_pool *pool = calloc(1, sizeof(*pool));
    struct kp_client *c = NULL;

    (void)o;
    *state = NULL;
    CM_NOMEM_IF(pool == NULL);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    atomic_store(&pool->refs, 1);
    CM_TRY(kp_parse(pool, ref));
    if ((rc = kp_client_new(&c, pool, KP_OP_HELLO, NULL, 0)) != CM_OK)
        CM_FAIL(rc, "the key process did not start: its log lines above say why");
    *state = c;
out:
    if (pool != NULL && rc != CM_OK)
        pool->n = 0; /* the descriptors stay the caller's on failure */
    pool_unref(pool);
    return rc;
}

static cm_err kp_open_aux(void **state, void *parent, int fresh)
{
    struct kp_client *c = NULL;
    unsigned char b = fresh == KEY_AUX_TRANSPORT ? KP_AUX_TRANSPORT : fresh ? 1 : 0;
    cm_err rc = kp_client_new(&c, ((struct kp_client *)parent)->pool, KP_OP_AUX, &b, 1);
    *state = c;
    return rc;
}

static cm_err kp_create(void **state, int *created, const char *ref, const struct key_spec *spec,
                        const struct key_open_opts *o)
{
    (void)state;
    (void)created;
    (void)spec;
    (void)o;
    return cm_err_set(CM_ERR_UNSUPPORTED, "%s: the key process makes no keys", ref);
}

static cm_err kp_sign(void *state, unsigned char **sig, size_t *siglen, const char *md,
                      const unsigned char *data, size_t n)
{
    (void)md; /* the key process signs with its key's algorithm */
    return kp_request(((struct kp_client *)state)->pool, KP_OP_SIGN, data, n, sig, siglen);
}

/* The transport key (kp_open_aux KEY_AUX_TRANSPORT) in the key process;
 * the key process refuses it for any other key. */
static cm_err kp_decrypt_op(void *state, unsigned char **out, size_t *outlen,
                            const struct key_decrypt_params *dp, const unsigned char *in, size_t n)
{
    struct kp_client *c = state;
    unsigned char *req = NULL;
    cm_err rc;

    if (n > KP_MAX_ANSWER)
        return cm_err_set(CM_ERR_INVALID, "key process: a %zu-byte block to decrypt", n);
    req = malloc(KP_DEC_HDR + n);
    if (req == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    memcpy(req, c->hash, SHA_DIGEST_LENGTH);
    req[SHA_DIGEST_LENGTH] = dp->oaep ? 1 : 0;
    req[SHA_DIGEST_LENGTH + 1] = (unsigned char)dp->oaep_md;
    req[SHA_DIGEST_LENGTH + 2] = (unsigned char)dp->mgf1_md;
    memcpy(req + KP_DEC_HDR, in, n);
    rc = kp_request(c->pool, KP_OP_DECRYPT, req, KP_DEC_HDR + n, out, outlen);
    free(req);
    return rc;
}

static EVP_PKEY *kp_public_key(void *state)
{
    return ((struct kp_client *)state)->pub;
}

static void kp_describe(void *state, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "%s", ((struct kp_client *)state)->desc);
}

const struct key_ops key_ops_keyproc = {
    KEY_OPS_VERSION, "keyproc", kp_claims,   kp_open,       kp_create, kp_sign, kp_public_key,
    kp_describe,     kp_close,  kp_open_aux, kp_decrypt_op, NULL,      NULL,    NULL,
};
