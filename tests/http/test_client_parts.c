/* The HTTP client's standalone parts: URL parsing and resolution (url.c),
 * content decoding (decode.c), the cookie jar (jar.c) and proxies
 * (proxy.c: selection from the environment, CONNECT against an in-process
 * proxy on 127.0.0.1). */
#include "test.h"

#include <zlib.h>

#include "http/client_parts.h"

/* ---- URLs ------------------------------------------------------------------ */

struct url_case {
    const char *in;
    const char *scheme, *userinfo, *host;
    int port;
    bool def, ipv6, tls;
    const char *target;
};

TEST(url_parse_valid)
{
    static const struct url_case cases[] = {
        {"http://example.com", "http", NULL, "example.com", 80, true, false, false, "/"},
        {"HTTP://Example.COM/", "http", NULL, "example.com", 80, true, false, false, "/"},
        {"https://example.com/a/b?x=1&y=2", "https", NULL, "example.com", 443, true, false, true,
         "/a/b?x=1&y=2"},
        {"https://example.com:443/", "https", NULL, "example.com", 443, true, false, true, "/"},
        {"http://example.com:8080/p", "http", NULL, "example.com", 8080, false, false, false,
         "/p"},
        {"http://example.com:/p", "http", NULL, "example.com", 80, true, false, false, "/p"},
        {"http://example.com:00080/p", "http", NULL, "example.com", 80, true, false, false, "/p"},
        {"http://127.0.0.1:1/", "http", NULL, "127.0.0.1", 1, false, false, false, "/"},
        {"http://h:65535/", "http", NULL, "h", 65535, false, false, false, "/"},
        {"http://[::1]:8080/x", "http", NULL, "::1", 8080, false, true, false, "/x"},
        {"http://[0:0:0:0:0:0:0:1]/", "http", NULL, "::1", 80, true, true, false, "/"},
        {"https://[2001:DB8::A]", "https", NULL, "2001:db8::a", 443, true, true, true, "/"},
        {"http://user:pa%20ss@host/", "http", "user:pa%20ss", "host", 80, true, false, false,
         "/"},
        {"http://us@er:p@host/", "http", "us%40er:p", "host", 80, true, false, false, "/"},
        {"http://@host/", "http", NULL, "host", 80, true, false, false, "/"},
        {"http://host/a#frag", "http", NULL, "host", 80, true, false, false, "/a"},
        {"http://host?q#f", "http", NULL, "host", 80, true, false, false, "/?q"},
        {"http://host#f", "http", NULL, "host", 80, true, false, false, "/"},
        {"http://host/a/./b/../c/", "http", NULL, "host", 80, true, false, false, "/a/c/"},
        {"http://host/a/..", "http", NULL, "host", 80, true, false, false, "/"},
        {"http://host/../../x", "http", NULL, "host", 80, true, false, false, "/x"},
        {"http://host/caf\xc3\xa9?q=<\"x\">", "http", NULL, "host", 80, true, false, false,
         "/caf%C3%A9?q=%3C%22x%22%3E"},
        {"http://host/%41%zz", "http", NULL, "host", 80, true, false, false, "/%41%zz"},
        {"http://my_host.example.com./", "http", NULL, "my_host.example.com.", 80, true, false,
         false, "/"},
        {"ws://chat.example/ws", "ws", NULL, "chat.example", 80, true, false, false, "/ws"},
        {"wss://chat.example:8443/ws?t=1", "wss", NULL, "chat.example", 8443, false, false, true,
         "/ws?t=1"},
        {"ws://h:443/", "ws", NULL, "h", 443, false, false, false, "/"},
        {"http://h/b\\c|{}^`", "http", NULL, "h", 80, true, false, false, "/b%5Cc%7C%7B%7D%5E%60"},
        {"http://a1.b-2.c/", "http", NULL, "a1.b-2.c", 80, true, false, false, "/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct url_case *c = &cases[i];
        struct cio__http_url u;
        int rc = cio__http_url_parse(c->in, &u);
        if (rc != 0) FAIL("case %zu (%s): %s", i, c->in, cio_err_name(rc));
        EXPECT_STR_EQ(c->scheme, u.scheme);
        if (c->userinfo)
            EXPECT_STR_EQ(c->userinfo, u.userinfo);
        else
            EXPECT_PTR_EQ(NULL, u.userinfo);
        EXPECT_STR_EQ(c->host, u.host);
        EXPECT_EQ(c->port, u.port);
        if (c->def != u.default_port) FAIL("case %zu: default_port", i);
        EXPECT_EQ(c->ipv6, u.ipv6);
        EXPECT_EQ(c->tls, u.tls);
        EXPECT_STR_EQ(c->target, u.target);
        cio__http_url_free(&u);
        EXPECT_PTR_EQ(NULL, u.mem);
    }
    cio__http_url_free(NULL);
}

TEST(url_parse_malformed)
{
    static const char *bad[] = {
        "",
        "example.com",
        "//example.com/",
        "/path",
        "ftp://example.com/",
        "mailto:a@b",
        "http:example.com",
        "http:/example.com",
        "http://",
        "http:///path",
        "http://:80/",
        "http://user@/",
        "http://exa mple.com/",
        "http://example.com/a b",
        " http://example.com/",
        "http://example.com/\t",
        "http://example.com/\x01",
        "http://example.com/\x7f",
        "http://ex\nample.com/",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://example.com:99999999999999999999/",
        "http://example.com:-1/",
        "http://example.com:8a/",
        "http://example.com:80:80/",
        "http://[::1/",
        "http://[::1]x/",
        "http://[]/",
        "http://[zz::1]/",
        "http://[1.2.3.4]/",
        "http://::1/",
        "http://exa%41mple.com/",
        "http://a..b/",
        "http://.a/",
        "http://1.2.3/",
        "http://256.1.1.1/",
        "http://0x7f.1/",
        "http://host.123/",
        "1http://host/",
        "http://ho<st/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cio__http_url u;
        memset(&u, 0x5a, sizeof u);
        int rc = cio__http_url_parse(bad[i], &u);
        if (rc != -EINVAL) FAIL("case %zu (%s): expected -EINVAL, got %d", i, bad[i], rc);
        EXPECT_PTR_EQ(NULL, u.mem);
    }
    struct cio__http_url u;
    EXPECT_ERR(-EINVAL, cio__http_url_parse(NULL, &u));
    EXPECT_ERR(-EINVAL, cio__http_url_parse("http://h/", NULL));
}

static void expect_resolve(const char *base, const char *ref, const char *want)
{
    char *got = NULL;
    int rc = cio__http_url_resolve(base, ref, &got);
    if (rc != 0) FAIL("resolve(%s, %s): %s", base, ref, cio_err_name(rc));
    if (strcmp(got, want) != 0) FAIL("resolve(%s, %s): want %s, got %s", base, ref, want, got);
    free(got);
}

TEST(url_resolve_rfc3986_examples)
{
    /* RFC 3986 5.4.1 and 5.4.2, every example (strict parser). */
    static const char *const t[][2] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
        /* 5.4.2 abnormal */
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
        {"http:g", "http:g"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        expect_resolve("http://a/b/c/d;p?q", t[i][0], t[i][1]);
    /* Locations a client sees */
    expect_resolve("http://h:8080/a/b", "https://other/x?y", "https://other/x?y");
    expect_resolve("https://h/a/b", "//cdn.example/p", "https://cdn.example/p");
    expect_resolve("http://h", "x", "http://h/x");
    expect_resolve("http://h", "?q", "http://h?q");
    expect_resolve("http://h/a#frag", "b", "http://h/b");
    expect_resolve("http://h/a", "/caf\xc3\xa9", "http://h/caf\xc3\xa9");
    /* and the URL parses afterwards */
    char *s = NULL;
    EXPECT_OK(cio__http_url_resolve("http://h/d/e", "../x/./y?z#f", &s));
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse(s, &u));
    EXPECT_STR_EQ("/x/y?z", u.target);
    cio__http_url_free(&u);
    free(s);
}

TEST(url_resolve_errors)
{
    char *s = (char *)"x";
    EXPECT_ERR(-EINVAL, cio__http_url_resolve(NULL, "a", &s));
    EXPECT_PTR_EQ(NULL, s);
    EXPECT_ERR(-EINVAL, cio__http_url_resolve("http://h/", NULL, &s));
    EXPECT_ERR(-EINVAL, cio__http_url_resolve("http://h/", "a", NULL));
    EXPECT_ERR(-EINVAL, cio__http_url_resolve("/relative", "a", &s));
    EXPECT_ERR(-EINVAL, cio__http_url_resolve("http://h/", "a b", &s));
    EXPECT_ERR(-EINVAL, cio__http_url_resolve("http://h/", "a\r\nSet-Cookie: x", &s));
    EXPECT_ERR(-EINVAL, cio__http_url_resolve("http://h/ x", "a", &s));
    EXPECT_PTR_EQ(NULL, s);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
