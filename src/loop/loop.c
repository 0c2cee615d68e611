/* The event loop: lifecycle, the iteration, the callback queue, remote work.
 *
 * One iteration, in order (asyncio's):
 *   1. poll the backend (blocking only if nothing is ready), running the
 *      callbacks of ready descriptors; refresh the cached clock; take in
 *      remote work (threadsafe calls, pool completions, signals); then
 *      collect the timers due now;
 *   2. run the callbacks that were ready when this step began;
 *   3. fire the timers collected in step 1.
 * Whatever steps 2 and 3 schedule waits for the next iteration.
 *
 * While callbacks are ready, the poll of step 1 is skipped until
 * CIO_POLL_INTERVAL callbacks have run or CIO_POLL_INTERVAL_MS have passed
 * since the last poll: a chain of call_soon callbacks then costs no system
 * call per callback. The clock is still read on every iteration whenever a
 * timer is pending, so a due timer waits for no poll: it fires at the end of
 * the next iteration (a vDSO clock read costs about 20 ns); and whenever
 * the poll has anything to find, so its wait is bounded in time too. A loop
 * with nothing but ready callbacks reads no clock at all between polls.
 * When no descriptor is watched, a non-blocking poll needs no system call
 * either: remote work announces itself through memory (remote_pending), and
 * the eventfd is only written when the loop is, or is about to be, asleep. */
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/opts.h"
#include "../core.h"

void cio__spin_ns(int64_t ns)
{
    int64_t end = cio__now_ns() + ns;
    do {
        for (int i = 0; i < 8; i++)
            cio__cpu_relax();
    } while (cio__now_ns() < end);
}

int64_t cio__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void default_report(cio_loop *loop, const char *message, void *arg)
{
    (void)loop;
    (void)arg;
    fprintf(stderr, "cio: %s\n", message);
}

void cio_loop_report(cio_loop *loop, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (loop && loop->report)
        loop->report(loop, buf, loop->report_arg);
    else
        default_report(loop, buf, NULL);
}

void cio_loop_set_report_handler(cio_loop *loop, cio_report_fn fn, void *arg)
{
    if (!loop)
        return;
    loop->report = fn ? fn : default_report;
    loop->report_arg = fn ? arg : NULL;
}

const char *cio__describe_fn(const void *fn, char *buf, size_t len)
{
    Dl_info info;
    if (dladdr(fn, &info) && info.dli_sname) {
        snprintf(buf, len, "%s()", info.dli_sname);
    } else if (dladdr(fn, &info) && info.dli_fname) {
        const char *base = strrchr(info.dli_fname, '/');
        char sym[128];
        if (cio__static_symbol(fn, info.dli_fname, info.dli_fbase, sym, sizeof sym, NULL))
            snprintf(buf, len, "%s() (%s)", sym, base ? base + 1 : info.dli_fname);
        else
            snprintf(buf, len, "%p (%s+0x%lx)", fn, base ? base + 1 : info.dli_fname,
                     (unsigned long)((const char *)fn - (const char *)info.dli_fbase));
    } else {
        snprintf(buf, len, "%p", fn);
    }
    return buf;
}

const char *cio__describe_site(const void *addr, char *buf, size_t len)
{
    Dl_info info;
    const ElfW(Sym) *dsym = NULL;
    if (!dladdr1(addr, &info, (void **)&dsym, RTLD_DL_SYMENT) || !info.dli_fname) {
        snprintf(buf, len, "%p", addr);
        return buf;
    }
    const char *base = strrchr(info.dli_fname, '/');
    base = base ? base + 1 : info.dli_fname;
    uintptr_t a = (uintptr_t)addr;
    /* The dynamic symbol only if addr is inside it: dladdr may otherwise
     * answer with the nearest exported function before a static one. */
    if (info.dli_sname && info.dli_saddr && dsym && a >= (uintptr_t)info.dli_saddr &&
        a < (uintptr_t)info.dli_saddr + dsym->st_size) {
        snprintf(buf, len, "%s+0x%lx (%s)", info.dli_sname,
                 (unsigned long)(a - (uintptr_t)info.dli_saddr), base);
        return buf;
    }
    char sym[128];
    uintptr_t start;
    if (cio__static_symbol(addr, info.dli_fname, info.dli_fbase, sym, sizeof sym, &start))
        snprintf(buf, len, "%s+0x%lx (%s)", sym, (unsigned long)(a - start), base);
    else
        snprintf(buf, len, "%p (%s+0x%lx)", addr, base,
                 (unsigned long)(a - (uintptr_t)info.dli_fbase));
    return buf;
}

int cio__check_thread_slow(cio_loop *loop, const char *fn)
{
    if (pthread_equal(loop->owner, pthread_self()))
        return 0;
    cio_loop_report(loop,
                    "%s() called from a thread that does not own the loop; only *_threadsafe "
                    "functions may be called from other threads",
                    fn);
    return -EPERM;
}

struct cio__core_hooks cio__hooks;

void cio__core_register(const struct cio__core_hooks *hooks) { cio__hooks = *hooks; }

__thread uint64_t cio__slow_task_steps;

/* Debug mode: SIGUSR1 dumps every task of every loop that asked for it
 * (through the layer above, which knows the tasks). */
static void dump_on_signal(void *loop)
{
    if (cio__hooks.dump_tasks)
        cio__hooks.dump_tasks(loop, 2);
}

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

int cio_loop_new(const cio_loop_options *opts, cio_loop **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
    int err = cio__opts_copy(&o, sizeof o, opts);
    if (err)
        return err;
    const char *bname = o.backend;
    if (!bname || !*bname)
        bname = getenv("CIO_BACKEND");
    const struct cio__backend *be = &cio__backend_epoll;
    if (bname && *bname) {
        if (strcmp(bname, "epoll") == 0)
            be = &cio__backend_epoll;
        else if (strcmp(bname, "poll") == 0)
            be = &cio__backend_poll;
        else
            return -EINVAL;
    }
    if (o.slow_callback_duration < 0 || isnan(o.slow_callback_duration))
        return -EINVAL;

    cio_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return -ENOMEM;
    loop->mask = 255;
    loop->ring = malloc((loop->mask + 1) * sizeof *loop->ring);
    memset(loop->cbtab, 0, sizeof loop->cbtab);
    if (!loop->ring) {
        free(loop);
        return -ENOMEM;
    }
    loop->debug = o.debug > 0 || (o.debug == 0 && env_flag("CIO_DEBUG"));
    loop->slow_ns = o.slow_callback_duration > 0 ? (int64_t)(o.slow_callback_duration * 1e9)
                                                 : 100000000;
    loop->report = default_report;
    loop->owner = pthread_self();
    loop->now = cio__now_ns();
    loop->backend = be;
    loop->wakefd = -1;
    pthread_mutex_init(&loop->ts_lock, NULL);
    cio__ts_init();
    loop->id = cio__loop_new_id();
    loop->ts_next_seq = 1;
    cio__wheel_init(&loop->wheel, loop->now);

    int rc;
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wakefd < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = cio__io_init(loop)) != 0)
        goto fail;
    if ((rc = be->init(loop)) != 0)
        goto fail;
    if (loop->debug && cio__hooks.dump_tasks &&
        cio_loop_add_signal_handler(loop, SIGUSR1, dump_on_signal, loop) == 0)
        loop->internal_signals = 1; /* debug mode: SIGUSR1 prints the task dump */
    *out = loop;
    return 0;
fail:
    cio__io_free(loop);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    cio__wheel_free(&loop->wheel);
    pthread_mutex_destroy(&loop->ts_lock);
    free(loop->ring);
    free(loop);
    return rc;
}

static void remote_drain(cio_loop *loop);

/* Decodes the ready entry at word i without running it: returns its
 * length in words and sets *fn (the callback) and *fut (the future of a
 * done-callback entry, else NULL). The run path (run_entry) decodes inline. */
static uint64_t entry_at(const cio_loop *loop, uint64_t i, const void **fn, cio_future **fut)
{
    uint64_t w = loop->ring[i & loop->mask];
    *fut = NULL;
    if (w >> 56) {
        *fn = (const void *)loop->cbtab[(w >> 56) - 1];
        return 1;
    }
    if (w == CIO__RQ_PLAIN) {
        *fn = (const void *)(uintptr_t)loop->ring[(i + 1) & loop->mask];
        return 3;
    }
    *fut = (cio_future *)(uintptr_t)loop->ring[(i + 1) & loop->mask];
    *fn = (const void *)(uintptr_t)loop->ring[(i + 2) & loop->mask];
    return 4;
}

/* Debug mode's live list names at most this many objects of a kind; a loop
 * with thousands left would otherwise bury the rest of the report. */
#define LIST_MAX 100

static int by_seq(const void *a, const void *b)
{
    uint64_t x = (*(const struct cio__fsite *const *)a)->seq;
    uint64_t y = (*(const struct cio__fsite *const *)b)->seq;
    return x < y ? -1 : x > y;
}

/* A live future's state, in the user's terms. */
static const char *future_state(cio_future *f, char *buf, size_t len)
{
    int err = cio__future_peek_error(f);
    if (err == -EAGAIN)
        return cio_future_is_task(f) ? "running: its function has not returned"
                                     : "pending: nothing set its result";
    if (cio_future_is_cancelled(f))
        return "cancelled";
    if (err == 0)
        return "done";
    snprintf(buf, len, "failed with %s", cio_err_name(err));
    return buf;
}

/* Debug mode: the live futures and tasks made while debug mode was on, by
 * name, state and creation site, oldest first; a future is live while
 * anyone holds a reference, and a task also until its function returns. */
static void report_live_futures(cio_loop *loop)
{
    struct cio__fsites *t = loop->fsites;
    size_t n = t ? t->n : 0;
    struct cio__fsite **list = n ? malloc(n * sizeof *list) : NULL;
    if (!list)
        n = 0;
    for (size_t i = 0, k = 0; k < n; i++)
        if (t->v[i].fut)
            list[k++] = &t->v[i];
    if (n)
        qsort(list, n, sizeof *list, by_seq);
    for (size_t k = 0; k < n && k < LIST_MAX; k++) {
        cio_future *f = list[k]->fut;
        char addr[32], state[48], site[256];
        bool task = cio_future_is_task(f);
        const char *name = task && cio__hooks.task_name ? cio__hooks.task_name(f)
                                                        : cio_future_name(f);
        if (!name) {
            snprintf(addr, sizeof addr, "%p", (void *)f);
            name = addr;
        }
        cio_loop_report(loop, "loop close: %s %s (%s), made at %s", task ? "task" : "future", name,
                        future_state(f, state, sizeof state),
                        cio__describe_site(list[k]->site, site, sizeof site));
    }
    if (n > LIST_MAX)
        cio_loop_report(loop, "loop close: and %zu more future(s) and task(s)", n - LIST_MAX);
    free(list);
    if (loop->futures_live > n)
        cio_loop_report(loop, "loop close: %zu more future(s) or task(s), made while debug mode "
                              "was off: not listed",
                        (size_t)loop->futures_live - n);
}

/* Debug mode: the pending timers, by callback and due time. */
static void report_live_timers(cio_loop *loop)
{
    struct cio__wheel *w = &loop->wheel;
    size_t listed = 0;
    char buf[128];
    for (uint32_t i = 0; i < w->used && listed < LIST_MAX; i++) {
        struct cio__tnode *n = &w->nodes[i];
        if (n->where == CIO__TW_FREE || n->where == CIO__TW_DEAD)
            continue;
        listed++;
        cio_loop_report(loop, "loop close: timer %s due in %.3f s%s",
                        cio__describe_fn((const void *)n->cb, buf, sizeof buf),
                        (double)(n->deadline - loop->now) / 1e9,
                        w->intervals && w->intervals[i] ? " (repeating)" : "");
    }
    if (w->active > listed)
        cio_loop_report(loop, "loop close: and %zu more timer(s)", (size_t)(w->active - listed));
}

/* Lists what keeps the loop from closing; returns how many kinds. */
static int live_report(cio_loop *loop, bool report)
{
    int kinds = 0;
    size_t ready = loop->tail - loop->head;
    size_t remote = cio__ts_pending(loop);
    struct {
        size_t n;
        const char *what;
    } items[] = {
        {ready, "callback(s) scheduled and not yet run"},
        {remote, "callback(s) from other threads (cio_call_soon_threadsafe) not yet run"},
        {loop->wheel.active, "pending timer(s)"},
        {(size_t)loop->nwatched, "file descriptor(s) with a reader or writer, or waited on"},
        {(size_t)(loop->nsignals - loop->internal_signals), "signal handler(s)"},
        {loop->jobs_inflight, "thread-pool job(s) not yet finished"},
        {loop->futures_live, "future(s) or task(s) still referenced (each reference needs its "
                             "cio_future_unref; a task's own lasts until its function returns)"},
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (!items[i].n)
            continue;
        kinds++;
        if (report)
            cio_loop_report(loop, "loop close refused: %zu %s", items[i].n, items[i].what);
    }
    if (report && loop->nwatched) {
        char buf[128];
        for (int fd = 0; fd < loop->nfds; fd++) {
            struct cio__fdw *w = &loop->fds[fd];
            if (w->mask & CIO__EDGE) {
                if (w->mask != CIO__EDGE)
                    cio_loop_report(loop, "loop close: fd %d is waited on for %s (%s)", fd,
                                    (w->mask & CIO_READABLE) && (w->mask & CIO_WRITABLE)
                                        ? "reading and writing"
                                    : (w->mask & CIO_READABLE) ? "reading"
                                                               : "writing",
                                    cio__describe_fn((const void *)w->rcb, buf, sizeof buf));
                continue;
            }
            if (w->mask & CIO_READABLE)
                cio_loop_report(loop, "loop close: fd %d has reader %s", fd,
                                cio__describe_fn((const void *)w->rcb, buf, sizeof buf));
            if (w->mask & CIO_WRITABLE)
                cio_loop_report(loop, "loop close: fd %d has writer %s", fd,
                                cio__describe_fn((const void *)w->wcb, buf, sizeof buf));
        }
    }
    if (report && ready) {
        char buf[128];
        size_t listed = 0;
        for (uint64_t i = loop->head; i != loop->tail && listed < LIST_MAX; listed++) {
            const void *fn;
            cio_future *fut;
            i += entry_at(loop, i, &fn, &fut);
            cio_loop_report(loop, "loop close: ready callback %s",
                            cio__describe_fn(fn, buf, sizeof buf));
        }
        if (listed == LIST_MAX)
            cio_loop_report(loop, "loop close: and more ready callbacks");
    }
    if (report && loop->wheel.active)
        report_live_timers(loop);
    if (report && loop->nsignals > loop->internal_signals) {
        char buf[128];
        for (int signo = 1; signo <= 64; signo++) {
            if (loop->sig_cb[signo] && !(signo == SIGUSR1 && loop->internal_signals))
                cio_loop_report(loop, "loop close: signal %d (%s) handled by %s", signo,
                                strsignal(signo),
                                cio__describe_fn((const void *)loop->sig_cb[signo], buf,
                                                 sizeof buf));
        }
    }
    if (report && loop->futures_live)
        report_live_futures(loop);
    return kinds;
}

static void close_drain(cio_loop *loop)
{
    int batches = 0;
    do
        remote_drain(loop);
    while (loop->ts_more && ++batches < 1024);
}

int cio_loop_close(cio_loop *loop)
{
    if (!loop)
        return -EINVAL;
    if (loop->closed)
        return 0;
    if (loop->running)
        return -EBUSY;
    if (cio__check_thread(loop, __func__))
        return -EPERM;
    cio__watchdog_stop(loop);
    /* Completed pool work and threadsafe calls count as live until taken in:
     * take them in now so a loop whose work finished can close (and so that
     * cio_run's discard at exit sees them), batch after batch, but not
     * forever while producers keep calling. */
    close_drain(loop);
    if (live_report(loop, false)) {
        if (loop->debug)
            live_report(loop, true);
        return -EBUSY;
    }
    /* From here on threadsafe calls are refused. A call that was accepted
     * (returned 0, or is about to) must run, so wait for the producers
     * still inside a call and look again: if one slipped in, the close
     * fails and the loop stays usable, accepting calls again. */
    cio__ts_close_begin(loop);
    close_drain(loop);
    if (live_report(loop, false)) {
        /* Except in cio_run's end, where nobody would run what a reopened
         * loop accepted (cio__loop_shutdown). */
        if (!loop->shutting_down)
            cio__ts_close_abort(loop);
        if (loop->debug)
            live_report(loop, true);
        return -EBUSY;
    }
    if (loop->internal_signals) {
        cio_loop_remove_signal_handler(loop, SIGUSR1);
        loop->internal_signals = 0;
    }
    cio__signals_close(loop);
    cio__jobs_quiesce();
    loop->backend->free(loop);
    cio__io_free(loop);
    close(loop->wakefd);
    loop->wakefd = -1;
    cio__wheel_free(&loop->wheel);
    cio__futures_free_cache(loop);
    cio__jobs_free_cache(loop);
    loop->closed = true;
    return 0;
}

int cio_loop_free(cio_loop *loop)
{
    if (!loop)
        return 0;
    int rc = cio_loop_close(loop);
    if (rc)
        return rc;
    /* The layers above's per-loop state (cio__loop_set_slot), last first. */
    for (int i = CIO__SLOT_COUNT - 1; i >= 0; i--) {
        void (*fn)(cio_loop *, void *) = loop->slot_free[i];
        void *data = loop->slot[i];
        loop->slot_free[i] = NULL;
        loop->slot[i] = NULL;
        if (fn)
            fn(loop, data);
    }
    free(loop->ring);
    cio__ts_free(loop);
    pthread_mutex_destroy(&loop->ts_lock);
    free(loop);
    return 0;
}

void *cio__loop_slot(cio_loop *loop, int id)
{
    return loop && id >= 0 && id < CIO__SLOT_COUNT ? loop->slot[id] : NULL;
}

void cio__loop_set_slot(cio_loop *loop, int id, void *data, void (*free_fn)(cio_loop *, void *))
{
    if (!loop || id < 0 || id >= CIO__SLOT_COUNT)
        return;
    loop->slot[id] = data;
    loop->slot_free[id] = free_fn;
}

bool cio_loop_is_running(const cio_loop *loop) { return loop && loop->running; }
bool cio_loop_is_closed(const cio_loop *loop) { return !loop || loop->closed; }
bool cio_loop_is_debug(const cio_loop *loop) { return loop && loop->debug; }
void cio_loop_set_debug(cio_loop *loop, bool on)
{
    if (loop)
        loop->debug = on;
}
const char *cio_loop_backend(const cio_loop *loop) { return loop ? loop->backend->name : NULL; }

double cio_loop_time(const cio_loop *loop) { return loop ? (double)loop->now / 1e9 : 0; }
int64_t cio_loop_time_ns(const cio_loop *loop) { return loop ? loop->now : 0; }
void cio_loop_update_time(cio_loop *loop)
{
    if (loop)
        loop->now = cio__now_ns();
}

/* ---- the ready queue ---------------------------------------------------- */

int cio__ready_grow(cio_loop *loop)
{
    uint64_t cap = loop->mask + 1, n = loop->tail - loop->head;
    uint64_t *ring = malloc(2 * cap * sizeof *ring);
    if (!ring)
        return -ENOMEM;
    /* Unwrap into the new ring, keeping order. */
    for (uint64_t i = 0; i < n; i++)
        ring[i] = loop->ring[(loop->head + i) & loop->mask];
    free(loop->ring);
    loop->ring = ring;
    loop->mask = 2 * cap - 1;
    loop->head = 0;
    loop->tail = n;
    loop->rq_limit = 0; /* the next push refreshes it (cio__ready_push_slow) */
    return 0;
}

/* Room for `words` more words. */
static inline int ready_reserve(cio_loop *loop, uint64_t words)
{
    while (loop->tail - loop->head + words > loop->mask + 1) {
        int rc = cio__ready_grow(loop);
        if (rc)
            return rc;
    }
    return 0;
}

static inline void ready_put(cio_loop *loop, uint64_t w)
{
    loop->ring[loop->tail & loop->mask] = w;
    loop->tail++;
}

int cio__ready_push_slow(cio_loop *loop, cio_cb cb, void *arg)
{
    uint64_t a = (uint64_t)(uintptr_t)arg;
    unsigned h = cio__rq_hash(cb);
    if (!loop->cbtab[h])
        loop->cbtab[h] = cb; /* claim the table slot for this callback */
    if (loop->cbtab[h] == cb && !(a >> 56)) {
        int rc = ready_reserve(loop, 1);
        if (rc)
            return rc;
        uint64_t tag = (uint64_t)(h + 1) << 56;
        ready_put(loop, tag | a);
        if (CIO_LIKELY(cb != NULL)) { /* never cached: see cio__ready_push */
            loop->rq_cb = cb;
            loop->rq_tag = tag;
            loop->rq_limit = loop->head + loop->mask + 1;
        }
        return 0;
    }
    int rc = ready_reserve(loop, 3);
    if (rc)
        return rc;
    ready_put(loop, CIO__RQ_PLAIN);
    ready_put(loop, (uint64_t)(uintptr_t)cb);
    ready_put(loop, a);
    return 0;
}

int cio__ready_push_future(cio_loop *loop, cio_future_cb fcb, void *arg, cio_future *fut)
{
    if (CIO_UNLIKELY(loop->tail - loop->head + 4 > loop->mask + 1)) {
        int rc = ready_reserve(loop, 4);
        if (rc)
            return rc;
    }
    uint64_t t = loop->tail, m = loop->mask;
    uint64_t *r = loop->ring;
    r[t & m] = CIO__RQ_FUTURE;
    r[(t + 1) & m] = (uint64_t)(uintptr_t)fut;
    r[(t + 2) & m] = (uint64_t)(uintptr_t)fcb;
    r[(t + 3) & m] = (uint64_t)(uintptr_t)arg;
    loop->tail = t + 4;
    return 0;
}

static __attribute__((noinline)) int call_soon_slow(cio_loop *loop, cio_cb cb, void *arg)
{
    if (!loop || !cb || loop->closed)
        return -EINVAL;
    if (cio__check_thread_slow(loop, "cio_call_soon"))
        return -EPERM;
    return cio__ready_push(loop, cb, arg);
}

int cio_call_soon(cio_loop *loop, cio_cb cb, void *arg)
{
    /* The common case is a leaf: no frame, no saved register. closed and
     * debug are neighbouring bytes, tested by one compare. */
    if (CIO_UNLIKELY(!loop || loop->closed || loop->debug))
        return call_soon_slow(loop, cb, arg);
    /* cio__ready_push's fast path, which a NULL cb never takes (rq_cb is
     * never NULL while rq_limit is not 0): so cb is tested only off it. */
    uint64_t a = (uint64_t)(uintptr_t)arg, t = loop->tail;
    if (CIO_LIKELY(cb == loop->rq_cb && !(a >> 56) && t < loop->rq_limit)) {
        loop->ring[t & loop->mask] = loop->rq_tag | a;
        loop->tail = t + 1;
        return 0;
    }
    if (!cb)
        return -EINVAL;
    return cio__ready_push_slow(loop, cb, arg);
}

/* ---- remote work ---------------------------------------------------------- */

void cio__loop_wake(cio_loop *loop)
{
    if (!atomic_exchange(&loop->wake_sent, 1)) {
        uint64_t one = 1;
        ssize_t r = write(loop->wakefd, &one, sizeof one);
        (void)r; /* EAGAIN means the counter is already non-zero: awake */
    }
}

/* Announces remote work; wakes the loop only if it sleeps (or is about to).
 * The seq_cst pair (remote_pending here, sleeping in the loop) is a Dekker
 * handshake: either the loop sees the work before it blocks, or we see it
 * asleep and write the eventfd. */
void cio__remote_signal(cio_loop *loop)
{
    /* The fence orders the caller's publication (a queue push) before both
     * loads below, so whichever way the race goes one side sees the other. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&loop->remote_pending, memory_order_relaxed))
        atomic_store(&loop->remote_pending, 1);
    if (atomic_load(&loop->sleeping))
        cio__loop_wake(loop);
}

void cio__wakeup_drain(cio_loop *loop)
{
    uint64_t v;
    ssize_t r = read(loop->wakefd, &v, sizeof v);
    (void)r;
    atomic_store(&loop->wake_sent, 0);
}

static void remote_drain(cio_loop *loop)
{
    atomic_store(&loop->remote_pending, 0);
    cio__ts_drain(loop);
    cio__jobs_drain(loop);
    if (atomic_load_explicit(&loop->sig_pending, memory_order_relaxed))
        cio__signals_drain(loop);
}

/* ---- the iteration ------------------------------------------------------- */

/* Runs the entry at head; returns how many words it used. */
static inline uint64_t run_entry(cio_loop *loop, const void **fn)
{
    uint64_t h = loop->head, m = loop->mask;
    uint64_t w = loop->ring[h & m];
    if (CIO_LIKELY(w >> 56)) {
        cio_cb cb = loop->cbtab[(w >> 56) - 1];
        loop->head = h + 1;
        if (fn)
            *fn = (const void *)cb;
        cb((void *)(uintptr_t)(w & CIO__RQ_ARG_MASK));
        return 1;
    }
    if (w == CIO__RQ_PLAIN) {
        cio_cb cb = (cio_cb)(uintptr_t)loop->ring[(h + 1) & m];
        void *arg = (void *)(uintptr_t)loop->ring[(h + 2) & m];
        loop->head = h + 3;
        if (fn)
            *fn = (const void *)cb;
        cb(arg);
        return 3;
    }
    cio_future *fut = (cio_future *)(uintptr_t)loop->ring[(h + 1) & m];
    cio_future_cb fcb = (cio_future_cb)(uintptr_t)loop->ring[(h + 2) & m];
    void *arg = (void *)(uintptr_t)loop->ring[(h + 3) & m];
    loop->head = h + 4;
    if (fn)
        *fn = (const void *)fcb;
    fcb(fut, arg);
    cio_future_unref(fut);
    return 4;
}

void cio__report_if_slow(cio_loop *loop, const char *what, const void *fn, int64_t t0,
                         uint64_t steps)
{
    int64_t dt = cio__now_ns() - t0;
    /* A slow task step inside was reported by the task's name already. */
    if (dt > loop->slow_ns && steps == cio__slow_task_steps) {
        char buf[160];
        cio_loop_report(loop, "%s: %s took %.3f s", what, cio__describe_fn(fn, buf, sizeof buf),
                        (double)dt / 1e9);
    }
}

static void run_ready_debug(cio_loop *loop, uint64_t n)
{
    while (n) {
        int64_t t0 = cio__now_ns();
        uint64_t steps = cio__slow_task_steps;
        const void *fn = NULL;
        n -= run_entry(loop, &fn);
        cio__report_if_slow(loop, "slow callback", fn, t0, steps);
    }
}

static void run_ready_watched(cio_loop *loop, uint64_t n)
{
    while (n) {
        const void *fn;
        cio_future *fut;
        entry_at(loop, loop->head, &fn, &fut);
        __atomic_store_n(&loop->current_cb, fn, __ATOMIC_RELAXED);
        n -= run_entry(loop, NULL);
    }
    __atomic_store_n(&loop->current_cb, NULL, __ATOMIC_RELAXED);
}

static inline void run_ready(cio_loop *loop)
{
    uint64_t n = loop->tail - loop->head;
    loop->since_poll += (uint32_t)n;
    if (CIO_UNLIKELY(loop->watched && !loop->debug)) {
        run_ready_watched(loop, n);
        if (loop->submit_len)
            cio__jobs_flush(loop);
        return;
    }
    if (CIO_UNLIKELY(loop->debug)) {
        run_ready_debug(loop, n);
        if (loop->submit_len)
            cio__jobs_flush(loop);
        return;
    }
    while (n)
        n -= run_entry(loop, NULL);
    if (loop->submit_len)
        cio__jobs_flush(loop); /* pool work the callbacks submitted */
}

static int poll_timeout_ms(cio_loop *loop)
{
    int64_t ns = cio__wheel_timeout(loop);
    if (ns < 0)
        return -1;
    int64_t ms = (ns + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Remote calls came in on the last iteration: more are likely on their way.
 * Waiting two microseconds for them is cheaper than sleeping, which costs
 * this thread a wakeup (about 30 us between cores on a VM) and the producer
 * a write(2); measured on bench/ wakeup: +15%. Loops that get no remote
 * calls never spin, and a loop spins at most that long per remote batch.
 * It looks only every microsecond: each look pulls the producers' lines
 * over here, and a producer works fastest undisturbed. */
static void spin_for_remote_work(cio_loop *loop)
{
    int64_t end = cio__now_ns() + CIO__SPIN_BEFORE_SLEEP_NS;
    while (!atomic_load_explicit(&loop->remote_pending, memory_order_relaxed) &&
           !cio__ts_ready(loop) && cio__now_ns() < end)
        cio__spin_ns(1000);
    loop->last_remote_batch = 0;
}

static inline bool remote_work(cio_loop *loop, memory_order mo)
{
    return atomic_load_explicit(&loop->remote_pending, mo) || cio__ts_ready(loop);
}

/* A poll failed (epoll_wait or poll returned an error other than EINTR).
 * Retrying at once would spin a core at 100% without a word, so the run
 * ends with the error instead, reported once per failure (not once per
 * run: a caller that retries regardless gets one report). A poll that was
 * meant to wait waits here instead, at most 10 ms, so even such a caller
 * does not spin. The next successful poll clears the failure. */
static __attribute__((noinline, cold)) void poll_failed(cio_loop *loop, int err, int timeout)
{
    if (loop->poll_error != err)
        cio_loop_report(loop, "the %s backend failed to poll (%s); the loop stops, and its run "
                              "returns the error",
                        loop->backend->name, cio_strerror(err));
    loop->poll_error = err;
    loop->run_error = err;
    loop->stopping = true;
    if (timeout != 0) {
        int ms = timeout < 0 || timeout > 10 ? 10 : timeout;
        struct timespec ts = {0, (long)ms * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Step 1 of an iteration: poll I/O (running its callbacks), refresh the
 * clock, take in remote work. */
static inline __attribute__((always_inline)) void poll_phase(cio_loop *loop, bool may_block,
                                                             bool ready)
{
    if (CIO_UNLIKELY(loop->watched))
        atomic_fetch_add_explicit(&loop->progress, 1, memory_order_relaxed);
    if (CIO_UNLIKELY(loop->wheel.release_pending))
        cio__wheel_release(&loop->wheel); /* the wheel emptied: give its memory back */
    int timeout = 0;
    if (may_block && !ready && !loop->stopping)
        timeout = poll_timeout_ms(loop);
    if (timeout != 0 && remote_work(loop, memory_order_relaxed))
        timeout = 0;
    if (timeout != 0 && loop->last_remote_batch)
        spin_for_remote_work(loop);
    /* Announce sleep only when about to block: producers read `sleeping`
     * on every call, so writing it needlessly would take the line away
     * from them. After announcing, look once more (the handshake). */
    if (timeout != 0) {
        atomic_store(&loop->sleeping, 1);
        cio__ts_before_sleep(loop);
        if (remote_work(loop, memory_order_seq_cst))
            timeout = 0;
    }
    if (timeout != 0 || loop->nwatched > 0) {
        int rc = loop->backend->poll(loop, timeout);
        if (CIO_UNLIKELY(rc < 0))
            poll_failed(loop, rc, timeout);
        else if (CIO_UNLIKELY(loop->poll_error))
            loop->poll_error = 0;
    }
    if (CIO_UNLIKELY(loop->watched))
        atomic_fetch_add_explicit(&loop->progress, 1, memory_order_relaxed);
    if (atomic_load_explicit(&loop->sleeping, memory_order_relaxed))
        atomic_store_explicit(&loop->sleeping, 0, memory_order_relaxed);
    loop->now = cio__now_ns();
    if (atomic_load_explicit(&loop->remote_pending, memory_order_acquire))
        remote_drain(loop);
    else if (atomic_load_explicit(&loop->ts_rings, memory_order_relaxed))
        cio__ts_drain(loop);
    loop->since_poll = 0;
    loop->last_poll = loop->now;
}

/* The poll that the time bound forces while callbacks are ready, out of
 * line so that the iteration's own copy stays inlined and its fast path
 * (a chain of callbacks) does not pay for a second one. */
static __attribute__((noinline)) void poll_phase_nowait(cio_loop *loop)
{
    poll_phase(loop, false, true);
}

/* Whether an iteration that skips the poll must read the clock: a timer
 * may become due, or something the poll looks at may be waiting (a watched
 * descriptor, a producer thread, pool work, a signal), whose wait is
 * bounded in time. A loop with nothing but ready callbacks reads no clock:
 * a chain of call_soon then costs no clock read per callback. */
static inline bool needs_clock(cio_loop *loop)
{
    return (loop->wheel.active | (uint32_t)loop->nwatched | loop->jobs_inflight |
            (uint32_t)loop->nsignals) ||
           atomic_load_explicit(&loop->ts_rings, memory_order_relaxed);
}

/* An iteration that polls, or reads the clock for timers and the time
 * bound (see iteration). */
static __attribute__((noinline)) void iteration_full(cio_loop *loop, bool may_block, bool ready)
{
    if (!ready || loop->since_poll >= CIO_POLL_INTERVAL) {
        poll_phase(loop, may_block, ready);
    } else {
        loop->now = cio__now_ns();
        if (loop->now - loop->last_poll >= (int64_t)CIO_POLL_INTERVAL_MS * 1000000)
            poll_phase_nowait(loop);
    }
    /* asyncio's order: the timers due now run after the callbacks that are
     * ready now, in this iteration; what either schedules waits for the
     * next one. */
    if (cio__wheel_may_fire(&loop->wheel, loop->now) && cio__wheel_collect(loop)) {
        run_ready(loop);
        cio__wheel_fire(loop);
    } else {
        run_ready(loop);
    }
}

static inline void iteration(cio_loop *loop, bool may_block)
{
    if (loop->submit_len)
        cio__jobs_flush(loop);
    bool ready = loop->tail != loop->head;
    /* The fast path, a chain of callbacks with nothing else in the loop:
     * no poll due, no timer pending, nothing the poll watches. */
    if (CIO_LIKELY(ready && loop->since_poll < CIO_POLL_INTERVAL && !needs_clock(loop))) {
        run_ready(loop);
        return;
    }
    iteration_full(loop, may_block, ready);
}

static bool loop_alive(cio_loop *loop)
{
    return loop->tail != loop->head || loop->wheel.active || loop->nwatched ||
           loop->nsignals > loop->internal_signals ||
           loop->jobs_inflight || atomic_load_explicit(&loop->remote_pending, memory_order_relaxed) ||
           cio__ts_ready(loop);
}

__thread cio_loop *cio__tls_loop;

/* Whether loop may run now: -EBUSY if it runs already (re-entered from
 * one of its callbacks, or running on another thread); -EDEADLK if another
 * loop runs on this thread (a callback or task of it would run this one):
 * that loop would be blocked, its timers and descriptors unserved, until
 * this run ended. asyncio refuses it too ("Cannot run the event loop while
 * another loop is running"). */
static int run_check(const cio_loop *loop)
{
    if (!loop || loop->closed)
        return -EINVAL;
    if (loop->running)
        return -EBUSY;
    if (cio__tls_loop && cio__tls_loop != loop && cio__tls_loop->running)
        return -EDEADLK;
    return 0;
}

static int run_begin(cio_loop *loop, cio_loop **prev)
{
    int rc = run_check(loop);
    if (rc)
        return rc;
    loop->running = true;
    loop->run_error = 0;
    loop->owner = pthread_self();
    loop->now = cio__now_ns();
    *prev = cio__tls_loop;
    cio__tls_loop = loop;
    return 0;
}

static void run_end(cio_loop *loop, cio_loop *prev)
{
    loop->stopping = false;
    loop->running = false;
    cio__tls_loop = prev;
}

int cio_loop_run_forever(cio_loop *loop)
{
    cio_loop *prev;
    int rc = run_begin(loop, &prev);
    if (rc)
        return rc;
    for (;;) {
        iteration(loop, true);
        if (loop->stopping)
            break;
    }
    run_end(loop, prev);
    return loop->run_error;
}

int cio_loop_run_once(cio_loop *loop, int flags)
{
    cio_loop *prev;
    int rc = run_begin(loop, &prev);
    if (rc)
        return rc;
    /* Unlike run_forever, a single iteration never blocks on a loop with
     * nothing that could wake it except another thread. */
    iteration(loop, !(flags & CIO_RUN_NOWAIT) && loop_alive(loop));
    run_end(loop, prev);
    if (loop->run_error)
        return loop->run_error;
    return loop_alive(loop) ? 1 : 0;
}

static void stop_on_done(cio_future *fut, void *arg)
{
    (void)fut;
    cio_loop *loop = arg;
    loop->stopping = true;
}

int cio_loop_run_until_complete(cio_loop *loop, cio_future *fut)
{
    if (!fut || (loop && cio_future_loop(fut) != loop))
        return -EINVAL;
    int rc = run_check(loop);
    if (rc)
        return rc;
    rc = cio_future_add_done_callback(fut, stop_on_done, loop);
    if (rc)
        return rc;
    int err = cio_loop_run_forever(loop);
    if (!cio_future_is_done(fut)) {
        cio_future_remove_done_callback(fut, stop_on_done, loop);
        return err ? err : -EINTR;
    }
    return cio_future_error(fut);
}

/* Drops what keeps a loop from closing that its owner cannot reach any more
 * (pending timers, ready callbacks, watchers, signal handlers), for cio_run's
 * shutdown. Returns how many were dropped. */
static size_t discard(cio_loop *loop)
{
    size_t n = 0;
    /* Ready callbacks: future pairs hold references to drop. */
    while (loop->head != loop->tail) {
        const void *fn;
        cio_future *fut;
        loop->head += entry_at(loop, loop->head, &fn, &fut);
        cio_future_unref(fut); /* NULL for plain callbacks */
        n++;
    }
    n += loop->wheel.active;
    cio__wheel_free(&loop->wheel);
    cio__wheel_init(&loop->wheel, loop->now);
    for (int fd = 0; fd < loop->nfds; fd++) {
        if (loop->fds[fd].mask & CIO__EDGE) {
            /* Disarmed, not removed: its owner still holds it, and the
             * close that follows drops it with the loop's table. */
            if (loop->fds[fd].mask != CIO__EDGE)
                cio__io_edge_arm(loop, fd, 0), n++;
            continue;
        }
        if (loop->fds[fd].mask & CIO_READABLE)
            cio_loop_remove_reader(loop, fd), n++;
        if (loop->fds[fd].mask & CIO_WRITABLE)
            cio_loop_remove_writer(loop, fd), n++;
    }
    for (int signo = 1; signo <= 64; signo++) {
        if (signo == SIGUSR1 && loop->internal_signals)
            continue; /* cio's own (the debug-mode task dump) */
        if (loop->sig_cb[signo] && cio_loop_remove_signal_handler(loop, signo) == 0)
            n++;
    }
    return n;
}

void cio__loop_shutdown(cio_loop *loop)
{
    /* loop.h promises that a threadsafe call that returned 0 runs; asyncio's
     * loop.close drops what is still queued, cio does not. The layers above
     * have ended their tasks: refuse threadsafe calls from now on, for good
     * (a failed close below keeps them refused, as nobody would run what a
     * reopened loop accepted), then run every call accepted before, and
     * what they and the done-callbacks queue, up to a bound: a callback
     * that queues itself forever is dropped with the rest below. A call
     * that would start a task (cio_spawn_threadsafe) finds the loop
     * shutting down and completes its thread future with -ECANCELED. Pool
     * jobs still complete: their completions take the path that needs no
     * ring (threadpool.c). */
    loop->shutting_down = true;
    cio__ts_close_begin(loop);
    for (int i = 0; i < 1000; i++) {
        close_drain(loop);
        if (loop->tail == loop->head)
            break;
        cio_loop_run_once(loop, CIO_RUN_NOWAIT); /* also: done-callbacks release futures */
    }
    while (loop->jobs_inflight)
        cio_loop_run_once(loop, 0); /* asyncio waits for the default executor too */
    for (int i = 0; i < 1000 && loop->tail != loop->head; i++)
        cio_loop_run_once(loop, CIO_RUN_NOWAIT); /* the jobs' done-callbacks */
    if (cio_loop_close(loop) == -EBUSY) {
        size_t n = discard(loop);
        if (n && loop->debug)
            cio_loop_report(loop, "cio_run: discarded %zu pending callback(s), timer(s) or "
                                  "watcher(s) at exit", n);
        cio_loop_run_once(loop, CIO_RUN_NOWAIT);
    }
}

cio_loop *cio_current_loop(void) { return cio__tls_loop; }

void cio_loop_stop(cio_loop *loop)
{
    if (loop)
        loop->stopping = true;
}
