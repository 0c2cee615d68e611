// cio-test: threaded
/* cio_run_parallel: one loop per worker thread, the workers' index and
 * count, stops (by a worker, by the first failure, by SIGINT/SIGTERM) and
 * their races with workers that have not started or have already ended,
 * pinning, and the argument checks. Nothing waits on time: a worker that
 * must wait for the others counts them (an atomic) while it yields, with a
 * generous bound against a hang. */
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "task/task_util.h"

#define HOUR 3600.0

/* Yields until *counter reaches n, for at most about a minute. */
static int wait_count(atomic_int *counter, int n)
{
    for (long i = 0; i < 60000 && atomic_load(counter) < n; i++) {
        int rc = cio_sleep(0.001);
        if (rc)
            return rc;
    }
    EXPECT_TRUE(atomic_load(counter) >= n);
    return 0;
}

static void strict_loop(void)
{
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
}

/* ---- outside a worker --------------------------------------------------- */

TEST(outside_a_worker)
{
    EXPECT_EQ(-1, cio_parallel_index());
    EXPECT_EQ(0, cio_parallel_count());
    EXPECT_ERR(-EPERM, cio_parallel_stop());
}

static int main_ok(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}

/* ---- argument checks ---------------------------------------------------- */

TEST(argument_checks)
{
    EXPECT_ERR(-EINVAL, cio_run_parallel(NULL, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 1), NULL, NULL));
    /* Not made with the macros. */
    cio_parallel_options bad = {.threads = 1};
    EXPECT_ERR(-EINVAL, cio_run_parallel(&bad, main_ok, NULL));
    /* From a newer header, with a field this library does not know set. */
    struct {
        cio_parallel_options o;
        uint64_t extra;
    } newer = {.o = CIO_PARALLEL_OPTIONS(.threads = 1), .extra = 1};
    newer.o.size = sizeof newer;
    EXPECT_ERR(-E2BIG, cio_run_parallel(&newer.o, main_ok, NULL));
    newer.extra = 0; /* unknown but zero: accepted */
    EXPECT_OK(cio_run_parallel(&newer.o, main_ok, NULL));
    /* Bad loop options are found before any thread starts. */
    cio_loop_options badloop = {.backend = "poll"};
    EXPECT_ERR(-EINVAL,
               cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 2, .loop = &badloop), main_ok, NULL));
    /* Absurd thread counts. */
    EXPECT_ERR(-EINVAL, cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 1000000), main_ok, NULL));
    EXPECT_ERR(-EINVAL, cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = SIZE_MAX), main_ok, NULL));
    /* NULL options: the defaults (one worker per CPU). */
    EXPECT_OK(cio_run_parallel(NULL, main_ok, NULL));
}

/* A loop option every worker's loop cannot honour fails every worker:
 * the run returns that error. */
TEST(loop_options_error_in_workers)
{
    EXPECT_ERR(-EINVAL, cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 3,
                                                                .loop = &CIO_LOOP_OPTIONS(
                                                                    .backend = "nonesuch")),
                                         main_ok, NULL));
}

static atomic_int backend_poll;
static int main_backend(void *arg, void **result)
{
    (void)arg, (void)result;
    if (strcmp(cio_loop_backend(cio_current_loop()), "poll") == 0)
        atomic_fetch_add(&backend_poll, 1);
    return 0;
}

TEST(loop_options_reach_every_worker)
{
    EXPECT_OK(cio_run_parallel(
        &CIO_PARALLEL_OPTIONS(.threads = 3, .loop = &CIO_LOOP_OPTIONS(.backend = "poll")),
        main_backend, NULL));
    EXPECT_EQ(3, atomic_load(&backend_poll));
}

static int main_nested(void *arg, void **result)
{
    (void)arg, (void)result;
    EXPECT_ERR(-EDEADLK, cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 1), main_ok, NULL));
    return 0;
}

static void cb_nested(void *arg)
{
    *(int *)arg = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 1), main_ok, NULL);
}

TEST(deadlock_from_a_task_or_a_running_loop)
{
    EXPECT_OK(cio_run(main_nested, NULL, NULL));
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 2), main_nested, NULL));
    cio_loop *loop = test_strict_loop_new();
    int rc = 1;
    EXPECT_OK(cio_call_soon(loop, cb_nested, &rc));
    test_drain(loop);
    EXPECT_ERR(-EDEADLK, rc);
    CLOSE_LOOP(loop);
}

/* ---- workers -------------------------------------------------------------- */

#define NW 4
static pthread_t seen_thread[NW];
static cio_loop *seen_loop[NW];
static atomic_int seen_count;
static atomic_int seen_bad;

static int main_record(void *arg, void **result)
{
    (void)result;
    strict_loop();
    int i = cio_parallel_index();
    if (i < 0 || i >= NW || cio_parallel_count() != NW || arg != V(7)) {
        atomic_store(&seen_bad, 1);
        return -EPROTO;
    }
    seen_thread[i] = pthread_self();
    seen_loop[i] = cio_current_loop();
    atomic_fetch_add(&seen_count, 1);
    /* Every loop lives until all have recorded theirs (so no two can be
     * one allocation, reused): the workers run at the same time. */
    return wait_count(&seen_count, NW);
}

TEST(every_worker_runs_main_on_its_own_loop)
{
    int fd0 = test_fd_baseline();
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = NW), main_record, V(7)));
    EXPECT_EQ(0, atomic_load(&seen_bad));
    EXPECT_EQ(NW, atomic_load(&seen_count));
    /* Worker 0 is the calling thread; the others are threads of their own. */
    EXPECT_TRUE(pthread_equal(seen_thread[0], pthread_self()));
    for (int i = 0; i < NW; i++)
        for (int j = i + 1; j < NW; j++) {
            EXPECT_FALSE(pthread_equal(seen_thread[i], seen_thread[j]));
            EXPECT_TRUE(seen_loop[i] != seen_loop[j]);
        }
    /* Back outside any worker. */
    EXPECT_EQ(-1, cio_parallel_index());
    EXPECT_EQ(0, cio_parallel_count());
    EXPECT_EQ(fd0, test_fd_count());
}

static size_t cpu_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    EXPECT_OK(sched_getaffinity(0, sizeof set, &set));
    return (size_t)CPU_COUNT(&set);
}

static atomic_int ran;
static atomic_size_t count_seen;
static int main_count(void *arg, void **result)
{
    (void)arg, (void)result;
    atomic_fetch_add(&ran, 1);
    atomic_store(&count_seen, cio_parallel_count());
    return 0;
}

TEST(zero_threads_is_one_per_cpu)
{
    EXPECT_OK(cio_run_parallel(&(cio_parallel_options)CIO_PARALLEL_OPTIONS_INIT, main_count, NULL));
    EXPECT_EQ(cpu_count(), atomic_load(&ran));
    EXPECT_EQ(cpu_count(), atomic_load(&count_seen));
}

/* Any number of workers, also more than the CPUs. */
TEST(more_workers_than_cpus)
{
    size_t n = cpu_count() * 3 + 1;
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = n), main_count, NULL));
    EXPECT_EQ(n, atomic_load(&ran));
}

/* ---- pinning ------------------------------------------------------------------ */

static int allowed[CPU_SETSIZE];
static int nallowed;
static atomic_int pin_bad;
static atomic_int pin_ok;

static int main_pinned(void *arg, void **result)
{
    (void)arg, (void)result;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0)
        return -EIO;
    int want = allowed[cio_parallel_index() % nallowed];
    if (CPU_COUNT(&set) != 1 || !CPU_ISSET(want, &set))
        atomic_store(&pin_bad, 1);
    else
        atomic_fetch_add(&pin_ok, 1);
    return 0;
}

TEST(pin_puts_worker_i_on_the_ith_cpu)
{
    cpu_set_t before;
    CPU_ZERO(&before);
    EXPECT_OK(pthread_getaffinity_np(pthread_self(), sizeof before, &before));
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &before))
            allowed[nallowed++] = c;
    size_t n = (size_t)nallowed + 1; /* one more: wraps around to the first */
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = n, .pin = true), main_pinned, NULL));
    EXPECT_EQ(0, atomic_load(&pin_bad));
    EXPECT_EQ(n, atomic_load(&pin_ok));
    /* The calling thread (worker 0) got its affinity back. */
    cpu_set_t after;
    CPU_ZERO(&after);
    EXPECT_OK(pthread_getaffinity_np(pthread_self(), sizeof after, &after));
    EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

/* ---- stops ------------------------------------------------------------------- */

static atomic_int waiting;
static atomic_int cancelled;

/* Waits "forever"; a stop ends it with -ECANCELED. */
static int main_wait(void *arg, void **result)
{
    (void)arg, (void)result;
    strict_loop();
    atomic_fetch_add(&waiting, 1);
    int rc = cio_sleep(HOUR);
    if (rc == -ECANCELED)
        atomic_fetch_add(&cancelled, 1);
    return rc;
}

/* Worker 1 stops the run once every worker waits. */
static int main_stop_when_all_wait(void *arg, void **result)
{
    int n = (int)U(arg);
    if (cio_parallel_index() != 1)
        return main_wait(arg, result);
    strict_loop();
    EXPECT_OK(wait_count(&waiting, n - 1));
    EXPECT_OK(cio_parallel_stop());
    EXPECT_OK(cio_parallel_stop()); /* a second stop changes nothing */
    /* The stopper's own main is cancelled too. */
    int rc = cio_sleep(HOUR);
    EXPECT_ERR(-ECANCELED, rc);
    atomic_fetch_add(&cancelled, 1);
    return rc;
}

TEST(stop_cancels_every_main_and_is_success)
{
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 4), main_stop_when_all_wait, V(4)));
    EXPECT_EQ(4, atomic_load(&cancelled));
}

/* A stop while other workers are still starting (or not started): each
 * worker must end. Many rounds, each with the stop at once from a worker
 * chosen by the round, so it meets the others at every stage. */
static int main_stop_at_once(void *arg, void **result)
{
    int round = (int)U(arg);
    int n = (int)cio_parallel_count();
    if (cio_parallel_index() == round % n) {
        EXPECT_OK(cio_parallel_stop());
        /* Also one that ends at once, after the stop. */
        if (round % 3 == 0)
            return -ECANCELED;
    }
    if (cio_parallel_index() == (round + 1) % n && round % 5 == 0)
        return 0; /* one that finished before the cancellation reached it */
    return main_wait(arg, result);
}

TEST(many_start_stop_rounds)
{
    int fd0 = test_fd_baseline();
    for (int round = 0; round < 200; round++) {
        size_t n = 2 + (size_t)(round % 4);
        int rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = n), main_stop_at_once,
                                  V(round));
        if (rc)
            FAIL("round %d: %s", round, cio_err_name(rc));
    }
    EXPECT_EQ(fd0, test_fd_count());
}

/* The first failing worker stops the others; the run returns its error. */
static int main_fail_one(void *arg, void **result)
{
    if (cio_parallel_index() == 2) {
        EXPECT_OK(wait_count(&waiting, 3));
        return -EIO;
    }
    return main_wait(arg, result);
}

TEST(first_failure_stops_the_others)
{
    EXPECT_ERR(-EIO, cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 4), main_fail_one, NULL));
    EXPECT_EQ(3, atomic_load(&cancelled));
}

/* Several fail: the run returns one of their errors, never a
 * cancellation. */
static int main_fail_many(void *arg, void **result)
{
    (void)arg, (void)result;
    switch (cio_parallel_index()) {
    case 0: return -EIO;
    case 1: return -ENOSPC;
    default: return main_wait(arg, result);
    }
}

TEST(first_of_several_failures)
{
    for (int round = 0; round < 20; round++) {
        int rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 3), main_fail_many, NULL);
        EXPECT_TRUE(rc == -EIO || rc == -ENOSPC);
    }
}

/* A worker whose main returns -ECANCELED with no stop asked has failed. */
static int main_cancelled_alone(void *arg, void **result)
{
    (void)arg, (void)result;
    if (cio_parallel_index() == 1)
        return -ECANCELED;
    return main_wait(arg, result);
}

TEST(cancellation_without_a_stop_is_a_failure)
{
    EXPECT_ERR(-ECANCELED,
               cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 2), main_cancelled_alone, NULL));
}

/* Workers that end with 0 do not stop the others. */
static atomic_int finished;
static int main_some_finish(void *arg, void **result)
{
    (void)arg, (void)result;
    int i = cio_parallel_index();
    if (i < 2) {
        atomic_fetch_add(&finished, 1);
        return 0;
    }
    /* Worker 2 stops the run only once both have finished: they were not
     * stopped by each other's success. */
    if (i == 2) {
        EXPECT_OK(wait_count(&finished, 2));
        EXPECT_OK(wait_count(&waiting, 1));
        EXPECT_OK(cio_parallel_stop());
        return cio_sleep(HOUR);
    }
    return main_wait(arg, result);
}

TEST(success_does_not_stop_the_others)
{
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 4), main_some_finish, NULL));
    EXPECT_EQ(2, atomic_load(&finished));
    EXPECT_EQ(1, atomic_load(&cancelled));
}

/* A stop from another task of a worker's loop, and what a thread-pool
 * thread of a worker sees (it is not a worker). */
static int work_probe(void *arg, void **result)
{
    (void)arg;
    *result = V((cio_parallel_index() == -1 && cio_parallel_count() == 0 &&
                 cio_parallel_stop() == -EPERM)
                    ? 1
                    : 2);
    return 0;
}

static int child_stopper(void *arg, void **result)
{
    (void)arg, (void)result;
    return cio_parallel_stop();
}

static int main_child_stops(void *arg, void **result)
{
    (void)arg;
    if (cio_parallel_index() == 0) {
        void *v = NULL;
        EXPECT_OK(cio_to_thread(work_probe, NULL, &v));
        EXPECT_PTR_EQ(V(1), v);
        EXPECT_OK(wait_count(&waiting, 1));
        cio_task *t;
        EXPECT_OK(cio_spawn(child_stopper, NULL, &t));
        EXPECT_OK(cio_await(t, NULL));
        cio_future_unref(t);
        return cio_sleep(HOUR);
    }
    return main_wait(arg, result);
}

TEST(stop_from_any_task_of_a_worker)
{
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 2), main_child_stops, NULL));
    EXPECT_EQ(1, atomic_load(&cancelled));
}

/* main's result is freed with its destructor (the leak check sees it). */
static int main_result(void *arg, void **result)
{
    (void)arg;
    *result = malloc(32);
    EXPECT_OK(cio_task_set_result_free(free));
    return 0;
}

TEST(results_are_freed)
{
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 2), main_result, NULL));
}

/* ---- signals -------------------------------------------------------------- */

static volatile sig_atomic_t own_handler_ran;
static void own_handler(int signo)
{
    (void)signo;
    own_handler_ran = 1;
}

static int main_signal(void *arg, void **result)
{
    int signo = (int)U(arg);
    if (cio_parallel_index() == 0) {
        strict_loop();
        EXPECT_OK(wait_count(&waiting, (int)cio_parallel_count() - 1));
        EXPECT_OK(raise(signo)); /* this thread: see main_signal_at_once */
        int rc = cio_sleep(HOUR);
        EXPECT_ERR(-ECANCELED, rc);
        atomic_fetch_add(&cancelled, 1);
        return rc;
    }
    return main_wait(arg, result);
}

static void signal_case(int signo)
{
    struct sigaction sa = {.sa_handler = own_handler};
    sigemptyset(&sa.sa_mask);
    EXPECT_OK(sigaction(signo, &sa, NULL));
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 3, .stop_on_signals = true),
                               main_signal, V(signo)));
    EXPECT_EQ(3, atomic_load(&cancelled));
    EXPECT_EQ(0, own_handler_ran);
    /* The disposition from before the run is back. */
    struct sigaction now;
    EXPECT_OK(sigaction(signo, NULL, &now));
    EXPECT_TRUE(now.sa_handler == own_handler);
}

TEST(sigterm_stops_every_worker)
{
    signal_case(SIGTERM);
}

TEST(sigint_stops_every_worker)
{
    signal_case(SIGINT);
}

/* A signal sent by worker 0 at once, while the others may not have
 * started: they find the run stopping and end. Many rounds. The tests
 * raise() signals on a worker's thread rather than kill() the process:
 * under ThreadSanitizer a process-directed signal may land on the
 * sanitizer's background thread, which never runs handlers (a rare hang
 * in CI); cio's handler wakes every loop whichever thread runs it. */
static int main_signal_at_once(void *arg, void **result)
{
    if (cio_parallel_index() == 0)
        EXPECT_OK(raise(SIGTERM));
    return main_wait(arg, result);
}

TEST(signal_races_with_starting_workers)
{
    struct sigaction sa = {.sa_handler = own_handler};
    sigemptyset(&sa.sa_mask);
    EXPECT_OK(sigaction(SIGTERM, &sa, NULL));
    for (int round = 0; round < 50; round++) {
        int rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 3, .stop_on_signals = true),
                                  main_signal_at_once, NULL);
        if (rc)
            FAIL("round %d: %s", round, cio_err_name(rc));
    }
    EXPECT_EQ(0, own_handler_ran);
}

/* Without stop_on_signals the run does not touch the signals. */
static int main_no_signals(void *arg, void **result)
{
    (void)arg, (void)result;
    struct sigaction now;
    EXPECT_OK(sigaction(SIGTERM, NULL, &now));
    EXPECT_TRUE(now.sa_handler == own_handler);
    return 0;
}

TEST(signals_untouched_without_the_option)
{
    struct sigaction sa = {.sa_handler = own_handler};
    sigemptyset(&sa.sa_mask);
    EXPECT_OK(sigaction(SIGTERM, &sa, NULL));
    EXPECT_OK(cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 2), main_no_signals, NULL));
}

/* ---- a thread that cannot start --------------------------------------------- */

/* With the address space capped, thread stacks cannot be mapped: the run
 * stops and joins the workers it started and returns the error. Not under
 * the sanitizers, which reserve far more address space than the cap. */
#if !defined(TEST_HAVE_LSAN) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NO_RLIMIT_CASE 1
#endif
#endif
#else
#define NO_RLIMIT_CASE 1
#endif

#ifndef NO_RLIMIT_CASE
static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

TEST(thread_start_failure)
{
    int fd0 = test_fd_baseline();
    size_t cap = vm_size() + (64u << 20);
    struct rlimit rl = {.rlim_cur = cap, .rlim_max = RLIM_INFINITY};
    EXPECT_OK(setrlimit(RLIMIT_AS, &rl));
    int rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 4000), main_wait, NULL);
    rl.rlim_cur = RLIM_INFINITY;
    EXPECT_OK(setrlimit(RLIMIT_AS, &rl));
    EXPECT_TRUE(rc == -EAGAIN || rc == -ENOMEM);
    /* Every worker that started waited and was cancelled. */
    EXPECT_EQ(atomic_load(&waiting), atomic_load(&cancelled));
    EXPECT_EQ(fd0, test_fd_count());
}
#endif

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
