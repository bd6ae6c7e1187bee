/* certmint serve: the key process and the privilege drop (serve_proc.h). */
#include "cli/serve_proc.h"

#include "key/keyproc.h"
#include "ocsp/ocsp.h"
#include "util/fsutil.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_exited;

static void on_chld(int sig)
{
    (void)sig;
    child_exited = 1;
}

int serve_keyproc_wanted(const ca_ctx *ca)
{
    const cm_config *cfg = ca_config(ca);
    return (config_get(cfg, "http.listen") != NULL || config_get(cfg, "https.listen") != NULL) &&
           config_get_bool(cfg, "serve.key_process");
}

/* Connections to the key process: as many signers as the server runs at
 * once, about two per core (a signer that finds all of them out waits). */
static size_t keyproc_connections(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN) * 2;
    if (n < 4)
        n = 4;
    return n > KEYPROC_MAX_CONN ? KEYPROC_MAX_CONN : (size_t)n;
}

/* Closes every descriptor but 0-2 and the n in keep (ascending). */
static void close_others(const int *keep, size_t n)
{
    unsigned lo = 3;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)keep[i] > lo)
            close_range(lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    close_range(lo, ~0u, 0);
}

/* The key process: never returns. It keeps no descriptor of the server's
 * (database, listeners), ignores the signals meant for the server (it
 * stops when the server closes its connections, or dies with it), cannot
 * be traced or dumped by the server's user, and holds the only copy of
 * the key. */
/* The key process opens the key-transport key itself when the server
 * first archives a key (and again after a renewal). */
static cm_err transport_open(cm_key **out, void *arg)
{
    return ca_kra_transport_key(out, arg);
}

static void keyproc_child(ca_ctx *ca, X509 *issuer, const int *server, size_t n, pid_t parent)
{
    cm_key *k = NULL;
    char what[512], aux[PATH_MAX];
    struct keyproc_transport tr = {transport_open, ca};

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    close_others(server, n);
    prctl(PR_SET_DUMPABLE, 0);
    if (ca_open_key(&k, ca) != CM_OK) {
        log_error("key process: %s", cm_err_msg());
        _exit(1);
    }
    key_describe(k, what, sizeof(what));
    log_info("key process %ld holds the CA key (%s); %zu connection(s)", (long)getpid(), what, n);
    /* The delegated OCSP responder's key is kept here too. */
    if (fs_join(aux, sizeof(aux), ca_home(ca), OCSP_KEY_FILE) != CM_OK) {
        log_error("key process: %s", cm_err_msg());
        _exit(1);
    }
    keyproc_run(server, n, k, issuer, aux, &tr);
    key_close(k);
    _exit(0);
}

static cm_err ca_issuer(X509 **out, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    char *pem = NULL;
    BIO *b = NULL;

    CM_TRY(ca_cert_pem(&pem, ca, 0));
    if ((b = BIO_new_mem_buf(pem, -1)) == NULL ||
        (*out = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
        CM_FAIL_OSSL(CM_ERR_CRYPTO, "key process: the CA certificate does not load");
out:
    BIO_free(b);
    free(pem);
    return rc;
}

cm_err serve_keyproc_start(struct serve_keyproc *kp, ca_ctx *ca)
{
    cm_err rc = CM_OK;
    int client[KEYPROC_MAX_CONN], server[KEYPROC_MAX_CONN];
    size_t n = keyproc_connections();
    char ref[KEYPROC_REF_MAX];
    cm_key *k = NULL;
    X509 *issuer = NULL;
    struct sigaction sa;
    pid_t parent = getpid();

    kp->pid = 0;
    CM_TRY(ca_issuer(&issuer, ca));
    CM_TRY(keyproc_sockets(client, server, n));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_chld;
    /* SA_RESTART: other children (exit modules) interrupt no system call;
     * the serve loop's nanosleep still ends early (it is never restarted). */
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    fflush(stderr);
    kp->pid = fork();
    if (kp->pid == 0)
        keyproc_child(ca, issuer, server, n, parent);
    for (size_t i = 0; i < n; i++)
        close(server[i]);
    if (kp->pid < 0) {
        kp->pid = 0;
        for (size_t i = 0; i < n; i++)
            close(client[i]);
        CM_FAIL(CM_ERR_IO, "key process: fork: %s", strerror(errno));
    }
    if ((rc = keyproc_ref(ref, sizeof(ref), client, n)) != CM_OK ||
        (rc = key_open(&k, ref, NULL)) != CM_OK) {
        for (size_t i = 0; i < n; i++)
            close(client[i]);
        serve_keyproc_reap(kp);
        goto out;
    }
    CM_TRY(ca_use_key(ca, k)); /* k is the handle's now; closing it ends the process */
    log_info("CA key in the key process %ld; this process never loads it", (long)kp->pid);
out:
    X509_free(issuer);
    return rc;
}

int serve_keyproc_died(struct serve_keyproc *kp)
{
    int st = 0;
    if (kp->pid <= 0 || !child_exited)
        return 0;
    child_exited = 0;
    if (waitpid(kp->pid, &st, WNOHANG) != kp->pid)
        return 0;
    if (WIFSIGNALED(st))
        log_error("the key process %ld was killed by signal %d: nothing can be signed; stopping",
                  (long)kp->pid, WTERMSIG(st));
    else
        log_error("the key process %ld exited with status %d: nothing can be signed; stopping",
                  (long)kp->pid, WEXITSTATUS(st));
    kp->pid = -1;
    return 1;
}

void serve_keyproc_reap(struct serve_keyproc *kp)
{
    if (kp->pid > 0)
        while (waitpid(kp->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    kp->pid = 0;
}

/* Threads of this process (/proc/self/task), 0 when /proc cannot say. */
static long thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long n = 0;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Sets the user's groups, gid and uid, all three of each (real,
 * effective, saved), then checks that neither can be taken back. The
 * process must have one thread: the kernel changes the credentials of the
 * calling thread only (glibc then signals the others to follow), so serve
 * drops before any thread starts, and says so if one did. */
static cm_err switch_to(const struct passwd *pw)
{
    gid_t g = pw->pw_gid;
    long nt = thread_count();
    if (nt > 1)
        return cm_err_set(CM_ERR_STATE,
                          "serve.user %s: %ld threads already run; privileges are dropped "
                          "before any thread starts",
                          pw->pw_name, nt);
    if (setgroups(1, &g) != 0 || setresgid(g, g, g) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
        return cm_err_set(CM_ERR_STATE, "serve.user %s: cannot switch to it: %s", pw->pw_name,
                          strerror(errno));
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || geteuid() != pw->pw_uid ||
        getegid() != g)
        return cm_err_set(CM_ERR_STATE, "serve.user %s: root privileges could be regained",
                          pw->pw_name);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return cm_err_set(CM_ERR_STATE, "no_new_privs: %s", strerror(errno));
    return CM_OK;
}

cm_err serve_drop_privileges(const ca_ctx *ca)
{
    const cm_config *cfg = ca_config(ca);
    const char *user = config_get(cfg, "serve.user");
    struct passwd pw, *res = NULL;
    char buf[4096];
    cm_err rc;

    if (geteuid() != 0 || user == NULL || strcmp(user, "root") == 0)
        return CM_OK;
    if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
        /* The default user may not exist on a test or development host:
         * said loudly; a user named in the configuration must exist. */
        if (config_is_set(cfg, "serve.user"))
            return cm_err_set(CM_ERR_CONFIG, "serve.user %s: no such user", user);
        log_warn("running as root: there is no user '%s' to drop privileges to (create it, or "
                 "set serve.user)",
                 user);
        return CM_OK;
    }
    if (pw.pw_uid == 0)
        return CM_OK;
    if ((rc = switch_to(&pw)) != CM_OK)
        return rc;
    log_info("privileges dropped to %s (uid %ld, gid %ld) before any thread started", user,
             (long)pw.pw_uid, (long)pw.pw_gid);
    return CM_OK;
}
