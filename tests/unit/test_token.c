/* Unit tests of the enrollment tokens core (src/ca/token.c) on a fixture
 * CA: the per-client-address limit (20 failures in the hour refuse that
 * address, another address goes on), the binding replacing what the CSR
 * asks, single use, revoke. The mail and the command line are
 * tests/e2e/tokens.sh. */
#include "fixture_ca.h"
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

static char tmpdir[] = "/tmp/cm-test-token.XXXXXX";

/* A DER CSR for a fresh P-256 key asking for CN=asked. */
static unsigned char *make_csr(size_t *len)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *r = X509_REQ_new();
    unsigned char *der = NULL;
    int n;

    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
                               (const unsigned char *)"asked", -1, -1, 0);
    X509_REQ_set_pubkey(r, k);
    X509_REQ_sign(r, k, EVP_sha256());
    n = i2d_X509_REQ(r, &der);
    *len = n > 0 ? (size_t)n : 0;
    X509_REQ_free(r);
    EVP_PKEY_free(k);
    return der;
}

static int redeem(ca_ctx *ca, const char *token, const char *addr, struct ca_submission *s)
{
    unsigned char *csr = NULL;
    size_t len = 0;
    cm_err rc;

    memset(s, 0, sizeof(*s));
    csr = make_csr(&len);
    rc = ca_token_redeem(s, ca, token, csr, len, addr);
    OPENSSL_free(csr);
    return rc;
}

TEST(address_limit_and_binding)
{
    ca_ctx *ca = open_test_ca(tmpdir);
    struct ca_token_opts o = {"alice@example.org", "smime", "CN=Alice,O=Example", NULL, 3600};
    char id[17], token[CA_TOKEN_MAX], wrong[CA_TOKEN_MAX];
    int64_t exp = 0;
    struct ca_submission s;
    X509 *x = NULL;
    const unsigned char *p;

    CHECK_OK(ca_token_issue(id, token, &exp, ca, &o));
    CHECK(strncmp(token, "cmt1.", 5) == 0 && strlen(token) == 86);
    snprintf(wrong, sizeof(wrong), "%s", token);
    wrong[85] = wrong[85] == '0' ? '1' : '0';
    /* 4 wrong tries against the token from one address, 16 with unknown
     * IDs: 20 failures, the address is refused even with the right token. */
    for (int i = 0; i < 4; i++)
        CHECK_ERR(redeem(ca, wrong, "192.0.2.7", &s), CM_ERR_AUTH);
    for (int i = 0; i < 16; i++) {
        char other[CA_TOKEN_MAX];
        snprintf(other, sizeof(other), "cmt1.%016x.%s", i, token + 22);
        CHECK_ERR(redeem(ca, other, "192.0.2.7", &s), CM_ERR_AUTH);
    }
    CHECK_ERR(redeem(ca, token, "192.0.2.7", &s), CM_ERR_AUTH);
    CHECK(strstr(cm_err_msg(), "too many failed") != NULL);
    ca_submission_clear(&s);
    /* Another address: the token (4 failures, under 5) still works. */
    CHECK_OK(redeem(ca, token, "198.51.100.1", &s));
    CHECK_INT(s.disposition, DB_DISP_ISSUED);
    p = s.cert_der;
    x = p ? d2i_X509(NULL, &p, (long)s.cert_der_len) : NULL;
    CHECK(x != NULL);
    if (x != NULL) {
        char *subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
        CHECK_STR(subj, "/O=Example/CN=Alice"); /* the binding (RFC 4514 order), not "asked" */
        OPENSSL_free(subj);
    }
    X509_free(x);
    ca_submission_clear(&s);
    CHECK_ERR(redeem(ca, token, "198.51.100.1", &s), CM_ERR_AUTH); /* used */
    ca_submission_clear(&s);
    CHECK_ERR(ca_token_revoke(ca, id), CM_ERR_STATE);
    close_test_ca(ca);
}

int main(void)
{
    unit_suite = "token";
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    RUN(address_limit_and_binding);
    return UNIT_DONE();
}
