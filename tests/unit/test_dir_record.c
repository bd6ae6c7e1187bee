/* The record of what certmint published in the directory (ldap/record.h),
 * in a real SQLite database; the stored meta values are read back with a
 * raw SQLite connection, independent of the code under test. Publishing
 * itself is tested against slapd in tests/e2e/ldap_exit.sh. */
#include "config/config.h"
#include "db/db.h"
#include "exit/exit.h"
#include "ldap/record.h"
#include "unit.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/cm-test-dir-record.XXXXXX";
static char dbpath[512];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

/* The raw meta value of key, via its own connection ("" when absent). */
static void raw_meta(char *out, size_t n, const char *key)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto done;
    if (sqlite3_prepare_v2(h, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
done:
    sqlite3_finalize(st);
    sqlite3_close(h);
}

static db_t *db;

TEST(absent_is_none)
{
    enum dir_record_state st = DIR_REC_PUBLISHED;
    char *dn = (char *)"x";
    CHECK_OK(dir_record_get(&st, &dn, db, "0A"));
    CHECK_INT(st, DIR_REC_NONE);
    CHECK(dn == NULL);
}

TEST(round_trip)
{
    static const struct {
        enum dir_record_state st;
        const char *dn, *stored;
    } cases[] = {
        {DIR_REC_PUBLISHED, "uid=alice,ou=people,dc=example,dc=org",
         "uid=alice,ou=people,dc=example,dc=org"},
        {DIR_REC_PENDING, "uid=alice,ou=people,dc=example,dc=org",
         "pending:uid=alice,ou=people,dc=example,dc=org"},
        {DIR_REC_REMOVED, "cn=A\\2C B,dc=example,dc=org", "removed:cn=A\\2C B,dc=example,dc=org"},
        {DIR_REC_REMOVED, "", "removed:"},
        {DIR_REC_FOREIGN, "cn=x", "foreign:cn=x"},
    };
    char raw[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum dir_record_state st = DIR_REC_NONE;
        char *dn = NULL;
        CHECK_OK(dir_record_set(db, "1F2E", cases[i].st, cases[i].dn));
        raw_meta(raw, sizeof(raw), DIR_RECORD_KEY_PREFIX "1F2E");
        CHECK_STR(raw, cases[i].stored);
        CHECK_OK(dir_record_get(&st, &dn, db, "1F2E"));
        CHECK_INT(st, cases[i].st);
        CHECK_STR(dn, cases[i].dn);
        free(dn);
    }
    /* Each serial has its own record. */
    CHECK_OK(dir_record_set(db, "2000", DIR_REC_PUBLISHED, "cn=y"));
    raw_meta(raw, sizeof(raw), DIR_RECORD_KEY_PREFIX "1F2E");
    CHECK_STR(raw, "foreign:cn=x");
}

TEST(refused_values)
{
    char raw[64];
    /* "Published nowhere" is not a record; nor is a NULL DN. */
    CHECK_ERR(dir_record_set(db, "3000", DIR_REC_PUBLISHED, ""), CM_ERR_INVALID);
    CHECK_ERR(dir_record_set(db, "3000", DIR_REC_PENDING, NULL), CM_ERR_INVALID);
    CHECK_ERR(dir_record_set(db, "3000", DIR_REC_NONE, "cn=x"), CM_ERR_INVALID);
    raw_meta(raw, sizeof(raw), DIR_RECORD_KEY_PREFIX "3000");
    CHECK_STR(raw, "");
    /* Nothing left open: a new transaction starts cleanly. */
    CHECK_OK(db_begin(db));
    CHECK_OK(db_commit(db));
}

TEST(state_names)
{
    CHECK_STR(dir_record_state_name(DIR_REC_NONE), "none");
    CHECK_STR(dir_record_state_name(DIR_REC_PUBLISHED), "published");
    CHECK_STR(dir_record_state_name(DIR_REC_PENDING), "pending");
    CHECK_STR(dir_record_state_name(DIR_REC_REMOVED), "removed");
    CHECK_STR(dir_record_state_name(DIR_REC_FOREIGN), "foreign");
}

TEST(profiles)
{
    cm_config *cfg = NULL;
    CHECK_OK(config_new(&cfg));
    if (cfg == NULL)
        return;
    /* Default: smime only. */
    CHECK(dir_profile_listed(cfg, "smime"));
    CHECK(!dir_profile_listed(cfg, "tls-server"));
    CHECK(!dir_profile_listed(cfg, NULL));
    CHECK_OK(config_set(cfg, "exit.ldap.profiles", "smime,smime-legacy"));
    CHECK(dir_profile_listed(cfg, "smime-legacy"));
    CHECK(dir_profile_listed(cfg, "smime"));
    /* Whole names only, case as given. */
    CHECK(!dir_profile_listed(cfg, "smime-"));
    CHECK(!dir_profile_listed(cfg, "SMIME"));
    CHECK(!dir_profile_listed(cfg, ""));
    config_free(cfg);
}

int main(void)
{
    unit_suite = "dir_record";
    if (exit_registry_init() != CM_OK) {
        printf("not ok - dir_record: exit_registry_init: %s\n", cm_err_msg());
        return 1;
    }
    if (mkdtemp(tmpdir) == NULL) {
        printf("not ok - dir_record: mkdtemp\n");
        return 1;
    }
    snprintf(dbpath, sizeof(dbpath), "%s/certmint.db", tmpdir);
    if (db_open(&db, dbpath, 1) != CM_OK) {
        printf("not ok - dir_record: cannot create %s: %s\n", dbpath, cm_err_msg());
        return 1;
    }
    RUN(absent_is_none);
    RUN(round_trip);
    RUN(refused_values);
    RUN(state_names);
    RUN(profiles);
    db_close(db);
    nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return UNIT_DONE();
}
