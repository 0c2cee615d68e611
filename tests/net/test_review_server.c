/* Review: adversarial server cases: a handler that hands its stream to a
 * transport, aborts it, or closes the server; a close while clients wait
 * in the backlog; a second close during the first; a protocol that closes
 * its own server from a callback. Each on both backends. */
#include <math.h>

#include "net/test_stream_util.h"

static void run_both(cio_task_fn fn, void *arg)
{
    static const char *const names[] = {"epoll", "poll"};
    EXPECT_OK(cio_run(st_nothing, NULL, NULL));
    for (int i = 0; i < 2; i++) {
        int before = st_fd_count();
        cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
        o.backend = names[i];
        EXPECT_OK(cio_run_with(&o, fn, arg, NULL));
        EXPECT_EQ(before, st_fd_count());
    }
}

#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        int n_ = 0;                                                                                \
        while (!(cond)) {                                                                          \
            if (++n_ > 100000)                                                                     \
                FAIL("timed out waiting for " #cond);                                              \
            EXPECT_OK(cio_yield());                                                                \
        }                                                                                          \
    } while (0)

static cio_addr loopback(void)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    return a;
}

/* ---- a handler hands its stream to a transport ------------------------------ */

struct echo_state {
    int made, lost;
};

static int echo_made(cio_transport *t, void *arg, void **ctx)
{
    (void)t;
    (void)ctx;
    ((struct echo_state *)arg)->made++;
    return 0;
}

static void echo_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)ctx;
    EXPECT_OK(cio_transport_write(t, d, len));
}

static void echo_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    (void)err;
    ((struct echo_state *)ctx)->lost++;
}

static const cio_protocol echo_proto = {
    .connection_made = echo_made, .data_received = echo_data, .connection_lost = echo_lost};

static struct echo_state handed;

static int handoff_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char b[4];
    EXPECT_EQ(4, cio_stream_read_exactly(s, b, 4)); /* "ping" */
    cio_transport *t;
    EXPECT_OK(cio_stream_to_transport(s, &echo_proto, &handed, &t));
    return 0;
}

static int handoff_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    handed = (struct echo_state){0};
    cio_addr a = loopback();
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, NULL, handoff_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &a));
    cio_stream *c;
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &c));
    EXPECT_OK(cio_stream_write(c, "pingecho", 8));
    char b[8];
    EXPECT_EQ(4, cio_stream_read_exactly(c, b, 4));
    EXPECT_TRUE(memcmp(b, "echo", 4) == 0);
    WAIT_UNTIL(cio_server_connections(srv) == 0);
    EXPECT_OK(cio_server_close(srv, 1.0));
    /* The transport is no longer the server's: it goes on. */
    EXPECT_OK(cio_stream_write(c, "more", 4));
    EXPECT_EQ(4, cio_stream_read_exactly(c, b, 4));
    EXPECT_OK(cio_stream_close(c));
    WAIT_UNTIL(handed.lost == 1);
    EXPECT_EQ(1, handed.made);
    return 0;
}

TEST(handler_hands_stream_to_transport)
{
    run_both(handoff_main, NULL);
}

/* ---- a handler aborts its stream, or closes the server ---------------------- */

static cio_server *self_srv;
static cio_future *self_closed;
static int self_rc;

static int abort_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char b[1];
    EXPECT_EQ(1, cio_stream_read(s, b, 1));
    if (b[0] == 'a') {
        EXPECT_OK(cio_stream_abort(s));
    } else if (b[0] == 'c') {
        self_rc = cio_server_close(self_srv, INFINITY);
        EXPECT_OK(cio_server_close_future(self_srv, INFINITY, &self_closed));
        EXPECT_EQ(-EINVAL, cio_server_close_future(self_srv, INFINITY, &self_closed));
        EXPECT_OK(cio_stream_write(s, "bye", 3));
    }
    return 0;
}

static int abort_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_addr a = loopback();
    EXPECT_OK(cio_server_new(&a, NULL, abort_handler, NULL, &self_srv));
    EXPECT_OK(cio_server_addr(self_srv, &a));
    cio_stream *c;
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &c));
    EXPECT_OK(cio_stream_write(c, "a", 1));
    char b[8];
    ssize_t r = cio_stream_read(c, b, sizeof b);
    EXPECT_TRUE(r == 0 || r == -ECONNRESET);
    EXPECT_OK(cio_stream_close(c));
    WAIT_UNTIL(cio_server_connections(self_srv) == 0);

    self_closed = NULL;
    self_rc = 0;
    EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &c));
    EXPECT_OK(cio_stream_write(c, "c", 1));
    EXPECT_EQ(3, cio_stream_read_exactly(c, b, 3));
    EXPECT_EQ(0, cio_stream_read(c, b, sizeof b));
    EXPECT_EQ(-EDEADLK, self_rc);
    EXPECT_TRUE(self_closed != NULL);
    EXPECT_OK(cio_await(self_closed, NULL));
    cio_future_unref(self_closed);
    EXPECT_OK(cio_stream_close(c));
    return 0;
}

TEST(handler_aborts_stream_or_closes_server)
{
    run_both(abort_main, NULL);
}

/* ---- close while clients wait in the backlog; a second close ---------------- */

static int hold_handler(cio_stream *s, void *arg)
{
    (void)arg;
    char b[8];
    ssize_t r;
    while ((r = cio_stream_read(s, b, sizeof b)) > 0)
        ;
    return 0;
}

struct closer {
    cio_server *srv;
    int rc;
    bool done;
};

static int closer_task(void *arg, void **res)
{
    (void)res;
    struct closer *c = arg;
    c->rc = cio_server_close(c->srv, INFINITY);
    c->done = true;
    return 0;
}

static int backlog_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_addr a = loopback();
    cio_server *srv;
    EXPECT_OK(cio_server_new(&a, &CIO_SERVER_OPTIONS(.max_connections = 1), hold_handler, NULL,
                             &srv));
    EXPECT_OK(cio_server_addr(srv, &a));
    cio_stream *c[4];
    for (int i = 0; i < 4; i++)
        EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &c[i]));
    WAIT_UNTIL(cio_server_connections(srv) == 1);
    for (int i = 0; i < 10; i++)
        EXPECT_OK(cio_yield());
    EXPECT_EQ(1, (int)cio_server_connections(srv));
    struct closer cl = {.srv = srv};
    cio_task *t;
    EXPECT_OK(cio_spawn(closer_task, &cl, &t));
    WAIT_UNTIL(cio_server_connections(srv) == 1 && !cl.done && cl.rc == 0 &&
               cio_yield() == 0 && !cl.done);
    /* A second close while the first waits. */
    EXPECT_EQ(-EINVAL, cio_server_close(srv, 0));
    cio_future *f = NULL;
    EXPECT_EQ(-EINVAL, cio_server_close_future(srv, 0, &f));
    EXPECT_FALSE(cl.done);
    /* Each client is served or refused; none hangs. */
    for (int i = 0; i < 4; i++)
        EXPECT_OK(cio_stream_close(c[i]));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_TRUE(cl.done);
    EXPECT_OK(cl.rc);
    return 0;
}

TEST(close_with_backlog_and_twice)
{
    run_both(backlog_main, NULL);
}

/* ---- a protocol closes its own server from data_received -------------------- */

static cio_server *proto_srv;
static cio_future *proto_closed;
static int proto_lost;

static void closer_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)ctx;
    (void)d;
    (void)len;
    if (!proto_closed)
        EXPECT_OK(cio_server_close_future(proto_srv, 5.0, &proto_closed));
    cio_transport_write(t, "x", 1);
}

static void closer_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    (void)err;
    (void)ctx;
    proto_lost++;
}

static const cio_protocol closer_proto = {.data_received = closer_data,
                                          .connection_lost = closer_lost};

static int proto_close_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    proto_closed = NULL;
    proto_lost = 0;
    cio_addr a = loopback();
    EXPECT_OK(cio_server_new_protocol(&a, NULL, &closer_proto, NULL, &proto_srv));
    EXPECT_OK(cio_server_addr(proto_srv, &a));
    cio_stream *c[3];
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_stream_connect(&a, NULL, NULL, &c[i]));
    WAIT_UNTIL(cio_server_connections(proto_srv) == 3);
    EXPECT_OK(cio_stream_write(c[1], "q", 1));
    WAIT_UNTIL(proto_closed != NULL);
    EXPECT_OK(cio_await(proto_closed, NULL));
    cio_future_unref(proto_closed);
    EXPECT_EQ(3, proto_lost);
    char b[4];
    for (int i = 0; i < 3; i++) {
        ssize_t r = cio_stream_read(c[i], b, sizeof b);
        EXPECT_TRUE(r == 0 || (i == 1 && r == 1));
        EXPECT_OK(cio_stream_close(c[i]));
    }
    return 0;
}

TEST(protocol_closes_its_server)
{
    run_both(proto_close_main, NULL);
}

/* ---- arguments --------------------------------------------------------------- */

static int args_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_addr a = loopback();
    cio_server *srv = (cio_server *)1;
    static const cio_protocol no_data = {.connection_lost = echo_lost};
    EXPECT_EQ(-EINVAL, cio_server_new_protocol(&a, NULL, &no_data, NULL, &srv));
    EXPECT_TRUE(srv == NULL);
    return 0;
}

TEST(protocol_without_data_received)
{
    run_both(args_main, NULL);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
