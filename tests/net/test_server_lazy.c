/* A connection a server answers without ever waiting costs no epoll_ctl:
 * accepted sockets enter the backend only at their first wait
 * (cio__nfd_open_lazy, src/net/fd.c), which is what makes accept_rate
 * cheap. A connection that does wait is registered then, and served.
 * Clients are blocking sockets on a plain thread, so that the loop's
 * epoll_ctl count is the server's alone. */
#include <pthread.h>

#include "loop/internal.h"
#include "net/server_util.h"

struct lazy {
    cio_server *srv;
    cio_addr addr;
    int conns;         /* connections each client thread makes */
    bool wait_first;   /* the client sends only after reading the greeting */
    int served;
    uint64_t ctl_before, ctl_after;
    volatile int client_done;
    int client_errors;
};

/* Stream style: answer one byte; with wait_first, also read a reply (a
 * wait: the connection is registered then). */
static int greet_handler(cio_stream *s, void *arg)
{
    struct lazy *z = arg;
    int rc = cio_stream_write(s, "x", 1);
    if (!rc && z->wait_first) {
        char b;
        ssize_t n = cio_stream_read(s, &b, 1);
        rc = n == 1 && b == 'y' ? cio_stream_write(s, "z", 1) : -EPROTO;
    }
    z->served++;
    return rc;
}

static int greet_made(cio_transport *t, void *arg, void **ctx)
{
    struct lazy *z = arg;
    (void)ctx;
    cio_transport_write(t, "x", 1);
    cio_transport_close(t);
    z->served++;
    return 0;
}

static void greet_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)t;
    (void)data;
    (void)len;
    (void)ctx;
}

static const cio_protocol greet_proto = {.connection_made = greet_made, .data_received = greet_data};

static void *client_thread(void *arg)
{
    struct lazy *z = arg;
    for (int i = 0; i < z->conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char b = 0;
        if (fd < 0 || connect(fd, &z->addr.u.sa, z->addr.len) < 0 || read(fd, &b, 1) != 1 ||
            b != 'x') {
            z->client_errors++;
        } else if (z->wait_first) {
            if (write(fd, "y", 1) != 1 || read(fd, &b, 1) != 1 || b != 'z')
                z->client_errors++;
        } else if (read(fd, &b, 1) != 0) {
            z->client_errors++; /* the server closes after its byte */
        }
        if (fd >= 0)
            close(fd);
    }
    z->client_done = 1;
    return NULL;
}

static int lazy_main(void *arg, void **res)
{
    struct lazy *z = arg;
    (void)res;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4();
    bool protocol = z->srv == (cio_server *)1;
    if (protocol)
        EXPECT_OK(cio_server_new_protocol(&a, NULL, &greet_proto, z, &z->srv));
    else
        EXPECT_OK(cio_server_new(&a, NULL, greet_handler, z, &z->srv));
    EXPECT_OK(cio_server_addr(z->srv, &z->addr));
    cio_loop *loop = cio_current_loop();
    /* The listener's own registration is made; from here on only the
     * connections could add any. */
    z->ctl_before = cio__io_ctl_count(loop);
    pthread_t th;
    EXPECT_EQ(0, pthread_create(&th, NULL, client_thread, z));
    for (int i = 0; i < 60000 && !(z->client_done && z->served == z->conns); i++)
        EXPECT_OK(cio_sleep(0.001));
    z->ctl_after = cio__io_ctl_count(loop);
    pthread_join(th, NULL);
    EXPECT_OK(cio_server_close(z->srv, 5));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

static void run_case(bool protocol, bool wait_first, const char *backend)
{
    struct lazy z = {.conns = 50, .wait_first = wait_first};
    if (protocol)
        z.srv = (cio_server *)1;
    int before = fd_count_warm();
    EXPECT_OK(cio_run_with(&CIO_LOOP_OPTIONS(.backend = backend), lazy_main, &z, NULL));
    EXPECT_FDS(before);
    EXPECT_EQ(0, z.client_errors);
    EXPECT_EQ(z.conns, z.served);
    if (wait_first)
        EXPECT_TRUE(z.ctl_after > z.ctl_before); /* each waiting connection registers */
    else
        EXPECT_EQ(z.ctl_before, z.ctl_after); /* answered at once: no epoll_ctl */
}

TEST(task_answer_costs_no_epoll_ctl) { run_case(false, false, "epoll"); }
TEST(protocol_answer_costs_no_epoll_ctl) { run_case(true, false, "epoll"); }
TEST(task_waiting_connection_registers_late) { run_case(false, true, "epoll"); }
TEST(poll_backend_task) { run_case(false, false, "poll"); run_case(false, true, "poll"); }
TEST(poll_backend_protocol) { run_case(true, false, "poll"); }

int main(int argc, char **argv) { return test_main(argc, argv); }
