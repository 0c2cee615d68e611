/* Set-Cookie (RFC 6265 4.1): the field's formatting and checks, then
 * cio_http_response_set_cookie end to end through a server on 127.0.0.1. */
#include "test.h"

#include "http/request_parse.h"
#include "request_harness.h"

static ssize_t fmt(char *buf, size_t cap, const char *name, const char *value,
                   cio_http_cookie_options o)
{
    ssize_t need = cio__http_set_cookie_format(NULL, 0, name, value, &o);
    if (need < 0)
        return need;
    ssize_t got = cio__http_set_cookie_format(buf, cap, name, value, &o);
    EXPECT_EQ(need, got);
    if ((size_t)got < cap)
        EXPECT_EQ(got, strlen(buf));
    return got;
}

TEST(set_cookie_format)
{
    char b[512];
    EXPECT_EQ(7, fmt(b, sizeof b, "sid", "abc", CIO_HTTP_COOKIE_OPTIONS()));
    EXPECT_STR_EQ("sid=abc", b);
    fmt(b, sizeof b, "e", "", CIO_HTTP_COOKIE_OPTIONS());
    EXPECT_STR_EQ("e=", b);
    fmt(b, sizeof b, "q", "\"quoted!\"", CIO_HTTP_COOKIE_OPTIONS());
    EXPECT_STR_EQ("q=\"quoted!\"", b);
    fmt(b, sizeof b, "id", "a3fWa",
        CIO_HTTP_COOKIE_OPTIONS(.path = "/docs", .domain = "example.com", .max_age = 3600,
                                .has_max_age = true, .expires = 1445412480, .secure = true,
                                .http_only = true, .same_site = CIO_HTTP_SAME_SITE_STRICT));
    EXPECT_STR_EQ("id=a3fWa; Path=/docs; Domain=example.com; Max-Age=3600; "
                  "Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly; SameSite=Strict",
                  b);
    fmt(b, sizeof b, "gone", "", CIO_HTTP_COOKIE_OPTIONS(.has_max_age = true));
    EXPECT_STR_EQ("gone=; Max-Age=0", b);
    fmt(b, sizeof b, "x", "1", CIO_HTTP_COOKIE_OPTIONS(.same_site = CIO_HTTP_SAME_SITE_LAX));
    EXPECT_STR_EQ("x=1; SameSite=Lax", b);
    fmt(b, sizeof b, "x", "1",
        CIO_HTTP_COOKIE_OPTIONS(.same_site = CIO_HTTP_SAME_SITE_NONE, .secure = true));
    EXPECT_STR_EQ("x=1; Secure; SameSite=None", b);
    fmt(b, sizeof b, "x", "1", CIO_HTTP_COOKIE_OPTIONS(.domain = ".sub.example-1.org"));
    EXPECT_STR_EQ("x=1; Domain=.sub.example-1.org", b);
    fmt(b, sizeof b, "x", "1", CIO_HTTP_COOKIE_OPTIONS(.path = "/a b/c"));
    EXPECT_STR_EQ("x=1; Path=/a b/c", b);
    /* too small a buffer: the length needed, nothing past cap written */
    memset(b, '#', sizeof b);
    cio_http_cookie_options none = CIO_HTTP_COOKIE_OPTIONS_INIT;
    EXPECT_EQ(7, cio__http_set_cookie_format(b, 4, "sid", "abc", &none));
    EXPECT_EQ('#', b[4]);
}

TEST(set_cookie_refused)
{
    char b[64];
    const char *bad_names[] = {"", "a b", "a=b", "a;b", "a\"b", "(x)", "a\x01", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        EXPECT_ERR(-EINVAL, fmt(b, sizeof b, bad_names[i], "v", CIO_HTTP_COOKIE_OPTIONS()));
    const char *bad_values[] = {"a b", "a;b", "a,b", "a\\b", "\"", "a\"b", "\"a", "\"a\"b\"",
                                "a\tb", "\x7f", "\xc3\xa9", "a\r\nSet-Cookie: x=y"};
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
        if (fmt(b, sizeof b, "n", bad_values[i], CIO_HTTP_COOKIE_OPTIONS()) != -EINVAL)
            FAIL("value %zu accepted", i);
    EXPECT_ERR(-EINVAL, fmt(b, sizeof b, NULL, "v", CIO_HTTP_COOKIE_OPTIONS()));
    EXPECT_ERR(-EINVAL, fmt(b, sizeof b, "n", NULL, CIO_HTTP_COOKIE_OPTIONS()));
    const char *bad_paths[] = {"", "/a;b", "/a\r\n", "/\x7f", "/\xc3\xa9", "/a\tb"};
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++)
        EXPECT_ERR(-EINVAL, fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.path = bad_paths[i])));
    const char *bad_domains[] = {"", ".", "a..b", "a.", "a;b", "a b", "a_b.com", "..a",
                                 "a\r\nb"};
    for (size_t i = 0; i < sizeof bad_domains / sizeof bad_domains[0]; i++)
        EXPECT_ERR(-EINVAL,
                   fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.domain = bad_domains[i])));
    EXPECT_ERR(-EINVAL, fmt(b, sizeof b, "n", "v",
                            CIO_HTTP_COOKIE_OPTIONS(.max_age = -1, .has_max_age = true)));
    EXPECT_ERR(-EINVAL, fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.expires = -5)));
    EXPECT_ERR(-EINVAL,
               fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.expires = INT64_C(253402300800))));
    EXPECT_EQ(strlen("n=v; Expires=Fri, 31 Dec 9999 23:59:59 GMT"),
              fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.expires = INT64_C(253402300799))));
    EXPECT_ERR(-EINVAL, fmt(b, sizeof b, "n", "v",
                            CIO_HTTP_COOKIE_OPTIONS(.same_site = CIO_HTTP_SAME_SITE_NONE)));
    EXPECT_ERR(-EINVAL,
               fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.same_site = (cio_http_same_site)4)));
    EXPECT_ERR(-EINVAL,
               fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.same_site = (cio_http_same_site)-1)));
    /* a max_age left without has_max_age is not sent */
    fmt(b, sizeof b, "n", "v", CIO_HTTP_COOKIE_OPTIONS(.max_age = 5));
    EXPECT_STR_EQ("n=v", b);
}


/* ---- End to end ------------------------------------------------------------- */

static int h_set(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    EXPECT_OK(cio_http_response_set_cookie(res, "sid", "abc123", NULL));
    EXPECT_OK(cio_http_response_set_cookie(
        res, "pref", "\"dark\"",
        &CIO_HTTP_COOKIE_OPTIONS(.path = "/", .domain = "example.com", .max_age = 60,
                                 .has_max_age = true, .expires = 784111777, .secure = true,
                                 .http_only = true, .same_site = CIO_HTTP_SAME_SITE_NONE)));
    /* refused ones add nothing */
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(res, "bad name", "v", NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(res, "n", "v;x=y", NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(res, "n", "v\r\nX-Injected: 1", NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(
                            res, "n", "v", &CIO_HTTP_COOKIE_OPTIONS(.path = "/;Domain=evil")));
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(
                            res, "n", "v", &CIO_HTTP_COOKIE_OPTIONS(.same_site = CIO_HTTP_SAME_SITE_NONE)));
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(NULL, "n", "v", NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(res, NULL, "v", NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(res, "n", NULL, NULL));
    /* options not made with the macros, and from a newer header */
    cio_http_cookie_options zero;
    memset(&zero, 0, sizeof zero);
    EXPECT_ERR(-EINVAL, cio_http_response_set_cookie(res, "n", "v", &zero));
    struct {
        cio_http_cookie_options o;
        uint64_t newer;
    } big = {CIO_HTTP_COOKIE_OPTIONS_INIT, 1};
    big.o.size = sizeof big;
    EXPECT_ERR(-E2BIG, cio_http_response_set_cookie(res, "n", "v", &big.o));
    big.newer = 0;
    EXPECT_OK(cio_http_response_set_cookie(res, "newer", "ok", &big.o));
    int rc = cio_http_response_text(res, 200, "set");
    EXPECT_ERR(-EALREADY, cio_http_response_set_cookie(res, "late", "v", NULL));
    return rc;
}

/* A long value goes through request memory whole. */
static int h_long(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    static char v[3001];
    memset(v, 'z', 3000);
    EXPECT_OK(cio_http_response_set_cookie(res, "long", v, &CIO_HTTP_COOKIE_OPTIONS(.path = "/x")));
    return cio_http_response_text(res, 200, "long");
}

static int count_lines(const char *resp, const char *prefix)
{
    int c = 0;
    for (const char *p = resp; (p = strstr(p, prefix)) != NULL; p++)
        c++;
    return c;
}

TEST(e2e_set_cookie)
{
    struct harness h = {0};
    EXPECT_OK(cio_http_app_new(&h.app));
    EXPECT_OK(cio_http_app_route(h.app, "GET", "/set", h_set, NULL));
    EXPECT_OK(cio_http_app_route(h.app, "GET", "/long", h_long, NULL));
    harness_start(&h);
    char resp[16384];
    int st;
    const char *b = http_get(&h, "/set", NULL, resp, sizeof resp, &st);
    EXPECT_EQ(200, st);
    EXPECT_STR_EQ("set", b);
    EXPECT_TRUE(strstr(resp, "\r\nSet-Cookie: sid=abc123\r\n") != NULL);
    EXPECT_TRUE(strstr(resp, "\r\nSet-Cookie: pref=\"dark\"; Path=/; Domain=example.com; "
                             "Max-Age=60; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; "
                             "HttpOnly; SameSite=None\r\n") != NULL);
    EXPECT_TRUE(strstr(resp, "\r\nSet-Cookie: newer=ok\r\n") != NULL);
    EXPECT_EQ(3, count_lines(resp, "Set-Cookie:"));
    EXPECT_TRUE(strstr(resp, "X-Injected") == NULL);
    b = http_get(&h, "/long", NULL, resp, sizeof resp, &st);
    EXPECT_EQ(200, st);
    char *sc = strstr(resp, "Set-Cookie: long=");
    EXPECT_TRUE(sc != NULL);
    EXPECT_EQ(3000 + strlen("Set-Cookie: long=; Path=/x"), strcspn(sc, "\r"));
    harness_stop(&h);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
