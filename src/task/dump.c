/* Introspection: the task dump and the stall watchdog. */
#include <dlfcn.h>
#include <pthread.h>
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

int cio_task_dump(cio_loop *loop, int fd)
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
            if (cio_is_task(t->awaiting))
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

/* ---- the stall watchdog ---------------------------------------------------------- */

struct watchdog {
    cio_loop *loop;
    pthread_t thread;
    int64_t limit_ns;
    _Atomic bool stop;
    /* The running task's name, copied by the loop thread on every resume:
     * the monitor never touches a task, which may end at any moment. */
    pthread_mutex_t lock;
    char task[64];
};

void cio__watchdog_publish(cio_loop *loop, struct cio__task *t)
{
    struct watchdog *w = loop->watchdog;
    if (!w)
        return;
    const char *name = cio_task_name(t->fut);
    pthread_mutex_lock(&w->lock);
    snprintf(w->task, sizeof w->task, "%s", name ? name : "?");
    pthread_mutex_unlock(&w->lock);
}

static void *watch(void *arg)
{
    struct watchdog *w = arg;
    cio_loop *loop = w->loop;
    uint64_t last = atomic_load(&loop->progress);
    int64_t since = cio__now_ns();
    bool reported = false;
    while (!atomic_load(&w->stop)) {
        struct timespec ts = {0, (long)(w->limit_ns / 4 > 1000000 ? w->limit_ns / 4 : 1000000)};
        nanosleep(&ts, NULL);
        uint64_t p = atomic_load(&loop->progress);
        int64_t now = cio__now_ns();
        /* A sleeping loop is idle, not stalled. */
        if (p != last || atomic_load(&loop->sleeping)) {
            last = p;
            since = now;
            reported = false;
            continue;
        }
        if (!reported && now - since > w->limit_ns) {
            reported = true;
            char what[200];
            bool in_task = __atomic_load_n(&loop->task_running, __ATOMIC_ACQUIRE);
            const void *cb = __atomic_load_n(&loop->current_cb, __ATOMIC_RELAXED);
            if (in_task) {
                pthread_mutex_lock(&w->lock);
                snprintf(what, sizeof what, "task %s", w->task);
                pthread_mutex_unlock(&w->lock);
            } else if (cb) {
                cio__describe_fn(cb, what, sizeof what);
            } else {
                snprintf(what, sizeof what, "the loop itself");
            }
            cio_loop_report(loop, "stall: the loop has not polled for %.3f s; running: %s",
                            (double)(now - since) / 1e9, what);
        }
    }
    return NULL;
}

int cio_loop_set_stall_watchdog(cio_loop *loop, double seconds)
{
    if (!loop || loop->closed || seconds != seconds)
        return -EINVAL;
    struct watchdog *w = loop->watchdog;
    if (w) {
        atomic_store(&w->stop, true);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->lock);
        free(w);
        loop->watchdog = NULL;
        loop->watched = false;
    }
    if (seconds <= 0)
        return 0;
    w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->loop = loop;
    w->limit_ns = (int64_t)(seconds * 1e9);
    pthread_mutex_init(&w->lock, NULL);
    loop->watchdog = w;
    loop->watched = true;
    int rc = pthread_create(&w->thread, NULL, watch, w);
    if (rc) {
        pthread_mutex_destroy(&w->lock);
        free(w);
        loop->watchdog = NULL;
        loop->watched = false;
        return -rc;
    }
    return 0;
}

/* Debug mode: SIGUSR1 dumps every task of every loop that asked for it. */
void cio__dump_on_signal(void *arg)
{
    cio_task_dump(arg, 2);
}
