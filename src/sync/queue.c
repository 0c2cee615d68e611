/* asyncio.Queue, LifoQueue and PriorityQueue, with 3.13's shutdown.
 *
 * Speed: put and get that need not wait touch only the first cache line of
 * the queue (no allocation, no future, no call into the task layer beyond
 * the "are we in a task" check), and look at a wait queue only to see that
 * it is empty. Items live in a power-of-two ring (FIFO pops at the front,
 * LIFO at the back) or, for priority queues, in a binary heap whose entries
 * carry a sequence number so that equal items come out in put order.
 *
 * Fairness without lost wakeups, in both directions:
 * - A getter that has to wait gets its item handed over directly by the
 *   put that finds it waiting; the item never enters the queue, so nobody
 *   can take it first. Getters wait only while the queue is empty.
 * - A putter that has to wait is woken when a get frees a slot, and that
 *   slot is reserved for it (`reserved`): put_nowait and newcomers see the
 *   queue as full until the woken putter has run. Putters wait only while
 *   every slot is taken or reserved.
 * A woken task that gives up before it runs passes what it was given on:
 * a getter's item goes to the next getter (or back to the front of the
 * queue), a putter's reserved slot to the next putter. */
#include <stdlib.h>
#include <string.h>

#include "waitq.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct pq_ent {
    void *item;
    unsigned long long seq;
};

struct cio_queue {
    /* Hot: what put and get read and write. */
    void **ring;         /* FIFO and LIFO items */
    struct pq_ent *heap; /* priority items */
    size_t head;         /* ring index of the oldest item */
    size_t count;        /* items queued */
    size_t cap;          /* ring or heap capacity (ring: a power of two) */
    size_t limit;        /* maxsize, or SIZE_MAX when unbounded */
    size_t reserved;     /* free slots promised to woken putters */
    size_t unfinished;   /* items put and not yet marked done */
    cio__waitq getters;
    cio__waitq putters;
    uint8_t kind;
    bool shutdown;
    bool immediate;
    /* Cold. */
    unsigned long long seq; /* next put order (priority) */
    int (*cmp)(const void *a, const void *b);
    size_t maxsize;
    cio__waitq joiners;
    cio__sync_home home;
};

/* ---- storage -------------------------------------------------------------- */

static int ring_grow(cio_queue *q)
{
    size_t ncap = q->cap * 2;
    if (ncap < q->cap || ncap > SIZE_MAX / sizeof(void *))
        return -ENOMEM;
    void **n = malloc(ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    /* Unwrap into the new ring so the oldest item sits at index 0. */
    size_t first = q->cap - q->head < q->count ? q->cap - q->head : q->count;
    memcpy(n, q->ring + q->head, first * sizeof *n);
    memcpy(n + first, q->ring, (q->count - first) * sizeof *n);
    free(q->ring);
    q->ring = n;
    q->head = 0;
    q->cap = ncap;
    return 0;
}

static int heap_grow(cio_queue *q)
{
    size_t ncap = q->cap * 2;
    if (ncap < q->cap || ncap > SIZE_MAX / sizeof(struct pq_ent))
        return -ENOMEM;
    struct pq_ent *n = realloc(q->heap, ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    q->heap = n;
    q->cap = ncap;
    return 0;
}

static inline bool pq_less(const cio_queue *q, const struct pq_ent *a, const struct pq_ent *b)
{
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int heap_push(cio_queue *q, void *item, unsigned long long seq)
{
    if (q->count == q->cap) {
        int rc = heap_grow(q);
        if (rc)
            return rc;
    }
    struct pq_ent e = {item, seq};
    size_t i = q->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pq_less(q, &e, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = e;
    return 0;
}

static void *heap_pop(cio_queue *q)
{
    void *top = q->heap[0].item;
    struct pq_ent last = q->heap[--q->count];
    size_t n = q->count, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pq_less(q, &q->heap[c + 1], &q->heap[c]))
            c++;
        if (!pq_less(q, &q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n)
        q->heap[i] = last;
    return top;
}

/* Appends an item (newest end). */
static inline int push(cio_queue *q, void *item)
{
    if (likely(q->kind != CIO_QUEUE_PRIORITY)) {
        if (unlikely(q->count == q->cap)) {
            int rc = ring_grow(q);
            if (rc)
                return rc;
        }
        q->ring[(q->head + q->count) & (q->cap - 1)] = item;
        q->count++;
        return 0;
    }
    return heap_push(q, item, q->seq++);
}

/* Removes the next item to hand out; the queue must not be empty. */
static inline void *pop(cio_queue *q)
{
    if (likely(q->kind == CIO_QUEUE_FIFO)) {
        void *item = q->ring[q->head];
        q->head = (q->head + 1) & (q->cap - 1);
        q->count--;
        return item;
    }
    if (q->kind == CIO_QUEUE_LIFO) {
        q->count--;
        return q->ring[(q->head + q->count) & (q->cap - 1)];
    }
    return heap_pop(q);
}

/* Puts back an item a getter was handed but gave up: it is older than
 * everything queued now (getters wait only on an empty queue), so it goes
 * where the oldest item goes: the front for FIFO, the bottom for LIFO,
 * its original place in put order for a priority queue. */
static int push_oldest(cio_queue *q, void *item, unsigned long long seq)
{
    if (q->kind == CIO_QUEUE_PRIORITY)
        return heap_push(q, item, seq);
    if (q->count == q->cap) {
        int rc = ring_grow(q);
        if (rc)
            return rc;
    }
    q->head = (q->head - 1) & (q->cap - 1);
    q->ring[q->head] = item;
    q->count++;
    return 0;
}

/* ---- waking --------------------------------------------------------------- */

/* Hands item to the first waiting getter (there must be one). */
static void hand_to_getter(cio_queue *q, void *item, unsigned long long seq)
{
    cio__waiter *w = q->getters.head;
    w->item = item;
    w->seq = seq;
    cio__waiter_wake(&q->getters, w, 0);
}

/* A slot may have become free: promise it to the first waiting putter. */
static void wake_putter(cio_queue *q)
{
    if (q->count + q->reserved < q->limit && cio__waitq_wake_one(&q->putters, 0))
        q->reserved++;
}

static void wake_joiners(cio_queue *q)
{
    if (q->unfinished == 0)
        cio__waitq_wake_all(&q->joiners, 0);
}

/* Inserts an item whose slot is granted: hands it to a waiting getter if
 * there is one (then the queue is empty), else queues it. */
static inline int insert(cio_queue *q, void *item)
{
    if (unlikely(!cio__waitq_empty(&q->getters))) {
        hand_to_getter(q, item, q->seq++);
    } else {
        int rc = push(q, item);
        if (unlikely(rc))
            return rc;
    }
    q->unfinished++;
    return 0;
}

/* ---- API -------------------------------------------------------------------- */

int cio_queue_new(cio_queue_kind kind, size_t maxsize, int (*cmp)(const void *a, const void *b),
                  cio_queue **out)
{
    if (!out || (unsigned)kind > CIO_QUEUE_PRIORITY || (kind == CIO_QUEUE_PRIORITY && !cmp))
        return -EINVAL;
    cio_queue *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->kind = (uint8_t)kind;
    q->cmp = cmp;
    q->maxsize = maxsize;
    q->limit = maxsize ? maxsize : SIZE_MAX;
    /* A bounded queue of ordinary size gets all its storage now, so its
     * puts never allocate; larger or unbounded ones grow by doubling. */
    size_t cap = 16;
    while (cap < maxsize && cap < 4096)
        cap *= 2;
    q->cap = cap;
    if (kind == CIO_QUEUE_PRIORITY)
        q->heap = malloc(cap * sizeof *q->heap);
    else
        q->ring = malloc(cap * sizeof *q->ring);
    if (!q->heap && !q->ring) {
        free(q);
        return -ENOMEM;
    }
    *out = q;
    return 0;
}

int cio_queue_free(cio_queue *q)
{
    if (!q)
        return 0;
    if (q->home.waiting)
        return -EBUSY;
    free(q->ring);
    free(q->heap);
    free(q);
    return 0;
}

int cio_queue_put_nowait(cio_queue *q, void *item)
{
    if (unlikely(!q))
        return -EINVAL;
    if (unlikely(q->shutdown))
        return -ESHUTDOWN;
    if (unlikely(q->count + q->reserved >= q->limit))
        return -EAGAIN;
    return insert(q, item);
}

static int __attribute__((noinline)) put_wait(cio_queue *q, void *item)
{
    cio__waiter w;
    int rc = cio__wait(&q->putters, &q->home, &w);
    if (!w.woken || w.rc)
        return rc; /* gave up while queued, or woken by shutdown */
    /* A slot was reserved for us. */
    q->reserved--;
    if (rc == 0 && !q->shutdown) {
        rc = insert(q, item);
        if (rc == 0)
            return 0;
    }
    if (!q->shutdown)
        wake_putter(q); /* pass the slot on */
    return rc ? rc : -ESHUTDOWN;
}

int cio_queue_put(cio_queue *q, void *item)
{
    if (unlikely(!q))
        return -EINVAL;
    if (unlikely(!cio_current_task()))
        return -EPERM;
    if (unlikely(q->shutdown))
        return -ESHUTDOWN;
    if (likely(q->count + q->reserved < q->limit))
        return insert(q, item);
    return put_wait(q, item);
}

/* Takes the next item of a nonempty queue. */
static inline void *take(cio_queue *q)
{
    void *item = pop(q);
    if (unlikely(!cio__waitq_empty(&q->putters)))
        wake_putter(q);
    return item;
}

int cio_queue_get_nowait(cio_queue *q, void **item)
{
    if (unlikely(!q || !item))
        return -EINVAL;
    if (unlikely(q->count == 0))
        return q->shutdown ? -ESHUTDOWN : -EAGAIN;
    *item = take(q);
    return 0;
}

/* A getter was handed an item and gave up before it ran: pass the item on. */
static void give_back(cio_queue *q, void *item, unsigned long long seq)
{
    if (!cio__waitq_empty(&q->getters)) {
        hand_to_getter(q, item, seq);
    } else if (q->immediate) {
        /* An immediate shutdown came since: the item goes the way of the
         * items that shutdown dropped, counted as done. */
        if (q->unfinished) {
            q->unfinished--;
            wake_joiners(q);
        }
    } else if (push_oldest(q, item, seq) != 0) {
        cio_loop_report(cio_current_loop(),
                        "cio_queue: out of memory putting back an item a cancelled "
                        "getter was handed; the item is dropped");
        q->unfinished--;
        wake_joiners(q);
    } else {
        /* A putter may wait behind it only if the queue was full; it stays
         * full, so there is no one to wake. */
    }
}

static int __attribute__((noinline)) get_wait(cio_queue *q, void **item)
{
    cio__waiter w;
    int rc = cio__wait(&q->getters, &q->home, &w);
    if (!w.woken || w.rc)
        return rc; /* gave up while queued, or woken by shutdown */
    if (rc == 0) {
        *item = w.item;
        return 0;
    }
    give_back(q, w.item, w.seq);
    return rc;
}

int cio_queue_get(cio_queue *q, void **item)
{
    if (unlikely(!q || !item))
        return -EINVAL;
    if (unlikely(!cio_current_task()))
        return -EPERM;
    if (likely(q->count)) {
        *item = take(q);
        return 0;
    }
    if (q->shutdown)
        return -ESHUTDOWN;
    return get_wait(q, item);
}

int cio_queue_task_done(cio_queue *q)
{
    if (!q)
        return -EINVAL;
    if (q->unfinished == 0)
        return -EINVAL;
    q->unfinished--;
    wake_joiners(q);
    return 0;
}

int cio_queue_join(cio_queue *q)
{
    if (!q)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (q->unfinished == 0)
        return 0;
    cio__waiter w;
    return cio__wait(&q->joiners, &q->home, &w);
}

void cio_queue_shutdown(cio_queue *q, bool immediate)
{
    if (!q)
        return;
    q->shutdown = true;
    if (immediate && !q->immediate) {
        q->immediate = true;
        size_t n = q->count;
        q->count = 0;
        q->head = 0;
        q->unfinished = q->unfinished > n ? q->unfinished - n : 0;
        wake_joiners(q);
    }
    /* Getters wait only on an empty queue, so every one of them fails now;
     * putters fail whatever the mode. Woken putters holding a reserved slot
     * see the shutdown when they run. */
    cio__waitq_wake_all(&q->getters, -ESHUTDOWN);
    cio__waitq_wake_all(&q->putters, -ESHUTDOWN);
}

size_t cio_queue_size(const cio_queue *q)
{
    return q ? q->count : 0;
}
size_t cio_queue_maxsize(const cio_queue *q)
{
    return q ? q->maxsize : 0;
}
bool cio_queue_is_empty(const cio_queue *q)
{
    return q && q->count == 0;
}
/* Full also while the free slots are promised to woken putters, so that
 * "if not full, put_nowait" never fails. */
bool cio_queue_is_full(const cio_queue *q)
{
    return q && q->maxsize && q->count + q->reserved >= q->maxsize;
}
