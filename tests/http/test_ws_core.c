/* WebSocket (src/http/ws.c, ws_frame.c): a cio server and a cio client in
 * one process. The handshake and its refusals (400, 426), text and binary,
 * fragmentation both ways with control frames between fragments,
 * ping/pong, the keep-alive and its timeout, the close handshake from
 * either side, close_timeout, max_message (1009), permessage-deflate,
 * concurrent senders, backpressure; raw frames where the client side
 * cannot misbehave on its own. Python's websockets as the other side is
 * test_ws_interop.c. */
#include <zlib.h>

#include "http/http_util.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                                      \
    } while (0)

/* ---- The server side: configurable handlers ---------------------------------- */

/* What a test's server handler does and saw. */
struct srv {
    cio_ws_options opts;
    bool use_opts;
    int mode;              /* what the handler does (below) */
    int accept_rc;         /* cio_ws_accept's result */
    int recv_rc;           /* the last cio_ws_recv's result */
    int close_code;        /* the CIO_WS_CLOSE message's code, 0: none seen */
    char close_reason[128];
    size_t messages;       /* messages received */
    bool deflate;          /* cio_ws_is_deflate */
    char protocol[64];
    int close_rc;          /* cio_ws_close's result (modes that close) */
    cio_event *done;       /* set when the handler ends */
    cio_event *go;         /* modes that wait for the test */
    cio_ws *ws;            /* while the handler runs */
    size_t sent;           /* MODE_FLOOD: messages sent */
    int send_rc;
};

enum {
    MODE_ECHO,       /* echoes every message until the close */
    MODE_CLOSE,      /* closes at once with 4000 "server says bye" */
    MODE_FLOOD,      /* sends 1 KiB messages until a send fails or go is set */
    MODE_FRAGMENTS,  /* sends a text message as 3 fragments with a ping between, then echoes */
    MODE_SILENT,     /* receives until the end, answering nothing itself */
    MODE_IDLE,       /* waits for go, then frees */
};

static int ws_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct srv *sv = arg;
    cio_ws *ws = NULL;
    sv->accept_rc = cio_ws_accept(req, res, sv->use_opts ? &sv->opts : NULL, &ws);
    if (sv->accept_rc) {
        if (sv->done)
            cio_event_set(sv->done);
        return sv->accept_rc == -EPROTO ? 0 : sv->accept_rc;
    }
    sv->ws = ws;
    sv->deflate = cio_ws_is_deflate(ws);
    if (cio_ws_protocol(ws))
        snprintf(sv->protocol, sizeof sv->protocol, "%s", cio_ws_protocol(ws));
    if (sv->mode == MODE_CLOSE) {
        sv->close_rc = cio_ws_close(ws, 4000, "server says bye");
    } else if (sv->mode == MODE_FLOOD) {
        static char blob[1024];
        memset(blob, 'f', sizeof blob);
        while (!cio_event_is_set(sv->go) && sv->sent < 1000000) {
            sv->send_rc = cio_ws_send(ws, CIO_WS_BINARY, blob, sizeof blob);
            if (sv->send_rc)
                break;
            sv->sent++;
        }
    } else if (sv->mode == MODE_IDLE) {
        cio_event_wait(sv->go);
    } else {
        if (sv->mode == MODE_FRAGMENTS) {
            EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "frag", 4, false));
            EXPECT_OK(cio_ws_ping(ws, "in-between", 10));
            EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "men", 3, false));
            EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "ted\xc3\xa9", 5, true));
        }
        for (;;) {
            cio_ws_message m;
            sv->recv_rc = cio_ws_recv(ws, &m);
            if (sv->recv_rc)
                break;
            if (m.type == CIO_WS_CLOSE) {
                sv->close_code = m.code;
                snprintf(sv->close_reason, sizeof sv->close_reason, "%s", (const char *)m.data);
                break;
            }
            sv->messages++;
            if (sv->mode != MODE_SILENT && (m.type == CIO_WS_TEXT || m.type == CIO_WS_BINARY))
                if (cio_ws_send(ws, m.type, m.data, m.len))
                    break;
        }
    }
    sv->ws = NULL;
    cio_ws_free(ws);
    if (sv->done)
        cio_event_set(sv->done);
    return 0;
}

static int plain_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "plain");
}

/* A server with the WebSocket route /ws (and /plain). */
struct env {
    cio_http_app *app;
    cio_http_server *srv;
    struct srv sv;
    char url[128];
};

static void env_start(struct env *e)
{
    strict_reports();
    EXPECT_OK(cio_http_app_new(&e->app));
    EXPECT_OK(cio_http_app_route(e->app, "GET", "/ws", ws_handler, &e->sv));
    EXPECT_OK(cio_http_app_route(e->app, NULL, "/wsany", ws_handler, &e->sv));
    EXPECT_OK(cio_http_app_route(e->app, "GET", "/plain", plain_handler, NULL));
    e->srv = http_start(e->app, NULL);
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(e->srv, &a));
    snprintf(e->url, sizeof e->url, "ws://127.0.0.1:%u/ws", cio_addr_port(&a));
    EXPECT_OK(cio_event_new(&e->sv.done));
    EXPECT_OK(cio_event_new(&e->sv.go));
}

static void env_stop(struct env *e)
{
    EXPECT_OK(cio_http_server_close(e->srv, 5));
    cio_http_app_free(e->app);
    cio_event_free(e->sv.done);
    cio_event_free(e->sv.go);
}

static cio_ws *env_connect(struct env *e, const cio_ws_options *o)
{
    cio_ws *ws = NULL;
    EXPECT_OK(cio_ws_connect(NULL, e->url, o, &ws));
    EXPECT_TRUE(ws != NULL);
    return ws;
}

static void expect_msg(cio_ws *ws, cio_ws_type type, const void *data, size_t len)
{
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(type, m.type);
    EXPECT_EQ(len, m.len);
    EXPECT_TRUE(memcmp(m.data, data, len) == 0);
    EXPECT_EQ(0, ((const char *)m.data)[len]);
}

/* ---- Arguments --------------------------------------------------------------- */

static int args_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    cio_ws *ws = (cio_ws *)1;
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, NULL, NULL, &ws));
    EXPECT_TRUE(ws == NULL);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "http://127.0.0.1/", NULL, &ws));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://", NULL, &ws));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:0/", NULL, &ws));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:99999/", NULL, &ws));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://a b/", NULL, &ws));
    cio_ws_options bad = {0};
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &bad, &ws));
    struct {
        cio_ws_options o;
        char tail[16];
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.o.size = sizeof newer;
    newer.tail[5] = 1;
    EXPECT_ERR(-E2BIG, cio_ws_connect(NULL, e.url, &newer.o, &ws));
    cio_ws_options o = CIO_WS_OPTIONS(.ping_interval = -1);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.ping_timeout = NAN);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.close_timeout = -2);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.timeout = NAN);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.deflate_level = 10);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.protocols = "a b,c\x01");
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.protocols = "");
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.nheaders = 1);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    cio_http_field hf[] = {{"Bad Name", "x"}};
    o = CIO_WS_OPTIONS(.headers = hf, .nheaders = 1);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    cio_http_field hv[] = {{"X-Ok", "bad\r\nvalue"}};
    o = CIO_WS_OPTIONS(.headers = hv, .nheaders = 1);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    o = CIO_WS_OPTIONS(.origin = "x\ny");
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    /* The accept side's own checks. */
    EXPECT_ERR(-EINVAL, cio_ws_accept(NULL, NULL, NULL, &ws));
    EXPECT_FALSE(cio_ws_is_upgrade(NULL));
    /* The connection's functions. */
    cio_ws_message m;
    EXPECT_ERR(-EINVAL, cio_ws_recv(NULL, &m));
    EXPECT_ERR(-EINVAL, cio_ws_send(NULL, CIO_WS_TEXT, "x", 1));
    EXPECT_ERR(-EINVAL, cio_ws_send_text(NULL, "x"));
    EXPECT_ERR(-EINVAL, cio_ws_send_fragment(NULL, CIO_WS_TEXT, "x", 1, true));
    EXPECT_ERR(-EINVAL, cio_ws_ping(NULL, NULL, 0));
    EXPECT_ERR(-EINVAL, cio_ws_close(NULL, 1000, NULL));
    EXPECT_TRUE(cio_ws_protocol(NULL) == NULL);
    EXPECT_FALSE(cio_ws_is_deflate(NULL));
    EXPECT_FALSE(cio_ws_is_closing(NULL));
    cio_addr a;
    EXPECT_ERR(-EINVAL, cio_ws_peer(NULL, &a));
    cio_ws_free(NULL);
    /* With a live connection. */
    ws = env_connect(&e, NULL);
    EXPECT_ERR(-EINVAL, cio_ws_recv(ws, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, CIO_WS_TEXT, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, CIO_WS_PING, "x", 1));
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, CIO_WS_CLOSE, "x", 1));
    EXPECT_ERR(-EINVAL, cio_ws_send_text(ws, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_send_fragment(ws, CIO_WS_PONG, "x", 1, true));
    EXPECT_ERR(-EINVAL, cio_ws_send_fragment(ws, CIO_WS_TEXT, NULL, 1, true));
    EXPECT_ERR(-EINVAL, cio_ws_ping(ws, NULL, 3));
    char big[126] = {0};
    EXPECT_ERR(-EMSGSIZE, cio_ws_ping(ws, big, sizeof big));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 999, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1005, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1015, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 5000, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 0, "reason without a code"));
    char longr[125];
    memset(longr, 'r', 124);
    longr[124] = 0;
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1000, longr));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1000, "\xff"));
    EXPECT_ERR(-EINVAL, cio_ws_peer(ws, NULL));
    EXPECT_OK(cio_ws_peer(ws, &a));
    EXPECT_NE(0, cio_addr_port(&a));
    /* A fragmented message's type is kept; its task cannot send another
     * message in the middle. */
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "a", 1, false));
    EXPECT_ERR(-EINVAL, cio_ws_send_fragment(ws, CIO_WS_BINARY, "b", 1, true));
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, CIO_WS_TEXT, "c", 1));
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "b", 1, true));
    expect_msg(ws, CIO_WS_TEXT, "ab", 2);
    EXPECT_FALSE(cio_ws_is_closing(ws));
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    EXPECT_TRUE(cio_ws_is_closing(ws));
    EXPECT_ERR(-EALREADY, cio_ws_close(ws, 1000, NULL));
    EXPECT_ERR(-EPIPE, cio_ws_send_text(ws, "late"));
    EXPECT_ERR(-EPIPE, cio_ws_send_fragment(ws, CIO_WS_TEXT, "x", 1, true));
    EXPECT_ERR(-EPIPE, cio_ws_ping(ws, "x", 1));
    EXPECT_ERR(-EPIPE, cio_ws_recv(ws, &m));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(CIO_WS_NORMAL, e.sv.close_code);
    env_stop(&e);
    return 0;
}

static int outside_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    return 0;
}

TEST(ws_args)
{
    RUN(args_main, NULL);
    /* Outside a task. */
    cio_loop *loop;
    EXPECT_OK(cio_loop_new(NULL, &loop));
    cio_ws *ws = (cio_ws *)1;
    EXPECT_ERR(-EPERM, cio_ws_connect(NULL, "ws://127.0.0.1:1/", NULL, &ws));
    EXPECT_TRUE(ws == NULL);
    CLOSE_LOOP(loop);
    RUN(outside_main, NULL);
}

/* ---- Echo: text, binary, sizes ----------------------------------------------- */

static int echo_main(void *arg, void **res)
{
    (void)res;
    bool deflate = arg != NULL;
    struct env e = {0};
    env_start(&e);
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = !deflate);
    cio_ws *ws = env_connect(&e, &o);
    EXPECT_EQ(deflate, cio_ws_is_deflate(ws));
    EXPECT_TRUE(cio_ws_protocol(ws) == NULL);
    EXPECT_OK(cio_ws_send_text(ws, "hello"));
    expect_msg(ws, CIO_WS_TEXT, "hello", 5);
    EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, "\0\1\2", 3));
    expect_msg(ws, CIO_WS_BINARY, "\0\1\2", 3);
    EXPECT_OK(cio_ws_send(ws, CIO_WS_TEXT, NULL, 0));
    expect_msg(ws, CIO_WS_TEXT, "", 0);
    /* The length forms: 125, 126, 65535, 65536, and a large one. */
    size_t sizes[] = {125, 126, 65535, 65536, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        for (size_t j = 0; j < n; j++)
            p[j] = (unsigned char)(j * 7 + i + (j >> 9));
        EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, p, n));
        expect_msg(ws, CIO_WS_BINARY, p, n);
        /* Text of the same size (ASCII with some two-byte characters). */
        for (size_t j = 0; j < n; j++)
            p[j] = (unsigned char)('a' + j % 26);
        for (size_t j = 0; j + 1 < n; j += 97) {
            p[j] = 0xc3;
            p[j + 1] = 0xa9;
        }
        EXPECT_OK(cio_ws_send(ws, CIO_WS_TEXT, p, n));
        expect_msg(ws, CIO_WS_TEXT, p, n);
        free(p);
    }
    /* Many small messages in a row. */
    for (int i = 0; i < 200; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "message %d", i);
        EXPECT_OK(cio_ws_send(ws, CIO_WS_TEXT, b, (size_t)n));
    }
    for (int i = 0; i < 200; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "message %d", i);
        expect_msg(ws, CIO_WS_TEXT, b, (size_t)n);
    }
    EXPECT_OK(cio_ws_close(ws, 1000, "done"));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(CIO_WS_NORMAL, e.sv.close_code);
    EXPECT_STR_EQ("done", e.sv.close_reason);
    EXPECT_EQ(deflate, e.sv.deflate);
    EXPECT_EQ(213, e.sv.messages);
    env_stop(&e);
    return 0;
}

TEST(ws_echo)
{
    RUN(echo_main, NULL);
}

TEST(ws_echo_deflate)
{
    RUN(echo_main, (void *)1);
}

/* ---- Handshake refusals ------------------------------------------------------- */

static void raw_status(struct env *e, const char *path_and_rest, int status, const char *hname,
                       const char *hval)
{
    char req[2048];
    snprintf(req, sizeof req, "%s", path_and_rest);
    struct hres r;
    http_once(e->srv, req, &r);
    EXPECT_EQ(status, r.status);
    if (hname)
        EXPECT_TRUE(hres_has(&r, hname, hval));
    hres_free(&r);
}

static int refuse_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    const char *key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    char req[1024];
    /* No Upgrade. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n%s"
             "Sec-WebSocket-Version: 13\r\n\r\n",
             key);
    raw_status(&e, req, 400, NULL, NULL);
    EXPECT_ERR(-EPROTO, e.sv.accept_rc);
    /* No Connection: upgrade. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n%s"
             "Sec-WebSocket-Version: 13\r\n\r\n",
             key);
    raw_status(&e, req, 400, NULL, NULL);
    /* A bad key. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    raw_status(&e, req, 400, NULL, NULL);
    /* No key. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n");
    raw_status(&e, req, 400, NULL, NULL);
    /* HTTP/1.0. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s"
             "Sec-WebSocket-Version: 13\r\n\r\n",
             key);
    {
        cio_stream *s = http_connect(e.srv);
        http_send(s, req);
        char buf[64] = {0};
        EXPECT_TRUE(cio_stream_read(s, buf, 12) > 0);
        EXPECT_TRUE(strncmp(buf, "HTTP/1.1 400", 12) == 0);
        cio_stream_close(s);
    }
    /* POST (the route takes any method). */
    snprintf(req, sizeof req,
             "POST /wsany HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s"
             "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
             key);
    raw_status(&e, req, 400, NULL, NULL);
    /* A body. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s"
             "Sec-WebSocket-Version: 13\r\nContent-Length: 2\r\n\r\nhi",
             key);
    raw_status(&e, req, 400, NULL, NULL);
    /* Another version: 426 naming 13. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s"
             "Sec-WebSocket-Version: 8\r\n\r\n",
             key);
    raw_status(&e, req, 426, "Sec-WebSocket-Version", "13");
    EXPECT_ERR(-EPROTO, e.sv.accept_rc);
    /* The RFC's own example key and answer. */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, "
             "Upgrade\r\n%sSec-WebSocket-Version: 13\r\n\r\n",
             key);
    {
        cio_stream *s = http_connect(e.srv);
        http_send(s, req);
        char head[1024];
        ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
        EXPECT_TRUE(n > 0);
        head[n] = 0;
        EXPECT_TRUE(strncmp(head, "HTTP/1.1 101 ", 13) == 0);
        EXPECT_TRUE(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        EXPECT_TRUE(strstr(head, "Upgrade: websocket\r\n"));
        EXPECT_TRUE(strstr(head, "Sec-WebSocket-Extensions") == NULL);
        /* A masked close frame (code 1000), then the server's answer. */
        const unsigned char cl[] = {0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2};
        EXPECT_OK(cio_stream_write(s, cl, sizeof cl));
        unsigned char ans[4];
        EXPECT_EQ(4, cio_stream_read_exactly(s, ans, 4));
        EXPECT_EQ(0x88, ans[0]);
        EXPECT_EQ(2, ans[1]);
        EXPECT_EQ(0x03, ans[2]);
        EXPECT_EQ(0xe8, ans[3]);
        EXPECT_TRUE(http_eof(s));
        cio_stream_close(s);
    }
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(1000, e.sv.close_code);
    /* A client that gets no 101: -EPROTO. */
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(e.srv, &a));
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/plain", cio_addr_port(&a));
    cio_ws *ws = (cio_ws *)1;
    EXPECT_ERR(-EPROTO, cio_ws_connect(NULL, url, NULL, &ws));
    EXPECT_TRUE(ws == NULL);
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/none", cio_addr_port(&a));
    EXPECT_ERR(-EPROTO, cio_ws_connect(NULL, url, NULL, &ws));
    env_stop(&e);
    return 0;
}

TEST(ws_refusals)
{
    RUN(refuse_main, NULL);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
