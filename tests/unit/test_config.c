/* Unit tests of the configuration module: parsing, every value type, the
 * schema, names(), saving (comments, order, mode, atomicity of refusals),
 * durations and the list normalizers. Files are real files in a temp dir. */
#include "config/config.h"
#include "exit/exit.h"
#include "unit.h"
#include "util/fsutil.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char path[512];

static void write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "wb");
    if (f == NULL) {
        perror(p);
        exit(2);
    }
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

/* The file's bytes (static buffer; "" if unreadable). */
static const char *read_text(const char *p)
{
    static unsigned char *data;
    size_t len;
    free(data);
    data = NULL;
    if (fs_read_file(&data, &len, p, 4 * 1024 * 1024) != CM_OK)
        return "";
    return (const char *)data;
}

static int msg_has(const char *s)
{
    return strstr(cm_err_msg(), s) != NULL;
}

#define CHECK_MSG(s)                                                                               \
    do {                                                                                           \
        if (!msg_has(s))                                                                           \
            UNIT_FAIL("message \"%s\" lacks \"%s\"", cm_err_msg(), (s));                           \
    } while (0)

/* Loads text as a config file. */
static cm_err load_text(cm_config **c, const char *text)
{
    write_text(path, text);
    return config_load(c, path, 0);
}

/* set key=in must give stored value `want`. */
static void set_ok(cm_config *c, const char *key, const char *in, const char *want)
{
    cm_err rc = config_set(c, key, in);
    if (rc != CM_OK) {
        UNIT_FAIL("set %s '%s' failed: %s", key, in, cm_err_msg());
        return;
    }
    const char *got = config_get(c, key);
    if (got == NULL || strcmp(got, want) != 0)
        UNIT_FAIL("set %s '%s' stored '%s', expected '%s'", key, in, got ? got : "(null)", want);
}

/* set key=in must be refused with a message naming the key and containing
 * `why`, and leave the value as it was. */
static void set_bad(cm_config *c, const char *key, const char *in, const char *why)
{
    const char *before = config_schema_find(key) ? config_get(c, key) : NULL;
    char *saved = before ? strdup(before) : NULL;
    cm_err rc = config_set(c, key, in);
    if (rc != CM_ERR_CONFIG)
        UNIT_FAIL("set %s '%s' returned %d, expected refusal", key, in, (int)rc);
    else if (!msg_has(key) || !msg_has(why))
        UNIT_FAIL("set %s '%s': message \"%s\" lacks the key or \"%s\"", key, in, cm_err_msg(),
                  why);
    if (config_schema_find(key)) {
        const char *after = config_get(c, key);
        if ((saved == NULL) != (after == NULL) || (saved && strcmp(saved, after) != 0))
            UNIT_FAIL("set %s '%s' refused but changed the value", key, in);
    }
    free(saved);
}

TEST(parse_good_file)
{
    cm_config *c = NULL;
    CHECK_OK(load_text(&c, "\xef\xbb\xbf# certmint configuration\n"
                           "\n"
                           "ca.name = Example Root   \n"
                           "  ca.default_days=730\n"
                           "crl.period\t=\t3d   # weekly is too slow here\n"
                           "ca.passphrase_file = \"  /etc/pass # with hash  \"  # trailing\n"
                           "profile.web.description = \"say \\\"hi\\\" \\\\o/\"\n"
                           "profile.web.require_san = TRUE\r\n"
                           "profile.web.approval = Manual\n"
                           "crl.cdp_url = http://crl.example.com/ca.crl\n"
                           "   # indented comment\n"
                           "log.level = debug"));
    if (c == NULL)
        return;
    CHECK_STR(config_get(c, "ca.name"), "Example Root");
    CHECK_STR(config_get(c, "ca.default_days"), "730");
    CHECK_STR(config_get(c, "crl.period"), "3d");
    CHECK_STR(config_get(c, "ca.passphrase_file"), "  /etc/pass # with hash  ");
    CHECK_STR(config_get(c, "profile.web.description"), "say \"hi\" \\o/");
    CHECK_STR(config_get(c, "profile.web.require_san"), "yes");
    CHECK_STR(config_get(c, "profile.web.approval"), "manual");
    CHECK_STR(config_get(c, "log.level"), "debug");
    CHECK(config_is_set(c, "crl.cdp_url"));
    CHECK(!config_is_set(c, "crl.overlap"));
    /* Defaults for what the file does not set. */
    CHECK_STR(config_get(c, "crl.overlap"), "1h");
    CHECK_STR(config_get(c, "ca.serial_bytes"), "16");
    CHECK(config_get(c, "ca.aia_url") == NULL);
    CHECK(config_get(c, "profile.web.days") == NULL);

    long long v = 0;
    int64_t secs = 0;
    CHECK_OK(config_get_int(c, "ca.default_days", &v));
    CHECK_INT(v, 730);
    CHECK_OK(config_get_int(c, "submit.batch_group", &v));
    CHECK_INT(v, 512);
    CHECK_ERR(config_get_int(c, "profile.web.days", &v), CM_ERR_NOTFOUND);
    CHECK_OK(config_get_seconds(c, "crl.period", &secs));
    CHECK_INT(secs, 3 * 86400);
    CHECK_OK(config_get_seconds(c, "ca.backdate", &secs));
    CHECK_INT(secs, 300);
    CHECK_ERR(config_get_seconds(c, "crl.delta_period", &secs), CM_OK);
    CHECK_INT(secs, 86400);
    CHECK(config_get_bool(c, "profile.web.require_san"));
    CHECK(!config_get_bool(c, "profile.web.ca"));
    config_free(c);

    /* Empty and comment-only files are valid; a missing one only if allowed. */
    CHECK_OK(load_text(&c, ""));
    CHECK_STR(config_get(c, "log.level"), "warn");
    config_free(c);
    CHECK_OK(load_text(&c, "# nothing\n\n   \n"));
    config_free(c);
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/absent.conf", dir);
    CHECK_ERR(config_load(&c, missing, 0), CM_ERR_NOTFOUND);
    CHECK(c == NULL);
    CHECK_OK(config_load(&c, missing, 1));
    CHECK(c != NULL && !config_is_set(c, "ca.name"));
    config_free(c);
}

TEST(parse_errors_name_file_and_line)
{
    cm_config *c = NULL;
    char want[600];
    struct {
        const char *text;
        const char *line, *why;
    } cases[] = {
        {"ca.name = a\nnot a key line\n", ":2: ", "expected 'key = value'"},
        {"ca.name\n", ":1: ", "expected 'key = value'"},
        {"= value\n", ":1: ", "expected 'key = value'"},
        {"#\nca.name = \"open\n", ":2: ", "missing closing"},
        {"ca.name = \"a\" b\n", ":1: ", "text after the closing"},
        {"ca.name = \"a\\n\"\n", ":1: ", "backslash"},
        {"\n\nca.nmae = x\n", ":3: ", "unknown key 'ca.nmae'"},
        {"CA.name = x\n", ":1: ", "unknown key 'CA.name'"},
        {"profile.web = x\n", ":1: ", "unknown key"},
        {"profile.a.b.days = 5\n", ":1: ", "unknown key"},
        {"ca.default_days = 0\n", ":1: ", "ca.default_days: '0' is out of range 1..36500"},
        {"log.level = loud\n", ":1: ", "log.level: 'loud' is not one of error|warn|info|debug"},
        {"ca.name = a\x01z\n", ":1: ", "control character"},
        {"profile.x.keys = dsa:1024\n", ":1: ", "profile.x.keys: unknown key type 'dsa:1024'"},
        {"ca.name = a\nca.default_days = 9\nca.name = b\n", ":3: ",
         "duplicate key 'ca.name' (first set on line 1)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cm_err rc = load_text(&c, cases[i].text);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].line);
        if (rc != CM_ERR_CONFIG)
            UNIT_FAIL("case %zu: load returned %d (%s)", i, (int)rc, cm_err_msg());
        else if (strncmp(cm_err_msg(), want, strlen(want)) != 0 || !msg_has(cases[i].why))
            UNIT_FAIL("case %zu: message \"%s\", expected \"%s...%s\"", i, cm_err_msg(), want,
                      cases[i].why);
        CHECK(c == NULL);
        config_free(c);
        c = NULL;
    }

    /* A line of 4096 bytes is fine, 4097 is not. */
    char *big = malloc(8192);
    memset(big, 0, 8192);
    memcpy(big, "ca.name = ", 10);
    memset(big + 10, 'x', 4096 - 10);
    CHECK_OK(load_text(&c, big));
    CHECK(c != NULL && strlen(config_get(c, "ca.name")) == 4086);
    config_free(c);
    c = NULL;
    big[4096] = 'x';
    CHECK_ERR(load_text(&c, big), CM_ERR_CONFIG);
    CHECK_MSG(":1: line longer than 4096 bytes");
    free(big);

    /* A NUL byte: not a text file. */
    FILE *f = fopen(path, "wb");
    fwrite("ca.name = a\0b\n", 1, 14, f);
    fclose(f);
    CHECK_ERR(config_load(&c, path, 0), CM_ERR_CONFIG);
    CHECK_MSG("NUL byte");

    /* Over 1 MiB: refused before parsing. */
    size_t n = 1024 * 1024 + 1;
    char *huge = malloc(n + 1);
    memset(huge, '#', n);
    huge[n] = '\0';
    for (size_t i = 100; i < n; i += 100)
        huge[i] = '\n';
    write_text(path, huge);
    CHECK(config_load(&c, path, 0) != CM_OK);
    CHECK_MSG("too large");
    CHECK(c == NULL);
    huge[n - 1] = '\0'; /* exactly 1 MiB: fine */
    write_text(path, huge);
    CHECK_OK(config_load(&c, path, 0));
    config_free(c);
    free(huge);
}

TEST(large_file_duplicate_detection)
{
    /* 30000 profiles, then a duplicate of the first: found, with its line. */
    cm_config *c = NULL;
    size_t cap = 2 * 1024 * 1024, used = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 30000; i++)
        used += (size_t)snprintf(text + used, cap - used, "profile.p%d.days = %d\n", i,
                                 1 + i % 1000);
    CHECK_OK(load_text(&c, text));
    CHECK(c != NULL);
    if (c)
        CHECK_STR(config_get(c, "profile.p29999.days"), "1000");
    config_free(c);
    c = NULL;
    snprintf(text + used, cap - used, "profile.p0.days = 5\n");
    CHECK_ERR(load_text(&c, text), CM_ERR_CONFIG);
    CHECK_MSG(":30001: duplicate key 'profile.p0.days' (first set on line 1)");
    free(text);
}

TEST(type_int)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    set_ok(c, "ca.serial_bytes", "9", "9");
    set_ok(c, "ca.serial_bytes", "20", "20");
    set_ok(c, "ca.serial_bytes", "016", "16");
    set_ok(c, "profile.sub.pathlen", "-1", "-1");
    set_ok(c, "profile.sub.pathlen", "16", "16");
    set_ok(c, "profile.x.max_sans", "0", "0");
    set_bad(c, "ca.serial_bytes", "8", "out of range 9..20");
    set_bad(c, "ca.serial_bytes", "21", "out of range 9..20");
    set_bad(c, "ca.serial_bytes", "+12", "not a number");
    set_bad(c, "ca.serial_bytes", " 12", "not a number");
    set_bad(c, "ca.serial_bytes", "12x", "not a number");
    set_bad(c, "ca.serial_bytes", "0x10", "not a number");
    set_bad(c, "ca.serial_bytes", "", "not a number");
    set_bad(c, "ca.serial_bytes", "-", "not a number");
    set_bad(c, "ca.serial_bytes", "99999999999999999999", "out of range");
    set_bad(c, "profile.sub.pathlen", "-2", "out of range -1..16");
    set_bad(c, "submit.batch_group", "100001", "out of range 1..100000");
    CHECK_STR(config_get(c, "ca.serial_bytes"), "16");
    config_free(c);
}

TEST(type_bool)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    const char *yes[] = {"yes", "YES", "true", "On", "1"};
    const char *no[] = {"no", "False", "off", "0"};
    for (size_t i = 0; i < 5; i++) {
        set_ok(c, "profile.x.ca", yes[i], "yes");
        CHECK(config_get_bool(c, "profile.x.ca"));
    }
    for (size_t i = 0; i < 4; i++) {
        set_ok(c, "profile.x.ca", no[i], "no");
        CHECK(!config_get_bool(c, "profile.x.ca"));
    }
    set_bad(c, "profile.x.require_email", "maybe", "not yes or no");
    set_bad(c, "profile.x.require_email", "", "not yes or no");
    set_bad(c, "profile.x.require_email", "y", "not yes or no");
    config_free(c);
}

TEST(type_enum)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    set_ok(c, "log.level", "info", "info");
    set_ok(c, "log.level", "ERROR", "error");
    set_ok(c, "profile.a.base", "smime", "smime");
    set_ok(c, "profile.a.subject_policy", "cn-only", "cn-only");
    set_bad(c, "log.level", "inf", "not one of error|warn|info|debug");
    set_bad(c, "log.level", "info|debug", "not one of");
    set_bad(c, "log.level", "", "not one of");
    set_bad(c, "profile.a.base", "web", "not one of tls-server|tls-client|smime|smime-encrypt|subca");
    set_bad(c, "profile.a.approval", "sometimes", "not one of auto|manual");
    config_free(c);
}

TEST(type_duration)
{
    int64_t s = -1;
    struct {
        const char *in;
        int64_t want;
    } good[] = {{"7d", 7 * 86400}, {"12h", 43200}, {"30m", 1800}, {"45s", 45},
                {"3600", 3600},    {"0", 0},       {"0d", 0},     {"007h", 7 * 3600}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        s = -1;
        CHECK_OK(config_parse_duration(&s, good[i].in));
        CHECK_INT(s, good[i].want);
    }
    const char *bad[] = {"",   "d",    "7w",  "1d12h", "-5",  "5 m",
                         "5M", "1.5h", " 5m", "5m ",   "99999999999999999999",
                         "106751991167301d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (config_parse_duration(&s, bad[i]) != CM_ERR_CONFIG)
            UNIT_FAIL("duration '%s' accepted", bad[i]);
    CHECK_OK(config_parse_duration(&s, "106751991167300d"));
    CHECK_INT(s, 106751991167300LL * 86400);

    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    set_ok(c, "crl.period", "14d", "14d");
    set_ok(c, "crl.period", "3600", "3600"); /* stored as given */
    set_ok(c, "crl.delta_period", "0", "0");
    set_ok(c, "ca.backdate", "1d", "1d");
    set_ok(c, "ca.backdate", "0", "0");
    set_bad(c, "crl.period", "0", "out of range 1m..3650d");
    set_bad(c, "crl.period", "59s", "out of range");
    set_bad(c, "crl.period", "3651d", "out of range");
    set_bad(c, "ca.backdate", "25h", "out of range 0s..1d");
    set_bad(c, "crl.overlap", "1y", "unknown unit");
    int64_t secs = 0;
    CHECK_OK(config_get_seconds(c, "crl.period", &secs));
    CHECK_INT(secs, 3600);
    config_free(c);
}

TEST(type_url)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    const char *good[] = {
        "http://crl.example.com/ca.crl",
        "HTTP://crl.example.com",
        "https://pki.example.com:8443/ca.crt?x=1",
        "ldap://ldap.example.com/cn=CA,dc=example,dc=com?certificateRevocationList;binary",
        "ldaps://[2001:db8::1]:636/",
        "smtp://relay@mail.example.com:25",
        "smtps://127.0.0.1:465",
        "file:///var/lib/certmint/crl/ca.crl",
        "file:/tmp/ca.crl",
        "file://localhost/tmp/ca.crl",
        "http://h/%20space",
        "http://crl.example.com/a,URI:b.crl", /* ',' and ':' are data (RFC 3986 2.2) */
        "http://h/~user/a-b_c.d!$&'()*+;=@",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        set_ok(c, "crl.cdp_url", good[i], good[i]);
    struct {
        const char *in, *why;
    } bad[] = {
        {"ftp://example.com/ca.crl", "scheme must be"},
        {"crl.example.com/ca.crl", "no scheme"},
        {"http://", "no host"},
        {"http:///ca.crl", "no host"},
        {"http://user@/x", "no host"},
        {"http:example.com", "expected http://HOST"},
        {"http://h x/", "%-encoded"},
        {"http://h/x y", "%-encoded"},
        {"http://caf\xc3\xa9.example/", "%-encoded"},
        {"http://h:/x", "bad port"},
        {"http://h:0/x", "port out of range"},
        {"http://h:65536/x", "port out of range"},
        {"http://h:99999999999999/x", "bad port"},
        {"http://h:8a/x", "bad port"},
        {"ldap://[]/", "bad IPv6"},
        {"ldap://[::1/", "bad IPv6"},
        {"file:relative/path", "file:///PATH"},
        {"", "empty URL"},
        {"http://h/\x01", "control character"},
        /* RFC 3986 characters only, valid escapes, one URL per setting */
        {"http://a.example/\"x", "character '\"' is not allowed in a URI"},
        {"http://a.example/<script>", "character '<' is not allowed"},
        {"http://a.example/a\\b", "character '\\' is not allowed"},
        {"http://a.example/{x}", "character '{' is not allowed"},
        {"http://a.example/a|b", "character '|' is not allowed"},
        {"http://a.example/%zz", "%XX escape"},
        {"http://a.example/%4", "%XX escape"},
        {"http://a.example/x.crl,URI:http://evil.example/", "second URL"},
        {"ldap://l.example/cn=x?y?sub?(x=http://evil/)", "second URL"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        set_bad(c, "ca.aia_url", bad[i].in, bad[i].why);
    CHECK(!config_is_set(c, "ca.aia_url"));
    config_free(c);
}

TEST(type_string)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    set_ok(c, "ca.name", "Z\xc3\xbcrich Root CA \xe2\x9c\x93 \xf0\x9f\x94\x92", "Z\xc3\xbcrich Root CA \xe2\x9c\x93 \xf0\x9f\x94\x92");
    set_ok(c, "ca.name", "", "");
    set_ok(c, "ca.name", "  spaced # hash \"quoted\" back\\slash  ",
           "  spaced # hash \"quoted\" back\\slash  ");
    set_bad(c, "ca.name", "tab\there", "control character (0x09)");
    set_bad(c, "ca.name", "line\nbreak", "control character (0x0a)");
    set_bad(c, "ca.name", "cr\r", "control character (0x0d)");
    set_bad(c, "ca.name", "del\x7f", "control character (0x7f)");
    set_bad(c, "ca.name", "bad \xc3\x28", "not valid UTF-8");
    set_bad(c, "ca.name", "overlong \xc0\xaf", "not valid UTF-8");
    set_bad(c, "ca.name", "overlong3 \xe0\x80\xaf", "not valid UTF-8");
    set_bad(c, "ca.name", "surrogate \xed\xa0\x80", "not valid UTF-8");
    set_bad(c, "ca.name", "too big \xf4\x90\x80\x80", "not valid UTF-8");
    set_bad(c, "ca.name", "truncated \xe2\x9c", "not valid UTF-8");
    /* A value whose line would pass 4096 bytes is refused: it could not be
     * read back. */
    char big[4200];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    set_bad(c, "ca.name", big, "value too long");
    big[4096 - strlen("ca.name = ")] = '\0';
    set_ok(c, "ca.name", big, big);
    config_free(c);
}

TEST(type_custom_lists)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    set_ok(c, "profile.w.key_usage", "keyEncipherment, digitalSignature",
           "digitalSignature,keyEncipherment");
    set_ok(c, "profile.w.key_usage", "contentCommitment,DIGITALSIGNATURE,digitalSignature",
           "digitalSignature,nonRepudiation");
    set_ok(c, "profile.w.key_usage", "cRLSign,keyCertSign,keyAgreement,dataEncipherment",
           "dataEncipherment,keyAgreement,keyCertSign,cRLSign");
    set_ok(c, "profile.w.key_usage", "None", "none");
    set_bad(c, "profile.w.key_usage", "digitalSignature,encipherEverything",
            "unknown key usage 'encipherEverything'");
    set_bad(c, "profile.w.key_usage", "digitalSignature,,keyEncipherment", "empty item");
    set_bad(c, "profile.w.key_usage", "digitalSignature,", "empty item");
    set_bad(c, "profile.w.key_usage", "", "empty list");
    set_bad(c, "profile.w.key_usage", "none,digitalSignature", "cannot be combined");

    set_ok(c, "profile.w.ext_key_usage", "clientAuth,serverAuth", "clientAuth,serverAuth");
    set_ok(c, "profile.w.ext_key_usage", "1.3.6.1.5.5.7.3.1, 1.3.6.1.4.1.311.20.2.2, serverauth",
           "serverAuth,1.3.6.1.4.1.311.20.2.2");
    set_ok(c, "profile.w.ext_key_usage", "ocspsigning,TimeStamping,codeSigning,emailProtection",
           "OCSPSigning,timeStamping,codeSigning,emailProtection");
    set_ok(c, "profile.w.ext_key_usage", "2.5.29.37.0", "2.5.29.37.0");
    set_ok(c, "profile.w.ext_key_usage", "0.39", "0.39");
    set_ok(c, "profile.w.ext_key_usage", "2.999.12345678901234567890",
           "2.999.12345678901234567890");
    set_ok(c, "profile.w.ext_key_usage", "none", "none");
    const char *badoid[] = {"1", "3.1", "1.40", "0.100", "1.2.03", "1..2", "1.2.", ".1.2",
                            "1.2a", "01.2", "anyUsage"};
    for (size_t i = 0; i < sizeof(badoid) / sizeof(badoid[0]); i++)
        set_bad(c, "profile.w.ext_key_usage", badoid[i], "unknown extended key usage");

    set_ok(c, "profile.w.keys", "ed25519, RSA:2048, ec:p256", "ec:p256,rsa:2048,ed25519");
    set_ok(c, "profile.w.keys", "ec:p521,ec:p384,rsa:4096,rsa:3072",
           "ec:p384,ec:p521,rsa:3072,rsa:4096");
    set_bad(c, "profile.w.keys", "rsa:1024", "unknown key type 'rsa:1024'");
    set_bad(c, "profile.w.keys", "none", "at least one key type");
    set_bad(c, "profile.w.keys", "ec:p256 rsa:2048", "unknown key type");

    set_ok(c, "profile.w.san_types", "uri,EMAIL,ip,dns,dns", "dns,ip,email,uri");
    set_ok(c, "profile.w.san_types", "none", "none");

    /* certificatePolicies: OIDs in the order given, commas and/or spaces. */
    set_ok(c, "profile.w.policies", "2.23.140.1.2.1", "2.23.140.1.2.1");
    set_ok(c, "profile.w.policies", " 1.3.6.1.4.1.99999.1  2.23.140.1.2.2,anypolicy ,",
           "1.3.6.1.4.1.99999.1,2.23.140.1.2.2,2.5.29.32.0");
    set_ok(c, "profile.w.policies", "2.23.140.1.2.1 2.23.140.1.2.1", "2.23.140.1.2.1");
    set_ok(c, "profile.w.policies", "None", "none");
    set_bad(c, "profile.w.policies", "2.23.x", "unknown policy OID '2.23.x'");
    set_bad(c, "profile.w.policies", "2.23.140.1.2.1 3.1", "unknown policy OID '3.1'");
    set_bad(c, "profile.w.policies", "URI:http://evil/", "unknown policy OID");
    set_bad(c, "profile.w.policies", " , ", "empty list");
    set_bad(c, "profile.w.policies", "none 2.5.29.32.0", "cannot be combined");
    set_ok(c, "profile.w.wildcards", "YES", "yes");
    set_bad(c, "profile.w.wildcards", "maybe", "not yes or no");
    set_bad(c, "profile.w.san_types", "dns,upn", "unknown SAN type 'upn'");
    config_free(c);

    /* The exported normalizer and splitter, as profile.c uses them. */
    char *norm = NULL;
    CHECK_OK(config_list_normalize(&norm, CFG_LIST_KEY_USAGE, " keyCertSign , cRLSign "));
    CHECK_STR(norm, "keyCertSign,cRLSign");
    free(norm);
    norm = NULL;
    CHECK_ERR(config_list_normalize(&norm, CFG_LIST_SAN_TYPES, "x"), CM_ERR_CONFIG);
    CHECK(norm == NULL);

    char **items = NULL;
    size_t n = 99;
    CHECK_OK(config_parse_list(&items, &n, "digitalSignature,keyEncipherment"));
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(items[0], "digitalSignature");
        CHECK_STR(items[1], "keyEncipherment");
    }
    config_list_free(items, n);
    CHECK_OK(config_parse_list(&items, &n, " a ,b,  c"));
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(items[0], "a");
        CHECK_STR(items[2], "c");
    }
    config_list_free(items, n);
    CHECK_OK(config_parse_list(&items, &n, "none"));
    CHECK_INT(n, 0);
    CHECK(items == NULL);
    CHECK_OK(config_parse_list(&items, &n, "  "));
    CHECK_INT(n, 0);
    CHECK_ERR(config_parse_list(&items, &n, "a,,b"), CM_ERR_CONFIG);
    CHECK(items == NULL && n == 0);
    CHECK_ERR(config_parse_list(&items, &n, ",a"), CM_ERR_CONFIG);
    config_list_free(NULL, 0);
}

TEST(unknown_keys_and_patterns)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    const char *unknown[] = {"foo",           "foo.bar",         "ca",
                             "ca.name.x",     "profile.web",     "profile.web.dayz",
                             "profile..days", "profile.a.b.days", "profile.w!b.days",
                             "profile.w b.days", "Ca.name",      "profile.*.days",
                             ".ca.name",      "ca.name.",        ""};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        CHECK(config_schema_find(unknown[i]) == NULL);
        CHECK_ERR(config_set(c, unknown[i], "1"), CM_ERR_CONFIG);
        CHECK_MSG("unknown key");
        CHECK_ERR(config_unset(c, unknown[i]), CM_ERR_CONFIG);
    }
    const struct config_key *k = config_schema_find("profile.web-servers.days");
    CHECK(k != NULL && strcmp(k->pattern, "profile.*.days") == 0);
    CHECK(config_schema_find("profile.Web_Servers-2.days") != NULL);
    CHECK(config_schema_find("profile.tls-server.key_usage") != NULL);
    k = config_schema_find("crl.period");
    CHECK(k != NULL && k->type == CFG_DURATION);
    config_free(c);

    CHECK(config_key_is_secret("exit.ldap.bind_password"));
    CHECK(config_key_is_secret("ca.passphrase"));
    CHECK(!config_key_is_secret("ca.passphrase_file"));
    CHECK(!config_key_is_secret("ca.name"));
}

struct names_ctx {
    char got[512];
    int calls;
};

static void names_cb(void *ctx, const char *name)
{
    struct names_ctx *n = ctx;
    size_t l = strlen(n->got);
    snprintf(n->got + l, sizeof(n->got) - l, "%s%s", l ? " " : "", name);
    n->calls++;
}

TEST(names)
{
    cm_config *c = NULL;
    struct names_ctx nc = {"", 0};
    CHECK_OK(load_text(&c, "ca.name = x\n"
                           "profile.web.days = 90\n"
                           "profile.mail.base = smime\n"
                           "profile.web.keys = ec:p256\n"
                           "# profile.ghost.days = 1\n"
                           "profile.Sub-CA_1.ca = yes\n"
                           "profile.mail.days = 30\n"));
    if (c == NULL)
        return;
    config_names(c, "profile", names_cb, &nc);
    CHECK_STR(nc.got, "web mail Sub-CA_1");
    CHECK_INT(nc.calls, 3);
    nc.got[0] = '\0';
    nc.calls = 0;
    config_names(c, "ca", names_cb, &nc); /* ca.name is a key, not a name */
    CHECK_INT(nc.calls, 0);
    config_names(c, "prof", names_cb, &nc); /* whole segments only */
    CHECK_INT(nc.calls, 0);
    CHECK_OK(config_unset(c, "profile.web.days"));
    CHECK_OK(config_unset(c, "profile.web.keys"));
    config_names(c, "profile", names_cb, &nc);
    CHECK_STR(nc.got, "mail Sub-CA_1");
    config_free(c);
}

struct list_ctx {
    char got[1024];
};

static void list_cb(void *ctx, const char *key, const char *value)
{
    struct list_ctx *l = ctx;
    size_t n = strlen(l->got);
    snprintf(l->got + n, sizeof(l->got) - n, "%s=%s;", key, value);
}

TEST(save_keeps_comments_order_and_mode)
{
    const char *orig = "# certmint.conf: hand-edited\n"
                       "\n"
                       "# the CA\n"
                       "ca.default_days   =   730   # two years\n"
                       "ca.name = \"Example CA\"\n"
                       "\n"
                       "# CRLs\n"
                       "crl.period=7d\n"
                       "crl.overlap = 2h\n"
                       "profile.web.require_san = true\n";
    cm_config *c = NULL;
    struct stat st;
    CHECK_OK(load_text(&c, orig));
    if (c == NULL)
        return;
    chmod(path, 0644);

    /* Saving unchanged keeps every byte. */
    CHECK_OK(config_save(c, path));
    CHECK_STR(read_text(path), orig);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);

    /* Setting the value it already has keeps the line as written. */
    CHECK_OK(config_set(c, "profile.web.require_san", "yes"));
    CHECK_OK(config_set(c, "crl.period", "7d"));
    CHECK_OK(config_save(c, path));
    CHECK_STR(read_text(path), orig);

    CHECK_OK(config_set(c, "ca.default_days", "365"));   /* rewritten in place, comment kept */
    CHECK_OK(config_set(c, "crl.period", "3d"));         /* rewritten in place */
    CHECK_OK(config_unset(c, "crl.overlap"));            /* removed */
    CHECK_OK(config_unset(c, "crl.delta_period"));       /* not set: no-op */
    CHECK_OK(config_set(c, "crl.cdp_url", "http://x.example/ca.crl#frag")); /* appended */
    CHECK_OK(config_set(c, "profile.web.description", "")); /* appended, quoted */
    CHECK_OK(config_set(c, "log.level", "INFO"));        /* appended, normalized */
    CHECK_OK(config_save(c, path));
    CHECK_STR(read_text(path), "# certmint.conf: hand-edited\n"
                               "\n"
                               "# the CA\n"
                               "ca.default_days = 365 # two years\n"
                               "ca.name = \"Example CA\"\n"
                               "\n"
                               "# CRLs\n"
                               "crl.period = 3d\n"
                               "profile.web.require_san = true\n"
                               "crl.cdp_url = \"http://x.example/ca.crl#frag\"\n"
                               "profile.web.description = \"\"\n"
                               "log.level = info\n");
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    struct list_ctx lc = {""};
    config_foreach(c, list_cb, &lc);
    CHECK_STR(lc.got, "ca.default_days=365;ca.name=Example CA;crl.period=3d;"
                      "profile.web.require_san=yes;crl.cdp_url=http://x.example/ca.crl#frag;"
                      "profile.web.description=;log.level=info;");
    config_free(c);

    /* What was saved reads back the same. */
    c = NULL;
    CHECK_OK(config_load(&c, path, 0));
    if (c) {
        CHECK_STR(config_get(c, "crl.cdp_url"), "http://x.example/ca.crl#frag");
        CHECK_STR(config_get(c, "profile.web.description"), "");
        CHECK_STR(config_get(c, "ca.default_days"), "365");
        CHECK(!config_is_set(c, "crl.overlap"));
    }
    config_free(c);

    /* No temp files are left next to it. */
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c tmp >/dev/null", dir);
    CHECK(system(cmd) != 0);
}

/* db.url: a postgresql:// URL naming a database, never with a password. */
TEST(db_url)
{
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    set_ok(c, "db.url", "postgresql://ca@db.example.org:5432/root?sslmode=verify-full",
           "postgresql://ca@db.example.org:5432/root?sslmode=verify-full");
    set_bad(c, "db.url", "postgresql://ca:secret@db.example.org/root", "password");
    set_bad(c, "db.url", "postgresql://ca@db.example.org/root?password=x", "password");
    set_bad(c, "db.url", "mysql://ca@db.example.org/root", "not a postgresql:// URL");
    set_bad(c, "db.url", "postgresql://ca@db.example.org", "names no database");
    set_bad(c, "db.url", "postgresql://ca@db.example.org/", "names no database");
    set_bad(c, "db.url", "postgresql://ca@db.example.org/root#x", "'#'");
    config_free(c);
}

TEST(quoting_round_trip)
{
    const char *values[] = {"",           " lead",      "trail ",      "\"starts quoted",
                            "has # hash", "back\\slash", "mid \"q\" x", "\\\"",
                            "plain",      "a=b=c",      "#"};
    cm_config *c = NULL;
    CHECK_OK(config_new(&c));
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "profile.p%zu.description", i);
        set_ok(c, key, values[i], values[i]);
    }
    CHECK_OK(config_save(c, path));
    config_free(c);
    c = NULL;
    CHECK_OK(config_load(&c, path, 0));
    for (size_t i = 0; c != NULL && i < sizeof(values) / sizeof(values[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "profile.p%zu.description", i);
        CHECK_STR(config_get(c, key), values[i]);
    }
    config_free(c);
}

TEST(refused_set_changes_nothing)
{
    const char *orig = "# keep me\nca.default_days = 90\nprofile.x.keys = ec:p256\n";
    cm_config *c = NULL;
    CHECK_OK(load_text(&c, orig));
    if (c == NULL)
        return;
    set_bad(c, "ca.default_days", "0", "out of range");
    set_bad(c, "profile.x.keys", "dsa", "unknown key type");
    set_bad(c, "profile.y.keys", "dsa", "unknown key type");
    set_bad(c, "no.such.key", "1", "unknown key");
    CHECK(!config_is_set(c, "profile.y.keys"));
    CHECK_OK(config_save(c, path));
    CHECK_STR(read_text(path), orig);
    config_free(c);
}

/* Instantiates a pattern with "x" for every `*`. */
static void instantiate(char *out, size_t outsz, const char *pat)
{
    size_t o = 0;
    for (const char *p = pat; *p && o + 2 < outsz; p++)
        out[o++] = *p == '*' ? 'x' : *p;
    out[o] = '\0';
}

static int schema_bad;

static void schema_cb(void *ctx, const struct config_key *k)
{
    cm_config *c = ctx;
    char key[256];
    int stars = 0;

    for (const char *p = k->pattern; *p; p++) {
        if (*p == '*')
            stars++;
        else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                   *p == '-' || *p == '.'))
            schema_bad++, printf("    pattern %s: bad character\n", k->pattern);
    }
    if (stars > 2 || k->help == NULL || k->help[0] == '\0')
        schema_bad++, printf("    pattern %s: more than two * or no help\n", k->pattern);
    instantiate(key, sizeof(key), k->pattern);
    if (config_schema_find(key) != k)
        schema_bad++, printf("    pattern %s: does not find itself\n", k->pattern);
    if ((k->type == CFG_ENUM) != (k->choices != NULL) ||
        (k->type == CFG_CUSTOM) != (k->check != NULL))
        schema_bad++, printf("    pattern %s: choices/check do not fit the type\n", k->pattern);
    if (k->def != NULL) {
        /* The default must pass its own validation and be normalized. */
        if (config_set(c, key, k->def) != CM_OK)
            schema_bad++, printf("    pattern %s: default refused: %s\n", k->pattern,
                                 cm_err_msg());
        else if (strcmp(config_get(c, key), k->def) != 0)
            schema_bad++, printf("    pattern %s: default not normalized\n", k->pattern);
    }
}

static void schema_dup_cb(void *ctx, const struct config_key *k)
{
    const char **seen = ctx;
    for (size_t i = 0; seen[i] != NULL; i++)
        if (strcmp(seen[i], k->pattern) == 0)
            schema_bad++, printf("    pattern %s: declared twice\n", k->pattern);
    size_t n = 0;
    while (seen[n] != NULL)
        n++;
    if (n < 1023)
        seen[n] = k->pattern;
}

TEST(schema_is_consistent)
{
    cm_config *c = NULL;
    const char *seen[1024] = {NULL};
    CHECK_OK(config_new(&c));
    schema_bad = 0;
    config_schema_foreach(schema_cb, c);
    config_schema_foreach(schema_dup_cb, seen);
    CHECK_INT(schema_bad, 0);
    config_free(c);
    /* The keys the CA core relies on are declared with these types. */
    struct {
        const char *key;
        enum config_type type;
    } core[] = {{"ca.name", CFG_STRING},           {"ca.passphrase_file", CFG_STRING},
                {"ca.aia_url", CFG_URL},           {"ca.ocsp_url", CFG_URL},
                {"ca.serial_bytes", CFG_INT},      {"ca.default_days", CFG_INT},
                {"ca.backdate", CFG_DURATION},     {"crl.period", CFG_DURATION},
                {"crl.delta_period", CFG_DURATION}, {"crl.overlap", CFG_DURATION},
                {"crl.cdp_url", CFG_URL},          {"crl.delta_cdp_url", CFG_URL},
                {"log.level", CFG_ENUM},           {"submit.batch_group", CFG_INT},
                {"profile.a.days", CFG_INT},       {"profile.a.approval", CFG_ENUM},
                {"profile.a.base", CFG_ENUM},      {"profile.a.key_usage", CFG_CUSTOM},
                {"profile.a.ext_key_usage", CFG_CUSTOM}, {"profile.a.keys", CFG_CUSTOM},
                {"profile.a.san_types", CFG_CUSTOM}, {"profile.a.require_san", CFG_BOOL},
                {"profile.a.require_email", CFG_BOOL}, {"profile.a.max_sans", CFG_INT},
                {"profile.a.subject_policy", CFG_ENUM}, {"profile.a.ca", CFG_BOOL},
                {"profile.a.pathlen", CFG_INT},    {"profile.a.description", CFG_STRING}};
    for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
        const struct config_key *k = config_schema_find(core[i].key);
        if (k == NULL || k->type != core[i].type)
            UNIT_FAIL("%s: not declared as type %d", core[i].key, (int)core[i].type);
    }
}

static const char *doc_text;
static int doc_missing;

static void doc_cb(void *ctx, const struct config_key *k)
{
    char want[300];
    (void)ctx;
    snprintf(want, sizeof(want), "`%s`", k->pattern);
    if (strstr(doc_text, want) == NULL) {
        doc_missing++;
        printf("    docs/configuration.md does not document %s\n", want);
    }
}

TEST(docs_name_every_key)
{
    /* Run from the repository root (tests/run.sh does). */
    unsigned char *doc = NULL;
    size_t len;
    CHECK_OK(fs_read_file(&doc, &len, "docs/configuration.md", 1024 * 1024));
    if (doc == NULL)
        return;
    doc_text = (const char *)doc;
    doc_missing = 0;
    config_schema_foreach(doc_cb, NULL);
    CHECK_INT(doc_missing, 0);
    free(doc);
}

int main(void)
{
    unit_suite = "config";
    if (exit_registry_init() != CM_OK) {
        printf("not ok - config: exit_registry_init: %s\n", cm_err_msg());
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/cm-test-config.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/certmint.conf", dir);

    RUN(parse_good_file);
    RUN(parse_errors_name_file_and_line);
    RUN(large_file_duplicate_detection);
    RUN(type_int);
    RUN(type_bool);
    RUN(type_enum);
    RUN(type_duration);
    RUN(type_url);
    RUN(type_string);
    RUN(type_custom_lists);
    RUN(unknown_keys_and_patterns);
    RUN(names);
    RUN(save_keeps_comments_order_and_mode);
    RUN(db_url);
    RUN(quoting_round_trip);
    RUN(refused_set_changes_nothing);
    RUN(schema_is_consistent);
    RUN(docs_name_every_key);

    read_text(""); /* frees the last buffer */
    unlink(path);
    rmdir(dir);
    return UNIT_DONE();
}
