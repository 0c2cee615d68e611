/* Internal declarations of the task layer. */
#ifndef CIO_TASK_INTERNAL_H
#define CIO_TASK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cio/task.h>

#include "../core.h"
#include "ctx.h"
#include "stack.h"

enum cio__task_state {
    CIO__T_NEW,       /* created, first step scheduled */
    CIO__T_READY,     /* woken, resume scheduled */
    CIO__T_RUNNING,
    CIO__T_SUSPENDED,
    CIO__T_DONE,      /* body returned (or cancelled before it started) */
};

enum { CIO__SCOPE_DEADLINE = 1, CIO__SCOPE_SHIELD = 2 };

/* What a cio_scope holds. The public struct is caller-embedded storage
 * (uint64_t _private[8]) so that this can grow without changing the size
 * users compile in; the library alone reads and writes it, always through
 * this type, never through the public one's member. may_alias tells the
 * compiler so: a scope the user zeroed or copied (as cio_scope) and the
 * library reads (as this) is the same storage, also under LTO. */
struct __attribute__((__may_alias__)) cio__scope {
    struct cio__scope *parent;
    struct cio__task *task; /* while open; NULL once ended (or never begun) */
    int64_t deadline;       /* ns, loop clock; INT64_MAX: none */
    int kind;               /* CIO__SCOPE_*; 0: never begun */
    bool expired;
};
_Static_assert(sizeof(struct cio__scope) <= sizeof(cio_scope), "cio_scope too small");
_Static_assert(_Alignof(struct cio__scope) <= _Alignof(cio_scope), "cio_scope misaligned");

static inline struct cio__scope *cio__scope(cio_scope *scope)
{
    return (struct cio__scope *)(void *)scope;
}
static inline const struct cio__scope *cio__scope_const(const cio_scope *scope)
{
    return (const struct cio__scope *)(const void *)scope;
}

/* A task's running state. It lives at the top of its own stack slot (see
 * stack.c), so an idle task costs the one page its stack first touches. */
struct cio__task {
    cio__ctx ctx;
    cio_future *fut; /* the task as a future */
    cio_loop *loop;
    cio_task_fn fn;
    void *arg;
    void *result;
    cio_free_fn result_free;
    int rc;
    int wake_rc;
    enum cio__task_state state;
    bool cancelled; /* sticky */
    int interrupt;  /* one-shot error for the next suspension (a group's failure) */
    bool root_owned;
    bool timer_armed;
    bool unguarded; /* its stack has no guard page: checked at every switch-out */
    cio_handle timer;
    int64_t wake_at;            /* the suspension's own wakeup (ns; INT64_MAX: none) */
    struct cio__scope *scopes;  /* innermost first */
    struct cio_task_group *groups; /* open groups it owns, newest first */
    cio_future *awaiting;
    struct cio__stack *stack;
    struct cio__context *context; /* its context variables' values; NULL: none set */
    struct cio__task *next, *prev; /* the loop's list of tasks */
    struct cio_task_group *group;
    uint64_t id;
    int64_t created;
    /* sanitizers */
    void *asan_fake;
    void *tsan_fiber;
};

/* The running task on this thread, or NULL. */
struct cio__task *cio__task_current(void);
/* Suspends t until woken; also wakes at wake_at (ns, INT64_MAX: never) with
 * 0, or at the effective deadline with -ETIMEDOUT; returns -ECANCELED at
 * once if cancelled (and not shielded), -ETIMEDOUT at once if a deadline
 * passed. */
int cio__task_suspend(struct cio__task *t, int64_t wake_at);
/* Wakes a suspended task with rc (ignored if it is not suspended). direct:
 * resume it right here when called on the loop's own stack. */
void cio__task_wake(struct cio__task *t, int rc, bool direct);
/* -ECANCELED / -ETIMEDOUT if the task may not suspend now, else 0. */
int cio__task_check(struct cio__task *t);
/* Interrupts t's current suspension, or its next one, once with err (not
 * sticky); shield scopes hold it back. */
void cio__task_interrupt(struct cio__task *t, int err);

/* Creates a task; owner: NULL for the loop's root scope (which then holds
 * the creation reference), or a group/generator which takes *out as its
 * own reference. It starts with a copy of the running task's context
 * variables (cio_task_new's start with the defaults). */
int cio__task_create(cio_loop *loop, const cio_task_options *opts, cio_task_fn fn, void *arg,
                     struct cio_task_group *group, bool root_owned, cio_future **out);

/* Context variables (context.c). A new task's values: a reference to
 * parent's (NULL parent, or a parent with none set: NULL). */
struct cio__context *cio__context_inherit(const struct cio__task *parent);
/* Drops a reference (NULL is accepted); the last frees the values. */
void cio__context_unref(struct cio__context *c);
/* cio_to_thread_future for cio_to_thread: the job also sees the current
 * task's context variables on its pool thread. */
int cio__context_to_thread_future(cio_loop *loop, const cio_work_options *opts, cio_work_fn fn,
                                  void *arg, cio_future **out);

/* The task layer's state per loop, in the room the core keeps for it
 * (cio__loop_ext): inline in the loop, so a spawn costs no extra load. */
struct cio__task_loop {
    struct cio__task *tasks; /* every task not yet ended, newest first */
    size_t ntasks;
    uint64_t task_seq; /* task ids */
};
_Static_assert(sizeof(struct cio__task_loop) <= CIO__LOOP_EXT_SIZE,
               "the task layer's per-loop state outgrew the room the loop keeps for it");
static inline struct cio__task_loop *cio__task_loop(cio_loop *loop)
{
    return cio__loop_ext(loop);
}

/* The core's hooks (src/core.h), in dump.c: describes the running task for
 * a stall report ("task NAME"), from the watchdog's thread. */
void cio__task_describe(const void *task, char *buf, size_t len);
/* The done-callback of a task awaiting a future (task.c): wakes the task
 * `arg` (a task's future) if it still awaits `fut`, and drops the
 * reference on it the registration held. */
void cio__await_done(cio_future *fut, void *arg);

/* cio_run's generators (gen.c): begin lists those of loop made or started
 * from now on; end frees those still open once every task has ended. */
void cio__gens_begin(cio_loop *loop);
void cio__gens_end(cio_loop *loop);

/* Called by the group code when a child ends (group.c). */
void cio__group_child_done(struct cio_task_group *g, cio_future *child);
/* At the end of t's body, on its stack: reports and closes the groups it
 * left open, as leaving asyncio's `async with TaskGroup()` would (children
 * cancelled if the body failed, then waited for). Returns the task's
 * outcome: rc, or the groups' failure if rc is 0. May suspend. */
int cio__groups_close_left_open(struct cio__task *t, int rc);

#endif
