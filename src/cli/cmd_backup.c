/* certmint backup, restore. */
#include "cli/commands.h"

#include "backup/backup.h"
#include "util/fsutil.h"
#include "util/json.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_backup_usage[] =
    "certmint backup DIR [--format table|json]\n"
    "certmint backup --verify DIR [--format table|json]\n"
    "\n"
    "Writes an online, consistent snapshot of the CA home into DIR (new or empty, never\n"
    "inside the CA home): the database (SQLite's backup API, safe while 'certmint serve'\n"
    "runs), the CA key as stored (encrypted), the certificate and chain, the configuration,\n"
    "the published CRLs, and a MANIFEST with the SHA-256 of every file and the high-water\n"
    "marks (last RequestID, last CRL number, last event ID). --verify checks a backup\n"
    "without restoring it.\n"
    "  --format F   table (default) or json: {\"backup\",\"verified\",\"last_request_id\",\n"
    "               \"last_crl_number\",\"last_event_id\",\"certificates\"}\n"
    "               (verified: false for a new backup, true after --verify)\n";

static void print_marks(const struct backup_marks *m)
{
    printf("last RequestID %lld, last CRL number %lld, last event %lld, %lld certificate%s\n",
           (long long)m->last_request_id, (long long)m->last_crl_number,
           (long long)m->last_event_id, (long long)m->certificates,
           m->certificates == 1 ? "" : "s");
}

static int marks_json(const char *dir, int verified, const struct backup_marks *m)
{
    cm_buf b = CM_BUF_INIT(64 * 1024);
    int first = 1;
    cm_err rc = CM_OK;

    CM_TRY(buf_append_str(&b, "{"));
    CM_TRY(json_append_kv(&b, &first, "backup", dir));
    CM_TRY(json_append_kv_bool(&b, &first, "verified", verified));
    CM_TRY(json_append_kv_int(&b, &first, "last_request_id", (long long)m->last_request_id));
    CM_TRY(json_append_kv_int(&b, &first, "last_crl_number", (long long)m->last_crl_number));
    CM_TRY(json_append_kv_int(&b, &first, "last_event_id", (long long)m->last_event_id));
    CM_TRY(json_append_kv_int(&b, &first, "certificates", (long long)m->certificates));
    CM_TRY(buf_append_str(&b, "}"));
out:
    return cli_json_emit(&b, rc);
}

int cmd_backup(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"verify", no_argument, NULL, 'v'},
                                         {"format", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    struct backup_marks m;
    enum cli_format fmt = CLI_FMT_TEXT;
    ca_ctx *ca = NULL;
    int ch, verify = 0;
    cm_err rc;

    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch == 'f') {
            if (cli_parse_format(&fmt, optarg) != 0)
                return 2;
            continue;
        }
        if (ch != 'v')
            return cli_usage_error("backup: see 'certmint help backup'");
        verify = 1;
    }
    if (argc - optind != 1)
        return cli_usage_error("backup: usage: certmint backup [--verify] DIR");
    if (verify) {
        rc = backup_verify(&m, argv[optind]);
        if (rc != CM_OK)
            return cli_fail(rc);
        if (fmt == CLI_FMT_JSON)
            return marks_json(argv[optind], 1, &m);
        printf("backup %s is intact: ", argv[optind]);
        print_marks(&m);
        return 0;
    }
    if ((rc = cli_open_ca(&ca, g, 1)) != CM_OK)
        return cli_fail(rc);
    rc = backup_create(&m, ca, argv[optind]);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    if (fmt == CLI_FMT_JSON)
        return marks_json(argv[optind], 0, &m);
    printf("backup written to %s: ", argv[optind]);
    print_marks(&m);
    return 0;
}

const char cmd_restore_usage[] =
    "certmint restore DIR [--home NEW] [--force] [--crl FILE]... [--db URL]\n"
    "\n"
    "Verifies the backup in DIR and restores it into the CA home (--home NEW, else the\n"
    "global --home / CERTMINT_HOME; NEW never inside that one). An existing CA home is\n"
    "refused unless --force, which moves it aside (HOME.replaced.TIME), never deletes it.\n"
    "--crl FILE names CRLs published before the disaster that are still at hand: the next\n"
    "CRL number will exceed theirs. Then run 'certmint recover-orphans' on the notification\n"
    "mails to bring back what was issued after the backup, before the restored CA issues or\n"
    "publishes anything: it raises the RequestID, CRL-number and event-ID sequences past\n"
    "the mail trail. The restore is recorded in the restored CA's audit log (action\n"
    "restore, by the operator, naming DIR).\n"
    "--db URL restores the database into a new PostgreSQL database\n"
    "(postgresql://USER@HOST:PORT/DB, recorded as db.url), whichever backend the backup\n"
    "came from: the way to move an SQLite CA to PostgreSQL (docs/postgresql.md).\n";

int cmd_restore(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"home", required_argument, NULL, 'H'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"crl", required_argument, NULL, 'c'},
                                         {"db", required_argument, NULL, 'D'},
                                         {NULL, 0, NULL, 0}};
    struct restore_opts o;
    struct backup_marks m;
    const char **crls = NULL;
    char aside[4096], who[CA_ACTOR_MAX];
    struct ca_actor actor;
    int ch;
    cm_err rc;

    memset(&o, 0, sizeof(o));
    o.home = g->home;
    cli_actor(&actor, who, sizeof(who));
    o.actor = actor.name;
    crls = calloc((size_t)argc, sizeof(*crls));
    if (crls == NULL)
        return cli_fail(cm_err_set(CM_ERR_NOMEM, "out of memory"));
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        switch (ch) {
        case 'H':
            o.home = optarg;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'c':
            crls[o.ncrl_files++] = optarg;
            break;
        case 'D':
            o.db_url = optarg;
            break;
        default:
            free(crls);
            return cli_usage_error("restore: see 'certmint help restore'");
        }
    }
    o.crl_files = crls;
    if (argc - optind != 1) {
        free(crls);
        return cli_usage_error("restore: usage: certmint restore DIR [--home NEW] [--force]");
    }
    if (o.home == NULL) {
        free(crls);
        return cli_usage_error("restore: no CA home: give --home NEW (or the global --home)");
    }
    /* A new home (--home NEW) never goes inside the CA home named globally. */
    if (g->home != NULL && strcmp(o.home, g->home) != 0 &&
        (rc = fs_out_check_dir(o.home, g->home)) != CM_OK) {
        free(crls);
        return cli_fail(rc);
    }
    rc = backup_restore(&m, aside, sizeof(aside), argv[optind], &o);
    free(crls);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("restored %s into %s: ", argv[optind], o.home);
    print_marks(&m);
    if (aside[0])
        printf("the previous CA home was moved to %s\n", aside);
    printf("next: certmint --home %s recover-orphans --maildir DIR | --mbox FILE, before "
           "anything else\n",
           o.home);
    return 0;
}
