/* Responses (src/http/response.c): argument checks, header fields, send,
 * text, redirects, errors, streaming with a length, chunked with trailers
 * and to the close for HTTP/1.0, HEAD, Connection: close, body filters
 * and the sendfile path. */
#include <fcntl.h>

#include "http/http_util.h"
#include "http/internal.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                                      \
    } while (0)

static int args(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EXPECT_ERR(-EINVAL, cio_http_response_status(NULL, 200));
    EXPECT_ERR(-EINVAL, cio_http_response_status(res, 99));
    EXPECT_ERR(-EINVAL, cio_http_response_status(res, 1000));
    EXPECT_EQ(200, cio_http_response_get_status(res));
    EXPECT_EQ(0, cio_http_response_get_status(NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_header(NULL, "A", "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_header(res, NULL, "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_header(res, "A", NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_header(res, "", "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_header(res, "A B", "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_header(res, "A:", "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_header(res, "A", "b\r\nX: y"));
    EXPECT_ERR(-EINVAL, cio_http_response_header(res, "A", "b\n"));
    EXPECT_ERR(-EINVAL, cio_http_response_set_header(res, "A\n", "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_set_header(NULL, "A", "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_set_header(res, "A", "\x01"));
    EXPECT_ERR(-EINVAL, cio_http_response_trailer(res, "A", "\r"));
    EXPECT_ERR(-EINVAL, cio_http_response_trailer(NULL, "A", "b"));
    EXPECT_ERR(-EINVAL, cio_http_response_trailer(res, "(", "b"));
    EXPECT_TRUE(cio_http_response_get_header(NULL, "A") == NULL);
    EXPECT_TRUE(cio_http_response_get_header(res, NULL) == NULL);
    EXPECT_ERR(-EINVAL, cio_http_response_send(NULL, 200, NULL, "", 0));
    EXPECT_ERR(-EINVAL, cio_http_response_send(res, 99, NULL, "", 0));
    EXPECT_ERR(-EINVAL, cio_http_response_send(res, 200, NULL, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_http_response_send(res, 200, "a\nb", "", 0));
    EXPECT_ERR(-EINVAL, cio_http_response_text(res, 200, NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_error(res, 399, NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_error(res, 600, NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_error(NULL, 500, NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_redirect(res, 200, "/x"));
    EXPECT_ERR(-EINVAL, cio_http_response_redirect(res, 301, NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_redirect(res, 301, ""));
    EXPECT_ERR(-EINVAL, cio_http_response_redirect(res, 301, "/a b"));
    EXPECT_ERR(-EINVAL, cio_http_response_redirect(NULL, 301, "/x"));
    EXPECT_ERR(-EINVAL, cio_http_response_begin(NULL, 0));
    EXPECT_ERR(-EINVAL, cio_http_response_begin(res, -2));
    EXPECT_ERR(-EINVAL, cio_http_response_write(NULL, "a", 1));
    EXPECT_ERR(-EINVAL, cio_http_response_write(res, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_http_response_end(NULL));
    EXPECT_ERR(-EINVAL, cio_http_response_close(NULL));
    EXPECT_FALSE(cio_http_response_is_started(NULL));
    EXPECT_FALSE(cio_http_response_is_started(res));
    EXPECT_TRUE(cio__http_request_of(res) == req);
    EXPECT_TRUE(cio__http_request_of(NULL) == NULL);
    EXPECT_EQ(0, cio__http_bytes_sent(NULL));
    EXPECT_FALSE(cio__http_is_ended(NULL));
    EXPECT_ERR(-EINVAL, cio__http_push_filter(NULL, NULL));
    EXPECT_ERR(-EINVAL, cio__http_push_filter(res, NULL));
    EXPECT_ERR(-EINVAL, cio__http_filter_write_next(NULL, res, "a", 1));
    EXPECT_ERR(-EINVAL, cio__http_response_sendfile(NULL, 0, 0, 1));
    EXPECT_ERR(-EINVAL, cio__http_response_sendfile(res, -1, 0, 1));
    /* fields */
    EXPECT_OK(cio_http_response_header(res, "X-A", "1"));
    EXPECT_OK(cio_http_response_header(res, "x-a", "2"));
    EXPECT_STR_EQ("1", cio_http_response_get_header(res, "X-a"));
    EXPECT_OK(cio_http_response_set_header(res, "X-A", "3"));
    EXPECT_STR_EQ("3", cio_http_response_get_header(res, "x-a"));
    EXPECT_OK(cio_http_response_header(res, "X-Gone", "g"));
    EXPECT_OK(cio_http_response_set_header(res, "x-gone", NULL));
    EXPECT_TRUE(cio_http_response_get_header(res, "X-Gone") == NULL);
    EXPECT_OK(cio_http_response_header(res, "X-Tab", "a\tb c"));
    EXPECT_OK(cio_http_response_status(res, 201));
    EXPECT_EQ(201, cio_http_response_get_status(res));
    EXPECT_OK(cio_http_response_text(res, 202, "made"));
    EXPECT_TRUE(cio_http_response_is_started(res));
    EXPECT_TRUE(cio__http_is_ended(res));
    EXPECT_EQ(4, cio__http_bytes_sent(res));
    EXPECT_EQ(202, cio_http_response_get_status(res));
    EXPECT_ERR(-EALREADY, cio_http_response_status(res, 200));
    EXPECT_ERR(-EALREADY, cio_http_response_header(res, "A", "b"));
    EXPECT_ERR(-EALREADY, cio_http_response_set_header(res, "A", "b"));
    EXPECT_ERR(-EALREADY, cio_http_response_text(res, 200, "again"));
    EXPECT_ERR(-EALREADY, cio_http_response_begin(res, 0));
    EXPECT_ERR(-EALREADY, cio_http_response_write(res, "a", 1));
    EXPECT_ERR(-EALREADY, cio_http_response_end(res));
    EXPECT_ERR(-EALREADY, cio_http_response_trailer(res, "A", "b"));
    EXPECT_ERR(-EALREADY, cio_http_response_close(res));
    EXPECT_ERR(-EALREADY, cio_http_response_error(res, 500, NULL));
    EXPECT_ERR(-EALREADY, cio_http_response_redirect(res, 302, "/"));
    return 0;
}

static int redirect(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_redirect(res, 308, "https://example.com/a?b=c");
}

static int error_detail(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_error(res, 422, "the field x is missing");
}

static int close_asked(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EXPECT_OK(cio_http_response_close(res));
    return cio_http_response_send(res, 200, NULL, "bye", 3);
}

static int own_fields(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    /* framing fields are the server's; Date and Server may be replaced */
    EXPECT_OK(cio_http_response_header(res, "Content-Length", "999"));
    EXPECT_OK(cio_http_response_header(res, "Transfer-Encoding", "gzip"));
    EXPECT_OK(cio_http_response_header(res, "Date", "Thu, 01 Jan 1970 00:00:00 GMT"));
    EXPECT_OK(cio_http_response_header(res, "Server", "other"));
    EXPECT_OK(cio_http_response_header(res, "Content-Type", "text/x-old"));
    return cio_http_response_send(res, 200, "text/x-new", "abc", 3);
}

static int empty_default(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)res;
    (void)arg;
    return 0; /* nothing: an empty 200 */
}

static int big_send(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    size_t n = 3 << 20;
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + i % 26);
    int rc = cio_http_response_send(res, 200, "application/octet-stream", b, n);
    free(b);
    return rc;
}

static cio_http_app *resp_app(void)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/args", args, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/redirect", redirect, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/error", error_detail, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/close", close_asked, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/own", own_fields, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/empty", empty_default, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/big", big_send, NULL));
    return app;
}

static int whole_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app = resp_app();
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    struct hres r;
    http_send(s, "GET /args HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(202, r.status);
    EXPECT_STR_EQ("made", r.body);
    EXPECT_TRUE(hres_has(&r, "X-A", "3"));
    EXPECT_TRUE(hres_has(&r, "X-Tab", "a\tb c"));
    EXPECT_FALSE(hres_has(&r, "X-Gone", NULL));
    EXPECT_TRUE(strncmp(r.head, "HTTP/1.1 202 Accepted\r\n", 23) == 0);
    hres_free(&r);
    http_send(s, "GET /redirect HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(308, r.status);
    EXPECT_TRUE(hres_has(&r, "Location", "https://example.com/a?b=c"));
    EXPECT_TRUE(strstr(r.body, "https://example.com/a?b=c") != NULL);
    hres_free(&r);
    http_send(s, "GET /error HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(422, r.status);
    EXPECT_STR_EQ("422 Unprocessable Content\nthe field x is missing\n", r.body);
    EXPECT_TRUE(hres_has(&r, "Content-Type", "text/plain; charset=utf-8"));
    hres_free(&r);
    http_send(s, "GET /own HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("abc", r.body);
    EXPECT_TRUE(hres_has(&r, "Content-Length", "3"));
    EXPECT_FALSE(hres_has(&r, "Transfer-Encoding", NULL));
    EXPECT_TRUE(hres_has(&r, "Date", "Thu, 01 Jan 1970 00:00:00 GMT"));
    EXPECT_TRUE(hres_has(&r, "Server", "other"));
    EXPECT_TRUE(hres_has(&r, "Content-Type", "text/x-new"));
    EXPECT_TRUE(strstr(r.head, "text/x-old") == NULL);
    hres_free(&r);
    http_send(s, "GET /empty HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(200, r.status);
    EXPECT_TRUE(hres_has(&r, "Content-Length", "0"));
    hres_free(&r);
    http_send(s, "GET /big HTTP/1.1\r\nHost: a\r\n\r\nHEAD /big HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ((size_t)3 << 20, r.blen);
    EXPECT_EQ('a' + 1000 % 26, r.body[1000]);
    hres_free(&r);
    EXPECT_OK(http_read(s, &r, true));
    EXPECT_TRUE(hres_has(&r, "Content-Length", "3145728"));
    hres_free(&r);
    http_send(s, "GET /close HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("bye", r.body);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(response_whole) { RUN(whole_main, NULL); }

/* ---- Streaming ------------------------------------------------------------------------------ */

static int stream_len(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EXPECT_OK(cio_http_response_begin(res, 10));
    EXPECT_TRUE(cio_http_response_is_started(res));
    EXPECT_FALSE(cio__http_is_ended(res));
    EXPECT_ERR(-EALREADY, cio_http_response_begin(res, 10));
    EXPECT_ERR(-EALREADY, cio_http_response_header(res, "A", "b"));
    EXPECT_OK(cio_http_response_write(res, "01234", 5));
    EXPECT_OK(cio_http_response_write(res, "", 0));
    EXPECT_ERR(-EMSGSIZE, cio_http_response_write(res, "0123456", 6));
    EXPECT_OK(cio_http_response_write(res, "56789", 5));
    EXPECT_OK(cio_http_response_trailer(res, "X-Ignored", "t")); /* not chunked */
    EXPECT_OK(cio_http_response_end(res));
    EXPECT_EQ(10, cio__http_bytes_sent(res));
    return 0;
}

static int stream_chunked(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    /* write without begin: chunked */
    EXPECT_OK(cio_http_response_header(res, "Content-Type", "text/plain"));
    EXPECT_OK(cio_http_response_write(res, "hello ", 6));
    char big[5000];
    memset(big, 'z', sizeof big);
    EXPECT_OK(cio_http_response_write(res, big, sizeof big));
    EXPECT_OK(cio_http_response_trailer(res, "X-Checksum", "42"));
    EXPECT_OK(cio_http_response_trailer(res, "X-More", "yes"));
    return cio_http_response_end(res);
}

static int stream_short(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EXPECT_OK(cio_http_response_begin(res, 10));
    EXPECT_OK(cio_http_response_write(res, "abc", 3));
    EXPECT_ERR(-EPROTO, cio_http_response_end(res));
    return 0;
}

static int stream_unended(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EXPECT_OK(cio_http_response_begin(res, -1));
    return cio_http_response_write(res, "left open", 9); /* ended for it */
}

static int stream_204(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    EXPECT_OK(cio_http_response_status(res, 204));
    EXPECT_OK(cio_http_response_begin(res, -1));
    return cio_http_response_end(res);
}

static int streaming_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/len", stream_len, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/chunked", stream_chunked, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/short", stream_short, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/unended", stream_unended, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/204", stream_204, NULL));
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    struct hres r;
    http_send(s, "GET /len HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("0123456789", r.body);
    EXPECT_TRUE(hres_has(&r, "Content-Length", "10"));
    hres_free(&r);
    http_send(s, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(r.chunked);
    EXPECT_EQ(5006, r.blen);
    EXPECT_TRUE(strncmp(r.body, "hello zz", 8) == 0);
    EXPECT_STR_EQ("X-Checksum: 42\r\nX-More: yes\r\n", r.trailers);
    EXPECT_FALSE(hres_has(&r, "Content-Length", NULL));
    hres_free(&r);
    http_send(s, "HEAD /chunked HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, true));
    EXPECT_TRUE(hres_has(&r, "Transfer-Encoding", "chunked"));
    hres_free(&r);
    http_send(s, "GET /unended HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("left open", r.body);
    hres_free(&r);
    http_send(s, "GET /204 HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(204, r.status);
    EXPECT_FALSE(hres_has(&r, "Content-Length", NULL));
    EXPECT_FALSE(hres_has(&r, "Transfer-Encoding", NULL));
    hres_free(&r);
    /* fewer bytes than declared: the connection closes after them */
    http_send(s, "GET /short HTTP/1.1\r\nHost: a\r\n\r\n");
    char head[2048];
    EXPECT_TRUE(cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head) > 0);
    char body[16];
    EXPECT_EQ(3, cio_stream_read_exactly(s, body, 3));
    EXPECT_TRUE(http_eof(s));
    cio_stream_close(s);
    /* HTTP/1.0 and no length: the body ends with the connection */
    s = http_connect(srv);
    http_send(s, "GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_FALSE(r.chunked);
    EXPECT_EQ(5006, r.blen);
    EXPECT_TRUE(hres_has(&r, "Connection", "close"));
    hres_free(&r);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_scope_end(&sc);
    return 0;
}

TEST(response_streaming) { RUN(streaming_main, NULL); }

/* ---- Filters and sendfile ---------------------------------------------------------------------- */

/* Upper-cases the body, and says so in a field; the length stays. */
struct upper {
    struct cio__http_filter f;
    int starts, finishes, aborts;
    bool step_out;
};

static int upper_start(struct cio__http_filter *f, cio_http_response *res, int64_t *length)
{
    struct upper *u = (struct upper *)f;
    u->starts++;
    (void)length;
    if (u->step_out)
        return 1;
    return cio_http_response_set_header(res, "X-Upper", "yes");
}

static int upper_write(struct cio__http_filter *f, cio_http_response *res, const void *data,
                       size_t len)
{
    char buf[8192];
    const char *d = data;
    while (len) {
        size_t n = len < sizeof buf ? len : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(d[i] >= 'a' && d[i] <= 'z' ? d[i] - 32 : d[i]);
        int rc = cio__http_filter_write_next(f, res, buf, n);
        if (rc)
            return rc;
        d += n;
        len -= n;
    }
    return 0;
}

static int upper_finish(struct cio__http_filter *f, cio_http_response *res)
{
    struct upper *u = (struct upper *)f;
    if (res)
        u->finishes++;
    else
        u->aborts++;
    return 0;
}

static struct upper filter_state;
static char file_path[64];

static int filtered(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    filter_state = (struct upper){.f = {upper_start, upper_write, upper_finish, NULL}};
    filter_state.step_out = arg != NULL;
    EXPECT_OK(cio__http_push_filter(res, &filter_state.f));
    return cio_http_response_text(res, 200, "shout");
}

static int filtered_file(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    filter_state = (struct upper){.f = {upper_start, upper_write, upper_finish, NULL}};
    EXPECT_OK(cio__http_push_filter(res, &filter_state.f));
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    EXPECT_TRUE(fd >= 0);
    EXPECT_OK(cio_http_response_begin(res, 100000));
    EXPECT_ERR(-EALREADY, cio__http_push_filter(res, &filter_state.f));
    int rc = cio__http_response_sendfile(res, fd, 0, 100000);
    close(fd);
    EXPECT_OK(rc);
    return cio_http_response_end(res);
}

static int plain_file(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    EXPECT_TRUE(fd >= 0);
    /* chunked (no begin), from offset 10 */
    int rc = cio__http_response_sendfile(res, fd, 10, 1000);
    EXPECT_OK(rc);
    rc = cio__http_response_sendfile(res, fd, 0, 5);
    close(fd);
    EXPECT_OK(rc);
    /* what went on the wire: nothing for HEAD */
    EXPECT_EQ(strcmp(cio_http_request_method(req), "HEAD") ? 1005 : 0, cio__http_bytes_sent(res));
    return cio_http_response_end(res);
}

static int filters_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    snprintf(file_path, sizeof file_path, "/tmp/cio-http-file-XXXXXX");
    int fd = mkstemp(file_path);
    EXPECT_TRUE(fd >= 0);
    char *content = malloc(100000);
    for (int i = 0; i < 100000; i++)
        content[i] = (char)('a' + i % 26);
    EXPECT_EQ(100000, write(fd, content, 100000));
    close(fd);
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/filtered", filtered, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/stepout", filtered, app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/ffile", filtered_file, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/file", plain_file, NULL));
    cio_http_server *srv = http_start(app, NULL);
    cio_stream *s = http_connect(srv);
    struct hres r;
    http_send(s, "GET /filtered HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("SHOUT", r.body);
    EXPECT_TRUE(hres_has(&r, "X-Upper", "yes"));
    EXPECT_EQ(1, filter_state.starts);
    EXPECT_EQ(1, filter_state.finishes);
    hres_free(&r);
    http_send(s, "GET /stepout HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_STR_EQ("shout", r.body);
    EXPECT_EQ(0, filter_state.finishes);
    hres_free(&r);
    http_send(s, "GET /ffile HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_EQ(100000, r.blen);
    EXPECT_EQ('A' + 99999 % 26, r.body[99999]);
    hres_free(&r);
    http_send(s, "GET /file HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, false));
    EXPECT_TRUE(r.chunked);
    EXPECT_EQ(1005, r.blen);
    EXPECT_TRUE(memcmp(r.body, content + 10, 1000) == 0);
    EXPECT_TRUE(memcmp(r.body + 1000, content, 5) == 0);
    hres_free(&r);
    http_send(s, "HEAD /file HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_OK(http_read(s, &r, true));
    EXPECT_EQ(200, r.status);
    hres_free(&r);
    cio_stream_close(s);
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    unlink(file_path);
    free(content);
    cio_scope_end(&sc);
    return 0;
}

TEST(response_filters_sendfile) { RUN(filters_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
