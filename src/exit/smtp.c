/* The SMTP exit module: mails an alert for every CA event through a real
 * mail server, with AD CS's per-event templates (TitleFormat/TitleArg,
 * BodyFormat/BodyArg over database columns), From/To/Cc per event, and
 * per-profile overrides (AD CS's Templates\<Template> keys). Every mail
 * carries the machine-readable part of docs/mail-format.md, and every
 * CERTISSUED/CERTIMPORTED mail the certificate, so that the mailbox is an
 * off-box audit trail the CA can be rebuilt from (recover-orphans).
 *
 * Under a burst, up to exit.smtp.batch_max queued events with the same
 * recipients share one mail; one event alone gets one mail with its own
 * template. The connection is reused across the mails of one delivery. */
#include "exit/exit.h"
#include "ca/ca_int.h"

#include "ca/ca.h"
#include "ca/name.h"
#include "exit/mailfmt.h"
#include "exit/mime.h"
#include "exit/smtp_client.h"
#include "exit/template.h"
#include "util/buf.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#define EVENT_KINDS 15
#define BODY_SEPARATOR "\n----------------------------------------------------------------\n\n"

/* Event short names used in configuration keys (exit.smtp.issued.titleformat). */
static const struct {
    int bit;
    const char *key;
} kinds[EVENT_KINDS] = {
    {EXIT_EV_CERTISSUED, "issued"},
    {EXIT_EV_CERTPENDING, "pending"},
    {EXIT_EV_CERTDENIED, "denied"},
    {EXIT_EV_CERTREVOKED, "revoked"},
    {EXIT_EV_CERTRETRIEVEPENDING, "retrievepending"},
    {EXIT_EV_CRLISSUED, "crlissued"},
    {EXIT_EV_SHUTDOWN, "shutdown"},
    {EXIT_EV_STARTUP, "startup"},
    {EXIT_EV_CERTUNREVOKED, "unrevoked"},
    {EXIT_EV_CERTIMPORTED, "imported"},
    {EXIT_EV_CERTEXPIRING, "expiring"},
    {EXIT_EV_EXITPOISONED, "poisoned"},
    {EXIT_EV_KEYARCHIVED, "keyarchived"},
    {EXIT_EV_KEYRECOVERYREQUESTED, "keyrecoveryrequested"},
    {EXIT_EV_KEYRECOVERED, "keyrecovered"},
};

static int kind_index(int bit)
{
    for (int i = 0; i < EVENT_KINDS; i++)
        if (kinds[i].bit == bit)
            return i;
    return -1;
}

/* Pseudo-columns templates can name besides the database's. */
enum {
    PC_CANAME,
    PC_CADN,
    PC_EVENT,
    PC_EVENTID,
    PC_EVENTTIME,
    PC_CRLNUMBER,
    PC_CRLKIND,
    PC_HOST,
    PC_PMODULE,
    PC_PEVENTID,
    PC_PEVENT,
    PC_PREASON,
    PC__COUNT
};
static const struct db_column pseudo_cols[PC__COUNT] = {
    {"CAName", DB_COL_TEXT, 0},
    {"CADistinguishedName", DB_COL_TEXT, 0},
    {"EventName", DB_COL_TEXT, 0},
    {"EventID", DB_COL_INT, 0},
    {"EventTime", DB_COL_TIME, 0},
    {"CRLNumber", DB_COL_INT, 0},
    {"CRLKind", DB_COL_TEXT, 0},
    {"HostName", DB_COL_TEXT, 0},
    /* EXITPOISONED: which module set which event aside, and why. */
    {"PoisonedModule", DB_COL_TEXT, 0},
    {"PoisonedEventID", DB_COL_INT, 0},
    {"PoisonedEvent", DB_COL_TEXT, 0},
    {"PoisonedReason", DB_COL_TEXT, 0},
};

/* db_columns followed by the pseudo-columns: what templates compile against.
 * Built once per process (pthread_once: threads of a server may start SMTP
 * deliveries at the same time) and never changed after. */
static struct db_column *all_cols;
static size_t nall_cols;
static pthread_once_t cols_once = PTHREAD_ONCE_INIT;

static void cols_build(void)
{
    struct db_column *c = calloc(db_ncolumns + PC__COUNT, sizeof(*c));
    if (c == NULL)
        return;
    memcpy(c, db_columns, db_ncolumns * sizeof(*c));
    memcpy(c + db_ncolumns, pseudo_cols, sizeof(pseudo_cols));
    nall_cols = db_ncolumns + PC__COUNT;
    all_cols = c;
}

static cm_err cols_init(void)
{
    pthread_once(&cols_once, cols_build);
    if (all_cols == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    return CM_OK;
}

/* Built-in templates: what an administrator needs, and the lines AD CS's
 * mails have ("Serial Number:", "Request ID:") so that text-only readers
 * find them too. */
#define ISSUED_BODY_ARGS                                                                           \
    "CAName,RequestID,RequesterName,SerialNumber,DistinguishedName,SubjectAltNames,"               \
    "CertificateTemplate,NotBefore,NotAfter,CertificateHash,SubjectKeyIdentifier,"                 \
    "DispositionMessage,EventTime"
static const struct deftpl {
    const char *title, *title_args, *body, *body_args;
} defaults[EVENT_KINDS] = {
    /* issued */
    {"[%1] Certificate issued: %2 (request %3)", "CAName,CommonName,RequestID",
     "Certificate issued by %1\n\nRequest ID: %2\nRequester: %3\nSerial Number: %4\n"
     "Subject: %5\nSubject alternative names: %6\nProfile: %7\nValid from: %8 UTC\n"
     "Valid to: %9 UTC\nThumbprint (SHA-1): %10\nSubject key identifier: %11\n"
     "Disposition: %12\nEvent time: %13 UTC\n",
     ISSUED_BODY_ARGS},
    /* pending */
    {"[%1] Request %2 pending: %3", "CAName,RequestID,RequestDistinguishedName",
     "A request to %1 is waiting for an officer\n(certmint approve %2 / deny %2).\n\n"
     "Request ID: %2\nRequester: %3\nSubject: %4\nProfile: %5\nSubmitted: %6 UTC\n"
     "Disposition: %7\n",
     "CAName,RequestID,RequesterName,RequestDistinguishedName,CertificateTemplate,SubmittedWhen,"
     "DispositionMessage"},
    /* denied */
    {"[%1] Request %2 denied: %3", "CAName,RequestID,RequestDistinguishedName",
     "A request to %1 was denied.\n\nRequest ID: %2\nRequester: %3\nSubject: %4\nProfile: %5\n"
     "Submitted: %6 UTC\nResolved: %7 UTC\nDisposition: %8\n",
     "CAName,RequestID,RequesterName,RequestDistinguishedName,CertificateTemplate,SubmittedWhen,"
     "ResolvedWhen,DispositionMessage"},
    /* revoked */
    {"[%1] Certificate revoked: %2 (serial %3)", "CAName,CommonName,SerialNumber",
     "Certificate revoked by %1\n\nSerial Number: %2\nRequest ID: %3\nSubject: %4\n"
     "Subject alternative names: %5\nProfile: %6\nRevocation reason: %7\n"
     "Revocation date: %8 UTC\nRecorded: %9 UTC\nValid to: %10 UTC\nThumbprint (SHA-1): %11\n",
     "CAName,SerialNumber,RequestID,DistinguishedName,SubjectAltNames,CertificateTemplate,"
     "RevokedReason,RevokedEffectiveWhen,RevokedWhen,NotAfter,CertificateHash"},
    /* retrievepending */
    {"[%1] Certificate retrieved: request %2", "CAName,RequestID",
     "The certificate of request %2 was retrieved from %1.\n\nRequest ID: %2\n"
     "Serial Number: %3\nSubject: %4\nRequester: %5\n",
     "CAName,RequestID,SerialNumber,DistinguishedName,RequesterName"},
    /* crlissued */
    {"[%1] %2 CRL %3 published", "CAName,CRLKind,CRLNumber",
     "%1 published a %2 CRL.\n\nCRL number: %3\nPublished: %4 UTC\n",
     "CAName,CRLKind,CRLNumber,EventTime"},
    /* shutdown */
    {"[%1] certmint service stopped on %2", "CAName,HostName",
     "The certmint service of %1 stopped on %2 at %3 UTC.\n", "CAName,HostName,EventTime"},
    /* startup */
    {"[%1] certmint service started on %2", "CAName,HostName",
     "The certmint service of %1 started on %2 at %3 UTC.\n", "CAName,HostName,EventTime"},
    /* unrevoked */
    {"[%1] Certificate released from hold: %2 (serial %3)", "CAName,CommonName,SerialNumber",
     "A certificate on hold was released by %1.\n\nSerial Number: %2\nRequest ID: %3\n"
     "Subject: %4\nValid to: %5 UTC\n",
     "CAName,SerialNumber,RequestID,DistinguishedName,NotAfter"},
    /* imported */
    {"[%1] Certificate recorded: serial %2", "CAName,SerialNumber",
     "A certificate was added to the database of %1 (%3).\n\nSerial Number: %2\n"
     "Request ID: %4\nSubject: %5\nValid from: %6 UTC\nValid to: %7 UTC\nThumbprint (SHA-1): %8\n",
     "CAName,SerialNumber,Origin,RequestID,DistinguishedName,NotBefore,NotAfter,CertificateHash"},
    /* expiring */
    {"[%1] Certificate expires %2: %3 (serial %4)", "CAName,NotAfter,CommonName,SerialNumber",
     "A certificate issued by %1 expires soon.\n\nSerial Number: %2\nSubject: %3\n"
     "Subject alternative names: %4\nProfile: %5\nValid to: %6 UTC\nRequester: %7\n",
     "CAName,SerialNumber,DistinguishedName,SubjectAltNames,CertificateTemplate,NotAfter,"
     "RequesterName"},
    /* poisoned */
    {"[%1] Exit module %2 set event %3 (%4) aside",
     "CAName,PoisonedModule,PoisonedEventID,"
     "PoisonedEvent",
     "Exit module %1 of %2 could not deliver event %3 (%4) and moved it aside as poisoned;\n"
     "the events after it are delivered as usual.\n\nReason: %5\nRequest ID: %6\n"
     "Serial Number: %7\nSubject: %8\nEvent time: %9 UTC\n\n"
     "Fix the cause, then: certmint exit retry %3\n"
     "(certmint exit status lists every poisoned event.)\n",
     "PoisonedModule,CAName,PoisonedEventID,PoisonedEvent,PoisonedReason,RequestID,SerialNumber,"
     "RequestDistinguishedName,EventTime"},
    /* keyarchived (issue 12, docs/key-archival.md): never the key itself */
    {"[%1] Private key archived: %2 (serial %3)", "CAName,CommonName,SerialNumber",
     "The private key of a certificate issued by %1 was archived for recovery by the key\n"
     "recovery agents.\n\nSerial Number: %2\nRequest ID: %3\nSubject: %4\n"
     "Subject alternative names: %5\nProfile: %6\nEvent time: %7 UTC\n",
     "CAName,SerialNumber,RequestID,DistinguishedName,SubjectAltNames,CertificateTemplate,"
     "EventTime"},
    /* keyrecoveryrequested */
    {"[%1] Key recovery requested: %2 (serial %3)", "CAName,CommonName,SerialNumber",
     "A recovery of the archived private key of a certificate issued by %1 was opened;\n"
     "the key recovery agents are asked to release their shares.\n\nSerial Number: %2\n"
     "Request ID: %3\nSubject: %4\nEvent time: %5 UTC\n",
     "CAName,SerialNumber,RequestID,DistinguishedName,EventTime"},
    /* keyrecovered */
    {"[%1] Private key recovered: %2 (serial %3)", "CAName,CommonName,SerialNumber",
     "The archived private key of a certificate issued by %1 was recovered by its key\n"
     "recovery agents.\n\nSerial Number: %2\nRequest ID: %3\nSubject: %4\n"
     "Event time: %5 UTC\n",
     "CAName,SerialNumber,RequestID,DistinguishedName,EventTime"},
};

struct tpl_set {
    struct template *title, *body;
    int title_set; /* exit.smtp.EVENT.titleformat is configured */
    char *from, *to, *cc;
};

/* Per-profile templates (exit.smtp.template.PROFILE.EVENT.*), looked up
 * and compiled once per profile and event in a delivery run. */
struct prof_tpl {
    char *profile;
    int ki;
    struct template *title, *body; /* NULL: no override for this pair */
};

struct smtp_state {
    ca_ctx *ca;
    const struct exit_ca_info *info;
    struct smtp_opts opts;
    char *server, *username, *password_file, *cafile;
    struct smtp_client *client;
    struct tpl_set tpl[EVENT_KINDS];
    struct prof_tpl *ptpl;
    size_t nptpl;
    long long batch_max;
    int offbox;
};

static const char *cfg_str(const ca_ctx *ca, const char *key)
{
    const char *v = config_get(ca->cfg, key);
    return v && *v ? v : NULL;
}

static void tpl_free(struct tpl_set *t)
{
    template_free(t->title);
    template_free(t->body);
    free(t->from);
    free(t->to);
    free(t->cc);
    memset(t, 0, sizeof(*t));
}

/* The value of key prefix.{what}{kind} ("exit.smtp.issued" "title"
 * "format"), else of fallback.{what}{kind} when fallback is not NULL, else
 * def. */
static const char *tpl_key(const cm_config *cfg, const char *prefix, const char *fallback,
                           const char *what, const char *kind, const char *def)
{
    char k[300];
    snprintf(k, sizeof(k), "%s.%s%s", prefix, what, kind);
    if (config_schema_find(k) && config_is_set(cfg, k))
        return config_get(cfg, k);
    if (fallback != NULL) {
        snprintf(k, sizeof(k), "%s.%s%s", fallback, what, kind);
        if (config_schema_find(k) && config_is_set(cfg, k))
            return config_get(cfg, k);
    }
    return def;
}

/* Compiles one template pair (format + args) from keys prefix.{title,body}*,
 * each key falling back on its own to fallback's and then to the built-in
 * default. A configured pair that does not compile (a file edited by hand,
 * or written by an older certmint) is an error when strict (`config set`
 * checks this way); at send time the built-in template is used instead,
 * with a warning, so that a typo never stops delivery. */
static cm_err compile_pair(struct template **out, const cm_config *cfg, const char *prefix,
                           const char *fallback, const char *what, const char *def_fmt,
                           const char *def_args, int strict)
{
    const char *fmt = tpl_key(cfg, prefix, fallback, what, "format", def_fmt);
    const char *args = tpl_key(cfg, prefix, fallback, what, "arg", def_args);
    char why[512];
    if (template_compile_cols(out, fmt, args ? args : "", all_cols, nall_cols) == CM_OK)
        return CM_OK;
    snprintf(why, sizeof(why), "%s", cm_err_msg());
    if (strict)
        return cm_err_set(CM_ERR_CONFIG,
                          "%s.%sformat / %s.%sarg: %s (a format that needs more arguments: set "
                          "the argument list first)",
                          prefix, what, prefix, what, why);
    log_warn("exit module smtp: %s.%sformat / %s.%sarg: %s; using the built-in template", prefix,
             what, prefix, what, why);
    return template_compile_cols(out, def_fmt, def_args, all_cols, nall_cols);
}

static cm_err load_templates(struct smtp_state *s)
{
    cm_err rc = CM_OK;
    char prefix[128], k[160];
    for (int i = 0; i < EVENT_KINDS; i++) {
        struct tpl_set *t = &s->tpl[i];
        snprintf(prefix, sizeof(prefix), "exit.smtp.%s", kinds[i].key);
        CM_TRY(compile_pair(&t->title, s->ca->cfg, prefix, NULL, "title", defaults[i].title,
                            defaults[i].title_args, 0));
        CM_TRY(compile_pair(&t->body, s->ca->cfg, prefix, NULL, "body", defaults[i].body,
                            defaults[i].body_args, 0));
        snprintf(k, sizeof(k), "%s.titleformat", prefix);
        t->title_set = config_is_set(s->ca->cfg, k);
        snprintf(k, sizeof(k), "%s.from", prefix);
        t->from =
            text_dup(cfg_str(s->ca, k) ? cfg_str(s->ca, k) : cfg_str(s->ca, "exit.smtp.from"));
        snprintf(k, sizeof(k), "%s.to", prefix);
        t->to = text_dup(cfg_str(s->ca, k) ? cfg_str(s->ca, k) : cfg_str(s->ca, "exit.smtp.to"));
        snprintf(k, sizeof(k), "%s.cc", prefix);
        t->cc = text_dup(cfg_str(s->ca, k) ? cfg_str(s->ca, k) : cfg_str(s->ca, "exit.smtp.cc"));
        if (t->from == NULL)
            CM_FAIL(CM_ERR_CONFIG, "exit.smtp.from is not set");
        if (t->to == NULL)
            CM_FAIL(CM_ERR_CONFIG, "exit.smtp.to is not set");
    }
out:
    return rc;
}

static void smtp_shutdown(void *state)
{
    struct smtp_state *s = state;
    if (s == NULL)
        return;
    smtp_client_close(s->client);
    for (int i = 0; i < EVENT_KINDS; i++)
        tpl_free(&s->tpl[i]);
    for (size_t i = 0; i < s->nptpl; i++) {
        free(s->ptpl[i].profile);
        template_free(s->ptpl[i].title);
        template_free(s->ptpl[i].body);
    }
    free(s->ptpl);
    free(s->server);
    free(s->username);
    free(s->password_file);
    free(s->cafile);
    free(s);
}

/* A mail accepted by the server has left this machine, unless the server
 * delivers into a mailbox on this machine: exit.smtp.offbox = no says so
 * (docs/exit-modules.md, strict audit mode). */
static int smtp_offbox(void *state)
{
    return ((struct smtp_state *)state)->offbox;
}

/* Relative file names in the configuration are relative to the CA home. */
static char *home_path(const ca_ctx *ca, const char *p)
{
    char buf[PATH_MAX];
    if (p == NULL)
        return NULL;
    if (p[0] == '/')
        return strdup(p);
    snprintf(buf, sizeof(buf), "%s/%s", ca->home, p);
    return strdup(buf);
}

static cm_err smtp_init(void **out, struct ca_ctx *ca, const struct exit_ca_info *info)
{
    cm_err rc = CM_OK;
    struct smtp_state *s = NULL;
    long long port = 0;
    int64_t timeout = 30;
    const char *v;

    *out = NULL;
    CM_TRY(cols_init());
    s = calloc(1, sizeof(*s));
    CM_NOMEM_IF(s == NULL);
    s->ca = ca;
    s->info = info;
    s->opts = (struct smtp_opts)SMTP_OPTS_INIT;
    v = cfg_str(ca, "exit.smtp.server");
    if (v == NULL)
        CM_FAIL(CM_ERR_CONFIG, "exit.smtp.server is not set");
    s->server = strdup(v);
    CM_NOMEM_IF(s->server == NULL);
    s->opts.server = s->server;
    CM_TRY(config_get_int(ca->cfg, "exit.smtp.port", &port));
    s->opts.port = (int)port;
    CM_TRY(smtp_tls_parse(&s->opts.tls, config_get(ca->cfg, "exit.smtp.tls")));
    CM_TRY(smtp_auth_parse(&s->opts.auth, config_get(ca->cfg, "exit.smtp.auth")));
    s->username = text_dup(cfg_str(ca, "exit.smtp.username"));
    s->password_file = home_path(ca, cfg_str(ca, "exit.smtp.password_file"));
    s->cafile = home_path(ca, cfg_str(ca, "exit.smtp.cafile"));
    s->opts.username = s->username;
    s->opts.password_file = s->password_file;
    s->opts.cafile = s->cafile;
    CM_TRY(config_get_seconds(ca->cfg, "exit.smtp.timeout", &timeout));
    s->opts.timeout_ms = (long)timeout * 1000;
    CM_TRY(config_get_int(ca->cfg, "exit.smtp.batch_max", &s->batch_max));
    s->offbox = config_get_bool(ca->cfg, "exit.smtp.offbox");
    if (s->batch_max < 1)
        s->batch_max = 1;
    CM_TRY(load_templates(s));
    *out = s;
    s = NULL;
out:
    smtp_shutdown(s);
    return rc;
}

/* ---- Rendering ---- */

static void iso_time(char *buf, size_t sz, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(buf, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Payload fields are small JSON objects written by certmint itself. */
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
    if (strncmp(p, "false", 5) == 0)
        return 0;
    return strtoll(p, NULL, 10);
}

/* A string field of a payload certmint wrote (JSON, RFC 8259 7: the escapes
 * json_str in dispatch.c writes), decoded into a new string; NULL when
 * absent. \uXXXX escapes of controls come back as "\xHH" text. */
static char *payload_str(const char *payload, const char *field)
{
    char pat[64];
    const char *p;
    cm_buf b = CM_BUF_INIT(64 * 1024);
    char *out = NULL;
    if (payload == NULL)
        return NULL;
    snprintf(pat, sizeof(pat), "\"%s\":\"", field);
    p = strstr(payload, pat);
    if (p == NULL)
        return NULL;
    for (p += strlen(pat); *p && *p != '"'; p++) {
        if (*p == '\\' && p[1] == 'u' && strlen(p) >= 6) {
            if (buf_printf(&b, "\\x%.2s", p + 4) != CM_OK)
                goto out;
            p += 5;
            continue;
        }
        if (*p == '\\' && p[1] != '\0')
            p++;
        if (buf_append(&b, p, 1) != CM_OK)
            goto out;
    }
    out = strdup(buf_str(&b));
out:
    buf_free(&b);
    return out;
}

struct values {
    const char **v;
    char eventid[32], eventtime[32], crlnum[32];
    char revwhen[32], reveff[32], pevid[32];
    char *pstr[3]; /* PoisonedModule, PoisonedEvent, PoisonedReason */
    char *dn[3];   /* readable forms of the DN columns (dn_readable) */
    char **owned;  /* nall_cols escaped copies (value_escape), or NULL */
};

static void values_clear(struct values *vals)
{
    free(vals->v);
    for (size_t i = 0; i < sizeof(vals->dn) / sizeof(vals->dn[0]); i++)
        free(vals->dn[i]);
    for (size_t i = 0; i < sizeof(vals->pstr) / sizeof(vals->pstr[0]); i++)
        free(vals->pstr[i]);
    for (size_t i = 0; vals->owned != NULL && i < nall_cols; i++)
        free(vals->owned[i]);
    free(vals->owned);
    memset(vals, 0, sizeof(*vals));
}

/* Length of the well-formed UTF-8 sequence at p[0..n) (RFC 3629 section 4),
 * 0 if there is none. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len, i;
    unsigned cp;
    if (n == 0 || p[0] < 0xc2 || p[0] > 0xf4)
        return 0;
    len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (n < len)
        return 0;
    cp = p[0] & (0x7f >> len);
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* The database keeps distinguished names as OpenSSL's RFC 2253 printer
 * writes them (`openssl x509 -nameopt RFC2253`), with every non-ASCII byte
 * escaped: "CN=J\C3\BCrgen". RFC 4514 section 2.4 lets UTF-8 stand
 * unescaped, so the text a person reads shows "CN=Jürgen"; only escapes
 * that decode to well-formed UTF-8 are undone, every other escape stays.
 * Returns NULL when there is nothing to change (or no memory: the
 * escaped form is still correct). */
static char *dn_readable(const char *dn)
{
    size_t n = strlen(dn), i = 0, o = 0, k, b, len;
    unsigned char seq[4];
    char *out;
    if (strstr(dn, "\\") == NULL || (out = malloc(n + 1)) == NULL)
        return NULL;
    while (i < n) {
        if (dn[i] == '\\' && i + 1 < n && dn[i + 1] == '\\') {
            out[o++] = dn[i++]; /* an escaped backslash stays escaped */
            out[o++] = dn[i++];
            continue;
        }
        /* Up to four escaped bytes "\XX" in a row. */
        for (k = 0, b = i; k < 4 && b + 2 < n && dn[b] == '\\' &&
                           hex_digit_value((unsigned char)dn[b + 1]) >= 0 &&
                           hex_digit_value((unsigned char)dn[b + 2]) >= 0;
             k++, b += 3)
            seq[k] = (unsigned char)(hex_digit_value((unsigned char)dn[b + 1]) * 16 +
                                     hex_digit_value((unsigned char)dn[b + 2]));
        /* C1 controls (U+0080..U+009F) stay escaped: a terminal acts on them. */
        if ((len = utf8_seq(seq, k)) > 0 && !(len == 2 && seq[0] == 0xc2 && seq[1] < 0xa0)) {
            memcpy(out + o, seq, len);
            o += len;
            i += 3 * len;
            continue;
        }
        out[o++] = dn[i++];
    }
    out[o] = '\0';
    return out;
}

/* Does the character at p[0..n) need "\xHH"? A C0 control, DEL, a C1
 * control (U+0080..U+009F), or a byte that starts no well-formed UTF-8
 * sequence. *seq = its length (0 for a stray byte). */
static int needs_escape(const unsigned char *p, size_t n, size_t *seq)
{
    *seq = utf8_seq(p, n);
    if (p[0] < 0x80) {
        *seq = 1;
        return p[0] < 0x20 || p[0] == 0x7f;
    }
    return *seq == 0 || (*seq == 2 && p[0] == 0xc2 && p[1] < 0xa0);
}

/* A copy of v with every character needs_escape names written "\xHH" (each
 * byte), so that nothing a certificate or request carries can break a line
 * or act on a terminal (docs/mail-format.md). *out is NULL when v needs no
 * change. */
static cm_err value_escape(char **out, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t n = strlen(v), i, k, bad = 0;
    cm_buf b = CM_BUF_INIT((size_t)MIME_PART_MAX);
    cm_err rc = CM_OK;

    *out = NULL;
    for (i = 0; i < n; i += k)
        if (needs_escape(p + i, n - i, &k)) {
            bad = 1;
            if (k == 0)
                k = 1;
        }
    if (!bad)
        return CM_OK;
    for (i = 0; i < n; i += k) {
        if (needs_escape(p + i, n - i, &k)) {
            /* An invalid byte alone; a C1 control's two bytes both. */
            size_t m = k == 0 ? 1 : k;
            for (size_t j = 0; j < m; j++)
                CM_TRY(buf_printf(&b, "\\x%02X", p[i + j]));
            k = m;
        } else {
            CM_TRY(buf_append(&b, p + i, k));
        }
    }
    *out = strdup(buf_str(&b));
    CM_NOMEM_IF(*out == NULL);
out:
    buf_free(&b);
    return rc;
}

/* Replaces every value that needs it by its escaped copy (owned by vals). */
static cm_err values_escape(struct values *vals)
{
    cm_err rc = CM_OK;
    vals->owned = calloc(nall_cols, sizeof(char *));
    CM_NOMEM_IF(vals->owned == NULL);
    for (size_t i = 0; i < nall_cols; i++) {
        if (vals->v[i] == NULL)
            continue;
        CM_TRY(value_escape(&vals->owned[i], vals->v[i]));
        if (vals->owned[i] != NULL)
            vals->v[i] = vals->owned[i];
    }
out:
    return rc;
}

static void set_col(struct values *vals, const char *name, const char *v)
{
    int c = db_column_find(name);
    if (c >= 0)
        vals->v[c] = v;
}

/* The state the event recorded, not the row's state when the mail is sent
 * (an issued certificate revoked before its CERTISSUED mail left still
 * reads "issued" there; each event of a batch shows its own state). */
static void values_recorded(struct values *vals, const struct exit_event_ctx *e)
{
    int disp = 0;
    switch (e->ev->type) {
    case EXIT_EV_CERTREVOKED: {
        long long reason = payload_int(e->ev->payload, "reason", 0);
        long long eff = payload_int(e->ev->payload, "effective", e->ev->created);
        disp = DB_DISP_REVOKED;
        text_format_time(vals->revwhen, sizeof(vals->revwhen), e->ev->created);
        text_format_time(vals->reveff, sizeof(vals->reveff), (int64_t)eff);
        set_col(vals, "RevokedReason", db_reason_name((int)reason));
        set_col(vals, "RevokedWhen", vals->revwhen);
        set_col(vals, "RevokedEffectiveWhen", vals->reveff);
        break;
    }
    case EXIT_EV_CERTISSUED:
    case EXIT_EV_CERTUNREVOKED:
    case EXIT_EV_CERTRETRIEVEPENDING:
        disp = DB_DISP_ISSUED;
        set_col(vals, "RevokedReason", NULL);
        set_col(vals, "RevokedWhen", NULL);
        set_col(vals, "RevokedEffectiveWhen", NULL);
        break;
    case EXIT_EV_CERTPENDING:
        disp = DB_DISP_PENDING;
        set_col(vals, "ResolvedWhen", NULL);
        break;
    case EXIT_EV_CERTDENIED:
        disp = DB_DISP_DENIED;
        break;
    default:
        break;
    }
    if (disp != 0)
        set_col(vals, "Disposition", db_disposition_name(disp));
}

static cm_err values_fill(struct values *vals, const struct smtp_state *s,
                          const struct exit_event_ctx *e)
{
    size_t i;
    long long crl = payload_int(e->ev->payload, "crl_number", -1);
    vals->v = calloc(nall_cols, sizeof(char *));
    if (vals->v == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (i = 0; e->values != NULL && i < db_ncolumns; i++)
        vals->v[i] = e->values[i];
    if (e->values == NULL && e->ev->serial[0])
        vals->v[db_column_find("SerialNumber")] = e->ev->serial;
    if (e->values != NULL)
        values_recorded(vals, e);
    snprintf(vals->eventid, sizeof(vals->eventid), "%lld", (long long)e->ev->id);
    text_format_time(vals->eventtime, sizeof(vals->eventtime), e->ev->created);
    vals->v[db_ncolumns + PC_CANAME] = s->info->name;
    vals->v[db_ncolumns + PC_CADN] = s->info->dn;
    {
        const int dncols[3] = {db_column_find("DistinguishedName"),
                               db_column_find("RequestDistinguishedName"),
                               (int)db_ncolumns + PC_CADN};
        for (i = 0; i < 3; i++) {
            if (dncols[i] < 0 || vals->v[dncols[i]] == NULL)
                continue;
            vals->dn[i] = dn_readable(vals->v[dncols[i]]);
            if (vals->dn[i] != NULL)
                vals->v[dncols[i]] = vals->dn[i];
        }
    }
    vals->v[db_ncolumns + PC_EVENT] = exit_event_name(e->ev->type);
    vals->v[db_ncolumns + PC_EVENTID] = vals->eventid;
    vals->v[db_ncolumns + PC_EVENTTIME] = vals->eventtime;
    vals->v[db_ncolumns + PC_HOST] = s->info->hostname;
    if (crl >= 0) {
        snprintf(vals->crlnum, sizeof(vals->crlnum), "%lld", crl);
        vals->v[db_ncolumns + PC_CRLNUMBER] = vals->crlnum;
        vals->v[db_ncolumns + PC_CRLKIND] =
            payload_int(e->ev->payload, "delta", 0) ? "delta" : "full";
    }
    if (e->ev->type == EXIT_EV_EXITPOISONED) {
        snprintf(vals->pevid, sizeof(vals->pevid), "%lld",
                 payload_int(e->ev->payload, "event_id", 0));
        vals->v[db_ncolumns + PC_PEVENTID] = vals->pevid;
        vals->v[db_ncolumns + PC_PMODULE] = vals->pstr[0] = payload_str(e->ev->payload, "module");
        vals->v[db_ncolumns + PC_PEVENT] = vals->pstr[1] = payload_str(e->ev->payload, "event");
        vals->v[db_ncolumns + PC_PREASON] = vals->pstr[2] = payload_str(e->ev->payload, "reason");
    }
    return values_escape(vals);
}

/* The templates of event kind ki for this event: its profile's override
 * (exit.smtp.template.PROFILE.EVENT.*; each key not set there comes from
 * exit.smtp.EVENT.*, then the built-in default), else the event's. */
static cm_err tpl_for(const struct template **title, const struct template **body,
                      struct smtp_state *s, const struct exit_event_ctx *e, int ki)
{
    cm_err rc = CM_OK;
    int tcol = db_column_find("CertificateTemplate");
    const char *profile = e->values && tcol >= 0 ? e->values[tcol] : NULL;
    static const char *const keys[] = {"titleformat", "titlearg", "bodyformat", "bodyarg"};
    char prefix[256], fallback[64], k[300];
    struct prof_tpl pt = {NULL, ki, NULL, NULL}, *p;
    size_t i;

    *title = s->tpl[ki].title;
    *body = s->tpl[ki].body;
    if (profile == NULL)
        return CM_OK;
    for (i = 0; i < s->nptpl; i++)
        if (s->ptpl[i].ki == ki && strcmp(s->ptpl[i].profile, profile) == 0)
            break;
    if (i == s->nptpl) {
        snprintf(prefix, sizeof(prefix), "exit.smtp.template.%s.%s", profile, kinds[ki].key);
        snprintf(fallback, sizeof(fallback), "exit.smtp.%s", kinds[ki].key);
        for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
            snprintf(k, sizeof(k), "%s.%s", prefix, keys[j]);
            if (config_schema_find(k) && config_is_set(s->ca->cfg, k)) {
                CM_TRY(compile_pair(&pt.title, s->ca->cfg, prefix, fallback, "title",
                                    defaults[ki].title, defaults[ki].title_args, 0));
                CM_TRY(compile_pair(&pt.body, s->ca->cfg, prefix, fallback, "body",
                                    defaults[ki].body, defaults[ki].body_args, 0));
                break;
            }
        }
        p = realloc(s->ptpl, (s->nptpl + 1) * sizeof(*p));
        CM_NOMEM_IF(p == NULL);
        s->ptpl = p;
        pt.profile = strdup(profile);
        CM_NOMEM_IF(pt.profile == NULL);
        s->ptpl[s->nptpl++] = pt;
        memset(&pt, 0, sizeof(pt));
    }
    if (s->ptpl[i].title != NULL) {
        *title = s->ptpl[i].title;
        *body = s->ptpl[i].body;
    }
out:
    free(pt.profile);
    template_free(pt.title);
    template_free(pt.body);
    return rc;
}

/* One field of an events block from database text: control characters and
 * stray bytes escaped (value_escape), then encoded and folded. */
static cm_err put_field(cm_buf *b, const char *name, const char *v)
{
    char *esc = NULL;
    cm_err rc = value_escape(&esc, v);
    if (rc == CM_OK)
        rc = mime_format_header(b, name, esc ? esc : v);
    free(esc);
    return rc;
}

/* The request the event is about: the event's own RequestID, else the
 * certificate's (revocations are raised by serial number alone). 0: none. */
static long long ev_request_id(const struct exit_event_ctx *e)
{
    int c = db_column_find("RequestID");
    long long id = 0;
    if (e->ev->request_id > 0)
        return e->ev->request_id;
    if (e->values != NULL && c >= 0 && e->values[c] != NULL &&
        text_parse_int(&id, e->values[c], 1, INT64_MAX, "RequestID") == CM_OK)
        return id;
    return 0;
}

static cm_err events_block(cm_buf *b, const struct smtp_state *s, const struct exit_event_ctx *e)
{
    cm_err rc = CM_OK;
    char t[32];
    const char *const *v = e->values;
    int c;

    (void)s;
    iso_time(t, sizeof(t), e->ev->created);
    CM_TRY(buf_printf(b,
                      MAILFMT_HDR_EVENT ": %s\r\n" MAILFMT_HDR_EVENT_ID
                                        ": %lld\r\n" MAILFMT_HDR_WHEN ": %s\r\n",
                      exit_event_name(e->ev->type), (long long)e->ev->id, t));
    if (ev_request_id(e) > 0)
        CM_TRY(buf_printf(b, MAILFMT_HDR_REQUEST_ID ": %lld\r\n", ev_request_id(e)));
    if (e->ev->serial[0])
        CM_TRY(buf_printf(b, MAILFMT_HDR_SERIAL ": %s\r\n", e->ev->serial));
    if (v != NULL) {
        /* Encoded-words where needed and folded (RFC 5322 2.2.3): a subject
         * of any length or content gives short ASCII lines; readers unfold. */
        if ((c = db_column_find("DistinguishedName")) >= 0 && v[c] && *v[c])
            CM_TRY(put_field(b, MAILFMT_HDR_SUBJECT, v[c]));
        /* Times in the view are "YYYY-MM-DD HH:MM:SS" UTC. */
        static const char *const tcols[][2] = {{"NotBefore", MAILFMT_HDR_NOT_BEFORE},
                                               {"NotAfter", MAILFMT_HDR_NOT_AFTER}};
        for (size_t i = 0; i < 2; i++) {
            int64_t tv;
            if ((c = db_column_find(tcols[i][0])) >= 0 && v[c] &&
                text_parse_time(&tv, v[c]) == CM_OK) {
                iso_time(t, sizeof(t), tv);
                CM_TRY(buf_printf(b, "%s: %s\r\n", tcols[i][1], t));
            }
        }
        if ((c = db_column_find("CertificateTemplate")) >= 0 && v[c] && *v[c])
            CM_TRY(put_field(b, MAILFMT_HDR_PROFILE, v[c]));
        /* Who asked (recover-orphans records it again as RequesterName). */
        if ((c = db_column_find("RequesterName")) >= 0 && v[c] && *v[c])
            CM_TRY(put_field(b, MAILFMT_HDR_REQUESTER, v[c]));
    }
    if (e->ev->type == EXIT_EV_CERTREVOKED) {
        long long reason = payload_int(e->ev->payload, "reason", 0);
        long long eff = payload_int(e->ev->payload, "effective", e->ev->created);
        iso_time(t, sizeof(t), (int64_t)eff);
        CM_TRY(buf_printf(
            b, MAILFMT_HDR_REVOKED_REASON ": %s\r\n" MAILFMT_HDR_REVOKED_EFFECTIVE ": %s\r\n",
            db_reason_name((int)reason), t));
    }
    if (e->ev->type == EXIT_EV_CRLISSUED) {
        CM_TRY(buf_printf(b, MAILFMT_HDR_CRL_NUMBER ": %lld\r\n" MAILFMT_HDR_CRL_DELTA ": %s\r\n",
                          payload_int(e->ev->payload, "crl_number", 0),
                          payload_int(e->ev->payload, "delta", 0) ? "yes" : "no"));
    }
    if ((e->ev->type == EXIT_EV_CERTISSUED || e->ev->type == EXIT_EV_CERTIMPORTED) &&
        e->cert_der != NULL)
        CM_TRY(
            buf_printf(b, MAILFMT_HDR_ATTACHMENT ": %s" MAILFMT_CERT_SUFFIX "\r\n", e->ev->serial));
out:
    return rc;
}

static cm_err add_addresses(struct mime_msg *m, enum mime_addr_field f, const char *list,
                            char ***rcpts, size_t *nrcpts)
{
    cm_err rc = CM_OK;
    struct mime_addr *a = NULL;
    size_t n = 0, i;
    CM_TRY(mime_addr_parse_list(&a, &n, list));
    for (i = 0; i < n; i++) {
        CM_TRY(mime_add_address(m, f, a[i].display, a[i].addr));
        if (rcpts != NULL) {
            char **p = realloc(*rcpts, (*nrcpts + 1) * sizeof(char *));
            CM_NOMEM_IF(p == NULL);
            *rcpts = p;
            (*rcpts)[*nrcpts] = strdup(a[i].addr);
            CM_NOMEM_IF((*rcpts)[*nrcpts] == NULL);
            (*nrcpts)++;
        }
    }
out:
    mime_addr_free(a, n);
    return rc;
}

/* Characters of a Subject: the full values are in the body and the events
 * part; the header carries a summary that any reader shows whole. */
#define SUBJECT_MAX_CHARS 200
/* Body lines are wrapped at this many characters (RFC 5322 2.1.1's 78,
 * less room for a continuation indent). */
#define BODY_WRAP_CHARS 76

/* Appends a one-line summary of s (valid UTF-8): white space and controls
 * (which only a template's own \n or \t can put there) become spaces, runs
 * of spaces one, and text beyond SUBJECT_MAX_CHARS characters is cut at a
 * character boundary and marked. */
static cm_err subject_summary(cm_buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, k, chars = 0;
    int space = 0;
    cm_err rc = CM_OK;

    while (i < n && chars < SUBJECT_MAX_CHARS) {
        if (p[i] < 0x20 || p[i] == 0x7f || p[i] == ' ') {
            space = out->len > 0;
            i++;
            continue;
        }
        k = p[i] < 0x80 ? 1 : utf8_seq(p + i, n - i);
        if (k == 0) { /* not reached: values are escaped */
            i++;
            continue;
        }
        if (space) {
            CM_TRY(buf_append(out, " ", 1));
            chars++;
            space = 0;
        }
        CM_TRY(buf_append(out, p + i, k));
        chars++;
        i += k;
    }
    if (i < n)
        CM_TRY(buf_append_str(out, " [...]"));
out:
    return rc;
}

/* Appends text with every line longer than BODY_WRAP_CHARS characters
 * wrapped: broken after the last ',' or ' ' that fits (else at the limit,
 * between characters), continuation lines indented by two spaces. A long
 * subject stays readable and no line nears SMTP's 998-octet limit. */
static cm_err body_wrap(cm_buf *out, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text), i = 0, j, k, chars, brk, limit = BODY_WRAP_CHARS;
    cm_err rc = CM_OK;

    while (i < n) {
        /* One output line from p[i..]: up to the limit or a newline. */
        for (j = i, chars = 0, brk = 0; j < n && p[j] != '\n' && chars < limit; chars++) {
            k = p[j] < 0x80 ? 1 : utf8_seq(p + j, n - j);
            j += k == 0 ? 1 : k;
            if (p[j - 1] == ',' || p[j - 1] == ' ')
                brk = j;
        }
        if (j >= n || p[j] == '\n') {
            CM_TRY(buf_append(out, p + i, j - i));
            if (j < n)
                CM_TRY(buf_append(out, "\n", 1));
            i = j + 1;
            limit = BODY_WRAP_CHARS;
            continue;
        }
        if (brk > i && brk < j)
            j = brk;
        CM_TRY(buf_append(out, p + i, j - i));
        CM_TRY(buf_append_str(out, "\n  "));
        i = j;
        limit = BODY_WRAP_CHARS - 2; /* the continuation's indent */
    }
out:
    return rc;
}

/* A mail being built: the message and its envelope. */
struct mail {
    cm_buf msg;
    struct mime_addr *from;
    size_t nfrom;
    char **rcpts;
    size_t nrcpts;
    char id[256];
};

static void mail_clear(struct mail *ml)
{
    mime_addr_free(ml->from, ml->nfrom);
    for (size_t i = 0; i < ml->nrcpts; i++)
        free(ml->rcpts[i]);
    free(ml->rcpts);
    buf_free(&ml->msg);
}

/* Subject and body of evs[0..n): each event's body from its template,
 * wrapped; one event's subject from its template, a batch's from the first
 * event's configured subject template (when one is set) or the built-in
 * batch subject, and the names of its events. */
static cm_err render_text(cm_buf *subject, cm_buf *body, cm_buf *events, char *names, size_t namesz,
                          struct smtp_state *s, const struct exit_event_ctx *const *evs, size_t n)
{
    cm_err rc = CM_OK;
    cm_buf raw = CM_BUF_INIT(MIME_PART_MAX), title = CM_BUF_INIT(MIME_PART_MAX);
    struct values vals = {0};
    int custom_title = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct exit_event_ctx *e = evs[i];
        const struct template *tt = NULL, *bt = NULL;
        int k = kind_index(e->ev->type);

        values_clear(&vals);
        CM_TRY(values_fill(&vals, s, e));
        CM_TRY(tpl_for(&tt, &bt, s, e, k));
        if (i == 0) {
            CM_TRY(template_render(&title, tt, vals.v, nall_cols));
            custom_title = s->tpl[k].title_set || tt != s->tpl[k].title;
        }
        buf_reset(&raw);
        CM_TRY(template_render(&raw, bt, vals.v, nall_cols));
        if (i > 0)
            CM_TRY(buf_append_str(body, BODY_SEPARATOR));
        CM_TRY(body_wrap(body, buf_str(&raw)));
        if (i > 0)
            CM_TRY(buf_append_str(events, "\r\n"));
        CM_TRY(events_block(events, s, e));
        if (strstr(names, exit_event_name(e->ev->type)) == NULL) {
            size_t l = strlen(names);
            snprintf(names + l, namesz - l, "%s%s", l ? "," : "", exit_event_name(e->ev->type));
        }
    }
    if (n == 1 || custom_title) {
        CM_TRY(subject_summary(subject, buf_str(&title)));
        if (n > 1)
            CM_TRY(buf_printf(subject, " (+%zu more: %s)", n - 1, names));
    } else {
        CM_TRY(buf_printf(subject, "[%s] %zu events: %s", s->info->name, n, names));
    }
out:
    values_clear(&vals);
    buf_free(&raw);
    buf_free(&title);
    return rc;
}

/* Builds the mail for evs[0..n) (n >= 1, same recipients) into ml. */
static cm_err build_mail(struct mail *ml, struct smtp_state *s,
                         const struct exit_event_ctx *const *evs, size_t n)
{
    cm_err rc = CM_OK;
    struct mime_msg *m = NULL;
    cm_buf subject = CM_BUF_INIT(MIME_VALUE_MAX), body = CM_BUF_INIT(MIME_PART_MAX),
           events = CM_BUF_INIT(MIME_PART_MAX);
    const struct tpl_set *t = &s->tpl[kind_index(evs[0]->ev->type)];
    char kid16[17], names[512] = "", num[64];
    size_t i;

    CM_TRY(mime_new(&m));
    CM_TRY(mime_addr_parse_list(&ml->from, &ml->nfrom, t->from));
    CM_TRY(mime_add_address(m, MIME_FROM, ml->from[0].display, ml->from[0].addr));
    CM_TRY(add_addresses(m, MIME_TO, t->to, &ml->rcpts, &ml->nrcpts));
    if (t->cc != NULL)
        CM_TRY(add_addresses(m, MIME_CC, t->cc, &ml->rcpts, &ml->nrcpts));
    CM_TRY(render_text(&subject, &body, &events, names, sizeof(names), s, evs, n));
    CM_TRY(mime_set_subject(m, buf_str(&subject)));
    CM_TRY(mime_set_date(m, (int64_t)time(NULL)));
    /* The same events always give the same Message-ID: a mail sent again
     * after a failure is recognisable as a duplicate. */
    snprintf(kid16, sizeof(kid16), "%.16s", s->info->key_id);
    if (n == 1)
        snprintf(ml->id, sizeof(ml->id), MAILFMT_MSGID_PREFIX "%s.%lld@%s", kid16,
                 (long long)evs[0]->ev->id, s->info->hostname);
    else
        snprintf(ml->id, sizeof(ml->id), MAILFMT_MSGID_PREFIX "%s.%lld-%lld@%s", kid16,
                 (long long)evs[0]->ev->id, (long long)evs[n - 1]->ev->id, s->info->hostname);
    if (mime_set_message_id(m, ml->id) != CM_OK) {
        snprintf(ml->id, sizeof(ml->id), MAILFMT_MSGID_PREFIX "%s.%lld-%lld@certmint.invalid",
                 kid16, (long long)evs[0]->ev->id, (long long)evs[n - 1]->ev->id);
        CM_TRY(mime_set_message_id(m, ml->id));
    }
    CM_TRY(mime_add_header(m, MAILFMT_HDR_CA, s->info->dn));
    CM_TRY(mime_add_header(m, MAILFMT_HDR_CA_KEY_ID, s->info->key_id));
    CM_TRY(mime_add_header(m, MAILFMT_HDR_EVENT, names));
    if (n == 1)
        snprintf(num, sizeof(num), "%lld", (long long)evs[0]->ev->id);
    else
        snprintf(num, sizeof(num), "%lld-%lld", (long long)evs[0]->ev->id,
                 (long long)evs[n - 1]->ev->id);
    CM_TRY(mime_add_header(m, MAILFMT_HDR_EVENT_ID, num));
    if (ev_request_id(evs[0]) > 0) {
        snprintf(num, sizeof(num), "%lld", ev_request_id(evs[0]));
        CM_TRY(mime_add_header(m, MAILFMT_HDR_REQUEST_ID, num));
    }
    if (evs[0]->ev->serial[0])
        CM_TRY(mime_add_header(m, MAILFMT_HDR_SERIAL, evs[0]->ev->serial));
    snprintf(num, sizeof(num), "%zu", n);
    CM_TRY(mime_add_header(m, MAILFMT_HDR_EVENT_COUNT, num));
    CM_TRY(mime_add_text(m, buf_str(&body)));
    CM_TRY(mime_add_part(m, MAILFMT_EVENTS_CONTENT_TYPE, "inline", MAILFMT_EVENTS_FILENAME,
                         events.data, events.len));
    for (i = 0; i < n; i++) {
        const struct exit_event_ctx *e = evs[i];
        char fname[CM_SERIAL_BUF + 8];
        if ((e->ev->type != EXIT_EV_CERTISSUED && e->ev->type != EXIT_EV_CERTIMPORTED) ||
            e->cert_der == NULL)
            continue;
        snprintf(fname, sizeof(fname), "%s" MAILFMT_CERT_SUFFIX, e->ev->serial);
        CM_TRY(
            mime_add_attachment(m, MAILFMT_CERT_CONTENT_TYPE, fname, e->cert_der, e->cert_der_len));
    }
    CM_TRY(mime_render(&ml->msg, m));
out:
    mime_free(m);
    buf_free(&subject);
    buf_free(&body);
    buf_free(&events);
    return rc;
}

/* Builds and sends one mail for evs[0..n) (n >= 1, same recipients).
 * *poison = 1 when the failure belongs to these events, not to the server
 * or the configuration: the mail cannot be rendered, or the server refused
 * its content with a 5xx reply (docs/exit-modules.md, poisoned events). */
static cm_err send_mail(struct smtp_state *s, const struct exit_event_ctx *const *evs, size_t n,
                        int *poison)
{
    cm_err rc = CM_OK;
    struct mail ml;
    int permanent = 0;

    memset(&ml, 0, sizeof(ml));
    ml.msg = (cm_buf)CM_BUF_INIT((size_t)512 * 1024 * 1024);
    *poison = 0;
    rc = build_mail(&ml, s, evs, n);
    if (rc != CM_OK) {
        *poison = rc != CM_ERR_NOMEM;
        cm_err_prefix(rc, "cannot render the mail");
        goto out;
    }
    if (s->client == NULL)
        CM_TRY(smtp_client_open(&s->client, &s->opts));
    rc = smtp_client_send(s->client, ml.from[0].addr, (const char *const *)ml.rcpts, ml.nrcpts,
                          ml.msg.data, ml.msg.len, &permanent);
    if (rc != CM_OK) {
        *poison = smtp_client_content_refused(s->client);
        /* A broken connection is not reused. */
        smtp_client_close(s->client);
        s->client = NULL;
        if (permanent)
            cm_err_prefix(rc, "permanent failure");
        goto out;
    }
    log_debug("exit module smtp: sent %s (%zu event%s): %s", ml.id, n, n == 1 ? "" : "s",
              smtp_client_last_reply(s->client));
out:
    mail_clear(&ml);
    return rc;
}

static int same_route(const struct smtp_state *s, int a, int b)
{
    const struct tpl_set *x = &s->tpl[a], *y = &s->tpl[b];
    return strcmp(x->from, y->from) == 0 && strcmp(x->to, y->to) == 0 &&
           ((x->cc == NULL && y->cc == NULL) || (x->cc && y->cc && strcmp(x->cc, y->cc) == 0));
}

/* Sends evs[0..n) one mail each, to find which event of a refused batch
 * is the poisoned one: *acked counts those sent before it. */
static cm_err send_each(struct smtp_state *s, const struct exit_event_ctx *const *evs, size_t n,
                        size_t *acked, int *poison)
{
    cm_err rc;
    for (size_t i = 0; i < n; i++) {
        rc = send_mail(s, evs + i, 1, poison);
        if (rc != CM_OK)
            return rc;
        (*acked)++;
    }
    return CM_OK;
}

static cm_err smtp_deliver(void *state, const struct exit_event_ctx *const *evs, size_t n,
                           size_t *acked, int *poison)
{
    struct smtp_state *s = state;
    size_t i = 0, j;
    cm_err rc;

    *acked = 0;
    *poison = 0;
    while (i < n) {
        int ki = kind_index(evs[i]->ev->type);
        if (ki < 0) {
            (*acked)++; /* not an event this module mails */
            i++;
            continue;
        }
        /* A batch: consecutive events with the same route, up to batch_max. */
        for (j = i + 1; j < n && (long long)(j - i) < s->batch_max; j++) {
            int kj = kind_index(evs[j]->ev->type);
            if (kj < 0 || !same_route(s, ki, kj))
                break;
        }
        rc = send_mail(s, evs + i, j - i, poison);
        /* One event's content spoils the whole batch: the others go alone. */
        if (rc != CM_OK && *poison && j - i > 1)
            rc = send_each(s, evs + i, j - i, acked, poison);
        else if (rc == CM_OK)
            *acked += j - i;
        if (rc != CM_OK)
            return rc;
        /* One mail per call: the dispatcher records its events before the
         * next mail goes (exit.h: a prefix taken with CM_OK). */
        return CM_OK;
    }
    return CM_OK;
}

/* ---- Configuration keys ---- */

struct tpl_check {
    const cm_config *cfg;
    cm_err rc;
};

/* For each set key exit.smtp.template.PROFILE.EVENT.*: that pair compiles. */
static void check_profile_key(void *ctx, const char *key, const char *value)
{
    struct tpl_check *c = ctx;
    static const char pre[] = "exit.smtp.template.";
    char prefix[256], fallback[64];
    const char *dot;
    int ki;
    struct template *t = NULL;
    (void)value;
    if (c->rc != CM_OK || strncmp(key, pre, sizeof(pre) - 1) != 0 ||
        (dot = strrchr(key, '.')) == NULL || (size_t)(dot - key) >= sizeof(prefix))
        return;
    snprintf(prefix, sizeof(prefix), "%.*s", (int)(dot - key), key);
    for (ki = 0; ki < EVENT_KINDS; ki++) {
        size_t kl = strlen(kinds[ki].key), pl = strlen(prefix);
        if (pl > kl && prefix[pl - kl - 1] == '.' && strcmp(prefix + pl - kl, kinds[ki].key) == 0)
            break;
    }
    if (ki == EVENT_KINDS)
        return; /* not an event this module knows: never used */
    snprintf(fallback, sizeof(fallback), "exit.smtp.%s", kinds[ki].key);
    c->rc = compile_pair(&t, c->cfg, prefix, fallback, "title", defaults[ki].title,
                         defaults[ki].title_args, 1);
    template_free(t);
    t = NULL;
    if (c->rc == CM_OK)
        c->rc = compile_pair(&t, c->cfg, prefix, fallback, "body", defaults[ki].body,
                             defaults[ki].body_args, 1);
    template_free(t);
}

static cm_err smtp_check_templates(const cm_config *cfg)
{
    cm_err rc = CM_OK;
    char prefix[128];
    struct template *t = NULL;
    struct tpl_check c = {cfg, CM_OK};

    CM_TRY(cols_init());
    for (int i = 0; i < EVENT_KINDS; i++) {
        snprintf(prefix, sizeof(prefix), "exit.smtp.%s", kinds[i].key);
        CM_TRY(compile_pair(&t, cfg, prefix, NULL, "title", defaults[i].title,
                            defaults[i].title_args, 1));
        template_free(t);
        t = NULL;
        CM_TRY(compile_pair(&t, cfg, prefix, NULL, "body", defaults[i].body, defaults[i].body_args,
                            1));
        template_free(t);
        t = NULL;
    }
    config_foreach(cfg, check_profile_key, &c);
    rc = c.rc;
out:
    template_free(t);
    return rc;
}

static cm_err check_args(char **out, const struct config_key *k, const char *old, const char *in)
{
    struct template *t = NULL;
    cm_err rc;
    (void)k;
    (void)old;
    if ((rc = cols_init()) != CM_OK)
        return rc;
    /* Unknown column names are a configuration error when set. */
    rc = template_compile_cols(&t, "", in, all_cols, nall_cols);
    template_free(t);
    if (rc != CM_OK)
        return rc;
    *out = strdup(in);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

static cm_err check_addrs(char **out, const struct config_key *k, const char *old, const char *in)
{
    struct mime_addr *a = NULL;
    size_t n = 0;
    cm_err rc;
    (void)k;
    (void)old;
    rc = mime_addr_parse_list(&a, &n, in);
    mime_addr_free(a, n);
    if (rc != CM_OK)
        return cm_err_set(CM_ERR_CONFIG, "%s", cm_err_msg());
    *out = strdup(in);
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

static cm_err check_auth(char **out, const struct config_key *k, const char *old, const char *in)
{
    enum smtp_auth a;
    (void)k;
    (void)old;
    if (smtp_auth_parse(&a, in) != CM_OK)
        return CM_ERR_CONFIG;
    *out = strdup(smtp_auth_name(a));
    return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
}

static const struct config_key smtp_keys[] = {
    {"exit.smtp.server", CFG_STRING, NULL, 0, 0, NULL, NULL, "mail server host name or address"},
    {"exit.smtp.port", CFG_INT, "0", 0, 65535, NULL, NULL,
     "mail server port (0: 25, or 465 with exit.smtp.tls tls)"},
    {"exit.smtp.tls", CFG_ENUM, "starttls", 0, 0, "none|starttls|tls", NULL,
     "none, STARTTLS (required), or implicit TLS"},
    {"exit.smtp.cafile", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "PEM CA certificates that verify the mail server (default: the system's)"},
    {"exit.smtp.auth", CFG_CUSTOM, "none", 0, 0, NULL, check_auth,
     "none, plain, login, basic, ntlm, gssapi; AD CS's SMTPAuthenticate 0, 1, 2 also"},
    {"exit.smtp.username", CFG_STRING, NULL, 0, 0, NULL, NULL, "user name for AUTH"},
    {"exit.smtp.password_file", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "file whose first line is the AUTH password (never on a command line)"},
    {"exit.smtp.timeout", CFG_DURATION, "30s", 0, 0, NULL, NULL,
     "deadline for one mail: connect, TLS, AUTH, transfer, reply"},
    {"exit.smtp.eventfilter", CFG_CUSTOM, EXIT_FILTER_ALL_NAMES, 0, 0, NULL, exit_check_eventfilter,
     "events mailed (AD CS EventFilter: names, +NAME/-NAME edits, or a mask)"},
    {"exit.smtp.from", CFG_CUSTOM, NULL, 0, 0, NULL, check_addrs, "From: of every mail"},
    {"exit.smtp.to", CFG_CUSTOM, NULL, 0, 0, NULL, check_addrs,
     "To: of every mail (several addresses, comma separated)"},
    {"exit.smtp.cc", CFG_CUSTOM, NULL, 0, 0, NULL, check_addrs, "Cc: of every mail"},
    {"exit.smtp.offbox", CFG_BOOL, "yes", 0, 0, NULL, NULL,
     "the mail server is another machine: its acknowledgement releases certificates in strict "
     "audit mode (no: it delivers into a mailbox on this machine)"},
    {"exit.smtp.batch_max", CFG_INT, "100", 1, 10000, NULL, NULL,
     "events that may share one mail under a burst (1 = one mail per event)"},
    {"exit.smtp.batch_window", CFG_INT, "0", 0, 60000, NULL, NULL,
     "milliseconds certmint serve waits for more events before mailing a part-filled batch"},
    {"exit.smtp.*.from", CFG_CUSTOM, NULL, 0, 0, NULL, check_addrs,
     "From: for one event (issued, pending, denied, revoked, retrievepending, crlissued, "
     "shutdown, startup, unrevoked, imported, expiring)"},
    {"exit.smtp.*.to", CFG_CUSTOM, NULL, 0, 0, NULL, check_addrs, "To: for one event"},
    {"exit.smtp.*.cc", CFG_CUSTOM, NULL, 0, 0, NULL, check_addrs, "Cc: for one event"},
    {"exit.smtp.*.titleformat", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "subject format for one event (%1.. = its titlearg columns)"},
    {"exit.smtp.*.titlearg", CFG_CUSTOM, NULL, 0, 0, NULL, check_args,
     "database columns for the subject, comma separated"},
    {"exit.smtp.*.bodyformat", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "body format for one event (\\n for newlines)"},
    {"exit.smtp.*.bodyarg", CFG_CUSTOM, NULL, 0, 0, NULL, check_args,
     "database columns for the body, comma separated"},
    {"exit.smtp.template.*.*.titleformat", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "per-profile subject format: exit.smtp.template.PROFILE.EVENT.titleformat"},
    {"exit.smtp.template.*.*.titlearg", CFG_CUSTOM, NULL, 0, 0, NULL, check_args,
     "per-profile subject columns"},
    {"exit.smtp.template.*.*.bodyformat", CFG_STRING, NULL, 0, 0, NULL, NULL,
     "per-profile body format"},
    {"exit.smtp.template.*.*.bodyarg", CFG_CUSTOM, NULL, 0, 0, NULL, check_args,
     "per-profile body columns"},
    {NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};

const struct exit_module_ops exit_smtp_ops = {
    .version = EXIT_MODULE_VERSION,
    .name = "smtp",
    .description = "one mail per event (or per burst) through an SMTP server, with the "
                   "certificate and a machine-readable events part",
    .keys = smtp_keys,
    .check_config = smtp_check_templates,
    .offbox = smtp_offbox,
    .init = smtp_init,
    .deliver = smtp_deliver,
    .shutdown = smtp_shutdown,
};

/* ---- Enrollment token mail (issue 12, docs/tokens.md) ----
 * The SMTP module's server, TLS, AUTH and From, its own template
 * (exit.smtp.token.titleformat / bodyformat, columns below). The mail goes
 * to the token's address only: never to exit.smtp.to/cc, so the off-box
 * trail never carries a token value (the audit log records the issue). */
enum { TK_CANAME, TK_TOKEN, TK_ID, TK_PROFILE, TK_EMAIL, TK_EXPIRES, TK__COUNT };
static const struct db_column token_cols[TK__COUNT] = {
    {"CAName", DB_COL_TEXT, 0}, {"Token", DB_COL_TEXT, 0},   {"TokenID", DB_COL_TEXT, 0},
    {"Profile", DB_COL_TEXT, 0}, {"EMail", DB_COL_TEXT, 0}, {"Expires", DB_COL_TEXT, 0},
};
#define TOKEN_TITLE "[%1] Your certificate enrollment token"
#define TOKEN_TITLE_ARGS "CAName"
#define TOKEN_BODY                                                                                 \
    "%1 invites %2 to enroll for a certificate (profile %3).\n\n"                                  \
    "Your one-time enrollment token (valid until %4 UTC, for one certificate):\n\n%5\n\n"          \
    "Save it in a file and run: certmint submit --token-file FILE YOUR.csr\n"                      \
    "(or paste it into the enrollment page). Token ID: %6\n"
#define TOKEN_BODY_ARGS "CAName,EMail,Profile,Expires,Token,TokenID"

static cm_err token_tpl(struct template **out, const cm_config *cfg, const char *what,
                        const char *deffmt, const char *defargs)
{
    char kf[64], ka[64];
    const char *f, *a;

    snprintf(kf, sizeof(kf), "exit.smtp.token.%sformat", what);
    snprintf(ka, sizeof(ka), "exit.smtp.token.%sarg", what);
    f = config_is_set(cfg, kf) ? config_get(cfg, kf) : deffmt;
    a = config_is_set(cfg, ka) ? config_get(cfg, ka) : defargs;
    return template_compile_cols(out, f, a, token_cols, TK__COUNT);
}

static cm_err token_render(cm_buf *subject, cm_buf *body, const cm_config *cfg,
                           const char *const *vals)
{
    struct template *t = NULL, *b = NULL;
    cm_err rc;

    CM_TRY(token_tpl(&t, cfg, "title", TOKEN_TITLE, TOKEN_TITLE_ARGS));
    CM_TRY(token_tpl(&b, cfg, "body", TOKEN_BODY, TOKEN_BODY_ARGS));
    CM_TRY(template_render(subject, t, vals, TK__COUNT));
    CM_TRY(template_render(body, b, vals, TK__COUNT));
out:
    template_free(t);
    template_free(b);
    return rc;
}

/* long: one mail from configuration to the wire, each part's cleanup */
cm_err exit_smtp_mail_token(struct ca_ctx *ca, const struct exit_token_mail *tm)
{
    struct exit_ca_info info = {NULL, "", "", "localhost"};
    struct smtp_state *s = NULL;
    struct mime_msg *m = NULL;
    struct mime_addr *from = NULL;
    size_t nfrom = 0;
    cm_buf subject = CM_BUF_INIT(MIME_VALUE_MAX), body = CM_BUF_INIT(MIME_PART_MAX),
           msg = CM_BUF_INIT(MIME_PART_MAX);
    char exp[32], *cn = NULL;
    const char *vals[TK__COUNT], *rcpt[1] = {tm->email};
    int permanent = 0;
    cm_err rc;

    if (cfg_str(ca, "ca.name") != NULL)
        info.name = cfg_str(ca, "ca.name");
    else if (ca->cert != NULL && name_get_cn(&cn, X509_get_subject_name(ca->cert)) == CM_OK)
        info.name = cn;
    if (info.name == NULL)
        info.name = "certmint";
    CM_TRY(smtp_init((void **)&s, ca, &info));
    iso_time(exp, sizeof(exp), tm->expires);
    exp[10] = ' ';
    exp[19] = '\0';
    vals[TK_CANAME] = info.name;
    vals[TK_TOKEN] = tm->token;
    vals[TK_ID] = tm->id;
    vals[TK_PROFILE] = tm->profile;
    vals[TK_EMAIL] = tm->email;
    vals[TK_EXPIRES] = exp;
    CM_TRY(token_render(&subject, &body, ca->cfg, vals));
    CM_TRY(mime_new(&m));
    CM_TRY(mime_addr_parse_list(&from, &nfrom, s->tpl[0].from));
    CM_TRY(mime_add_address(m, MIME_FROM, from[0].display, from[0].addr));
    CM_TRY(mime_add_address(m, MIME_TO, NULL, tm->email));
    CM_TRY(mime_set_subject(m, buf_str(&subject)));
    CM_TRY(mime_set_date(m, (int64_t)time(NULL)));
    CM_TRY(mime_add_text(m, buf_str(&body)));
    CM_TRY(mime_render(&msg, m));
    CM_TRY(smtp_client_open(&s->client, &s->opts));
    CM_TRY(smtp_client_send(s->client, from[0].addr, rcpt, 1, msg.data, msg.len, &permanent));
out:
    if (body.data != NULL)
        OPENSSL_cleanse(body.data, body.len);
    if (msg.data != NULL)
        OPENSSL_cleanse(msg.data, msg.len);
    buf_free(&subject);
    buf_free(&body);
    buf_free(&msg);
    mime_addr_free(from, nfrom);
    mime_free(m);
    smtp_shutdown(s);
    free(cn);
    return rc;
}
