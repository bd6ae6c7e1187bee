/* The HTTP server's URL decoding (src/http/url.c): request-targets,
 * percent-decoding, path traversal in every spelling, base64 of OCSP GET. */
#include "http/url.h"
#include "unit.h"

static int parses(const char *raw)
{
    struct http_target t;
    return http_target_parse(&t, raw) == CM_OK;
}

TEST(paths)
{
    struct http_target t;
    CHECK_OK(http_target_parse(&t, "/ca/ca.crt"));
    CHECK_STR(t.path, "/ca/ca.crt");
    CHECK_STR(t.query, "");
    CHECK_OK(http_target_parse(&t, "/crl/my%2Dca.crl?x=1&y"));
    CHECK_STR(t.path, "/crl/my-ca.crl");
    CHECK_STR(t.query, "x=1&y");
    CHECK_OK(http_target_parse(&t, "/"));
    CHECK_STR(t.path, "/");
    CHECK_OK(http_target_parse(&t, "/a/..b/c."));
    CHECK_STR(t.path, "/a/..b/c.");
}

TEST(traversal_refused)
{
    static const char *const bad[] = {
        "/ca/../certmint.conf",
        "/ca/./ca.crt",
        "/..",
        "/ca/%2e%2e/certmint.conf",
        "/ca/%2E%2E%2fcertmint.conf",
        "/ca/.%2e/x",
        "/ca/%2e/x",
        "//ca/ca.crt",
        "/ca//ca.crt",
        "/ca\\..\\x",
        "/ca/%5c..%5cx",
        "/ca/ca.crt%00.pem",
        "/ca/%0a",
        "/ca/ca crt",
        "ca/ca.crt",
        "http://x/ca/ca.crt",
        "",
        "/ca/%",
        "/ca/%4",
        "/ca/%zz",
        "/ca/%2F%2F",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parses(bad[i]))
            UNIT_FAIL("'%s' was accepted", bad[i]);
    CHECK(!parses(NULL));
}

TEST(too_long)
{
    char raw[HTTP_PATH_MAX + 8];
    memset(raw, 'a', sizeof(raw) - 1);
    raw[0] = '/';
    raw[sizeof(raw) - 1] = '\0';
    CHECK(!parses(raw));
    raw[HTTP_PATH_MAX - 1] = '\0';
    CHECK(parses(raw));
}

TEST(base64)
{
    unsigned char out[16];
    size_t n = 0;
    CHECK_OK(http_base64_decode(out, sizeof(out), &n, "aGVsbG8=", 8));
    CHECK_INT(n, 5);
    CHECK(memcmp(out, "hello", 5) == 0);
    CHECK_OK(http_base64_decode(out, sizeof(out), &n, "-_-_", 4)); /* URL-safe */
    CHECK_INT(n, 3);
    CHECK(out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf);
    CHECK(http_base64_decode(out, sizeof(out), &n, "a$==", 4) != CM_OK);
    CHECK(http_base64_decode(out, sizeof(out), &n, "a", 1) != CM_OK);
    CHECK(http_base64_decode(out, 2, &n, "aGVsbG8=", 8) != CM_OK);
    CHECK_OK(http_ocsp_get_decode(out, sizeof(out), &n, "aGVs%2FG8%3D?ignored"));
    CHECK_INT(n, 5);
    CHECK(http_ocsp_get_decode(out, sizeof(out), &n, "") != CM_OK);
    CHECK(http_ocsp_get_decode(out, sizeof(out), &n, "%zz") != CM_OK);
}

int main(void)
{
    unit_suite = "http_url";
    RUN(paths);
    RUN(traversal_refused);
    RUN(too_long);
    RUN(base64);
    return UNIT_DONE();
}
