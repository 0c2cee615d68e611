/* cio: the event loop.
 *
 * A loop belongs to the thread that runs it. Only functions whose name
 * contains _threadsafe may be called from another thread (debug mode
 * catches and reports the others); cio_threadpool_* belong to no loop.
 * Nothing here suspends a task, and nothing blocks except the run
 * functions, which block in the I/O backend while there is nothing to do,
 * and cio_call_soon_threadsafe_wait, which blocks its calling thread while
 * the loop's ring for it is full. The full contract of every function,
 * with an example, is in docs/api/loop.md.
 *
 * Times are in seconds as double (like asyncio), measured on the loop's
 * monotonic clock (cio_loop_time). Timers fire no earlier than their
 * deadline, with a resolution of one millisecond. */
#ifndef CIO_LOOP_H
#define CIO_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cio_loop cio_loop;

/* A timer handle: a 64-bit value naming one scheduled timer. It stays safe
 * to use forever: cancelling a handle whose timer already fired or was
 * cancelled returns -ENOENT and does nothing. 0 is never a valid handle. */
typedef uint64_t cio_handle;

/* Loop options. Make them with CIO_LOOP_OPTIONS_INIT or CIO_LOOP_OPTIONS(...),
 * then set what you need; every zero field means "the default" (which an
 * environment variable may choose).
 *
 * Extensible (the Linux openat2/clone3 convention): size is the struct's
 * size as the caller's program was compiled, which the macros set. The
 * library reads only the fields that size covers: fields added by a newer
 * cio keep their defaults for a program compiled against an older header.
 * A function taking options returns -EINVAL for a size of 0 (the struct
 * was not made with the macros) or one no version of the struct could have
 * (smaller than size itself, or not a multiple of its alignment), and
 * -E2BIG for a struct from a newer header than the library's whose fields
 * unknown to the library are not all zero. NULL options are the defaults. */
typedef struct cio_loop_options {
    size_t size; /* sizeof(cio_loop_options) as compiled: use the macros */
    /* "epoll" (default on Linux) or "poll"; NULL: $CIO_BACKEND, else epoll. */
    const char *backend;
    /* 1: debug mode on; -1: off; 0: $CIO_DEBUG decides (set and not "0"). */
    int debug;
    /* Debug mode reports a callback that runs longer than this many seconds.
     * 0: 0.1 s. */
    double slow_callback_duration;
} cio_loop_options;

/* cio_loop_options o = CIO_LOOP_OPTIONS_INIT; (every field the default) */
#define CIO_LOOP_OPTIONS_INIT {.size = sizeof(cio_loop_options)}
/* A pointer to options made in place:
 * cio_loop_new(&CIO_LOOP_OPTIONS(.backend = "poll"), &loop). */
#define CIO_LOOP_OPTIONS(...) ((cio_loop_options){.size = sizeof(cio_loop_options), __VA_ARGS__})

/* How a loop reports problems nobody asked about: an error a future held
 * that was never retrieved, a slow callback, a call from the wrong thread,
 * live handles at close. The default handler prints the message to stderr
 * as one line starting with "cio: ". */
typedef void (*cio_report_fn)(cio_loop *loop, const char *message, void *arg);

/* Creates a loop, which the caller closes and frees with cio_loop_free.
 * opts may be NULL and is read during the call only. Returns 0 and sets
 * *out (NULL on failure), or -EINVAL (NULL out, unknown backend name, a
 * negative or NaN slow_callback_duration, or options not made with
 * CIO_LOOP_OPTIONS_INIT), -E2BIG (options of a newer header that this
 * library cannot honour, see cio_loop_options), -ENOMEM, or the errno of a
 * failing system call (-EMFILE when out of descriptors). */
CIO_API int cio_loop_new(const cio_loop_options *opts, cio_loop **out);

/* Closes a loop: after a successful close no function but cio_loop_free
 * may be called on it. Returns -EBUSY, and changes nothing, while anything
 * is still live: a pending timer, an I/O watcher, a signal handler, a
 * callback in the queue, a future not yet freed, thread-pool work not yet
 * completed, a threadsafe call accepted and not yet run (also one accepted
 * while close ran, see cio_call_soon_threadsafe). In debug mode, -EBUSY also
 * reports the list of what is live, one report each: callbacks, timers,
 * watchers and signal handlers by their callback's name, futures and tasks
 * by name and state and where they were made ("made at main+0x4f (app)":
 * the caller of cio_future_new, cio_task_new, cio_spawn, a combinator's
 * _future form, ...), for those made while debug mode was on.
 * Returns -EBUSY if called while the loop runs, 0 if already closed,
 * -EINVAL for NULL, -EPERM in debug mode from another thread. The loop
 * stays allocated (and yours) until cio_loop_free. */
CIO_API int cio_loop_close(cio_loop *loop);

/* Closes (if needed) and frees a loop. Returns the close's error (-EBUSY,
 * or -EPERM in debug mode from another thread) without freeing anything if
 * the close fails; 0 otherwise. NULL is accepted. No other
 * thread may be inside, or enter, cio_call_soon_threadsafe on this loop
 * once cio_loop_free begins (see cio_call_soon_threadsafe). */
CIO_API int cio_loop_free(cio_loop *loop);

/* Runs until cio_loop_stop. The current iteration completes first: every
 * callback that was ready when it began runs. Returns 0, -EBUSY if the loop
 * is already running (re-entered from its own callback or task, or running
 * on another thread), -EDEADLK if another loop runs on this thread (called
 * from that loop's callback or task: it would stop that loop until this
 * run ends; asyncio refuses it too), -EINVAL if it is closed.
 *
 * If the backend's poll fails (epoll_wait or poll(2) returns an error other
 * than EINTR: the epoll descriptor closed under the loop, a kernel out of
 * memory), the failure is reported once, the current iteration completes,
 * and the run returns that negative errno instead of retrying in a busy
 * loop. A blocking poll that fails waits up to 10 ms first, so even a
 * caller that retries at once does not spin. */
CIO_API int cio_loop_run_forever(cio_loop *loop);

/* Flags for cio_loop_run_once. */
enum { CIO_RUN_NOWAIT = 1 };

/* Runs one iteration, asyncio's:
 *   1. poll I/O, running the callbacks of ready descriptors, and take in
 *      work from other threads (blocking until something is due unless
 *      CIO_RUN_NOWAIT, a callback is ready, or nothing is live that could
 *      become due: no timer, watcher, signal handler or pool job). While
 *      callbacks are ready the poll may be skipped, within the bounds given
 *      at cio_call_soon;
 *   2. run the callbacks that were ready when the iteration began;
 *   3. run the timers that were due when it began (read on a fresh clock
 *      whenever a timer is pending, poll or no poll).
 * Whatever steps 2 and 3 schedule, and timers started in them, wait for
 * the next iteration. So a due timer runs in the next iteration however
 * busy the ready queue is.
 *
 * Returns 1 if work remains (a callback ready, a timer, a watcher, ...), 0
 * if the loop has nothing left, or a negative error: -EBUSY while running,
 * -EDEADLK while another loop runs on this thread (as for
 * cio_loop_run_forever), -EINVAL if closed, or the error of a failed poll
 * of the backend (reported through the report handler; see
 * cio_loop_run_forever). */
CIO_API int cio_loop_run_once(cio_loop *loop, int flags);

struct cio_future;
/* Runs until fut is done, then returns its outcome as an error code: 0 for
 * a result, the negative errno it failed with, -ECANCELED if cancelled.
 * Does not consume a reference. Returns -EINTR if cio_loop_stop ended the
 * run first, the poll's error if a failed poll ended it first (see
 * cio_loop_run_forever), -EBUSY if running, -EDEADLK while another loop
 * runs on this thread, -EINVAL for a closed loop or a future of another
 * loop or a NULL fut, -ENOMEM (no memory for the done-callback).
 * Retrieves the future's error (it is not reported later). */
CIO_API int cio_loop_run_until_complete(cio_loop *loop, struct cio_future *fut);

/* Asks a running loop to stop after the current iteration. Safe to call
 * from a callback. Calling it before run_forever makes that run do one
 * iteration (asyncio's behaviour). Never fails; NULL is ignored. */
CIO_API void cio_loop_stop(cio_loop *loop);

/* True while run_forever / run_once / run_until_complete executes (false
 * for NULL). */
CIO_API bool cio_loop_is_running(const cio_loop *loop);
/* True once cio_loop_close succeeded, and for NULL (a NULL loop is as
 * unusable as a closed one). */
CIO_API bool cio_loop_is_closed(const cio_loop *loop);
/* True while debug mode is on (asyncio's get_debug; false for NULL). */
CIO_API bool cio_loop_is_debug(const cio_loop *loop);
/* Turns debug mode on or off (NULL is ignored). Futures and tasks made
 * while it is on are the ones whose creation site the close report and the
 * unretrieved-error report can name. */
CIO_API void cio_loop_set_debug(cio_loop *loop, bool on);
/* The backend in use: "epoll" or "poll" (static; NULL for NULL). */
CIO_API const char *cio_loop_backend(const cio_loop *loop);

/* The loop's monotonic clock, in seconds: a cached reading (like libuv's
 * loop time), so timers scheduled together share one base and starting one
 * costs no clock read. The loop refreshes it at the start of every
 * iteration that polls (every iteration that waits for I/O or timers, and
 * the polls cio_call_soon describes) and of every iteration while a timer is
 * pending or anything the poll watches exists (a descriptor, a signal
 * handler, pool work, a thread that made a threadsafe call). Only a loop
 * with nothing but ready callbacks skips the read between polls.
 * cio_loop_update_time refreshes it on demand. 0 for NULL. */
CIO_API double cio_loop_time(const cio_loop *loop);
/* The same clock in nanoseconds (0 for NULL). */
CIO_API int64_t cio_loop_time_ns(const cio_loop *loop);
/* Reads the clock now into the loop's cached time (NULL: nothing). */
CIO_API void cio_loop_update_time(cio_loop *loop);

/* The loop running on this thread (the innermost run_forever, run_once or
 * run_until_complete call, so also inside a task or a callback it runs),
 * or NULL. */
CIO_API cio_loop *cio_current_loop(void);

/* Starts a monitor thread (named "cio-watchdog") that reports, through the
 * loop's report function and from the monitor thread, when loop has not
 * come back to its poll for more than `seconds` (a sleeping loop is idle,
 * not stalled), naming the task running (its name, or task-N) or the
 * callback (its symbol, or file+offset). Reported between `seconds` and
 * 1.25 x `seconds` after the stall began, and again if, still without a
 * poll, something else then runs for longer than `seconds` (the first
 * culprit may only have started the stall). One per loop: a new call
 * replaces the monitor; seconds <= 0 stops it (at once: the monitor is
 * woken, not waited for). Call on the loop's thread. Returns 0, -EINVAL,
 * -ENOMEM, or pthread_create's error.
 *
 * Meant to be left on in production. The loop pays per iteration a counter
 * update, per callback one store, per task switch one release store: no
 * lock, no formatting, no system call; the monitor copies a task's name
 * only when it reports. Rename tasks with cio_task_set_name while it runs
 * (cio_future_set_name on a running task races with a report). */
CIO_API int cio_loop_set_stall_watchdog(cio_loop *loop, double seconds);

/* Replaces the report function (NULL restores the default); arg stays
 * yours and is passed to fn with every message, which is valid only during
 * the call. A NULL loop is ignored. */
CIO_API void cio_loop_set_report_handler(cio_loop *loop, cio_report_fn fn, void *arg);
/* Reports a message through the loop's report function (printf format);
 * a NULL loop prints with the default handler (stderr). */
CIO_API void cio_loop_report(cio_loop *loop, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- The callback queue ------------------------------------------------ */

/* Schedules cb(arg) to run on the next iteration. Callbacks run in the
 * order they were scheduled (FIFO); one scheduled while the queue runs
 * waits for the next iteration. Never allocates once the queue has grown to
 * its working size. Returns 0, -EINVAL (NULL loop or cb, closed loop),
 * -ENOMEM, -EPERM (debug mode, another thread).
 * Not cancellable: use cio_call_later(loop, 0, ...) for a cancellable one.
 *
 * Timers are never delayed by a busy queue: a due timer runs in the next
 * iteration (see cio_loop_run_once). I/O and work from other threads
 * (threadsafe calls, pool completions, signals) are polled, without
 * blocking, at the start of an iteration only once CIO_POLL_INTERVAL
 * callbacks have run or CIO_POLL_INTERVAL_MS milliseconds have passed since
 * the last poll, whichever comes first; so a chain of callbacks costs no
 * system call per callback. A descriptor that becomes readable therefore
 * waits at most until the first iteration that starts after 64 callbacks
 * or 1 ms, whichever comes first. (Callbacks within one iteration are never
 * interrupted: an iteration that starts with a million ready callbacks
 * runs them all before the next poll.) */
CIO_API int cio_call_soon(cio_loop *loop, cio_cb cb, void *arg);
#define CIO_POLL_INTERVAL 64
#define CIO_POLL_INTERVAL_MS 1

/* Like cio_call_soon, from any thread. Wakes the loop if it is blocked in
 * the backend; a burst of calls costs one wakeup, not one per call. The
 * callback runs on the loop's thread. Calls run in the order they were made
 * whenever the program orders them: calls from one thread in program order,
 * and a call that happens before another thread's call runs first.
 * Not async-signal-safe: from a signal handler use
 * cio_loop_add_signal_handler.
 *
 * Never blocks: calls a thread makes faster than the loop takes them in
 * spill from its ring (CIO_THREADSAFE_RING slots) into an overflow list
 * that grows without bound. Producers that may outrun the loop should use
 * cio_call_soon_threadsafe_try instead, which bounds the backlog.
 *
 * Every iteration takes in at most CIO_THREADSAFE_BATCH threadsafe calls
 * (and as many thread-pool completions), oldest first, so timers, I/O and
 * other callbacks get their turn in every iteration however fast the calls
 * come; the rest wait for the next iterations, which do not block while
 * any are left.
 *
 * Close. A call that returns 0 runs: cio_loop_close fails with -EBUSY (and
 * the loop stays usable) rather than drop it. A call that overlaps a
 * cio_loop_close may be refused with -EINVAL even if that close then fails
 * (the loop then accepts calls again); every call made after a close
 * returned 0 is refused with -EINVAL. cio_run's end keeps the promise too:
 * once its tasks have ended it refuses every further call, for good, and
 * runs the accepted ones before it closes the loop. The loop may be closed
 * as soon as the call has run, even while this function is still
 * returning: close waits for it.
 * The caller must guarantee that no call on a loop can start, or still be
 * running, once cio_loop_free begins (as in asyncio, a loop must not be
 * used after it is freed): have the producers stop and join them, or make
 * them stop after they see -EINVAL, before freeing.
 *
 * Returns 0, -EINVAL (NULL loop or cb, a closed loop or one being closed),
 * -ENOMEM (this call was not accepted; the thread's earlier and later calls
 * keep their order). */
CIO_API int cio_call_soon_threadsafe(cio_loop *loop, cio_cb cb, void *arg);

/* Like cio_call_soon_threadsafe, but never lets this thread's backlog to
 * the loop grow past its ring: returns -EAGAIN, and does nothing, when the
 * ring is full, that is when CIO_THREADSAFE_RING calls from this thread (half
 * as many once more than one thread has called this loop: each call then
 * carries an ordering stamp) are not yet taken in by the loop, or older
 * calls of this thread still wait in the overflow list. Calls are accepted
 * again as soon as the loop has taken some in (it takes up to
 * CIO_THREADSAFE_BATCH per iteration). Accepted calls keep the order
 * guarantees above; a refused call has no effect on them. The backlog is
 * bounded per producer thread: at most CIO_THREADSAFE_RING slots each (a
 * program with more than 64 producer threads shares one further bounded
 * list among the extra ones). Never blocks. Returns 0, -EAGAIN, or the
 * errors of cio_call_soon_threadsafe. */
CIO_API int cio_call_soon_threadsafe_try(cio_loop *loop, cio_cb cb, void *arg);
#define CIO_THREADSAFE_RING 4096
#define CIO_THREADSAFE_BATCH 1024

/* Like cio_call_soon_threadsafe_try, but when this thread's ring is full,
 * blocks the calling thread (not a task: the whole thread) until the loop
 * has taken calls in and there is room, for at most timeout seconds
 * (negative: no limit; 0: do not wait). The backlog stays bounded as with
 * cio_call_soon_threadsafe_try. Only the thread that runs the loop can make
 * room, so a call from that thread while it runs the loop (from a callback
 * or a task) returns -EDEADLK; a call from the thread that will run the
 * loop later, before it does, would wait forever (or until the timeout).
 * A waiting producer is woken by every batch the loop takes in from its
 * ring, including the ones cio_loop_close takes in; it must not be waiting
 * when cio_loop_free begins. Returns 0, -ETIMEDOUT (nothing was done),
 * -EDEADLK, -EINVAL (NULL loop or cb, NaN timeout, a closed loop or one
 * being closed), -ENOMEM. */
CIO_API int cio_call_soon_threadsafe_wait(cio_loop *loop, cio_cb cb, void *arg, double timeout);

/* Schedules cb(arg) after delay seconds (>= 0). *handle (may be NULL)
 * receives a handle for cio_timer_cancel (not set on an error). arg stays
 * yours: take back what it hands over when you cancel the timer. Timers
 * with equal deadlines fire in the order they were started. Returns 0,
 * -EINVAL (NULL loop or cb, negative or NaN delay, closed loop), -ENOMEM,
 * -EPERM (debug mode, another thread). */
CIO_API int cio_call_later(cio_loop *loop, double delay, cio_cb cb, void *arg, cio_handle *handle);

/* Schedules cb(arg) at absolute loop time `when` (cio_loop_time scale). A
 * time in the past fires on the next iteration. handle and arg as for
 * cio_call_later. Returns 0, -EINVAL (NULL loop or cb, NaN when, closed
 * loop), -ENOMEM, -EPERM (debug mode, another thread). */
CIO_API int cio_call_at(cio_loop *loop, double when, cio_cb cb, void *arg, cio_handle *handle);

/* A repeating timer: first fires after delay seconds, then every interval
 * seconds (> 0) until cancelled. A late loop skips missed periods instead
 * of firing a burst. handle and arg as for cio_call_later (arg is passed to
 * every call). Returns 0, -EINVAL (NULL loop or cb, negative or NaN delay,
 * NaN interval or one not above 0 or below a nanosecond, closed loop),
 * -ENOMEM, -EPERM (debug mode, another thread). */
CIO_API int cio_call_every(cio_loop *loop, double delay, double interval, cio_cb cb, void *arg,
                           cio_handle *handle);

/* Cancels a timer; what its arg handed over is yours again. Safe at any
 * time, including from the timer's own callback (a repeating timer then
 * stops). Returns 0, -ENOENT if the handle's timer already fired (one-shot)
 * or was cancelled, -EINVAL (NULL or closed loop), -EPERM (debug mode,
 * another thread). */
CIO_API int cio_timer_cancel(cio_loop *loop, cio_handle handle);

/* True if the handle names a timer that is still scheduled (false for a
 * NULL or closed loop and for handle 0). */
CIO_API bool cio_timer_is_active(const cio_loop *loop, cio_handle handle);

/* Seconds until the timer's next deadline (may be negative if overdue),
 * or NaN for an inactive handle or a NULL or closed loop. */
CIO_API double cio_timer_remaining(const cio_loop *loop, cio_handle handle);

/* ---- I/O readiness ----------------------------------------------------- */

enum { CIO_READABLE = 1, CIO_WRITABLE = 2, CIO_IOERR = 4 };

/* Called with the events seen: CIO_READABLE / CIO_WRITABLE, plus CIO_IOERR
 * when the descriptor reported an error or hang-up (then both the reader and
 * the writer are called, so neither side waits forever). */
typedef void (*cio_io_cb)(cio_loop *loop, int fd, int events, void *arg);

/* Watches fd for readability (asyncio add_reader). Replaces an existing
 * reader of fd. The callback runs on every iteration the descriptor is
 * readable (level-triggered) until removed. fd must be non-blocking for
 * the usual patterns; cio does not change it. arg stays yours. Returns 0,
 * -EINVAL (NULL or closed loop, negative fd, NULL cb, the loop's own wakeup
 * descriptor), -EBADF (fd is not open: checked before anything is
 * allocated, so a wild descriptor number costs nothing), -EPERM (a regular
 * file under epoll, or debug mode and another thread), -ENOMEM, or another
 * errno of epoll_ctl. The loop's table of watchers grows with the
 * highest descriptor watched (40 bytes per number).
 *
 * Remove the watcher before closing the descriptor. One whose descriptor was
 * closed first never fires again but stays registered (the loop stays
 * alive) until removed; the poll backend reports it. If a callback removes
 * and closes a descriptor and a new one reuses its number, events pending
 * for the old one in the same iteration are dropped, never delivered to the
 * new watcher. */
CIO_API int cio_loop_add_reader(cio_loop *loop, int fd, cio_io_cb cb, void *arg);
/* The same for writability (asyncio add_writer), with the same returns. */
CIO_API int cio_loop_add_writer(cio_loop *loop, int fd, cio_io_cb cb, void *arg);
/* Stops watching; the arg given when it was added is yours again. Returns
 * 0, -ENOENT if fd had no such watcher, -EINVAL (NULL or closed loop,
 * negative fd), -EPERM (debug mode, another thread). */
CIO_API int cio_loop_remove_reader(cio_loop *loop, int fd);
/* The same for the writer, with the same returns. */
CIO_API int cio_loop_remove_writer(cio_loop *loop, int fd);

/* ---- Signals ----------------------------------------------------------- */

/* Calls cb(arg) on the loop's thread after signo is delivered to the
 * process (arg stays yours). Several loops may watch the same signal: each
 * one's handler runs. Deliveries that arrive before the loop runs coalesce
 * into one call. Replaces a previous handler of signo on this loop.
 * Returns 0, -EINVAL (NULL or closed loop, SIGKILL, SIGSTOP, out of range,
 * NULL cb, or a synchronous fault signal: SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * which the kernel raises on the faulting instruction and raises again as
 * soon as a handler returns, so they cannot wait for the loop), -ENOSPC
 * (too many loops watch signals), -ENOMEM, the errno of sigaction, -EPERM
 * (debug mode, another thread). */
CIO_API int cio_loop_add_signal_handler(cio_loop *loop, int signo, cio_cb cb, void *arg);
/* Removes the handler; its arg is yours again. Returns 0, -ENOENT if no
 * handler was set, -EINVAL (NULL or closed loop, signo out of range),
 * -EPERM (debug mode, another thread). When the last loop removes its
 * handler the signal's previous disposition is restored. */
CIO_API int cio_loop_remove_signal_handler(cio_loop *loop, int signo);

/* ---- Thread pool ------------------------------------------------------- */

/* Work for the pool: runs on a pool thread. Store a result in *result and
 * return 0, or return a negative errno, which fails the future. */
typedef int (*cio_work_fn)(void *arg, void **result);

/* What a job owns. Make them with CIO_WORK_OPTIONS_INIT or
 * CIO_WORK_OPTIONS(...); a NULL field means nothing to free. Extensible
 * like cio_loop_options (size, -EINVAL, -E2BIG: see there). */
typedef struct cio_work_options {
    size_t size; /* sizeof(cio_work_options) as compiled: use the macros */
    /* Takes arg when fn never runs (the job was cancelled before a thread
     * took it). Once fn runs, arg is fn's. */
    cio_free_fn arg_free;
    /* Frees fn's result: the future's destructor while the future holds
     * it, and the taker of a result nobody can receive. */
    cio_free_fn result_free;
} cio_work_options;

/* cio_work_options o = CIO_WORK_OPTIONS_INIT; (nothing to free) */
#define CIO_WORK_OPTIONS_INIT {.size = sizeof(cio_work_options)}
/* &CIO_WORK_OPTIONS(.result_free = free): options made in place. */
#define CIO_WORK_OPTIONS(...) ((cio_work_options){.size = sizeof(cio_work_options), __VA_ARGS__})

/* Runs fn(arg) on the shared thread pool and returns, in *out, a future of
 * this loop that completes (on the loop's thread) with fn's result or
 * error (asyncio's loop.run_in_executor; the callback form of
 * cio_to_thread). The caller owns one reference to *out. Cancelling the
 * future before a thread picks the work up means fn never runs; cancelling
 * it later cannot stop fn, and its result is dropped. opts (may be NULL)
 * says who frees what; arg_free, and result_free for a result nobody
 * receives, run on the loop's thread
 * as the job comes back (in an iteration, or in cio_loop_close), never
 * inside this call or inside cio_future_cancel; as the future's
 * destructor, result_free runs where the future is freed. Who frees what,
 * in every case:
 * - fn ran and returned 0 while the future was pending: the future holds
 *   the result with result_free as its destructor (freed with the future,
 *   unless taken out with cio_future_take_result, which makes it yours).
 * - fn ran but the future was cancelled (or completed) meanwhile: nobody
 *   receives the result; result_free frees it when fn returns.
 * - fn ran and failed: the future fails with its error; a result fn stored
 *   before failing is freed with result_free.
 * - fn never ran (cancelled before a thread took it): arg_free(arg), when
 *   the pool hands the job back.
 * - the loop closing: it cannot while jobs are in flight (cio_loop_close
 *   returns -EBUSY; cio_run waits for them), so every job ends in one of
 *   the cases above. The one exception is a loop copied into a child by
 *   fork: the parent's jobs are not run in the child, and their copies
 *   there are never finished (use loops of the child's own making).
 * If this call fails, fn never runs, nothing is freed, arg is still the
 * caller's. Returns 0, -EINVAL (NULL out, NULL or closed loop, NULL fn,
 * bad opts), -E2BIG (opts: see cio_loop_options), -ENOMEM, the error of
 * starting the pool's threads, or -EPERM (debug mode, another thread);
 * fn's own outcome is the future's, not this call's. */
CIO_API int cio_to_thread_future(cio_loop *loop, const cio_work_options *opts, cio_work_fn fn,
                                 void *arg, struct cio_future **out);

/* Sets the number of pool threads (1..1024). The default is $CIO_THREADS,
 * else the number of online CPUs. May be called at any time, from any
 * thread: a running pool grows at once and shrinks as threads finish their
 * current work; a pool not yet started starts that many on its first use.
 * Returns 0, or -EINVAL for 0 or above 1024; a thread that cannot be added
 * to a running pool leaves it smaller, and the call still returns 0.
 *
 * fork: the pool survives it. A child's first use of the pool starts fresh
 * threads (as many as the parent's setting); the jobs the parent had queued
 * or running at the fork are the parent's and are not run in the child. */
CIO_API int cio_threadpool_set_size(unsigned threads);
/* The pool's configured number of threads. Any thread; never fails. */
CIO_API unsigned cio_threadpool_size(void);

#ifdef __cplusplus
}
#endif
#endif
