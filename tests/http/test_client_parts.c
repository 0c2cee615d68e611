/* The HTTP client's standalone parts: URL parsing and resolution (url.c),
 * content decoding (decode.c), the cookie jar (jar.c) and proxies
 * (proxy.c: selection from the environment, CONNECT against an in-process
 * proxy on 127.0.0.1). */
#include "test.h"

#include <sys/socket.h>
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

/* ---- Cookie jar --------------------------------------------------------------- */

static int store(cio_http_jar *jar, const char *url, const char *sc, int64_t now)
{
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse(url, &u));
    int rc = cio__http_jar_store(jar, &u, sc, now);
    cio__http_url_free(&u);
    return rc;
}

/* The Cookie field for url at now ("" for none). */
static const char *hdr(cio_http_jar *jar, const char *url, int64_t now)
{
    static char buf[65536];
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse(url, &u));
    ssize_t n = cio__http_jar_cookies(jar, &u, now, buf, sizeof buf);
    cio__http_url_free(&u);
    if (n < 0) FAIL("jar_cookies: %s", cio_err_name((int)n));
    EXPECT_EQ(n, strlen(buf));
    return buf;
}

#define T0 ((int64_t)1700000000)

TEST(jar_parse_rules)
{
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    const char *u = "http://example.com/";
    /* §5.2: no '=' and an empty name are ignored; whitespace trimmed */
    EXPECT_ERR(-EINVAL, store(jar, u, "novalue", T0));
    EXPECT_ERR(-EINVAL, store(jar, u, "novalue; a=b", T0));
    EXPECT_ERR(-EINVAL, store(jar, u, "=v", T0));
    EXPECT_ERR(-EINVAL, store(jar, u, " \t=v", T0));
    EXPECT_ERR(-EINVAL, store(jar, u, "", T0));
    EXPECT_ERR(-EINVAL, store(jar, u, "a=b\x01", T0));
    EXPECT_ERR(-EINVAL, store(jar, u, "a\x7f=b", T0));
    EXPECT_ERR(-EINVAL, store(jar, u, "a=b\r\nX: y", T0));
    EXPECT_EQ(0, cio_http_jar_count(jar));
    EXPECT_OK(store(jar, u, "  a  =  b c  ; Path=/", T0));
    EXPECT_OK(store(jar, u, "q=\"quoted=1\"", T0));
    EXPECT_OK(store(jar, u, "e=", T0));
    EXPECT_OK(store(jar, u, "x=1;;  ; unknown=attr; HttpOnly; SameSite=Strict", T0));
    EXPECT_OK(store(jar, u, "y=2; samesite=lax; httponly; SameSite=bogus", T0));
    EXPECT_OK(store(jar, u, "z=3; SameSite=None", T0));
    EXPECT_STR_EQ("a=b c; q=\"quoted=1\"; e=; x=1; y=2; z=3", hdr(jar, u, T0));
    /* 4096 bytes of name and value at most */
    char *big = malloc(5000);
    memset(big, 'v', 5000);
    memcpy(big, "n=", 2);
    big[4097] = '\0';
    EXPECT_OK(store(jar, u, big, T0));
    big[4097] = 'v';
    big[4098] = '\0';
    EXPECT_ERR(-EINVAL, store(jar, u, big, T0));
    free(big);
    EXPECT_EQ(7, cio_http_jar_count(jar));
    /* an attribute value over 1024 bytes is ignored: the default path */
    char longpath[1200] = "p=1; Path=/";
    memset(longpath + strlen(longpath), 'x', 1100);
    longpath[1180] = '\0';
    EXPECT_OK(store(jar, "http://l.example/a/b", longpath, T0));
    EXPECT_STR_EQ("p=1", hdr(jar, "http://l.example/a/zz", T0));
    EXPECT_STR_EQ("", hdr(jar, "http://l.example/", T0));
    cio_http_jar_free(jar);
}

TEST(jar_expiry)
{
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    const char *u = "http://example.com/";
    /* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT: each form of that date
     * keeps the cookie alive until then */
    const char *dates[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",      "Sun, 06-Nov-1994 08:49:37 GMT",
        "6 nov 1994 08:49:37",           "Nov 06 94 8:49:37 GMT",
        "1994 Nov 6, 08:49:37 UTC",
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        char sc[128];
        snprintf(sc, sizeof sc, "d=%zu; Expires=%s", i, dates[i]);
        EXPECT_OK(store(jar, u, sc, 784111777 - 100));
        char want[16];
        snprintf(want, sizeof want, "d=%zu", i);
        EXPECT_STR_EQ(want, hdr(jar, u, 784111776));
        EXPECT_STR_EQ("", hdr(jar, u, 784111777));
        EXPECT_EQ(0, cio_http_jar_count(jar));
    }
    /* a bad date is ignored: a session cookie */
    const char *bad[] = {"Feb 30 2020 00:00:00", "Jan 1 1600 00:00:00", "Jan 1 2020 24:00:00",
                         "soon", "Jan 2020 00:00:00", "32 Jan 2020 00:00:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char sc[128];
        snprintf(sc, sizeof sc, "s=%zu; Expires=%s", i, bad[i]);
        EXPECT_OK(store(jar, u, sc, T0));
        EXPECT_TRUE(hdr(jar, u, INT64_MAX - 1)[0] == 's');
    }
    cio_http_jar_clear(jar);
    EXPECT_EQ(0, cio_http_jar_count(jar));
    /* Max-Age wins over Expires, in either order */
    EXPECT_OK(store(jar, u, "m=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=10", T0));
    EXPECT_OK(store(jar, u, "n=1; Max-Age=10; Expires=Sun, 06 Nov 1994 08:49:37 GMT", T0));
    EXPECT_STR_EQ("m=1; n=1", hdr(jar, u, T0 + 9));
    EXPECT_STR_EQ("", hdr(jar, u, T0 + 10));
    /* Max-Age 0 or negative deletes; a bad Max-Age is ignored */
    EXPECT_OK(store(jar, u, "a=1", T0));
    EXPECT_OK(store(jar, u, "b=1", T0));
    EXPECT_OK(store(jar, u, "c=1; Max-Age=100", T0));
    EXPECT_OK(store(jar, u, "a=; Max-Age=0", T0));
    EXPECT_OK(store(jar, u, "b=; Max-Age=-5", T0));
    EXPECT_OK(store(jar, u, "c=2; Max-Age=1x", T0));
    EXPECT_OK(store(jar, u, "d=1; Max-Age=", T0));
    EXPECT_OK(store(jar, u, "e=1; Max-Age=-", T0));
    EXPECT_OK(store(jar, u, "f=1; Max-Age=99999999999999999999999999", T0));
    EXPECT_OK(store(jar, u, "g=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT", T0));
    EXPECT_STR_EQ("c=2; d=1; e=1; f=1", hdr(jar, u, T0));
    /* c=2 replaced c=1 and is a session cookie now */
    EXPECT_STR_EQ("c=2; d=1; e=1; f=1", hdr(jar, u, T0 + 1000000));
    /* expired by Expires: deleted */
    EXPECT_OK(store(jar, u, "d=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", T0));
    EXPECT_STR_EQ("c=2; e=1; f=1", hdr(jar, u, T0));
    cio_http_jar_free(jar);
}

TEST(jar_domain_rules)
{
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    const char *w = "http://www.example.com/";
    EXPECT_OK(store(jar, w, "host=1", T0));
    EXPECT_OK(store(jar, w, "dom=1; Domain=example.com", T0));
    EXPECT_OK(store(jar, w, "dot=1; Domain=.EXAMPLE.com", T0));
    EXPECT_OK(store(jar, w, "self=1; Domain=www.example.com", T0));
    EXPECT_OK(store(jar, w, "empty=1; Domain=", T0)); /* ignored attribute: host-only */
    EXPECT_ERR(-EINVAL, store(jar, w, "other=1; Domain=other.com", T0));
    EXPECT_ERR(-EINVAL, store(jar, w, "sub=1; Domain=a.www.example.com", T0));
    EXPECT_ERR(-EINVAL, store(jar, w, "tail=1; Domain=ample.com", T0));
    EXPECT_ERR(-EINVAL, store(jar, w, "tld=1; Domain=com", T0));
    EXPECT_ERR(-EINVAL, store(jar, w, "tld=1; Domain=.com", T0));
    EXPECT_ERR(-EINVAL, store(jar, w, "tld=1; Domain=com.", T0));
    EXPECT_ERR(-EINVAL, store(jar, w, "dot=1; Domain=.", T0));
    EXPECT_STR_EQ("host=1; dom=1; dot=1; self=1; empty=1", hdr(jar, w, T0));
    EXPECT_STR_EQ("dom=1; dot=1", hdr(jar, "http://example.com/", T0));
    EXPECT_STR_EQ("dom=1; dot=1", hdr(jar, "https://a.b.example.com:8443/", T0));
    EXPECT_STR_EQ("dom=1; dot=1; self=1", hdr(jar, "http://x.www.example.com/", T0));
    EXPECT_STR_EQ("", hdr(jar, "http://otherexample.com/", T0));
    EXPECT_STR_EQ("", hdr(jar, "http://example.org/", T0));
    /* the port does not matter (RFC 6265 §8.5) */
    EXPECT_STR_EQ("host=1; dom=1; dot=1; self=1; empty=1", hdr(jar, "http://www.example.com:81/", T0));
    /* IP addresses: only the address itself, never a suffix */
    const char *ip = "http://127.0.0.1:8080/";
    EXPECT_OK(store(jar, ip, "ip=1", T0));
    EXPECT_OK(store(jar, ip, "ipd=1; Domain=127.0.0.1", T0));
    EXPECT_ERR(-EINVAL, store(jar, ip, "x=1; Domain=0.0.1", T0));
    EXPECT_ERR(-EINVAL, store(jar, ip, "x=1; Domain=1", T0));
    EXPECT_ERR(-EINVAL, store(jar, ip, "x=1; Domain=127.0.0.2", T0));
    EXPECT_STR_EQ("ip=1; ipd=1", hdr(jar, ip, T0));
    EXPECT_STR_EQ("", hdr(jar, "http://127.0.0.2/", T0));
    EXPECT_STR_EQ("", hdr(jar, "http://1.127.0.0.1.example/", T0));
    EXPECT_OK(store(jar, "http://[::1]/", "v6=1; Domain=::1", T0));
    EXPECT_STR_EQ("v6=1", hdr(jar, "http://[::1]:9/", T0));
    /* a dotless name counts as a public suffix unless it is the host */
    EXPECT_OK(store(jar, "http://localhost/", "lh=1; Domain=localhost", T0));
    EXPECT_ERR(-EINVAL, store(jar, "http://a.localhost/", "lh=2; Domain=localhost", T0));
    EXPECT_STR_EQ("lh=1", hdr(jar, "http://localhost/", T0));
    EXPECT_STR_EQ("", hdr(jar, "http://a.localhost/", T0));
    cio_http_jar_free(jar);
}

TEST(jar_path_rules)
{
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    /* default-path (§5.1.4): up to the last '/', query ignored */
    EXPECT_OK(store(jar, "http://h/a/b/c?x=/y/z", "def=1", T0));
    EXPECT_OK(store(jar, "http://h/top", "root=1", T0));
    EXPECT_OK(store(jar, "http://h/docs/x", "docs=1; Path=/docs", T0));
    EXPECT_OK(store(jar, "http://h/", "slash=1; Path=/s/", T0));
    EXPECT_OK(store(jar, "http://h/q/r", "rel=1; Path=relative", T0)); /* default path */
    EXPECT_OK(store(jar, "http://h/q/r", "noval=1; Path", T0));
    EXPECT_STR_EQ("def=1; root=1", hdr(jar, "http://h/a/b", T0));
    EXPECT_STR_EQ("def=1; root=1", hdr(jar, "http://h/a/b/", T0));
    EXPECT_STR_EQ("def=1; root=1", hdr(jar, "http://h/a/b/zzz?q", T0));
    EXPECT_STR_EQ("root=1", hdr(jar, "http://h/a/bc", T0));
    EXPECT_STR_EQ("root=1", hdr(jar, "http://h/a", T0));
    EXPECT_STR_EQ("docs=1; root=1", hdr(jar, "http://h/docs", T0));
    EXPECT_STR_EQ("docs=1; root=1", hdr(jar, "http://h/docs/web/x", T0));
    EXPECT_STR_EQ("root=1", hdr(jar, "http://h/docsx", T0));
    EXPECT_STR_EQ("slash=1; root=1", hdr(jar, "http://h/s/t", T0));
    EXPECT_STR_EQ("root=1", hdr(jar, "http://h/s", T0));
    EXPECT_STR_EQ("rel=1; noval=1; root=1", hdr(jar, "http://h/q/", T0));
    /* same name, other path: two cookies */
    EXPECT_OK(store(jar, "http://h/", "root=2; Path=/docs", T0));
    EXPECT_STR_EQ("docs=1; root=2; root=1", hdr(jar, "http://h/docs/", T0));
    cio_http_jar_free(jar);
}

TEST(jar_secure_and_prefixes)
{
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    EXPECT_OK(store(jar, "https://h/", "s=1; Secure", T0));
    EXPECT_OK(store(jar, "https://h/", "p=1", T0));
    EXPECT_ERR(-EINVAL, store(jar, "http://h/", "t=1; Secure", T0));
    EXPECT_ERR(-EINVAL, store(jar, "http://h/", "s=2", T0)); /* may not replace a Secure one */
    EXPECT_STR_EQ("s=1; p=1", hdr(jar, "https://h/", T0));
    EXPECT_STR_EQ("s=1; p=1", hdr(jar, "wss://h/", T0));
    EXPECT_STR_EQ("p=1", hdr(jar, "http://h/", T0));
    EXPECT_STR_EQ("p=1", hdr(jar, "ws://h/", T0));
    EXPECT_OK(store(jar, "https://h/", "__Secure-a=1; Secure; Path=/x", T0));
    EXPECT_ERR(-EINVAL, store(jar, "https://h/", "__Secure-b=1", T0));
    EXPECT_OK(store(jar, "https://h/", "__Host-a=1; Secure; Path=/", T0));
    EXPECT_ERR(-EINVAL, store(jar, "https://h/", "__Host-b=1; Secure; Path=/; Domain=h", T0));
    EXPECT_ERR(-EINVAL, store(jar, "https://h/a/b", "__Host-c=1; Secure", T0));
    EXPECT_ERR(-EINVAL, store(jar, "https://h/", "__Host-d=1; Path=/", T0));
    EXPECT_STR_EQ("__Secure-a=1; s=1; p=1; __Host-a=1", hdr(jar, "https://h/x", T0));
    cio_http_jar_free(jar);
}

TEST(jar_replace_and_order)
{
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    const char *u = "http://h/a/b/c";
    EXPECT_OK(store(jar, u, "one=1; Path=/", T0));
    EXPECT_OK(store(jar, u, "two=1; Path=/a/b", T0 + 1));
    EXPECT_OK(store(jar, u, "three=1; Path=/a", T0 + 2));
    EXPECT_OK(store(jar, u, "four=1; Path=/", T0 + 3));
    EXPECT_OK(store(jar, u, "five=1; Path=/a/b", T0 + 4));
    EXPECT_STR_EQ("two=1; five=1; three=1; one=1; four=1", hdr(jar, u, T0 + 5));
    /* replaced: the value changes, the creation time (so the place) stays */
    EXPECT_OK(store(jar, u, "one=2; Path=/", T0 + 6));
    EXPECT_OK(store(jar, u, "two=2; Path=/a/b; Max-Age=100", T0 + 6));
    EXPECT_STR_EQ("two=2; five=1; three=1; one=2; four=1", hdr(jar, u, T0 + 7));
    /* host-only and domain cookies of one name and host are one cookie
     * (same name, domain and path) */
    EXPECT_OK(store(jar, "http://h.example/", "k=1", T0));
    EXPECT_OK(store(jar, "http://h.example/", "k=2; Domain=h.example", T0));
    EXPECT_STR_EQ("k=2", hdr(jar, "http://h.example/", T0));
    EXPECT_STR_EQ("k=2", hdr(jar, "http://sub.h.example/", T0));
    cio_http_jar_free(jar);
}

TEST(jar_limits)
{
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    char sc[64], url[64];
    /* 50 per domain: the least recently used goes */
    EXPECT_OK(store(jar, "http://d.example/", "n0=1; Path=/only", T0));
    for (int i = 1; i < 50; i++) {
        snprintf(sc, sizeof sc, "n%d=1; Path=/o", i);
        EXPECT_OK(store(jar, "http://d.example/", sc, T0));
    }
    EXPECT_EQ(50, cio_http_jar_count(jar));
    EXPECT_STR_EQ("n0=1", hdr(jar, "http://d.example/only", T0)); /* n0 used: n1 is the LRU */
    EXPECT_OK(store(jar, "http://d.example/", "n50=1; Path=/o", T0));
    EXPECT_EQ(50, cio_http_jar_count(jar));
    EXPECT_STR_EQ("n0=1", hdr(jar, "http://d.example/only", T0));
    const char *h = hdr(jar, "http://d.example/o", T0);
    EXPECT_TRUE(strncmp(h, "n2=1; n3=1; ", 12) == 0);
    EXPECT_TRUE(strstr(h, "n1=1") == NULL);
    EXPECT_TRUE(strstr(h, "n50=1") != NULL);
    /* 3000 in all */
    cio_http_jar_clear(jar);
    for (int d = 0; d < 61; d++)
        for (int i = 0; i < 50; i++) {
            snprintf(url, sizeof url, "http://d%d.example/", d);
            snprintf(sc, sizeof sc, "c%d=%d", i, d);
            EXPECT_OK(store(jar, url, sc, T0));
        }
    EXPECT_EQ(3000, cio_http_jar_count(jar));
    EXPECT_STR_EQ("", hdr(jar, "http://d0.example/", T0));
    EXPECT_TRUE(strncmp(hdr(jar, "http://d60.example/", T0), "c0=60; c1=60;", 13) == 0);
    EXPECT_TRUE(strncmp(hdr(jar, "http://d1.example/", T0), "c0=1; c1=1;", 11) == 0);
    cio_http_jar_free(jar);
}

TEST(jar_public_api)
{
    cio_http_jar *jar = NULL;
    EXPECT_ERR(-EINVAL, cio_http_jar_new(NULL));
    EXPECT_OK(cio_http_jar_new(&jar));
    char buf[64];
    EXPECT_ERR(-EINVAL, cio_http_jar_set(NULL, "http://h/", "a=1"));
    EXPECT_ERR(-EINVAL, cio_http_jar_set(jar, NULL, "a=1"));
    EXPECT_ERR(-EINVAL, cio_http_jar_set(jar, "http://h/", NULL));
    EXPECT_ERR(-EINVAL, cio_http_jar_set(jar, "not a url", "a=1"));
    EXPECT_ERR(-EINVAL, cio_http_jar_set(jar, "ftp://h/", "a=1"));
    EXPECT_ERR(-EINVAL, cio_http_jar_set(jar, "http://h/", "bad"));
    EXPECT_ERR(-EINVAL, cio_http_jar_header(NULL, "http://h/", buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio_http_jar_header(jar, NULL, buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio_http_jar_header(jar, "http://h/", NULL, sizeof buf));
    EXPECT_ERR(-EINVAL, cio_http_jar_header(jar, "http:/h/", buf, sizeof buf));
    EXPECT_EQ(0, cio_http_jar_count(NULL));
    cio_http_jar_clear(NULL);
    cio_http_jar_free(NULL);
    EXPECT_EQ(0, cio_http_jar_header(jar, "http://h/", buf, sizeof buf));
    EXPECT_STR_EQ("", buf);
    EXPECT_EQ(0, cio_http_jar_header(jar, "http://h/", buf, 0));
    EXPECT_OK(cio_http_jar_set(jar, "http://h/", "a=1"));
    EXPECT_OK(cio_http_jar_set(jar, "http://h/", "b=22; Max-Age=3600"));
    EXPECT_OK(cio_http_jar_set(jar, "http://h/", "c=1; Expires=Thu, 01 Jan 1970 00:00:01 GMT"));
    EXPECT_EQ(2, cio_http_jar_count(jar));
    EXPECT_EQ(9, cio_http_jar_header(jar, "http://h/x", buf, sizeof buf));
    EXPECT_STR_EQ("a=1; b=22", buf);
    EXPECT_EQ(9, cio_http_jar_header(jar, "http://h/x", buf, 10));
    EXPECT_ERR(-ENOSPC, cio_http_jar_header(jar, "http://h/x", buf, 9));
    EXPECT_ERR(-ENOSPC, cio_http_jar_header(jar, "http://h/x", buf, 3));
    EXPECT_ERR(-ENOSPC, cio_http_jar_header(jar, "http://h/x", buf, 0));
    EXPECT_OK(cio_http_jar_set(jar, "http://h/", "b=; Max-Age=0"));
    EXPECT_EQ(1, cio_http_jar_count(jar));
    cio_http_jar_clear(jar);
    EXPECT_EQ(0, cio_http_jar_count(jar));
    EXPECT_EQ(0, cio_http_jar_header(jar, "http://h/", buf, sizeof buf));
    /* the internal functions' checks */
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse("http://h/", &u));
    EXPECT_ERR(-EINVAL, cio__http_jar_store(NULL, &u, "a=1", T0));
    EXPECT_ERR(-EINVAL, cio__http_jar_store(jar, NULL, "a=1", T0));
    EXPECT_ERR(-EINVAL, cio__http_jar_store(jar, &u, NULL, T0));
    EXPECT_ERR(-EINVAL, cio__http_jar_cookies(NULL, &u, T0, buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio__http_jar_cookies(jar, NULL, T0, buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio__http_jar_cookies(jar, &u, T0, NULL, 1));
    EXPECT_EQ(0, cio__http_jar_cookies(jar, &u, T0, NULL, 0));
    cio__http_url_free(&u);
    cio_http_jar_free(jar);
}

/* ---- Proxy selection --------------------------------------------------------- */

static void clear_proxy_env(void)
{
    const char *names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                           "no_proxy",   "NO_PROXY",   "REQUEST_METHOD", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unsetenv(names[i]);
}

/* The proxy chosen for url ("" for direct), or the error's name. */
static const char *proxy_for(const char *explicit_proxy, bool env, const char *url)
{
    static char res[256];
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse(url, &u));
    char *out = (char *)"junk";
    int rc = cio__http_proxy_for(explicit_proxy, env, &u, &out);
    cio__http_url_free(&u);
    if (rc < 0) {
        EXPECT_PTR_EQ(NULL, out);
        snprintf(res, sizeof res, "%s", cio_err_name(rc));
    } else {
        snprintf(res, sizeof res, "%s", out ? out : "");
        free(out);
    }
    return res;
}

TEST(proxy_explicit)
{
    clear_proxy_env();
    setenv("no_proxy", "*", 1);
    setenv("http_proxy", "http://env:1", 1);
    EXPECT_STR_EQ("http://p:3128", proxy_for("http://p:3128", true, "http://example.com/"));
    EXPECT_STR_EQ("http://p:3128", proxy_for("http://P:3128/", false, "https://example.com/"));
    EXPECT_STR_EQ("http://p:3128", proxy_for("p:3128", true, "http://example.com/"));
    EXPECT_STR_EQ("http://p:80", proxy_for("http://p", true, "http://example.com/"));
    EXPECT_STR_EQ("http://u:p%40ss@p:8080", proxy_for("http://u:p%40ss@p:8080", true, "http://h/"));
    EXPECT_STR_EQ("http://[::1]:8080", proxy_for("http://[::1]:8080/", true, "http://h/"));
    EXPECT_STR_EQ("EINVAL", proxy_for("https://p:443", true, "http://h/"));
    EXPECT_STR_EQ("EINVAL", proxy_for("socks5://p:1080", true, "http://h/"));
    EXPECT_STR_EQ("EINVAL", proxy_for("", true, "http://h/"));
    EXPECT_STR_EQ("EINVAL", proxy_for("http://p:0", true, "http://h/"));
    EXPECT_STR_EQ("EINVAL", proxy_for("p q:80", true, "http://h/"));
    /* nothing from the environment when asked not to */
    EXPECT_STR_EQ("", proxy_for(NULL, false, "http://h/"));
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse("http://h/", &u));
    char *out;
    EXPECT_ERR(-EINVAL, cio__http_proxy_for(NULL, true, &u, NULL));
    EXPECT_ERR(-EINVAL, cio__http_proxy_for(NULL, true, NULL, &out));
    cio__http_url_free(&u);
}

TEST(proxy_environment)
{
    clear_proxy_env();
    EXPECT_STR_EQ("", proxy_for(NULL, true, "http://h/"));
    setenv("http_proxy", "http://hp:3128", 1);
    EXPECT_STR_EQ("http://hp:3128", proxy_for(NULL, true, "http://h/"));
    EXPECT_STR_EQ("http://hp:3128", proxy_for(NULL, true, "ws://h/"));
    EXPECT_STR_EQ("", proxy_for(NULL, true, "https://h/"));
    EXPECT_STR_EQ("", proxy_for(NULL, true, "wss://h/"));
    setenv("https_proxy", "sp:8443", 1);
    EXPECT_STR_EQ("http://sp:8443", proxy_for(NULL, true, "https://h/"));
    EXPECT_STR_EQ("http://sp:8443", proxy_for(NULL, true, "wss://h/"));
    /* lower case wins; an empty one counts as unset */
    setenv("HTTP_PROXY", "http://upper:1", 1);
    setenv("HTTPS_PROXY", "http://upper:2", 1);
    EXPECT_STR_EQ("http://hp:3128", proxy_for(NULL, true, "http://h/"));
    EXPECT_STR_EQ("http://sp:8443", proxy_for(NULL, true, "https://h/"));
    setenv("http_proxy", "", 1);
    unsetenv("https_proxy");
    EXPECT_STR_EQ("http://upper:1", proxy_for(NULL, true, "http://h/"));
    EXPECT_STR_EQ("http://upper:2", proxy_for(NULL, true, "https://h/"));
    /* httpoxy: no HTTP_PROXY in a CGI program; http_proxy and HTTPS_PROXY still */
    setenv("REQUEST_METHOD", "GET", 1);
    EXPECT_STR_EQ("", proxy_for(NULL, true, "http://h/"));
    EXPECT_STR_EQ("http://upper:2", proxy_for(NULL, true, "https://h/"));
    setenv("http_proxy", "http://lower:3", 1);
    EXPECT_STR_EQ("http://lower:3", proxy_for(NULL, true, "http://h/"));
    unsetenv("REQUEST_METHOD");
    /* a proxy of another kind is an error */
    setenv("http_proxy", "socks5h://s:1080", 1);
    EXPECT_STR_EQ("EINVAL", proxy_for(NULL, true, "http://h/"));
    EXPECT_STR_EQ("", proxy_for(NULL, false, "http://h/"));
    /* no_proxy, then NO_PROXY */
    setenv("http_proxy", "http://hp:3128", 1);
    setenv("NO_PROXY", "h", 1);
    EXPECT_STR_EQ("", proxy_for(NULL, true, "http://h/"));
    setenv("no_proxy", "other", 1);
    EXPECT_STR_EQ("http://hp:3128", proxy_for(NULL, true, "http://h/"));
    setenv("no_proxy", "", 1);
    EXPECT_STR_EQ("", proxy_for(NULL, true, "http://h/"));
}

TEST(proxy_no_proxy_forms)
{
    static const struct {
        const char *no_proxy, *url;
        bool direct;
    } t[] = {
        {"*", "http://anything.example/", true},
        {"*", "http://127.0.0.1/", true},
        {"example.com", "http://example.com/", true},
        {"example.com", "http://a.b.example.com/", true},
        {"example.com", "http://notexample.com/", false},
        {"example.com", "http://example.com.evil/", false},
        {"example.com", "http://example.org/", false},
        {".example.com", "http://example.com/", true},
        {".example.com", "http://www.example.com/", true},
        {".example.com", "http://wwwexample.com/", false},
        {"*.example.com", "http://www.example.com/", true},
        {"EXAMPLE.Com.", "http://www.example.com/", true},
        {"example.com", "http://example.com./", true},
        {"example.com:8080", "http://example.com:8080/", true},
        {"example.com:8080", "http://example.com/", false},
        {"example.com:443", "https://example.com/", true},
        {"example.com:x", "http://example.com/", false},
        {"10.0.0.0/8", "http://10.1.2.3/", true},
        {"10.0.0.0/8", "http://11.0.0.1/", false},
        {"10.0.0.0/8", "http://ten.example/", false},
        {"192.168.1.0/24", "http://192.168.1.254:8080/", true},
        {"192.168.1.0/24", "http://192.168.2.1/", false},
        {"192.168.1.0/33", "http://192.168.1.1/", false},
        {"192.168.1.0/", "http://192.168.1.1/", false},
        {"0.0.0.0/0", "http://8.8.8.8/", true},
        {"127.0.0.1", "http://127.0.0.1:9/", true},
        {"127.0.0.1", "http://127.0.0.2/", false},
        {"127.0.0.1:9", "http://127.0.0.1:9/", true},
        {"127.0.0.1:9", "http://127.0.0.1:10/", false},
        {"::1", "http://[::1]/", true},
        {"[::1]", "http://[::1]/", true},
        {"[::1]:8080", "http://[::1]:8080/", true},
        {"[::1]:8080", "http://[::1]/", false},
        {"0:0::1", "http://[::1]/", true},
        {"fe80::/10", "http://[fe80::1]/", true},
        {"fe80::/10", "http://[fec0::1]/", false},
        {"::1", "http://127.0.0.1/", false},
        {"a.example, b.example ,c.example", "http://b.example/", true},
        {"a.example b.example", "http://b.example/", true},
        {",, ,c.example,", "http://c.example/", true},
        {",, ,", "http://c.example/", false},
        {"localhost,127.0.0.0/8", "http://127.5.5.5/", true},
    };
    clear_proxy_env();
    setenv("http_proxy", "http://hp:3128", 1);
    setenv("https_proxy", "http://sp:3129", 1);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        setenv("no_proxy", t[i].no_proxy, 1);
        const char *got = proxy_for(NULL, true, t[i].url);
        bool direct = got[0] == '\0';
        if (direct != t[i].direct)
            FAIL("no_proxy=\"%s\" %s: got \"%s\"", t[i].no_proxy, t[i].url, got);
    }
}

/* ---- CONNECT through an in-process proxy --------------------------------------- */

enum proxy_mode { PX_OK, PX_OK_EARLY, PX_INTERIM, PX_407, PX_GARBAGE, PX_CLOSE, PX_HTTP10,
                  PX_PARTIAL, PX_101, PX_BODY };

struct proxy_ctx {
    enum proxy_mode mode;
    char head[2048];
    ssize_t head_n;
};

/* Reads the CONNECT head, answers as the mode says, and echoes after a 2xx. */
static int proxy_handler(cio_stream *s, void *arg)
{
    struct proxy_ctx *c = arg;
    c->head_n = cio_stream_read_until(s, "\r\n\r\n", 4, c->head, sizeof c->head - 1);
    if (c->head_n <= 0) return 0;
    c->head[c->head_n] = '\0';
    static const char *const answers[] = {
        [PX_OK] = "HTTP/1.1 200 Connection established\r\n\r\n",
        [PX_OK_EARLY] = "HTTP/1.1 200 OK\r\nVia: test\r\n\r\nEARLY",
        [PX_INTERIM] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                       "HTTP/1.1 204 No Content\r\n\r\n",
        [PX_407] = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                   "Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 5\r\n\r\nnope!",
        [PX_GARBAGE] = "SSH-2.0-OpenSSH_9.2\r\n\r\n",
        [PX_CLOSE] = "",
        [PX_HTTP10] = "HTTP/1.0 200 Connection established\r\nProxy-agent: t/1\r\n\r\n",
        [PX_PARTIAL] = "HTTP/1.1 200 Conn",
        [PX_101] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
        [PX_BODY] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
    };
    const char *ans = answers[c->mode];
    if (*ans) EXPECT_OK(cio_stream_write(s, ans, strlen(ans)));
    if (c->mode != PX_OK && c->mode != PX_OK_EARLY && c->mode != PX_INTERIM &&
        c->mode != PX_HTTP10 && c->mode != PX_BODY)
        return 0; /* the server closes the connection */
    char buf[256];
    for (int i = 0; i < 100; i++) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0) break;
        if (cio_stream_write(s, buf, (size_t)n) < 0) break;
    }
    return 0;
}

struct connect_case {
    enum proxy_mode mode;
    const char *target, *userinfo;
    int want_rc, want_status;
    const char *want_line, *want_auth;
};

static int connect_main(void *arg, void **res)
{
    (void)res;
    const struct connect_case *k = arg;
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 30));
    struct proxy_ctx ctx = {.mode = k->mode};
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, NULL, proxy_handler, &ctx, &srv));
    cio_addr bound;
    EXPECT_OK(cio_server_addr(srv, &bound));
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&bound, NULL, NULL, &s));
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse(k->target, &u));
    int status = -1;
    int rc = cio__http_proxy_connect(s, &u, k->userinfo, &status);
    cio__http_url_free(&u);
    if (rc != k->want_rc)
        FAIL("mode %d: expected %s, got %s", (int)k->mode, cio_err_name(k->want_rc),
             cio_err_name(rc));
    EXPECT_EQ(k->want_status, status);
    if (k->want_line) {
        EXPECT_TRUE(ctx.head_n > 0);
        if (strncmp(ctx.head, k->want_line, strlen(k->want_line)) != 0)
            FAIL("request head: %s", ctx.head);
    }
    if (k->want_auth) {
        if (!strstr(ctx.head, k->want_auth)) FAIL("no %s in %s", k->want_auth, ctx.head);
    } else if (ctx.head_n > 0) {
        EXPECT_TRUE(strstr(ctx.head, "Proxy-Authorization") == NULL);
    }
    if (rc == 0) {
        /* the tunnel: bytes after the answer's header section are ours */
        char buf[64];
        if (k->mode == PX_OK_EARLY) {
            EXPECT_EQ(5, cio_stream_read_exactly(s, buf, 5));
            EXPECT_TRUE(memcmp(buf, "EARLY", 5) == 0);
        }
        EXPECT_OK(cio_stream_write(s, "ping", 4));
        EXPECT_EQ(4, cio_stream_read_exactly(s, buf, 4));
        EXPECT_TRUE(memcmp(buf, "ping", 4) == 0);
    }
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_server_close(srv, 5));
    cio_scope_end(&sc);
    return 0;
}

TEST(proxy_connect)
{
    static const struct connect_case cases[] = {
        {PX_OK, "https://example.com/x?y", NULL, 0, 200,
         "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", NULL},
        {PX_OK_EARLY, "https://[2001:db8::1]:8443/", NULL, 0, 200,
         "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n", NULL},
        {PX_HTTP10, "wss://h.example/", "Aladdin:open%20sesame", 0, 200,
         "CONNECT h.example:443 HTTP/1.1\r\n",
         "\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"},
        {PX_OK, "http://h:80/", "user", 0, 200, "CONNECT h:80 HTTP/1.1\r\n",
         "Proxy-Authorization: Basic dXNlcjo=\r\n"},
        {PX_OK, "http://h:80/", "u%3a:p%40%25", 0, 200, NULL,
         "Proxy-Authorization: Basic dTo6cEAl\r\n"},
        {PX_INTERIM, "https://h/", NULL, 0, 204, NULL, NULL},
        {PX_BODY, "https://h/", NULL, 0, 200, NULL, NULL},
        {PX_407, "https://h/", "a:b", -ECONNREFUSED, 407, NULL, "Basic YTpi"},
        {PX_101, "https://h/", NULL, -ECONNREFUSED, 101, NULL, NULL},
        {PX_GARBAGE, "https://h/", NULL, -EPROTO, 0, NULL, NULL},
        {PX_PARTIAL, "https://h/", NULL, -EPROTO, 0, NULL, NULL},
        {PX_CLOSE, "https://h/", NULL, -ECONNRESET, 0, NULL, NULL},
    };
    int before = test_fd_baseline();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        EXPECT_OK(cio_run(connect_main, (void *)&cases[i], NULL));
    EXPECT_EQ(before, test_fd_count());
}

static int connect_args_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct cio__http_url u;
    EXPECT_OK(cio__http_url_parse("https://h/", &u));
    int status = 5;
    EXPECT_ERR(-EINVAL, cio__http_proxy_connect(NULL, &u, NULL, &status));
    EXPECT_EQ(0, status);
    int sv[2];
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    cio_stream *s;
    EXPECT_OK(cio_stream_new(sv[0], NULL, &s));
    EXPECT_ERR(-EINVAL, cio__http_proxy_connect(s, NULL, NULL, &status));
    /* a userinfo with a bad escape */
    EXPECT_ERR(-EINVAL, cio__http_proxy_connect(s, &u, "a:%zz", NULL));
    EXPECT_OK(cio_stream_close(s));
    close(sv[1]);
    cio__http_url_free(&u);
    return 0;
}

TEST(proxy_connect_arguments)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(connect_args_main, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- Random inputs: no crash, the invariants hold (run under ASan too) --------- */

static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static void random_text(char *buf, size_t cap, const char *alphabet)
{
    size_t an = strlen(alphabet), n = rnd() % (cap - 1);
    for (size_t i = 0; i < n; i++) buf[i] = alphabet[rnd() % an];
    buf[n] = '\0';
}

TEST(random_inputs)
{
    static const char *const prefixes[] = {"http://", "https://", "ws://", "HTTP://u:p@", "http://[",
                                           "", "//", "/", "?", "#"};
    const char *alpha = "ab.:/?#@[]%0123456789-_~!$&'()*+,;= \t\x01\x80\xffZ.\\";
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    char tail[64], url[128], ref[64], sc[96];
    for (int i = 0; i < 20000; i++) {
        random_text(tail, sizeof tail, alpha);
        snprintf(url, sizeof url, "%s%s", prefixes[rnd() % 10], tail);
        struct cio__http_url u;
        int rc = cio__http_url_parse(url, &u);
        EXPECT_TRUE(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            EXPECT_TRUE(u.host[0] != '\0');
            EXPECT_TRUE(u.target[0] == '/');
            EXPECT_TRUE(u.port != 0);
            for (const char *p = u.target; *p; p++)
                if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
                    FAIL("target %s of %s", u.target, url);
            random_text(sc, sizeof sc, "ab=; \tDomainPathMax-Age=Expires0123456789./,:-");
            rc = cio__http_jar_store(jar, &u, sc, T0);
            EXPECT_TRUE(rc == 0 || rc == -EINVAL);
            char field[8192];
            EXPECT_TRUE(cio__http_jar_cookies(jar, &u, T0, field, sizeof field) >= 0);
            cio__http_url_free(&u);
        }
        random_text(ref, sizeof ref, alpha);
        char *out = NULL;
        rc = cio__http_url_resolve("http://a/b/c/d;p?q", ref, &out);
        EXPECT_TRUE(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            EXPECT_TRUE(out != NULL);
            free(out);
        }
    }
    cio_http_jar_free(jar);

    /* valid streams with bytes changed, and random bytes */
    unsigned char *text = sample(3000), *z = NULL;
    for (int f = 0; f < 3; f++) {
        size_t zn = zip((enum zform)f, text, 3000, &z, 0);
        for (int i = 0; i < 3000; i++) {
            unsigned char *m = malloc(zn);
            memcpy(m, z, zn);
            for (int k = 0; k < 1 + (int)(rnd() % 3); k++) m[rnd() % zn] ^= (unsigned char)(1 + rnd() % 255);
            size_t mn = rnd() % 4 == 0 ? rnd() % zn : zn;
            unsigned char *res;
            size_t rn;
            bool done;
            int rc = decode_all(f == 0 ? "gzip" : "deflate", m, mn, 1 + rnd() % 700,
                                1 + rnd() % 5000, &res, &rn, &done);
            EXPECT_TRUE(rc == 0 || rc == -EPROTO);
            free(res);
            free(m);
        }
    }
    free(z);
    free(text);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
