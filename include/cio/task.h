/* cio: tasks, stackful coroutines with asyncio's semantics.
 *
 * A task runs a function on its own stack, on a loop's thread, and can
 * suspend (await a future, sleep, wait on a lock or queue) without blocking
 * the loop: code reads like blocking code. A task IS a future
 * (cio_task is cio_future): await it, cancel it, add done-callbacks to it.
 * Its result is the task function's result, its error the function's
 * negative return value.
 *
 * Suspending calls (everything documented "may suspend") are valid only
 * inside a task; elsewhere they return -EPERM and do nothing.
 *
 * Cancellation (cio_future_cancel on a task) is sticky, as in trio: the
 * task's current suspension and every later one return -ECANCELED until the
 * task ends, so a cancelled task cannot wander on by accident. A call that
 * does not need to suspend (awaiting a future already done, taking a free
 * lock) succeeds as in asyncio. Code running in tasks should be compiled
 * with -fstack-clash-protection, so a frame larger than the guard area
 * below a stack still hits it (see cio_task_options). Work that must
 * suspend while cancelled (closing a connection politely) runs inside a
 * shield scope. A task that was cancelled yet returns 0 swallowed the
 * cancellation: that is reported (asyncio's silent-swallow trap).
 *
 * Ownership: every task has an owner scope, its task group, or for a task
 * started with cio_spawn the loop's root scope, which holds a reference
 * until the task ends. So no task is ever lost while pending, and an error
 * nobody awaited is reported when the task's last reference goes. */
#ifndef CIO_TASK_H
#define CIO_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "future.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A task is a future. */
typedef cio_future cio_task;

/* A task's body. Return 0 and set *result (initially NULL), or return a
 * negative errno, which fails the task. */
typedef int (*cio_task_fn)(void *arg, void **result);

/* Options for a new task. Make them with CIO_TASK_OPTIONS_INIT or
 * CIO_TASK_OPTIONS(...); zero fields mean the default. Extensible like
 * cio_loop_options (size, -EINVAL, -E2BIG: see cio/loop.h). */
typedef struct cio_task_options {
    size_t size;       /* sizeof(cio_task_options) as compiled: the macros */
    const char *name;  /* copied; default "task-N" */
    /* bytes; default 256 KiB. The stack's slot, rounded up to a power of two
     * (16 KiB to 1 GiB), holds a guard area (64 KiB, or an eighth of smaller
     * slots) and the task's own state (a few hundred bytes) besides the
     * stack. Overflowing it stops the process with "cio: stack overflow in
     * task '<name>'" on stderr (SIGABRT) before any other task runs.
     *
     * How: normally the guard area is a guard page, and the overflowing
     * access itself faults. On kernels without MADV_GUARD_INSTALL (before
     * Linux 6.13: Debian 12, Ubuntu 22.04) a guard page costs mappings, so
     * only a budget of stacks gets one: vm.max_map_count, less the mappings
     * in use when the first guard is made, less a quarter of the limit (at
     * least 4096) left to the rest of the program; guards take three
     * quarters of that, two mappings each (about 18,000 stacks at the
     * default 65530). Past it, stderr says so once, and each new stack is
     * gap-protected instead: the slot below it is left unused (address
     * space, and about 0.5 KiB of page tables per idle task), and when the
     * task suspends or ends, its stack pointer and the last 512 bytes of its
     * guard area are checked. An overflow there is caught at that switch
     * (or at a fault on the way), not at the access; an overflow that only
     * writes zeros or jumps over those 512 bytes, and returns before the
     * task switches, is not seen, and within the guard area and the unused
     * slot it corrupts nothing. Frames larger than the guard area can step
     * over a guard page: compile task code with -fstack-clash-protection. */
    size_t stack_size;
} cio_task_options;

/* cio_task_options o = CIO_TASK_OPTIONS_INIT; (every field the default) */
#define CIO_TASK_OPTIONS_INIT {.size = sizeof(cio_task_options)}
/* A pointer to options made in place:
 * cio_spawn_with(&CIO_TASK_OPTIONS(.name = "worker"), fn, arg, &t). */
#define CIO_TASK_OPTIONS(...) ((cio_task_options){.size = sizeof(cio_task_options), __VA_ARGS__})

/* asyncio.run: creates a loop (opts may be NULL), runs main(arg) as a task
 * until it ends, cancels the tasks it left behind (any number, in O(n)) and
 * waits for them, however long a shielded cleanup takes; tasks left
 * waiting for something nothing in the loop can finish any more are
 * reported and left with the loop (asyncio would hang). Then it frees
 * the generators left open (see cio_gen_new), refuses threadsafe calls
 * from then on and runs every one it accepted before (loop.h's promise; a
 * cio_spawn_threadsafe among them starts no task, see there), waits for
 * the loop's thread pool jobs, drops the callbacks and timers still
 * queued, frees the loop.
 * Returns main's outcome (0, its error, or -ECANCELED); -EDEADLK, doing
 * nothing, when called from a task or while a loop runs on this thread
 * (from a callback: the loop would wait for the whole run); -EINVAL for a
 * NULL main; or, when main succeeded but the loop could not be freed (a
 * future of it still referenced: reported, and the loop is leaked), -EBUSY.
 * *result (may be NULL) receives main's result whenever main succeeded,
 * even on -EBUSY, and with it the ownership: a result main gave a
 * destructor (cio_task_set_result_free) is the caller's to free; with
 * result NULL it is freed here. cio_run_with's opts are the loop's: its
 * errors include cio_loop_new's (-EINVAL, -E2BIG for the options), and
 * -ENOMEM or a failing system call's errno when the loop or the main task
 * cannot be created. Does not suspend: it blocks the calling thread until
 * main and the tasks it left behind have ended. */
CIO_API int cio_run(cio_task_fn main, void *arg, void **result);
/* cio_run with loop options (opts may be NULL, read during the call): the
 * same contract, and cio_loop_new's errors for opts. Does not suspend. */
CIO_API int cio_run_with(const cio_loop_options *opts, cio_task_fn main, void *arg,
                         void **result);

/* Starts fn(arg) as a task on the current task's loop (asyncio.create_task).
 * It first runs on a later iteration, never inside this call. Cancelled
 * before that, its body still runs (so it can free what arg hands over) and
 * its first suspension fails with -ECANCELED. The loop's root scope owns it
 * until it ends; *out (may be NULL) receives a reference for the caller
 * (drop it with cio_future_unref; NULL on an error). arg goes to fn as is.
 * It starts with a copy of the current task's context variables. Returns
 * 0, -EPERM outside a task (use cio_task_new there), -EINVAL for a NULL fn,
 * -ENOMEM (the task or its stack). Does not suspend. */
CIO_API int cio_spawn(cio_task_fn fn, void *arg, cio_task **out);
/* The same with options (name, stack size); opts may be NULL, is not kept
 * (the name is copied). Also returns -EINVAL or -E2BIG for options cio
 * cannot read (see cio_loop_options), -ENOMEM. Does not suspend. */
CIO_API int cio_spawn_with(const cio_task_options *opts, cio_task_fn fn, void *arg,
                           cio_task **out);

/* Starts a task on any loop, from anywhere on the loop's thread (a
 * callback, or before the loop runs). The loop's root scope owns it until
 * it ends; *out (may be NULL) receives a reference for the caller (NULL on
 * an error). opts may be NULL (the name is copied); arg as for cio_spawn.
 * Its context variables start at their defaults, also when called from a
 * task. Returns 0; -EINVAL (NULL or closed loop, NULL fn, bad opts);
 * -E2BIG (opts: see cio_loop_options); -ENOMEM; -EPERM in debug mode from
 * another thread. Does not suspend. */
CIO_API int cio_task_new(cio_loop *loop, const cio_task_options *opts, cio_task_fn fn, void *arg,
                         cio_task **out);

/* Waits for fut (borrowed) to finish and returns its outcome: 0, its
 * error, or -ECANCELED; on 0, *result (may be NULL) receives its value
 * (still owned by fut). Retrieves fut's error. Cancelling the waiting task
 * does not cancel fut (use cio_future_cancel on it, or cio_wait_for).
 * Also returns -ECANCELED / -ETIMEDOUT if the waiting task is cancelled or
 * its deadline passes first, -EPERM outside a task, -EINVAL (NULL fut, the
 * calling task itself, or another loop's), -ENOMEM. May suspend. */
CIO_API int cio_await(cio_future *fut, void **result);

/* Suspends the current task for `seconds` (>= 0). Returns 0, -ECANCELED,
 * -ETIMEDOUT (an enclosing deadline came first), -EINVAL (negative or NaN
 * seconds), -EPERM outside a task, -ENOMEM. May suspend. */
CIO_API int cio_sleep(double seconds);

/* Lets every other ready callback and task run, then resumes (sleep(0)).
 * Returns 0, -ECANCELED, -ETIMEDOUT, -EPERM outside a task, -ENOMEM (the
 * ready queue is full). May suspend. */
CIO_API int cio_yield(void);

/* Inside a task: the result its function returns will be freed with fn
 * when the task's future is freed (unless someone takes it out with
 * cio_future_take_result), and at once if the function fails instead.
 * So an owned result nobody awaits does not leak; taking it out makes it
 * the taker's. Returns 0, or -EPERM outside a task. Does not suspend. */
CIO_API int cio_task_set_result_free(cio_free_fn fn);

/* The running task (borrowed: cio_future_ref it to keep it), or NULL
 * outside a task. Does not suspend. */
CIO_API cio_task *cio_current_task(void);

/* The task's name; an unnamed task is "task-N", N its id (unique per loop),
 * also after it ended. Owned by the task; valid until it is renamed or its
 * last reference goes. NULL for NULL or a future that is not a task (or
 * when there is no memory for the "task-N" string). Does not suspend. */
CIO_API const char *cio_task_name(const cio_task *task);
/* Renames a task (the name is copied). Returns 0, -EINVAL (NULL or not a
 * task), -ENOMEM. Does not suspend. */
CIO_API int cio_task_set_name(cio_task *task, const char *name);

/* Fills out with up to max tasks of loop that have not ended (each with a
 * new reference the caller drops); returns how many exist in all, 0 for a
 * NULL loop. Never fails; loop thread only; does not suspend. */
CIO_API size_t cio_all_tasks(cio_loop *loop, cio_task **out, size_t max);

/* Runs fn(arg) on the thread pool and waits for it (asyncio.to_thread).
 * arg goes to fn as is; on 0, *result (may be NULL) receives fn's result,
 * which is the caller's. If the task is cancelled meanwhile, returns
 * -ECANCELED at once; fn still runs to completion on its thread (a thread
 * cannot be interrupted) and its result is dropped; if fn had not started,
 * it never runs. Owned arguments and results want cio_to_thread_with. fn
 * sees the task's context variables (cio_context_var_get), read-only.
 * Returns 0, fn's own error, -ECANCELED, -ETIMEDOUT (a deadline of the
 * task), -EPERM outside a task, -EINVAL for a NULL fn, -ENOMEM or the error
 * of starting a pool thread. May suspend. */
CIO_API int cio_to_thread(cio_work_fn fn, void *arg, void **result);

/* cio_to_thread with ownership (opts may be NULL; see
 * cio_to_thread_future). On 0, *result (may be NULL) receives fn's
 * result and it is the caller's; with result NULL it is freed with
 * opts->result_free before this returns. On an error of fn, a result it
 * stored is freed with result_free. Cancelled before fn started: fn never
 * runs, and arg goes to opts->arg_free (on the loop, once the pool hands
 * the job back, after this call returned -ECANCELED). Cancelled while fn
 * runs: returns -ECANCELED at once, and the result is freed with
 * result_free when fn returns. If the job could not be started (-EPERM
 * outside a task, -EINVAL, -E2BIG as cio_to_thread_future, -ENOMEM),
 * nothing is freed and arg is still the caller's. May suspend. */
CIO_API int cio_to_thread_with(const cio_work_options *opts, cio_work_fn fn, void *arg,
                               void **result);

/* ---- Deadlines and shields -------------------------------------------------
 * A scope is a struct the caller keeps (on its stack, typically) for the
 * scope's lifetime: a deadline costs no allocation. Its contents are
 * private; it needs no initialisation before cio_*_begin and no cleanup
 * after cio_scope_end, and must not be copied or moved while open. Scopes
 * nest and must end in reverse order of beginning, on the same task. */

typedef struct cio_scope {
    uint64_t _private[8];
} cio_scope;

/* Begins a deadline scope of `seconds` from now (asyncio.timeout, trio's
 * move_on_after) on the current task. When the deadline passes, the
 * suspension in progress and every later one inside the scope (outside an
 * inner shield) return -ETIMEDOUT, until cio_scope_end. The deadline can be
 * read and moved (cio_scope_deadline, cio_scope_reschedule). Returns 0,
 * -EPERM outside a task, -EINVAL for a NULL scope or a negative or NaN
 * delay. Does not suspend. */
CIO_API int cio_timeout_begin(cio_scope *scope, double seconds);

/* The same with an absolute deadline `when` on the loop clock
 * (cio_loop_time; asyncio.timeout_at); a time already past expires at the
 * first suspension, INFINITY is no deadline. Returns 0, -EPERM outside a
 * task, -EINVAL for a NULL scope or a NaN when. Does not suspend. */
CIO_API int cio_deadline_begin(cio_scope *scope, double when);

/* Begins a shield scope: inside, the task's cancellation and enclosing
 * deadlines are held back (suspensions return normally), so cleanup can
 * suspend. A deadline scope begun inside a shield still applies. Returns
 * 0, -EPERM outside a task, -EINVAL for a NULL scope. Does not suspend. */
CIO_API int cio_shield_begin(cio_scope *scope);

/* Ends the innermost scope, which must be `scope` (a task that returns with
 * a scope still open is reported, and the task's scopes are dropped; such
 * a scope must not be used again). Returns
 * -ETIMEDOUT if this deadline scope expired (the scope's owner learns of
 * it), else 0; a cancellation or outer expiry held back by a shield
 * resumes now. -EINVAL if scope is not the current task's innermost open
 * scope, -EPERM outside a task. The deadline and the expiry stay readable
 * after the end. Does not suspend. */
CIO_API int cio_scope_end(cio_scope *scope);

/* True if this deadline scope's deadline has passed (also after it ended
 * expired). False for a shield scope or NULL. Never fails; does not
 * suspend. */
CIO_API bool cio_scope_is_expired(const cio_scope *scope);

/* The deadline of a deadline scope, in seconds on the loop clock
 * (cio_loop_time), open or ended (asyncio's Timeout.when()). INFINITY when
 * it has none (begun or rescheduled with INFINITY, or more than about 146
 * years ahead), and for a shield scope or NULL. Never fails; does not
 * suspend. */
CIO_API double cio_scope_deadline(const cio_scope *scope);

/* Moves an open deadline scope's deadline to `when`, seconds on the loop
 * clock (asyncio's Timeout.reschedule()): later or earlier; INFINITY
 * removes it; a time not after cio_loop_time expires the scope at once, so
 * the suspension in progress inside it (if its task is suspended, outside
 * an inner shield) returns -ETIMEDOUT and cio_scope_end returns -ETIMEDOUT.
 * A suspension in progress waits for the new deadline instead of the old.
 * Callable on the loop's thread by the scope's own task, and, while that
 * task is suspended, by a callback or another task (an idle timer moving a
 * connection's deadline, say). Enclosing and inner scopes keep their own
 * deadlines and the order of ending. Returns 0; -EINVAL for a NULL scope,
 * a NaN when, a shield scope, a scope that has expired (asyncio refuses to
 * reschedule an expiring Timeout), or one that ended (also a zeroed
 * scope never begun); -ENOMEM (the deadline is unchanged). Does not
 * suspend. */
CIO_API int cio_scope_reschedule(cio_scope *scope, double when);

/* Waits for fut with a timeout (seconds, CIO_NO_TIMEOUT for none), from a
 * task (asyncio.wait_for): on timeout fut is cancelled (with no message)
 * and -ETIMEDOUT returned. If the waiting task is cancelled, fut is
 * cancelled too, with the task's cancellation message if it has one. If
 * fut completed in the same iteration the timeout expired, its outcome
 * wins. fut is borrowed; on 0, *result (may be NULL) receives its value,
 * still owned by fut. Returns 0, fut's error (retrieved), -ETIMEDOUT (the
 * timeout, or a deadline of the task), -ECANCELED (the task or fut was
 * cancelled), -EPERM outside a task, -EINVAL (NULL fut, another loop's, NaN
 * timeout), -ENOMEM. May suspend. */
CIO_API int cio_wait_for(cio_future *fut, double timeout, void **result);

/* ---- Task groups (asyncio.TaskGroup, structured concurrency) ----------- */

typedef struct cio_task_group cio_task_group;

/* Creates a group owned by the current task, which cio_task_group_end
 * frees. Returns 0, -EINVAL for a NULL out, -EPERM outside a task.
 * The owner must call cio_task_group_end before it returns. If it does
 * not, that is reported, and the group is closed as leaving asyncio's
 * `async with TaskGroup()` would close it, before the owner's task ends:
 * if the owner's function failed, the children are cancelled; then they
 * are waited for (so the report comes first, in case that wait is long);
 * the group's failure, if any, becomes the task's outcome when the
 * function returned 0, and is reported otherwise; the group is freed.
 * So no group ever outlives its owner. -ENOMEM: no memory for the group,
 * which includes what cio_task_group_end waits with, so the end itself
 * never runs out of memory. Does not suspend. */
CIO_API int cio_task_group_begin(cio_task_group **out);

/* Starts fn(arg) as a child of the group; children may spawn siblings, also
 * while the owner waits. The child starts with a copy of the calling
 * task's context variables. The group holds a reference to every child;
 * *out (may be NULL) receives an extra one for the caller (NULL on an
 * error). Returns 0; -EINVAL (NULL g or fn, bad opts), -E2BIG and -ENOMEM
 * as cio_task_new; -EBUSY once the group is closing after a failure or an
 * interrupted wait, or is finished: cio_task_group_end saw its last child
 * end and is about to return (asyncio's "TaskGroup is finished"). The
 * group is freed when cio_task_group_end returns: no call after that. Does
 * not suspend. */
CIO_API int cio_task_group_spawn(cio_task_group *g, const cio_task_options *opts, cio_task_fn fn,
                                 void *arg, cio_task **out);

/* Waits until every child has ended, then frees the group. When a child
 * fails, the group cancels the other children and refuses new ones, and if
 * the owner is still in the group's body, its current (or next) suspension
 * fails once with -ECANCELED so it reaches cio_task_group_end (asyncio
 * cancels the owner; here the interruption is not sticky and the end clears
 * it). The end then returns the first failure. Every other failure is
 * reported through the loop's report function, so none is lost. A child
 * that ends cancelled is not a failure. If the owner is cancelled or its
 * deadline passes while waiting, the children are cancelled and waited
 * for, and -ECANCELED / -ETIMEDOUT returned. It allocates nothing, so it
 * cannot fail with -ENOMEM, and it never frees the group while a child is
 * alive. Must be called by the owner. May suspend. */
CIO_API int cio_task_group_end(cio_task_group *g);

/* Cancels every child of the group (the group itself stays usable and
 * still accepts children). Ignores NULL. Does not suspend. */
CIO_API void cio_task_group_cancel(cio_task_group *g);

/* ---- Awaitable combinators ----------------------------------------------- */

/* Awaits every future; results[i] (may be NULL) receives each value. Without
 * CIO_GATHER_COLLECT the first failure is returned at once (the others keep
 * running); with it, waits for all and returns 0 (look at each future). If
 * the waiting task is cancelled, the futures are cancelled too, with the
 * task's cancellation message if it has one (asyncio passes cancel(msg) on
 * the same way); a deadline of the task cancels them with none. Inputs are
 * borrowed; each results[i] is still owned by futs[i]. Returns 0, the first
 * failure (retrieved; -ECANCELED for a cancelled input), -ECANCELED /
 * -ETIMEDOUT (the task was cancelled or its deadline passed), -EPERM
 * outside a task, -EINVAL (NULL futs with n > 0, a NULL entry or one of
 * another loop, unknown flags), -ENOMEM. May suspend. */
CIO_API int cio_gather(cio_future *const *futs, size_t n, int flags, void **results);

/* asyncio.wait: waits until the mode's condition holds
 * (CIO_WAIT_ALL_COMPLETED: every future done; CIO_WAIT_FIRST_COMPLETED:
 * any; CIO_WAIT_FIRST_EXCEPTION: any failed, not cancelled, or all done)
 * or timeout (seconds, CIO_NO_TIMEOUT for none) passes, then splits futs
 * into the done and the pending, as they are when the task resumes. done
 * and pending are caller arrays of n entries
 * (or NULL when that set is not wanted); each receives the inputs' pointers
 * (borrowed, no reference added) in input order, and *n_done / *n_pending
 * (each may be NULL) their counts, which add up to n. The timeout passing
 * is not an error: it returns 0 with the futures not done in pending.
 * Cancels nothing, and retrieves no error: look at each done future.
 * Returns 0; -ECANCELED when the calling task is cancelled; -ETIMEDOUT when
 * a deadline scope of the task expires (never for timeout); -EINVAL (n == 0
 * as in asyncio, NULL futs or a NULL entry, a future of another loop, a bad
 * mode, a NaN timeout); -EPERM outside a task; -ENOMEM. On an error the
 * counts are 0 and the arrays untouched. May suspend. */
CIO_API int cio_wait(cio_future *const *futs, size_t n, cio_wait_mode mode, double timeout,
                     cio_future **done, size_t *n_done, cio_future **pending, size_t *n_pending);

/* Awaits a shielded future: cancelling the waiting task leaves fut running.
 * fut is borrowed; on 0, *result (may be NULL) receives its value, still
 * owned by fut. Returns fut's outcome (0, its error, or -ECANCELED if it was
 * cancelled), -ECANCELED / -ETIMEDOUT (the task was cancelled or its
 * deadline passed; fut keeps running), -EPERM outside a task, -EINVAL (NULL
 * fut or another loop's), -ENOMEM. May suspend. */
CIO_API int cio_shield(cio_future *fut, void **result);

/* Awaits the next future of an as_completed iterator to complete; *done
 * (may be NULL) receives it (owned by the iterator; NULL on an error).
 * Returns 0; -ENODATA (the end of the iteration) once every future was
 * handed out; -ETIMEDOUT when the iterator's timeout passed (then every
 * remaining call does, also after a future completes late); -ECANCELED
 * when the calling task is cancelled, -ETIMEDOUT when its deadline passes:
 * such an interrupted call gives its step back (it is not one of the n),
 * and a future already assigned to it goes to the next call, ahead of the
 * later ones; -EINVAL for a NULL it; -EPERM outside a task. While it
 * waits, cio_as_completed_free(it) refuses with -EBUSY. May suspend. */
CIO_API int cio_as_completed_next(cio_as_completed *it, cio_future **done);

/* ---- Generators -------------------------------------------------------------
 * A generator is a coroutine that yields values to its consumer, one per
 * cio_gen_next. It runs on its own stack on the consumer's loop and may
 * await between yields (an async generator). Both sides must be tasks. */

typedef struct cio_gen cio_gen;
typedef int (*cio_gen_fn)(cio_gen *gen, void *arg);

/* Creates a generator; its body starts on the first cio_gen_next.
 * Close every generator with cio_gen_close. One of cio_run's loop (made by
 * a task of it, or first advanced by one) that is still open when cio_run's
 * main returns is closed by cio_run: its body is cancelled with the other
 * tasks left behind (a pending cio_gen_yield returns -ECANCELED, so its
 * cleanup runs) and the generator is freed; the pointer is then invalid.
 * opts are copied (a stack_size the loop cannot give fails the first
 * cio_gen_next). *out is the caller's until cio_gen_close; arg goes to fn
 * as is. Returns 0, -EINVAL (NULL out or fn; *out is then NULL), -E2BIG
 * (opts: see cio_loop_options), -ENOMEM. Does not suspend. */
CIO_API int cio_gen_new(const cio_task_options *opts, cio_gen_fn fn, void *arg, cio_gen **out);

/* Inside the generator: hands value to the consumer and suspends until the
 * consumer asks for the next one (asyncio's `sent = yield value` in an async
 * generator). *sent (sent may be NULL) receives the value the consumer passed
 * to cio_gen_send, or NULL when it called cio_gen_next; the value is the
 * consumer's, passed through as is. Only the generator's own body may call
 * it, on gen. Returns 0; -ECANCELED when the consumer closed the generator
 * early or the body was cancelled (run cleanup and return; *sent is NULL);
 * -EINVAL for a NULL gen; -EPERM outside gen's body; -ENOMEM. May suspend. */
CIO_API int cio_gen_yield(cio_gen *gen, void *value, void **sent);

/* The consumer: sends in to the generator and resumes it until it yields
 * (returns 0 with *value), ends (returns -ENODATA, the end of an iteration,
 * on every call after), or fails (returns the body's error, on every call
 * after too).
 * in is what the generator's pending cio_gen_yield receives in *sent
 * (asyncio's asend). The first call starts the body, which has no pending
 * yield: in must be NULL then, else -EINVAL and nothing happens (asyncio's
 * TypeError for a non-None value sent to a just-started generator).
 * A non-NULL in while the body runs rather than waits in a yield (an
 * earlier call was interrupted) is -EINVAL too, as asyncio's "already
 * running". *value (value may be NULL) is NULL unless 0 is returned.
 * -EINVAL also for a NULL gen or one being closed; -EPERM outside a task;
 * -ECANCELED / -ETIMEDOUT when the calling task is cancelled or its
 * deadline passes (the generator keeps running to its next yield);
 * -ENOMEM. May suspend. */
CIO_API int cio_gen_send(cio_gen *gen, void *in, void **value);

/* cio_gen_send(gen, NULL, value): asyncio's anext. The generator's pending
 * yield receives NULL. Same returns. May suspend. */
CIO_API int cio_gen_next(cio_gen *gen, void **value);

/* Closes the generator (asyncio's aclose) and frees it: a body suspended in
 * cio_gen_yield sees it return -ECANCELED and runs to its end (its
 * cleanup); a body busy elsewhere is cancelled. Waits for the body in a
 * shield, so the cleanup completes even if the caller is cancelled.
 * Returns the body's failure (its negative return other than -ECANCELED),
 * else 0; gen is invalid afterwards. Exception: -EPERM, and nothing is
 * freed, when the body still runs and the caller is not a task (it cannot
 * wait). NULL is accepted. May suspend (not for a generator never started
 * or already ended). */
CIO_API int cio_gen_close(cio_gen *gen);

/* ---- Introspection ------------------------------------------------------- */

/* Writes a dump of every task of loop to fd (name, state, what it awaits,
 * owner, age, backtrace of its stack). In debug mode, SIGUSR1 prints it to
 * stderr for every loop. fd stays the caller's (not closed). Returns 0,
 * -EINVAL (NULL loop or negative fd), -EBADF or another errno of dup (fd
 * not open), -ENOMEM; write errors are not reported. Does not suspend: it
 * writes with blocking calls on the calling thread (the loop's). */
CIO_API int cio_task_dump_all(cio_loop *loop, int fd);

/* The stall watchdog, which names the running task in its reports, is the
 * loop's: cio_loop_set_stall_watchdog in loop.h. */

/* ---- Context variables (asyncio's contextvars) ------------------------------
 * A context variable holds one value per task: the request id a log line
 * prints, a deadline budget, a tracing span. A task starts with a copy of
 * the values of the task that started it with cio_spawn, cio_spawn_with or
 * cio_task_group_spawn, taken when it is spawned (asyncio copies the
 * context at create_task); later sets on either side do not reach the
 * other. A generator's body starts with the values of the task that first
 * advances it (its first cio_gen_next: asyncio runs an async generator in
 * its consumer's context). A task started with cio_task_new (from a
 * callback, or cio_spawn_threadsafe) starts with every variable at its
 * default. A cio_to_thread / cio_to_thread_with job sees, on its pool
 * thread, the values of the task that submitted it, as they were at the
 * call (asyncio.to_thread copies the context; cio_to_thread_future, like
 * loop.run_in_executor, does not).
 *
 * Cost: a task without values (none set, none inherited) carries nothing
 * (spawning it costs one branch more); the values are a small array
 * shared between a task and the tasks and jobs it started until one of
 * them sets a variable (copy on write), so a spawn costs one atomic
 * increment, a get a binary search over the variables that are set, a set
 * a copy of that array (usually none when the task holds the only
 * reference: it is changed in place). */

/* A variable: define it once, usually as a static, with
 * CIO_CONTEXT_VAR_INIT. `name` is for the reader (may be NULL);
 * `default_value` is what cio_context_var_get returns where the variable
 * was never set. Variables are told apart by their address: a variable
 * that goes away (freed, out of scope) must not be replaced by another at
 * the same address while a task or job that set it is alive, or the new
 * one would see the old value. _private is reserved (zero). */
typedef struct cio_context_var {
    const char *name;
    void *default_value;
    uintptr_t _private[2];
} cio_context_var;

#define CIO_CONTEXT_VAR_INIT(name, dflt) {(name), (dflt), {0, 0}}

/* The variable's value in the current task, or inside a cio_to_thread job
 * the value of the task that submitted it; the default where it was never
 * set, and outside a task or job. NULL for a NULL var. Never suspends,
 * never fails. */
CIO_API void *cio_context_var_get(cio_context_var *var);

/* Sets the variable's value for the current task and for the tasks and
 * jobs it starts from now on (not for those already started, nor for its
 * parent). The value is not owned by cio: it must stay valid as long as a
 * task or job may read it, that is until this task ends or sets another
 * value, and until every task and job started meanwhile ends or sets
 * another (a static, or memory the task frees after awaiting its
 * children). Setting a value equal to the default still sets it. Returns
 * 0; -EPERM outside a task, also inside a cio_to_thread job (its values
 * are the submitting task's, read-only); -EINVAL for a NULL var; -ENOMEM
 * (the old value stays). Never suspends. */
CIO_API int cio_context_var_set(cio_context_var *var, void *value);

/* ---- From other threads (asyncio.run_coroutine_threadsafe) --------------
 * A thread that does not run the loop starts a task on it and gets a
 * cio_thread_future, an object of no loop that any thread may wait on,
 * poll, cancel and free. */

typedef struct cio_thread_future cio_thread_future;

/* From any thread: asks loop to start fn(arg) as a task (as cio_task_new
 * would, so with every context variable at its default), and sets *out to
 * a thread future that completes with the task's outcome. opts (may be
 * NULL) is read during this call (the name is copied).
 *
 * The task is started by a cio_call_soon_threadsafe call, so it starts on
 * a later iteration of the loop, in the order of the calls of that thread.
 * A loop cannot close while such a call is pending (cio_loop_close fails
 * with -EBUSY), so once this returned 0, fn(arg) runs and the thread future
 * completes as long as the loop is run; fn then owns arg. Should the task
 * fail to start (-ENOMEM, bad options), fn never runs and the thread
 * future completes with that error (arg is still the caller's). cio_run's
 * end keeps this too (asyncio's loop.close drops such a call): a task
 * still running when cio_run's main returns is cancelled with the others,
 * and its thread future completes (normally with -ECANCELED); once every
 * task has ended, the end refuses further calls and runs the accepted
 * ones, and a start that comes that late starts no task: fn never runs
 * (arg is still the caller's) and the thread future completes with
 * -ECANCELED. No thread may call into the loop once cio_run may be
 * freeing it: have main wait for the threads that spawn into its loop.
 *
 * Returns 0; -EINVAL for a NULL loop, fn or out, or a loop closed or
 * closing (asyncio raises RuntimeError there; nothing is started, arg is
 * still the caller's); -ENOMEM. The caller owns *out and frees it with
 * cio_thread_future_free. Never blocks; does not suspend. */
CIO_API int cio_spawn_threadsafe(cio_loop *loop, const cio_task_options *opts, cio_task_fn fn,
                                 void *arg, cio_thread_future **out);

/* Blocks the calling thread (the whole thread) until the task has ended,
 * for at most timeout seconds (negative: no limit; 0: only look), and
 * returns its outcome: 0, its error, or -ECANCELED. On 0, *result (may be
 * NULL) receives the task's result and, the first time a wait hands it
 * out, its ownership: a result the task gave a destructor
 * (cio_task_set_result_free) is then the caller's to free, as with
 * cio_run; later waits receive the same pointer. A result never handed out
 * is freed by cio_thread_future_free. Returns -ETIMEDOUT if the task did
 * not end in time (nothing changes; wait again or cancel), -EDEADLK on a
 * thread that is running the future's loop (a callback or a task of it:
 * only that thread could end the task) when the task has not ended and
 * timeout is not 0 (a poll there is fine), -EINVAL for a NULL tf or a NaN
 * timeout. Called before the loop's thread runs the loop, it waits forever
 * (or until the timeout). Does not suspend: it blocks the thread, so it is
 * not for tasks (it would block the loop). */
CIO_API int cio_thread_future_wait(cio_thread_future *tf, double timeout, void **result);

/* True once the task has ended (a wait would not block). False for NULL.
 * Any thread; never blocks; does not suspend. */
CIO_API bool cio_thread_future_is_done(const cio_thread_future *tf);

/* Asks the loop, from any thread, to cancel the task (cio_future_cancel
 * on it, on the loop's thread): a task that has not started yet still runs
 * its body, whose first suspension fails with -ECANCELED. The thread
 * future then completes with the task's outcome, normally -ECANCELED (a
 * task that finishes before the request arrives keeps its outcome).
 * Returns 0 once asked (a second cancel is 0 too and does nothing),
 * -EINVAL for NULL or a thread future already done, -ENOMEM. Never
 * blocks; does not suspend. */
CIO_API int cio_thread_future_cancel(cio_thread_future *tf);

/* Frees the thread future, from any thread, at any time: a task still
 * running goes on (it is not cancelled), and when it ends its result is
 * freed with its destructor, if it has one, and an error it fails with is
 * reported by its loop, as for any task whose error nobody retrieved. A
 * result a wait did not hand out is freed here. Returns 0 (also for NULL),
 * or -EBUSY and frees nothing while another thread waits on it. Never
 * blocks; does not suspend. */
CIO_API int cio_thread_future_free(cio_thread_future *tf);

/* ---- Every core: one loop per thread ---------------------------------------- */

typedef struct cio_parallel_options {
    size_t size;                  /* sizeof(cio_parallel_options): the macros */
    size_t threads;               /* workers; 0: one per CPU this process may run on */
    bool pin;                     /* pin worker i to the i-th CPU it may run on */
    bool stop_on_signals;         /* SIGINT and SIGTERM do cio_parallel_stop() */
    const cio_loop_options *loop; /* every worker's loop options; NULL: defaults */
} cio_parallel_options;
#define CIO_PARALLEL_OPTIONS_INIT {.size = sizeof(cio_parallel_options)}
#define CIO_PARALLEL_OPTIONS(...) \
    ((cio_parallel_options){.size = sizeof(cio_parallel_options), __VA_ARGS__})

/* Runs main(arg) as the main task of its own loop in each of opts->threads
 * threads (opts NULL: the defaults; cio_run_with in each; worker 0 is the
 * calling thread), and returns when all of them have ended. A server shares its listening
 * address between workers with SO_REUSEPORT (cio_socket_options.reuseport)
 * and lets the kernel spread connections. cio_parallel_stop() (from any
 * worker, or on SIGINT/SIGTERM with stop_on_signals) cancels every worker's
 * main task; a worker that starts after a stop ends at once without running
 * main (arg is the caller's for the whole run). The first worker whose main
 * fails (an error other than a cancellation asked for by a stop; also a
 * loop that cannot be made) stops the others the same way. With pin,
 * worker i is pinned to the (i mod n)-th of the n CPUs the calling thread
 * may run on, and the calling thread gets its own affinity back at the
 * end. With stop_on_signals each worker's loop watches SIGINT and SIGTERM
 * (cio_loop_add_signal_handler) while its main runs; when the last one
 * stops watching, the signals' earlier dispositions are back.
 * Returns 0 when every main succeeded or was stopped, else the first
 * failing worker's error (bad loop options fail every worker: -EINVAL);
 * -EINVAL (NULL main, options or loop options not made with their macros,
 * more than 4096 threads), -E2BIG, -EDEADLK when called from a task
 * or while a loop runs on this thread, -EAGAIN / -ENOMEM when a thread
 * cannot be started (those started are stopped and joined first). Does not
 * suspend: blocks the calling thread. */
CIO_API int cio_run_parallel(const cio_parallel_options *opts, cio_task_fn main, void *arg);

/* The calling thread's worker index in cio_run_parallel (0..threads-1),
 * or -1 outside any worker. Never suspends. */
CIO_API int cio_parallel_index(void);
/* The number of workers of the cio_run_parallel the calling thread is a
 * worker of, 0 outside any. Never suspends. */
CIO_API size_t cio_parallel_count(void);

/* Cancels every worker's main task of the calling worker's
 * cio_run_parallel (thread-safe among its workers; each cancellation goes
 * through cio_call_soon_threadsafe, once per worker however many stops are
 * asked). Workers that start later do not run main. Returns 0, -EPERM
 * outside a worker (a thread-pool thread of a worker is not one), -ENOMEM
 * when a cancellation could not be queued (the stop stays asked: calling
 * again retries the workers not reached). Never suspends. */
CIO_API int cio_parallel_stop(void);

#ifdef __cplusplus
}
#endif
#endif
