/* smtp_send: a test and benchmark driver for the SMTP exit module's
 * transport. Builds COUNT messages with the MIME builder (UTF-8 subject,
 * text, events part, optional certificate attachment) and sends them with
 * one smtp_client, so that the connection is reused across the burst
 * (--fresh opens a new client per message instead).
 *
 *   smtp_send --server 127.0.0.1 --port 2525 --tls starttls --auth plain \
 *             --user certmint --password-file F --cafile CA.pem \
 *             --from ca@example.org --to admin@example.org [--to ...] \
 *             [--count N] [--subject S] [--attach CERT.der] [--timeout-ms N] \
 *             [--helo NAME] [--fresh] [--quiet] [--pause-after N --pause-ms MS]
 *
 * Prints one line per message ("sent I: REPLY" or "error I: ...") and a
 * last line "result=CODE permanent=0|1 sent=N connects=K elapsed_ms=T
 * rate=R" where CODE is OK or the cm_err name (NET, TIMEOUT, AUTH, ...).
 * Exits 0 when every message was sent. --pause-after N prints "paused" after
 * message N and sleeps MS milliseconds (the test then closes the server's
 * side of the idle connection). */
#include "exit/mime.h"
#include "exit/smtp_client.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RCPT 16

static const char *err_name(cm_err e)
{
    static const char *const names[CM_ERR__COUNT] = {
        [CM_OK] = "OK",           [CM_ERR_NOMEM] = "NOMEM",     [CM_ERR_IO] = "IO",
        [CM_ERR_INVALID] = "INVALID", [CM_ERR_NOTFOUND] = "NOTFOUND", [CM_ERR_EXISTS] = "EXISTS",
        [CM_ERR_CRYPTO] = "CRYPTO", [CM_ERR_DB] = "DB",         [CM_ERR_CONFIG] = "CONFIG",
        [CM_ERR_POLICY] = "POLICY", [CM_ERR_LINT] = "LINT",     [CM_ERR_STATE] = "STATE",
        [CM_ERR_NET] = "NET",     [CM_ERR_AUTH] = "AUTH",       [CM_ERR_TIMEOUT] = "TIMEOUT",
        [CM_ERR_WITHHELD] = "WITHHELD", [CM_ERR_UNSUPPORTED] = "UNSUPPORTED",
    };
    return (unsigned)e < CM_ERR__COUNT && names[e] ? names[e] : "UNKNOWN";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr, "usage: smtp_send --server H --port P [--tls none|starttls|tls] "
                    "[--auth none|basic|plain|login|ntlm|gssapi] [--user U] "
                    "[--password-file F] [--cafile F] [--timeout-ms N] [--helo NAME] "
                    "--from ADDR --to ADDR [--to ADDR...] [--count N] [--subject S] "
                    "[--attach FILE.der] [--fresh] [--quiet] [--pause-after N --pause-ms MS]\n");
    exit(2);
}

/* Builds message i. */
static cm_err build(cm_buf *out, const char *from, const char *const *to, size_t nto,
                    const char *subject, int i, const unsigned char *der, size_t derlen)
{
    struct mime_msg *m = NULL;
    cm_buf s = CM_BUF_INIT(4096), ev = CM_BUF_INIT(4096);
    char id[128], num[32];
    cm_err rc = CM_OK;

    CM_TRY(mime_new(&m));
    CM_TRY(mime_add_address(m, MIME_FROM, "certmint test CA", from));
    for (size_t k = 0; k < nto; k++)
        CM_TRY(mime_add_address(m, MIME_TO, NULL, to[k]));
    CM_TRY(buf_printf(&s, "%s #%d", subject, i));
    CM_TRY(mime_set_subject(m, buf_str(&s)));
    snprintf(id, sizeof(id), "certmint-test.%ld.%d@localhost", (long)getpid(), i);
    CM_TRY(mime_set_message_id(m, id));
    snprintf(num, sizeof(num), "%d", i);
    CM_TRY(mime_add_header(m, "X-Certmint-Event", "CERTISSUED"));
    CM_TRY(mime_add_header(m, "X-Certmint-Event-ID", num));
    buf_reset(&s);
    CM_TRY(buf_printf(&s, "Test message %d from certmint's SMTP transport.\n"
                          "Zertifikat f\xc3\xbcr J\xc3\xbcrgen ausgestellt.\n",
                      i));
    CM_TRY(mime_add_text(m, buf_str(&s)));
    CM_TRY(mime_format_header(&ev, "X-Certmint-Event", "CERTISSUED"));
    CM_TRY(mime_format_header(&ev, "X-Certmint-Event-ID", num));
    CM_TRY(mime_add_part(m, "text/x-certmint-events; charset=us-ascii", "attachment",
                         "events.txt", ev.data, ev.len));
    if (der)
        CM_TRY(mime_add_attachment(m, "application/pkix-cert", "cert.cer", der, derlen));
    CM_TRY(mime_render(out, m));
out:
    buf_free(&s);
    buf_free(&ev);
    mime_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    struct smtp_opts o = SMTP_OPTS_INIT;
    struct smtp_client *c = NULL;
    const char *from = NULL, *to[MAX_RCPT], *subject = "certmint test", *attach = NULL;
    size_t nto = 0, derlen = 0;
    unsigned char *der = NULL;
    long long count = 1, v, pause_after = 0, pause_ms = 0;
    int fresh = 0, quiet = 0, permanent = 0, sent = 0;
    long connects = 0;
    cm_buf msg = CM_BUF_INIT(16u * 1024 * 1024);
    cm_err rc = CM_OK;
    int64_t t0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--fresh") == 0) {
            fresh = 1;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (val == NULL)
            usage();
        i++;
        if (strcmp(a, "--server") == 0) {
            o.server = val;
        } else if (strcmp(a, "--port") == 0) {
            if (text_parse_int(&v, val, 1, 65535, "--port") != CM_OK)
                goto bad;
            o.port = (int)v;
        } else if (strcmp(a, "--tls") == 0) {
            if (smtp_tls_parse(&o.tls, val) != CM_OK)
                goto bad;
        } else if (strcmp(a, "--auth") == 0) {
            if (smtp_auth_parse(&o.auth, val) != CM_OK)
                goto bad;
        } else if (strcmp(a, "--user") == 0) {
            o.username = val;
        } else if (strcmp(a, "--password-file") == 0) {
            o.password_file = val;
        } else if (strcmp(a, "--cafile") == 0) {
            o.cafile = val;
        } else if (strcmp(a, "--helo") == 0) {
            o.helo = val;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            if (text_parse_int(&v, val, 1, 3600000, "--timeout-ms") != CM_OK)
                goto bad;
            o.timeout_ms = (long)v;
        } else if (strcmp(a, "--from") == 0) {
            from = val;
        } else if (strcmp(a, "--to") == 0) {
            if (nto == MAX_RCPT)
                usage();
            to[nto++] = val;
        } else if (strcmp(a, "--count") == 0) {
            if (text_parse_int(&count, val, 1, 10000000, "--count") != CM_OK)
                goto bad;
        } else if (strcmp(a, "--pause-after") == 0) {
            if (text_parse_int(&pause_after, val, 1, 10000000, "--pause-after") != CM_OK)
                goto bad;
        } else if (strcmp(a, "--pause-ms") == 0) {
            if (text_parse_int(&pause_ms, val, 0, 600000, "--pause-ms") != CM_OK)
                goto bad;
        } else if (strcmp(a, "--subject") == 0) {
            subject = val;
        } else if (strcmp(a, "--attach") == 0) {
            attach = val;
        } else {
            usage();
        }
    }
    if (from == NULL || nto == 0)
        usage();
    if (attach && fs_read_file(&der, &derlen, attach, 1024 * 1024) != CM_OK)
        goto bad;

    t0 = now_ms();
    for (long long i = 1; i <= count; i++) {
        if (c == NULL && (rc = smtp_client_open(&c, &o)) != CM_OK) {
            permanent = 1;
            break;
        }
        buf_reset(&msg);
        if ((rc = build(&msg, from, to, nto, subject, (int)i, der, derlen)) != CM_OK)
            break;
        rc = smtp_client_send(c, from, to, nto, msg.data, msg.len, &permanent);
        if (rc != CM_OK) {
            printf("error %lld: %s %s: %s\n", i, err_name(rc),
                   permanent ? "permanent" : "temporary", cm_err_msg());
            break;
        }
        sent++;
        if (!quiet)
            printf("sent %lld: %s\n", i, smtp_client_last_reply(c));
        if (i == pause_after) {
            struct timespec ts = {(time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L};
            printf("paused\n");
            fflush(stdout);
            nanosleep(&ts, NULL);
        }
        if (fresh) {
            connects += smtp_client_connects(c);
            smtp_client_close(c);
            c = NULL;
        }
    }
    if (c)
        connects += smtp_client_connects(c);
    smtp_client_close(c);
    {
        int64_t el = now_ms() - t0;
        printf("result=%s permanent=%d sent=%d connects=%ld elapsed_ms=%lld rate=%.1f%s%s\n",
               err_name(rc), rc == CM_OK ? 0 : permanent, sent, connects, (long long)el,
               el > 0 ? sent * 1000.0 / (double)el : 0.0, rc == CM_OK ? "" : " msg=",
               rc == CM_OK ? "" : cm_err_msg());
    }
    free(der);
    buf_free(&msg);
    return rc == CM_OK ? 0 : 1;
bad:
    fprintf(stderr, "smtp_send: %s\n", cm_err_msg());
    return 2;
}
