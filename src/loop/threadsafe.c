/* call_soon_threadsafe.
 *
 * Each producer thread gets its own single-producer ring to each loop it
 * calls, found through a one-entry thread-local cache. A call is then a
 * 16-byte write and one atomic exchange of the ring's tail, with no lock and
 * no read-modify-write on a line another producer touches; the loop reads
 * four calls per cache line. The exchange doubles as the store-load barrier
 * of the wakeup handshake (cio__remote_signal_after_barrier): the loop
 * publishes `sleeping` before its last look, the producer publishes its call
 * before looking at `sleeping`, so one of them always sees the other, and
 * the eventfd is written only when the loop sleeps and no write is pending.
 *
 * Order. Calls from one thread run in the order made. Calls from different
 * threads run in an order consistent with how the calls were ordered by the
 * program (if thread A's call happens before thread B's, A's runs first):
 * while only one producer thread has ever called a loop there is nothing to
 * order; once a second one registers, every call takes a stamp from a shared
 * counter and the loop merges its rings by stamp. A call made before the
 * second producer registered carries no stamp and cannot follow a stamped
 * one, so unstamped calls go first.
 *
 * A full ring (4096 calls not yet taken in) never blocks and never fails:
 * the producer switches to a locked overflow list until the loop has taken
 * the ring and the list in, keeping the order. A program with more than
 * MAX_RINGS producer threads shares the last ring's overflow path. */
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define RING_CELLS 4096
#define MAX_RINGS 64

static _Atomic uint64_t next_loop_id = 1;

/* Whether membarrier(2) gives the loop an asymmetric barrier: the loop then
 * pays a system call when it goes to sleep with producers registered, and
 * producers pay no fence per call. */
static bool asym_barrier;
static pthread_once_t asym_once = PTHREAD_ONCE_INIT;

static void asym_init(void)
{
#ifdef __NR_membarrier
    long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        asym_barrier = true;
#endif
}

void cio__ts_init(void) { pthread_once(&asym_once, asym_init); }

void cio__ts_before_sleep(cio_loop *loop)
{
    /* `sleeping` is stored; make every producer's earlier stores visible
     * before the loop's last look at the rings, as if each had fenced. */
    if (asym_barrier && atomic_load_explicit(&loop->ts_rings, memory_order_relaxed))
        syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
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
 * can observe) never make the loop stamp and merge. */
static struct cio__tsring *ring_for(cio_loop *loop, bool ordered)
{
    struct ts_cache *c = &cache[!ordered];
    if (CIO_LIKELY(c->loop == loop && c->id == loop->id))
        return c->ring;
    int me = tid();
    pthread_mutex_lock(&loop->ts_lock);
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
            return NULL;
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
    return r;
}

/* Takes a stamp only once the call cannot fail any more: a stamp taken and
 * never published would leave a gap the loop waits on forever. */
static inline uint64_t take_stamp(cio_loop *loop, bool stamp)
{
    return stamp ? atomic_fetch_add(&loop->ts_seq, 1) + 1 : 0;
}

static int overflow_push(cio_loop *loop, struct cio__tsring *r, cio_cb cb, void *arg,
                         bool stamp, bool shared)
{
    pthread_mutex_lock(&loop->ts_lock);
    if (!shared && !atomic_load_explicit(&r->overflowing, memory_order_relaxed)) {
        /* The loop took the overflow in meanwhile: the ring is usable again
         * if it has room. */
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t - r->head_cache + 2 <= RING_CELLS) {
            pthread_mutex_unlock(&loop->ts_lock);
            return 1; /* retry the ring */
        }
    }
    if (r->ovf_len == r->ovf_cap) {
        size_t ncap = r->ovf_cap ? r->ovf_cap * 2 : 256;
        void *p = realloc(r->ovf, ncap * sizeof *r->ovf);
        if (!p) {
            pthread_mutex_unlock(&loop->ts_lock);
            return -ENOMEM;
        }
        r->ovf = p;
        r->ovf_cap = ncap;
    }
    r->ovf[r->ovf_len++] = (struct cio__tsitem){cb, arg, take_stamp(loop, stamp)};
    atomic_store_explicit(&r->overflowing, 1, memory_order_release);
    cio__remote_signal(loop); /* under the lock: see cio__ts_quiesce */
    pthread_mutex_unlock(&loop->ts_lock);
    return 0;
}

static int ts_call(cio_loop *loop, cio_cb cb, void *arg, bool ordered)
{
    if (!loop || !cb || atomic_load_explicit(&loop->ts_closed, memory_order_relaxed))
        return -EINVAL;
    struct cio__tsring *r = ring_for(loop, ordered);
    if (!r)
        return -ENOMEM;
    bool shared = r->owner != tid();
    int rc = 0;
    /* The loop may take this call in, run it, and be closed before this
     * function returns: until `busy` is cleared, close waits. */
    if (!shared)
        atomic_store_explicit(&r->busy, 1, memory_order_relaxed);
    bool stamp = ordered && atomic_load_explicit(&loop->ts_multi, memory_order_relaxed);
    for (;;) {
        if (CIO_UNLIKELY(shared || atomic_load_explicit(&r->overflowing, memory_order_relaxed))) {
            rc = overflow_push(loop, r, cb, arg, stamp, shared);
            if (rc <= 0)
                break;
            continue;
        }
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        unsigned need = stamp ? 2 : 1;
        if (CIO_UNLIKELY(t - r->head_cache + need > RING_CELLS)) {
            r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
            if (t - r->head_cache + need > RING_CELLS) {
                rc = overflow_push(loop, r, cb, arg, stamp, false);
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
         * tails itself on every poll, so no shared flag is written per call.
         * The store-load barrier between the two is the loop's job when the
         * kernel offers membarrier(2) (see cio__ts_before_sleep): a fence
         * here would wait for this call's stores to reach the loop's cache,
         * which measured as three quarters of the cost of a call. */
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
        if (CIO_LIKELY(asym_barrier))
            atomic_signal_fence(memory_order_seq_cst);
        else
            atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&loop->sleeping, memory_order_relaxed))
            cio__loop_wake(loop);
        rc = 0;
        break;
    }
    if (!shared)
        atomic_store_explicit(&r->busy, 0, memory_order_release);
    return rc;
}

int cio_call_soon_threadsafe(cio_loop *loop, cio_cb cb, void *arg)
{
    return ts_call(loop, cb, arg, true);
}

int cio__call_soon_unordered(cio_loop *loop, cio_cb cb, void *arg)
{
    return ts_call(loop, cb, arg, false);
}

/* ---- the loop's side ---------------------------------------------------- */

static int push_ready(cio_loop *loop, cio_cb cb, void *arg)
{
    if (cio__ready_push(loop, cb, arg) != 0)
        cb(arg); /* out of memory: run it now rather than lose it */
    return 0;
}

/* Takes in one ring (single-producer mode): the ring, then its overflow. */
/* Takes in one ring (single-producer mode): the ring, then its overflow.
 * Returns true, leaving the rest in place, at the first stamped call: a
 * second producer registered after the caller decided on this mode, and
 * stamped calls must go through drain_multi, or a stamp would be consumed
 * out of sequence and every later one held back forever. */
static bool drain_single(cio_loop *loop, struct cio__tsring *r)
{
    /* Look at the overflow flag first: every ring entry written before the
     * producer switched to the overflow is then visible below. */
    bool ovf = atomic_load_explicit(&r->overflowing, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load(&r->tail); /* seq_cst: the wakeup handshake */
    bool stamped = false;
    for (; h != t; h++) {
        struct cio__tscell *c = &r->cells[h & r->mask];
        if (!c->cb) {
            stamped = true;
            break;
        }
        /* The callback will almost surely read what arg points to, which
         * another thread just wrote: start fetching it now. */
        __builtin_prefetch(c->arg);
        push_ready(loop, c->cb, c->arg);
    }
    atomic_store_explicit(&r->head, h, memory_order_release);
    if (stamped || !ovf)
        return stamped;
    pthread_mutex_lock(&loop->ts_lock);
    for (size_t i = 0; i < r->ovf_len; i++) {
        if (r->ovf[i].seq) { /* the same, in the overflow */
            pthread_mutex_unlock(&loop->ts_lock);
            return true;
        }
    }
    for (size_t i = 0; i < r->ovf_len; i++)
        push_ready(loop, r->ovf[i].cb, r->ovf[i].arg);
    r->ovf_len = 0;
    atomic_store_explicit(&r->overflowing, 0, memory_order_release);
    pthread_mutex_unlock(&loop->ts_lock);
    return false;
}

static int cmp_items(const void *a, const void *b)
{
    const struct cio__tsitem *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool scratch_reserve(cio_loop *loop, size_t n)
{
    if (n <= loop->ts_scratch_cap)
        return true;
    size_t cap = loop->ts_scratch_cap ? loop->ts_scratch_cap : 1024;
    while (cap < n)
        cap *= 2;
    void *p = realloc(loop->ts_scratch, cap * sizeof *loop->ts_scratch);
    if (!p)
        return false;
    loop->ts_scratch = p;
    loop->ts_scratch_cap = cap;
    return true;
}

/* Several producers: gather every ring and overflow, order by stamp. */
static void drain_multi(cio_loop *loop)
{
    size_t n = 0, unstamped = 0;
    struct cio__tsring *rings = atomic_load_explicit(&loop->ts_rings, memory_order_acquire);
    for (struct cio__tsring *r = rings; r; r = r->next) {
        if (!r->ordered)
            continue;
        bool ovf = atomic_load_explicit(&r->overflowing, memory_order_acquire);
        uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint64_t t = atomic_load(&r->tail);
        if (!scratch_reserve(loop, n + (size_t)(t - h))) {
            t = h; /* out of memory: leave this ring for the next drain */
            ovf = false;
        }
        uint64_t seq = 0;
        for (; h != t; h++) {
            struct cio__tscell *c = &r->cells[h & r->mask];
            if (!c->cb) {
                seq = (uint64_t)(uintptr_t)c->arg;
                continue;
            }
            loop->ts_scratch[n++] = (struct cio__tsitem){c->cb, c->arg, seq};
            unstamped += seq == 0;
            seq = 0;
        }
        atomic_store_explicit(&r->head, h, memory_order_release);
        if (ovf) {
            pthread_mutex_lock(&loop->ts_lock);
            if (scratch_reserve(loop, n + r->ovf_len)) {
                for (size_t i = 0; i < r->ovf_len; i++) {
                    loop->ts_scratch[n++] = r->ovf[i];
                    unstamped += r->ovf[i].seq == 0;
                }
                r->ovf_len = 0;
                atomic_store_explicit(&r->overflowing, 0, memory_order_release);
            }
            pthread_mutex_unlock(&loop->ts_lock);
        }
    }
    /* Calls held back by an earlier drain join this one. */
    if (loop->ts_held_len) {
        if (scratch_reserve(loop, n + loop->ts_held_len)) {
            memcpy(loop->ts_scratch + n, loop->ts_held, loop->ts_held_len * sizeof *loop->ts_held);
            n += loop->ts_held_len;
            loop->ts_held_len = 0;
        }
    }
    struct cio__tsitem *v = loop->ts_scratch;
    /* Unstamped calls all come from the first producer, in its order, and
     * none can follow a stamped call: move them to the front, keeping their
     * order, then sort the stamped ones (stamps are unique). */
    if (unstamped && unstamped < n) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i].seq == 0) {
                struct cio__tsitem x = v[i];
                memmove(&v[k + 1], &v[k], (i - k) * sizeof *v);
                v[k++] = x;
            }
        }
    }
    bool sorted = true;
    for (size_t i = unstamped + 1; i < n && sorted; i++)
        sorted = v[i - 1].seq < v[i].seq;
    if (!sorted)
        qsort(v + unstamped, n - unstamped, sizeof *v, cmp_items);
    /* A stamp missing from the sequence belongs to a call still being
     * published (it took its stamp, its ring's tail was read before it
     * landed): everything after the gap waits for the next drain, which the
     * late call's own wakeup guarantees. */
    size_t release = unstamped;
    while (release < n && v[release].seq == loop->ts_next_seq) {
        release++;
        loop->ts_next_seq++;
    }
    for (size_t i = 0; i < release; i++)
        push_ready(loop, v[i].cb, v[i].arg);
    size_t keep = n - release;
    if (keep) {
        if (keep > loop->ts_held_cap) {
            void *p = realloc(loop->ts_held, keep * sizeof *loop->ts_held);
            if (!p) {
                /* Out of memory: run them now rather than lose them. */
                for (size_t i = release; i < n; i++)
                    push_ready(loop, v[i].cb, v[i].arg);
                loop->ts_next_seq = v[n - 1].seq + 1;
                return;
            }
            loop->ts_held = p;
            loop->ts_held_cap = keep;
        }
        memcpy(loop->ts_held, v + release, keep * sizeof *v);
        loop->ts_held_len = keep;
    }
}

bool cio__ts_ready(cio_loop *loop)
{
    for (struct cio__tsring *r = atomic_load_explicit(&loop->ts_rings, memory_order_acquire); r;
         r = r->next) {
        /* seq_cst: the loop's half of the wakeup handshake */
        if (atomic_load(&r->tail) != atomic_load_explicit(&r->head, memory_order_relaxed) ||
            atomic_load_explicit(&r->overflowing, memory_order_relaxed))
            return true;
    }
    return false;
}

void cio__ts_drain(cio_loop *loop)
{
    struct cio__tsring *rings = atomic_load_explicit(&loop->ts_rings, memory_order_acquire);
    if (!rings)
        return;
    uint64_t before = loop->tail;
    struct cio__tsring *only = NULL;
    for (struct cio__tsring *r = rings; r; r = r->next) {
        if (!r->ordered)
            drain_single(loop, r);
        else
            only = r;
    }
    if (atomic_load(&loop->ts_multi) || (only && drain_single(loop, only)))
        drain_multi(loop);
    loop->last_remote_batch = (uint32_t)(loop->tail - before);
}

bool cio__ts_pending(cio_loop *loop)
{
    bool any = false;
    pthread_mutex_lock(&loop->ts_lock);
    for (struct cio__tsring *r = atomic_load(&loop->ts_rings); r; r = r->next) {
        if (atomic_load(&r->tail) != atomic_load(&r->head) || r->ovf_len)
            any = true;
    }
    pthread_mutex_unlock(&loop->ts_lock);
    return any || loop->ts_held_len;
}

void cio__ts_quiesce(cio_loop *loop)
{
    /* Overflow pushers signal under the lock: taking it waits them out. */
    pthread_mutex_lock(&loop->ts_lock);
    pthread_mutex_unlock(&loop->ts_lock);
    for (struct cio__tsring *r = atomic_load(&loop->ts_rings); r; r = r->next) {
        while (atomic_load_explicit(&r->busy, memory_order_acquire))
            cio__cpu_relax();
    }
}

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
    free(loop->ts_scratch);
    loop->ts_scratch = NULL;
    free(loop->ts_held);
    loop->ts_held = NULL;
    for (int i = 0; i < 2; i++) {
        if (cache[i].loop == loop)
            cache[i].loop = NULL;
    }
}
