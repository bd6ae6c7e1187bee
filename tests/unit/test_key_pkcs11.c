/* Unit tests: the PKCS#11 backend on SoftHSM2 (a private token in a temp
 * folder): a key generated in the token signs from several threads at
 * once (each on its own session), and from a forked child (which must open
 * its own session: SoftHSM resets itself on fork with reset_on_fork). Every
 * signature is checked with the public key read from the token. Skipped,
 * saying so, where softhsm2 is not installed. */
#include "unit.h"
#include "fixture_token.h"
#include "key/key.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define PER_THREAD 50

static struct fixture_token tok;
static char uri[1024];

static int sign_and_verify(const cm_key *k, int i)
{
    unsigned char data[32], *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok;

    memset(data, i & 0xff, sizeof(data));
    ok = key_sign(k, &sig, &siglen, data, sizeof(data)) == CM_OK && m != NULL &&
         EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, key_public(k)) == 1 &&
         EVP_DigestVerify(m, sig, siglen, data, sizeof(data)) == 1;
    EVP_MD_CTX_free(m);
    free(sig);
    return ok;
}

static void *signer(void *arg)
{
    const cm_key *k = arg;
    long bad = 0;
    for (int i = 0; i < PER_THREAD; i++)
        bad += !sign_and_verify(k, i);
    return (void *)bad;
}

TEST(threads_and_fork)
{
    struct key_spec spec;
    cm_key *k = NULL;
    pthread_t t[THREADS];
    long bad = 0;
    int created = 0, status = 0;
    pid_t pid;

    if (!fixture_token_open(&tok, "p11", 1)) {
        printf("ok - key_pkcs11: skipped: softhsm2 is not installed\n");
        return;
    }
    fixture_token_uri(uri, sizeof(uri), &tok, "k");
    CHECK_OK(key_spec_parse(&spec, "ec:p256"));
    CHECK_OK(key_create(&k, &created, uri, &spec, NULL));
    if (k == NULL)
        return;
    CHECK(created == 1);
    CHECK_STR(key_backend(k), "pkcs11");
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, signer, k) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    CHECK_INT(bad, 0);
    pid = fork();
    if (pid == 0)
        _exit(sign_and_verify(k, 7) && sign_and_verify(k, 8) ? 0 : 1);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's sessions still work after the child's. */
    CHECK(sign_and_verify(k, 9));
    key_close(k);
    /* Opened again: the same key, found by label. */
    CHECK_OK(key_open(&k, uri, NULL));
    CHECK(k != NULL && sign_and_verify(k, 10));
    key_close(k);
}

int main(void)
{
    unit_suite = "key_pkcs11";
    RUN(threads_and_fork);
    fixture_token_close(&tok);
    return UNIT_DONE();
}
