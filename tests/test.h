/* cio's test harness: one program per area, each case run in its own child
 * process with a timeout (so a crash or hang fails that case alone), and
 * assertion macros that print both values.
 *
 *   TEST(name) { ... }                  define a case
 *   int main(int c, char **v) { return test_main(c, v); }
 *
 * Run a subset with: ./tests/loop_test_timers name-substring */
#ifndef CIO_TEST_H
#define CIO_TEST_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cio.h>

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
    int rc = cio_loop_new(&loop, NULL);
    if (rc != 0)
        FAIL("cio_loop_new: %s", cio_strerror(rc));
    return loop;
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
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            alarm(t->timeout);
            t->fn();
            fflush(stdout);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            printf("ok   %s\n", t->name);
        } else {
            failed++;
            if (WIFSIGNALED(st))
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
