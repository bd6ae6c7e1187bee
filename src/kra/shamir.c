/* Shamir secret sharing of a content key with libgfshare (GF(2^8), one
 * polynomial per byte). libgfshare draws the polynomial's coefficients
 * through the global gfshare_fill_rand, NULL until set; its fallback uses
 * random(), which is predictable: we install a RAND_bytes filler once
 * (pthread_once: the only process-wide state, written once). */
#include "kra/kra.h"

#include <libgfshare.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static pthread_once_t fill_once = PTHREAD_ONCE_INIT;

/* gfshare's filler cannot report failure: without randomness a share
 * would leak the secret, so a CSPRNG failure ends the process. */
static void fill_csprng(unsigned char *buf, unsigned int n)
{
    if (RAND_bytes(buf, (int)n) != 1)
        abort();
}

static void fill_install(void)
{
    gfshare_fill_rand = fill_csprng;
}

cm_err kra_split(unsigned char shares[][KRA_SHARE_LEN], const unsigned char *secret, unsigned n,
                 unsigned m)
{
    unsigned char xs[KRA_MAX_AGENTS], sec[KRA_KEY_LEN];
    gfshare_ctx *g = NULL;

    if (m < 1 || n < m || n > KRA_MAX_AGENTS)
        return cm_err_set(CM_ERR_INVALID,
                          "key split: %u of %u shares is not possible (1 <= M <= N <= %d)", m, n,
                          KRA_MAX_AGENTS);
    pthread_once(&fill_once, fill_install);
    for (unsigned i = 0; i < n; i++)
        xs[i] = (unsigned char)(i + 1);
    g = gfshare_ctx_init_enc(xs, n, (unsigned char)m, KRA_KEY_LEN);
    if (g == NULL)
        return cm_err_set(CM_ERR_NOMEM, "key split: out of memory");
    memcpy(sec, secret, KRA_KEY_LEN); /* the library's parameter is not const */
    gfshare_ctx_enc_setsecret(g, sec);
    for (unsigned i = 0; i < n; i++)
        gfshare_ctx_enc_getshare(g, (unsigned char)i, shares[i]);
    OPENSSL_cleanse(sec, sizeof(sec));
    gfshare_ctx_free(g); /* wipes its coefficients */
    return CM_OK;
}

cm_err kra_combine(unsigned char secret[KRA_KEY_LEN], const unsigned char *xs,
                   const unsigned char shares[][KRA_SHARE_LEN], unsigned k)
{
    unsigned char x[KRA_MAX_AGENTS], sh[KRA_SHARE_LEN];
    gfshare_ctx *g = NULL;

    if (k < 1 || k > KRA_MAX_AGENTS)
        return cm_err_set(CM_ERR_INVALID, "key combine: %u shares given (1 to %d)", k,
                          KRA_MAX_AGENTS);
    for (unsigned i = 0; i < k; i++) {
        if (xs[i] == 0)
            return cm_err_set(CM_ERR_INVALID, "key combine: share number 0 is not a share");
        for (unsigned j = 0; j < i; j++)
            if (xs[j] == xs[i])
                return cm_err_set(CM_ERR_INVALID, "key combine: share %u given twice", xs[i]);
        x[i] = xs[i];
    }
    /* gfshare_ctx_free scrambles the context through the filler too. */
    pthread_once(&fill_once, fill_install);
    g = gfshare_ctx_init_dec(x, k, KRA_KEY_LEN);
    if (g == NULL)
        return cm_err_set(CM_ERR_NOMEM, "key combine: out of memory");
    for (unsigned i = 0; i < k; i++) {
        memcpy(sh, shares[i], KRA_SHARE_LEN);
        gfshare_ctx_dec_giveshare(g, (unsigned char)i, sh);
    }
    gfshare_ctx_dec_extract(g, secret);
    OPENSSL_cleanse(sh, sizeof(sh));
    gfshare_ctx_free(g);
    return CM_OK;
}
