/* cio_stream_connect: the connect waits on the stream's own registration,
 * so a connection costs one epoll_ctl (the ADD) and its close one more
 * (the DEL), counted on both backends; a refused connect, a connect that
 * cannot finish (a Unix listener with a full backlog) ended by a deadline
 * and by cancellation: the error comes back, nothing leaks and nothing
 * stays registered. cio_transport_connect: one registration as well. White-box only to count the backend's system calls. */
#include <math.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cio.h>
#include <cio/net.h>

#include "test.h"
#include "loop/internal.h"

static const char *const backends[] = {"epoll", "poll"};
static const char *backend;

/* Runs fn as cio_run's main once per backend, the descriptor count equal
 * before and after each run. */
static void run_both(cio_task_fn fn, void *arg)
{
    for (size_t i = 0; i < sizeof backends / sizeof *backends; i++) {
        backend = backends[i];
        int before = test_fd_baseline();
        int rc = cio_run_with(&CIO_LOOP_OPTIONS(.backend = backend), fn, arg, NULL);
        if (rc != 0)
            FAIL("backend %s: main returned %s", backend, cio_err_name(rc));
        EXPECT_EQ(before, test_fd_count());
    }
}

static bool is_epoll(void) { return strcmp(backend, "epoll") == 0; }

/* What one registration and its removal cost: epoll_ctl ADD and DEL on
 * epoll; poll checks the descriptor once (fcntl) when it is added and
 * drops it in memory. */
static uint64_t reg_cost(void) { return is_epoll() ? 2 : 1; }

static int lfd_tcp(cio_addr *addr)
{
    cio_addr any;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &any));
    int lfd = -1;
    EXPECT_OK(cio_socket_listen(&any, NULL, &lfd));
    EXPECT_OK(cio_socket_local(lfd, addr));
    return lfd;
}

/* ---- one registration per connection ------------------------------------ */

static int one_ctl_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_loop *loop = cio_current_loop();
    cio_addr addr;
    int lfd = lfd_tcp(&addr);
    for (int i = 0; i < 20; i++) {
        uint64_t c0 = cio__io_ctl_count(loop);
        cio_stream *s;
        EXPECT_OK(cio_stream_connect(&addr, NULL, NULL, &s));
        /* Connected, registered once, nothing else. */
        EXPECT_EQ(c0 + 1, cio__io_ctl_count(loop));
        /* The server side, outside the count: accept without cio. */
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        EXPECT_TRUE(fd >= 0);
        uint64_t c1 = cio__io_ctl_count(loop);
        EXPECT_OK(cio_stream_write(s, "hello", 5));
        char buf[8];
        EXPECT_EQ(5, read(fd, buf, sizeof buf));
        EXPECT_EQ(3, write(fd, "abc", 3));
        EXPECT_EQ(3, cio_stream_read_exactly(s, buf, 3));
        EXPECT_TRUE(memcmp(buf, "abc", 3) == 0);
        EXPECT_EQ(c1, cio__io_ctl_count(loop)); /* no epoll_ctl per operation */
        EXPECT_OK(cio_stream_close(s));
        EXPECT_EQ(c0 + reg_cost(), cio__io_ctl_count(loop));
        close(fd);
    }
    close(lfd);
    return 0;
}

TEST(stream_connect_one_registration) { run_both(one_ctl_main, NULL); }

/* cio_socket_connect keeps its own temporary registration, dropped before
 * it returns: the raw descriptor is the caller's, unregistered. */
static int socket_connect_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_loop *loop = cio_current_loop();
    cio_addr addr;
    int lfd = lfd_tcp(&addr);
    uint64_t c0 = cio__io_ctl_count(loop);
    int fd = -1;
    EXPECT_OK(cio_socket_connect(&addr, NULL, &fd));
    /* 0 (connected at once) or one registration, added and dropped. */
    uint64_t d = cio__io_ctl_count(loop) - c0;
    EXPECT_TRUE(d == 0 || d == reg_cost());
    /* Not left registered: a stream can take it over. */
    cio_stream *s;
    EXPECT_OK(cio_stream_new(fd, NULL, &s));
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    EXPECT_TRUE(sfd >= 0);
    EXPECT_OK(cio_stream_write(s, "x", 1));
    char c;
    EXPECT_EQ(1, read(sfd, &c, 1));
    EXPECT_OK(cio_stream_close(s));
    close(sfd);
    close(lfd);
    return 0;
}

TEST(socket_connect_still_works) { run_both(socket_connect_main, NULL); }

/* cio_transport_connect registers the connecting socket once too: the
 * transport's own registration serves the connect and the connection. */
struct tp {
    cio_event *lost;
    int lost_err;
};

static int tp_made(cio_transport *t, void *arg, void **ctx)
{
    (void)arg, (void)ctx;
    return cio_transport_close(t); /* close at once: connection_lost(0) follows */
}

static void tp_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)t, (void)data, (void)len, (void)ctx;
}

static void tp_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    struct tp *p = ctx;
    p->lost_err = error;
    cio_event_set(p->lost);
}

static const cio_protocol tp_proto = {
    .connection_made = tp_made, .data_received = tp_data, .connection_lost = tp_lost};

static int transport_ctl_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_loop *loop = cio_current_loop();
    cio_addr addr;
    int lfd = lfd_tcp(&addr);
    for (int i = 0; i < 5; i++) {
        struct tp p = {NULL, 1};
        EXPECT_OK(cio_event_new(&p.lost));
        uint64_t c0 = cio__io_ctl_count(loop);
        cio_future *made;
        EXPECT_OK(cio_transport_connect(loop, &addr, NULL, NULL, &tp_proto, &p, &made));
        EXPECT_OK(cio_await(made, NULL));
        cio_future_unref(made);
        EXPECT_OK(cio_event_wait(p.lost));
        EXPECT_OK(p.lost_err);
        EXPECT_EQ(c0 + reg_cost(), cio__io_ctl_count(loop));
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        EXPECT_TRUE(fd >= 0);
        close(fd);
        EXPECT_OK(cio_event_free(p.lost));
    }
    close(lfd);
    return 0;
}

TEST(transport_connect_one_registration) { run_both(transport_ctl_main, NULL); }

/* ---- failures ----------------------------------------------------------- */

static int refused_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_loop *loop = cio_current_loop();
    /* A port bound but not listening: connects to it are refused, and no
     * one else can take it while the socket stays bound. */
    int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(b >= 0);
    cio_addr any, addr;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &any));
    EXPECT_EQ(0, bind(b, &any.u.sa, any.len));
    EXPECT_OK(cio_socket_local(b, &addr));
    for (int i = 0; i < 5; i++) {
        uint64_t c0 = cio__io_ctl_count(loop);
        cio_stream *s = (cio_stream *)&s;
        EXPECT_ERR(-ECONNREFUSED, cio_stream_connect(&addr, NULL, NULL, &s));
        EXPECT_TRUE(s == NULL);
        /* registered once and dropped */
        EXPECT_EQ(c0 + reg_cost(), cio__io_ctl_count(loop));
    }
    close(b);
    return 0;
}

TEST(stream_connect_refused) { run_both(refused_main, NULL); }

/* A Unix listener whose backlog is full: a connect cannot finish (the
 * stream retries with pauses) until the deadline or a cancellation ends
 * it. The socket path lives in a temporary directory. */
struct full {
    char dir[64], path[128];
    cio_addr addr;
    int lfd;
    int fill[64];
    int nfill;
};

static void full_open(struct full *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/cio-connect-XXXXXX");
    EXPECT_TRUE(mkdtemp(f->dir) != NULL);
    snprintf(f->path, sizeof f->path, "%s/s", f->dir);
    EXPECT_OK(cio_addr_unix(f->path, &f->addr));
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(f->lfd >= 0);
    EXPECT_EQ(0, bind(f->lfd, &f->addr.u.sa, f->addr.len));
    EXPECT_EQ(0, listen(f->lfd, 0));
    /* Fill the backlog with non-blocking connects until one is refused
     * with EAGAIN (a bounded number: backlog 0 holds one or two). */
    f->nfill = 0;
    for (;;) {
        if (f->nfill == (int)(sizeof f->fill / sizeof *f->fill))
            FAIL("the backlog never filled");
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        EXPECT_TRUE(c >= 0);
        if (connect(c, &f->addr.u.sa, f->addr.len) != 0) {
            EXPECT_EQ(EAGAIN, errno);
            close(c);
            break;
        }
        f->fill[f->nfill++] = c;
    }
}

static void full_close(struct full *f)
{
    for (int i = 0; i < f->nfill; i++)
        close(f->fill[i]);
    close(f->lfd);
    unlink(f->path);
    rmdir(f->dir);
}

static int full_deadline_main(void *arg, void **res)
{
    (void)arg, (void)res;
    struct full f;
    full_open(&f);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    cio_stream *s = (cio_stream *)&s;
    EXPECT_ERR(-ETIMEDOUT, cio_stream_connect(&f.addr, NULL, NULL, &s));
    EXPECT_TRUE(s == NULL);
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    full_close(&f);
    return 0;
}

TEST(stream_connect_deadline) { run_both(full_deadline_main, NULL); }

struct conn_arg {
    const cio_addr *addr;
    int rc;
    bool started;
};

static int connector(void *arg, void **res)
{
    (void)res;
    struct conn_arg *a = arg;
    cio_stream *s = NULL;
    a->started = true;
    a->rc = cio_stream_connect(a->addr, NULL, NULL, &s);
    EXPECT_TRUE(s == NULL);
    return a->rc; /* a cancelled task ends with -ECANCELED */
}

static int full_cancel_main(void *arg, void **res)
{
    (void)arg, (void)res;
    struct full f;
    full_open(&f);
    struct conn_arg a = {&f.addr, 1, false};
    cio_task *t;
    EXPECT_OK(cio_spawn(connector, &a, &t));
    /* Let it start and suspend (it retries with pauses; a yield lets it
     * reach its first one). */
    while (!a.started)
        EXPECT_OK(cio_sleep(0));
    EXPECT_OK(cio_sleep(0));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-ECANCELED, a.rc);
    full_close(&f);
    return 0;
}

TEST(stream_connect_cancelled) { run_both(full_cancel_main, NULL); }

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
