/* CRL lint: the rules every TBSCertList must pass before it is signed.
 *
 * The rules read the DER that is about to be signed, not the encoder's
 * inputs, so an encoder bug cannot slip past them. One linear pass, no
 * allocation: a million-entry CRL is checked in tens of milliseconds. */
#include "crl/crl.h"
#include "util/der.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const unsigned char oid_reason_code[] = {0x55, 0x1d, 0x15};
static const unsigned char oid_invalidity_date[] = {0x55, 0x1d, 0x18};
static const unsigned char oid_crl_number[] = {0x55, 0x1d, 0x14};
static const unsigned char oid_delta_crl[] = {0x55, 0x1d, 0x1b};
static const unsigned char oid_aki[] = {0x55, 0x1d, 0x23};
static const unsigned char oid_freshest[] = {0x55, 0x1d, 0x2e};

#define MAX_EXTS 32

static cm_err lint_fail(const char *rule, const char *ref, const char *fmt, ...) CM_PRINTF(3, 4);

static cm_err lint_fail(const char *rule, const char *ref, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cm_err_set(CM_ERR_LINT, "CRL lint %s (RFC 5280 %s): %s", rule, ref, msg);
}

static cm_err der_bad(const char *what)
{
    return lint_fail("crl.der", "5.1", "%s is not well-formed DER", what);
}

static int oid_is(const struct der_tlv *t, const unsigned char *oid, size_t n)
{
    return t->len == n && memcmp(t->v, oid, n) == 0;
}

/* Serial content octets as upper-case hex for messages (first 32 octets).
 * Only formatted when a rule fails: this is on every entry's path. */
static const char *serial_text(char out[68], const struct der_tlv *s)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t i, n = s->len < 32 ? s->len : 32;
    for (i = 0; i < n; i++) {
        out[2 * i] = hx[s->v[i] >> 4];
        out[2 * i + 1] = hx[s->v[i] & 15];
    }
    out[2 * n] = '\0';
    if (s->len > 32)
        memcpy(out + 2 * n, "..", 3);
    return out;
}

/* A Time (5.1.2.4): DER form, and UTCTime exactly for the years 1950-2049. */
static cm_err lint_time(int64_t *out, const struct der_tlv *t, const char *what)
{
    int year;

    if (t->tag != DER_UTCTIME && t->tag != DER_GENERALIZEDTIME)
        return lint_fail("crl.time.format", "5.1.2.4", "%s is not a UTCTime or GeneralizedTime",
                         what);
    if (der_parse_time(out, t) != 0)
        return lint_fail("crl.time.format", "5.1.2.4",
                         "%s '%.*s' is not YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ", what,
                         (int)(t->len < 32 ? t->len : 32), (const char *)t->v);
    /* UTCTime can only hold 1950..2049, so only GeneralizedTime can be
     * wrongly chosen: for a year before 2050. */
    if (t->tag == DER_GENERALIZEDTIME) {
        year =
            (t->v[0] - '0') * 1000 + (t->v[1] - '0') * 100 + (t->v[2] - '0') * 10 + (t->v[3] - '0');
        if (year < 2050)
            return lint_fail("crl.time.encoding", "5.1.2.4",
                             "%s in %d is a GeneralizedTime; years through 2049 must be "
                             "UTCTime",
                             what, year);
    }
    return CM_OK;
}

/* Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 * extnValue OCTET STRING } (4.1). */
static cm_err parse_ext(struct der_tlv *oid, int *critical, struct der_tlv *val,
                        const struct der_tlv *ext)
{
    const unsigned char *p = ext->v, *end = ext->v + ext->len;
    struct der_tlv t;

    if (ext->tag != DER_SEQUENCE || der_next(oid, &p, end) != 0 || oid->tag != DER_OID ||
        oid->len == 0 || der_next(&t, &p, end) != 0)
        return der_bad("an extension");
    *critical = 0;
    if (t.tag == DER_BOOLEAN) {
        /* DER: a BOOLEAN equal to its DEFAULT is omitted, and TRUE is 0xff. */
        if (t.len != 1 || t.v[0] != 0xff || der_next(&t, &p, end) != 0)
            return der_bad("an extension's critical flag");
        *critical = 1;
    }
    if (t.tag != DER_OCTET_STRING || p != end)
        return der_bad("an extension value");
    *val = t;
    return CM_OK;
}

/* No extension twice in one list (4.2). Returns 0, or -1 with the rule's
 * message to be completed by the caller (see dup_fail). */
static int check_dup(struct der_tlv *seen, size_t *nseen, const struct der_tlv *oid)
{
    size_t i;
    for (i = 0; i < *nseen; i++)
        if (seen[i].len == oid->len && memcmp(seen[i].v, oid->v, oid->len) == 0)
            return -1;
    if (*nseen >= MAX_EXTS)
        return -1;
    seen[(*nseen)++] = *oid;
    return 0;
}

static cm_err dup_fail(const char *where)
{
    return lint_fail("crl.ext.duplicate", "4.2",
                     "an extension appears twice in %s (or more than %d extensions)", where,
                     MAX_EXTS);
}

/* The single INTEGER/ENUMERATED inside an extension value. */
static int ext_int(struct der_tlv *out, const struct der_tlv *val, unsigned tag)
{
    const unsigned char *p = val->v, *end = val->v + val->len;
    if (der_next(out, &p, end) != 0 || out->tag != tag || out->len == 0 || p != end)
        return -1;
    /* Minimal two's complement (X.690 8.3.2). */
    if (out->len > 1 &&
        ((out->v[0] == 0 && !(out->v[1] & 0x80)) || (out->v[0] == 0xff && (out->v[1] & 0x80))))
        return -1;
    return 0;
}

struct entry_state {
    int64_t n;
    char first_remove[68]; /* serial of the first removeFromCRL entry */
};

static cm_err lint_entry_exts(struct entry_state *st, const struct der_tlv *exts,
                              const struct der_tlv *ser)
{
    const unsigned char *p = exts->v, *end = exts->v + exts->len;
    struct der_tlv ext, oid, val, x, seen[MAX_EXTS];
    size_t nseen = 0;
    int critical;
    int64_t v;
    cm_err rc;
    char serial[68], where[96];

    if (exts->tag != DER_SEQUENCE || exts->len == 0)
        return der_bad("crlEntryExtensions");
    while (p < end) {
        if (der_next(&ext, &p, end) != 0)
            return der_bad("crlEntryExtensions");
        if ((rc = parse_ext(&oid, &critical, &val, &ext)) != CM_OK)
            return rc;
        if (check_dup(seen, &nseen, &oid) != 0) {
            snprintf(where, sizeof(where), "the entry of serial %s", serial_text(serial, ser));
            return dup_fail(where);
        }
        if (oid_is(&oid, oid_reason_code, sizeof(oid_reason_code))) {
            if (critical)
                return lint_fail("crl.entry.ext.critical", "5.3.1",
                                 "reasonCode of serial %s is critical", serial_text(serial, ser));
            if (ext_int(&x, &val, DER_ENUMERATED) != 0 || der_parse_int64(&v, x.v, x.len) != 0)
                return der_bad("a reasonCode");
            if (v == 0)
                return lint_fail("crl.entry.reason.unspecified", "5.3.1",
                                 "serial %s has reasonCode unspecified(0); the extension must "
                                 "be absent instead",
                                 serial_text(serial, ser));
            if (v < 0 || v == 7 || v > 10)
                return lint_fail("crl.entry.reason.value", "5.3.1",
                                 "serial %s has reasonCode %lld, not a CRLReason",
                                 serial_text(serial, ser), (long long)v);
            if (v == DB_REASON_REMOVE_FROM_CRL && st->first_remove[0] == '\0')
                serial_text(st->first_remove, ser);
        } else if (oid_is(&oid, oid_invalidity_date, sizeof(oid_invalidity_date))) {
            const unsigned char *q = val.v;
            int64_t t;
            if (critical)
                return lint_fail("crl.entry.ext.critical", "5.3.2",
                                 "invalidityDate of serial %s is critical",
                                 serial_text(serial, ser));
            if (der_next(&x, &q, val.v + val.len) != 0 || q != val.v + val.len ||
                x.tag != DER_GENERALIZEDTIME || der_parse_time(&t, &x) != 0)
                return lint_fail("crl.entry.invalidity", "5.3.2",
                                 "invalidityDate of serial %s is not a GeneralizedTime "
                                 "YYYYMMDDHHMMSSZ",
                                 serial_text(serial, ser));
        } else if (critical) {
            return lint_fail("crl.entry.ext.critical", "5.3",
                             "serial %s has an unknown critical entry extension",
                             serial_text(serial, ser));
        }
    }
    return CM_OK;
}

static cm_err lint_entries(struct entry_state *st, const struct der_tlv *list)
{
    const unsigned char *p = list->v, *end = list->v + list->len, *q, *qe;
    struct der_tlv e, ser, tm, exts;
    char serial[68];
    int64_t t;
    size_t mag;
    cm_err rc;

    /* 5.1.2.6: when there are no revoked certificates the list is absent. */
    if (list->len == 0)
        return lint_fail("crl.revoked.empty", "5.1.2.6",
                         "revokedCertificates is present but empty");
    while (p < end) {
        if (der_next(&e, &p, end) != 0 || e.tag != DER_SEQUENCE)
            return der_bad("a revokedCertificates entry");
        q = e.v;
        qe = e.v + e.len;
        if (der_next(&ser, &q, qe) != 0 || ser.tag != DER_INTEGER || ser.len == 0)
            return der_bad("an entry's userCertificate");
        if (ser.len > 1 &&
            ((ser.v[0] == 0 && !(ser.v[1] & 0x80)) || (ser.v[0] == 0xff && (ser.v[1] & 0x80))))
            return der_bad("an entry's serial (not minimal)");
        /* 4.1.2.2: serial numbers are positive integers of at most 20
         * octets (counted without the sign octet, as text_serial_canon). */
        if ((ser.v[0] & 0x80) || (ser.len == 1 && ser.v[0] == 0))
            return lint_fail("crl.entry.serial.positive", "4.1.2.2",
                             "entry %lld has serial %s, not a positive integer",
                             (long long)st->n + 1, serial_text(serial, &ser));
        mag = ser.len - (ser.v[0] == 0);
        if (mag > 20)
            return lint_fail("crl.entry.serial.length", "4.1.2.2",
                             "serial %s is %zu octets long, more than 20",
                             serial_text(serial, &ser), mag);
        if (der_next(&tm, &q, qe) != 0)
            return der_bad("an entry's revocationDate");
        if ((rc = lint_time(&t, &tm, "a revocationDate")) != CM_OK)
            return cm_err_prefix(rc, "serial %s", serial_text(serial, &ser));
        if (q < qe) {
            if (der_next(&exts, &q, qe) != 0 || q != qe)
                return der_bad("an entry's crlEntryExtensions");
            if ((rc = lint_entry_exts(st, &exts, &ser)) != CM_OK)
                return rc;
        }
        st->n++;
    }
    return CM_OK;
}

struct crl_exts {
    int have_number, have_delta, have_aki, have_freshest;
    int64_t number, base;
};

static cm_err lint_crl_exts(struct crl_exts *ce, const struct der_tlv *wrap)
{
    const unsigned char *p = wrap->v, *end = wrap->v + wrap->len;
    struct der_tlv list, ext, oid, val, x, seen[MAX_EXTS];
    size_t nseen = 0;
    int critical;
    cm_err rc;

    if (der_next(&list, &p, end) != 0 || p != end || list.tag != DER_SEQUENCE || list.len == 0)
        return der_bad("crlExtensions");
    p = list.v;
    end = list.v + list.len;
    while (p < end) {
        if (der_next(&ext, &p, end) != 0)
            return der_bad("crlExtensions");
        if ((rc = parse_ext(&oid, &critical, &val, &ext)) != CM_OK)
            return rc;
        if (check_dup(seen, &nseen, &oid) != 0)
            return dup_fail("crlExtensions");
        if (oid_is(&oid, oid_crl_number, sizeof(oid_crl_number))) {
            if (critical)
                return lint_fail("crl.number.present", "5.2.3", "cRLNumber is critical");
            if (ext_int(&x, &val, DER_INTEGER) != 0)
                return der_bad("cRLNumber");
            if ((x.v[0] & 0x80) || (x.len == 1 && x.v[0] == 0))
                return lint_fail("crl.number.positive", "5.2.3", "cRLNumber is not positive");
            if (x.len - (x.v[0] == 0) > 20)
                return lint_fail("crl.number.length", "5.2.3",
                                 "cRLNumber is longer than 20 octets");
            if (der_parse_int64(&ce->number, x.v, x.len) != 0)
                return lint_fail("crl.number.length", "5.2.3",
                                 "cRLNumber is longer than certmint's 63-bit numbers");
            ce->have_number = 1;
        } else if (oid_is(&oid, oid_delta_crl, sizeof(oid_delta_crl))) {
            if (!critical)
                return lint_fail("crl.delta.critical", "5.2.4",
                                 "deltaCRLIndicator is not marked critical");
            if (ext_int(&x, &val, DER_INTEGER) != 0 || der_parse_int64(&ce->base, x.v, x.len))
                return der_bad("deltaCRLIndicator");
            ce->have_delta = 1;
        } else if (oid_is(&oid, oid_aki, sizeof(oid_aki))) {
            const unsigned char *q = val.v, *qe = val.v + val.len, *r, *re;
            struct der_tlv seq, kid;
            if (critical)
                return lint_fail("crl.ext.aki", "4.2.1.1", "authorityKeyIdentifier is critical");
            if (der_next(&seq, &q, qe) != 0 || q != qe || seq.tag != DER_SEQUENCE)
                return der_bad("authorityKeyIdentifier");
            r = seq.v;
            re = seq.v + seq.len;
            /* 5.2.1: conforming CRL issuers use the key identifier method. */
            if (der_next(&kid, &r, re) != 0 || kid.tag != DER_CTX_PRIM(0) || kid.len == 0)
                return lint_fail("crl.ext.aki", "5.2.1",
                                 "authorityKeyIdentifier has no keyIdentifier");
            ce->have_aki = 1;
        } else if (oid_is(&oid, oid_freshest, sizeof(oid_freshest))) {
            if (critical)
                return lint_fail("crl.freshest", "5.2.6", "freshestCRL is critical");
            ce->have_freshest = 1;
        } else if (critical) {
            return lint_fail("crl.ext.critical", "5.2",
                             "an unknown CRL extension is marked critical");
        }
    }
    return CM_OK;
}

/* The TBSCertList's fields before the entries, read from *p: version,
 * signature, issuer, thisUpdate and nextUpdate (5.1.2.1 to 5.1.2.5). */
static cm_err lint_header(int64_t *this_t, int64_t *next_t, const unsigned char **p,
                          const unsigned char *end)
{
    struct der_tlv version, alg, issuer, this_u, next_u;
    int64_t v;
    cm_err rc;

    /* 5.1.2.1: version v2 (INTEGER 1), required because of the extensions. */
    if (der_next(&version, p, end) != 0)
        return der_bad("the TBSCertList");
    if (version.tag != DER_INTEGER)
        return lint_fail("crl.version", "5.1.2.1", "version is absent (v1); must be v2");
    if (der_parse_int64(&v, version.v, version.len) != 0 || v != 1)
        return lint_fail("crl.version", "5.1.2.1", "version is not v2");
    if (der_next(&alg, p, end) != 0 || alg.tag != DER_SEQUENCE || alg.len == 0)
        return der_bad("the signature AlgorithmIdentifier");
    if (der_next(&issuer, p, end) != 0 || issuer.tag != DER_SEQUENCE)
        return der_bad("the issuer name");
    /* 5.1.2.3: the issuer field MUST contain a non-empty distinguished name. */
    if (issuer.len == 0)
        return lint_fail("crl.issuer", "5.1.2.3", "the issuer name is empty");
    if (der_next(&this_u, p, end) != 0)
        return der_bad("thisUpdate");
    if ((rc = lint_time(this_t, &this_u, "thisUpdate")) != CM_OK)
        return rc;
    /* 5.1.2.5: conforming CRL issuers MUST include nextUpdate. */
    if (*p >= end || ((*p)[0] != DER_UTCTIME && (*p)[0] != DER_GENERALIZEDTIME))
        return lint_fail("crl.nextupdate", "5.1.2.5", "nextUpdate is absent");
    if (der_next(&next_u, p, end) != 0)
        return der_bad("nextUpdate");
    if ((rc = lint_time(next_t, &next_u, "nextUpdate")) != CM_OK)
        return rc;
    if (*this_t >= *next_t)
        return lint_fail("crl.update.order", "5.1.2.5",
                         "thisUpdate (%lld) is not before nextUpdate (%lld)", (long long)*this_t,
                         (long long)*next_t);
    return CM_OK;
}

cm_err crl_lint(struct crl_lint_info *info, const unsigned char *tbs, size_t len,
                int64_t last_number)
{
    const unsigned char *p = tbs, *end = tbs + len;
    struct der_tlv top, t;
    struct entry_state st;
    struct crl_exts ce;
    int64_t this_t = 0, next_t = 0;
    cm_err rc;

    memset(&st, 0, sizeof(st));
    memset(&ce, 0, sizeof(ce));
    if (der_next(&top, &p, end) != 0 || top.tag != DER_SEQUENCE || p != end)
        return der_bad("the TBSCertList");
    p = top.v;
    end = top.v + top.len;
    if ((rc = lint_header(&this_t, &next_t, &p, end)) != CM_OK)
        return rc;
    if (p < end && p[0] == DER_SEQUENCE) {
        if (der_next(&t, &p, end) != 0)
            return der_bad("revokedCertificates");
        if ((rc = lint_entries(&st, &t)) != CM_OK)
            return rc;
    }
    if (p < end) {
        if (der_next(&t, &p, end) != 0 || t.tag != DER_CTX_CONS(0))
            return der_bad("crlExtensions");
        if ((rc = lint_crl_exts(&ce, &t)) != CM_OK)
            return rc;
    }
    if (p != end)
        return der_bad("the TBSCertList (trailing data)");

    if (!ce.have_number)
        return lint_fail("crl.number.present", "5.2.3", "cRLNumber is absent");
    if (ce.number <= last_number)
        return lint_fail("crl.number.increasing", "5.2.3",
                         "cRLNumber %lld is not greater than the last one issued (%lld)",
                         (long long)ce.number, (long long)last_number);
    if (!ce.have_aki)
        return lint_fail("crl.ext.aki", "5.2.1", "authorityKeyIdentifier is absent");
    if (ce.have_delta && (ce.base <= 0 || ce.base >= ce.number))
        return lint_fail("crl.delta.base", "5.2.4",
                         "base CRL number %lld is not positive and below the cRLNumber %lld",
                         (long long)ce.base, (long long)ce.number);
    if (ce.have_delta && ce.have_freshest)
        return lint_fail("crl.freshest", "5.2.6", "freshestCRL appears in a delta CRL");
    if (!ce.have_delta && st.first_remove[0] != '\0')
        return lint_fail("crl.entry.reason.delta", "5.3.1",
                         "serial %s has reasonCode removeFromCRL(8) in a complete CRL",
                         st.first_remove);
    if (info != NULL) {
        info->number = ce.number;
        info->is_delta = ce.have_delta;
        info->base_number = ce.have_delta ? ce.base : 0;
        info->this_update = this_t;
        info->next_update = next_t;
        info->entries = st.n;
    }
    return CM_OK;
}
