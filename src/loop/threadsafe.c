/* call_soon_threadsafe.
 *
 * Each producer thread gets its own single-producer ring to each loop it
 * calls, found through a one-entry thread-local cache. A call is then a
 * 16-byte write and one store of the ring's tail, with no lock and no
 * read-modify-write on a line another producer touches; the loop reads
 * four calls per cache line.
 *
 * Wakeups. The loop publishes `sleeping` before its last look at the rings,
 * the producer publishes its call before looking at `sleeping`, so one of
 * them always sees the other, and the eventfd is written only when the loop
 * sleeps. Each side needs a store-load barrier for that. When the kernel
 * offers membarrier(2), a producer whose ring is "hot" skips its fence and
 * the loop pays one membarrier before it sleeps instead: a fence per call
 * measured as three quarters of the cost of a call. membarrier interrupts
 * every CPU running the process, so the loop issues it only while some ring
 * is hot, and cools a ring that stayed idle for COOL_AFTER sleeps; the
 * producer's next call then fences once and makes the ring hot again. A
 * new ring starts cold, so a new producer's first call is always fenced.
 * Without membarrier (old kernels, seccomp), every call fences.
 *
 * Close. A producer marks itself busy, then looks at ts_closed; close sets
 * ts_closed, then waits for busy producers (the same barrier pairing as
 * above). So a call either sees the close and is refused, or close waits
 * for it and then finds it in a ring: a call that returned 0 runs, or close
 * fails with -EBUSY (cio_loop_close).
 *
 * Order. Calls from one thread run in the order made. Calls from different
 * threads run in an order consistent with how the calls were ordered by the
 * program (if thread A's call happens before thread B's, A's runs first):
 * while only one producer thread has ever called a loop there is nothing to
 * order; once a second one registers, every call takes a stamp from a shared
 * counter and the loop merges its rings by stamp, releasing stamp n only
 * after n - 1 (a stamp taken and not yet published holds the later ones
 * back). A call made before the second producer registered carries no
 * stamp and cannot follow a stamped one, so unstamped calls go first.
 *
 * Bounds. The loop takes in at most CIO_THREADSAFE_BATCH calls per
 * iteration (and as many pool completions), so a flood of calls never
 * starves timers and I/O. A full ring (CIO_THREADSAFE_RING cells) makes
 * cio_call_soon_threadsafe spill into a locked overflow list, keeping the
 * order, cio_call_soon_threadsafe_try fail with -EAGAIN, and
 * cio_call_soon_threadsafe_wait sleep on a futex that the loop bumps when it
 * takes calls out of a ring someone waits on. A program with more than
 * MAX_RINGS producer threads shares the last ring's overflow path. */
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define RING_CELLS CIO_THREADSAFE_RING
#define MAX_RINGS 64
/* Sleeps in a row without a call before the loop stops issuing membarrier
 * for a ring. Two, not one: a producer answering each wakeup keeps its ring
 * hot instead of paying a fence every other call. */
#define COOL_AFTER 2

static _Atomic uint64_t next_loop_id = 1;

bool cio__ts_no_membarrier;
_Atomic uint64_t cio__ts_membarriers;
_Atomic int cio__ts_fail_allocs;

/* Whether membarrier(2) gives the loop an asymmetric barrier. */
static bool asym_barrier;
static pthread_once_t asym_once = PTHREAD_ONCE_INIT;

static void asym_init(void)
{
#ifdef __NR_membarrier
    if (cio__ts_no_membarrier)
        return;
    /* A kernel without it says ENOSYS, a seccomp filter usually ENOSYS or
     * EPERM, one without the private expedited command EINVAL: each leaves
     * asym_barrier false and producers fence every call. */
    long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        asym_barrier = true;
#endif
}

void cio__ts_init(void) { pthread_once(&asym_once, asym_init); }
bool cio__ts_asym_barrier(void) { return asym_barrier; }

/* The loop's side of the barrier pairing: after it, every producer's stores
 * made before its own (compiler-only) barrier are visible here, and every
 * load a producer makes after it sees the stores made here before. */
static void heavy_barrier(void)
{
#ifdef __NR_membarrier
    if (asym_barrier) {
        atomic_fetch_add_explicit(&cio__ts_membarriers, 1, memory_order_relaxed);
        if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
            return;
        /* Registration succeeded, so only a seccomp filter installed later
         * gets here: producers fence every call from now on. A call in
         * flight at this moment may have skipped its fence (a window of a
         * few instructions); nothing better is possible without the
         * kernel's help. */
        asym_barrier = false;
    }
#endif
    atomic_thread_fence(memory_order_seq_cst);
}

static bool fail_alloc(void)
{
    if (CIO_LIKELY(!atomic_load_explicit(&cio__ts_fail_allocs, memory_order_relaxed)))
        return false;
    return atomic_fetch_sub(&cio__ts_fail_allocs, 1) > 0;
}

struct ts_cache {
    cio_loop *loop;
    uint64_t id;
    struct cio__tsring *ring;
};
/* [0]: the thread's ordered ring, [1]: its unordered one (pool workers). */
static __thread struct ts_cache cache[2];

static __thread int my_tid;

static int tid(void)
{
    if (!my_tid)
        my_tid = (int)syscall(SYS_gettid);
    return my_tid;
}

uint64_t cio__loop_new_id(void) { return atomic_fetch_add(&next_loop_id, 1); }

/* The calling thread's ring to loop, registering one on first use.
 * Unordered rings (the pool's completions, whose relative order no program
 * can observe) never make the loop stamp and merge. Registration is refused
 * once close has begun (ts_closed is written under the same lock), so close
 * sees every ring a call can use. */
static int ring_for(cio_loop *loop, bool ordered, struct cio__tsring **out)
{
    struct ts_cache *c = &cache[!ordered];
    if (CIO_LIKELY(c->loop == loop && c->id == loop->id)) {
        *out = c->ring;
        return 0;
    }
    int me = tid();
    pthread_mutex_lock(&loop->ts_lock);
    if (atomic_load_explicit(&loop->ts_closed, memory_order_relaxed)) {
        pthread_mutex_unlock(&loop->ts_lock);
        return -EINVAL;
    }
    struct cio__tsring *r = atomic_load_explicit(&loop->ts_rings, memory_order_relaxed);
    struct cio__tsring *last = NULL;
    for (; r; r = r->next) {
        if (r->owner == me && r->ordered == ordered)
            break;
        if (r->ordered == ordered)
            last = r;
    }
    if (!r && last && loop->ts_nrings >= MAX_RINGS) {
        r = last; /* shared: only through the locked overflow path */
    } else if (!r) {
        r = aligned_alloc(64, sizeof *r);
        struct cio__tscell *cells = malloc(RING_CELLS * sizeof *cells);
        if (!r || !cells) {
            free(r);
            free(cells);
            pthread_mutex_unlock(&loop->ts_lock);
            return -ENOMEM;
        }
        memset(r, 0, sizeof *r);
        r->cells = cells;
        r->mask = RING_CELLS - 1;
        r->owner = me;
        r->ordered = ordered;
        r->next = atomic_load_explicit(&loop->ts_rings, memory_order_relaxed);
        if (ordered && loop->ts_nordered++ > 0)
            atomic_store(&loop->ts_multi, 1); /* before the ring is visible */
        loop->ts_nrings++;
        atomic_store_explicit(&loop->ts_rings, r, memory_order_release);
    }
    bool own = r->owner == me;
    pthread_mutex_unlock(&loop->ts_lock);
    if (own) {
        c->loop = loop;
        c->id = loop->id;
        c->ring = r;
    }
    *out = r;
    return 0;
}

/* Takes a stamp only once the call cannot fail any more: a stamp taken and
 * never published would leave a gap the loop waits on forever. */
static inline uint64_t take_stamp(cio_loop *loop, bool stamp)
{
    return stamp ? atomic_fetch_add(&loop->ts_seq, 1) + 1 : 0;
}

/* Returns 0 (appended), 1 (the ring has room again: retry it), -EAGAIN
 * (bounded call and the backlog is full), -EINVAL (a shared producer found
 * the loop closing), -ENOMEM. A failure appends nothing and takes no stamp,
 * so the producer's later calls keep their order. */
static int overflow_push(cio_loop *loop, struct cio__tsring *r, cio_cb cb, void *arg,
                         bool stamp, bool shared, bool bounded)
{
    pthread_mutex_lock(&loop->ts_lock);
    int rc = 0;
    if (shared) {
        /* No busy flag to pair with close: ts_closed is read under the lock
         * close writes it under. */
        if (atomic_load_explicit(&loop->ts_closed, memory_order_relaxed)) {
            rc = -EINVAL;
            goto out;
        }
        stamp = r->ordered && atomic_load_explicit(&loop->ts_multi, memory_order_relaxed);
        if (bounded && r->ovf_len - r->ovf_head >= RING_CELLS) {
            rc = -EAGAIN;
            goto out;
        }
    } else if (!atomic_load_explicit(&r->overflowing, memory_order_relaxed)) {
        /* The loop took the overflow in meanwhile: the ring is usable again
         * if it has room. */
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t - r->head_cache + 2 <= RING_CELLS) {
            rc = 1; /* retry the ring */
            goto out;
        }
        if (bounded) {
            rc = -EAGAIN;
            goto out;
        }
    } else if (bounded) {
        rc = -EAGAIN; /* a bounded call may not pass the overflow */
        goto out;
    }
    if (r->ovf_len == r->ovf_cap && r->ovf_head && r->ovf_head >= r->ovf_cap / 2) {
        /* The loop took at least half in: reuse that room before growing.
         * Not less: the loop takes in CIO_THREADSAFE_BATCH calls per
         * iteration, and moving a large list down for that little room on
         * every batch would copy the whole list per batch. */
        memmove(r->ovf, r->ovf + r->ovf_head, (r->ovf_len - r->ovf_head) * sizeof *r->ovf);
        r->ovf_len -= r->ovf_head;
        r->ovf_head = 0;
    }
    if (r->ovf_len == r->ovf_cap) {
        size_t ncap = r->ovf_cap ? r->ovf_cap * 2 : 256;
        void *p = fail_alloc() ? NULL : realloc(r->ovf, ncap * sizeof *r->ovf);
        if (!p) {
            rc = -ENOMEM;
            goto out;
        }
        r->ovf = p;
        r->ovf_cap = ncap;
    }
    r->ovf[r->ovf_len++] = (struct cio__tsitem){cb, arg, take_stamp(loop, stamp)};
    /* Signal the loop, under the lock (see cio__ts_close_begin), unless an
     * earlier unstamped push of this episode did: while `overflowing` stays
     * set, the loop still owes this list a look (it clears the flag, under
     * this lock, only once it has taken the whole list in, and sets ts_more
     * when its budget leaves some), so this item is taken in with the rest.
     * A stamped item always signals: it may fill the gap a drain stopped
     * at, and nothing else would make the loop look again. Shared producers
     * always signal. The signal's fence and its store on the loop's line
     * were a third of a spilling call (perf, bench/ wakeup). */
    if (shared || stamp || !atomic_load_explicit(&r->overflowing, memory_order_relaxed)) {
        atomic_store_explicit(&r->overflowing, 1, memory_order_release);
        cio__remote_signal(loop);
    }
out:
    pthread_mutex_unlock(&loop->ts_lock);
    return rc;
}

static __attribute__((noinline)) int ts_call(cio_loop *loop, cio_cb cb, void *arg, bool ordered,
                                            bool bounded, struct cio__tsring **used)
{
    if (!loop || !cb)
        return -EINVAL;
    struct cio__tsring *r;
    int rc = ring_for(loop, ordered, &r);
    if (CIO_UNLIKELY(rc))
        return rc;
    if (used)
        *used = r;
    if (CIO_UNLIKELY(r->owner != tid())) {
        for (;;) {
            rc = overflow_push(loop, r, cb, arg, false, true, bounded);
            if (rc <= 0)
                return rc;
        }
    }
    /* Announce the call, then look at ts_closed: close stores ts_closed,
     * then looks at busy, so one of the two sees the other (close's half
     * of the barrier is membarrier when producers skip theirs). Until busy
     * is cleared, close waits: the loop may take this call in, run it and
     * be closed before this function returns. */
    bool asym = asym_barrier;
    if (CIO_LIKELY(asym)) {
        atomic_store_explicit(&r->busy, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
    } else {
        atomic_exchange(&r->busy, 1);
    }
    if (CIO_UNLIKELY(atomic_load(&loop->ts_closed))) {
        atomic_store_explicit(&r->busy, 0, memory_order_release);
        return -EINVAL;
    }
    /* A cold ring is made hot, and this call fences (see the file comment):
     * the loop looks at hot after storing `sleeping`, so either it sees the
     * ring hot and issues membarrier, or this call sees it sleeping. */
    bool fast = asym && atomic_load_explicit(&r->hot, memory_order_relaxed);
    if (asym && !fast)
        atomic_store_explicit(&r->hot, 1, memory_order_relaxed);
    bool stamp = ordered && atomic_load_explicit(&loop->ts_multi, memory_order_relaxed);
    for (;;) {
        if (CIO_UNLIKELY(atomic_load_explicit(&r->overflowing, memory_order_relaxed))) {
            rc = overflow_push(loop, r, cb, arg, stamp, false, bounded);
            if (rc <= 0)
                break;
            continue;
        }
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        unsigned need = stamp ? 2 : 1;
        if (CIO_UNLIKELY(t - r->head_cache + need > RING_CELLS)) {
            r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
            if (t - r->head_cache + need > RING_CELLS) {
                rc = overflow_push(loop, r, cb, arg, stamp, false, bounded);
                if (rc <= 0)
                    break;
                continue;
            }
        }
        if (stamp) {
            struct cio__tscell *sc = &r->cells[t & r->mask];
            sc->cb = NULL;
            sc->arg = (void *)(uintptr_t)take_stamp(loop, true);
            t++;
        }
        struct cio__tscell *c = &r->cells[t & r->mask];
        c->cb = cb;
        c->arg = arg;
        /* Publish, then wake the loop if it sleeps. The loop looks at ring
         * tails itself on every poll, so no shared flag is written per call. */
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
        if (CIO_LIKELY(fast))
            atomic_signal_fence(memory_order_seq_cst);
        else
            atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&loop->sleeping, memory_order_relaxed))
            cio__loop_wake(loop);
        rc = 0;
        break;
    }
    atomic_store_explicit(&r->busy, 0, memory_order_release);
    return rc;
}

/* The end of a fast call that found the loop asleep, out of line so that
 * the fast path calls nothing and keeps no register: the wakeup, still
 * inside the call (`busy`: close must not close the eventfd under it). */
static __attribute__((noinline)) int wake_and_leave(cio_loop *loop, struct cio__tsring *r)
{
    cio__loop_wake(loop);
    atomic_store_explicit(&r->busy, 0, memory_order_release);
    return 0;
}

/* An unbounded call of a producer whose ring spills, the common case of
 * overflow_push, without ts_call's way there: under ts_lock, so it needs no
 * `busy` (close sets ts_closed under the lock and so either refuses this
 * call or finds it in the list, as for a shared producer). The list keeps
 * the order: `overflowing` is still set, so every earlier call of this
 * thread is in the ring before the list or in the list. ts_multi is written
 * under the lock too, so the stamp decision is exact. No signal: an earlier
 * push of this episode made it (see overflow_push). Growth of the list, a
 * stamp, or the loop having taken the list meanwhile: ts_call. */
static __attribute__((noinline)) int ovf_append(cio_loop *loop, struct cio__tsring *r, cio_cb cb,
                                                void *arg, bool ordered)
{
    pthread_mutex_lock(&loop->ts_lock);
    if (atomic_load_explicit(&loop->ts_closed, memory_order_relaxed)) {
        pthread_mutex_unlock(&loop->ts_lock);
        return -EINVAL;
    }
    if (CIO_UNLIKELY(!atomic_load_explicit(&r->overflowing, memory_order_relaxed) ||
                     r->ovf_len == r->ovf_cap ||
                     (ordered && atomic_load_explicit(&loop->ts_multi, memory_order_relaxed)))) {
        pthread_mutex_unlock(&loop->ts_lock);
        return ts_call(loop, cb, arg, ordered, false, NULL);
    }
    r->ovf[r->ovf_len++] = (struct cio__tsitem){cb, arg, 0};
    pthread_mutex_unlock(&loop->ts_lock);
    return 0;
}

/* ts_call's common case, a call that goes into the caller's own hot ring
 * with room in it, unstamped, with membarrier on, as a leaf function of its
 * own: ts_call, which handles every case, saved six registers and spilled
 * its arguments on every call (89 instructions a call in callgrind, against
 * about 30 here). The steps and barriers are ts_call's, in the same order;
 * a cached ring is always the caller's own (ring_for caches no other), so
 * the owner check is not repeated. Anything else (first call, cold ring,
 * several producers, overflow, full ring, closing loop) undoes `busy`,
 * having published nothing, and takes ts_call. */
static inline __attribute__((always_inline)) int ts_call_fast(cio_loop *loop, cio_cb cb,
                                                              void *arg, bool ordered,
                                                              bool bounded)
{
    struct ts_cache *c = &cache[!ordered];
    if (CIO_LIKELY(loop && cb && c->loop == loop && c->id == loop->id && asym_barrier)) {
        struct cio__tsring *r = c->ring;
        /* Only this thread sets `overflowing`, so reading it before `busy`
         * is as good as after (the loop clearing it meanwhile just sends
         * this call the longer way). */
        if (CIO_UNLIKELY(atomic_load_explicit(&r->overflowing, memory_order_relaxed))) {
            if (!bounded)
                return ovf_append(loop, r, cb, arg, ordered);
            return ts_call(loop, cb, arg, ordered, bounded, NULL);
        }
        atomic_store_explicit(&r->busy, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (CIO_LIKELY(!atomic_load(&loop->ts_closed) &&
                       atomic_load_explicit(&r->hot, memory_order_relaxed) &&
                       !(ordered && atomic_load_explicit(&loop->ts_multi, memory_order_relaxed)) &&
                       t - r->head_cache + 1 <= RING_CELLS)) {
            struct cio__tscell *cell = &r->cells[t & r->mask];
            cell->cb = cb;
            cell->arg = arg;
            atomic_store_explicit(&r->tail, t + 1, memory_order_release);
            atomic_signal_fence(memory_order_seq_cst);
            if (CIO_UNLIKELY(atomic_load_explicit(&loop->sleeping, memory_order_relaxed)))
                return wake_and_leave(loop, r);
            atomic_store_explicit(&r->busy, 0, memory_order_release);
            return 0;
        }
        atomic_store_explicit(&r->busy, 0, memory_order_release);
    }
    return ts_call(loop, cb, arg, ordered, bounded, NULL);
}

int cio_call_soon_threadsafe(cio_loop *loop, cio_cb cb, void *arg)
{
    return ts_call_fast(loop, cb, arg, true, false);
}

int cio_call_soon_threadsafe_try(cio_loop *loop, cio_cb cb, void *arg)
{
    return ts_call_fast(loop, cb, arg, true, true);
}

int cio_call_soon_threadsafe_wait(cio_loop *loop, cio_cb cb, void *arg, double timeout)
{
    if (!loop || !cb || timeout != timeout)
        return -EINVAL;
    if (cio__tls_loop == loop)
        return -EDEADLK; /* only this thread could make room */
    int64_t deadline = 0;
    if (timeout >= 0)
        deadline = cio__now_ns() + (timeout > 1e9 ? (int64_t)1e18 : (int64_t)(timeout * 1e9));
    for (;;) {
        struct cio__tsring *r = NULL;
        int rc = ts_call(loop, cb, arg, true, true, &r);
        if (rc != -EAGAIN)
            return rc;
        /* Announce the wait, then try again: the loop stores the new head,
         * then looks at `waiting` (cio__ts_room_made), so either the retry
         * sees the room or the loop bumps room_seq past `seq` and wakes. */
        uint32_t seq = atomic_load(&r->room_seq);
        atomic_store(&r->waiting, 1);
        atomic_thread_fence(memory_order_seq_cst);
        rc = ts_call(loop, cb, arg, true, true, NULL);
        if (rc != -EAGAIN)
            return rc;
        struct timespec ts, *tsp = NULL;
        if (timeout >= 0) {
            int64_t left = deadline - cio__now_ns();
            if (left <= 0)
                return -ETIMEDOUT;
            ts.tv_sec = left / 1000000000;
            ts.tv_nsec = left % 1000000000;
            tsp = &ts;
        }
        syscall(SYS_futex, &r->room_seq, FUTEX_WAIT_PRIVATE, seq, tsp, NULL, 0);
    }
}

int cio__call_soon_unordered(cio_loop *loop, cio_cb cb, void *arg)
{
    return ts_call_fast(loop, cb, arg, false, false);
}

/* The loop took calls out of r: wake a producer waiting for room. */
static void room_made(struct cio__tsring *r)
{
    atomic_thread_fence(memory_order_seq_cst); /* the new head before `waiting` */
    if (CIO_LIKELY(!atomic_load_explicit(&r->waiting, memory_order_relaxed)))
        return;
    atomic_store_explicit(&r->waiting, 0, memory_order_relaxed);
    atomic_fetch_add(&r->room_seq, 1);
    syscall(SYS_futex, &r->room_seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ---- the loop's side ---------------------------------------------------- */

/* Makes room in the ready queue for n calls (three words each at most)
 * before any is taken in, so taking a call in never fails: a call taken out
 * of a ring and then dropped, or run at once ahead of older callbacks,
 * would break the contract. Returns how many fit (fewer when memory is
 * short: the rest stay where they are, in order). */
static size_t ready_room(cio_loop *loop, size_t n)
{
    for (;;) {
        uint64_t free_words = loop->mask + 1 - (loop->tail - loop->head);
        if (free_words >= 3 * n)
            return n;
        if (fail_alloc() || cio__ready_grow(loop) != 0)
            return (size_t)(free_words / 3);
    }
}

/* Takes in up to budget calls of one ring (single-producer mode): the ring,
 * then its overflow. Stops, leaving the rest in place, at the first stamped
 * call (*stamped): a second producer registered after the caller decided on
 * this mode, and stamped calls must go through drain_multi. */
static size_t drain_single(cio_loop *loop, struct cio__tsring *r, size_t budget, bool *stamped)
{
    /* Look at the overflow flag first: every ring entry written before the
     * producer switched to the overflow is then visible below. */
    bool ovf = atomic_load(&r->overflowing);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load(&r->tail); /* seq_cst: the wakeup handshake */
    r->seen_tail = t;
    size_t n = 0;
    for (; h != t && n < budget; h++, n++) {
        struct cio__tscell *c = &r->cells[h & r->mask];
        if (!c->cb) {
            *stamped = true;
            break;
        }
        /* The callback will almost surely read what arg points to, which
         * another thread just wrote: start fetching it now. */
        __builtin_prefetch(c->arg);
        cio__ready_push(loop, c->cb, c->arg);
    }
    atomic_store_explicit(&r->head, h, memory_order_release);
    if (*stamped || h != t || !ovf) {
        if (h != t && !*stamped)
            loop->ts_more = true;
        if (n)
            room_made(r);
        return n;
    }
    pthread_mutex_lock(&loop->ts_lock);
    for (; r->ovf_head < r->ovf_len && n < budget; r->ovf_head++, n++) {
        struct cio__tsitem *it = &r->ovf[r->ovf_head];
        if (it->seq) {
            *stamped = true;
            break;
        }
        cio__ready_push(loop, it->cb, it->arg);
    }
    if (r->ovf_head == r->ovf_len) {
        r->ovf_head = r->ovf_len = 0;
        atomic_store_explicit(&r->overflowing, 0, memory_order_release);
    } else if (!*stamped) {
        loop->ts_more = true;
    }
    pthread_mutex_unlock(&loop->ts_lock);
    if (n)
        room_made(r);
    return n;
}

/* The stamp at the front of ring r (ovf: of its overflow list), or 0 if it
 * has nothing seen by this drain. */
static inline uint64_t front_stamp(struct cio__tsring *r, bool ovf)
{
    if (ovf)
        return r->ovf_head < r->ovf_len ? r->ovf[r->ovf_head].seq : 0;
    if (r->dh == r->seen_tail)
        return 0;
    struct cio__tscell *c = &r->cells[r->dh & r->mask];
    return c->cb ? 0 : (uint64_t)(uintptr_t)c->arg;
}

static inline void take_stamped(cio_loop *loop, struct cio__tsring *r, bool ovf)
{
    if (ovf) {
        struct cio__tsitem *it = &r->ovf[r->ovf_head++];
        cio__ready_push(loop, it->cb, it->arg);
        return;
    }
    /* The stamp and its call were published by one store of the tail. */
    struct cio__tscell *c = &r->cells[(r->dh + 1) & r->mask];
    cio__ready_push(loop, c->cb, c->arg);
    r->dh += 2;
}

/* Several producers: a merge of the ordered rings (and their overflow
 * lists, which shared producers also write) by stamp. Each ring and each
 * overflow list is in stamp order by itself, so the merge needs no buffer:
 * it repeatedly takes the front carrying the next stamp, and stops at a gap
 * (a stamp taken and not yet published: its publication wakes the loop
 * again) or at the budget. */
static size_t drain_multi(cio_loop *loop, size_t budget)
{
    struct cio__tsring *rings = atomic_load_explicit(&loop->ts_rings, memory_order_acquire);
    bool locked = false;
    /* The first producer's ring, the only one that can hold unstamped
     * calls, is the last in the list and so read last: every unstamped call
     * that happened before a stamped call read here is read too. */
    for (struct cio__tsring *r = rings; r; r = r->next) {
        if (!r->ordered)
            continue;
        r->snap_ovf = atomic_load(&r->overflowing);
        r->dh = atomic_load_explicit(&r->head, memory_order_relaxed);
        r->seen_tail = atomic_load(&r->tail);
        if (r->snap_ovf && !locked) {
            pthread_mutex_lock(&loop->ts_lock);
            locked = true;
        }
    }
    size_t n = 0;
    /* Unstamped calls first: they come from the first producer, before any
     * stamped call in its ring, and nothing stamped happened before them. */
    for (struct cio__tsring *r = rings; r && n < budget; r = r->next) {
        if (!r->ordered)
            continue;
        for (; r->dh != r->seen_tail && n < budget; r->dh++, n++) {
            struct cio__tscell *c = &r->cells[r->dh & r->mask];
            if (!c->cb)
                break;
            cio__ready_push(loop, c->cb, c->arg);
        }
        if (r->dh != r->seen_tail || !r->snap_ovf)
            continue;
        for (; r->ovf_head < r->ovf_len && !r->ovf[r->ovf_head].seq && n < budget;
             r->ovf_head++, n++)
            cio__ready_push(loop, r->ovf[r->ovf_head].cb, r->ovf[r->ovf_head].arg);
    }
    /* Then by stamp, staying on one front while it carries the next stamp
     * (a producer's calls often come in runs). */
    struct cio__tsring *cur = NULL;
    bool cur_ovf = false;
    while (n < budget) {
        uint64_t want = loop->ts_next_seq;
        if (!cur || front_stamp(cur, cur_ovf) != want) {
            cur = NULL;
            for (struct cio__tsring *r = rings; r; r = r->next) {
                if (!r->ordered)
                    continue;
                if (front_stamp(r, false) == want) {
                    cur = r;
                    cur_ovf = false;
                    break;
                }
                if (r->snap_ovf && front_stamp(r, true) == want) {
                    cur = r;
                    cur_ovf = true;
                    break;
                }
            }
            if (!cur)
                break; /* nothing seen, or a gap */
        }
        take_stamped(loop, cur, cur_ovf);
        loop->ts_next_seq++;
        n++;
    }
    if (n == budget)
        loop->ts_more = true; /* perhaps nothing is left: one more look */
    for (struct cio__tsring *r = rings; r; r = r->next) {
        if (!r->ordered)
            continue;
        r->took = r->dh != atomic_load_explicit(&r->head, memory_order_relaxed) || r->snap_ovf;
        atomic_store_explicit(&r->head, r->dh, memory_order_release);
        if (r->snap_ovf && r->ovf_head == r->ovf_len) {
            /* The producer returns to its ring only now: its ring calls
             * left behind (if any) are older than its next ones. */
            r->ovf_head = r->ovf_len = 0;
            atomic_store_explicit(&r->overflowing, 0, memory_order_release);
        }
    }
    if (locked)
        pthread_mutex_unlock(&loop->ts_lock);
    for (struct cio__tsring *r = rings; r; r = r->next) {
        if (r->ordered && r->took) {
            r->took = false;
            room_made(r);
        }
    }
    return n;
}

bool cio__ts_ready(cio_loop *loop)
{
    if (loop->ts_more)
        return true;
    /* Calls published since the last drain. Calls the last drain saw and
     * left (held back by a gap) do not count: the call that fills the gap
     * does. Overflow pushes announce themselves through remote_pending. */
    for (struct cio__tsring *r = atomic_load_explicit(&loop->ts_rings, memory_order_acquire); r;
         r = r->next) {
        /* seq_cst: the loop's half of the wakeup handshake */
        if (atomic_load(&r->tail) != r->seen_tail)
            return true;
    }
    return false;
}

void cio__ts_drain(cio_loop *loop)
{
    struct cio__tsring *rings = atomic_load_explicit(&loop->ts_rings, memory_order_acquire);
    if (!rings)
        return;
    loop->ts_more = false;
    size_t room = ready_room(loop, 2 * (size_t)CIO_THREADSAFE_BATCH);
    if (!room) {
        loop->ts_more = true; /* out of memory: everything stays, in order */
        return;
    }
    size_t ubudget = room / 2, obudget = room - ubudget;
    uint64_t before = loop->tail;
    /* Unordered rings (pool completions): round robin from where the last
     * drain ran out of budget. A ring not visited keeps its calls, and its
     * tail, unseen, keeps cio__ts_ready true. */
    struct cio__tsring *start = loop->ts_rr ? loop->ts_rr : rings, *r = start;
    struct cio__tsring *only = NULL;
    loop->ts_rr = NULL;
    do {
        if (r->ordered) {
            only = r;
        } else if (ubudget) {
            bool stamped = false;
            ubudget -= drain_single(loop, r, ubudget, &stamped);
            if (!ubudget)
                loop->ts_rr = r->next;
        }
        r = r->next ? r->next : rings;
    } while (r != start);
    bool multi = atomic_load(&loop->ts_multi);
    if (!multi && only) {
        bool stamped = false;
        obudget -= drain_single(loop, only, obudget, &stamped);
        multi = stamped;
    }
    if (multi)
        drain_multi(loop, obudget);
    loop->last_remote_batch = (uint32_t)(loop->tail - before);
}

bool cio__ts_pending(cio_loop *loop)
{
    bool any = false;
    pthread_mutex_lock(&loop->ts_lock);
    for (struct cio__tsring *r = atomic_load(&loop->ts_rings); r; r = r->next) {
        if (atomic_load(&r->tail) != atomic_load(&r->head) || r->ovf_len != r->ovf_head)
            any = true;
    }
    pthread_mutex_unlock(&loop->ts_lock);
    return any;
}

void cio__ts_before_sleep(cio_loop *loop)
{
    if (!asym_barrier)
        return;
    /* `sleeping` is stored (seq_cst). A ring read cold here belongs to a
     * producer that will fence before it looks at `sleeping`; a hot one may
     * skip its fence, so the loop issues membarrier: every producer's
     * earlier stores are visible to the last look that follows, and every
     * later look of a producer at `sleeping` sees it set. */
    bool hot = false, cooling = false;
    for (struct cio__tsring *r = atomic_load_explicit(&loop->ts_rings, memory_order_acquire); r;
         r = r->next) {
        if (!atomic_load(&r->hot))
            continue;
        hot = true;
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (t != r->sleep_tail) {
            r->sleep_tail = t;
            r->idle_sleeps = 0;
        } else if (++r->idle_sleeps >= COOL_AFTER) {
            /* Idle: cool it. Its producer's next call sees hot clear and
             * fences, unless it is inside a call now (checked below). */
            atomic_store_explicit(&r->hot, 0, memory_order_relaxed);
            r->cooling = cooling = true;
        }
    }
    if (!hot)
        return;
    heavy_barrier();
    if (!cooling)
        return;
    /* A producer that read hot before it was cleared is still inside its
     * call (busy is set before hot is read; the barrier pairs the two):
     * keep its ring hot. */
    for (struct cio__tsring *r = atomic_load_explicit(&loop->ts_rings, memory_order_acquire); r;
         r = r->next) {
        if (!r->cooling)
            continue;
        r->cooling = false;
        r->idle_sleeps = 0;
        if (atomic_load_explicit(&r->busy, memory_order_acquire))
            atomic_store_explicit(&r->hot, 1, memory_order_relaxed);
    }
}

void cio__ts_close_begin(cio_loop *loop)
{
    /* Under the lock: a ring registration or a shared producer's push (both
     * under it, with the wakeup they make) either finished before, and its
     * call is in place, or sees ts_closed and is refused. */
    pthread_mutex_lock(&loop->ts_lock);
    atomic_store(&loop->ts_closed, true);
    pthread_mutex_unlock(&loop->ts_lock);
    if (!atomic_load(&loop->ts_rings))
        return; /* no producer ever: nobody can be inside a call */
    heavy_barrier();
    for (struct cio__tsring *r = atomic_load(&loop->ts_rings); r; r = r->next) {
        for (unsigned spins = 0; atomic_load_explicit(&r->busy, memory_order_acquire); spins++) {
            if (spins < 1000)
                cio__cpu_relax();
            else
                sched_yield(); /* the producer was preempted inside its call */
        }
    }
}

void cio__ts_close_abort(cio_loop *loop) { atomic_store(&loop->ts_closed, false); }

void cio__ts_free(cio_loop *loop)
{
    struct cio__tsring *r = atomic_load(&loop->ts_rings);
    while (r) {
        struct cio__tsring *next = r->next;
        free(r->cells);
        free(r->ovf);
        free(r);
        r = next;
    }
    atomic_store(&loop->ts_rings, NULL);
    for (int i = 0; i < 2; i++) {
        if (cache[i].loop == loop)
            cache[i].loop = NULL;
    }
}
