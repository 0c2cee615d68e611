/* The cross-thread message queue that libuv's documentation prescribes
 * beside uv_async_send, and that libevent needs beside event_active from
 * another thread: both coalesce wakeups, so neither can carry the messages
 * itself. A mutex-guarded list that the woken callback drains. A message
 * is a callback and its argument, like cio_call_soon_threadsafe's.
 *
 * Message nodes are reused, as cio reuses the slots of its per-producer
 * rings: the drain hands the nodes it ran back to a free list (one lock per
 * drained batch), and the producer takes the whole free list at once when
 * its private cache runs dry (one lock per refill), allocating a node only
 * when none is free. So the pool grows to the most messages ever in flight
 * and then stops allocating, and no side touches fresh memory per message. */
#ifndef BENCH_PEERS_MSGQUEUE_H
#define BENCH_PEERS_MSGQUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct msg {
    struct msg *next;
    void (*cb)(void *arg);
    void *arg;
} msg;

typedef struct {
    pthread_mutex_t mu;
    msg *head, *tail; /* queued messages, under mu */
    msg *free;        /* nodes handed back by the drain, under mu */
    msg *cache;       /* the producer's own free nodes (producer only) */
} msgqueue;

static inline void msgqueue_init(msgqueue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    q->head = q->tail = q->free = q->cache = NULL;
}

/* A node for the next message (producer thread). NULL if out of memory. */
static inline msg *msgqueue_node(msgqueue *q)
{
    if (!q->cache) {
        pthread_mutex_lock(&q->mu);
        q->cache = q->free;
        q->free = NULL;
        pthread_mutex_unlock(&q->mu);
        if (!q->cache)
            return malloc(sizeof(msg));
    }
    msg *m = q->cache;
    q->cache = m->next;
    return m;
}

static inline void msgqueue_push(msgqueue *q, msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    pthread_mutex_unlock(&q->mu);
}

/* Takes every queued message at once, runs them in order, then hands their
 * nodes back to the free list. */
static inline void msgqueue_drain(msgqueue *q)
{
    pthread_mutex_lock(&q->mu);
    msg *first = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    if (!first)
        return;
    msg *m = first, *last;
    do {
        msg *next = m->next;
        m->cb(m->arg);
        last = m;
        m = next;
    } while (m);
    pthread_mutex_lock(&q->mu);
    last->next = q->free;
    q->free = first;
    pthread_mutex_unlock(&q->mu);
}

/* Frees every node (no message may be queued or in flight). */
static inline void msgqueue_free(msgqueue *q)
{
    msg *lists[2] = {q->free, q->cache};
    for (int i = 0; i < 2; i++)
        for (msg *m = lists[i], *next; m; m = next) {
            next = m->next;
            free(m);
        }
    q->free = q->cache = NULL;
    pthread_mutex_destroy(&q->mu);
}

#endif
