/* wakeup_pingpong, libevent: like wakeup (queue + event_active from the
 * other thread), but the sender waits for each answer (a semaphore the
 * loop-side callback posts) before sending the next. Round trips/s. */
#include <event2/event.h>
#include <event2/thread.h>
#include <semaphore.h>

#include "../../common.h"
#include "../msgqueue.h"

static long count, total;
static struct event_base *base;
static struct event *ev;
static msgqueue queue;
static sem_t start, pong;
static uint64_t t0, t1;
static bench_cpu_mark cpu0, cpu1;

static void on_ping(void *arg)
{
    (void)arg;
    sem_post(&pong);
    if (++count == total) {
        cpu1 = bench_cpu_now();
        event_base_loopbreak(base);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    msgqueue_drain(&queue);
}

static void *pinger(void *arg)
{
    (void)arg;
    bench_pin_self(BENCH_CPU_PEER());
    while (sem_wait(&start) != 0)
        ;
    t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        msg *m = msgqueue_node(&queue);
        BENCH_CHECK(m == NULL);
        m->cb = on_ping;
        m->arg = NULL;
        msgqueue_push(&queue, m);
        event_active(ev, 0, 0);
        while (sem_wait(&pong) != 0)
            ;
    }
    t1 = bench_now_ns();
    return NULL;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 50000);
    bench_pin_self(BENCH_CPU_LOOP());
    msgqueue_init(&queue);
    sem_init(&start, 0, 0);
    sem_init(&pong, 0, 0);
    BENCH_CHECK(evthread_use_pthreads());
    base = event_base_new();
    BENCH_CHECK(base == NULL);
    ev = event_new(base, -1, 0, on_wake, NULL);
    BENCH_CHECK(ev == NULL);
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, pinger, NULL));

    cpu0 = bench_cpu_now();
    sem_post(&start);
    BENCH_CHECK(event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY) < 0);
    BENCH_CHECK(pthread_join(th, NULL));
    BENCH_CHECK(count != total);
    event_free(ev);
    event_base_free(base);
    msgqueue_free(&queue);

    bench_emit("wakeup_pingpong", "libevent", "round_trips_per_s", "1/s",
               total / ((t1 - t0) / 1e9), "higher");
    bench_emit_cpu("wakeup_pingpong", "libevent", cpu0, cpu1, total);
    return 0;
}
