/* Internal declarations of the future layer. */
#ifndef CIO_FUTURE_INTERNAL_H
#define CIO_FUTURE_INTERNAL_H

#include <cio/future.h>

/* Called when someone cancels a pending future, before anything else
 * happens. Return 0 to let the future be cancelled now, or 1 to keep it
 * pending: the hook's owner then finishes it later (a gather waiting for its
 * children, a task unwinding). A second cancel while the first is pending
 * returns 0 without calling the hook again. */
typedef int (*cio__cancel_hook)(cio_future *fut, void *arg);
void cio__future_set_cancel_hook(cio_future *fut, cio__cancel_hook hook, void *arg);
/* True once cancel was called on the future (even if it is still pending). */
bool cio__future_cancel_requested(const cio_future *fut);
/* Called once when the future is freed (before its memory is reused):
 * lets a combinator keep its inputs alive exactly as long as its output. */
typedef void (*cio__free_hook)(cio_future *fut, void *arg);
void cio__future_set_free_hook(cio_future *fut, cio__free_hook hook, void *arg);
/* Tasks: a task is a future whose `task` points to its running state while
 * it runs (NULL once it ended); is_task stays true. */
void cio__future_set_task(cio_future *fut, void *task);
void *cio__future_task(const cio_future *fut);
bool cio__future_is_task(const cio_future *fut);
bool cio__future_retrieved(const cio_future *fut);

/* The outcome without marking the error retrieved. */
int cio__future_peek_error(const cio_future *fut);
/* Marks the error retrieved without reading it. */
void cio__future_mark_retrieved(cio_future *fut);

#endif
