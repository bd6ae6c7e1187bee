/* Writes the notification mails of a real certmint CA into an mbox, for the
 * recover-orphans benchmark (bench/recover.sh):
 *
 *   recover_mails HOME OUT.mbox
 *
 * One mail per event of the CA's exit-module outbox, in outbox order, laid
 * out per docs/mail-format.md by tests/unit/mailgen.h (written from that
 * document independently of the SMTP exit module): X-Certmint-* headers, the
 * events part, and for CERTISSUED/CERTIMPORTED the certificate from the
 * database (DER, base64), so that every attached certificate is one this
 * CA really signed. Values come from the database as the SMTP module would
 * read them (subject, validity, profile; revocation reason and CRL number
 * from the event payload). The CA key is not needed. The mbox is scratch
 * data for a benchmark, written with stdio. */
#include "../tests/unit/mailgen.h"
#include "ca/ca_int.h"
#include "ca/ca.h"
#include "exit/exit.h"

#include <stdlib.h>
#include <string.h>

#define PAGE 4096

struct events {
    struct db_event *v;
    size_t n;
};

static cm_err collect(void *ctx, const struct db_event *ev)
{
    struct events *e = ctx;
    e->v[e->n] = *ev;
    e->v[e->n].payload = ev->payload ? strdup(ev->payload) : NULL;
    e->n++;
    return CM_OK;
}

static long long payload_int(const char *payload, const char *field, long long def)
{
    char pat[64];
    const char *p;
    if (payload == NULL)
        return def;
    snprintf(pat, sizeof(pat), "\"%s\":", field);
    p = strstr(payload, pat);
    if (p == NULL)
        return def;
    p += strlen(pat);
    if (strncmp(p, "true", 4) == 0)
        return 1;
    return strtoll(p, NULL, 10);
}

static void iso(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int main(int argc, char **argv)
{
    ca_t *h = NULL;
    ca_ctx *ca = NULL;
    struct ca_open_opts oo = {NULL, 0, 0};
    const struct ca_actor who = {CA_ACTOR_OPERATOR, "bench"};
    struct events page = {NULL, 0};
    cm_buf msg = CM_BUF_INIT(MG_MAX), box = CM_BUF_INIT(MG_MAX);
    char keyid[130], cadn[1024] = "", rfc822date[64];
    int64_t after = 0;
    size_t mails = 0;
    FILE *f = NULL;
    int ret = 1;
    BIO *bio = NULL;

    if (argc != 3) {
        fprintf(stderr, "usage: recover_mails HOME OUT.mbox\n");
        return 2;
    }
    /* The home's certmint.conf may set exit keys: the schema needs them. */
    if (exit_registry_init() != CM_OK || ca_open(&h, argv[1], &oo) != CM_OK ||
        ca_session_open(&ca, h, &who) != CM_OK) {
        fprintf(stderr, "%s\n", cm_err_msg());
        return 1;
    }
    text_hex(keyid, ca->ski, ca->ski_len);
    bio = BIO_new(BIO_s_mem());
    if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(ca->cert), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(bio, cadn, (int)sizeof(cadn) - 1);
        cadn[n > 0 ? n : 0] = '\0';
    }
    page.v = calloc(PAGE, sizeof(*page.v));
    if (page.v == NULL || (f = fopen(argv[2], "w")) == NULL) {
        perror(argv[2]);
        goto out;
    }
    for (;;) {
        page.n = 0;
        if (db_event_iter(ca->db, after, EXIT_EV_ALL, PAGE, collect, &page) != CM_OK) {
            fprintf(stderr, "%s\n", cm_err_msg());
            goto out;
        }
        if (page.n == 0)
            break;
        for (size_t i = 0; i < page.n; i++) {
            const struct db_event *e = &page.v[i];
            struct mg_event ev = {0};
            struct mg_mail m = {0};
            struct db_cert *c = NULL;
            X509 *x = NULL;
            char when[32], nb[32], na[32], eff[32], title[256];
            time_t t = (time_t)e->created;
            struct tm tm;

            after = e->id;
            iso(when, e->created);
            gmtime_r(&t, &tm);
            strftime(rfc822date, sizeof(rfc822date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
            ev.event = exit_event_name(e->type);
            ev.id = e->id;
            ev.when = when;
            ev.request_id = e->request_id;
            ev.serial = e->serial[0] ? e->serial : NULL;
            if (e->serial[0] && db_cert_get(ca->db, &c, e->serial) == CM_OK) {
                if (ev.request_id == 0)
                    ev.request_id = c->request_id;
                ev.subject = c->dn;
                iso(nb, c->not_before);
                iso(na, c->not_after);
                ev.not_before = c->not_before ? nb : NULL;
                ev.not_after = c->not_after ? na : NULL;
                ev.profile = c->template_name;
                if ((e->type == EXIT_EV_CERTISSUED || e->type == EXIT_EV_CERTIMPORTED) && c->raw) {
                    const unsigned char *p = c->raw;
                    x = d2i_X509(NULL, &p, (long)c->raw_len);
                    ev.cert = x;
                }
            }
            if (e->type == EXIT_EV_CERTREVOKED) {
                ev.reason = db_reason_name((int)payload_int(e->payload, "reason", 0));
                iso(eff, payload_int(e->payload, "effective", e->created));
                ev.effective = eff;
            } else if (e->type == EXIT_EV_CRLISSUED) {
                ev.crl_number = payload_int(e->payload, "crl_number", 0);
                ev.crl_delta = payload_int(e->payload, "delta", 0) ? "yes" : "no";
            }
            snprintf(title, sizeof(title), "[%s] %s %s", cadn, ev.event, e->serial);
            m.keyid = keyid;
            m.ca_dn = cadn;
            m.subject = title;
            m.date = rfc822date;
            m.body = "A certificate event.\nSee the events part.\n";
            m.ev = &ev;
            m.n = 1;
            buf_reset(&box);
            if (mg_mail(&msg, &m) != CM_OK || mg_mbox_append(&box, msg.data, msg.len) != CM_OK ||
                fwrite(box.data, 1, box.len, f) != box.len) {
                fprintf(stderr, "%s: %s\n", argv[2], cm_err_msg());
                X509_free(x);
                db_cert_free(c);
                goto out;
            }
            mails++;
            X509_free(x);
            db_cert_free(c);
        }
        for (size_t i = 0; i < page.n; i++)
            free(page.v[i].payload);
    }
    if (fclose(f) != 0) {
        f = NULL;
        perror(argv[2]);
        goto out;
    }
    f = NULL;
    printf("%zu mails\n", mails);
    ret = 0;
out:
    if (f)
        fclose(f);
    BIO_free(bio);
    free(page.v);
    buf_free(&msg);
    buf_free(&box);
    ca_session_close(ca);
    ca_close(h);
    return ret;
}
