/* The server's hot path (perf work of issue 10): field values checked
 * eight bytes at a time, HEAD after begin(len), the lazily re-armed idle
 * timer when the keep-alive wait is shorter than the header wait. */
#include "http/http_util.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                                      \
    } while (0)

static int end_rc = 1;

/* begin(5), no body written, then end: fine on HEAD. */
static int declared(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    int rc = cio_http_response_begin(res, 5);
    if (rc)
        return rc;
    if (strcmp(cio_http_request_method(req), "HEAD") != 0 &&
        (rc = cio_http_response_write(res, "hello", 5)))
        return rc;
    end_rc = cio_http_response_end(res);
    return end_rc;
}

/* Field values: the word-at-a-time check agrees with the byte rule. */
static int values(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    int bad = 0;
    static const char *ok[] = {"", "a", "abcdefgh", "abc\tdefghijklmnop", "\x80\xff obs-text ok",
                               "0123456789abcdef~", "x y"};
    static const char *no[] = {"abcdefgh\x7f", "abcdefghij\x01", "\x1f", "abcdefg\x7f", "a\rb",
                               "0123456789abcdef\n", "\x7fzzzzzzzz"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (cio_http_response_header(res, "X-Ok", ok[i]) != 0)
            bad++;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (cio_http_response_header(res, "X-No", no[i]) != -EINVAL)
            bad++;
    if (cio_http_response_send(res, 200, "text/plain\x7f", "x", 1) != -EINVAL)
        bad++;
    char body[16];
    snprintf(body, sizeof body, "bad=%d", bad);
    return cio_http_response_text(res, 200, body);
}

static int hotpath_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, NULL, "/d", declared, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/v", values, NULL));
    /* A keep-alive wait shorter than the header wait: the idle timer armed
     * for the first moves earlier for the second. */
    cio_http_server_options o =
        CIO_HTTP_SERVER_OPTIONS(.header_timeout = 30, .keepalive_timeout = 0.2);
    cio_http_server *srv = http_start(app, &o);
    cio_stream *s = http_connect(srv);
    struct hres r;
    http_send(s, "HEAD /d HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, true));
    EXPECT_EQ(200, r.status);
    EXPECT_TRUE(hres_has(&r, "Content-Length", "5"));
    EXPECT_EQ(0, end_rc);
    hres_free(&r);
    http_send(s, "GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("hello", r.body);
    hres_free(&r);
    http_send(s, "GET /v HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("bad=0", r.body);
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    WAIT_UNTIL(cio_http_server_connections(srv) == 0);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(hotpath) { RUN(hotpath_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
