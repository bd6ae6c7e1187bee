/* certmint submit, pending, approve, deny, retrieve. */
#include "cli/commands.h"

#include "util/fsutil.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char cmd_submit_usage[] =
    "certmint submit FILE... [--profile NAME] [--out PATH] [--requester NAME]\n"
    "\n"
    "Submits PKCS#10 requests (PEM or DER). Each request's signature is verified and the\n"
    "request is checked against the profile (default tls-server); the policy issues it,\n"
    "pends it for an officer (profile approval manual) or denies it, with a message.\n"
    "Prints one line per request: REQUEST-ID DISPOSITION SERIAL FILE [MESSAGE].\n"
    "  --out PATH   issued certificates as PEM: a file for one request, a directory for\n"
    "               several (named REQUEST-ID.pem)\n"
    "Several files are the batch path: committed in groups of submit.batch_group.\n"
    "A file that is not a valid, correctly signed request refuses the whole run and\n"
    "changes nothing. Exit status: 0 all issued or pending, 3 some denied, 1 error.\n"
    "Large batches run in worker processes (submit.workers) that die with submit; a batch\n"
    "that was killed is reported by the next submit: how many of its requests were\n"
    "recorded (issued, pending, denied) and their RequestIDs.\n";

/* An earlier batch that was killed: what it had recorded (stderr, so that
 * this run's one line per request stays as it is). */
static void print_interrupted(void *ctx, const struct ca_batch_report *r)
{
    char when[32];

    (void)ctx;
    text_format_time(when, sizeof(when), r->started);
    fprintf(stderr,
            "certmint: an earlier submit of %lld requests (process %lld, started %s UTC, "
            "requester %s) was interrupted; %lld of them were recorded: %lld issued, "
            "%lld pending, %lld denied",
            r->size, r->pid, when, r->requester, r->recorded, r->issued, r->pending, r->denied);
    if (r->recorded > 0)
        fprintf(stderr,
                " (RequestIDs %lld..%lld; certmint view --restrict "
                "'RequestID>=%lld,RequestID<=%lld')",
                r->first_id, r->last_id, r->first_id, r->last_id);
    fprintf(stderr, "; submit the rest again\n");
}

int cmd_submit(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"profile", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"requester", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    struct ca_submit_opts so = {0};
    const char *out = NULL;
    ca_ctx *ca = NULL;
    struct ca_submission *subs = NULL;
    int ch, status = 0, n, i;
    cm_err rc = CM_OK;

    so.profile = "tls-server";
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            so.profile = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'r':
            so.requester = optarg;
            break;
        default:
            return cli_usage_error("submit: see 'certmint help submit'");
        }
    }
    n = argc - optind;
    if (n <= 0)
        return cli_usage_error("submit: no request file given");
    if (out != NULL && n > 1) {
        struct stat st;
        if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
            return cli_usage_error("submit: --out %s must be an existing directory for %d requests",
                                   out, n);
    }
    subs = calloc((size_t)n, sizeof(*subs));
    if (subs == NULL) {
        return cli_fail(cm_err_set(CM_ERR_NOMEM, "out of memory"));
    }
    /* The files are read where they are parsed (in the batch workers). */
    for (i = 0; i < n; i++)
        subs[i].source = argv[optind + i];
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_batch_interrupted(ca, print_interrupted, NULL));
    rc = ca_submit(ca, subs, (size_t)n, &so);
    cli_deliver(ca);
    /* Strict audit mode: certificates whose CERTISSUED event has now been
     * acknowledged off-box are released and can be written out. */
    for (i = 0; i < n; i++) {
        struct db_cert *c = NULL;
        if (subs[i].disposition != DB_DISP_ISSUED || subs[i].cert_der != NULL ||
            subs[i].serial[0] == '\0')
            continue;
        if (db_cert_get(ca->db, &c, subs[i].serial) == CM_OK && !c->withheld && c->raw) {
            subs[i].cert_der = OPENSSL_memdup(c->raw, c->raw_len);
            subs[i].cert_der_len = subs[i].cert_der ? c->raw_len : 0;
        }
        db_cert_free(c);
    }
    for (i = 0; i < n; i++) {
        struct ca_submission *s = &subs[i];
        char path[4096];
        if (s->request_id == 0)
            continue;
        printf("%lld\t%s\t%s\t%s", (long long)s->request_id, db_disposition_name(s->disposition),
               s->serial[0] ? s->serial : "-", s->source);
        if (s->disposition != DB_DISP_ISSUED)
            printf("\t%s", s->message);
        putchar('\n');
        if (s->disposition == DB_DISP_DENIED)
            status = 3;
        if (s->disposition == DB_DISP_ISSUED && s->cert_der == NULL) {
            fprintf(stderr,
                    "certmint: request %lld: certificate %s withheld until its off-box audit "
                    "record is acknowledged; 'certmint retrieve %lld' after delivery\n",
                    (long long)s->request_id, s->serial, (long long)s->request_id);
            status = 1;
            continue;
        }
        if (s->cert_der == NULL || out == NULL)
            continue;
        if (n > 1)
            snprintf(path, sizeof(path), "%s/%lld.pem", out, (long long)s->request_id);
        else
            snprintf(path, sizeof(path), "%s", out);
        cm_err wrc = cli_write_cert(path, s->cert_der, s->cert_der_len);
        if (wrc != CM_OK) {
            cli_fail(wrc);
            status = 1;
        }
    }
    fflush(stdout);
out:
    if (subs)
        for (i = 0; i < n; i++)
            ca_submission_clear(&subs[i]);
    free(subs);
    ca_close(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    return status;
}

const char cmd_pending_usage[] =
    "certmint pending\n"
    "\n"
    "Lists the requests waiting for an officer: REQUEST-ID, submitted,\n"
    "requester, profile, requested subject.\n";

struct pending_ctx {
    int id, when, who, tmpl, dn;
    int count;
};

static cm_err pending_row(void *ctx, const struct db_row *row)
{
    struct pending_ctx *p = ctx;
    const char *const *v = row->values;
    printf("%s\t%s\t%s\t%s\t%s\n", v[p->id] ? v[p->id] : "", v[p->when] ? v[p->when] : "",
           v[p->who] ? v[p->who] : "", v[p->tmpl] ? v[p->tmpl] : "", v[p->dn] ? v[p->dn] : "");
    p->count++;
    return CM_OK;
}

int cmd_pending(const struct cli_global *g, int argc, char **argv)
{
    ca_ctx *ca = NULL;
    struct pending_ctx p;
    cm_err rc;

    (void)argv;
    if (argc != 1)
        return cli_usage_error("pending: takes no arguments");
    p.id = db_column_find("RequestID");
    p.when = db_column_find("SubmittedWhen");
    p.who = db_column_find("RequesterName");
    p.tmpl = db_column_find("CertificateTemplate");
    p.dn = db_column_find("RequestDistinguishedName");
    p.count = 0;
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = db_request_list(ca->db, DB_DISP_PENDING, pending_row, &p);
    ca_close(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    if (p.count == 0)
        fprintf(stderr, "no pending requests\n");
    return 0;
}

const char cmd_approve_usage[] =
    "certmint approve REQUEST-ID [--out FILE]\n"
    "\n"
    "Issues the certificate of a pending request (checked against its\n"
    "profile again) and prints REQUEST-ID DISPOSITION SERIAL.\n";

int cmd_approve(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char *out = NULL;
    ca_ctx *ca = NULL;
    struct ca_submission s;
    int64_t id;
    int ch;
    cm_err rc;

    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'o')
            return cli_usage_error("approve: see 'certmint help approve'");
        out = optarg;
    }
    if (argc - optind != 1)
        return cli_usage_error("approve: usage: certmint approve REQUEST-ID [--out FILE]");
    if ((rc = cli_parse_request_id(&id, argv[optind])) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = ca_approve(ca, id, &s);
    if (rc == CM_OK) {
        cli_deliver(ca);
        if (s.disposition == DB_DISP_ISSUED && s.cert_der == NULL) {
            struct db_cert *c = NULL;
            if (db_cert_get(ca->db, &c, s.serial) == CM_OK && !c->withheld && c->raw) {
                s.cert_der = OPENSSL_memdup(c->raw, c->raw_len);
                s.cert_der_len = s.cert_der ? c->raw_len : 0;
            }
            db_cert_free(c);
        }
    }
    ca_close(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("%lld\t%s\t%s", (long long)id, db_disposition_name(s.disposition),
           s.serial[0] ? s.serial : "-");
    if (s.disposition != DB_DISP_ISSUED)
        printf("\t%s", s.message);
    putchar('\n');
    fflush(stdout);
    if (s.disposition == DB_DISP_ISSUED && s.cert_der == NULL) {
        /* Strict audit mode, as submit: withheld is not success. */
        fprintf(stderr,
                "certmint: request %lld: certificate %s withheld until its off-box audit record "
                "is acknowledged; 'certmint retrieve %lld' after delivery\n",
                (long long)id, s.serial, (long long)id);
        ca_submission_clear(&s);
        return 1;
    }
    if (out != NULL && s.cert_der != NULL &&
        (rc = cli_write_cert(out, s.cert_der, s.cert_der_len)) != CM_OK) {
        ca_submission_clear(&s);
        return cli_fail(rc);
    }
    ca_submission_clear(&s);
    return s.disposition == DB_DISP_DENIED ? 3 : 0;
}

const char cmd_deny_usage[] =
    "certmint deny REQUEST-ID [--reason TEXT]\n"
    "\n"
    "Denies a pending request; the reason becomes its disposition message.\n";

int cmd_deny(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    const char *reason = NULL;
    ca_ctx *ca = NULL;
    int64_t id;
    int ch;
    cm_err rc;

    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'r')
            return cli_usage_error("deny: see 'certmint help deny'");
        reason = optarg;
    }
    if (argc - optind != 1)
        return cli_usage_error("deny: usage: certmint deny REQUEST-ID [--reason TEXT]");
    if ((rc = cli_parse_request_id(&id, argv[optind])) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = ca_deny(ca, id, reason);
    if (rc == CM_OK)
        cli_deliver(ca);
    ca_close(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("%lld\tdenied\n", (long long)id);
    return 0;
}

const char cmd_retrieve_usage[] =
    "certmint retrieve REQUEST-ID [--out FILE]\n"
    "\n"
    "Fetches the certificate of an issued request as PEM (stdout or FILE). In strict audit\n"
    "mode a certificate is withheld until its CERTISSUED event has been acknowledged by an\n"
    "off-box exit module (exit status 4).\n";

int cmd_retrieve(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char *out = NULL;
    ca_ctx *ca = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    int64_t id;
    int ch;
    cm_err rc;

    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'o')
            return cli_usage_error("retrieve: see 'certmint help retrieve'");
        out = optarg;
    }
    if (argc - optind != 1)
        return cli_usage_error("retrieve: usage: certmint retrieve REQUEST-ID [--out FILE]");
    if ((rc = cli_parse_request_id(&id, argv[optind])) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = ca_retrieve(ca, id, &der, &len);
    if (rc == CM_ERR_WITHHELD) {
        /* Try to get the audit record off the box now, then once more. */
        cli_deliver(ca);
        rc = ca_retrieve(ca, id, &der, &len);
    }
    if (rc == CM_OK)
        cli_deliver(ca);
    ca_close(ca);
    if (rc == CM_OK)
        rc = cli_write_cert(out, der, len);
    free(der);
    if (rc == CM_ERR_WITHHELD) {
        cli_fail(rc);
        return 4;
    }
    return rc == CM_OK ? 0 : cli_fail(rc);
}
