/* The stall watchdog: a monitor thread that reports when the loop has not
 * come back to its poll for too long, naming what runs at that moment.
 *
 * The loop thread pays for it with one relaxed store per callback
 * (run_ready_watched in loop.c), a counter per poll, and one release store
 * per task switch (the running task, cio__watch_publish in src/core.h): no
 * lock, no formatting, no system call. Descriptions are made by the
 * monitor, and only when it reports a stall.
 *
 * The core does not know what a task is: the layer above publishes an
 * opaque pointer for the task it runs, and describes it on request through
 * its hook (cio__hooks.describe_task). Describing a task from another
 * thread is safe by a hazard handshake. The monitor announces the task it
 * is about to read (`reading`) and then checks that the task is still the
 * published one; the loop thread, before it frees or renames a task,
 * unpublishes it and then waits while the monitor announces that task
 * (cio__watch_forget). Both sides store, then load the other's variable,
 * all seq_cst: one of them must see the other's store, so either the
 * monitor backs off or the loop waits for it to finish. The loop waits for
 * at most one description, and only when a stall is being reported at the
 * very moment its task ends. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../core.h"

struct watchdog {
    struct cio__watch_pub pub; /* first: loop->watchdog points here */
    cio_loop *loop;
    pthread_t thread;
    int64_t limit_ns;
    /* stop, and the monitor's sleep between looks (a cond wait, so that
     * stopping does not wait for a look) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

void cio__watch_forget_slow(cio_loop *loop, const void *task)
{
    struct cio__watch_pub *pub = loop->watchdog;
    if (!pub)
        return;
    void *cur = atomic_load_explicit(&pub->running, memory_order_relaxed);
    atomic_store_explicit(&pub->running, cur == task ? NULL : cur, memory_order_seq_cst);
    while (atomic_load_explicit(&pub->reading, memory_order_seq_cst) == task)
        sched_yield(); /* the monitor is describing the task: a few hundred ns */
}

/* Describes task, the running task, into buf through the layer above's
 * hook; false if the loop has moved on meanwhile (task is no longer the
 * one published). */
static bool describe_task(struct watchdog *w, void *task, char *buf, size_t len)
{
    struct cio__watch_pub *pub = &w->pub;
    atomic_store_explicit(&pub->reading, task, memory_order_seq_cst);
    bool ok = atomic_load_explicit(&pub->running, memory_order_seq_cst) == task;
    if (ok) {
        /* The task stays put until we clear `reading`. Only the layer that
         * registered the hook publishes tasks, so the hook is there. */
        if (cio__hooks.describe_task)
            cio__hooks.describe_task(task, buf, len);
        else
            snprintf(buf, len, "task %p", task);
    }
    atomic_store_explicit(&pub->reading, NULL, memory_order_release);
    return ok;
}

/* What the loop runs now, as an identity: the task, else the callback,
 * else NULL (the loop itself). */
static const void *running_now(struct watchdog *w)
{
    const void *t = atomic_load_explicit(&w->pub.running, memory_order_acquire);
    return t ? t : __atomic_load_n(&w->loop->current_cb, __ATOMIC_RELAXED);
}

/* Describes `what` (from running_now) for the report; false if it is no
 * longer running. */
static bool describe_running(struct watchdog *w, const void *what, char *buf, size_t len)
{
    if (what && what == atomic_load_explicit(&w->pub.running, memory_order_acquire))
        return describe_task(w, (void *)what, buf, len);
    if (what != running_now(w))
        return false;
    if (what)
        cio__describe_fn(what, buf, len); /* a code address: always safe to look up */
    else
        snprintf(buf, len, "the loop itself");
    return true;
}

/* The monitor. A stall (no poll for longer than the limit) is reported
 * once, blaming what runs at that moment; if, still without a poll, later
 * something else runs for longer than the limit, that is reported too: the
 * first culprit may only have started the stall (a slow step) and not be
 * the one that keeps the loop from polling. */
static void *watch(void *arg)
{
    struct watchdog *w = arg;
    cio_loop *loop = w->loop;
    /* Look four times per limit (a stall is seen between limit and 1.25 x
     * limit after it began), but at most every millisecond. */
    int64_t period = w->limit_ns / 4 > 1000000 ? w->limit_ns / 4 : 1000000;
    uint64_t last = atomic_load(&loop->progress);
    int64_t since = cio__now_ns();
    const void *seen = NULL, *blamed = NULL;
    int64_t seen_since = since;
    bool reported = false;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = (int64_t)until.tv_nsec + period % 1000000000;
        until.tv_sec += (time_t)(period / 1000000000 + ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&w->cond, &w->lock, &until);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->lock);
        uint64_t p = atomic_load(&loop->progress);
        int64_t now = cio__now_ns();
        const void *cur = running_now(w);
        if (cur != seen) {
            seen = cur;
            seen_since = now;
        }
        /* A sleeping loop is idle, not stalled. */
        if (p != last || atomic_load(&loop->sleeping)) {
            last = p;
            since = seen_since = now;
            reported = false;
        } else if (reported ? cur != blamed && now - seen_since > w->limit_ns
                            : now - since > w->limit_ns) {
            char what[200];
            if (describe_running(w, cur, what, sizeof what)) {
                reported = true;
                blamed = cur;
                cio_loop_report(loop, "stall: the loop has not polled for %.3f s; running: %s",
                                (double)(now - since) / 1e9, what);
            }
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void cio__watchdog_stop(cio_loop *loop)
{
    struct watchdog *w = (struct watchdog *)loop->watchdog;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    loop->watched = false;
    loop->watchdog = NULL;
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

int cio_loop_set_stall_watchdog(cio_loop *loop, double seconds)
{
    if (!loop || loop->closed || seconds != seconds)
        return -EINVAL;
    cio__watchdog_stop(loop);
    if (seconds <= 0)
        return 0;
    struct watchdog *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->loop = loop;
    w->limit_ns = seconds >= 9.2e9 ? INT64_MAX : (int64_t)(seconds * 1e9);
    /* Called from a task, that task runs now. */
    atomic_init(&w->pub.running, loop->current_task);
    atomic_init(&w->pub.reading, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) {
        free(w);
        return -rc;
    }
    pthread_mutex_init(&w->lock, NULL);
    /* The monitor takes no signal meant for the process: those belong to
     * the threads that run loops. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, watch, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return -rc;
    }
#ifdef __linux__
    /* Named here, not by the thread, so it has its name on return (top -H
     * shows it; a test finds it by it). */
    pthread_setname_np(w->thread, "cio-watchdog");
#endif
    loop->watchdog = &w->pub;
    loop->watched = true;
    return 0;
}
