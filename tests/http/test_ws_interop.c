/* WebSocket interop (include/cio/ws.h) against Debian's python3-websockets
 * 10.4, both ways, with the peers of tests/http/ws_peer/ started by the test
 * on loopback (cio_process, their output read through a pipe):
 *
 * - python as the SERVER (ws_peer/server.py) and cio_ws_connect as the
 *   client (cases client_*);
 * - python as the CLIENT (ws_peer/client.py) against a cio HTTP server whose
 *   route /ws calls cio_ws_accept (cases server_*);
 *
 * each for text and binary of 0, 1, 125, 126, 65535, 65536 and 1 MiB bytes,
 * fragmentation (python's async-iterator sends, cio_ws_send_fragment),
 * ping/pong and the keep-alive, the close handshake with codes and reasons
 * started by either side, UTF-8 (multi-byte characters split across
 * fragments; invalid text closes with 1007), the message size limit (1009,
 * also after inflating), permessage-deflate on and off (cio_ws_is_deflate),
 * subprotocols, wss:// (certificates from tests/net/tls-certs.sh; the
 * client through a cio_http_client's TLS configuration). Then what
 * python3-websockets never sends: malformed frames from a raw socket to the
 * cio server (server_raw_*, with permessage-deflate by hand too), and from a
 * raw python server to the cio client (ws_peer/raw_server.py:
 * client_bad_frames, client_bad_handshakes, client_keepalive_timeout), each
 * closing with the code RFC 6455 asks for, read from the close frame cio
 * sends; and handshakes the server refuses (server_handshake_refusals).
 *
 * Python decides nothing by timing: each peer runs the list of actions the
 * case gives it (ws_peer/actions.py) and prints "ok" when all passed. Exits
 * 77 (skip) when python3 or its websockets module is missing. */
#include <sys/stat.h>

#include <cio/ws.h>

#include "http/http_util.h"
#include "http/peer_util.h"

/* The python3 that has websockets, and the directory of the peer scripts. */
static const char *py;
static char peer_dir[4096];

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                            \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                                      \
    } while (0)

/* A case whose body runs in a task (strict reports, a 200 s bound against
 * hangs only), with no descriptor left behind. */
#define WS_TEST(name)                                                                             \
    static void name##_body(void);                                                                \
    static int name##_task(void *arg, void **res)                                                 \
    {                                                                                             \
        (void)arg;                                                                                \
        (void)res;                                                                                \
        strict_reports();                                                                         \
        cio_scope sc;                                                                             \
        EXPECT_OK(cio_timeout_begin(&sc, 200));                                                   \
        name##_body();                                                                            \
        EXPECT_OK(cio_scope_end(&sc));                                                            \
        return 0;                                                                                 \
    }                                                                                             \
    TEST_T(name, 240) { RUN(name##_task, NULL); }                                                 \
    static void name##_body(void)

#define NSIZES 7
static const size_t sizes[NSIZES] = {0, 1, 125, 126, 65535, 65536, 1u << 20};

/* The peers' pattern (ws_peer/actions.py): printable ASCII, so text too. */
static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n + 1);
    if (!p)
        FAIL("malloc");
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 31 + i / 251) % 95 + 32);
    p[n] = 0;
    return p;
}

/* ---- Frames written by hand ---------------------------------------------------- */

/* One frame into out (room for len + 14): fin, rsv (3 bits: 4 is RSV1),
 * opcode, masked with a fixed key when mask. */
static size_t frame(uint8_t *out, bool fin, unsigned rsv, unsigned op, bool mask,
                    const void *data, size_t len)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t i = 0;
    out[i++] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 7) << 4 | (op & 15));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[i++] = (uint8_t)(m | len);
    } else if (len < 65536) {
        out[i++] = m | 126;
        out[i++] = (uint8_t)(len >> 8);
        out[i++] = (uint8_t)len;
    } else {
        out[i++] = m | 127;
        for (int k = 7; k >= 0; k--)
            out[i++] = (uint8_t)((uint64_t)len >> (8 * k));
    }
    if (mask) {
        memcpy(out + i, key, 4);
        i += 4;
    }
    const uint8_t *d = data;
    for (size_t j = 0; j < len; j++)
        out[i + j] = (uint8_t)(d[j] ^ (mask ? key[j % 4] : 0));
    return i + len;
}

/* A frame of a raw case: data NULL means len bytes of 'x'; otherwise len 0
 * means strlen(data). */
struct rf {
    bool fin;
    unsigned rsv, op;
    const char *data;
    size_t len;
    bool flip_mask; /* masked from a server, unmasked from a client */
};

/* A malformed (or valid) sequence and what the receiving cio side must do:
 * the close code it sends and what its cio_ws_recv returns. */
struct rcase {
    const char *name;
    struct rf f[3];
    int code;
    int rc;
};

/* The frames of c, as a client (mask) or a server sends them; *len set. */
static uint8_t *rcase_bytes(const struct rcase *c, bool client, size_t *len)
{
    size_t cap = 64;
    for (int i = 0; i < 3; i++)
        cap += (c->f[i].data ? strlen(c->f[i].data) : 0) + c->f[i].len + 14;
    uint8_t *out = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        const struct rf *f = &c->f[i];
        if (!f->op && !f->fin && !f->data && !f->len)
            break;
        size_t fl = f->data ? (f->len ? f->len : strlen(f->data)) : f->len;
        char *fill = NULL;
        const void *d = f->data;
        if (!d) {
            fill = malloc(fl + 1);
            memset(fill, 'x', fl);
            d = fill;
        }
        n += frame(out + n, f->fin, f->rsv, f->op, client != f->flip_mask, d, fl);
        free(fill);
    }
    *len = n;
    return out;
}

static char *hex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[2 * n] = 0;
    return s;
}

/* Frames that break RFC 6455 from either side, and the code the other side
 * must close with. rc is cio_ws_recv's on the receiving side. A
 * "flip_mask" frame is sent unmasked by a client, masked by a server. */
#define F(fin_, rsv_, op_, ...) {.fin = (fin_), .rsv = (rsv_), .op = (op_), .data = __VA_ARGS__}
static const struct rcase bad_frames[] = {
    {"wrong masking", {F(true, 0, 1, "hi", 0, true)}, 1002, -EPROTO},
    {"RSV1 without an extension", {F(true, 4, 1, "hi")}, 1002, -EPROTO},
    {"RSV2", {F(true, 2, 2, "hi")}, 1002, -EPROTO},
    {"RSV3", {F(true, 1, 1, "hi")}, 1002, -EPROTO},
    {"RSV1 on a ping", {F(true, 4, 9, "p")}, 1002, -EPROTO},
    {"opcode 3", {F(true, 0, 3, "hi")}, 1002, -EPROTO},
    {"opcode 0xB", {F(true, 0, 11, "hi")}, 1002, -EPROTO},
    {"ping of 126 bytes", {F(true, 0, 9, NULL, 126)}, 1002, -EPROTO},
    {"close of 126 bytes", {F(true, 0, 8, NULL, 126)}, 1002, -EPROTO},
    {"fragmented ping", {F(false, 0, 9, "p"), F(true, 0, 0, "q")}, 1002, -EPROTO},
    {"continuation without a start", {F(true, 0, 0, "hi")}, 1002, -EPROTO},
    {"a new message inside a fragmented one", {F(false, 0, 1, "a"), F(true, 0, 2, "b")}, 1002,
     -EPROTO},
    {"close code 999", {F(true, 0, 8, "\x03\xe7")}, 1002, -EPROTO},
    {"close code 1004", {F(true, 0, 8, "\x03\xec")}, 1002, -EPROTO},
    {"close code 1005", {F(true, 0, 8, "\x03\xed")}, 1002, -EPROTO},
    {"close code 1006", {F(true, 0, 8, "\x03\xee")}, 1002, -EPROTO},
    {"close code 1015", {F(true, 0, 8, "\x03\xf7")}, 1002, -EPROTO},
    {"close code 5000", {F(true, 0, 8, "\x13\x88")}, 1002, -EPROTO},
    {"close with a 1-byte payload", {F(true, 0, 8, "\x03")}, 1002, -EPROTO},
    {"invalid UTF-8 text", {F(true, 0, 1, "\xc3\x28")}, 1007, -EILSEQ},
    {"a surrogate in text", {F(true, 0, 1, "a\xed\xa0\x80")}, 1007, -EILSEQ},
    {"an overlong encoding in text", {F(true, 0, 1, "\xc0\xaf")}, 1007, -EILSEQ},
    {"text ending inside a character", {F(true, 0, 1, "ok\xe2\x82")}, 1007, -EILSEQ},
    {"invalid UTF-8 before the message ends", {F(false, 0, 1, "ab\xff")}, 1007, -EILSEQ},
    {"invalid UTF-8 in a close reason", {F(true, 0, 8, "\x03\xe8\xc3\x28")}, 1007, -EILSEQ},
};
#define NBAD (sizeof bad_frames / sizeof bad_frames[0])

/* ---- Peers ---------------------------------------------------------------------- */

static const char *const *argv_join(const char **buf, size_t cap, const char *script,
                                    const char *const *a, const char *mid,
                                    const char *const *b)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", peer_dir, script);
    size_t n = 0;
    buf[n++] = py;
    buf[n++] = path;
    for (; a && *a && n + 2 < cap; a++)
        buf[n++] = *a;
    if (mid)
        buf[n++] = mid;
    for (; b && *b && n + 1 < cap; b++)
        buf[n++] = *b;
    buf[n] = NULL;
    return buf;
}

/* Whether out's last line is "ok". */
static bool said_ok(const char *out)
{
    size_t n = strlen(out);
    return n >= 3 && strcmp(out + n - 3, "ok\n") == 0 && (n == 3 || out[n - 4] == '\n');
}

/* Starts a peer script that listens (server.py, raw_server.py) and reads
 * the port it printed. */
static cio_process *listener_start(const char *script, const char *const *opts,
                                   const char *const *acts, uint16_t *port)
{
    const char *argv[128];
    argv_join(argv, 128, script, opts, NULL, acts);
    cio_process_options o = CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_DEVNULL,
                                                .stdout_mode = CIO_PROCESS_PIPE,
                                                .stderr_mode = CIO_PROCESS_STDOUT,
                                                .search_path = true);
    cio_process *p = NULL;
    EXPECT_OK(cio_process_new(argv, &o, &p));
    char line[512];
    ssize_t n = cio_stream_read_line(cio_process_stdout(p), line, sizeof line - 1);
    if (n <= 0 || strncmp(line, "PORT ", 5) != 0) {
        line[n > 0 ? n : 0] = 0;
        void *rest = NULL;
        size_t len = 0;
        cio_stream_read_all(cio_process_stdout(p), 1 << 20, &rest, &len);
        FAIL("%s did not start: %s%s", script, line, rest ? (char *)rest : "");
    }
    line[n] = 0;
    *port = (uint16_t)atoi(line + 5);
    return p;
}

/* Reads the rest of the peer's output, reaps it and frees it; returns the
 * output (malloc'd). Fails the case if it exited with an error. */
static char *listener_end(cio_process *p, const char *script)
{
    void *out = NULL;
    size_t len = 0;
    EXPECT_OK(cio_stream_read_all(cio_process_stdout(p), 1 << 20, &out, &len));
    int st = -1;
    EXPECT_OK(cio_process_wait(p, &st));
    EXPECT_OK(cio_process_free(p));
    if (st != 0 || !said_ok(out))
        FAIL("%s exited %d:\n%s", script, st, (char *)out);
    return out;
}

/* server.py with opts and actions: the URL to connect to. */
static cio_process *pyserver(const char *const *opts, const char *const *acts, char *url,
                             size_t len)
{
    uint16_t port;
    cio_process *p = listener_start("server.py", opts, acts, &port);
    snprintf(url, len, "ws://127.0.0.1:%u/chat?room=1", port);
    return p;
}

static void pyserver_end(cio_process *p)
{
    free(listener_end(p, "server.py"));
}

/* Runs client.py with opts, url and actions to its end; fails the case
 * unless it says "ok". */
static void pyclient(const char *url, const char *const *opts, const char *const *acts)
{
    const char *argv[128];
    argv_join(argv, 128, "client.py", opts, url, acts);
    cio_process_options o = CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_DEVNULL,
                                                .stderr_mode = CIO_PROCESS_STDOUT,
                                                .search_path = true);
    cio_process_result r;
    EXPECT_OK(cio_process_run(argv, &o, NULL, 0, 1 << 20, &r));
    if (r.status != 0 || !r.out || !said_ok(r.out))
        FAIL("client.py exited %d:\n%s", r.status, r.out ? r.out : "");
    cio_process_result_free(&r);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const *)NULL)

/* ---- The cio server ------------------------------------------------------------- */

/* What the route /ws does, and what it saw. */
struct scase {
    cio_ws_options opts; /* size 0: NULL options */
    /* results, per connection (reset by the case) */
    int done, accept_rc, recv_rc, send_rc, after_close_rc, close_rc, cmd_rc, cmd_rc2;
    bool upgrade, deflate, closing;
    char protocol[64];
    int close_code;
    char reason[128];
    int pings, pongs;
    char ping_data[128];
    size_t msgs;
    cio_addr peer;
};

static void scase_reset(struct scase *c)
{
    cio_ws_options o = c->opts;
    memset(c, 0, sizeof *c);
    c->opts = o;
    c->accept_rc = c->recv_rc = c->close_rc = c->cmd_rc = c->cmd_rc2 = 1;
}

/* "!frag": a text and a binary message sent as fragments (a character of
 * three bytes split across two), and a fragment whose type differs from
 * its message's (-EINVAL, in cmd_rc). */
static int send_fragments(cio_ws *ws, struct scase *c)
{
    int rc = cio_ws_send_fragment(ws, CIO_WS_TEXT, "ab", 2, false);
    if (!rc && c)
        c->cmd_rc = cio_ws_send_fragment(ws, CIO_WS_BINARY, "x", 1, false);
    if (!rc)
        rc = cio_ws_send_fragment(ws, CIO_WS_TEXT, "c\xe2\x82", 3, false);
    if (!rc)
        rc = cio_ws_send_fragment(ws, CIO_WS_TEXT, "\xac!", 2, true);
    uint8_t *p = pattern(70001);
    if (!rc)
        rc = cio_ws_send_fragment(ws, CIO_WS_BINARY, p, 0, false);
    if (!rc)
        rc = cio_ws_send_fragment(ws, CIO_WS_BINARY, p, 70000, false);
    if (!rc)
        rc = cio_ws_send_fragment(ws, CIO_WS_BINARY, p + 70000, 1, true);
    free(p);
    return rc;
}

/* A text message starting with "!" is a command to the session:
 * "!close CODE [REASON]", "!frag", "!ping". Returns true when the session
 * ends. */
static bool command(cio_ws *ws, struct scase *c, const char *cmd)
{
    if (strncmp(cmd, "!close ", 7) == 0) {
        char *end;
        int code = (int)strtol(cmd + 7, &end, 10);
        c->close_rc = cio_ws_close(ws, code, *end == ' ' ? end + 1 : NULL);
        c->closing = cio_ws_is_closing(ws);
        c->after_close_rc = cio_ws_send_text(ws, "late");
        return true;
    }
    if (strcmp(cmd, "!frag") == 0) {
        c->send_rc = send_fragments(ws, c);
        return c->send_rc != 0;
    }
    if (strcmp(cmd, "!ping") == 0) {
        char big[126];
        memset(big, 'p', sizeof big);
        c->cmd_rc2 = cio_ws_ping(ws, big, sizeof big);
        c->cmd_rc = cio_ws_ping(ws, "srv-ping", 8);
        return false;
    }
    FAIL("unknown command %s", cmd);
}

/* The session: echoes messages (commands aside), records pings, pongs
 * (answering a pong with "pong:DATA") and the peer's close, until an error
 * or the close. */
static void session(cio_ws *ws, struct scase *c)
{
    for (;;) {
        cio_ws_message m;
        int rc = cio_ws_recv(ws, &m);
        if (rc) {
            c->recv_rc = rc;
            c->closing = cio_ws_is_closing(ws);
            return;
        }
        EXPECT_TRUE(m.data != NULL);
        EXPECT_EQ(0, ((const char *)m.data)[m.len]);
        switch (m.type) {
        case CIO_WS_TEXT:
            if (m.len && ((const char *)m.data)[0] == '!') {
                if (command(ws, c, m.data))
                    return;
                break;
            }
            /* fallthrough */
        case CIO_WS_BINARY:
            c->msgs++;
            rc = cio_ws_send(ws, m.type, m.data, m.len);
            if (rc) {
                c->send_rc = rc;
                return;
            }
            break;
        case CIO_WS_PING:
            c->pings++;
            snprintf(c->ping_data, sizeof c->ping_data, "%.*s", (int)m.len, (const char *)m.data);
            break;
        case CIO_WS_PONG: {
            c->pongs++;
            char text[160];
            snprintf(text, sizeof text, "pong:%.*s", (int)m.len, (const char *)m.data);
            rc = cio_ws_send_text(ws, text);
            if (rc) {
                c->send_rc = rc;
                return;
            }
            break;
        }
        case CIO_WS_CLOSE:
            c->close_code = m.code;
            snprintf(c->reason, sizeof c->reason, "%.*s", (int)m.len, (const char *)m.data);
            c->closing = cio_ws_is_closing(ws);
            c->after_close_rc = cio_ws_recv(ws, &m);
            c->close_rc = cio_ws_close(ws, 1000, NULL);
            c->send_rc = cio_ws_send_text(ws, "late");
            return;
        default:
            FAIL("cio_ws_recv returned type %d", (int)m.type);
        }
    }
}

static int ws_route(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct scase *c = arg;
    c->upgrade = cio_ws_is_upgrade(req);
    cio_ws *ws = NULL;
    c->accept_rc = cio_ws_accept(req, res, c->opts.size ? &c->opts : NULL, &ws);
    if (c->accept_rc == 0) {
        c->deflate = cio_ws_is_deflate(ws);
        const char *p = cio_ws_protocol(ws);
        snprintf(c->protocol, sizeof c->protocol, "%s", p ? p : "-");
        EXPECT_OK(cio_ws_peer(ws, &c->peer));
        EXPECT_FALSE(cio_ws_is_closing(ws));
        session(ws, c);
        cio_ws_free(ws);
    } else {
        EXPECT_TRUE(ws == NULL);
    }
    c->done++;
    return 0;
}

struct wsrv {
    cio_http_app *app;
    cio_http_server *srv;
    cio_addr addr;
    char url[128];
};

/* Starts the server (HTTPS with tls, then the URL is wss://). */
static void wsrv_start_tls(struct wsrv *w, struct scase *c, cio_tls_config *tls)
{
    EXPECT_OK(cio_http_app_new(&w->app));
    EXPECT_OK(cio_http_app_route(w->app, NULL, "/ws", ws_route, c));
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(.tls = tls);
    w->srv = http_start(w->app, &o);
    EXPECT_OK(cio_http_server_addr(w->srv, &w->addr));
    snprintf(w->url, sizeof w->url, "%s://127.0.0.1:%u/ws", tls ? "wss" : "ws",
             cio_addr_port(&w->addr));
    scase_reset(c);
}

static void wsrv_start(struct wsrv *w, struct scase *c)
{
    wsrv_start_tls(w, c, NULL);
}

/* Waits until the route has ended `sessions` connections, then closes the
 * server. */
static void wsrv_stop(struct wsrv *w, struct scase *c, int sessions)
{
    WAIT_UNTIL(c->done >= sessions);
    EXPECT_OK(cio_http_server_close(w->srv, 5));
    cio_http_app_free(w->app);
}

/* One python client run against a new cio server with options o; c gets
 * what the route saw. */
static void against_python(struct scase *c, const cio_ws_options *o, const char *const *pyopts,
                           const char *const *acts)
{
    memset(c, 0, sizeof *c);
    if (o)
        c->opts = *o;
    struct wsrv w;
    wsrv_start(&w, c);
    pyclient(w.url, pyopts, acts);
    wsrv_stop(&w, c, 1);
    EXPECT_OK(c->accept_rc);
    EXPECT_TRUE(c->upgrade);
    EXPECT_EQ(AF_INET, cio_addr_family(&c->peer));
}

/* ---- The cio client's helpers ---------------------------------------------------- */

static cio_ws *connect_ok(const char *url, const cio_ws_options *o)
{
    cio_ws *ws = NULL;
    EXPECT_OK(cio_ws_connect(NULL, url, o, &ws));
    EXPECT_TRUE(ws != NULL);
    EXPECT_FALSE(cio_ws_is_closing(ws));
    cio_addr a;
    EXPECT_OK(cio_ws_peer(ws, &a));
    EXPECT_EQ(AF_INET, cio_addr_family(&a));
    return ws;
}

static void expect_msg(cio_ws *ws, cio_ws_type type, const void *data, size_t len)
{
    cio_ws_message m;
    memset(&m, 0, sizeof m);
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(type, m.type);
    EXPECT_EQ(len, m.len);
    EXPECT_TRUE(m.data != NULL);
    if (len && memcmp(m.data, data, len) != 0)
        FAIL("message of %zu bytes differs (type %d)", len, (int)type);
    EXPECT_EQ(0, ((const char *)m.data)[len]);
}

static void expect_text(cio_ws *ws, const char *text)
{
    expect_msg(ws, CIO_WS_TEXT, text, strlen(text));
}

static void expect_close(cio_ws *ws, int code, const char *reason)
{
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(CIO_WS_CLOSE, m.type);
    EXPECT_EQ(code, m.code);
    EXPECT_EQ(strlen(reason), m.len);
    EXPECT_TRUE(memcmp(m.data, reason, m.len) == 0);
    EXPECT_TRUE(cio_ws_is_closing(ws));
    /* Returned once; then nothing more comes, and nothing may be sent. */
    EXPECT_ERR(-EPIPE, cio_ws_recv(ws, &m));
    EXPECT_ERR(-EPIPE, cio_ws_send_text(ws, "late"));
    EXPECT_ERR(-EALREADY, cio_ws_close(ws, 1000, NULL));
}

/* Every size, text and binary: sent by cio, echoed by the peer. */
static void echo_sizes(cio_ws *ws)
{
    for (int t = 0; t < 2; t++) {
        cio_ws_type type = t ? CIO_WS_BINARY : CIO_WS_TEXT;
        for (size_t i = 0; i < NSIZES; i++) {
            uint8_t *p = pattern(sizes[i]);
            EXPECT_OK(cio_ws_send(ws, type, p, sizes[i]));
            expect_msg(ws, type, p, sizes[i]);
            free(p);
        }
    }
    /* A megabyte of zeros deflates to almost nothing (when on). */
    uint8_t *z = calloc(1, 1u << 20);
    EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, z, 1u << 20));
    expect_msg(ws, CIO_WS_BINARY, z, 1u << 20);
    free(z);
    EXPECT_OK(cio_ws_send_text(ws, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
    expect_text(ws, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
}

/* ================================================================================= */
/* python3-websockets as the server, cio_ws_connect as the client                    */
/* ================================================================================= */

WS_TEST(client_echo_sizes_deflate)
{
    char url[128];
    cio_process *p = pyserver(NONE, ARGS("deflate:1", "subprotocol:-", "echo", "closed:1000:done"),
                              url, sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    EXPECT_TRUE(cio_ws_is_deflate(ws));
    EXPECT_TRUE(cio_ws_protocol(ws) == NULL);
    echo_sizes(ws);
    EXPECT_OK(cio_ws_close(ws, 1000, "done"));
    EXPECT_TRUE(cio_ws_is_closing(ws));
    cio_ws_free(ws);
    pyserver_end(p);
}

WS_TEST(client_echo_sizes_plain)
{
    /* python without compression */
    char url[128];
    cio_process *p = pyserver(ARGS("--no-compression"),
                              ARGS("deflate:0", "echo", "closed:1000:done"), url, sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    EXPECT_FALSE(cio_ws_is_deflate(ws));
    echo_sizes(ws);
    EXPECT_OK(cio_ws_close(ws, 1000, "done"));
    cio_ws_free(ws);
    pyserver_end(p);
    /* cio without permessage-deflate, python with */
    p = pyserver(NONE, ARGS("deflate:0", "echo", "closed:1000"), url, sizeof url);
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = true);
    ws = connect_ok(url, &o);
    EXPECT_FALSE(cio_ws_is_deflate(ws));
    uint8_t *big = pattern(70000);
    EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, big, 70000));
    expect_msg(ws, CIO_WS_BINARY, big, 70000);
    free(big);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

/* Python sends fragmented messages (websockets' send of an async iterator:
 * compressed as one message when deflate is on), cio reassembles them; cio
 * sends with cio_ws_send_fragment, python reassembles and echoes them. */
static void client_fragments_run(bool deflate)
{
    char url[128];
    cio_process *p = pyserver(deflate ? NONE : ARGS("--no-compression"),
                              ARGS("frag:t:3,0,70000", "frag:b:0,1,65536,2",
                                   "fragtext:H\xc3\xa9|llo \xe2\x82\xac|!", "echo:2",
                                   "closed:1000"),
                              url, sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    EXPECT_EQ(deflate, cio_ws_is_deflate(ws));
    uint8_t *t = pattern(70003), *b = pattern(65539);
    expect_msg(ws, CIO_WS_TEXT, t, 70003);
    expect_msg(ws, CIO_WS_BINARY, b, 65539);
    free(t);
    free(b);
    expect_text(ws, "H\xc3\xa9llo \xe2\x82\xac!");
    struct scase c;
    memset(&c, 0, sizeof c);
    EXPECT_OK(send_fragments(ws, &c));
    EXPECT_ERR(-EINVAL, c.cmd_rc); /* a binary fragment inside a text message */
    expect_text(ws, "abc\xe2\x82\xac!");
    b = pattern(70001);
    expect_msg(ws, CIO_WS_BINARY, b, 70001);
    free(b);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

WS_TEST(client_fragments)
{
    client_fragments_run(true);
    client_fragments_run(false);
}

WS_TEST(client_ping_pong)
{
    char hex125[251];
    memset(hex125, 0, sizeof hex125);
    for (int i = 0; i < 125; i++)
        memcpy(hex125 + 2 * i, "61", 2);
    char ping125[300];
    snprintf(ping125, sizeof ping125, "ping:%s", hex125);
    /* With report_control: cio sees python's pings (already answered:
     * python's ping waits for its pong), and the pong of its own. */
    char url[128];
    cio_process *p = pyserver(
        ARGS("--no-compression"),
        ARGS("ping:66726f6d2d7079", "ping:", ping125, "sendtext:pings-done", "echo:1", "closed:1000"),
        url, sizeof url);
    cio_ws_options o = CIO_WS_OPTIONS(.report_control = true);
    cio_ws *ws = connect_ok(url, &o);
    expect_msg(ws, CIO_WS_PING, "from-py", 7);
    expect_msg(ws, CIO_WS_PING, "", 0);
    char a125[125];
    memset(a125, 'a', sizeof a125);
    expect_msg(ws, CIO_WS_PING, a125, 125);
    expect_text(ws, "pings-done");
    char big[126];
    memset(big, 'b', sizeof big);
    EXPECT_ERR(-EMSGSIZE, cio_ws_ping(ws, big, sizeof big));
    EXPECT_OK(cio_ws_ping(ws, "from-cio", 8));
    expect_msg(ws, CIO_WS_PONG, "from-cio", 8);
    EXPECT_OK(cio_ws_ping(ws, NULL, 0));
    expect_msg(ws, CIO_WS_PONG, "", 0);
    EXPECT_OK(cio_ws_send_text(ws, "x"));
    expect_text(ws, "x");
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
    /* Without: the pings are answered on the way, never returned. */
    p = pyserver(NONE, ARGS("ping:01", "ping:", "sendtext:after", "closed:1000"), url, sizeof url);
    ws = connect_ok(url, NULL);
    expect_text(ws, "after");
    EXPECT_OK(cio_ws_ping(ws, "x", 1));
    EXPECT_OK(cio_ws_close(ws, 1000, NULL)); /* the pong is dropped on the way */
    cio_ws_free(ws);
    pyserver_end(p);
}

WS_TEST(client_close_by_cio)
{
    char reason123[124];
    memset(reason123, 'r', 123);
    reason123[123] = 0;
    char closed123[160];
    snprintf(closed123, sizeof closed123, "closed:3000:%s", reason123);
    struct {
        int code;
        const char *reason, *expect;
    } cases[] = {
        {4001, "bye \xc3\xbc", "closed:4001:bye \xc3\xbc"},
        {1000, NULL, "closed:1000"},
        {1001, "", "closed:1001"},
        {0, NULL, "closed:1005"}, /* no code sent */
        {3000, reason123, closed123},
        {1011, "internal", "closed:1011:internal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[128];
        cio_process *p = pyserver(NONE, ARGS("echo", cases[i].expect), url, sizeof url);
        cio_ws *ws = connect_ok(url, NULL);
        if (i == 0) { /* the arguments cio_ws_close refuses, before the real one */
            static const int bad[] = {-1, 999, 1004, 1005, 1006, 1015, 5000};
            for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
                EXPECT_ERR(-EINVAL, cio_ws_close(ws, bad[k], NULL));
            char long_reason[125];
            memset(long_reason, 'x', 124);
            long_reason[124] = 0;
            EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1000, long_reason));
            EXPECT_ERR(-EINVAL, cio_ws_close(ws, 1000, "\xc3\x28"));
            EXPECT_ERR(-EINVAL, cio_ws_close(NULL, 1000, NULL));
            EXPECT_FALSE(cio_ws_is_closing(ws));
            EXPECT_OK(cio_ws_send_text(ws, "still open"));
            expect_text(ws, "still open");
        }
        EXPECT_OK(cio_ws_close(ws, cases[i].code, cases[i].reason));
        EXPECT_TRUE(cio_ws_is_closing(ws));
        EXPECT_ERR(-EALREADY, cio_ws_close(ws, 1000, NULL));
        EXPECT_ERR(-EPIPE, cio_ws_send_text(ws, "late"));
        EXPECT_ERR(-EPIPE, cio_ws_send_fragment(ws, CIO_WS_TEXT, "a", 1, true));
        EXPECT_ERR(-EPIPE, cio_ws_ping(ws, "a", 1));
        cio_ws_free(ws);
        pyserver_end(p);
    }
}

WS_TEST(client_close_by_python)
{
    char url[128];
    cio_process *p = pyserver(NONE, ARGS("sendtext:first", "close:4002:bye py \xe2\x82\xac"), url,
                              sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    expect_text(ws, "first");
    expect_close(ws, 4002, "bye py \xe2\x82\xac");
    cio_ws_free(ws);
    pyserver_end(p);
    /* A close frame without a code: CIO_WS_NO_STATUS, no reason. */
    p = pyserver(NONE, ARGS("closeraw:"), url, sizeof url);
    ws = connect_ok(url, NULL);
    expect_close(ws, CIO_WS_NO_STATUS, "");
    cio_ws_free(ws);
    pyserver_end(p);
    p = pyserver(NONE, ARGS("close:1000:"), url, sizeof url);
    ws = connect_ok(url, NULL);
    expect_close(ws, 1000, "");
    cio_ws_free(ws);
    pyserver_end(p);
}

WS_TEST(client_utf8)
{
    char url[128];
    /* A character split across two fragments, then whole ones of 2, 3 and
     * 4 bytes, then invalid text: 1007. */
    cio_process *p = pyserver(
        ARGS("--no-compression"),
        ARGS("raw:0:1:e282", "raw:1:0:ac", "raw:0:1:f09f", "raw:0:0:98", "raw:1:0:80",
             "sendtext:\xc3\xbc\xe6\xbc\xa2\xf0\x9f\x98\x80", "raw:1:1:c328", "closed:1007"),
        url, sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    expect_text(ws, "\xe2\x82\xac");
    expect_text(ws, "\xf0\x9f\x98\x80");
    expect_text(ws, "\xc3\xbc\xe6\xbc\xa2\xf0\x9f\x98\x80");
    cio_ws_message m;
    EXPECT_ERR(-EILSEQ, cio_ws_recv(ws, &m));
    EXPECT_TRUE(cio_ws_is_closing(ws));
    cio_ws_free(ws);
    pyserver_end(p);
    /* Invalid text found before the message ends (validated as it comes):
     * the final fragment is never sent. */
    p = pyserver(ARGS("--no-compression"), ARGS("raw:0:1:6869", "raw:0:0:eda080", "closed:1007"),
                 url, sizeof url);
    ws = connect_ok(url, NULL);
    EXPECT_ERR(-EILSEQ, cio_ws_recv(ws, &m));
    cio_ws_free(ws);
    pyserver_end(p);
}

WS_TEST(client_too_big)
{
    char url[128];
    cio_ws_options o = CIO_WS_OPTIONS(.max_message = 1000);
    cio_process *p = pyserver(NONE, ARGS("send:b:1000", "send:t:1000", "send:b:1001", "closed:1009"),
                              url, sizeof url);
    cio_ws *ws = connect_ok(url, &o);
    uint8_t *k = pattern(1000);
    expect_msg(ws, CIO_WS_BINARY, k, 1000);
    expect_msg(ws, CIO_WS_TEXT, k, 1000);
    free(k);
    cio_ws_message m;
    EXPECT_ERR(-EMSGSIZE, cio_ws_recv(ws, &m));
    cio_ws_free(ws);
    pyserver_end(p);
    /* In fragments each under the limit. */
    p = pyserver(NONE, ARGS("frag:b:600,600", "closed:1009"), url, sizeof url);
    ws = connect_ok(url, &o);
    EXPECT_ERR(-EMSGSIZE, cio_ws_recv(ws, &m));
    cio_ws_free(ws);
    pyserver_end(p);
    /* Deflated to a few bytes: the limit is on the inflated size. */
    p = pyserver(NONE, ARGS("deflate:1", "sendz:5000", "closed:1009"), url, sizeof url);
    ws = connect_ok(url, &o);
    EXPECT_TRUE(cio_ws_is_deflate(ws));
    EXPECT_ERR(-EMSGSIZE, cio_ws_recv(ws, &m));
    cio_ws_free(ws);
    pyserver_end(p);
}

WS_TEST(client_subprotocol)
{
    char url[128];
    cio_process *p = pyserver(ARGS("--subprotocols", "chat,other"),
                              ARGS("subprotocol:chat", "echo:1", "closed:1000"), url, sizeof url);
    cio_ws_options o = CIO_WS_OPTIONS(.protocols = "superchat, chat");
    cio_ws *ws = connect_ok(url, &o);
    EXPECT_STR_EQ("chat", cio_ws_protocol(ws));
    EXPECT_OK(cio_ws_send_text(ws, "hi"));
    expect_text(ws, "hi");
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
    /* The server speaks none of those: none agreed on. */
    p = pyserver(NONE, ARGS("subprotocol:-", "closed:1000"), url, sizeof url);
    ws = connect_ok(url, &o);
    EXPECT_TRUE(cio_ws_protocol(ws) == NULL);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
    /* cio offers none. */
    p = pyserver(ARGS("--subprotocols", "chat"), ARGS("subprotocol:-", "closed:1000"), url,
                 sizeof url);
    ws = connect_ok(url, NULL);
    EXPECT_TRUE(cio_ws_protocol(ws) == NULL);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

/* cio's keep-alive against python: pings when nothing comes, python's
 * pongs seen with report_control. Nothing here depends on time: the pong
 * comes eventually. */
WS_TEST(client_keepalive)
{
    char url[128];
    cio_process *p = pyserver(NONE, ARGS("closed:1000"), url, sizeof url);
    cio_ws_options o = CIO_WS_OPTIONS(.ping_interval = 0.02, .report_control = true);
    cio_ws *ws = connect_ok(url, &o);
    cio_ws_message m;
    EXPECT_OK(cio_ws_recv(ws, &m));
    EXPECT_EQ(CIO_WS_PONG, m.type);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

/* Several tasks send at once, whole messages and fragmented ones: python
 * (which parses every frame) echoes them, and each comes back whole and
 * unmixed: sends are serialized, a fragmented message holds the others
 * back until its last fragment. */
struct sender {
    cio_ws *ws;
    int id;
    int rc;
};

static int sender_task(void *arg, void **res)
{
    (void)res;
    struct sender *sd = arg;
    uint8_t *buf = malloc(70000);
    memset(buf, 'a' + sd->id, 70000);
    for (int i = 0; i < 5 && !sd->rc; i++) {
        if (sd->id % 2 == 0) {
            sd->rc = cio_ws_send(sd->ws, CIO_WS_BINARY, buf, 70000);
        } else {
            for (int k = 0; k < 7 && !sd->rc; k++) /* 7 fragments of 10000 */
                sd->rc = cio_ws_send_fragment(sd->ws, CIO_WS_BINARY, buf + 10000 * k, 10000,
                                              k == 6);
        }
    }
    free(buf);
    return 0;
}

WS_TEST(client_concurrent_senders)
{
    char url[128];
    cio_process *p = pyserver(NONE, ARGS("echo", "closed:1000"), url, sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    struct sender sd[4];
    cio_task *t[4];
    for (int i = 0; i < 4; i++) {
        sd[i] = (struct sender){ws, i, 0};
        EXPECT_OK(cio_spawn(sender_task, &sd[i], &t[i]));
    }
    int count[4] = {0};
    for (int n = 0; n < 20; n++) {
        cio_ws_message m;
        EXPECT_OK(cio_ws_recv(ws, &m));
        EXPECT_EQ(CIO_WS_BINARY, m.type);
        EXPECT_EQ(70000, m.len);
        const uint8_t *d = m.data;
        int id = d[0] - 'a';
        EXPECT_TRUE(id >= 0 && id < 4);
        for (size_t k = 0; k < m.len; k++)
            if (d[k] != d[0])
                FAIL("message %d mixes senders %c and %c at byte %zu", n, d[0], d[k], k);
        count[id]++;
    }
    for (int i = 0; i < 4; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
        EXPECT_OK(sd[i].rc);
        EXPECT_EQ(5, count[i]);
    }
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

/* A random block repeated: deflate finds its repeats len bytes back, past
 * a 1 KiB window (xorshift, seeded). */
static uint8_t *repeated(size_t len, int times, uint32_t seed)
{
    uint8_t *p = malloc(len * (size_t)times);
    uint32_t x = seed;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    for (int k = 1; k < times; k++)
        memcpy(p + len * (size_t)k, p, len);
    return p;
}

/* permessage-deflate with parameters (RFC 7692 7.1): python's server asks
 * for 10-bit windows both ways and no context takeover; cio must deflate
 * within 1 KiB and start every message afresh, or python's inflater fails
 * (a distance too far back, a reference into the previous message). */
WS_TEST(client_deflate_parameters)
{
    char url[128];
    cio_process *p = pyserver(
        ARGS("--deflate", "server_max_window_bits=10,client_max_window_bits=10,"
                          "server_no_context_takeover,client_no_context_takeover"),
        ARGS("deflate:1", "echo", "closed:1000"), url, sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    EXPECT_TRUE(cio_ws_is_deflate(ws));
    uint8_t *d = repeated(3000, 20, 12345);
    for (int i = 0; i < 3; i++) { /* the same message again: no reference back */
        EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, d, 60000));
        expect_msg(ws, CIO_WS_BINARY, d, 60000);
    }
    free(d);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

/* cio_ws_close with a code RFC 6455 leaves unassigned (1016-2999, for the
 * protocol's own future use): python3-websockets, and cio's own receiver
 * (close_code_ok in src/http/ws.c), fail the connection with 1002 on it,
 * so sending it can only break the close. The header allows
 * 1000..4999 but 1004-1006 and 1015 for cio_ws_close: this case expects
 * -EINVAL for the unassigned codes too. */
WS_TEST(client_close_code_the_peer_refuses)
{
    char url[128];
    cio_process *p = pyserver(NONE, ARGS("echo"), url, sizeof url);
    cio_ws *ws = connect_ok(url, NULL);
    static const int unassigned[] = {1016, 2000, 2999};
    for (size_t i = 0; i < 3; i++)
        if (cio_ws_close(ws, unassigned[i], NULL) != -EINVAL)
            FAIL("cio_ws_close accepted the unassigned code %d (python3-websockets and cio's "
                 "own receiver answer it with 1002)",
                 unassigned[i]);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

/* ---- A raw python server: frames websockets never sends -------------------------- */

/* Starts raw_server.py MODE HEX; the URL in url. */
static cio_process *rawserver(const char *mode, const char *hexdata, char *url, size_t len)
{
    uint16_t port;
    cio_process *p = listener_start("raw_server.py", ARGS(mode, hexdata), NONE, &port);
    snprintf(url, len, "ws://127.0.0.1:%u/raw", port);
    return p;
}

/* The client's handshake request as raw_server.py saw it. */
static void check_request(const char *out)
{
    static const char *const want[] = {
        "  GET /raw HTTP/1.1\n", "  Upgrade: websocket\n", "  Sec-WebSocket-Version: 13\n",
        "  Origin: http://origin.test\n", "  X-Test: yes\n", "  Sec-WebSocket-Protocol: chat\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strcasestr(out, want[i]))
            FAIL("the handshake request lacks \"%s\":\n%s", want[i], out);
    EXPECT_TRUE(strcasestr(out, "\n  Host: 127.0.0.1:") != NULL);
    EXPECT_TRUE(strcasestr(out, "\n  Connection: ") != NULL);
    EXPECT_TRUE(strcasestr(out, "\n  Sec-WebSocket-Extensions: permessage-deflate") != NULL);
    const char *key = strcasestr(out, "\n  Sec-WebSocket-Key: ");
    EXPECT_TRUE(key != NULL);
    key += strlen("\n  Sec-WebSocket-Key: ");
    EXPECT_EQ(24, (int)strcspn(key, "\n")); /* base64 of 16 bytes */
    EXPECT_EQ('=', key[23]);
    EXPECT_TRUE(key[22] == '=');
}

WS_TEST(client_bad_frames)
{
    cio_http_field hdr[] = {{"X-Test", "yes"}};
    for (size_t i = 0; i < NBAD; i++) {
        const struct rcase *c = &bad_frames[i];
        size_t n;
        uint8_t *bytes = rcase_bytes(c, false, &n);
        char *h = hex(bytes, n);
        free(bytes);
        char url[128];
        cio_process *p = rawserver("frame", h, url, sizeof url);
        free(h);
        cio_ws_options o = CIO_WS_OPTIONS(.origin = "http://origin.test", .headers = hdr,
                                          .nheaders = 1, .protocols = "chat");
        cio_ws *ws = NULL;
        EXPECT_OK(cio_ws_connect(NULL, url, &o, &ws));
        cio_ws_message m;
        int rc = cio_ws_recv(ws, &m);
        if (rc != c->rc)
            FAIL("%s: cio_ws_recv returned %s, not %s", c->name, cio_err_name(rc),
                 cio_err_name(c->rc));
        EXPECT_TRUE(cio_ws_is_closing(ws));
        cio_ws_free(ws);
        char *out = listener_end(p, "raw_server.py");
        char want[32];
        snprintf(want, sizeof want, "\nclose %d ", c->code);
        if (!strstr(out, want))
            FAIL("%s: the client did not close with %d:\n%s", c->name, c->code, out);
        if (strstr(out, "unmasked"))
            FAIL("%s: the client sent an unmasked frame:\n%s", c->name, out);
        if (i == 0)
            check_request(out);
        free(out);
    }
}

WS_TEST(client_bad_handshakes)
{
    static const char up[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\n";
    struct {
        const char *name, *answer;
        cio_ws_options o;
    } cases[] = {
        {"200", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno", CIO_WS_OPTIONS_INIT},
        {"426", "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
         CIO_WS_OPTIONS_INIT},
        {"a wrong accept value", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
         CIO_WS_OPTIONS_INIT},
        {"no accept value", "\r\n", CIO_WS_OPTIONS_INIT},
        {"no Upgrade",
         "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n",
         CIO_WS_OPTIONS_INIT},
        {"a subprotocol not offered", "Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: nope\r\n\r\n",
         CIO_WS_OPTIONS(.protocols = "chat")},
        {"a subprotocol when none was offered",
         "Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n\r\n", CIO_WS_OPTIONS_INIT},
        {"an extension not offered", "Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Extensions: x-foo\r\n\r\n",
         CIO_WS_OPTIONS_INIT},
        {"permessage-deflate with no_deflate",
         "Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
         CIO_WS_OPTIONS(.no_deflate = true)},
        {"the connection ends in the head", "HTTP/1.1 101 Switching", CIO_WS_OPTIONS_INIT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        if (strncmp(cases[i].answer, "HTTP/", 5) == 0)
            snprintf(text, sizeof text, "%s", cases[i].answer);
        else
            snprintf(text, sizeof text, "%s%s", up, cases[i].answer);
        char *h = hex((const uint8_t *)text, strlen(text));
        char url[128];
        cio_process *p = rawserver("answer", h, url, sizeof url);
        free(h);
        cio_ws *ws = (cio_ws *)1;
        int rc = cio_ws_connect(NULL, url, &cases[i].o, &ws);
        if (rc == -ECONNRESET && strncmp(cases[i].name, "the connection ends", 19) == 0)
            rc = -EPROTO; /* a truncated answer may read as either */
        if (rc != -EPROTO)
            FAIL("%s: cio_ws_connect returned %s, not -EPROTO", cases[i].name, cio_err_name(rc));
        EXPECT_TRUE(ws == NULL);
        free(listener_end(p, "raw_server.py"));
    }
    /* And a right one: the handshake's checks pass. */
    char text[256];
    snprintf(text, sizeof text, "%sSec-WebSocket-Accept: {ACCEPT}\r\n\r\n", up);
    char *h = hex((const uint8_t *)text, strlen(text));
    char url[128];
    cio_process *p = rawserver("answer", h, url, sizeof url);
    free(h);
    cio_ws *ws = connect_ok(url, NULL);
    EXPECT_FALSE(cio_ws_is_deflate(ws));
    cio_ws_free(ws);
    free(listener_end(p, "raw_server.py"));
}

/* A silent peer: nothing answers the keep-alive ping, so cio closes with
 * 1011 and cio_ws_recv says -ETIMEDOUT (eventually: the timeouts only
 * bound the wait). */
WS_TEST(client_keepalive_timeout)
{
    char url[128];
    cio_process *p = rawserver("frame", "", url, sizeof url);
    cio_ws_options o = CIO_WS_OPTIONS(.ping_interval = 0.02, .ping_timeout = 0.05);
    cio_ws *ws = connect_ok(url, &o);
    cio_ws_message m;
    EXPECT_ERR(-ETIMEDOUT, cio_ws_recv(ws, &m));
    EXPECT_TRUE(cio_ws_is_closing(ws));
    cio_ws_free(ws);
    char *out = listener_end(p, "raw_server.py");
    if (!strstr(out, "\nclose 1011 "))
        FAIL("the client did not close with 1011:\n%s", out);
    free(out);
    /* The same for a ping of cio_ws_ping, without a keep-alive. */
    p = rawserver("frame", "", url, sizeof url);
    o = CIO_WS_OPTIONS(.ping_timeout = 0.05);
    ws = connect_ok(url, &o);
    EXPECT_OK(cio_ws_ping(ws, "anyone?", 7));
    EXPECT_ERR(-ETIMEDOUT, cio_ws_recv(ws, &m));
    EXPECT_ERR(-EPIPE, cio_ws_send_text(ws, "late"));
    cio_ws_free(ws);
    out = listener_end(p, "raw_server.py");
    if (!strstr(out, "\nclose 1011 "))
        FAIL("the client did not close with 1011 after its own ping:\n%s", out);
    free(out);
}

/* ================================================================================= */
/* python3-websockets as the client, cio_ws_accept in a route of a cio server        */
/* ================================================================================= */

/* The actions sending every size and expecting each back. */
static const char *const *echo_actions(const char **buf, const char *first, const char *last)
{
    static char words[2 * 2 * NSIZES][32];
    size_t n = 0, w = 0;
    buf[n++] = first;
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < NSIZES; i++) {
            snprintf(words[w], 32, "send:%c:%zu", t ? 'b' : 't', sizes[i]);
            buf[n++] = words[w++];
            snprintf(words[w], 32, "expect:%c:%zu", t ? 'b' : 't', sizes[i]);
            buf[n++] = words[w++];
        }
    buf[n++] = "sendtext:h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
    buf[n++] = "expecttext:h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
    buf[n++] = last;
    buf[n] = NULL;
    return buf;
}

WS_TEST(server_echo_sizes_deflate)
{
    struct scase c;
    const char *acts[64];
    against_python(&c, NULL, NONE, echo_actions(acts, "deflate:1", "close:1000:bye"));
    EXPECT_TRUE(c.deflate);
    EXPECT_STR_EQ("-", c.protocol);
    EXPECT_EQ(2 * NSIZES + 1, c.msgs);
    EXPECT_EQ(1000, c.close_code);
    EXPECT_STR_EQ("bye", c.reason);
    EXPECT_TRUE(c.closing);
    EXPECT_ERR(-EPIPE, c.after_close_rc);
    EXPECT_ERR(-EALREADY, c.close_rc);
    EXPECT_ERR(-EPIPE, c.send_rc);
}

WS_TEST(server_echo_sizes_plain)
{
    struct scase c;
    const char *acts[64];
    against_python(&c, NULL, ARGS("--no-compression"),
                   echo_actions(acts, "deflate:0", "close:1000:bye"));
    EXPECT_FALSE(c.deflate);
    EXPECT_EQ(2 * NSIZES + 1, c.msgs);
    EXPECT_EQ(1000, c.close_code);
    /* The server refuses the offer. */
    cio_ws_options o = CIO_WS_OPTIONS(.no_deflate = true);
    against_python(&c, &o, NONE, ARGS("deflate:0", "send:b:70000", "expect:b:70000", "close:1000:"));
    EXPECT_FALSE(c.deflate);
    EXPECT_EQ(1, c.msgs);
}

static void server_fragments_run(bool deflate)
{
    struct scase c;
    against_python(&c, NULL, deflate ? NONE : ARGS("--no-compression"),
                   ARGS("frag:t:3,0,70000", "expect:t:70003", "frag:b:0,1,65536,2", "expect:b:65539",
                        "fragtext:H\xc3\xa9|llo \xe2\x82\xac|!", "expecttext:H\xc3\xa9llo \xe2\x82\xac!",
                        "sendtext:!frag", "expecttext:abc\xe2\x82\xac!", "expect:b:70001",
                        "close:1000:"));
    EXPECT_EQ(deflate, c.deflate);
    EXPECT_EQ(3, c.msgs);
    EXPECT_ERR(-EINVAL, c.cmd_rc);
    EXPECT_EQ(1000, c.close_code);
}

WS_TEST(server_fragments)
{
    server_fragments_run(true);
    server_fragments_run(false);
}

WS_TEST(server_ping_pong)
{
    struct scase c;
    cio_ws_options o = CIO_WS_OPTIONS(.report_control = true);
    against_python(&c, &o, NONE,
                   ARGS("ping:6f6e65", "ping:", "ping:74776f", "sendtext:!ping",
                        "expecttext:pong:srv-ping", "send:t:5", "expect:t:5", "close:1000:"));
    EXPECT_EQ(3, c.pings);
    EXPECT_STR_EQ("two", c.ping_data);
    EXPECT_EQ(1, c.pongs);
    EXPECT_OK(c.cmd_rc);
    EXPECT_ERR(-EMSGSIZE, c.cmd_rc2);
    EXPECT_EQ(1, c.msgs);
    /* Without report_control: answered, never returned. */
    against_python(&c, NULL, NONE, ARGS("ping:6f6e65", "send:t:5", "expect:t:5", "close:1000:"));
    EXPECT_EQ(0, c.pings);
    EXPECT_EQ(1, c.msgs);
}

/* The server's keep-alive: python answers its pings, the route sees the
 * pong (report_control) and says so. */
WS_TEST(server_keepalive)
{
    struct scase c;
    cio_ws_options o = CIO_WS_OPTIONS(.ping_interval = 0.02, .report_control = true);
    against_python(&c, &o, NONE, ARGS("expectprefix:pong:", "close:1000:"));
    EXPECT_TRUE(c.pongs >= 1);
    EXPECT_EQ(1000, c.close_code);
}

/* The same from python's client: it asks the cio server for a 10-bit
 * window and no context takeover on the server's side (and offers them
 * for its own). */
WS_TEST(server_deflate_parameters)
{
    struct scase c;
    against_python(&c, NULL,
                   ARGS("--deflate", "server_max_window_bits=10,client_max_window_bits=10,"
                                     "server_no_context_takeover,client_no_context_takeover"),
                   ARGS("deflate:1", "sendrep:3000:20", "expectrep:3000:20", "sendrep:3000:20",
                        "expectrep:3000:20", "sendrep:1500:40", "expectrep:1500:40", "close:1000:"));
    EXPECT_TRUE(c.deflate);
    EXPECT_EQ(3, c.msgs);
    against_python(&c, NULL, ARGS("--deflate", "server_max_window_bits=9"),
                   ARGS("deflate:1", "sendrep:3000:20", "expectrep:3000:20", "close:1000:"));
    EXPECT_TRUE(c.deflate);
}

WS_TEST(server_close_by_cio)
{
    struct scase c;
    against_python(&c, NULL, NONE,
                   ARGS("sendtext:!close 4003 server bye \xc3\xbc", "closed:4003:server bye \xc3\xbc"));
    EXPECT_OK(c.close_rc);
    EXPECT_TRUE(c.closing);
    EXPECT_ERR(-EPIPE, c.after_close_rc);
    against_python(&c, NULL, NONE, ARGS("sendtext:!close 0", "closed:1005"));
    EXPECT_OK(c.close_rc);
    against_python(&c, NULL, NONE, ARGS("sendtext:!close 1001", "closed:1001"));
    EXPECT_OK(c.close_rc);
}

WS_TEST(server_close_by_python)
{
    struct scase c;
    against_python(&c, NULL, NONE, ARGS("send:t:3", "expect:t:3", "close:4004:client bye"));
    EXPECT_EQ(4004, c.close_code);
    EXPECT_STR_EQ("client bye", c.reason);
    EXPECT_TRUE(c.closing);
    EXPECT_ERR(-EPIPE, c.after_close_rc);
    EXPECT_ERR(-EALREADY, c.close_rc);
    EXPECT_ERR(-EPIPE, c.send_rc);
    against_python(&c, NULL, NONE, ARGS("closeraw:"));
    EXPECT_EQ(CIO_WS_NO_STATUS, c.close_code);
    EXPECT_STR_EQ("", c.reason);
    against_python(&c, NULL, NONE, ARGS("close:1000:"));
    EXPECT_EQ(1000, c.close_code);
}

WS_TEST(server_utf8)
{
    struct scase c;
    against_python(&c, NULL, ARGS("--no-compression"),
                   ARGS("raw:0:1:e282", "raw:1:0:ac", "expecttext:\xe2\x82\xac", "raw:0:1:f09f",
                        "raw:0:0:98", "raw:1:0:80", "expecttext:\xf0\x9f\x98\x80", "raw:1:1:c328",
                        "closed:1007"));
    EXPECT_EQ(2, c.msgs);
    EXPECT_ERR(-EILSEQ, c.recv_rc);
    EXPECT_TRUE(c.closing);
    against_python(&c, NULL, ARGS("--no-compression"),
                   ARGS("raw:0:1:6869", "raw:0:0:eda080", "closed:1007"));
    EXPECT_ERR(-EILSEQ, c.recv_rc);
}

WS_TEST(server_too_big)
{
    struct scase c;
    cio_ws_options o = CIO_WS_OPTIONS(.max_message = 1000);
    against_python(&c, &o, NONE,
                   ARGS("send:b:1000", "expect:b:1000", "send:t:1000", "expect:t:1000", "send:b:1001",
                        "closed:1009"));
    EXPECT_EQ(2, c.msgs);
    EXPECT_ERR(-EMSGSIZE, c.recv_rc);
    against_python(&c, &o, NONE, ARGS("frag:t:600,600", "closed:1009"));
    EXPECT_ERR(-EMSGSIZE, c.recv_rc);
    against_python(&c, &o, NONE, ARGS("deflate:1", "sendz:5000", "closed:1009"));
    EXPECT_TRUE(c.deflate);
    EXPECT_ERR(-EMSGSIZE, c.recv_rc);
    /* The default limit is 1 MiB: exactly that passes (server_echo_sizes),
     * one byte more does not. (Zeros, deflated to a few hundred bytes: the
     * whole frame is in before cio refuses it, so no unread byte turns the
     * close into a reset.) */
    against_python(&c, NULL, NONE, ARGS("deflate:1", "sendz:1048577", "closed:1009"));
    EXPECT_ERR(-EMSGSIZE, c.recv_rc);
}

WS_TEST(server_subprotocol)
{
    struct scase c;
    cio_ws_options o = CIO_WS_OPTIONS(.protocols = "chat,other");
    against_python(&c, &o, ARGS("--subprotocols", "x,other,chat"),
                   ARGS("subprotocol:chat", "close:1000:"));
    EXPECT_STR_EQ("chat", c.protocol); /* the server's first that the client offers */
    against_python(&c, &o, NONE, ARGS("subprotocol:-", "close:1000:"));
    EXPECT_STR_EQ("-", c.protocol);
    against_python(&c, &o, ARGS("--subprotocols", "x"), ARGS("subprotocol:-", "close:1000:"));
    EXPECT_STR_EQ("-", c.protocol);
    against_python(&c, NULL, ARGS("--subprotocols", "chat"), ARGS("subprotocol:-", "close:1000:"));
    EXPECT_STR_EQ("-", c.protocol);
}

/* ---- Raw frames to the cio server ------------------------------------------------ */

static const char handshake[] = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n";

static const char handshake_deflate[] =
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

/* A raw connection that completed the handshake (RFC 6455's own example
 * key and accept value), with permessage-deflate when deflate. */
static cio_stream *raw_open_ext(struct wsrv *w, bool deflate)
{
    cio_stream *s = http_connect(w->srv);
    http_send(s, deflate ? handshake_deflate : handshake);
    char head[2048];
    ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
    EXPECT_TRUE(n > 0);
    head[n] = 0;
    if (strncmp(head, "HTTP/1.1 101 ", 13) != 0)
        FAIL("not upgraded:\n%s", head);
    EXPECT_TRUE(strcasestr(head, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    EXPECT_TRUE(strcasestr(head, "\r\nUpgrade: websocket\r\n"));
    EXPECT_TRUE(strcasestr(head, "\r\nConnection: upgrade\r\n"));
    if (deflate)
        EXPECT_TRUE(strcasestr(head, "\r\nSec-WebSocket-Extensions: permessage-deflate"));
    else
        EXPECT_TRUE(strcasestr(head, "Sec-WebSocket-Extensions") == NULL); /* none offered */
    EXPECT_TRUE(strcasestr(head, "Sec-WebSocket-Protocol") == NULL);
    return s;
}

static cio_stream *raw_open(struct wsrv *w)
{
    return raw_open_ext(w, false);
}

/* One frame from the server (never masked); payload malloc'd. 0, or
 * -ENODATA when the connection ended. */
static int raw_read(cio_stream *s, unsigned *op, bool *fin, uint8_t **payload, size_t *len)
{
    uint8_t h[10];
    ssize_t n = cio_stream_read_exactly(s, h, 2);
    if (n == -ENODATA || n == -ECONNRESET)
        return -ENODATA;
    EXPECT_EQ(2, n);
    EXPECT_EQ(0, h[0] & 0x70); /* no RSV bit: no extension was agreed */
    EXPECT_EQ(0, h[1] & 0x80); /* a server never masks */
    *op = h[0] & 15;
    *fin = h[0] & 0x80;
    uint64_t l = h[1] & 127;
    if (l == 126) {
        EXPECT_EQ(2, cio_stream_read_exactly(s, h, 2));
        l = (uint64_t)h[0] << 8 | h[1];
        EXPECT_TRUE(l >= 126); /* the shortest form */
    } else if (l == 127) {
        EXPECT_EQ(8, cio_stream_read_exactly(s, h, 8));
        l = 0;
        for (int i = 0; i < 8; i++)
            l = l << 8 | h[i];
        EXPECT_TRUE(l >= 65536);
    }
    *payload = malloc(l + 1);
    if (l)
        EXPECT_EQ((ssize_t)l, cio_stream_read_exactly(s, *payload, l));
    (*payload)[l] = 0;
    *len = l;
    return 0;
}

/* Reads the server's close frame: its code (1005 without one); answers it
 * and reads to the end of the connection. */
static int raw_close_code(cio_stream *s, const char *name)
{
    unsigned op;
    bool fin;
    uint8_t *p;
    size_t len;
    if (raw_read(s, &op, &fin, &p, &len) != 0)
        FAIL("%s: the connection ended without a close frame", name);
    if (op != 8)
        FAIL("%s: a frame of opcode %u instead of the close", name, op);
    EXPECT_TRUE(fin);
    EXPECT_TRUE(len != 1 && len <= 125);
    int code = len >= 2 ? p[0] << 8 | p[1] : 1005;
    uint8_t f[32];
    size_t fl = frame(f, true, 0, 8, true, p, len >= 2 ? 2 : 0);
    free(p);
    cio_stream_write(s, f, fl); /* the server may have closed already */
    char buf[256];
    for (int i = 0; i < 1000; i++) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return code;
    }
    FAIL("%s: more bytes after the close frame", name);
}

static void raw_send(cio_stream *s, const struct rcase *c)
{
    size_t n;
    uint8_t *b = rcase_bytes(c, true, &n);
    cio_stream_write(s, b, n); /* the server may close early */
    free(b);
}

WS_TEST(server_raw_malformed)
{
    struct scase c;
    memset(&c, 0, sizeof c);
    struct wsrv w;
    wsrv_start(&w, &c);
    for (size_t i = 0; i < NBAD; i++) {
        const struct rcase *r = &bad_frames[i];
        scase_reset(&c);
        cio_stream *s = raw_open(&w);
        raw_send(s, r);
        int code = raw_close_code(s, r->name);
        cio_stream_close(s);
        if (code != r->code)
            FAIL("%s: closed with %d, not %d", r->name, code, r->code);
        WAIT_UNTIL(c.done == 1);
        if (c.recv_rc != r->rc)
            FAIL("%s: cio_ws_recv returned %s, not %s", r->name, cio_err_name(c.recv_rc),
                 cio_err_name(r->rc));
        EXPECT_TRUE(c.closing);
    }
    wsrv_stop(&w, &c, 0);
    /* The size limit. */
    memset(&c, 0, sizeof c);
    c.opts = CIO_WS_OPTIONS(.max_message = 1000);
    wsrv_start(&w, &c);
    static const struct rcase big[] = {
        {"a message over max_message", {F(true, 0, 2, NULL, 1001)}, 1009, -EMSGSIZE},
        {"fragments over max_message", {F(false, 0, 2, NULL, 600), F(true, 0, 0, NULL, 600)}, 1009,
         -EMSGSIZE},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        scase_reset(&c);
        cio_stream *s = raw_open(&w);
        raw_send(s, &big[i]);
        int code = raw_close_code(s, big[i].name);
        cio_stream_close(s);
        if (code != 1009)
            FAIL("%s: closed with %d, not 1009", big[i].name, code);
        WAIT_UNTIL(c.done == 1);
        EXPECT_ERR(-EMSGSIZE, c.recv_rc);
    }
    wsrv_stop(&w, &c, 0);
}

/* permessage-deflate by hand (RFC 7692's own "Hello", 7.2.3.1): a
 * compressed message is inflated; RSV1 on a continuation, or data zlib
 * refuses, close the connection. */
WS_TEST(server_raw_deflate)
{
    struct scase c;
    memset(&c, 0, sizeof c);
    struct wsrv w;
    wsrv_start(&w, &c);
    static const char hello_z[] = "\xf2\x48\xcd\xc9\xc9\x07\x00";
    cio_stream *s = raw_open_ext(&w, true);
    const struct rcase ok = {"a compressed message", {F(true, 4, 1, hello_z, 7)}, 0, 0};
    raw_send(s, &ok);
    unsigned op;
    bool fin;
    uint8_t *p;
    size_t len;
    EXPECT_OK(raw_read(s, &op, &fin, &p, &len)); /* short: echoed uncompressed */
    EXPECT_EQ(1, op);
    EXPECT_STR_EQ("Hello", (char *)p);
    free(p);
    const struct rcase split = {"a compressed message in two fragments",
                                {F(false, 4, 1, hello_z, 3), F(true, 0, 0, hello_z + 3, 4)}, 0, 0};
    raw_send(s, &split);
    EXPECT_OK(raw_read(s, &op, &fin, &p, &len));
    EXPECT_STR_EQ("Hello", (char *)p);
    free(p);
    uint8_t f[16];
    EXPECT_OK(cio_stream_write(s, f, frame(f, true, 0, 8, true, "\x03\xe8", 2)));
    EXPECT_EQ(1000, raw_close_code(s, "deflate"));
    cio_stream_close(s);
    WAIT_UNTIL(c.done == 1);
    EXPECT_TRUE(c.deflate);
    EXPECT_EQ(2, c.msgs);
    static const struct rcase bad[] = {
        {"RSV1 on a continuation", {F(false, 4, 1, hello_z, 3), F(true, 4, 0, hello_z + 3, 4)}, 1002,
         -EPROTO},
        {"compressed data zlib refuses", {F(true, 4, 2, "\xff\xff\xff\xff", 4)}, 1007, -EILSEQ},
        {"RSV1 on a ping", {F(true, 4, 9, "p")}, 1002, -EPROTO},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        scase_reset(&c);
        s = raw_open_ext(&w, true);
        raw_send(s, &bad[i]);
        int code = raw_close_code(s, bad[i].name);
        cio_stream_close(s);
        if (code != bad[i].code)
            FAIL("%s: closed with %d, not %d", bad[i].name, code, bad[i].code);
        WAIT_UNTIL(c.done == 1);
        if (c.recv_rc != bad[i].rc)
            FAIL("%s: cio_ws_recv returned %s, not %s", bad[i].name, cio_err_name(c.recv_rc),
                 cio_err_name(bad[i].rc));
    }
    wsrv_stop(&w, &c, 0);
}

/* Valid sequences python3-websockets cannot send: a ping between the
 * fragments of a message, the lengths' three encodings, a close frame
 * without a code. */
WS_TEST(server_raw_valid)
{
    struct scase c;
    memset(&c, 0, sizeof c);
    struct wsrv w;
    wsrv_start(&w, &c);
    cio_stream *s = raw_open(&w);
    const struct rcase seq = {"ping between fragments",
                              {F(false, 0, 1, "ab"), F(true, 0, 9, "p1"), F(true, 0, 0, "c\xe2\x82\xac")},
                              0, 0};
    raw_send(s, &seq);
    unsigned op;
    bool fin;
    uint8_t *p;
    size_t len;
    EXPECT_OK(raw_read(s, &op, &fin, &p, &len));
    EXPECT_EQ(10, op); /* the pong first: the message was not complete */
    EXPECT_STR_EQ("p1", (char *)p);
    free(p);
    EXPECT_OK(raw_read(s, &op, &fin, &p, &len));
    EXPECT_EQ(1, op);
    EXPECT_TRUE(fin);
    EXPECT_STR_EQ("abc\xe2\x82\xac", (char *)p);
    free(p);
    /* 125, 126 and 65536 bytes: 7-bit, 16-bit and 64-bit lengths both ways. */
    static const size_t lens[] = {125, 126, 65535, 65536};
    for (size_t i = 0; i < 4; i++) {
        uint8_t *d = pattern(lens[i]);
        uint8_t *f = malloc(lens[i] + 14);
        size_t fl = frame(f, true, 0, 2, true, d, lens[i]);
        EXPECT_OK(cio_stream_write(s, f, fl));
        EXPECT_OK(raw_read(s, &op, &fin, &p, &len));
        EXPECT_EQ(2, op);
        EXPECT_EQ(lens[i], len);
        EXPECT_TRUE(memcmp(p, d, len) == 0);
        free(p);
        free(d);
        free(f);
    }
    /* A close without a code: answered, seen as 1005. */
    uint8_t f[16];
    EXPECT_OK(cio_stream_write(s, f, frame(f, true, 0, 8, true, "", 0)));
    EXPECT_OK(raw_read(s, &op, &fin, &p, &len));
    EXPECT_EQ(8, op);
    EXPECT_TRUE(len == 0 || (len == 2 && (p[0] << 8 | p[1]) == 1000));
    free(p);
    char buf[64];
    EXPECT_TRUE(cio_stream_read(s, buf, sizeof buf) <= 0);
    cio_stream_close(s);
    WAIT_UNTIL(c.done == 1);
    EXPECT_EQ(CIO_WS_NO_STATUS, c.close_code);
    EXPECT_EQ(5, c.msgs); /* the text and the four binary messages */
    wsrv_stop(&w, &c, 1);
}

WS_TEST(server_handshake_refusals)
{
    struct scase c;
    memset(&c, 0, sizeof c);
    struct wsrv w;
    wsrv_start(&w, &c);
    struct {
        const char *name, *request;
        int status;
        bool upgrade;
    } cases[] = {
        {"no key",
         "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n",
         400, true},
        {"a key of 15 bytes",
         "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400, true},
        {"version 8",
         "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
         426, true},
        {"no version",
         "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         -1, true}, /* 400 or 426: RFC 6455 asks for neither in particular */
        {"POST",
         "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Content-Length: 0\r\n\r\n",
         400, true},
        {"HTTP/1.0",
         "GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400, true},
        {"no Upgrade",
         "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400, false},
        {"no Connection: upgrade",
         "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         400, true},
        /* Valid: tokens in a list, any case (what browsers send). */
        {"Connection: keep-alive, Upgrade",
         "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
         101, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scase_reset(&c);
        cio_stream *s = http_connect(w.srv);
        http_send(s, cases[i].request);
        struct hres r;
        if (cases[i].status == 101) {
            char head[2048];
            ssize_t n = cio_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
            EXPECT_TRUE(n > 0);
            head[n] = 0;
            if (strncmp(head, "HTTP/1.1 101 ", 13) != 0)
                FAIL("%s: not upgraded:\n%s", cases[i].name, head);
            EXPECT_TRUE(strcasestr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
            uint8_t f[16];
            EXPECT_OK(cio_stream_write(s, f, frame(f, true, 0, 8, true, "\x03\xe8", 2)));
            EXPECT_EQ(1000, raw_close_code(s, cases[i].name));
        } else {
            EXPECT_OK(http_read(s, &r, false));
            if (cases[i].status < 0 ? r.status != 400 && r.status != 426
                                    : r.status != cases[i].status)
                FAIL("%s: status %d, not %d:\n%s", cases[i].name, r.status, cases[i].status, r.head);
            if (r.status == 426)
                EXPECT_TRUE(hres_has(&r, "Sec-WebSocket-Version", "13"));
            EXPECT_FALSE(hres_has(&r, "Sec-WebSocket-Accept", NULL));
            hres_free(&r);
        }
        cio_stream_close(s);
        WAIT_UNTIL(c.done == 1);
        EXPECT_EQ(cases[i].upgrade, c.upgrade);
        if (cases[i].status == 101) {
            EXPECT_OK(c.accept_rc);
            EXPECT_EQ(1000, c.close_code);
        } else if (c.accept_rc != -EPROTO) {
            FAIL("%s: cio_ws_accept returned %s", cases[i].name, cio_err_name(c.accept_rc));
        }
    }
    wsrv_stop(&w, &c, 0);
}

/* ---- wss:// ---------------------------------------------------------------------- */

/* Certificates from tests/net/tls-certs.sh in a new temporary directory
 * (dir, room for 64): ca.pem, server.pem and server.key ("localhost",
 * 127.0.0.1, ::1). */
static void make_certs(char *dir)
{
    snprintf(dir, 64, "/tmp/cio-ws-tls-XXXXXX");
    if (!mkdtemp(dir))
        FAIL("mkdtemp: %s", strerror(errno));
    char script[4200];
    snprintf(script, sizeof script, "%s/../../net/tls-certs.sh", peer_dir);
    const char *argv[] = {"sh", script, dir, NULL};
    cio_process_options o = CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_DEVNULL,
                                                .stderr_mode = CIO_PROCESS_STDOUT,
                                                .search_path = true);
    cio_process_result r;
    EXPECT_OK(cio_process_run(argv, &o, NULL, 0, 1 << 20, &r));
    if (r.status != 0)
        FAIL("tls-certs.sh exited %d:\n%s", r.status, r.out ? r.out : "");
    cio_process_result_free(&r);
}

static void remove_certs(const char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    cio_process_options o = CIO_PROCESS_OPTIONS(.search_path = true);
    cio_process_result r;
    EXPECT_OK(cio_process_run(argv, &o, NULL, 0, 1 << 20, &r));
    EXPECT_EQ(0, r.status);
    cio_process_result_free(&r);
}

/* python's TLS server, cio_ws_connect through an HTTP client whose TLS
 * configuration trusts the test CA (the header: "through client's TLS
 * configuration ... when client is non-NULL"). Without that client, the
 * system's trust store refuses the test CA. */
WS_TEST(client_wss_through_client_tls)
{
    char dir[64];
    make_certs(dir);
    char tlsarg[160], ca[96];
    snprintf(tlsarg, sizeof tlsarg, "%s/server.pem,%s/server.key", dir, dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    uint16_t port;
    cio_process *p = listener_start("server.py", ARGS("--tls", tlsarg),
                                    ARGS("deflate:1", "echo", "closed:1000"), &port);
    char url[128];
    snprintf(url, sizeof url, "wss://127.0.0.1:%u/secure", port);
    /* Without the client: the system's trust store does not know the CA. */
    cio_ws *ws = (cio_ws *)1;
    int rc = cio_ws_connect(NULL, url, NULL, &ws);
    EXPECT_TRUE(rc < 0);
    EXPECT_TRUE(ws == NULL);
    cio_tls_config *tls;
    cio_tls_options to = CIO_TLS_OPTIONS(.ca_file = ca);
    EXPECT_OK(cio_tls_config_new(&to, &tls));
    cio_http_client_options co = CIO_HTTP_CLIENT_OPTIONS(.tls = tls, .no_env_proxy = true);
    cio_http_client *client;
    EXPECT_OK(cio_http_client_new(&co, &client));
    ws = NULL;
    rc = cio_ws_connect(client, url, NULL, &ws);
    if (rc)
        FAIL("cio_ws_connect through a client trusting the test CA: %s", cio_err_name(rc));
    EXPECT_TRUE(cio_ws_is_deflate(ws));
    uint8_t *big = pattern(100000);
    EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, big, 100000));
    expect_msg(ws, CIO_WS_BINARY, big, 100000);
    free(big);
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
    EXPECT_OK(cio_http_client_free(client));
    cio_tls_config_free(tls);
    remove_certs(dir);
}

/* A cio HTTPS server: cio_ws_accept takes a TLS connection over; python's
 * client trusts the test CA. */
WS_TEST(server_wss)
{
    char dir[64];
    make_certs(dir);
    char cert[96], key[96], ca[96];
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    cio_tls_config *tls;
    cio_tls_options to = CIO_TLS_OPTIONS(.server = true, .cert_file = cert, .key_file = key,
                                         .alpn = "http/1.1");
    EXPECT_OK(cio_tls_config_new(&to, &tls));
    struct scase c;
    memset(&c, 0, sizeof c);
    struct wsrv w;
    wsrv_start_tls(&w, &c, tls);
    EXPECT_TRUE(strncmp(w.url, "wss://", 6) == 0);
    pyclient(w.url, ARGS("--ca", ca),
             ARGS("deflate:1", "send:b:100000", "expect:b:100000", "sendtext:!frag",
                  "expecttext:abc\xe2\x82\xac!", "expect:b:70001", "close:1000:tls"));
    wsrv_stop(&w, &c, 1);
    EXPECT_OK(c.accept_rc);
    EXPECT_TRUE(c.deflate);
    EXPECT_EQ(1, c.msgs);
    EXPECT_EQ(1000, c.close_code);
    EXPECT_STR_EQ("tls", c.reason);
    cio_tls_config_free(tls);
    remove_certs(dir);
}

/* ---- Arguments ------------------------------------------------------------------ */

static int eperm_main(void)
{
    cio_ws *ws = (cio_ws *)1;
    return cio_ws_connect(NULL, "ws://127.0.0.1:9/", NULL, &ws);
}

WS_TEST(ws_args)
{
    cio_ws *ws = (cio_ws *)1;
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, NULL, NULL, &ws));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:9/", NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "http://127.0.0.1:9/", NULL, &ws));
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://", NULL, &ws));
    cio_ws_options bad = {0};
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:9/", &bad, &ws));
    struct {
        cio_ws_options o;
        char tail[16];
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.o.size = sizeof newer;
    newer.tail[5] = 1;
    EXPECT_ERR(-E2BIG, cio_ws_connect(NULL, "ws://127.0.0.1:9/", &newer.o, &ws));
    cio_ws_options o = CIO_WS_OPTIONS(.ping_interval = -1);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:9/", &o, &ws));
    o = CIO_WS_OPTIONS(.close_timeout = NAN);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:9/", &o, &ws));
    o = CIO_WS_OPTIONS(.deflate_level = 10);
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:9/", &o, &ws));
    o = CIO_WS_OPTIONS(.protocols = "chat, v/1"); /* "/" is no token character */
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:9/", &o, &ws));
    o = CIO_WS_OPTIONS(.origin = "http://x\r\nX: y");
    EXPECT_ERR(-EINVAL, cio_ws_connect(NULL, "ws://127.0.0.1:9/", &o, &ws));
    EXPECT_ERR(-EINVAL, cio_ws_accept(NULL, NULL, NULL, &ws));
    EXPECT_FALSE(cio_ws_is_upgrade(NULL));
    EXPECT_ERR(-EINVAL, cio_ws_send(NULL, CIO_WS_TEXT, "a", 1));
    EXPECT_ERR(-EINVAL, cio_ws_send_text(NULL, "a"));
    EXPECT_ERR(-EINVAL, cio_ws_send_fragment(NULL, CIO_WS_TEXT, "a", 1, true));
    EXPECT_ERR(-EINVAL, cio_ws_ping(NULL, "a", 1));
    cio_ws_message m;
    EXPECT_ERR(-EINVAL, cio_ws_recv(NULL, &m));
    EXPECT_ERR(-EINVAL, cio_ws_close(NULL, 1000, NULL));
    cio_addr a;
    EXPECT_ERR(-EINVAL, cio_ws_peer(NULL, &a));
    cio_ws_free(NULL);
    /* On a live connection (python's echo server). */
    char url[128];
    cio_process *p = pyserver(NONE, ARGS("echo", "closed:1000"), url, sizeof url);
    ws = connect_ok(url, NULL);
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, CIO_WS_PING, "a", 1));
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, CIO_WS_CLOSE, "a", 1));
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, (cio_ws_type)3, "a", 1));
    EXPECT_ERR(-EINVAL, cio_ws_send(ws, CIO_WS_TEXT, NULL, 1));
    EXPECT_OK(cio_ws_send(ws, CIO_WS_BINARY, NULL, 0));
    expect_msg(ws, CIO_WS_BINARY, "", 0);
    EXPECT_ERR(-EINVAL, cio_ws_send_text(ws, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_send_fragment(ws, CIO_WS_PONG, "a", 1, true));
    EXPECT_ERR(-EINVAL, cio_ws_ping(ws, NULL, 3));
    EXPECT_ERR(-EINVAL, cio_ws_recv(ws, NULL));
    EXPECT_ERR(-EINVAL, cio_ws_peer(ws, NULL));
    EXPECT_OK(cio_ws_close(ws, 1000, NULL));
    cio_ws_free(ws);
    pyserver_end(p);
}

TEST(ws_eperm_outside_a_task)
{
    EXPECT_ERR(-EPERM, eperm_main());
}

/* The python3 to use: $CIO_TEST_PYTHON, else python3 on PATH, else
 * /usr/bin/python3 (Debian's, where python3-websockets installs), the
 * first with the websockets module. */
static const char *find_python(void)
{
    static const char *cands[3];
    cands[0] = getenv("CIO_TEST_PYTHON");
    cands[1] = "python3";
    cands[2] = "/usr/bin/python3";
    for (int i = 0; i < 3; i++) {
        if (!cands[i] || !*cands[i])
            continue;
        if (cands[i][0] != '/' && !peer_have(cands[i]))
            continue;
        if (cands[i][0] == '/' && access(cands[i], X_OK) != 0)
            continue;
        char *argv[] = {(char *)cands[i], "-c", "import websockets", NULL};
        if (peer_run(argv, NULL, 60, NULL) == 0)
            return cands[i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    py = find_python();
    if (!py) {
        printf("skipped: no python3 with the websockets module (python3-websockets)\n");
        return 77;
    }
    /* The scripts sit beside this file. */
    snprintf(peer_dir, sizeof peer_dir, "%s", __FILE__);
    char *slash = strrchr(peer_dir, '/');
    if (slash)
        snprintf(slash + 1, sizeof peer_dir - (size_t)(slash + 1 - peer_dir), "ws_peer");
    else
        snprintf(peer_dir, sizeof peer_dir, "ws_peer");
    if (access(peer_dir, R_OK) != 0) {
        fprintf(stderr, "no peer scripts at %s\n", peer_dir);
        return 1;
    }
    /* Loopback only: no proxy from the environment. */
    static const char *const proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY",
                                          "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
        unsetenv(proxies[i]);
    return test_main(argc, argv);
}
