/* A minimal unit-test harness. Each test binary defines its tests with
 * TEST(name) and lists them in main via RUN(name). Output is TAP-like lines
 * ("ok - suite: name" / "not ok - suite: name: why") that tests/run.sh counts. */
#ifndef CM_TESTS_UNIT_H
#define CM_TESTS_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failed_now;
static int unit_npass, unit_nfail;
static const char *unit_suite = "unit";

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                                                  \
    do {                                                                                           \
        unit_failed_now = 0;                                                                       \
        test_##name();                                                                             \
        if (unit_failed_now) {                                                                     \
            unit_nfail++;                                                                          \
        } else {                                                                                   \
            unit_npass++;                                                                          \
            printf("ok - %s: %s\n", unit_suite, #name);                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)
#define UNIT_FAIL(...)                                                                             \
    do {                                                                                           \
        if (!unit_failed_now)                                                                      \
            printf("not ok - %s: %s: ", unit_suite, __func__ + 5);                                 \
        else                                                                                       \
            printf("    also: ");                                                                  \
        printf(__VA_ARGS__);                                                                       \
        printf(" (%s:%d)\n", __FILE__, __LINE__);                                                  \
        unit_failed_now = 1;                                                                       \
    } while (0)
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            UNIT_FAIL("check failed: %s", #cond);                                                  \
    } while (0)
#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_)                                                                            \
            UNIT_FAIL("%s == %lld, expected %lld", #a, va_, vb_);                                  \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0)                                   \
            UNIT_FAIL("%s == \"%s\", expected \"%s\"", #a, sa_ ? sa_ : "(null)",                   \
                      sb_ ? sb_ : "(null)");                                                       \
    } while (0)
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        cm_err rc_ = (expr);                                                                       \
        if (rc_ != CM_OK)                                                                          \
            UNIT_FAIL("%s failed: %s", #expr, cm_err_msg());                                       \
    } while (0)
#define CHECK_ERR(expr, code)                                                                      \
    do {                                                                                           \
        cm_err rc_ = (expr);                                                                       \
        if (rc_ != (code))                                                                         \
            UNIT_FAIL("%s returned %d, expected %d (%s)", #expr, (int)rc_, (int)(code),            \
                      cm_err_msg());                                                               \
    } while (0)
#define UNIT_DONE() ((unit_nfail) ? 1 : 0)

#endif
