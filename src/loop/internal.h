/* Internal declarations of the loop layer. Never installed. */
#ifndef CIO_LOOP_INTERNAL_H
#define CIO_LOOP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cio/future.h>
#include <cio/loop.h>

#define CIO_LIKELY(x) __builtin_expect(!!(x), 1)
#define CIO_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* A spin-wait hint to the CPU. */
static inline void cio__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- The ready queue ------------------------------------------------------
 * A ring of 64-bit words, grown by doubling and never shrunk, so call_soon
 * does not allocate in steady state. Three entry forms:
 *   packed  (1 word):  cb's index in the loop's callback table + 1 in the top
 *                      byte, arg in the low 56 bits;
 *   plain   (3 words): CIO__RQ_PLAIN, cb, arg;
 *   future  (4 words): CIO__RQ_FUTURE, fut, fcb, arg (holds a reference).
 * Almost every call_soon is packed: programs use few distinct callbacks and
 * user-space pointers fit in 56 bits. A million queued callbacks then take
 * 8 MB instead of 16 or 24, and call_soon_batch is bound by that memory
 * traffic (bench/ call_soon_batch). */
#define CIO__RQ_PLAIN 0u
#define CIO__RQ_FUTURE 1u
#define CIO__RQ_TABLE 128u /* callback table size (index + 1 in the top byte) */
#define CIO__RQ_ARG_MASK ((UINT64_C(1) << 56) - 1)

static inline unsigned cio__rq_hash(cio_cb cb)
{
    /* Functions are 16-byte aligned: neighbours get neighbouring slots. */
    return (unsigned)((uintptr_t)cb >> 4) & (CIO__RQ_TABLE - 1);
}

/* ---- Timers ----------------------------------------------------------------
 * A hierarchical timing wheel with 1 ms ticks (see timer.c for why). Timer
 * nodes live in one array and are named by index; each slot is an array of
 * node indexes, so firing and cascading walk memory in order and can
 * prefetch. A handle is (generation, index) and stays safe after the node
 * is reused. */
#define CIO__TW_L0_BITS 8
#define CIO__TW_LN_BITS 6
#define CIO__TW_LEVELS 5 /* level 0: 256 slots, levels 1-4: 64 each */
#define CIO__TW_NSLOTS ((1 << CIO__TW_L0_BITS) + (CIO__TW_LEVELS - 1) * (1 << CIO__TW_LN_BITS))
#define CIO__NIL UINT32_MAX

struct cio__tnode {
    int64_t deadline; /* ns, loop clock */
    uint64_t seq;     /* start order, breaks deadline ties */
    cio_cb cb;
    void *arg;
    uint32_t gen;   /* bumped when the node is freed: stale handles miss;
                       CIO__TW_GEN_RETIRED: never handed out again */
    uint32_t where; /* slot number, or one of the CIO__TW_* states below */
    uint32_t pos;   /* index in its slot's (or the due) array */
    uint32_t next_free;
};
enum {
    CIO__TW_FREE = 0xffffff00u,
    CIO__TW_DUE,     /* in the due array this iteration */
    CIO__TW_RUNNING, /* its callback is running now */
    CIO__TW_DEAD,    /* cancelled while running: freed after the callback */
};
#define CIO__TW_GEN_RETIRED UINT32_MAX

/* A slot: node indexes in append order; CIO__NIL marks a cancelled entry.
 * `sorted` says whether appends kept (deadline, seq) order, judged against
 * the last appended key kept here, so checking costs no memory access. */
struct cio__tslot {
    uint32_t *v;
    uint32_t len, cap;
    uint32_t live;
    bool sorted;
    int64_t last_deadline;
    uint64_t last_seq;
};

struct cio__wheel {
    struct cio__tnode *nodes;
    int64_t *intervals; /* per node, allocated once a repeating timer exists */
    uint32_t cap, used; /* nodes[0..used) have been handed out at least once */
    uint32_t free_head;
    uint32_t gen_floor; /* above every generation handed out so far */
    uint32_t gen_start; /* the first generation of a node new in this storage */
    uint32_t active; /* scheduled timers, including the due array */
    uint64_t seq;
    uint64_t cur; /* the next tick to process: every tick before it is done */
    struct cio__tslot slots[CIO__TW_NSLOTS];
    uint64_t bits[CIO__TW_NSLOTS / 64]; /* non-empty slots */
    uint32_t nonempty_hi;              /* timers on levels 1-4 */
    struct cio__tslot overdue; /* started with a deadline already passed */
    struct cio__tslot due; /* collected at an iteration's start, fired at its end */
    uint32_t due_next;     /* next due entry to run */
    bool firing;           /* the due array is in use (collected, not yet all fired) */
    bool release_pending;  /* emptied with large storage: the next poll gives it back */
};

void cio__wheel_init(struct cio__wheel *w, int64_t now_ns);
void cio__wheel_free(struct cio__wheel *w);
/* ns until the next tick that has work, -1 if none. */
int64_t cio__wheel_timeout(cio_loop *loop);
/* Whether a timer may be due at now_ns: cheap enough for every iteration
 * (the wheel's current tick is in the past, or a timer was started with a
 * deadline already passed). */
static inline bool cio__wheel_may_fire(const struct cio__wheel *w, int64_t now_ns)
{
    return w->active && (w->overdue.live || (uint64_t)now_ns / 1000000 >= w->cur);
}
/* Moves the timers due at the loop's time to the due array, in firing
 * order; returns whether there are any. cio__wheel_fire then runs them. */
bool cio__wheel_collect(cio_loop *loop);
void cio__wheel_fire(cio_loop *loop);
/* Gives the node storage back if the wheel is still empty (the loop calls
 * it when it polls and release_pending is set). */
void cio__wheel_release(struct cio__wheel *w);

/* ---- I/O ---------------------------------------------------------------- */

/* Per descriptor: the reader and the writer, and a generation that changes
 * every time the descriptor is (re)registered with the backend, so events
 * read for an old registration are recognised and dropped. */
struct cio__fdw {
    cio_io_cb rcb, wcb;
    void *rarg, *warg;
    uint32_t gen;
    uint8_t mask; /* CIO_READABLE | CIO_WRITABLE registered, or CIO__EDGE | armed */
};

/* In a cio__fdw's mask and in the masks handed to the backend's update:
 * an edge registration (cio__io_edge_add, src/core.h), whose callback and
 * argument are rcb/rarg and whose other bits are the armed directions.
 * epoll registers it once for both directions, edge-triggered, and
 * ignores the armed bits (changing them costs nothing); poll watches the
 * armed directions only, level-triggered, and drops the descriptor from
 * its set while nothing is armed. */
#define CIO__EDGE 8

/* The backend interface (the redis ae shape): a handful of functions.
 * Readiness backends (epoll, poll) implement init/free/update/poll.
 * A completion backend (io_uring, a later issue) implements the same
 * readiness calls with poll requests, and also `submit` for operations that
 * complete with a result (read, write, accept, ...); where submit is NULL
 * the layers above emulate those operations with readiness and
 * non-blocking system calls, so they are written once against both. */
struct cio__op; /* a completion operation; defined by the layer that needs it */
struct cio__backend {
    const char *name;
    int (*init)(cio_loop *loop);
    void (*free)(cio_loop *loop);
    /* Changes fd's registration from old_mask to new_mask (either may be 0). */
    int (*update)(cio_loop *loop, int fd, uint32_t gen, int old_mask, int new_mask);
    /* Waits up to timeout_ms (-1: forever, 0: not at all), then reports each
     * event with cio__io_event. Returns the number of events or -errno. */
    int (*poll)(cio_loop *loop, int timeout_ms);
    int (*submit)(cio_loop *loop, struct cio__op *op);
};
extern const struct cio__backend cio__backend_epoll;
extern const struct cio__backend cio__backend_poll;

void cio__io_event(cio_loop *loop, int fd, uint32_t gen, int events);
/* The wakeup descriptor became readable. */
void cio__wakeup_drain(cio_loop *loop);

/* ---- Remote work: call_soon_threadsafe, pool completions, signals ------- */

struct cio__job; /* thread-pool work, threadpool.c */

/* call_soon_threadsafe: each producer thread gets its own single-producer
 * ring to each loop it calls (threadsafe.c). */
struct cio__tscell {
    cio_cb cb; /* NULL: a stamp cell, arg carries the sequence number */
    void *arg;
};
struct cio__tsitem {
    cio_cb cb;
    void *arg;
    uint64_t seq;
};
struct cio__tsring {
    /* producer's line */
    _Alignas(64) _Atomic uint64_t tail;
    uint64_t head_cache;
    _Atomic int busy; /* the producer is inside a call (see cio__ts_close_begin) */
    _Atomic int overflowing; /* set by the producer, cleared by the loop */
    /* The producer relies on the loop's membarrier and skips its fence:
     * set by the producer (its call then fences once), cleared by the loop
     * once the ring has been idle for a few sleeps (cio__ts_before_sleep). */
    _Atomic int hot;
    _Atomic int waiting; /* a producer waits for room (cio_call_soon_threadsafe_wait) */
    /* consumer's line */
    _Alignas(64) _Atomic uint64_t head;
    uint64_t dh;         /* head while a drain runs */
    uint64_t seen_tail;  /* the tail the last drain read */
    uint64_t sleep_tail; /* the tail at the loop's last sleep */
    unsigned idle_sleeps; /* sleeps in a row without a call on this ring */
    bool snap_ovf;       /* the drain looks at the overflow list */
    bool took;           /* the drain took calls out of this ring */
    bool cooling;        /* hot cleared at this sleep, pending the busy check */
    _Atomic uint32_t room_seq; /* bumped (a futex) when the loop makes room for a waiter */
    /* fixed */
    _Alignas(64) struct cio__tscell *cells;
    uint64_t mask;
    int owner; /* producer's thread id */
    bool ordered; /* user calls (stamped when several producers) */
    struct cio__tsring *next;
    /* overflow, under the loop's ts_lock: items [ovf_head, ovf_len) */
    struct cio__tsitem *ovf;
    size_t ovf_head, ovf_len, ovf_cap;
};

/* Debug mode: the live futures' creation sites, a hash table keyed by the
 * future (future.c keeps it, loop.c's close report reads it). */
struct cio__fsite {
    cio_future *fut; /* NULL: a free slot */
    const void *site;
    uint64_t seq; /* creation order */
};
struct cio__fsites {
    struct cio__fsite *v;
    size_t cap, n; /* cap: a power of two */
    uint64_t seq;
};

/* Slots for the layers above the task layer (CIO__SLOT_COUNT in src/core.h). */
#define CIO__LOOP_SLOTS 4

/* Bytes reserved in every loop for the layer above (cio__loop_ext). */
#define CIO__LOOP_EXT_SIZE 64

/* What the loop thread tells the stall watchdog's thread (watchdog.c):
 * the task running now (cio__watch_publish), and the task whose description
 * the watchdog is copying. It heads the watchdog, which loop->watchdog
 * points to. */
struct cio__watch_pub {
    void *_Atomic running;
    void *_Atomic reading;
};

struct cio_loop {
    /* hot: the ready queue */
    uint64_t *ring;
    cio_cb cbtab[CIO__RQ_TABLE];
    uint64_t head, tail;
    uint64_t mask;
    /* The push fast path (cio__ready_push): the callback packed last, its
     * entry's top byte, and a lower bound of head + mask + 1 (head only
     * grows between refreshes), so a push checks one callback and one limit
     * instead of hashing and computing the free room. */
    cio_cb rq_cb;
    uint64_t rq_tag;
    uint64_t rq_limit;
    uint32_t since_poll; /* callbacks run since the last poll */
    int64_t last_poll;   /* ns, loop clock: when the last poll returned */
    bool stopping;
    bool running;
    bool closed;
    bool debug;
    /* cio_run's end (cio__loop_shutdown) has begun: no task is started any
     * more, and threadsafe calls stay refused even if a close fails. */
    bool shutting_down;
    int64_t now; /* ns, cached once per iteration */

    struct cio__wheel wheel;

    /* I/O */
    const struct cio__backend *backend;
    void *bdata;
    struct cio__fdw *fds;
    int nfds;        /* size of fds[] */
    int nwatched;    /* descriptors with a reader, a writer or an armed edge registration */
    /* System calls the backends' update made (epoll_ctl, poll's descriptor
     * checks): what cio__io_ctl_count reports, so tests can show that a
     * wait on an edge registration costs none. */
    uint64_t io_ctl_calls;
    uint32_t io_gen; /* generation counter for registrations */
    int wakefd;      /* eventfd */
    int poll_error;  /* the backend's last poll failed with this; 0 once one succeeds */
    int run_error;   /* what the current run returns: a failed poll ended it */

    /* remote work (other threads and signal handlers write these), on lines
     * of their own so producers do not bounce the loop's hot fields */
    _Alignas(64) _Atomic int remote_pending;
    _Alignas(64) _Atomic int sleeping; /* blocked, or about to block, in the backend */
    _Atomic int wake_sent;             /* an eventfd write not yet consumed */
    _Alignas(64) struct cio__job *_Atomic done_jobs; /* pool completions (a stack) */
    /* read by producers on every call, written almost never */
    _Alignas(64) struct cio__tsring *_Atomic ts_rings;
    _Atomic int ts_multi;    /* more than one producer ever: stamp calls */
    uint64_t id;             /* unique per loop, for producers' caches */
    _Atomic bool ts_closed;  /* `closed`, kept off the loop's hot line */
    _Alignas(64) _Atomic uint64_t ts_seq; /* the stamps */
    /* the loop's own */
    _Alignas(64) int ts_nrings, ts_nordered;
    uint32_t last_remote_batch; /* calls taken in by the last drain */
    bool ts_more;               /* the last drain left calls behind (batch bound) */
    pthread_mutex_t ts_lock;    /* ring registration, overflow, ts_closed */
    struct cio__tsring *ts_rr;  /* the unordered ring the next drain starts at */
    uint64_t ts_next_seq; /* the next stamp to release */
    _Atomic uint64_t sig_pending;       /* bit (signo - 1) */
    _Atomic uint64_t sig_watch;
    cio_cb sig_cb[65];
    void *sig_arg[65];
    int nsignals;

    /* the thread pool's work in flight for this loop */
    uint32_t jobs_inflight;
    struct cio__job *job_free;
    struct cio__job **submit; /* not yet handed to the pool */
    uint32_t submit_len, submit_cap;

    /* futures */
    uint32_t futures_live;
    cio_future *future_free;
    uint32_t future_free_count;
    struct cio__fsites *fsites; /* debug mode: live futures' creation sites (future.c) */

    /* The layer above (src/core.h): the task it runs now, which the core
     * only passes on to the stall watchdog, and room for its own per-loop
     * state, which the core never reads. One cache line from current_task
     * on holds what a task switch and a spawn touch here: current_task,
     * watched and the head of ext (the task layer's list of tasks). */
    _Alignas(64) void *current_task;
    bool watched; /* the stall watchdog (watchdog.c) runs */
    _Alignas(16) unsigned char ext[CIO__LOOP_EXT_SIZE];

    /* the stall watchdog */
    const void *current_cb; /* the callback running now, when watched */
    _Atomic uint64_t progress; /* bumped per poll when watched */
    struct cio__watch_pub *watchdog; /* the watchdog, when there is one */
    int internal_signals; /* signal handlers cio installed itself (SIGUSR1 dump) */

    /* Per-loop slots for the layers above the task layer (src/core.h):
     * cio_loop_free calls each slot_free[i](loop, slot[i]) after the close. */
    void *slot[CIO__LOOP_SLOTS];
    void (*slot_free[CIO__LOOP_SLOTS])(cio_loop *, void *);

    /* debug and reporting */
    pthread_t owner;
    int64_t slow_ns;
    cio_report_fn report;
    void *report_arg;
    uint32_t stop_gen;
};

/* The backends' update system calls so far on loop (see io_ctl_calls). */
static inline uint64_t cio__io_ctl_count(const cio_loop *loop) { return loop->io_ctl_calls; }

/* Pushes callbacks on the ready queue (loop thread). */
int cio__ready_grow(cio_loop *loop);
int cio__ready_push_slow(cio_loop *loop, cio_cb cb, void *arg);
int cio__ready_push_future(cio_loop *loop, cio_future_cb fcb, void *arg, cio_future *fut);
/* The common case, the same callback as the last packed push with room
 * below the limit, inline; anything else (another callback, a NULL one, an
 * argument above 56 bits, a full or stale limit) in cio__ready_push_slow,
 * which refreshes the fast path's fields. rq_cb is NULL until the first
 * packed push, so a NULL cb never takes the fast path. */
static inline int cio__ready_push(cio_loop *loop, cio_cb cb, void *arg)
{
    uint64_t a = (uint64_t)(uintptr_t)arg, t = loop->tail;
    if (CIO_LIKELY(cb == loop->rq_cb && !(a >> 56) && t < loop->rq_limit)) {
        loop->ring[t & loop->mask] = loop->rq_tag | a;
        loop->tail = t + 1;
        return 0;
    }
    return cio__ready_push_slow(loop, cb, arg);
}

int64_t cio__now_ns(void);
/* The loop running on this thread (innermost run call), or NULL. */
extern __thread cio_loop *cio__tls_loop;
/* Debug mode: slow task steps the task layer reported itself, naming the
 * task (this thread); a callback that ran one is not reported again. The
 * core owns the counter; the task layer bumps it (cio__slow_step_reported). */
extern __thread uint64_t cio__slow_task_steps;
/* Debug mode: reports "<what>: <fn> took N s" if the callback fn, started
 * at t0 (with cio__slow_task_steps at `steps`), ran over the slow limit. */
void cio__report_if_slow(cio_loop *loop, const char *what, const void *fn, int64_t t0,
                         uint64_t steps);
void cio__spin_ns(int64_t ns);
#define CIO__SPIN_BEFORE_SLEEP_NS 2000
uint64_t cio__loop_new_id(void);
void cio__loop_wake(cio_loop *loop); /* any thread, async-signal-safe */
void cio__remote_signal(cio_loop *loop);
/* Debug mode: reports (and returns -EPERM for) a call from a wrong thread. */
int cio__check_thread_slow(cio_loop *loop, const char *fn);
static inline int cio__check_thread(cio_loop *loop, const char *fn)
{
    if (CIO_LIKELY(!loop->debug))
        return 0;
    return cio__check_thread_slow(loop, fn);
}
/* Describes a function pointer ("name" or "file+0xoff") into buf. */
const char *cio__describe_fn(const void *fn, char *buf, size_t len);
/* The name of the function at fn from the .symtab of file (mapped at base),
 * for functions dladdr cannot name (static ones); false if not found.
 * *start (may be NULL) receives the function's address, so an address
 * inside it reads as name+offset. */
bool cio__static_symbol(const void *fn, const char *file, const void *base, char *buf, size_t len,
                        uintptr_t *start);
/* Describes a code address inside a function (debug mode's creation sites,
 * which are return addresses) as "function+0xoff (object)", the object
 * being the executable's or shared library's file name; "0x... (object)"
 * or "0x..." if it cannot be named. */
const char *cio__describe_site(const void *addr, char *buf, size_t len);

void cio__signals_drain(cio_loop *loop);
void cio__ts_drain(cio_loop *loop);
bool cio__ts_ready(cio_loop *loop);
void cio__ts_init(void);
/* call_soon_threadsafe for calls whose order relative to other threads'
 * calls does not matter (the pool's completions): never stamped. */
int cio__call_soon_unordered(cio_loop *loop, cio_cb cb, void *arg);
/* The loop is about to block (`sleeping` is stored): issues the
 * asymmetric barrier if some producer may be relying on it. */
void cio__ts_before_sleep(cio_loop *loop);
/* Calls accepted and not yet run by the loop: in rings, overflow lists. */
bool cio__ts_pending(cio_loop *loop);
void cio__ts_free(cio_loop *loop);
/* Close has begun: refuses every later call (-EINVAL) and waits until no
 * producer is still inside a call, so every call that was accepted is in a
 * ring or an overflow list when it returns. */
void cio__ts_close_begin(cio_loop *loop);
/* The close failed: accept calls again. */
void cio__ts_close_abort(cio_loop *loop);
/* Test hooks (threadsafe.c): set before the first loop is created,
 * cio__ts_no_membarrier takes the path of a kernel without membarrier(2);
 * cio__ts_membarriers counts the membarrier calls made; each unit of
 * cio__ts_fail_allocs makes the next allocation of the threadsafe path
 * (an overflow list, the ready queue's growth for a drain) fail. */
extern bool cio__ts_no_membarrier;
extern _Atomic uint64_t cio__ts_membarriers;
extern _Atomic int cio__ts_fail_allocs;
bool cio__ts_asym_barrier(void);
void cio__signals_close(cio_loop *loop);
void cio__jobs_drain(cio_loop *loop);
void cio__jobs_flush(cio_loop *loop);
void cio__jobs_quiesce(void);
void cio__jobs_free_cache(cio_loop *loop);
void cio__futures_free_cache(cio_loop *loop);
/* Stops the loop's stall watchdog, if any, and waits for its thread. */
void cio__watchdog_stop(cio_loop *loop);
int cio__io_init(cio_loop *loop);
void cio__io_free(cio_loop *loop);

#endif
