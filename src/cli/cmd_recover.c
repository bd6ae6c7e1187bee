/* certmint recover-orphans */
#include "cli/commands.h"

#include "recover/recover.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/text.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cmd_recover_orphans_usage[] =
    "certmint recover-orphans (--maildir DIR | --mbox FILE)... [--revoke REASON] [--dry-run]\n"
    "                         [--workers N] [--format table|json]\n"
    "\n"
    "After a restore from backup, finds the certificates issued after the backup in the\n"
    "SMTP exit module's notification mails and brings them back: the real certificate when\n"
    "the mail carries it and its signature verifies with this CA's key, else a placeholder\n"
    "for its serial (with the subject and dates the mail gives). Revocations and releases\n"
    "from hold in the trail are re-applied; RequestIDs, CRL numbers and event IDs seen in\n"
    "the trail are never used again. Forged and foreign mails are rejected and listed;\n"
    "malformed ones are skipped with a warning. A new full CRL (and delta, if configured)\n"
    "is published. Running it again finds nothing to do. Run it right after 'restore',\n"
    "before the restored CA issues or publishes anything. See docs/recovery.md.\n"
    "  --maildir DIR    a Maildir (cur/, new/ and Maildir++ subfolders); may repeat\n"
    "  --mbox FILE      an mbox file; may repeat\n"
    "  --revoke REASON  then revoke every recovered certificate that the trail left valid\n"
    "                   or on hold (RFC 5280 reason); the trail's revocations keep theirs\n"
    "  --dry-run        report what would change; change nothing (no passphrase needed)\n"
    "  --workers N      threads parsing the mails of an mbox and decoding and checking the\n"
    "                   attached certificates (1-64; default: one per processor); the\n"
    "                   result does not depend on it\n"
    "  --format F       table (default) or json\n"
    "Memory does not grow with the trail: certificates and long lists wait in unlinked\n"
    "scratch files in $TMPDIR (default /tmp). With -v, the time and CPU of each step.\n"
    "Exit status: 0 done, 1 error, 3 done but some mails were rejected.\n";

static int json_report(const struct recover_report *r, int dry_run)
{
    cm_buf b = CM_BUF_INIT(64 * 1024 * 1024);
    cm_err rc = CM_OK;
    size_t i;
    int first;

    CM_TRY(buf_printf(&b,
                      "{\"dry_run\":%s,\"messages\":%zu,\"certmint_messages\":%zu,"
                      "\"foreign_messages\":%zu,\"text_messages\":%zu,\"malformed\":%zu,"
                      "\"events\":%zu,\"already_known\":%zu,\"imported\":%zu,"
                      "\"placeholders\":%zu,\"revocations_applied\":%zu,\"releases_applied\":%zu,"
                      "\"revoked_now\":%zu,\"crl_number\":%lld,\"delta_crl_number\":%lld,"
                      "\"rejected_total\":%zu,\"warnings_total\":%zu,\"rejected\":[",
                      dry_run ? "true" : "false", r->messages, r->certmint_messages,
                      r->foreign_messages, r->fallback_messages, r->malformed, r->events, r->known,
                      r->imported, r->placeholders, r->revocations, r->releases, r->revoked_now,
                      (long long)r->crl_number, (long long)r->delta_crl_number, r->rejected_total,
                      r->warnings_total));
    for (i = 0; i < r->nrejected; i++) {
        first = 1;
        CM_TRY(buf_append_str(&b, i ? ",{" : "{"));
        CM_TRY(json_append_kv(&b, &first, "source", r->rejected[i].source));
        CM_TRY(json_append_kv(&b, &first, "serial",
                              r->rejected[i].serial[0] ? r->rejected[i].serial : NULL));
        CM_TRY(json_append_kv(&b, &first, "reason", r->rejected[i].what));
        CM_TRY(buf_append_str(&b, "}"));
    }
    CM_TRY(buf_append_str(&b, "],\"warnings\":["));
    for (i = 0; i < r->nwarnings; i++) {
        first = 1;
        CM_TRY(buf_append_str(&b, i ? ",{" : "{"));
        CM_TRY(json_append_kv(&b, &first, "source", r->warnings[i].source));
        CM_TRY(json_append_kv(&b, &first, "reason", r->warnings[i].what));
        CM_TRY(buf_append_str(&b, "}"));
    }
    CM_TRY(buf_printf(&b, "],\"pending_unknown_total\":%zu,\"pending_unknown\":[",
                      r->pending_unknown_total));
    for (i = 0; i < r->npending_unknown; i++) {
        first = 1;
        CM_TRY(buf_printf(&b, "%s{\"request_id\":%lld", i ? "," : "",
                          (long long)r->pending_unknown[i].request_id));
        first = 0;
        CM_TRY(json_append_kv(&b, &first, "source", r->pending_unknown[i].source));
        CM_TRY(json_append_kv(&b, &first, "reason", r->pending_unknown[i].what));
        CM_TRY(buf_append_str(&b, "}"));
    }
    CM_TRY(buf_append_str(&b, "]}\n"));
    fputs(buf_str(&b), stdout);
out:
    buf_free(&b);
    return rc == CM_OK ? 0 : cli_fail(rc);
}

static void row(const char *what, size_t n)
{
    printf("  %-36s %zu\n", what, n);
}

static void table_report(const struct recover_report *r, int dry_run)
{
    size_t i;
    printf("%s\n", dry_run ? "recover-orphans (dry run: nothing was changed)" : "recover-orphans");
    row("messages read", r->messages);
    row("certmint notification mails", r->certmint_messages);
    row("  of another CA (foreign)", r->foreign_messages);
    row("text-only (AD CS-style) mails", r->fallback_messages);
    row("malformed messages skipped", r->malformed);
    row("events found", r->events);
    row("already in the database", r->known);
    row("orphans imported", r->imported);
    row("placeholders recorded", r->placeholders);
    row("revocations applied", r->revocations);
    row("releases from hold applied", r->releases);
    row("recovered and revoked now", r->revoked_now);
    if (r->crl_number)
        printf("  %-36s %lld%s\n", "CRL published", (long long)r->crl_number,
               r->delta_crl_number ? " (and a delta)" : "");
    row("rejected mails", r->rejected_total);
    for (i = 0; i < r->nrejected; i++)
        printf("    %s%s%s: %s\n", r->rejected[i].source,
               r->rejected[i].serial[0] ? " serial " : "", r->rejected[i].serial,
               r->rejected[i].what);
    if (r->nrejected < r->rejected_total)
        printf("    ... and %zu more\n", r->rejected_total - r->nrejected);
    row("pending requests unknown to the database", r->pending_unknown_total);
    for (i = 0; i < r->npending_unknown; i++)
        printf("    pending-unknown RequestID %lld (%s): %s\n",
               (long long)r->pending_unknown[i].request_id, r->pending_unknown[i].source,
               r->pending_unknown[i].what);
    if (r->npending_unknown < r->pending_unknown_total)
        printf("    ... and %zu more\n", r->pending_unknown_total - r->npending_unknown);
    for (i = 0; i < r->nwarnings; i++)
        fprintf(stderr, "certmint: warning: %s: %s\n", r->warnings[i].source, r->warnings[i].what);
    if (r->nwarnings < r->warnings_total)
        fprintf(stderr, "certmint: warning: ... and %zu more\n", r->warnings_total - r->nwarnings);
}

int cmd_recover_orphans(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"maildir", required_argument, NULL, 'm'},
        {"mbox", required_argument, NULL, 'b'},
        {"revoke", required_argument, NULL, 'r'},
        {"dry-run", no_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'f'},
        {"workers", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct recover_opts o;
    struct recover_report rep;
    const char **maildirs = NULL, **mboxes = NULL;
    ca_ctx *ca = NULL;
    int ch, json = 0, status = 0;
    cm_err rc = CM_OK;

    memset(&o, 0, sizeof(o));
    memset(&rep, 0, sizeof(rep));
    o.revoke_reason = -1;
    maildirs = calloc((size_t)argc, sizeof(*maildirs));
    mboxes = calloc((size_t)argc, sizeof(*mboxes));
    if (maildirs == NULL || mboxes == NULL) {
        status = cli_fail(cm_err_set(CM_ERR_NOMEM, "out of memory"));
        goto done;
    }
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'm':
            maildirs[o.nmaildirs++] = optarg;
            break;
        case 'b':
            mboxes[o.nmboxes++] = optarg;
            break;
        case 'r':
            o.revoke_reason = db_reason_parse(optarg);
            if (o.revoke_reason < 0 || o.revoke_reason == DB_REASON_REMOVE_FROM_CRL) {
                status = cli_fail(CM_ERR_INVALID);
                goto done;
            }
            break;
        case 'n':
            o.dry_run = 1;
            break;
        case 'w': {
            long long w;
            if (text_parse_int(&w, optarg, 1, 64, "--workers") != CM_OK) {
                status = cli_fail(CM_ERR_INVALID);
                goto done;
            }
            o.workers = (int)w;
            break;
        }
        case 'f':
            if (strcmp(optarg, "json") == 0)
                json = 1;
            else if (strcmp(optarg, "table") != 0) {
                status = cli_usage_error("recover-orphans: --format table or json");
                goto done;
            }
            break;
        default:
            status = cli_usage_error("recover-orphans: see 'certmint help recover-orphans'");
            goto done;
        }
    }
    if (optind != argc) {
        status = cli_usage_error("recover-orphans: unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (o.nmaildirs + o.nmboxes == 0) {
        status = cli_usage_error("recover-orphans: give --maildir DIR or --mbox FILE");
        goto done;
    }
    o.maildirs = maildirs;
    o.mboxes = mboxes;
    o.progress = isatty(STDERR_FILENO) && !json;
    if ((rc = cli_open_ca(&ca, g, 0)) != CM_OK) {
        status = cli_fail(rc);
        goto done;
    }
    rc = recover_orphans(&rep, ca, &o);
    if (rc == CM_OK && !o.dry_run)
        cli_deliver(ca);
    if (rc != CM_OK) {
        status = cli_fail(rc);
        goto done;
    }
    if (json)
        status = json_report(&rep, o.dry_run);
    else
        table_report(&rep, o.dry_run);
    if (status == 0 && rep.rejected_total > 0)
        status = 3;
done:
    recover_report_free(&rep);
    cli_close_ca(ca);
    free(maildirs);
    free(mboxes);
    return status;
}
