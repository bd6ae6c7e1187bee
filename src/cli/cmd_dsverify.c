/* certmint dsverify [--fix]: the directory against the database
 * (ldap/verify.h). Needs the CA's database and certificate, never its key. */
#include "cli/cli.h"
#include "cli/commands.h"
#include "ldap/publish.h"
#include "util/json.h"
#include "util/text.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

const char cmd_dsverify_usage[] =
    "usage: certmint dsverify [--fix] [--format table|json]\n"
    "\n"
    "Compares the directory (ldap.* settings, everything under ldap.base) with\n"
    "the CA's database and prints one line per finding:\n"
    "  missing  a certificate of a profile in exit.ldap.profiles that is valid\n"
    "           now is on no entry (the line names the entry it belongs on, or\n"
    "           why none was found)\n"
    "  stale    an entry holds a certificate of this CA that has expired\n"
    "  revoked  an entry holds a certificate of this CA that is revoked or on hold\n"
    "then a summary line.\n"
    "\n"
    "  --fix    repair: publish what is missing (beside the owner's other\n"
    "           certificates, as the ldap exit module does) and remove stale and\n"
    "           revoked values (that exact certificate only); each repair is\n"
    "           recorded in the audit log (action dsverify)\n"
    "  --format F  table (default) or json: {\"findings\":[{\"kind\",\"serial\",\n"
    "           \"owner\",\"dn\",\"when\",\"fixed\",\"note\"}],\"profiles\",\"expected\",\n"
    "           \"published\",\"missing\",\"stale\",\"revoked\",\"fixed\",\"unknown\"}\n"
    "\n"
    "Exit status: 0 when directory and database agree (or --fix repaired every\n"
    "finding), 3 when findings remain, 1 on an error (directory unreachable...),\n"
    "2 on a usage error.\n"
    "\n"
    "Example:\n"
    "  certmint dsverify\n"
    "  certmint dsverify --fix\n";

struct print_ctx {
    int fix;
    enum cli_format fmt;
    cm_buf js; /* json: the findings array so far */
    size_t n;
    cm_err err;
};

static void json_finding(struct print_ctx *p, const struct dir_verify_finding *f)
{
    int first = 1;
    cm_err rc;

    if (p->err != CM_OK)
        return;
    rc = buf_append_str(&p->js, p->n++ ? ",{" : "{");
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "kind", dir_verify_kind_name(f->kind));
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "serial", f->serial);
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "owner", f->owner);
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "dn", f->dn);
    if (rc == CM_OK)
        rc = json_append_kv_time(&p->js, &first, "when", f->when);
    if (rc == CM_OK)
        rc = json_append_kv_bool(&p->js, &first, "fixed", f->fixed);
    if (rc == CM_OK)
        rc = json_append_kv(&p->js, &first, "note", f->note);
    if (rc == CM_OK)
        rc = buf_append_str(&p->js, "}");
    p->err = rc;
}

/* The summary members after the findings array. */
static cm_err json_summary(cm_buf *b, const struct dir_verify_report *rep, const char *profiles)
{
    int first = 0;
    cm_err rc = CM_OK;

    CM_TRY(buf_append_str(b, "]"));
    CM_TRY(json_append_kv(b, &first, "profiles", profiles));
    CM_TRY(json_append_kv_int(b, &first, "expected", (long long)rep->expected));
    CM_TRY(json_append_kv_int(b, &first, "published", (long long)rep->published));
    CM_TRY(json_append_kv_int(b, &first, "missing", (long long)rep->missing));
    CM_TRY(json_append_kv_int(b, &first, "stale", (long long)rep->stale));
    CM_TRY(json_append_kv_int(b, &first, "revoked", (long long)rep->revoked));
    CM_TRY(json_append_kv_int(b, &first, "fixed", (long long)rep->fixed));
    CM_TRY(json_append_kv_int(b, &first, "unknown", (long long)rep->unknown));
    CM_TRY(buf_append_str(b, "}"));
out:
    return rc;
}

static void print_finding(void *ctx, const struct dir_verify_finding *f)
{
    struct print_ctx *p = ctx;
    char when[32] = "";

    if (p->fmt == CLI_FMT_JSON) {
        json_finding(p, f);
        return;
    }

    if (f->when != 0)
        text_format_time(when, sizeof(when), f->when);
    printf("%-8s %s %s", dir_verify_kind_name(f->kind), f->serial, f->owner);
    switch (f->kind) {
    case DIR_VERIFY_MISSING:
        if (f->dn != NULL)
            printf(" -> %s", f->dn);
        break;
    case DIR_VERIFY_STALE:
        printf(" on %s (expired %s UTC)", f->dn, when);
        break;
    case DIR_VERIFY_REVOKED:
        printf(" on %s (revoked %s UTC)", f->dn, when);
        break;
    }
    if (f->fixed)
        printf(": %s\n", f->kind == DIR_VERIFY_MISSING ? "published" : "removed");
    else if (p->fix)
        printf(": not fixed: %s\n", f->note ? f->note : "?");
    else if (f->note != NULL && f->kind == DIR_VERIFY_MISSING && f->dn == NULL)
        printf(": %s\n", f->note);
    else
        printf("\n");
}

int cmd_dsverify(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"fix", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    int ch, status = 0;
    struct print_ctx pc = {0, CLI_FMT_TEXT, CM_BUF_INIT(256 * 1024 * 1024), 0, CM_OK};
    ca_ctx *ca = NULL;
    const char *profiles = NULL;
    struct dir_verify_report rep;
    cm_err rc = CM_OK;

    while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (ch) {
        case 'f':
            pc.fix = 1;
            break;
        case 'h':
            fputs(cmd_dsverify_usage, stdout);
            return 0;
        case 'F':
            if (cli_parse_format(&pc.fmt, optarg) != 0)
                return 2;
            break;
        default:
            fputs(cmd_dsverify_usage, stderr);
            return 2;
        }
    }
    if (optind < argc)
        return cli_usage_error("dsverify: unexpected argument '%s'", argv[optind]);
    CM_TRY(cli_open_ca(&ca, g, 0));
    CM_TRY(buf_append_str(&pc.js, "{\"findings\":["));
    CM_TRY(ds_verify(&rep, &profiles, ca, pc.fix, print_finding, &pc));
    size_t findings = rep.missing + rep.stale + rep.revoked;
    status = findings > rep.fixed ? 3 : 0;
    if (pc.fmt == CLI_FMT_JSON) {
        CM_TRY(pc.err);
        CM_TRY(json_summary(&pc.js, &rep, profiles));
        CM_TRY(cli_json_write(&pc.js, CM_OK));
        goto out;
    }
    printf("dsverify: %zu valid certificate%s of profiles %s, %zu certificate%s of this CA in the "
           "directory; %zu missing, %zu stale, %zu revoked",
           rep.expected, rep.expected == 1 ? "" : "s", profiles, rep.published,
           rep.published == 1 ? "" : "s", rep.missing, rep.stale, rep.revoked);
    if (pc.fix)
        printf("; %zu fixed", rep.fixed);
    if (rep.unknown > 0)
        printf("; %zu value%s naming this CA unknown to the database (left alone)", rep.unknown,
               rep.unknown == 1 ? "" : "s");
    printf("\n");
    status = findings > rep.fixed ? 3 : 0;
out:
    buf_free(&pc.js);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    return status;
}
