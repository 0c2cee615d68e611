/* Waiting on raw descriptors from tasks (cio_fd_wait, cio_fd_read,
 * cio_fd_write, cio_fd_forget, cio_fd_close) on both backends: readiness on
 * socketpairs and pipes, level semantics after a partial read, deadlines,
 * cancellation, one waiter per direction, forget/close waking a waiter, no
 * epoll_ctl per wait (counted), SIGPIPE, conflicts with cio_loop_add_reader,
 * and debug mode's report of a descriptor closed behind cio's back. Every
 * case runs its body once per backend and checks that no descriptor
 * leaked. White-box only to count the backend's system calls. */
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "test.h"
#include "loop/internal.h"
#include "net/internal.h"

static const char *const backends[] = {"epoll", "poll"};

/* Runs fn as cio_run's main once per backend, the descriptor count equal
 * before and after each run. */
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

static void sockpair(int s[2])
{
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s));
}

static cio_task *spawn(cio_task_fn fn, void *arg)
{
    cio_task *t = NULL;
    EXPECT_OK(cio_spawn(fn, arg, &t));
    return t;
}

static int join(cio_task *t)
{
    int rc = cio_await(t, NULL);
    cio_future_unref(t);
    return rc;
}

/* Yields until *flag is set (bounded). */
static void yield_until(volatile int *flag)
{
    for (int i = 0; i < 1000 && !*flag; i++)
        EXPECT_OK(cio_yield());
    EXPECT_TRUE(*flag);
}

/* ---- readiness ------------------------------------------------------------- */

struct writer {
    int fd;
    const char *data;
    int wrote; /* set just before the write */
};

static int writer_task(void *arg, void **result)
{
    (void)result;
    struct writer *w = arg;
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_yield());
    w->wrote = 1;
    EXPECT_EQ((ssize_t)strlen(w->data), write(w->fd, w->data, strlen(w->data)));
    return 0;
}

static int readable_writable(void *arg, void **result)
{
    (void)arg, (void)result;
    int s[2], p[2];
    sockpair(s);
    EXPECT_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
    int pairs[2][2] = {{s[0], s[1]}, {p[0], p[1]}};
    for (int k = 0; k < 2; k++) {
        int rfd = pairs[k][0], wfd = pairs[k][1];
        int ready = 0;
        EXPECT_OK(cio_fd_wait(wfd, CIO_WRITABLE, &ready));
        EXPECT_EQ(CIO_WRITABLE, ready);
        struct writer w = {wfd, "hello", 0};
        cio_task *t = spawn(writer_task, &w);
        ready = 0;
        EXPECT_OK(cio_fd_wait(rfd, CIO_READABLE, &ready));
        EXPECT_TRUE(w.wrote); /* it suspended until the write */
        EXPECT_EQ(CIO_READABLE, ready);
        char buf[16];
        EXPECT_EQ(5, read(rfd, buf, sizeof buf));
        EXPECT_OK(join(t));
        /* Either direction: writable at once. */
        ready = 0;
        EXPECT_OK(cio_fd_wait(wfd, CIO_READABLE | CIO_WRITABLE, &ready));
        EXPECT_TRUE(ready & CIO_WRITABLE);
    }
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    EXPECT_OK(cio_fd_close(p[0]));
    EXPECT_OK(cio_fd_close(p[1]));
    return 0;
}

TEST(fd_wait_readable_writable) { run_both(readable_writable, NULL); }

static int level_semantics(void *arg, void **result)
{
    (void)arg, (void)result;
    int s[2];
    sockpair(s);
    EXPECT_EQ(10, write(s[1], "0123456789", 10));
    int ready = 0;
    EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, &ready));
    char buf[16];
    EXPECT_EQ(3, read(s[0], buf, 3));
    /* Seven bytes are left: the wait returns again at once, as poll(2)
     * would, although no new edge came. Twice, reading nothing between. */
    for (int i = 0; i < 2; i++) {
        ready = 0;
        EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, &ready));
        EXPECT_EQ(CIO_READABLE, ready);
    }
    EXPECT_EQ(7, read(s[0], buf, sizeof buf));
    /* Drained: now the wait suspends until new data. */
    struct writer w = {s[1], "x", 0};
    cio_task *t = spawn(writer_task, &w);
    EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, &ready));
    EXPECT_TRUE(w.wrote);
    EXPECT_OK(join(t));
    /* cio_fd_read consumes through cio: a partial read leaves the level. */
    EXPECT_EQ(1, cio_fd_read(s[0], buf, 1));
    EXPECT_EQ(4, write(s[1], "abcd", 4));
    EXPECT_EQ(2, cio_fd_read(s[0], buf, 2));
    EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, &ready));
    EXPECT_EQ(2, cio_fd_read(s[0], buf, sizeof buf));
    /* The peer's end: readable (end of file), with the hang-up. */
    EXPECT_OK(cio_fd_close(s[1]));
    ready = 0;
    EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, &ready));
    EXPECT_TRUE(ready & CIO_READABLE);
    EXPECT_EQ(0, cio_fd_read(s[0], buf, sizeof buf));
    EXPECT_OK(cio_fd_close(s[0]));
    return 0;
}

TEST(fd_wait_level_semantics) { run_both(level_semantics, NULL); }

/* ---- deadlines, cancellation, one waiter per direction ---------------------- */

static int deadline_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int s[2];
    sockpair(s);
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.02));
    EXPECT_ERR(-ETIMEDOUT, cio_fd_wait(s[0], CIO_READABLE, NULL));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    char buf[4];
    EXPECT_OK(cio_timeout_begin(&sc, 0.02));
    EXPECT_ERR(-ETIMEDOUT, cio_fd_read(s[0], buf, sizeof buf));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    /* The registration still works after the give-up. */
    EXPECT_EQ(1, write(s[1], "z", 1));
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, NULL));
    EXPECT_EQ(1, cio_fd_read(s[0], buf, sizeof buf));
    EXPECT_OK(cio_scope_end(&sc));
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_wait_deadline) { run_both(deadline_main, NULL); }

struct waiter {
    int fd;
    int events;
    int started;
    int rc;
    bool use_read;
};

static int waiter_task(void *arg, void **result)
{
    (void)result;
    struct waiter *w = arg;
    w->started = 1;
    if (w->use_read) {
        char c;
        w->rc = (int)cio_fd_read(w->fd, &c, 1);
    } else {
        w->rc = cio_fd_wait(w->fd, w->events, NULL);
    }
    return w->rc == -ECANCELED ? w->rc : 0;
}

static int cancel_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int s[2];
    sockpair(s);
    for (int k = 0; k < 2; k++) {
        struct waiter w = {s[0], CIO_READABLE, 0, 1, k == 1};
        cio_task *t = spawn(waiter_task, &w);
        yield_until(&w.started);
        EXPECT_OK(cio_yield()); /* it is suspended in the wait now */
        EXPECT_EQ(1, w.rc);
        EXPECT_OK(cio_future_cancel(t));
        EXPECT_ERR(-ECANCELED, join(t));
        EXPECT_ERR(-ECANCELED, w.rc);
    }
    /* Nothing is left armed: a new wait works. */
    EXPECT_EQ(1, write(s[1], "a", 1));
    EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, NULL));
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_wait_cancel) { run_both(cancel_main, NULL); }

static int busy_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int s[2];
    sockpair(s);
    struct waiter w = {s[0], CIO_READABLE, 0, 1, false};
    cio_task *t = spawn(waiter_task, &w);
    yield_until(&w.started);
    EXPECT_OK(cio_yield());
    EXPECT_ERR(-EBUSY, cio_fd_wait(s[0], CIO_READABLE, NULL));
    /* Either direction: the free one is ready, so it returns. */
    int either = 0;
    EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE | CIO_WRITABLE, &either));
    EXPECT_EQ(CIO_WRITABLE, either);
    char c;
    EXPECT_ERR(-EBUSY, cio_fd_read(s[0], &c, 1));
    /* The other direction is free. */
    int ready = 0;
    EXPECT_OK(cio_fd_wait(s[0], CIO_WRITABLE, &ready));
    EXPECT_EQ(CIO_WRITABLE, ready);
    EXPECT_EQ(1, write(s[1], "a", 1));
    EXPECT_OK(join(t));
    EXPECT_OK(w.rc);
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_wait_second_waiter_busy) { run_both(busy_main, NULL); }

static int forget_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int s[2];
    sockpair(s);
    /* cio_fd_forget wakes the waiter; the descriptor stays open. */
    struct waiter w = {s[0], CIO_READABLE, 0, 1, false};
    cio_task *t = spawn(waiter_task, &w);
    yield_until(&w.started);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_fd_forget(s[0]));
    EXPECT_OK(join(t));
    EXPECT_ERR(-EBADF, w.rc);
    EXPECT_TRUE(fcntl(s[0], F_GETFD) >= 0);
    EXPECT_OK(cio_fd_forget(s[0])); /* not registered any more: fine */
    /* cio_fd_close wakes a cio_fd_read, and closes. */
    struct waiter r = {s[0], CIO_READABLE, 0, 1, true};
    t = spawn(waiter_task, &r);
    yield_until(&r.started);
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(join(t));
    EXPECT_ERR(-EBADF, r.rc);
    EXPECT_TRUE(fcntl(s[0], F_GETFD) < 0);
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_forget_and_close_wake_waiter) { run_both(forget_main, NULL); }

/* ---- no epoll_ctl per wait --------------------------------------------------- */

struct pingpong {
    int fd;
    int rounds;
};

static int echo_task(void *arg, void **result)
{
    (void)result;
    struct pingpong *p = arg;
    char c;
    for (int i = 0; i < p->rounds; i++) {
        EXPECT_EQ(1, cio_fd_read(p->fd, &c, 1));
        EXPECT_EQ(1, cio_fd_write(p->fd, &c, 1));
    }
    return 0;
}

static int ctl_count_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop *loop = cio_current_loop();
    int s[2];
    sockpair(s);
    /* Raw waits: a writer task writes, this one waits and reads. */
    EXPECT_OK(cio_fd_wait(s[0], CIO_WRITABLE, NULL)); /* registers s[0] */
    uint64_t c0 = cio__io_ctl_count(loop);
    for (int i = 0; i < 200; i++) {
        struct writer w = {s[1], "x", 0};
        cio_task *t = spawn(writer_task, &w);
        EXPECT_OK(cio_fd_wait(s[0], CIO_READABLE, NULL));
        char c;
        EXPECT_EQ(1, read(s[0], &c, 1));
        EXPECT_OK(join(t));
    }
    EXPECT_EQ(c0, cio__io_ctl_count(loop));
    /* cio_fd_read/write ping-pong between two tasks: after each side's one
     * registration, none. */
    struct pingpong p = {s[1], 300};
    cio_task *t = spawn(echo_task, &p);
    char c = 'a';
    EXPECT_EQ(1, cio_fd_write(s[0], &c, 1));
    EXPECT_EQ(1, cio_fd_read(s[0], &c, 1));
    uint64_t c1 = cio__io_ctl_count(loop);
    for (int i = 1; i < p.rounds; i++) {
        EXPECT_EQ(1, cio_fd_write(s[0], &c, 1));
        EXPECT_EQ(1, cio_fd_read(s[0], &c, 1));
    }
    EXPECT_OK(join(t));
    EXPECT_EQ(c1, cio__io_ctl_count(loop));
    EXPECT_TRUE(c1 - c0 <= 1); /* s[1]'s registration */
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_no_epoll_ctl_per_wait) { run_both(ctl_count_main, NULL); }

/* ---- read, write, SIGPIPE ---------------------------------------------------- */

static int read_write_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC)); /* blocking: cio_fd_* make them non-blocking */
    /* Fill the pipe: the writer suspends until the reader drains. */
    struct pingpong rd = {p[0], 0};
    (void)rd;
    static char big[1 << 18];
    memset(big, 'q', sizeof big);
    size_t sent = 0;
    while (sent < sizeof big) {
        ssize_t n = cio_fd_write(p[1], big + sent, sizeof big - sent);
        EXPECT_TRUE(n > 0);
        sent += (size_t)n;
        /* Drain some from another place: read here when the pipe is full. */
        if (sent < sizeof big) {
            char buf[65536];
            ssize_t m = cio_fd_read(p[0], buf, sizeof buf);
            EXPECT_TRUE(m > 0);
        }
    }
    EXPECT_TRUE(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(p[1], F_GETFL) & O_NONBLOCK);
    EXPECT_OK(cio_fd_close(p[1]));
    char buf[65536];
    ssize_t n;
    while ((n = cio_fd_read(p[0], buf, sizeof buf)) > 0)
        ;
    EXPECT_EQ(0, n);
    EXPECT_OK(cio_fd_close(p[0]));
    /* A regular file: read directly (epoll cannot watch it). */
    char path[] = "/tmp/cio-test-fd-XXXXXX";
    int f = mkstemp(path);
    EXPECT_TRUE(f >= 0);
    unlink(path);
    EXPECT_EQ(5, cio_fd_write(f, "hello", 5));
    EXPECT_EQ(0, lseek(f, 0, SEEK_SET));
    EXPECT_EQ(5, cio_fd_read(f, buf, sizeof buf));
    EXPECT_EQ(0, cio_fd_read(f, buf, sizeof buf));
    int rc = cio_fd_wait(f, CIO_READABLE, NULL);
    if (strcmp(cio_loop_backend(cio_current_loop()), "epoll") == 0)
        EXPECT_ERR(-EPERM, rc);
    else
        EXPECT_OK(rc);
    EXPECT_OK(cio_fd_close(f));
    return 0;
}

TEST(fd_read_write) { run_both(read_write_main, NULL); }

static int sigpipe_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2], s[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    sockpair(s);
    EXPECT_OK(cio_fd_close(p[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    EXPECT_ERR(-EPIPE, cio_fd_write(p[1], "x", 1));
    EXPECT_ERR(-EPIPE, cio_fd_write(s[0], "x", 1));
    EXPECT_OK(cio_fd_close(p[1]));
    EXPECT_OK(cio_fd_close(s[0]));
    return 0;
}

static void sigpipe_default_child(void *arg)
{
    (void)arg;
    signal(SIGPIPE, SIG_DFL);
    run_both(sigpipe_main, NULL);
    struct sigaction sa;
    EXPECT_OK(sigaction(SIGPIPE, NULL, &sa));
    EXPECT_TRUE(sa.sa_handler == SIG_IGN); /* cio set it */
}

TEST(fd_write_sigpipe_ignored)
{
    char buf[4096];
    int st = test_run_child(sigpipe_default_child, NULL, buf, sizeof buf);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("child died (status %#x): %s", st, buf);
}

static volatile sig_atomic_t g_sigpipes;
static void on_sigpipe(int sig)
{
    (void)sig;
    g_sigpipes++;
}

static void sigpipe_handler_child(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    EXPECT_OK(sigaction(SIGPIPE, &sa, NULL));
    run_both(sigpipe_main, NULL);
    /* The program's handler stays; sockets are written with MSG_NOSIGNAL,
     * so only the pipe writes raised it (once per backend). */
    EXPECT_OK(sigaction(SIGPIPE, NULL, &sa));
    EXPECT_TRUE(sa.sa_handler == on_sigpipe);
    EXPECT_EQ(2, g_sigpipes);
}

TEST(fd_write_sigpipe_handler_left_alone)
{
    char buf[4096];
    int st = test_run_child(sigpipe_handler_child, NULL, buf, sizeof buf);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("child died (status %#x): %s", st, buf);
}

/* ---- errors and conflicts ---------------------------------------------------- */

static void nop_io(cio_loop *loop, int fd, int events, void *arg)
{
    (void)loop, (void)fd, (void)events, (void)arg;
}

static int errors_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop *loop = cio_current_loop();
    int s[2];
    sockpair(s);
    char c;
    EXPECT_ERR(-EINVAL, cio_fd_wait(-1, CIO_READABLE, NULL));
    EXPECT_ERR(-EINVAL, cio_fd_wait(s[0], 0, NULL));
    EXPECT_ERR(-EINVAL, cio_fd_wait(s[0], CIO_IOERR, NULL));
    EXPECT_ERR(-EBADF, cio_fd_read(-1, &c, 1));
    EXPECT_ERR(-EBADF, cio_fd_write(-1, &c, 1));
    EXPECT_ERR(-EINVAL, cio_fd_forget(-1));
    EXPECT_ERR(-EBADF, cio_fd_close(-1));
    /* A closed descriptor. */
    int dead = dup(s[0]);
    close(dead);
    EXPECT_ERR(-EBADF, cio_fd_wait(dead, CIO_READABLE, NULL));
    EXPECT_ERR(-EBADF, cio_fd_read(dead, &c, 1));
    /* A descriptor with a reader of cio_loop_add_reader, and back. */
    EXPECT_OK(cio_loop_add_reader(loop, s[1], nop_io, NULL));
    EXPECT_ERR(-EBUSY, cio_fd_wait(s[1], CIO_WRITABLE, NULL));
    EXPECT_ERR(-EBUSY, cio_fd_write(s[1], "x", 1));
    EXPECT_OK(cio_loop_remove_reader(loop, s[1]));
    EXPECT_OK(cio_fd_wait(s[1], CIO_WRITABLE, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_add_reader(loop, s[1], nop_io, NULL));
    EXPECT_OK(cio_fd_forget(s[1]));
    EXPECT_OK(cio_loop_add_reader(loop, s[1], nop_io, NULL));
    EXPECT_OK(cio_loop_remove_reader(loop, s[1]));
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_errors) { run_both(errors_main, NULL); }

TEST(fd_outside_a_task)
{
    int s[2];
    sockpair(s);
    char c = 0;
    EXPECT_ERR(-EPERM, cio_fd_wait(s[0], CIO_READABLE, NULL));
    EXPECT_ERR(-EPERM, cio_fd_read(s[0], &c, 1));
    EXPECT_ERR(-EPERM, cio_fd_write(s[0], &c, 1));
    EXPECT_ERR(-EPERM, cio_fd_forget(s[0]));
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
}

/* A task-free callback of the running loop may forget (and close). */
static void forget_cb(void *arg)
{
    int *fd = arg;
    EXPECT_OK(cio_fd_forget(*fd));
}

static int forget_from_callback_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int s[2];
    sockpair(s);
    struct waiter w = {s[0], CIO_READABLE, 0, 1, false};
    cio_task *t = spawn(waiter_task, &w);
    yield_until(&w.started);
    EXPECT_OK(cio_call_soon(cio_current_loop(), forget_cb, &s[0]));
    EXPECT_OK(join(t));
    EXPECT_ERR(-EBADF, w.rc);
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_forget_from_callback) { run_both(forget_from_callback_main, NULL); }

/* ---- debug mode: closed behind cio's back --------------------------------------- */

static char g_reports[2048];
static void collect(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop, (void)arg;
    strncat(g_reports, msg, sizeof g_reports - strlen(g_reports) - 2);
    strcat(g_reports, "\n");
}

static int behind_back_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop_set_report_handler(cio_current_loop(), collect, NULL);
    g_reports[0] = 0;
    int s[2];
    sockpair(s);
    EXPECT_OK(cio_fd_wait(s[0], CIO_WRITABLE, NULL));
    int num = s[0];
    close(s[0]); /* the mistake */
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    int rfd = p[0];
    if (rfd != num) {
        EXPECT_EQ(num, dup3(p[0], num, O_CLOEXEC));
        close(p[0]);
        rfd = num;
    }
    /* The new file under the old number works, and the mistake is named. */
    struct writer w = {p[1], "y", 0};
    cio_task *t = spawn(writer_task, &w);
    EXPECT_OK(cio_fd_wait(rfd, CIO_READABLE, NULL));
    EXPECT_OK(join(t));
    char want[64];
    snprintf(want, sizeof want, "fd %d was closed behind cio's back", num);
    if (!strstr(g_reports, want))
        FAIL("no \"%s\" in reports: \"%s\"", want, g_reports);
    EXPECT_OK(cio_fd_close(rfd));
    EXPECT_OK(cio_fd_close(p[1]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_debug_reports_close_behind_back)
{
    for (size_t i = 0; i < 2; i++) {
        int before = test_fd_baseline();
        EXPECT_OK(cio_run_with(&CIO_LOOP_OPTIONS(.backend = backends[i], .debug = 1),
                               behind_back_main, NULL, NULL));
        EXPECT_EQ(before, test_fd_count());
    }
}

/* poll backend: a descriptor closed behind the back of a waiting task is
 * reported (poll(2) says POLLNVAL), and the task is woken: its read then
 * fails with EBADF instead of waiting forever. (epoll drops a closed
 * descriptor silently: nothing to see there.) */
static int closed_while_waiting_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop_set_report_handler(cio_current_loop(), collect, NULL);
    g_reports[0] = 0;
    int s[2];
    sockpair(s);
    struct waiter r = {s[0], CIO_READABLE, 0, 1, true};
    cio_task *t = spawn(waiter_task, &r);
    yield_until(&r.started);
    EXPECT_OK(cio_yield());
    close(s[0]); /* the mistake */
    EXPECT_OK(join(t));
    EXPECT_ERR(-EBADF, r.rc);
    char want[80];
    snprintf(want, sizeof want, "fd %d was closed while a task or callback waited on it", s[0]);
    if (!strstr(g_reports, want))
        FAIL("no \"%s\" in reports: \"%s\"", want, g_reports);
    EXPECT_OK(cio_fd_forget(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_poll_closed_while_waiting)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run_with(&CIO_LOOP_OPTIONS(.backend = "poll"), closed_while_waiting_main, NULL,
                           NULL));
    EXPECT_EQ(before, test_fd_count());
}

/* A waited-on descriptor left registered at the end: the loop still
 * closes (nothing armed), and the registration's memory goes with it. */
static int left_registered_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int *s = arg;
    EXPECT_OK(cio_fd_wait(s[0], CIO_WRITABLE, NULL));
    EXPECT_EQ(1, cio_fd_write(s[1], "x", 1));
    return 0;
}

TEST(fd_left_registered_at_loop_end)
{
    int s[2];
    sockpair(s);
    for (size_t i = 0; i < 2; i++)
        EXPECT_OK(cio_run_with(&CIO_LOOP_OPTIONS(.backend = backends[i]), left_registered_main, s,
                               NULL));
    close(s[0]);
    close(s[1]);
}

/* ---- struct cio__nfd directly: callback owners, takeover -------------------------- */

struct owner {
    int calls;
    int events;
    int close_in_cb; /* closes the nfd from its callback */
};

static void on_nfd_event(struct cio__nfd *n, int events)
{
    struct owner *o = n->owner;
    o->calls++;
    o->events |= events;
    if (o->close_in_cb)
        cio__nfd_close(n);
}

static int nfd_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop *loop = cio_current_loop();
    bool poll_backend = strcmp(cio_loop_backend(loop), "poll") == 0;
    int s[2];
    sockpair(s);
    /* A callback owner: sees edges, armed or not on epoll; armed on poll. */
    struct owner o = {0};
    struct cio__nfd n;
    memset(&n, 0, sizeof n);
    n.on_event = on_nfd_event;
    n.owner = &o;
    EXPECT_OK(cio__nfd_open(&n, loop, s[0]));
    EXPECT_EQ(0, n.ready);
    EXPECT_OK(cio__nfd_arm(&n, CIO_READABLE));
    EXPECT_EQ(CIO_READABLE, n.armed);
    EXPECT_EQ(1, write(s[1], "a", 1));
    for (int i = 0; i < 100 && !(o.events & CIO_READABLE); i++)
        EXPECT_OK(cio_yield());
    EXPECT_TRUE(o.events & CIO_READABLE);
    EXPECT_TRUE(n.ready & CIO_READABLE);
    /* A task wait on a set bit returns at once; clear it and wait for the
     * next edge. */
    EXPECT_OK(cio__nfd_wait(&n, CIO_READABLE));
    char c;
    EXPECT_EQ(1, read(s[0], &c, 1));
    EXPECT_EQ(-1, read(s[0], &c, 1));
    cio__nfd_clear(&n, CIO_READABLE);
    struct writer w = {s[1], "b", 0};
    cio_task *t = spawn(writer_task, &w);
    EXPECT_OK(cio__nfd_wait(&n, CIO_READABLE));
    EXPECT_TRUE(w.wrote);
    EXPECT_OK(join(t));
    EXPECT_EQ(CIO_READABLE, n.armed); /* the owner's arm stays */
    EXPECT_OK(cio__nfd_arm(&n, 0));
    EXPECT_EQ(0, n.armed);
    (void)poll_backend;
    /* The owner may close the nfd from its callback. */
    o.close_in_cb = 1;
    EXPECT_OK(cio__nfd_arm(&n, CIO_WRITABLE));
    /* epoll reports no new edge for a state already seen: new data makes
     * one (poll reports the armed level anyway). */
    EXPECT_EQ(1, write(s[1], "d", 1));
    for (int i = 0; i < 100 && n.registered; i++)
        EXPECT_OK(cio_yield());
    EXPECT_FALSE(n.registered);
    cio__nfd_close(&n); /* twice: fine */
    EXPECT_ERR(-EBADF, cio__nfd_wait(&n, CIO_READABLE));
    EXPECT_ERR(-EBADF, cio__nfd_arm(&n, CIO_READABLE));
    /* Errors. */
    EXPECT_ERR(-EINVAL, cio__nfd_open(&n, NULL, s[0]));
    EXPECT_ERR(-EINVAL, cio__nfd_open(&n, loop, -1));
    EXPECT_ERR(-EINVAL, cio__nfd_wait(&n, 0));
    struct cio__nfd zero;
    memset(&zero, 0, sizeof zero);
    cio__nfd_close(&zero); /* a zeroed nfd: fine */

    /* Takeover: a raw registration nobody waits on gives way to an nfd. */
    EXPECT_EQ(1, cio_fd_write(s[1], "c", 1)); /* s[1] registered raw */
    memset(&n, 0, sizeof n);
    EXPECT_OK(cio__nfd_open(&n, loop, s[1]));
    EXPECT_ERR(-EBUSY, cio_fd_wait(s[1], CIO_WRITABLE, NULL)); /* the nfd has it now */
    cio__nfd_close(&n);
    /* ... but not one a task waits on. */
    struct waiter wt = {s[1], CIO_READABLE, 0, 1, false};
    t = spawn(waiter_task, &wt);
    yield_until(&wt.started);
    EXPECT_OK(cio_yield());
    EXPECT_ERR(-EBUSY, cio__nfd_open(&n, loop, s[1]));
    /* A waiter on an nfd is woken by its close with -EBADF. */
    EXPECT_OK(cio_fd_forget(s[1]));
    EXPECT_OK(join(t));
    EXPECT_ERR(-EBADF, wt.rc);
    EXPECT_OK(cio_fd_close(s[0]));
    EXPECT_OK(cio_fd_close(s[1]));
    return 0;
}

TEST(fd_nfd_internals) { run_both(nfd_main, NULL); }

TEST(fd_nfd_wait_outside_a_task)
{
    struct cio__nfd n;
    memset(&n, 0, sizeof n);
    EXPECT_ERR(-EPERM, cio__nfd_wait(&n, CIO_READABLE));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
