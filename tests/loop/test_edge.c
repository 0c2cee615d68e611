/* Edge registrations (src/core.h: cio__io_edge_add/arm/del) and the loop's
 * per-loop slots, on both backends (this program runs once per backend):
 * events for both directions, epoll's one epoll_ctl per registration and
 * poll's level-triggered armed directions, what counts as live work,
 * -EBUSY against readers and writers, stale events after a removal, and
 * slots freed by cio_loop_free. White-box: it calls the core directly. */
#include <sys/socket.h>

#include "test.h"
#include "core.h"

static bool is_epoll(cio_loop *loop) { return strcmp(cio_loop_backend(loop), "epoll") == 0; }

struct rec {
    int calls;
    int fd;
    int events;
    int all; /* events seen, ORed */
};

static void on_edge(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct rec *r = arg;
    r->calls++;
    r->fd = fd;
    r->events = events;
    r->all |= events;
}

static void sockpair(int s[2])
{
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s));
}

TEST(edge_reports_both_directions)
{
    int before = test_fd_count();
    cio_loop *loop = test_strict_loop_new();
    int s[2];
    sockpair(s);
    struct rec r = {0};
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE | CIO_WRITABLE));
    /* Writable at once. */
    for (int i = 0; i < 10 && !(r.all & CIO_WRITABLE); i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_TRUE(r.all & CIO_WRITABLE);
    EXPECT_EQ(s[0], r.fd);
    EXPECT_EQ(1, write(s[1], "x", 1));
    r.all = 0;
    for (int i = 0; i < 10 && !(r.all & CIO_READABLE); i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_TRUE(r.all & CIO_READABLE);
    /* The peer closes: read side sees a hang-up (readable, maybe IOERR). */
    close(s[1]);
    r.all = 0;
    for (int i = 0; i < 10 && !(r.all & CIO_READABLE); i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_TRUE(r.all & CIO_READABLE);
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    EXPECT_ERR(-ENOENT, cio__io_edge_del(loop, s[0]));
    close(s[0]);
    CLOSE_LOOP(loop);
    EXPECT_EQ(before, test_fd_count());
}

TEST(edge_is_edge_triggered_on_epoll_level_on_poll)
{
    cio_loop *loop = test_strict_loop_new();
    int s[2];
    sockpair(s);
    struct rec r = {0};
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE));
    EXPECT_EQ(2, write(s[1], "ab", 2));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    int first = r.calls;
    EXPECT_TRUE(first >= 1);
    EXPECT_TRUE(r.events & CIO_READABLE);
    /* Not drained: epoll reports no new edge, poll reports the level. */
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    if (is_epoll(loop))
        EXPECT_EQ(first, r.calls);
    else
        EXPECT_EQ(first + 3, r.calls);
    /* New data is a new edge on both. */
    EXPECT_EQ(1, write(s[1], "c", 1));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_TRUE(r.calls > first);
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

TEST(edge_counts_as_live_only_while_armed)
{
    cio_loop *loop = test_strict_loop_new();
    int s[2];
    sockpair(s);
    struct rec r = {0};
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    /* Unarmed: nothing live, close would succeed (checked at the end). */
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE)); /* same: no change */
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE | CIO_WRITABLE));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_WRITABLE));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], 0));
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    /* Removing an armed registration ends its live work too. */
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE));
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    /* An unarmed registration left at close goes with the loop. */
    EXPECT_OK(cio__io_edge_add(loop, s[1], on_edge, &r));
    CLOSE_LOOP(loop);
    close(s[0]);
    close(s[1]);
}

static void nop_io(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop, (void)fd, (void)events, (void)arg;
}

TEST(edge_and_watchers_exclude_each_other)
{
    cio_loop *loop = test_strict_loop_new();
    int s[2];
    sockpair(s);
    struct rec r = {0};
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_ERR(-EBUSY, cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_ERR(-EBUSY, cio_loop_add_reader(loop, s[0], nop_io, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_add_writer(loop, s[0], nop_io, NULL));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE));
    /* The armed bits are not a reader to remove. */
    EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, s[0]));
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    EXPECT_OK(cio_loop_add_reader(loop, s[0], nop_io, NULL));
    EXPECT_ERR(-EBUSY, cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_OK(cio_loop_add_writer(loop, s[1], nop_io, NULL));
    EXPECT_ERR(-EBUSY, cio__io_edge_add(loop, s[1], on_edge, &r));
    EXPECT_ERR(-ENOENT, cio__io_edge_arm(loop, s[0], CIO_READABLE));
    EXPECT_ERR(-ENOENT, cio__io_edge_del(loop, s[0]));
    EXPECT_OK(cio_loop_remove_reader(loop, s[0]));
    EXPECT_OK(cio_loop_remove_writer(loop, s[1]));
    /* Bad arguments. */
    EXPECT_ERR(-EINVAL, cio__io_edge_add(NULL, s[0], on_edge, &r));
    EXPECT_ERR(-EINVAL, cio__io_edge_add(loop, -1, on_edge, &r));
    EXPECT_ERR(-EINVAL, cio__io_edge_add(loop, s[0], NULL, &r));
    EXPECT_ERR(-EBADF, cio__io_edge_add(loop, 1000000, on_edge, &r));
    EXPECT_ERR(-ENOENT, cio__io_edge_arm(loop, -1, CIO_READABLE));
    EXPECT_ERR(-ENOENT, cio__io_edge_arm(loop, 1000000, CIO_READABLE));
    close(s[0]);
    EXPECT_ERR(-EBADF, cio__io_edge_add(loop, s[0], on_edge, &r));
    close(s[1]);
    CLOSE_LOOP(loop);
}

TEST(edge_arming_costs_no_system_call)
{
    cio_loop *loop = test_strict_loop_new();
    int s[2];
    sockpair(s);
    struct rec r = {0};
    uint64_t c0 = cio__io_ctl_count(loop);
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    uint64_t c1 = cio__io_ctl_count(loop);
    EXPECT_EQ(c0 + 1, c1); /* epoll_ctl ADD, or poll's descriptor check */
    for (int i = 0; i < 100; i++) {
        EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE));
        EXPECT_EQ(1, write(s[1], "x", 1));
        int calls = r.calls;
        for (int k = 0; k < 10 && r.calls == calls; k++)
            EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
        EXPECT_TRUE(r.calls > calls);
        char c;
        EXPECT_EQ(1, read(s[0], &c, 1));
        EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_WRITABLE));
        EXPECT_OK(cio__io_edge_arm(loop, s[0], 0));
    }
    EXPECT_EQ(c1, cio__io_ctl_count(loop));
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

TEST(edge_unarmed_on_poll_reports_nothing)
{
    cio_loop *loop = test_strict_loop_new();
    int s[2];
    sockpair(s);
    struct rec r = {0};
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_EQ(1, write(s[1], "x", 1));
    /* A timer keeps the loop polling. */
    EXPECT_OK(cio__io_edge_add(loop, s[1], on_edge, &r));
    EXPECT_OK(cio__io_edge_arm(loop, s[1], CIO_WRITABLE));
    for (int i = 0; i < 3; i++)
        EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    if (is_epoll(loop)) {
        /* epoll reports the edges of unarmed registrations too (they set
         * the owner's ready bits). */
        EXPECT_TRUE(r.calls >= 2);
    } else {
        EXPECT_EQ(3, r.calls); /* s[1] writable each time, s[0] never */
        EXPECT_EQ(s[1], r.fd);
    }
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    EXPECT_OK(cio__io_edge_del(loop, s[1]));
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

/* A callback earlier in a batch removes a registration, closes the
 * descriptor and registers a new file under the same number: the event
 * read for the old one in the same batch must reach neither. */
static int g_a, g_b;
static struct rec g_first, g_new;
static int g_pipe[2] = {-1, -1};

static void on_new(cio_loop *loop, int fd, int events, void *arg) { on_edge(loop, fd, events, arg); }

static void on_first(cio_loop *loop, int fd, int events, void *arg)
{
    on_edge(loop, fd, events, arg);
    EXPECT_OK(cio__io_edge_arm(loop, fd, 0)); /* once (poll would report it again) */
    int victim = fd == g_a ? g_b : g_a;
    EXPECT_OK(cio__io_edge_del(loop, victim));
    /* The number now names a pipe's write end (dup3 closes the socket). */
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    EXPECT_EQ(victim, dup3(p[1], victim, O_CLOEXEC));
    close(p[1]);
    g_pipe[0] = p[0];
    g_pipe[1] = victim;
    EXPECT_OK(cio__io_edge_add(loop, victim, on_new, &g_new));
}

TEST(edge_stale_events_dropped)
{
    cio_loop *loop = test_strict_loop_new();
    int a[2], b[2];
    sockpair(a);
    sockpair(b);
    g_a = a[0];
    g_b = b[0];
    EXPECT_OK(cio__io_edge_add(loop, a[0], on_first, &g_first));
    EXPECT_OK(cio__io_edge_add(loop, b[0], on_first, &g_first));
    EXPECT_OK(cio__io_edge_arm(loop, a[0], CIO_READABLE));
    EXPECT_OK(cio__io_edge_arm(loop, b[0], CIO_READABLE));
    EXPECT_EQ(1, write(a[1], "x", 1));
    EXPECT_EQ(1, write(b[1], "x", 1));
    /* Both are ready before the poll: one batch reports both. */
    EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_EQ(1, g_first.calls);
    EXPECT_EQ(0, g_new.calls);
    /* The new registration works. */
    EXPECT_OK(cio__io_edge_arm(loop, g_pipe[1], CIO_WRITABLE));
    for (int i = 0; i < 10 && !g_new.calls; i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    if (!(g_new.events & CIO_WRITABLE))
        FAIL("new registration: %d calls, events %d, fd %d", g_new.calls, g_new.events, g_new.fd);
    int other = g_pipe[1] == a[0] ? b[0] : a[0];
    EXPECT_OK(cio__io_edge_del(loop, other));
    EXPECT_OK(cio__io_edge_del(loop, g_pipe[1]));
    close(other);
    close(a[1]);
    close(b[1]);
    close(g_pipe[0]);
    close(g_pipe[1]);
    CLOSE_LOOP(loop);
}

struct slot_rec {
    int freed;
    cio_loop *loop;
    void *data;
};
static struct slot_rec g_slot;

static void slot_free(cio_loop *loop, void *data)
{
    g_slot.freed++;
    g_slot.loop = loop;
    g_slot.data = data;
    EXPECT_TRUE(cio_loop_is_closed(loop));
}

TEST(slots_freed_by_loop_free)
{
    cio_loop *loop = test_strict_loop_new();
    static int payload;
    EXPECT_PTR_EQ(NULL, cio__loop_slot(loop, CIO__SLOT_NET));
    cio__loop_set_slot(loop, CIO__SLOT_NET, &payload, slot_free);
    EXPECT_PTR_EQ(&payload, cio__loop_slot(loop, CIO__SLOT_NET));
    EXPECT_PTR_EQ(NULL, cio__loop_slot(loop, CIO__SLOT_COUNT));
    EXPECT_PTR_EQ(NULL, cio__loop_slot(loop, -1));
    EXPECT_PTR_EQ(NULL, cio__loop_slot(NULL, 0));
    cio__loop_set_slot(loop, CIO__SLOT_COUNT, &payload, slot_free); /* ignored */
    cio__loop_set_slot(loop, 1, &payload, NULL);                   /* nothing to call */
    EXPECT_OK(cio_loop_close(loop));
    EXPECT_EQ(0, g_slot.freed); /* close alone keeps them */
    EXPECT_PTR_EQ(&payload, cio__loop_slot(loop, CIO__SLOT_NET));
    EXPECT_OK(cio_loop_free(loop));
    EXPECT_EQ(1, g_slot.freed);
    EXPECT_PTR_EQ(loop, g_slot.loop);
    EXPECT_PTR_EQ(&payload, g_slot.data);
}

TEST(slot_not_freed_when_close_refused)
{
    cio_loop *loop = test_strict_loop_new();
    static int payload;
    g_slot = (struct slot_rec){0};
    cio__loop_set_slot(loop, CIO__SLOT_NET, &payload, slot_free);
    int s[2];
    sockpair(s);
    struct rec r = {0};
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_READABLE));
    EXPECT_ERR(-EBUSY, cio_loop_free(loop));
    EXPECT_EQ(0, g_slot.freed);
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    EXPECT_OK(cio_loop_free(loop));
    EXPECT_EQ(1, g_slot.freed);
    close(s[0]);
    close(s[1]);
}

static char g_reports[4096];
static void collect(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop, (void)arg;
    strncat(g_reports, msg, sizeof g_reports - strlen(g_reports) - 2);
    strcat(g_reports, "\n");
}

TEST(edge_armed_named_in_close_report)
{
    cio_loop *loop = NULL;
    EXPECT_OK(cio_loop_new(&CIO_LOOP_OPTIONS(.debug = 1, .backend = getenv("CIO_BACKEND")), &loop));
    cio_loop_set_report_handler(loop, collect, NULL);
    int s[2];
    sockpair(s);
    struct rec r = {0};
    EXPECT_OK(cio__io_edge_add(loop, s[0], on_edge, &r));
    EXPECT_OK(cio__io_edge_arm(loop, s[0], CIO_WRITABLE));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    char want[64];
    snprintf(want, sizeof want, "fd %d is waited on for writing", s[0]);
    if (!strstr(g_reports, want))
        FAIL("no \"%s\" in:\n%s", want, g_reports);
    EXPECT_TRUE(strstr(g_reports, "or waited on") != NULL);
    EXPECT_OK(cio__io_edge_del(loop, s[0]));
    CLOSE_LOOP(loop);
    close(s[0]);
    close(s[1]);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
