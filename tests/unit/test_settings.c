/* The configuration as core calls (src/ca/settings.c) on a real database
 * and file: a change is saved and audited with the actor given, a refused
 * one changes neither, an unset of what is not set records nothing, and
 * the exit modules' warning arrives through config's change hook (the
 * core does not call src/exit). */
#include "ca/query.h"
#include "ca/settings.h"
#include "exit/exit.h"
#include "fixture_ca.h"
#include "unit.h"
#include "util/fsutil.h"

static char base[200];

struct last_audit {
    int n;
    char who[64], action[32], details[256];
};

static cm_err audit_cb(void *ctx, int64_t id, const struct db_audit *a)
{
    struct last_audit *l = ctx;
    (void)id;
    l->n++;
    snprintf(l->who, sizeof(l->who), "%s", a->who ? a->who : "");
    snprintf(l->action, sizeof(l->action), "%s", a->action ? a->action : "");
    snprintf(l->details, sizeof(l->details), "%s", a->details ? a->details : "");
    return CM_OK;
}

static char *conf_text(const char *home)
{
    char path[512];
    unsigned char *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/" CA_CONF_FILE, home);
    if (fs_read_file(&data, &len, path, 1 << 20) != CM_OK)
        return NULL;
    return (char *)data;
}

/* The session acts for who (the actor of the records it writes). */
static void test_as(ca_ctx *ca, const char *who)
{
    struct ca_actor a = {CA_ACTOR_OPERATOR, who};
    CHECK_OK(ca_session_actor(ca, &a));
}

TEST(set_unset_audited)
{
    char home[256], path[512], warn[512];
    ca_ctx *ca = NULL;
    struct last_audit l;
    char *before = NULL, *after = NULL;
    const char *v = NULL;
    int is_set = 0;

    snprintf(home, sizeof(home), "%s/a", base);
    ca = open_test_ca(home);
    CHECK(ca != NULL);
    if (ca == NULL)
        return;
    snprintf(path, sizeof(path), "%s/" CA_CONF_FILE, home);
    CHECK_OK(fs_write_atomic(path, "# test\n", 7, 0600));

    test_as(ca, "alice");
    CHECK_OK(ca_config_set(warn, sizeof(warn), ca, "crl.period", "3d"));
    CHECK_STR(warn, "");
    test_as(ca, "alice");
    CHECK_OK(ca_config_get(&v, &is_set, ca, "crl.period"));
    CHECK_STR(v, "3d");
    CHECK_INT(is_set, 1);
    memset(&l, 0, sizeof(l));
    test_as(ca, "alice");
    CHECK_OK(ca_audit_list(ca, 0, audit_cb, &l));
    CHECK_INT(l.n, 1);
    CHECK_STR(l.who, "alice");
    CHECK_STR(l.action, "config");
    CHECK_STR(l.details, "set crl.period = 3d");

    /* Refused: the file byte-identical, no record. */
    before = conf_text(home);
    test_as(ca, "bob");
    CHECK_ERR(ca_config_set(warn, sizeof(warn), ca, "crl.period", "banana"), CM_ERR_CONFIG);
    test_as(ca, "bob");
    CHECK_ERR(ca_config_set(warn, sizeof(warn), ca, "no.such.key", "1"), CM_ERR_CONFIG);
    after = conf_text(home);
    CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    memset(&l, 0, sizeof(l));
    test_as(ca, "bob");
    CHECK_OK(ca_audit_list(ca, 0, audit_cb, &l));
    CHECK_INT(l.n, 1);

    /* Unset of a key not set: nothing written, nothing recorded. */
    test_as(ca, "bob");
    CHECK_OK(ca_config_unset(ca, "crl.delta_period"));
    memset(&l, 0, sizeof(l));
    test_as(ca, "bob");
    CHECK_OK(ca_audit_list(ca, 0, audit_cb, &l));
    CHECK_INT(l.n, 1);
    test_as(ca, "bob");
    CHECK_OK(ca_config_unset(ca, "crl.period"));
    memset(&l, 0, sizeof(l));
    test_as(ca, "bob");
    CHECK_OK(ca_audit_list(ca, 0, audit_cb, &l));
    CHECK_INT(l.n, 2);
    CHECK_STR(l.who, "bob");
    CHECK_STR(l.details, "unset crl.period");
    test_as(ca, "bob");
    CHECK_OK(ca_config_get(&v, &is_set, ca, "crl.period"));
    CHECK_INT(is_set, 0);

    /* The exit registry's warning, reached through config's hook. */
    test_as(ca, "carol");
    CHECK_OK(ca_config_set(warn, sizeof(warn), ca, "exit.smtp.server",
                           "smtp://127.0.0.1:2525"));
    CHECK(strstr(warn, "exit module smtp is not enabled") != NULL);
    free(before);
    free(after);
    close_test_ca(ca);
}

int main(void)
{
    char tmpl[] = "/tmp/cm-test-settings.XXXXXX";
    unit_suite = "settings";
    if (exit_registry_init() != CM_OK) {
        printf("not ok - settings: exit_registry_init: %s\n", cm_err_msg());
        return 1;
    }
    if (mkdtemp(tmpl) == NULL)
        return 1;
    snprintf(base, sizeof(base), "%s", tmpl);
    RUN(set_unset_audited);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpl);
    }
    return UNIT_DONE();
}
