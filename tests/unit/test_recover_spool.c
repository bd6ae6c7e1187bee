/* recover-orphans' spool (src/recover/recover_spool.h): records sorted with
 * bounded memory. The same records are spooled in memory and in many runs
 * on disk (runs of 1, 7 and 100 records): both give the records sorted,
 * equal keys in the order they were added, and nothing lost or doubled; no
 * comparison keeps the order added; reads from two threads at once agree;
 * misuse is refused. */
#include "recover/recover_spool.h"

#include "unit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N 5000

struct rec {
    uint32_t key; /* few values: many ties */
    uint32_t seq; /* the order added */
    char pad[24];
};

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static uint32_t next_rand(uint32_t *st)
{
    *st = *st * 1103515245u + 12345u;
    return (*st >> 16) & 0x7fff;
}

/* Spools N records in runs of `run` (0: the default, all in memory) and
 * checks the order and that every record came back once. */
static void spool_check(size_t run, spool_cmp cmp, size_t want_runs_min)
{
    struct spool *s = NULL;
    static unsigned char seen[N];
    struct rec r, prev;
    uint32_t st = 42;
    size_t bad = 0;

    CHECK_OK(spool_new(&s, sizeof(struct rec), cmp, run));
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < N; i++) {
        memset(&r, 0, sizeof(r));
        r.key = next_rand(&st) % 97;
        r.seq = i;
        snprintf(r.pad, sizeof(r.pad), "record %u", i);
        CHECK_OK(spool_add(s, &r));
    }
    CHECK_OK(spool_sort(s));
    CHECK(spool_count(s) == N);
    CHECK(spool_runs(s) >= want_runs_min);
    memset(seen, 0, sizeof(seen));
    memset(&prev, 0, sizeof(prev));
    for (size_t i = 0; i < N; i++) {
        char want[24];
        CHECK_OK(spool_get(s, i, &r));
        snprintf(want, sizeof(want), "record %u", r.seq);
        if (r.seq >= N || seen[r.seq]++ || strcmp(r.pad, want) != 0)
            bad++;
        else if (cmp == NULL && r.seq != i)
            bad++; /* the order added */
        else if (cmp != NULL && i > 0 &&
                 (r.key < prev.key || (r.key == prev.key && r.seq < prev.seq)))
            bad++; /* sorted, and stable */
        prev = r;
    }
    if (bad)
        UNIT_FAIL("run %zu, %s: %zu records out of place", run, cmp ? "sorted" : "unsorted", bad);
    CHECK_ERR(spool_add(s, &r), CM_ERR_STATE);
    CHECK_ERR(spool_get(s, N, &r), CM_ERR_STATE);
    spool_free(s);
}

TEST(sorted_in_memory_and_in_runs)
{
    spool_check(0, rec_cmp, 0);         /* fits: no file */
    spool_check(100, rec_cmp, N / 100); /* 50 runs merged */
    spool_check(7, rec_cmp, N / 7);
    spool_check(1, rec_cmp, N);
    spool_check(0, NULL, 0);
    spool_check(100, NULL, N / 100);
}

struct reader {
    const struct spool *s;
    size_t bad;
};

static void *read_all_records(void *arg)
{
    struct reader *rd = arg;
    struct rec r;
    for (size_t i = 0; i < N; i++)
        if (spool_get(rd->s, i, &r) != CM_OK || r.seq != i)
            rd->bad++;
    return NULL;
}

TEST(reads_from_threads)
{
    struct spool *s = NULL;
    struct reader rd[2];
    pthread_t th[2];
    struct rec r;

    CHECK_OK(spool_new(&s, sizeof(r), NULL, 64));
    for (uint32_t i = 0; s != NULL && i < N; i++) {
        memset(&r, 0, sizeof(r));
        r.seq = i;
        CHECK_OK(spool_add(s, &r));
    }
    CHECK_OK(spool_sort(s));
    for (int k = 0; k < 2; k++) {
        rd[k].s = s;
        rd[k].bad = 0;
        CHECK(pthread_create(&th[k], NULL, read_all_records, &rd[k]) == 0);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    CHECK(rd[0].bad == 0 && rd[1].bad == 0);
    spool_free(s);
}

TEST(empty_and_misuse)
{
    struct spool *s = NULL;
    struct rec r;

    CHECK_ERR(spool_new(&s, 0, NULL, 0), CM_ERR_INVALID);
    CHECK(s == NULL);
    CHECK_OK(spool_new(&s, sizeof(r), rec_cmp, 0));
    CHECK_ERR(spool_get(s, 0, &r), CM_ERR_STATE); /* before sorting */
    CHECK_OK(spool_sort(s));
    CHECK(spool_count(s) == 0);
    CHECK_ERR(spool_get(s, 0, &r), CM_ERR_STATE);
    spool_free(s);
    spool_free(NULL);
}

int main(void)
{
    unit_suite = "recover_spool";
    RUN(sorted_in_memory_and_in_runs);
    RUN(reads_from_threads);
    RUN(empty_and_misuse);
    return UNIT_DONE();
}
