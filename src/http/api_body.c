/* Request bodies of the REST API, parsed with jansson (RFC 8259): strict
 * types, no unknown members, bounded strings. Nothing here touches the
 * core; fuzz/fuzz_api_body.c runs every parser on arbitrary bytes. */
#include "http/api.h"

#include "db/db.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One JSON object from the body. An empty body is an empty object (the
 * actions whose members are all optional may be POSTed without one). */
static cm_err load_object(json_t **out, const unsigned char *body, size_t len)
{
    json_error_t e;
    json_t *j = NULL;

    *out = NULL;
    if (len == 0) {
        *out = json_object();
        return *out ? CM_OK : cm_err_set(CM_ERR_NOMEM, "out of memory");
    }
    j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e);
    if (j == NULL)
        return cm_err_set(CM_ERR_INVALID, "request body: not JSON: %s (line %d, column %d)", e.text,
                          e.line, e.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return cm_err_set(CM_ERR_INVALID, "request body: a JSON object is expected");
    }
    *out = j;
    return CM_OK;
}

/* Refuses a member not in allowed (NULL-terminated). */
static cm_err only_members(json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        size_t i = 0;
        (void)v;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL)
            return cm_err_set(CM_ERR_INVALID, "request body: unknown member \"%.64s\"", key);
    }
    return CM_OK;
}

/* A string member (NULL when absent) of at most max - 1 bytes, no NUL. */
static cm_err get_string(const char **out, json_t *o, const char *name, size_t max)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return CM_OK;
    if (!json_is_string(v))
        return cm_err_set(CM_ERR_INVALID, "request body: \"%s\" must be a string", name);
    if (json_string_length(v) >= max || strlen(json_string_value(v)) != json_string_length(v))
        return cm_err_set(CM_ERR_INVALID, "request body: \"%s\" is too long or holds a NUL", name);
    *out = json_string_value(v);
    return CM_OK;
}

cm_err api_body_submit(char **csr, size_t *csr_len, char profile[API_PROFILE_MAX],
                       const unsigned char *body, size_t len)
{
    static const char *const allowed[] = {"csr", "profile", "archive_key", NULL};
    cm_err rc = CM_OK;
    json_t *o = NULL;
    const char *c = NULL, *p = NULL;

    *csr = NULL;
    *csr_len = 0;
    profile[0] = '\0';
    CM_TRY(load_object(&o, body, len));
    CM_TRY(only_members(o, allowed));
    CM_TRY(get_string(&c, o, "csr", 64 * 1024));
    CM_TRY(get_string(&p, o, "profile", API_PROFILE_MAX));
    if (c == NULL || c[0] == '\0')
        CM_FAIL(CM_ERR_INVALID, "request body: \"csr\" (the PKCS#10 request, PEM) is missing");
    if (p != NULL)
        snprintf(profile, API_PROFILE_MAX, "%s", p);
    *csr = strdup(c);
    CM_NOMEM_IF(*csr == NULL);
    *csr_len = strlen(c);
out:
    json_decref(o);
    return rc;
}

/* Base64 (RFC 4648 4; line breaks allowed, as in PEM) to bytes. */
static cm_err base64_decode(unsigned char **out, size_t *outlen, const char *in, size_t len)
{
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    unsigned char *b = malloc(len / 4 * 3 + 4);
    int n = 0, m = 0;
    cm_err rc = CM_OK;

    CM_NOMEM_IF(ctx == NULL || b == NULL);
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, b, &n, (const unsigned char *)in, (int)len) < 0 ||
        EVP_DecodeFinal(ctx, b + n, &m) != 1 || n + m == 0)
        CM_FAIL(CM_ERR_INVALID, "request body: \"archive_key\" is neither base64 (of the DER "
                                "EnvelopedData) nor PEM");
    *out = b;
    *outlen = (size_t)(n + m);
    b = NULL;
out:
    EVP_ENCODE_CTX_free(ctx);
    free(b);
    return rc;
}

cm_err api_body_archive_key(unsigned char **env, size_t *env_len, const unsigned char *body,
                            size_t len)
{
    cm_err rc = CM_OK;
    json_t *o = NULL;
    const char *a = NULL;
    size_t n;

    *env = NULL;
    *env_len = 0;
    CM_TRY(load_object(&o, body, len));
    CM_TRY(get_string(&a, o, "archive_key", API_ARCHIVE_MAX));
    if (a == NULL)
        goto out;
    n = strlen(a);
    if (n == 0)
        CM_FAIL(CM_ERR_INVALID, "request body: \"archive_key\" is empty");
    if (n > 10 && memcmp(a, "-----BEGIN", 10) == 0) {
        /* PEM (RFC 7468 "CMS"): the core reads it as it reads a file. */
        *env = (unsigned char *)strdup(a);
        CM_NOMEM_IF(*env == NULL);
        *env_len = n;
    } else {
        CM_TRY(base64_decode(env, env_len, a, n));
    }
out:
    json_decref(o);
    return rc;
}

/* RFC 6750 2.1: credentials = "Bearer" 1*SP b64token, the scheme
 * case-insensitive (RFC 9110 11.1); b64token = 1*( ALPHA / DIGIT / "-" /
 * "." / "_" / "~" / "+" / "/" ) *"=". Trailing white space is tolerated. */
cm_err api_bearer_parse(char token[API_TOKEN_MAX], int *is_bearer, const char *header)
{
    static const char b64token[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-._~+/";
    size_t n, eq;

    token[0] = '\0';
    *is_bearer = 0;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\0'))
        return cm_err_set(CM_ERR_INVALID, "Authorization: only the Bearer scheme (RFC 6750) is "
                                          "accepted here");
    *is_bearer = 1;
    header += 6;
    while (*header == ' ')
        header++;
    n = strspn(header, b64token);
    eq = strspn(header + n, "=");
    if (n == 0 || strspn(header + n + eq, " \t") != strlen(header + n + eq))
        return cm_err_set(CM_ERR_INVALID, "Authorization: Bearer is followed by one token "
                                          "(RFC 6750 2.1)");
    if (n + eq >= API_TOKEN_MAX)
        return cm_err_set(CM_ERR_INVALID, "Authorization: the token is too long");
    memcpy(token, header, n + eq);
    token[n + eq] = '\0';
    return CM_OK;
}

/* "2026-01-02T03:04:05Z" (RFC 3339 5.6, UTC only) to unix seconds. */
static cm_err parse_time(int64_t *out, const char *s)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        (size_t)n != strlen(s) || strlen(s) != 20 || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
        d > 31 || h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
        return cm_err_set(CM_ERR_INVALID,
                          "request body: \"invalidity_date\" '%.40s' is not YYYY-MM-DDTHH:MM:SSZ",
                          s);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm);
    return CM_OK;
}

static cm_err revoke_reason(int *reason, json_t *o)
{
    json_t *v = json_object_get(o, "reason");
    *reason = DB_REASON_UNSPECIFIED;
    if (v == NULL)
        return CM_OK;
    if (json_is_integer(v)) {
        json_int_t r = json_integer_value(v);
        char num[32];
        if (r < 0 || r > 10)
            return cm_err_set(CM_ERR_INVALID, "request body: \"reason\" %lld is not a CRLReason",
                              (long long)r);
        snprintf(num, sizeof(num), "%lld", (long long)r);
        *reason = db_reason_parse(num);
    } else if (json_is_string(v) && json_string_length(v) < 64 &&
               strlen(json_string_value(v)) == json_string_length(v)) {
        *reason = db_reason_parse(json_string_value(v));
    } else {
        return cm_err_set(CM_ERR_INVALID,
                          "request body: \"reason\" must be a CRLReason name or code");
    }
    if (*reason < 0)
        return cm_err_prefix(CM_ERR_INVALID, "request body: \"reason\"");
    return CM_OK;
}

cm_err api_body_revoke(int *reason, int64_t *invalidity, const unsigned char *body, size_t len)
{
    static const char *const allowed[] = {"reason", "invalidity_date", NULL};
    cm_err rc = CM_OK;
    json_t *o = NULL, *v;

    *reason = DB_REASON_UNSPECIFIED;
    *invalidity = 0;
    CM_TRY(load_object(&o, body, len));
    CM_TRY(only_members(o, allowed));
    CM_TRY(revoke_reason(reason, o));
    v = json_object_get(o, "invalidity_date");
    if (v == NULL || json_is_null(v))
        goto out;
    if (json_is_integer(v) && json_integer_value(v) > 0 &&
        json_integer_value(v) < 253402300800LL) /* 10000-01-01 */
        *invalidity = (int64_t)json_integer_value(v);
    else if (json_is_string(v) && json_string_length(v) < 64)
        CM_TRY(parse_time(invalidity, json_string_value(v)));
    else
        CM_FAIL(CM_ERR_INVALID, "request body: \"invalidity_date\" must be an RFC 3339 UTC time "
                                "or unix seconds");
out:
    json_decref(o);
    return rc;
}

cm_err api_body_deny(char reason[API_REASON_MAX], const unsigned char *body, size_t len)
{
    static const char *const allowed[] = {"reason", NULL};
    cm_err rc = CM_OK;
    json_t *o = NULL;
    const char *r = NULL;

    reason[0] = '\0';
    CM_TRY(load_object(&o, body, len));
    CM_TRY(only_members(o, allowed));
    CM_TRY(get_string(&r, o, "reason", API_REASON_MAX));
    if (r == NULL || r[0] == '\0')
        CM_FAIL(CM_ERR_INVALID, "request body: \"reason\" (why the request is denied) is missing");
    snprintf(reason, API_REASON_MAX, "%s", r);
out:
    json_decref(o);
    return rc;
}

cm_err api_body_crl(int *delta, const unsigned char *body, size_t len)
{
    static const char *const allowed[] = {"delta", NULL};
    cm_err rc = CM_OK;
    json_t *o = NULL, *v;

    *delta = 0;
    CM_TRY(load_object(&o, body, len));
    CM_TRY(only_members(o, allowed));
    v = json_object_get(o, "delta");
    if (v != NULL && !json_is_boolean(v))
        CM_FAIL(CM_ERR_INVALID, "request body: \"delta\" must be true or false");
    *delta = v != NULL && json_is_true(v);
out:
    json_decref(o);
    return rc;
}

cm_err api_body_empty(const unsigned char *body, size_t len)
{
    static const char *const allowed[] = {NULL};
    cm_err rc = CM_OK;
    json_t *o = NULL;
    CM_TRY(load_object(&o, body, len));
    CM_TRY(only_members(o, allowed));
out:
    json_decref(o);
    return rc;
}
