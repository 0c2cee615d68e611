/* I/O readiness: readers and writers on pipes and socketpairs, level
 * triggering, hang-ups, watchers removed (and descriptors closed and
 * reused) from inside callbacks, close while watched, wild descriptor
 * numbers, and a backend whose poll fails. White-box where it must look at
 * the descriptor table (loop/internal.h). */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "test.h"
#include "loop/internal.h"

static cio_loop *g_loop;

static void nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    EXPECT_TRUE(fl >= 0);
    EXPECT_OK(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

static void make_pipe(int p[2])
{
    EXPECT_OK(pipe(p));
    nonblock(p[0]);
    nonblock(p[1]);
}

static void make_socketpair(int s[2])
{
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s));
}

struct seen {
    int calls;
    int fd;
    int events;
    void *arg;
};

static struct seen rd, wr, rd2;

static void on_read(cio_loop *loop, int fd, int events, void *arg)
{
    EXPECT_PTR_EQ(g_loop, loop);
    rd.calls++;
    rd.fd = fd;
    rd.events = events;
    rd.arg = arg;
}
static void on_read2(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    rd2.calls++;
    rd2.fd = fd;
    rd2.events = events;
    rd2.arg = arg;
}
static void on_write(cio_loop *loop, int fd, int events, void *arg)
{
    EXPECT_PTR_EQ(g_loop, loop);
    wr.calls++;
    wr.fd = fd;
    wr.events = events;
    wr.arg = arg;
}

/* ---- basics ------------------------------------------------------------- */

TEST(reader_called_when_readable)
{
    cio_loop *loop = g_loop = test_loop_new();
    int p[2];
    make_pipe(p);
    EXPECT_OK(cio_loop_add_reader(loop, p[0], on_read, (void *)0x77));
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(0, rd.calls); /* nothing to read yet */
    EXPECT_EQ(3, write(p[1], "abc", 3));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, rd.calls);
    EXPECT_EQ(p[0], rd.fd);
    EXPECT_EQ(CIO_READABLE, rd.events);
    EXPECT_PTR_EQ((void *)0x77, rd.arg);
    /* level-triggered: called again while data remains */
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(2, rd.calls);
    char buf[8];
    EXPECT_EQ(3, read(p[0], buf, sizeof buf));
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(2, rd.calls);
    EXPECT_OK(cio_loop_remove_reader(loop, p[0]));
    EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, p[0]));
    EXPECT_ERR(-ENOENT, cio_loop_remove_writer(loop, p[0]));
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    CLOSE_LOOP(loop);
}

TEST(writer_called_when_writable)
{
    cio_loop *loop = g_loop = test_loop_new();
    int s[2];
    make_socketpair(s);
    EXPECT_OK(cio_loop_add_writer(loop, s[0], on_write, (void *)5));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, wr.calls);
    EXPECT_EQ(s[0], wr.fd);
    EXPECT_EQ(CIO_WRITABLE, wr.events);
    EXPECT_PTR_EQ((void *)5, wr.arg);
    EXPECT_OK(cio_loop_remove_writer(loop, s[0]));
    EXPECT_ERR(-ENOENT, cio_loop_remove_writer(loop, s[0]));
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

TEST(reader_and_writer_on_one_descriptor)
{
    cio_loop *loop = g_loop = test_loop_new();
    int s[2];
    make_socketpair(s);
    EXPECT_EQ(1, write(s[1], "x", 1));
    EXPECT_OK(cio_loop_add_reader(loop, s[0], on_read, NULL));
    EXPECT_OK(cio_loop_add_writer(loop, s[0], on_write, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, rd.calls);
    EXPECT_EQ(1, wr.calls);
    EXPECT_EQ(CIO_READABLE, rd.events);
    EXPECT_EQ(CIO_WRITABLE, wr.events);
    /* removing one side keeps the other */
    EXPECT_OK(cio_loop_remove_writer(loop, s[0]));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(2, rd.calls);
    EXPECT_EQ(1, wr.calls);
    EXPECT_OK(cio_loop_remove_reader(loop, s[0]));
    EXPECT_OK(cio_loop_add_writer(loop, s[0], on_write, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(2, rd.calls);
    EXPECT_EQ(2, wr.calls);
    EXPECT_OK(cio_loop_remove_writer(loop, s[0]));
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

TEST(add_reader_replaces_previous)
{
    cio_loop *loop = g_loop = test_loop_new();
    int p[2];
    make_pipe(p);
    EXPECT_EQ(1, write(p[1], "x", 1));
    EXPECT_OK(cio_loop_add_reader(loop, p[0], on_read, (void *)1));
    EXPECT_OK(cio_loop_add_reader(loop, p[0], on_read2, (void *)2));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(0, rd.calls);
    EXPECT_EQ(1, rd2.calls);
    EXPECT_PTR_EQ((void *)2, rd2.arg);
    EXPECT_OK(cio_loop_remove_reader(loop, p[0])); /* one watcher, removed once */
    EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, p[0]));
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop);
}

TEST(many_descriptors_in_one_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    enum { N = 200 };
    int p[N][2];
    for (int i = 0; i < N; i++) {
        make_pipe(p[i]);
        EXPECT_EQ(1, write(p[i][1], "x", 1));
        EXPECT_OK(cio_loop_add_reader(loop, p[i][0], on_read, NULL));
    }
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(N, rd.calls);
    for (int i = 0; i < N; i++) {
        EXPECT_OK(cio_loop_remove_reader(loop, p[i][0]));
        close(p[i][0]);
        close(p[i][1]);
    }
    CLOSE_LOOP(loop);
}

TEST(high_descriptor_number)
{
    cio_loop *loop = g_loop = test_loop_new();
    struct rlimit rl;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    int target = rl.rlim_cur > 5000 ? 4000 : (int)rl.rlim_cur - 10;
    int p[2];
    make_pipe(p);
    EXPECT_EQ(target, dup2(p[0], target));
    EXPECT_EQ(1, write(p[1], "x", 1));
    EXPECT_OK(cio_loop_add_reader(loop, target, on_read, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, rd.calls);
    EXPECT_EQ(target, rd.fd);
    EXPECT_OK(cio_loop_remove_reader(loop, target));
    close(target);
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop);
}

/* ---- hang-ups and errors ------------------------------------------------- */

TEST(pipe_hangup_wakes_reader)
{
    cio_loop *loop = g_loop = test_loop_new();
    int p[2];
    make_pipe(p);
    EXPECT_OK(cio_loop_add_reader(loop, p[0], on_read, NULL));
    close(p[1]);
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, rd.calls);
    EXPECT_TRUE(rd.events & CIO_IOERR);
    EXPECT_TRUE(rd.events & CIO_READABLE);
    char c;
    EXPECT_EQ(0, read(p[0], &c, 1)); /* EOF */
    EXPECT_OK(cio_loop_remove_reader(loop, p[0]));
    close(p[0]);
    CLOSE_LOOP(loop);
}

TEST(pipe_reader_gone_wakes_writer)
{
    cio_loop *loop = g_loop = test_loop_new();
    int p[2];
    make_pipe(p);
    /* fill the pipe so the writer is not simply writable */
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (write(p[1], buf, sizeof buf) > 0) {
    }
    EXPECT_OK(cio_loop_add_writer(loop, p[1], on_write, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(0, wr.calls);
    close(p[0]);
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, wr.calls);
    EXPECT_TRUE(wr.events & CIO_IOERR);
    EXPECT_OK(cio_loop_remove_writer(loop, p[1]));
    close(p[1]);
    CLOSE_LOOP(loop);
}

TEST(socket_hangup_calls_both_sides)
{
    cio_loop *loop = g_loop = test_loop_new();
    int s[2];
    make_socketpair(s);
    /* fill s[0]'s send buffer so it is not writable before the hang-up */
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (write(s[0], buf, sizeof buf) > 0) {
    }
    EXPECT_OK(cio_loop_add_reader(loop, s[0], on_read, NULL));
    EXPECT_OK(cio_loop_add_writer(loop, s[0], on_write, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(0, rd.calls);
    EXPECT_EQ(0, wr.calls);
    close(s[1]);
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    /* "then both the reader and the writer are called" */
    EXPECT_EQ(1, rd.calls);
    EXPECT_EQ(1, wr.calls);
    EXPECT_TRUE((rd.events | wr.events) & CIO_IOERR);
    EXPECT_OK(cio_loop_remove_reader(loop, s[0]));
    EXPECT_OK(cio_loop_remove_writer(loop, s[0]));
    close(s[0]);
    CLOSE_LOOP(loop);
}

/* ---- bad input ------------------------------------------------------------ */

static void io_nop(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)arg;
}

TEST(watcher_bad_input)
{
    cio_loop *loop = g_loop = test_loop_new();
    int p[2];
    make_pipe(p);
    EXPECT_ERR(-EINVAL, cio_loop_add_reader(loop, -1, io_nop, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_writer(loop, -5, io_nop, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_reader(loop, p[0], NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_writer(loop, p[1], NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_loop_add_reader(NULL, p[0], io_nop, NULL));
    EXPECT_TRUE(cio_loop_remove_reader(NULL, p[0]) < 0);
    EXPECT_TRUE(cio_loop_remove_reader(loop, -1) < 0);
    EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, p[0]));
    EXPECT_ERR(-ENOENT, cio_loop_remove_writer(loop, 100000));
    /* a descriptor that is not open */
    int closed_fd = dup(p[0]);
    close(closed_fd);
    EXPECT_ERR(-EBADF, cio_loop_add_reader(loop, closed_fd, io_nop, NULL));
    EXPECT_ERR(-EBADF, cio_loop_add_writer(loop, closed_fd, io_nop, NULL));
    EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, closed_fd));
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop); /* the failed adds left nothing behind */
}

/* Fails the case on any report: the cases that install it expect none. */
static void report_fails(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    FAIL("unexpected report: %s", msg);
}

/* Descriptor numbers nobody opened are refused before the watcher table
 * grows for them: 2^30 used to loop forever (int overflow while doubling),
 * 20,000,000 used to allocate 800 MB that stayed. */
TEST_T(unopened_huge_descriptors_refused_without_growing, 20)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    int nfds = loop->nfds;
    const int wild[] = {1 << 30, 20000000, INT_MAX, INT_MAX - 1, (1 << 30) + 12345};
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
        EXPECT_ERR(-EBADF, cio_loop_add_reader(loop, wild[i], io_nop, NULL));
        EXPECT_ERR(-EBADF, cio_loop_add_writer(loop, wild[i], io_nop, NULL));
        EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, wild[i]));
        EXPECT_EQ(nfds, loop->nfds); /* nothing allocated for them */
    }
    CLOSE_LOOP(loop);
}

/* A valid descriptor far above the table grows it (by doubling, without
 * overflow) to hold exactly what is needed. */
TEST(high_descriptor_grows_the_table)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, report_fails, NULL);
    struct rlimit rl;
    EXPECT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_cur < 70000 && rl.rlim_max >= 70000) {
        rl.rlim_cur = 70000;
        EXPECT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    }
    int target = rl.rlim_cur >= 70000 ? 65600 : (int)rl.rlim_cur - 10;
    int p[2];
    make_pipe(p);
    EXPECT_EQ(target, dup2(p[1], target));
    EXPECT_OK(cio_loop_add_writer(loop, target, on_write, NULL));
    EXPECT_TRUE(loop->nfds > target && loop->nfds <= 2 * (target + 1));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, wr.calls);
    EXPECT_EQ(target, wr.fd);
    EXPECT_OK(cio_loop_remove_writer(loop, target));
    close(target);
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop);
}

/* ---- a backend whose poll fails ------------------------------------------ */

static void io_nop_timer(void *arg) { (void)arg; }

static int nreports;
static char last_report[1024];
static void capture_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    nreports++;
    snprintf(last_report, sizeof last_report, "%s", msg);
}

/* The epoll descriptor, found the way a user would see it. */
static int find_epoll_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    EXPECT_TRUE(d != NULL);
    int found = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], link[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        if (strstr(link, "eventpoll"))
            found = atoi(e->d_name);
    }
    closedir(d);
    return found;
}

/* Breaks the backend behind the loop's back: epoll_wait on a descriptor
 * that is no longer an epoll instance fails with EINVAL; poll(2) with more
 * descriptors than RLIMIT_NOFILE allows fails with EINVAL. */
static struct rlimit saved_nofile;
static void break_backend(cio_loop *loop, int spare)
{
    if (strcmp(cio_loop_backend(loop), "epoll") == 0) {
        int epfd = find_epoll_fd();
        EXPECT_TRUE(epfd >= 0);
        EXPECT_EQ(epfd, dup2(spare, epfd));
    } else {
        EXPECT_OK(getrlimit(RLIMIT_NOFILE, &saved_nofile));
        struct rlimit zero = {0, saved_nofile.rlim_max};
        EXPECT_OK(setrlimit(RLIMIT_NOFILE, &zero));
    }
}
static void repair_backend(cio_loop *loop)
{
    if (strcmp(cio_loop_backend(loop), "poll") == 0)
        EXPECT_OK(setrlimit(RLIMIT_NOFILE, &saved_nofile));
}

static void spun(void *arg)
{
    (void)arg;
    FAIL("the loop kept iterating over a failing poll");
}

TEST(failing_backend_poll_reports_and_ends_the_run)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture_report, NULL);
    int p[2];
    make_pipe(p);
    /* a far timer keeps the run waiting in the backend; a spin would reach
     * the guard (2 s) long before the case's timeout */
    cio_handle far, guard;
    EXPECT_OK(cio_call_later(loop, 100.0, io_nop_timer, NULL, &far));
    EXPECT_OK(cio_call_later(loop, 2.0, spun, NULL, &guard));
    break_backend(loop, p[0]);
    EXPECT_ERR(-EINVAL, cio_loop_run_forever(loop));
    EXPECT_EQ(1, nreports);
    EXPECT_TRUE(strstr(last_report, "poll") && strstr(last_report, cio_loop_backend(loop)));
    /* every run ends the same way; the failure is reported once */
    EXPECT_ERR(-EINVAL, cio_loop_run_once(loop, 0));
    cio_future *f;
    EXPECT_OK(cio_future_new(loop, &f));
    EXPECT_ERR(-EINVAL, cio_loop_run_until_complete(loop, f));
    EXPECT_EQ(1, nreports);
    EXPECT_OK(cio_future_cancel(f));
    cio_future_unref(f);
    repair_backend(loop);
    EXPECT_OK(cio_timer_cancel(loop, far));
    EXPECT_OK(cio_timer_cancel(loop, guard));
    if (strcmp(cio_loop_backend(loop), "poll") == 0) {
        /* repaired: runs work again */
        EXPECT_OK(cio_call_later(loop, 0, io_nop_timer, NULL, NULL));
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
        EXPECT_EQ(1, nreports);
    }
    test_drain(loop);
    close(p[0]);
    close(p[1]);
    CLOSE_LOOP(loop);
}

/* A descriptor closed while watched must not turn blocking polls into a
 * busy loop: poll(2) reports it as POLLNVAL at once on every call, so the
 * poll backend drops it from its set (and reports the mistake); epoll drops
 * a closed descriptor by itself. Counted in iterations: a blocking
 * iteration that returns with nothing done is a spin. */
static int closed_timer_fired;
static void closed_timer(void *arg)
{
    (void)arg;
    closed_timer_fired = 1;
}

TEST(descriptor_closed_while_watched_does_not_spin)
{
    cio_loop *loop = g_loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture_report, NULL);
    int p[2];
    make_pipe(p);
    EXPECT_OK(cio_loop_add_reader(loop, p[0], on_read, NULL));
    close(p[0]);
    EXPECT_OK(cio_call_later(loop, 0.05, closed_timer, NULL, NULL));
    int iters = 0;
    while (!closed_timer_fired && iters < 1000) {
        EXPECT_EQ(1, cio_loop_run_once(loop, 0));
        iters++;
    }
    EXPECT_TRUE(closed_timer_fired);
    /* one iteration finds the closed descriptor, the next waits for the
     * timer (a few more if the wait ends just short of the tick) */
    if (iters > 10)
        FAIL("%d blocking iterations for one timer: the loop spun", iters);
    EXPECT_EQ(0, rd.calls);
    if (strcmp(cio_loop_backend(loop), "poll") == 0) {
        EXPECT_EQ(1, nreports);
        EXPECT_TRUE(strstr(last_report, "closed while watched") != NULL);
    }
    EXPECT_OK(cio_loop_remove_reader(loop, p[0]));
    close(p[1]);
    CLOSE_LOOP(loop);
}

TEST(regular_file)
{
    cio_loop *loop = g_loop = test_loop_new();
    char path[] = "/tmp/cio_test_io_XXXXXX";
    int fd = mkstemp(path);
    EXPECT_TRUE(fd >= 0);
    unlink(path);
    int rc = cio_loop_add_reader(loop, fd, on_read, NULL);
    if (strcmp(cio_loop_backend(loop), "epoll") == 0) {
        EXPECT_ERR(-EPERM, rc);
        EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, fd));
    } else {
        /* poll: a regular file is always readable */
        EXPECT_OK(rc);
        EXPECT_EQ(1, cio_loop_run_once(loop, 0));
        EXPECT_EQ(1, rd.calls);
        EXPECT_OK(cio_loop_remove_reader(loop, fd));
    }
    close(fd);
    CLOSE_LOOP(loop);
}

TEST(close_busy_with_watchers)
{
    cio_loop *loop = g_loop = test_loop_new();
    int s[2];
    make_socketpair(s);
    EXPECT_OK(cio_loop_add_reader(loop, s[0], io_nop, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_OK(cio_loop_remove_reader(loop, s[0]));
    EXPECT_OK(cio_loop_add_writer(loop, s[1], io_nop, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_OK(cio_loop_remove_writer(loop, s[1]));
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

/* ---- removal and close from inside callbacks -------------------------------- */

static int self_close_calls;
static void reader_closes_itself(cio_loop *loop, int fd, int events, void *arg)
{
    int *other = arg;
    (void)events;
    self_close_calls++;
    EXPECT_OK(cio_loop_remove_reader(loop, fd));
    EXPECT_ERR(-ENOENT, cio_loop_remove_reader(loop, fd));
    close(fd);
    close(*other);
}

TEST(reader_removes_itself_and_closes_fd)
{
    cio_loop *loop = g_loop = test_loop_new();
    static int p[2];
    make_pipe(p);
    EXPECT_EQ(1, write(p[1], "x", 1));
    EXPECT_OK(cio_loop_add_reader(loop, p[0], reader_closes_itself, &p[1]));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, self_close_calls);
    CLOSE_LOOP(loop);
}

static int wself_calls;
static void writer_removes_itself(cio_loop *loop, int fd, int events, void *arg)
{
    (void)arg;
    EXPECT_TRUE(events & CIO_WRITABLE);
    wself_calls++;
    EXPECT_OK(cio_loop_remove_writer(loop, fd));
}

TEST(writer_removes_itself)
{
    cio_loop *loop = g_loop = test_loop_new();
    int s[2];
    make_socketpair(s);
    EXPECT_OK(cio_loop_add_writer(loop, s[0], writer_removes_itself, NULL));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(1, wself_calls);
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

/* A reader that removes the writer of its own descriptor (both ready in the
 * same iteration): the writer must not be called. */
static int rw_reader_calls, rw_writer_calls;
static void rw_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    rw_reader_calls++;
    if (rw_writer_calls == 0)
        EXPECT_OK(cio_loop_remove_writer(loop, fd));
    EXPECT_OK(cio_loop_remove_reader(loop, fd));
}
static void rw_writer(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    rw_writer_calls++;
    if (rw_reader_calls == 0)
        EXPECT_OK(cio_loop_remove_reader(loop, fd));
    EXPECT_OK(cio_loop_remove_writer(loop, fd));
}

TEST(removing_other_side_in_same_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    int s[2];
    make_socketpair(s);
    EXPECT_EQ(1, write(s[1], "x", 1));
    EXPECT_OK(cio_loop_add_reader(loop, s[0], rw_reader, NULL));
    EXPECT_OK(cio_loop_add_writer(loop, s[0], rw_writer, NULL));
    EXPECT_EQ(0, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, rw_reader_calls + rw_writer_calls);
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

/* Two readable pipes; whichever callback runs first removes the other's
 * reader. The other must not be called in that iteration. */
static int pa[2], pb[2];
static int first_calls, second_calls;
static void remove_other(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    if (first_calls == 0) {
        first_calls++;
        int other = fd == pa[0] ? pb[0] : pa[0];
        EXPECT_OK(cio_loop_remove_reader(loop, other));
    } else {
        second_calls++;
    }
}

TEST(removed_reader_not_called_in_same_iteration)
{
    cio_loop *loop = g_loop = test_loop_new();
    make_pipe(pa);
    make_pipe(pb);
    EXPECT_EQ(1, write(pa[1], "a", 1));
    EXPECT_EQ(1, write(pb[1], "b", 1));
    EXPECT_OK(cio_loop_add_reader(loop, pa[0], remove_other, NULL));
    EXPECT_OK(cio_loop_add_reader(loop, pb[0], remove_other, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, first_calls);
    EXPECT_EQ(0, second_calls);
    /* exactly one reader is left */
    int left = cio_loop_remove_reader(loop, pa[0]) == 0;
    left += cio_loop_remove_reader(loop, pb[0]) == 0;
    EXPECT_EQ(1, left);
    close(pa[0]);
    close(pa[1]);
    close(pb[0]);
    close(pb[1]);
    CLOSE_LOOP(loop);
}

/* ---- descriptor reuse ---------------------------------------------------------
 * The reader of pipe A (or B: whichever the backend reports first) removes
 * the reader of the other pipe, closes it, opens a new pipe whose read end
 * gets the closed descriptor's number, and watches it. The old pipe's event,
 * already read from the backend in this iteration, must not reach the new
 * watcher: the new pipe has no data. */
static int reuse_fd = -1, newp[2] = {-1, -1};
static int stale_calls, new_calls, swapper_calls;
static void new_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)arg;
    EXPECT_EQ(reuse_fd, fd);
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r != 1)
        FAIL("new reader called for a stale event (events %d, read %zd)", events, r);
    new_calls++;
}
static void swapper(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    if (swapper_calls++ > 0) {
        /* the surviving pipe stays readable (level-triggered): ignore */
        return;
    }
    int *victim = fd == pa[0] ? pb : pa;
    reuse_fd = victim[0];
    EXPECT_OK(cio_loop_remove_reader(loop, victim[0]));
    close(victim[0]);
    close(victim[1]);
    int q[2];
    make_pipe(q);
    if (q[0] != reuse_fd) {
        EXPECT_EQ(reuse_fd, dup2(q[0], reuse_fd));
        close(q[0]);
    }
    newp[0] = reuse_fd;
    newp[1] = q[1];
    victim[0] = victim[1] = -1;
    EXPECT_OK(cio_loop_add_reader(loop, reuse_fd, new_reader, NULL));
    (void)stale_calls;
}

TEST(reused_descriptor_gets_no_stale_event)
{
    cio_loop *loop = g_loop = test_loop_new();
    make_pipe(pa);
    make_pipe(pb);
    EXPECT_EQ(1, write(pa[1], "a", 1));
    EXPECT_EQ(1, write(pb[1], "b", 1));
    EXPECT_OK(cio_loop_add_reader(loop, pa[0], swapper, NULL));
    EXPECT_OK(cio_loop_add_reader(loop, pb[0], swapper, NULL));
    EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, swapper_calls);
    EXPECT_EQ(0, new_calls);
    /* more iterations: still nothing for the new pipe */
    EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    EXPECT_EQ(0, new_calls);
    /* data for the new pipe reaches the new reader */
    EXPECT_EQ(1, write(newp[1], "n", 1));
    for (int i = 0; i < 10 && new_calls == 0; i++)
        EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, new_calls);
    int *survivor = pa[0] >= 0 ? pa : pb;
    EXPECT_OK(cio_loop_remove_reader(loop, survivor[0]));
    EXPECT_OK(cio_loop_remove_reader(loop, newp[0]));
    close(survivor[0]);
    close(survivor[1]);
    close(newp[0]);
    close(newp[1]);
    CLOSE_LOOP(loop);
}

/* The same with a writer on the reused number: a socketpair replaces the
 * pipe, and the new watcher is a writer (really writable) plus a reader
 * (not readable). The reader must not see the old pipe's readability. */
static int sp[2] = {-1, -1};
static int new_w_calls;
static void new_sock_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)arg;
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r != 1)
        FAIL("new socket reader called for a stale event (events %d, read %zd)", events, r);
}
static void new_sock_writer(cio_loop *loop, int fd, int events, void *arg)
{
    (void)arg;
    EXPECT_TRUE(events & CIO_WRITABLE);
    new_w_calls++;
    EXPECT_OK(cio_loop_remove_writer(loop, fd));
}
static int swapper2_calls;
static void swapper2(cio_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    if (swapper2_calls++ > 0)
        return;
    int *victim = fd == pa[0] ? pb : pa;
    reuse_fd = victim[0];
    EXPECT_OK(cio_loop_remove_reader(loop, victim[0]));
    close(victim[0]);
    close(victim[1]);
    victim[0] = victim[1] = -1;
    make_socketpair(sp);
    if (sp[0] != reuse_fd) {
        EXPECT_EQ(reuse_fd, dup2(sp[0], reuse_fd));
        close(sp[0]);
        sp[0] = reuse_fd;
    }
    EXPECT_OK(cio_loop_add_reader(loop, reuse_fd, new_sock_reader, NULL));
    EXPECT_OK(cio_loop_add_writer(loop, reuse_fd, new_sock_writer, NULL));
}

TEST(reused_descriptor_with_reader_and_writer)
{
    cio_loop *loop = g_loop = test_loop_new();
    make_pipe(pa);
    make_pipe(pb);
    EXPECT_EQ(1, write(pa[1], "a", 1));
    EXPECT_EQ(1, write(pb[1], "b", 1));
    EXPECT_OK(cio_loop_add_reader(loop, pa[0], swapper2, NULL));
    EXPECT_OK(cio_loop_add_reader(loop, pb[0], swapper2, NULL));
    for (int i = 0; i < 10 && new_w_calls == 0; i++)
        EXPECT_EQ(1, cio_loop_run_once(loop, 0));
    EXPECT_EQ(1, new_w_calls);
    int *survivor = pa[0] >= 0 ? pa : pb;
    EXPECT_OK(cio_loop_remove_reader(loop, survivor[0]));
    EXPECT_OK(cio_loop_remove_reader(loop, sp[0]));
    close(survivor[0]);
    close(survivor[1]);
    close(sp[0]);
    close(sp[1]);
    CLOSE_LOOP(loop);
}

/* ---- a model-checked random run -----------------------------------------------
 * 64 pipes with readers; reader callbacks read a byte, write to random
 * pipes, and remove, close and recreate random pipes (so descriptor numbers
 * are reused within an iteration, often with data already in the new pipe).
 * Checked: a callback always belongs to the current watcher of its
 * descriptor, never to a pipe created in the current iteration, and always
 * finds a byte to read; in the end every byte is read. */
#define IO_SLOTS 64
struct ioslot {
    int r, w;
    uintptr_t id;
    long created_iter;
    long pending;
};
static struct ioslot slots[IO_SLOTS];
static int slot_of_fd[65536];
static uintptr_t io_next_id = 1;
static long io_iter, io_calls, io_recreated;
static int io_churn = 1;
static uint64_t io_rng = 0x1234567887654321ULL;
static uint64_t io_rnd(void)
{
    io_rng ^= io_rng << 13;
    io_rng ^= io_rng >> 7;
    io_rng ^= io_rng << 17;
    return io_rng;
}

static void model_reader(cio_loop *loop, int fd, int events, void *arg);

static void slot_open(int s)
{
    int p[2];
    make_pipe(p);
    EXPECT_TRUE(p[0] < 65536);
    slots[s].r = p[0];
    slots[s].w = p[1];
    slots[s].id = io_next_id++;
    slots[s].created_iter = io_iter;
    slots[s].pending = 0;
    slot_of_fd[p[0]] = s;
    EXPECT_OK(cio_loop_add_reader(g_loop, p[0], model_reader, (void *)slots[s].id));
}

static void slot_close(int s)
{
    EXPECT_OK(cio_loop_remove_reader(g_loop, slots[s].r));
    slot_of_fd[slots[s].r] = -1;
    close(slots[s].r);
    close(slots[s].w);
}

static void slot_feed(int s)
{
    EXPECT_EQ(1, write(slots[s].w, "d", 1));
    slots[s].pending++;
}

static void model_reader(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    io_calls++;
    int s = fd < 65536 ? slot_of_fd[fd] : -1;
    if (s < 0)
        FAIL("callback for fd %d, which has no watcher in the model", fd);
    if (slots[s].id != (uintptr_t)arg)
        FAIL("callback of watcher %zu delivered for fd %d, now watched by %zu",
             (size_t)(uintptr_t)arg, fd, (size_t)slots[s].id);
    if (slots[s].created_iter == io_iter)
        FAIL("event for fd %d, recreated in this iteration (stale event)", fd);
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n != 1)
        FAIL("fd %d reported readable (events %d) with nothing to read", fd, events);
    slots[s].pending--;
    if (!io_churn)
        return;
    if (io_rnd() % 4 == 0) {
        /* recreate a random pipe (perhaps this one): its number is reused */
        int v = (int)(io_rnd() % IO_SLOTS);
        long lost = slots[v].pending;
        slot_close(v);
        (void)lost;
        slot_open(v);
        io_recreated++;
        if (io_rnd() % 2)
            slot_feed(v); /* data already waiting in the new pipe */
    }
    if (io_rnd() % 2)
        slot_feed((int)(io_rnd() % IO_SLOTS));
}

TEST(random_pipes_against_model)
{
    cio_loop *loop = g_loop = test_loop_new();
    memset(slot_of_fd, -1, sizeof slot_of_fd);
    for (int s = 0; s < IO_SLOTS; s++) {
        slot_open(s);
        if (s % 2)
            slot_feed(s);
    }
    for (io_iter = 1; io_iter <= 400; io_iter++) {
        EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
        for (int k = 0; k < 3; k++)
            slot_feed((int)(io_rnd() % IO_SLOTS));
    }
    /* no more churn: everything written is read */
    io_churn = 0;
    for (long i = 0; i < 10000; i++, io_iter++) {
        long left = 0;
        for (int s = 0; s < IO_SLOTS; s++)
            left += slots[s].pending;
        if (!left)
            break;
        EXPECT_EQ(1, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    }
    for (int s = 0; s < IO_SLOTS; s++) {
        if (slots[s].pending)
            FAIL("fd %d still holds %ld unread bytes", slots[s].r, slots[s].pending);
        slot_close(s);
    }
    EXPECT_TRUE(io_calls > 1000);
    EXPECT_TRUE(io_recreated > 100);
    CLOSE_LOOP(loop);
}

/* ---- watchers driving a small protocol --------------------------------------- */

static int ping_left = 1000, pongs;
static void ping_reader(cio_loop *loop, int fd, int events, void *arg)
{
    int out = (int)(intptr_t)arg;
    (void)events;
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) == 1) {
        pongs++;
        if (--ping_left > 0)
            EXPECT_EQ(1, write(out, &c, 1));
        else
            cio_loop_stop(loop);
    }
}

TEST(ping_pong_through_socketpair)
{
    cio_loop *loop = g_loop = test_loop_new();
    int s[2];
    make_socketpair(s);
    EXPECT_OK(cio_loop_add_reader(loop, s[0], ping_reader, (void *)(intptr_t)s[0]));
    EXPECT_OK(cio_loop_add_reader(loop, s[1], ping_reader, (void *)(intptr_t)s[1]));
    EXPECT_EQ(1, write(s[1], "p", 1));
    EXPECT_OK(cio_loop_run_forever(loop));
    EXPECT_EQ(1000, pongs);
    EXPECT_OK(cio_loop_remove_reader(loop, s[0]));
    EXPECT_OK(cio_loop_remove_reader(loop, s[1]));
    close(s[0]);
    close(s[1]);
    CLOSE_LOOP(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
