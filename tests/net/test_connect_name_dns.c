/* Connecting by name through a resolver: a dnsmasq the test starts on
 * 127.0.0.1 (tests/net/dnsmasq_util.h) answers "he.test" with AAAA ::1 and
 * A 127.0.0.1; at one port, ::1 is a BLACKHOLE (a listener whose full
 * accept queue drops SYNs: the connect hangs) and 127.0.0.1 a real server.
 * Happy Eyeballs tries ::1 first and wins on 127.0.0.1 after the stagger;
 * which server got the connection is asserted, never a duration. Also:
 * family restrictions, the resolver's errors, "localhost" through
 * /etc/hosts, the callback form, and cancellation and deadlines during
 * the resolution. Nothing but loopback: every resolver here points at the
 * test's dnsmasq (or at a socket of the test's that never answers). */
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cio.h>
#include <cio/dns.h>
#include <cio/net.h>

#include "test.h"
#include "net/dnsmasq_util.h"
#include "net/blackhole_util.h"

/* ---- loopback peers (listeners and blackholes: net/blackhole_util.h) -------- */

/* Accepts s's connection on lfd, checks it is s's, exchanges bytes. lfd
 * stays open (registered: close it with cio_fd_close). */
static void serve_one(int lfd, cio_stream *s)
{
    int fd = -1;
    cio_addr peer, local;
    EXPECT_OK(cio_socket_accept(lfd, &fd, &peer));
    EXPECT_OK(cio_socket_local(cio_stream_fd(s), &local));
    EXPECT_TRUE(cio_addr_is_equal(&peer, &local));
    EXPECT_OK(cio_stream_write(s, "ping", 4));
    char buf[8];
    EXPECT_EQ(4, cio_fd_read(fd, buf, sizeof buf));
    EXPECT_TRUE(memcmp(buf, "ping", 4) == 0);
    EXPECT_EQ(4, cio_fd_write(fd, "pong", 4));
    EXPECT_EQ(4, cio_stream_read_exactly(s, buf, 4));
    EXPECT_TRUE(memcmp(buf, "pong", 4) == 0);
    EXPECT_OK(cio_fd_close(fd));
}

/* The scene: dnsmasq with he.test (AAAA ::1, A 127.0.0.1), v4.test (A
 * only), v6.test (AAAA only); a real server on 127.0.0.1:P and a
 * blackhole on [::1]:P. */
struct scene {
    struct test_dnsmasq d;
    cio_resolver *r;
    int real;
    cio_addr raddr;
    struct blackhole bh;
    uint16_t port;
};

static void scene_open(struct scene *sc)
{
    memset(sc, 0, sizeof *sc);
    static const char *const recs[] = {"--host-record=he.test,127.0.0.1,::1",
                                       "--host-record=v4.test,127.0.0.1",
                                       "--host-record=v6.test,::1", NULL};
    test_dnsmasq_start(&sc->d, recs);
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = sc->d.servers, .search = "",
                                                     .no_hosts = true),
                               &sc->r));
    /* One lookup first: the resolver's socket (opened at its first query)
     * is then part of the cases' descriptor baselines. */
    cio_addr one;
    EXPECT_EQ(1, cio_dns_resolve(sc->r, "v4.test", 80, AF_UNSPEC, &one, 1));
    for (int i = 0; i < 50; i++) {
        sc->real = listen_on("127.0.0.1", 0, 16, &sc->raddr);
        EXPECT_TRUE(sc->real >= 0);
        if (blackhole_open(&sc->bh, "::1", cio_addr_port(&sc->raddr))) {
            sc->port = cio_addr_port(&sc->raddr);
            return;
        }
        close(sc->real);
    }
    FAIL("no port free on both 127.0.0.1 and ::1");
}

static void scene_close(struct scene *sc)
{
    blackhole_untouched(&sc->bh);
    blackhole_close(&sc->bh);
    EXPECT_OK(cio_fd_close(sc->real));
    cio_resolver_free(sc->r);
    test_dnsmasq_stop(&sc->d);
}

static void run(cio_task_fn fn, void *arg)
{
    int before = test_fd_baseline();
    void *res = NULL;
    EXPECT_OK(cio_run(fn, arg, &res));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- Happy Eyeballs by name ----------------------------------------------------- */

static int he_main(void *arg, void **res)
{
    (void)res;
    double delay = *(double *)arg;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    struct scene sc;
    scene_open(&sc);
    int base = test_fd_count();
    cio_stream *s = NULL;
    EXPECT_OK(cio_stream_connect_name(
        "he.test", sc.port, &CIO_SOCKET_OPTIONS(.resolver = sc.r, .attempt_delay = delay), NULL,
        &s));
    /* Only the winner is open: the ::1 attempt was closed. */
    EXPECT_EQ(base + 1, test_fd_count());
    cio_addr peer;
    EXPECT_OK(cio_socket_peer(cio_stream_fd(s), &peer));
    EXPECT_TRUE(cio_addr_is_equal(&sc.raddr, &peer));
    serve_one(sc.real, s);
    EXPECT_OK(cio_stream_close(s));
    scene_close(&sc);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(name_ipv6_blackhole_ipv4_wins)
{
    double d = 0; /* the default 0.25 s */
    run(he_main, &d);
}

TEST(name_ipv6_blackhole_ipv4_wins_short_delay)
{
    double d = 0.01;
    run(he_main, &d);
}

/* family restricts: AF_INET never tries ::1 (with no stagger timer at all,
 * a try of the blackhole would hang to the deadline); AF_INET6 only tries
 * the blackhole: the deadline ends it. */
static int family_main(void *arg, void **res)
{
    (void)arg, (void)res;
    struct scene sc;
    scene_open(&sc);
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    cio_stream *s = NULL;
    EXPECT_OK(cio_stream_connect_name(
        "he.test", sc.port,
        &CIO_SOCKET_OPTIONS(.resolver = sc.r, .family = AF_INET, .attempt_delay = INFINITY), NULL,
        &s));
    serve_one(sc.real, s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_scope_end(&to));

    int base = test_fd_count();
    EXPECT_OK(cio_timeout_begin(&to, 0.5));
    s = (cio_stream *)&s;
    EXPECT_ERR(-ETIMEDOUT, cio_stream_connect_name(
                               "he.test", sc.port,
                               &CIO_SOCKET_OPTIONS(.resolver = sc.r, .family = AF_INET6), NULL,
                               &s));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&to));
    EXPECT_TRUE(s == NULL);
    EXPECT_EQ(base, test_fd_count());

    /* A local address picks the family: IPv4 from 127.0.0.1, no ::1. */
    EXPECT_OK(cio_timeout_begin(&to, 60));
    cio_addr local;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &local));
    EXPECT_OK(cio_stream_connect_name(
        "he.test", sc.port,
        &CIO_SOCKET_OPTIONS(.resolver = sc.r, .local = &local, .attempt_delay = INFINITY), NULL,
        &s));
    serve_one(sc.real, s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_scope_end(&to));
    scene_close(&sc);
    return 0;
}

TEST(name_family_restricts) { run(family_main, NULL); }

/* The resolver's errors come back as they are, nothing left open. */
static int errors_main(void *arg, void **res)
{
    (void)arg, (void)res;
    struct scene sc;
    scene_open(&sc);
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    int base = test_fd_count();
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-ENOENT, cio_stream_connect_name("nosuch.test", sc.port,
                                                &CIO_SOCKET_OPTIONS(.resolver = sc.r), NULL, &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_ERR(-ENODATA,
               cio_stream_connect_name("v6.test", sc.port,
                                       &CIO_SOCKET_OPTIONS(.resolver = sc.r, .family = AF_INET),
                                       NULL, &s));
    EXPECT_ERR(-ENODATA,
               cio_stream_connect_name("v4.test", sc.port,
                                       &CIO_SOCKET_OPTIONS(.resolver = sc.r, .family = AF_INET6),
                                       NULL, &s));
    /* A name with one address: no Happy Eyeballs needed. */
    EXPECT_OK(cio_stream_connect_name("v4.test", sc.port, &CIO_SOCKET_OPTIONS(.resolver = sc.r),
                                      NULL, &s));
    serve_one(sc.real, s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_EQ(base, test_fd_count());
    EXPECT_OK(cio_scope_end(&to));
    scene_close(&sc);
    return 0;
}

TEST(name_resolver_errors) { run(errors_main, NULL); }

/* "localhost" from /etc/hosts. The resolver's servers are a dnsmasq of the
 * test's (which knows no "localhost"), so nothing outside is ever asked. */
static int localhost_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    struct test_dnsmasq d = {0};
    test_dnsmasq_start(&d, NULL);
    cio_resolver *r;
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = d.servers, .search = ""), &r));
    /* Listeners on both loopbacks at one port: whatever /etc/hosts says
     * localhost is (127.0.0.1, maybe ::1 too), one of them answers. */
    cio_addr a4, a6;
    int l4 = -1, l6 = -1;
    for (int i = 0; i < 50 && l6 < 0; i++) {
        l4 = listen_on("127.0.0.1", 0, 16, &a4);
        EXPECT_TRUE(l4 >= 0);
        l6 = listen_on("::1", cio_addr_port(&a4), 16, &a6);
        if (l6 < 0)
            close(l4);
    }
    EXPECT_TRUE(l6 >= 0);
    cio_stream *s = NULL;
    EXPECT_OK(cio_stream_connect_name("localhost", cio_addr_port(&a4),
                                      &CIO_SOCKET_OPTIONS(.resolver = r), NULL, &s));
    cio_addr peer;
    EXPECT_OK(cio_socket_peer(cio_stream_fd(s), &peer));
    serve_one(cio_addr_family(&peer) == AF_INET6 ? l6 : l4, s);
    EXPECT_OK(cio_stream_close(s));
    /* And restricted to IPv4, as every /etc/hosts has it. */
    EXPECT_OK(cio_stream_connect_name("localhost", cio_addr_port(&a4),
                                      &CIO_SOCKET_OPTIONS(.resolver = r, .family = AF_INET), NULL,
                                      &s));
    serve_one(l4, s);
    EXPECT_OK(cio_stream_close(s));
    EXPECT_OK(cio_fd_close(l4));
    EXPECT_OK(cio_fd_close(l6));
    cio_resolver_free(r);
    test_dnsmasq_stop(&d);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(name_localhost_etc_hosts) { run(localhost_main, NULL); }

/* ---- during the resolution ------------------------------------------------------ */

/* A "server" that never answers: a UDP socket of the test's that reads
 * nothing. */
static int mute_server(char *servers, size_t len)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    EXPECT_EQ(0, bind(fd, &a.u.sa, a.len));
    EXPECT_OK(cio_socket_local(fd, &a));
    snprintf(servers, len, "127.0.0.1:%u", cio_addr_port(&a));
    return fd;
}

struct resolving {
    cio_resolver *r;
    int rc;
};

static int resolving_child(void *arg, void **res)
{
    (void)res;
    struct resolving *p = arg;
    cio_stream *s = NULL;
    p->rc = cio_stream_connect_name("slow.test", 80, &CIO_SOCKET_OPTIONS(.resolver = p->r), NULL,
                                    &s);
    return p->rc;
}

static int resolving_main(void *arg, void **res)
{
    (void)arg, (void)res;
    char servers[32];
    int mute = mute_server(servers, sizeof servers);
    cio_resolver *r;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .no_hosts = true, .timeout = 30,
                              .tries = 1),
        &r));
    /* The task's deadline covers the resolution. */
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 0.2));
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-ETIMEDOUT, cio_stream_connect_name("slow.test", 80,
                                                   &CIO_SOCKET_OPTIONS(.resolver = r), NULL, &s));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&to));
    EXPECT_TRUE(s == NULL);
    /* Cancellation too. */
    struct resolving p = {r, 1};
    cio_task *t;
    EXPECT_OK(cio_spawn(resolving_child, &p, &t));
    EXPECT_OK(cio_yield()); /* the child runs until it waits for the answer */
    EXPECT_EQ(1, p.rc);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-ECANCELED, p.rc);
    cio_resolver_free(r);
    close(mute);
    return 0;
}

TEST(name_deadline_and_cancel_while_resolving) { run(resolving_main, NULL); }

/* ---- the callback form ------------------------------------------------------------ */

struct tp {
    cio_event *lost;
    int nmade, nlost, lost_err;
    cio_addr peer;
};

static int tp_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct tp *p = arg;
    p->nmade++;
    EXPECT_OK(cio_socket_peer(cio_transport_fd(t), &p->peer));
    return cio_transport_write(t, "ping", 4);
}

static void tp_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)data, (void)len, (void)ctx;
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

static int transport_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_scope to;
    EXPECT_OK(cio_timeout_begin(&to, 60));
    cio_loop *loop = cio_current_loop();
    struct scene sc;
    scene_open(&sc);
    struct tp p = {0};
    EXPECT_OK(cio_event_new(&p.lost));
    cio_future *f;
    EXPECT_OK(cio_transport_connect_name(loop, "he.test", sc.port,
                                         &CIO_SOCKET_OPTIONS(.resolver = sc.r), NULL, &tp_proto,
                                         &p, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(1, p.nmade);
    EXPECT_TRUE(cio_addr_is_equal(&sc.raddr, &p.peer));
    int fd = -1;
    EXPECT_OK(cio_socket_accept(sc.real, &fd, NULL));
    char buf[4];
    EXPECT_EQ(4, cio_fd_read(fd, buf, 4));
    EXPECT_EQ(4, cio_fd_write(fd, "pong", 4));
    EXPECT_OK(cio_event_wait(p.lost));
    EXPECT_EQ(1, p.nlost);
    EXPECT_OK(p.lost_err);
    EXPECT_OK(cio_fd_close(fd));

    /* Cancelled while the only address (AF_INET6: the blackhole) hangs:
     * no callback, nothing left open. */
    int base = test_fd_count();
    EXPECT_OK(cio_transport_connect_name(loop, "he.test", sc.port,
                                         &CIO_SOCKET_OPTIONS(.resolver = sc.r, .family = AF_INET6),
                                         NULL, &tp_proto, &p, &f));
    for (int i = 0; i < 10000 && test_fd_count() == base; i++)
        EXPECT_OK(cio_sleep(0.001)); /* until its attempt's socket exists */
    EXPECT_FALSE(cio_future_is_done(f));
    EXPECT_OK(cio_future_cancel(f));
    EXPECT_ERR(-ECANCELED, cio_await(f, NULL));
    cio_future_unref(f);
    for (int i = 0; i < 10000 && test_fd_count() != base; i++)
        EXPECT_OK(cio_sleep(0.001)); /* the task's end closes it */
    EXPECT_EQ(base, test_fd_count());
    EXPECT_EQ(1, p.nmade);

    /* A resolver error through the future. */
    EXPECT_OK(cio_transport_connect_name(loop, "nosuch.test", sc.port,
                                         &CIO_SOCKET_OPTIONS(.resolver = sc.r), NULL, &tp_proto,
                                         &p, &f));
    EXPECT_ERR(-ENOENT, cio_await(f, NULL));
    cio_future_unref(f);
    EXPECT_EQ(1, p.nmade);
    EXPECT_OK(cio_event_free(p.lost));
    scene_close(&sc);
    EXPECT_OK(cio_scope_end(&to));
    return 0;
}

TEST(name_transport) { run(transport_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
