/* Unit tests: the key backend "keyproc" against a real key process (a
 * forked child running keyproc_run() on a test CA key). What it signs
 * verifies with the CA's public key (a certificate through key_sign_cert,
 * a CRL's and an OCSP ResponseData's to-be-signed bytes through key_sign),
 * from several threads at once; what is not a to-be-signed object of this
 * CA is refused; a dead key process gives a clear error; references that
 * are not the key process's are refused. The key-transport key the key
 * process opens on request (KEY_AUX_TRANSPORT) decrypts through it; the
 * CA key never does. */
#include "unit.h"
#include "key/keyproc.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCONN 3

static EVP_PKEY *ca_key;
static X509 *ca_cert;
static cm_key *client;
static pid_t child;
static char aux_path[64];
static EVP_PKEY *transport_key; /* RSA, opened in the key process on request */

static cm_err transport_open(cm_key **out, void *arg)
{
    (void)arg;
    return key_from_pkey(out, transport_key);
}

static X509 *make_cert(const char *issuer_cn, const char *subject_cn, EVP_PKEY *pub)
{
    X509 *x = X509_new();
    X509_NAME *in = X509_NAME_new(), *sn = X509_NAME_new();
    X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_UTF8, (const unsigned char *)issuer_cn, -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(sn, "CN", MBSTRING_UTF8, (const unsigned char *)subject_cn, -1, -1,
                               0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4711);
    X509_set_issuer_name(x, in);
    X509_set_subject_name(x, sn);
    X509_set_pubkey(x, pub);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_free(in);
    X509_NAME_free(sn);
    return x;
}

static int verify_sig(const unsigned char *sig, size_t siglen, const unsigned char *data, size_t n)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, ca_key) == 1 &&
             EVP_DigestVerify(m, sig, siglen, data, n) == 1;
    EVP_MD_CTX_free(m);
    return ok;
}

/* Starts the key process on a fresh P-256 CA key and opens the client. */
TEST(start)
{
    int c[NCONN], s[NCONN];
    char ref[KEYPROC_REF_MAX];
    cm_key *k = NULL;

    snprintf(aux_path, sizeof(aux_path), "/tmp/cm-test-keyproc-%ld.key", (long)getpid());
    ca_key = EVP_EC_gen("P-256");
    transport_key = EVP_RSA_gen(2048);
    ca_cert = make_cert("KP Test CA", "KP Test CA", ca_key);
    CHECK(X509_sign(ca_cert, ca_key, EVP_sha256()) > 0);
    CHECK_OK(keyproc_sockets(c, s, NCONN));
    child = fork();
    if (child == 0) {
        for (int i = 0; i < NCONN; i++)
            close(c[i]);
        if (key_from_pkey(&k, ca_key) != CM_OK)
            _exit(1);
        struct keyproc_transport tr = {transport_open, NULL};
        keyproc_run(s, NCONN, k, ca_cert, aux_path, &tr);
        _exit(0);
    }
    for (int i = 0; i < NCONN; i++)
        close(s[i]);
    CHECK_OK(keyproc_ref(ref, sizeof(ref), c, NCONN));
    CHECK_OK(key_open(&client, ref, NULL));
    if (client == NULL)
        return;
    CHECK_STR(key_backend(client), "keyproc");
    CHECK(EVP_PKEY_eq(key_public(client), ca_key) == 1);
    CHECK(!key_ref_is_uri(ref));
}

TEST(signs_certificate)
{
    EVP_PKEY *leaf_key = EVP_EC_gen("P-256");
    X509 *x = make_cert("KP Test CA", "leaf.example.org", leaf_key);
    CHECK_OK(key_sign_cert(client, &x));
    CHECK(X509_verify(x, ca_key) == 1);
    X509_free(x);
    EVP_PKEY_free(leaf_key);
}

TEST(signs_crl_tbs)
{
    X509_CRL *crl = X509_CRL_new();
    unsigned char *tbs = NULL, *sig = NULL;
    size_t siglen = 0;
    int n;

    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert));
    ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL));
    X509_CRL_set1_lastUpdate(crl, t);
    /* The local signature only puts the algorithm into the TBS. */
    CHECK(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0);
    n = i2d_re_X509_CRL_tbs(crl, &tbs);
    CHECK(n > 0);
    CHECK_OK(key_sign(client, &sig, &siglen, tbs, (size_t)n));
    CHECK(sig != NULL && verify_sig(sig, siglen, tbs, (size_t)n));
    free(sig);
    OPENSSL_free(tbs);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
}

/* ResponseData (RFC 6960 4.2.1): responderID byKey, producedAt, responses. */
static size_t ocsp_tbs(unsigned char *p, const unsigned char *hash)
{
    static const unsigned char when[] = "20261204120000Z";
    size_t i = 0;
    p[i++] = 0x30;
    p[i++] = 2 + 2 + 20 + 2 + 15 + 2;
    p[i++] = 0xa2;
    p[i++] = 22;
    p[i++] = 0x04;
    p[i++] = 20;
    memcpy(p + i, hash, 20);
    i += 20;
    p[i++] = 0x18;
    p[i++] = 15;
    memcpy(p + i, when, 15);
    i += 15;
    p[i++] = 0x30;
    p[i++] = 0;
    return i;
}

TEST(signs_ocsp_tbs)
{
    unsigned char hash[20], tbs[64], *sig = NULL;
    unsigned hl = 0;
    size_t n, siglen = 0;

    CHECK(X509_pubkey_digest(ca_cert, EVP_sha1(), hash, &hl) && hl == 20);
    n = ocsp_tbs(tbs, hash);
    CHECK_OK(key_sign(client, &sig, &siglen, tbs, n));
    CHECK(sig != NULL && verify_sig(sig, siglen, tbs, n));
    free(sig);
    /* Another responder's ResponseData. */
    hash[0] ^= 1;
    n = ocsp_tbs(tbs, hash);
    CHECK_INT(key_sign(client, &sig, &siglen, tbs, n), CM_ERR_CRYPTO);
    CHECK(strstr(cm_err_msg(), "another responder") != NULL);
}

TEST(refuses_other_data)
{
    unsigned char junk[100], *sig = NULL, *tbs = NULL;
    size_t siglen = 0;
    EVP_PKEY *other = EVP_EC_gen("P-256");
    X509 *x = make_cert("Some Other CA", "victim.example.org", other);
    int n;

    memset(junk, 0x41, sizeof(junk));
    CHECK_INT(key_sign(client, &sig, &siglen, junk, sizeof(junk)), CM_ERR_CRYPTO);
    CHECK(strstr(cm_err_msg(), "refused") != NULL);
    /* A certificate naming another issuer. */
    CHECK_INT(key_sign_cert(client, &x), CM_ERR_CRYPTO);
    CHECK(strstr(cm_err_msg(), "issuer is not this CA") != NULL);
    /* Right issuer, another signature algorithm. */
    X509_free(x);
    x = make_cert("KP Test CA", "victim.example.org", other);
    CHECK(X509_sign(x, other, EVP_sha384()) > 0);
    n = i2d_re_X509_tbs(x, &tbs);
    CHECK_INT(key_sign(client, &sig, &siglen, tbs, (size_t)n), CM_ERR_CRYPTO);
    CHECK(strstr(cm_err_msg(), "signature algorithm") != NULL);
    /* Still serving after the refusals. */
    X509_free(x);
    x = make_cert("KP Test CA", "after.example.org", other);
    CHECK_OK(key_sign_cert(client, &x));
    CHECK(X509_verify(x, ca_key) == 1);
    OPENSSL_free(tbs);
    X509_free(x);
    EVP_PKEY_free(other);
}

/* The second key (the delegated OCSP responder's): made and stored by the
 * key process, found again by the SHA-1 of its public key in an OCSP
 * ResponseData, opened again from its file; none in other backends. */
TEST(second_key)
{
    cm_key *a = NULL, *b = NULL, *mem = NULL;
    unsigned char hash[20], tbs[64], *sig = NULL, *der = NULL;
    size_t n, siglen = 0;
    X509_PUBKEY *xp = NULL;
    const unsigned char *bits = NULL;
    int bitslen = 0;
    struct stat st;
    EVP_MD_CTX *m = NULL;

    CHECK_OK(key_open_aux(&a, client, 1));
    if (a == NULL)
        return;
    CHECK(EVP_PKEY_is_a(key_public(a), "EC"));
    CHECK(EVP_PKEY_eq(key_public(a), ca_key) != 1);
    CHECK(stat(aux_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(X509_PUBKEY_set(&xp, key_public(a)) &&
          X509_PUBKEY_get0_param(NULL, &bits, &bitslen, NULL, xp));
    SHA1(bits, (size_t)bitslen, hash);
    n = ocsp_tbs(tbs, hash);
    CHECK_OK(key_sign(a, &sig, &siglen, tbs, n));
    m = EVP_MD_CTX_new();
    CHECK(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, key_public(a)) == 1 &&
          EVP_DigestVerify(m, sig, siglen, tbs, n) == 1);
    CHECK_OK(key_open_aux(&b, client, 0));
    CHECK(b != NULL && EVP_PKEY_eq(key_public(a), key_public(b)) == 1);
    key_close(b);
    /* A renewal: a new key, and the previous one still signs. */
    CHECK_OK(key_open_aux(&b, client, 1));
    CHECK(b != NULL && EVP_PKEY_eq(key_public(a), key_public(b)) != 1);
    free(sig);
    sig = NULL;
    CHECK_OK(key_sign(a, &sig, &siglen, tbs, n));
    key_close(b);
    CHECK_OK(key_from_pkey(&mem, ca_key));
    CHECK_INT(key_open_aux(&b, mem, 0), CM_ERR_UNSUPPORTED);
    EVP_MD_CTX_free(m);
    X509_PUBKEY_free(xp);
    free(sig);
    free(der);
    key_close(a);
    key_close(mem);
    unlink(aux_path);
}

static void *signer(void *arg)
{
    long *bad = arg;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    for (int i = 0; i < 40; i++) {
        X509 *x = make_cert("KP Test CA", "t.example.org", k);
        if (key_sign_cert(client, &x) != CM_OK || X509_verify(x, ca_key) != 1)
            (*bad)++;
        X509_free(x);
    }
    EVP_PKEY_free(k);
    return NULL;
}

/* Eight threads over three connections. */
/* RSAES-OAEP SHA-256 and PKCS#1 v1.5 blocks decrypt with the transport
 * key in the key process; the CA key and a wrong block do not. */
TEST(transport_decrypt)
{
    static const unsigned char secret[32] = "a content-encryption key, 32 B";
    const struct key_decrypt_params pads[] = {{0, KEY_HASH_SHA1, KEY_HASH_SHA1},
                                              {1, KEY_HASH_SHA256, KEY_HASH_SHA256}};
    cm_key *tk = NULL;
    unsigned char blk[512], *plain = NULL;
    size_t blen, plen = 0;

    CHECK_OK(key_open_aux(&tk, client, KEY_AUX_TRANSPORT));
    if (tk == NULL)
        return;
    CHECK(EVP_PKEY_eq(key_public(tk), transport_key) == 1);
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, transport_key, NULL);
        blen = sizeof(blk);
        CHECK(c != NULL && EVP_PKEY_encrypt_init(c) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(c, pads[i].oaep ? RSA_PKCS1_OAEP_PADDING
                                                           : RSA_PKCS1_PADDING) == 1 &&
              (!pads[i].oaep || EVP_PKEY_CTX_set_rsa_oaep_md_name(c, "SHA256", NULL) == 1) &&
              (!pads[i].oaep || EVP_PKEY_CTX_set_rsa_mgf1_md_name(c, "SHA256", NULL) == 1) &&
              EVP_PKEY_encrypt(c, blk, &blen, secret, sizeof(secret)) == 1);
        EVP_PKEY_CTX_free(c);
        CHECK_OK(key_decrypt(tk, &plain, &plen, &pads[i], blk, blen));
        CHECK(plain != NULL && plen == sizeof(secret) && memcmp(plain, secret, plen) == 0);
        free(plain);
        plain = NULL;
        /* The other padding: refused by the key, as an error. */
        CHECK_ERR(key_decrypt(tk, &plain, &plen, &pads[1 - i], blk, blen), CM_ERR_CRYPTO);
        CHECK(plain == NULL);
    }
    /* The CA key only signs. */
    CHECK_ERR(key_decrypt(client, &plain, &plen, &pads[0], blk, blen), CM_ERR_CRYPTO);
    CHECK(strstr(cm_err_msg(), "not a key-transport key") != NULL);
    CHECK(plain == NULL);
    key_close(tk);
}

TEST(concurrent)
{
    pthread_t th[8];
    long bad[8] = {0};
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&th[i], NULL, signer, &bad[i]) == 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(bad[i], 0);
    }
}

TEST(dead_process)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = make_cert("KP Test CA", "late.example.org", k);
    int st = 0;
    kill(child, SIGKILL);
    CHECK(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
    CHECK_INT(key_sign_cert(client, &x), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "key process is gone") != NULL);
    CHECK_INT(key_sign_cert(client, &x), CM_ERR_STATE);
    X509_free(x);
    EVP_PKEY_free(k);
    key_close(client);
}

TEST(bad_references)
{
    cm_key *k = NULL;
    char ref[64];
    int fd = open("/dev/null", O_RDONLY);
    CHECK_INT(key_open(&k, "keyproc:", NULL), CM_ERR_INVALID);
    CHECK_INT(key_open(&k, "keyproc:x", NULL), CM_ERR_INVALID);
    CHECK_INT(key_open(&k, "keyproc:1,,2", NULL), CM_ERR_INVALID);
    snprintf(ref, sizeof(ref), "keyproc:%d", fd);
    CHECK_INT(key_open(&k, ref, NULL), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "not a socket") != NULL);
    CHECK(k == NULL);
    close(fd);
}

int main(void)
{
    unit_suite = "keyproc";
    RUN(start);
    if (client == NULL)
        return 1;
    RUN(signs_certificate);
    RUN(signs_crl_tbs);
    RUN(signs_ocsp_tbs);
    RUN(refuses_other_data);
    RUN(second_key);
    RUN(transport_decrypt);
    RUN(concurrent);
    RUN(dead_process);
    RUN(bad_references);
    EVP_PKEY_free(ca_key);
    X509_free(ca_cert);
    return UNIT_DONE();
}
