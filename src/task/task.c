/* Tasks: creation, the switch in and out, suspension, wakeups, cancellation
 * and deadline scopes.
 *
 * The loop's own stack is the scheduler: a task runs when the loop switches
 * to it (from a ready callback, a timer or a done-callback) and comes back
 * when it suspends or ends. A wakeup that happens on the loop's stack (a
 * future the task awaits completing, its sleep timer firing) resumes the
 * task right there: no extra trip through the ready queue, so a task
 * waiting for a future resumes within the same iteration the future's
 * callbacks run. A wakeup from elsewhere (a cancel called by another task)
 * is scheduled through the ready queue.
 *
 * Every suspension checks, in order: cancellation (unless a shield scope
 * is active), then the deadline scopes from the innermost out to the first
 * shield. A task woken for any reason cancels its wakeup timer, and a
 * done-callback that arrives late finds the task no longer awaiting that
 * future and does nothing: no stale wakeup can reach a later suspension. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/opts.h"
#include "internal.h"

#include "sanitizers.h"

/* Per thread: the scheduler's context and the running task. */
static __thread struct {
    cio__ctx sched;
    struct cio__task *current;
    const void *sched_bottom; /* ASan: the loop stack's extent */
    size_t sched_size;
    void *sched_fake;
    void *sched_fiber; /* TSan */
} tls;

struct cio__task *cio__task_current(void) { return tls.current; }

cio_task *cio_current_task(void) { return tls.current ? tls.current->fut : NULL; }

/* What the core asks of the task layer (src/core.h). Registered from here,
 * where any program with tasks links it in, before main runs; with a
 * priority, so that in a static build it also runs before a program's own
 * constructors (C++ static objects among them), which may already use
 * tasks, whatever the link order. */
static __attribute__((constructor(101))) void register_hooks(void)
{
    static const struct cio__core_hooks hooks = {
        .await_done = cio__await_done,
        .describe_task = cio__task_describe,
        .dump_tasks = cio_task_dump_all,
        .task_name = cio_task_name,
    };
    cio__core_register(&hooks);
}

/* ---- switching ----------------------------------------------------------- */

static void switch_to_task(struct cio__task *t)
{
#ifdef CIO_ASAN
    __sanitizer_start_switch_fiber(&tls.sched_fake, t->stack->lo, t->stack->usable);
#endif
#ifdef CIO_TSAN
    if (!tls.sched_fiber)
        tls.sched_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
    cio__ctx_switch(&tls.sched, &t->ctx);
#ifdef CIO_ASAN
    __sanitizer_finish_switch_fiber(tls.sched_fake, NULL, NULL);
#endif
}

/* In the task: back to the scheduler. final: the task will never resume. */
static void switch_to_sched(struct cio__task *t, bool final)
{
#ifdef CIO_ASAN
    __sanitizer_start_switch_fiber(final ? NULL : &t->asan_fake, tls.sched_bottom,
                                   tls.sched_size);
#endif
#ifdef CIO_TSAN
    __tsan_switch_to_fiber(tls.sched_fiber, 0);
#endif
    cio__ctx_switch(&t->ctx, &tls.sched);
#ifdef CIO_ASAN
    __sanitizer_finish_switch_fiber(t->asan_fake, &tls.sched_bottom, &tls.sched_size);
#endif
    (void)final;
}

static void task_finish(struct cio__task *t);

static void task_entry(void *p)
{
    struct cio__task *t = p;
#ifdef CIO_ASAN
    __sanitizer_finish_switch_fiber(NULL, &tls.sched_bottom, &tls.sched_size);
#endif
    void *result = NULL;
    int rc = t->fn(t->arg, &result);
    if (CIO_UNLIKELY(t->scopes != NULL)) {
        /* C has no `with`: a scope left open would otherwise vanish. */
        cio_loop_report(t->loop, "task %s returned with a deadline or shield scope still open "
                                 "(every cio_timeout_begin, cio_deadline_begin and "
                                 "cio_shield_begin needs its cio_scope_end)",
                        cio_task_name(t->fut));
        /* Not walked to mark them ended: a scope left open usually lived
         * in the frame that just returned, whose memory is gone. */
        t->scopes = NULL;
    }
    if (CIO_UNLIKELY(t->groups != NULL))
        rc = cio__groups_close_left_open(t, rc);
    t->rc = rc;
    t->result = result;
    t->state = CIO__T_DONE;
    switch_to_sched(t, true);
    abort(); /* never resumed */
}

/* Debug mode: a task step is asyncio's unit of "slow callback" (asyncio
 * reports "Executing <Task ...> took 0.2 seconds"). The step is reported
 * here, by the task's name, while the task still exists; the loop's report
 * of the callback that ran it would only name a trampoline inside libcio,
 * so the counter tells the loop to leave that one out. */
static void check_slow_step(struct cio__task *t, int64_t t0)
{
    int64_t dt = cio__now_ns() - t0;
    if (dt <= cio__loop_slow_ns(t->loop))
        return;
    cio__slow_step_reported();
    cio_loop_report(t->loop, "slow task step: task %s ran %.3f s without suspending",
                    cio_task_name(t->fut), (double)dt / 1e9);
}

/* On the loop's stack: runs t until it suspends or ends. */
static void task_resume(struct cio__task *t)
{
    /* A task may be resumed from inside another (cio__task_wake resumes
     * on the spot when the ready queue is out of memory); keep the outer
     * scheduler state. */
    struct cio__task *prev_current = tls.current;
    cio__ctx prev_sched = tls.sched;
#ifdef CIO_ASAN
    const void *prev_bottom = tls.sched_bottom;
    size_t prev_size = tls.sched_size;
    void *prev_fake = tls.sched_fake;
#endif
    cio_loop *loop = t->loop;
    cio__stack_thread_init();
    t->state = CIO__T_RUNNING;
    tls.current = t;
    void *prev_loop_task = cio__loop_set_task(loop, t);
    struct cio__stack *prev_stack = cio__stack_running;
    cio__stack_running = t->stack;
    int64_t t0 = CIO_UNLIKELY(cio__loop_debug(loop)) ? cio__now_ns() : 0;
    switch_to_task(t);
    if (CIO_UNLIKELY(t->unguarded)) /* before any other task runs */
        cio__stack_check_slow(t->stack, cio__ctx_saved_sp(&t->ctx));
    if (CIO_UNLIKELY(cio__loop_debug(loop)))
        check_slow_step(t, t0);
    cio__stack_running = prev_stack;
    cio__loop_set_task(loop, prev_loop_task);
    tls.current = prev_current;
    tls.sched = prev_sched;
#ifdef CIO_ASAN
    tls.sched_bottom = prev_bottom;
    tls.sched_size = prev_size;
    tls.sched_fake = prev_fake;
#endif
    if (t->state == CIO__T_DONE)
        task_finish(t);
}

static void resume_cb(void *arg) { task_resume(arg); }

static void start_cb(void *arg)
{
    struct cio__task *t = arg;
    if (t->state == CIO__T_DONE) /* cancelled before it started */
        task_finish(t);
    else
        task_resume(t);
}

/* ---- scopes and checks ---------------------------------------------------- */

static int64_t effective_deadline(const struct cio__task *t, bool *shielded)
{
    int64_t dl = INT64_MAX;
    *shielded = false;
    for (const struct cio__scope *s = t->scopes; s; s = s->parent) {
        if (s->kind == CIO__SCOPE_SHIELD) {
            *shielded = true;
            break;
        }
        if (s->deadline < dl)
            dl = s->deadline;
    }
    return dl;
}

/* Marks expired every deadline scope (up to the first shield) whose time
 * has come; returns whether any scope in that range is expired. */
static bool mark_expired(struct cio__task *t)
{
    bool any = false;
    for (struct cio__scope *s = t->scopes; s && s->kind != CIO__SCOPE_SHIELD; s = s->parent) {
        if (!s->expired && s->deadline <= cio__loop_now(t->loop))
            s->expired = true;
        any |= s->expired;
    }
    return any;
}

int cio__task_check(struct cio__task *t)
{
    bool shielded;
    effective_deadline(t, &shielded);
    if (t->cancelled && !shielded)
        return -ECANCELED;
    if (t->interrupt && !shielded) {
        int rc = t->interrupt;
        t->interrupt = 0;
        return rc;
    }
    if (mark_expired(t))
        return -ETIMEDOUT;
    return 0;
}

void cio__task_interrupt(struct cio__task *t, int err)
{
    bool shielded;
    effective_deadline(t, &shielded);
    if (t->state == CIO__T_SUSPENDED && !shielded)
        cio__task_wake(t, err, false);
    else if (t->state != CIO__T_DONE)
        t->interrupt = err;
}

static void timer_cb(void *arg)
{
    struct cio__task *t = arg;
    t->timer_armed = false;
    if (t->state != CIO__T_SUSPENDED)
        return;
    bool shielded;
    int64_t dl = effective_deadline(t, &shielded);
    if (dl <= cio__loop_now(t->loop)) {
        mark_expired(t);
        cio__task_wake(t, -ETIMEDOUT, true);
    } else {
        cio__task_wake(t, 0, true);
    }
}

int cio__task_suspend(struct cio__task *t, int64_t wake_at)
{
    if (CIO_LIKELY(!t->scopes && !t->cancelled && !t->interrupt && wake_at == INT64_MAX)) {
        /* Nothing to check and no timer to arm: the common await. */
        t->state = CIO__T_SUSPENDED;
        switch_to_sched(t, false);
        return t->wake_rc;
    }
    int rc = cio__task_check(t);
    if (rc)
        return rc;
    bool shielded;
    int64_t at = effective_deadline(t, &shielded);
    t->wake_at = wake_at; /* for cio_scope_reschedule's re-arming */
    if (wake_at < at)
        at = wake_at;
    /* INT64_MAX / 2 and above: no deadline (cio_scope_deadline's INFINITY),
     * so no timer, as for a scope begun with INFINITY. */
    if (at < INT64_MAX / 2) {
        rc = cio_call_at(t->loop, (double)at / 1e9, timer_cb, t, &t->timer);
        if (rc)
            return rc;
        t->timer_armed = true;
    }
    t->state = CIO__T_SUSPENDED;
    switch_to_sched(t, false);
    if (t->timer_armed) {
        cio_timer_cancel(t->loop, t->timer);
        t->timer_armed = false;
    }
    return t->wake_rc;
}

void cio__task_wake(struct cio__task *t, int rc, bool direct)
{
    if (t->state != CIO__T_SUSPENDED)
        return;
    t->wake_rc = rc;
    t->state = CIO__T_READY;
    if (direct && !tls.current && cio__running_loop() == t->loop) {
        task_resume(t);
    } else if (cio__ready_push(t->loop, resume_cb, t) != 0) {
        task_resume(t); /* out of memory for the queue: resume now */
    }
}

/* ---- cancellation ------------------------------------------------------------ */

static int cancel_hook(cio_future *fut, void *arg)
{
    (void)fut;
    struct cio__task *t = arg;
    if (t->state == CIO__T_DONE)
        return 1;
    t->cancelled = true;
    /* A task not started yet still runs its body, whose first suspension
     * fails: asyncio would skip the body, but in C the body is what frees
     * what its argument hands over. */
    if (t->state == CIO__T_SUSPENDED) {
        bool shielded;
        effective_deadline(t, &shielded);
        if (!shielded)
            cio__task_wake(t, -ECANCELED, false);
    }
    return 1; /* the task ends the future when it returns */
}

/* ---- life cycle ------------------------------------------------------------------ */

/* For the overflow report, from a signal handler: no allocation. */
static const char *describe(void *owner)
{
    struct cio__task *t = owner;
    const char *name = cio_future_name(t->fut);
    if (name)
        return name;
    static char buf[32] = "task-";
    char digits[24];
    int n = 0;
    uint64_t id = t->id;
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id && n < 20);
    for (int i = 0; i < n; i++)
        buf[5 + i] = digits[n - 1 - i];
    buf[5 + n] = 0;
    return buf;
}

/* inherit: the new task starts with the running task's context variables
 * (cio_task_new's start with the defaults). */
static int task_create(cio_loop *loop, const cio_task_options *opts, cio_task_fn fn, void *arg,
                       struct cio_task_group *group, bool root_owned, bool inherit,
                       cio_future **out)
{
    if (out)
        *out = NULL;
    if (!loop || cio__loop_closed(loop) || !fn)
        return -EINVAL;
    cio_task_options o = CIO_TASK_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    if ((rc = cio__check_thread(loop, "cio_task_new")) != 0)
        return rc;
    size_t size = o.stack_size ? o.stack_size : CIO__STACK_DEFAULT;
    if (size > CIO__STACK_MAX)
        return -EINVAL;
    void *mem;
    struct cio__stack *stack = cio__stack_get(size, sizeof(struct cio__task), &mem);
    if (!stack)
        return -ENOMEM;
    struct cio__task *t = mem;
    cio_future *fut;
    if ((rc = cio_future_new(loop, &fut)) != 0) {
        cio__stack_put(stack);
        return rc;
    }
    if (o.name && (rc = cio_future_set_name(fut, o.name)) != 0) {
        cio_future_unref(fut);
        cio__stack_put(stack);
        return rc;
    }
    /* Field by field: a memset of the struct costs more than the rest of
     * this function (measured on bench/ spawn). */
    t->fut = fut;
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->result_free = NULL;
    t->rc = 0;
    t->wake_rc = 0;
    t->state = CIO__T_NEW;
    t->cancelled = false;
    t->interrupt = 0;
    t->root_owned = root_owned;
    t->timer_armed = false;
    t->unguarded = !stack->guarded;
    t->timer = 0;
    t->wake_at = INT64_MAX;
    t->scopes = NULL;
    t->groups = NULL;
    t->awaiting = NULL;
    t->stack = stack;
    t->next = t->prev = NULL;
    t->group = group;
    struct cio__task_loop *tl = cio__task_loop(loop);
    t->id = ++tl->task_seq;
    t->created = cio__loop_now(loop);
    t->asan_fake = NULL;
    t->tsan_fiber = NULL;
    stack->describe = describe;
    stack->owner = t;
    cio__future_set_task(fut, t);
    cio__future_set_cancel_hook(fut, cancel_hook, t);
    cio__ctx_init(&t->ctx, stack->lo, stack->usable, task_entry, t);
#ifdef CIO_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    if ((rc = cio__ready_push(loop, start_cb, t)) != 0) {
#ifdef CIO_TSAN
        __tsan_destroy_fiber(t->tsan_fiber);
#endif
        cio__future_set_task(fut, NULL);
        cio__future_set_cancel_hook(fut, NULL, NULL);
        cio_future_unref(fut);
        cio__stack_put(stack);
        return rc;
    }
    t->context = inherit ? cio__context_inherit(tls.current) : NULL;
    /* At the head: the list stays ordered by id, newest first, which
     * cio_run's teardown relies on (run.c). */
    struct cio__task *head = tl->tasks;
    t->next = head;
    if (head)
        head->prev = t;
    tl->tasks = t;
    tl->ntasks++;
    /* The creation reference belongs to the owner: the root scope keeps it
     * until the task ends; a group or generator receives it in *out. */
    if (out) {
        if (root_owned)
            cio__future_ref(fut);
        *out = fut;
    }
    return 0;
}

int cio__task_create(cio_loop *loop, const cio_task_options *opts, cio_task_fn fn, void *arg,
                     struct cio_task_group *group, bool root_owned, cio_future **out)
{
    return task_create(loop, opts, fn, arg, group, root_owned, true, out);
}

/* A root-owned task made by a public function whose caller is site: in
 * debug mode that is where the task was made (cio__future_set_site). The
 * new task heads the loop's list (task_create), so it is found even when
 * the caller wants no reference. inherit: it starts with a copy of the
 * current task's context variables (spawn), or with the defaults
 * (cio_task_new). */
static inline __attribute__((always_inline)) int task_new_at(cio_loop *loop,
                                                             const cio_task_options *opts,
                                                             cio_task_fn fn, void *arg,
                                                             cio_task **out, const void *site,
                                                             bool inherit)
{
    int rc = task_create(loop, opts, fn, arg, NULL, true, inherit, out);
    if (rc == 0 && CIO_UNLIKELY(cio__loop_debug(loop)))
        cio__future_set_site(cio__task_loop(loop)->tasks->fut, site);
    return rc;
}

int cio_task_new(cio_loop *loop, const cio_task_options *opts, cio_task_fn fn, void *arg,
                 cio_task **out)
{
    return task_new_at(loop, opts, fn, arg, out, __builtin_return_address(0), false);
}

static inline __attribute__((always_inline)) int spawn_at(const cio_task_options *opts,
                                                          cio_task_fn fn, void *arg,
                                                          cio_task **out, const void *site)
{
    if (out)
        *out = NULL;
    struct cio__task *t = tls.current;
    if (!t)
        return -EPERM;
    return task_new_at(t->loop, opts, fn, arg, out, site, true);
}

int cio_spawn_with(const cio_task_options *opts, cio_task_fn fn, void *arg, cio_task **out)
{
    return spawn_at(opts, fn, arg, out, __builtin_return_address(0));
}

int cio_spawn(cio_task_fn fn, void *arg, cio_task **out)
{
    return spawn_at(NULL, fn, arg, out, __builtin_return_address(0));
}

static __thread int finish_depth;

static void task_finish(struct cio__task *t)
{
    cio_loop *loop = t->loop;
    cio_future *fut = t->fut;
    struct cio__task_loop *tl = cio__task_loop(loop);
    if (t->prev)
        t->prev->next = t->next;
    else
        tl->tasks = t->next;
    if (t->next)
        t->next->prev = t->prev;
    tl->ntasks--;
    if (t->timer_armed)
        cio_timer_cancel(loop, t->timer);
#ifdef CIO_TSAN
    __tsan_destroy_fiber(t->tsan_fiber);
#endif
    int rc = t->rc;
    void *result = t->result;
    cio_free_fn result_free = t->result_free;
    bool swallowed = t->cancelled && rc == 0;
    bool root_owned = t->root_owned;
    struct cio_task_group *group = t->group;
    cio__watch_forget(loop, t); /* the watchdog may be reading t's name */
    cio__future_set_task(fut, NULL);
    /* The hook's argument is free from now on: it keeps the id (task_id). */
    cio__future_set_cancel_hook(fut, NULL, (void *)(uintptr_t)t->id);
    cio__context_unref(t->context);
    cio__stack_put(t->stack); /* t lives there: not touched from here on */
    /* A failure may be reported when the future is freed, by the future
     * layer, which knows no id: name the task now (only failures pay). */
    if (CIO_UNLIKELY(rc < 0 && rc != -ECANCELED))
        cio_task_name(fut);
    if (swallowed)
        cio_loop_report(loop,
                        "task %s was cancelled but returned success: a cancellation was "
                        "swallowed (return -ECANCELED, or finish cleanup in a shield scope)",
                        cio_task_name(fut));
    /* Fast path for "a task awaits this one": when the only done-callback is
     * that task's wakeup and nothing else is queued, resume it here rather
     * than through the queue. With the queue empty it would run first on
     * the next iteration anyway, before that iteration's I/O and timers,
     * which is asyncio's order; no user callback is run early. Nesting is
     * bounded, so a cascade of finishing tasks cannot deepen the stack. */
    cio_future *waker_arg = NULL;
    if (cio__loop_ready_empty(loop) && finish_depth < 4)
        waker_arg = cio__future_take_sole_awaiter(fut); /* its reference on fut: below */
    if (rc < 0) {
        cio_future_set_error(fut, rc);
        if (result && result_free)
            result_free(result); /* set before failing: nobody can take it now */
    } else {
        cio_future_set_result(fut, result, result_free);
    }
    if (waker_arg) {
        finish_depth++;
        cio__future_ref(fut); /* keep fut while the awaiter runs */
        cio__await_done(fut, waker_arg);
        cio__future_unref(fut); /* the registration's reference */
        cio__future_unref(fut);
        finish_depth--;
    }
    if (group)
        cio__group_child_done(group, fut);
    if (root_owned)
        cio__future_unref(fut);
}

/* A task's id: in its state while it runs, then in its future's cancel
 * hook argument, which is unused once the task ended (task_finish). So an
 * unnamed task is task-N, with its own N, for as long as its future lives. */
static uint64_t task_id(const cio_future *fut)
{
    const struct cio__task *t = cio__future_task(fut);
    return t ? t->id : (uint64_t)(uintptr_t)cio__future_cancel_hook_arg(fut);
}

/* ---- names and lists ----------------------------------------------------------- */

/* Renames a task's future; the stall watchdog may be copying the old name
 * from its thread, so a watched loop waits for it first. */
static int rename_task(cio_future *fut, const char *name)
{
    struct cio__task *t = cio__future_task(fut);
    cio_loop *loop = cio__future_loop(fut);
    if (CIO_LIKELY(!t || !cio__loop_watched(loop)))
        return cio_future_set_name(fut, name);
    bool published = cio__loop_task(loop) == t;
    cio__watch_forget(loop, t);
    int rc = cio_future_set_name(fut, name);
    if (published)
        cio__watch_publish(loop, t);
    return rc;
}

const char *cio_task_name(const cio_task *task)
{
    if (!task)
        return NULL;
    const char *name = cio_future_name(task);
    if (name)
        return name;
    if (!cio__future_is_task(task))
        return NULL;
    char buf[32];
    snprintf(buf, sizeof buf, "task-%llu", (unsigned long long)task_id(task));
    rename_task((cio_future *)task, buf); /* materialised on first use */
    return cio_future_name(task);
}

int cio_task_set_name(cio_task *task, const char *name)
{
    if (!task || !cio__future_is_task(task))
        return -EINVAL;
    return rename_task(task, name);
}

int cio_task_set_result_free(cio_free_fn fn)
{
    struct cio__task *t = tls.current;
    if (!t)
        return -EPERM;
    t->result_free = fn;
    return 0;
}

size_t cio_all_tasks(cio_loop *loop, cio_task **out, size_t max)
{
    if (!loop)
        return 0;
    size_t i = 0;
    for (struct cio__task *t = cio__task_loop(loop)->tasks; t; t = t->next, i++) {
        if (out && i < max)
            out[i] = cio_future_ref(t->fut);
    }
    return i;
}

/* ---- suspending calls ------------------------------------------------------------- */

void cio__await_done(cio_future *fut, void *arg)
{
    cio_future *taskfut = arg;
    struct cio__task *t = cio__future_task(taskfut);
    if (t && t->state == CIO__T_SUSPENDED && t->awaiting == fut)
        cio__task_wake(t, 0, true);
    cio__future_unref(taskfut);
}

int cio_await(cio_future *fut, void **result)
{
    struct cio__task *t = tls.current;
    if (!t)
        return -EPERM; /* *result untouched: nothing happened */
    if (result)
        *result = NULL;
    if (!fut || fut == t->fut || cio__future_loop(fut) != t->loop)
        return -EINVAL;
    if (cio__future_is_pending(fut)) {
        /* Tracked, so that leaving early (cancelled, timed out) removes
         * the callback in O(1): n tasks awaiting one future and then
         * cancelled would otherwise scan its list n times. */
        cio__future_ref(t->fut); /* for the done-callback */
        int rc = cio__future_add_awaiter(fut, t->fut);
        if (rc) {
            cio__future_unref(t->fut);
            return rc;
        }
        t->awaiting = fut;
        rc = cio__task_suspend(t, INT64_MAX);
        t->awaiting = NULL;
        if (rc) {
            if (cio__future_remove_awaiter(fut, t->fut))
                cio__future_unref(t->fut);
            return rc;
        }
    }
    return cio__future_done_result(fut, result);
}

int cio_sleep(double seconds)
{
    struct cio__task *t = tls.current;
    if (!t)
        return -EPERM;
    if (!(seconds >= 0))
        return -EINVAL;
    if (seconds == 0)
        return cio_yield();
    int64_t ns = seconds >= 4.6e9 ? INT64_MAX / 2 : (int64_t)(seconds * 1e9);
    return cio__task_suspend(t, cio__loop_now(t->loop) + ns);
}

int cio_yield(void)
{
    struct cio__task *t = tls.current;
    if (!t)
        return -EPERM;
    int rc = cio__task_check(t);
    if (rc)
        return rc;
    /* Ready at once: the resume waits behind everything already queued. */
    t->wake_rc = 0;
    t->state = CIO__T_READY;
    if ((rc = cio__ready_push(t->loop, resume_cb, t)) != 0) {
        t->state = CIO__T_RUNNING;
        return rc;
    }
    switch_to_sched(t, false);
    /* A cancel that arrived meanwhile takes effect here, as in asyncio. */
    return cio__task_check(t);
}

/* ---- scopes ------------------------------------------------------------------------- */

/* Seconds on the loop clock to ns; beyond ~146 years is "none" in effect. */
static int64_t when_to_ns(double when)
{
    return when <= 0 ? 0 : when >= 4.6e9 ? INT64_MAX / 2 : (int64_t)(when * 1e9);
}

static int scope_push(cio_scope *scope, int kind, int64_t deadline)
{
    struct cio__task *t = tls.current;
    if (!t)
        return -EPERM;
    if (!scope)
        return -EINVAL;
    struct cio__scope *s = cio__scope(scope);
    s->parent = t->scopes;
    s->deadline = deadline;
    s->kind = kind;
    s->expired = false;
    s->task = t;
    t->scopes = s;
    return 0;
}

int cio_timeout_begin(cio_scope *scope, double seconds)
{
    if (!tls.current)
        return -EPERM;
    if (!(seconds >= 0))
        return -EINVAL;
    int64_t ns = seconds >= 4.6e9 ? INT64_MAX / 2 : (int64_t)(seconds * 1e9);
    return scope_push(scope, CIO__SCOPE_DEADLINE, cio__loop_now(tls.current->loop) + ns);
}

int cio_deadline_begin(cio_scope *scope, double when)
{
    if (!tls.current)
        return -EPERM;
    if (isnan(when))
        return -EINVAL;
    return scope_push(scope, CIO__SCOPE_DEADLINE, when_to_ns(when));
}

int cio_shield_begin(cio_scope *scope) { return scope_push(scope, CIO__SCOPE_SHIELD, INT64_MAX); }

int cio_scope_end(cio_scope *scope)
{
    struct cio__task *t = tls.current;
    if (!t)
        return -EPERM;
    struct cio__scope *s = cio__scope(scope);
    if (!scope || t->scopes != s)
        return -EINVAL;
    bool expired = cio_scope_is_expired(scope);
    t->scopes = s->parent;
    s->task = NULL;
    s->expired = expired;
    return expired ? -ETIMEDOUT : 0;
}

bool cio_scope_is_expired(const cio_scope *scope)
{
    const struct cio__scope *s = cio__scope_const(scope);
    if (!s || s->kind != CIO__SCOPE_DEADLINE)
        return false;
    if (s->expired)
        return true;
    const struct cio__task *t = s->task;
    return t && s->deadline <= cio__loop_now(t->loop);
}

double cio_scope_deadline(const cio_scope *scope)
{
    const struct cio__scope *s = cio__scope_const(scope);
    if (!s || s->kind != CIO__SCOPE_DEADLINE || s->deadline >= INT64_MAX / 2)
        return INFINITY;
    return (double)s->deadline / 1e9;
}

/* After a deadline of t moved: if t is suspended, its wakeup timer is
 * re-armed for the new effective deadline (or its own wake_at, whichever
 * comes first), or, if that deadline has passed, t is woken with
 * -ETIMEDOUT. The new timer is armed before the old one is cancelled, so a
 * failure leaves everything as it was. A task not suspended needs
 * nothing: its next suspension computes the deadline afresh. */
static int rearm(struct cio__task *t)
{
    if (t->state != CIO__T_SUSPENDED)
        return 0;
    bool shielded;
    int64_t dl = effective_deadline(t, &shielded);
    if (dl <= cio__loop_now(t->loop)) {
        mark_expired(t);
        if (t->timer_armed) {
            cio_timer_cancel(t->loop, t->timer);
            t->timer_armed = false;
        }
        /* Through the ready queue: the caller (a callback, another task)
         * goes on before t runs, as after any other wakeup it causes. */
        cio__task_wake(t, -ETIMEDOUT, false);
        return 0;
    }
    int64_t at = t->wake_at < dl ? t->wake_at : dl;
    cio_handle h = 0;
    if (at < INT64_MAX / 2) {
        int rc = cio_call_at(t->loop, (double)at / 1e9, timer_cb, t, &h);
        if (rc)
            return rc;
    }
    if (t->timer_armed)
        cio_timer_cancel(t->loop, t->timer);
    t->timer = h;
    t->timer_armed = at < INT64_MAX / 2;
    return 0;
}

int cio_scope_reschedule(cio_scope *scope, double when)
{
    struct cio__scope *s = cio__scope(scope);
    if (!s || isnan(when) || s->kind != CIO__SCOPE_DEADLINE || !s->task ||
        cio_scope_is_expired(scope))
        return -EINVAL;
    struct cio__task *t = s->task;
    int rc = cio__check_thread(t->loop, __func__);
    if (rc)
        return rc;
    int64_t old = s->deadline;
    s->deadline = when == INFINITY ? INT64_MAX : when_to_ns(when);
    if ((rc = rearm(t)) != 0)
        s->deadline = old;
    return rc;
}
