/* The form body and cookie parsers of the /certsrv pages (src/http/form.c)
 * and the HTML escaping (src/http/html.c): urlencoded ('+', %XX, empty
 * pairs), multipart/form-data (a file part with its name, a value with
 * CRLF and binary bytes inside, a preamble), every refusal, cookies, and
 * hostile text escaped. */
#include "http/form.h"
#include "http/html.h"
#include "unit.h"

#include <event2/buffer.h>

static cm_err parse(struct http_form *f, const char *ct, const char *body)
{
    return http_form_parse(f, ct, (const unsigned char *)body, strlen(body));
}

TEST(urlencoded)
{
    struct http_form f;
    CHECK_OK(parse(&f, "application/x-www-form-urlencoded; charset=utf-8",
                   "a=1&&b=x+y%2Bz%0A&empty=&flag&csr=-----BEGIN%20X"));
    CHECK_INT(f.n, 5);
    CHECK_STR(http_form_text(&f, "a"), "1");
    CHECK_STR(http_form_text(&f, "b"), "x y+z\n");
    CHECK_STR(http_form_text(&f, "empty"), "");
    CHECK_STR(http_form_text(&f, "flag"), "");
    CHECK_STR(http_form_text(&f, "csr"), "-----BEGIN X");
    CHECK(http_form_get(&f, "nope") == NULL);
    http_form_clear(&f);
    CHECK_OK(parse(&f, NULL, "id=7&fmt=p7b")); /* a query string */
    CHECK_STR(http_form_text(&f, "fmt"), "p7b");
    http_form_clear(&f);
    CHECK_OK(parse(&f, NULL, "x=a%00b"));
    CHECK(http_form_text(&f, "x") == NULL); /* a NUL: not text */
    CHECK_INT(http_form_get(&f, "x")->len, 3);
    http_form_clear(&f);
}

TEST(urlencoded_refused)
{
    struct http_form f;
    char many[FORM_MAX_FIELDS * 4 + 8] = "";
    CHECK_ERR(parse(&f, NULL, "a=%zz"), CM_ERR_INVALID);
    http_form_clear(&f);
    CHECK_ERR(parse(&f, NULL, "a=%4"), CM_ERR_INVALID);
    http_form_clear(&f);
    CHECK_ERR(parse(&f, NULL, "=v"), CM_ERR_INVALID);
    http_form_clear(&f);
    CHECK_ERR(
        parse(&f, NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1"),
        CM_ERR_INVALID);
    http_form_clear(&f);
    for (int i = 0; i <= FORM_MAX_FIELDS; i++)
        memcpy(many + 4 * i, "a=1&", 5);
    CHECK_ERR(parse(&f, NULL, many), CM_ERR_INVALID);
    http_form_clear(&f);
    CHECK_ERR(parse(&f, "text/plain", "a=1"), CM_ERR_INVALID);
    http_form_clear(&f);
}

TEST(multipart)
{
    struct http_form f;
    static const char body[] =
        "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n"
        "--XyZ\r\ncontent-disposition: form-data; name=\"csrfile\"; filename=\"my "
        "\\\"a\\\".csr\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\nline1\r\n--Xy\0\xff\r\n"
        "--XyZ--\r\nepilogue";
    CHECK_OK(http_form_parse(&f, "multipart/form-data; boundary=\"XyZ\"",
                             (const unsigned char *)body, sizeof(body) - 1));
    CHECK_INT(f.n, 2);
    CHECK_STR(http_form_text(&f, "csrf"), "abc");
    CHECK_STR(http_form_get(&f, "csrfile")->filename, "my \"a\".csr");
    /* The CRLF before a delimiter is the delimiter's (RFC 2046 5.1.1). */
    CHECK_INT(http_form_get(&f, "csrfile")->len, 13);
    CHECK(memcmp(http_form_get(&f, "csrfile")->value, "line1\r\n--Xy\0\xff", 13) == 0);
    http_form_clear(&f);
}

TEST(multipart_refused)
{
    struct http_form f;
    static const char *const bad[] = {
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx",           /* not closed */
        "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--",                    /* no disposition */
        "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--", /* not form-data */
        "--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--",              /* no name */
        "--B\r\nContent-Disposition: form-data; name=\"a\"x\r\n--B--",          /* no header end */
        "no boundary at all",
        "--BX\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(&f, "multipart/form-data; boundary=B", bad[i]) != CM_ERR_INVALID)
            UNIT_FAIL("accepted bad multipart #%zu", i);
        http_form_clear(&f);
    }
    CHECK_ERR(parse(&f, "multipart/form-data", "--B--"), CM_ERR_INVALID);
    http_form_clear(&f);
    CHECK_ERR(parse(&f,
                    "multipart/form-data; boundary="
                    "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
                    "--B--"),
              CM_ERR_INVALID);
    http_form_clear(&f);
}

TEST(cookies)
{
    char v[16];
    CHECK(http_cookie_get(v, sizeof(v), "a=1; certmint_csrf=abc ;b=2", "certmint_csrf"));
    CHECK_STR(v, "abc");
    CHECK(http_cookie_get(v, sizeof(v), "xcertmint_csrf=1; certmint_csrf=2", "certmint_csrf"));
    CHECK_STR(v, "2");
    CHECK(!http_cookie_get(v, sizeof(v), "a=1", "certmint_csrf"));
    CHECK(!http_cookie_get(v, sizeof(v), "certmint_csrf=0123456789abcdefXYZ", "certmint_csrf"));
}

TEST(html_escape)
{
    struct evbuffer *b = evbuffer_new();
    char out[256];
    size_t n;
    html_esc(b, "<script>\"x\"&'y'</script>\x01 caf\xc3\xa9 \xff");
    n = evbuffer_get_length(b);
    CHECK(n < sizeof(out));
    evbuffer_remove(b, out, n);
    out[n] = '\0';
    CHECK_STR(out, "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;\xEF\xBF\xBD "
                   "caf\xc3\xa9 \xEF\xBF\xBD");
    evbuffer_free(b);
}

int main(void)
{
    unit_suite = "http_form";
    RUN(urlencoded);
    RUN(urlencoded_refused);
    RUN(multipart);
    RUN(multipart_refused);
    RUN(cookies);
    RUN(html_escape);
    return UNIT_DONE();
}
