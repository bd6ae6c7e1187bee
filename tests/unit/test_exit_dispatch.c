/* The exit-module dispatcher (src/exit/dispatch.c) over a real SQLite
 * database, driving the real file module: events delivered in order with
 * every database column of their row (rows loaded in bulk for a dense run of
 * requests, one by one for sparse ones and by serial number), filters, the
 * one-process delivery lock, retries with backoff. The CA context is filled
 * by hand as in test_crl_publish.c (no CA home needed). */
#include "ca/ca.h"
#include "ca/ca_int.h"
#include "exit/exit.h"
#include "fixture_ca.h"
#include "unit.h"
#include "util/fsutil.h"

#include <fcntl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static char base[200], home[256];

/* The shared fixture's CA, with the file module enabled into dir/events. */
static ca_ctx *open_dispatch_ca(const char *dir)
{
    char path[512];
    ca_ctx *ca = open_test_ca(dir);
    if (ca == NULL || ca->cfg == NULL)
        return ca;
    snprintf(path, sizeof(path), "%s/events", dir);
    if (config_set(ca->cfg, "exit.modules", "file") != CM_OK ||
        config_set(ca->cfg, "exit.file.dir", path) != CM_OK)
        fprintf(stderr, "config_set: %s\n", cm_err_msg());
    return ca;
}

static cm_err add_cert(ca_ctx *ca, int64_t *id, const char *serial)
{
    cm_err rc = CM_OK;
    struct db_request rq;
    struct db_cert c;

    memset(&rq, 0, sizeof(rq));
    memset(&c, 0, sizeof(c));
    rq.submitted_when = rq.resolved_when = (int64_t)time(NULL);
    rq.disposition = DB_DISP_FOREIGN;
    CM_TRY(db_begin(ca->db));
    CM_TRY(db_request_insert(ca->db, &rq));
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    c.request_id = rq.request_id;
    c.origin = DB_ORIGIN_PLACEHOLDER;
    c.not_after = (int64_t)time(NULL) + 86400 * 300;
    c.revoked_reason = DB_REASON_NONE;
    CM_TRY(db_cert_insert(ca->db, &c));
    CM_TRY(db_commit(ca->db));
    *id = rq.request_id;
out:
    db_rollback(ca->db);
    return rc;
}

static cm_err raise_ev(ca_ctx *ca, int ev, int64_t request_id, const char *serial)
{
    cm_err rc = CM_OK;
    CM_TRY(db_begin(ca->db));
    CM_TRY(exit_raise(ca->db, ev, request_id, serial, NULL));
    CM_TRY(db_commit(ca->db));
out:
    db_rollback(ca->db);
    return rc;
}

/* The file module's record of event id, or NULL. Caller frees. */
static char *record(int64_t id, const char *name)
{
    char path[512];
    unsigned char *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/events/%012lld-%s.json", home, (long long)id, name);
    if (fs_read_file(&data, &len, path, 1 << 20) != CM_OK)
        return NULL;
    return (char *)data;
}

static struct exit_module_status file_st;
static void status_cb(void *ctx, const struct exit_module_status *st)
{
    (void)ctx;
    if (strcmp(st->name, "file") == 0)
        file_st = *st;
}

static void status_of_file(ca_ctx *ca)
{
    memset(&file_st, 0, sizeof(file_st));
    if (exit_status(ca, status_cb, NULL) != CM_OK)
        fprintf(stderr, "exit_status: %s\n", cm_err_msg());
}

/* Dense requests come from one range query, a far one and a serial-only
 * event from their own; each record carries its own row. */
TEST(rows_follow_their_events)
{
    ca_ctx *ca;
    snprintf(home, sizeof(home), "%s/rows", base);
    ca = open_dispatch_ca(home);
    struct exit_delivery_report rep;
    int64_t ids[40], far = 0;
    char serial[40][32], *r = NULL, want[128];
    int i;

    CHECK(ca != NULL && ca->db != NULL && ca->cert != NULL);
    if (ca == NULL || ca->db == NULL || ca->cert == NULL)
        goto out;
    for (i = 0; i < 40; i++) {
        snprintf(serial[i], sizeof(serial[i]), "7E57%04X", i + 1);
        CHECK_OK(add_cert(ca, &ids[i], serial[i]));
    }
    /* Events in an order unlike the requests', one request twice. */
    for (i = 39; i >= 10; i--)
        CHECK_OK(raise_ev(ca, EXIT_EV_CERTIMPORTED, ids[i], serial[i]));
    CHECK_OK(raise_ev(ca, EXIT_EV_CERTRETRIEVEPENDING, ids[20], serial[20]));
    CHECK_OK(raise_ev(ca, EXIT_EV_CERTREVOKED, 0, serial[3])); /* by serial only */
    CHECK_OK(raise_ev(ca, EXIT_EV_CRLISSUED, 0, NULL));        /* no row */
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.delivered, 33);
    CHECK_INT(rep.failed_modules, 0);
    CHECK_INT(rep.busy, 0);
    for (i = 39; i >= 10; i--) {
        int64_t ev = 40 - i;
        r = record(ev, "CERTIMPORTED");
        CHECK(r != NULL);
        snprintf(want, sizeof(want), "\"SerialNumber\":\"%s\"", serial[i]);
        if (r == NULL || strstr(r, want) == NULL)
            UNIT_FAIL("event %lld: no %s in %s", (long long)ev, want, r ? r : "(none)");
        free(r);
        r = NULL;
    }
    r = record(31, "CERTRETRIEVEPENDING");
    snprintf(want, sizeof(want), "\"SerialNumber\":\"%s\"", serial[20]);
    CHECK(r != NULL && strstr(r, want) != NULL);
    free(r);
    r = record(32, "CERTREVOKED");
    snprintf(want, sizeof(want), "\"RequestID\":\"%lld\"", (long long)ids[3]);
    CHECK(r != NULL && strstr(r, want) != NULL);
    free(r);
    r = record(33, "CRLISSUED");
    CHECK(r != NULL && strstr(r, "\"columns\"") == NULL);
    free(r);
    r = NULL;

    /* A request far from the others: looked up on its own. */
    for (i = 0; i < 300; i++) {
        char s[32];
        snprintf(s, sizeof(s), "7E58%04X", i);
        CHECK_OK(add_cert(ca, &far, i == 299 ? "7E57FFFF" : s));
    }
    for (i = 0; i < 10; i++)
        CHECK_OK(raise_ev(ca, EXIT_EV_CERTIMPORTED, ids[i], serial[i]));
    CHECK_OK(raise_ev(ca, EXIT_EV_CERTIMPORTED, far, "7E57FFFF"));
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.delivered, 11);
    r = record(44, "CERTIMPORTED");
    CHECK(r != NULL && strstr(r, "\"SerialNumber\":\"7E57FFFF\"") != NULL);
    free(r);
    r = record(34, "CERTIMPORTED");
    snprintf(want, sizeof(want), "\"SerialNumber\":\"%s\"", serial[0]);
    CHECK(r != NULL && strstr(r, want) != NULL);
    free(r);
    status_of_file(ca);
    CHECK_INT(file_st.acked, 44);
    CHECK_INT(file_st.backlog, 0);
out:
    close_test_ca(ca);
}

/* While another process holds the delivery lock nothing is delivered (and
 * the caller is told); afterwards everything is. */
TEST(one_delivering_process)
{
    ca_ctx *ca;
    snprintf(home, sizeof(home), "%s/lock", base);
    ca = open_dispatch_ca(home);
    struct exit_delivery_report rep;
    char path[512], *r = NULL;
    int fd;

    CHECK(ca != NULL && ca->db != NULL);
    if (ca == NULL || ca->db == NULL)
        goto out;
    status_of_file(ca);
    CHECK_OK(raise_ev(ca, EXIT_EV_CRLISSUED, 0, NULL));
    snprintf(path, sizeof(path), "%s/exit.lock", home);
    /* flock locks belong to the open file description: a second open()
     * conflicts even within this process, as another process would. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.busy, 1);
    CHECK_INT(rep.delivered, 0);
    r = record(file_st.acked + 1, "CRLISSUED");
    CHECK(r == NULL);
    free(r);
    close(fd);
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.busy, 0);
    CHECK_INT(rep.delivered, 1);
    r = record(file_st.acked + 1, "CRLISSUED");
    CHECK(r != NULL);
    free(r);
out:
    close_test_ca(ca);
}

/* Delivery claims: a module whose claim ("exit-NAME") another handle holds
 * is left to that handle; a claim on another module blocks nothing here. */
TEST(module_claims)
{
    ca_ctx *ca;
    snprintf(home, sizeof(home), "%s/claims", base);
    ca = open_dispatch_ca(home);
    struct exit_delivery_report rep;
    db_t *other = NULL;
    char *r = NULL;
    int held = 0;

    CHECK(ca != NULL && ca->db != NULL);
    if (ca == NULL || ca->db == NULL)
        goto out;
    status_of_file(ca);
    CHECK_OK(db_clone(&other, ca->db));
    CHECK_OK(raise_ev(ca, EXIT_EV_CRLISSUED, 0, NULL));
    CHECK_OK(db_lock(other, &held, "exit-file", DB_LOCK_TRY));
    CHECK_INT(held, 1);
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.busy, 1);
    CHECK_INT(rep.delivered, 0);
    r = record(file_st.acked + 1, "CRLISSUED");
    CHECK(r == NULL);
    free(r);
    db_unlock(other, "exit-file");
    /* Another module's claim held elsewhere: the file module goes on. */
    CHECK_OK(db_lock(other, &held, "exit-smtp", DB_LOCK_TRY));
    CHECK_INT(held, 1);
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.busy, 0);
    CHECK_INT(rep.delivered, 1);
    r = record(file_st.acked + 1, "CRLISSUED");
    CHECK(r != NULL);
    free(r);
    db_unlock(other, "exit-smtp");
    /* `db migrate` holds "exit" exclusively: no module is delivered. */
    CHECK_OK(raise_ev(ca, EXIT_EV_CRLISSUED, 0, NULL));
    CHECK_OK(db_lock(other, &held, "exit", DB_LOCK_TRY));
    CHECK_INT(held, 1);
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.busy, 1);
    CHECK_INT(rep.delivered, 0);
    db_unlock(other, "exit");
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.delivered, 1);
out:
    db_close(other);
    close_test_ca(ca);
}

/* Filtered-out events are no backlog; a failing module keeps its events,
 * backs off, and delivers them all once it works again. */
TEST(filter_failure_backoff)
{
    ca_ctx *ca;
    snprintf(home, sizeof(home), "%s/backoff", base);
    ca = open_dispatch_ca(home);
    struct exit_delivery_report rep;
    char bad[512], good[512];
    int64_t start;

    CHECK(ca != NULL && ca->db != NULL);
    if (ca == NULL || ca->db == NULL)
        goto out;
    status_of_file(ca);
    start = file_st.acked;
    CHECK_OK(config_set(ca->cfg, "exit.file.eventfilter", "0x8"));
    CHECK_OK(raise_ev(ca, EXIT_EV_CRLISSUED, 0, NULL));
    CHECK_OK(raise_ev(ca, EXIT_EV_STARTUP, 0, NULL));
    status_of_file(ca);
    CHECK_INT(file_st.backlog, 0);
    CHECK_INT(file_st.filter, EXIT_EV_CERTREVOKED);
    CHECK_OK(config_unset(ca->cfg, "exit.file.eventfilter"));

    /* exit.file.dir is a regular file: the module cannot start. */
    snprintf(bad, sizeof(bad), "%s/not-a-dir", home);
    CHECK_OK(fs_write_atomic(bad, "x", 1, 0600));
    snprintf(good, sizeof(good), "%s", config_get(ca->cfg, "exit.file.dir"));
    CHECK_OK(config_set(ca->cfg, "exit.file.dir", bad));
    CHECK_OK(raise_ev(ca, EXIT_EV_SHUTDOWN, 0, NULL));
    CHECK_OK(exit_deliver(ca, EXIT_DELIVER_RESPECT_BACKOFF, &rep));
    CHECK_INT(rep.failed_modules, 1);
    status_of_file(ca);
    CHECK_INT(file_st.attempts, 1);
    CHECK(file_st.last_error[0] != '\0' && strstr(file_st.last_error, "exit module file") != NULL);
    CHECK(file_st.next_attempt > (int64_t)time(NULL) - 1);
    /* Within the backoff nothing is tried; without it, it is. */
    CHECK_OK(exit_deliver(ca, EXIT_DELIVER_RESPECT_BACKOFF, &rep));
    CHECK_INT(rep.failed_modules, 0);
    status_of_file(ca);
    CHECK_INT(file_st.attempts, 1);
    CHECK_OK(exit_deliver(ca, 0, &rep));
    status_of_file(ca);
    CHECK_INT(file_st.attempts, 2);
    CHECK_INT(file_st.backlog, 3);
    CHECK_OK(config_set(ca->cfg, "exit.file.dir", good));
    CHECK_OK(exit_deliver(ca, 0, &rep));
    CHECK_INT(rep.delivered, 3);
    status_of_file(ca);
    CHECK_INT(file_st.attempts, 0);
    CHECK_INT(file_st.backlog, 0);
    CHECK_INT(file_st.acked, start + 3);
out:
    close_test_ca(ca);
}

int main(void)
{
    char tmpl[] = "/tmp/cm-test-dispatch.XXXXXX";
    unit_suite = "exit_dispatch";
    if (exit_registry_init() != CM_OK) {
        printf("not ok - exit_dispatch: exit_registry_init: %s\n", cm_err_msg());
        return 1;
    }
    if (mkdtemp(tmpl) == NULL)
        return 1;
    snprintf(base, sizeof(base), "%s", tmpl);
    RUN(rows_follow_their_events);
    RUN(one_delivering_process);
    RUN(module_claims);
    RUN(filter_failure_backoff);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpl);
    }
    return UNIT_DONE();
}
