/* The callback receiver (cio_udp_set_receiver): every datagram of a burst
 * delivered in order with its sender (more than one drain's worth, so the
 * drain resumes on a later iteration), datagrams queued before the receiver
 * was set, a callback that closes its socket or stops the receiver in the
 * middle of a batch (the rest go to cio_udp_recv, in order), -EBUSY between
 * the two styles, ICMP errors dropped, large Unix datagrams. */
#include <poll.h>

#include "net/test_udp.h"

struct rx_state {
    cio_udp *u;
    cio_addr from;      /* the expected sender */
    int next;           /* the next sequence number expected */
    int target;         /* set `done` when next reaches it */
    int stop_at;        /* close (1) or stop (2) the receiver at this number; -1: never */
    int stop_how;
    cio_event *done;
    size_t calls;
};

static void rx_cb(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    struct rx_state *s = arg;
    EXPECT_PTR_EQ(s->u, u);
    EXPECT_EQ(sizeof(int), len);
    int v;
    memcpy(&v, data, sizeof v);
    EXPECT_EQ(s->next, v);
    if (s->from.len)
        EXPECT_TRUE(cio_addr_is_equal(from, &s->from));
    s->next++;
    s->calls++;
    if (v == s->stop_at) {
        if (s->stop_how == 1)
            EXPECT_OK(cio_udp_close(u));
        else
            EXPECT_OK(cio_udp_set_receiver(u, NULL, NULL));
        cio_event_set(s->done);
    }
    if (s->next == s->target)
        cio_event_set(s->done);
}

/* Sends numbers [from, to) to `to_addr` in one batch. */
static void send_seq(cio_udp *tx, const cio_addr *to, int from, int to_n)
{
    enum { MAX = 256 };
    static int vals[MAX];
    cio_datagram d[MAX];
    EXPECT_TRUE(to_n - from <= MAX);
    for (int i = from; i < to_n; i++) {
        vals[i - from] = i;
        d[i - from] = (cio_datagram){&vals[i - from], sizeof(int), *to};
    }
    size_t done = 0;
    EXPECT_OK(cio_udp_send_many(tx, d, (size_t)(to_n - from), &done));
    EXPECT_EQ(to_n - from, done);
}

static cio_udp *big_rx(const char *host)
{
    cio_udp *u = udp_bound(host, NULL);
    int big = 1 << 20;
    setsockopt(cio_udp_fd(u), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return u;
}

enum { BURST = 150, BURSTS = 3 };

static int burst_main(void *arg, void **result)
{
    const char *host = arg;
    struct rx_state s = {.stop_at = -1};
    s.u = big_rx(host);
    cio_udp *tx = udp_bound(host, NULL);
    s.from = udp_local(tx);
    cio_addr to = udp_local(s.u);
    EXPECT_OK(cio_event_new(&s.done));
    EXPECT_OK(cio_udp_set_receiver(s.u, rx_cb, &s));
    for (int b = 0; b < BURSTS; b++) {
        s.target = (b + 1) * BURST;
        cio_event_clear(s.done);
        send_seq(tx, &to, b * BURST, (b + 1) * BURST);
        EXPECT_OK(cio_event_wait(s.done));
        EXPECT_EQ((b + 1) * BURST, s.next);
    }
    EXPECT_EQ(BURST * BURSTS, s.calls);
    /* the task style is refused while the receiver runs */
    char buf[8];
    EXPECT_ERR(-EBUSY, cio_udp_recv(s.u, buf, sizeof buf, NULL));
    cio_datagram d = {buf, sizeof buf, {.len = 0}};
    size_t done = 3;
    EXPECT_ERR(-EBUSY, cio_udp_recv_many(s.u, &d, 1, &done));
    EXPECT_EQ(0, done);
    /* ...and allowed again once it stops */
    EXPECT_OK(cio_udp_set_receiver(s.u, NULL, NULL));
    EXPECT_EQ(3, cio_udp_send(tx, "abc", 3, &to));
    EXPECT_EQ(3, cio_udp_recv(s.u, buf, sizeof buf, NULL));
    EXPECT_OK(cio_udp_close(s.u));
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_event_free(s.done));
    return 0;
}

TEST(udp_receiver_delivers_every_datagram_of_bursts_ipv4) { udp_run(burst_main, "127.0.0.1"); }
TEST(udp_receiver_delivers_every_datagram_of_bursts_ipv6) { udp_run(burst_main, "::1"); }

static int queued_before_main(void *arg, void **result)
{
    struct rx_state s = {.stop_at = -1, .target = 20};
    s.u = big_rx("127.0.0.1");
    cio_udp *tx = udp_bound("127.0.0.1", NULL);
    s.from = udp_local(tx);
    cio_addr to = udp_local(s.u);
    EXPECT_OK(cio_event_new(&s.done));
    /* the first ten arrive before there is a receiver; the readiness they
     * caused was seen already (a task's recv would have cleared it) */
    send_seq(tx, &to, 0, 10);
    char buf[8];
    EXPECT_EQ(sizeof(int), cio_udp_recv(s.u, buf, sizeof buf, NULL));
    s.next = 1;
    EXPECT_OK(cio_udp_set_receiver(s.u, rx_cb, &s));
    EXPECT_EQ(0, s.calls); /* never from inside set_receiver */
    send_seq(tx, &to, 10, 20);
    EXPECT_OK(cio_event_wait(s.done));
    EXPECT_EQ(19, s.calls);
    EXPECT_OK(cio_udp_close(s.u));
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_event_free(s.done));
    return 0;
}

TEST(udp_receiver_gets_datagrams_queued_before_it_was_set) { udp_run(queued_before_main, NULL); }

static int close_in_cb_main(void *arg, void **result)
{
    struct rx_state s = {.stop_at = 5, .stop_how = 1, .target = -1};
    s.u = big_rx("127.0.0.1");
    cio_udp *tx = udp_bound("127.0.0.1", NULL);
    cio_addr to = udp_local(s.u);
    EXPECT_OK(cio_event_new(&s.done));
    EXPECT_OK(cio_udp_set_receiver(s.u, rx_cb, &s));
    send_seq(tx, &to, 0, 40);
    EXPECT_OK(cio_event_wait(s.done));
    /* nothing after the close */
    EXPECT_OK(cio_yield());
    EXPECT_EQ(6, s.calls);
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_event_free(s.done));
    return 0;
}

TEST(udp_receiver_may_close_its_socket) { udp_run(close_in_cb_main, NULL); }

static int stop_in_cb_main(void *arg, void **result)
{
    struct rx_state s = {.stop_at = 5, .stop_how = 2, .target = -1};
    s.u = big_rx("127.0.0.1");
    cio_udp *tx = udp_bound("127.0.0.1", NULL);
    s.from = udp_local(tx);
    cio_addr to = udp_local(s.u);
    EXPECT_OK(cio_event_new(&s.done));
    EXPECT_OK(cio_udp_set_receiver(s.u, rx_cb, &s));
    send_seq(tx, &to, 0, 40);
    EXPECT_OK(cio_event_wait(s.done));
    EXPECT_EQ(6, s.calls);
    /* the rest, read in the same batch or not, in order, by a task */
    for (int i = 6; i < 40; i += 2) {
        int v;
        cio_addr from;
        EXPECT_EQ(sizeof v, cio_udp_recv(s.u, &v, sizeof v, &from));
        EXPECT_EQ(i, v);
        EXPECT_TRUE(cio_addr_is_equal(&from, &s.from));
        int two[2][2];
        cio_datagram d[1] = {{two[0], 1, {.len = 0}}}; /* 1 byte of 4: truncated */
        size_t done = 0;
        EXPECT_OK(cio_udp_recv_many(s.u, d, 1, &done));
        EXPECT_EQ(1, done);
        EXPECT_EQ(sizeof(int), d[0].len);
        EXPECT_TRUE(cio_addr_is_equal(&d[0].addr, &s.from));
    }
    /* and a receiver set again picks up from there */
    s.next = 40;
    s.target = 50;
    s.stop_at = -1;
    cio_event_clear(s.done);
    EXPECT_OK(cio_udp_set_receiver(s.u, rx_cb, &s));
    send_seq(tx, &to, 40, 50);
    EXPECT_OK(cio_event_wait(s.done));
    EXPECT_OK(cio_udp_close(s.u));
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_event_free(s.done));
    return 0;
}

TEST(udp_receiver_stopped_mid_batch_leaves_the_rest_to_recv) { udp_run(stop_in_cb_main, NULL); }

static ssize_t waited;
static int waiting_recv(void *arg, void **result)
{
    char b[8];
    waited = cio_udp_recv(arg, b, sizeof b, NULL);
    return 0;
}

static int busy_main(void *arg, void **result)
{
    cio_udp *u = udp_bound("127.0.0.1", NULL);
    cio_task *t = udp_spawn(waiting_recv, u);
    EXPECT_OK(cio_yield());
    struct rx_state s = {.stop_at = -1};
    EXPECT_ERR(-EBUSY, cio_udp_set_receiver(u, rx_cb, &s));
    cio_addr to = udp_local(u);
    EXPECT_EQ(3, cio_udp_send(u, "abc", 3, &to));
    EXPECT_OK(udp_join(t));
    EXPECT_EQ(3, waited);
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_receiver_refused_while_a_task_receives) { udp_run(busy_main, NULL); }

/* Replacing the callback takes effect for the next datagram. */
static void count_cb(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    (*(int *)arg)++;
}

static int replace_main(void *arg, void **result)
{
    struct rx_state s = {.stop_at = -1, .target = 5};
    s.u = big_rx("127.0.0.1");
    cio_udp *tx = udp_bound("127.0.0.1", NULL);
    cio_addr to = udp_local(s.u);
    EXPECT_OK(cio_event_new(&s.done));
    int counted = 0;
    EXPECT_OK(cio_udp_set_receiver(s.u, count_cb, &counted));
    EXPECT_OK(cio_udp_set_receiver(s.u, rx_cb, &s));
    send_seq(tx, &to, 0, 5);
    EXPECT_OK(cio_event_wait(s.done));
    EXPECT_EQ(0, counted);
    EXPECT_OK(cio_udp_close(s.u));
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_event_free(s.done));
    return 0;
}

TEST(udp_receiver_can_be_replaced) { udp_run(replace_main, NULL); }

/* ICMP errors on a connected socket have no callback: dropped. */
static int refused_cb_main(void *arg, void **result)
{
    cio_udp *probe = udp_bound("127.0.0.1", NULL);
    cio_addr dead = udp_local(probe);
    EXPECT_OK(cio_udp_close(probe));
    cio_udp *u = NULL;
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &dead), &u));
    int counted = 0;
    EXPECT_OK(cio_udp_set_receiver(u, count_cb, &counted));
    EXPECT_EQ(1, cio_udp_send(u, "x", 1, NULL));
    /* the error is there (thread blocked at most 30 s)... */
    struct pollfd pfd = {cio_udp_fd(u), POLLIN, 0};
    EXPECT_EQ(1, poll(&pfd, 1, 30000));
    EXPECT_TRUE(pfd.revents & POLLERR);
    /* ...the loop's next poll sees it and the receiver's drain clears it */
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_yield());
    pfd.revents = 0;
    EXPECT_EQ(0, poll(&pfd, 1, 0));
    EXPECT_EQ(0, counted);
    EXPECT_EQ(1, cio_udp_send(u, "x", 1, NULL));
    EXPECT_OK(cio_udp_close(u));
    return 0;
}

TEST(udp_receiver_drops_icmp_errors) { udp_run(refused_cb_main, NULL); }

/* Unix datagrams up to the sender's buffer arrive whole. */
struct big_state {
    size_t len;
    int seen;
    cio_event *done;
};

static void big_cb(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    struct big_state *s = arg;
    EXPECT_EQ(s->len, len);
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i += 997)
        EXPECT_EQ((unsigned char)(i * 7), p[i]);
    EXPECT_EQ(0, from->len); /* an unnamed sender */
    s->seen++;
    cio_event_set(s->done);
}

static int unix_big_main(void *arg, void **result)
{
    char name[64];
    snprintf(name, sizeof name, "@cio-test-udp-big-%d", (int)getpid());
    cio_addr a;
    EXPECT_OK(cio_addr_unix(name, &a));
    cio_udp *rx = NULL, *tx = NULL;
    EXPECT_OK(cio_udp_new(&a, NULL, &rx));
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &a), &tx));
    int sb = 256 * 1024;
    setsockopt(cio_udp_fd(tx), SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    struct big_state s = {.len = 150000};
    EXPECT_OK(cio_event_new(&s.done));
    unsigned char *buf = malloc(s.len);
    EXPECT_TRUE(buf != NULL);
    for (size_t i = 0; i < s.len; i++)
        buf[i] = (unsigned char)(i * 7);
    EXPECT_OK(cio_udp_set_receiver(rx, big_cb, &s));
    EXPECT_EQ(s.len, cio_udp_send(tx, buf, s.len, NULL));
    EXPECT_OK(cio_event_wait(s.done));
    EXPECT_EQ(1, s.seen);
    free(buf);
    EXPECT_OK(cio_udp_close(rx));
    EXPECT_OK(cio_udp_close(tx));
    EXPECT_OK(cio_event_free(s.done));
    return 0;
}

TEST(udp_receiver_takes_large_unix_datagrams_whole) { udp_run(unix_big_main, NULL); }

/* The receiver keeps working from plain callback code (no task at all). */
static struct {
    cio_udp *rx, *tx;
    int got;
} plain;

static void plain_cb(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    cio_loop *loop = arg;
    if (++plain.got == 6) {
        EXPECT_OK(cio_udp_close(plain.rx));
        EXPECT_OK(cio_udp_close(plain.tx));
        cio_loop_stop(loop);
        return;
    }
    /* an echo back to the sender, without a task */
    EXPECT_EQ((ssize_t)len, cio_udp_send_nowait(u, data, len, from));
}

static void plain_start(void *arg)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    EXPECT_OK(cio_udp_new(&a, NULL, &plain.rx));
    EXPECT_OK(cio_udp_new(&a, NULL, &plain.tx));
    EXPECT_OK(cio_udp_set_receiver(plain.rx, plain_cb, arg));
    EXPECT_OK(cio_udp_set_receiver(plain.tx, plain_cb, arg));
    cio_addr to;
    EXPECT_OK(cio_udp_local(plain.rx, &to));
    EXPECT_EQ(1, cio_udp_send_nowait(plain.tx, "x", 1, &to));
}

TEST(udp_receiver_runs_without_tasks)
{
    int before = test_fd_baseline();
    cio_loop *loop = test_strict_loop_new();
    EXPECT_OK(cio_call_soon(loop, plain_start, loop));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_EQ(6, plain.got);
    CLOSE_LOOP(loop);
    EXPECT_EQ(before, test_fd_count());
}

int main(int argc, char **argv) { return test_main(argc, argv); }
