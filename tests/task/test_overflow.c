/* Task stacks: deep recursion that fits works, a custom stack_size gives
 * more room, and an overflow is never silent: the process dies with a
 * message naming the task ("cio: stack overflow in task '<name>'"), with a
 * guard page or past the guard budget of old kernels (gap protection,
 * forced here with cio__stack_test_guard_budget). A fault that is not a
 * stack overflow goes to the handler the program installed before cio's,
 * as the kernel would have delivered it. The overflowing cases run in a
 * forked child whose stderr the test reads. */
#include <setjmp.h>
#include <sys/mman.h>

#include "task/stack.h"
#include "task/task_util.h"

/* ~600 bytes per frame; not a tail call, not foldable into a loop. */
static __attribute__((noinline)) int recurse(volatile char *prev, long depth)
{
    volatile char buf[512];
    buf[0] = (char)depth;
    buf[511] = prev ? prev[0] : 1;
    if (depth <= 0)
        return buf[0];
    return recurse(buf, depth - 1) + buf[511];
}

static int recurse_task(void *arg, void **result)
{
    *result = V(recurse(NULL, (long)U(arg)) != 12345);
    return 0;
}

/* ---- room enough ------------------------------------------------------------------- */

static int main_deep_default(void *arg, void **result)
{
    /* 200 frames of ~600 bytes: ~120 KiB of the default 256 KiB */
    cio_task *t = spawn(recurse_task, V(200));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(deep_recursion_within_the_default_stack)
{
    EXPECT_OK(cio_run(main_deep_default, NULL, NULL));
}

static int main_custom_stack(void *arg, void **result)
{
    /* ~2.4 MiB of frames: far past the default, inside 4 MiB */
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = "big-stack";
    o.stack_size = 4u << 20;
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, recurse_task, V(4000), &t));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);

    /* a tiny request is rounded up to the minimum (16 KiB) and works */
    o.name = "tiny-stack";
    o.stack_size = 1;
    EXPECT_OK(cio_task_new(cio_current_loop(), &o, recurse_task, V(4), &t));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    return 0;
}

TEST(custom_stack_size_option)
{
    EXPECT_OK(cio_run(main_custom_stack, NULL, NULL));
}

static int main_many_big(void *arg, void **result)
{
    /* stacks are reused: many tasks with big stacks, one after another,
     * each using a fresh part of its stack */
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.stack_size = 1u << 20;
    for (int i = 0; i < 200; i++) {
        cio_task *t = NULL;
        EXPECT_OK(cio_task_new(cio_current_loop(), &o, recurse_task, V(1000), &t));
        EXPECT_OK(cio_await(t, NULL));
        cio_future_unref(t);
    }
    return 0;
}

TEST(big_stacks_reused_one_after_another)
{
    EXPECT_OK(cio_run(main_many_big, NULL, NULL));
}

/* ---- overflow ------------------------------------------------------------------------ */

static int unbounded(void *arg, void **result)
{
    *result = V(recurse(NULL, 1L << 40));
    return 0;
}

/* A frame much larger than a guard page, touched from its low end first
 * (as memset does): the first write lands below the guard. */
static __attribute__((noinline)) int big_frame(void)
{
    volatile char buf[256 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = (char)i;
    return buf[1024];
}

static int big_frame_task(void *arg, void **result)
{
    *result = V(big_frame());
    return 0;
}

struct overflow_case {
    cio_task_fn fn;
    const char *name; /* NULL: default name */
    size_t stack_size;
    int in_gen;
    bool gap; /* no guard pages left: gap protection */
};

static int gen_unbounded(cio_gen *g, void *arg)
{
    return cio_gen_yield(g, V(recurse(NULL, 1L << 40)), NULL);
}

static int gen_consumer(void *arg, void **result)
{
    const struct overflow_case *c = arg;
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = c->name;
    o.stack_size = c->stack_size;
    cio_gen *g = NULL;
    EXPECT_OK(cio_gen_new(&o, gen_unbounded, NULL, &g));
    void *v = NULL;
    (void)cio_gen_next(g, &v);
    (void)cio_gen_close(g);
    return 0;
}

/* Runs the case in a child process; returns its stderr (static buffer) and
 * the wait status. */
static char child_err[8192];
static void overflow_child_body(void *arg)
{
    const struct overflow_case *c = arg;
    if (c->gap)
        cio__stack_test_guard_budget(0);
    cio_loop *loop = NULL;
    if (cio_loop_new(NULL, &loop) != 0)
        _exit(90);
    cio_loop_set_report_handler(loop, capture_report, NULL);
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    o.name = c->name;
    o.stack_size = c->stack_size;
    cio_task *t = NULL;
    int rc = c->in_gen ? cio_task_new(loop, NULL, gen_consumer, (void *)c, &t)
                       : cio_task_new(loop, &o, c->fn, NULL, &t);
    if (rc != 0)
        _exit(91);
    cio_loop_run_until_complete(loop, t);
    fprintf(stderr, "survived\n");
    _exit(0); /* reaching here is a failure */
}

static int run_overflow_child(const struct overflow_case *c)
{
    return test_run_child(overflow_child_body, (void *)c, child_err, sizeof child_err);
}

static void expect_overflow_reported(const struct overflow_case *c, const char *name)
{
    int st = run_overflow_child(c);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        FAIL("the overflowing task's process survived; stderr: %s", child_err);
    if (!strstr(child_err, "stack overflow"))
        FAIL("no \"stack overflow\" message; status %#x, stderr: \"%s\"", st, child_err);
    if (!strstr(child_err, name))
        FAIL("the message does not name the task \"%s\": \"%s\"", name, child_err);
}

TEST(stack_overflow_dies_naming_the_task)
{
    struct overflow_case c = {unbounded, "deep-diver", 0, 0, false};
    expect_overflow_reported(&c, "deep-diver");
}

TEST(stack_overflow_of_a_small_custom_stack)
{
    struct overflow_case c = {unbounded, "small-diver", 16 * 1024, 0, false};
    expect_overflow_reported(&c, "small-diver");
}

TEST(stack_overflow_of_an_unnamed_task_uses_its_default_name)
{
    struct overflow_case c = {unbounded, NULL, 0, 0, false};
    expect_overflow_reported(&c, "task-");
}

TEST(stack_overflow_inside_a_generator_names_it)
{
    struct overflow_case c = {NULL, "gen-diver", 32 * 1024, 1, false};
    expect_overflow_reported(&c, "gen-diver");
}

TEST(stack_overflow_by_one_frame_larger_than_the_guard)
{
    /* A 256 KiB frame in a 64 KiB stack, written from its low end: the
     * first write is far below the guard page. It must still be caught
     * (or at least never silently write into a neighbouring stack). */
    struct overflow_case c = {big_frame_task, "big-frame", 64 * 1024, 0, false};
    expect_overflow_reported(&c, "big-frame");
}

/* ---- past the guard budget (kernels before 6.13) ---------------------------------------- */

TEST(gap_protected_overflow_dies_naming_the_task)
{
    struct overflow_case c = {unbounded, "gap-diver", 0, 0, true};
    expect_overflow_reported(&c, "gap-diver");
}

TEST(gap_protected_overflow_of_a_small_stack)
{
    struct overflow_case c = {unbounded, "small-gap-diver", 16 * 1024, 0, true};
    expect_overflow_reported(&c, "small-gap-diver");
}

TEST(gap_protected_overflow_of_an_unnamed_task)
{
    struct overflow_case c = {unbounded, NULL, 0, 0, true};
    expect_overflow_reported(&c, "task-");
}

TEST(gap_protected_overflow_inside_a_generator)
{
    struct overflow_case c = {NULL, "gap-gen-diver", 32 * 1024, 1, true};
    expect_overflow_reported(&c, "gap-gen-diver");
}

/* ---- faults that are not overflows reach the previous handler --------------------------- */

static char *no_access_page;
static volatile sig_atomic_t user_calls;
static volatile void *user_addr;
static volatile int segv_blocked_inside, usr2_blocked_inside;
static sigjmp_buf user_jmp;

static void note_mask(void)
{
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    segv_blocked_inside = sigismember(&cur, SIGSEGV);
    usr2_blocked_inside = sigismember(&cur, SIGUSR2);
}

static void user_siginfo(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    user_calls++;
    user_addr = si->si_addr;
    note_mask();
    /* Repair: the faulting write succeeds when retried. */
    mprotect(no_access_page, 4096, PROT_READ | PROT_WRITE);
}

static void user_plain(int sig)
{
    (void)sig;
    user_calls++;
    note_mask();
    siglongjmp(user_jmp, 1);
}

static int fault_task(void *arg, void **result)
{
    (void)result;
    if (arg && sigsetjmp(user_jmp, 1)) {
        *result = V(1);
        return 0;
    }
    no_access_page[8] = 42; /* faults: not in any stack */
    return 0;
}

enum prev_kind { PREV_SIGINFO, PREV_PLAIN, PREV_IGN };

static void fault_child(enum prev_kind kind)
{
    no_access_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_TRUE(no_access_page != MAP_FAILED);
    /* The program's handler, installed before cio installs its own. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    if (kind == PREV_SIGINFO) {
        sa.sa_sigaction = user_siginfo;
        sa.sa_flags = SA_SIGINFO;
    } else if (kind == PREV_PLAIN) {
        sa.sa_handler = user_plain;
    } else {
        sa.sa_handler = SIG_IGN;
    }
    EXPECT_OK(sigaction(SIGSEGV, &sa, NULL));
    cio_loop *loop = task_loop_new();
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(loop, NULL, fault_task, kind == PREV_PLAIN ? V(1) : NULL, &t));
    cio_loop_run_until_complete(loop, t);
    EXPECT_OK(cio_future_error(t));
    cio_future_unref(t);
    finish_loop(loop);
    EXPECT_NO_REPORTS();
    EXPECT_EQ(1, user_calls);
    if (kind == PREV_SIGINFO) {
        EXPECT_PTR_EQ(no_access_page + 8, user_addr);
        EXPECT_EQ(42, no_access_page[8]);
    }
    /* As the kernel delivers it: the handler's mask and the signal itself
     * blocked while it runs. */
    EXPECT_TRUE(usr2_blocked_inside);
    EXPECT_TRUE(segv_blocked_inside);
    fprintf(stderr, "chained\n");
}

static void fault_child_body(void *arg) { fault_child(*(enum prev_kind *)arg); }

static int run_fault_child(enum prev_kind kind)
{
    return test_run_child(fault_child_body, &kind, child_err, sizeof child_err);
}

TEST(a_fault_outside_stacks_reaches_the_previous_siginfo_handler)
{
    int st = run_fault_child(PREV_SIGINFO);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(child_err, "chained"))
        FAIL("status %#x, stderr: \"%s\"", st, child_err);
    if (strstr(child_err, "stack overflow"))
        FAIL("reported as an overflow: \"%s\"", child_err);
}

TEST(a_fault_outside_stacks_reaches_the_previous_plain_handler)
{
    int st = run_fault_child(PREV_PLAIN);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(child_err, "chained"))
        FAIL("status %#x, stderr: \"%s\"", st, child_err);
}

TEST(a_fault_with_sigsegv_ignored_kills_by_sigsegv)
{
    /* The kernel never lets a synchronous fault be ignored; neither may the
     * chaining (returning would fault again forever). */
    int st = run_fault_child(PREV_IGN);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
        FAIL("status %#x (want death by SIGSEGV), stderr: \"%s\"", st, child_err);
}

static int raise_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return raise(SIGSEGV) == 0 ? 0 : -EIO;
}

TEST(a_sent_sigsegv_with_sigsegv_ignored_is_ignored)
{
    /* kill -SEGV is not a fault: an ignored disposition ignores it. */
    fflush(stderr);
    pid_t pid = fork();
    EXPECT_TRUE(pid >= 0);
    if (pid == 0) {
        alarm(120);
        signal(SIGSEGV, SIG_IGN);
        cio_loop *loop = task_loop_new();
        cio_task *t = NULL;
        EXPECT_OK(cio_task_new(loop, NULL, raise_task, NULL, &t));
        cio_loop_run_until_complete(loop, t);
        EXPECT_OK(cio_future_error(t));
        cio_future_unref(t);
        finish_loop(loop);
        EXPECT_NO_REPORTS();
        test_child_exit(0);
    }
    int st = 0;
    EXPECT_EQ(pid, waitpid(pid, &st, 0));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("status %#x", st);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
