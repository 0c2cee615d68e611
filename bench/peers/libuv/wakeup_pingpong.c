/* wakeup_pingpong, libuv: like wakeup, but the sender waits for each
 * message's answer (a semaphore the loop-side callback posts) before
 * sending the next. Round trips per second. */
#include <semaphore.h>
#include <uv.h>

#include "../../common.h"
#include "../msgqueue.h"

static long count, total;
static uv_async_t async;
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
        uv_close((uv_handle_t *)&async, NULL);
    }
}

static void on_async(uv_async_t *a)
{
    (void)a;
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
        BENCH_CHECK(uv_async_send(&async));
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
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    BENCH_CHECK(uv_async_init(&loop, &async, on_async));
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, pinger, NULL));

    cpu0 = bench_cpu_now();
    sem_post(&start);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(pthread_join(th, NULL));
    BENCH_CHECK(count != total);
    BENCH_CHECK(uv_loop_close(&loop));
    msgqueue_free(&queue);

    bench_emit("wakeup_pingpong", "libuv", "round_trips_per_s", "1/s", total / ((t1 - t0) / 1e9),
               "higher");
    bench_emit_cpu("wakeup_pingpong", "libuv", cpu0, cpu1, total);
    return 0;
}
