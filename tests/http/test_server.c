/* The HTTP server (src/http/server.c): argument checks, keep-alive,
 * pipelining, HTTP/1.0, HEAD, the request accessors, refusals of
 * malformed requests (the full raw suite is test_conformance.c), the
 * limits, graceful shutdown, trusted proxies, the access log, handler
 * errors, HTTPS. */
#include <fcntl.h>
#include <sys/stat.h>

#include "http/http_util.h"
#include "net/test_tls_util.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                                      \
    } while (0)

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "Hello, World!");
}

/* Answers with what the request says about itself. */
static int info(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char buf[2048];
    const char *vals[4];
    size_t nm = cio_http_request_headers(req, "X-M", vals, 4);
    snprintf(buf, sizeof buf, "%s|%s|%s|%s|%d|%s|%zu|%s|%lld", cio_http_request_method(req),
             cio_http_request_target(req), cio_http_request_path(req),
             cio_http_request_query_string(req), cio_http_request_version(req),
             cio_http_request_header(req, "x-a") ? cio_http_request_header(req, "x-a") : "-", nm,
             nm ? vals[nm - 1] : "-", (long long)cio_http_request_content_length(req));
    return cio_http_response_text(res, 200, buf);
}

static cio_http_app *test_app(void)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/", hello, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/info", info, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/a b", info, NULL));
    return app;
}

/* ---- Arguments ------------------------------------------------------------------ */

static int args_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_http_app *app = test_app();
    cio_addr a = loopback4();
    cio_http_server *srv = (cio_http_server *)1;
    EXPECT_ERR(-EINVAL, cio_http_server_new(NULL, &a, NULL, &srv));
    EXPECT_TRUE(srv == NULL);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, NULL, NULL, &srv));
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, NULL, NULL));
    cio_http_server_options bad = {0};
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &bad, &srv));
    struct {
        cio_http_server_options o;
        char tail[16];
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.o.size = sizeof newer;
    newer.tail[3] = 1;
    EXPECT_ERR(-E2BIG, cio_http_server_new(app, &a, &newer.o, &srv));
    newer.tail[3] = 0;
    EXPECT_OK(cio_http_server_new(app, &a, &newer.o, &srv));
    EXPECT_OK(cio_http_server_close(srv, 0));
    cio_http_server_options o;
    o = CIO_HTTP_SERVER_OPTIONS(.header_timeout = NAN);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    o = CIO_HTTP_SERVER_OPTIONS(.keepalive_timeout = -1);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    o = CIO_HTTP_SERVER_OPTIONS(.shutdown_grace = -1);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    o = CIO_HTTP_SERVER_OPTIONS(.body_rate_window = NAN);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    o = CIO_HTTP_SERVER_OPTIONS(.access_log_fd = -1);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    o = CIO_HTTP_SERVER_OPTIONS(.access_log_format = 7);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    o = CIO_HTTP_SERVER_OPTIONS(.server_header = "bad\r\nX: y");
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    const char *bad_proxies[][2] = {{"10.0.0.0/33", NULL}, {"::1/129", NULL}, {"nope", NULL},
                                    {"1.2.3.4/", NULL},    {"1.2.3.4/-1", NULL}, {"", NULL}};
    for (size_t i = 0; i < sizeof bad_proxies / sizeof bad_proxies[0]; i++) {
        o = CIO_HTTP_SERVER_OPTIONS(.trusted_proxies = bad_proxies[i]);
        EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &srv));
    }
    /* Address errors come from cio_server_new. */
    EXPECT_OK(cio_http_server_new(app, &a, NULL, &srv));
    cio_addr bound;
    EXPECT_OK(cio_http_server_addr(srv, &bound));
    EXPECT_NE(0, cio_addr_port(&bound));
    cio_http_server *srv2;
    EXPECT_ERR(-EADDRINUSE, cio_http_server_new(app, &bound, NULL, &srv2));
    EXPECT_ERR(-EINVAL, cio_http_server_addr(NULL, &bound));
    EXPECT_ERR(-EINVAL, cio_http_server_addr(srv, NULL));
    EXPECT_EQ(0, cio_http_server_connections(NULL));
    EXPECT_EQ(0, cio_http_server_connections(srv));
    EXPECT_ERR(-EINVAL, cio_http_server_close(NULL, 0));
    EXPECT_ERR(-EINVAL, cio_http_server_close(srv, NAN));
    cio_future *f = (cio_future *)1;
    EXPECT_ERR(-EINVAL, cio_http_server_close_future(NULL, 0, &f));
    EXPECT_TRUE(f == NULL);
    EXPECT_ERR(-EINVAL, cio_http_server_close_future(srv, 0, NULL));
    EXPECT_ERR(-EINVAL, cio_http_server_close_future(srv, NAN, &f));
    /* The app is served: it cannot change. */
    EXPECT_ERR(-EBUSY, cio_http_app_route(app, "GET", "/x", hello, NULL));
    EXPECT_OK(cio_http_server_close(srv, -1));
    EXPECT_OK(cio_http_app_route(app, "GET", "/x", hello, NULL));
    cio_http_app_free(app);
    return 0;
}

static int eperm_main(void)
{
    cio_http_app *app = test_app();
    cio_addr a = loopback4();
    cio_http_server *srv = (cio_http_server *)1;
    int rc = cio_http_server_new(app, &a, NULL, &srv);
    cio_http_app_free(app);
    return rc;
}

TEST(server_args)
{
    RUN(args_main, NULL);
    EXPECT_ERR(-EPERM, eperm_main());
}

TEST(status_reason)
{
    EXPECT_STR_EQ("OK", cio_http_status_reason(200));
    EXPECT_STR_EQ("Not Found", cio_http_status_reason(404));
    EXPECT_STR_EQ("Request Header Fields Too Large", cio_http_status_reason(431));
    EXPECT_STR_EQ("HTTP Version Not Supported", cio_http_status_reason(505));
    EXPECT_STR_EQ("", cio_http_status_reason(299));
    EXPECT_STR_EQ("", cio_http_status_reason(-1));
}

/* ---- Keep-alive, pipelining, versions -------------------------------------------------- */

static int keepalive_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    struct hres r;
    for (int i = 0; i < 3; i++) {
        http_send(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        EXPECT_OK(http_read(s, &r, false));
        EXPECT_EQ(200, r.status);
        EXPECT_STR_EQ("Hello, World!", r.body);
        EXPECT_TRUE(hres_has(&r, "Content-Type", "text/plain; charset=utf-8"));
        EXPECT_TRUE(hres_has(&r, "Content-Length", "13"));
        EXPECT_TRUE(hres_has(&r, "Server", "cio"));
        char date[64];
        EXPECT_TRUE(hres_header(&r, "Date", date, sizeof date) != NULL);
        EXPECT_EQ(29, (int)strlen(date));
        EXPECT_TRUE(strstr(date, " GMT") != NULL);
        EXPECT_FALSE(hres_has(&r, "Connection", NULL));
        hres_free(&r);
    }
    EXPECT_EQ(1, cio_http_server_connections(srv));
    /* Connection: close from the client. */
    http_send(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_keepalive) { RUN(keepalive_main, NULL); }

static int pipeline_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    char all[16 * 64] = "";
    for (int i = 0; i < 16; i++) {
        char one[64];
        snprintf(one, sizeof one, "GET /info?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        strcat(all, one);
    }
    http_send(s, all);
    for (int i = 0; i < 16; i++) {
        struct hres r;
        EXPECT_OK(http_read(s, &r, false));
        char want[64];
        snprintf(want, sizeof want, "GET|/info?n=%d|/info|n=%d|1|-|0|-|0", i, i);
        EXPECT_STR_EQ(want, r.body);
        hres_free(&r);
    }
    /* Many more than max_pipelined, read only after all were sent. */
    size_t n = 2000;
    char *big = malloc(n * 32 + 1), *p = big;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_OK(cio_stream_write(s, big, (size_t)(p - big)));
    free(big);
    for (size_t i = 0; i < n; i++) {
        struct hres r;
        EXPECT_OK(http_read(s, &r, false));
        EXPECT_EQ(200, r.status);
        hres_free(&r);
    }
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_pipelining) { RUN(pipeline_main, NULL); }

/* A client that pipelines and never reads: the server stops reading (the
 * client's writes block) instead of buffering without bound. */
static int flood_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server *srv = http_start(app, NULL);
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(srv, &a));
    int fd;
    EXPECT_OK(cio_socket_connect(&a, NULL, &fd));
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[65536];
    size_t k = 0;
    for (size_t i = 0; i + sizeof req <= sizeof buf; i += sizeof req - 1, k++)
        memcpy(buf + i, req, sizeof req - 1);
    size_t chunk = k * (sizeof req - 1);
    /* Write without reading until the kernel refuses more for a while:
     * the server must have stopped reading. Bounded: 64 MiB. */
    size_t sent = 0;
    int stalls = 0;
    while (sent < 64u << 20 && stalls < 50) {
        ssize_t w = send(fd, buf, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            EXPECT_TRUE(errno == EAGAIN);
            stalls++;
            EXPECT_OK(cio_sleep(0.01));
            continue;
        }
        stalls = 0;
        sent += (size_t)w;
    }
    EXPECT_TRUE(sent < 64u << 20);
    long rss = vm_rss_kib();
    EXPECT_TRUE(rss < 512 * 1024);
    cio_fd_close(fd);
    EXPECT_OK(cio_http_server_close(srv, 0));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_pipeline_flood) { RUN(flood_main, NULL); }

static int versions_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server *srv = http_start(app, NULL);
    struct hres r;
    /* HTTP/1.0: closes unless keep-alive was asked for. */
    cio_stream *s = http_connect(srv);
    http_send(s, "GET /info HTTP/1.0\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("GET|/info|/info||0|-|0|-|0", r.body);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    s = http_connect(srv);
    for (int i = 0; i < 2; i++) {
        http_send(s, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        EXPECT_OK(http_read(s, &r, false));
        EXPECT_TRUE(hres_has(&r, "Connection", "keep-alive"));
        EXPECT_STR_EQ("Hello, World!", r.body);
        hres_free(&r);
    }
    cio_stream_close(s);
    /* HEAD: the same fields, no body. */
    s = http_connect(srv);
    http_send(s, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_OK(http_read(s, &r, true));
    EXPECT_EQ(200, r.status);
    EXPECT_TRUE(hres_has(&r, "Content-Length", "13"));
    EXPECT_EQ(0, r.blen);
    hres_free(&r);
    http_send(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("Hello, World!", r.body);
    hres_free(&r);
    cio_stream_close(s);
    /* Absolute form, percent-decoding, multi-valued fields. */
    http_once(srv,
              "PUT http://example.com/a%20b?q=1&r HTTP/1.1\r\nHost: example.com\r\nX-A:  v1 \r\n"
              "X-M: 1\r\nx-m: 2\r\nContent-Length: 0\r\n\r\n",
              &r);
    EXPECT_STR_EQ("PUT|http://example.com/a%20b?q=1&r|/a b|q=1&r|1|v1|2|2|0", r.body);
    hres_free(&r);
    http_once(srv, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    EXPECT_EQ(405, r.status) /* "/" has a GET route */;
    hres_free(&r);
    /* A leading empty line is ignored (RFC 9112 2.2). */
    http_once(srv, "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    EXPECT_EQ(200, r.status);
    hres_free(&r);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_versions_head_targets) { RUN(versions_main, NULL); }

/* ---- Accessors ---------------------------------------------------------------------- */

struct acc_ctx {
    int checked;
};

static int accessors(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct acc_ctx *ctx = arg;
    const char *n, *v;
    EXPECT_OK(cio_http_request_header_at(req, 0, &n, &v));
    EXPECT_STR_EQ("Host", n);
    EXPECT_STR_EQ("h", v);
    EXPECT_OK(cio_http_request_header_at(req, 1, &n, &v));
    EXPECT_STR_EQ("x-Empty", n);
    EXPECT_STR_EQ("", v);
    EXPECT_ERR(-ENOENT, cio_http_request_header_at(req, 4, &n, &v));
    EXPECT_ERR(-EINVAL, cio_http_request_header_at(NULL, 0, &n, &v));
    EXPECT_ERR(-EINVAL, cio_http_request_header_at(req, 0, NULL, &v));
    EXPECT_ERR(-EINVAL, cio_http_request_header_at(req, 0, &n, NULL));
    EXPECT_STR_EQ("", cio_http_request_header(req, "X-EMPTY"));
    EXPECT_TRUE(cio_http_request_header(req, "nope") == NULL);
    EXPECT_TRUE(cio_http_request_header(req, NULL) == NULL);
    EXPECT_TRUE(cio_http_request_header(NULL, "Host") == NULL);
    const char *vals[1];
    EXPECT_EQ(2, cio_http_request_headers(req, "x-two", vals, 1));
    EXPECT_STR_EQ("a", vals[0]);
    EXPECT_EQ(2, cio_http_request_headers(req, "x-two", NULL, 0));
    EXPECT_EQ(0, cio_http_request_headers(req, "x-two", NULL, 1));
    EXPECT_EQ(0, cio_http_request_headers(NULL, "x-two", vals, 1));
    EXPECT_TRUE(cio_http_request_method(NULL) == NULL);
    EXPECT_TRUE(cio_http_request_target(NULL) == NULL);
    EXPECT_TRUE(cio_http_request_path(NULL) == NULL);
    EXPECT_TRUE(cio_http_request_query_string(NULL) == NULL);
    EXPECT_EQ(-1, cio_http_request_version(NULL));
    EXPECT_FALSE(cio_http_request_is_tls(NULL));
    EXPECT_FALSE(cio_http_request_is_tls(req));
    EXPECT_EQ(0, cio_http_request_content_length(NULL));
    EXPECT_TRUE(cio_http_request_data(req) == NULL);
    cio_http_request_set_data(req, ctx);
    EXPECT_PTR_EQ(ctx, cio_http_request_data(req));
    cio_http_request_set_data(NULL, ctx);
    EXPECT_TRUE(cio_http_request_data(NULL) == NULL);
    cio_addr peer, client;
    EXPECT_OK(cio_http_request_peer(req, &peer));
    EXPECT_EQ(AF_INET, cio_addr_family(&peer));
    EXPECT_OK(cio_http_request_client(req, &client));
    EXPECT_TRUE(cio_addr_is_equal(&peer, &client));
    EXPECT_ERR(-EINVAL, cio_http_request_peer(NULL, &peer));
    EXPECT_ERR(-EINVAL, cio_http_request_peer(req, NULL));
    EXPECT_ERR(-EINVAL, cio_http_request_client(NULL, &client));
    EXPECT_ERR(-EINVAL, cio_http_request_client(req, NULL));
    ctx->checked++;
    return cio_http_response_text(res, 200, "ok");
}

static int accessors_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    struct acc_ctx ctx = {0};
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/acc", accessors, &ctx));
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    struct hres r;
    for (int i = 0; i < 2; i++) {
        /* The request data is NULL again for the second request. */
        http_send(s, "GET /acc HTTP/1.1\r\nHost: h\r\nx-Empty:\r\nX-Two: a\r\nx-two: b\r\n\r\n");
        EXPECT_OK(http_read(s, &r, false));
        EXPECT_EQ(200, r.status);
        hres_free(&r);
    }
    EXPECT_EQ(2, ctx.checked);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_request_accessors) { RUN(accessors_main, NULL); }

/* ---- Refusals --------------------------------------------------------------------------- */

struct refusal {
    const char *raw;
    int status;
};

static int refusals_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server *srv = http_start(app, NULL);
    static const struct refusal cases[] = {
        {"POST /info HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n", 400},
        {"POST /info HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
        {"POST /info HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        {"GET / HTTP/1.1\nHost: a\n\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
        {"POST /info HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
        {"POST /info HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        {"POST /info HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /\r\nHost: a\r\n\r\n", 400},
        {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        {"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n", 417},
        {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cio_stream *s = http_connect(srv);
        http_send(s, cases[i].raw);
        /* A request after the refused one is never answered. */
        http_send(s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        struct hres r;
        int rc = http_read(s, &r, false);
        if (rc || r.status != cases[i].status)
            FAIL("case %zu: %d, status %d, want %d", i, rc, r.status, cases[i].status);
        EXPECT_TRUE(hres_has(&r, "Connection", "close"));
        char want[64];
        snprintf(want, sizeof want, "%d %s\n", cases[i].status,
                 cio_http_status_reason(cases[i].status));
        EXPECT_STR_EQ(want, r.body);
        hres_free(&r);
        EXPECT_TRUE(http_eof(s));
        cio_stream_close(s);
        /* and the server still serves */
        http_once(srv, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
        EXPECT_EQ(200, r.status);
        hres_free(&r);
    }
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_refusals) { RUN(refusals_main, NULL); }

/* ---- Limits ---------------------------------------------------------------------------- */

static int limits_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(
        .max_request_line = 100, .max_header_size = 200, .max_headers = 5, .max_body_size = 10);
    cio_http_server *srv = http_start(app, &o);
    struct hres r;
    char raw[2048];
    /* 414: the request line, complete or not. */
    memset(raw, 'a', sizeof raw);
    memcpy(raw, "GET /", 5);
    strcpy(raw + 120, " HTTP/1.1\r\nHost: a\r\n\r\n");
    http_once(srv, raw, &r);
    EXPECT_EQ(414, r.status);
    hres_free(&r);
    raw[1000] = 0;
    memset(raw + 5, 'a', 995);
    http_once(srv, raw, &r);
    EXPECT_EQ(414, r.status);
    hres_free(&r);
    /* 431: the section's size, and the count of fields. */
    snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: a\r\nX: %0250d\r\n\r\n", 0);
    http_once(srv, raw, &r);
    EXPECT_EQ(431, r.status);
    hres_free(&r);
    http_once(srv, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", &r);
    EXPECT_EQ(431, r.status);
    hres_free(&r);
    http_once(srv, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", &r);
    EXPECT_EQ(200, r.status);
    hres_free(&r);
    /* 413 at once: the handler never runs, the body is not awaited. */
    http_once(srv, "POST /info HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", &r);
    EXPECT_EQ(413, r.status);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    http_once(srv, "POST /info HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", &r);
    EXPECT_EQ(200, r.status);
    hres_free(&r);
    EXPECT_OK(cio_http_server_close(srv, 1));

    /* max_requests: the last response says close. */
    o = CIO_HTTP_SERVER_OPTIONS(.max_requests = 2);
    srv = http_start(app, &o);
    cio_stream *s = http_connect(srv);
    http_send(s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_FALSE(hres_has(&r, "Connection", NULL));
    hres_free(&r);
    http_send(s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_limits) { RUN(limits_main, NULL); }

static int timeouts_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    /* header_timeout also bounds the wait for a new connection's first
     * byte: generous enough that connect-then-send never misses it. */
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.header_timeout = 1);
    cio_http_server *srv = http_start(app, &o);
    struct hres r;
    /* Trickling one byte at a time cannot extend the header deadline: 408
     * arrives while the client still trickles. */
    cio_stream *s = http_connect(srv);
    const char *part = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
    http_send(s, part);
    bool got = false;
    for (int i = 0; i < 2000 && !got; i++) {
        if (cio_stream_write(s, "a", 1))
            break;
        EXPECT_OK(cio_sleep(0.02));
        got = cio_stream_readable(s) > 0;
        if (!got) {
            /* poll the socket without blocking */
            const void *d;
            size_t n;
            cio_scope t;
            EXPECT_OK(cio_timeout_begin(&t, 0.001));
            int rc = cio_stream_peek(s, &d, &n);
            cio_scope_end(&t);
            got = rc == 0 && n > 0;
        }
    }
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(408, r.status);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    cio_stream_close(s);
    /* A connection that never sends a byte is closed. */
    s = http_connect(srv);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    WAIT_UNTIL(cio_http_server_connections(srv) == 0);
    EXPECT_OK(cio_http_server_close(srv, 1));
    /* An idle keep-alive connection is closed. */
    o = CIO_HTTP_SERVER_OPTIONS(.keepalive_timeout = 0.2);
    srv = http_start(app, &o);
    s = http_connect(srv);
    http_send(s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    WAIT_UNTIL(cio_http_server_connections(srv) == 0);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_timeouts) { RUN(timeouts_main, NULL); }

static int maxconn_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.max_connections = 1);
    cio_http_server *srv = http_start(app, &o);
    struct hres r;
    cio_stream *a = http_connect(srv);
    http_send(a, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(a, &r, false));
    hres_free(&r);
    cio_stream *b = http_connect(srv); /* waits in the backlog */
    http_send(b, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    for (int i = 0; i < 20; i++) {
        EXPECT_OK(cio_yield());
        EXPECT_EQ(1, cio_http_server_connections(srv));
    }
    EXPECT_EQ(0, cio_stream_readable(b));
    cio_stream_close(a);
    EXPECT_OK(http_read(b, &r, false));
    EXPECT_EQ(200, r.status);
    hres_free(&r);
    EXPECT_EQ(1, cio_http_server_connections(srv));
    cio_stream_close(b);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_max_connections) { RUN(maxconn_main, NULL); }

/* ---- Graceful shutdown ------------------------------------------------------------------- */

struct shut_ctx {
    cio_event *entered, *release;
    cio_http_server *srv;
    int deadlk;
    int slow_rc;
};

static int slow(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    struct shut_ctx *ctx = arg;
    cio_event_set(ctx->entered);
    int rc = cio_event_wait(ctx->release);
    if (rc)
        return rc;
    return cio_http_response_text(res, 200, "slow done");
}

static int forever(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)res;
    struct shut_ctx *ctx = arg;
    cio_event_set(ctx->entered);
    ctx->slow_rc = cio_sleep(3600);
    return ctx->slow_rc;
}

static int self_close(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    struct shut_ctx *ctx = arg;
    ctx->deadlk = cio_http_server_close(ctx->srv, 0);
    return cio_http_response_text(res, 200, "x");
}

static int shutdown_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    struct shut_ctx ctx = {0};
    EXPECT_OK(cio_event_new(&ctx.entered));
    EXPECT_OK(cio_event_new(&ctx.release));
    cio_http_app *app = test_app();
    EXPECT_OK(cio_http_app_route(app, "GET", "/slow", slow, &ctx));
    EXPECT_OK(cio_http_app_route(app, "GET", "/forever", forever, &ctx));
    EXPECT_OK(cio_http_app_route(app, "GET", "/self", self_close, &ctx));
    cio_http_server *srv = http_start(app, NULL);
    ctx.srv = srv;
    struct hres r;
    http_once(srv, "GET /self HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    EXPECT_ERR(-EDEADLK, ctx.deadlk);
    hres_free(&r);
    /* idle: closed at once; busy: finishes with Connection: close */
    cio_stream *idle = http_connect(srv);
    http_send(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(idle, &r, false));
    hres_free(&r);
    cio_stream *busy = http_connect(srv);
    http_send(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(cio_event_wait(ctx.entered));
    cio_event_clear(ctx.entered);
    cio_future *closed;
    EXPECT_OK(cio_http_server_close_future(srv, 30, &closed));
    EXPECT_ERR(-EINVAL, cio_http_server_close(srv, 1)); /* under way */
    EXPECT_TRUE(http_eof(idle));
    cio_stream_close(idle);
    cio_event_set(ctx.release);
    EXPECT_OK(http_read(busy, &r, false));
    EXPECT_STR_EQ("slow done", r.body);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(busy));
    cio_stream_close(busy);
    EXPECT_OK(cio_await(closed, NULL));
    cio_future_unref(closed);

    /* The grace runs out: the handler is cancelled, the connection closed. */
    srv = http_start(app, NULL);
    busy = http_connect(srv);
    http_send(busy, "GET /forever HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(cio_event_wait(ctx.entered));
    EXPECT_OK(cio_http_server_close(srv, 0.05));
    EXPECT_ERR(-ECANCELED, ctx.slow_rc);
    EXPECT_OK(http_read(busy, &r, false));
    EXPECT_EQ(503, r.status);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(busy));
    cio_stream_close(busy);
    cio_event_free(ctx.entered);
    cio_event_free(ctx.release);
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_graceful_shutdown) { RUN(shutdown_main, NULL); }

/* ---- Handler errors ------------------------------------------------------------------------- */

static int fails(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)res;
    (void)arg;
    return -EIO;
}

static int fails_late(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EXPECT_OK(cio_http_response_begin(res, 100));
    EXPECT_OK(cio_http_response_write(res, "part", 4));
    return -EIO;
}

static int unfinished(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_status(res, 204);
}

static char reports[4][256];
static int nreports;
static void capture(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    if (nreports < 4)
        snprintf(reports[nreports], sizeof reports[0], "%s", msg);
    nreports++;
}

static int errors_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_loop_set_report_handler(cio_current_loop(), capture, NULL);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    EXPECT_OK(cio_http_app_route(app, "GET", "/fails", fails, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/late", fails_late, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/unfinished", unfinished, NULL));
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    struct hres r;
    http_send(s, "GET /fails HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(500, r.status);
    EXPECT_STR_EQ("500 Internal Server Error\n", r.body);
    hres_free(&r);
    EXPECT_EQ(1, nreports);
    EXPECT_TRUE(strstr(reports[0], "/fails") != NULL);
    if (!strstr(reports[0], "EIO") && !strstr(reports[0], "Input/output"))
        FAIL("report: %s", reports[0]);
    /* the connection goes on */
    http_send(s, "GET /unfinished HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(204, r.status);
    hres_free(&r);
    /* started: cannot be repaired, the connection closes */
    http_send(s, "GET /late HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, true));
    EXPECT_TRUE(hres_has(&r, "Content-Length", "100"));
    hres_free(&r);
    char buf[200];
    ssize_t n, got = 0;
    while ((n = cio_stream_read(s, buf, sizeof buf)) > 0)
        got += n;
    EXPECT_EQ(4, got);
    EXPECT_EQ(2, nreports);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_handler_errors) { RUN(errors_main, NULL); }

/* ---- Trusted proxies ---------------------------------------------------------------------- */

static int client_addr(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    cio_addr a;
    EXPECT_OK(cio_http_request_client(req, &a));
    char buf[CIO_ADDR_STRLEN];
    EXPECT_OK(cio_addr_format(&a, buf, sizeof buf));
    return cio_http_response_text(res, 200, buf);
}

static void expect_client(cio_http_server *srv, const char *fields, const char *want)
{
    char raw[1024];
    snprintf(raw, sizeof raw, "GET /client HTTP/1.1\r\nHost: a\r\n%s\r\n", fields);
    struct hres r;
    http_once(srv, raw, &r);
    EXPECT_EQ(200, r.status);
    if (strcmp(r.body, want) != 0 &&
        !(strncmp(want, "peer", 4) == 0 && strncmp(r.body, "127.0.0.1:", 10) == 0))
        FAIL("client %s for %s, want %s", r.body, fields, want);
    hres_free(&r);
}

static int proxies_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/client", client_addr, NULL));
    /* untrusted: the peer, whatever the fields say */
    cio_http_server *srv = http_start(app, NULL);
    expect_client(srv, "X-Forwarded-For: 9.9.9.9\r\n", "peer");
    EXPECT_OK(cio_http_server_close(srv, 1));
    const char *others[] = {"10.0.0.0/8", "::1", NULL};
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.trusted_proxies = others);
    srv = http_start(app, &o);
    expect_client(srv, "X-Forwarded-For: 9.9.9.9\r\n", "peer");
    EXPECT_OK(cio_http_server_close(srv, 1));
    const char *trusted[] = {"127.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", NULL};
    o = CIO_HTTP_SERVER_OPTIONS(.trusted_proxies = trusted);
    srv = http_start(app, &o);
    expect_client(srv, "", "peer");
    expect_client(srv, "X-Forwarded-For: 9.9.9.9\r\n", "9.9.9.9:0");
    expect_client(srv, "X-Forwarded-For: 8.8.8.8, 9.9.9.9, 10.1.2.3\r\n", "9.9.9.9:0");
    expect_client(srv, "X-Forwarded-For: 8.8.8.8\r\nX-Forwarded-For: 10.1.2.3\r\n", "8.8.8.8:0");
    expect_client(srv, "X-Forwarded-For: 2001:db8::1, 2001:db9::5\r\n", "[2001:db9::5]:0");
    expect_client(srv, "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n",
                  "192.0.2.60:0");
    expect_client(srv, "Forwarded: for=\"[2001:db9::7]:4711\"\r\n", "[2001:db9::7]:4711");
    expect_client(srv, "Forwarded: for=7.7.7.7, for=10.1.0.9\r\nX-Forwarded-For: 9.9.9.9\r\n",
                  "7.7.7.7:0");
    expect_client(srv, "X-Forwarded-For: garbage\r\n", "peer");
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_trusted_proxies) { RUN(proxies_main, NULL); }

/* ---- The access log --------------------------------------------------------------------------- */

static int log_main(void *arg, void **res)
{
    (void)res;
    int *fmt = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    char path[] = "/tmp/cio-http-log-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_TRUE(fd > 0);
    unlink(path);
    cio_http_app *app = test_app();
    cio_http_server_options o =
        CIO_HTTP_SERVER_OPTIONS(.access_log_fd = fd, .access_log_format = *fmt);
    cio_http_server *srv = http_start(app, &o);
    struct hres r;
    http_once(srv,
              "GET /info?x=\"1\" HTTP/1.1\r\nHost: a\r\nReferer: http://r/\r\n"
              "User-Agent: t \"q\"\r\n\r\n",
              &r);
    hres_free(&r);
    http_once(srv, "GET /missing HTTP/1.0\r\n\r\n", &r);
    hres_free(&r);
    http_once(srv, "GET / HTTP/1.1\r\n\r\n", &r); /* refused: logged too */
    hres_free(&r);
    EXPECT_OK(cio_http_server_close(srv, 1)); /* flushes the log */
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    EXPECT_TRUE(n > 0);
    buf[n] = 0;
    close(fd);
    char *l1 = buf, *l2 = strchr(l1, '\n');
    EXPECT_TRUE(l2 != NULL);
    *l2++ = 0;
    char *l3 = strchr(l2, '\n');
    EXPECT_TRUE(l3 != NULL);
    *l3++ = 0;
    EXPECT_TRUE(strncmp(l1, "127.0.0.1 - - [", 15) == 0);
    EXPECT_TRUE(strstr(l1, " +0000] \"GET /info?x=\\\"1\\\" HTTP/1.1\" 200 ") != NULL);
    if (*fmt == CIO_HTTP_LOG_COMBINED) {
        if (!strstr(l1, " 200 37 \"http://r/\" \"t \\\"q\\\"\""))
            FAIL("line: %s", l1);
    } else {
        EXPECT_TRUE(strstr(l1, "http://r/") == NULL);
    }
    EXPECT_TRUE(strstr(l2, "\"GET /missing HTTP/1.0\" 404 14") != NULL);
    EXPECT_TRUE(strstr(l3, "\"GET / HTTP/1.1\" 400 ") != NULL);
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_access_log_common)
{
    int fmt = CIO_HTTP_LOG_COMMON;
    RUN(log_main, &fmt);
}

TEST(server_access_log_combined)
{
    int fmt = CIO_HTTP_LOG_COMBINED;
    RUN(log_main, &fmt);
}

/* ---- Server header ------------------------------------------------------------------------ */

static int server_header_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = test_app();
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.server_header = "");
    cio_http_server *srv = http_start(app, &o);
    struct hres r;
    http_once(srv, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    EXPECT_FALSE(hres_has(&r, "Server", NULL));
    hres_free(&r);
    EXPECT_OK(cio_http_server_close(srv, 1));
    char name[] = "mine/1.0";
    o = CIO_HTTP_SERVER_OPTIONS(.server_header = name);
    srv = http_start(app, &o);
    name[0] = 'X'; /* copied */
    http_once(srv, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    EXPECT_TRUE(hres_has(&r, "Server", "mine/1.0"));
    hres_free(&r);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_server_header) { RUN(server_header_main, NULL); }

/* ---- HTTPS ------------------------------------------------------------------------------------ */

static int tls_check(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    return cio_http_response_text(res, 200, cio_http_request_is_tls(req) ? "tls" : "plain");
}

static int https_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/", tls_check, NULL));
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.tls = scfg);
    cio_http_server *srv = http_start(app, &o);
    /* a client configuration is refused */
    cio_http_server *bad;
    cio_addr a = loopback4();
    o = CIO_HTTP_SERVER_OPTIONS(.tls = ccfg);
    EXPECT_ERR(-EINVAL, cio_http_server_new(app, &a, &o, &bad));
    EXPECT_OK(cio_http_server_addr(srv, &a));
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&a, NULL,
                                 &CIO_STREAM_OPTIONS(.tls = ccfg, .server_name = "localhost"),
                                 &s));
    cio_tls_info info;
    EXPECT_OK(cio_stream_tls_info(s, &info));
    EXPECT_STR_EQ("http/1.1", info.alpn);
    struct hres r;
    for (int i = 0; i < 2; i++) {
        http_send(s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        EXPECT_OK(http_read(s, &r, false));
        EXPECT_STR_EQ("tls", r.body);
        hres_free(&r);
    }
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    cio_scope_end(&sc);
    return 0;
}

TEST(server_https)
{
    tls_make_certs();
    RUN(https_main, NULL);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
