/* Internal declarations of the future layer. */
#ifndef CIO_FUTURE_INTERNAL_H
#define CIO_FUTURE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cio/future.h>

/* Called when someone cancels a pending future, before anything else
 * happens. Return 0 to let the future be cancelled now, or 1 to keep it
 * pending: the hook's owner then finishes it later (a gather waiting for its
 * children, a task unwinding). A second cancel while the first is pending
 * returns 0 without calling the hook again. */
typedef int (*cio__cancel_hook)(cio_future *fut, void *arg);
/* True once cancel was called on the future (even if it is still pending). */
bool cio__future_cancel_requested(const cio_future *fut);
/* Called once when the future is freed (before its memory is reused):
 * lets a combinator keep its inputs alive exactly as long as its output. */
typedef void (*cio__free_hook)(cio_future *fut, void *arg);

/* The layout is internal so that the task layer's hot paths can inline the
 * small accessors the core defines (src/core.h; measured: a fifth of the
 * cost of a spawn).
 *
 * A done-callback entry. cb NULL: a tombstone, an entry removed in O(1)
 * (cio__future_remove_awaiter) and passed over until the list is
 * compacted. cb cio__hooks.await_done: an awaiter's entry, whose arg is the
 * awaiting task's future, which keeps the entry's index in its cb_slot
 * (compacting the list updates it). */
struct cio__fcb {
    cio_future_cb cb;
    void *arg;
};

/* The state of a freed future while its loop caches it (never seen by a
 * correct program): see the free cache in future.c. */
#define CIO__FUTURE_FREED 3

struct cio_future {
    cio_loop *loop;
    uint32_t refs;
    uint8_t state;
    bool retrieved;
    bool cancel_requested;
    bool is_task;
    void *task;
    int err;
    /* Where this future's awaiter entry (cio__future_add_awaiter, on the
     * future it awaits) sits in that future's list. In what was padding. */
    uint32_t cb_slot;
    void *result;
    cio_free_fn dtor;
    uint32_t ncb, capcb;  /* entries in use (tombstones included), room */
    struct cio__fcb *cbs; /* inl, or heap when more than 2 */
    struct cio__fcb inl[2];
    cio__cancel_hook hook;
    void *hook_arg;
    cio__free_hook free_hook;
    void *free_arg;
    char *name;
    char *cancel_msg; /* cio_future_cancel_with_message's copy, or NULL */
    cio_future *next_free; /* in the loop's free cache (a ring) */
};

void cio__future_free(cio_future *fut); /* the last reference went */

/* Debug mode: where a future was made, for the live list at close and the
 * unretrieved-error report. cio_future_new records its caller; a public
 * constructor that makes its future through it (cio_spawn, the combinator
 * futures, cio_to_thread_future) records its own caller instead, with
 * CIO__FUTURE_SITE expanded in its own body: __builtin_return_address(0)
 * there is the user's call. Outside debug mode it costs the one branch. */
void cio__future_set_site(cio_future *fut, const void *site);
#define CIO__FUTURE_SITE(fut)                                                                     \
    do {                                                                                          \
        cio_future *site_fut_ = (fut);                                                            \
        if (__builtin_expect(site_fut_->loop->debug, 0))                                          \
            cio__future_set_site(site_fut_, __builtin_return_address(0));                         \
    } while (0)

/* Registers cio__hooks.await_done(fut, owner) (src/core.h: the layer
 * above's wakeup of an awaiting task) as a done-callback that can be
 * removed again in O(1) (amortized) by cio__future_remove_awaiter:
 * owner->cb_slot keeps the entry's index. So n tasks awaiting one future
 * and then cancelled cost O(n), not a scan of the list each. A future may
 * be the owner of one such registration at a time (on any future): a task
 * awaits one thing at a time. Otherwise exactly as
 * cio_future_add_done_callback: the entry keeps its place in the order of
 * callbacks, holds a reference on fut, and is scheduled when fut ends. */
int cio__future_add_awaiter(cio_future *fut, cio_future *owner);
/* Removes owner's registration from fut if it is still in the list (not
 * yet scheduled): returns 1, and drops the reference the registration held
 * on fut (never the last: the caller holds one). Returns 0 if there is
 * none. */
int cio__future_remove_awaiter(cio_future *fut, cio_future *owner);

static inline void cio__future_unref(cio_future *fut)
{
    if (--fut->refs == 0)
        cio__future_free(fut);
}

static inline void cio__future_set_cancel_hook(cio_future *fut, cio__cancel_hook hook, void *arg)
{
    fut->hook = hook;
    fut->hook_arg = arg;
}
void cio__future_set_free_hook(cio_future *fut, cio__free_hook hook, void *arg);
/* Tasks: a task is a future whose `task` points to its running state while
 * it runs (NULL once it ended); is_task stays true. */
static inline void cio__future_set_task(cio_future *fut, void *task)
{
    fut->task = task;
    if (task)
        fut->is_task = true;
}
static inline void *cio__future_task(const cio_future *fut) { return fut->task; }
static inline bool cio__future_is_task(const cio_future *fut) { return fut && fut->is_task; }
bool cio__future_retrieved(const cio_future *fut);

/* The outcome without marking the error retrieved. */
int cio__future_peek_error(const cio_future *fut);
/* The result without marking anything retrieved (NULL unless it succeeded). */
void *cio__future_peek_result(const cio_future *fut);

enum { CIO_FUTURE_PENDING = 0, CIO_FUTURE_DONE = 1, CIO_FUTURE_CANCELLED = 2 };
/* Marks the error retrieved without reading it. */
void cio__future_mark_retrieved(cio_future *fut);

/* Gives `to` the cancellation message of `from` (if it has one and `to`
 * none yet), where cio passes a cancellation on as asyncio passes its
 * CancelledError(msg). A message that cannot be copied (out of memory) is
 * dropped: the cancellation itself still happens. */
void cio__future_copy_cancel_message(cio_future *to, const cio_future *from);

/* Counts a task suspended in cio_as_completed_next on it (delta +1 before
 * the wait, -1 after), so that cio_as_completed_free refuses with -EBUSY
 * instead of freeing what the task still reads. */
void cio__as_completed_task_waits(cio_as_completed *it, int delta);

/* cio_as_completed_next's wait for step (its next-future) returned rc != 0:
 * if the task was interrupted (cancelled, a deadline) rather than the step
 * failing on its own (the iterator's timeout), gives the step back, and
 * the completion already assigned to it, if any, to the next step. */
void cio__as_completed_step_interrupted(cio_as_completed *it, cio_future *step, int rc);

#endif
