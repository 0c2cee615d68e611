/* cio-test: threaded (the thread pool runs the work options' jobs)
 *
 * The extensible option structs (cio_loop_options, cio_task_options,
 * cio_work_options) read the way docs/api/README.md's ABI section says,
 * at every function that takes them. A program compiled against another
 * version of the header is simulated by the size field: a smaller size is
 * an older header (the bytes past it belong to something else, so they are
 * filled with garbage the library must not read), a larger one a newer
 * header (extra fields after the struct this library knows). */
#include <stdalign.h>
#include <stddef.h>

#include "test.h"

/* The compile-time side: size comes first and the macros set it. */
_Static_assert(offsetof(cio_loop_options, size) == 0, "size is the first field");
_Static_assert(offsetof(cio_task_options, size) == 0, "size is the first field");
_Static_assert(offsetof(cio_work_options, size) == 0, "size is the first field");

TEST(macros_set_the_size)
{
    cio_loop_options lo = CIO_LOOP_OPTIONS_INIT;
    cio_task_options to = CIO_TASK_OPTIONS_INIT;
    cio_work_options wo = CIO_WORK_OPTIONS_INIT;
    EXPECT_EQ(sizeof lo, lo.size);
    EXPECT_EQ(sizeof to, to.size);
    EXPECT_EQ(sizeof wo, wo.size);
    EXPECT_TRUE(lo.backend == NULL && lo.debug == 0 && lo.slow_callback_duration == 0);
    EXPECT_TRUE(to.name == NULL && to.stack_size == 0);
    EXPECT_TRUE(wo.arg_free == NULL && wo.result_free == NULL);
    const cio_task_options *p = &CIO_TASK_OPTIONS(.name = "w", .stack_size = 65536);
    EXPECT_EQ(sizeof *p, p->size);
    EXPECT_STR_EQ("w", p->name);
    EXPECT_EQ(65536, p->stack_size);
    EXPECT_EQ(sizeof(cio_loop_options), CIO_LOOP_OPTIONS().size);
    EXPECT_STR_EQ("poll", CIO_LOOP_OPTIONS(.backend = "poll").backend);
    EXPECT_EQ(sizeof(cio_work_options), CIO_WORK_OPTIONS(.result_free = free).size);
}

/* ---- One function taking options, as the shared check drives it ---------- */

/* Runs the function with opts (NULL, or a struct of any size) and returns
 * its error; on success sets *seen when the option the check set in the
 * struct's first fields (or, for the work options, its last) took effect. */
typedef int (*opts_call)(const void *opts, bool *seen);

struct opts_case {
    const void *full;    /* a struct of this header, made with the macro */
    size_t size;         /* its sizeof */
    size_t older;        /* the size of an older header: the first fields */
    bool older_seen;     /* whether *seen is set with only those fields */
    opts_call call;
};

/* Room for a struct from a much newer header. */
#define BUF_SIZE 256
typedef union {
    max_align_t align;
    unsigned char bytes[BUF_SIZE];
} opts_buf;

static void set_size(opts_buf *b, size_t size)
{
    memcpy(b->bytes, &size, sizeof size);
}

static void check_options(const struct opts_case *c)
{
    opts_buf b;
    bool seen = false;

    /* NULL: the defaults. */
    EXPECT_OK(c->call(NULL, &seen));
    EXPECT_FALSE(seen);

    /* This header's struct, made with the macro. */
    seen = false;
    EXPECT_OK(c->call(c->full, &seen));
    EXPECT_TRUE(seen);

    /* size 0: not made with the macro (the 0.1 habit of "= {0}"). */
    memset(&b, 0, sizeof b);
    memcpy(b.bytes, c->full, c->size);
    set_size(&b, 0);
    EXPECT_ERR(-EINVAL, c->call(&b, &seen));
    /* Sizes no version of the struct can have: shorter than size itself,
     * or cutting a field in two. */
    set_size(&b, sizeof(size_t) - 1);
    EXPECT_ERR(-EINVAL, c->call(&b, &seen));
    set_size(&b, c->older + 1);
    EXPECT_ERR(-EINVAL, c->call(&b, &seen));
    set_size(&b, c->size + alignof(size_t) + 1);
    EXPECT_ERR(-EINVAL, c->call(&b, &seen));

    /* An older header: the struct ends at c->older. The bytes after it are
     * the caller's other memory, here garbage that would fail the call (or
     * crash it) if the library read it as fields. */
    memset(&b, 0xa5, sizeof b);
    memcpy(b.bytes, c->full, c->older);
    set_size(&b, c->older);
    seen = false;
    EXPECT_OK(c->call(&b, &seen));
    EXPECT_EQ(c->older_seen, seen);
    /* The smallest struct there is: only size, every field the default. */
    set_size(&b, sizeof(size_t));
    seen = false;
    EXPECT_OK(c->call(&b, &seen));
    EXPECT_FALSE(seen);

    /* A newer header whose new fields are left zero: works, and the
     * known fields are read. */
    memset(&b, 0, sizeof b);
    memcpy(b.bytes, c->full, c->size);
    size_t bigger = c->size + 4 * sizeof(size_t);
    set_size(&b, bigger);
    seen = false;
    EXPECT_OK(c->call(&b, &seen));
    EXPECT_TRUE(seen);

    /* ... and one that sets a new field (the first or last byte the library
     * does not know): -E2BIG, and nothing happened. */
    b.bytes[c->size] = 1;
    seen = false;
    EXPECT_ERR(-E2BIG, c->call(&b, &seen));
    EXPECT_FALSE(seen);
    b.bytes[c->size] = 0;
    b.bytes[bigger - 1] = 0x80;
    EXPECT_ERR(-E2BIG, c->call(&b, &seen));
    b.bytes[bigger - 1] = 0;
    EXPECT_OK(c->call(&b, &seen));
}

/* ---- cio_loop_options --------------------------------------------------- */

/* The older header ends before debug: its backend is read, and debug and
 * slow_callback_duration, whose garbage would be -EINVAL (a NaN duration),
 * keep their defaults. */
static const cio_loop_options loop_full = {
    .size = sizeof(cio_loop_options), .backend = "poll", .debug = -1};

static struct opts_case loop_case(opts_call call)
{
    return (struct opts_case){&loop_full, sizeof loop_full, offsetof(cio_loop_options, debug),
                              true, call};
}

static int call_loop_new(const void *opts, bool *seen)
{
    cio_loop *loop = NULL;
    int rc = cio_loop_new(opts, &loop);
    if (rc) {
        EXPECT_PTR_EQ(NULL, loop);
        return rc;
    }
    *seen = strcmp(cio_loop_backend(loop), "poll") == 0;
    CLOSE_LOOP(loop);
    return 0;
}

static bool run_main_seen;

static int run_main(void *arg, void **result)
{
    run_main_seen = strcmp(cio_loop_backend(cio_current_loop()), "poll") == 0;
    return 0;
}

static int call_run_with(const void *opts, bool *seen)
{
    run_main_seen = false;
    int rc = cio_run_with(opts, run_main, NULL, NULL);
    *seen = run_main_seen;
    return rc;
}

TEST(loop_new_options)
{
    /* Whatever the environment says, the defaults here are the same. */
    unsetenv("CIO_BACKEND");
    struct opts_case c = loop_case(call_loop_new);
    check_options(&c);
}

TEST(run_with_options)
{
    unsetenv("CIO_BACKEND");
    struct opts_case c = loop_case(call_run_with);
    check_options(&c);
}

/* ---- cio_task_options --------------------------------------------------- */

/* The older header ends before stack_size: its name is read, and
 * stack_size, whose garbage is larger than any stack (-EINVAL), keeps its
 * default. */
static const cio_task_options task_full = {
    .size = sizeof(cio_task_options), .name = "opts-test", .stack_size = 64 * 1024};

static struct opts_case task_case(opts_call call)
{
    return (struct opts_case){&task_full, sizeof task_full, offsetof(cio_task_options, stack_size),
                              true, call};
}

/* The calls below run inside cio_run's main task, which hands the
 * options in and the outcome out through these. */
static const void *cur_opts;
static int cur_rc;
static bool cur_seen;

static int named_body(void *arg, void **result)
{
    cur_seen = strcmp(cio_task_name(cio_current_task()), "opts-test") == 0;
    return 0;
}

static int in_main(cio_task_fn main, const void *opts, bool *seen)
{
    cur_opts = opts;
    cur_rc = 0;
    cur_seen = false;
    EXPECT_OK(cio_run(main, NULL, NULL));
    *seen = cur_seen;
    return cur_rc;
}

/* Awaits a task the call made, and drops the caller's reference. */
static void finish(cio_task *t)
{
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
}

static int spawn_main(void *arg, void **result)
{
    cio_task *t = NULL;
    if ((cur_rc = cio_spawn_with(cur_opts, named_body, NULL, &t)) == 0)
        finish(t);
    else
        EXPECT_PTR_EQ(NULL, t);
    return 0;
}

static int task_new_main(void *arg, void **result)
{
    cio_task *t = NULL;
    if ((cur_rc = cio_task_new(cio_current_loop(), cur_opts, named_body, NULL, &t)) == 0)
        finish(t);
    else
        EXPECT_PTR_EQ(NULL, t);
    return 0;
}

static int group_main(void *arg, void **result)
{
    cio_task_group *g;
    EXPECT_OK(cio_task_group_begin(&g));
    cio_task *t = NULL;
    cur_rc = cio_task_group_spawn(g, cur_opts, named_body, NULL, &t);
    if (cur_rc == 0)
        cio_future_unref(t);
    else
        EXPECT_PTR_EQ(NULL, t);
    EXPECT_OK(cio_task_group_end(g));
    return 0;
}

static int named_gen(cio_gen *gen, void *arg)
{
    return named_body(arg, NULL);
}

static int gen_main(void *arg, void **result)
{
    cio_gen *gen = NULL;
    if ((cur_rc = cio_gen_new(cur_opts, named_gen, NULL, &gen)) != 0) {
        EXPECT_PTR_EQ(NULL, gen);
        return 0;
    }
    void *v;
    EXPECT_ERR(-ENODATA, cio_gen_next(gen, &v));
    EXPECT_OK(cio_gen_close(gen));
    return 0;
}

static int call_spawn_with(const void *opts, bool *seen)
{
    return in_main(spawn_main, opts, seen);
}
static int call_task_new(const void *opts, bool *seen)
{
    return in_main(task_new_main, opts, seen);
}
static int call_group_spawn(const void *opts, bool *seen)
{
    return in_main(group_main, opts, seen);
}
static int call_gen_new(const void *opts, bool *seen)
{
    return in_main(gen_main, opts, seen);
}

TEST(spawn_with_options)
{
    struct opts_case c = task_case(call_spawn_with);
    check_options(&c);
}

TEST(task_new_options)
{
    struct opts_case c = task_case(call_task_new);
    check_options(&c);
}

/* cio_task_new outside a task, on a loop that is not running. */
TEST(task_new_options_outside_a_task)
{
    cio_loop *loop = test_loop_new();
    opts_buf b;
    memset(&b, 0, sizeof b);
    memcpy(b.bytes, &task_full, sizeof task_full);
    set_size(&b, 0);
    static int sentinel;
    cio_task *t = (cio_task *)&sentinel; /* overwritten with NULL on failure */
    EXPECT_ERR(-EINVAL, cio_task_new(loop, (const void *)&b, named_body, NULL, &t));
    EXPECT_PTR_EQ(NULL, t);
    set_size(&b, sizeof task_full + 8);
    b.bytes[sizeof task_full] = 1;
    EXPECT_ERR(-E2BIG, cio_task_new(loop, (const void *)&b, named_body, NULL, &t));
    EXPECT_PTR_EQ(NULL, t);
    CLOSE_LOOP(loop);
}

TEST(task_group_spawn_options)
{
    struct opts_case c = task_case(call_group_spawn);
    check_options(&c);
}

TEST(gen_new_options)
{
    struct opts_case c = task_case(call_gen_new);
    check_options(&c);
}

/* cio_spawn_threadsafe copies the options on the calling thread (here the
 * loop's own, before the loop runs), then the loop starts the task. */
static int call_spawn_threadsafe(const void *opts, bool *seen)
{
    cio_loop *loop = test_loop_new();
    cio_thread_future *tf = NULL;
    cur_seen = false;
    int rc = cio_spawn_threadsafe(loop, opts, named_body, NULL, &tf);
    if (rc == 0) {
        for (int i = 0; i < 1000 && !cio_thread_future_is_done(tf); i++)
            EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0);
        EXPECT_OK(cio_thread_future_wait(tf, 0, NULL));
        EXPECT_OK(cio_thread_future_free(tf));
    } else {
        EXPECT_PTR_EQ(NULL, tf);
    }
    test_drain(loop);
    CLOSE_LOOP(loop);
    *seen = cur_seen;
    return rc;
}

TEST(spawn_threadsafe_options)
{
    struct opts_case c = task_case(call_spawn_threadsafe);
    check_options(&c);
}

/* ---- cio_work_options --------------------------------------------------- */

/* The older header ends before result_free: arg_free is read (and, the
 * work never being cancelled, not called), and result_free, whose garbage
 * would crash if called, keeps its default (nothing frees the result). So
 * *seen, result_free having run, is false with the older header. */
static void count_result_free(void *v);
static const cio_work_options work_full = {.size = sizeof(cio_work_options),
                                           .result_free = count_result_free};
static int result_frees;
static int work_result; /* the work's result: static, so an unfreed one does not leak */

static void count_result_free(void *v)
{
    EXPECT_PTR_EQ(&work_result, v);
    result_frees++;
}

static int work(void *arg, void **result)
{
    *result = &work_result;
    return 0;
}

static struct opts_case work_case(opts_call call)
{
    return (struct opts_case){&work_full, sizeof work_full, offsetof(cio_work_options, result_free),
                              false, call};
}

static int to_thread_future_main(void *arg, void **result)
{
    cio_future *f = NULL;
    if ((cur_rc = cio_to_thread_future(cio_current_loop(), cur_opts, work, NULL, &f)) != 0) {
        EXPECT_PTR_EQ(NULL, f);
        return 0;
    }
    void *v = NULL;
    EXPECT_OK(cio_await(f, &v));
    EXPECT_PTR_EQ(&work_result, v);
    cio_future_unref(f); /* the future's destructor is result_free */
    return 0;
}

static int to_thread_with_main(void *arg, void **result)
{
    /* With result NULL, the result is freed with result_free before the
     * call returns. */
    cur_rc = cio_to_thread_with(cur_opts, work, NULL, NULL);
    return 0;
}

static int in_main_counting(cio_task_fn main, const void *opts, bool *seen)
{
    result_frees = 0;
    int rc = in_main(main, opts, seen);
    EXPECT_TRUE(result_frees <= 1);
    *seen = result_frees == 1;
    return rc;
}

static int call_to_thread_future(const void *opts, bool *seen)
{
    return in_main_counting(to_thread_future_main, opts, seen);
}
static int call_to_thread_with(const void *opts, bool *seen)
{
    return in_main_counting(to_thread_with_main, opts, seen);
}

TEST(to_thread_future_options)
{
    struct opts_case c = work_case(call_to_thread_future);
    check_options(&c);
}

TEST(to_thread_with_options)
{
    struct opts_case c = work_case(call_to_thread_with);
    check_options(&c);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
