/* cio: futures and their combinators.
 *
 * A future belongs to one loop. It starts pending and ends exactly once:
 * with a result (a void * and an optional destructor), an error (a negative
 * errno) or cancelled. Done-callbacks never run inside set_result /
 * set_error / cancel: they are scheduled through the loop's callback queue,
 * in the order they were added (asyncio's semantics).
 *
 * Ownership: futures are reference counted (not atomically: loop thread
 * only). A constructor hands the caller one reference; release it with
 * cio_future_unref. Each done-callback holds its own reference from the
 * moment it is added until it has run (or is removed), so a future you
 * dropped still completes and calls back. All futures must be freed before
 * the loop closes.
 *
 * An error that nobody retrieved (with cio_future_error or cio_future_result)
 * is reported through the loop's report function when the future is freed,
 * in every build: errors are never lost silently. Cancellation is not
 * reported. */
#ifndef CIO_FUTURE_H
#define CIO_FUTURE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cio_future cio_future;


typedef void (*cio_future_cb)(cio_future *fut, void *arg);

/* A new pending future of loop, with one reference for the caller (*out
 * NULL on failure). Returns 0, -EINVAL (NULL out, NULL or closed loop),
 * -ENOMEM, -EPERM (debug mode, another thread). Does not suspend. */
CIO_API int cio_future_new(cio_loop *loop, cio_future **out);

/* Adds a reference to fut and returns fut (NULL for NULL); drop it with
 * cio_future_unref. Loop thread only. Never fails; does not suspend. */
CIO_API cio_future *cio_future_ref(cio_future *fut);
/* Drops a reference; the last one frees the future (running the result's
 * destructor, reporting an unretrieved error). NULL is accepted.
 *
 * Dropping (or taking) a reference you no longer hold is a bug. It is
 * caught while the loop still caches the freed future's memory: the call
 * is reported through the loop's report function and changes nothing. In
 * debug mode a freed future is reused only after 256 others were freed
 * after it, so a double unref is caught at least that long; outside debug
 * mode the memory may already belong to a new future, whose reference
 * would then be dropped. Does not suspend. */
CIO_API void cio_future_unref(cio_future *fut);

/* The loop fut belongs to (NULL for NULL). Does not suspend. */
CIO_API cio_loop *cio_future_loop(const cio_future *fut);

/* Completes the future with value; dtor (may be NULL) frees value when the
 * future is freed: on 0 with a dtor the future owns value, without one it
 * stays yours. Returns 0, or -EINVAL for NULL fut, a future already done
 * (the first outcome stays, and dtor is not called: the value stays yours)
 * or a task (a task's outcome is what its function returns; stop one with
 * cio_future_cancel). Does not suspend. */
CIO_API int cio_future_set_result(cio_future *fut, void *value, cio_free_fn dtor);

/* Fails the future with err (< 0). -ECANCELED is the same as cancelling.
 * Returns 0, or -EINVAL (NULL fut, err >= 0, already done, or a task, as
 * for cio_future_set_result). Does not suspend. */
CIO_API int cio_future_set_error(cio_future *fut, int err);

/* Cancels a pending future. Returns 0 (also when a cancellation was
 * already requested and is still under way), or -EINVAL for NULL or a
 * future already done (asyncio's cancel() returning False). Does not
 * suspend. */
CIO_API int cio_future_cancel(cio_future *fut);

/* cio_future_cancel with a reason (asyncio's cancel(msg)): message (copied;
 * NULL for none) is kept with fut, for cio_future_cancel_message. A task
 * cancelled this way reads it with cio_future_cancel_message(
 * cio_current_task()); whoever awaits or holds fut reads it from fut. Only
 * the call that requests the cancellation sets the message: on a future
 * whose cancellation is already requested (a task still unwinding, a
 * gather waiting for its children) it returns 0 and changes nothing, as a
 * second cancel(msg) in asyncio. Where cio passes a cancellation on, the
 * message goes with it: cancelling a gather or wait_for future (or a task
 * suspended in cio_gather or cio_wait_for) cancels the children with the
 * same message, and a gather or wait_for future that ends cancelled
 * because its child was cancelled takes the child's message. A shield
 * passes nothing either way, a deadline or a task group's cancellation has
 * no message, and cancelling a task suspended in cio_await leaves the
 * awaited future alone (cio_await never cancels it), so nothing reaches
 * it. Returns 0; -EINVAL if fut is NULL, done or cancelled; -ENOMEM (the
 * message could not be copied; nothing was cancelled). Does not suspend. */
CIO_API int cio_future_cancel_with_message(cio_future *fut, const char *message);

/* The message fut was cancelled with (see cio_future_cancel_with_message),
 * or NULL: none given, not cancelled, or NULL fut. Owned by fut, valid
 * while fut lives. Never fails; does not suspend. */
CIO_API const char *cio_future_cancel_message(const cio_future *fut);

/* True once fut is done or cancelled; false for NULL. Does not suspend. */
CIO_API bool cio_future_is_done(const cio_future *fut);
/* True if fut was cancelled; false for NULL. Does not suspend. */
CIO_API bool cio_future_is_cancelled(const cio_future *fut);

/* The outcome: 0 for a result, the future's error, or -ECANCELED. Returns
 * -EAGAIN while the future is pending and -EINVAL for NULL fut. Marks the
 * error retrieved. Does not suspend. */
CIO_API int cio_future_error(cio_future *fut);

/* The outcome and the result: on 0, *value receives the result, still
 * owned by the future (NULL once cio_future_take_result took it); on an
 * error *value is NULL. value may be NULL. Returns as cio_future_error:
 * the future's error, -ECANCELED, -EAGAIN while pending, -EINVAL for NULL
 * fut. Marks the error retrieved. Does not suspend. */
CIO_API int cio_future_result(cio_future *fut, void **value);

/* Takes the result out of the future: the caller now owns it and the
 * destructor will not run. The future no longer holds it: a later
 * cio_future_take_result or cio_future_result returns 0 with *value NULL.
 * Returns 0 or the errors of cio_future_result (nothing changes hands on
 * an error). Marks the error retrieved. Does not suspend. */
CIO_API int cio_future_take_result(cio_future *fut, void **value);

/* Adds a done-callback, which holds its own reference to fut until it has
 * run or is removed; arg stays yours. If the future is already done, the
 * callback is scheduled at once (through the queue, never run
 * synchronously). Returns 0, -EINVAL (NULL fut or cb), -ENOMEM. Does not
 * suspend. */
CIO_API int cio_future_add_done_callback(cio_future *fut, cio_future_cb cb, void *arg);

/* Removes every registration of (cb, arg) not yet scheduled (asyncio's
 * remove_done_callback, which also removes them all). Returns 0 when it
 * removed at least one, -ENOENT when there was none (never added, already
 * removed, or already scheduled because fut completed), -EINVAL for a NULL
 * fut. Does not suspend. */
CIO_API int cio_future_remove_done_callback(cio_future *fut, cio_future_cb cb, void *arg);

/* Names the future in reports (the string is copied; NULL clears).
 * Returns 0, -EINVAL (NULL fut), -ENOMEM. For a task, prefer
 * cio_task_set_name, which the stall watchdog can read safely. Does not
 * suspend. */
CIO_API int cio_future_set_name(cio_future *fut, const char *name);
/* The future's name, or NULL if it has none; owned by the future, valid
 * until it is renamed or freed. Does not suspend. */
CIO_API const char *cio_future_name(const cio_future *fut);
/* True if fut is a task's future (cio_task in task.h), also after the task
 * ended; false for NULL. Does not suspend. */
CIO_API bool cio_future_is_task(const cio_future *fut);

/* ---- Combinators --------------------------------------------------------
 * Each returns a new future (one reference for the caller) and holds its own
 * references to the inputs until it is freed. The inputs must belong to the
 * same loop. A combinator of n inputs costs O(n) time and memory in all,
 * however the inputs complete (not O(n) per completion). None of them
 * suspends: a task uses cio_gather, cio_wait_for, cio_shield (task.h).
 * Timeouts are in seconds: CIO_NO_TIMEOUT means none, a negative one has
 * already expired (as in asyncio, so a deadline computed as
 * `deadline - now` that went negative never waits forever), NaN is -EINVAL. */
#define CIO_NO_TIMEOUT INFINITY

enum {
    /* gather: never fail early; wait for every child and succeed; inspect
     * each child for its outcome (asyncio's return_exceptions=True). */
    CIO_GATHER_COLLECT = 1,
};

/* Completes when every child is done. *out is the caller's reference. Its
 * result is an array of n void * (owned by the gather future, valid while
 * it lives) holding the children's results (owned by the children) in
 * input order. Without CIO_GATHER_COLLECT, the first child to fail (or be
 * cancelled) fails the gather with that error at once; the other children
 * keep running. Cancelling the gather cancels every child, and the gather
 * ends cancelled once they are done. With n == 0 it completes at once with
 * an empty (NULL) result.
 *
 * Errors are never dropped (unlike asyncio, which marks every child's
 * exception retrieved): the error the gather passes on is retrieved from
 * its child, but a second failure, and every failure in COLLECT mode, stays
 * with its child and is reported when the child is freed unless you look
 * at it (cio_future_error).
 *
 * Returns 0, -EINVAL (NULL out, NULL or closed loop, NULL futs with n > 0,
 * a NULL input or one of another loop, an unknown flag), -ENOMEM, -EPERM
 * (debug mode, another thread); the children's outcomes are the gather's,
 * not this call's. Does not suspend. */
CIO_API int cio_gather_future(cio_loop *loop, cio_future *const *futs, size_t n, int flags,
                              cio_future **out);

typedef enum cio_wait_mode {
    CIO_WAIT_ALL_COMPLETED = 0,
    CIO_WAIT_FIRST_COMPLETED = 1,
    CIO_WAIT_FIRST_EXCEPTION = 2,
} cio_wait_mode;

/* The outcome of a wait: the inputs split into those done and those still
 * pending, each in input order. The pointers are the inputs' own (borrowed:
 * no reference is added). */
typedef struct cio_wait_sets {
    cio_future **done;
    size_t n_done;
    cio_future **pending;
    size_t n_pending;
} cio_wait_sets;

/* asyncio.wait for callback code: *out (caller's reference) completes when
 * the mode's condition holds (CIO_WAIT_ALL_COMPLETED: every input done;
 * CIO_WAIT_FIRST_COMPLETED: any; CIO_WAIT_FIRST_EXCEPTION: any failed, not
 * cancelled, or all done) or timeout (seconds, CIO_NO_TIMEOUT for none; 0
 * or less looks once in the next iteration) expires. It never cancels the
 * inputs, and fails only with -ENOMEM (no memory for the sets). Its result
 * is a `const cio_wait_sets *` describing the inputs as they were when it
 * completed (n_done + n_pending == n); the sets and the arrays belong to
 * the wait future and are freed with it, and the input pointers in them
 * stay valid as long as it lives (it holds a reference to each input).
 * Errors of the inputs are not retrieved: look at each done future.
 * Cancelling the wait future leaves the inputs alone. futs are the
 * caller's (the call takes its own references). Returns 0, -EINVAL (NULL
 * out or loop, a closed loop, n == 0 as in asyncio, NULL futs or a NULL
 * entry, an input of another loop, a bad mode, a NaN timeout), -ENOMEM,
 * -EPERM (debug mode, another thread). Does not suspend. */
CIO_API int cio_wait_future(cio_loop *loop, cio_future *const *futs, size_t n, cio_wait_mode mode,
                            double timeout, cio_future **out);

/* Completes with fut's outcome, or, when timeout expires first, cancels fut
 * and fails with -ETIMEDOUT once fut is done. If fut completed in the same
 * iteration the timeout expired, its outcome wins. Cancelling the wrapper
 * cancels fut. If fut, once cancelled (by the timeout or the wrapper's
 * cancel), still ends with a result, or with an error of its own rather
 * than -ECANCELED, that outcome is the wrapper's (asyncio 3.12): an error
 * is never swallowed. *out is the caller's reference; it holds one to fut.
 * The result value stays owned by fut (no destructor here). Returns 0,
 * -EINVAL (NULL out or fut, NULL or closed loop, fut of another loop, NaN
 * timeout), -ENOMEM, -EPERM (debug mode, another thread); fut's outcome,
 * -ETIMEDOUT or -ECANCELED is the wrapper's, not this call's. Does not
 * suspend. */
CIO_API int cio_wait_for_future(cio_loop *loop, cio_future *fut, double timeout, cio_future **out);

/* A future that mirrors fut, whose cancellation does not cancel fut. If the
 * shield is cancelled and fut fails later, fut keeps its error: it is
 * reported when fut is freed unless retrieved (asyncio drops it). *out is
 * the caller's reference; it holds one to fut, which owns the result.
 * Returns 0, -EINVAL (NULL out or fut, NULL or closed loop, fut of another
 * loop), -ENOMEM, -EPERM (debug mode, another thread). Does not suspend. */
CIO_API int cio_shield_future(cio_loop *loop, cio_future *fut, cio_future **out);

/* as_completed: an iterator over futures in completion order. */
typedef struct cio_as_completed cio_as_completed;

/* Creates the iterator; timeout (seconds, CIO_NO_TIMEOUT for none) bounds
 * the whole iteration: once it passes, inputs that completed before it are
 * still handed out first, and every remaining step then fails with
 * -ETIMEDOUT, also after an input completes late (asyncio 3.12). *out is
 * the caller's, freed with cio_as_completed_free; the iterator holds a
 * reference to each input until then. Returns 0, -EINVAL (NULL out, NULL
 * or closed loop, NULL futs with n > 0, a NULL input or one of another
 * loop, NaN timeout), -ENOMEM. Does not suspend. */
CIO_API int cio_as_completed_new(cio_loop *loop, cio_future *const *futs, size_t n,
                                 double timeout, cio_as_completed **out);

/* A future (caller's reference) that completes with the next child to
 * complete, as its result (a cio_future *, owned by the iterator); or
 * fails with -ETIMEDOUT when the timeout expired first. Cancelling it
 * while it waits gives its step back: it does not count as one of the n,
 * and the child it would have received goes to the next step. Returns 0;
 * -ENODATA (the end of the iteration; *out NULL) once n steps have been
 * taken and not given back; -EINVAL for a NULL out or it; -ENOMEM. Does
 * not suspend. */
CIO_API int cio_as_completed_next_future(cio_as_completed *it, cio_future **out);

/* Frees the iterator (and its references to the children, which keep
 * running). Pending cio_as_completed_next_future futures are cancelled.
 * Returns 0 (also for NULL), or -EBUSY and frees nothing while a task is
 * suspended in cio_as_completed_next on it. Does not suspend. */
CIO_API int cio_as_completed_free(cio_as_completed *it);

#ifdef __cplusplus
}
#endif
#endif
