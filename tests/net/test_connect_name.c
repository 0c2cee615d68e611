/* Connecting by name: the Happy Eyeballs engine over address lists
 * (cio__connect_addrs, white-box) and cio_stream_connect_name /
 * cio_transport_connect_name with numeric hosts.
 *
 * An unreachable address is a BLACKHOLE: a loopback listener made with
 * listen(fd, 0) whose accept queue the test fills with connections that
 * complete (it never accepts them), until the kernel says the queue is full
 * (TCP_INFO of a listener: tcpi_unacked is the queue's length, tcpi_sacked
 * its limit). SYNs to a full accept queue are dropped, so a connect to it
 * stays in progress: the same as a host that does not answer, on loopback.
 * No case depends on timing: which server got the connection is asserted,
 * never a duration, and deadlines are only upper bounds, except where the
 * deadline is what a case checks (two blackholes). */
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cio.h>
#include <cio/net.h>

#include "test.h"
#include "loop/internal.h"
#include "net/internal.h"
#include "net/blackhole_util.h"

/* ---- loopback peers --------------------------------------------------------- */

/* A port bound but not listening: connects to it are refused. */
static int refusing(const char *ip, cio_addr *addr)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip(ip, 0, &a));
    int fd = socket(a.u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    EXPECT_EQ(0, bind(fd, &a.u.sa, a.len));
    EXPECT_OK(cio_socket_local(fd, addr));
    return fd;
}

/* Accepts the connection s made on lfd (cio_socket_accept: it waits, so
 * no assumption on when the kernel queued it), checks it is s's, and
 * exchanges bytes both ways. lfd is closed (cio_fd_close: accept
 * registered it). */
static void serve_one(int lfd, cio_stream *s)
{
    int fd = -1;
    cio_addr peer, local;
    EXPECT_OK(cio_socket_accept(lfd, &fd, &peer));
    EXPECT_OK(cio_socket_local(cio_stream_fd(s), &local));
    EXPECT_TRUE(cio_addr_is_equal(&peer, &local)); /* this server got s */
    EXPECT_OK(cio_stream_write(s, "ping", 4));
    char buf[8];
    EXPECT_EQ(4, cio_fd_read(fd, buf, sizeof buf));
    EXPECT_TRUE(memcmp(buf, "ping", 4) == 0);
    EXPECT_EQ(4, cio_fd_write(fd, "pong", 4));
    EXPECT_EQ(4, cio_stream_read_exactly(s, buf, 4));
    EXPECT_TRUE(memcmp(buf, "pong", 4) == 0);
    EXPECT_OK(cio_fd_close(fd));
    EXPECT_OK(cio_fd_close(lfd));
}

/* A real server on 127.0.0.1 and a blackhole on [::1] at the same port. */
static void pair_same_port(int *real, cio_addr *raddr, struct blackhole *bh)
{
    for (int i = 0; i < 50; i++) {
        *real = listen_on("127.0.0.1", 0, 16, raddr);
        EXPECT_TRUE(*real >= 0);
        if (blackhole_open(bh, "::1", cio_addr_port(raddr)))
            return;
        close(*real);
    }
    FAIL("no port free on both 127.0.0.1 and ::1");
}

static void run(cio_task_fn fn, void *arg)
{
    int before = test_fd_baseline();
    void *res = NULL;
    EXPECT_OK(cio_run(fn, arg, &res));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- the engine ------------------------------------------------------------- */

/* The first address refuses: with no stagger timer at all (INFINITY), only
 * the failure can start the second, which wins. */
static int refused_first_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr addrs[2];
    int ref = refusing("127.0.0.1", &addrs[0]);
    int lfd = listen_on("127.0.0.1", 0, 16, &addrs[1]);
    int base = test_fd_count();
    cio_stream *s = NULL;
    EXPECT_OK(cio__connect_addrs(addrs, 2, &CIO_SOCKET_OPTIONS(.attempt_delay = INFINITY), NULL,
                                 &s));
    EXPECT_EQ(base + 1, test_fd_count()); /* the refused attempt is closed */
    cio_addr peer;
    EXPECT_OK(cio_socket_peer(cio_stream_fd(s), &peer));
    EXPECT_TRUE(cio_addr_is_equal(&addrs[1], &peer));
    serve_one(lfd, s);
    EXPECT_OK(cio_stream_close(s));
    close(ref);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(engine_refused_first_fails_fast) { run(refused_first_main, NULL); }

/* The first address is a blackhole: the second starts after the stagger
 * and wins; the blackhole attempt is closed before the call returns and
 * the blackhole got nothing. */
static int blackhole_first_main(void *arg, void **res)
{
    (void)res;
    double delay = *(double *)arg;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    struct blackhole bh;
    cio_addr addrs[2];
    int lfd;
    pair_same_port(&lfd, &addrs[1], &bh);
    addrs[0] = bh.addr;
    int base = test_fd_count();
    cio_stream *s = NULL;
    EXPECT_OK(cio__connect_addrs(addrs, 2, &CIO_SOCKET_OPTIONS(.attempt_delay = delay), NULL,
                                 &s));
    EXPECT_EQ(base + 1, test_fd_count()); /* only the winner is open */
    blackhole_untouched(&bh);
    serve_one(lfd, s);
    EXPECT_OK(cio_stream_close(s));
    blackhole_close(&bh);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(engine_blackhole_first_default_delay)
{
    double d = 0; /* 0.25 s */
    run(blackhole_first_main, &d);
}

TEST(engine_blackhole_first_short_delay)
{
    double d = 0.01;
    run(blackhole_first_main, &d);
}

/* Both unreachable: the task's deadline ends it, with nothing left open. */
static int both_blackholes_main(void *arg, void **res)
{
    (void)arg, (void)res;
    struct blackhole a, b;
    EXPECT_TRUE(blackhole_open(&a, "127.0.0.1", 0));
    EXPECT_TRUE(blackhole_open(&b, "::1", 0));
    cio_addr addrs[2] = {a.addr, b.addr};
    int base = test_fd_count();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.5));
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-ETIMEDOUT, cio__connect_addrs(addrs, 2, &CIO_SOCKET_OPTIONS(.attempt_delay = 0.05),
                                              NULL, &s));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    EXPECT_TRUE(s == NULL);
    EXPECT_EQ(base, test_fd_count());
    blackhole_untouched(&a);
    blackhole_untouched(&b);
    blackhole_close(&a);
    blackhole_close(&b);
    return 0;
}

TEST(engine_all_unreachable_deadline) { run(both_blackholes_main, NULL); }

/* All refused: -ECONNREFUSED, after trying every one (the last error). */
static int all_refused_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr addrs[3];
    int r0 = refusing("127.0.0.1", &addrs[0]);
    int r1 = refusing("::1", &addrs[1]);
    int r2 = refusing("127.0.0.1", &addrs[2]);
    int base = test_fd_count();
    for (int i = 0; i < 2; i++) {
        double delay = i ? INFINITY : 0;
        cio_stream *s = (cio_stream *)&s;
        EXPECT_ERR(-ECONNREFUSED,
                   cio__connect_addrs(addrs, 3, &CIO_SOCKET_OPTIONS(.attempt_delay = delay), NULL,
                                      &s));
        EXPECT_TRUE(s == NULL);
        EXPECT_EQ(base, test_fd_count());
    }
    close(r0);
    close(r1);
    close(r2);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(engine_all_refused) { run(all_refused_main, NULL); }

/* Cancelled while attempts are in progress: -ECANCELED and no descriptor
 * left. */
struct cancel_arg {
    cio_addr addrs[2];
    int rc;
    bool started;
};

static int cancel_child(void *arg, void **res)
{
    (void)res;
    struct cancel_arg *c = arg;
    c->started = true;
    cio_stream *s = NULL;
    c->rc = cio__connect_addrs(c->addrs, 2, &CIO_SOCKET_OPTIONS(.attempt_delay = 0.01), NULL, &s);
    return c->rc;
}

static int cancel_main(void *arg, void **res)
{
    (void)arg, (void)res;
    struct blackhole a, b;
    EXPECT_TRUE(blackhole_open(&a, "::1", 0));
    EXPECT_TRUE(blackhole_open(&b, "127.0.0.1", 0));
    struct cancel_arg c = {.addrs = {a.addr, b.addr}, .rc = 1};
    int base = test_fd_count();
    cio_task *t;
    EXPECT_OK(cio_spawn(cancel_child, &c, &t));
    /* Let the child run until it waits for its attempts: one turn, then
     * (the stagger) until both sockets exist. Bounded. */
    for (int i = 0; i < 10000 && test_fd_count() < base + 2; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_TRUE(c.started);
    EXPECT_EQ(base + 2, test_fd_count());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-ECANCELED, c.rc);
    EXPECT_EQ(base, test_fd_count());
    blackhole_close(&a);
    blackhole_close(&b);
    return 0;
}

TEST(engine_cancel_mid_attempt) { run(cancel_main, NULL); }

/* A local address restricts the attempts to its family: the IPv6 server
 * first in the list is skipped, the IPv4 one (bound from 127.0.0.1) wins. */
static int local_family_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr addrs[2], local;
    int l6 = listen_on("::1", 0, 16, &addrs[0]);
    int l4 = listen_on("127.0.0.1", 0, 16, &addrs[1]);
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &local));
    cio_stream *s = NULL;
    EXPECT_OK(cio__connect_addrs(addrs, 2, &CIO_SOCKET_OPTIONS(.local = &local), NULL, &s));
    serve_one(l4, s);
    EXPECT_OK(cio_stream_close(s));
    /* Only IPv6 addresses and an IPv4 local address: nothing to try. */
    EXPECT_ERR(-EAFNOSUPPORT,
               cio__connect_addrs(addrs, 1, &CIO_SOCKET_OPTIONS(.local = &local), NULL, &s));
    /* The error when all fail is the last attempt's, unless that one only
     * says the family is unusable: a refusal before it says more. */
    cio_addr two[2];
    int ref = refusing("127.0.0.1", &two[0]);
    two[1] = addrs[0];
    EXPECT_ERR(-ECONNREFUSED,
               cio__connect_addrs(two, 2, &CIO_SOCKET_OPTIONS(.local = &local), NULL, &s));
    close(ref);
    close(l6);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(engine_local_address_family) { run(local_family_main, NULL); }

/* Sequential (INFINITY) still goes through the whole list. */
static int sequential_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr addrs[4];
    int r0 = refusing("::1", &addrs[0]);
    int r1 = refusing("127.0.0.1", &addrs[1]);
    int r2 = refusing("::1", &addrs[2]);
    int lfd = listen_on("127.0.0.1", 0, 16, &addrs[3]);
    cio_stream *s = NULL;
    EXPECT_OK(cio__connect_addrs(addrs, 4, &CIO_SOCKET_OPTIONS(.attempt_delay = INFINITY), NULL,
                                 &s));
    serve_one(lfd, s);
    EXPECT_OK(cio_stream_close(s));
    close(r0);
    close(r1);
    close(r2);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(engine_sequential_walks_the_list) { run(sequential_main, NULL); }

/* System calls: the engine costs per attempt what cio_stream_connect
 * costs. The first address connecting: one registration (epoll's ADD),
 * the same as cio_stream_connect; a refused address before it: its ADD
 * and its DEL on top. Counted on both backends. */
static int syscalls_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_loop *loop = cio_current_loop();
    uint64_t reg = strcmp(cio_loop_backend(loop), "epoll") == 0 ? 2 : 1; /* ADD + DEL */
    cio_addr addrs[2];
    int ref = refusing("127.0.0.1", &addrs[0]);
    int lfd = listen_on("127.0.0.1", 0, 16, &addrs[1]);
    for (int i = 0; i < 3; i++) {
        uint64_t c0 = cio__io_ctl_count(loop);
        cio_stream *s = NULL;
        EXPECT_OK(cio_stream_connect(&addrs[1], NULL, NULL, &s));
        uint64_t plain = cio__io_ctl_count(loop) - c0;
        EXPECT_OK(cio_stream_close(s));
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        EXPECT_TRUE(fd >= 0);
        close(fd);

        c0 = cio__io_ctl_count(loop);
        EXPECT_OK(cio__connect_addrs(&addrs[1], 1, NULL, NULL, &s));
        EXPECT_EQ(plain, cio__io_ctl_count(loop) - c0);
        EXPECT_OK(cio_stream_close(s));
        EXPECT_OK(cio_stream_connect_name("127.0.0.1", cio_addr_port(&addrs[1]), NULL, NULL, &s));
        EXPECT_OK(cio_stream_close(s));
        EXPECT_EQ(2 * reg, cio__io_ctl_count(loop) - c0);
        for (int k = 0; k < 2; k++) {
            fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            EXPECT_TRUE(fd >= 0);
            close(fd);
        }

        c0 = cio__io_ctl_count(loop);
        EXPECT_OK(cio__connect_addrs(addrs, 2, NULL, NULL, &s));
        EXPECT_EQ(reg + plain, cio__io_ctl_count(loop) - c0);
        EXPECT_OK(cio_stream_close(s));
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        EXPECT_TRUE(fd >= 0);
        close(fd);
    }
    close(ref);
    close(lfd);
    return 0;
}

TEST(engine_syscalls_as_stream_connect) { run(syscalls_main, NULL); }

static int engine_args_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_addr a[CIO__CONNECT_MAX + 1];
    EXPECT_OK(cio_addr_ip("127.0.0.1", 1, &a[0]));
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-EINVAL, cio__connect_addrs(NULL, 1, NULL, NULL, &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_ERR(-EINVAL, cio__connect_addrs(a, 0, NULL, NULL, &s));
    EXPECT_ERR(-EINVAL, cio__connect_addrs(a, CIO__CONNECT_MAX + 1, NULL, NULL, &s));
    EXPECT_ERR(-EINVAL, cio__connect_addrs(a, 1, NULL, NULL, NULL));
    return 0;
}

TEST(engine_args) { run(engine_args_main, NULL); }

/* RFC 8305's order: the family of the resolver's first address first (its
 * RFC 6724 sorting decides), the families alternating, each in the
 * resolver's order. */
static void check_order(const char *const *in, const char *const *want, int n)
{
    cio_addr a[8];
    for (int i = 0; i < n; i++)
        EXPECT_OK(cio_addr_ip(in[i], 80, &a[i]));
    cio__connect_order(a, (size_t)n);
    for (int i = 0; i < n; i++) {
        cio_addr w;
        EXPECT_OK(cio_addr_ip(want[i], 80, &w));
        EXPECT_TRUE(cio_addr_is_equal(&w, &a[i]));
    }
}

TEST(order_interleaves_families)
{
    const char *in6[] = {"::1", "::2", "127.0.0.1", "127.0.0.2", "127.0.0.3"};
    const char *want6[] = {"::1", "127.0.0.1", "::2", "127.0.0.2", "127.0.0.3"};
    check_order(in6, want6, 5);
    /* IPv4 sorted first (a host without IPv6 connectivity): IPv4 leads */
    const char *in4[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "::1", "::2"};
    const char *want4[] = {"127.0.0.1", "::1", "127.0.0.2", "::2", "127.0.0.3"};
    check_order(in4, want4, 5);
    cio_addr a[2];
    /* One family only: unchanged. */
    EXPECT_OK(cio_addr_ip("127.0.0.9", 1, &a[0]));
    EXPECT_OK(cio_addr_ip("127.0.0.8", 1, &a[1]));
    cio_addr b[2] = {a[0], a[1]};
    cio__connect_order(b, 2);
    EXPECT_TRUE(cio_addr_is_equal(&a[0], &b[0]) && cio_addr_is_equal(&a[1], &b[1]));
}

/* ---- cio_stream_connect_name with numeric hosts ----------------------------- */

static int numeric_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    const char *hosts[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; i++) {
        cio_addr addr;
        int lfd = listen_on(hosts[i], 0, 16, &addr);
        cio_stream *s = NULL;
        EXPECT_OK(cio_stream_connect_name(hosts[i], cio_addr_port(&addr), NULL, NULL, &s));
        serve_one(lfd, s);
        EXPECT_OK(cio_stream_close(s));
    }
    /* A numeric host of the other family than asked: nothing to try. */
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-ENODATA, cio_stream_connect_name("127.0.0.1", 80,
                                                 &CIO_SOCKET_OPTIONS(.family = AF_INET6), NULL,
                                                 &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_ERR(-ENODATA, cio_stream_connect_name("::1", 80, &CIO_SOCKET_OPTIONS(.family = AF_INET),
                                                 NULL, &s));
    /* Refused. */
    cio_addr ra;
    int r = refusing("127.0.0.1", &ra);
    EXPECT_ERR(-ECONNREFUSED, cio_stream_connect_name("127.0.0.1", cio_addr_port(&ra), NULL,
                                                      NULL, &s));
    close(r);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(stream_numeric_hosts) { run(numeric_main, NULL); }

static int stream_args_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-EINVAL, cio_stream_connect_name(NULL, 80, NULL, NULL, &s));
    EXPECT_TRUE(s == NULL);
    s = (cio_stream *)&s;
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("", 80, NULL, NULL, &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 0, NULL, NULL, &s));
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 80, NULL, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 80,
                                                &CIO_SOCKET_OPTIONS(.family = AF_UNIX), NULL, &s));
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 80,
                                                &CIO_SOCKET_OPTIONS(.family = 12345), NULL, &s));
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 80,
                                                &CIO_SOCKET_OPTIONS(.attempt_delay = NAN), NULL,
                                                &s));
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 80,
                                                &CIO_SOCKET_OPTIONS(.attempt_delay = -1), NULL,
                                                &s));
    cio_addr l4;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &l4));
    EXPECT_ERR(-EINVAL, cio_stream_connect_name(
                            "::1", 80, &CIO_SOCKET_OPTIONS(.local = &l4, .family = AF_INET6),
                            NULL, &s));
    cio_socket_options bad = {0}; /* not made with the macros */
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 80, &bad, NULL, &s));
    /* From a newer header, with a field this library does not know set. */
    struct {
        cio_socket_options o;
        uint64_t extra;
    } newer = {.o = {.size = sizeof newer}, .extra = 1};
    EXPECT_ERR(-E2BIG, cio_stream_connect_name("127.0.0.1", 80, &newer.o, NULL, &s));
    newer.extra = 0; /* unknown but zero: fine (it gets as far as the connect) */
    cio_addr ra;
    int r = refusing("127.0.0.1", &ra);
    EXPECT_ERR(-ECONNREFUSED,
               cio_stream_connect_name("127.0.0.1", cio_addr_port(&ra), &newer.o, NULL, &s));
    close(r);
    EXPECT_ERR(-EINVAL, cio_stream_connect_name("127.0.0.1", 80, NULL,
                                                &CIO_STREAM_OPTIONS(.high_water = 10,
                                                                    .low_water = 20),
                                                &s));
    return 0;
}

TEST(stream_args)
{
    run(stream_args_main, NULL);
    /* Outside a task. */
    cio_loop *loop = test_strict_loop_new();
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-EPERM, cio_stream_connect_name("127.0.0.1", 80, NULL, NULL, &s));
    EXPECT_TRUE(s == NULL);
    CLOSE_LOOP(loop);
}

/* ---- cio_transport_connect_name ---------------------------------------------- */

struct tp {
    cio_event *made, *lost;
    int nmade, nlost, lost_err, made_rc;
    char got[16];
    size_t ngot;
};

static int tp_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct tp *p = arg;
    p->nmade++;
    if (p->made_rc)
        return p->made_rc;
    EXPECT_OK(cio_transport_write(t, "ping", 4));
    cio_event_set(p->made);
    return 0;
}

static void tp_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct tp *p = ctx;
    EXPECT_TRUE(p->ngot + len <= sizeof p->got);
    memcpy(p->got + p->ngot, data, len);
    p->ngot += len;
    if (p->ngot == 4)
        cio_transport_close(t);
}

static void tp_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    struct tp *p = ctx;
    p->nlost++;
    p->lost_err = error;
    cio_event_set(p->lost);
}

static const cio_protocol tp_proto = {
    .connection_made = tp_made, .data_received = tp_data, .connection_lost = tp_lost};

static void tp_init(struct tp *p)
{
    memset(p, 0, sizeof *p);
    EXPECT_OK(cio_event_new(&p->made));
    EXPECT_OK(cio_event_new(&p->lost));
}

static void tp_fini(struct tp *p)
{
    EXPECT_OK(cio_event_free(p->made));
    EXPECT_OK(cio_event_free(p->lost));
}

static int transport_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_loop *loop = cio_current_loop();
    /* Connected, connection_made ran, the future says 0, bytes flow. */
    struct blackhole bh;
    cio_addr raddr;
    int lfd;
    pair_same_port(&lfd, &raddr, &bh);
    struct tp p;
    tp_init(&p);
    cio_future *f = NULL;
    EXPECT_OK(cio_transport_connect_name(loop, "::1", cio_addr_port(&raddr), NULL, NULL,
                                         &tp_proto, &p, &f));
    /* "::1" is the blackhole: the future is pending while it hangs. */
    EXPECT_FALSE(cio_future_is_done(f));
    cio_future_cancel(f);
    EXPECT_ERR(-ECANCELED, cio_await(f, NULL));
    cio_future_unref(f);
    /* Cancelled: no callback. The next connect proves the loop moved on. */
    EXPECT_OK(cio_transport_connect_name(loop, "127.0.0.1", cio_addr_port(&raddr), NULL, NULL,
                                         &tp_proto, &p, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(1, p.nmade);
    int fd = -1;
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    char buf[4];
    EXPECT_EQ(4, cio_fd_read(fd, buf, 4));
    EXPECT_TRUE(memcmp(buf, "ping", 4) == 0);
    EXPECT_EQ(4, cio_fd_write(fd, "pong", 4));
    EXPECT_OK(cio_event_wait(p.lost));
    EXPECT_EQ(1, p.nlost);
    EXPECT_OK(p.lost_err);
    EXPECT_TRUE(memcmp(p.got, "pong", 4) == 0);
    EXPECT_OK(cio_fd_close(fd));
    tp_fini(&p);

    /* connection_made's error is the future's. */
    tp_init(&p);
    p.made_rc = -EPROTO;
    EXPECT_OK(cio_transport_connect_name(loop, "127.0.0.1", cio_addr_port(&raddr), NULL, NULL,
                                         &tp_proto, &p, &f));
    EXPECT_ERR(-EPROTO, cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_OK(cio_event_wait(p.lost));
    EXPECT_EQ(1, p.nmade);
    EXPECT_EQ(1, p.nlost);
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    EXPECT_OK(cio_fd_close(fd));
    tp_fini(&p);

    /* Refused: the future has the error, no callback. */
    tp_init(&p);
    cio_addr ra;
    int r = refusing("127.0.0.1", &ra);
    EXPECT_OK(cio_transport_connect_name(loop, "127.0.0.1", cio_addr_port(&ra), NULL, NULL,
                                         &tp_proto, &p, &f));
    EXPECT_ERR(-ECONNREFUSED, cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(0, p.nmade);
    EXPECT_EQ(0, p.nlost);
    close(r);
    /* No future asked for: it still connects. */
    EXPECT_OK(cio_transport_connect_name(loop, "127.0.0.1", cio_addr_port(&raddr), NULL, NULL,
                                         &tp_proto, &p, NULL));
    EXPECT_OK(cio_event_wait(p.made));
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    EXPECT_EQ(4, cio_fd_read(fd, buf, 4));
    EXPECT_EQ(4, cio_fd_write(fd, "pong", 4));
    EXPECT_OK(cio_event_wait(p.lost));
    EXPECT_OK(cio_fd_close(fd));
    tp_fini(&p);

    EXPECT_OK(cio_fd_close(lfd));
    blackhole_close(&bh);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_numeric) { run(transport_main, NULL); }

/* Happy Eyeballs from the callback form: the blackhole first (IPv6), the
 * real server second; the future is cancelled after it completed: nothing
 * changes. */
static int transport_he_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_loop *loop = cio_current_loop();
    struct blackhole bh;
    cio_addr raddr;
    int lfd;
    pair_same_port(&lfd, &raddr, &bh);
    /* Both addresses by hand through the engine's order: a numeric host
     * has one, so this goes through a stream made with the engine and
     * handed over as the callback form does. */
    struct tp p;
    tp_init(&p);
    cio_addr addrs[2] = {bh.addr, raddr};
    cio_stream *s = NULL;
    EXPECT_OK(cio__connect_addrs(addrs, 2, NULL, NULL, &s));
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    cio_transport *t;
    EXPECT_OK(cio__stream_to_transport_connect(s, &tp_proto, &p, f, &t));
    EXPECT_OK(cio_await(f, NULL));
    EXPECT_EQ(-EINVAL, cio_future_cancel(f));
    cio_future_unref(f);
    int fd = -1;
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    char buf[4];
    EXPECT_EQ(4, cio_fd_read(fd, buf, 4));
    EXPECT_EQ(4, cio_fd_write(fd, "pong", 4));
    EXPECT_OK(cio_event_wait(p.lost));
    EXPECT_EQ(1, p.nmade);
    EXPECT_OK(cio_fd_close(fd));
    tp_fini(&p);
    blackhole_untouched(&bh);

    /* Cancelled after the hand-off, before connection_made ran: the
     * transport is aborted and no callback is called. */
    int base = test_fd_count();
    tp_init(&p);
    EXPECT_OK(cio__connect_addrs(&raddr, 1, NULL, NULL, &s));
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_OK(cio__stream_to_transport_connect(s, &tp_proto, &p, f, &t));
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    for (int i = 0; i < 10000 && test_fd_count() != base; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(base, test_fd_count());
    EXPECT_OK(cio_yield());
    EXPECT_EQ(0, p.nmade);
    EXPECT_EQ(0, p.nlost);
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    EXPECT_OK(cio_fd_close(fd));
    tp_fini(&p);

    EXPECT_OK(cio_fd_close(lfd));
    blackhole_close(&bh);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(transport_handoff_future) { run(transport_he_main, NULL); }

static int transport_args_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_loop *loop = cio_current_loop();
    cio_future *f = (cio_future *)&f;
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(NULL, "h", 80, NULL, NULL, &tp_proto, NULL,
                                                   &f));
    EXPECT_TRUE(f == NULL);
    EXPECT_ERR(-EINVAL,
               cio_transport_connect_name(loop, NULL, 80, NULL, NULL, &tp_proto, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(loop, "", 80, NULL, NULL, &tp_proto, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(loop, "h", 0, NULL, NULL, &tp_proto, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(loop, "h", 80, NULL, NULL, NULL, NULL, &f));
    static const cio_protocol nodata = {.connection_made = tp_made};
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(loop, "h", 80, NULL, NULL, &nodata, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(loop, "h", 80,
                                                   &CIO_SOCKET_OPTIONS(.family = AF_UNIX), NULL,
                                                   &tp_proto, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(loop, "h", 80,
                                                   &CIO_SOCKET_OPTIONS(.attempt_delay = NAN),
                                                   NULL, &tp_proto, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(loop, "h", 80,
                                                   &CIO_SOCKET_OPTIONS(.attempt_delay = -0.5),
                                                   NULL, &tp_proto, NULL, &f));
    EXPECT_ERR(-EINVAL, cio_transport_connect_name(
                            loop, "h", 80, NULL,
                            &CIO_STREAM_OPTIONS(.high_water = 10, .low_water = 20), &tp_proto,
                            NULL, &f));
    struct {
        cio_socket_options o;
        uint64_t extra;
    } newer = {.o = {.size = sizeof newer}, .extra = 1};
    EXPECT_ERR(-E2BIG,
               cio_transport_connect_name(loop, "h", 80, &newer.o, NULL, &tp_proto, NULL, &f));
    EXPECT_TRUE(f == NULL);
    return 0;
}

TEST(transport_args) { run(transport_args_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
