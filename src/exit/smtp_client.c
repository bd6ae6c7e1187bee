/* SMTP submission with libcurl (see smtp_client.h). RFC 5321 (SMTP),
 * RFC 3207 (STARTTLS), RFC 8314 (implicit TLS), RFC 4954 (AUTH). */
#include "exit/smtp_client.h"

#include "exit/mime.h"
#include "util/buf.h"
#include "util/dl_curl.h"
#include "util/fsutil.h"
#include "util/text.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_MS 10000L
#define PASSWORD_FILE_MAX 4096
#define REPLY_MAX 512

struct smtp_client {
    CURL *curl;
    char server[300]; /* "host:port", for messages */
    char *username;   /* for messages; NULL for none */
    int need_auth;    /* AUTH must have happened on the session */
    long connects;
    /* Session state, followed through the protocol trace (debug callback):
     * reset by each EHLO, set by an AUTH command (which libcurl only
     * follows with MAIL when the server accepted it). */
    int session_authed;
    int auth_missing; /* the read callback refused to send unauthenticated */
    char reply[REPLY_MAX];
    char refusal[REPLY_MAX]; /* the last 4xx/5xx line (a QUIT's 221 follows) */
    char offered[REPLY_MAX]; /* mechanisms of the EHLO reply's AUTH line */
    enum smtp_auth auth;
    int content_refused; /* the last send: 5xx to the transferred message */
    char errbuf[CURL_ERROR_SIZE];
    /* The message being sent. */
    const unsigned char *msg;
    size_t len, pos;
};

static const char *const tls_names[] = {"none", "starttls", "tls"};
static const char *const auth_names[] = {"none", "basic", "plain", "login", "ntlm", "gssapi"};

const char *smtp_tls_name(enum smtp_tls t)
{
    assert((unsigned)t < sizeof(tls_names) / sizeof(tls_names[0]));
    return tls_names[t];
}

const char *smtp_auth_name(enum smtp_auth a)
{
    assert((unsigned)a < sizeof(auth_names) / sizeof(auth_names[0]));
    return auth_names[a];
}

cm_err smtp_tls_parse(enum smtp_tls *out, const char *s)
{
    if (strcasecmp(s, "none") == 0)
        *out = SMTP_TLS_NONE;
    else if (strcasecmp(s, "starttls") == 0)
        *out = SMTP_TLS_STARTTLS;
    else if (strcasecmp(s, "tls") == 0 || strcasecmp(s, "smtps") == 0 ||
             strcasecmp(s, "implicit") == 0)
        *out = SMTP_TLS_IMPLICIT;
    else
        return cm_err_set(CM_ERR_CONFIG, "SMTP TLS mode '%.40s': not none, starttls or tls", s);
    return CM_OK;
}

cm_err smtp_auth_parse(enum smtp_auth *out, const char *s)
{
    static const struct {
        const char *name;
        enum smtp_auth auth;
    } names[] = {
        {"none", SMTP_AUTH_NONE},     {"anonymous", SMTP_AUTH_NONE}, {"0", SMTP_AUTH_NONE},
        {"basic", SMTP_AUTH_BASIC},   {"1", SMTP_AUTH_BASIC},        {"plain", SMTP_AUTH_PLAIN},
        {"login", SMTP_AUTH_LOGIN},   {"ntlm", SMTP_AUTH_NTLM},      {"2", SMTP_AUTH_NTLM},
        {"gssapi", SMTP_AUTH_GSSAPI},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].auth;
            return CM_OK;
        }
    }
    return cm_err_set(CM_ERR_CONFIG,
                      "SMTP auth '%.40s': not none, basic, plain, login, ntlm, gssapi "
                      "(or AD CS's 0, 1, 2)",
                      s);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    /* Never cleaned up: other modules may use libcurl too, and the process
     * exit releases it. */
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Host names and IP literals only: what goes into the URL cannot carry a
 * path, credentials or a second URL. */
static cm_err check_host(const char *h)
{
    size_t len = strlen(h);
    int colon = strchr(h, ':') != NULL;

    if (len == 0 || len > 253)
        return cm_err_set(CM_ERR_CONFIG, "SMTP server '%.253s': empty or too long", h);
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '.' || c == '-' || (colon && c == ':');
        if (!ok)
            return cm_err_set(CM_ERR_CONFIG, "SMTP server '%.253s': not a host name or IP address",
                              h);
    }
    return CM_OK;
}

static cm_err check_helo(const char *h)
{
    size_t len = strlen(h);
    if (len == 0 || len > 253)
        return cm_err_set(CM_ERR_CONFIG, "EHLO name '%.253s': empty or too long", h);
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        /* RFC 5321 4.1.1.1: a domain or an address literal. */
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '-' || c == '[' || c == ']' || c == ':'))
            return cm_err_set(CM_ERR_CONFIG, "EHLO name '%.253s': not a domain", h);
    }
    return CM_OK;
}

/* Reads the first line of the password file. Refuses a file every user
 * can read: that password is as good as published. */
static cm_err read_password(char **out, const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0, n;
    cm_err rc = CM_OK;

    *out = NULL;
    CM_TRY(fs_read_secret(&data, &len, path, PASSWORD_FILE_MAX, "SMTP password file"));
    for (n = 0; n < len && data[n] != '\n' && data[n] != '\r'; n++)
        if (data[n] == '\0')
            CM_FAIL(CM_ERR_CONFIG, "SMTP password file %s: NUL byte in the password", path);
    if (n == 0)
        CM_FAIL(CM_ERR_CONFIG, "SMTP password file %s: empty first line", path);
    *out = malloc(n + 1);
    CM_NOMEM_IF(*out == NULL);
    memcpy(*out, data, n);
    (*out)[n] = '\0';
out:
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    return rc;
}

/* Copies a reply line for messages: printable ASCII only. */
static void copy_line(char *dst, size_t dstsz, const char *src, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < dstsz; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[k++] = (ch >= 32 && ch < 127) ? (char)ch : '?';
    }
    dst[k] = '\0';
}

/* The protocol trace. Only the server's lines are kept (the last one, for
 * messages); of what is sent, only the command verb is looked at, since
 * the AUTH line carries the credentials. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ctx)
{
    struct smtp_client *c = ctx;
    (void)h;

    if (type == CURLINFO_HEADER_OUT) {
        if (size >= 5 &&
            (strncasecmp(data, "EHLO ", 5) == 0 || strncasecmp(data, "HELO ", 5) == 0)) {
            c->session_authed = 0;
            c->offered[0] = '\0';
        } else if (size >= 5 && strncasecmp(data, "AUTH ", 5) == 0)
            c->session_authed = 1;
    } else if (type == CURLINFO_HEADER_IN) {
        /* The last non-empty line of the chunk, printable ASCII only. */
        size_t end = size, start;
        while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n'))
            end--;
        if (end == 0)
            return 0;
        start = end;
        while (start > 0 && data[start - 1] != '\n')
            start--;
        copy_line(c->reply, sizeof(c->reply), data + start, end - start);
        if (data[start] == '4' || data[start] == '5')
            copy_line(c->refusal, sizeof(c->refusal), data + start, end - start);
        /* RFC 4954 3: "250-AUTH PLAIN LOGIN" in the EHLO reply. */
        if (end - start > 9 && strncasecmp(data + start + 3, "-AUTH ", 6) == 0)
            copy_line(c->offered, sizeof(c->offered), data + start + 9, end - start - 9);
        else if (end - start > 9 && strncasecmp(data + start + 3, " AUTH ", 6) == 0)
            copy_line(c->offered, sizeof(c->offered), data + start + 9, end - start - 9);
    }
    return 0;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ctx)
{
    struct smtp_client *c = ctx;
    size_t room = size * nitems, n;

    /* libcurl asks for the message only after MAIL and RCPT were accepted:
     * the last moment to refuse sending it on an unauthenticated session. */
    if (c->need_auth && !c->session_authed) {
        c->auth_missing = 1;
        return CURL_READFUNC_ABORT;
    }
    n = c->len - c->pos;
    if (n > room)
        n = room;
    memcpy(buf, c->msg + c->pos, n);
    c->pos += n;
    return n;
}

void smtp_client_close(struct smtp_client *c)
{
    if (c == NULL)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl); /* QUIT on the cached connection */
    free(c->username);
    free(c);
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        CURLcode e_ = curl_easy_setopt(c->curl, opt, val);                                         \
        if (e_ != CURLE_OK)                                                                        \
            CM_FAIL(CM_ERR_UNSUPPORTED, "libcurl: %s: %s", #opt, curl_easy_strerror(e_));          \
    } while (0)

/* The connection settings smtp_client_open derives from the options. */
struct open_plan {
    const curl_version_info_data *vi;
    int port;
    long timeout, connect; /* ms */
    const char *mech;      /* CURLOPT_LOGIN_OPTIONS, NULL: no AUTH */
};

/* The SASL mechanism for o->auth, refused when libcurl lacks it. */
static cm_err auth_mech(struct open_plan *pl, const struct smtp_opts *o)
{
    cm_err rc = CM_OK;
    switch (o->auth) {
    case SMTP_AUTH_NONE:
        break;
    case SMTP_AUTH_BASIC:
        pl->mech = "AUTH=LOGIN;AUTH=PLAIN";
        break;
    case SMTP_AUTH_PLAIN:
        pl->mech = "AUTH=PLAIN";
        break;
    case SMTP_AUTH_LOGIN:
        pl->mech = "AUTH=LOGIN";
        break;
    case SMTP_AUTH_NTLM:
        pl->mech = "AUTH=NTLM";
        if (!(pl->vi->features & CURL_VERSION_NTLM))
            CM_FAIL(CM_ERR_UNSUPPORTED, "SMTP auth ntlm: libcurl %s is built without NTLM",
                    pl->vi->version);
        break;
    case SMTP_AUTH_GSSAPI:
        pl->mech = "AUTH=GSSAPI";
        if (!(pl->vi->features & CURL_VERSION_GSSAPI))
            CM_FAIL(CM_ERR_UNSUPPORTED, "SMTP auth gssapi: libcurl %s is built without GSS-API",
                    pl->vi->version);
        break;
    }
    if (o->auth == SMTP_AUTH_NONE)
        goto out;
    if (o->username == NULL || o->username[0] == '\0')
        CM_FAIL(CM_ERR_CONFIG, "SMTP auth %s: no username configured", smtp_auth_name(o->auth));
    if (strpbrk(o->username, "\r\n") != NULL || strlen(o->username) > 256)
        CM_FAIL(CM_ERR_CONFIG, "SMTP username: line break or too long");
    if (o->auth != SMTP_AUTH_GSSAPI) {
        if (o->tls == SMTP_TLS_NONE)
            CM_FAIL(CM_ERR_CONFIG,
                    "SMTP auth %s without TLS would send the password in clear; "
                    "use tls starttls or tls",
                    smtp_auth_name(o->auth));
        if (o->password_file == NULL)
            CM_FAIL(CM_ERR_CONFIG, "SMTP auth %s: no password file configured",
                    smtp_auth_name(o->auth));
    }
out:
    return rc;
}

/* Checks the options (configuration errors before anything else) and what
 * this libcurl supports; fills *pl. */
static cm_err open_plan(struct open_plan *pl, const struct smtp_opts *o)
{
    int has_smtp = 0, has_smtps = 0;
    cm_err rc = CM_OK;

    memset(pl, 0, sizeof(*pl));
    pl->port = o->port;
    pl->timeout = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    pl->connect = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
    CM_TRY(dl_curl_load("SMTP exit"));
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        CM_FAIL(CM_ERR_UNSUPPORTED, "libcurl: %s", curl_easy_strerror(curl_init_rc));
    pl->vi = curl_version_info(CURLVERSION_NOW);
    for (const char *const *p = pl->vi->protocols; p && *p; p++) {
        has_smtp |= strcmp(*p, "smtp") == 0;
        has_smtps |= strcmp(*p, "smtps") == 0;
    }
    if (o->server == NULL)
        CM_FAIL(CM_ERR_CONFIG, "SMTP: no server configured");
    CM_TRY(check_host(o->server));
    if ((unsigned)o->tls > SMTP_TLS_IMPLICIT || (unsigned)o->auth > SMTP_AUTH_GSSAPI)
        CM_FAIL(CM_ERR_CONFIG, "SMTP: bad TLS or auth mode");
    if (pl->port == 0)
        pl->port = o->tls == SMTP_TLS_IMPLICIT ? 465 : 25;
    if (pl->port < 1 || pl->port > 65535)
        CM_FAIL(CM_ERR_CONFIG, "SMTP port %d: not 1..65535", pl->port);
    if (pl->timeout < 1 || pl->timeout > 3600000L || pl->connect < 1)
        CM_FAIL(CM_ERR_CONFIG, "SMTP timeout %ld ms: not 1..3600000", pl->timeout);
    if (pl->connect > pl->timeout)
        pl->connect = pl->timeout;
    if (o->helo)
        CM_TRY(check_helo(o->helo));
    if (!has_smtp || (o->tls == SMTP_TLS_IMPLICIT && !has_smtps) ||
        (o->tls != SMTP_TLS_NONE && !(pl->vi->features & CURL_VERSION_SSL)))
        CM_FAIL(CM_ERR_UNSUPPORTED, "SMTP with TLS mode %s: not supported by libcurl %s",
                smtp_tls_name(o->tls), pl->vi->version);
    CM_TRY(auth_mech(pl, o));
out:
    return rc;
}

/* Sets the transfer options of c's handle: URL, callbacks, deadlines, TLS
 * and AUTH. */
static cm_err client_setopts(struct smtp_client *c, const struct smtp_opts *o,
                             const struct open_plan *pl, const char *password)
{
    cm_buf url = CM_BUF_INIT(1024);
    cm_err rc = CM_OK;

    /* The URL's path is the EHLO name (libcurl's SMTP URL syntax). */
    CM_TRY(buf_printf(&url, "%s://%s/%s", o->tls == SMTP_TLS_IMPLICIT ? "smtps" : "smtp", c->server,
                      o->helo ? o->helo : ""));
    SETOPT(CURLOPT_URL, buf_str(&url));
    SETOPT(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(CURLOPT_VERBOSE, 1L); /* feeds on_debug, never stderr */
    SETOPT(CURLOPT_DEBUGFUNCTION, on_debug);
    SETOPT(CURLOPT_DEBUGDATA, c);
    SETOPT(CURLOPT_READFUNCTION, on_read);
    SETOPT(CURLOPT_READDATA, c);
    SETOPT(CURLOPT_UPLOAD, 1L);
    /* Time limits: connect, the whole message, and a stalled connection
     * (a server that accepts and never answers). */
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, pl->connect);
    SETOPT(CURLOPT_TIMEOUT_MS, pl->timeout);
    SETOPT(CURLOPT_SERVER_RESPONSE_TIMEOUT, (pl->timeout + 999) / 1000);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(CURLOPT_LOW_SPEED_TIME, (pl->timeout + 999) / 1000);
    if (o->tls != SMTP_TLS_NONE) {
        SETOPT(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
        SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        if (o->cafile) {
            if (!fs_exists(o->cafile))
                CM_FAIL(CM_ERR_NOTFOUND, "SMTP CA file %s: no such file", o->cafile);
            SETOPT(CURLOPT_CAINFO, o->cafile);
        }
    }
    if (pl->mech) {
        SETOPT(CURLOPT_USERNAME, o->username);
        if (password)
            SETOPT(CURLOPT_PASSWORD, password);
        SETOPT(CURLOPT_LOGIN_OPTIONS, pl->mech);
        /* RFC 4954 4: the initial response saves a round trip. */
        SETOPT(CURLOPT_SASL_IR, 1L);
    }
out:
    buf_free(&url);
    return rc;
}

cm_err smtp_client_open(struct smtp_client **out, const struct smtp_opts *o)
{
    struct smtp_client *c = NULL;
    struct open_plan pl;
    char *password = NULL;
    cm_err rc = CM_OK;

    *out = NULL;
    CM_TRY(open_plan(&pl, o));
    if (o->password_file && o->auth != SMTP_AUTH_NONE)
        CM_TRY(read_password(&password, o->password_file));
    c = calloc(1, sizeof(*c));
    CM_NOMEM_IF(c == NULL);
    snprintf(c->server, sizeof(c->server), "%s%s%s:%d", strchr(o->server, ':') ? "[" : "",
             o->server, strchr(o->server, ':') ? "]" : "", pl.port);
    c->need_auth = o->auth != SMTP_AUTH_NONE;
    c->auth = o->auth;
    if (o->username) {
        c->username = text_dup(o->username);
        CM_NOMEM_IF(c->username == NULL);
    }
    c->curl = curl_easy_init();
    CM_NOMEM_IF(c->curl == NULL);
    CM_TRY(client_setopts(c, o, &pl, password));
    *out = c;
    c = NULL;
out:
    if (password) {
        OPENSSL_cleanse(password, strlen(password));
        free(password);
    }
    smtp_client_close(c);
    return rc;
}

/* Maps a failed transfer to a cm_err with a message naming the server and
 * quoting its reply. */
static cm_err map_error(struct smtp_client *c, CURLcode res, long code, int *permanent)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(res);
    const char *reply = c->refusal[0] ? c->refusal : c->reply[0] ? c->reply : "(no reply)";

    /* The refusal line is authoritative: libcurl's response code may be
     * that of a later command. */
    if (c->refusal[0] >= '4' && c->refusal[0] <= '5' && c->refusal[1] >= '0' &&
        c->refusal[1] <= '9' && c->refusal[2] >= '0' && c->refusal[2] <= '9')
        code = (c->refusal[0] - '0') * 100 + (c->refusal[1] - '0') * 10 + (c->refusal[2] - '0');
    *permanent = code >= 500 && code < 600;
    if (c->auth_missing) {
        *permanent = 1;
        return cm_err_set(CM_ERR_AUTH,
                          "SMTP server %s: session not authenticated as '%s' (%s); message not "
                          "sent",
                          c->server, c->username ? c->username : "",
                          c->offered[0] ? "AUTH was offered" : "the server offers no AUTH");
    }
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        *permanent = 0;
        return cm_err_set(CM_ERR_TIMEOUT, "SMTP server %s: no answer in time: %s (last reply: %s)",
                          c->server, why, reply);
    case CURLE_LOGIN_DENIED:
        *permanent = !(code >= 400 && code < 500);
        if (code < 400)
            /* Refused before asking: no offered mechanism is allowed. */
            return cm_err_set(
                CM_ERR_AUTH, "SMTP server %s offers no mechanism for auth %s (it offers: %s)",
                c->server, smtp_auth_name(c->auth), c->offered[0] ? c->offered : "no AUTH at all");
        return cm_err_set(CM_ERR_AUTH, "SMTP server %s refused authentication as '%s': %s",
                          c->server, c->username ? c->username : "", reply);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        *permanent = 0;
        return cm_err_set(CM_ERR_NET, "SMTP server %s: cannot connect: %s", c->server, why);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        *permanent = 1;
        return cm_err_set(CM_ERR_CRYPTO, "SMTP server %s: TLS certificate not accepted: %s",
                          c->server, why);
    case CURLE_USE_SSL_FAILED:
        *permanent = 1;
        return cm_err_set(CM_ERR_NET, "SMTP server %s does not offer STARTTLS: %s", c->server,
                          reply);
    default:
        break;
    }
    if (code >= 400 && code < 600)
        return cm_err_set(CM_ERR_NET, "SMTP server %s refused (%s): %s", c->server,
                          *permanent ? "permanent" : "temporary", reply);
    return cm_err_set(CM_ERR_NET, "SMTP server %s: %s (last reply: %s)", c->server, why, reply);
}

/* Runs the transaction libcurl was set up for, sending msg; *res and *code:
 * libcurl's result and the last SMTP reply code. Fails only when libcurl
 * refuses an option. */
static cm_err send_perform(CURLcode *res, long *code, struct smtp_client *c,
                           const unsigned char *msg, size_t len)
{
    long nconn = 0;
    cm_err rc = CM_OK;

    for (int attempt = 0;; attempt++) {
        c->msg = msg;
        c->len = len;
        c->pos = 0;
        c->reply[0] = '\0';
        c->refusal[0] = '\0';
        c->errbuf[0] = '\0';
        c->auth_missing = 0;
        *res = curl_easy_perform(c->curl);
        *code = 0;
        nconn = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, code);
        curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &nconn);
        c->connects += nconn;
        /* A reused connection that the server had closed fails before any
         * reply: try once more on a new one. Nothing was accepted then, so
         * this cannot duplicate a message. */
        if (attempt == 0 && nconn == 0 && *code == 0 &&
            (*res == CURLE_SEND_ERROR || *res == CURLE_RECV_ERROR || *res == CURLE_GOT_NOTHING)) {
            SETOPT(CURLOPT_FRESH_CONNECT, 1L);
            continue;
        }
        break;
    }
    SETOPT(CURLOPT_FRESH_CONNECT, 0L);
out:
    return rc;
}

cm_err smtp_client_send(struct smtp_client *c, const char *from, const char *const *rcpts,
                        size_t nrcpt, const unsigned char *msg, size_t len, int *permanent)
{
    struct curl_slist *list = NULL, *n;
    cm_buf addr = CM_BUF_INIT(300);
    int perm = 0;
    CURLcode res = CURLE_OK;
    long code = 0;
    cm_err rc = CM_OK;

    if (permanent)
        *permanent = 0;
    c->content_refused = 0;
    if (nrcpt == 0) {
        perm = 1;
        CM_FAIL(CM_ERR_INVALID, "SMTP: no recipient");
    }
    /* The addresses go into SMTP commands: checked, so that no CR/LF or
     * '>' can add a command (RFC 5321 4.1.2 Path). */
    if ((rc = mime_check_addr(from)) != CM_OK) {
        perm = 1;
        goto out;
    }
    for (size_t i = 0; i < nrcpt; i++) {
        if ((rc = mime_check_addr(rcpts[i])) != CM_OK) {
            perm = 1;
            goto out;
        }
        buf_reset(&addr);
        CM_TRY(buf_printf(&addr, "<%s>", rcpts[i]));
        n = curl_slist_append(list, buf_str(&addr));
        CM_NOMEM_IF(n == NULL);
        list = n;
    }
    buf_reset(&addr);
    CM_TRY(buf_printf(&addr, "<%s>", from));
    SETOPT(CURLOPT_MAIL_FROM, buf_str(&addr));
    SETOPT(CURLOPT_MAIL_RCPT, list);
    SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);

    CM_TRY(send_perform(&res, &code, c, msg, len));
    if (res != CURLE_OK) {
        rc = map_error(c, res, code, &perm);
        /* The whole message was read before the refusal: the server refused
         * this message's content (RFC 5321 4.2.5: the reply to the end of
         * DATA), not the session, the sender or the recipients. */
        c->content_refused = rc == CM_ERR_NET && perm && c->len > 0 && c->pos >= c->len;
    }
out:
    if (c->curl) {
        /* The list is freed below: libcurl must not keep a pointer to it. */
        curl_easy_setopt(c->curl, CURLOPT_MAIL_RCPT, NULL);
    }
    c->msg = NULL;
    curl_slist_free_all(list);
    buf_free(&addr);
    if (permanent)
        *permanent = perm;
    return rc;
}

int smtp_client_content_refused(const struct smtp_client *c)
{
    return c->content_refused;
}

const char *smtp_client_last_reply(const struct smtp_client *c)
{
    return c->reply;
}

long smtp_client_connects(const struct smtp_client *c)
{
    return c->connects;
}
