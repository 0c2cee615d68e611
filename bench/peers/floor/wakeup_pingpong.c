/* wakeup_pingpong, floor: the same round trip with no event loop at all:
 * one thread (BENCH_CPU_PEER) posts a semaphore and waits on another, which
 * a thread on BENCH_CPU_LOOP, blocked on the first, posts back. This is what
 * waking a sleeping thread costs on this machine: a loop can only come close
 * to it. Round trips per second, and CPU time per round trip: the answering
 * thread's (loop_cpu_per_op) and the process's (cpu_per_op). */
#include <semaphore.h>

#include "../../common.h"

static long total;
static sem_t ping, pong;
static bench_cpu_mark cpu0, cpu1;

static void *ponger(void *arg)
{
    (void)arg;
    bench_pin_self(BENCH_CPU_LOOP());
    cpu0 = bench_cpu_now();
    for (long i = 0; i < total; i++) {
        while (sem_wait(&ping) != 0)
            ;
        sem_post(&pong);
    }
    cpu1 = bench_cpu_now();
    return NULL;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 50000);
    sem_init(&ping, 0, 0);
    sem_init(&pong, 0, 0);
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, ponger, NULL));
    bench_pin_self(BENCH_CPU_PEER());

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        sem_post(&ping);
        while (sem_wait(&pong) != 0)
            ;
    }
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(pthread_join(th, NULL));

    bench_emit("wakeup_pingpong", "floor", "round_trips_per_s", "1/s", total / ((t1 - t0) / 1e9),
               "higher");
    bench_emit_cpu("wakeup_pingpong", "floor", cpu0, cpu1, total);
    return 0;
}
