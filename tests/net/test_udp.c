/* UDP sockets from tasks: ping-pong on 127.0.0.1 and ::1, connected and
 * unconnected sockets, -ECONNREFUSED after an ICMP error, batches with
 * sendmmsg/recvmmsg, truncated datagrams, closing under a waiting task,
 * the options, and every argument check. Each case counts its descriptors
 * before and after. Order comes from causality (a reply follows its
 * request), never from sleeps; the 60 s deadline of udp_run only bounds a
 * hang. */
#include <netinet/in.h>
#include <poll.h>

#include "net/test_udp.h"
#include "loop/internal.h" /* cio__io_ctl_count */

/* ---- ping-pong ------------------------------------------------------------- */

enum { ROUNDS = 200 };

struct pingpong {
    cio_udp *a, *b;
    cio_addr a_addr, b_addr;
};

static int echo_task(void *arg, void **result)
{
    struct pingpong *p = arg;
    char buf[64];
    for (int i = 0; i < ROUNDS; i++) {
        cio_addr from;
        ssize_t n = cio_udp_recv(p->a, buf, sizeof buf, &from);
        EXPECT_TRUE(n > 0);
        EXPECT_TRUE(cio_addr_is_equal(&from, &p->b_addr));
        EXPECT_EQ(n, cio_udp_send(p->a, buf, (size_t)n, &from));
    }
    return 0;
}

static int pingpong_main(void *arg, void **result)
{
    const char *host = arg;
    struct pingpong p;
    p.a = udp_bound(host, NULL);
    p.b = udp_bound(host, NULL);
    p.a_addr = udp_local(p.a);
    p.b_addr = udp_local(p.b);
    EXPECT_NE(0, cio_addr_port(&p.a_addr));
    EXPECT_EQ(strchr(host, ':') ? AF_INET6 : AF_INET, cio_addr_family(&p.a_addr));
    cio_task *t = udp_spawn(echo_task, &p);
    for (int i = 0; i < ROUNDS; i++) {
        char out[32], in[64];
        int len = snprintf(out, sizeof out, "ping %d", i);
        EXPECT_EQ(len, cio_udp_send(p.b, out, (size_t)len, &p.a_addr));
        cio_addr from;
        EXPECT_EQ(len, cio_udp_recv(p.b, in, sizeof in, &from));
        EXPECT_TRUE(memcmp(in, out, (size_t)len) == 0);
        EXPECT_TRUE(cio_addr_is_equal(&from, &p.a_addr));
    }
    EXPECT_OK(udp_join(t));
    EXPECT_OK(cio_udp_close(p.a));
    EXPECT_OK(cio_udp_close(p.b));
    return 0;
}

TEST(udp_pingpong_ipv4) { udp_run(pingpong_main, "127.0.0.1"); }

/* Each socket is registered once (one epoll_ctl in cio_udp_new); no wait,
 * in either style, costs another. */
static void ctl_cb(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    EXPECT_EQ((ssize_t)len, cio_udp_send_nowait(u, data, len, from));
}

static int ctl_main(void *arg, void **result)
{
    cio_loop *loop = cio_current_loop();
    struct pingpong p;
    p.a = udp_bound("127.0.0.1", NULL);
    p.b = udp_bound("127.0.0.1", NULL);
    p.a_addr = udp_local(p.a);
    p.b_addr = udp_local(p.b);
    uint64_t c0 = cio__io_ctl_count(loop);
    cio_task *t = udp_spawn(echo_task, &p);
    char buf[16];
    for (int i = 0; i < ROUNDS; i++) {
        EXPECT_EQ(4, cio_udp_send(p.b, "ping", 4, &p.a_addr));
        EXPECT_EQ(4, cio_udp_recv(p.b, buf, sizeof buf, NULL));
    }
    EXPECT_OK(udp_join(t));
    EXPECT_EQ(c0, cio__io_ctl_count(loop));
    /* the callback style: setting, running and stopping the receiver */
    EXPECT_OK(cio_udp_set_receiver(p.a, ctl_cb, NULL));
    for (int i = 0; i < ROUNDS; i++) {
        EXPECT_EQ(4, cio_udp_send(p.b, "ping", 4, &p.a_addr));
        EXPECT_EQ(4, cio_udp_recv(p.b, buf, sizeof buf, NULL));
    }
    EXPECT_OK(cio_udp_set_receiver(p.a, NULL, NULL));
    EXPECT_EQ(c0, cio__io_ctl_count(loop));
    EXPECT_OK(cio_udp_close(p.a));
    EXPECT_OK(cio_udp_close(p.b));
    return 0;
}

TEST(udp_no_epoll_ctl_per_wait) { udp_run(ctl_main, NULL); }
TEST(udp_pingpong_ipv6) { udp_run(pingpong_main, "::1"); }

/* ---- connected and unconnected --------------------------------------------- */

static int connected_main(void *arg, void **result)
{
    const char *host = arg;
    cio_udp *srv = udp_bound(host, NULL), *other = udp_bound(host, NULL);
    cio_addr srv_addr = udp_local(srv);
    cio_udp *cli = NULL;
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &srv_addr), &cli));
    cio_addr cli_addr = udp_local(cli);
    EXPECT_NE(0, cio_addr_port(&cli_addr));

    /* to == NULL and to with len 0 both mean the connected peer */
    EXPECT_EQ(3, cio_udp_send(cli, "one", 3, NULL));
    cio_addr none = {.len = 0};
    EXPECT_EQ(3, cio_udp_send_nowait(cli, "two", 3, &none));
    char buf[16];
    cio_addr from;
    EXPECT_EQ(3, cio_udp_recv(srv, buf, sizeof buf, &from));
    EXPECT_TRUE(memcmp(buf, "one", 3) == 0);
    EXPECT_TRUE(cio_addr_is_equal(&from, &cli_addr));
    EXPECT_EQ(3, cio_udp_recv(srv, buf, sizeof buf, &from));
    EXPECT_TRUE(memcmp(buf, "two", 3) == 0);

    /* A connected socket takes datagrams from its peer only: the other
     * socket's is never delivered, the server's reply is. */
    EXPECT_EQ(5, cio_udp_send(other, "stray", 5, &cli_addr));
    EXPECT_EQ(5, cio_udp_send(srv, "reply", 5, &cli_addr));
    EXPECT_EQ(5, cio_udp_recv(cli, buf, sizeof buf, &from));
    EXPECT_TRUE(memcmp(buf, "reply", 5) == 0);
    EXPECT_TRUE(cio_addr_is_equal(&from, &srv_addr));

    /* an unconnected socket needs a destination */
    EXPECT_ERR(-EDESTADDRREQ, cio_udp_send(srv, "x", 1, NULL));
    EXPECT_ERR(-EDESTADDRREQ, cio_udp_send_nowait(srv, "x", 1, NULL));

    /* a zero-length datagram is a datagram */
    EXPECT_EQ(0, cio_udp_send(cli, NULL, 0, NULL));
    EXPECT_EQ(0, cio_udp_recv(srv, buf, sizeof buf, &from));
    EXPECT_TRUE(cio_addr_is_equal(&from, &cli_addr));
    /* from may be NULL */
    EXPECT_EQ(1, cio_udp_send(cli, "z", 1, NULL));
    EXPECT_EQ(1, cio_udp_recv(srv, buf, sizeof buf, NULL));

    EXPECT_OK(cio_udp_close(cli));
    EXPECT_OK(cio_udp_close(srv));
    EXPECT_OK(cio_udp_close(other));
    return 0;
}

TEST(udp_connected_and_unconnected_ipv4) { udp_run(connected_main, "127.0.0.1"); }
TEST(udp_connected_and_unconnected_ipv6) { udp_run(connected_main, "::1"); }

/* A port nobody listens on: bind one, note it, close it. */
static cio_addr closed_port(const char *host)
{
    cio_udp *u = udp_bound(host, NULL);
    cio_addr a = udp_local(u);
    EXPECT_OK(cio_udp_close(u));
    return a;
}

static int refused_main(void *arg, void **result)
{
    const char *host = arg;
    cio_addr dead = closed_port(host);
    cio_udp *u = NULL;
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &dead), &u));
    /* The send succeeds; the ICMP error that comes back makes the socket
     * readable with an error, which the waiting recv returns. */
    EXPECT_EQ(4, cio_udp_send(u, "ping", 4, NULL));
    char buf[8];
    EXPECT_ERR(-ECONNREFUSED, cio_udp_recv(u, buf, sizeof buf, NULL));
    /* Again, the error this time seen by a later send: wait (blocking the
     * thread, at most 30 s) until the error is there, then send. */
    EXPECT_EQ(4, cio_udp_send(u, "ping", 4, NULL));
    struct pollfd pfd = {cio_udp_fd(u), POLLIN, 0};
    EXPECT_EQ(1, poll(&pfd, 1, 30000));
    EXPECT_TRUE(pfd.revents & POLLERR);
    EXPECT_ERR(-ECONNREFUSED, cio_udp_send(u, "ping", 4, NULL));
    /* the error was reported once; the socket goes on working */
    EXPECT_EQ(4, cio_udp_send_nowait(u, "ping", 4, NULL));
    EXPECT_ERR(-ECONNREFUSED, cio_udp_recv(u, buf, sizeof buf, NULL));
    /* and recv_many sees it the same way */
    EXPECT_EQ(4, cio_udp_send(u, "ping", 4, NULL));
    cio_datagram d = {buf, sizeof buf, {.len = 0}};
    size_t done = 99;
    EXPECT_ERR(-ECONNREFUSED, cio_udp_recv_many(u, &d, 1, &done));
    EXPECT_EQ(0, done);
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_connected_send_to_closed_port_is_refused_ipv4) { udp_run(refused_main, "127.0.0.1"); }
TEST(udp_connected_send_to_closed_port_is_refused_ipv6) { udp_run(refused_main, "::1"); }

/* ---- batches --------------------------------------------------------------- */

enum { NBATCH = 64 };

static int batch_main(void *arg, void **result)
{
    const char *host = arg;
    cio_udp *rx = udp_bound(host, NULL), *tx1 = udp_bound(host, NULL), *tx2 = udp_bound(host, NULL);
    /* room for the whole batch whatever the system's default */
    int big = 1 << 20;
    setsockopt(cio_udp_fd(rx), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    cio_addr rx_addr = udp_local(rx), tx1_addr = udp_local(tx1), tx2_addr = udp_local(tx2);

    static char out[NBATCH][32];
    cio_datagram msgs[NBATCH];
    for (int i = 0; i < NBATCH; i++) {
        int len = snprintf(out[i], sizeof out[i], "datagram %d", i);
        msgs[i] = (cio_datagram){out[i], (size_t)len, rx_addr};
    }
    size_t done = 99;
    EXPECT_OK(cio_udp_send_many(tx1, msgs, NBATCH / 2, &done));
    EXPECT_EQ(NBATCH / 2, done);
    EXPECT_OK(cio_udp_send_many(tx2, msgs + NBATCH / 2, NBATCH / 2, NULL));

    static char in[NBATCH][64];
    size_t got = 0;
    for (int rounds = 0; got < NBATCH && rounds < NBATCH; rounds++) {
        cio_datagram r[NBATCH];
        size_t want = NBATCH - got;
        for (size_t i = 0; i < want; i++)
            r[i] = (cio_datagram){in[got + i], sizeof in[0], {.len = 0}};
        EXPECT_OK(cio_udp_recv_many(rx, r, want, &done));
        EXPECT_TRUE(done >= 1 && done <= want);
        for (size_t i = 0; i < done; i++) {
            size_t k = got + i;
            EXPECT_EQ(msgs[k].len, r[i].len);
            EXPECT_TRUE(memcmp(in[k], out[k], r[i].len) == 0);
            EXPECT_TRUE(cio_addr_is_equal(&r[i].addr, k < NBATCH / 2 ? &tx1_addr : &tx2_addr));
        }
        got += done;
    }
    EXPECT_EQ(NBATCH, got);

    /* n == 0 sends nothing */
    EXPECT_OK(cio_udp_send_many(tx1, NULL, 0, &done));
    EXPECT_EQ(0, done);

    /* on a connected socket, addr.len 0 is the peer */
    cio_udp *c = NULL;
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &rx_addr), &c));
    cio_datagram two[2] = {{"ab", 2, {.len = 0}}, {"cde", 3, {.len = 0}}};
    EXPECT_OK(cio_udp_send_many(c, two, 2, &done));
    EXPECT_EQ(2, done);
    char b1[8], b2[8];
    cio_datagram r2[2] = {{b1, sizeof b1, {.len = 0}}, {b2, sizeof b2, {.len = 0}}};
    got = 0;
    while (got < 2) {
        EXPECT_OK(cio_udp_recv_many(rx, r2 + got, 2 - got, &done));
        got += done;
    }
    EXPECT_EQ(2, r2[0].len);
    EXPECT_EQ(3, r2[1].len);
    EXPECT_TRUE(memcmp(b2, "cde", 3) == 0);

    /* a failing datagram stops the batch: *done says where */
    static char huge[70000];
    cio_datagram bad[3] = {{"ok", 2, rx_addr}, {huge, sizeof huge, rx_addr}, {"no", 2, rx_addr}};
    EXPECT_ERR(-EMSGSIZE, cio_udp_send_many(tx1, bad, 3, &done));
    EXPECT_EQ(1, done);
    EXPECT_EQ(2, cio_udp_recv(rx, b1, sizeof b1, NULL));

    EXPECT_OK(cio_udp_close(c));
    EXPECT_OK(cio_udp_close(rx));
    EXPECT_OK(cio_udp_close(tx1));
    EXPECT_OK(cio_udp_close(tx2));
    return 0;
}

TEST(udp_batches_ipv4) { udp_run(batch_main, "127.0.0.1"); }
TEST(udp_batches_ipv6) { udp_run(batch_main, "::1"); }

/* recv_many waits for the first datagram, then takes what is there. */
struct waiter {
    cio_udp *u;
    cio_addr to;
};

static int late_sender(void *arg, void **result)
{
    struct waiter *w = arg;
    cio_udp *tx = udp_bound("127.0.0.1", NULL);
    EXPECT_EQ(5, cio_udp_send(tx, "late!", 5, &w->to));
    EXPECT_OK(cio_udp_close(tx));
    return 0;
}

static int recv_many_waits_main(void *arg, void **result)
{
    struct waiter w = {udp_bound("127.0.0.1", NULL), {.len = 0}};
    w.to = udp_local(w.u);
    cio_task *t = udp_spawn(late_sender, &w);
    char b[4][16];
    cio_datagram r[4];
    for (int i = 0; i < 4; i++)
        r[i] = (cio_datagram){b[i], sizeof b[i], {.len = 0}};
    size_t done = 0;
    EXPECT_OK(cio_udp_recv_many(w.u, r, 4, &done));
    EXPECT_EQ(1, done);
    EXPECT_EQ(5, r[0].len);
    EXPECT_OK(udp_join(t));
    EXPECT_OK(cio_udp_close(w.u));
    return 0;
}

TEST(udp_recv_many_waits_for_the_first) { udp_run(recv_many_waits_main, NULL); }

/* ---- truncation ------------------------------------------------------------ */

static int trunc_main(void *arg, void **result)
{
    const char *host = arg;
    cio_udp *a = udp_bound(host, NULL), *b = udp_bound(host, NULL);
    cio_addr to = udp_local(a);
    static char big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    char small[10];
    EXPECT_EQ(1000, cio_udp_send(b, big, sizeof big, &to));
    EXPECT_EQ(1000, cio_udp_recv(a, small, sizeof small, NULL));
    EXPECT_TRUE(memcmp(small, big, sizeof small) == 0);
    /* the rest is gone: the next datagram is the next one */
    EXPECT_EQ(3, cio_udp_send(b, "end", 3, &to));
    EXPECT_EQ(3, cio_udp_recv(a, small, sizeof small, NULL));
    /* len 0: only the length */
    EXPECT_EQ(1000, cio_udp_send(b, big, sizeof big, &to));
    EXPECT_EQ(1000, cio_udp_recv(a, NULL, 0, NULL));
    /* the same through recv_many */
    EXPECT_EQ(1000, cio_udp_send(b, big, sizeof big, &to));
    cio_datagram d = {small, sizeof small, {.len = 0}};
    size_t done = 0;
    EXPECT_OK(cio_udp_recv_many(a, &d, 1, &done));
    EXPECT_EQ(1, done);
    EXPECT_EQ(1000, d.len);
    EXPECT_TRUE(memcmp(small, big, sizeof small) == 0);
    /* too large to send at all */
    static char huge[70000];
    EXPECT_ERR(-EMSGSIZE, cio_udp_send(b, huge, sizeof huge, &to));
    EXPECT_ERR(-EMSGSIZE, cio_udp_send_nowait(b, huge, sizeof huge, &to));
    EXPECT_OK(cio_udp_close(a));
    EXPECT_OK(cio_udp_close(b));
    return 0;
}

TEST(udp_truncated_datagram_reports_full_length_ipv4) { udp_run(trunc_main, "127.0.0.1"); }
TEST(udp_truncated_datagram_reports_full_length_ipv6) { udp_run(trunc_main, "::1"); }

/* ---- closing, cancelling, deadlines ----------------------------------------- */

static int blocked_recv(void *arg, void **result)
{
    char b[8];
    EXPECT_ERR(-EBADF, cio_udp_recv(arg, b, sizeof b, NULL));
    return 0;
}

static int blocked_recv_many(void *arg, void **result)
{
    char b[8];
    cio_datagram d = {b, sizeof b, {.len = 0}};
    size_t done = 7;
    EXPECT_ERR(-EBADF, cio_udp_recv_many(arg, &d, 1, &done));
    EXPECT_EQ(0, done);
    return 0;
}

static int close_wakes_main(void *arg, void **result)
{
    cio_task_fn fn = (cio_task_fn)(uintptr_t)arg;
    cio_udp *u = udp_bound("127.0.0.1", NULL);
    cio_task *t = udp_spawn(fn, u);
    EXPECT_OK(cio_yield()); /* the task runs and waits */
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_OK(cio_udp_close(u));
    EXPECT_OK(udp_join(t));
    return 0;
}

TEST(udp_close_wakes_a_waiting_recv)
{
    udp_run(close_wakes_main, (void *)(uintptr_t)blocked_recv);
    udp_run(close_wakes_main, (void *)(uintptr_t)blocked_recv_many);
}

static int timeout_main(void *arg, void **result)
{
    cio_udp *u = udp_bound("127.0.0.1", NULL);
    char b[8];
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.01));
    EXPECT_ERR(-ETIMEDOUT, cio_udp_recv(u, b, sizeof b, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    /* nothing consumed, the socket still works */
    cio_addr to = udp_local(u);
    EXPECT_EQ(2, cio_udp_send(u, "hi", 2, &to));
    EXPECT_EQ(2, cio_udp_recv(u, b, sizeof b, NULL));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_recv_honours_the_deadline) { udp_run(timeout_main, NULL); }

static int cancelled_recv(void *arg, void **result)
{
    char b[8];
    return (int)cio_udp_recv(arg, b, sizeof b, NULL);
}

static int cancel_main(void *arg, void **result)
{
    cio_udp *u = udp_bound("127.0.0.1", NULL);
    cio_task *t = udp_spawn(cancelled_recv, u);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, udp_join(t));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_recv_can_be_cancelled) { udp_run(cancel_main, NULL); }

/* ---- send waits for room ---------------------------------------------------- */

/* A Unix datagram pair fills fast (a short receive queue): the sender
 * suspends on EAGAIN and resumes as the reader drains. */
struct flood {
    cio_udp *tx;
    int n;
    const cio_addr *to; /* NULL: connected */
};

static int flood_sender(void *arg, void **result)
{
    struct flood *f = arg;
    for (int i = 0; i < f->n; i++)
        EXPECT_EQ(sizeof i, cio_udp_send(f->tx, &i, sizeof i, f->to));
    return 0;
}

static int send_waits_main(void *arg, void **result)
{
    char dir[] = "/tmp/cio-udp-XXXXXX";
    EXPECT_TRUE(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/rx", dir);
    cio_addr ra;
    EXPECT_OK(cio_addr_unix(path, &ra));
    cio_udp *rx = NULL, *tx = NULL;
    EXPECT_OK(cio_udp_new(&ra, NULL, &rx));
    const cio_addr *to = arg ? &ra : NULL;
    if (to)
        EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.family = AF_UNIX), &tx));
    else
        EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &ra), &tx));
    /* fill the queue without waiting */
    int full = 0;
    for (int i = 0; i < 100000; i++) {
        ssize_t r = cio_udp_send_nowait(tx, &i, sizeof i, to);
        if (r == -EAGAIN) {
            full = i;
            break;
        }
        EXPECT_EQ(sizeof i, r);
    }
    EXPECT_TRUE(full > 0);
    struct flood f = {tx, 2 * full + 10, to};
    cio_task *t = udp_spawn(flood_sender, &f);
    int v;
    for (int i = 0; i < full; i++) {
        EXPECT_EQ(sizeof v, cio_udp_recv(rx, &v, sizeof v, NULL));
        EXPECT_EQ(i, v);
    }
    for (int i = 0; i < f.n; i++) {
        EXPECT_EQ(sizeof v, cio_udp_recv(rx, &v, sizeof v, NULL));
        EXPECT_EQ(i, v);
    }
    EXPECT_OK(udp_join(t));
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_udp_close(rx));
    EXPECT_OK(unlink(path));
    EXPECT_OK(rmdir(dir));
    return 0;
}

TEST(udp_send_waits_while_the_buffer_is_full_connected) { udp_run(send_waits_main, NULL); }
TEST(udp_send_waits_while_the_buffer_is_full_unconnected) { udp_run(send_waits_main, (void *)1); }

/* ---- options ---------------------------------------------------------------- */

static int getint(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    EXPECT_OK(getsockopt(fd, level, name, &v, &l));
    return v;
}

static int options_main(void *arg, void **result)
{
    cio_addr any = udp_ip("127.0.0.1", 0);
    cio_udp *u = NULL;
    EXPECT_OK(cio_udp_new(&any,
                          &CIO_UDP_OPTIONS(.reuseaddr = true, .reuseport = true, .broadcast = true),
                          &u));
    int fd = cio_udp_fd(u);
    EXPECT_TRUE(fd >= 0);
    EXPECT_EQ(1, getint(fd, SOL_SOCKET, SO_REUSEADDR));
    EXPECT_EQ(1, getint(fd, SOL_SOCKET, SO_REUSEPORT));
    EXPECT_EQ(1, getint(fd, SOL_SOCKET, SO_BROADCAST));
    EXPECT_EQ(SOCK_DGRAM, getint(fd, SOL_SOCKET, SO_TYPE));
    EXPECT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    EXPECT_OK(cio_udp_set_broadcast(u, false));
    EXPECT_EQ(0, getint(fd, SOL_SOCKET, SO_BROADCAST));
    EXPECT_OK(cio_udp_set_broadcast(u, true));
    EXPECT_EQ(1, getint(fd, SOL_SOCKET, SO_BROADCAST));
    /* a second socket on the same port, as reuseport allows */
    cio_addr same = udp_local(u);
    cio_udp *u2 = NULL;
    EXPECT_OK(cio_udp_new(&same, &CIO_UDP_OPTIONS(.reuseaddr = true, .reuseport = true), &u2));
    EXPECT_OK(cio_udp_close(u2));
    /* without it the port is taken */
    EXPECT_ERR(-EADDRINUSE, cio_udp_new(&same, NULL, &u2));
    EXPECT_PTR_EQ(NULL, u2);
    EXPECT_OK(cio_udp_close(u));

    /* family from the options when no address is given */
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.family = AF_INET6), &u));
    EXPECT_EQ(AF_INET6, getint(cio_udp_fd(u), SOL_SOCKET, SO_DOMAIN));
    EXPECT_OK(cio_udp_close(u));
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.family = AF_UNIX), &u));
    EXPECT_EQ(AF_UNIX, getint(cio_udp_fd(u), SOL_SOCKET, SO_DOMAIN));
    EXPECT_OK(cio_udp_close(u));
    EXPECT_OK(cio_udp_new(NULL, NULL, &u)); /* default: IPv4 */
    EXPECT_EQ(AF_INET, getint(cio_udp_fd(u), SOL_SOCKET, SO_DOMAIN));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_options_are_applied) { udp_run(options_main, NULL); }

/* ---- argument checks -------------------------------------------------------- */

static cio_udp *plain_u;
static int plain_rc[8];
static void plain_calls(void *arg)
{
    /* a callback of a running loop: a current loop, no task */
    cio_addr to = *(cio_addr *)arg;
    EXPECT_OK(cio_udp_new(&to, NULL, &plain_u));
    cio_addr self = udp_local(plain_u);
    char b[4];
    cio_datagram d = {b, sizeof b, self};
    size_t done = 5;
    plain_rc[0] = (int)cio_udp_send(plain_u, "x", 1, &self);
    plain_rc[1] = (int)cio_udp_recv(plain_u, b, sizeof b, NULL);
    plain_rc[2] = cio_udp_send_many(plain_u, &d, 1, &done);
    plain_rc[3] = cio_udp_recv_many(plain_u, &d, 1, &done);
    plain_rc[4] = (int)cio_udp_send_nowait(plain_u, "x", 1, &self);
    plain_rc[5] = (int)done;
    EXPECT_OK(cio_udp_close(plain_u));
}

TEST(udp_suspending_calls_need_a_task)
{
    int before = test_fd_baseline();
    cio_addr none;
    /* no current loop */
    cio_udp *u = (cio_udp *)&none;
    EXPECT_ERR(-EPERM, cio_udp_new(NULL, NULL, &u));
    EXPECT_PTR_EQ(NULL, u);
    cio_loop *loop = test_strict_loop_new();
    cio_addr a = udp_ip("127.0.0.1", 0);
    EXPECT_OK(cio_call_soon(loop, plain_calls, &a));
    test_drain(loop);
    EXPECT_ERR(-EPERM, plain_rc[0]);
    EXPECT_ERR(-EPERM, plain_rc[1]);
    EXPECT_ERR(-EPERM, plain_rc[2]);
    EXPECT_ERR(-EPERM, plain_rc[3]);
    EXPECT_EQ(1, plain_rc[4]); /* _nowait needs no task */
    EXPECT_EQ(0, plain_rc[5]);
    CLOSE_LOOP(loop);
    EXPECT_EQ(before, test_fd_count());
}

static void ignore_cb(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
}

static int args_main(void *arg, void **result)
{
    cio_udp *u = NULL;
    cio_addr v4 = udp_ip("127.0.0.1", 0), v6 = udp_ip("::1", 0), un, bad = v4;
    EXPECT_OK(cio_addr_unix("@cio-test-args", &un));
    bad.u.sa.sa_family = AF_APPLETALK;
    cio_addr toolong = v4;
    toolong.len = sizeof toolong.u.storage + 1;

    /* cio_udp_new */
    EXPECT_ERR(-EINVAL, cio_udp_new(NULL, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_udp_new(&bad, NULL, &u));
    EXPECT_ERR(-EINVAL, cio_udp_new(&toolong, NULL, &u));
    EXPECT_ERR(-EINVAL, cio_udp_new(&v4, &CIO_UDP_OPTIONS(.remote = &v6), &u));
    EXPECT_ERR(-EINVAL, cio_udp_new(&v4, &CIO_UDP_OPTIONS(.family = AF_INET6), &u));
    EXPECT_ERR(-EINVAL, cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &un, .family = AF_INET), &u));
    EXPECT_ERR(-EINVAL, cio_udp_new(NULL, &CIO_UDP_OPTIONS(.family = AF_APPLETALK), &u));
    EXPECT_ERR(-EINVAL, cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &bad), &u));
    cio_udp_options zero = {0};
    EXPECT_ERR(-EINVAL, cio_udp_new(NULL, &zero, &u));
    struct {
        cio_udp_options o;
        long extra;
    } newer = {{.size = sizeof newer}, 1};
    EXPECT_ERR(-E2BIG, cio_udp_new(NULL, &newer.o, &u));
    newer.extra = 0; /* unknown fields at zero are fine */
    EXPECT_OK(cio_udp_new(NULL, &newer.o, &u));
    EXPECT_OK(cio_udp_close(u));
    /* the system's errors pass through, and no descriptor is left */
    cio_addr nowhere;
    EXPECT_OK(cio_addr_unix("/nonexistent-cio-dir/sock", &nowhere));
    EXPECT_ERR(-ENOENT, cio_udp_new(&nowhere, NULL, &u));
    EXPECT_PTR_EQ(NULL, u);

    u = udp_bound("127.0.0.1", NULL);
    char b[4];
    cio_datagram d = {b, sizeof b, v4}, dnull = {NULL, 1, v4}, dbad = {b, 1, bad};
    size_t done = 3;
    /* send, send_nowait */
    EXPECT_ERR(-EINVAL, cio_udp_send(NULL, "x", 1, &v4));
    EXPECT_ERR(-EINVAL, cio_udp_send(u, NULL, 1, &v4));
    EXPECT_ERR(-EINVAL, cio_udp_send(u, "x", 1, &bad));
    EXPECT_ERR(-EINVAL, cio_udp_send_nowait(NULL, "x", 1, &v4));
    EXPECT_ERR(-EINVAL, cio_udp_send_nowait(u, NULL, 1, &v4));
    EXPECT_ERR(-EINVAL, cio_udp_send_nowait(u, "x", 1, &toolong));
    /* a destination of another family: the system's error */
    EXPECT_ERR(-EAFNOSUPPORT, cio_udp_send(u, "x", 1, &un));
    /* recv */
    EXPECT_ERR(-EINVAL, cio_udp_recv(NULL, b, sizeof b, NULL));
    EXPECT_ERR(-EINVAL, cio_udp_recv(u, NULL, 1, NULL));
    /* batches */
    EXPECT_ERR(-EINVAL, cio_udp_send_many(NULL, &d, 1, &done));
    EXPECT_EQ(0, done);
    EXPECT_ERR(-EINVAL, cio_udp_send_many(u, NULL, 1, &done));
    EXPECT_ERR(-EINVAL, cio_udp_send_many(u, &dnull, 1, &done));
    EXPECT_ERR(-EINVAL, cio_udp_send_many(u, &dbad, 1, &done));
    EXPECT_ERR(-EINVAL, cio_udp_recv_many(NULL, &d, 1, &done));
    EXPECT_ERR(-EINVAL, cio_udp_recv_many(u, NULL, 1, &done));
    EXPECT_ERR(-EINVAL, cio_udp_recv_many(u, &d, 0, &done));
    EXPECT_ERR(-EINVAL, cio_udp_recv_many(u, &d, 1, NULL));
    EXPECT_ERR(-EINVAL, cio_udp_recv_many(u, &dnull, 1, &done));
    /* receiver */
    EXPECT_ERR(-EINVAL, cio_udp_set_receiver(NULL, ignore_cb, NULL));
    EXPECT_OK(cio_udp_set_receiver(u, NULL, NULL)); /* none set: nothing to stop */
    /* multicast and broadcast */
    EXPECT_ERR(-EINVAL, cio_udp_join(NULL, "224.0.0.250", NULL));
    EXPECT_ERR(-EINVAL, cio_udp_join(u, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_udp_join(u, "not an address", NULL));
    EXPECT_ERR(-EINVAL, cio_udp_join(u, "ff02::fb", NULL)); /* IPv6 group, IPv4 socket */
    EXPECT_ERR(-ENODEV, cio_udp_join(u, "224.0.0.250", "no-such-if0"));
    EXPECT_ERR(-EINVAL, cio_udp_leave(NULL, "224.0.0.250", NULL));
    EXPECT_ERR(-EINVAL, cio_udp_leave(u, "bad", NULL));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_loop(NULL, true));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_ttl(NULL, 1));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_ttl(u, -1));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_ttl(u, 256));
    EXPECT_ERR(-EINVAL, cio_udp_set_broadcast(NULL, true));
    /* getters */
    EXPECT_EQ(-1, cio_udp_fd(NULL));
    cio_addr la;
    EXPECT_ERR(-EINVAL, cio_udp_local(NULL, &la));
    EXPECT_ERR(-EINVAL, cio_udp_local(u, NULL));
    /* close */
    EXPECT_ERR(-EINVAL, cio_udp_close(NULL));
    EXPECT_OK(cio_udp_close(u));

    /* IP-only calls on a Unix socket */
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.family = AF_UNIX), &u));
    EXPECT_ERR(-EINVAL, cio_udp_join(u, "224.0.0.250", NULL));
    EXPECT_ERR(-EINVAL, cio_udp_leave(u, "224.0.0.250", NULL));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_loop(u, true));
    EXPECT_ERR(-EINVAL, cio_udp_set_multicast_ttl(u, 1));
    EXPECT_ERR(-EINVAL, cio_udp_set_broadcast(u, true));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_argument_checks) { udp_run(args_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
