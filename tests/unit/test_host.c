/* Unit tests of the host store's parsers and helpers (src/host): key =
 * value files, thumbprints, the directive editor of service configuration
 * files, --services, command splitting and running (no shell). */
#include "db/db.h"
#include "host/edit.h"
#include "host/host.h"
#include "unit.h"

#include <openssl/x509.h>

static const char *edit(cm_buf *b, const char *in, enum host_syntax syn)
{
    struct host_directive d[2] = {{"ssl_cert", "</l/full.pem"}, {"ssl_key", "</l/key.pem"}};
    struct host_directive n[2] = {{"ssl_certificate", "/l/full.pem"},
                                  {"ssl_certificate_key", "/l/key.pem"}};
    buf_reset(b);
    if (host_edit_directives(b, in, strlen(in), syn == HOST_SYNTAX_DOVECOT ? d : n, 2, syn) !=
        CM_OK)
        return "(error)";
    return buf_str(b);
}

TEST(kv_parse)
{
    struct host_kv kv = {0, NULL};
    const char *t = "# comment\n\n key = a value with spaces  \nother.key=x\nempty =\n";
    CHECK_OK(host_kv_parse(&kv, t, strlen(t), "t"));
    CHECK_INT(kv.n, 3);
    CHECK_STR(host_kv_get(&kv, "key"), "a value with spaces");
    CHECK_STR(host_kv_get(&kv, "other.key"), "x");
    CHECK_STR(host_kv_get(&kv, "empty"), "");
    CHECK(host_kv_get(&kv, "missing") == NULL);
    CHECK_OK(host_kv_set(&kv, "key", "new"));
    CHECK_STR(host_kv_get(&kv, "key"), "new");
    host_kv_free(&kv);
}

TEST(kv_rejects)
{
    struct host_kv kv = {0, NULL};
    CHECK_ERR(host_kv_parse(&kv, "a = 1\na = 2\n", 12, "t"), CM_ERR_CONFIG);
    CHECK_ERR(host_kv_parse(&kv, "Upper = 1\n", 10, "t"), CM_ERR_CONFIG);
    CHECK_ERR(host_kv_parse(&kv, "novalue\n", 8, "t"), CM_ERR_CONFIG);
    CHECK_ERR(host_kv_parse(&kv, "a = \x01\n", 6, "t"), CM_ERR_CONFIG);
    CHECK_ERR(host_kv_parse(&kv, "a = 1\0b", 7, "t"), CM_ERR_CONFIG);
    CHECK(kv.n == 0 && kv.p == NULL);
}

TEST(thumbprints)
{
    char t[65];
    CHECK_OK(host_thumb_parse(t, "A4 D2 32 BC"));
    CHECK_STR(t, "a4d232bc");
    CHECK_OK(host_thumb_parse(t, "\xe2\x80\x8e"
                                 "a4:d2:32"));
    CHECK_STR(t, "a4d232");
    CHECK_ERR(host_thumb_parse(t, "a4d"), CM_ERR_INVALID);    /* too short for a prefix */
    CHECK_ERR(host_thumb_parse(t, "a4d2zz"), CM_ERR_INVALID); /* not hex */
    CHECK_ERR(host_thumb_parse(t, "00000000000000000000000000000000000000000000000000000000000000"
                                  "0000"),
              CM_ERR_INVALID); /* longer than SHA-256 */
}

TEST(edit_dovecot)
{
    cm_buf b = CM_BUF_INIT(1 << 20);
    /* Replaced in place (indentation kept), comments untouched. */
    CHECK_STR(edit(&b, "#ssl_cert = <old\n  ssl_cert = </etc/old.pem\nssl_key=</k\nssl = yes\n",
                   HOST_SYNTAX_DOVECOT),
              "#ssl_cert = <old\n  ssl_cert = </l/full.pem\nssl_key = </l/key.pem\nssl = yes\n");
    /* Missing: appended, a newline added before. "ssl_certx" is another setting. */
    CHECK_STR(edit(&b, "ssl_certx = 1", HOST_SYNTAX_DOVECOT),
              "ssl_certx = 1\nssl_cert = </l/full.pem\nssl_key = </l/key.pem\n");
    CHECK_STR(edit(&b, "", HOST_SYNTAX_DOVECOT),
              "ssl_cert = </l/full.pem\nssl_key = </l/key.pem\n");
    buf_free(&b);
}

TEST(edit_nginx_idempotent)
{
    cm_buf b = CM_BUF_INIT(1 << 20), c = CM_BUF_INIT(1 << 20);
    const char *in = "server {\n\tssl_certificate /old.pem;\n\tssl_certificate_key /old.key;\n}\n";
    char *once = strdup(edit(&b, in, HOST_SYNTAX_NGINX));
    CHECK_STR(once,
              "server {\n\tssl_certificate /l/full.pem;\n\tssl_certificate_key /l/key.pem;\n}\n");
    CHECK_STR(edit(&c, once, HOST_SYNTAX_NGINX), once);
    free(once);
    buf_free(&b);
    buf_free(&c);
}

/* Apache (httpd.conf): directive names in any case, the value quoted,
 * <VirtualHost> lines and comments untouched. */
TEST(edit_apache)
{
    cm_buf b = CM_BUF_INIT(1 << 20), c = CM_BUF_INIT(1 << 20);
    struct host_directive d[2] = {{"SSLCertificateFile", "/l/full.pem"},
                                  {"SSLCertificateKeyFile", "/l/key.pem"}};
    const char *in = "<VirtualHost *:443>\n  # SSLCertificateFile /x\n"
                     "  sslcertificatefile /etc/ssl/old.pem\n"
                     "  SSLCertificateKeyFile /etc/ssl/old.key\n"
                     "  SSLCertificateChainFile /etc/ssl/chain.pem\n</VirtualHost>\n";
    CHECK_OK(host_edit_directives(&b, in, strlen(in), d, 2, HOST_SYNTAX_APACHE));
    CHECK_STR(buf_str(&b), "<VirtualHost *:443>\n  # SSLCertificateFile /x\n"
                           "  SSLCertificateFile \"/l/full.pem\"\n"
                           "  SSLCertificateKeyFile \"/l/key.pem\"\n"
                           "  SSLCertificateChainFile /etc/ssl/chain.pem\n</VirtualHost>\n");
    CHECK_OK(host_edit_directives(&c, (const char *)b.data, b.len, d, 2, HOST_SYNTAX_APACHE));
    CHECK_STR(buf_str(&c), buf_str(&b));
    buf_free(&b);
    buf_free(&c);
}

TEST(services)
{
    unsigned m = 0;
    char s[64];
    CHECK_OK(host_services_parse(&m, "smtp,imap,pop,https"));
    CHECK_INT(m, HOST_SMTP | HOST_IMAP | HOST_POP | HOST_HTTPS);
    host_services_name(s, sizeof(s), HOST_POP | HOST_SMTP);
    CHECK_STR(s, "smtp,pop");
    CHECK_OK(host_services_parse(&m, "apache,https"));
    CHECK_INT(m, HOST_APACHE | HOST_HTTPS);
    host_services_name(s, sizeof(s), HOST_APACHE | HOST_SMTP);
    CHECK_STR(s, "smtp,apache");
    CHECK_ERR(host_services_parse(&m, "smtp,iis"), CM_ERR_INVALID);
    CHECK_ERR(host_services_parse(&m, ""), CM_ERR_INVALID);
    CHECK_ERR(host_services_parse(&m, "smtp,,imap"), CM_ERR_INVALID);
}

TEST(split_and_run)
{
    char **argv = NULL, *words = NULL;
    CHECK_OK(host_split(&argv, &words, "  nginx -t  -c {config} ", "/a b/n.conf"));
    CHECK_STR(argv[0], "nginx");
    CHECK_STR(argv[2], "-c");
    CHECK_STR(argv[3], "/a b/n.conf"); /* one word, whatever it holds */
    CHECK(argv[4] == NULL);
    free(argv);
    free(words);
    CHECK_ERR(host_split(&argv, &words, "   ", NULL), CM_ERR_CONFIG);
    /* No shell: ";" and "$X" reach the program as they are. */
    const char *ok[] = {"test", "a;b", "=", "a;b", NULL};
    CHECK_OK(host_run(ok, NULL, "t"));
    const char *env[] = {"CM_T=1", NULL};
    const char *e[] = {"sh", "-c", "test \"$CM_T\" = 1", NULL};
    CHECK_OK(host_run(e, env, "t"));
    const char *bad[] = {"sh", "-c", "echo broken config >&2; exit 3", NULL};
    CHECK_ERR(host_run(bad, NULL, "svc check"), CM_ERR_STATE);
    CHECK(strstr(cm_err_msg(), "broken config") != NULL);
    CHECK(strstr(cm_err_msg(), "exit status 3") != NULL);
    const char *none[] = {"/nonexistent/prog", NULL};
    CHECK(host_run(none, NULL, "t") != CM_OK);
}

TEST(read_certs_rejects)
{
    STACK_OF(X509) *sk = NULL;
    const char *key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    CHECK_ERR(host_read_certs((void **)&sk, (const unsigned char *)key, strlen(key), "k"),
              CM_ERR_INVALID);
    CHECK_ERR(host_read_certs((void **)&sk, (const unsigned char *)"junk", 4, "j"), CM_ERR_INVALID);
    CHECK(sk == NULL);
}

/* The REST API's answers (docs/http.md, openapi.json Submission,
 * Request, PolicyProblem) as host submit --ca https:// reads them. */
TEST(rest_answers)
{
    struct host_submit_result r;
    char *pem = NULL;
    const char *issued = "{\"request_id\":7,\"disposition\":\"issued\",\"serial\":\"01\","
                         "\"message\":null,\"withheld\":false,\"certificate\":\"PEM\"}";
    const char *pend = "{\"request_id\":8,\"disposition\":\"pending\",\"serial\":null,"
                       "\"message\":null,\"withheld\":false,\"certificate\":null}";
    const char *withheld = "{\"request_id\":9,\"disposition\":\"issued\",\"withheld\":true}";
    const char *denied = "{\"type\":\"urn:certmint:problem:policy\",\"status\":422,"
                         "\"detail\":\"key type rsa:2048 not allowed\",\"request_id\":10}";
    const char *read = "{\"request_id\":11,\"disposition\":\"denied\",\"message\":\"not ours\"}";

    memset(&r, 0, sizeof(r));
    CHECK_OK(host_rest_parse_answer(&r, &pem, 201, issued, strlen(issued)));
    CHECK_INT(r.disposition, DB_DISP_ISSUED);
    CHECK_INT(r.request_id, 7);
    CHECK_STR(pem, "PEM");
    free(pem);
    pem = NULL;
    CHECK_OK(host_rest_parse_answer(&r, &pem, 202, pend, strlen(pend)));
    CHECK_INT(r.disposition, DB_DISP_PENDING);
    CHECK(pem == NULL);
    CHECK_OK(host_rest_parse_answer(&r, &pem, 202, withheld, strlen(withheld)));
    CHECK_INT(r.disposition, DB_DISP_PENDING);
    CHECK(pem == NULL);
    CHECK_OK(host_rest_parse_answer(&r, NULL, 422, denied, strlen(denied)));
    CHECK_INT(r.disposition, DB_DISP_DENIED);
    CHECK_INT(r.request_id, 10);
    CHECK_STR(r.message, "key type rsa:2048 not allowed");
    CHECK_OK(host_rest_parse_answer(&r, NULL, 200, read, strlen(read)));
    CHECK_INT(r.disposition, DB_DISP_DENIED);
    CHECK_STR(r.message, "not ours");
    /* Neither a request nor JSON, a duplicate member, an unknown state. */
    CHECK(host_rest_parse_answer(&r, NULL, 200, "<html>", 6) != CM_OK);
    CHECK(host_rest_parse_answer(&r, NULL, 201, "{\"request_id\":1,\"request_id\":2}", 31) !=
          CM_OK);
    CHECK(host_rest_parse_answer(&r, NULL, 200, "{\"request_id\":3,\"disposition\":\"x\"}", 34) !=
          CM_OK);
    cm_err_clear();
}

int main(void)
{
    unit_suite = "host";
    RUN(kv_parse);
    RUN(kv_rejects);
    RUN(thumbprints);
    RUN(edit_dovecot);
    RUN(edit_nginx_idempotent);
    RUN(edit_apache);
    RUN(services);
    RUN(split_and_run);
    RUN(read_certs_rejects);
    RUN(rest_answers);
    return UNIT_DONE();
}
