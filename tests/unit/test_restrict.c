/* Restriction expressions: what they parse to, and one-line errors that name
 * the term for everything else. */
#include "db/restrict.h"
#include "unit.h"

#include <time.h>

static struct db_restrict *r;
static size_t n;

static int parse(const char *expr)
{
    restrict_free(r, n);
    r = NULL;
    n = 0;
    return restrict_parse(&r, &n, expr) == CM_OK;
}

/* Parses expr expecting failure; the message must be one line and contain
 * every string in want (NULL-terminated). */
static int fails_with(const char *expr, const char *want1, const char *want2)
{
    cm_err rc;
    const char *m;
    restrict_free(r, n);
    r = NULL;
    n = 0;
    rc = restrict_parse(&r, &n, expr);
    m = cm_err_msg();
    if (rc != CM_ERR_INVALID || r != NULL || n != 0) {
        printf("# '%s' did not fail as expected (rc %d)\n", expr, rc);
        return 0;
    }
    if (strchr(m, '\n') != NULL || (want1 && !strstr(m, want1)) || (want2 && !strstr(m, want2))) {
        printf("# '%s': message '%s' lacks '%s'/'%s'\n", expr, m, want1 ? want1 : "",
               want2 ? want2 : "");
        return 0;
    }
    return 1;
}

TEST(simple_terms)
{
    CHECK(parse("RequestID=5"));
    CHECK_INT(n, 1);
    CHECK_INT(r[0].column, db_column_find("RequestID"));
    CHECK_INT(r[0].op, DB_OP_EQ);
    CHECK_INT(r[0].ival, 5);
    CHECK(!r[0].is_null);

    CHECK(parse("  requestid   >=   7  ,  CommonName != \"a, b\"  "));
    CHECK_INT(n, 2);
    CHECK_INT(r[0].op, DB_OP_GE);
    CHECK_INT(r[0].ival, 7);
    CHECK_INT(r[1].column, db_column_find("CommonName"));
    CHECK_INT(r[1].op, DB_OP_NE);
    CHECK_STR(r[1].sval, "a, b");

    CHECK(parse("RequestID<1,RequestID<=2,RequestID>3,RequestID>=4,RequestID!=5,RequestID=6"));
    CHECK_INT(n, 6);
    CHECK_INT(r[0].op, DB_OP_LT);
    CHECK_INT(r[1].op, DB_OP_LE);
    CHECK_INT(r[2].op, DB_OP_GT);
    CHECK_INT(r[3].op, DB_OP_GE);
    CHECK_INT(r[4].op, DB_OP_NE);
    CHECK_INT(r[5].op, DB_OP_EQ);
    CHECK_INT(r[5].ival, 6);
}

TEST(text_values)
{
    /* The comma ends the term: the rest is a second, bad term. */
    CHECK(fails_with("DistinguishedName = CN=Example Host,O=Example", "term 2", "'O'"));
    CHECK(parse("DistinguishedName = \"CN=Example Host,O=Example\""));
    CHECK_STR(r[0].sval, "CN=Example Host,O=Example");
    CHECK(parse("CommonName = \"say \\\"hi\\\" \\\\ back\\slash\""));
    CHECK_STR(r[0].sval, "say \"hi\" \\ back\\slash");
    CHECK(parse("CommonName = Jürgen Müller"));
    CHECK_STR(r[0].sval, "Jürgen Müller");
    CHECK(parse("CommonName = \"\""));
    CHECK_STR(r[0].sval, "");
    CHECK(parse("CommonName=EMPTY"));
    CHECK(r[0].is_null && r[0].sval == NULL);
    CHECK(parse("CommonName != empty"));
    CHECK(r[0].is_null && r[0].op == DB_OP_NE);
    CHECK(parse("CommonName = \"EMPTY\""));
    CHECK(!r[0].is_null);
    CHECK_STR(r[0].sval, "EMPTY");
    CHECK(parse("CommonName = a=b<c"));
    CHECK_STR(r[0].sval, "a=b<c");
}

TEST(typed_values)
{
    int64_t now = (int64_t)time(NULL);

    CHECK(parse("SerialNumber = 0a:bc:de"));
    CHECK_STR(r[0].sval, "0ABCDE");
    CHECK(parse("SerialNumber = \"00 0A BC DE\""));
    CHECK_STR(r[0].sval, "0ABCDE");
    CHECK(parse("serialnumber=abcde"));
    CHECK_STR(r[0].sval, "0ABCDE");

    CHECK(parse("NotAfter < 2030-01-01"));
    CHECK_INT(r[0].ival, 1893456000);
    CHECK(parse("NotAfter < 2030-01-01 12:30:05"));
    CHECK_INT(r[0].ival, 1893456000 + 12 * 3600 + 30 * 60 + 5);
    CHECK(parse("NotAfter < \"2030-01-01 12:30\""));
    CHECK_INT(r[0].ival, 1893456000 + 12 * 3600 + 30 * 60);
    CHECK(parse("NotAfter < now"));
    CHECK(r[0].ival >= now && r[0].ival <= now + 5);
    CHECK(parse("NotAfter < now+30d"));
    CHECK(r[0].ival >= now + 30 * 86400 && r[0].ival <= now + 30 * 86400 + 5);
    CHECK(parse("NotAfter > NOW-7D"));
    CHECK(r[0].ival >= now - 7 * 86400 && r[0].ival <= now - 7 * 86400 + 5);
    CHECK(parse("RevokedWhen > now-12h"));
    CHECK(r[0].ival >= now - 12 * 3600 && r[0].ival <= now - 12 * 3600 + 5);

    CHECK(parse("Disposition = issued"));
    CHECK_INT(r[0].ival, DB_DISP_ISSUED);
    CHECK(parse("Disposition = Revoked"));
    CHECK_INT(r[0].ival, DB_DISP_REVOKED);
    CHECK(parse("Disposition = 9"));
    CHECK_INT(r[0].ival, DB_DISP_PENDING);
    CHECK(parse("Disposition = foreign, Disposition != failed, Disposition != denied"));
    CHECK_INT(r[0].ival, DB_DISP_FOREIGN);
    CHECK_INT(r[1].ival, DB_DISP_FAILED);
    CHECK_INT(r[2].ival, DB_DISP_DENIED);

    CHECK(parse("RevokedReason = keycompromise"));
    CHECK_INT(r[0].ival, 1);
    CHECK(parse("RevokedReason = 6"));
    CHECK_INT(r[0].ival, 6);
    CHECK(parse("RevokedReason = EMPTY"));
    CHECK(r[0].is_null);

    CHECK(parse("Origin = placeholder, Origin != 1, Withheld = 0"));
    CHECK_INT(r[0].ival, DB_ORIGIN_PLACEHOLDER);
    CHECK_INT(r[1].ival, DB_ORIGIN_IMPORTED);
    CHECK_INT(r[2].ival, 0);
}

TEST(errors)
{
    CHECK(fails_with("Nope = 1", "unknown column 'Nope'", "RequestID"));
    CHECK(fails_with("RequestID = 1, Colour = red", "term 2", "Colour"));
    CHECK(fails_with("RequestID == 1", "term 1", "RequestID"));
    CHECK(fails_with("RequestID ~ 1", "operator", NULL));
    CHECK(fails_with("RequestID <> 1", "RequestID", NULL));
    CHECK(fails_with("RequestID 1", "operator", NULL));
    CHECK(fails_with("= 1", "column name", NULL));
    CHECK(fails_with("RequestID =", "missing value", NULL));
    CHECK(fails_with("RequestID = abc", "'abc'", "not a number"));
    CHECK(fails_with("RequestID = 99999999999999999999", "RequestID", NULL));
    CHECK(fails_with("SerialNumber = 0xZZ", "serial number", "hex"));
    CHECK(fails_with("SerialNumber = 00", "zero", NULL));
    CHECK(
        fails_with("SerialNumber = 0102030405060708091011121314151617181920aa", "20 octets", NULL));
    CHECK(fails_with("NotAfter < 2030-13-01", "2030-13-01", "out of range"));
    CHECK(fails_with("NotAfter < tomorrow", "'tomorrow'", "NotAfter"));
    CHECK(fails_with("NotAfter < now-7", "now-7", NULL));
    CHECK(fails_with("NotAfter < now-7y", "unit", NULL));
    CHECK(fails_with("NotAfter < now-99999999d", "now-99999999d", NULL));
    CHECK(fails_with("NotAfter < now-x7d", "not a number", NULL));
    CHECK(fails_with("Disposition = lost", "'lost'", NULL));
    CHECK(fails_with("Disposition = 22", "'22'", NULL));
    CHECK(fails_with("RevokedReason = stolen", "'stolen'", NULL));
    CHECK(fails_with("RevokedReason = 7", "'7'", NULL));
    CHECK(fails_with("Origin = cloned", "'cloned'", NULL));
    CHECK(fails_with("CommonName = \"abc", "unterminated quote", "term 1"));
    CHECK(fails_with("CommonName = \"abc\\\"", "unterminated quote", NULL));
    CHECK(fails_with("CommonName = \"abc\" def", "after the quoted value", NULL));
    CHECK(fails_with("CommonName = ab\"c\"", "quote inside", NULL));
    CHECK(fails_with("CommonName < EMPTY", "EMPTY", NULL));
    CHECK(fails_with("RawCertificate = 00", "RawCertificate", "binary"));
    CHECK(fails_with("rawrequest != EMPTY", "RawRequest", "binary"));
    CHECK(fails_with("", "empty", NULL));
    CHECK(fails_with("   ", "empty", NULL));
    CHECK(fails_with("RequestID = 1,", "term 2", "empty"));
    CHECK(fails_with("RequestID = 1,,RequestID = 2", "term 2", "empty"));
    CHECK(fails_with(",RequestID = 1", "term 1", "empty"));
    CHECK(fails_with("CommonName = a\nRequestID = 1", "control character", NULL));
    CHECK(fails_with("CommonName = \"a\x1b[31m\"", "control character", NULL));
}

TEST(limits)
{
    char expr[RESTRICT_MAX_LEN + 64];
    size_t o = 0;

    /* Exactly 32 terms pass, 33 fail. */
    for (int i = 0; i < RESTRICT_MAX_TERMS; i++)
        o += (size_t)snprintf(expr + o, sizeof(expr) - o, "%sRequestID>%d", i ? "," : "", i);
    CHECK(parse(expr));
    CHECK_INT(n, RESTRICT_MAX_TERMS);
    CHECK_INT(r[31].ival, 31);
    snprintf(expr + o, sizeof(expr) - o, ",RequestID>99");
    CHECK(fails_with(expr, "more than 32 terms", NULL));

    /* Length: 4096 bytes pass, 4097 fail. */
    memset(expr, 0, sizeof(expr));
    memcpy(expr, "CommonName = \"", 14);
    memset(expr + 14, 'x', RESTRICT_MAX_LEN - 15);
    expr[RESTRICT_MAX_LEN - 1] = '"';
    CHECK_INT(strlen(expr), RESTRICT_MAX_LEN);
    CHECK(parse(expr));
    CHECK_INT(strlen(r[0].sval), RESTRICT_MAX_LEN - 15);
    expr[RESTRICT_MAX_LEN - 1] = 'x';
    expr[RESTRICT_MAX_LEN] = '"';
    CHECK(fails_with(expr, "longer than 4096", NULL));

    /* A long bad term is shortened in the message, still one line. */
    memset(expr, 0, sizeof(expr));
    memcpy(expr, "Foo = ", 6);
    memset(expr + 6, 'y', 1000);
    CHECK(fails_with(expr, "...", "unknown column 'Foo'"));
    CHECK(strlen(cm_err_msg()) < 1000);
}

int main(void)
{
    unit_suite = "restrict";
    RUN(simple_terms);
    RUN(text_values);
    RUN(typed_values);
    RUN(errors);
    RUN(limits);
    restrict_free(r, n);
    restrict_free(NULL, 0);
    return UNIT_DONE();
}
