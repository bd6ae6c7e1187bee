/* Unit tests for the MIME builder (src/exit/mime.c). The rendered messages
 * are parsed back with GMime, an independent MIME implementation, to prove
 * they are valid and decode to what was put in; the wire form is checked
 * line by line against the RFC limits. */
#include "unit.h"

#include "exit/mime.h"
#include "util/buf.h"

#include <openssl/rand.h>
#include <stdint.h>

#ifdef CM_HAVE_GMIME
#include "util/dl_gmime.h"
#endif

#define MSG_MAX (16u * 1024 * 1024)

/* Every line ends with CRLF (no bare CR or LF); header lines are at most
 * `hdr_limit` characters and every line at most 998 (RFC 5322 2.1.1). */
static int wire_ok(const cm_buf *b, size_t hdr_limit, char *why, size_t whysz)
{
    const char *s = (const char *)b->data;
    size_t line = 0, start = 0;
    int in_headers = 1;

    if (b->len < 2 || s[b->len - 2] != '\r' || s[b->len - 1] != '\n') {
        snprintf(why, whysz, "does not end with CRLF");
        return 0;
    }
    for (size_t i = 0; i < b->len; i++) {
        if (s[i] == '\r') {
            if (i + 1 >= b->len || s[i + 1] != '\n') {
                snprintf(why, whysz, "bare CR at %zu", i);
                return 0;
            }
            size_t len = i - start;
            if (len > 998 || (in_headers && len > hdr_limit)) {
                snprintf(why, whysz, "line %zu has %zu characters: %.*s", line, len,
                         (int)(len > 100 ? 100 : len), s + start);
                return 0;
            }
            if (len == 0)
                in_headers = 0;
            line++;
            i++;
            start = i + 1;
        } else if (s[i] == '\n') {
            snprintf(why, whysz, "bare LF at %zu", i);
            return 0;
        } else if ((unsigned char)s[i] >= 0x80) {
            snprintf(why, whysz, "8-bit byte at %zu", i);
            return 0;
        }
    }
    return 1;
}

/* The header block (up to the first empty line), unfolded lines kept. */
static char *header_block(const cm_buf *b)
{
    const char *s = buf_str(b);
    const char *end = strstr(s, "\r\n\r\n");
    size_t n = end ? (size_t)(end - s) + 2 : strlen(s);
    char *h = malloc(n + 1);
    memcpy(h, s, n);
    h[n] = '\0';
    return h;
}

static struct mime_msg *basic_msg(void)
{
    struct mime_msg *m = NULL;
    if (mime_new(&m) != CM_OK)
        return NULL;
    if (mime_add_address(m, MIME_FROM, "certmint CA", "ca@example.org") != CM_OK ||
        mime_add_address(m, MIME_TO, NULL, "admin@example.org") != CM_OK ||
        mime_add_address(m, MIME_TO, "Second Admin", "admin2@example.org") != CM_OK ||
        mime_add_address(m, MIME_CC, "Audit, Team", "audit@example.net") != CM_OK ||
        mime_set_subject(m, "Certificate issued") != CM_OK ||
        mime_set_date(m, 1700000000) != CM_OK ||
        mime_set_message_id(m, "certmint.0123456789abcdef.42@ca.example.org") != CM_OK ||
        mime_add_header(m, "X-Certmint-Event", "CERTISSUED") != CM_OK) {
        mime_free(m);
        return NULL;
    }
    return m;
}

TEST(headers_basic)
{
    struct mime_msg *m = basic_msg();
    cm_buf b = CM_BUF_INIT(MSG_MAX);
    char why[256];
    char *h = NULL;

    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK_OK(mime_add_text(m, "hello\n"));
    CHECK_OK(mime_render(&b, m));
    h = header_block(&b);
    CHECK(strstr(h, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n") != NULL);
    CHECK(strstr(h, "From: certmint CA <ca@example.org>\r\n") != NULL);
    CHECK(strstr(h, "To: admin@example.org, Second Admin <admin2@example.org>\r\n") != NULL);
    /* The comma makes the name a quoted-string (RFC 5322 3.2.4). */
    CHECK(strstr(h, "Cc: \"Audit, Team\" <audit@example.net>\r\n") != NULL);
    CHECK(strstr(h, "Subject: Certificate issued\r\n") != NULL);
    CHECK(strstr(h, "Message-ID: <certmint.0123456789abcdef.42@ca.example.org>\r\n") != NULL);
    CHECK(strstr(h, "MIME-Version: 1.0\r\n") != NULL);
    CHECK(strstr(h, "X-Certmint-Event: CERTISSUED\r\n") != NULL);
    CHECK(strstr(h, "Content-Type: multipart/mixed;\r\n boundary=\"=_certmint_") != NULL);
    if (!wire_ok(&b, 78, why, sizeof(why)))
        UNIT_FAIL("wire form: %s", why);
    free(h);
    buf_free(&b);
    mime_free(m);
}

TEST(encode_word)
{
    cm_buf b = CM_BUF_INIT(4096);
    /* Q is shorter for mostly-ASCII text, B for text that is mostly not. */
    CHECK_OK(mime_encode_word(&b, "caf\xc3\xa9 ok"));
    CHECK_STR(buf_str(&b), "=?UTF-8?Q?caf=C3=A9_ok?=");
    buf_reset(&b);
    CHECK_OK(mime_encode_word(&b, "\xe8\xaf\x81\xe4\xb9\xa6")); /* 证书 */
    CHECK_STR(buf_str(&b), "=?UTF-8?B?6K+B5Lmm?=");
    buf_reset(&b);
    CHECK_ERR(mime_encode_word(&b, "a\xc3"), CM_ERR_INVALID);        /* truncated */
    CHECK_ERR(mime_encode_word(&b, "\xc0\xaf"), CM_ERR_INVALID);     /* overlong */
    CHECK_ERR(mime_encode_word(&b, "\xed\xa0\x80"), CM_ERR_INVALID); /* surrogate */
    CHECK_ERR(mime_encode_word(&b, "a\r\nb"), CM_ERR_INVALID);
    /* Long text: several words, each at most 75 characters, whole
     * characters each (a 2-byte character never split). */
    buf_reset(&b);
    char in[400];
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        in[n++] = (char)0xc3;
        in[n++] = (char)0xbc; /* ü */
    }
    in[n] = '\0';
    CHECK_OK(mime_encode_word(&b, in));
    int words = 0;
    for (char *w = (char *)b.data; w && *w;) {
        char *sp = strchr(w, ' ');
        size_t wl = sp ? (size_t)(sp - w) : strlen(w);
        CHECK(wl <= 75);
        CHECK(strncmp(w, "=?UTF-8?", 8) == 0 && strncmp(w + wl - 2, "?=", 2) == 0);
        words++;
        w = sp ? sp + 1 : NULL;
    }
    CHECK(words >= 3);
    buf_free(&b);
}

TEST(header_injection_refused)
{
    struct mime_msg *m = basic_msg();
    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK_ERR(mime_add_header(m, "X-Test", "a\r\nBcc: victim@example.com"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "X-Test", "a\nb"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "X-Test", "a\rb"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "X-Test", "bell\x07"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "X-Test: x", "v"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "X Test", "v"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "", "v"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "Content-Type", "text/html"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "bcc", "x@example.com"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_header(m, "X-Test", "\xff"), CM_ERR_INVALID);
    CHECK_ERR(mime_set_subject(m, "Issued\r\nBcc: victim@example.com"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_address(m, MIME_TO, NULL, "a@example.com>\r\nRCPT TO:<b@example.com"),
              CM_ERR_INVALID);
    CHECK_ERR(mime_add_address(m, MIME_TO, "Evil\r\nBcc: x@y.z", "a@example.com"),
              CM_ERR_INVALID);
    CHECK_ERR(mime_add_address(m, MIME_FROM, NULL, "second@example.org"), CM_ERR_INVALID);
    CHECK_ERR(mime_add_attachment(m, "application/pkix-cert", "a\r\nb.cer",
                                  (const unsigned char *)"x", 1),
              CM_ERR_INVALID);
    CHECK_ERR(mime_add_part(m, "text/plain\r\nX-Evil: 1", NULL, NULL,
                            (const unsigned char *)"x", 1),
              CM_ERR_INVALID);
    CHECK_ERR(mime_add_part(m, "text/plain", "evil", NULL, (const unsigned char *)"x", 1),
              CM_ERR_INVALID);
    CHECK_ERR(mime_set_message_id(m, "no-at-sign"), CM_ERR_INVALID);
    CHECK_ERR(mime_set_message_id(m, "<a b@c>"), CM_ERR_INVALID);
    CHECK_ERR(mime_set_message_id(m, "a@b>\r\nX: y"), CM_ERR_INVALID);

    /* Nothing of the refused values made it into the message. */
    cm_buf b = CM_BUF_INIT(MSG_MAX);
    CHECK_OK(mime_render(&b, m));
    CHECK(strstr(buf_str(&b), "victim") == NULL);
    CHECK(strstr(buf_str(&b), "Evil") == NULL);
    buf_free(&b);
    mime_free(m);
}

TEST(addresses)
{
    static const char *const good[] = {"a@example.org", "first.last+tag@sub.example.co.uk",
                                       "x@[192.0.2.1]", "y@[IPv6:2001:db8::1]",
                                       "o'brien@example.ie"};
    static const char *const bad[] = {"",
                                      "noat",
                                      "@example.org",
                                      "a@",
                                      "a..b@example.org",
                                      ".a@example.org",
                                      "a@-example.org",
                                      "a@exa_mple.org",
                                      "a b@example.org",
                                      "\"quoted\"@example.org",
                                      "a@example.org>",
                                      "j\xc3\xbcrgen@example.org",
                                      "a@b@c"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (mime_check_addr(good[i]) != CM_OK)
            UNIT_FAIL("'%s' refused: %s", good[i], cm_err_msg());
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mime_check_addr(bad[i]) != CM_ERR_INVALID)
            UNIT_FAIL("'%s' accepted", bad[i]);
    char longlocal[80];
    memset(longlocal, 'a', 65);
    snprintf(longlocal + 65, sizeof(longlocal) - 65, "@x.org");
    CHECK_ERR(mime_check_addr(longlocal), CM_ERR_INVALID);

    struct mime_addr *a = NULL;
    size_t n = 0;
    CHECK_OK(mime_addr_parse_list(&a, &n,
                                  " CA Admins <admin@example.org>, \"Doe, John\" <jd@example.org>,"
                                  "plain@example.net , \"Quote \\\" <x>\" <q@example.org>"));
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK_STR(a[0].display, "CA Admins");
        CHECK_STR(a[0].addr, "admin@example.org");
        CHECK_STR(a[1].display, "Doe, John");
        CHECK_STR(a[1].addr, "jd@example.org");
        CHECK(a[2].display == NULL);
        CHECK_STR(a[2].addr, "plain@example.net");
        CHECK_STR(a[3].display, "Quote \" <x>");
        CHECK_STR(a[3].addr, "q@example.org");
    }
    mime_addr_free(a, n);
    static const char *const badlists[] = {"", "  ", "a@example.org,,b@example.org",
                                           "a@example.org,", "\"unterminated <a@example.org>",
                                           "Name <a@example.org> trailing", "Name <bad>",
                                           "x@example.org\r\nRCPT TO:<y@example.org>"};
    for (size_t i = 0; i < sizeof(badlists) / sizeof(badlists[0]); i++) {
        a = NULL;
        n = 0;
        if (mime_addr_parse_list(&a, &n, badlists[i]) != CM_ERR_INVALID)
            UNIT_FAIL("list '%s' accepted", badlists[i]);
        CHECK(a == NULL && n == 0);
        mime_addr_free(a, n);
    }
}

TEST(no_from)
{
    struct mime_msg *m = NULL;
    cm_buf b = CM_BUF_INIT(4096);
    CHECK_OK(mime_new(&m));
    CHECK_OK(mime_add_address(m, MIME_TO, NULL, "a@example.org"));
    CHECK_ERR(mime_render(&b, m), CM_ERR_INVALID);
    buf_free(&b);
    mime_free(m);
    mime_free(NULL);
}

TEST(format_header)
{
    cm_buf b = CM_BUF_INIT(65536);
    CHECK_OK(mime_format_header(&b, "X-Certmint-Serial", "5A3F09C2D1E4B7A8"));
    CHECK_STR(buf_str(&b), "X-Certmint-Serial: 5A3F09C2D1E4B7A8\r\n");
    buf_reset(&b);
    CHECK_OK(mime_format_header(&b, "X-Certmint-Subject", "CN=J\xc3\xbcrgen,O=Example"));
    CHECK_STR(buf_str(&b), "X-Certmint-Subject: =?UTF-8?B?Q049SsO8cmdlbixPPUV4YW1wbGU=?=\r\n");
    buf_reset(&b);
    /* "=?" in plain text would read as an encoded-word: it is encoded. */
    CHECK_OK(mime_format_header(&b, "X-A", "=?x?="));
    CHECK(strncmp(buf_str(&b), "X-A: =?UTF-8?", 13) == 0);
    buf_reset(&b);
    CHECK_ERR(mime_format_header(&b, "X-A", "a\nb"), CM_ERR_INVALID);
    CHECK_ERR(mime_format_header(&b, "X:A", "a"), CM_ERR_INVALID);
    /* A long ASCII value folds at its spaces, within 78. */
    char v[600];
    size_t n = 0;
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(v + n, sizeof(v) - n, "word%02d ", i);
    v[n - 1] = '\0';
    buf_reset(&b);
    CHECK_OK(mime_format_header(&b, "X-Long", v));
    char why[256];
    if (!wire_ok(&b, 78, why, sizeof(why)))
        UNIT_FAIL("folded header: %s", why);
    CHECK(strstr(buf_str(&b), "\r\n word") != NULL);
    buf_free(&b);
}

/* Issue 9: a subject from a hostile CSR, 20,000 characters without white
 * space, gives a field of short lines (encoded-words folded between words)
 * instead of an error; a run longer than 60 characters is encoded even in
 * ASCII, so that no line passes 78. Header values of mime_add_header keep
 * their 8 KiB bound. */
TEST(long_values_fold)
{
    cm_buf b = CM_BUF_INIT(1024 * 1024);
    char *v = malloc(20001 + 2);
    char why[256];
    CHECK(v != NULL);
    if (v == NULL)
        return;
    v[0] = 'O';
    v[1] = '=';
    memset(v + 2, 'A', 20000);
    v[20002] = '\0';
    CHECK_OK(mime_format_header(&b, "X-Certmint-Subject", v));
    if (!wire_ok(&b, 78, why, sizeof(why)))
        UNIT_FAIL("20,000-character field: %s", why);
    CHECK(strncmp(buf_str(&b), "X-Certmint-Subject: =?UTF-8?", 28) == 0);
    buf_reset(&b);
    memset(v, 'x', 61);
    v[61] = '\0';
    CHECK_OK(mime_format_header(&b, "X-A", v));
    CHECK(strncmp(buf_str(&b), "X-A: =?UTF-8?", 13) == 0);
    buf_reset(&b);
    v[60] = '\0';
    CHECK_OK(mime_format_header(&b, "X-A", v));
    CHECK(strncmp(buf_str(&b), "X-A: xxx", 8) == 0);
    free(v);
    buf_free(&b);
}

#ifdef CM_HAVE_GMIME
static GMimeMessage *parse(const cm_buf *b)
{
    GMimeStream *s = g_mime_stream_mem_new_with_buffer((const char *)b->data, b->len);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    return msg;
}

/* The decoded content of a leaf part, NUL-terminated; *len its size. */
static char *part_content(GMimeObject *o, size_t *len)
{
    GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));
    GMimeStream *s = g_mime_stream_mem_new();
    GByteArray *arr;
    char *out;

    g_mime_data_wrapper_write_to_stream(w, s);
    arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
    out = malloc(arr->len + 1);
    memcpy(out, arr->data, arr->len);
    out[arr->len] = '\0';
    *len = arr->len;
    g_object_unref(s);
    return out;
}

static char *mime_type(GMimeObject *o)
{
    return g_mime_content_type_get_mime_type(g_mime_object_get_content_type(o));
}

/* LF -> CRLF, as the builder normalises text. */
static char *crlf(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *o = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            o[k++] = '\r';
        o[k++] = s[i];
    }
    o[k] = '\0';
    return o;
}

TEST(gmime_roundtrip)
{
    /* A subject long enough to need several encoded-words, non-ASCII. */
    const char *subject =
        "Zertifikat f\xc3\xbcr J\xc3\xbcrgen M\xc3\xbcller ausgestellt \xe2\x80\x94 "
        "\xe8\xaf\x81\xe4\xb9\xa6\xe5\xb7\xb2\xe7\xad\xbe\xe5\x8f\x91 \xe2\x80\x94 "
        "serial 5A3F09C2D1E4B7A8 request 17 profile smime";
    /* Text with what quoted-printable must take care of: long lines,
     * non-ASCII, '=', trailing white space, "From " and "." line starts. */
    const char *text =
        "Certificate issued.\n"
        "Subject: CN=J\xc3\xbcrgen M\xc3\xbcller, O=Beispiel GmbH\n"
        "A very long line that goes on and on and on well past the seventy-six character "
        "limit of quoted-printable so that it needs soft line breaks = and equals signs = too\n"
        "trailing spaces   \n"
        "trailing tab\t\n"
        "From the CA\n"
        ".\n"
        "..dots\n"
        "no newline at the end";
    const char *events = "X-Certmint-Event: CERTISSUED\r\nX-Certmint-Event-ID: 42\r\n\r\n"
                         "X-Certmint-Event: CERTREVOKED\r\nX-Certmint-Event-ID: 43\r\n";
    unsigned char der[1000];
    struct mime_msg *m = basic_msg();
    cm_buf b = CM_BUF_INIT(MSG_MAX);
    char why[256];

    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK(RAND_bytes(der, sizeof(der)) == 1);
    CHECK_OK(mime_set_subject(m, subject));
    CHECK_OK(mime_add_header(m, "X-Certmint-CA", "CN=\xc3\x9c" "ber CA,O=Example"));
    CHECK_OK(mime_add_address(m, MIME_TO, "J\xc3\xbcrgen M\xc3\xbcller", "jm@example.de"));
    CHECK_OK(mime_add_text(m, text));
    CHECK_OK(mime_add_part(m, "text/x-certmint-events; charset=us-ascii", "attachment",
                           "events.txt", (const unsigned char *)events, strlen(events)));
    CHECK_OK(mime_add_attachment(m, "application/pkix-cert", "5A3F09C2D1E4B7A8.cer", der,
                                 sizeof(der)));
    CHECK_OK(mime_add_attachment(m, "application/octet-stream", "\xc3\xbc ber.bin", der, 10));
    CHECK_OK(mime_render(&b, m));
    /* Lines with encoded-words: at most 76 (RFC 2047 2). */
    if (!wire_ok(&b, 78, why, sizeof(why)))
        UNIT_FAIL("wire form: %s", why);
    char *h = header_block(&b);
    for (char *line = h; *line;) {
        char *e = strstr(line, "\r\n");
        if (strstr(line, "=?UTF-8?") && strstr(line, "=?UTF-8?") < e && e - line > 76)
            UNIT_FAIL("encoded-word line over 76: %.*s", (int)(e - line), line);
        line = e + 2;
    }
    free(h);
    /* Base64 lines: exactly 76 but the last of each part (RFC 2045 6.8). */
    const char *p = strstr(buf_str(&b), "filename=\"5A3F09C2D1E4B7A8.cer\"\r\n\r\n");
    CHECK(p != NULL);
    if (p) {
        p = strstr(p, "\r\n\r\n") + 4;
        size_t total = 0, lines = 0;
        for (;;) {
            const char *e = strstr(p, "\r\n");
            size_t l = (size_t)(e - p);
            if (strncmp(e + 2, "--", 2) == 0) {
                CHECK(l <= 76 && l > 0);
                total += l;
                lines++;
                break;
            }
            if (l != 76)
                UNIT_FAIL("base64 line %zu has %zu characters", lines, l);
            total += l;
            lines++;
            p = e + 2;
        }
        CHECK_INT(total, (sizeof(der) + 2) / 3 * 4);
    }
    /* Quoted-printable lines at most 76, "From " and "." lines escaped. */
    CHECK(strstr(buf_str(&b), "\r\nFrom the CA") == NULL);
    CHECK(strstr(buf_str(&b), "\r\n=46rom the CA") != NULL);
    CHECK(strstr(buf_str(&b), "\r\n=2E\r\n") != NULL);
    CHECK(strstr(buf_str(&b), "trailing spaces  =20\r\n") != NULL);
    CHECK(strstr(buf_str(&b), "trailing tab=09\r\n") != NULL);

    GMimeMessage *msg = parse(&b);
    CHECK(msg != NULL);
    if (msg == NULL)
        goto out;
    CHECK_STR(g_mime_message_get_subject(msg), subject);
    CHECK_STR(g_mime_message_get_message_id(msg), "certmint.0123456789abcdef.42@ca.example.org");
    GDateTime *dt = g_mime_message_get_date(msg);
    CHECK(dt != NULL && g_date_time_to_unix(dt) == 1700000000);
    InternetAddressList *to = g_mime_message_get_to(msg);
    CHECK_INT(internet_address_list_length(to), 3);
    if (internet_address_list_length(to) == 3) {
        InternetAddress *ia = internet_address_list_get_address(to, 2);
        CHECK_STR(internet_address_get_name(ia), "J\xc3\xbcrgen M\xc3\xbcller");
        CHECK_STR(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)),
                  "jm@example.de");
    }
    InternetAddressList *cc = g_mime_message_get_cc(msg);
    CHECK_INT(internet_address_list_length(cc), 1);
    if (internet_address_list_length(cc) == 1)
        CHECK_STR(internet_address_get_name(internet_address_list_get_address(cc, 0)),
                  "Audit, Team");
    const char *ca = g_mime_object_get_header(GMIME_OBJECT(msg), "X-Certmint-CA");
    char *cadec = ca ? g_mime_utils_header_decode_text(NULL, ca) : NULL;
    CHECK_STR(cadec, "CN=\xc3\x9c" "ber CA,O=Example");
    g_free(cadec);

    GMimeObject *body = g_mime_message_get_mime_part(msg);
    CHECK(body != NULL && GMIME_IS_MULTIPART(body));
    if (body == NULL || !GMIME_IS_MULTIPART(body))
        goto out;
    GMimeMultipart *mp = GMIME_MULTIPART(body);
    CHECK_INT(g_mime_multipart_get_count(mp), 4);
    if (g_mime_multipart_get_count(mp) != 4)
        goto out;
    /* 1: the text, decoded from quoted-printable. */
    GMimeObject *o = g_mime_multipart_get_part(mp, 0);
    char *t = mime_type(o);
    CHECK_STR(t, "text/plain");
    g_free(t);
    CHECK_STR(g_mime_object_get_content_type_parameter(o, "charset"), "utf-8");
    size_t len;
    char *got = part_content(o, &len), *want = crlf(text);
    CHECK_STR(got, want);
    free(got);
    free(want);
    /* 2: the events part, 7bit, as given. */
    o = g_mime_multipart_get_part(mp, 1);
    t = mime_type(o);
    CHECK_STR(t, "text/x-certmint-events");
    g_free(t);
    CHECK_STR(g_mime_part_get_filename(GMIME_PART(o)), "events.txt");
    got = part_content(o, &len);
    CHECK_STR(got, events);
    free(got);
    /* 3: the certificate, bytes unchanged. */
    o = g_mime_multipart_get_part(mp, 2);
    t = mime_type(o);
    CHECK_STR(t, "application/pkix-cert");
    g_free(t);
    CHECK_STR(g_mime_part_get_filename(GMIME_PART(o)), "5A3F09C2D1E4B7A8.cer");
    CHECK_INT(g_mime_part_get_content_encoding(GMIME_PART(o)), GMIME_CONTENT_ENCODING_BASE64);
    got = part_content(o, &len);
    CHECK_INT(len, sizeof(der));
    CHECK(len == sizeof(der) && memcmp(got, der, len) == 0);
    free(got);
    /* 4: RFC 2231 file name. */
    o = g_mime_multipart_get_part(mp, 3);
    CHECK_STR(g_mime_part_get_filename(GMIME_PART(o)), "\xc3\xbc ber.bin");
out:
    if (msg)
        g_object_unref(msg);
    buf_free(&b);
    mime_free(m);
}

TEST(gmime_folding)
{
    /* Long ASCII subject: folded at spaces, unfolds to the same text. */
    char subject[700];
    size_t n = 0;
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(subject + n, sizeof(subject) - n, "%s%d", i ? "  w" : "w", i);
    struct mime_msg *m = basic_msg();
    cm_buf b = CM_BUF_INIT(MSG_MAX);
    char why[256];

    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK_OK(mime_set_subject(m, subject));
    /* A 7bit part that contains the boundary prefix: still one part. */
    const char *tricky = "--=_certmint_\r\n--=_certmint_0000\r\nend\r\n";
    CHECK_OK(mime_add_part(m, "text/plain; charset=us-ascii", "inline", NULL,
                           (const unsigned char *)tricky, strlen(tricky)));
    CHECK_OK(mime_render(&b, m));
    if (!wire_ok(&b, 78, why, sizeof(why)))
        UNIT_FAIL("wire form: %s", why);
    CHECK(strstr(buf_str(&b), "Subject: w0  w1") != NULL);
    CHECK(strstr(buf_str(&b), "Content-Transfer-Encoding: 7bit") != NULL);
    GMimeMessage *msg = parse(&b);
    CHECK(msg != NULL);
    if (msg) {
        CHECK_STR(g_mime_message_get_subject(msg), subject);
        GMimeObject *body = g_mime_message_get_mime_part(msg);
        CHECK(GMIME_IS_MULTIPART(body) && g_mime_multipart_get_count(GMIME_MULTIPART(body)) == 1);
        if (GMIME_IS_MULTIPART(body) && g_mime_multipart_get_count(GMIME_MULTIPART(body)) == 1) {
            size_t len;
            char *got = part_content(g_mime_multipart_get_part(GMIME_MULTIPART(body), 0), &len);
            CHECK_STR(got, tricky);
            free(got);
        }
        g_object_unref(msg);
    }
    buf_free(&b);
    mime_free(m);
}

TEST(gmime_binary_text_and_defaults)
{
    /* A text part that is not 7bit goes out quoted-printable; a binary
     * part of another type base64. Date and Message-ID defaults. */
    struct mime_msg *m = NULL;
    cm_buf b = CM_BUF_INIT(MSG_MAX);
    const unsigned char bin[] = {0, 1, 2, 0xff, '\r', '\n', 0x80};
    const char *latin = "na\xc3\xafve text\n";

    CHECK_OK(mime_new(&m));
    CHECK_OK(mime_add_address(m, MIME_FROM, NULL, "ca@example.org"));
    CHECK_OK(mime_add_part(m, "text/plain; charset=utf-8", NULL, NULL,
                           (const unsigned char *)latin, strlen(latin)));
    CHECK_OK(mime_add_part(m, "application/octet-stream", "attachment", "b.bin", bin,
                           sizeof(bin)));
    CHECK_OK(mime_render(&b, m));
    CHECK(strstr(buf_str(&b), "Content-Transfer-Encoding: quoted-printable") != NULL);
    CHECK(strstr(buf_str(&b), "Content-Transfer-Encoding: base64") != NULL);
    CHECK(strstr(buf_str(&b), "Message-ID: <certmint.") != NULL);
    GMimeMessage *msg = parse(&b);
    CHECK(msg != NULL);
    if (msg) {
        GDateTime *dt = g_mime_message_get_date(msg);
        int64_t now = (int64_t)time(NULL);
        CHECK(dt != NULL && g_date_time_to_unix(dt) >= now - 60 &&
              g_date_time_to_unix(dt) <= now + 60);
        GMimeObject *body = g_mime_message_get_mime_part(msg);
        if (GMIME_IS_MULTIPART(body) && g_mime_multipart_get_count(GMIME_MULTIPART(body)) == 2) {
            size_t len;
            char *got = part_content(g_mime_multipart_get_part(GMIME_MULTIPART(body), 1), &len);
            CHECK(len == sizeof(bin) && memcmp(got, bin, len) == 0);
            free(got);
        } else {
            UNIT_FAIL("expected a multipart with 2 parts");
        }
        g_object_unref(msg);
    }
    buf_free(&b);
    mime_free(m);
}
#endif

int main(void)
{
    unit_suite = "mime";
#ifdef CM_HAVE_GMIME
    if (dl_gmime_load("test_mime") != CM_OK) {
        fprintf(stderr, "%s\n", cm_err_msg());
        return 1;
    }
    g_mime_init();
#endif
    RUN(headers_basic);
    RUN(encode_word);
    RUN(header_injection_refused);
    RUN(addresses);
    RUN(no_from);
    RUN(format_header);
    RUN(long_values_fold);
#ifdef CM_HAVE_GMIME
    RUN(gmime_roundtrip);
    RUN(gmime_folding);
    RUN(gmime_binary_text_and_defaults);
    g_mime_shutdown();
#else
    printf("# GMime not available: rendered messages not parsed back\n");
#endif
    return UNIT_DONE();
}
