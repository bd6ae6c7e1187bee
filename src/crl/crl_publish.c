/* Publishing the CA's CRLs: one database transaction around crl_build().
 *
 * Kept apart from the encoder (crl.c) so that programs using only
 * crl_build() do not pull in the database, configuration and exit modules. */
#include "crl/crl.h"
#include "ca/ca_int.h"
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

/* The CRL periods, checked, and for a complete CRL the URL of its deltas
 * (5.2.6), NULL when there is none. */
static cm_err publish_settings(ca_ctx *ca, int delta, int64_t *period, int64_t *delta_period,
                               char *freshest_buf, size_t freshest_sz, const char **freshest)
{
    cm_err rc = CM_OK;

    CM_TRY(config_get_seconds(ca->cfg, "crl.period", period));
    CM_TRY(config_get_seconds(ca->cfg, "crl.delta_period", delta_period));
    if (*period <= 0)
        CM_FAIL(CM_ERR_CONFIG, "crl.period must be longer than 0 seconds");
    if (delta && *delta_period <= 0)
        CM_FAIL(CM_ERR_CONFIG, "delta CRLs are disabled (crl.delta_period is 0): set "
                               "crl.delta_period to publish them");
    /* 5.2.6: a complete CRL points to its deltas, when there are any. */
    if (!delta && *delta_period > 0) {
        CM_TRY(config_public_url(freshest_buf, freshest_sz, ca->cfg, "crl.delta_cdp_url"));
        if (freshest_buf[0] != '\0')
            *freshest = freshest_buf;
    }
out:
    return rc;
}

/* Fills p's issuer and authority key identifier from the CA certificate;
 * p->issuer_der points into *issuer, which the caller frees
 * (OPENSSL_free). */
static cm_err publish_issuer(struct crl_params *p, unsigned char **issuer, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    int issuer_len;

    /* 5.1.2.3: the CRL issuer is the CA certificate's subject, byte for
     * byte, so that relying parties match it to the certificate. */
    issuer_len = i2d_X509_NAME(X509_get_subject_name(ca->cert), issuer);
    if (issuer_len <= 0)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "%s: cannot encode the CA certificate's subject", ca->home);
    p->issuer_der = *issuer;
    p->issuer_len = (size_t)issuer_len;
    p->aki_keyid = ca->ski;
    p->aki_keyid_len = ca->ski_len;
    if (p->aki_keyid_len == 0) {
        const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(ca->cert);
        if (skid != NULL) {
            p->aki_keyid = ASN1_STRING_get0_data(skid);
            p->aki_keyid_len = (size_t)ASN1_STRING_length(skid);
        }
    }
out:
    return rc;
}

/* Inside the CRL's transaction: takes the next CRL number into p and sets
 * what the CRL lists: a delta the changes since its base (*since_seq), a
 * complete CRL everything (-1). */
static cm_err publish_number(struct crl_params *p, int64_t *since_seq, db_t *db, int delta)
{
    cm_err rc = CM_OK;
    struct db_crl *last_full = NULL, *last_delta = NULL;
    int64_t number = 0;

    CM_TRY(db_crl_last(db, &last_full, 0));
    CM_TRY(db_crl_last(db, &last_delta, 1));
    if (delta && last_full == NULL)
        CM_FAIL(CM_ERR_STATE, "no full CRL has been published yet, and a delta CRL needs one "
                              "to build on: run 'certmint crl' first");
    /* 5.2.3: one monotonically increasing sequence for full and delta CRLs;
     * the counter never goes back, also after a restore that raised it. */
    CM_TRY(db_counter_next(db, &number, "crl_number"));
    p->number = number;
    p->last_number = last_full ? last_full->number : 0;
    if (last_delta && last_delta->number > p->last_number)
        p->last_number = last_delta->number;
    if (delta) {
        /* 5.2.4: the delta lists what changed since its base, the last
         * complete CRL, and names that CRL's number. */
        p->base_number = last_full->number;
        *since_seq = last_full->rev_seq;
    } else {
        *since_seq = -1;
    }
out:
    db_crl_free(last_full);
    db_crl_free(last_delta);
    return rc;
}

/* Inside the CRL's transaction: the CRL's row and its audit record. */
static cm_err publish_record(ca_ctx *ca, const struct crl_output *o, const struct crl_params *p,
                             int64_t rev_seq, char *hash, const char *next_s)
{
    cm_err rc = CM_OK;
    struct db_crl row;
    struct db_audit a;
    cm_buf details = CM_BUF_INIT(4096);

    memset(&row, 0, sizeof(row));
    row.number = p->number;
    row.is_delta = p->is_delta;
    row.base_number = p->base_number;
    row.this_update = p->this_update;
    row.next_update = p->next_update;
    row.rev_seq = rev_seq;
    row.entries = o->entries;
    row.hash = hash;
    CM_TRY(db_crl_insert(ca->db, &row));

    CM_TRY(buf_printf(&details, "CRL %" PRId64 " (%s): %" PRId64 " entries, next update %s UTC",
                      p->number, p->is_delta ? "delta" : "full", o->entries, next_s));
    if (p->is_delta)
        CM_TRY(buf_printf(&details, ", base CRL %" PRId64, p->base_number));
    CM_TRY(buf_printf(&details, ", sha256 %s", hash));
    memset(&a, 0, sizeof(a));
    a.when = p->this_update;
    a.who = ca->operator_name ? ca->operator_name : "service";
    a.action = "crl";
    a.details = buf_str(&details);
    CM_TRY(db_audit_append(ca->db, &a));
out:
    buf_free(&details);
    return rc;
}

/* Inside the CRL's transaction: the crlissued exit event, its payload a
 * JSON object describing the CRL and its files. */
static cm_err publish_event(ca_ctx *ca, const struct crl_output *o, const struct crl_params *p,
                            const char *hash, const char *this_s, const char *next_s,
                            const char *der_path, const char *pem_path)
{
    cm_err rc = CM_OK;
    cm_buf payload = CM_BUF_INIT(16384);

    CM_TRY(buf_printf(&payload, "{\"crl_number\":%" PRId64 ",\"delta\":%s", p->number,
                      p->is_delta ? "true" : "false"));
    if (p->is_delta)
        CM_TRY(buf_printf(&payload, ",\"base_crl_number\":%" PRId64, p->base_number));
    CM_TRY(buf_printf(&payload,
                      ",\"entries\":%" PRId64 ",\"this_update\":\"%s\",\"next_update\":\"%s\""
                      ",\"sha256\":\"%s\",\"size\":%zu,\"der_path\":",
                      o->entries, this_s, next_s, hash, o->der_len));
    CM_TRY(json_str(&payload, der_path));
    CM_TRY(buf_append_str(&payload, ",\"pem_path\":"));
    CM_TRY(json_str(&payload, pem_path));
    CM_TRY(buf_append_str(&payload, "}"));
    CM_TRY(exit_raise(ca->db, EXIT_EV_CRLISSUED, 0, NULL, buf_str(&payload)));
out:
    buf_free(&payload);
    return rc;
}

static void publish_result(struct crl_result *out, const struct crl_output *o,
                           const struct crl_params *p, const char *hash, const char *der_path,
                           const char *pem_path)
{
    out->number = p->number;
    out->is_delta = p->is_delta;
    out->base_number = p->base_number;
    out->entries = o->entries;
    out->this_update = p->this_update;
    out->next_update = p->next_update;
    out->der_size = o->der_len;
    memcpy(out->sha256_hex, hash, sizeof(out->sha256_hex));
    snprintf(out->der_path, sizeof(out->der_path), "%s", der_path);
    snprintf(out->pem_path, sizeof(out->pem_path), "%s", pem_path);
}

cm_err crl_publish(struct crl_result *out, ca_ctx *ca, int delta)
{
    cm_err rc = CM_OK;
    struct crl_output o = CRL_OUTPUT_INIT;
    struct crl_params p;
    struct db_iter it;
    unsigned char *issuer = NULL;
    int in_tx = 0;
    int64_t period = 0, delta_period = 0, rev_seq = 0, now;
    const char *freshest = NULL;
    char freshest_buf[2048];
    char crldir[PATH_MAX], der_path[PATH_MAX], pem_path[PATH_MAX], hash[65];
    char this_s[32], next_s[32];

    assert(out != NULL && ca != NULL && ca->db != NULL && ca->cfg != NULL);
    assert(ca->signer != NULL); /* the caller runs ca_load_key() first */
    memset(out, 0, sizeof(*out));
    memset(&p, 0, sizeof(p));
    delta = delta != 0;
    if (ca->cert == NULL)
        CM_FAIL(CM_ERR_STATE, "%s: the CA has no certificate yet (install-ca-cert first)",
                ca->home);
    CM_TRY(publish_settings(ca, delta, &period, &delta_period, freshest_buf,
                            sizeof(freshest_buf), &freshest));
    CM_TRY(publish_issuer(&p, &issuer, ca));
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
    it.db = ca->db;
    CM_TRY(publish_number(&p, &it.since_seq, ca->db, delta));
    CM_TRY(current_rev_seq(&rev_seq, ca->db));
    now = (int64_t)time(NULL);
    p.this_update = now;
    p.next_update = now + (delta ? delta_period : period);
    CM_TRY(crl_build(&o, &p, db_iter_fn, &it));

    text_hex(hash, o.sha256, sizeof(o.sha256));
    text_format_time(this_s, sizeof(this_s), p.this_update);
    text_format_time(next_s, sizeof(next_s), p.next_update);
    CM_TRY(publish_record(ca, &o, &p, rev_seq, hash, next_s));
    CM_TRY(publish_event(ca, &o, &p, hash, this_s, next_s, der_path, pem_path));

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
                           p.number, delta ? " --delta" : "");
        goto out;
    }
    publish_result(out, &o, &p, hash, der_path, pem_path);
out:
    if (in_tx)
        db_rollback(ca->db);
    crl_output_free(&o);
    OPENSSL_free(issuer);
    return rc;
}
