/* A real CA home for the unit tests that drive one CA handle from many
 * threads (test_ca_threads, test_ocsp_pool): a private folder (0700),
 * ca_init of an EC P-256 root with a passphrase file, ca_open with a pool
 * of `sessions` sessions; and the CSRs those tests submit. Built once
 * (fixture_home.c) and linked into each test that uses it (Makefile). */
#ifndef CM_TESTS_FIXTURE_HOME_H
#define CM_TESTS_FIXTURE_HOME_H

#include "ca/ca.h"

#include <stddef.h>

struct fixture_home {
    char base[256]; /* the private folder: the home and the passphrase file */
    char home[300]; /* base/ca */
    ca_t *handle;   /* open from fixture_home_open to fixture_home_close */
};

/* Makes and opens the home: base in $TMPDIR (else /tmp) named after tag,
 * the root's subject CN=subject_cn. Registers the exit modules first (as
 * every binary that opens a home does). -1 on failure (cm_err_msg() says
 * why when the core failed). */
int fixture_home_open(struct fixture_home *f, const char *tag, const char *subject_cn,
                      size_t sessions);
/* Closes the handle and removes the folder. NULL-safe. */
void fixture_home_close(struct fixture_home *f);

/* A DER PKCS#10 request for CN=cn with subjectAltName DNS:cn on a fresh
 * EC P-256 key; *len its length. NULL on failure. Free with OPENSSL_free. */
unsigned char *fixture_csr(size_t *len, const char *cn);

#endif
