/* wakeup, libevent: a producer thread (BENCH_CPU_PEER) appends each message
 * to a mutex-guarded queue and calls event_active on one event of the loop's
 * base (threading enabled with evthread_use_pthreads, so event_active from
 * another thread wakes the base); the event's callback drains the queue.
 * The message nodes are reused (msgqueue.h). Messages per second, and CPU
 * time per message (loop thread, whole process). */
#include <event2/event.h>
#include <event2/thread.h>
#include <semaphore.h>

#include "../../common.h"
#include "../msgqueue.h"

static long count, total;
static struct event_base *base;
static struct event *ev;
static msgqueue queue;
static bench_cpu_mark cpu0, cpu1;
static sem_t start;
static uint64_t t0, t1;

static void on_message(void *arg)
{
    if ((long)(intptr_t)arg != ++count) {
        fprintf(stderr, "message %ld arrived as number %ld\n", (long)(intptr_t)arg, count);
        exit(1);
    }
    if (count == total) {
        t1 = bench_now_ns();
        cpu1 = bench_cpu_now();
        event_base_loopbreak(base);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    msgqueue_drain(&queue);
}

static void *producer(void *arg)
{
    (void)arg;
    bench_pin_self(BENCH_CPU_PEER());
    while (sem_wait(&start) != 0)
        ;
    t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        msg *m = msgqueue_node(&queue);
        BENCH_CHECK(m == NULL);
        m->cb = on_message;
        m->arg = (void *)(intptr_t)(i + 1);
        msgqueue_push(&queue, m);
        event_active(ev, 0, 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 2000000);
    bench_pin_self(BENCH_CPU_LOOP());
    msgqueue_init(&queue);
    sem_init(&start, 0, 0);
    BENCH_CHECK(evthread_use_pthreads());
    base = event_base_new();
    BENCH_CHECK(base == NULL);
    ev = event_new(base, -1, 0, on_wake, NULL);
    BENCH_CHECK(ev == NULL);
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, producer, NULL));

    cpu0 = bench_cpu_now();
    sem_post(&start);
    BENCH_CHECK(event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY) < 0);
    BENCH_CHECK(pthread_join(th, NULL));
    BENCH_CHECK(count != total);
    event_free(ev);
    event_base_free(base);
    msgqueue_free(&queue);

    bench_emit("wakeup", "libevent", "messages_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    bench_emit_cpu("wakeup", "libevent", cpu0, cpu1, total);
    return 0;
}
