/* Introspection: the task dump, and the description of the running task for
 * the loop's stall watchdog (src/loop/watchdog.c). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    struct cio__task_loop *tl = cio__task_loop(loop);
    fprintf(f, "cio task dump: %zu task(s)\n", tl->ntasks);
    for (struct cio__task *t = tl->tasks; t; t = t->next) {
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
                (double)(cio__loop_now(loop) - t->created) / 1e9, t->stack->usable / 1024);
        backtrace_task(t, f);
    }
    fclose(f);
    return 0;
}

/* The stall watchdog's description of the running task (src/loop/watchdog.c
 * calls it on its own thread, while the loop thread keeps t and its name
 * in place). An unnamed task is named by its id, as cio_task_name would,
 * without writing the name into the future from here. */
void cio__task_describe(const void *task, char *buf, size_t len)
{
    const struct cio__task *t = task;
    const char *name = cio_future_name(t->fut);
    if (name)
        snprintf(buf, len, "task %s", name);
    else
        snprintf(buf, len, "task task-%llu", (unsigned long long)t->id);
}
