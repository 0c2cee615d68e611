/* cio: synchronisation between tasks, and queues (asyncio.Lock, Event,
 * Semaphore, BoundedSemaphore, Condition, Barrier, Queue, LifoQueue,
 * PriorityQueue).
 *
 * These are for tasks of one loop (not threads): none is thread-safe. While
 * tasks wait on an object, a wait from a task of another loop returns
 * -EINVAL (asyncio's "bound to a different event loop"); once none waits,
 * any loop may use it (one cio_run after another). Waiters are
 * served first come, first served. Every wait may suspend, is cancellable
 * (returns -ECANCELED) and honours the task's deadlines (returns
 * -ETIMEDOUT); a waiter that gives up never loses a wakeup meant for it: it
 * passes it on to the next waiter. Called outside a task, waits return
 * -EPERM; the non-waiting calls work anywhere on the loop's thread.
 *
 * Every object is made with cio_<type>_new(..., &out), which returns 0,
 * -EINVAL (NULL out, or a bad argument named at the function) or -ENOMEM,
 * and released with cio_<type>_free, which accepts NULL, never suspends,
 * and returns -EBUSY, freeing nothing, while tasks still wait on the object
 * (including tasks woken but not yet run). Getters and predicates of NULL
 * return 0 or false. Only the waits (_acquire, _wait, cio_queue_put,
 * cio_queue_get, cio_queue_join) may suspend; nothing else in this file
 * suspends. The full contract of every function, with an example, is in
 * docs/api/sync.md. */
#ifndef CIO_SYNC_H
#define CIO_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lock ---------------------------------------------------------------- */

typedef struct cio_lock cio_lock;
/* Creates an unlocked lock; *out is the caller's, for cio_lock_free. */
CIO_API int cio_lock_new(cio_lock **out);
/* Frees the lock (NULL accepted); -EBUSY, freeing nothing, while tasks
 * wait on it. */
CIO_API int cio_lock_free(cio_lock *lock);
/* Acquires the lock, waiting if it is held. Returns 0, -ECANCELED,
 * -ETIMEDOUT, -EINVAL (NULL, or tasks of another loop wait on it), -EPERM
 * outside a task, -ENOMEM. May suspend. */
CIO_API int cio_lock_acquire(cio_lock *lock);
/* Acquires without waiting; on 0 the caller holds the lock. Returns -EAGAIN
 * if it is held (or others wait first), -EINVAL for NULL. */
CIO_API int cio_lock_acquire_nowait(cio_lock *lock);
/* Releases; the first waiter gets the lock. Any code on the loop's thread
 * may release (asyncio's locks have no owner). Returns 0, or -EINVAL if the
 * lock is not held (or NULL), as asyncio's RuntimeError. */
CIO_API int cio_lock_release(cio_lock *lock);
/* True while the lock is held (false for NULL). */
CIO_API bool cio_lock_is_locked(const cio_lock *lock);

/* ---- Event --------------------------------------------------------------- */

typedef struct cio_event cio_event;
/* Creates an event, flag clear; *out is the caller's, for cio_event_free. */
CIO_API int cio_event_new(cio_event **out);
/* Frees the event (NULL accepted); -EBUSY, freeing nothing, while tasks
 * wait on it. */
CIO_API int cio_event_free(cio_event *ev);
/* Sets the flag and wakes every waiter. Ignores NULL. */
CIO_API void cio_event_set(cio_event *ev);
/* Clears the flag; later waits wait again. Ignores NULL. */
CIO_API void cio_event_clear(cio_event *ev);
/* True while the flag is set (false for NULL). */
CIO_API bool cio_event_is_set(const cio_event *ev);
/* Waits until the flag is set (returns at once if it is). Returns 0,
 * -EPERM outside a task, -EINVAL (NULL, or tasks of another loop wait on
 * it), -ECANCELED, -ETIMEDOUT, -ENOMEM. May suspend. */
CIO_API int cio_event_wait(cio_event *ev);

/* ---- Semaphore ----------------------------------------------------------- */

typedef struct cio_semaphore cio_semaphore;
/* Creates a semaphore with value units (0 is allowed); *out is the
 * caller's, for cio_semaphore_free. A bounded semaphore refuses a release
 * above its initial value. */
CIO_API int cio_semaphore_new(unsigned value, bool bounded, cio_semaphore **out);
/* Frees the semaphore (NULL accepted); -EBUSY, freeing nothing, while tasks
 * wait on it. */
CIO_API int cio_semaphore_free(cio_semaphore *sem);
/* Takes a unit, waiting while the value is 0; on 0 the caller holds a unit
 * until cio_semaphore_release, on an error none. Returns 0, -EPERM outside
 * a task, -EINVAL (NULL, or tasks of another loop wait on it), -ECANCELED,
 * -ETIMEDOUT, -ENOMEM. May suspend. */
CIO_API int cio_semaphore_acquire(cio_semaphore *sem);
/* Takes a unit without waiting: 0, -EAGAIN if it would wait, -EINVAL for
 * NULL. */
CIO_API int cio_semaphore_acquire_nowait(cio_semaphore *sem);
/* Gives a unit back; the first waiter gets it. Returns 0, or -EINVAL (a
 * bounded semaphore already at its initial value, as asyncio's ValueError;
 * the value at UINT_MAX; or NULL). */
CIO_API int cio_semaphore_release(cio_semaphore *sem);
/* The units available now (0 for NULL). */
CIO_API unsigned cio_semaphore_value(const cio_semaphore *sem);

/* ---- Condition ----------------------------------------------------------- */

typedef struct cio_condition cio_condition;
/* Creates a condition; *out is the caller's, for cio_condition_free. lock
 * may be NULL (the condition then makes its own). A lock passed in stays
 * the caller's and must outlive the condition. */
CIO_API int cio_condition_new(cio_lock *lock, cio_condition **out);
/* Frees the condition and its own lock, not a lock passed in (NULL
 * accepted); -EBUSY, freeing nothing, while tasks wait on it. */
CIO_API int cio_condition_free(cio_condition *cond);
/* Acquires the condition's lock: as cio_lock_acquire. May suspend. */
CIO_API int cio_condition_acquire(cio_condition *cond);
/* Releases the condition's lock: as cio_lock_release (-EINVAL if not
 * held). */
CIO_API int cio_condition_release(cio_condition *cond);
/* Releases the lock, waits for a notify, re-acquires the lock (even when
 * cancelled or timed out: on return the lock is always held again, as in
 * asyncio). Returns 0, -ECANCELED, -ETIMEDOUT, -EPERM outside a task,
 * -EINVAL if the lock is not held (nothing happens) or tasks of another
 * loop wait on the condition, -ENOMEM. May suspend. */
CIO_API int cio_condition_wait(cio_condition *cond);
/* Waits until pred(arg) is true (checked with the lock held). Errors as
 * cio_condition_wait, and -EINVAL for a NULL pred. May suspend. */
CIO_API int cio_condition_wait_for(cio_condition *cond, bool (*pred)(void *arg), void *arg);
/* Wakes up to n waiters. Returns 0, or -EINVAL if the lock is not held (or
 * cond is NULL). */
CIO_API int cio_condition_notify(cio_condition *cond, size_t n);
/* Wakes every waiter. Returns 0, or -EINVAL if the lock is not held (or
 * cond is NULL). */
CIO_API int cio_condition_notify_all(cio_condition *cond);

/* ---- Barrier ------------------------------------------------------------- */

typedef struct cio_barrier cio_barrier;
/* Creates a barrier for parties tasks, 1 to INT_MAX (-EINVAL otherwise);
 * *out is the caller's, for cio_barrier_free. */
CIO_API int cio_barrier_new(unsigned parties, cio_barrier **out);
/* Frees the barrier (NULL accepted); -EBUSY, freeing nothing, while tasks
 * wait on it. */
CIO_API int cio_barrier_free(cio_barrier *b);
/* Waits until `parties` tasks wait (asyncio.Barrier.wait). Returns 0 and
 * stores this task's index in order of arrival in *index (index may be
 * NULL): the first to arrive gets 0, the last parties-1 (and does not
 * suspend); *index is 0 on an error. Returns -EPIPE if the barrier is
 * broken (aborted, or a waiter was cancelled), -ECANCELED or -ETIMEDOUT
 * when this task gives up waiting (which breaks the barrier for the others,
 * threading.Barrier's rule), -EINVAL for a NULL b, -EPERM outside a task.
 * May suspend. */
CIO_API int cio_barrier_wait(cio_barrier *b, unsigned *index);
/* Breaks the barrier: current and future waits return -EPIPE until reset. */
CIO_API void cio_barrier_abort(cio_barrier *b);
/* Returns the barrier to its empty state; current waiters get -EPIPE. */
CIO_API void cio_barrier_reset(cio_barrier *b);
/* How many tasks wait on the barrier now (0 for NULL). */
CIO_API unsigned cio_barrier_n_waiting(const cio_barrier *b);
/* True while the barrier is broken (false for NULL). */
CIO_API bool cio_barrier_is_broken(const cio_barrier *b);

/* ---- Queues -------------------------------------------------------------- */

typedef struct cio_queue cio_queue;

typedef enum cio_queue_kind {
    CIO_QUEUE_FIFO = 0,
    CIO_QUEUE_LIFO = 1,
    CIO_QUEUE_PRIORITY = 2, /* smallest first by cmp; ties in put order */
} cio_queue_kind;

/* Creates a queue; *out is the caller's, for cio_queue_free. maxsize 0
 * means unbounded. cmp is required for CIO_QUEUE_PRIORITY
 * (-EINVAL if NULL, as is an unknown kind) and ignored otherwise. Items are
 * void *, owned by whoever holds them. */
CIO_API int cio_queue_new(cio_queue_kind kind, size_t maxsize,
                          int (*cmp)(const void *a, const void *b), cio_queue **out);
/* Frees the queue (NULL accepted); -EBUSY, freeing nothing, while tasks
 * wait on it. Items still queued are not freed. */
CIO_API int cio_queue_free(cio_queue *q);

/* Puts an item, waiting while the queue is full. On 0 the queue holds item;
 * on an error it is still the caller's. Returns 0, -ESHUTDOWN after
 * cio_queue_shutdown (also while waiting), -EPERM outside a task, -EINVAL
 * (NULL q, or tasks of another loop wait on it), -ECANCELED, -ETIMEDOUT,
 * -ENOMEM. May suspend. */
CIO_API int cio_queue_put(cio_queue *q, void *item);
/* Puts without waiting, ownership as cio_queue_put: 0, -EAGAIN if full,
 * -ESHUTDOWN, -EINVAL for a NULL q, -ENOMEM. */
CIO_API int cio_queue_put_nowait(cio_queue *q, void *item);
/* Takes an item, waiting while the queue is empty; on 0 *item is the
 * caller's. Returns 0, -ESHUTDOWN once the queue is shut down and empty (or
 * at once after an immediate shutdown), -EPERM outside a task, -EINVAL
 * (NULL q or item, or tasks of another loop wait on it), -ECANCELED,
 * -ETIMEDOUT, -ENOMEM. May suspend. */
CIO_API int cio_queue_get(cio_queue *q, void **item);
/* Takes without waiting; on 0 *item is the caller's. Returns 0, -EAGAIN if
 * empty, -ESHUTDOWN (shut down and empty), -EINVAL (NULL q or item). */
CIO_API int cio_queue_get_nowait(cio_queue *q, void **item);

/* Marks one item taken earlier as processed. Returns 0, or -EINVAL if
 * called more times than items were put (or q is NULL). */
CIO_API int cio_queue_task_done(cio_queue *q);
/* Waits until every item put has been marked done. Returns 0, -EPERM
 * outside a task, -EINVAL (NULL, or tasks of another loop wait on it),
 * -ECANCELED, -ETIMEDOUT, -ENOMEM. May suspend. */
CIO_API int cio_queue_join(cio_queue *q);

/* asyncio 3.13 Queue.shutdown: puts fail with -ESHUTDOWN from now on, and
 * waiting putters are woken with it; gets drain what is left, then fail.
 * With immediate, the queue is emptied at once (each removed item counts as
 * done for join), and waiting getters fail at once. */
CIO_API void cio_queue_shutdown(cio_queue *q, bool immediate);

/* The number of items queued (0 for NULL). */
CIO_API size_t cio_queue_size(const cio_queue *q);
/* The maxsize it was made with, 0 for unbounded (0 for NULL). */
CIO_API size_t cio_queue_maxsize(const cio_queue *q);
/* True if no item is queued (false for NULL). */
CIO_API bool cio_queue_is_empty(const cio_queue *q);
/* True if a bounded queue has no free slot (false for NULL). */
CIO_API bool cio_queue_is_full(const cio_queue *q);

#ifdef __cplusplus
}
#endif
#endif
