/* The HTTP client's core (src/http/client.c): arguments, keep-alive reuse,
 * the limits per host and in total, idle expiry, the retry of a dead
 * pooled connection (idempotent methods only), the deadline budget and
 * the connect and read limits, chunked and streamed bodies both ways,
 * strict response parsing, redirects, the callback form, JSON.
 *
 * Peers: a cio HTTP server on the same loop, and a raw server (a task
 * writing canned bytes) for what a well-behaved server never sends. All on
 * 127.0.0.1; no proxy from the environment (no_env_proxy everywhere). */
#include <cjson/cJSON.h>
#include <math.h>

#include <cio/http_client.h>

#include "http/http_util.h"
#include "net/test_tls_util.h"
#include "http/internal.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                                      \
    } while (0)

#define OPTS(...) (&CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true, __VA_ARGS__))

/* ---- The cio server ---------------------------------------------------------------------- */

static int srv_requests; /* requests the cio server answered */

static int h_hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    srv_requests++;
    return cio_http_response_text(res, 200, "Hello, World!");
}

/* Echoes method, a few headers and the body. */
static int h_echo(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    srv_requests++;
    const void *body = NULL;
    size_t blen = 0;
    int rc = cio_http_request_body(req, 0, &body, &blen);
    if (rc)
        return rc;
    const char *auth = cio_http_request_header(req, "authorization");
    const char *ct = cio_http_request_header(req, "content-type");
    const char *te = cio_http_request_header(req, "transfer-encoding");
    char head[1024];
    int hl = snprintf(head, sizeof head, "m=%s auth=%s ct=%s te=%s n=%zu\n",
                      cio_http_request_method(req), auth ? auth : "-", ct ? ct : "-",
                      te ? te : "-", blen);
    char *out = malloc((size_t)hl + blen + 1);
    memcpy(out, head, (size_t)hl);
    if (blen)
        memcpy(out + hl, body, blen);
    rc = cio_http_response_send(res, 200, "text/plain", out, (size_t)hl + blen);
    free(out);
    return rc;
}

static int h_json(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const cJSON *j = NULL;
    int rc = cio_http_request_json(req, &j);
    if (rc)
        return cio_http_response_error(res, 400, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "got", cJSON_Duplicate(j, true));
    rc = cio_http_response_json(res, 200, o);
    cJSON_Delete(o);
    return rc;
}

/* A chunked body of 100 pieces, with a trailer. */
static int h_chunked(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    int rc = cio_http_response_begin(res, -1);
    for (int i = 0; !rc && i < 100; i++) {
        char b[16];
        int n = snprintf(b, sizeof b, "%d,", i);
        rc = cio_http_response_write(res, b, (size_t)n);
    }
    if (!rc)
        rc = cio_http_response_trailer(res, "X-Sum", "4950");
    if (!rc)
        rc = cio_http_response_end(res);
    return rc;
}

static int h_nocontent(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_send(res, 204, NULL, NULL, 0);
}

/* Trickles a byte every 20 ms, forever (until the client goes). */
static int h_trickle(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    int rc = cio_http_response_begin(res, -1);
    while (!rc) {
        rc = cio_http_response_write(res, "x", 1);
        if (!rc)
            rc = cio_sleep(0.02);
    }
    return rc;
}

/* /redir/N: 302 to /redir/N-1; /redir/0: 200. ?s=CODE picks the status
 * and keeps it. */
static int h_redir(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    srv_requests++;
    int n = atoi(cio_http_request_param(req, "n"));
    const char *s = cio_http_request_query(req, "s");
    int st = s ? atoi(s) : 302;
    if (n <= 0)
        return h_echo(req, res, NULL);
    char loc[128];
    snprintf(loc, sizeof loc, "/redir/%d%s%s", n - 1, s ? "?s=" : "", s ? s : "");
    /* read (and drop) a body */
    const void *b;
    size_t bl;
    cio_http_request_body(req, 0, &b, &bl);
    return cio_http_response_redirect(res, st, loc);
}

/* /to?u=URL: 302 to URL. */
static int h_to(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    return cio_http_response_redirect(res, 302, cio_http_request_query(req, "u"));
}

/* Shows the Cookie and Proxy-Authorization fields and the target. */
static int h_cookies(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *ck = cio_http_request_header(req, "cookie");
    const char *pa = cio_http_request_header(req, "proxy-authorization");
    const char *ae = cio_http_request_header(req, "accept-encoding");
    const char *ua = cio_http_request_header(req, "user-agent");
    char out[1024];
    snprintf(out, sizeof out, "cookie=%s pauth=%s ae=%s ua=%s t=%s", ck ? ck : "-", pa ? pa : "-",
             ae ? ae : "-", ua ? ua : "-", cio_http_request_target(req));
    return cio_http_response_text(res, 200, out);
}

/* Sets a cookie, then redirects to /cookies (?r=0: answers 200). */
static int h_setc(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    int rc = cio_http_response_set_cookie(res, "sid", "42", NULL);
    if (rc)
        return rc;
    const char *q = cio_http_request_query(req, "r");
    if (q && !strcmp(q, "0"))
        return cio_http_response_text(res, 200, "set");
    return cio_http_response_redirect(res, 302, "/cookies");
}

/* 10 000 bytes of text (compressed by the middleware of the gzip app). */
static int h_big(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    char *b = malloc(10000);
    for (int i = 0; i < 10000; i++)
        b[i] = (char)('a' + (i * 7 + i / 13) % 26);
    int rc = cio_http_response_send(res, 200, "text/plain", b, 10000);
    free(b);
    return rc;
}

static cio_http_app *app_new(void)
{
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_route(app, "GET", "/hello", h_hello, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/echo", h_echo, NULL));
    EXPECT_OK(cio_http_app_route(app, "POST", "/json", h_json, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/chunked", h_chunked, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/nocontent", h_nocontent, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/trickle", h_trickle, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/redir/{n}", h_redir, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/to", h_to, NULL));
    EXPECT_OK(cio_http_app_route(app, NULL, "/cookies", h_cookies, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/setc", h_setc, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/big", h_big, NULL));
    return app;
}

struct srv {
    cio_http_app *app;
    cio_http_server *s;
    char base[64];
    uint16_t port;
};

static void srv_start(struct srv *s)
{
    srv_requests = 0;
    s->app = app_new();
    s->s = http_start(s->app, NULL);
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(s->s, &a));
    s->port = cio_addr_port(&a);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%u", s->port);
}

static void srv_stop(struct srv *s)
{
    EXPECT_OK(cio_http_server_close(s->s, 1));
    cio_http_app_free(s->app);
}

static char *url_of(const struct srv *s, const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s", s->base, path);
    return buf;
}

static const char *body_of(cio_http_reply *r)
{
    const void *d = NULL;
    size_t n = 0;
    EXPECT_OK(cio_http_reply_body(r, 0, &d, &n));
    return d;
}

struct cbx {
    cio_http_client *c;
    const char *url;
    int rc;
    bool ran;
};

static void from_callback(void *arg)
{
    struct cbx *x = arg;
    cio_http_reply *r = (cio_http_reply *)1;
    x->rc = cio_http_client_get(x->c, x->url, &r);
    EXPECT_TRUE(r == NULL);
    x->ran = true;
}

static int get_task(void *arg, void **res)
{
    (void)res;
    struct cbx *x = arg;
    cio_http_reply *r = NULL;
    x->rc = cio_http_client_get(x->c, x->url, &r);
    x->ran = true;
    cio_http_reply_free(r);
    return x->rc;
}

/* ---- A raw server: canned responses --------------------------------------------------------- */

struct raw {
    int lfd;
    uint16_t port;
    const char *const *resp; /* per request, in order; NULL entry: never answer */
    size_t nresp;
    bool close_after;        /* close each connection after its response */
    int close_on;            /* close (without answering) at this request number, 0: never */
    int requests, conns;
    cio_task *t;
    char base[64];
};

static int raw_conn(void *arg, void **res)
{
    (void)res;
    void **a = arg;
    struct raw *rw = a[0];
    cio_stream *s = a[1];
    free(a);
    char head[8192];
    int ret = 0;
    for (;;) {
        ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
        if (n == -ECANCELED)
            ret = -ECANCELED;
        if (n <= 0)
            break;
        head[n] = 0;
        const char *cl = strcasestr(head, "\r\ncontent-length:");
        if (cl) {
            size_t len = strtoul(cl + 17, NULL, 10);
            char *b = malloc(len + 1);
            cio_stream_read_exactly(s, b, len);
            free(b);
        }
        int i = rw->requests++;
        if (rw->close_on && rw->requests == rw->close_on)
            break;
        const char *r = (size_t)i < rw->nresp ? rw->resp[i] : rw->resp[rw->nresp - 1];
        if (!r) {
            ret = cio_sleep(1000);
            break;
        }
        if (cio_stream_write(s, r, strlen(r)))
            break;
        if (rw->close_after)
            break;
    }
    if (ret == -ECANCELED)
        cio_stream_abort(s);
    else
        cio_stream_close(s);
    return ret == -ECANCELED ? ret : 0;
}

static int raw_accept(void *arg, void **res)
{
    (void)res;
    struct raw *rw = arg;
    cio_task_group *g;
    EXPECT_OK(cio_task_group_begin(&g));
    int ret;
    for (;;) {
        int fd;
        if ((ret = cio_socket_accept(rw->lfd, &fd, NULL)))
            break;
        cio_stream *s;
        EXPECT_OK(cio_stream_new(fd, NULL, &s));
        void **a = malloc(2 * sizeof *a);
        a[0] = rw;
        a[1] = s;
        rw->conns++;
        EXPECT_OK(cio_task_group_spawn(g, NULL, raw_conn, a, NULL));
    }
    cio_task_group_cancel(g);
    cio_task_group_end(g);
    return ret;
}

static void raw_start(struct raw *rw)
{
    cio_addr a = loopback4();
    EXPECT_OK(cio_socket_listen(&a, NULL, &rw->lfd));
    cio_addr b;
    EXPECT_OK(cio_socket_local(rw->lfd, &b));
    rw->port = cio_addr_port(&b);
    snprintf(rw->base, sizeof rw->base, "http://127.0.0.1:%u", rw->port);
    EXPECT_OK(cio_spawn(raw_accept, rw, &rw->t));
}

static void raw_stop(struct raw *rw)
{
    cio_future_cancel(rw->t);
    EXPECT_ERR(-ECANCELED, cio_await(rw->t, NULL));
    cio_future_unref(rw->t);
    cio_fd_close(rw->lfd);
}

/* ---- Arguments -------------------------------------------------------------------------------- */

static int args_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_http_client *c = (cio_http_client *)1;
    EXPECT_ERR(-EINVAL, cio_http_client_new(NULL, NULL));
    cio_http_client_options bad = {0};
    EXPECT_ERR(-EINVAL, cio_http_client_new(&bad, &c));
    EXPECT_TRUE(c == NULL);
    struct {
        cio_http_client_options o;
        char tail[16];
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.o.size = sizeof newer;
    newer.tail[2] = 1;
    EXPECT_ERR(-E2BIG, cio_http_client_new(&newer.o, &c));
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.timeout = -1), &c));
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.read_timeout = NAN), &c));
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.connect_timeout = -2), &c));
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.idle_timeout = NAN), &c));
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.proxy = "socks5://127.0.0.1:1"), &c));
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.proxy = "https://127.0.0.1:1"), &c));
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.user_agent = "a\r\nb: c"), &c));
    EXPECT_OK(cio_http_client_new(OPTS(.proxy = "http://127.0.0.1:1"), &c));
    EXPECT_OK(cio_http_client_free(c));
    EXPECT_OK(cio_http_client_new(NULL, &c));
    EXPECT_OK(cio_http_client_free(c));
    EXPECT_OK(cio_http_client_free(NULL));
    EXPECT_OK(cio_http_client_new(OPTS(.user_agent = ""), &c));

    cio_http_reply *r = (cio_http_reply *)1;
    EXPECT_ERR(-EINVAL, cio_http_client_get(NULL, "http://127.0.0.1:1/", &r));
    EXPECT_TRUE(r == NULL);
    EXPECT_ERR(-EINVAL, cio_http_client_get(c, NULL, &r));
    EXPECT_ERR(-EINVAL, cio_http_client_get(c, "http://127.0.0.1:1/", NULL));
    EXPECT_ERR(-EINVAL, cio_http_client_get(c, "ftp://127.0.0.1/", &r));
    EXPECT_ERR(-EINVAL, cio_http_client_get(c, "http://", &r));
    EXPECT_ERR(-EINVAL, cio_http_client_get(c, "http://a b/", &r));
    EXPECT_ERR(-EINVAL, cio_http_client_get(c, "http://127.0.0.1:99999/", &r));
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(c, NULL, &r));
    cio_http_client_request rq = {0};
    rq.url = "http://127.0.0.1:1/";
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(c, &rq, &r));
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c, &CIO_HTTP_CLIENT_REQUEST(.url = "http://127.0.0.1:1/", .method = "G T"),
                            &r));
    cio_http_field f1 = {"X-Bad", "a\r\nb"};
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c,
                            &CIO_HTTP_CLIENT_REQUEST(.url = "http://127.0.0.1:1/", .headers = &f1,
                                                     .nheaders = 1),
                            &r));
    cio_http_field f2 = {"Bad Name", "v"};
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c,
                            &CIO_HTTP_CLIENT_REQUEST(.url = "http://127.0.0.1:1/", .headers = &f2,
                                                     .nheaders = 1),
                            &r));
    cio_http_field f3 = {"Content-Length", "5"};
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c,
                            &CIO_HTTP_CLIENT_REQUEST(.url = "http://127.0.0.1:1/", .headers = &f3,
                                                     .nheaders = 1),
                            &r));
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c,
                            &CIO_HTTP_CLIENT_REQUEST(.url = "http://127.0.0.1:1/", .headers = NULL,
                                                     .nheaders = 2),
                            &r));
    EXPECT_ERR(-EINVAL,
               cio_http_client_request_send(
                   c, &CIO_HTTP_CLIENT_REQUEST(.url = "http://127.0.0.1:1/", .timeout = -1), &r));
    EXPECT_ERR(-EINVAL, cio_http_client_post(c, NULL, NULL, "x", 1, &r));
    EXPECT_ERR(-EINVAL, cio_http_client_post(c, "http://127.0.0.1:1/", NULL, NULL, 1, &r));
    EXPECT_ERR(-EINVAL, cio_http_client_post_json(c, "http://127.0.0.1:1/", NULL, &r));
    EXPECT_ERR(-EINVAL, cio_http_client_post_json(NULL, "http://127.0.0.1:1/", NULL, &r));
    /* Nothing listens on port 1. */
    EXPECT_ERR(-ECONNREFUSED, cio_http_client_get(c, "http://127.0.0.1:1/", &r));
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_EQ(0, cio_http_client_connections(NULL));
    EXPECT_EQ(0, cio_http_client_idle(NULL));
    EXPECT_ERR(-EINVAL, cio_http_client_request_cb(NULL, &rq, NULL, NULL, NULL));

    /* Reply accessors on NULL. */
    EXPECT_EQ(-1, cio_http_reply_status(NULL));
    EXPECT_EQ(-1, cio_http_reply_version(NULL));
    EXPECT_TRUE(cio_http_reply_reason(NULL) == NULL);
    EXPECT_TRUE(cio_http_reply_url(NULL) == NULL);
    EXPECT_TRUE(cio_http_reply_header(NULL, "a") == NULL);
    EXPECT_TRUE(cio_http_reply_trailer(NULL, "a") == NULL);
    EXPECT_EQ(0, cio_http_reply_headers(NULL, "a", NULL, 0));
    EXPECT_ERR(-EINVAL, cio_http_reply_header_at(NULL, 0, NULL, NULL));
    EXPECT_EQ(-1, cio_http_reply_content_length(NULL));
    char b[4];
    EXPECT_ERR(-EINVAL, cio_http_reply_read(NULL, b, 4));
    const void *d;
    size_t n;
    EXPECT_ERR(-EINVAL, cio_http_reply_body(NULL, 0, &d, &n));
    const cJSON *j;
    EXPECT_ERR(-EINVAL, cio_http_reply_json(NULL, &j));
    cio_http_reply_free(NULL);
    EXPECT_OK(cio_http_client_free(c));
    return 0;
}

static int eperm_main(void)
{
    cio_http_client *c = (cio_http_client *)1;
    return cio_http_client_new(NULL, &c);
}

TEST(client_args)
{
    RUN(args_main, NULL);
    EXPECT_ERR(-EPERM, eperm_main());
}

/* ---- Keep-alive ------------------------------------------------------------------------------ */

static int keepalive_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    char u[128];
    for (int i = 0; i < 5; i++) {
        cio_http_reply *r;
        EXPECT_OK(cio_http_client_get(c, url_of(&s, "/hello", u, sizeof u), &r));
        EXPECT_EQ(200, cio_http_reply_status(r));
        EXPECT_TRUE(!strcmp(cio_http_reply_reason(r), "OK"));
        EXPECT_EQ(1, cio_http_reply_version(r));
        EXPECT_EQ(13, cio_http_reply_content_length(r));
        EXPECT_TRUE(!strcmp(cio_http_reply_url(r), u));
        EXPECT_EQ(0, cio_http_reply_redirects(r));
        EXPECT_TRUE(!strcmp(cio_http_reply_header(r, "content-type"), "text/plain; charset=utf-8"));
        EXPECT_TRUE(!strcmp(body_of(r), "Hello, World!"));
        const char *name, *value;
        EXPECT_OK(cio_http_reply_header_at(r, 0, &name, &value));
        EXPECT_ERR(-ENOENT, cio_http_reply_header_at(r, 100, &name, &value));
        /* A second call returns the same body. */
        EXPECT_TRUE(!strcmp(body_of(r), "Hello, World!"));
        char b[8];
        EXPECT_EQ(0, cio_http_reply_read(r, b, sizeof b));
        EXPECT_ERR(-EINVAL, cio_http_reply_read(r, b, 0));
        EXPECT_EQ(1, cio_http_client_connections(c));
        EXPECT_EQ(1, cio_http_client_idle(c));
        /* In flight: the client cannot go. */
        EXPECT_ERR(-EBUSY, cio_http_client_free(c));
        cio_http_reply_free(r);
    }
    /* POST with a body over the same connection. */
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_post(c, url_of(&s, "/echo", u, sizeof u), "text/x", "abc", 3, &r));
    EXPECT_TRUE(!strcmp(body_of(r), "m=POST auth=- ct=text/x te=- n=3\nabc"));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_post(c, u, NULL, NULL, 0, &r));
    EXPECT_TRUE(!strcmp(body_of(r), "m=POST auth=- ct=- te=- n=0\n"));
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));
    /* HEAD and 204: no body, the connection stays. */
    EXPECT_OK(cio_http_client_request_send(
        c, &CIO_HTTP_CLIENT_REQUEST(.method = "HEAD", .url = url_of(&s, "/hello", u, sizeof u)),
        &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_EQ(0, cio_http_reply_content_length(r));
    EXPECT_TRUE(!strcmp(body_of(r), ""));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/nocontent", u, sizeof u), &r));
    EXPECT_EQ(204, cio_http_reply_status(r));
    EXPECT_EQ(0, cio_http_reply_content_length(r));
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));
    /* The caller may ask for the connection's end; a Host field of the
     * caller's replaces the client's. */
    cio_http_field cl[2] = {{"Connection", "close"}, {"Host", "example.test"}};
    EXPECT_OK(cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, "/cookies", u, sizeof u), .headers = cl,
                                 .nheaders = 2),
        &r));
    EXPECT_TRUE(!strcmp(cio_http_reply_header(r, "connection"), "close"));
    body_of(r);
    cio_http_reply_free(r);
    EXPECT_EQ(0, cio_http_client_connections(c));
    /* A reply freed before its body was read closes its connection. */
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/chunked", u, sizeof u), &r));
    EXPECT_EQ(-1, cio_http_reply_content_length(r));
    EXPECT_EQ(0, cio_http_client_idle(c));
    cio_http_reply_free(r);
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_keepalive) { RUN(keepalive_main, NULL); }

/* ---- Chunked both ways, streaming ------------------------------------------------------------- */

struct feed {
    int left;
    int fail;
};

static ssize_t feeder(void *arg, void *buf, size_t len)
{
    struct feed *f = arg;
    if (f->fail && f->left == 2)
        return f->fail;
    if (f->left == 0)
        return 0;
    f->left--;
    cio_yield();
    size_t n = len < 1000 ? len : 1000;
    memset(buf, 'a' + f->left % 26, n);
    return (ssize_t)n;
}

static int chunked_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    char u[128];
    cio_http_reply *r;
    /* A chunked response, read in small pieces, with its trailer. */
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/chunked", u, sizeof u), &r));
    char all[1024] = "", b[3];
    size_t tot = 0;
    ssize_t n;
    while ((n = cio_http_reply_read(r, b, sizeof b)) > 0) {
        memcpy(all + tot, b, (size_t)n);
        tot += (size_t)n;
    }
    EXPECT_EQ(0, n);
    all[tot] = 0;
    EXPECT_TRUE(!strncmp(all, "0,1,2,", 6));
    EXPECT_TRUE(strstr(all, ",99,") != NULL);
    EXPECT_TRUE(cio_http_reply_trailer(r, "x-sum") && !strcmp(cio_http_reply_trailer(r, "x-sum"), "4950"));
    EXPECT_TRUE(cio_http_reply_trailer(r, "x-none") == NULL);
    EXPECT_EQ(1, cio_http_client_idle(c));
    cio_http_reply_free(r);
    /* A streamed request body, chunked. */
    struct feed f = {.left = 50};
    EXPECT_OK(cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.method = "PUT", .url = url_of(&s, "/echo", u, sizeof u),
                                 .body_reader = feeder, .body_arg = &f),
        &r));
    const char *body = body_of(r);
    EXPECT_TRUE(!strncmp(body, "m=PUT auth=- ct=- te=chunked n=50000\n", 37));
    cio_http_reply_free(r);
    /* With a length. */
    f.left = 10;
    cio_http_client_request lq = CIO_HTTP_CLIENT_REQUEST(
        .url = u, .body_reader = feeder, .body_arg = &f, .content_type = "application/x");
    lq.body_length = 10000;
    EXPECT_OK(cio_http_client_request_send(c, &lq, &r));
    EXPECT_TRUE(!strncmp(body_of(r), "m=POST auth=- ct=application/x te=- n=10000\n", 44));
    cio_http_reply_free(r);
    /* Shorter than declared: -EINVAL, and the connection is gone. */
    f.left = 3;
    lq.content_type = NULL;
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(c, &lq, &r));
    EXPECT_TRUE(r == NULL);
    /* The reader's error is the request's. */
    f = (struct feed){.left = 5, .fail = -EIO};
    EXPECT_ERR(-EIO, cio_http_client_request_send(
                         c, &CIO_HTTP_CLIENT_REQUEST(.url = u, .body_reader = feeder, .body_arg = &f),
                         &r));
    EXPECT_EQ(0, cio_http_client_connections(c));
    /* body with body_reader */
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c,
                            &CIO_HTTP_CLIENT_REQUEST(.url = u, .body = "x", .body_len = 1,
                                                     .body_reader = feeder, .body_arg = &f),
                            &r));
    /* A negative body_length, and a length without a reader; the macro
     * takes body_length itself (0, chunked, is the default). */
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c,
                            &CIO_HTTP_CLIENT_REQUEST(.url = u, .body_reader = feeder,
                                                     .body_arg = &f, .body_length = -1),
                            &r));
    EXPECT_ERR(-EINVAL, cio_http_client_request_send(
                            c, &CIO_HTTP_CLIENT_REQUEST(.url = u, .body_length = 5), &r));
    /* A body bigger than the limit of cio_http_reply_body. */
    EXPECT_OK(cio_http_client_post(c, u, NULL, "0123456789", 10, &r));
    const void *d;
    size_t dl;
    EXPECT_ERR(-EMSGSIZE, cio_http_reply_body(r, 8, &d, &dl));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_chunked_streaming) { RUN(chunked_main, NULL); }

/* ---- Limits ------------------------------------------------------------------------------------------ */

struct par {
    cio_http_client *c;
    const char *url;
    int ok;
    size_t max_open;
};

static int par_task(void *arg, void **res)
{
    (void)res;
    struct par *p = arg;
    for (int i = 0; i < 10; i++) {
        cio_http_reply *r;
        int rc = cio_http_client_get(p->c, p->url, &r);
        if (rc)
            return rc;
        if (cio_http_client_connections(p->c) > p->max_open)
            p->max_open = cio_http_client_connections(p->c);
        const void *d;
        size_t n;
        rc = cio_http_reply_body(r, 0, &d, &n);
        cio_http_reply_free(r);
        if (rc)
            return rc;
        p->ok++;
    }
    return 0;
}

static int limits_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s1, s2;
    srv_start(&s1);
    srv_start(&s2);
    char u1[128], u2[128];
    url_of(&s1, "/trickle", u1, sizeof u1);
    url_of(&s1, "/hello", u1, sizeof u1);
    url_of(&s2, "/hello", u2, sizeof u2);
    /* Per host: 2. */
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.max_per_host = 2), &c));
    struct par p = {.c = c, .url = u1};
    cio_task *t[6];
    for (int i = 0; i < 6; i++)
        EXPECT_OK(cio_spawn(par_task, &p, &t[i]));
    for (int i = 0; i < 6; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    EXPECT_EQ(60, p.ok);
    EXPECT_TRUE(p.max_open <= 2);
    EXPECT_TRUE(cio_http_client_connections(c) <= 2);
    EXPECT_OK(cio_http_client_free(c));
    /* In total: 3 over two hosts; idle connections of one host give way. */
    EXPECT_OK(cio_http_client_new(OPTS(.max_connections = 3), &c));
    struct par p1 = {.c = c, .url = u1}, p2 = {.c = c, .url = u2};
    for (int i = 0; i < 6; i++)
        EXPECT_OK(cio_spawn(par_task, i % 2 ? &p1 : &p2, &t[i]));
    for (int i = 0; i < 6; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    EXPECT_EQ(30, p1.ok);
    EXPECT_EQ(30, p2.ok);
    EXPECT_TRUE(p1.max_open <= 3 && p2.max_open <= 3);
    EXPECT_TRUE(cio_http_client_connections(c) <= 3);
    EXPECT_OK(cio_http_client_free(c));
    /* Waiting for a slot counts against the budget: one connection held by
     * a reply not read, the next request times out. */
    EXPECT_OK(cio_http_client_new(OPTS(.max_connections = 1), &c));
    cio_http_reply *r1, *r2;
    EXPECT_OK(cio_http_client_get(c, url_of(&s1, "/chunked", u1, sizeof u1), &r1));
    EXPECT_ERR(-ETIMEDOUT,
               cio_http_client_request_send(c, &CIO_HTTP_CLIENT_REQUEST(.url = u2, .timeout = 0.05),
                                            &r2));
    cio_http_reply_free(r1);
    EXPECT_OK(cio_http_client_get(c, u2, &r2));
    cio_http_reply_free(r2);
    EXPECT_OK(cio_http_client_free(c));
    /* A slot freed on one host reaches a waiter of that host even when a
     * waiter of another host, who cannot use it, queued first. */
    EXPECT_OK(cio_http_client_new(OPTS(.max_connections = 2, .max_per_host = 1), &c));
    char ua[128], ub[128];
    url_of(&s1, "/chunked", ua, sizeof ua);
    url_of(&s2, "/chunked", ub, sizeof ub);
    cio_http_reply *ra, *rb;
    EXPECT_OK(cio_http_client_get(c, ua, &ra));
    EXPECT_OK(cio_http_client_get(c, ub, &rb));
    struct cbx wa = {.c = c, .url = ua}, wb = {.c = c, .url = ub};
    cio_task *ta, *tb;
    EXPECT_OK(cio_spawn(get_task, &wa, &ta));
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_spawn(get_task, &wb, &tb));
    EXPECT_OK(cio_yield());
    const void *d;
    size_t n;
    EXPECT_OK(cio_http_reply_body(rb, 0, &d, &n));
    cio_http_reply_free(rb);
    EXPECT_OK(cio_await(tb, NULL));
    EXPECT_TRUE(wb.ran && !wa.ran);
    cio_http_reply_free(ra);
    EXPECT_OK(cio_await(ta, NULL));
    cio_future_unref(ta);
    cio_future_unref(tb);
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s1);
    srv_stop(&s2);
    return 0;
}

TEST(client_limits) { RUN(limits_main, NULL); }

static int idle_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.idle_timeout = 0.05), &c));
    char u[128];
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/hello", u, sizeof u), &r));
    body_of(r);
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_idle(c));
    WAIT_UNTIL(cio_http_client_idle(c) == 0);
    EXPECT_EQ(0, cio_http_client_connections(c));
    /* A new request opens a new connection. */
    EXPECT_OK(cio_http_client_get(c, u, &r));
    body_of(r);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_idle_expiry) { RUN(idle_main, NULL); }

/* ---- A dead pooled connection --------------------------------------------------------------------- */

static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

static int retry_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    /* The server drops every connection at its second request without an
     * answer (a keep-alive timeout racing the request). */
    const char *const resp[] = {ok_resp};
    struct raw rw = {.resp = resp, .nresp = 1, .close_on = 2};
    raw_start(&rw);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    char u[128];
    snprintf(u, sizeof u, "%s/x", rw.base);
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_get(c, u, &r));
    EXPECT_TRUE(!strcmp(body_of(r), "ok"));
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_idle(c));
    /* GET: retried once on a fresh connection. */
    rw.requests = 1; /* the pooled connection's next request is its second */
    EXPECT_OK(cio_http_client_get(c, u, &r));
    EXPECT_TRUE(!strcmp(body_of(r), "ok"));
    cio_http_reply_free(r);
    EXPECT_EQ(2, rw.conns);
    EXPECT_OK(cio_http_client_free(c));
    raw_stop(&rw);

    /* POST: not retried. The server answers the first request and reads
     * the second without answering, then closes. */
    struct raw rw2 = {.resp = resp, .nresp = 1, .close_on = 2};
    raw_start(&rw2);
    snprintf(u, sizeof u, "%s/x", rw2.base);
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    EXPECT_OK(cio_http_client_post(c, u, NULL, "a", 1, &r));
    body_of(r);
    cio_http_reply_free(r);
    EXPECT_ERR(-ECONNRESET, cio_http_client_post(c, u, NULL, "b", 1, &r));
    EXPECT_EQ(1, rw2.conns);
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    raw_stop(&rw2);
    return 0;
}

TEST(client_retry_idempotent_only) { RUN(retry_main, NULL); }

/* ---- Deadlines -------------------------------------------------------------------------------------- */

static int deadline_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    /* A server that accepts and never answers. */
    const char *const resp[] = {NULL};
    struct raw rw = {.resp = resp, .nresp = 1};
    raw_start(&rw);
    char u[128];
    snprintf(u, sizeof u, "%s/x", rw.base);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.timeout = 0.1), &c));
    cio_http_reply *r;
    EXPECT_ERR(-ETIMEDOUT, cio_http_client_get(c, u, &r));
    EXPECT_TRUE(r == NULL);
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    /* The read limit alone. */
    EXPECT_OK(cio_http_client_new(OPTS(.read_timeout = 0.1), &c));
    EXPECT_ERR(-ETIMEDOUT, cio_http_client_get(c, u, &r));
    /* The request's own budget. */
    EXPECT_ERR(-ETIMEDOUT,
               cio_http_client_request_send(c, &CIO_HTTP_CLIENT_REQUEST(.url = u, .timeout = 0.1),
                                            &r));
    EXPECT_OK(cio_http_client_free(c));
    raw_stop(&rw);

    /* A body trickled forever: the budget ends it though every read gets
     * bytes (aiohttp issue 11740). */
    struct srv s;
    srv_start(&s);
    EXPECT_OK(cio_http_client_new(OPTS(.timeout = 0.5, .read_timeout = 10), &c));
    /* (The head may come late on a loaded machine: then the budget ends
     * the request there, which is the same promise.) */
    int rc = cio_http_client_get(c, url_of(&s, "/trickle", u, sizeof u), &r);
    if (rc == 0) {
        const void *d;
        size_t n;
        EXPECT_ERR(-ETIMEDOUT, cio_http_reply_body(r, 0, &d, &n));
        /* The error is kept. */
        char b[4];
        EXPECT_ERR(-ETIMEDOUT, cio_http_reply_read(r, b, sizeof b));
        cio_http_reply_free(r);
    } else {
        EXPECT_ERR(-ETIMEDOUT, rc);
    }
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_deadlines) { RUN(deadline_main, NULL); }

/* ---- Strict response parsing -------------------------------------------------------------------------- */

static int strict_one(const char *resp_text, int expect)
{
    const char *const resp[] = {resp_text};
    struct raw rw = {.resp = resp, .nresp = 1, .close_after = true};
    raw_start(&rw);
    char u[128];
    snprintf(u, sizeof u, "%s/x", rw.base);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.timeout = 5, .max_headers = 10, .max_header_size = 2048),
                                  &c));
    cio_http_reply *r = NULL;
    int rc = cio_http_client_get(c, u, &r);
    if (!rc) {
        const void *d;
        size_t n;
        rc = cio_http_reply_body(r, 0, &d, &n);
        cio_http_reply_free(r);
    }
    if (rc != expect)
        fprintf(stderr, "response %.100s: %d (%s)\n", resp_text, rc, cio_err_name(rc));
    EXPECT_EQ(expect, rc);
    EXPECT_EQ(0, cio_http_client_idle(c));
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    raw_stop(&rw);
    return 0;
}

static int strict_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    static const char *const bad[] = {
        /* CL and TE */
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        /* duplicate CL (different and equal) */
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        /* bad chunk sizes */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n",
        /* obs-fold */
        "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        /* TE other than chunked, chunked twice, in HTTP/1.0 */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        /* a bad version, status line, field */
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "ICY 200 OK\r\n\r\n",
        /* a body shorter than its length */
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        /* a chunked body cut short */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        /* an obs-fold in a trailer */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: a\r\n b\r\n\r\n",
        /* bad Content-Length */
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        strict_one(bad[i], -EPROTO);
    /* Over the limits. */
    char big[4096];
    int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(big + n, 'a', 3000);
    strcpy(big + n + 3000, "\r\nContent-Length: 0\r\n\r\n");
    strict_one(big, -EMSGSIZE);
    char many[1024] = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 12; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "X-%d: v\r\n", i);
    strcat(many, "Content-Length: 0\r\n\r\n");
    strict_one(many, -EMSGSIZE);
    /* Fine: interim responses dropped, a body to the connection's end. */
    const char *const ok1[] = {
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    struct raw rw = {.resp = ok1, .nresp = 1};
    raw_start(&rw);
    char u[128];
    snprintf(u, sizeof u, "%s/x", rw.base);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_get(c, u, &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_TRUE(cio_http_reply_header(r, "link") == NULL);
    EXPECT_TRUE(!strcmp(body_of(r), "ok"));
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_idle(c));
    EXPECT_OK(cio_http_client_free(c));
    raw_stop(&rw);
    const char *const ok2[] = {"HTTP/1.0 200 Fine\r\nX-A:  b c  \r\n\r\nto the end"};
    struct raw rw2 = {.resp = ok2, .nresp = 1, .close_after = true};
    raw_start(&rw2);
    snprintf(u, sizeof u, "%s/x", rw2.base);
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    EXPECT_OK(cio_http_client_get(c, u, &r));
    EXPECT_EQ(0, cio_http_reply_version(r));
    EXPECT_EQ(-1, cio_http_reply_content_length(r));
    EXPECT_TRUE(!strcmp(cio_http_reply_reason(r), "Fine"));
    EXPECT_TRUE(!strcmp(cio_http_reply_header(r, "x-a"), "b c"));
    EXPECT_TRUE(!strcmp(body_of(r), "to the end"));
    cio_http_reply_free(r);
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    raw_stop(&rw2);
    return 0;
}

TEST(client_strict_parsing) { RUN(strict_main, NULL); }

/* ---- Redirects ------------------------------------------------------------------------------------------ */

static int redirect_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.max_redirects = 3), &c));
    char u[256];
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/redir/3", u, sizeof u), &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_EQ(3, cio_http_reply_redirects(r));
    body_of(r);
    char want[256];
    EXPECT_TRUE(!strcmp(cio_http_reply_url(r), url_of(&s, "/redir/0", want, sizeof want)));
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_client_connections(c));
    EXPECT_ERR(-ELOOP, cio_http_client_get(c, url_of(&s, "/redir/4", u, sizeof u), &r));
    /* Not followed at all. */
    EXPECT_OK(cio_http_client_request_send(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = u, .max_redirects = -1), &r));
    EXPECT_EQ(302, cio_http_reply_status(r));
    EXPECT_EQ(0, cio_http_reply_redirects(r));
    cio_http_reply_free(r);
    /* 302 and 303: POST becomes GET without the body. */
    const char *codes[] = {"301", "302", "303"};
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/redir/1?s=%s", codes[i]);
        EXPECT_OK(cio_http_client_post(c, url_of(&s, path, u, sizeof u), "text/x", "abc", 3, &r));
        EXPECT_TRUE(!strcmp(body_of(r), "m=GET auth=- ct=- te=- n=0\n"));
        cio_http_reply_free(r);
    }
    /* HEAD stays HEAD. */
    EXPECT_OK(cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.method = "HEAD", .url = url_of(&s, "/redir/1?s=303", u, sizeof u)),
        &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_EQ(1, cio_http_reply_redirects(r));
    cio_http_reply_free(r);
    /* 307 and 308 keep the method and the body. */
    const char *keep[] = {"307", "308"};
    for (int i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "/redir/2?s=%s", keep[i]);
        EXPECT_OK(cio_http_client_post(c, url_of(&s, path, u, sizeof u), "text/x", "abc", 3, &r));
        EXPECT_TRUE(!strcmp(body_of(r), "m=POST auth=- ct=text/x te=- n=3\nabc"));
        cio_http_reply_free(r);
    }
    /* ... which a streamed body cannot be: the redirect is the answer. */
    struct feed f = {.left = 1};
    EXPECT_OK(cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, "/redir/1?s=307", u, sizeof u),
                                 .body_reader = feeder, .body_arg = &f),
        &r));
    EXPECT_EQ(307, cio_http_reply_status(r));
    cio_http_reply_free(r);
    /* Credentials stay on the same origin, go when it changes (127.0.0.1
     * to localhost). */
    cio_http_field auth = {"Authorization", "Bearer x"};
    EXPECT_OK(cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, "/redir/1", u, sizeof u), .headers = &auth,
                                 .nheaders = 1),
        &r));
    EXPECT_TRUE(!strcmp(body_of(r), "m=GET auth=Bearer x ct=- te=- n=0\n"));
    cio_http_reply_free(r);
    /* Credentials in the URL: Basic. */
    snprintf(u, sizeof u, "http://al%%20ice:pw@127.0.0.1:%u/echo", s.port);
    EXPECT_OK(cio_http_client_get(c, u, &r));
    EXPECT_TRUE(!strcmp(body_of(r), "m=GET auth=Basic YWwgaWNlOnB3 ct=- te=- n=0\n"));
    cio_http_reply_free(r);
    char path[128];
    snprintf(path, sizeof path, "/to?u=http://localhost:%u/echo", s.port);
    EXPECT_OK(cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, path, u, sizeof u), .headers = &auth,
                                 .nheaders = 1),
        &r));
    EXPECT_EQ(200, cio_http_reply_status(r));
    EXPECT_TRUE(!strcmp(body_of(r), "m=GET auth=- ct=- te=- n=0\n"));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_redirects) { RUN(redirect_main, NULL); }

/* ---- The callback form -------------------------------------------------------------------------------------- */

struct cbres {
    int calls;
    int err;
    int status;
    char body[256];
};

static void on_reply(cio_http_reply *r, int err, void *arg)
{
    struct cbres *x = arg;
    x->calls++;
    x->err = err;
    if (r) {
        x->status = cio_http_reply_status(r);
        const void *d;
        size_t n;
        if (cio_http_reply_body(r, 0, &d, &n) == 0)
            snprintf(x->body, sizeof x->body, "%s", (const char *)d);
        cio_http_reply_free(r);
    }
}

static int cb_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    char u[128];
    struct cbres x = {0};
    cio_future *f;
    char body[] = "payload";
    cio_http_field fld = {"Authorization", "Basic eA=="};
    EXPECT_OK(cio_http_client_request_cb(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, "/echo", u, sizeof u), .body = body,
                                 .body_len = 7, .headers = &fld, .nheaders = 1),
        on_reply, &x, &f));
    /* The request was copied. */
    memset(body, 'z', 7);
    memset(u, 0, sizeof u);
    EXPECT_ERR(-EBUSY, cio_http_client_free(c));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(1, x.calls);
    EXPECT_EQ(0, x.err);
    EXPECT_EQ(200, x.status);
    EXPECT_TRUE(!strcmp(x.body, "m=POST auth=Basic eA== ct=- te=- n=7\npayload"));
    /* Without a future. */
    struct cbres y = {0};
    EXPECT_OK(cio_http_client_request_cb(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, "/hello", u, sizeof u)), on_reply, &y, NULL));
    WAIT_UNTIL(y.calls == 1);
    EXPECT_TRUE(!strcmp(y.body, "Hello, World!"));
    /* Cancelled: cb gets -ECANCELED. */
    struct cbres z = {0};
    EXPECT_OK(cio_http_client_request_cb(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, "/trickle", u, sizeof u)), on_reply, &z,
        &f));
    EXPECT_OK(cio_sleep(0.05));
    EXPECT_OK(cio_future_cancel(f));
    cio_await(f, NULL);
    cio_future_unref(f);
    EXPECT_EQ(1, z.calls);
    EXPECT_EQ(-ECANCELED, z.err);
    /* Errors come to cb. */
    struct cbres w = {0};
    EXPECT_OK(cio_http_client_request_cb(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = "http://127.0.0.1:1/"), on_reply, &w, NULL));
    WAIT_UNTIL(w.calls == 1);
    EXPECT_EQ(-ECONNREFUSED, w.err);
    EXPECT_ERR(-EINVAL, cio_http_client_request_cb(c, &CIO_HTTP_CLIENT_REQUEST(.url = NULL),
                                                   on_reply, &w, NULL));
    EXPECT_ERR(-EINVAL, cio_http_client_request_cb(c, &CIO_HTTP_CLIENT_REQUEST(.url = u), NULL,
                                                   &w, NULL));
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_callback_form) { RUN(cb_main, NULL); }

/* ---- JSON ------------------------------------------------------------------------------------------------------ */

static int json_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    char u[128];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "a", 1);
    cJSON_AddStringToObject(j, "b", "x");
    cio_http_reply *r;
    EXPECT_OK(cio_http_client_post_json(c, url_of(&s, "/json", u, sizeof u), j, &r));
    cJSON_Delete(j);
    EXPECT_EQ(200, cio_http_reply_status(r));
    const cJSON *out, *out2;
    EXPECT_OK(cio_http_reply_json(r, &out));
    EXPECT_OK(cio_http_reply_json(r, &out2));
    EXPECT_TRUE(out == out2);
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(out, "got");
    EXPECT_EQ(1, cJSON_GetObjectItemCaseSensitive(got, "a")->valuedouble);
    cio_http_reply_free(r);
    /* Not JSON. */
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/hello", u, sizeof u), &r));
    EXPECT_ERR(-EBADMSG, cio_http_reply_json(r, &out));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_json) { RUN(json_main, NULL); }

/* ---- Cookies, decoding, a proxy ------------------------------------------------------------------------- */

static int cookies_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    char u[128];
    cio_http_reply *r;
    /* Without a jar: a cookie set by a redirect follows that request's
     * redirects only. */
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.user_agent = "t/1"), &c));
    EXPECT_TRUE(cio__http_client_jar(c) == NULL);
    EXPECT_TRUE(!strcmp(cio__http_client_user_agent(c), "t/1"));
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/setc", u, sizeof u), &r));
    EXPECT_TRUE(!strncmp(body_of(r), "cookie=sid=42 pauth=- ae=gzip, deflate ua=t/1 t=/cookies", 57));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/cookies", u, sizeof u), &r));
    EXPECT_TRUE(!strncmp(body_of(r), "cookie=- ", 9));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    /* With a jar: kept across requests, merged with the caller's. */
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    EXPECT_OK(cio_http_client_new(OPTS(.jar = jar, .user_agent = "", .no_decompress = true), &c));
    EXPECT_TRUE(cio__http_client_jar(c) == jar);
    EXPECT_TRUE(cio__http_client_user_agent(c) == NULL);
    EXPECT_OK(cio_http_client_get(c, url_of(&s, "/setc?r=0", u, sizeof u), &r));
    EXPECT_TRUE(!strcmp(body_of(r), "set"));
    cio_http_reply_free(r);
    EXPECT_EQ(1, cio_http_jar_count(jar));
    cio_http_field ck = {"Cookie", "mine=1"};
    EXPECT_OK(cio_http_client_request_send(
        c,
        &CIO_HTTP_CLIENT_REQUEST(.url = url_of(&s, "/cookies", u, sizeof u), .headers = &ck,
                                 .nheaders = 1),
        &r));
    EXPECT_TRUE(!strcmp(body_of(r), "cookie=mine=1; sid=42 pauth=- ae=- ua=- t=/cookies"));
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    cio_http_jar_free(jar);
    srv_stop(&s);
    return 0;
}

TEST(client_cookies) { RUN(cookies_main, NULL); }

static int decode_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_http_app *app;
    EXPECT_OK(cio_http_app_new(&app));
    EXPECT_OK(cio_http_app_use_compression(app, NULL));
    EXPECT_OK(cio_http_app_route(app, "GET", "/big", h_big, NULL));
    cio_http_server *srv = http_start(app, NULL);
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(srv, &a));
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%u/big", cio_addr_port(&a));
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    cio_http_reply *r;
    for (int i = 0; i < 2; i++) {
        const char *codings[] = {"gzip", "deflate"};
        cio_http_field ae = {"Accept-Encoding", codings[i]};
        EXPECT_OK(cio_http_client_request_send(
            c, &CIO_HTTP_CLIENT_REQUEST(.url = u, .headers = &ae, .nheaders = 1), &r));
        EXPECT_TRUE(!strcmp(cio_http_reply_header(r, "content-encoding"), codings[i]));
        const void *d;
        size_t n;
        EXPECT_OK(cio_http_reply_body(r, 0, &d, &n));
        EXPECT_EQ(10000, n);
        const char *b = d;
        for (int k = 0; k < 10000; k++)
            if (b[k] != (char)('a' + (k * 7 + k / 13) % 26))
                FAIL("byte %d", k);
        cio_http_reply_free(r);
    }
    EXPECT_EQ(1, cio_http_client_idle(c));
    EXPECT_OK(cio_http_client_free(c));
    /* no_decompress: nothing asked for, nothing decoded. */
    EXPECT_OK(cio_http_client_new(OPTS(.no_decompress = true), &c));
    EXPECT_OK(cio_http_client_get(c, u, &r));
    EXPECT_TRUE(cio_http_reply_header(r, "content-encoding") == NULL);
    EXPECT_EQ(10000, cio_http_reply_content_length(r));
    cio_http_reply_free(r);
    cio_http_field ae = {"Accept-Encoding", "gzip"};
    EXPECT_OK(cio_http_client_request_send(
        c, &CIO_HTTP_CLIENT_REQUEST(.url = u, .headers = &ae, .nheaders = 1), &r));
    const void *d;
    size_t n;
    EXPECT_OK(cio_http_reply_body(r, 0, &d, &n));
    EXPECT_TRUE(n < 10000 && ((const unsigned char *)d)[0] == 0x1f);
    cio_http_reply_free(r);
    EXPECT_OK(cio_http_client_free(c));
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    return 0;
}

TEST(client_decoding) { RUN(decode_main, NULL); }

/* A plain-http request through a proxy goes in absolute form to the
 * proxy (the cio server routes an absolute-form target by its path). */
static int proxy_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct srv s;
    srv_start(&s);
    char px[128];
    snprintf(px, sizeof px, "http://us%%20er:pw@127.0.0.1:%u", s.port);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.proxy = px), &c));
    cio_http_reply *r;
    for (int i = 0; i < 2; i++) {
        /* (The second goes over the pooled connection, with the
         * credentials again; the URL's fragment and userinfo are not part
         * of the target.) */
        EXPECT_OK(cio_http_client_get(c, "http://u:p@origin.invalid:81/cookies?x=1#frag", &r));
        EXPECT_TRUE(strstr(body_of(r), "pauth=Basic dXMgZXI6cHc= ") != NULL);
        EXPECT_TRUE(strstr(body_of(r), "t=http://origin.invalid:81/cookies?x=1") != NULL);
        cio_http_reply_free(r);
        EXPECT_EQ(1, cio_http_client_connections(c));
    }
    /* The internal opener: a proxied plain connection. */
    struct cio__http_url pu;
    EXPECT_OK(cio__http_url_parse("ws://origin.invalid/", &pu));
    cio_stream *st;
    bool via = false;
    EXPECT_OK(cio__http_client_open(c, &pu, &st, &via));
    EXPECT_TRUE(via);
    cio_stream_close(st);
    cio__http_url_free(&pu);
    EXPECT_ERR(-EINVAL, cio__http_client_open(NULL, &pu, &st, &via));
    EXPECT_OK(cio_http_client_free(c));
    /* Direct. */
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    char u[128];
    snprintf(u, sizeof u, "ws://127.0.0.1:%u/", s.port);
    EXPECT_OK(cio__http_url_parse(u, &pu));
    EXPECT_OK(cio__http_client_open(c, &pu, &st, &via));
    EXPECT_FALSE(via);
    EXPECT_EQ(0, cio_http_client_connections(c));
    cio_stream_close(st);
    cio__http_url_free(&pu);
    EXPECT_OK(cio_http_client_free(c));
    srv_stop(&s);
    return 0;
}

TEST(client_proxy_plain) { RUN(proxy_main, NULL); }

/* A CONNECT proxy on loopback (a task per tunnel, one more per direction). */
struct cproxy {
    int lfd;
    uint16_t port;
    int tunnels;
    char last_auth[128];
    cio_task *t;
};

static int pump(void *arg, void **res)
{
    (void)res;
    cio_stream **p = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = cio_stream_read(p[0], buf, sizeof buf);
        if (n <= 0 || cio_stream_write(p[1], buf, (size_t)n))
            break;
    }
    cio_stream_shutdown(p[1]);
    return 0;
}

static int cproxy_conn(void *arg, void **res)
{
    (void)res;
    void **a = arg;
    struct cproxy *px = a[0];
    cio_stream *s = a[1];
    free(a);
    char head[4096];
    ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
    int ret = 0;
    if (n > 0) {
        head[n] = 0;
        unsigned port = 0;
        char host[256];
        const char *pa = strcasestr(head, "\r\nproxy-authorization: ");
        if (pa)
            sscanf(pa + 23, "%127[^\r]", px->last_auth);
        cio_stream *up = NULL;
        if (sscanf(head, "CONNECT %255[^:]:%u HTTP/1.1", host, &port) == 2 &&
            cio_stream_connect_name(host, (uint16_t)port, NULL, NULL, &up) == 0) {
            px->tunnels++;
            cio_stream_write(s, "HTTP/1.1 200 Connection established\r\n\r\n", 39);
            cio_stream *d1[2] = {s, up}, *d2[2] = {up, s};
            cio_task *t1, *t2;
            EXPECT_OK(cio_spawn(pump, d1, &t1));
            EXPECT_OK(cio_spawn(pump, d2, &t2));
            int r1 = cio_await(t1, NULL), r2 = cio_await(t2, NULL);
            if (r1 == -ECANCELED || r2 == -ECANCELED) {
                cio_future_cancel(t1);
                cio_future_cancel(t2);
                cio_scope sh;
                cio_shield_begin(&sh);
                cio_await(t1, NULL);
                cio_await(t2, NULL);
                cio_scope_end(&sh);
                ret = -ECANCELED;
            }
            cio_future_unref(t1);
            cio_future_unref(t2);
            cio_stream_abort(up);
        } else {
            cio_stream_write(s, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 47);
        }
    } else if (n == -ECANCELED) {
        ret = -ECANCELED;
    }
    cio_stream_abort(s);
    return ret;
}

static int cproxy_accept(void *arg, void **res)
{
    (void)res;
    struct cproxy *px = arg;
    cio_task_group *g;
    EXPECT_OK(cio_task_group_begin(&g));
    int ret;
    for (;;) {
        int fd;
        if ((ret = cio_socket_accept(px->lfd, &fd, NULL)))
            break;
        cio_stream *s;
        EXPECT_OK(cio_stream_new(fd, NULL, &s));
        void **a = malloc(2 * sizeof *a);
        a[0] = px;
        a[1] = s;
        EXPECT_OK(cio_task_group_spawn(g, NULL, cproxy_conn, a, NULL));
    }
    cio_task_group_cancel(g);
    cio_task_group_end(g);
    return ret;
}

static int connect_proxy_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct cproxy px = {0};
    cio_addr a = loopback4();
    EXPECT_OK(cio_socket_listen(&a, NULL, &px.lfd));
    cio_addr b;
    EXPECT_OK(cio_socket_local(px.lfd, &b));
    px.port = cio_addr_port(&b);
    EXPECT_OK(cio_spawn(cproxy_accept, &px, &px.t));

    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_http_app *app = app_new();
    cio_http_server *srv = http_start(app, &CIO_HTTP_SERVER_OPTIONS(.tls = scfg));
    cio_addr sa;
    EXPECT_OK(cio_http_server_addr(srv, &sa));
    char u[128], pxu[128];
    snprintf(u, sizeof u, "https://localhost:%u/cookies", cio_addr_port(&sa));
    snprintf(pxu, sizeof pxu, "http://me:pw@127.0.0.1:%u", px.port);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(.tls = ccfg, .proxy = pxu), &c));
    for (int i = 0; i < 2; i++) {
        cio_http_reply *r;
        EXPECT_OK(cio_http_client_get(c, u, &r));
        EXPECT_EQ(200, cio_http_reply_status(r));
        /* The origin sees an origin-form target and no proxy credentials. */
        EXPECT_TRUE(!strncmp(body_of(r), "cookie=- pauth=- ", 17));
        EXPECT_TRUE(strstr(body_of(r), " t=/cookies") != NULL);
        cio_http_reply_free(r);
    }
    EXPECT_EQ(1, px.tunnels);
    EXPECT_TRUE(!strcmp(px.last_auth, "Basic bWU6cHc="));
    EXPECT_OK(cio_http_client_free(c));
    /* A proxy that refuses the tunnel. */
    EXPECT_OK(cio_http_client_new(OPTS(.tls = ccfg, .proxy = pxu), &c));
    cio_http_reply *r;
    EXPECT_ERR(-ECONNREFUSED, cio_http_client_get(c, "https://127.0.0.1:1/", &r));
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    cio_future_cancel(px.t);
    EXPECT_ERR(-ECANCELED, cio_await(px.t, NULL));
    cio_future_unref(px.t);
    cio_fd_close(px.lfd);
    return 0;
}

TEST(client_proxy_connect)
{
    tls_make_certs();
    RUN(connect_proxy_main, NULL);
}

/* ---- HTTPS ------------------------------------------------------------------------------------------------- */

static int https_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_http_app *app = app_new();
    cio_http_server *srv = http_start(app, &CIO_HTTP_SERVER_OPTIONS(.tls = scfg));
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(srv, &a));
    char u[128];
    snprintf(u, sizeof u, "https://localhost:%u/hello", cio_addr_port(&a));
    cio_http_client *c;
    /* A server's configuration is refused. */
    EXPECT_ERR(-EINVAL, cio_http_client_new(OPTS(.tls = scfg), &c));
    EXPECT_OK(cio_http_client_new(OPTS(.tls = ccfg), &c));
    for (int i = 0; i < 3; i++) {
        cio_http_reply *r;
        EXPECT_OK(cio_http_client_get(c, u, &r));
        EXPECT_EQ(200, cio_http_reply_status(r));
        EXPECT_TRUE(!strcmp(body_of(r), "Hello, World!"));
        cio_http_reply_free(r);
        EXPECT_EQ(1, cio_http_client_connections(c));
    }
    /* https and http to one host and port are two pools. */
    EXPECT_OK(cio_http_client_free(c));
    /* The default configuration verifies against the system's store: the
     * test CA is not in it. */
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    cio_http_reply *r;
    EXPECT_ERR(-EKEYREJECTED, cio_http_client_get(c, u, &r));
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    EXPECT_OK(cio_http_server_close(srv, 1));
    cio_http_app_free(app);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    return 0;
}

TEST(client_https)
{
    tls_make_certs();
    RUN(https_main, NULL);
}

/* ---- Outside a task, cancellation, the connect limit ---------------------------------------------------- */

static int misc_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    const char *const resp[] = {NULL};
    struct raw rw = {.resp = resp, .nresp = 1};
    raw_start(&rw);
    char u[128];
    snprintf(u, sizeof u, "%s/x", rw.base);
    cio_http_client *c;
    EXPECT_OK(cio_http_client_new(OPTS(), &c));
    /* Outside a task. */
    struct cbx x = {.c = c, .url = u};
    EXPECT_OK(cio_call_soon(cio_current_loop(), from_callback, &x));
    WAIT_UNTIL(x.ran);
    EXPECT_ERR(-EPERM, x.rc);
    /* A request cancelled while it waits for the answer. */
    struct cbx y = {.c = c, .url = u};
    cio_task *t;
    EXPECT_OK(cio_spawn(get_task, &y, &t));
    WAIT_UNTIL(rw.requests == 1);
    EXPECT_EQ(1, cio_http_client_connections(c));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-ECANCELED, y.rc);
    EXPECT_EQ(0, cio_http_client_connections(c));
    /* A deadline of the caller applies too. */
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    cio_http_reply *r;
    EXPECT_ERR(-ETIMEDOUT, cio_http_client_get(c, u, &r));
    cio_scope_end(&sc);
    EXPECT_OK(cio_http_client_free(c));
    raw_stop(&rw);

    /* The connect limit: a name server that never answers. */
    int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(ufd >= 0);
    cio_addr ua = loopback4();
    EXPECT_EQ(0, bind(ufd, &ua.u.sa, ua.len));
    cio_addr bound;
    EXPECT_OK(cio_socket_local(ufd, &bound));
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", cio_addr_port(&bound));
    cio_resolver *res_;
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = servers, .timeout = 60, .tries = 1),
                               &res_));
    EXPECT_OK(cio_http_client_new(OPTS(.resolver = res_, .connect_timeout = 0.1), &c));
    EXPECT_ERR(-ETIMEDOUT, cio_http_client_get(c, "http://never.invalid/", &r));
    EXPECT_EQ(0, cio_http_client_connections(c));
    EXPECT_OK(cio_http_client_free(c));
    cio_resolver_free(res_);
    close(ufd);
    return 0;
}

TEST(client_eperm_cancel_connect_limit) { RUN(misc_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
