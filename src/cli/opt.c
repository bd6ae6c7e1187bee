/* Option parsing shared by the commands: getopt_long with certmint's own
 * error messages, which name the command and suggest the nearest option or
 * command ("did you mean '--out'?"). */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest word compared: longer ones are never anyone's typo of a name. */
#define SUGGEST_MAX 64

const struct cli_command *cli_current;

/* Optimal string alignment distance (Damerau-Levenshtein restricted to
 * one transposition per pair): insertions, deletions, substitutions and
 * swaps of neighbours each cost 1, so "revok", "reovke" and "revike" are
 * all 1 from "revoke". Bounded rows; -1 when a word is too long. */
int cli_edit_distance(const char *a, const char *b)
{
    int rows[3][SUGGEST_MAX + 1];
    size_t la = strlen(a), lb = strlen(b), i, j;
    int *pp, *prev, *cur;

    if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
        return -1;
    for (j = 0; j <= lb; j++)
        rows[1][j] = (int)j;
    pp = rows[0];
    prev = rows[1];
    cur = rows[2];
    for (i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (j = 1; j <= lb; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* A word this close is a plausible typo: half its length, at least 1 and
 * at most 3 edits ("ouput" is 2 from "out"). */
static int suggest_limit(const char *word)
{
    int n = (int)strlen(word) / 2;
    return n < 1 ? 1 : n > 3 ? 3 : n;
}

const char *cli_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    int bestd = suggest_limit(word) + 1;

    for (size_t i = 0; i < n; i++) {
        int d = cli_edit_distance(word, cands[i]);
        if (d >= 0 && d < bestd) {
            best = cands[i];
            bestd = d;
        }
    }
    return best;
}

const char *cli_suggest_command(const char *word)
{
    const char *names[64];
    size_t n = 0;

    for (const struct cli_command *c = cli_commands; c->name && n < 64; c++)
        names[n++] = c->name;
    return cli_suggest(word, names, n);
}

/* "certmint: CMD: " before a command's messages, "certmint: " before the
 * global options'. */
static void msg_prefix(void)
{
    if (cli_current != NULL)
        fprintf(stderr, "certmint: %s: ", cli_current->name);
    else
        fputs("certmint: ", stderr);
}

/* The long option whose name is exactly name or, when none is, the only
 * one it abbreviates (as getopt_long matches); NULL for none, and
 * *ambiguous set when several match. */
static const struct option *long_find(const struct option *lo, const char *name, size_t len,
                                      int *ambiguous)
{
    const struct option *hit = NULL;
    int hits = 0;

    *ambiguous = 0;
    for (const struct option *o = lo; o && o->name; o++) {
        if (strncmp(o->name, name, len) != 0)
            continue;
        if (strlen(o->name) == len)
            return o;
        hit = o;
        hits++;
    }
    *ambiguous = hits > 1;
    return hits == 1 ? hit : NULL;
}

/* Reports the long option arg (without its leading "--") that getopt_long
 * refused. */
static void long_error(const struct option *lo, const char *arg)
{
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int ambiguous;
    const struct option *o = long_find(lo, arg, len, &ambiguous);
    const char *names[64];
    char word[SUGGEST_MAX + 1];
    size_t n = 0;

    if (o != NULL && eq != NULL && o->has_arg == no_argument) {
        msg_prefix();
        fprintf(stderr, "option '--%s' takes no value\n", o->name);
        return;
    }
    if (o != NULL) {
        msg_prefix();
        fprintf(stderr, "option '--%s' needs a value\n", o->name);
        return;
    }
    if (ambiguous) {
        msg_prefix();
        fprintf(stderr, "option '--%.*s' is ambiguous:", (int)len, arg);
        for (const struct option *p = lo; p->name; p++)
            if (strncmp(p->name, arg, len) == 0)
                fprintf(stderr, " --%s", p->name);
        fputc('\n', stderr);
        return;
    }
    for (const struct option *p = lo; p && p->name && n < 64; p++)
        names[n++] = p->name;
    snprintf(word, sizeof(word), "%.*s", (int)len, arg);
    const char *best = len <= SUGGEST_MAX ? cli_suggest(word, names, n) : NULL;
    msg_prefix();
    if (best != NULL)
        fprintf(stderr, "unrecognized option '--%.*s'; did you mean '--%s'?\n", (int)len, arg,
                best);
    else
        fprintf(stderr, "unrecognized option '--%.*s' (see 'certmint help%s%s')\n", (int)len, arg,
                cli_current ? " " : "", cli_current ? cli_current->name : "");
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    int ch;
    const char *arg;

    opterr = 0; /* the messages below replace getopt's */
    ch = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (ch != '?')
        return ch;
    /* getopt_long has stepped past the option it refused. */
    arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
        long_error(longopts, arg + 2);
    } else if (optopt != 0 && strchr(shortopts, optopt) != NULL) {
        msg_prefix();
        fprintf(stderr, "option '-%c' needs a value\n", optopt);
    } else {
        msg_prefix();
        fprintf(stderr, "unrecognized option '-%c' (see 'certmint help%s%s')\n",
                optopt ? optopt : '?', cli_current ? " " : "",
                cli_current ? cli_current->name : "");
    }
    return '?';
}
