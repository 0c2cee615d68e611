/* The cross-thread message queue that libuv's documentation prescribes
 * beside uv_async_send, and that libevent needs beside event_active from
 * another thread: both coalesce wakeups, so neither can carry the messages
 * itself. A mutex-guarded list that the woken callback drains. A message
 * is a callback and its argument, like cio_call_soon_threadsafe's. The
 * nodes are preallocated by the benchmark, so the peer pays no malloc per
 * message (cio's version has to store its messages itself). */
#ifndef BENCH_PEERS_MSGQUEUE_H
#define BENCH_PEERS_MSGQUEUE_H

#include <pthread.h>
#include <stddef.h>

typedef struct msg {
    struct msg *next;
    void (*cb)(void *arg);
    void *arg;
} msg;

typedef struct {
    pthread_mutex_t mu;
    msg *head, *tail;
} msgqueue;

static inline void msgqueue_init(msgqueue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    q->head = q->tail = NULL;
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

/* Takes every queued message at once and runs them in order. */
static inline void msgqueue_drain(msgqueue *q)
{
    pthread_mutex_lock(&q->mu);
    msg *m = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    while (m) {
        msg *next = m->next;
        m->cb(m->arg);
        m = next;
    }
}

#endif
