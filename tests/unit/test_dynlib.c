/* Unit tests for the libraries loaded on first use (src/util/dynlib.c and
 * src/util/dl_*.c): the test binary itself does not link libcurl, libpq,
 * libldap or GMime, so each is mapped only by its dl_NAME_load(); every
 * family loads and answers a call through its table; a library or a symbol
 * that cannot be loaded gives one error naming the user, the soname and the
 * reason, and no table. */
#include "unit.h"

#include "util/dl_curl.h"
#ifdef CM_HAVE_GMIME
#include "util/dl_gmime.h"
#endif
#ifdef CM_HAVE_LDAP
#include "util/dl_ldap.h"
#endif
#ifdef CM_HAVE_PQ
#include "util/dl_pq.h"
#endif
#include "util/dynlib.h"

#include <stdio.h>
#include <string.h>

/* 1 when a shared object whose path contains name is mapped. */
static int mapped(const char *name)
{
    char line[4096];
    int found = 0;
    FILE *f = fopen("/proc/self/maps", "r");

    if (f == NULL)
        return -1;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

TEST(nothing_mapped_before_use)
{
    /* Runs first: no test before it has loaded anything. */
    CHECK_INT(mapped("libcurl.so"), 0);
    CHECK_INT(mapped("libgmime-3.0.so"), 0);
    CHECK_INT(mapped("libglib-2.0.so"), 0);
    CHECK_INT(mapped("libldap"), 0);
    CHECK_INT(mapped("liblber"), 0);
    CHECK_INT(mapped("libpq.so"), 0);
}

TEST(curl_loads)
{
    CHECK_OK(dl_curl_load("test"));
    CHECK_INT(mapped("libcurl.so"), 1);
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    CHECK(vi != NULL && vi->version != NULL);
    CHECK_STR(curl_easy_strerror(CURLE_OK), "No error");
}

#ifdef CM_HAVE_GMIME
TEST(gmime_loads)
{
    CHECK_OK(dl_gmime_load("test"));
    g_mime_init();
    char *s = g_strdup("  certmint  ");
    CHECK_STR(g_strchomp(g_strchug(s)), "certmint");
    g_free(s);
    GMimeStream *m = g_mime_stream_mem_new();
    CHECK(GMIME_IS_STREAM_MEM(m));
    g_object_unref(m);
}
#endif

#ifdef CM_HAVE_LDAP
TEST(ldap_loads)
{
    LDAPURLDesc *lud = NULL;

    CHECK_OK(dl_ldap_load("test"));
    CHECK_INT(ldap_url_parse("ldap://example.org/dc=example,dc=org", &lud), LDAP_URL_SUCCESS);
    CHECK_STR(lud->lud_host, "example.org");
    ldap_free_urldesc(lud);
    CHECK(LDAP_OPT_ON != NULL);
}
#endif

#ifdef CM_HAVE_PQ
TEST(pq_loads)
{
    char *err = NULL;

    CHECK_OK(dl_pq_load("test"));
    PQconninfoOption *o = PQconninfoParse("postgresql://u@h:5/db", &err);
    CHECK(o != NULL);
    PQconninfoFree(o);
    PQfreemem(err);
}
#endif

TEST(missing_library)
{
    static const char *const names[] = {"nothing"};
    void *syms[1] = {NULL};
    struct dynlib d = {
        .soname = "libcertmint-absent.so.0", .names = names, .syms = syms, .count = 1};

    dynlib_open(&d);
    CHECK_INT(d.loaded, 0);
    CHECK_INT(dynlib_status(&d, "SMTP exit"), CM_ERR_UNSUPPORTED);
    CHECK(strstr(cm_err_msg(), "SMTP exit: cannot load libcertmint-absent.so.0: ") == cm_err_msg());
    CHECK(strstr(cm_err_msg(), "libcertmint-absent.so.0: cannot open shared object file") != NULL);
}

TEST(missing_symbol)
{
    static const char *const names[] = {"strlen", "certmint_no_such_function"};
    void *syms[2] = {NULL, NULL};
    struct dynlib d = {.soname = "libc.so.6", .names = names, .syms = syms, .count = 2};

    dynlib_open(&d);
    CHECK_INT(d.loaded, 0);
    CHECK_INT(dynlib_status(&d, "mail scanner"), CM_ERR_UNSUPPORTED);
    CHECK_STR(cm_err_msg(),
              "mail scanner: cannot load libc.so.6: no symbol certmint_no_such_function");
}

int main(void)
{
    unit_suite = "dynlib";
    RUN(nothing_mapped_before_use);
    RUN(curl_loads);
#ifdef CM_HAVE_GMIME
    RUN(gmime_loads);
#endif
#ifdef CM_HAVE_LDAP
    RUN(ldap_loads);
#endif
#ifdef CM_HAVE_PQ
    RUN(pq_loads);
#endif
    RUN(missing_library);
    RUN(missing_symbol);
    return UNIT_DONE();
}
