/* wakeup_pingpong: a thread on BENCH_CPU_PEER sends a message to the loop
 * (on BENCH_CPU_LOOP) with cio_call_soon_threadsafe and waits for the
 * answer (a semaphore the callback posts) before sending the next. Measures
 * the latency of waking a blocked loop; reports round trips per second. */
#include <semaphore.h>

#include <cio/loop.h>

#include "../common.h"

static long count, total;
static cio_loop *loop;
static sem_t start, pong;
static uint64_t t0, t1;
static bench_cpu_mark cpu0, cpu1;

static void on_ping(void *arg)
{
    (void)arg;
    sem_post(&pong);
    if (++count == total) {
        cpu1 = bench_cpu_now();
        cio_loop_stop(loop);
    }
}

static void *pinger(void *arg)
{
    (void)arg;
    bench_pin_self(BENCH_CPU_PEER());
    while (sem_wait(&start) != 0)
        ;
    t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        BENCH_CHECK(cio_call_soon_threadsafe(loop, on_ping, NULL));
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
    BENCH_CHECK(cio_loop_new(NULL, &loop));
    sem_init(&start, 0, 0);
    sem_init(&pong, 0, 0);
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, pinger, NULL));

    cpu0 = bench_cpu_now();
    sem_post(&start);
    BENCH_CHECK(cio_loop_run_forever(loop));
    BENCH_CHECK(pthread_join(th, NULL));
    BENCH_CHECK(count != total);
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("wakeup_pingpong", "cio", "round_trips_per_s", "1/s", total / ((t1 - t0) / 1e9),
               "higher");
    bench_emit_cpu("wakeup_pingpong", "cio", cpu0, cpu1, total);
    return 0;
}
