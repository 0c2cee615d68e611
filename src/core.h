/* The core layer's interface to the layers above it. Never installed.
 *
 * The core is the loop (src/loop) and the futures (src/future): one layer
 * on purpose, as asyncio's loop makes futures and runs their callbacks.
 * The task layer (src/task) sits on it and reaches the core only through
 * this header: through the functions and hooks below, and the accessors
 * the core defines here (static inline where a hot path needs them). It
 * never writes a loop's or a future's fields itself. The core in turn
 * knows nothing of tasks: what it must ask the layer above (describe the
 * running task for the stall watchdog, dump the tasks on SIGUSR1, wake an
 * awaiting task) it asks through the hooks that layer registers. See
 * src/LAYERS.md for the rules; tests/layers checks the include lines. */
#ifndef CIO_CORE_H
#define CIO_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "future/internal.h"
#include "loop/internal.h"

/* ---- Hooks ---------------------------------------------------------------
 * What the core asks of the layer above. Registered once, before any loop
 * exists (the task layer does it from a constructor, src/task/task.c); a
 * hook left NULL means nobody above offers it. */
struct cio__core_hooks {
    /* The done-callback of an awaiter's entry (cio__future_add_awaiter):
     * wakes the owner, the awaiting task's future, if it still awaits fut,
     * and drops the reference on the owner the registration held. */
    cio_future_cb await_done;
    /* Describes the running task (as published with cio__loop_set_task)
     * into buf, for a stall report: "task NAME". Called on the watchdog's
     * thread while the loop thread holds the task still (watchdog.c), so
     * it may read the task but must not change anything. */
    void (*describe_task)(const void *task, char *buf, size_t len);
    /* Writes a dump of every task of loop to fd (debug mode: on SIGUSR1). */
    int (*dump_tasks)(cio_loop *loop, int fd);
    /* The name of a task (a future with cio_future_is_task), for the live
     * list at close: cio_task_name, which names unnamed tasks "task-N". */
    const char *(*task_name)(const cio_future *task);
};
extern struct cio__core_hooks cio__hooks;
/* Registers the layer above's hooks (copied). */
void cio__core_register(const struct cio__core_hooks *hooks);

/* ---- The loop ------------------------------------------------------------ */

/* The loop running on this thread (cio_current_loop, inline). */
static inline cio_loop *cio__running_loop(void) { return cio__tls_loop; }
/* The loop's cached time (ns, loop clock): what cio_loop_time_ns returns. */
static inline int64_t cio__loop_now(const cio_loop *loop) { return loop->now; }
static inline bool cio__loop_closed(const cio_loop *loop) { return loop->closed; }
static inline bool cio__loop_debug(const cio_loop *loop) { return loop->debug; }
/* Debug mode: the slow-callback limit (ns). */
static inline int64_t cio__loop_slow_ns(const cio_loop *loop) { return loop->slow_ns; }
/* Debug mode: the layer above reported a slow step itself, by its task's
 * name; the loop then leaves out its own report of the callback that ran
 * the step, which would only name a trampoline (cio__report_if_slow). */
static inline void cio__slow_step_reported(void) { cio__slow_task_steps++; }
/* Nothing waits in the ready queue. */
static inline bool cio__loop_ready_empty(const cio_loop *loop)
{
    return loop->tail == loop->head;
}
/* The room the loop keeps for the layer above's per-loop state
 * (CIO__LOOP_EXT_SIZE bytes, zero when the loop is new, 16-byte aligned):
 * the core never reads or writes it after cio_loop_new. */
static inline void *cio__loop_ext(cio_loop *loop) { return loop->ext; }

/* Publishes task as the one running now for the stall watchdog, if there
 * is one (one release store, so it can stay on in production). */
static inline void cio__watch_publish(cio_loop *loop, void *task)
{
    struct cio__watch_pub *pub = loop->watchdog;
    if (pub)
        atomic_store_explicit(&pub->running, task, memory_order_release);
}
/* The task the layer above runs now on loop (NULL: none), an opaque
 * pointer the core only hands to the stall watchdog. Set at every task
 * switch: a plain store, and the release store above while watched.
 * Returns the task that ran before. */
static inline void *cio__loop_set_task(cio_loop *loop, void *task)
{
    void *prev = loop->current_task;
    loop->current_task = task;
    if (CIO_UNLIKELY(loop->watched))
        cio__watch_publish(loop, task);
    return prev;
}
static inline void *cio__loop_task(const cio_loop *loop) { return loop->current_task; }
/* A stall watchdog runs: what it reads must be handed over with care. */
static inline bool cio__loop_watched(const cio_loop *loop) { return loop->watched; }
/* Before a task is freed or something its description reads changes (its
 * name): unpublishes the task and waits while the watchdog describes it.
 * Loop thread. cio__watch_publish publishes it again if it still runs. */
void cio__watch_forget_slow(cio_loop *loop, const void *task);
static inline void cio__watch_forget(cio_loop *loop, const void *task)
{
    if (CIO_UNLIKELY(loop->watched))
        cio__watch_forget_slow(loop, task);
}

/* asyncio.run's end for the loop itself, once the layers above ended what
 * they run on it: lets queued done-callbacks release their futures, waits
 * for the thread pool's jobs, refuses threadsafe calls from then on (for
 * good, also if the close fails) and runs every one accepted before, then
 * closes the loop, dropping (and in debug mode reporting) what the program
 * left behind: timers, callbacks it queued itself, watchers, signal
 * handlers. The loop may still refuse to close (futures still referenced):
 * cio_loop_free then says so. */
void cio__loop_shutdown(cio_loop *loop);
/* Whether cio__loop_shutdown has begun on loop: the layers above have ended
 * their tasks, and a task started now would never be run to its end. */
static inline bool cio__loop_shutting_down(const cio_loop *loop) { return loop->shutting_down; }

/* ---- Futures ---------------------------------------------------------------- */

static inline cio_loop *cio__future_loop(const cio_future *fut) { return fut->loop; }
static inline bool cio__future_is_pending(const cio_future *fut)
{
    return fut->state == CIO_FUTURE_PENDING;
}
static inline void cio__future_ref(cio_future *fut) { fut->refs++; }
/* A done future's outcome, as cio_future_result without the checks:
 * marks it retrieved; *result (if result is not NULL) gets the result if
 * it succeeded, and is left alone otherwise. */
static inline int cio__future_done_result(cio_future *fut, void **result)
{
    fut->retrieved = true;
    if (result && fut->err == 0)
        *result = fut->result;
    return fut->err;
}
/* The destructor of a future's result (NULL: none): what the new owner of a
 * result taken out with cio_future_take_result has to free it with. */
static inline cio_free_fn cio__future_result_free(const cio_future *fut) { return fut->dtor; }
/* The argument the cancel hook was last set with (cio__future_set_cancel_hook),
 * which its owner may use as a word of storage once the hook is NULL. */
static inline void *cio__future_cancel_hook_arg(const cio_future *fut) { return fut->hook_arg; }
/* If fut's one done-callback is an awaiter's entry (cio__future_add_awaiter),
 * takes it out of the list and returns its owner; its reference on fut is
 * then the caller's to drop. Otherwise returns NULL and changes nothing. */
static inline cio_future *cio__future_take_sole_awaiter(cio_future *fut)
{
    if (fut->ncb != 1 || fut->cbs[0].cb != cio__hooks.await_done)
        return NULL;
    fut->ncb = 0;
    return fut->cbs[0].arg;
}

/* ---- For the net layer: edge registrations and a per-loop slot ----------
 * (Implemented in src/loop/io.c and src/loop/loop.c.)
 *
 * An edge registration puts fd in the backend once for both directions
 * (epoll: EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, one epoll_ctl for the
 * descriptor's whole use) and calls cb(loop, fd, events, arg) for every
 * edge, events as for cio_loop_add_reader (CIO_IOERR for an error or a
 * hang-up, which also reads as CIO_READABLE). `armed` is what the owner
 * waits for now: a level-triggered backend (poll) watches only the armed
 * directions (changing them is no system call there), and epoll ignores
 * it. A registration counts as the loop's live work (cio_loop_run_once
 * returns 1, cio_loop_close says -EBUSY) only while armed. fd may not also
 * have a reader or writer of cio_loop_add_reader/_writer (-EBUSY either
 * way). */
/* Implementation notes: the registration lives in the loop's descriptor
 * table like a reader (CIO__EDGE in the mask, cb in rcb, the armed bits
 * beside it) and takes its generation once, at add: arming keeps it, so
 * an event read before a disarm still reaches cb, and one read for a
 * registration since removed is dropped. epoll_ctl is called at add and
 * del only; poll's set holds the descriptor only while something is armed
 * (an unarmed one would report hang-ups forever) and re-adds it without a
 * system call; a descriptor poll(2) calls invalid (closed behind the
 * owner's back) is dropped, reported, and cb gets one CIO_IOERR event so
 * a waiting task is woken. cio_run's end (cio__loop_shutdown) disarms what
 * is still armed. cio__io_ctl_count (loop/internal.h) counts the
 * backends' update system calls, for tests.
 * add: 0, -EINVAL (NULL loop or cb, closed loop, fd < 0, the loop's own
 * wakeup descriptor), -EBUSY, -EBADF and other backend errors, -ENOMEM.
 * arm: 0, -ENOENT (no edge registration of fd), -ENOMEM (poll).
 * del: 0, -EINVAL (NULL or closed loop, fd < 0), -ENOENT. */
int cio__io_edge_add(cio_loop *loop, int fd, cio_io_cb cb, void *arg);
int cio__io_edge_arm(cio_loop *loop, int fd, int armed);
/* Removes the registration (the descriptor may already be closed). */
int cio__io_edge_del(cio_loop *loop, int fd);

/* Per-loop slots for layers above the task layer, which has loop->ext:
 * a pointer and the function cio_loop_free calls with it (after the loop
 * closed; NULL: nothing to call). */
enum { CIO__SLOT_NET = 0, CIO__SLOT_COUNT = 4 };
_Static_assert(CIO__SLOT_COUNT == CIO__LOOP_SLOTS, "the loop keeps CIO__SLOT_COUNT slots");
void *cio__loop_slot(cio_loop *loop, int id);
void cio__loop_set_slot(cio_loop *loop, int id, void *data, void (*free_fn)(cio_loop *, void *));

#endif
