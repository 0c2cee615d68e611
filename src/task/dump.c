/* Introspection: the task dump and the stall watchdog. */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static const char *state_name(const struct cio__task *t)
{
    switch (t->state) {
    case CIO__T_NEW:
        return "new";
    case CIO__T_READY:
        return "ready";
    case CIO__T_RUNNING:
        return "running";
    case CIO__T_SUSPENDED:
        return "suspended";
    case CIO__T_DONE:
        return "done";
    }
    return "?";
}

/* Walks a suspended task's frame-pointer chain, within its stack. */
static void backtrace_task(const struct cio__task *t, FILE *f)
{
#if !defined(CIO_CTX_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__))
    if (t->state != CIO__T_SUSPENDED && t->state != CIO__T_READY)
        return;
    uintptr_t lo = (uintptr_t)t->stack->lo, hi = lo + t->stack->usable;
    const uint64_t *sp = t->ctx.sp;
#if defined(__x86_64__)
    uintptr_t fp = sp[6];                 /* saved rbp (see arch/x86_64.S) */
    uintptr_t pc = sp[7];                 /* return address into the task */
#else
    uintptr_t fp = sp[10];                /* saved x29 */
    uintptr_t pc = sp[11];                /* saved x30 */
#endif
    for (int depth = 0; depth < 32 && pc; depth++) {
        Dl_info info;
        if (dladdr((void *)pc, &info) && info.dli_sname)
            fprintf(f, "      #%d %s+0x%lx\n", depth, info.dli_sname,
                    (unsigned long)(pc - (uintptr_t)info.dli_saddr));
        else if (dladdr((void *)pc, &info) && info.dli_fname)
            fprintf(f, "      #%d %s+0x%lx\n", depth, info.dli_fname,
                    (unsigned long)(pc - (uintptr_t)info.dli_fbase));
        else
            fprintf(f, "      #%d %p\n", depth, (void *)pc);
        if (fp < lo || fp + 16 > hi || (fp & 7))
            break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t next = frame[0];
        pc = frame[1];
        if (next <= fp)
            break;
        fp = next;
    }
#else
    (void)t;
    fprintf(f, "      (no backtrace with the ucontext fallback)\n");
#endif
}

int cio_task_dump_all(cio_loop *loop, int fd)
{
    if (!loop || fd < 0)
        return -EINVAL;
    int dupfd = dup(fd);
    if (dupfd < 0)
        return -errno;
    FILE *f = fdopen(dupfd, "w");
    if (!f) {
        close(dupfd);
        return -ENOMEM;
    }
    fprintf(f, "cio task dump: %zu task(s)\n", loop->ntasks);
    for (struct cio__task *t = loop->tasks; t; t = t->next) {
        char awaits[96] = "-";
        if (t->awaiting) {
            const char *n = cio_future_name(t->awaiting);
            if (cio_future_is_task(t->awaiting))
                snprintf(awaits, sizeof awaits, "task %s", cio_task_name(t->awaiting));
            else if (n)
                snprintf(awaits, sizeof awaits, "future %s", n);
            else
                snprintf(awaits, sizeof awaits, "future %p", (void *)t->awaiting);
        } else if (t->timer_armed) {
            snprintf(awaits, sizeof awaits, "a timer (sleep or deadline)");
        }
        fprintf(f, "  task %s: %s%s, awaiting %s, owner %s, age %.3f s, stack %zu KiB\n",
                cio_task_name(t->fut), state_name(t), t->cancelled ? " (cancelled)" : "",
                awaits, t->group ? "a task group" : t->root_owned ? "root" : "a generator",
                (double)(loop->now - t->created) / 1e9, t->stack->usable / 1024);
        backtrace_task(t, f);
    }
    fclose(f);
    return 0;
}

/* ---- the stall watchdog ----------------------------------------------------------
 *
 * The loop thread pays for the watchdog with one release store per task
 * switch (the running task, see cio__watch_publish) and one relaxed store
 * per callback (loop.c): no lock, no formatting, no system call. Names are
 * copied by the monitor, and only when it reports a stall.
 *
 * Reading a task's name from another thread is safe by a hazard handshake.
 * The monitor announces the task it is about to read (`reading`) and then
 * checks that the task is still the published one; the loop thread, before
 * it frees or renames a task's state, unpublishes it and then waits while
 * the monitor announces that task (cio__watch_forget). Both sides store,
 * then load the other's variable, all seq_cst: one of them must see the
 * other's store, so either the monitor backs off or the loop waits for it
 * to finish. The loop waits for at most one name copy, and only when a
 * stall is being reported at the very moment its task ends. */

struct watchdog {
    struct cio__watch_pub pub; /* first: the task layer reaches it through loop->watchdog */
    cio_loop *loop;
    pthread_t thread;
    int64_t limit_ns;
    /* stop, and the monitor's sleep between looks (a cond wait, so that
     * stopping does not wait for a look) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

void cio__watch_forget(cio_loop *loop, struct cio__task *t)
{
    struct cio__watch_pub *pub = loop->watchdog;
    if (!pub)
        return;
    struct cio__task *cur = atomic_load_explicit(&pub->running, memory_order_relaxed);
    atomic_store_explicit(&pub->running, cur == t ? NULL : cur, memory_order_seq_cst);
    while (atomic_load_explicit(&pub->reading, memory_order_seq_cst) == t)
        sched_yield(); /* the monitor is copying t's name: a few hundred ns */
}

/* Names t, the running task, into buf ("task NAME"); false if the loop has
 * moved on meanwhile (t is no longer the task published). */
static bool name_running_task(struct watchdog *w, struct cio__task *t, char *buf, size_t len)
{
    struct cio__watch_pub *pub = &w->pub;
    atomic_store_explicit(&pub->reading, t, memory_order_seq_cst);
    bool ok = atomic_load_explicit(&pub->running, memory_order_seq_cst) == t;
    if (ok) {
        /* The task's own state and its future stay put until we clear
         * `reading`. An unnamed task is named by its id, as cio_task_name
         * would, without writing the name into the future from here. */
        const char *name = cio_future_name(t->fut);
        if (name)
            snprintf(buf, len, "task %s", name);
        else
            snprintf(buf, len, "task task-%llu", (unsigned long long)t->id);
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
        return name_running_task(w, (struct cio__task *)what, buf, len);
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

static void watchdog_stop(cio_loop *loop)
{
    struct watchdog *w = loop->watchdog;
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
    if (loop->watchdog)
        watchdog_stop(loop);
    if (seconds <= 0)
        return 0;
    struct watchdog *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->loop = loop;
    w->limit_ns = seconds >= 9.2e9 ? INT64_MAX : (int64_t)(seconds * 1e9);
    /* Called from a task, that task runs now. */
    atomic_init(&w->pub.running, (struct cio__task *)loop->current_task);
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
    loop->watchdog = w;
    loop->watched = true;
    return 0;
}

/* Debug mode: SIGUSR1 dumps every task of every loop that asked for it. */
void cio__dump_on_signal(void *arg)
{
    cio_task_dump_all(arg, 2);
}
