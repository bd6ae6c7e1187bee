/* certmint submit, pending, approve, deny, retrieve. */
#include "ca/query.h"
#include "cli/commands.h"
#include "cli/submit_out.h"

#include "exit/exit.h"
#include "util/fsutil.h"
#include "util/json.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char cmd_submit_usage[] =
    "certmint submit FILE... [--profile NAME] [--out PATH [--force]] [--requester NAME]\n"
    "                [--archive-key ENVELOPE] [--token-file FILE]\n"
    "                [--format table|json]\n"
    "certmint submit --generate-key [--key SPEC] [--subject DN] [--san LIST]\n"
    "                --p12-out FILE --password-file F [--profile NAME] [--token-file FILE]\n"
    "                [--out PATH] [--force]\n"
    "\n"
    "Submits PKCS#10 requests (PEM or DER). Each request's signature is verified and the\n"
    "request is checked against the profile (default tls-server); the policy issues it,\n"
    "pends it for an officer (profile approval manual) or denies it, with a message.\n"
    "Prints one line per request: REQUEST-ID DISPOSITION SERIAL FILE [MESSAGE].\n"
    "  --out PATH   issued certificates as PEM: a file for one request, a directory for\n"
    "               several (named REQUEST-ID.pem); never inside the CA home, and an\n"
    "               existing file is not replaced (that request's certificate stays\n"
    "               retrievable) unless --force; a batch's files are written and synced\n"
    "               group by group while the next groups are signed, and the lines are\n"
    "               printed once all are durable\n"
    "  --force      replace existing output files\n"
    "  --format F   table (default) or json: {\"results\":[{\"request_id\",\"disposition\",\n"
    "               \"serial\",\"file\",\"message\",\"withheld\"}]} (null when absent)\n"
    "  --archive-key F  the request's private key, PKCS#8, in a CMS envelope\n"
    "               to the CA's key-transport certificate (certmint kra transport-cert):\n"
    "               archived for recovery when the profile has archive_key; a key that does\n"
    "               not match the request's public key is denied (docs/key-archival.md).\n"
    "               Several requests: one --archive-key each, in their order (the\n"
    "               transport key is opened once)\n"
    "  --token-file F  (one request) redeem a one-time enrollment token (certmint token\n"
    "               issue; F holds it, mode 0600): the token's profile, subject and SANs\n"
    "               are used whatever the request asks (docs/tokens.md)\n"
    "  --generate-key  (no request file) the CA generates the key pair (--key rsa:3072\n"
    "               (default), rsa:2048, rsa:4096, ec:p256, ec:p384) and its request with\n"
    "               --subject DN and --san LIST (OpenSSL syntax), or those a --token-file\n"
    "               binds; archived when the profile has archive_key (as --archive-key's);\n"
    "               the key, the certificate and the chain are written to --p12-out as\n"
    "               PKCS#12 (AES-256-CBC, PBKDF2 600,000 iterations, HMAC-SHA256 MAC,\n"
    "               mode 0600) under the password of --password-file; the key is never\n"
    "               written unencrypted. The profile must issue at once (approval auto)\n"
    "Several files are the batch path: committed in groups of submit.batch_group.\n"
    "A file that is not a valid, correctly signed request refuses the whole run and\n"
    "changes nothing. Exit status: 0 all issued or pending, 3 some denied, 1 error.\n"
    "Large batches run in worker threads (submit.workers); --out DIR files are synced in\n"
    "groups of 256 before their lines are printed. A batch that was killed is reported\n"
    "by the next submit: how many of its requests were recorded (issued, pending,\n"
    "denied) and their RequestIDs.\n";

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

/* Before anything is submitted: the output file (one request) or directory
 * (a batch: a name in it stands for every REQUEST-ID.pem, whose existence is
 * checked as each is written) passes the output-file policy. */
static cm_err submit_out_check(const struct cli_global *g, const char *out, int n, int force)
{
    char probe[4096];
    if (out == NULL)
        return CM_OK;
    if (n == 1)
        return cli_out_check(g, out, force);
    if ((size_t)snprintf(probe, sizeof(probe), "%s/REQUEST-ID.pem", out) >= sizeof(probe))
        return cm_err_set(CM_ERR_INVALID, "%s: path too long", out);
    return cli_out_check(g, probe, 1);
}

/* 1 when s's certificate is withheld for its off-box audit record (strict
 * audit mode); one written out and freed already was not (delivered). */
static int submission_withheld(const struct ca_submission *s)
{
    return s->disposition == DB_DISP_ISSUED && s->cert_der == NULL && !s->delivered;
}

/* One element of submit's JSON results: opens the document on the first
 * call (*opened). */
static cm_err submission_json(cm_buf *b, int *opened, const struct ca_submission *s)
{
    int first = 1, withheld = submission_withheld(s);
    cm_err rc = buf_append_str(b, *opened ? ",{" : "{\"results\":[{");

    *opened = 1;
    if (rc == CM_OK)
        rc = json_append_kv_int(b, &first, "request_id", (long long)s->request_id);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "disposition", db_disposition_name(s->disposition));
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "serial", s->serial[0] ? s->serial : NULL);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "file", s->source);
    if (rc == CM_OK)
        rc = json_append_kv(b, &first, "message",
                            s->disposition != DB_DISP_ISSUED ? s->message : NULL);
    if (rc == CM_OK)
        rc = json_append_kv_bool(b, &first, "withheld", withheld);
    if (rc == CM_OK)
        rc = buf_append_str(b, "}");
    return rc;
}

static void submit_print_text(const struct ca_submission *s)
{
    printf("%lld\t%s\t%s\t%s", (long long)s->request_id, db_disposition_name(s->disposition),
           s->serial[0] ? s->serial : "-", s->source);
    if (s->disposition != DB_DISP_ISSUED)
        printf("\t%s", s->message);
    putchar('\n');
}

/* What one result calls for once it is final (after the release): the
 * exit status (3 denied, 1 withheld, else 0), withheld reported on stderr. */
static int submit_status(const struct ca_submission *s)
{
    if (s->request_id == 0)
        return 0;
    if (submission_withheld(s)) {
        fprintf(stderr,
                "certmint: request %lld: certificate %s withheld until its off-box audit "
                "record is acknowledged; 'certmint retrieve %lld' after delivery\n",
                (long long)s->request_id, s->serial, (long long)s->request_id);
        return 1;
    }
    return s->disposition == DB_DISP_DENIED ? 3 : 0;
}

/* Prints one result line; returns submit_status's. */
static int submit_print_one(const struct ca_submission *s)
{
    if (s->request_id != 0)
        submit_print_text(s);
    return submit_status(s);
}

/* submit's results are printed as their groups commit (ca_submit_opts.
 * committed: this thread, input order), so that printing 10,000 lines
 * overlaps the signing of the later groups instead of following the batch;
 * stdout is the same as printed at the end. Printed at the end instead:
 * with --out DIR (a group's files are synced before its lines are
 * printed), and in JSON from the first certificate withheld for its
 * release on (strict audit mode: its "withheld" is known after it). */
struct submit_print {
    struct ca_submission *subs;
    submit_out *ow; /* --out DIR for several requests, or NULL */
    enum cli_format fmt;
    int opened, held; /* JSON: the document is begun; the rest waits for the end */
    size_t printed;   /* subs[0, printed) are on stdout */
    cm_buf js;
    cm_err jrc;
};

/* Prints a result line or appends its JSON element. */
static void submit_print_result(struct submit_print *sp, const struct ca_submission *s)
{
    if (s->request_id == 0)
        return;
    if (sp->fmt != CLI_FMT_JSON)
        submit_print_text(s);
    else if (sp->jrc == CM_OK)
        sp->jrc = submission_json(&sp->js, &sp->opened, s);
}

static void submit_print_committed(void *ctx, size_t start, size_t end)
{
    struct submit_print *sp = ctx;
    size_t i;

    if (sp->ow != NULL) {
        submit_out_committed(sp->ow, start, end);
        return;
    }
    for (i = start; sp->fmt == CLI_FMT_JSON && i < end; i++)
        if (submission_withheld(&sp->subs[i]))
            sp->held = 1;
    if (sp->held || start != sp->printed)
        return;
    /* Without --out DIR nothing else needs the certificates (the callback
     * is not set for one request with --out FILE): their DER goes now, so
     * that a batch's memory does not grow with its size. */
    for (i = start; i < end; i++) {
        submit_print_result(sp, &sp->subs[i]);
        ca_submission_delivered(&sp->subs[i]);
    }
    sp->printed = end;
    /* The JSON so far goes out with the lines (cli_json_write ends it). */
    if (sp->jrc == CM_OK && sp->js.len > 0 &&
        fwrite(sp->js.data, 1, sp->js.len, stdout) != sp->js.len)
        sp->jrc = cm_err_set(CM_ERR_IO, "standard output: write failed");
    buf_reset(&sp->js);
}

/* A token file's first line, NUL-terminated (the core trims it). */
static cm_err token_read(char *line, size_t linesz, const char *file)
{
    unsigned char *tok = NULL;
    size_t toklen = 0;
    cm_err rc;

    CM_TRY(fs_read_secret(&tok, &toklen, file, 4096, "token file"));
    snprintf(line, linesz, "%.*s", (int)(toklen < linesz - 1 ? toklen : linesz - 1),
             (const char *)tok);
out:
    if (tok != NULL)
        OPENSSL_cleanse(tok, toklen);
    free(tok);
    return rc;
}

/* What submit --generate-key was given (issue 12 way (b)). */
struct gen_args {
    int on, force;
    const char *key_spec, *subject, *sans, *p12_out, *password_file, *token_file, *out;
};

/* The certificate and the PKCS#12 of an issued generated key. */
static cm_err generated_write(const struct cli_global *g, ca_ctx *ca, const struct gen_args *a,
                              const struct ca_submission *s, const char *pass)
{
    unsigned char *p12 = NULL;
    size_t len = 0;
    cm_err rc;

    CM_TRY(ca_keygen_p12(&p12, &len, ca, s, pass));
    CM_TRY(cli_write_file(g, a->p12_out, a->force, p12, len, 0600));
    if (a->out != NULL)
        CM_TRY(cli_write_cert(g, a->out, a->force, s->cert_der, s->cert_der_len));
out:
    if (p12 != NULL)
        OPENSSL_clear_free(p12, len);
    return rc;
}

/* submit --generate-key: the CA makes the key pair and its request
 * (ca_keygen_prepare), which is submitted as any request (with a token:
 * redeemed), and hands the key out as PKCS#12. */
static int submit_generated(const struct cli_global *g, const struct gen_args *a, int n,
                            struct ca_submit_opts *so)
{
    char pass[1024] = "", tok[256] = "";
    struct ca_submission s;
    struct ca_keygen_opts ko = {a->key_spec, a->subject, a->sans, a->token_file != NULL};
    ca_ctx *ca = NULL;
    int status = 0;
    cm_err rc;

    memset(&s, 0, sizeof(s));
    if (n != 0)
        return cli_usage_error("submit --generate-key: takes no request file (the CA makes it)");
    if (a->p12_out == NULL || a->password_file == NULL)
        return cli_usage_error("submit --generate-key: --p12-out FILE and --password-file F "
                               "are needed");
    CM_TRY(cli_out_check(g, a->p12_out, a->force));
    CM_TRY(cli_out_check(g, a->out, a->force));
    CM_TRY(key_read_passphrase(pass, sizeof(pass), a->password_file, 0));
    if (pass[0] == '\0')
        CM_FAIL(CM_ERR_INVALID, "%s: the PKCS#12 password is empty", a->password_file);
    if (a->token_file != NULL)
        CM_TRY(token_read(tok, sizeof(tok), a->token_file));
    CM_TRY(ca_keygen_prepare(&s, &ko));
    CM_TRY(cli_open_ca(&ca, g, 0));
    if (a->token_file != NULL)
        CM_TRY(ca_token_redeem(&s, ca, tok, s.csr, s.csr_len, NULL));
    else
        CM_TRY(ca_submit(ca, &s, 1, so));
    cli_deliver(ca);
    CM_TRY(ca_submissions_release(ca, &s, 1));
    status = submit_print_one(&s);
    if (s.disposition == DB_DISP_ISSUED && s.cert_der != NULL)
        CM_TRY(generated_write(g, ca, a, &s, pass));
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    OPENSSL_cleanse(tok, sizeof(tok));
    ca_submission_clear(&s);
    cli_close_ca(ca);
    return rc == CM_OK ? status : cli_fail(rc);
}

/* submit --token-file: one request redeemed with an enrollment token
 * (issue 12, docs/tokens.md); the profile is the token's. */
static int submit_token(const struct cli_global *g, const char *token_file, int n, char **files,
                        const char *out, int force, const char *archive)
{
    unsigned char *csr = NULL, *env = NULL;
    size_t csrlen = 0, envlen = 0;
    char tok[256] = "";
    struct ca_submission s;
    ca_ctx *ca = NULL;
    int status = 0;
    cm_err rc;

    memset(&s, 0, sizeof(s));
    if (n != 1)
        return cli_usage_error("submit: --token-file goes with one request file");
    CM_TRY(cli_out_check(g, out, force));
    CM_TRY(fs_read_file(&csr, &csrlen, files[0], CA_MAX_CSR_BYTES));
    if (archive != NULL) {
        CM_TRY(fs_read_file(&env, &envlen, archive, 1024 * 1024));
        s.archive_env = env;
        s.archive_env_len = envlen;
    }
    s.source = files[0];
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(token_read(tok, sizeof(tok), token_file));
    rc = ca_token_redeem(&s, ca, tok, csr, csrlen, NULL);
    CM_TRY(rc);
    cli_deliver(ca);
    CM_TRY(ca_submissions_release(ca, &s, 1));
    printf("%lld\t%s\t%s\t%s", (long long)s.request_id, db_disposition_name(s.disposition),
           s.serial[0] ? s.serial : "-", s.source);
    if (s.disposition != DB_DISP_ISSUED) {
        printf("\t%s", s.message);
        status = 3;
    }
    putchar('\n');
    if (out != NULL && s.cert_der != NULL)
        CM_TRY(cli_write_cert(g, out, force, s.cert_der, s.cert_der_len));
out:
    OPENSSL_cleanse(tok, sizeof(tok));
    free(csr);
    free(env);
    ca_submission_clear(&s);
    cli_close_ca(ca);
    return rc == CM_OK ? status : cli_fail(rc);
}

/* archives: room for every --archive-key (argc entries). */
static int submit_main(const struct cli_global *g, int argc, char **argv, const char **archives)
{
    static const struct option opts[] = {
        {"profile", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"requester", required_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'f'},
        {"format", required_argument, NULL, 'F'},
        {"archive-key", required_argument, NULL, 'A'},
        {"token-file", required_argument, NULL, 'T'},
        {"generate-key", no_argument, NULL, 'G'},
        {"key", required_argument, NULL, 'K'},
        {"subject", required_argument, NULL, 's'},
        {"san", required_argument, NULL, 'S'},
        {"p12-out", required_argument, NULL, 'P'},
        {"password-file", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct gen_args ga = {0};
    enum cli_format fmt = CLI_FMT_TEXT;
    const char *archive = NULL, *token_file = NULL;
    int narch = 0;
    struct submit_print sp = {NULL, NULL, CLI_FMT_TEXT, 0, 0, 0, CM_BUF_INIT(256 * 1024 * 1024),
                              CM_OK};
    struct ca_submit_opts so = {0};
    const char *out = NULL;
    ca_ctx *ca = NULL;
    struct ca_submission *subs = NULL;
    submit_out *ow = NULL;
    int ch, status = 0, n, i, force = 0;
    cm_err rc = CM_OK;

    so.profile = "tls-server";
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
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
        case 'f':
            force = 1;
            break;
        case 'F':
            if (cli_parse_format(&fmt, optarg) != 0)
                return 2;
            break;
        case 'A':
            archive = archives[narch++] = optarg;
            break;
        case 'T':
            token_file = optarg;
            break;
        case 'G':
            ga.on = 1;
            break;
        case 'K':
            ga.key_spec = optarg;
            break;
        case 's':
            ga.subject = optarg;
            break;
        case 'S':
            ga.sans = optarg;
            break;
        case 'P':
            ga.p12_out = optarg;
            break;
        case 'w':
            ga.password_file = optarg;
            break;
        default:
            return cli_usage_error("submit: see 'certmint help submit'");
        }
    }
    n = argc - optind;
    if ((ga.key_spec || ga.subject || ga.sans || ga.p12_out || ga.password_file) && !ga.on)
        return cli_usage_error("submit: --key, --subject, --san, --p12-out and --password-file "
                               "go with --generate-key");
    if (ga.on && (archive != NULL || fmt != CLI_FMT_TEXT))
        return cli_usage_error("submit --generate-key: not with --archive-key or --format");
    if (ga.on) {
        ga.force = force;
        ga.token_file = token_file;
        ga.out = out;
        return submit_generated(g, &ga, n, &so);
    }
    if (n <= 0)
        return cli_usage_error("submit: no request file given");
    if (out != NULL && n > 1) {
        struct stat st;
        if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
            return cli_usage_error("submit: --out %s must be an existing directory for %d requests",
                                   out, n);
    }
    if (narch > 0 && narch != n)
        return cli_usage_error("submit: give one --archive-key for each request file, in "
                               "their order (%d for %d)",
                               narch, n);
    if (token_file != NULL)
        return submit_token(g, token_file, argc - optind, argv + optind, out, force, archive);
    if ((rc = submit_out_check(g, out, n, force)) != CM_OK)
        return cli_fail(rc);
    subs = calloc((size_t)n, sizeof(*subs));
    if (subs == NULL) {
        return cli_fail(cm_err_set(CM_ERR_NOMEM, "out of memory"));
    }
    /* The files are read where they are parsed (in the batch workers),
     * which also set each subs[i].source (ca_submit_opts.files). */
    so.files = (const char *const *)(argv + optind);
    /* The envelopes (borrowed by subs, freed below). */
    for (i = 0; i < narch; i++) {
        unsigned char *env = NULL;
        size_t envlen = 0;
        CM_TRY(fs_read_file(&env, &envlen, archives[i], 1024 * 1024));
        subs[i].archive_env = env;
        subs[i].archive_env_len = envlen;
    }
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(ca_batch_interrupted(ca, print_interrupted, NULL));
    /* Several requests: each committed group's files are written while the
     * next groups are signed. Without --out its lines are printed then. */
    if (out != NULL && n > 1)
        CM_TRY(submit_out_start(&ow, g, out, force, subs, (size_t)n));
    sp.subs = subs;
    sp.ow = ow;
    sp.fmt = fmt;
    if (out == NULL || ow != NULL) {
        so.committed = submit_print_committed;
        so.committed_ctx = &sp;
    }
    rc = ca_submit(ca, subs, (size_t)n, &so);
    if (ow != NULL && submit_out_finish(ow))
        status = 1;
    cli_deliver(ca);
    /* Strict audit mode: certificates whose CERTISSUED event has now been
     * acknowledged off-box are released and can be written out. */
    {
        cm_err rrc = ca_submissions_release(ca, subs, (size_t)n);
        if (rc == CM_OK)
            rc = rrc;
    }
    /* Results in groups: a group's files are synced before its lines are
     * printed (its rows were committed before ca_submit returned; the files
     * written meanwhile are synced, submit_out_finish). Those released now
     * (strict audit mode) are written here. The lines of subs[0,
     * sp.printed) are printed already (submit_print_committed). */
    for (i = 0; i < n; i += FS_GROUP_MAX) {
        int to = n - i < FS_GROUP_MAX ? n : i + FS_GROUP_MAX;
        if (ow != NULL && submit_out_rest(ow, (size_t)i, (size_t)to))
            status = 1;
        for (int k = i; k < to; k++) {
            int st;
            if ((size_t)k >= sp.printed)
                submit_print_result(&sp, &subs[k]);
            st = submit_status(&subs[k]);
            /* An error (1) outranks a denial (3). */
            if (st != 0 && status != 1)
                status = st;
            if (out != NULL && n == 1 && subs[k].cert_der != NULL) {
                cm_err wrc = cli_write_cert(g, out, force, subs[k].cert_der, subs[k].cert_der_len);
                if (wrc != CM_OK) {
                    cli_fail(wrc);
                    status = 1;
                }
            }
        }
    }
    /* The results are printed also when a certificate is withheld or could
     * not be written (reported on stderr, exit status 1). */
    if (fmt == CLI_FMT_JSON &&
        cli_json_emit(&sp.js, sp.jrc != CM_OK ? sp.jrc
                                              : buf_printf(&sp.js, "%s]}",
                                                           sp.opened ? "" : "{\"results\":[")) != 0)
        status = 1;
    fflush(stdout);
out:
    for (i = 0; subs != NULL && i < narch; i++)
        free((void *)subs[i].archive_env);
    buf_free(&sp.js);
    submit_out_free(ow);
    if (subs)
        for (i = 0; i < n; i++)
            ca_submission_clear(&subs[i]);
    free(subs);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    return status;
}

int cmd_submit(const struct cli_global *g, int argc, char **argv)
{
    const char **archives = calloc((size_t)argc + 1, sizeof(*archives));
    int status;

    if (archives == NULL)
        return cli_fail(cm_err_set(CM_ERR_NOMEM, "out of memory"));
    status = submit_main(g, argc, argv, archives);
    free(archives);
    return status;
}

const char cmd_pending_usage[] =
    "certmint pending [--format table|json]\n"
    "\n"
    "Lists the requests waiting for an officer: REQUEST-ID, submitted,\n"
    "requester, profile, requested subject.\n"
    "  --format F   table (default) or json: {\"pending\":[{\"request_id\",\"submitted\",\n"
    "               \"requester\",\"profile\",\"subject\"}]}\n";

struct pending_out {
    int count;
    enum cli_format fmt;
    cm_buf js;
};

static cm_err pending_json(struct pending_out *p, const struct ca_pending *r)
{
    int first = 1;
    cm_err rc = buf_append_str(&p->js, p->count ? ",{" : "{");

    if (rc == CM_OK)
        rc = json_append_kv_int(&p->js, &first, "request_id", (long long)r->request_id);
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "submitted", r->submitted);
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "requester", r->requester);
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "profile", r->profile);
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "subject", r->subject);
    if (rc == CM_OK)
        rc = buf_append_str(&p->js, "}");
    if (rc == CM_OK)
        p->count++;
    return rc;
}

static cm_err pending_row(void *ctx, const struct ca_pending *r)
{
    struct pending_out *p = ctx;
    if (p->fmt == CLI_FMT_JSON)
        return pending_json(p, r);
    printf("%lld\t%s\t%s\t%s\t%s\n", (long long)r->request_id, r->submitted ? r->submitted : "",
           r->requester ? r->requester : "", r->profile ? r->profile : "",
           r->subject ? r->subject : "");
    p->count++;
    return CM_OK;
}

int cmd_pending(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    ca_ctx *ca = NULL;
    struct pending_out p;
    int ch;
    cm_err rc;

    p.fmt = CLI_FMT_TEXT;
    buf_init(&p.js, 256 * 1024 * 1024);
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch != 'f')
            return cli_usage_error("pending: see 'certmint help pending'");
        if (cli_parse_format(&p.fmt, optarg) != 0)
            return 2;
    }
    if (optind != argc)
        return cli_usage_error("pending: takes no arguments");
    p.count = 0;
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    if ((rc = buf_append_str(&p.js, "{\"pending\":[")) == CM_OK)
        rc = ca_pending_list(ca, pending_row, &p);
    cli_close_ca(ca);
    if (rc != CM_OK) {
        buf_free(&p.js);
        return cli_fail(rc);
    }
    if (p.fmt == CLI_FMT_JSON)
        return cli_json_emit(&p.js, buf_append_str(&p.js, "]}"));
    buf_free(&p.js);
    if (p.count == 0)
        fprintf(stderr, "no pending requests\n");
    return 0;
}

const char cmd_approve_usage[] =
    "certmint approve REQUEST-ID [--out FILE [--force]] [--format table|json]\n"
    "\n"
    "Issues the certificate of a pending request (checked against its\n"
    "profile again) and prints REQUEST-ID DISPOSITION SERIAL.\n"
    "  --out FILE   also write the certificate as PEM to FILE (never inside the CA home;\n"
    "               checked before the request is approved)\n"
    "  --force      replace FILE if it exists\n"
    "  --format F   table (default) or json: {\"request_id\",\"disposition\",\"serial\",\n"
    "               \"message\",\"withheld\"}\n";

/* approve's JSON: the object of one submit result, without "file". */
static void approve_json(int64_t id, const struct ca_submission *s)
{
    cm_buf b = CM_BUF_INIT(64 * 1024);
    int first = 1;
    cm_err rc = buf_append_str(&b, "{");

    if (rc == CM_OK)
        rc = json_append_kv_int(&b, &first, "request_id", (long long)id);
    if (rc == CM_OK)
        rc = json_append_kv(&b, &first, "disposition", db_disposition_name(s->disposition));
    if (rc == CM_OK)
        rc = json_append_kv(&b, &first, "serial", s->serial[0] ? s->serial : NULL);
    if (rc == CM_OK)
        rc = json_append_kv(&b, &first, "message",
                            s->disposition != DB_DISP_ISSUED ? s->message : NULL);
    if (rc == CM_OK)
        rc = json_append_kv_bool(&b, &first, "withheld",
                                 s->disposition == DB_DISP_ISSUED && s->cert_der == NULL);
    if (rc == CM_OK)
        rc = buf_append_str(&b, "}");
    (void)cli_json_emit(&b, rc);
}

int cmd_approve(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"format", required_argument, NULL, 'F'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    enum cli_format fmt = CLI_FMT_TEXT;
    ca_ctx *ca = NULL;
    struct ca_submission s;
    int64_t id;
    int ch, force = 0;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch == 'F') {
            if (cli_parse_format(&fmt, optarg) != 0)
                return 2;
            continue;
        }
        if (ch == 'f')
            force = 1;
        else if (ch == 'o')
            out = optarg;
        else
            return cli_usage_error("approve: see 'certmint help approve'");
    }
    if (argc - optind != 1)
        return cli_usage_error("approve: usage: certmint approve REQUEST-ID [--out FILE]");
    if ((rc = cli_parse_request_id(&id, argv[optind])) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_out_check(g, out, force)) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    rc = ca_approve(ca, id, &s);
    if (rc == CM_OK) {
        cli_deliver(ca);
        rc = ca_submissions_release(ca, &s, 1);
        if (rc != CM_OK)
            ca_submission_clear(&s);
    }
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    if (fmt == CLI_FMT_JSON) {
        approve_json(id, &s);
    } else {
        printf("%lld\t%s\t%s", (long long)id, db_disposition_name(s.disposition),
               s.serial[0] ? s.serial : "-");
        if (s.disposition != DB_DISP_ISSUED)
            printf("\t%s", s.message);
        putchar('\n');
    }
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
        (rc = cli_write_cert(g, out, force, s.cert_der, s.cert_der_len)) != CM_OK) {
        ca_submission_clear(&s);
        return cli_fail(rc);
    }
    ca_submission_clear(&s);
    return s.disposition == DB_DISP_DENIED ? 3 : 0;
}

const char cmd_deny_usage[] =
    "certmint deny REQUEST-ID [--reason TEXT] [--format table|json]\n"
    "\n"
    "Denies a pending request; the reason becomes its disposition message.\n"
    "  --format F   table (default) or json: {\"request_id\",\"disposition\":\"denied\",\n"
    "               \"message\"}\n";

int cmd_deny(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"format", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    const char *reason = NULL;
    enum cli_format fmt = CLI_FMT_TEXT;
    ca_ctx *ca = NULL;
    int64_t id;
    int ch;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch == 'f') {
            if (cli_parse_format(&fmt, optarg) != 0)
                return 2;
            continue;
        }
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
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    if (fmt == CLI_FMT_JSON) {
        cm_buf b = CM_BUF_INIT(64 * 1024);
        int first = 1;
        rc = buf_append_str(&b, "{");
        if (rc == CM_OK)
            rc = json_append_kv_int(&b, &first, "request_id", (long long)id);
        if (rc == CM_OK)
            rc = json_append_kv(&b, &first, "disposition", "denied");
        if (rc == CM_OK)
            rc = json_append_kv(&b, &first, "message", reason);
        if (rc == CM_OK)
            rc = buf_append_str(&b, "}");
        return cli_json_emit(&b, rc);
    }
    printf("%lld\tdenied\n", (long long)id);
    return 0;
}

const char cmd_retrieve_usage[] =
    "certmint retrieve REQUEST-ID [--out FILE [--force]] [--chain] [--format pem|der|p7b]\n"
    "\n"
    "Fetches the certificate of an issued request as PEM (stdout or FILE; FILE never inside\n"
    "the CA home, an existing FILE replaced only with --force). In strict audit\n"
    "mode a certificate is withheld until its CERTISSUED event has been acknowledged by an\n"
    "off-box exit module (exit status 4).\n"
    "  --chain      add the CA certificate and the issuers above it up to the root (a PEM\n"
    "               bundle, leaf first)\n"
    "  --format F   pem (default); der: the certificate alone, binary; p7b: the\n"
    "               certificate and its chain as a certificates-only PKCS#7 (DER, .p7b)\n";

int cmd_retrieve(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"chain", no_argument, NULL, 'c'},
                                         {"format", required_argument, NULL, 'F'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    ca_ctx *ca = NULL;
    unsigned char *der = NULL, *data = NULL;
    size_t len = 0, dlen = 0;
    enum ca_export_format fmt = CA_EXPORT_PEM;
    int64_t id;
    int ch, chain = 0, plain = 1, force = 0;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch == 'o') {
            out = optarg;
        } else if (ch == 'f') {
            force = 1;
        } else if (ch == 'c') {
            chain = 1;
            plain = 0;
        } else if (ch == 'F') {
            if (ca_export_parse_format(&fmt, optarg) != CM_OK)
                return cli_usage_error("retrieve: %s", cm_err_msg());
            plain = 0;
        } else {
            return cli_usage_error("retrieve: see 'certmint help retrieve'");
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("retrieve: usage: certmint retrieve REQUEST-ID [--out FILE]");
    if (fmt == CA_EXPORT_DER && chain)
        return cli_usage_error("retrieve: a DER file holds one certificate: use --format pem or "
                               "p7b for the chain");
    if ((rc = cli_parse_request_id(&id, argv[optind])) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_out_check(g, out, force)) != CM_OK)
        return cli_fail(rc);
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK)
        return cli_fail(rc);
    {
        struct exit_delivery_report rep;
        rc = exit_retrieve(&der, &len, &rep, ca, id);
        cli_report_delivery(&rep);
    }
    /* The chain and the other formats are built while the CA is open. */
    if (rc == CM_OK && !plain)
        rc = ca_cert_export(&data, &dlen, ca, der, len, chain, fmt);
    cli_close_ca(ca);
    if (rc == CM_OK && plain)
        rc = cli_write_cert(g, out, force, der, len);
    else if (rc == CM_OK)
        rc = cli_write_data(g, out, force, data, dlen, fmt != CA_EXPORT_PEM);
    free(der);
    free(data);
    if (rc == CM_ERR_WITHHELD) {
        cli_fail(rc);
        return 4;
    }
    return rc == CM_OK ? 0 : cli_fail(rc);
}
