/* WebSocket (src/http/ws.c, ws_frame.c): a cio server and a cio client in
 * one process. The handshake and its refusals (400, 426), text and binary,
 * fragmentation both ways with control frames between fragments,
 * ping/pong, the keep-alive and its timeout, the close handshake from
 * either side, close_timeout, max_message (1009), permessage-deflate,
 * concurrent senders, backpressure; raw frames where the client side
 * cannot misbehave on its own. Python's websockets as the other side is
 * test_ws_interop.c. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "http/http_util.h"
#include "http/internal.h"
#include "http/ws_frame.h"
#include "net/test_tls_util.h"

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
    char cookie[128];      /* the handshake's Cookie and User-Agent */
    char ua[128];
    int send_rc;
};

enum {
    MODE_ECHO,       /* echoes every message until the close */
    MODE_CLOSE,      /* closes at once with 4000 "server says bye" */
    MODE_FLOOD,      /* sends 1 KiB messages until a send fails or go is set */
    MODE_FRAGMENTS,  /* sends a text message as 3 fragments with a ping between, then echoes */
    MODE_SILENT,     /* receives until the end, answering nothing itself */
    MODE_IDLE,       /* waits for go, then frees */
    MODE_RESUME,     /* a receive given up by a deadline, then set go, then echoes */
};

static int ws_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct srv *sv = arg;
    cio_ws *ws = NULL;
    const char *ck = cio_http_request_header(req, "Cookie");
    const char *ua = cio_http_request_header(req, "User-Agent");
    snprintf(sv->cookie, sizeof sv->cookie, "%s", ck ? ck : "");
    snprintf(sv->ua, sizeof sv->ua, "%s", ua ? ua : "");
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
        if (sv->mode == MODE_RESUME) {
            /* Half a frame came: the deadline gives up, the state stays. */
            cio_scope sc;
            EXPECT_OK(cio_timeout_begin(&sc, 0.05));
            cio_ws_message m;
            sv->recv_rc = cio_ws_recv(ws, &m);
            cio_scope_end(&sc);
            EXPECT_ERR(-ETIMEDOUT, sv->recv_rc);
            cio_event_set(sv->go);
        }
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
    return sv->recv_rc == -ECANCELED ? -ECANCELED : 0;
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
    int take_mode;
};

static void env_start_with(struct env *e, const cio_http_server_options *so);
static void env_start(struct env *e) { env_start_with(e, NULL); }

/* Takes the connection over by hand (the internal hook, for its own
 * checks): mode 0 writes a valid 101 and returns (the connection ends
 * without a close frame); the others check the refusals. */
static int takeover_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    int *mode = arg;
    cio_stream *s = NULL;
    EXPECT_ERR(-EINVAL, cio__http_takeover(NULL, res, 101, &s));
    EXPECT_ERR(-EINVAL, cio__http_takeover(req, NULL, 101, &s));
    EXPECT_ERR(-EINVAL, cio__http_takeover(req, res, 101, NULL));
    EXPECT_ERR(-EINVAL, cio__http_takeover(req, res, 0, &s));
    if (*mode == 1) {
        /* A request with a body cannot be taken over. */
        EXPECT_ERR(-EPROTO, cio__http_takeover(req, res, 101, &s));
        return cio_http_response_text(res, 200, "body");
    }
    if (*mode == 2) {
        /* A response begun already. */
        EXPECT_OK(cio_http_response_begin(res, 2));
        EXPECT_ERR(-EALREADY, cio__http_takeover(req, res, 101, &s));
        return cio_http_response_write(res, "ok", 2);
    }
    EXPECT_OK(cio__http_takeover(req, res, 101, &s));
    EXPECT_TRUE(s != NULL);
    EXPECT_ERR(-EALREADY, cio__http_takeover(req, res, 101, &s));
    /* Nothing more goes out on res. */
    EXPECT_TRUE(cio_http_response_is_started(res));
    char key[64];
    const char *k = cio_http_request_header(req, "Sec-WebSocket-Key");
    snprintf(key, sizeof key, "%s", k ? k : "");
    /* The accept value, computed as the RFC does. */
    unsigned char md[20];
    char in[128];
    snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    SHA1((const unsigned char *)in, strlen(in), md);
    char acc[32];
    EVP_EncodeBlock((unsigned char *)acc, md, 20);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Set-Cookie: taken=1; Path=/\r\n\r\n",
                     acc);
    EXPECT_OK(cio_stream_write(s, head, (size_t)n));
    /* A text frame, then the end without a close frame. */
    EXPECT_OK(cio_stream_write(s, "\x81\x02hi", 4));
    return 0;
}

static void env_start_with(struct env *e, const cio_http_server_options *so)
{
    strict_reports();
    EXPECT_OK(cio_http_app_new(&e->app));
    EXPECT_OK(cio_http_app_route(e->app, "GET", "/ws", ws_handler, &e->sv));
    EXPECT_OK(cio_http_app_route(e->app, NULL, "/wsany", ws_handler, &e->sv));
    EXPECT_OK(cio_http_app_route(e->app, "GET", "/plain", plain_handler, NULL));
    EXPECT_OK(cio_http_app_route(e->app, NULL, "/take", takeover_handler, &e->take_mode));
    e->srv = http_start(e->app, so);
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
    /* Tokens separated by commas; whitespace only around the commas. */
    static const char *const bad_protocols[] = {"bad protocol", " a", "a ", "a,,b", "a,",
                                                ",a", "a\tb, c", "a, b c", "a;b"};
    for (size_t i = 0; i < sizeof bad_protocols / sizeof *bad_protocols; i++) {
        o = CIO_WS_OPTIONS(.protocols = bad_protocols[i]);
        EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, e.url, &o, &ws));
    }
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
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1016, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 2999, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1004, NULL));
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

/* ---- Fragmentation and control frames between fragments ------------------------ */

static int frag_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_FRAGMENTS;
    cio_ws_options o = CIO_WS_OPTIONS(.report_control = true);
    cio_ws *ws = env_connect(&e, &o);
    /* The server's fragments, a ping between them (reported, answered). */
    expect_msg(ws, CIO_WS_PING, "in-between", 10);
    expect_msg(ws, CIO_WS_TEXT, "fragmented\xc3\xa9", 12);
    /* Ours, with a ping between and a character split across fragments. */
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "ab\xc3", 3, false));
    EXPECT_OK(cio_ws_ping(ws, "p1", 2));
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "", 0, false));
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "\xa9" "cd", 3, true));
    expect_msg(ws, CIO_WS_PONG, "p1", 2);
    expect_msg(ws, CIO_WS_TEXT, "ab\xc3\xa9" "cd", 6);
    /* Binary fragments, one empty. */
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_BINARY, "\0\1", 2, false));
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_BINARY, "\2", 1, true));
    expect_msg(ws, CIO_WS_BINARY, "\0\1\2", 3);
    /* A ping with no payload; not reported without report_control. */
    EXPECT_OK(cio_ws_ping(ws, NULL, 0));
    expect_msg(ws, CIO_WS_PONG, "", 0);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(1000, e.sv.close_code);
    EXPECT_EQ(2, e.sv.messages);
    env_stop(&e);
    return 0;
}

TEST(ws_fragments)
{
    RUN(frag_main, NULL);
}

/* Pongs and pings are not messages without report_control. */
static int ping_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_FRAGMENTS;
    cio_ws *ws = env_connect(&e, NULL);
    /* The server's ping is answered, not returned. */
    expect_msg(ws, CIO_WS_TEXT, "fragmented\xc3\xa9", 12);
    EXPECT_OK(cio_ws_ping(ws, "x", 1));
    EXPECT_OK(cio_ws_send_text(ws, "after the ping"));
    expect_msg(ws, CIO_WS_TEXT, "after the ping", 14);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    env_stop(&e);
    return 0;
}

TEST(ws_ping_unreported)
{
    RUN(ping_main, NULL);
}

/* ---- Keep-alive -------------------------------------------------------------------- */

/* The server pings a quiet client (ping_interval); the client sees the
 * ping (report_control) and the connection goes on. */
static int keepalive_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.use_opts = true;
    e.sv.opts = CIO_WS_OPTIONS(.ping_interval = 0.05, .ping_timeout = 30);
    cio_ws_options o = CIO_WS_OPTIONS(.report_control = true);
    cio_ws *ws = env_connect(&e, &o);
    for (int i = 0; i < 3; i++)
        expect_msg(ws, CIO_WS_PING, "cio keep-alive", 14);
    EXPECT_OK(cio_ws_send_text(ws, "still here"));
    cio_ws_message m;
    do
        EXPECT_OK(cio_ws_recv(ws, &m));
    while (m.type == CIO_WS_PING);
    EXPECT_EQ(CIO_WS_TEXT, m.type);
    EXPECT_STR_EQ("still here", (const char *)m.data);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(1000, e.sv.close_code);
    env_stop(&e);
    return 0;
}

TEST(ws_keepalive)
{
    RUN(keepalive_main, NULL);
}

/* A peer that answers no ping: -ETIMEDOUT after ping_timeout, with a
 * close 1011 sent. */
static int ping_timeout_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_IDLE;
    cio_ws_options o = CIO_WS_OPTIONS(.ping_interval = 0.02, .ping_timeout = 0.05);
    cio_ws *ws = env_connect(&e, &o);
    cio_ws_message m;
    EXPECT_ERR(-ETIMEDOUT, cio_ws_recv(ws, &m));
    EXPECT_TRUE(cio_ws_is_closing(ws));
    EXPECT_ERR(-EPIPE, cio_ws_recv(ws, &m));
    EXPECT_ERR(-EPIPE, cio_ws_send_text(ws, "x"));
    cio_event_set(e.sv.go);
    EXPECT_OK(cio_event_wait(e.sv.done));
    cio_ws_free(ws);
    /* A ping of the user's with no keep-alive: the same timeout. */
    cio_event_clear(e.sv.go);
    cio_event_clear(e.sv.done);
    o = CIO_WS_OPTIONS(.ping_timeout = 0.05);
    ws = env_connect(&e, &o);
    EXPECT_OK(cio_ws_ping(ws, "?", 1));
    EXPECT_ERR(-ETIMEDOUT, cio_ws_recv(ws, &m));
    cio_event_set(e.sv.go);
    EXPECT_OK(cio_event_wait(e.sv.done));
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_ping_timeout)
{
    RUN(ping_timeout_main, NULL);
}

/* ---- The close handshake ------------------------------------------------------------- */

static int close_server_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_CLOSE;
    cio_ws *ws = env_connect(&e, NULL);
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(CIO_WS_CLOSE, m.type);
    EXPECT_EQ(4000, m.code);
    EXPECT_EQ(15, m.len);
    EXPECT_STR_EQ("server says bye", (const char *)m.data);
    EXPECT_TRUE(cio_ws_is_closing(ws));
    EXPECT_ERR(-EPIPE, cio_ws_recv(ws, &m));
    EXPECT_ERR(-EPIPE, cio_ws_send_text(ws, "x"));
    EXPECT_ERR(-EALREADY, cio_ws_close(ws, 1000, NULL));
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_OK(e.sv.close_rc);
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_close_by_server)
{
    RUN(close_server_main, NULL);
}

/* Codes both ways: none (1005 seen), an application code with a reason. */
static int close_codes_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    cio_ws *ws = env_connect(&e, NULL);
    EXPECT_OK(cio_ws_close(ws, 0, NULL));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(CIO_WS_NO_STATUS, e.sv.close_code);
    EXPECT_STR_EQ("", e.sv.close_reason);
    cio_event_clear(e.sv.done);
    ws = env_connect(&e, NULL);
    EXPECT_OK(cio_ws_close(ws, 4999, "\xc3\xa9t\xc3\xa9"));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(4999, e.sv.close_code);
    EXPECT_STR_EQ("\xc3\xa9t\xc3\xa9", e.sv.close_reason);
    env_stop(&e);
    return 0;
}

TEST(ws_close_codes)
{
    RUN(close_codes_main, NULL);
}

/* cio_ws_free without a close: the peer sees 1001 going away. */
static int going_away_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    cio_ws *ws = env_connect(&e, NULL);
    EXPECT_OK(cio_ws_send_text(ws, "one"));
    expect_msg(ws, CIO_WS_TEXT, "one", 3);
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(CIO_WS_GOING_AWAY, e.sv.close_code);
    /* And the server's free: the client sees 1001. */
    cio_event_clear(e.sv.done);
    e.sv.mode = MODE_IDLE;
    ws = env_connect(&e, NULL);
    cio_event_set(e.sv.go);
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(CIO_WS_CLOSE, m.type);
    EXPECT_EQ(CIO_WS_GOING_AWAY, m.code);
    EXPECT_OK(cio_event_wait(e.sv.done));
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_going_away)
{
    RUN(going_away_main, NULL);
}

/* A peer that never answers the close: -ETIMEDOUT after close_timeout,
 * the connection closed anyway. */
static int close_timeout_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_IDLE;
    cio_ws_options o = CIO_WS_OPTIONS(.close_timeout = 0.05);
    cio_ws *ws = env_connect(&e, &o);
    EXPECT_ERR(-ETIMEDOUT, cio_ws_close(ws, 1000, NULL));
    EXPECT_TRUE(cio_ws_is_closing(ws));
    cio_ws_message m;
    EXPECT_ERR(-EPIPE, cio_ws_recv(ws, &m));
    cio_event_set(e.sv.go);
    EXPECT_OK(cio_event_wait(e.sv.done));
    cio_ws_free(ws);
    /* The server's side: a client that does not read. */
    cio_event_clear(e.sv.done);
    e.sv.mode = MODE_CLOSE;
    e.sv.use_opts = true;
    e.sv.opts = CIO_WS_OPTIONS(.close_timeout = 0.05);
    ws = env_connect(&e, NULL);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_ERR(-ETIMEDOUT, e.sv.close_rc);
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_close_timeout)
{
    RUN(close_timeout_main, NULL);
}

/* cio_ws_close while another task receives: that task gets the close. */
struct recv_task {
    cio_ws *ws;
    cio_ws_message m;
    int rc;
};

static int recv_task_fn(void *arg, void **res)
{
    (void)res;
    struct recv_task *r = arg;
    r->rc = cio_ws_recv(r->ws, &r->m);
    return 0;
}

static int close_receiving_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    cio_ws *ws = env_connect(&e, NULL);
    struct recv_task r = {.ws = ws};
    cio_task *t;
    EXPECT_OK(cio_spawn(recv_task_fn, &r, &t));
    EXPECT_OK(cio_yield());
    cio_ws_message m;
    EXPECT_ERR(-EBUSY, cio_ws_recv(ws, &m));
    EXPECT_OK(cio_ws_close(ws, 3000, "app"));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(r.rc);
    EXPECT_EQ(CIO_WS_CLOSE, r.m.type);
    EXPECT_EQ(3000, r.m.code);
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(3000, e.sv.close_code);
    EXPECT_STR_EQ("app", e.sv.close_reason);
    env_stop(&e);
    return 0;
}

TEST(ws_close_while_receiving)
{
    RUN(close_receiving_main, NULL);
}

/* cio_ws_close while another task receives, and the peer never answers:
 * after close_timeout the closer gets -ETIMEDOUT and the receiver is woken
 * with the end (CIO_WS_CLOSE, CIO_WS_ABNORMAL); without a ping_interval
 * nothing else would ever wake it. */
static int close_unanswered_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_IDLE; /* reads nothing, answers nothing */
    cio_ws_options o = CIO_WS_OPTIONS(.close_timeout = 0.05);
    cio_ws *ws = env_connect(&e, &o);
    struct recv_task r = {.ws = ws, .rc = 1};
    cio_task *t;
    EXPECT_OK(cio_spawn(recv_task_fn, &r, &t));
    EXPECT_OK(cio_yield());
    cio_ws_message m;
    EXPECT_ERR(-EBUSY, cio_ws_recv(ws, &m)); /* the task is receiving */
    /* A generous bound against a hang: the fix ends it after 0.05 s. */
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 30));
    EXPECT_ERR(-ETIMEDOUT, cio_ws_close(ws, 1000, NULL));
    EXPECT_OK(cio_await(t, NULL));
    EXPECT_OK(cio_scope_end(&sc));
    cio_future_unref(t);
    EXPECT_OK(r.rc);
    EXPECT_EQ(CIO_WS_CLOSE, r.m.type);
    EXPECT_EQ(CIO_WS_ABNORMAL, r.m.code);
    EXPECT_EQ(0, r.m.len);
    EXPECT_TRUE(cio_ws_is_closing(ws));
    EXPECT_ERR(-EPIPE, cio_ws_recv(ws, &m));
    EXPECT_ERR(-EALREADY, cio_ws_close(ws, 1000, NULL));
    EXPECT_ERR(-EPIPE, cio_ws_send_text(ws, "late"));
    cio_event_set(e.sv.go);
    EXPECT_OK(cio_event_wait(e.sv.done));
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_close_unanswered_wakes_receiver)
{
    RUN(close_unanswered_main, NULL);
}

/* The connection ends without a close frame: CIO_WS_ABNORMAL; the hand
 * takeover's checks and its access-log line. */
static int abnormal_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    char path[] = "/tmp/cio-ws-log-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_TRUE(fd > 0);
    unlink(path);
    struct env e = {0};
    cio_http_server_options so = CIO_HTTP_SERVER_OPTIONS(.access_log_fd = fd);
    env_start_with(&e, &so);
    char url[160];
    snprintf(url, sizeof url, "%s", e.url);
    strcpy(strrchr(url, '/'), "/take");
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = true);
    cio_ws *ws = NULL;
    EXPECT_OK(cio_ws_connect(NULL, url, &o, &ws));
    expect_msg(ws, CIO_WS_TEXT, "hi", 2);
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(CIO_WS_CLOSE, m.type);
    EXPECT_EQ(CIO_WS_ABNORMAL, m.code);
    EXPECT_EQ(0, m.len);
    EXPECT_ERR(-EPIPE, cio_ws_recv(ws, &m));
    cio_ws_free(ws);
    /* The refusals of the hook. */
    e.take_mode = 1;
    struct hres r;
    http_once(e.srv, "POST /take HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", &r);
    EXPECT_EQ(200, r.status);
    hres_free(&r);
    e.take_mode = 2;
    http_once(e.srv, "GET /take HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    EXPECT_EQ(200, r.status);
    EXPECT_STR_EQ("ok", r.body);
    hres_free(&r);
    env_stop(&e);
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    EXPECT_TRUE(n > 0);
    buf[n] = 0;
    close(fd);
    if (!strstr(buf, "\"GET /take HTTP/1.1\" 101 0"))
        FAIL("log: %s", buf);
    return 0;
}

TEST(ws_takeover)
{
    RUN(abnormal_main, NULL);
}

/* ---- Peer errors: invalid text, too big ------------------------------------------------ */

static int invalid_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong three-byte */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\x80",             /* a stray continuation */
        "ok\xc3",           /* cut short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cio_event_clear(e.sv.done);
        cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = i % 2 == 1);
        cio_ws *ws = env_connect(&e, &o);
        EXPECT_OK(cio_ws_send(ws, CIO_WS_TEXT, bad[i], strlen(bad[i])));
        cio_ws_message m;
        EXPECT_OK(cio_ws_recv(ws, &m));
        EXPECT_EQ(CIO_WS_CLOSE, m.type);
        EXPECT_EQ(CIO_WS_INVALID_DATA, m.code);
        EXPECT_OK(cio_event_wait(e.sv.done));
        EXPECT_ERR(-EILSEQ, e.sv.recv_rc);
        cio_ws_free(ws);
    }
    /* Split across fragments: the first bad byte fails it at once. */
    cio_event_clear(e.sv.done);
    cio_ws *ws = env_connect(&e, NULL);
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "a\xe2\x82", 3, false));
    EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_TEXT, "b", 1, false));
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(CIO_WS_INVALID_DATA, m.code);
    EXPECT_OK(cio_event_wait(e.sv.done));
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_invalid_utf8)
{
    RUN(invalid_main, NULL);
}

static int too_big_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.use_opts = true;
    e.sv.opts = CIO_WS_OPTIONS(.max_message = 1000);
    char *p = calloc(1, 200000);
    for (int deflate = 0; deflate < 2; deflate++) {
        cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = !deflate);
        /* At the limit: fine; over it: 1009. */
        cio_event_clear(e.sv.done);
        cio_ws *ws = env_connect(&e, &o);
        EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, p, 1000));
        expect_msg(ws, CIO_WS_BINARY, p, 1000);
        EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, p, 1001));
        cio_ws_message m;
        EXPECT_OK(cio_ws_recv(ws, &m));
        EXPECT_EQ(CIO_WS_CLOSE, m.type);
        EXPECT_EQ(CIO_WS_TOO_BIG, m.code);
        EXPECT_OK(cio_event_wait(e.sv.done));
        EXPECT_ERR(-EMSGSIZE, e.sv.recv_rc);
        cio_ws_free(ws);
        /* In fragments adding up past it. */
        cio_event_clear(e.sv.done);
        ws = env_connect(&e, &o);
        EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_BINARY, p, 600, false));
        EXPECT_OK(cio_ws_send_fragment(ws, CIO_WS_BINARY, p, 600, true));
        EXPECT_OK(cio_ws_recv(ws, &m));
        EXPECT_EQ(CIO_WS_TOO_BIG, m.code);
        EXPECT_OK(cio_event_wait(e.sv.done));
        cio_ws_free(ws);
        /* Compressed small, inflating past the limit (zeros). */
        cio_event_clear(e.sv.done);
        ws = env_connect(&e, &o);
        EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, p, 200000));
        EXPECT_OK(cio_ws_recv(ws, &m));
        EXPECT_EQ(CIO_WS_TOO_BIG, m.code);
        EXPECT_OK(cio_event_wait(e.sv.done));
        cio_ws_free(ws);
    }
    free(p);
    env_stop(&e);
    return 0;
}

TEST(ws_max_message)
{
    RUN(too_big_main, NULL);
}

/* ---- Subprotocols ------------------------------------------------------------------------ */

static int proto_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.use_opts = true;
    e.sv.opts = CIO_WS_OPTIONS(.protocols = "chat, superchat");
    cio_ws_options o = CIO_WS_OPTIONS(.protocols = "other,superchat");
    cio_ws *ws = env_connect(&e, &o);
    EXPECT_STR_EQ("superchat", cio_ws_protocol(ws));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_STR_EQ("superchat", e.sv.protocol);
    cio_event_clear(e.sv.done);
    e.sv.protocol[0] = 0;
    /* Whitespace around the commas is fine. */
    o = CIO_WS_OPTIONS(.protocols = "x ,\tchat");
    ws = env_connect(&e, &o);
    EXPECT_STR_EQ("chat", cio_ws_protocol(ws));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    cio_event_clear(e.sv.done);
    e.sv.protocol[0] = 0;
    o = CIO_WS_OPTIONS(.protocols = "nope");
    ws = env_connect(&e, &o);
    EXPECT_TRUE(cio_ws_protocol(ws) == NULL);
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_STR_EQ("", e.sv.protocol);
    /* Origin and extra fields go out (the server sees a valid handshake). */
    cio_event_clear(e.sv.done);
    cio_http_field hf[] = {{"X-Extra", "1"}, {"User-Agent", "mine"}};
    o = CIO_WS_OPTIONS(.origin = "http://example.test", .headers = hf, .nheaders = 2);
    ws = env_connect(&e, &o);
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    env_stop(&e);
    return 0;
}

TEST(ws_subprotocol)
{
    RUN(proto_main, NULL);
}

/* ---- Concurrent senders --------------------------------------------------------------------- */

struct sender {
    cio_ws *ws;
    int id;
    int rc;
};

#define NSENDERS 4
#define NPER 150

/* Message i of sender id: "id:i:" then (id, i)-dependent filler; every
 * third message in three fragments with a yield between them. */
static size_t sender_msg(int id, int i, char *buf)
{
    size_t n = (size_t)sprintf(buf, "%d:%d:", id, i);
    size_t fill = (size_t)((i * 37 + id * 101) % 3000);
    for (size_t j = 0; j < fill; j++)
        buf[n + j] = (char)('a' + (id + (int)j) % 26);
    return n + fill;
}

static int sender_fn(void *arg, void **res)
{
    (void)res;
    struct sender *s = arg;
    char *buf = malloc(4096);
    for (int i = 0; i < NPER && !s->rc; i++) {
        size_t n = sender_msg(s->id, i, buf);
        if (i % 3 == 0) {
            size_t a = n / 3, b = 2 * n / 3;
            s->rc = cio_ws_send_fragment(s->ws, CIO_WS_TEXT, buf, a, false);
            if (!s->rc)
                s->rc = cio_yield();
            if (!s->rc)
                s->rc = cio_ws_send_fragment(s->ws, CIO_WS_TEXT, buf + a, b - a, false);
            if (!s->rc)
                s->rc = cio_yield();
            if (!s->rc)
                s->rc = cio_ws_send_fragment(s->ws, CIO_WS_TEXT, buf + b, n - b, true);
        } else {
            s->rc = cio_ws_send(s->ws, CIO_WS_TEXT, buf, n);
            if (!s->rc && i % 2)
                s->rc = cio_yield();
        }
    }
    free(buf);
    return 0;
}

static int senders_main(void *arg, void **res)
{
    (void)res;
    struct env e = {0};
    env_start(&e);
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = arg == NULL);
    cio_ws *ws = env_connect(&e, &o);
    struct sender s[NSENDERS];
    cio_task *t[NSENDERS];
    for (int i = 0; i < NSENDERS; i++) {
        s[i] = (struct sender){ws, i, 0};
        EXPECT_OK(cio_spawn(sender_fn, &s[i], &t[i]));
    }
    int next[NSENDERS] = {0};
    char *want = malloc(4096);
    for (int k = 0; k < NSENDERS * NPER; k++) {
        cio_ws_message m;
        EXPECT_OK(cio_ws_recv(ws, &m));
        EXPECT_EQ(CIO_WS_TEXT, m.type);
        int id = -1, i = -1;
        EXPECT_EQ(2, sscanf(m.data, "%d:%d:", &id, &i));
        EXPECT_TRUE(id >= 0 && id < NSENDERS);
        EXPECT_EQ(next[id], i);
        next[id]++;
        size_t n = sender_msg(id, i, want);
        EXPECT_EQ(n, m.len);
        EXPECT_TRUE(memcmp(want, m.data, n) == 0);
    }
    free(want);
    for (int i = 0; i < NSENDERS; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
        EXPECT_OK(s[i].rc);
    }
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(NSENDERS * NPER, e.sv.messages);
    env_stop(&e);
    return 0;
}

TEST(ws_concurrent_senders)
{
    RUN(senders_main, NULL);
    RUN(senders_main, (void *)1);
}

/* ---- Backpressure ------------------------------------------------------------------------------ */

/* Waits until *count stops moving: the task producing it is blocked (one
 * loop runs both sides, so a runnable producer would move it while this
 * task sleeps). */
static void wait_stalled(const size_t *count)
{
    int still = 0;
    for (int i = 0; i < 5000 && still < 10; i++) {
        size_t before = *count;
        EXPECT_OK(cio_sleep(0.01));
        still = *count == before ? still + 1 : 0;
    }
    EXPECT_EQ(10, still);
}

static int backpressure_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_FLOOD;
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = true);
    cio_ws *ws = env_connect(&e, &o);
    /* The client reads nothing: the server's sends stop at what the
     * stream's high-water mark and the kernel's buffers hold. */
    wait_stalled(&e.sv.sent);
    EXPECT_TRUE(e.sv.sent > 0);
    EXPECT_TRUE(e.sv.sent < 40000); /* 40 MB: far beyond any socket buffer */
    EXPECT_OK(e.sv.send_rc);
    cio_event_set(e.sv.go);
    /* Now everything arrives, then the server's going-away close. */
    size_t got = 0;
    for (;;) {
        cio_ws_message m;
        EXPECT_OK(cio_ws_recv(ws, &m));
        if (m.type == CIO_WS_CLOSE) {
            EXPECT_EQ(CIO_WS_GOING_AWAY, m.code);
            break;
        }
        EXPECT_EQ(1024, m.len);
        got++;
    }
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(e.sv.sent, got);
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_backpressure)
{
    RUN(backpressure_main, NULL);
}

/* The other way: a server that never receives blocks the client's sends. */
struct flood {
    cio_ws *ws;
    size_t sent;
    int rc;
};

static int flood_fn(void *arg, void **res)
{
    (void)res;
    struct flood *f = arg;
    static char blob[1024];
    while (f->sent < 100000 && !(f->rc = cio_ws_send(f->ws, CIO_WS_BINARY, blob, sizeof blob)))
        f->sent++;
    return 0;
}

static int backpressure_client_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_IDLE;
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = true);
    cio_ws *ws = env_connect(&e, &o);
    struct flood f = {ws, 0, 0};
    cio_task *t;
    EXPECT_OK(cio_spawn(flood_fn, &f, &t));
    wait_stalled(&f.sent);
    EXPECT_TRUE(f.sent < 40000);
    EXPECT_OK(f.rc);
    /* The server goes away: the blocked send fails. */
    cio_event_set(e.sv.go);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_TRUE(f.rc < 0);
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_backpressure_client)
{
    RUN(backpressure_client_main, NULL);
}

/* close_timeout bounds the whole close handshake: with the client's
 * buffer full (a server that reads nothing), sending the close frame waits
 * until the deadline and the shutdown after it does not wait again. */
static int close_one_deadline_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_IDLE;
    const double T = 3.0;
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = true, .close_timeout = T);
    cio_ws *ws = env_connect(&e, &o);
    struct flood f = {ws, 0, 0};
    cio_task *t;
    EXPECT_OK(cio_spawn(flood_fn, &f, &t));
    wait_stalled(&f.sent);
    EXPECT_OK(f.rc);
    double t0 = cio_loop_time(cio_current_loop());
    EXPECT_ERR(-ETIMEDOUT, cio_ws_close(ws, 1000, NULL));
    double took = cio_loop_time(cio_current_loop()) - t0;
    EXPECT_TRUE(took >= T * 0.99);
    /* Two deadlines would take 2 T at least; one takes T plus scheduling,
     * which T's size leaves three seconds for (a noisy machine's stall). */
    EXPECT_TRUE(took < 2 * T - 0.05);
    cio_event_set(e.sv.go);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_TRUE(f.rc < 0);
    cio_ws_free(ws);
    env_stop(&e);
    return 0;
}

TEST(ws_close_one_deadline)
{
    RUN(close_one_deadline_main, NULL);
}

/* ---- The codec (ws_frame.c) ------------------------------------------------------------------ */

/* A plain reference: is s[0..n) UTF-8 (RFC 3629)? */
static bool ref_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            cp = c & 0x1f;
            k = 1;
        } else if ((c & 0xf0) == 0xe0) {
            cp = c & 0x0f;
            k = 2;
        } else if ((c & 0xf8) == 0xf0) {
            cp = c & 0x07;
            k = 3;
        } else {
            return false;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* Validates in two pieces split at every point: the state carries. */
static bool split_utf8(const uint8_t *s, size_t n)
{
    bool whole = cio__utf8_step(CIO__UTF8_OK, s, n) == CIO__UTF8_OK;
    for (size_t cut = 0; cut <= n; cut++) {
        uint8_t st = cio__utf8_step(CIO__UTF8_OK, s, cut);
        if (st != CIO__UTF8_BAD)
            st = cio__utf8_step(st, s + cut, n - cut);
        if ((st == CIO__UTF8_OK) != whole)
            FAIL("split at %zu differs", cut);
    }
    return whole;
}

TEST(ws_utf8_dfa)
{
    uint8_t b[16];
    /* Every sequence of one and two bytes; every three-byte sequence with
     * a lead of E0..EF; four-byte leads with every second byte. */
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        EXPECT_EQ(ref_utf8(b, 1), split_utf8(b, 1));
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            EXPECT_EQ(ref_utf8(b, 2), split_utf8(b, 2));
        }
    }
    for (unsigned x = 0xe0; x < 0xf0; x++)
        for (unsigned y = 0x70; y < 0xd0; y++)
            for (unsigned z = 0x70; z < 0xd0; z++) {
                b[0] = (uint8_t)x, b[1] = (uint8_t)y, b[2] = (uint8_t)z;
                EXPECT_EQ(ref_utf8(b, 3), cio__utf8_step(0, b, 3) == CIO__UTF8_OK);
            }
    for (unsigned x = 0xf0; x < 0x100; x++)
        for (unsigned y = 0x70; y < 0xd0; y++) {
            b[0] = (uint8_t)x, b[1] = (uint8_t)y, b[2] = 0x80, b[3] = 0xbf;
            EXPECT_EQ(ref_utf8(b, 4), cio__utf8_step(0, b, 4) == CIO__UTF8_OK);
        }
    /* Random mixes, ASCII runs longer than a word between characters. */
    uint32_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        uint8_t t[64];
        size_t n = 0;
        while (n < 60) {
            seed = seed * 1103515245 + 12345;
            unsigned r = seed >> 16;
            if (r % 4 == 0 && n + 9 < 60) {
                memcpy(t + n, "asciiruns", 9);
                n += 9;
            } else {
                t[n++] = (uint8_t)(r >> 3);
            }
        }
        EXPECT_EQ(ref_utf8(t, n), split_utf8(t, n));
    }
    static const char *const good[] = {"", "plain", "\xc3\xa9", "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                                       "\xed\x9f\xbf", "\xee\x80\x80"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        EXPECT_TRUE(split_utf8((const uint8_t *)good[i], strlen(good[i])));
}

TEST(ws_mask_words)
{
    uint8_t src[300], dst[310], ref[300];
    const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 13 + 7);
    for (size_t len = 0; len < 140; len++)
        for (uint64_t off = 0; off < 8; off++)
            for (size_t mis = 0; mis < 8; mis++) {
                for (size_t i = 0; i < len; i++)
                    ref[i] = src[i] ^ key[(off + i) % 4];
                cio__ws_mask(dst + mis, src, len, key, off);
                EXPECT_TRUE(memcmp(dst + mis, ref, len) == 0);
                /* In place, from a misaligned start. */
                memcpy(dst + mis, src, len);
                cio__ws_mask(dst + mis, dst + mis, len, key, off);
                EXPECT_TRUE(memcmp(dst + mis, ref, len) == 0);
            }
    /* In pieces (as payloads arrive), offsets carried. */
    for (size_t cut = 0; cut <= 300; cut += 7) {
        for (size_t i = 0; i < 300; i++)
            ref[i] = src[i] ^ key[i % 4];
        cio__ws_mask(dst, src, cut, key, 0);
        cio__ws_mask(dst + cut, src + cut, 300 - cut, key, cut);
        EXPECT_TRUE(memcmp(dst, ref, 300) == 0);
    }
}

TEST(ws_frame_headers)
{
    uint8_t h[CIO__WS_MAX_HEADER];
    const uint8_t key[4] = {1, 2, 3, 4};
    uint64_t lens[] = {0, 1, 125, 126, 65535, 65536, (uint64_t)1 << 40};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (int m = 0; m < 2; m++) {
            size_t hl = cio__ws_header_write(h, CIO__WS_OP_BINARY, i % 2, m, lens[i],
                                             m ? key : NULL);
            EXPECT_EQ((lens[i] < 126 ? 2 : lens[i] < 65536 ? 4 : 10) + (m ? 4 : 0), hl);
            struct cio__ws_header p;
            for (size_t cut = 0; cut < hl; cut++)
                EXPECT_EQ(0, cio__ws_header_parse(h, cut, &p));
            EXPECT_EQ(1, cio__ws_header_parse(h, hl, &p));
            EXPECT_EQ(hl, p.hlen);
            EXPECT_EQ(lens[i], p.len);
            EXPECT_EQ(i % 2, p.fin);
            EXPECT_EQ(m, p.rsv1);
            EXPECT_EQ(m, p.masked);
            EXPECT_EQ(CIO__WS_OP_BINARY, p.opcode);
            if (m)
                EXPECT_TRUE(memcmp(p.key, key, 4) == 0);
        }
    /* A 64-bit length with its top bit set. */
    const uint8_t bad[10] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
    struct cio__ws_header p;
    EXPECT_EQ(-1, cio__ws_header_parse(bad, 10, &p));
    const uint8_t rsv[2] = {0x70 | 0x1, 0};
    EXPECT_EQ(1, cio__ws_header_parse(rsv, 2, &p));
    EXPECT_TRUE(p.rsv1 && p.rsv2 && p.rsv3 && !p.fin);
}

static bool first_offer(const char *params, size_t n, void *arg)
{
    struct cio__ws_pmd *p = arg;
    return cio__ws_pmd_parse(params, n, p) == 0;
}

TEST(ws_deflate_params)
{
    struct cio__ws_pmd p;
    const char *ok = "; server_no_context_takeover ;client_no_context_takeover; "
                     "server_max_window_bits=10; client_max_window_bits=\"9\"";
    EXPECT_OK(cio__ws_pmd_parse(ok, strlen(ok), &p));
    EXPECT_TRUE(p.on && p.server_no_context_takeover && p.client_no_context_takeover);
    EXPECT_EQ(10, p.server_max_window_bits);
    EXPECT_EQ(9, p.client_max_window_bits);
    EXPECT_TRUE(p.client_max_window_bits_given);
    EXPECT_OK(cio__ws_pmd_parse("", 0, &p));
    EXPECT_EQ(15, p.server_max_window_bits);
    EXPECT_FALSE(p.client_max_window_bits_given);
    EXPECT_OK(cio__ws_pmd_parse("; client_max_window_bits", 24, &p));
    EXPECT_TRUE(p.client_max_window_bits_given);
    EXPECT_EQ(15, p.client_max_window_bits);
    static const char *const bad[] = {
        "; x=1", "; server_no_context_takeover; server_no_context_takeover",
        "; server_max_window_bits", "; server_max_window_bits=16",
        "; server_max_window_bits=7", "; client_max_window_bits=08",
        "; server_no_context_takeover=1", "junk", "; client_max_window_bits=abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cio__ws_pmd_parse(bad[i], strlen(bad[i]), &p) == 0)
            FAIL("accepted: %s", bad[i]);
    /* Walking a list: the first acceptable offer. */
    EXPECT_TRUE(cio__ws_ext_each("x-other; a=\"b,c\", permessage-deflate; nope, "
                                 "Permessage-Deflate; server_max_window_bits=12",
                                 first_offer, &p));
    EXPECT_EQ(12, p.server_max_window_bits);
    EXPECT_FALSE(cio__ws_ext_each("x-other, permessage-deflatex", first_offer, &p));
    EXPECT_FALSE(cio__ws_ext_each(NULL, first_offer, &p));
    char buf[160];
    p = (struct cio__ws_pmd){.on = true, .server_no_context_takeover = true,
                             .server_max_window_bits = 10, .client_max_window_bits = 15,
                             .client_max_window_bits_given = true};
    cio__ws_pmd_format(&p, false, buf);
    EXPECT_STR_EQ("permessage-deflate; server_no_context_takeover; server_max_window_bits=10; "
                  "client_max_window_bits",
                  buf);
    /* Compression round trip through the two halves, with and without
     * context takeover. */
    struct cio__ws_zip dz = {.window_bits = 15, .level = 6};
    struct cio__ws_zip iz = {.window_bits = 15};
    uint8_t *zb = NULL, *ob = NULL;
    size_t zc = 0, oc = 0;
    const char *text = "a message a message a message that repeats itself, a message";
    ssize_t n1 = cio__ws_deflate(&dz, text, strlen(text), &zb, &zc);
    EXPECT_TRUE(n1 > 0);
    size_t ol = 0;
    EXPECT_OK(cio__ws_inflate(&iz, zb, (size_t)n1, true, 1000, &ob, &ol, &oc));
    EXPECT_EQ(strlen(text), ol);
    EXPECT_TRUE(memcmp(ob, text, ol) == 0);
    /* The same message again is smaller: the window remembers it. */
    ssize_t n2 = cio__ws_deflate(&dz, text, strlen(text), &zb, &zc);
    EXPECT_TRUE(n2 < n1);
    ol = 0;
    EXPECT_OK(cio__ws_inflate(&iz, zb, (size_t)n2, true, 1000, &ob, &ol, &oc));
    EXPECT_EQ(strlen(text), ol);
    /* Too big after inflating; bad data. */
    ol = 0;
    n1 = cio__ws_deflate(&dz, text, strlen(text), &zb, &zc);
    EXPECT_ERR(-EMSGSIZE, cio__ws_inflate(&iz, zb, (size_t)n1, true, 10, &ob, &ol, &oc));
    ol = 0;
    EXPECT_ERR(-EILSEQ, cio__ws_inflate(&iz, "\xff\xff\xff\xff", 4, true, 1000, &ob, &ol, &oc));
    cio__ws_zip_free(&dz, true);
    cio__ws_zip_free(&iz, false);
    /* No context takeover: equal messages compress equally. */
    struct cio__ws_zip nz = {.window_bits = 9, .level = 6, .no_takeover = true};
    n1 = cio__ws_deflate(&nz, text, strlen(text), &zb, &zc);
    n2 = cio__ws_deflate(&nz, text, strlen(text), &zb, &zc);
    EXPECT_EQ(n1, n2);
    cio__ws_zip_free(&nz, true);
    free(zb);
    free(ob);
}

/* The server's answers to deflate offers, and compressed frames written
 * by hand (zlib in the test), with server_no_context_takeover honoured. */
static void raw_open(struct env *e, const char *ext, cio_stream **out, char *head, size_t hsz)
{
    cio_stream *s = http_connect(e->srv);
    char req[1024];
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
             "%s%s%s\r\n",
             ext ? "Sec-WebSocket-Extensions: " : "", ext ? ext : "", ext ? "\r\n" : "");
    http_send(s, req);
    ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, hsz - 1);
    EXPECT_TRUE(n > 0);
    head[n] = 0;
    EXPECT_TRUE(strncmp(head, "HTTP/1.1 101 ", 13) == 0);
    *out = s;
}

/* A masked frame of payload p into the stream. */
static void raw_frame(cio_stream *s, int op, bool rsv1, const void *p, size_t n)
{
    uint8_t h[CIO__WS_MAX_HEADER];
    const uint8_t key[4] = {9, 8, 7, 6};
    size_t hl = cio__ws_header_write(h, op, true, rsv1, n, key);
    uint8_t *m = malloc(n + 1);
    cio__ws_mask(m, p, n, key, 0);
    EXPECT_OK(cio_stream_write(s, h, hl));
    EXPECT_OK(cio_stream_write(s, m, n));
    free(m);
}

/* Reads one unmasked frame: its payload into buf, returns its length. */
static size_t raw_read(cio_stream *s, int *op, bool *rsv1, uint8_t *buf, size_t cap)
{
    uint8_t h[10];
    EXPECT_EQ(2, cio_stream_read_exactly(s, h, 2));
    size_t hl = (h[1] & 0x7f) == 126 ? 4 : (h[1] & 0x7f) == 127 ? 10 : 2;
    if (hl > 2)
        EXPECT_EQ((ssize_t)hl - 2, cio_stream_read_exactly(s, h + 2, hl - 2));
    struct cio__ws_header p;
    EXPECT_EQ(1, cio__ws_header_parse(h, hl, &p));
    EXPECT_FALSE(p.masked);
    EXPECT_TRUE(p.len <= cap);
    if (p.len)
        EXPECT_EQ((ssize_t)p.len, cio_stream_read_exactly(s, buf, (size_t)p.len));
    *op = p.opcode;
    *rsv1 = p.rsv1;
    return (size_t)p.len;
}

static size_t zlib_deflate(const char *in, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    EXPECT_EQ(Z_OK, deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY));
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)strlen(in);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    EXPECT_EQ(Z_OK, deflate(&z, Z_SYNC_FLUSH));
    size_t n = cap - z.avail_out - 4;
    deflateEnd(&z);
    return n;
}

static int negotiate_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    char head[2048];
    cio_stream *s;
    /* Parameters echoed; the first acceptable offer wins. */
    raw_open(&e,
             "permessage-deflate; server_max_window_bits=8, permessage-deflate; bogus, "
             "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
             "server_max_window_bits=10; client_max_window_bits",
             &s, head, sizeof head);
    if (!strstr(head, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover; server_max_window_bits=10\r\n"))
        FAIL("head: %s", head);
    /* A compressed message both ways; the server's two equal answers are
     * equal bytes (no context takeover on its side). */
    const char *text = "compress me, compress me, compress me, compress me, compress me!!";
    uint8_t z[256], buf[512], first[512];
    size_t zn = zlib_deflate(text, z, sizeof z);
    size_t fl = 0;
    for (int round = 0; round < 2; round++) {
        raw_frame(s, CIO__WS_OP_TEXT, true, z, zn);
        int op;
        bool rsv1;
        size_t n = raw_read(s, &op, &rsv1, buf, sizeof buf);
        EXPECT_EQ(CIO__WS_OP_TEXT, op);
        EXPECT_TRUE(rsv1);
        if (round == 0) {
            memcpy(first, buf, n);
            fl = n;
        } else {
            EXPECT_EQ(fl, n);
            EXPECT_TRUE(memcmp(first, buf, n) == 0);
        }
        /* It inflates to the text. */
        z_stream iz;
        memset(&iz, 0, sizeof iz);
        EXPECT_EQ(Z_OK, inflateInit2(&iz, -15));
        memcpy(buf + n, "\0\0\xff\xff", 4);
        char out[256];
        iz.next_in = buf;
        iz.avail_in = (uInt)n + 4;
        iz.next_out = (Bytef *)out;
        iz.avail_out = sizeof out;
        EXPECT_EQ(Z_OK, inflate(&iz, Z_SYNC_FLUSH));
        EXPECT_EQ(strlen(text), sizeof out - iz.avail_out);
        EXPECT_TRUE(memcmp(out, text, strlen(text)) == 0);
        inflateEnd(&iz);
    }
    /* Short messages go uncompressed (deflate_min). */
    raw_frame(s, CIO__WS_OP_TEXT, false, "short", 5);
    int op;
    bool rsv1;
    EXPECT_EQ(5, raw_read(s, &op, &rsv1, buf, sizeof buf));
    EXPECT_FALSE(rsv1);
    /* RSV1 on a continuation frame: a protocol error (1002). */
    {
        uint8_t h[CIO__WS_MAX_HEADER];
        const uint8_t key[4] = {0, 0, 0, 0};
        size_t hl = cio__ws_header_write(h, CIO__WS_OP_TEXT, false, false, 1, key);
        EXPECT_OK(cio_stream_write(s, h, hl));
        EXPECT_OK(cio_stream_write(s, "a", 1));
        hl = cio__ws_header_write(h, CIO__WS_OP_CONT, true, true, 1, key);
        EXPECT_OK(cio_stream_write(s, h, hl));
        EXPECT_OK(cio_stream_write(s, "b", 1));
        EXPECT_EQ(2, raw_read(s, &op, &rsv1, buf, sizeof buf));
        EXPECT_EQ(CIO__WS_OP_CLOSE, op);
        EXPECT_EQ(1002, buf[0] << 8 | buf[1]);
    }
    cio_stream_close(s);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_ERR(-EPROTO, e.sv.recv_rc);
    /* Only unacceptable offers: no extension. */
    cio_event_clear(e.sv.done);
    raw_open(&e, "permessage-deflate; server_max_window_bits=8, x-unknown", &s, head,
             sizeof head);
    EXPECT_TRUE(strstr(head, "Sec-WebSocket-Extensions") == NULL);
    /* Then a compressed frame is a protocol error. */
    raw_frame(s, CIO__WS_OP_TEXT, true, z, zn);
    EXPECT_EQ(2, raw_read(s, &op, &rsv1, buf, sizeof buf));
    EXPECT_EQ(CIO__WS_OP_CLOSE, op);
    EXPECT_EQ(1002, buf[0] << 8 | buf[1]);
    cio_stream_close(s);
    EXPECT_OK(cio_event_wait(e.sv.done));
    /* no_deflate on the server: offers ignored. */
    cio_event_clear(e.sv.done);
    e.sv.use_opts = true;
    e.sv.opts = CIO_WS_OPTIONS(.no_deflate = true);
    raw_open(&e, "permessage-deflate", &s, head, sizeof head);
    EXPECT_TRUE(strstr(head, "Sec-WebSocket-Extensions") == NULL);
    cio_stream_close(s);
    EXPECT_OK(cio_event_wait(e.sv.done));
    env_stop(&e);
    return 0;
}

TEST(ws_deflate_negotiation)
{
    RUN(negotiate_main, NULL);
}

/* Frames a client must not send, each closing with its code. */
static int malformed_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    struct {
        const char *name;
        uint8_t bytes[16];
        size_t n;
        int code;
    } cases[] = {
        {"unmasked", {0x81, 0x01, 'a'}, 3, 1002},
        {"rsv2", {0xa1, 0x80, 0, 0, 0, 0}, 6, 1002},
        {"opcode 3", {0x83, 0x80, 0, 0, 0, 0}, 6, 1002},
        {"opcode 11", {0x8b, 0x80, 0, 0, 0, 0}, 6, 1002},
        {"a fragmented ping", {0x09, 0x80, 0, 0, 0, 0}, 6, 1002},
        {"a 126-byte ping", {0x89, 0xfe, 0, 126, 0, 0, 0, 0}, 8, 1002},
        {"a continuation first", {0x80, 0x81, 0, 0, 0, 0, 'a'}, 7, 1002},
        {"a new message inside one", {0x01, 0x81, 0, 0, 0, 0, 'a', 0x81, 0x81, 0, 0, 0, 0, 'b'},
         14, 1002},
        {"a close of one byte", {0x88, 0x81, 0, 0, 0, 0, 3}, 7, 1002},
        {"close code 1005", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed}, 8, 1002},
        {"close code 999", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7}, 8, 1002},
        {"close code 2000", {0x88, 0x82, 0, 0, 0, 0, 0x07, 0xd0}, 8, 1002},
        {"a close reason not UTF-8", {0x88, 0x83, 0, 0, 0, 0, 0x03, 0xe8, 0xff}, 9, 1007},
        {"a 64-bit length with the top bit", {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, 10, 1002},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cio_event_clear(e.sv.done);
        char head[1024];
        cio_stream *s;
        raw_open(&e, NULL, &s, head, sizeof head);
        EXPECT_OK(cio_stream_write(s, cases[i].bytes, cases[i].n));
        uint8_t buf[130];
        int op;
        bool rsv1;
        size_t n = raw_read(s, &op, &rsv1, buf, sizeof buf);
        if (op != CIO__WS_OP_CLOSE || n < 2 || (buf[0] << 8 | buf[1]) != cases[i].code)
            FAIL("%s: op %d code %d", cases[i].name, op, n >= 2 ? buf[0] << 8 | buf[1] : -1);
        EXPECT_TRUE(http_eof(s));
        cio_stream_close(s);
        EXPECT_OK(cio_event_wait(e.sv.done));
        EXPECT_TRUE(e.sv.recv_rc < 0);
    }
    env_stop(&e);
    return 0;
}

TEST(ws_malformed_frames)
{
    RUN(malformed_main, NULL);
}

/* ---- Through an HTTP client: its cookie jar and User-Agent ---------------------------------- */

static int client_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    cio_http_jar *jar;
    EXPECT_OK(cio_http_jar_new(&jar));
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(e.srv, &a));
    char origin[64];
    snprintf(origin, sizeof origin, "http://127.0.0.1:%u/", cio_addr_port(&a));
    EXPECT_OK(cio_http_jar_set(jar, origin, "sid=abc; Path=/"));
    cio_http_client *c;
    cio_http_client_options co =
        CIO_HTTP_CLIENT_OPTIONS(.jar = jar, .no_env_proxy = true, .user_agent = "ws-test/1");
    EXPECT_OK(cio_http_client_new(&co, &c));
    cio_ws *ws = NULL;
    EXPECT_OK(cio_ws_connect(c, e.url, NULL, &ws));
    EXPECT_OK(cio_ws_send_text(ws, "via client"));
    expect_msg(ws, CIO_WS_TEXT, "via client", 10);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_STR_EQ("sid=abc", e.sv.cookie);
    EXPECT_STR_EQ("ws-test/1", e.sv.ua);
    /* A Set-Cookie in the 101 lands in the jar. */
    char url[160];
    snprintf(url, sizeof url, "%s", e.url);
    strcpy(strrchr(url, '/'), "/take");
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = true);
    EXPECT_OK(cio_ws_connect(c, url, &o, &ws));
    expect_msg(ws, CIO_WS_TEXT, "hi", 2);
    cio_ws_free(ws);
    EXPECT_EQ(2, cio_http_jar_count(jar));
    char buf[256];
    EXPECT_TRUE(cio_http_jar_header(jar, origin, buf, sizeof buf) > 0);
    EXPECT_TRUE(strstr(buf, "taken=1") != NULL);
    /* Refused connections are the client's errors. */
    EXPECT_ERR(-ECONNREFUSED, cio_ws_connect(c, "ws://127.0.0.1:1/", NULL, &ws));
    EXPECT_ERR(-ECONNREFUSED, cio_ws_connect(NULL, "ws://127.0.0.1:1/", NULL, &ws));
    EXPECT_OK(cio_http_client_free(c));
    cio_http_jar_free(jar);
    env_stop(&e);
    return 0;
}

TEST(ws_through_client)
{
    RUN(client_main, NULL);
}

/* The handshake's budget: a server that never answers. */
static int silent_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char b[4096];
    ssize_t n;
    while ((n = cio_stream_read(s, b, sizeof b)) > 0)
        ;
    return n < 0 ? (int)n : 0;
}

static int hs_timeout_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_addr a = loopback4();
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, NULL, silent_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &a));
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", cio_addr_port(&a));
    cio_ws_options o = CIO_WS_OPTIONS(.timeout = 0.05);
    cio_ws *ws = (cio_ws *)1;
    EXPECT_ERR(-ETIMEDOUT, cio_ws_connect(NULL, url, &o, &ws));
    EXPECT_TRUE(ws == NULL);
    EXPECT_OK(cio_server_close(srv, 0));
    return 0;
}

TEST(ws_handshake_timeout)
{
    RUN(hs_timeout_main, NULL);
}

/* ---- A receive given up and resumed ------------------------------------------------------------ */

static int resume_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    e.sv.mode = MODE_RESUME;
    char head[1024];
    cio_stream *s;
    raw_open(&e, NULL, &s, head, sizeof head);
    /* A masked 300-byte text frame, split inside the extended length and
     * inside the payload. */
    char payload[300];
    memset(payload, 'q', sizeof payload);
    uint8_t h[CIO__WS_MAX_HEADER], m[300];
    const uint8_t key[4] = {5, 6, 7, 8};
    size_t hl = cio__ws_header_write(h, CIO__WS_OP_TEXT, true, false, 300, key);
    cio__ws_mask(m, (const uint8_t *)payload, 300, key, 0);
    EXPECT_OK(cio_stream_write(s, h, 3));
    EXPECT_OK(cio_event_wait(e.sv.go));
    EXPECT_OK(cio_stream_write(s, h + 3, hl - 3));
    EXPECT_OK(cio_stream_write(s, m, 101));
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_stream_write(s, m + 101, 199));
    uint8_t buf[512];
    int op;
    bool rsv1;
    EXPECT_EQ(300, raw_read(s, &op, &rsv1, buf, sizeof buf));
    EXPECT_EQ(CIO__WS_OP_TEXT, op);
    EXPECT_TRUE(memcmp(buf, payload, 300) == 0);
    cio_stream_close(s);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(1, e.sv.messages);
    env_stop(&e);
    return 0;
}

TEST(ws_recv_resumes)
{
    RUN(resume_main, NULL);
}

/* ---- The server shuts down: handlers are cancelled, clients see 1001 ------------------------------ */

static int shutdown_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct env e = {0};
    env_start(&e);
    cio_ws *ws = env_connect(&e, NULL);
    EXPECT_OK(cio_ws_send_text(ws, "x"));
    expect_msg(ws, CIO_WS_TEXT, "x", 1);
    EXPECT_OK(cio_http_server_close(e.srv, 0.01));
    EXPECT_TRUE(cio_event_is_set(e.sv.done));
    EXPECT_ERR(-ECANCELED, e.sv.recv_rc);
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(CIO_WS_CLOSE, m.type);
    EXPECT_EQ(CIO_WS_GOING_AWAY, m.code);
    cio_ws_free(ws);
    cio_http_app_free(e.app);
    cio_event_free(e.sv.done);
    cio_event_free(e.sv.go);
    return 0;
}

TEST(ws_server_shutdown)
{
    RUN(shutdown_main, NULL);
}

/* ---- wss:// ---------------------------------------------------------------------------------------- */

static int wss_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    struct env e = {0};
    cio_tls_config *scfg = tls_server_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_tls_config *ccfg = tls_client_cfg(CIO_TLS_OPTIONS(.alpn = "http/1.1"));
    cio_http_server_options so = CIO_HTTP_SERVER_OPTIONS(.tls = scfg);
    env_start_with(&e, &so);
    cio_addr a;
    EXPECT_OK(cio_http_server_addr(e.srv, &a));
    char url[128];
    snprintf(url, sizeof url, "wss://localhost:%u/ws", cio_addr_port(&a));
    cio_http_client *c;
    cio_http_client_options co = CIO_HTTP_CLIENT_OPTIONS(.tls = ccfg, .no_env_proxy = true);
    EXPECT_OK(cio_http_client_new(&co, &c));
    cio_ws *ws = NULL;
    EXPECT_OK(cio_ws_connect(c, url, NULL, &ws));
    EXPECT_TRUE(cio_ws_is_deflate(ws));
    char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 23);
    EXPECT_OK(cio_ws_send(ws, CIO_WS_TEXT, big, sizeof big));
    expect_msg(ws, CIO_WS_TEXT, big, sizeof big);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    EXPECT_OK(cio_event_wait(e.sv.done));
    EXPECT_EQ(1000, e.sv.close_code);
    /* Without a client: the system's trust store does not know the test
     * CA, so the handshake fails (and leaves nothing open). */
    ws = (cio_ws *)1;
    EXPECT_TRUE(cio_ws_connect(NULL, url, NULL, &ws) < 0);
    EXPECT_TRUE(ws == NULL);
    EXPECT_OK(cio_http_client_free(c));
    env_stop(&e);
    cio_tls_config_free(scfg);
    cio_tls_config_free(ccfg);
    return 0;
}

TEST(ws_wss)
{
    tls_make_certs();
    RUN(wss_main, NULL);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
