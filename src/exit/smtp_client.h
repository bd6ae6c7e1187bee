/* SMTP submission with libcurl, for the SMTP exit module.
 *
 * One struct smtp_client holds one libcurl easy handle, so consecutive
 * smtp_client_send() calls reuse the server connection (and its TLS session
 * and AUTH): an exit module opens a client, sends a burst of events, and
 * closes it (or keeps it; libcurl reconnects when the server has dropped an
 * idle connection).
 *
 * Security: the password is read from a file (never a command line), given
 * to libcurl only, and never logged: error messages carry the server's reply
 * line, never what was sent. STARTTLS and implicit TLS verify the server's
 * certificate and host name against cafile (or the system store). PLAIN,
 * LOGIN and NTLM are refused without TLS, and a client configured to
 * authenticate refuses to send a message on a session where the server did
 * not let it authenticate (libcurl alone would silently send it
 * unauthenticated when the server does not offer AUTH).
 *
 * Ownership: smtp_client_open() returns a client freed with
 * smtp_client_close() (NULL-safe). The options' strings are copied. */
#ifndef CM_EXIT_SMTP_CLIENT_H
#define CM_EXIT_SMTP_CLIENT_H

#include "util/err.h"

#include <stddef.h>

enum smtp_tls {
    SMTP_TLS_NONE,     /* plain SMTP: no encryption, no AUTH with passwords */
    SMTP_TLS_STARTTLS, /* RFC 3207, required: fails if the server lacks it */
    SMTP_TLS_IMPLICIT, /* RFC 8314 3.3 "submissions"/smtps (port 465) */
};

enum smtp_auth {
    SMTP_AUTH_NONE,   /* anonymous (AD CS SMTPAuthenticate 0) */
    SMTP_AUTH_BASIC,  /* LOGIN or PLAIN, as the server offers (AD CS 1) */
    SMTP_AUTH_PLAIN,  /* RFC 4616 */
    SMTP_AUTH_LOGIN,  /* draft-murchison-sasl-login */
    SMTP_AUTH_NTLM,   /* AD CS 2; needs a libcurl built with NTLM */
    SMTP_AUTH_GSSAPI, /* Kerberos (RFC 4752), the process's credentials cache */
};

struct smtp_opts {
    const char *server; /* host name or IP address (required) */
    int port;           /* 0: 25, or 465 for SMTP_TLS_IMPLICIT */
    enum smtp_tls tls;
    enum smtp_auth auth;
    const char *username;      /* required for every auth but none */
    const char *password_file; /* first line = password; required for basic,
                                  plain, login, ntlm; not world-readable */
    const char *cafile;        /* PEM CA certificates; NULL = system store */
    long timeout_ms;           /* 0: 30000. Bounds one whole message:
                                  connect, TLS, AUTH, transfer, final reply */
    long connect_timeout_ms;   /* 0: min(10000, timeout_ms) */
    const char *helo;          /* EHLO name; NULL: the local host name */
};
#define SMTP_OPTS_INIT                                                                             \
    {                                                                                              \
        NULL, 0, SMTP_TLS_STARTTLS, SMTP_AUTH_NONE, NULL, NULL, NULL, 0, 0, NULL                   \
    }

/* "none", "starttls", "tls" (also "smtps", "implicit"). CM_ERR_CONFIG. */
cm_err smtp_tls_parse(enum smtp_tls *out, const char *s) CM_MUST_USE;
/* "none", "basic", "plain", "login", "ntlm", "gssapi", and AD CS's
 * SMTPAuthenticate values "0" (anonymous), "1" (basic), "2" (NTLM);
 * "anonymous" too. CM_ERR_CONFIG. */
cm_err smtp_auth_parse(enum smtp_auth *out, const char *s) CM_MUST_USE;
const char *smtp_tls_name(enum smtp_tls t);
const char *smtp_auth_name(enum smtp_auth a);

struct smtp_client;

/* Checks the options, reads the password file, prepares the connection
 * (nothing is sent until the first smtp_client_send). Errors:
 * CM_ERR_CONFIG (bad or inconsistent options, password file readable by
 * everyone), CM_ERR_IO / CM_ERR_NOTFOUND (password file),
 * CM_ERR_UNSUPPORTED (libcurl lacks SMTP, TLS, NTLM or GSSAPI). */
cm_err smtp_client_open(struct smtp_client **out, const struct smtp_opts *o) CM_MUST_USE;

/* Sends one message: MAIL FROM:<from>, RCPT TO:<rcpts[i]> for each, DATA
 * msg (CRLF lines; dot-stuffed by libcurl). Success means the server
 * answered 250 to the end of DATA: it has taken responsibility for the
 * message (RFC 5321 4.1.1.4). Addresses must pass mime_check_addr.
 * Errors, with *permanent (may be NULL) set to 1 when sending the same
 * message again cannot succeed without a change (5xx reply, certificate or
 * configuration problem) and 0 when a retry may succeed:
 *   CM_ERR_NET      connection refused, name not found, connection lost,
 *                   or a 4xx (temporary) / 5xx (permanent) reply
 *   CM_ERR_TIMEOUT  no answer within timeout_ms
 *   CM_ERR_AUTH     credentials refused, or AUTH not offered by the server
 *   CM_ERR_CRYPTO   the server's certificate failed verification
 *   CM_ERR_INVALID  a bad address
 * The message names the server and quotes its reply line. */
cm_err smtp_client_send(struct smtp_client *c, const char *from, const char *const *rcpts,
                        size_t nrcpt, const unsigned char *msg, size_t len,
                        int *permanent) CM_MUST_USE;

/* 1 when the last smtp_client_send failed with a permanent (5xx) reply
 * given after the whole message was transferred: the server refuses this
 * message's content, so sending other messages may still succeed. */
int smtp_client_content_refused(const struct smtp_client *c);

/* The server's last reply line (after a success: the 250 to DATA, which
 * usually names the server's queue ID), "" if none. Borrowed; valid until
 * the next send or close. */
const char *smtp_client_last_reply(const struct smtp_client *c);

/* How many connections the client has opened so far (a burst over one
 * reused connection counts 1). */
long smtp_client_connects(const struct smtp_client *c);

/* Closes the connection (QUIT) and frees the client. */
void smtp_client_close(struct smtp_client *c);

#endif
