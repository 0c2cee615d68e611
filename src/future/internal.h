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
 * small accessors (measured: a fifth of the cost of a spawn). */
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
    void *result;
    cio_free_fn dtor;
    uint32_t ncb, capcb;
    struct cio__fcb *cbs; /* inl, or heap when more than 2 */
    struct cio__fcb inl[2];
    cio__cancel_hook hook;
    void *hook_arg;
    cio__free_hook free_hook;
    void *free_arg;
    char *name;
    cio_future *next_free; /* in the loop's free cache (a ring) */
};

void cio__future_free(cio_future *fut); /* the last reference went */

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
/* Marks the error retrieved without reading it. */
void cio__future_mark_retrieved(cio_future *fut);

#endif
