/* The view's output formats over a real database holding a real certificate
 * (made by the openssl CLI). CSV and JSON are read back with Python's csv
 * and json modules, the base64 certificate is decoded and parsed again by
 * openssl: independent readers, not our own. */
#include "db/restrict.h"
#include "db/viewfmt.h"
#include "unit.h"
#include "util/fsutil.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/cm-test-viewfmt.XXXXXX";
static char dbpath[300], derpath[300], outpath[300];
static unsigned char *der;
static size_t der_len;
static db_t *db;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static int64_t add(int disp, const char *cn, const char *serial, const unsigned char *raw,
                   size_t raw_len)
{
    struct db_request rq;
    struct db_cert c;

    memset(&rq, 0, sizeof(rq));
    rq.requester_name = "viewer";
    rq.submitted_when = 1700000000;
    rq.disposition = disp;
    if (db_request_insert(db, &rq) != CM_OK)
        return -1;
    if (serial == NULL)
        return rq.request_id;
    memset(&c, 0, sizeof(c));
    snprintf(c.serial, sizeof(c.serial), "%s", serial);
    c.request_id = rq.request_id;
    c.not_after = 1893456000;
    c.cn = (char *)cn;
    c.raw = (unsigned char *)raw;
    c.raw_len = raw_len;
    c.revoked_reason = DB_REASON_NONE;
    if (db_cert_insert(db, &c) != CM_OK)
        return -1;
    return rq.request_id;
}

/* Runs the view with the given columns/format/restriction into outpath. */
static cm_err run_view(const char *cols, enum viewfmt_format fmt, const char *restr, uint64_t limit)
{
    int ci[VIEWFMT_MAX_COLS];
    struct viewfmt_opts o = {ci, 0, fmt, limit};
    struct db_restrict *r = NULL;
    size_t nr = 0;
    FILE *f = NULL;
    cm_err rc;

    CM_TRY(viewfmt_parse_columns(ci, &o.ncols, VIEWFMT_MAX_COLS, cols));
    if (restr)
        CM_TRY(restrict_parse(&r, &nr, restr));
    f = fopen(outpath, "w");
    if (f == NULL)
        CM_FAIL(CM_ERR_IO, "%s: cannot write", outpath);
    CM_TRY(viewfmt_run(f, db, r, nr, &o));
out:
    if (f)
        fclose(f);
    restrict_free(r, nr);
    return rc;
}

static char *slurp(void)
{
    unsigned char *d = NULL;
    size_t n;
    if (fs_read_file(&d, &n, outpath, 1 << 20) != CM_OK)
        return NULL;
    return (char *)d;
}

/* Runs a Python check over outpath; 1 when it exits 0. */
static int python(const char *script)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c '%s' '%s' '%s' '%s'", script, outpath, derpath,
             tmpdir);
    return system(cmd) == 0;
}

TEST(parse_options)
{
    int ci[VIEWFMT_MAX_COLS];
    size_t n = 0;
    enum viewfmt_format f;

    CHECK_OK(viewfmt_parse_columns(ci, &n, VIEWFMT_MAX_COLS, viewfmt_default_cols));
    CHECK_INT(n, 6);
    CHECK_INT(ci[0], db_column_find("RequestID"));
    CHECK_INT(ci[5], db_column_find("RevokedReason"));
    CHECK_OK(viewfmt_parse_columns(ci, &n, VIEWFMT_MAX_COLS, " commonname , NotAfter"));
    CHECK_INT(n, 2);
    CHECK_INT(ci[1], db_column_find("NotAfter"));
    CHECK_ERR(viewfmt_parse_columns(ci, &n, VIEWFMT_MAX_COLS, "RequestID,Bogus"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "Bogus") != NULL);
    CHECK_ERR(viewfmt_parse_columns(ci, &n, VIEWFMT_MAX_COLS, "RequestID,,NotAfter"),
              CM_ERR_INVALID);
    CHECK_ERR(viewfmt_parse_columns(ci, &n, VIEWFMT_MAX_COLS, ""), CM_ERR_INVALID);
    CHECK_ERR(viewfmt_parse_columns(ci, &n, 2, "RequestID,NotAfter,CommonName"), CM_ERR_INVALID);
    CHECK_OK(viewfmt_parse_format(&f, "CSV"));
    CHECK_INT(f, VIEWFMT_CSV);
    CHECK_OK(viewfmt_parse_format(&f, "json"));
    CHECK_INT(f, VIEWFMT_JSON);
    CHECK_ERR(viewfmt_parse_format(&f, "xml"), CM_ERR_INVALID);
    CHECK(strstr(cm_err_msg(), "xml") != NULL);
}

TEST(csv)
{
    CHECK_OK(run_view("RequestID,CommonName,SerialNumber,RawCertificate,RevokedReason,NotAfter",
                      VIEWFMT_CSV, NULL, 0));
    CHECK(python(
        "import csv, base64, sys\n"
        "rows = list(csv.reader(open(sys.argv[1], newline=\"\", encoding=\"utf-8\","
        " errors=\"surrogateescape\"), strict=True))\n"
        "assert rows[0] == [\"RequestID\", \"CommonName\", \"SerialNumber\","
        " \"RawCertificate\", \"RevokedReason\", \"NotAfter\"], rows[0]\n"
        "assert len(rows) == 12, len(rows)\n"
        "assert rows[1][0] == \"1\" and rows[1][2] == \"01\"\n"
        "assert base64.b64decode(rows[1][3], validate=True) =="
        " open(sys.argv[2], \"rb\").read()\n"
        "assert rows[1][4] == \"keyCompromise\" and rows[1][5] == \"2030-01-01 00:00:00\"\n"
        "assert rows[2][1] == \"a, \\\"b\\\"\\nc\", repr(rows[2][1])\n"
        "assert rows[3] == [\"3\", \"\", \"\", \"\", \"\", \"\"], rows[3]\n"
        "assert rows[4][1] == \" Jürgen \", rows[4]\n"
        "open(sys.argv[3] + \"/decoded.der\", \"wb\").write(base64.b64decode(rows[1][3]))\n"));
    {
        /* RFC 4180: CRLF line ends. */
        char *s = slurp();
        CHECK(s != NULL && strncmp(s, "RequestID,CommonName,", 21) == 0 && strstr(s, "\r\n"));
        free(s);
    }
    {
        /* openssl reads the certificate back from the base64 column. */
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "openssl x509 -inform DER -in %s/decoded.der -noout -subject 2>&1 | "
                 "grep -q 'CN *= *view test'",
                 tmpdir);
        CHECK(system(cmd) == 0);
    }
    /* --limit and restrictions. */
    CHECK_OK(run_view("RequestID", VIEWFMT_CSV, NULL, 2));
    {
        char *s = slurp();
        CHECK_STR(s, "RequestID\r\n1\r\n2\r\n");
        free(s);
    }
    CHECK_OK(run_view("RequestID,Disposition", VIEWFMT_CSV, "Disposition = pending", 0));
    {
        char *s = slurp();
        CHECK_STR(s, "RequestID,Disposition\r\n3,pending\r\n");
        free(s);
    }
    CHECK_OK(run_view("RequestID", VIEWFMT_CSV, "RequestID > 100", 0));
    {
        char *s = slurp();
        CHECK_STR(s, "RequestID\r\n");
        free(s);
    }
}

TEST(json)
{
    CHECK_OK(run_view("RequestID,CommonName,SerialNumber,RawCertificate,Disposition,Withheld,"
                      "Origin,RawRequest",
                      VIEWFMT_JSON, NULL, 0));
    CHECK(python("import json, base64, sys\n"
                 "rows = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
                 "assert isinstance(rows, list) and len(rows) == 11, rows\n"
                 "r = rows[0]\n"
                 "assert r[\"RequestID\"] == 1 and r[\"SerialNumber\"] == \"01\", r\n"
                 "assert base64.b64decode(r[\"RawCertificate\"]) =="
                 " open(sys.argv[2], \"rb\").read()\n"
                 "assert r[\"Disposition\"] == \"revoked\" and r[\"Withheld\"] == 0\n"
                 "assert r[\"Origin\"] == \"issued\" and r[\"RawRequest\"] is None\n"
                 "assert rows[1][\"CommonName\"] == \"a, \\\"b\\\"\\nc\"\n"
                 "assert rows[2][\"CommonName\"] is None and rows[2][\"Withheld\"] is None\n"
                 "assert rows[3][\"CommonName\"] == \" Jürgen \"\n"
                 "assert rows[4][\"CommonName\"] == \"bad\\ufffdbyte\\u0001\", rows[4]\n"));
    CHECK_OK(run_view("RequestID", VIEWFMT_JSON, "RequestID > 100", 0));
    {
        char *s = slurp();
        CHECK_STR(s, "[]\n");
        free(s);
    }
}

TEST(table)
{
    char *s = NULL, *l2, *l3, *l4;

    CHECK_OK(run_view("RequestID,SerialNumber,CommonName,Disposition", VIEWFMT_TABLE,
                      "RequestID <= 3", 0));
    s = slurp();
    CHECK(s != NULL);
    if (s == NULL)
        return;
    /* Header, dashes, rows; NULL shown as EMPTY; the newline in a value
     * escaped so that each row is one line; columns line up. */
    l2 = strchr(s, '\n') + 1;
    l3 = strchr(l2, '\n') + 1;
    l4 = strchr(l3, '\n') + 1;
    CHECK(strncmp(s, "RequestID  SerialNumber  CommonName", 35) == 0);
    CHECK(strncmp(l2, "---------  ------------  ----------", 35) == 0);
    CHECK(strncmp(l3, "        1  01            view test", 33) == 0);
    CHECK(strncmp(l4, "        2  02            a, \"b\"\\nc   issued\n", 44) == 0);
    CHECK(strstr(l4, "\n        3  EMPTY         EMPTY") != NULL);
    {
        int lines = 0;
        for (char *p = s; *p; p++)
            lines += *p == '\n';
        CHECK_INT(lines, 5);
    }
    /* Header column starts match the data's. */
    CHECK(strstr(s, "CommonName") - s == strstr(l3, "view test") - l3);
    CHECK(strstr(s, "Disposition") - s == strstr(l3, "revoked") - l3);
    free(s);
    /* No trailing spaces after the last column. */
    CHECK_OK(run_view("CommonName", VIEWFMT_TABLE, "RequestID <= 2", 0));
    s = slurp();
    CHECK(s != NULL && strstr(s, " \n") == NULL);
    free(s);
}

/* Rows 6..11 (see main): C1 controls, formula-looking cells, a bidi
 * override. */
TEST(hostile_cells)
{
    char *s = NULL;

    /* Table: nothing that drives a terminal reaches it (docs/view.md). */
    CHECK_OK(run_view("RequestID,CommonName", VIEWFMT_TABLE, "RequestID >= 5", 0));
    s = slurp();
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(strstr(s, "C1\\xc2\\x9b[31mred\\xc2\\x85end") != NULL);
    CHECK(strstr(s, "bad\\xffbyte\\x01") != NULL);
    CHECK(strstr(s, "\\xe2\\x80\\xaeevil") != NULL);
    CHECK(strstr(s, "J\xc3\xbcrgen") == NULL); /* not in this range */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f || *p >= 0x80) {
            UNIT_FAIL("raw byte 0x%02x in the table at offset %zu", *p,
                      (size_t)(p - (const unsigned char *)s));
            break;
        }
    }
    free(s);
    /* Real non-ASCII text is not escaped. */
    CHECK_OK(run_view("CommonName", VIEWFMT_TABLE, "RequestID = 4", 0));
    s = slurp();
    CHECK(s != NULL && strstr(s, " J\xc3\xbcrgen") != NULL);
    free(s);

    /* CSV: formula-looking text gets a leading quote (OWASP); numbers and
     * the raw text otherwise stay as they are. */
    CHECK_OK(run_view("RequestID,CommonName", VIEWFMT_CSV, "RequestID >= 6", 0));
    CHECK(python("import csv, sys\n"
                 "rows = list(csv.reader(open(sys.argv[1], newline=\"\", encoding=\"utf-8\"),"
                 " strict=True))\n"
                 "got = [r[1] for r in rows[1:]]\n"
                 "want = [\"C1\\u009b[31mred\\u0085end\", \"\\x27=HYPERLINK(\\\"http://x/\\\")\","
                 " \"\\x27+1\", \"\\x27-2\", \"\\x27@SUM(A1)\", \"\\u202eevil\"]\n"
                 "assert got == want, got\n"
                 "assert [r[0] for r in rows[1:]] == [\"6\", \"7\", \"8\", \"9\", \"10\","
                 " \"11\"]\n"));
    /* JSON is data for programs: values unchanged. */
    CHECK_OK(run_view("RequestID,CommonName", VIEWFMT_JSON, "RequestID >= 6", 0));
    CHECK(python("import json, sys\n"
                 "rows = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
                 "assert rows[0][\"CommonName\"] == \"C1\\u009b[31mred\\u0085end\"\n"
                 "assert rows[1][\"CommonName\"] == \"=HYPERLINK(\\\"http://x/\\\")\"\n"
                 "assert rows[3][\"CommonName\"] == \"-2\"\n"));
}

int main(void)
{
    char cmd[1024];
    static const unsigned char badutf8[] = "bad\xff"
                                           "byte\x01";

    unit_suite = "viewfmt";
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    snprintf(dbpath, sizeof(dbpath), "%s/certmint.db", tmpdir);
    snprintf(derpath, sizeof(derpath), "%s/cert.der", tmpdir);
    snprintf(outpath, sizeof(outpath), "%s/out", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout %s/key.pem -subj '/CN=view test' -days 1 -outform DER -out %s "
             ">/dev/null 2>&1",
             tmpdir, derpath);
    if (system(cmd) != 0 || fs_read_file(&der, &der_len, derpath, 1 << 16) != CM_OK ||
        db_open(&db, dbpath, 1) != CM_OK || db_begin(db) != CM_OK) {
        printf("not ok - viewfmt: setup: %s\n", cm_err_msg());
        return 1;
    }
    if (add(DB_DISP_ISSUED, "view test", "01", der, der_len) != 1 ||
        add(DB_DISP_ISSUED, "a, \"b\"\nc", "02", NULL, 0) != 2 ||
        add(DB_DISP_PENDING, NULL, NULL, NULL, 0) != 3 ||
        add(DB_DISP_ISSUED, " Jürgen ", "04", NULL, 0) != 4 ||
        add(DB_DISP_ISSUED, (const char *)badutf8, "05", NULL, 0) != 5 ||
        add(DB_DISP_ISSUED,
            "C1\xc2\x9b[31mred\xc2\x85"
            "end",
            "06", NULL, 0) != 6 ||
        add(DB_DISP_ISSUED, "=HYPERLINK(\"http://x/\")", "07", NULL, 0) != 7 ||
        add(DB_DISP_ISSUED, "+1", "08", NULL, 0) != 8 ||
        add(DB_DISP_ISSUED, "-2", "09", NULL, 0) != 9 ||
        add(DB_DISP_ISSUED, "@SUM(A1)", "0A", NULL, 0) != 10 ||
        add(DB_DISP_ISSUED,
            "\xe2\x80\xae"
            "evil",
            "0B", NULL, 0) != 11 ||
        db_cert_revoke(db, "01", 1, 1700000000, 0, 0, 1) != CM_OK || db_commit(db) != CM_OK) {
        printf("not ok - viewfmt: setup: %s\n", cm_err_msg());
        return 1;
    }
    RUN(parse_options);
    RUN(csv);
    RUN(json);
    RUN(table);
    RUN(hostile_cells);
    db_close(db);
    free(der);
    if (getenv("KEEP") == NULL)
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return UNIT_DONE();
}
