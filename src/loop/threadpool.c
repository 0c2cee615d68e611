/* The thread pool: one per process, shared by every loop (as in libuv), so
 * one loop per core does not mean cores x cores threads.
 *
 * Submission: inside a running loop, jobs collect in the loop's submit
 * array and go to the pool's queue, a ring of job pointers, in one locked
 * append when the callback batch that submitted them returns
 * (cio__jobs_flush). The condition variable is signalled only for idle
 * workers not already being woken, so a burst costs a few futex wakes.
 *
 * Taking: a worker takes a few jobs per lock when the queue is deep (every
 * worker is busy then anyway) and one when it is shallow, so a job that
 * blocks holds back at most BATCH_MAX - 1 others while a thread is idle.
 * Reading pointers from an array, not a linked list, keeps the lock hold
 * time free of cache misses on the jobs themselves.
 *
 * Completion: the worker hands the job back with cio_call_soon_threadsafe,
 * i.e. through its own single-producer ring to the loop: no lock, no fence
 * per job (see threadsafe.c). On the loop, job_done completes the future.
 *
 * Cancellation: a job is QUEUED, RUNNING or CANCELLED. Cancelling the
 * future moves QUEUED to CANCELLED with one compare-and-swap; a worker that
 * then takes it skips the function and hands the job straight back.
 *
 * Ownership: everything a job owns is settled in finish_job, on the loop,
 * once the job is back: the state says for certain whether fn ran. If it
 * never ran, arg goes to the arg_free the submitter gave; if it ran and
 * nobody can receive its result any more (the future was cancelled while
 * fn ran, or fn failed after storing one), the result goes to result_free.
 * A loop does not close with jobs in flight, so every job gets there.
 *
 * fork: only the forking thread lives on in a child, so the pool's
 * threads, queue and lock state describe the parent. pthread_atfork
 * handlers (installed with the first thread) hold the lock across fork, so
 * the child never inherits it taken mid-update, and give the child an
 * empty pool: its first use starts fresh threads. The parent's queued jobs
 * are dropped there, not run: their loops, copied into the child, are the
 * parent's, and running the work twice would repeat its effects. */
#include <stdlib.h>
#include <unistd.h>

#include "../common/opts.h"
#include "../future/internal.h"
#include "internal.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_CANCELLED };
#define BATCH_MAX 8

struct cio__job {
    struct cio__job *next; /* the loop's free list, or the fallback stack */
    cio_work_fn fn;
    void *arg;
    cio_free_fn arg_free;    /* arg, when fn never runs */
    cio_free_fn result_free; /* the result: the future's destructor */
    void *result;
    int rc;
    _Atomic int state;
    cio_future *fut;
    cio_loop *loop;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct cio__job **q; /* ring of queued jobs */
    size_t qhead, qlen, qcap;
    unsigned threads; /* running workers */
    unsigned target;  /* wanted workers */
    unsigned idle;    /* waiting on cond */
    unsigned waking;  /* signalled, not yet awake */
    bool configured;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0, 0, false};

static _Atomic bool pool_started;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void) { pthread_mutex_lock(&pool.lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&pool.lock); }

static void after_fork_child(void)
{
    /* Re-initialised rather than unlocked: the condition variable may count
     * waiters that no longer exist here. The queue's array is kept (it is
     * this process's copy) and only emptied. */
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.cond, NULL);
    pool.qhead = pool.qlen = 0;
    pool.threads = pool.idle = pool.waking = 0;
    atomic_store_explicit(&pool_started, false, memory_order_relaxed);
}

static void install_atfork(void)
{
    /* Without it a child's jobs would wait for threads that do not exist;
     * if it fails, that is what a child gets, and nothing else breaks. */
    (void)pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

static unsigned default_size(void)
{
    const char *env = getenv("CIO_THREADS");
    if (env && *env) {
        long n = strtol(env, NULL, 10);
        if (n >= 1 && n <= 1024)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (unsigned)(n > 1024 ? 1024 : n) : 1;
}

static void job_done(void *arg);

static void complete(struct cio__job *job)
{
    cio_loop *loop = job->loop;
    if (cio__call_soon_unordered(loop, job_done, job) == 0)
        return;
    /* Out of memory for the ring: the lock-free stack needs none. The pool
     * lock is held across the push and the wakeup so that a loop closing
     * right after taking the job in waits for the wakeup to finish
     * (cio__jobs_quiesce). */
    pthread_mutex_lock(&pool.lock);
    struct cio__job *head = atomic_load_explicit(&loop->done_jobs, memory_order_relaxed);
    do {
        job->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&loop->done_jobs, &head, job,
                                                    memory_order_release, memory_order_relaxed));
    cio__remote_signal(loop);
    pthread_mutex_unlock(&pool.lock);
}

void cio__jobs_quiesce(void)
{
    pthread_mutex_lock(&pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

static void run_job(struct cio__job *job)
{
    int expected = JOB_QUEUED;
    if (atomic_compare_exchange_strong(&job->state, &expected, JOB_RUNNING)) {
        job->result = NULL;
        job->rc = job->fn(job->arg, &job->result);
    }
    complete(job);
}

static void *worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (!pool.qlen && pool.threads <= pool.target) {
            pool.idle++;
            pthread_cond_wait(&pool.cond, &pool.lock);
            pool.idle--;
            if (pool.waking)
                pool.waking--;
        }
        if (pool.threads > pool.target) {
            pool.threads--;
            pthread_mutex_unlock(&pool.lock);
            return NULL;
        }
        size_t k = pool.qlen / (2 * (size_t)pool.threads);
        k = k < 1 ? 1 : k > BATCH_MAX ? BATCH_MAX : k;
        struct cio__job *batch[BATCH_MAX];
        for (size_t i = 0; i < k; i++)
            batch[i] = pool.q[(pool.qhead + i) & (pool.qcap - 1)];
        pool.qhead = (pool.qhead + k) & (pool.qcap - 1);
        pool.qlen -= k;
        pthread_mutex_unlock(&pool.lock);

        for (size_t i = 0; i < k; i++) {
            if (i + 1 < k)
                __builtin_prefetch(batch[i + 1], 1);
            run_job(batch[i]);
        }
        pthread_mutex_lock(&pool.lock);
    }
}

/* Starts workers up to the target; call with the lock held. */
static int spawn_workers(void)
{
    if (!pool.configured) {
        pool.target = default_size();
        pool.configured = true;
    }
    if (pool.threads < pool.target)
        pthread_once(&atfork_once, install_atfork);
    while (pool.threads < pool.target) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* Work functions may block in system calls with deep stacks (DNS,
         * file I/O); 1 MiB keeps room without 8 MiB per thread. */
        pthread_attr_setstacksize(&attr, 1 << 20);
        int rc = pthread_create(&t, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (rc)
            return pool.threads ? 0 : -rc;
        pool.threads++;
        atomic_store_explicit(&pool_started, true, memory_order_release);
    }
    return 0;
}

int cio_threadpool_set_size(unsigned threads)
{
    if (threads < 1 || threads > 1024)
        return -EINVAL;
    pthread_mutex_lock(&pool.lock);
    pool.target = threads;
    pool.configured = true;
    int rc = 0;
    if (pool.threads && pool.threads < threads)
        rc = spawn_workers();
    else if (pool.threads > threads)
        pthread_cond_broadcast(&pool.cond); /* surplus workers exit */
    pthread_mutex_unlock(&pool.lock);
    return rc;
}

unsigned cio_threadpool_size(void)
{
    pthread_mutex_lock(&pool.lock);
    if (!pool.configured) {
        pool.target = default_size();
        pool.configured = true;
    }
    unsigned n = pool.target;
    pthread_mutex_unlock(&pool.lock);
    return n;
}

static int on_cancel(cio_future *fut, void *arg)
{
    (void)fut;
    struct cio__job *job = arg;
    int expected = JOB_QUEUED;
    atomic_compare_exchange_strong(&job->state, &expected, JOB_CANCELLED);
    return 0; /* cancelled now; a running job's result will be discarded */
}

static void job_release(cio_loop *loop, struct cio__job *job)
{
    job->next = loop->job_free;
    loop->job_free = job;
}

int cio_to_thread_future(cio_loop *loop, const cio_work_options *opts, cio_work_fn fn,
                                  void *arg, cio_future **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!loop || loop->closed || !fn)
        return -EINVAL;
    cio_work_options o = CIO_WORK_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    if ((rc = cio__check_thread(loop, __func__)) != 0)
        return rc;
    if (CIO_UNLIKELY(!atomic_load_explicit(&pool_started, memory_order_acquire))) {
        /* Start the threads now, so a failure is this call's error. */
        pthread_mutex_lock(&pool.lock);
        rc = spawn_workers();
        pthread_mutex_unlock(&pool.lock);
        if (rc)
            return rc;
    }
    if (loop->submit_len == loop->submit_cap) {
        uint32_t ncap = loop->submit_cap ? loop->submit_cap * 2 : 64;
        void *p = realloc(loop->submit, ncap * sizeof *loop->submit);
        if (!p)
            return -ENOMEM;
        loop->submit = p;
        loop->submit_cap = ncap;
    }
    struct cio__job *job = loop->job_free;
    if (job) {
        loop->job_free = job->next;
    } else if (!(job = malloc(sizeof *job))) {
        return -ENOMEM;
    }
    cio_future *fut;
    if ((rc = cio_future_new(loop, &fut)) != 0) {
        job_release(loop, job);
        return rc;
    }
    CIO__FUTURE_SITE(fut); /* debug mode: made by our caller */
    job->fn = fn;
    job->arg = arg;
    job->arg_free = o.arg_free;
    job->result_free = o.result_free;
    job->rc = 0;
    job->result = NULL;
    atomic_init(&job->state, JOB_QUEUED);
    job->fut = cio_future_ref(fut);
    job->loop = loop;
    cio__future_set_cancel_hook(fut, on_cancel, job);
    loop->submit[loop->submit_len++] = job;
    loop->jobs_inflight++;
    if (!loop->running)
        cio__jobs_flush(loop); /* no iteration is coming to do it */
    *out = fut;
    return 0;
}


static bool queue_reserve(size_t extra)
{
    if (pool.qlen + extra <= pool.qcap)
        return true;
    size_t ncap = pool.qcap ? pool.qcap : 256;
    while (ncap < pool.qlen + extra)
        ncap *= 2;
    struct cio__job **q = malloc(ncap * sizeof *q);
    if (!q)
        return false;
    for (size_t i = 0; i < pool.qlen; i++)
        q[i] = pool.q[(pool.qhead + i) & (pool.qcap - 1)];
    free(pool.q);
    pool.q = q;
    pool.qhead = 0;
    pool.qcap = ncap;
    return true;
}

void cio__jobs_flush(cio_loop *loop)
{
    size_t n = loop->submit_len;
    pthread_mutex_lock(&pool.lock);
    int rc = 0;
    if (pool.threads < pool.target || !pool.configured)
        rc = spawn_workers();
    if (rc || !queue_reserve(n)) {
        /* Keep the jobs and try again next iteration. */
        pthread_mutex_unlock(&pool.lock);
        cio_loop_report(loop, "thread pool: cannot start %zu job(s): %s (%s); they are "
                              "retried at the next iteration of the loop",
                        n, rc ? "no worker thread could be started" : "out of memory",
                        cio_strerror(rc ? rc : -ENOMEM));
        return;
    }
    size_t mask = pool.qcap - 1;
    for (size_t i = 0; i < n; i++)
        pool.q[(pool.qhead + pool.qlen + i) & mask] = loop->submit[i];
    pool.qlen += n;
    loop->submit_len = 0;
    /* Wake as many idle workers as there are jobs, counting those already
     * being woken. */
    while (n-- && pool.idle > pool.waking) {
        pool.waking++;
        pthread_cond_signal(&pool.cond);
    }
    pthread_mutex_unlock(&pool.lock);
}

/* On the loop: the job is back. */
static void finish_job(cio_loop *loop, struct cio__job *job)
{
    cio_future *fut = job->fut;
    cio__future_set_cancel_hook(fut, NULL, NULL);
    bool ran = atomic_load_explicit(&job->state, memory_order_relaxed) != JOB_CANCELLED;
    /* A result only the future could hand on: it takes it (with its
     * destructor) if it still can, else the destructor has it now. */
    void *orphan = NULL;
    if (!ran) {
        if (!cio_future_is_done(fut))
            cio_future_cancel(fut);
        if (job->arg_free)
            job->arg_free(job->arg);
    } else if (job->rc < 0) {
        orphan = job->result;
        if (!cio_future_is_done(fut))
            cio_future_set_error(fut, job->rc);
    } else if (cio_future_is_done(fut) ||
               cio_future_set_result(fut, job->result, job->result_free) != 0) {
        orphan = job->result;
    }
    if (orphan && job->result_free)
        job->result_free(orphan);
    cio_future_unref(fut);
    loop->jobs_inflight--;
    job_release(loop, job);
}

static void job_done(void *arg)
{
    struct cio__job *job = arg;
    finish_job(job->loop, job);
}

void cio__jobs_drain(cio_loop *loop)
{
    struct cio__job *list = atomic_exchange_explicit(&loop->done_jobs, NULL, memory_order_acquire);
    /* The stack is newest first: reverse it to complete in finish order. */
    struct cio__job *fifo = NULL;
    while (list) {
        struct cio__job *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        struct cio__job *job = fifo;
        fifo = job->next;
        finish_job(loop, job);
    }
}

void cio__jobs_free_cache(cio_loop *loop)
{
    while (loop->job_free) {
        struct cio__job *j = loop->job_free;
        loop->job_free = j->next;
        free(j);
    }
    free(loop->submit);
    loop->submit = NULL;
    loop->submit_cap = 0;
}
