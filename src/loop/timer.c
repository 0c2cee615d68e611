/* Timers: a hierarchical timing wheel with 1 ms ticks.
 *
 * Why a wheel and not a heap: starting, cancelling and firing a timer are
 * O(1) here (a slot computed from the deadline, an append, a tombstone),
 * against O(log n) scattered memory accesses for a heap: with a million
 * timers a heap pays about 20 cache misses per operation. A timer is touched
 * once per level it cascades through (level 0 covers 256 ms, level 1 16 s,
 * level 2 17 min, level 3 18 h, level 4 50 days; later deadlines are parked
 * at the far end of level 4 and re-placed when they cascade). bench/run
 * timers_1m and timers_10m measure it against libuv's and libevent's heaps.
 *
 * Why slots are arrays of node indexes rather than linked lists: firing and
 * cascading then read the slot in order and prefetch the nodes several
 * entries ahead, so the cache misses of timers started in random order
 * overlap instead of forming one dependent chain. Cancelling writes a
 * tombstone (CIO__NIL) at the node's recorded position: O(1).
 *
 * Order: ticks fire in increasing order; within one tick, timers fire by
 * (deadline, start order). Each slot remembers whether its appends arrived
 * in that order (compared with the last key appended, kept in the slot), and
 * is sorted before firing only when they did not.
 *
 * Nodes live in one array, so a handle is (generation << 32 | index + 1): a
 * stale handle finds another generation and is refused, never a reused node.
 * A node's generation only grows, and a node whose generation reaches
 * CIO__TW_GEN_RETIRED is retired instead of reused: so no (index,
 * generation) pair is ever handed out twice, and a stale handle can never
 * name a later timer, however many times its node was reused (wrapping the
 * 32-bit generation instead would take 2^32 reuses, 72 minutes at a million
 * operations per second). A retired node costs 48 bytes once per 2^32
 * reuses. When the wheel empties, the node storage is given back (see
 * release_if_empty); new nodes then start above every generation handed out
 * so far (gen_floor), which keeps the pairs unique across storages too.
 *
 * The array is mapped directly, grows with mremap and is populated ahead. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define NS_PER_TICK 1000000
#define L0_SIZE (1u << CIO__TW_L0_BITS)
#define LN_SIZE (1u << CIO__TW_LN_BITS)
#define PREFETCH_AHEAD 8
#define SLOT_KEEP_CAP 4096 /* an emptied slot keeps at most this capacity */
#define OVERDUE CIO__TW_NSLOTS /* the slot number of the overdue list */

static inline struct cio__tslot *slot_at(struct cio__wheel *w, uint32_t sn)
{
    return sn == OVERDUE ? &w->overdue : &w->slots[sn];
}

static inline uint64_t tick_ceil(int64_t ns)
{
    return ns <= 0 ? 0 : ((uint64_t)ns + NS_PER_TICK - 1) / NS_PER_TICK;
}

static inline unsigned level_shift(int level)
{
    return CIO__TW_L0_BITS + (unsigned)(level - 1) * CIO__TW_LN_BITS;
}

static inline uint32_t level_base(int level)
{
    return level == 0 ? 0 : L0_SIZE + (uint32_t)(level - 1) * LN_SIZE;
}

static void slot_reset(struct cio__tslot *s)
{
    s->len = s->live = 0;
    s->sorted = true;
    if (s->cap > SLOT_KEEP_CAP) {
        free(s->v);
        s->v = NULL;
        s->cap = 0;
    }
}

void cio__wheel_init(struct cio__wheel *w, int64_t now_ns)
{
    memset(w, 0, sizeof *w);
    w->free_head = CIO__NIL;
    /* The floor starts two above the start so that a node's first free,
     * the common case of a wheel whose timers each live once, takes the
     * fast path of node_free. */
    w->gen_start = 1;
    w->gen_floor = 3;
    for (int i = 0; i < CIO__TW_NSLOTS; i++)
        w->slots[i].sorted = true;
    w->due.sorted = true;
    w->overdue.sorted = true;
    w->cur = (uint64_t)now_ns / NS_PER_TICK;
}

static void *map_resize(void *old, size_t old_size, size_t new_size)
{
    void *p;
    if (!old)
        p = mmap(NULL, new_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else
        p = mremap(old, old_size, new_size, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return NULL;
    return p;
}

/* Pages of the node array are populated ahead of use, 2 MiB at a time, by
 * one madvise(MADV_POPULATE_WRITE) instead of one page fault per 4 KiB.
 * (Transparent huge pages were tried first: fast on a fresh machine, but
 * once memory is fragmented every huge-page fault stalls in compaction,
 * and ten million timers took six times longer to start.) It is only an
 * optimisation: the mapping is anonymous, so a page the advice did not
 * populate (a kernel before 5.14, or one that refuses it) is faulted in,
 * zeroed, on first touch; its result is deliberately ignored. */
#define POPULATE_CHUNK (2u << 20)
static void populate_ahead(struct cio__wheel *w, uint32_t idx)
{
    size_t off = (size_t)idx * sizeof *w->nodes;
    if (off % POPULATE_CHUNK > sizeof *w->nodes && idx != 0)
        return; /* only when a chunk boundary was just crossed */
    size_t start = off - off % POPULATE_CHUNK;
    size_t end = (size_t)w->cap * sizeof *w->nodes;
    if (start >= end)
        return;
    size_t len = end - start < POPULATE_CHUNK ? end - start : POPULATE_CHUNK;
#ifdef MADV_POPULATE_WRITE
    madvise((char *)w->nodes + start, len, MADV_POPULATE_WRITE);
#else
    (void)len;
#endif
}

static void free_storage(struct cio__wheel *w)
{
    if (w->nodes)
        munmap(w->nodes, (size_t)w->cap * sizeof *w->nodes);
    if (w->intervals)
        munmap(w->intervals, (size_t)w->cap * sizeof *w->intervals);
    for (int i = 0; i < CIO__TW_NSLOTS; i++)
        free(w->slots[i].v);
    free(w->due.v);
    free(w->overdue.v);
}

void cio__wheel_free(struct cio__wheel *w)
{
    free_storage(w);
    memset(w, 0, sizeof *w);
}

/* Node storage above this size is given back when the wheel empties; below
 * it the storage is kept, so a loop that keeps going from no timers to a
 * few does not map and fault pages in every time. */
#define RELEASE_MIN_BYTES (1u << 20)

/* Gives the node storage (and every slot array) back once no timer is
 * scheduled: ten million timers cancelled would otherwise keep their 460 MiB
 * until the loop is freed. It happens at the loop's next poll after the
 * wheel emptied (cio__wheel_release), not at once: a program that cancels
 * every timer and starts as many again in the same callback keeps its pages
 * instead of unmapping and faulting them in again, and a loop whose last
 * timer stops it does not pay for the unmapping before it returns. Nothing
 * is running or collected then (`firing` is checked), so no index is held
 * anywhere. The generations go with the
 * storage: new nodes start at gen_floor, above every generation handed out,
 * so a handle from before still names no timer. Once the floor has used half
 * the generation space, the storage is kept instead (its nodes then retire
 * one by one, see node_free): a floor near the top would leave new nodes
 * few generations. The floor rises only by the reuses of the most reused
 * node between two releases, so this takes 2^31 reuses of the hottest
 * nodes, and then costs memory, never correctness. */
static void release_if_empty(struct cio__wheel *w)
{
    if (w->active || w->firing || (size_t)w->cap * sizeof *w->nodes <= RELEASE_MIN_BYTES ||
        w->gen_floor >= (1u << 31))
        return;
    uint64_t cur = w->cur, seq = w->seq;
    uint32_t floor = w->gen_floor;
    free_storage(w);
    memset(w, 0, sizeof *w);
    w->free_head = CIO__NIL;
    for (int i = 0; i < CIO__TW_NSLOTS; i++)
        w->slots[i].sorted = true;
    w->due.sorted = true;
    w->overdue.sorted = true;
    w->cur = cur;
    w->seq = seq;
    w->gen_start = floor;
    w->gen_floor = floor + 2;
}

/* The wheel just emptied: ask the next poll to give the storage back. */
static inline void note_empty(struct cio__wheel *w)
{
    if ((size_t)w->cap * sizeof *w->nodes > RELEASE_MIN_BYTES)
        w->release_pending = true;
}

void cio__wheel_release(struct cio__wheel *w)
{
    w->release_pending = false;
    release_if_empty(w);
}

static inline void bit_set(struct cio__wheel *w, uint32_t s) { w->bits[s >> 6] |= 1ull << (s & 63); }
static inline void bit_clear(struct cio__wheel *w, uint32_t s)
{
    w->bits[s >> 6] &= ~(1ull << (s & 63));
}

static int slot_reserve(struct cio__tslot *s, uint32_t extra)
{
    if (s->len + extra <= s->cap)
        return 0;
    uint32_t ncap = s->cap ? s->cap : 16;
    while (ncap < s->len + extra)
        ncap *= 2;
    uint32_t *p = realloc(s->v, (size_t)ncap * sizeof *p);
    if (!p)
        return -ENOMEM;
    s->v = p;
    s->cap = ncap;
    return 0;
}

/* Appends node idx to slot number sn. */
static inline int slot_push(struct cio__wheel *w, uint32_t sn, uint32_t idx)
{
    struct cio__tslot *s = slot_at(w, sn);
    if (CIO_UNLIKELY(s->len == s->cap) && slot_reserve(s, 1))
        return -ENOMEM;
    struct cio__tnode *n = &w->nodes[idx];
    if (s->live == 0) {
        s->len = 0;
        s->sorted = true;
    } else if (n->deadline < s->last_deadline ||
               (n->deadline == s->last_deadline && n->seq < s->last_seq)) {
        s->sorted = false;
    }
    s->last_deadline = n->deadline;
    s->last_seq = n->seq;
    n->where = sn;
    n->pos = s->len;
    s->v[s->len++] = idx;
    s->live++;
    if (sn != OVERDUE)
        bit_set(w, sn);
    return 0;
}

/* The slot node idx belongs in, relative to w->cur. */
static inline uint32_t slot_for(const struct cio__wheel *w, int64_t deadline)
{
    uint64_t t = tick_ceil(deadline);
    if (t < w->cur)
        t = w->cur;
    uint64_t d = t - w->cur;
    if (d < L0_SIZE)
        return (uint32_t)(t & (L0_SIZE - 1));
    int level = 1;
    while (level < CIO__TW_LEVELS - 1 && d >= (1ull << level_shift(level + 1)))
        level++;
    if (level == CIO__TW_LEVELS - 1 && d >= (1ull << (level_shift(level) + CIO__TW_LN_BITS)))
        t = w->cur + (1ull << (level_shift(level) + CIO__TW_LN_BITS)) - 1;
    return level_base(level) + (uint32_t)((t >> level_shift(level)) & (LN_SIZE - 1));
}

static inline int place(struct cio__wheel *w, uint32_t idx)
{
    uint32_t sn = slot_for(w, w->nodes[idx].deadline);
    int rc = slot_push(w, sn, idx);
    if (rc == 0 && sn >= L0_SIZE)
        w->nonempty_hi++;
    return rc;
}

static void unplace(struct cio__wheel *w, uint32_t idx)
{
    struct cio__tnode *n = &w->nodes[idx];
    uint32_t sn = n->where;
    struct cio__tslot *s = slot_at(w, sn);
    s->v[n->pos] = CIO__NIL;
    if (--s->live == 0) {
        slot_reset(s);
        if (sn != OVERDUE)
            bit_clear(w, sn);
    }
    if (sn >= L0_SIZE && sn != OVERDUE)
        w->nonempty_hi--;
}

static int node_alloc(struct cio__wheel *w, uint32_t *out)
{
    uint32_t idx = w->free_head;
    if (idx != CIO__NIL) {
        w->free_head = w->nodes[idx].next_free;
        *out = idx;
        return 0;
    }
    if (w->used == w->cap) {
        if (w->cap >= UINT32_MAX / 2)
            return -ENOMEM;
        uint32_t ncap = w->cap ? w->cap * 2 : 256;
        void *p = map_resize(w->nodes, (size_t)w->cap * sizeof *w->nodes,
                             (size_t)ncap * sizeof *w->nodes);
        if (!p)
            return -ENOMEM;
        w->nodes = p;
        if (w->intervals) {
            p = map_resize(w->intervals, (size_t)w->cap * sizeof *w->intervals,
                           (size_t)ncap * sizeof *w->intervals);
            if (!p)
                return -ENOMEM; /* the larger node array is simply kept */
            w->intervals = p;
        }
        w->cap = ncap;
    }
    idx = w->used++;
    if (idx >= 16384) /* small wheels: page faults are cheaper than the call */
        populate_ahead(w, idx);
    w->nodes[idx].gen = w->gen_start;
    *out = idx;
    return 0;
}

/* A generation one step on; it stays at CIO__TW_GEN_RETIRED once there. */
static inline uint32_t gen_next(uint32_t gen)
{
    return gen == CIO__TW_GEN_RETIRED ? gen : gen + 1;
}

/* The generation moves on; a node at the floor moves the floor (the
 * highest generation any node would hand out next, so above every one
 * handed out: only the most reused node gets here), and a node whose
 * generations are all used up retires. */
static __attribute__((noinline)) void node_free_top(struct cio__wheel *w, struct cio__tnode *n,
                                                    uint32_t idx)
{
    n->gen = gen_next(n->gen);
    if (n->gen > w->gen_floor)
        w->gen_floor = n->gen;
    if (n->gen == CIO__TW_GEN_RETIRED)
        return; /* retired: every generation of this node was handed out */
    n->next_free = w->free_head;
    w->free_head = idx;
}

static inline void node_free(struct cio__wheel *w, uint32_t idx)
{
    struct cio__tnode *n = &w->nodes[idx];
    n->where = CIO__TW_FREE;
    if (w->intervals)
        w->intervals[idx] = 0;
    if (CIO_UNLIKELY(n->gen >= w->gen_floor - 1)) { /* else gen + 1 < floor <= RETIRED */
        node_free_top(w, n, idx);
        return;
    }
    n->gen++;
    n->next_free = w->free_head;
    w->free_head = idx;
}

static inline int64_t interval_of(const struct cio__wheel *w, uint32_t idx)
{
    return w->intervals ? w->intervals[idx] : 0;
}

static int timer_start(cio_loop *loop, int64_t deadline, int64_t interval, cio_cb cb, void *arg,
                       cio_handle *handle)
{
    struct cio__wheel *w = &loop->wheel;
    if (interval && !w->intervals) {
        size_t cap = w->cap ? w->cap : 256;
        if (!w->cap) {
            uint32_t tmp;
            int rc = node_alloc(w, &tmp); /* make the node array exist */
            if (rc)
                return rc;
            node_free(w, tmp);
            cap = w->cap;
        }
        void *p = map_resize(NULL, 0, cap * sizeof *w->intervals);
        if (!p)
            return -ENOMEM;
        w->intervals = p;
    }
    uint32_t idx;
    int rc = node_alloc(w, &idx);
    if (rc)
        return rc;
    struct cio__tnode *n = &w->nodes[idx];
    n->deadline = deadline;
    n->seq = w->seq++;
    n->cb = cb;
    n->arg = arg;
    if (w->intervals)
        w->intervals[idx] = interval;
    /* A deadline already passed fires on the next iteration, not at the
     * next tick of the wheel: it waits on the overdue list. */
    if ((rc = deadline <= loop->now ? slot_push(w, OVERDUE, idx) : place(w, idx)) != 0) {
        node_free(w, idx);
        return rc;
    }
    w->active++;
    if (handle)
        *handle = ((uint64_t)n->gen << 32) | (idx + 1);
    return 0;
}

/* Seconds to a relative ns offset; -EINVAL for negative or NaN, saturating
 * far-away deadlines at about 146 years. */
static int delay_ns(double s, int64_t *out)
{
    if (!(s >= 0)) /* also catches NaN */
        return -EINVAL;
    *out = s >= 4.6e9 ? INT64_MAX / 2 : (int64_t)(s * 1e9);
    return 0;
}

static inline int check_loop(cio_loop *loop, cio_cb cb, const char *fn)
{
    if (CIO_UNLIKELY(!loop || !cb || loop->closed))
        return -EINVAL;
    return cio__check_thread(loop, fn);
}

int cio_call_later(cio_loop *loop, double delay, cio_cb cb, void *arg, cio_handle *handle)
{
    int64_t d;
    int rc = check_loop(loop, cb, __func__);
    if (rc || (rc = delay_ns(delay, &d)))
        return rc;
    return timer_start(loop, loop->now + d, 0, cb, arg, handle);
}

int cio_call_at(cio_loop *loop, double when, cio_cb cb, void *arg, cio_handle *handle)
{
    int rc = check_loop(loop, cb, __func__);
    if (rc)
        return rc;
    if (isnan(when))
        return -EINVAL;
    int64_t at = when <= 0 ? 0 : when >= 4.6e9 ? INT64_MAX / 2 : (int64_t)(when * 1e9);
    return timer_start(loop, at, 0, cb, arg, handle);
}

int cio_call_every(cio_loop *loop, double delay, double interval, cio_cb cb, void *arg,
                   cio_handle *handle)
{
    int64_t d, iv;
    int rc = check_loop(loop, cb, __func__);
    if (rc || (rc = delay_ns(delay, &d)) || (rc = delay_ns(interval, &iv)))
        return rc;
    if (iv <= 0)
        return -EINVAL;
    return timer_start(loop, loop->now + d, iv, cb, arg, handle);
}

/* The node a handle names, or NULL if the handle is stale. */
static struct cio__tnode *lookup(const struct cio__wheel *w, cio_handle h, uint32_t *idx)
{
    uint32_t i = (uint32_t)(h & 0xffffffffu);
    if (i == 0 || i > w->used)
        return NULL;
    struct cio__tnode *n = &w->nodes[i - 1];
    if (n->gen != (uint32_t)(h >> 32) || n->where == CIO__TW_FREE || n->where == CIO__TW_DEAD)
        return NULL;
    /* A one-shot timer whose callback is running has fired. */
    if (n->where == CIO__TW_RUNNING && interval_of(w, i - 1) == 0)
        return NULL;
    *idx = i - 1;
    return n;
}

int cio_timer_cancel(cio_loop *loop, cio_handle handle)
{
    if (!loop || loop->closed)
        return -EINVAL;
    int rc = cio__check_thread(loop, __func__);
    if (rc)
        return rc;
    struct cio__wheel *w = &loop->wheel;
    uint32_t idx;
    struct cio__tnode *n = lookup(w, handle, &idx);
    if (!n)
        return -ENOENT;
    w->active--;
    if (n->where == CIO__TW_RUNNING) {
        /* Its callback is on the stack: free the node when it returns. */
        n->where = CIO__TW_DEAD;
        n->gen = gen_next(n->gen);
        return 0;
    }
    if (n->where == CIO__TW_DUE) {
        w->due.v[n->pos] = CIO__NIL;
        w->due.live--;
    } else {
        unplace(w, idx);
    }
    node_free(w, idx);
    if (!w->active)
        note_empty(w);
    return 0;
}

bool cio_timer_is_active(const cio_loop *loop, cio_handle handle)
{
    uint32_t idx;
    return loop && !loop->closed && lookup(&loop->wheel, handle, &idx) != NULL;
}

double cio_timer_remaining(const cio_loop *loop, cio_handle handle)
{
    uint32_t idx;
    const struct cio__tnode *n = loop && !loop->closed ? lookup(&loop->wheel, handle, &idx) : NULL;
    if (!n)
        return NAN;
    return (double)(n->deadline - loop->now) / 1e9;
}

/* ---- firing ---------------------------------------------------------------- */

static void oom_abort(void)
{
    fputs("cio: out of memory while re-placing timers; cannot keep their order\n", stderr);
    abort();
}

/* Re-places every timer of slot sn (a level >= 1 slot whose turn came). */
static void cascade_slot(struct cio__wheel *w, uint32_t sn)
{
    struct cio__tslot old = w->slots[sn];
    if (!old.live)
        return;
    memset(&w->slots[sn], 0, sizeof w->slots[sn]);
    w->slots[sn].sorted = true;
    bit_clear(w, sn);
    w->nonempty_hi -= old.live;
    for (uint32_t i = 0; i < old.len; i++) {
        if (i + PREFETCH_AHEAD < old.len && old.v[i + PREFETCH_AHEAD] != CIO__NIL)
            __builtin_prefetch(&w->nodes[old.v[i + PREFETCH_AHEAD]], 1);
        uint32_t idx = old.v[i];
        if (idx != CIO__NIL && place(w, idx) != 0)
            oom_abort();
    }
    if (!w->slots[sn].v && old.cap <= SLOT_KEEP_CAP) {
        w->slots[sn].v = old.v; /* keep the buffer for the next round */
        w->slots[sn].cap = old.cap;
    } else {
        free(old.v);
    }
}

static void cascade(struct cio__wheel *w)
{
    for (int level = 1; level < CIO__TW_LEVELS; level++) {
        uint32_t i = (uint32_t)(w->cur >> level_shift(level)) & (LN_SIZE - 1);
        cascade_slot(w, level_base(level) + i);
        if (i != 0)
            break;
    }
}

static int cmp_nodes(const void *a, const void *b, void *ctx)
{
    const struct cio__tnode *nodes = ctx;
    const struct cio__tnode *x = &nodes[*(const uint32_t *)a], *y = &nodes[*(const uint32_t *)b];
    if (x->deadline != y->deadline)
        return x->deadline < y->deadline ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Drops tombstones and sorts a slot's entries by (deadline, seq). */
static void slot_settle(struct cio__wheel *w, struct cio__tslot *s)
{
    if (s->live != s->len) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < s->len; i++) {
            if (s->v[i] != CIO__NIL)
                s->v[k++] = s->v[i];
        }
        s->len = k;
    }
    if (!s->sorted)
        qsort_r(s->v, s->len, sizeof *s->v, cmp_nodes, w->nodes);
}

/* Moves slot sn's timers to the end of the due array, in (deadline, seq)
 * order. */
static void detach_slot(struct cio__wheel *w, uint32_t sn)
{
    struct cio__tslot *s = &w->slots[sn];
    slot_settle(w, s);
    if (w->due.len == 0) {
        struct cio__tslot tmp = w->due;
        w->due = *s;
        *s = tmp;
        s->len = 0;
    } else {
        if (slot_reserve(&w->due, s->len))
            oom_abort();
        memcpy(w->due.v + w->due.len, s->v, s->len * sizeof *s->v);
        w->due.len += s->len;
        w->due.live += s->live;
    }
    slot_reset(s);
    bit_clear(w, sn);
}

/* Merges the overdue list into the due array (both sorted). */
static void merge_overdue(struct cio__wheel *w)
{
    struct cio__tslot *o = &w->overdue;
    slot_settle(w, o);
    if (w->due.len == 0) {
        struct cio__tslot tmp = w->due;
        w->due = *o;
        *o = tmp;
        o->len = 0;
    } else if (o->len) {
        uint32_t n = w->due.len + o->len;
        uint32_t *v = malloc((size_t)n * sizeof *v);
        if (!v)
            oom_abort();
        uint32_t i = 0, j = 0, k = 0;
        while (i < w->due.len && j < o->len) {
            uint32_t a = w->due.v[i], b = o->v[j];
            v[k++] = cmp_nodes(&b, &a, w->nodes) < 0 ? (j++, b) : (i++, a);
        }
        while (i < w->due.len)
            v[k++] = w->due.v[i++];
        while (j < o->len)
            v[k++] = o->v[j++];
        free(w->due.v);
        w->due.v = v;
        w->due.cap = w->due.len = w->due.live = n;
    }
    slot_reset(o);
}

/* The first tick at or after `from`, within from's 256-tick window, whose
 * level-0 slot is non-empty; or the window's end. */
static uint64_t next_l0_tick(const struct cio__wheel *w, uint64_t from)
{
    uint32_t pos = (uint32_t)(from & (L0_SIZE - 1));
    uint64_t window_end = (from | (L0_SIZE - 1)) + 1;
    for (uint32_t word = pos >> 6; word < L0_SIZE / 64; word++) {
        uint64_t bits = w->bits[word];
        if (word == pos >> 6)
            bits &= ~0ull << (pos & 63);
        if (bits)
            return (from & ~(uint64_t)(L0_SIZE - 1)) + word * 64 + (uint64_t)__builtin_ctzll(bits);
    }
    return window_end;
}

static void fire(cio_loop *loop, uint32_t idx)
{
    struct cio__wheel *w = &loop->wheel;
    struct cio__tnode *n = &w->nodes[idx];
    n->where = CIO__TW_RUNNING;
    cio_cb cb = n->cb;
    void *arg = n->arg;
    if (CIO_UNLIKELY(loop->debug)) {
        int64_t t0 = cio__now_ns();
        uint64_t steps = cio__slow_task_steps;
        cb(arg);
        cio__report_if_slow(loop, "slow timer callback", (const void *)cb, t0, steps);
    } else {
        cb(arg);
    }
    n = &w->nodes[idx]; /* the callback may have grown the array */
    int64_t iv;
    if (n->where == CIO__TW_DEAD) {
        node_free(w, idx);
    } else if ((iv = interval_of(w, idx)) != 0) {
        n->deadline += iv;
        if (n->deadline <= loop->now)
            n->deadline = loop->now + iv;
        n->seq = w->seq++;
        if (place(w, idx) != 0)
            oom_abort();
    } else {
        w->active--;
        node_free(w, idx);
    }
}

bool cio__wheel_collect(cio_loop *loop)
{
    struct cio__wheel *w = &loop->wheel;
    uint64_t now_tick = (uint64_t)loop->now / NS_PER_TICK;
    while (w->cur <= now_tick) {
        if ((w->cur & (L0_SIZE - 1)) == 0 && w->nonempty_hi)
            cascade(w);
        uint64_t t = next_l0_tick(w, w->cur);
        uint64_t end = (w->cur | (L0_SIZE - 1)) + 1;
        if (t > now_tick) {
            /* Nothing due before now in this window: jump ahead, stopping at
             * the window's end so its cascade runs. */
            w->cur = end <= now_tick ? end : now_tick + 1;
            continue;
        }
        if (t == end) {
            w->cur = t;
            continue;
        }
        detach_slot(w, (uint32_t)(t & (L0_SIZE - 1)));
        w->cur = t + 1;
    }
    if (w->overdue.live)
        merge_overdue(w);
    struct cio__tslot *due = &w->due;
    for (uint32_t i = 0; i < due->len; i++) {
        if (i + PREFETCH_AHEAD < due->len)
            __builtin_prefetch(&w->nodes[due->v[i + PREFETCH_AHEAD]], 1);
        struct cio__tnode *n = &w->nodes[due->v[i]];
        n->where = CIO__TW_DUE;
        n->pos = i;
    }
    /* Until fired, the due array holds node indexes: the storage must stay. */
    w->firing = due->len != 0;
    return w->firing;
}

/* Fires the timers collected at the start of this iteration, after the
 * callbacks that were ready then (asyncio's order). A callback cancels one
 * still waiting here by writing a tombstone; a timer started meanwhile went
 * to the wheel and waits for the next iteration. */
void cio__wheel_fire(cio_loop *loop)
{
    struct cio__wheel *w = &loop->wheel;
    struct cio__tslot *due = &w->due;
    for (w->due_next = 0; w->due_next < due->len; w->due_next++) {
        uint32_t i = w->due_next;
        if (i + PREFETCH_AHEAD < due->len && due->v[i + PREFETCH_AHEAD] != CIO__NIL)
            __builtin_prefetch(&w->nodes[due->v[i + PREFETCH_AHEAD]], 1);
        uint32_t idx = due->v[i];
        if (idx != CIO__NIL)
            fire(loop, idx);
    }
    due->len = due->live = 0;
    w->due_next = 0;
    w->firing = false;
    if (due->cap > (1u << 20)) {
        free(due->v);
        due->v = NULL;
        due->cap = 0;
    }
    if (!w->active)
        note_empty(w);
}

int64_t cio__wheel_timeout(cio_loop *loop)
{
    struct cio__wheel *w = &loop->wheel;
    if (!w->active)
        return -1;
    if (w->overdue.live)
        return 0;
    uint64_t best = UINT64_MAX;
    /* Level 0 holds ticks [cur, cur + 256): scan from cur to the window's
     * end, then the wrapped part of the next window. */
    uint64_t end = (w->cur | (L0_SIZE - 1)) + 1;
    uint64_t t = next_l0_tick(w, w->cur);
    if (t != end) {
        best = t;
    } else {
        uint64_t wrap = next_l0_tick(w, end);
        if (wrap < end + L0_SIZE)
            best = wrap;
    }
    /* Higher levels: the next cascade of a non-empty slot. */
    if (w->nonempty_hi) {
        for (int level = 1; level < CIO__TW_LEVELS; level++) {
            unsigned sh = level_shift(level);
            uint32_t base = level_base(level);
            uint64_t curhi = w->cur >> sh;
            uint32_t ci = (uint32_t)curhi & (LN_SIZE - 1);
            /* At a boundary not yet processed, the current slot is still
             * due for its cascade (at tick cur itself). */
            uint32_t first = (w->cur & ((1ull << sh) - 1)) == 0 ? 0 : 1;
            for (uint32_t dist = first; dist <= LN_SIZE; dist++) {
                uint32_t s = base + ((ci + dist) & (LN_SIZE - 1));
                if (w->bits[s >> 6] & (1ull << (s & 63))) {
                    uint64_t when = (curhi + dist) << sh;
                    if (when < best)
                        best = when;
                    break;
                }
            }
        }
    }
    if (best == UINT64_MAX)
        return -1;
    int64_t at = (int64_t)(best * NS_PER_TICK);
    return at > loop->now ? at - loop->now : 0;
}
