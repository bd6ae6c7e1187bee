/* Commands the host side runs: the services' own checks and reloads, and
 * the deploy hooks. Never through a shell: a command is split on blanks
 * (no quoting) and started with posix_spawnp, its output collected for the
 * error message. (The CA core never starts processes; this is the host
 * side's job: only a service's own tools can check and reload it.) */
#include "host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define RUN_MAX_ARGS 64
#define RUN_OUT_MAX 4096

cm_err host_split(char ***argv, char **store, const char *cmd, const char *config)
{
    cm_err rc = CM_OK;
    char **av = calloc(RUN_MAX_ARGS + 1, sizeof(char *));
    cm_buf b = CM_BUF_INIT(64 * 1024);
    size_t offs[RUN_MAX_ARGS], n = 0;
    const char *p = cmd;

    *argv = NULL;
    *store = NULL;
    CM_NOMEM_IF(av == NULL);
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        const char *e = p;
        while (*e != '\0' && *e != ' ' && *e != '\t')
            e++;
        if (n == RUN_MAX_ARGS)
            CM_FAIL(CM_ERR_CONFIG, "command '%s': more than %d words", cmd, RUN_MAX_ARGS);
        offs[n++] = b.len;
        if (config != NULL && e - p == 8 && memcmp(p, "{config}", 8) == 0)
            CM_TRY(buf_append_str(&b, config));
        else
            CM_TRY(buf_append(&b, p, (size_t)(e - p)));
        CM_TRY(buf_append(&b, "", 1));
        p = e;
    }
    if (n == 0)
        CM_FAIL(CM_ERR_CONFIG, "empty command");
    for (size_t i = 0; i < n; i++)
        av[i] = (char *)b.data + offs[i];
    *store = (char *)buf_steal(&b, NULL);
    *argv = av;
    av = NULL;
out:
    free(av);
    buf_free(&b);
    return rc;
}

/* environ plus extra ("NAME=value" strings); *out malloc'ed, strings borrowed. */
static cm_err make_env(char ***out, const char *const *extra)
{
    size_t n = 0, m = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[m] != NULL)
        m++;
    env = calloc(n + m + 1, sizeof(char *));
    if (env == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    memcpy(env, environ, n * sizeof(char *));
    for (size_t i = 0; i < m; i++)
        env[n + i] = (char *)extra[i];
    *out = env;
    return CM_OK;
}

/* Reads the child's output until it closes the pipe; keeps the last part. */
static void collect(int fd, cm_buf *b)
{
    char chunk[1024];
    ssize_t r;

    while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (b->len + (size_t)r > RUN_OUT_MAX)
            buf_reset(b);
        if (buf_append(b, chunk, (size_t)r) != CM_OK)
            buf_reset(b);
    }
}

cm_err host_run(const char *const *argv, const char *const *env, const char *what)
{
    cm_err rc = CM_OK;
    posix_spawn_file_actions_t fa;
    int fds[2] = {-1, -1}, st = 0, err, fa_ok = 0;
    pid_t pid;
    char **envp = NULL;
    cm_buf out = CM_BUF_INIT(RUN_OUT_MAX * 2);

    CM_TRY(make_env(&envp, env));
    if (pipe2(fds, O_CLOEXEC) != 0)
        CM_FAIL(CM_ERR_IO, "%s: pipe: %s", what, strerror(errno));
    if (posix_spawn_file_actions_init(&fa) != 0)
        CM_FAIL(CM_ERR_NOMEM, "out of memory");
    fa_ok = 1;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    if ((err = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, envp)) != 0)
        CM_FAIL(CM_ERR_CONFIG, "%s: cannot run %s: %s", what, argv[0], strerror(err));
    close(fds[1]);
    fds[1] = -1;
    collect(fds[0], &out);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        /* The last line or two is what the service says went wrong. */
        while (out.len > 0 && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == '\r'))
            out.data[--out.len] = '\0';
        CM_FAIL(CM_ERR_STATE, "%s: '%s' failed (%s %d): %s", what, argv[0],
                WIFEXITED(st) ? "exit status" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), buf_str(&out));
    }
out:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(envp);
    buf_free(&out);
    return rc;
}
