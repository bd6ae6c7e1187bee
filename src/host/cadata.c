/* certmonger's CA data operations for host certmonger-helper (certmonger's
 * doc/submit.txt; src/cadata.c there reads the answers): what a new or
 * renewed request must carry, and the CA's root certificates. */
#include "host/host.h"

#include "ca/ca.h"
#include "ca/profile.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* GET-NEW-REQUEST-REQUIREMENTS, GET-RENEW-REQUEST-REQUIREMENTS: the
 * variables certmonger must give the request, one a line: a subject unless
 * the profile drops it, a host name when the profile requires a DNS
 * subjectAltName, an address when it requires an rfc822Name. */
static cm_err requirements(cm_buf *out, ca_ctx *s, const char *profile)
{
    cm_err rc = CM_OK;
    struct profile *p = NULL;

    CM_TRY(profile_load(&p, ca_config(s), profile ? profile : "tls-server"));
    if (p->subject != PROFILE_SUBJECT_EMPTY)
        CM_TRY(buf_append_str(out, "CERTMONGER_REQ_SUBJECT\n"));
    if (p->require_san && (p->san_types & PROFILE_SAN_DNS) != 0)
        CM_TRY(buf_append_str(out, "CERTMONGER_REQ_HOSTNAME\n"));
    if (p->require_email)
        CM_TRY(buf_append_str(out, "CERTMONGER_REQ_EMAIL\n"));
out:
    profile_free(p);
    return rc;
}

/* FETCH-ROOTS: the self-signed top of the CA's chain as certmonger's first
 * list, a nickname line (its subject) then the PEM. certmonger reads a
 * second list (after a blank line) as other trusted roots, so the
 * intermediates of a subordinate CA are not offered there: they come with
 * every issued certificate's chain. */
static cm_err roots(cm_buf *out, ca_ctx *s)
{
    cm_err rc = CM_OK;
    char *pem = NULL, nick[256];
    BIO *in = NULL, *mem = NULL;
    X509 *x = NULL, *root = NULL;
    char *p = NULL;
    long n;

    CM_TRY(ca_cert_pem(&pem, s, 1));
    CM_NOMEM_IF((in = BIO_new_mem_buf(pem, -1)) == NULL);
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        if (X509_check_issued(x, x) == X509_V_OK) {
            X509_free(root);
            root = x;
        } else {
            X509_free(x);
        }
    }
    ERR_clear_error();
    if (root == NULL)
        CM_FAIL(CM_ERR_STATE, "the CA's chain has no self-signed root");
    X509_NAME_oneline(X509_get_subject_name(root), nick, sizeof(nick));
    CM_NOMEM_IF((mem = BIO_new(BIO_s_mem())) == NULL);
    if (PEM_write_bio_X509(mem, root) != 1)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "encoding the root");
    n = BIO_get_mem_data(mem, &p);
    CM_TRY(buf_printf(out, "%s\n", nick[0] == '/' ? nick + 1 : nick));
    CM_TRY(buf_append(out, p, (size_t)n));
out:
    BIO_free(mem);
    BIO_free(in);
    X509_free(root);
    free(pem);
    return rc;
}

int host_certmonger_is_cadata(const char *op)
{
    return strcmp(op, "GET-NEW-REQUEST-REQUIREMENTS") == 0 ||
           strcmp(op, "GET-RENEW-REQUEST-REQUIREMENTS") == 0 || strcmp(op, "FETCH-ROOTS") == 0;
}

cm_err host_certmonger_cadata(cm_buf *out, const char *op, ca_ctx *s, const char *profile)
{
    if (strcmp(op, "FETCH-ROOTS") == 0)
        return roots(out, s);
    return requirements(out, s, profile);
}
