/* The REST API without a server: the route table against the OpenAPI
 * document built into the binary (every route the server answers is
 * documented, every documented operation is a route), and the JSON body
 * parsers (src/http/api_body.c) on good and hostile bodies. */
#include "db/db.h"
#include "http/api.h"
#include "unit.h"

#include <jansson.h>

#define B(s) (const unsigned char *)(s), strlen(s)

static json_t *load_doc(void)
{
    size_t len = 0;
    const char *text = api_openapi_json(&len);
    json_error_t e;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL)
        printf("# openapi.json: %s (line %d)\n", e.text, e.line);
    return doc;
}

TEST(document_is_openapi3)
{
    json_t *doc = load_doc();
    CHECK(doc != NULL);
    CHECK(strncmp(json_string_value(json_object_get(doc, "openapi")) ?: "", "3.", 2) == 0);
    CHECK(json_is_object(json_object_get(doc, "paths")));
    json_decref(doc);
}

static void lower(char *out, const char *in)
{
    size_t i = 0;
    for (; in[i] && i < 15; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    out[i] = '\0';
}

TEST(every_route_documented)
{
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths");
    CHECK(api_route_count() >= 12);
    for (size_t i = 0; i < api_route_count(); i++) {
        const struct api_route_info *r = api_route_at(i);
        char m[16];
        lower(m, r->method);
        json_t *op = json_object_get(json_object_get(paths, r->pattern), m);
        if (op == NULL)
            UNIT_FAIL("%s %s is answered but not in openapi.json", r->method, r->pattern);
        else if (!json_is_object(json_object_get(op, "responses")))
            UNIT_FAIL("%s %s documents no responses", r->method, r->pattern);
    }
    json_decref(doc);
}

TEST(every_documented_operation_is_a_route)
{
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths"), *item, *op;
    const char *path, *method;
    int n = 0;
    json_object_foreach(paths, path, item)
    {
        json_object_foreach(item, method, op)
        {
            int found = 0;
            for (size_t i = 0; i < api_route_count(); i++) {
                char m[16];
                lower(m, api_route_at(i)->method);
                found |= strcmp(api_route_at(i)->pattern, path) == 0 && strcmp(m, method) == 0;
            }
            if (!found)
                UNIT_FAIL("openapi.json documents %s %s, which the server does not answer", method,
                          path);
            n++;
        }
    }
    CHECK_INT(n, (long long)api_route_count());
    json_decref(doc);
}

TEST(submit_body)
{
    char *csr = NULL, profile[API_PROFILE_MAX];
    size_t len = 0;
    CHECK_OK(api_body_submit(&csr, &len, profile, B("{\"csr\":\"PEM\",\"profile\":\"smime\"}")));
    CHECK_STR(csr, "PEM");
    CHECK_INT(len, 3);
    CHECK_STR(profile, "smime");
    free(csr);
    CHECK_OK(api_body_submit(&csr, &len, profile, B("{\"csr\":\"X\"}")));
    CHECK_STR(profile, "");
    free(csr);
    csr = NULL;
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("")), CM_ERR_INVALID);
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("{\"csr\":1}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("{\"csr\":\"a\",\"profil\":\"x\"}")),
              CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "unknown member \"profil\"") != NULL);
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("{\"csr\":\"a\",\"csr\":\"b\"}")),
              CM_ERR_INVALID);
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("{\"csr\":\"a\\u0000b\"}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("[\"csr\"]")), CM_ERR_INVALID);
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("{\"csr\":\"a\"} trailing")), CM_ERR_INVALID);
    CHECK_ERR(api_body_submit(&csr, &len, profile, B("{\"csr\":\"a\"")), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "not JSON") != NULL);
    CHECK(csr == NULL);
}

TEST(revoke_body)
{
    int reason = -5;
    int64_t inv = -1;
    CHECK_OK(api_body_revoke(&reason, &inv, B("")));
    CHECK_INT(reason, DB_REASON_UNSPECIFIED);
    CHECK_INT(inv, 0);
    CHECK_OK(api_body_revoke(&reason, &inv, B("{\"reason\":\"keyCompromise\"}")));
    CHECK_INT(reason, DB_REASON_KEY_COMPROMISE);
    CHECK_OK(api_body_revoke(&reason, &inv,
                             B("{\"reason\":6,\"invalidity_date\":"
                               "\"2026-01-02T03:04:05Z\"}")));
    CHECK_INT(reason, DB_REASON_HOLD);
    CHECK_INT(inv, 1767323045);
    CHECK_OK(api_body_revoke(&reason, &inv, B("{\"invalidity_date\":1700000000}")));
    CHECK_INT(inv, 1700000000);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"reason\":\"removeFromCRL\"}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"reason\":7}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"reason\":99}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"reason\":\"nope\"}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"reason\":true}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"reasn\":\"keyCompromise\"}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"invalidity_date\":\"2026-13-02T03:04:05Z\"}")),
              CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"invalidity_date\":\"2026-01-02 03:04:05\"}")),
              CM_ERR_INVALID);
    CHECK_ERR(api_body_revoke(&reason, &inv, B("{\"invalidity_date\":-3}")), CM_ERR_INVALID);
}

TEST(deny_crl_empty_bodies)
{
    char reason[API_REASON_MAX];
    int delta = -1;
    CHECK_OK(api_body_deny(reason, B("{\"reason\":\"not our host\"}")));
    CHECK_STR(reason, "not our host");
    CHECK_ERR(api_body_deny(reason, B("{}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_deny(reason, B("{\"reason\":\"\"}")), CM_ERR_INVALID);
    CHECK_OK(api_body_crl(&delta, B("")));
    CHECK_INT(delta, 0);
    CHECK_OK(api_body_crl(&delta, B("{\"delta\":true}")));
    CHECK_INT(delta, 1);
    CHECK_ERR(api_body_crl(&delta, B("{\"delta\":1}")), CM_ERR_INVALID);
    CHECK_OK(api_body_empty(B("")));
    CHECK_OK(api_body_empty(B("{}")));
    CHECK_ERR(api_body_empty(B("{\"x\":1}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_empty(B("null")), CM_ERR_INVALID);
}

/* "archive_key": base64 of the DER (line breaks allowed) or PEM text. */
TEST(archive_key_body)
{
    unsigned char *env = NULL;
    size_t len = 0;
    CHECK_OK(api_body_archive_key(&env, &len, B("{\"csr\":\"X\"}")));
    CHECK(env == NULL);
    CHECK_INT(len, 0);
    CHECK_OK(
        api_body_archive_key(&env, &len, B("{\"csr\":\"X\",\"archive_key\":\"MIIB\\nAAE=\"}")));
    CHECK(env != NULL);
    CHECK_INT(len, 5);
    CHECK(env != NULL && memcmp(env, "\x30\x82\x01\x00\x01", 5) == 0);
    free(env);
    CHECK_OK(api_body_archive_key(&env, &len,
                                  B("{\"archive_key\":\"-----BEGIN CMS-----\\nMIIB\\n-----END "
                                    "CMS-----\\n\"}")));
    CHECK(env != NULL && len == 43 && memcmp(env, "-----BEGIN CMS-----\n", 20) == 0);
    free(env);
    env = NULL;
    CHECK_ERR(api_body_archive_key(&env, &len, B("{\"archive_key\":\"not base64!\"}")),
              CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "archive_key") != NULL);
    CHECK_ERR(api_body_archive_key(&env, &len, B("{\"archive_key\":\"\"}")), CM_ERR_INVALID);
    CHECK_ERR(api_body_archive_key(&env, &len, B("{\"archive_key\":7}")), CM_ERR_INVALID);
    CHECK(env == NULL);
    /* The submit parser admits the member (and still refuses unknown ones). */
    {
        char *csr = NULL, profile[API_PROFILE_MAX];
        CHECK_OK(
            api_body_submit(&csr, &len, profile, B("{\"csr\":\"X\",\"archive_key\":\"AA==\"}")));
        free(csr);
    }
}

/* RFC 6750 2.1 credentials. */
TEST(bearer_header)
{
    char tok[API_TOKEN_MAX];
    int bearer = -1;
    CHECK_OK(api_bearer_parse(tok, &bearer, "Bearer cmt1.0123456789abcdef.00ff"));
    CHECK_STR(tok, "cmt1.0123456789abcdef.00ff");
    CHECK_INT(bearer, 1);
    CHECK_OK(api_bearer_parse(tok, &bearer, "bearer   abc-._~+/== "));
    CHECK_STR(tok, "abc-._~+/==");
    CHECK_ERR(api_bearer_parse(tok, &bearer, "Basic dXNlcjpwYXNz"), CM_ERR_INVALID);
    CHECK_INT(bearer, 0);
    CHECK_ERR(api_bearer_parse(tok, &bearer, "Bearerx abc"), CM_ERR_INVALID);
    CHECK_INT(bearer, 0);
    CHECK_ERR(api_bearer_parse(tok, &bearer, "Bearer"), CM_ERR_INVALID);
    CHECK_INT(bearer, 1);
    CHECK_ERR(api_bearer_parse(tok, &bearer, "Bearer a b"), CM_ERR_INVALID);
    CHECK_ERR(api_bearer_parse(tok, &bearer, "Bearer a=b"), CM_ERR_INVALID);
    CHECK_ERR(api_bearer_parse(tok, &bearer, "Bearer <script>"), CM_ERR_INVALID);
    {
        char big[300];
        memset(big, 'a', sizeof(big));
        memcpy(big, "Bearer ", 7);
        big[sizeof(big) - 1] = '\0';
        CHECK_ERR(api_bearer_parse(tok, &bearer, big), CM_ERR_INVALID);
        CHECK(strstr(cm_err_msg(), "too long") != NULL);
    }
    CHECK_STR(tok, "");
}

int main(void)
{
    unit_suite = "api";
    RUN(document_is_openapi3);
    RUN(every_route_documented);
    RUN(every_documented_operation_is_a_route);
    RUN(submit_body);
    RUN(revoke_body);
    RUN(deny_crl_empty_bodies);
    RUN(archive_key_body);
    RUN(bearer_header);
    return UNIT_DONE();
}
