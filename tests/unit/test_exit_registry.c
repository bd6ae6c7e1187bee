/* The exit-module registry: the start-up check of each module's ops table
 * (version, name, functions, keys under exit.NAME.), the keys it adds to the
 * configuration schema, and the schema's registration API. */
#include "config/config.h"
#include "exit/exit.h"
#include "unit.h"

static int fake_offbox(void *state)
{
    (void)state;
    return 0;
}

static cm_err fake_init(void **state, struct ca_ctx *ca, const struct exit_ca_info *info)
{
    (void)ca;
    (void)info;
    *state = NULL;
    return CM_OK;
}

static cm_err fake_deliver(void *state, const struct exit_event_ctx *const *evs, size_t n,
                           size_t *acked, int *poison)
{
    (void)state;
    (void)evs;
    (void)poison;
    *acked = n;
    return CM_OK;
}

static void fake_shutdown(void *state)
{
    (void)state;
}

static const struct config_key fake_keys[] = {
    {"exit.fake.target", CFG_STRING, NULL, 0, 0, NULL, NULL, "where the fake module writes"},
    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};

/* A well-formed module of this build's layout; tests copy and break it. */
static const struct exit_module_ops fake_ok = {
    .version = EXIT_MODULE_VERSION,
    .name = "fake",
    .description = "a module for the registry's tests",
    .keys = fake_keys,
    .offbox = fake_offbox,
    .init = fake_init,
    .deliver = fake_deliver,
    .shutdown = fake_shutdown,
};

static cm_err check_one(const struct exit_module_ops *m)
{
    const struct exit_module_ops *const mods[] = {m, NULL};
    return exit_registry_check(mods);
}

static int msg_has(const char *needle)
{
    return strstr(cm_err_msg(), needle) != NULL;
}

TEST(real_table_passes)
{
    size_t n = 0;
    CHECK_OK(exit_registry_check(exit_modules));
    for (; exit_modules[n] != NULL; n++)
        CHECK(exit_module_find(exit_modules[n]->name) == exit_modules[n]);
    CHECK(n >= 2);
    CHECK(exit_module_find("smtp") != NULL);
    CHECK(exit_module_find("file") != NULL);
    CHECK(exit_module_find("fake") == NULL);
    CHECK_OK(check_one(&fake_ok));
}

TEST(wrong_version_names_module)
{
    struct exit_module_ops old = fake_ok;
    old.version = EXIT_MODULE_VERSION - 1;
    CHECK_ERR(check_one(&old), CM_ERR_CONFIG);
    CHECK(msg_has("exit module 'fake'"));
    CHECK(msg_has("ops version 1"));
    old.version = EXIT_MODULE_VERSION + 1;
    CHECK_ERR(check_one(&old), CM_ERR_CONFIG);
    CHECK(msg_has("'fake'"));
    /* A bad module after good ones is still found. */
    {
        const struct exit_module_ops *const mods[] = {exit_modules[0], &old, NULL};
        CHECK_ERR(exit_registry_check(mods), CM_ERR_CONFIG);
        CHECK(msg_has("'fake'"));
    }
}

TEST(bad_tables_refused)
{
    struct exit_module_ops m = fake_ok;
    static const struct config_key stray[] = {
        {"exit.smtp.server", CFG_STRING, NULL, 0, 0, NULL, NULL, "not the fake module's key"},
        {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    static const struct config_key undocumented[] = {
        {"exit.fake.x", CFG_STRING, NULL, 0, 0, NULL, NULL, NULL},
        {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
    };

    m.name = "Fake.1";
    CHECK_ERR(check_one(&m), CM_ERR_CONFIG);
    m = fake_ok;
    m.deliver = NULL;
    CHECK_ERR(check_one(&m), CM_ERR_CONFIG);
    CHECK(msg_has("deliver"));
    m = fake_ok;
    m.keys = stray;
    CHECK_ERR(check_one(&m), CM_ERR_CONFIG);
    CHECK(msg_has("exit.smtp.server") && msg_has("exit.fake."));
    m.keys = undocumented;
    CHECK_ERR(check_one(&m), CM_ERR_CONFIG);
    CHECK(msg_has("help"));
    m = fake_ok;
    m.description = NULL;
    CHECK_ERR(check_one(&m), CM_ERR_CONFIG);
    {
        const struct exit_module_ops *const twice[] = {&fake_ok, &fake_ok, NULL};
        CHECK_ERR(exit_registry_check(twice), CM_ERR_CONFIG);
        CHECK(msg_has("twice"));
    }
}

struct find_key {
    const struct config_key *want;
    int found;
};

static void find_key_cb(void *ctx, const struct config_key *k)
{
    struct find_key *f = ctx;
    f->found |= k == f->want;
}

/* Every module's keys (and the framework's and the directory client's) are
 * in the schema after start, and only then: config itself knows none. */
TEST(keys_join_schema)
{
    CHECK(config_schema_find("exit.modules") == NULL);
    CHECK(config_schema_find("exit.smtp.server") == NULL);
    CHECK(config_schema_find("crl.period") != NULL); /* the core keys are built in */
    CHECK_OK(exit_registry_init());
    CHECK_OK(exit_registry_init()); /* idempotent */
    CHECK(config_schema_find("exit.modules") != NULL);
    CHECK(config_schema_find("ldap.uri") != NULL);
    for (size_t i = 0; exit_modules[i] != NULL; i++)
        for (const struct config_key *k = exit_modules[i]->keys; k && k->pattern; k++) {
            struct find_key f = {k, 0};
            config_schema_foreach(find_key_cb, &f);
            if (!f.found)
                UNIT_FAIL("%s: key %s not in the schema", exit_modules[i]->name, k->pattern);
        }
    CHECK(config_schema_find("exit.smtp.issued.titleformat") != NULL);
    CHECK(config_schema_find("exit.file.dir") != NULL);
}

TEST(schema_register)
{
    static const struct config_key dup[] = {
        {"exit.fake.target", CFG_STRING, NULL, 0, 0, NULL, NULL, "new"},
        {"crl.period", CFG_STRING, NULL, 0, 0, NULL, NULL, "a second owner of a core key"},
        {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    static const struct config_key twice[] = {
        {"exit.fake.a", CFG_STRING, NULL, 0, 0, NULL, NULL, "a"},
        {"exit.fake.a", CFG_STRING, NULL, 0, 0, NULL, NULL, "a again"},
        {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    cm_config *c = NULL;

    CHECK_ERR(config_schema_register(dup), CM_ERR_CONFIG);
    CHECK(msg_has("crl.period"));
    CHECK(config_schema_find("exit.fake.target") == NULL); /* refused whole */
    CHECK_ERR(config_schema_register(twice), CM_ERR_CONFIG);
    CHECK(config_schema_find("exit.fake.a") == NULL);
    CHECK_OK(config_new(&c));
    CHECK_ERR(config_set(c, "exit.fake.target", "x"), CM_ERR_CONFIG);
    CHECK_OK(config_schema_register(fake_keys));
    CHECK_OK(config_schema_register(fake_keys)); /* the same table: once */
    CHECK_OK(config_set(c, "exit.fake.target", "x"));
    CHECK_STR(config_get(c, "exit.fake.target"), "x");
    config_free(c);
}

/* `config set` hooks come from the table: the warning names the module a
 * key belongs to (by exit.NAME. or its reads_prefix). */
TEST(config_warning)
{
    cm_config *c = NULL;
    char buf[512];
    const char *w;

    CHECK_OK(config_new(&c));
    w = exit_config_warning(buf, sizeof(buf), c, "exit.file.dir");
    CHECK(w != NULL && strstr(w, "exit module file is not enabled") != NULL);
    w = exit_config_warning(buf, sizeof(buf), c, "crl.period");
    CHECK(w == NULL);
    if (exit_module_find("ldap") != NULL) {
        w = exit_config_warning(buf, sizeof(buf), c, "ldap.uri");
        CHECK(w != NULL && strstr(w, "exit module ldap") != NULL);
    }
    CHECK_OK(config_set(c, "exit.modules", "file"));
    CHECK(exit_config_warning(buf, sizeof(buf), c, "exit.file.dir") == NULL);
    w = exit_config_warning(buf, sizeof(buf), c, "exit.smtp.server");
    CHECK(w != NULL && strstr(w, "exit.modules file,smtp") != NULL);
    /* A template that does not compile is refused through smtp's hook. */
    CHECK_OK(config_set(c, "exit.smtp.issued.titleformat", "cert %2"));
    CHECK_OK(config_set(c, "exit.smtp.issued.titlearg", "SerialNumber"));
    CHECK_ERR(exit_config_check(c, "exit.smtp.issued.titleformat"), CM_ERR_CONFIG);
    CHECK_OK(exit_config_check(c, "exit.file.dir"));
    config_free(c);
}

int main(void)
{
    unit_suite = "exit_registry";
    RUN(real_table_passes);
    RUN(wrong_version_names_module);
    RUN(bad_tables_refused);
    RUN(keys_join_schema);
    RUN(schema_register);
    RUN(config_warning);
    return UNIT_DONE();
}
