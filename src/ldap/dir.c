/* The directory connection: bind, lookups and the modifications that publish
 * and unpublish certificates and CRLs (OpenLDAP's libldap, synchronous calls
 * with deadlines). */
#include "ldap/dir.h"

#include "util/fsutil.h"
#include "util/log.h"
#include "util/text.h"

#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

const char *dir_change_name(enum dir_change c)
{
    switch (c) {
    case DIR_UNCHANGED:
        return "unchanged";
    case DIR_ADDED:
        return "added";
    case DIR_REPLACED:
        return "replaced";
    case DIR_REMOVED:
        return "removed";
    case DIR_CREATED:
        return "created";
    }
    return "?";
}

size_t dir_values_count(struct berval *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

#ifdef CM_HAVE_LDAP
#include "util/dl_ldap.h"

/* Longest bind password file we read. */
#define PASSWORD_MAX 1024

struct dir {
    LDAP *ld;
    char *uri;
    char *base;
    char *ca_entry;
    char *cafile;         /* for messages */
    struct timeval op_tv; /* deadline of one operation */
    int op_ms, connect_ms;
    struct ldap_conncb cb; /* must live as long as ld */
    _Atomic int fd;        /* the connection's socket, -1 when none */
    int tls;               /* TLS in use (for the hint on handshake failures) */
    int opening;           /* inside dir_open (connect, TLS, bind) */
    int guard_fired;       /* the last guarded call ran past its deadline */
};

/* libldap writes with write(2): a server that closed the connection would
 * kill the process with SIGPIPE. Libraries must not change the process's
 * signal handling, so SIGPIPE is blocked in the calling thread during each
 * call and a SIGPIPE it raised is consumed (pending signals raised by
 * others are left alone). */
struct nopipe {
    sigset_t old;
    int was_pending;
};

static void nopipe_start(struct nopipe *p)
{
    sigset_t pipe_set, pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    p->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &p->old);
}

static void nopipe_stop(struct nopipe *p)
{
    sigset_t pipe_set, pending;
    struct timespec zero = {0, 0};

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    if (!p->was_pending && sigismember(&pending, SIGPIPE) == 1)
        (void)sigtimedwait(&pipe_set, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, &p->old, NULL);
}

/* A watchdog for one libldap call. libldap's own deadlines cover the TCP
 * connect (LDAP_OPT_NETWORK_TIMEOUT) and waiting for results
 * (LDAP_OPT_TIMEOUT), but not the TLS handshake: with the GnuTLS backend of
 * libldap 2.5 a server that accepts the connection and never answers makes
 * the handshake retry reads forever. At the deadline the watchdog shuts the
 * socket down, so whatever libldap is waiting on fails at once. */
struct guard {
    struct dir *d;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    int done;
    int fired;
    int running;
    struct nopipe np;
};

static void *guard_main(void *arg)
{
    struct guard *g = arg;

    pthread_mutex_lock(&g->mu);
    while (!g->done) {
        int e = pthread_cond_timedwait(&g->cv, &g->mu, &g->deadline);
        if (e != ETIMEDOUT || g->done)
            continue;
        int fd = g->d->fd;
        if (fd >= 0) {
            /* Shutting the read side wakes every read and poll with EOF;
             * the write side stays, so that no write (the unbind) fails
             * with EPIPE. */
            shutdown(fd, SHUT_RD);
            g->fired = 1;
            break;
        }
        /* Not connected yet (the connect has its own deadline): look
         * again shortly. */
        g->deadline.tv_nsec += 50 * 1000000L;
        if (g->deadline.tv_nsec >= 1000000000L) {
            g->deadline.tv_sec++;
            g->deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static cm_err guard_start(struct guard *g, struct dir *d, int ms)
{
    pthread_condattr_t ca;

    memset(g, 0, sizeof(*g));
    g->d = d;
    d->guard_fired = 0;
    nopipe_start(&g->np);
    clock_gettime(CLOCK_MONOTONIC, &g->deadline);
    g->deadline.tv_sec += ms / 1000;
    g->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (g->deadline.tv_nsec >= 1000000000L) {
        g->deadline.tv_sec++;
        g->deadline.tv_nsec -= 1000000000L;
    }
    if (pthread_condattr_init(&ca) != 0)
        goto nomem;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int e = pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (e != 0)
        goto nomem;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        pthread_cond_destroy(&g->cv);
        goto nomem;
    }
    /* The watchdog must not take SIGPIPE either: it inherits the mask
     * blocked above. */
    if (pthread_create(&g->th, NULL, guard_main, g) != 0) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        nopipe_stop(&g->np);
        return cm_err_set(CM_ERR_NOMEM, "cannot start a watchdog thread");
    }
    g->running = 1;
    return CM_OK;
nomem:
    nopipe_stop(&g->np);
    return cm_err_set(CM_ERR_NOMEM, "out of memory");
}

/* Stops the watchdog; records in d whether it fired. */
static void guard_stop(struct guard *g)
{
    if (!g->running)
        return;
    pthread_mutex_lock(&g->mu);
    g->done = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->th, NULL);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    g->running = 0;
    g->d->guard_fired = g->fired;
    nopipe_stop(&g->np);
}

/* The backstop of one operation: libldap's own LDAP_OPT_TIMEOUT normally
 * ends it first. */
#define OP_GUARD_MS(d) ((d)->op_ms + 1000)

/* libldap's connection callbacks: remember the socket for the watchdog. */
static int conn_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
                    struct ldap_conncb *ctx)
{
    struct dir *d = ctx->lc_arg;
    ber_socket_t fd = -1;
    (void)ld;
    (void)srv;
    (void)addr;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) == 1)
        d->fd = (int)fd;
    return 0;
}

static void conn_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
    struct dir *d = ctx->lc_arg;
    (void)ld;
    (void)sb;
    d->fd = -1;
}

const char *dir_uri(const struct dir *d)
{
    return d->uri;
}

const char *dir_ca_entry(const struct dir *d)
{
    return d->ca_entry;
}

/* Maps an LDAP result code to the project's codes (RFC 4511 4.1.9 and
 * libldap's negative API codes). */
static cm_err map_ldap_rc(int lrc)
{
    switch (lrc) {
    case LDAP_SUCCESS:
        return CM_OK;
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_UNAVAILABLE:
    case LDAP_BUSY:
    case LDAP_OTHER:
        return CM_ERR_NET;
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
        return CM_ERR_TIMEOUT;
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INAPPROPRIATE_AUTH:
    case LDAP_AUTH_METHOD_NOT_SUPPORTED:
    case LDAP_STRONG_AUTH_REQUIRED:
    case LDAP_CONFIDENTIALITY_REQUIRED:
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_AUTH_UNKNOWN:
    case LDAP_X_PROXY_AUTHZ_FAILURE:
        return CM_ERR_AUTH;
    case LDAP_NO_SUCH_OBJECT:
    case LDAP_NO_SUCH_ATTRIBUTE:
        return CM_ERR_NOTFOUND;
    case LDAP_TYPE_OR_VALUE_EXISTS:
    case LDAP_ALREADY_EXISTS:
        return CM_ERR_EXISTS;
    case LDAP_NO_MEMORY:
        return CM_ERR_NOMEM;
    case LDAP_OBJECT_CLASS_VIOLATION:
    case LDAP_CONSTRAINT_VIOLATION:
    case LDAP_INVALID_SYNTAX:
    case LDAP_UNDEFINED_TYPE:
    case LDAP_INAPPROPRIATE_MATCHING:
    case LDAP_INVALID_DN_SYNTAX:
    case LDAP_NAMING_VIOLATION:
    case LDAP_NOT_ALLOWED_ON_RDN:
    case LDAP_NOT_ALLOWED_ON_NONLEAF:
    case LDAP_NO_OBJECT_CLASS_MODS:
    case LDAP_FILTER_ERROR:
    case LDAP_PARAM_ERROR:
    case LDAP_ADMINLIMIT_EXCEEDED:
    case LDAP_SIZELIMIT_EXCEEDED:
    case LDAP_UNWILLING_TO_PERFORM:
        return CM_ERR_INVALID;
    default:
        return CM_ERR_NET;
    }
}

/* Records "URI: WHAT: LDAP error (server's diagnostic)" for result lrc and
 * returns the mapped code. The diagnostic is what tells an operator why
 * the server refused ("attribute 'userCertificate' not allowed"). */
static cm_err dir_fail(const struct dir *d, LDAP *ld, int lrc, const char *fmt, ...)
    CM_PRINTF(4, 5);
static cm_err dir_fail(const struct dir *d, LDAP *ld, int lrc, const char *fmt, ...)
{
    char what[512];
    char *diag = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (ld != NULL)
        (void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
    cm_err e = map_ldap_rc(lrc);
    if (e == CM_OK)
        e = CM_ERR_NET;
    if (d->guard_fired) {
        e = CM_ERR_TIMEOUT;
        cm_err_set(e, "%s: %s: no answer within %d ms (connection closed)", d->uri, what,
                   d->opening ? d->connect_ms + d->op_ms : d->op_ms);
    } else if (lrc == LDAP_TIMEOUT) {
        cm_err_set(e, "%s: %s: no answer within %d ms", d->uri, what, d->op_ms);
    } else if (d->opening && d->tls && (lrc == LDAP_SERVER_DOWN || lrc == LDAP_CONNECT_ERROR) &&
               diag != NULL && *diag != '\0') {
        /* libldap reports a failed certificate check only as a connect
         * error with a terse diagnostic: say what to look at. */
        cm_err_set(e,
                   "%s: %s: TLS handshake failed: %s; check that %s holds the CA of the "
                   "server's certificate and that the certificate names the host",
                   d->uri, what, diag, d->cafile ? d->cafile : "the system trust store");
    } else if (diag != NULL && *diag != '\0') {
        cm_err_set(e, "%s: %s: %s (%s)", d->uri, what, ldap_err2string(lrc), diag);
    } else {
        cm_err_set(e, "%s: %s: %s", d->uri, what, ldap_err2string(lrc));
    }
    ldap_memfree(diag);
    return e;
}

/* Reads the first line of the password file into a malloc'ed buffer the
 * caller wipes with OPENSSL_cleanse and frees. */
static cm_err password_read(char **out, size_t *len, const char *path)
{
    cm_err rc = CM_OK;
    unsigned char *data = NULL;
    size_t n = 0;

    *out = NULL;
    *len = 0;
    CM_TRY(fs_read_secret(&data, &n, path, PASSWORD_MAX, "LDAP bind password file"));
    size_t l = 0;
    while (l < n && data[l] != '\n' && data[l] != '\r')
        l++;
    if (l == 0)
        CM_FAIL(CM_ERR_CONFIG, "%s: empty bind password", path);
    if (memchr(data, '\0', l) != NULL)
        CM_FAIL(CM_ERR_CONFIG, "%s: bind password contains a NUL byte", path);
    /* Wipe what follows the first line too before handing the buffer out. */
    OPENSSL_cleanse(data + l, n - l);
    *out = (char *)data;
    *len = l;
    data = NULL;
out:
    if (data != NULL) {
        OPENSSL_cleanse(data, n);
        free(data);
    }
    return rc;
}

/* Records the failure of an LDAP call and leaves the function. */
#define DIR_FAIL(...)                                                                              \
    do {                                                                                           \
        rc = dir_fail(__VA_ARGS__);                                                                \
        goto out;                                                                                  \
    } while (0)

static cm_err set_opt(const struct dir *d, LDAP *ld, int opt, const void *val, const char *name)
{
    int lrc = ldap_set_option(ld, opt, val);
    if (lrc != LDAP_OPT_SUCCESS)
        return dir_fail(d, ld, lrc, "setting %s", name);
    return CM_OK;
}

static void timeval_from_ms(struct timeval *tv, int ms)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

static cm_err tls_setup(struct dir *d, const struct dir_opts *o)
{
    cm_err rc = CM_OK;
    int demand = LDAP_OPT_X_TLS_DEMAND;
    int min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    int is_server = 0;

    /* These options are per handle; LDAP_OPT_X_TLS_NEWCTX then builds this
     * handle's own TLS context from them (not the process-wide defaults). */
    if (o->cafile != NULL)
        CM_TRY(set_opt(d, d->ld, LDAP_OPT_X_TLS_CACERTFILE, o->cafile, "the TLS CA file"));
    if (o->certfile != NULL)
        CM_TRY(
            set_opt(d, d->ld, LDAP_OPT_X_TLS_CERTFILE, o->certfile, "the TLS client certificate"));
    if (o->keyfile != NULL) {
        CM_TRY(fs_check_secret(o->keyfile, "LDAP TLS client key file"));
        CM_TRY(set_opt(d, d->ld, LDAP_OPT_X_TLS_KEYFILE, o->keyfile, "the TLS client key"));
    }
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand, "TLS certificate checking"));
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min, "the TLS minimum version"));
    int lrc = ldap_set_option(d->ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
    if (lrc != LDAP_OPT_SUCCESS)
        CM_FAIL(CM_ERR_CONFIG, "%s: cannot set up TLS (CA file %s%s%s): %s", d->uri,
                o->cafile ? o->cafile : "(system)", o->certfile ? ", client certificate " : "",
                o->certfile ? o->certfile : "", ldap_err2string(lrc));
out:
    return rc;
}

static cm_err bind_simple(struct dir *d, const struct dir_opts *o)
{
    cm_err rc = CM_OK;
    char *pw = NULL;
    size_t pwlen = 0;

    if (o->password_file == NULL)
        CM_FAIL(CM_ERR_CONFIG, "%s: a bind DN is set but no password file (ldap.password_file)",
                d->uri);
    CM_TRY(password_read(&pw, &pwlen, o->password_file));
    struct berval cred = {pwlen, pw};
    int lrc = ldap_sasl_bind_s(d->ld, o->binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    if (lrc != LDAP_SUCCESS)
        rc = dir_fail(d, d->ld, lrc, "bind as %s", o->binddn);
out:
    if (pw != NULL) {
        OPENSSL_cleanse(pw, pwlen);
        free(pw);
    }
    return rc;
}

/* Binds (after TLS, when asked): the steps dir_open runs under one guard. */
static cm_err dir_connect(struct dir *d, const struct dir_opts *o, int scheme_tls, int scheme_ldapi)
{
    cm_err rc = CM_OK;
    int lrc;

    if (o->starttls && !scheme_tls && !scheme_ldapi) {
        /* RFC 4511 4.14: StartTLS before anything else is sent. */
        lrc = ldap_start_tls_s(d->ld, NULL, NULL);
        if (lrc != LDAP_SUCCESS)
            DIR_FAIL(d, d->ld, lrc, "StartTLS");
    }
    if (o->sasl_external) {
        /* RFC 4422 appendix A: the identity comes from the TLS client
         * certificate or the ldapi:// peer credentials. An empty initial
         * response means "no authorization identity": the bind completes
         * in one round. */
        struct berval empty = {0, ""};
        lrc = ldap_sasl_bind_s(d->ld, NULL, "EXTERNAL", &empty, NULL, NULL, NULL);
        if (lrc != LDAP_SUCCESS)
            DIR_FAIL(d, d->ld, lrc, "SASL EXTERNAL bind");
    } else if (o->binddn != NULL) {
        CM_TRY(bind_simple(d, o));
    } else {
        /* Anonymous: nothing is sent until the first operation, which is
         * when an unreachable server shows. Read the root DSE now so that
         * dir_open fails here like the bound cases do. */
        LDAPMessage *res = NULL;
        char *attrs[] = {"1.1", NULL};
        lrc = ldap_search_ext_s(d->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
                                &d->op_tv, 1, &res);
        ldap_msgfree(res);
        if (lrc != LDAP_SUCCESS)
            DIR_FAIL(d, d->ld, lrc, "connect");
    }
out:
    return rc;
}

cm_err dir_open(struct dir **out, const struct dir_opts *o)
{
    cm_err rc = CM_OK;
    struct dir *d = NULL;
    int version = LDAP_VERSION3;
    struct timeval net_tv;
    int scheme_tls, scheme_ldapi;
    struct guard g = {0};

    *out = NULL;
    CM_TRY(dir_check_uri(o->uri));
    scheme_tls = strncasecmp(o->uri, "ldaps:", 6) == 0;
    scheme_ldapi = strncasecmp(o->uri, "ldapi:", 6) == 0;
    /* RFC 4513 5.1.2: a simple bind sends the password as is; only over
     * TLS or a local socket. */
    if (o->binddn != NULL && !o->sasl_external && !scheme_tls && !scheme_ldapi && !o->starttls)
        return cm_err_set(CM_ERR_CONFIG,
                          "%s: refusing to send the bind password unencrypted: use ldaps://, "
                          "StartTLS (ldap.starttls) or ldapi://",
                          o->uri);
    if (o->binddn != NULL && o->sasl_external)
        return cm_err_set(CM_ERR_CONFIG,
                          "%s: give either a bind DN (simple bind) or SASL EXTERNAL, not both",
                          o->uri);
    d = calloc(1, sizeof(*d));
    CM_NOMEM_IF(d == NULL);
    d->fd = -1;
    d->uri = text_dup(o->uri);
    d->base = text_dup(o->base);
    d->ca_entry = text_dup(o->ca_entry);
    d->cafile = text_dup(o->cafile);
    CM_NOMEM_IF(d->uri == NULL || (o->base && d->base == NULL) ||
                (o->ca_entry && d->ca_entry == NULL) || (o->cafile && d->cafile == NULL));
    d->op_ms = o->timeout_ms > 0 ? o->timeout_ms : DIR_TIMEOUT_MS_DEFAULT;
    d->connect_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DIR_CONNECT_TIMEOUT_MS_DEFAULT;
    timeval_from_ms(&d->op_tv, d->op_ms);
    timeval_from_ms(&net_tv, d->connect_ms);

    int lrc = ldap_initialize(&d->ld, o->uri);
    if (lrc != LDAP_SUCCESS)
        CM_FAIL(CM_ERR_CONFIG, "%s: %s", o->uri, ldap_err2string(lrc));
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version 3"));
    /* Connect deadline, and the deadline of every synchronous operation:
     * a hanging server must not hang the CA. */
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_NETWORK_TIMEOUT, &net_tv, "the connect timeout"));
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_TIMEOUT, &d->op_tv, "the operation timeout"));
    /* Referrals would take the bind elsewhere: never chase them. */
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals off"));
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_RESTART, LDAP_OPT_ON, "restart on EINTR"));
    d->cb.lc_add = conn_add;
    d->cb.lc_del = conn_del;
    d->cb.lc_arg = d;
    CM_TRY(set_opt(d, d->ld, LDAP_OPT_CONNECT_CB, &d->cb, "the connection callback"));
    d->tls = scheme_tls || (o->starttls && !scheme_ldapi);
    if (d->tls || o->certfile)
        CM_TRY(tls_setup(d, o));

    /* Connect, TLS handshake and bind each have a deadline; the guard is
     * the backstop for the handshake, which has none that works. */
    d->opening = 1;
    CM_TRY(guard_start(&g, d, d->connect_ms + d->op_ms));
    rc = dir_connect(d, o, scheme_tls, scheme_ldapi);
    guard_stop(&g);
    if (rc != CM_OK && d->guard_fired)
        rc = cm_err_set(CM_ERR_TIMEOUT, "%s: no answer within %d ms (connect, TLS and bind)",
                        d->uri, d->connect_ms + d->op_ms);
    d->opening = 0;
    if (rc != CM_OK)
        goto out;
    *out = d;
    d = NULL;
out:
    dir_close(d);
    return rc;
}

void dir_close(struct dir *d)
{
    if (d == NULL)
        return;
    if (d->ld != NULL) {
        struct nopipe np;
        nopipe_start(&np);
        ldap_unbind_ext_s(d->ld, NULL, NULL);
        nopipe_stop(&np);
    }
    free(d->uri);
    free(d->base);
    free(d->ca_entry);
    free(d->cafile);
    free(d);
}

void dir_values_free(struct berval **v)
{
    if (v != NULL)
        ldap_value_free_len(v);
}

/* Reads attributes attrs[0..n-1] of the entry dn (base search). vals[i]
 * gets each attribute's values (NULL when absent). *exists is 0 (and all
 * vals NULL) when the entry does not exist. */
static cm_err entry_read(int *exists, struct berval ***vals, struct dir *d, const char *dn,
                         const char *const *attrs, size_t n)
{
    cm_err rc = CM_OK;
    LDAPMessage *res = NULL;
    char *req[8];
    struct guard g;

    assert(n + 1 <= sizeof(req) / sizeof(req[0]));
    *exists = 0;
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        req[i] = (char *)attrs[i];
    }
    req[n] = NULL;
    CM_TRY(guard_start(&g, d, OP_GUARD_MS(d)));
    int lrc = ldap_search_ext_s(d->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", req, 0, NULL, NULL,
                                &d->op_tv, 1, &res);
    guard_stop(&g);
    if (lrc == LDAP_NO_SUCH_OBJECT)
        goto out;
    if (lrc != LDAP_SUCCESS)
        DIR_FAIL(d, d->ld, lrc, "read %s", dn);
    LDAPMessage *e = ldap_first_entry(d->ld, res);
    if (e == NULL)
        goto out;
    *exists = 1;
    for (size_t i = 0; i < n; i++)
        vals[i] = ldap_get_values_len(d->ld, e, attrs[i]);
out:
    ldap_msgfree(res);
    return rc;
}

cm_err dir_get_values(struct berval ***out, struct dir *d, const char *dn, const char *attr)
{
    int exists = 0;
    const char *attrs[] = {attr};
    cm_err rc = entry_read(&exists, out, d, dn, attrs, 1);
    if (rc == CM_OK && !exists)
        rc = cm_err_set(CM_ERR_NOTFOUND, "%s: no entry %s", d->uri, dn);
    return rc;
}

/* Searches under base; *dn_out gets the DN of the only entry, *count the
 * number found (DIR_FIND_MAX + 1 meaning "more than DIR_FIND_MAX"). */
static cm_err search_entries(char **dn_out, int *count, struct dir *d, const char *base, int scope,
                             const char *filter)
{
    cm_err rc = CM_OK;
    LDAPMessage *res = NULL;
    char *attrs[] = {"1.1", NULL}; /* RFC 4511 4.5.1.8: no attributes */
    struct guard g;

    *dn_out = NULL;
    *count = 0;
    CM_TRY(guard_start(&g, d, OP_GUARD_MS(d)));
    int lrc = ldap_search_ext_s(d->ld, base, scope, filter, attrs, 0, NULL, NULL, &d->op_tv,
                                DIR_FIND_MAX, &res);
    guard_stop(&g);
    if (lrc == LDAP_NO_SUCH_OBJECT)
        goto out;
    if (lrc == LDAP_SIZELIMIT_EXCEEDED) {
        *count = DIR_FIND_MAX + 1;
        goto out;
    }
    if (lrc != LDAP_SUCCESS)
        DIR_FAIL(d, d->ld, lrc, "search %s under %s", filter, base);
    *count = ldap_count_entries(d->ld, res);
    if (*count == 1) {
        char *dn = ldap_get_dn(d->ld, ldap_first_entry(d->ld, res));
        CM_NOMEM_IF(dn == NULL);
        *dn_out = text_dup(dn);
        ldap_memfree(dn);
        CM_NOMEM_IF(*dn_out == NULL);
    }
out:
    ldap_msgfree(res);
    return rc;
}

static void count_text(char *out, size_t outsz, int count)
{
    if (count > DIR_FIND_MAX)
        snprintf(out, outsz, "more than %d", DIR_FIND_MAX);
    else
        snprintf(out, outsz, "%d", count);
}

cm_err dir_find_for_cert(char **dn_out, enum dir_match *how, struct dir *d, X509 *cert)
{
    cm_err rc = CM_OK;
    char *email = NULL, *esc = NULL, *subject = NULL, *filter = NULL;
    int count = 0, under = 0;
    char cnt[32];

    *dn_out = NULL;
    if (d->base == NULL || *d->base == '\0')
        CM_FAIL(CM_ERR_CONFIG, "%s: no search base configured (ldap.base)", d->uri);
    CM_TRY(dir_cert_email(&email, cert));
    if (email != NULL) {
        size_t flen;
        CM_TRY(dir_filter_escape(&esc, email, strlen(email)));
        flen = strlen(esc) + sizeof("(mail=)");
        filter = malloc(flen);
        CM_NOMEM_IF(filter == NULL);
        snprintf(filter, flen, "(mail=%s)", esc);
        CM_TRY(search_entries(dn_out, &count, d, d->base, LDAP_SCOPE_SUBTREE, filter));
        if (count == 1) {
            if (how)
                *how = DIR_MATCH_MAIL;
            goto out;
        }
        if (count > 1) {
            count_text(cnt, sizeof(cnt), count);
            CM_FAIL(CM_ERR_INVALID, "%s: %s entries under %s have mail=%s: cannot tell which",
                    d->uri, cnt, d->base, email);
        }
    }
    CM_TRY(dir_name_to_dn(&subject, X509_get_subject_name(cert)));
    if (*subject == '\0') {
        if (email)
            CM_FAIL(CM_ERR_NOTFOUND,
                    "%s: no entry under %s has mail=%s (and the subject DN is empty)", d->uri,
                    d->base, email);
        CM_FAIL(CM_ERR_NOTFOUND,
                "%s: the certificate has neither an e-mail address nor a subject DN", d->uri);
    }
    rc = dir_dn_is_under(&under, subject, d->base);
    if (rc != CM_OK || !under) {
        if (email)
            CM_FAIL(CM_ERR_NOTFOUND,
                    "%s: no entry under %s has mail=%s, and the subject DN %s is not under it",
                    d->uri, d->base, email, subject);
        CM_FAIL(CM_ERR_NOTFOUND,
                "%s: the certificate has no e-mail address and its subject DN %s is not under %s",
                d->uri, subject, d->base);
    }
    /* The server compares the DN with its own matching rules (RFC 4517
     * distinguishedNameMatch): a base search is exactly "this DN exists". */
    CM_TRY(search_entries(dn_out, &count, d, subject, LDAP_SCOPE_BASE, "(objectClass=*)"));
    if (count != 1) {
        if (email)
            CM_FAIL(CM_ERR_NOTFOUND, "%s: no entry under %s has mail=%s or the DN %s", d->uri,
                    d->base, email, subject);
        CM_FAIL(CM_ERR_NOTFOUND,
                "%s: no entry has the DN %s (the certificate has no e-mail address)", d->uri,
                subject);
    }
    if (how)
        *how = DIR_MATCH_DN;
out:
    if (rc != CM_OK) {
        free(*dn_out);
        *dn_out = NULL;
    }
    free(email);
    free(esc);
    free(subject);
    free(filter);
    return rc;
}

/* Entries per page of dir_iter_values: small enough to keep one page's
 * certificates (a few KiB each) in modest memory, large enough that a
 * directory of 100 000 users takes a few hundred round trips. */
#define DIR_PAGE_SIZE 500

/* Tells the server to drop the state of an unfinished paged search (RFC
 * 2696 3: a request with size 0 and the last cookie). Best effort: the
 * connection is about to be used for something else or closed. */
static void page_abandon(struct dir *d, const char *base, const char *filter, char **attrs,
                         struct berval *cookie)
{
    LDAPControl *ctrl = NULL;
    LDAPMessage *res = NULL;
    struct guard g;

    if (ldap_create_page_control(d->ld, 0, cookie, 0, &ctrl) != LDAP_SUCCESS)
        return;
    LDAPControl *sctrls[] = {ctrl, NULL};
    if (guard_start(&g, d, OP_GUARD_MS(d)) == CM_OK) {
        (void)ldap_search_ext_s(d->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, sctrls, NULL,
                                &d->op_tv, LDAP_NO_LIMIT, &res);
        guard_stop(&g);
    }
    ldap_msgfree(res);
    ldap_control_free(ctrl);
}

/* One page of dir_iter_values: a subtree search under the base with the
 * paged-results control (RFC 2696) carrying the previous page's cookie.
 * entries: how many were listed before, for the message on a limit. */
static cm_err page_search(LDAPMessage **res, struct dir *d, const char *filter, const char *type,
                          char **attrs, struct berval *cookie, size_t entries)
{
    cm_err rc = CM_OK;
    LDAPControl *page = NULL;
    struct guard g;
    int lrc;

    if (ldap_create_page_control(d->ld, DIR_PAGE_SIZE, cookie->bv_val ? cookie : NULL, 0, &page) !=
        LDAP_SUCCESS)
        CM_FAIL(CM_ERR_NOMEM, "out of memory");
    LDAPControl *sctrls[] = {page, NULL};
    CM_TRY(guard_start(&g, d, OP_GUARD_MS(d)));
    lrc = ldap_search_ext_s(d->ld, d->base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, sctrls, NULL,
                            &d->op_tv, LDAP_NO_LIMIT, res);
    guard_stop(&g);
    if (lrc == LDAP_NO_SUCH_OBJECT)
        CM_FAIL(CM_ERR_NOTFOUND, "%s: the search base %s does not exist", d->uri, d->base);
    if (lrc == LDAP_SIZELIMIT_EXCEEDED || lrc == LDAP_ADMINLIMIT_EXCEEDED ||
        lrc == LDAP_TIMELIMIT_EXCEEDED)
        CM_FAIL(CM_ERR_INVALID,
                "%s: listing %s under %s: the server's %s limit stopped it after %zu entries; "
                "raise the limits of the bind DN for paged searches (OpenLDAP: limits "
                "dn.exact=\"BINDDN\" size.prtotal=unlimited time=unlimited)",
                d->uri, type, d->base, lrc == LDAP_TIMELIMIT_EXCEEDED ? "time" : "size",
                entries + (size_t)(*res ? ldap_count_entries(d->ld, *res) : 0));
    if (lrc != LDAP_SUCCESS)
        DIR_FAIL(d, d->ld, lrc, "list %s under %s", type, d->base);
out:
    ldap_control_free(page);
    return rc;
}

/* Hands every value of attr in the page's entries to cb; stops at, and
 * returns, cb's first error. */
static cm_err page_values(size_t *entries, struct dir *d, LDAPMessage *res, const char *attr,
                          dir_value_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    char *dn = NULL;
    struct berval **vals = NULL;

    for (LDAPMessage *e = ldap_first_entry(d->ld, res); e; e = ldap_next_entry(d->ld, e)) {
        (*entries)++;
        dn = ldap_get_dn(d->ld, e);
        CM_NOMEM_IF(dn == NULL);
        vals = ldap_get_values_len(d->ld, e, attr);
        for (size_t i = 0; vals && vals[i]; i++)
            if ((rc = cb(ctx, dn, vals[i])) != CM_OK)
                break;
        ldap_value_free_len(vals);
        vals = NULL;
        ldap_memfree(dn);
        dn = NULL;
        if (rc != CM_OK)
            break;
    }
out:
    ldap_memfree(dn);
    ldap_value_free_len(vals);
    return rc;
}

/* The cookie of the next page, from the page's result; *more: whether
 * there is one. rc is the page's result so far: when it is an error, it is
 * returned unchanged and nothing here is reported over it. */
static cm_err page_next(struct berval *cookie, int *more, struct dir *d, LDAPMessage *res,
                        const char *type, cm_err rc)
{
    LDAPControl **rctrls = NULL;
    int lrc, err = LDAP_SUCCESS;

    *more = 0;
    /* The result's controls carry the cookie of the next page; read
     * them even when cb stopped us, to tell the server to let go. */
    lrc = ldap_parse_result(d->ld, res, &err, NULL, NULL, NULL, &rctrls, 0);
    if (lrc != LDAP_SUCCESS && rc == CM_OK)
        DIR_FAIL(d, d->ld, lrc, "list %s under %s: reading the result", type, d->base);
    ber_memfree(cookie->bv_val);
    cookie->bv_val = NULL;
    cookie->bv_len = 0;
    /* No paged-results response control: the server does not page and
     * sent everything (the control was not critical). */
    LDAPControl *pc = rctrls ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL) : NULL;
    if (pc != NULL) {
        ber_int_t estimate = 0;
        if (ldap_parse_pageresponse_control(d->ld, pc, &estimate, cookie) != LDAP_SUCCESS) {
            if (rc == CM_OK)
                rc = cm_err_set(CM_ERR_NET, "%s: list %s under %s: bad paged-results answer",
                                d->uri, type, d->base);
            goto out;
        }
        *more = cookie->bv_val != NULL && cookie->bv_len > 0;
    }
out:
    ldap_controls_free(rctrls);
    return rc;
}

cm_err dir_iter_values(struct dir *d, const char *attr, dir_value_cb cb, void *ctx)
{
    cm_err rc = CM_OK;
    char filter[128], type[96];
    char *attrs[] = {(char *)attr, NULL};
    struct berval cookie = {0, NULL};
    LDAPMessage *res = NULL;
    size_t entries = 0;
    int more = 0;

    if (d->base == NULL || *d->base == '\0')
        CM_FAIL(CM_ERR_CONFIG, "%s: no search base configured (ldap.base)", d->uri);
    /* The presence filter names the attribute type without its options
     * ("userCertificate" for "userCertificate;binary", RFC 4512 2.5). */
    size_t tlen = strcspn(attr, ";");
    if (tlen == 0 || tlen >= sizeof(type))
        CM_FAIL(CM_ERR_INVALID, "'%s' is not an attribute description", attr);
    memcpy(type, attr, tlen);
    type[tlen] = '\0';
    snprintf(filter, sizeof(filter), "(%s=*)", type);
    do {
        CM_TRY(page_search(&res, d, filter, type, attrs, &cookie, entries));
        rc = page_values(&entries, d, res, attr, cb, ctx);
        rc = page_next(&cookie, &more, d, res, type, rc);
        ldap_msgfree(res);
        res = NULL;
        if (rc != CM_OK) {
            if (more)
                page_abandon(d, d->base, filter, attrs, &cookie);
            goto out;
        }
    } while (more);
out:
    ldap_msgfree(res);
    ber_memfree(cookie.bv_val);
    return rc;
}

static int value_is(const struct berval *v, const unsigned char *der, size_t len)
{
    return v->bv_len == len && memcmp(v->bv_val, der, len) == 0;
}

/* "serial 1A2B (CN=...)" of a DER certificate value, for messages. */
static void describe_cert(char *out, size_t outsz, const struct berval *v)
{
    const unsigned char *p = (const unsigned char *)v->bv_val;
    X509 *x = d2i_X509(NULL, &p, (long)v->bv_len);
    char serial[CM_SERIAL_BUF] = "?";
    char subj[160] = "";

    if (x == NULL) {
        snprintf(out, outsz, "an unparseable value of %lu bytes", (unsigned long)v->bv_len);
        ERR_clear_error();
        return;
    }
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    if (text_serial_from_bytes(serial, ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn)) !=
        CM_OK)
        snprintf(serial, sizeof(serial), "?");
    X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
    snprintf(out, outsz, "serial %s (%s)", serial, subj);
    X509_free(x);
}

static cm_err do_modify(struct dir *d, const char *dn, LDAPMod **mods, const char *what)
{
    struct guard g;
    cm_err rc = guard_start(&g, d, OP_GUARD_MS(d));
    if (rc != CM_OK)
        return rc;
    int lrc = ldap_modify_ext_s(d->ld, dn, mods, NULL, NULL);
    guard_stop(&g);
    if (lrc != LDAP_SUCCESS)
        return dir_fail(d, d->ld, lrc, "%s on %s", what, dn);
    return CM_OK;
}

cm_err dir_publish_cert(struct dir *d, const char *dn, const unsigned char *der, size_t len,
                        enum dir_mode mode, int dry_run, enum dir_change *what)
{
    cm_err rc = CM_OK;
    struct berval **vals = NULL, **others = NULL;
    size_t n, nothers = 0;
    int present = 0;

    *what = DIR_UNCHANGED;
    CM_TRY(dir_get_values(&vals, d, dn, DIR_ATTR_USER_CERT));
    n = dir_values_count(vals);
    others = calloc(n + 1, sizeof(*others));
    CM_NOMEM_IF(others == NULL);
    for (size_t i = 0; i < n; i++) {
        if (value_is(vals[i], der, len))
            present = 1;
        else
            others[nothers++] = vals[i];
    }
    if (present)
        goto out; /* publishing the same certificate again is a no-op */
    if (nothers > 0 && mode == DIR_REFUSE) {
        char desc[256];
        describe_cert(desc, sizeof(desc), others[0]);
        CM_FAIL(CM_ERR_EXISTS,
                "%s already holds %zu other certificate%s (%s%s): use --replace to swap or --add "
                "to keep both",
                dn, nothers, nothers == 1 ? "" : "s", desc, nothers > 1 ? ", ..." : "");
    }
    struct berval newv = {len, (char *)der};
    struct berval *newvals[] = {&newv, NULL};
    LDAPMod del = {LDAP_MOD_DELETE | LDAP_MOD_BVALUES, DIR_ATTR_USER_CERT, {.modv_bvals = others}};
    LDAPMod add = {LDAP_MOD_ADD | LDAP_MOD_BVALUES, DIR_ATTR_USER_CERT, {.modv_bvals = newvals}};
    LDAPMod *mods[3] = {NULL, NULL, NULL};
    if (nothers > 0 && mode == DIR_REPLACE) {
        /* Delete exactly the values we saw and add ours in one modify
         * (atomic, RFC 4511 4.6): if someone changed the entry meanwhile,
         * the delete fails and nothing changes. */
        mods[0] = &del;
        mods[1] = &add;
        *what = DIR_REPLACED;
    } else {
        mods[0] = &add;
        *what = DIR_ADDED;
    }
    if (!dry_run)
        CM_TRY(do_modify(d, dn, mods, "publish userCertificate"));
out:
    free(others);
    dir_values_free(vals);
    if (rc != CM_OK)
        *what = DIR_UNCHANGED;
    return rc;
}

cm_err dir_unpublish_cert(struct dir *d, const char *dn, const unsigned char *der, size_t len,
                          int dry_run, enum dir_change *what)
{
    cm_err rc = CM_OK;
    struct berval **vals = NULL;
    int present = 0;

    *what = DIR_UNCHANGED;
    CM_TRY(dir_get_values(&vals, d, dn, DIR_ATTR_USER_CERT));
    for (size_t i = 0; vals && vals[i]; i++)
        present |= value_is(vals[i], der, len);
    /* The server's certificateExactMatch (RFC 4523 2.5) compares issuer
     * and serial only: check the bytes here so that we never delete a
     * different certificate that happens to share them. */
    if (!present)
        CM_FAIL(CM_ERR_NOTFOUND, "%s does not hold this certificate (%zu other value%s)", dn,
                dir_values_count(vals), dir_values_count(vals) == 1 ? "" : "s");
    struct berval oldv = {len, (char *)der};
    struct berval *oldvals[] = {&oldv, NULL};
    LDAPMod del = {LDAP_MOD_DELETE | LDAP_MOD_BVALUES, DIR_ATTR_USER_CERT, {.modv_bvals = oldvals}};
    LDAPMod *mods[] = {&del, NULL};
    *what = DIR_REMOVED;
    if (!dry_run)
        CM_TRY(do_modify(d, dn, mods, "remove userCertificate"));
out:
    dir_values_free(vals);
    if (rc != CM_OK)
        *what = DIR_UNCHANGED;
    return rc;
}

static int has_class(struct berval *const *ocs, const char *const *names)
{
    for (size_t i = 0; ocs && ocs[i]; i++)
        for (size_t j = 0; names[j]; j++)
            if (ocs[i]->bv_len == strlen(names[j]) &&
                strncasecmp(ocs[i]->bv_val, names[j], ocs[i]->bv_len) == 0)
                return 1;
    return 0;
}

/* Creates the CA entry: applicationProcess (structural, MUST cn) with the
 * auxiliary pkiCA and deltaCRL classes (RFC 4523 3.3, 3.5) that allow the
 * CA certificate and both CRL attributes. */
static cm_err ca_entry_create(struct dir *d, const char *attr, const unsigned char *der, size_t len,
                              int dry_run)
{
    cm_err rc = CM_OK;
    LDAPDN dn = NULL;

    if (ldap_str2dn(d->ca_entry, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || dn == NULL ||
        dn[0] == NULL) {
        dn = NULL;
        CM_FAIL(CM_ERR_CONFIG, "ldap.ca_entry '%s' is not a valid DN", d->ca_entry);
    }
    LDAPAVA *ava = dn[0][0];
    if (dn[0][1] != NULL ||
        !((ava->la_attr.bv_len == 2 && strncasecmp(ava->la_attr.bv_val, "cn", 2) == 0) ||
          (ava->la_attr.bv_len == 7 && strncmp(ava->la_attr.bv_val, "2.5.4.3", 7) == 0)) ||
        (ava->la_flags & LDAP_AVA_BINARY))
        CM_FAIL(CM_ERR_CONFIG, "cannot create %s: its first RDN must be a single cn=...",
                d->ca_entry);
    if (dry_run)
        goto out;
    char *oc_vals[] = {"top", "applicationProcess", "pkiCA", "deltaCRL", NULL};
    struct berval cnv = ava->la_value;
    struct berval *cn_vals[] = {&cnv, NULL};
    struct berval v = {len, (char *)der};
    struct berval *vals[] = {&v, NULL};
    LDAPMod oc = {LDAP_MOD_ADD, "objectClass", {.modv_strvals = oc_vals}};
    LDAPMod cn = {LDAP_MOD_ADD | LDAP_MOD_BVALUES, "cn", {.modv_bvals = cn_vals}};
    LDAPMod val = {LDAP_MOD_ADD | LDAP_MOD_BVALUES, (char *)attr, {.modv_bvals = vals}};
    LDAPMod *mods[] = {&oc, &cn, &val, NULL};
    struct guard g;
    CM_TRY(guard_start(&g, d, OP_GUARD_MS(d)));
    int lrc = ldap_add_ext_s(d->ld, d->ca_entry, mods, NULL, NULL);
    guard_stop(&g);
    if (lrc != LDAP_SUCCESS)
        DIR_FAIL(d, d->ld, lrc, "create %s", d->ca_entry);
out:
    ldap_dnfree(dn);
    return rc;
}

cm_err dir_publish_ca(struct dir *d, enum dir_ca_attr which, const unsigned char *der, size_t len,
                      int create, int dry_run, enum dir_change *what)
{
    cm_err rc = CM_OK;
    struct berval **vals[2] = {NULL, NULL};
    int exists = 0, present = 0;
    const char *attr;
    static const char *const ca_classes[] = {"pkiCA", "certificationAuthority",
                                             "certificationAuthority-V2", NULL};
    static const char *const delta_classes[] = {"deltaCRL", "certificationAuthority-V2", NULL};
    const char *const *need;
    char *need_class;

    *what = DIR_UNCHANGED;
    switch (which) {
    case DIR_CA_CERT:
        attr = DIR_ATTR_CA_CERT;
        need = ca_classes;
        need_class = "pkiCA";
        break;
    case DIR_CA_CRL:
        attr = DIR_ATTR_CRL;
        need = ca_classes;
        need_class = "pkiCA";
        break;
    case DIR_CA_DELTA_CRL:
        attr = DIR_ATTR_DELTA_CRL;
        need = delta_classes;
        need_class = "deltaCRL";
        break;
    default:
        return cm_err_set(CM_ERR_INVALID, "unknown CA attribute %d", (int)which);
    }
    if (d->ca_entry == NULL || *d->ca_entry == '\0')
        return cm_err_set(CM_ERR_CONFIG, "%s: no CA entry configured (ldap.ca_entry)", d->uri);
    const char *attrs[] = {"objectClass", attr};
    CM_TRY(entry_read(&exists, vals, d, d->ca_entry, attrs, 2));
    if (!exists) {
        if (!create)
            CM_FAIL(CM_ERR_NOTFOUND, "%s: the CA entry %s does not exist (--create adds it)",
                    d->uri, d->ca_entry);
        CM_TRY(ca_entry_create(d, attr, der, len, dry_run));
        *what = DIR_CREATED;
        goto out;
    }
    size_t n = dir_values_count(vals[1]);
    for (size_t i = 0; i < n; i++)
        present |= value_is(vals[1][i], der, len);
    /* The CA certificate is added (earlier ones stay: certificates they
     * issued still need them); a CRL replaces the previous one. */
    if (present && (which == DIR_CA_CERT || n == 1))
        goto out;
    struct berval v = {len, (char *)der};
    struct berval *newvals[] = {&v, NULL};
    char *oc_vals[] = {need_class, NULL};
    LDAPMod oc = {LDAP_MOD_ADD, "objectClass", {.modv_strvals = oc_vals}};
    LDAPMod val = {(which == DIR_CA_CERT ? LDAP_MOD_ADD : LDAP_MOD_REPLACE) | LDAP_MOD_BVALUES,
                   (char *)attr,
                   {.modv_bvals = newvals}};
    LDAPMod *mods[3] = {NULL, NULL, NULL};
    size_t m = 0;
    /* An entry made by hand may lack the auxiliary class that allows the
     * attribute; adding it is part of publishing there. */
    if (!has_class(vals[0], need))
        mods[m++] = &oc;
    mods[m++] = &val;
    *what = (n == 0 || which == DIR_CA_CERT) ? DIR_ADDED : DIR_REPLACED;
    if (!dry_run)
        CM_TRY(do_modify(d, d->ca_entry, mods,
                         which == DIR_CA_CERT  ? "publish cACertificate"
                         : which == DIR_CA_CRL ? "publish certificateRevocationList"
                                               : "publish deltaRevocationList"));
out:
    dir_values_free(vals[0]);
    dir_values_free(vals[1]);
    if (rc != CM_OK)
        *what = DIR_UNCHANGED;
    return rc;
}

#else /* !CM_HAVE_LDAP */

static cm_err no_ldap(void)
{
    return cm_err_set(CM_ERR_UNSUPPORTED, "built without the OpenLDAP client library");
}

const char *dir_uri(const struct dir *d)
{
    (void)d;
    return "";
}

const char *dir_ca_entry(const struct dir *d)
{
    (void)d;
    return NULL;
}

cm_err dir_open(struct dir **out, const struct dir_opts *o)
{
    (void)o;
    *out = NULL;
    return no_ldap();
}

void dir_close(struct dir *d)
{
    (void)d;
}

void dir_values_free(struct berval **v)
{
    (void)v;
}

cm_err dir_find_for_cert(char **dn_out, enum dir_match *how, struct dir *d, X509 *cert)
{
    (void)how;
    (void)d;
    (void)cert;
    *dn_out = NULL;
    return no_ldap();
}

cm_err dir_get_values(struct berval ***out, struct dir *d, const char *dn, const char *attr)
{
    (void)d;
    (void)dn;
    (void)attr;
    *out = NULL;
    return no_ldap();
}

cm_err dir_iter_values(struct dir *d, const char *attr, dir_value_cb cb, void *ctx)
{
    (void)d, (void)attr, (void)cb, (void)ctx;
    return no_ldap();
}

cm_err dir_publish_cert(struct dir *d, const char *dn, const unsigned char *der, size_t len,
                        enum dir_mode mode, int dry_run, enum dir_change *what)
{
    (void)d, (void)dn, (void)der, (void)len, (void)mode, (void)dry_run;
    *what = DIR_UNCHANGED;
    return no_ldap();
}

cm_err dir_unpublish_cert(struct dir *d, const char *dn, const unsigned char *der, size_t len,
                          int dry_run, enum dir_change *what)
{
    (void)d, (void)dn, (void)der, (void)len, (void)dry_run;
    *what = DIR_UNCHANGED;
    return no_ldap();
}

cm_err dir_publish_ca(struct dir *d, enum dir_ca_attr which, const unsigned char *der, size_t len,
                      int create, int dry_run, enum dir_change *what)
{
    (void)d, (void)which, (void)der, (void)len, (void)create, (void)dry_run;
    *what = DIR_UNCHANGED;
    return no_ldap();
}

#endif
