/* certmint db migrate: moves the CA's database to another backend
 * (docs/postgresql.md). The work and the proof are backup_migrate's. */
#include "cli/commands.h"

#include "backup/backup.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

const char cmd_db_usage[] =
    "certmint db migrate --to postgresql://USER@HOST:PORT/DB\n"
    "certmint db migrate --to sqlite\n"
    "\n"
    "Moves the CA's database to another backend: into a new PostgreSQL database (created\n"
    "when the role may; one that already holds a CA database is refused), or back into\n"
    "the home's own SQLite file (certmint.db, which must not exist). Every table is\n"
    "copied from one consistent snapshot, then read back from the target through its own\n"
    "backend: the row count and SHA-256 of every table, source and target, are printed\n"
    "and compared. Only when all match is certmint.conf pointed at the new database\n"
    "(db.url set, or removed for sqlite); otherwise the target is removed and nothing\n"
    "changes. The old database is kept; remove it yourself once the CA runs on the new\n"
    "one. Stop 'certmint serve' on every node first: a change to the CA during the copy\n"
    "fails the migration. The password comes from PGPASSFILE or ~/.pgpass, never the\n"
    "command line. Exit status 0 only when every table matched.\n";

static void table_cb(void *ctx, const char *table, int64_t src_rows, const char *src_sha,
                     int64_t dst_rows, const char *dst_sha)
{
    int *header = ctx;
    if (!*header) {
        printf("%-12s %8s %8s  %-64s  %s\n", "table", "source", "target", "sha256 (source)",
               "match");
        *header = 1;
    }
    printf("%-12s %8lld %8lld  %-64s  %s\n", table, (long long)src_rows, (long long)dst_rows,
           src_sha, src_rows == dst_rows && strcmp(src_sha, dst_sha) == 0 ? "yes" : "NO");
    if (dst_rows >= 0 && strcmp(src_sha, dst_sha) != 0)
        printf("%-12s %8s %8s  %-64s  (target)\n", "", "", "", dst_sha);
}

int cmd_db(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {{"to", required_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
    struct migrate_report rep;
    struct ca_actor actor;
    char who[CA_ACTOR_MAX];
    const char *to = NULL;
    ca_ctx *ca = NULL;
    int ch, header = 0;
    cm_err rc;

    if (argc < 2 || strcmp(argv[1], "migrate") != 0)
        return cli_usage_error("db: usage: certmint db migrate --to URL|sqlite");
    argc--;
    argv++;
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1) {
        if (ch != 't')
            return cli_usage_error("db migrate: see 'certmint help db'");
        to = optarg;
    }
    if (to == NULL || argc != optind)
        return cli_usage_error("db migrate: usage: certmint db migrate --to URL|sqlite");
    if ((rc = cli_open_ca(&ca, g, 1)) != CM_OK)
        return cli_fail(rc);
    cli_actor(&actor, who, sizeof(who));
    rc = backup_migrate(&rep, ca, to, actor.name, table_cb, &header);
    cli_close_ca(ca);
    if (rc != CM_OK)
        return cli_fail(rc);
    printf("migrated %zu tables (last RequestID %lld, %lld certificates) to %s; every table "
           "matches; certmint.conf now uses it\n",
           rep.tables, (long long)rep.last_request_id, (long long)rep.certificates, rep.target);
    return 0;
}
