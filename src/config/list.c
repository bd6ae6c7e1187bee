/* Comma-separated lists in profile keys: key usages, extended key usages,
 * allowed key types, SAN types. Normalizing them when they are set means
 * that the CA core reads one canonical spelling and `config get` shows what
 * will actually be enforced. */
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LIST_MAX_ITEMS 64

struct list_name {
    const char *name;  /* canonical spelling */
    const char *alias; /* another accepted spelling, or NULL */
};

/* RFC 5280 4.2.1.3, in KeyUsage bit order. Bit 1 was renamed
 * contentCommitment in X.509 (2008); both names are accepted. */
static const struct list_name ku_names[] = {
    {"digitalSignature", NULL}, {"nonRepudiation", "contentCommitment"},
    {"keyEncipherment", NULL},  {"dataEncipherment", NULL},
    {"keyAgreement", NULL},     {"keyCertSign", NULL},
    {"cRLSign", NULL},          {NULL, NULL},
};

/* Key types a profile may accept; rsa:N means at least N bits. */
static const struct list_name key_names[] = {
    {"ec:p256", NULL},  {"ec:p384", NULL},  {"ec:p521", NULL}, {"rsa:2048", NULL},
    {"rsa:3072", NULL}, {"rsa:4096", NULL}, {"ed25519", NULL}, {NULL, NULL},
};

/* GeneralName choices a request may carry (RFC 5280 4.2.1.6). */
static const struct list_name san_names[] = {
    {"dns", NULL}, {"ip", NULL}, {"email", NULL}, {"uri", NULL}, {NULL, NULL},
};

/* RFC 5280 4.2.1.12 key purposes: the name and its OID (alias). */
static const struct list_name eku_names[] = {
    {"serverAuth", "1.3.6.1.5.5.7.3.1"},
    {"clientAuth", "1.3.6.1.5.5.7.3.2"},
    {"emailProtection", "1.3.6.1.5.5.7.3.4"},
    {"codeSigning", "1.3.6.1.5.5.7.3.3"},
    {"OCSPSigning", "1.3.6.1.5.5.7.3.9"},
    {"timeStamping", "1.3.6.1.5.5.7.3.8"},
    {NULL, NULL},
};

/* certificatePolicies: dotted OIDs; anyPolicy by name too. */
static const struct list_name policy_names[] = {
    {"2.5.29.32.0", "anyPolicy"},
    {NULL, NULL},
};

static const char *kind_what(enum config_list_kind kind)
{
    switch (kind) {
    case CFG_LIST_KEY_USAGE:
        return "key usage";
    case CFG_LIST_EXT_KEY_USAGE:
        return "extended key usage";
    case CFG_LIST_KEYS:
        return "key type";
    case CFG_LIST_SAN_TYPES:
        return "SAN type";
    case CFG_LIST_POLICIES:
        return "policy OID";
    }
    return "item";
}

static const struct list_name *kind_table(enum config_list_kind kind)
{
    switch (kind) {
    case CFG_LIST_KEY_USAGE:
        return ku_names;
    case CFG_LIST_EXT_KEY_USAGE:
        return eku_names;
    case CFG_LIST_KEYS:
        return key_names;
    case CFG_LIST_SAN_TYPES:
        return san_names;
    case CFG_LIST_POLICIES:
        return policy_names;
    }
    return NULL;
}

static int is_blank(int ch)
{
    return ch == ' ' || ch == '\t';
}

/* The trimmed extent of s[0..n). */
static void trim_span(const char **s, size_t *n)
{
    while (*n > 0 && is_blank((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int span_is(const char *s, size_t n, const char *word)
{
    return word != NULL && strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* A dotted-decimal OID as X.660 allows it: at least two arcs, the first 0..2,
 * the second 0..39 under 0 and 1, no leading zeros. */
static int oid_valid(const char *s, size_t n)
{
    size_t arcs = 0, i = 0;
    long first = -1;

    if (n == 0 || n > 200)
        return 0;
    while (i < n) {
        size_t st = i;
        long v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i - st < 3)
                v = v * 10 + (s[i] - '0');
            i++;
        }
        if (i == st || (s[st] == '0' && i - st > 1))
            return 0;
        if (arcs == 0) {
            if (i - st > 1 || v > 2)
                return 0;
            first = v;
        } else if (arcs == 1 && first < 2 && (i - st > 2 || v > 39)) {
            return 0;
        }
        arcs++;
        if (i < n) {
            if (s[i] != '.' || i + 1 == n)
                return 0;
            i++;
        }
    }
    return arcs >= 2;
}

static void names_expected(char *out, size_t outsz, const struct list_name *t)
{
    size_t used = 0;
    out[0] = '\0';
    for (; t->name != NULL; t++) {
        int w = snprintf(out + used, outsz - used, "%s%s", used ? ", " : "", t->name);
        if (w < 0 || (size_t)w >= outsz - used)
            break;
        used += (size_t)w;
    }
}

/* Policies may be separated by commas and/or blanks: rewritten as one comma
 * between items. *out: malloc'ed. */
static cm_err blanks_to_commas(char **out, const char *in)
{
    size_t n = strlen(in), o = 0;
    char *r = malloc(n + 1);
    int sep = 0;

    if (r == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (const char *p = in; *p; p++) {
        if (is_blank((unsigned char)*p) || *p == ',') {
            sep = o > 0;
            continue;
        }
        if (sep)
            r[o++] = ',';
        sep = 0;
        r[o++] = *p;
    }
    r[o] = '\0';
    *out = r;
    return CM_OK;
}

static cm_err list_normalize(char **out, enum config_list_kind kind, const char *in);

cm_err config_list_normalize(char **out, enum config_list_kind kind, const char *in)
{
    char *tmp = NULL;
    cm_err rc;

    if (kind != CFG_LIST_POLICIES)
        return list_normalize(out, kind, in);
    *out = NULL;
    if ((rc = blanks_to_commas(&tmp, in)) != CM_OK)
        return rc;
    rc = list_normalize(out, kind, tmp);
    free(tmp);
    return rc;
}

/* items[0..n) (lens[i] bytes each) joined with commas into *out
 * (malloc'ed). */
static cm_err items_join(char **out, const char *const *items, const size_t *lens, size_t n)
{
    size_t total = 1, o = 0;
    char *res;

    for (size_t m = 0; m < n; m++)
        total += lens[m] + 1;
    res = malloc(total);
    if (res == NULL)
        return cm_err_set(CM_ERR_NOMEM, "out of memory");
    for (size_t m = 0; m < n; m++) {
        if (m > 0)
            res[o++] = ',';
        memcpy(res + o, items[m], lens[m]);
        o += lens[m];
    }
    res[o] = '\0';
    *out = res;
    return CM_OK;
}

/* The canonical name of the list item [it, it + *il) from the table t (its
 * bit set in *bits), or for extended key usages and policies a dotted OID
 * as given; *il becomes the name's length. */
static cm_err item_name(const char **name, size_t *il, unsigned long *bits,
                        enum config_list_kind kind, const struct list_name *t, const char *it)
{
    cm_err rc = CM_OK;
    char expected[256];
    size_t j;

    for (j = 0; t[j].name != NULL; j++)
        if (span_is(it, *il, t[j].name) || span_is(it, *il, t[j].alias))
            break;
    if (t[j].name != NULL) {
        *bits |= 1UL << j;
        *name = t[j].name;
        *il = strlen(*name);
    } else if ((kind == CFG_LIST_EXT_KEY_USAGE || kind == CFG_LIST_POLICIES) &&
               oid_valid(it, *il)) {
        *name = it;
    } else {
        names_expected(expected, sizeof(expected), t);
        CM_FAIL(CM_ERR_CONFIG, "unknown %s '%.*s' (expected %s%s)", kind_what(kind), (int)*il, it,
                expected,
                kind == CFG_LIST_EXT_KEY_USAGE || kind == CFG_LIST_POLICIES ? " or a dotted OID"
                                                                            : "");
    }
out:
    return rc;
}

static cm_err list_normalize(char **out, enum config_list_kind kind, const char *in)
{
    cm_err rc = CM_OK;
    const struct list_name *t = kind_table(kind);
    const char *p = in;
    size_t n = strlen(in), nitems = 0;
    unsigned long bits = 0;
    const char *items[LIST_MAX_ITEMS];
    size_t lens[LIST_MAX_ITEMS];
    char *res = NULL;

    *out = NULL;
    trim_span(&p, &n);
    if (n == 0)
        CM_FAIL(CM_ERR_CONFIG, "empty list (give 'none' for no %s)",
                kind == CFG_LIST_KEYS ? "restriction" : kind_what(kind));
    if (span_is(p, n, "none")) {
        if (kind == CFG_LIST_KEYS)
            CM_FAIL(CM_ERR_CONFIG, "at least one key type is needed");
        res = strdup("none");
        CM_NOMEM_IF(res == NULL);
        goto done;
    }
    p = in;
    for (;;) {
        const char *it = p;
        size_t il = strcspn(p, ",");
        int last = p[il] == '\0';
        const char *name = NULL;

        p += il + !last;
        trim_span(&it, &il);
        if (il == 0)
            CM_FAIL(CM_ERR_CONFIG, "empty item in the list '%s'", in);
        if (span_is(it, il, "none"))
            CM_FAIL(CM_ERR_CONFIG, "'none' cannot be combined with other items");
        CM_TRY(item_name(&name, &il, &bits, kind, t, it));
        if (kind == CFG_LIST_EXT_KEY_USAGE || kind == CFG_LIST_POLICIES) {
            /* Extended key usages keep the order given, without repeats. */
            int dup = 0;
            for (size_t m = 0; m < nitems && !dup; m++)
                dup = lens[m] == il && memcmp(items[m], name, il) == 0;
            if (!dup) {
                if (nitems == LIST_MAX_ITEMS)
                    CM_FAIL(CM_ERR_CONFIG, "more than %d items", LIST_MAX_ITEMS);
                items[nitems] = name;
                lens[nitems++] = il;
            }
        }
        if (last)
            break;
    }
    if (kind != CFG_LIST_EXT_KEY_USAGE && kind != CFG_LIST_POLICIES)
        for (size_t j = 0; t[j].name != NULL; j++)
            if (bits & (1UL << j)) {
                items[nitems] = t[j].name;
                lens[nitems++] = strlen(t[j].name);
            }
    CM_TRY(items_join(&res, items, lens, nitems));
done:
    *out = res;
    res = NULL;
out:
    free(res);
    return rc;
}

void config_list_free(char **items, size_t n)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

cm_err config_parse_list(char ***items, size_t *n, const char *value)
{
    cm_err rc = CM_OK;
    const char *p = value;
    size_t vn = strlen(value), count = 1, k = 0;
    char **v = NULL;

    *items = NULL;
    *n = 0;
    trim_span(&p, &vn);
    if (vn == 0 || span_is(p, vn, "none"))
        return CM_OK;
    for (const char *q = value; *q; q++)
        count += *q == ',';
    v = calloc(count, sizeof(*v));
    CM_NOMEM_IF(v == NULL);
    p = value;
    for (;;) {
        const char *it = p;
        size_t il = strcspn(p, ",");
        int last = p[il] == '\0';

        p += il + !last;
        trim_span(&it, &il);
        if (il == 0)
            CM_FAIL(CM_ERR_CONFIG, "empty item in the list '%s'", value);
        v[k] = strndup(it, il);
        CM_NOMEM_IF(v[k] == NULL);
        k++;
        if (last)
            break;
    }
    *items = v;
    *n = k;
    v = NULL;
out:
    config_list_free(v, count);
    return rc;
}
