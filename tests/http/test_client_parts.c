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


/* ---- Content decoding ------------------------------------------------------ */

enum zform { Z_GZIP, Z_ZLIB, Z_RAW };

/* in compressed in the form asked, appended to *buf (realloc'd). */
static size_t zip(enum zform f, const void *in, size_t len, unsigned char **buf, size_t have)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    int wbits = f == Z_GZIP ? 31 : f == Z_ZLIB ? 15 : -15;
    EXPECT_EQ(Z_OK, deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY));
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    *buf = realloc(*buf, have + cap);
    EXPECT_TRUE(*buf != NULL);
    z.next_in = (unsigned char *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = *buf + have;
    z.avail_out = (uInt)cap;
    EXPECT_EQ(Z_STREAM_END, deflate(&z, Z_FINISH));
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    return have + n;
}

/* Some text that compresses, of n bytes. */
static unsigned char *sample(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)("the quick brown fox jumps over "[(x >> 16) % 31]);
    }
    return p;
}

/* Decodes data with a decoder for coding, fed inchunk bytes at a time
 * into outchunk-byte windows. Returns 0 (output in *res, *rn, *done) or
 * the decoder's error. */
static int decode_all(const char *coding, const unsigned char *data, size_t len, size_t inchunk,
                      size_t outchunk, unsigned char **res, size_t *rn, bool *done)
{
    struct cio__http_decoder *d = NULL;
    int rc = cio__http_decoder_new(coding, &d);
    if (rc < 0) return rc;
    EXPECT_TRUE(d != NULL);
    size_t cap = 1024, n = 0, in = 0;
    unsigned char *out = malloc(cap);
    *done = false;
    for (long iter = 0;; iter++) {
        if (iter > 100000000) FAIL("decoder loops");
        size_t give = len - in < inchunk ? len - in : inchunk;
        if (cap - n < outchunk) {
            cap = cap * 2 + outchunk;
            out = realloc(out, cap);
        }
        size_t used = 99999;
        bool dn = false;
        ssize_t got = cio__http_decoder_run(d, data + in, give, &used, out + n, outchunk, &dn);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        EXPECT_TRUE(used <= give);
        EXPECT_TRUE((size_t)got <= outchunk);
        in += used;
        n += (size_t)got;
        *done = dn;
        if (in == len && got == 0 && !cio__http_decoder_pending(d)) break;
        if (give > 0 && used == 0 && got == 0 && !cio__http_decoder_pending(d))
            FAIL("decoder stuck at %zu of %zu", in, len);
    }
    cio__http_decoder_free(d);
    *res = out;
    *rn = n;
    return rc;
}

static void expect_decodes(const char *coding, const unsigned char *data, size_t len,
                           const unsigned char *want, size_t wn)
{
    static const size_t chunks[][2] = {{1, 1}, {1, 4096}, {7, 13}, {4096, 1}, {1 << 20, 1 << 20},
                                       {333, 65536}};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        if (wn > 100000 && (chunks[c][0] == 1 || chunks[c][1] == 1)) continue;
        unsigned char *res;
        size_t rn;
        bool done;
        int rc = decode_all(coding, data, len, chunks[c][0], chunks[c][1], &res, &rn, &done);
        if (rc != 0) FAIL("%s (chunks %zu/%zu): %s", coding, chunks[c][0], chunks[c][1],
                          cio_err_name(rc));
        EXPECT_EQ(wn, rn);
        EXPECT_TRUE(memcmp(want, res, wn) == 0);
        if (!done) FAIL("%s (chunks %zu/%zu): not done", coding, chunks[c][0], chunks[c][1]);
        free(res);
    }
}

TEST(decode_single_codings)
{
    size_t sizes[] = {0, 1, 100, 70000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *text = sample(sizes[i]), *z = NULL;
        size_t zn = zip(Z_GZIP, text, sizes[i], &z, 0);
        expect_decodes("gzip", z, zn, text, sizes[i]);
        expect_decodes("x-gzip", z, zn, text, sizes[i]);
        expect_decodes(" GZip ", z, zn, text, sizes[i]);
        zn = zip(Z_ZLIB, text, sizes[i], &z, 0);
        expect_decodes("deflate", z, zn, text, sizes[i]);
        zn = zip(Z_RAW, text, sizes[i], &z, 0);
        expect_decodes("Deflate", z, zn, text, sizes[i]);
        free(z);
        free(text);
    }
}

TEST(decode_stacked_and_concatenated)
{
    unsigned char *text = sample(50000), *a = NULL, *b = NULL, *c = NULL;
    /* "gzip, deflate": gzip applied first, so deflate is undone first */
    size_t an = zip(Z_GZIP, text, 50000, &a, 0);
    size_t bn = zip(Z_ZLIB, a, an, &b, 0);
    expect_decodes("gzip, deflate", b, bn, text, 50000);
    expect_decodes("gzip,identity,,deflate", b, bn, text, 50000);
    /* three: deflate (raw), then gzip, then gzip */
    an = zip(Z_RAW, text, 50000, &a, 0);
    bn = zip(Z_GZIP, a, an, &b, 0);
    size_t cn = zip(Z_GZIP, b, bn, &c, 0);
    expect_decodes("deflate, gzip, gzip", c, cn, text, 50000);
    /* concatenated gzip members are one body (RFC 1952 2.2) */
    an = zip(Z_GZIP, text, 20000, &a, 0);
    an = zip(Z_GZIP, text + 20000, 30000, &a, an);
    an = zip(Z_GZIP, text, 0, &a, an);
    expect_decodes("gzip", a, an, text, 50000);
    free(a);
    free(b);
    free(c);
    free(text);
}

TEST(decode_refuses_bad_data)
{
    unsigned char *text = sample(40000), *z = NULL, *res;
    size_t rn;
    bool done;
    size_t zn = zip(Z_GZIP, text, 40000, &z, 0);
    /* truncated: no error, but never done */
    for (size_t cut = 1; cut < zn; cut += cut < 20 ? 1 : 997) {
        EXPECT_OK(decode_all("gzip", z, zn - cut, 512, 4096, &res, &rn, &done));
        EXPECT_FALSE(done);
        free(res);
    }
    /* a corrupt CRC, a corrupt magic, a corrupt block */
    unsigned char *bad = malloc(zn + 16);
    memcpy(bad, z, zn);
    bad[zn - 6] ^= 0x55;
    EXPECT_ERR(-EPROTO, decode_all("gzip", bad, zn, 100, 4096, &res, &rn, &done));
    free(res);
    memcpy(bad, z, zn);
    bad[0] = 0x1e;
    EXPECT_ERR(-EPROTO, decode_all("gzip", bad, zn, 100, 4096, &res, &rn, &done));
    free(res);
    /* trailing garbage after gzip and zlib streams */
    const char *tails[] = {"x", "\n", "\0", "\x1f\x8b garbage"};
    for (size_t t = 0; t < 4; t++) {
        memcpy(bad, z, zn);
        size_t tl = t == 2 ? 1 : strlen(tails[t]);
        memcpy(bad + zn, tails[t], tl);
        EXPECT_ERR(-EPROTO, decode_all("gzip", bad, zn + tl, 1, 4096, &res, &rn, &done));
        free(res);
    }
    free(bad);
    zn = zip(Z_ZLIB, text, 40000, &z, 0);
    z = realloc(z, zn + 1);
    z[zn] = 'x';
    EXPECT_ERR(-EPROTO, decode_all("deflate", z, zn + 1, 4096, 4096, &res, &rn, &done));
    free(res);
    z[zn - 1] ^= 0xff; /* the Adler-32 */
    EXPECT_ERR(-EPROTO, decode_all("deflate", z, zn, 4096, 4096, &res, &rn, &done));
    free(res);
    /* not compressed at all */
    const unsigned char junk[] = "<html>hello</html>, this is plain text";
    EXPECT_ERR(-EPROTO, decode_all("gzip", junk, sizeof junk, 4096, 4096, &res, &rn, &done));
    free(res);
    EXPECT_ERR(-EPROTO, decode_all("deflate", junk, sizeof junk, 4096, 4096, &res, &rn, &done));
    free(res);
    /* garbage left by an inner stage inside a stacked coding */
    unsigned char *inner = NULL, *outer = NULL;
    size_t in_n = zip(Z_GZIP, text, 1000, &inner, 0);
    inner = realloc(inner, in_n + 3);
    memcpy(inner + in_n, "abc", 3);
    size_t out_n = zip(Z_ZLIB, inner, in_n + 3, &outer, 0);
    EXPECT_ERR(-EPROTO, decode_all("gzip, deflate", outer, out_n, 64, 64, &res, &rn, &done));
    free(res);
    free(inner);
    free(outer);
    free(z);
    free(text);
}

TEST(decode_codings_and_arguments)
{
    struct cio__http_decoder *d = (struct cio__http_decoder *)1;
    const char *none[] = {NULL, "", "identity", " , IDENTITY ,", "\t"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        d = (struct cio__http_decoder *)1;
        EXPECT_OK(cio__http_decoder_new(none[i], &d));
        EXPECT_PTR_EQ(NULL, d);
    }
    const char *refused[] = {"br", "compress", "x-compress", "zstd", "gzip, br", "gzip;q=1",
                             "gzip deflate", "gzip, gzip, gzip, gzip, gzip", "g\"zip"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        d = (struct cio__http_decoder *)1;
        int rc = cio__http_decoder_new(refused[i], &d);
        if (rc != -EPROTO) FAIL("%s: %s", refused[i], cio_err_name(rc));
        EXPECT_PTR_EQ(NULL, d);
    }
    EXPECT_OK(cio__http_decoder_new("gzip, gzip, gzip, gzip", &d));
    cio__http_decoder_free(d);
    EXPECT_ERR(-EINVAL, cio__http_decoder_new("gzip", NULL));
    EXPECT_OK(cio__http_decoder_new("gzip", &d));
    size_t used = 7;
    bool done;
    char out[16];
    EXPECT_ERR(-EINVAL, cio__http_decoder_run(NULL, "a", 1, &used, out, sizeof out, &done));
    EXPECT_EQ(0, used);
    EXPECT_ERR(-EINVAL, cio__http_decoder_run(d, "a", 1, NULL, out, sizeof out, &done));
    EXPECT_ERR(-EINVAL, cio__http_decoder_run(d, "a", 1, &used, out, sizeof out, NULL));
    EXPECT_ERR(-EINVAL, cio__http_decoder_run(d, NULL, 1, &used, out, sizeof out, &done));
    EXPECT_ERR(-EINVAL, cio__http_decoder_run(d, "a", 1, &used, NULL, 1, &done));
    EXPECT_EQ(0, cio__http_decoder_run(d, NULL, 0, &used, out, sizeof out, &done));
    EXPECT_FALSE(done);
    EXPECT_FALSE(cio__http_decoder_pending(d));
    EXPECT_FALSE(cio__http_decoder_pending(NULL));
    cio__http_decoder_free(d);
    cio__http_decoder_free(NULL);
}

TEST(decode_pending_and_bomb)
{
    /* 64 MiB of zeros compress to ~64 KiB: the decoder streams them
     * through a 4 KiB window, holding back what does not fit (pending). */
    size_t big = 64u << 20;
    unsigned char *zeros = calloc(1, big), *z = NULL;
    size_t zn = zip(Z_GZIP, zeros, big, &z, 0);
    free(zeros);
    EXPECT_TRUE(zn < big / 500);
    struct cio__http_decoder *d;
    EXPECT_OK(cio__http_decoder_new("gzip", &d));
    unsigned char out[4096];
    size_t used, total = 0;
    bool done = false;
    ssize_t got = cio__http_decoder_run(d, z, zn, &used, out, sizeof out, &done);
    EXPECT_EQ((ssize_t)sizeof out, got);
    total += (size_t)got;
    EXPECT_TRUE(cio__http_decoder_pending(d));
    EXPECT_FALSE(done);
    size_t in = used;
    for (long i = 0; i < 1000000 && !done; i++) {
        got = cio__http_decoder_run(d, z + in, zn - in, &used, out, sizeof out, &done);
        EXPECT_TRUE(got >= 0);
        for (ssize_t j = 0; j < got; j++)
            if (out[j]) FAIL("nonzero");
        in += used;
        total += (size_t)got;
    }
    EXPECT_TRUE(done);
    EXPECT_EQ(zn, in);
    EXPECT_EQ(big, total);
    EXPECT_FALSE(cio__http_decoder_pending(d));
    EXPECT_EQ(0, cio__http_decoder_run(d, NULL, 0, &used, out, sizeof out, &done));
    EXPECT_TRUE(done);
    cio__http_decoder_free(d);
    free(z);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
