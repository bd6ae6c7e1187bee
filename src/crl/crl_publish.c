/* Publishing the CA's CRLs: one database transaction around crl_build().
 *
 * Kept apart from the encoder (crl.c) so that programs using only
 * crl_build() do not pull in the database, configuration and exit modules. */
#include "crl/crl.h"
#include "event/event.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <assert.h>
#include <inttypes.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct db_iter {
    db_t *db;
    int64_t since_seq;
};

static cm_err db_iter_fn(void *ctx, db_revoked_cb cb, void *cb_ctx)
{
    struct db_iter *it = ctx;
    return db_revoked_iter(it->db, it->since_seq, cb, cb_ctx);
}

/* Appends s as a JSON string (RFC 8259 7): quotes, backslashes and control
 * characters escaped. */
static cm_err json_str(cm_buf *b, const char *s)
{
    cm_err rc = buf_append(b, "\"", 1);
    for (; rc == CM_OK && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = buf_printf(b, "\\u%04x", c);
        else
            rc = buf_append(b, s, 1);
    }
    if (rc == CM_OK)
        rc = buf_append(b, "\"", 1);
    return rc;
}

/* The last value of the revocation change sequence (0 when nothing was
 * ever revoked). Read inside the CRL's transaction, so it matches the
 * entries. */
static cm_err current_rev_seq(int64_t *out, db_t *db)
{
    return db_counter_get(db, out, DB_COUNTER_REV_SEQ);
}

cm_err crl_publish(struct crl_result *out, ca_ctx *ca, int delta)
{
    cm_err rc = CM_OK;
    struct crl_output o = CRL_OUTPUT_INIT;
    struct crl_params p;
    struct db_crl *last_full = NULL, *last_delta = NULL, row;
    struct db_audit a;
    struct db_iter it;
    unsigned char *issuer = NULL;
    int issuer_len, in_tx = 0;
    int64_t period = 0, delta_period = 0, number = 0, rev_seq = 0, now;
    const char *freshest = NULL;
    char freshest_buf[2048];
    char crldir[PATH_MAX], der_path[PATH_MAX], pem_path[PATH_MAX], hash[65];
    char this_s[32], next_s[32];
    cm_buf payload = CM_BUF_INIT(16384), details = CM_BUF_INIT(4096);

    assert(out != NULL && ca != NULL && ca->db != NULL && ca->cfg != NULL);
    assert(ca->key != NULL); /* the caller runs ca_load_key() first */
    memset(out, 0, sizeof(*out));
    memset(&p, 0, sizeof(p));
    delta = delta != 0;
    if (ca->cert == NULL)
        CM_FAIL(CM_ERR_STATE, "%s: the CA has no certificate yet (install-ca-cert first)",
                ca->home);
    CM_TRY(config_get_seconds(ca->cfg, "crl.period", &period));
    CM_TRY(config_get_seconds(ca->cfg, "crl.delta_period", &delta_period));
    if (period <= 0)
        CM_FAIL(CM_ERR_CONFIG, "crl.period must be longer than 0 seconds");
    if (delta && delta_period <= 0)
        CM_FAIL(CM_ERR_CONFIG, "delta CRLs are disabled (crl.delta_period is 0): set "
                               "crl.delta_period to publish them");
    /* 5.2.6: a complete CRL points to its deltas, when there are any. */
    if (!delta && delta_period > 0) {
        CM_TRY(config_public_url(freshest_buf, sizeof(freshest_buf), ca->cfg,
                                 "crl.delta_cdp_url"));
        if (freshest_buf[0] != '\0')
            freshest = freshest_buf;
    }

    /* 5.1.2.3: the CRL issuer is the CA certificate's subject, byte for
     * byte, so that relying parties match it to the certificate. */
    issuer_len = i2d_X509_NAME(X509_get_subject_name(ca->cert), &issuer);
    if (issuer_len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encode the CA certificate's subject", ca->home);
    p.issuer_der = issuer;
    p.issuer_len = (size_t)issuer_len;
    p.aki_keyid = ca->ski;
    p.aki_keyid_len = ca->ski_len;
    if (p.aki_keyid_len == 0) {
        const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(ca->cert);
        if (skid != NULL) {
            p.aki_keyid = ASN1_STRING_get0_data(skid);
            p.aki_keyid_len = (size_t)ASN1_STRING_length(skid);
        }
    }
    p.key = ca->signer;
    p.is_delta = delta;
    p.freshest_url = freshest;

    CM_TRY(fs_join(crldir, sizeof(crldir), ca->home, CA_CRL_DIR));
    CM_TRY(fs_join(der_path, sizeof(der_path), crldir, delta ? CRL_DELTA_DER : CRL_FULL_DER));
    CM_TRY(fs_join(pem_path, sizeof(pem_path), crldir, delta ? CRL_DELTA_PEM : CRL_FULL_PEM));
    /* Before the transaction: a CRL is never recorded for want of a folder. */
    CM_TRY(fs_mkdirs(crldir, 0755));

    CM_TRY(db_begin(ca->db));
    in_tx = 1;
    CM_TRY(db_crl_last(ca->db, &last_full, 0));
    CM_TRY(db_crl_last(ca->db, &last_delta, 1));
    if (delta && last_full == NULL)
        CM_FAIL(CM_ERR_STATE, "no full CRL has been published yet, and a delta CRL needs one "
                              "to build on: run 'certmint crl' first");
    /* 5.2.3: one monotonically increasing sequence for full and delta CRLs;
     * the counter never goes back, also after a restore that raised it. */
    CM_TRY(db_counter_next(ca->db, &number, "crl_number"));
    p.number = number;
    p.last_number = last_full ? last_full->number : 0;
    if (last_delta && last_delta->number > p.last_number)
        p.last_number = last_delta->number;
    CM_TRY(current_rev_seq(&rev_seq, ca->db));
    now = (int64_t)time(NULL);
    p.this_update = now;
    p.next_update = now + (delta ? delta_period : period);
    it.db = ca->db;
    if (delta) {
        /* 5.2.4: the delta lists what changed since its base, the last
         * complete CRL, and names that CRL's number. */
        p.base_number = last_full->number;
        it.since_seq = last_full->rev_seq;
    } else {
        it.since_seq = -1;
    }
    CM_TRY(crl_build(&o, &p, db_iter_fn, &it));

    text_hex(hash, o.sha256, sizeof(o.sha256));
    memset(&row, 0, sizeof(row));
    row.number = number;
    row.is_delta = delta;
    row.base_number = p.base_number;
    row.this_update = p.this_update;
    row.next_update = p.next_update;
    row.rev_seq = rev_seq;
    row.entries = o.entries;
    row.hash = hash;
    CM_TRY(db_crl_insert(ca->db, &row));

    text_format_time(this_s, sizeof(this_s), p.this_update);
    text_format_time(next_s, sizeof(next_s), p.next_update);
    CM_TRY(buf_printf(&details, "CRL %" PRId64 " (%s): %" PRId64 " entries, next update %s UTC",
                      number, delta ? "delta" : "full", o.entries, next_s));
    if (delta)
        CM_TRY(buf_printf(&details, ", base CRL %" PRId64, p.base_number));
    CM_TRY(buf_printf(&details, ", sha256 %s", hash));
    memset(&a, 0, sizeof(a));
    a.when = now;
    a.who = ca->operator_name ? ca->operator_name : "service";
    a.action = "crl";
    a.details = buf_str(&details);
    CM_TRY(db_audit_append(ca->db, &a));

    CM_TRY(buf_printf(&payload, "{\"crl_number\":%" PRId64 ",\"delta\":%s", number,
                      delta ? "true" : "false"));
    if (delta)
        CM_TRY(buf_printf(&payload, ",\"base_crl_number\":%" PRId64, p.base_number));
    CM_TRY(buf_printf(&payload,
                      ",\"entries\":%" PRId64 ",\"this_update\":\"%s\",\"next_update\":\"%s\""
                      ",\"sha256\":\"%s\",\"size\":%zu,\"der_path\":",
                      o.entries, this_s, next_s, hash, o.der_len));
    CM_TRY(json_str(&payload, der_path));
    CM_TRY(buf_append_str(&payload, ",\"pem_path\":"));
    CM_TRY(json_str(&payload, pem_path));
    CM_TRY(buf_append_str(&payload, "}"));
    CM_TRY(exit_raise(ca->db, EXIT_EV_CRLISSUED, 0, NULL, buf_str(&payload)));

    CM_TRY(db_commit(ca->db));
    in_tx = 0;

    /* The files follow the commit: a CRL number that a failed commit gave
     * back must never have been published, or two different CRLs would
     * carry it (5.2.3). A crash here leaves the previous files in place and
     * the next run issues a higher number. */
    rc = crl_output_write(&o, der_path, pem_path, 0644);
    if (rc != CM_OK) {
        rc = cm_err_prefix(rc,
                           "CRL %" PRId64 " was recorded but its files were not written "
                           "(run 'certmint crl%s' again)",
                           number, delta ? " --delta" : "");
        goto out;
    }

    out->number = number;
    out->is_delta = delta;
    out->base_number = p.base_number;
    out->entries = o.entries;
    out->this_update = p.this_update;
    out->next_update = p.next_update;
    out->der_size = o.der_len;
    memcpy(out->sha256_hex, hash, sizeof(hash));
    snprintf(out->der_path, sizeof(out->der_path), "%s", der_path);
    snprintf(out->pem_path, sizeof(out->pem_path), "%s", pem_path);
out:
    if (in_tx)
        db_rollback(ca->db);
    crl_output_free(&o);
    db_crl_free(last_full);
    db_crl_free(last_delta);
    OPENSSL_free(issuer);
    buf_free(&payload);
    buf_free(&details);
    return rc;
}
