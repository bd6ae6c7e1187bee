/* certmint revoke, unrevoke, import-cert, placeholder. */
#include "cli/commands.h"

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIALS 10000000

const char cmd_revoke_usage[] =
    "certmint revoke SERIAL[,SERIAL...] [REASON] [--effective DATE] [--invalidity DATE]\n"
    "certmint revoke --from-file FILE [REASON] ...\n"
    "\n"
    "Revokes certificates by serial number (hex, with or without colons or spaces, any\n"
    "case). REASON (RFC 5280 5.3.1) by name or code, default unspecified:\n"
    "  0 unspecified  1 keyCompromise  2 cACompromise  3 affiliationChanged  4 superseded\n"
    "  5 cessationOfOperation  6 certificateHold  9 privilegeWithdrawn  10 aACompromise\n"
    "  --effective DATE    revocation date on the CRL (default now)\n"
    "  --invalidity DATE   when the key is known or suspected compromised (RFC 5280 5.3.2)\n"
    "  --from-file FILE    one serial per line (# comments); all in one transaction\n"
    "  --format F          table (default) or json: {\"revoked\":N,\"duplicates\":N,\n"
    "                      \"reason\",\"serials\":[..]} (each serial once, sorted)\n"
    "Dates: YYYY-MM-DD[ HH:MM[:SS]] UTC, or @UNIXTIME, between 1970 and 9999.\n"
    "A list is all or nothing: every serial that cannot be revoked (not a serial number,\n"
    "not in the database, already revoked) is reported on its own line and then none is\n"
    "revoked (exit 1). A serial listed twice, in any spelling, is revoked once and\n"
    "reported as a duplicate.\n";

static void serials_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Splits text (modified in place) at any of seps into trimmed, non-empty
 * items, skipping "#" comment lines when comments is set. `what` names the
 * input in errors. */
static cm_err split_serials(char ***out, size_t *n, char *text, const char *seps, int comments,
                            const char *what)
{
    cm_err rc = CM_OK;
    char *tok, *save = NULL;
    char **v = NULL;
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    for (tok = strtok_r(text, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
        char *t = text_trim(tok);
        if (*t == '\0' || (comments && *t == '#'))
            continue;
        if (*n == cap) {
            char **nv;
            if (cap >= MAX_SERIALS)
                CM_FAIL(CM_ERR_INVALID, "%s: more than %d serials", what, MAX_SERIALS);
            cap = cap ? cap * 2 : 64;
            nv = realloc(v, cap * sizeof(*v));
            CM_NOMEM_IF(nv == NULL);
            v = nv;
        }
        v[*n] = strdup(t);
        CM_NOMEM_IF(v[*n] == NULL);
        (*n)++;
    }
    if (*n == 0)
        CM_FAIL(CM_ERR_INVALID, "%s: no serial numbers", what);
    *out = v;
    v = NULL;
out:
    if (v != NULL) {
        serials_free(v, *n);
        *n = 0;
    }
    return rc;
}

static cm_err read_serial_file(char ***out, size_t *n, const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    cm_err rc = fs_read_file(&data, &len, path, (size_t)1 << 30);
    if (rc == CM_OK)
        rc = split_serials(out, n, (char *)data, "\n", 1, path);
    free(data);
    return rc;
}

static cm_err parse_serial_list(char ***out, size_t *n, const char *arg)
{
    char *copy = strdup(arg);
    cm_err rc;
    if (copy == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    rc = split_serials(out, n, copy, ",", 0, arg);
    free(copy);
    return rc;
}

static int canon_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* revoke's JSON report: the serials in canonical form, each once. */
static cm_err revoke_json(char **serials, size_t n, int reason, const struct ca_revoke_report *rep)
{
    cm_buf b = CM_BUF_INIT(64 * 1024 * 1024);
    char(*canon)[CM_SERIAL_BUF] = NULL;
    int first = 1;
    cm_err rc = CM_OK;

    canon = calloc(n ? n : 1, sizeof(*canon));
    CM_NOMEM_IF(canon == NULL);
    for (size_t i = 0; i < n; i++)
        CM_TRY(text_serial_canon(canon[i], serials[i]));
    qsort(canon, n, sizeof(*canon), canon_cmp);
    CM_TRY(buf_append_str(&b, "{"));
    CM_TRY(json_append_kv_int(&b, &first, "revoked", (long long)rep->revoked));
    CM_TRY(json_append_kv_int(&b, &first, "duplicates", (long long)rep->duplicates));
    CM_TRY(json_append_kv(&b, &first, "reason", db_reason_name(reason)));
    CM_TRY(buf_append_str(&b, ",\"serials\":["));
    for (size_t i = 0, k = 0; i < n; i++) {
        if (i > 0 && strcmp(canon[i], canon[i - 1]) == 0)
            continue;
        CM_TRY(buf_append_str(&b, k++ ? "," : ""));
        CM_TRY(json_append_string(&b, canon[i]));
    }
    CM_TRY(buf_append_str(&b, "]}"));
out:
    free(canon);
    return cli_json_write(&b, rc);
}

/* A revocation date: text_parse_time, then the range a CRL can carry
 * (1970 to 9999; RFC 5280 4.1.2.5 times, 5.1.2.6 revocationDate). */
static cm_err parse_rev_date(int64_t *out, const char *arg, const char *opt)
{
    cm_err rc = text_parse_time(out, arg);
    if (rc != CM_OK)
        return cm_err_prefix(rc, "%s", opt);
    if (*out <= 0 || *out > 253402300799LL)
        return cm_err_set(CM_ERR_INVALID,
                          "%s '%s': must be after 1970-01-01 and before 10000-01-01", opt, arg);
    return CM_OK;
}

/* One line per duplicate (stdout: it was revoked) or refused serial
 * (stderr: the run fails). */
static void print_note(void *ctx, const char *serial, enum ca_revoke_note kind, const char *msg)
{
    const int *json = ctx;
    (void)serial;
    /* With --format json standard output carries the document alone. */
    if (kind == CA_REVOKE_DUPLICATE && !*json)
        printf("duplicate: %s\n", msg);
    else if (kind == CA_REVOKE_DUPLICATE)
        fprintf(stderr, "certmint: duplicate: %s\n", msg);
    else
        fprintf(stderr, "certmint: %s\n", msg);
}

int cmd_revoke(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from-file", required_argument, NULL, 'f'},
        {"effective", required_argument, NULL, 'e'},
        {"invalidity", required_argument, NULL, 'i'},
        {"reason", required_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    enum cli_format fmt = CLI_FMT_TEXT;
    int json = 0;
    const char *from = NULL, *reason_s = NULL;
    int64_t effective = 0, invalidity = 0;
    char **serials = NULL;
    size_t n = 0;
    struct ca_revoke_report rep = {0};
    ca_ctx *ca = NULL;
    int ch, reason = 0, nargs;
    cm_err rc = CM_OK;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'f':
            from = optarg;
            break;
        case 'e':
            if ((rc = parse_rev_date(&effective, optarg, "--effective")) != CM_OK)
                return cli_fail(rc);
            break;
        case 'i':
            if ((rc = parse_rev_date(&invalidity, optarg, "--invalidity")) != CM_OK)
                return cli_fail(rc);
            break;
        case 'r':
            reason_s = optarg;
            break;
        case 'F':
            if (cli_parse_format(&fmt, optarg) != 0)
                return 2;
            break;
        default:
            return cli_usage_error("revoke: see 'certmint help revoke'");
        }
    }
    nargs = argc - optind;
    if (from != NULL) {
        if (nargs > 1)
            return cli_usage_error("revoke --from-file: only a REASON may follow");
        if (nargs == 1)
            reason_s = argv[optind];
    } else {
        if (nargs < 1 || nargs > 2)
            return cli_usage_error("revoke: usage: certmint revoke SERIAL[,SERIAL...] [REASON]");
        if (nargs == 2)
            reason_s = argv[optind + 1];
    }
    if (reason_s != NULL) {
        reason = db_reason_parse(reason_s);
        if (reason < 0 || reason == DB_REASON_REMOVE_FROM_CRL)
            return cli_fail(reason < 0
                                ? CM_ERR_INVALID
                                : cm_err_set(CM_ERR_INVALID,
                                             "reason removeFromCRL is only used in delta "
                                             "CRLs; use 'certmint unrevoke' to release a hold"));
    }
    if (from != NULL)
        rc = read_serial_file(&serials, &n, from);
    else
        rc = parse_serial_list(&serials, &n, argv[optind]);
    if (rc != CM_OK)
        return cli_fail(rc);
    json = fmt == CLI_FMT_JSON;
    rep.note = print_note;
    rep.note_ctx = &json;
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(
        ca_revoke_list(ca, (const char *const *)serials, n, reason, effective, invalidity, &rep));
    cli_deliver(ca);
    if (fmt == CLI_FMT_JSON) {
        rc = revoke_json(serials, n, reason, &rep);
        goto out;
    }
    printf("revoked %zu certificate%s (%s)\n", rep.revoked, rep.revoked == 1 ? "" : "s",
           db_reason_name(reason));
out:
    serials_free(serials, n);
    cli_close_ca(ca);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

const char cmd_unrevoke_usage[] =
    "certmint unrevoke SERIAL\n"
    "\n"
    "Releases a certificate from hold (reason certificateHold): it leaves the next full\n"
    "CRL and appears as removeFromCRL in the next delta CRL. Other reasons are final.\n";

int cmd_unrevoke(const struct cli_global *g, int argc, char **argv)
{
    ca_ctx *ca = NULL;
    char canon[CM_SERIAL_BUF];
    cm_err rc;

    if (argc != 2)
        return cli_usage_error("unrevoke: usage: certmint unrevoke SERIAL");
    if ((rc = text_serial_canon(canon, argv[1])) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = ca_unrevoke(ca, canon);
    if (rc == CM_OK)
        cli_deliver(ca);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("released %s from hold\n", canon);
    return 0;
}

const char cmd_import_cert_usage[] =
    "certmint import-cert FILE\n"
    "\n"
    "Adds a certificate this CA signed (PEM or DER) that the database lacks, e.g. one issued\n"
    "after the last backup. Its signature must verify with this CA's key. A placeholder\n"
    "recorded for its serial is filled with it (its revocation stays); any other serial\n"
    "already in the database is refused.\n";

int cmd_import_cert(const struct cli_global *g, int argc, char **argv)
{
    ca_ctx *ca = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    char serial[CM_SERIAL_BUF];
    cm_err rc;

    if (argc != 2)
        return cli_usage_error("import-cert: usage: certmint import-cert FILE");
    if ((rc = fs_read_file(&data, &len, argv[1], CA_MAX_CERT_BYTES)) != CM_OK)
        return cli_fail(rc);
    rc = cli_open_ca(&ca, g, 0);
    if (rc == CM_OK)
        rc = ca_import_cert(ca, data, len, argv[1], NULL, serial);
    if (rc == CM_OK)
        cli_deliver(ca);
    cli_close_ca(ca);
    free(data);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("imported %s\n", serial);
    return 0;
}

const char cmd_placeholder_usage[] =
    "certmint placeholder SERIAL [--subject DN] [--not-after DATE]\n"
    "\n"
    "Records a bare serial number of a certificate this CA issued but the database lacks,\n"
    "so that it can be revoked and listed on CRLs (the job AD CS needs a forged dummy\n"
    "certificate for).\n";

int cmd_placeholder(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"subject", required_argument, NULL, 's'},
                                         {"not-after", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    const char *subject = NULL;
    int64_t not_after = 0;
    ca_ctx *ca = NULL;
    char canon[CM_SERIAL_BUF];
    int ch;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 's':
            subject = optarg;
            break;
        case 'n':
            if ((rc = text_parse_time(&not_after, optarg)) != CM_OK)
                return cli_fail(cm_err_prefix(rc, "--not-after"));
            break;
        default:
            return cli_usage_error("placeholder: see 'certmint help placeholder'");
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("placeholder: usage: certmint placeholder SERIAL [--subject DN]");
    if ((rc = text_serial_canon(canon, argv[optind])) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = ca_placeholder(ca, canon, subject, not_after, NULL);
    if (rc == CM_OK)
        cli_deliver(ca);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("recorded placeholder %s\n", canon);
    return 0;
}
