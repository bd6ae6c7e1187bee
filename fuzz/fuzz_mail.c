/* libFuzzer target for the mail audit trail scanner: mailscan_message() on
 * arbitrary bytes, which covers GMime's MIME parsing as certmint drives it,
 * the events-block parser (in-place unfolding), the certificate attachment
 * checks and the AD CS-style text fallback. Inputs that start with "From "
 * also go through mailscan_mbox() and mailscan_mbox_workers() (from a memfd),
 * for the mbox loop and the parallel scan's splitter. Every field of every event is
 * read so that a bad pointer or length shows up under ASan.
 * Seeds: fuzz/corpus/fuzz_mail/ (mails written by tests/unit/mailgen.h). */
#include "recover/mailscan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile size_t sink;

static cm_err touch(void *ctx, const struct mail_event *ev)
{
    size_t n =
        strlen(ev->source) + strlen(ev->message_id) + strlen(ev->ca_key_id) + strlen(ev->serial);
    (void)ctx;
    if (ev->subject_dn)
        n += strlen(ev->subject_dn);
    if (ev->profile)
        n += strlen(ev->profile);
    for (size_t i = 0; i < ev->cert_der_len; i++)
        n += ev->cert_der[i];
    n += (size_t)(ev->type + ev->event_id + ev->request_id + ev->when + ev->not_before +
                  ev->not_after + ev->revoked_reason + ev->revoked_effective + ev->crl_number +
                  ev->crl_delta + ev->from_text_fallback);
    sink += n;
    return CM_OK;
}

static void warn(void *ctx, const char *source, const char *why)
{
    (void)ctx;
    sink += strlen(source) + strlen(why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mailscan_stats st;

    memset(&st, 0, sizeof(st));
    /* The filter path too: a key ID that the seeds carry. */
    (void)mailscan_message(data, size, "fuzz",
                           (size & 1) ? "3f1c2a9be4d05f6a7b8c9d0e1f2a3b4c5d6e7f80" : NULL, touch,
                           warn, NULL, &st);
    if (size >= 5 && memcmp(data, "From ", 5) == 0) {
        int fd = memfd_create("fuzz_mbox", 0);
        char path[64];
        if (fd >= 0) {
            if (write(fd, data, size) == (ssize_t)size) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                (void)mailscan_mbox(path, NULL, touch, warn, NULL, &st);
                /* The split at From lines of the parallel scan, and its
                 * workers (mailscan_mbox_workers). */
                (void)mailscan_mbox_workers(path, NULL, 2, touch, warn, NULL, &st);
            }
            close(fd);
        }
    }
    return 0;
}
