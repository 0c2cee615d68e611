/* cio-test: threaded
 * Context variables (asyncio's contextvars): set and get, defaults, the
 * snapshot a spawned task inherits (cio_spawn, cio_spawn_with, group
 * children, generator bodies), a child's sets invisible to its parent,
 * cio_to_thread jobs seeing the submitter's values on the pool thread, a
 * task started by cio_task_new starting empty, many variables, and the
 * argument checks. Ordering is by causality (awaits, semaphores), never by
 * time. */
#include <semaphore.h>
#include <stdatomic.h>

#include "task/task_util.h"

/* Options in the form of the header this is built with (0.2 adds a size
 * field and CIO_WORK_OPTIONS). */
#ifdef CIO_WORK_OPTIONS
#define WOPTS(...) CIO_WORK_OPTIONS(__VA_ARGS__)
#else
#define WOPTS(...) ((cio_work_options){__VA_ARGS__})
#endif

static cio_context_var request_id = CIO_CONTEXT_VAR_INIT("request_id", NULL);
static cio_context_var user = CIO_CONTEXT_VAR_INIT("user", (void *)"nobody");

/* ---- set and get --------------------------------------------------------------- */

static int main_set_get(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_PTR_EQ(NULL, cio_context_var_get(&request_id));
    EXPECT_STR_EQ("nobody", cio_context_var_get(&user));
    EXPECT_OK(cio_context_var_set(&request_id, V(1)));
    EXPECT_PTR_EQ(V(1), cio_context_var_get(&request_id));
    EXPECT_STR_EQ("nobody", cio_context_var_get(&user)); /* the other keeps its default */
    EXPECT_OK(cio_context_var_set(&request_id, V(2)));   /* in place: sole owner */
    EXPECT_PTR_EQ(V(2), cio_context_var_get(&request_id));
    EXPECT_OK(cio_context_var_set(&user, (void *)"alice"));
    EXPECT_STR_EQ("alice", cio_context_var_get(&user));
    EXPECT_PTR_EQ(V(2), cio_context_var_get(&request_id));
    /* NULL is a value, not "unset"; the default is one too */
    EXPECT_OK(cio_context_var_set(&user, NULL));
    EXPECT_PTR_EQ(NULL, cio_context_var_get(&user));
    EXPECT_OK(cio_context_var_set(&user, (void *)"nobody"));
    EXPECT_STR_EQ("nobody", cio_context_var_get(&user));
    /* the values stay across suspensions */
    EXPECT_OK(cio_sleep(0));
    EXPECT_OK(cio_yield());
    EXPECT_PTR_EQ(V(2), cio_context_var_get(&request_id));
    return 0;
}

TEST(set_and_get_with_defaults)
{
    EXPECT_OK(cio_run(main_set_get, NULL, NULL));
    EXPECT_NO_REPORTS();
}

static int main_null_var(void *arg, void **result)
{
    EXPECT_PTR_EQ(NULL, cio_context_var_get(NULL));
    EXPECT_ERR(-EINVAL, cio_context_var_set(NULL, V(1)));
    return 0;
}

TEST(null_variable)
{
    EXPECT_OK(cio_run(main_null_var, NULL, NULL));
    /* outside a task: NULL still NULL, a set is refused */
    EXPECT_PTR_EQ(NULL, cio_context_var_get(NULL));
    EXPECT_ERR(-EPERM, cio_context_var_set(NULL, V(1)));
}

static void cb_outside(void *arg)
{
    int *done = arg;
    EXPECT_STR_EQ("nobody", cio_context_var_get(&user));
    EXPECT_ERR(-EPERM, cio_context_var_set(&user, (void *)"cb"));
    *done = 1;
}

TEST(outside_a_task_get_returns_the_default_and_set_fails)
{
    EXPECT_STR_EQ("nobody", cio_context_var_get(&user));
    EXPECT_ERR(-EPERM, cio_context_var_set(&user, (void *)"x"));
    EXPECT_STR_EQ("nobody", cio_context_var_get(&user));
    /* a callback on a loop is outside a task too */
    cio_loop *loop = test_strict_loop_new();
    volatile int done = 0;
    EXPECT_OK(cio_call_soon(loop, cb_outside, (void *)&done));
    test_run_until(loop, &done, 100);
    CLOSE_LOOP(loop);
}

/* ---- inheritance ------------------------------------------------------------------ */

static int child_reads(void *arg, void **result)
{
    /* the snapshot taken at spawn, not the parent's later set */
    EXPECT_PTR_EQ(V(10), cio_context_var_get(&request_id));
    EXPECT_STR_EQ("alice", cio_context_var_get(&user));
    /* its own sets stay its own */
    EXPECT_OK(cio_context_var_set(&request_id, V(11)));
    EXPECT_OK(cio_context_var_set(&user, (void *)"child"));
    EXPECT_PTR_EQ(V(11), cio_context_var_get(&request_id));
    EXPECT_OK(cio_yield());
    EXPECT_PTR_EQ(V(11), cio_context_var_get(&request_id));
    *result = V(1);
    return 0;
}

static int grandchild_reads(void *arg, void **result)
{
    EXPECT_PTR_EQ(arg, cio_context_var_get(&request_id));
    return 0;
}

static int child_spawns(void *arg, void **result)
{
    EXPECT_OK(cio_context_var_set(&request_id, V(30)));
    cio_task *g = NULL;
    EXPECT_OK(cio_spawn(grandchild_reads, V(30), &g));
    EXPECT_OK(cio_await(g, NULL));
    cio_future_unref(g);
    return 0;
}

static int main_inherit(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_OK(cio_context_var_set(&request_id, V(10)));
    EXPECT_OK(cio_context_var_set(&user, (void *)"alice"));
    cio_task *a = NULL, *b = NULL;
    EXPECT_OK(cio_spawn(child_reads, NULL, &a));
    EXPECT_OK(cio_spawn_with(NULL, child_reads, NULL, &b));
    /* set before either child ran: they keep the snapshot */
    EXPECT_OK(cio_context_var_set(&request_id, V(20)));
    EXPECT_OK(cio_await(a, NULL));
    EXPECT_OK(cio_await(b, NULL));
    cio_future_unref(a);
    cio_future_unref(b);
    /* the children's sets did not reach the parent */
    EXPECT_PTR_EQ(V(20), cio_context_var_get(&request_id));
    EXPECT_STR_EQ("alice", cio_context_var_get(&user));
    /* a child's set reaches what the child spawns after it */
    cio_task *c = NULL;
    EXPECT_OK(cio_spawn(child_spawns, NULL, &c));
    EXPECT_OK(cio_await(c, NULL));
    cio_future_unref(c);
    EXPECT_PTR_EQ(V(20), cio_context_var_get(&request_id));
    return 0;
}

TEST(spawned_tasks_inherit_a_snapshot_and_their_sets_stay_theirs)
{
    EXPECT_OK(cio_run(main_inherit, NULL, NULL));
    EXPECT_NO_REPORTS();
}

static int group_child(void *arg, void **result)
{
    EXPECT_PTR_EQ(arg, cio_context_var_get(&request_id));
    EXPECT_OK(cio_context_var_set(&request_id, V(99)));
    return 0;
}

static int main_group(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_OK(cio_context_var_set(&request_id, V(40)));
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    EXPECT_OK(cio_task_group_spawn(g, NULL, group_child, V(40), NULL));
    EXPECT_OK(cio_context_var_set(&request_id, V(41)));
    EXPECT_OK(cio_task_group_spawn(g, NULL, group_child, V(41), NULL));
    EXPECT_OK(cio_task_group_end(g));
    EXPECT_PTR_EQ(V(41), cio_context_var_get(&request_id));
    return 0;
}

TEST(group_children_inherit)
{
    EXPECT_OK(cio_run(main_group, NULL, NULL));
    EXPECT_NO_REPORTS();
}

static int gen_body(cio_gen *gen, void *arg)
{
    EXPECT_OK(cio_gen_yield(gen, cio_context_var_get(&request_id), NULL));
    /* the body's own set does not reach the consumer */
    EXPECT_OK(cio_context_var_set(&request_id, V(77)));
    EXPECT_OK(cio_gen_yield(gen, cio_context_var_get(&request_id), NULL));
    return 0;
}

static int main_gen(void *arg, void **result)
{
    capture_reports_here();
    cio_gen *gen = NULL;
    EXPECT_OK(cio_gen_new(NULL, gen_body, NULL, &gen));
    /* the body starts with the values at the first cio_gen_next */
    EXPECT_OK(cio_context_var_set(&request_id, V(50)));
    void *v = NULL;
    EXPECT_OK(cio_gen_next(gen, &v));
    EXPECT_PTR_EQ(V(50), v);
    EXPECT_OK(cio_context_var_set(&request_id, V(51)));
    EXPECT_OK(cio_gen_next(gen, &v));
    EXPECT_PTR_EQ(V(77), v);
    EXPECT_PTR_EQ(V(51), cio_context_var_get(&request_id));
    EXPECT_ERR(-ENODATA, cio_gen_next(gen, &v));
    EXPECT_OK(cio_gen_close(gen));
    return 0;
}

TEST(generator_body_starts_with_its_first_consumers_values)
{
    EXPECT_OK(cio_run(main_gen, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* ---- cio_task_new starts with the defaults ------------------------------------------- */

static atomic_int fresh_checked;

static int fresh_task(void *arg, void **result)
{
    EXPECT_PTR_EQ(NULL, cio_context_var_get(&request_id));
    EXPECT_STR_EQ("nobody", cio_context_var_get(&user));
    atomic_fetch_add(&fresh_checked, 1);
    return 0;
}

static void cb_starts_task(void *arg)
{
    cio_task *t = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), NULL, fresh_task, NULL, &t));
    *(cio_task **)arg = t;
}

static int main_task_new(void *arg, void **result)
{
    capture_reports_here();
    EXPECT_OK(cio_context_var_set(&request_id, V(60)));
    EXPECT_OK(cio_context_var_set(&user, (void *)"alice"));
    /* from a callback the running task scheduled */
    cio_task *from_cb = NULL;
    EXPECT_OK(cio_call_soon(cio_current_loop(), cb_starts_task, &from_cb));
    while (!from_cb)
        EXPECT_OK(cio_yield());
    EXPECT_OK(cio_await(from_cb, NULL));
    cio_future_unref(from_cb);
    /* and from the task itself: cio_task_new never inherits */
    cio_task *direct = NULL;
    EXPECT_OK(cio_task_new(cio_current_loop(), NULL, fresh_task, NULL, &direct));
    EXPECT_OK(cio_await(direct, NULL));
    cio_future_unref(direct);
    EXPECT_PTR_EQ(V(60), cio_context_var_get(&request_id));
    return 0;
}

TEST(cio_task_new_starts_with_the_defaults)
{
    EXPECT_OK(cio_run(main_task_new, NULL, NULL));
    EXPECT_EQ(2, atomic_load(&fresh_checked));
    EXPECT_NO_REPORTS();
    /* cio_run's main is such a task too */
}

/* ---- many variables ------------------------------------------------------------------ */

#define NVARS 200
static cio_context_var many[NVARS];

static int many_child(void *arg, void **result)
{
    for (int i = 0; i < NVARS; i++) {
        void *want = i % 3 == 0 ? V(1000 + i) : V(i + 1);
        EXPECT_PTR_EQ(want, cio_context_var_get(&many[i]));
    }
    for (int i = 0; i < NVARS; i += 2)
        EXPECT_OK(cio_context_var_set(&many[i], V(5000 + i)));
    return 0;
}

static int main_many(void *arg, void **result)
{
    capture_reports_here();
    for (int i = 0; i < NVARS; i++)
        many[i] = (cio_context_var)CIO_CONTEXT_VAR_INIT("many", V(i + 1));
    for (int i = 0; i < NVARS; i++)
        EXPECT_PTR_EQ(V(i + 1), cio_context_var_get(&many[i]));
    /* set in a scattered order: every third, from the end and the middle */
    for (int k = 0; k < NVARS; k++) {
        int i = (k * 7) % NVARS;
        if (i % 3 == 0)
            EXPECT_OK(cio_context_var_set(&many[i], V(1000 + i)));
    }
    cio_task *c = NULL;
    EXPECT_OK(cio_spawn(many_child, NULL, &c));
    /* shared with the child now: this set copies */
    EXPECT_OK(cio_context_var_set(&many[1], V(-1)));
    EXPECT_OK(cio_context_var_set(&many[1], V(2)));
    EXPECT_OK(cio_await(c, NULL));
    cio_future_unref(c);
    for (int i = 0; i < NVARS; i++) {
        void *want = i % 3 == 0 ? V(1000 + i) : V(i + 1);
        EXPECT_PTR_EQ(want, cio_context_var_get(&many[i]));
    }
    return 0;
}

TEST(many_variables)
{
    EXPECT_OK(cio_run(main_many, NULL, NULL));
    EXPECT_NO_REPORTS();
}

/* ---- cio_to_thread ------------------------------------------------------------------- */

static atomic_int job_set_rc;

static int job_reads(void *arg, void **result)
{
    *result = cio_context_var_get(&request_id);
    atomic_store(&job_set_rc, cio_context_var_set(&request_id, V(666)));
    (void)arg;
    return 0;
}

static int job_reads_child(void *arg, void **result)
{
    void *v = NULL;
    EXPECT_OK(cio_to_thread(job_reads, NULL, &v));
    EXPECT_PTR_EQ(arg, v);
    return 0;
}

static int main_to_thread(void *arg, void **result)
{
    capture_reports_here();
    void *v = V(1);
    /* no value set: the default */
    EXPECT_OK(cio_to_thread(job_reads, NULL, &v));
    EXPECT_PTR_EQ(NULL, v);
    EXPECT_OK(cio_context_var_set(&request_id, V(70)));
    EXPECT_OK(cio_to_thread(job_reads, NULL, &v));
    EXPECT_PTR_EQ(V(70), v);
    EXPECT_ERR(-EPERM, atomic_load(&job_set_rc)); /* read-only there */
    EXPECT_PTR_EQ(V(70), cio_context_var_get(&request_id));
    /* a child's job sees the child's values */
    cio_task *c = NULL;
    EXPECT_OK(cio_spawn(job_reads_child, V(70), &c));
    EXPECT_OK(cio_await(c, NULL));
    cio_future_unref(c);
    /* many jobs at once, each task with its own value */
    cio_task *t[16];
    for (uintptr_t i = 0; i < 16; i++) {
        EXPECT_OK(cio_context_var_set(&request_id, V(100 + i)));
        EXPECT_OK(cio_spawn(job_reads_child, V(100 + i), &t[i]));
    }
    for (int i = 0; i < 16; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    /* the callback form (asyncio's run_in_executor) does not carry them */
    cio_future *f = NULL;
    EXPECT_OK(cio_to_thread_future(cio_current_loop(), NULL, job_reads, NULL, &f));
    EXPECT_OK(cio_await(f, &v));
    EXPECT_PTR_EQ(NULL, v);
    cio_future_unref(f);
    return 0;
}

TEST(to_thread_jobs_see_the_submitters_values)
{
    EXPECT_OK(cio_run(main_to_thread, NULL, NULL));
    EXPECT_NO_REPORTS();
    /* outside any task or job, on this thread, nothing leaked in */
    EXPECT_PTR_EQ(NULL, cio_context_var_get(&request_id));
}

/* Ownership through the context's trampoline: results, arg_free of a job
 * cancelled before it started, a job still running when its task ends. */
static atomic_int args_freed, results_freed, late_seen;
static sem_t started, release;

static void arg_free(void *p)
{
    atomic_fetch_add(&args_freed, 1);
    free(p);
}
static void result_free(void *p)
{
    atomic_fetch_add(&results_freed, 1);
    free(p);
}

static int *box(int v)
{
    int *p = malloc(sizeof *p);
    *p = v;
    return p;
}

/* Consumes arg; a negative one blocks until the test releases it, then
 * records the context value it still sees. */
static int owned_job(void *arg, void **result)
{
    int v = *(int *)arg;
    free(arg);
    if (v < 0) {
        sem_post(&started);
        sem_wait(&release);
        atomic_store(&late_seen, (int)U(cio_context_var_get(&request_id)));
    }
    *result = box(v);
    return 0;
}

static int owned_waiter(void *arg, void **result)
{
    const cio_work_options opts = WOPTS(.arg_free = arg_free, .result_free = result_free);
    EXPECT_OK(cio_context_var_set(&request_id, V(80)));
    void *v = NULL;
    int rc = cio_to_thread_with(&opts, owned_job, arg, &v);
    EXPECT_PTR_EQ(NULL, v);
    return rc;
}

static int main_to_thread_owned(void *arg, void **result)
{
    capture_reports_here();
    const cio_work_options opts = WOPTS(.arg_free = arg_free, .result_free = result_free);
    EXPECT_OK(cio_context_var_set(&request_id, V(80)));
    void *v = NULL;
    EXPECT_OK(cio_to_thread_with(&opts, owned_job, box(3), &v));
    EXPECT_EQ(3, *(int *)v);
    free(v); /* ours */
    EXPECT_OK(cio_to_thread_with(&opts, owned_job, box(4), NULL));
    EXPECT_EQ(1, atomic_load(&results_freed)); /* nobody took it */

    EXPECT_OK(sem_init(&started, 0, 0));
    EXPECT_OK(sem_init(&release, 0, 0));
    EXPECT_OK(cio_threadpool_set_size(1));
    cio_task *running = spawn(owned_waiter, box(-1));
    while (sem_trywait(&started) != 0)
        EXPECT_OK(cio_sleep(0.001));
    cio_task *queued = spawn(owned_waiter, box(5));
    EXPECT_OK(cio_yield()); /* it submits its job, queued behind the first */
    EXPECT_OK(cio_future_cancel(queued));
    EXPECT_ERR(-ECANCELED, cio_await(queued, NULL));
    EXPECT_OK(cio_future_cancel(running));
    EXPECT_ERR(-ECANCELED, cio_await(running, NULL)); /* the job still runs */
    cio_future_unref(queued);
    cio_future_unref(running); /* the task is gone; its job keeps the values */
    sem_post(&release);        /* cio_run waits for both jobs */
    return 0;
}

TEST(to_thread_with_values_keeps_the_ownership_rules)
{
    EXPECT_OK(cio_run(main_to_thread_owned, NULL, NULL));
    EXPECT_EQ(1, atomic_load(&args_freed));    /* the queued job's, never run */
    EXPECT_EQ(2, atomic_load(&results_freed)); /* and the cancelled running one's */
    EXPECT_EQ(80, atomic_load(&late_seen));    /* after its task had ended */
    EXPECT_NO_REPORTS();
}

int main(int argc, char **argv) { return test_main(argc, argv); }
