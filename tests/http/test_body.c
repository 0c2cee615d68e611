/* Request bodies (src/http/server.c): cio_http_request_read in pieces,
 * Content-Length and chunked (extensions, trailers), cio_http_request_body,
 * the body limit, Expect: 100-continue, the minimum rate, an unread body
 * drained or the connection closed, a few hundred MB streamed with flat
 * memory. */
#include "http/http_util.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                                      \
    } while (0)

/* Reads the body in pieces of `piece` bytes and answers with its length,
 * a checksum and what the last read returned. */
static int reader(cio_http_request *req, cio_http_response *res, void *arg)
{
    size_t piece = arg ? *(size_t *)arg : 7;
    char buf[65536];
    uint64_t total = 0, sum = 0;
    ssize_t n;
    while ((n = cio_http_request_read(req, buf, piece)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + (unsigned char)buf[i];
        total += (uint64_t)n;
    }
    if (n < 0)
        return (int)n;
    EXPECT_EQ(0, cio_http_request_read(req, buf, piece)); /* stays at the end */
    char out[128];
    snprintf(out, sizeof out, "%llu %llu %lld", (unsigned long long)total,
             (unsigned long long)sum, (long long)cio_http_request_content_length(req));
    return cio_http_response_text(res, 200, out);
}

static int whole(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const void *d1, *d2;
    size_t l1, l2;
    int rc = cio_http_request_body(req, 0, &d1, &l1);
    if (rc)
        return rc;
    EXPECT_OK(cio_http_request_body(req, 0, &d2, &l2));
    EXPECT_PTR_EQ(d1, d2);
    EXPECT_EQ(l1, l2);
    EXPECT_EQ(0, ((const char *)d1)[l1]);
    return cio_http_response_send(res, 200, "application/octet-stream", d1, l1);
}

static int small_max(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const void *d;
    size_t l;
    int rc = cio_http_request_body(req, 4, &d, &l);
    char out[64];
    snprintf(out, sizeof out, "%d", rc);
    return cio_http_response_text(res, 200, out);
}

static int ignore(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "ignored");
}

static int args(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char b[4];
    const void *d = (void *)1;
    size_t l = 1;
    EXPECT_ERR(-EINVAL, cio_http_request_read(NULL, b, 4));
    EXPECT_ERR(-EINVAL, cio_http_request_read(req, NULL, 4));
    EXPECT_ERR(-EINVAL, cio_http_request_read(req, b, 0));
    EXPECT_ERR(-EINVAL, cio_http_request_body(NULL, 0, &d, &l));
    EXPECT_TRUE(d == NULL && l == 0);
    EXPECT_ERR(-EINVAL, cio_http_request_body(req, 0, NULL, &l));
    EXPECT_ERR(-EINVAL, cio_http_request_body(req, 0, &d, NULL));
    /* no body: 0 at once, and an empty whole body */
    EXPECT_EQ(0, cio_http_request_read(req, b, 4));
    EXPECT_OK(cio_http_request_body(req, 0, &d, &l));
    EXPECT_EQ(0, l);
    EXPECT_STR_EQ("", d);
    EXPECT_EQ(0, cio_http_request_content_length(req));
    return cio_http_response_text(res, 200, "args ok");
}

static cio_http_app *body_app(size_t *piece)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, NULL, "/read", reader, piece));
    EXPECT_OK(cio_http_app_route(app, NULL, "/whole", whole, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/max", small_max, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/ignore", ignore, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/args", args, NULL));
    return app;
}

static int basics_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    size_t piece = 3;
    cio_http_app *app = body_app(&piece);
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    struct hres r;
    http_send(s, "GET /args HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("args ok", r.body);
    hres_free(&r);
    /* Content-Length, read 3 bytes at a time; the next request follows. */
    http_send(s, "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"
                 "POST /whole HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(strncmp(r.body, "10 ", 3) == 0);
    EXPECT_TRUE(strstr(r.body, " 10") != NULL);
    hres_free(&r);
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("hello", r.body);
    hres_free(&r);
    /* chunked, with an extension and trailers (dropped) */
    http_send(s, "POST /whole HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("hello world", r.body);
    hres_free(&r);
    http_send(s, "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "a\r\n0123456789\r\n0\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(strncmp(r.body, "10 ", 3) == 0);
    EXPECT_TRUE(strstr(r.body, " -1") != NULL);
    hres_free(&r);
    /* cio_http_request_body's max */
    http_send(s, "POST /max HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("-90", r.body); /* -EMSGSIZE */
    hres_free(&r);
    http_send(s, "POST /max HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("-90", r.body);
    hres_free(&r);
    /* a body the handler did not read is drained: the connection goes on */
    http_send(s, "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                 "POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n"
                 "GET /args HTTP/1.1\r\nHost: a\r\n\r\n");
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(http_read(s, &r, false));
        EXPECT_STR_EQ("ignored", r.body);
        EXPECT_FALSE(hres_has(&r, "Connection", NULL));
        hres_free(&r);
    }
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("args ok", r.body);
    hres_free(&r);
    /* a malformed chunk while the handler reads: 400 and close */
    http_send(s, "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "zz\r\nabc\r\n0\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(400, r.status);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(body_basics) { RUN(basics_main, NULL); }

static int limit_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = body_app(NULL);
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.max_body_size = 8);
    cio_http_server *srv = http_start(app, &o);
    struct hres r;
    /* chunked over the limit: -EMSGSIZE in the handler, 413 */
    http_once(srv, "POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &r);
    EXPECT_EQ(413, r.status);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    http_once(srv, "POST /whole HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &r);
    EXPECT_EQ(413, r.status);
    hres_free(&r);
    http_once(srv, "POST /whole HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n3\r\nwor\r\n0\r\n\r\n", &r);
    EXPECT_STR_EQ("hellowor", r.body);
    hres_free(&r);
    EXPECT_OK(cio_http_server_close(srv, 1));
    /* no limit */
    o = CIO_HTTP_SERVER_OPTIONS(.max_body_size = UINT64_MAX);
    srv = http_start(app, &o);
    http_once(srv, "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n"
                   "01234567890123456789", &r);
    EXPECT_TRUE(strncmp(r.body, "20 ", 3) == 0);
    hres_free(&r);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(body_limit) { RUN(limit_main, NULL); }

static int expect_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = body_app(NULL);
    cio_http_server *srv = http_start(app, NULL);
    struct hres r;
    /* 100 Continue comes at the first read, and only then the body. */
    cio_stream *s = http_connect(srv);
    http_send(s, "POST /whole HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                 "Content-Length: 5\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(100, r.status);
    http_send(s, "hello");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("hello", r.body);
    hres_free(&r);
    /* A handler that answers without reading: no 100, and the connection
     * closes (the client may not send the body at all). */
    http_send(s, "POST /ignore HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                 "Content-Length: 5\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(200, r.status);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    /* HTTP/1.0 gets no 100 */
    s = http_connect(srv);
    http_send(s, "POST /whole HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("ok", r.body);
    hres_free(&r);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(body_expect_continue) { RUN(expect_main, NULL); }

static int rate_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = body_app(NULL);
    cio_http_server_options o =
        CIO_HTTP_SERVER_OPTIONS(.body_min_rate = 1000, .body_rate_window = 0.1);
    cio_http_server *srv = http_start(app, &o);
    struct hres r;
    cio_stream *s = http_connect(srv);
    http_send(s, "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nabc");
    /* and nothing more: too slow */
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(408, r.status);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    /* a negative rate: no minimum (the handler waits for the client) */
    o = CIO_HTTP_SERVER_OPTIONS(.body_min_rate = -1, .body_rate_window = 0.05);
    srv = http_start(app, &o);
    s = http_connect(srv);
    http_send(s, "POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc");
    EXPECT_OK(cio_sleep(0.2));
    http_send(s, "def");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(200, r.status);
    hres_free(&r);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(body_min_rate) { RUN(rate_main, NULL); }

/* ---- Streaming a few hundred MB both ways with flat memory ----------------------------------- */

#define BIG ((uint64_t)300 << 20)

struct up_ctx {
    cio_http_server *srv;
    uint64_t sent;
    int rc;
};

static int upload_client(void *arg, void **res)
{
    (void)res;
    struct up_ctx *u = arg;
    cio_stream *s = http_connect(u->srv);
    char head[128];
    snprintf(head, sizeof head, "PUT /read HTTP/1.1\r\nHost: a\r\nContent-Length: %llu\r\n\r\n",
             (unsigned long long)BIG);
    http_send(s, head);
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    while (u->sent < BIG) {
        size_t n = BIG - u->sent < sizeof buf ? (size_t)(BIG - u->sent) : sizeof buf;
        if ((u->rc = cio_stream_write(s, buf, n)))
            break;
        u->sent += n;
    }
    struct hres r;
    EXPECT_OK(http_read(s, &r, false));
    char want[32];
    snprintf(want, sizeof want, "%llu ", (unsigned long long)BIG);
    EXPECT_TRUE(strncmp(r.body, want, strlen(want)) == 0);
    hres_free(&r);
    cio_stream_close(s);
    return 0;
}

static int download(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    static char buf[1 << 16];
    memset(buf, 'y', sizeof buf);
    int rc = cio_http_response_begin(res, -1);
    for (uint64_t sent = 0; !rc && sent < BIG; sent += sizeof buf)
        rc = cio_http_response_write(res, buf, sizeof buf);
    return rc ? rc : cio_http_response_end(res);
}

static int stream_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 240));
    size_t piece = 65536;
    cio_http_app *app = body_app(&piece);
    EXPECT_OK(cio_http_app_route(app, "GET", "/download", download, NULL));
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.max_body_size = UINT64_MAX);
    cio_http_server *srv = http_start(app, &o);
    long rss0 = vm_rss_kib();
    struct up_ctx u = {.srv = srv};
    cio_task *t;
    EXPECT_OK(cio_spawn(upload_client, &u, &t));
    long peak = 0;
    while (!cio_future_is_done(t)) {
        long rss = vm_rss_kib();
        if (rss > peak)
            peak = rss;
        EXPECT_OK(cio_sleep(0.01));
    }
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(u.rc);
    EXPECT_EQ(BIG, u.sent);
    /* The body streamed: memory grew by far less than its size. */
    if (peak - rss0 > 48 * 1024)
        FAIL("upload: RSS grew by %ld KiB", peak - rss0);
    /* Download: read the chunked body in pieces, watching memory. */
    cio_stream *s = http_connect(srv);
    http_send(s, "GET /download HTTP/1.1\r\nHost: a\r\n\r\n");
    char head[4096];
    ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head);
    EXPECT_TRUE(n > 0);
    EXPECT_TRUE(memmem(head, (size_t)n, "Transfer-Encoding: chunked", 26) != NULL);
    uint64_t got = 0;
    static char buf[1 << 16];
    for (;;) {
        char line[64];
        ssize_t m = cio_stream_read_line(s, line, sizeof line - 1);
        EXPECT_TRUE(m > 0);
        line[m] = 0;
        size_t sz = strtoul(line, NULL, 16);
        if (sz == 0)
            break;
        while (sz) {
            size_t want = sz < sizeof buf ? sz : sizeof buf;
            ssize_t k = cio_stream_read(s, buf, want);
            EXPECT_TRUE(k > 0);
            sz -= (size_t)k;
            got += (uint64_t)k;
        }
        EXPECT_EQ(2, cio_stream_read_exactly(s, line, 2));
        if ((got & ((16 << 20) - 1)) == 0) {
            long rss = vm_rss_kib();
            if (rss > peak)
                peak = rss;
        }
    }
    EXPECT_EQ(BIG, got);
    if (peak - rss0 > 48 * 1024)
        FAIL("download: RSS grew by %ld KiB", peak - rss0);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST_T(body_stream_300mb_flat_memory, 280) { RUN(stream_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
