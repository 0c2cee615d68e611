/* Servers (src/net/server.c): argument checks, both styles, Unix sockets,
 * adopting a listening socket, graceful close, the connection cap. The
 * 1,000-client runs are in test_server_load.c, the descriptor shortage in
 * test_server_emfile.c, Python interop in test_server_interop.c. */
#include <math.h>
#include <netinet/tcp.h>
#include <sys/stat.h>

#include "net/server_util.h"

#define RUN(fn, arg)                                                                              \
    do {                                                                                          \
        int before_ = fd_count_warm();                                                                          \
        EXPECT_OK(cio_run(fn, arg, NULL));                                                        \
        EXPECT_FDS(before_);                                                           \
    } while (0)

/* ---- Arguments --------------------------------------------------------------- */

struct args_ctx {
    cio_server *srv;
    int close_rc_cb, close_rc_cb_empty;
    bool cb_ran, cb_empty_ran;
    int deadlk_rc;
    bool handler_done;
};

static void try_close_cb(void *arg)
{
    struct args_ctx *c = arg;
    c->close_rc_cb = cio_server_close(c->srv, 1);
    c->cb_ran = true;
}

static int self_close_handler(cio_stream *s, void *arg)
{
    struct args_ctx *c = arg;
    c->deadlk_rc = cio_server_close(c->srv, 0);
    c->handler_done = true;
    (void)s;
    return 0;
}

static void close_empty_cb(void *arg)
{
    struct args_ctx *c = arg;
    c->close_rc_cb_empty = cio_server_close(c->srv, 1);
    c->cb_empty_ran = true;
}

static int args_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4(), empty = {0};
    cio_server *srv = (cio_server *)1;
    EXPECT_ERR(-EINVAL, cio_server_new(&a, NULL, NULL, NULL, &srv));
    EXPECT_PTR_EQ(NULL, srv);
    EXPECT_ERR(-EINVAL, cio_server_new(&a, NULL, echo_handler, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_server_new(NULL, NULL, echo_handler, NULL, &srv));
    EXPECT_ERR(-EINVAL, cio_server_new(&empty, NULL, echo_handler, NULL, &srv));
    EXPECT_ERR(-EINVAL, cio_server_new_protocol(&a, NULL, NULL, NULL, &srv));
    /* Options: not initialised, from a newer header, nested ones too. */
    cio_server_options bad = {0};
    EXPECT_ERR(-EINVAL, cio_server_new(&a, &bad, echo_handler, NULL, &srv));
    struct {
        cio_server_options o;
        uint64_t extra;
    } newer = {.o = CIO_SERVER_OPTIONS_INIT, .extra = 1};
    newer.o.size = sizeof newer;
    EXPECT_ERR(-E2BIG, cio_server_new(&a, &newer.o, echo_handler, NULL, &srv));
    cio_socket_options bad_sock = {0};
    EXPECT_ERR(-EINVAL,
               cio_server_new(&a, &CIO_SERVER_OPTIONS(.socket = &bad_sock), echo_handler, NULL, &srv));
    cio_stream_options bad_stream = {0};
    EXPECT_ERR(-EINVAL, cio_server_new(&a, &CIO_SERVER_OPTIONS(.stream = &bad_stream), echo_handler,
                                       NULL, &srv));
    /* Both an address and a descriptor; a descriptor that is no listener. */
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    EXPECT_ERR(-EINVAL, cio_server_new(&a, &CIO_SERVER_OPTIONS(.fd = &fds[0]), echo_handler, NULL,
                                       &srv));
    EXPECT_ERR(-EINVAL, cio_server_new(NULL, &CIO_SERVER_OPTIONS(.fd = &fds[0]), echo_handler, NULL,
                                       &srv));
    int neg = -1;
    EXPECT_ERR(-EINVAL,
               cio_server_new(NULL, &CIO_SERVER_OPTIONS(.fd = &neg), echo_handler, NULL, &srv));
    close(fds[0]);
    close(fds[1]);

    /* The listen error passes through. */
    cio_server *s1;
    EXPECT_OK(cio_server_new(&a, NULL, echo_handler, NULL, &s1));
    cio_addr bound;
    EXPECT_OK(cio_server_addr(s1, &bound));
    EXPECT_NE(0, cio_addr_port(&bound));
    EXPECT_ERR(-EADDRINUSE, cio_server_new(&bound, NULL, echo_handler, NULL, &srv));

    /* Getters and closes with bad arguments. */
    EXPECT_ERR(-EINVAL, cio_server_addr(NULL, &bound));
    EXPECT_ERR(-EINVAL, cio_server_addr(s1, NULL));
    EXPECT_EQ(0, cio_server_connections(NULL));
    EXPECT_EQ(0, cio_server_connections(s1));
    EXPECT_ERR(-EINVAL, cio_server_close(NULL, 0));
    EXPECT_ERR(-EINVAL, cio_server_close(s1, NAN));
    EXPECT_ERR(-EINVAL, cio_server_close(s1, -1));
    cio_future *f = NULL;
    EXPECT_ERR(-EINVAL, cio_server_close_future(NULL, 0, &f));
    EXPECT_ERR(-EINVAL, cio_server_close_future(s1, 0, NULL));
    EXPECT_ERR(-EINVAL, cio_server_close_future(s1, NAN, &f));

    /* Outside a task, with a connection open: -EPERM, nothing freed. From
     * the connection's own handler: -EDEADLK. */
    struct args_ctx ctx = {.srv = NULL};
    EXPECT_OK(cio_server_new(&a, NULL, self_close_handler, &ctx, &ctx.srv));
    cio_addr a2;
    EXPECT_OK(cio_server_addr(ctx.srv, &a2));
    cio_stream *cl;
    EXPECT_OK(cio_stream_connect(&a2, NULL, NULL, &cl));
    WAIT_UNTIL(ctx.handler_done);
    EXPECT_ERR(-EDEADLK, ctx.deadlk_rc);
    cio_stream_close(cl);
    /* The handler returned: the connection goes once its task ended. */
    WAIT_UNTIL(cio_server_connections(ctx.srv) == 0);
    EXPECT_OK(cio_server_close(ctx.srv, 1));

    struct args_ctx c2 = {.srv = NULL};
    EXPECT_OK(cio_server_new(&a, NULL, echo_handler, NULL, &c2.srv));
    EXPECT_OK(cio_server_addr(c2.srv, &a2));
    EXPECT_OK(cio_stream_connect(&a2, NULL, NULL, &cl));
    WAIT_UNTIL(cio_server_connections(c2.srv) == 1);
    EXPECT_OK(cio_call_soon(cio_current_loop(), try_close_cb, &c2));
    WAIT_UNTIL(c2.cb_ran);
    EXPECT_ERR(-EPERM, c2.close_rc_cb);
    EXPECT_EQ(1, cio_server_connections(c2.srv));
    EXPECT_OK(cio_stream_close(cl));
    WAIT_UNTIL(cio_server_connections(c2.srv) == 0);
    /* With no connection, a close outside a task frees at once. */
    EXPECT_OK(cio_call_soon(cio_current_loop(), close_empty_cb, &c2));
    WAIT_UNTIL(c2.cb_empty_ran);
    EXPECT_OK(c2.close_rc_cb_empty);

    /* A second close of the same server is refused while the first runs:
     * not checked (the first frees it). The one without connections: */
    EXPECT_OK(cio_server_close_future(s1, 0, &f));
    EXPECT_TRUE(cio_future_is_done(f));
    EXPECT_OK(cio_future_error(f));
    cio_future_unref(f);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(arguments_and_errors) { RUN(args_main, NULL); }

/* Outside a running loop: -EPERM. */
TEST(no_running_loop)
{
    cio_addr a = loopback4();
    cio_server *srv;
    EXPECT_ERR(-EPERM, cio_server_new(&a, NULL, echo_handler, NULL, &srv));
    EXPECT_ERR(-EPERM, cio_server_new_protocol(&a, NULL, &echo_protocol, NULL, &srv));
}

/* ---- Both styles, a few clients -------------------------------------------------- */

struct small_ctx {
    cio_addr addr;
    int done;
};

static int small_client(void *arg, void **res)
{
    (void)res;
    struct small_ctx *c = arg;
    cio_stream *s;
    int rc = cio_stream_connect(&c->addr, NULL, NULL, &s);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 10 && rc == 0; i++) {
        char line[64];
        snprintf(line, sizeof line, "line %d of %p\n", i, (void *)&rc);
        rc = echo_round(s, line);
    }
    int crc = cio_stream_close(s);
    if (rc == 0)
        c->done++;
    return rc < 0 ? rc : crc;
}

static int run_clients(struct small_ctx *c, int n)
{
    cio_task_group *g;
    EXPECT_OK(cio_task_group_begin(&g));
    for (int i = 0; i < n; i++)
        EXPECT_OK(cio_task_group_spawn(g, NULL, small_client, c, NULL));
    return cio_task_group_end(g);
}

static int styles_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4();
    struct small_ctx c = {.done = 0};
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.name = "small", .stack_size = 64 * 1024),
                             echo_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &c.addr));
    EXPECT_OK(run_clients(&c, 20));
    EXPECT_EQ(20, c.done);
    EXPECT_OK(cio_server_close(srv, 5));

    struct echo_proto_stats st = {0};
    c.done = 0;
    EXPECT_OK(cio_server_new_protocol(&a, NULL, &echo_protocol, &st, &srv));
    EXPECT_OK(cio_server_addr(srv, &c.addr));
    EXPECT_OK(run_clients(&c, 20));
    EXPECT_EQ(20, c.done);
    EXPECT_OK(cio_server_close(srv, 5));
    EXPECT_EQ(20, st.made);
    EXPECT_EQ(20, st.lost);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(echo_both_styles) { RUN(styles_main, NULL); }

/* ---- Handler tasks: names, results, the stream the handler left --------------------- */

struct named_ctx {
    char name[64];
    cio_task *task;
    int which;
};

static int named_handler(cio_stream *s, void *arg)
{
    struct named_ctx *c = arg;
    cio_task *self = cio_current_task();
    snprintf(c->name, sizeof c->name, "%s", cio_task_name(self));
    c->task = cio_future_ref(self);
    /* Write a reply and return without closing: the server flushes and
     * closes it. Then a positive result. */
    cio_stream_write(s, "bye\n", 4);
    return 42;
}

static int erring_handler(cio_stream *s, void *arg)
{
    (void)arg;
    /* Closes the stream itself, then fails: no report (the server reads
     * the outcome), no double close. */
    cio_stream_close(s);
    return -ECONNRESET;
}

static int handler_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4(), at;
    struct named_ctx c = {.task = NULL};
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.name = "web"), named_handler, &c, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    cio_stream *cl;
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &cl));
    void *data;
    size_t len;
    EXPECT_OK(cio_stream_read_all(cl, 1024, &data, &len));
    EXPECT_EQ(4, len);
    EXPECT_TRUE(memcmp(data, "bye\n", 4) == 0);
    free(data);
    EXPECT_OK(cio_stream_close(cl));
    EXPECT_STR_EQ("web-conn", c.name);
    void *v = NULL;
    EXPECT_OK(cio_await(c.task, &v));
    EXPECT_EQ(42, (intptr_t)v);
    cio_future_unref(c.task);
    EXPECT_OK(cio_server_close(srv, 1));

    /* The default name; a handler that closes its stream and fails. */
    EXPECT_OK(cio_server_new(&a, NULL, erring_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &cl));
        char b[8];
        ssize_t n = cio_stream_read(cl, b, sizeof b);
        EXPECT_TRUE(n == 0 || n == -ECONNRESET);
        cio_stream_abort(cl);
    }
    WAIT_UNTIL(cio_server_connections(srv) == 0);
    EXPECT_OK(cio_server_close(srv, 1));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(handler_result_name_and_stream_left_open) { RUN(handler_main, NULL); }

/* ---- Accepted sockets get the options --------------------------------------------- */

struct opt_seen {
    int nodelay, keepalive;
    bool done;
};

static int opt_handler(cio_stream *s, void *arg)
{
    struct opt_seen *o = arg;
    socklen_t len = sizeof o->nodelay;
    getsockopt(cio_stream_fd(s), IPPROTO_TCP, TCP_NODELAY, &o->nodelay, &len);
    len = sizeof o->keepalive;
    getsockopt(cio_stream_fd(s), SOL_SOCKET, SO_KEEPALIVE, &o->keepalive, &len);
    o->done = true;
    return 0;
}

static void check_options(const cio_socket_options *so, int nodelay, int keepalive)
{
    cio_addr a = loopback4(), at;
    struct opt_seen o = {.done = false};
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.socket = so), opt_handler, &o, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    cio_stream *cl;
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &cl));
    WAIT_UNTIL(o.done);
    EXPECT_EQ(nodelay, o.nodelay != 0);
    EXPECT_EQ(keepalive, o.keepalive != 0);
    cio_stream_abort(cl);
    EXPECT_OK(cio_server_close(srv, 1));
}

static int options_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    check_options(NULL, 1, 0);
    check_options(&CIO_SOCKET_OPTIONS(.nagle = true), 0, 0);
    check_options(&CIO_SOCKET_OPTIONS(.keepalive = true, .keepalive_idle = 30), 1, 1);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(accepted_sockets_get_the_options) { RUN(options_main, NULL); }

/* ---- Hand-offs between the styles leave the server ---------------------------------- */

static struct echo_proto_stats handoff_stats;

static int to_transport_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char line[64];
    ssize_t n = cio_stream_read_line(s, line, sizeof line);
    if (n < 0)
        return (int)n;
    int rc = cio_stream_write(s, line, (size_t)n);
    if (rc < 0)
        return rc;
    cio_transport *t;
    /* From now on the connection is a transport, no longer the server's. */
    return cio_stream_to_transport(s, &echo_protocol, &handoff_stats, &t);
}

static int stream_task(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    int rc = echo_handler(s, NULL);
    cio_stream_close(s);
    return rc;
}

static void to_stream_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    cio_stream *s;
    /* The first bytes go back from here, the rest from a task. */
    cio_transport_write(t, data, len);
    if (cio_transport_to_stream(t, &s) == 0 &&
        cio_task_new(cio_transport_loop(t), NULL, stream_task, s, NULL) != 0)
        cio_stream_abort(s);
}
static const cio_protocol to_stream_protocol = {.data_received = to_stream_data};

static int handoff_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4(), at;
    cio_server *srv;
    cio_stream *cl;

    EXPECT_OK(cio_server_new(&a, NULL, to_transport_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &cl));
    EXPECT_OK(echo_round(cl, "as a stream\n"));
    WAIT_UNTIL(cio_server_connections(srv) == 0);
    EXPECT_OK(echo_round(cl, "as a transport\n"));
    EXPECT_OK(cio_server_close(srv, 0)); /* nothing of the server's left */
    EXPECT_OK(echo_round(cl, "still served\n"));
    EXPECT_OK(cio_stream_close(cl));
    WAIT_UNTIL(handoff_stats.lost == 1);

    EXPECT_OK(cio_server_new_protocol(&a, NULL, &to_stream_protocol, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &cl));
    EXPECT_OK(echo_round(cl, "to a transport\n"));
    WAIT_UNTIL(cio_server_connections(srv) == 0);
    EXPECT_OK(cio_server_close(srv, 0));
    EXPECT_OK(echo_round(cl, "now a task's stream\n"));
    EXPECT_OK(cio_stream_close(cl));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(handoffs_leave_the_server) { RUN(handoff_main, NULL); }

/* ---- Unix sockets ------------------------------------------------------------------ */

static int unix_main(void *arg, void **res)
{
    (void)res;
    const char *dir = arg;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    char path[256];
    snprintf(path, sizeof path, "%s/echo.sock", dir);
    cio_addr a;
    EXPECT_OK(cio_addr_unix(path, &a));
    struct small_ctx c = {.done = 0};
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, NULL, echo_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &c.addr));
    EXPECT_TRUE(cio_addr_is_equal(&a, &c.addr));
    EXPECT_OK(run_clients(&c, 10));
    EXPECT_EQ(10, c.done);
    EXPECT_OK(cio_server_close(srv, 5));
    /* The server removed the socket file it made. */
    struct stat st;
    EXPECT_ERR(-1, stat(path, &st));

    /* An abstract name, protocol style. */
    char name[64];
    snprintf(name, sizeof name, "@cio-test-server-%d", (int)getpid());
    EXPECT_OK(cio_addr_unix(name, &a));
    struct echo_proto_stats ps = {0};
    EXPECT_OK(cio_server_new_protocol(&a, NULL, &echo_protocol, &ps, &srv));
    EXPECT_OK(cio_server_addr(srv, &c.addr));
    EXPECT_TRUE(cio_addr_is_equal(&a, &c.addr));
    c.done = 0;
    EXPECT_OK(run_clients(&c, 10));
    EXPECT_EQ(10, c.done);
    EXPECT_OK(cio_server_close(srv, 5));
    EXPECT_EQ(10, ps.lost);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(unix_socket_servers)
{
    char dir[] = "/tmp/cio-server-XXXXXX";
    EXPECT_TRUE(mkdtemp(dir) != NULL);
    RUN(unix_main, dir);
    EXPECT_OK(rmdir(dir));
}

/* ---- Adopting a listening socket (SO_REUSEPORT, one per loop) ----------------------- */

static int adopt_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4(), at;
    cio_socket_options so = CIO_SOCKET_OPTIONS(.reuseport = true);
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, &so, &lfd));
    cio_server *srv;
    EXPECT_OK(cio_server_new(NULL, &CIO_SERVER_OPTIONS(.fd = &lfd, .socket = &so), echo_handler,
                             NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    cio_addr local;
    EXPECT_OK(cio_socket_local(lfd, &local));
    EXPECT_TRUE(cio_addr_is_equal(&local, &at));
    /* A second socket on the same port, as a second loop would have. */
    int lfd2;
    EXPECT_OK(cio_socket_listen(&at, &so, &lfd2));
    cio_server *srv2;
    EXPECT_OK(cio_server_new(NULL, &CIO_SERVER_OPTIONS(.fd = &lfd2, .socket = &so), echo_handler,
                             NULL, &srv2));
    struct small_ctx c = {.addr = at};
    EXPECT_OK(run_clients(&c, 20));
    EXPECT_EQ(20, c.done);
    EXPECT_OK(cio_server_close(srv, 5)); /* closes lfd */
    EXPECT_OK(cio_server_close(srv2, 5));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(adopted_reuseport_listeners) { RUN(adopt_main, NULL); }

/* ---- Graceful close ---------------------------------------------------------------- */

struct grace_ctx {
    cio_event *go;
    cio_task *fast, *slow;
    int started;
    int slow_rc;
};

/* The first byte says which: 'F' finishes once `go` is set (inside the
 * grace period), 'S' reads on and is cancelled when the grace ends. */
static int grace_handler(cio_stream *s, void *arg)
{
    struct grace_ctx *c = arg;
    char b;
    ssize_t n = cio_stream_read_exactly(s, &b, 1);
    if (n < 0)
        return (int)n;
    if (b == 'F') {
        c->fast = cio_future_ref(cio_current_task());
        c->started++;
        int rc = cio_event_wait(c->go);
        return rc < 0 ? rc : 7;
    }
    c->slow = cio_future_ref(cio_current_task());
    c->started++;
    char buf[16];
    n = cio_stream_read(s, buf, sizeof buf);
    c->slow_rc = (int)n;
    return n < 0 ? (int)n : 0;
}

static void set_event_cb(void *ev) { cio_event_set(ev); }

static int grace_main(void *arg, void **res)
{
    (void)res;
    bool use_future = arg != NULL;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    struct grace_ctx c = {.started = 0};
    EXPECT_OK(cio_event_new(&c.go));
    cio_addr a = loopback4(), at;
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, NULL, grace_handler, &c, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    cio_stream *fast, *slow;
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &fast));
    EXPECT_OK(cio_stream_write(fast, "F", 1));
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &slow));
    EXPECT_OK(cio_stream_write(slow, "S", 1));
    WAIT_UNTIL(c.started == 2);
    EXPECT_EQ(2, cio_server_connections(srv));

    cio_future *closed = NULL;
    if (use_future) {
        EXPECT_OK(cio_server_close_future(srv, 0.2, &closed));
        /* The fast handler finishes inside the grace period: its wakeup is
         * queued now, before the grace timer can fire. */
        cio_event_set(c.go);
        /* The listener is gone at once. */
        int fd;
        EXPECT_ERR(-ECONNREFUSED, cio_socket_connect(&at, NULL, &fd));
        EXPECT_OK(cio_await(closed, NULL));
        cio_future_unref(closed);
    } else {
        /* From a task: the same, with go set by a callback queued first. */
        EXPECT_OK(cio_call_soon(cio_current_loop(), set_event_cb, c.go));
        EXPECT_OK(cio_server_close(srv, 0.2));
        int fd;
        EXPECT_ERR(-ECONNREFUSED, cio_socket_connect(&at, NULL, &fd));
    }
    /* Close returned after both: the fast one kept its result, the slow
     * one was cancelled. */
    EXPECT_TRUE(cio_future_is_done(c.fast));
    EXPECT_TRUE(cio_future_is_done(c.slow));
    void *v = NULL;
    EXPECT_OK(cio_future_result(c.fast, &v));
    EXPECT_EQ(7, (intptr_t)v);
    EXPECT_ERR(-ECANCELED, cio_future_error(c.slow));
    EXPECT_ERR(-ECANCELED, c.slow_rc);
    cio_future_unref(c.fast);
    cio_future_unref(c.slow);
    /* Both clients see the end. */
    char b[8];
    ssize_t n = cio_stream_read(fast, b, sizeof b);
    EXPECT_TRUE(n == 0 || n == -ECONNRESET);
    n = cio_stream_read(slow, b, sizeof b);
    EXPECT_TRUE(n == 0 || n == -ECONNRESET);
    cio_stream_abort(fast);
    cio_stream_abort(slow);
    EXPECT_OK(cio_event_free(c.go));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(graceful_close_future) { RUN(grace_main, (void *)1); }
TEST(graceful_close_from_task) { RUN(grace_main, NULL); }

/* A closer that is cancelled cuts the grace short and still returns only
 * once the handlers ended. */
struct cut_ctx {
    cio_server *srv;
    int rc;
};
static int closer_task(void *arg, void **res)
{
    (void)res;
    struct cut_ctx *c = arg;
    c->rc = cio_server_close(c->srv, 3600);
    return c->rc == -ECANCELED ? c->rc : 0;
}

static int cut_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    struct grace_ctx g = {.started = 0};
    EXPECT_OK(cio_event_new(&g.go));
    cio_addr a = loopback4(), at;
    struct cut_ctx c = {.rc = 1};
    EXPECT_OK(cio_server_new(&a, NULL, grace_handler, &g, &c.srv));
    EXPECT_OK(cio_server_addr(c.srv, &at));
    cio_stream *slow;
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &slow));
    EXPECT_OK(cio_stream_write(slow, "S", 1));
    WAIT_UNTIL(g.started == 1);
    cio_task *closer;
    EXPECT_OK(cio_spawn(closer_task, &c, &closer));
    EXPECT_OK(cio_yield()); /* the closer starts waiting */
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(closer));
    EXPECT_ERR(-ECANCELED, cio_await(closer, NULL));
    EXPECT_ERR(-ECANCELED, c.rc);
    EXPECT_TRUE(cio_future_is_done(g.slow));
    EXPECT_ERR(-ECANCELED, cio_future_error(g.slow));
    cio_future_unref(g.slow);
    cio_future_unref(closer);
    cio_stream_abort(slow);
    EXPECT_OK(cio_event_free(g.go));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(cancelled_closer_cuts_grace_short) { RUN(cut_main, NULL); }

/* Protocol connections get cio_transport_close at once; one whose buffer
 * cannot drain within the grace period is aborted. */
struct flood_stats {
    int lost, lost_clean;
};
static int flood_made(cio_transport *t, void *arg, void **ctx)
{
    (void)arg;
    (void)ctx;
    /* 16 MiB the client never reads while the server closes. */
    static char chunk[65536];
    for (int i = 0; i < 256; i++)
        cio_transport_write(t, chunk, sizeof chunk);
    return 0;
}
static void flood_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    struct flood_stats *st = ctx;
    st->lost++;
    if (error == 0)
        st->lost_clean++;
}
static void flood_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)t, (void)data, (void)len, (void)ctx;
}
static const cio_protocol flood_protocol = {
    .connection_made = flood_made, .data_received = flood_data, .connection_lost = flood_lost};

static int proto_close_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4(), at;
    /* Echo connections: closed at once, cleanly, without waiting out a
     * long grace period (the deadline scope above would fail it). */
    struct echo_proto_stats st = {0};
    cio_server *srv;
    EXPECT_OK(cio_server_new_protocol(&a, NULL, &echo_protocol, &st, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    cio_stream *cl[3];
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &cl[i]));
        EXPECT_OK(echo_round(cl[i], "hi\n"));
    }
    EXPECT_EQ(3, cio_server_connections(srv));
    EXPECT_OK(cio_server_close(srv, 3600));
    EXPECT_EQ(3, st.lost_clean);
    for (int i = 0; i < 3; i++) {
        char b[8];
        EXPECT_EQ(0, cio_stream_read(cl[i], b, sizeof b));
        EXPECT_OK(cio_stream_close(cl[i]));
    }

    /* A connection that cannot flush: aborted when the grace ends. */
    struct flood_stats fs = {0};
    EXPECT_OK(cio_server_new_protocol(&a, NULL, &flood_protocol, &fs, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    cio_stream *c;
    EXPECT_OK(cio_stream_connect(&at, NULL, NULL, &c));
    WAIT_UNTIL(cio_server_connections(srv) == 1);
    EXPECT_OK(cio_server_close(srv, 0.1));
    EXPECT_EQ(1, fs.lost);
    EXPECT_EQ(0, fs.lost_clean);
    cio_stream_abort(c);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(protocol_close_and_abort) { RUN(proto_close_main, NULL); }

/* ---- The connection cap ------------------------------------------------------------ */

struct cap_ctx {
    int active, max_active, served;
    cio_event *release[3];
    int order;
};

static int cap_handler(cio_stream *s, void *arg)
{
    struct cap_ctx *c = arg;
    int me = c->order++;
    c->active++;
    if (c->active > c->max_active)
        c->max_active = c->active;
    int rc = cio_event_wait(c->release[me]);
    c->active--;
    if (rc < 0)
        return rc;
    c->served++;
    return cio_stream_write(s, "ok\n", 3);
}

struct cap_client {
    cio_addr addr;
    int got;
};
static int cap_client_main(void *arg, void **res)
{
    (void)res;
    struct cap_client *cc = arg;
    cio_stream *s;
    int rc = cio_stream_connect(&cc->addr, NULL, NULL, &s);
    if (rc < 0)
        return rc;
    char line[16];
    ssize_t n = cio_stream_read_line(s, line, sizeof line);
    if (n == 3 && memcmp(line, "ok\n", 3) == 0)
        cc->got++;
    cio_stream_close(s);
    return n < 0 ? (int)n : 0;
}

static int cap_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    struct cap_ctx c = {.active = 0};
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_event_new(&c.release[i]));
    cio_addr a = loopback4();
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.max_connections = 2), cap_handler, &c, &srv));
    struct cap_client cc = {.got = 0};
    EXPECT_OK(cio_server_addr(srv, &cc.addr));
    cio_task *clients[3];
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_spawn(cap_client_main, &cc, &clients[i]));
    WAIT_UNTIL(c.active == 2);
    /* The third connection is made (the kernel completed it) but waits in
     * the backlog: give the loop many turns to get it wrong. */
    for (int i = 0; i < 50; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(2, c.active);
    EXPECT_EQ(2, cio_server_connections(srv));
    uint64_t st[4];
    cio__server_stats(srv, st);
    EXPECT_EQ(2, st[ST_ACCEPTED]);
    /* One closes: the third is served. */
    cio_event_set(c.release[0]);
    WAIT_UNTIL(c.order == 3);
    EXPECT_EQ(2, c.max_active);
    cio_event_set(c.release[1]);
    cio_event_set(c.release[2]);
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(cio_await(clients[i], NULL));
        cio_future_unref(clients[i]);
    }
    EXPECT_EQ(3, cc.got);
    EXPECT_EQ(3, c.served);
    EXPECT_EQ(2, c.max_active);
    EXPECT_OK(cio_server_close(srv, 5));
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_event_free(c.release[i]));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(connection_cap) { RUN(cap_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
