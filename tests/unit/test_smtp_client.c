/* Unit tests for the SMTP client's option handling (src/exit/smtp_client.c):
 * mode names and AD CS aliases, and every configuration error found before
 * anything is sent. Sending itself is tested against a real Postfix in
 * tests/e2e/smtp_transport.sh. */
#include "unit.h"

#include "exit/smtp_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/cm-unit-smtp.XXXXXX";
static char pwfile[256], pwopen[256], pwempty[256];

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        UNIT_FAIL("cannot write %s", path);
    if (fd >= 0)
        close(fd);
    chmod(path, mode);
}

TEST(parse_names)
{
    enum smtp_tls t;
    enum smtp_auth a;
    CHECK_OK(smtp_tls_parse(&t, "none"));
    CHECK_INT(t, SMTP_TLS_NONE);
    CHECK_OK(smtp_tls_parse(&t, "STARTTLS"));
    CHECK_INT(t, SMTP_TLS_STARTTLS);
    CHECK_OK(smtp_tls_parse(&t, "tls"));
    CHECK_INT(t, SMTP_TLS_IMPLICIT);
    CHECK_OK(smtp_tls_parse(&t, "smtps"));
    CHECK_INT(t, SMTP_TLS_IMPLICIT);
    CHECK_ERR(smtp_tls_parse(&t, "ssl3"), CM_ERR_CONFIG);
    CHECK_ERR(smtp_tls_parse(&t, ""), CM_ERR_CONFIG);
    /* AD CS's SMTPAuthenticate values. */
    CHECK_OK(smtp_auth_parse(&a, "0"));
    CHECK_INT(a, SMTP_AUTH_NONE);
    CHECK_OK(smtp_auth_parse(&a, "anonymous"));
    CHECK_INT(a, SMTP_AUTH_NONE);
    CHECK_OK(smtp_auth_parse(&a, "1"));
    CHECK_INT(a, SMTP_AUTH_BASIC);
    CHECK_OK(smtp_auth_parse(&a, "2"));
    CHECK_INT(a, SMTP_AUTH_NTLM);
    CHECK_OK(smtp_auth_parse(&a, "Plain"));
    CHECK_INT(a, SMTP_AUTH_PLAIN);
    CHECK_OK(smtp_auth_parse(&a, "login"));
    CHECK_INT(a, SMTP_AUTH_LOGIN);
    CHECK_OK(smtp_auth_parse(&a, "gssapi"));
    CHECK_INT(a, SMTP_AUTH_GSSAPI);
    CHECK_ERR(smtp_auth_parse(&a, "3"), CM_ERR_CONFIG);
    CHECK_ERR(smtp_auth_parse(&a, "cram-md5"), CM_ERR_CONFIG);
    CHECK_STR(smtp_tls_name(SMTP_TLS_STARTTLS), "starttls");
    CHECK_STR(smtp_auth_name(SMTP_AUTH_BASIC), "basic");
}

/* open() must fail with `code` and a message containing `word`. */
static void open_fails(const struct smtp_opts *o, cm_err code, const char *word)
{
    struct smtp_client *c = NULL;
    cm_err rc = smtp_client_open(&c, o);
    if (rc != code)
        UNIT_FAIL("open returned %d, expected %d (%s)", (int)rc, (int)code, cm_err_msg());
    else if (word && strstr(cm_err_msg(), word) == NULL)
        UNIT_FAIL("message '%s' does not mention '%s'", cm_err_msg(), word);
    CHECK(c == NULL);
    smtp_client_close(c);
}

TEST(open_errors)
{
    struct smtp_opts o = SMTP_OPTS_INIT;
    open_fails(&o, CM_ERR_CONFIG, "no server");
    o.server = "mail.example.org/path";
    open_fails(&o, CM_ERR_CONFIG, "mail.example.org/path");
    o.server = "user@mail.example.org";
    open_fails(&o, CM_ERR_CONFIG, NULL);
    o.server = "127.0.0.1";
    o.port = 70000;
    open_fails(&o, CM_ERR_CONFIG, "70000");
    o.port = 2525;
    o.helo = "bad helo";
    open_fails(&o, CM_ERR_CONFIG, "EHLO");
    o.helo = NULL;
    o.timeout_ms = -5;
    open_fails(&o, CM_ERR_CONFIG, "timeout");
    o.timeout_ms = 0;
    o.cafile = "/nonexistent/ca.pem";
    open_fails(&o, CM_ERR_NOTFOUND, "/nonexistent/ca.pem");
    o.cafile = NULL;

    o.auth = SMTP_AUTH_PLAIN;
    open_fails(&o, CM_ERR_CONFIG, "username");
    o.username = "certmint";
    open_fails(&o, CM_ERR_CONFIG, "password file");
    o.password_file = "/nonexistent/pw";
    open_fails(&o, CM_ERR_NOTFOUND, "/nonexistent/pw");
    o.password_file = pwopen;
    open_fails(&o, CM_ERR_CONFIG, "readable by group or others (mode 0644): run chmod 600");
    o.password_file = pwempty;
    open_fails(&o, CM_ERR_CONFIG, "empty");
    o.password_file = pwfile;
    o.tls = SMTP_TLS_NONE;
    open_fails(&o, CM_ERR_CONFIG, "clear");
    o.username = "a\r\nMAIL FROM:<x@y.z>";
    o.tls = SMTP_TLS_STARTTLS;
    open_fails(&o, CM_ERR_CONFIG, "username");
}

TEST(open_and_refuse_bad_addresses)
{
    /* Opening does not connect; bad addresses are refused before any
     * network traffic (port 9 on 127.0.0.1: nothing is sent anyway). */
    struct smtp_opts o = SMTP_OPTS_INIT;
    struct smtp_client *c = NULL;
    const char *good[] = {"admin@example.org"};
    const char *bad[] = {"admin@example.org>\r\nRSET"};
    const unsigned char msg[] = "Subject: x\r\n\r\nx\r\n";
    int permanent = -1;

    o.server = "127.0.0.1";
    o.port = 9;
    o.auth = SMTP_AUTH_BASIC;
    o.username = "certmint";
    o.password_file = pwfile;
    CHECK_OK(smtp_client_open(&c, &o));
    if (c == NULL)
        return;
    CHECK_ERR(smtp_client_send(c, "ca@example.org", bad, 1, msg, sizeof(msg) - 1, &permanent),
              CM_ERR_INVALID);
    CHECK_INT(permanent, 1);
    CHECK_ERR(smtp_client_send(c, "ca@example.org\r\n", good, 1, msg, sizeof(msg) - 1, NULL),
              CM_ERR_INVALID);
    CHECK_ERR(smtp_client_send(c, "ca@example.org", good, 0, msg, sizeof(msg) - 1, &permanent),
              CM_ERR_INVALID);
    CHECK_INT(smtp_client_connects(c), 0);
    CHECK_STR(smtp_client_last_reply(c), "");
    smtp_client_close(c);
    smtp_client_close(NULL);
}

int main(void)
{
    unit_suite = "smtp_client";
    if (mkdtemp(dir) == NULL) {
        printf("not ok - smtp_client: mkdtemp failed\n");
        return 1;
    }
    snprintf(pwfile, sizeof(pwfile), "%s/pw", dir);
    snprintf(pwopen, sizeof(pwopen), "%s/pw-open", dir);
    snprintf(pwempty, sizeof(pwempty), "%s/pw-empty", dir);
    write_file(pwfile, "s3cret\n", 0600);
    write_file(pwopen, "s3cret\n", 0644);
    write_file(pwempty, "\nsecond line\n", 0600);
    RUN(parse_names);
    RUN(open_errors);
    RUN(open_and_refuse_bad_addresses);
    unlink(pwfile);
    unlink(pwopen);
    unlink(pwempty);
    rmdir(dir);
    return UNIT_DONE();
}
