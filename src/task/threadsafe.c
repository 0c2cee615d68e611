/* cio_spawn_threadsafe: asyncio.run_coroutine_threadsafe.
 *
 * A thread future has two sides. The thread side is whoever holds the
 * pointer (any thread: wait, poll, cancel, free). The loop side is a
 * cio_call_soon_threadsafe call that starts the task, and then the task's
 * done-callback, which publishes the outcome under the mutex and wakes the
 * waiters. Each side holds a reference; the object goes with the last, so
 * either side may finish first. A cancel request in flight holds a third.
 *
 * The loop is only ever touched from the thread side while the task has not
 * ended, under the mutex (cancel): the done-callback takes the same mutex,
 * so until it has run the task is live or its start is pending, and the
 * loop can neither close nor be freed. Once the task ended, the thread side
 * never looks at the loop again (wait compares its address, nothing more),
 * so a thread future may outlive its loop. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/opts.h"
#include "internal.h"

struct cio_thread_future {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    _Atomic int refs;
    _Atomic bool done;  /* set under lock; read without it by is_done */
    bool released;      /* the thread side freed it */
    bool handed;        /* a wait handed the result out */
    bool cancel_sent;
    unsigned waiters;   /* threads inside wait */
    int rc;             /* the task's outcome */
    void *result;
    cio_free_fn result_free;
    /* Set by the spawning thread, read by the loop side. */
    cio_loop *loop;
    cio_task_fn fn;
    void *arg;
    char *name;
    /* The caller's options, copied at the call (their struct may be gone,
     * or smaller than this library's, by the time the loop starts it). */
    cio_task_options opts;
    /* Loop side only. */
    cio_task *task; /* until it ends */
};

static void tf_unref(cio_thread_future *tf)
{
    if (atomic_fetch_sub_explicit(&tf->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_cond_destroy(&tf->cond);
    pthread_mutex_destroy(&tf->lock);
    free(tf->name);
    free(tf);
}

/* Loop side: publishes the outcome and wakes every waiter. */
static void publish(cio_thread_future *tf, int rc, void *result, cio_free_fn result_free)
{
    tf->rc = rc;
    tf->result = result;
    tf->result_free = result_free;
    atomic_store_explicit(&tf->done, true, memory_order_release);
    pthread_cond_broadcast(&tf->cond);
}

static void task_done(cio_future *task, void *arg)
{
    cio_thread_future *tf = arg;
    pthread_mutex_lock(&tf->lock);
    if (tf->released) {
        /* Nobody will read the outcome: the task's future keeps its
         * result, freed with it by its destructor, and an error stays
         * unretrieved, so the loop reports it when the future goes. */
        atomic_store_explicit(&tf->done, true, memory_order_release);
    } else {
        /* The destructor is read before the take clears it: the result
         * becomes the thread side's, destructor and all. */
        cio_free_fn dtor = cio__future_result_free(task);
        void *value = NULL;
        int rc = cio_future_take_result(task, &value);
        publish(tf, rc, rc == 0 ? value : NULL, rc == 0 ? dtor : NULL);
    }
    pthread_mutex_unlock(&tf->lock);
    tf->task = NULL;
    cio_future_unref(task);
    tf_unref(tf);
}

static void start_cb(void *arg)
{
    cio_thread_future *tf = arg;
    cio_task_options opts = tf->opts;
    opts.name = tf->name;
    cio_task *task;
    /* Accepted just before cio_run's end closed the loop to threadsafe
     * calls, after it had cancelled and waited for every task: a task
     * started now would never be run to its end, and the thread future
     * would never complete. It ends as a task cancelled before it ran. */
    int rc = cio__loop_shutting_down(tf->loop)
                 ? -ECANCELED
                 : cio_task_new(tf->loop, &opts, tf->fn, tf->arg, &task);
    if (rc == 0) {
        /* A new future's first done-callback takes an inline slot: this
         * cannot fail. Were it to, the task would run unobserved. */
        rc = cio_future_add_done_callback(task, task_done, tf);
        if (rc == 0) {
            tf->task = task;
            /* A cancel made before this ran: its call normally runs after
             * this one (it happened after the spawn), and finds the task;
             * this covers a program that handed tf over unordered. */
            pthread_mutex_lock(&tf->lock);
            bool cancel = tf->cancel_sent;
            pthread_mutex_unlock(&tf->lock);
            if (cancel)
                cio_future_cancel(task);
            return;
        }
        cio_loop_report(tf->loop, "cio_spawn_threadsafe: cannot watch task %s: %s",
                        cio_task_name(task), cio_strerror(rc));
        cio_future_unref(task);
    }
    pthread_mutex_lock(&tf->lock);
    if (!tf->released)
        publish(tf, rc, NULL, NULL);
    else
        atomic_store_explicit(&tf->done, true, memory_order_release);
    pthread_mutex_unlock(&tf->lock);
    tf_unref(tf);
}

int cio_spawn_threadsafe(cio_loop *loop, const cio_task_options *opts, cio_task_fn fn, void *arg,
                         cio_thread_future **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!loop || !fn)
        return -EINVAL;
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    cio_thread_future *tf = calloc(1, sizeof *tf);
    if (!tf)
        return -ENOMEM;
    tf->opts = o;
    if (o.name && !(tf->name = strdup(o.name))) {
        free(tf);
        return -ENOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&tf->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) {
        free(tf->name);
        free(tf);
        return -rc;
    }
    pthread_mutex_init(&tf->lock, NULL);
    atomic_init(&tf->refs, 2); /* the thread side and the loop side */
    atomic_init(&tf->done, false);
    tf->loop = loop;
    tf->fn = fn;
    tf->arg = arg;
    rc = cio_call_soon_threadsafe(loop, start_cb, tf);
    if (rc) {
        atomic_store_explicit(&tf->refs, 1, memory_order_relaxed);
        tf_unref(tf);
        return rc;
    }
    *out = tf;
    return 0;
}

/* True if this thread is running tf's loop: a callback or a task of it. */
static bool on_loop_thread(const cio_thread_future *tf)
{
    if (cio__tls_loop == tf->loop)
        return true;
    struct cio__task *t = cio__task_current();
    return t && t->loop == tf->loop;
}

int cio_thread_future_wait(cio_thread_future *tf, double timeout, void **result)
{
    if (!tf || timeout != timeout)
        return -EINVAL;
    if (result)
        *result = NULL;
    if (timeout != 0 && !atomic_load_explicit(&tf->done, memory_order_acquire) &&
        on_loop_thread(tf))
        return -EDEADLK;
    struct timespec until;
    if (timeout > 0) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        /* A century is forever, and keeps tv_sec far from overflow. */
        double s = timeout > 3.2e9 ? 3.2e9 : timeout;
        time_t whole = (time_t)s;
        until.tv_sec += whole;
        until.tv_nsec += (long)((s - (double)whole) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&tf->lock);
    tf->waiters++;
    int rc = 0;
    while (!atomic_load_explicit(&tf->done, memory_order_relaxed)) {
        if (timeout == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (timeout < 0) {
            pthread_cond_wait(&tf->cond, &tf->lock);
        } else if (pthread_cond_timedwait(&tf->cond, &tf->lock, &until) == ETIMEDOUT &&
                   !atomic_load_explicit(&tf->done, memory_order_relaxed)) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    if (rc == 0) {
        rc = tf->rc;
        if (rc == 0 && result) {
            *result = tf->result;
            tf->handed = true;
        }
    }
    tf->waiters--;
    pthread_mutex_unlock(&tf->lock);
    return rc;
}

bool cio_thread_future_is_done(const cio_thread_future *tf)
{
    return tf && atomic_load_explicit(&tf->done, memory_order_acquire);
}

static void cancel_cb(void *arg)
{
    cio_thread_future *tf = arg;
    /* Calls from threads that saw the thread future run after the call
     * that started its task, so a task that is not set here has ended. */
    if (tf->task)
        cio_future_cancel(tf->task);
    tf_unref(tf);
}

int cio_thread_future_cancel(cio_thread_future *tf)
{
    if (!tf)
        return -EINVAL;
    pthread_mutex_lock(&tf->lock);
    int rc = 0;
    if (atomic_load_explicit(&tf->done, memory_order_relaxed)) {
        rc = -EINVAL;
    } else if (!tf->cancel_sent) {
        /* Under the lock: the task cannot end meanwhile (task_done waits
         * for it), so the loop cannot be closed or freed under this call. */
        atomic_fetch_add_explicit(&tf->refs, 1, memory_order_relaxed);
        rc = cio_call_soon_threadsafe(tf->loop, cancel_cb, tf);
        if (rc)
            atomic_fetch_sub_explicit(&tf->refs, 1, memory_order_relaxed); /* never the last */
        else
            tf->cancel_sent = true;
    }
    pthread_mutex_unlock(&tf->lock);
    return rc;
}

int cio_thread_future_free(cio_thread_future *tf)
{
    if (!tf)
        return 0;
    pthread_mutex_lock(&tf->lock);
    if (tf->waiters) {
        pthread_mutex_unlock(&tf->lock);
        return -EBUSY;
    }
    tf->released = true;
    void *orphan = NULL;
    cio_free_fn orphan_free = NULL;
    if (atomic_load_explicit(&tf->done, memory_order_relaxed) && !tf->handed &&
        tf->result_free) {
        orphan = tf->result;
        orphan_free = tf->result_free;
    }
    pthread_mutex_unlock(&tf->lock);
    if (orphan)
        orphan_free(orphan);
    tf_unref(tf);
    return 0;
}
