/* A private SoftHSM2 token for the unit tests of the PKCS#11 key backend
 * (test_key_pkcs11, test_key_decrypt): a temp folder (0700) with its own
 * softhsm2.conf (SOFTHSM2_CONF is set to it), a PIN file (0600) and one
 * token labelled "unit" made by softhsm2-util. Built once
 * (fixture_token.c) and linked into each test that uses it (Makefile). */
#ifndef CM_TESTS_FIXTURE_TOKEN_H
#define CM_TESTS_FIXTURE_TOKEN_H

#include <stddef.h>

#define FIXTURE_TOKEN_MODULE "/usr/lib/softhsm/libsofthsm2.so"

struct fixture_token {
    char dir[256];      /* the token folder; "" until made */
    char pin_path[300]; /* dir/pin */
};

/* Makes the token: folder in /tmp named after tag; reset_on_fork sets
 * SoftHSM's library.reset_on_fork (a child of fork() opens its own
 * session). 0 when softhsm2 is not installed or the token could not be
 * made (the caller skips, saying so), 1 when it is ready. */
int fixture_token_open(struct fixture_token *t, const char *tag, int reset_on_fork);
/* The RFC 7512 URI of `object` in the token, PIN from the PIN file. */
void fixture_token_uri(char *uri, size_t urisz, const struct fixture_token *t, const char *object);
/* Removes the folder. NULL-safe; a token never made is left alone. */
void fixture_token_close(struct fixture_token *t);

#endif
