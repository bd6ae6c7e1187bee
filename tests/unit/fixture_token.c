/* The SoftHSM2 token fixture of fixture_token.h. */
#include "fixture_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file of the token folder with these contents, mode 0600. */
static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL)
        return 0;
    ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok && chmod(path, 0600) == 0;
}

int fixture_token_open(struct fixture_token *t, const char *tag, int reset_on_fork)
{
    char conf[320], text[768];

    memset(t, 0, sizeof(*t));
    if (access(FIXTURE_TOKEN_MODULE, R_OK) != 0)
        return 0;
    snprintf(t->dir, sizeof(t->dir), "/tmp/cm-unit-%s.XXXXXX", tag);
    if (mkdtemp(t->dir) == NULL) {
        t->dir[0] = '\0';
        return 0;
    }
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", t->dir);
    snprintf(text, sizeof(text),
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n%s", t->dir,
             reset_on_fork ? "library.reset_on_fork = true\n" : "");
    if (!write_file(conf, text))
        return 0;
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(t->pin_path, sizeof(t->pin_path), "%s/pin", t->dir);
    if (!write_file(t->pin_path, "1234\n"))
        return 0;
    /* Fixed test PINs: this token lives only in the temp folder. */
    return system("softhsm2-util --init-token --free --label unit --pin 1234 --so-pin 5678 "
                  ">/dev/null") == 0;
}

void fixture_token_uri(char *uri, size_t urisz, const struct fixture_token *t, const char *object)
{
    snprintf(uri, urisz, "pkcs11:token=unit;object=%s?module-path=%s&pin-source=file:%s", object,
             FIXTURE_TOKEN_MODULE, t->pin_path);
}

void fixture_token_close(struct fixture_token *t)
{
    char cmd[320];

    if (t == NULL || t->dir[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", t->dir);
    t->dir[0] = '\0';
}
