/* cio-test: threaded
 * cio_run's end racing with a thread that keeps calling cio_spawn_threadsafe
 * (asyncio's run_coroutine_threadsafe) while main returns. loop.h promises
 * that a threadsafe call that returned 0 runs, so every thread future the
 * thread got must complete: with the task's outcome if its task started
 * before the end cancelled the tasks (0 here, or -ECANCELED), with
 * -ECANCELED if its start came too late for a task to run; and once the
 * end has begun to close the loop, the thread is refused (-EINVAL) rather
 * than handed a thread future that never completes.
 *
 * The thread must not call into a loop being freed (loop.h), so main keeps
 * a future referenced: cio_run then cannot free the loop (it reports that
 * and returns -EBUSY), the thread is joined, and only then is the loop
 * freed. Nothing here sleeps: main returns once WARMUP of the thread's
 * tasks have run (a future the last of them completes), so the thread is
 * in full flow; the thread's backlog is bounded by waiting for its oldest
 * thread future (a minute at most, against a hang); a thread future still
 * pending once cio_run has returned fails the case at once (nothing runs
 * the loop any more); and the rounds are few. Whether a round catches
 * calls in flight at the very moment the end closes the loop depends on
 * the scheduler, so the case runs several rounds; none depends on it to
 * pass. */
#include <stdatomic.h>

#include "task/task_util.h"

#define ROUNDS 6
#define MAX_SPAWNS 2000000L /* a bound against a loop that never refuses */
#define BACKLOG 1024        /* thread futures the thread keeps pending at most */
#define FLOOD 4000          /* spawns at full speed after main returned */

static cio_loop *run_loop;
/* Completed by the WARMUP-th spawned task to run; main keeps it. */
static cio_future *warm;
static long ran;
#define WARMUP 200
static _Atomic bool main_returned; /* cio_run's end has begun */
static _Atomic bool run_over;      /* cio_run has returned */

static cio_thread_future *pending[BACKLOG];
static size_t p_head, p_count;
static long accepted, cancelled, completed_ok;
static int refused_rc;

static int spawned_body(void *arg, void **result)
{
    (void)arg;
    (void)result;
    if (++ran == WARMUP)
        EXPECT_OK(cio_future_set_result(warm, NULL, NULL));
    /* One suspension: a task cio_run's end cancelled before it ran ends
     * with -ECANCELED here, as a task should, rather than swallow it. */
    return cio_yield();
}

/* Waits until tf completes. Once cio_run has returned nothing runs the
 * loop again, so a thread future still pending then never completes: that
 * fails at once instead of by the bound (a minute, against a hang). */
static int wait_done(cio_thread_future *tf)
{
    for (int i = 0; i < 12000; i++) {
        bool over = atomic_load(&run_over);
        int rc = cio_thread_future_wait(tf, over ? 0 : 0.005, NULL);
        if (rc != -ETIMEDOUT)
            return rc;
        if (over)
            break;
    }
    FAIL("a thread future whose spawn returned 0 never completed");
}

/* Checks one thread future the thread got: it has completed, as a task
 * that ran (0) or one cancelled before or at its start, and frees it. */
static void check_done(cio_thread_future *tf)
{
    int rc = wait_done(tf);
    if (rc == 0)
        completed_ok++;
    else if (rc == -ECANCELED)
        cancelled++;
    else
        FAIL("thread future: %s", cio_err_name(rc));
    EXPECT_OK(cio_thread_future_free(tf));
}

/* Spawns as fast as the backlog allows while main runs and for FLOOD
 * spawns after it returned, so that calls are in flight when cio_run's end
 * closes the loop to them (those start no task: -ECANCELED); then one at a
 * time, each waited for, so that the end, which waits for every task
 * started before it closes the loop, is reached between two spawns rather
 * than chased for ever. Stops when refused. */
static void *producer(void *arg)
{
    (void)arg;
    long after_main = 0;
    bool one_at_a_time = false;
    for (long i = 0; i < MAX_SPAWNS; i++) {
        if (atomic_load(&main_returned) && after_main++ == FLOOD)
            one_at_a_time = true;
        size_t keep = one_at_a_time ? 0 : BACKLOG - 1;
        while (p_count > keep) {
            check_done(pending[p_head]);
            p_head = (p_head + 1) % BACKLOG;
            p_count--;
        }
        cio_thread_future *tf;
        int rc = cio_spawn_threadsafe(run_loop, NULL, spawned_body, NULL, &tf);
        if (rc) {
            refused_rc = rc;
            break;
        }
        accepted++;
        pending[(p_head + p_count++) % BACKLOG] = tf;
    }
    return NULL;
}

static int main_returns_while_spawning(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    run_loop = cio_current_loop();
    EXPECT_OK(cio_future_new(run_loop, &warm));
    EXPECT_OK(cio_future_set_name(warm, "kept"));
    pthread_t *th = arg;
    EXPECT_OK(pthread_create(th, NULL, producer, NULL));
    EXPECT_OK(cio_await(warm, NULL)); /* the thread's spawns run */
    atomic_store(&main_returned, true);
    return 0; /* ... and go on while cio_run ends */
}

/* A longer bound than the default: a sanitizer build on a loaded machine is slow. */
TEST_T(cio_run_end_completes_every_accepted_spawn_threadsafe, 300)
{
    long total_cancelled = 0, total_ok = 0;
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t th;
        atomic_store(&run_over, false);
        atomic_store(&main_returned, false);
        p_head = p_count = 0;
        accepted = cancelled = completed_ok = 0;
        ran = 0;
        refused_rc = 0;
        pthread_mutex_lock(&reports_mu);
        nreports = 0;
        pthread_mutex_unlock(&reports_mu);

        /* The loop cannot be freed while main's future is referenced. */
        EXPECT_ERR(-EBUSY, cio_run(main_returns_while_spawning, &th, NULL));
        atomic_store(&run_over, true);
        EXPECT_OK(pthread_join(th, NULL));
        EXPECT_ERR(-EINVAL, refused_rc); /* refused once the end closed the loop */
        while (p_count) {
            /* Every accepted spawn completed before cio_run returned. */
            EXPECT_TRUE(cio_thread_future_is_done(pending[p_head]));
            check_done(pending[p_head]);
            p_head = (p_head + 1) % BACKLOG;
            p_count--;
        }
        EXPECT_EQ(accepted, completed_ok + cancelled);
        EXPECT_TRUE(completed_ok >= WARMUP);
        total_cancelled += cancelled;
        total_ok += completed_ok;
        EXPECT_REPORT("could not be freed", NULL);
        cio_future_unref(warm);
        EXPECT_OK(cio_loop_free(run_loop));
    }
    fprintf(stderr, "  %ld spawns completed, %ld cancelled\n", total_ok, total_cancelled);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
