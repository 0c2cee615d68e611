/* cio_run_parallel: one loop per thread, on every core.
 *
 * Each worker runs cio_run_with on its own thread with a small main task of
 * ours around the user's main: it registers the worker's loop and task in
 * the run's table (under the run's lock), runs main in the same task, and
 * unregisters before the task ends. A stop walks that table under the lock
 * and sends each registered loop one cio_call_soon_threadsafe call that
 * cancels its task. That settles the two races a stop has with a worker:
 *
 * - a worker whose loop is not running yet is not in the table; it finds
 *   the run stopping when it registers, and ends at once without running
 *   main (arg is the caller's for the whole run, so nothing is left for
 *   main to free; and a main cancelled before it could run anything would
 *   only be tempted to return 0 and be reported for swallowing it);
 * - a worker that has finished is not in the table either. One that
 *   unregisters after a call was sent still runs it: cio_run's end runs
 *   every accepted threadsafe call before it frees the loop (the call then
 *   finds no task and does nothing). The sender holds the lock while it
 *   calls into the loop, and unregistering needs the lock, so no call can
 *   still be under way when the loop is freed.
 *
 * The cancellation runs on the loop's own thread, where the task lives, so
 * the task pointer is read only there; the table's other fields are read
 * and written under the lock. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../common/opts.h"
#include "internal.h"

/* More threads than this is a mistake in the options, not a machine. */
#define CIO__PARALLEL_MAX 4096

struct cio__par;

struct cio__worker {
    struct cio__par *p;
    size_t index;
    pthread_t thread;
    bool started; /* its thread was created (not for worker 0) */
    /* Under p->lock. */
    cio_loop *loop; /* while its main task runs: a stop may call into it */
    bool asked;     /* a cancelling call is on its way to loop */
    /* The worker's own thread only. */
    cio_task *task;  /* its main task, while it runs */
    bool by_stop;    /* main ended with -ECANCELED after a stop was asked */
    int rc;          /* cio_run_with's outcome, read after the join */
};

struct cio__par {
    pthread_mutex_t lock;
    bool stopping;   /* under lock; never goes back */
    int first_error; /* under lock */
    cio_parallel_options o;
    cio_task_fn main;
    void *arg;
    int *cpus; /* the CPUs this process may run on, in order */
    size_t ncpus;
    struct cio__worker *w;
    size_t n;
};

static _Thread_local struct cio__par *tl_par;
static _Thread_local int tl_index = -1;

/* On the worker's loop: cancels its main task if it still runs. */
static void cancel_cb(void *arg)
{
    struct cio__worker *w = arg;
    if (w->task)
        cio_future_cancel(w->task);
}

/* Asks every registered worker to cancel its main task, once each, and
 * marks the run stopping so that workers registering later end without
 * running main. A call that cannot be queued (-ENOMEM) is retried by the
 * next stop. */
static int par_stop(struct cio__par *p)
{
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (size_t i = 0; i < p->n; i++) {
        struct cio__worker *w = &p->w[i];
        if (!w->loop || w->asked)
            continue;
        int r = cio_call_soon_threadsafe(w->loop, cancel_cb, w);
        if (r == 0)
            w->asked = true;
        else if (!rc)
            rc = r;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* A worker failed with err: the first error is the run's, and the others
 * are stopped. */
static void par_fail(struct cio__par *p, int err)
{
    pthread_mutex_lock(&p->lock);
    if (!p->first_error)
        p->first_error = err;
    pthread_mutex_unlock(&p->lock);
    par_stop(p);
}

/* SIGINT / SIGTERM on a worker's loop (every worker watches both, so the
 * stop does not depend on any one worker still running). */
static void on_signal(void *arg)
{
    par_stop(arg);
}

static int watch_signals(cio_loop *loop, struct cio__par *p)
{
    int rc = cio_loop_add_signal_handler(loop, SIGINT, on_signal, p);
    if (rc)
        return rc;
    if ((rc = cio_loop_add_signal_handler(loop, SIGTERM, on_signal, p)) != 0)
        cio_loop_remove_signal_handler(loop, SIGINT);
    return rc;
}

/* The main task of each worker's loop. */
static int worker_main(void *arg, void **result)
{
    struct cio__worker *w = arg;
    struct cio__par *p = w->p;
    cio_loop *loop = cio_current_loop();
    w->task = cio_current_task();
    pthread_mutex_lock(&p->lock);
    w->loop = loop;
    bool stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    int rc = stopping ? -ECANCELED : p->o.stop_on_signals ? watch_signals(loop, p) : 0;
    bool watching = rc == 0 && p->o.stop_on_signals;
    if (rc == 0)
        rc = p->main(p->arg, result);
    if (watching) {
        cio_loop_remove_signal_handler(loop, SIGTERM);
        cio_loop_remove_signal_handler(loop, SIGINT);
    }
    pthread_mutex_lock(&p->lock);
    w->loop = NULL;
    w->by_stop = rc == -ECANCELED && p->stopping;
    pthread_mutex_unlock(&p->lock);
    w->task = NULL;
    /* Stop the others now, not once this loop's teardown is over. */
    if (rc < 0 && !w->by_stop)
        par_fail(p, rc);
    return rc;
}

static int pin_to(int cpu)
{
    cpu_set_t *set = CPU_ALLOC((size_t)cpu + 1);
    if (!set)
        return -ENOMEM;
    size_t size = CPU_ALLOC_SIZE((size_t)cpu + 1);
    CPU_ZERO_S(size, set);
    CPU_SET_S((size_t)cpu, size, set);
    int rc = pthread_setaffinity_np(pthread_self(), size, set);
    CPU_FREE(set);
    return -rc;
}

static void run_worker(struct cio__worker *w)
{
    struct cio__par *p = w->p;
    int rc = 0;
    if (p->o.pin)
        rc = pin_to(p->cpus[w->index % p->ncpus]);
    tl_par = p;
    tl_index = (int)w->index;
    if (rc == 0)
        rc = cio_run_with(p->o.loop, worker_main, w, NULL);
    tl_par = NULL;
    tl_index = -1;
    w->rc = rc;
    /* Also the failures that happen outside main (a loop that cannot be
     * made, or freed): par_fail is idempotent for those main reported. */
    if (rc < 0 && !(rc == -ECANCELED && w->by_stop))
        par_fail(p, rc);
}

static void *worker_thread(void *arg)
{
    run_worker(arg);
    return NULL;
}

/* The CPUs the calling thread may run on, in ascending order, in *out
 * (malloc'd). The kernel's mask may be larger than cpu_set_t. */
static int allowed_cpus(int **out, size_t *count)
{
    for (size_t ncpu = CPU_SETSIZE; ncpu <= (1u << 20); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        if (!set)
            return -ENOMEM;
        size_t size = CPU_ALLOC_SIZE(ncpu);
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) != 0) {
            int err = errno;
            CPU_FREE(set);
            if (err == EINVAL)
                continue; /* the kernel's mask is larger */
            return -err;
        }
        size_t n = (size_t)CPU_COUNT_S(size, set);
        int *cpus = malloc((n ? n : 1) * sizeof *cpus);
        if (!cpus) {
            CPU_FREE(set);
            return -ENOMEM;
        }
        size_t k = 0;
        for (size_t c = 0; c < ncpu && k < n; c++)
            if (CPU_ISSET_S(c, size, set))
                cpus[k++] = (int)c;
        CPU_FREE(set);
        if (k == 0) { /* cannot happen: the thread runs somewhere */
            cpus[0] = sched_getcpu() >= 0 ? sched_getcpu() : 0;
            k = 1;
        }
        *out = cpus;
        *count = k;
        return 0;
    }
    return -EINVAL;
}

/* Worker 0 runs on the calling thread: with pin, its affinity is put back
 * afterwards. */
static void run_worker0(struct cio__par *p)
{
    cpu_set_t *saved = NULL;
    size_t size = 0;
    if (p->o.pin) {
        size_t ncpu = (size_t)p->cpus[p->ncpus - 1] + 1;
        if (ncpu < CPU_SETSIZE)
            ncpu = CPU_SETSIZE;
        saved = CPU_ALLOC(ncpu);
        size = CPU_ALLOC_SIZE(ncpu);
        if (!saved || pthread_getaffinity_np(pthread_self(), size, saved) != 0) {
            CPU_FREE(saved);
            saved = NULL;
        }
    }
    run_worker(&p->w[0]);
    if (saved) {
        pthread_setaffinity_np(pthread_self(), size, saved);
        CPU_FREE(saved);
    }
}

int cio_run_parallel(const cio_parallel_options *opts, cio_task_fn main, void *arg)
{
    cio_parallel_options o = CIO_PARALLEL_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    if (!main)
        return -EINVAL;
    if (o.loop) {
        cio_loop_options lo = CIO_LOOP_OPTIONS_INIT;
        if ((rc = cio__opts_copy(&lo, sizeof lo, o.loop)) != 0)
            return rc;
    }
    if (o.threads > CIO__PARALLEL_MAX)
        return -EINVAL;
    /* As cio_run_with: this thread would block the loop it runs. */
    if (cio__task_current() || cio_current_loop())
        return -EDEADLK;
    struct cio__par p = {.o = o, .main = main, .arg = arg};
    if ((rc = allowed_cpus(&p.cpus, &p.ncpus)) != 0)
        return rc;
    p.n = o.threads ? o.threads : p.ncpus;
    if (p.n > CIO__PARALLEL_MAX)
        p.n = CIO__PARALLEL_MAX;
    p.w = calloc(p.n, sizeof *p.w);
    if (!p.w) {
        free(p.cpus);
        return -ENOMEM;
    }
    pthread_mutex_init(&p.lock, NULL);
    for (size_t i = 0; i < p.n; i++)
        p.w[i] = (struct cio__worker){.p = &p, .index = i};
    int start_err = 0;
    for (size_t i = 1; i < p.n; i++) {
        int r = pthread_create(&p.w[i].thread, NULL, worker_thread, &p.w[i]);
        if (r) {
            start_err = -r;
            break;
        }
        p.w[i].started = true;
    }
    if (start_err)
        par_stop(&p); /* those started cancel themselves, or are cancelled */
    else
        run_worker0(&p);
    for (size_t i = 1; i < p.n; i++)
        if (p.w[i].started)
            pthread_join(p.w[i].thread, NULL);
    rc = start_err ? start_err : p.first_error;
    pthread_mutex_destroy(&p.lock);
    free(p.w);
    free(p.cpus);
    return rc;
}

int cio_parallel_index(void)
{
    return tl_par ? tl_index : -1;
}

size_t cio_parallel_count(void)
{
    return tl_par ? tl_par->n : 0;
}

int cio_parallel_stop(void)
{
    struct cio__par *p = tl_par;
    if (!p)
        return -EPERM;
    return par_stop(p);
}
