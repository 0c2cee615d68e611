/* cio_transport and cio_protocol: callbacks from the loop only (never from
 * inside a transport call), connection_lost exactly once and last, the
 * write marks, pause/resume reading, half-close, abort, connect, and the
 * hand-offs between the two styles. */
#include "net/conn.h"
#include "net/test_stream_util.h"

/* A protocol that records its callbacks. */
struct rec {
    char log[256];         /* one letter per callback: M D E L P R */
    char data[1 << 16];    /* what data_received got */
    size_t len;
    int in_call;           /* the test is inside a transport function */
    int lost_err;
    int made_rc;           /* what connection_made returns */
    bool keep_open;        /* eof_received's answer */
    bool echo;             /* data_received writes the bytes back */
    bool close_on_data;    /* data_received closes (at once) */
    size_t buffered_at_pause, buffered_at_resume;
    cio_transport *t;
    int lost;
};

static void rec_log(struct rec *r, char c)
{
    if (r->in_call)
        FAIL("callback '%c' from inside a transport call", c);
    size_t n = strlen(r->log);
    if (n + 1 < sizeof r->log)
        r->log[n] = c;
    if (r->lost)
        FAIL("callback '%c' after connection_lost", c);
}

static int rec_made(cio_transport *t, void *arg, void **ctx)
{
    struct rec *r = arg;
    EXPECT_PTR_EQ(arg, *ctx);
    rec_log(r, 'M');
    r->t = t;
    return r->made_rc;
}

static void rec_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct rec *r = ctx;
    rec_log(r, 'D');
    EXPECT_TRUE(len >= 1);
    if (r->len + len <= sizeof r->data) {
        memcpy(r->data + r->len, data, len);
        r->len += len;
    }
    if (r->echo) {
        r->in_call = 1;
        EXPECT_OK(cio_transport_write(t, data, len));
        r->in_call = 0;
    }
    if (r->close_on_data) {
        r->in_call = 1;
        EXPECT_OK(cio_transport_close(t));
        EXPECT_TRUE(cio_transport_is_closing(t));
        EXPECT_ERR(-EINVAL, cio_transport_close(t));
        EXPECT_ERR(-EPIPE, cio_transport_write(t, "x", 1));
        r->in_call = 0;
    }
}

static bool rec_eof(cio_transport *t, void *ctx)
{
    (void)t;
    struct rec *r = ctx;
    rec_log(r, 'E');
    return r->keep_open;
}

static void rec_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct rec *r = ctx;
    rec_log(r, 'L');
    r->lost_err = err;
    r->lost = 1;
}

static void rec_pause(cio_transport *t, void *ctx)
{
    struct rec *r = ctx;
    rec_log(r, 'P');
    r->buffered_at_pause = cio_transport_buffered(t);
}

static void rec_resume(cio_transport *t, void *ctx)
{
    struct rec *r = ctx;
    rec_log(r, 'R');
    r->buffered_at_resume = cio_transport_buffered(t);
}

static const cio_protocol rec_proto = {
    .connection_made = rec_made,
    .data_received = rec_data,
    .eof_received = rec_eof,
    .connection_lost = rec_lost,
    .pause_writing = rec_pause,
    .resume_writing = rec_resume,
};

/* Yields until cond or 1,000 turns. */
#define WAIT_FOR(cond)                                                                            \
    do {                                                                                          \
        for (int w_ = 0; w_ < 1000 && !(cond); w_++)                                              \
            EXPECT_OK(cio_yield());                                                               \
        EXPECT_TRUE(cond);                                                                        \
    } while (0)

/* A transport on one end of a socketpair, a stream on the other. */
static void tpair(struct rec *r, cio_stream **peer, cio_transport **t)
{
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    EXPECT_OK(cio_stream_new(fds[0], NULL, peer));
    EXPECT_OK(cio_transport_new(cio_current_loop(), fds[1], NULL, &rec_proto, r, t));
}

/* ---- echo: a protocol server, a stream client ----------------------------- */

static int echo_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    r.echo = true;
    cio_stream *p;
    cio_transport *t;
    tpair(&r, &p, &t);
    EXPECT_STR_EQ("", r.log); /* connection_made comes from the loop, later */
    char line[64], back[64];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(line, sizeof line, "echo %d\n", i);
        EXPECT_OK(cio_stream_write(p, line, (size_t)n));
        EXPECT_EQ(n, cio_stream_read_line(p, back, sizeof back));
        EXPECT_TRUE(memcmp(line, back, (size_t)n) == 0);
    }
    EXPECT_OK(cio_stream_shutdown(p));
    /* eof_received says false: the transport closes, then connection_lost(0) */
    EXPECT_EQ(0, cio_stream_read(p, back, sizeof back));
    WAIT_FOR(r.lost);
    EXPECT_EQ(0, r.lost_err);
    EXPECT_EQ('M', r.log[0]);
    size_t n = strlen(r.log);
    EXPECT_EQ('E', r.log[n - 2]);
    EXPECT_EQ('L', r.log[n - 1]);
    EXPECT_EQ(0, cio__conn_rbufs_held);
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(echo_protocol_with_stream_client)
{
    st_run(echo_main, NULL);
}

/* ---- cio_transport_connect against a stream server over TCP ---------- */

static int tcp_echo_server(void *arg, void **res)
{
    (void)res;
    int lfd = *(int *)arg;
    int fd;
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    cio_stream *s;
    EXPECT_OK(cio_stream_new(fd, NULL, &s));
    char buf[4096];
    ssize_t n;
    while ((n = cio_stream_read(s, buf, sizeof buf)) > 0)
        EXPECT_OK(cio_stream_write(s, buf, (size_t)n));
    EXPECT_EQ(0, n);
    EXPECT_OK(cio_stream_close(s));
    return 0;
}

static int client_made(cio_transport *t, void *arg, void **ctx)
{
    struct rec *r = arg;
    (void)ctx;
    rec_log(r, 'M');
    r->t = t;
    r->in_call = 1;
    EXPECT_OK(cio_transport_write(t, "ping\n", 5));
    r->in_call = 0;
    return 0;
}

static void client_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct rec *r = ctx;
    rec_log(r, 'D');
    memcpy(r->data + r->len, data, len);
    r->len += len;
    if (r->len == 5) {
        r->in_call = 1;
        EXPECT_OK(cio_transport_write_eof(t));
        r->in_call = 0;
    }
}

static const cio_protocol client_proto = {
    .connection_made = client_made,
    .data_received = client_data,
    .eof_received = rec_eof,
    .connection_lost = rec_lost,
};

static int connect_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_addr addr;
    int lfd = st_listen_tcp(&addr);
    cio_task *srv;
    EXPECT_OK(cio_spawn(tcp_echo_server, &lfd, &srv));
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &addr, NULL, NULL, &client_proto, &r, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ('M', r.log[0]); /* connection_made ran before the future completed */
    /* ping, echo, write_eof, the server's eof, the client's eof: closed */
    WAIT_FOR(r.lost);
    EXPECT_EQ(0, r.lost_err);
    EXPECT_EQ(5, r.len);
    EXPECT_TRUE(memcmp(r.data, "ping\n", 5) == 0);
    EXPECT_OK(cio_await(srv, NULL));
    cio_future_unref(srv);
    cio_fd_close(lfd);
    return 0;
}

TEST(transport_connect_tcp)
{
    st_run(connect_main, NULL);
}

static int refused_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_addr addr;
    int lfd = st_listen_tcp(&addr);
    cio_fd_close(lfd); /* nobody listens there now */
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &addr, NULL, NULL, &rec_proto, &r, &f));
    EXPECT_ERR(-ECONNREFUSED, cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_STR_EQ("", r.log); /* neither connection_made nor connection_lost */
    /* a Unix path nobody listens on fails at once, through the future */
    cio_addr un;
    EXPECT_OK(cio_addr_unix("/nonexistent-cio-test/sock", &un));
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &un, NULL, NULL, &rec_proto, &r, &f));
    EXPECT_ERR(-ENOENT, cio_await(f, NULL));
    cio_future_unref(f);
    /* cancelled before it connected: nothing is called */
    EXPECT_OK(cio_addr_ip("127.0.0.1", cio_addr_port(&addr), &addr));
    lfd = st_listen_tcp(&addr);
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &addr, NULL, NULL, &rec_proto, &r, &f));
    EXPECT_OK(cio_future_cancel(f));
    EXPECT_ERR(-ECANCELED, cio_await(f, NULL));
    cio_future_unref(f);
    for (int i = 0; i < 5; i++)
        EXPECT_OK(cio_yield());
    EXPECT_STR_EQ("", r.log);
    cio_fd_close(lfd);
    return 0;
}

/* A protocol that closes from connection_made: the future still says 0
 * (connection_made ran and returned 0), then connection_lost(0). */
static int close_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct rec *r = arg;
    rec_log(r, 'M');
    r->in_call = 1;
    EXPECT_OK(cio_transport_close(t));
    r->in_call = 0;
    return 0;
}

static const cio_protocol close_made_proto = {
    .connection_made = close_made,
    .data_received = rec_data,
    .connection_lost = rec_lost,
};

static int close_made_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_addr addr;
    int lfd = st_listen_tcp(&addr);
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &addr, NULL, NULL, &close_made_proto, &r, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("ML", r.log);
    EXPECT_EQ(0, r.lost_err);
    cio_fd_close(lfd);
    return 0;
}

TEST(transport_connect_close_in_made)
{
    st_run(close_made_main, NULL);
}

TEST(transport_connect_errors_and_cancel)
{
    st_run(refused_main, NULL);
}

/* ---- flow control: pause_writing and resume_writing at the marks -------- */

static int flow_made(cio_transport *t, void *arg, void **ctx)
{
    struct rec *r = arg;
    (void)ctx;
    rec_log(r, 'M');
    r->t = t;
    static char big[4 << 20];
    r->in_call = 1;
    EXPECT_OK(cio_transport_set_water(t, 65536, 16384));
    EXPECT_OK(cio_transport_write(t, big, sizeof big));
    EXPECT_TRUE(cio_transport_buffered(t) > 65536);
    r->in_call = 0;
    return 0;
}

static const cio_protocol flow_proto = {
    .connection_made = flow_made,
    .data_received = rec_data,
    .connection_lost = rec_lost,
    .pause_writing = rec_pause,
    .resume_writing = rec_resume,
};

static int flow_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    cio_stream *p;
    cio_transport *t;
    EXPECT_OK(cio_stream_new(fds[0], NULL, &p));
    EXPECT_OK(cio_transport_new(cio_current_loop(), fds[1], NULL, &flow_proto, &r, &t));
    WAIT_FOR(strchr(r.log, 'P'));
    EXPECT_STR_EQ("MP", r.log);
    EXPECT_TRUE(r.buffered_at_pause > 65536);
    static char in[4 << 20];
    EXPECT_EQ((ssize_t)sizeof in, cio_stream_read_exactly(p, in, sizeof in));
    WAIT_FOR(strchr(r.log, 'R'));
    EXPECT_STR_EQ("MPR", r.log);
    EXPECT_TRUE(r.buffered_at_resume <= 16384);
    EXPECT_OK(cio_transport_close(t));
    EXPECT_EQ(0, cio_stream_read(p, in, 1));
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("MPRL", r.log);
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(pause_and_resume_writing)
{
    st_run(flow_main, NULL);
}

/* ---- pause_reading / resume_reading ----------------------------------- */

static int pread_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_stream *p;
    cio_transport *t;
    tpair(&r, &p, &t);
    WAIT_FOR(r.log[0] == 'M');
    EXPECT_OK(cio_transport_pause_reading(t));
    EXPECT_OK(cio_stream_write(p, "abc", 3));
    for (int i = 0; i < 20; i++)
        EXPECT_OK(cio_yield());
    EXPECT_EQ(0, r.len);
    EXPECT_EQ(0, cio__conn_rbufs_held); /* paused: no buffer held */
    EXPECT_OK(cio_transport_resume_reading(t));
    WAIT_FOR(r.len == 3);
    EXPECT_TRUE(memcmp(r.data, "abc", 3) == 0);
    EXPECT_OK(cio_transport_abort(t));
    EXPECT_ERR(-EINVAL, cio_transport_abort(t)); /* already lost */
    WAIT_FOR(r.lost);
    EXPECT_ERR(-ECONNABORTED, r.lost_err);
    char c;
    EXPECT_EQ(0, cio_stream_read(p, &c, 1));
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(pause_and_resume_reading_then_abort)
{
    st_run(pread_main, NULL);
}

/* ---- half-close: eof_received decides -------------------------------- */

static int half_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    r.keep_open = true;
    cio_stream *p;
    cio_transport *t;
    tpair(&r, &p, &t);
    EXPECT_OK(cio_stream_write(p, "request", 7));
    EXPECT_OK(cio_stream_shutdown(p));
    WAIT_FOR(strchr(r.log, 'E'));
    EXPECT_FALSE(cio_transport_is_closing(t)); /* kept open for writing */
    EXPECT_OK(cio_transport_write(t, "reply", 5));
    EXPECT_OK(cio_transport_write_eof(t));
    EXPECT_ERR(-EPIPE, cio_transport_write(t, "more", 4));
    void *all;
    size_t len;
    EXPECT_OK(cio_stream_read_all(p, 100, &all, &len));
    EXPECT_STR_EQ("reply", (char *)all);
    free(all);
    EXPECT_FALSE(r.lost);
    EXPECT_OK(cio_transport_close(t));
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("MDEL", r.log);
    EXPECT_EQ(0, r.lost_err);
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(half_close_keep_open)
{
    st_run(half_main, NULL);
}

/* ---- no callback from inside a transport call; lost exactly once ------- */

static int reentry_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    r.close_on_data = true;
    cio_stream *p;
    cio_transport *t;
    tpair(&r, &p, &t);
    EXPECT_OK(cio_stream_write(p, "x", 1));
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("MDL", r.log);
    for (int i = 0; i < 5; i++)
        EXPECT_OK(cio_yield());
    EXPECT_STR_EQ("MDL", r.log);
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(close_inside_data_received)
{
    st_run(reentry_main, NULL);
}

static int made_fails_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    r.made_rc = -EPROTO;
    cio_stream *p;
    cio_transport *t;
    tpair(&r, &p, &t);
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("ML", r.log);
    EXPECT_ERR(-EPROTO, r.lost_err);
    char c;
    ssize_t n = cio_stream_read(p, &c, 1);
    EXPECT_TRUE(n == 0 || n == -ECONNRESET);
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(connection_made_error_aborts)
{
    st_run(made_fails_main, NULL);
}

/* ---- a peer that resets: connection_lost with the error ---------------- */

static int reset_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_stream *a, *b;
    st_tcp_pair(&a, &b, NULL);
    /* b becomes the transport */
    cio_transport *t;
    EXPECT_OK(cio_stream_to_transport(b, &rec_proto, &r, &t));
    WAIT_FOR(r.log[0] == 'M');
    EXPECT_OK(cio_stream_write(a, "x", 1));
    WAIT_FOR(r.len == 1);
    EXPECT_OK(cio_stream_abort(a)); /* RST */
    static char big[1 << 20];
    int rc = 0;
    for (int i = 0; i < 100 && !r.lost && rc == 0; i++) {
        rc = cio_transport_write(t, big, sizeof big);
        EXPECT_OK(cio_yield());
    }
    WAIT_FOR(r.lost);
    EXPECT_TRUE(r.lost_err == -ECONNRESET || r.lost_err == -EPIPE);
    return 0;
}

TEST(peer_reset_loses_connection)
{
    st_run(reset_main, NULL);
}

/* ---- hand-offs: transport -> stream -> transport, bytes in order ------- */

struct hand {
    struct rec a, b;
    cio_stream *s;
    cio_transport *t2;
    char line[64];
    ssize_t line_len;
    int done;
};

static struct hand *hand_of(struct rec *r)
{
    return (struct hand *)r;
}

static int hand_task(void *arg, void **res)
{
    (void)res;
    struct hand *h = arg;
    /* the bytes A wrote but the socket did not take go out first */
    EXPECT_OK(cio_stream_write(h->s, "from-task\n", 10));
    h->line_len = cio_stream_read_line(h->s, h->line, sizeof h->line);
    EXPECT_EQ(5, h->line_len);
    /* what is still buffered goes to B's data_received */
    EXPECT_OK(cio_stream_to_transport(h->s, &rec_proto, &h->b, &h->t2));
    h->done = 1;
    return 0;
}

static void hand_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct rec *r = ctx;
    struct hand *h = hand_of(r);
    rec_log(r, 'D');
    memcpy(r->data + r->len, data, len);
    r->len += len;
    static char big[300000];
    memset(big, 'A', sizeof big);
    r->in_call = 1;
    /* marks above what is written: the task's write will not wait for the
     * test's reader, which waits for the task */
    EXPECT_OK(cio_transport_set_water(t, 1 << 20, 0));
    EXPECT_OK(cio_transport_write(t, big, sizeof big));
    EXPECT_OK(cio_transport_to_stream(t, &h->s));
    EXPECT_PTR_EQ(t, h->s); /* the same connection, another face */
    r->in_call = 0;
    EXPECT_OK(cio_task_new(cio_transport_loop(t), NULL, hand_task, h, NULL));
}

static const cio_protocol hand_proto = {
    .connection_made = rec_made,
    .data_received = hand_data,
    .connection_lost = rec_lost,
};

static int hand_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct hand h;
    memset(&h, 0, sizeof h);
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    cio_stream *p;
    cio_transport *t;
    EXPECT_OK(cio_stream_new(fds[0], NULL, &p));
    EXPECT_OK(cio_transport_new(cio_current_loop(), fds[1], NULL, &hand_proto, &h.a, &t));
    EXPECT_OK(cio_stream_write(p, "first", 5));
    WAIT_FOR(h.a.len == 5);
    /* the task waits for a line; the rest of this write stays buffered */
    EXPECT_OK(cio_stream_write(p, "line\nrest", 9));
    WAIT_FOR(h.done);
    WAIT_FOR(h.b.len >= 4);
    EXPECT_OK(cio_stream_write(p, "-tail", 5));
    WAIT_FOR(h.b.len == 9);
    EXPECT_TRUE(memcmp(h.b.data, "rest-tail", 9) == 0);
    EXPECT_TRUE(memcmp(h.line, "line\n", 5) == 0);
    EXPECT_STR_EQ("MD", h.a.log); /* A: no connection_lost after the hand-off */
    /* what came back: A's 300,000 bytes, then the task's line, in order */
    static char in[300010];
    EXPECT_EQ((ssize_t)sizeof in, cio_stream_read_exactly(p, in, sizeof in));
    for (size_t i = 0; i < 300000; i++)
        if (in[i] != 'A')
            FAIL("byte %zu", i);
    EXPECT_TRUE(memcmp(in + 300000, "from-task\n", 10) == 0);
    EXPECT_OK(cio_transport_close(h.t2));
    WAIT_FOR(h.b.lost);
    EXPECT_STR_EQ("MDDL", h.b.log);
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(handoff_transport_stream_transport)
{
    st_run(hand_main, NULL);
}

/* A stream that saw the end with bytes still buffered becomes a transport:
 * data_received gets the bytes, then eof_received. */
static int eof_handoff_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    EXPECT_OK(cio_stream_write(a, "abc\ndef", 7));
    EXPECT_OK(cio_stream_shutdown(a));
    char line[8];
    EXPECT_EQ(4, cio_stream_read_line(b, line, sizeof line));
    EXPECT_ERR(-ENODATA, cio_stream_read_line(b, line, sizeof line)); /* saw the end */
    EXPECT_EQ(3, cio_stream_readable(b));
    cio_transport *t;
    EXPECT_OK(cio_stream_to_transport(b, &rec_proto, &r, &t));
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("MDEL", r.log);
    EXPECT_EQ(3, r.len);
    EXPECT_TRUE(memcmp(r.data, "def", 3) == 0);
    EXPECT_OK(cio_stream_close(a));
    return 0;
}

TEST(handoff_after_eof)
{
    st_run(eof_handoff_main, NULL);
}

/* ---- arguments ------------------------------------------------------------ */

static int targs_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_loop *loop = cio_current_loop();
    cio_transport *t;
    cio_future *f;
    cio_addr addr;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 1, &addr));
    EXPECT_ERR(-EINVAL, cio_transport_new(NULL, 0, NULL, &rec_proto, &r, &t));
    EXPECT_ERR(-EINVAL, cio_transport_new(loop, -1, NULL, &rec_proto, &r, &t));
    EXPECT_ERR(-EINVAL, cio_transport_new(loop, 0, NULL, NULL, &r, &t));
    EXPECT_ERR(-EINVAL, cio_transport_new(loop, 0, NULL, &rec_proto, &r, NULL));
    cio_protocol none = {0};
    EXPECT_ERR(-EINVAL, cio_transport_new(loop, 0, NULL, &none, &r, &t));
    EXPECT_ERR(-EINVAL, cio_transport_connect(NULL, &addr, NULL, NULL, &rec_proto, &r, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect(loop, NULL, NULL, NULL, &rec_proto, &r, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect(loop, &addr, NULL, NULL, NULL, &r, &f));
    cio_stream_options bad = CIO_STREAM_OPTIONS(.high_water = 1, .low_water = 2);
    EXPECT_ERR(-EINVAL, cio_transport_connect(loop, &addr, NULL, &bad, &rec_proto, &r, &f));
    EXPECT_ERR(-EINVAL, cio_transport_write(NULL, "x", 1));
    EXPECT_ERR(-EINVAL, cio_transport_writev(NULL, NULL, 0));
    EXPECT_ERR(-EINVAL, cio_transport_write_eof(NULL));
    EXPECT_ERR(-EINVAL, cio_transport_pause_reading(NULL));
    EXPECT_ERR(-EINVAL, cio_transport_resume_reading(NULL));
    EXPECT_ERR(-EINVAL, cio_transport_close(NULL));
    EXPECT_ERR(-EINVAL, cio_transport_abort(NULL));
    EXPECT_ERR(-EINVAL, cio_transport_set_water(NULL, 0, 0));
    EXPECT_ERR(-EINVAL, cio_transport_to_stream(NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_stream_to_transport(NULL, &rec_proto, &r, &t));
    EXPECT_EQ(-1, cio_transport_fd(NULL));
    EXPECT_EQ(0, cio_transport_buffered(NULL));
    EXPECT_TRUE(cio_transport_loop(NULL) == NULL);
    EXPECT_FALSE(cio_transport_is_closing(NULL));
    cio_stream *p;
    tpair(&r, &p, &t);
    EXPECT_TRUE(cio_transport_fd(t) >= 0);
    EXPECT_PTR_EQ(loop, cio_transport_loop(t));
    EXPECT_ERR(-EINVAL, cio_transport_set_water(t, 1, 2));
    EXPECT_OK(cio_transport_set_water(t, 0, 0));
    struct iovec v[2] = {{"ab", 2}, {"cd", 2}};
    EXPECT_OK(cio_transport_writev(t, v, 2));
    char buf[4];
    EXPECT_EQ(4, cio_stream_read_exactly(p, buf, 4));
    EXPECT_TRUE(memcmp(buf, "abcd", 4) == 0);
    /* a stream with a task inside cannot change face */
    cio_stream *ps;
    EXPECT_OK(cio_transport_close(t));
    EXPECT_ERR(-EINVAL, cio_transport_to_stream(t, &ps));
    EXPECT_ERR(-EINVAL, cio_transport_pause_reading(t));
    EXPECT_ERR(-EINVAL, cio_transport_write_eof(t));
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("ML", r.log);
    EXPECT_OK(cio_stream_close(p));
    return 0;
}

TEST(transport_arguments)
{
    st_run(targs_main, NULL);
}

static int busy_reader(void *arg, void **res)
{
    (void)res;
    char c;
    return cio_stream_read(arg, &c, 1) == 1 ? 0 : -EIO;
}

static int busy_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static struct rec r;
    memset(&r, 0, sizeof r);
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    cio_task *t;
    EXPECT_OK(cio_spawn(busy_reader, b, &t));
    EXPECT_OK(cio_yield());
    cio_transport *tr;
    EXPECT_ERR(-EBUSY, cio_stream_to_transport(b, &rec_proto, &r, &tr));
    EXPECT_OK(cio_stream_write(a, "z", 1));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(cio_stream_to_transport(b, &rec_proto, &r, &tr));
    /* a transport is not a stream any more */
    char c;
    EXPECT_ERR(-EINVAL, cio_stream_read(b, &c, 1));
    EXPECT_OK(cio_transport_close(tr));
    WAIT_FOR(r.lost);
    EXPECT_STR_EQ("ML", r.log);
    EXPECT_OK(cio_stream_close(a));
    return 0;
}

TEST(stream_to_transport_busy)
{
    st_run(busy_main, NULL);
}

/* From plain code, without any task: a transport on a loop driven by
 * cio_loop_run_once. */
TEST(transport_without_tasks)
{
    int before = st_fd_count();
    cio_loop *loop = test_strict_loop_new();
    static struct rec r;
    memset(&r, 0, sizeof r);
    r.echo = true;
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    cio_transport *t;
    EXPECT_OK(cio_transport_new(loop, fds[1], NULL, &rec_proto, &r, &t));
    for (int i = 0; i < 100 && r.log[0] != 'M'; i++)
        cio_loop_run_once(loop, CIO_RUN_NOWAIT);
    EXPECT_EQ('M', r.log[0]);
    EXPECT_EQ(5, write(fds[0], "hello", 5));
    for (int i = 0; i < 1000 && r.len < 5; i++)
        cio_loop_run_once(loop, 0);
    char buf[8];
    struct pollfd pf = {fds[0], POLLIN, 0};
    EXPECT_EQ(1, poll(&pf, 1, 10000));
    EXPECT_EQ(5, read(fds[0], buf, sizeof buf));
    close(fds[0]);
    for (int i = 0; i < 1000 && !r.lost; i++)
        cio_loop_run_once(loop, 0);
    EXPECT_TRUE(r.lost);
    CLOSE_LOOP(loop);
    EXPECT_EQ(before, st_fd_count());
}

/* ---- 10,000 idle transports: no read buffer, a small object each ------ */

#include <sys/resource.h>

#define IDLE_T 10000
static int idle_made_count, idle_data_count;

static int idle_made(cio_transport *t, void *arg, void **ctx)
{
    (void)t;
    (void)arg;
    (void)ctx;
    idle_made_count++;
    return 0;
}

static void idle_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)t;
    (void)d;
    (void)len;
    (void)ctx;
    idle_data_count++;
}

static const cio_protocol idle_proto = {.connection_made = idle_made, .data_received = idle_data};

static int idle_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct rlimit rl;
    EXPECT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_max < IDLE_T + 200) {
        fprintf(stderr, "skipped: RLIMIT_NOFILE hard limit %lu\n", (unsigned long)rl.rlim_max);
        return 0;
    }
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = IDLE_T + 200;
    EXPECT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
    /* both ends of each socketpair are transports */
    cio_transport **t = calloc(IDLE_T, sizeof *t);
    size_t rss0 = st_rss();
    for (int i = 0; i < IDLE_T; i += 2) {
        int fds[2];
        EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
        EXPECT_OK(cio_transport_new(cio_current_loop(), fds[0], NULL, &idle_proto, NULL, &t[i]));
        EXPECT_OK(cio_transport_new(cio_current_loop(), fds[1], NULL, &idle_proto, NULL, &t[i + 1]));
    }
    WAIT_FOR(idle_made_count == IDLE_T);
    size_t rss1 = st_rss();
    /* one message through each pair: each read took a pool buffer and gave
     * it back */
    for (int i = 0; i < IDLE_T; i += 2)
        EXPECT_OK(cio_transport_write(t[i], "x", 1));
    WAIT_FOR(idle_data_count == IDLE_T / 2);
    EXPECT_EQ(0, cio__conn_rbufs_held);
    EXPECT_TRUE(cio__net_get(cio_current_loop())->buf_nfree <= CIO__BUF_POOL_MAX);
    size_t per = rss1 > rss0 ? (rss1 - rss0) / IDLE_T : 0;
    fprintf(stderr, "idle transport: sizeof %zu, RSS growth %zu B per transport\n",
            sizeof(struct cio__conn), per);
    EXPECT_TRUE(per <= 1024);
    for (int i = 0; i < IDLE_T; i++)
        EXPECT_OK(cio_transport_abort(t[i]));
    for (int i = 0; i < 5; i++)
        EXPECT_OK(cio_yield());
    free(t);
    rl.rlim_cur = old;
    setrlimit(RLIMIT_NOFILE, &rl);
    return 0;
}

TEST(idle_transports_hold_no_buffer)
{
    st_run(idle_main, NULL);
}

/* The same scenarios on the level-triggered poll backend. */
TEST(poll_backend)
{
    setenv("CIO_BACKEND", "poll", 1);
    st_run(echo_main, NULL);
    st_run(connect_main, NULL);
    st_run(flow_main, NULL);
    st_run(pread_main, NULL);
    st_run(half_main, NULL);
    st_run(hand_main, NULL);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
