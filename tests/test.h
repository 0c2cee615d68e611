/* cio's test harness: one program per area, each case run in its own child
 * process with a timeout (so a crash or hang fails that case alone), and
 * assertion macros that print both values.
 *
 * Unexpected reports fail the case, in every test program, whether or not
 * it installed a handler of its own: a loop's default report handler
 * writes "cio: <message>" to stderr, and the harness reads each case's
 * stderr and fails the case if a line starts with "cio: ". A case that
 * expects a report captures it with its own handler (cio_loop_set_report_
 * handler) and checks it; whatever reaches the default one is a failure.
 *
 * Leaks fail the case too, in ASan builds: a case's child ends with _exit,
 * which skips LeakSanitizer's check at exit, so the harness runs that check
 * itself when the case returns (test_leak_check below). A leak makes the
 * case fail with LeakSanitizer's report on its stderr. Memory still
 * reachable from globals, thread-local storage or a live thread's stack is
 * not a leak: process-lifetime caches and the thread pool's threads pass.
 * LeakSanitizer sees the heap only: task stacks and other memory cio maps
 * itself are neither checked nor scanned (a heap block that only a
 * suspended task's stack points to counts as leaked, which a case that
 * closed its loop never has). Under valgrind, memcheck's own leak check
 * runs at every case's _exit.
 *
 *   TEST(name) { ... }                  define a case
 *   int main(int c, char **v) { return test_main(c, v); }
 *
 * Run a subset with: ./tests/loop_test_timers name-substring */
#ifndef CIO_TEST_H
#define CIO_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cio.h>

/* A future's result, or NULL when it has none (pending, failed, cancelled).
 * Marks an error retrieved, like cio_future_result. */
static inline void *test_peek_result(cio_future *f)
{
    void *v = NULL;
    if (cio_future_is_done(f))
        cio_future_result(f, &v);
    return v;
}

/* LeakSanitizer is part of ASan (GCC says so with __SANITIZE_ADDRESS__,
 * clang with __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_HAVE_LSAN 1
#endif
#endif
#ifdef TEST_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

typedef void (*test_fn)(void);
struct test_case {
    const char *name;
    test_fn fn;
    unsigned timeout; /* seconds */
};

#define TEST_MAX 512
static struct test_case test_cases[TEST_MAX];
static int test_count;

static inline void test_register(const char *name, test_fn fn, unsigned timeout)
{
    if (test_count < TEST_MAX)
        test_cases[test_count++] = (struct test_case){name, fn, timeout};
}

#define TEST_T(name, secs)                                                                        \
    static void test_##name(void);                                                                \
    __attribute__((constructor)) static void test_reg_##name(void)                               \
    {                                                                                             \
        test_register(#name, test_##name, secs);                                                  \
    }                                                                                             \
    static void test_##name(void)
#define TEST(name) TEST_T(name, 60)

#define FAIL(...)                                                                                 \
    do {                                                                                          \
        fprintf(stderr, "FAIL at %s:%d: ", __FILE__, __LINE__);                                  \
        fprintf(stderr, __VA_ARGS__);                                                             \
        fprintf(stderr, "\n");                                                                    \
        abort();                                                                                  \
    } while (0)

#define EXPECT_EQ(expected, actual)                                                               \
    do {                                                                                          \
        long long e_ = (long long)(expected), a_ = (long long)(actual);                           \
        if (e_ != a_)                                                                             \
            FAIL("expected %s == %lld, got %lld (%s)", #actual, e_, a_, #expected);             \
    } while (0)
#define EXPECT_NE(unexpected, actual)                                                             \
    do {                                                                                          \
        long long e_ = (long long)(unexpected), a_ = (long long)(actual);                         \
        if (e_ == a_)                                                                             \
            FAIL("expected %s != %lld", #actual, e_);                                            \
    } while (0)
#define EXPECT_TRUE(cond)                                                                         \
    do {                                                                                          \
        if (!(cond))                                                                              \
            FAIL("expected %s", #cond);                                                          \
    } while (0)
#define EXPECT_FALSE(cond) EXPECT_TRUE(!(cond))
#define EXPECT_PTR_EQ(expected, actual)                                                           \
    do {                                                                                          \
        const void *e_ = (const void *)(expected), *a_ = (const void *)(actual);                 \
        if (e_ != a_)                                                                             \
            FAIL("expected %s == %p, got %p", #actual, e_, a_);                                  \
    } while (0)
#define EXPECT_STR_EQ(expected, actual)                                                           \
    do {                                                                                          \
        const char *e_ = (expected), *a_ = (actual);                                              \
        if (!e_ || !a_ || strcmp(e_, a_) != 0)                                                    \
            FAIL("expected %s == \"%s\", got \"%s\"", #actual, e_ ? e_ : "(null)",               \
                 a_ ? a_ : "(null)");                                                             \
    } while (0)
/* An error code, printed by name: EXPECT_ERR(-EINVAL, cio_call_soon(...)). */
#define EXPECT_ERR(expected, actual)                                                              \
    do {                                                                                          \
        int e_ = (int)(expected), a_ = (int)(actual);                                             \
        if (e_ != a_)                                                                             \
            FAIL("expected %s == %d (%s), got %d (%s)", #actual, e_, cio_err_name(e_), a_,       \
                 cio_err_name(a_));                                                               \
    } while (0)
#define EXPECT_OK(actual) EXPECT_ERR(0, actual)

/* Every case ends with this: the loop must close cleanly (nothing live). */
#define CLOSE_LOOP(loop)                                                                          \
    do {                                                                                          \
        EXPECT_OK(cio_loop_close(loop));                                                          \
        EXPECT_OK(cio_loop_free(loop));                                                           \
    } while (0)

static inline cio_loop *test_loop_new(void)
{
    cio_loop *loop = NULL;
    int rc = cio_loop_new(NULL, &loop);
    if (rc != 0)
        FAIL("cio_loop_new: %s", cio_strerror(rc));
    return loop;
}

/* A report handler that fails the case at once, where the report is made
 * (the harness would also fail it afterwards, from stderr, but with less
 * context). */
static inline void test_fail_on_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    FAIL("unexpected report: %s", msg);
}

/* A loop whose every report fails the case. */
static inline cio_loop *test_strict_loop_new(void)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, test_fail_on_report, NULL);
    return loop;
}

/* The number of open descriptors of this process (entries of
 * /proc/self/fd, without the one this count opens to read them); -1 if it
 * cannot be read. A case compares it before and after to show it leaked no
 * descriptor. */
static inline int test_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* test_fd_count after cio's process-lifetime descriptors exist: the first
 * cio_run whose task ends opens one it keeps (the task layer's pidfd for
 * process_madvise, src/task/stack.c). Runs that warm-up once per process,
 * then counts: take it before a case's work, and compare test_fd_count
 * with it after. */
static inline int test_fd_warm_main_child(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}
static inline int test_fd_warm_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_task *t = NULL;
    if (cio_spawn(test_fd_warm_main_child, NULL, &t) == 0) {
        cio_await(t, NULL);
        cio_future_unref(t);
    }
    return 0;
}
static inline int test_fd_baseline(void)
{
    static bool warm;
    if (!warm) {
        warm = true;
        cio_run(test_fd_warm_main, NULL, NULL);
    }
    return test_fd_count();
}

/* Runs non-blocking iterations until the loop reports nothing left; fails
 * the case if a run fails or 1,000 iterations do not drain it. */
static inline void test_drain(cio_loop *loop)
{
    for (int i = 0; i < 1000; i++) {
        int rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT);
        if (rc < 0)
            FAIL("run_once: %s", cio_err_name(rc));
        if (rc == 0)
            return;
    }
    FAIL("loop did not drain");
}

/* Runs the loop until *flag becomes nonzero, at most max_iter iterations. */
static inline void test_run_until(cio_loop *loop, volatile int *flag, long max_iter)
{
    for (long i = 0; i < max_iter && !*flag; i++) {
        int rc = cio_loop_run_once(loop, 0);
        if (rc < 0)
            FAIL("run_once: %s", cio_strerror(rc));
    }
    if (!*flag)
        FAIL("condition not reached in %ld iterations", max_iter);
}

/* Runs fn(arg) with stderr going into buf (NUL-terminated, truncated to
 * len): for a case that checks what the default report handler prints,
 * which would otherwise fail the case (see the top of this file). */
static inline void test_capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t len)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    if (!tmp || saved < 0 || dup2(fileno(tmp), 2) < 0)
        FAIL("test_capture_stderr: cannot redirect stderr");
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = len ? fread(buf, 1, len - 1, tmp) : 0;
    if (len)
        buf[n] = 0;
    fclose(tmp);
}

/* The exit status of a case that passed but leaked (LeakSanitizer's own
 * exit code for a leak found at exit). */
#define TEST_LEAK_EXIT 23

/* Set in the case's child by test_skip_leak_check. */
static const char *test_leak_check_skipped;

/* For a case that leaves memory behind on purpose and cannot free it (say,
 * a task that a deliberate crash never let finish): the end-of-case leak
 * check is skipped for this case alone, saying why on stderr. Prefer
 * freeing it, or __lsan_ignore_object on the one object, when possible. */
static inline void test_skip_leak_check(const char *why)
{
    test_leak_check_skipped = why;
}

/* Runs at the end of a passing case, in its child, before _exit: returns
 * false (after LeakSanitizer printed its report on stderr) if memory
 * allocated and no longer reachable is left. Without ASan, or with
 * ASAN_OPTIONS=detect_leaks=0, it checks nothing. The check is the
 * recoverable one so that the harness, not LeakSanitizer, ends the case. */
static inline bool test_leak_check(void)
{
#ifdef TEST_HAVE_LSAN
    if (test_leak_check_skipped) {
        fprintf(stderr, "leak check skipped: %s\n", test_leak_check_skipped);
        return true;
    }
    return __lsan_do_recoverable_leak_check() == 0;
#else
    return true;
#endif
}

/* Ends a child process that a case forked itself, the way the harness ends
 * a case: with the leak check (see test_leak_check), so that a child which
 * ran library code and then returned normally is checked as well. status is
 * the child's exit status if it leaked nothing, TEST_LEAK_EXIT if it did;
 * the parent must treat any nonzero status as a failure. A child that dies
 * on purpose (a deliberate crash) never gets here and is not checked.
 *
 * Only for a child forked while the case ran on one thread (the harness
 * itself forks each case from a process that runs no threads): in the child
 * of a threaded process LeakSanitizer cannot scan the stacks of the threads
 * that fork left behind (what only they pointed to looks leaked; it says
 * "Running thread ... was not suspended"), and the check, like malloc, can
 * hang on an allocator lock one of them held at the fork (GCC 12's ASan
 * allocator is not fork-safe). Such a child ends with a plain _exit. */
static inline void test_child_exit(int status)
{
    fflush(stdout);
    fflush(stderr);
    bool no_leaks = test_leak_check();
    fflush(stderr);
    _exit(no_leaks ? status : TEST_LEAK_EXIT);
}

/* Runs fn(arg) in a child process with its stderr going into buf
 * (NUL-terminated, truncated to len; what does not fit is read and
 * dropped, so a talkative child never blocks on a full pipe). The child
 * ends with test_child_exit(0) if fn returns, and dies by SIGALRM if it
 * hangs for 120 s (a hang then fails by its status, not by the harness's
 * timeout). Returns the child's wait status. */
static inline int test_run_child(void (*fn)(void *), void *arg, char *buf, size_t len)
{
    int p[2];
    if (pipe(p) != 0)
        FAIL("test_run_child: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        FAIL("test_run_child: fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        alarm(120);
        fn(arg);
        test_child_exit(0);
    }
    close(p[1]);
    size_t got = 0;
    for (;;) {
        char scratch[512];
        bool room = got + 1 < len;
        ssize_t n = room ? read(p[0], buf + got, len - 1 - got) : read(p[0], scratch, sizeof scratch);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (room)
            got += (size_t)n;
    }
    if (len)
        buf[got] = 0;
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            FAIL("test_run_child: waitpid: %s", strerror(errno));
    return st;
}

/* What the harness saw on a case's stderr: whether a line started with
 * "cio: " (a report that reached a default handler), and the first one. */
struct test_stderr {
    bool at_line_start;
    size_t matched; /* of the prefix, at the current line's start */
    bool report_seen;
    char first_report[512];
    size_t first_len;
    bool copying; /* the first report's line, into first_report */
};

static inline void test_scan_stderr(struct test_stderr *e, const char *buf, size_t n)
{
    static const char prefix[] = "cio: ";
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (e->copying) {
            if (c == '\n' || e->first_len + 1 >= sizeof e->first_report)
                e->copying = false;
            else
                e->first_report[e->first_len++] = c;
        }
        if (e->at_line_start && e->matched < sizeof prefix - 1) {
            if (c == prefix[e->matched]) {
                if (++e->matched == sizeof prefix - 1 && !e->report_seen) {
                    e->report_seen = true;
                    e->copying = true;
                }
            } else {
                e->at_line_start = false;
            }
        }
        if (c == '\n') {
            e->at_line_start = true;
            e->matched = 0;
        }
    }
}

/* Reads the case's stderr (fd) into e, copying it to copy_to (unless
 * negative), and returns the case's wait status. Keeps reading until the
 * case has exited and the pipe is empty, without waiting for descendants
 * that may still hold the pipe open. */
static inline int test_wait_case(pid_t pid, int fd, struct test_stderr *e, int copy_to)
{
    int st = 0;
    bool exited = false;
    char buf[4096];
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            test_scan_stderr(e, buf, (size_t)n);
            for (ssize_t off = 0; copy_to >= 0 && off < n;) {
                ssize_t w = write(copy_to, buf + off, (size_t)(n - off));
                if (w <= 0)
                    break;
                off += w;
            }
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            break; /* every writer is gone */
        if (exited)
            break; /* the case is gone and the pipe is empty */
        if (waitpid(pid, &st, WNOHANG) == pid) {
            exited = true;
            continue; /* one more pass for what it wrote last */
        }
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 100);
    }
    if (!exited)
        waitpid(pid, &st, 0);
    return st;
}

static inline int test_main(int argc, char **argv)
{
    int failed = 0, ran = 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < test_count; i++) {
        struct test_case *t = &test_cases[i];
        if (argc > 1 && !strstr(t->name, argv[1]))
            continue;
        ran++;
        fflush(stdout);
        fflush(stderr);
        int errp[2];
        if (pipe(errp) != 0) {
            perror("pipe");
            return 2;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            close(errp[0]);
            dup2(errp[1], 2);
            close(errp[1]);
            alarm(t->timeout);
            t->fn();
            test_child_exit(0);
        }
        close(errp[1]);
        struct test_stderr e = {.at_line_start = true};
        int st = test_wait_case(pid, errp[0], &e, 2);
        close(errp[0]);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && e.report_seen) {
            failed++;
            e.first_report[e.first_len] = 0;
            printf("FAIL %s (unexpected report: \"cio: %s\")\n", t->name, e.first_report);
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            printf("ok   %s\n", t->name);
        } else {
            failed++;
            if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_LEAK_EXIT)
                printf("FAIL %s (leak: LeakSanitizer's report above)\n", t->name);
            else if (WIFSIGNALED(st))
                printf("FAIL %s (signal %d%s)\n", t->name, WTERMSIG(st),
                       WTERMSIG(st) == SIGALRM ? ": timeout" : "");
            else
                printf("FAIL %s (exit %d)\n", t->name, WEXITSTATUS(st));
        }
    }
    printf("%d/%d passed\n", ran - failed, ran);
    return failed ? 1 : (ran ? 0 : 3);
}

#endif
