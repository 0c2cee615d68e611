/* Sockets: listen, connect and accept over 127.0.0.1, ::1, a Unix path in
 * a temporary directory and an abstract name; local and peer addresses;
 * connection refused; a connect deadline against a listener that never
 * accepts and whose backlog is full (TCP and Unix); accept's deadline;
 * socket options read back with getsockopt (TCP_NODELAY, keep-alive,
 * SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY); the Unix unlink option;
 * half-close; socket pairs; argument errors. Loopback only. Every case
 * runs once per backend and checks that no descriptor leaked. */
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "test.h"
#include "net/internal.h"

static const char *const backends[] = {"epoll", "poll"};

static void run_both(cio_task_fn fn, void *arg)
{
    for (size_t i = 0; i < sizeof backends / sizeof *backends; i++) {
        int before = test_fd_baseline();
        int rc = cio_run_with(&CIO_LOOP_OPTIONS(.backend = backends[i]), fn, arg, NULL);
        if (rc != 0)
            FAIL("backend %s: main returned %s", backends[i], cio_err_name(rc));
        EXPECT_EQ(before, test_fd_count());
    }
}

static int getopt_int(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    EXPECT_OK(getsockopt(fd, level, name, &v, &l));
    return v;
}

static bool have_ipv6(void)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    if (s < 0)
        return false;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static char g_dir[64];

static void make_dir(void)
{
    strcpy(g_dir, "/tmp/cio-sock-XXXXXX");
    EXPECT_TRUE(mkdtemp(g_dir) != NULL);
}

/* ---- listen, connect, accept ------------------------------------------------ */

struct server {
    int lfd;
    int fd;
    cio_addr peer;
    int rc;
    bool echo;      /* echo what arrives until end of stream, then write "bye" */
};

static int server_task(void *arg, void **result)
{
    (void)result;
    struct server *s = arg;
    s->rc = cio_socket_accept(s->lfd, &s->fd, &s->peer);
    if (s->rc || !s->echo)
        return 0;
    char buf[256];
    ssize_t n;
    while ((n = cio_fd_read(s->fd, buf, sizeof buf)) > 0)
        EXPECT_EQ(n, cio_fd_write(s->fd, buf, (size_t)n));
    EXPECT_EQ(0, n);
    /* Half-closed by the client: it still reads what we write. */
    EXPECT_EQ(3, cio_fd_write(s->fd, "bye", 3));
    EXPECT_OK(cio_fd_close(s->fd));
    s->fd = -1;
    return 0;
}

static void exchange(const cio_addr *addr)
{
    int lfd = -1;
    EXPECT_OK(cio_socket_listen(addr, NULL, &lfd));
    cio_addr bound;
    EXPECT_OK(cio_socket_local(lfd, &bound));
    EXPECT_EQ(cio_addr_family(addr), cio_addr_family(&bound));
    if (cio_addr_family(addr) != AF_UNIX) {
        EXPECT_NE(0, cio_addr_port(&bound)); /* port 0 picked one */
    } else {
        EXPECT_TRUE(cio_addr_is_equal(addr, &bound));
    }
    struct server srv = {.lfd = lfd, .fd = -1, .rc = 1, .echo = true};
    cio_task *t = NULL;
    EXPECT_OK(cio_spawn(server_task, &srv, &t));
    int fd = -1;
    EXPECT_OK(cio_socket_connect(&bound, NULL, &fd));
    /* Non-blocking and close-on-exec. */
    EXPECT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    cio_addr peer, local;
    EXPECT_OK(cio_socket_peer(fd, &peer));
    EXPECT_TRUE(cio_addr_is_equal(&bound, &peer));
    EXPECT_OK(cio_socket_local(fd, &local));
    EXPECT_EQ(6, cio_fd_write(fd, "hello\n", 6));
    char buf[16];
    EXPECT_EQ(6, cio_fd_read(fd, buf, sizeof buf));
    EXPECT_EQ(0, memcmp(buf, "hello\n", 6));
    /* Half-close: our write side ends, reading goes on. */
    EXPECT_OK(shutdown(fd, SHUT_WR));
    EXPECT_EQ(3, cio_fd_read(fd, buf, sizeof buf));
    EXPECT_EQ(0, memcmp(buf, "bye", 3));
    EXPECT_EQ(0, cio_fd_read(fd, buf, sizeof buf));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(srv.rc);
    if (cio_addr_family(addr) != AF_UNIX) {
        EXPECT_TRUE(cio_addr_is_equal(&local, &srv.peer));
        /* TCP_NODELAY by default on both ends. */
    }
    EXPECT_OK(cio_fd_close(fd));
    EXPECT_OK(cio_fd_close(lfd));
}

static int loopback_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_addr a;
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    exchange(&a);
    if (have_ipv6()) {
        EXPECT_OK(cio_addr_parse("[::1]:0", &a));
        exchange(&a);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/s", g_dir);
    EXPECT_OK(cio_addr_unix(path, &a));
    exchange(&a);
    unlink(path);
    char name[64];
    snprintf(name, sizeof name, "@cio-test-%d-%p", (int)getpid(), (void *)&a);
    EXPECT_OK(cio_addr_unix(name, &a));
    exchange(&a);
    return 0;
}

TEST(socket_listen_connect_accept)
{
    make_dir();
    run_both(loopback_main, NULL);
    rmdir(g_dir);
}

/* ---- options ----------------------------------------------------------------- */

static int options_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_addr a;
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    EXPECT_EQ(1, getopt_int(lfd, SOL_SOCKET, SO_REUSEADDR));
    EXPECT_EQ(0, getopt_int(lfd, SOL_SOCKET, SO_REUSEPORT));
    EXPECT_OK(cio_socket_local(lfd, &a));
    /* Defaults: TCP_NODELAY on both ends, no keep-alive. */
    struct server srv = {.lfd = lfd, .fd = -1, .rc = 1, .echo = false};
    cio_task *t;
    EXPECT_OK(cio_spawn(server_task, &srv, &t));
    int fd;
    EXPECT_OK(cio_socket_connect(&a, NULL, &fd));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(srv.rc);
    EXPECT_EQ(1, getopt_int(fd, IPPROTO_TCP, TCP_NODELAY));
    EXPECT_EQ(1, getopt_int(srv.fd, IPPROTO_TCP, TCP_NODELAY));
    EXPECT_EQ(0, getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE));
    EXPECT_OK(cio_fd_close(fd));
    EXPECT_OK(cio_fd_close(srv.fd));
    /* Nagle and keep-alive asked for. */
    cio_socket_options o = CIO_SOCKET_OPTIONS(.nagle = true, .keepalive = true,
                                              .keepalive_idle = 30, .keepalive_interval = 7,
                                              .keepalive_count = 4);
    EXPECT_OK(cio_spawn(server_task, &srv, &t));
    EXPECT_OK(cio_socket_connect(&a, &o, &fd));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_EQ(0, getopt_int(fd, IPPROTO_TCP, TCP_NODELAY));
    EXPECT_EQ(1, getopt_int(fd, SOL_SOCKET, SO_KEEPALIVE));
    EXPECT_EQ(30, getopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE));
    EXPECT_EQ(7, getopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL));
    EXPECT_EQ(4, getopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT));
    EXPECT_OK(cio_fd_close(fd));
    EXPECT_OK(cio_fd_close(srv.fd));
    /* A listener's keep-alive options reach what it accepts. */
    int lfd2;
    cio_addr any;
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &any));
    EXPECT_OK(cio_socket_listen(&any, &CIO_SOCKET_OPTIONS(.keepalive = true, .keepalive_idle = 11),
                                &lfd2));
    EXPECT_EQ(1, getopt_int(lfd2, SOL_SOCKET, SO_KEEPALIVE));
    EXPECT_EQ(11, getopt_int(lfd2, IPPROTO_TCP, TCP_KEEPIDLE));
    EXPECT_OK(cio_fd_close(lfd2));
    /* Binding the connecting end first. */
    cio_addr local, got;
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &local));
    EXPECT_OK(cio_spawn(server_task, &srv, &t));
    EXPECT_OK(cio_socket_connect(&a, &CIO_SOCKET_OPTIONS(.local = &local), &fd));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(cio_socket_local(fd, &got));
    EXPECT_EQ(AF_INET, cio_addr_family(&got));
    EXPECT_TRUE(cio_addr_is_equal(&got, &srv.peer));
    EXPECT_OK(cio_fd_close(fd));
    EXPECT_OK(cio_fd_close(srv.fd));
    EXPECT_OK(cio_fd_close(lfd));
    return 0;
}

TEST(socket_options) { run_both(options_main, NULL); }

static int reuseport_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_addr a;
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    int l1, l2, l3;
    cio_socket_options rp = CIO_SOCKET_OPTIONS(.reuseport = true);
    EXPECT_OK(cio_socket_listen(&a, &rp, &l1));
    EXPECT_EQ(1, getopt_int(l1, SOL_SOCKET, SO_REUSEPORT));
    EXPECT_OK(cio_socket_local(l1, &a));
    EXPECT_OK(cio_socket_listen(&a, &rp, &l2)); /* the same port, shared */
    int before = test_fd_count();
    EXPECT_ERR(-EADDRINUSE, cio_socket_listen(&a, NULL, &l3));
    EXPECT_EQ(before, test_fd_count()); /* nothing left open on error */
    EXPECT_OK(cio_fd_close(l1));
    EXPECT_OK(cio_fd_close(l2));
    return 0;
}

TEST(socket_reuseport) { run_both(reuseport_main, NULL); }

/* cio__sock_accept without options applies nothing: the accepted socket
 * inherits the listener's TCP_NODELAY and keep-alive settings. */
static int sock_accept_main(void *arg, void **result)
{
    (void)arg, (void)result;
    for (int nagle = 0; nagle < 2; nagle++) {
        cio_addr a, peer;
        EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
        int lfd, fd;
        EXPECT_OK(cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.nagle = nagle, .keepalive = true,
                                                            .keepalive_idle = 21),
                                    &lfd));
        EXPECT_OK(cio_socket_local(lfd, &a));
        EXPECT_ERR(-EAGAIN, cio__sock_accept(lfd, NULL, &peer));
        EXPECT_OK(cio_socket_connect(&a, NULL, &fd));
        int afd = -1;
        for (int i = 0; i < 1000 && (afd = cio__sock_accept(lfd, NULL, &peer)) == -EAGAIN; i++)
            EXPECT_OK(cio_yield());
        EXPECT_TRUE(afd >= 0);
        EXPECT_TRUE(fcntl(afd, F_GETFL) & O_NONBLOCK);
        EXPECT_TRUE(fcntl(afd, F_GETFD) & FD_CLOEXEC);
        EXPECT_EQ(!nagle, getopt_int(afd, IPPROTO_TCP, TCP_NODELAY));
        EXPECT_EQ(1, getopt_int(afd, SOL_SOCKET, SO_KEEPALIVE));
        EXPECT_EQ(21, getopt_int(afd, IPPROTO_TCP, TCP_KEEPIDLE));
        cio_addr local;
        EXPECT_OK(cio_socket_local(fd, &local));
        EXPECT_TRUE(cio_addr_is_equal(&local, &peer));
        close(afd);
        EXPECT_OK(cio_fd_close(fd));
        EXPECT_OK(cio_fd_close(lfd));
    }
    EXPECT_ERR(-EBADF, cio__sock_accept(-1, NULL, NULL));
    return 0;
}

TEST(socket_sock_accept_inherits) { run_both(sock_accept_main, NULL); }

static int v6only_main(void *arg, void **result)
{
    (void)arg, (void)result;
    for (int v6only = 0; v6only < 2; v6only++) {
        cio_addr a, v4;
        EXPECT_OK(cio_addr_parse("[::]:0", &a));
        int lfd;
        EXPECT_OK(cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.v6only = v6only), &lfd));
        EXPECT_EQ(v6only, getopt_int(lfd, IPPROTO_IPV6, IPV6_V6ONLY));
        EXPECT_OK(cio_socket_local(lfd, &a));
        EXPECT_OK(cio_addr_ip("127.0.0.1", cio_addr_port(&a), &v4));
        int fd = -1;
        if (v6only) {
            EXPECT_ERR(-ECONNREFUSED, cio_socket_connect(&v4, NULL, &fd));
        } else {
            /* Dual stack: an IPv4 client reaches the IPv6 listener. */
            struct server srv = {.lfd = lfd, .fd = -1, .rc = 1, .echo = false};
            cio_task *t;
            EXPECT_OK(cio_spawn(server_task, &srv, &t));
            EXPECT_OK(cio_socket_connect(&v4, NULL, &fd));
            EXPECT_OK(cio_await(t, NULL));
            cio_future_unref(t);
            EXPECT_OK(srv.rc);
            EXPECT_EQ(AF_INET6, cio_addr_family(&srv.peer)); /* ::ffff:127.0.0.1 */
            EXPECT_OK(cio_fd_close(srv.fd));
            EXPECT_OK(cio_fd_close(fd));
        }
        EXPECT_OK(cio_fd_close(lfd));
    }
    return 0;
}

TEST(socket_v6only)
{
    if (!have_ipv6()) {
        printf("(no IPv6 loopback: skipped)\n");
        return;
    }
    run_both(v6only_main, NULL);
}

static int unlink_main(void *arg, void **result)
{
    (void)arg, (void)result;
    char path[128];
    snprintf(path, sizeof path, "%s/stale", g_dir);
    cio_addr a;
    EXPECT_OK(cio_addr_unix(path, &a));
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    EXPECT_OK(cio_fd_close(lfd)); /* the socket file stays: stale */
    EXPECT_ERR(-EADDRINUSE, cio_socket_listen(&a, NULL, &lfd));
    EXPECT_OK(cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.unlink = true), &lfd));
    EXPECT_OK(cio_fd_close(lfd));
    unlink(path);
    /* A file that is not a socket is never removed. */
    int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    EXPECT_TRUE(f >= 0);
    close(f);
    EXPECT_ERR(-EADDRINUSE, cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.unlink = true), &lfd));
    struct stat st;
    EXPECT_OK(stat(path, &st));
    EXPECT_TRUE(S_ISREG(st.st_mode));
    unlink(path);
    return 0;
}

TEST(socket_unix_unlink)
{
    make_dir();
    run_both(unlink_main, NULL);
    rmdir(g_dir);
}

/* ---- refused, deadlines --------------------------------------------------------- */

static int refused_main(void *arg, void **result)
{
    (void)arg, (void)result;
    /* A port nobody listens on: bind one, learn it, close it. */
    cio_addr a;
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    EXPECT_OK(cio_socket_local(lfd, &a));
    EXPECT_OK(cio_fd_close(lfd));
    int before = test_fd_count(), fd = -1;
    EXPECT_ERR(-ECONNREFUSED, cio_socket_connect(&a, NULL, &fd));
    EXPECT_EQ(-1, fd);
    EXPECT_EQ(before, test_fd_count());
    /* Unix: a path with no socket, and an abstract name nobody has. */
    char path[128];
    snprintf(path, sizeof path, "%s/nobody", g_dir);
    EXPECT_OK(cio_addr_unix(path, &a));
    EXPECT_ERR(-ENOENT, cio_socket_connect(&a, NULL, &fd));
    EXPECT_OK(cio_addr_unix("@cio-test-nobody-listens-here", &a));
    EXPECT_ERR(-ECONNREFUSED, cio_socket_connect(&a, NULL, &fd));
    EXPECT_EQ(before, test_fd_count());
    return 0;
}

TEST(socket_connect_refused)
{
    make_dir();
    run_both(refused_main, NULL);
    rmdir(g_dir);
}

/* Connects to a listener that never accepts, each attempt under a short
 * deadline, until one times out: the backlog is full, so the kernel
 * drops the SYN (TCP) or refuses with EAGAIN (Unix) and the attempt waits
 * until the deadline. Bounded in attempts. */
static void fill_until_timeout(const cio_addr *listening)
{
    int fds[64], n = 0, rc = 0;
    int before = test_fd_count();
    for (; n < 64; n++) {
        cio_scope sc;
        EXPECT_OK(cio_timeout_begin(&sc, 0.3));
        int fd = -1;
        rc = cio_socket_connect(listening, NULL, &fd);
        cio_scope_end(&sc);
        if (rc != 0) {
            EXPECT_EQ(-1, fd);
            break;
        }
        fds[n] = fd;
    }
    /* (How many got in before the backlog filled is the kernel's business;
     * on a loaded machine even the first may take longer than the
     * deadline, which ends the same way.) */
    EXPECT_ERR(-ETIMEDOUT, rc);
    EXPECT_EQ(before + n, test_fd_count()); /* the timed-out one left nothing */
    for (int i = 0; i < n; i++)
        EXPECT_OK(cio_fd_close(fds[i]));
}

static int deadline_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_addr a;
    int lfd;
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    EXPECT_OK(cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.backlog = 1), &lfd));
    EXPECT_OK(cio_socket_local(lfd, &a));
    fill_until_timeout(&a);
    EXPECT_OK(cio_fd_close(lfd));
    char name[64];
    snprintf(name, sizeof name, "@cio-test-backlog-%d", (int)getpid());
    EXPECT_OK(cio_addr_unix(name, &a));
    EXPECT_OK(cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.backlog = 1), &lfd));
    fill_until_timeout(&a);
    EXPECT_OK(cio_fd_close(lfd));
    /* Accept's deadline: nobody connects. */
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.02));
    int fd = -1;
    EXPECT_ERR(-ETIMEDOUT, cio_socket_accept(lfd, &fd, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    EXPECT_EQ(-1, fd);
    EXPECT_OK(cio_fd_close(lfd));
    return 0;
}

TEST(socket_connect_deadline) { run_both(deadline_main, NULL); }

struct canceller {
    cio_addr addr;
    int rc;
    int started;
};

static int connect_task(void *arg, void **result)
{
    (void)result;
    struct canceller *c = arg;
    c->started = 1;
    int fd = -1;
    c->rc = cio_socket_connect(&c->addr, NULL, &fd);
    EXPECT_EQ(-1, fd);
    return c->rc;
}

/* A connect in progress that is cancelled leaves no descriptor. */
static int cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    char name[64];
    snprintf(name, sizeof name, "@cio-test-cancel-%d", (int)getpid());
    cio_addr a;
    int lfd;
    EXPECT_OK(cio_addr_unix(name, &a));
    EXPECT_OK(cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.backlog = 1), &lfd));
    /* Fill the backlog: the next connect waits. */
    int fds[64], n = 0;
    for (; n < 64; n++) {
        int fd;
        if (connect(fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
                    &a.u.sa, a.len) != 0) {
            EXPECT_EQ(EAGAIN, errno);
            close(fds[n]);
            break;
        }
        (void)fd;
    }
    int before = test_fd_count();
    struct canceller c = {a, 1, 0};
    cio_task *t;
    EXPECT_OK(cio_spawn(connect_task, &c, &t));
    for (int i = 0; i < 100 && !c.started; i++)
        EXPECT_OK(cio_yield());
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-ECANCELED, c.rc);
    EXPECT_EQ(before, test_fd_count());
    for (int i = 0; i < n; i++)
        close(fds[i]);
    EXPECT_OK(cio_fd_close(lfd));
    return 0;
}

TEST(socket_connect_cancel) { run_both(cancel_main, NULL); }

/* ---- pairs, addresses, errors ------------------------------------------------------ */

static int pair_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    for (size_t i = 0; i < 3; i++) {
        int fds[2] = {-1, -1};
        EXPECT_OK(cio_socket_pair(types[i], fds));
        for (int k = 0; k < 2; k++) {
            EXPECT_TRUE(fcntl(fds[k], F_GETFL) & O_NONBLOCK);
            EXPECT_TRUE(fcntl(fds[k], F_GETFD) & FD_CLOEXEC);
            EXPECT_EQ(types[i], getopt_int(fds[k], SOL_SOCKET, SO_TYPE));
        }
        EXPECT_EQ(2, cio_fd_write(fds[0], "hi", 2));
        char buf[4];
        EXPECT_EQ(2, cio_fd_read(fds[1], buf, sizeof buf));
        cio_addr a;
        EXPECT_OK(cio_socket_local(fds[0], &a));
        EXPECT_EQ(AF_UNIX, cio_addr_family(&a));
        char text[CIO_ADDR_STRLEN];
        EXPECT_OK(cio_addr_format(&a, text, sizeof text));
        EXPECT_STR_EQ("unix:", text); /* unnamed */
        EXPECT_OK(cio_socket_peer(fds[0], &a));
        EXPECT_OK(cio_fd_close(fds[0]));
        EXPECT_OK(cio_fd_close(fds[1]));
    }
    int fds[2] = {-1, -1};
    EXPECT_ERR(-EINVAL, cio_socket_pair(SOCK_RAW, fds));
    EXPECT_ERR(-EINVAL, cio_socket_pair(SOCK_STREAM | SOCK_NONBLOCK, fds));
    EXPECT_ERR(-EINVAL, cio_socket_pair(SOCK_STREAM, NULL));
    EXPECT_EQ(-1, fds[0]);
    return 0;
}

TEST(socket_pair) { run_both(pair_main, NULL); }

static int errors_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_addr a, empty;
    memset(&empty, 0, sizeof empty);
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    int fd = -1;
    int before = test_fd_count();
    EXPECT_ERR(-EINVAL, cio_socket_listen(NULL, NULL, &fd));
    EXPECT_ERR(-EINVAL, cio_socket_listen(&empty, NULL, &fd));
    EXPECT_ERR(-EINVAL, cio_socket_listen(&a, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.backlog = -1), &fd));
    EXPECT_ERR(-EINVAL, cio_socket_listen(&a, &CIO_SOCKET_OPTIONS(.keepalive_idle = -1), &fd));
    cio_socket_options unsized = {0};
    EXPECT_ERR(-EINVAL, cio_socket_listen(&a, &unsized, &fd));
    /* Options from a newer header with a field this library lacks. */
    struct {
        cio_socket_options o;
        uint64_t newer;
    } big;
    memset(&big, 0, sizeof big);
    big.o.size = sizeof big;
    big.newer = 1;
    EXPECT_ERR(-E2BIG, cio_socket_listen(&a, &big.o, &fd));
    big.newer = 0;
    int lfd = -1;
    EXPECT_OK(cio_socket_listen(&a, &big.o, &lfd)); /* zeros past the end are fine */
    EXPECT_OK(cio_fd_close(lfd));
    EXPECT_ERR(-EINVAL, cio_socket_connect(NULL, NULL, &fd));
    EXPECT_ERR(-EINVAL, cio_socket_connect(&empty, NULL, &fd));
    EXPECT_ERR(-EINVAL, cio_socket_connect(&a, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_socket_connect(&a, &unsized, &fd));
    EXPECT_ERR(-E2BIG, cio_socket_connect(&a, (big.newer = 1, &big.o), &fd));
    cio_addr v6;
    EXPECT_OK(cio_addr_parse("[::1]:1", &v6));
    EXPECT_ERR(-EINVAL, cio_socket_connect(&a, &CIO_SOCKET_OPTIONS(.local = &v6), &fd));
    EXPECT_ERR(-EINVAL, cio_socket_connect(&a, &CIO_SOCKET_OPTIONS(.local = &empty), &fd));
    EXPECT_ERR(-EINVAL, cio_socket_accept(-1, &fd, NULL));
    EXPECT_ERR(-EINVAL, cio_socket_accept(0, NULL, NULL));
    EXPECT_EQ(-1, fd);
    EXPECT_EQ(before, test_fd_count());
    /* Accept on a socket that is not listening, addresses of non-sockets. */
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC));
    EXPECT_ERR(-ENOTSOCK, cio_socket_accept(p[0], &fd, NULL));
    EXPECT_ERR(-ENOTSOCK, cio_socket_local(p[0], &a));
    EXPECT_ERR(-ENOTSOCK, cio_socket_peer(p[0], &a));
    EXPECT_OK(cio_fd_close(p[0]));
    EXPECT_OK(cio_fd_close(p[1]));
    EXPECT_ERR(-EBADF, cio_socket_local(-1, &a));
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_ERR(-ENOTCONN, cio_socket_peer(s, &a));
    EXPECT_ERR(-EINVAL, cio_socket_local(s, NULL));
    EXPECT_ERR(-EINVAL, cio_socket_accept(s, &fd, NULL)); /* not listening */
    EXPECT_OK(cio_fd_close(s));
    return 0;
}

TEST(socket_errors) { run_both(errors_main, NULL); }

TEST(socket_outside_a_task)
{
    cio_addr a;
    EXPECT_OK(cio_addr_parse("127.0.0.1:1", &a));
    int fd = -1, before = test_fd_count();
    EXPECT_ERR(-EPERM, cio_socket_connect(&a, NULL, &fd));
    EXPECT_OK(cio_addr_parse("127.0.0.1:0", &a));
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd)); /* never suspends: fine anywhere */
    EXPECT_ERR(-EPERM, cio_socket_accept(lfd, &fd, NULL));
    EXPECT_EQ(-1, fd);
    close(lfd);
    EXPECT_EQ(before, test_fd_count());
}

int main(int argc, char **argv) { return test_main(argc, argv); }
